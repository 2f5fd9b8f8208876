//! The training loop: it learns, writes its run directory, resumes exactly, stops on NaN without
//! losing the last checkpoint, and distills from our checkpoints and from TorchScript teachers.

use std::path::{Path, PathBuf};

use sdt_train::augment::AugmentConfig;
use sdt_train::checkpoint::{self, STATE_FILE, WEIGHTS_FILE};
use sdt_train::config::TrainConfig;
use sdt_train::data::{load_digits, Dataset, Source, Split};
use sdt_train::distill::{DistillConfig, DistillMode, Teacher};
use sdt_train::eval::{evaluate, Simulate};
use sdt_train::train::{EpochMetrics, Trainer, METRICS_FILE, PLOT_FILE};
use sdt_train::weights::load_safetensors;
use sdt_train::{Error, Sdt, SdtConfig};
use tch::nn::VarStore;
use tch::{Device, Tensor};

/// libtorch has one global random generator: tests that seed it must not interleave.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    RNG.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn tiny() -> SdtConfig {
    SdtConfig {
        embed_dims: [8, 16, 16, 16],
        in_channels: 1,
        image_size: 16,
        num_classes: 10,
        num_heads: 8,
        spike_max: 4,
    }
}

fn digits() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits.safetensors")
}

fn subset(split: Split, n: i64) -> Dataset {
    let data = load_digits(&digits(), split, 16).expect("digits");
    let (x, y) = data.batch(0, n).expect("subset");
    Dataset::new(x.copy(), y.copy()).expect("dataset")
}

fn run_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sdt-train-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn model(seed: i64) -> (VarStore, Sdt) {
    tch::manual_seed(seed);
    let vs = VarStore::new(Device::Cpu);
    let model = Sdt::new(&vs.root(), tiny()).expect("model");
    (vs, model)
}

fn trainer<'a>(
    vs: &'a VarStore,
    model: &'a Sdt,
    config: &'a TrainConfig,
    dir: Option<&'a Path>,
) -> Trainer<'a> {
    Trainer {
        vs,
        model,
        config,
        teacher: None,
        run_dir: dir,
        resume: true,
        stop_after: None,
        progress: false,
        dist: None,
    }
}

/// Fitting 64 samples (4 steps an epoch): without a working gradient the loss would not move.
fn fit_config(weight_bits: Option<u8>) -> TrainConfig {
    TrainConfig {
        epochs: 30,
        batch_size: 16,
        lr: Some(1e-2),
        warmup_epochs: 0,
        label_smoothing: 0.0,
        weight_bits,
        ..TrainConfig::default()
    }
}

fn without_time(h: &[EpochMetrics]) -> Vec<EpochMetrics> {
    h.iter()
        .map(|m| EpochMetrics {
            seconds: 0.0,
            ..m.clone()
        })
        .collect()
}

#[test]
fn loss_falls_and_the_run_directory_is_complete() {
    let _serial = serial();
    let (train_set, test_set) = (subset(Split::Train, 64), subset(Split::Test, 64));
    let dir = run_dir("fit");
    let (vs, net) = model(3);
    let config = fit_config(None);
    let mut sink = Vec::new();
    let history = trainer(&vs, &net, &config, Some(&dir))
        .run(&train_set, &test_set, &mut sink)
        .expect("train");
    let lines: Vec<serde_json::Value> = String::from_utf8(sink)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 30);
    let (first, last) = (&history[0], &history[history.len() - 1]);
    println!(
        "train loss {:.3} -> {:.3}, train acc {:.3} -> {:.3}",
        first.train_loss, last.train_loss, first.train_acc, last.train_acc
    );
    // A smoke test of the gradient path; the digits recipe test shows real learning.
    assert!(
        last.train_loss < first.train_loss - 0.05,
        "loss did not fall"
    );
    assert!(last.train_acc > first.train_acc, "accuracy did not rise");

    for file in [WEIGHTS_FILE, STATE_FILE, METRICS_FILE, PLOT_FILE] {
        assert!(dir.join(file).is_file(), "{file} missing");
    }
    let metrics = std::fs::read_to_string(dir.join(METRICS_FILE)).expect("metrics");
    assert_eq!(metrics.lines().count(), 30);
    // The exported weights load into a fresh model and compute the same logits.
    let (vs2, net2) = model(99);
    load_safetensors(&vs2, &dir.join(WEIGHTS_FILE)).expect("load");
    let a = evaluate(&net, &test_set, 64, Simulate::default(), Device::Cpu).expect("eval");
    let b = evaluate(&net2, &test_set, 64, Simulate::default(), Device::Cpu).expect("eval");
    assert_eq!((&a.logits - &b.logits).abs().max().double_value(&[]), 0.0);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn quantization_aware_training_learns() {
    let _serial = serial();
    let (train_set, test_set) = (subset(Split::Train, 64), subset(Split::Test, 32));
    let (vs, net) = model(3);
    let config = fit_config(Some(4));
    let history = trainer(&vs, &net, &config, None)
        .run(&train_set, &test_set, &mut std::io::sink())
        .expect("train");
    let (first, last) = (&history[0], &history[history.len() - 1]);
    println!(
        "QAT int4: train loss {:.3} -> {:.3}",
        first.train_loss, last.train_loss
    );
    assert!(last.train_loss < first.train_loss - 0.05);
    assert_eq!(last.weight_bits, Some(4));
}

