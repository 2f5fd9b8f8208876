//! The C entry points of `cmsis/sdt_cmsis.c`, which fill CMSIS-NN's parameter structs.

/// Geometry of one convolution (HWC input, square kernel, symmetric padding).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ConvGeom {
    pub in_h: i32,
    pub in_w: i32,
    pub in_c: i32,
    pub out_h: i32,
    pub out_w: i32,
    pub out_c: i32,
    pub kernel: i32,
    pub stride: i32,
    pub pad: i32,
}

extern "C" {
    /// Scratch bytes `arm_convolve_wrapper_s8` / `arm_depthwise_conv_wrapper_s8` need.
    pub fn sdt_conv_s8_buffer_size(g: *const ConvGeom, depthwise: i32) -> i32;
    /// One (depthwise) convolution with per-channel requantization and activation clamp.
    pub fn sdt_conv_s8(
        g: *const ConvGeom,
        depthwise: i32,
        input: *const i8,
        filter: *const i8,
        bias: *const i32,
        multiplier: *mut i32,
        shift: *mut i32,
        act_min: i32,
        act_max: i32,
        output: *mut i8,
        buf: *mut u8,
        buf_size: i32,
    ) -> i32;
    /// `dst[m][n] += Σ_k lhs[m][k] · rhs[n][k]` (`arm_nn_mat_mult_nt_t_s8_s32`).
    pub fn sdt_mat_mult_s8_s32(
        lhs: *const i8,
        rhs: *const i8,
        dst: *mut i32,
        m: i32,
        k: i32,
        n: i32,
    ) -> i32;
}
