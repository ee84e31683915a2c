//! ruvector's compute kernels, shared by the native (PyO3) and wasm backends.
//!
//! Dependency-free and compatible with Rust 1.63 (the wasm backend builds it with Debian's
//! rustc). x86_64 SIMD paths (AVX2 + FMA, and AVX-512F with the `avx512` feature, which needs
//! Rust 1.89) are chosen at run time and live behind `cfg(target_arch = "x86_64")`; wasm32
//! built with `simd128` gets f32x4 kernels at compile time; every other target gets the
//! portable code.
//!
//! * [`distance`]: dot / squared L2 / cosine kernels and matrix helpers; the exact integer
//!   dot of an int16 query with int8 codes (AVX-512 VNNI, AVX-512BW, AVX2, simd128) and
//!   popcount Hamming distance, for the int8 and binary storage kinds.
//! * [`quant`]: int8 (per-vector affine, 256 levels) and binary (sign bits) quantization.
//! * [`hnsw`]: the HNSW graph (Malkov & Yashunin), tombstone deletes, batch inserts that can be
//!   spread over threads through an [`exec::Executor`] while staying deterministic.
//! * [`format`]: the index file format (docs/format.md; version 1 for float32, version 2
//!   for the int8 and binary storage kinds) with a loader for hostile bytes.
//! * [`crc32`]: CRC-32 (IEEE 802.3, as zlib).

#![forbid(unsafe_op_in_unsafe_fn)]

pub mod crc32;
pub mod distance;
pub mod encoder;
pub mod exec;
pub mod format;
pub mod hnsw;
pub mod quant;

pub use exec::{Executor, Sequential};
pub use format::{decode, encode, read_header, FormatError, Header};
pub use hnsw::{Hnsw, Metric, Params, Storage, StorageKind};
