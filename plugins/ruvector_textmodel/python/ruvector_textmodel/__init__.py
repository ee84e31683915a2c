"""What every embedding backend does on the host around its transformer: find and verify
the model's files (``modelfiles``), tokenize (``tokens``), cut a batch into length-sorted
runs (``chunking``), and, for backends that run the encoder in ruvector's own kernels, turn
the model's weights into the kernels' blob (``weights``) and serve it as an embedder
(``packed``). Not a backend itself: the onnx, native and wasm backends build on it."""

from ruvector_core.version import distribution_version

__version__ = distribution_version("ruvec-textmodel")

__all__ = ["__version__"]
