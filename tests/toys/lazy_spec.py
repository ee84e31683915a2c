"""A cheap declaration whose hook module is imported only when it is needed."""

from ruvector_core import BackendSpec

SPEC = BackendSpec(
    name="fallback_only", version="0.1", priority=-10, capabilities=frozenset({"hnsw"}), plugin="toys.declining"
)
