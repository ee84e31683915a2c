//! `ruvector_native._native`: the PyO3 binding of `ruvector-kernels`.
//!
//! Plain values cross this boundary: ints, floats, str and C-contiguous numpy arrays in;
//! tuples, lists, bytes and numpy arrays out. The plugin's Python side
//! (`ruvector_native._adapters`) builds the core's models from them and maps this module's
//! exceptions (`InvalidInput`, `CorruptIndex`) onto the core's errors, so nothing here
//! knows the core's classes.
//!
//! Arguments arrive validated by the core's facades (finite, C-contiguous float32 of the
//! right shape), so this layer only converts. Every loop over many vectors runs with the
//! GIL released; the index sits behind an `RwLock`, which is only ever waited for with the
//! GIL released and never held while the GIL is acquired, so no thread can deadlock.
//! Parallel work (batch inserts, batch searches, large batch distances) runs on a rayon
//! pool whose size `set_threads` controls (default: `RUVECTOR_NATIVE_THREADS` or the
//! number of CPUs); results never depend on the thread count.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use numpy::ndarray::Dimension;
use numpy::{
    Element, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray, PyReadonlyArray1, PyReadonlyArray2,
    PyUntypedArrayMethods,
};
use pyo3::create_exception;
use pyo3::exceptions::{PyMemoryError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};
use rayon::prelude::*;
use ruvector_kernels::distance::{self as dist, Kind};
use ruvector_kernels::{format, quant, Executor, Hnsw, Metric, Params, Storage, StorageKind};

mod encoder;

// -- errors -------------------------------------------------------------------------------

create_exception!(
    ruvector_native._native,
    InvalidInput,
    PyValueError,
    "An argument the extension cannot use: a shape, length, metric or parameter out of range."
);
create_exception!(
    ruvector_native._native,
    CorruptIndex,
    PyValueError,
    "Index bytes that fail the checks of docs/format.md."
);

// -- threads ------------------------------------------------------------------------------

static THREADS: AtomicUsize = AtomicUsize::new(0);
static POOL: Mutex<Option<(usize, Arc<rayon::ThreadPool>)>> = Mutex::new(None);

fn default_threads() -> usize {
    std::env::var("RUVECTOR_NATIVE_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
}

fn threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => {
            let n = default_threads();
            THREADS.store(n, Ordering::Relaxed);
            n
        }
        n => n,
    }
}

/// The executor for parallel work: the calling thread alone when one thread is configured.
struct Exec(Option<Arc<rayon::ThreadPool>>);

fn executor() -> Exec {
    let n = threads();
    if n <= 1 {
        return Exec(None);
    }
    let mut slot = POOL.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((size, pool)) = slot.as_ref() {
        if *size == n {
            return Exec(Some(pool.clone()));
        }
    }
    match rayon::ThreadPoolBuilder::new().num_threads(n).thread_name(|i| format!("ruvector-{i}")).build() {
        Ok(pool) => {
            let pool = Arc::new(pool);
            *slot = Some((n, pool.clone()));
            Exec(Some(pool))
        }
        Err(_) => Exec(None),
    }
}

impl Executor for Exec {
    fn map<T, F>(&self, n: usize, f: F) -> Vec<T>
    where
        T: Send,
        F: Fn(usize) -> T + Sync + Send,
    {
        match &self.0 {
            Some(pool) if n > 1 => pool.install(|| (0..n).into_par_iter().map(&f).collect()),
            _ => (0..n).map(f).collect(),
        }
    }
}

/// Number of threads used for batch work.
#[pyfunction]
fn get_threads() -> usize {
    threads()
}

/// Sets the number of threads used for batch inserts, batch searches and large batch
/// distances (1 runs everything on the calling thread).
#[pyfunction]
fn set_threads(n: usize) -> PyResult<()> {
    if n == 0 {
        return Err(InvalidInput::new_err("threads must be at least 1"));
    }
    THREADS.store(n, Ordering::Relaxed);
    Ok(())
}

/// The SIMD instruction set the kernels use on this CPU.
#[pyfunction]
fn isa() -> &'static str {
    dist::kernels().isa
}

