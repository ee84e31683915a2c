//! The ruvector HNSW index format (docs/format.md), byte for byte as the Python reader and
//! writer in `ruvector_core.index_format`: version 1 for float32 indexes, version 2 for the
//! int8 and binary storage kinds (storage byte at 11, flags at 44, codes before the levels).
//!
//! The loader is written for hostile bytes: it checks the header, the checksum and the
//! total length (in u128 arithmetic, so sizes from the file cannot overflow) before it
//! looks at any section, checks every section on the borrowed input, and allocates the
//! graph only once everything has passed. Every failure is a [`FormatError`]; nothing panics.

use std::fmt;

use crate::crc32::crc32;
use crate::hnsw::{Hnsw, Metric, Params, Parts, Storage, StorageKind, MAX_LEVEL, NONE};
use crate::quant;

pub const MAGIC: &[u8; 8] = b"RUVHNSW\0";
/// The version of a float32 index.
pub const VERSION: u16 = 1;
/// The version of an int8 or binary index.
pub const VERSION_CODES: u16 = 2;
/// Version 2 flag bit 0: the float vectors are stored beside the codes.
pub const FLAG_FLOATS: u32 = 1;
pub const HEADER_BYTES: usize = 72;
pub const CHECKSUM_BYTES: usize = 4;
/// What a load may commit to in memory: the fixed-capacity graph may exceed the file by
/// this factor plus [`LOAD_SLACK_BYTES`] (docs/format.md, check 4; as `index_format.py`).
pub const LOAD_EXPANSION: u128 = 128;
pub const LOAD_SLACK_BYTES: u128 = 64 << 20;
/// The largest magnitude of a stored component, 2^54 (`ruvector_core.models.MAX_COMPONENT`).
pub const MAX_COMPONENT: f32 = 18_014_398_509_481_984.0;
/// A stored cosine row's squared length is within this of 1, or it is all zeros.
pub const UNIT_TOLERANCE: f64 = 1e-3;

/// Why bytes are not a loadable index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatError(pub String);

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FormatError {}

fn err<T>(msg: impl Into<String>) -> Result<T, FormatError> {
    Err(FormatError(msg.into()))
}

/// The checked header fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub params: Params,
    pub storage: Storage,
    pub node_count: u32,
    pub deleted_count: u32,
    pub entry_point: u32,
    pub max_level: u32,
    pub id_bytes: u64,
    pub link_count: u64,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Parses and checks the header only (what the Python `read_config` does).
pub fn read_header(data: &[u8]) -> Result<Header, FormatError> {
    if data.len() < HEADER_BYTES + CHECKSUM_BYTES {
        return err(format!(
            "index data is {} bytes, shorter than the {} bytes of an empty index: truncated or not an index",
            data.len(),
            HEADER_BYTES + CHECKSUM_BYTES
        ));
    }
    if &data[..8] != MAGIC {
        return err("not a ruvector HNSW index (bad magic bytes)");
    }
    let version = u16_at(data, 8);
    if version != VERSION && version != VERSION_CODES {
        return err(format!("unsupported index format version {version} (this reads {VERSION} and {VERSION_CODES})"));
    }
    let metric = match Metric::from_code(data[10]) {
        Some(m) => m,
        None => return err("index header has an unknown metric"),
    };
    let (kind, flags) = (data[11], u32_at(data, 44));
    let storage = if version == VERSION {
        if kind != 0 || flags != 0 {
            return err("index header has non-zero reserved fields");
        }
        Storage::FLOAT32
    } else {
        match StorageKind::from_code(kind) {
            Some(k) if k != StorageKind::Float32 && flags & !FLAG_FLOATS == 0 => {
                Storage { kind: k, floats: flags & FLAG_FLOATS != 0 }
            }
            _ => return err("index header has an unknown storage kind or unknown flags"),
        }
    };
    let (d, m, efc, efs) = (u32_at(data, 12), u32_at(data, 16), u32_at(data, 20), u32_at(data, 24));
    let (n, n_deleted, entry, max_level) = (u32_at(data, 28), u32_at(data, 32), u32_at(data, 36), u32_at(data, 40));
    let (seed, id_bytes, link_count) = (u64_at(data, 48), u64_at(data, 56), u64_at(data, 64));
    // the header's parameters obey exactly the bounds of `Params::check`
    let params = Params {
        dimensions: d as usize,
        m: m as usize,
        ef_construction: efc as usize,
        ef_search: efs as usize,
        metric,
        seed,
    };
    if params.check().is_err() {
        return err("index header parameters are out of range");
    }
    if n_deleted > n {
        return err("index header counts more deleted nodes than nodes");
    }
    if (n == 0) != (entry == NONE) || (n == 0) != (max_level == NONE) {
        return err("index header entry point disagrees with its node count");
    }
    Ok(Header {
        params,
        storage,
        node_count: n,
        deleted_count: n_deleted,
        entry_point: entry,
        max_level,
        id_bytes,
        link_count,
    })
}

