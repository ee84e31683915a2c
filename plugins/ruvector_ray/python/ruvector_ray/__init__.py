"""ruvector on a Ray cluster: a sharded index of actors, batch embedding on Ray Data, and a
datasink that fills the index from a dataset (docs/scale-out.md)."""

from ._shard import ShardStatus
from .datasink import ShardedIndexDatasink
from .embedding import EmbedBatch
from .sharded_index import DEFAULT_ACTOR_OPTIONS, ShardedAllowList, ShardedIndex, ShardRestart

__all__ = [
    "DEFAULT_ACTOR_OPTIONS",
    "EmbedBatch",
    "ShardRestart",
    "ShardStatus",
    "ShardedAllowList",
    "ShardedIndex",
    "ShardedIndexDatasink",
]
