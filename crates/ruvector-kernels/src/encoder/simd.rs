//! Integer dot kernels of the encoder's int8 layers, picked at run time like the distance
//! kernels: the sums are exact in i32, so every version returns the same value.

use crate::distance;

/// The kernel set for this machine.
#[derive(Clone, Copy)]
pub struct DotKernels {
    /// `sum(w[i] * x[i])`
    pub dot_i16: fn(&[i16], &[i16]) -> i32,
    /// The 4 x 4 dot products of four consecutive weight rows `w` (outputs) and four
    /// consecutive activation rows `x`, each `n` long: `out[r * 4 + o] = x_r . w_o`.
    pub dot_i16_4x4: fn(&[i16], &[i16], usize) -> [i32; 16],
    /// Float dot product (the float32 weights' path).
    pub dot_f32: fn(&[f32], &[f32]) -> f32,
    /// Name of the instruction set in use.
    pub isa: &'static str,
}

/// The best kernels this machine supports.
pub fn kernels() -> DotKernels {
    supported_kernels()[0]
}

/// Every kernel set this machine can run, best first, ending with the portable one.
pub fn supported_kernels() -> Vec<DotKernels> {
    let dot_f32 = distance::kernels().dot;
    let mut all = Vec::new();
    #[cfg(all(target_arch = "x86_64", feature = "avx512"))]
    {
        if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512vnni") {
            all.push(DotKernels {
                dot_i16: x86::dot_i16,
                dot_i16_4x4: x86_vnni::dot_i16_4x4,
                dot_f32,
                isa: "avx512-vnni",
            });
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            all.push(DotKernels { dot_i16: x86::dot_i16, dot_i16_4x4: x86::dot_i16_4x4, dot_f32, isa: "avx2" });
        }
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    all.push(DotKernels { dot_i16: wasm::dot_i16, dot_i16_4x4: wasm::dot_i16_4x4, dot_f32, isa: "simd128" });
    all.push(DotKernels { dot_i16: portable::dot_i16, dot_i16_4x4: portable::dot_i16_4x4, dot_f32, isa: "portable" });
    all
}

pub mod portable {
    pub fn dot_i16(w: &[i16], x: &[i16]) -> i32 {
        let mut acc = [0i32; 8];
        let mut wc = w.chunks_exact(8);
        let mut xc = x.chunks_exact(8);
        for (a, b) in (&mut wc).zip(&mut xc) {
            for i in 0..8 {
                acc[i] = acc[i].wrapping_add(a[i] as i32 * b[i] as i32);
            }
        }
        let mut sum = acc.iter().fold(0i32, |s, v| s.wrapping_add(*v));
        for (a, b) in wc.remainder().iter().zip(xc.remainder()) {
            sum = sum.wrapping_add(*a as i32 * *b as i32);
        }
        sum
    }

