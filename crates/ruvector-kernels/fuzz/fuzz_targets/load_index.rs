//! Fuzz the index loader: any bytes must give Ok or Err, never a panic, and whatever loads
//! must search, accept inserts and serialize back to the same bytes.
//!
//!     cd crates/ruvector-kernels/fuzz
//!     RUSTC_BOOTSTRAP=1 cargo fuzz run load_index corpus -- -max_total_time=300
//!
//! The seed corpus is written by `cargo test --release --test loader_mutations -- --ignored
//! write_seed_corpus` (valid indexes of every metric, with deletions and replaced ids).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ruvector_kernels::{decode, encode, Sequential};

fuzz_target!(|data: &[u8]| {
    // the checksum would reject almost every mutation; fix it so the structural checks run
    let mut fixed = data.to_vec();
    if fixed.len() >= 76 {
        let body = fixed.len() - 4;
        let crc = ruvector_kernels::crc32::crc32(&fixed[..body]);
        fixed[body..].copy_from_slice(&crc.to_le_bytes());
    }
    for blob in [data, &fixed[..]] {
        if let Ok(mut index) = decode(blob) {
            assert_eq!(encode(&index), blob, "a loaded index must serialize to its own bytes");
            let d = index.params().dimensions;
            if d <= 4096 && index.node_count() <= 100_000 {
                let q = vec![0.5f32; d];
                let hits = index.search(&q, 5, 16);
                assert!(hits.len() <= 5);
                for (node, _) in hits {
                    assert!(!index.is_deleted(node));
                }
                index.insert_batch(&["fuzz-new"], &q, &Sequential).unwrap();
                let again = encode(&index);
                assert!(decode(&again).is_ok(), "an index grown after a load must load again");
            }
        }
    }
});
