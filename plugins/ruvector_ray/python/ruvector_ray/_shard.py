"""One shard: a Ray actor holding one ``HnswIndex``.

The index is built by ``rv.Runtime.initialize()`` inside the actor's process, so each node
serves its shards with the best backend installed there (native on one node, numba on
another); the files they save are the one index format, which every backend loads.

Every reply carries the actor's incarnation (a token drawn at start). Ray restarts a killed
actor by running ``__init__`` again; the new incarnation restores the shard from the last
save in its folder, and the caller, seeing the token change, learns that what it wrote
since that save is gone.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import ray

import ruvector_core as rv
from ruvector_core.atomic import write_atomically
from ruvector_core.errors import CorruptIndexError
from ruvector_core.models import HnswConfig, IndexStats

from ._manifest import ShardFile, read_manifest, read_shard_file, shard_file_name

T = TypeVar("T")
Reply = tuple[str, T]  # (incarnation, answer)


@dataclass(frozen=True)
class ShardStatus:
    """What a shard says about itself: how it started and what it holds."""

    shard: int
    incarnation: str
    node_id: str  # the Ray node the actor runs on
    reconstructed: bool  # True when Ray restarted this actor after it died
    restored_generation: int | None  # the save it was restored from; None: started empty
    count: int
    backend: str
    error: str | None  # why the shard cannot serve (its saved file is missing or damaged)


class Shard:
    """The actor's class (``ray.remote(Shard)``); its methods validate nothing twice: the
    driver checked every argument before fanning out.

    Ray runs an actor's calls one at a time, except a compiled graph's (``_fanout``), which
    run on a thread of their own: every use of the index holds ``_lock``, so a search from
    the graph never meets a write from a datasink's task half done."""

    def __init__(self, config: HnswConfig, shard: int, num_shards: int, folder: str | None) -> None:
        self.shard = shard
        self._lock = threading.Lock()
        self.incarnation = uuid.uuid4().hex
        with warnings.catch_warnings():  # the property reads Ray's own deprecated actor_id
            warnings.simplefilter("ignore", DeprecationWarning)
            self.reconstructed = bool(ray.get_runtime_context().was_current_actor_reconstructed)
        self.restored_generation: int | None = None
        self.error: str | None = None
        runtime = rv.Runtime.initialize()
        index: rv.HnswIndex | None = None
        if folder is not None:
            try:
                index = self._restore(runtime, config, num_shards, Path(folder))
            except CorruptIndexError as exc:
                self.error = str(exc)  # kept, not raised: a raising __init__ would restart forever
        self.index = index if index is not None else runtime.hnsw(config)

    def _restore(self, runtime: rv.Runtime, config: HnswConfig, num_shards: int, folder: Path) -> rv.HnswIndex | None:
        manifest = read_manifest(folder)
        if manifest is None:
            return None
        if manifest.config != config or len(manifest.shards) != num_shards:
            raise CorruptIndexError(f"the manifest in {folder} describes another index (config or shard count differ)")
        index = runtime.hnsw_load(read_shard_file(folder, manifest.shards[self.shard]))
        self.restored_generation = manifest.generation
        return index

    def status(self) -> ShardStatus:
        with self._lock:
            count, backend = len(self.index), self.index.backend
        return ShardStatus(
            shard=self.shard,
            incarnation=self.incarnation,
            node_id=ray.get_runtime_context().get_node_id(),
            reconstructed=self.reconstructed,
            restored_generation=self.restored_generation,
            count=count,
            backend=backend,
            error=self.error,
        )

    def insert_batch(self, ids: list[str], vectors: np.ndarray) -> Reply[int]:
        self._ready()
        with self._lock:
            self.index.insert_batch(ids, vectors)
        return self.incarnation, len(ids)

    def delete(self, id: str) -> Reply[bool]:
        self._ready()
        with self._lock:
            return self.incarnation, self.index.delete(id)

    def contains(self, id: str) -> Reply[bool]:
        self._ready()
        with self._lock:
            return self.incarnation, id in self.index

    def search(
        self, query: np.ndarray, k: int, ef: int | None, allow: list[str] | None
    ) -> Reply[list[tuple[str, float]]]:
        self._ready()
        with self._lock:
            hits = self.index.search(query, k, ef, allow=allow)
        return self.incarnation, list(zip(hits.ids, hits.scores, strict=True))

    def search_batch(
        self, queries: np.ndarray, k: int, ef: int | None, allow: list[str] | None
    ) -> Reply[tuple[np.ndarray, np.ndarray]]:
        self._ready()
        with self._lock:
            return self.incarnation, self.index.search_batch(queries, k, ef, allow=allow)

    def ids(self) -> Reply[list[str]]:
        self._ready()
        with self._lock:
            return self.incarnation, self.index.ids()

    def stats(self) -> Reply[IndexStats]:
        self._ready()
        with self._lock:
            return self.incarnation, self.index.stats()

    def save(self, folder: str, generation: int) -> Reply[ShardFile]:
        """Write this shard's file for save ``generation`` atomically; the manifest comes after."""
        self._ready()
        with self._lock:
            data, count, backend = self.index.serialize(), len(self.index), self.index.backend
        name = shard_file_name(self.shard, generation)
        write_atomically(Path(folder) / name, data)
        entry = ShardFile(
            file=name,
            bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            count=count,
            backend=backend,
        )
        return self.incarnation, entry

    def _ready(self) -> None:
        if self.error is not None:
            raise CorruptIndexError(f"shard {self.shard} cannot serve: {self.error}")


def remote_shard(options: dict[str, Any]) -> Any:
    """The actor class with ``options`` (``max_restarts``, resources, ...) applied."""
    return ray.remote(Shard).options(**options)
