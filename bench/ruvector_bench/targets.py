"""The absolute targets (docs/architecture.md, "How performance is measured"): the floor every
backend must clear; the goals are relative to the best peers.

A target is a claim about a full run: its sample counts and data sizes are what the targets
are defined on. So a full run judges every figure that has a target, and a miss fails the
command (exit status 1, the misses listed); a ``--quick`` run, with a few samples on a
smaller base, judges nothing and says so, rather than print a pass or FAIL it cannot back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .timing import format_seconds

NOT_JUDGED_QUICK = (
    "not judged: a --quick run takes fewer samples on smaller data than the targets are defined on; "
    "a full run judges them and exits 1 on a miss"
)


@dataclass(frozen=True)
class Target:
    seconds: float
    what: str  # what exactly the target is checked on
    min_base: int = 0  # base rows the run must have for the target to apply

    def passes(self, seconds: float) -> bool:
        return seconds < self.seconds


TARGETS: dict[str, Target] = {
    "embed_single": Target(10e-3, "embed one short sentence < 10 ms"),
    "embed_batch32": Target(100e-3, "embed a batch of 32 short sentences < 100 ms"),
    "hnsw_search": Target(5e-3, "one k=10 query on 10k x 384 < 5 ms (median)", min_base=10_000),
    "quantize_int8_one": Target(1e-3, "quantize one 384-d embedding < 1 ms"),
    "quantize_binary_one": Target(1e-3, "quantize one 384-d embedding < 1 ms"),
    "pattern_match": Target(20e-3, "match_patterns for one query over 10,000 patterns < 20 ms"),
    "memory_search_where": Target(10e-3, "Memory.search of a text with a where on one field, 100k items < 10 ms"),
}


def not_judged(results: dict[str, Any]) -> str | None:
    """Why this run's figures are not judged against the targets, or None when they are."""
    return NOT_JUDGED_QUICK if results.get("mode") == "quick" else None


def verdict(case: str, seconds: float | None, base: int | None = None) -> str:
    """``pass``, ``FAIL``, ``n/a`` (nothing measured, or a base smaller than the target is
    defined on) or empty when no target is set."""
    target = TARGETS.get(case)
    if target is None:
        return ""
    if seconds is None or (base is not None and base < target.min_base):
        return "n/a"
    return "pass" if target.passes(seconds) else "FAIL"


def misses(results: dict[str, Any]) -> list[str]:
    """Every ruvector figure of a judged run that misses its target, as a line to print."""
    if not_judged(results) is not None:
        return []
    base = results.get("data", {}).get("base")
    missed = []
    for fig in results.get("figures", []):
        stat = fig.get("stat")
        if fig.get("kind") != "ruvector" or not stat:
            continue
        if verdict(fig["case"], stat["median"], base) == "FAIL":
            target = TARGETS[fig["case"]]
            missed.append(
                f"{fig['label']} ({fig['engine']}): median {format_seconds(stat['median'])}, target: {target.what}"
            )
    return missed
