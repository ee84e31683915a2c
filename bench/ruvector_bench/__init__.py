"""``ruvector bench``: the record's performance suite, every installed backend beside its peers.

    from ruvector_bench import BenchOptions, run
    results = run(BenchOptions.preset(quick=True))   # a JSON-able dict; see report and output

Modules, one job each: ``options`` (what to run), ``dataset`` (cached real embeddings, the
split and exact neighbours), ``timing`` (medians with spread), ``embedding``, ``vectorops``,
``engines``, ``index`` and ``pattern`` (the cases and their peers),
``recall``, ``targets``, ``environment``, ``runner`` (one run), ``report``, ``plot`` and
``output`` (tables and files). Nothing here runs at import time.
"""

from .options import BenchOptions
from .runner import run

__all__ = ["BenchOptions", "run"]
