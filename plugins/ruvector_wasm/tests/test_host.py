"""The host side: traps, limits, recovery, the buffer pool, both call paths, shutdown.

Every test that builds an index runs on both call paths (``paths``): the unchecked one and
wasmtime's public API, which the host falls back to on other wasmtime versions."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from importlib.metadata import version

import numpy as np
import pytest

import ruvector_core as rv
from ruvector_wasm import _calls, _hnsw, _host, _kernels
from ruvector_wasm.errors import WasmMemoryError, WasmTimeoutError, WasmTrapError

PATHS = ["unchecked", "public"]


@pytest.fixture(params=PATHS)
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """New instances (indexes and the kernels' instance) call through this path."""
    if request.param == "unchecked" and not _calls.unchecked_supported(version("wasmtime")):
        pytest.skip("the unchecked path is for another wasmtime version")
    monkeypatch.setattr(_calls, "USE_UNCHECKED", request.param == "unchecked")
    monkeypatch.setattr(_kernels, "_instance", None)
    return str(request.param)


@pytest.fixture()
def runtime(path: str) -> rv.Runtime:
    return rv.Runtime(backend="wasm")


@pytest.fixture()
def index(runtime: rv.Runtime, embeddings: np.ndarray) -> rv.HnswIndex:
    ix = runtime.hnsw(rv.HnswConfig(dimensions=384, m=8, ef_construction=40, seed=3))
    ix.insert_batch([f"doc-{i}" for i in range(600)], embeddings[:600])
    return ix


@pytest.fixture()
def short_deadline():
    sh = _host.shared()
    saved = sh.timeout, sh.per_row
    sh.timeout, sh.per_row = 1e-6, 0.0  # two epoch ticks: 50-100 ms
    yield
    sh.timeout, sh.per_row = saved


def test_errors_are_ruvector_errors() -> None:
    assert issubclass(WasmTrapError, rv.RuvectorError)
    assert issubclass(WasmTimeoutError, WasmTrapError) and issubclass(WasmTimeoutError, TimeoutError)
    assert issubclass(WasmMemoryError, rv.RuvectorError) and issubclass(WasmMemoryError, MemoryError)


def test_trap_is_an_error_and_the_index_stays_usable(index: rv.HnswIndex, embeddings: np.ndarray) -> None:
    before = index.serialize()
    want = index.search(embeddings[700], k=5)
    graph = index._graph
    good = graph._q_ptr
    graph._q_ptr = 0xFFFFFF00  # make the module read out of bounds
    try:
        with pytest.raises(WasmTrapError, match="trapped"):
            index.search(embeddings[700], k=5)
    finally:
        if graph._inst.size and graph._q_ptr == 0xFFFFFF00:
            graph._q_ptr = good
    assert index.search(embeddings[700], k=5) == want
    assert index.serialize() == before
    index.insert("after-trap", embeddings[900])
    assert index.search(embeddings[900], k=1)[0].id == "after-trap"


def test_a_reused_mask_is_uploaded_once(
    index: rv.HnswIndex, embeddings: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``allow_mask``'s read-only result stays in linear memory across searches; another
    array is uploaded again, and a writeable one on every call, so a change to it is seen."""
    graph = index._graph
    inst = graph._inst
    uploads: list[int] = []
    write = inst.write

    def counted(ptr: int, data: np.ndarray | bytes) -> None:
        uploads.append(ptr)
        write(ptr, data)

    monkeypatch.setattr(inst, "write", counted)  # a single search writes its query directly, not here
    allowed = [f"doc-{i}" for i in range(0, 600, 7)]
    mask = graph.allow_mask(allowed)
    assert not mask.flags.writeable and mask.sum() == len(allowed)
    for query in embeddings[600:605]:
        hits = graph.search(query, 10, 40, mask)
        assert len(hits) == 10 and {i for i, _ in hits} <= set(allowed)
    assert len(uploads) == 1
    again = graph.search(embeddings[600], 10, 40, graph.allow_mask(allowed))
    assert again == graph.search(embeddings[600], 10, 40, mask)
    assert len(uploads) == 3  # the equal but new array, then the first one again

    mine = np.zeros(len(mask), dtype=bool)
    mine[3] = True
    assert [i for i, _ in graph.search(embeddings[600], 5, 40, mine)] == ["doc-3"]
    mine[3], mine[5] = False, True  # changed in place: must not be served from the cache
    assert [i for i, _ in graph.search(embeddings[600], 5, 40, mine)] == ["doc-5"]

    index.insert("late", embeddings[610])  # past the mask's end: not allowed
    assert "late" not in {i for i, _ in graph.search(embeddings[610], 10, 40, mask)}


def test_a_trap_drops_the_uploaded_mask(index: rv.HnswIndex, embeddings: np.ndarray) -> None:
    """The mask's buffer belongs to the instance a trap abandons; the fresh one uploads it again."""
    allow = index.allowlist([f"doc-{i}" for i in range(0, 600, 3)])
    want = index.search(embeddings[700], k=5, allow=allow)
    graph = index._graph
    good = graph._q_ptr
    graph._q_ptr = 0xFFFFFF00  # make the module read out of bounds
    try:
        with pytest.raises(WasmTrapError, match="trapped"):
            index.search(embeddings[700], k=5, allow=allow)
    finally:
        if graph._inst.size and graph._q_ptr == 0xFFFFFF00:
            graph._q_ptr = good
    assert graph._allowed is None
    assert index.search(embeddings[700], k=5, allow=allow) == want
    ids, _ = index.search_batch(embeddings[700:701], k=5, allow=allow)
    assert list(ids[0]) == want.ids


def test_runaway_call_is_interrupted(index: rv.HnswIndex, embeddings: np.ndarray, short_deadline: None) -> None:
    before = index.serialize()
    queries = np.repeat(embeddings[600:700], 400, axis=0)  # 40,000 searches: far beyond 100 ms
    with pytest.raises(WasmTimeoutError):
        index.search_batch(queries, k=10, ef=400)
    _host.shared().timeout = 60.0
    assert index.serialize() == before
    assert len(index.search(embeddings[650], k=10)) == 10


def test_a_timed_out_insert_inserts_nothing(index: rv.HnswIndex, embeddings: np.ndarray, short_deadline: None) -> None:
    """Interrupted part-way, an insert (new ids and replaced ones) is undone entirely: the
    index holds, answers and saves exactly what it did before."""
    before, ids, want = index.serialize(), index.ids(), index.search(embeddings[700], k=10)
    many = np.tile(embeddings[:3000], (2, 1))  # far beyond 100 ms of inserts
    names = [f"new-{i}" for i in range(len(many) - 50)] + [f"doc-{i}" for i in range(50)]
    with pytest.raises(WasmTimeoutError):
        index.insert_batch(names, many)
    _host.shared().timeout = 60.0
    assert index.ids() == ids and len(index) == 600 and "new-0" not in index
    assert index.search(embeddings[700], k=10) == want
    assert index.serialize() == before
    index.insert_batch(["after", "doc-1"], embeddings[[900, 901]])
    assert index.search(embeddings[900], k=1)[0].id == "after" and len(index) == 601


def test_recovery_does_not_run_under_the_deadline_that_expired(
    index: rv.HnswIndex, embeddings: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A serialize cut short by a short deadline leaves the index usable: the recovery that
    follows gets a deadline of its own, not the one that just ran out."""
    before = index.serialize()
    sh = _host.shared()
    ticks = sh.ticks
    monkeypatch.setattr(sh, "timeout", 1.0)
    # any call with no more than the (short) timeout is interrupted at once
    monkeypatch.setattr(sh, "ticks", lambda seconds: 0 if seconds < _hnsw.RECOVERY_SECONDS else ticks(seconds))
    with pytest.raises(WasmTimeoutError):
        index.serialize()
    monkeypatch.undo()
    assert index.serialize() == before
    assert len(index.search(embeddings[650], k=10)) == 10


class _SlowItems(dict):  # type: ignore[type-arg]
    """The id mirror, its (real) iteration slowed so that other threads run in the middle
    of it, as they do, rarely, when a garbage collection during the iteration lets them in."""

    def items(self):  # type: ignore[no-untyped-def]
        for pair in super().items():
            time.sleep(0.0002)
            yield pair


def test_ids_is_safe_while_other_threads_insert_and_delete(runtime: rv.Runtime, embeddings: np.ndarray) -> None:
    index = runtime.hnsw(rv.HnswConfig(dimensions=384, m=8, ef_construction=16, seed=3))
    index.insert_batch([f"base-{i}" for i in range(200)], embeddings[:200])
    graph = index._graph
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(10):
                with graph._lock:  # what ids() reads; inserts and deletes change it in place
                    graph._live = _SlowItems(graph._live)
                ids = index.ids()
                assert len(ids) == len(set(ids))
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    i = 0
    while reader.is_alive():
        index.insert(f"w-{i}", embeddings[200 + i % 1000])
        index.delete(f"base-{i % 200}")
        i += 1
    reader.join()
    assert not errors, errors
    assert i > 0


def test_interrupted_load_is_corrupt_index_error(index: rv.HnswIndex, runtime: rv.Runtime, monkeypatch) -> None:
    blob = index.serialize()
    sh = _host.shared()
    # calls with a longer allowance than the timeout (the load itself) get a deadline of now
    monkeypatch.setattr(sh, "ticks", lambda seconds: 0 if seconds > sh.timeout else 1000)
    with pytest.raises(rv.CorruptIndexError, match="could not be decoded"):
        runtime.hnsw_load(blob)
    monkeypatch.undo()
    assert runtime.hnsw_load(blob).serialize() == blob


def test_memory_limit_is_an_error_and_changes_nothing(index: rv.HnswIndex, embeddings: np.ndarray) -> None:
    graph = index._graph
    inst = graph._inst
    before = index.serialize()
    inst.store.set_limits(memory_size=inst.size + 4 * 65536)
    many = np.tile(embeddings[:2000], (3, 1))
    with pytest.raises(WasmMemoryError):
        index.insert_batch([f"new-{i}" for i in range(len(many))], many)
    assert index.serialize() == before and len(index) == 600
    assert graph.memory_stats()["clears"] >= 1, "pressure must clear the pool"
    index.insert("small", embeddings[1])  # still fits
    assert "small" in index


def test_pool_reuses_and_zeroes(index: rv.HnswIndex, embeddings: np.ndarray) -> None:
    graph = index._graph
    pool = graph._inst.pool
    start = pool.stats()
    for _ in range(5):
        index.search_batch(embeddings[600:650], k=10)
    stats = pool.stats()
    assert stats["acquired"] - start["acquired"] == 15
    assert stats["reused"] - start["reused"] >= 12
    # released buffers hold zeros
    for size, ptrs in pool.free_lists.items():
        for ptr in ptrs:
            assert not graph._inst.u8[ptr : ptr + size].any()
    pool.clear()
    assert pool.stats()["pooled_bytes"] == 0
    index.search_batch(embeddings[600:610], k=10)


def test_index_runs_on_the_path_asked_for(index: rv.HnswIndex, path: str) -> None:
    if path == "public":
        assert type(index._graph._inst.calls) is _calls.PublicCalls
    else:
        from ruvector_wasm._unchecked import UncheckedCalls

        assert type(index._graph._inst.calls) is UncheckedCalls


def test_version_check() -> None:
    assert _calls.unchecked_supported("50.0.1") and _calls.unchecked_supported("50.1.0")
    assert not any(_calls.unchecked_supported(v) for v in ("51.0.0", "5.0.0", "500.0", "49.0.0"))


def test_both_paths_give_identical_results(embeddings: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    base, queries = embeddings[:800], embeddings[800:850]
    config = rv.HnswConfig(dimensions=384, m=8, ef_construction=40, seed=5)
    results = {}
    for path in PATHS:
        monkeypatch.setattr(_calls, "USE_UNCHECKED", path == "unchecked")
        monkeypatch.setattr(_kernels, "_instance", None)
        runtime = rv.Runtime(backend="wasm")
        index = runtime.hnsw(config)
        index.insert_batch([f"doc-{i}" for i in range(len(base))], base)
        assert index.delete("doc-3") and not index.delete("doc-3")
        allowed = index.allowlist(f"doc-{i}" for i in range(0, len(base), 9))
        ops = runtime.vector_ops
        int8 = ops.quantize(base[:20], rv.QuantizationConfig(kind="int8"))
        binary = ops.quantize(base[:20], rv.QuantizationConfig(kind="binary"))
        results[path] = (
            [index.search(q, k=10, ef=32) for q in queries],
            [a.tolist() for a in index.search_batch(queries, k=10, ef=32)],
            [index.search(q, k=10, ef=32, allow=allowed) for q in queries],
            [a.tolist() for a in index.search_batch(queries, k=10, ef=32, allow=allowed)],
            index.stats(),
            index.serialize(),
            runtime.hnsw_load(index.serialize()).search(queries[0], k=5),
            ops.distance(base[0], base[1], "euclidean"),
            ops.batch_distance(base[0], base, "dot").tolist(),
            ops.normalize(base[:10]).tolist(),
            [int8.codes.tolist(), int8.scales.tolist(), int8.offsets.tolist(), ops.dequantize(int8).tolist()],
            [binary.codes.tolist(), binary.scales.tolist(), ops.dequantize(binary).tolist()],
        )
    assert results["unchecked"] == results["public"]


def test_clean_shutdown() -> None:
    """Threads searching, indexes alive at exit: nothing on stderr, exit code 0."""
    script = textwrap.dedent(
        """
        import threading, numpy as np, ruvector_core as rv
        rt = rv.Runtime(backend="wasm")
        x = np.random.default_rng(0).standard_normal((500, 32)).astype(np.float32)
        ix = rt.hnsw(rv.HnswConfig(dimensions=32))
        ix.insert_batch([str(i) for i in range(500)], x)
        loaded = rt.hnsw_load(ix.serialize())
        ops = rt.vector_ops
        ops.batch_distance(x[0], x)
        def work():
            for q in x[:100]:
                ix.search(q, k=5); loaded.search(q, k=5)
        ts = [threading.Thread(target=work) for _ in range(3)]
        [t.start() for t in ts]; [t.join() for t in ts]
        print("ok")
        """
    )
    run = subprocess.run([sys.executable, "-W", "error", "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr
    assert run.stderr == ""


def test_an_insert_the_index_could_not_save_is_refused(
    path: str, embeddings: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a 64 MiB memory limit inserts used to succeed to 11,400 rows of 384-d while
    serialize failed from 10,000: an insert is now refused unless the index can be saved
    after it, and the refusal changes nothing."""
    monkeypatch.setattr(_host.shared(), "max_memory", 64 * 1024**2)
    index = rv.Runtime(backend="wasm").hnsw(rv.HnswConfig(dimensions=384, m=16, ef_construction=16, seed=5))
    rng = np.random.default_rng(11)
    batch, inserted, refused = 400, 0, None
    while refused is None:
        rows = embeddings[rng.integers(0, len(embeddings), batch)] + rng.normal(0, 0.01, (batch, 384))
        try:
            index.insert_batch([f"r{inserted + i}" for i in range(batch)], rows.astype(np.float32))
        except WasmMemoryError as exc:
            refused = exc
        else:
            inserted += batch
        assert inserted < 20_000, "a 64 MiB limit cannot hold 20,000 rows of 384-d"
    blob = index.serialize()  # every accepted row can be saved
    assert "no room to save the index" in str(refused)
    assert len(index) == inserted and inserted >= 4_000
    loaded = rv.Runtime(backend="wasm").hnsw_load(blob)
    assert len(loaded) == inserted and loaded.search(embeddings[3], k=1) == index.search(embeddings[3], k=1)
    # A batch too large for the room left (a smaller one may now fit in what the save above
    # freed: that is room, correctly used) stays refused after deleting half the rows:
    # deletes leave tombstones to save.
    large = [f"more-{i}" for i in range(5 * batch)]
    with pytest.raises(WasmMemoryError, match="leaves no room"):
        index.insert_batch(large, np.resize(embeddings, (len(large), 384)))
    for i in range(0, inserted, 2):
        index.delete(f"r{i}")
    with pytest.raises(WasmMemoryError, match="leaves no room"):
        index.insert_batch(large, np.resize(embeddings, (len(large), 384)))
    assert len(index) == inserted - inserted // 2 and "more-0" not in index
    index.serialize()
