"""Who may reach the HTTP server: anyone on this machine, or whoever holds the token.

Bound to a loopback address the server is reachable only from this machine, so it needs
no token (one can still be set). Bound to any other address it is reachable from the
network, and it refuses to start without a bearer token. With a token every HTTP request
must carry ``Authorization: Bearer <token>``; the comparison takes the same time whatever
the first differing byte, so the token cannot be guessed one byte at a time.
"""

from __future__ import annotations

import hmac
import ipaddress
import json

from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import InvalidInputError

TOKEN_ENV = "RUVECTOR_MCP_TOKEN"
MIN_TOKEN_LENGTH = 16


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine ("localhost", 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def check_binding(host: str, token: str | None) -> None:
    """Refuse a token that is too short, and a non-loopback address without a token."""
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise InvalidInputError(f"the token must have at least {MIN_TOKEN_LENGTH} characters")
    if token is None and not is_loopback(host):
        raise InvalidInputError(
            f"binding {host} makes the memory reachable from the network: set a bearer token with "
            f"--token or {TOKEN_ENV} (or bind 127.0.0.1)"
        )


class BearerTokenAuth:
    """ASGI middleware: HTTP requests without ``Authorization: Bearer <token>`` get 401."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._authorised(scope):
            await self.app(scope, receive, send)  # lifespan events pass through
            return
        body = json.dumps({"error": "unauthorized", "detail": "a bearer token is required"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="ruvector"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _authorised(self, scope: Scope) -> bool:
        given = [value for name, value in scope["headers"] if name == b"authorization"]
        return len(given) == 1 and hmac.compare_digest(given[0], self._expected)
