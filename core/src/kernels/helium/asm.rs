//! Helium (MVE) inner loops: the tile sums of `helium.rs` with the running sums held in
//! vector registers q0-q3 across every listed column. Written out per tile width (the
//! registers of an `asm!` block are fixed text). Widening loads (`vldrb.s16`, `vldrh.s32`)
//! take only a low base register, hence r2/r3.

/// `asm!` with every vector register (q0-q7 = s0-s31) declared clobbered and no stack use:
/// the loops below hold sums and loaded columns in all of them.
macro_rules! mve_asm {
    ($($operands:tt)*) => {
        core::arch::asm!(
            $($operands)*
            out("s0") _, out("s1") _, out("s2") _, out("s3") _,
            out("s4") _, out("s5") _, out("s6") _, out("s7") _,
            out("s8") _, out("s9") _, out("s10") _, out("s11") _,
            out("s12") _, out("s13") _, out("s14") _, out("s15") _,
            out("s16") _, out("s17") _, out("s18") _, out("s19") _,
            out("s20") _, out("s21") _, out("s22") _, out("s23") _,
            out("s24") _, out("s25") _, out("s26") _, out("s27") _,
            out("s28") _, out("s29") _, out("s30") _, out("s31") _,
            options(nostack),
        )
    };
}

/// `acc[0..32] += Σ_cols w[col..col + 32]` for `i8` weights, summed in `i16` lanes (at most
/// [`super::CHUNK`] columns, so the lanes cannot wrap).
///
/// # Safety
/// `n ≥ 1`; `cols` points at `n` column offsets and, for each, `w + col` at 32 readable
/// weights; `acc` points at 32 writable `i32`s.
#[inline(always)]
pub(super) unsafe fn tile32_i8(w: *const i8, cols: *const u32, n: usize, acc: *mut i32) {
    // Written whole by the asm before it reads it back.
    let mut tmp = core::mem::MaybeUninit::<[i16; 32]>::uninit();
    // SAFETY: the caller guarantees the pointers cover what the loads and stores touch;
    // the vector registers used are declared clobbered (q0-q7 = s0-s31).
    unsafe {
        mve_asm!(
            "vmov.i32 q0, #0",
            "vmov.i32 q1, #0",
            "vmov.i32 q2, #0",
            "vmov.i32 q3, #0",
            "2:",
            "ldr r2, [{cols}], #4",
            "add r2, {w}",
            "vldrb.s16 q4, [r2, #0]",
            "vldrb.s16 q5, [r2, #8]",
            "vldrb.s16 q6, [r2, #16]",
            "vldrb.s16 q7, [r2, #24]",
            "vadd.i16 q0, q0, q4",
            "vadd.i16 q1, q1, q5",
            "vadd.i16 q2, q2, q6",
            "vadd.i16 q3, q3, q7",
            "subs {n}, #1",
            "bne 2b",
            "vstrh.16 q0, [r3, #0]",
            "vstrh.16 q1, [r3, #16]",
            "vstrh.16 q2, [r3, #32]",
            "vstrh.16 q3, [r3, #48]",
            "vldrh.s32 q4, [r3, #0]",
            "vldrw.u32 q5, [{acc}, #0]",
            "vadd.i32 q5, q5, q4",
            "vstrw.32 q5, [{acc}, #0]",
            "vldrh.s32 q4, [r3, #8]",
            "vldrw.u32 q5, [{acc}, #16]",
            "vadd.i32 q5, q5, q4",
            "vstrw.32 q5, [{acc}, #16]",
            "vldrh.s32 q4, [r3, #16]",
            "vldrw.u32 q5, [{acc}, #32]",
            "vadd.i32 q5, q5, q4",
            "vstrw.32 q5, [{acc}, #32]",
            "vldrh.s32 q4, [r3, #24]",
            "vldrw.u32 q5, [{acc}, #48]",
            "vadd.i32 q5, q5, q4",
            "vstrw.32 q5, [{acc}, #48]",
            "vldrh.s32 q4, [r3, #32]",
            "vldrw.u32 q5, [{acc}, #64]",
            "vadd.i32 q5, q5, q4",
            "vstrw.32 q5, [{acc}, #64]",
            "vldrh.s32 q4, [r3, #40]",
            "vldrw.u32 q5, [{acc}, #80]",
            "vadd.i32 q5, q5, q4",
            "vstrw.32 q5, [{acc}, #80]",
            "vldrh.s32 q4, [r3, #48]",
            "vldrw.u32 q5, [{acc}, #96]",
            "vadd.i32 q5, q5, q4",
            "vstrw.32 q5, [{acc}, #96]",
            "vldrh.s32 q4, [r3, #56]",
            "vldrw.u32 q5, [{acc}, #112]",
            "vadd.i32 q5, q5, q4",
            "vstrw.32 q5, [{acc}, #112]",
            w = in(reg) w,
            cols = inout(reg) cols => _,
            n = inout(reg) n => _,
            out("r2") _,
            in("r3") tmp.as_mut_ptr() as *mut i16,
            acc = in(reg) acc,
        );
    }
}