/// (ids, scores) of a batch search: an object array of `str` or None and float32 scores.
type IdsAndScores<'py> = (Bound<'py, PyArray2<Py<PyAny>>>, Bound<'py, PyArray2<f32>>);
/// (codes, scales, offsets) of int8 quantization.
type Int8Codes<'py> = (Bound<'py, PyArray2<i8>>, Bound<'py, PyArray1<f32>>, Bound<'py, PyArray1<f32>>);
/// (codes, scales) of binary quantization.
type BinaryCodes<'py> = (Bound<'py, PyArray2<u8>>, Bound<'py, PyArray1<f32>>);

// -- helpers ------------------------------------------------------------------------------

fn read(lock: &RwLock<Hnsw>) -> RwLockReadGuard<'_, Hnsw> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write(lock: &RwLock<Hnsw>) -> RwLockWriteGuard<'_, Hnsw> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

fn kind_of(metric: &str) -> PyResult<Kind> {
    match metric {
        "cosine" => Ok(Kind::Cosine),
        "euclidean" => Ok(Kind::Euclidean),
        "dot" => Ok(Kind::Dot),
        other => Err(InvalidInput::new_err(format!("unknown metric {other:?}"))),
    }
}

/// The elements of a C-contiguous array, which is all the core's facades pass.
fn slice<'a, T: Element, D: Dimension>(a: &'a PyReadonlyArray<'_, T, D>) -> PyResult<&'a [T]> {
    a.as_slice().map_err(|e| InvalidInput::new_err(e.to_string()))
}

/// The parameters of an index; `metric_code` is the metric's byte in the index format.
fn params_of(
    dimensions: usize,
    m: usize,
    ef_construction: usize,
    ef_search: usize,
    metric_code: u8,
    seed: u64,
) -> PyResult<Params> {
    let metric = Metric::from_code(metric_code)
        .ok_or_else(|| InvalidInput::new_err(format!("unknown metric code {metric_code}")))?;
    let params = Params { dimensions, m, ef_construction, ef_search, metric, seed };
    params.check().map_err(InvalidInput::new_err)?;
    Ok(params)
}

/// The storage of an index from `HnswConfig`'s `storage` and `floats` names.
fn storage_of(storage: &str, floats: &str) -> PyResult<Storage> {
    let kind = StorageKind::from_name(storage)
        .ok_or_else(|| InvalidInput::new_err(format!("unknown storage kind {storage:?}")))?;
    let floats = match floats {
        "resident" => true,
        "none" => false,
        other => return Err(InvalidInput::new_err(format!("unknown floats setting {other:?}"))),
    };
    Storage::new(kind, floats).map_err(InvalidInput::new_err)
}

/// A filter mask's bytes: numpy stores a bool as one byte, 0 or 1, so the caller's array
/// is read in place, without the copy a conversion to `uint8` would make.
fn mask_bytes<'a>(mask: &'a PyReadonlyArray1<'_, bool>) -> PyResult<&'a [u8]> {
    let flags = slice(mask)?;
    // SAFETY: `bool` and `u8` have the same size and alignment, and every bool is a valid
    // u8; the slice borrows the same readonly array for the same lifetime.
    Ok(unsafe { std::slice::from_raw_parts(flags.as_ptr() as *const u8, flags.len()) })
}

/// One search, filtered by `allow` when it is given.
fn search_one(g: &Hnsw, query: &[f32], k: usize, ef: usize, allow: Option<&[u8]>) -> Vec<(u32, f32)> {
    match allow {
        None => g.search(query, k, ef),
        Some(allow) => g.search_filtered(query, k, ef, allow),
    }
}

/// The index `data` encodes, which must declare `params`; anything wrong with the bytes,
/// even a panic of the decoder, is a `CorruptIndex`.
fn decode(py: Python<'_>, data: &[u8], params: &Params, storage: Storage) -> PyResult<Hnsw> {
    let graph = match py.detach(|| catch_unwind(AssertUnwindSafe(|| format::decode(data)))) {
        Ok(Ok(graph)) => graph,
        Ok(Err(e)) => return Err(CorruptIndex::new_err(e.0)),
        Err(_) => return Err(CorruptIndex::new_err("index bytes could not be decoded")),
    };
    if graph.params() != params || graph.storage() != storage {
        return Err(CorruptIndex::new_err("the index bytes declare other parameters than the ones given"));
    }
    Ok(graph)
}

// -- the index ----------------------------------------------------------------------------

