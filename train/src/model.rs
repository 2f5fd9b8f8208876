//! `Spiking_vit_MetaFormer_Spike_SepConv`: the whole SDT-V3 classification family.

use serde::{Deserialize, Serialize};
use tch::{nn, Tensor};

use crate::blocks::{BlockParams, ConvBlock, DownSampling, FormerBlock};
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::layers::{Conv2dSpec, Linear};
use crate::spike::MultiSpike;

/// Architecture hyper-parameters. The block structure is fixed by the official class; widths,
/// input, classes, heads and D are free.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SdtConfig {
    /// `embed_dim = [c0, c1, c2, c3]`.
    pub embed_dims: [i64; 4],
    /// Input channels (3 for RGB, 1 for grey, 2 for event frames).
    pub in_channels: i64,
    /// Square input side in pixels (informational: the network is size agnostic).
    pub image_size: i64,
    /// Output classes.
    pub num_classes: i64,
    /// Attention heads.
    pub num_heads: i64,
    /// Spike count limit D.
    pub spike_max: u8,
}

impl SdtConfig {
    fn imagenet(embed_dims: [i64; 4]) -> Self {
        Self {
            embed_dims,
            in_channels: 3,
            image_size: 224,
            num_classes: 1000,
            num_heads: 8,
            spike_max: 4,
        }
    }

    /// `Efficient_Spiking_Transformer_t` (2.7 M parameters).
    pub fn t() -> Self {
        Self::imagenet([24, 48, 96, 128])
    }

    /// `Efficient_Spiking_Transformer_s` (5.1 M).
    pub fn s() -> Self {
        Self::imagenet([32, 64, 128, 192])
    }

    /// `Efficient_Spiking_Transformer_m`, "SDT-10M".
    pub fn m() -> Self {
        Self::imagenet([48, 96, 192, 240])
    }

    /// `Efficient_Spiking_Transformer_l`, "SDT-19M".
    pub fn l() -> Self {
        Self::imagenet([64, 128, 256, 360])
    }

    /// The small digits model of the golden data: 1×32×32 input, 10 classes.
    pub fn digits32() -> Self {
        Self {
            embed_dims: [16, 32, 64, 96],
            in_channels: 1,
            image_size: 32,
            num_classes: 10,
            num_heads: 8,
            spike_max: 4,
        }
    }

    /// A preset by name: `t`, `s`, `m`, `l` or `digits32`.
    pub fn preset(name: &str) -> Result<Self> {
        match name {
            "t" => Ok(Self::t()),
            "s" => Ok(Self::s()),
            "m" => Ok(Self::m()),
            "l" => Ok(Self::l()),
            "digits32" => Ok(Self::digits32()),
            other => Err(Error::Config(format!(
                "unknown preset `{other}` (expected t, s, m, l or digits32)"
            ))),
        }
    }

    /// Checks what the architecture requires.
    pub fn validate(&self) -> Result<()> {
        let [c0, _, c2, c3] = self.embed_dims;
        if self.embed_dims.iter().any(|&c| c <= 0) {
            return Err(Error::Config(format!(
                "embed dims must be positive: {:?}",
                self.embed_dims
            )));
        }
        if c0 % 2 != 0 {
            return Err(Error::Config(format!("embed_dims[0] = {c0} must be even")));
        }
        if self.num_heads <= 0 || c2 % self.num_heads != 0 || c3 % self.num_heads != 0 {
            return Err(Error::Config(format!(
                "embed_dims[2] = {c2} and embed_dims[3] = {c3} must be multiples of the {} heads",
                self.num_heads
            )));
        }
        if self.in_channels <= 0 || self.num_classes <= 0 || self.image_size <= 0 {
            return Err(Error::Config(
                "in_channels, num_classes and image_size must be positive".into(),
            ));
        }
        if self.spike_max == 0 {
            return Err(Error::Config("spike_max (D) must be at least 1".into()));
        }
        Ok(())
    }
}

/// One top-level block of the network.
#[derive(Debug)]
pub enum Stage {
    /// `MS_DownSampling`.
    Down(DownSampling),
    /// `MS_ConvBlock_spike_SepConv`.
    Conv(Box<ConvBlock>),
    /// `MS_Block_Spike_SepConv`.
    Former(Box<FormerBlock>),
}

impl Stage {
    /// Applies the block to the residual stream.
    pub fn forward(&self, x: &Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        match self {
            Stage::Down(b) => b.forward(x, ctx),
            Stage::Conv(b) => b.forward(x, ctx),
            Stage::Former(b) => b.forward(x, ctx),
        }
    }
}

