//! Trains the DVS gesture model on simulated event clips (or a DVS128 Gesture folder), packs it as an int8 blob and
//! evaluates held-out clips (new people, backgrounds, sensors) through the core's streaming
//! classifier, window by window.
//!
//! ```sh
//! eval "$(bash scripts/torch-env.sh)"
//! cargo run --release -p sdt-train --bin train_gesture -- --out runs/gesture
//! # realistic scenes and sensors, domain-randomized, plus 2 augmented copies per clip:
//! cargo run --release -p sdt-train --bin train_gesture -- --out runs/gesture-dr --realistic --augment-copies 2
//! ```

mod held_out;

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use rayon::prelude::*;
use sdt_core::meta::{BinLength, CountNormalization, EventFraming, InputKind, PolarityLayout};
use sdt_dvs::augment::EventAugment;
use sdt_dvs::sim::{class_names, clip, Gesture, Randomization, SimOptions};
use sdt_events::Geometry;
use sdt_host::blob::BlobMeta;
use sdt_host::AlignedBlob;
use sdt_train::config::TrainConfig;
use sdt_train::data::Source;
use sdt_train::deploy;
use sdt_train::eval::Simulate;
use sdt_train::events::{augmented, Clip, EventFrames, Framing, FreshCopies, INPUT_ABSMAX};
use sdt_train::train::Trainer;
use sdt_train::{Error, Result, Sdt, SdtConfig};

use held_out::{held_out, HeldOut};
use serde::Serialize;
use tch::nn::VarStore;
use tch::Device;

/// Seeds of training clips start here, held-out clips at `TEST_SEEDS`: disjoint people.
const TRAIN_SEEDS: u64 = 1_000_000;
const TEST_SEEDS: u64 = 2_000_000;
/// Held-out clips of the robustness table: other people again.
const ROBUSTNESS_SEEDS: u64 = 3_000_000;
/// Training clips of the original simulator next to realistic ones (--plain-per-class).
const PLAIN_SEEDS: u64 = 4_000_000;
/// The DVS128 sensor.
const SENSOR: u16 = 128;

