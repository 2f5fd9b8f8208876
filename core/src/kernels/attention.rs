//! Linear (softmax-free) spike attention per head: `S = q kᵀ v`, then one affine map to spikes.
//!
//! Tensors are token-major: `q`, `k` are `[N][C]`, `v` and the output `[N][Cv]`; head `h` owns
//! channels `h·d .. (h+1)·d` of `q`/`k` and `h·dv .. (h+1)·dv` of `v`. Without softmax the
//! product is associative, so `q (kᵀ v)` and `(q kᵀ) v` are the same integers.

use core::ops::Range;

use super::level::Level;
use super::threshold::Levels;
use super::Kernel;
use crate::fixed::{spike_count, Affine};
use crate::graph::AttentionOrder;

/// Operands of one attention node.
pub struct AttnArgs<'a> {
    pub q: &'a [u8],
    pub k: &'a [u8],
    pub v: &'a [u8],
    pub tokens: usize,
    pub heads: usize,
    /// Head widths of q/k and of v.
    pub d: usize,
    pub dv: usize,
    pub affine: Affine,
    pub frac: u8,
    pub spike_max: u8,
}

impl AttnArgs<'_> {
    fn c(&self) -> usize {
        self.heads * self.d
    }
    fn cv(&self) -> usize {
        self.heads * self.dv
    }
}

/// Shared stage of `q (kᵀ v)` for heads `heads`: `kv[h][a][b] = Σ_n k[n][h,a] · v[n][h,b]`
/// into `kv` (those heads' `d·dv` values each), spike-driven: each binary spike of `k` adds
/// the token's `v` counts.
pub fn kv_products(level: Level, a: &AttnArgs<'_>, heads: Range<usize>, kv: &mut [i32]) {
    #[cfg(target_arch = "x86_64")]
    if level.uses(Level::Avx512) {
        // SAFETY: `uses` checked that the CPU has AVX-512.
        return unsafe { super::x86_64::kv_products_avx512(a, heads, kv) };
    }
    let _ = level;
    kv_products_with(a, heads, kv)
}

/// [`kv_products`], inlined into the entry of a level.
#[inline(always)]
pub(super) fn kv_products_with(a: &AttnArgs<'_>, heads: Range<usize>, kv: &mut [i32]) {
    let (c, cv, d, dv) = (a.c(), a.cv(), a.d, a.dv);
    let first = heads.start;
    let kv = &mut kv[..heads.len() * d * dv];
    kv.fill(0);
    for n in 0..a.tokens {
        let k_row = &a.k[n * c..(n + 1) * c];
        let v_row = &a.v[n * cv..(n + 1) * cv];
        for h in heads.clone() {
            let v_head = &v_row[h * dv..(h + 1) * dv];
            let head_kv = &mut kv[(h - first) * d * dv..(h - first + 1) * d * dv];
            for_each_spike(&k_row[h * d..(h + 1) * d], |i| {
                add_counts(&mut head_kv[i * dv..(i + 1) * dv], v_head);
            });
        }
    }
}

/// Output tokens `rows`. `kv` is the shared stage (used by spike-driven `KvFirst` only);
/// `scratch` holds `tokens + Cv` values; `out` holds the rows' `Cv` spike counts each.
#[allow(clippy::too_many_arguments)]
pub fn attention_rows(
    level: Level,
    kernel: Kernel,
    order: AttentionOrder,
    a: &AttnArgs<'_>,
    kv: &[i32],
    rows: Range<usize>,
    scratch: &mut [i32],
    out: &mut [u8],
) {
    #[cfg(target_arch = "x86_64")]
    if level.uses(Level::Avx512) {
        // SAFETY: `uses` checked that the CPU has AVX-512.
        return unsafe {
            super::x86_64::attention_rows_avx512(kernel, order, a, kv, rows, scratch, out)
        };
    }
    let _ = level;
    attention_rows_with(kernel, order, a, kv, rows, scratch, out)
}

