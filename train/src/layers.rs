//! Synaptic layers and BatchNorm with the official parameter names.

use tch::{nn, Kind, Tensor};

use crate::context::Ctx;
use crate::error::Result;

/// Optimizer group of parameters exempt from weight decay (biases, BatchNorm affine).
pub const NO_DECAY_GROUP: usize = 1;

/// PyTorch's default initialisation bound for convolutions and linear layers: `1/sqrt(fan_in)`.
fn default_init(fan_in: i64) -> nn::Init {
    let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
    nn::Init::Uniform {
        lo: -bound,
        up: bound,
    }
}

/// The weight a forward pass uses: the float one, or its fake-quantized version under QAT.
fn effective_weight(weight: &Tensor, ctx: &Ctx) -> Result<Tensor> {
    match ctx.weight_quant() {
        Some(q) => q.fake_quantize(weight),
        None => Ok(weight.shallow_clone()),
    }
}

/// Geometry of a 2-D convolution.
#[derive(Clone, Copy, Debug)]
pub struct Conv2dSpec {
    pub in_channels: i64,
    pub out_channels: i64,
    pub kernel: i64,
    pub stride: i64,
    pub padding: i64,
    pub groups: i64,
    pub bias: bool,
}

impl Conv2dSpec {
    /// A bias-free 1×1 convolution.
    pub fn pointwise(in_channels: i64, out_channels: i64) -> Self {
        Self {
            in_channels,
            out_channels,
            kernel: 1,
            stride: 1,
            padding: 0,
            groups: 1,
            bias: false,
        }
    }
}

/// `nn.Conv2d` (weight `[out, in/groups, k, k]`, optional bias).
#[derive(Debug)]
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    spec: Conv2dSpec,
}

impl Conv2d {
    /// Creates `weight` (and `bias`) under `p`.
    pub fn new(p: &nn::Path, spec: Conv2dSpec) -> Result<Self> {
        let fan_in = spec.in_channels / spec.groups * spec.kernel * spec.kernel;
        let weight = p.f_var(
            "weight",
            &[
                spec.out_channels,
                spec.in_channels / spec.groups,
                spec.kernel,
                spec.kernel,
            ],
            default_init(fan_in),
        )?;
        let bias = if spec.bias {
            Some(p.set_group(NO_DECAY_GROUP).f_var(
                "bias",
                &[spec.out_channels],
                default_init(fan_in),
            )?)
        } else {
            None
        };
        Ok(Self { weight, bias, spec })
    }

    /// The float weight.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// Applies the convolution.
    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        let w = effective_weight(&self.weight, ctx)?;
        let s = self.spec;
        Ok(x.f_conv2d(
            &w,
            self.bias.as_ref(),
            [s.stride, s.stride],
            [s.padding, s.padding],
            [1, 1],
            s.groups,
        )?)
    }
}

/// `nn.Conv1d` with kernel 1 and bias (weight `[out, in, 1]`), acting on `[B, C, N]`.
#[derive(Debug)]
pub struct Conv1d {
    weight: Tensor,
    bias: Tensor,
}

impl Conv1d {
    /// Creates `weight` and `bias` under `p`.
    pub fn new(p: &nn::Path, in_channels: i64, out_channels: i64) -> Result<Self> {
        let init = default_init(in_channels);
        Ok(Self {
            weight: p.f_var("weight", &[out_channels, in_channels, 1], init)?,
            bias: p
                .set_group(NO_DECAY_GROUP)
                .f_var("bias", &[out_channels], init)?,
        })
    }

    /// Applies the convolution.
    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        let w = effective_weight(&self.weight, ctx)?;
        Ok(x.f_conv1d(&w, Some(&self.bias), [1], [0], [1], 1)?)
    }
}

/// `nn.Linear` (weight `[out, in]`, bias `[out]`), initialised like the official model
/// (truncated normal, std 0.02, zero bias).
#[derive(Debug)]
pub struct Linear {
    weight: Tensor,
    bias: Tensor,
}

impl Linear {
    /// Creates `weight` and `bias` under `p`.
    pub fn new(p: &nn::Path, in_features: i64, out_features: i64) -> Result<Self> {
        let weight = p.f_var("weight", &[out_features, in_features], nn::Init::Const(0.0))?;
        tch::no_grad(|| -> Result<()> {
            // Truncated normal on [-2σ, 2σ] by resampling is what timm does; clamping the tails
            // of a normal is close enough for an initialisation.
            let init = Tensor::f_randn([out_features, in_features], (Kind::Float, p.device()))?
                .f_mul_scalar(0.02)?
                .f_clamp(-0.04, 0.04)?;
            weight.shallow_clone().f_copy_(&init)?;
            Ok(())
        })?;
        let bias =
            p.set_group(NO_DECAY_GROUP)
                .f_var("bias", &[out_features], nn::Init::Const(0.0))?;
        Ok(Self { weight, bias })
    }

    /// Applies the layer to `[B, in]`.
    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        let w = effective_weight(&self.weight, ctx)?;
        Ok(x.f_linear(&w, Some(&self.bias))?)
    }
}

/// `nn.BatchNorm1d` / `nn.BatchNorm2d` (the same parameters and buffers, including
/// `num_batches_tracked`), momentum 0.1, eps 1e-5.
#[derive(Debug)]
pub struct BatchNorm {
    weight: Tensor,
    bias: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
    num_batches_tracked: Tensor,
}

impl BatchNorm {
    const MOMENTUM: f64 = 0.1;
    const EPS: f64 = 1e-5;

    /// Creates the parameters and buffers under `p`.
    pub fn new(p: &nn::Path, features: i64) -> Result<Self> {
        let affine = p.set_group(NO_DECAY_GROUP);
        let weight = affine.f_var("weight", &[features], nn::Init::Const(1.0))?;
        let bias = affine.f_var("bias", &[features], nn::Init::Const(0.0))?;
        let running_mean = p.f_zeros_no_train("running_mean", &[features])?;
        let running_var = p.f_ones_no_train("running_var", &[features])?;
        let tracked = Tensor::f_zeros([0i64; 0], (Kind::Int64, p.device()))?;
        let num_batches_tracked = p.add("num_batches_tracked", tracked, false);
        Ok(Self {
            weight,
            bias,
            running_mean,
            running_var,
            num_batches_tracked,
        })
    }

    /// Normalises channel dimension 1 of `x` (`[B, C, …]`).
    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        let train = ctx.bn_uses_batch_stats();
        if train {
            let mut tracked = self.num_batches_tracked.shallow_clone();
            let _ = tch::no_grad(|| tracked.f_add_scalar_(1))?;
        }
        Ok(x.f_batch_norm(
            Some(&self.weight),
            Some(&self.bias),
            Some(&self.running_mean),
            Some(&self.running_var),
            train,
            Self::MOMENTUM,
            Self::EPS,
            true,
        )?)
    }
}

/// A convolution followed by BatchNorm: `nn.Sequential(Conv2d, BatchNorm2d)`, named `0` and `1`.
#[derive(Debug)]
pub struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm,
}

impl ConvBn {
    /// Creates `p.0` (the convolution) and `p.1` (the BatchNorm).
    pub fn new(p: &nn::Path, spec: Conv2dSpec) -> Result<Self> {
        Ok(Self {
            conv: Conv2d::new(&(p / "0"), spec)?,
            bn: BatchNorm::new(&(p / "1"), spec.out_channels)?,
        })
    }

    /// `bn(conv(x))`.
    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        self.bn.forward(&self.conv.forward(x, ctx)?, ctx)
    }
}
