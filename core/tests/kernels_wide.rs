//! The spike-driven convolution equals the dense reference and an `i64` direct convolution at
//! the shapes of full-size models: wide channel counts (every tile width and remainder), long
//! column lists (more spikes per output pixel than one `i16` chunk holds), weights at the `i8`
//! extremes (so partial sums reach the chunk bound) and large counts. The encoding layer
//! (pixels × weights) against an `i64` direct convolution.

mod common;

use common::{accumulators, Record, Rng};
use proptest::prelude::*;
use sdt_core::graph::ConvGeom;
use sdt_core::kernels::conv::{encode_rows, ConvArgs};
use sdt_core::kernels::Pixel;
use sdt_core::{Kernel, Level};

#[derive(Clone, Debug)]
struct Case {
    kernel: u8,
    stride: u8,
    in_c: u16,
    out_c: u16,
    hw: u16,
    /// Width (0: `hw`).
    w: u16,
    d: u8,
    /// Percent of sites that spike; above 100 every site spikes `d` times.
    density: u32,
    /// 0: uniform weights, 1: all −128, 2: all +127, 3: ±extremes.
    weights: u8,
    depthwise: bool,
    seed: u64,
}

prop_compose! {
    fn case()(
        kernel in prop::sample::select(vec![1u8, 3, 7]),
        stride in 1u8..=2,
        in_c in prop_oneof![1u16..=40, 90u16..=400, 500u16..=1100],
        out_c in prop_oneof![1u16..=72, 90u16..=260],
        hw in 3u16..=7,
        d in prop_oneof![Just(4u8), 1u8..=15],
        density in prop_oneof![Just(100u32), 0u32..=100],
        weights in 0u8..4,
        depthwise in prop::bool::weighted(0.15),
        seed in any::<u64>(),
    ) -> Case {
        let out_c = if depthwise { in_c } else { out_c };
        Case { kernel, stride, in_c, out_c, hw, w: 0, d, density, weights, depthwise, seed }
    }
}

/// The taps of a `k`×`k` window with stride `s` and padding `pad` over an `h`×`w` input that
/// fall inside it, for output pixel `(oy, ox)`: `(tap index, input pixel index)`.
fn taps(
    k: usize,
    s: usize,
    pad: usize,
    (h, w): (usize, usize),
    (oy, ox): (usize, usize),
) -> impl Iterator<Item = (usize, usize)> {
    (0..k * k).filter_map(move |tap| {
        let iy = (oy * s + tap / k).checked_sub(pad)?;
        let ix = (ox * s + tap % k).checked_sub(pad)?;
        (iy < h && ix < w).then_some((tap, iy * w + ix))
    })
}

