//! The panel kernels of the encoder's linear layers (see [`super::gemm`] for the layout),
//! picked at run time like the distance kernels. The integer kernels sum exactly in i32,
//! so every version returns the same value; the float kernels may differ in the last bits
//! (fused or separate multiply and add).

use super::gemm::{PANEL, ROWS};

/// `ROWS x PANEL` sums, row-major.
pub type Tile<T> = [T; ROWS * PANEL];

/// The kernel set for this machine.
#[derive(Clone, Copy)]
pub struct DotKernels {
    /// One int8 panel (`pairs` steps of `PANEL` int8 pairs) against `ROWS` activation rows
    /// of `pairs` i16 pairs each: exact sums.
    pub panel_i16: fn(&[i8], &[i16], usize) -> Tile<i32>,
    /// One float panel (`inp` steps of `PANEL` weights) against `ROWS` rows of `inp` floats.
    pub panel_f32: fn(&[f32], &[f32], usize) -> Tile<f32>,
    /// Name of the instruction set in use.
    pub isa: &'static str,
}

/// The best kernels this machine supports.
pub fn kernels() -> DotKernels {
    supported_kernels()[0]
}

/// Every kernel set this machine can run, best first, ending with the portable one.
pub fn supported_kernels() -> Vec<DotKernels> {
    let mut all = Vec::new();
    #[cfg(all(target_arch = "x86_64", feature = "avx512"))]
    {
        if std::is_x86_feature_detected!("avx512bw") && std::is_x86_feature_detected!("avx512vnni") {
            all.push(DotKernels { panel_i16: x86_512::panel_i16, panel_f32: x86_512::panel_f32, isa: "avx512-vnni" });
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            all.push(DotKernels { panel_i16: x86::panel_i16, panel_f32: x86::panel_f32, isa: "avx2+fma" });
        }
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    all.push(DotKernels { panel_i16: wasm::panel_i16, panel_f32: wasm::panel_f32, isa: "simd128" });
    all.push(DotKernels { panel_i16: portable::panel_i16, panel_f32: portable::panel_f32, isa: "portable" });
    all
}

fn check(w: usize, x: usize, steps: usize, per_step: usize) {
    assert!(w >= steps * PANEL * per_step && x >= ROWS * steps * per_step, "panel or rows too short");
}

/// Row `r`'s activation pair `j` as one i32 (the two i16 side by side, little endian), which
/// the kernels broadcast to every lane.
#[inline(always)]
fn pair(x: &[i16], pairs: usize, r: usize, j: usize) -> i32 {
    let at = 2 * (r * pairs + j);
    (x[at] as u16 as u32 | (x[at + 1] as u16 as u32) << 16) as i32
}

pub mod portable {
    use super::{check, Tile, PANEL, ROWS};

    pub fn panel_i16(w: &[i8], x: &[i16], pairs: usize) -> Tile<i32> {
        check(w.len(), x.len(), pairs, 2);
        let mut acc = [0i32; ROWS * PANEL];
        for j in 0..pairs {
            let wj = &w[j * PANEL * 2..(j + 1) * PANEL * 2];
            for r in 0..ROWS {
                let (lo, hi) = (x[2 * (r * pairs + j)] as i32, x[2 * (r * pairs + j) + 1] as i32);
                for o in 0..PANEL {
                    let term = wj[2 * o] as i32 * lo + wj[2 * o + 1] as i32 * hi;
                    acc[r * PANEL + o] = acc[r * PANEL + o].wrapping_add(term);
                }
            }
        }
        acc
    }

    pub fn panel_f32(w: &[f32], x: &[f32], inp: usize) -> Tile<f32> {
        check(w.len(), x.len(), inp, 1);
        let mut acc = [0f32; ROWS * PANEL];
        for i in 0..inp {
            let wi = &w[i * PANEL..(i + 1) * PANEL];
            for r in 0..ROWS {
                let xv = x[r * inp + i];
                for o in 0..PANEL {
                    acc[r * PANEL + o] += xv * wi[o];
                }
            }
        }
        acc
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{check, pair, Tile, PANEL, ROWS};
    use std::arch::x86_64::*;

    pub fn panel_i16(w: &[i8], x: &[i16], pairs: usize) -> Tile<i32> {
        check(w.len(), x.len(), pairs, 2);
        // SAFETY: chosen only when the CPU has AVX2 (`supported_kernels`); lengths checked.
        unsafe { panel_i16_avx2(w, x, pairs) }
    }

    pub fn panel_f32(w: &[f32], x: &[f32], inp: usize) -> Tile<f32> {
        check(w.len(), x.len(), inp, 1);
        // SAFETY: chosen only when the CPU has AVX2 and FMA; lengths checked.
        unsafe { panel_f32_avx2(w, x, inp) }
    }

    /// Eight accumulators (four rows x two halves of the panel); `vpmaddwd` multiplies
    /// the broadcast activation pair by each output's weight pair and adds the two.
    #[target_feature(enable = "avx2")]
    unsafe fn panel_i16_avx2(w: &[i8], x: &[i16], pairs: usize) -> Tile<i32> {
        let mut acc = [[_mm256_setzero_si256(); 2]; ROWS];
        for j in 0..pairs {
            // SAFETY: the panel holds pairs * PANEL * 2 values and x ROWS * pairs (checked).
            unsafe {
                let w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(w.as_ptr().add(j * PANEL * 2) as *const __m128i));
                let w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(w.as_ptr().add(j * PANEL * 2 + 16) as *const __m128i));
                for (r, a) in acc.iter_mut().enumerate() {
                    let b = _mm256_set1_epi32(pair(x, pairs, r, j));
                    a[0] = _mm256_add_epi32(a[0], _mm256_madd_epi16(w0, b));
                    a[1] = _mm256_add_epi32(a[1], _mm256_madd_epi16(w1, b));
                }
            }
        }
        let mut out = [0i32; ROWS * PANEL];
        for (r, a) in acc.iter().enumerate() {
            // SAFETY: out has ROWS * PANEL values.
            unsafe {
                _mm256_storeu_si256(out.as_mut_ptr().add(r * PANEL) as *mut __m256i, a[0]);
                _mm256_storeu_si256(out.as_mut_ptr().add(r * PANEL + 8) as *mut __m256i, a[1]);
            }
        }
        out
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn panel_f32_avx2(w: &[f32], x: &[f32], inp: usize) -> Tile<f32> {
        let mut acc = [[_mm256_setzero_ps(); 2]; ROWS];
        for i in 0..inp {
            // SAFETY: the panel holds inp * PANEL values and x ROWS * inp (checked).
            unsafe {
                let w0 = _mm256_loadu_ps(w.as_ptr().add(i * PANEL));
                let w1 = _mm256_loadu_ps(w.as_ptr().add(i * PANEL + 8));
                for (r, a) in acc.iter_mut().enumerate() {
                    let b = _mm256_set1_ps(*x.get_unchecked(r * inp + i));
                    a[0] = _mm256_fmadd_ps(w0, b, a[0]);
                    a[1] = _mm256_fmadd_ps(w1, b, a[1]);
                }
            }
        }
        let mut out = [0f32; ROWS * PANEL];
        for (r, a) in acc.iter().enumerate() {
            // SAFETY: out has ROWS * PANEL values.
            unsafe {
                _mm256_storeu_ps(out.as_mut_ptr().add(r * PANEL), a[0]);
                _mm256_storeu_ps(out.as_mut_ptr().add(r * PANEL + 8), a[1]);
            }
        }
        out
    }
}

/// AVX-512 kernels (the `avx512` feature; `_mm512_*` intrinsics are stable since Rust 1.89).
#[cfg(all(target_arch = "x86_64", feature = "avx512"))]
#[clippy::msrv = "1.89"] // only built with the `avx512` feature, whose intrinsics need 1.89
mod x86_512 {
    use super::{check, pair, Tile, PANEL, ROWS};
    use std::arch::x86_64::*;

    pub fn panel_i16(w: &[i8], x: &[i16], pairs: usize) -> Tile<i32> {
        check(w.len(), x.len(), pairs, 2);
        // SAFETY: chosen only when the CPU has AVX-512F, BW and VNNI; lengths checked.
        unsafe { panel_i16_vnni(w, x, pairs) }
    }

    pub fn panel_f32(w: &[f32], x: &[f32], inp: usize) -> Tile<f32> {
        check(w.len(), x.len(), inp, 1);
        // SAFETY: chosen only when the CPU has AVX-512F; lengths checked.
        unsafe { panel_f32_512(w, x, inp) }
    }

    /// Four accumulators, one per row, each the whole panel; `vpdpwssd` multiplies the
    /// broadcast activation pair by each output's weight pair and adds both in one step.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn panel_i16_vnni(w: &[i8], x: &[i16], pairs: usize) -> Tile<i32> {
        let mut acc = [_mm512_setzero_si512(); ROWS];
        for j in 0..pairs {
            // SAFETY: the panel holds pairs * PANEL * 2 values and x ROWS * pairs (checked).
            unsafe {
                let wv = _mm512_cvtepi8_epi16(_mm256_loadu_si256(w.as_ptr().add(j * PANEL * 2) as *const __m256i));
                for (r, a) in acc.iter_mut().enumerate() {
                    *a = _mm512_dpwssd_epi32(*a, _mm512_set1_epi32(pair(x, pairs, r, j)), wv);
                }
            }
        }
        let mut out = [0i32; ROWS * PANEL];
        for (r, a) in acc.iter().enumerate() {
            // SAFETY: out has ROWS * PANEL values.
            unsafe { _mm512_storeu_si512(out.as_mut_ptr().add(r * PANEL) as *mut _, *a) };
        }
        out
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn panel_f32_512(w: &[f32], x: &[f32], inp: usize) -> Tile<f32> {
        let mut acc = [_mm512_setzero_ps(); ROWS];
        for i in 0..inp {
            // SAFETY: the panel holds inp * PANEL values and x ROWS * inp (checked).
            unsafe {
                let wv = _mm512_loadu_ps(w.as_ptr().add(i * PANEL));
                for (r, a) in acc.iter_mut().enumerate() {
                    *a = _mm512_fmadd_ps(wv, _mm512_set1_ps(*x.get_unchecked(r * inp + i)), *a);
                }
            }
        }
        let mut out = [0f32; ROWS * PANEL];
        for (r, a) in acc.iter().enumerate() {
            // SAFETY: out has ROWS * PANEL values.
            unsafe { _mm512_storeu_ps(out.as_mut_ptr().add(r * PANEL), *a) };
        }
        out
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm {
    use super::{check, pair, Tile, PANEL, ROWS};
    use core::arch::wasm32::*;

    /// Two passes of two rows x four quarters of the panel (eight accumulators: engines
    /// map v128 onto sixteen xmm registers); `i32x4.dot_i16x8_s` multiplies the broadcast
    /// activation pair by each output's weight pair and adds the two.
    pub fn panel_i16(w: &[i8], x: &[i16], pairs: usize) -> Tile<i32> {
        check(w.len(), x.len(), pairs, 2);
        let mut out = [0i32; ROWS * PANEL];
        for half in 0..ROWS / 2 {
            let mut acc = [[i32x4_splat(0); 4]; 2];
            for j in 0..pairs {
                // SAFETY: the panel holds pairs * PANEL * 2 values (checked).
                let wq = unsafe {
                    let p = w.as_ptr().add(j * PANEL * 2);
                    let (lo, hi) = (v128_load(p as *const v128), v128_load(p.add(16) as *const v128));
                    [
                        i16x8_extend_low_i8x16(lo),
                        i16x8_extend_high_i8x16(lo),
                        i16x8_extend_low_i8x16(hi),
                        i16x8_extend_high_i8x16(hi),
                    ]
                };
                for (rr, a) in acc.iter_mut().enumerate() {
                    let b = i32x4_splat(pair(x, pairs, half * 2 + rr, j));
                    for q in 0..4 {
                        a[q] = i32x4_add(a[q], i32x4_dot_i16x8(wq[q], b));
                    }
                }
            }
            for (rr, a) in acc.iter().enumerate() {
                for q in 0..4 {
                    // SAFETY: out has ROWS * PANEL values.
                    unsafe { v128_store(out.as_mut_ptr().add((half * 2 + rr) * PANEL + 4 * q) as *mut v128, a[q]) };
                }
            }
        }
        out
    }

    pub fn panel_f32(w: &[f32], x: &[f32], inp: usize) -> Tile<f32> {
        check(w.len(), x.len(), inp, 1);
        let mut out = [0f32; ROWS * PANEL];
        for half in 0..ROWS / 2 {
            let mut acc = [[f32x4_splat(0.0); 4]; 2];
            for i in 0..inp {
                // SAFETY: the panel holds inp * PANEL values (checked).
                let wq = unsafe {
                    let p = w.as_ptr().add(i * PANEL);
                    [
                        v128_load(p as *const v128),
                        v128_load(p.add(4) as *const v128),
                        v128_load(p.add(8) as *const v128),
                        v128_load(p.add(12) as *const v128),
                    ]
                };
                for (rr, a) in acc.iter_mut().enumerate() {
                    let b = f32x4_splat(x[(half * 2 + rr) * inp + i]);
                    for q in 0..4 {
                        a[q] = f32x4_add(a[q], f32x4_mul(wq[q], b));
                    }
                }
            }
            for (rr, a) in acc.iter().enumerate() {
                for q in 0..4 {
                    // SAFETY: out has ROWS * PANEL values.
                    unsafe { v128_store(out.as_mut_ptr().add((half * 2 + rr) * PANEL + 4 * q) as *mut v128, a[q]) };
                }
            }
        }
        out
    }
}
