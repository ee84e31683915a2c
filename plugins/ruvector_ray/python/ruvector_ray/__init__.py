"""ruvector on a Ray cluster: a sharded index of actors, batch embedding on Ray Data, and a
datasink that fills the index from a dataset (docs/scale-out.md)."""

try:  # first: a ruvector_core that is another project's (same import name) fails here, plainly
    from ruvector_core.origin import require_own_core
except ImportError as exc:
    raise ImportError(
        f"ruvec-ray cannot use the installed ruvector_core: it is not (only) the ruvec distribution's "
        f"({exc}); fix: pip uninstall -y ruvector-core ruvec && pip install 'ruvec[ray]'"
    ) from exc

require_own_core("ruvec[ray]")

# ruff: noqa: E402  (the origin check runs before anything else is imported)
from ruvector_core.version import distribution_version

from ._shard import ShardStatus
from .datasink import ShardedIndexDatasink
from .embedding import EmbedBatch
from .sharded_index import DEFAULT_ACTOR_OPTIONS, ShardedAllowList, ShardedIndex, ShardRestart

__version__ = distribution_version("ruvec-ray")

__all__ = [
    "DEFAULT_ACTOR_OPTIONS",
    "EmbedBatch",
    "ShardRestart",
    "ShardStatus",
    "ShardedAllowList",
    "ShardedIndex",
    "ShardedIndexDatasink",
    "__version__",
]
