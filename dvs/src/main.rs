//! `sdt-dvs`: look at, draw and classify event-camera recordings.
//!
//! ```text
//! sdt-dvs info FILE                      JSON summary (format, resolution, events, time range, errors)
//! sdt-dvs render FILE --out DIR          PNG per window, grid.png, frames.gif
//! sdt-dvs classify FILE --model BLOB     label stream: one line per window
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use sdt_dvs::classify::{classify, framing_overrides, ClassifyFlags};
use sdt_dvs::info::{summarize, ErrorCounts};
use sdt_dvs::render::{render, write, RenderOptions};
use sdt_dvs::source::{EventSource, Format, SourceOptions};
use sdt_events::Geometry;
use sdt_host::AlignedBlob;

#[derive(Parser)]
#[command(
    name = "sdt-dvs",
    version,
    about = "Event-camera recordings: info, render, classify"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a JSON summary of a recording.
    Info {
        #[command(flatten)]
        input: InputArgs,
    },
    /// Draw the recording as images (ON green, OFF red): frame_NNNN.png, grid.png, frames.gif.
    Render {
        #[command(flatten)]
        input: InputArgs,
        /// Output folder (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Window length in µs (default: the recording split into --frames windows).
        #[arg(long)]
        frame_us: Option<u64>,
        /// Number of windows when --frame-us is not given.
        #[arg(long, default_value_t = 12)]
        frames: u32,
        /// At most this many images.
        #[arg(long, default_value_t = 200)]
        max_frames: usize,
        /// Spatial downsampling factor.
        #[arg(long, default_value_t = 1)]
        downsample: u16,
        /// Integer upscaling of the images (default: long side at least 256 pixels).
        #[arg(long)]
        scale: Option<u32>,
        /// GIF frame delay in ms.
        #[arg(long, default_value_t = 100)]
        gif_delay_ms: u32,
    },
    /// Classify the recording window by window with a model blob (2-channel event input).
    Classify {
        #[command(flatten)]
        input: InputArgs,
        /// Model blob (from sdt-convert or the trainer).
        #[arg(long)]
        model: PathBuf,
        #[command(flatten)]
        flags: ClassifyFlags,
        /// One JSON object per window instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct InputArgs {
    /// Event file: EVT 2.0/3.0 RAW, DAT, AEDAT 2.0/3.1/4.0, N-MNIST binary.
    file: PathBuf,
    /// Format, if the header and extension do not tell it.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Sensor width (overrides the file).
    #[arg(long, requires = "height")]
    width: Option<u16>,
    /// Sensor height (overrides the file).
    #[arg(long, requires = "width")]
    height: Option<u16>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

impl InputArgs {
    fn open(&self) -> Result<(EventSource, ProgressBar), Box<dyn std::error::Error>> {
        let opts = SourceOptions {
            format: self.format,
            geometry: self
                .width
                .zip(self.height)
                .map(|(w, h)| Geometry::new(w, h)),
            ..SourceOptions::default()
        };
        let source = EventSource::open(&self.file, opts)?;
        Ok((source, progress(&self.file, self.quiet)))
    }
}

/// A byte progress bar on stderr for files over 8 MiB (hidden otherwise or with --quiet).
fn progress(path: &Path, quiet: bool) -> ProgressBar {
    let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if quiet || len < 8 << 20 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {bytes}/{total_bytes} {wide_bar} {eta}")
    {
        bar.set_style(style);
    }
    bar
}

fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Command::Info { input } => {
            let (mut source, bar) = input.open()?;
            let info = summarize(&input.file.display().to_string(), &mut source, |b| {
                bar.set_position(b)
            })?;
            bar.finish_and_clear();
            println!("{}", serde_json::to_string_pretty(&info)?);
        }
        Command::Render {
            input,
            out,
            frame_us,
            frames,
            max_frames,
            downsample,
            scale,
            gif_delay_ms,
        } => {
            let (mut source, bar) = input.open()?;
            let mut events = Vec::new();
            while source.next_chunk(&mut events)? {
                bar.set_position(source.bytes_read());
            }
            bar.finish_and_clear();
            let opts = RenderOptions {
                frame_us,
                frames,
                max_frames,
                downsample,
                scale,
                gif_delay_ms,
            };
            let rendered = render(&events, source.geometry(), &opts)?;
            let written = write(&rendered, &out, gif_delay_ms)?;
            println!(
                "{} events, {} windows of {} µs from t = {} µs: {} PNGs, {}, {}",
                events.len(),
                rendered.images.len(),
                rendered.frame_us,
                rendered.start_us,
                written.frames.len(),
                written.grid.display(),
                written.gif.display()
            );
        }
        Command::Classify {
            input,
            model,
            flags,
            json,
        } => {
            let blob = AlignedBlob::read(&model)?;
            let model = blob.model()?;
            let (mut source, bar) = input.open()?;
            let opts = flags.options()?;
            for o in framing_overrides(&model, &opts) {
                eprintln!("warning: {o}: the model sees other inputs than its blob describes");
            }
            if !json {
                println!(
                    "{:>6} {:>17} {:>17} {:>5} {:<16} {:>6} {:>10} {:>5} {:>12} {:>9}",
                    "window",
                    "start_us",
                    "end_us",
                    "label",
                    "name",
                    "conf",
                    "latency_ms",
                    "runs",
                    "SOPs",
                    "µJ"
                );
            }
            let mut failed = None;
            let summary = classify(
                &mut source,
                &model,
                &opts,
                |w| {
                    let line = if json {
                        serde_json::to_string(w).map_err(|e| failed = Some(e))
                    } else {
                        Ok(format!(
                            "{:>6} {:>17} {:>17} {:>5} {:<16} {:>6.3} {:>10.3} {:>5} {:>12} {:>9.4}",
                            w.window,
                            w.start_us,
                            w.end_us,
                            w.label,
                            w.name.as_deref().unwrap_or("-"),
                            w.confidence,
                            w.latency_ms,
                            w.runs,
                            w.sops,
                            w.energy_uj
                        ))
                    };
                    // Lines go to stdout even when the bar is hidden (`println` would drop them).
                    if let Ok(line) = line {
                        bar.suspend(|| println!("{line}"));
                    }
                },
                |b| bar.set_position(b),
            )?;
            bar.finish_and_clear();
            if let Some(e) = failed {
                return Err(e.into());
            }
            // The windows up to a damaged part are kept; say what was skipped.
            if let Some(errors) = summary.input_errors.filter(ErrorCounts::any) {
                eprintln!("warning: {}: {errors}", input.file.display());
            }
            if json {
                println!("{}", serde_json::to_string(&summary)?);
            } else {
                let bin = match (summary.bin_us, summary.bin_events) {
                    (Some(us), _) => format!("{us} µs"),
                    (_, Some(n)) => format!("{n} events"),
                    _ => "-".into(),
                };
                let normalize = match summary.normalize {
                    Some(n) => format!(
                        ", bins lifted towards {} events (gain ≤ {})",
                        n.events, n.max_gain
                    ),
                    None => String::new(),
                };
                println!(
                    "{} windows, {} model runs, {} events, {:.1} ms compute, {} SOPs, {:.3} µJ \
                     (windows of {} bins of {bin} every {} bins, {} slices per bin, downsample \
                     {}, clip {}{normalize})",
                    summary.windows,
                    summary.runs,
                    summary.events,
                    summary.compute_ms,
                    summary.sops,
                    summary.energy_uj,
                    summary.bins,
                    summary.hop,
                    summary.slices,
                    summary.downsample,
                    summary.clip
                );
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Kernel level forced by SDT_KERNEL_LEVEL, if set (the same integers at every level).
    if let Err(e) = sdt_host::level::apply_env() {
        eprintln!("sdt-dvs: {e}");
        return ExitCode::FAILURE;
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sdt-dvs: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use sdt_core::meta::CountNormalization;
    use sdt_core::Kernel;
    use sdt_dvs::classify::{ClassifyOptions, FlagError};
    use sdt_events::Window;

    /// The options `sdt-dvs classify` builds from `flags` (whitespace-separated).
    fn window_options(flags: &str) -> Result<ClassifyOptions, Box<dyn std::error::Error>> {
        let args = ["sdt-dvs", "classify", "rec.raw", "--model", "m.blob"];
        let cli = Cli::try_parse_from(args.into_iter().chain(flags.split_whitespace()))?;
        match cli.command {
            Command::Classify { flags, .. } => Ok(flags.options()?),
            _ => panic!("parsed another command"),
        }
    }

    #[test]
    fn no_framing_flags_take_everything_from_the_blob() {
        // Python's keywords start from the same defaults.
        let args = ["sdt-dvs", "classify", "rec.raw", "--model", "m.blob"];
        match Cli::try_parse_from(args).unwrap().command {
            Command::Classify { flags, .. } => assert_eq!(flags, ClassifyFlags::default()),
            _ => panic!("parsed another command"),
        }
        assert_eq!(
            window_options("").unwrap(),
            ClassifyOptions::from_blob(Kernel::SpikeDriven)
        );
    }

    #[test]
    fn every_framing_flag_overrides_its_option() {
        let flags = "--bin-events 700 --bins 3 --hop 2 --average 5 --downsample 4 --clip 2 \
                     --slices 4 --normalize-events 1500 --normalize-max-gain 8 --dense";
        assert_eq!(
            window_options(flags).unwrap(),
            ClassifyOptions {
                bin: Some(Window::Count { events: 700 }),
                bins: Some(3),
                hop: Some(2),
                average: 5,
                downsample: Some(4),
                clip: Some(2),
                slices: Some(4),
                normalize: Some(CountNormalization::towards(1500, 8)),
                kernel: Kernel::Dense,
            }
        );
        let us = window_options("--bin-us 50000").unwrap();
        assert_eq!(us.bin, Some(Window::Time { us: 50_000 }));
    }

    #[test]
    fn normalize_events_zero_turns_the_blobs_normalization_off() {
        let opts = window_options("--normalize-events 0").unwrap();
        assert_eq!(opts.normalize, Some(None));
    }

    #[test]
    fn contradictory_or_dangling_flags_are_refused() {
        for flags in [
            "--bin-us 1000 --bin-events 10",
            "--normalize-max-gain 2",
            "--normalize-events 100 --normalize-max-gain 0",
            "--bin-us 0",
            "--bin-events 0",
            "--bins 0",
            "--hop 0",
            "--average 0",
            "--downsample 0",
            "--clip 0",
            "--slices 0",
        ] {
            assert!(window_options(flags).is_err(), "{flags} was accepted");
        }
    }

    #[test]
    fn contradictory_flags_are_refused_without_clap_too() {
        // Python's keywords reach `options` without clap's checks.
        let both = ClassifyFlags {
            bin_us: Some(1000),
            bin_events: Some(10),
            ..ClassifyFlags::default()
        };
        assert_eq!(both.options(), Err(FlagError::TwoBinLengths));
        let no_gain = ClassifyFlags {
            normalize_events: Some(100),
            normalize_max_gain: 0,
            ..ClassifyFlags::default()
        };
        assert_eq!(no_gain.options(), Err(FlagError::NoGain));
    }
}
