//! Per-output-channel symmetric fake quantization of weights (quantization-aware training).

use tch::Tensor;

use crate::error::{Error, Result};

/// Signed integer weights with one scale per output channel, rounded to nearest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeightQuant {
    bits: u8,
}

impl WeightQuant {
    /// `bits` in 2..=16 (int8 is the deployment default).
    pub fn new(bits: u8) -> Result<Self> {
        if !(2..=16).contains(&bits) {
            return Err(Error::Config(format!(
                "weight bits must be in 2..=16, got {bits}"
            )));
        }
        Ok(Self { bits })
    }

    /// Bits per weight.
    pub fn bits(self) -> u8 {
        self.bits
    }

    /// Largest integer magnitude, `2^(bits-1) - 1`.
    pub fn qmax(self) -> f64 {
        f64::from((1u32 << (self.bits - 1)) - 1)
    }

    /// Per-output-channel scales (dimension 0 of `weight`), shaped to broadcast against it.
    pub fn scales(self, weight: &Tensor) -> Result<Tensor> {
        let size = weight.size();
        let out = *size
            .first()
            .ok_or_else(|| Error::Data("cannot quantize a scalar weight".into()))?;
        let amax = weight
            .detach()
            .f_abs()?
            .f_reshape([out, -1])?
            .f_amax([1i64].as_slice(), false)?
            .f_clamp_min(f64::from(f32::MIN_POSITIVE))?;
        let mut shape = vec![1i64; size.len()];
        shape[0] = out;
        Ok(amax.f_div_scalar(self.qmax())?.f_reshape(&shape)?)
    }

    /// The weight rounded to the integer grid, as floats (`q · scale`). Gradients pass straight
    /// through to the float weight (identity), the forward value is exactly the quantized one.
    pub fn fake_quantize(self, weight: &Tensor) -> Result<Tensor> {
        let scale = self.scales(weight)?;
        let q = weight
            .detach()
            .f_div(&scale)?
            .f_round()?
            .f_clamp(-self.qmax(), self.qmax())?
            .f_mul(&scale)?;
        if weight.requires_grad() {
            // q + (w - w): exact value q, gradient identity with respect to w.
            Ok(q.f_add(&weight.f_sub(&weight.detach())?)?)
        } else {
            Ok(q)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn rejects_unusable_bit_widths() {
        assert!(WeightQuant::new(1).is_err());
        assert!(WeightQuant::new(17).is_err());
        assert_eq!(WeightQuant::new(8).unwrap().qmax(), 127.0);
    }

    #[test]
    fn weights_land_on_a_per_channel_integer_grid() {
        let w = Tensor::randn([6, 3, 3, 3], (Kind::Float, Device::Cpu));
        let q = WeightQuant::new(4).unwrap();
        let wq = q.fake_quantize(&w).unwrap();
        let ints = (&wq / q.scales(&w).unwrap()).round();
        let err = (&wq / q.scales(&w).unwrap() - &ints)
            .abs()
            .max()
            .double_value(&[]);
        assert!(err < 1e-4, "off grid by {err}");
        assert!(ints.abs().max().double_value(&[]) <= 7.0);
        // The largest weight of each channel maps to ±qmax exactly.
        let top = ints.abs().reshape([6, -1]).amax(1, false);
        assert!(top.eq(7.0).all().int64_value(&[]) == 1);
    }

    #[test]
    fn gradient_passes_straight_through() {
        let w = Tensor::randn([2, 5], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let q = WeightQuant::new(8).unwrap();
        let wq = q.fake_quantize(&w).unwrap();
        (&wq * 3.0).sum(Kind::Float).backward();
        let g: Vec<f32> = Vec::try_from(&w.grad().flatten(0, -1)).unwrap();
        assert!(g.iter().all(|&v| v == 3.0));
    }
}
