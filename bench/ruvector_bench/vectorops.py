"""Vector-op cases: one distance, one query against 100,000 rows in each metric, quantizing
one vector (what the 1 ms target is about: compressing an embedding as it is
stored) and a block of 1,000 (throughput).

Each ruvector backend is called through the public ``rt.vector_ops`` (validation included,
as users call it), and for one distance also through the kernels object behind it (the
difference is what the facade costs per call). Peers are the cheapest correct equivalents
outside ruvector: numpy expressions, and FAISS's 8-bit scalar quantizer where FAISS is
installed (it keeps one range per dimension, trained beforehand, where ruvector keeps one
per vector; training is untimed). Floors, never counted as peers, are the least work of the
kind: one numpy call, and one core reading the matrix once (threads can read faster).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from importlib.util import find_spec

import numpy as np

from ruvector_core.models import Metric, QuantizationConfig
from ruvector_core.runtime import Runtime

from .context import Context
from .results import Kind, facade_note
from .timing import Stat, calls_for, in_blocks, interleaved, time_call, time_per_call

BATCH_DISTANCE_ROWS = 100_000
QUANTIZE_ROWS = 1_000
BATCH_CASES: dict[Metric, str] = {
    "cosine": "batch_distance",
    "dot": "batch_distance_dot",
    "euclidean": "batch_distance_euclidean",
}


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
    """Collects one case's samplers; an engine whose warm-up call raises is recorded, not fatal."""

    def __init__(self, case: str, label: str, threaded: bool = False) -> None:
        self.name, self.label, self.threaded = case, label, threaded
        self.timers: dict[str, tuple[Kind, Sampler]] = {}
        self.errors: dict[str, str] = {}

    def add(self, name: str, kind: Kind, make: Callable[[], Sampler]) -> None:
        """``make()`` warms the call up and returns what one sample times."""
        try:
            self.timers[name] = (kind, make())
        except Exception as exc:
            self.errors[name] = f"{type(exc).__name__}: {exc}"

    def case(self) -> OpCase:
        return OpCase(self.name, self.label, self.timers, self.errors, self.threaded)


def cases(
    backends: list[str], vectors: np.ndarray, batch_rows: int = BATCH_DISTANCE_ROWS, quantize_rows: int = QUANTIZE_ROWS
) -> list[OpCase]:
    """The vector-op cases for ``backends``, on rows of ``vectors`` (real embeddings)."""
    d = vectors.shape[1]
    a, b = vectors[0].copy(), vectors[1].copy()
    matrix = np.ascontiguousarray(np.resize(vectors, (batch_rows, d)), dtype=np.float32)
    block = np.ascontiguousarray(np.resize(vectors, (quantize_rows, d)), dtype=np.float32)
    int8, binary = QuantizationConfig(kind="int8"), QuantizationConfig(kind="binary")
    ops = {name: Runtime(backends={"vector_ops": name}).vector_ops for name in backends}
    rows, block_rows = f"{batch_rows:,} x {d}", f"{quantize_rows:,} x {d}"

    distance = _Timers("distance", f"distance, one pair ({d}-d cosine)")
    kernels = _Timers(
        "distance_kernels", f"distance, one pair ({d}-d cosine), the backend's kernels without the facade"
    )
    batches = {
        metric: _Timers(case, f"batch distance ({metric}), 1 query vs {rows}", threaded=True)
        for metric, case in BATCH_CASES.items()
    }
    one_int8 = _Timers("quantize_int8_one", f"quantize int8, one {d}-d vector")
    one_binary = _Timers("quantize_binary_one", f"quantize binary, one {d}-d vector")
    q_int8 = _Timers("quantize_int8", f"quantize int8, {block_rows}", threaded=True)
    q_binary = _Timers("quantize_binary", f"quantize binary, {block_rows}", threaded=True)
    one = a[None, :]
    for name, o in ops.items():
        distance.add(name, "ruvector", partial(_micro, partial(o.distance, a, b, "cosine")))
        kernels.add(name, "ruvector", partial(_micro, partial(o._kernels.distance, a, b, "cosine")))
        for metric, batch in batches.items():
            batch.add(name, "ruvector", partial(_once, partial(o.batch_distance, a, matrix, metric)))
        one_int8.add(name, "ruvector", partial(_micro, partial(o.quantize, one, int8)))
        one_binary.add(name, "ruvector", partial(_micro, partial(o.quantize, one, binary)))
        q_int8.add(name, "ruvector", partial(_once, partial(o.quantize, block, int8)))
        q_binary.add(name, "ruvector", partial(_once, partial(o.quantize, block, binary)))

    distance.add(
        "numpy-bare",
        "peer",
        partial(_micro, lambda: 1.0 - float(a @ b) / float(np.linalg.norm(a) * np.linalg.norm(b))),
    )
    distance.add("numpy a@b", "floor", partial(_micro, lambda: a @ b))
    for metric, batch in batches.items():
        batch.add("numpy-bare", "peer", partial(_once, batch_peer(metric, matrix, a)))
        batch.add("numpy read", "floor", partial(_once, matrix.max))
    q_binary.add("numpy-bare", "peer", partial(_once, lambda: np.packbits(block > 0, axis=1)))
    if find_spec("faiss") is not None:
        q_int8.add("faiss-sq8", "peer", lambda: _once(_faiss_sq8(block)))
    timers = [distance, kernels, *batches.values(), one_int8, one_binary, q_int8, q_binary]
    return [t.case() for t in timers]