/// Sequential reads that refuse to run past the end of the payload.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn require(&self, size: u128) -> Result<(), FormatError> {
        if size > self.remaining() as u128 {
            return err(format!("index data is truncated: {size} more bytes needed, {} present", self.remaining()));
        }
        Ok(())
    }

    fn take(&mut self, size: u128) -> Result<&'a [u8], FormatError> {
        self.require(size)?;
        let size = size as usize; // fits: it is at most `remaining`
        let out = &self.data[self.pos..self.pos + size];
        self.pos += size;
        Ok(out)
    }
}

/// Parses and fully validates an index (docs/format.md, "What a loader must check").
pub fn decode(data: &[u8]) -> Result<Hnsw, FormatError> {
    let header = read_header(data)?;
    let body_end = data.len() - CHECKSUM_BYTES;
    if crc32(&data[..body_end]) != u32_at(data, body_end) {
        return err("index checksum mismatch: the bytes are corrupt");
    }
    let mut r = Reader { data: &data[..body_end], pos: HEADER_BYTES };
    let n = header.node_count as u128;
    let d = header.params.dimensions as u128;
    let st = header.storage;
    let float_bytes = if st.floats { 4 * n * d } else { 0 };
    let code_bytes = n * st.code_bytes(header.params.dimensions) as u128;
    let (scale_bytes, low_bytes) = match st.kind {
        StorageKind::Float32 => (0, 0),
        StorageKind::Int8 => (4 * n, 4 * n),
        StorageKind::Binary => (4 * n, 0),
    };
    r.require(float_bytes + code_bytes + scale_bytes + low_bytes + 2 * n + 4 * (n + 1) + header.id_bytes as u128)?;
    let vectors = r.take(float_bytes)?;
    let codes = r.take(code_bytes)?;
    let scales = r.take(scale_bytes)?;
    let lows = r.take(low_bytes)?;
    let levels = r.take(n)?;
    let flags = r.take(n)?;
    let offsets = r.take(4 * (n + 1))?;
    let id_text = r.take(header.id_bytes as u128)?;
    let list_count: u128 = levels.iter().map(|&l| l as u128 + 1).sum();
    check_load_size(&header.params, st, n, list_count - n, data.len())?;
    r.require(4 * list_count + 4 * header.link_count as u128)?;
    let sizes = r.take(4 * list_count)?;
    let links = r.take(4 * header.link_count as u128)?;
    if r.remaining() != 0 {
        return err(format!("index has {} unexpected trailing bytes", r.remaining()));
    }
    let n = n as usize;

    // flags
    if flags.iter().any(|&f| f > 1) {
        return err("index node flags must be 0 or 1");
    }
    let deleted = flags.iter().filter(|&&f| f == 1).count();
    if deleted != header.deleted_count as usize {
        return err("index deleted count disagrees with its node flags");
    }
    // levels and entry point
    if n > 0 {
        let top = levels.iter().copied().max().unwrap_or(0);
        if top > MAX_LEVEL || top as u32 != header.max_level {
            return err("index max level disagrees with its nodes' levels");
        }
        if header.entry_point as usize >= n || levels[header.entry_point as usize] != top {
            return err("index entry point is not a node on the top layer");
        }
    }
    // ids
    check_ids(offsets, id_text, flags)?;
    // link lists
    check_links(levels, sizes, links, header.params.m, header.link_count)?;
    check_vectors(vectors, &header.params)?;
    check_codes(st, header.params.dimensions, vectors, codes, scales, lows)?;
    let parts = Parts {
        vectors,
        codes,
        scales,
        lows,
        levels,
        flags,
        offsets,
        id_text,
        sizes,
        links,
        entry: header.entry_point,
    };
    let need = load_bytes(&header.params, st, n as u128, list_count - n as u128);
    Hnsw::from_parts(header.params, st, parts)
        .map_err(|_| FormatError(format!("index needs {need} bytes of memory to load, which cannot be allocated")))
}

