//! The encoder against a naive float64 BERT forward pass on small random models, its kernels
//! against each other, and its loader against damaged blobs (typed errors, never a panic).

mod common;

use ruvector_kernels::crc32::crc32;
use ruvector_kernels::encoder::simd::supported_kernels;
use ruvector_kernels::encoder::{Encoder, EncoderError};

use common::Rng;

const VOCAB: usize = 50;
const POSITIONS: usize = 16;
const HIDDEN: usize = 24;
const HEADS: usize = 3;
const FF: usize = 40;
const LAYERS: usize = 2;
const EPS: f32 = 1e-12;

/// A float model: `table[row][col]`, linear weights output-major `[out][in]`.
struct Model {
    words: Vec<Vec<f64>>,
    positions: Vec<Vec<f64>>,
    token_type: Vec<f64>,
    norm: (Vec<f64>, Vec<f64>),
    layers: Vec<Layer>,
}

struct Linear {
    w: Vec<Vec<f64>>,
    b: Vec<f64>,
}

struct Layer {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    n1: (Vec<f64>, Vec<f64>),
    f1: Linear,
    f2: Linear,
    n2: (Vec<f64>, Vec<f64>),
}

/// Random weights; with `int8`, each matrix is rounded to int8 codes times a scale per
/// output (per row for tables), so the int8 blob holds exactly this model.
fn model(seed: u64, int8: bool) -> Model {
    let mut rng = Rng(seed);
    let mut matrix = |rows: usize, cols: usize, spread: f64| -> Vec<Vec<f64>> {
        (0..rows)
            .map(|_| {
                let row: Vec<f64> = (0..cols).map(|_| rng.unit() * spread).collect();
                if !int8 {
                    return row;
                }
                let scale = (row.iter().fold(0f64, |m, v| m.max(v.abs())) / 127.0) as f32 as f64;
                row.iter().map(|v| (v / scale).round().clamp(-127.0, 127.0) * scale).collect()
            })
            .collect()
    };
    let words = matrix(VOCAB, HIDDEN, 1.0);
    let positions = matrix(POSITIONS, HIDDEN, 0.5);
    let token_type = matrix(1, HIDDEN, 0.1).remove(0);
    let mut layers = Vec::new();
    let mut linear = |inp: usize, out: usize| Linear { w: matrix(out, inp, 0.3), b: matrix(1, out, 0.1).remove(0) };
    for _ in 0..LAYERS {
        let (q, k, v, o) =
            (linear(HIDDEN, HIDDEN), linear(HIDDEN, HIDDEN), linear(HIDDEN, HIDDEN), linear(HIDDEN, HIDDEN));
        let (f1, f2) = (linear(HIDDEN, FF), linear(FF, HIDDEN));
        layers.push(Layer { q, k, v, o, n1: norm(seed + 1), f1, f2, n2: norm(seed + 2) });
    }
    Model { words, positions, token_type, norm: norm(seed + 3), layers }
}

fn norm(seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut rng = Rng(seed);
    ((0..HIDDEN).map(|_| 1.0 + 0.2 * rng.unit()).collect(), (0..HIDDEN).map(|_| 0.1 * rng.unit()).collect())
}

fn f32s(out: &mut Vec<u8>, values: &[f64]) {
    for v in values {
        out.extend_from_slice(&(*v as f32).to_le_bytes());
    }
}

/// Codes and scale per row of an int8-rounded matrix (as `model(_, true)` made it).
fn int8_rows(out: &mut Vec<u8>, rows: &[Vec<f64>]) {
    let mut scales = Vec::new();
    for row in rows {
        let scale = row.iter().fold(0f64, |m, v| m.max(v.abs())) / 127.0;
        let scale = if scale == 0.0 { 1.0 } else { scale };
        for v in row {
            out.push((v / scale).round() as i8 as u8);
        }
        scales.push(scale);
    }
    f32s(out, &scales);
}

fn blob(m: &Model, int8: bool) -> Vec<u8> {
    let mut p = Vec::new();
    let matrix = |p: &mut Vec<u8>, rows: &[Vec<f64>]| {
        if int8 {
            int8_rows(p, rows)
        } else {
            rows.iter().for_each(|r| f32s(p, r))
        }
    };
    matrix(&mut p, &m.words);
    matrix(&mut p, &m.positions);
    f32s(&mut p, &m.token_type);
    f32s(&mut p, &m.norm.0);
    f32s(&mut p, &m.norm.1);
    for l in &m.layers {
        for lin in [&l.q, &l.k, &l.v, &l.o] {
            matrix(&mut p, &lin.w);
            f32s(&mut p, &lin.b);
        }
        f32s(&mut p, &l.n1.0);
        f32s(&mut p, &l.n1.1);
        for lin in [&l.f1, &l.f2] {
            matrix(&mut p, &lin.w);
            f32s(&mut p, &lin.b);
        }
        f32s(&mut p, &l.n2.0);
        f32s(&mut p, &l.n2.1);
    }
    let mut out = b"RVENCODE".to_vec();
    for v in [1, if int8 { 1 } else { 2 }, VOCAB, POSITIONS, HIDDEN, HEADS, FF, LAYERS] {
        out.extend_from_slice(&(v as u32).to_le_bytes());
    }
    out.extend_from_slice(&EPS.to_le_bytes());
    out.extend_from_slice(&crc32(&p).to_le_bytes());
    out.extend_from_slice(&(p.len() as u64).to_le_bytes());
    out.extend_from_slice(&p);
    out
}

