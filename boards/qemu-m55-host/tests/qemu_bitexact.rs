//! The firmware on QEMU mps3-an547 gives the host core's integers bit for bit (logits and
//! per-node spike/SOP statistics), for the scalar and the Helium builds, and rejects a
//! corrupted blob with an error code instead of faulting. Needs `qemu-system-arm` and the
//! `thumbv8m.main-none-eabihf` target (scripts/test.sh installs both) and SDT_GOLDEN_DIR.

use std::time::Duration;

use sdt_core::Kernel;
use sdt_qemu_m55_host::models::{self, Workload};
use sdt_qemu_m55_host::{firmware, job, qemu, run_checked, Variant};

const TIMEOUT: Duration = Duration::from_secs(300);
const DIGITS: usize = 20;

fn assert_bit_exact(variant: Variant, w: &Workload, kernel: Kernel) {
    let c = run_checked(variant, w, kernel, TIMEOUT)
        .unwrap_or_else(|e| panic!("{} on {}: {e}", w.name, variant.name()));
    let r = &c.device.report;
    assert_eq!(
        c.device.status,
        Some(0),
        "exit status; stdout:\n{}",
        c.device.stdout
    );
    assert_eq!(r.error, None);
    assert_eq!(r.helium, variant == Variant::Helium);
    assert_eq!(r.inferences.len(), w.inputs.len());
    assert!(
        c.differences.is_empty(),
        "{} on {} ({kernel:?}) differs from the host:\n{}",
        w.name,
        variant.name(),
        c.differences.join("\n")
    );
    // The statistics were compared too, and they are not trivially empty.
    let sops: u64 = r
        .inferences
        .iter()
        .flat_map(|i| &i.stats)
        .map(|s| s.sops)
        .sum();
    assert!(sops > 0, "no synaptic operations reported");
    println!(
        "{} on {}: {} inputs bit-exact, {:.3e} instructions/inference",
        w.name,
        variant.name(),
        w.inputs.len(),
        r.inferences.iter().map(|i| i.total_ticks).sum::<u64>() as f64 * qemu::INSNS_PER_TICK
            / w.inputs.len() as f64
    );
}

#[test]
fn digits_int8_on_20_digits() {
    let w = models::digits_int8(DIGITS).expect("digits int8 workload");
    for v in [Variant::Scalar, Variant::Helium] {
        assert_bit_exact(v, &w, Kernel::SpikeDriven);
    }
}

#[test]
fn digits_int16_on_20_digits() {
    let w = models::digits_int16(DIGITS).expect("digits int16 workload");
    assert!(w.inputs[0].len() == 2 * 32 * 32, "int16 input");
    for v in [Variant::Scalar, Variant::Helium] {
        assert_bit_exact(v, &w, Kernel::SpikeDriven);
    }
}

#[test]
fn dense_reference_kernel_on_device() {
    let w = models::digits_int8(2).expect("digits int8 workload");
    assert_bit_exact(Variant::Helium, &w, Kernel::Dense);
}

/// SDT-10M's own weights (widths 48-240, transformer stages of width 192 and 240 with linear
/// attention) at 64×64 input: the full architecture at a size the emulator runs in seconds.
#[test]
fn transformer_stages_of_sdt10m() {
    let w = models::sdt10m(64, 1).expect("SDT-10M 64x64 workload");
    for v in [Variant::Scalar, Variant::Helium] {
        assert_bit_exact(v, &w, Kernel::SpikeDriven);
    }
}

/// Counts above 4 (D = 8): the general kernel paths the official D = 4 models never take.
#[test]
fn spike_counts_above_four() {
    let w = models::sdt10m_with(64, 1, 8, 3.0).expect("SDT-10M 64x64 D=8 workload");
    for v in [Variant::Scalar, Variant::Helium] {
        assert_bit_exact(v, &w, Kernel::SpikeDriven);
    }
    // Counts above 4 did occur: some spike node averages more than 4 per non-zero site (the
    // attention output, read by a 1×1 convolution), and every depthwise layer's 7×7 taps can
    // pass 255 binary planes, so the plane-count check runs.
    let c = run_checked(Variant::Helium, &w, Kernel::SpikeDriven, TIMEOUT).expect("QEMU run");
    let stats = &c.device.report.inferences[0].stats;
    let busiest = stats
        .iter()
        .filter(|s| s.nonzero > 0)
        .map(|s| s.spikes as f64 / s.nonzero as f64)
        .fold(0.0, f64::max);
    assert!(
        busiest > 4.0,
        "largest mean count {busiest:.2}: no counts above 4"
    );
}

