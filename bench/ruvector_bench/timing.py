"""Summaries of repeated timings: a median and its spread, never a single number."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Stat:
    """Seconds per operation over ``n`` timed repeats."""

    median: float
    q1: float
    q3: float
    min: float
    max: float
    n: int

    @classmethod
    def of(cls, samples: Sequence[float] | np.ndarray) -> Stat:
        if len(samples) == 0:
            raise ValueError("no samples to summarise")
        values = np.asarray(samples, dtype=np.float64)
        q1, median, q3 = np.percentile(values, [25, 50, 75])
        return cls(float(median), float(q1), float(q3), float(values.min()), float(values.max()), len(values))

    def scaled(self, factor: float) -> Stat:
        """The same samples times ``factor`` (seconds per call to seconds per item)."""
        return Stat(
            self.median * factor, self.q1 * factor, self.q3 * factor, self.min * factor, self.max * factor, self.n
        )

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stat:
        return cls(**{field: data[field] for field in ("median", "q1", "q3", "min", "max", "n")})


def time_call(fn: Callable[[], object]) -> float:
    """Seconds one call of ``fn`` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def time_per_call(fn: Callable[[], object], number: int) -> float:
    """Mean seconds per call over ``number`` back-to-back calls (for sub-microsecond work)."""
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def calls_for(fn: Callable[[], object], target_seconds: float = 0.02, limit: int = 100_000) -> int:
    """How many back-to-back calls of ``fn`` take about ``target_seconds`` (one warm-up call)."""
    one = max(time_call(fn), 1e-7)
    return int(min(limit, max(1, target_seconds / one)))


def interleaved(cases: dict[str, Callable[[], float]], repeats: int) -> dict[str, Stat]:
    """Run each case's sampler once per round, ``repeats`` rounds, and summarise.

    Interleaving peers round by round lets a noisy neighbour on a shared machine slow all of
    them alike instead of whichever happened to run at that moment.
    """
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, sample in cases.items():
            samples[name].append(sample())
    return {name: Stat.of(values) for name, values in samples.items()}


SETTLE_SECONDS = 0.1
BLOCK = 5


def in_blocks(cases: dict[str, Callable[[], float]], repeats: int) -> dict[str, Stat]:
    """Like ``interleaved``, but each case's sampler runs ``BLOCK`` times in a row, the
    cases taking turns: for multi-threaded work.

    After a call, a thread pool's workers spin for a while waiting for more work (ONNX
    Runtime's for tens of milliseconds, OpenBLAS's too), so a case timed right after
    another's competes with its spinning threads: a 2.5 ms single embed measured 5-11 ms
    that way, and a two-thread batch distance ran at one thread's speed. Before each block
    its own sampler runs untimed for ``SETTLE_SECONDS``, long enough for the other pools
    to go to sleep while its own stays warm, as in a program that calls it repeatedly.
    """
    samples: dict[str, list[float]] = {name: [] for name in cases}
    while any(len(values) < repeats for values in samples.values()):
        for name, sample in cases.items():
            settle_until = time.perf_counter() + SETTLE_SECONDS
            while time.perf_counter() < settle_until:
                sample()
            for _ in range(min(BLOCK, repeats - len(samples[name]))):
                samples[name].append(sample())
    return {name: Stat.of(values) for name, values in samples.items()}


def _unit(seconds: float) -> tuple[str, float]:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return unit, scale
    return "ns", 1e-9


def format_range(low: float, high: float) -> str:
    """``10.7–11.0 ms``: both ends in the unit of the upper one."""
    unit, scale = _unit(high)
    digits = 1 if high / scale < 100 else 0
    return f"{low / scale:.{digits}f}–{high / scale:.{digits}f} {unit}"


def format_seconds(seconds: float | None) -> str:
    """``1.23 ms``, ``45.6 µs``, ``2.34 s``: three significant figures in a readable unit."""
    if seconds is None or not np.isfinite(seconds):
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale or unit == "ns":
            value = seconds / scale
            return f"{value:#.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")
