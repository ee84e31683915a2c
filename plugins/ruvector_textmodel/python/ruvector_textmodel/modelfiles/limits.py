"""How far a model download may go: an overall deadline, a size cap and the hosts a
redirect may lead to, each read from the environment when a download starts.

- ``RUVECTOR_DOWNLOAD_TIMEOUT``: seconds the whole download may take (default 600), so a
  server that drips a byte now and then cannot hold a process forever.
- ``RUVECTOR_DOWNLOAD_MAX_BYTES``: the largest file accepted (default 2 GiB), refused as
  the bytes arrive, not after they have filled the disk.
- ``RUVECTOR_DOWNLOAD_ALLOW_HOSTS``: comma-separated host names a redirect may lead to
  besides the URL's own host (``*`` for any); by default none, so a redirect cannot
  quietly swap the server the model comes from.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from ruvector_core.errors import ModelError

ENV_TIMEOUT = "RUVECTOR_DOWNLOAD_TIMEOUT"
ENV_MAX_BYTES = "RUVECTOR_DOWNLOAD_MAX_BYTES"
ENV_ALLOW_HOSTS = "RUVECTOR_DOWNLOAD_ALLOW_HOSTS"

DEFAULT_TIMEOUT_S = 600.0
DEFAULT_MAX_BYTES = 2 << 30


@dataclass(frozen=True)
class DownloadLimits:
    deadline_s: float = DEFAULT_TIMEOUT_S
    max_bytes: int = DEFAULT_MAX_BYTES
    redirect_hosts: frozenset[str] = frozenset()

    def allows_redirect(self, source_host: str | None, target_host: str | None) -> bool:
        if target_host is not None and target_host.lower() == (source_host or "").lower():
            return True
        return "*" in self.redirect_hosts or (target_host or "").lower() in self.redirect_hosts


def from_environment() -> DownloadLimits:
    """The limits the environment sets; a value that is not a positive number is a
    ``ModelError`` naming the variable, never a silent default."""
    hosts = os.environ.get(ENV_ALLOW_HOSTS, "")
    return DownloadLimits(
        deadline_s=_positive(ENV_TIMEOUT, float, DEFAULT_TIMEOUT_S),
        max_bytes=int(_positive(ENV_MAX_BYTES, int, DEFAULT_MAX_BYTES)),
        redirect_hosts=frozenset(h.strip().lower() for h in hosts.split(",") if h.strip()),
    )


def _positive(name: str, kind: type[float] | type[int], default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = kind(raw.strip())
    except ValueError:
        value = -1
    if not math.isfinite(value) or value <= 0:
        raise ModelError(f"{name}={raw!r} is not a positive number")
    return value
