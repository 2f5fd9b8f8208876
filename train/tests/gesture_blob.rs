//! The gesture trainer's blob describes itself: class names in the simulator's class order and
//! the framing it was trained with, so `sdt-dvs classify` needs no flags. A tiny run (one
//! epoch, two clips per class, a small model) is enough to check what it writes. The trainer
//! also reads a DVS128 Gesture folder (`--dvs128`), split by user as the dataset is.

use std::path::Path;
use std::process::{Command, Output};

use sdt_dvs::dvs128::{write_recording, Label};
use sdt_dvs::sim::{simulate, Gesture, SimOptions};

use sdt_core::meta::{BinLength, PolarityLayout};
use sdt_host::AlignedBlob;

#[test]
fn trainer_writes_class_names_and_framing() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gesture_blob");
    let _ = std::fs::remove_dir_all(&dir);
    let out = tiny_run(
        &dir,
        &[
            "--train-per-class",
            "2",
            "--test-per-class",
            "1",
            "--clip-ms",
            "600",
        ],
    );
    assert!(
        out.status.success(),
        "train_gesture failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let blob = AlignedBlob::read(&dir.join("gesture_int8.blob")).unwrap();
    let model = blob.model().unwrap();
    let names: Vec<_> = (0..model.classes())
        .map(|i| model.class_name(i).unwrap())
        .collect();
    assert_eq!(names, sdt_dvs::sim::class_names());
    assert_eq!(model.metadata().name, "dvs_gesture");
    let f = model.framing().expect("framing");
    assert_eq!(f.bin, BinLength::Micros(50_000));
    assert_eq!((f.bins, f.hop, f.downsample, f.clip), (6, 3, 4, 4));
    assert_eq!((f.sensor, f.polarity), ((128, 128), PolarityLayout::OffOn));
}

/// With `--slices`, each bin's slices are their own input channels and the blob says so; on
/// the realistic simulator the report carries the window confusion matrix and the
/// robustness table.
#[test]
fn trainer_writes_sliced_framing_confusion_and_robustness() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gesture_sliced");
    let _ = std::fs::remove_dir_all(&dir);
    let extra = [
        "--slices",
        "3",
        "--realistic",
        "--robustness-per-class",
        "1",
    ];
    let out = tiny_run(&dir, &[&ONE_CLIP_PER_CLASS[..], &extra].concat());
    assert!(
        out.status.success(),
        "train_gesture --slices 3 failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let blob = AlignedBlob::read(&dir.join("gesture_int8.blob")).unwrap();
    let model = blob.model().unwrap();
    assert_eq!(
        model.framing().expect("framing").polarity,
        PolarityLayout::OffOnPerSlice(3)
    );
    assert_eq!(model.tensor(model.graph().input).c, 6);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    let confusion = report["window_confusion"].as_array().expect("confusion");
    assert_eq!(confusion.len(), 11, "{report}");
    let cells: u64 = confusion
        .iter()
        .flat_map(|row| row.as_array().expect("row").iter())
        .map(|c| c.as_u64().expect("count"))
        .sum();
    assert_eq!(Some(cells), report["windows"].as_u64(), "{report}");
    let cw_ccw = report["cw_ccw_error"].as_f64().expect("cw_ccw_error");
    assert!((0.0..=1.0).contains(&cw_ccw), "{report}");
    let rows = report["robustness"].as_array().expect("robustness");
    let factors: Vec<&str> = rows.iter().map(|r| r["factor"].as_str().unwrap()).collect();
    assert_eq!(
        factors,
        [
            "noise", "noise", "noise", "scale", "scale", "scale", "speed", "speed", "speed",
            "speed"
        ]
    );
    for r in rows {
        assert_eq!(r["clips"], 11, "{r}");
        assert!(r["windows"].as_u64().unwrap() > 0, "{r}");
    }

    // `--evaluate` scores the written blob on the same held-out people: the same figures.
    let again = dir.join("evaluated");
    std::fs::create_dir_all(&again).unwrap();
    let blob_arg = dir.join("gesture_int8.blob");
    let out = tiny_run(
        &again,
        &[
            "--test-per-class",
            "1",
            "--clip-ms",
            "600",
            "--realistic",
            "--robustness-per-class",
            "1",
            "--evaluate",
            blob_arg.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "train_gesture --evaluate failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let evaluated: serde_json::Value =
        serde_json::from_slice(&std::fs::read(again.join("report.json")).unwrap()).unwrap();
    for key in [
        "window_accuracy",
        "windows",
        "window_confusion",
        "robustness",
    ] {
        assert_eq!(evaluated[key], report[key], "{key}");
    }
    assert!(evaluated.get("train_clips").is_none(), "{evaluated}");
}

/// A run cut short by `--stop-after` leaves a checkpoint and no blob; `--resume` trains only
/// the missing epochs and then packs and scores the model.
#[test]
fn trainer_stops_after_an_epoch_and_resumes() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gesture_resume");
    let _ = std::fs::remove_dir_all(&dir);
    let first = tiny_run_epochs(
        &dir,
        2,
        &[&ONE_CLIP_PER_CLASS[..], &["--stop-after", "1"]].concat(),
    );
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "first part failed:\n{stderr}");
    assert!(stderr.contains("stopped after epoch 1 of 2"), "{stderr}");
    assert!(!dir.join("gesture_int8.blob").exists());
    let metrics = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 1, "{metrics}");

    let second = tiny_run_epochs(&dir, 2, &[&ONE_CLIP_PER_CLASS[..], &["--resume"]].concat());
    assert!(
        second.status.success(),
        "resumed part failed:\n{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(stdout.contains("\"epoch\":2,"), "{stdout}");
    assert!(
        !stdout.contains("\"epoch\":1,"),
        "epoch 1 trained again:\n{stdout}"
    );
    let metrics = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 2, "{metrics}");
    assert!(AlignedBlob::read(&dir.join("gesture_int8.blob")).is_ok());
}