/// An HNSW index: the graph operations of the core's `HnswGraph` protocol on plain values
/// (the plugin's Python subclass adds the configuration and the statistics model).
#[pyclass(module = "ruvector_native._native", name = "Hnsw", subclass, frozen)]
struct Index {
    inner: RwLock<Hnsw>,
    /// The graph's dimension, kept outside the lock: it never changes, and a check of an
    /// argument against it should not wait, with the GIL held, for a writer to finish.
    dimensions: usize,
    names: IdNames,
}

/// The Python `str` of each node's id, made the first time a search returns the node and
/// handed out again after that: a node's id never changes, and sharing one `str` costs a
/// reference count where making it costs an allocation and a UTF-8 decode per hit.
#[derive(Default)]
struct IdNames(Mutex<Vec<Option<Py<PyString>>>>);

impl IdNames {
    /// The ids of the `found` nodes that have no `str` yet, each once; called under the
    /// index's read lock without the GIL.
    fn missing(&self, g: &Hnsw, found: impl Iterator<Item = u32>) -> Vec<(u32, String)> {
        let names = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut nodes: Vec<u32> = found.filter(|&node| names.get(node as usize).is_none_or(Option::is_none)).collect();
        nodes.sort_unstable();
        nodes.dedup();
        nodes.into_iter().map(|node| (node, g.id(node).to_owned())).collect()
    }

    /// The names of `nodes`, in order, after adding the `missing` ones. The new `str`s are
    /// made before the lock is taken, and under it only reference counts change: making an
    /// object can run the garbage collector, whose finalizers can let another thread take
    /// the GIL and then wait here for the lock, which this thread could never give back.
    fn of(&self, py: Python<'_>, missing: Vec<(u32, String)>, nodes: impl Iterator<Item = u32>) -> Vec<Py<PyAny>> {
        let made: Vec<(usize, Py<PyString>)> =
            missing.into_iter().map(|(node, id)| (node as usize, PyString::new(py, &id).unbind())).collect();
        let mut names = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for (slot, name) in made {
            if names.len() <= slot {
                names.resize_with(slot + 1, || None);
            }
            names[slot].get_or_insert(name);
        }
        nodes
            .map(|node| match &names[node as usize] {
                Some(name) => name.clone_ref(py).into_any(),
                None => py.None(),
            })
            .collect()
    }
}

