"""A high-priority backend that serves only the euclidean metric and declines the rest,
and whose vector ops crash on creation: the runtime must fall through to the next one."""

from ruvector_core import BackendInfo, BackendSpec, hookimpl
from ruvector_core.backends.numpy_backend.hnsw import NumpyHnsw

SPEC = BackendSpec(
    name="declining", version="0.1", priority=70, capabilities=frozenset({"vector_ops", "hnsw"}), plugin=__name__
)


@hookimpl
def ruvector_backend_info():
    return BackendInfo.from_spec(SPEC)


@hookimpl
def ruvector_vector_ops():
    raise OSError("device lost")


@hookimpl
def ruvector_hnsw_index(config):
    return NumpyHnsw(config, SPEC.name) if config.metric == "euclidean" else None
