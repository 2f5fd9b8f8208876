//! The trained digits model (official class, 1.25 M parameters): accuracy of the integer
//! runtime on the 360 test digits against the official float model.

use sdt_convert::verify::{evaluate, EvalReport};
use sdt_core::graph::WeightBits;
use sdt_core::{Kernel, Sequential};
use sdt_tests::{blob_of, load};

fn eval(bits: WeightBits, wide_input: bool) -> EvalReport {
    let ck = load("sdt_digits32_seed1.safetensors");
    let blob = blob_of(&ck, 32, bits, wide_input, 1.0);
    let model = blob.model().unwrap();
    let test = load("sdt_digits32_seed1_test.safetensors");
    let r = evaluate(&model, &test, Kernel::SpikeDriven, &Sequential, None, false).unwrap();
    println!("{bits:?} wide input {wide_input}: {r:?}");
    assert_eq!(r.images, 360);
    r
}

#[test]
fn int8_accuracy() {
    let r = eval(WeightBits::I8, false);
    assert!(r.accuracy >= 0.829, "int8 accuracy {}", r.accuracy);
}

/// Packed 4-bit weights: within a point of the int4 yardstick (82.5 %, weights fake-quantized
/// in PyTorch), about half the blob of int8, and both kernels give the same logits.
#[test]
fn int4_accuracy_size_and_kernels() {
    let r = eval(WeightBits::I4, false);
    assert!(r.accuracy >= 0.815, "int4 accuracy {}", r.accuracy);
    let ck = load("sdt_digits32_seed1.safetensors");
    let (b4, b8) = (
        blob_of(&ck, 32, WeightBits::I4, false, 1.0),
        blob_of(&ck, 32, WeightBits::I8, false, 1.0),
    );
    let ratio = b4.bytes().len() as f64 / b8.bytes().len() as f64;
    println!(
        "int4 blob {} bytes, int8 {} ({ratio:.3}×)",
        b4.bytes().len(),
        b8.bytes().len()
    );
    assert!(ratio <= 0.6, "int4 blob {ratio}× the int8 one");
    let model = b4.model().unwrap();
    let test = load("sdt_digits32_seed1_test.safetensors");
    let spike = evaluate(
        &model,
        &test,
        Kernel::SpikeDriven,
        &Sequential,
        Some(40),
        false,
    );
    let dense = evaluate(&model, &test, Kernel::Dense, &Sequential, Some(40), false);
    let (spike, dense) = (spike.unwrap(), dense.unwrap());
    assert_eq!(spike.accuracy, dense.accuracy);
    assert_eq!(spike.max_abs_logit_diff, dense.max_abs_logit_diff);
}

#[test]
fn int16_accuracy_and_agreement() {
    let r = eval(WeightBits::I16, true);
    assert!(r.accuracy >= 0.848, "int16 accuracy {}", r.accuracy);
    assert!(
        r.top1_agreement >= 0.93,
        "int16 top-1 agreement {}",
        r.top1_agreement
    );
}

#[test]
fn pth_and_safetensors_give_the_same_blob() {
    let a = blob_of(
        &load("sdt_digits32_seed1.pth"),
        32,
        WeightBits::I8,
        false,
        1.0,
    );
    let b = blob_of(
        &load("sdt_digits32_seed1.safetensors"),
        32,
        WeightBits::I8,
        false,
        1.0,
    );
    assert_eq!(a.bytes(), b.bytes());
}

/// The command of examples/data/README.md: `sdt-convert pack` with the digits metadata.
#[test]
fn bundled_blob_is_a_fresh_conversion() {
    use sdt_convert::meta::{class_names, ClassNames};
    use sdt_convert::{pack_checkpoint, MetaOptions, PackOptions};
    let opt = PackOptions {
        input_size: 32,
        input_absmax: 1.0,
        meta: MetaOptions {
            name: Some("digits32".into()),
            class_names: Some(ClassNames(class_names("0,1,2,3,4,5,6,7,8,9").unwrap())),
            image_mean: Some(vec![0.5]),
            image_std: Some(vec![0.5]),
            ..MetaOptions::default()
        },
        ..PackOptions::default()
    };
    let ck = load("sdt_digits32_seed1.safetensors");
    let fresh = pack_checkpoint(&ck, &opt, &mut |_| {}).unwrap().2;
    // The metadata changes neither the graph nor the weights.
    let plain = blob_of(&ck, 32, WeightBits::I8, false, 1.0);
    let (a, b) = (
        sdt_core::blob::parse(fresh.bytes()).unwrap(),
        sdt_core::blob::parse(plain.bytes()).unwrap(),
    );
    assert!(a.graph == b.graph && a.data == b.data);
    let bundled = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/data/digits32_int8.blob"
    );
    let bundled = std::fs::read(bundled).expect("bundled blob examples/data/digits32_int8.blob");
    assert_eq!(
        fresh.bytes(),
        &bundled[..],
        "regenerate it with the command in examples/data/README.md"
    );
}
