//! The inference loop: validate the blob in place, run every embedded test input, compare the
//! logits with the host core's (computed by build.rs), and log cost and per-layer spikes.

use cortex_m::peripheral::DWT;
use defmt::{error, info, warn};
use sdt_core::graph::MAX_NODES;
use sdt_core::{Input, Kernel, Model, Sequential, Session, Stats};

use crate::generated::{ARENA_BYTES, BLOB_NAME, CLASSES, IMAGES, INPUT_LEN, LABELS, WIDE_INPUT};

/// Test inputs (i8 or little-endian i16, HWC) and host logits, both from build.rs.
#[repr(C, align(4))]
struct Aligned<T: ?Sized>(T);
static INPUTS: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/inputs.bin")));
static REFERENCE: &Aligned<[u8]> =
    &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/reference.bin")));

/// What one pass over the test inputs found.
pub struct Summary {
    pub images: usize,
    pub identical: usize,
    pub correct: usize,
    pub labelled: usize,
}

fn input(i: usize) -> Input<'static> {
    if WIDE_INPUT {
        let all: &[i16] = bytemuck::cast_slice(&INPUTS.0);
        Input::I16(&all[i * INPUT_LEN..(i + 1) * INPUT_LEN])
    } else {
        let all: &[i8] = bytemuck::cast_slice(&INPUTS.0);
        Input::I8(&all[i * INPUT_LEN..(i + 1) * INPUT_LEN])
    }
}

fn reference(i: usize) -> &'static [i32] {
    let all: &[i32] = bytemuck::cast_slice(&REFERENCE.0);
    &all[i * CLASSES..(i + 1) * CLASSES]
}

/// Runs the model node by node, adding each node's DWT cycles to `cycles`; returns the total.
fn timed_run(
    session: &mut Session<'_, '_, '_>,
    nodes: usize,
    cycles: &mut [u64; MAX_NODES],
) -> Result<u64, sdt_core::Error> {
    let mut total = 0u64;
    for (i, c) in cycles.iter_mut().enumerate().take(nodes) {
        let t0 = DWT::cycle_count();
        session.run_nodes(i..i + 1, Kernel::SpikeDriven, &Sequential, None)?;
        // One node takes far less than a counter wrap (2^32 cycles = 10.7 s at 400 MHz).
        let dt = DWT::cycle_count().wrapping_sub(t0) as u64;
        *c += dt;
        total += dt;
    }
    Ok(total)
}

/// Runs the test inputs through the model in `weights`; `kept` holds its spike thresholds
/// across runs unless it is empty (the build found no room for them).
pub fn run(
    weights: &'static [u8],
    arena: &mut [u8],
    kept: &mut [i32],
    stats: &mut Stats,
    cycles: &mut [u64; MAX_NODES],
    sysclk_hz: u32,
) -> Result<Summary, sdt_core::Error> {
    let t0 = DWT::cycle_count();
    let model = Model::from_blob(weights)?;
    let load_cycles = DWT::cycle_count().wrapping_sub(t0);
    let g = model.graph();
    let nodes = model.nodes().len();
    info!(
        "model {=str}: {=usize} blob bytes, {=u32} params, {=usize} nodes, D = {=u8}; validated (CRC + bounds) in {=u32} cycles",
        BLOB_NAME,
        weights.len(),
        g.arch.params,
        nodes,
        model.d(),
        load_cycles
    );
    arena.fill(0);
    let arena_at = arena.as_ptr() as u32;
    let mut session = Session::new(&model, arena, 1)?;
    info!(
        "arena {=usize} bytes at {=u32:#x} (plan {=usize}, lower bound {=usize})",
        ARENA_BYTES,
        arena_at,
        session.plan().bytes,
        session.plan().lower_bound
    );
    if !kept.is_empty() {
        let kept_at = kept.as_ptr() as u32;
        let kept_bytes = kept.len() * 4;
        let t0 = DWT::cycle_count();
        session.keep_thresholds(kept)?;
        info!(
            "spike thresholds kept: {=usize} bytes at {=u32:#x}, built once in {=u32} cycles",
            kept_bytes,
            kept_at,
            DWT::cycle_count().wrapping_sub(t0)
        );
    } else {
        info!("spike thresholds rebuilt on every run (no room to keep them)");
    }

    let mut summary = Summary {
        images: IMAGES,
        identical: 0,
        correct: 0,
        labelled: 0,
    };
    let mut total_cycles = 0u64;
    for (i, &label) in LABELS.iter().enumerate() {
        session.set_input(input(i))?;
        let c = timed_run(&mut session, nodes, cycles)?;
        total_cycles += c;
        // Second pass counts spikes and SOPs (not timed: counting is not inference).
        session.run(Kernel::SpikeDriven, &Sequential, Some(stats))?;
        let logits = session.logits();
        let same = logits == reference(i);
        summary.identical += same as usize;
        let top = session.top1();
        if label != u8::MAX {
            summary.labelled += 1;
            summary.correct += (top == label as usize) as usize;
        }
        info!(
            "image {=usize}: top-1 {=usize} (label {=u8}), {=u64} cycles = {=u64} us, logits {} {=str}",
            i,
            top,
            label,
            c,
            c * 1_000_000 / sysclk_hz as u64,
            logits,
            if same { "== host" } else { "DIFFER from host" }
        );
        if !same {
            warn!("host logits {}", reference(i));
        }
    }

    // The dense reference kernel must give the same integers on the device too.
    session.set_input(input(0))?;
    session.run(Kernel::Dense, &Sequential, None)?;
    if session.logits() != reference(0) {
        error!("dense kernel logits differ from the host on image 0");
        summary.identical = summary.identical.saturating_sub(1);
    }

    info!(
        "per layer (sums over {=usize} images): cycles, spikes, non-zero/sites, SOPs, MACs",
        IMAGES
    );
    for (i, (s, c)) in stats
        .nodes
        .iter()
        .zip(cycles.iter())
        .take(nodes)
        .enumerate()
    {
        info!(
            "{=usize} {=str}: {=u64} cyc, {=u64} spikes, {=u64}/{=u64} sites, {=u64} SOPs, {=u64} MACs",
            i,
            model.node_name(i),
            c,
            s.spikes,
            s.nonzero,
            s.sites,
            s.sops,
            s.macs
        );
    }
    let t = stats.total();
    let per_image = IMAGES.max(1) as u64;
    info!(
        "per image: {=u64} cycles ({=u64} us at {=u32} MHz), {=u64} SOPs, {=u64} MACs, {=u64} milli-cycles/SOP, energy estimate {=u64} nJ",
        total_cycles / per_image,
        total_cycles * 1_000_000 / sysclk_hz as u64 / per_image,
        sysclk_hz / 1_000_000,
        t.sops / per_image,
        t.macs / per_image,
        total_cycles * 1000 / t.sops.max(1),
        t.energy_fj() / 1_000_000 / per_image
    );
    if summary.identical != IMAGES {
        warn!(
            "{=usize} of {=usize} images differ from the host",
            IMAGES - summary.identical,
            IMAGES
        );
    }
    Ok(summary)
}
