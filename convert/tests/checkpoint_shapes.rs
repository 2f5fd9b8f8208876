//! Checkpoints as other tools save them: wrapped in container keys (`state_dict`, `model_ema`,
//! ...), names prefixed by `DistributedDataParallel` (`module.`) or `torch.compile`
//! (`_orig_mod.`), torch's legacy format, fp16/bf16 weights. Each must pack to the same blob
//! bytes as the plain checkpoint.
//!
//! The digits variants are written here from the golden checkpoint (`SDT_GOLDEN_DIR`); the
//! small files in `data/torch/` were written by real torch (`make_fixtures.py`).

mod support;

use std::path::PathBuf;

use sdt_convert::checkpoint::{load, load_bytes, Checkpoint, CheckpointError, Format, Origin};
use sdt_convert::{convert, ArchOptions, LowerOptions};
use sdt_core::graph::WeightBits;
use support::torch_save::{legacy_save, zip_save, Layout, Stored};

fn golden(name: &str) -> PathBuf {
    sdt_host::data::DataDir::Golden.require(name)
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/torch")
        .join(name)
}

/// The digits model packed with the deployment settings.
fn blob(ck: &Checkpoint) -> Vec<u8> {
    let arch = ArchOptions {
        heads: 8,
        d: 4,
        input_h: 32,
        input_w: 32,
    };
    let opt = LowerOptions {
        weight_bits: WeightBits::I8,
        input_absmax: 3.0,
        wide_input: false,
        spike_bias: 0.0,
    };
    let (_, _, blob) =
        convert(ck, arch, opt, &Default::default()).unwrap_or_else(|e| panic!("conversion: {e}"));
    blob.bytes().to_vec()
}

fn origin(format: Format, container: &[&str], stripped: &[&str]) -> Origin {
    Origin {
        format: Some(format),
        container: container.iter().map(|s| s.to_string()).collect(),
        stripped_prefixes: stripped.iter().map(|s| s.to_string()).collect(),
    }
}

/// Rounds an `f32` to what a narrower float type keeps.
type Round = fn(f32) -> f32;

/// `ck` with every floating-point value rounded through `round` (what saving it in a
/// narrower type keeps).
fn rounded(ck: &Checkpoint, round: impl Fn(f32) -> f32) -> Checkpoint {
    let mut out = ck.clone();
    for (name, t) in &mut out.tensors {
        if !name.ends_with("num_batches_tracked") {
            t.data.iter_mut().for_each(|v| *v = round(*v));
        }
    }
    out
}

#[test]
fn wrapped_prefixed_and_legacy_checkpoints_pack_to_the_plain_blob() {
    let plain = load(&golden("sdt_digits32_seed1.pth")).expect("golden .pth loads");
    let reference = blob(&plain);
    let ddp = Layout {
        container: vec!["state_dict"],
        prefix: "module.",
    };
    let compiled = Layout {
        container: vec![],
        prefix: "_orig_mod.",
    };
    let compiled_ddp = Layout {
        container: vec!["model"],
        prefix: "module._orig_mod.",
    };
    let ema = Layout {
        container: vec!["model_ema"],
        prefix: "",
    };
    let nested = Layout {
        container: vec!["model", "module"],
        prefix: "",
    };
    let official = Layout {
        container: vec!["model"],
        prefix: "",
    };
    type Save = fn(&Checkpoint, &Layout, Stored) -> Vec<u8>;
    let cases: [(&str, Save, &Layout, Origin); 7] = [
        (
            "DDP",
            zip_save,
            &ddp,
            origin(Format::TorchZip, &["state_dict"], &["module."]),
        ),
        (
            "torch.compile",
            zip_save,
            &compiled,
            origin(Format::TorchZip, &[], &["_orig_mod."]),
        ),
        (
            "compiled inside DDP",
            zip_save,
            &compiled_ddp,
            origin(Format::TorchZip, &["model"], &["module.", "_orig_mod."]),
        ),
        (
            "model_ema",
            zip_save,
            &ema,
            origin(Format::TorchZip, &["model_ema"], &[]),
        ),
        (
            "model.module",
            zip_save,
            &nested,
            origin(Format::TorchZip, &["model", "module"], &[]),
        ),
        (
            "legacy",
            legacy_save,
            &official,
            origin(Format::TorchLegacy, &["model"], &[]),
        ),
        (
            "legacy DDP",
            legacy_save,
            &ddp,
            origin(Format::TorchLegacy, &["state_dict"], &["module."]),
        ),
    ];
    for (what, save, layout, expected) in cases {
        let ck = load_bytes(&save(&plain, layout, Stored::F32))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(ck.origin, expected, "{what}");
        assert_eq!(ck.tensors, plain.tensors, "{what}: tensors");
        assert!(blob(&ck) == reference, "{what}: blob bytes differ");
    }
}

