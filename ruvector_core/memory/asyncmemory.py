"""``rv.AsyncMemory``: ``rv.Memory`` for asyncio programs, every call awaited, none blocking
the event loop.

A ``Memory`` is not safe to call from several threads at once: it holds one SQLite
connection whose reads and writes are explicit transactions (two threads reading at the
same moment fail with "cannot start a transaction within a transaction"), an in-memory
index that writes replace, and a writer's file lock that belongs to the thread that took
it. So each ``AsyncMemory`` owns one worker thread and runs every call of its ``Memory``
there, one after another, in the order they were awaited: the event loop stays free while
a call embeds, searches or saves, and the memory sees the sequential use it was written
for. The embedder and the native backend release the GIL, so the loop keeps running
other work meanwhile. Two ``AsyncMemory`` objects on one folder (or another process)
work side by side as separate ``Memory`` objects do.

A call that is cancelled while it runs still finishes in the worker (a thread cannot be
interrupted); its result is dropped.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from .errors import StoreError
from .memory import Memory

P = ParamSpec("P")
R = TypeVar("R")


def _in_worker(
    method: Callable[Concatenate[Memory, P], R],
) -> Callable[Concatenate[AsyncMemory, P], Coroutine[Any, Any, R]]:
    """The coroutine version of one ``Memory`` method: same arguments, same result, same
    errors, run on the memory's worker thread. Its signature and docstring are the method's."""

    async def call(self: AsyncMemory, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await self.run(method, *args, **kwargs)

    functools.update_wrapper(call, method)  # name, docstring and signature of the method
    call.__qualname__ = f"AsyncMemory.{method.__name__}"
    return call


class AsyncMemory:
    """Open with ``await AsyncMemory.open(folder)``; ``await aclose()`` it (or use
    ``async with``) when done. Methods are those of ``Memory``, awaited."""

    def __init__(self, memory: Memory, worker: ThreadPoolExecutor) -> None:
        self._memory = memory
        self._worker = worker
        self._closed = False
        self.model = memory.model
        self.folder = memory.folder
        self.read_only = memory.read_only

    @classmethod
    async def open(cls, path: str | Path, **options: Any) -> AsyncMemory:
        """Open (or create) the memory in folder ``path`` on a new worker thread; ``options``
        are those of ``Memory.open`` (``model``, ``runtime``, ``hnsw``, ``progress``, ``create``,
        ``read_only``)."""
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ruvector-memory")
        try:
            memory = await asyncio.get_running_loop().run_in_executor(
                worker, functools.partial(Memory.open, path, **options)
            )
        except BaseException:
            worker.shutdown(wait=False)
            raise
        return cls(memory, worker)

    async def run(self, function: Callable[Concatenate[Memory, P], R], *args: P.args, **kwargs: P.kwargs) -> R:
        """``function(memory, *args, **kwargs)`` on the worker thread, after every call
        awaited before it: the way to reach what has no coroutine here (``memory.index``,
        a ``with memory.writing():`` block grouping several writes into one save)."""
        if self._closed:
            raise StoreError(f"the memory in {self.folder} is closed")
        call = functools.partial(function, self._memory, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._worker, call)

    add = _in_worker(Memory.add)
    upsert = _in_worker(Memory.upsert)
    delete = _in_worker(Memory.delete)
    get = _in_worker(Memory.get)
    count = _in_worker(Memory.count)
    namespaces = _in_worker(Memory.namespaces)
    distinct = _in_worker(Memory.distinct)
    search = _in_worker(Memory.search)
    feedback = _in_worker(Memory.feedback)
    learn = _in_worker(Memory.learn)
    adapters = _in_worker(Memory.adapters)
    activate = _in_worker(Memory.activate)
    rollback = _in_worker(Memory.rollback)
    patterns = _in_worker(Memory.patterns)

    async def aclose(self) -> None:
        """Close the memory once every call awaited before has finished; closing twice is fine."""
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.get_running_loop().run_in_executor(self._worker, self._memory.close)
        finally:
            self._worker.shutdown(wait=False)

    async def __aenter__(self) -> AsyncMemory:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
