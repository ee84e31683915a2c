"""Running a measurement in a new interpreter: for what only a clean process shows (resident
memory, start-up time), or what a process fixes once (its thread pools)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping


class ProbeError(RuntimeError):
    """The new process failed; the message is its last line of error output."""


def run(arguments: list[str], env: Mapping[str, str]) -> tuple[str, float]:
    """(the last line the process printed, seconds from its start to its exit) for
    ``python ARGUMENTS`` with the environment ``env``."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *arguments], env=dict(env), capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise ProbeError(lines[-1])
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise ProbeError("printed nothing")
    return lines[-1], wall
