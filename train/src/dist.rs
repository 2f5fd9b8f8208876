//! Data-parallel training over libtorch's c10d: a process group (Gloo on CPU tensors, NCCL on
//! CUDA tensors) set up from torchrun's environment, with the collectives the trainer needs.
//!
//! The C++ side (`csrc/dist.cpp`) is a thin C interface over c10d's stores and process groups.
//! On top of c10d it adds a liveness signal: every rank bumps a counter in the rendezvous store
//! every [`HEARTBEAT`]. When a collective fails or times out, the survivor reads which counters
//! stopped, so the error names the lost rank instead of reporting a closed socket.

use std::ffi::{c_int, c_void, CString};
use std::path::PathBuf;
use std::ptr::NonNull;
use std::time::Duration;

use tch::{Kind, Tensor};

use crate::error::{Error, Result};

/// How often each rank signals that it is alive.
pub const HEARTBEAT: Duration = Duration::from_millis(500);
/// How long a survivor watches the heartbeats before naming the ranks whose counter stood still.
const SILENCE: Duration = Duration::from_secs(3);
/// Gradients are flattened into buckets of about this size, one collective each (as DDP's
/// default `bucket_cap_mb = 25`).
pub const BUCKET_BYTES: usize = 25 << 20;

mod ffi {
    use std::ffi::{c_char, c_int, c_void};

    #[repr(C)]
    pub struct SdtDist {
        _opaque: [u8; 0],
    }

    #[repr(C)]
    pub struct Params {
        pub store_kind: c_int,
        pub address: *const c_char,
        pub port: c_int,
        pub host_store: c_int,
        pub prefix: *const c_char,
        pub rank: c_int,
        pub world: c_int,
        pub local_rank: c_int,
        pub backend: c_int,
        pub timeout_ms: i64,
        pub heartbeat_ms: i64,
    }

    pub const STORE_TCP: c_int = 0;
    pub const STORE_FILE: c_int = 1;
    pub const BACKEND_GLOO: c_int = 0;
    pub const BACKEND_NCCL: c_int = 1;

    extern "C" {
        pub fn sdt_dist_has_nccl() -> c_int;
        pub fn sdt_dist_init(p: *const Params, err: *mut c_char, len: usize) -> *mut SdtDist;
        pub fn sdt_dist_all_reduce_sum(
            d: *mut SdtDist,
            tensors: *const *mut c_void,
            count: usize,
            err: *mut c_char,
            len: usize,
        ) -> c_int;
        pub fn sdt_dist_broadcast(
            d: *mut SdtDist,
            tensors: *const *mut c_void,
            count: usize,
            root: c_int,
            err: *mut c_char,
            len: usize,
        ) -> c_int;
        pub fn sdt_dist_barrier(d: *mut SdtDist, err: *mut c_char, len: usize) -> c_int;
        pub fn sdt_dist_silent_ranks(
            d: *mut SdtDist,
            window_ms: i64,
            silent: *mut c_int,
            count: *mut usize,
            err: *mut c_char,
            len: usize,
        ) -> c_int;
        pub fn sdt_dist_free(d: *mut SdtDist, clean: c_int);
    }
}

/// Which c10d process group carries the collectives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// NCCL for CUDA tensors, Gloo for CPU tensors.
    Auto,
    Gloo,
    Nccl,
}

/// Where the ranks meet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rendezvous {
    /// A TCP store at `addr:port` (torchrun's `MASTER_ADDR`/`MASTER_PORT`), hosted by rank 0
    /// unless torchrun's agent already hosts it.
    Tcp {
        addr: String,
        port: u16,
        host_store: bool,
    },
    /// A store in a file every rank can reach (`file:///path`); the file must be fresh.
    File(PathBuf),
}

/// One rank's view of a data-parallel run.
#[derive(Clone, Debug, PartialEq)]
pub struct DistConfig {
    pub rank: usize,
    pub world: usize,
    /// GPU index of this rank on its node (torchrun's `LOCAL_RANK`).
    pub local_rank: usize,
    pub rendezvous: Rendezvous,
    /// Separates this run's keys from others in a shared store (torchrun restarts).
    pub prefix: String,
    /// A collective that does not finish within this time fails.
    pub timeout: Duration,
}

