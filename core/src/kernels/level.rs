//! Which instruction set the kernels use, chosen once per [`crate::Session`].
//!
//! Hosts pick at run time: x86-64 builds carry every x86 kernel set (compiled with
//! `#[target_feature]`), and a probe of the CPU (and of the operating system's support for
//! the wide register state) says which of them may run. Cortex-M picks at build time
//! (feature `helium`), as the portable level. Every level gives the same integers.

use core::fmt;
use core::str::FromStr;
use core::sync::atomic::{AtomicU8, Ordering};

/// A kernel set, from the most portable to the widest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Plain Rust for any target (the Helium kernels on Cortex-M builds with `helium`).
    Portable,
    /// x86-64 with AVX2 (and the rest of x86-64-v3: FMA, BMI1/2, LZCNT, POPCNT).
    Avx2,
    /// x86-64 with AVX-512 F/DQ/BW/VL (and AVX2).
    Avx512,
    /// [`Level::Avx512`] plus AVX-512 VNNI (dot products in the encoding layer).
    Avx512Vnni,
}

/// Every level, in order.
pub const LEVELS: [Level; 4] = [
    Level::Portable,
    Level::Avx2,
    Level::Avx512,
    Level::Avx512Vnni,
];

impl Level {
    /// The name [`FromStr`] takes: `portable`, `avx2`, `avx512`, `avx512vnni`.
    pub const fn name(self) -> &'static str {
        match self {
            Level::Portable => "portable",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
            Level::Avx512Vnni => "avx512vnni",
        }
    }

    /// The widest level this CPU (and its operating system) runs. Probed once, then cached.
    // Inlined: the sinks ask for it once per output pixel (through `uses`).
    #[inline]
    pub fn detected() -> Level {
        static CACHE: AtomicU8 = AtomicU8::new(UNSET);
        match CACHE.load(Ordering::Relaxed) {
            UNSET => {
                let level = probe();
                CACHE.store(level as u8, Ordering::Relaxed);
                level
            }
            v => from_u8(v),
        }
    }

    /// Whether this CPU runs the level's kernels.
    pub fn is_supported(self) -> bool {
        self <= Level::detected()
    }

    /// `self` if this CPU runs it, else [`UnsupportedLevel`].
    pub fn checked(self) -> Result<Level, UnsupportedLevel> {
        if self.is_supported() {
            Ok(self)
        } else {
            Err(UnsupportedLevel {
                requested: self,
                detected: Level::detected(),
            })
        }
    }

    /// Whether a session at `self` runs the kernels of `wanted` (`self` is at least `wanted`
    /// and the CPU has it: a level never runs instructions the CPU lacks, however it was
    /// made).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    #[inline]
    pub(crate) fn uses(self, wanted: Level) -> bool {
        self >= wanted && wanted <= Level::detected()
    }

    /// The levels this CPU runs, in order.
    pub fn supported() -> impl Iterator<Item = Level> {
        LEVELS.into_iter().filter(|l| l.is_supported())
    }

    /// The level new sessions take: the one forced by [`force_default`], else
    /// [`Level::detected`].
    pub fn default_for_sessions() -> Level {
        match FORCED.load(Ordering::Relaxed) {
            UNSET => Level::detected(),
            v => from_u8(v),
        }
    }
}

const UNSET: u8 = u8::MAX;
static FORCED: AtomicU8 = AtomicU8::new(UNSET);

/// Makes every session created afterwards (in this process) use `level` instead of the
/// detected one (hosts read it from `SDT_KERNEL_LEVEL`). A level this CPU lacks is refused.
pub fn force_default(level: Level) -> Result<(), UnsupportedLevel> {
    let level = level.checked()?;
    FORCED.store(level as u8, Ordering::Relaxed);
    Ok(())
}

fn from_u8(v: u8) -> Level {
    LEVELS.get(v as usize).copied().unwrap_or(Level::Portable)
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A level name that is none of [`Level::name`]'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownLevel;

impl fmt::Display for UnknownLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown kernel level (expected portable, avx2, avx512 or avx512vnni)")
    }
}

impl core::error::Error for UnknownLevel {}

impl FromStr for Level {
    type Err = UnknownLevel;

