"""The compiled HNSW: insert and search loops that run entirely inside numba.

Graph storage (owned by ``hnsw.NumbaHnsw``, passed in as arrays):

- ``space``    what the nodes store, one tuple ``(kind, resident, vectors, codes, bits,
  scales, lows, squares)``: ``kind`` is the format's storage code (0 float32, 1 int8,
  2 binary); ``resident`` 1 when the float32 ``vectors`` (capacity, d; rows L2-normalised
  for cosine) are kept; ``codes`` (capacity, d) int8 codes with their ``scales``, ``lows``
  and decoded squared norms ``squares``; ``bits`` (capacity, words) the binary codes as
  little-endian uint64 words (numpy's ``packbits`` bytes, zero-padded), with ``scales``.
  Arrays a kind does not use are one-element placeholders of the right type, so a single
  compiled specialisation serves every kind.
- ``levels``   (capacity,) int32, top layer of each node
- ``deleted``  (capacity,) uint8, tombstones (traversed, never returned)
- ``links0``   (capacity, 2m + 1) int32: layer-0 neighbours, count in column 0
- ``upper``    (rows, m + 1) int32: upper-layer lists, count in column 0; node ``i``'s layer
  ``l >= 1`` is row ``upper_off[i] + l - 1``
- ``state``    int64 [entry point, max level], -1 while empty

The semantics are the numpy reference's (``numpy_backend/hnsw.py``) step for step: the
beam of Algorithm 2 with candidates ordered by (distance, node), results that evict the
worst (ties: the smaller node) once they hold ``ef``, Algorithm 4's heuristic without
candidate extension, greedy descent on the upper layers, and on layer 0 of a query a
beam that walks through tombstones until it holds ``ef`` live nodes. A filtered query
walks through disallowed nodes the same way, or scans the allowed ones exactly (where the
rule for choosing differs from the reference's, see ``WALK_COST``).

Distances are lower-is-closer: ``1 - dot`` (cosine on unit rows), squared L2, ``-dot``.
Only the distance loops are compiled with fast-math (reassociation, so they vectorise);
every caller (single search, parallel batch search, insert) runs that same compiled loop,
so a pair's distance is bit-identical wherever it is computed. On codes (docs/format.md,
"Version 2") a walk measures the asymmetric int8 distance or the Hamming distance
(``_qdist``), the heuristic the distance between two stored nodes (``_ndist``), and the
layer-0 beam is re-scored (``_fdist``: exact against resident floats, else the codes'
approximation) before the best ``k`` are returned.

A query travels as ``(q, qi, qb, qsum, qsq)``: row ``qi`` of the float32 ``q`` (prepared),
the same row of its sign bits ``qb`` (uint64 words, as ``bits``), its sum and squared norm.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange
from numpy.typing import NDArray

from ruvector_core.index_format import STORAGE_CODES
from ruvector_core.models import METRIC_CODES

from ._intrinsics import popcount, prefetch
from ._jit import FASTMATH, jit

# the contract's metric codes, frozen into the compiled kernels as constants
COSINE, EUCLIDEAN, DOT = METRIC_CODES["cosine"], METRIC_CODES["euclidean"], METRIC_CODES["dot"]
# the format's storage codes (byte 11 of a version 2 header; 0 is float32)
FLOAT32, INT8, BINARY = 0, STORAGE_CODES["int8"], STORAGE_CODES["binary"]
INT8_SHIFT = np.float32(128.0)
EPOCH_LIMIT = 2**31 - 2
# A filtered walk that must gather ``beam`` allowed nodes when ``count`` of the ``n`` are
# allowed computes about WALK_COST * beam * n / count distances (measured on the 3,000-node
# conformance index, M=16: 10 to 12 at ef 16, 64 and 128); an exact scan computes ``count``.
# So a search scans while count**2 <= WALK_COST * beam * n, and walks above that.
WALK_COST = 10
PREFETCH_STRIDE = 16  # float32 per 64-byte cache line

# what the nodes store: (kind, resident, vectors, codes, bits, scales, lows, squares)
Space = tuple[
    int,
    int,
    NDArray[np.float32],
    NDArray[np.int8],
    NDArray[np.uint64],
    NDArray[np.float32],
    NDArray[np.float32],
    NDArray[np.float32],
]
# a prepared query: (rows, row, sign-bit rows, sum, squared norm)
Query = tuple[NDArray[np.float32], int, NDArray[np.uint64], np.float32, np.float32]

# a walk's scratch: the candidate heap, the results heap and the final (sorted) results,
# each as distances and nodes
WalkBuffers = tuple[
    NDArray[np.float32],
    NDArray[np.int32],
    NDArray[np.float32],
    NDArray[np.int32],
    NDArray[np.float32],
    NDArray[np.int32],
]


# -- distances ---------------------------------------------------------------------------


@jit(nogil=True, fastmath=FASTMATH)
def _dot(a: NDArray[np.float32], ia: int, b: NDArray[np.float32], ib: int, d: int) -> np.float32:
    """Dot product of rows a[ia] and b[ib] (float32 SIMD lanes, reassociated)."""
    s = np.float32(0.0)
    for i in range(d):
        s += a[ia, i] * b[ib, i]
    return s


@jit(nogil=True, fastmath=FASTMATH)
def _l2sq(a: NDArray[np.float32], ia: int, b: NDArray[np.float32], ib: int, d: int) -> np.float32:
    s = np.float32(0.0)
    for i in range(d):
        t = a[ia, i] - b[ib, i]
        s += t * t
    return s


@jit(nogil=True)
def _dist(a: NDArray[np.float32], ia: int, b: NDArray[np.float32], ib: int, metric: int) -> np.float32:
    d = a.shape[1]
    if metric == EUCLIDEAN:
        return _l2sq(a, ia, b, ib, d)
    s = _dot(a, ia, b, ib, d)
    if metric == COSINE:
        return np.float32(1.0) - s
    return -s


@jit(nogil=True, fastmath=FASTMATH)
def _code_dot(codes: NDArray[np.int8], x: int, q: NDArray[np.float32], qi: int) -> np.float32:
    """Sum of code_i * q_i over row x of the int8 codes (float32 lanes, reassociated)."""
    s = np.float32(0.0)
    for i in range(codes.shape[1]):
        s += np.float32(codes[x, i]) * q[qi, i]
    return s


@jit(nogil=True, fastmath=FASTMATH)
def _decoded_pair(
    codes: NDArray[np.int8], a: int, b: int, scales: NDArray[np.float32], lows: NDArray[np.float32], metric: int
) -> np.float32:
    """Distance between the decoded int8 rows a and b."""
    sa, la, sb, lb = scales[a], lows[a], scales[b], lows[b]
    s = np.float32(0.0)
    if metric == EUCLIDEAN:
        for i in range(codes.shape[1]):
            t = (np.float32(codes[a, i]) + INT8_SHIFT) * sa + la - ((np.float32(codes[b, i]) + INT8_SHIFT) * sb + lb)
            s += t * t
        return s
    for i in range(codes.shape[1]):
        s += ((np.float32(codes[a, i]) + INT8_SHIFT) * sa + la) * ((np.float32(codes[b, i]) + INT8_SHIFT) * sb + lb)
    if metric == COSINE:
        return np.float32(1.0) - s
    return -s


@jit(nogil=True)
def _hamming(a: NDArray[np.uint64], ia: int, b: NDArray[np.uint64], ib: int) -> np.float32:
    s = np.uint64(0)
    for w in range(a.shape[1]):
        s += popcount(a[ia, w] ^ b[ib, w])
    return np.float32(s)


@jit(nogil=True, fastmath=FASTMATH)
def _sign_dot(bits: NDArray[np.uint64], x: int, q: NDArray[np.float32], qi: int) -> np.float32:
    """Sum of ±q_i over the sign bits of row x (+ where the bit is set)."""
    s = np.float32(0.0)
    for i in range(q.shape[1]):
        shift = np.uint64(((i >> 3) & 7) * 8 + 7 - (i & 7))
        bit = np.float32((bits[x, i >> 6] >> shift) & np.uint64(1))
        s += (np.float32(2.0) * bit - np.float32(1.0)) * q[qi, i]
    return s


@jit(nogil=True)
def _from_dot(dot: np.float32, qsq: np.float32, xsq: np.float32, metric: int) -> np.float32:
    """A distance from a dot product (and, for euclidean, both squared norms); NaN stays NaN."""
    if metric == COSINE:
        return np.float32(1.0) - dot
    if metric == DOT:
        return -dot
    e = qsq - np.float32(2.0) * dot + xsq
    if e < 0:
        return np.float32(0.0)
    return e


@jit(nogil=True)
def _qdist(space: Space, x: int, query: Query, metric: int) -> np.float32:
    """What a walk measures from the query to node x: float32, asymmetric int8 or Hamming."""
    kind = space[0]
    if kind == FLOAT32:
        return _dist(space[2], x, query[0], query[1], metric)
    if kind == INT8:
        scale = space[5][x]
        dot = scale * _code_dot(space[3], x, query[0], query[1]) + (INT8_SHIFT * scale + space[6][x]) * query[3]
        return _from_dot(dot, query[4], space[7][x], metric)
    return _hamming(space[4], x, query[2], query[1])


@jit(nogil=True)
def _ndist(space: Space, a: int, b: int, metric: int) -> np.float32:
    """Between two stored nodes (the neighbour heuristic): float32 rows, decoded int8 rows,
    or the Hamming distance of their codes."""
    kind = space[0]
    if kind == FLOAT32:
        return _dist(space[2], a, space[2], b, metric)
    if kind == INT8:
        return _decoded_pair(space[3], a, b, space[5], space[6], metric)
    return _hamming(space[4], a, space[4], b)


@jit(nogil=True)
def _fdist(space: Space, x: int, query: Query, metric: int) -> np.float32:
    """What a returned score comes from: the float32 row when resident, else the int8
    asymmetric distance or, for binary, q against the decoded ±scale signs."""
    kind = space[0]
    if kind == FLOAT32 or space[1]:
        return _dist(space[2], x, query[0], query[1], metric)
    if kind == INT8:
        return _qdist(space, x, query, metric)
    scale = space[5][x]
    d = np.float32(query[0].shape[1])
    return _from_dot(scale * _sign_dot(space[4], x, query[0], query[1]), query[4], d * scale * scale, metric)


@jit(nogil=True)
def _prefetch_vector(vectors: NDArray[np.float32], row: int) -> None:
    for c in range(0, vectors.shape[1], PREFETCH_STRIDE):
        prefetch(vectors, row, c)


@jit(nogil=True)
def _prefetch_node(space: Space, row: int) -> None:
    """Prefetch what ``_qdist`` will read of node ``row``."""
    kind = space[0]
    if kind == FLOAT32:
        _prefetch_vector(space[2], row)
    elif kind == INT8:
        codes = space[3]
        for c in range(0, codes.shape[1], 4 * PREFETCH_STRIDE):
            prefetch(codes, row, c)
    else:
        prefetch(space[4], row, 0)


@jit(nogil=True, fastmath=FASTMATH)
def _row_sums(q: NDArray[np.float32], qi: int) -> tuple[np.float32, np.float32]:
    """Sum and squared norm of row qi (float64 accumulation)."""
    total = 0.0
    square = 0.0
    for i in range(q.shape[1]):
        x = np.float64(q[qi, i])
        total += x
        square += x * x
    return np.float32(total), np.float32(square)


@jit(nogil=True)
def _sign_bits(q: NDArray[np.float32], qi: int, out: NDArray[np.uint64], oi: int) -> None:
    """Row qi's x > 0 bits into row oi of ``out``, laid out as the stored binary codes."""
    for w in range(out.shape[1]):
        out[oi, w] = np.uint64(0)
    for i in range(q.shape[1]):
        if q[qi, i] > 0:
            shift = np.uint64(((i >> 3) & 7) * 8 + 7 - (i & 7))
            out[oi, i >> 6] |= np.uint64(1) << shift


