"""Host and module agree on the ABI: ``abi.py`` against the compiled module's exports and
their wasm types, against the constants and signatures in ``rust/src/lib.rs``, and, for the
numbers that come from ``ruvector-kernels`` (metric codes, NONE), against what the module does."""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import wasmtime

import ruvector_core as rv
from ruvector_core.models import MAX_LEVEL, METRIC_CODES
from ruvector_wasm import abi
from ruvector_wasm._host import Instance, check_module, signatures
from ruvector_wasm.errors import WasmMemoryError

LIB_RS = Path(__file__).resolve().parents[1] / "rust" / "src" / "lib.rs"
#: every source file of the module: lib.rs and the modules it declares
MODULE_SOURCES = sorted(LIB_RS.parent.glob("*.rs"))
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.LShift: operator.lshift}


def _module() -> wasmtime.Module:
    wasm = resources.files("ruvector_wasm").joinpath("ruvector.wasm").read_bytes()
    return wasmtime.Module(wasmtime.Engine(), wasm)


def _evaluate(expr: str, env: dict[str, int]) -> int:
    """A Rust constant expression of integers, names, ``+ - <<`` and ``as`` casts."""

    def value(node: ast.expr) -> int:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name):
            return env[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -value(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](value(node.left), value(node.right))
        raise ValueError(f"cannot evaluate {ast.unparse(node)!r} in {expr!r}")

    return value(ast.parse(re.sub(r"\s+as\s+\w+", "", expr), mode="eval").body)


def _rust_constants() -> dict[str, int]:
    """Every ``pub const`` of lib.rs, evaluated. ``MAX_LEVEL`` is ruvector-kernels'; the
    repository's contract test holds it equal to the core's."""
    env = {"MAX_LEVEL": MAX_LEVEL}
    found = {}
    for name, expr in re.findall(r"^pub const (\w+): \w+ = (.+);$", LIB_RS.read_text(encoding="utf-8"), re.M):
        found[name] = env[name] = _evaluate(expr, env)
    return found


def _rust_exports() -> dict[str, list[str]]:
    """Every ``extern "C" fn rv_*`` of the module's sources: its parameter names in order."""
    text = "\n".join(path.read_text(encoding="utf-8") for path in MODULE_SOURCES)
    return {
        name: [p.split(":")[0].strip() for p in params.split(",") if p.strip()]
        for name, params in re.findall(r'extern "C" fn (rv_\w+)\(([^)]*)\)', text)
    }


def test_module_exports_match_the_description() -> None:
    module = _module()
    want = {e.name: ([p.type for p in e.params], [e.result] if e.result else []) for e in abi.EXPORTS}
    got = {
        export.name: ([str(t) for t in export.type.params], [str(t) for t in export.type.results])
        for export in module.exports
        if isinstance(export.type, wasmtime.FuncType)
    }
    assert got == want
    memories = [e.name for e in module.exports if isinstance(e.type, wasmtime.MemoryType)]
    assert memories == [abi.MEMORY]
    assert signatures(module) == {name: (tuple(p), tuple(r)) for name, (p, r) in want.items()}
    check_module(module)


def test_check_module_refuses_a_module_of_another_abi() -> None:
    wat = '(module (func (export "rv_alloc") (param i64) (result i32) i32.const 0))'
    other = wasmtime.Module(wasmtime.Engine(), wat)
    with pytest.raises(rv.RuvectorError, match="rv_alloc"):
        check_module(other)


def test_rust_signatures_match_the_description() -> None:
    assert _rust_exports() == {e.name: [p.name for p in e.params] for e in abi.EXPORTS}


def test_rust_constants_match_the_description() -> None:
    rust = _rust_constants()
    codes = {name.removeprefix("ERR_"): value for name, value in rust.items() if name.startswith("ERR_")}
    assert codes == {code.name: code.value for code in abi.ErrorCode}
    plain = {name: value for name, value in rust.items() if not name.startswith("ERR_")}
    assert plain == {name: getattr(abi, name) for name in plain}
    assert set(plain) == {"OK", "FAILED", "NULL", "GREW", "STATS_HEAD_WORDS", "STATS_WORDS"}
    assert abi.STATS_WORDS == 70  # six head words and 64 levels: the buffer rv_stats fills


def test_every_error_code_maps_to_an_error() -> None:
    assert set(abi.ERRORS) == set(abi.ErrorCode) - {abi.ErrorCode.NONE}
    assert all(issubclass(error, rv.RuvectorError) for error in abi.ERRORS.values())


@pytest.fixture()
def inst() -> Iterator[Instance]:
    instance = Instance()
    with instance.lock:
        yield instance


def _put(inst: Instance, data: np.ndarray) -> int:
    ptr = inst.alloc(data.nbytes)
    inst.write(ptr, data)
    return ptr


def test_metric_codes_are_the_cores_and_the_modules(inst: Instance) -> None:
    assert abi.METRIC_CODES is METRIC_CODES
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 16)).astype(np.float32)
    reference = {
        "cosine": 1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b)),
        "euclidean": np.linalg.norm(a - b),
        "dot": -(a @ b),
    }
    pa, pb = _put(inst, a), _put(inst, b)
    for metric, code in abi.METRIC_CODES.items():
        assert inst.call(abi.DISTANCE, pa, pb, 16, code) == pytest.approx(reference[metric], rel=1e-5)
        h = inst.call(abi.INDEX_NEW, 16, 8, 20, 20, code, 1, 0, 1)
        len_ptr = inst.alloc(4)
        ptr = inst.call(abi.SERIALIZE, h, len_ptr)
        assert inst.u8[ptr + 10] == code, "the index format's metric byte"
    unknown = max(abi.METRIC_CODES.values()) + 1
    assert np.isnan(inst.call(abi.DISTANCE, pa, pb, 16, unknown))
    assert inst.call(abi.ERROR_CODE) == abi.ErrorCode.INVALID_INPUT
    with pytest.raises(rv.InvalidInputError, match="metric"):
        inst.call(abi.INDEX_NEW, 16, 8, 20, 20, unknown, 1, 0, 1)


