"""Runs fuzz workers over a range of inputs, restarting them past crashes and hangs.

A worker that dies (a signal, an abort, any exit but 0) crashed on the input its progress
file names; one whose progress stands still for ``hang_seconds`` hangs on it and is killed.
Either way that input is recorded and a new worker resumes from the worker's last tally,
skipping it, so every input is counted exactly once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .inputs import KINDS, make


@dataclass
class Report:
    """What a run found against one backend."""

    backend: str
    inputs: int = 0
    seconds: float = 0.0
    counts: Counter[str] = field(default_factory=Counter)
    findings: list[dict[str, object]] = field(default_factory=list)

    def bad(self) -> int:
        from .probe import FINDINGS

        return sum(self.counts[f] for f in FINDINGS)

    def as_dict(self) -> dict[str, object]:
        return {
            "backend": self.backend,
            "inputs": self.inputs,
            "seconds": round(self.seconds, 1),
            "counts": dict(sorted(self.counts.items())),
            "findings": self.findings[:50],
        }


def run(
    backend: str,
    seed: int,
    count: int,
    *,
    workers: int = 1,
    memory_bytes: int = 4 << 30,
    hang_seconds: float = 60.0,
    max_seconds: float = 0.0,
    out: Path | None = None,
) -> Report:
    """Fuzz ``count`` inputs against ``backend`` with ``workers`` processes in parallel,
    stopping early (at a tally) after ``max_seconds`` if that is not 0."""
    deadline = time.time() + max_seconds if max_seconds else 0.0
    report = Report(backend)
    started = time.monotonic()
    bounds = [count * w // workers for w in range(workers + 1)]
    lock = threading.Lock()
    errors: list[BaseException] = []

    def one_range(lo: int, hi: int) -> None:
        try:
            _range(backend, seed, lo, hi, memory_bytes, hang_seconds, deadline, out, report, lock)
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            errors.append(exc)

    threads = [
        threading.Thread(target=one_range, args=(lo, hi), daemon=True)
        for lo, hi in zip(bounds, bounds[1:], strict=False)
        if hi > lo
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    report.seconds = time.monotonic() - started
    report.inputs = sum(v for k, v in report.counts.items() if k.startswith("kind:"))
    return report


def _range(
    backend: str,
    seed: int,
    start: int,
    stop: int,
    memory_bytes: int,
    hang_seconds: float,
    deadline: float,
    out: Path | None,
    report: Report,
    lock: threading.Lock,
) -> None:
    skip: list[int] = []
    with tempfile.NamedTemporaryFile(prefix="ruvector-fuzz-", suffix=".progress") as progress:
        while start < stop:
            progress.seek(0)
            progress.write((-1).to_bytes(8, "little", signed=True))
            progress.flush()
            cmd = [
                sys.executable,
                "-m",
                "ruvector_conformance.fuzz.worker",
                backend,
                str(seed),
                str(start),
                str(stop),
                progress.name,
                str(memory_bytes),
                str(deadline),
                ",".join(map(str, skip)),
            ]
            # stderr to a file: a pipe nobody reads until the end would fill and stall the worker
            with tempfile.TemporaryFile("w+") as errors:
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors, text=True)
                lines: list[str] = []
                reader = threading.Thread(target=_read_lines, args=(proc, lines), daemon=True)
                reader.start()
                outcome = _watch(proc, progress.name, hang_seconds)
                reader.join()
                errors.seek(0)
                stderr = errors.read()[-2000:]
            resume = start
            with lock:
                for line in lines:
                    record = json.loads(line)
                    if "tally" in record:
                        report.counts.update(record["tally"])
                        resume = int(record["next"])
                    elif record not in report.findings:  # inputs probed again after a restart
                        report.findings.append(record)
                        _save(out, backend, seed, record)
            if outcome == "done" or (deadline and time.time() > deadline):
                return
            number = _read_progress(progress.name)
            if number < 0:
                raise RuntimeError(f"a fuzz worker for {backend} failed before its first input:\n{stderr}")
            finding = {"finding": outcome, "number": number, "kind": KINDS[number % len(KINDS)], "detail": stderr}
            with lock:
                report.counts[outcome] += 1
                report.counts[f"kind:{finding['kind']}"] += 1
                report.findings.append(finding)
                _save(out, backend, seed, finding)
            # resume from the last tally, skipping the input that crashed or hung (and those
            # before it that were probed but not yet tallied are probed again)
            skip.append(number)
            start = resume


#: How long a worker may take to start (imports, compiling kernels, the seeds) before its
#: first input.
STARTUP_SECONDS = 600.0


def _read_lines(proc: subprocess.Popen[str], lines: list[str]) -> None:
    if proc.stdout is not None:
        lines.extend(proc.stdout)


def _watch(proc: subprocess.Popen[str], progress: str, hang_seconds: float) -> str:
    """'done', 'crash' or 'hang' (then killed)."""
    last, since = -1, time.monotonic()
    while True:
        try:
            rc = proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            now = _read_progress(progress)
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since > (hang_seconds if now >= 0 else STARTUP_SECONDS):
                proc.kill()
                proc.wait()
                return "hang"
            continue
        return "done" if rc == 0 else "crash"


def _read_progress(path: str) -> int:
    with open(path, "rb") as handle:
        return int.from_bytes(handle.read(8), "little", signed=True)


def _save(out: Path | None, backend: str, seed: int, finding: dict[str, object]) -> None:
    """Keep the bytes of a finding's input (up to 100 per backend)."""
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    if len(list(out.glob(f"{backend}-*"))) >= 100:
        return
    number = int(str(finding["number"]))
    try:
        data = make(seed, number)[1]
    except Exception:  # noqa: BLE001 - a fuzzer_error finding: its input cannot be made
        return
    (out / f"{backend}-{seed}-{number}-{finding['finding']}.bin").write_bytes(data)
