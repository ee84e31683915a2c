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

/// erf(x), absolute error below 1.2e-7 (Numerical Recipes' erfc Chebyshev fit, in f64).
pub fn erf(x: f32) -> f32 {
    let z = (x as f64).abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    let value = 1.0 - erfc;
    (if x < 0.0 { -value } else { value }) as f32
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
                *s = (*s - max).exp();
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
