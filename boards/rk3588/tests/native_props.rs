//! Native layouts, tiling and the tiled stand-in product against plain references, at awkward
//! M/K/N (not multiples of 16 or 32, single rows, tiles split along every axis).

use proptest::prelude::*;
use sdt_core::engine::{spike_matmul, Engine, MatMul, Operand, Role, View};
use sdt_rk3588::native::{matmul_native, pack_a, pack_b, unpack_c_row, Padded};
use sdt_rk3588::tiling::{tiles, Limits};

/// Deterministic values for a matrix of a given seed.
fn values(seed: u64, len: usize, lo: i64, hi: i64) -> Vec<i64> {
    let mut s = seed | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            lo + (s % (hi - lo + 1) as u64) as i64
        })
        .collect()
}

/// Plain `C = A·B` over row-major matrices.
fn reference(a: &[i8], b: &[i8], m: usize, k: usize, n: usize) -> Vec<i32> {
    let mut c = vec![0i32; m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k)
                .map(|x| a[i * k + x] as i32 * b[x * n + j] as i32)
                .sum();
        }
    }
    c
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every element lands at a distinct index inside the buffer, padding stays zero, and the
    /// documented formulas hold.
    #[test]
    fn packing_places_every_element_once(m in 1usize..40, k in 1usize..100, n in 1usize..100,
                                         seed in any::<u64>()) {
        let p = Padded::new(m, k, n);
        prop_assert!(p.k.is_multiple_of(32) && p.k >= k && p.k < k + 32);
        prop_assert!(p.n.is_multiple_of(32) && p.n >= n && p.n < n + 32);
        let a: Vec<i8> = values(seed, m * k, -128, 127).into_iter().map(|v| v as i8).collect();
        let b: Vec<i8> = values(!seed, k * n, -128, 127).into_iter().map(|v| v as i8).collect();
        let mut na = vec![0x55i8; p.a_len()];
        let mut nb = vec![0x55i8; p.b_len()];
        pack_a(&p, m, k, |i, x| a[i * k + x], &mut na);
        pack_b(&p, k, n, |x, j| b[x * n + j], &mut nb);
        let mut seen = vec![false; p.a_len()];
        for i in 0..p.m {
            for x in 0..p.k {
                let at = ((x / 16) * p.m + i) * 16 + x % 16;
                prop_assert_eq!(p.a_index(i, x), at);
                prop_assert!(!seen[at]);
                seen[at] = true;
                let want = if x < k { a[i * k + x] } else { 0 };
                prop_assert_eq!(na[at], want);
            }
        }
        let mut seen = vec![false; p.b_len()];
        for x in 0..p.k {
            for j in 0..p.n {
                let at = (((j / 32) * (p.k / 32) + x / 32) * 32 + j % 32) * 32 + x % 32;
                prop_assert_eq!(p.b_index(x, j), at);
                prop_assert!(!seen[at]);
                seen[at] = true;
                let want = if x < k && j < n { b[x * n + j] } else { 0 };
                prop_assert_eq!(nb[at], want);
            }
        }
        // The native product, unpacked, is the plain product.
        let mut nc = vec![0i32; p.c_len()];
        matmul_native(&p, &na, &nb, &mut nc);
        let want = reference(&a, &b, m, k, n);
        let mut row = vec![0i32; n];
        for i in 0..m {
            unpack_c_row(&p, i, &nc, &mut row);
            prop_assert_eq!(&row[..], &want[i * n..(i + 1) * n]);
            for j in 0..p.n {
                prop_assert_eq!(p.c_index(i, j), ((j / 4) * p.m + i) * 4 + j % 4);
            }
        }
    }

    /// Tiles cover the product exactly once and respect the limits.
    #[test]
    fn tiles_cover_exactly_once(m in 1usize..300, k in 1usize..300, n in 1usize..300,
                                max_m in 1usize..64, kb in 1usize..4, nb in 1usize..4) {
        let limits = Limits { max_m, max_k: 32 * kb, max_n: 32 * nb };
        let ts = tiles(m, k, n, &limits).unwrap();
        let mut hits = vec![0u8; m * k * n];
        for t in &ts {
            prop_assert!(t.m <= max_m && t.k <= limits.max_k && t.n <= limits.max_n);
            prop_assert_eq!(t.padded, Padded::new(t.m, t.k, t.n));
            for i in t.m0..t.m0 + t.m {
                for x in t.k0..t.k0 + t.k {
                    for j in t.n0..t.n0 + t.n {
                        hits[(i * k + x) * n + j] += 1;
                    }
                }
            }
        }
        prop_assert!(hits.iter().all(|&h| h == 1));
    }
}

