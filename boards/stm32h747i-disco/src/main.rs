//! Firmware for the STM32H747I-DISCO (Cortex-M7): runs an SDT-V3 model blob from the
//! memory-mapped QSPI flash with its arena in AXI SRAM or SDRAM, checks the logits against the
//! host core and logs cost and spikes over defmt/RTT. Exits through semihosting (probe-rs
//! returns its status): 0 when every image matched the host bit for bit.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod board;
#[cfg(target_os = "none")]
mod firmware;
#[cfg(target_os = "none")]
mod infer;

/// Facts about the model this firmware was built for (from build.rs).
#[cfg(target_os = "none")]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/model.rs"));
}

/// Built for the host (e.g. by `cargo test` over the workspace), this is only a pointer.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "this is firmware: cargo build --release --target thumbv7em-none-eabihf \
         -p sdt-stm32h747i-disco, then flash it (boards/README.md)"
    );
    std::process::exit(2);
}
