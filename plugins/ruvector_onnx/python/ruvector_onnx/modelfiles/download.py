"""Fetching a model file into the cache: progress bar, sha256, atomic, process-safe.

Two processes asking for the same file serialise on a file lock; the file is streamed to a
temporary name in the same folder, fsynced, checked and renamed into place, so a reader
sees either no file or a complete one. The digest of every cached file is kept beside it,
so a file damaged later is noticed and fetched again. A partial file that a killed download
left is removed by the next fetch of that file.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

from filelock import FileLock
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from ruvector_core.atomic import fsync_dir
from ruvector_core.errors import ModelDownloadError, ModelIntegrityError

from .integrity import matches_recorded_digest, record_digest

log = logging.getLogger("ruvector")

_CHUNK = 1 << 16
_TIMEOUT_S = 30
_LOCK_TIMEOUT_S = 3600


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
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response, open(partial, "wb") as out:
            total = _content_length(response)
            with Progress(
                TextColumn(f"downloading {Path(url).name}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                disable=not show_progress,
                transient=True,
            ) as bar:
                task = bar.add_task("download", total=total)
                while block := response.read(_CHUNK):
                    out.write(block)
                    digest.update(block)
                    bar.advance(task, len(block))
            out.flush()
            os.fsync(out.fileno())
            if total is not None and out.tell() != total:
                raise ModelDownloadError(
                    f"model {model!r}: download of {url} ended after {out.tell()} of {total} bytes"
                )
    except (urllib.error.URLError, OSError, ValueError) as exc:
        if isinstance(exc, ModelDownloadError):
            raise
        if isinstance(exc, urllib.error.HTTPError):
            reason = f"HTTP {exc.code} {exc.reason}"
        else:
            reason = str(getattr(exc, "reason", None) or exc)
        raise ModelDownloadError(
            f"model {model!r}: could not download {url} ({reason}); check the URL and the network, "
            "or download the file yourself and pass its local path as the model"
        ) from exc
    return digest.hexdigest()


def _content_length(response: object) -> int | None:
    length = getattr(response, "headers", {}).get("Content-Length")
    return int(length) if length and length.isdigit() else None
