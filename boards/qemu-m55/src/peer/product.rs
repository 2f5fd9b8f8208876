//! Convolutions into the residual stream (the encoding layer and the head too) as CMSIS-NN
//! matrix products of im2col blocks and the filter, then our affine map: the same integers as
//! our kernels.

use sdt_core::fixed::Affine;
use sdt_core::graph::TensorId;

use super::ffi::{self, ConvGeom};
use super::PeerError;

/// Output pixels per im2col block of a matrix-product convolution.
pub(super) const BLOCK_PIXELS: usize = 32;

/// A convolution into the residual stream (or the encoding layer, or the head) as a product.
pub(super) struct ProductConv {
    pub(super) input: TensorId,
    pub(super) output: TensorId,
    pub(super) geom: ConvGeom,
    /// `[out][ky][kx][in]`.
    pub(super) filter: &'static [i8],
    pub(super) affine: &'static [Affine],
    pub(super) accumulate: bool,
    /// Encoding layer: per-channel zero points (the im2col padding value), `±max_abs`, and per
    /// output `Σ w · zp` over all taps (what the padding added).
    pub(super) encode: Option<(&'static [i8], i32, &'static [i32])>,
}

/// `dst (m×n) = lhs (m×k) · rhs (n×k)ᵀ` with CMSIS-NN.
pub(super) fn mat_mult(
    lhs: &[i8],
    rhs: &[i8],
    dst: &mut [i32],
    mkn: [usize; 3],
) -> Result<(), i32> {
    let [m, _, n] = mkn;
    dst.get_mut(..m * n).ok_or(-100)?.fill(0);
    mat_mult_acc(lhs, rhs, dst, mkn)
}

/// A convolution as blocks of im2col rows times the filter, then our affine map.
pub(super) fn product_conv(
    p: &ProductConv,
    x: &[i8],
    y: &mut [i32],
    scratch: &mut [u8],
    acc: &mut [i32],
    node: usize,
) -> Result<(), PeerError> {
    let g = &p.geom;
    let (ci, co, kk) = (g.in_c as usize, g.out_c as usize, g.kernel as usize);
    let k = kk * kk * ci;
    let pixels = g.out_h as usize * g.out_w as usize;
    let direct = kk == 1 && g.stride == 1 && g.pad == 0 && p.encode.is_none();
    let cols: &mut [i8] = bytemuck_i8(scratch);
    let err = |status| PeerError::Cmsis { node, status };
    let mut first = 0;
    while first < pixels {
        let rows = BLOCK_PIXELS.min(pixels - first);
        let lhs: &[i8] = if direct {
            &x[first * ci..(first + rows) * ci]
        } else {
            for r in 0..rows {
                let (oy, ox) = (
                    (first + r) / g.out_w as usize,
                    (first + r) % g.out_w as usize,
                );
                im2col_row(p, x, oy, ox, &mut cols[r * k..(r + 1) * k]);
            }
            &cols[..rows * k]
        };
        mat_mult(lhs, p.filter, acc, [rows, k, co]).map_err(err)?;
        for r in 0..rows {
            let out = &mut y[(first + r) * co..(first + r + 1) * co];
            let acc = &acc[r * co..(r + 1) * co];
            for (o, ((dst, &a), map)) in out.iter_mut().zip(acc).zip(p.affine).enumerate() {
                let a = match p.encode {
                    Some((_, _, corr)) => a.wrapping_sub(corr[o]),
                    None => a,
                };
                let v = map.apply(a).clamp(i32::MIN as i64, i32::MAX as i64) as i32;
                *dst = if p.accumulate {
                    dst.saturating_add(v)
                } else {
                    v
                };
            }
        }
        first += rows;
    }
    Ok(())
}

/// One output pixel's receptive field, `[ky][kx][in]`; outside the input the padding value
/// (0 for spikes, the zero point for the encoding layer's input).
fn im2col_row(p: &ProductConv, x: &[i8], oy: usize, ox: usize, row: &mut [i8]) {
    let g = &p.geom;
    let ci = g.in_c as usize;
    let mut at = 0;
    for ky in 0..g.kernel {
        for kx in 0..g.kernel {
            let iy = oy as i32 * g.stride + ky - g.pad;
            let ix = ox as i32 * g.stride + kx - g.pad;
            let dst = &mut row[at..at + ci];
            if iy >= 0 && iy < g.in_h && ix >= 0 && ix < g.in_w {
                let px = (iy * g.in_w + ix) as usize * ci;
                let src = &x[px..px + ci];
                match p.encode {
                    Some((_, max_abs, _)) => {
                        for (d, &s) in dst.iter_mut().zip(src) {
                            *d = (s as i32).clamp(-max_abs, max_abs).clamp(-128, 127) as i8;
                        }
                    }
                    None => dst.copy_from_slice(src),
                }
            } else {
                match p.encode {
                    Some((zp, _, _)) => dst.copy_from_slice(&zp[..ci]),
                    None => dst.fill(0),
                }
            }
            at += ci;
        }
    }
}

pub(super) fn bytemuck_i8(b: &mut [u8]) -> &mut [i8] {
    // SAFETY: `i8` and `u8` have the same size, alignment and validity.
    unsafe { core::slice::from_raw_parts_mut(b.as_mut_ptr().cast::<i8>(), b.len()) }
}

/// `dst += lhs · rhsᵀ` (no zeroing).
pub(super) fn mat_mult_acc(
    lhs: &[i8],
    rhs: &[i8],
    dst: &mut [i32],
    [m, k, n]: [usize; 3],
) -> Result<(), i32> {
    if lhs.len() < m * k || rhs.len() < n * k || dst.len() < m * n {
        return Err(-100);
    }
    // SAFETY: the lengths were checked above; CMSIS-NN reads `m·k` and `n·k` values and
    // writes `m·n`.
    let status = unsafe {
        ffi::sdt_mat_mult_s8_s32(
            lhs.as_ptr(),
            rhs.as_ptr(),
            dst.as_mut_ptr(),
            m as i32,
            k as i32,
            n as i32,
        )
    };
    if status == 0 {
        Ok(())
    } else {
        Err(status)
    }
}
