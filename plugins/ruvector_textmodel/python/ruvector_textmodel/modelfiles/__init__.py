"""Getting embedding model files onto disk, verified: installed packages, local paths, URLs."""

from .sources import KNOWN_MODELS, ModelFiles, resolve

__all__ = ["KNOWN_MODELS", "ModelFiles", "resolve"]
