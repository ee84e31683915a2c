"""The extension's boundary: its stub, its own errors and their mapping onto the core's."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import ruvector_core as rv
from ruvector_core.models import METRIC_CODES

native = pytest.importorskip("ruvector_native._native")
from ruvector_native._adapters import CORE_ERRORS, NativeHnsw  # noqa: E402 - needs the extension

CONFIG = rv.HnswConfig(dimensions=4, m=2, ef_construction=8, ef_search=8, metric="dot", seed=7)


def _plain(config: rv.HnswConfig) -> tuple[int, int, int, int, int, int]:
    """The extension's constructor arguments for ``config``."""
    c = config
    return (c.dimensions, c.m, c.ef_construction, c.ef_search, METRIC_CODES[c.metric], c.seed)


def test_stub_matches_the_extension() -> None:
    pytest.importorskip("mypy.stubtest")
    run = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "ruvector_native._native"], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_extension_error_has_a_core_error() -> None:
    raised = {v for v in vars(native).values() if isinstance(v, type) and issubclass(v, BaseException)}
    assert raised == set(CORE_ERRORS)
    for theirs, ours in CORE_ERRORS.items():
        assert not issubclass(theirs, rv.RuvectorError) and issubclass(ours, rv.RuvectorError)


def test_extension_raises_its_own_errors() -> None:
    with pytest.raises(native.InvalidInput, match="unknown metric code 3"):
        native.Hnsw(4, 2, 8, 8, 3, 0)
    with pytest.raises(native.InvalidInput, match="m must be 2..=256"):
        native.Hnsw(4, 1, 8, 8, 0, 0)
    with pytest.raises(native.CorruptIndex, match="bad magic"):
        native.Hnsw(*_plain(CONFIG), b"x" * 200)
    graph = native.Hnsw(*_plain(CONFIG))
    with pytest.raises(native.InvalidInput, match=r"expected 2 rows of 4 components, got \[1, 4\]"):
        graph.insert_batch(["a", "b"], np.ones((1, 4), dtype=np.float32))


def test_core_errors_replace_the_extensions_with_the_same_message() -> None:
    graph = NativeHnsw(CONFIG)
    with pytest.raises(rv.InvalidInputError, match=r"expected 2 rows of 4 components, got \[1, 4\]") as caught:
        graph.insert_batch(["a", "b"], np.ones((1, 4), dtype=np.float32))
    assert not isinstance(caught.value, native.InvalidInput)
    with pytest.raises(rv.CorruptIndexError, match="bad magic") as corrupt:
        NativeHnsw(CONFIG, b"x" * 200)
    assert not isinstance(corrupt.value, native.CorruptIndex)


def test_loaded_bytes_must_declare_the_given_config() -> None:
    graph = NativeHnsw(CONFIG)
    graph.insert_batch(["a", "b"], np.eye(2, 4, dtype=np.float32))
    blob = graph.serialize()
    assert NativeHnsw(CONFIG, blob).serialize() == blob
    with pytest.raises(rv.CorruptIndexError, match="other parameters"):
        NativeHnsw(CONFIG.model_copy(update={"seed": 8}), blob)


def test_python_side_supplies_config_stats_and_name() -> None:
    graph = NativeHnsw(CONFIG)
    graph.insert_batch(["a", "b", "c"], np.eye(3, 4, dtype=np.float32))
    graph.delete("b")
    assert graph.config is CONFIG
    stats = graph.stats()
    assert (stats.backend, stats.metric, stats.m, stats.count, stats.deleted) == ("native", "dot", 2, 2, 1)
    assert sum(stats.nodes_per_level[:1]) == 3 and stats.memory_bytes > 0
    assert repr(graph).startswith("NativeHnsw(dimensions=4, count=2")
