"""How one ``embed_batch`` call is cut into transformer runs.

A run pads every text to its longest one, so texts are sorted by token count and cut into
consecutive runs. Padding is wasted work, but each run also has a fixed cost (thread-pool
wake-up, small matrix products that use the cores poorly), so neither one run per text
nor one padded run for everything is cheapest. The cut minimises, by dynamic programming
over the sorted lengths, the padded tokens plus ``RUN_COST_TOKENS`` per run.
"""

from __future__ import annotations

import numpy as np

# The fixed cost of one run, in token positions. With all-MiniLM-L6-v2 a run's time less
# its tokens' share comes to 8-37 positions, depending on how it is estimated; end to end,
# the bench's 32 sentences (one thread) took 116.6 ms with a cost of 0 (a run per length),
# 98.5 ms with 8, 97.2 ms with 16, 97.4 ms with 32, and 138.4 ms as one padded run.
RUN_COST_TOKENS = 16


def plan_runs(lengths: np.ndarray, limit: int, run_cost: float = RUN_COST_TOKENS) -> list[np.ndarray]:
    """Indices into ``lengths`` grouped into runs of at most ``limit`` texts, shortest
    first, minimising ``sum(len(run) * longest(run)) + run_cost * len(runs)``."""
    if len(lengths) <= 1:  # the common single-text call has one plan
        return [np.arange(len(lengths))] if len(lengths) else []
    order = np.argsort(lengths, kind="stable")
    widths = lengths[order].astype(np.float64)
    n = len(order)
    best = np.zeros(n + 1)  # best[j]: cheapest cost of the first j sorted texts
    start = np.zeros(n + 1, dtype=np.int64)  # where the last run of that plan starts
    for end in range(1, n + 1):
        first = np.arange(max(0, end - limit), end)
        # sorted ascending, so the text at end - 1 is the longest of every candidate run
        costs = best[first] + (end - first) * widths[end - 1] + run_cost
        pick = int(np.argmin(costs))
        best[end], start[end] = costs[pick], first[pick]
    runs: list[np.ndarray] = []
    end = n
    while end > 0:
        runs.append(order[start[end] : end])
        end = int(start[end])
    return runs[::-1]
