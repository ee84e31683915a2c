//! `ruvector.wasm`: the kernels of `ruvector-kernels` behind a small C ABI, for the wasm
//! backend of ruvector (run by wasmtime from Python, or by any other WebAssembly engine).
//!
//! Conventions
//! * Pointers and sizes are wasm32 `i32`; the host copies inputs into buffers it got from
//!   [`rv_alloc`] and reads outputs from buffers it passed in. Nothing here keeps a pointer
//!   into a host buffer after a call returns.
//! * Indexes live in this module's linear memory and are named by small positive handles.
//! * A call that can fail returns [`FAILED`] (calls that return a status or a count) or
//!   [`NULL`] (calls that return a handle or a pointer); why is then one of the `ERR_*` codes,
//!   read through [`rv_error_code`], with a message read through [`rv_error_ptr`] and
//!   [`rv_error_len`]. A panic (a bug) becomes a trap (`panic = "abort"`), after the panic
//!   hook has left [`ERR_PANIC`] and its message in the same place.
//! * Metric codes are the index format's metric byte (`Metric::from_code`); storage codes
//!   its storage byte (`StorageKind::from_code`: 0 float32, 1 int8, 2 binary).
//! * Searches return their hit count with [`GREW`] set when the linear memory grew during
//!   the call, so the host knows when to refresh its views of the memory without asking.
//!
//! The Python host describes every export and the constants below once, in
//! `ruvector_wasm/abi.py`; its tests read these constants and the compiled module's exports
//! and fail when the two sides disagree.

#![deny(unsafe_op_in_unsafe_fn)]

use std::alloc::{alloc, dealloc, Layout};

use ruvector_kernels::distance::{self as dist, Kind};
use ruvector_kernels::hnsw::{MAX_LEVEL, NONE};
use ruvector_kernels::{format, quant, Hnsw, Metric, Params, Sequential, Storage, StorageKind};

mod encoder;

/// The status of a call that succeeded.
pub const OK: i32 = 0;
/// The status (or count) of a call that failed.
pub const FAILED: i32 = -1;
/// The handle (or pointer) a failed call returns.
pub const NULL: i32 = 0;
/// Set in a search's return value when the linear memory grew during the call.
pub const GREW: i32 = 1 << 30;
/// Words [`rv_stats`] writes before the per-level node counts.
pub const STATS_HEAD_WORDS: usize = 6;
/// Words [`rv_stats`] writes at most: the head and one count for each level the format stores.
pub const STATS_WORDS: usize = STATS_HEAD_WORDS + MAX_LEVEL as usize + 1;

/// No call has failed yet.
pub const ERR_NONE: i32 = 0;
/// Bad arguments: parameters, ids, vectors, a metric code or a handle (the host's `InvalidInputError`).
pub const ERR_INVALID_INPUT: i32 = 1;
/// Bytes that are not a loadable index (`CorruptIndexError`).
pub const ERR_CORRUPT_INDEX: i32 = 2;
/// The memory limit refused to grow the linear memory (`WasmMemoryError`).
pub const ERR_OUT_OF_MEMORY: i32 = 3;
/// A panic, a bug; the call trapped (`WasmTrapError`).
pub const ERR_PANIC: i32 = 4;
/// An encoder weight blob that fails its checks (`ModelError`).
pub const ERR_BAD_MODEL: i32 = 5;

const ALIGN: usize = 16;

/// Why the last failed call failed.
struct LastError {
    code: i32,
    message: String,
}

// The module is single-threaded (wasm32 without threads) and never re-entered, so plain
// statics are enough. Nothing here may hold a `RefCell` borrow or a lock across a call: a
// trap (an interrupted call, a panic) does not unwind and would leave it held forever.
static mut INDEXES: Vec<Option<Box<Hnsw>>> = Vec::new();
static mut ERROR: LastError = LastError { code: ERR_NONE, message: String::new() };

fn set_error(code: i32, message: String) {
    // SAFETY: single-threaded, and no reference to ERROR outlives a call.
    unsafe { *std::ptr::addr_of_mut!(ERROR) = LastError { code, message } }
}

/// Records why a call failed and returns what the call returns on failure.
fn fail<T>(code: i32, message: String, result: T) -> T {
    set_error(code, message);
    result
}

fn last_error() -> &'static LastError {
    // SAFETY: single-threaded; the host reads the error before its next call.
    unsafe { &*std::ptr::addr_of!(ERROR) }
}

