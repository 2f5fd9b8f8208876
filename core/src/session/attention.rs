//! Linear attention nodes: the shared `kᵀv` stage, then query rows split over workers.

use core::ops::Range;

use super::rows::{cast_i32, for_rows, Rows};
use super::NodeCtx;
use crate::engine::{MatMul, Operand, Role, View};
use crate::error::{Error, Result};
use crate::fixed::spike_count;
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
        let y = &mut y[..n_v];
        let offloaded = order == AttentionOrder::KvFirst && offload(ctx, &args, kv, per_worker, y)?;
        if !offloaded {
            if kernel == Kernel::SpikeDriven && order == AttentionOrder::KvFirst {
                // Heads over the workers.
                let (heads, per_head) = (self.heads, args.d * args.dv);
                let rows = Rows {
                    rows: heads,
                    work: heads * tokens * per_head,
                };
                let job = |h: Range<usize>, out: &mut [i32], _: &mut [i32]| {
                    kv_products(ctx.level, &args, h, out);
                };
                for_rows(
                    ctx,
                    rows,
                    &mut kv[..heads * per_head],
                    per_head,
                    &mut [],
                    0,
                    &job,
                )?;
            }
            let kv: &[i32] = kv;
            let job = |rows: Range<usize>, out: &mut [u8], s: &mut [i32]| {
                attention_rows(ctx.level, kernel, order, &args, kv, rows, s, out);
            };
            let row = self.v.c as usize;
            // Per token: one product row per head (`q` over `kᵀv`, or scores over `v`).
            let per_token = match order {
                AttentionOrder::KvFirst => self.heads * args.d * args.dv,
                AttentionOrder::QkThenV => self.heads * tokens * (args.d + args.dv),
            };
            let rows = Rows {
                rows: tokens,
                work: tokens * per_token,
            };
            for_rows(ctx, rows, y, row, per_worker, tokens + row, &job)?;
        }
        let mut st = NodeStats::default();
        if ctx.want_stats {
            st.sops = attention_sops(&args, order);
            (st.spikes, st.nonzero, st.sites) = spike_counts(y);
        }
        Ok(st)
    }
}

/// Hands both products of every head, `kᵀv` then `q (kᵀv)`, to the session's engine if it takes
/// all of them; the affine map and spikes stay here. Returns whether it was handed over.
fn offload(
    ctx: &NodeCtx<'_>,
    a: &AttnArgs<'_>,
    kv: &mut [i32],
    row: &mut [i32],
    y: &mut [u8],
) -> Result<bool> {
    let (c, cv, d, dv, tokens) = (a.heads * a.d, a.heads * a.dv, a.d, a.dv, a.tokens);
    let node = ctx.node;
    let key_value = |h: usize| {
        let kt = View::new(a.k, [d, tokens], h * d, [1, c])?;
        let v = View::new(a.v, [tokens, dv], h * dv, [cv, 1])?;
        Some(MatMul {
            node,
            role: Role::KeyValue { head: h as u16 },
            a: kt,
            b: Operand::Spikes(v),
        })
    };
    let engine = ctx.engine;
    for h in 0..a.heads {
        let both = key_value(h).zip(query_product(a, node, h, kv));
        if !both.is_some_and(|(p, q)| engine.takes(&p) && engine.takes(&q)) {
            return Ok(false);
        }
    }
    let fail = |error| Error::Engine { node, error };
    for h in 0..a.heads {
        let p = key_value(h).ok_or(Error::ShapeMismatch { node })?;
        let dst = &mut kv[h * d * dv..(h + 1) * d * dv];
        let mut store = |i: usize, acc: &[i32]| {
            if let Some(r) = dst.get_mut(i * dv..(i + 1) * dv) {
                for (o, &x) in r.iter_mut().zip(acc) {
                    *o = x;
                }
            }
        };
        engine.matmul(&p, row, &mut store).map_err(fail)?;
    }
    let kv: &[i32] = kv;
    for h in 0..a.heads {
        let p = query_product(a, node, h, kv).ok_or(Error::ShapeMismatch { node })?;
        let mut store = |n: usize, acc: &[i32]| {
            if let Some(dst) = y.get_mut(n * cv + h * dv..n * cv + (h + 1) * dv) {
                for (o, &x) in dst.iter_mut().zip(acc) {
                    *o = spike_count(a.affine.apply(x), a.frac, a.spike_max);
                }
            }
        };
        engine.matmul(&p, row, &mut store).map_err(fail)?;
    }
    Ok(true)
}

/// `q (kᵀv)` of head `h`.
fn query_product<'x>(a: &AttnArgs<'x>, node: u16, h: usize, kv: &'x [i32]) -> Option<MatMul<'x>> {
    let (c, d, dv) = (a.heads * a.d, a.d, a.dv);
    let q = View::new(a.q, [a.tokens, d], h * d, [c, 1])?;
    let kv = View::new(kv, [d, dv], h * d * dv, [dv, 1])?;
    Some(MatMul {
        node,
        role: Role::Query { head: h as u16 },
        a: q,
        b: Operand::I32(kv),
    })
}
