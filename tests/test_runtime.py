"""Discovery, ranking, overrides and failure isolation, with real entry points."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from core_support import PLUGIN_BACKENDS

import ruvector_core as rv
from ruvector_core.runtime import _parse_backend_env

OTHERS = PLUGIN_BACKENDS

FAILING = {
    "import_fails": "toys.failing:IMPORT_FAILS",
    "not_usable": "toys.failing:NOT_USABLE",
    "spec_broken": "toys.failing:declare_broken",
    "spec_missing": "toys.no_such_module:SPEC",
}


def test_numpy_is_discovered_through_its_entry_point() -> None:
    rt = rv.Runtime(disable=OTHERS)
    info = {i.name: i for i in rt.info()}
    assert info["numpy"].usable and info["numpy"].entry_point == "numpy = ruvector_core.backends.numpy_backend:SPEC"
    assert rt.backend == "numpy"
    assert rt.backends == {"vector_ops": "numpy", "hnsw": "numpy", "embeddings": "onnx", "learning": "numpy"}


def test_discovery_is_lazy(install_toys) -> None:
    """A backend's hook module is imported when it is first needed, not at discovery."""
    install_toys({"fallback_only": "toys.lazy_spec:SPEC"})
    rt = rv.Runtime(disable=OTHERS)
    assert "toys.lazy_spec" in sys.modules and "toys.declining" not in sys.modules
    assert rt.hnsw(rv.HnswConfig(dimensions=4)).backend == "numpy"
    assert "toys.declining" not in sys.modules, "a lower-ranked backend was loaded needlessly"
    loaded = {i.name: i.loaded for i in rt.info()}
    assert loaded == {"numpy": True, "onnx": True, "fallback_only": True, **{name: False for name in OTHERS}}
    assert "toys.declining" in sys.modules


def test_failing_plugins_are_recorded_and_skipped(install_toys) -> None:
    install_toys(FAILING)
    rt = rv.Runtime(disable=OTHERS)
    info = {i.name: i for i in rt.info()}
    assert set(info) == {"numpy", "onnx", *FAILING, *OTHERS}
    assert not info["import_fails"].usable
    assert "cannot open shared object file" in info["import_fails"].reason
    assert info["not_usable"].reason.startswith("needs AVX-512, this CPU has none")
    assert "the spec module itself is broken" in info["spec_broken"].reason
    assert "ModuleNotFoundError" in info["spec_missing"].reason
    assert rt.backend == "numpy", "the runtime serves from the backends that work"
    assert rt.backends["hnsw"] == "numpy"
    index = rt.hnsw(rv.HnswConfig(dimensions=3))
    index.insert("a", [1.0, 0.0, 0.0])
    assert index.backend == "numpy" and index.search([1.0, 0.0, 0.0], k=1)[0].id == "a"


def test_asking_for_an_unusable_backend_says_why(install_toys) -> None:
    install_toys(FAILING)
    with pytest.raises(rv.BackendUnavailableError, match="cannot open shared object file"):
        rv.Runtime(backend="import_fails")
    with pytest.raises(rv.BackendUnavailableError, match="AVX-512"):
        rv.Runtime(backends={"vector_ops": "not_usable"})
    with pytest.raises(rv.BackendUnavailableError, match="not installed"):
        rv.Runtime(backend="quantum")
    with pytest.raises(rv.BackendUnavailableError, match="disabled"):
        rv.Runtime(backend="numpy", disable=["numpy"])


def test_priority_fall_through_and_declining(install_toys, caplog) -> None:
    install_toys({"declining": "toys.declining:SPEC"})
    rt = rv.Runtime(disable=OTHERS)
    assert rt.candidates("hnsw") == ["declining", "numpy"]
    euclid = rt.hnsw(rv.HnswConfig(dimensions=4, metric="euclidean"))
    cosine = rt.hnsw(rv.HnswConfig(dimensions=4, metric="cosine"))
    assert (euclid.backend, cosine.backend) == ("declining", "numpy")
    assert rt.vector_ops.backend == "numpy"  # declining's factory raised; it was isolated
    assert "device lost" in caplog.text


def test_pins_and_disable(install_toys) -> None:
    install_toys({"declining": "toys.declining:SPEC"})
    assert rv.Runtime(disable=["declining", *OTHERS]).candidates("hnsw") == ["numpy"]
    only = rv.Runtime(backend="declining")
    assert only.candidates("vector_ops") == ["declining"]
    with pytest.raises(rv.CapabilityUnavailableError, match="declining: declined"):
        only.hnsw(rv.HnswConfig(dimensions=4, metric="cosine"))
    failure = r"backend declining failed while serving vector_ops \(pinned to 'declining' by backend='declining'.*lost"
    with pytest.raises(rv.BackendFailedError, match=failure):
        _ = only.vector_ops
    pinned = rv.Runtime(backends={"hnsw": "numpy"}, disable=OTHERS)
    assert pinned.hnsw(rv.HnswConfig(dimensions=4, metric="euclidean")).backend == "numpy"
    with pytest.raises(ValueError, match="unknown capability"):
        rv.Runtime(backends={"teleport": "numpy"})  # type: ignore[dict-item]


