"""A Ray Data datasink that fills a ``ShardedIndex``: ``ds.write_datasink(index.datasink())``.

Each write task routes its blocks' rows by id and sends every shard its part directly, so
the rows never pass through the driver. Rows are upserts: a task that Ray retries writes
the same rows to the same shards again, and nothing is duplicated. When the write is done
the index hears, on the driver, how many rows each shard took (and of any shard restart).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import ray
from ray.data import Datasink
from ray.data.block import BlockAccessor
from ray.data.datasource.datasink import WriteResult

from ruvector_core.errors import InvalidInputError
from ruvector_core.validation import as_matrix, check_ids

from ._routing import partition
from .sharded_index import ShardedIndex

#: what one write task reports: (shard, its incarnation, rows written) per shard it wrote to
WriteReport = list[tuple[int, str, int]]


class ShardedIndexDatasink(Datasink[WriteReport]):
    def __init__(self, index: ShardedIndex, id_column: str = "id", embedding_column: str = "embedding") -> None:
        self.id_column = id_column
        self.embedding_column = embedding_column
        self.dimensions = index.dimensions
        self.actors = index.shard_actors()
        self._index: ShardedIndex | None = index  # on the driver only: not sent to the write tasks

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_index": None}

    def get_name(self) -> str:
        return "ShardedIndex"

    def write(self, blocks: Iterable[Any], ctx: Any) -> WriteReport:
        report: WriteReport = []
        for block in blocks:
            batch = BlockAccessor.for_block(block).to_batch_format("numpy")
            for column in (self.id_column, self.embedding_column):
                if column not in batch:
                    raise InvalidInputError(f"the dataset has no column {column!r} (columns: {sorted(batch)})")
            vectors = as_matrix(_rows(batch[self.embedding_column]), self.dimensions, "embeddings")
            ids = check_ids([str(i) for i in batch[self.id_column]], len(vectors))
            parts = [(s, rows) for s, rows in enumerate(partition(ids, len(self.actors))) if len(rows)]
            refs = [self.actors[s].insert_batch.remote([ids[r] for r in rows], vectors[rows]) for s, rows in parts]
            for (shard, _), (incarnation, written) in zip(parts, ray.get(refs), strict=True):
                report.append((shard, incarnation, written))
        return report

    def on_write_complete(self, write_result: WriteResult[WriteReport]) -> None:
        if self._index is not None:
            self._index._absorb(entry for report in write_result.write_returns for entry in report)


def _rows(column: np.ndarray) -> np.ndarray:
    """A column as a matrix: Arrow list columns (from JSON, Parquet, Python lists) come out
    of a numpy batch as an object array of row arrays, tensor columns as a matrix already."""
    if column.dtype != object:
        return column
    widths = {np.shape(row) for row in column}
    if len(widths) > 1:
        raise InvalidInputError(f"embeddings have different lengths: {sorted(w[0] if w else 0 for w in widths)}")
    return np.stack([np.asarray(row) for row in column]) if len(column) else column
