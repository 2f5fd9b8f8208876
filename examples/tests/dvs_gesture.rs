//! The bundled gesture model still recognizes the bundled (simulated) event stream as it did
//! when it was bundled, and both kernels give the same windows.

use sdt_core::Kernel;
use sdt_examples::gesture;

/// Windows recognized when the model was bundled (see examples/data/README.md).
const RECORDED_HITS: usize = 41;
const RECORDED_SCORED: usize = 47;

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

/// The demo takes its framing and class names from the blob: the first gesture model as
/// released (no metadata) with the framing given by hand gives the same windows as its
/// annotated blob.
#[test]
fn framing_and_class_names_come_from_the_blob() {
    use sdt_events::Window;
    let run = gesture::run(
        &gesture::bundled_blob(),
        &gesture::bundled_stream(),
        Kernel::SpikeDriven,
    )
    .unwrap();
    let s = &run.summary;
    assert_eq!(
        (s.bin_us, s.bins, s.hop, s.downsample, s.clip, s.slices),
        (Some(200_000), 2, 1, 4, 4, 4)
    );
    assert_eq!(run.class_name(0), "hand_clap");
    assert_eq!(run.class_name(10), "other");
    assert_eq!(
        run.windows[0].window.name.as_deref(),
        Some(run.class_name(run.windows[0].window.label))
    );
    let v1 = gesture::bundled_blob().with_file_name("v1/dvs_gesture_int8.blob");
    let annotated = gesture::bundled_blob().with_file_name("v1/dvs_gesture_int8_annotated.blob");
    let first = gesture::run(&annotated, &gesture::bundled_stream(), Kernel::SpikeDriven).unwrap();
    let by_hand = sdt_dvs::classify::ClassifyOptions {
        bin: Some(Window::Time { us: 50_000 }),
        bins: Some(8),
        hop: Some(4),
        downsample: Some(4),
        ..gesture::options(Kernel::SpikeDriven)
    };
    let old = gesture::run_with(&v1, &gesture::bundled_stream(), &by_hand).unwrap();
    let labels =
        |r: &gesture::DemoRun| -> Vec<usize> { r.windows.iter().map(|w| w.window.label).collect() };
    assert_eq!(labels(&old), labels(&first));
    assert_eq!(
        old.class_name(0),
        "0",
        "a blob without names: class indices"
    );
    assert!(old.windows.iter().all(|w| w.window.name.is_none()));
}
