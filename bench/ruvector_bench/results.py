"""What a run records (``results.json``): one figure per case and engine, the cases that
could not be measured and why, and the recall curves. Sections add to a ``Record``;
``report`` reads only the JSON-able dicts, so a saved run can be re-rendered."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .timing import Stat, format_seconds

Json = dict[str, Any]
Unit = Literal["s", "B"]  # seconds per operation, or bytes per vector
Kind = Literal["ruvector", "peer", "floor"]  # a floor: the cheapest related work, never the best peer


@dataclass
class Record:
    figures: list[Json] = field(default_factory=list)
    not_applicable: list[Json] = field(default_factory=list)
    curves: list[Json] = field(default_factory=list)

    def figure(
        self,
        case: str,
        label: str,
        engine: str,
        kind: Kind,
        stat: Stat | None,
        note: str = "",
        unit: Unit = "s",
        **extra: Any,
    ) -> None:
        """``stat`` None: the engine failed (say why in ``note``)."""
        self.figures.append(
            {
                "case": case,
                "label": label,
                "engine": engine,
                "kind": kind,
                "unit": unit,
                "stat": stat.to_dict() if stat else None,
                "note": note,
                **extra,
            }
        )

    def skip(self, case: str, label: str, reason: str) -> None:
        """A case nothing could be measured for, and why."""
        self.not_applicable.append({"case": case, "label": label, "reason": reason})


def facade_note(public: float, backend: float) -> str:
    """What a facade costs per call: the public call's median less its backend object's."""
    extra = public - backend
    verb = "adds" if extra >= 0 else "saves"  # noise can make the facade look free
    return f"the facade {verb} {format_seconds(abs(extra))} per call ({extra / public:+.0%})"