fn indexes() -> &'static mut Vec<Option<Box<Hnsw>>> {
    // SAFETY: single-threaded and not re-entered; callers do not keep the reference.
    unsafe { &mut *std::ptr::addr_of_mut!(INDEXES) }
}

fn with_index<T>(h: i32, default: T, f: impl FnOnce(&mut Hnsw) -> T) -> T {
    let found = usize::try_from(h).ok().and_then(|i| i.checked_sub(1)).and_then(|i| indexes().get_mut(i));
    match found {
        Some(Some(ix)) => {
            // an insert the host interrupted (a deadline, a trap) is undone before anything
            // else sees the index: inserts are all or nothing
            ix.rollback();
            f(ix)
        }
        _ => fail(ERR_INVALID_INPUT, format!("no index with handle {h}"), default),
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

/// The metric of a metric code; `None`, with the error set, for an unknown code.
fn metric(code: u32) -> Option<Metric> {
    let found = u8::try_from(code).ok().and_then(Metric::from_code);
    if found.is_none() {
        set_error(ERR_INVALID_INPUT, format!("unknown metric code {code}"));
    }
    found
}

/// The distance of a metric code, as [`metric`].
fn kind(code: u32) -> Option<Kind> {
    metric(code).map(|m| match m {
        Metric::Cosine => Kind::Cosine,
        Metric::Euclidean => Kind::Euclidean,
        Metric::Dot => Kind::Dot,
    })
}

// -- memory ---------------------------------------------------------------------------------

/// `size` bytes aligned to 16, or null ([`ERR_OUT_OF_MEMORY`]) when the memory limit refuses
/// to grow.
#[no_mangle]
pub extern "C" fn rv_alloc(size: usize) -> *mut u8 {
    let ptr = match Layout::from_size_align(size.max(1), ALIGN) {
        // SAFETY: the layout has a non-zero size.
        Ok(layout) => unsafe { alloc(layout) },
        Err(_) => std::ptr::null_mut(),
    };
    if ptr.is_null() {
        set_error(ERR_OUT_OF_MEMORY, format!("the wasm memory limit leaves no room for {size} bytes"));
    }
    ptr
}

/// Frees what `rv_alloc(size)` returned.
///
/// # Safety
/// `ptr` is null or came from `rv_alloc(size)` and was not freed since.
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

/// [`OK`] when `bytes` more can be allocated in one piece (the memory is grown to make room
/// and kept by the allocator), [`FAILED`] ([`ERR_OUT_OF_MEMORY`]) when the memory limit
/// refuses: checked before an insert so that running out of memory is an error before the
/// index changes, not a trap half way through.
#[no_mangle]
pub extern "C" fn rv_headroom(bytes: usize) -> i32 {
    let mut probe: Vec<u8> = Vec::new();
    match probe.try_reserve_exact(bytes) {
        Ok(()) => OK,
        Err(_) => {
            fail(ERR_OUT_OF_MEMORY, format!("the wasm memory limit leaves no room for {bytes} more bytes"), FAILED)
        }
    }
}

/// Whether pieces of these sizes can all be allocated at once (they are given back at once).
/// An insert is refused unless the arrays it grows and the two buffers of a later
/// [`rv_serialize`] (the encoded index and the host's copy of it) fit beside each other; and
/// once done, it is undone (capacity included) unless those two buffers fit in the memory as
/// it left it (where the grown arrays landed and the holes they left are known only then),
/// so that an index this module accepted rows into can be saved.
fn room_for(pieces: &[usize]) -> bool {
    let mut held: Vec<Vec<u8>> = Vec::new();
    if held.try_reserve_exact(pieces.len()).is_err() {
        return false;
    }
    for &bytes in pieces {
        let mut piece: Vec<u8> = Vec::new();
        if piece.try_reserve_exact(bytes).is_err() {
            return false;
        }
        held.push(piece);
    }
    true
}

/// Current size of the linear memory in 64 KiB pages.
#[no_mangle]
pub extern "C" fn rv_pages() -> usize {
    pages()
}

/// Why the last failed call failed: one of the `ERR_*` codes.
#[no_mangle]
pub extern "C" fn rv_error_code() -> i32 {
    last_error().code
}

/// The last failure's message (UTF-8), valid until the next call.
#[no_mangle]
pub extern "C" fn rv_error_ptr() -> *const u8 {
    last_error().message.as_ptr()
}

/// The length in bytes of the message at [`rv_error_ptr`].
#[no_mangle]
pub extern "C" fn rv_error_len() -> usize {
    last_error().message.len()
}

/// Installs a panic hook that leaves [`ERR_PANIC`] and the panic message where `rv_error_*`
/// read them (the host calls this once after instantiation).
#[no_mangle]
pub extern "C" fn rv_init() {
    std::panic::set_hook(Box::new(|info| {
        set_error(ERR_PANIC, format!("panic in the wasm module: {info}"));
    }));
}

// -- indexes --------------------------------------------------------------------------------

/// A new empty index; [`NULL`] ([`ERR_INVALID_INPUT`]) on bad parameters. `storage` is a
/// storage code, `floats` 1 to keep the float vectors beside the codes (1 for float32).
#[no_mangle]
#[allow(clippy::too_many_arguments)] // the fields of `HnswConfig`
pub extern "C" fn rv_index_new(
    d: u32,
    m: u32,
    efc: u32,
    efs: u32,
    metric: u32,
    seed: u64,
    storage: u32,
    floats: u32,
) -> i32 {
    let metric = match self::metric(metric) {
        Some(x) => x,
        None => return NULL,
    };
    let kind = match u8::try_from(storage).ok().and_then(StorageKind::from_code) {
        Some(k) if floats <= 1 => k,
        _ => return fail(ERR_INVALID_INPUT, format!("unknown storage code {storage} or floats flag {floats}"), NULL),
    };
    let storage = match Storage::new(kind, floats == 1) {
        Ok(s) => s,
        Err(e) => return fail(ERR_INVALID_INPUT, e, NULL),
    };
    let params = Params {
        dimensions: d as usize,
        m: m as usize,
        ef_construction: efc as usize,
        ef_search: efs as usize,
        metric,
        seed,
    };
    match Hnsw::with_storage(params, storage) {
        Ok(ix) => add_index(ix),
        Err(e) => fail(ERR_INVALID_INPUT, e, NULL),
    }
}

/// Drops the index `h` (nothing happens for an unknown handle).
#[no_mangle]
pub extern "C" fn rv_index_free(h: i32) {
    if let Some(slot) = usize::try_from(h).ok().and_then(|i| i.checked_sub(1)).and_then(|i| indexes().get_mut(i)) {
        *slot = None;
    }
}

/// Live vectors, or [`FAILED`].
#[no_mangle]
pub extern "C" fn rv_len(h: i32) -> i32 {
    with_index(h, FAILED, |ix| ix.len() as i32)
}

/// Nodes, deleted ones included, or [`FAILED`].
#[no_mangle]
pub extern "C" fn rv_node_count(h: i32) -> i32 {
    with_index(h, FAILED, |ix| ix.node_count() as i32)
}

/// Bytes an insert of `n` rows with `text` bytes of ids may allocate at most in one piece,
/// plus the index's current size (arrays grow by reallocation), or [`NULL`]. At most
/// `i32::MAX`: the host reads results as `i32`, and a need that large cannot be met anyway.
#[no_mangle]
pub extern "C" fn rv_insert_need(h: i32, n: u32, text: u32) -> u32 {
    with_index(h, NULL as u32, |ix| {
        let p = ix.params();
        let st = ix.storage();
        let d = p.dimensions as u64;
        let floats = if st.floats { 4 * d } else { 0 };
        let stride = 4 * (1 + 2 * p.m) as u64 + floats + st.code_bytes(p.dimensions) as u64 + 12;
        // the code kinds copy the rows they insert, prepared, for the construction queries
        let prepared = if st.kind == StorageKind::Float32 { 0 } else { 4 * d * n as u64 };
        let nodes = ix.node_count() as u64 + n as u64;
        let need = nodes * stride + prepared + text as u64 + ix.id_text_len() as u64 + 64 * n as u64 + (1 << 20);
        need.min(i32::MAX as u64) as u32
    })
}

/// Inserts `n` rows: ids are `text[offs[i]..offs[i + 1]]` (UTF-8), vectors `n * d` floats.
/// [`OK`], or [`FAILED`] with the index unchanged: [`ERR_INVALID_INPUT`], or
/// [`ERR_OUT_OF_MEMORY`] when the index could not be saved after the insert ([`room_for`]).
///
/// # Safety
/// `text` holds `text_len` bytes, `offs` `n + 1` words and `vectors` `n * d` floats.
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
            _ => return fail(ERR_INVALID_INPUT, format!("id {i} is not valid UTF-8 within the id text"), FAILED),
        }
    }
    with_index(h, FAILED, |ix| {
        let (grow, saved) = ix.insert_bounds(n, text_len);
        if !room_for(&[grow, saved, saved]) {
            let why = format!(
                "the wasm memory limit leaves no room to save the index after an insert of {n} rows (its arrays \
                 grow by up to {grow} bytes, and saving needs {saved} bytes twice); nothing changed"
            );
            return fail(ERR_OUT_OF_MEMORY, why, FAILED);
        }
        let d = ix.params().dimensions;
        // SAFETY: as above.
        let rows = unsafe { slice(vectors, n * d) };
        ix.begin_atomic();
        let done = ix.insert_batch(&ids, rows, &Sequential);
        if done.is_ok() {
            let saved = ix.encoded_len_bound();
            if !room_for(&[saved, saved]) {
                ix.rollback();
                ix.trim();
                let why = format!(
                    "the wasm memory limit leaves no room to save the index after an insert of {n} rows (saving \
                     needs {saved} bytes twice); the insert was undone"
                );
                return fail(ERR_OUT_OF_MEMORY, why, FAILED);
            }
        }
        ix.commit();
        match done {
            Ok(()) => OK,
            Err(e) => fail(ERR_INVALID_INPUT, e, FAILED),
        }
    })
}