/// Dense spikes (every pre-spike value shifted up by 3 spike units, counts up to D = 4): the
/// Helium k×k convolutions' kept spike lists grow long enough that the ring is compacted and,
/// where a window's lists still leave no room, the pixel is computed without them.
#[test]
fn dense_spikes_fill_the_kept_lists() {
    let w = models::sdt10m_with(32, 1, 4, 3.0).expect("SDT-10M 32x32 dense workload");
    assert_bit_exact(Variant::Helium, &w, Kernel::SpikeDriven);
}

/// The Helium encoding layer's dot products take the zero points out as one constant per
/// channel and gather padded taps as the zero points: with zero points inside `i8` every pixel
/// takes them, with one outside `i8` the border pixels take the listed path. Inputs of −128
/// are clamped to `−max_abs` on the way.
#[test]
fn encoding_layer_zero_points_and_clamp() {
    for zero_points in [[5, -7, 100], [300, -2, 9]] {
        let (w, max_abs) = models::sdt10m_zero_points(32, &zero_points).expect("workload");
        assert!(
            max_abs < 128,
            "max_abs {max_abs}: −128 would not be clamped"
        );
        assert_bit_exact(Variant::Helium, &w, Kernel::SpikeDriven);
    }
}

fn run_job(job: &[u8]) -> qemu::Run {
    let elf = firmware::build(Variant::Helium).expect("firmware build");
    qemu::run(&elf, job, TIMEOUT).expect("QEMU run")
}

fn assert_rejected(run: &qemu::Run, code: i32, what: &str) {
    assert_eq!(
        run.status,
        Some(code),
        "{what}: exit status; output:\n{}",
        run.stdout
    );
    let (c, msg) = run.report.error.clone().expect("an E line");
    assert_eq!(c as i32, code, "{what}: {msg}");
    assert!(run.report.inferences.is_empty(), "{what}: nothing may run");
}

#[test]
fn corrupted_blobs_are_rejected_with_error_codes() {
    let w = models::digits_int8(1).expect("digits int8 workload");
    // One flipped bit in the weights: the checksum catches it (core error ChecksumMismatch).
    let mut blob = w.blob.clone();
    let at = blob.len() / 2;
    blob[at] ^= 0x10;
    let run = run_job(&job::build(&blob, &w.inputs, 0));
    assert_rejected(&run, 14, "flipped weight bit");
    assert!(run.report.error.unwrap().1.contains("checksum"));
    // A blob cut short (core error Truncated).
    let cut = &w.blob[..w.blob.len() - 100];
    assert_rejected(
        &run_job(&job::build(cut, &w.inputs, 0)),
        10,
        "truncated blob",
    );
    // Not a blob at all (core error BadMagic).
    let mut junk = w.blob.clone();
    junk[..8].copy_from_slice(b"NOTABLOB");
    assert_rejected(&run_job(&job::build(&junk, &w.inputs, 0)), 11, "bad magic");
    // Nothing in DDR: the job header is missing.
    assert_rejected(&run_job(&[0u8; 64]), 2, "no job");
}

#[test]
fn wrong_input_length_is_rejected() {
    let w = models::digits_int8(1).expect("digits int8 workload");
    let short = vec![w.inputs[0][..100].to_vec()];
    assert_rejected(&run_job(&job::build(&w.blob, &short, 0)), 25, "short input");
}

#[test]
fn instruction_counts_repeat_exactly() {
    let w = models::digits_int8(2).expect("digits int8 workload");
    let elf = firmware::build(Variant::Helium).expect("firmware build");
    let job = job::build(&w.blob, &w.inputs, 0);
    let ticks = |r: &qemu::Run| -> Vec<Vec<u64>> {
        r.report
            .inferences
            .iter()
            .map(|i| i.node_ticks.clone())
            .collect()
    };
    let a = qemu::run(&elf, &job, TIMEOUT).expect("first run");
    let b = qemu::run(&elf, &job, TIMEOUT).expect("second run");
    assert_eq!(
        ticks(&a),
        ticks(&b),
        "per-node SysTick counts under -icount"
    );
    assert!(a.report.inferences[0].total_ticks > 1000);
}

/// One SysTick tick is `INSNS_PER_TICK` instructions: a loop of 2,000,000 known instructions.
#[test]
fn ticks_count_instructions() {
    let elf = firmware::build(Variant::Scalar).expect("firmware build");
    let run = qemu::run(&elf, &[0u8; 64], TIMEOUT).expect("QEMU run");
    let (insns, ticks) = run.report.calibration.expect("a C line");
    let measured = ticks as f64 * qemu::INSNS_PER_TICK;
    assert!(
        (measured - insns as f64).abs() <= 4.0 * qemu::INSNS_PER_TICK,
        "{ticks} ticks = {measured} instructions, loop has {insns}"
    );
}
