//! Memory footprint of a firmware image, read from its ELF sections.

use std::path::Path;

use object::{Object, ObjectSection};

use crate::error::{HarnessError, Result};

/// Bytes per memory of one firmware image.
#[derive(Clone, Copy, Debug, Default)]
pub struct Footprint {
    /// Vector table and code (ITCM on mps3-an547, flash on a real board).
    pub code: u64,
    /// Read-only data linked into the image (the model's weights are not: they come in DDR).
    pub rodata: u64,
    /// Statically allocated RAM: initialised data and zeroed data (stack not included).
    pub static_ram: u64,
}

pub fn of_elf(path: &Path) -> Result<Footprint> {
    let elf_err = |detail: String| HarnessError::Elf {
        path: path.to_owned(),
        detail,
    };
    let data = std::fs::read(path).map_err(|e| elf_err(e.to_string()))?;
    let file = object::File::parse(&*data).map_err(|e| elf_err(e.to_string()))?;
    let mut f = Footprint::default();
    for s in file.sections() {
        let name = s.name().unwrap_or("");
        match name {
            ".vector_table" | ".text" => f.code += s.size(),
            ".rodata" => f.rodata += s.size(),
            ".data" | ".bss" | ".uninit" => f.static_ram += s.size(),
            _ => {}
        }
    }
    if f.code == 0 {
        return Err(elf_err("no .text section".into()));
    }
    Ok(f)
}
