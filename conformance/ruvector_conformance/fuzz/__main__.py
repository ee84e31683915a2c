"""``python -m ruvector_conformance.fuzz``: fuzz the index loader of each backend.

Prints, per backend, how many inputs ran and how each ended (loaded and working, refused
with a typed error, or a finding: untyped error, NaN or unordered scores, bad hits, broken
after load, crash, hang), and exits 1 if any backend had a finding.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import ruvector_core as rv

from .probe import FINDINGS
from .supervisor import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ruvector_conformance.fuzz", description=__doc__)
    parser.add_argument("--backend", action="append", help="backend to fuzz (repeatable); default: all with hnsw")
    parser.add_argument("--inputs", type=int, default=1_000_000, help="inputs per backend (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=0, help="the run's seed; input i is made from (seed, i)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes per backend")
    parser.add_argument("--memory-gib", type=float, default=4.0, help="address-space limit of each worker")
    parser.add_argument("--hang-seconds", type=float, default=60.0, help="an input running longer is a hang")
    parser.add_argument("--max-seconds", type=float, default=0.0, help="stop each backend's run after this long")
    parser.add_argument("--out", type=Path, help="folder to keep the input bytes of every finding in")
    parser.add_argument("--json", action="store_true", help="print one JSON object per backend")
    args = parser.parse_args(argv)
    if args.inputs < 1 or args.workers < 1 or args.memory_gib <= 0 or args.hang_seconds <= 0 or args.max_seconds < 0:
        parser.error("--inputs, --workers, --memory-gib and --hang-seconds must be positive")
    backends = args.backend or [i.name for i in rv.Runtime().info() if "hnsw" in i.capabilities]
    failed = False
    for backend in backends:
        try:
            report = run(
                backend,
                args.seed,
                args.inputs,
                workers=args.workers,
                memory_bytes=int(args.memory_gib * (1 << 30)),
                hang_seconds=args.hang_seconds,
                max_seconds=args.max_seconds,
                out=args.out,
            )
        except RuntimeError as exc:
            print(f"{backend}: {exc}", file=sys.stderr)
            return 2
        failed |= report.bad() > 0
        if args.json:
            print(json.dumps(report.as_dict()), flush=True)
            continue
        counts = report.counts
        bad = ", ".join(f"{f} {counts[f]}" for f in FINDINGS)
        print(
            f"{backend}: {report.inputs:,} inputs in {report.seconds:,.0f} s (seed {args.seed}); "
            f"loaded and working {counts['loaded']:,}, refused with a typed error {counts['refused']:,}; {bad}",
            flush=True,
        )
        for finding in report.findings[:10]:
            print(f"  {finding['finding']} on input {finding['number']} ({finding['kind']}): {finding['detail']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
