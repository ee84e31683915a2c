//! The query path with wasm simd128 distances.
//!
//! `ruvector-kernels` picks its distance kernels at run time: AVX2 + FMA on x86_64, the
//! portable eight-accumulator loops everywhere else. Compiled for wasm32 the portable loops
//! stay scalar (the bounds checks inside `chunks_exact` keep LLVM from vectorising them), so
//! a 384-d dot product costs ~450 ns. The search below is the kernel's own algorithm
//! (greedy descent, then Algorithm 2 on layer 0 with tombstones walked but not returned,
//! candidates ordered by (distance, node) exactly as `Hnsw::search`), run over the graph
//! through its public accessors with explicit `f32x4` distances (~4x faster). Inserts still
//! use the kernel's own code; the kernel patch in the report would speed those up as well.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use ruvector_kernels::hnsw::NONE;
use ruvector_kernels::{Hnsw, Metric};

#[derive(Clone, Copy, PartialEq)]
struct Cand {
    d: f32,
    id: u32,
}

impl Eq for Cand {}

impl PartialOrd for Cand {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Cand {
    fn cmp(&self, other: &Self) -> Ordering {
        self.d.total_cmp(&other.d).then(self.id.cmp(&other.id))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Near(Cand);

impl PartialOrd for Near {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Near {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.cmp(&self.0)
    }
}

/// Reused between searches: visited marks with an epoch and the heaps' buffers. The module
/// is single-threaded, so one is enough; a trap mid-search leaves it merely stale.
pub struct Scratch {
    marks: Vec<u16>,
    epoch: u16,
    near: Vec<Near>,
    far: Vec<Cand>,
    query: Vec<f32>,
}

impl Scratch {
    pub const fn new() -> Scratch {
        Scratch { marks: Vec::new(), epoch: 0, near: Vec::new(), far: Vec::new(), query: Vec::new() }
    }

    fn start(&mut self, n: usize) {
        if self.marks.len() < n {
            self.marks.resize(n, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            for m in self.marks.iter_mut() {
                *m = 0;
            }
            self.epoch = 1;
        }
    }

    #[inline]
    fn visit(&mut self, node: u32) -> bool {
        let slot = &mut self.marks[node as usize];
        if *slot == self.epoch {
            false
        } else {
            *slot = self.epoch;
            true
        }
    }
}

#[inline]
fn dist(metric: Metric, q: &[f32], v: &[f32]) -> f32 {
    match metric {
        Metric::Cosine => 1.0 - simd::dot(q, v),
        Metric::Dot => -simd::dot(q, v),
        Metric::Euclidean => simd::l2sq(q, v),
    }
}

/// `Hnsw::search` with simd128 distances: up to `k` (node, score) pairs, best first, written
/// through `emit`; returns the count.
pub fn search(h: &Hnsw, s: &mut Scratch, query: &[f32], k: usize, ef: usize, mut emit: impl FnMut(usize, u32, f32)) -> usize {
    let entry = h.entry_point();
    if entry == NONE || h.is_empty() || k == 0 {
        return 0;
    }
    let metric = h.params().metric;
    let mut q = std::mem::take(&mut s.query);
    q.clear();
    q.extend_from_slice(query);
    if metric == Metric::Cosine {
        let norm = (simd::dot(&q, &q) as f64).sqrt();
        if norm > 0.0 && norm.is_finite() {
            let inv = 1.0 / norm;
            for x in q.iter_mut() {
                *x = (*x as f64 * inv) as f32;
            }
        } else {
            // zero or overflowing norms: exactly the kernel's own normalisation
            q = h.prepare(query);
        }
    }
    let mut cur = Cand { d: dist(metric, &q, h.vector(entry)), id: entry };
    let mut layer = h.max_level();
    while layer > 0 {
        loop {
            let mut moved = false;
            for &x in h.links(cur.id, layer as usize) {
                let d = dist(metric, &q, h.vector(x));
                if d < cur.d {
                    cur = Cand { d, id: x };
                    moved = true;
                }
            }
            if !moved {
                break;
            }
        }
        layer -= 1;
    }
    let ef = ef.max(k);
    s.start(h.node_count());
    let mut near = BinaryHeap::from(std::mem::take(&mut s.near));
    let mut far = BinaryHeap::from(std::mem::take(&mut s.far));
    near.clear();
    far.clear();
    s.visit(cur.id);
    near.push(Near(cur));
    if !h.is_deleted(cur.id) {
        far.push(cur);
    }
    while let Some(Near(c)) = near.pop() {
        if far.len() >= ef {
            if let Some(worst) = far.peek() {
                if c.d > worst.d {
                    break;
                }
            }
        }
        for &x in h.links(c.id, 0) {
            if !s.visit(x) {
                continue;
            }
            let d = dist(metric, &q, h.vector(x));
            let admit = far.len() < ef || far.peek().map_or(true, |w| d < w.d);
            if admit {
                near.push(Near(Cand { d, id: x }));
                if !h.is_deleted(x) {
                    far.push(Cand { d, id: x });
                    if far.len() > ef {
                        far.pop();
                    }
                }
            }
        }
    }
    let mut out = far.into_vec();
    out.sort_unstable();
    let count = out.len().min(k);
    for (i, c) in out[..count].iter().enumerate() {
        emit(i, c.id, h.score(c.d));
    }
    out.clear();
    s.far = out;
    let mut nv = near.into_vec();
    nv.clear();
    s.near = nv;
    s.query = q;
    count
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd {
    use core::arch::wasm32::*;

    #[inline]
    fn hsum(v: v128) -> f32 {
        f32x4_extract_lane::<0>(v) + f32x4_extract_lane::<1>(v) + (f32x4_extract_lane::<2>(v) + f32x4_extract_lane::<3>(v))
    }

    /// `a . b` over the shorter length: four f32x4 accumulators.
    #[inline]
    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let (mut s0, mut s1, mut s2, mut s3) = (f32x4_splat(0.0), f32x4_splat(0.0), f32x4_splat(0.0), f32x4_splat(0.0));
        let mut i = 0;
        // SAFETY: every load reads 4 floats at i + j < n of both slices (unaligned loads are
        // allowed in wasm).
        unsafe {
            while i + 16 <= n {
                let p = |o: usize| (v128_load(pa.add(i + o) as *const v128), v128_load(pb.add(i + o) as *const v128));
                let (x0, y0) = p(0);
                let (x1, y1) = p(4);
                let (x2, y2) = p(8);
                let (x3, y3) = p(12);
                s0 = f32x4_add(s0, f32x4_mul(x0, y0));
                s1 = f32x4_add(s1, f32x4_mul(x1, y1));
                s2 = f32x4_add(s2, f32x4_mul(x2, y2));
                s3 = f32x4_add(s3, f32x4_mul(x3, y3));
                i += 16;
            }
            while i + 4 <= n {
                let (x, y) = (v128_load(pa.add(i) as *const v128), v128_load(pb.add(i) as *const v128));
                s0 = f32x4_add(s0, f32x4_mul(x, y));
                i += 4;
            }
        }
        let mut s = hsum(f32x4_add(f32x4_add(s0, s1), f32x4_add(s2, s3)));
        while i < n {
            s += a[i] * b[i];
            i += 1;
        }
        s
    }

    /// `|a - b|^2` over the shorter length.
    #[inline]
    pub fn l2sq(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let (mut s0, mut s1, mut s2, mut s3) = (f32x4_splat(0.0), f32x4_splat(0.0), f32x4_splat(0.0), f32x4_splat(0.0));
        let mut i = 0;
        // SAFETY: as in `dot`.
        unsafe {
            while i + 16 <= n {
                let t = |o: usize| f32x4_sub(v128_load(pa.add(i + o) as *const v128), v128_load(pb.add(i + o) as *const v128));
                let (t0, t1, t2, t3) = (t(0), t(4), t(8), t(12));
                s0 = f32x4_add(s0, f32x4_mul(t0, t0));
                s1 = f32x4_add(s1, f32x4_mul(t1, t1));
                s2 = f32x4_add(s2, f32x4_mul(t2, t2));
                s3 = f32x4_add(s3, f32x4_mul(t3, t3));
                i += 16;
            }
            while i + 4 <= n {
                let t = f32x4_sub(v128_load(pa.add(i) as *const v128), v128_load(pb.add(i) as *const v128));
                s0 = f32x4_add(s0, f32x4_mul(t, t));
                i += 4;
            }
        }
        let mut s = hsum(f32x4_add(f32x4_add(s0, s1), f32x4_add(s2, s3)));
        while i < n {
            let t = a[i] - b[i];
            s += t * t;
            i += 1;
        }
        s
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
pub mod simd {
    pub use ruvector_kernels::distance::portable::{dot, l2sq};
}
