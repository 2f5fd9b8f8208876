//! Errors of the harness.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error(
        "qemu-system-arm not found on PATH: install it (Debian/Ubuntu: `sudo apt-get install -y qemu-system-arm`; scripts/test.sh does this)"
    )]
    QemuMissing,
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("building the firmware failed ({variant}): {detail}")]
    Build { variant: String, detail: String },
    #[error("QEMU ran past {seconds} s (killed); output so far:\n{output}")]
    Timeout { seconds: u64, output: String },
    #[error("firmware output line {line} does not parse: {text:?}")]
    Parse { line: usize, text: String },
    #[error("firmware output ends without END (exit status {status:?}):\n{output}")]
    Incomplete { status: Option<i32>, output: String },
    #[error("ELF {path}: {detail}")]
    Elf { path: PathBuf, detail: String },
    #[error("model: {0}")]
    Model(String),
    #[error(transparent)]
    Convert(#[from] sdt_convert::ConvertError),
    #[error(transparent)]
    Checkpoint(#[from] sdt_convert::checkpoint::CheckpointError),
    #[error(transparent)]
    Host(#[from] sdt_host::Error),
    #[error("core: {0}")]
    Core(sdt_core::Error),
}

impl From<sdt_core::Error> for HarnessError {
    fn from(e: sdt_core::Error) -> Self {
        HarnessError::Core(e)
    }
}

pub type Result<T> = std::result::Result<T, HarnessError>;

pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> HarnessError {
    let what = what.into();
    move |source| HarnessError::Io { what, source }
}
