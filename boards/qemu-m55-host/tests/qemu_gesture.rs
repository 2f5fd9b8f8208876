//! The bundled DVS gesture model on the emulated Cortex-M55, on the bins of the first windows
//! of the bundled event stream: logits and per-node statistics equal the host core's bit for
//! bit, and the windows summed from the device's logits give the host streaming classifier's
//! labels. Prints instructions per bin and per window. Needs `qemu-system-arm` and the
//! `thumbv8m.main-none-eabihf` target (scripts/test.sh installs both).

use std::time::Duration;

use sdt_core::{Kernel, Sequential, Session};
use sdt_events::stream::{Run, StreamBuffers, StreamClassifier, StreamConfig};
use sdt_host::AlignedBlob;
use sdt_qemu_m55_host::gesture;
use sdt_qemu_m55_host::{qemu, run_checked, Variant};

const TIMEOUT: Duration = Duration::from_secs(300);
/// Windows checked: their bins are the job's inputs.
const WINDOWS: usize = 3;

/// Labels of the first `windows` windows from the host's streaming classifier, framed as the
/// blob says.
fn host_stream_labels(blob: &[u8], windows: usize) -> Vec<usize> {
    let cfg = gesture::stream_config(blob).unwrap();
    let blob = AlignedBlob::from_bytes(blob);
    let model = blob.model().unwrap();
    let sizes = StreamClassifier::sizes(&cfg, &model).unwrap();
    let (mut f, mut l, mut s) = (
        vec![0u8; sizes.frames],
        vec![0i32; sizes.logits],
        vec![0i64; sizes.scores],
    );
    let bufs = StreamBuffers {
        frames: &mut f,
        logits: &mut l,
        scores: &mut s,
    };
    let mut classifier = StreamClassifier::new(cfg, &model, bufs).unwrap();
    let mut arena = vec![0u8; sdt_core::arena_bytes(&model, 1).unwrap()];
    let mut session = Session::new(&model, &mut arena, 1).unwrap();
    let mut run = Run {
        kernel: Kernel::SpikeDriven,
        exec: &Sequential,
        stats: None,
    };
    let mut labels = Vec::new();
    for e in gesture::stream_events().unwrap() {
        classifier
            .push(e, &mut session, &mut run, |p| labels.push(p.label))
            .unwrap();
        if labels.len() >= windows {
            break;
        }
    }
    labels.truncate(windows);
    labels
}

#[test]
fn gesture_model_on_stream_windows_is_bit_exact() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/data/dvs_gesture_int8.blob"
    );
    let cfg: StreamConfig = gesture::stream_config(&std::fs::read(path).unwrap()).unwrap();
    let (bins, hop) = (usize::from(cfg.framer.bins), usize::from(cfg.hop));
    assert!(
        (1..=bins).contains(&hop),
        "the blob's windows: {bins} bins every {hop}"
    );
    let n = bins + (WINDOWS - 1) * hop;
    let w = gesture::workload(n).expect("gesture workload");
    let want = host_stream_labels(&w.blob, WINDOWS);
    assert_eq!(want.len(), WINDOWS);
    for v in [Variant::Scalar, Variant::Helium] {
        let c = run_checked(v, &w, Kernel::SpikeDriven, TIMEOUT)
            .unwrap_or_else(|e| panic!("gesture on {}: {e}", v.name()));
        let r = &c.device.report;
        assert_eq!(c.device.status, Some(0), "stdout:\n{}", c.device.stdout);
        assert_eq!(r.inferences.len(), n);
        assert!(
            c.differences.is_empty(),
            "gesture on {} differs from the host:\n{}",
            v.name(),
            c.differences.join("\n")
        );
        // Window k sums the logits of bins hop·k..hop·k+bins; its arg-max (first on ties) is
        // the label.
        let got: Vec<usize> = (0..WINDOWS)
            .map(|k| {
                let classes = r.inferences[0].logits.len();
                let score = |c: usize| -> i64 {
                    r.inferences[k * hop..k * hop + bins]
                        .iter()
                        .map(|i| i64::from(i.logits[c]))
                        .sum()
                };
                (0..classes)
                    .max_by_key(|&c| (score(c), std::cmp::Reverse(c)))
                    .unwrap()
            })
            .collect();
        assert_eq!(got, want, "window labels from device logits vs host stream");
        // SRAM2 holds the arena and the thresholds kept across bins, with room to spare.
        assert!(r.kept_bytes > 0, "{}: no spike thresholds kept", v.name());
        let insns: Vec<f64> = r
            .inferences
            .iter()
            .map(|i| i.total_ticks as f64 * qemu::INSNS_PER_TICK)
            .collect();
        let per_bin = insns.iter().sum::<f64>() / n as f64;
        println!(
            "DVS gesture on {}: {n} bins bit-exact, window labels {got:?}; {per_bin:.3e} \
             instructions/bin, {:.3e} instructions/window (a new window runs {hop} new bins; \
             the first runs {bins})",
            v.name(),
            per_bin * hop as f64
        );
    }
}
