"""Fetching a model file into the cache: progress bar, sha256, limits, atomic, process-safe.

Two processes asking for the same file serialise on a file lock; the file is streamed to a
temporary name in the same folder, fsynced, checked and renamed into place, so a reader
sees either no file or a complete one. The digest of every cached file is kept beside it,
so a file damaged later is noticed and fetched again. A partial file that a killed download
left is removed by the next fetch of that file.

Nothing is committed unless the body is exactly as long as the server's Content-Length said
and matches the sha256 when one is given; a download also stops at the deadline, the size cap
and a redirect to another host (see ``limits``), each a ``ModelDownloadError``.
"""

from __future__ import annotations

import glob
import hashlib
import http.client
import logging
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from filelock import FileLock
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from ruvector_core.atomic import fsync_dir
from ruvector_core.errors import ModelDownloadError, ModelIntegrityError

from .integrity import matches_recorded_digest, record_digest
from .limits import ENV_ALLOW_HOSTS, ENV_MAX_BYTES, ENV_TIMEOUT, DownloadLimits, from_environment

log = logging.getLogger("ruvector")

_CHUNK = 1 << 16
_TIMEOUT_S = 30
_LOCK_TIMEOUT_S = 3600
_CLOCK_SLACK_S = 0.05


def fetch(url: str, dest: Path, expected_sha256: str | None, model: str, progress: bool) -> Path:
    """``dest`` holding the verified content of ``url``, downloading it only if needed."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{dest}.lock", timeout=_LOCK_TIMEOUT_S):
        # every fetch of this file holds the lock, so a partial file seen here was left by a
        # download that was killed: nothing will ever finish or remove it but this
        for stale in dest.parent.glob(f"{glob.escape(dest.name)}.*.part"):
            stale.unlink(missing_ok=True)
        if _cached_copy_is_good(dest, expected_sha256, model):
            return dest
        partial = dest.with_name(f"{dest.name}.{os.getpid()}.part")
        try:
            digest = _stream(url, partial, model, progress)
            if expected_sha256 is not None and digest != expected_sha256:
                raise ModelIntegrityError(
                    f"model {model!r}: {url} has sha256 {digest}, expected {expected_sha256}; "
                    "the file on the server is not the one expected: check the URL and the sha256"
                )
            record_digest(dest, digest)
            os.replace(partial, dest)
            fsync_dir(dest.parent)
        finally:
            partial.unlink(missing_ok=True)
    return dest


def _cached_copy_is_good(dest: Path, expected: str | None, model: str) -> bool:
    existed = dest.exists()
    if matches_recorded_digest(dest, expected):
        return True
    if existed:
        log.warning("model %r: cached %s is corrupt or unverified; fetching it again", model, dest)
    return False


def _stream(url: str, partial: Path, model: str, show_progress: bool) -> str:
    limits = from_environment()
    deadline_at = time.monotonic() + limits.deadline_s
    digest = hashlib.sha256()
    opener = urllib.request.build_opener(_RedirectGuard(limits, model))
    try:
        # no single read may wait past the deadline either
        with opener.open(url, timeout=min(_TIMEOUT_S, limits.deadline_s)) as response, open(partial, "wb") as out:
            total = _content_length(response)
            if total is not None and total > limits.max_bytes:
                raise _too_large(model, url, total, limits)
            _read_to_close(response)
            with Progress(
                TextColumn(f"downloading {Path(url).name}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                disable=not show_progress,
                transient=True,
            ) as bar:
                task = bar.add_task("download", total=total)
                while block := response.read1(_CHUNK):
                    out.write(block)
                    digest.update(block)
                    bar.advance(task, len(block))
                    if out.tell() > limits.max_bytes:
                        raise _too_large(model, url, out.tell(), limits)
                    if time.monotonic() > deadline_at:
                        raise _too_slow(model, url, out.tell(), limits)
            out.flush()
            os.fsync(out.fileno())
            if total is not None and out.tell() != total:
                raise ModelDownloadError(
                    f"model {model!r}: {url} sent {out.tell()} bytes where its Content-Length said {total}; "
                    "nothing was cached"
                )
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        if isinstance(exc, ModelDownloadError):
            raise
        if isinstance(exc, TimeoutError) and time.monotonic() >= deadline_at - _CLOCK_SLACK_S:
            raise _too_slow(model, url, partial.stat().st_size if partial.exists() else 0, limits) from exc
        if isinstance(exc, urllib.error.HTTPError):
            reason = f"HTTP {exc.code} {exc.reason}"
        else:
            reason = str(getattr(exc, "reason", None) or exc)
        raise ModelDownloadError(
            f"model {model!r}: could not download {url} ({reason}); check the URL and the network, "
            "or download the file yourself and pass its local path as the model"
        ) from exc
    return digest.hexdigest()


class _RedirectGuard(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to the same host or to one the limits allow."""

    def __init__(self, limits: DownloadLimits, model: str) -> None:
        self._limits = limits
        self._model = model

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        source, target = urlsplit(req.full_url).hostname, urlsplit(newurl).hostname
        if not self._limits.allows_redirect(source, target):
            fp.close()
            raise ModelDownloadError(
                f"model {self._model!r}: {req.full_url} redirects to another host ({newurl}); refused. "
                f"Allow it with {ENV_ALLOW_HOSTS}={target}, or use the final URL"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _read_to_close(response: object) -> None:
    """Make a response whose connection closes after it read to the close, not only to its
    Content-Length, so a server that sends more than it announced is noticed (the client
    asks for ``Connection: close``, so the close marks the body's real end)."""
    if isinstance(response, http.client.HTTPResponse) and response.will_close and not response.chunked:
        response.length = None


def _too_large(model: str, url: str, size: int, limits: DownloadLimits) -> ModelDownloadError:
    return ModelDownloadError(
        f"model {model!r}: {url} is larger than the {limits.max_bytes}-byte cap ({size} bytes); "
        f"raise {ENV_MAX_BYTES} if the file is meant to be that large"
    )


def _too_slow(model: str, url: str, received: int, limits: DownloadLimits) -> ModelDownloadError:
    return ModelDownloadError(
        f"model {model!r}: download of {url} did not finish within {limits.deadline_s:g} s "
        f"({received} bytes received); raise {ENV_TIMEOUT} for a slow link"
    )


def _content_length(response: object) -> int | None:
    length = getattr(response, "headers", {}).get("Content-Length")
    return int(length) if length and length.isdigit() else None
