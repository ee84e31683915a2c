"""Saving patterns and adapters: one .npz each (arrays plus a JSON header), written atomically,
or the same bytes kept elsewhere (a memory keeps its adapters and their Fisher information
in its SQLite file).

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
from .models import FisherMatrix, LoRAWeights, ModelWeights, Pattern

PATTERNS_KIND = "ruvector.patterns"
LORA_KIND = "ruvector.lora"
FISHER_KIND = "ruvector.fisher"
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
    write_atomically(Path(path), lora_bytes(lora))


def load_lora(path: str | Path) -> LoRAWeights:
    return parse_lora(Path(path).read_bytes(), str(path))


def lora_bytes(lora: LoRAWeights) -> bytes:
    header = {"alpha": lora.alpha, "final_loss": lora.final_loss, "epochs_run": lora.epochs_run}
    return _encode(LORA_KIND, header, a=lora.a, b=lora.b)


def parse_lora(data: bytes, source: str = "adapter") -> LoRAWeights:
    header, arrays = _decode(data, source, LORA_KIND)
    try:
        return LoRAWeights(a=arrays["a"], b=arrays["b"], **header)
    except (ValidationError, TypeError, KeyError) as exc:
        raise CorruptDataError(f"{source}: invalid adapter: {exc}") from None


def fisher_bytes(fisher: FisherMatrix) -> bytes:
    arrays = {f"diagonal/{n}": t for n, t in fisher.diagonal.tensors.items()}
    arrays.update({f"anchor/{n}": t for n, t in fisher.anchor.tensors.items()})
    return _encode(FISHER_KIND, {"samples": fisher.samples}, **arrays)


def parse_fisher(data: bytes, source: str = "Fisher information") -> FisherMatrix:
    header, arrays = _decode(data, source, FISHER_KIND)
    parts: dict[str, dict[str, np.ndarray]] = {"diagonal": {}, "anchor": {}}
    try:
        for name, array in arrays.items():
            part, _, tensor = name.partition("/")
            parts[part][tensor] = array
        return FisherMatrix(
            diagonal=ModelWeights(tensors=parts["diagonal"]), anchor=ModelWeights(tensors=parts["anchor"]), **header
        )
    except (ValidationError, TypeError, KeyError) as exc:
        raise CorruptDataError(f"{source}: invalid Fisher information: {exc}") from None


def _write(path: Path, kind: str, header: dict[str, Any], **arrays: np.ndarray) -> None:
    write_atomically(path, _encode(kind, header, **arrays))


def _encode(kind: str, header: dict[str, Any], **arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    meta = json.dumps({"kind": kind, "version": VERSION, **header}).encode()
    members: dict[str, Any] = {"header": np.frombuffer(meta, dtype=np.uint8), **arrays}
    np.savez(buffer, **members)  # typed as Any: numpy's stub would read a member as allow_pickle
    return buffer.getvalue()


def _read(path: Path, kind: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    return _decode(path.read_bytes(), str(path), kind)


def _decode(data: bytes, source: str, kind: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as bundle:
            arrays = {name: bundle[name] for name in bundle.files}
        header = json.loads(arrays.pop("header").tobytes())
    except (
        OSError,
        ValueError,
        KeyError,
        zipfile.BadZipFile,
        EOFError,
        json.JSONDecodeError,
        UnicodeDecodeError,
    ) as exc:
        raise CorruptDataError(f"{source} is not a readable ruvector file: {exc}") from None
    if not isinstance(header, dict) or header.pop("kind", None) != kind:
        raise CorruptDataError(f"{source} does not hold {kind}")
    if header.pop("version", None) != VERSION:
        raise CorruptDataError(f"{source}: unsupported version")
    return header, arrays
