"""``rv.AsyncMemory``: ``Memory``'s methods as coroutines on one worker thread, correct
under many concurrent calls, and never blocking the event loop."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from pathlib import Path

import pytest

import ruvector_core as rv
from ruvector_core.memory import AsyncMemory, Memory, StoreError

FACTS = [
    ("Ana prefers green tea in the morning.", {"user": "ana", "year": 2024}),
    ("Bo is allergic to peanuts.", {"user": "bo", "year": 2023}),
    ("Bo plays the cello in an orchestra.", {"user": "bo", "year": 2025}),
    ("The team standup moved to 9:30.", {"user": "team", "year": 2025}),
]
#: the large add: enough texts that embedding them takes a noticeable while
TOPICS = ("budget", "roadmap", "hiring", "launch")
BULK = [f"Meeting note {i}: the {TOPICS[i % 4]} item number {i}." for i in range(400)]


async def open_with_facts(folder: Path) -> AsyncMemory:
    memory = await rv.AsyncMemory.open(folder, progress=False)
    await memory.add([t for t, _ in FACTS], metadata=[m for _, m in FACTS], ids=[f"f{i}" for i in range(len(FACTS))])
    return memory


def test_every_coroutine_has_the_memory_method_signature() -> None:
    public = {name for name in vars(Memory) if not name.startswith("_")}
    # close is aclose; index and writing are reached through run; folder and read_only are attributes
    attributes = {"folder", "read_only"}
    assert public - set(vars(AsyncMemory)) == {"close", "index", "writing"} | attributes
    for name in public - {"open", "close", "writing", "index"} - attributes:
        method = getattr(AsyncMemory, name)
        assert inspect.iscoroutinefunction(method), name
        assert inspect.signature(method) == inspect.signature(getattr(Memory, name)), name
        assert method.__doc__ == getattr(Memory, name).__doc__


@pytest.mark.asyncio
async def test_methods_work_as_on_memory(tmp_path: Path) -> None:
    async with await open_with_facts(tmp_path / "m") as memory:
        assert await memory.count() == 4 and await memory.namespaces() == {"default": 4}
        assert [i.id for i in await memory.get(["f1", "nope", "f0"])] == ["f1", "f0"]
        assert await memory.distinct("user", where={"year": {"$gte": 2025}}) == {("bo",), ("team",)}
        top = (await memory.search("who cannot eat nuts?", k=1))[0]
        assert top.id == "f1" and top.metadata == {"user": "bo", "year": 2023}
        assert [h.id for h in await memory.search("cello", k=3, mode="keyword")] == ["f2"]
        assert {h.metadata["user"] for h in await memory.search("tea", k=5, mode="hybrid", where={"user": "bo"})} == {
            "bo"
        }
        await memory.upsert("Ana now prefers coffee.", metadata={"user": "ana"}, ids=["f0"])
        assert (await memory.get(["f0"]))[0].text == "Ana now prefers coffee."
        await memory.add("scratch note", namespace="scratch")
        assert await memory.namespaces() == {"default": 4, "scratch": 1}
        assert await memory.delete(where={"user": "bo"}) == 2
        assert await memory.count() == 3
        # errors are Memory's, raised from the awaited call, and change nothing
        with pytest.raises(rv.InvalidInputError, match="already holds"):
            await memory.add("again", ids=["f3"])
        with pytest.raises(rv.InvalidInputError, match="operator"):
            await memory.search("tea", where={"user": {"$regex": "a"}})
        assert await memory.count() == 3
        stats = await memory.run(lambda m: m.index.stats())
        assert stats.count == 3
        first = await memory.feedback("what does Ana drink?", "f0", 1.0)
        assert await memory.feedback("what does Ana drink?", "f0", success=False) == first + 1
        with pytest.raises(rv.InvalidInputError, match="holds no item"):
            await memory.feedback("what does Ana drink?", "gone", 1.0)
        assert await memory.adapters() == []
        with pytest.raises(rv.InvalidInputError, match="nothing to roll back"):
            await memory.rollback()


@pytest.mark.asyncio
async def test_many_concurrent_searches_during_a_large_add_all_complete_correctly(tmp_path: Path) -> None:
    async with await open_with_facts(tmp_path / "m") as memory:
        adding = asyncio.create_task(memory.add(BULK, metadata={"user": "bulk"}, namespace="notes"))
        await asyncio.sleep(0)  # the add is on the worker before the searches are queued
        queries = ["who cannot eat nuts?", "what instrument does Bo play?"] * 25
        searches = [memory.search(q, k=2, where={"user": "bo"}) for q in queries]
        counts = [memory.count(namespace="notes") for _ in range(10)]
        results = await asyncio.gather(*searches)
        seen = await asyncio.gather(*counts)
        added = await adding
        assert len(added) == len(BULK) and len(set(added)) == len(BULK)
        for query, hits in zip(queries, results, strict=True):
            assert [h.id for h in hits][0] == ("f1" if "nuts" in query else "f2")
            assert {h.id for h in hits} == {"f1", "f2"}
        assert all(n in (0, len(BULK)) for n in seen), "a count sees the add either entirely or not at all"
        assert await memory.count() == len(FACTS) + len(BULK)
        found = await memory.search("hiring item number 6", k=3, namespace="notes", mode="keyword")
        assert found[0].text == BULK[6]


@pytest.mark.asyncio
async def test_the_event_loop_keeps_running_while_a_large_add_runs(tmp_path: Path) -> None:
    async with await rv.AsyncMemory.open(tmp_path / "m", progress=False) as memory:
        await memory.add("warm-up")  # the model's first call is not what is measured
        ticks: list[float] = []
        stop = asyncio.Event()

        async def tick() -> None:
            while not stop.is_set():
                ticks.append(time.perf_counter())
                await asyncio.sleep(0.005)

        ticker = asyncio.create_task(tick())
        started = time.perf_counter()
        await memory.add(BULK)
        took = time.perf_counter() - started
        stop.set()
        await ticker
        gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
        assert took > 0.2, "the add must take long enough to tell a blocked loop from a free one"
        assert len(ticks) > 10 and max(gaps) < took / 4, (max(gaps), took)
        assert await memory.count() == 1 + len(BULK)


@pytest.mark.asyncio
async def test_a_second_memory_on_the_folder_reads_while_the_first_adds(tmp_path: Path) -> None:
    async with (
        await open_with_facts(tmp_path / "m") as writer,
        await rv.AsyncMemory.open(tmp_path / "m", progress=False, read_only=True) as reader,
    ):
        adding = asyncio.create_task(writer.add(BULK, namespace="notes"))
        await asyncio.sleep(0)
        hits = await asyncio.gather(*(reader.search("who cannot eat nuts?", k=1) for _ in range(10)))
        assert not adding.done(), "the reader did not wait for the writer's add"
        assert all(h[0].id == "f1" for h in hits)
        await adding
        assert await reader.count(namespace="notes") == len(BULK), "the reader sees the committed add"


@pytest.mark.asyncio
async def test_calls_from_another_thread_and_loop_are_serialised_too(tmp_path: Path) -> None:
    async with await open_with_facts(tmp_path / "m") as memory:
        loop = asyncio.get_running_loop()
        outcome: list[object] = []

        def other_loop() -> None:  # a second event loop in a thread shares the same memory
            async def work() -> list[int]:
                return [await memory.count() for _ in range(20)]

            outcome.append(asyncio.run(work()))

        thread = threading.Thread(target=other_loop)
        thread.start()
        mine = await asyncio.gather(*(memory.search("tea", k=1) for _ in range(20)))
        await loop.run_in_executor(None, thread.join)
        assert outcome == [[4] * 20] and all(hits[0].id == "f0" for hits in mine)


@pytest.mark.asyncio
async def test_closing(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store"):
        await rv.AsyncMemory.open(tmp_path / "missing", create=False, progress=False)
    memory = await rv.AsyncMemory.open(tmp_path / "m", progress=False)
    pending = asyncio.create_task(memory.add("written before the close"))
    await asyncio.sleep(0)  # the add is queued on the worker
    await memory.aclose()  # runs after the calls queued before it ...
    await memory.aclose()  # ... and twice is fine
    assert len(await pending) == 1
    with pytest.raises(StoreError, match="closed"):
        await memory.count()
    with Memory.open(tmp_path / "m", progress=False) as reopened:
        assert reopened.count() == 1
