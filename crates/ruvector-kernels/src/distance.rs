//! Distance kernels. `dot`, `l2sq` and `dot_sq` have an AVX-512F version (with the `avx512`
//! feature, which needs Rust 1.89) and an AVX2 + FMA version chosen at run time on x86_64, an
//! f32x4 version on wasm32 built with `simd128`, and a portable version (eight independent
//! accumulators, which compilers turn into SSE code) everywhere else. The portable loops stay
//! scalar on wasm32: LLVM does not vectorise them there, hence the explicit simd128 module.
//!
//! `dot_i8` (int16 query . int8 codes) is exact integer arithmetic in every version (AVX-512
//! VNNI `vpdpwssd`, AVX-512BW and AVX2 `vpmaddwd`, simd128 `i32x4.dot_i16x8_s`, portable), so
//! all return the same sum; `hamming` is POPCNT on x86_64 and `i64.popcnt` on wasm32. The
//! AVX-512 int8 sets are listed separately (`avx512f+vnni`, `avx512f+bw`) so the tests run
//! each on a CPU that has them.
//!
//! Inputs of different lengths are compared over the shorter one; callers pass equal lengths.

/// The kernel set picked for this CPU; plain function pointers so the HNSW hot loop pays one
/// indirect call and no feature check.
#[derive(Clone, Copy)]
pub struct Kernels {
    /// `a . b`
    pub dot: fn(&[f32], &[f32]) -> f32,
    /// `|a - b|^2`
    pub l2sq: fn(&[f32], &[f32]) -> f32,
    /// `(a . b, |b|^2)` in one pass.
    pub dot_sq: fn(&[f32], &[f32]) -> (f32, f32),
    /// `batch_distance` over whole blocks of rows, where a set has a kernel that reads
    /// several rows at once; the others go one row at a time through the kernels above.
    pub rows: Option<BatchKernel>,
    /// `Σ q_i c_i` of an int16 query and int8 codes, exact (integer arithmetic, so every
    /// kernel returns the same value): the sum of the asymmetric int8 distance, whose float
    /// query is quantized once per search to int16 (see [`quantize_query`]).
    pub dot_i8: fn(&[i16], &[i8]) -> i64,
    /// Bits that differ between two packed sign codes (popcount of their XOR).
    pub hamming: fn(&[u8], &[u8]) -> u32,
    /// Name of the instruction set in use, for diagnostics.
    pub isa: &'static str,
}

/// Distances from a query to every row of a matrix, written into `out` (one per row).
pub type BatchKernel = fn(&[f32], &[f32], Kind, &mut [f32]);

/// Codes an int8 dot kernel may sum into one i32 lane set before it must widen: no lane
/// then holds more than 256 products of at most 2^15 * 2^7 in magnitude (2^30 in all).
pub const I32_SAFE: usize = 4096;

/// The int16 query of the int8 distance: `q_i ≈ step * out_i` with `out_i` in
/// -32767..=32767 (`step = max|q| / 32767`, 0 for a zero query). Each component is off by at
/// most `step / 2`, ~1.5e-5 of the largest: far below the int8 codes' own rounding, and an
/// integer dot is exact, so every kernel gives the same sum. NaN or infinite components are
/// the caller's to refuse (the API checks queries are finite).
pub fn quantize_query(q: &[f32], out: &mut Vec<i16>) -> f32 {
    // eight lanes, as the compiler vectorises the comparisons (a single running maximum
    // is one dependent compare per component)
    let mut lanes = [0f32; 8];
    let blocks = q.chunks_exact(8);
    let rest = blocks.remainder();
    for block in blocks {
        for i in 0..8 {
            let x = block[i].abs();
            lanes[i] = if x > lanes[i] { x } else { lanes[i] };
        }
    }
    let top = lanes.iter().chain(rest).fold(0f32, |m, &x| if x.abs() > m { x.abs() } else { m });
    out.clear();
    if top == 0.0 || !top.is_finite() {
        out.resize(q.len(), 0);
        return 0.0;
    }
    let inv = 32767.0 / top;
    // round half away from zero through a truncating conversion: no libm call (`round` is
    // one on x86-64 without SSE4.1), the same result on every target; |x * inv| <= 32767
    out.extend(q.iter().map(|&x| {
        let y = x * inv;
        (y + if y < 0.0 { -0.5 } else { 0.5 }) as i16
    }));
    top / 32767.0
}

/// `Σ v_i` over eight lanes (a single running sum is one dependent add per component).
pub fn sum(v: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let blocks = v.chunks_exact(8);
    let rest = blocks.remainder();
    for block in blocks {
        for i in 0..8 {
            lanes[i] += block[i];
        }
    }
    let mut total = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
    for &x in rest {
        total += x;
    }
    total
}

/// The best kernels this CPU supports.
pub fn kernels() -> Kernels {
    supported_kernels()[0]
}

