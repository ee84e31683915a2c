"""``ruvector bench``: the performance suite, every installed backend beside its peers.

    from ruvector_bench import BenchOptions, run
    results = run(BenchOptions.preset(quick=True))   # a JSON-able dict; see report and output

Modules, one job each: ``options`` (what to run), ``dataset`` (cached real embeddings or a
user's file, the split and exact neighbours), ``context`` (what each section is handed),
``results`` (what a run records), ``timing`` (medians with spread), ``threadlimits``;
the sections ``embedding``, ``vectorops``, ``hnsw`` (with ``engines`` and ``index``),
``pattern``, ``memory`` and ``startup`` (with ``fresh`` and their ``*_probe`` processes);
``recall``, ``targets``, ``environment``, ``runner`` (one run), ``report``, ``plot`` and
``output`` (tables and files). Nothing here runs at import time.
"""

from .options import BenchOptions
from .runner import run

__all__ = ["BenchOptions", "run"]
