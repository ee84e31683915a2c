"""The absolute targets (docs/architecture.md, "How performance is measured"): the floor every
backend must clear; the goals are relative to the best peers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    seconds: float
    what: str  # what exactly the target is checked on

    def passes(self, seconds: float) -> bool:
        return seconds < self.seconds


TARGETS: dict[str, Target] = {
    "embed_single": Target(10e-3, "embed one short sentence < 10 ms"),
    "embed_batch32": Target(100e-3, "embed a batch of 32 short sentences < 100 ms"),
    "hnsw_search": Target(5e-3, "one k=10 query on 10k x 384 < 5 ms (median)"),
    "quantize_int8_one": Target(1e-3, "quantize one 384-d embedding < 1 ms"),
    "quantize_binary_one": Target(1e-3, "quantize one 384-d embedding < 1 ms"),
    "pattern_match": Target(20e-3, "match_patterns for one query over 10,000 patterns < 20 ms"),
    "memory_search_where": Target(10e-3, "Memory.search of a text with a where on one field, 100k items < 10 ms"),
}


def verdict(case: str, seconds: float | None) -> str:
    """``pass``, ``FAIL``, ``n/a`` (nothing measured) or empty when no target is set."""
    target = TARGETS.get(case)
    if target is None:
        return ""
    if seconds is None:
        return "n/a"
    return "pass" if target.passes(seconds) else "FAIL"
