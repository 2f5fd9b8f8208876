//! Firmware for QEMU's mps3-an547 (Cortex-M55): runs the model blob of the job QEMU loaded
//! into DDR on each of the job's inputs, with the arena in SRAM, and reports logits, per-node
//! statistics and cost as text lines over semihosting (grammar in the host harness):
//!
//! ```text
//! C <instructions> <ticks>            a loop of known length (checks ticks per instruction)
//! M <blob bytes> <nodes> <classes> <arena bytes> <load ticks> <helium 0|1>
//! K <bytes>                            spike thresholds kept across runs (0: none)
//! L <input> <top1> <logit>...          logits, fixed point
//! P <input> <node> <ticks>             cost of each node (spike counts do not change it)
//! T <input> <ticks>                    cost of the whole inference
//! S <input> <node> <sops> <macs> <spikes> <nonzero> <sites>   (job flag STATS)
//! E <code> <message>                   rejected; QEMU exits with <code>
//! END
//! ```
#![no_std]
#![no_main]

mod clock;
mod job;
mod out;
#[cfg(feature = "cmsis-nn")]
mod peer;

use core::fmt::{self, Write};

use cortex_m_rt::{entry, exception, ExceptionFrame};
use sdt_core::Model;
#[cfg(not(feature = "cmsis-nn"))]
use sdt_core::{Kernel, Sequential, Session, Stats};

use clock::Clock;
use job::{flags, Job, JobError};
use out::{exit, Out};

/// Why a run stopped. Each maps to QEMU's exit status ([`FwError::code`]).
enum FwError {
    Job(JobError),
    Core(sdt_core::Error),
    #[cfg(feature = "cmsis-nn")]
    Peer(peer::PeerError),
}

#[cfg(feature = "cmsis-nn")]
impl From<peer::PeerError> for FwError {
    fn from(e: peer::PeerError) -> Self {
        FwError::Peer(e)
    }
}

impl From<JobError> for FwError {
    fn from(e: JobError) -> Self {
        FwError::Job(e)
    }
}

impl From<sdt_core::Error> for FwError {
    fn from(e: sdt_core::Error) -> Self {
        FwError::Core(e)
    }
}

impl FwError {
    /// Exit status: 2-3 job errors, 10-27 core errors (in `sdt_core::Error` order).
    fn code(&self) -> u32 {
        use sdt_core::Error as E;
        match self {
            FwError::Job(JobError::BadMagic) => 2,
            FwError::Job(JobError::BadLayout) => 3,
            #[cfg(feature = "cmsis-nn")]
            FwError::Peer(_) => 40,
            FwError::Core(e) => match e {
                E::Truncated { .. } => 10,
                E::BadMagic => 11,
                E::UnsupportedVersion { .. } => 12,
                E::BadLayout => 13,
                E::ChecksumMismatch { .. } => 14,
                E::BadGraph => 15,
                E::Misaligned { .. } => 16,
                E::BadTensorId { .. } => 17,
                E::BadTensor { .. } => 18,
                E::ShapeMismatch { .. } => 19,
                E::ReadBeforeWrite { .. } => 20,
                E::BadSection { .. } => 21,
                E::Unsupported { .. } => 22,
                E::Overflow { .. } => 23,
                E::ArenaTooSmall { .. } => 24,
                E::InputLength { .. } => 25,
                E::BadNodeRange => 26,
                E::Engine { .. } => 27,
                E::BadWorkerCount { .. } => 28,
                _ => 29,
            },
        }
    }
}

impl fmt::Display for FwError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FwError::Job(e) => e.fmt(f),
            FwError::Core(e) => e.fmt(f),
            #[cfg(feature = "cmsis-nn")]
            FwError::Peer(e) => e.fmt(f),
        }
    }
}

/// Exit status after a panic.
const EXIT_PANIC: u32 = 101;
/// Exit status after a HardFault.
const EXIT_FAULT: u32 = 102;

extern "C" {
    static mut __sarena: u8;
    static __earena: u8;
    static __sjob: u8;
    static __ejob: u8;
}

