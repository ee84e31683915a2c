"""Getting embedding model files onto disk, verified: installed packages, local paths, URLs."""

from .sources import KNOWN_MODELS, ModelFiles, model_files, resolve

__all__ = ["KNOWN_MODELS", "ModelFiles", "model_files", "resolve"]
