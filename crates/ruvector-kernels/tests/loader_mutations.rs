//! A dependency-free mutation fuzzer for the index loader, run as a normal test.
//!
//! Valid indexes (every metric, deletions, a replaced id, multi-byte ids) are mutated by bit
//! flips, byte and word overwrites with boundary values, truncation, extension and splices;
//! most mutants get their checksum fixed so the structural checks are reached. Every mutant
//! must decode to `Ok` or `Err` without panicking, and anything accepted must serialize to
//! the same bytes, answer searches with live nodes only, and take inserts.
//!
//! `cargo test --release --test loader_mutations` runs 20,000 mutants (a few seconds);
//! `RUVECTOR_FUZZ_ITERS=5000000` runs longer; `RUVECTOR_FUZZ_SEED` changes the stream.

mod common;

use ruvector_kernels::crc32::crc32;
use ruvector_kernels::{decode, encode, Hnsw, Metric, Params, Sequential, Storage, StorageKind};

use common::Rng;

/// Valid indexes of every metric and every storage kind (version 1 and 2 files).
fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let storages = [
        Storage::FLOAT32,
        Storage { kind: StorageKind::Int8, floats: true },
        Storage { kind: StorageKind::Int8, floats: false },
        Storage { kind: StorageKind::Binary, floats: true },
        Storage { kind: StorageKind::Binary, floats: false },
    ];
    for (i, (metric, st)) in [Metric::Cosine, Metric::Euclidean, Metric::Dot]
        .into_iter()
        .flat_map(|m| storages.into_iter().map(move |s| (m, s)))
        .enumerate()
    {
        let d = 3 + (i % 7) * 2;
        let p = Params { dimensions: d, m: 2 + i % 3, ef_construction: 8, ef_search: 4, metric, seed: i as u64 };
        let mut h = Hnsw::with_storage(p, st).unwrap();
        out.push(encode(&h));
        let n = 20 + 15 * (i % 3);
        let mut rng = Rng(i as u64);
        let v: Vec<f32> = (0..n * d).map(|_| (rng.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5).collect();
        let ids: Vec<String> = (0..n).map(|j| if j % 5 == 0 { format!("ü-{j}") } else { format!("{j}") }).collect();
        h.insert_batch(&ids, &v, &Sequential).unwrap();
        h.delete("3");
        h.insert_batch(&["7"], &v[..d], &Sequential).unwrap();
        out.push(encode(&h));
    }
    out
}

fn fix_crc(b: &mut [u8]) {
    if b.len() >= 76 {
        let body = b.len() - 4;
        let c = crc32(&b[..body]);
        b[body..].copy_from_slice(&c.to_le_bytes());
    }
}

const WORDS: [u32; 10] = [0, 1, 2, 3, 63, 64, 255, 0x7FC0_0000, 0x7FFF_FFFF, u32::MAX];

fn mutate(rng: &mut Rng, seed: &[u8], pool: &[Vec<u8>]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        if b.is_empty() {
            b.push(rng.next() as u8);
            continue;
        }
        let at = rng.below(b.len());
        match rng.below(9) {
            0 => b[at] ^= 1 << rng.below(8),
            1 => b[at] = rng.next() as u8,
            2 | 3 => {
                // a header field or any aligned word gets a boundary value
                let at = if rng.below(2) == 0 { 4 * rng.below(18) } else { at & !3 };
                let w = WORDS[rng.below(WORDS.len())].wrapping_add(rng.below(3) as u32);
                if at + 4 <= b.len() {
                    b[at..at + 4].copy_from_slice(&w.to_le_bytes());
                }
            }
            4 => b.truncate(at),
            5 => {
                let extra = rng.below(16);
                for _ in 0..extra {
                    b.insert(at, rng.next() as u8);
                }
            }
            6 => {
                let end = (at + 1 + rng.below(32)).min(b.len());
                b.drain(at..end);
            }
            7 => {
                let other = &pool[rng.below(pool.len())];
                if !other.is_empty() {
                    let from = rng.below(other.len());
                    let len = rng.below(64).min(other.len() - from);
                    let end = (at + len).min(b.len());
                    b.splice(at..end, other[from..from + len].iter().copied());
                }
            }
            _ => {
                // a small level or link count
                b[at] = rng.below(4) as u8;
            }
        }
    }
    if rng.below(10) != 0 {
        fix_crc(&mut b);
    }
    b
}

fn exercise(blob: &[u8]) -> bool {
    match decode(blob) {
        Err(_) => false,
        Ok(mut h) => {
            assert_eq!(encode(&h), blob, "an accepted index must serialize to its own bytes");
            let d = h.params().dimensions;
            if d <= 4096 {
                let q = vec![0.25f32; d];
                for (node, _) in h.search(&q, 5, 8) {
                    assert!(!h.is_deleted(node));
                }
                h.insert_batch(&["fuzz-new", "7"], &vec![0.5f32; 2 * d], &Sequential).unwrap();
                assert!(decode(&encode(&h)).is_ok(), "a grown index must load again");
            }
            true
        }
    }
}

#[test]
fn mutated_blobs_never_panic() {
    let iters: usize = std::env::var("RUVECTOR_FUZZ_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let seed: u64 = std::env::var("RUVECTOR_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let pool = seeds();
    for s in &pool {
        assert!(exercise(s), "the seed indexes must load");
    }
    let mut rng = Rng(seed);
    let (mut accepted, mut tried) = (0usize, 0usize);
    let start = std::time::Instant::now();
    for _ in 0..iters {
        let base = &pool[rng.below(pool.len())];
        let blob = mutate(&mut rng, base, &pool);
        tried += 1;
        if exercise(&blob) {
            accepted += 1;
        }
    }
    eprintln!("{tried} mutants in {:.1?}, {accepted} accepted (valid after mutation)", start.elapsed());
}

#[test]
fn random_bytes_and_every_truncation() {
    let pool = seeds();
    for s in &pool {
        for cut in 0..s.len() {
            assert!(decode(&s[..cut]).is_err());
            let mut fixed = s[..cut].to_vec();
            fix_crc(&mut fixed);
            let _ = exercise(&fixed);
        }
    }
    let mut rng = Rng(99);
    for size in [0usize, 3, 75, 76, 80, 200, 5000] {
        let mut b: Vec<u8> = (0..size).map(|_| rng.next() as u8).collect();
        assert!(decode(&b).is_err());
        if size >= 8 {
            b[..8].copy_from_slice(b"RUVHNSW\0");
            fix_crc(&mut b);
            let _ = exercise(&b);
        }
    }
}

/// Writes the seed indexes into fuzz/corpus/load_index for cargo-fuzz.
#[test]
#[ignore]
fn write_seed_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/load_index");
    std::fs::create_dir_all(&dir).unwrap();
    for (i, s) in seeds().iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i}")), s).unwrap();
    }
}