#[derive(Parser)]
#[command(about = "Train the DVS gesture model on simulated events")]
struct Args {
    /// Run directory: checkpoint, metrics, gesture_int8.blob, report.json.
    #[arg(long)]
    out: PathBuf,
    /// Hyper-parameters (TOML).
    #[arg(long, default_value = "train/configs/gesture.toml")]
    config: PathBuf,
    #[arg(long)]
    epochs: Option<u64>,
    /// Training clips per class.
    #[arg(long, default_value_t = 40)]
    train_per_class: u64,
    /// Held-out clips per class.
    #[arg(long, default_value_t = 10)]
    test_per_class: u64,
    /// Clip length (ms).
    #[arg(long, default_value_t = 1500)]
    clip_ms: u64,
    /// Train on a DVS128 Gesture folder instead (`userNN_*.aedat` + `_labels.csv`): users
    /// 1-23 train, 24-29 are held out, as in the dataset's split.
    #[arg(long)]
    dvs128: Option<PathBuf>,
    /// Simulate with the realistic, domain-randomized simulator (textured people, close-ups,
    /// clutter, flicker, a noisy sensor; mirrored scenes carry the mirrored label) instead of
    /// the original one, for training and held-out clips.
    #[arg(long)]
    realistic: bool,
    /// Augmented copies of every training clip (crop/zoom, rotation, shift, mirror with the
    /// class swap, time stretch, drop, noise, hot pixels, polarity jitter).
    #[arg(long, default_value_t = 0)]
    augment_copies: u32,
    /// Draw the augmented copies anew every epoch (on-the-fly augmentation: no copy is seen
    /// twice) instead of once before training. Each epoch then spends time augmenting.
    #[arg(long)]
    fresh_copies: bool,
    /// Probability that an augmented copy is played backwards (circles swap direction with
    /// their label; `sdt_dvs::augment::time_reverse`). Off by default.
    #[arg(long, default_value_t = EventAugment::default().reverse_prob)]
    reverse_prob: f64,
    /// With --realistic: also train on this many clips per class of the original simulator
    /// (other people), so the model keeps what it learned there.
    #[arg(long, default_value_t = 0)]
    plain_per_class: u64,
    /// Model input side (the 128×128 sensor is downsampled by 128 / size).
    #[arg(long, default_value_t = 32)]
    size: u16,
    /// Bin length (ms): one model run per bin.
    #[arg(long, default_value_t = 50)]
    bin_ms: u64,
    /// Bins per window (T).
    #[arg(long, default_value_t = 8)]
    bins: u16,
    /// Slices per bin, each its own OFF/ON input channel pair: the order of the motion inside
    /// a bin (which way an arm turns) becomes visible to the stateless per-bin model.
    #[arg(long, default_value_t = 1)]
    slices: u8,
    /// With --realistic: held-out clips per class for each row of the robustness table
    /// (noise 1×-10×, scale 0.5×-2×, speed 0.5×-2×; 0 skips the table).
    #[arg(long, default_value_t = 3)]
    robustness_per_class: u64,
    /// A new window every `hop` bins.
    #[arg(long, default_value_t = 4)]
    hop: u16,
    /// Lift each bin of n < N events towards N (every count times round(N / n), at most 4×),
    /// in training and in the blob's framing, so that dim scenes reach the counts of busy
    /// ones (0: counts as seen).
    #[arg(long, value_name = "N", default_value_t = 0)]
    normalize_events: u32,
    /// embed_dim (four widths; the last two multiples of 8).
    #[arg(long, value_delimiter = ',', default_value = "16,32,48,64")]
    dims: Vec<i64>,
    /// Torch threads (one is fastest on a busy two-core machine: spinning threads collide).
    #[arg(long, default_value_t = 1)]
    threads: i32,
    /// Train on the first CUDA GPU (an error if there is none). Simulation, packing and the
    /// held-out scoring stay on the CPU, so the blob and its report do not depend on it.
    #[arg(long)]
    cuda: bool,
    /// Go on from the run directory's last checkpoint (same flags, same clips: the simulator
    /// and the augmentations are seeded).
    #[arg(long)]
    resume: bool,
    /// Stop (checkpointed, no blob yet) once this many epochs are done, e.g. to fit a time
    /// slot; `--resume` with the same flags goes on.
    #[arg(long, value_name = "EPOCHS")]
    stop_after: Option<u64>,
    /// Evaluate this blob on the held-out clips (and the robustness table with --realistic)
    /// instead of training one; writes report.json with the evaluation only.
    #[arg(long, value_name = "BLOB")]
    evaluate: Option<PathBuf>,
    #[arg(long)]
    quiet: bool,
}

#[derive(Serialize)]
struct Report {
    train_clips: usize,
    test_clips: usize,
    train_samples: i64,
    test_samples: i64,
    seconds_simulating: f64,
    seconds_training: f64,
    params: i64,
    blob_bytes: usize,
    /// Per bin, libtorch with the training's simulation and the blob on the core.
    bin_accuracy_trained: f64,
    bin_accuracy_blob: f64,
    bin_top1_agreement: f64,
    /// Through the core's streaming classifier.
    #[serde(flatten)]
    held_out: HeldOut,
}

/// One clip per `(gesture, seed)`, simulated on all cores (each clip is seeded, so the clips do
/// not depend on how many there are).
fn simulate(
    gestures: &[(Gesture, u64)],
    clip_us: u64,
    realistic: Option<&Randomization>,
) -> Result<Vec<Clip>> {
    let opts = SimOptions::default();
    gestures
        .par_iter()
        .map(|&(g, seed)| {
            let (events, shown) = match realistic {
                Some(r) => {
                    let f = r
                        .clip(g, clip_us, seed)
                        .map_err(|e| Error::Data(format!("simulator: {e}")))?;
                    (f.events, f.gesture)
                }
                None => (
                    clip(g, clip_us, &opts, seed)
                        .map_err(|e| Error::Data(format!("simulator: {e}")))?,
                    g,
                ),
            };
            Ok(Clip {
                events,
                label: shown.index() as i64,
            })
        })
        .collect()
}

