//! The whole NPU path except the library call, on the golden SDT-10M: every product the plan
//! puts on the NPU is packed into native layouts, tiled, computed by the host stand-in and
//! compared bit for bit with the CPU's spike-driven product; every node's output equals the
//! CPU engine's, node by node, on two golden inputs.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use sdt_convert::verify::quantize_input;
use sdt_convert::{checkpoint, convert, ArchOptions, LowerOptions};
use sdt_core::engine::{spike_matmul, Engine, EngineError, MatMul};
use sdt_core::graph::{TensorKind, WeightBits};
use sdt_core::model::node_io;
use sdt_core::{arena_bytes, Kernel, Sequential, Session};
use sdt_rk3588::plan::{plan, Placement};
use sdt_rk3588::{HostStandIn, Limits, RkEngine};

/// A golden file; a missing one fails the test with what to do.
fn golden(name: &str) -> PathBuf {
    sdt_host::data::DataDir::Golden.require(name)
}

/// Computes each product with the stand-in engine and with the CPU, and insists they agree.
struct Compare<'e> {
    stand_in: &'e RkEngine<HostStandIn>,
    products: AtomicUsize,
}

impl Engine for Compare<'_> {
    fn takes(&self, p: &MatMul<'_>) -> bool {
        self.stand_in.takes(p)
    }

    fn matmul(
        &self,
        p: &MatMul<'_>,
        row: &mut [i32],
        out: &mut dyn FnMut(usize, &[i32]),
    ) -> Result<(), EngineError> {
        let mut cpu = Vec::new();
        spike_matmul(p, row, &mut |_, r| cpu.extend_from_slice(r))?;
        let mut npu = Vec::new();
        self.stand_in
            .matmul(p, row, &mut |_, r| npu.extend_from_slice(r))?;
        assert!(
            npu == cpu,
            "node {} {:?} ({}×{}×{}): stand-in accumulators differ from the CPU",
            p.node,
            p.role,
            p.m(),
            p.k(),
            p.n()
        );
        self.products.fetch_add(1, Ordering::Relaxed);
        for (m, r) in npu.chunks_exact(p.n()).enumerate() {
            out(m, r);
        }
        Ok(())
    }
}

#[test]
fn stand_in_equals_the_cpu_on_every_layer_of_sdt10m() {
    let ck = checkpoint::load(&golden("sdt_m_224_seed1.pth")).expect("checkpoint");
    let io = checkpoint::load(&golden("sdt_m_224_seed1_io.safetensors")).expect("io");
    let images = &io.get("input").expect("input tensor").data;
    let absmax = images.iter().fold(0f32, |m, &x| m.max(x.abs()));
    let arch = ArchOptions {
        heads: 8,
        d: 4,
        input_h: 224,
        input_w: 224,
    };
    let opt = LowerOptions {
        weight_bits: WeightBits::I8,
        input_absmax: absmax,
        wide_input: false,
        spike_bias: 0.0,
    };
    let blob = convert(&ck, arch, opt, &Default::default())
        .expect("conversion")
        .2;
    let model = blob.model().expect("model");

    let limits = Limits::default();
    let layers = plan(&model, &limits).unwrap();
    let npu_layers = layers
        .iter()
        .filter(|l| l.placement == Placement::Npu)
        .count();
    // 6 block3 and 2 block4 blocks: 2 SepConv + q, k, v + attention + proj + 2 MLP each; the
    // stage-1/2 SepConvs (2 each); the head.
    assert_eq!(npu_layers, 8 * 9 + 4 * 2 + 1, "NPU layers");
    let stand_in = RkEngine::new(&model, HostStandIn, &limits).unwrap();
    let engine = Compare {
        stand_in: &stand_in,
        products: AtomicUsize::new(0),
    };

    let per = model.input_len();
    let nodes = model.nodes().len();
    for image in 0..2 {
        let x = quantize_input(&model, &images[image * per..(image + 1) * per]).unwrap();
        let mut arena_cpu = vec![0u8; arena_bytes(&model, 1).unwrap()];
        let mut arena_npu = vec![0u8; arena_bytes(&model, 1).unwrap()];
        let mut cpu = Session::new(&model, &mut arena_cpu, 1).unwrap();
        let mut npu = Session::new(&model, &mut arena_npu, 1).unwrap();
        cpu.set_input(x.as_input()).unwrap();
        npu.set_input(x.as_input()).unwrap();
        let before = engine.products.load(Ordering::Relaxed);
        let mut active = 0;
        for i in 0..nodes {
            cpu.run_nodes(i..i + 1, Kernel::SpikeDriven, &Sequential, None)
                .unwrap();
            npu.run_nodes_with_engine(i..i + 1, &engine, Kernel::SpikeDriven, &Sequential, None)
                .unwrap();
            let out = node_io(&model.nodes()[i].op).1;
            match model.tensor(out).kind {
                TensorKind::Spikes => {
                    let s = cpu.spikes(out).unwrap();
                    active += s.iter().any(|&v| v != 0) as usize;
                    assert_eq!(s, npu.spikes(out).unwrap(), "image {image}, node {i}");
                }
                _ => assert_eq!(cpu.fixed(out), npu.fixed(out), "image {image}, node {i}"),
            }
        }
        assert_eq!(cpu.logits(), npu.logits(), "image {image}: logits");
        // Every prepared product ran once on this image.
        let ran = engine.products.load(Ordering::Relaxed) - before;
        assert_eq!(ran, stand_in.prepared(), "image {image}: products run");
        assert!(
            active > 40,
            "image {image}: only {active} spike layers fire"
        );
    }
}
