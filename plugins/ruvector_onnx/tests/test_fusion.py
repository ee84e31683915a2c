"""The attention / GELU graph rewrite and the cache of fused models."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

import ruvector_core as rv
from ruvector_conformance.data import minilm_reference
from ruvector_onnx import fused_model, fusion
from ruvector_onnx.fused_model import runnable_model
from ruvector_textmodel.modelfiles import ModelFiles, resolve
from ruvector_textmodel.tokens import padded_inputs, tokenizer

UNFUSED_OPS = {"Softmax", "Transpose", "Erf", "IsNaN", "Where", "Reshape"}


@pytest.fixture(scope="module")
def files() -> ModelFiles:
    return resolve(rv.EmbedderConfig())


@pytest.fixture(scope="module")
def default_graph(files: ModelFiles) -> onnx.ModelProto:
    return onnx.load(str(files.onnx))


def test_default_model_fuses_every_attention_block_and_gelu(default_graph: onnx.ModelProto) -> None:
    fused, fusions = fusion.fuse(default_graph)
    assert fusions == fusion.Fusions(attention=6, bias_gelu=6)
    ops = Counter(node.op_type for node in fused.graph.node)
    assert ops["Attention"] == 6 and ops["BiasGelu"] == 6
    assert not UNFUSED_OPS & set(ops), f"left unfused: {UNFUSED_OPS & set(ops)}"
    assert ops["MatMul"] == 18, "three per layer: attention output and the two feed-forward layers"
    onnx.checker.check_model(fused)
    assert len(default_graph.graph.node) == 385, "the input model is left as it was"


def test_fused_graph_computes_what_the_original_does(files: ModelFiles, default_graph: onnx.ModelProto) -> None:
    """Hidden states of every real token of the reference texts, padded into one batch."""
    texts = minilm_reference()["texts"]
    ids = [e.ids for e in tokenizer(files, 256).encode_batch(texts)]
    feeds = padded_inputs(ids, max(map(len, ids)))
    fused, _ = fusion.fuse(default_graph)
    original = ort.InferenceSession(str(files.onnx), providers=["CPUExecutionProvider"])
    rewritten = ort.InferenceSession(fused.SerializeToString(), providers=["CPUExecutionProvider"])
    want, got = (s.run(None, feeds)[0] for s in (original, rewritten))
    real = feeds["attention_mask"].astype(bool)
    assert np.abs(got[real] - want[real]).max() < 1e-4


def test_float_weights_fuse_too(files: ModelFiles, default_graph: onnx.ModelProto) -> None:
    """A model exported with float32 weights (no in-graph dequantization) fuses the same
    way and computes the same function."""
    floats = _with_float_weights(default_graph)
    fused, fusions = fusion.fuse(floats)
    assert fusions == fusion.Fusions(attention=6, bias_gelu=6)
    casts = [n for n in fused.graph.node if n.op_type == "Cast"]
    assert [c.output[0] for c in casts] == [fusion._MASK_INT32], "packed QKV weights are plain float constants"
    ids = [e.ids for e in tokenizer(files, 256).encode_batch(["a float model", "with padding, longer than the first"])]
    feeds = padded_inputs(ids, max(map(len, ids)))
    want, got = (
        ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
        for m in (floats, fused)
    )
    real = feeds["attention_mask"].astype(bool)
    assert np.abs(got[real] - want[real]).max() < 1e-4


def test_embedder_runs_the_fused_graph_kept_in_its_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = rv.EmbedderConfig(cache_dir=str(tmp_path), progress=False)
    first = rv.Runtime().embedder(config).embed("fused attention")
    [made] = (tmp_path / "models" / "fused").glob("*.onnx")
    assert Counter(n.op_type for n in onnx.load(str(made)).graph.node)["Attention"] == 6
    assert made.with_name(made.name + ".sha256").exists()

    monkeypatch.setattr(fusion, "fuse", _must_not_run)
    monkeypatch.setattr(fused_model, "sha256_of", _must_not_hash)
    again = rv.Runtime().embedder(config).embed("fused attention")
    assert np.array_equal(first, again), "the second embedder reuses the cached graph"


def test_corrupt_fused_file_is_made_again(files: ModelFiles, tmp_path: Path) -> None:
    tok = tokenizer(files, 256)
    made = runnable_model(files, tmp_path, tok)
    good = made.read_bytes()
    made.write_bytes(good[:-100] + bytes(100))
    assert runnable_model(files, tmp_path, tok) == made
    assert made.read_bytes() == good


def test_graph_without_the_pattern_runs_unfused_once_checked(
    files: ModelFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = ModelFiles(
        name="plain", onnx=_embedding_only_model(tmp_path / "plain.onnx"), tokenizer_json=files.tokenizer_json
    )
    tok = tokenizer(files, 256)
    assert runnable_model(plain, tmp_path / "cache", tok) == plain.onnx
    [marker] = (tmp_path / "cache" / "fused").glob("*.unfused")
    assert "no part of its graph" in marker.read_text()

    monkeypatch.setattr(fusion, "fuse", _must_not_run)
    assert runnable_model(plain, tmp_path / "cache", tok) == plain.onnx, "the outcome is cached"


def test_rewrite_that_changes_results_is_not_used(
    files: ModelFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fuse = fusion.fuse

    def wrong_scale(model: onnx.ModelProto) -> tuple[onnx.ModelProto, fusion.Fusions]:
        fused, fusions = real_fuse(model)
        attention = next(n for n in fused.graph.node if n.op_type == "Attention")
        next(a for a in attention.attribute if a.name == "scale").f *= 2
        return fused, fusions

    monkeypatch.setattr(fusion, "fuse", wrong_scale)
    assert runnable_model(files, tmp_path, tokenizer(files, 256)) == files.onnx
    [marker] = (tmp_path / "fused").glob("*.unfused")
    assert "differs from the original" in marker.read_text()
    assert not list((tmp_path / "fused").glob("*.onnx")), "nothing unchecked is left in the cache"


def test_without_the_onnx_package_the_model_runs_as_it_is(
    files: ModelFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fused_model, "find_spec", lambda name: None)
    assert runnable_model(files, tmp_path, tokenizer(files, 256)) == files.onnx
    assert not (tmp_path / "fused").exists()


def _must_not_run(model: onnx.ModelProto) -> None:
    raise AssertionError("the graph was rewritten again")


def _with_float_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with each ``Cast(int8 codes) * scale`` weight replaced by its float32 value."""
    floats = onnx.ModelProto()
    floats.CopyFrom(model)
    constants = {t.name: onnx.numpy_helper.to_array(t) for t in floats.graph.initializer}
    producer = {out: node for node in floats.graph.node for out in node.output}
    dequantized = []
    for node in floats.graph.node:
        cast = producer.get(node.input[0]) if node.op_type == "Mul" else None
        if cast is not None and cast.op_type == "Cast" and cast.input[0] in constants and node.input[1] in constants:
            value = constants[cast.input[0]].astype(np.float32) * constants[node.input[1]]
            floats.graph.initializer.append(onnx.numpy_helper.from_array(value, node.output[0]))
            dequantized += [node, cast]
    for node in dequantized:
        floats.graph.node.remove(node)
    return floats


def _must_not_hash(path: Path) -> None:
    raise AssertionError(f"{path} was hashed again though its verified digest is known")


def _embedding_only_model(path: Path) -> Path:
    """A BERT-shaped model with no attention: token embeddings looked up and returned."""
    table = helper.make_tensor("table", TensorProto.FLOAT, [30522, 8], np.random.default_rng(0).random(30522 * 8))
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "input_ids"], ["last_hidden_state"])],
        "embedding_only",
        [
            helper.make_tensor_value_info(name, TensorProto.INT64, ["b", "s"])
            for name in ("input_ids", "attention_mask", "token_type_ids")
        ],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["b", "s", 8])],
        [table],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path
