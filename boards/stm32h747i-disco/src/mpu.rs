//! MPU region encodings (ARMv7-M RBAR/RASR). The Cortex-M7 default memory map makes the FMC
//! SDRAM window (0xC000_0000..0xDFFF_FFFF) Device memory: uncached, and unaligned accesses
//! fault. The arena there needs Normal, write-back cached memory.

use crate::memory::Region;

/// Register values of one MPU region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MpuRegion {
    pub rbar: u32,
    pub rasr: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MpuError {
    /// Size not a power of two of at least 32 bytes.
    BadSize,
    /// Base not aligned to the size.
    Misaligned,
    /// Region number past the 16 regions of the Cortex-M7 MPU.
    BadNumber,
}

const RBAR_VALID: u32 = 1 << 4;
const RASR_ENABLE: u32 = 1;
const RASR_XN: u32 = 1 << 28;
const AP_FULL_ACCESS: u32 = 0b011 << 24;
/// TEX = 001, C = 1, B = 1: Normal memory, write-back, read and write allocate.
const WRITE_BACK_ALLOCATE: u32 = (0b001 << 19) | (1 << 17) | (1 << 16);

/// A read-write, non-executable, write-back cached Normal region covering `region`.
pub fn normal_write_back(number: u8, region: &Region) -> Result<MpuRegion, MpuError> {
    if number >= 16 {
        return Err(MpuError::BadNumber);
    }
    let size = region.length;
    if !size.is_power_of_two() || size < 32 {
        return Err(MpuError::BadSize);
    }
    if !region.origin.is_multiple_of(size) {
        return Err(MpuError::Misaligned);
    }
    // Region size is 2^(SIZE + 1) bytes.
    let size_field = size.trailing_zeros() - 1;
    Ok(MpuRegion {
        rbar: region.origin | RBAR_VALID | number as u32,
        rasr: RASR_XN | AP_FULL_ACCESS | WRITE_BACK_ALLOCATE | (size_field << 1) | RASR_ENABLE,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{QSPI, SDRAM};

    #[test]
    fn sdram_region_encoding() {
        let r = normal_write_back(0, &SDRAM).unwrap();
        assert_eq!(r.rbar, 0xD000_0010);
        // 32 MiB = 2^25: SIZE = 24; XN, AP = 011, TEX = 001, C, B, enable.
        assert_eq!(r.rasr, 0x130B_0031);
        assert_eq!((normal_write_back(1, &QSPI).unwrap().rasr >> 1) & 0x1f, 26);
    }

    #[test]
    fn bad_regions_are_refused() {
        let odd = Region {
            name: "X",
            origin: 0xD000_0000,
            length: 3 << 20,
        };
        assert_eq!(normal_write_back(0, &odd), Err(MpuError::BadSize));
        let shifted = Region {
            origin: 0xD100_0000,
            ..SDRAM
        };
        assert_eq!(normal_write_back(0, &shifted), Err(MpuError::Misaligned));
        assert_eq!(normal_write_back(16, &SDRAM), Err(MpuError::BadNumber));
    }
}
