"""Vector ops whose euclidean distance forgets the square root: a classic kernel bug."""

import numpy as np

from ruvector_core import BackendInfo, BackendSpec, hookimpl
from ruvector_core.backends.numpy_backend.kernels import NumpyKernels

SPEC = BackendSpec(
    name="broken_distance", version="0.0.1", priority=5, capabilities=frozenset({"vector_ops"}), plugin=__name__
)


class SquaredEuclidean(NumpyKernels):
    def batch_distance(self, query, matrix, metric):
        if metric == "euclidean":
            diff = matrix - query
            return np.einsum("ij,ij->i", diff, diff).astype(np.float32)
        return super().batch_distance(query, matrix, metric)


@hookimpl
def ruvector_backend_info():
    return BackendInfo.from_spec(SPEC)


@hookimpl
def ruvector_vector_ops():
    return SquaredEuclidean()
