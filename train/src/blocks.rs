//! The building blocks of `Spiking_vit_MetaFormer_Spike_SepConv`, one struct per official module.

use tch::{nn, Tensor};

use crate::context::Ctx;
use crate::error::Result;
use crate::layers::{BatchNorm, Conv1d, Conv2d, Conv2dSpec, ConvBn};
use crate::spike::MultiSpike;

/// Hyper-parameters every block needs.
#[derive(Clone, Copy, Debug)]
pub struct BlockParams {
    /// Spike count limit D (`MultiSpike` max value; also its Norm).
    pub spike_max: u8,
    /// Attention heads.
    pub num_heads: i64,
}

impl BlockParams {
    fn spike(&self, p: &nn::Path, leaf: &str) -> MultiSpike {
        MultiSpike::new(p, leaf, self.spike_max, f64::from(self.spike_max))
    }
}

/// `MS_DownSampling`: `[spike →] conv(k, stride, padding, bias) → BN`.
#[derive(Debug)]
pub struct DownSampling {
    spike: Option<MultiSpike>,
    conv: Conv2d,
    bn: BatchNorm,
}

impl DownSampling {
    /// `first_layer` has no input spike (it encodes real-valued pixels).
    pub fn new(p: &nn::Path, bp: BlockParams, spec: Conv2dSpec, first_layer: bool) -> Result<Self> {
        Ok(Self {
            spike: (!first_layer).then(|| bp.spike(p, "encode_spike")),
            conv: Conv2d::new(&(p / "encode_conv"), Conv2dSpec { bias: true, ..spec })?,
            bn: BatchNorm::new(&(p / "encode_bn"), spec.out_channels)?,
        })
    }

    /// Applies the block.
    pub fn forward(&self, x: &Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        let x = match &self.spike {
            Some(spike) => spike.forward(x, ctx)?,
            None => x.shallow_clone(),
        };
        self.bn.forward(&self.conv.forward(&x, ctx)?, ctx)
    }
}

/// `SepConv_Spike`: spike → 1×1 (2×) + BN → spike → depthwise k×k + BN → spike → 1×1 + BN.
#[derive(Debug)]
pub struct SepConvSpike {
    spike1: MultiSpike,
    pwconv1: ConvBn,
    spike2: MultiSpike,
    dwconv: ConvBn,
    spike3: MultiSpike,
    pwconv2: ConvBn,
}

impl SepConvSpike {
    /// `dim` channels, depthwise kernel `kernel` with "same" padding.
    pub fn new(p: &nn::Path, bp: BlockParams, dim: i64, kernel: i64) -> Result<Self> {
        let med = 2 * dim;
        Ok(Self {
            spike1: bp.spike(p, "spike1"),
            pwconv1: ConvBn::new(&(p / "pwconv1"), Conv2dSpec::pointwise(dim, med))?,
            spike2: bp.spike(p, "spike2"),
            dwconv: ConvBn::new(
                &(p / "dwconv"),
                Conv2dSpec {
                    in_channels: med,
                    out_channels: med,
                    kernel,
                    stride: 1,
                    padding: kernel / 2,
                    groups: med,
                    bias: false,
                },
            )?,
            spike3: bp.spike(p, "spike3"),
            pwconv2: ConvBn::new(&(p / "pwconv2"), Conv2dSpec::pointwise(med, dim))?,
        })
    }

    /// Applies the block (no residual).
    pub fn forward(&self, x: &Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        let x = self.pwconv1.forward(&self.spike1.forward(x, ctx)?, ctx)?;
        let x = self.dwconv.forward(&self.spike2.forward(&x, ctx)?, ctx)?;
        self.pwconv2.forward(&self.spike3.forward(&x, ctx)?, ctx)
    }
}

/// `MS_ConvBlock_spike_SepConv`: `x += SepConv_k7(x)`, then a spiking 3×3 conv pair with 4×
/// channel expansion, also residual.
#[derive(Debug)]
pub struct ConvBlock {
    sep: SepConvSpike,
    spike1: MultiSpike,
    conv1: Conv2d,
    bn1: BatchNorm,
    spike2: MultiSpike,
    conv2: Conv2d,
    bn2: BatchNorm,
}

