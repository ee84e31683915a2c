"""The contract's numbers are written once per language: these checks read the Rust
kernels' definitions and fail when they differ from the Python ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ruvector_core import index_format, models

KERNELS = Path(__file__).resolve().parents[1] / "crates" / "ruvector-kernels" / "src"


def rust_constants(source: str) -> dict[str, int | float | bytes]:
    """``pub const NAME: TYPE = VALUE;`` items whose value is an integer, a float, a shift or
    a byte string."""
    found: dict[str, int | float | bytes] = {}
    for name, value in re.findall(r"^pub const (\w+): [^=]+= ([^;]+);", source, flags=re.MULTILINE):
        value = value.strip()
        if byte_string := re.fullmatch(r'b"(.*)"', value):
            found[name] = byte_string.group(1).replace("\\0", "\0").encode()
        elif shift := re.fullmatch(r"(\d+)(?:u64)? << (\d+)", value):
            found[name] = int(shift.group(1)) << int(shift.group(2))
        elif re.fullmatch(r"[\d_]+", value):
            found[name] = int(value.replace("_", ""))
        elif re.fullmatch(r"[\d_]+\.\d*|\d+(?:\.\d+)?e-?\d+", value):
            found[name] = float(value.replace("_", ""))
    return found


def rust_enum(source: str, name: str) -> dict[str, int]:
    body = re.search(rf"pub enum {name} \{{(.*?)\}}", source, flags=re.DOTALL)
    assert body, f"enum {name} not found"
    return {variant.lower(): int(code) for variant, code in re.findall(r"(\w+) = (\d+)", body.group(1))}


HNSW = rust_constants((KERNELS / "hnsw.rs").read_text())
FORMAT = rust_constants((KERNELS / "format.rs").read_text())


@pytest.mark.parametrize("name", ["MAX_DIMENSIONS", "MIN_M", "MAX_M", "MAX_EF", "SEED_LIMIT", "MAX_LEVEL"])
def test_config_bounds_agree(name: str) -> None:
    assert HNSW[name] == getattr(models, name)


def test_metric_codes_agree() -> None:
    assert rust_enum((KERNELS / "hnsw.rs").read_text(), "Metric") == models.METRIC_CODES


def test_index_format_constants_agree() -> None:
    assert FORMAT["MAGIC"] == index_format.MAGIC
    assert FORMAT["VERSION"] == index_format.VERSION
    assert FORMAT["HEADER_BYTES"] == index_format.HEADER.size
    assert FORMAT["CHECKSUM_BYTES"] == index_format.CHECKSUM_BYTES


def test_loader_bounds_agree() -> None:
    """What a load may allocate and which vectors it accepts: one rule in both loaders."""
    assert FORMAT["LOAD_EXPANSION"] == index_format.LOAD_EXPANSION
    assert FORMAT["LOAD_SLACK_BYTES"] == index_format.LOAD_SLACK_BYTES
    assert FORMAT["UNIT_TOLERANCE"] == index_format.UNIT_TOLERANCE
    assert FORMAT["MAX_COMPONENT"] == models.MAX_COMPONENT == 2.0**54


def test_hnsw_config_enforces_the_shared_bounds() -> None:
    """The pydantic fields are declared from the constants: their edges are the contract's."""
    schema = models.HnswConfig.model_json_schema()["properties"]
    assert schema["dimensions"]["maximum"] == models.MAX_DIMENSIONS
    assert (schema["m"]["minimum"], schema["m"]["maximum"]) == (models.MIN_M, models.MAX_M)
    assert schema["ef_search"]["maximum"] == schema["ef_construction"]["maximum"] == models.MAX_EF
    assert schema["seed"]["exclusiveMaximum"] == models.SEED_LIMIT
