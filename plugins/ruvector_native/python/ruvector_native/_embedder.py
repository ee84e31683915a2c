"""The native backend's embedder: the kernels' encoder (``_native.Encoder``) behind the
host side every embedding backend shares (``ruvector_textmodel``)."""

from __future__ import annotations

from typing import Self

import numpy as np

from ruvector_core.models import EmbedderConfig
from ruvector_textmodel.blobs import encoder_blob
from ruvector_textmodel.modelfiles import model_files
from ruvector_textmodel.packed import PackedEmbedder

from . import _native
from ._adapters import core_errors


class NativeEncoder(_native.Encoder):
    """The extension's encoder, raising the core's errors (a blob that fails its checks is a
    ``ModelError``)."""

    @core_errors
    def __new__(cls, blob: bytes) -> Self:
        return super().__new__(cls, blob)

    @core_errors
    def embed(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        return super().embed(ids, lengths)


def native_embedder(config: EmbedderConfig) -> PackedEmbedder:
    files = model_files(config)
    encoder = NativeEncoder(encoder_blob(files, config))
    return PackedEmbedder(files, config, encoder.embed, encoder.positions)
