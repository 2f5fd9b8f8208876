//! A multi-threaded [`Executor`] for the host, on a rayon thread pool.

use sdt_core::Executor;

/// Runs a node's row jobs on a fixed-size rayon pool.
pub struct ThreadPool {
    pool: rayon::ThreadPool,
    threads: usize,
}

impl ThreadPool {
    pub fn new(threads: usize) -> Result<Self, rayon::ThreadPoolBuildError> {
        let threads = threads.clamp(1, sdt_core::plan::MAX_WORKERS);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()?;
        Ok(ThreadPool { pool, threads })
    }
}

impl Executor for ThreadPool {
    fn workers(&self) -> usize {
        self.threads
    }

    fn run(&self, jobs: &mut [&mut (dyn FnMut() + Send)]) {
        if let [only] = jobs {
            return only();
        }
        self.pool.scope(|s| {
            for job in jobs.iter_mut() {
                s.spawn(move |_| job());
            }
        });
    }
}
