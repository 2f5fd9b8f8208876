//! Linear attention nodes: the shared `kᵀv` stage, then query rows split over workers.

use core::ops::Range;

use super::rows::{cast_i32, for_rows};
use super::NodeCtx;
use crate::error::Result;
use crate::fixed::Affine;
use crate::graph::{AttentionOrder, TensorDesc};
use crate::kernels::attention::{attention_rows, kv_products, AttnArgs};
use crate::kernels::Kernel;
use crate::model::elements;
use crate::plan::ALIGN;
use crate::stats::{attention_sops, spike_counts, NodeStats};

pub(super) struct Attention<'t> {
    /// Shape of q (and k) and of v (and the output).
    pub q: &'t TensorDesc,
    pub v: &'t TensorDesc,
    pub heads: usize,
    pub order: AttentionOrder,
    pub affine: Affine,
    pub frac: u8,
}

impl Attention<'_> {
    pub fn run(
        &self,
        ctx: &NodeCtx<'_>,
        [q, k, v]: [&mut [u8]; 3],
        y: &mut [u8],
        scratch: &mut [u8],
    ) -> Result<NodeStats> {
        let (n_qk, n_v) = (elements(self.q), elements(self.v));
        let tokens = self.q.h as usize * self.q.w as usize;
        let args = AttnArgs {
            q: &q[..n_qk],
            k: &k[..n_qk],
            v: &v[..n_v],
            tokens,
            heads: self.heads,
            d: self.q.c as usize / self.heads,
            dv: self.v.c as usize / self.heads,
            affine: self.affine,
            frac: self.frac,
            spike_max: ctx.d,
        };
        let scratch = cast_i32(scratch, scratch.len() / 4)?;
        let shared = match self.order {
            AttentionOrder::KvFirst => self.heads * args.d * args.dv,
            AttentionOrder::QkThenV => 0,
        };
        let (kv, per_worker) = scratch.split_at_mut(shared.next_multiple_of(ALIGN / 4));
        let (kernel, order) = (ctx.kernel, self.order);
        if kernel == Kernel::SpikeDriven && order == AttentionOrder::KvFirst {
            kv_products(&args, kv);
        }
        let kv: &[i32] = kv;
        let job = |rows: Range<usize>, out: &mut [u8], s: &mut [i32]| {
            attention_rows(kernel, order, &args, kv, rows, s, out);
        };
        let y = &mut y[..n_v];
        let row = self.v.c as usize;
        for_rows(ctx, tokens, y, row, per_worker, tokens + args.dv, &job)?;
        let mut st = NodeStats::default();
        if ctx.want_stats {
            st.sops = attention_sops(&args, order);
            (st.spikes, st.nonzero, st.sites) = spike_counts(y);
        }
        Ok(st)
    }
}
