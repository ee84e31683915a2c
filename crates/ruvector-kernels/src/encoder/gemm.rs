//! The encoder's linear layers: `y = x W^T + b` over a batch of token rows.
//!
//! int8 weights are multiplied in integers: each activation row is quantized to i16 with
//! its own scale (as many levels as the sum over `in` products can take without leaving
//! i32: 32767 levels for 384 inputs, 10922 for 1536), the int8 weights are widened to i16
//! in registers as they load, and the products are summed exactly in i32. Exact: every kernel
//! (portable, AVX2, AVX-512 VNNI, wasm simd128) gives the same bits, and results agree
//! across machines and engines; the only rounding is the activation's quantization
//! (relative step about 1e-4 of the row's largest value).
//!
//! Layout: weights are packed in *panels* of [`PANEL`] outputs, and within a panel by pairs
//! of inputs, output by output: `panel[j][o][0..2] = (W[o][2j], W[o][2j + 1])`. A pair of
//! one row's activations, broadcast to every lane, times one load of the panel gives all
//! sixteen outputs' partial sums in their own lanes (`vpdpwssd`, `vpmaddwd`,
//! `i32x4.dot_i16x8_s` all multiply i16 pairs and add them), so no horizontal sums are
//! needed. Rows go four at a time (the batch is padded with zero rows), outputs a panel at
//! a time (the last panel padded with zero weights).
//!
//! float32 weights use the same panels with one input per step.

use crate::exec::Executor;

use super::simd::{self, DotKernels};

/// Outputs per panel.
pub const PANEL: usize = 16;
/// Rows per kernel call.
pub const ROWS: usize = 4;
/// Panels one work item of a parallel product takes, at least.
const MIN_PANELS: usize = 4;

/// A linear layer's weights, packed in panels.
pub enum Weights {
    /// int8 pairs (`pairs` per output, the input padded to even; the kernels widen them to
    /// i16 as they load them, so the weights stream at one byte each) and one scale per output.
    Int8 { packed: Vec<i8>, pairs: usize, scales: Vec<f32> },
    /// float32 values, `inp` per output.
    F32(Vec<f32>),
}

pub struct Linear {
    pub inp: usize,
    pub out: usize,
    pub weights: Weights,
    pub bias: Vec<f32>,
}

fn panels(out: usize) -> usize {
    (out + PANEL - 1) / PANEL
}

/// Packs output-major int8 codes (`out` rows of `inp`) into panels of int8 pairs.
pub fn pack_int8(codes: &[i8], inp: usize, out: usize) -> (Vec<i8>, usize) {
    let pairs = (inp + 1) / 2;
    let mut packed = vec![0i8; panels(out) * pairs * PANEL * 2];
    for o in 0..out {
        let (p, lane) = (o / PANEL, o % PANEL);
        for (i, &c) in codes[o * inp..(o + 1) * inp].iter().enumerate() {
            packed[((p * pairs + i / 2) * PANEL + lane) * 2 + i % 2] = c;
        }
    }
    (packed, pairs)
}

/// Packs output-major float weights into panels of one input per step.
pub fn pack_f32(w: &[f32], inp: usize, out: usize) -> Vec<f32> {
    let mut packed = vec![0f32; panels(out) * inp * PANEL];
    for o in 0..out {
        let (p, lane) = (o / PANEL, o % PANEL);
        for (i, &v) in w[o * inp..(o + 1) * inp].iter().enumerate() {
            packed[(p * inp + i) * PANEL + lane] = v;
        }
    }
    packed
}

/// The largest activation code for `inp` inputs: `inp * 128 * q` stays within i32.
pub fn activation_levels(inp: usize) -> i32 {
    let bound = (i32::MAX as usize) / (inp.max(1) * 128);
    bound.min(32767) as i32
}

/// Activation rows quantized to i16, each row `2 * pairs` long (zero padded); rows padded
/// to a multiple of [`ROWS`] with zeros; the scale of each row.
pub struct QuantRows {
    pub codes: Vec<i16>,
    pub scales: Vec<f32>,
}

/// Rounds half away from zero with no libm call (the same bits on every target).
#[inline(always)]
fn round_code(v: f32) -> i16 {
    (v + 0.5f32.copysign(v)) as i32 as i16
}

/// Written as plain loops over whole rows, so compilers vectorise them (wasm included).
pub fn quantize_rows(x: &[f32], rows: usize, inp: usize, pairs: usize) -> QuantRows {
    let levels = activation_levels(inp) as f32;
    let padded = (rows + ROWS - 1) / ROWS * ROWS;
    let width = 2 * pairs;
    let mut codes = vec![0i16; padded * width];
    let mut scales = vec![0f32; padded];
    for r in 0..rows {
        let row = &x[r * inp..(r + 1) * inp];
        let amax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        if !(amax > 0.0 && amax.is_finite()) {
            continue;
        }
        let inv = levels / amax;
        let out = &mut codes[r * width..r * width + inp];
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        let (out, row) = wasm_quantize(out, row, inv);
        for (c, v) in out.iter_mut().zip(row) {
            *c = round_code(v * inv);
        }
        scales[r] = amax / levels;
    }
    QuantRows { codes, scales }
}

