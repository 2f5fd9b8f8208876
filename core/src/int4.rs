//! Packed 4-bit weights: weight `j` of a layer in byte `j / 2`, the low nibble for even `j`,
//! the high one for odd `j`, two's complement (`-8..=7`; the converter writes `-7..=7`).
//!
//! A layer's weights are unpacked to `i8` into the node's scratch just before it runs, so that
//! every kernel (vector paths included) takes them unchanged: the blob holds half the bytes of
//! int8, at the cost of one pass over the layer's weights per run and one layer of `i8` in
//! the arena.

/// Weight `j` of `packed` (0 past the end).
#[inline]
pub fn get(packed: &[u8], j: usize) -> i8 {
    let byte = packed.get(j / 2).copied().unwrap_or(0);
    let nibble = if j.is_multiple_of(2) {
        byte << 4
    } else {
        byte & 0xf0
    };
    (nibble as i8) >> 4
}

/// Unpacks the first `out.len()` weights of `packed` (written lane-wise so that the compiler
/// vectorizes it). Weights past the packed bytes are 0.
pub fn unpack(packed: &[u8], out: &mut [i8]) {
    let mut pairs = out.chunks_exact_mut(2);
    for (pair, &byte) in pairs.by_ref().zip(packed) {
        pair[0] = ((byte << 4) as i8) >> 4;
        pair[1] = (byte as i8) >> 4;
    }
    let done = packed.len().min(out.len() / 2) * 2;
    for (j, w) in out.iter_mut().enumerate().skip(done) {
        *w = get(packed, j);
    }
}

/// Packs `weights` (each in `-8..=7`; others are cut to their low 4 bits).
#[cfg(test)]
fn pack(weights: &[i8]) -> heapless::Vec<u8, 64> {
    let mut out = heapless::Vec::new();
    for pair in weights.chunks(2) {
        let lo = pair[0] as u8 & 0x0f;
        let hi = pair.get(1).map_or(0, |&w| (w as u8 & 0x0f) << 4);
        let _ = out.push(lo | hi);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value, at even and odd positions, round-trips; odd counts and unpacking into
    /// more weights than stored (zeros) too.
    #[test]
    fn unpack_inverts_pack() {
        let values: [i8; 17] = [-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, -8];
        for n in [0, 1, 2, 15, 16, 17] {
            let packed = pack(&values[..n]);
            assert_eq!(packed.len(), n.div_ceil(2));
            let mut out = [99i8; 20];
            unpack(&packed, &mut out[..n]);
            assert_eq!(&out[..n], &values[..n], "n = {n}");
            for (j, &v) in values[..n].iter().enumerate() {
                assert_eq!(get(&packed, j), v, "get({j}) of {n}");
            }
            // Shifted by one: the odd positions now hold what the even ones did.
            let mut shifted = [0i8; 18];
            shifted[1..=n].copy_from_slice(&values[..n]);
            let packed = pack(&shifted[..n + 1]);
            let mut out = [99i8; 20];
            unpack(&packed, &mut out[..n + 1]);
            assert_eq!(&out[..n + 1], &shifted[..n + 1]);
        }
        let mut out = [99i8; 4];
        unpack(&pack(&[3, -3]), &mut out);
        assert_eq!(out, [3, -3, 0, 0]);
    }
}
