//! Helium (MVE) inner loops: the tile sums of `helium/mod.rs` with the running sums held in
//! vector registers across every listed column. The registers of an `asm!` block are fixed
//! text, so each loop is one macro body that writes its instructions for every register of a
//! tile (and for `i8` and `i16` weights); the widths are the instances below. Widening loads
//! (`vldrb.s16`, `vldrh.s32`) take only a low base register, hence r2/r3.

/// `asm!` with vector registers q0 .. q(N−1) (= s0 .. s(4N−1)) declared clobbered and no
/// stack use: `mve_asm!(qN[, option]*; template and operands)`.
macro_rules! mve_asm {
    (q1 $(, $o:ident)*; $($t:tt)*) => {
        mve_asm!(@ ["s0" "s1" "s2" "s3"] [$($o)*] $($t)*)
    };
    (q2 $(, $o:ident)*; $($t:tt)*) => {
        mve_asm!(@ ["s0" "s1" "s2" "s3" "s4" "s5" "s6" "s7"] [$($o)*] $($t)*)
    };
    (q4 $(, $o:ident)*; $($t:tt)*) => {
        mve_asm!(@ ["s0" "s1" "s2" "s3" "s4" "s5" "s6" "s7"
                    "s8" "s9" "s10" "s11" "s12" "s13" "s14" "s15"] [$($o)*] $($t)*)
    };
    (q7 $(, $o:ident)*; $($t:tt)*) => {
        mve_asm!(@ ["s0" "s1" "s2" "s3" "s4" "s5" "s6" "s7"
                    "s8" "s9" "s10" "s11" "s12" "s13" "s14" "s15"
                    "s16" "s17" "s18" "s19" "s20" "s21" "s22" "s23"
                    "s24" "s25" "s26" "s27"] [$($o)*] $($t)*)
    };
    (q8 $(, $o:ident)*; $($t:tt)*) => {
        mve_asm!(@ ["s0" "s1" "s2" "s3" "s4" "s5" "s6" "s7"
                    "s8" "s9" "s10" "s11" "s12" "s13" "s14" "s15"
                    "s16" "s17" "s18" "s19" "s20" "s21" "s22" "s23"
                    "s24" "s25" "s26" "s27" "s28" "s29" "s30" "s31"] [$($o)*] $($t)*)
    };
    (@ [$($s:tt)*] [$($o:ident)*] $($t:tt)*) => {
        core::arch::asm!($($t)* $(out($s) _,)* options(nostack $(, $o)*))
    };
}

