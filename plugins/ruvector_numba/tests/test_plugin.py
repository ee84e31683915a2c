"""Packaging, discovery, fallback and the on-disk compile cache: each in a fresh process,
since numba reads its cache settings once per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "python" / "ruvector_numba"

# Compiles one tiny kernel (K.distance) and reports where numba cached it.
CACHE_PROBE = textwrap.dedent(
    """
    import json, os, numpy as np
    import ruvector_core as rv
    rt = rv.Runtime(backend="numba")
    d = rt.vector_ops.distance(np.ones(4, np.float32), np.arange(4, dtype=np.float32), "dot")
    from ruvector_numba import _cachedir, _vector_kernels as K
    stats = K.distance.stats
    print(json.dumps({
        "distance": d,
        "env": os.environ.get("NUMBA_CACHE_DIR"),
        "dir": None if _cachedir.configure() is None else str(_cachedir.configure()),
        "source": _cachedir.source(),
        "hits": sum(stats.cache_hits.values()),
        "misses": sum(stats.cache_misses.values()),
    }))
    """
)


def _run(code: str, **env_changes: str | None) -> str:
    env = dict(os.environ)
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def _probe(**env_changes: str | None) -> dict:
    return json.loads(_run(CACHE_PROBE, **env_changes))


def _cache_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.nbi")) + sorted(root.rglob("*.nbc"))


def test_spec_module_does_not_import_numba() -> None:
    out = _run("import sys, ruvector_numba as p; print(p.SPEC.name, p.SPEC.priority, 'numba' in sys.modules)")
    assert out == "numba 50 False"


def test_entry_point_declares_the_spec() -> None:
    import ruvector_numba

    (ep,) = [e for e in entry_points(group="ruvector.backends") if e.name == "numba"]
    assert ep.value == "ruvector_numba:SPEC" and ep.load() is ruvector_numba.SPEC
    assert ruvector_numba.SPEC.capabilities == {"vector_ops", "hnsw"}
    assert ruvector_numba.SPEC.plugin == "ruvector_numba.plugin"


def test_runtime_ranks_numba_above_numpy() -> None:
    import ruvector_core as rv

    rt = rv.Runtime(disable=["native", "wasm"])
    assert rt.backends["hnsw"] == "numba" and rt.backends["vector_ops"] == "numba"
    info = {i.name: i for i in rt.info()}["numba"]
    assert info.usable and info.reason is None


def test_default_cache_dir_is_the_user_cache_dir(tmp_path: Path) -> None:
    """Without NUMBA_CACHE_DIR the machine code lands in <user cache>/ruvector/numba, never
    beside the (possibly read-only) package, and a second process loads it from there."""
    xdg = tmp_path / "xdg"
    first = _probe(NUMBA_CACHE_DIR=None, XDG_CACHE_HOME=str(xdg))
    expected = xdg / "ruvector" / "numba"
    assert first["distance"] == pytest.approx(-6.0)
    assert first["env"] == first["dir"] == str(expected) and first["source"] == "platformdirs"
    assert first["misses"] >= 1 and _cache_files(expected)
    assert not [p for p in PACKAGE_DIR.rglob("*.nbi")], "numba wrote its cache into the package"
    second = _probe(NUMBA_CACHE_DIR=None, XDG_CACHE_HOME=str(xdg))
    assert second["hits"] >= 1 and second["misses"] == 0, second


def test_user_numba_cache_dir_is_respected(tmp_path: Path) -> None:
    chosen = tmp_path / "mine"
    out = _probe(NUMBA_CACHE_DIR=str(chosen), XDG_CACHE_HOME=str(tmp_path / "xdg"))
    assert out["env"] == out["dir"] == str(chosen) and out["source"] == "environment"
    assert _cache_files(chosen) and not (tmp_path / "xdg").exists()


def test_unwritable_user_cache_falls_back_to_tempdir(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory would go")
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    out = _probe(NUMBA_CACHE_DIR=None, XDG_CACHE_HOME=str(blocker / "cache"), TMPDIR=str(tmpdir))
    assert out["source"] == "tempdir" and Path(out["dir"]).parent == tmpdir
    assert _cache_files(Path(out["dir"]))


def test_cache_can_be_switched_off(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    out = _probe(NUMBA_CACHE_DIR=None, XDG_CACHE_HOME=str(xdg), RUVECTOR_NUMBA_NO_CACHE="1")
    assert out["distance"] == pytest.approx(-6.0)
    assert out["dir"] is None and out["env"] is None and not xdg.exists()


def test_unusable_without_numba_and_the_runtime_falls_back(tmp_path: Path) -> None:
    """A numba that cannot be imported makes the backend report itself unusable, with the
    reason, and every capability falls through to the next backend."""
    fake = tmp_path / "fake"
    (fake / "numba").mkdir(parents=True)
    (fake / "numba" / "__init__.py").write_text("raise ImportError('numba needs a newer NumPy (simulated)')\n")
    code = textwrap.dedent(
        """
        import json, numpy as np, ruvector_core as rv
        rt = rv.Runtime(disable=["native", "wasm"])
        info = {i.name: i for i in rt.info()}["numba"]
        try:
            rv.Runtime(backend="numba")
            pinned = "accepted"
        except rv.BackendUnavailableError as exc:
            pinned = str(exc)
        ix = rt.hnsw(rv.HnswConfig(dimensions=4))
        ix.insert("a", np.ones(4, np.float32))
        print(json.dumps({"usable": info.usable, "reason": info.reason, "hnsw": rt.backends["hnsw"],
                          "served_by": ix.backend, "pinned": pinned}))
        """
    )
    out = json.loads(_run(code, PYTHONPATH=str(fake)))
    assert out["usable"] is False and "simulated" in out["reason"]
    assert out["hnsw"] == "numpy" and out["served_by"] == "numpy"
    assert "not usable" in out["pinned"] and "simulated" in out["pinned"]
