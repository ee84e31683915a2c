"""An index that builds a float32 graph whatever storage it is asked for (as a backend that
predates int8 and binary storage would): the saved header gives it away."""

from ruvector_core import BackendInfo, BackendSpec, hookimpl
from ruvector_core.backends.numpy_backend.hnsw import NumpyHnsw
from ruvector_core.index_format import decode

SPEC = BackendSpec(
    name="ignores_storage", version="0.0.1", priority=5, capabilities=frozenset({"hnsw"}), plugin=__name__
)


@hookimpl
def ruvector_backend_info():
    return BackendInfo.from_spec(SPEC)


@hookimpl
def ruvector_hnsw_index(config):
    return NumpyHnsw(config.model_copy(update={"storage": "float32", "floats": "resident"}), SPEC.name)


@hookimpl
def ruvector_hnsw_load(data, config):
    return NumpyHnsw.from_graph(decode(data), SPEC.name)
