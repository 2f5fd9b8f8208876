//! The ONNX Runtime peer's machinery (`bench/ort_peer.py`) on the small digits32 model: our
//! weights exported to ONNX give PyTorch's logits in ONNX Runtime fp32, and the int8 model holds
//! every spike exactly (scale 1/norm, zero point 0, dequantized value equal at every site).
//!
//! Needs `python3` with torch, onnx and onnxruntime: `eval "$(bash scripts/ort-env.sh)"`, or
//! `SDT_PYTHON`.

mod common;

use sdt_train::ort_peer;
use tch::{Device, Kind, Tensor};

#[test]
fn onnx_export_matches_pytorch_and_int8_holds_spikes_exactly() {
    tch::set_num_threads(1);
    let (vs, _model) = common::random_digits32(11);
    let images = Tensor::randn([16, 1, 32, 32], (Kind::Float, Device::Cpu));
    let dir = std::env::temp_dir().join(format!("sdt-ort-peer-{}", std::process::id()));
    let lines = ort_peer::run("check", "digits32", &vs, &images, &dir, &[]).unwrap_or_else(|e| {
        panic!("{e}");
    });
    let _ = std::fs::remove_dir_all(&dir);
    let a = ort_peer::find(&lines, "agreement", None, None).expect("agreement line");
    let num = |f: &str| ort_peer::number(a, f).expect(f);
    eprintln!(
        "spike agreement {:.5} (worst layer {:.5}), int8 top-1 {:.3}, max |Δlogit| int8 {:.4}, \
         fp32 vs PyTorch {:.2e}",
        num("spike_agreement"),
        num("spike_agreement_min_layer"),
        num("top1_int8_vs_fp32"),
        num("max_dlogit_int8_vs_fp32"),
        num("max_dlogit_fp32_vs_torch")
    );
    // 4 + 4×5 spikes in the conv stages, 8 former blocks × 10, the head's: all found.
    assert_eq!(
        a["spike_layers"], 105,
        "spike layers found in the exported graph"
    );
    assert_eq!(num("top1_fp32_vs_torch"), 1.0);
    assert!(
        num("max_dlogit_fp32_vs_torch") < 1e-3,
        "ONNX fp32 logits differ from PyTorch's"
    );
    assert_eq!(
        a["unpinned_spikes"],
        serde_json::json!([]),
        "spikes not quantized with scale 1/norm, zero point 0"
    );
    assert_eq!(a["inexact_pinned_sites"], 0, "spike values changed by Q/DQ");
    let firing: f64 = a["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["nonzero_fp32"].as_f64().expect("nonzero_fp32"))
        .sum::<f64>()
        / 105.0;
    assert!(
        firing > 0.02,
        "spike layers barely fire ({firing}): the check would test little"
    );
    assert!(num("spike_agreement") > 0.8, "int8 spikes far from fp32");
}
