//! Links what libtorch's CUDA and distributed parts need, and builds the c10d shim.
//!
//! - `libtorch_cuda`: nothing in our Rust code calls into it directly (it registers its kernels
//!   from static initialisers), so the linker's default `--as-needed` would drop it and libtorch
//!   would then report no CUDA device. It is linked with `--no-as-needed` when present.
//! - `csrc/dist.cpp`: C entry points over c10d (TCP/file rendezvous stores, the Gloo process
//!   group in `libtorch_cpu`), compiled against the headers next to the libtorch `tch` links, the
//!   way `torch-sys` builds its own wrapper. `csrc/nccl.cpp` adds the NCCL process group (in
//!   `libtorch_cuda`) when libtorch has CUDA and the CUDA and NCCL headers are found; the build
//!   then sets `cfg(sdt_nccl)`.

use std::path::{Path, PathBuf};

/// The first directory among `candidates` that holds `file`.
fn find_include(candidates: &[PathBuf], file: &str) -> Option<PathBuf> {
    candidates.iter().find(|d| d.join(file).is_file()).cloned()
}

fn main() {
    println!("cargo:rustc-check-cfg=cfg(sdt_nccl)");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    for f in [
        "csrc/dist.cpp",
        "csrc/dist.h",
        "csrc/nccl.cpp",
        "csrc/gloo_decl",
    ] {
        println!("cargo:rerun-if-changed={f}");
    }
    let lib = std::env::var_os("DEP_TCH_LIBTORCH_LIB")
        .map(PathBuf::from)
        .expect("torch-sys did not report where libtorch is (DEP_TCH_LIBTORCH_LIB)");
    let root = lib.parent().unwrap_or(Path::new("/")).to_path_buf();
    let cuda = lib.join("libtorch_cuda.so").exists();
    if cuda {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }

    // The pip wheel builds with the C++11 ABI (torch._C._GLIBCXX_USE_CXX11_ABI); torch-sys
    // honours the same override variable.
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .std("c++17")
        .warnings(false)
        .define("_GLIBCXX_USE_CXX11_ABI", abi.as_str())
        .define("USE_C10D_GLOO", None)
        .include(root.join("include"))
        .include(root.join("include/torch/csrc/api/include"))
        .include("csrc/gloo_decl")
        .include("csrc")
        .file("csrc/dist.cpp");

    // CUDA and NCCL headers: the pip wheel's `nvidia-*` packages carry `nccl.h` and
    // `cuda_runtime_api.h` but not the toolkit's `crt/` and `nv/` headers, which come from a
    // CUDA toolkit (`CUDA_HOME`, `/usr/local/cuda`) or the `nvidia-cuda-crt` and
    // `nvidia-cuda-cccl` wheels (installed next to torch, or listed in `SDT_CUDA_INCLUDE`).
    println!("cargo:rerun-if-env-changed=CUDA_HOME");
    println!("cargo:rerun-if-env-changed=SDT_CUDA_INCLUDE");
    let site = root.parent().unwrap_or(Path::new("/")).join("nvidia");
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(list) = std::env::var_os("SDT_CUDA_INCLUDE") {
        dirs.extend(std::env::split_paths(&list));
    }
    if let Some(home) = std::env::var_os("CUDA_HOME") {
        dirs.push(PathBuf::from(home).join("include"));
    }
    dirs.extend(
        ["cu13", "cu12", "cuda_runtime", "nccl"]
            .iter()
            .map(|d| site.join(d).join("include")),
    );
    dirs.push(PathBuf::from("/usr/local/cuda/include"));
    dirs.push(PathBuf::from("/usr/include"));
    let needed = [
        "cuda_runtime_api.h",
        "crt/host_config.h",
        "nv/target",
        "nccl.h",
    ];
    let found: Vec<Option<PathBuf>> = needed.iter().map(|f| find_include(&dirs, f)).collect();
    if cuda && found.iter().all(Option::is_some) {
        build
            .define("USE_C10D_NCCL", None)
            .define("USE_CUDA", None)
            .define("SDT_WITH_NCCL", None)
            .file("csrc/nccl.cpp");
        let mut seen: Vec<PathBuf> = Vec::new();
        for dir in found.into_iter().flatten() {
            if !seen.contains(&dir) {
                build.include(&dir);
                seen.push(dir);
            }
        }
        println!("cargo:rustc-cfg=sdt_nccl");
        println!("cargo:rustc-link-lib=dylib=c10_cuda");
    } else if cuda {
        let missing: Vec<&str> = needed
            .iter()
            .zip(&found)
            .filter(|(_, f)| f.is_none())
            .map(|(n, _)| *n)
            .collect();
        println!(
            "cargo:warning=libtorch has CUDA, but the NCCL process group is left out: {} not \
             found (set CUDA_HOME to a CUDA toolkit, or pip install nvidia-cuda-crt and \
             nvidia-cuda-cccl next to torch)",
            missing.join(", ")
        );
    }
    build.compile("sdt_dist");
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
}
