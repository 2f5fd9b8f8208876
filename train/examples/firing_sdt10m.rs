//! Whole-model firing rate of SDT-10M on its 4 golden inputs, in libtorch: the float model
//! (which the manifest's 13.6 % describes) and the same model with its weights fake-quantized
//! to 16 and 8 bits per output channel, nothing else changed.
//!
//! It tells how far weight quantization alone moves the whole-model rate of this random,
//! chaotic network (see `../shared/golden/README.md`), the yardstick for the integer core's
//! whole-model figure (printed by `tests/tests/firing_sdt10m.rs`); and how far much smaller
//! perturbations move it: relative weight noise of 10⁻⁶, and the same model in float64.
//!
//! ```sh
//! eval "$(bash scripts/torch-env.sh)"
//! SDT_GOLDEN_DIR=../shared/golden cargo run --release -p sdt-train --example firing_sdt10m
//! ```

use sdt_examples::sdt10m::Sdt10m;
use sdt_train::quant::WeightQuant;
use sdt_train::recorder::SpikeRecorder;
use sdt_train::{weights, Ctx, Sdt, SdtConfig};
use tch::{nn::VarStore, Device, Tensor};

/// Whole-model non-zero fraction over the golden inputs, and block3.0's attention spikes on
/// input 0.
fn firing(
    model: &Sdt,
    bench: &Sdt10m,
    quant: Option<WeightQuant>,
    kind: tch::Kind,
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let (mut nonzero, mut sites) = (0i64, 0i64);
    let mut first_block3 = None;
    for image in &bench.images {
        let x = Tensor::from_slice(image)
            .reshape([1, 3, 224, 224])
            .to_kind(kind);
        let mut recorder = SpikeRecorder::new();
        let mut ctx = Ctx::eval()
            .with_recorder(&mut recorder)
            .with_weight_quant(quant);
        let _logits = model.forward(&x, &mut ctx)?;
        for (name, counts) in recorder.iter() {
            let n = counts.f_ne(0)?.f_sum(tch::Kind::Int64)?.int64_value(&[]);
            nonzero += n;
            sites += counts.numel() as i64;
            if name == "block3.0.attn.attn_spike" && first_block3.is_none() {
                first_block3 = Some(n as f64 / counts.numel() as f64);
            }
        }
    }
    Ok((
        100.0 * nonzero as f64 / sites as f64,
        100.0 * first_block3.unwrap_or(0.0),
    ))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bench = Sdt10m::load()?;
    let mut vs = VarStore::new(Device::Cpu);
    let model = Sdt::new(&vs.root(), SdtConfig::m())?;
    weights::load_weights(&vs, &bench.pth)?;
    let _no_grad = tch::no_grad_guard();
    println!("SDT-10M, 4 golden inputs, whole-model non-zero spike sites (libtorch)");
    let show = |label: &str, (rate, attn): (f64, f64)| {
        println!("  {label:<44} {rate:>6.2} %   (block3.0 attn_spike, input 0: {attn:.1} %)");
    };
    for bits in [None, Some(16u8), Some(8)] {
        let quant = bits.map(WeightQuant::new).transpose()?;
        let label = match bits {
            None => "float weights".to_string(),
            Some(b) => format!("int{b} fake-quantized weights"),
        };
        show(&label, firing(&model, &bench, quant, tch::Kind::Float)?);
    }
    // Perturbations far below 16-bit quantization: how chaotic the whole-model rate is.
    for seed in 1..=3 {
        tch::manual_seed(seed);
        for (_, mut w) in vs.variables() {
            if w.kind() != tch::Kind::Float {
                continue;
            }
            let noise = w.f_randn_like()?.f_mul_scalar(1e-6)?.f_add_scalar(1.0)?;
            let _ = w.f_mul_(&noise)?;
        }
        let label = format!("float weights × (1 + 1e-6·N(0,1)), seed {seed}");
        show(&label, firing(&model, &bench, None, tch::Kind::Float)?);
        weights::load_weights(&vs, &bench.pth)?;
    }
    vs.double();
    show(
        "float64 (weights, inputs, arithmetic)",
        firing(&model, &bench, None, tch::Kind::Double)?,
    );
    Ok(())
}
