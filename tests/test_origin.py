"""PyPI's ``ruvector-core`` (another project's) installs the same import name as ours.

Each case lays out a site folder the way pip leaves one (package files and a dist-info
folder with METADATA and RECORD, which is what ``importlib.metadata`` reads) and imports
in a fresh interpreter with that folder first on the path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import ruvector_core
import ruvector_onnx

OURS = Path(ruvector_core.__file__).parent
ONNX_PLUGIN = Path(ruvector_onnx.__file__).parent.parent
THEIR_INIT = '"""Another project\'s ruvector_core: native vector search."""\n\n\nclass VectorDB:\n    pass\n'


def their_distribution(site: Path) -> None:
    """The other project's dist-info, claiming files of ``ruvector_core`` in ``site``."""
    info = site / "ruvector_core-0.2.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ruvector-core\nVersion: 0.2.0\n")
    (info / "INSTALLER").write_text("pip\n")
    record = ["ruvector_core/__init__.py,,", "ruvector_core/_native.abi3.so,,", f"{info.name}/METADATA,,"]
    (info / "RECORD").write_text("\n".join(record) + "\n")


def our_files(site: Path, *, init: bool = True) -> None:
    shutil.copytree(OURS, site / "ruvector_core", ignore=shutil.ignore_patterns("__pycache__"))
    if not init:
        (site / "ruvector_core" / "__init__.py").unlink()


def run(site: Path, code: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter, ``site`` first on its path (and its working folder,
    which ``-c`` puts before it: the checkout's own ruvector_core must not be found first)."""
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, cwd=site)


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout
    return result.stderr.strip().splitlines()[-1]


def test_both_installed_into_one_folder_fails_on_import_with_the_fix(tmp_path: Path) -> None:
    """``pip install ruvec`` then ``pip install ruvector-core`` over it, ours imported."""
    our_files(tmp_path)
    their_distribution(tmp_path)
    core = last_line(run(tmp_path, "import ruvector_core"))
    assert core.startswith("ruvector_core.errors.ConflictingInstallError: ruvector_core is also installed by ")
    assert "ruvector-core 0.2.0" in core and "the same import name" in core
    assert "fix: pip uninstall -y ruvector-core ruvec && pip install 'ruvec'" in core
    plugin = last_line(run(tmp_path, "import ruvector_onnx"))
    assert plugin.startswith("ImportError: ruvec-onnx cannot use the installed ruvector_core")
    assert "ruvector-core 0.2.0" in plugin and plugin.endswith("pip install 'ruvec[embeddings]'")


def test_a_plugin_under_their_package_init_names_the_conflict(tmp_path: Path) -> None:
    """Their files over ours: their ``__init__.py`` runs, our other modules are still there."""
    our_files(tmp_path)
    (tmp_path / "ruvector_core" / "__init__.py").write_text(THEIR_INIT)
    their_distribution(tmp_path)
    line = last_line(run(tmp_path, "import ruvector_onnx"))
    assert line.startswith("ruvector_core.errors.ConflictingInstallError: ruvector_core is also installed by")
    assert line.endswith("fix: pip uninstall -y ruvector-core ruvec && pip install 'ruvec[embeddings]'")


def test_a_plugin_finding_only_their_package_says_so(tmp_path: Path) -> None:
    (tmp_path / "ruvector_core").mkdir()
    (tmp_path / "ruvector_core" / "__init__.py").write_text(THEIR_INIT)
    their_distribution(tmp_path)
    plugins = (
        ("ruvector_onnx", "embeddings"),
        ("ruvector_numba", "numba"),
        ("ruvector_wasm", "wasm"),
        ("ruvector_ray", "ray"),
    )
    for plugin, extra in plugins:
        line = last_line(run(tmp_path, f"import {plugin}"))
        assert line.startswith(f"ImportError: ruvec-{plugin.split('_')[1]} cannot use the installed ruvector_core")
        assert "No module named 'ruvector_core.origin'" in line
        assert line.endswith(f"fix: pip uninstall -y ruvector-core ruvec && pip install 'ruvec[{extra}]'")


def test_their_distribution_elsewhere_on_the_path_is_not_a_conflict(tmp_path: Path) -> None:
    """Installed in another folder, theirs does not touch the ruvector_core imported here."""
    their_distribution(tmp_path)
    result = run(tmp_path, "import ruvector_core, ruvector_onnx; print(ruvector_core.Runtime.__name__)")
    assert result.returncode == 0 and result.stdout.strip() == "Runtime", result.stderr


def test_our_files_without_their_init_are_reported_as_incomplete(tmp_path: Path) -> None:
    """Uninstalling theirs after ours removes the files both listed, ``__init__.py`` among
    them: what is left imports as a namespace package. Without site processing, so that
    only this folder (and the dependencies) can provide ``ruvector_core``."""
    our_files(tmp_path, init=False)
    paths = [str(tmp_path), str(ONNX_PLUGIN), sysconfig.get_paths()["purelib"]]
    code = f"import sys; sys.path[:0] = {paths!r}; import ruvector_onnx"
    result = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    line = last_line(result)
    assert "ruvector_core in " in line and "has no __init__.py: its files are incomplete" in line
    assert line.endswith("pip install --force-reinstall 'ruvec[embeddings]'")
