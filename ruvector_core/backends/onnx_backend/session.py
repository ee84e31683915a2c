"""The ONNX Runtime session an embedder runs, with the options measured to be fastest.

Two departures from ORT's defaults, each measured on all-MiniLM-L6-v2 (32 short sentences,
one thread; ``ruvector bench`` shows the end-to-end effect):

- Denormal floats are flushed to zero. The attention softmax of padded positions produces
  denormals, which the CPU handles in microcode: the softmax took 11 ms of a 162 ms run,
  3 ms with flushing. Values below 1e-38 cannot move a unit-length embedding.
- ORT's ``SkipLayerNormFusion`` is disabled. It replaces each residual Add + LayerNorm with
  one fused kernel whose CPU version is much the slower here: 1.65 ms per call on a
  704 x 384 tensor, against 0.18 ms for LayerNormalization plus 0.25 ms for the Add;
  20 ms of the run went to it.
"""

from __future__ import annotations

import onnxruntime as ort

from ...modelfiles import ModelFiles

DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)


def session(files: ModelFiles, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.set_denormal_as_zero", "1")
    return ort.InferenceSession(
        str(files.onnx),
        options,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=list(DISABLED_OPTIMIZERS),
    )