def batch_peer(metric: Metric, matrix: np.ndarray, query: np.ndarray) -> Call:
    """The cheapest numpy expression of ``batch_distance``: one ``M @ q`` and an elementwise
    step. Cosine takes the rows and the query as unit length (as embeddings are); euclidean's row norms
    are computed here, before timing."""
    if metric == "cosine":
        return lambda: 1.0 - matrix @ query
    if metric == "dot":
        return lambda: -(matrix @ query)
    squares, query_square = np.einsum("ij,ij->i", matrix, matrix), float(query @ query)
    return lambda: np.sqrt(np.maximum(squares - 2.0 * (matrix @ query) + query_square, 0.0))


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


FACADE_OF = {"distance_kernels": "distance"}  # the case timing the same call through the facade
PEER_NOTES = {
    ("batch_distance", "numpy-bare"): "1 - M @ q (rows already unit length)",
    ("batch_distance_dot", "numpy-bare"): "-(M @ q)",
    ("batch_distance_euclidean", "numpy-bare"): "from M @ q and row norms computed beforehand",
    **{(case, "numpy read"): "M.max(): one core reading every row once" for case in BATCH_CASES.values()},
    ("quantize_int8", "faiss-sq8"): "per-dimension ranges trained beforehand",
    ("quantize_binary", "numpy-bare"): "np.packbits(M > 0) only, no scale",
    ("distance", "numpy-bare"): "1 - a.b / (|a| |b|)",
    ("distance", "numpy a@b"): "a @ b alone: the cost of one numpy call",
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
    medians: dict[str, dict[str, float]] = {}  # case -> engine -> median seconds
    for case in op_cases:
        context.progress.step(case.label)
        stats = run(case, options.micro_repeats)
        public = medians.get(FACADE_OF.get(case.case, ""), {})
        for name, (kind, _) in case.timers.items():
            note = PEER_NOTES.get((case.case, name), "")
            if name in public:
                note = facade_note(public[name], stats[name].median)
            record.figure(case.case, case.label, name, kind, stats[name], note)
        medians[case.case] = {name: stat.median for name, stat in stats.items()}
        for name, error in case.errors.items():
            kind = "ruvector" if name in backends else "peer"
            record.figure(case.case, case.label, name, kind, None, f"failed: {error}")
