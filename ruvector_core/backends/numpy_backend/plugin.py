"""Hook implementations of the numpy reference backend."""

from __future__ import annotations

from ... import index_format
from ...hookspecs import hookimpl
from ...models import BackendInfo, HnswConfig
from . import SPEC
from .hnsw import NumpyHnsw
from .kernels import NumpyKernels, NumpyLearningKernels


@hookimpl
def ruvector_backend_info() -> BackendInfo:
    return BackendInfo.from_spec(SPEC)


@hookimpl
def ruvector_vector_ops() -> NumpyKernels:
    return NumpyKernels()


@hookimpl
def ruvector_hnsw_index(config: HnswConfig) -> NumpyHnsw:
    return NumpyHnsw(config, SPEC.name)


@hookimpl
def ruvector_hnsw_load(data: bytes, config: HnswConfig) -> NumpyHnsw:
    return index_format.load(data, lambda graph: NumpyHnsw.from_graph(graph, SPEC.name))


@hookimpl
def ruvector_learning() -> NumpyLearningKernels:
    return NumpyLearningKernels()
