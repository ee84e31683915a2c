//! `ruvector.wasm`: the kernels of `ruvector-kernels` behind a small C ABI, for the wasm
//! backend of ruvector (run by wasmtime from Python, or by any other WebAssembly engine).
//!
//! Conventions
//! * Pointers and sizes are wasm32 `i32`; the host copies inputs into buffers it got from
//!   [`rv_alloc`] and reads outputs from buffers it passed in. Nothing here keeps a pointer
//!   into a host buffer after a call returns.
//! * Indexes live in this module's linear memory and are named by small positive handles.
//! * Errors are return codes (0 / -1 / a zero handle) with a message the host reads through
//!   [`rv_error_ptr`] and [`rv_error_len`]; a panic (a bug) becomes a trap (`panic = "abort"`),
//!   after the panic hook has left its message in the same place.
//! * Searches return their hit count with [`GREW`] set when the linear memory grew during
//!   the call, so the host knows when to refresh its views of the memory without asking.

#![deny(unsafe_op_in_unsafe_fn)]

use std::alloc::{alloc, dealloc, Layout};

use ruvector_kernels::distance::{self as dist, Kind};
use ruvector_kernels::hnsw::NONE;
use ruvector_kernels::{format, quant, Hnsw, Metric, Params, Sequential};

/// Set in a search's return value when the linear memory grew during the call.
pub const GREW: i32 = 1 << 30;
const ALIGN: usize = 16;

// The module is single-threaded (wasm32 without threads) and never re-entered, so plain
// statics are enough. Nothing here may hold a `RefCell` borrow or a lock across a call: a
// trap (an interrupted call, a panic) does not unwind and would leave it held forever.
static mut INDEXES: Vec<Option<Box<Hnsw>>> = Vec::new();
static mut ERROR: String = String::new();

fn set_error(msg: String) {
    // SAFETY: single-threaded, and no reference to ERROR outlives a call.
    unsafe { *std::ptr::addr_of_mut!(ERROR) = msg }
}

fn indexes() -> &'static mut Vec<Option<Box<Hnsw>>> {
    // SAFETY: single-threaded and not re-entered; callers do not keep the reference.
    unsafe { &mut *std::ptr::addr_of_mut!(INDEXES) }
}

fn with_index<T>(h: i32, default: T, f: impl FnOnce(&mut Hnsw) -> T) -> T {
    let found = usize::try_from(h).ok().and_then(|i| i.checked_sub(1)).and_then(|i| indexes().get_mut(i));
    match found {
        Some(Some(ix)) => f(ix),
        _ => {
            set_error(format!("no index with handle {h}"));
            default
        }
    }
}

fn add_index(ix: Hnsw) -> i32 {
    let all = indexes();
    let slot = match all.iter().position(Option::is_none) {
        Some(i) => i,
        None => {
            all.push(None);
            all.len() - 1
        }
    };
    all[slot] = Some(Box::new(ix));
    (slot + 1) as i32
}

#[cfg(target_arch = "wasm32")]
fn pages() -> usize {
    core::arch::wasm32::memory_size(0)
}

#[cfg(not(target_arch = "wasm32"))]
fn pages() -> usize {
    0
}

