//! Per-node statistics: spikes, firing rates, synaptic operations and an energy estimate.

use core::ops::AddAssign;

use crate::graph::{AttentionOrder, ConvGeom, MAX_NODES};
use crate::kernels::attention::AttnArgs;

/// Energy of one accumulate (AC) in femtojoules, 45 nm (Horowitz 2014, as in the SDT papers).
pub const E_AC_FJ: u64 = 900;
/// Energy of one multiply-accumulate (MAC) in femtojoules, 45 nm.
pub const E_MAC_FJ: u64 = 4600;

/// Counters of one node, summed over every run recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Synaptic operations: one per weight (or count) added by the spike-driven kernel.
    pub sops: u64,
    /// Multiply-accumulates (encoding layer).
    pub macs: u64,
    /// For nodes that emit spikes: total spike count, non-zero sites and all sites.
    pub spikes: u64,
    pub nonzero: u64,
    pub sites: u64,
}

impl NodeStats {
    /// Estimated energy in femtojoules.
    pub fn energy_fj(&self) -> u64 {
        self.sops * E_AC_FJ + self.macs * E_MAC_FJ
    }
}

impl AddAssign for NodeStats {
    fn add_assign(&mut self, other: NodeStats) {
        self.sops += other.sops;
        self.macs += other.macs;
        self.spikes += other.spikes;
        self.nonzero += other.nonzero;
        self.sites += other.sites;
    }
}

/// Statistics of a model's nodes over one or more runs.
#[derive(Clone, Debug)]
pub struct Stats {
    pub nodes: [NodeStats; MAX_NODES],
    /// Number of runs recorded.
    pub runs: u32,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            nodes: [NodeStats::default(); MAX_NODES],
            runs: 0,
        }
    }
}

impl Stats {
    /// Sum over all nodes.
    pub fn total(&self) -> NodeStats {
        self.nodes
            .iter()
            .fold(NodeStats::default(), |t, n| NodeStats {
                sops: t.sops + n.sops,
                macs: t.macs + n.macs,
                spikes: t.spikes + n.spikes,
                nonzero: t.nonzero + n.nonzero,
                sites: t.sites + n.sites,
            })
    }
}

/// Counts spikes, non-zero sites and sites of a spike tensor.
pub(crate) fn spike_counts(spikes: &[u8]) -> (u64, u64, u64) {
    let (mut total, mut nonzero) = (0u64, 0u64);
    for &s in spikes {
        total += s as u64;
        nonzero += (s != 0) as u64;
    }
    (total, nonzero, spikes.len() as u64)
}

/// Number of outputs along one axis whose window covers input index `i`.
fn coverage(i: usize, in_len: usize, out_len: usize, g: &ConvGeom) -> u64 {
    let (k, s, p) = (g.kernel as isize, g.stride as isize, g.pad as isize);
    let i = i as isize;
    debug_assert!((i as usize) < in_len);
    // o·s − p ≤ i ≤ o·s − p + k − 1
    let lo = (i + p - k + 1).max(0);
    let lo = (lo + s - 1) / s;
    let hi = ((i + p) / s).min(out_len as isize - 1);
    (hi - lo + 1).max(0) as u64
}

/// Synaptic operations of a spike convolution: every input spike adds the weights of every
/// output it reaches.
pub(crate) fn conv_sops(
    g: &ConvGeom,
    input: &[u8],
    in_h: usize,
    in_w: usize,
    out: (usize, usize),
) -> u64 {
    let in_c = g.in_c as usize;
    let fan = if g.depthwise { 1 } else { g.out_c as u64 };
    let mut sops = 0u64;
    for iy in 0..in_h {
        let cy = coverage(iy, in_h, out.0, g);
        if cy == 0 {
            continue;
        }
        for ix in 0..in_w {
            let cx = coverage(ix, in_w, out.1, g);
            let px = &input[(iy * in_w + ix) * in_c..(iy * in_w + ix + 1) * in_c];
            let spikes: u64 = px.iter().map(|&s| s as u64).sum();
            sops += spikes * cy * cx * fan;
        }
    }
    sops
}

/// Multiply-accumulates of the encoding layer (padding taps are skipped, so not counted).
pub(crate) fn encode_macs(g: &ConvGeom, in_h: usize, in_w: usize, out: (usize, usize)) -> u64 {
    let taps_along = |in_len: usize, out_len: usize| -> u64 {
        (0..in_len).map(|i| coverage(i, in_len, out_len, g)).sum()
    };
    taps_along(in_h, out.0) * taps_along(in_w, out.1) * g.in_c as u64 * g.out_c as u64
}

/// SOPs of the spike-driven attention kernels (one per value added; for `(q kᵀ) v` the second
/// product counts every `v` spike once per query token).
pub(crate) fn attention_sops(a: &AttnArgs<'_>, order: AttentionOrder) -> u64 {
    let (c, cv) = (a.heads * a.d, a.heads * a.dv);
    let head = |t: &[u8], start: usize, width: usize| -> u64 {
        t[start..start + width].iter().map(|&s| s as u64).sum()
    };
    let mut sops = 0u64;
    for n in 0..a.tokens {
        for h in 0..a.heads {
            let q = head(a.q, n * c + h * a.d, a.d);
            sops += match order {
                AttentionOrder::KvFirst => (head(a.k, n * c + h * a.d, a.d) + q) * a.dv as u64,
                AttentionOrder::QkThenV => {
                    (q + head(a.v, n * cv + h * a.dv, a.dv)) * a.tokens as u64
                }
            };
        }
    }
    sops
}
