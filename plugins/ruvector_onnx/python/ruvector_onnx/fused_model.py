"""The ONNX file an embedder runs: its model with ``fusion`` applied, made once and kept in
the model cache beside downloads.

The rewritten graph is checked before it is used: both graphs run a probe batch (texts of
different lengths, so padding and the attention mask are exercised) and must agree. A
model the rewrite does not fit, or whose rewrite disagrees or fails to load, runs as it is;
that outcome is cached too, so it is found out once, not at every start.

Cache entries are keyed by the model file's sha256, the ONNX Runtime version (the check ran
its kernels) and ``FUSION_VERSION``; they are written atomically under a file lock, with
their digest beside them, like downloads.
"""

from __future__ import annotations

import hashlib
import logging
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import onnxruntime as ort
from filelock import FileLock
from tokenizers import Tokenizer

from ruvector_core.atomic import write_atomically
from ruvector_textmodel.modelfiles import ModelFiles
from ruvector_textmodel.modelfiles.integrity import matches_recorded_digest, record_digest, sha256_of
from ruvector_textmodel.tokens import padded_inputs

log = logging.getLogger("ruvector")

FUSION_VERSION = 1  # bump whenever ``fusion`` changes what it writes
PROBE_TEXTS = (
    "ruvector checks a rewritten graph against the original before using it.",
    "A short one.",
    "",
)
TOLERANCE = 1e-3  # absolute and relative; the default model's graphs differ by about 3e-6
_LOCK_TIMEOUT_S = 600


def runnable_model(files: ModelFiles, cache: Path, tokenizer: Tokenizer) -> Path:
    """The fused copy of ``files.onnx`` in ``cache``, made now if needed; ``files.onnx``
    itself when fusion does not apply or the cache cannot be written."""
    if find_spec("onnx") is None:  # part of the embeddings extra; imported only to fuse
        log.info("model %r runs unfused: the onnx package is not installed", files.name)
        return files.onnx
    digest = files.onnx_sha256 or sha256_of(files.onnx)
    key = f"{digest[:32]}-ort{ort.__version__}-fusion{FUSION_VERSION}"
    fused, unfused = cache / "fused" / f"{key}.onnx", cache / "fused" / f"{key}.unfused"
    try:
        fused.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{fused}.lock", timeout=_LOCK_TIMEOUT_S):
            if unfused.exists():
                return files.onnx
            if matches_recorded_digest(fused):
                return fused
            data, why_not = _fused_bytes(files, tokenizer)
            if data is None:
                log.info("model %r runs unfused: %s", files.name, why_not)
                write_atomically(unfused, why_not.encode())
                return files.onnx
            record_digest(fused, hashlib.sha256(data).hexdigest())
            write_atomically(fused, data)
    except OSError as exc:
        log.warning("model %r runs unfused: cannot write the fused graph to %s (%s)", files.name, cache, exc)
        return files.onnx
    return fused


def _fused_bytes(files: ModelFiles, tokenizer: Tokenizer) -> tuple[bytes, str] | tuple[None, str]:
    """(the serialized fused model, "") or (None, why it is not used)."""
    import onnx

    from .fusion import fuse

    try:
        fused, fusions = fuse(onnx.load(str(files.onnx)))
        if not (fusions.attention or fusions.bias_gelu):
            return None, "no part of its graph has the form the fused kernels replace"
        data = fused.SerializeToString()
        disagreement = _disagreement(files.onnx, data, tokenizer)
    except Exception as exc:  # onnx and onnxruntime raise many untyped errors; all mean "do not fuse"
        return None, f"rewriting its graph failed ({type(exc).__name__}: {exc})"
    if disagreement is not None:
        return None, disagreement
    return data, ""


def _disagreement(original: Path, fused: bytes, tokenizer: Tokenizer) -> str | None:
    """Why the fused graph's output differs from the original's on the probe batch, if it does."""
    ids = [e.ids for e in tokenizer.encode_batch(list(PROBE_TEXTS))]
    feeds = padded_inputs(ids, max(len(i) for i in ids))
    outputs = []
    for model in (str(original), fused):
        session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        wanted = {i.name: feeds[i.name] for i in session.get_inputs()}
        outputs.append(session.run([session.get_outputs()[0].name], wanted)[0])
    expected, actual = outputs
    if expected.shape != actual.shape:
        return f"the fused graph's output has shape {actual.shape}, the original's {expected.shape}"
    real = feeds["attention_mask"].astype(bool)  # padding positions are pooled away: not compared
    if not np.allclose(actual[real], expected[real], rtol=TOLERANCE, atol=TOLERANCE):
        worst = float(np.abs(actual[real] - expected[real]).max())
        return f"the fused graph differs from the original by up to {worst:.3g} on a probe batch"
    return None
