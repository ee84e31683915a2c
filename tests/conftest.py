"""Fixtures that install toy backends the way a real distribution would: a dist-info
folder with an ``entry_points.txt`` on ``sys.path``, found by ``importlib.metadata``."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from core_support import write_site


@pytest.fixture
def install_toys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, str]], Path]:
    """Install toy backends for this test only (in-process and for subprocesses)."""

    def install(entry_points: dict[str, str]) -> Path:
        site = write_site(tmp_path / "site", entry_points)
        monkeypatch.syspath_prepend(str(site))
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
        for name in [m for m in sys.modules if m == "toys" or m.startswith("toys.")]:
            monkeypatch.delitem(sys.modules, name)
        return site

    return install
