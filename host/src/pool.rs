//! A multi-threaded [`Executor`] for the host: the calling thread plus `threads − 1` workers
//! that busy-wait between nodes.
//!
//! Why not a rayon pool: a node lasts from tens of microseconds to a few
//! milliseconds, and rayon's idle workers go to sleep within microseconds; waking one costs a
//! system call and a scheduler round trip on every node, which on the 2-core test machine
//! made the transformer stages (14×14 and 7×7 tokens) slower on two threads than on one.
//! Like OpenMP's active wait (which libtorch uses), the workers here spin for a while
//! (`SPIN`) after each batch before they block, so back-to-back nodes find them awake.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sdt_core::Executor;

/// How long an idle worker keeps polling for the next batch before it blocks.
const SPIN: Duration = Duration::from_millis(2);

/// One type-erased job of the current batch.
type Job = *mut &'static mut (dyn FnMut() + Send);

/// The batch being run, guarded by [`Shared::batch`].
struct Batch {
    /// The caller's job slice (valid while the batch runs, see [`ThreadPool::run`]).
    jobs: Job,
    len: usize,
    /// Next job index nobody has claimed.
    next: usize,
    generation: u64,
    /// Workers blocked on [`Shared::wake`]: a new batch wakes them only if there are any,
    /// since a wake-up is a system call even when nobody waits, on every node.
    sleepers: usize,
}

// SAFETY: `jobs` points at `&mut (dyn FnMut() + Send)` values; each is claimed by exactly one
// thread (under the mutex) and called there, which `Send` permits.
unsafe impl Send for Batch {}

struct Shared {
    batch: Mutex<Batch>,
    /// Signals a new batch to blocked workers.
    wake: Condvar,
    /// `Batch::generation`, readable without the lock (the workers poll it).
    generation: AtomicU64,
    /// Jobs of the current batch that have finished.
    done: AtomicUsize,
    /// A job panicked on a worker; the caller re-raises it.
    panicked: AtomicBool,
    stop: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Batch> {
        // A job that panicked poisons nothing we rely on: the batch fields stay consistent.
        self.batch.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Claims and runs jobs of generation `generation` until none is left.
    fn work(&self, generation: u64) {
        loop {
            let job = {
                let mut b = self.lock();
                if b.generation != generation || b.next >= b.len {
                    return;
                }
                b.next += 1;
                // SAFETY: `next − 1 < len`: inside the caller's slice, which outlives the
                // batch (the caller waits for `done == len` before returning).
                unsafe { b.jobs.add(b.next - 1) }
            };
            // SAFETY: index claimed once, under the lock; the slice is alive (see above).
            let run = std::panic::AssertUnwindSafe(|| unsafe { (*job)() });
            if std::panic::catch_unwind(run).is_err() {
                self.panicked.store(true, Ordering::Release);
            }
            self.done.fetch_add(1, Ordering::Release);
        }
    }
}

/// Runs a node's row jobs on the calling thread and `threads − 1` worker threads.
pub struct ThreadPool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    threads: usize,
}

impl ThreadPool {
    pub fn new(threads: usize) -> std::io::Result<Self> {
        let threads = threads.clamp(1, sdt_core::plan::MAX_WORKERS);
        let shared = Arc::new(Shared {
            batch: Mutex::new(Batch {
                jobs: std::ptr::null_mut(),
                len: 0,
                next: 0,
                generation: 0,
                sleepers: 0,
            }),
            wake: Condvar::new(),
            generation: AtomicU64::new(0),
            done: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let workers = (1..threads)
            .map(|i| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("sdt-worker-{i}"))
                    .spawn(move || worker(&shared))
            })
            .collect::<std::io::Result<_>>()?;
        Ok(ThreadPool {
            shared,
            workers,
            threads,
        })
    }
}