/// Every kernel set this CPU can run, best first, ending with the portable one: `kernels()`
/// takes the first, and the tests check each against the portable code (so the AVX2 kernels
/// stay tested on a CPU that would pick AVX-512).
pub fn supported_kernels() -> Vec<Kernels> {
    let mut all = Vec::new();
    #[cfg(all(target_arch = "x86_64", feature = "avx512"))]
    {
        if std::is_x86_feature_detected!("avx512f") {
            let f = Kernels {
                dot: x86_512::dot,
                l2sq: x86_512::l2sq,
                dot_sq: x86_512::dot_sq,
                rows: Some(x86_512::rows),
                dot_i8: x86::dot_i8,
                hamming: x86::hamming,
                isa: "avx512f",
            };
            if std::is_x86_feature_detected!("avx512bw") {
                if std::is_x86_feature_detected!("avx512vnni") {
                    all.push(Kernels { dot_i8: x86_512::dot_i8_vnni, isa: "avx512f+vnni", ..f });
                }
                all.push(Kernels { dot_i8: x86_512::dot_i8_bw, isa: "avx512f+bw", ..f });
            }
            all.push(f);
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            all.push(Kernels {
                dot: x86::dot,
                l2sq: x86::l2sq,
                dot_sq: x86::dot_sq,
                rows: None,
                dot_i8: x86::dot_i8,
                hamming: x86::hamming,
                isa: "avx2+fma",
            });
        }
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    all.push(Kernels {
        dot: wasm::dot,
        l2sq: wasm::l2sq,
        dot_sq: wasm::dot_sq,
        rows: None,
        dot_i8: wasm::dot_i8,
        hamming: portable::hamming,
        isa: "simd128",
    });
    all.push(portable_kernels());
    all
}

/// The portable kernels (the fallback on x86_64 without AVX2/FMA and on targets without a
/// SIMD module; also the reference the SIMD kernels are tested against).
pub fn portable_kernels() -> Kernels {
    Kernels {
        dot: portable::dot,
        l2sq: portable::l2sq,
        dot_sq: portable::dot_sq,
        rows: None,
        dot_i8: portable::dot_i8,
        hamming: portable::hamming,
        isa: "portable",
    }
}

/// Which metric a distance is for; distances are lower-is-closer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `1 - cos(a, b)`; 1 when either vector is zero.
    Cosine,
    /// `|a - b|` (the true L2 distance, not squared).
    Euclidean,
    /// `-a . b`
    Dot,
}

/// The distance of the public vector ops: `1 - cos`, L2 or `-dot`.
pub fn distance(k: &Kernels, a: &[f32], b: &[f32], kind: Kind) -> f32 {
    match kind {
        Kind::Dot => -(k.dot)(a, b),
        Kind::Euclidean => sqrt_non_negative((k.l2sq)(a, b)),
        Kind::Cosine => {
            let (d, bb) = (k.dot_sq)(a, b);
            let aa = (k.dot)(a, a);
            cosine_from(d, aa, bb)
        }
    }
}

/// `1 - dot / (|a| |b|)`, 1 for a zero vector. NaN and infinities in the inputs must reach
/// the result (callers detect bad input from non-finite distances), so only an exactly
/// zero norm takes the fallback.
fn cosine_from(dot: f32, aa: f32, bb: f32) -> f32 {
    let norms = (aa as f64).sqrt() * (bb as f64).sqrt();
    if norms == 0.0 {
        1.0
    } else {
        (1.0 - dot as f64 / norms) as f32
    }
}

/// `sqrt(max(x, 0))` that keeps NaN (`f32::max` would turn it into 0).
pub fn sqrt_non_negative(x: f32) -> f32 {
    if x < 0.0 {
        0.0
    } else {
        x.sqrt()
    }
}

/// Distances from `query` to every row of the row-major `matrix` (`out.len()` rows of
/// `query.len()` columns) written into `out`.
pub fn batch_distance(k: &Kernels, query: &[f32], matrix: &[f32], kind: Kind, out: &mut [f32]) {
    let d = query.len();
    if d == 0 {
        return;
    }
    if let Some(rows) = k.rows {
        return rows(query, matrix, kind, out);
    }
    one_row_at_a_time(k, query, matrix, kind, out)
}

/// `batch_distance` through the one-pair kernels.
fn one_row_at_a_time(k: &Kernels, query: &[f32], matrix: &[f32], kind: Kind, out: &mut [f32]) {
    let d = query.len();
    let rows = matrix.chunks_exact(d);
    match kind {
        Kind::Dot => {
            for (o, row) in out.iter_mut().zip(rows) {
                *o = -(k.dot)(query, row);
            }
        }
        Kind::Euclidean => {
            for (o, row) in out.iter_mut().zip(rows) {
                *o = sqrt_non_negative((k.l2sq)(query, row));
            }
        }
        Kind::Cosine => {
            let qq = (k.dot)(query, query);
            for (o, row) in out.iter_mut().zip(rows) {
                let (dd, rr) = (k.dot_sq)(query, row);
                *o = cosine_from(dd, qq, rr);
            }
        }
    }
}

/// Scale each row of `matrix` (row length `d`) to unit L2 norm in place; zero rows stay zero.
pub fn normalize_rows(k: &Kernels, matrix: &mut [f32], d: usize) {
    if d == 0 {
        return;
    }
    for row in matrix.chunks_exact_mut(d) {
        normalize(k, row);
    }
}

/// Scale one vector to unit L2 norm in place; a zero vector stays zero, and a vector with a
/// NaN stays as it is, so that the NaN reaches every distance computed from it.
pub fn normalize(k: &Kernels, v: &mut [f32]) {
    let norm = ((k.dot)(v, v) as f64).sqrt();
    if norm == 0.0 || norm.is_nan() {
        return;
    }
    if norm.is_finite() {
        let inv = 1.0 / norm;
        for x in v.iter_mut() {
            *x = (*x as f64 * inv) as f32;
        }
    } else {
        // the squared norm overflowed float32: rescale in float64
        let n: f64 = v.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>().sqrt();
        for x in v.iter_mut() {
            *x = (*x as f64 / n) as f32;
        }
    }
}