# -- heaps over parallel (distance, node) arrays -----------------------------------------
# One min-heap serves both queues. The results queue stores negated distances, so its top
# is the farthest result, and a tie evicts the smaller node, as the reference's heap of
# (-distance, node) does.


@jit(nogil=True)
def _less(d1: np.float32, n1: int, d2: np.float32, n2: int) -> bool | np.bool_:
    return d1 < d2 or (d1 == d2 and n1 < n2)


@jit(nogil=True)
def _min_push(hd: NDArray[np.float32], hn: NDArray[np.int32], size: int, d: np.float32, n: int) -> int:
    i = size
    while i > 0:
        p = (i - 1) >> 1
        if _less(d, n, hd[p], hn[p]):
            hd[i] = hd[p]
            hn[i] = hn[p]
            i = p
        else:
            break
    hd[i] = d
    hn[i] = n
    return size + 1


@jit(nogil=True)
def _min_pop(hd: NDArray[np.float32], hn: NDArray[np.int32], size: int) -> int:
    size -= 1
    if size <= 0:
        return 0
    d = hd[size]
    n = hn[size]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= size:
            break
        if c + 1 < size and _less(hd[c + 1], hn[c + 1], hd[c], hn[c]):
            c += 1
        if _less(hd[c], hn[c], d, n):
            hd[i] = hd[c]
            hn[i] = hn[c]
            i = c
        else:
            break
    hd[i] = d
    hn[i] = n
    return size