fn env_number(name: &str) -> Result<Option<usize>> {
    match std::env::var(name) {
        Err(_) => Ok(None),
        Ok(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| Error::Config(format!("{name}={v:?} is not a non-negative integer"))),
    }
}

impl DistConfig {
    /// The run described by torchrun's environment (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`,
    /// `MASTER_ADDR`, `MASTER_PORT`), or `None` when `WORLD_SIZE` is unset. `url` overrides the
    /// rendezvous: `env://` (the default) or `file:///path`.
    pub fn from_env(url: Option<&str>, timeout: Duration) -> Result<Option<Self>> {
        let Some(world) = env_number("WORLD_SIZE")? else {
            return Ok(None);
        };
        let rank = env_number("RANK")?
            .ok_or_else(|| Error::Config("WORLD_SIZE is set but RANK is not".into()))?;
        if world == 0 || rank >= world {
            return Err(Error::Config(format!(
                "RANK={rank} must be below WORLD_SIZE={world}"
            )));
        }
        let local_rank = env_number("LOCAL_RANK")?.unwrap_or(0);
        let restart = env_number("TORCHELASTIC_RESTART_COUNT")?.unwrap_or(0);
        let rendezvous = match url.unwrap_or("env://") {
            "env://" => {
                let addr = std::env::var("MASTER_ADDR").unwrap_or_else(|_| "127.0.0.1".into());
                let port = env_number("MASTER_PORT")?
                    .ok_or_else(|| Error::Config("env:// rendezvous needs MASTER_PORT".into()))?;
                let port = u16::try_from(port)
                    .map_err(|_| Error::Config(format!("MASTER_PORT={port} is not a port")))?;
                // torchrun's agent hosts the store itself and says so.
                let agent = std::env::var("TORCHELASTIC_USE_AGENT_STORE")
                    .is_ok_and(|v| v.eq_ignore_ascii_case("true"));
                Rendezvous::Tcp {
                    addr,
                    port,
                    host_store: rank == 0 && !agent,
                }
            }
            other => match other.strip_prefix("file://") {
                Some(path) if !path.is_empty() => Rendezvous::File(PathBuf::from(path)),
                _ => {
                    return Err(Error::Config(format!(
                        "rendezvous {other:?}: expected env:// or file:///path"
                    )))
                }
            },
        };
        Ok(Some(Self {
            rank,
            world,
            local_rank,
            rendezvous,
            prefix: format!("sdt-train/attempt_{restart}"),
            timeout,
        }))
    }
}

/// Whether this build can make NCCL process groups (libtorch with CUDA and NCCL headers).
pub fn has_nccl() -> bool {
    // SAFETY: a constant query without arguments.
    unsafe { ffi::sdt_dist_has_nccl() != 0 }
}

/// A live process group; dropping it without [`Dist::shutdown`] leaves c10d's threads alone
/// (after a failure they may be blocked on a dead peer) and only stops the heartbeat.
pub struct Dist {
    raw: NonNull<ffi::SdtDist>,
    config: DistConfig,
    backend: Backend,
}

const ERR_LEN: usize = 4096;

fn message(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).trim().to_owned()
}

fn c_string(what: &str, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::Config(format!("{what} {s:?} contains a NUL byte")))
}

