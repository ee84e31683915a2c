"""``ShardedIndex``: one HNSW index spread over Ray actors, used like ``HnswIndex``.

Rows go to the shard that owns their id (a stable hash, see ``_routing``); a search goes to
every shard at once and the shards' top-k are merged. Every argument is checked here, on
the caller's side, before any shard is asked, so a bad call changes no shard (a batch is
never half applied because one shard refused its part).

Durability: ``save()`` writes each shard's file, then a manifest naming them (``_manifest``).
A shard actor that dies is restarted by Ray from that last save; the next reply from it
carries a new incarnation, and the index records a ``ShardRestart`` saying how many of the
writes it had acknowledged since the save were lost, and logs it as a warning.

Not thread-safe: one caller drives an index (Ray's actors serialize each shard's calls).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import ray
from ray.exceptions import RayTaskError

from ruvector_core import AllowList, SearchHits
from ruvector_core.errors import CorruptIndexError, InvalidInputError, RuvectorError
from ruvector_core.models import HnswConfig, IndexStats
from ruvector_core.validation import as_matrix, as_vector, check_ef, check_id, check_ids, check_k

from ._fanout import CompiledSearch
from ._manifest import Manifest, check_sizes, read_manifest, remove_other_generations, write_manifest
from ._merge import merge_batches, merge_hits
from ._routing import partition, shard_of
from ._shard import ShardStatus, remote_shard

log = logging.getLogger("ruvector.ray")

#: a killed or crashed shard comes back (from the last save) up to this many times, and a
#: call that was in flight when it died is run again on the restarted actor
DEFAULT_ACTOR_OPTIONS: dict[str, Any] = {"max_restarts": 10, "max_task_retries": 10}


@dataclass(frozen=True)
class ShardRestart:
    """A shard actor died and Ray restarted it from the last save."""

    shard: int
    restored_generation: int | None  # the save it came back from; None: nothing saved, it came back empty
    restored_count: int  # live vectors it holds after the restart
    lost_writes: int  # rows inserted or replaced, and ids deleted, after that save: gone

    def __str__(self) -> str:
        origin = f"save {self.restored_generation}" if self.restored_generation else "empty (never saved)"
        return (
            f"shard {self.shard} restarted from {origin} with {self.restored_count} vectors;"
            f" {self.lost_writes} writes acknowledged since that save were lost"
        )


class ShardedAllowList:
    """A search filter split by shard once and kept in Ray's object store, for many queries."""

    __slots__ = ("_parts", "ids")

    def __init__(self, ids: frozenset[str], parts: list[Any]) -> None:
        self.ids = ids
        self._parts = parts  # per shard: an ObjectRef of its ids, or None when it owns none

    def __len__(self) -> int:
        return len(self.ids)


Allow = ShardedAllowList | AllowList | Iterable[str]


