//! Requantization for Armv8.1-M with MVE (`helium` feature): the affine map's 64-bit rounding
//! shifts done by the scalar long-shift instructions (`sqrshrl`: one instruction for
//! `(p + 2^(s-1)) >> s` on a 64-bit register pair) instead of generic 64-bit shift sequences.
//! Same integers as `output.rs`; anything outside the fast path's conditions returns `false`
//! and the caller runs the generic code.

use core::mem::MaybeUninit;

use crate::fixed::{Affine, MAX_SHIFT};
use crate::kernels::threshold::Thresholds;

/// `(v + 2^(s-1)) >> s` for `s ≤ 62` (exact, no overflow for `|v| < 2^62`), or `v` when
/// `s == 0`. `sqrshrl` shifts right by its register operand, rounding; saturation to 64 bits
/// only acts on left shifts.
#[inline(always)]
fn round_shift(v: i64, s: u32) -> i64 {
    let (mut lo, mut hi) = (v as u32, (v >> 32) as u32);
    // SAFETY: register-only arithmetic; `sqrshrl` takes an even/odd register pair (r0, r1)
    // and a shift register different from both.
    unsafe {
        core::arch::asm!(
            "sqrshrl r0, r1, #64, {s}",
            inout("r0") lo,
            inout("r1") hi,
            s = in(reg) s,
            options(pure, nomem, nostack),
        );
    }
    ((hi as u64) << 32 | lo as u64) as i64
}

/// `p.apply(acc)` with wrapping addition of the bias, for `p.shift ≤ MAX_SHIFT`.
#[inline(always)]
fn apply(acc: i32, p: &Affine) -> i64 {
    let product = acc as i64 * p.multiplier as i64;
    round_shift(product, p.shift as u32).wrapping_add(p.bias as i64)
}

/// Spike counts of one pixel (`spike_of` of `output.rs` for every channel). Returns `false`
/// (with `out` partly written) when a shift or `frac` is outside the fast path.
#[inline(always)]
pub(in crate::kernels) fn spikes(
    out: &mut [u8],
    acc: &[i32],
    affine: &[Affine],
    frac: u8,
    d: u8,
) -> bool {
    match frac {
        1..=32 => spikes_with::<true>(out, acc, affine, frac as u32, d),
        33..=MAX_SHIFT => spikes_with::<false>(out, acc, affine, frac as u32, d),
        _ => false,
    }
}

/// [`spikes`] for `1 ≤ f ≤ 62`; `LOW` when `f ≤ 32`, so that the remainder of the division
/// by `2^f` lies in the low word.
#[inline(always)]
fn spikes_with<const LOW: bool>(
    out: &mut [u8],
    acc: &[i32],
    affine: &[Affine],
    f: u32,
    d: u8,
) -> bool {
    let mask = (1i64 << f) - 1;
    let half = 1i64 << (f - 1);
    for ((o, &a), p) in out.iter_mut().zip(acc).zip(affine) {
        if p.shift > MAX_SHIFT {
            return false;
        }
        let v = apply(a, p);
        // Rounded half up, then one less at an exact tie that went up to an odd value:
        // round half to even. A tie is a remainder of exactly `2^(f-1)`.
        let up = round_shift(v, f);
        let tie = if LOW {
            (v as u32) << (32 - f) == 1 << 31
        } else {
            (v & mask) == half
        };
        let r = up - (tie & (up & 1 == 1)) as i64;
        *o = r.clamp(0, d as i64) as u8;
    }
    true
}

/// Fixed-point outputs of one pixel (`FixedSink::store` of `output.rs`).
#[inline(always)]
pub(in crate::kernels) fn fixed(out: &mut [i32], acc: &[i32], affine: &[Affine], accumulate: bool) {
    for ((o, &a), p) in out.iter_mut().zip(acc).zip(affine) {
        let v = if p.shift > MAX_SHIFT {
            p.apply(a)
        } else {
            apply(a, p)
        };
        let y = v.clamp(i32::MIN as i64, i32::MAX as i64) as i32;
        *o = if accumulate { o.saturating_add(y) } else { y };
    }
}