#[test]
fn bad_limits_are_refused() {
    for limits in [
        Limits {
            max_m: 0,
            max_k: 32,
            max_n: 32,
        },
        Limits {
            max_m: 1,
            max_k: 48,
            max_n: 32,
        },
        Limits {
            max_m: 1,
            max_k: 32,
            max_n: 8192,
        },
        Limits {
            max_m: 1,
            max_k: 16384,
            max_n: 32,
        },
    ] {
        assert!(tiles(4, 4, 4, &limits).is_err(), "{limits:?}");
    }
    assert!(tiles(0, 4, 4, &Limits::default()).is_err());
}

/// Random products of every role through the tiled stand-in engine equal the CPU's
/// spike-driven product, with small tile limits so every axis is split.
#[test]
fn stand_in_products_equal_the_cpu_on_random_shapes() {
    use sdt_core::graph::Section;
    use sdt_rk3588::plan::{digits_for, BSource, ProductPlan};
    use sdt_rk3588::{HostStandIn, RkEngine};
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(48));
    let strategy = (
        1usize..90,
        1usize..90,
        1usize..90,
        0u8..3,
        1u8..=15,
        any::<u64>(),
        1usize..40,
    );
    runner
        .run(&strategy, |(m, k, n, kind, d, seed, max_m)| {
            let limits = Limits {
                max_m,
                max_k: 32,
                max_n: 64,
            };
            let a: Vec<u8> = values(seed, m * k, 0, d as i64)
                .into_iter()
                .map(|v| v as u8)
                .collect();
            let a = View::row_major(&a, m, k).unwrap();
            let w: Vec<i8> = values(!seed, k * n, -128, 127)
                .into_iter()
                .map(|v| v as i8)
                .collect();
            let s: Vec<u8> = values(!seed, k * n, 0, d as i64)
                .into_iter()
                .map(|v| v as u8)
                .collect();
            // kᵀv of up to 90 tokens: three base-128 digits.
            let bound = 90 * 15 * 15;
            let kv: Vec<i32> = values(!seed, k * n, 0, bound)
                .into_iter()
                .map(|v| v as i32)
                .collect();
            let (b, role, source) = match kind {
                0 => (
                    Operand::I8(View::row_major(&w, k, n).unwrap()),
                    Role::Synapse,
                    BSource::Weights(Section::default()),
                ),
                1 => (
                    Operand::Spikes(View::row_major(&s, k, n).unwrap()),
                    Role::KeyValue { head: 0 },
                    BSource::Spikes,
                ),
                _ => (
                    Operand::I32(View::row_major(&kv, k, n).unwrap()),
                    Role::Query { head: 0 },
                    BSource::Digits(digits_for(bound as u64)),
                ),
            };
            let p = MatMul {
                node: 7,
                role,
                a,
                b,
            };
            let plan = ProductPlan::new(role, [m, k, n], source, &limits).unwrap();
            let engine = RkEngine::with_products(HostStandIn, [(7, plan, Some(&w[..]))]).unwrap();
            prop_assert!(engine.takes(&p));
            let mut want = Vec::new();
            spike_matmul(&p, &mut vec![0; n], &mut |_, r| want.extend_from_slice(r)).unwrap();
            let mut got = Vec::new();
            engine
                .matmul(&p, &mut vec![0; n], &mut |_, r| got.extend_from_slice(r))
                .unwrap();
            prop_assert_eq!(got, want);
            Ok(())
        })
        .unwrap();
}
