//! The kernel level a host program runs: `SDT_KERNEL_LEVEL` (`portable`, `avx2`, `avx512`,
//! `avx512vnni`) forces one for every session the process creates; unset (or empty), sessions
//! take the widest level the CPU runs. Every level gives the same integers.

use sdt_core::kernels::{force_default, Level, UnknownLevel, UnsupportedLevel};

/// The environment variable that forces a level.
pub const ENV: &str = "SDT_KERNEL_LEVEL";

#[derive(Debug, thiserror::Error)]
pub enum LevelError {
    #[error("{ENV}={value:?}: {source}")]
    Unknown { value: String, source: UnknownLevel },
    #[error("{ENV}: {0}")]
    Unsupported(#[from] UnsupportedLevel),
}

/// Applies `SDT_KERNEL_LEVEL` (see the module) and returns the level sessions will take.
pub fn apply_env() -> Result<Level, LevelError> {
    let value = match std::env::var_os(ENV) {
        None => return Ok(Level::default_for_sessions()),
        Some(v) if v.is_empty() => return Ok(Level::default_for_sessions()),
        Some(v) => v.to_string_lossy().into_owned(),
    };
    let level: Level = value
        .parse()
        .map_err(|source| LevelError::Unknown { value, source })?;
    force_default(level)?;
    Ok(level)
}
