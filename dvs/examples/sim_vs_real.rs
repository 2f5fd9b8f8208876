//! Films clips with each realistic-simulator preset, writes them as AEDAT 4.0 (for
//! `sdt-dvs render`) and prints a Markdown table of their statistics next to the real
//! recordings' in the shared events folder (`SDT_EVENTS_DIR`).
//!
//! Also draws `OUT_DIR/randomized.png`: one 50 ms window (the one 500 ms in) of each of 8
//! clips drawn from the training range (`Randomization::default()`), with `sdt-dvs render`'s
//! renderer.
//!
//! `cargo run --release -p sdt-dvs --example sim_vs_real -- OUT_DIR`

use std::path::PathBuf;

use sdt_dvs::aedat4::{Aedat4Writer, Compression, StreamInfo};
use sdt_dvs::render::{grid, render, RenderOptions};
use sdt_dvs::sim::{Gesture, Randomization};
use sdt_dvs::source::{EventSource, SourceOptions};
use sdt_dvs::stats::{compute, markdown_table};
use sdt_events::Geometry;
use sdt_host::data::DataDir;

/// The real recordings compared with.
const REAL: [&str; 3] = [
    "aestream_davis.aedat4",
    "expelliarmus_evt3_gen41.raw",
    "tonic_sample_nmnist.bin",
];

/// Clips per preset: (gesture, seed).
const CLIPS: [(Gesture, u64); 2] = [(Gesture::RightHandWave, 1), (Gesture::ArmRoll, 2)];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::args().nth(1).ok_or("usage: OUT_DIR")?);
    std::fs::create_dir_all(&out)?;
    let mut rows = Vec::new();
    for (name, preset) in Randomization::presets() {
        for (g, seed) in CLIPS {
            let clip = preset.clip(g, 2_000_000, seed)?;
            let (w, h) = preset.sensor_size;
            let geometry = Geometry::new(w, h);
            let path = out.join(format!("sim_{name}_{}.aedat4", g.name()));
            let streams = [StreamInfo {
                id: 0,
                type_identifier: "EVTS".into(),
                name: "events".into(),
                geometry: Some(geometry),
            }];
            let mut writer =
                Aedat4Writer::new(std::fs::File::create(&path)?, Compression::Lz4, &streams)?;
            for chunk in clip.events.chunks(4096) {
                writer.write_events(0, chunk)?;
            }
            writer.finish()?;
            rows.push((
                format!("sim {name} {} (seed {seed})", clip.gesture.name()),
                compute(&clip.events, geometry),
            ));
        }
    }
    let training = Randomization::default();
    let (w, h) = training.sensor_size;
    let mut tiles = Vec::new();
    for (k, g) in Gesture::ALL.iter().take(8).enumerate() {
        let clip = training.clip(*g, 600_000, 100 + k as u64)?;
        let window: Vec<_> = clip
            .events
            .iter()
            .copied()
            .filter(|e| (500_000..550_000).contains(&e.t))
            .collect();
        let opts = RenderOptions {
            frame_us: Some(50_000),
            max_frames: 1,
            scale: Some(1),
            ..RenderOptions::default()
        };
        if let Some(img) = render(&window, Geometry::new(w, h), &opts)?
            .images
            .into_iter()
            .next()
        {
            tiles.push(img);
        }
    }
    grid(&tiles, 4).save(out.join("randomized.png"))?;
    for name in REAL {
        let path = DataDir::Events.file(name)?;
        let mut source = EventSource::open(&path, SourceOptions::default())?;
        let events = source.read_all()?;
        rows.push((format!("real {name}"), compute(&events, source.geometry())));
    }
    print!("{}", markdown_table(&rows));
    Ok(())
}
