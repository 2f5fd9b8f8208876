//! AdamW with its moments in plain sight, so a checkpoint can save and restore them exactly.
//!
//! `tch`'s optimizer keeps its state inside libtorch where it cannot be read back, which would
//! make `--resume` approximate. This is the same update as `torch.optim.AdamW` (decoupled weight
//! decay, bias-corrected moments), with weight decay only on tensors of two or more dimensions
//! (no decay for biases and BatchNorm affine parameters, as timm's parameter groups do).

use std::collections::BTreeMap;

use tch::nn::VarStore;
use tch::{Kind, Tensor};

use crate::error::{Error, Result};

/// AdamW's constants.
#[derive(Clone, Copy, Debug)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.05,
        }
    }
}

struct Param {
    name: String,
    var: Tensor,
    m: Tensor,
    v: Tensor,
    decay: bool,
}

/// The optimizer over every trainable variable of a var store, in name order.
pub struct AdamW {
    config: AdamWConfig,
    params: Vec<Param>,
    step: u64,
}

impl AdamW {
    /// Fresh moments (zeros) for every trainable variable of `vs`.
    pub fn new(vs: &VarStore, config: AdamWConfig) -> Result<Self> {
        let mut vars: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let params = vars
            .into_iter()
            .map(|(name, var)| {
                Ok(Param {
                    m: var.f_zeros_like()?,
                    v: var.f_zeros_like()?,
                    decay: var.dim() >= 2,
                    name,
                    var,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            config,
            params,
            step: 0,
        })
    }

    /// Updates taken so far.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// The gradients of all parameters, in name order; a parameter without one (unused in the
    /// last backward pass) contributes zeros of its shape, so every rank lists the same tensors.
    pub fn gradients(&self) -> Result<Vec<Tensor>> {
        self.params
            .iter()
            .map(|p| {
                let g = p.var.grad();
                Ok(if g.defined() {
                    g
                } else {
                    p.var.f_zeros_like()?
                })
            })
            .collect()
    }

    /// Sets the update count (bias correction) after a broadcast of the moments.
    pub fn set_step_count(&mut self, step: u64) {
        self.step = step;
    }

    /// Clears the gradients of all parameters.
    pub fn zero_grad(&mut self) -> Result<()> {
        for p in &mut self.params {
            let mut g = p.var.grad();
            if g.defined() {
                let _ = g.f_zero_()?;
            }
        }
        Ok(())
    }

    /// The global L2 norm of all gradients.
    pub fn grad_norm(&self) -> Result<f64> {
        let _guard = tch::no_grad_guard();
        let mut total = 0.0;
        for p in &self.params {
            let g = p.var.grad();
            if g.defined() {
                total += g
                    .f_to_kind(Kind::Float)?
                    .f_square()?
                    .f_sum(Kind::Double)?
                    .f_double_value(&[])?;
            }
        }
        Ok(total.sqrt())
    }

    /// Scales gradients so that their global norm is at most `max` (like
    /// `torch.nn.utils.clip_grad_norm_`); returns the norm before clipping.
    pub fn clip_grad_norm(&mut self, max: f64) -> Result<f64> {
        let norm = self.grad_norm()?;
        if norm.is_finite() && norm > max {
            let factor = max / (norm + 1e-6);
            let _guard = tch::no_grad_guard();
            for p in &mut self.params {
                let mut g = p.var.grad();
                if g.defined() {
                    let _ = g.f_mul_scalar_(factor)?;
                }
            }
        }
        Ok(norm)
    }

    /// One AdamW update with learning rate `lr`.
    pub fn step(&mut self, lr: f64) -> Result<()> {
        let AdamWConfig {
            beta1,
            beta2,
            eps,
            weight_decay,
        } = self.config;
        self.step += 1;
        let t = self.step as f64;
        let bias1 = 1.0 - beta1.powf(t);
        let bias2_sqrt = (1.0 - beta2.powf(t)).sqrt();
        let _guard = tch::no_grad_guard();
        for p in &mut self.params {
            let g = p.var.grad();
            if !g.defined() {
                continue;
            }
            if p.decay && weight_decay != 0.0 {
                let _ = p.var.f_mul_scalar_(1.0 - lr * weight_decay)?;
            }
            let _ =
                p.m.f_mul_scalar_(beta1)?
                    .f_add_(&g.f_mul_scalar(1.0 - beta1)?)?;
            let _ =
                p.v.f_mul_scalar_(beta2)?
                    .f_add_(&g.f_square()?.f_mul_scalar(1.0 - beta2)?)?;
            let denom = p.v.f_sqrt()?.f_div_scalar(bias2_sqrt)?.f_add_scalar(eps)?;
            let update = p.m.f_div(&denom)?.f_mul_scalar(lr / bias1)?;
            let _ = p.var.f_sub_(&update)?;
        }
        Ok(())
    }

    /// The moments as named tensors (`adam.m.<name>`, `adam.v.<name>`) for a checkpoint.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        self.params
            .iter()
            .flat_map(|p| {
                [
                    (format!("adam.m.{}", p.name), p.m.shallow_clone()),
                    (format!("adam.v.{}", p.name), p.v.shallow_clone()),
                ]
            })
            .collect()
    }

    /// Restores moments saved by [`AdamW::state_tensors`] and the step count. Every moment must be
    /// present with the parameter's shape.
    pub fn load_state(&mut self, tensors: &mut BTreeMap<String, Tensor>, step: u64) -> Result<()> {
        let _guard = tch::no_grad_guard();
        for p in &mut self.params {
            for (prefix, dst) in [("adam.m.", &mut p.m), ("adam.v.", &mut p.v)] {
                let name = format!("{prefix}{}", p.name);
                let src = tensors
                    .remove(&name)
                    .ok_or_else(|| Error::Data(format!("training state lacks `{name}`")))?;
                if src.size() != dst.size() {
                    return Err(Error::Shape {
                        name,
                        expected: dst.size(),
                        found: src.size(),
                    });
                }
                dst.f_copy_(&src.f_to_device(dst.device())?)?;
            }
        }
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn, Device};

    /// Reference values from `torch.optim.AdamW(lr=0.1, weight_decay=0.5)` on `w = [1, -2]`,
    /// loss `sum(w²)`, computed by hand from the published update rule.
    #[test]
    fn matches_the_adamw_update_rule() {
        let vs = VarStore::new(Device::Cpu);
        let w = vs
            .root()
            .var("w", &[1, 2], nn::Init::Const(0.0))
            .set_requires_grad(false);
        tch::no_grad(|| {
            w.shallow_clone()
                .copy_(&Tensor::from_slice(&[1.0f32, -2.0]).reshape([1, 2]))
        });
        let w = w.set_requires_grad(true);
        let config = AdamWConfig {
            weight_decay: 0.5,
            ..AdamWConfig::default()
        };
        let mut opt = AdamW::new(&vs, config).unwrap();
        let mut expect = [1.0f64, -2.0];
        let (mut m, mut v) = ([0.0f64; 2], [0.0f64; 2]);
        for step in 1..=3 {
            opt.zero_grad().unwrap();
            w.square().sum(Kind::Float).backward();
            opt.step(0.1).unwrap();
            for i in 0..2 {
                let g = 2.0 * expect[i];
                expect[i] *= 1.0 - 0.1 * 0.5;
                m[i] = 0.9 * m[i] + 0.1 * g;
                v[i] = 0.999 * v[i] + 0.001 * g * g;
                let mh = m[i] / (1.0 - 0.9f64.powi(step));
                let vh = v[i] / (1.0 - 0.999f64.powi(step));
                expect[i] -= 0.1 * mh / (vh.sqrt() + 1e-8);
            }
        }
        let got: Vec<f32> = Vec::try_from(&w.detach().flatten(0, -1)).unwrap();
        for i in 0..2 {
            assert!(
                (f64::from(got[i]) - expect[i]).abs() < 1e-5,
                "{got:?} vs {expect:?}"
            );
        }
        assert_eq!(opt.step_count(), 3);
    }

    #[test]
    fn clipping_bounds_the_global_norm() {
        let vs = VarStore::new(Device::Cpu);
        let w = vs.root().var("w", &[4, 4], nn::Init::Const(1.0));
        let mut opt = AdamW::new(&vs, AdamWConfig::default()).unwrap();
        (&w * 10.0).sum(Kind::Float).backward();
        let before = opt.clip_grad_norm(1.0).unwrap();
        assert!((before - 40.0).abs() < 1e-4);
        assert!((opt.grad_norm().unwrap() - 1.0).abs() < 1e-4);
    }

    #[test]
    fn state_round_trips_and_rejects_missing_moments() {
        let vs = VarStore::new(Device::Cpu);
        let w = vs.root().var("w", &[3], nn::Init::Const(1.0));
        let mut opt = AdamW::new(&vs, AdamWConfig::default()).unwrap();
        w.square().sum(Kind::Float).backward();
        opt.step(0.01).unwrap();
        let mut saved: BTreeMap<String, Tensor> = opt
            .state_tensors()
            .into_iter()
            .map(|(n, t)| (n, t.copy()))
            .collect();
        let mut fresh = AdamW::new(&vs, AdamWConfig::default()).unwrap();
        let mut copy: BTreeMap<String, Tensor> =
            saved.iter().map(|(n, t)| (n.clone(), t.copy())).collect();
        fresh.load_state(&mut copy, 1).unwrap();
        for ((a, x), (b, y)) in opt.state_tensors().iter().zip(fresh.state_tensors().iter()) {
            assert_eq!(a, b);
            assert!(x.equal(y));
        }
        saved.remove("adam.v.w");
        assert!(fresh.load_state(&mut saved, 1).is_err());
    }
}
