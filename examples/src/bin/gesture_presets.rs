//! The gesture model on the simulator's named scenes: a hand close to the lens (25-65 k
//! events/s on a DVS128), a whole upper body, and a dim, noisy, sparse scene (3-5 k events/s).
//! Prints the share of 400 ms windows right per scene and gesture (`sdt_examples::presets`).
//! Seeds 100.. are people, rooms and sensors the training never drew.
//!
//! The input-side levers tried on the sparse scene (`train/README.md`):
//! - `--gain K` feeds every event K times;
//! - `--normalize-events N` lifts each bin with fewer than N events towards N, by a gain of
//!   at most 4: the streaming classifier's count normalization, instead of the blob's
//!   (`0` turns it off);
//! - `--denoise-ms MS` drops events no neighbour supports within MS (a background-activity
//!   filter).
//!
//! `cargo run --release -p sdt-examples --bin gesture_presets [-- [--seeds N] [--gain K]
//! [--normalize-events N] [--denoise-ms MS] [BLOB]]`

use std::path::PathBuf;

use sdt_core::meta::CountNormalization;
use sdt_dvs::classify::describe_normalization;
use sdt_dvs::sim::{Gesture, Randomization};
use sdt_examples::gesture;
use sdt_examples::presets::{self, Preprocess};
use sdt_host::AlignedBlob;

/// Length of every clip.
const CLIP_US: u64 = 2_000_000;
/// First seed (the trainer draws its clips from other seeds).
const FIRST_SEED: u64 = 100;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    sdt_host::level::apply_env()?;
    let (mut seeds, mut blob) = (3u64, gesture::bundled_blob());
    let mut preprocess = Preprocess::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut whole = |flag: &str| -> Result<u64, String> {
            args.next()
                .and_then(|n| n.parse().ok())
                .ok_or(format!("{flag} needs a whole number"))
        };
        let mut positive = |flag: &str| -> Result<u64, String> {
            Some(whole(flag)?)
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
                let events = u32::try_from(whole("--normalize-events")?)
                    .map_err(|_| "--normalize-events too large")?;
                preprocess.normalize = Some(CountNormalization::towards(
                    events,
                    CountNormalization::DEFAULT_MAX_GAIN,
                ));
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
    println!(
        "model {}, {seeds} clips of {} s per scene and gesture (seeds {FIRST_SEED}..), % of windows right",
        blob.display(),
        CLIP_US as f64 * 1e-6
    );
    let presets = Randomization::presets();
    // The normalization does not depend on the sensor size; any preset's builds the stream.
    let normalize = preprocess.normalization(&model, presets[0].1.sensor_size)?;
    println!(
        "input: every event {}×, {}, background-activity filter {}",
        preprocess.gain,
        describe_normalization(normalize),
        preprocess
            .denoise_us
            .map_or("off".to_string(), |us| format!("{} ms", us / 1_000))
    );
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