#[pymethods]
impl Index {
    /// An empty index with these parameters or, given `data`, the index those bytes encode
    /// (docs/format.md), which must declare the same parameters. One constructor for both,
    /// so that a Python subclass gets its own instances from either.
    #[new]
    #[pyo3(signature = (
        dimensions, m, ef_construction, ef_search, metric_code, seed, data = None, storage = "float32",
        floats = "resident"
    ))]
    #[allow(clippy::too_many_arguments)] // the fields of `HnswConfig`, as Python passes them
    fn new(
        dimensions: usize,
        m: usize,
        ef_construction: usize,
        ef_search: usize,
        metric_code: u8,
        seed: u64,
        data: Option<&Bound<'_, PyBytes>>,
        storage: &str,
        floats: &str,
    ) -> PyResult<Self> {
        let params = params_of(dimensions, m, ef_construction, ef_search, metric_code, seed)?;
        let storage = storage_of(storage, floats)?;
        let graph = match data {
            Some(data) => decode(data.py(), data.as_bytes(), &params, storage)?,
            None => Hnsw::with_storage(params, storage).map_err(InvalidInput::new_err)?,
        };
        Ok(Index { inner: RwLock::new(graph), dimensions, names: IdNames::default() })
    }

    fn insert_batch(&self, py: Python<'_>, ids: Vec<String>, vectors: PyReadonlyArray2<'_, f32>) -> PyResult<()> {
        let shape = vectors.shape();
        let d = self.dimensions;
        if shape[0] != ids.len() || shape[1] != d {
            return Err(InvalidInput::new_err(format!("expected {} rows of {d} components, got {shape:?}", ids.len())));
        }
        let rows = slice(&vectors)?;
        let exec = executor();
        py.detach(|| write(&self.inner).insert_batch(&ids, rows, &exec)).map_err(InvalidInput::new_err)
    }

    /// A filter for `search`: one bool per node (deleted ones included), True at the live
    /// node of each id in `ids`; unknown ids are ignored.
    fn allow_mask<'py>(&self, py: Python<'py>, ids: Vec<String>) -> Bound<'py, PyArray1<bool>> {
        let mask = py.detach(|| {
            let g = read(&self.inner);
            let mut mask = vec![false; g.node_count()];
            for node in ids.iter().filter_map(|id| g.node_of(id)) {
                mask[node as usize] = true;
            }
            mask
        });
        PyArray1::from_vec(py, mask)
    }

    /// At most `k` live (id, similarity) pairs, best first; with `allow` (an `allow_mask`),
    /// exactly the `min(k, allowed live)` nearest allowed ones.
    #[pyo3(signature = (query, k, ef, allow = None))]
    fn search<'py>(
        &self,
        py: Python<'py>,
        query: PyReadonlyArray1<'py, f32>,
        k: usize,
        ef: usize,
        allow: Option<PyReadonlyArray1<'py, bool>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let q = slice(&query)?;
        if q.len() != self.dimensions {
            return Ok(PyList::empty(py));
        }
        let allow = allow.as_ref().map(mask_bytes).transpose()?;
        let (found, missing) = py.detach(|| {
            let g = read(&self.inner);
            let found = search_one(&g, q, k, ef, allow);
            let missing = self.names.missing(&g, found.iter().map(|hit| hit.0));
            (found, missing)
        });
        let names = self.names.of(py, missing, found.iter().map(|hit| hit.0));
        PyList::new(py, names.into_iter().zip(&found).map(|(name, &(_, score))| (name, score as f64)))
    }

    /// (ids, scores) of shape (q, k): an object array padded with None and float32 scores
    /// padded with -inf; each row as `search` with the same `allow` answers.
    #[pyo3(signature = (queries, k, ef, allow = None))]
    fn search_batch<'py>(
        &self,
        py: Python<'py>,
        queries: PyReadonlyArray2<'py, f32>,
        k: usize,
        ef: usize,
        allow: Option<PyReadonlyArray1<'py, bool>>,
    ) -> PyResult<IdsAndScores<'py>> {
        let shape = queries.shape();
        let rows = slice(&queries)?;
        let (q, d) = (shape[0], shape[1]);
        let allow = allow.as_ref().map(mask_bytes).transpose()?;
        let exec = executor();
        let (hits, missing) = py.detach(|| {
            if d != self.dimensions {
                return (vec![Vec::new(); q], Vec::new());
            }
            let g = read(&self.inner);
            let g = &*g;
            let one = |i: usize| search_one(g, &rows[i * d..(i + 1) * d], k, ef, allow);
            let hits: Vec<Vec<(u32, f32)>> = if q >= 4 { exec.map(q, one) } else { (0..q).map(one).collect() };
            let missing = self.names.missing(g, hits.iter().flatten().map(|hit| hit.0));
            (hits, missing)
        });
        // k comes from the caller unbounded: fail with MemoryError rather than abort
        let cells = q.checked_mul(k).ok_or_else(|| PyMemoryError::new_err("q * k overflows"))?;
        let mut ids: Vec<Py<PyAny>> = Vec::new();
        let mut scores: Vec<f32> = Vec::new();
        if ids.try_reserve_exact(cells).is_err() || scores.try_reserve_exact(cells).is_err() {
            return Err(PyMemoryError::new_err(format!("cannot allocate {q} x {k} results")));
        }
        scores.resize(cells, f32::NEG_INFINITY);
        let mut names = self.names.of(py, missing, hits.iter().flatten().map(|hit| hit.0)).into_iter();
        for (row, found) in hits.iter().enumerate() {
            for (col, &(_, score)) in found.iter().enumerate() {
                ids.extend(names.next());
                scores[row * k + col] = score;
            }
            for _ in found.len()..k {
                ids.push(py.None());
            }
        }
        let ids = PyArray1::from_vec(py, ids).reshape([q, k])?;
        let scores = PyArray1::from_vec(py, scores).reshape([q, k])?;
        Ok((ids, scores))
    }

    fn delete(&self, py: Python<'_>, id: &str) -> bool {
        py.detach(|| write(&self.inner).delete(id))
    }

    fn __contains__(&self, py: Python<'_>, id: &Bound<'_, PyAny>) -> bool {
        match id.extract::<&str>() {
            Ok(s) => py.detach(|| read(&self.inner).contains(s)),
            Err(_) => false,
        }
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        py.detach(|| read(&self.inner).len())
    }

    /// Live ids, in insertion order of their nodes.
    fn ids(&self, py: Python<'_>) -> Vec<String> {
        py.detach(|| read(&self.inner).live_ids().into_iter().map(str::to_owned).collect())
    }

    /// (count, deleted, max_level, nodes_per_level, memory_bytes): the figures of the
    /// index's statistics that only the graph knows, read under one lock.
    fn graph_stats(&self, py: Python<'_>) -> (usize, usize, i32, Vec<usize>, usize) {
        py.detach(|| {
            let g = read(&self.inner);
            (g.len(), g.deleted_count(), g.max_level(), g.nodes_per_level(), g.memory_bytes())
        })
    }

    /// The index in the format of docs/format.md.
    fn serialize<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let blob = py.detach(|| format::encode(&read(&self.inner)));
        PyBytes::new(py, &blob)
    }

    /// Named after the object's own class, which may be the plugin's subclass.
    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let name = slf.get_type().qualname()?;
        let index = slf.get();
        let (n, isa) = slf.py().detach(|| {
            let g = read(&index.inner);
            (g.len(), g.isa())
        });
        Ok(format!("{name}(dimensions={}, count={n}, isa={isa:?})", index.dimensions))
    }
}