/// As [`tile32_i8`] for 16 channels.
///
/// # Safety
/// `n ≥ 1`; `cols` points at `n` column offsets and, for each, `w + col` at 16 readable
/// weights; `acc` points at 16 writable `i32`s.
#[inline(always)]
pub(super) unsafe fn tile16_i8(w: *const i8, cols: *const u32, n: usize, acc: *mut i32) {
    // Written whole by the asm before it reads it back.
    let mut tmp = core::mem::MaybeUninit::<[i16; 16]>::uninit();
    // SAFETY: the caller guarantees the pointers cover what the loads and stores touch;
    // the vector registers used are declared clobbered (q0-q7 = s0-s31).
    unsafe {
        mve_asm!(
            "vmov.i32 q0, #0",
            "vmov.i32 q1, #0",
            "2:",
            "ldr r2, [{cols}], #4",
            "add r2, {w}",
            "vldrb.s16 q4, [r2, #0]",
            "vldrb.s16 q5, [r2, #8]",
            "vadd.i16 q0, q0, q4",
            "vadd.i16 q1, q1, q5",
            "subs {n}, #1",
            "bne 2b",
            "vstrh.16 q0, [r3, #0]",
            "vstrh.16 q1, [r3, #16]",
            "vldrh.s32 q4, [r3, #0]",
            "vldrw.u32 q5, [{acc}, #0]",
            "vadd.i32 q5, q5, q4",
            "vstrw.32 q5, [{acc}, #0]",
            "vldrh.s32 q4, [r3, #8]",
            "vldrw.u32 q5, [{acc}, #16]",
            "vadd.i32 q5, q5, q4",
            "vstrw.32 q5, [{acc}, #16]",
            "vldrh.s32 q4, [r3, #16]",
            "vldrw.u32 q5, [{acc}, #32]",
            "vadd.i32 q5, q5, q4",
            "vstrw.32 q5, [{acc}, #32]",
            "vldrh.s32 q4, [r3, #24]",
            "vldrw.u32 q5, [{acc}, #48]",
            "vadd.i32 q5, q5, q4",
            "vstrw.32 q5, [{acc}, #48]",
            w = in(reg) w,
            cols = inout(reg) cols => _,
            n = inout(reg) n => _,
            out("r2") _,
            in("r3") tmp.as_mut_ptr() as *mut i16,
            acc = in(reg) acc,
        );
    }
}

