//! Bring-up of the STM32H747I-DISCO for inference: clocks, caches, MPU, cycle counter, FMC
//! SDRAM and the memory-mapped QSPI flash. Everything but the Cortex-M7 core registers (MPU,
//! caches, DWT) goes through embassy-stm32 and stm32-fmc.

use core::mem::MaybeUninit;

use cortex_m::peripheral::{DWT, MPU};
use embassy_stm32 as hal;
use embassy_stm32::fmc::Fmc;
use embassy_stm32::mode::Blocking;
use embassy_stm32::peripherals::{FMC, QUADSPI};
use embassy_stm32::qspi::enums::{
    AddressSize, ChipSelectHighTime, DummyCycles, FIFOThresholdLevel, MemorySize, QspiWidth,
    SampleShifting,
};
use embassy_stm32::qspi::{self, Qspi, TransferConfig};
use embedded_hal::delay::DelayNs;
use sdt_stm32h747i_disco::memory::{QSPI, SDRAM};
use sdt_stm32h747i_disco::mpu;
use stm32_fmc::devices::is42s32800g_6::Is42s32800g;
use stm32_fmc::Sdram;

/// Core clock: 400 MHz, the limit in VOS1, which is the highest scale the board's direct SMPS
/// supply allows (480 MHz needs VOS0 on the LDO).
pub const SYSCLK_HZ: u32 = 400_000_000;

/// MT25TL01G commands (each die gets the same command in dual-flash mode).
const RESET_ENABLE: u8 = 0x66;
const RESET_MEMORY: u8 = 0x99;
/// 4-byte-address quad output fast read (1-1-4), 8 dummy cycles after reset: independent of
/// the address mode a flash loader may have left the dies in.
const READ_QUAD_OUT_4B: u8 = 0x6C;

/// Clock facts embassy shares with the Cortex-M4 core (which this firmware leaves alone); it
/// must sit at the same address in both cores' images: the start of SRAM4 (`memory.x`).
#[link_section = ".ram_d3"]
static SHARED: MaybeUninit<hal::SharedData> = MaybeUninit::uninit();

/// Peripherals that must stay configured while the weights and arena are in use.
pub struct Board {
    _qspi: Qspi<'static, QUADSPI, Blocking>,
    _sdram: Sdram<Fmc<'static, FMC>, Is42s32800g>,
}

#[derive(Clone, Copy, Debug, defmt::Format)]
pub enum BoardError {
    /// The SDRAM controller mapped the chip somewhere other than `memory.x` says.
    SdramAddress { found: u32 },
    /// A word written to the SDRAM read back differently.
    SdramCheck { address: u32 },
    /// The MPU region for the SDRAM could not be encoded.
    Mpu,
}

fn clock_config() -> hal::Config {
    use hal::rcc::*;
    let mut config = hal::Config::default();
    let rcc = &mut config.rcc;
    rcc.supply_config = SupplyConfig::DirectSMPS;
    rcc.voltage_scale = VoltageScale::Scale1;
    rcc.hse = Some(Hse {
        freq: hal::time::Hertz(25_000_000),
        mode: HseMode::Oscillator,
    });
    // 25 MHz / 5 × 160 = 800 MHz VCO; P / 2 = 400 MHz core.
    rcc.pll1 = Some(Pll {
        source: PllSource::HSE,
        prediv: PllPreDiv::DIV5,
        mul: PllMul::MUL160,
        divp: Some(PllDiv::DIV2),
        divq: Some(PllDiv::DIV4),
        divr: None,
    });
    rcc.sys = Sysclk::PLL1_P;
    rcc.d1c_pre = AHBPrescaler::DIV1;
    // 200 MHz on the AXI/AHB buses (FMC and QUADSPI kernel clocks), 100 MHz on the APBs.
    rcc.ahb_pre = AHBPrescaler::DIV2;
    rcc.apb1_pre = APBPrescaler::DIV2;
    rcc.apb2_pre = APBPrescaler::DIV2;
    rcc.apb3_pre = APBPrescaler::DIV2;
    rcc.apb4_pre = APBPrescaler::DIV2;
    config
}

/// Makes the SDRAM window Normal write-back memory (see `mpu`), then turns the MPU on with the
/// default map for everything else.
fn configure_mpu(mpu_regs: &mut MPU) -> Result<(), BoardError> {
    let sdram = mpu::normal_write_back(0, &SDRAM).map_err(|_| BoardError::Mpu)?;
    const MPU_ENABLE: u32 = 1;
    const PRIVDEFENA: u32 = 1 << 2;
    cortex_m::asm::dmb();
    // SAFETY: no memory covered by this region is in use yet (the SDRAM is not initialised),
    // and the default map stays in force for every other address (PRIVDEFENA).
    unsafe {
        mpu_regs.ctrl.write(0);
        mpu_regs.rbar.write(sdram.rbar);
        mpu_regs.rasr.write(sdram.rasr);
        mpu_regs.ctrl.write(MPU_ENABLE | PRIVDEFENA);
    }
    cortex_m::asm::dsb();
    cortex_m::asm::isb();
    Ok(())
}

