"""The encoder blob an embedder loads, made once per model and precision and kept in the
model cache beside downloads (reading the ONNX file and transposing its weights takes about
0.5 s for the default model, the float weights about 2 s; reading the cached blob a few
tens of milliseconds).

Entries are keyed by the source weights' sha256, the precision and ``BLOB_VERSION``, and
written atomically with their digest beside them, as the fused ONNX graphs are; an entry
whose bytes no longer match its digest is made again.
"""

from __future__ import annotations

import hashlib
import logging

from ruvector_core.atomic import write_atomically
from ruvector_core.models import EmbedderConfig

from .modelfiles import ModelFiles
from .modelfiles.integrity import matches_recorded_digest, record_digest, sha256_of
from .modelfiles.sources import cache_dir, float_weights
from .weights import from_int8_onnx, from_safetensors, to_blob

log = logging.getLogger("ruvector")

BLOB_VERSION = 1  # bump whenever ``weights`` changes what it writes


def encoder_blob(files: ModelFiles, config: EmbedderConfig) -> bytes:
    """The blob of ``files``' weights at ``config.precision``, from the cache when it is there."""
    if config.precision == "fp32":
        digest = float_weights(files)[1]
    else:
        digest = files.onnx_sha256 or sha256_of(files.onnx)
    path = cache_dir(config) / "encoder" / f"{digest[:32]}-{config.precision}-blob{BLOB_VERSION}.bin"
    if matches_recorded_digest(path):
        return path.read_bytes()
    if config.precision == "fp32":
        blob = to_blob(from_safetensors(*float_weights(files)))
    else:
        blob = to_blob(from_int8_onnx(files.onnx))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        record_digest(path, hashlib.sha256(blob).hexdigest())
        write_atomically(path, blob)
    except OSError as exc:
        log.warning("model %r: cannot cache its encoder weights in %s (%s)", files.name, path.parent, exc)
    return blob
