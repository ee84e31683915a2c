//! How the HNSW spreads independent work items over threads.
//!
//! The kernels crate stays dependency-free and thread-agnostic (wasm32 has no threads): the
//! caller passes an executor. Results never depend on the executor, only the speed does.

/// Runs `f(0) .. f(n - 1)`, possibly in parallel, and returns the results in index order.
pub trait Executor: Sync {
    fn map<T, F>(&self, n: usize, f: F) -> Vec<T>
    where
        T: Send,
        F: Fn(usize) -> T + Sync + Send;
}

/// Runs everything on the calling thread.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sequential;

impl Executor for Sequential {
    fn map<T, F>(&self, n: usize, f: F) -> Vec<T>
    where
        T: Send,
        F: Fn(usize) -> T + Sync + Send,
    {
        (0..n).map(f).collect()
    }
}