/// The tensor arena (SRAM2), handed out once.
#[cfg(not(feature = "cmsis-nn"))]
fn take_arena() -> Option<&'static mut [u8]> {
    use core::sync::atomic::{AtomicBool, Ordering};
    static TAKEN: AtomicBool = AtomicBool::new(false);
    if TAKEN.swap(true, Ordering::AcqRel) {
        return None;
    }
    let start = &raw mut __sarena;
    let len = (&raw const __earena) as usize - start as usize;
    // SAFETY: memory.x reserves SRAM2 for the arena and links nothing into it; the flag above
    // makes this the only reference to it.
    Some(unsafe { core::slice::from_raw_parts_mut(start, len) })
}

/// The arena the session needs, and the rest of `region` as room for the kept spike
/// thresholds if it holds them (`None` otherwise: the layers then build them as they run).
#[cfg(not(feature = "cmsis-nn"))]
fn split_kept<'r>(
    region: &'r mut [u8],
    model: &Model<'_>,
) -> Result<(&'r mut [u8], Option<&'r mut [i32]>), sdt_core::Error> {
    let needed = sdt_core::arena_bytes(model, 1)?;
    if region.len() < needed {
        return Ok((region, None));
    }
    let (arena, rest) = region.split_at_mut(needed);
    let skip = rest.as_ptr().align_offset(4).min(rest.len());
    let words = (rest.len() - skip) / 4;
    let kept: &mut [i32] = bytemuck::cast_slice_mut(&mut rest[skip..skip + 4 * words]);
    let len = sdt_core::kept_thresholds_len(model);
    Ok((arena, (words >= len).then(|| &mut kept[..len])))
}

/// The job in DDR.
fn read_job() -> Result<Job<'static>, JobError> {
    let start = &raw const __sjob;
    let room = (&raw const __ejob) as usize - start as usize;
    // SAFETY: memory.x reserves DDR for the job (QEMU's loader writes it before reset) and
    // links nothing into it; the firmware only reads it. Lengths are checked against `room`.
    let header = unsafe { core::slice::from_raw_parts(start, job::HEADER_LEN) };
    Job::parse(header, |len| {
        // SAFETY: as above, and `len` is within the region.
        (len <= room && len <= isize::MAX as usize)
            .then(|| unsafe { core::slice::from_raw_parts(start, len) })
    })
}

/// Copies a job input (little-endian `i8` or `i16`, HWC) into the session's input tensor.
#[cfg(not(feature = "cmsis-nn"))]
fn set_input(session: &mut Session<'_, '_, '_>, bytes: &[u8]) -> Result<(), FwError> {
    let expected = session.model().input_len();
    let wrong = sdt_core::Error::InputLength {
        expected,
        found: bytes.len(),
    };
    if let Some(dst) = session.input_i16_mut() {
        if bytes.len() != 2 * dst.len() {
            return Err(wrong.into());
        }
        for (d, b) in dst.iter_mut().zip(bytes.chunks_exact(2)) {
            *d = i16::from_le_bytes([b[0], b[1]]);
        }
    } else if let Some(dst) = session.input_i8_mut() {
        if bytes.len() != dst.len() {
            return Err(wrong.into());
        }
        for (d, &b) in dst.iter_mut().zip(bytes) {
            *d = b as i8;
        }
    }
    Ok(())
}

/// Runs exactly `2 · ITERATIONS` instructions (`subs`, `bne`) and returns the ticks they took.
fn calibrate(clock: &Clock) -> u64 {
    const ITERATIONS: u32 = 1_000_000;
    let start = clock.now();
    // SAFETY: a register-only countdown loop; touches no memory and no stack.
    unsafe {
        core::arch::asm!(
            "2:",
            "subs {n}, #1",
            "bne 2b",
            n = inout(reg) ITERATIONS => _,
            options(nomem, nostack),
        );
    }
    clock.now() - start
}

fn run(out: &mut Out, clock: &Clock) -> Result<(), FwError> {
    let _ = writeln!(out, "C {} {}", 2_000_000, calibrate(clock));
    let job = read_job()?;
    let t0 = clock.now();
    let model = Model::from_blob(job.blob)?;
    let load_ticks = clock.now() - t0;
    let arena_bytes = sdt_core::arena_bytes(&model, 1)?;
    let nodes = model.nodes().len();
    let _ = writeln!(
        out,
        "M {} {} {} {} {} {}",
        job.blob.len(),
        nodes,
        model.classes(),
        arena_bytes,
        load_ticks,
        cfg!(feature = "helium") as u8
    );
    #[cfg(feature = "cmsis-nn")]
    return run_peer(out, clock, &job, &model);
    #[cfg(not(feature = "cmsis-nn"))]
    run_session(out, clock, &job, &model)
}

