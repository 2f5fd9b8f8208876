//! The gesture model on the simulator's named scenes: a hand close to the lens (25-65 k
//! events/s on a DVS128), a whole upper body, and a dim, noisy, sparse scene (3-5 k events/s).
//! Prints the share of 400 ms windows right per scene and gesture (`sdt_examples::presets`).
//! Seeds 100.. are people, rooms and sensors the training never drew.
//!
//! `cargo run --release -p sdt-examples --bin gesture_presets [-- [--seeds N] [BLOB]]`

use std::path::PathBuf;

use sdt_dvs::sim::{Gesture, Randomization};
use sdt_examples::{gesture, presets};
use sdt_host::AlignedBlob;

/// Length of every clip.
const CLIP_US: u64 = 2_000_000;
/// First seed (the trainer draws its clips from other seeds).
const FIRST_SEED: u64 = 100;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    sdt_host::level::apply_env()?;
    let (mut seeds, mut blob) = (3u64, gesture::bundled_blob());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seeds" => {
                seeds = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or("--seeds needs a positive count")?;
            }
            path => blob = PathBuf::from(path),
        }
    }
    let bytes = AlignedBlob::read(&blob)?;
    let model = bytes.model()?;
    println!(
        "model {}, {seeds} clips of {} s per scene and gesture (seeds {FIRST_SEED}..), % of windows right",
        blob.display(),
        CLIP_US as f64 * 1e-6
    );
    let presets = Randomization::presets();
    print!("{:<26}", "gesture");
    for (name, _) in &presets {
        print!(" {name:>12}");
    }
    println!();
    let mut totals = vec![(0usize, 0usize); presets.len()];
    for g in Gesture::ALL {
        print!("{:<26}", g.name());
        for ((_, preset), total) in presets.iter().zip(&mut totals) {
            let s = presets::score(&model, preset, g, FIRST_SEED..FIRST_SEED + seeds, CLIP_US)?;
            total.0 += s.hits;
            total.1 += s.windows();
            print!(" {:>11.1}%", 100.0 * s.accuracy());
        }
        println!();
    }
    print!("{:<26}", "all");
    for (hits, windows) in totals {
        print!(" {:>11.1}%", 100.0 * hits as f64 / windows.max(1) as f64);
    }
    println!();
    Ok(())
}
