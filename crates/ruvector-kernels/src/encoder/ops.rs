//! The encoder's elementwise steps: LayerNorm, exact GELU, masked self-attention.

/// `x = gain * (x - mean) / sqrt(var + eps) + bias` for each row of `hidden` values
/// (statistics in f64: the rows are short and this keeps them exact to f32).
pub fn layer_norm(x: &mut [f32], hidden: usize, gain: &[f32], bias: &[f32], eps: f32) {
    for row in x.chunks_exact_mut(hidden) {
        let mean = row.iter().map(|&v| v as f64).sum::<f64>() / hidden as f64;
        let var = row.iter().map(|&v| (v as f64 - mean) * (v as f64 - mean)).sum::<f64>() / hidden as f64;
        let inv = 1.0 / (var + eps as f64).sqrt();
        for ((v, g), b) in row.iter_mut().zip(gain).zip(bias) {
            *v = ((*v as f64 - mean) * inv) as f32 * g + b;
        }
    }
}

/// `e^x` for `x` in about [-87, 88] (clamped there), relative error below 4e-7: range
/// reduction to `2^k e^r` with `|r| <= ln2 / 2` and a degree-6 Taylor polynomial. Written
/// with no branch and no libm call, so compilers vectorise the loops that call it, and the
/// same bits come out on every target (libm's `expf` differs between glibc and wasm's).
#[inline(always)]
fn exp(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
    #[allow(clippy::manual_clamp)] // clamp is 1.50+, but max/min also pass NaN through without a panic
    let x = x.max(-87.0).min(88.0);
    let k = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = x - k * 0.693_145_75 - k * 1.428_606_8e-6;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    p * f32::from_bits(((k as i32 + 127) as u32) << 23)
}

/// erf(x), absolute error below 3e-7 (Abramowitz and Stegun 7.1.26, with [`exp`]).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = t * (0.254_829_6 + t * (-0.284_496_74 + t * (1.421_413_8 + t * (-1.453_152_1 + t * 1.061_405_4))));
    (1.0 - poly * exp(-z * z)).copysign(x)
}

/// GELU in its exact form, `x * (1 + erf(x / sqrt 2)) / 2`, in place.
pub fn gelu(x: &mut [f32]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let x = wasm::gelu4(x);
    for v in x.iter_mut() {
        *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// simd128 versions of [`exp`], [`erf`] and [`gelu`] (LLVM does not vectorise the scalar
/// loops for wasm): the same operations in the same order, so the same bits.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm {
    use core::arch::wasm32::*;

    #[inline(always)]
    fn madd(a: v128, b: v128, c: f32) -> v128 {
        f32x4_add(f32x4_splat(c), f32x4_mul(a, b))
    }

    #[inline(always)]
    fn exp4(x: v128) -> v128 {
        const ROUND: f32 = 12_582_912.0;
        let x = f32x4_min(f32x4_max(x, f32x4_splat(-87.0)), f32x4_splat(88.0));
        let k = f32x4_sub(
            f32x4_add(f32x4_mul(x, f32x4_splat(std::f32::consts::LOG2_E)), f32x4_splat(ROUND)),
            f32x4_splat(ROUND),
        );
        let r =
            f32x4_sub(f32x4_sub(x, f32x4_mul(k, f32x4_splat(0.693_145_75))), f32x4_mul(k, f32x4_splat(1.428_606_8e-6)));
        let mut p = madd(r, f32x4_splat(1.0 / 720.0), 1.0 / 120.0);
        p = madd(r, p, 1.0 / 24.0);
        p = madd(r, p, 1.0 / 6.0);
        p = madd(r, p, 0.5);
        p = madd(r, p, 1.0);
        p = madd(r, p, 1.0);
        let scale = i32x4_shl(i32x4_add(i32x4_trunc_sat_f32x4(k), i32x4_splat(127)), 23);
        f32x4_mul(p, scale)
    }

    #[inline(always)]
    fn erf4(x: v128) -> v128 {
        let z = f32x4_abs(x);
        let t = f32x4_div(f32x4_splat(1.0), f32x4_add(f32x4_splat(1.0), f32x4_mul(f32x4_splat(0.327_591_1), z)));
        let mut p = madd(t, f32x4_splat(1.061_405_4), -1.453_152_1);
        p = madd(t, p, 1.421_413_8);
        p = madd(t, p, -0.284_496_74);
        p = madd(t, p, 0.254_829_6);
        p = f32x4_mul(t, p);
        let value = f32x4_sub(f32x4_splat(1.0), f32x4_mul(p, exp4(f32x4_neg(f32x4_mul(z, z)))));
        let sign = v128_and(x, f32x4_splat(-0.0));
        v128_or(v128_andnot(value, f32x4_splat(-0.0)), sign)
    }

    /// GELU of the leading multiple of four values; returns the rest.
    pub fn gelu4(x: &mut [f32]) -> &mut [f32] {
        let full = x.len() - x.len() % 4;
        let (head, tail) = x.split_at_mut(full);
        for chunk in head.chunks_exact_mut(4) {
            // SAFETY: the chunk holds four floats; v128_load/store take unaligned pointers.
            unsafe {
                let v = v128_load(chunk.as_ptr() as *const v128);
                let e = erf4(f32x4_mul(v, f32x4_splat(std::f32::consts::FRAC_1_SQRT_2)));
                let g = f32x4_mul(f32x4_mul(f32x4_splat(0.5), v), f32x4_add(f32x4_splat(1.0), e));
                v128_store(chunk.as_mut_ptr() as *mut v128, g);
            }
        }
        tail
    }
}

/// Multi-head self-attention of one text's tokens: `q`, `k`, `v` and `out` are rows of
/// `hidden` values, `len` rows each; every token attends to the text's own tokens only
/// (the padding mask in its exact form: a batch is packed, never padded).
pub fn attention(q: &[f32], k: &[f32], v: &[f32], out: &mut [f32], len: usize, hidden: usize, heads: usize) {
    let d = hidden / heads;
    let scale = 1.0 / (d as f32).sqrt();
    let mut scores = vec![0f32; len];
    for h in 0..heads {
        let cols = h * d..(h + 1) * d;
        for i in 0..len {
            let qi = &q[i * hidden + cols.start..i * hidden + cols.end];
            let mut max = f32::NEG_INFINITY;
            for (j, s) in scores.iter_mut().enumerate() {
                let kj = &k[j * hidden + cols.start..j * hidden + cols.end];
                *s = qi.iter().zip(kj).map(|(a, b)| a * b).sum::<f32>() * scale;
                max = max.max(*s);
            }
            let mut total = 0f32;
            for s in scores.iter_mut() {
                *s = exp(*s - max);
                total += *s;
            }
            let inv = 1.0 / total;
            let o = &mut out[i * hidden + cols.start..i * hidden + cols.end];
            o.iter_mut().for_each(|x| *x = 0.0);
            for (j, s) in scores.iter().enumerate() {
                let p = s * inv;
                let vj = &v[j * hidden + cols.start..j * hidden + cols.end];
                for (x, y) in o.iter_mut().zip(vj) {
                    *x += p * y;
                }
            }
        }
    }
}