/// As [`tile32_i8`] for 8 channels.
///
/// # Safety
/// `n ≥ 1`; `cols` points at `n` column offsets and, for each, `w + col` at 8 readable
/// weights; `acc` points at 8 writable `i32`s.
#[inline(always)]
pub(super) unsafe fn tile8_i8(w: *const i8, cols: *const u32, n: usize, acc: *mut i32) {
    // Written whole by the asm before it reads it back.
    let mut tmp = core::mem::MaybeUninit::<[i16; 8]>::uninit();
    // SAFETY: the caller guarantees the pointers cover what the loads and stores touch;
    // the vector registers used are declared clobbered (q0-q7 = s0-s31).
    unsafe {
        mve_asm!(
            "vmov.i32 q0, #0",
            "2:",
            "ldr r2, [{cols}], #4",
            "add r2, {w}",
            "vldrb.s16 q4, [r2, #0]",
            "vadd.i16 q0, q0, q4",
            "subs {n}, #1",
            "bne 2b",
            "vstrh.16 q0, [r3, #0]",
            "vldrh.s32 q4, [r3, #0]",
            "vldrw.u32 q5, [{acc}, #0]",
            "vadd.i32 q5, q5, q4",
            "vstrw.32 q5, [{acc}, #0]",
            "vldrh.s32 q4, [r3, #8]",
            "vldrw.u32 q5, [{acc}, #16]",
            "vadd.i32 q5, q5, q4",
            "vstrw.32 q5, [{acc}, #16]",
            w = in(reg) w,
            cols = inout(reg) cols => _,
            n = inout(reg) n => _,
            out("r2") _,
            in("r3") tmp.as_mut_ptr() as *mut i16,
            acc = in(reg) acc,
        );
    }
}

/// `acc[0..16] += Σ_cols w[col..col + 16]` for `i16` weights in `i32` lanes (wrapping, as the
/// scalar kernel).
///
/// # Safety
/// `n ≥ 1`; `cols` points at `n` column offsets and, for each, `w + col` at 16 readable
/// weights; `acc` points at 16 writable `i32`s.
#[inline(always)]
pub(super) unsafe fn tile16_i16(w: *const i16, cols: *const u32, n: usize, acc: *mut i32) {
    // SAFETY: the caller guarantees the pointers cover what the loads and stores touch;
    // the vector registers used are declared clobbered (q0-q7 = s0-s31).
    unsafe {
        mve_asm!(
            "vmov.i32 q0, #0",
            "vmov.i32 q1, #0",
            "vmov.i32 q2, #0",
            "vmov.i32 q3, #0",
            "2:",
            "ldr r2, [{cols}], #4",
            "add r2, {w}",
            "vldrh.s32 q4, [r2, #0]",
            "vldrh.s32 q5, [r2, #8]",
            "vldrh.s32 q6, [r2, #16]",
            "vldrh.s32 q7, [r2, #24]",
            "vadd.i32 q0, q0, q4",
            "vadd.i32 q1, q1, q5",
            "vadd.i32 q2, q2, q6",
            "vadd.i32 q3, q3, q7",
            "subs {n}, #1",
            "bne 2b",
            "vldrw.u32 q4, [{acc}, #0]",
            "vadd.i32 q4, q4, q0",
            "vstrw.32 q4, [{acc}, #0]",
            "vldrw.u32 q4, [{acc}, #16]",
            "vadd.i32 q4, q4, q1",
            "vstrw.32 q4, [{acc}, #16]",
            "vldrw.u32 q4, [{acc}, #32]",
            "vadd.i32 q4, q4, q2",
            "vstrw.32 q4, [{acc}, #32]",
            "vldrw.u32 q4, [{acc}, #48]",
            "vadd.i32 q4, q4, q3",
            "vstrw.32 q4, [{acc}, #48]",
            w = in(reg) w,
            cols = inout(reg) cols => _,
            n = inout(reg) n => _,
            out("r2") _,
            acc = in(reg) acc,
        );
    }
}