@jit(nogil=True)
def _drain_sorted(
    rd: NDArray[np.float32], rn: NDArray[np.int32], size: int, out_d: NDArray[np.float32], out_n: NDArray[np.int32]
) -> None:
    """Empty the results heap (negated distances) into out_*[:size], ascending by
    (distance, node)."""
    remaining = size
    for i in range(size - 1, -1, -1):
        out_d[i] = -rd[0]
        out_n[i] = rn[0]
        remaining = _min_pop(rd, rn, remaining)
    # Ties came out smaller-node-last; an insertion sort on the nearly sorted run fixes them.
    _sort_pairs(out_d, out_n, size)


@jit(nogil=True)
def _sort_pairs(ds: NDArray[np.float32], ns: NDArray[np.int32], size: int) -> None:
    for i in range(1, size):
        d = ds[i]
        n = ns[i]
        j = i - 1
        while j >= 0 and _less(d, n, ds[j], ns[j]):
            ds[j + 1] = ds[j]
            ns[j + 1] = ns[j]
            j -= 1
        ds[j + 1] = d
        ns[j + 1] = n


# -- graph walks -------------------------------------------------------------------------


@jit(nogil=True)
def _next_epoch(visited: NDArray[np.int32], epoch: NDArray[np.int64]) -> int:
    e: int = epoch[0] + 1
    if e > EPOCH_LIMIT:
        visited[:] = 0
        e = 1
    epoch[0] = e
    return e