/// The memory a load commits to: the vectors as stored (floats if present, codes with
/// their scales and offsets) plus every list at its full capacity.
fn load_bytes(p: &Params, st: Storage, nodes: u128, upper_lists: u128) -> u128 {
    let d = p.dimensions as u128;
    let vectors = match st.kind {
        StorageKind::Float32 => 4 * d,
        StorageKind::Int8 => d + 8 + if st.floats { 4 * d } else { 0 },
        StorageKind::Binary => st.code_bytes(p.dimensions) as u128 + 4 + if st.floats { 4 * d } else { 0 },
    };
    let per_node = vectors + 4 * (2 * p.m as u128 + 1);
    nodes * per_node + 4 * upper_lists * (p.m as u128 + 1)
}

/// Refuses, before allocating, a file that would expand beyond what any honest index does.
fn check_load_size(
    p: &Params,
    st: Storage,
    nodes: u128,
    upper_lists: u128,
    file_bytes: usize,
) -> Result<(), FormatError> {
    let need = load_bytes(p, st, nodes, upper_lists);
    if need > LOAD_SLACK_BYTES + LOAD_EXPANSION * file_bytes as u128 || need > isize::MAX as u128 {
        return err(format!(
            "index of {file_bytes} bytes would take {need} bytes of memory to load, more than {LOAD_EXPANSION} \
             times its size: crafted or corrupt"
        ));
    }
    Ok(())
}

/// Components finite and within [`MAX_COMPONENT`]; cosine rows of unit length or zero.
fn check_vectors(vectors: &[u8], p: &Params) -> Result<(), FormatError> {
    let row_bytes = 4 * p.dimensions;
    for row in vectors.chunks_exact(row_bytes) {
        let mut squares = 0f64;
        for b in row.chunks_exact(4) {
            let x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            if !x.is_finite() || x.abs() > MAX_COMPONENT {
                return err(format!("index holds vector components that are not finite or beyond {MAX_COMPONENT:e}"));
            }
            squares += x as f64 * x as f64;
        }
        if p.metric == Metric::Cosine && squares != 0.0 && (squares - 1.0).abs() > UNIT_TOLERANCE {
            return err("index holds a cosine row that is not of unit length");
        }
    }
    Ok(())
}