/// As [`tile16_i16`] for 8 channels.
///
/// # Safety
/// `n ≥ 1`; `cols` points at `n` column offsets and, for each, `w + col` at 8 readable
/// weights; `acc` points at 8 writable `i32`s.
#[inline(always)]
pub(super) unsafe fn tile8_i16(w: *const i16, cols: *const u32, n: usize, acc: *mut i32) {
    // SAFETY: the caller guarantees the pointers cover what the loads and stores touch;
    // the vector registers used are declared clobbered (q0-q7 = s0-s31).
    unsafe {
        mve_asm!(
            "vmov.i32 q0, #0",
            "vmov.i32 q1, #0",
            "2:",
            "ldr r2, [{cols}], #4",
            "add r2, {w}",
            "vldrh.s32 q4, [r2, #0]",
            "vldrh.s32 q5, [r2, #8]",
            "vadd.i32 q0, q0, q4",
            "vadd.i32 q1, q1, q5",
            "subs {n}, #1",
            "bne 2b",
            "vldrw.u32 q4, [{acc}, #0]",
            "vadd.i32 q4, q4, q0",
            "vstrw.32 q4, [{acc}, #0]",
            "vldrw.u32 q4, [{acc}, #16]",
            "vadd.i32 q4, q4, q1",
            "vstrw.32 q4, [{acc}, #16]",
            w = in(reg) w,
            cols = inout(reg) cols => _,
            n = inout(reg) n => _,
            out("r2") _,
            acc = in(reg) acc,
        );
    }
}

/// As [`tile16_i16`] for 4 channels.
///
/// # Safety
/// `n ≥ 1`; `cols` points at `n` column offsets and, for each, `w + col` at 4 readable
/// weights; `acc` points at 4 writable `i32`s.
#[inline(always)]
pub(super) unsafe fn tile4_i16(w: *const i16, cols: *const u32, n: usize, acc: *mut i32) {
    // SAFETY: the caller guarantees the pointers cover what the loads and stores touch;
    // the vector registers used are declared clobbered (q0-q7 = s0-s31).
    unsafe {
        mve_asm!(
            "vmov.i32 q0, #0",
            "2:",
            "ldr r2, [{cols}], #4",
            "add r2, {w}",
            "vldrh.s32 q4, [r2, #0]",
            "vadd.i32 q0, q0, q4",
            "subs {n}, #1",
            "bne 2b",
            "vldrw.u32 q4, [{acc}, #0]",
            "vadd.i32 q4, q4, q0",
            "vstrw.32 q4, [{acc}, #0]",
            w = in(reg) w,
            cols = inout(reg) cols => _,
            n = inout(reg) n => _,
            out("r2") _,
            acc = in(reg) acc,
        );
    }
}

/// `acc[0..4n] += x · w[0..4n]` (wrapping `i32`), `i8` weights: the encoding layer's
/// multiply-accumulate of one input value into its weight column.
///
/// # Safety
/// `n ≥ 1`; `w` points at `4n` readable weights and `acc` at `4n` writable `i32`s.
#[inline(always)]
pub(super) unsafe fn mla_i8(w: *const i8, x: i32, acc: *mut i32, n: usize) {
    // SAFETY: the caller guarantees what the loads and stores touch; q0, q1 and the loop
    // counter (lr) are declared clobbered.
    unsafe {
        core::arch::asm!(
            "dls lr, {n}",
            "2:",
            "vldrw.u32 q0, [{acc}]",
            "vldrb.s32 q1, [r2], #4",
            "vmla.i32 q0, q1, {x}",
            "vstrw.32 q0, [{acc}], #16",
            "le lr, 2b",
            n = in(reg) n,
            x = in(reg) x,
            acc = inout(reg) acc => _,
            inout("r2") w => _,
            out("lr") _,
            out("s0") _,
            out("s1") _,
            out("s2") _,
            out("s3") _,
            out("s4") _,
            out("s5") _,
            out("s6") _,
            out("s7") _,
            options(nostack),
        );
    }
}

/// As [`mla_i8`] for `i16` weights.
///
/// # Safety
/// `n ≥ 1`; `w` points at `4n` readable weights and `acc` at `4n` writable `i32`s.
#[inline(always)]
pub(super) unsafe fn mla_i16(w: *const i16, x: i32, acc: *mut i32, n: usize) {
    // SAFETY: as `mla_i8`.
    unsafe {
        core::arch::asm!(
            "dls lr, {n}",
            "2:",
            "vldrw.u32 q0, [{acc}]",
            "vldrh.s32 q1, [r2], #8",
            "vmla.i32 q0, q1, {x}",
            "vstrw.32 q0, [{acc}], #16",
            "le lr, 2b",
            n = in(reg) n,
            x = in(reg) x,
            acc = inout(reg) acc => _,
            inout("r2") w => _,
            out("lr") _,
            out("s0") _,
            out("s1") _,
            out("s2") _,
            out("s3") _,
            out("s4") _,
            out("s5") _,
            out("s6") _,
            out("s7") _,
            options(nostack),
        );
    }
}

