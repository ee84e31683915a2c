"""Serving the memory over stdio or streamable HTTP until the client (or Ctrl-C) ends it."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Literal

import uvicorn
from mcp.server.mcpserver import MCPServer
from starlette.types import ASGIApp

from ..memory import AsyncMemory
from .auth import BearerTokenAuth, check_binding
from .server import build_server

Transport = Literal["stdio", "http"]
TRANSPORTS: tuple[Transport, ...] = ("stdio", "http")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
HTTP_PATH = "/mcp"


def serve(
    db: str | Path,
    *,
    transport: Transport = "stdio",
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    token: str | None = None,
    read_only: bool = False,
    model: str | None = None,
) -> None:
    """Serve the memory in folder ``db``. A read-only server needs an existing store, opens
    it read-only and offers no tool that writes; HTTP on a non-loopback ``host`` needs a ``token``."""
    if transport == "http":
        check_binding(host, token)  # before the model loads: a refused start is immediate
    asyncio.run(_serve(Path(db), transport, host, port, token, read_only, model))


async def _serve(
    db: Path, transport: Transport, host: str, port: int, token: str | None, read_only: bool, model: str | None
) -> None:
    # progress bars would write to stdout, which is the stdio transport's channel
    async with await AsyncMemory.open(db, model=model, progress=False, read_only=read_only) as memory:
        server = build_server(memory, read_only=read_only)
        if transport == "stdio":
            await server.run_stdio_async()
            return
        config = uvicorn.Config(http_app(server, host, token), host=host, port=port, log_level="warning")
        shown = f"[{host}]" if ":" in host else host
        guard = "a bearer token" if token is not None else "no token (loopback)"
        print(f"serving {db} at http://{shown}:{port}{HTTP_PATH} with {guard}; Ctrl-C stops", file=sys.stderr)
        await uvicorn.Server(config).serve()


def http_app(server: MCPServer, host: str, token: str | None) -> ASGIApp:
    """The streamable HTTP endpoint at ``/mcp``, behind the bearer token when there is one.
    Given the host it binds, the SDK also checks Host and Origin headers on loopback
    (DNS rebinding protection)."""
    app: ASGIApp = server.streamable_http_app(streamable_http_path=HTTP_PATH, host=host)
    return app if token is None else BearerTokenAuth(app, token)