/// The little-endian f32s of `bytes`.
fn floats_of(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// Codes of version 2: scales finite and >= 0, offsets finite, every decoded component
/// within [`MAX_COMPONENT`], binary padding bits zero, and, with the floats present, the
/// codes exactly the quantization of those floats.
fn check_codes(
    st: Storage,
    d: usize,
    vectors: &[u8],
    codes: &[u8],
    scales: &[u8],
    lows: &[u8],
) -> Result<(), FormatError> {
    if st.kind == StorageKind::Float32 {
        return Ok(());
    }
    let scales = floats_of(scales);
    let lows = floats_of(lows);
    let max = MAX_COMPONENT as f64;
    if scales.iter().any(|s| !s.is_finite() || *s < 0.0) || lows.iter().any(|l| !l.is_finite()) {
        return err("index code scales must be finite and non-negative, offsets finite");
    }
    match st.kind {
        StorageKind::Int8 => {
            for (&s, &l) in scales.iter().zip(&lows) {
                if (l as f64).abs() > max || (l as f64).abs() + 255.0 * s as f64 > max {
                    return err(format!("index codes decode to components beyond {MAX_COMPONENT:e}"));
                }
            }
        }
        _ => {
            if scales.iter().any(|&s| s as f64 > max) {
                return err(format!("index codes decode to components beyond {MAX_COMPONENT:e}"));
            }
            let rb = quant::binary_row_bytes(d);
            let pad = (8 * rb - d) as u32;
            let mask = if pad == 0 { 0u8 } else { (1u8 << pad) - 1 };
            if codes.chunks_exact(rb).any(|row| row[rb - 1] & mask != 0) {
                return err("index binary codes have padding bits set");
            }
        }
    }
    if !st.floats {
        return Ok(());
    }
    let n = scales.len();
    let floats = floats_of(vectors);
    let mut again_scales = vec![0f32; n];
    let same = match st.kind {
        StorageKind::Int8 => {
            let mut again = vec![0i8; n * d];
            let mut again_lows = vec![0f32; n];
            quant::quantize_int8(&floats, d, &mut again, &mut again_scales, &mut again_lows);
            again.iter().zip(codes).all(|(&a, &c)| a as u8 == c) && again_lows == lows
        }
        _ => {
            let mut again = vec![0u8; codes.len()];
            quant::quantize_binary(&floats, d, &mut again, &mut again_scales);
            again == codes
        }
    };
    if !same || again_scales != scales {
        return err("index codes are not the quantization of its float vectors");
    }
    Ok(())
}

fn check_ids(offsets: &[u8], id_text: &[u8], flags: &[u8]) -> Result<(), FormatError> {
    let n = flags.len();
    let bad = || err("index id offsets are not a valid partition of the id text");
    if u32_at(offsets, 0) != 0 || u32_at(offsets, 4 * n) as usize != id_text.len() || id_text.len() > u32::MAX as usize
    {
        return bad();
    }
    let mut prev = 0u32;
    for i in 1..=n {
        let o = u32_at(offsets, 4 * i);
        if o < prev {
            return bad();
        }
        prev = o;
    }
    // every id is UTF-8 (and so is the whole text); live ids are distinct
    let mut table = vec![
        NONE;
        {
            let mut size = 16usize;
            while size < 2 * n + 2 {
                size *= 2;
            }
            size
        }
    ];
    let mask = table.len() - 1;
    let id = |i: usize| &id_text[u32_at(offsets, 4 * i) as usize..u32_at(offsets, 4 * i + 4) as usize];
    for (i, &flag) in flags.iter().enumerate().take(n) {
        let bytes = id(i);
        if bytes.is_empty() {
            return err("an index id is empty");
        }
        if std::str::from_utf8(bytes).is_err() {
            return err("an index id is not valid UTF-8");
        }
        if flag != 0 {
            continue;
        }
        let mut h: u64 = 0xCBF2_9CE4_8422_2325;
        for &b in bytes {
            h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3);
        }
        let mut slot = (h ^ (h >> 29)) as usize & mask;
        loop {
            let other = table[slot];
            if other == NONE {
                table[slot] = i as u32;
                break;
            }
            if id(other as usize) == bytes {
                return err("index holds the same live id twice");
            }
            slot = (slot + 1) & mask;
        }
    }
    Ok(())
}