#[test]
fn fp16_and_bf16_checkpoints_widen_to_the_same_blob() {
    let plain = load(&golden("sdt_digits32_seed1.pth")).expect("golden .pth loads");
    let official = Layout {
        container: vec!["model"],
        prefix: "",
    };
    let narrow: [(Stored, Round); 2] = [
        (Stored::F16, |v| half::f16::from_f32(v).to_f32()),
        (Stored::BF16, |v| half::bf16::from_f32(v).to_f32()),
    ];
    for (stored, round) in narrow {
        // The plain checkpoint holds the values the narrow one can hold, as f32.
        let plain = rounded(&plain, round);
        let reference = blob(&plain);
        for (format, bytes) in [
            ("zip", zip_save(&plain, &official, stored)),
            ("legacy", legacy_save(&plain, &official, stored)),
        ] {
            let ck = load_bytes(&bytes).unwrap_or_else(|e| panic!("{stored:?} {format}: {e}"));
            assert_eq!(ck.tensors, plain.tensors, "{stored:?} {format}");
            assert!(
                blob(&ck) == reference,
                "{stored:?} {format}: blob bytes differ"
            );
        }
    }
}

#[test]
fn checkpoints_written_by_torch_read_like_the_plain_one() {
    let plain = load(&fixture("plain.pth")).expect("plain.pth");
    assert_eq!(plain.origin, origin(Format::TorchZip, &[], &[]));
    assert_eq!(plain.tensors.len(), 8, "{:?}", plain.tensors.keys());
    let cases = [
        (
            "ddp.pth",
            origin(Format::TorchZip, &["state_dict"], &["module."]),
        ),
        (
            "compiled_ema.pth",
            origin(Format::TorchZip, &["model_ema"], &["_orig_mod."]),
        ),
        ("legacy.pth", origin(Format::TorchLegacy, &["model"], &[])),
    ];
    for (name, expected) in cases {
        let ck = load(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(ck.origin, expected, "{name}");
        assert_eq!(ck.tensors, plain.tensors, "{name}");
    }
    let narrow: [(&str, Format, &[&str], Round); 2] = [
        ("legacy_fp16.pth", Format::TorchLegacy, &["model"], |v| {
            half::f16::from_f32(v).to_f32()
        }),
        ("bf16.pth", Format::TorchZip, &[], |v| {
            half::bf16::from_f32(v).to_f32()
        }),
    ];
    for (name, format, container, round) in narrow {
        let ck = load(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(ck.origin, origin(format, container, &[]), "{name}");
        assert_eq!(ck.tensors, rounded(&plain, round).tensors, "{name}");
    }
}

#[test]
fn unknown_container_names_the_keys_it_found() {
    let err = load(&fixture("unknown_container.pth")).expect_err("no known container key");
    assert!(
        matches!(err, CheckpointError::UnknownContainer { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    for needle in [
        "net (a dict)",
        "epoch (int 3)",
        "optimizer (a dict)",
        "model, state_dict, model_ema, module",
    ] {
        assert!(
            message.contains(needle),
            "`{needle}` missing from: {message}"
        );
    }
}

#[test]
fn unknown_format_names_the_formats_tried() {
    let err = load_bytes(b"\x00\x01 not a checkpoint at all").expect_err("unknown format");
    let message = err.to_string();
    for needle in ["torch.save zip archive", "legacy torch.save", "safetensors"] {
        assert!(
            message.contains(needle),
            "`{needle}` missing from: {message}"
        );
    }
    let mut tar = vec![0u8; 1024];
    tar[257..262].copy_from_slice(b"ustar");
    let message = load_bytes(&tar).expect_err("tar").to_string();
    assert!(message.contains("tar archive"), "{message}");
}

#[test]
fn a_missing_name_points_at_the_prefix_it_carries() {
    let plain = load(&fixture("plain.pth")).expect("plain.pth");
    let mut prefixed = Checkpoint::default();
    for (name, t) in &plain.tensors {
        prefixed
            .tensors
            .insert(format!("backbone.{name}"), t.clone());
    }
    let message = prefixed.get("3.weight").expect_err("prefixed").to_string();
    assert!(
        message.contains("backbone.3.weight") && message.contains("`backbone.`"),
        "{message}"
    );
}

#[test]
fn every_truncation_of_a_legacy_file_is_an_error() {
    let bytes = std::fs::read(fixture("legacy.pth")).expect("legacy.pth");
    for len in 0..bytes.len() {
        let result = std::panic::catch_unwind(|| load_bytes(&bytes[..len]));
        assert!(
            matches!(result, Ok(Err(_))),
            "legacy file cut at {len} must be an error"
        );
    }
}

#[test]
fn inspect_says_what_was_unwrapped_and_stripped() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sdt-convert"))
        .arg("inspect")
        .arg(fixture("ddp.pth"))
        .output()
        .expect("sdt-convert runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["format"], "torch.save zip archive");
    assert_eq!(report["unwrapped"], serde_json::json!(["state_dict"]));
    assert_eq!(report["stripped_prefixes"], serde_json::json!(["module."]));
    assert_eq!(report["tensors"], 8);
}