/// Depthwise spike-driven taps of one output pixel for 16 channels, `i8` weights: for each
/// listed tap (`[pixel, weights]` addresses, `c` bytes added to both), binary spike plane `t`
/// of every channel with count `> t` adds its weight (predicated adds), summed in `i16`
/// lanes. Planes are counted: before a tap would take the count past 255 (`255 · 128 <
/// 2^15`, so no lane can wrap) the sums are added to `acc` as `i32` and the call returns the
/// number of taps left (0 when all were done).
///
/// # Safety
/// `n ≥ 1`; `list` points at `n` address pairs, each `pixel + c` at 16 readable counts and
/// `weights + c` at 16 readable weights; `acc` points at 16 writable `i32`s.
#[inline(always)]
pub(super) unsafe fn depthwise16_i8(
    list: *const [u32; 2],
    n: usize,
    c: usize,
    acc: *mut i32,
) -> usize {
    // Written whole by the asm before it reads it back.
    let mut tmp = core::mem::MaybeUninit::<[i16; 16]>::uninit();
    let left: usize;
    // SAFETY: the caller guarantees what the loads and stores touch; the vector registers
    // used are declared clobbered (q0-q6 = s0-s27).
    unsafe {
        core::arch::asm!(
            "vmov.i32 q0, #0",
            "vmov.i32 q1, #0",
            "movs {cnt}, #0",
            "2:",
            "ldr r2, [{list}]",
            "ldr r3, [{list}, #4]",
            "add r2, {c}",
            "add r3, {c}",
            "vldrb.u16 q2, [r2]",
            "vldrb.u16 q3, [r2, #8]",
            "vmax.u16 q6, q2, q3",
            "movs {m}, #0",
            "vmaxv.u16 {m}, q6",
            "adds {t}, {cnt}, {m}",
            "cmp {t}, #255",
            "bhi 5f",
            "mov {cnt}, {t}",
            "cmp {m}, #0",
            "beq 4f",
            "vldrb.s16 q4, [r3]",
            "vldrb.s16 q5, [r3, #8]",
            "movs {t}, #0",
            "3:",
            "vpt.u16 hi, q2, {t}",
            "vaddt.i16 q0, q0, q4",
            "vpt.u16 hi, q3, {t}",
            "vaddt.i16 q1, q1, q5",
            "adds {t}, #1",
            "cmp {t}, {m}",
            "blo 3b",
            "4:",
            "adds {list}, #8",
            "subs {n}, #1",
            "bne 2b",
            "5:",
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
            list = inout(reg) list => _,
            n = inout(reg) n => left,
            c = in(reg) c,
            acc = in(reg) acc,
            tmp = in(reg) tmp.as_mut_ptr() as *mut i16,
            cnt = out(reg) _,
            m = out(reg) _,
            t = out(reg) _,
            out("r2") _,
            out("r3") _,
            out("s0") _,
            out("s1") _,
            out("s2") _,
            out("s3") _,
            out("s4") _,
            out("s5") _,
            out("s6") _,
            out("s7") _,
            out("s8") _,
            out("s9") _,
            out("s10") _,
            out("s11") _,
            out("s12") _,
            out("s13") _,
            out("s14") _,
            out("s15") _,
            out("s16") _,
            out("s17") _,
            out("s18") _,
            out("s19") _,
            out("s20") _,
            out("s21") _,
            out("s22") _,
            out("s23") _,
            out("s24") _,
            out("s25") _,
            out("s26") _,
            out("s27") _,
            options(nostack),
        );
    }
    left
}

