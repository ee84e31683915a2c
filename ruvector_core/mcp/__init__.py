"""The memory as a Model Context Protocol server (``ruvector mcp``): tools that remember,
recall, forget and learn from feedback, over stdio or streamable HTTP.

Needs the optional extra ``[mcp]`` (the official MCP Python SDK); the CLI imports this
package only when the command runs.
"""

from .auth import BearerTokenAuth, check_binding, is_loopback
from .run import TRANSPORTS, Transport, http_app, serve
from .server import build_server

__all__ = [
    "TRANSPORTS",
    "BearerTokenAuth",
    "Transport",
    "build_server",
    "check_binding",
    "http_app",
    "is_loopback",
    "serve",
]
