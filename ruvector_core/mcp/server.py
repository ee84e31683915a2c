"""The memory's MCP tools: ``remember``, ``recall``, ``forget``, ``feedback`` and ``stats``.

Each tool is a coroutine over an ``AsyncMemory``, so a slow embedding or save never stalls
the server's event loop and calls reach the memory one at a time, as it requires. The SDK
derives every tool's input and output schema from the type hints (``schema.py``) and
rejects arguments that do not fit before the tool runs. A ``RuvectorError`` from the memory
(a bad filter, an id already taken) becomes a tool error carrying its message, raised
before anything was written; anything else is reported by the SDK as a failed call
without its details, and the server goes on serving.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from ..errors import RuvectorError
from ..memory import AsyncMemory, Memory
from ..memory.items import DEFAULT_NAMESPACE, SearchMode
from ..version import __version__
from .schema import (
    MAX_IDS,
    MAX_K,
    FeedbackRecorded,
    Forgotten,
    ItemId,
    Metadata,
    Namespace,
    Query,
    Recalled,
    Remembered,
    Stats,
    Text,
    Where,
)

T = TypeVar("T")
WRITING_TOOLS = ("remember", "forget", "feedback")
INSTRUCTIONS = (
    "A long-term memory of texts with metadata, in namespaces. `remember` stores a fact, "
    "`recall` finds the stored facts closest in meaning to a query (or by keywords, or both), "
    "filtered by metadata; `forget` removes facts by id or filter; `feedback` tells the memory how "
    "well a recalled fact answered a query, which it learns from; `stats` tells what is stored."
)


async def _call(call: Awaitable[T]) -> T:
    """Await a memory call; its own errors become tool errors the model can read and act on."""
    try:
        return await call
    except RuvectorError as exc:
        raise ToolError(str(exc)) from exc


def build_server(memory: AsyncMemory, *, read_only: bool = False) -> MCPServer:
    """An MCP server whose tools work on ``memory``; ``read_only`` leaves out the tools
    that write (``WRITING_TOOLS``)."""
    # tool errors are the caller's to read; the server's own log keeps to warnings
    server = MCPServer(name="ruvector", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING")

    async def recall(
        query: Query,
        k: Annotated[int, Field(ge=1, le=MAX_K, description="how many hits, at most")] = 5,
        where: Where = None,
        namespace: Annotated[Namespace | None, Field(description="only this namespace (default: all)")] = None,
        mode: Annotated[
            SearchMode, Field(description="vector: by meaning; keyword: BM25 over the words; hybrid: both")
        ] = "vector",
    ) -> Recalled:
        """Find the stored facts that best match the query, best first, with their text,
        metadata, namespace, id and score."""
        hits = await _call(memory.search(query, k=k, where=where, namespace=namespace, mode=mode))
        return Recalled(hits=hits)

    async def stats() -> Stats:
        """How many facts are stored, per namespace, the embedding model and the backends."""
        return await _call(memory.run(_stats, read_only))

    server.add_tool(recall, annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
    server.add_tool(stats, annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
    if read_only:
        return server

    async def remember(text: Text, metadata: Metadata = None, namespace: Namespace = DEFAULT_NAMESPACE) -> Remembered:
        """Store a fact (a text, with optional metadata) in a namespace; returns its id."""
        (item_id,) = await _call(memory.add(text, metadata=metadata, namespace=namespace))
        return Remembered(id=item_id, namespace=namespace)

    async def forget(
        ids: Annotated[list[ItemId] | None, Field(max_length=MAX_IDS, description="ids of facts to remove")] = None,
        where: Where = None,
        namespace: Annotated[
            Namespace | None, Field(description='the namespace (ids: default "default"; where: default all)')
        ] = None,
    ) -> Forgotten:
        """Remove facts by id, or every fact matching a metadata filter (or both: those of
        the ids that match); returns how many were removed."""
        if ids is None and where is None:
            raise ToolError("give ids or where; nothing was removed")
        removed = await _call(memory.delete(ids=ids, where=where, namespace=namespace))
        return Forgotten(removed=removed)

    async def feedback(
        query: Query,
        id: ItemId,
        reward: Annotated[
            float | None, Field(ge=-1.0, le=1.0, description="how well it answered, from -1 (wrong) to 1 (right)")
        ] = None,
        success: Annotated[bool | None, Field(description="instead of reward: true (1) or false (-1)")] = None,
        namespace: Namespace = DEFAULT_NAMESPACE,
    ) -> FeedbackRecorded:
        """Tell the memory how well the fact with this id (from recall) answered the query:
        give reward or success. The memory learns from this feedback to recall better."""
        seq = await _call(memory.feedback(query, id, reward, success=success, namespace=namespace))
        return FeedbackRecorded(seq=seq, id=id, namespace=namespace)

    server.add_tool(remember, annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False))
    server.add_tool(forget, annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True))
    server.add_tool(feedback, annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False))
    return server


def _stats(memory: Memory, read_only: bool) -> Stats:
    """Read on the memory's worker thread: the index may be replaced by a write."""
    return Stats(
        items=memory.count(),
        namespaces=memory.namespaces(),
        model=memory.model,
        served_by={"embeddings": memory.embedder.backend, "hnsw": memory.index.backend},
        index=memory.index.stats(),
        read_only=read_only,
    )
