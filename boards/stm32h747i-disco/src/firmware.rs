//! Entry point, memory hand-out and exit status of the firmware.

use cortex_m_rt::entry;
use cortex_m_semihosting::debug::{exit, EXIT_FAILURE, EXIT_SUCCESS};
use defmt::{error, info};
use defmt_rtt as _;
use panic_probe as _;
use sdt_core::graph::MAX_NODES;
use sdt_core::Stats;
use sdt_stm32h747i_disco::memory::{Region, AXISRAM, SDRAM};

use crate::board;
use crate::generated::{ARENA_BYTES, ARENA_IN_SDRAM, BLOB_BYTES, KEPT_BYTES, KEPT_IN_SDRAM};
use crate::infer;

// Defined by the generated placement.x: the weights in QSPI, the arena and the kept spike
// thresholds in AXI SRAM or SDRAM.
extern "C" {
    static __sweights: u8;
    static __eweights: u8;
    static mut __sarena: u8;
    static __earena: u8;
    static mut __skept: u8;
    static __ekept: u8;
}

/// Whether `len` bytes at `at` lie inside `home`.
fn inside(at: *const u8, len: usize, home: Region) -> bool {
    at as u64 >= home.origin as u64 && at as u64 + len as u64 <= home.end()
}

#[entry]
fn main() -> ! {
    let ok = match run() {
        Ok(all_identical) => all_identical,
        Err(e) => {
            error!("{}", e);
            false
        }
    };
    exit(if ok { EXIT_SUCCESS } else { EXIT_FAILURE });
    loop {
        cortex_m::asm::wfi();
    }
}

#[derive(defmt::Format)]
enum AppError {
    Board(board::BoardError),
    /// The linker reserved a region of another size than the build script computed.
    Layout,
    Model(sdt_core::Error),
}

impl From<sdt_core::Error> for AppError {
    fn from(e: sdt_core::Error) -> Self {
        AppError::Model(e)
    }
}

fn run() -> Result<bool, AppError> {
    let _board = board::init().map_err(AppError::Board)?;
    info!(
        "STM32H747I-DISCO up: {=u32} MHz, caches on, SDRAM and QSPI mapped",
        board::SYSCLK_HZ / 1_000_000
    );

    let weights_at = core::ptr::addr_of!(__sweights);
    let arena_at = core::ptr::addr_of_mut!(__sarena);
    let weights_len = core::ptr::addr_of!(__eweights) as usize - weights_at as usize;
    let arena_len = core::ptr::addr_of!(__earena) as usize - arena_at as usize;
    let kept_at = core::ptr::addr_of_mut!(__skept);
    let kept_len = core::ptr::addr_of!(__ekept) as usize - kept_at as usize;
    let arena_home = if ARENA_IN_SDRAM { SDRAM } else { AXISRAM };
    let kept_home = if KEPT_IN_SDRAM { SDRAM } else { AXISRAM };
    if weights_len != BLOB_BYTES
        || arena_len != ARENA_BYTES
        || kept_len != KEPT_BYTES
        || !inside(arena_at, arena_len, arena_home)
        || !inside(kept_at, kept_len, kept_home)
        || !(kept_at as usize).is_multiple_of(4)
    {
        return Err(AppError::Layout);
    }
    // SAFETY: placement.x reserves [__sweights, __eweights) in the QSPI window, which is
    // memory-mapped (read-only) from here on; the bytes are whatever was programmed there,
    // and Model::from_blob validates them (CRC, layout, bounds) before any use.
    let weights: &'static [u8] = unsafe { core::slice::from_raw_parts(weights_at, weights_len) };
    // SAFETY: placement.x reserves [__sarena, __earena) for the arena alone (NOLOAD, nothing
    // else is linked there); its memory is initialised (SRAM, or the SDRAM set up by
    // board::init) and this is the only reference ever made to it.
    let arena: &'static mut [u8] = unsafe { core::slice::from_raw_parts_mut(arena_at, arena_len) };
    // SAFETY: placement.x reserves [__skept, __ekept) for the kept thresholds alone (NOLOAD,
    // 16-byte aligned, checked 4-byte aligned above); it is initialised RAM like the arena,
    // every bit pattern is a valid i32, and this is the only reference ever made to it.
    let kept: &'static mut [i32] =
        unsafe { core::slice::from_raw_parts_mut(kept_at.cast::<i32>(), kept_len / 4) };

    let Some(stats) = cortex_m::singleton!(: Stats = Stats::default()) else {
        defmt::panic!("statistics taken twice");
    };
    let Some(cycles) = cortex_m::singleton!(: [u64; MAX_NODES] = [0; MAX_NODES]) else {
        defmt::panic!("cycle table taken twice");
    };
    let s = infer::run(weights, arena, kept, stats, cycles, board::SYSCLK_HZ)?;
    info!(
        "done: {=usize}/{=usize} images identical to the host, {=usize}/{=usize} correct",
        s.identical, s.images, s.correct, s.labelled
    );
    Ok(s.identical == s.images)
}
