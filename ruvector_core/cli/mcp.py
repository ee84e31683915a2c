"""``ruvector mcp``: the memory as an MCP server, for agents that reach tools over MCP.

The server and the MCP SDK are imported only when the command runs, so ``ruvector``
works without the ``[mcp]`` extra, and says how to install it when it is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

#: modules that come with the ``[mcp]`` extra
EXTRA_MODULES = frozenset({"mcp", "mcp_types", "uvicorn", "starlette"})


def mcp(
    db: Annotated[Path, typer.Option("--db", help="folder holding the store")],
    transport: Annotated[
        str, typer.Option(help="stdio (a client starts the server) or http (streamable HTTP)")
    ] = "stdio",
    host: Annotated[str, typer.Option(help="address to bind over http; not loopback: needs --token")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port over http (the endpoint is /mcp)")] = 8765,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="RUVECTOR_MCP_TOKEN", help="bearer token every HTTP request must carry", show_default=False
        ),
    ] = None,
    read_only: Annotated[bool, typer.Option("--read-only", help="offer only recall and stats")] = False,
    model: Annotated[str | None, typer.Option(help="model name, folder, .onnx file or URL")] = None,
) -> None:
    """Serve the store at --db to MCP clients: tools remember, recall, forget, feedback, stats."""
    try:
        from ..mcp import TRANSPORTS, Transport, serve
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in EXTRA_MODULES:
            raise
        typer.echo(
            f"error: ruvector mcp needs the MCP SDK ({exc}); install it with: pip install 'ruvec[mcp]'", err=True
        )
        raise typer.Exit(1) from None
    if transport not in TRANSPORTS:
        typer.echo(f"error: --transport must be one of {', '.join(TRANSPORTS)}, got {transport!r}", err=True)
        raise typer.Exit(2)
    chosen: Transport = "http" if transport == "http" else "stdio"
    try:
        serve(db, transport=chosen, host=host, port=port, token=token, read_only=read_only, model=model)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