// -- vector kernels -----------------------------------------------------------------------

/// Distances, normalisation and quantization (the arithmetic of the core's `VectorKernels`
/// protocol; the plugin's Python subclass wraps the quantization arrays in the core's model).
#[pyclass(module = "ruvector_native._native", name = "Kernels", subclass, frozen)]
struct Kernels {
    k: dist::Kernels,
}

/// Rows handled by one parallel task of a batch distance; below two tasks it stays serial.
const PAR_ROWS: usize = 8192;
/// The same for int8 quantization, whose rows cost about 0.6 us each at 384 dimensions.
const QUANT_PAR_ROWS: usize = 128;

#[pymethods]
impl Kernels {
    #[new]
    fn new() -> Self {
        Kernels { k: dist::kernels() }
    }

    /// Lower is closer: `1 - cos`, L2, or `-a.b`.
    fn distance(&self, a: PyReadonlyArray1<'_, f32>, b: PyReadonlyArray1<'_, f32>, metric: &str) -> PyResult<f64> {
        let (a, b) = (slice(&a)?, slice(&b)?);
        if a.len() != b.len() {
            return Err(InvalidInput::new_err("vectors differ in length"));
        }
        Ok(dist::distance(&self.k, a, b, kind_of(metric)?) as f64)
    }

