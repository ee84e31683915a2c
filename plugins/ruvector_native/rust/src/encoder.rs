//! The sentence encoder of `ruvector-kernels` behind PyO3: a weight blob in, packed token
//! batches in, unit-length embeddings out. Tokenization is the caller's
//! (`ruvector_textmodel`); the matrix products spread over the extension's rayon pool.

use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1};
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use ruvector_kernels::encoder::{self, EncoderError};

use crate::{executor, slice, threads, InvalidInput};

create_exception!(
    ruvector_native._native,
    BadModel,
    PyValueError,
    "An encoder weight blob that fails its checks (header, length, CRC-32, finite values)."
);

fn input_error(e: EncoderError) -> PyErr {
    InvalidInput::new_err(e.to_string())
}

/// A loaded encoder; safe to call from several threads at once (it is never changed).
#[pyclass(module = "ruvector_native._native", name = "Encoder", subclass, frozen)]
pub struct Encoder {
    inner: encoder::Encoder,
}

#[pymethods]
impl Encoder {
    /// The encoder a blob (from `ruvector_textmodel.weights.to_blob`) holds.
    #[new]
    fn new(py: Python<'_>, blob: &[u8]) -> PyResult<Self> {
        let inner = py.detach(|| encoder::Encoder::load(blob)).map_err(|e| BadModel::new_err(e.to_string()))?;
        Ok(Encoder { inner })
    }

    /// Length of the embeddings.
    #[getter]
    fn dimensions(&self) -> usize {
        self.inner.dims().hidden
    }

    /// The most tokens one text may have (markers included).
    #[getter]
    fn positions(&self) -> usize {
        self.inner.dims().positions
    }

    /// The instruction set of the matrix products.
    #[getter]
    fn isa(&self) -> &'static str {
        self.inner.isa()
    }

    /// Embeddings (texts x dimensions) of texts whose token ids are `ids`, one text after
    /// the other, `lengths[i]` tokens for text `i`.
    fn embed<'py>(
        &self,
        py: Python<'py>,
        ids: PyReadonlyArray1<'py, u32>,
        lengths: PyReadonlyArray1<'py, u32>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let (ids, lengths) = (slice(&ids)?, slice(&lengths)?);
        let out = py.detach(|| self.inner.embed_with(&executor(), threads(), ids, lengths)).map_err(input_error)?;
        PyArray1::from_vec(py, out).reshape([lengths.len(), self.inner.dims().hidden])
    }
}