class ShardedIndex:
    """Use ``ShardedIndex.create`` or ``ShardedIndex.load``."""

    def __init__(
        self, config: HnswConfig, actors: list[Any], statuses: list[ShardStatus], folder: Path | None, generation: int
    ) -> None:
        self.config = config
        self.dimensions = config.dimensions
        self.num_shards = len(actors)
        self.path = folder
        self.generation = generation  # the last save's; 0 before the first
        self.restarts: list[ShardRestart] = []
        self._actors = actors
        self._incarnations = [s.incarnation for s in statuses]
        self._unsaved = [0] * len(actors)  # writes per shard since the last save
        self._compiled = CompiledSearch(actors)  # the unfiltered single-query fan-out

    # -- making one ------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        config: HnswConfig,
        num_shards: int,
        path: str | Path | None = None,
        actor_options: dict[str, Any] | None = None,
    ) -> ShardedIndex:
        """An empty index of ``num_shards`` actors on the connected Ray cluster.

        ``path`` is where ``save()`` writes and where a restarted shard reads; on a real
        cluster it must be storage that every node sees at the same path. It must not
        already hold a saved index (``load`` that one). ``actor_options`` go to
        ``.options()`` of each actor (``num_cpus``, ``resources``, ``max_restarts``, ...)
        over ``DEFAULT_ACTOR_OPTIONS``.
        """
        if not isinstance(config, HnswConfig):
            raise InvalidInputError(f"config must be an HnswConfig, not {type(config).__name__}")
        if isinstance(num_shards, bool) or not isinstance(num_shards, int) or num_shards < 1:
            raise InvalidInputError(f"num_shards must be a positive integer, got {num_shards!r}")
        folder = None if path is None else Path(path)
        if folder is not None:
            if read_manifest(folder) is not None:
                raise InvalidInputError(f"{folder} already holds a saved sharded index: load it instead")
            folder.mkdir(parents=True, exist_ok=True)
        return cls._start(config, num_shards, folder, 0, actor_options)

    @classmethod
    def load(cls, path: str | Path, actor_options: dict[str, Any] | None = None) -> ShardedIndex:
        """The index saved in ``path``, each shard loaded by its own actor (on its node's
        best backend). A missing or damaged manifest or shard file is a ``CorruptIndexError``
        and no actor is left running."""
        folder = Path(path)
        manifest = read_manifest(folder)
        if manifest is None:
            raise CorruptIndexError(f"{folder} holds no sharded index (no manifest.json)")
        check_sizes(folder, manifest)
        return cls._start(manifest.config, len(manifest.shards), folder, manifest.generation, actor_options)

    @classmethod
    def _start(
        cls,
        config: HnswConfig,
        num_shards: int,
        folder: Path | None,
        generation: int,
        actor_options: dict[str, Any] | None,
    ) -> ShardedIndex:
        options = {**DEFAULT_ACTOR_OPTIONS, **(actor_options or {})}
        actor_class = remote_shard(options)
        where = None if folder is None else str(folder)
        actors = [actor_class.remote(config, shard, num_shards, where) for shard in range(num_shards)]
        statuses: list[ShardStatus] = ray.get([a.status.remote() for a in actors])
        broken = [s for s in statuses if s.error is not None]
        if broken:
            for actor in actors:
                ray.kill(actor, no_restart=True)
            raise CorruptIndexError("; ".join(f"shard {s.shard}: {s.error}" for s in broken))
        return cls(config, actors, statuses, folder, generation)

    # -- writes ----------------------------------------------------------------------

    def insert(self, id: str, vector: Any) -> None:
        """Add ``vector`` under ``id`` on the shard that owns it; an existing ``id`` is replaced."""
        self.insert_batch([check_id(id)], as_vector(vector, self.dimensions)[None, :])

    def insert_batch(self, ids: Sequence[str], vectors: Any) -> None:
        """Insert or replace each row on its shard, all shards at once. Checked in full first,
        so a bad batch changes nothing."""
        matrix = as_matrix(vectors, self.dimensions)
        checked = check_ids(ids, len(matrix))
        parts = [(shard, rows) for shard, rows in enumerate(partition(checked, self.num_shards)) if len(rows)]
        refs = [self._live()[s].insert_batch.remote([checked[r] for r in rows], matrix[rows]) for s, rows in parts]
        for (shard, _), (incarnation, written) in zip(parts, self._get(refs), strict=True):
            self._track(shard, incarnation, written)

    def delete(self, id: str) -> bool:
        """Remove ``id`` from its shard; False if it was not there."""
        shard = shard_of(check_id(id), self.num_shards)
        incarnation, removed = self._get([self._live()[shard].delete.remote(id)])[0]
        self._track(shard, incarnation, int(removed))
        return bool(removed)

    # -- reads -----------------------------------------------------------------------

    def search(self, query: Any, k: int = 10, ef: int | None = None, *, allow: Allow | None = None) -> SearchHits:
        """The ``k`` nearest live vectors over every shard, best first, as ``HnswIndex.search``
        answers them; ``allow`` is split by shard, each shard filters inside its own walk."""
        vector = as_vector(query, self.dimensions, "query")
        k = check_k(k)
        ef = None if ef is None else check_ef(ef)
        if allow is None:
            replies = self._compiled.run(vector, k, ef) if self._actors else None
            if replies is not None:
                return SearchHits(merge_hits(self._noted(list(range(self.num_shards)), replies), k))
        targets = self._targets(allow)
        refs = [self._live()[s].search.remote(vector, k, ef, part) for s, part in targets]
        answers = self._replies([s for s, _ in targets], refs)
        return SearchHits(merge_hits(answers, k))

    def search_batch(
        self, queries: Any, k: int = 10, ef: int | None = None, *, allow: Allow | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores) of shape (len(queries), k) as ``HnswIndex.search_batch``: each shard
        searches the whole batch, then each row's top-k are merged."""
        matrix = as_matrix(queries, self.dimensions, "queries")
        k = check_k(k)
        ef = None if ef is None else check_ef(ef)
        targets = self._targets(allow)
        matrix_ref = ray.put(matrix)  # one copy in the object store, read by every shard
        refs = [self._live()[s].search_batch.remote(matrix_ref, k, ef, part) for s, part in targets]
        return merge_batches(self._replies([s for s, _ in targets], refs), len(matrix), k)

    def allowlist(self, ids: Iterable[str]) -> ShardedAllowList:
        """A filter for ``search(..., allow=...)`` split by shard once, for many queries."""
        checked = _allowed_ids(ids)
        parts = partition(checked, self.num_shards)
        refs = [ray.put([checked[r] for r in rows]) if len(rows) else None for rows in parts]
        return ShardedAllowList(frozenset(checked), refs)

    def __contains__(self, id: object) -> bool:
        if not isinstance(id, str):
            return False
        shard = shard_of(id, self.num_shards)
        return bool(self._replies([shard], [self._live()[shard].contains.remote(id)])[0])

    def __len__(self) -> int:
        return sum(s.count for s in self.shard_stats())

    def ids(self) -> list[str]:
        """Every live id, shard by shard."""
        shards = list(range(self.num_shards))
        return [i for part in self._replies(shards, [a.ids.remote() for a in self._live()]) for i in part]

    def shard_stats(self) -> list[IndexStats]:
        """Each shard's own statistics, in shard order (its ``backend`` is its node's)."""
        shards = list(range(self.num_shards))
        stats: list[IndexStats] = self._replies(shards, [a.stats.remote() for a in self._live()])
        return stats

    def stats(self) -> IndexStats:
        """The shards' statistics added up; ``backend`` names every backend serving a shard."""
        parts = self.shard_stats()
        levels = max(len(s.nodes_per_level) for s in parts)
        per_level = [sum(s.nodes_per_level[i] for s in parts if i < len(s.nodes_per_level)) for i in range(levels)]
        c = self.config
        return IndexStats(
            backend="+".join(sorted({s.backend for s in parts})),
            dimensions=c.dimensions,
            metric=c.metric,
            m=c.m,
            ef_construction=c.ef_construction,
            ef_search=c.ef_search,
            count=sum(s.count for s in parts),
            deleted=sum(s.deleted for s in parts),
            max_level=max(s.max_level for s in parts),
            nodes_per_level=per_level,
            memory_bytes=sum(s.memory_bytes for s in parts),
        )

    def statuses(self) -> list[ShardStatus]:
        """How each shard actor started (restored from which save) and what it holds now."""
        statuses: list[ShardStatus] = ray.get([a.status.remote() for a in self._live()])
        for status in statuses:
            self._track(status.shard, status.incarnation, 0)
        return statuses

    # -- durability ------------------------------------------------------------------

    def save(self) -> Manifest:
        """Write every shard's file (in parallel, each atomically), then the manifest naming
        them; files of earlier saves are removed only once the new manifest is in place."""
        if self.path is None:
            raise InvalidInputError("this index was created without a path: pass path= to ShardedIndex.create")
        previous = read_manifest(self.path)
        generation = max(self.generation, previous.generation if previous else 0) + 1
        shards = list(range(self.num_shards))
        entries = self._replies(shards, [a.save.remote(str(self.path), generation) for a in self._live()])
        manifest = Manifest(generation=generation, config=self.config, shards=entries)
        write_manifest(self.path, manifest)
        remove_other_generations(self.path, manifest)
        self.generation = generation
        self._unsaved = [0] * self.num_shards
        return manifest

    @property
    def compiled_search(self) -> bool:
        """True while unfiltered single-query searches go through a Ray compiled graph
        (``_fanout``); False before the first search and where they go by plain calls."""
        return self._compiled.active

    def close(self) -> None:
        """Stop the shard actors (what was not saved is gone); the index is then unusable."""
        self._compiled.close()
        for actor in self._actors:
            ray.kill(actor, no_restart=True)
        self._actors = []

    def _live(self) -> list[Any]:
        if not self._actors:
            raise RuvectorError("this sharded index is closed: its shard actors are stopped")
        return self._actors

    def __repr__(self) -> str:
        c = self.config
        return (
            f"ShardedIndex(shards={self.num_shards}, dimensions={c.dimensions}, metric={c.metric!r},"
            f" path={None if self.path is None else str(self.path)!r})"
        )

    # -- the plumbing ------------------------------------------------------------------

    def datasink(self, id_column: str = "id", embedding_column: str = "embedding") -> Any:
        """A sink for ``Dataset.write_datasink`` that upserts each row (``id_column``,
        ``embedding_column``) into this index; see ``ruvector_ray.datasink``."""
        from .datasink import ShardedIndexDatasink  # the sink module imports this one

        return ShardedIndexDatasink(self, id_column, embedding_column)

    def shard_actors(self) -> list[Any]:
        """The actor handles, in shard order (for a datasink's write tasks, or to inspect one)."""
        return list(self._live())

    def _targets(self, allow: Allow | None) -> list[tuple[int, Any]]:
        """(shard, its part of the filter) for every shard a search must ask."""
        if allow is None:
            return [(shard, None) for shard in range(self.num_shards)]
        prepared = allow if isinstance(allow, ShardedAllowList) else self.allowlist(_allow_ids(allow))
        if len(prepared._parts) != self.num_shards:
            raise InvalidInputError("this allowlist was made for an index with another number of shards")
        return [(shard, part) for shard, part in enumerate(prepared._parts) if part is not None]

    def _replies(self, shards: list[int], refs: list[Any]) -> list[Any]:
        """The answers of ``refs`` (one per shard in ``shards``), restarts noted."""
        return self._noted(shards, self._get(refs))

    def _noted(self, shards: list[int], replies: list[Any]) -> list[Any]:
        """The answers of the shards' ``(incarnation, answer)`` replies, restarts noted."""
        answers = []
        for shard, (incarnation, answer) in zip(shards, replies, strict=True):
            self._track(shard, incarnation, 0)
            answers.append(answer)
        return answers

    def _get(self, refs: list[Any]) -> list[Any]:
        """``ray.get``, with our own typed errors raised as themselves rather than wrapped."""
        try:
            return list(ray.get(refs))
        except RayTaskError as exc:
            if isinstance(exc.cause, RuvectorError):
                raise exc.cause from None
            raise

    def _track(self, shard: int, incarnation: str, writes: int) -> None:
        """Count ``writes`` as unsaved on ``shard``, after noting a restart if its incarnation changed."""
        if incarnation != self._incarnations[shard]:
            status: ShardStatus = ray.get(self._live()[shard].status.remote())
            restart = ShardRestart(
                shard=shard,
                restored_generation=status.restored_generation,
                restored_count=status.count,
                lost_writes=self._unsaved[shard],
            )
            self.restarts.append(restart)
            log.warning("%s", restart)
            self._incarnations[shard] = incarnation
            self._unsaved[shard] = 0
        self._unsaved[shard] += writes

    def _absorb(self, replies: Iterable[tuple[int, str, int]]) -> None:
        """Writes done by other processes (a datasink's tasks): (shard, incarnation, rows)."""
        for shard, incarnation, written in replies:
            self._track(shard, incarnation, written)


def _allow_ids(allow: AllowList | Iterable[str]) -> Iterable[str]:
    return allow.ids if isinstance(allow, AllowList) else allow


def _allowed_ids(ids: Iterable[str]) -> list[str]:
    if isinstance(ids, str) or not isinstance(ids, Iterable):
        raise InvalidInputError("allow takes an iterable of ids (or an allowlist), not one string")
    return sorted({check_id(i) for i in ids})
