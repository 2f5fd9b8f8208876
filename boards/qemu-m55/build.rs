//! Puts the board's memory map where cortex-m-rt's `link.x` looks for `memory.x`, and with the
//! `cmsis-nn` feature compiles Arm's CMSIS-NN kernels (read in place, never copied: directory
//! `SDT_CMSIS_NN_DIR`, by default the vendored sources beside the repository) for Cortex-M55
//! with Helium.
use std::{env, fs, path::PathBuf};

/// CMSIS-NN sources the dense int8 peer links (the linker drops what it does not call).
const CMSIS_NN_SOURCES: &[&str] = &[
    "ConvolutionFunctions/arm_convolve_wrapper_s8.c",
    "ConvolutionFunctions/arm_convolve_s8.c",
    "ConvolutionFunctions/arm_convolve_1x1_s8.c",
    "ConvolutionFunctions/arm_convolve_1x1_s8_fast.c",
    "ConvolutionFunctions/arm_convolve_1_x_n_s8.c",
    "ConvolutionFunctions/arm_convolve_get_buffer_sizes_s8.c",
    "ConvolutionFunctions/arm_depthwise_conv_wrapper_s8.c",
    "ConvolutionFunctions/arm_depthwise_conv_s8.c",
    "ConvolutionFunctions/arm_depthwise_conv_s8_opt.c",
    "ConvolutionFunctions/arm_depthwise_conv_3x3_s8.c",
    "ConvolutionFunctions/arm_depthwise_conv_get_buffer_sizes_s8.c",
    "ConvolutionFunctions/arm_nn_depthwise_conv_s8_core.c",
    "ConvolutionFunctions/arm_nn_mat_mult_kernel_s8_s16.c",
    "ConvolutionFunctions/arm_nn_mat_mult_kernel_row_offset_s8_s16.c",
    "ConvolutionFunctions/arm_nn_mat_mult_s8.c",
    "NNSupportFunctions/arm_nn_mat_mult_nt_t_s8.c",
    "NNSupportFunctions/arm_nn_mat_mult_nt_t_s8_s32.c",
    "NNSupportFunctions/arm_nn_mat_mul_core_1x_s8.c",
    "NNSupportFunctions/arm_nn_mat_mul_core_4x_s8.c",
    "NNSupportFunctions/arm_nn_vec_mat_mult_t_s8.c",
    "NNSupportFunctions/arm_nn_depthwise_conv_nt_t_s8.c",
    "NNSupportFunctions/arm_nn_depthwise_conv_nt_t_padded_s8.c",
    "NNSupportFunctions/arm_q7_to_q15_with_offset.c",
    "NNSupportFunctions/arm_s8_to_s16_unordered_with_offset.c",
    "TransposeFunctions/arm_transpose_s8.c",
];

fn cmsis_nn() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    println!("cargo:rerun-if-env-changed=SDT_CMSIS_NN_DIR");
    println!("cargo:rerun-if-changed=cmsis/sdt_cmsis.c");
    let dir = env::var_os("SDT_CMSIS_NN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../../shared/vendor/CMSIS-NN"));
    if !dir.join("Include/arm_nnfunctions.h").is_file() {
        panic!(
            "CMSIS-NN not found at {}: set SDT_CMSIS_NN_DIR to a checkout of \
             https://github.com/ARM-software/CMSIS-NN (its Include/ and Source/)",
            dir.display()
        );
    }
    let mut build = cc::Build::new();
    build
        .compiler(env::var("SDT_ARM_CC").unwrap_or_else(|_| "arm-none-eabi-gcc".into()))
        .archiver("arm-none-eabi-ar")
        .include(dir.join("Include"))
        // cc's defaults for thumbv8m.main (`-march=armv8-m.main -mfpu=fpv5-sp-d16`) would
        // override the CPU's Helium: name the architecture with MVE again after them.
        .flag("-mcpu=cortex-m55")
        .flag("-march=armv8.1-m.main+mve.fp+fp.dp")
        .flag("-mfpu=auto")
        .flag("-mtune=cortex-m55")
        .flag("-mthumb")
        .flag("-mfloat-abi=hard")
        // The MVE inline assembly needs every register, r7 included.
        .flag("-fomit-frame-pointer")
        .flag("-ffunction-sections")
        .flag("-fdata-sections")
        .flag("-fno-builtin")
        // One rounding of `val·M / 2^(31−S)` (a CMSIS-NN build option): the default rounds
        // twice, to `2^S` first, which with the few fractional bits our maps leave pushes
        // values just below a half up to the next spike count.
        .define("CMSIS_NN_USE_SINGLE_ROUNDING", None)
        .opt_level(3)
        .debug(true)
        .warnings(false)
        .file(manifest.join("cmsis/sdt_cmsis.c"));
    for s in CMSIS_NN_SOURCES {
        let path = dir.join("Source").join(s);
        println!("cargo:rerun-if-changed={}", path.display());
        build.file(path);
    }
    build.compile("sdt_cmsis_nn");
}

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("memory.x"), include_bytes!("mps3-an547.x")).expect("write memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=mps3-an547.x");
    if env::var_os("CARGO_FEATURE_CMSIS_NN").is_some() {
        cmsis_nn();
    }
}
