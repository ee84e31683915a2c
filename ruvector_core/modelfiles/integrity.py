"""sha256 checks: every model file is verified before ONNX Runtime or tokenizers reads it."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..errors import ModelIntegrityError

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
        raise ModelIntegrityError(
            f"model {model!r}: {path} has sha256 {actual}, expected {expected}; {remedy}"
        )


def verify_bytes(data: bytes, expected: str, model: str, what: str, remedy: str) -> None:
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ModelIntegrityError(f"model {model!r}: {what} has sha256 {actual}, expected {expected}; {remedy}")