/// Bit `i` set for each of the first `len` (1..=16) counts at `px` that is not zero: one
/// vector compare whose predicate register holds one bit per byte lane. Bits at and above
/// `len` are unspecified.
///
/// # Safety
/// `px` points at `len` readable bytes (the load is predicated to them).
#[inline(always)]
pub(super) unsafe fn nonzero16(px: *const u8, len: usize) -> u32 {
    let mask: u32;
    // SAFETY: the load reads only the `len` predicated lanes; q0 is declared clobbered.
    unsafe {
        core::arch::asm!(
            "vctp.8 {len}",
            "vpst",
            "vldrbt.u8 q0, [{px}]",
            "vcmp.i8 ne, q0, zr",
            "vmrs {mask}, p0",
            px = in(reg) px,
            len = in(reg) len,
            mask = out(reg) mask,
            out("s0") _,
            out("s1") _,
            out("s2") _,
            out("s3") _,
            options(nostack, readonly),
        );
    }
    mask
}

/// `acc[0..8] = Σ x · w[0..8]` over a list of `[x, weights address]` pairs (`c` bytes added
/// to each address), `i8` weights, wrapping `i32` sums held in q0-q1 for the whole list: the
/// encoding layer's multiply-accumulate of one output pixel for 8 channels.
///
/// # Safety
/// `n ≥ 1`; `list` points at `n` pairs whose `address + c` each point at 8 readable weights;
/// `acc` points at 8 writable `i32`s.
#[inline(always)]
pub(super) unsafe fn mac_list8_i8(list: *const [u32; 2], n: usize, c: usize, acc: *mut i32) {
    // SAFETY: the caller guarantees what the loads and stores touch; q0-q3 and the loop
    // counter (lr) are declared clobbered.
    unsafe {
        core::arch::asm!(
            "vmov.i32 q0, #0",
            "vmov.i32 q1, #0",
            "dls lr, {n}",
            "2:",
            "ldrd r2, r3, [{list}], #8",
            "add r3, {c}",
            "vldrb.s32 q2, [r3]",
            "vldrb.s32 q3, [r3, #4]",
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
            out("s0") _,
            out("s1") _,
            out("s2") _,
            out("s3") _,
            out("s4") _,
            out("s5") _,
            out("s6") _,
            out("s7") _,
            out("s8") _,
            out("s9") _,
            out("s10") _,
            out("s11") _,
            out("s12") _,
            out("s13") _,
            out("s14") _,
            out("s15") _,
            options(nostack),
        );
    }
}

/// As [`mac_list8_i8`] for `i16` weights.
///
/// # Safety
/// `n ≥ 1`; `list` points at `n` pairs whose `address + c` each point at 8 readable weights;
/// `acc` points at 8 writable `i32`s.
#[inline(always)]
pub(super) unsafe fn mac_list8_i16(list: *const [u32; 2], n: usize, c: usize, acc: *mut i32) {
    // SAFETY: as `mac_list8_i8`.
    unsafe {
        core::arch::asm!(
            "vmov.i32 q0, #0",
            "vmov.i32 q1, #0",
            "dls lr, {n}",
            "2:",
            "ldrd r2, r3, [{list}], #8",
            "add r3, {c}",
            "vldrh.s32 q2, [r3]",
            "vldrh.s32 q3, [r3, #8]",
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
            out("s0") _,
            out("s1") _,
            out("s2") _,
            out("s3") _,
            out("s4") _,
            out("s5") _,
            out("s6") _,
            out("s7") _,
            out("s8") _,
            out("s9") _,
            out("s10") _,
            out("s11") _,
            out("s12") _,
            out("s13") _,
            out("s14") _,
            out("s15") _,
            options(nostack),
        );
    }
}

