"""What one benchmark run measures and how many times: the quick and full presets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

FULL_EFS = (10, 16, 20, 32, 50, 64, 80, 128, 160, 200)
QUICK_EFS = (16, 50, 128)
HEADLINE_EF = 50  # HnswConfig's default ef_search, and a column of the reference figures
RECALL_GOAL = 0.95  # the conformance suite's floor for recall@10
SECTIONS = (
    "embed",
    "vector-ops",
    "hnsw",
    "quantized",
    "filter",
    "agent",
    "hybrid",
    "learning",
    "pattern",
    "memory",
    "startup",
    "scale-out",
)  # in the order a run measures them


def ordered_sections(names: Iterable[str]) -> tuple[str, ...]:
    """``names`` in the order a run measures them: later sections use earlier ones' results."""
    names = list(names)
    unknown = [name for name in names if name not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown section {', '.join(unknown)}; the sections are {', '.join(SECTIONS)}")
    return tuple(name for name in SECTIONS if name in names)


@dataclass(frozen=True)
class BenchOptions:
    quick: bool = False
    data: Path | None = None  # a .npy of embeddings to use instead of the corpus
    sections: tuple[str, ...] = SECTIONS
    size: int | None = None  # base rows; None: every row after the queries
    queries: int = 1000
    efs: tuple[int, ...] = FULL_EFS
    threads: int = 1
    backends: tuple[str, ...] = ()  # ruvector backends to measure; empty: every usable one
    peers: bool = True
    k: int = 10
    passes: int = 3  # timed passes over all queries per ef
    build_repeats: int = 3
    build_budget: float = 60.0  # seconds of building per engine after which builds stop repeating
    micro_repeats: int = 21  # samples per vector-op figure
    embed_repeats: tuple[int, int] = (100, 30)  # samples of embed single, embed batch of 32
    pattern_repeats: int = 200  # queries timed per pattern-match engine
    batch_repeats: int = 9  # timed calls of a batch search of every query
    insert_repeats: int = 200  # single-vector inserts timed per engine
    startup_repeats: int = 3  # new processes with a warm cache, per backend and start-up case
    batch_distance_rows: int = 100_000
    quantize_rows: int = 1_000
    quick_fixture: bool = True  # --quick with a cold cache: use the conformance fixture

    def __post_init__(self) -> None:
        object.__setattr__(self, "sections", ordered_sections(self.sections))

    @classmethod
    def preset(cls, quick: bool, **overrides: Any) -> BenchOptions:
        base = cls.quick_preset() if quick else cls()
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def quick_preset(cls) -> BenchOptions:
        return cls(
            quick=True,
            size=5_000,
            queries=200,
            efs=QUICK_EFS,
            passes=2,
            build_repeats=3,
            build_budget=4.0,
            micro_repeats=9,
            embed_repeats=(30, 10),
            pattern_repeats=50,
            batch_repeats=5,
            insert_repeats=50,
            startup_repeats=1,
        )

    @property
    def headline_ef(self) -> int:
        return min(self.efs, key=lambda ef: (abs(ef - HEADLINE_EF), ef))

    def to_dict(self) -> dict[str, Any]:
        settings = asdict(self)
        settings["data"] = str(self.data) if self.data else None
        settings["headline_ef"] = self.headline_ef
        return settings