    pub fn dot_i16_4x4(w: &[i16], x: &[i16], n: usize) -> [i32; 16] {
        let mut out = [0i32; 16];
        for r in 0..4 {
            for o in 0..4 {
                out[r * 4 + o] = dot_i16(&w[o * n..(o + 1) * n], &x[r * n..(r + 1) * n]);
            }
        }
        out
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    pub fn dot_i16(w: &[i16], x: &[i16]) -> i32 {
        // SAFETY: chosen only when the CPU has AVX2 (`supported_kernels`).
        unsafe { dot_i16_avx2(w, x) }
    }

    pub fn dot_i16_4x4(w: &[i16], x: &[i16], n: usize) -> [i32; 16] {
        assert!(w.len() >= 4 * n && x.len() >= 4 * n);
        let mut out = [0i32; 16];
        // SAFETY: as above; `w` and `x` hold four rows of `n` each.
        unsafe {
            tile_4x2_avx2(w, x, n, 0, &mut out);
            tile_4x2_avx2(w, x, n, 2, &mut out);
        }
        out
    }

    #[target_feature(enable = "avx2")]
    unsafe fn hsum(v: __m256i) -> i32 {
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        _mm_cvtsi128_si32(s)
    }

    #[target_feature(enable = "avx2")]
    unsafe fn dot_i16_avx2(w: &[i16], x: &[i16]) -> i32 {
        let n = w.len().min(x.len());
        let full = n - n % 16;
        let mut acc = _mm256_setzero_si256();
        let mut i = 0;
        while i < full {
            // SAFETY: i + 16 <= n, within both slices.
            unsafe {
                let a = _mm256_loadu_si256(w.as_ptr().add(i) as *const __m256i);
                let b = _mm256_loadu_si256(x.as_ptr().add(i) as *const __m256i);
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
            }
            i += 16;
        }
        // SAFETY: AVX2 is enabled in this function.
        let mut sum = unsafe { hsum(acc) };
        while i < n {
            sum = sum.wrapping_add(w[i] as i32 * x[i] as i32);
            i += 1;
        }
        sum
    }

    /// Rows 0..4 of `x` against weight rows `first` and `first + 1`: eight accumulators,
    /// two weight loads and four activation loads per 16 products each.
    #[target_feature(enable = "avx2")]
    unsafe fn tile_4x2_avx2(w: &[i16], x: &[i16], n: usize, first: usize, out: &mut [i32; 16]) {
        let full = n - n % 16;
        let mut acc = [_mm256_setzero_si256(); 8];
        let (w0, w1) = (w.as_ptr().wrapping_add(first * n), w.as_ptr().wrapping_add((first + 1) * n));
        let mut i = 0;
        while i < full {
            // SAFETY: i + 16 <= n, and the caller checked w and x hold four rows of n.
            unsafe {
                let a0 = _mm256_loadu_si256(w0.add(i) as *const __m256i);
                let a1 = _mm256_loadu_si256(w1.add(i) as *const __m256i);
                for r in 0..4 {
                    let b = _mm256_loadu_si256(x.as_ptr().add(r * n + i) as *const __m256i);
                    acc[2 * r] = _mm256_add_epi32(acc[2 * r], _mm256_madd_epi16(a0, b));
                    acc[2 * r + 1] = _mm256_add_epi32(acc[2 * r + 1], _mm256_madd_epi16(a1, b));
                }
            }
            i += 16;
        }
        for r in 0..4 {
            for o in 0..2 {
                // SAFETY: AVX2 is enabled in this function.
                let mut sum = unsafe { hsum(acc[2 * r + o]) };
                for j in i..n {
                    sum = sum.wrapping_add(w[(first + o) * n + j] as i32 * x[r * n + j] as i32);
                }
                out[r * 4 + first + o] = sum;
            }
        }
    }
}

/// AVX-512 VNNI tiles (the `avx512` feature; `_mm512_*` intrinsics are stable since Rust 1.89).
#[cfg(all(target_arch = "x86_64", feature = "avx512"))]
#[clippy::msrv = "1.89"] // only built with the `avx512` feature, whose intrinsics need 1.89
mod x86_vnni {
    use std::arch::x86_64::*;

    pub fn dot_i16_4x4(w: &[i16], x: &[i16], n: usize) -> [i32; 16] {
        assert!(w.len() >= 4 * n && x.len() >= 4 * n);
        // SAFETY: chosen only when the CPU has AVX-512F and AVX-512 VNNI (`supported_kernels`).
        unsafe { tile_4x4(w, x, n) }
    }