/// Spike counts of the first channels of one pixel from a threshold table (`Thresholds::count`
/// for 4 channels per vector: the sign flip, then one predicated add per level passed).
/// Returns how many leading channels were written (a multiple of 4); the caller counts the
/// rest.
#[inline(always)]
pub(in crate::kernels) fn threshold_spikes(
    table: &Thresholds<'_>,
    acc: &[i32],
    out: &mut [u8],
) -> usize {
    let (n, d) = (acc.len().min(out.len()).min(table.channels), table.d);
    let block = (d + 1) * 16;
    let quads = n / 4;
    // Every quad's sign row and `d` threshold rows lie inside the table (checked here, and
    // promised by every table: `⌈channels / 16⌉ · block ≤ values.len()`).
    if d == 0 || n.div_ceil(16) * block > table.values.len() {
        return 0;
    }
    let values = table.values.as_ptr();
    // D = 4 (the official models): whole groups of 16 channels in one loop, each level's row
    // at a fixed offset (19 instructions a quad instead of about 27).
    let groups = if d == 4 { n / 16 } else { 0 };
    if groups > 0 {
        // SAFETY: `16 · groups ≤ n` channels of `acc` and `out`; group `g`'s sign row and 4
        // threshold rows are the table's values `g · 80 ..` `(g + 1) · 80`, inside it (checked
        // above); q0-q2 and lr are declared clobbered.
        unsafe { threshold_groups_d4(values, acc.as_ptr(), out.as_mut_ptr(), groups) };
    }
    for q in 4 * groups..quads {
        let c = 4 * q;
        // SAFETY: channels `c..c + 4` are inside `acc` and `out` (`c + 4 ≤ n`); their sign
        // row starts at `(c / 16) · block + c % 16` and the `d` rows after it are 16 values
        // apart, all inside the table (checked above); q0-q2 and lr are declared clobbered.
        unsafe {
            let row = values.add((c / 16) * block + c % 16);
            core::arch::asm!(
                "vldrw.u32 q0, [{acc}]",
                "vldrw.u32 q1, [{row}]",
                "veor q0, q0, q1",
                "vsub.i32 q0, q0, q1",
                "vmov.i32 q2, #0",
                "dls lr, {d}",
                "2:",
                "vldrw.u32 q1, [{row}, #64]!",
                "vpt.s32 gt, q0, q1",
                "vaddt.i32 q2, q2, {one}",
                "le lr, 2b",
                "vstrb.32 q2, [r3]",
                acc = in(reg) acc.as_ptr().add(c),
                row = inout(reg) row => _,
                // Narrowing stores take only a low base register.
                in("r3") out.as_mut_ptr().add(c),
                d = in(reg) d,
                one = in(reg) 1u32,
                out("lr") _,
                out("s0") _, out("s1") _, out("s2") _, out("s3") _,
                out("s4") _, out("s5") _, out("s6") _, out("s7") _,
                out("s8") _, out("s9") _, out("s10") _, out("s11") _,
                options(nostack),
            );
        }
    }
    4 * quads
}

