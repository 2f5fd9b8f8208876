//! Keeps `libtorch_cuda` linked into our binaries when the libtorch we build against has it.
//!
//! Nothing in our code calls into `libtorch_cuda` directly (it registers its kernels from static
//! initialisers), so the linker's default `--as-needed` drops it and libtorch then reports no
//! CUDA device. Linking it with `--no-as-needed` keeps the dependency; CPU-only libtorch builds
//! are unaffected.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Some(lib) = std::env::var_os("DEP_TCH_LIBTORCH_LIB").map(PathBuf::from) else {
        return;
    };
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
