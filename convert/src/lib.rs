//! Turn trained SDT-V3 weights into validated `sdt-core` model blobs, and check them.
//!
//! ```text
//! checkpoint (.pth / .safetensors) ─▶ Arch::infer ─▶ lower (fold BN, quantize, formats)
//!        ─▶ sdt_host::blob::assemble (serialize, reload, validate) ─▶ verify (blocks, accuracy)
//! ```

pub mod arch;
pub mod checkpoint;
pub mod error;
pub mod inspect;
pub mod lower;
pub mod meta;
pub mod pack;
pub mod progress;
pub mod quantize;
pub mod verify;

pub use arch::{Arch, ArchOptions};
pub use error::{ConvertError, Result};
pub use lower::{lower, LowerOptions, Lowered};
pub use meta::{annotate, MetaOptions};
pub use pack::{pack, pack_checkpoint, pack_with_progress, PackOptions};

/// Converts a checkpoint to blob bytes, with `meta` stored in the blob, in one call.
pub fn convert(
    ck: &checkpoint::Checkpoint,
    arch: ArchOptions,
    opt: LowerOptions,
    meta: &sdt_host::blob::BlobMeta,
) -> Result<(Arch, Lowered, sdt_host::AlignedBlob)> {
    let arch = Arch::infer(ck, arch)?;
    let lowered = lower(ck, &arch, opt)?;
    let blob = sdt_host::blob::assemble(&lowered.graph, meta, &lowered.data)?;
    Ok((arch, lowered, blob))
}