/// Spike counts of the first values of `acc` from one map's 4 thresholds (`threshold::Levels`
/// with `D = 4`: the attention output, whose channels share a map), 4 values per vector: the
/// sign flip, then one predicated add per level passed (13 instructions a quad instead of the
/// compiled loop's 20-odd per value). Returns how many leading values were written (a
/// multiple of 4); the caller counts the rest.
pub(in crate::kernels) fn level_spikes_d4(
    sign: i32,
    theta: &[i32],
    acc: &[i32],
    out: &mut [u8],
) -> usize {
    let quads = acc.len().min(out.len()) / 4;
    let [t1, t2, t3, t4] = match theta {
        [a, b, c, d, ..] => [*a, *b, *c, *d],
        _ => return 0,
    };
    if quads == 0 {
        return 0;
    }
    // SAFETY: `4 · quads` values are read from `acc` and as many bytes written to `out`
    // (both at least that long); q0-q3 and lr are declared clobbered.
    unsafe {
        core::arch::asm!(
            "vdup.32 q3, {sign}",
            "dls lr, {quads}",
            "2:",
            "vldrw.u32 q0, [{acc}], #16",
            "veor q0, q0, q3",
            "vsub.i32 q0, q0, q3",
            "vmov.i32 q2, #0",
            "vpt.s32 gt, q0, {t1}",
            "vaddt.i32 q2, q2, {one}",
            "vpt.s32 gt, q0, {t2}",
            "vaddt.i32 q2, q2, {one}",
            "vpt.s32 gt, q0, {t3}",
            "vaddt.i32 q2, q2, {one}",
            "vpt.s32 gt, q0, {t4}",
            "vaddt.i32 q2, q2, {one}",
            "vstrb.32 q2, [r3], #4",
            "le lr, 2b",
            acc = inout(reg) acc.as_ptr() => _,
            // Narrowing stores take only a low base register.
            inout("r3") out.as_mut_ptr() => _,
            sign = in(reg) sign,
            quads = in(reg) quads,
            t1 = in(reg) t1,
            t2 = in(reg) t2,
            t3 = in(reg) t3,
            t4 = in(reg) t4,
            one = in(reg) 1u32,
            out("lr") _,
            out("s0") _, out("s1") _, out("s2") _, out("s3") _,
            out("s4") _, out("s5") _, out("s6") _, out("s7") _,
            out("s8") _, out("s9") _, out("s10") _, out("s11") _,
            out("s12") _, out("s13") _, out("s14") _, out("s15") _,
            options(nostack),
        );
    }
    4 * quads
}

/// One quad of [`threshold_groups_d4`]: channels `j..j + 4` of the group (`$j`: their byte
/// offset in a row, `16 · j / 4`).
macro_rules! threshold_quad_d4 {
    ($j:literal) => {
        concat!(
            "vldrw.u32 q0, [{acc}], #16\n",
            "vldrw.u32 q1, [{row}, #",
            $j,
            "]\n",
            "veor q0, q0, q1\n",
            "vsub.i32 q0, q0, q1\n",
            "vmov.i32 q2, #0\n",
            "vldrw.u32 q1, [{row}, #64 + ",
            $j,
            "]\n",
            "vpt.s32 gt, q0, q1\n",
            "vaddt.i32 q2, q2, {one}\n",
            "vldrw.u32 q1, [{row}, #128 + ",
            $j,
            "]\n",
            "vpt.s32 gt, q0, q1\n",
            "vaddt.i32 q2, q2, {one}\n",
            "vldrw.u32 q1, [{row}, #192 + ",
            $j,
            "]\n",
            "vpt.s32 gt, q0, q1\n",
            "vaddt.i32 q2, q2, {one}\n",
            "vldrw.u32 q1, [{row}, #256 + ",
            $j,
            "]\n",
            "vpt.s32 gt, q0, q1\n",
            "vaddt.i32 q2, q2, {one}\n",
            "vstrb.32 q2, [r3], #4\n",
        )
    };
}

/// Spike counts of `16 · groups` channels from a `D = 4` threshold table (the layout of
/// `Thresholds`: per group of 16 channels a sign row, then 4 threshold rows, 16 lanes each).
///
/// # Safety
/// `groups ≥ 1`; `values` points at `80 · groups` readable `i32`s, `acc` at `16 · groups`
/// readable `i32`s and `out` at `16 · groups` writable bytes.
#[inline(always)]
unsafe fn threshold_groups_d4(values: *const i32, acc: *const i32, out: *mut u8, groups: usize) {
    // SAFETY: the caller guarantees what the loads and stores touch; q0-q2 and the loop
    // counter (lr) are declared clobbered.
    unsafe {
        core::arch::asm!(
            "dls lr, {groups}",
            "2:",
            threshold_quad_d4!("0"),
            threshold_quad_d4!("16"),
            threshold_quad_d4!("32"),
            threshold_quad_d4!("48"),
            "add {row}, #320",
            "le lr, 2b",
            acc = inout(reg) acc => _,
            row = inout(reg) values => _,
            // Narrowing stores take only a low base register.
            inout("r3") out => _,
            groups = in(reg) groups,
            one = in(reg) 1u32,
            out("lr") _,
            out("s0") _, out("s1") _, out("s2") _, out("s3") _,
            out("s4") _, out("s5") _, out("s6") _, out("s7") _,
            out("s8") _, out("s9") _, out("s10") _, out("s11") _,
            options(nostack),
        );
    }
}