def test_a_pinned_backend_leaves_what_it_does_not_offer_to_the_ranking() -> None:
    """``backend=`` pins the capabilities that backend offers; the rest are served as usual."""
    rt = rv.Runtime(backend="numpy", disable=OTHERS)
    assert rt.candidates("hnsw") == ["numpy"] and rt.candidates("learning") == ["numpy"]
    assert rt.candidates("embeddings") == ["onnx"]
    with rt.embedder() as embedder:
        assert embedder.backend == "onnx" and embedder.embed("tea").shape == (384,)
    assert rt.backends == {"vector_ops": "numpy", "hnsw": "numpy", "embeddings": "onnx", "learning": "numpy"}
    with pytest.raises(rv.BackendUnavailableError) as asked:
        rv.Runtime(backends={"embeddings": "numpy"})  # pinning a capability explicitly still must fit
    assert str(asked.value) == (
        "backend 'numpy' does not offer embeddings (it offers hnsw, learning, vector_ops); "
        "pinned by backends={'embeddings': 'numpy'}"
    )


def test_pluggy_blocking_is_honoured(install_toys) -> None:
    install_toys({"declining": "toys.declining:SPEC"})
    rt = rv.Runtime(disable=OTHERS)
    rt.plugin_manager.set_blocked("declining")
    assert rt.hnsw(rv.HnswConfig(dimensions=4, metric="euclidean")).backend == "numpy"
    assert {i.name: i.reason for i in rt.info()}["declining"] == "blocked in the plugin manager"


def test_capability_nobody_offers() -> None:
    with pytest.raises(rv.CapabilityUnavailableError, match="no installed backend offers it"):
        rv.Runtime(disable=["onnx", *OTHERS]).embedder()


def test_a_backend_may_rank_itself_differently_for_one_capability() -> None:
    """native and wasm rank above onnx for indexes but declare themselves after it for
    embeddings (``BackendSpec.capability_priority``): onnx stays the default embedder."""
    rt = rv.Runtime()
    ranked = rt.candidates("embeddings")
    assert ranked[0] == "onnx" and {"native", "wasm"} <= set(ranked)
    assert rt.candidates("hnsw").index("native") < rt.candidates("hnsw").index("numpy")
    spec = rt.spec("native")
    assert spec.priority_for("embeddings") < rt.spec("onnx").priority < spec.priority == spec.priority_for("hnsw")
    with rv.Runtime(disable=["onnx"]).embedder(rv.EmbedderConfig(progress=False)) as embedder:
        assert embedder.backend == ranked[1]


def test_environment_configures_the_default_runtime(monkeypatch, install_toys) -> None:
    install_toys({"declining": "toys.declining:SPEC"})
    monkeypatch.setattr(rv.Runtime, "_default", None)
    monkeypatch.setenv("RUVECTOR_DISABLE", ",".join(["declining", " other", *OTHERS]))
    rt = rv.Runtime.initialize()
    assert rt is rv.Runtime.initialize()
    assert rt.candidates("hnsw") == ["numpy"]
    monkeypatch.setattr(rv.Runtime, "_default", None)
    monkeypatch.setenv("RUVECTOR_DISABLE", ",".join(OTHERS))
    monkeypatch.setenv("RUVECTOR_BACKEND", "hnsw=numpy")
    rt = rv.Runtime.initialize()
    assert rt.candidates("hnsw") == ["numpy"] and rt.candidates("vector_ops") == ["declining", "numpy"]


def test_a_bad_environment_pin_names_the_variable(monkeypatch) -> None:
    monkeypatch.setattr(rv.Runtime, "_default", None)
    monkeypatch.setenv("RUVECTOR_BACKEND", "embeddings=numpy")
    with pytest.raises(
        rv.BackendUnavailableError, match=r"does not offer embeddings.*RUVECTOR_BACKEND='embeddings=numpy'"
    ):
        rv.Runtime.initialize()


def test_backend_env_parsing() -> None:
    assert _parse_backend_env("") == (None, {})
    assert _parse_backend_env(" wasm ") == ("wasm", {})
    assert _parse_backend_env("hnsw=native, vector_ops=numba") == (None, {"hnsw": "native", "vector_ops": "numba"})


def test_explicit_plugins_without_installing() -> None:
    from toys.broken_distance import SPEC

    rt = rv.Runtime(plugins=[SPEC], disable=OTHERS)
    assert rt.vector_ops.backend == "broken_distance"
    a, b = np.zeros(2, dtype=np.float32), np.array([3.0, 4.0], dtype=np.float32)
    assert rt.vector_ops.distance(a, b, "euclidean") == pytest.approx(25.0)  # the toy's bug
    assert rv.Runtime(backend="numpy").vector_ops.distance(a, b, "euclidean") == pytest.approx(5.0)
