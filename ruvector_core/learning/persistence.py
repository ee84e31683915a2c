"""Saving patterns and adapters: one .npz each (arrays plus a JSON header), written atomically.

Loading never unpickles: arrays are plain numeric ``.npy`` members and the header is JSON,
so a hostile file can at worst fail validation, which raises ``CorruptDataError``.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from ..atomic import write_atomically
from ..errors import CorruptDataError
from .models import LoRAWeights, Pattern

PATTERNS_KIND = "ruvector.patterns"
LORA_KIND = "ruvector.lora"
VERSION = 1


def save_patterns(path: str | Path, patterns: Iterable[Pattern]) -> None:
    patterns = list(patterns)
    records = [p.model_dump(exclude={"embedding"}) for p in patterns]
    embeddings = np.stack([p.embedding for p in patterns]) if patterns else np.zeros((0, 0), np.float32)
    _write(Path(path), PATTERNS_KIND, {"patterns": records}, embeddings=embeddings)


def load_patterns(path: str | Path) -> list[Pattern]:
    header, arrays = _read(Path(path), PATTERNS_KIND)
    embeddings = arrays["embeddings"]
    records = header.get("patterns")
    if not isinstance(records, list) or len(records) != len(embeddings):
        raise CorruptDataError(f"{path}: pattern records and embeddings disagree")
    try:
        return [Pattern(embedding=e, **r) for r, e in zip(records, embeddings, strict=True)]
    except (ValidationError, TypeError) as exc:
        raise CorruptDataError(f"{path}: invalid pattern: {exc}") from None


def save_lora(path: str | Path, lora: LoRAWeights) -> None:
    header = {"alpha": lora.alpha, "final_loss": lora.final_loss, "epochs_run": lora.epochs_run}
    _write(Path(path), LORA_KIND, header, a=lora.a, b=lora.b)


def load_lora(path: str | Path) -> LoRAWeights:
    header, arrays = _read(Path(path), LORA_KIND)
    try:
        return LoRAWeights(a=arrays["a"], b=arrays["b"], **header)
    except (ValidationError, TypeError, KeyError) as exc:
        raise CorruptDataError(f"{path}: invalid adapter: {exc}") from None


def _write(path: Path, kind: str, header: dict[str, Any], **arrays: np.ndarray) -> None:
    buffer = io.BytesIO()
    meta = json.dumps({"kind": kind, "version": VERSION, **header}).encode()
    members: dict[str, Any] = {"header": np.frombuffer(meta, dtype=np.uint8), **arrays}
    np.savez(buffer, **members)  # typed as Any: numpy's stub would read a member as allow_pickle
    write_atomically(path, buffer.getvalue())


def _read(path: Path, kind: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    try:
        with np.load(path, allow_pickle=False) as bundle:
            arrays = {name: bundle[name] for name in bundle.files}
        header = json.loads(arrays.pop("header").tobytes())
    except FileNotFoundError:
        raise
    except (
        OSError,
        ValueError,
        KeyError,
        zipfile.BadZipFile,
        EOFError,
        json.JSONDecodeError,
        UnicodeDecodeError,
    ) as exc:
        raise CorruptDataError(f"{path} is not a readable ruvector file: {exc}") from None
    if not isinstance(header, dict) or header.pop("kind", None) != kind:
        raise CorruptDataError(f"{path} does not hold {kind}")
    if header.pop("version", None) != VERSION:
        raise CorruptDataError(f"{path}: unsupported version")
    return header, arrays
