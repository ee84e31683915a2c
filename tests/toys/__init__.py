"""Toy backends used by the core's tests; each is installed into a throw-away site dir."""
