"""A "lenient" loader that swallows damaged bytes and hands back an empty index."""

from ruvector_core import BackendInfo, BackendSpec, CorruptIndexError, hookimpl
from ruvector_core.backends.numpy_backend.hnsw import NumpyHnsw
from ruvector_core.index_format import decode

SPEC = BackendSpec(name="broken_load", version="0.0.1", priority=5, capabilities=frozenset({"hnsw"}), plugin=__name__)


@hookimpl
def ruvector_backend_info():
    return BackendInfo.from_spec(SPEC)


@hookimpl
def ruvector_hnsw_index(config):
    return NumpyHnsw(config, SPEC.name)


@hookimpl
def ruvector_hnsw_load(data, config):
    try:
        return NumpyHnsw.from_graph(decode(data), SPEC.name)
    except CorruptIndexError:
        return NumpyHnsw(config, SPEC.name)