/// The vector affine map of one quad of channels (see [`fixed_fields`]) into q0, then `$tail`:
/// the instructions that store it (with their extra operands `$ops`). Evaluates to `true` when
/// the quad was stored, `false` (nothing stored) when a shifted product does not fit in `i32`.
macro_rules! affine_quad {
    ($acc:ident, $fields:ident, $out:ident; [$($tail:literal,)*] $($ops:tt)*) => {{
        let overflow: u32;
        core::arch::asm!(
            "vldrw.u32 q0, [{acc}]",
            "vldrw.u32 q1, [{f}]",
            "vmul.i32 q2, q0, q1",
            "vmulh.s32 q3, q0, q1",
            // Low word + 2^(s−1); a carry out of it (sum below the term) goes to the high word.
            "vldrw.u32 q1, [{f}, #16]",
            "vadd.i32 q2, q2, q1",
            "vpt.u32 hi, q1, q2",
            "vaddt.i32 q3, q3, {one}",
            // (high << (32 − s)) | (low >> s), exact when high >> (s − 1) is all sign bits:
            // checked as (result >> (32 − s)) == high.
            "vldrw.u32 q1, [{f}, #32]",
            "vshl.u32 q2, q2, q1",
            "vldrw.u32 q1, [{f}, #48]",
            "vshl.s32 q0, q3, q1",
            "vorr q0, q0, q2",
            "vneg.s32 q1, q1",
            "vshl.s32 q2, q0, q1",
            "vcmp.i32 ne, q2, q3",
            "vmrs {bad}, p0",
            "cmp {bad}, #0",
            "bne 2f",
            "vldrw.u32 q1, [{f}, #64]",
            "vqadd.s32 q0, q0, q1",
            $($tail,)*
            "2:",
            acc = in(reg) $acc,
            f = in(reg) $fields,
            out = in(reg) $out,
            one = in(reg) 1u32,
            bad = out(reg) overflow,
            $($ops)*
            out("s0") _, out("s1") _, out("s2") _, out("s3") _,
            out("s4") _, out("s5") _, out("s6") _, out("s7") _,
            out("s8") _, out("s9") _, out("s10") _, out("s11") _,
            out("s12") _, out("s13") _, out("s14") _, out("s15") _,
            options(nostack),
        );
        overflow == 0
    }};
}

/// `i32` values [`MapFields`] holds: 5 rows of 4 per quad of channels (1024 channels, 20 KB:
/// SDT-10M's widest layers have 960; wider ones keep the scalar map).
const FIELD_VALUES: usize = 5120;

/// Rows of one quad of channels in [`MapFields`].
const QUAD_VALUES: usize = 20;

/// A layer's affine maps laid out for the vector fixed-point sink ([`fixed_fields`]), per quad
/// of channels: multipliers, rounding terms `2^(s−1)` (0 for `s = 0`), `−s`, `32 − s` and
/// biases, 4 lanes each. Only layers whose every shift is at most 31 fit (converted models use
/// 12 to 23); the rest keep the scalar map. Never zeroed: only the filled values are read.
pub struct MapFields {
    values: [MaybeUninit<i32>; FIELD_VALUES],
    pub(in crate::kernels) channels: usize,
}

impl MapFields {
    pub const fn empty() -> Self {
        MapFields {
            values: [const { MaybeUninit::uninit() }; FIELD_VALUES],
            channels: 0,
        }
    }

    /// Lays out `affine`; returns `false` (unusable) if it does not fit or a shift is above 31.
    pub fn fill(&mut self, affine: &[Affine]) -> bool {
        self.channels = 0;
        let quads = affine.len() / 4;
        if quads * QUAD_VALUES > FIELD_VALUES || affine.iter().any(|p| p.shift > 31) {
            return false;
        }
        for (q, maps) in affine.chunks_exact(4).enumerate() {
            for (lane, p) in maps.iter().enumerate() {
                let s = p.shift as i32;
                let rows = [p.multiplier, ((1u32 << s) >> 1) as i32, -s, 32 - s, p.bias];
                for (row, v) in rows.into_iter().enumerate() {
                    self.values[q * QUAD_VALUES + row * 4 + lane].write(v);
                }
            }
        }
        self.channels = affine.len();
        true
    }
}