impl ConvBlock {
    /// A block on `dim` channels.
    pub fn new(p: &nn::Path, bp: BlockParams, dim: i64) -> Result<Self> {
        let hidden = 4 * dim;
        let conv3 = |cin, cout| Conv2dSpec {
            in_channels: cin,
            out_channels: cout,
            kernel: 3,
            stride: 1,
            padding: 1,
            groups: 1,
            bias: false,
        };
        Ok(Self {
            sep: SepConvSpike::new(&(p / "Conv"), bp, dim, 7)?,
            spike1: bp.spike(p, "spike1"),
            conv1: Conv2d::new(&(p / "conv1"), conv3(dim, hidden))?,
            bn1: BatchNorm::new(&(p / "bn1"), hidden)?,
            spike2: bp.spike(p, "spike2"),
            conv2: Conv2d::new(&(p / "conv2"), conv3(hidden, dim))?,
            bn2: BatchNorm::new(&(p / "bn2"), dim)?,
        })
    }

    /// Applies the block, residuals included.
    pub fn forward(&self, x: &Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        let branch = self.sep.forward(x, ctx)?;
        let x = ctx.drop_path(&branch)?.f_add(x)?;
        let y = self.spike1.forward(&x, ctx)?;
        let y = self.bn1.forward(&self.conv1.forward(&y, ctx)?, ctx)?;
        let y = self.spike2.forward(&y, ctx)?;
        let y = self.bn2.forward(&self.conv2.forward(&y, ctx)?, ctx)?;
        Ok(x.f_add(&ctx.drop_path(&y)?)?)
    }
}

/// `MS_Attention_linear` with `lamda_ratio = 4`: softmax-free spiking attention.
#[derive(Debug)]
pub struct Attention {
    num_heads: i64,
    scale: f64,
    head_spike: MultiSpike,
    q_conv: ConvBn,
    q_spike: MultiSpike,
    k_conv: ConvBn,
    k_spike: MultiSpike,
    v_conv: ConvBn,
    v_spike: MultiSpike,
    attn_spike: MultiSpike,
    proj_conv: ConvBn,
}

impl Attention {
    const V_RATIO: i64 = 4;

    /// Attention over `dim` channels (`dim % num_heads == 0`).
    pub fn new(p: &nn::Path, bp: BlockParams, dim: i64) -> Result<Self> {
        let dv = Self::V_RATIO * dim;
        Ok(Self {
            num_heads: bp.num_heads,
            // The official scale: (dim // heads) ** -0.5, doubled.
            scale: 2.0 * ((dim / bp.num_heads) as f64).powf(-0.5),
            head_spike: bp.spike(p, "head_spike"),
            q_conv: ConvBn::new(&(p / "q_conv"), Conv2dSpec::pointwise(dim, dim))?,
            q_spike: bp.spike(p, "q_spike"),
            k_conv: ConvBn::new(&(p / "k_conv"), Conv2dSpec::pointwise(dim, dim))?,
            k_spike: bp.spike(p, "k_spike"),
            v_conv: ConvBn::new(&(p / "v_conv"), Conv2dSpec::pointwise(dim, dv))?,
            v_spike: bp.spike(p, "v_spike"),
            attn_spike: bp.spike(p, "attn_spike"),
            proj_conv: ConvBn::new(&(p / "proj_conv"), Conv2dSpec::pointwise(dv, dim))?,
        })
    }

    /// `[B, C, H, W]` → `[B, heads, N, C/heads]`.
    fn split_heads(&self, x: &Tensor) -> Result<Tensor> {
        let (b, c, h, w) = x.size4()?;
        Ok(x.f_reshape([b, c, h * w])?
            .f_transpose(1, 2)?
            .f_reshape([b, h * w, self.num_heads, c / self.num_heads])?
            .f_permute([0, 2, 1, 3])?)
    }

