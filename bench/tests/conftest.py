"""The ``ruvector bench`` command, run as a user runs it, for the end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

Bench = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def bench(tmp_path: Path) -> Bench:
    """``bench(*arguments)`` runs ``ruvector bench`` in ``tmp_path`` with a cache of its own."""

    def run(*arguments: str, columns: int = 250) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "COLUMNS": str(columns), "RUVECTOR_CACHE_DIR": str(tmp_path / "cache")}
        command = [sys.executable, "-m", "ruvector_core.cli", "bench", *arguments]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)

    return run