/// Up to `k` hits with a beam of `max(ef, k)`, written to `out` as (node u32, score f32)
/// pairs best first; returns the count, with [`GREW`] set if the memory grew, or [`FAILED`].
///
/// # Safety
/// `query` holds `d` floats and `out` has room for `2 * k` words.
#[no_mangle]
pub unsafe extern "C" fn rv_search(h: i32, query: *const f32, k: u32, ef: u32, out: *mut u32) -> i32 {
    // SAFETY: the caller's contract is search_one's.
    unsafe { search_one(h, query, k, out, |ix, q| ix.search(q, k as usize, ef as usize)) }
}

/// [`rv_search`] limited to the nodes `allow` marks: `allow[node] != 0` allows `node`, nodes
/// at or past `allow_len` are not allowed. Exactly `min(k, allowed live nodes)` hits (the
/// kernels fall back to an exact scan of the allowed nodes when the walk finds fewer).
///
/// # Safety
/// As [`rv_search`], and `allow` holds `allow_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn rv_search_filtered(
    h: i32,
    query: *const f32,
    k: u32,
    ef: u32,
    allow: *const u8,
    allow_len: usize,
    out: *mut u32,
) -> i32 {
    // SAFETY: the host passes allow_len bytes; the rest is search_one's contract.
    unsafe {
        let allow = slice(allow, allow_len);
        search_one(h, query, k, out, |ix, q| ix.search_filtered(q, k as usize, ef as usize, allow))
    }
}

