//! How a node's output rows are spread over worker threads. The core stays single-threaded
//! and `no_std`; a host passes an [`Executor`] that runs the jobs on its threads.

/// Runs a batch of independent jobs, each writing disjoint memory, possibly in parallel.
pub trait Executor: Sync {
    /// Number of jobs worth creating per node.
    fn workers(&self) -> usize;
    /// Runs every job exactly once and returns when all have finished.
    fn run(&self, jobs: &mut [&mut (dyn FnMut() + Send)]);
}

/// Runs jobs one after another on the calling thread.
pub struct Sequential;

impl Executor for Sequential {
    fn workers(&self) -> usize {
        1
    }
    fn run(&self, jobs: &mut [&mut (dyn FnMut() + Send)]) {
        for job in jobs.iter_mut() {
            job();
        }
    }
}