impl Dist {
    /// Joins the process group; every rank must call this. `cuda` picks NCCL under
    /// [`Backend::Auto`].
    pub fn init(config: DistConfig, backend: Backend, cuda: bool) -> Result<Self> {
        let backend = match backend {
            Backend::Auto if cuda => Backend::Nccl,
            Backend::Auto => Backend::Gloo,
            b => b,
        };
        if backend == Backend::Nccl && !has_nccl() {
            return Err(Error::Dist(
                "NCCL was asked for, but this build has no NCCL process group (it needs a \
                 CUDA libtorch and NCCL headers at build time); use --dist-backend gloo"
                    .into(),
            ));
        }
        let (kind, address, port, host) = match &config.rendezvous {
            Rendezvous::Tcp {
                addr,
                port,
                host_store,
            } => (
                ffi::STORE_TCP,
                addr.clone(),
                c_int::from(*port),
                *host_store,
            ),
            Rendezvous::File(path) => (
                ffi::STORE_FILE,
                path.to_string_lossy().into_owned(),
                0,
                false,
            ),
        };
        let address = c_string("rendezvous address", &address)?;
        let prefix = c_string("store prefix", &config.prefix)?;
        let int = |what: &str, v: usize| {
            c_int::try_from(v).map_err(|_| Error::Config(format!("{what} {v} is too large")))
        };
        let params = ffi::Params {
            store_kind: kind,
            address: address.as_ptr(),
            port,
            host_store: c_int::from(host),
            prefix: prefix.as_ptr(),
            rank: int("rank", config.rank)?,
            world: int("world size", config.world)?,
            local_rank: int("local rank", config.local_rank)?,
            backend: if backend == Backend::Nccl {
                ffi::BACKEND_NCCL
            } else {
                ffi::BACKEND_GLOO
            },
            timeout_ms: config.timeout.as_millis().min(i64::MAX as u128) as i64,
            heartbeat_ms: HEARTBEAT.as_millis() as i64,
        };
        let mut err = [0u8; ERR_LEN];
        // SAFETY: `params` and the strings it points to outlive the call; `err` is a writable
        // buffer of the length passed; the shim catches every C++ exception.
        let raw = unsafe { ffi::sdt_dist_init(&params, err.as_mut_ptr().cast(), err.len()) };
        let raw = NonNull::new(raw).ok_or_else(|| {
            Error::Dist(format!(
                "rank {} of {}: joining the process group ({backend:?}, {:?}) failed: {}",
                config.rank,
                config.world,
                config.rendezvous,
                message(&err)
            ))
        })?;
        Ok(Self {
            raw,
            config,
            backend,
        })
    }

    pub fn rank(&self) -> usize {
        self.config.rank
    }

    pub fn world(&self) -> usize {
        self.config.world
    }

    pub fn local_rank(&self) -> usize {
        self.config.local_rank
    }

