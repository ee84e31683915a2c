"""What every section of a run is handed: the options, the data, the backends chosen, where
to record and whom to tell about progress. Sections share facts through it (the HNSW
section's build times decide which engines the memory section rebuilds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from .dataset import Embeddings, Split, corpus_texts, short_sentences
from .engines import IndexEngine
from .options import BenchOptions
from .results import Json, Record


class Progress:
    """What a run reports to; the CLI passes a rich progress bar, tests nothing."""

    def data(self, total: int) -> None:
        """Embedding ``total`` corpus rows starts."""

    def data_advance(self, rows: int) -> None: ...

    def expect(self, steps: int) -> None:
        """``steps`` more calls of ``step`` are coming (each section announces its own)."""

    def step(self, description: str) -> None: ...

    def finish(self) -> None: ...


@dataclass(frozen=True)
class Selection:
    """The usable backends chosen for the run, per capability."""

    hnsw: list[str]
    vector_ops: list[str]
    embeddings: list[str]
    learning: list[str]
    infos: list[Json]


@dataclass
class Context:
    options: BenchOptions
    data: Embeddings
    split: Split
    selection: Selection
    peers: list[IndexEngine]  # the peer index engines installed here (when options.peers)
    missing_peers: dict[str, str]  # peer -> why it is not measured
    progress: Progress
    record: Record = field(default_factory=Record)
    build_seconds: dict[str, float] = field(default_factory=dict)  # engine -> median build, when built

    @cached_property
    def sentences(self) -> list[str]:
        """Short sentences for the embedding cases: from the rows' passages, else the corpus's."""
        return short_sentences(self.data.texts if self.data.texts is not None else corpus_texts())
