"""One fuzz worker: inputs ``start`` to ``stop`` of a run against one backend, in a process of
its own under an address-space limit.

It writes the number it is on into a small shared file before each input (so the
supervisor can name the input a crash or a hang happened on) and prints JSON lines: each
finding as it happens, and every ``TALLY_EVERY`` inputs the outcomes counted since the last
tally, with the number the next tally starts from (where a restart resumes).

    python -m ruvector_conformance.fuzz.worker BACKEND SEED START STOP PROGRESS MEMORY_BYTES DEADLINE [SKIP,...]

``DEADLINE`` is a ``time.time()`` past which the worker stops after its next tally (0: none).
"""

from __future__ import annotations

import json
import mmap
import resource
import struct
import sys
import time
from collections import Counter

TALLY_EVERY = 1000


def run(backend: str, seed: int, start: int, stop: int, progress_path: str, deadline: float, skip: set[int]) -> None:
    import ruvector_core as rv

    from . import inputs
    from .probe import FINDINGS, probe

    runtime = rv.Runtime(backend=backend)
    inputs.seeds()
    with open(progress_path, "r+b") as handle, mmap.mmap(handle.fileno(), 8) as progress:
        counts: Counter[str] = Counter()
        for number in range(start, stop):
            struct.pack_into("<q", progress, 0, number)
            if number not in skip:
                try:
                    kind, data = inputs.make(seed, number)
                except Exception as exc:  # noqa: BLE001 - a bug of the fuzzer, reported as one
                    kind, data = inputs.KINDS[number % len(inputs.KINDS)], b""
                    outcome, detail = "fuzzer_error", f"{type(exc).__name__}: {exc}"
                else:
                    outcome, detail = probe(runtime, data, number)
                counts[outcome] += 1
                counts[f"kind:{kind}"] += 1
                if outcome in FINDINGS:
                    _emit({"finding": outcome, "number": number, "kind": kind, "detail": detail[:500]})
                elif outcome == "refused":
                    counts[f"refused:{detail}"] += 1
            if (number + 1 - start) % TALLY_EVERY == 0 or number + 1 == stop:
                _emit({"tally": dict(counts), "next": number + 1})
                counts.clear()
                if deadline and time.time() > deadline:
                    break


def _emit(record: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> None:
    backend, seed, start, stop, progress_path, memory, deadline = argv[:7]
    skip = {int(x) for x in argv[7].split(",") if x} if len(argv) > 7 else set()
    limit = int(memory)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    run(backend, int(seed), int(start), int(stop), progress_path, float(deadline), skip)


if __name__ == "__main__":
    main(sys.argv[1:])