/// One kernel tap and up to 16 input channels of a spike convolution with 8 output channels
/// and `i8` weights, adding into `acc` directly (`i32` lanes, wrapping like the scalar
/// kernel, so no count of columns is needed): a predicated load and compare give the mask
/// of non-zero counts, and each set bit (found with `clz`) adds its weight column once per
/// binary spike. No column list is written.
///
/// # Safety
/// `px` points at `len` (1..=16) readable counts; `w` at `len` columns of 8 readable
/// weights (8 bytes apart); `acc` at 8 writable `i32`s.
#[inline(always)]
pub(super) unsafe fn tap_mask8_i8(px: *const u8, len: usize, w: *const i8, acc: *mut i32) {
    // SAFETY: the caller guarantees what the loads and stores touch (the count load is
    // predicated to `len` lanes); q0-q3 are declared clobbered.
    unsafe {
        core::arch::asm!(
            "vctp.8 {len}",
            "vpstt",
            "vldrbt.u8 q2, [{px}]",
            "vcmpt.i8 ne, q2, zr",
            "vmrs {m}, p0",
            "cmp {m}, #0",
            "beq 4f",
            "vldrw.u32 q0, [{acc}]",
            "vldrw.u32 q1, [{acc}, #16]",
            "mov {top}, #0x80000000",
            "2:",
            "clz {i}, {m}",
            "lsr {s}, {top}, {i}",
            "eor {m}, {m}, {s}",
            "rsb {i}, {i}, #31",
            "ldrb {s}, [{px}, {i}]",
            "add r3, {w}, {i}, lsl #3",
            "vldrb.s32 q2, [r3]",
            "vldrb.s32 q3, [r3, #4]",
            "3:",
            "vadd.i32 q0, q0, q2",
            "vadd.i32 q1, q1, q3",
            "subs {s}, #1",
            "bne 3b",
            "cmp {m}, #0",
            "bne 2b",
            "vstrw.32 q0, [{acc}]",
            "vstrw.32 q1, [{acc}, #16]",
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
            out("s0") _,
            out("s1") _,
            out("s2") _,
            out("s3") _,
            out("s4") _,
            out("s5") _,
            out("s6") _,
            out("s7") _,
            out("s8") _,
            out("s9") _,
            out("s10") _,
            out("s11") _,
            out("s12") _,
            out("s13") _,
            out("s14") _,
            out("s15") _,
            options(nostack),
        );
    }
}

/// As [`tap_mask8_i8`] for 16 output channels (columns 16 bytes apart).
///
/// # Safety
/// `px` points at `len` (1..=16) readable counts; `w` at `len` columns of 16 readable
/// weights; `acc` at 16 writable `i32`s.
#[inline(always)]
pub(super) unsafe fn tap_mask16_i8(px: *const u8, len: usize, w: *const i8, acc: *mut i32) {
    // SAFETY: as `tap_mask8_i8`; q0-q7 are declared clobbered.
    unsafe {
        mve_asm!(
            "vctp.8 {len}",
            "vpstt",
            "vldrbt.u8 q4, [{px}]",
            "vcmpt.i8 ne, q4, zr",
            "vmrs {m}, p0",
            "cmp {m}, #0",
            "beq 4f",
            "vldrw.u32 q0, [{acc}]",
            "vldrw.u32 q1, [{acc}, #16]",
            "vldrw.u32 q2, [{acc}, #32]",
            "vldrw.u32 q3, [{acc}, #48]",
            "mov {top}, #0x80000000",
            "2:",
            "clz {i}, {m}",
            "lsr {s}, {top}, {i}",
            "eor {m}, {m}, {s}",
            "rsb {i}, {i}, #31",
            "ldrb {s}, [{px}, {i}]",
            "add r3, {w}, {i}, lsl #4",
            "vldrb.s32 q4, [r3]",
            "vldrb.s32 q5, [r3, #4]",
            "vldrb.s32 q6, [r3, #8]",
            "vldrb.s32 q7, [r3, #12]",
            "3:",
            "vadd.i32 q0, q0, q4",
            "vadd.i32 q1, q1, q5",
            "vadd.i32 q2, q2, q6",
            "vadd.i32 q3, q3, q7",
            "subs {s}, #1",
            "bne 3b",
            "cmp {m}, #0",
            "bne 2b",
            "vstrw.32 q0, [{acc}]",
            "vstrw.32 q1, [{acc}, #16]",
            "vstrw.32 q2, [{acc}, #32]",
            "vstrw.32 q3, [{acc}, #48]",
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
