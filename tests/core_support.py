"""Helpers shared by the core's tests (a plain module: plugin test folders have conftest
modules of their own, so nothing is imported from ``conftest``)."""

from __future__ import annotations

import shutil
from pathlib import Path

TOYS = Path(__file__).parent / "toys"
# the reference backend, and the default embeddings backend (native and wasm offer embeddings
# too, ranked after it)
EXPECTED_BACKENDS = {"numpy", "onnx"}


def _plugin_backends() -> list[str]:
    """Installed compute backends besides the reference (the bundled plugins): tests of the
    runtime's own rules disable them so their expectations do not depend on what else
    happens to be installed."""
    from importlib.metadata import entry_points

    return sorted({ep.name for ep in entry_points(group="ruvector.backends")} - EXPECTED_BACKENDS)


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
