//! Quantization, matching the reference backend bit for bit where it is exact.
//!
//! * int8: per row, `low = min`, `scale = (max - min) / 255`, `level = rint((x - low) / scale)`
//!   (round half to even, as numpy) clipped to 0..=255, stored as `level - 128`; a constant row
//!   has scale 0 and all levels 0. Dequantized as `(code + 128) * scale + low`.
//! * binary: `x > 0` packed eight to a byte, first component in the most significant bit
//!   (numpy's `packbits`), plus the row's mean absolute value as its scale.

const LEVELS: f64 = 255.0;

/// numpy's `rint` (round half to even) for 0 <= x < 2^52: adding and removing 2^52 rounds
/// in the FPU's default mode, which is exactly that, with no libm call and no branch.
#[inline]
fn rint(x: f64) -> f64 {
    const TWO52: f64 = 4_503_599_627_370_496.0;
    (x + TWO52) - TWO52
}

/// Quantize `rows` rows of `d` floats to int8 codes (`rows * d`), scales and offsets.
///
/// The loops are written so the compiler vectorises them (comparisons rather than
/// `f32::min` / `f64::max`, whose NaN rules it must otherwise keep; the inputs are finite,
/// checked at the API boundary): 1,000 x 384 took 1.5 ms instead of 2.1 ms, with identical
/// codes. The division stays in f64, as numpy's, to match the reference bit for bit.
pub fn quantize_int8(matrix: &[f32], d: usize, codes: &mut [i8], scales: &mut [f32], offsets: &mut [f32]) {
    if d == 0 {
        return;
    }
    for (r, row) in matrix.chunks_exact(d).enumerate() {
        let (lo, hi) = range(row);
        let (lo, hi) = (lo as f64, hi as f64);
        let scale = (hi - lo) / LEVELS;
        let safe = if scale > 0.0 { scale } else { 1.0 };
        for (c, &x) in codes[r * d..(r + 1) * d].iter_mut().zip(row) {
            let level = rint((x as f64 - lo) / safe).clamp(0.0, LEVELS);
            *c = (level as i32 - 128) as i8;
        }
        scales[r] = scale as f32;
        offsets[r] = lo as f32;
    }
}

/// (min, max) of a row of finite floats, over 16 independent lanes.
#[inline]
fn range(row: &[f32]) -> (f32, f32) {
    const LANES: usize = 16;
    let mut lo = [f32::INFINITY; LANES];
    let mut hi = [f32::NEG_INFINITY; LANES];
    let blocks = row.chunks_exact(LANES);
    let rest = blocks.remainder();
    for block in blocks {
        for i in 0..LANES {
            lo[i] = if block[i] < lo[i] { block[i] } else { lo[i] };
            hi[i] = if block[i] > hi[i] { block[i] } else { hi[i] };
        }
    }
    let mut low = f32::INFINITY;
    let mut high = f32::NEG_INFINITY;
    for &x in lo.iter().chain(rest) {
        low = if x < low { x } else { low };
    }
    for &x in hi.iter().chain(rest) {
        high = if x > high { x } else { high };
    }
    (low, high)
}

/// Inverse of [`quantize_int8`].
pub fn dequantize_int8(codes: &[i8], d: usize, scales: &[f32], offsets: &[f32], out: &mut [f32]) {
    if d == 0 {
        return;
    }
    for (r, (row, o)) in codes.chunks_exact(d).zip(out.chunks_exact_mut(d)).enumerate() {
        let (s, off) = (scales[r] as f64, offsets[r] as f64);
        for (x, &c) in o.iter_mut().zip(row) {
            *x = ((c as f64 + 128.0) * s + off) as f32;
        }
    }
}

/// Bytes per row of binary codes for `d` components.
pub fn binary_row_bytes(d: usize) -> usize {
    (d + 7) / 8
}

/// Sign bits (`codes`: rows * binary_row_bytes(d)) and mean |x| per row.
///
/// Each byte is built from its eight components at once rather than bit by bit into
/// memory, which the compiler vectorises; the |x| sum keeps its order, so scales are
/// unchanged.
pub fn quantize_binary(matrix: &[f32], d: usize, codes: &mut [u8], scales: &mut [f32]) {
    if d == 0 {
        return;
    }
    let rb = binary_row_bytes(d);
    for (r, row) in matrix.chunks_exact(d).enumerate() {
        for (byte, bits) in codes[r * rb..(r + 1) * rb].iter_mut().zip(row.chunks(8)) {
            *byte = bits.iter().enumerate().fold(0u8, |acc, (i, &x)| acc | (((x > 0.0) as u8) << (7 - i)));
        }
        let mut sum = 0f64;
        for &x in row {
            sum += (x as f64).abs();
        }
        scales[r] = (sum / d as f64) as f32;
    }
}

/// Inverse of [`quantize_binary`]: `+scale` for a set bit, `-scale` otherwise.
pub fn dequantize_binary(codes: &[u8], d: usize, scales: &[f32], out: &mut [f32]) {
    if d == 0 {
        return;
    }
    let rb = binary_row_bytes(d);
    for (r, o) in out.chunks_exact_mut(d).enumerate() {
        let row = &codes[r * rb..(r + 1) * rb];
        let s = scales[r];
        for (i, x) in o.iter_mut().enumerate() {
            let bit = row[i / 8] & (0x80 >> (i % 8)) != 0;
            *x = if bit { s } else { -s };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_round_trip_within_half_step() {
        let d = 5;
        let m = [0.0f32, 1.0, 2.0, 3.0, 255.0, 0.25, 0.25, 0.25, 0.25, 0.25];
        let mut codes = [0i8; 10];
        let (mut s, mut o) = ([0f32; 2], [0f32; 2]);
        quantize_int8(&m, d, &mut codes, &mut s, &mut o);
        assert_eq!(&codes[..5], &[-128, -127, -126, -125, 127]);
        assert_eq!(&codes[5..], &[-128; 5]);
        assert_eq!(s, [1.0, 0.0]);
        let mut back = [0f32; 10];
        dequantize_int8(&codes, d, &s, &o, &mut back);
        assert_eq!(back, m);
        assert_eq!(rint(2.5), 2.0);
        assert_eq!(rint(3.5), 4.0);
    }

    #[test]
    fn binary_packs_like_numpy() {
        let m = [1.0f32, -1.0, 0.0, 2.0, 1.0, 1.0, 1.0, 1.0, -3.0];
        let mut codes = [0u8; 2];
        let mut s = [0f32; 1];
        quantize_binary(&m, 9, &mut codes, &mut s);
        assert_eq!(codes, [0b1001_1111, 0]);
        assert!((s[0] - 11.0 / 9.0).abs() < 1e-6);
        let mut back = [0f32; 9];
        dequantize_binary(&codes, 9, &s, &mut back);
        assert!(back[0] > 0.0 && back[1] < 0.0 && back[8] < 0.0);
    }
}
