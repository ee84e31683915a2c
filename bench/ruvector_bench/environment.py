"""What a run ran on: the machine, the load on it, and every relevant version."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any

from . import threadlimits
from .engines import package_version

DISTRIBUTIONS = (
    "ruvec",
    "numpy",
    "onnxruntime",
    "tokenizers",
    "hnswlib",
    "faiss-cpu",
    "usearch",
    "matplotlib",
    "numba",
)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError):
        pass
    return None


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def describe(backends: list[dict[str, Any]]) -> dict[str, Any]:
    """Machine and versions; ``backends`` are the runtime's ``info()`` entries as dicts."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "nproc": affinity,
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gib": memory_gib(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "versions": {name: package_version(name) for name in DISTRIBUTIONS},
        "backends": backends,
        "thread_env": {
            k: os.environ[k] for k in threadlimits.VARIABLES + threadlimits.BLAS_VARIABLES if k in os.environ
        },
    }
