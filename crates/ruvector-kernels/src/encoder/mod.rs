//! A BERT sentence encoder (all-MiniLM-L6-v2 and models of its form): token, position and
//! type embeddings with LayerNorm, then per layer masked multi-head self-attention and an
//! exact-GELU feed-forward block, each with a residual and LayerNorm; then masked mean
//! pooling and L2 normalisation.
//!
//! Weights arrive as one blob ([`blob`]); tokenization is the host's. A batch is packed:
//! the texts' token ids one after another and each text's length, so no work is spent on
//! padding. int8 weights run through integer GEMM kernels ([`gemm`], [`simd`]).

pub mod blob;
pub mod gemm;
pub mod ops;
pub mod simd;

use crate::exec::{Executor, Sequential};

use blob::Reader;
pub use blob::{Dims, EncoderError, Precision};
use gemm::{Linear, Weights};
use simd::DotKernels;

/// An embedding table: rows of `hidden` values, int8 with a scale per row or float32.
enum Table {
    Int8 { codes: Vec<i8>, scales: Vec<f32> },
    F32(Vec<f32>),
}

impl Table {
    fn read(r: &mut Reader<'_>, dims: &Dims, rows: usize, what: &'static str) -> Result<Table, EncoderError> {
        let n = rows * dims.hidden;
        Ok(match dims.precision {
            Precision::Int8 => Table::Int8 { codes: r.i8s(n)?, scales: r.f32s(rows, what)? },
            Precision::F32 => Table::F32(r.f32s(n, what)?),
        })
    }

    fn add_row(&self, row: usize, hidden: usize, out: &mut [f32]) {
        match self {
            Table::Int8 { codes, scales } => {
                let s = scales[row];
                for (o, &c) in out.iter_mut().zip(&codes[row * hidden..(row + 1) * hidden]) {
                    *o += c as f32 * s;
                }
            }
            Table::F32(values) => {
                for (o, v) in out.iter_mut().zip(&values[row * hidden..(row + 1) * hidden]) {
                    *o += v;
                }
            }
        }
    }
}

struct Norm {
    gain: Vec<f32>,
    bias: Vec<f32>,
}

impl Norm {
    fn read(r: &mut Reader<'_>, hidden: usize) -> Result<Norm, EncoderError> {
        Ok(Norm { gain: r.f32s(hidden, "a LayerNorm gain")?, bias: r.f32s(hidden, "a LayerNorm bias")? })
    }
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    attention_norm: Norm,
    intermediate: Linear,
    ffn_output: Linear,
    output_norm: Norm,
}

fn read_linear(r: &mut Reader<'_>, dims: &Dims, inp: usize, out: usize) -> Result<Linear, EncoderError> {
    let n = inp * out;
    let weights = match dims.precision {
        Precision::Int8 => {
            let (packed, pairs) = gemm::pack_int8(&r.i8s(n)?, inp, out);
            Weights::Int8 { packed, pairs, scales: r.f32s(out, "a weight scale")? }
        }
        Precision::F32 => Weights::F32(gemm::pack_f32(&r.f32s(n, "a weight matrix")?, inp, out)),
    };
    Ok(Linear { inp, out, weights, bias: r.f32s(out, "a bias")? })
}

/// The loaded model.
pub struct Encoder {
    dims: Dims,
    words: Table,
    positions: Table,
    token_type: Vec<f32>,
    embedding_norm: Norm,
    layers: Vec<Layer>,
    kernels: DotKernels,
}

impl Encoder {
    /// The model a blob holds, after checking its header, length and checksum.
    pub fn load(data: &[u8]) -> Result<Encoder, EncoderError> {
        let (dims, payload) = blob::validate(data)?;
        let mut r = Reader::new(payload);
        let h = dims.hidden;
        let words = Table::read(&mut r, &dims, dims.vocab, "the word embeddings")?;
        let positions = Table::read(&mut r, &dims, dims.positions, "the position embeddings")?;
        let token_type = r.f32s(h, "the token type embedding")?;
        let embedding_norm = Norm::read(&mut r, h)?;
        let mut layers = Vec::with_capacity(dims.layers);
        for _ in 0..dims.layers {
            layers.push(Layer {
                query: read_linear(&mut r, &dims, h, h)?,
                key: read_linear(&mut r, &dims, h, h)?,
                value: read_linear(&mut r, &dims, h, h)?,
                output: read_linear(&mut r, &dims, h, h)?,
                attention_norm: Norm::read(&mut r, h)?,
                intermediate: read_linear(&mut r, &dims, h, dims.ff)?,
                ffn_output: read_linear(&mut r, &dims, dims.ff, h)?,
                output_norm: Norm::read(&mut r, h)?,
            });
        }
        if !r.finished() {
            return Err(EncoderError::Header("payload longer than its layers"));
        }
        Ok(Encoder { dims, words, positions, token_type, embedding_norm, layers, kernels: simd::kernels() })
    }

