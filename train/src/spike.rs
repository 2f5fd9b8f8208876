//! `MultiSpike`: the integer spike activation of Spike Firing Approximation training.

use tch::{nn, Kind, Tensor};

use crate::context::Ctx;
use crate::error::Result;

/// `round(clamp(x, 0, D)) / norm` (round half to even, as `torch.round`).
///
/// Backward is straight-through inside `[0, D]` (boundaries included) and zero outside, like the
/// official `Quant` autograd function. The integer counts can be recorded under the layer's
/// module path.
#[derive(Debug)]
pub struct MultiSpike {
    name: String,
    max: f64,
    norm: f64,
}

impl MultiSpike {
    /// A spike layer named `leaf` under `p` with counts `0..=max` divided by `norm`.
    pub fn new(p: &nn::Path, leaf: &str, max: u8, norm: f64) -> Self {
        Self {
            name: module_path(p, leaf),
            max: f64::from(max),
            norm,
        }
    }

    /// The official module path of this layer, e.g. `block3.0.attn.q_spike`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Applies the activation.
    pub fn forward(&self, x: &Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        let counts = x.detach().f_clamp(0.0, self.max)?.f_round()?;
        if let Some(recorder) = ctx.recorder() {
            recorder.record(&self.name, counts.f_to_kind(Kind::Uint8)?);
        }
        let y = if x.requires_grad() {
            // counts + (x·m − x·m): the value is exactly `counts`, the gradient is the mask m.
            let mask = x
                .detach()
                .f_ge(0.0)?
                .f_logical_and(&x.detach().f_le(self.max)?)?
                .f_to_kind(x.kind())?;
            let passed = x.f_mul(&mask)?;
            counts.f_add(&passed.f_sub(&passed.detach())?)?
        } else {
            counts
        };
        Ok(y.f_div_scalar(self.norm)?)
    }
}

/// `a.b.c.leaf` for a var-store path `a.b.c`.
pub(crate) fn module_path(p: &nn::Path, leaf: &str) -> String {
    p.components()
        .chain(std::iter::once(leaf))
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn::VarStore, Device};

    fn spike(norm: f64) -> MultiSpike {
        let vs = VarStore::new(Device::Cpu);
        MultiSpike::new(&(vs.root() / "a"), "s", 4, norm)
    }

    #[test]
    fn forward_rounds_half_to_even_and_clamps() {
        let x = Tensor::from_slice(&[-1.0f32, 0.4, 0.5, 1.5, 2.5, 3.49, 3.5, 9.0]);
        let y = spike(1.0).forward(&x, &mut Ctx::eval()).unwrap();
        let got: Vec<f32> = Vec::try_from(&y).unwrap();
        assert_eq!(got, [0.0, 0.0, 0.0, 2.0, 2.0, 3.0, 4.0, 4.0]);
        let y4 = spike(4.0).forward(&x, &mut Ctx::eval()).unwrap();
        assert!(y4.equal(&(y / 4.0)));
    }

    #[test]
    fn gradient_is_straight_through_inside_the_range_only() {
        let x = Tensor::from_slice(&[-0.5f32, 0.0, 1.3, 4.0, 4.2]).set_requires_grad(true);
        let y = spike(4.0).forward(&x, &mut Ctx::train()).unwrap();
        let values: Vec<f32> = Vec::try_from(&y.detach()).unwrap();
        assert_eq!(values, [0.0, 0.0, 0.25, 1.0, 1.0], "forward stays exact");
        y.sum(Kind::Float).backward();
        let grad: Vec<f32> = Vec::try_from(&x.grad()).unwrap();
        assert_eq!(grad, [0.0, 0.25, 0.25, 0.25, 0.0]);
    }

    #[test]
    fn records_counts_under_the_module_path() {
        let mut rec = crate::recorder::SpikeRecorder::new();
        let s = spike(4.0);
        assert_eq!(s.name(), "a.s");
        let x = Tensor::from_slice(&[0.6f32, 3.7]);
        let _ = s
            .forward(&x, &mut Ctx::eval().with_recorder(&mut rec))
            .unwrap();
        let counts: Vec<u8> = Vec::try_from(rec.get("a.s").unwrap()).unwrap();
        assert_eq!(counts, [1, 4]);
    }
}