fn worker(shared: &Shared) {
    let mut seen = 0;
    loop {
        let start = Instant::now();
        let mut generation = shared.generation.load(Ordering::Acquire);
        while generation == seen && start.elapsed() < SPIN {
            std::hint::spin_loop();
            generation = shared.generation.load(Ordering::Acquire);
        }
        if generation == seen {
            // Counted under the lock that also guards the generation: a caller that
            // publishes a batch after this sees the sleeper and wakes it, and one that
            // published before has changed the generation this loop checks first.
            let mut b = shared.lock();
            b.sleepers += 1;
            while b.generation == seen && !shared.stop.load(Ordering::Acquire) {
                b = shared.wake.wait(b).unwrap_or_else(|e| e.into_inner());
            }
            b.sleepers -= 1;
            generation = b.generation;
        }
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        seen = generation;
        shared.work(generation);
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        {
            let mut b = self.shared.lock();
            b.generation += 1;
            self.shared
                .generation
                .store(b.generation, Ordering::Release);
        }
        self.shared.wake.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl Executor for ThreadPool {
    fn workers(&self) -> usize {
        self.threads
    }

    fn run(&self, jobs: &mut [&mut (dyn FnMut() + Send)]) {
        if self.workers.is_empty() || jobs.len() < 2 {
            for job in jobs.iter_mut() {
                job();
            }
            return;
        }
        let len = jobs.len();
        let (generation, sleepers) = {
            let mut b = self.shared.lock();
            self.shared.done.store(0, Ordering::Relaxed);
            // Erases the jobs' lifetime; they stay alive until this call returns, and it
            // returns only after every job has finished (the wait below).
            b.jobs = jobs.as_mut_ptr() as Job;
            b.len = len;
            b.next = 0;
            b.generation += 1;
            self.shared
                .generation
                .store(b.generation, Ordering::Release);
            (b.generation, b.sleepers)
        };
        if sleepers > 0 {
            self.shared.wake.notify_all();
        }
        self.shared.work(generation);
        while self.shared.done.load(Ordering::Acquire) < len {
            std::hint::spin_loop();
        }
        if self.shared.panicked.swap(false, Ordering::AcqRel) {
            panic!("a job of this batch panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs_two_jobs_once(pool: &ThreadPool) {
        let mut hits = [0u32; 2];
        let (a, b) = hits.split_at_mut(1);
        let mut j0 = || a[0] += 1;
        let mut j1 = || b[0] += 1;
        pool.run(&mut [&mut j0, &mut j1]);
        assert_eq!(hits, [1, 1]);
    }

    #[test]
    fn every_job_runs_once_in_every_batch() {
        for threads in [1, 2, 3, 8] {
            let pool = ThreadPool::new(threads).unwrap();
            for batch in 0..500 {
                let n = 1 + batch % 7;
                let mut counts = vec![0u32; n];
                let mut jobs: Vec<_> = counts.iter_mut().map(|c| move || *c += 1).collect();
                let mut refs: Vec<&mut (dyn FnMut() + Send)> = jobs
                    .iter_mut()
                    .map(|j| j as &mut (dyn FnMut() + Send))
                    .collect();
                pool.run(&mut refs);
                drop(refs);
                drop(jobs);
                assert!(
                    counts.iter().all(|&c| c == 1),
                    "{threads} threads: {counts:?}"
                );
            }
        }
    }

    #[test]
    fn a_panicking_job_panics_the_caller_after_the_batch_and_the_pool_goes_on() {
        let pool = ThreadPool::new(2).unwrap();
        for _ in 0..20 {
            let finished = AtomicUsize::new(0);
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut slow = || {
                    std::thread::sleep(Duration::from_millis(2));
                    finished.fetch_add(1, Ordering::SeqCst);
                };
                let mut bad = || panic!("job failed on purpose");
                pool.run(&mut [&mut bad, &mut slow]);
            }));
            assert!(result.is_err(), "the panic must reach the caller");
            // The other job had finished before `run` unwound.
            assert_eq!(finished.load(Ordering::SeqCst), 1);
        }
        runs_two_jobs_once(&pool);
    }

    /// Two jobs that each wait (up to 10 s) for the other to start: they meet only if a
    /// worker runs one of them while the caller runs the other.
    fn two_jobs_meet(pool: &ThreadPool) -> bool {
        let started = AtomicUsize::new(0);
        let met = [AtomicBool::new(false), AtomicBool::new(false)];
        let wait_for_the_other = |i: usize| {
            started.fetch_add(1, Ordering::SeqCst);
            let deadline = Instant::now() + Duration::from_secs(10);
            while started.load(Ordering::SeqCst) < 2 && Instant::now() < deadline {
                std::hint::spin_loop();
            }
            met[i].store(started.load(Ordering::SeqCst) == 2, Ordering::SeqCst);
        };
        let mut j0 = || wait_for_the_other(0);
        let mut j1 = || wait_for_the_other(1);
        pool.run(&mut [&mut j0, &mut j1]);
        met.iter().all(|m| m.load(Ordering::SeqCst))
    }

    #[test]
    fn workers_wake_after_blocking() {
        let pool = ThreadPool::new(2).unwrap();
        for round in 0..3 {
            // Past the spin: the worker blocks, and only a wake-up brings it to the batch.
            std::thread::sleep(SPIN * 3);
            assert!(
                two_jobs_meet(&pool),
                "round {round}: the worker did not wake"
            );
            runs_two_jobs_once(&pool);
        }
        // Back to back, the worker is still spinning and takes its job without a wake-up.
        for round in 0..100 {
            assert!(two_jobs_meet(&pool), "back-to-back round {round}");
        }
    }
}