    /// Sixteen accumulators of 32 products each; `vpdpwssd` multiplies and adds in one step.
    #[target_feature(enable = "avx512f,avx512vnni")]
    unsafe fn tile_4x4(w: &[i16], x: &[i16], n: usize) -> [i32; 16] {
        let full = n - n % 32;
        let mut acc = [_mm512_setzero_si512(); 16];
        let mut i = 0;
        while i < full {
            // SAFETY: i + 32 <= n, and w and x hold four rows of n.
            unsafe {
                let a = [
                    _mm512_loadu_si512(w.as_ptr().add(i) as *const _),
                    _mm512_loadu_si512(w.as_ptr().add(n + i) as *const _),
                    _mm512_loadu_si512(w.as_ptr().add(2 * n + i) as *const _),
                    _mm512_loadu_si512(w.as_ptr().add(3 * n + i) as *const _),
                ];
                for r in 0..4 {
                    let b = _mm512_loadu_si512(x.as_ptr().add(r * n + i) as *const _);
                    for o in 0..4 {
                        acc[r * 4 + o] = _mm512_dpwssd_epi32(acc[r * 4 + o], a[o], b);
                    }
                }
            }
            i += 32;
        }
        let mut out = [0i32; 16];
        for r in 0..4 {
            for o in 0..4 {
                let mut sum = _mm512_reduce_add_epi32(acc[r * 4 + o]);
                for j in i..n {
                    sum = sum.wrapping_add(w[o * n + j] as i32 * x[r * n + j] as i32);
                }
                out[r * 4 + o] = sum;
            }
        }
        out
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm {
    use core::arch::wasm32::*;

    fn hsum(v: v128) -> i32 {
        i32x4_extract_lane::<0>(v)
            .wrapping_add(i32x4_extract_lane::<1>(v))
            .wrapping_add(i32x4_extract_lane::<2>(v))
            .wrapping_add(i32x4_extract_lane::<3>(v))
    }

    pub fn dot_i16(w: &[i16], x: &[i16]) -> i32 {
        let n = w.len().min(x.len());
        let full = n - n % 8;
        let mut acc = i32x4_splat(0);
        let mut i = 0;
        while i < full {
            // SAFETY: i + 8 <= n, within both slices; v128_load takes unaligned pointers.
            unsafe {
                let a = v128_load(w.as_ptr().add(i) as *const v128);
                let b = v128_load(x.as_ptr().add(i) as *const v128);
                acc = i32x4_add(acc, i32x4_dot_i16x8(a, b));
            }
            i += 8;
        }
        let mut sum = hsum(acc);
        while i < n {
            sum = sum.wrapping_add(w[i] as i32 * x[i] as i32);
            i += 1;
        }
        sum
    }

    /// Rows 0..4 of `x` against four weight rows, in two passes of 4 x 2 (eight
    /// accumulators: wasm engines map v128 onto sixteen xmm registers).
    pub fn dot_i16_4x4(w: &[i16], x: &[i16], n: usize) -> [i32; 16] {
        assert!(w.len() >= 4 * n && x.len() >= 4 * n);
        let full = n - n % 8;
        let mut out = [0i32; 16];
        for first in [0usize, 2] {
            let mut acc = [i32x4_splat(0); 8];
            let mut i = 0;
            while i < full {
                // SAFETY: i + 8 <= n, and w and x hold four rows of n.
                unsafe {
                    let a0 = v128_load(w.as_ptr().add(first * n + i) as *const v128);
                    let a1 = v128_load(w.as_ptr().add((first + 1) * n + i) as *const v128);
                    for r in 0..4 {
                        let b = v128_load(x.as_ptr().add(r * n + i) as *const v128);
                        acc[2 * r] = i32x4_add(acc[2 * r], i32x4_dot_i16x8(a0, b));
                        acc[2 * r + 1] = i32x4_add(acc[2 * r + 1], i32x4_dot_i16x8(a1, b));
                    }
                }
                i += 8;
            }
            for r in 0..4 {
                for o in 0..2 {
                    let mut sum = hsum(acc[2 * r + o]);
                    for j in i..n {
                        sum = sum.wrapping_add(w[(first + o) * n + j] as i32 * x[r * n + j] as i32);
                    }
                    out[r * 4 + first + o] = sum;
                }
            }
        }
        out
    }
}
