//! Turn trained SDT-V3 weights into validated `sdt-core` model blobs, and check them.
//!
//! ```text
//! checkpoint (.pth / .safetensors) ─▶ Arch::infer ─▶ lower (fold BN, quantize, formats)
//!        ─▶ blobfile::assemble (serialize, reload, validate) ─▶ verify (blocks, accuracy)
//! ```

pub mod arch;
pub mod blobfile;
pub mod checkpoint;
pub mod error;
pub mod exec;
pub mod level;
pub mod lower;
pub mod progress;
pub mod quantize;
pub mod verify;

pub use arch::{Arch, ArchOptions};
pub use blobfile::AlignedBlob;
pub use error::{ConvertError, Result};
pub use lower::{lower, LowerOptions, Lowered};

/// Converts a checkpoint to blob bytes in one call.
pub fn convert(
    ck: &checkpoint::Checkpoint,
    arch: ArchOptions,
    opt: LowerOptions,
) -> Result<(Arch, Lowered, AlignedBlob)> {
    let arch = Arch::infer(ck, arch)?;
    let lowered = lower(ck, &arch, opt)?;
    let blob = blobfile::assemble(&lowered.graph, &lowered.data)?;
    Ok((arch, lowered, blob))
}