/// Writes and reads back one word every 64 KiB of `words` (wiring and timing faults show).
/// Runs with the data cache off.
fn check_ram(words: &mut [u32]) -> Result<(), BoardError> {
    const STRIDE: usize = 16 * 1024;
    for (i, w) in words.iter_mut().enumerate().step_by(STRIDE) {
        let pattern = 0xA5A5_0000 ^ i as u32;
        // SAFETY: `w` is a valid, aligned, exclusive reference; volatile keeps the probe.
        unsafe {
            core::ptr::write_volatile(w, pattern);
            if core::ptr::read_volatile(w) != pattern {
                return Err(BoardError::SdramCheck {
                    address: w as *mut u32 as u32,
                });
            }
        }
    }
    Ok(())
}

/// Brings the board up; the returned value keeps QSPI and FMC configured.
pub fn init() -> Result<Board, BoardError> {
    let p = hal::init_primary(clock_config(), &SHARED);
    let Some(mut cp) = cortex_m::Peripherals::take() else {
        defmt::panic!("core peripherals already taken");
    };

    configure_mpu(&mut cp.MPU)?;
    cp.DCB.enable_trace();
    DWT::unlock();
    cp.DWT.enable_cycle_counter();
    let mut delay = cortex_m::delay::Delay::new(cp.SYST, SYSCLK_HZ);

    // IS42S32800J (IS42S32800G timings) on SDRAM bank 2: 12 address bits, 32 data bits.
    let mut sdram = Fmc::sdram_a12bits_d32bits_4banks_bank2(
        p.FMC,
        // A0..A11
        p.PF0,
        p.PF1,
        p.PF2,
        p.PF3,
        p.PF4,
        p.PF5,
        p.PF12,
        p.PF13,
        p.PF14,
        p.PF15,
        p.PG0,
        p.PG1,
        // BA0, BA1
        p.PG4,
        p.PG5,
        // D0..D31
        p.PD14,
        p.PD15,
        p.PD0,
        p.PD1,
        p.PE7,
        p.PE8,
        p.PE9,
        p.PE10,
        p.PE11,
        p.PE12,
        p.PE13,
        p.PE14,
        p.PE15,
        p.PD8,
        p.PD9,
        p.PD10,
        p.PH8,
        p.PH9,
        p.PH10,
        p.PH11,
        p.PH12,
        p.PH13,
        p.PH14,
        p.PH15,
        p.PI0,
        p.PI1,
        p.PI2,
        p.PI3,
        p.PI6,
        p.PI7,
        p.PI9,
        p.PI10,
        // NBL0..NBL3
        p.PE0,
        p.PE1,
        p.PI4,
        p.PI5,
        // SDCKE1, SDCLK, SDNCAS, SDNE1, SDNRAS, SDNWE
        p.PH7,
        p.PG8,
        p.PG15,
        p.PH6,
        p.PF11,
        p.PH5,
        Is42s32800g {},
    );
    let base = sdram.init(&mut delay);
    if base as u32 != SDRAM.origin {
        return Err(BoardError::SdramAddress { found: base as u32 });
    }
    // SAFETY: the SDRAM is initialised and mapped at `base` for its whole length; nothing
    // else refers to it before the arena is handed out.
    let words = unsafe { core::slice::from_raw_parts_mut(base, SDRAM.length as usize / 4) };
    // Before the caches are on, so the probe reaches the chip.
    check_ram(words)?;
    cp.SCB.enable_icache();
    cp.SCB.enable_dcache(&mut cp.CPUID);

    // Both MT25TL01G dies share BK1_NCS on this board. The driver also wants a BK2_NCS pin:
    // PC11 is the only one (it is the microSD slot's D3 line, unused here).
    let mut config = qspi::Config::default();
    config.memory_size = MemorySize::_128MiB;
    config.address_size = AddressSize::_32bit;
    config.prescaler = 2; // 200 MHz / 3 = 66.7 MHz
    config.fifo_threshold = FIFOThresholdLevel::_4Bytes;
    config.cs_high_time = ChipSelectHighTime::_3Cycle;
    config.sample_shifting = SampleShifting::HalfCycle;
    config.dual_flash = true;
    let mut flash = Qspi::new_blocking_dual_bank(
        p.QUADSPI, p.PD11, p.PF9, p.PF7, p.PF6, p.PH2, p.PH3, p.PG9, p.PG14, p.PB2, p.PG6, p.PC11,
        config,
    );
    // A flash loader may leave the dies in quad (4-4-4) mode: reset them from both modes.
    for width in [QspiWidth::QUAD, QspiWidth::SING] {
        for instruction in [RESET_ENABLE, RESET_MEMORY] {
            flash.blocking_command(TransferConfig {
                iwidth: width,
                instruction,
                ..Default::default()
            });
        }
    }
    DelayNs::delay_ms(&mut delay, 1);
    flash.enable_memory_map(&TransferConfig {
        iwidth: QspiWidth::SING,
        awidth: QspiWidth::SING,
        dwidth: QspiWidth::QUAD,
        instruction: READ_QUAD_OUT_4B,
        address: None,
        dummy: DummyCycles::_8,
    });
    defmt::debug!("QSPI memory-mapped at {=u32:#x}", QSPI.origin);

    Ok(Board {
        _qspi: flash,
        _sdram: sdram,
    })
}