@jit(nogil=True)
def _greedy(
    query: Query,
    cur: int,
    curd: np.float32,
    layer: int,
    metric: int,
    space: Space,
    upper: NDArray[np.int32],
    upper_off: NDArray[np.int32],
) -> tuple[int, np.float32]:
    """Greedy descent on one upper layer: the reference's beam with ef = 1."""
    changed = True
    while changed:
        changed = False
        row = upper_off[cur] + layer - 1
        for j in range(1, upper[row, 0] + 1):
            x = upper[row, j]
            d = _qdist(space, x, query, metric)
            if d < curd:
                curd = d
                cur = x
                changed = True
    return cur, curd


@jit(nogil=True)
def _kept(x: int, skip_deleted: bool, deleted: NDArray[np.uint8], allow: NDArray[np.bool_] | None) -> bool:
    """Whether a walk may keep node ``x`` among its results (it walks through it either
    way). ``allow is None`` is resolved when numba compiles (it prunes the branch for the
    argument's type), so the unfiltered walk carries no filter test at all."""
    if skip_deleted and deleted[x] != 0:
        return False
    if allow is None:
        return True
    return x < allow.shape[0] and allow[x]


@jit(nogil=True)
def _search_layer(
    query: Query,
    ed: NDArray[np.float32],
    en: NDArray[np.int32],
    n_entries: int,
    ef: int,
    layer: int,
    skip_deleted: bool,
    metric: int,
    space: Space,
    deleted: NDArray[np.uint8],
    allow: NDArray[np.bool_] | None,
    links0: NDArray[np.int32],
    upper: NDArray[np.int32],
    upper_off: NDArray[np.int32],
    visited: NDArray[np.int32],
    ep: int,
    cd: NDArray[np.float32],
    cn: NDArray[np.int32],
    rd: NDArray[np.float32],
    rn: NDArray[np.int32],
) -> int:
    """Algorithm 2 from the entries; leaves the results heap in rd/rn, returns its size.
    Every node is walked through; only those ``_kept`` enter the results, so the beam
    fills with ``ef`` of them whenever that many are reachable."""
    csize = 0
    rsize = 0
    for e in range(n_entries):
        node = en[e]
        if visited[node] == ep:
            continue
        visited[node] = ep
        csize = _min_push(cd, cn, csize, ed[e], node)
        if _kept(node, skip_deleted, deleted, allow):
            rsize = _min_push(rd, rn, rsize, -ed[e], node)
    while csize > 0:
        dist = cd[0]
        node = cn[0]
        csize = _min_pop(cd, cn, csize)
        if rsize >= ef and dist > -rd[0]:
            break
        if layer == 0:
            links = links0
            row = node
        else:
            links = upper
            row = upper_off[node] + layer - 1
        count = links[row, 0]
        if count:
            _prefetch_node(space, links[row, 1])
        for j in range(1, count + 1):
            x = links[row, j]
            if j < count:
                _prefetch_node(space, links[row, j + 1])
            if visited[x] == ep:
                continue
            visited[x] = ep
            d = _qdist(space, x, query, metric)
            if rsize < ef or d < -rd[0]:
                csize = _min_push(cd, cn, csize, d, x)
                if _kept(x, skip_deleted, deleted, allow):
                    rsize = _min_push(rd, rn, rsize, -d, x)
                    if rsize > ef:
                        rsize = _min_pop(rd, rn, rsize)
    return rsize


