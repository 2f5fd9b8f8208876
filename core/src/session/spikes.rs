//! Spikes of the residual stream: per site, and of the spatial mean (before the head).

use core::ops::Range;

use super::rows::{cast_i32, for_rows, Rows};
use super::NodeCtx;
use crate::error::Result;
use crate::fixed::spike_count_ratio;
use crate::graph::{TensorDesc, TensorKind};
use crate::kernels::threshold::spike_values;
use crate::model::elements;
use crate::stats::{spike_counts, NodeStats};

fn frac_of(t: &TensorDesc) -> u8 {
    match t.kind {
        TensorKind::Fixed { frac } => frac,
        _ => 0,
    }
}

fn output_stats(ctx: &NodeCtx<'_>, y: &[u8]) -> NodeStats {
    let mut st = NodeStats::default();
    if ctx.want_stats {
        (st.spikes, st.nonzero, st.sites) = spike_counts(y);
    }
    st
}

/// `round_half_even(clamp(x, 0, D))` of every fixed-point value.
pub(super) fn spike(
    ctx: &NodeCtx<'_>,
    t: &TensorDesc,
    x: &mut [u8],
    y: &mut [u8],
) -> Result<NodeStats> {
    let n = elements(t);
    let frac = frac_of(t);
    let x: &[i32] = cast_i32(x, n)?;
    // Rows of the tensor over the workers (large ones only: `Rows::work`).
    let row_len = t.w as usize * t.c as usize;
    let rows = Rows {
        rows: t.h as usize,
        work: n,
    };
    let job = |rows: Range<usize>, out: &mut [u8], _: &mut [i32]| {
        let src = &x[rows.start * row_len..rows.end * row_len];
        spike_values(ctx.level, src, frac, ctx.d, out);
    };
    for_rows(ctx, rows, &mut y[..n], row_len, &mut [], 0, &job)?;
    Ok(output_stats(ctx, &y[..n]))
}

/// Spikes (Norm = 1) of each channel's mean over all positions, computed exactly.
pub(super) fn mean_spike(
    ctx: &NodeCtx<'_>,
    t: &TensorDesc,
    x: &mut [u8],
    y: &mut [u8],
) -> Result<NodeStats> {
    let c = t.c as usize;
    let tokens = t.h as usize * t.w as usize;
    let x = cast_i32(x, elements(t))?;
    let den = (tokens as i64) << frac_of(t);
    for (ch, o) in y[..c].iter_mut().enumerate() {
        let sum: i64 = x.iter().skip(ch).step_by(c).map(|&v| v as i64).sum();
        *o = spike_count_ratio(sum, den, ctx.d);
    }
    Ok(output_stats(ctx, &y[..c]))
}
