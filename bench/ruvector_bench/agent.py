"""The agent-memory section: ``rv.Memory`` end to end, as an agent uses it.

A memory of many items (the base rows repeated under distinct ids: 100,000 in a full run,
20,000 in a quick one, stored with their corpus texts and vectors given, so building it
costs no embedding) with metadata ``shard`` (ten values), ``source`` and ``year``:

- ``Memory.search(text, k=10, where={"shard": 3})`` (10 % of the items), timed per query
  including embedding the text, SQLite and building the hits; the same unfiltered, in
  keyword mode and in hybrid mode, for comparison. The filter's allowlist is prepared on
  the first query and reused while nothing is written (``Memory._allowlist``): the note
  says what the first query cost.
- ``Memory.add`` of short texts (10,000; 1,000 in a quick run) into a new memory, per item,
  beside ``embed_batch`` alone on the same texts: what storing adds to embedding.

The memory uses the top-ranked selected backend serving ``hnsw``.
"""

from __future__ import annotations

import tempfile
import time
from functools import partial
from typing import Any

import numpy as np

from ruvector_core.memory import Memory
from ruvector_core.runtime import Runtime

from .context import Context
from .timing import Stat, format_seconds, time_call

ITEMS = {False: 100_000, True: 20_000}  # by options.quick
ADDED = {False: 10_000, True: 1_000}
SEARCHES = 200
CHUNK = 10_000
WHERE = {"shard": 3}


def section(context: Context) -> None:
    options, split, record, data = context.options, context.split, context.record, context.data
    items, added = ITEMS[options.quick], ADDED[options.quick]
    labels = {
        "memory_search_where": f"Memory.search of a text, k=10, where on one field (10 %), {items:,} items",
        "memory_search": f"Memory.search of a text, k=10, no filter, {items:,} items",
        "memory_search_keyword": f"Memory.search keyword mode (BM25), k=10, where (10 %), {items:,} items",
        "memory_search_hybrid": f"Memory.search hybrid mode, k=10, where (10 %), {items:,} items",
        "memory_add": f"Memory.add of {added:,} short texts, per item",
    }
    backends = context.selection.hnsw
    reason = None if backends else "no selected backend serves `hnsw`"
    if data.texts is None:
        reason = "needs the corpus texts (a user's .npy file has none)"
    if not context.selection.embeddings:
        reason = "no selected backend serves `embeddings`"
    if reason:
        for case, label in labels.items():
            record.skip(case, label, reason)
        return
    assert data.texts is not None
    context.progress.expect(3)
    runtime = Runtime(backends={"hnsw": backends[0]})
    base_texts = data.texts[options.queries : options.queries + len(split.base)]
    queries = data.texts[: min(SEARCHES, options.queries)]
    with tempfile.TemporaryDirectory(prefix="ruvector-bench-memory-") as folder:
        with Memory.open(folder, runtime=runtime, progress=False) as memory:
            context.progress.step(f"building a memory of {items:,} items ({backends[0]})")
            built = _fill(memory, split.base, base_texts, items)
            context.progress.step("searching the memory")
            engine = f"Memory ({backends[0]})"
            cases: dict[str, dict[str, Any]] = {
                "memory_search_where": {"where": WHERE},
                "memory_search": {},
                "memory_search_keyword": {"where": WHERE, "mode": "keyword"},
                "memory_search_hybrid": {"where": WHERE, "mode": "hybrid"},
            }
            for case, arguments in cases.items():
                seconds = [time_call(partial(memory.search, query, k=10, **arguments)) for query in queries]
                note = f"first query {format_seconds(seconds[0])}; built in {built:.1f} s"
                record.figure(case, labels[case], engine, "ruvector", Stat.of(seconds[1:]), note)
    context.progress.step(f"adding {added:,} texts to a new memory")
    texts = [f"{text} ({i})" for i, text in enumerate(context.sentences * (added // len(context.sentences) + 1))][
        :added
    ]
    with tempfile.TemporaryDirectory(prefix="ruvector-bench-memory-") as folder:
        with Memory.open(folder, runtime=runtime, progress=False) as memory:
            memory.add(texts[:8])  # the embedder's first call, untimed
            store = time_call(partial(memory.add, texts))
            alone = time_call(partial(memory.embedder.embed_batch, texts))
    record.figure(
        "memory_add",
        labels["memory_add"],
        f"Memory ({backends[0]})",
        "ruvector",
        Stat.of([store / added]),
        f"{added / store:,.0f} items/s",
    )
    record.figure(
        "memory_add",
        labels["memory_add"],
        "embed_batch alone",
        "peer",
        Stat.of([alone / added]),
        f"{added / alone:,.0f} texts/s",
    )


def _fill(memory: Memory, base: np.ndarray, texts: list[str], items: int) -> float:
    """Add ``items`` items cycling over the base rows, in one save; seconds taken."""
    started = time.perf_counter()
    with memory.writing():
        for start in range(0, items, CHUNK):
            rows = np.arange(start, min(items, start + CHUNK)) % len(base)
            memory.add(
                [texts[r] for r in rows],
                metadata=[_metadata(i) for i in range(start, start + len(rows))],
                ids=[f"item-{i}" for i in range(start, start + len(rows))],
                vectors=base[rows],
            )
    return time.perf_counter() - started


def _metadata(item: int) -> dict[str, Any]:
    return {"shard": item % 10, "source": f"s{item % 100}", "year": 2000 + item % 25}
