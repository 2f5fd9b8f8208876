//! Films one simulated performance of each of the 11 gesture classes and writes a grid PNG
//! (one row per class, one column per 50 ms window), printing event counts and rates.
//!
//! `cargo run --release -p sdt-dvs --example gesture_preview -- OUT.png [SEED]`

use std::time::Instant;

use sdt_dvs::render::{grid, render, RenderOptions};
use sdt_dvs::sim::{clip, Gesture, SimOptions};
use sdt_events::Geometry;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args.next().unwrap_or_else(|| "gestures.png".into());
    let seed: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1);
    let opts = SimOptions::default();
    let mut images = Vec::new();
    for g in Gesture::ALL {
        let started = Instant::now();
        let events = clip(g, 1_000_000, &opts, seed * 100 + g.index() as u64)?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        println!(
            "{:<14} {:>8} events ({:>6.0} k/s) simulated in {ms:.0} ms",
            g.name(),
            events.len(),
            events.len() as f64 / 1e3
        );
        let r = render(
            &events,
            Geometry::new(128, 128),
            &RenderOptions {
                frame_us: Some(50_000),
                max_frames: 10,
                scale: Some(1),
                ..RenderOptions::default()
            },
        )?;
        images.extend(r.images.into_iter().take(10));
    }
    grid(&images, 10).save(&out)?;
    println!("wrote {out}");
    Ok(())
}
