//! Films a simulated person performing a sequence of gestures and writes it in the DVS128
//! Gesture layout (`OUT.aedat` AEDAT 3.1 plus `OUT_labels.csv`).
//!
//! `cargo run --release -p sdt-dvs --example make_gesture_stream -- OUT.aedat SEED MS GESTURE...`
//! with gestures by name (`hand_clap`, `right_arm_cw`, ...); each is performed for MS ms.

use std::path::PathBuf;

use sdt_dvs::dvs128::{write_recording, Label};
use sdt_dvs::sim::{simulate, Gesture, SimOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out, seed, ms, names @ ..] = args.as_slice() else {
        return Err("usage: OUT.aedat SEED MS GESTURE...".into());
    };
    let (seed, us): (u64, u64) = (seed.parse()?, ms.parse::<u64>()? * 1000);
    let seq = names
        .iter()
        .map(|n| {
            Gesture::ALL
                .into_iter()
                .find(|g| g.name() == n)
                .map(|g| (g, us))
                .ok_or_else(|| format!("unknown gesture {n}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let opts = SimOptions {
        transition_us: 300_000,
        ..SimOptions::default()
    };
    let rec = simulate(&seq, &opts, seed)?;
    let labels: Vec<Label> = rec
        .spans
        .iter()
        .map(|s| Label {
            class: s.gesture.index(),
            start_us: s.start_us,
            end_us: s.end_us,
        })
        .collect();
    let out = PathBuf::from(out);
    write_recording(&out, &rec.events, &labels)?;
    println!(
        "{}: {} events over {:.2} s, {} gestures",
        out.display(),
        rec.events.len(),
        rec.events.last().map_or(0, |e| e.t) as f64 * 1e-6,
        labels.len()
    );
    Ok(())
}
