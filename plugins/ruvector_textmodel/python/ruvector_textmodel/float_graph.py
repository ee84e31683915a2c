"""An ONNX graph of the default model with its float weights, for ONNX Runtime's
``precision="fp32"``: the pinned int8 graph with every ``Cast(codes) * scale`` replaced by
the matching float matrix of ``model.safetensors`` (and every float constant by its
safetensors value), so the graph, its inputs and its outputs stay those of the int8 file.
Made once and kept in the model cache beside the fused graphs, with its digest beside it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from pathlib import Path

import numpy as np

from ruvector_core.atomic import write_atomically
from ruvector_core.errors import ModelError

from .modelfiles import ModelFiles
from .modelfiles.integrity import matches_recorded_digest, record_digest, sha256_of
from .modelfiles.sources import float_weights
from .weights import OnnxGraph, float_tensors

log = logging.getLogger("ruvector")

FLOAT_GRAPH_VERSION = 1  # bump whenever this module changes what it writes


def with_float_weights(files: ModelFiles, cache: Path) -> ModelFiles:
    """``files`` with its ONNX file replaced by the float-weight graph (made now if needed)."""
    float_sha256 = float_weights(files)[1]
    digest = files.onnx_sha256 or sha256_of(files.onnx)
    path = cache / "fp32" / f"{digest[:32]}-{float_sha256[:32]}-v{FLOAT_GRAPH_VERSION}.onnx"
    if not matches_recorded_digest(path):
        data = _float_graph(files)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            record_digest(path, hashlib.sha256(data).hexdigest())
            write_atomically(path, data)
        except OSError as exc:
            raise ModelError(f"model {files.name!r}: cannot write its float graph to {path.parent} ({exc})") from exc
    return dataclasses.replace(files, onnx=path, onnx_sha256=None)


def _float_graph(files: ModelFiles) -> bytes:
    import onnx
    from onnx import numpy_helper

    _, tensors = float_tensors(*float_weights(files))
    model = onnx.load(str(files.onnx))
    graph = OnnxGraph(model.graph)
    prefix = graph.prefix("embeddings.word_embeddings.weight_q")
    replaced: dict[str, np.ndarray] = {}
    used = set()
    for table in ("word_embeddings", "position_embeddings"):
        replaced[f"{prefix}embeddings.{table}.weight"] = tensors[f"embeddings.{table}.weight"]
        used.add(f"embeddings.{table}.weight")
    for node in graph.nodes:
        if node.op_type == "MatMul" and graph.dequantized(node.input[1]) is not None:
            _, bias = graph.bias_after(node.output[0], prefix, files.onnx)
            name = bias[len(prefix) :].removesuffix(".bias") + ".weight"
            if name not in tensors:
                raise ModelError(f"{files.onnx}: the float weights have no {name!r}")
            replaced[node.input[1]] = np.ascontiguousarray(tensors[name].T)  # MatMul takes (in, out)
            used.add(name)
    dequantizing = {n.output[0] for n in graph.nodes if n.op_type == "Mul" and n.output[0] in replaced}
    casts = {graph.producer[m].input[0] for m in dequantizing}
    kept = [n for n in graph.nodes if n.output[0] not in dequantizing and n.output[0] not in casts]
    read = {name for node in kept for name in node.input}
    constants = []
    for tensor in model.graph.initializer:
        if tensor.name not in read:
            continue  # the int8 codes and scales
        short = tensor.name[len(prefix) :] if tensor.name.startswith(prefix) else None
        value = tensors.get(short) if short is not None else None
        if value is not None and value.shape == tuple(tensor.dims):
            tensor = numpy_helper.from_array(np.asarray(value, dtype=np.float32), tensor.name)
        constants.append(tensor)
    constants += [numpy_helper.from_array(np.asarray(v, dtype=np.float32), n) for n, v in replaced.items()]
    matrices = {n for n, v in tensors.items() if v.ndim == 2 and n.startswith(("embeddings.", "encoder."))} - {
        "embeddings.token_type_embeddings.weight"
    }  # the pooler is not part of a sentence encoder; the type table is float in both
    if used != matrices:
        raise ModelError(f"{files.onnx}: its int8 matrices and the float weights differ: {sorted(matrices ^ used)[:4]}")
    model.graph.ClearField("node")
    model.graph.node.extend(kept)
    model.graph.ClearField("initializer")
    model.graph.initializer.extend(constants)
    data: bytes = model.SerializeToString()
    return data