/// A top-level block with its official module path (`downsample1_1`, `ConvBlock1_1.0`,
/// `block3.0`, ...).
#[derive(Debug)]
pub struct NamedStage {
    pub name: String,
    pub stage: Stage,
}

/// The classification network. Parameter and buffer names in the var store are those of the
/// official `state_dict`.
#[derive(Debug)]
pub struct Sdt {
    config: SdtConfig,
    stages: Vec<NamedStage>,
    head_spike: MultiSpike,
    head: Linear,
}

impl Sdt {
    /// Builds the network with freshly initialised weights under `p` (normally `vs.root()`).
    pub fn new(p: &nn::Path, config: SdtConfig) -> Result<Self> {
        config.validate()?;
        let bp = BlockParams {
            spike_max: config.spike_max,
            num_heads: config.num_heads,
        };
        let [c0, c1, c2, c3] = config.embed_dims;
        let down = |cin, cout, kernel, stride| Conv2dSpec {
            in_channels: cin,
            out_channels: cout,
            kernel,
            stride,
            padding: kernel / 2,
            groups: 1,
            bias: true,
        };

        let mut stages = Vec::new();
        let mut push = |name: String, stage: Stage| stages.push(NamedStage { name, stage });
        let ds = |name: &str, spec, first| -> Result<(String, Stage)> {
            Ok((
                name.to_owned(),
                Stage::Down(DownSampling::new(&(p / name), bp, spec, first)?),
            ))
        };
        let conv = |name: &str, dim| -> Result<(String, Stage)> {
            Ok((
                format!("{name}.0"),
                Stage::Conv(Box::new(ConvBlock::new(&(p / name / 0), bp, dim)?)),
            ))
        };
        let former = |name: &str, i: usize, dim| -> Result<(String, Stage)> {
            Ok((
                format!("{name}.{i}"),
                Stage::Former(Box::new(FormerBlock::new(&(p / name / i), bp, dim)?)),
            ))
        };

        let (n, s) = ds(
            "downsample1_1",
            down(config.in_channels, c0 / 2, 7, 2),
            true,
        )?;
        push(n, s);
        let (n, s) = conv("ConvBlock1_1", c0 / 2)?;
        push(n, s);
        let (n, s) = ds("downsample1_2", down(c0 / 2, c0, 3, 2), false)?;
        push(n, s);
        let (n, s) = conv("ConvBlock1_2", c0)?;
        push(n, s);
        let (n, s) = ds("downsample2", down(c0, c1, 3, 2), false)?;
        push(n, s);
        let (n, s) = conv("ConvBlock2_1", c1)?;
        push(n, s);
        let (n, s) = conv("ConvBlock2_2", c1)?;
        push(n, s);
        let (n, s) = ds("downsample3", down(c1, c2, 3, 2), false)?;
        push(n, s);
        for i in 0..6 {
            let (n, s) = former("block3", i, c2)?;
            push(n, s);
        }
        let (n, s) = ds("downsample4", down(c2, c3, 3, 1), false)?;
        push(n, s);
        for i in 0..2 {
            let (n, s) = former("block4", i, c3)?;
            push(n, s);
        }

        Ok(Self {
            head_spike: MultiSpike::new(p, "spike", config.spike_max, 1.0),
            head: Linear::new(&(p / "head"), c3, config.num_classes)?,
            config,
            stages,
        })
    }

    /// The configuration the network was built from.
    pub fn config(&self) -> &SdtConfig {
        &self.config
    }

    /// The 17 top-level blocks in execution order.
    pub fn stages(&self) -> &[NamedStage] {
        &self.stages
    }

    /// The residual stream after the last block, `[B, c3, H/16, W/16]`.
    pub fn forward_features(&self, x: &Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        let size = x.size();
        if size.len() != 4 || size[1] != self.config.in_channels {
            return Err(Error::Data(format!(
                "input must be [B, {}, H, W], got {size:?}",
                self.config.in_channels
            )));
        }
        let mut x = match ctx.input_step() {
            Some(step) => x
                .f_div_scalar(step)?
                .f_round()?
                .f_clamp(-127.0, 127.0)?
                .f_mul_scalar(step)?,
            None => x.shallow_clone(),
        };
        let blocks = self
            .stages
            .iter()
            .filter(|s| !matches!(s.stage, Stage::Down(_)))
            .count();
        let mut index = 0;
        for stage in &self.stages {
            if !matches!(stage.stage, Stage::Down(_)) {
                ctx.enter_block(index, blocks);
                index += 1;
            }
            x = stage.stage.forward(&x, ctx)?;
        }
        Ok(x)
    }

