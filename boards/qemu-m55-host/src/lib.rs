//! Host side of the QEMU mps3-an547 (Cortex-M55) firmware: builds it ([`firmware`]), writes a
//! job of model blob + inputs into emulated DDR ([`job`]), runs QEMU with a timeout ([`qemu`]),
//! reads the firmware's report ([`report`]) and compares it with the host core bit for bit
//! ([`mod@reference`]). [`models`] makes the blobs and inputs; [`footprint`] reads ELF sizes.

pub mod error;
pub mod firmware;
pub mod footprint;
pub mod gesture;
pub mod job;
pub mod models;
pub mod peer;
pub mod qemu;
pub mod reference;
pub mod report;

use std::time::Duration;

use sdt_core::Kernel;

pub use error::{HarnessError, Result};
pub use firmware::Variant;
pub use qemu::INSNS_PER_TICK;

/// A device run next to the host run of the same job.
pub struct Checked {
    pub device: qemu::Run,
    pub host: Vec<reference::HostInference>,
    /// Empty when the device and the host agree bit for bit.
    pub differences: Vec<String>,
}

/// Runs `w` on the `variant` firmware (with per-node statistics) and on the host core.
pub fn run_checked(
    variant: Variant,
    w: &models::Workload,
    kernel: Kernel,
    timeout: Duration,
) -> Result<Checked> {
    let elf = firmware::build(variant)?;
    let flags = job::STATS
        | if kernel == Kernel::Dense {
            job::DENSE
        } else {
            0
        };
    let device = qemu::run(&elf, &job::build(&w.blob, &w.inputs, flags), timeout)?;
    let host = reference::run(&w.blob, &w.inputs, kernel)?;
    let differences = reference::differences(&device.report, &host);
    Ok(Checked {
        device,
        host,
        differences,
    })
}