@jit(nogil=True)
def _select(
    fd: NDArray[np.float32],
    fn: NDArray[np.int32],
    count: int,
    m: int,
    metric: int,
    space: Space,
    out: NDArray[np.int32],
) -> int:
    """Algorithm 4 without candidate extension over (fd, fn) sorted nearest first: keep a
    candidate only if it is closer to the base than to every neighbour kept so far."""
    if count <= m:
        for i in range(count):
            out[i] = fn[i]
        return count
    kept = 0
    for i in range(count):
        ni = fn[i]
        good = True
        for j in range(kept):
            if _ndist(space, ni, out[j], metric) < fd[i]:
                good = False
                break
        if good:
            out[kept] = ni
            kept += 1
            if kept == m:
                break
    return kept


@jit(nogil=True)
def _link(
    other: int,
    new: int,
    links: NDArray[np.int32],
    row: int,
    limit: int,
    metric: int,
    space: Space,
    td: NDArray[np.float32],
    tn: NDArray[np.int32],
    sel: NDArray[np.int32],
) -> None:
    """Add ``new`` to ``other``'s list (``links[row]``), shrinking it with the heuristic
    when it overflows."""
    count = links[row, 0]
    if count < limit:
        links[row, count + 1] = new
        links[row, 0] = count + 1
        return
    for j in range(count):
        tn[j] = links[row, j + 1]
    tn[count] = new
    for j in range(count + 1):
        td[j] = _ndist(space, other, tn[j], metric)
    _sort_pairs(td, tn, count + 1)
    kept = _select(td, tn, count + 1, limit, metric, space, sel)
    for j in range(kept):
        links[row, j + 1] = sel[j]
    links[row, 0] = kept


@jit(nogil=True)
def _walk_buffers(n: int, width: int) -> WalkBuffers:
    """Scratch for one walk over an n-node graph: the candidate heap (room for every node)
    and the results and final heaps (``width`` entries), distances and nodes each."""
    return (
        np.empty(n + 1, dtype=np.float32),
        np.empty(n + 1, dtype=np.int32),
        np.empty(width, dtype=np.float32),
        np.empty(width, dtype=np.int32),
        np.empty(width, dtype=np.float32),
        np.empty(width, dtype=np.int32),
    )