    fn from_str(s: &str) -> Result<Level, UnknownLevel> {
        LEVELS
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(s.trim()))
            .ok_or(UnknownLevel)
    }
}

/// A forced level that this CPU cannot run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnsupportedLevel {
    pub requested: Level,
    pub detected: Level,
}

impl fmt::Display for UnsupportedLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "kernel level {} is not supported by this CPU (it runs up to {})",
            self.requested, self.detected
        )
    }
}

impl core::error::Error for UnsupportedLevel {}

/// The CPU's level: CPUID for the instructions, XGETBV for the operating system saving the
/// AVX (YMM) and AVX-512 (opmask, ZMM) register state.
#[cfg(target_arch = "x86_64")]
fn probe() -> Level {
    use core::arch::x86_64::{__cpuid, __cpuid_count};
    let bit = |reg: u32, b: u32| reg >> b & 1 == 1;
    // SAFETY: CPUID exists on every x86-64 CPU; leaves 7 and 0x8000_0001 are read only if
    // leaves 0 and 0x8000_0000 report them. (`unsafe` for toolchains where CPUID is.)
    #[allow(unused_unsafe)]
    let (leaf1, leaf7, ext1) = unsafe {
        let max = __cpuid(0).eax;
        let leaf7 = (max >= 7).then(|| __cpuid_count(7, 0));
        let ext = (__cpuid(0x8000_0000).eax >= 0x8000_0001).then(|| __cpuid(0x8000_0001));
        (__cpuid(1), leaf7, ext)
    };
    let (Some(leaf7), Some(ext1)) = (leaf7, ext1) else {
        return Level::Portable;
    };
    // OSXSAVE (the OS enabled XGETBV) and AVX.
    if !(bit(leaf1.ecx, 27) && bit(leaf1.ecx, 28)) {
        return Level::Portable;
    }
    // SAFETY: XGETBV is available: CPUID.1:ECX.OSXSAVE is set (checked above).
    let xcr0 = unsafe { xgetbv0() };
    let ymm = xcr0 & 0b110 == 0b110;
    let zmm = xcr0 & 0b1110_0110 == 0b1110_0110;
    // AVX2, FMA, POPCNT, BMI1, BMI2, LZCNT (x86-64-v3).
    let v3 = bit(leaf1.ecx, 12)
        && bit(leaf1.ecx, 23)
        && bit(leaf7.ebx, 3)
        && bit(leaf7.ebx, 8)
        && bit(ext1.ecx, 5);
    let avx2 = ymm && v3 && bit(leaf7.ebx, 5);
    // F, DQ, BW, VL.
    let avx512 = zmm
        && avx2
        && bit(leaf7.ebx, 16)
        && bit(leaf7.ebx, 17)
        && bit(leaf7.ebx, 30)
        && bit(leaf7.ebx, 31);
    let vnni = bit(leaf7.ecx, 11);
    match (avx2, avx512, vnni) {
        (_, true, true) => Level::Avx512Vnni,
        (_, true, false) => Level::Avx512,
        (true, false, _) => Level::Avx2,
        _ => Level::Portable,
    }
}

/// XCR0. The caller makes sure the CPU has XGETBV (CPUID.1:ECX.OSXSAVE).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "xsave")]
unsafe fn xgetbv0() -> u64 {
    core::arch::x86_64::_xgetbv(0)
}

/// Other targets run the portable set (on Cortex-M with `helium`, its Helium kernels).
#[cfg(not(target_arch = "x86_64"))]
fn probe() -> Level {
    Level::Portable
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for l in LEVELS {
            assert_eq!(l.name().parse::<Level>(), Ok(l));
        }
        assert_eq!("AVX2".parse::<Level>(), Ok(Level::Avx2));
        assert_eq!("sse".parse::<Level>(), Err(UnknownLevel));
    }

    #[test]
    fn portable_is_always_supported_and_levels_above_the_cpu_are_refused() {
        assert_eq!(Level::Portable.checked(), Ok(Level::Portable));
        let detected = Level::detected();
        for l in LEVELS {
            assert_eq!(l.checked().is_ok(), l <= detected, "{l}");
        }
        assert!(Level::supported().all(|l| l <= detected));
    }
}
