//! Cost in instructions: QEMU models no cycles, but with `-icount shift=0` one instruction is
//! one nanosecond of virtual time, and SysTick (core clock, 32 MHz in this model) then ticks
//! once per 31.25 instructions. Extended to 64 bits by counting wraps.

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::{SCB, SYST};
use cortex_m_rt::exception;

const RELOAD: u32 = 0x00ff_ffff;

static WRAPS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    WRAPS.fetch_add(1, Ordering::Relaxed);
}

/// A free-running 64-bit tick counter.
pub struct Clock {
    _syst: SYST,
}

impl Clock {
    pub fn start(mut syst: SYST) -> Self {
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(RELOAD);
        syst.clear_current();
        syst.enable_interrupt();
        syst.enable_counter();
        // The cleared counter reads 0 until its first reload, which is not a wrap: start
        // counting from there.
        while SYST::get_current() == 0 {}
        Clock { _syst: syst }
    }

    /// Ticks since [`Clock::start`].
    pub fn now(&self) -> u64 {
        cortex_m::interrupt::free(|_| {
            let wraps = WRAPS.load(Ordering::Relaxed) as u64;
            let current = SYST::get_current();
            // A wrap whose interrupt is still pending (masked here) has reloaded the counter
            // near the top: count it now.
            let pending = SCB::is_pendst_pending() && current > RELOAD / 2;
            let wraps = wraps + pending as u64;
            wraps * (RELOAD as u64 + 1) + (RELOAD - current) as u64
        })
    }
}
