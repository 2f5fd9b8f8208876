//! Hostile blobs: truncated, corrupted, or well-formed (valid CRC) but describing an invalid
//! model. Every one is rejected with a typed error, never a panic; and the session API rejects
//! misaligned blobs, small arenas and wrong inputs.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use common::Rng;
use common::*;
use proptest::prelude::*;
use sdt_core::graph::{AttentionOrder, ConvOutput, Op, Section, TensorKind, WeightBits};
use sdt_core::{Error, Input, Kernel, Model, Sequential, Session};

fn valid() -> Blob {
    tiny_model(1, AttentionOrder::QkThenV).blob()
}

/// Runs `f`, failing the test with `what` if it panics.
fn no_panic<T>(what: &str, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => panic!("panicked: {what}"),
    }
}

/// Loads `bytes`; when that succeeds, runs it once with both kernels (arena permitting) and
/// checks they agree. Returns the load result.
fn load_and_run(bytes: &[u8]) -> Result<(), Error> {
    let model = Model::from_blob(bytes)?;
    let Ok(need) = sdt_core::arena_bytes(&model, 1) else {
        return Ok(());
    };
    if need > 16 << 20 {
        return Ok(());
    }
    let mut logits = Vec::new();
    for kernel in [Kernel::SpikeDriven, Kernel::Dense] {
        let mut arena = vec![0u8; need];
        let mut s = Session::new(&model, &mut arena, 1).expect("arena_bytes suffices");
        if let Some(x) = s.input_i8_mut() {
            x.iter_mut()
                .enumerate()
                .for_each(|(i, v)| *v = (i * 37) as i8);
        }
        if let Some(x) = s.input_i16_mut() {
            x.iter_mut()
                .enumerate()
                .for_each(|(i, v)| *v = (i * 977) as i16);
        }
        s.run(kernel, &Sequential, None)
            .expect("validated model runs");
        logits.push(s.logits().to_vec());
    }
    assert_eq!(logits[0], logits[1], "kernels disagree on a loaded blob");
    Ok(())
}

/// The error a (valid-CRC) blob of `b` is rejected with.
fn rejection(b: &Builder) -> Error {
    let blob = b.blob();
    no_panic("loading", || blob.model().err()).expect("blob must be rejected")
}

#[test]
fn valid_blob_loads_and_runs() {
    for order in [AttentionOrder::QkThenV, AttentionOrder::KvFirst] {
        let blob = tiny_model(1, order).blob();
        load_and_run(blob.bytes()).expect("valid blob");
    }
}

#[test]
fn every_truncation_is_rejected() {
    let blob = valid();
    let bytes = blob.bytes();
    for len in 0..bytes.len() {
        let r = no_panic(&format!("truncated to {len}"), || {
            Model::from_blob(&bytes[..len]).err()
        });
        assert!(r.is_some(), "truncated to {len} bytes loaded");
    }
}

