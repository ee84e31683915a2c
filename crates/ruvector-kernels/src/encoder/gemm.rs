//! The encoder's linear layers: `y = x W^T + b` over a batch of token rows.
//!
//! int8 weights are multiplied in integers: each activation row is quantized to i16 with
//! its own scale (as many levels as the sum over `in` products can take without leaving
//! i32: 32767 levels for 384 inputs, 10922 for 1536), the weights are widened to i16 once
//! at load, and the products are summed exactly in i32. The sum is exact, so every kernel
//! (portable, AVX2, AVX-512 VNNI, wasm simd128) gives the same bits, and results agree
//! across machines and engines; the only rounding is the activation's quantization
//! (relative step about 1e-4 of the row's largest value).
//!
//! float32 weights use the float dot kernels of [`crate::distance`].

use crate::exec::Executor;

use super::simd::{self, DotKernels};

/// A linear layer's weights, stored output-major (`out` rows of `inp`).
pub enum Weights {
    /// int8 codes widened to i16, and one scale per output.
    Int8 {
        codes: Vec<i16>,
        scales: Vec<f32>,
    },
    F32(Vec<f32>),
}

pub struct Linear {
    pub inp: usize,
    pub out: usize,
    pub weights: Weights,
    pub bias: Vec<f32>,
}

/// How many output columns one work item of a parallel product takes, at least.
const MIN_COLUMNS: usize = 64;

/// The largest activation code for `inp` inputs: `inp * 128 * q` stays within i32.
pub fn activation_levels(inp: usize) -> i32 {
    let bound = (i32::MAX as usize) / (inp.max(1) * 128);
    bound.min(32767) as i32
}

/// Activation rows quantized to i16, with the scale of each row.
pub struct QuantRows {
    pub codes: Vec<i16>,
    pub scales: Vec<f32>,
}

pub fn quantize_rows(x: &[f32], rows: usize, inp: usize) -> QuantRows {
    let levels = activation_levels(inp) as f32;
    let mut codes = vec![0i16; rows * inp];
    let mut scales = vec![0f32; rows];
    for r in 0..rows {
        let row = &x[r * inp..(r + 1) * inp];
        let amax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        if amax == 0.0 {
            continue;
        }
        let inv = levels / amax;
        for (c, v) in codes[r * inp..(r + 1) * inp].iter_mut().zip(row) {
            *c = (v * inv).round() as i16;
        }
        scales[r] = amax / levels;
    }
    QuantRows { codes, scales }
}

impl Linear {
    /// `x` (rows x inp) times the weights plus the bias: rows x out, the output columns
    /// spread over `exec`'s workers.
    pub fn apply<E: Executor>(&self, k: &DotKernels, exec: &E, parts: usize, x: &[f32], rows: usize) -> Vec<f32> {
        let quant = match self.weights {
            Weights::Int8 { .. } => Some(quantize_rows(x, rows, self.inp)),
            Weights::F32(_) => None,
        };
        let parts = parts.max(1).min((self.out / MIN_COLUMNS).max(1));
        let width = (self.out + parts - 1) / parts;
        let pieces = exec.map(parts, |p| {
            let start = p * width;
            let end = (start + width).min(self.out);
            self.columns(k, quant.as_ref(), x, rows, start, end)
        });
        if pieces.len() == 1 {
            return pieces.into_iter().next().unwrap_or_default();
        }
        let mut y = vec![0f32; rows * self.out];
        for (p, piece) in pieces.iter().enumerate() {
            let start = p * width;
            let cols = (start + width).min(self.out) - start;
            for r in 0..rows {
                y[r * self.out + start..r * self.out + start + cols].copy_from_slice(&piece[r * cols..(r + 1) * cols]);
            }
        }
        y
    }

    /// Output columns `start..end` for every row, row-major (rows x (end - start)).
    fn columns(
        &self,
        k: &DotKernels,
        quant: Option<&QuantRows>,
        x: &[f32],
        rows: usize,
        start: usize,
        end: usize,
    ) -> Vec<f32> {
        let cols = end - start;
        let inp = self.inp;
        let mut y = vec![0f32; rows * cols];
        match (&self.weights, quant) {
            (Weights::Int8 { codes, scales }, Some(q)) => {
                let mut put = |r: usize, o: usize, d: i32| {
                    y[r * cols + o - start] = d as f32 * (q.scales[r] * scales[o]) + self.bias[o];
                };
                let mut o = start;
                while o + 4 <= end {
                    let w = &codes[o * inp..(o + 4) * inp];
                    let mut r = 0;
                    while r + 4 <= rows {
                        let d = (k.dot_i16_4x4)(w, &q.codes[r * inp..(r + 4) * inp], inp);
                        for i in 0..4 {
                            for j in 0..4 {
                                put(r + i, o + j, d[i * 4 + j]);
                            }
                        }
                        r += 4;
                    }
                    for r in r..rows {
                        for j in 0..4 {
                            put(r, o + j, (k.dot_i16)(&w[j * inp..(j + 1) * inp], &q.codes[r * inp..(r + 1) * inp]));
                        }
                    }
                    o += 4;
                }
                for o in o..end {
                    for r in 0..rows {
                        put(r, o, (k.dot_i16)(&codes[o * inp..(o + 1) * inp], &q.codes[r * inp..(r + 1) * inp]));
                    }
                }
            }
            (Weights::F32(w), _) => {
                for o in start..end {
                    let wo = &w[o * inp..(o + 1) * inp];
                    let b = self.bias[o];
                    for r in 0..rows {
                        y[r * cols + o - start] = (k.dot_f32)(wo, &x[r * inp..(r + 1) * inp]) + b;
                    }
                }
            }
            (Weights::Int8 { .. }, None) => {}
        }
        y
    }
}

/// The kernels [`Linear::apply`] uses on this machine.
pub fn kernels() -> DotKernels {
    simd::kernels()
}