/// Portable kernels: eight accumulators so the compiler can vectorise them.
pub mod portable {
    #[inline]
    fn split(a: &[f32], b: &[f32]) -> usize {
        a.len().min(b.len())
    }

    #[inline]
    fn hsum(acc: [f32; 8]) -> f32 {
        ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
    }

    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = split(a, b);
        let (a, b) = (&a[..n], &b[..n]);
        let mut acc = [0f32; 8];
        let ca = a.chunks_exact(8);
        let cb = b.chunks_exact(8);
        let (ra, rb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for i in 0..8 {
                acc[i] += x[i] * y[i];
            }
        }
        let mut s = hsum(acc);
        for (x, y) in ra.iter().zip(rb) {
            s += x * y;
        }
        s
    }

    pub fn l2sq(a: &[f32], b: &[f32]) -> f32 {
        let n = split(a, b);
        let (a, b) = (&a[..n], &b[..n]);
        let mut acc = [0f32; 8];
        let ca = a.chunks_exact(8);
        let cb = b.chunks_exact(8);
        let (ra, rb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for i in 0..8 {
                let t = x[i] - y[i];
                acc[i] += t * t;
            }
        }
        let mut s = hsum(acc);
        for (x, y) in ra.iter().zip(rb) {
            let t = x - y;
            s += t * t;
        }
        s
    }

    pub fn dot_sq(a: &[f32], b: &[f32]) -> (f32, f32) {
        let n = split(a, b);
        let (a, b) = (&a[..n], &b[..n]);
        let mut acc = [0f32; 8];
        let mut sq = [0f32; 8];
        let ca = a.chunks_exact(8);
        let cb = b.chunks_exact(8);
        let (ra, rb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for i in 0..8 {
                acc[i] += x[i] * y[i];
                sq[i] += y[i] * y[i];
            }
        }
        let (mut s, mut q) = (hsum(acc), hsum(sq));
        for (x, y) in ra.iter().zip(rb) {
            s += x * y;
            q += y * y;
        }
        (s, q)
    }

    pub fn dot_i8(a: &[i16], b: &[i8]) -> i64 {
        let n = a.len().min(b.len());
        let mut total = 0i64;
        for (ca, cb) in a[..n].chunks(super::I32_SAFE).zip(b[..n].chunks(super::I32_SAFE)) {
            let mut acc = [0i32; 16];
            let (xa, xb) = (ca.chunks_exact(16), cb.chunks_exact(16));
            let (ra, rb) = (xa.remainder(), xb.remainder());
            for (x, y) in xa.zip(xb) {
                for i in 0..16 {
                    acc[i] += x[i] as i32 * y[i] as i32;
                }
            }
            for (i, (&x, &y)) in ra.iter().zip(rb).enumerate() {
                acc[i] += x as i32 * y as i32;
            }
            total += acc.iter().map(|&x| x as i64).sum::<i64>();
        }
        total
    }

    /// Eight bytes at a time through `u64::count_ones`, which is one instruction wherever
    /// the target has one (wasm32's `i64.popcnt`; x86_64 calls this from a `popcnt` build).
    #[inline(always)]
    pub fn hamming(a: &[u8], b: &[u8]) -> u32 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let ca = a.chunks_exact(8);
        let cb = b.chunks_exact(8);
        let (ra, rb) = (ca.remainder(), cb.remainder());
        let mut total = 0u32;
        for (x, y) in ca.zip(cb) {
            let word = |c: &[u8]| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            total += (word(x) ^ word(y)).count_ones();
        }
        for (x, y) in ra.iter().zip(rb) {
            total += (x ^ y).count_ones();
        }
        total
    }
}

