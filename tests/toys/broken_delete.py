"""An index whose delete forgets the id but leaves the vector searchable."""

from ruvector_core import BackendInfo, BackendSpec, hookimpl
from ruvector_core.backends.numpy_backend.hnsw import NumpyHnsw
from ruvector_core.index_format import decode

SPEC = BackendSpec(name="broken_delete", version="0.0.1", priority=5, capabilities=frozenset({"hnsw"}), plugin=__name__)


class LeakyDelete(NumpyHnsw):
    def delete(self, id):
        return self._node_of.pop(id, None) is not None  # the tombstone flag is never set


@hookimpl
def ruvector_backend_info():
    return BackendInfo.from_spec(SPEC)


@hookimpl
def ruvector_hnsw_index(config):
    return LeakyDelete(config, SPEC.name)


@hookimpl
def ruvector_hnsw_load(data, config):
    return LeakyDelete.from_graph(decode(data), SPEC.name)