/// A column-sum tile: `acc[0..T] += Σ_cols w[col..col + T]`, the running sums in registers
/// q0.. (one per `(sum, load, offset)` triple: sum register, the register its slice of each
/// column loads into, and that slice's byte offset in the column).
///
/// - `i16` lanes (`i8` weights, loaded widened to `i16`): at most [`super::CHUNK`] columns, so
///   the lanes cannot wrap; the sums are stored to a scratch buffer (`store` offsets) and
///   widened into `acc` 4 lanes at a time (`widen`: scratch and `acc` byte offsets).
/// - `i32` lanes (`i16` weights, loaded widened to `i32`), wrapping as the scalar kernel; each
///   sum register adds into `acc` at its `acc` byte offset.
macro_rules! column_tile {
    (
        $(#[$doc:meta])*
        fn $name:ident(i8 weights, $t:literal channels, $qn:ident),
        sums [$(($q:literal, $l:literal, $off:literal, $st:literal)),*],
        widen [$(($wo:literal, $ao:literal)),*]
    ) => {
        $(#[$doc])*
        ///
        /// # Safety
        #[doc = concat!("`n ≥ 1`; `cols` points at `n` column offsets and, for each, `w + col` at ", $t, " readable")]
        #[doc = concat!("weights; `acc` points at ", $t, " writable `i32`s.")]
        #[inline(always)]
        pub(super) unsafe fn $name(w: *const i8, cols: *const u32, n: usize, acc: *mut i32) {
            // Written whole by the asm before it reads it back.
            let mut tmp = core::mem::MaybeUninit::<[i16; $t]>::uninit();
            // SAFETY: the caller guarantees the pointers cover what the loads and stores
            // touch; the vector registers used and the loop counter (lr) are declared
            // clobbered.
            unsafe {
                // An odd column first, then two columns per turn of a low-overhead loop
                // (`ldrd` fetches both offsets): 10 instructions a column instead of 12.
                mve_asm!($qn;
                    $(concat!("vmov.i32 q", $q, ", #0"),)*
                    "lsrs {n}, {n}, #1",
                    "bcc 2f",
                    "ldr r2, [{cols}], #4",
                    "add r2, {w}",
                    $(concat!("vldrb.s16 q", $l, ", [r2, #", $off, "]"),)*
                    $(concat!("vadd.i16 q", $q, ", q", $q, ", q", $l),)*
                    "2:",
                    "wls lr, {n}, 4f",
                    "3:",
                    "ldrd r2, r3, [{cols}], #8",
                    "add r2, {w}",
                    "add r3, {w}",
                    $(concat!("vldrb.s16 q", $l, ", [r2, #", $off, "]"),)*
                    $(concat!("vadd.i16 q", $q, ", q", $q, ", q", $l),)*
                    $(concat!("vldrb.s16 q", $l, ", [r3, #", $off, "]"),)*
                    $(concat!("vadd.i16 q", $q, ", q", $q, ", q", $l),)*
                    "le lr, 3b",
                    "4:",
                    "mov r3, {tmp}",
                    $(concat!("vstrh.16 q", $q, ", [r3, #", $st, "]"),)*
                    $(
                        concat!("vldrh.s32 q4, [r3, #", $wo, "]"),
                        concat!("vldrw.u32 q5, [{acc}, #", $ao, "]"),
                        "vadd.i32 q5, q5, q4",
                        concat!("vstrw.32 q5, [{acc}, #", $ao, "]"),
                    )*
                    w = in(reg) w,
                    cols = inout(reg) cols => _,
                    n = inout(reg) n => _,
                    tmp = in(reg) tmp.as_mut_ptr() as *mut i16,
                    acc = in(reg) acc,
                    out("r2") _,
                    out("r3") _,
                    out("lr") _,
                );
            }
        }
    };
    (
        $(#[$doc:meta])*
        fn $name:ident(i16 weights, $t:literal channels, $qn:ident),
        sums [$(($q:literal, $l:literal, $off:literal, $ao:literal)),*]
    ) => {
        $(#[$doc])*
        ///
        /// # Safety
        #[doc = concat!("`n ≥ 1`; `cols` points at `n` column offsets and, for each, `w + col` at ", $t, " readable")]
        #[doc = concat!("weights; `acc` points at ", $t, " writable `i32`s.")]
        #[inline(always)]
        pub(super) unsafe fn $name(w: *const i16, cols: *const u32, n: usize, acc: *mut i32) {
            // SAFETY: the caller guarantees the pointers cover what the loads and stores
            // touch; the vector registers used are declared clobbered.
            unsafe {
                mve_asm!($qn;
                    $(concat!("vmov.i32 q", $q, ", #0"),)*
                    "2:",
                    "ldr r2, [{cols}], #4",
                    "add r2, {w}",
                    $(concat!("vldrh.s32 q", $l, ", [r2, #", $off, "]"),)*
                    $(concat!("vadd.i32 q", $q, ", q", $q, ", q", $l),)*
                    "subs {n}, #1",
                    "bne 2b",
                    $(
                        concat!("vldrw.u32 q4, [{acc}, #", $ao, "]"),
                        concat!("vadd.i32 q4, q4, q", $q),
                        concat!("vstrw.32 q4, [{acc}, #", $ao, "]"),
                    )*
                    w = in(reg) w,
                    cols = inout(reg) cols => _,
                    n = inout(reg) n => _,
                    out("r2") _,
                    acc = in(reg) acc,
                );
            }
        }
    };
}

column_tile! {
    /// `acc[0..32] += Σ_cols w[col..col + 32]` for `i8` weights, summed in `i16` lanes.
    fn tile32_i8(i8 weights, 32 channels, q8),
    sums [(0, 4, 0, 0), (1, 5, 8, 16), (2, 6, 16, 32), (3, 7, 24, 48)],
    widen [(0, 0), (8, 16), (16, 32), (24, 48), (32, 64), (40, 80), (48, 96), (56, 112)]
}
column_tile! {
    /// As [`tile32_i8`] for 24 channels (one sweep of the list instead of a 16- and an
    /// 8-channel one: SDT-10M's first stage has 24 channels).
    fn tile24_i8(i8 weights, 24 channels, q8),
    sums [(0, 4, 0, 0), (1, 5, 8, 16), (2, 6, 16, 32)],
    widen [(0, 0), (8, 16), (16, 32), (24, 48), (32, 64), (40, 80)]
}
column_tile! {
    /// As [`tile32_i8`] for 16 channels.
    fn tile16_i8(i8 weights, 16 channels, q8),
    sums [(0, 4, 0, 0), (1, 5, 8, 16)],
    widen [(0, 0), (8, 16), (16, 32), (24, 48)]
}
column_tile! {
    /// As [`tile32_i8`] for 8 channels.
    fn tile8_i8(i8 weights, 8 channels, q8),
    sums [(0, 4, 0, 0)],
    widen [(0, 0), (8, 16)]
}
column_tile! {
    /// `acc[0..16] += Σ_cols w[col..col + 16]` for `i16` weights in `i32` lanes.
    fn tile16_i16(i16 weights, 16 channels, q8),
    sums [(0, 4, 0, 0), (1, 5, 8, 16), (2, 6, 16, 32), (3, 7, 24, 48)]
}
column_tile! {
    /// As [`tile16_i16`] for 8 channels.
    fn tile8_i16(i16 weights, 8 channels, q8),
    sums [(0, 4, 0, 0), (1, 5, 8, 16)]
}
column_tile! {
    /// As [`tile16_i16`] for 4 channels.
    fn tile4_i16(i16 weights, 4 channels, q8),
    sums [(0, 4, 0, 0)]
}

/// The encoding layer's loops for `i8` and `i16` weights (`$load`: the widening load,
/// `$step`: bytes of 4 weights).
macro_rules! encode_loops {
    ($w:ty, $mla:ident, $mac:ident, $load:literal, $step:literal, $second:literal) => {
        /// `acc[0..4n] += x · w[0..4n]` (wrapping `i32`): the encoding layer's
        /// multiply-accumulate of one input value into its weight column.
        ///
        /// # Safety
        /// `n ≥ 1`; `w` points at `4n` readable weights and `acc` at `4n` writable `i32`s.
        #[inline(always)]
        pub(super) unsafe fn $mla(w: *const $w, x: i32, acc: *mut i32, n: usize) {
            // SAFETY: the caller guarantees what the loads and stores touch; q0, q1 and the
            // loop counter (lr) are declared clobbered.
            unsafe {
                mve_asm!(q2;
                    "dls lr, {n}",
                    "2:",
                    "vldrw.u32 q0, [{acc}]",
                    concat!($load, " q1, [r2], #", $step),
                    "vmla.i32 q0, q1, {x}",
                    "vstrw.32 q0, [{acc}], #16",
                    "le lr, 2b",
                    n = in(reg) n,
                    x = in(reg) x,
                    acc = inout(reg) acc => _,
                    inout("r2") w => _,
                    out("lr") _,
                );
            }
        }

        /// `acc[0..8] = Σ x · w[0..8]` over a list of `[x, weights address]` pairs (`c`
        /// bytes added to each address), wrapping `i32` sums held in q0-q1 for the whole
        /// list: the encoding layer's multiply-accumulate of one output pixel for 8 channels.
        ///
        /// # Safety
        /// `n ≥ 1`; `list` points at `n` pairs whose `address + c` each point at 8 readable
        /// weights; `acc` points at 8 writable `i32`s.
        #[inline(always)]
        pub(super) unsafe fn $mac(list: *const [u32; 2], n: usize, c: usize, acc: *mut i32) {
            // SAFETY: the caller guarantees what the loads and stores touch; q0-q3 and the
            // loop counter (lr) are declared clobbered.
            unsafe {
                mve_asm!(q4;
                    "vmov.i32 q0, #0",
                    "vmov.i32 q1, #0",
                    "dls lr, {n}",
                    "2:",
                    "ldrd r2, r3, [{list}], #8",
                    "add r3, {c}",
                    concat!($load, " q2, [r3]"),
                    concat!($load, " q3, [r3, #", $second, "]"),
                    "vmla.i32 q0, q2, r2",
                    "vmla.i32 q1, q3, r2",
                    "le lr, 2b",
                    "vstrw.32 q0, [{acc}]",
                    "vstrw.32 q1, [{acc}, #16]",
                    list = inout(reg) list => _,
                    n = in(reg) n,
                    c = in(reg) c,
                    acc = in(reg) acc,
                    out("r2") _,
                    out("r3") _,
                    out("lr") _,
                );
            }
        }
    };
}

encode_loops!(i8, mla_i8, mac_list8_i8, "vldrb.s32", 4, 4);
encode_loops!(i16, mla_i16, mac_list8_i16, "vldrh.s32", 8, 8);

/// The body of [`depthwise16_i8`], with or without the plane count check (`$check`: the
/// instructions that return before a tap would take the count past 255). The tap's largest
/// count lives in r4 (low, for `cbz`), which is 0 whenever a tap starts: the plane loop counts
/// it down to 0, and `vmaxv` takes the largest of it and the lanes.
macro_rules! depthwise16_i8_asm {
    ($list:ident, $n:ident, $c:ident, $acc:ident, $tmp:ident, $left:ident; $($check:literal,)*) => {
        mve_asm!(q7;
            "vmov.i32 q0, #0",
            "vmov.i32 q1, #0",
            "movs {cnt}, #0",
            "movs r4, #0",
            "dls lr, {n}",
            "2:",
            "ldrd r2, r3, [{list}], #8",
            "add r2, {c}",
            "add r3, {c}",
            // The 16 counts as bytes first: a tap without spikes costs one load.
            "vldrb.u8 q6, [r2]",
            "vmaxv.u8 r4, q6",
            $($check,)*
            "cbz r4, 4f",
            "vldrb.u16 q2, [r2]",
            "vldrb.u16 q3, [r2, #8]",
            "vldrb.s16 q4, [r3]",
            "vldrb.s16 q5, [r3, #8]",
            // Planes from the top one (m - 1) down to 0; the vector instructions leave the
            // flags of `subs` for `bne`.
            "3:",
            "subs r4, #1",
            "vpt.u16 hi, q2, r4",
            "vaddt.i16 q0, q0, q4",
            "vpt.u16 hi, q3, r4",
            "vaddt.i16 q1, q1, q5",
            "bne 3b",
            "4:",
            "le lr, 2b",
            // All taps done: none left.
            "mov lr, #0",
            "5:",
            "mov {left}, lr",
            "mov r2, {tmp}",
            "vstrh.16 q0, [r2, #0]",
            "vstrh.16 q1, [r2, #16]",
            "vldrh.s32 q4, [r2, #0]",
            "vldrw.u32 q5, [{acc}, #0]",
            "vadd.i32 q5, q5, q4",
            "vstrw.32 q5, [{acc}, #0]",
            "vldrh.s32 q4, [r2, #8]",
            "vldrw.u32 q5, [{acc}, #16]",
            "vadd.i32 q5, q5, q4",
            "vstrw.32 q5, [{acc}, #16]",
            "vldrh.s32 q4, [r2, #16]",
            "vldrw.u32 q5, [{acc}, #32]",
            "vadd.i32 q5, q5, q4",
            "vstrw.32 q5, [{acc}, #32]",
            "vldrh.s32 q4, [r2, #24]",
            "vldrw.u32 q5, [{acc}, #48]",
            "vadd.i32 q5, q5, q4",
            "vstrw.32 q5, [{acc}, #48]",
            list = inout(reg) $list => _,
            n = in(reg) $n,
            left = out(reg) $left,
            c = in(reg) $c,
            acc = in(reg) $acc,
            tmp = in(reg) $tmp.as_mut_ptr() as *mut i16,
            cnt = out(reg) _,
            out("r2") _,
            out("r3") _,
            out("r4") _,
            out("lr") _,
        );
    };
}

/// Depthwise spike-driven taps of one output pixel for 16 channels, `i8` weights: for each
/// listed tap (`[pixel, weights]` addresses, `c` bytes added to both), binary spike plane `t`
/// of every channel with count `> t` adds its weight (predicated adds), summed in `i16`
/// lanes. With `CHECKED`, planes are counted: before a tap would take the count past 255
/// (`255 · 128 < 2^15`, so no lane can wrap) the sums are added to `acc` as `i32` and the call
/// returns the number of taps left (0 when all were done). Without, all `n` taps are summed
/// and 0 is returned.
///
/// # Safety
/// `n ≥ 1`; `list` points at `n` address pairs, each `pixel + c` at 16 readable counts and
/// `weights + c` at 16 readable weights; `acc` points at 16 writable `i32`s. Without
/// `CHECKED`, the `n` taps' counts sum to at most 255 in every lane.
#[inline(always)]
pub(super) unsafe fn depthwise16_i8<const CHECKED: bool>(
    list: *const [u32; 2],
    n: usize,
    c: usize,
    acc: *mut i32,
) -> usize {
    // Written whole by the asm before it reads it back.
    let mut tmp = core::mem::MaybeUninit::<[i16; 16]>::uninit();
    let left: usize;
    // SAFETY: the caller guarantees what the loads and stores touch (and, without the check,
    // that no lane can wrap); the vector registers used are declared clobbered (q0-q6 =
    // s0-s27).
    unsafe {
        if CHECKED {
            depthwise16_i8_asm!(list, n, c, acc, tmp, left;
                "add {cnt}, r4",
                "cmp {cnt}, #255",
                "bhi 5f",
            );
        } else {
            depthwise16_i8_asm!(list, n, c, acc, tmp, left;);
        }
    }
    left
}

/// The largest of `len` counts at `p`, `len ≥ 16` a multiple of 16 read as vectors.
///
/// # Safety
/// `p` points at `len` readable bytes; `len` is a non-zero multiple of 16.
#[inline(always)]
pub(super) unsafe fn max_u8(p: *const u8, len: usize) -> u8 {
    let max: u32;
    // SAFETY: the caller guarantees the `len / 16` vector loads are readable; q0 and q1 are
    // declared clobbered.
    unsafe {
        mve_asm!(q2;
            "vmov.i32 q1, #0",
            "2:",
            "vldrb.u8 q0, [{p}], #16",
            "vmax.u8 q1, q1, q0",
            "subs {n}, #1",
            "bne 2b",
            "movs {m}, #0",
            "vmaxv.u8 {m}, q1",
            p = inout(reg) p => _,
            n = inout(reg) len / 16 => _,
            m = out(reg) max,
        );
    }
    max as u8
}

/// One kernel tap and up to 16 input channels of a spike convolution with `T` output
/// channels and `i8` weights, adding into `acc` directly (`i32` lanes, wrapping like the
/// scalar kernel, so no count of columns is needed): a predicated load and compare give the
/// mask of non-zero counts, and each set bit (found with `clz`) adds its weight column once
/// per binary spike. No column list is written. `sums`: sum register, the register its
/// slice of a column loads into, and the byte offset of that slice (`acc`: 4 times that);
/// columns are `2^shift` bytes apart; the counts load into the first load register.
macro_rules! tap_mask {
    (
        $(#[$doc:meta])*
        fn $name:ident($t:literal channels, $qn:ident, shift $shift:literal, counts $c:literal),
        sums [$(($q:literal, $l:literal, $off:literal, $ao:literal)),*]
    ) => {
        $(#[$doc])*
        ///
        /// # Safety
        #[doc = concat!("`px` points at `len` (1..=16) readable counts; `w` at `len` columns of ", $t, " readable")]
        #[doc = concat!("weights; `acc` at ", $t, " writable `i32`s.")]
        #[inline(always)]
        pub(super) unsafe fn $name(px: *const u8, len: usize, w: *const i8, acc: *mut i32) {
            // SAFETY: the caller guarantees what the loads and stores touch (the count load
            // is predicated to `len` lanes); the vector registers used are declared clobbered.
            unsafe {
                mve_asm!($qn;
                    "vctp.8 {len}",
                    "vpstt",
                    concat!("vldrbt.u8 q", $c, ", [{px}]"),
                    concat!("vcmpt.i8 ne, q", $c, ", zr"),
                    "vmrs {m}, p0",
                    "cmp {m}, #0",
                    "beq 4f",
                    $(concat!("vldrw.u32 q", $q, ", [{acc}, #", $ao, "]"),)*
                    "mov {top}, #0x80000000",
                    "2:",
                    "clz {i}, {m}",
                    "lsr {s}, {top}, {i}",
                    "eor {m}, {m}, {s}",
                    "rsb {i}, {i}, #31",
                    "ldrb {s}, [{px}, {i}]",
                    concat!("add r3, {w}, {i}, lsl #", $shift),
                    $(concat!("vldrb.s32 q", $l, ", [r3, #", $off, "]"),)*
                    "3:",
                    $(concat!("vadd.i32 q", $q, ", q", $q, ", q", $l),)*
                    "subs {s}, #1",
                    "bne 3b",
                    "cmp {m}, #0",
                    "bne 2b",
                    $(concat!("vstrw.32 q", $q, ", [{acc}, #", $ao, "]"),)*
                    "4:",
                    px = in(reg) px,
                    len = in(reg) len,
                    w = in(reg) w,
                    acc = in(reg) acc,
                    m = out(reg) _,
                    top = out(reg) _,
                    i = out(reg) _,
                    s = out(reg) _,
                    out("r3") _,
                );
            }
        }
    };
}

tap_mask! {
    /// A kernel tap of a spike convolution with 8 output channels (columns 8 bytes apart).
    fn tap_mask8_i8(8 channels, q4, shift 3, counts 2),
    sums [(0, 2, 0, 0), (1, 3, 4, 16)]
}
tap_mask! {
    /// A kernel tap of a spike convolution with 16 output channels (columns 16 bytes apart).
    fn tap_mask16_i8(16 channels, q8, shift 4, counts 4),
    sums [(0, 4, 0, 0), (1, 5, 4, 16), (2, 6, 8, 32), (3, 7, 12, 48)]
}

/// Lists the columns of the first `len` input channels of one pixel: for each channel `i`
/// (lowest first) whose count at `px + i` is not zero, column `col0 + i · stride` written 4
/// times at the list's end, of which the count are kept (the end advances by it). Returns the
/// new end. Per 16 channels one predicated load and compare give the mask of spiking channels
/// (11 instructions for a group without spikes), then 9 instructions a spiking channel and no
/// loop per spike: the whole pixel is one asm loop, with no call or spill per group.
///
/// # Safety
/// `len ≥ 1`; `px` points at `len` readable counts, each at most 4; `dst` is 4-byte aligned
/// with `4 · len + 4` writable `u32`s; every listed column fits in `u32`.
#[inline(always)]
pub(super) unsafe fn list_pixel(
    px: *const u8,
    len: usize,
    col0: u32,
    stride: u32,
    dst: *mut u32,
) -> *mut u32 {
    let end: *mut u32;
    // SAFETY: the loads are predicated to the `len` counts; each spiking channel stores 4
    // slots at the end, which then advances by its count (at most 4), so the stores stay in
    // `4 · len + 4` slots. The compare runs under the load's predicate, so lanes past `len`
    // never spike. `eors` sets the flags `bne` reads (nothing between them sets flags), and
    // `subs` those of `bgt`. q0 is declared clobbered.
    unsafe {
        mve_asm!(q1;
            "2:",
            "vctp.8 {len}",
            "vpstt",
            "vldrbt.u8 q0, [{px}]",
            "vcmpt.i8 ne, q0, zr",
            "vmrs {m}, p0",
            "cmp {m}, #0",
            "beq 4f",
            "rbit {m}, {m}",
            "3:",
            "clz {i}, {m}",
            "lsr {t}, {top}, {i}",
            "eors {m}, {m}, {t}",
            "ldrb {t}, [{px}, {i}]",
            "mla {i}, {i}, {stride}, {col0}",
            "vdup.32 q0, {i}",
            "vstrw.32 q0, [{dst}]",
            "add {dst}, {dst}, {t}, lsl #2",
            "bne 3b",
            "4:",
            "add {px}, #16",
            "add {col0}, {col0}, {stride}, lsl #4",
            "subs {len}, #16",
            "bgt 2b",
            px = inout(reg) px => _,
            len = inout(reg) len => _,
            col0 = inout(reg) col0 => _,
            m = out(reg) _,
            i = out(reg) _,
            t = out(reg) _,
            top = in(reg) 0x8000_0000u32,
            stride = in(reg) stride,
            dst = inout(reg) dst => end,
        );
    }
    end
}

/// `dst[j] = src[j] + add` for `j < n`: a kept spike list moved to one kernel tap's columns,
/// 4 entries per turn of a tail-predicated loop (1 instruction an entry).
///
/// # Safety
/// `src` points at `n` readable and `dst` at `n` writable `u32`s, both 4-byte aligned.
#[inline(always)]
pub(super) unsafe fn offset_copy(src: *const u32, n: usize, add: u32, dst: *mut u32) {
    // SAFETY: the loop is tail-predicated to the `n` entries; q0, q1 and the loop counter (lr)
    // are declared clobbered.
    unsafe {
        mve_asm!(q2;
            "vdup.32 q1, {add}",
            "wlstp.32 lr, {n}, 3f",
            "2:",
            "vldrw.u32 q0, [{src}], #16",
            "vadd.i32 q0, q0, q1",
            "vstrw.32 q0, [{dst}], #16",
            "letp lr, 2b",
            "3:",
            src = inout(reg) src => _,
            n = in(reg) n,
            add = in(reg) add,
            dst = inout(reg) dst => _,
            out("lr") _,
        );
    }
}

/// The body of [`window_i8`], with or without the clamp (`$clamp`: its instructions).
macro_rules! window_i8_asm {
    ($src:ident, $stride:ident, $len:ident, $rows:ident, $dst:ident, $lo:ident, $hi:ident; $($clamp:literal,)*) => {
        mve_asm!(q4;
            "vdup.8 q1, {lo}",
            "vdup.8 q2, {hi}",
            "2:",
            "mov r2, {src}",
            "mov r3, {dst}",
            "wlstp.8 lr, {len}, 4f",
            "3:",
            "vldrb.u8 q0, [r2], #16",
            $($clamp,)*
            "vstrb.8 q0, [r3], #16",
            "letp lr, 3b",
            "4:",
            "add {src}, {stride}",
            "add {dst}, {len}",
            "subs {rows}, #1",
            "bne 2b",
            src = inout(reg) $src => _,
            stride = in(reg) $stride,
            len = in(reg) $len,
            rows = inout(reg) $rows => _,
            dst = inout(reg) $dst => _,
            lo = in(reg) i32::from($lo),
            hi = in(reg) i32::from($hi),
            out("r2") _,
            out("r3") _,
            out("lr") _,
        )
    };
}

/// The window of one encoding-layer output pixel as one contiguous list: `rows` rows of `len`
/// `i8` values, `stride` bytes apart from `src`, copied one after the other to `dst` (with
/// `CLAMP`, each value clamped to `[lo, hi]`), 16 values per turn of a tail-predicated loop.
///
/// # Safety
/// `rows ≥ 1`, `len ≥ 1`; `src + r·stride` points at `len` readable values for each row
/// `r < rows`, and `dst` at `rows · len` writable values.
#[inline(always)]
pub(super) unsafe fn window_i8<const CLAMP: bool>(
    src: *const i8,
    stride: usize,
    len: usize,
    rows: usize,
    dst: *mut i8,
    lo: i8,
    hi: i8,
) {
    // SAFETY: the caller guarantees what the loads and stores touch (the last turn of a row is
    // predicated to its remaining values); q0-q3 and the loop counter (lr) are declared
    // clobbered.
    unsafe {
        if CLAMP {
            window_i8_asm!(src, stride, len, rows, dst, lo, hi;
                "vmax.s8 q0, q0, q1",
                "vmin.s8 q0, q0, q2",
            );
        } else {
            window_i8_asm!(src, stride, len, rows, dst, lo, hi;);
        }
    }
}

/// Dot products of one gathered window (`16 · chunks` `i8` terms) with `4 · quads` weight
/// rows, into `acc`: for each quad, its 4 starting sums (`i32`) are loaded from `weights`,
/// then per chunk the window's 16 terms are loaded once and multiplied with the 4 channels'
/// 16 weights (`vmladava.s8`: 16 products added into one scalar, wrapping). The sums live in
/// r0, r4, r8 and r10 (the instruction takes even registers only).
///
/// # Safety
/// `chunks, quads ≥ 1`; `window` points at `16 · chunks` readable values; `weights` is 4-byte
/// aligned with `quads · (16 + 64 · chunks)` readable bytes; `acc` at `4 · quads` writable
/// `i32`s.
#[inline(always)]
pub(super) unsafe fn dot4_i8(
    window: *const i8,
    weights: *const u8,
    chunks: usize,
    quads: usize,
    acc: *mut i32,
) {
    // SAFETY: the caller guarantees what the loads and stores touch; q0-q3, the sums' registers
    // and the loop counter (lr) are declared clobbered.
    unsafe {
        mve_asm!(q4;
            "2:",
            "ldm {w}!, {{r0, r4, r8, r10}}",
            "mov r2, {window}",
            "dls lr, {chunks}",
            "3:",
            "vldrb.u8 q0, [r2], #16",
            "vldrb.u8 q1, [{w}], #16",
            "vmladava.s8 r0, q0, q1",
            "vldrb.u8 q2, [{w}], #16",
            "vmladava.s8 r4, q0, q2",
            "vldrb.u8 q3, [{w}], #16",
            "vmladava.s8 r8, q0, q3",
            "vldrb.u8 q1, [{w}], #16",
            "vmladava.s8 r10, q0, q1",
            "le lr, 3b",
            "stm {acc}!, {{r0, r4, r8, r10}}",
            "subs {quads}, #1",
            "bne 2b",
            window = in(reg) window,
            w = inout(reg) weights => _,
            chunks = in(reg) chunks,
            quads = inout(reg) quads => _,
            acc = inout(reg) acc => _,
            out("r0") _,
            out("r2") _,
            out("r4") _,
            out("r8") _,
            out("r10") _,
            out("lr") _,
        );
    }
}

/// One tap loop of [`depthwise_pair16_i8`]: `$n` (an `args` offset) taps of `$words` list
/// words each, loaded into r2 (counts), r3 and r5 (weights); `$planes` the plane loops.
macro_rules! pair_taps {
    ($n:literal, $start:literal, $skip:literal, $end:literal, [$($load:literal),*], [$($planes:literal),*]) => {
        concat!(
            "ldr r2, [{args}, #", $n, "]\n",
            "wls lr, r2, ", $end, "f\n",
            $start, ":\n",
            $($load, "\n",)*
            "vldrb.u8 q6, [r2]\n",
            "vmaxv.u8 r4, q6\n",
            "cbz r4, ", $skip, "f\n",
            "vldrb.u16 q4, [r2]\n",
            "vldrb.u16 q5, [r2, #8]\n",
            "vldrb.s16 q6, [r3]\n",
            "vldrb.s16 q7, [r3, #8]\n",
            $($planes, "\n",)*
            $skip, ":\n",
            "le lr, ", $start, "b\n",
            $end, ":\n",
        )
    };
}

/// Depthwise spike-driven taps of two horizontally adjacent output pixels (A, B) for 16
/// channels, `i8` weights, summed in `i16` lanes and stored to `acc_a`, `acc_b` as `i32`. The
/// list holds first `args[0]` taps of A alone (`[pixel, weights]` addresses), then `args[1]`
/// input pixels both windows read (`[pixel, A's weights, B's weights]`), then `args[2]` taps
/// of B alone; `c` bytes are added to every address. A shared input pixel's counts are
/// loaded and their largest taken once for both pixels. `args` = `[n_a, n_both, n_b, acc_a,
/// acc_b, scratch]` (the scratch: 32 writable `i16`s).
///
/// # Safety
/// The list holds `2·n_a + 3·n_both + 2·n_b` addresses; each pixel address `+ c` points at 16
/// readable counts and each weights address `+ c` at 16 readable weights; `acc_a` and `acc_b`
/// point at 16 writable `i32`s each. In every lane, the counts of A's taps (alone or shared)
/// sum to at most 255, and so do B's.
#[inline(always)]
pub(super) unsafe fn depthwise_pair16_i8(list: *const u32, c: usize, args: &[usize; 6]) {
    // SAFETY: the caller guarantees what the loads and stores touch and that no lane can wrap;
    // q0-q7, r2-r5 and the loop counter (lr) are declared clobbered. r4 (the largest count)
    // is 0 whenever a tap starts: each plane loop counts it down to 0.
    unsafe {
        mve_asm!(q8;
            "vmov.i32 q0, #0",
            "vmov.i32 q1, #0",
            "vmov.i32 q2, #0",
            "vmov.i32 q3, #0",
            "movs r4, #0",
            pair_taps!("0", "42", "43", "44",
                ["ldrd r2, r3, [{list}], #8", "add r2, {c}", "add r3, {c}"],
                ["45:", "subs r4, #1",
                 "vpt.u16 hi, q4, r4", "vaddt.i16 q0, q0, q6",
                 "vpt.u16 hi, q5, r4", "vaddt.i16 q1, q1, q7",
                 "bne 45b"]),
            pair_taps!("4", "52", "53", "54",
                ["ldm {list}!, {{r2, r3, r5}}", "add r2, {c}", "add r3, {c}", "add r5, {c}"],
                ["mov {m}, r4",
                 "55:", "subs r4, #1",
                 "vpt.u16 hi, q4, r4", "vaddt.i16 q0, q0, q6",
                 "vpt.u16 hi, q5, r4", "vaddt.i16 q1, q1, q7",
                 "bne 55b",
                 "vldrb.s16 q6, [r5]", "vldrb.s16 q7, [r5, #8]",
                 "56:", "subs {m}, #1",
                 "vpt.u16 hi, q4, {m}", "vaddt.i16 q2, q2, q6",
                 "vpt.u16 hi, q5, {m}", "vaddt.i16 q3, q3, q7",
                 "bne 56b"]),
            pair_taps!("8", "62", "63", "64",
                ["ldrd r2, r3, [{list}], #8", "add r2, {c}", "add r3, {c}"],
                ["65:", "subs r4, #1",
                 "vpt.u16 hi, q4, r4", "vaddt.i16 q2, q2, q6",
                 "vpt.u16 hi, q5, r4", "vaddt.i16 q3, q3, q7",
                 "bne 65b"]),
            // The i16 sums widened and stored as the i32 accumulators.
            "ldr r5, [{args}, #20]",
            "vstrh.16 q0, [r5, #0]",
            "vstrh.16 q1, [r5, #16]",
            "vstrh.16 q2, [r5, #32]",
            "vstrh.16 q3, [r5, #48]",
            "ldr r2, [{args}, #12]",
            "ldr r3, [{args}, #16]",
            "vldrh.s32 q4, [r5, #0]",
            "vldrh.s32 q5, [r5, #8]",
            "vldrh.s32 q6, [r5, #16]",
            "vldrh.s32 q7, [r5, #24]",
            "vstrw.32 q4, [r2, #0]",
            "vstrw.32 q5, [r2, #16]",
            "vstrw.32 q6, [r2, #32]",
            "vstrw.32 q7, [r2, #48]",
            "vldrh.s32 q4, [r5, #32]",
            "vldrh.s32 q5, [r5, #40]",
            "vldrh.s32 q6, [r5, #48]",
            "vldrh.s32 q7, [r5, #56]",
            "vstrw.32 q4, [r3, #0]",
            "vstrw.32 q5, [r3, #16]",
            "vstrw.32 q6, [r3, #32]",
            "vstrw.32 q7, [r3, #48]",
            list = inout(reg) list => _,
            c = in(reg) c,
            args = in(reg) args.as_ptr(),
            m = out(reg) _,
            out("r2") _,
            out("r3") _,
            out("r4") _,
            out("r5") _,
            out("lr") _,
        );
    }
}