    /// Applies the attention (no residual).
    pub fn forward(&self, x: &Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        let (b, _, h, w) = x.size4()?;
        let n = h * w;
        let x = self.head_spike.forward(x, ctx)?;
        let q = self.q_spike.forward(&self.q_conv.forward(&x, ctx)?, ctx)?;
        let k = self.k_spike.forward(&self.k_conv.forward(&x, ctx)?, ctx)?;
        let v = self.v_spike.forward(&self.v_conv.forward(&x, ctx)?, ctx)?;
        let (q, k, v) = (
            self.split_heads(&q)?,
            self.split_heads(&k)?,
            self.split_heads(&v)?,
        );
        let d = q.size()[3];
        let dv = v.size()[3];
        // Without softmax (q kᵀ) v = q (kᵀ v); every entry is a small multiple of 1/64, exact in
        // f32 either way, so pick the cheaper order.
        let kt = k.f_transpose(2, 3)?;
        let y = if 2 * d * dv < n * (d + dv) {
            q.f_matmul(&kt.f_matmul(&v)?)?
        } else {
            q.f_matmul(&kt)?.f_matmul(&v)?
        };
        let y = y.f_mul_scalar(self.scale)?;
        let cv = self.num_heads * dv;
        let y = y.f_transpose(2, 3)?.f_reshape([b, cv, n])?;
        let y = self.attn_spike.forward(&y, ctx)?.f_reshape([b, cv, h, w])?;
        self.proj_conv.forward(&y, ctx)
    }
}

/// `MS_MLP`: spike → 1×1 conv1d (4×, bias) + BN → spike → 1×1 conv1d (bias) + BN.
#[derive(Debug)]
pub struct Mlp {
    fc1_spike: MultiSpike,
    fc1_conv: Conv1d,
    fc1_bn: BatchNorm,
    fc2_spike: MultiSpike,
    fc2_conv: Conv1d,
    fc2_bn: BatchNorm,
}

impl Mlp {
    /// An MLP on `dim` channels with a 4× hidden layer.
    pub fn new(p: &nn::Path, bp: BlockParams, dim: i64) -> Result<Self> {
        let hidden = 4 * dim;
        Ok(Self {
            fc1_spike: bp.spike(p, "fc1_spike"),
            fc1_conv: Conv1d::new(&(p / "fc1_conv"), dim, hidden)?,
            fc1_bn: BatchNorm::new(&(p / "fc1_bn"), hidden)?,
            // The official module applies `fc2_spike` to the hidden layer.
            fc2_spike: bp.spike(p, "fc2_spike"),
            fc2_conv: Conv1d::new(&(p / "fc2_conv"), hidden, dim)?,
            fc2_bn: BatchNorm::new(&(p / "fc2_bn"), dim)?,
        })
    }

    /// Applies the MLP (no residual).
    pub fn forward(&self, x: &Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        let (b, c, h, w) = x.size4()?;
        let y = self.fc1_spike.forward(&x.f_reshape([b, c, h * w])?, ctx)?;
        let y = self.fc1_bn.forward(&self.fc1_conv.forward(&y, ctx)?, ctx)?;
        let y = self.fc2_spike.forward(&y, ctx)?;
        let y = self.fc2_bn.forward(&self.fc2_conv.forward(&y, ctx)?, ctx)?;
        Ok(y.f_reshape([b, c, h, w])?)
    }
}

/// `MS_Block_Spike_SepConv`: `x += SepConv_k3(x)`, `x += attn(x)`, `x += mlp(x)`.
#[derive(Debug)]
pub struct FormerBlock {
    conv: SepConvSpike,
    attn: Attention,
    mlp: Mlp,
}

impl FormerBlock {
    /// A transformer block on `dim` channels.
    pub fn new(p: &nn::Path, bp: BlockParams, dim: i64) -> Result<Self> {
        Ok(Self {
            conv: SepConvSpike::new(&(p / "conv"), bp, dim, 3)?,
            attn: Attention::new(&(p / "attn"), bp, dim)?,
            mlp: Mlp::new(&(p / "mlp"), bp, dim)?,
        })
    }

    /// Applies the block, residuals included.
    pub fn forward(&self, x: &Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        let branch = self.conv.forward(x, ctx)?;
        let x = x.f_add(&ctx.drop_path(&branch)?)?;
        let branch = self.attn.forward(&x, ctx)?;
        let x = x.f_add(&ctx.drop_path(&branch)?)?;
        let branch = self.mlp.forward(&x, ctx)?;
        Ok(x.f_add(&ctx.drop_path(&branch)?)?)
    }
}
