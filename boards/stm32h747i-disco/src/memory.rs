//! The memories of the STM32H747I-DISCO as the Cortex-M7 sees them (RM0399 memory map, board
//! user manual UM2411). `memory.x` describes the same regions to the linker; a test holds the
//! two equal.

/// One contiguous memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Name used in `memory.x`.
    pub name: &'static str,
    pub origin: u32,
    pub length: u32,
}

impl Region {
    /// First address past the region.
    pub const fn end(&self) -> u64 {
        self.origin as u64 + self.length as u64
    }
}

const KIB: u32 = 1024;
const MIB: u32 = 1024 * KIB;

/// Internal flash bank 1. Bank 2 (0x0810_0000) holds the Cortex-M4's image in the board's
/// default dual-core boot, so the M7 firmware stays in bank 1.
pub const FLASH: Region = Region {
    name: "FLASH",
    origin: 0x0800_0000,
    length: MIB,
};
/// Tightly coupled data RAM: zero wait states for the stack, `.data` and `.bss`.
pub const DTCM: Region = Region {
    name: "RAM",
    origin: 0x2000_0000,
    length: 128 * KIB,
};
/// Tightly coupled instruction RAM (unused for now).
pub const ITCM: Region = Region {
    name: "ITCM",
    origin: 0x0000_0000,
    length: 64 * KIB,
};
/// AXI SRAM in the D1 domain, the largest internal RAM: the arena when it fits.
pub const AXISRAM: Region = Region {
    name: "AXISRAM",
    origin: 0x2400_0000,
    length: 512 * KIB,
};
/// D2-domain SRAM1..3, contiguous.
pub const SRAM123: Region = Region {
    name: "SRAM123",
    origin: 0x3000_0000,
    length: 288 * KIB,
};
/// D3-domain SRAM4.
pub const SRAM4: Region = Region {
    name: "SRAM4",
    origin: 0x3800_0000,
    length: 64 * KIB,
};
/// IS42S32800J SDRAM (8 M × 32 bit) on FMC SDRAM bank 2: the arena when SRAM is too small.
pub const SDRAM: Region = Region {
    name: "SDRAM",
    origin: 0xD000_0000,
    length: 32 * MIB,
};
/// MT25TL01G twin-quad NOR flash (2 × 512 Mbit) in dual-flash memory-mapped mode: the weights.
pub const QSPI: Region = Region {
    name: "QSPI",
    origin: 0x9000_0000,
    length: 128 * MIB,
};

/// Every region `memory.x` declares.
pub const ALL: [Region; 8] = [FLASH, DTCM, ITCM, AXISRAM, SRAM123, SRAM4, SDRAM, QSPI];

/// Whether two regions share any address.
pub const fn overlap(a: &Region, b: &Region) -> bool {
    (a.origin as u64) < b.end() && (b.origin as u64) < a.end()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;
    use std::vec::Vec;

    /// Parses `NAME : ORIGIN = 0x..., LENGTH = N[K|M]` lines of the MEMORY block.
    fn linker_regions(text: &str) -> Vec<(String, u64, u64)> {
        let number = |s: &str| -> u64 {
            let s = s.trim();
            let (digits, mul) = match s.as_bytes().last() {
                Some(b'K') => (&s[..s.len() - 1], 1024),
                Some(b'M') => (&s[..s.len() - 1], 1024 * 1024),
                _ => (s, 1),
            };
            let digits = digits.replace('_', "");
            let v = match digits.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => digits.parse(),
            };
            v.unwrap_or_else(|_| panic!("bad number {s:?} in memory.x")) * mul
        };
        text.lines()
            .filter_map(|line| {
                let line = line.split("/*").next()?;
                let (name, rest) = line.split_once(':')?;
                let origin = rest.split("ORIGIN").nth(1)?.split('=').nth(1)?;
                let origin = origin.split(',').next()?;
                let length = rest.split("LENGTH").nth(1)?.split('=').nth(1)?;
                Some((name.trim().into(), number(origin), number(length)))
            })
            .collect()
    }

    #[test]
    fn memory_x_declares_exactly_these_regions() {
        let text = include_str!("../memory.x");
        let declared = linker_regions(text);
        assert_eq!(declared.len(), ALL.len(), "memory.x regions: {declared:?}");
        for r in ALL {
            let found = declared.iter().find(|(n, _, _)| n == r.name);
            assert_eq!(
                found.map(|(_, o, l)| (*o, *l)),
                Some((r.origin as u64, r.length as u64)),
                "region {} differs between memory.x and memory.rs",
                r.name
            );
        }
    }

    #[test]
    fn regions_are_disjoint_and_inside_the_address_space() {
        for (i, a) in ALL.iter().enumerate() {
            assert!(a.end() <= 1 << 32, "{} wraps", a.name);
            for b in &ALL[i + 1..] {
                assert!(!overlap(a, b), "{} overlaps {}", a.name, b.name);
            }
        }
    }

    #[test]
    fn external_memories_hold_sdt10m() {
        // SDT-10M int8: 10,345,252 blob bytes and a 2,860,464-byte arena (README figures).
        assert!(QSPI.length as usize > 10_345_252);
        assert!(SDRAM.length as usize > 2_860_464);
        assert!(
            (AXISRAM.length as usize) < 2_860_464,
            "SDT-10M needs the SDRAM"
        );
    }
}
