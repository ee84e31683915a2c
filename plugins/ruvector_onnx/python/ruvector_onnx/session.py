"""The ONNX Runtime session an embedder runs, with the options measured to be fastest
(shared by the embedder and the bench's bare session, so both run the same thing; the
tokenizer and padded inputs that feed it are ``ruvector_textmodel.tokens``). The model
file it is given is normally the fused one (see ``fused_model``).

One departure from ORT's defaults: its ``SkipLayerNormFusion`` is disabled. It replaces
each residual Add + LayerNorm with one fused kernel whose CPU version is much the slower
here: with all-MiniLM-L6-v2 on 32 short sentences padded to 22 tokens (one thread), 1.65 ms
per call on the 704 x 384 tensor, against 0.18 ms for LayerNormalization plus 0.25 ms for
the Add; 20 ms of a 162 ms run went to it.

Flushing denormals to zero (``session.set_denormal_as_zero``) was measured too and left
off: it saved nothing once runs carry little padding, and ORT sets the flag on the thread
that creates the session, which changes floating-point results for all of the caller's
later numpy work.
"""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)


def session(model: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(
        str(model),
        options,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=list(DISABLED_OPTIMIZERS),
    )
