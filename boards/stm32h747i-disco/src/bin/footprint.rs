//! Footprint of the STM32H747I-DISCO firmware and of models on this board.
//!
//! ```text
//! cargo run -p sdt-stm32h747i-disco --features host-tools --bin footprint -- \
//!     [--elf FIRMWARE.elf] [BLOB ...]
//! ```
//!
//! For the ELF: code, read-only data, static RAM and the linker-reserved weights, arena and
//! kept spike thresholds, each against its memory. For each blob: bytes, parameters, arena
//! bytes (sdt-core's plan), kept-threshold bytes and where the arena and the thresholds go, or
//! why the model does not fit.

use std::path::{Path, PathBuf};

use object::{Object, ObjectSection};
use sdt_stm32h747i_disco::memory::{Region, AXISRAM, DTCM, FLASH, QSPI};
use sdt_stm32h747i_disco::{place, Home, PlacementError};

#[derive(Debug, thiserror::Error)]
enum FootprintError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not an ELF file: {source}")]
    Elf {
        path: PathBuf,
        source: object::Error,
    },
    #[error("{path}: not a valid model blob: {source}")]
    Blob {
        path: PathBuf,
        source: sdt_core::Error,
    },
    #[error("usage: footprint [--elf FIRMWARE] [BLOB ...]")]
    Usage,
}

fn read(path: &Path) -> Result<Vec<u8>, FootprintError> {
    std::fs::read(path).map_err(|source| FootprintError::Read {
        path: path.into(),
        source,
    })
}

fn percent(used: u64, of: &Region) -> String {
    format!(
        "{:5.1} % of {} ({} B)",
        used as f64 * 100.0 / of.length as f64,
        of.name,
        of.length
    )
}

fn report_elf(path: &Path) -> Result<(), FootprintError> {
    let bytes = read(path)?;
    let elf = object::File::parse(&*bytes).map_err(|source| FootprintError::Elf {
        path: path.into(),
        source,
    })?;
    let size = |names: &[&str]| -> u64 {
        elf.sections()
            .filter(|s| s.name().is_ok_and(|n| names.contains(&n)))
            .map(|s| s.size())
            .sum()
    };
    let code = size(&[".vector_table", ".text"]);
    let rodata = size(&[".rodata"]);
    let data = size(&[".data"]);
    let bss = size(&[".bss", ".uninit"]);
    let weights = size(&[".weights"]);
    let reserved = |name: &str| {
        elf.sections()
            .find(|s| s.name() == Ok(name))
            .map(|s| (s.size(), s.address()))
    };
    println!("firmware {}", path.display());
    println!(
        "  code          (.vector_table .text) {code:>10} B  {}",
        percent(code, &FLASH)
    );
    println!(
        "  read-only data (.rodata)            {rodata:>10} B  {}",
        percent(rodata, &FLASH)
    );
    let flash = code + rodata + data;
    println!(
        "  internal flash total (+ .data init) {flash:>10} B  {}",
        percent(flash, &FLASH)
    );
    let ram = data + bss;
    println!(
        "  static RAM    (.data .bss .uninit)  {ram:>10} B  {}",
        percent(ram, &DTCM)
    );
    println!(
        "  stack         (rest of DTCM)        {:>10} B",
        DTCM.length as u64 - ram
    );
    println!(
        "  weights       (.weights, NOLOAD)    {weights:>10} B  {}",
        percent(weights, &QSPI)
    );
    for (section, label) in [(".arena", "arena        "), (".kept", "kept thresholds")] {
        if let Some((bytes, address)) = reserved(section) {
            let home = if address >= AXISRAM.origin as u64 && address < AXISRAM.end() {
                AXISRAM
            } else {
                sdt_stm32h747i_disco::memory::SDRAM
            };
            let what = format!("{label} ({section}, NOLOAD)");
            println!("  {what:<36}{bytes:>10} B  {}", percent(bytes, &home));
        }
    }
    Ok(())
}

fn report_blob(path: &Path) -> Result<(), FootprintError> {
    let raw = read(path)?;
    // The core borrows weights in place and needs them 4-byte aligned.
    let mut words = vec![0u32; raw.len().div_ceil(4)];
    let aligned: &mut [u8] = bytemuck_bytes(&mut words);
    aligned[..raw.len()].copy_from_slice(&raw);
    let blob = &aligned[..raw.len()];
    let err = |source| FootprintError::Blob {
        path: path.into(),
        source,
    };
    let model = sdt_core::Model::from_blob(blob).map_err(err)?;
    let arena = sdt_core::arena_bytes(&model, 1).map_err(err)?;
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let kept = sdt_core::kept_thresholds_len(&model) * 4;
    let name_of = |home: Option<Home>| match home {
        Some(Home::AxiSram) => "AXISRAM",
        Some(Home::Sdram) => "SDRAM",
        None => "none (rebuilt every run)",
    };
    let verdict = match place(blob.len(), arena, kept) {
        Ok(p) => format!(
            "arena in {}, thresholds in {}",
            name_of(Some(p.arena)),
            name_of(p.kept)
        ),
        Err(e @ PlacementError::WeightsTooLarge { .. })
        | Err(e @ PlacementError::ArenaTooLarge { .. }) => format!("does not fit: {e}"),
    };
    println!(
        "{name:<28} {:>12} {:>11} {:>12} {:>10} {:>10}  {verdict}",
        blob.len(),
        model.graph().arch.params,
        arena,
        kept,
        model.data_bytes(),
    );
    Ok(())
}

/// Views a `u32` buffer as bytes (4-byte aligned).
fn bytemuck_bytes(words: &mut [u32]) -> &mut [u8] {
    let len = words.len() * 4;
    // SAFETY: u32 has no padding and every byte pattern is a valid u8; the length covers
    // exactly the words' memory and the borrow of `words` is carried over.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), len) }
}

fn main() -> Result<(), FootprintError> {
    let mut elf = None;
    let mut blobs = Vec::new();
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        if a == "--elf" {
            elf = Some(PathBuf::from(args.next().ok_or(FootprintError::Usage)?));
        } else if a.to_string_lossy().starts_with('-') {
            return Err(FootprintError::Usage);
        } else {
            blobs.push(PathBuf::from(a));
        }
    }
    if elf.is_none() && blobs.is_empty() {
        return Err(FootprintError::Usage);
    }
    println!("board STM32H747I-DISCO (Cortex-M7 @ 400 MHz)");
    if let Some(path) = elf {
        report_elf(&path)?;
    }
    if !blobs.is_empty() {
        println!(
            "{:<28} {:>12} {:>11} {:>12} {:>10} {:>10}  placement",
            "model", "blob B", "params", "arena B", "kept B", "weights B"
        );
        for b in &blobs {
            report_blob(b)?;
        }
    }
    Ok(())
}
