"""Configurations reject bad values with a ValidationError that names the field."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest

import ruvector_core as rv


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("dimensions", 0),
        ("dimensions", -5),
        ("dimensions", 70_000),
        ("m", 1),
        ("ef_construction", 0),
        ("ef_search", 0),
        ("metric", "manhattan"),
        ("seed", -1),
        ("storage", "int4"),
        ("floats", "mapped"),
    ],
)
def test_hnsw_config_rejects(field: str, value: object) -> None:
    settings = {"dimensions": 8, field: value}
    with pytest.raises(pydantic.ValidationError) as caught:
        rv.HnswConfig(**settings)
    assert caught.value.errors()[0]["loc"] == (field,)


def test_storage_and_floats_combine_only_where_floats_are_optional() -> None:
    assert (rv.HnswConfig(dimensions=8).storage, rv.HnswConfig(dimensions=8).floats) == ("float32", "resident")
    for storage in ("int8", "binary"):
        for floats in ("resident", "none"):
            config = rv.HnswConfig(dimensions=8, storage=storage, floats=floats)
            assert config.quantized and (config.storage, config.floats) == (storage, floats)
    with pytest.raises(pydantic.ValidationError, match="float32 index is its floats"):
        rv.HnswConfig(dimensions=8, storage="float32", floats="none")


def test_configs_are_frozen_and_strict() -> None:
    config = rv.HnswConfig(dimensions=384)
    assert (config.m, config.max_links_layer0, config.metric) == (16, 32, "cosine")
    with pytest.raises(pydantic.ValidationError):
        config.m = 4  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError, match="extra"):
        rv.HnswConfig(dimensions=3, M=16)  # type: ignore[call-arg]
    with pytest.raises(pydantic.ValidationError, match="kind"):
        rv.QuantizationConfig(kind="int4")  # type: ignore[arg-type]


def test_backend_spec_names_are_identifiers() -> None:
    with pytest.raises(pydantic.ValidationError, match="name"):
        rv.BackendSpec(name="Bad Name", version="1", priority=1, capabilities=frozenset(), plugin="x")
    with pytest.raises(pydantic.ValidationError, match="capabilities"):
        rv.BackendSpec(name="ok", version="1", priority=1, capabilities=frozenset({"teleport"}), plugin="x")


def test_errors_are_one_hierarchy() -> None:
    for error in (
        rv.InvalidInputError,
        rv.DimensionMismatchError,
        rv.UnknownIdError,
        rv.CorruptIndexError,
        rv.BackendUnavailableError,
        rv.CapabilityUnavailableError,
        rv.ModelNotFoundError,
    ):
        assert issubclass(error, rv.RuvectorError)
    assert issubclass(rv.DimensionMismatchError, ValueError)
    assert str(rv.DimensionMismatchError(384, 3, "query")) == "query has dimension 3, expected 384"


def _quantized(kind: str = "int8", rows: int = 4, dims: int = 20) -> rv.QuantizedVectors:
    matrix = np.random.default_rng(0).standard_normal((rows, dims)).astype(np.float32)
    return rv.Runtime(backend="numpy").vector_ops.quantize(matrix, rv.QuantizationConfig(kind=kind))


@pytest.mark.parametrize(
    ("kind", "change", "message"),
    [
        ("int8", {"dimensions": 21}, "must be int8 of shape"),
        ("int8", {"codes": np.zeros((4, 20), dtype=np.uint8)}, "must be int8 of shape"),
        ("int8", {"codes": np.zeros(80, dtype=np.int8)}, "must be int8 of shape"),
        ("int8", {"offsets": np.zeros(3, dtype=np.float32)}, "one entry per row"),
        ("int8", {"scales": np.array([1.0, np.nan, 1.0, 1.0], dtype=np.float32)}, "NaN or infinity"),
        ("int8", {"scales": np.zeros((4, 1), dtype=np.float32)}, "one-dimensional float array"),
        ("int8", {"codes": [[1, 2]]}, "expected a numpy array"),
        ("binary", {"scales": np.ones(3, dtype=np.float32)}, "one entry per row"),
        ("binary", {"dimensions": 25}, "must be uint8 of shape \\(n, 4\\)"),
    ],
)
def test_quantized_vectors_validate_themselves(kind: str, change: dict[str, object], message: str) -> None:
    """Whoever builds one, an inconsistent QuantizedVectors never reaches a backend's dequantize."""
    good = _quantized(kind)
    fields = {**good.model_dump(), **change}
    with pytest.raises(pydantic.ValidationError, match=message):
        rv.QuantizedVectors(**fields)


def test_quantized_vectors_are_made_contiguous() -> None:
    good = _quantized("int8", rows=6)
    strided = rv.QuantizedVectors(
        kind="int8", dimensions=20, codes=good.codes[::2], scales=good.scales[::2], offsets=good.offsets[::2]
    )
    assert strided.codes.flags.c_contiguous and strided.scales.flags.c_contiguous
    restored = rv.Runtime(backend="numpy").vector_ops.dequantize(strided)
    assert np.array_equal(restored, rv.Runtime(backend="numpy").vector_ops.dequantize(good)[::2])
