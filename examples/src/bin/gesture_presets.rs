//! The gesture model on the simulator's named scenes: a hand close to the lens (25-65 k
//! events/s on a DVS128), a whole upper body, and a dim, noisy, sparse scene (3-5 k events/s).
//! Prints the share of 400 ms windows right per scene and gesture (`sdt_examples::presets`).
//! Seeds 100.. are people, rooms and sensors the training never drew.
//!
//! The input-side levers tried on the sparse scene (`train/README.md`):
//! - `--gain K` feeds every event K times (what a normalization by event count does to a
//!   sparse window);
//! - `--normalize-events N` lifts each bin (the blob's bin length) with fewer than N events
//!   towards N, by a gain of at most 4 (`presets::Normalize`);
//! - `--denoise-ms MS` drops events no neighbour supports within MS (a background-activity
//!   filter).
//!
//! `cargo run --release -p sdt-examples --bin gesture_presets [-- [--seeds N] [--gain K]
//! [--normalize-events N] [--denoise-ms MS] [BLOB]]`

use std::path::PathBuf;

use sdt_core::meta::BinLength;
use sdt_dvs::sim::{Gesture, Randomization};
use sdt_examples::gesture;
use sdt_examples::presets::{self, Normalize, Preprocess};
use sdt_host::AlignedBlob;

/// Length of every clip.
const CLIP_US: u64 = 2_000_000;
/// First seed (the trainer draws its clips from other seeds).
const FIRST_SEED: u64 = 100;
/// Largest gain of `--normalize-events`.
const MAX_NORMALIZING_GAIN: u32 = 4;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    sdt_host::level::apply_env()?;
    let (mut seeds, mut blob) = (3u64, gesture::bundled_blob());
    let mut preprocess = Preprocess::default();
    let mut normalize_events = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut positive = |flag: &str| -> Result<u64, String> {
            args.next()
                .and_then(|n| n.parse().ok())
                .filter(|&n| n > 0)
                .ok_or(format!("{flag} needs a positive whole number"))
        };
        match arg.as_str() {
            "--seeds" => seeds = positive("--seeds")?,
            "--gain" => {
                preprocess.gain =
                    u32::try_from(positive("--gain")?).map_err(|_| "--gain too large")?
            }
            "--normalize-events" => {
                normalize_events = Some(
                    u32::try_from(positive("--normalize-events")?)
                        .map_err(|_| "--normalize-events too large")?,
                )
            }
            "--denoise-ms" => {
                let ms = positive("--denoise-ms")?;
                preprocess.denoise_us =
                    Some(ms.checked_mul(1_000).ok_or("--denoise-ms too large")?);
            }
            path => blob = PathBuf::from(path),
        }
    }
    let bytes = AlignedBlob::read(&blob)?;
    let model = bytes.model()?;
    if let Some(events) = normalize_events {
        let Some(BinLength::Micros(bin_us)) = model.framing().map(|f| f.bin) else {
            return Err("--normalize-events needs a blob framed in bins of time".into());
        };
        preprocess.normalize = Some(Normalize {
            bin_us,
            events,
            max_gain: MAX_NORMALIZING_GAIN,
        });
    }
    println!(
        "model {}, {seeds} clips of {} s per scene and gesture (seeds {FIRST_SEED}..), % of windows right",
        blob.display(),
        CLIP_US as f64 * 1e-6
    );
    if preprocess != Preprocess::default() {
        println!(
            "input: every event {}×, bins lifted towards {} events (gain ≤ {MAX_NORMALIZING_GAIN}), background-activity filter {}",
            preprocess.gain,
            preprocess
                .normalize
                .map_or("no".to_string(), |n| n.events.to_string()),
            preprocess
                .denoise_us
                .map_or("off".to_string(), |us| format!("{} ms", us / 1_000))
        );
    }
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
            let s = presets::score(
                &model,
                preset,
                &preprocess,
                g,
                FIRST_SEED..FIRST_SEED + seeds,
                CLIP_US,
            )?;
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
