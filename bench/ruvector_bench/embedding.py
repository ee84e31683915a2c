"""Embedding cases: ``embed`` one short sentence and ``embed_batch`` of 32, next to a bare
ONNX Runtime session fed the same pre-tokenized inputs.

The bare session is the ruvector embedder's own session recipe (same fused model file,
threads and options; see ``ruvector_onnx.session``) and runs only the transformer on the whole batch
padded to its longest text; the difference is what ruvector adds (validation,
tokenization, padding, pooling and normalisation) less what its length-sorted runs save.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ruvector_core.models import EmbedderConfig
from ruvector_core.runtime import Runtime

from .context import Context
from .timing import Stat, in_blocks, time_call


@dataclass(frozen=True)
class EmbedResult:
    case: str  # "embed_single" or "embed_batch32"
    backend: str
    ruvector: Stat
    bare_ort: Stat

    @property
    def overhead(self) -> float:
        """ruvector's extra time over the bare session, as a fraction (0.12 = 12 %)."""
        return self.ruvector.median / self.bare_ort.median - 1.0


class BareOrt:
    """The model's ONNX session alone, with ruvector's session options."""

    def __init__(self, config: EmbedderConfig) -> None:
        from ruvector_onnx.embedder import load
        from ruvector_textmodel.modelfiles import resolve

        self.tokenizer, self.session = load(resolve(config), config)
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.output = self.session.get_outputs()[0].name

    def feeds(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Padded int64 inputs for ``texts``, built once before timing."""
        from ruvector_textmodel.tokens import padded_inputs

        ids = [e.ids for e in self.tokenizer.encode_batch(texts)]
        all_feeds = padded_inputs(ids, max(len(t) for t in ids))
        return {name: all_feeds[name] for name in self.inputs}

    def runner(self, feeds: dict[str, np.ndarray]) -> Callable[[], object]:
        session, output = self.session, [self.output]
        return lambda: session.run(output, feeds)


def bench_embeddings(
    backend: str, sentences: list[str], threads: int, single_repeats: int, batch_repeats: int
) -> list[EmbedResult]:
    config = EmbedderConfig(threads=threads, progress=False)
    embedder = Runtime(backends={"embeddings": backend}).embedder(config)
    bare = BareOrt(config)
    single, batch = sentences[0], sentences[:32]
    single_feeds, batch_feeds = bare.feeds([single]), bare.feeds(batch)
    run_single, run_batch = bare.runner(single_feeds), bare.runner(batch_feeds)
    with embedder:
        for _ in range(3):  # warm up both sessions (allocations, thread pools)
            embedder.embed(single), run_single(), embedder.embed_batch(batch), run_batch()
        # in blocks: ORT's pool threads spin after a run, and would slow the other session's call
        singles = in_blocks(
            {"ruvector": lambda: time_call(lambda: embedder.embed(single)), "ort": lambda: time_call(run_single)},
            single_repeats,
        )
        batches = in_blocks(
            {"ruvector": lambda: time_call(lambda: embedder.embed_batch(batch)), "ort": lambda: time_call(run_batch)},
            batch_repeats,
        )
    return [
        EmbedResult("embed_single", backend, singles["ruvector"], singles["ort"]),
        EmbedResult("embed_batch32", backend, batches["ruvector"], batches["ort"]),
    ]


LABELS = {
    "embed_single": "embed one short sentence",
    "embed_batch32": "embed a batch of 32 short sentences",
}


def section(context: Context) -> None:
    """Every backend serving ``embeddings``, each beside the bare session."""
    record, backends = context.record, context.selection.embeddings
    if not backends:
        for case, label in LABELS.items():
            record.skip(case, label, "no selected backend serves `embeddings`")
    context.progress.expect(len(backends))
    for backend in backends:
        context.progress.step(f"embed ({backend} vs bare onnxruntime)")
        options = context.options
        try:
            results = bench_embeddings(backend, context.sentences, options.threads, *options.embed_repeats)
        except Exception as exc:  # a broken backend is reported, not fatal
            for case, label in LABELS.items():
                record.skip(case, label, f"{backend}: {type(exc).__name__}: {exc}")
            continue
        for result in results:
            record.figure(result.case, LABELS[result.case], backend, "ruvector", result.ruvector)
            record.figure(result.case, LABELS[result.case], "onnxruntime-bare", "peer", result.bare_ort)