/// Runs `quad` on each whole quad of channels the fields cover (pointers to its 4
/// accumulators, its 20 field values and its 4 outputs; `false` = not stored) and `scalar` on a
/// quad `quad` declined and on the channels after the last whole quad. Returns `false` as soon
/// as `scalar` does.
#[inline(always)]
fn by_quads<T>(
    out: &mut [T],
    acc: &[i32],
    fields: &MapFields,
    affine: &[Affine],
    quad: impl Fn(*const i32, *const i32, *mut T) -> bool,
    mut scalar: impl FnMut(&mut [T], &[i32], &[Affine]) -> bool,
) -> bool {
    let n = out.len().min(acc.len()).min(affine.len());
    let n = n.min(fields.channels);
    // `fill` wrote the values of the `channels / 4` whole quads.
    let quads = n / 4;
    let rows = fields.values.as_ptr() as *const i32;
    for q in 0..quads {
        let c = 4 * q;
        // In bounds: `c + 4 ≤ n` channels of `acc` and `out`, values `20q..20q + 20` written by
        // `fill` (`q < channels / 4`).
        let fits = quad(
            acc.as_ptr().wrapping_add(c),
            rows.wrapping_add(q * QUAD_VALUES),
            out.as_mut_ptr().wrapping_add(c),
        );
        if !fits && !scalar(&mut out[c..c + 4], &acc[c..c + 4], &affine[c..c + 4]) {
            return false;
        }
    }
    let done = 4 * quads;
    scalar(&mut out[done..n], &acc[done..n], &affine[done..n])
}

/// Fixed-point outputs of one pixel (as [`fixed`]) with 4 channels per vector: the 64-bit
/// product `acc · m` as its low (`vmul`) and high (`vmulh`) words, the rounding term added to
/// the low word with its carry into the high word, the two words shifted into one `i32`, then
/// a saturating add of the bias (and of the old value when accumulating). A quad whose shifted
/// product does not fit in `i32` (never seen in a converted model: the check costs 4
/// instructions) takes the scalar map, as do the channels after the last whole quad.
#[inline(always)]
pub(in crate::kernels) fn fixed_fields(
    out: &mut [i32],
    acc: &[i32],
    fields: &MapFields,
    affine: &[Affine],
    accumulate: bool,
) {
    // SAFETY (both quads): `by_quads` passes 4 accumulators, a quad's 20 filled field values
    // and 4 outputs; q0-q3 are declared clobbered.
    let quad = |a: *const i32, f: *const i32, o: *mut i32| unsafe {
        if accumulate {
            affine_quad!(a, f, o; [
                "vldrw.u32 q1, [{out}]",
                "vqadd.s32 q0, q1, q0",
                "vstrw.32 q0, [{out}]",
            ])
        } else {
            affine_quad!(a, f, o; ["vstrw.32 q0, [{out}]",])
        }
    };
    by_quads(out, acc, fields, affine, quad, |o, a, p| {
        fixed(o, a, p, accumulate);
        true
    });
}

/// The terms of the vector spike rounding of [`spikes_fields`] and [`spike_values`] for `frac`
/// fractional bits and `d` levels: the shift `−f` and the bias `2^(f−1) − 1` of
/// `(y + 2^(f−1) − 1 + ((y >> f) & 1)) >> f`. `None` for `f = 0`, or where saturating `y` could
/// change a count (`(D + 1) · 2^f > 2^31`).
fn vector_rounding(frac: u8, d: u8) -> Option<(i32, i32)> {
    let f = u32::from(frac);
    if f == 0 || (u64::from(d) + 1) << f > 1 << 31 {
        return None;
    }
    Some((-(f as i32), (1i32 << (f - 1)) - 1))
}