/// wasm32 simd128 kernels. Each sums `term(a[i..i + 4], b[i..i + 4])` over the vectors:
/// blocks of 32 floats are reduced as two trees of four f32x4 terms into two accumulators,
/// then single f32x4 steps follow, then the last 1-3 floats as one zero-padded f32x4 (zeros
/// add nothing to any of the sums; NaN and infinities still reach them). The wide blocks
/// matter under wasmtime: its compiler (Cranelift) keeps the loop-carried accumulators in
/// stack slots, so every accumulator update is a store-to-load round trip; two updates per
/// 32 floats instead of four per 16 took a 384-d dot from 85 to 62 ns. simd128 has no fused
/// multiply-add, so every engine rounds exactly alike.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm {
    use core::arch::wasm32::*;

    /// The sum of `term` over the 4-float blocks of the common length of `a` and `b`.
    #[inline(always)]
    fn fold<S: Copy>(a: &[f32], b: &[f32], zero: S, term: impl Fn(v128, v128) -> S, add: impl Fn(S, S) -> S) -> S {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let at = |i: usize| {
            // SAFETY: called with i + 4 <= n, inside both slices; wasm loads may be unaligned.
            unsafe { term(v128_load(pa.add(i) as *const v128), v128_load(pb.add(i) as *const v128)) }
        };
        let (mut s0, mut s1) = (zero, zero);
        let mut i = 0;
        while i + 32 <= n {
            s0 = add(s0, add(add(at(i), at(i + 4)), add(at(i + 8), at(i + 12))));
            s1 = add(s1, add(add(at(i + 16), at(i + 20)), add(at(i + 24), at(i + 28))));
            i += 32;
        }
        while i + 4 <= n {
            s0 = add(s0, at(i));
            i += 4;
        }
        if i < n {
            let (mut x, mut y) = ([0f32; 4], [0f32; 4]);
            x[..n - i].copy_from_slice(&a[i..n]);
            y[..n - i].copy_from_slice(&b[i..n]);
            // SAFETY: reads the two local 4-float arrays.
            s1 = add(
                s1,
                term(unsafe { v128_load(x.as_ptr() as *const v128) }, unsafe { v128_load(y.as_ptr() as *const v128) }),
            );
        }
        add(s0, s1)
    }

    #[inline(always)]
    fn hsum(v: v128) -> f32 {
        (f32x4_extract_lane::<0>(v) + f32x4_extract_lane::<1>(v))
            + (f32x4_extract_lane::<2>(v) + f32x4_extract_lane::<3>(v))
    }

    // Plain wrappers: `#[target_feature]` intrinsics do not implement the `Fn` traits.
    #[inline(always)]
    fn add(x: v128, y: v128) -> v128 {
        f32x4_add(x, y)
    }

    #[inline(always)]
    fn mul(x: v128, y: v128) -> v128 {
        f32x4_mul(x, y)
    }

    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        hsum(fold(a, b, f32x4_splat(0.0), mul, add))
    }

    pub fn l2sq(a: &[f32], b: &[f32]) -> f32 {
        let square_diff = |x, y| {
            let t = f32x4_sub(x, y);
            f32x4_mul(t, t)
        };
        hsum(fold(a, b, f32x4_splat(0.0), square_diff, add))
    }

    pub fn dot_sq(a: &[f32], b: &[f32]) -> (f32, f32) {
        let terms = |x, y| (f32x4_mul(x, y), f32x4_mul(y, y));
        let add2 = |(d0, q0): (v128, v128), (d1, q1): (v128, v128)| (add(d0, d1), add(q0, q1));
        let (d, q) = fold(a, b, (f32x4_splat(0.0), f32x4_splat(0.0)), terms, add2);
        (hsum(d), hsum(q))
    }

    /// `Σ q_i c_i`: 16 codes per load, widened to two i16x8 and multiplied pairwise into
    /// i32x4 sums (`i32x4.dot_i16x8_s`); i32 lanes flushed to i64 every `I32_SAFE` codes.
    pub fn dot_i8(a: &[i16], b: &[i8]) -> i64 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut total = 0i64;
        let mut i = 0;
        while i + 16 <= n {
            let end = (i + super::I32_SAFE).min(n);
            let (mut s0, mut s1) = (i32x4_splat(0), i32x4_splat(0));
            while i + 16 <= end {
                // SAFETY: i + 16 <= n, inside both slices; wasm loads may be unaligned.
                let (c, q0, q1) = unsafe {
                    (
                        v128_load(pb.add(i) as *const v128),
                        v128_load(pa.add(i) as *const v128),
                        v128_load(pa.add(i + 8) as *const v128),
                    )
                };
                s0 = i32x4_add(s0, i32x4_dot_i16x8(q0, i16x8_extend_low_i8x16(c)));
                s1 = i32x4_add(s1, i32x4_dot_i16x8(q1, i16x8_extend_high_i8x16(c)));
                i += 16;
            }
            let s = i32x4_add(s0, s1);
            total += i32x4_extract_lane::<0>(s) as i64
                + i32x4_extract_lane::<1>(s) as i64
                + i32x4_extract_lane::<2>(s) as i64
                + i32x4_extract_lane::<3>(s) as i64;
        }
        while i < n {
            total += a[i] as i64 * b[i] as i64;
            i += 1;
        }
        total
    }
}

/// AVX-512F kernels (the `avx512` feature; `_mm512_*` intrinsics are stable since Rust 1.89).
#[cfg(all(target_arch = "x86_64", feature = "avx512"))]
#[clippy::msrv = "1.89"] // only built with the `avx512` feature, whose intrinsics need 1.89
#[allow(unused_unsafe)]
mod x86_512 {
    use super::{cosine_from, one_row_at_a_time, sqrt_non_negative, Kernels, Kind};
    use std::arch::x86_64::*;