/// [`round_code`] of the leading multiple of eight values in simd128 (LLVM does not vectorise
/// the scalar loop for wasm), the same operations so the same codes; returns the rest.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn wasm_quantize<'a, 'b>(out: &'a mut [i16], row: &'b [f32], inv: f32) -> (&'a mut [i16], &'b [f32]) {
    use core::arch::wasm32::*;
    let full = row.len() - row.len() % 8;
    let (head, tail) = out.split_at_mut(full);
    let scale = f32x4_splat(inv);
    let (half, sign) = (f32x4_splat(0.5), f32x4_splat(-0.0));
    let code = |v: v128| {
        let m = f32x4_mul(v, scale);
        i32x4_trunc_sat_f32x4(f32x4_add(m, v128_or(half, v128_and(v, sign))))
    };
    for (c, v) in head.chunks_exact_mut(8).zip(row.chunks_exact(8)) {
        // SAFETY: eight floats in, eight i16 out; v128_load/store take unaligned pointers.
        unsafe {
            let lo = code(v128_load(v.as_ptr() as *const v128));
            let hi = code(v128_load(v.as_ptr().add(4) as *const v128));
            v128_store(c.as_mut_ptr() as *mut v128, i16x8_narrow_i32x4(lo, hi));
        }
    }
    (tail, &row[full..])
}

impl Linear {
    /// `x` (rows x inp) times the weights plus the bias: rows x out, the output panels
    /// spread over `exec`'s workers.
    pub fn apply<E: Executor>(&self, k: &DotKernels, exec: &E, parts: usize, x: &[f32], rows: usize) -> Vec<f32> {
        self.apply_quantized(k, exec, parts, x, rows, self.quantize(x, rows).as_ref())
    }

    /// `x`'s rows as this layer's int8 kernels read them (None for float weights): layers
    /// with the same input (query, key, value) share them.
    pub fn quantize(&self, x: &[f32], rows: usize) -> Option<QuantRows> {
        match &self.weights {
            Weights::Int8 { pairs, .. } => Some(quantize_rows(x, rows, self.inp, *pairs)),
            Weights::F32(_) => None,
        }
    }

    /// As [`Linear::apply`], with `x` already quantized by a layer of the same input size.
    pub fn apply_quantized<E: Executor>(
        &self,
        k: &DotKernels,
        exec: &E,
        parts: usize,
        x: &[f32],
        rows: usize,
        quant: Option<&QuantRows>,
    ) -> Vec<f32> {
        let total = panels(self.out);
        let parts = parts.max(1).min((total / MIN_PANELS).max(1));
        let per_part = (total + parts - 1) / parts;
        let pieces = exec.map(parts, |p| {
            let first = p * per_part;
            let last = (first + per_part).min(total);
            self.panels(k, quant, x, rows, first, last)
        });
        if pieces.len() == 1 {
            return pieces.into_iter().next().unwrap_or_default();
        }
        let mut y = vec![0f32; rows * self.out];
        for (p, piece) in pieces.iter().enumerate() {
            let start = (p * per_part * PANEL).min(self.out);
            let cols = ((p + 1) * per_part * PANEL).min(self.out) - start;
            for r in 0..rows {
                y[r * self.out + start..r * self.out + start + cols].copy_from_slice(&piece[r * cols..(r + 1) * cols]);
            }
        }
        y
    }

    /// Output panels `first..last` for every row, row-major (rows x their columns).
    fn panels(
        &self,
        k: &DotKernels,
        quant: Option<&QuantRows>,
        x: &[f32],
        rows: usize,
        first: usize,
        last: usize,
    ) -> Vec<f32> {
        let start = first * PANEL;
        let cols = (last * PANEL).min(self.out) - start;
        let mut y = vec![0f32; rows * cols];
        // one tile's sums into y: times the row's and the output's scales (int8), plus the bias
        let out = self.out;
        let mut store = |r0: usize, p: usize, tile: &[f32; ROWS * PANEL], rows_scale: &[f32], out_scale: &[f32]| {
            let lanes = PANEL.min(out - p * PANEL);
            let o0 = p * PANEL;
            for i in 0..ROWS.min(rows - r0) {
                let rs = rows_scale.get(r0 + i).copied().unwrap_or(1.0);
                let dst = &mut y[(r0 + i) * cols + o0 - start..(r0 + i) * cols + o0 - start + lanes];
                let sums = &tile[i * PANEL..i * PANEL + lanes];
                let bias = &self.bias[o0..o0 + lanes];
                if out_scale.is_empty() {
                    for ((d, s), b) in dst.iter_mut().zip(sums).zip(bias) {
                        *d = s + b;
                    }
                } else {
                    for (((d, s), b), c) in dst.iter_mut().zip(sums).zip(bias).zip(&out_scale[o0..o0 + lanes]) {
                        *d = s * (rs * c) + b;
                    }
                }
            }
        };
        match (&self.weights, quant) {
            (Weights::Int8 { packed, pairs, scales }, Some(q)) => {
                let pairs = *pairs;
                for p in first..last {
                    let w = &packed[p * pairs * PANEL * 2..(p + 1) * pairs * PANEL * 2];
                    for r0 in (0..rows).step_by(ROWS) {
                        let sums = (k.panel_i16)(w, &q.codes[r0 * 2 * pairs..(r0 + ROWS) * 2 * pairs], pairs);
                        let mut tile = [0f32; ROWS * PANEL];
                        for (t, s) in tile.iter_mut().zip(sums.iter()) {
                            *t = *s as f32;
                        }
                        store(r0, p, &tile, &q.scales, scales);
                    }
                }
            }
            (Weights::F32(w), _) => {
                let inp = self.inp;
                let mut padded = vec![0f32; ROWS * inp];
                for p in first..last {
                    let wp = &w[p * inp * PANEL..(p + 1) * inp * PANEL];
                    for r0 in (0..rows).step_by(ROWS) {
                        let n = ROWS.min(rows - r0);
                        let xs = if n == ROWS {
                            &x[r0 * inp..(r0 + ROWS) * inp]
                        } else {
                            padded[..n * inp].copy_from_slice(&x[r0 * inp..(r0 + n) * inp]);
                            &padded[..]
                        };
                        let tile = (k.panel_f32)(wp, xs, inp);
                        store(r0, p, &tile, &[], &[]);
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
