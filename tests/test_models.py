"""Configurations reject bad values with a ValidationError that names the field."""

from __future__ import annotations

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
    ],
)
def test_hnsw_config_rejects(field: str, value: object) -> None:
    settings = {"dimensions": 8, field: value}
    with pytest.raises(pydantic.ValidationError) as caught:
        rv.HnswConfig(**settings)
    assert caught.value.errors()[0]["loc"] == (field,)


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
