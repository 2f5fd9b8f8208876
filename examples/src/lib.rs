//! Shared helpers of the examples: finding the golden data and timing runs.

pub mod gesture;
pub mod presets;
pub mod sdt10m;
pub mod thread_scaling;

use std::time::Instant;

use sdt_convert::verify::QuantizedInput;
use sdt_core::{Executor, Kernel, Session, Stats};

/// Milliseconds per image of the fastest of `reps` passes over `inputs` (after one warm-up
/// pass that also collects the stats). The fastest pass, because interference from other
/// work on the machine only ever adds time; the libtorch side of the side-by-side benchmark
/// is timed the same way.
pub fn time_per_image(
    session: &mut Session<'_, '_, '_>,
    inputs: &[QuantizedInput],
    kernel: Kernel,
    exec: &dyn Executor,
    reps: usize,
) -> Result<(f64, Stats), sdt_core::Error> {
    let stats = spike_stats(session, inputs, kernel, exec)?;
    let mut best = f64::INFINITY;
    for _ in 0..reps.max(1) {
        let start = Instant::now();
        for x in inputs {
            session.set_input(x.as_input())?;
            session.run(kernel, exec, None)?;
        }
        best = best.min(start.elapsed().as_secs_f64() * 1e3 / inputs.len().max(1) as f64);
    }
    Ok((best, stats))
}

/// The spike statistics of one untimed pass over `inputs`.
pub fn spike_stats(
    session: &mut Session<'_, '_, '_>,
    inputs: &[QuantizedInput],
    kernel: Kernel,
    exec: &dyn Executor,
) -> Result<Stats, sdt_core::Error> {
    let mut stats = Stats::default();
    for x in inputs {
        session.set_input(x.as_input())?;
        session.run(kernel, exec, Some(&mut stats))?;
    }
    Ok(stats)
}