@jit(nogil=True)
def insert_nodes(
    start: int,
    stop: int,
    metric: int,
    m: int,
    ef_construction: int,
    space: Space,
    rows: NDArray[np.float32],
    row_bits: NDArray[np.uint64],
    levels: NDArray[np.int32],
    links0: NDArray[np.int32],
    upper: NDArray[np.int32],
    upper_off: NDArray[np.int32],
    state: NDArray[np.int64],
    visited: NDArray[np.int32],
    epoch: NDArray[np.int64],
) -> None:
    """Link nodes start..stop-1 (their data in ``space``, levels and upper_off already
    written) one by one; ``rows`` and ``row_bits`` hold the new nodes' prepared float rows
    and sign bits (row ``node - start``): the query of each insert."""
    n = stop
    cap = min(ef_construction, n) + 2
    cd, cn, rd, rn, fd, fn = _walk_buffers(n, cap)
    ed = np.empty(cap, dtype=np.float32)
    en = np.empty(cap, dtype=np.int32)
    sel = np.empty(2 * m + 1, dtype=np.int32)
    td = np.empty(2 * m + 1, dtype=np.float32)
    tn = np.empty(2 * m + 1, dtype=np.int32)
    nodeleted = np.zeros(1, dtype=np.uint8)  # never read: inserts keep tombstones as results
    for node in range(start, stop):
        level = levels[node]
        entry = state[0]
        top = state[1]
        if entry < 0:
            state[0] = node
            state[1] = level
            continue
        qi = node - start
        total, square = _row_sums(rows, qi)
        query = (rows, qi, row_bits, total, square)
        cur = entry
        curd = _qdist(space, entry, query, metric)
        for layer in range(top, level, -1):
            cur, curd = _greedy(query, cur, curd, layer, metric, space, upper, upper_off)
        en[0] = cur
        ed[0] = curd
        n_entries = 1
        for layer in range(min(level, top), -1, -1):
            ep = _next_epoch(visited, epoch)
            found = _search_layer(
                query,
                ed,
                en,
                n_entries,
                ef_construction,
                layer,
                False,
                metric,
                space,
                nodeleted,
                None,
                links0,
                upper,
                upper_off,
                visited,
                ep,
                cd,
                cn,
                rd,
                rn,
            )
            _drain_sorted(rd, rn, found, fd, fn)
            if layer == 0:
                links = links0
                row = node
                limit = 2 * m
            else:
                links = upper
                row = upper_off[node] + layer - 1
                limit = m
            kept = _select(fd, fn, found, m, metric, space, sel)
            for j in range(kept):
                links[row, j + 1] = sel[j]
            links[row, 0] = kept
            for j in range(kept):
                other = links[row, j + 1]
                orow = other if layer == 0 else upper_off[other] + layer - 1
                _link(other, node, links, orow, limit, metric, space, td, tn, sel)
            for j in range(found):
                ed[j] = fd[j]
                en[j] = fn[j]
            n_entries = found
        if level > top:
            state[0] = node
            state[1] = level


# -- queries -----------------------------------------------------------------------------


@jit(nogil=True, fastmath=FASTMATH)
def _prepare(query: NDArray[np.float32], metric: int, out: NDArray[np.float32]) -> None:
    """The query as a (1, d) row, L2-normalised for cosine (a zero query stays zero)."""
    d = query.shape[0]
    if metric == COSINE:
        s = 0.0
        for i in range(d):
            s += np.float64(query[i]) * np.float64(query[i])
        inv = 1.0 / math.sqrt(s) if s > 0.0 else 0.0
        for i in range(d):
            out[0, i] = np.float32(query[i] * inv)
    else:
        for i in range(d):
            out[0, i] = query[i]


@jit(nogil=True)
def _score(d: np.float32, metric: int) -> float:
    if metric == COSINE:
        return 1.0 - np.float64(d)
    if metric == DOT:
        return -np.float64(d)
    return -math.sqrt(max(np.float64(d), 0.0))


@jit(nogil=True)
def _walk(
    query: Query,
    beam: int,
    metric: int,
    space: Space,
    deleted: NDArray[np.uint8],
    allow: NDArray[np.bool_] | None,
    links0: NDArray[np.int32],
    upper: NDArray[np.int32],
    upper_off: NDArray[np.int32],
    state: NDArray[np.int64],
    visited: NDArray[np.int32],
    epoch: NDArray[np.int64],
    cd: NDArray[np.float32],
    cn: NDArray[np.int32],
    rd: NDArray[np.float32],
    rn: NDArray[np.int32],
    fd: NDArray[np.float32],
    fn: NDArray[np.int32],
) -> int:
    """Greedy descent, then a layer-0 beam of width ``beam`` keeping live (and, with
    ``allow``, allowed) nodes; leaves them in fd/fn nearest first and returns how many."""
    entry = state[0]
    if entry < 0:
        return 0
    cur = entry
    curd = _qdist(space, entry, query, metric)
    for layer in range(state[1], 0, -1):
        cur, curd = _greedy(query, cur, curd, layer, metric, space, upper, upper_off)
    ep = _next_epoch(visited, epoch)
    fd[0] = curd
    fn[0] = cur
    found = _search_layer(
        query,
        fd,
        fn,
        1,
        beam,
        0,
        True,
        metric,
        space,
        deleted,
        allow,
        links0,
        upper,
        upper_off,
        visited,
        ep,
        cd,
        cn,
        rd,
        rn,
    )
    _drain_sorted(rd, rn, found, fd, fn)
    return found