    /// Rank 0 writes checkpoints, metrics and curves.
    pub fn is_main(&self) -> bool {
        self.config.rank == 0
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Turns a failed collective into an error naming the ranks that stopped signalling.
    fn failure(&self, op: &str, detail: String) -> Error {
        let me = self.config.rank;
        let mut silent = vec![0 as c_int; self.config.world];
        let mut count = 0usize;
        let mut err = [0u8; ERR_LEN];
        // SAFETY: `silent` has room for every rank, `count` and `err` are writable.
        let rc = unsafe {
            ffi::sdt_dist_silent_ranks(
                self.raw.as_ptr(),
                SILENCE.as_millis() as i64,
                silent.as_mut_ptr(),
                &mut count,
                err.as_mut_ptr().cast(),
                err.len(),
            )
        };
        let timeout = self.config.timeout.as_secs_f64();
        let diagnosis = if rc != 0 {
            match &self.config.rendezvous {
                Rendezvous::Tcp {
                    host_store: false, ..
                } if me != 0 && !self.hosted_by_agent() => {
                    "lost rank 0: the rendezvous store it hosted is unreachable".to_owned()
                }
                _ => format!(
                    "the rendezvous store is unreachable ({}), so the lost rank is unknown",
                    message(&err)
                ),
            }
        } else if count == 0 {
            format!(
                "every other rank is still alive, so one is stuck or failed on its own (see \
                 its log); collectives time out after {timeout:.0} s"
            )
        } else {
            let ranks: Vec<String> = silent[..count].iter().map(|r| r.to_string()).collect();
            format!(
                "lost rank {}: no heartbeat for {:.0} s",
                ranks.join(", rank "),
                SILENCE.as_secs_f64()
            )
        };
        Error::Dist(format!(
            "rank {me} of {}: {op} failed; {diagnosis} ({detail})",
            self.config.world
        ))
    }

    fn hosted_by_agent(&self) -> bool {
        std::env::var("TORCHELASTIC_USE_AGENT_STORE").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
    }

    fn check(&self, op: &str, rc: c_int, err: &[u8]) -> Result<()> {
        if rc == 0 {
            Ok(())
        } else {
            Err(self.failure(op, message(err)))
        }
    }

    /// Sums each tensor in place across ranks (every tensor contiguous, on this rank's device).
    pub fn all_reduce_sum(&self, tensors: &[Tensor]) -> Result<()> {
        let ptrs = contiguous_handles(tensors)?;
        let mut err = [0u8; ERR_LEN];
        // SAFETY: the handles are live `at::Tensor*` of `tensors`, borrowed for the call.
        let rc = unsafe {
            ffi::sdt_dist_all_reduce_sum(
                self.raw.as_ptr(),
                ptrs.as_ptr(),
                ptrs.len(),
                err.as_mut_ptr().cast(),
                err.len(),
            )
        };
        self.check("all_reduce", rc, &err)
    }

    /// Overwrites each tensor with rank `root`'s (in place, contiguous tensors).
    pub fn broadcast(&self, tensors: &[Tensor], root: usize) -> Result<()> {
        let ptrs = contiguous_handles(tensors)?;
        let mut err = [0u8; ERR_LEN];
        // SAFETY: as in `all_reduce_sum`.
        let rc = unsafe {
            ffi::sdt_dist_broadcast(
                self.raw.as_ptr(),
                ptrs.as_ptr(),
                ptrs.len(),
                root as c_int,
                err.as_mut_ptr().cast(),
                err.len(),
            )
        };
        self.check("broadcast", rc, &err)
    }

    /// Waits until every rank got here.
    pub fn barrier(&self) -> Result<()> {
        let mut err = [0u8; ERR_LEN];
        // SAFETY: `err` is a writable buffer of the length passed.
        let rc =
            unsafe { ffi::sdt_dist_barrier(self.raw.as_ptr(), err.as_mut_ptr().cast(), err.len()) };
        self.check("barrier", rc, &err)
    }

    /// Overwrites `tensors` (any kinds and shapes, e.g. all the model's variables) with rank
    /// `root`'s, flattened into one collective per kind.
    pub fn broadcast_flat(&self, tensors: &[Tensor], root: usize) -> Result<()> {
        for group in by_kind(tensors) {
            let flat = flatten(&group)?;
            self.broadcast(std::slice::from_ref(&flat), root)?;
            unflatten(&flat, &group)?;
        }
        Ok(())
    }

    /// Averages `grads` across ranks in buckets of about [`BUCKET_BYTES`], and sums `stats`
    /// (a small f64 vector travelling with the last bucket) in the same collective.
    pub fn average_gradients(&self, grads: &[Tensor], stats: &Tensor) -> Result<Tensor> {
        let world = self.config.world as f64;
        let mut flats = Vec::new();
        let mut groups = Vec::new();
        for group in by_kind(grads) {
            for bucket in buckets(&group, BUCKET_BYTES) {
                flats.push(flatten(&bucket)?);
                groups.push(bucket);
            }
        }
        let stats = stats.f_to_kind(Kind::Double)?.f_contiguous()?;
        flats.push(stats.shallow_clone());
        self.all_reduce_sum(&flats)?;
        let _guard = tch::no_grad_guard();
        for (flat, group) in flats.iter().zip(&groups) {
            let _ = flat.shallow_clone().f_div_scalar_(world)?;
            unflatten(flat, group)?;
        }
        Ok(stats)
    }

    /// Leaves the group cleanly: a barrier (nobody still needs this rank), then c10d's shutdown.
    pub fn shutdown(self) -> Result<()> {
        self.barrier()?;
        let raw = self.raw;
        std::mem::forget(self);
        // SAFETY: `raw` came from `sdt_dist_init` and is freed once (`self` is forgotten).
        unsafe { ffi::sdt_dist_free(raw.as_ptr(), 1) };
        Ok(())
    }
}

impl Drop for Dist {
    fn drop(&mut self) {
        // SAFETY: `raw` came from `sdt_dist_init`; `clean = 0` only stops the heartbeat.
        unsafe { ffi::sdt_dist_free(self.raw.as_ptr(), 0) };
    }
}

fn contiguous_handles(tensors: &[Tensor]) -> Result<Vec<*mut c_void>> {
    tensors
        .iter()
        .map(|t| {
            if t.is_contiguous() {
                Ok(t.as_ptr() as *mut c_void)
            } else {
                Err(Error::Dist(
                    "collectives need contiguous tensors (internal error)".into(),
                ))
            }
        })
        .collect()
}

/// Tensors grouped by element kind, in order (a flat buffer holds one kind).
fn by_kind(tensors: &[Tensor]) -> Vec<Vec<Tensor>> {
    let mut groups: Vec<(Kind, Vec<Tensor>)> = Vec::new();
    for t in tensors {
        match groups.iter_mut().find(|(k, _)| *k == t.kind()) {
            Some((_, g)) => g.push(t.shallow_clone()),
            None => groups.push((t.kind(), vec![t.shallow_clone()])),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// Consecutive runs of `tensors` of at most `cap` bytes (a larger tensor is a bucket alone).
fn buckets(tensors: &[Tensor], cap: usize) -> Vec<Vec<Tensor>> {
    let mut out: Vec<Vec<Tensor>> = Vec::new();
    let mut size = 0;
    for t in tensors {
        let bytes = t.numel() * t.kind().elt_size_in_bytes();
        if out.is_empty() || size + bytes > cap {
            out.push(Vec::new());
            size = 0;
        }
        size += bytes;
        if let Some(last) = out.last_mut() {
            last.push(t.shallow_clone());
        }
    }
    out
}

fn flatten(tensors: &[Tensor]) -> Result<Tensor> {
    let _guard = tch::no_grad_guard();
    let views = tensors
        .iter()
        .map(|t| t.f_reshape([-1]))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(Tensor::f_cat(&views, 0)?)
}

fn unflatten(flat: &Tensor, tensors: &[Tensor]) -> Result<()> {
    let _guard = tch::no_grad_guard();
    let mut offset = 0;
    for t in tensors {
        let n = t.numel() as i64;
        let part = flat.f_narrow(0, offset, n)?.f_view(t.size().as_slice())?;
        t.shallow_clone().f_copy_(&part)?;
        offset += n;
    }
    Ok(())
}

/// This rank's part of an epoch's sample order, as `DistributedSampler`: the order is padded
/// by repeating its start to a multiple of `world`, and rank `r` takes positions `r, r + world,
/// ...`. The step-`k` batches of all ranks together are then samples `k·B·world ..` of the
/// order, the batch one process would take with `B·world`.
pub fn shard(order: &[i64], rank: usize, world: usize) -> Vec<i64> {
    if world <= 1 || order.is_empty() {
        return order.to_vec();
    }
    let total = order.len().div_ceil(world) * world;
    (rank..total)
        .step_by(world)
        .map(|i| order[i % order.len()])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_disjoint_and_cover_the_order() {
        let order: Vec<i64> = (0..10).rev().collect();
        let a = shard(&order, 0, 2);
        let b = shard(&order, 1, 2);
        assert_eq!(a, [9, 7, 5, 3, 1]);
        assert_eq!(b, [8, 6, 4, 2, 0]);
        // Padding repeats the start, as DistributedSampler.
        let c: Vec<Vec<i64>> = (0..3).map(|r| shard(&order[..7], r, 3)).collect();
        assert_eq!(c[0], [9, 6, 3]);
        assert_eq!(c[1], [8, 5, 9]);
        assert_eq!(c[2], [7, 4, 8]);
        assert_eq!(shard(&order, 0, 1), order);
    }

    #[test]
    fn buckets_respect_the_cap() {
        let t: Vec<Tensor> = [10, 10, 30, 5]
            .iter()
            .map(|&n| Tensor::zeros([n], (Kind::Float, tch::Device::Cpu)))
            .collect();
        let sizes: Vec<Vec<i64>> = buckets(&t, 80)
            .iter()
            .map(|b| b.iter().map(|x| x.numel() as i64).collect())
            .collect();
        assert_eq!(sizes, vec![vec![10, 10], vec![30], vec![5]]);
    }
}
