"""Address space: indexes start and work under an address-space limit (``ulimit -v``).

wasmtime's default reserves 4 GiB and guards per linear memory, so under a 4 GiB
``RLIMIT_AS`` not even one index could start; the host then reserves only what each memory
uses plus a growth margin (``RUVECTOR_WASM_RESERVE``, "auto")."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from ruvector_wasm import _host

GIB = 1024**3

#: Runs in a child process: the limit applies to the whole process and cannot be lifted.
LIMITED = textwrap.dedent(
    """
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    import numpy as np
    import ruvector_core as rv
    from ruvector_wasm import _host

    rt = rv.Runtime(backend="wasm")
    rng = np.random.default_rng(7)
    indexes, data = [], []
    for i in range({count}):
        x = rng.standard_normal((3000, 384)).astype(np.float32)
        ix = rt.hnsw(rv.HnswConfig(dimensions=384, m=12, ef_construction=60, seed=i))
        ix.insert_batch([f"{{i}}-{{j}}" for j in range(len(x))], x)
        indexes.append(ix)
        data.append(x)
    for i, (ix, x) in enumerate(zip(indexes, data)):
        assert ix.search(x[5], k=1)[0].id == f"{{i}}-5", i
        again = rt.hnsw_load(ix.serialize())
        assert again.search(x[9], k=1)[0].id == f"{{i}}-9", i
    print(_host.shared().reservation, len(indexes))
    """
)


def run_limited(count: int, reserve: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != _host.ENV_RESERVE}
    if reserve is not None:
        env[_host.ENV_RESERVE] = reserve
    script = LIMITED.format(limit=4 * GIB, count=count)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=env)


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS as Linux enforces it")
def test_four_indexes_work_under_a_4_gib_address_space_limit() -> None:
    run = run_limited(4)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["dynamic", "4"]


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS as Linux enforces it")
def test_a_static_reservation_that_does_not_fit_is_a_memory_error() -> None:
    run = run_limited(1, reserve="static")
    assert run.returncode != 0
    assert "WasmMemoryError" in run.stderr and _host.ENV_RESERVE in run.stderr, run.stderr


def test_reservation_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_host, "address_space_limited", lambda: True)
    monkeypatch.delenv(_host.ENV_RESERVE, raising=False)
    assert _host.reservation_mode() == "dynamic"
    monkeypatch.setattr(_host, "address_space_limited", lambda: False)
    assert _host.reservation_mode() == "static"
    monkeypatch.setenv(_host.ENV_RESERVE, " Dynamic ")
    assert _host.reservation_mode() == "dynamic"
    monkeypatch.setenv(_host.ENV_RESERVE, "huge")
    with pytest.raises(ValueError, match=_host.ENV_RESERVE):
        _host.reservation_mode()


def test_a_dropped_index_frees_its_instance_at_once() -> None:
    """The instance and its pool referred to each other, so a dropped index kept its store,
    its linear memory and its reservation (4 GiB static) until the cyclic collector ran:
    30 loads in a loop held 125 GiB of address space, and under a limit loads failed."""
    import gc
    import weakref

    import numpy as np

    import ruvector_core as rv

    runtime = rv.Runtime(backend="wasm")
    index = runtime.hnsw(rv.HnswConfig(dimensions=8))
    index.insert_batch(["a", "b"], np.ones((2, 8), np.float32))
    blob = index.serialize()
    gc.disable()
    try:
        for _ in range(3):
            loaded = runtime.hnsw_load(blob)
            loaded.search(np.ones(8, np.float32), k=1)
            instance = weakref.ref(loaded._graph._inst)
            del loaded
            assert instance() is None
    finally:
        gc.enable()
