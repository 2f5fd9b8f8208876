//! The bundled gesture model still recognizes the bundled (simulated) event stream as it did
//! when it was bundled, and both kernels give the same windows.

use sdt_core::Kernel;
use sdt_examples::gesture;

/// Windows recognized when the model was bundled (see examples/data/README.md).
const RECORDED_HITS: usize = 29;
const RECORDED_SCORED: usize = 46;

#[test]
fn bundled_model_recognizes_the_bundled_stream() {
    let run = gesture::run(
        &gesture::bundled_blob(),
        &gesture::bundled_stream(),
        Kernel::SpikeDriven,
    )
    .expect("bundled gesture model and stream");
    let (hits, scored) = run.scored();
    assert_eq!(scored, RECORDED_SCORED, "windows inside labelled gestures");
    assert!(
        hits >= RECORDED_HITS,
        "{hits}/{scored} windows recognized, {RECORDED_HITS} when bundled"
    );
    assert!(run.summary.sops > 0);
    let dense = gesture::run(
        &gesture::bundled_blob(),
        &gesture::bundled_stream(),
        Kernel::Dense,
    )
    .expect("dense run");
    let labels =
        |r: &gesture::DemoRun| -> Vec<usize> { r.windows.iter().map(|w| w.window.label).collect() };
    assert_eq!(labels(&run), labels(&dense));
}

#[test]
fn windows_get_the_gesture_covering_most_of_them() {
    use sdt_dvs::dvs128::Label;
    let labels = [
        Label {
            class: 3,
            start_us: 0,
            end_us: 1_000,
        },
        Label {
            class: 7,
            start_us: 1_300,
            end_us: 2_000,
        },
    ];
    assert_eq!(gesture::truth(&labels, 0, 400), Some(3));
    assert_eq!(gesture::truth(&labels, 700, 1_100), Some(3));
    assert_eq!(gesture::truth(&labels, 900, 1_300), None);
    assert_eq!(gesture::truth(&labels, 1_100, 1_500), Some(7));
}
