"""The hybrid-recall section: does fusing keyword and vector recall find more of what is
relevant than either alone, on a labelled task built from real text?

The task: the corpus passages are CPython docstrings, each labelled with the module file
it comes from. The base rows go into a ``rv.Memory``; the queries are short prose
sentences (6-14 words) among those same passages, and a hit is relevant when it documents
the same module as its query: "find the rest of what this module says". The query's own
passage is left out of its hits (every mode finds it first). The corpus is in module
order, so query rows and base rows would share almost no module; hence queries come from
the base. For ``vector``, ``keyword`` and ``hybrid`` mode the section reports precision@10
(the share of the ten hits from the query's module) and the mean reciprocal rank of the
first such hit, with the latency per query. Queries from a module with no other passage
are left out.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter

import numpy as np

from ruvector_core.corpus import stdlib_passages, stdlib_root
from ruvector_core.memory import Memory
from ruvector_core.memory.items import SEARCH_MODES
from ruvector_core.runtime import Runtime

from .context import Context
from .dataset import short_sentences
from .timing import Stat

CASE = "memory_hybrid_quality"
K = 10
QUERIES = 200


def modules_of(texts: list[str]) -> list[str] | None:
    """The module file of each text, when ``texts`` are the corpus's first passages."""
    root = stdlib_root()
    pairs = [(str(path.relative_to(root)), text) for path, text in stdlib_passages(root)]
    if [text for _, text in pairs[: len(texts)]] != texts:
        return None
    return [module for module, _ in pairs[: len(texts)]]


def precision_and_rank(found: list[str], module: str) -> tuple[float, float]:
    """Precision@k of ``found`` (modules of the hits) and the reciprocal rank of the first
    hit from ``module`` (0 when none is)."""
    relevant = [m == module for m in found]
    first = next((rank for rank, hit in enumerate(relevant, start=1) if hit), None)
    return sum(relevant) / K, (1.0 / first if first else 0.0)


def section(context: Context) -> None:
    options, split, record, data = context.options, context.split, context.record, context.data
    label = f"recall by module, {K} hits, over {len(split.base):,} passages: precision@{K} and MRR per mode"
    reason = None
    modules = modules_of(data.texts) if data.texts is not None else None
    if modules is None:
        reason = "needs the stdlib corpus texts (their module files are the labels)"
    elif not context.selection.embeddings or not context.selection.hnsw:
        reason = "needs backends serving `embeddings` and `hnsw`"
    if reason:
        record.skip(CASE, label, reason)
        return
    assert data.texts is not None and modules is not None
    context.progress.expect(1 + len(SEARCH_MODES))
    base_texts = data.texts[options.queries : options.queries + len(split.base)]
    base_modules = modules[options.queries : options.queries + len(split.base)]
    passages_of = Counter(base_modules)
    sentences = set(short_sentences(base_texts, count=QUERIES))
    queries = [
        (str(row), text, module)
        for row, (text, module) in enumerate(zip(base_texts, base_modules, strict=True))
        if text in sentences and passages_of[module] > 1
    ]
    runtime = Runtime(backends={"hnsw": context.selection.hnsw[0]})
    with tempfile.TemporaryDirectory(prefix="ruvector-bench-hybrid-") as folder:
        with Memory.open(folder, runtime=runtime, progress=False) as memory:
            context.progress.step("a memory of the base passages, labelled by module")
            ids = [str(row) for row in range(len(base_texts))]
            memory.add(base_texts, metadata=[{"module": m} for m in base_modules], ids=ids, vectors=split.base)
            for mode in SEARCH_MODES:
                context.progress.step(f"hybrid recall task: {mode} mode")
                scores, seconds = [], []
                for own, text, module in queries:
                    started = time.perf_counter()
                    hits = memory.search(text, k=K + 1, mode=mode)
                    seconds.append(time.perf_counter() - started)
                    others = [h.metadata["module"] for h in hits if h.id != own][:K]
                    scores.append(precision_and_rank(others, module))
                precision, mrr = (float(x) for x in np.mean(scores, axis=0))
                note = f"precision@{K} {precision:.3f}, MRR {mrr:.3f} over {len(queries)} queries"
                record.figure(CASE, label, mode, "ruvector", Stat.of(seconds), note, precision=precision, mrr=mrr)
