"""The new process of the start-up section: from nothing imported to a first search result.

    python -P startup_probe.py BACKEND load INDEX_BYTES QUERY_NPY
    python -P startup_probe.py BACKEND build VECTORS_NPY QUERY_NPY

It is run by its path, never with ``-m``: that would import the ruvector_bench package,
and with it ruvector_core and numpy, before the clock starts. ``-P`` keeps this file's
folder off ``sys.path``. Reading the input files is not timed. Prints one JSON line of
seconds: ``imports`` (numpy, ruvector_core and ``Runtime(backend=...)``, which imports
the backend), ``prepare`` (``hnsw_load`` of the bytes, or a new index and
``insert_batch`` of the vectors), ``search`` (the first ``search``, k=10) and ``total``.
"""

from __future__ import annotations

import sys
import time


def main(argv: list[str]) -> None:
    start = time.perf_counter()
    import numpy as np

    import ruvector_core as rv

    backend, mode, data, query_path = argv
    runtime = rv.Runtime(backend=backend)
    imported = time.perf_counter()
    query = np.load(query_path)
    if mode == "load":
        with open(data, "rb") as handle:
            blob = handle.read()
        prepare_start = time.perf_counter()
        index = runtime.hnsw_load(blob)
    else:
        vectors = np.load(data)
        prepare_start = time.perf_counter()
        index = runtime.hnsw(rv.HnswConfig(dimensions=vectors.shape[1]))
        index.insert_batch([str(i) for i in range(len(vectors))], vectors)
    prepared = time.perf_counter()
    hits = index.search(query, k=10)
    searched = time.perf_counter()
    if not len(hits):
        raise SystemExit("the first search found nothing")
    import json

    seconds = {"imports": imported - start, "prepare": prepared - prepare_start, "search": searched - prepared}
    print(json.dumps({**seconds, "total": sum(seconds.values())}))


if __name__ == "__main__":
    main(sys.argv[1:])
