//! Helium (MVE) inner loops: the tile sums of `helium.rs` with the running sums held in
//! vector registers q0-q3 across every listed column. Written out per tile width (the
//! registers of an `asm!` block are fixed text). Widening loads (`vldrb.s16`, `vldrh.s32`)
//! take only a low base register, hence r2/r3.

/// `acc[0..32] += Σ_cols w[col..col + 32]` for `i8` weights, summed in `i16` lanes (at most
/// [`super::helium::CHUNK`] columns, so the lanes cannot wrap).
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
        core::arch::asm!(
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
            out("s28") _,
            out("s29") _,
            out("s30") _,
            out("s31") _,
            options(nostack),
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
        core::arch::asm!(
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
            out("s28") _,
            out("s29") _,
            out("s30") _,
            out("s31") _,
            options(nostack),
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
        core::arch::asm!(
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
            out("s28") _,
            out("s29") _,
            out("s30") _,
            out("s31") _,
            options(nostack),
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
        core::arch::asm!(
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
            out("s28") _,
            out("s29") _,
            out("s30") _,
            out("s31") _,
            options(nostack),
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
        core::arch::asm!(
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
            out("s28") _,
            out("s29") _,
            out("s30") _,
            out("s31") _,
            options(nostack),
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
        core::arch::asm!(
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
            out("s28") _,
            out("s29") _,
            out("s30") _,
            out("s31") _,
            options(nostack),
        );
    }
}
