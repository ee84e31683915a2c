"""Finding backends: read every ``ruvector.backends`` entry point cheaply, load lazily.

An entry point names a ``BackendSpec`` (or a function returning one) in a module that must
be cheap to import. The spec's ``plugin`` module, which may import numba, wasmtime or a
compiled extension, is imported only by ``BackendRecord.load``. Anything that goes wrong on
either step is kept as the backend's ``reason`` instead of being raised.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from .models import BackendInfo, BackendSpec

ENTRY_POINT_GROUP = "ruvector.backends"


@dataclass
class BackendRecord:
    """One discovered backend and what the runtime learned about it so far."""

    name: str
    spec: BackendSpec | None
    entry_point: str | None = None
    module: ModuleType | None = None
    reason: str | None = None  # why it is unusable; None while it may still be usable
    probed: bool = False

    @property
    def usable(self) -> bool:
        return self.spec is not None and self.reason is None

    def info(self) -> BackendInfo:
        spec = self.spec
        return BackendInfo(
            name=self.name,
            version=spec.version if spec else "unknown",
            priority=spec.priority if spec else 0,
            capabilities=sorted(spec.capabilities) if spec else [],
            usable=self.usable and self.probed,
            reason=self.reason if self.probed or self.reason else "not probed yet",
            loaded=self.module is not None,
            entry_point=self.entry_point,
        )


def discover() -> list[BackendRecord]:
    """Every backend declared by an installed distribution, unusable ones included."""
    records: dict[str, BackendRecord] = {}
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (e.name, e.value)):
        record = _read_entry_point(ep)
        if record.name in records:
            record.reason = f"another distribution already declares a backend named {record.name!r}"
            record.name = f"{record.name}@{ep.value}"
            record.probed = True
        records[record.name] = record
    return list(records.values())


def record_for(spec: BackendSpec) -> BackendRecord:
    return BackendRecord(name=spec.name, spec=spec)


def _read_entry_point(ep: Any) -> BackendRecord:
    label = f"{ep.name} = {ep.value}"
    try:
        declared = ep.load()
        spec = declared() if callable(declared) else declared
        if isinstance(spec, dict):
            spec = BackendSpec.model_validate(spec)
        if not isinstance(spec, BackendSpec):
            raise TypeError(f"entry point gave {type(spec).__name__}, expected a BackendSpec")
    except Exception as exc:  # a broken plugin must never stop the runtime
        return BackendRecord(name=ep.name, spec=None, entry_point=label, reason=describe(exc), probed=True)
    return BackendRecord(name=spec.name, spec=spec, entry_point=label)


def import_plugin(record: BackendRecord) -> ModuleType | None:
    """Import the hook module once; on failure record why and return None."""
    assert record.spec is not None
    try:
        return importlib.import_module(record.spec.plugin)
    except BaseException as exc:  # noqa: BLE001 - SystemExit or a native abort hook too
        if isinstance(exc, KeyboardInterrupt):
            raise
        record.reason = f"failed to import {record.spec.plugin}: {describe(exc)}"
        record.probed = True
        return None


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