/// The body of the single-query searches: runs `search` on index `h` and the query at `query`,
/// writes its hits to `out` as (node, score bits) pairs, and returns their count with [`GREW`]
/// set if the memory grew, or [`FAILED`].
///
/// # Safety
/// `query` holds `d` floats and `out` has room for twice as many words as `search` returns hits.
unsafe fn search_one(
    h: i32,
    query: *const f32,
    k: u32,
    out: *mut u32,
    search: impl FnOnce(&Hnsw, &[f32]) -> Vec<(u32, f32)>,
) -> i32 {
    let before = pages();
    let count = with_index(h, FAILED, |ix| {
        let d = ix.params().dimensions;
        // SAFETY: the host passes d floats and room for 2k words.
        let (q, out) = unsafe { (slice(query, d), slice_mut(out, 2 * k as usize)) };
        let hits = search(ix, q);
        for (pair, &(node, score)) in out.chunks_exact_mut(2).zip(&hits) {
            pair[0] = node;
            pair[1] = score.to_bits();
        }
        hits.len() as i32
    });
    flag_growth(count, before)
}

/// `nq` searches; nodes (NONE-padded) and scores (-inf-padded) as `nq x k` row-major arrays.
/// Returns [`OK`], with [`GREW`] set if the memory grew, or [`FAILED`].
///
/// # Safety
/// `queries` holds `nq * d` floats; `out_nodes` and `out_scores` have room for `nq * k` each.
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
    // SAFETY: the caller's contract is search_rows'.
    unsafe { search_rows(h, queries, nq, k, out_nodes, out_scores, |ix, q| ix.search(q, k as usize, ef as usize)) }
}

