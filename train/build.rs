//! Links what libtorch's CUDA and distributed parts need, and builds the c10d shim.
//!
//! - `libtorch_cuda`: nothing in our Rust code calls into it directly (it registers its kernels
//!   from static initialisers), so the linker's default `--as-needed` would drop it and libtorch
//!   would then report no CUDA device. It is linked with `--no-as-needed` when present.
//! - `csrc/dist.cpp`: C entry points over c10d (TCP/file rendezvous stores, the Gloo process
//!   group in `libtorch_cpu`), compiled against the headers next to the libtorch `tch` links, the
//!   way `torch-sys` builds its own wrapper. `csrc/nccl.cpp` adds the NCCL process group (in
//!   `libtorch_cuda`) when libtorch has CUDA and the NCCL and CUDA runtime headers of the pip
//!   wheel's `nvidia-*` packages are found; the build then sets `cfg(sdt_nccl)`.

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

    // CUDA runtime and NCCL headers: the pip wheel's `nvidia-*` packages carry `nccl.h` and
    // `cuda_runtime_api.h` but not the toolkit's `crt/` headers, which come from a CUDA toolkit
    // (`CUDA_HOME`, `/usr/local/cuda`) or the `nvidia-cuda-nvcc` wheel.
    println!("cargo:rerun-if-env-changed=CUDA_HOME");
    let site = root.parent().unwrap_or(Path::new("/")).join("nvidia");
    let mut cuda_dirs: Vec<PathBuf> = ["cu13", "cu12", "cuda_runtime", "cuda_nvcc"]
        .iter()
        .map(|d| site.join(d).join("include"))
        .collect();
    if let Some(home) = std::env::var_os("CUDA_HOME") {
        cuda_dirs.insert(0, PathBuf::from(home).join("include"));
    }
    cuda_dirs.push(PathBuf::from("/usr/local/cuda/include"));
    let nccl_dirs = [
        site.join("nccl/include"),
        PathBuf::from("/usr/include"),
        PathBuf::from("/usr/local/cuda/include"),
    ];
    let runtime = find_include(&cuda_dirs, "cuda_runtime_api.h");
    let crt = find_include(&cuda_dirs, "crt/host_config.h");
    let nccl = find_include(&nccl_dirs, "nccl.h");
    match (cuda, runtime, crt, nccl) {
        (true, Some(runtime), Some(crt), Some(nccl)) => {
            build
                .define("USE_C10D_NCCL", None)
                .define("USE_CUDA", None)
                .define("SDT_WITH_NCCL", None)
                .include(runtime)
                .include(crt)
                .include(nccl)
                .file("csrc/nccl.cpp");
            println!("cargo:rustc-cfg=sdt_nccl");
        }
        (true, runtime, crt, nccl) => println!(
            "cargo:warning=libtorch has CUDA but the NCCL process group is left out (headers \
             found: cuda_runtime_api.h {}, crt/host_config.h {}, nccl.h {}; set CUDA_HOME to a \
             CUDA toolkit to build it)",
            runtime.is_some(),
            crt.is_some(),
            nccl.is_some()
        ),
        _ => {}
    }
    build.compile("sdt_dist");
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
}
