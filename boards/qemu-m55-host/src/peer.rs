//! The CMSIS-NN dense int8 peer ([`Variant::CmsisNn`]) next to our firmware: one model on the
//! scalar and Helium spike-driven builds and on the peer, instructions per inference side by
//! side, and how the peer's outputs agree with our dense reference.

use std::time::Duration;

use sdt_core::graph::{ConvOutput, Op};
use sdt_core::Kernel;
use sdt_host::AlignedBlob;

use crate::error::Result;
use crate::models::Workload;
use crate::reference::{self, HostInference};
use crate::{firmware, job, qemu, run_checked, Variant, INSNS_PER_TICK};

/// One firmware's run of a workload.
pub struct Side {
    pub variant: Variant,
    pub run: qemu::Run,
}

impl Side {
    /// Mean instructions per inference.
    pub fn insns_per_inference(&self) -> f64 {
        let r = &self.run.report;
        r.inferences.iter().map(|i| i.total_ticks).sum::<u64>() as f64 * INSNS_PER_TICK
            / r.inferences.len().max(1) as f64
    }

    /// Mean instructions of node `n` per inference.
    pub fn node_insns(&self, n: usize) -> f64 {
        let r = &self.run.report;
        r.inferences
            .iter()
            .map(|i| i.node_ticks.get(n).copied().unwrap_or(0))
            .sum::<u64>() as f64
            * INSNS_PER_TICK
            / r.inferences.len().max(1) as f64
    }
}

/// The three firmwares on one workload, and the host's dense reference.
pub struct Comparison {
    pub name: String,
    pub scalar: Side,
    pub helium: Side,
    /// The peer with exact residual layers (products and our affine maps).
    pub cmsis: Side,
    /// The peer with residual layers as int8 CMSIS-NN convolutions (cost model, lossy).
    pub cmsis_int8_residual: Side,
    pub reference: Vec<HostInference>,
    /// Differences of the spike-driven builds from the host (empty: bit-exact).
    pub spike_driven_differences: Vec<String>,
    /// What each node is ([`op_kind`]).
    pub kinds: Vec<&'static str>,
}

/// A node's kind, for the per-layer breakdown.
pub fn op_kind(op: &Op) -> &'static str {
    match op {
        Op::Encode(_) => "encoding layer",
        Op::Conv { synapse: s, mode } => match (s.geom.depthwise, s.geom.kernel, mode) {
            (true, _, _) => "depthwise conv → spikes",
            (false, 1, ConvOutput::Spikes { .. }) => "1×1 conv → spikes",
            (false, _, ConvOutput::Spikes { .. }) => "k×k conv → spikes",
            (false, 1, _) => "1×1 conv → residual/logits",
            (false, _, _) => "k×k conv → residual",
        },
        Op::Attention { .. } => "attention",
        Op::Spike { .. } => "spikes of the residual",
        Op::MeanSpike { .. } => "mean → spikes",
    }
}

/// Runs `w` on the scalar and Helium spike-driven firmwares (checked bit for bit against the
/// host) and on the CMSIS-NN peer.
pub fn compare(w: &Workload, timeout: Duration) -> Result<Comparison> {
    let mut spike_driven_differences = Vec::new();
    let mut sides = Vec::new();
    for v in [Variant::Scalar, Variant::Helium] {
        let c = run_checked(v, w, Kernel::SpikeDriven, timeout)?;
        spike_driven_differences.extend(c.differences);
        sides.push(Side {
            variant: v,
            run: c.device,
        });
    }
    let elf = firmware::build(Variant::CmsisNn)?;
    let run = qemu::run(&elf, &job::build(&w.blob, &w.inputs, job::STATS), timeout)?;
    let flags = job::STATS | job::INT8_RESIDUAL;
    let int8_residual = qemu::run(&elf, &job::build(&w.blob, &w.inputs, flags), timeout)?;
    let reference = reference::run(&w.blob, &w.inputs, Kernel::Dense)?;
    let blob = AlignedBlob::from_bytes(&w.blob);
    let kinds = blob
        .model()?
        .nodes()
        .iter()
        .map(|n| op_kind(&n.op))
        .collect();
    let helium = sides.pop().expect("two sides");
    let scalar = sides.pop().expect("two sides");
    Ok(Comparison {
        name: w.name.clone(),
        scalar,
        helium,
        cmsis: Side {
            variant: Variant::CmsisNn,
            run,
        },
        cmsis_int8_residual: Side {
            variant: Variant::CmsisNn,
            run: int8_residual,
        },
        reference,
        spike_driven_differences,
        kinds,
    })
}