    fn batch_distance<'py>(
        &self,
        py: Python<'py>,
        query: PyReadonlyArray1<'py, f32>,
        matrix: PyReadonlyArray2<'py, f32>,
        metric: &str,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let kind = kind_of(metric)?;
        let (q, m) = (slice(&query)?, slice(&matrix)?);
        let shape = matrix.shape();
        if shape[1] != q.len() {
            return Err(InvalidInput::new_err("matrix width differs from the query length"));
        }
        let (n, d) = (shape[0], q.len());
        let k = self.k;
        let out = py.detach(|| {
            let mut out = vec![0f32; n];
            let exec = executor();
            match exec.0 {
                Some(pool) if n >= 2 * PAR_ROWS && d > 0 => pool.install(|| {
                    out.par_chunks_mut(PAR_ROWS).zip(m.par_chunks(PAR_ROWS * d)).for_each(|(o, rows)| {
                        dist::batch_distance(&k, q, rows, kind, o);
                    })
                }),
                _ => dist::batch_distance(&k, q, m, kind, &mut out),
            }
            out
        });
        Ok(PyArray1::from_vec(py, out))
    }

    fn normalize<'py>(
        &self,
        py: Python<'py>,
        matrix: PyReadonlyArray2<'py, f32>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let shape = matrix.shape();
        let mut rows = slice(&matrix)?.to_vec();
        let k = self.k;
        py.detach(|| dist::normalize_rows(&k, &mut rows, shape[1]));
        PyArray1::from_vec(py, rows).reshape([shape[0], shape[1]])
    }

    /// (codes int8 (n, d), scales float32 (n,), offsets float32 (n,)).
    fn quantize_int8<'py>(&self, py: Python<'py>, matrix: PyReadonlyArray2<'py, f32>) -> PyResult<Int8Codes<'py>> {
        let shape = matrix.shape();
        let (n, d) = (shape[0], shape[1]);
        let m = slice(&matrix)?;
        let (codes, scales, offsets) = py.detach(|| {
            let (mut c, mut s, mut o) = (vec![0i8; n * d], vec![0f32; n], vec![0f32; n]);
            match executor().0 {
                Some(pool) if n >= 2 * QUANT_PAR_ROWS && d > 0 => pool.install(|| {
                    let rows = QUANT_PAR_ROWS;
                    m.par_chunks(rows * d)
                        .zip(c.par_chunks_mut(rows * d))
                        .zip(s.par_chunks_mut(rows).zip(o.par_chunks_mut(rows)))
                        .for_each(|((m, c), (s, o))| quant::quantize_int8(m, d, c, s, o));
                }),
                _ => quant::quantize_int8(m, d, &mut c, &mut s, &mut o),
            }
            (c, s, o)
        });
        Ok((
            PyArray1::from_vec(py, codes).reshape([n, d])?,
            PyArray1::from_vec(py, scales),
            PyArray1::from_vec(py, offsets),
        ))
    }

    fn dequantize_int8<'py>(
        &self,
        py: Python<'py>,
        codes: PyReadonlyArray2<'py, i8>,
        scales: PyReadonlyArray1<'py, f32>,
        offsets: PyReadonlyArray1<'py, f32>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let shape = codes.shape();
        let (n, d) = (shape[0], shape[1]);
        let (c, s, o) = (slice(&codes)?, slice(&scales)?, slice(&offsets)?);
        if s.len() != n || o.len() != n {
            return Err(InvalidInput::new_err("scales and offsets must have one entry per row"));
        }
        let out = py.detach(|| {
            let mut out = vec![0f32; n * d];
            quant::dequantize_int8(c, d, s, o, &mut out);
            out
        });
        PyArray1::from_vec(py, out).reshape([n, d])
    }

    /// (codes uint8 (n, ceil(d / 8)), scales float32 (n,)).
    fn quantize_binary<'py>(&self, py: Python<'py>, matrix: PyReadonlyArray2<'py, f32>) -> PyResult<BinaryCodes<'py>> {
        let shape = matrix.shape();
        let (n, d) = (shape[0], shape[1]);
        let rb = quant::binary_row_bytes(d);
        let m = slice(&matrix)?;
        let (codes, scales) = py.detach(|| {
            let (mut c, mut s) = (vec![0u8; n * rb], vec![0f32; n]);
            quant::quantize_binary(m, d, &mut c, &mut s);
            (c, s)
        });
        Ok((PyArray1::from_vec(py, codes).reshape([n, rb])?, PyArray1::from_vec(py, scales)))
    }

    fn dequantize_binary<'py>(
        &self,
        py: Python<'py>,
        codes: PyReadonlyArray2<'py, u8>,
        dimensions: usize,
        scales: PyReadonlyArray1<'py, f32>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let shape = codes.shape();
        let n = shape[0];
        let (c, s) = (slice(&codes)?, slice(&scales)?);
        if s.len() != n || shape[1] != quant::binary_row_bytes(dimensions) {
            return Err(InvalidInput::new_err("binary codes do not match their dimensions or scales"));
        }
        let out = py.detach(|| {
            let mut out = vec![0f32; n * dimensions];
            quant::dequantize_binary(c, dimensions, s, &mut out);
            out
        });
        PyArray1::from_vec(py, out).reshape([n, dimensions])
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("InvalidInput", m.py().get_type::<InvalidInput>())?;
    m.add("CorruptIndex", m.py().get_type::<CorruptIndex>())?;
    m.add_class::<Index>()?;
    m.add_class::<Kernels>()?;
    m.add("BadModel", m.py().get_type::<encoder::BadModel>())?;
    m.add_class::<encoder::Encoder>()?;
    m.add_function(wrap_pyfunction!(set_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_threads, m)?)?;
    m.add_function(wrap_pyfunction!(isa, m)?)?;
    Ok(())
}
