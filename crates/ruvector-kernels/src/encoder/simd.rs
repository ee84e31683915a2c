//! Integer dot kernels of the encoder's int8 layers, picked at run time like the distance
//! kernels: the sums are exact in i32, so every version returns the same value.

use crate::distance;

/// The kernel set for this machine.
#[derive(Clone, Copy)]
pub struct DotKernels {
    /// `sum(w[i] * x[i])`
    pub dot_i16: fn(&[i16], &[i16]) -> i32,
    /// The same for four consecutive rows of `x` (each `w.len()` long) at once.
    pub dot_i16_x4: fn(&[i16], &[i16]) -> [i32; 4],
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
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            all.push(DotKernels { dot_i16: x86::dot_i16, dot_i16_x4: x86::dot_i16_x4, dot_f32, isa: "avx2" });
        }
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    all.push(DotKernels { dot_i16: wasm::dot_i16, dot_i16_x4: wasm::dot_i16_x4, dot_f32, isa: "simd128" });
    all.push(DotKernels { dot_i16: portable::dot_i16, dot_i16_x4: portable::dot_i16_x4, dot_f32, isa: "portable" });
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

    pub fn dot_i16_x4(w: &[i16], x: &[i16]) -> [i32; 4] {
        let n = w.len();
        let mut out = [0i32; 4];
        for (r, o) in out.iter_mut().enumerate() {
            *o = dot_i16(w, &x[r * n..(r + 1) * n]);
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

    pub fn dot_i16_x4(w: &[i16], x: &[i16]) -> [i32; 4] {
        assert!(x.len() >= 4 * w.len());
        // SAFETY: as above; `x` holds four rows of `w.len()`.
        unsafe { dot_i16_x4_avx2(w, x) }
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

    #[target_feature(enable = "avx2")]
    unsafe fn dot_i16_x4_avx2(w: &[i16], x: &[i16]) -> [i32; 4] {
        let n = w.len();
        let full = n - n % 16;
        let mut acc = [_mm256_setzero_si256(); 4];
        let mut i = 0;
        while i < full {
            // SAFETY: i + 16 <= n and x holds 4 rows of n.
            unsafe {
                let a = _mm256_loadu_si256(w.as_ptr().add(i) as *const __m256i);
                for (r, slot) in acc.iter_mut().enumerate() {
                    let b = _mm256_loadu_si256(x.as_ptr().add(r * n + i) as *const __m256i);
                    *slot = _mm256_add_epi32(*slot, _mm256_madd_epi16(a, b));
                }
            }
            i += 16;
        }
        let mut out = [0i32; 4];
        for r in 0..4 {
            // SAFETY: AVX2 is enabled in this function.
            let mut sum = unsafe { hsum(acc[r]) };
            for j in i..n {
                sum = sum.wrapping_add(w[j] as i32 * x[r * n + j] as i32);
            }
            out[r] = sum;
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

    pub fn dot_i16_x4(w: &[i16], x: &[i16]) -> [i32; 4] {
        let n = w.len();
        assert!(x.len() >= 4 * n);
        let full = n - n % 8;
        let mut acc = [i32x4_splat(0); 4];
        let mut i = 0;
        while i < full {
            // SAFETY: i + 8 <= n and x holds 4 rows of n.
            unsafe {
                let a = v128_load(w.as_ptr().add(i) as *const v128);
                for (r, slot) in acc.iter_mut().enumerate() {
                    let b = v128_load(x.as_ptr().add(r * n + i) as *const v128);
                    *slot = i32x4_add(*slot, i32x4_dot_i16x8(a, b));
                }
            }
            i += 8;
        }
        let mut out = [0i32; 4];
        for r in 0..4 {
            let mut sum = hsum(acc[r]);
            for j in i..n {
                sum = sum.wrapping_add(w[j] as i32 * x[r * n + j] as i32);
            }
            out[r] = sum;
        }
        out
    }
}