/// Every source of randomness on: shuffling, shifts, mixup/cutmix, drop path.
fn noisy_config() -> TrainConfig {
    TrainConfig {
        epochs: 4,
        batch_size: 16,
        lr: Some(2e-3),
        warmup_epochs: 1,
        drop_path: 0.2,
        clip_grad: Some(1.0),
        weight_bits: Some(8),
        input_absmax: Some(1.0),
        augment: AugmentConfig {
            shift: 2,
            mixup_alpha: 0.8,
            cutmix_alpha: 1.0,
            mix_prob: 0.7,
        },
        ..TrainConfig::default()
    }
}

#[test]
fn an_interrupted_run_resumes_exactly() {
    let _serial = serial();
    let (train_set, test_set) = (subset(Split::Train, 48), subset(Split::Test, 32));
    let config = noisy_config();

    let straight_dir = run_dir("straight");
    let (vs_a, net_a) = model(5);
    let straight = trainer(&vs_a, &net_a, &config, Some(&straight_dir))
        .run(&train_set, &test_set, &mut std::io::sink())
        .expect("straight run");

    // Same start, stopped after 2 epochs, then a fresh process-like restart from disk.
    let resumed_dir = run_dir("resumed");
    let (vs_b, net_b) = model(5);
    let mut first = trainer(&vs_b, &net_b, &config, Some(&resumed_dir));
    first.stop_after = Some(2);
    let part = first
        .run(&train_set, &test_set, &mut std::io::sink())
        .expect("first half");
    assert_eq!(part.len(), 2);
    drop((vs_b, net_b));
    let (vs_c, net_c) = model(77);
    let resumed = trainer(&vs_c, &net_c, &config, Some(&resumed_dir))
        .run(&train_set, &test_set, &mut std::io::sink())
        .expect("resumed run");

    assert_eq!(without_time(&straight), without_time(&resumed));
    let (va, vc) = (vs_a.variables(), vs_c.variables());
    for (name, t) in &va {
        assert!(t.equal(&vc[name]), "{name} differs after resuming");
    }

    // Resuming with other hyper-parameters is refused.
    let other = TrainConfig {
        lr: Some(1e-3),
        ..config.clone()
    };
    let (vs_d, net_d) = model(5);
    let err = trainer(&vs_d, &net_d, &other, Some(&resumed_dir))
        .run(&train_set, &test_set, &mut std::io::sink())
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    std::fs::remove_dir_all(&straight_dir).ok();
    std::fs::remove_dir_all(&resumed_dir).ok();
}

/// A data set whose second epoch carries a NaN pixel.
struct PoisonedSecondEpoch {
    data: Dataset,
    epochs: std::cell::Cell<u32>,
}

impl Source for PoisonedSecondEpoch {
    fn len(&self) -> i64 {
        self.data.len()
    }

    fn batches<'a>(
        &'a self,
        order: Vec<i64>,
        batch_size: i64,
        seed: u64,
    ) -> Box<dyn Iterator<Item = sdt_train::Result<(Tensor, Tensor)>> + 'a> {
        self.epochs.set(self.epochs.get() + 1);
        let poison = self.epochs.get() == 2;
        Box::new(self.data.batches(order, batch_size, seed).map(move |b| {
            b.map(|(x, y)| {
                if poison {
                    let _ = x.get(0).get(0).get(3).get(3).fill_(f64::NAN);
                }
                (x, y)
            })
        }))
    }
}

