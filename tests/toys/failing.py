"""Backends that fail in every way a real plugin can, each with a reason to show."""

from ruvector_core import BackendInfo, BackendSpec, hookimpl

IMPORT_FAILS = BackendSpec(
    name="import_fails",
    version="1.0",
    priority=90,
    capabilities=frozenset({"vector_ops", "hnsw"}),
    plugin="toys.missing_extension",
)
NOT_USABLE = BackendSpec(
    name="not_usable",
    version="2.0",
    priority=80,
    capabilities=frozenset({"vector_ops"}),
    plugin="toys.failing",
)


# a fix hint as real plugins give one: long, and with brackets that rich would read as markup
HINT = "needs AVX-512, this CPU has none; for a portable backend: pip install 'ruvec[numba]' (or 'ruvec[all]')"


def declare_broken():
    raise RuntimeError("the spec module itself is broken")


@hookimpl
def ruvector_backend_info():
    return BackendInfo(
        name="not_usable",
        version="2.0",
        priority=80,
        capabilities=["vector_ops"],
        usable=False,
        reason=HINT,
    )