fn check(p: &Case) {
    let mut rng = Rng::new(p.seed);
    let (k, s) = (p.kernel as usize, p.stride as usize);
    let pad = k / 2;
    let (h, w) = (p.hw as usize, if p.w == 0 { p.hw } else { p.w } as usize);
    let (ic, oc) = (p.in_c as usize, p.out_c as usize);
    let geom = ConvGeom {
        kernel: p.kernel,
        stride: p.stride,
        pad: pad as u8,
        in_c: p.in_c,
        out_c: p.out_c,
        depthwise: p.depthwise,
    };
    let n_w = if p.depthwise {
        k * k * oc
    } else {
        k * k * ic * oc
    };
    let weights: Vec<i8> = (0..n_w)
        .map(|_| match p.weights {
            0 => rng.range(-128, 127) as i8,
            1 => -128,
            2 => 127,
            _ => [-128i8, 127][rng.below(2) as usize],
        })
        .collect();
    let counts: Vec<u8> = (0..h * w * ic)
        .map(|_| {
            if p.density > 100 {
                p.d
            } else if rng.chance(p.density) {
                rng.range(1, p.d as i64) as u8
            } else {
                0
            }
        })
        .collect();
    let (oh, ow) = ((h + 2 * pad - k) / s + 1, (w + 2 * pad - k) / s + 1);
    let args = ConvArgs {
        geom,
        in_h: h,
        in_w: w,
        out_w: ow,
        weights: &weights[..],
    };
    let spike = accumulators(Kernel::SpikeDriven, &args, &counts, oh);
    let dense = accumulators(Kernel::Dense, &args, &counts, oh);
    assert_eq!(spike, dense, "spike-driven vs dense");
    for oy in 0..oh {
        for ox in 0..ow {
            for o in 0..oc {
                let mut acc = 0i64;
                for (tap, pixel) in taps(k, s, pad, (h, w), (oy, ox)) {
                    let px = pixel * ic;
                    if p.depthwise {
                        acc += counts[px + o] as i64 * weights[tap * oc + o] as i64;
                    } else {
                        for i in 0..ic {
                            acc += counts[px + i] as i64 * weights[(tap * ic + i) * oc + o] as i64;
                        }
                    }
                }
                // The accumulators wrap like i32 (the proven bounds keep real models inside).
                assert_eq!(
                    spike[(oy * ow + ox) * oc + o],
                    acc as i32,
                    "({oy},{ox},{o})"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn wide_convolutions_equal(p in case()) {
        check(&p);
    }
}

/// One output pixel with far more binary spikes than an `i16` chunk, all of weight −128 or
/// +127 and every count the largest (every bit plane full): a kernel that summed them in
/// `i16` without widening would wrap. 1×1 with 1000 channels splits a pixel's lists.
#[test]
fn long_extreme_lists_do_not_wrap() {
    let mut seed = 0;
    for (kernel, in_c) in [(3u8, 384u16), (1, 1000)] {
        for d in [1u8, 3, 4, 7, 15] {
            for weights in 1u8..=3 {
                seed += 1;
                check(&Case {
                    kernel,
                    stride: 1,
                    in_c,
                    out_c: 240,
                    hw: 3,
                    w: 0,
                    d,
                    density: 101,
                    weights,
                    depthwise: false,
                    seed,
                });
            }
        }
    }
}

/// Tall 3×3 convolutions: output rows go in strips (as many as the listed inputs fit, up to
/// 16), the last one partial; channel counts that allow strips of 16 down to 2 rows.
#[test]
fn tall_convolutions_in_strips() {
    let mut seed = 100;
    for in_c in [8u16, 300, 500] {
        for stride in [1u8, 2] {
            for d in [1u8, 4] {
                seed += 1;
                check(&Case {
                    kernel: 3,
                    stride,
                    in_c,
                    out_c: 40,
                    hw: 41,
                    w: 7,
                    d,
                    density: 30,
                    weights: (seed % 4) as u8,
                    depthwise: false,
                    seed,
                });
            }
        }
    }
}

/// Depthwise rows wider than one segment of the vector kernel (which holds up to 8192
/// accumulators), every stride, kernel and count range.
#[test]
fn wide_depthwise_rows() {
    let mut seed = 10;
    for (c, w) in [(48, 120), (300, 61), (480, 40), (17, 70)] {
        for (kernel, stride) in [(7, 1), (3, 1), (3, 2), (5, 2), (1, 1)] {
            for d in [1, 4, 9] {
                seed += 1;
                check(&Case {
                    kernel,
                    stride,
                    in_c: c,
                    out_c: c,
                    hw: 4,
                    w,
                    d,
                    density: 40,
                    weights: (seed % 4) as u8,
                    depthwise: true,
                    seed,
                });
            }
        }
    }
}

#[derive(Clone, Debug)]
struct EncodeCase {
    kernel: u8,
    stride: u8,
    pad: u8,
    in_c: u16,
    out_c: u16,
    h: u16,
    w: u16,
    wide: bool,
    max_abs: i32,
    zp: i16,
    /// Zero points of the channels after the first within ±1 (so that inputs may fit `i8`).
    small_zps: bool,
    seed: u64,
}

prop_compose! {
    fn encode_case()(
        kernel in prop::sample::select(vec![1u8, 3, 7]),
        stride in 1u8..=2,
        pad_raw in 0u8..=3,
        in_c in 1u16..=5,
        out_c in 1u16..=70,
        (h, w) in (1u16..=20, 1u16..=40),
        wide in any::<bool>(),
        max_abs in prop_oneof![Just(127), 0i32..=127, 1000i32..=32767],
        zp in prop_oneof![Just(0i16), -300i16..=300, any::<i16>()],
        small_zps in any::<bool>(),
        seed in any::<u64>(),
    ) -> EncodeCase {
        let pad = pad_raw.min(kernel / 2);
        let min = (kernel - 2 * pad) as u16;
        EncodeCase { kernel, stride, pad, in_c, out_c, h: h.max(min), w: w.max(min), wide,
                     max_abs, zp, small_zps, seed }
    }
}

fn encode_check<X: Pixel>(p: &EncodeCase, input: &[X], weights: &[i8], zps: &[i16]) {
    let (k, s, pad) = (p.kernel as usize, p.stride as usize, p.pad as usize);
    let (h, w, ic, oc) = (
        p.h as usize,
        p.w as usize,
        p.in_c as usize,
        p.out_c as usize,
    );
    let (oh, ow) = ((h + 2 * pad - k) / s + 1, (w + 2 * pad - k) / s + 1);
    let geom = ConvGeom {
        kernel: p.kernel,
        stride: p.stride,
        pad: p.pad,
        in_c: p.in_c,
        out_c: p.out_c,
        depthwise: false,
    };
    let args = ConvArgs {
        geom,
        in_h: h,
        in_w: w,
        out_w: ow,
        weights,
    };
    let at = |level: Level| {
        let mut got = vec![0i32; oh * ow * oc];
        let mut acc = vec![0x5a5a_5a5a; oc];
        // Two row chunks: the kernel must start anywhere.
        let split = oh / 2;
        let (top, bottom) = got.split_at_mut(split * ow * oc);
        for (rows, out) in [(0..split, top), (split..oh, bottom)] {
            let mut sink = Record { acc: out, c: oc };
            encode_rows(
                level, &args, input, zps, p.max_abs, rows, &mut acc, &mut sink,
            );
        }
        got
    };
    let got = at(Level::Portable);
    for level in Level::supported() {
        assert_eq!(at(level), got, "encoding at {level} vs portable");
    }
    for oy in 0..oh {
        for ox in 0..ow {
            for o in 0..oc {
                let mut want = 0i64;
                for (tap, pixel) in taps(k, s, pad, (h, w), (oy, ox)) {
                    for i in 0..ic {
                        let x = input[pixel * ic + i].into();
                        let x = x.clamp(-p.max_abs, p.max_abs) as i64 - zps[i] as i64;
                        want += x * weights[(tap * ic + i) * oc + o] as i64;
                    }
                }
                assert_eq!(got[(oy * ow + ox) * oc + o], want as i32, "({oy},{ox},{o})");
            }
        }
    }
}

fn encode(p: &EncodeCase) {
    let mut rng = Rng::new(p.seed);
    let (k, ic, oc) = (p.kernel as usize, p.in_c as usize, p.out_c as usize);
    let weights: Vec<i8> = (0..k * k * ic * oc)
        .map(|_| rng.range(-128, 127) as i8)
        .collect();
    let zps: Vec<i16> = (0..ic)
        .map(|i| {
            if i == 0 {
                p.zp
            } else if p.small_zps {
                rng.range(-1, 1) as i16
            } else {
                rng.range(-200, 200) as i16
            }
        })
        .collect();
    let n = p.h as usize * p.w as usize * ic;
    if p.wide {
        let x: Vec<i16> = (0..n).map(|_| rng.range(-32768, 32767) as i16).collect();
        encode_check(p, &x, &weights, &zps);
    } else {
        let x: Vec<i8> = (0..n).map(|_| rng.range(-128, 127) as i8).collect();
        encode_check(p, &x, &weights, &zps);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn encoding_layer_matches_direct(p in encode_case()) {
        encode(&p);
    }
}
