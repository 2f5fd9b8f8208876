//! The main job: the bundled int8 DVS gesture model recognizes gestures in the bundled event
//! stream, window by window, through the core's streaming classifier. Prints each window's
//! label, confidence and ground truth with its latency, synaptic operations and estimated
//! energy. The stream is simulated (an event-camera simulator filming a rendered person), not
//! a sensor recording.
//!
//! `cargo run --release -p sdt-examples --bin dvs_gesture [-- BLOB STREAM.aedat]`

use std::path::PathBuf;

use sdt_core::Kernel;
use sdt_examples::gesture;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    sdt_host::level::apply_env()?;
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let blob = args.next().unwrap_or_else(gesture::bundled_blob);
    let stream = args.next().unwrap_or_else(gesture::bundled_stream);
    let run = gesture::run(&blob, &stream, Kernel::SpikeDriven)?;
    println!(
        "model {} ({} bytes), stream {} ({} events, simulated DVS128 128×128)",
        blob.display(),
        run.blob_bytes,
        stream.display(),
        run.events
    );
    let s = &run.summary;
    let bin = match (s.bin_us, s.bin_events) {
        (Some(us), _) => format!("{} ms", us / 1000),
        (_, Some(n)) => format!("{n}-event"),
        _ => "-".into(),
    };
    println!(
        "windows of {} × {bin} bins every {} bins, downsampled {}×, counts clipped to {} (framing from the blob)",
        s.bins, s.hop, s.downsample, s.clip
    );
    println!(
        "{:>3} {:>7} {:>7}  {:<14} {:>5}  {:<14} {:>8} {:>11} {:>8}",
        "win", "start s", "end s", "recognized", "conf", "ground truth", "ms", "SOPs", "µJ"
    );
    for l in &run.windows {
        let w = &l.window;
        let truth = l.truth.map_or("(transition)", |t| run.class_name(t));
        let mark = match l.truth {
            Some(t) if t == w.label => " ",
            Some(_) => "✗",
            None => " ",
        };
        println!(
            "{:>3} {:>7.2} {:>7.2}  {:<14} {:>5.2}  {:<14}{mark} {:>7.2} {:>11} {:>8.3}",
            w.window,
            w.start_us as f64 * 1e-6,
            w.end_us as f64 * 1e-6,
            run.class_name(w.label),
            w.confidence,
            truth,
            w.latency_ms,
            w.sops,
            w.energy_uj
        );
    }
    let (hits, scored) = run.scored();
    let per = |v: f64| v / s.windows.max(1) as f64;
    println!(
        "accuracy          {hits}/{scored} windows = {:.1} % (windows inside a labelled gesture)",
        100.0 * hits as f64 / scored.max(1) as f64
    );
    println!(
        "latency           {:.2} ms/window ({:.2} ms per {bin} bin, host, 1 thread)",
        per(s.compute_ms),
        s.compute_ms / s.runs.max(1) as f64
    );
    println!("SOPs              {:.3e} /window", per(s.sops as f64));
    println!(
        "energy (45 nm)    {:.3} µJ/window  (E_AC 0.9 pJ, E_MAC 4.6 pJ)",
        per(s.energy_uj)
    );
    Ok(())
}