/// [`rv_search_batch`] with every query limited to the nodes `allow` marks, as in
/// [`rv_search_filtered`].
///
/// # Safety
/// As [`rv_search_batch`], and `allow` holds `allow_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn rv_search_batch_filtered(
    h: i32,
    queries: *const f32,
    nq: usize,
    k: u32,
    ef: u32,
    allow: *const u8,
    allow_len: usize,
    out_nodes: *mut u32,
    out_scores: *mut f32,
) -> i32 {
    // SAFETY: the host passes allow_len bytes; the rest is search_rows' contract.
    unsafe {
        let allow = slice(allow, allow_len);
        search_rows(h, queries, nq, k, out_nodes, out_scores, |ix, q| {
            ix.search_filtered(q, k as usize, ef as usize, allow)
        })
    }
}

/// The body of the batch searches: runs `search` on index `h` for each of the `nq` queries and
/// writes up to `k` hits a row, padded with `NONE` and -inf.
///
/// # Safety
/// `queries` holds `nq * d` floats; `out_nodes` and `out_scores` have room for `nq * k` each.
unsafe fn search_rows(
    h: i32,
    queries: *const f32,
    nq: usize,
    k: u32,
    out_nodes: *mut u32,
    out_scores: *mut f32,
    search: impl Fn(&Hnsw, &[f32]) -> Vec<(u32, f32)>,
) -> i32 {
    let before = pages();
    let k = k as usize;
    let status = with_index(h, FAILED, |ix| {
        let d = ix.params().dimensions;
        // SAFETY: the host passes nq * d floats and room for nq * k of each output.
        let (qs, nodes, scores) =
            unsafe { (slice(queries, nq * d), slice_mut(out_nodes, nq * k), slice_mut(out_scores, nq * k)) };
        for i in 0..nq {
            let hits = search(ix, &qs[i * d..(i + 1) * d]);
            for j in 0..k {
                let (node, score) = hits.get(j).copied().unwrap_or((NONE, f32::NEG_INFINITY));
                nodes[i * k + j] = node;
                scores[i * k + j] = score;
            }
        }
        OK
    });
    flag_growth(status, before)
}

/// A search's `result` with [`GREW`] set if the memory is no longer `before` pages (a
/// [`FAILED`] result is left as it is).
fn flag_growth(result: i32, before: usize) -> i32 {
    if result != FAILED && pages() != before {
        result | GREW
    } else {
        result
    }
}

/// Tombstones the live id `id[..len]`: its node, or [`FAILED`] when it is not there (which
/// is not an error: `rv_error_*` is left alone unless the handle is unknown).
///
/// # Safety
/// `id` holds `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn rv_delete(h: i32, id: *const u8, len: usize) -> i32 {
    // SAFETY: the host passes `len` bytes.
    let bytes = unsafe { slice(id, len) };
    let id = match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(_) => return FAILED,
    };
    with_index(h, FAILED, |ix| match ix.node_of(id) {
        Some(node) if ix.delete(id) => node as i32,
        _ => FAILED,
    })
}

/// The index in the format of docs/format.md: a buffer the host frees with
/// `rv_free(ptr, *out_len)`; null on failure.
///
/// # Safety
/// `out_len` has room for one word.
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
        return ptr; // rv_alloc said why
    }
    // SAFETY: `ptr` has room for blob.len() bytes; out_len is a host buffer of one word.
    unsafe {
        std::ptr::copy_nonoverlapping(blob.as_ptr(), ptr, blob.len());
        *out_len = blob.len() as u32;
    }
    ptr
}

/// Validates and loads `len` bytes; a handle, or [`NULL`] ([`ERR_CORRUPT_INDEX`]).
///
/// # Safety
/// `data` holds `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn rv_load(data: *const u8, len: usize) -> i32 {
    // SAFETY: the host passes `len` bytes.
    let bytes = unsafe { slice(data, len) };
    match format::decode(bytes) {
        Ok(ix) => add_index(ix),
        Err(e) => fail(ERR_CORRUPT_INDEX, e.0, NULL),
    }
}

