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
    for v in x.iter_mut() {
        *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2));
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