    pub fn dims(&self) -> &Dims {
        &self.dims
    }

    /// The instruction set of the GEMM kernels in use.
    pub fn isa(&self) -> &'static str {
        self.kernels.isa
    }

    /// Uses `kernels` instead of the best ones (the tests compare every supported set).
    pub fn with_kernels(mut self, kernels: DotKernels) -> Encoder {
        self.kernels = kernels;
        self
    }

    /// Checks a packed batch: ids below the vocabulary, each length in 1..=positions, and
    /// the lengths adding up to the ids.
    pub fn check(&self, ids: &[u32], lengths: &[u32]) -> Result<(), EncoderError> {
        let sum: u64 = lengths.iter().map(|&l| l as u64).sum();
        if sum != ids.len() as u64 {
            return Err(EncoderError::Lengths { tokens: ids.len(), sum });
        }
        for &l in lengths {
            if l == 0 || l as usize > self.dims.positions {
                return Err(EncoderError::TextLength { tokens: l as usize, positions: self.dims.positions });
            }
        }
        if let Some(&id) = ids.iter().find(|&&id| id as usize >= self.dims.vocab) {
            return Err(EncoderError::Token { id, vocab: self.dims.vocab });
        }
        Ok(())
    }

    /// Unit-length sentence embeddings (texts x hidden, row-major) of a packed batch.
    pub fn embed(&self, ids: &[u32], lengths: &[u32]) -> Result<Vec<f32>, EncoderError> {
        self.embed_with(&Sequential, 1, ids, lengths)
    }

    /// As [`Encoder::embed`], each matrix product cut into up to `parts` pieces run by `exec`.
    pub fn embed_with<E: Executor>(
        &self,
        exec: &E,
        parts: usize,
        ids: &[u32],
        lengths: &[u32],
    ) -> Result<Vec<f32>, EncoderError> {
        self.check(ids, lengths)?;
        let h = self.dims.hidden;
        let rows = ids.len();
        let mut x = vec![0f32; rows * h];
        let mut at = 0;
        for &len in lengths {
            for p in 0..len as usize {
                let row = &mut x[(at + p) * h..(at + p + 1) * h];
                self.words.add_row(ids[at + p] as usize, h, row);
                self.positions.add_row(p, h, row);
                for (o, t) in row.iter_mut().zip(&self.token_type) {
                    *o += t;
                }
            }
            at += len as usize;
        }
        let eps = self.dims.eps;
        ops::layer_norm(&mut x, h, &self.embedding_norm.gain, &self.embedding_norm.bias, eps);
        let k = &self.kernels;
        for layer in &self.layers {
            let shared = layer.query.quantize(&x, rows);
            let q = layer.query.apply_quantized(k, exec, parts, &x, rows, shared.as_ref());
            let kk = layer.key.apply_quantized(k, exec, parts, &x, rows, shared.as_ref());
            let v = layer.value.apply_quantized(k, exec, parts, &x, rows, shared.as_ref());
            let mut context = vec![0f32; rows * h];
            let mut at = 0;
            for &len in lengths {
                let span = at * h..(at + len as usize) * h;
                ops::attention(
                    &q[span.clone()],
                    &kk[span.clone()],
                    &v[span.clone()],
                    &mut context[span],
                    len as usize,
                    h,
                    self.dims.heads,
                );
                at += len as usize;
            }
            let attended = layer.output.apply(k, exec, parts, &context, rows);
            for (a, b) in x.iter_mut().zip(&attended) {
                *a += b;
            }
            ops::layer_norm(&mut x, h, &layer.attention_norm.gain, &layer.attention_norm.bias, eps);
            let mut inner = layer.intermediate.apply(k, exec, parts, &x, rows);
            ops::gelu(&mut inner);
            let out = layer.ffn_output.apply(k, exec, parts, &inner, rows);
            for (a, b) in x.iter_mut().zip(&out) {
                *a += b;
            }
            ops::layer_norm(&mut x, h, &layer.output_norm.gain, &layer.output_norm.bias, eps);
        }
        Ok(pool(&x, h, lengths))
    }
}

/// Mean of each text's token rows, scaled to unit length (the mean's division is left out:
/// the normalisation undoes it).
fn pool(x: &[f32], hidden: usize, lengths: &[u32]) -> Vec<f32> {
    let mut out = vec![0f32; lengths.len() * hidden];
    let mut at = 0;
    for (t, &len) in lengths.iter().enumerate() {
        let mut sum = vec![0f64; hidden];
        for row in x[at * hidden..(at + len as usize) * hidden].chunks_exact(hidden) {
            for (s, v) in sum.iter_mut().zip(row) {
                *s += *v as f64;
            }
        }
        let norm = sum.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
        for (o, s) in out[t * hidden..(t + 1) * hidden].iter_mut().zip(&sum) {
            *o = (s / norm) as f32;
        }
        at += len as usize;
    }
    out
}
