//! Splitting the arena into the disjoint views a node needs, and a node's rows into jobs.

use core::ops::Range;

use super::NodeCtx;
use crate::error::{Error, Result};
use crate::plan::{worker_stride, MAX_WORKERS};

/// Work (see [`Rows::work`]) below which a second worker costs more than it saves (moving
/// the node's inputs into that core's caches, handing over the job). Measured on SDT-10M on a
/// 2-core x86 host with workers that busy-wait between nodes: splitting paid off down to the
/// transformer stages' smallest nodes (7×7 tokens).
const MIN_WORK_PER_WORKER: usize = 10_000;

/// Stripes of rows per worker.
const STRIPES_PER_WORKER: usize = 2;

/// The rows of a node's output and an estimate of the work they take.
pub(super) struct Rows {
    pub rows: usize,
    /// Values listed or produced per output pixel times pixels, a proxy of the node's cost.
    pub work: usize,
}

/// Splits the output rows (of `row_len` values each) into one job per worker (fewer when the
/// node is small), each with its own `scratch_len` values of scratch, and runs them on the
/// node's executor.
pub(super) fn for_rows<T: Send, F>(
    ctx: &NodeCtx<'_>,
    Rows { rows, work }: Rows,
    out: &mut [T],
    row_len: usize,
    scratch: &mut [i32],
    scratch_len: usize,
    job: &F,
) -> Result<()>
where
    F: Fn(Range<usize>, &mut [T], &mut [i32]) + Sync,
{
    let worth = (work / MIN_WORK_PER_WORKER).max(1);
    let workers = ctx
        .workers
        .clamp(1, MAX_WORKERS)
        .min(rows.max(1))
        .min(worth);
    let per_worker = match scratch_len {
        0 => 0,
        _ => worker_stride(scratch_len * 4, workers) / 4,
    };
    let scratch = scratch
        .get_mut(..per_worker * workers)
        .ok_or(Error::ArenaTooSmall {
            needed: per_worker * workers * 4,
            found: 0,
        })?;
    if out.len() < rows * row_len {
        return Err(Error::ArenaTooSmall {
            needed: rows * row_len,
            found: out.len(),
        });
    }
    if workers == 1 {
        // One job, the whole node, on the calling thread: nothing to deal.
        job(0..rows, &mut out[..rows * row_len], scratch);
        return Ok(());
    }
    // Stripes of rows dealt to the workers in turn: the spikes of an image are not spread
    // evenly over its rows, and one half to each worker left one waiting for the other.
    // Stripe sizes differ by one row at most, and the longer ones come first, so that the
    // workers' shares differ by one row at most too (14 rows in 4 stripes: 4, 4, 3, 3 gives
    // each worker 7; stripes of ⌈14 / 4⌉ rows gave 8 and 6).
    let stripes = (workers * STRIPES_PER_WORKER).min(rows.max(1));
    let (short, longer) = (rows / stripes, rows % stripes);
    type Stripe<'o, T> = (Range<usize>, &'o mut [T]);
    let mut dealt: [heapless::Vec<Stripe<'_, T>, STRIPES_PER_WORKER>; MAX_WORKERS] =
        core::array::from_fn(|_| heapless::Vec::new());
    let mut out_rest = out;
    let (mut start, mut k) = (0, 0);
    while start < rows {
        let end = start + short + usize::from(k < longer);
        let (o, o_rest) = core::mem::take(&mut out_rest).split_at_mut((end - start) * row_len);
        out_rest = o_rest;
        // Cannot fail: at most `workers · STRIPES_PER_WORKER` stripes, dealt in turn.
        let _ = dealt[k % workers].push((start..end, o));
        (start, k) = (end, k + 1);
    }
    let mut jobs: heapless::Vec<_, MAX_WORKERS> = heapless::Vec::new();
    let mut scratch_rest = scratch;
    for mine in dealt.iter_mut().take(workers) {
        let (s, s_rest) = core::mem::take(&mut scratch_rest).split_at_mut(per_worker);
        scratch_rest = s_rest;
        // Cannot fail: `workers ≤ MAX_WORKERS` (clamped above), as for `refs` below.
        let _ = jobs.push(move || {
            for (range, o) in mine.iter_mut() {
                job(range.clone(), o, &mut *s);
            }
        });
    }
    let mut refs: heapless::Vec<&mut (dyn FnMut() + Send), MAX_WORKERS> = heapless::Vec::new();
    for j in jobs.iter_mut() {
        let _ = refs.push(j);
    }
    ctx.exec.run(&mut refs);
    Ok(())
}

pub(super) fn cast_i32(bytes: &mut [u8], n: usize) -> Result<&mut [i32]> {
    bytemuck::try_cast_slice_mut::<u8, i32>(bytes)
        .map_err(|_| Error::Misaligned { required: 4 })?
        .get_mut(..n)
        .ok_or(Error::ArenaTooSmall {
            needed: n * 4,
            found: 0,
        })
}

/// Disjoint mutable views of `N` byte ranges of the arena (empty ranges allowed).
pub(super) fn regions<const N: usize>(
    arena: &mut [u8],
    ranges: [Range<usize>; N],
) -> Result<[&mut [u8]; N]> {
    let mut order: [usize; N] = core::array::from_fn(|i| i);
    order.sort_unstable_by_key(|&i| ranges[i].start);
    let mut out: [&mut [u8]; N] = core::array::from_fn(|_| <&mut [u8]>::default());
    let mut rest = arena;
    let mut consumed = 0;
    for &i in &order {
        let r = &ranges[i];
        if r.is_empty() {
            continue;
        }
        if r.start < consumed || r.end > consumed + rest.len() {
            return Err(Error::ArenaTooSmall {
                needed: r.end,
                found: consumed + rest.len(),
            });
        }
        let (_, tail) = core::mem::take(&mut rest).split_at_mut(r.start - consumed);
        let (mine, tail) = tail.split_at_mut(r.len());
        out[i] = mine;
        rest = tail;
        consumed = r.end;
    }
    Ok(out)
}