def test_failures_raise_the_error_of_their_code(inst: Instance) -> None:
    with pytest.raises(rv.InvalidInputError, match="no index with handle 7"):
        inst.call(abi.LEN, 7)
    assert inst.call(abi.ERROR_CODE) == abi.ErrorCode.INVALID_INPUT
    garbage = _put(inst, np.arange(100, dtype=np.uint8))
    with pytest.raises(rv.CorruptIndexError):
        inst.call(abi.LOAD, garbage, 100)
    assert inst.call(abi.ERROR_CODE) == abi.ErrorCode.CORRUPT_INDEX
    with pytest.raises(WasmMemoryError):
        inst.call(abi.ALLOC, 2**32 - 2**16)
    assert inst.call(abi.ERROR_CODE) == abi.ErrorCode.OUT_OF_MEMORY
    assert inst.call(abi.DELETE, 7, garbage, 3) == abi.FAILED  # not a failure of its own


def test_statuses_and_none(inst: Instance) -> None:
    h = inst.call(abi.INDEX_NEW, 4, 8, 20, 20, 0, 1, 0, 1)
    assert h != abi.NULL
    ids, offs = _put(inst, np.frombuffer(b"a", np.uint8)), _put(inst, np.array([0, 1], np.uint32))
    assert inst.call(abi.INSERT, h, ids, 1, offs, 1, _put(inst, np.ones(4, np.float32))) == abi.OK
    assert inst.call(abi.HEADROOM, 1024) == abi.OK
    query, nodes, scores = _put(inst, np.ones(4, np.float32)), inst.alloc(8), inst.alloc(8)
    assert inst.call(abi.SEARCH_BATCH, h, query, 1, 2, 10, nodes, scores) & ~abi.GREW == abi.OK
    assert inst.u32[nodes // 4 : nodes // 4 + 2].tolist() == [0, abi.NONE]
    assert inst.f32[scores // 4 + 1] == -np.inf
    out = inst.alloc(16)
    assert inst.search(abi.SEARCH, h, query, 1, 10, out) == 1  # GREW taken off
    stats = inst.alloc(4 * abi.STATS_WORDS)
    words = inst.call(abi.STATS, h, stats)
    assert words == abi.STATS_HEAD_WORDS + inst.u32[stats // 4 + 5] <= abi.STATS_WORDS
