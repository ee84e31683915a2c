"""sha256 checks: every model file is verified before ONNX Runtime or tokenizers reads it.

Files the cache makes or downloads without a published digest have theirs recorded beside
them when written, so a file damaged later is noticed and made again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ruvector_core.atomic import write_atomically
from ruvector_core.errors import ModelIntegrityError

_CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, expected: str, model: str, remedy: str) -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise ModelIntegrityError(f"model {model!r}: {path} has sha256 {actual}, expected {expected}; {remedy}")


def verify_bytes(data: bytes, expected: str, model: str, what: str, remedy: str) -> None:
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ModelIntegrityError(f"model {model!r}: {what} has sha256 {actual}, expected {expected}; {remedy}")


def record_digest(path: Path, digest: str) -> None:
    """Keep ``digest`` beside ``path``; write it before ``path`` itself is put in place."""
    write_atomically(_digest_path(path), digest.encode())


def matches_recorded_digest(path: Path, expected: str | None = None) -> bool:
    """Whether ``path`` exists and hashes to ``expected``, else to the digest recorded
    beside it; a file that exists but does not is deleted, so it is made again."""
    if not path.exists():
        return False
    sidecar = _digest_path(path)
    recorded = expected or (sidecar.read_text().strip() if sidecar.exists() else None)
    if recorded is not None and sha256_of(path) == recorded:
        return True
    path.unlink()
    return False


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")
