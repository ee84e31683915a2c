"""The agent memory: items with metadata, recall filtered inside the graph."""