#[test]
fn every_single_byte_flip_is_rejected() {
    let blob = valid();
    let mut rng = Rng::new(3);
    for pos in 0..blob.bytes().len() {
        let mut bad = blob.clone();
        bad.bytes_mut()[pos] ^= rng.range(1, 255) as u8;
        let err = no_panic(&format!("flip at {pos}"), || bad.model().err());
        let err = err.unwrap_or_else(|| panic!("flip at {pos} loaded"));
        if pos >= 32 {
            assert!(
                matches!(err, Error::ChecksumMismatch { .. }),
                "flip at {pos}: {err:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Several random bytes replaced: rejected (by the CRC, or the header checks).
    #[test]
    fn corruption_is_rejected(edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut bad = valid();
        let len = bad.bytes().len();
        for &(pos, v) in &edits {
            bad.bytes_mut()[pos % len] = v;
        }
        if bad.bytes() != valid().bytes() {
            let err = no_panic("corrupted", || bad.model().err());
            prop_assert!(err.is_some());
        }
    }

    /// Random edits past the header with the CRC recomputed: the loader's validation sees
    /// them. Whatever it accepts must run without panicking, both kernels agreeing.
    #[test]
    fn corruption_with_valid_crc_never_panics(
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        order in any::<bool>(),
    ) {
        let order = if order { AttentionOrder::KvFirst } else { AttentionOrder::QkThenV };
        let mut bad = tiny_model(2, order).blob();
        let len = bad.bytes().len();
        for &(pos, v) in &edits {
            // Keep the header and CRC; hit the graph more often than the data.
            let span = if pos % 2 == 0 { 400 } else { len - 36 };
            bad.bytes_mut()[32 + (pos / 2) % span.min(len - 36)] = v;
        }
        refresh_crc(&mut bad);
        let _ = no_panic("corrupted with valid CRC", || load_and_run(bad.bytes()));
    }
}

#[test]
fn unknown_version() {
    let mut blob = valid();
    blob.bytes_mut()[8..10].copy_from_slice(&7u16.to_le_bytes());
    refresh_crc(&mut blob);
    let err = blob.model().err();
    assert_eq!(
        err,
        Some(Error::UnsupportedVersion {
            found: 7,
            supported: sdt_core::blob::VERSION
        })
    );
}

#[test]
fn absurd_dimensions() {
    let mut b = tiny_model(1, AttentionOrder::QkThenV);
    let id = b.tensor(TensorKind::Spikes, u16::MAX, u16::MAX, u16::MAX);
    assert_eq!(rejection(&b), Error::BadTensor { tensor: id });
    let mut b = tiny_model(1, AttentionOrder::QkThenV);
    let id = b.tensor(TensorKind::Fixed { frac: 0 }, 3, 0, 3);
    assert_eq!(rejection(&b), Error::BadTensor { tensor: id });
    let mut b = tiny_model(1, AttentionOrder::QkThenV);
    let id = b.tensor(TensorKind::Fixed { frac: 31 }, 1, 1, 1);
    assert_eq!(rejection(&b), Error::BadTensor { tensor: id });
}

/// Replaces the weight or affine section of node `node` (a conv or encode).
fn patch_section(b: &mut Builder, node: usize, affine: bool, f: impl Fn(Section) -> Section) {
    let op = &mut b.graph.nodes[node].op;
    if let Some(s) = op.synapse_mut() {
        let s = if affine {
            &mut s.affine
        } else {
            &mut s.weights
        };
        *s = f(*s);
    } else if let Op::Attention { affine: a, .. } = op {
        *a = f(*a);
    } else {
        panic!("no sections: {op:?}");
    }
}

#[test]
fn sections_out_of_range() {
    let data_len = tiny_model(1, AttentionOrder::QkThenV).data.len() as u32;
    type Patch = fn(Section, u32) -> Section;
    let cases: [(usize, bool, Patch); 9] = [
        (2, false, |s, n| Section { offset: n, ..s }),
        // Node 2 has packed 4-bit weights: one byte more or less than half the weights.
        (2, false, |s, _| Section {
            len: s.len + 1,
            ..s
        }),
        (2, false, |s, _| Section {
            len: s.len - 1,
            ..s
        }),
        (3, false, |s, _| Section {
            len: s.len + 1,
            ..s
        }),
        (3, false, |s, _| Section {
            len: s.len - 1,
            ..s
        }),
        (0, true, |_, _| Section {
            offset: u32::MAX,
            len: u32::MAX,
        }),
        (6, false, |s, _| Section {
            offset: s.offset + 1,
            ..s
        }), // odd i16 weights
        (4, true, |s, _| Section {
            offset: s.offset + 2,
            ..s
        }), // misaligned affine
        (5, true, |s, _| Section { len: 24, ..s }), // two attention maps
    ];
    for (node, affine, f) in cases {
        let mut b = tiny_model(1, AttentionOrder::QkThenV);
        patch_section(&mut b, node, affine, |s| f(s, data_len));
        assert_eq!(rejection(&b), Error::BadSection { node: node as u16 });
    }
}

#[test]
fn tensor_id_out_of_range() {
    let mut b = tiny_model(1, AttentionOrder::QkThenV);
    let n = b.graph.tensors.len() as u16;
    if let Op::Spike { output, .. } = &mut b.graph.nodes[1].op {
        *output = n + 5;
    }
    let want = Error::BadTensorId {
        node: 1,
        tensor: n + 5,
    };
    assert_eq!(rejection(&b), want);
    let mut b = tiny_model(1, AttentionOrder::QkThenV);
    b.graph.logits = u16::MAX;
    assert!(matches!(rejection(&b), Error::BadTensorId { .. }));
}

/// A node reading one tensor twice (here attention's `q` as `k` too) is rejected: every
/// operand gets its own view of the arena (the blob fuzzer found one that loaded, then failed
/// to run).
#[test]
fn one_tensor_read_twice() {
    for order in [AttentionOrder::QkThenV, AttentionOrder::KvFirst] {
        let mut b = tiny_model(1, order);
        let node = b
            .graph
            .nodes
            .iter()
            .position(|n| matches!(n.op, Op::Attention { .. }))
            .expect("tiny model has attention");
        if let Op::Attention { q, k, .. } = &mut b.graph.nodes[node].op {
            *k = *q;
        }
        assert_eq!(rejection(&b), Error::ShapeMismatch { node: node as u16 });
    }
}

#[test]
fn read_before_write() {
    let mut b = tiny_model(1, AttentionOrder::QkThenV);
    b.graph.nodes.swap(1, 2); // the q conv now reads spikes the Spike node writes later
    let s = sdt_core::model::node_io(&b.graph.nodes[2].op).1;
    assert_eq!(rejection(&b), Error::ReadBeforeWrite { node: 1, tensor: s });
}

#[test]
fn kernel_larger_than_15() {
    for (k, ok) in [(15u8, true), (17, false)] {
        let mut rng = Rng::new(4);
        let mut b = Builder::new(2);
        let x = b.input(k as u16, k as u16, &[0]);
        let r = b.fixed(1, 1, 3, 0);
        let g = geom(k, 1, 0, 1, 3, false);
        let w = Weights::random(&mut rng, WeightBits::I8, g.weight_count(), 5);
        b.conv(x, r, g, &w, &fixed_affines(&mut rng, 3), None);
        b.head(&mut rng, r, 2);
        if ok {
            load_and_run(b.blob().bytes()).expect("kernel 15 is supported");
        } else {
            assert_eq!(rejection(&b), Error::Unsupported { node: 0 });
        }
    }
}

#[test]
fn heads_must_divide_channels() {
    for heads in [0u16, 3, 5] {
        let mut b = tiny_model(1, AttentionOrder::QkThenV);
        if let Op::Attention { heads: h, .. } = &mut b.graph.nodes[5].op {
            *h = heads;
        }
        assert_eq!(rejection(&b), Error::Unsupported { node: 5 });
    }
}

/// `inputs` spike channels (D = 15) into one output through int16 weights all 32767.
fn wide_sum(inputs: u16) -> Builder {
    let mut rng = Rng::new(5);
    let mut b = Builder::new(15);
    let x = b.input(1, 1, &[0]);
    let r = b.fixed(1, 1, inputs, 0);
    let g = geom(1, 1, 0, 1, inputs, false);
    let w = Weights::random(&mut rng, WeightBits::I8, g.weight_count(), 1);
    b.conv(x, r, g, &w, &fixed_affines(&mut rng, inputs), None);
    let s = b.spikes(1, 1, inputs);
    b.node(Op::Spike {
        input: r,
        output: s,
    });
    let logits = b.fixed(1, 1, 1, 0);
    let g = geom(1, 1, 0, inputs, 1, false);
    let w = Weights::constant(WeightBits::I16, g.weight_count(), i16::MAX);
    let a = [sdt_core::fixed::Affine::new(1, 0, 0)];
    b.conv(s, logits, g, &w, &a, Some(ConvOutput::Write));
    b.graph.logits = logits;
    b
}

#[test]
fn accumulator_bound_exceeds_i32() {
    // 32767 · 15 · n ≤ i32::MAX exactly for n ≤ 4369.
    for n in [4096, 4369] {
        let blob = wide_sum(n).blob();
        load_and_run(blob.bytes()).expect("in range");
    }
    assert_eq!(rejection(&wide_sum(4370)), Error::Overflow { node: 2 });
    assert_eq!(rejection(&wide_sum(8192)), Error::Overflow { node: 2 });
}

/// One head of width 16 over `tokens` tokens, D = 15, q = k = v.
fn long_attention(tokens: u16) -> Builder {
    let mut rng = Rng::new(6);
    let mut b = Builder::new(15);
    let x = b.input(1, tokens, &[0]);
    let r = b.fixed(1, tokens, 16, 0);
    let g = geom(1, 1, 0, 1, 16, false);
    let w = Weights::random(&mut rng, WeightBits::I8, 16, 127);
    b.conv(x, r, g, &w, &fixed_affines(&mut rng, 16), None);
    // q, k and v: three tensors (a node may not read one twice).
    let [q, k, v] = [(); 3].map(|_| {
        let s = b.spikes(1, tokens, 16);
        b.node(Op::Spike {
            input: r,
            output: s,
        });
        s
    });
    let o = b.spikes(1, tokens, 16);
    let affine = b.affine(&[sdt_core::fixed::Affine::new(1, 20, 0)]);
    b.node(Op::Attention {
        q,
        k,
        v,
        output: o,
        heads: 1,
        order: AttentionOrder::KvFirst,
        affine,
        frac: 0,
    });
    b.head(&mut rng, r, 2);
    b
}

#[test]
fn attention_token_count_overflow() {
    // |q kᵀ v| ≤ 16 · 15³ · N ≤ i32::MAX exactly for N ≤ 39768.
    assert!(long_attention(39768).blob().model().is_ok());
    assert_eq!(
        rejection(&long_attention(39769)),
        Error::Overflow { node: 4 }
    );
    assert_eq!(
        rejection(&long_attention(65535)),
        Error::Overflow { node: 4 }
    );
}

#[test]
fn misaligned_blob() {
    let blob = valid();
    let mut buf = vec![0u128; blob.bytes().len() / 16 + 2];
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut buf);
    for offset in [1usize, 2, 3, 4, 8] {
        let dst = &mut bytes[offset..offset + blob.bytes().len()];
        dst.copy_from_slice(blob.bytes());
        let r = Model::from_blob(dst).err();
        if offset % 4 == 0 {
            assert_eq!(r, None, "offset {offset}");
        } else {
            assert_eq!(
                r,
                Some(Error::Misaligned { required: 4 }),
                "offset {offset}"
            );
        }
    }
}

#[test]
fn arena_too_small() {
    let blob = valid();
    let model = blob.model().unwrap();
    let need = sdt_core::arena_bytes(&model, 1).unwrap();
    let mut buf = vec![0u128; need / 16 + 2];
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut buf);
    // `arena_bytes` is enough at any alignment.
    for skew in 0..16 {
        assert!(Session::new(&model, &mut bytes[skew..skew + need], 1).is_ok());
    }
    let plan = Session::new(&model, &mut bytes[..need], 1)
        .unwrap()
        .plan()
        .bytes;
    // One byte short of what the plan needs after aligning the start.
    for (skew, len) in [(0, plan - 1), (1, plan + 14), (15, plan)] {
        let r = Session::new(&model, &mut bytes[skew..skew + len], 1).err();
        assert!(
            matches!(r, Some(Error::ArenaTooSmall { .. })),
            "{skew} {len}"
        );
    }
    let r = Session::new(&model, &mut [], 1).err();
    assert!(matches!(r, Some(Error::ArenaTooSmall { .. })));
}

#[test]
fn wrong_input_and_node_range() {
    let blob = valid();
    let model = blob.model().unwrap();
    let mut arena = vec![0u8; sdt_core::arena_bytes(&model, 1).unwrap()];
    let mut s = Session::new(&model, &mut arena, 1).unwrap();
    let n = model.input_len();
    assert_eq!(n, 72);
    for len in [0, n - 1, n + 1] {
        let x = vec![0i8; len];
        let want = Error::InputLength {
            expected: n,
            found: len,
        };
        assert_eq!(s.set_input(Input::I8(&x)), Err(want));
    }
    let wide = vec![0i16; n];
    assert!(matches!(
        s.set_input(Input::I16(&wide)),
        Err(Error::InputLength { .. })
    ));
    assert_eq!(s.set_input(Input::I8(&vec![1; n])), Ok(()));
    let nodes = model.nodes().len();
    let r = s.run_nodes(0..nodes + 1, Kernel::Dense, &Sequential, None);
    assert_eq!(r, Err(Error::BadNodeRange));
    assert!(s.run(Kernel::Dense, &Sequential, None).is_ok());
    for workers in [0, sdt_core::plan::MAX_WORKERS + 1] {
        let want = Error::BadWorkerCount {
            workers,
            max: sdt_core::plan::MAX_WORKERS,
        };
        assert_eq!(
            sdt_core::plan::Plan::new(model.graph(), workers).err(),
            Some(want)
        );
    }
}

/// With `SDT_FUZZ_SEED_DIR` set, writes valid blobs there to seed the fuzzer's corpus.
#[test]
fn fuzz_seeds() {
    let dir = std::env::var_os("SDT_FUZZ_SEED_DIR");
    for (i, order) in [AttentionOrder::QkThenV, AttentionOrder::KvFirst]
        .into_iter()
        .enumerate()
    {
        let blob = tiny_model(10 + i as u64, order).blob();
        load_and_run(blob.bytes()).expect("seed must load");
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir).unwrap();
            let path = std::path::Path::new(dir).join(format!("tiny-{i}.blob"));
            std::fs::write(path, blob.bytes()).unwrap();
        }
    }
    let blob = wide_sum(8).blob();
    load_and_run(blob.bytes()).expect("seed must load");
    if let Some(dir) = &dir {
        std::fs::write(std::path::Path::new(dir).join("wide.blob"), blob.bytes()).unwrap();
    }
}