/// With `--fresh-copies` the copies are redrawn every epoch from the epoch's seed, so a run cut
/// short and resumed writes the same blob as the run left alone.
#[test]
fn fresh_copies_replay_across_a_resume() {
    let base = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let fresh = [
        &ONE_CLIP_PER_CLASS[..],
        &["--augment-copies", "1", "--fresh-copies"],
    ]
    .concat();
    let blob_of = |name: &str, parts: &[&[&str]]| {
        let dir = base.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        for extra in parts {
            let out = tiny_run_epochs(&dir, 2, &[&fresh[..], extra].concat());
            assert!(
                out.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::fs::read(dir.join("gesture_int8.blob")).unwrap()
    };
    let whole = blob_of("gesture_fresh_whole", &[&[]]);
    let resumed = blob_of(
        "gesture_fresh_resumed",
        &[&["--stop-after", "1"], &["--resume"]],
    );
    assert!(whole == resumed, "the resumed run trained on other copies");
}

/// `--cuda` trains on the GPU where libtorch sees one, and where it does not it says so
/// instead of training on the CPU.
#[test]
fn trainer_trains_on_cuda_or_refuses_it() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gesture_cuda");
    let _ = std::fs::remove_dir_all(&dir);
    let out = tiny_run(&dir, &[&ONE_CLIP_PER_CLASS[..], &["--cuda"]].concat());
    let stderr = String::from_utf8_lossy(&out.stderr);
    if tch::Cuda::is_available() {
        assert!(out.status.success(), "{stderr}");
        assert!(AlignedBlob::read(&dir.join("gesture_int8.blob")).is_ok());
    } else {
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains("no CUDA device"), "{stderr}");
    }
}

/// The fewest clips a run takes: one short clip per class for training and for held-out.
const ONE_CLIP_PER_CLASS: [&str; 6] = [
    "--train-per-class",
    "1",
    "--test-per-class",
    "1",
    "--clip-ms",
    "600",
];

/// One epoch of a small model (bins of 6, hop 3) into `dir`, with `extra` arguments.
fn tiny_run(dir: &Path, extra: &[&str]) -> Output {
    tiny_run_epochs(dir, 1, extra)
}

/// `epochs` epochs of a small model (bins of 6, hop 3) into `dir`, with `extra` arguments.
fn tiny_run_epochs(dir: &Path, epochs: u64, extra: &[&str]) -> Output {
    let epochs = epochs.to_string();
    Command::new(env!("CARGO_BIN_EXE_train_gesture"))
        .arg("--out")
        .arg(dir)
        .arg("--config")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/gesture.toml"))
        .args([
            "--epochs",
            &epochs,
            "--dims",
            "8,16,16,16",
            "--bins",
            "6",
            "--hop",
            "3",
        ])
        .arg("--quiet")
        .args(extra)
        .env("OMP_NUM_THREADS", "1")
        .output()
        .expect("run train_gesture")
}

/// A recording in the dataset's layout (`<name>.aedat`, AEDAT 3.1, and `<name>_labels.csv`):
/// three simulated gestures with the dataset's non-zero clock start.
fn dataset_recording(dir: &Path, name: &str, seed: u64) {
    let seq = [
        (Gesture::RightHandWave, 700_000),
        (Gesture::LeftArmClockwise, 700_000),
        (Gesture::HandClap, 700_000),
    ];
    let rec = simulate(&seq, &SimOptions::default(), seed).expect("simulate");
    let offset = 5_000_000;
    let events: Vec<_> = rec
        .events
        .iter()
        .map(|e| sdt_events::Event {
            t: e.t + offset,
            ..*e
        })
        .collect();
    let labels: Vec<Label> = rec
        .spans
        .iter()
        .map(|s| Label {
            class: s.gesture.index(),
            start_us: s.start_us + offset,
            end_us: s.end_us + offset,
        })
        .collect();
    write_recording(&dir.join(format!("{name}.aedat")), &events, &labels).expect("write");
}

#[test]
fn trainer_reads_a_dvs128_gesture_folder_split_by_user() {
    let root = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gesture_dvs128");
    let _ = std::fs::remove_dir_all(&root);
    let data = root.join("DvsGesture");
    std::fs::create_dir_all(&data).unwrap();
    dataset_recording(&data, "user01_fluorescent", 1);
    dataset_recording(&data, "user23_led", 2);
    // Users 24-29 are the held-out ones.
    let out = tiny_run(
        &root.join("no-test-users"),
        &["--dvs128", data.to_str().unwrap()],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no labelled recordings of users 24..=29"),
        "{err}"
    );

    dataset_recording(&data, "user24_natural", 3);
    let run = root.join("run");
    let out = tiny_run(&run, &["--dvs128", data.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "train_gesture --dvs128 failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["train_clips"], 6, "{report}");
    assert_eq!(report["test_clips"], 3, "{report}");
    assert!(report["windows"].as_u64().unwrap() > 0, "{report}");
    let blob = AlignedBlob::read(&run.join("gesture_int8.blob")).unwrap();
    let model = blob.model().unwrap();
    assert_eq!(model.class_name(0), Some(sdt_dvs::sim::class_names()[0]));
}
