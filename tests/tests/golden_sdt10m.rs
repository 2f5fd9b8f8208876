//! SDT-10M (random weights, official definition): block-by-block conformance, whole-model
//! kernel equality, blob size and arena.

use sdt_convert::verify::{blockcheck, quantize_input, BlockReport};
use sdt_core::graph::WeightBits;
use sdt_core::plan::Plan;
use sdt_core::{arena_bytes, Kernel, Model, Sequential, Session, Stats};
use sdt_host::ThreadPool;
use sdt_tests::{absmax, blob_of, load};

fn yardstick(bits: u32) -> Vec<Option<f64>> {
    let path = sdt_tests::golden(&format!("sdt_m_224_seed1_blockcheck_int{bits}.json"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    json["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["spike_agree_mean"].as_f64())
        .collect()
}

fn check_blocks(bits: WeightBits) -> Vec<BlockReport> {
    let ck = load("sdt_m_224_seed1.pth");
    let blob = blob_of(
        &ck,
        224,
        bits,
        false,
        absmax(
            &load("sdt_m_224_seed1_io.safetensors")
                .get("input")
                .unwrap()
                .data,
        ),
    );
    let model = blob.model().unwrap();
    let blocks = load("sdt_m_224_seed1_blocks.safetensors");
    blockcheck(&model, &blocks, Kernel::SpikeDriven, &Sequential, false).unwrap()
}

#[test]
fn int16_blocks_match_the_official_model() {
    let reports = check_blocks(WeightBits::I16);
    let yard = yardstick(16);
    assert_eq!(reports.len(), 17);
    for (r, y) in reports.iter().zip(&yard) {
        println!(
            "{} rel_l2 {:.6} spikes {:?} (yardstick {:?})",
            r.block, r.rel_l2, r.spike_agree_mean, y
        );
        if let (Some(ours), Some(y)) = (r.spike_agree_mean, y) {
            assert!(ours >= 0.99, "{}: mean spike agreement {ours}", r.block);
            assert!(
                (ours - y).abs() <= 0.005,
                "{}: {ours} vs yardstick {y}",
                r.block
            );
        }
    }
    assert_eq!(
        reports
            .iter()
            .filter(|r| r.spike_agree_mean.is_some())
            .count(),
        16
    );
}

#[test]
fn int8_blocks_within_a_point_of_the_yardstick() {
    let reports = check_blocks(WeightBits::I8);
    for (r, y) in reports.iter().zip(&yardstick(8)) {
        println!(
            "{} rel_l2 {:.6} spikes {:?} (yardstick {:?})",
            r.block, r.rel_l2, r.spike_agree_mean, y
        );
        if let (Some(ours), Some(y)) = (r.spike_agree_mean, y) {
            assert!(
                (ours - y).abs() <= 0.01,
                "{}: {ours} vs yardstick {y}",
                r.block
            );
        }
    }
}

#[test]
fn int8_blob_size_and_arena() {
    let ck = load("sdt_m_224_seed1.pth");
    let blob = blob_of(&ck, 224, WeightBits::I8, false, 3.0);
    let model = blob.model().unwrap();
    let params = model.graph().arch.params as f64;
    assert_eq!(params as u64, 10_023_112);
    let per_param = blob.bytes().len() as f64 / params;
    let plan = Plan::new(model.graph(), 1).unwrap();
    let ratio = plan.bytes as f64 / plan.lower_bound as f64;
    println!(
        "blob {} bytes ({per_param:.4} B/param), arena {} bytes, lower bound {} ({ratio:.3}×)",
        blob.bytes().len(),
        plan.bytes,
        plan.lower_bound
    );
    assert!(per_param <= 1.05, "{per_param} bytes per parameter");
    assert!(ratio <= 1.25, "arena {ratio}× the liveness lower bound");
    let two = Plan::new(model.graph(), 2).unwrap();
    assert!(two.bytes as f64 <= 1.25 * two.lower_bound as f64);
}

/// Packed 4-bit SDT-10M: about half a byte per parameter, and both kernels give the same
/// logits on a golden input (the weights unpack per layer into the arena).
#[test]
fn int4_blob_size_and_kernels() {
    let ck = load("sdt_m_224_seed1.pth");
    let io = load("sdt_m_224_seed1_io.safetensors");
    let images = &io.get("input").unwrap().data;
    let blob = blob_of(&ck, 224, WeightBits::I4, false, absmax(images));
    let model: Model<'_> = blob.model().unwrap();
    let per_param = blob.bytes().len() as f64 / model.graph().arch.params as f64;
    let plan = Plan::new(model.graph(), 1).unwrap();
    println!(
        "int4 blob {} bytes ({per_param:.4} B/param), arena {} bytes",
        blob.bytes().len(),
        plan.bytes
    );
    assert!(per_param <= 0.55, "{per_param} bytes per parameter");
    let x = quantize_input(&model, &images[..model.input_len()]).unwrap();
    let mut logits = Vec::new();
    for kernel in [Kernel::SpikeDriven, Kernel::Dense] {
        let mut arena = vec![0u8; arena_bytes(&model, 1).unwrap()];
        let mut session = Session::new(&model, &mut arena, 1).unwrap();
        session.set_input(x.as_input()).unwrap();
        session.run(kernel, &Sequential, None).unwrap();
        logits.push(session.logits().to_vec());
    }
    assert_eq!(logits[0], logits[1], "logits differ between kernels");
}

/// Both kernels, and 1 or 2 threads, give the same integers on the whole model.
#[test]
fn kernels_and_threads_agree_on_the_whole_model() {
    let ck = load("sdt_m_224_seed1.pth");
    let io = load("sdt_m_224_seed1_io.safetensors");
    let images = &io.get("input").unwrap().data;
    let blob = blob_of(&ck, 224, WeightBits::I8, false, absmax(images));
    let model: Model<'_> = blob.model().unwrap();
    let x = quantize_input(&model, &images[..model.input_len()]).unwrap();
    let pool = ThreadPool::new(2).unwrap();
    let mut results = Vec::new();
    for (kernel, threads) in [
        (Kernel::SpikeDriven, 1),
        (Kernel::Dense, 1),
        (Kernel::SpikeDriven, 2),
    ] {
        let mut arena = vec![0u8; arena_bytes(&model, threads).unwrap()];
        let mut session = Session::new(&model, &mut arena, threads).unwrap();
        session.set_input(x.as_input()).unwrap();
        let mut stats = Stats::default();
        if threads == 1 {
            session.run(kernel, &Sequential, Some(&mut stats)).unwrap();
        } else {
            session.run(kernel, &pool, Some(&mut stats)).unwrap();
        }
        results.push((session.logits().to_vec(), stats.total()));
    }
    assert!(
        results[0].1.sops > 100_000_000,
        "SOPs {}",
        results[0].1.sops
    );
    for r in &results[1..] {
        assert_eq!(r.0, results[0].0, "logits differ");
        assert_eq!(r.1, results[0].1, "statistics differ");
    }
}