fn apply(lin: &Linear, x: &[Vec<f64>]) -> Vec<Vec<f64>> {
    x.iter()
        .map(|r| lin.w.iter().zip(&lin.b).map(|(w, b)| w.iter().zip(r).map(|(a, c)| a * c).sum::<f64>() + b).collect())
        .collect()
}

fn layer_norm(x: &mut [Vec<f64>], (g, b): &(Vec<f64>, Vec<f64>)) {
    for r in x.iter_mut() {
        let mean = r.iter().sum::<f64>() / r.len() as f64;
        let var = r.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / r.len() as f64;
        for (i, v) in r.iter_mut().enumerate() {
            *v = (*v - mean) / (var + EPS as f64).sqrt() * g[i] + b[i];
        }
    }
}

/// erf by its Taylor series (|x| < 6 here; enough terms for float64 accuracy).
fn erf(x: f64) -> f64 {
    if x.abs() > 5.5 {
        return x.signum();
    }
    let (mut term, mut sum, mut n) = (x, x, 0.0);
    while term.abs() > 1e-17 * sum.abs().max(1e-300) {
        n += 1.0;
        term *= -x * x / n;
        sum += term / (2.0 * n + 1.0);
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

/// One text's embedding, computed the plain way in float64.
fn reference(m: &Model, ids: &[u32]) -> Vec<f64> {
    let mut x: Vec<Vec<f64>> = ids
        .iter()
        .enumerate()
        .map(|(p, &id)| (0..HIDDEN).map(|c| m.words[id as usize][c] + m.positions[p][c] + m.token_type[c]).collect())
        .collect();
    layer_norm(&mut x, &m.norm);
    let d = HIDDEN / HEADS;
    for l in &m.layers {
        let (q, k, v) = (apply(&l.q, &x), apply(&l.k, &x), apply(&l.v, &x));
        let mut ctx = vec![vec![0.0; HIDDEN]; x.len()];
        for h in 0..HEADS {
            for i in 0..x.len() {
                let s: Vec<f64> = (0..x.len())
                    .map(|j| (0..d).map(|c| q[i][h * d + c] * k[j][h * d + c]).sum::<f64>() / (d as f64).sqrt())
                    .collect();
                let max = s.iter().cloned().fold(f64::MIN, f64::max);
                let e: Vec<f64> = s.iter().map(|v| (v - max).exp()).collect();
                let total: f64 = e.iter().sum();
                for (j, w) in e.iter().enumerate() {
                    for c in 0..d {
                        ctx[i][h * d + c] += w / total * v[j][h * d + c];
                    }
                }
            }
        }
        let o = apply(&l.o, &ctx);
        x.iter_mut().zip(&o).for_each(|(a, b)| a.iter_mut().zip(b).for_each(|(p, q)| *p += q));
        layer_norm(&mut x, &l.n1);
        let mut f = apply(&l.f1, &x);
        f.iter_mut().for_each(|r| r.iter_mut().for_each(|v| *v = 0.5 * *v * (1.0 + erf(*v / 2f64.sqrt()))));
        let f = apply(&l.f2, &f);
        x.iter_mut().zip(&f).for_each(|(a, b)| a.iter_mut().zip(b).for_each(|(p, q)| *p += q));
        layer_norm(&mut x, &l.n2);
    }
    let mut pooled = [0.0; HIDDEN];
    x.iter().for_each(|r| pooled.iter_mut().zip(r).for_each(|(p, v)| *p += v));
    let norm = pooled.iter().map(|v| v * v).sum::<f64>().sqrt();
    pooled.iter().map(|v| v / norm).collect()
}

fn texts(seed: u64) -> (Vec<u32>, Vec<u32>) {
    let mut rng = Rng(seed);
    let lengths: Vec<u32> = (0..7).map(|i| if i == 0 { 1 } else { 1 + rng.below(POSITIONS) as u32 }).collect();
    let ids = (0..lengths.iter().sum::<u32>()).map(|_| rng.below(VOCAB) as u32).collect();
    (ids, lengths)
}

fn cosine(a: &[f32], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * y).sum()
}

#[test]
fn float32_model_matches_the_float64_reference() {
    let m = model(1, false);
    let enc = Encoder::load(&blob(&m, false)).unwrap();
    let (ids, lengths) = texts(2);
    let got = enc.embed(&ids, &lengths).unwrap();
    let mut at = 0;
    for (t, &len) in lengths.iter().enumerate() {
        let want = reference(&m, &ids[at..at + len as usize]);
        let c = cosine(&got[t * HIDDEN..(t + 1) * HIDDEN], &want);
        assert!(c > 0.999_999, "text {t}: cosine {c}");
        at += len as usize;
    }
}

#[test]
fn int8_model_matches_the_float64_reference_of_its_rounded_weights() {
    let m = model(3, true);
    let (ids, lengths) = texts(4);
    for kernels in supported_kernels() {
        let enc = Encoder::load(&blob(&m, true)).unwrap().with_kernels(kernels);
        let got = enc.embed(&ids, &lengths).unwrap();
        let mut at = 0;
        for (t, &len) in lengths.iter().enumerate() {
            let c = cosine(&got[t * HIDDEN..(t + 1) * HIDDEN], &reference(&m, &ids[at..at + len as usize]));
            assert!(c > 0.9999, "{}: text {t}: cosine {c}", kernels.isa);
            at += len as usize;
        }
    }
}

#[test]
fn every_kernel_set_gives_the_same_bits_and_batches_do_not_matter() {
    let data = blob(&model(5, true), true);
    let (ids, lengths) = texts(6);
    let all = supported_kernels();
    let want = Encoder::load(&data).unwrap().with_kernels(*all.last().unwrap()).embed(&ids, &lengths).unwrap();
    for kernels in &all {
        let enc = Encoder::load(&data).unwrap().with_kernels(*kernels);
        assert_eq!(enc.embed(&ids, &lengths).unwrap(), want, "{}", kernels.isa);
        let mut at = 0;
        for (t, &len) in lengths.iter().enumerate() {
            let one = enc.embed(&ids[at..at + len as usize], &[len]).unwrap();
            assert_eq!(one, want[t * HIDDEN..(t + 1) * HIDDEN].to_vec(), "{}: text {t} alone", kernels.isa);
            at += len as usize;
        }
    }
}

#[test]
fn bad_input_is_a_typed_error() {
    let enc = Encoder::load(&blob(&model(7, true), true)).unwrap();
    assert_eq!(enc.embed(&[VOCAB as u32], &[1]), Err(EncoderError::Token { id: VOCAB as u32, vocab: VOCAB }));
    assert!(matches!(enc.embed(&[], &[0]), Err(EncoderError::TextLength { .. })));
    let long = vec![1u32; POSITIONS + 1];
    assert!(matches!(enc.embed(&long, &[long.len() as u32]), Err(EncoderError::TextLength { .. })));
    assert!(matches!(enc.embed(&[1, 2, 3], &[2]), Err(EncoderError::Lengths { .. })));
    assert!(enc.embed(&[1], &[u32::MAX, 2]).is_err());
    assert_eq!(enc.embed(&[], &[]).unwrap(), Vec::<f32>::new());
}

#[test]
fn damaged_blobs_are_typed_errors_never_panics() {
    let good = blob(&model(8, true), true);
    assert!(matches!(Encoder::load(&good[..good.len() - 1]), Err(EncoderError::Length { .. })));
    assert!(matches!(Encoder::load(&good[..10]), Err(EncoderError::NotABlob)));
    let mut flipped = good.clone();
    flipped[200] ^= 1;
    assert!(matches!(Encoder::load(&flipped), Err(EncoderError::Checksum { .. })));
    let mut rng = Rng(9);
    let iters: usize = std::env::var("RUVECTOR_FUZZ_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(3000);
    for _ in 0..iters {
        let mut data = good.clone();
        match rng.below(4) {
            0 => {
                // a header word overwritten with a boundary value
                let at = 4 * rng.below(14);
                let value = [0u32, 1, 2, 3, 0xFFFF_FFFF, 0x8000_0000, 4096, 65536][rng.below(8)];
                data[at..at + 4].copy_from_slice(&value.to_le_bytes());
            }
            1 => data.truncate(rng.below(data.len())),
            2 => data.extend((0..1 + rng.below(64)).map(|_| rng.next() as u8)),
            _ => {
                let at = rng.below(data.len());
                data[at] ^= 1 << rng.below(8);
            }
        }
        if rng.below(2) == 0 && data.len() >= 56 {
            // fix the checksum so the structural checks are reached
            let crc = crc32(&data[56..]);
            data[44..48].copy_from_slice(&crc.to_le_bytes());
        }
        if let Ok(enc) = Encoder::load(&data) {
            let (ids, lengths) = texts(10);
            if let Ok(v) = enc.embed(&ids, &lengths) {
                assert!(v.iter().all(|x| x.is_finite()) || v.is_empty());
            }
        }
    }
}