/// Spike counts of one pixel (as [`spikes`]) from the vector affine map of [`fixed_fields`],
/// 4 channels per vector, for layers too small to fill a threshold table: `y` saturated to
/// `i32`, then `round_half_even(y / 2^f)` as `(y + 2^(f−1) − 1 + ((y >> f) & 1)) >> f`
/// (saturating add), clamped to `[0, D]` and stored as bytes. Saturation cannot change a count
/// when `(D + 1) · 2^f ≤ 2^31` (a saturated `y` still maps to at least `D`); otherwise, or for
/// `f = 0`, returns `false` and writes nothing.
#[inline(always)]
pub(in crate::kernels) fn spikes_fields(
    out: &mut [u8],
    acc: &[i32],
    fields: &MapFields,
    affine: &[Affine],
    frac: u8,
    d: u8,
) -> bool {
    let Some((shift, bias)) = vector_rounding(frac, d) else {
        return false;
    };
    // SAFETY: `by_quads` passes 4 accumulators, a quad's 20 filled field values and 4
    // outputs; q0-q3 and r3 are declared clobbered.
    let quad = |a: *const i32, f: *const i32, o: *mut u8| unsafe {
        affine_quad!(a, f, o; [
            "vmov q1, q0",
            "vshl.s32 q1, {shift}",
            "vmov.i32 q2, #1",
            "vand q1, q1, q2",
            "vadd.i32 q1, q1, {half}",
            "vqadd.s32 q0, q0, q1",
            "vshl.s32 q0, {shift}",
            "vmov.i32 q1, #0",
            "vmax.s32 q0, q0, q1",
            "vdup.32 q1, {d}",
            "vmin.s32 q0, q0, q1",
            // Narrowing stores take only a low base register.
            "mov r3, {out}",
            "vstrb.32 q0, [r3]",
        ] shift = in(reg) shift, half = in(reg) bias, d = in(reg) u32::from(d), out("r3") _,)
    };
    by_quads(out, acc, fields, affine, quad, |o, a, p| {
        spikes(o, a, p, frac, d)
    })
}

/// Spike counts of fixed-point values (as `threshold::spike_values`: the residual stream's
/// spikes), 4 values per vector with the rounding of [`spikes_fields`]:
/// `(v + 2^(f−1) − 1 + ((v >> f) & 1)) >> f` (saturating add), clamped to `[0, D]` and stored
/// as bytes. Returns `false` (writing nothing) where [`spikes_fields`] would.
pub(in crate::kernels) fn spike_values(values: &[i32], frac: u8, d: u8, out: &mut [u8]) -> bool {
    let Some((shift, bias)) = vector_rounding(frac, d) else {
        return false;
    };
    let n = values.len().min(out.len());
    let quads = n / 4;
    if quads > 0 {
        // SAFETY: `4 · quads ≤ n` values are read from `values` and `4 · quads` bytes written
        // to `out`; q0-q5 and lr are declared clobbered.
        unsafe {
            core::arch::asm!(
                "vmov.i32 q3, #1",
                "vmov.i32 q4, #0",
                "vdup.32 q5, {d}",
                "dls lr, {quads}",
                "2:",
                "vldrw.u32 q0, [{src}], #16",
                "vmov q1, q0",
                "vshl.s32 q1, {shift}",
                "vand q1, q1, q3",
                "vadd.i32 q1, q1, {half}",
                "vqadd.s32 q0, q0, q1",
                "vshl.s32 q0, {shift}",
                "vmax.s32 q0, q0, q4",
                "vmin.s32 q0, q0, q5",
                "vstrb.32 q0, [r3], #4",
                "le lr, 2b",
                src = inout(reg) values.as_ptr() => _,
                // Narrowing stores take only a low base register.
                inout("r3") out.as_mut_ptr() => _,
                quads = in(reg) quads,
                shift = in(reg) shift,
                half = in(reg) bias,
                d = in(reg) u32::from(d),
                out("lr") _,
                out("s0") _, out("s1") _, out("s2") _, out("s3") _,
                out("s4") _, out("s5") _, out("s6") _, out("s7") _,
                out("s8") _, out("s9") _, out("s10") _, out("s11") _,
                out("s12") _, out("s13") _, out("s14") _, out("s15") _,
                out("s16") _, out("s17") _, out("s18") _, out("s19") _,
                out("s20") _, out("s21") _, out("s22") _, out("s23") _,
                options(nostack),
            );
        }
    }
    let done = 4 * quads;
    for (o, &v) in out[done..n].iter_mut().zip(&values[done..n]) {
        *o = crate::fixed::spike_count(v as i64, frac, d);
    }
    true
}
