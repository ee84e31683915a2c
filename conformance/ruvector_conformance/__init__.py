"""ruvector conformance suite."""