    /// Logits `[B, classes]`: spatial mean → `MultiSpike(Norm = 1)` → linear head.
    pub fn forward(&self, x: &Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        let features = self.forward_features(x, ctx)?;
        self.head_logits(&features, ctx)
    }

    /// The classifier on top of the residual stream `[B, c3, H, W]`.
    pub fn head_logits(&self, features: &Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        let pooled = features.f_flatten(2, -1)?.f_mean_dim(2i64, false, None)?;
        let spikes = self.head_spike.forward(&pooled, ctx)?;
        self.head.forward(&spikes, ctx)
    }

    /// Sets the BatchNorm running statistics of an untrained model from `passes` training-mode
    /// forwards (no gradients) of the batches `batch` yields, so its spike layers fire at
    /// realistic rates in eval mode (fresh statistics leave most of them silent or saturated).
    pub fn calibrate_batchnorm(
        &self,
        passes: usize,
        mut batch: impl FnMut() -> Tensor,
    ) -> Result<()> {
        let _no_grad = tch::no_grad_guard();
        for _ in 0..passes {
            let _logits = self.forward(&batch(), &mut Ctx::train())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn::VarStore, Device, Kind};

    fn parameter_count(config: SdtConfig) -> i64 {
        let vs = VarStore::new(Device::Cpu);
        let _model = Sdt::new(&vs.root(), config).unwrap();
        vs.trainable_variables()
            .iter()
            .map(Tensor::numel)
            .sum::<usize>() as i64
    }

    #[test]
    fn parameter_counts_match_the_official_models() {
        assert_eq!(parameter_count(SdtConfig::digits32()), 1_250_858);
        assert_eq!(parameter_count(SdtConfig::m()), 10_023_112);
    }

    #[test]
    fn official_names_and_shapes() {
        let vs = VarStore::new(Device::Cpu);
        let _model = Sdt::new(&vs.root(), SdtConfig::digits32()).unwrap();
        let vars = vs.variables();
        let shape = |n: &str| vars.get(n).map(Tensor::size);
        assert_eq!(
            shape("downsample1_1.encode_conv.weight"),
            Some(vec![8, 1, 7, 7])
        );
        assert_eq!(
            shape("ConvBlock1_1.0.Conv.pwconv1.0.weight"),
            Some(vec![16, 8, 1, 1])
        );
        assert_eq!(shape("block3.0.attn.q_conv.1.running_mean"), Some(vec![64]));
        assert_eq!(
            shape("block3.0.mlp.fc1_conv.weight"),
            Some(vec![256, 64, 1])
        );
        assert_eq!(shape("head.weight"), Some(vec![10, 96]));
        assert_eq!(vars.len(), 605);
    }

    #[test]
    fn rejects_impossible_configs_and_inputs() {
        let mut c = SdtConfig::digits32();
        c.embed_dims[2] = 60;
        assert!(c.validate().is_err());
        assert!(SdtConfig::preset("xl").is_err());

        let vs = VarStore::new(Device::Cpu);
        let model = Sdt::new(&vs.root(), SdtConfig::digits32()).unwrap();
        let rgb = Tensor::zeros([1, 3, 32, 32], (Kind::Float, Device::Cpu));
        assert!(matches!(
            model.forward(&rgb, &mut Ctx::eval()),
            Err(Error::Data(_))
        ));
    }

    #[test]
    fn training_mode_updates_batchnorm_statistics() {
        let vs = VarStore::new(Device::Cpu);
        let model = Sdt::new(&vs.root(), SdtConfig::digits32()).unwrap();
        let x = Tensor::randn([4, 1, 32, 32], (Kind::Float, Device::Cpu));
        let logits = model.forward(&x, &mut Ctx::train()).unwrap();
        assert_eq!(logits.size(), [4, 10]);
        let vars = vs.variables();
        assert_eq!(
            vars["downsample1_1.encode_bn.num_batches_tracked"].int64_value(&[]),
            1
        );
        let mean = &vars["downsample1_1.encode_bn.running_mean"];
        assert!(mean.abs().sum(Kind::Float).double_value(&[]) > 0.0);
        // Gradients reach the encoding layer through every spike layer.
        logits.sum(Kind::Float).backward();
        let g = vars["downsample1_1.encode_conv.weight"].grad();
        assert!(g.defined() && g.abs().sum(Kind::Float).double_value(&[]) > 0.0);
    }
}
