//! Firing rates of the whole SDT-10M on its 4 golden inputs against the official per-layer counts
//! (`manifest_seed1.json`).
//!
//! The convolutional stages must fire like the official model layer by layer. From the first
//! attention onwards the random-weight network amplifies tiny differences (one flipped k or v
//! spike moves a whole row of kᵀv), so end to end only the teacher-forced block checks can be
//! exact; this test prints the whole-model figure next to the official one.

use sdt_convert::verify::{quantize_input, spike_name};
use sdt_core::graph::WeightBits;
use sdt_core::{arena_bytes, Kernel, Model, Sequential, Session, Stats};
use sdt_tests::{absmax, blob_of, golden, load};

#[test]
fn convolutional_stages_fire_like_the_official_model() {
    let ck = load("sdt_m_224_seed1.pth");
    let io = load("sdt_m_224_seed1_io.safetensors");
    let images = &io.get("input").expect("input").data;
    let text = std::fs::read_to_string(golden("manifest_seed1.json")).expect("manifest");
    let manifest: serde_json::Value = serde_json::from_str(&text).expect("manifest json");
    let layers = manifest["sdt_m_224_seed1"]["spike_layers"]
        .as_array()
        .expect("spike_layers");
    let official = |name: &str| -> (u64, u64) {
        let l = layers
            .iter()
            .find(|l| l["name"] == name)
            .unwrap_or_else(|| panic!("{name} is not in the manifest"));
        (
            l["nonzero"].as_u64().expect("nonzero"),
            l["numel"].as_u64().expect("numel"),
        )
    };

    let blob = blob_of(&ck, 224, WeightBits::I16, true, absmax(images));
    let model: Model<'_> = blob.model().expect("model");
    let mut arena = vec![0u8; arena_bytes(&model, 1).expect("arena")];
    let mut session = Session::new(&model, &mut arena, 1).expect("session");
    let mut stats = Stats::default();
    let per = model.input_len();
    for image in images.chunks_exact(per).take(4) {
        let x = quantize_input(&model, image).expect("input");
        session.set_input(x.as_input()).expect("set input");
        session
            .run(Kernel::SpikeDriven, &Sequential, Some(&mut stats))
            .expect("run");
    }

    let (mut ours, mut theirs, mut sites) = (0u64, 0u64, 0u64);
    let mut worst = (0.0f64, String::new());
    let mut conv_layers = 0;
    let mut in_conv_stages = true;
    for node in 0..model.nodes().len() {
        let Some(name) = spike_name(&model, node) else {
            continue;
        };
        let s = &stats.nodes[node];
        let (nonzero, numel) = official(name);
        assert_eq!(s.sites, numel, "{name}: site counts differ");
        ours += s.nonzero;
        theirs += nonzero;
        sites += numel;
        let diff = (s.nonzero as f64 - nonzero as f64).abs() / numel as f64;
        in_conv_stages &= !name.starts_with("block");
        if in_conv_stages {
            conv_layers += 1;
            if diff > worst.0 {
                worst = (diff, name.to_owned());
            }
        }
    }
    println!(
        "whole model (int16 weights, i16 input): {:.2} % non-zero vs official {:.2} %; \
         convolutional stages: {conv_layers} spike layers, largest difference {:.2} points ({})",
        100.0 * ours as f64 / sites as f64,
        100.0 * theirs as f64 / sites as f64,
        100.0 * worst.0,
        worst.1
    );
    assert!(
        conv_layers >= 20,
        "only {conv_layers} convolutional spike layers"
    );
    assert!(
        worst.0 <= 0.005,
        "{} fires {:.2} points away from the official model",
        worst.1,
        100.0 * worst.0
    );
}
