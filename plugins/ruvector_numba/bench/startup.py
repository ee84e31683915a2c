"""Import time and compile latency of the numba backend, each in a fresh process.

    python plugins/ruvector_numba/bench/startup.py [--runs 3] [--json OUT]

Measures, in new interpreter processes:

- ``import ruvector_core`` and ``import numba`` alone, for reference;
- ``import ruvector_numba`` (the entry point's module: must not import numba);
- ``import ruvector_numba.plugin`` (imports numba, compiles nothing);
- the first search in a new process, from before ``import ruvector_core`` to the first
  result, with a cold cache (an empty ``NUMBA_CACHE_DIR``) and then a warm one, for
  (a) loading a saved 10,700-vector index and searching it, and (b) building a 200-vector
  index and searching it (this also compiles the insert kernel).

"wall" adds the interpreter's own start-up (the whole ``python -c`` process).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path("/work/shared/datasets/stdlib_minilm_int8_f16.npy")

PROBE_IMPORT = """
import time, sys
t = time.perf_counter()
import {module}
print(time.perf_counter() - t, "numba" in sys.modules)
"""

PROBE_SEARCH = """
import time
t0 = time.perf_counter()
import numpy as np
import ruvector_core as rv
rt = rv.Runtime(backend="numba")
t1 = time.perf_counter()
data = np.load({data!r}).astype(np.float32)
mode = {mode!r}
if mode == "load":
    blob = open({blob!r}, "rb").read()
    t2 = time.perf_counter()
    ix = rt.hnsw_load(blob)
else:
    t2 = time.perf_counter()
    ix = rt.hnsw(rv.HnswConfig(dimensions=384))
    ix.insert_batch([str(i) for i in range(200)], data[1000:1200])
t3 = time.perf_counter()
hits = ix.search(data[0], k=10)
t4 = time.perf_counter()
assert len(hits) == 10
print(t4 - t0 - (t2 - t1), t1 - t0, t3 - t2, t4 - t3)
"""


def run(code: str, env: dict[str, str]) -> tuple[list[str], float]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    return out.stdout.split(), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict[str, object] = {}

    with tempfile.TemporaryDirectory(prefix="ruvector-numba-bench-") as tmp:
        env = dict(os.environ)
        env["NUMBA_CACHE_DIR"] = str(Path(tmp) / "warmup-cache")
        for module in ("ruvector_core", "ruvector_numba", "ruvector_numba.plugin", "numba"):
            times = []
            for _ in range(args.runs):
                (seconds, imported_numba), _ = run(PROBE_IMPORT.format(module=module), env)
                times.append(float(seconds))
            results[f"import {module}"] = {"median_s": statistics.median(times), "imports_numba": imported_numba}
            print(
                f"import {module}: {statistics.median(times) * 1000:.0f} ms (median of {args.runs}); "
                f"numba imported: {imported_numba}"
            )

        blob = Path(tmp) / "index.ruv"
        build = (
            "import numpy as np, ruvector_core as rv\n"
            f"data = np.load({str(DATA)!r}).astype(np.float32)[1000:]\n"
            "ix = rv.Runtime(backend='numba').hnsw(rv.HnswConfig(dimensions=384))\n"
            "ix.insert_batch([str(i) for i in range(len(data))], data)\n"
            f"open({str(blob)!r}, 'wb').write(ix.serialize())\n"
        )
        run(build, env)

        for mode in ("load", "build"):
            cache = Path(tmp) / f"cache-{mode}"
            env["NUMBA_CACHE_DIR"] = str(cache)
            probe = PROBE_SEARCH.format(data=str(DATA), blob=str(blob), mode=mode)
            for temperature in ("cold", "warm"):
                rows = []
                for _ in range(args.runs if temperature == "warm" else 1):
                    if temperature == "cold":
                        subprocess.run(["rm", "-rf", str(cache)], check=True)
                    fields, wall = run(probe, env)
                    total, imports, prepare, search = map(float, fields)
                    rows.append(
                        {
                            "total_s": total,
                            "import_and_runtime_s": imports,
                            f"{mode}_s": prepare,
                            "first_search_s": search,
                            "wall_s": wall,
                        }
                    )
                best = min(rows, key=lambda r: r["total_s"])
                results[f"first search after {mode}, {temperature} cache"] = best
                print(
                    f"first search after {mode:5}, {temperature} cache: {best['total_s']:.2f} s "
                    f"(import+Runtime {best['import_and_runtime_s']:.2f}, {mode} {best[f'{mode}_s']:.2f}, "
                    f"search {best['first_search_s']:.3f}; whole process {best['wall_s']:.2f} s)"
                )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