/// The labelled clips of a DVS128 Gesture folder's recordings of `users`.
fn real_clips(dir: &std::path::Path, users: std::ops::RangeInclusive<u32>) -> Result<Vec<Clip>> {
    let clips = sdt_dvs::dvs128::load_dir(dir, Some(users.clone()))
        .map_err(|e| Error::Data(format!("DVS128 Gesture: {e}")))?;
    if clips.is_empty() {
        return Err(Error::Data(format!(
            "{}: no labelled recordings of users {users:?}",
            dir.display()
        )));
    }
    Ok(clips
        .into_iter()
        .map(|c| Clip {
            events: c.events,
            label: c.class as i64,
        })
        .collect())
}

fn plan(per_class: u64, base: u64) -> Vec<(Gesture, u64)> {
    (0..per_class)
        .flat_map(|k| {
            Gesture::ALL
                .iter()
                .map(move |&g| (g, base + k * 100 + g.index() as u64))
        })
        .collect()
}

fn main() -> std::process::ExitCode {
    match run(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<()> {
    tch::set_num_threads(args.threads);
    let mut config = TrainConfig::from_file(&args.config)?;
    if let Some(e) = args.epochs {
        config.epochs = e;
    }
    config.input_absmax = Some(INPUT_ABSMAX);
    let weight_bits = config.weight_bits.unwrap_or(8);
    let dims: [i64; 4] = args
        .dims
        .clone()
        .try_into()
        .map_err(|_| Error::Config("--dims takes four widths".into()))?;
    if args.slices == 0 {
        return Err(Error::Config("--slices must be at least 1".into()));
    }
    if args.size == 0 || !SENSOR.is_multiple_of(args.size) {
        return Err(Error::Config(format!("--size must divide {SENSOR}")));
    }
    let model_cfg = SdtConfig {
        embed_dims: dims,
        in_channels: 2 * i64::from(args.slices),
        image_size: i64::from(args.size),
        num_classes: Gesture::ALL.len() as i64,
        num_heads: 8,
        spike_max: 4,
    };
    let framing = Framing {
        geometry: Geometry::new(SENSOR, SENSOR),
        bin_us: args.bin_ms * 1000,
        downsample: SENSOR / args.size,
        clip: model_cfg.spike_max,
        slices: args.slices,
        min_events: 20,
        normalize: CountNormalization::towards(
            args.normalize_events,
            CountNormalization::DEFAULT_MAX_GAIN,
        ),
    };
    std::fs::create_dir_all(&args.out).map_err(|e| Error::io(&args.out, e))?;

    let started = Instant::now();
    let device = match (args.cuda, tch::Cuda::is_available()) {
        (false, _) => Device::Cpu,
        (true, true) => Device::Cuda(0),
        (true, false) => return Err(Error::NoCuda),
    };
    let clip_us = args.clip_ms * 1000;
    let randomization = Randomization::default();
    let realistic = args.realistic.then_some(&randomization);
    let test_clips = match &args.dvs128 {
        Some(dir) => real_clips(dir, 24..=29)?,
        None => simulate(&plan(args.test_per_class, TEST_SEEDS), clip_us, realistic)?,
    };
    // The held-out clips (and the robustness table) through a blob, as its users run it.
    let score = |model: &sdt_core::Model<'_>| {
        held_out(
            model,
            &test_clips,
            framing.geometry,
            args.realistic,
            args.robustness_per_class,
            clip_us,
        )
    };
    if let Some(path) = &args.evaluate {
        let blob =
            AlignedBlob::read(path).map_err(|e| Error::Data(format!("{}: {e}", path.display())))?;
        let model = blob
            .model()
            .map_err(|e| Error::Data(format!("{}: {e}", path.display())))?;
        return write_report(&args.out, &score(&model)?);
    }
    let mut train_clips = match &args.dvs128 {
        Some(dir) => real_clips(dir, 1..=23)?,
        None => simulate(&plan(args.train_per_class, TRAIN_SEEDS), clip_us, realistic)?,
    };
    if args.realistic && args.dvs128.is_none() && args.plain_per_class > 0 {
        let plain = plan(args.plain_per_class, PLAIN_SEEDS);
        train_clips.extend(simulate(&plain, clip_us, None)?);
    }
    let augment = EventAugment {
        reverse_prob: args.reverse_prob,
        ..EventAugment::default()
    };
    let (train, train_clips): (Box<dyn Source>, usize) = if args.fresh_copies {
        let fresh = FreshCopies::new(train_clips, framing, augment, args.augment_copies)?;
        let clips = fresh.clips_per_epoch();
        (Box::new(fresh), clips)
    } else {
        let clips = augmented(
            &train_clips,
            framing.geometry,
            &augment,
            args.augment_copies,
            TRAIN_SEEDS,
        )?;
        (Box::new(EventFrames::new(&clips, &framing)?), clips.len())
    };
    let test = EventFrames::new(&test_clips, &framing)?;
    let seconds_simulating = started.elapsed().as_secs_f64();
    eprintln!(
        "{} training + {} held-out clips ({} + {} bins) ready in {seconds_simulating:.0} s",
        train_clips,
        test_clips.len(),
        train.len(),
        test.len_samples()
    );

    tch::manual_seed(config.seed);
    let mut vs = VarStore::new(device);
    let model = Sdt::new(&vs.root(), model_cfg)?;
    let params: i64 = vs
        .trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum();
    let quick_test = test.subsample(4)?;
    let started = Instant::now();
    let trainer = Trainer {
        vs: &vs,
        model: &model,
        config: &config,
        teacher: None,
        run_dir: Some(&args.out),
        resume: args.resume,
        stop_after: args.stop_after,
        progress: !args.quiet,
        dist: None,
    };
    let mut stdout = std::io::stdout();
    let history = trainer.run(train.as_ref(), &quick_test, &mut stdout)?;
    let seconds_training = started.elapsed().as_secs_f64();
    if (history.len() as u64) < config.epochs {
        eprintln!(
            "stopped after epoch {} of {}; --resume with the same flags goes on",
            history.len(),
            config.epochs
        );
        return Ok(());
    }
    // Packing and the per-bin comparison run on the CPU; moving the variables in place keeps
    // the model's handles to them valid.
    vs.set_device(Device::Cpu);

    let blob_path = args.out.join("gesture_int8.blob");
    // The blob says how to frame events for it and what its classes are called.
    let meta = BlobMeta {
        name: "dvs_gesture".into(),
        class_names: class_names().iter().map(|&n| n.to_owned()).collect(),
        input: InputKind::Events(EventFraming {
            bin: BinLength::Micros(framing.bin_us),
            bins: args.bins,
            hop: args.hop,
            downsample: framing.downsample,
            clip: framing.clip,
            polarity: match args.slices {
                1 => PolarityLayout::OffOn,
                n => PolarityLayout::OffOnPerSlice(n),
            },
            sensor: (framing.geometry.width, framing.geometry.height),
            normalize: framing.normalize,
        }),
    };
    let blob = deploy::pack(
        &vs,
        &model,
        weight_bits,
        INPUT_ABSMAX,
        &meta,
        Some(&blob_path),
    )?;
    let sim = Simulate::from_config(&config)?;
    let test_set = test.to_dataset()?;
    let per_bin = deploy::compare(&model, &blob, weight_bits, &test_set, sim, false)?;

    let core_model = blob
        .model()
        .map_err(|e| Error::Data(format!("blob: {e}")))?;
    let held_out = score(&core_model)?;
    let report = Report {
        train_clips,
        test_clips: test_clips.len(),
        train_samples: train.len(),
        test_samples: test.len_samples(),
        seconds_simulating,
        seconds_training,
        params,
        blob_bytes: blob.bytes().len(),
        bin_accuracy_trained: per_bin.trained_accuracy,
        bin_accuracy_blob: per_bin.blob_accuracy,
        bin_top1_agreement: per_bin.top1_agreement,
        held_out,
    };
    write_report(&args.out, &report)?;
    eprintln!("wrote {}", blob_path.display());
    Ok(())
}

/// Prints `report` and writes it to `out/report.json`.
fn write_report(out: &std::path::Path, report: &impl Serialize) -> Result<()> {
    let json = serde_json::to_string_pretty(report)?;
    println!("{json}");
    let path = out.join("report.json");
    File::create(&path)
        .and_then(|mut f| f.write_all(json.as_bytes()))
        .map_err(|e| Error::io(&path, e))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