/// [`attention_rows`], inlined into the entry of a level.
#[inline(always)]
pub(super) fn attention_rows_with(
    kernel: Kernel,
    order: AttentionOrder,
    a: &AttnArgs<'_>,
    kv: &[i32],
    rows: Range<usize>,
    scratch: &mut [i32],
    out: &mut [u8],
) {
    let (c, cv, d, dv) = (a.c(), a.cv(), a.d, a.dv);
    let (row_scores, sums) = scratch.split_at_mut(a.tokens);
    // One output token's sums, all heads: their spikes are taken together.
    let sums = &mut sums[..cv];
    // Spike-driven: counts by thresholds (the dense reference keeps the affine map, so the
    // kernel equality tests check them).
    let levels = match kernel {
        Kernel::SpikeDriven => Levels::new(&a.affine, a.frac, a.spike_max),
        Kernel::Dense => None,
    };
    // Spike-driven, a token without `q` spikes has every sum zero, so its counts are those
    // of the first such token of these rows: copied, not recomputed.
    let mut silent: Option<usize> = None;
    for (r, n) in rows.enumerate() {
        let q_row = &a.q[n * c..(n + 1) * c];
        if kernel == Kernel::SpikeDriven && is_silent(q_row) {
            if let Some(first) = silent {
                out.copy_within(first * cv..(first + 1) * cv, r * cv);
                continue;
            }
            silent = Some(r);
        }
        for h in 0..a.heads {
            let q_head = &q_row[h * d..(h + 1) * d];
            let acc = &mut sums[h * dv..(h + 1) * dv];
            acc.fill(0);
            match (kernel, order) {
                (Kernel::SpikeDriven, AttentionOrder::KvFirst) => {
                    let head_kv = &kv[h * d * dv..(h + 1) * d * dv];
                    add_spiking_rows(q_head, head_kv, acc);
                }
                (Kernel::SpikeDriven, AttentionOrder::QkThenV) => {
                    qk_scores_spike_driven(a, h, q_head, row_scores);
                    for (m, &score) in row_scores.iter().enumerate() {
                        if score == 0 {
                            continue;
                        }
                        let v_head = &a.v[m * cv + h * dv..m * cv + (h + 1) * dv];
                        for (x, &s) in acc.iter_mut().zip(v_head) {
                            for _ in 0..s {
                                *x = x.wrapping_add(score);
                            }
                        }
                    }
                }
                (Kernel::Dense, _) => {
                    for (m, score) in row_scores.iter_mut().enumerate() {
                        let k_head = &a.k[m * c + h * d..m * c + (h + 1) * d];
                        *score = q_head
                            .iter()
                            .zip(k_head)
                            .fold(0i32, |t, (&x, &y)| t.wrapping_add(x as i32 * y as i32));
                    }
                    for (m, &score) in row_scores.iter().enumerate() {
                        let v_head = &a.v[m * cv + h * dv..m * cv + (h + 1) * dv];
                        for (x, &s) in acc.iter_mut().zip(v_head) {
                            *x = x.wrapping_add(score.wrapping_mul(s as i32));
                        }
                    }
                }
            }
        }
        let dst = &mut out[r * cv..(r + 1) * cv];
        match &levels {
            Some(levels) => levels.spikes(sums, dst),
            None => {
                for (o, &x) in dst.iter_mut().zip(sums.iter()) {
                    *o = spike_count(a.affine.apply(x), a.frac, a.spike_max);
                }
            }
        }
    }
}

/// Spikes of one head's `q` row listed at a time (channels, unrolled).
const LIST: usize = 64;
/// Counts up to this many are listed without a branch.
const UNROLLED: usize = 4;

/// Calls `add(i)` once per binary spike of channel `i` of `counts`. The spiking channels are
/// listed first without a branch per channel (a count `s` writes four slots and keeps `s`),
/// then visited in one loop: a branch per channel mispredicted on irregular spikes.
#[inline(always)]
fn for_each_spike(counts: &[u8], mut add: impl FnMut(usize)) {
    #[cfg(feature = "helium")]
    if super::helium::for_each_channel_spike(counts, &mut add) {
        return;
    }
    let mut list = [0u16; LIST + UNROLLED];
    for (part, cs) in counts.chunks(LIST / UNROLLED).enumerate() {
        // Most heads of the late stages have no spike: one vector test skips them.
        if is_silent(cs) {
            continue;
        }
        let first = part * (LIST / UNROLLED);
        let mut n = 0;
        for (j, &s) in cs.iter().enumerate() {
            let s = s as usize;
            if s > UNROLLED {
                // Counts above the unrolled ones (D > 4): one by one.
                for _ in 0..s {
                    add(first + j);
                }
                continue;
            }
            list[n..n + UNROLLED].fill((first + j) as u16);
            n += s;
        }
        for &i in &list[..n] {
            add(i as usize);
        }
    }
}

/// Whether no channel of `counts` spikes (an OR over all of them, which vectorizes; an
/// early exit would not).
#[inline(always)]
fn is_silent(counts: &[u8]) -> bool {
    counts.iter().fold(0, |any, &s| any | s) == 0
}

/// `acc += kv[i]` once per binary spike of channel `i` of `q` (`kv` holds `q.len()` rows of
/// `acc.len()` values).
#[inline]
fn add_spiking_rows(q: &[u8], kv: &[i32], acc: &mut [i32]) {
    let dv = acc.len();
    for_each_spike(q, |i| {
        for (x, &y) in acc.iter_mut().zip(&kv[i * dv..(i + 1) * dv]) {
            *x = x.wrapping_add(y);
        }
    });
}

/// `dst += counts`, lane by lane.
#[inline(always)]
fn add_counts(dst: &mut [i32], counts: &[u8]) {
    for (x, &v) in dst.iter_mut().zip(counts) {
        *x = x.wrapping_add(v as i32);
    }
}

/// `scores[m] = Σ_a q[a] · k[m][a]` for one head, adding `k`'s counts per binary `q` spike.
fn qk_scores_spike_driven(a: &AttnArgs<'_>, h: usize, q_head: &[u8], scores: &mut [i32]) {
    let (c, d) = (a.c(), a.d);
    scores.fill(0);
    for (i, &s) in q_head.iter().enumerate() {
        for _ in 0..s {
            for (m, score) in scores.iter_mut().enumerate() {
                *score = score.wrapping_add(a.k[m * c + h * d + i] as i32);
            }
        }
    }
}