fn check_links(levels: &[u8], sizes: &[u8], links: &[u8], m: usize, link_count: u64) -> Result<(), FormatError> {
    let n = levels.len();
    let mut list = 0usize;
    let mut total = 0u64;
    for &level in levels {
        for layer in 0..=level as usize {
            let size = u32_at(sizes, 4 * list) as u64;
            list += 1;
            let limit = if layer == 0 { 2 * m } else { m } as u64;
            if size > limit {
                return err("an index node has more links than m allows");
            }
            total += size;
        }
    }
    if total != link_count {
        return err("index link count disagrees with its list sizes");
    }
    let mut list = 0usize;
    let mut pos = 0usize;
    let mut sorted: Vec<u32> = Vec::with_capacity(2 * m);
    for (node, &level) in levels.iter().enumerate() {
        for layer in 0..=level as usize {
            let size = u32_at(sizes, 4 * list) as usize;
            list += 1;
            sorted.clear();
            sorted.extend((0..size).map(|j| u32_at(links, 4 * (pos + j))));
            sorted.sort_unstable();
            if sorted.windows(2).any(|w| w[0] == w[1]) {
                return err("an index neighbour list holds the same link twice");
            }
            for _ in 0..size {
                let x = u32_at(links, 4 * pos) as usize;
                pos += 1;
                if x >= n {
                    return err("an index link points past the last node");
                }
                if x == node {
                    return err("an index node links to itself");
                }
                if (levels[x] as usize) < layer {
                    return err("an index link points to a node absent from that layer");
                }
            }
        }
    }
    Ok(())
}