@jit(nogil=True)
def _count_allowed(allow: NDArray[np.bool_], deleted: NDArray[np.uint8], n: int, limit: int) -> int:
    """Allowed live nodes, counted only up to ``limit + 1``: past that the exact count
    changes nothing (the walk is chosen, and more than ``k`` are allowed), and stopping
    early keeps a filtered search from reading the whole mask when many are allowed."""
    count = 0
    for x in range(min(n, allow.shape[0])):
        if allow[x] and deleted[x] == 0:
            count += 1
            if count > limit:
                break
    return count


@jit(nogil=True)
def _scan(
    query: Query,
    k: int,
    metric: int,
    space: Space,
    deleted: NDArray[np.uint8],
    allow: NDArray[np.bool_],
    n: int,
    cd: NDArray[np.float32],
    cn: NDArray[np.int32],
    fd: NDArray[np.float32],
    fn: NDArray[np.int32],
) -> int:
    """Exact search over the allowed live nodes: every distance goes into the candidate
    heap (room for every node), the ``k`` smallest by (distance, node) come out into fd/fn
    in order, as the reference's sort of the allowed nodes ranks them; returns how many."""
    size = 0
    for x in range(min(n, allow.shape[0])):
        if allow[x] and deleted[x] == 0:
            size = _min_push(cd, cn, size, _fdist(space, x, query, metric), x)
    count = min(k, size)
    for i in range(count):
        fd[i] = cd[0]
        fn[i] = cn[0]
        size = _min_pop(cd, cn, size)
    return count


@jit(nogil=True)
def _filtered_walk(
    query: Query,
    k: int,
    beam: int,
    metric: int,
    space: Space,
    deleted: NDArray[np.uint8],
    allow: NDArray[np.bool_],
    links0: NDArray[np.int32],
    upper: NDArray[np.int32],
    upper_off: NDArray[np.int32],
    state: NDArray[np.int64],
    n: int,
    visited: NDArray[np.int32],
    epoch: NDArray[np.int64],
    cd: NDArray[np.float32],
    cn: NDArray[np.int32],
    rd: NDArray[np.float32],
    rn: NDArray[np.int32],
    fd: NDArray[np.float32],
    fn: NDArray[np.int32],
) -> int:
    """Walk the graph keeping allowed nodes, or scan the allowed vectors exactly when the
    scan is the cheaper of the two (see ``WALK_COST``) or when the walk finds fewer than
    ``k`` (fewer are reachable from the entry point).

    A walk is a poor way to find a few percent of the graph (at 10 % and ef=64 here it took
    20 times the scan's time), and a scan is exact, so results are at least as good."""
    limit = int(math.sqrt(WALK_COST * beam * n))
    if _count_allowed(allow, deleted, n, limit) > limit:
        found = _walk(
            query,
            beam,
            metric,
            space,
            deleted,
            allow,
            links0,
            upper,
            upper_off,
            state,
            visited,
            epoch,
            cd,
            cn,
            rd,
            rn,
            fd,
            fn,
        )
        if found >= k:
            return found
    return _scan(query, k, metric, space, deleted, allow, n, cd, cn, fd, fn)


@jit(nogil=True)
def _knn(
    query: Query,
    k: int,
    ef: int,
    metric: int,
    space: Space,
    deleted: NDArray[np.uint8],
    allow: NDArray[np.bool_] | None,
    links0: NDArray[np.int32],
    upper: NDArray[np.int32],
    upper_off: NDArray[np.int32],
    state: NDArray[np.int64],
    n: int,
    visited: NDArray[np.int32],
    epoch: NDArray[np.int64],
    out_nodes: NDArray[np.int32],
    out_scores: NDArray[np.float64],
    cd: NDArray[np.float32],
    cn: NDArray[np.int32],
    rd: NDArray[np.float32],
    rn: NDArray[np.int32],
    fd: NDArray[np.float32],
    fn: NDArray[np.int32],
) -> int:
    """The k nearest live (and, with ``allow``, allowed) nodes of the prepared query q,
    written into out_*; the count. Without ``allow`` this compiles to the plain walk."""
    beam = max(ef, k)
    if allow is None:
        found = _walk(
            query,
            beam,
            metric,
            space,
            deleted,
            None,
            links0,
            upper,
            upper_off,
            state,
            visited,
            epoch,
            cd,
            cn,
            rd,
            rn,
            fd,
            fn,
        )
    else:
        found = _filtered_walk(
            query,
            k,
            beam,
            metric,
            space,
            deleted,
            allow,
            links0,
            upper,
            upper_off,
            state,
            n,
            visited,
            epoch,
            cd,
            cn,
            rd,
            rn,
            fd,
            fn,
        )
    if space[0] != FLOAT32:  # the beam was ranked on codes: re-score it, then keep the best k
        for i in range(found):
            fd[i] = _fdist(space, fn[i], query, metric)
        _sort_pairs(fd, fn, found)
    count = min(k, found)
    for i in range(count):
        out_nodes[i] = fn[i]
        out_scores[i] = _score(fd[i], metric)
    return count