/// Spike totals of one node on the peer and on our dense reference, over all inputs.
pub struct LayerSpikes {
    pub node: usize,
    pub peer: u64,
    pub reference: u64,
}

impl Comparison {
    /// Inputs whose top-1 class the peer and the reference agree on, and the input count.
    pub fn top1_agreement(&self) -> (usize, usize) {
        Self::agreement(&self.cmsis, &self.reference)
    }

    /// [`Comparison::top1_agreement`] of the int8-residual cost model.
    pub fn int8_residual_top1_agreement(&self) -> (usize, usize) {
        Self::agreement(&self.cmsis_int8_residual, &self.reference)
    }

    fn agreement(side: &Side, reference: &[HostInference]) -> (usize, usize) {
        let r = &side.run.report.inferences;
        let same = r
            .iter()
            .zip(reference)
            .filter(|(p, h)| p.top1 == h.top1)
            .count();
        (same, reference.len())
    }

    /// Inputs whose logits the peer gives bit for bit.
    pub fn bit_exact_logits(&self) -> usize {
        let r = &self.cmsis.run.report.inferences;
        r.iter()
            .zip(&self.reference)
            .filter(|(p, h)| p.logits == h.logits)
            .count()
    }

    /// Per-node spike totals (nodes with spike outputs only).
    pub fn layer_spikes(&self) -> Vec<LayerSpikes> {
        let peer = &self.cmsis.run.report.inferences;
        let nodes = self.reference.first().map_or(0, |h| h.stats.len());
        (0..nodes)
            .map(|n| LayerSpikes {
                node: n,
                peer: peer
                    .iter()
                    .map(|i| i.stats.get(n).map_or(0, |s| s.spikes))
                    .sum(),
                reference: self.reference.iter().map(|h| h.stats[n].spikes).sum(),
            })
            .filter(|l| l.reference + l.peer > 0)
            .collect()
    }

    /// Instructions per inference by node kind: `(kind, [scalar, Helium, CMSIS-NN, CMSIS-NN
    /// int8 residual])`, in order of first appearance.
    pub fn breakdown(&self) -> Vec<(&'static str, [f64; 4])> {
        let mut rows: Vec<(&'static str, [f64; 4])> = Vec::new();
        let sides = [
            &self.scalar,
            &self.helium,
            &self.cmsis,
            &self.cmsis_int8_residual,
        ];
        for (n, &kind) in self.kinds.iter().enumerate() {
            let cost = sides.map(|s| s.node_insns(n));
            match rows.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, acc)) => acc.iter_mut().zip(cost).for_each(|(a, c)| *a += c),
                None => rows.push((kind, cost)),
            }
        }
        rows
    }

    /// [`Comparison::breakdown`] as a markdown table.
    pub fn breakdown_table(&self) -> String {
        let mut t = format!(
            "{}: instructions per inference by node kind\n| node kind | scalar SD | Helium SD | CMSIS-NN | CMSIS-NN int8 residual | Helium SD / CMSIS-NN |\n|---|---|---|---|---|---|\n",
            self.name
        );
        for (kind, [s, h, c, r]) in self.breakdown() {
            t += &format!(
                "| {kind} | {s:.3e} | {h:.3e} | {c:.3e} | {r:.3e} | {:.2}× / {:.2}× |\n",
                h / c,
                h / r
            );
        }
        t
    }

    /// The table row: instructions per inference of each firmware and the ratio the issue
    /// tracks (Helium spike-driven / CMSIS-NN), against both peers.
    pub fn row(&self) -> String {
        let (s, h, c, r) = (
            self.scalar.insns_per_inference(),
            self.helium.insns_per_inference(),
            self.cmsis.insns_per_inference(),
            self.cmsis_int8_residual.insns_per_inference(),
        );
        let (agree, n) = self.top1_agreement();
        let (agree_r, _) = self.int8_residual_top1_agreement();
        format!(
            "| {} | {s:.3e} | {h:.3e} | {c:.3e} | {r:.3e} | {:.2}× / {:.2}× | {agree}/{n} / {agree_r}/{n} |",
            self.name,
            h / c,
            h / r
        )
    }
}

/// Header of [`Comparison::row`]'s table.
pub const TABLE_HEADER: &str = "| model | scalar spike-driven | Helium spike-driven | CMSIS-NN dense int8 (Helium) | CMSIS-NN, int8 residual | Helium SD / CMSIS-NN (/ int8 residual) | CMSIS-NN top-1 = dense reference (/ int8 residual) |\n|---|---|---|---|---|---|---|";