/// Writes `h` in the format (the same bytes the Python writer produces for the same graph).
pub fn encode(h: &Hnsw) -> Vec<u8> {
    let p = h.params();
    let n = h.node_count();
    let links = h.link_count();
    let lists: usize = (0..n as u32).map(|i| h.level(i) as usize + 1).sum();
    let st = h.storage();
    let size = HEADER_BYTES
        + n * h.encoded_row_bytes()
        + 2 * n
        + 4 * (n + 1)
        + h.id_text_len()
        + 4 * lists
        + 4 * links as usize
        + 4;
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(MAGIC);
    let version = if st.kind == StorageKind::Float32 { VERSION } else { VERSION_CODES };
    out.extend_from_slice(&version.to_le_bytes());
    out.push(p.metric.code());
    out.push(st.kind.code());
    for v in [
        p.dimensions as u32,
        p.m as u32,
        p.ef_construction as u32,
        p.ef_search as u32,
        n as u32,
        h.deleted_count() as u32,
    ] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let empty = n == 0;
    out.extend_from_slice(&(if empty { NONE } else { h.entry_point() }).to_le_bytes());
    out.extend_from_slice(&(if empty { NONE } else { h.max_level() as u32 }).to_le_bytes());
    let flags = if st.kind != StorageKind::Float32 && st.floats { FLAG_FLOATS } else { 0 };
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&p.seed.to_le_bytes());
    out.extend_from_slice(&(h.id_text_len() as u64).to_le_bytes());
    out.extend_from_slice(&links.to_le_bytes());
    h.write_sections(&mut out);
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::Sequential;

    fn sample(metric: Metric) -> Vec<u8> {
        sample_with(metric, Storage::FLOAT32)
    }

    fn sample_with(metric: Metric, st: Storage) -> Vec<u8> {
        let d = 6;
        let p = Params { dimensions: d, m: 4, ef_construction: 16, ef_search: 8, metric, seed: 9 };
        let mut h = Hnsw::with_storage(p, st).unwrap();
        let mut s = 1u64;
        let v: Vec<f32> = (0..120 * d)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect();
        let ids: Vec<String> = (0..120).map(|i| format!("id-{i}-é")).collect();
        h.insert_batch(&ids, &v, &Sequential).unwrap();
        h.delete("id-3-é");
        h.insert_batch(&["id-5-é"], &v[..d], &Sequential).unwrap();
        encode(&h)
    }

    #[test]
    fn round_trip_is_byte_exact() {
        for metric in [Metric::Cosine, Metric::Euclidean, Metric::Dot] {
            let blob = sample(metric);
            let h = decode(&blob).unwrap();
            assert_eq!(encode(&h), blob);
            assert_eq!(h.len(), 119);
            assert_eq!(h.deleted_count(), 2);
        }
        let empty = encode(
            &Hnsw::new(Params { dimensions: 3, m: 2, ef_construction: 1, ef_search: 1, metric: Metric::Dot, seed: 0 })
                .unwrap(),
        );
        assert_eq!(empty.len(), 80);
        assert_eq!(decode(&empty).unwrap().node_count(), 0);
    }

    #[test]
    fn inserts_after_a_load_match_the_original() {
        let blob = sample(Metric::Cosine);
        let mut a = decode(&blob).unwrap();
        let mut b = decode(&blob).unwrap();
        let v: Vec<f32> = (0..30 * 6).map(|i| ((i * 37 % 101) as f32) / 50.0 - 1.0).collect();
        let ids: Vec<String> = (0..30).map(|i| format!("new-{i}")).collect();
        a.insert_batch(&ids, &v, &Sequential).unwrap();
        for (id, row) in ids.iter().zip(v.chunks_exact(6)) {
            b.insert_batch(&[id], row, &Sequential).unwrap();
        }
        // one batch of 30 and 30 single inserts agree while the graph is small (chunk size 1... 7)
        assert_eq!(encode(&a).len(), encode(&b).len());
        let mut c = decode(&blob).unwrap();
        c.insert_batch(&ids, &v, &Sequential).unwrap();
        assert_eq!(encode(&a), encode(&c));
    }

    #[test]
    fn a_rolled_back_insert_leaves_the_index_as_it_was() {
        let blob = sample(Metric::Cosine);
        let mut h = decode(&blob).unwrap();
        let v: Vec<f32> = (0..40 * 6).map(|i| ((i * 37 % 101) as f32) / 50.0 - 1.0).collect();
        let mut ids: Vec<String> = (0..39).map(|i| format!("new-{i}")).collect();
        ids.push("id-7-é".into()); // a replaced id: its old node is tombstoned, then restored
        h.begin_atomic();
        h.insert_batch(&ids, &v, &Sequential).unwrap();
        assert_ne!(encode(&h), blob);
        h.rollback();
        assert_eq!(encode(&h), blob);
        assert!(h.contains("id-7-é") && !h.contains("new-0") && h.len() == 119);
        h.rollback(); // nothing pending: nothing changes
        assert_eq!(encode(&h), blob);
        // after a rollback the index inserts exactly as one that never saw the batch
        let mut fresh = decode(&blob).unwrap();
        h.insert_batch(&ids, &v, &Sequential).unwrap();
        fresh.insert_batch(&ids, &v, &Sequential).unwrap();
        assert_eq!(encode(&h), encode(&fresh));
        // a committed insert stays
        h.begin_atomic();
        h.insert_batch(&["late"], &v[..6], &Sequential).unwrap();
        h.commit();
        h.rollback();
        assert!(h.contains("late"));
    }

    #[test]
    fn rejects_repeated_links_and_unbounded_rows() {
        let blob = sample(Metric::Dot);
        let links = u64_at(&blob, 64) as usize;
        let links_at = blob.len() - 4 - 4 * links;
        let n = u32_at(&blob, 28) as usize;
        let levels_at = HEADER_BYTES + 4 * n * 6;
        let lists = n + blob[levels_at..levels_at + n].iter().map(|&l| l as usize).sum::<usize>();
        // the first list (node 0, layer 0) has at least two links: repeat its first one
        assert!(u32_at(&blob, links_at - 4 * lists) >= 2);
        let first = blob[links_at..links_at + 4].to_vec();
        let why = |b: Vec<u8>| decode(&b).err().map(|e| e.0).unwrap_or_default();
        assert!(why(patched(&blob, links_at + 4, &first)).contains("same link twice"));
        assert!(why(patched(&blob, HEADER_BYTES, &3e38f32.to_le_bytes())).contains("beyond"));
        let cosine = sample(Metric::Cosine);
        assert!(why(patched(&cosine, HEADER_BYTES, &2.0f32.to_le_bytes())).contains("unit length"));
    }

    fn with_crc(mut body: Vec<u8>) -> Vec<u8> {
        let c = crc32(&body);
        body.extend_from_slice(&c.to_le_bytes());
        body
    }

    fn patched(blob: &[u8], at: usize, bytes: &[u8]) -> Vec<u8> {
        let mut body = blob[..blob.len() - 4].to_vec();
        body[at..at + bytes.len()].copy_from_slice(bytes);
        with_crc(body)
    }

    #[test]
    fn rejects_hostile_headers() {
        let blob = sample(Metric::Euclidean);
        let n = u32_at(&blob, 28);
        let cases: Vec<(usize, Vec<u8>)> = vec![
            (0, b"X".to_vec()),
            (8, 2u16.to_le_bytes().to_vec()),
            (10, vec![9]),
            (11, vec![1]),
            (12, 0u32.to_le_bytes().to_vec()),
            (12, u32::MAX.to_le_bytes().to_vec()),
            (16, 1u32.to_le_bytes().to_vec()),
            (20, 0u32.to_le_bytes().to_vec()),
            (28, u32::MAX.to_le_bytes().to_vec()),
            (28, (n + 1).to_le_bytes().to_vec()),
            (32, (n + 5).to_le_bytes().to_vec()),
            (36, (n + 3).to_le_bytes().to_vec()),
            (40, 70u32.to_le_bytes().to_vec()),
            (44, 1u32.to_le_bytes().to_vec()),
            (48, u64::MAX.to_le_bytes().to_vec()),
            (56, (1u64 << 62).to_le_bytes().to_vec()),
            (64, (1u64 << 61).to_le_bytes().to_vec()),
            (64, u64::MAX.to_le_bytes().to_vec()),
            (56, u64::MAX.to_le_bytes().to_vec()),
            (72 + 8, 0x7FC0_0000u32.to_le_bytes().to_vec()),
        ];
        for (at, bytes) in cases {
            assert!(decode(&patched(&blob, at, &bytes)).is_err(), "patch at {at} accepted");
        }
        for cut in [1usize, 4, 5, 100, blob.len() / 2, blob.len() - 5] {
            assert!(decode(&blob[..blob.len() - cut]).is_err());
            assert!(decode(&blob[..cut]).is_err());
        }
        let mut flipped = blob.clone();
        flipped[300] ^= 0x10;
        assert!(decode(&flipped).is_err());
        let mut trailing = blob[..blob.len() - 4].to_vec();
        trailing.extend_from_slice(b"xyz");
        assert!(decode(&with_crc(trailing)).is_err());
    }

    fn code_storages() -> Vec<Storage> {
        [
            (StorageKind::Int8, true),
            (StorageKind::Int8, false),
            (StorageKind::Binary, true),
            (StorageKind::Binary, false),
        ]
        .into_iter()
        .map(|(kind, floats)| Storage { kind, floats })
        .collect()
    }

    #[test]
    fn version_2_round_trips_and_continues_like_the_original() {
        for metric in [Metric::Cosine, Metric::Euclidean, Metric::Dot] {
            for st in code_storages() {
                let blob = sample_with(metric, st);
                assert_eq!(u16_at(&blob, 8), 2);
                assert_eq!(blob[11], st.kind.code());
                assert_eq!(u32_at(&blob, 44), st.floats as u32);
                let header = read_header(&blob).unwrap();
                assert_eq!(header.storage, st);
                let mut h = decode(&blob).unwrap();
                assert_eq!(h.storage(), st);
                assert_eq!(encode(&h), blob, "{metric:?} {st:?}");
                assert_eq!(h.len(), 119);
                // searches and inserts after a load are those of the original
                let mut original = decode(&blob).unwrap();
                let v: Vec<f32> = (0..30 * 6).map(|i| ((i * 37 % 101) as f32) / 50.0 - 1.0).collect();
                let ids: Vec<String> = (0..30).map(|i| format!("new-{i}")).collect();
                assert_eq!(h.search(&v[..6], 5, 16), original.search(&v[..6], 5, 16));
                h.insert_batch(&ids, &v, &Sequential).unwrap();
                original.insert_batch(&ids, &v, &Sequential).unwrap();
                assert_eq!(encode(&h), encode(&original));
            }
        }
        // the file without floats is smaller by exactly the floats
        let with = sample_with(Metric::Dot, Storage { kind: StorageKind::Int8, floats: true });
        let without = sample_with(Metric::Dot, Storage { kind: StorageKind::Int8, floats: false });
        assert_eq!(with.len() - without.len(), 121 * 6 * 4, "121 nodes: 120 and a replaced id");
        // a float32 index is still version 1
        assert_eq!(u16_at(&sample(Metric::Dot), 8), 1);
    }

    #[test]
    fn rejects_hostile_version_2_bytes() {
        let why = |b: Vec<u8>| decode(&b).err().map(|e| e.0).unwrap_or_default();
        let n = 121usize; // 120 and a replaced id
        let d = 6usize;
        for st in code_storages() {
            let blob = sample_with(Metric::Euclidean, st);
            let floats = if st.floats { 4 * n * d } else { 0 };
            let codes_at = HEADER_BYTES + floats;
            let row = st.code_bytes(d);
            let scales_at = codes_at + n * row;
            let lows_at = scales_at + 4 * n;
            // header: storage byte 0 or 3, unknown flag bits, version 1 with a storage byte
            assert!(decode(&patched(&blob, 11, &[0])).is_err());
            assert!(decode(&patched(&blob, 11, &[3])).is_err());
            assert!(decode(&patched(&blob, 44, &2u32.to_le_bytes())).is_err());
            assert!(decode(&patched(&blob, 44, &(0x8000_0000u32 | st.floats as u32).to_le_bytes())).is_err());
            assert!(decode(&patched(&blob, 8, &1u16.to_le_bytes())).is_err());
            // the flag disagrees with the body: the length no longer matches
            assert!(!why(patched(&blob, 44, &(!st.floats as u32).to_le_bytes())).is_empty());
            // scales: NaN, infinite, negative, beyond 2^54
            for bad in [f32::NAN, f32::INFINITY, -1.0, 1e30] {
                assert!(decode(&patched(&blob, scales_at + 4, &bad.to_le_bytes())).is_err(), "{st:?} scale {bad}");
            }
            if st.kind == StorageKind::Int8 {
                for bad in [f32::NAN, f32::NEG_INFINITY, 3e16, -3e16] {
                    assert!(decode(&patched(&blob, lows_at + 8, &bad.to_le_bytes())).is_err(), "{st:?} low {bad}");
                }
                // |low| + 255 scale beyond 2^54 while each alone is within
                let mut b = patched(&blob, lows_at, &1.5e16f32.to_le_bytes());
                let body = b.len() - 4;
                b[scales_at..scales_at + 4].copy_from_slice(&1e14f32.to_le_bytes());
                b.truncate(body);
                assert!(decode(&with_crc(b)).is_err());
            } else {
                // d = 6: the last two bits of each one-byte row are padding
                let first = blob[codes_at];
                assert!(why(patched(&blob, codes_at, &[first | 1])).contains("padding"), "{st:?}");
            }
            // a code that is not the quantization of the stored floats
            let flipped = blob[codes_at + row + 1] ^ 0x40;
            let changed = patched(&blob, codes_at + row + 1, &[flipped]);
            if st.floats {
                assert!(why(changed).contains("quantization"), "{st:?}");
            } else {
                assert_eq!(encode(&decode(&changed).unwrap()), changed, "{st:?}: any code is a code");
            }
            // truncated and extended bodies
            for cut in [1usize, 4, 5, 50, blob.len() / 2] {
                assert!(decode(&blob[..blob.len() - cut]).is_err());
            }
            let mut trailing = blob[..blob.len() - 4].to_vec();
            trailing.extend_from_slice(b"xyz");
            assert!(decode(&with_crc(trailing)).is_err());
        }
    }
}
