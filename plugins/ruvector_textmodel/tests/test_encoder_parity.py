"""The encoder of ruvector-kernels, as the native and wasm backends serve it, against the
fp32 reference vectors and the onnx backend's; the onnx backend's fp32 graph; the weight
blobs and their cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import ruvector_core as rv
from ruvector_conformance.data import minilm_reference
from ruvector_textmodel.blobs import encoder_blob
from ruvector_textmodel.modelfiles import model_files
from ruvector_textmodel.weights import FLOAT32, INT8, MAGIC

BACKENDS = ["native", "wasm"]
#: every backend serving embeddings: each offers both precisions
EMBEDDERS = ["onnx", *BACKENDS]
#: int8 weights: cosine with the fp32 original and with ONNX Runtime running the same weights
INT8_TO_REFERENCE, INT8_TO_ONNX = 0.998, 0.9995
#: fp32 weights: cosine with the fp32 original
FP32_TO_REFERENCE = 0.99999


@pytest.fixture(scope="module")
def reference() -> tuple[list[str], np.ndarray]:
    data = minilm_reference()
    return data["texts"], np.asarray(data["embeddings"], dtype=np.float64)


@pytest.fixture(scope="module")
def onnx_vectors(reference: tuple[list[str], np.ndarray]) -> np.ndarray:
    with rv.Runtime(backend="onnx").embedder(rv.EmbedderConfig(progress=False)) as embedder:
        return embedder.embed_batch(reference[0]).astype(np.float64)


@pytest.fixture(scope="module", params=[(b, p) for b in EMBEDDERS for p in ("int8", "fp32")], ids=str)
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, rv.Embedder]]:
    backend, precision = request.param
    config = rv.EmbedderConfig(precision=precision, progress=False)
    with rv.Runtime(backend=backend).embedder(config) as embedder:
        yield backend, precision, embedder


def _cosines(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    return (got.astype(np.float64) * want).sum(axis=1)


def test_parity(
    served: tuple[str, str, rv.Embedder], reference: tuple[list[str], np.ndarray], onnx_vectors: np.ndarray
) -> None:
    backend, precision, embedder = served
    texts, expected = reference
    got = embedder.embed_batch(texts)
    assert embedder.backend == backend and got.shape == (len(texts), 384)
    to_reference = _cosines(got, expected)
    worst = int(np.argmin(to_reference))
    if precision == "fp32":
        assert to_reference.min() >= FP32_TO_REFERENCE, f"{texts[worst][:40]!r}: {to_reference[worst]:.7f}"
        assert not np.allclose(got, onnx_vectors, atol=1e-3), "the float weights, not the int8 ones"
    else:
        assert to_reference.min() >= INT8_TO_REFERENCE, f"{texts[worst][:40]!r}: {to_reference[worst]:.6f}"
        to_onnx = _cosines(got, onnx_vectors)
        assert to_onnx.min() >= INT8_TO_ONNX, f"{texts[int(np.argmin(to_onnx))][:40]!r}: {to_onnx.min():.6f}"


def test_native_and_wasm_agree_bit_for_bit_on_int8() -> None:
    """Both run the same integer products and the same float steps, with no libm call (whose
    results differ between glibc and wasm), so the vectors are the same on every machine."""
    texts = minilm_reference()["texts"]
    vectors = []
    for backend in BACKENDS:
        with rv.Runtime(backend=backend).embedder(rv.EmbedderConfig(progress=False)) as embedder:
            vectors.append(embedder.embed_batch(texts))
    native, wasm = vectors
    assert np.array_equal(native, wasm), f"largest difference {np.abs(native - wasm).max():.3g}"


def test_blob_header(tmp_path: Path) -> None:
    for precision, code in (("int8", INT8), ("fp32", FLOAT32)):
        config = rv.EmbedderConfig(precision=precision, cache_dir=str(tmp_path), progress=False)
        blob = encoder_blob(model_files(config), config)
        words = np.frombuffer(blob[8:40], dtype="<u4").tolist()
        assert blob[:8] == MAGIC and words == [1, code, 30522, 512, 384, 12, 1536, 6]


def test_damaged_cache_entry_is_made_again(tmp_path: Path) -> None:
    config = rv.EmbedderConfig(cache_dir=str(tmp_path), progress=False)
    files = model_files(config)
    blob = encoder_blob(files, config)
    (cached,) = (tmp_path / "models" / "encoder").glob("*.bin")
    damaged = bytearray(blob)
    damaged[1000] ^= 0xFF
    cached.write_bytes(bytes(damaged))
    assert encoder_blob(files, config) == blob


def test_fp32_needs_a_model_that_ships_float_weights(tmp_path: Path) -> None:
    files = model_files(rv.EmbedderConfig(progress=False))
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(files.onnx.read_bytes())
    (folder / "tokenizer.json").write_text(files.tokenizer_json, encoding="utf-8")
    for backend in EMBEDDERS:
        config = rv.EmbedderConfig(model=str(folder), precision="fp32", cache_dir=str(tmp_path), progress=False)
        with pytest.raises(rv.ModelError, match="float weights"):
            rv.Runtime(backend=backend).embedder(config)


@pytest.mark.parametrize("backend", BACKENDS)
def test_damaged_blob_is_a_model_error(backend: str) -> None:
    config = rv.EmbedderConfig(progress=False)
    blob = bytearray(encoder_blob(model_files(config), config))
    blob[5000] ^= 0x10
    if backend == "native":
        from ruvector_native._embedder import NativeEncoder

        with pytest.raises(rv.ModelError, match="CRC-32"):
            NativeEncoder(bytes(blob))
    else:
        from ruvector_wasm._embedder import WasmEncoder

        with pytest.raises(rv.ModelError, match="CRC-32"):
            WasmEncoder(bytes(blob), 1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_model_file_the_encoder_cannot_read_is_a_model_error(backend: str, tmp_path: Path) -> None:
    files = model_files(rv.EmbedderConfig(progress=False))
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"not a protobuf at all" * 10)
    (folder / "tokenizer.json").write_text(files.tokenizer_json, encoding="utf-8")
    config = rv.EmbedderConfig(model=str(folder), cache_dir=str(tmp_path), progress=False)
    with pytest.raises(rv.ModelError, match="not a readable ONNX file"):
        rv.Runtime(backend=backend).embedder(config)
