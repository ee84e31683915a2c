"""The ``ruvector`` command, run as a user runs it: a separate process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from core_support import PLUGIN_BACKENDS
from test_runtime import FAILING
from toys.failing import HINT

import ruvector_core as rv


def ruvector(*args: str, columns: int = 200) -> subprocess.CompletedProcess[str]:
    """The CLI with only the core's own backends enabled, so what serves what is known."""
    env = {**os.environ, "COLUMNS": str(columns), "RUVECTOR_DISABLE": ",".join(PLUGIN_BACKENDS)}
    return subprocess.run(
        [sys.executable, "-m", "ruvector_core.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_backends_json_lists_numpy_as_usable() -> None:
    result = ruvector("backends", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    numpy = rows["numpy"]
    assert numpy["usable"] is True and numpy["reason"] is None and numpy["priority"] == 0
    assert set(numpy["capabilities"]) == {"vector_ops", "hnsw", "learning"} and numpy["version"]
    assert set(numpy["serves"]) == {"vector_ops", "hnsw", "learning"}
    assert rows["onnx"]["usable"] is True and rows["onnx"]["serves"] == ["embeddings"]


def test_broken_plugins_show_with_their_reasons(install_toys) -> None:
    install_toys(FAILING)
    result = ruvector("backends", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert "cannot open shared object file" in rows["import_fails"]["reason"]
    assert rows["import_fails"]["usable"] is False and rows["import_fails"]["serves"] == []
    assert rows["not_usable"]["reason"] == HINT
    assert rows["numpy"]["serves"] == ["vector_ops", "hnsw", "learning"]
    table = ruvector("backends", columns=80)
    assert table.returncode == 0, table.stderr
    for expected in ("import_fails", "unusable", "vector_ops"):
        assert expected in table.stdout
    lines = table.stdout.splitlines()
    for name in ("import_fails", "not_usable", "spec_broken"):  # every reason whole, as --json has it
        assert f"  {name}: {rows[name]['reason']}" in lines, name


def test_conformance_command_prints_the_matrix() -> None:
    result = ruvector("conformance", "--backend", "numpy", "-q", "-k", "distances or delete_keeps")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ruvector conformance matrix" in result.stdout
    assert any(line.split()[:2] == ["distances", "pass"] for line in result.stdout.splitlines())


def test_version_names_the_core_and_every_installed_plugin(install_toys) -> None:
    install_toys(FAILING)  # a distribution declaring backends: a plugin like any other
    result = ruvector("--version")
    assert result.returncode == 0, result.stderr
    first, *plugins = result.stdout.splitlines()
    assert first == f"ruvector {rv.__version__} (ruvec)"
    assert "  ruvector-toys 0.0.1" in plugins and f"  ruvec-onnx {rv.__version__}" in plugins
    assert plugins == sorted(plugins)
