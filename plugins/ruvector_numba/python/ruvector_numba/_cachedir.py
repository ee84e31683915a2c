"""Where numba keeps the machine code it compiles for this backend.

numba's default puts its cache in ``__pycache__`` beside the source, which is read-only in
many installs (system site-packages, containers, Nix). This module picks a writable
directory, ``<user cache dir of "ruvector">/numba`` from platformdirs, and exports it as
``NUMBA_CACHE_DIR`` before numba is imported, unless the user already chose one. It must
not import numba itself.

If no candidate is writable, caching is switched off (``enabled()`` is False) and the
kernels are compiled in memory at first use instead of failing to import.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Literal, TypedDict

ENV_VAR = "NUMBA_CACHE_DIR"
ENV_DISABLE = "RUVECTOR_NUMBA_NO_CACHE"  # set to 1 to compile in memory only

Source = Literal["environment", "platformdirs", "tempdir"]


class _State(TypedDict, total=False):
    """What ``configure`` chose, once it has run."""

    dir: Path | None
    source: Source


_lock = threading.Lock()
_state: _State = {}


def default_dir() -> Path:
    """``<user cache dir of ruvector>/numba``, e.g. ``~/.cache/ruvector/numba`` on Linux."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("ruvector", appauthor=False)) / "numba"


def _writable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".probe-", delete=True)
        probe.close()
        return True
    except OSError:
        return False


def configure() -> Path | None:
    """Choose the cache directory once per process; None when caching is off.

    Order: ``NUMBA_CACHE_DIR`` if the user set it (left untouched, even if numba will later
    fall back from it), else the platformdirs directory, else a per-user folder in the
    temporary directory. The chosen directory is exported as ``NUMBA_CACHE_DIR`` and, when
    numba was already imported by someone else, also written into ``numba.config``.
    """
    with _lock:
        if "dir" in _state:
            return _state["dir"]
        chosen: Path | None
        if os.environ.get(ENV_DISABLE, "").strip() not in ("", "0"):
            chosen = None
        elif os.environ.get(ENV_VAR):
            chosen = Path(os.environ[ENV_VAR])
            _state["source"] = "environment"
        else:
            chosen = None
            candidates = [default_dir()]
            uid = os.getuid() if hasattr(os, "getuid") else os.getpid()
            candidates.append(Path(tempfile.gettempdir()) / f"ruvector-numba-{uid}")
            for candidate in candidates:
                if _writable(candidate):
                    chosen = candidate
                    break
            if chosen is not None:
                os.environ[ENV_VAR] = str(chosen)
                _state["source"] = "platformdirs" if chosen == candidates[0] else "tempdir"
                numba_config = getattr(sys.modules.get("numba"), "config", None)
                if numba_config is not None and not getattr(numba_config, "CACHE_DIR", ""):
                    numba_config.CACHE_DIR = str(chosen)
        _state["dir"] = chosen
        return chosen


def enabled() -> bool:
    """Whether ``@njit(cache=...)`` should be on: a cache directory could be chosen."""
    return configure() is not None


def source() -> Source | None:
    """Where the directory came from: environment, platformdirs, tempdir (None: off)."""
    configure()
    return _state.get("source")
