//! Running a model in a caller-provided arena.

use core::ops::Range;

mod attention;
mod kept;
mod rows;
mod spikes;
mod synapse;

use crate::engine::{Cpu, Engine};
use crate::error::{Error, Result};
use crate::exec::Executor;
use crate::graph::{ConvOutput, Op, TensorId, TensorKind};
use crate::kernels::threshold::Thresholds;
use crate::kernels::{Kernel, Level, UnsupportedLevel};
use crate::model::{elements, tensor_bytes, Model};
use crate::plan::{Plan, ALIGN};
use crate::stats::{NodeStats, Stats};
use rows::regions;
use synapse::Synapse;

pub use kept::kept_thresholds_len;

/// A quantized input, HWC.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    I8(&'a [i8]),
    I16(&'a [i16]),
}

impl Input<'_> {
    pub fn len(&self) -> usize {
        match self {
            Input::I8(x) => x.len(),
            Input::I16(x) => x.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Bytes of arena a session of `model` with `workers` threads needs (alignment slack included).
pub fn arena_bytes(model: &Model<'_>, workers: usize) -> Result<usize> {
    Ok(Plan::new(model.graph(), workers)?.bytes + ALIGN - 1)
}

/// A model bound to an arena. Tensors live in the arena at the offsets of the plan.
pub struct Session<'m, 'b, 'a> {
    model: &'m Model<'b>,
    plan: Plan,
    arena: &'a mut [u8],
    level: Level,
    /// Spike thresholds kept across runs, if the caller gave room for them.
    kept: Option<&'a [i32]>,
}

impl<'m, 'b, 'a> Session<'m, 'b, 'a> {
    /// Plans `model` for `workers` threads in `arena` (see [`arena_bytes`]).
    pub fn new(model: &'m Model<'b>, arena: &'a mut [u8], workers: usize) -> Result<Self> {
        let plan = Plan::new(model.graph(), workers)?;
        let skip = arena.as_ptr().align_offset(ALIGN).min(arena.len());
        let arena = &mut arena[skip..];
        if arena.len() < plan.bytes {
            return Err(Error::ArenaTooSmall {
                needed: plan.bytes + ALIGN - 1,
                found: arena.len() + skip,
            });
        }
        let arena = &mut arena[..plan.bytes];
        Ok(Session {
            model,
            plan,
            arena,
            level: Level::default_for_sessions(),
            kept: None,
        })
    }

    /// Builds the spike thresholds of every layer once, in `kept` (at least
    /// [`kept_thresholds_len`] values), instead of on every run: runs then skip `D`
    /// divisions per channel of each spike layer (about 3 % of an SDT-10M run on one host
    /// core, more on two, where they ran before a layer's rows were split), and cores that
    /// never build tables of their own (without Helium) compare with these instead of
    /// mapping every value (5-13 % fewer instructions on a Cortex-M55). The integers do not
    /// change. The arena is not involved, so [`arena_bytes`] stays what a microcontroller
    /// without room for the tables needs.
    pub fn keep_thresholds(&mut self, kept: &'a mut [i32]) -> Result<()> {
        self.kept = Some(kept::fill(self.model, kept)?);
        Ok(())
    }

    /// The kernel set this session runs ([`Level::default_for_sessions`] unless set).
    pub fn level(&self) -> Level {
        self.level
    }

    /// Runs this session's kernels at `level` (every level gives the same integers); a level
    /// this CPU lacks is refused.
    pub fn set_level(&mut self, level: Level) -> core::result::Result<(), UnsupportedLevel> {
        self.level = level.checked()?;
        Ok(())
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn model(&self) -> &'m Model<'b> {
        self.model
    }

    fn input_bytes(&mut self) -> &mut [u8] {
        let id = self.model.graph().input;
        let range = self.plan.tensor(id);
        let n = tensor_bytes(self.model.tensor(id));
        &mut self.arena[range][..n]
    }

    /// The `i8` input tensor (HWC) to fill before [`Session::run`], if the input is `i8`.
    pub fn input_i8_mut(&mut self) -> Option<&mut [i8]> {
        (!self.model.wide_input()).then(|| bytemuck::cast_slice_mut(self.input_bytes()))
    }

    /// The `i16` input tensor (HWC), if the input is `i16`.
    pub fn input_i16_mut(&mut self) -> Option<&mut [i16]> {
        (self.model.wide_input()).then(|| bytemuck::cast_slice_mut(self.input_bytes()))
    }

    /// Copies a quantized input into the input tensor.
    pub fn set_input(&mut self, input: Input<'_>) -> Result<()> {
        let expected = self.model.input_len();
        let wrong = Error::InputLength {
            expected,
            found: input.len(),
        };
        match input {
            Input::I8(x) => self
                .input_i8_mut()
                .filter(|d| d.len() == x.len())
                .ok_or(wrong)?
                .copy_from_slice(x),
            Input::I16(x) => self
                .input_i16_mut()
                .filter(|d| d.len() == x.len())
                .ok_or(wrong)?
                .copy_from_slice(x),
        }
        Ok(())
    }

    /// Logits in fixed point (see the logits tensor's `frac`).
    pub fn logits(&self) -> &[i32] {
        self.fixed(self.model.graph().logits).unwrap_or(&[])
    }

    /// Index of the largest logit (the first one on ties).
    pub fn top1(&self) -> usize {
        let logits = self.logits();
        let mut best = 0;
        for (i, &l) in logits.iter().enumerate() {
            if l > logits[best] {
                best = i;
            }
        }
        best
    }

    /// Contents of a spike tensor.
    pub fn spikes(&self, id: TensorId) -> Option<&[u8]> {
        let t = self.model.graph().tensors.get(id as usize)?;
        (t.kind == TensorKind::Spikes).then(|| &self.arena[self.plan.tensor(id)][..elements(t)])
    }

    /// Contents of a fixed-point tensor (residual stream or logits).
    pub fn fixed(&self, id: TensorId) -> Option<&[i32]> {
        let t = self.model.graph().tensors.get(id as usize)?;
        let bytes = &self.arena[self.plan.tensor(id)];
        matches!(t.kind, TensorKind::Fixed { .. })
            .then(|| bytemuck::cast_slice(bytes).get(..elements(t)))
            .flatten()
    }

    /// Mutable fixed-point tensor, e.g. to start a block from a given residual stream.
    pub fn fixed_mut(&mut self, id: TensorId) -> Option<&mut [i32]> {
        let t = *self.model.graph().tensors.get(id as usize)?;
        let bytes = &mut self.arena[self.plan.tensor(id)];
        if !matches!(t.kind, TensorKind::Fixed { .. }) {
            return None;
        }
        bytemuck::cast_slice_mut(bytes).get_mut(..elements(&t))
    }

    /// Runs the whole model on the current input (which stays intact: runs can repeat).
    pub fn run(
        &mut self,
        kernel: Kernel,
        exec: &dyn Executor,
        stats: Option<&mut Stats>,
    ) -> Result<()> {
        let n = self.model.nodes().len();
        self.run_nodes(0..n, kernel, exec, stats)
    }

    /// Runs the whole model with the matrix products `engine` takes computed by it (the rest on
    /// `kernel`); the integers are the same as [`Session::run`]'s.
    pub fn run_with_engine(
        &mut self,
        engine: &dyn Engine,
        kernel: Kernel,
        exec: &dyn Executor,
        stats: Option<&mut Stats>,
    ) -> Result<()> {
        let n = self.model.nodes().len();
        self.run_nodes_with_engine(0..n, engine, kernel, exec, stats)
    }

    /// Runs nodes `nodes` only (their inputs must already hold data).
    pub fn run_nodes(
        &mut self,
        nodes: Range<usize>,
        kernel: Kernel,
        exec: &dyn Executor,
        stats: Option<&mut Stats>,
    ) -> Result<()> {
        self.run_nodes_with_engine(nodes, &Cpu, kernel, exec, stats)
    }

    /// [`Session::run_nodes`] with a matrix-product engine.
    pub fn run_nodes_with_engine(
        &mut self,
        nodes: Range<usize>,
        engine: &dyn Engine,
        kernel: Kernel,
        exec: &dyn Executor,
        mut stats: Option<&mut Stats>,
    ) -> Result<()> {
        if nodes.start > nodes.end || nodes.end > self.model.nodes().len() {
            return Err(Error::BadNodeRange);
        }
        for i in nodes {
            let node_stats = self.run_node(i, engine, kernel, exec, stats.is_some())?;
            if let Some(s) = stats.as_deref_mut() {
                s.nodes[i] += node_stats;
            }
        }
        if let Some(s) = stats {
            s.runs += 1;
        }
        Ok(())
    }

    fn run_node(
        &mut self,
        i: usize,
        engine: &dyn Engine,
        kernel: Kernel,
        exec: &dyn Executor,
        want_stats: bool,
    ) -> Result<NodeStats> {
        let model = self.model;
        let ctx = NodeCtx {
            node: i as u16,
            engine,
            exec,
            workers: exec.workers().clamp(1, self.plan.workers),
            kernel,
            level: self.level,
            d: model.d(),
            want_stats,
            thresholds: self.kept.and_then(|k| kept::table(model, k, i)),
        };
        let plan = &self.plan;
        let scratch = plan.scratch(i);
        let op = model.nodes()[i].op;
        match op {
            Op::Encode(synapse) | Op::Conv { synapse, .. } => {
                let mode = op.conv_output().unwrap_or(ConvOutput::Write);
                let [x, y, s] = regions(
                    self.arena,
                    [
                        plan.tensor(synapse.input),
                        plan.tensor(synapse.output),
                        scratch,
                    ],
                )?;
                Synapse::new(model, &synapse, mode).run(&ctx, x, y, s)
            }
            Op::Spike { input, output } => {
                let [x, y] = regions(self.arena, [plan.tensor(input), plan.tensor(output)])?;
                spikes::spike(&ctx, model.tensor(input), x, y)
            }
            Op::MeanSpike { input, output } => {
                let [x, y] = regions(self.arena, [plan.tensor(input), plan.tensor(output)])?;
                spikes::mean_spike(&ctx, model.tensor(input), x, y)
            }
            Op::Attention {
                q,
                k,
                v,
                output,
                heads,
                order,
                affine,
                frac,
            } => {
                let views = [q, k, v, output].map(|t| plan.tensor(t));
                let [rq, rk, rv, ry] = views;
                let [bq, bk, bv, y, s] = regions(self.arena, [rq, rk, rv, ry, scratch])?;
                let layer = attention::Attention {
                    q: model.tensor(q),
                    v: model.tensor(v),
                    heads: heads as usize,
                    order,
                    affine: model.affine(affine).first().copied().unwrap_or_default(),
                    frac,
                };
                layer.run(&ctx, [bq, bk, bv], y, s)
            }
        }
    }
}

/// What every node runner needs from the session.
pub(crate) struct NodeCtx<'e> {
    /// Index of the node being run.
    pub node: u16,
    pub engine: &'e dyn Engine,
    pub exec: &'e dyn Executor,
    pub workers: usize,
    pub kernel: Kernel,
    /// The kernel set (checked against the CPU).
    pub level: Level,
    pub d: u8,
    pub want_stats: bool,
    /// The node's kept spike thresholds, if the session keeps them.
    pub thresholds: Option<Thresholds<'e>>,
}