/// The job on sdt-core's kernels.
#[cfg(not(feature = "cmsis-nn"))]
fn run_session(
    out: &mut Out,
    clock: &Clock,
    job: &Job<'static>,
    model: &Model<'static>,
) -> Result<(), FwError> {
    let nodes = model.nodes().len();
    let arena = take_arena().ok_or(sdt_core::Error::ArenaTooSmall {
        needed: 0,
        found: 0,
    })?;
    let (arena, kept) = split_kept(arena, model)?;
    let mut session = Session::new(model, arena, 1)?;
    // The layers' spike thresholds, built once before the timed runs (as CMSIS-NN's
    // requantization parameters are prepared before its runs), where SRAM2 has room.
    let kept_bytes = kept.as_ref().map_or(0, |k| 4 * k.len());
    if let Some(kept) = kept {
        session.keep_thresholds(kept)?;
    }
    let _ = writeln!(out, "K {kept_bytes}");
    let kernel = if job.flags & flags::DENSE != 0 {
        Kernel::Dense
    } else {
        Kernel::SpikeDriven
    };
    for i in 0..job.count {
        set_input(&mut session, job.input(i))?;
        let start = clock.now();
        for n in 0..nodes {
            let t = clock.now();
            session.run_nodes(n..n + 1, kernel, &Sequential, None)?;
            let _ = writeln!(out, "P {i} {n} {}", clock.now() - t);
        }
        let _ = writeln!(out, "T {i} {}", clock.now() - start);
        let _ = write!(out, "L {i} {}", session.top1());
        for l in session.logits() {
            let _ = write!(out, " {l}");
        }
        let _ = writeln!(out);
        if job.flags & flags::STATS != 0 {
            let mut stats = Stats::default();
            session.run(kernel, &Sequential, Some(&mut stats))?;
            for (n, s) in stats.nodes[..nodes].iter().enumerate() {
                let _ = writeln!(
                    out,
                    "S {i} {n} {} {} {} {} {}",
                    s.sops, s.macs, s.spikes, s.nonzero, s.sites
                );
            }
        }
    }
    Ok(())
}

/// The job on the CMSIS-NN dense int8 peer (same report lines; `S` lines carry the peer's
/// spike counts and dense MACs, no SOPs).
#[cfg(feature = "cmsis-nn")]
fn run_peer(
    out: &mut Out,
    clock: &Clock,
    job: &Job<'static>,
    model: &Model<'static>,
) -> Result<(), FwError> {
    let mut peer = peer::Peer::prepare(model, job.flags & flags::INT8_RESIDUAL != 0)?;
    let nodes = peer.nodes();
    for i in 0..job.count {
        peer.set_input(job.input(i))?;
        let start = clock.now();
        for n in 0..nodes {
            let t = clock.now();
            peer.run_node(n)?;
            let _ = writeln!(out, "P {i} {n} {}", clock.now() - t);
        }
        let _ = writeln!(out, "T {i} {}", clock.now() - start);
        let _ = write!(out, "L {i} {}", peer.top1());
        for l in peer.logits() {
            let _ = write!(out, " {l}");
        }
        let _ = writeln!(out);
        if job.flags & flags::STATS != 0 {
            for n in 0..nodes {
                let s = peer.node_spikes(n, model);
                let _ = writeln!(
                    out,
                    "S {i} {n} 0 {} {} {} {}",
                    s.macs, s.spikes, s.nonzero, s.sites
                );
            }
        }
    }
    Ok(())
}

#[entry]
fn main() -> ! {
    let mut out = Out::new();
    let code = match cortex_m::Peripherals::take() {
        Some(p) => {
            let clock = Clock::start(p.SYST);
            match run(&mut out, &clock) {
                Ok(()) => 0,
                Err(e) => {
                    let _ = writeln!(out, "E {} {e}", e.code());
                    e.code()
                }
            }
        }
        None => EXIT_PANIC,
    };
    let _ = writeln!(out, "END");
    out.flush();
    exit(code)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let mut out = Out::new();
    let _ = writeln!(out, "E {EXIT_PANIC} panic: {info}");
    out.flush();
    exit(EXIT_PANIC)
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    let mut out = Out::new();
    let _ = writeln!(out, "E {EXIT_FAULT} HardFault at pc {:#010x}", frame.pc());
    out.flush();
    exit(EXIT_FAULT)
}
