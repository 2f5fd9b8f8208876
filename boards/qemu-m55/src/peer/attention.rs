//! Linear attention per head as `q (kᵀv)` on CMSIS-NN products: `kᵀv` (`i32 ≥ 0`) enters the
//! second product as 7-bit limbs, so the result is exact; then our affine map to spikes.

use sdt_core::fixed::{spike_count, Affine};

use super::product::{bytemuck_i8, mat_mult, mat_mult_acc};
use super::PeerError;

pub(super) struct AttnShape {
    pub(super) tokens: usize,
    pub(super) heads: usize,
    pub(super) d: usize,
    pub(super) dv: usize,
}

/// Linear attention per head: `kᵀv` then `q (kᵀv)` as CMSIS-NN products, then our affine map.
pub(super) fn attention(
    a: &AttnShape,
    [q, k, v]: [&[i8]; 3],
    (affine, frac, d_max): (&Affine, u8, u8),
    y: &mut [i8],
    scratch: &mut [u8],
    words: &mut [i32],
    node: usize,
) -> Result<(), PeerError> {
    let (n, d, dv) = (a.tokens, a.d, a.dv);
    let (c, cv) = (a.heads * d, a.heads * dv);
    let err = |status| PeerError::Cmsis { node, status };
    let bytes = bytemuck_i8(scratch);
    let (kt, rest) = bytes.split_at_mut(d * n);
    let (vt, rest) = rest.split_at_mut(dv * n);
    let (qh, rest) = rest.split_at_mut(n * d);
    let limb = &mut rest[..dv * d];
    let (kv, out) = words.split_at_mut(d * dv);
    let out = &mut out[..n * dv];
    for h in 0..a.heads {
        for t in 0..n {
            for i in 0..d {
                kt[i * n + t] = k[t * c + h * d + i];
                qh[t * d + i] = q[t * c + h * d + i];
            }
            for j in 0..dv {
                vt[j * n + t] = v[t * cv + h * dv + j];
            }
        }
        mat_mult(kt, vt, kv, [d, n, dv]).map_err(err)?;
        // kᵀv ≥ 0 (spike counts): as 7-bit limbs, highest first, out = out·128 + q·limb.
        let top = kv.iter().fold(0i32, |m, &x| m.max(x));
        let limbs = (32 - top.leading_zeros()).div_ceil(7).max(1);
        out.fill(0);
        for l in (0..limbs).rev() {
            for i in 0..d {
                for j in 0..dv {
                    limb[j * d + i] = ((kv[i * dv + j] >> (7 * l)) & 0x7f) as i8;
                }
            }
            if l + 1 < limbs {
                for o in out.iter_mut() {
                    *o <<= 7;
                }
            }
            mat_mult_acc(qh, limb, out, [n, d, dv]).map_err(err)?;
        }
        for t in 0..n {
            for j in 0..dv {
                let s = affine.apply(out[t * dv + j]);
                y[t * cv + h * dv + j] = spike_count(s, frac, d_max) as i8;
            }
        }
    }
    Ok(())
}
