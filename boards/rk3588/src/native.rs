//! The RK3588 matmul API's native int8 layouts, zero-padded (K to a multiple of 32, N to a
//! multiple of 32):
//!
//! - A (`M×K`): `[K/16][M][16]`: sixteen consecutive `k` of one row, row after row;
//! - B (`K×N`): `[N/32][K/32][32][32]`: a 32×32 block holds 32 columns `n`, each with 32
//!   consecutive `k`;
//! - C (`M×N`, `i32`): `[N/4][M][4]`.

/// K of a tile is padded to a multiple of this.
pub const K_ALIGN: usize = 32;
/// N of a tile is padded to a multiple of this (int8).
pub const N_ALIGN: usize = 32;
const A_GROUP: usize = 16;
const B_BLOCK: usize = 32;
const C_GROUP: usize = 4;

/// Shape of one device product in native layout: `m` rows, `k` and `n` padded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Padded {
    pub m: usize,
    pub k: usize,
    pub n: usize,
}

impl Padded {
    /// The padded shape of an `m×k` by `k×n` product (`k`, `n` ≥ 1).
    pub fn new(m: usize, k: usize, n: usize) -> Self {
        Padded {
            m,
            k: k.max(1).next_multiple_of(K_ALIGN),
            n: n.max(1).next_multiple_of(N_ALIGN),
        }
    }

    pub fn a_len(&self) -> usize {
        self.m * self.k
    }
    pub fn b_len(&self) -> usize {
        self.k * self.n
    }
    pub fn c_len(&self) -> usize {
        self.m * self.n
    }

    /// Position of `A[m][k]` in native A.
    #[inline(always)]
    pub fn a_index(&self, m: usize, k: usize) -> usize {
        (k / A_GROUP * self.m + m) * A_GROUP + k % A_GROUP
    }

    /// Position of `B[k][n]` in native B.
    #[inline(always)]
    pub fn b_index(&self, k: usize, n: usize) -> usize {
        let blocks_k = self.k / B_BLOCK;
        ((n / B_BLOCK * blocks_k + k / B_BLOCK) * B_BLOCK + n % B_BLOCK) * B_BLOCK + k % B_BLOCK
    }

    /// Position of `C[m][n]` in native C.
    #[inline(always)]
    pub fn c_index(&self, m: usize, n: usize) -> usize {
        (n / C_GROUP * self.m + m) * C_GROUP + n % C_GROUP
    }
}

/// Writes the `rows×cols` matrix `get` into native A of shape `p` (`dst`: `p.a_len()` values);
/// the padding is zero.
pub fn pack_a(
    p: &Padded,
    rows: usize,
    cols: usize,
    get: impl Fn(usize, usize) -> i8,
    dst: &mut [i8],
) {
    dst.fill(0);
    for m in 0..rows.min(p.m) {
        for k in 0..cols.min(p.k) {
            dst[p.a_index(m, k)] = get(m, k);
        }
    }
}

/// Writes the `rows×cols` matrix `get` into native B of shape `p` (`dst`: `p.b_len()` values);
/// the padding is zero.
pub fn pack_b(
    p: &Padded,
    rows: usize,
    cols: usize,
    get: impl Fn(usize, usize) -> i8,
    dst: &mut [i8],
) {
    dst.fill(0);
    for k in 0..rows.min(p.k) {
        for n in 0..cols.min(p.n) {
            dst[p.b_index(k, n)] = get(k, n);
        }
    }
}

/// Reads `C[m][n]` for `n < row.len()` from native C.
pub fn unpack_c_row(p: &Padded, m: usize, src: &[i32], row: &mut [i32]) {
    for (n, r) in row.iter_mut().enumerate() {
        *r = src[p.c_index(m, n)];
    }
}

/// What the NPU computes, done on the CPU from the native layouts: `C = A·B` over the padded
/// shape, wrapping `i32` sums of exact `i8·i8` products.
pub fn matmul_native(p: &Padded, a: &[i8], b: &[i8], c: &mut [i32]) {
    let blocks_k = p.k / B_BLOCK;
    let mut a_row = vec![0i8; p.k];
    for m in 0..p.m {
        // Row m of A sits in K/16 groups of 16, M groups apart.
        for (g, chunk) in a_row.chunks_exact_mut(A_GROUP).enumerate() {
            let at = (g * p.m + m) * A_GROUP;
            chunk.copy_from_slice(&a[at..at + A_GROUP]);
        }
        for n in 0..p.n {
            let column = (n / B_BLOCK * blocks_k * B_BLOCK + n % B_BLOCK) * B_BLOCK;
            let mut sum = 0i32;
            for kb in 0..blocks_k {
                let w = &b[column + kb * B_BLOCK * B_BLOCK..][..B_BLOCK];
                let x = &a_row[kb * B_BLOCK..][..B_BLOCK];
                let dot: i32 = x.iter().zip(w).map(|(&x, &w)| x as i32 * w as i32).sum();
                sum = sum.wrapping_add(dot);
            }
            c[p.c_index(m, n)] = sum;
        }
    }
}