@jit(nogil=True)
def search(
    vector: NDArray[np.float32],
    k: int,
    ef: int,
    metric: int,
    space: Space,
    deleted: NDArray[np.uint8],
    allow: NDArray[np.bool_] | None,
    links0: NDArray[np.int32],
    upper: NDArray[np.int32],
    upper_off: NDArray[np.int32],
    state: NDArray[np.int64],
    n: int,
    visited: NDArray[np.int32],
    epoch: NDArray[np.int64],
) -> tuple[NDArray[np.int32], NDArray[np.float64]]:
    """One query: (nodes int32, scores float64), best first, at most k; with ``allow``
    (nodes at or past its end are not allowed) only allowed nodes, ``min(k, allowed)``."""
    q = np.empty((1, vector.shape[0]), dtype=np.float32)
    _prepare(vector, metric, q)
    qb = np.empty((1, space[4].shape[1]), dtype=np.uint64)
    _sign_bits(q, 0, qb, 0)
    total, square = _row_sums(q, 0)
    query = (q, 0, qb, total, square)
    width = min(max(ef, k), n) + 2
    cd, cn, rd, rn, fd, fn = _walk_buffers(n, width)
    kk = min(k, n)
    out_nodes = np.empty(kk, dtype=np.int32)
    out_scores = np.empty(kk, dtype=np.float64)
    count = _knn(
        query,
        k,
        ef,
        metric,
        space,
        deleted,
        allow,
        links0,
        upper,
        upper_off,
        state,
        n,
        visited,
        epoch,
        out_nodes,
        out_scores,
        cd,
        cn,
        rd,
        rn,
        fd,
        fn,
    )
    return out_nodes[:count], out_scores[:count]


@jit(nogil=True, parallel=True)
def search_many(
    queries: NDArray[np.float32],
    k: int,
    ef: int,
    metric: int,
    space: Space,
    deleted: NDArray[np.uint8],
    allow: NDArray[np.bool_] | None,
    links0: NDArray[np.int32],
    upper: NDArray[np.int32],
    upper_off: NDArray[np.int32],
    state: NDArray[np.int64],
    n: int,
    visited: NDArray[np.int32],
    epochs: NDArray[np.int64],
    out_nodes: NDArray[np.int32],
    out_scores: NDArray[np.float32],
) -> None:
    """Many queries across threads, each answered as ``search`` would (the same ``allow``
    for all); worker t uses visited[t] and serves queries t, t+T, ...

    out_nodes (q, k) int32 must be -1 and out_scores (q, k) float32 -inf beforehand."""
    nq, d = queries.shape
    workers = visited.shape[0]
    width = min(max(ef, k), n) + 2
    kk = min(k, n)
    for t in prange(workers):
        q = np.empty((1, d), dtype=np.float32)
        qb = np.empty((1, space[4].shape[1]), dtype=np.uint64)
        cd, cn, rd, rn, fd, fn = _walk_buffers(n, width)
        nodes = np.empty(kk, dtype=np.int32)
        scores = np.empty(kk, dtype=np.float64)
        for i in range(t, nq, workers):
            _prepare(queries[i], metric, q)
            _sign_bits(q, 0, qb, 0)
            total, square = _row_sums(q, 0)
            query = (q, 0, qb, total, square)
            count = _knn(
                query,
                k,
                ef,
                metric,
                space,
                deleted,
                allow,
                links0,
                upper,
                upper_off,
                state,
                n,
                visited[t],
                epochs[t : t + 1],
                nodes,
                scores,
                cd,
                cn,
                rd,
                rn,
                fd,
                fn,
            )
            for j in range(count):
                out_nodes[i, j] = nodes[j]
                out_scores[i, j] = scores[j]