    // Safe entry points: they are only ever put into a `Kernels` after
    // `is_x86_feature_detected!` confirmed AVX-512F.
    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        unsafe { dot_512(a, b) }
    }
    pub fn l2sq(a: &[f32], b: &[f32]) -> f32 {
        unsafe { l2sq_512(a, b) }
    }
    pub fn dot_sq(a: &[f32], b: &[f32]) -> (f32, f32) {
        unsafe { dot_sq_512(a, b) }
    }
    /// Only put into a `Kernels` after `is_x86_feature_detected!` confirmed AVX-512BW and
    /// AVX-512 VNNI.
    pub fn dot_i8_vnni(a: &[i16], b: &[i8]) -> i64 {
        unsafe { dot_i8_vnni_512(a, b) }
    }
    /// Only put into a `Kernels` after `is_x86_feature_detected!` confirmed AVX-512BW.
    pub fn dot_i8_bw(a: &[i16], b: &[i8]) -> i64 {
        unsafe { dot_i8_bw_512(a, b) }
    }

    /// `Σ q_i c_i` with `step(acc, q, c)` over 32 int16 query components and 32 codes
    /// widened to int16: two accumulators, flushed to i64 every `I32_SAFE` codes (where
    /// the i32 lanes could next overflow); the last 1-31 through masked loads.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn fold_i8(a: &[i16], b: &[i8], step: impl Fn(__m512i, __m512i, __m512i) -> __m512i) -> i64 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut total = 0i64;
        let mut i = 0;
        while i < n {
            let end = (i + super::I32_SAFE).min(n);
            let (mut s0, mut s1) = (_mm512_setzero_si512(), _mm512_setzero_si512());
            while i + 64 <= end {
                // SAFETY: i + 64 <= n, inside both slices.
                unsafe {
                    let c0 = _mm512_cvtepi8_epi16(_mm256_loadu_si256(pb.add(i) as *const __m256i));
                    let c1 = _mm512_cvtepi8_epi16(_mm256_loadu_si256(pb.add(i + 32) as *const __m256i));
                    s0 = step(s0, _mm512_loadu_si512(pa.add(i) as *const _), c0);
                    s1 = step(s1, _mm512_loadu_si512(pa.add(i + 32) as *const _), c1);
                }
                i += 64;
            }
            while i < end {
                let left = (end - i).min(32);
                let mask = if left == 32 { u32::MAX } else { (1u32 << left) - 1 };
                // SAFETY: only the `left` lanes inside both slices are read.
                unsafe {
                    let bytes = _mm512_maskz_loadu_epi8(mask as u64, pb.add(i));
                    let c = _mm512_cvtepi8_epi16(_mm512_castsi512_si256(bytes));
                    s0 = step(s0, _mm512_maskz_loadu_epi16(mask, pa.add(i)), c);
                }
                i += left;
            }
            let wide = |s: __m512i| {
                let lo = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(s));
                let hi = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(s, 1));
                _mm512_add_epi64(lo, hi)
            };
            total += _mm512_reduce_add_epi64(_mm512_add_epi64(wide(s0), wide(s1)));
        }
        total
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn dot_i8_vnni_512(a: &[i16], b: &[i8]) -> i64 {
        fold_i8(a, b, |s, q, c| _mm512_dpwssd_epi32(s, q, c))
    }

    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn dot_i8_bw_512(a: &[i16], b: &[i8]) -> i64 {
        fold_i8(a, b, |s, q, c| _mm512_add_epi32(s, _mm512_madd_epi16(q, c)))
    }

    /// `step(acc, a[i..i + 16], b[i..i + 16])` folded over the common length of `a` and `b`:
    /// four accumulators over blocks of 64 floats (independent chains hide the FMA latency),
    /// then 16-float steps, then the last 1-15 floats through masked loads (lanes past the
    /// end read as zero and add nothing; NaN and infinities still reach the sums). The four
    /// accumulators are combined with `add`. (A safe `#[target_feature]` function: callable
    /// without `unsafe` only from code already compiled for AVX-512F.)
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn fold<S: Copy>(
        a: &[f32],
        b: &[f32],
        zero: S,
        step: impl Fn(S, __m512, __m512) -> S,
        add: impl Fn(S, S) -> S,
    ) -> S {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        // SAFETY: called with i + 16 <= n, inside both slices.
        let load = |i: usize| unsafe { (_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i))) };
        let (mut s0, mut s1, mut s2, mut s3) = (zero, zero, zero, zero);
        let mut i = 0;
        while i + 64 <= n {
            let ((x0, y0), (x1, y1), (x2, y2), (x3, y3)) = (load(i), load(i + 16), load(i + 32), load(i + 48));
            s0 = step(s0, x0, y0);
            s1 = step(s1, x1, y1);
            s2 = step(s2, x2, y2);
            s3 = step(s3, x3, y3);
            i += 64;
        }
        while i + 16 <= n {
            let (x, y) = load(i);
            s0 = step(s0, x, y);
            i += 16;
        }
        if i < n {
            let mask = ((1u32 << (n - i)) - 1) as __mmask16;
            // SAFETY: only the n - i lanes inside both slices are read.
            let (x, y) = unsafe { (_mm512_maskz_loadu_ps(mask, pa.add(i)), _mm512_maskz_loadu_ps(mask, pb.add(i))) };
            s1 = step(s1, x, y);
        }
        add(add(s0, s1), add(s2, s3))
    }

    /// `batch_distance` four rows at a time: each 16-float block of the query is loaded once
    /// and meets the same block of four rows, so four rows' loads and accumulator chains are
    /// in flight together. One row at a time, each row's reduction waited on its loads and a
    /// 100,000 x 384 batch took 2.4x as long as numpy's `M @ q`. Rows left over after the last
    /// block of four go through the one-pair kernels, whose sums are accumulated alike
    /// (sixteen lanes, reduced at the end), so results agree with `distance` to rounding.
    pub fn rows(query: &[f32], matrix: &[f32], kind: Kind, out: &mut [f32]) {
        // SAFETY: only put into a `Kernels` after AVX-512F was detected.
        unsafe { rows_512(query, matrix, kind, out) }
    }

    #[target_feature(enable = "avx512f")]
    fn rows_512(query: &[f32], matrix: &[f32], kind: Kind, out: &mut [f32]) {
        let d = query.len();
        let n = out.len().min(matrix.len() / d);
        let whole = n - n % 4;
        let zero = _mm512_setzero_ps();
        let blocks = matrix[..whole * d].chunks_exact(4 * d).zip(out[..whole].chunks_exact_mut(4));
        match kind {
            Kind::Dot => {
                for (rows, o) in blocks {
                    let sums = fold4(query, rows, zero, |s, x, y| _mm512_fmadd_ps(x, y, s));
                    for (o, s) in o.iter_mut().zip(sums) {
                        *o = -_mm512_reduce_add_ps(s);
                    }
                }
            }
            Kind::Euclidean => {
                let step = |s, x, y| {
                    let t = _mm512_sub_ps(x, y);
                    _mm512_fmadd_ps(t, t, s)
                };
                for (rows, o) in blocks {
                    for (o, s) in o.iter_mut().zip(fold4(query, rows, zero, step)) {
                        *o = sqrt_non_negative(_mm512_reduce_add_ps(s));
                    }
                }
            }
            Kind::Cosine => {
                // SAFETY: this function runs only where AVX-512F is present.
                let qq = unsafe { dot_512(query, query) };
                let step = |(d, q), x, y| (_mm512_fmadd_ps(x, y, d), _mm512_fmadd_ps(y, y, q));
                for (rows, o) in blocks {
                    for (o, (dd, rr)) in o.iter_mut().zip(fold4(query, rows, (zero, zero), step)) {
                        *o = cosine_from(_mm512_reduce_add_ps(dd), qq, _mm512_reduce_add_ps(rr));
                    }
                }
            }
        }
        let one_pair = Kernels {
            dot,
            l2sq,
            dot_sq,
            rows: None,
            dot_i8: super::x86::dot_i8,
            hamming: super::x86::hamming,
            isa: "avx512f",
        };
        one_row_at_a_time(&one_pair, query, &matrix[whole * d..n * d], kind, &mut out[whole..n]);
    }

    /// `step(acc[r], query[i..i + 16], row_r[i..i + 16])` over the four rows of `rows`
    /// (`4 * query.len()` floats), the last 1-15 floats through masked loads.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn fold4<S: Copy>(query: &[f32], rows: &[f32], zero: S, step: impl Fn(S, __m512, __m512) -> S) -> [S; 4] {
        let d = query.len();
        assert!(rows.len() >= 4 * d, "fold4 takes four rows");
        let (pq, pr) = (query.as_ptr(), rows.as_ptr());
        let mut acc = [zero; 4];
        let mut i = 0;
        while i + 16 <= d {
            // SAFETY: i + 16 <= d, and row r is rows[r * d..(r + 1) * d].
            let x = unsafe { _mm512_loadu_ps(pq.add(i)) };
            for (r, a) in acc.iter_mut().enumerate() {
                *a = step(*a, x, unsafe { _mm512_loadu_ps(pr.add(r * d + i)) });
            }
            i += 16;
        }
        if i < d {
            let mask = ((1u32 << (d - i)) - 1) as __mmask16;
            // SAFETY: only the d - i lanes inside the query and each row are read.
            let x = unsafe { _mm512_maskz_loadu_ps(mask, pq.add(i)) };
            for (r, a) in acc.iter_mut().enumerate() {
                *a = step(*a, x, unsafe { _mm512_maskz_loadu_ps(mask, pr.add(r * d + i)) });
            }
        }
        acc
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn dot_512(a: &[f32], b: &[f32]) -> f32 {
        let acc = fold(a, b, _mm512_setzero_ps(), |s, x, y| _mm512_fmadd_ps(x, y, s), |s, t| _mm512_add_ps(s, t));
        _mm512_reduce_add_ps(acc)
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn l2sq_512(a: &[f32], b: &[f32]) -> f32 {
        let step = |s, x, y| {
            let t = _mm512_sub_ps(x, y);
            _mm512_fmadd_ps(t, t, s)
        };
        _mm512_reduce_add_ps(fold(a, b, _mm512_setzero_ps(), step, |s, t| _mm512_add_ps(s, t)))
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn dot_sq_512(a: &[f32], b: &[f32]) -> (f32, f32) {
        let zero = _mm512_setzero_ps();
        let step = |(d, q), x, y| (_mm512_fmadd_ps(x, y, d), _mm512_fmadd_ps(y, y, q));
        let add = |(d0, q0), (d1, q1)| (_mm512_add_ps(d0, d1), _mm512_add_ps(q0, q1));
        let (d, q) = fold(a, b, (zero, zero), step, add);
        (_mm512_reduce_add_ps(d), _mm512_reduce_add_ps(q))
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unused_unsafe)]
mod x86 {
    use std::arch::x86_64::*;

    // Safe entry points: they are only ever put into a `Kernels` after
    // `is_x86_feature_detected!` confirmed AVX2 and FMA.
    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        unsafe { dot_avx2(a, b) }
    }
    pub fn l2sq(a: &[f32], b: &[f32]) -> f32 {
        unsafe { l2sq_avx2(a, b) }
    }
    pub fn dot_sq(a: &[f32], b: &[f32]) -> (f32, f32) {
        unsafe { dot_sq_avx2(a, b) }
    }
    pub fn dot_i8(a: &[i16], b: &[i8]) -> i64 {
        unsafe { dot_i8_avx2(a, b) }
    }
    /// Only put into a `Kernels` on a CPU with AVX2, which all have POPCNT.
    pub fn hamming(a: &[u8], b: &[u8]) -> u32 {
        unsafe { hamming_popcnt(a, b) }
    }

    /// The portable loop compiled with the POPCNT instruction (without it, `count_ones` is
    /// a dozen shifts and masks).
    #[target_feature(enable = "popcnt")]
    unsafe fn hamming_popcnt(a: &[u8], b: &[u8]) -> u32 {
        super::portable::hamming(a, b)
    }

    /// `Σ q_i c_i`: 16 codes per step widened to int16 and multiplied pairwise into i32
    /// (`vpmaddwd`) in two accumulators, flushed to i64 every `I32_SAFE` codes; a scalar
    /// tail of 0-15.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_i8_avx2(a: &[i16], b: &[i8]) -> i64 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut total = 0i64;
        let mut i = 0usize;
        // SAFETY (here and below): i + 16 <= n, inside both slices; the CPU has AVX2.
        unsafe {
            while i + 16 <= n {
                let end = (i + super::I32_SAFE).min(n);
                let (mut s0, mut s1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
                while i + 32 <= end {
                    let c0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(pb.add(i) as *const __m128i));
                    let c1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(pb.add(i + 16) as *const __m128i));
                    let q0 = _mm256_loadu_si256(pa.add(i) as *const __m256i);
                    let q1 = _mm256_loadu_si256(pa.add(i + 16) as *const __m256i);
                    s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(q0, c0));
                    s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(q1, c1));
                    i += 32;
                }
                if i + 16 <= end {
                    let c0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(pb.add(i) as *const __m128i));
                    s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(_mm256_loadu_si256(pa.add(i) as *const __m256i), c0));
                    i += 16;
                }
                let mut lanes = [0i32; 16];
                _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, s0);
                _mm256_storeu_si256(lanes.as_mut_ptr().add(8) as *mut __m256i, s1);
                total += lanes.iter().map(|&x| x as i64).sum::<i64>();
            }
            while i < n {
                total += *pa.add(i) as i64 * *pb.add(i) as i64;
                i += 1;
            }
        }
        total
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn hsum(v: __m256) -> f32 {
        unsafe {
            let lo = _mm256_castps256_ps128(v);
            let hi = _mm256_extractf128_ps(v, 1);
            let s = _mm_add_ps(lo, hi);
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0x55));
            _mm_cvtss_f32(s)
        }
    }

    /// `step(acc, a[i..i + 8], b[i..i + 8])` over the common length of `a` and `b`: four
    /// accumulators over blocks of 32 floats (independent chains hide the FMA latency), then
    /// 8-float steps into the first. Returns the accumulators' total and where the 0-7 floats
    /// left for the caller's scalar tail begin.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn fold(a: &[f32], b: &[f32], step: impl Fn(__m256, __m256, __m256) -> __m256) -> (f32, usize) {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        // SAFETY: called with i + 8 <= n, inside both slices.
        let load = |i: usize| unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
        unsafe {
            let (mut a0, mut a1, mut a2, mut a3) =
                (_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps());
            let mut i = 0usize;
            while i + 32 <= n {
                let ((x0, y0), (x1, y1), (x2, y2), (x3, y3)) = (load(i), load(i + 8), load(i + 16), load(i + 24));
                a0 = step(a0, x0, y0);
                a1 = step(a1, x1, y1);
                a2 = step(a2, x2, y2);
                a3 = step(a3, x3, y3);
                i += 32;
            }
            while i + 8 <= n {
                let (x, y) = load(i);
                a0 = step(a0, x, y);
                i += 8;
            }
            (hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))), i)
        }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY (here and below): the caller runs on a CPU with AVX2 and FMA.
        let (mut s, i) = unsafe { fold(a, b, |acc, x, y| unsafe { _mm256_fmadd_ps(x, y, acc) }) };
        for (x, y) in a[i..].iter().zip(&b[i..]) {
            s += x * y;
        }
        s
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn l2sq_avx2(a: &[f32], b: &[f32]) -> f32 {
        let step = |acc, x, y| unsafe {
            let d = _mm256_sub_ps(x, y);
            _mm256_fmadd_ps(d, d, acc)
        };
        let (mut s, i) = unsafe { fold(a, b, step) };
        for (x, y) in a[i..].iter().zip(&b[i..]) {
            let t = x - y;
            s += t * t;
        }
        s
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_sq_avx2(a: &[f32], b: &[f32]) -> (f32, f32) {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut i = 0usize;
        // SAFETY: as in dot_avx2.
        unsafe {
            let mut d0 = _mm256_setzero_ps();
            let mut d1 = _mm256_setzero_ps();
            let mut q0 = _mm256_setzero_ps();
            let mut q1 = _mm256_setzero_ps();
            while i + 16 <= n {
                let x0 = _mm256_loadu_ps(pa.add(i));
                let y0 = _mm256_loadu_ps(pb.add(i));
                let x1 = _mm256_loadu_ps(pa.add(i + 8));
                let y1 = _mm256_loadu_ps(pb.add(i + 8));
                d0 = _mm256_fmadd_ps(x0, y0, d0);
                q0 = _mm256_fmadd_ps(y0, y0, q0);
                d1 = _mm256_fmadd_ps(x1, y1, d1);
                q1 = _mm256_fmadd_ps(y1, y1, q1);
                i += 16;
            }
            while i + 8 <= n {
                let x0 = _mm256_loadu_ps(pa.add(i));
                let y0 = _mm256_loadu_ps(pb.add(i));
                d0 = _mm256_fmadd_ps(x0, y0, d0);
                q0 = _mm256_fmadd_ps(y0, y0, q0);
                i += 8;
            }
            let mut s = hsum(_mm256_add_ps(d0, d1));
            let mut q = hsum(_mm256_add_ps(q0, q1));
            while i < n {
                let (x, y) = (*pa.add(i), *pb.add(i));
                s += x * y;
                q += y * y;
                i += 1;
            }
            (s, q)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vecs(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn simd_matches_scalar_at_every_tail() {
        let all = supported_kernels();
        assert_eq!(all[0].isa, kernels().isa);
        assert_eq!(all.last().map(|k| k.isa), Some("portable"));
        for d in [0usize, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 79, 100, 384, 1000] {
            let a = vecs(d, 1);
            let b = vecs(d, 2);
            let dot: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            let l2: f64 = a.iter().zip(&b).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum();
            let bb: f64 = b.iter().map(|y| *y as f64 * *y as f64).sum();
            for kk in &all {
                assert!(((kk.dot)(&a, &b) as f64 - dot).abs() < 1e-4, "dot d={d} {}", kk.isa);
                assert!(((kk.l2sq)(&a, &b) as f64 - l2).abs() < 1e-4, "l2 d={d} {}", kk.isa);
                let (x, y) = (kk.dot_sq)(&a, &b);
                assert!((x as f64 - dot).abs() < 1e-4 && (y as f64 - bb).abs() < 1e-4, "dot_sq d={d} {}", kk.isa);
            }
        }
    }

    fn codes(n: usize, seed: u64) -> Vec<i8> {
        vecs(n, seed).iter().map(|x| (x * 128.0).clamp(-128.0, 127.0) as i8).collect()
    }

    #[test]
    fn int8_and_hamming_kernels_match_scalar_at_every_tail() {
        for d in [0usize, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 383, 384, 385, 1000] {
            let q = vecs(d, 5);
            let mut c = codes(d, 6);
            if d > 2 {
                c[0] = -128;
                c[d - 1] = 127;
            }
            let mut q16 = Vec::new();
            let step = quantize_query(&q, &mut q16);
            let exact: i64 = q16.iter().zip(&c).map(|(&x, &y)| x as i64 * y as i64).sum();
            let want: f64 = q.iter().zip(&c).map(|(x, &y)| *x as f64 * y as f64).sum();
            // the int16 query stays within half a step of the float query per component
            assert!((exact as f64 * step as f64 - want).abs() <= 0.5 * step as f64 * 128.0 * d as f64 + 1e-9);
            let (a, b): (Vec<u8>, Vec<u8>) = c.iter().map(|&x| (x as u8, (x as u8).rotate_left(3))).unzip();
            let bits: u32 = a.iter().zip(&b).map(|(x, y)| (x ^ y).count_ones()).sum();
            for kk in &supported_kernels() {
                assert_eq!((kk.dot_i8)(&q16, &c), exact, "dot_i8 d={d} {}", kk.isa);
                assert_eq!((kk.hamming)(&a, &b), bits, "hamming d={d} {}", kk.isa);
            }
        }
    }

    #[test]
    fn int8_kernels_never_overflow() {
        // every product at its largest magnitude, past several flushes of the i32 lanes
        for d in [4096usize, 4097, 9000, 65_536] {
            let q = vec![-32767i16; d];
            let c = vec![-128i8; d];
            for kk in &supported_kernels() {
                assert_eq!((kk.dot_i8)(&q, &c), 32767 * 128 * d as i64, "d={d} {}", kk.isa);
            }
        }
    }

    #[test]
    fn non_finite_inputs_reach_every_kernel_result() {
        for kk in &supported_kernels() {
            for d in [1usize, 3, 8, 15, 16, 17, 33, 64, 79, 384] {
                for pos in [0, d / 2, d - 1] {
                    for bad in [f32::NAN, f32::INFINITY] {
                        let (mut a, b) = (vecs(d, 3), vecs(d, 4));
                        a[pos] = bad;
                        let what = format!("{} d={d} pos={pos} {bad}", kk.isa);
                        assert!(!(kk.dot)(&a, &b).is_finite(), "dot {what}");
                        assert!(!(kk.l2sq)(&a, &b).is_finite(), "l2sq {what}");
                        assert!(!(kk.dot_sq)(&a, &b).0.is_finite(), "dot_sq {what}");
                        assert!(!(kk.dot_sq)(&b, &a).1.is_finite(), "dot_sq norm {what}");
                    }
                }
            }
        }
    }

    #[test]
    fn batch_kernels_match_one_pair_distances() {
        for kk in &supported_kernels() {
            for d in [1usize, 7, 16, 17, 33, 384] {
                for n in 0..10 {
                    let (query, mut matrix) = (vecs(d, 5), vecs(n * d, 6));
                    if n > 5 {
                        matrix[5 * d + d / 2] = f32::NAN; // reaches its row's distance only
                    }
                    for kind in [Kind::Cosine, Kind::Euclidean, Kind::Dot] {
                        let mut out = vec![0f32; n];
                        batch_distance(kk, &query, &matrix, kind, &mut out);
                        for (r, got) in out.iter().enumerate() {
                            let want = distance(kk, &query, &matrix[r * d..(r + 1) * d], kind);
                            let what = format!("{} d={d} n={n} row={r} {kind:?}", kk.isa);
                            assert_eq!(got.is_nan(), want.is_nan(), "{what}");
                            assert!(got.is_nan() || (got - want).abs() < 1e-5, "{what}: {got} vs {want}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn metric_distances() {
        let k = kernels();
        let a = [1.0f32, 0.0, 0.0];
        let b = [0.0f32, 2.0, 0.0];
        assert!((distance(&k, &a, &b, Kind::Cosine) - 1.0).abs() < 1e-6);
        assert!((distance(&k, &a, &a, Kind::Cosine)).abs() < 1e-6);
        assert!((distance(&k, &a, &b, Kind::Euclidean) - 5f32.sqrt()).abs() < 1e-6);
        assert_eq!(distance(&k, &a, &b, Kind::Dot), 0.0);
        assert_eq!(distance(&k, &[0.0; 3], &b, Kind::Cosine), 1.0);
        let m = [a, b].concat();
        let mut out = [0f32; 2];
        batch_distance(&k, &a, &m, Kind::Euclidean, &mut out);
        assert_eq!(out[0], 0.0);
        let mut v = vec![3.0f32, 4.0, 0.0, 0.0, 0.0, 0.0];
        normalize_rows(&k, &mut v, 3);
        assert_eq!(&v, &[0.6, 0.8, 0.0, 0.0, 0.0, 0.0]);
    }
}
