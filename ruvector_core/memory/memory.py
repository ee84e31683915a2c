"""``rv.Memory``: an agent's memory of texts with metadata, in namespaces, recalled by
meaning, by keywords or both, filtered inside the HNSW graph.

The one class the CLI and every integration use. Items live in SQLite (text, a JSON object
of metadata, the namespace, the vector) next to an HNSW index of their vectors whose keys
are the items' SQLite row ids; ``storage`` keeps the two consistent across processes and
crashes. A ``where`` filter (``where.py``) and a namespace become SQL over the items; for
vector recall the matching row ids become the index's ``allow`` set, so the graph walk
itself skips everything else and ``k`` hits come back whenever ``k`` items match.

The memory learns from use: ``feedback`` records which item answered which query and how
well (``feedback.py``); ``learn`` turns that into an adapter applied to query embeddings
at recall, and into patterns (``learner.py``, ``adapters.py``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import Progress

from ..embedder import Embedder
from ..errors import InvalidInputError
from ..hnsw_index import AllowList, HnswIndex
from ..learning import PatternMatch
from ..learning.lora import adapt as apply_adapter
from ..learning.patterns import DEFAULT_THRESHOLD
from ..models import EmbedderConfig, HnswConfig
from ..runtime import Runtime
from ..validation import as_matrix, as_vector, check_k
from .adapters import AdapterInfo, AdapterStore
from .feedback import FeedbackLog, reward_of
from .items import DEFAULT_NAMESPACE, SEARCH_MODES, MemoryHit, MemoryItem, SearchMode
from .keyword import fts_query, reciprocal_rank_fusion
from .learner import LearnConfig, LearnReport, learn
from .pattern_table import PatternTable
from .storage import Storage
from .where import compile_where, json_default

Where = Mapping[str, Any]
#: how deep each ranking goes before hybrid recall fuses them
HYBRID_DEPTH = 50
#: batches larger than this show a progress bar while they are embedded
PROGRESS_ABOVE = 256
EMBED_CHUNK = 256
#: filters kept prepared for repeated searches (see ``Memory._allowlist``)
ALLOWLIST_CACHE = 32
_COLUMNS = "rowid, id, namespace, text, metadata"


class Memory:
    """Open with ``Memory.open(folder)``; close it (or use ``with``) when done."""

    def __init__(self, storage: Storage, embedder: Embedder, progress: bool = True, owns_embedder: bool = True) -> None:
        self._storage = storage
        self.embedder = embedder
        self._owns_embedder = owns_embedder
        self.model = embedder.config.model
        self.progress = progress
        self._allowlists: OrderedDict[tuple[Any, ...], AllowList] = OrderedDict()
        self._feedback = FeedbackLog(storage)
        self._adapters = AdapterStore(storage)
        self._patterns = PatternTable(storage)

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        model: str | None = None,
        runtime: Runtime | None = None,
        hnsw: HnswConfig | None = None,
        progress: bool = True,
        create: bool = True,
        read_only: bool = False,
        embedder: Embedder | None = None,
    ) -> Memory:
        """Create (unless ``create`` is false) or open the memory in folder ``path``.
        ``model`` defaults to the one the store was built with, or all-MiniLM-L6-v2 for a
        new store; ``hnsw`` configures a new store's index. ``read_only`` opens an existing
        store for reading only; so does a store this process cannot write. Either way
        searches work and writes raise ``StoreReadOnlyError``. A missing or damaged index
        file is rebuilt from the stored vectors (``StoreRepairedWarning``). Store problems
        raise a ``StoreError`` naming the folder and what to do.

        ``embedder`` replaces the runtime's: an ``Embedder`` made elsewhere (a framework's
        embedding model wrapped as one, or one shared with other code), whose
        ``config.model`` names the model the store records and whose ``dimensions`` sizes
        its vectors. The caller keeps it: closing the memory leaves it open."""
        if read_only or not create:
            Storage.require_existing(Path(path))  # before the embedder loads: fail fast
        runtime = runtime or Runtime.initialize()
        owns_embedder = embedder is None
        if embedder is None:
            model = model or Storage.stored_model(path) or EmbedderConfig().model  # also checks the path
            embedder = runtime.embedder(EmbedderConfig(model=model, progress=progress))
        elif model is not None and model != embedder.config.model:
            raise InvalidInputError(f"model {model!r} differs from the given embedder's {embedder.config.model!r}")
        try:
            storage = Storage.open(
                path,
                model=embedder.config.model,
                dimensions=embedder.dimensions,
                runtime=runtime,
                hnsw=hnsw,
                create=create,
                read_only=read_only,
            )
        except BaseException:
            if owns_embedder:
                embedder.close()
            raise
        return cls(storage, embedder, progress, owns_embedder)

    def close(self) -> None:
        self._storage.close()
        if self._owns_embedder:
            self.embedder.close()

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def index(self) -> HnswIndex:
        """The HNSW index of the current generation (keys are the items' row ids)."""
        return self._storage.index

    @property
    def folder(self) -> Path:
        return self._storage.folder

    @property
    def read_only(self) -> bool:
        """Whether the store was opened read-only (this process cannot write it)."""
        return self._storage.read_only

    # -- writing -----------------------------------------------------------------------

    def add(
        self,
        texts: str | Sequence[str],
        metadata: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        ids: Sequence[str] | None = None,
        namespace: str = DEFAULT_NAMESPACE,
        vectors: Any = None,
    ) -> list[str]:
        """Store new items and return their ids (new random ones unless ``ids`` are given).
        An id that the namespace already holds is an error and nothing is stored; use
        ``upsert`` to replace. Durable when it returns. ``vectors`` (one row per text, of
        the model's dimension) stores embeddings computed elsewhere instead of embedding
        the texts, e.g. when importing a collection."""
        return self._write(texts, metadata, ids, namespace, vectors, replace=False)

    def upsert(
        self,
        texts: str | Sequence[str],
        metadata: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        ids: Sequence[str] | None = None,
        namespace: str = DEFAULT_NAMESPACE,
        vectors: Any = None,
    ) -> list[str]:
        """As ``add``, but an existing id is replaced (text, metadata and vector)."""
        return self._write(texts, metadata, ids, namespace, vectors, replace=True)

    def delete(self, ids: Sequence[str] | None = None, where: Where | None = None, namespace: str | None = None) -> int:
        """Remove the items with these ids (in ``namespace``, default "default") and/or
        matching ``where``; returns how many were removed. Something must be named: an
        empty call is an error, not a wipe."""
        if ids is None and where is None and namespace is None:
            raise InvalidInputError("delete needs ids, where or namespace; nothing was deleted")
        self._storage.require_writable()
        if ids is None:
            condition, params = self._condition(where, namespace)
        else:  # ids name items of one namespace
            checked = _check_ids(ids, None)
            condition, params = self._condition(where, namespace or DEFAULT_NAMESPACE)
            condition += f" AND items.id IN ({','.join('?' * len(checked))})"
            params += checked
        with self._storage.writing():
            rows = [r for (r,) in self._storage.db.execute(f"SELECT rowid FROM items WHERE {condition}", params)]
            for row in rows:
                self._storage.index.delete(str(row))
            self._storage.db.executemany("DELETE FROM items WHERE rowid = ?", [(r,) for r in rows])
        return len(rows)

    @contextmanager
    def writing(self) -> Iterator[Memory]:
        """Group several writes into one durable save (one index file written, not one per
        call); on an exception none of them is kept."""
        with self._storage.writing():
            yield self

    # -- reading -----------------------------------------------------------------------

    def get(self, ids: Sequence[str], namespace: str = DEFAULT_NAMESPACE) -> list[MemoryItem]:
        """The items with these ids, in the order asked; ids not stored are left out."""
        checked = _check_ids(ids, None)
        marks = ",".join("?" * len(checked))
        with self._storage.reading():
            rows = self._storage.db.execute(
                f"SELECT {_COLUMNS} FROM items WHERE namespace = ? AND id IN ({marks})", [namespace, *checked]
            ).fetchall()
        by_id = {row[1]: _item(row) for row in rows}
        return [by_id[i] for i in checked if i in by_id]

    def count(self, where: Where | None = None, namespace: str | None = None) -> int:
        condition, params = self._condition(where, namespace)
        with self._storage.reading():
            (n,) = self._storage.db.execute(f"SELECT COUNT(*) FROM items WHERE {condition}", params).fetchone()
        return int(n)

    def namespaces(self) -> dict[str, int]:
        """Every namespace and how many items it holds."""
        with self._storage.reading():
            rows = self._storage.db.execute("SELECT namespace, COUNT(*) FROM items GROUP BY namespace").fetchall()
        return {name: int(n) for name, n in rows}

    def distinct(self, *keys: str, where: Where | None = None, namespace: str | None = None) -> set[tuple[Any, ...]]:
        """The distinct combinations of these metadata keys' values among the matching items
        (a missing key reads as None): who has memories, which sources are indexed."""
        if not keys or not all(isinstance(key, str) and key for key in keys):
            raise InvalidInputError("distinct needs one or more metadata keys")
        condition, params = self._condition(where, namespace)
        paths = ", ".join("json_extract(items.metadata, ?)" for _ in keys)
        with self._storage.reading():
            rows = self._storage.db.execute(
                f"SELECT DISTINCT {paths} FROM items WHERE {condition}", [*(_json_path(k) for k in keys), *params]
            ).fetchall()
        return {tuple(row) for row in rows}

    def search(
        self,
        query: str | Any,
        k: int = 5,
        where: Where | None = None,
        namespace: str | None = None,
        mode: SearchMode = "vector",
        adapt: bool = True,
    ) -> list[MemoryHit]:
        """The ``k`` best items for ``query`` (a text, or a vector in ``vector`` mode) among
        those in ``namespace`` (every namespace when None) that match ``where``.

        ``vector`` ranks by meaning (cosine similarity of embeddings, filtered inside the
        graph); ``keyword`` by BM25 over the words; ``hybrid`` fuses both rankings by
        reciprocal rank. ``k`` hits come back whenever ``k`` items match. The active
        adapter (see ``learn``), if any, maps the query's embedding first unless ``adapt``
        is false; with no adapter, search is the same either way.
        """
        k = check_k(k)
        if mode not in SEARCH_MODES:
            raise InvalidInputError(f"mode must be one of {', '.join(SEARCH_MODES)}, got {mode!r}")
        condition, params = self._condition(where, namespace)
        filtered = where is not None or namespace is not None
        text, vector = self._query(query, mode)
        with self._storage.reading():
            adapter = self._adapters.active() if adapt else None
            if adapter is not None and vector is not None:
                vector = apply_adapter(vector, adapter)
            rankings: list[list[tuple[int, float]]] = []
            if mode in ("vector", "hybrid"):
                depth = k if mode == "vector" else max(k, HYBRID_DEPTH)
                rankings.append(self._vector_ranking(vector, depth, condition, params, filtered))
            if mode in ("keyword", "hybrid"):
                depth = k if mode == "keyword" else max(k, HYBRID_DEPTH)
                rankings.append(self._keyword_ranking(text, depth, condition, params, filtered))
            if mode == "hybrid":
                fused = reciprocal_rank_fusion([[str(r) for r, _ in ranking] for ranking in rankings], k)
                ranked = [(int(r), score) for r, score in fused]
            else:
                ranked = rankings[0][:k]
            rows = self._rows([r for r, _ in ranked])
        return [_hit(rows[r], score) for r, score in ranked if r in rows]

    # -- learning ----------------------------------------------------------------------

    def feedback(
        self,
        query: str,
        id: str,
        reward: float | None = None,
        *,
        success: bool | None = None,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> int:
        """Record that item ``id`` (of ``namespace``) answered ``query`` this well: a
        ``reward`` in [-1, 1], or ``success`` True (1) or False (-1). Durable when it
        returns; returns the event's sequence number. ``learn`` turns events into an
        adapter and patterns."""
        value = reward_of(reward, success)
        if not isinstance(query, str) or not query.strip():
            raise InvalidInputError("feedback needs the query's text")
        _check_unicode(query, "the query", "; no feedback was recorded")
        checked = _check_ids([id], 1)[0]
        namespace = _check_namespace(namespace)
        return self._feedback.record(namespace, checked, query, self.embedder.embed(query), value)

    def learn(self, config: LearnConfig | None = None) -> LearnReport:
        """Train an adapter on the feedback recorded since the active one, check it on a
        held-back slice of that feedback, activate it if recall there is not worse, and
        refresh the pattern library from all feedback. Returns what happened."""
        config = config or LearnConfig()
        anchors = self._anchors(config.anchors)
        return learn(
            self._storage.runtime, self._feedback, self._adapters, anchors, self._recall_ids, self._patterns, config
        )

    def adapters(self) -> list[AdapterInfo]:
        """Every adapter version, oldest first, with its report and whether it is active."""
        return self._adapters.versions()

    def activate(self, version: int | None) -> None:
        """Apply adapter ``version`` at recall from now on, in every process (None: none)."""
        self._adapters.activate(version)

    def rollback(self) -> int | None:
        """Go back to the adapter active before the current one; returns that version."""
        return self._adapters.rollback()

    def patterns(self, query: str | Any, k: int = 5, threshold: float = DEFAULT_THRESHOLD) -> list[PatternMatch]:
        """The learned patterns that match ``query`` (a text or its embedding): clusters of
        queries that found their answer, ranked by similarity times confidence; each
        pattern's metadata names example queries and the items that answered them."""
        vector = self.embedder.embed(query) if isinstance(query, str) else query
        matches: list[PatternMatch] = self._storage.runtime.learning.match_patterns(
            vector, self._patterns.load(), threshold, k
        )
        return matches

    def _anchors(self, count: int) -> np.ndarray:
        """Up to ``count`` stored items' vectors, spread over the store: what an adapter
        should leave where it found it."""
        dimensions = self._storage.config.dimensions
        if count == 0:
            return np.empty((0, dimensions), dtype=np.float32)
        with self._storage.reading():
            (total,) = self._storage.db.execute("SELECT COUNT(*) FROM items").fetchone()
            step = max(1, total // count)
            rows = self._storage.db.execute(
                "SELECT vector FROM items WHERE rowid % ? = 0 LIMIT ?", (step, count)
            ).fetchall()
        return np.frombuffer(b"".join(v for (v,) in rows), dtype="<f4").reshape(len(rows), dimensions)

    def _recall_ids(self, queries: np.ndarray, namespaces: Sequence[str], k: int) -> list[list[tuple[str, str]]]:
        """Each query vector's hits in its namespace, as (namespace, id), unadapted."""
        return [
            [(hit.namespace, hit.id) for hit in self.search(vector, k=k, namespace=namespace, adapt=False)]
            for vector, namespace in zip(queries, namespaces, strict=True)
        ]

    # -- internals ---------------------------------------------------------------------

    def _write(
        self,
        texts: str | Sequence[str],
        metadata: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
        ids: Sequence[str] | None,
        namespace: str,
        given: Any,
        replace: bool,
    ) -> list[str]:
        batch = [texts] if isinstance(texts, str) else list(texts)
        if not all(isinstance(t, str) for t in batch):
            raise InvalidInputError("texts must be strings")
        for position, text in enumerate(batch):
            _check_unicode(text, f"texts[{position}]", "; nothing was stored")
        namespace = _check_namespace(namespace)
        documents = _metadata_documents(metadata, len(batch))
        item_ids = _check_ids(ids, len(batch)) if ids is not None else [uuid.uuid4().hex for _ in batch]
        if not batch:
            return []
        self._storage.require_writable()  # before anything is embedded
        if not replace:
            self._refuse_existing(item_ids, namespace)
        vectors = self._embed(batch) if given is None else self._given_vectors(given, len(batch))
        db = self._storage.db
        with self._storage.writing():
            if not replace:
                self._refuse_existing(item_ids, namespace)
            keys = []
            now = time.time()
            for item_id, text, document, vector in zip(item_ids, batch, documents, vectors, strict=True):
                blob = np.ascontiguousarray(vector, dtype="<f4").tobytes()
                (row,) = db.execute(
                    "INSERT INTO items(id, namespace, text, metadata, vector, added) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT(namespace, id) DO UPDATE SET text = excluded.text, metadata = excluded.metadata, "
                    "vector = excluded.vector, added = excluded.added RETURNING rowid",
                    (item_id, namespace, text, document, blob, now),
                ).fetchone()
                keys.append(str(row))
            self._storage.index.insert_batch(keys, vectors)
        return item_ids

    def _refuse_existing(self, ids: list[str], namespace: str) -> None:
        marks = ",".join("?" * len(ids))
        with self._storage.reading():
            taken = [
                i
                for (i,) in self._storage.db.execute(
                    f"SELECT id FROM items WHERE namespace = ? AND id IN ({marks})", [namespace, *ids]
                )
            ]
        if taken:
            shown = ", ".join(repr(i) for i in taken[:5]) + (" ..." if len(taken) > 5 else "")
            raise InvalidInputError(
                f"namespace {namespace!r} already holds {shown}; use upsert to replace; nothing was added"
            )

    def _embed(self, texts: list[str]) -> np.ndarray:
        embedder = self.embedder
        out = np.empty((len(texts), embedder.dimensions), dtype=np.float32)
        with Progress(disable=not (self.progress and len(texts) > PROGRESS_ABOVE), transient=True) as bar:
            task = bar.add_task("embedding", total=len(texts))
            for start in range(0, len(texts), EMBED_CHUNK):
                chunk = texts[start : start + EMBED_CHUNK]
                out[start : start + len(chunk)] = embedder.embed_batch(chunk)
                bar.advance(task, len(chunk))
        return out

    def _given_vectors(self, vectors: Any, count: int) -> np.ndarray:
        matrix = as_matrix(vectors, self._storage.config.dimensions, "vectors")
        if len(matrix) != count:
            raise InvalidInputError(f"got {len(matrix)} vectors for {count} texts")
        return matrix

    def _query(self, query: Any, mode: SearchMode) -> tuple[str, np.ndarray | None]:
        """The query's text (for keywords) and vector (for meaning), as the mode needs."""
        if isinstance(query, str):
            if not query.strip():
                raise InvalidInputError("the query is empty")
            _check_unicode(query, "the query")
            vector = self.embedder.embed(query) if mode != "keyword" else None
            return query, vector
        if mode != "vector":
            raise InvalidInputError(f"{mode} search needs a text query, not a vector")
        return "", as_vector(query, self._storage.config.dimensions, "query")

    def _condition(self, where: Where | None, namespace: str | None) -> tuple[str, list[Any]]:
        """SQL over ``items`` for a where filter and a namespace (checked before any read)."""
        condition, params = compile_where(where, column="items.metadata")
        if namespace is not None:
            condition = f"({condition}) AND items.namespace = ?"
            params = [*params, _check_namespace(namespace)]
        return condition, list(params)

    def _vector_ranking(
        self, vector: np.ndarray | None, k: int, condition: str, params: list[Any], filtered: bool
    ) -> list[tuple[int, float]]:
        assert vector is not None
        index = self._storage.index
        if not filtered:
            hits = index.search(vector, k=k)
        else:
            hits = index.search(vector, k=k, allow=self._allowlist(condition, params))
        return [(int(i), s) for i, s in zip(hits.ids, hits.scores, strict=True)]

    def _allowlist(self, condition: str, params: list[Any]) -> AllowList:
        """The index's filter for the items matching ``condition``, kept for the next search
        with the same filter until anything is written: an agent asks about the same user
        or namespace again and again, and reading every item's metadata costs about a
        microsecond per item, so repeating it would dominate a search of a large memory."""
        storage = self._storage
        key = (storage.generation, storage.db.total_changes, id(storage.index), condition, *params)
        cached = self._allowlists.get(key)
        if cached is None:
            rows = storage.db.execute(f"SELECT rowid FROM items WHERE {condition}", params)
            cached = storage.index.allowlist(str(r) for (r,) in rows)
            self._allowlists[key] = cached
            if len(self._allowlists) > ALLOWLIST_CACHE:
                self._allowlists.popitem(last=False)
        else:
            self._allowlists.move_to_end(key)
        return cached

    def _keyword_ranking(
        self, text: str, k: int, condition: str, params: list[Any], filtered: bool
    ) -> list[tuple[int, float]]:
        """The ``k`` best BM25 matches among the items the filter allows. FTS5 ranks every
        match anyway; the filter is the same prepared allowlist vector recall uses, checked
        as the ranked matches stream by, instead of evaluating the JSON filter per match."""
        match = fts_query(text)
        if match is None:
            return []
        allowed = self._allowlist(condition, params).ids if filtered else None
        rows = self._storage.db.execute(
            "SELECT rowid, bm25(items_fts) FROM items_fts WHERE items_fts MATCH ? ORDER BY bm25(items_fts)", [match]
        )
        ranked: list[tuple[int, float]] = []
        try:
            for row, score in rows:
                if allowed is None or str(row) in allowed:
                    ranked.append((int(row), -float(score)))
                    if len(ranked) == k:
                        break
        finally:
            rows.close()  # the rest of the ranking is not needed
        return ranked

    def _rows(self, rowids: list[int]) -> dict[int, tuple[Any, ...]]:
        if not rowids:
            return {}
        marks = ",".join("?" * len(rowids))
        rows = self._storage.db.execute(f"SELECT {_COLUMNS} FROM items WHERE rowid IN ({marks})", rowids)
        return {int(row[0]): tuple(row) for row in rows}


def _json_path(key: str) -> str:
    """The JSON path of a top-level key, quoted so dots and quotes in it stay part of it."""
    return "$." + json.dumps(key)


def _item(row: Sequence[Any]) -> MemoryItem:
    _, item_id, namespace, text, metadata = row
    return MemoryItem(id=item_id, text=text, metadata=json.loads(metadata), namespace=namespace)


def _hit(row: Sequence[Any], score: float) -> MemoryHit:
    _, item_id, namespace, text, metadata = row
    return MemoryHit(id=item_id, text=text, metadata=json.loads(metadata), namespace=namespace, score=score)


def _check_unicode(text: str, what: str, consequence: str = "") -> None:
    """A text SQLite and the tokenizer can take: no lone surrogates (which Python strings
    may hold, e.g. from ``os.fsdecode`` or a JSON ``\\ud800`` escape)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"{what} is not valid Unicode ({exc.reason} at character {exc.start}){consequence}"
        ) from None


def _check_namespace(namespace: Any) -> str:
    if not isinstance(namespace, str) or not namespace:
        raise InvalidInputError(f"namespace must be a non-empty string, got {namespace!r}")
    return namespace


def _check_ids(ids: Any, count: int | None) -> list[str]:
    if isinstance(ids, str) or not isinstance(ids, Sequence):
        raise InvalidInputError("ids must be a sequence of strings, not one string")
    checked = list(ids)
    if not all(isinstance(i, str) and i for i in checked):
        raise InvalidInputError("ids must be non-empty strings")
    if count is not None and len(checked) != count:
        raise InvalidInputError(f"got {len(checked)} ids for {count} texts")
    if len(set(checked)) != len(checked):
        raise InvalidInputError("ids within one call must be distinct")
    return checked


def _metadata_documents(metadata: Any, count: int) -> list[str]:
    """One JSON object per item: the same mapping for all, one per item, or empty ones."""
    if metadata is None:
        entries: list[Any] = [{}] * count
    elif isinstance(metadata, Mapping):
        entries = [metadata] * count
    elif isinstance(metadata, Sequence) and not isinstance(metadata, str):
        entries = list(metadata)
        if len(entries) != count:
            raise InvalidInputError(f"got {len(entries)} metadata objects for {count} texts")
    else:
        raise InvalidInputError("metadata must be a mapping or a sequence of mappings")
    documents = []
    for position, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or not all(isinstance(key, str) for key in entry):
            raise InvalidInputError(f"metadata[{position}] must be a mapping with string keys")
        try:
            documents.append(json.dumps(dict(entry), ensure_ascii=False, default=json_default, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"metadata[{position}] cannot be stored as JSON: {exc}") from None
    return documents
