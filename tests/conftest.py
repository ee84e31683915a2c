"""Fixtures that install toy backends the way a real distribution would: a dist-info
folder with an ``entry_points.txt`` on ``sys.path``, found by ``importlib.metadata``."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

TOYS = Path(__file__).parent / "toys"
CORE_BACKENDS = {"numpy", "onnx"}


def _plugin_backends() -> list[str]:
    """Installed backends from other distributions (the bundled plugins): tests of the
    runtime's own rules disable them so their expectations do not depend on what else
    happens to be installed."""
    from importlib.metadata import entry_points

    return sorted({ep.name for ep in entry_points(group="ruvector.backends")} - CORE_BACKENDS)


PLUGIN_BACKENDS = _plugin_backends()  # read before any test installs toy backends


def write_site(root: Path, entry_points: dict[str, str]) -> Path:
    """A site dir holding the toy modules and one distribution that declares ``entry_points``."""
    shutil.copytree(TOYS, root / "toys", ignore=shutil.ignore_patterns("__pycache__"))
    dist_info = root / "ruvector_toys-0.0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: ruvector-toys\nVersion: 0.0.1\n")
    lines = ["[ruvector.backends]", *(f"{name} = {value}" for name, value in entry_points.items())]
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return root


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