/// Every node's id and flag, for the host's id table: `(n + 1)` u32 offsets, `n` flag bytes
/// (1 = deleted), then the id text. Freed by the host with `rv_free(ptr, *out_len)`; null on
/// failure.
///
/// # Safety
/// `out_len` has room for one word.
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
/// max_level as i32) to `out`; returns the words written, or [`FAILED`].
///
/// # Safety
/// `out` has room for [`STATS_WORDS`] words.
#[no_mangle]
pub unsafe extern "C" fn rv_stats(h: i32, out: *mut u32) -> i32 {
    with_index(h, FAILED, |ix| {
        // SAFETY: the host passes STATS_WORDS words.
        let out = unsafe { slice_mut(out, STATS_WORDS) };
        let per = ix.nodes_per_level();
        let head = [
            ix.len() as u32,
            ix.deleted_count() as u32,
            ix.max_level() as u32,
            ix.node_count() as u32,
            ix.memory_bytes().min(u32::MAX as usize) as u32,
            per.len() as u32,
        ];
        out[..STATS_HEAD_WORDS].copy_from_slice(&head);
        for (o, &c) in out[STATS_HEAD_WORDS..].iter_mut().zip(&per) {
            *o = c as u32;
        }
        (STATS_HEAD_WORDS + per.len().min(STATS_WORDS - STATS_HEAD_WORDS)) as i32
    })
}

// -- vector kernels -------------------------------------------------------------------------

/// Lower is closer: `1 - cos`, L2 or `-a.b`; NaN ([`ERR_INVALID_INPUT`]) for an unknown metric
/// code.
///
/// # Safety
/// `a` and `b` hold `d` floats each.
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

/// The distance of `q` to each of the `n` rows of `m`, into `out`: [`OK`], or [`FAILED`]
/// ([`ERR_INVALID_INPUT`]) for an unknown metric code.
///
/// # Safety
/// `q` holds `d` floats, `m` `n * d` floats, and `out` has room for `n`.
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
        None => return FAILED,
    };
    // SAFETY: the host passes d + n * d floats and room for n.
    let (q, m, out) = unsafe { (slice(q, d), slice(m, n * d), slice_mut(out, n)) };
    dist::batch_distance(&k, q, m, kd, out);
    OK
}

/// Scales each of the `n` rows of `m` to unit norm in place.
///
/// # Safety
/// `m` holds `n * d` floats.
#[no_mangle]
pub unsafe extern "C" fn rv_normalize(m: *mut f32, n: usize, d: usize) {
    let k = dist::kernels();
    // SAFETY: the host passes n * d floats.
    dist::normalize_rows(&k, unsafe { slice_mut(m, n * d) }, d);
}

/// Int8 codes, scales and offsets of the `n` rows of `m` (`quant::quantize_int8`).
///
/// # Safety
/// `m` holds `n * d` floats; `codes` has room for `n * d` bytes, `scales` and `offsets` for `n`
/// floats each.
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

/// The `n` rows the int8 `codes`, `scales` and `offsets` stand for, into `out`.
///
/// # Safety
/// `codes` holds `n * d` bytes, `scales` and `offsets` `n` floats each; `out` has room for
/// `n * d` floats.
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

/// Sign bits (`ceil(d / 8)` bytes a row) and scales of the `n` rows of `m`.
///
/// # Safety
/// `m` holds `n * d` floats; `codes` has room for `n * ceil(d / 8)` bytes, `scales` for `n`.
#[no_mangle]
pub unsafe extern "C" fn rv_quantize_binary(m: *const f32, n: usize, d: usize, codes: *mut u8, scales: *mut f32) {
    let rb = quant::binary_row_bytes(d);
    // SAFETY: as the sizes say.
    unsafe { quant::quantize_binary(slice(m, n * d), d, slice_mut(codes, n * rb), slice_mut(scales, n)) }
}

/// The `n` rows the binary `codes` and `scales` stand for, into `out`.
///
/// # Safety
/// `codes` holds `n * ceil(d / 8)` bytes and `scales` `n` floats; `out` has room for `n * d`.
#[no_mangle]
pub unsafe extern "C" fn rv_dequantize_binary(codes: *const u8, n: usize, d: usize, scales: *const f32, out: *mut f32) {
    let rb = quant::binary_row_bytes(d);
    // SAFETY: as the sizes say.
    unsafe { quant::dequantize_binary(slice(codes, n * rb), d, slice(scales, n), slice_mut(out, n * d)) }
}
