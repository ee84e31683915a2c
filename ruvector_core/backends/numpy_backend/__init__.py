"""The numpy reference backend: every capability it offers is the yardstick for the others.

This module is what the ``ruvector.backends`` entry point loads, so it declares and nothing
more; the hook implementations live in ``.plugin`` and load on first use.
"""

from ...models import BackendSpec
from ...version import __version__

SPEC = BackendSpec(
    name="numpy",
    version=__version__,
    priority=0,
    capabilities=frozenset({"vector_ops", "hnsw", "learning"}),
    plugin="ruvector_core.backends.numpy_backend.plugin",
    description="pure numpy reference implementation; always available",
)
