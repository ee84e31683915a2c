"""RuVector's ``RabitqIndex`` as a peer of the quantized section, from its own environment.

PyPI's ``ruvector`` is another project's: it installs a ``ruvector`` command (ours is the
CLI running this benchmark), so it cannot share our environment. The first run creates a
virtual environment for it under the benchmark cache (``$RUVECTOR_CACHE_DIR/bench`` or the
platform's user cache), installs the pinned version and the numpy we run with, and marks it
complete; later runs reuse it. ``rabitq_probe.py`` then runs there in a fresh process.
"""

from __future__ import annotations

import json
import os
import subprocess
import venv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import platformdirs

from .fresh import ProbeError
from .index import CurvePoint
from .recall import recall_at_k
from .timing import Stat

REQUIREMENT = "ruvector==0.1.4"
ENGINE = "ruvector-pypi-rabitq"
FACTORS = (1, 2, 5, 10, 20)  # the rerank factors swept (the index's default is 20)
HEADLINE_FACTOR = 5  # the factor reported beside the other engines at the headline ef
COMPLETE = "installed"  # written into the environment once the install succeeded


@dataclass(frozen=True)
class RabitqRun:
    version: str
    build: float  # seconds, one thread
    resident_bytes: int  # kept by the built index, measured
    points: list[tuple[int, CurvePoint]]  # (rerank factor, its point on the curve)


def environment() -> Path:
    """The environment's Python, created and installed on first use (a ``ProbeError`` says why not)."""
    root = os.environ.get("RUVECTOR_CACHE_DIR") or platformdirs.user_cache_dir("ruvector")
    folder = Path(root) / "bench" / "peer-envs" / REQUIREMENT.replace("==", "-")
    python = folder / "bin" / "python"
    if (folder / COMPLETE).exists():
        return python
    try:
        venv.EnvBuilder(clear=True, with_pip=True).create(folder)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ProbeError(f"cannot create the environment for {REQUIREMENT}: {exc}") from exc
    install = [str(python), "-m", "pip", "install", "--quiet", REQUIREMENT, f"numpy=={np.__version__}"]
    done = subprocess.run(install, capture_output=True, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"pip exited with status {done.returncode}"]
        raise ProbeError(f"cannot install {REQUIREMENT}: {lines[-1]}")
    (folder / COMPLETE).write_text(REQUIREMENT + "\n", "utf-8")
    return python


def run(base: Path, queries: Path, truth: np.ndarray, k: int, passes: int, env: dict[str, str]) -> RabitqRun:
    """Build and sweep ``RabitqIndex`` over the saved unit base in its environment."""
    request = {"base": str(base), "queries": str(queries), "k": k, "factors": list(FACTORS), "passes": passes}
    script = Path(__file__).with_name("rabitq_probe.py")
    done = subprocess.run(
        [str(environment()), str(script), json.dumps(request)], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise ProbeError(lines[-1])
    result = json.loads(done.stdout.strip().splitlines()[-1])
    points = []
    for point in result["points"]:
        seconds = [np.asarray(one) for one in point["seconds"]]
        pooled = np.concatenate(seconds)
        curve_point = CurvePoint(
            ef=None,
            recall=recall_at_k(point["rows"], truth),
            latency=Stat.of(pooled),
            p99=float(np.percentile(pooled, 99)),
            pass_means=[float(s.mean()) for s in seconds],
        )
        points.append((int(point["factor"]), curve_point))
    return RabitqRun(result["version"], float(result["build"]), int(result["resident_bytes"]), points)
