//! The bundled digits recipe, from scratch on the CPU: the trained model must reach 95 % on the
//! fixed 360-digit test split (the official recipe's yardstick is 85.8 %), and its int8 blob on
//! the integer runtime must score the same within 0.3 points.

use std::path::Path;
use std::time::Instant;

use sdt_train::config::TrainConfig;
use sdt_train::data::{load_digits, Split};
use sdt_train::deploy;
use sdt_train::eval::Simulate;
use sdt_train::train::Trainer;
use sdt_train::{Sdt, SdtConfig};
use tch::nn::VarStore;
use tch::Device;

#[test]
fn digits_recipe_reaches_95_percent_and_the_int8_blob_agrees() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = TrainConfig::from_file(&root.join("configs/digits.toml")).expect("recipe");
    let preset = SdtConfig::digits32();
    let data = root.join("data/digits.safetensors");
    let train_set = load_digits(&data, Split::Train, preset.image_size).expect("train split");
    let test_set = load_digits(&data, Split::Test, preset.image_size).expect("test split");
    assert_eq!(test_set.len(), 360);

    tch::manual_seed(config.seed);
    let vs = VarStore::new(Device::Cpu);
    let model = Sdt::new(&vs.root(), preset).expect("model");
    let dir = std::env::temp_dir().join(format!("sdt-digits-recipe-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let started = Instant::now();
    let history = Trainer {
        vs: &vs,
        model: &model,
        config: &config,
        teacher: None,
        run_dir: Some(&dir),
        resume: false,
        stop_after: None,
        progress: false,
        dist: None,
    }
    .run(&train_set, &test_set, &mut std::io::sink())
    .expect("training");
    let seconds = started.elapsed().as_secs_f64();
    let last = history.last().expect("epochs");

    let blob = deploy::pack(
        &vs,
        &model,
        8,
        config.input_absmax.unwrap_or(1.0),
        &Default::default(),
        None,
    )
    .expect("int8 blob");
    let report = deploy::compare(
        &model,
        &blob,
        8,
        &test_set,
        Simulate::from_config(&config).expect("simulation"),
        false,
    )
    .expect("runtime check");
    println!(
        "digits recipe: {} epochs in {seconds:.0} s ({:.1} min); test accuracy {:.2} % \
         (libtorch, int8 QAT); int8 blob on sdt-core {:.2} %, top-1 agreement {:.2} %, \
         {} bytes, firing {:.1} %, {:.3e} SOPs, {:.3} µJ per image",
        last.epoch,
        seconds / 60.0,
        100.0 * last.test_acc,
        100.0 * report.blob_accuracy,
        100.0 * report.top1_agreement,
        report.blob_bytes,
        100.0 * report.firing_rate,
        report.sops_per_image,
        report.energy_uj_per_image,
    );
    std::fs::remove_dir_all(&dir).ok();

    assert!(
        last.test_acc >= 0.95,
        "test accuracy {:.4} < 0.95",
        last.test_acc
    );
    assert!(
        (report.blob_accuracy - report.trained_accuracy).abs() <= 0.003 + 1e-9,
        "blob accuracy {:.4} vs trained {:.4}: more than 0.3 points apart",
        report.blob_accuracy,
        report.trained_accuracy
    );
}