unsafe fn slice<'a, T>(ptr: *const T, len: usize) -> &'a [T] {
    if len == 0 {
        &[]
    } else {
        // SAFETY: the host passes a buffer of `len` elements it got from rv_alloc.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

unsafe fn slice_mut<'a, T>(ptr: *mut T, len: usize) -> &'a mut [T] {
    if len == 0 {
        &mut []
    } else {
        // SAFETY: as in `slice`, and the host does not alias output buffers.
        unsafe { std::slice::from_raw_parts_mut(ptr, len) }
    }
}

fn kind(code: u32) -> Option<Kind> {
    match code {
        0 => Some(Kind::Cosine),
        1 => Some(Kind::Euclidean),
        2 => Some(Kind::Dot),
        _ => None,
    }
}

// -- memory ---------------------------------------------------------------------------------

/// `size` bytes aligned to 16, or null when the memory limit refuses to grow.
#[no_mangle]
pub extern "C" fn rv_alloc(size: usize) -> *mut u8 {
    match Layout::from_size_align(size.max(1), ALIGN) {
        // SAFETY: the layout has a non-zero size.
        Ok(layout) => unsafe { alloc(layout) },
        Err(_) => std::ptr::null_mut(),
    }
}

/// Frees what `rv_alloc(size)` returned.
#[no_mangle]
pub unsafe extern "C" fn rv_free(ptr: *mut u8, size: usize) {
    if ptr.is_null() {
        return;
    }
    if let Ok(layout) = Layout::from_size_align(size.max(1), ALIGN) {
        // SAFETY: `ptr` came from rv_alloc with this size.
        unsafe { dealloc(ptr, layout) }
    }
}

/// 1 when `bytes` more can be allocated in one piece (the memory is grown to make room and
/// kept by the allocator), 0 when the memory limit refuses: checked before an insert so that
/// running out of memory is an error before the index changes, not a trap half way through.
#[no_mangle]
pub extern "C" fn rv_headroom(bytes: usize) -> i32 {
    let mut probe: Vec<u8> = Vec::new();
    if probe.try_reserve_exact(bytes).is_err() {
        set_error(format!("the wasm memory limit leaves no room for {bytes} more bytes"));
        return 0;
    }
    1
}

/// Current size of the linear memory in 64 KiB pages.
#[no_mangle]
pub extern "C" fn rv_pages() -> usize {
    pages()
}

#[no_mangle]
pub extern "C" fn rv_error_ptr() -> *const u8 {
    // SAFETY: single-threaded; the host reads the bytes before its next call.
    unsafe { (*std::ptr::addr_of!(ERROR)).as_ptr() }
}

#[no_mangle]
pub extern "C" fn rv_error_len() -> usize {
    // SAFETY: as in rv_error_ptr.
    unsafe { (*std::ptr::addr_of!(ERROR)).len() }
}

/// Installs a panic hook that leaves the panic message where `rv_error_*` read it (the host
/// calls this once after instantiation).
#[no_mangle]
pub extern "C" fn rv_init() {
    std::panic::set_hook(Box::new(|info| {
        set_error(format!("panic in the wasm module: {info}"));
    }));
}

// -- indexes --------------------------------------------------------------------------------

/// A new empty index; 0 on bad parameters.
#[no_mangle]
pub extern "C" fn rv_index_new(d: u32, m: u32, efc: u32, efs: u32, metric: u32, seed: u64) -> i32 {
    let metric = match Metric::from_code(metric as u8).filter(|_| metric < 3) {
        Some(x) => x,
        None => {
            set_error(format!("unknown metric code {metric}"));
            return 0;
        }
    };
    let params = Params {
        dimensions: d as usize,
        m: m as usize,
        ef_construction: efc as usize,
        ef_search: efs as usize,
        metric,
        seed,
    };
    match Hnsw::new(params) {
        Ok(ix) => add_index(ix),
        Err(e) => {
            set_error(e);
            0
        }
    }
}

#[no_mangle]
pub extern "C" fn rv_index_free(h: i32) {
    if let Some(slot) = usize::try_from(h).ok().and_then(|i| i.checked_sub(1)).and_then(|i| indexes().get_mut(i)) {
        *slot = None;
    }
}

/// Live vectors.
#[no_mangle]
pub extern "C" fn rv_len(h: i32) -> i32 {
    with_index(h, -1, |ix| ix.len() as i32)
}

/// Nodes, deleted ones included.
#[no_mangle]
pub extern "C" fn rv_node_count(h: i32) -> i32 {
    with_index(h, -1, |ix| ix.node_count() as i32)
}

/// Bytes an insert of `n` rows with `text` bytes of ids may allocate at most in one piece,
/// plus the index's current size (arrays grow by reallocation).
#[no_mangle]
pub extern "C" fn rv_insert_need(h: i32, n: u32, text: u32) -> u32 {
    with_index(h, 0, |ix| {
        let p = ix.params();
        let stride = 4 * (1 + 2 * p.m + p.dimensions) as u64;
        let nodes = ix.node_count() as u64 + n as u64;
        let need = nodes * stride + text as u64 + ix.id_text_len() as u64 + 64 * n as u64 + (1 << 20);
        need.min(u32::MAX as u64) as u32
    })
}

/// Inserts `n` rows: ids are `text[offs[i]..offs[i + 1]]` (UTF-8), vectors `n * d` floats.
/// 0 on success; -1 (index unchanged) on bad arguments.
#[no_mangle]
pub unsafe extern "C" fn rv_insert(
    h: i32,
    text: *const u8,
    text_len: usize,
    offs: *const u32,
    n: usize,
    vectors: *const f32,
) -> i32 {
    // SAFETY: the host passes buffers of these sizes.
    let (text, offs) = unsafe { (slice(text, text_len), slice(offs, n + 1)) };
    let mut ids: Vec<&str> = Vec::with_capacity(n);
    for i in 0..n {
        let (a, b) = (offs[i] as usize, offs[i + 1] as usize);
        match text.get(a..b).map(std::str::from_utf8) {
            Some(Ok(s)) => ids.push(s),
            _ => {
                set_error(format!("id {i} is not valid UTF-8 within the id text"));
                return -1;
            }
        }
    }
    with_index(h, -1, |ix| {
        let d = ix.params().dimensions;
        // SAFETY: as above.
        let rows = unsafe { slice(vectors, n * d) };
        match ix.insert_batch(&ids, rows, &Sequential) {
            Ok(()) => 0,
            Err(e) => {
                set_error(e);
                -1
            }
        }
    })
}

/// Up to `k` hits with a beam of `max(ef, k)`, written to `out` as (node u32, score f32)
/// pairs best first; returns the count, with [`GREW`] set if the memory grew.
#[no_mangle]
pub unsafe extern "C" fn rv_search(h: i32, query: *const f32, k: u32, ef: u32, out: *mut u32) -> i32 {
    let before = pages();
    let count = with_index(h, -1, |ix| {
        let d = ix.params().dimensions;
        // SAFETY: the host passes d floats and room for 2k words.
        let (q, out) = unsafe { (slice(query, d), slice_mut(out, 2 * k as usize)) };
        let hits = ix.search(q, k as usize, ef as usize);
        for (pair, &(node, score)) in out.chunks_exact_mut(2).zip(&hits) {
            pair[0] = node;
            pair[1] = score.to_bits();
        }
        hits.len() as i32
    });
    if count >= 0 && pages() != before {
        count | GREW
    } else {
        count
    }
}

/// `nq` searches; nodes (NONE-padded) and scores (-inf-padded) as `nq x k` row-major arrays.
/// Returns 0, with [`GREW`] set if the memory grew, or -1.
#[no_mangle]
pub unsafe extern "C" fn rv_search_batch(
    h: i32,
    queries: *const f32,
    nq: usize,
    k: u32,
    ef: u32,
    out_nodes: *mut u32,
    out_scores: *mut f32,
) -> i32 {
    let before = pages();
    let k = k as usize;
    let status = with_index(h, -1, |ix| {
        let d = ix.params().dimensions;
        // SAFETY: the host passes nq * d floats and room for nq * k of each output.
        let (qs, nodes, scores) =
            unsafe { (slice(queries, nq * d), slice_mut(out_nodes, nq * k), slice_mut(out_scores, nq * k)) };
        for i in 0..nq {
            let hits = ix.search(&qs[i * d..(i + 1) * d], k, ef as usize);
            for j in 0..k {
                let (node, score) = hits.get(j).copied().unwrap_or((NONE, f32::NEG_INFINITY));
                nodes[i * k + j] = node;
                scores[i * k + j] = score;
            }
        }
        0
    });
    if status == 0 && pages() != before {
        GREW
    } else {
        status
    }
}

/// Tombstones the live id `id[..len]`: its node, or -1 when it is not there.
#[no_mangle]
pub unsafe extern "C" fn rv_delete(h: i32, id: *const u8, len: usize) -> i32 {
    // SAFETY: the host passes `len` bytes.
    let bytes = unsafe { slice(id, len) };
    let id = match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(_) => return -1,
    };
    with_index(h, -1, |ix| match ix.node_of(id) {
        Some(node) if ix.delete(id) => node as i32,
        _ => -1,
    })
}

/// The index in the format of docs/format.md: a buffer the host frees with
/// `rv_free(ptr, *out_len)`; null on failure.
#[no_mangle]
pub unsafe extern "C" fn rv_serialize(h: i32, out_len: *mut u32) -> *mut u8 {
    let blob = with_index(h, None, |ix| Some(format::encode(ix)));
    into_host_buffer(blob, out_len)
}

fn into_host_buffer(blob: Option<Vec<u8>>, out_len: *mut u32) -> *mut u8 {
    let blob = match blob {
        Some(b) => b,
        None => return std::ptr::null_mut(),
    };
    let ptr = rv_alloc(blob.len());
    if ptr.is_null() {
        set_error(format!("the wasm memory limit leaves no room for {} bytes", blob.len()));
        return ptr;
    }
    // SAFETY: `ptr` has room for blob.len() bytes; out_len is a host buffer of one word.
    unsafe {
        std::ptr::copy_nonoverlapping(blob.as_ptr(), ptr, blob.len());
        *out_len = blob.len() as u32;
    }
    ptr
}

/// Validates and loads `len` bytes; a handle, or 0 with the reason in `rv_error_*`.
#[no_mangle]
pub unsafe extern "C" fn rv_load(data: *const u8, len: usize) -> i32 {
    // SAFETY: the host passes `len` bytes.
    let bytes = unsafe { slice(data, len) };
    match format::decode(bytes) {
        Ok(ix) => add_index(ix),
        Err(e) => {
            set_error(e.0);
            0
        }
    }
}

/// Every node's id and flag, for the host's id table: `(n + 1)` u32 offsets, `n` flag bytes
/// (1 = deleted), then the id text. Freed by the host with `rv_free(ptr, *out_len)`.
#[no_mangle]
pub unsafe extern "C" fn rv_node_ids(h: i32, out_len: *mut u32) -> *mut u8 {
    let blob = with_index(h, None, |ix| {
        let n = ix.node_count();
        let mut offs: Vec<u8> = Vec::with_capacity(4 * (n + 1));
        let mut flags: Vec<u8> = Vec::with_capacity(n);
        let mut text: Vec<u8> = Vec::new();
        offs.extend_from_slice(&0u32.to_le_bytes());
        for i in 0..n as u32 {
            text.extend_from_slice(ix.id(i).as_bytes());
            offs.extend_from_slice(&(text.len() as u32).to_le_bytes());
            flags.push(ix.is_deleted(i) as u8);
        }
        offs.extend_from_slice(&flags);
        offs.extend_from_slice(&text);
        Some(offs)
    });
    into_host_buffer(blob, out_len)
}

/// Writes `[live, deleted, max_level, nodes, memory_bytes, levels, per_level...]` (u32 words,
/// max_level as i32) to `out`, which has room for 70 words; returns the words written.
#[no_mangle]
pub unsafe extern "C" fn rv_stats(h: i32, out: *mut u32) -> i32 {
    with_index(h, -1, |ix| {
        // SAFETY: the host passes 70 words.
        let out = unsafe { slice_mut(out, 70) };
        let per = ix.nodes_per_level();
        let head = [
            ix.len() as u32,
            ix.deleted_count() as u32,
            ix.max_level() as u32,
            ix.node_count() as u32,
            ix.memory_bytes().min(u32::MAX as usize) as u32,
            per.len() as u32,
        ];
        out[..6].copy_from_slice(&head);
        for (o, &c) in out[6..].iter_mut().zip(&per) {
            *o = c as u32;
        }
        (6 + per.len().min(64)) as i32
    })
}

// -- vector kernels -------------------------------------------------------------------------

/// Lower is closer: `1 - cos`, L2 or `-a.b`; NaN for an unknown metric code.
#[no_mangle]
pub unsafe extern "C" fn rv_distance(a: *const f32, b: *const f32, d: usize, metric: u32) -> f32 {
    let k = dist::kernels();
    // SAFETY: the host passes two vectors of d floats.
    let (a, b) = unsafe { (slice(a, d), slice(b, d)) };
    match kind(metric) {
        Some(kd) => dist::distance(&k, a, b, kd),
        None => f32::NAN,
    }
}

#[no_mangle]
pub unsafe extern "C" fn rv_batch_distance(
    q: *const f32,
    m: *const f32,
    n: usize,
    d: usize,
    metric: u32,
    out: *mut f32,
) -> i32 {
    let k = dist::kernels();
    let kd = match kind(metric) {
        Some(x) => x,
        None => return -1,
    };
    // SAFETY: the host passes d + n * d floats and room for n.
    let (q, m, out) = unsafe { (slice(q, d), slice(m, n * d), slice_mut(out, n)) };
    dist::batch_distance(&k, q, m, kd, out);
    0
}

/// Scales each of the `n` rows of `m` to unit norm in place.
#[no_mangle]
pub unsafe extern "C" fn rv_normalize(m: *mut f32, n: usize, d: usize) {
    let k = dist::kernels();
    // SAFETY: the host passes n * d floats.
    dist::normalize_rows(&k, unsafe { slice_mut(m, n * d) }, d);
}

#[no_mangle]
pub unsafe extern "C" fn rv_quantize_int8(
    m: *const f32,
    n: usize,
    d: usize,
    codes: *mut i8,
    scales: *mut f32,
    offsets: *mut f32,
) {
    // SAFETY: the host passes n * d floats and room for n * d codes, n scales, n offsets.
    unsafe {
        quant::quantize_int8(slice(m, n * d), d, slice_mut(codes, n * d), slice_mut(scales, n), slice_mut(offsets, n))
    }
}

#[no_mangle]
pub unsafe extern "C" fn rv_dequantize_int8(
    codes: *const i8,
    n: usize,
    d: usize,
    scales: *const f32,
    offsets: *const f32,
    out: *mut f32,
) {
    // SAFETY: as the sizes say.
    unsafe {
        quant::dequantize_int8(slice(codes, n * d), d, slice(scales, n), slice(offsets, n), slice_mut(out, n * d))
    }
}

#[no_mangle]
pub unsafe extern "C" fn rv_quantize_binary(m: *const f32, n: usize, d: usize, codes: *mut u8, scales: *mut f32) {
    let rb = quant::binary_row_bytes(d);
    // SAFETY: as the sizes say.
    unsafe { quant::quantize_binary(slice(m, n * d), d, slice_mut(codes, n * rb), slice_mut(scales, n)) }
}

#[no_mangle]
pub unsafe extern "C" fn rv_dequantize_binary(codes: *const u8, n: usize, d: usize, scales: *const f32, out: *mut f32) {
    let rb = quant::binary_row_bytes(d);
    // SAFETY: as the sizes say.
    unsafe { quant::dequantize_binary(slice(codes, n * rb), d, slice(scales, n), slice_mut(out, n * d)) }
}
