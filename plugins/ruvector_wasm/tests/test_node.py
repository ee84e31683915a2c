"""The very same ruvector.wasm under Node.js and under wasmtime: identical results and bytes."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ruvector_core as rv
from ruvector_wasm import abi

DRIVER = Path(__file__).resolve().parents[1] / "js" / "driver.mjs"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node (Node.js >= 16) is not on PATH")

#: The ABI as the driver needs it: the codes it compares results with and, to check the
#: module it runs, every export's parameter count.
ABI = {
    "OK": abi.OK,
    "FAILED": abi.FAILED,
    "NULL": abi.NULL,
    "GREW": abi.GREW,
    "NONE": abi.NONE,
    "exports": {e.name: len(e.params) for e in abi.EXPORTS},
}


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dot"])
def test_node_matches_wasmtime(tmp_path: Path, embeddings: np.ndarray, metric: str) -> None:
    base = np.ascontiguousarray(embeddings[:1500])
    if metric != "cosine":  # rescaled rows, so the metrics really differ
        base = base * np.random.default_rng(3).uniform(0.5, 2.0, (len(base), 1)).astype(np.float32)
    queries = np.ascontiguousarray(embeddings[-60:])
    ids = [f"doc-{i}" if i % 7 else f"düc-{i}-ünïcode" for i in range(len(base))]
    deleted = ids[10:40:3]
    allowed = ids[::5]  # 20 %, a few deleted: more than 4 * ef, so the graph walk, not the exact scan
    config = rv.HnswConfig(dimensions=384, m=12, ef_construction=80, ef_search=40, metric=metric, seed=7)
    k, ef = 10, 48

    # wasmtime, through the public API
    index = rv.Runtime(backend="wasm").hnsw(config)
    index.insert_batch(ids, base)
    for id_ in deleted:
        assert index.delete(id_)
    want = [index.search(q, k=k, ef=ef) for q in queries]
    want_batch = index.search_batch(queries, k=k, ef=ef)
    allow = index.allowlist(allowed)
    want_filtered = [index.search(q, k=k, ef=ef, allow=allow) for q in queries]
    want_filtered_batch = index.search_batch(queries, k=k, ef=ef, allow=allow)
    want_bytes = index.serialize()

    # Node.js, the same module file
    spec = {
        "dimensions": 384,
        "m": config.m,
        "ef_construction": config.ef_construction,
        "ef_search": config.ef_search,
        "metric": abi.METRIC_CODES[metric],
        "seed": config.seed,
        "ids": ids,
        "k": k,
        "ef": ef,
        "delete": deleted,
        "allow": allowed,
        "abi": ABI,
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    base.astype("<f4").tofile(tmp_path / "base.f32")
    queries.astype("<f4").tofile(tmp_path / "queries.f32")
    wasm = resources.files("ruvector_wasm").joinpath("ruvector.wasm")
    with resources.as_file(wasm) as wasm_path:
        run = subprocess.run(
            [
                NODE,
                str(DRIVER),
                str(wasm_path),
                str(tmp_path / "spec.json"),
                str(tmp_path / "base.f32"),
                str(tmp_path / "queries.f32"),
                str(tmp_path / "out"),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert run.returncode == 0, run.stderr
    got = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    got_bytes = (tmp_path / "out.idx").read_bytes()

    assert got["len"] == len(index)
    _same_searches(got, want, want_batch)
    _same_searches(got["filtered"], want_filtered, want_filtered_batch)
    assert got_bytes == want_bytes, "serialized bytes differ between Node.js and wasmtime"
    # and each engine's bytes load in the other's reader
    assert rv.Runtime(backend="wasm").hnsw_load(got_bytes).search(queries[0], k=k, ef=ef) == want[0]


def _same_searches(got: dict[str, Any], want: list[rv.SearchHits], want_batch: tuple[np.ndarray, np.ndarray]) -> None:
    """The driver's one-call-per-query and batch results are wasmtime's."""
    for row, hits in enumerate(want):
        assert got["ids"][row] == hits.ids, f"query {row}"
        assert np.allclose(got["scores"][row], hits.scores, rtol=0, atol=1e-6)
    batch_ids, batch_scores = want_batch
    assert [list(r) for r in batch_ids] == got["batch_ids"]
    node_scores = np.array([[-np.inf if s is None else s for s in r] for r in got["batch_scores"]])
    assert np.allclose(node_scores, batch_scores, rtol=0, atol=1e-6)


EMBED_DRIVER = DRIVER.with_name("embed.mjs")


def test_node_embeds_as_wasmtime(tmp_path: Path) -> None:
    """The module's encoder gives the same vectors, bit for bit, under Node.js as under
    wasmtime: its int8 products are exact integer sums, and wasm floats are IEEE 754 in
    every engine."""
    from ruvector_conformance.data import minilm_reference
    from ruvector_textmodel.blobs import encoder_blob
    from ruvector_textmodel.modelfiles import model_files
    from ruvector_textmodel.tokens import tokenizer

    config = rv.EmbedderConfig(progress=False)
    files = model_files(config)
    texts = minilm_reference()["texts"]
    with rv.Runtime(backend="wasm").embedder(config) as embedder:
        want = embedder.embed_batch(texts)
    encodings = tokenizer(files, config.max_length).encode_batch(texts)
    np.fromiter((i for e in encodings for i in e.ids), dtype="<u4").tofile(tmp_path / "ids.u32")
    np.array([len(e.ids) for e in encodings], dtype="<u4").tofile(tmp_path / "lengths.u32")
    (tmp_path / "model.blob").write_bytes(encoder_blob(files, config))
    (tmp_path / "spec.json").write_text(json.dumps({"abi": ABI}), encoding="utf-8")
    wasm = resources.files("ruvector_wasm").joinpath("ruvector.wasm")
    with resources.as_file(wasm) as wasm_path:
        run = subprocess.run(
            [
                NODE,
                str(EMBED_DRIVER),
                str(wasm_path),
                *(str(tmp_path / name) for name in ("spec.json", "model.blob", "ids.u32", "lengths.u32", "out.f32")),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert run.returncode == 0, run.stderr
    got = np.fromfile(tmp_path / "out.f32", dtype="<f4").reshape(want.shape)
    assert np.array_equal(got, want), f"largest difference {np.abs(got - want).max():.3g}"
