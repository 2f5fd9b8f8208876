//! A multi-threaded [`Executor`] for the host, on a rayon thread pool.

use sdt_core::Executor;

/// Runs a node's row jobs on the calling thread plus `threads − 1` rayon workers.
///
/// The caller takes the first job itself instead of handing every job to the pool and
/// sleeping: a node lasts from microseconds to milliseconds, and a round trip through a
/// sleeping thread would cost a good part of the small ones.
pub struct ThreadPool {
    pool: Option<rayon::ThreadPool>,
    threads: usize,
}

impl ThreadPool {
    pub fn new(threads: usize) -> Result<Self, rayon::ThreadPoolBuildError> {
        let threads = threads.clamp(1, sdt_core::plan::MAX_WORKERS);
        let pool = match threads {
            1 => None,
            n => Some(rayon::ThreadPoolBuilder::new().num_threads(n - 1).build()?),
        };
        Ok(ThreadPool { pool, threads })
    }
}

impl Executor for ThreadPool {
    fn workers(&self) -> usize {
        self.threads
    }

    fn run(&self, jobs: &mut [&mut (dyn FnMut() + Send)]) {
        let Some(pool) = self.pool.as_ref().filter(|_| jobs.len() > 1) else {
            for job in jobs.iter_mut() {
                job();
            }
            return;
        };
        let [first, rest @ ..] = jobs else {
            return;
        };
        pool.in_place_scope(|s| {
            for job in rest.iter_mut() {
                s.spawn(move |_| job());
            }
            first();
        });
    }
}
