//! Building the firmware image in its variants.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{io, HarnessError, Result};

pub const TARGET: &str = "thumbv8m.main-none-eabihf";

/// How the firmware's kernels are compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Generic Armv8-M mainline with FPU: no vector instructions at all.
    Scalar,
    /// Compiled for Cortex-M55, so LLVM may auto-vectorise with Helium; the core's scalar kernels.
    AutoVec,
    /// Cortex-M55 with the core's explicit Helium kernels (`sdt-core/helium`).
    Helium,
    /// The dense int8 peer: the same graph on Arm's CMSIS-NN kernels (Cortex-M55, Helium),
    /// every multiply-accumulate done (feature `cmsis-nn`).
    CmsisNn,
}

impl Variant {
    pub const ALL: [Variant; 3] = [Variant::Scalar, Variant::AutoVec, Variant::Helium];

    pub fn name(self) -> &'static str {
        match self {
            Variant::Scalar => "scalar",
            Variant::AutoVec => "m55-autovec",
            Variant::Helium => "helium",
            Variant::CmsisNn => "cmsis-nn",
        }
    }

    fn rustflags(self) -> &'static str {
        match self {
            Variant::Scalar => "-C link-arg=-Tlink.x",
            Variant::AutoVec | Variant::Helium | Variant::CmsisNn => {
                "-C link-arg=-Tlink.x -C target-cpu=cortex-m55"
            }
        }
    }
}

/// The `boards/` workspace.
pub fn boards_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// Builds (or finds up to date) the firmware ELF of `variant`. Each variant has its own target
/// directory: their compiler flags differ, and a harness run inside `cargo test` must not wait
/// for the lock of the directory that cargo is using.
pub fn build(variant: Variant) -> Result<PathBuf> {
    let dir = boards_dir();
    let target_dir = dir.join("target").join(format!("fw-{}", variant.name()));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&dir)
        .args(["build", "-q", "-p", "sdt-qemu-m55", "--profile", "firmware"])
        .args(["--target", TARGET])
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("RUSTFLAGS", variant.rustflags())
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET");
    match variant {
        Variant::Helium => {
            cmd.args(["--features", "helium"]);
        }
        Variant::CmsisNn => {
            cmd.args(["--features", "cmsis-nn"]);
        }
        Variant::Scalar | Variant::AutoVec => {}
    }
    let out = cmd.output().map_err(io(format!(
        "running cargo to build the {} firmware",
        variant.name()
    )))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let hint = if stderr.contains("target may not be installed")
            || stderr.contains("can't find crate for `core`")
        {
            format!("\n(install the target: rustup target add {TARGET})")
        } else {
            String::new()
        };
        return Err(HarnessError::Build {
            variant: variant.name().into(),
            detail: format!("{stderr}{hint}"),
        });
    }
    Ok(target_dir
        .join(TARGET)
        .join("firmware")
        .join("sdt-qemu-m55"))
}
