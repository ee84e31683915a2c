"""The two quantizers, in one place: ``VectorOps.quantize`` on the reference backend, the
index format's check that stored codes match their floats, and the quantized HNSW storage
all use these, so a code means the same thing everywhere (the compiled kernels in
``crates/ruvector-kernels/src/quant.rs`` reproduce them bit for bit, binary scales aside:
their float64 sum may be taken in another order).

* int8: per row, ``low = min``, ``scale = (max - min) / 255`` (in float64),
  ``level = rint((x - low) / scale)`` clipped to 0..255 and stored as ``level - 128``; a
  constant row has scale 0 and every level 0. Decoded as ``(code + 128) * scale + low``.
* binary: ``x > 0`` packed eight to a byte, the first component in the most significant
  bit (numpy's ``packbits``), and the row's mean ``|x|`` as its scale; decoded as
  ``+scale`` for a set bit and ``-scale`` otherwise.
"""

from __future__ import annotations

import numpy as np

from .models import QuantizationKind, QuantizedVectors

INT8_LEVELS = 255
INT8_SHIFT = 128  # a level minus this is the stored int8 code


def quantize(matrix: np.ndarray, kind: QuantizationKind) -> QuantizedVectors:
    """Codes, scales and offsets (lows; zeros for binary) of the rows of ``matrix``."""
    if kind == "binary":
        return QuantizedVectors(
            kind="binary",
            dimensions=matrix.shape[1],
            codes=np.packbits(matrix > 0, axis=1),
            scales=np.abs(matrix).mean(axis=1, dtype=np.float64).astype(np.float32),
            offsets=np.zeros(len(matrix), dtype=np.float32),
        )
    low = matrix.min(axis=1).astype(np.float64)
    high = matrix.max(axis=1).astype(np.float64)
    scales = (high - low) / INT8_LEVELS
    safe = np.where(scales > 0, scales, 1.0)
    levels = np.rint((matrix - low[:, None]) / safe[:, None])
    codes = (np.clip(levels, 0, INT8_LEVELS) - INT8_SHIFT).astype(np.int8)
    return QuantizedVectors(
        kind="int8",
        dimensions=matrix.shape[1],
        codes=codes,
        scales=scales.astype(np.float32),
        offsets=low.astype(np.float32),
    )


def dequantize(quantized: QuantizedVectors) -> np.ndarray:
    """The float32 rows the codes stand for."""
    if quantized.kind == "binary":
        bits = np.unpackbits(quantized.codes, axis=1, count=quantized.dimensions)
        signs = bits.astype(np.float32) * 2.0 - 1.0
        restored: np.ndarray = signs * quantized.scales[:, None]
        return restored
    levels = quantized.codes.astype(np.float64) + float(INT8_SHIFT)
    restored = levels * quantized.scales[:, None] + quantized.offsets[:, None]
    return restored.astype(np.float32)


def padding_mask(dimensions: int) -> int:
    """The bits of a binary row's last byte that lie past ``dimensions`` (always zero)."""
    used = dimensions % 8
    return 0 if used == 0 else (1 << (8 - used)) - 1
