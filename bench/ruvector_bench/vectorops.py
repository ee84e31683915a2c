"""Vector-op cases: one distance, one query against 100,000 rows, quantizing one vector
(what the record's 1 ms target is about: compressing an embedding as it is stored) and a
block of 1,000 (throughput).

Each ruvector backend is called through the public ``rt.vector_ops`` (validation included,
as users call it). Peers are the cheapest correct equivalents outside ruvector: numpy
expressions, and FAISS's 8-bit scalar quantizer where FAISS is installed (it keeps one range
per dimension, trained beforehand, where ruvector keeps one per vector; training is untimed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from importlib.util import find_spec

import numpy as np

from ruvector_core.models import QuantizationConfig
from ruvector_core.runtime import Runtime

from .context import Context
from .results import Kind
from .timing import Stat, calls_for, in_blocks, interleaved, time_call, time_per_call

BATCH_DISTANCE_ROWS = 100_000
QUANTIZE_ROWS = 1_000


Sampler = Callable[[], float]  # seconds of one sample
Call = Callable[[], object]


@dataclass(frozen=True)
class OpCase:
    case: str
    label: str
    timers: dict[str, tuple[Kind, Sampler]]  # engine -> (kind, sampler)
    errors: dict[str, str]  # engine -> why it could not be timed
    threaded: bool = False  # engines may use several threads: timed in blocks (see run)


class _Timers:
    """Collects samplers; an engine whose warm-up call raises is recorded, not fatal."""

    def __init__(self) -> None:
        self.timers: dict[str, tuple[Kind, Sampler]] = {}
        self.errors: dict[str, str] = {}

    def add(self, name: str, kind: Kind, make: Callable[[], Sampler]) -> None:
        """``make()`` warms the call up and returns what one sample times."""
        try:
            self.timers[name] = (kind, make())
        except Exception as exc:
            self.errors[name] = f"{type(exc).__name__}: {exc}"


def cases(
    backends: list[str], vectors: np.ndarray, batch_rows: int = BATCH_DISTANCE_ROWS, quantize_rows: int = QUANTIZE_ROWS
) -> list[OpCase]:
    """The vector-op cases for ``backends``, on rows of ``vectors`` (real embeddings)."""
    a, b = vectors[0].copy(), vectors[1].copy()
    matrix = np.ascontiguousarray(np.resize(vectors, (batch_rows, vectors.shape[1])), dtype=np.float32)
    block = np.ascontiguousarray(np.resize(vectors, (quantize_rows, vectors.shape[1])), dtype=np.float32)
    int8, binary = QuantizationConfig(kind="int8"), QuantizationConfig(kind="binary")
    ops = {name: Runtime(backends={"vector_ops": name}).vector_ops for name in backends}

    one = a[None, :]
    distance, batch, q_int8, q_binary = _Timers(), _Timers(), _Timers(), _Timers()
    one_int8, one_binary = _Timers(), _Timers()
    for name, o in ops.items():
        distance.add(name, "ruvector", partial(_micro, partial(o.distance, a, b, "cosine")))
        batch.add(name, "ruvector", partial(_once, partial(o.batch_distance, a, matrix, "cosine")))
        one_int8.add(name, "ruvector", partial(_micro, partial(o.quantize, one, int8)))
        one_binary.add(name, "ruvector", partial(_micro, partial(o.quantize, one, binary)))
        q_int8.add(name, "ruvector", partial(_once, partial(o.quantize, block, int8)))
        q_binary.add(name, "ruvector", partial(_once, partial(o.quantize, block, binary)))
    distance.add(
        "numpy-bare",
        "peer",
        partial(_micro, lambda: 1.0 - float(a @ b) / float(np.linalg.norm(a) * np.linalg.norm(b))),
    )
    batch.add("numpy-bare", "peer", partial(_once, lambda: 1.0 - matrix @ a))  # unit rows: the cheapest cosine
    q_binary.add("numpy-bare", "peer", partial(_once, lambda: np.packbits(block > 0, axis=1)))
    if find_spec("faiss") is not None:
        q_int8.add("faiss-sq8", "peer", lambda: _once(_faiss_sq8(block)))

    rows = f"{batch_rows:,} x {vectors.shape[1]}"
    block_label = f"{quantize_rows:,} x {vectors.shape[1]}"
    return [
        OpCase("distance", f"distance, one pair ({vectors.shape[1]}-d cosine)", distance.timers, distance.errors),
        OpCase("batch_distance", f"batch distance, 1 query vs {rows}", batch.timers, batch.errors, threaded=True),
        OpCase(
            "quantize_int8_one", f"quantize int8, one {vectors.shape[1]}-d vector", one_int8.timers, one_int8.errors
        ),
        OpCase(
            "quantize_binary_one",
            f"quantize binary, one {vectors.shape[1]}-d vector",
            one_binary.timers,
            one_binary.errors,
        ),
        OpCase("quantize_int8", f"quantize int8, {block_label}", q_int8.timers, q_int8.errors, threaded=True),
        OpCase("quantize_binary", f"quantize binary, {block_label}", q_binary.timers, q_binary.errors, threaded=True),
    ]


def _micro(call: Call) -> Sampler:
    """For sub-microsecond to microsecond calls: each sample is the mean of many back-to-back calls."""
    call(), call()  # warm-up (JIT compilation) before calibrating
    number = calls_for(call)
    return lambda: time_per_call(call, number)


def _once(call: Call) -> Sampler:
    """For calls of a millisecond or more: each sample is one call."""
    call()  # warm-up (JIT compilation, first-touch allocations)
    return lambda: time_call(call)


def _faiss_sq8(block: np.ndarray) -> Call:
    import faiss

    sq8 = faiss.ScalarQuantizer(block.shape[1], faiss.ScalarQuantizer.QT_8bit)
    sq8.train(block)  # per-dimension ranges, learned before timing
    return lambda: sq8.compute_codes(block)


PEER_NOTES = {
    ("batch_distance", "numpy-bare"): "1 - M @ q (rows already unit length)",
    ("quantize_int8", "faiss-sq8"): "per-dimension ranges trained beforehand",
    ("quantize_binary", "numpy-bare"): "np.packbits(M > 0) only, no scale",
    ("distance", "numpy-bare"): "1 - a.b / (|a| |b|)",
}


def run(case: OpCase, repeats: int) -> dict[str, Stat]:
    """Single-vector cases interleave engines call by call; cases over many rows, where
    numpy's BLAS and the backends' pools use several threads, go in blocks so that no
    engine runs against another's spinning threads."""
    samplers = {name: sampler for name, (_, sampler) in case.timers.items()}
    return in_blocks(samplers, repeats) if case.threaded else interleaved(samplers, repeats)


def section(context: Context) -> None:
    """Every backend serving ``vector_ops`` on rows of the run's data, beside the peers."""
    options, backends, record = context.options, context.selection.vector_ops, context.record
    op_cases = cases(backends, context.data.vectors, options.batch_distance_rows, options.quantize_rows)
    context.progress.expect(len(op_cases))
    for case in op_cases:
        context.progress.step(case.label)
        stats = run(case, options.micro_repeats)
        for name, (kind, _) in case.timers.items():
            record.figure(case.case, case.label, name, kind, stats[name], PEER_NOTES.get((case.case, name), ""))
        for name, error in case.errors.items():
            kind = "ruvector" if name in backends else "peer"
            record.figure(case.case, case.label, name, kind, None, f"failed: {error}")
