"""The reference HNSW (Malkov & Yashunin, 2018) in Python and numpy.

It favours plainness over speed: every other backend is compared with it, so each step
follows the paper (Algorithms 1, 2, 4 and 5) with hnswlib's conventions where the paper
leaves a choice: the neighbour heuristic without candidate extension, ``2m`` links on
layer 0, and deletions as tombstones that stay in the graph as waypoints but are never
returned. Distances between candidates are computed with numpy a neighbour list at a time.
What a node stores and how distances to it are measured (float32, int8 or binary codes)
is the ``storage`` module's job; on codes, the layer-0 beam is re-scored before the best
``k`` are returned.
"""

from __future__ import annotations

import heapq
import sys
import threading
from collections.abc import Sequence

import numpy as np

from ... import footprint, index_format
from ...models import MAX_LEVEL, HnswConfig, IndexStats
from .storage import Query, make_store, prepare

_NONE = -1
# A filtered search scans the allowed vectors exactly while allowed**2 <= this * beam * nodes:
# a walk that keeps a fraction allowed/nodes of what it visits computes about
# beam * nodes / allowed distances, a scan computes allowed of them (break-even measured
# near 11 on real and synthetic data; 8 leans towards walking).
_EXACT_SCAN_FACTOR = 8


class NumpyHnsw:
    def __init__(self, config: HnswConfig, backend_name: str = "numpy") -> None:
        self.config = config
        self._backend_name = backend_name
        self._store = make_store(config)
        self._ids: list[str] = []
        self._levels: list[int] = []
        self._deleted: list[bool] = []
        self._links: list[list[list[int]]] = []  # node -> layer -> neighbour nodes
        self._node_of: dict[str, int] = {}  # live id -> node
        self._entry = _NONE
        self._max_level = _NONE
        self._rng = np.random.default_rng(config.seed)
        self._lock = threading.Lock()

    # -- public operations (the HnswGraph protocol) ------------------------------------

    def insert_batch(self, ids: list[str], vectors: np.ndarray) -> None:
        if self.config.metric == "cosine":
            vectors = _unit_rows(vectors)
        with self._lock:
            for id_, vector in zip(ids, vectors, strict=True):
                self._insert(id_, vector)

    def allow_mask(self, ids: list[str]) -> np.ndarray:
        with self._lock:
            mask = np.zeros(len(self._ids), dtype=bool)
            nodes = [node for node in map(self._node_of.get, ids) if node is not None]
        mask[nodes] = True
        return mask

    def search(self, query: np.ndarray, k: int, ef: int, allow: np.ndarray | None = None) -> list[tuple[str, float]]:
        prepared = prepare(self._prepare_query(query))
        with self._lock:
            found = self._knn(prepared, k, ef) if allow is None else self._filtered_knn(prepared, k, ef, allow)
        return [(self._ids[node], self._score(dist)) for dist, node in found]

    def search_batch(
        self, queries: np.ndarray, k: int, ef: int, allow: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        ids = np.full((len(queries), k), None, dtype=object)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        for row, query in enumerate(queries):
            for col, (id_, score) in enumerate(self.search(query, k, ef, allow)):
                ids[row, col] = id_
                scores[row, col] = score
        return ids, scores

    def delete(self, id: str) -> bool:
        with self._lock:
            node = self._node_of.pop(id, _NONE)
            if node == _NONE:
                return False
            self._deleted[node] = True
            return True

    def __contains__(self, id: object) -> bool:
        return id in self._node_of

    def __len__(self) -> int:
        return len(self._node_of)

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._node_of)

    def stats(self) -> IndexStats:
        with self._lock:
            levels = np.asarray(self._levels, dtype=np.int64)
            per_level = [int((levels >= lv).sum()) for lv in range(self._max_level + 1)]
            memory = self._memory_bytes()
            return IndexStats(
                backend=self._backend_name,
                dimensions=self.config.dimensions,
                metric=self.config.metric,
                m=self.config.m,
                ef_construction=self.config.ef_construction,
                ef_search=self.config.ef_search,
                count=len(self._node_of),
                deleted=sum(self._deleted),
                max_level=self._max_level,
                nodes_per_level=per_level,
                memory_bytes=memory,
            )

    def serialize(self) -> bytes:
        with self._lock:
            n = len(self._ids)
            sizes = [len(layer) for node in self._links for layer in node]
            flat = [x for node in self._links for layer in node for x in layer]
            graph = index_format.GraphData(
                config=self.config,
                vectors=self._store.graph_vectors(n),
                levels=np.asarray(self._levels, dtype=np.uint8),
                deleted=np.asarray(self._deleted, dtype=bool),
                ids=list(self._ids),
                list_sizes=np.asarray(sizes, dtype=np.uint32),
                links=np.asarray(flat, dtype=np.uint32),
                entry_point=self._entry,
                codes=self._store.codes(n),
            )
        return index_format.encode(graph)

    @classmethod
    def from_graph(cls, graph: index_format.GraphData, backend_name: str = "numpy") -> NumpyHnsw:
        index = cls(graph.config, backend_name)
        n = len(graph.ids)
        index._store.load(graph)
        index._ids = list(graph.ids)
        index._levels = graph.levels.astype(int).tolist()
        index._deleted = graph.deleted.tolist()
        sizes = graph.list_sizes.tolist()
        flat = graph.links.tolist()
        position = cursor = 0
        for level in index._levels:
            layers = []
            for _ in range(level + 1):
                size = sizes[cursor]
                layers.append(flat[position : position + size])
                position += size
                cursor += 1
            index._links.append(layers)
        index._node_of = {i: node for node, i in enumerate(index._ids) if not index._deleted[node]}
        index._entry = graph.entry_point
        index._max_level = graph.max_level
        index._rng.random(n)  # continue the level stream where the writer left it
        return index

    # -- the algorithm -----------------------------------------------------------------

    def _insert(self, id_: str, vector: np.ndarray) -> None:
        replaced = self._node_of.get(id_, _NONE)
        if replaced != _NONE:
            self._deleted[replaced] = True
        node = len(self._ids)
        level = self._draw_level()
        self._store.grow(node + 1)
        self._store.put(node, vector)
        self._ids.append(id_)
        self._levels.append(level)
        self._deleted.append(False)
        self._links.append([[] for _ in range(level + 1)])
        self._node_of[id_] = node
        if self._entry == _NONE:
            self._entry, self._max_level = node, level
            return

        query = prepare(vector)
        entry = [(self._store.distances(query, [self._entry])[0], self._entry)]
        for layer in range(self._max_level, level, -1):
            entry = self._search_layer(query, entry, 1, layer, skip_deleted=False)[:1]
        for layer in range(min(level, self._max_level), -1, -1):
            found = self._search_layer(query, entry, self.config.ef_construction, layer, skip_deleted=False)
            neighbours = self._select_neighbours(found, self.config.m)
            self._links[node][layer] = neighbours
            limit = self.config.max_links_layer0 if layer == 0 else self.config.m
            for other in neighbours:
                self._link(other, node, layer, limit)
            entry = found
        if level > self._max_level:
            self._entry, self._max_level = node, level

    def _link(self, node: int, new: int, layer: int, limit: int) -> None:
        """Add ``new`` to ``node``'s list, shrinking it with the heuristic when full."""
        links = self._links[node][layer]
        links.append(new)
        if len(links) > limit:
            dists = self._store.distances(self._store.node_query(node), links)
            ranked = sorted(zip(dists.tolist(), links, strict=True))
            self._links[node][layer] = self._select_neighbours(ranked, limit)

    def _select_neighbours(self, ranked: Sequence[tuple[float, int]], m: int) -> list[int]:
        """The paper's Algorithm 4: keep a candidate only if it is closer to the base than to
        every neighbour kept so far, which spreads links across directions."""
        if len(ranked) <= m:
            return [node for _, node in ranked]
        nodes = [node for _, node in ranked]
        pairwise = self._store.pairwise(nodes)
        kept: list[int] = []
        for i, (dist, _) in enumerate(ranked):
            if not kept or pairwise[i, kept].min() >= dist:
                kept.append(i)
                if len(kept) == m:
                    break
        return [nodes[i] for i in kept]

    def _knn(self, query: Query, k: int, ef: int, allowed: np.ndarray | None = None) -> list[tuple[float, int]]:
        """The beam of ``max(ef, k)`` found on layer 0; on codes, its members are re-scored
        with the final distances (exact when the floats are resident) before the best ``k``
        are kept."""
        if self._entry == _NONE or not self._node_of:
            return []
        entry = [(self._store.distances(query, [self._entry])[0], self._entry)]
        for layer in range(self._max_level, 0, -1):
            entry = self._search_layer(query, entry, 1, layer, skip_deleted=False)[:1]
        beam = self._search_layer(query, entry, max(ef, k), 0, skip_deleted=True, allowed=allowed)
        if self.config.quantized:
            return self._ranked(query, [node for _, node in beam])[:k]
        return beam[:k]

    def _ranked(self, query: Query, nodes: list[int]) -> list[tuple[float, int]]:
        return sorted(zip(self._store.final(query, nodes).tolist(), nodes, strict=True))

    def _filtered_knn(self, query: Query, k: int, ef: int, allow: np.ndarray) -> list[tuple[float, int]]:
        """The ``k`` nearest allowed live nodes: a graph walk that passes through the others
        and keeps only allowed ones, or an exact scan of the allowed vectors when few are
        allowed (``_EXACT_SCAN_FACTOR``) or when the walk comes back with fewer than
        ``min(k, allowed)``, so that many always come back."""
        n = len(self._ids)
        allowed = np.zeros(n, dtype=bool)
        allowed[: min(n, len(allow))] = allow[:n]
        allowed &= ~np.asarray(self._deleted, dtype=bool)
        count = int(np.count_nonzero(allowed))
        want = min(k, count)
        if count * count > _EXACT_SCAN_FACTOR * max(ef, k) * n:
            found = self._knn(query, k, ef, allowed)
            if len(found) >= want:
                return found
        return self._ranked(query, np.flatnonzero(allowed).tolist())[:want]

    def _search_layer(
        self,
        query: Query,
        entry: list[tuple[float, int]],
        ef: int,
        layer: int,
        skip_deleted: bool,
        allowed: np.ndarray | None = None,
    ) -> list[tuple[float, int]]:
        """Algorithm 2, best-first from ``entry``; returns up to ``ef`` (distance, node),
        nearest first. With ``skip_deleted`` tombstones are walked through but not kept,
        so the beam fills with ``ef`` live nodes whenever that many are reachable; with
        ``allowed`` (live nodes a filtered search may return) every other node is walked
        through the same way."""
        deleted = self._deleted

        def kept(node: int) -> bool:
            if allowed is not None:
                return bool(allowed[node])
            return not (skip_deleted and deleted[node])

        visited = {node for _, node in entry}
        candidates = list(entry)
        heapq.heapify(candidates)
        results = [(-d, node) for d, node in entry if kept(node)]
        heapq.heapify(results)
        while candidates:
            dist, node = heapq.heappop(candidates)
            if len(results) >= ef and dist > -results[0][0]:
                break
            fresh = [x for x in self._links[node][layer] if x not in visited]
            if not fresh:
                continue
            visited.update(fresh)
            for d, other in zip(self._store.distances(query, fresh).tolist(), fresh, strict=True):
                if len(results) < ef or d < -results[0][0]:
                    heapq.heappush(candidates, (d, other))
                    if kept(other):
                        heapq.heappush(results, (-d, other))
                        if len(results) > ef:
                            heapq.heappop(results)
        return sorted((-d, node) for d, node in results)

    # -- scores and queries ------------------------------------------------------------

    def _score(self, dist: float) -> float:
        metric = self.config.metric
        if metric == "cosine":
            return 1.0 - dist
        if metric == "dot":
            return -dist
        return -float(np.sqrt(max(dist, 0.0)))

    def _prepare_query(self, query: np.ndarray) -> np.ndarray:
        return _unit_rows(query[None, :])[0] if self.config.metric == "cosine" else query

    # -- storage ---------------------------------------------------------------------------

    def _memory_bytes(self) -> int:
        """What the process holds for this index: the stored rows in use (the spare capacity
        of the store's arrays is never touched, so never resident) and the Python objects of
        the graph and the id table, each str, list and large int with its own header."""
        return (
            self._store.nbytes(len(self._ids))
            + footprint.id_table_bytes(self._ids, self._node_of)
            + sys.getsizeof(self._levels)
            + sys.getsizeof(self._deleted)
            + footprint.nested_lists_bytes(self._links)
        )

    def _draw_level(self) -> int:
        """Level ~ floor(-ln(U) * mL), capped at the format's 63."""
        uniform = 1.0 - self._rng.random()  # in (0, 1]
        return min(int(-np.log(uniform) * self.config.level_multiplier), MAX_LEVEL)


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    # Only a zero row is left as zeros: a NaN or infinity in a query must reach the
    # distances, where the core detects it (see HnswIndex.search), without warnings on the way.
    with np.errstate(invalid="ignore", over="ignore"):
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        unit: np.ndarray = np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms != 0)
        return unit.astype(np.float32)