#[test]
fn a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let _serial = serial();
    let train_set = PoisonedSecondEpoch {
        data: subset(Split::Train, 32),
        epochs: std::cell::Cell::new(0),
    };
    let test_set = subset(Split::Test, 16);
    let dir = run_dir("nan");
    let (vs, net) = model(3);
    let config = TrainConfig {
        epochs: 3,
        ..fit_config(None)
    };
    let err = trainer(&vs, &net, &config, Some(&dir))
        .run(&train_set, &test_set, &mut std::io::sink())
        .unwrap_err();
    println!("{err}");
    assert!(
        matches!(err, Error::NonFinite { epoch: 2, .. }),
        "expected a NaN stop in epoch 2, got {err}"
    );
    // The checkpoint of epoch 1 is intact and resumable; its weights are finite.
    let (vs2, net2) = model(8);
    let mut opt = sdt_train::optim::AdamW::new(&vs2, Default::default()).expect("opt");
    let progress = checkpoint::load(&dir, &vs2, &mut opt).expect("last good checkpoint");
    assert_eq!(progress.epoch, 1);
    for (name, t) in vs2.variables() {
        let finite = t.isfinite().all().int64_value(&[]) == 1;
        assert!(finite, "{name} is not finite in the saved checkpoint");
    }
    drop(net2);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn distills_from_one_of_our_checkpoints() {
    let _serial = serial();
    let (train_set, test_set) = (subset(Split::Train, 32), subset(Split::Test, 32));
    // Teacher: a briefly trained tiny model saved in a run directory.
    let teacher_dir = run_dir("teacher");
    let (vs_t, net_t) = model(11);
    let config = TrainConfig {
        epochs: 5,
        ..fit_config(None)
    };
    trainer(&vs_t, &net_t, &config, Some(&teacher_dir))
        .run(&train_set, &test_set, &mut std::io::sink())
        .expect("teacher");
    let teacher =
        Teacher::checkpoint(&teacher_dir.join(WEIGHTS_FILE), tiny(), Device::Cpu).expect("teacher");

    for mode in [DistillMode::Soft, DistillMode::Hard] {
        let (vs, net) = model(12);
        let config = TrainConfig {
            epochs: 3,
            distill: DistillConfig {
                mode,
                alpha: 0.5,
                tau: 2.0,
            },
            ..fit_config(None)
        };
        let mut t = trainer(&vs, &net, &config, None);
        t.teacher = Some(&teacher);
        let history = t
            .run(&train_set, &test_set, &mut std::io::sink())
            .expect("distilled run");
        assert!(history.iter().all(|m| m.train_loss.is_finite()));
        // Without a teacher the same configuration is refused.
        let (vs2, net2) = model(12);
        assert!(trainer(&vs2, &net2, &config, None)
            .run(&train_set, &test_set, &mut std::io::sink())
            .is_err());
    }
    std::fs::remove_dir_all(&teacher_dir).ok();
}

#[test]
fn a_torchscript_teacher_gives_logits_and_trains_a_student() {
    let _serial = serial();
    let dir = run_dir("script");
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("teacher.pt");
    let script = format!(
        "import torch\n\
         m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 10))\n\
         torch.jit.trace(m.eval(), torch.zeros(2, 1, 16, 16)).save({:?})\n",
        path.to_str().expect("utf-8 path")
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect(
            "python3 not found: run the trainer's tests through ./scripts/test.sh or after \
             `eval \"$(bash scripts/torch-env.sh)\"`, which provide the venv's python with torch",
        );
    assert!(
        out.status.success(),
        "building the TorchScript teacher failed (is torch installed in the venv? run \
         `bash scripts/torch-env.sh`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let teacher = Teacher::torchscript(&path, Device::Cpu).expect("load TorchScript");
    let x = Tensor::zeros([3, 1, 16, 16], (tch::Kind::Float, Device::Cpu));
    assert_eq!(teacher.logits(&x).expect("logits").size(), [3, 10]);

    let (train_set, test_set) = (subset(Split::Train, 32), subset(Split::Test, 16));
    let (vs, net) = model(13);
    let config = TrainConfig {
        epochs: 2,
        distill: DistillConfig {
            mode: DistillMode::Soft,
            alpha: 0.7,
            tau: 3.0,
        },
        ..fit_config(None)
    };
    let mut t = trainer(&vs, &net, &config, None);
    t.teacher = Some(&teacher);
    let history = t
        .run(&train_set, &test_set, &mut std::io::sink())
        .expect("distilled run");
    assert_eq!(history.len(), 2);
    assert!(Teacher::torchscript(&dir.join("missing.pt"), Device::Cpu).is_err());
    std::fs::remove_dir_all(&dir).ok();
}
