"""Loading one fuzz input into a backend and judging what came back.

A load must either raise a ``RuvectorError`` (typed) or give an index that works: its
searches return distinct live ids with finite scores, best first; it takes an insert; and it
serializes to bytes that load again. Anything else is a finding, named by its outcome.
"""

from __future__ import annotations

import math

import numpy as np

import ruvector_core as rv

#: Outcomes that are findings (the rest: "loaded", "refused").
FINDINGS = (
    "untyped_error",
    "nan_scores",
    "unordered_scores",
    "bad_hits",
    "broken_after_load",
    "crash",
    "hang",
    "fuzzer_error",  # the input could not be made: a bug of the fuzzer, not of the backend
)


def probe(runtime: rv.Runtime, data: bytes, number: int) -> tuple[str, str]:
    """(outcome, detail) of loading ``data``; ``detail`` is the error for a refusal or a finding."""
    try:
        index = runtime.hnsw_load(data)
    except rv.RuvectorError as exc:
        return "refused", type(exc).__name__
    except Exception as exc:  # noqa: BLE001 - an untyped error is what this looks for
        return "untyped_error", f"load: {type(exc).__name__}: {exc}"
    try:
        return _judge(runtime, index, np.random.default_rng(number))
    except rv.RuvectorError as exc:
        return "broken_after_load", f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001
        return "untyped_error", f"after load: {type(exc).__name__}: {exc}"


def _judge(runtime: rv.Runtime, index: rv.HnswIndex, rng: np.random.Generator) -> tuple[str, str]:
    """Searches (plain and filtered), an insert, a search again, a save that loads again."""
    d = index.config.dimensions
    query = rng.standard_normal(d).astype(np.float32)
    one_hot = np.zeros(d, np.float32)
    one_hot[int(rng.integers(d))] = 1.0
    ids = index.ids()
    checks = [(query, None), (one_hot, None), (query, index.allowlist(ids[: max(1, len(ids) // 3)]))]
    for q, allow in checks:
        verdict = _check_hits(index, q, allow)
        if verdict is not None:
            return verdict
    index.insert("fuzz-new", query)
    verdict = _check_hits(index, query, None)
    if verdict is not None:
        return verdict
    again = runtime.hnsw_load(index.serialize())
    if sorted(again.ids()) != sorted(index.ids()):
        return "broken_after_load", "a save of the loaded index loads with other ids"
    return "loaded", ""


def _check_hits(index: rv.HnswIndex, query: np.ndarray, allow: rv.AllowList | None) -> tuple[str, str] | None:
    hits = index.search(query, k=5, allow=allow)
    scores = hits.scores
    if any(not math.isfinite(s) for s in scores):
        return "nan_scores", f"scores {scores}"
    if any(a < b for a, b in zip(scores, scores[1:], strict=False)):
        return "unordered_scores", f"scores {scores}"
    found = hits.ids
    if len(set(found)) != len(found) or any(i not in index for i in found):
        return "bad_hits", f"ids {found}"
    return None
