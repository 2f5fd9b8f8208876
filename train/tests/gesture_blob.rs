//! The gesture trainer's blob describes itself: class names in the simulator's class order and
//! the framing it was trained with, so `sdt-dvs classify` needs no flags. A tiny run (one
//! epoch, two clips per class, a small model) is enough to check what it writes.

use std::process::Command;

use sdt_core::meta::{BinLength, PolarityLayout};
use sdt_host::AlignedBlob;

#[test]
fn trainer_writes_class_names_and_framing() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gesture_blob");
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_train_gesture"))
        .arg("--out")
        .arg(&dir)
        .arg("--config")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/gesture.toml"))
        .args([
            "--epochs",
            "1",
            "--train-per-class",
            "2",
            "--test-per-class",
            "1",
            "--clip-ms",
            "600",
            "--dims",
            "8,16,16,16",
            "--bins",
            "6",
            "--hop",
            "3",
            "--quiet",
        ])
        .env("OMP_NUM_THREADS", "1")
        .output()
        .expect("run train_gesture");
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
