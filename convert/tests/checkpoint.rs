//! Checkpoint reader: golden checkpoints, hand-built archives and hostile inputs.
//!
//! Golden files are read from `SDT_GOLDEN_DIR` (the shared `golden` folder).

use std::io::{Cursor, Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use sdt_convert::checkpoint::{
    load, load_pth_bytes, load_safetensors_bytes, ArgValue, Checkpoint, CheckpointError,
};

mod support;
use support::pickle::{zip_archive, Pickle};

// --- golden files --------------------------------------------------------------------------

fn golden(name: &str) -> PathBuf {
    sdt_host::data::DataDir::Golden.require(name)
}

fn is_bn_stat(name: &str) -> bool {
    name.ends_with(".running_mean")
        || name.ends_with(".running_var")
        || name.ends_with(".num_batches_tracked")
}

#[test]
fn digits_pth_and_safetensors_agree_bit_for_bit() {
    let pth = load(&golden("sdt_digits32_seed1.pth")).expect("digits .pth loads");
    let st = load(&golden("sdt_digits32_seed1.safetensors")).expect("digits .safetensors loads");

    let pth_names: Vec<_> = pth.tensors.keys().collect();
    let st_names: Vec<_> = st.tensors.keys().collect();
    assert_eq!(pth_names, st_names, "state dict keys differ");
    assert_eq!(pth.tensors.len(), 605);
    for (name, a) in &pth.tensors {
        let b = &st.tensors[name];
        assert_eq!(a.shape, b.shape, "shape of {name}");
        let same = a
            .data
            .iter()
            .zip(&b.data)
            .all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same && a.data.len() == b.data.len(), "values of {name}");
    }

    let learnable: usize = pth
        .tensors
        .iter()
        .filter(|(name, _)| !is_bn_stat(name))
        .map(|(_, t)| t.numel())
        .sum();
    assert_eq!(
        learnable, 1_250_858,
        "parameter count from the golden README"
    );

    assert!(!pth.args.is_empty(), "the .pth has an argparse Namespace");
    for (key, value) in pth.args.iter().take(5) {
        println!("args.{key} = {value:?}");
    }
    assert_eq!(pth.args.get("seed"), Some(&ArgValue::Int(1)));
    assert_eq!(
        pth.args.get("dims"),
        Some(&ArgValue::List(
            [16, 32, 64, 96].map(ArgValue::Int).to_vec()
        ))
    );
    assert!(st.args.is_empty());
    pth.check_finite().expect("trained weights are finite");
}

#[test]
fn sdt_m_checkpoint_has_the_published_parameter_count() {
    let ckpt = load(&golden("sdt_m_224_seed1.pth")).expect("SDT-10M .pth loads");
    // The README's 10,023,112 counts learnable parameters: BatchNorm running statistics and
    // `num_batches_tracked` are buffers, not parameters.
    let learnable: usize = ckpt
        .tensors
        .iter()
        .filter(|(name, _)| !is_bn_stat(name))
        .map(|(_, t)| t.numel())
        .sum();
    assert_eq!(learnable, 10_023_112);
    ckpt.expect_shape("downsample1_1.encode_conv.weight", &[24, 3, 7, 7])
        .expect("stem conv shape");
    ckpt.expect_shape("head.weight", &[1000, 240])
        .expect("head shape");
    assert_eq!(
        ckpt.args.get("model"),
        Some(&ArgValue::Str("Efficient_Spiking_Transformer_m".into()))
    );
    ckpt.check_finite().expect("random init is finite");
}

// --- building small archives -----------------------------------------------------------------

/// One state dict entry: a view of a storage, rebuilt by `rebuild` (module, name).
struct Entry {
    name: &'static str,
    storage: (&'static str, &'static str, i64), // key, torch storage class, numel
    offset: i64,
    shape: Vec<i64>,
    stride: Vec<i64>,
    rebuild: (&'static str, &'static str),
}

impl Entry {
    fn new(name: &'static str, key: &'static str, numel: i64, shape: &[i64]) -> Self {
        let mut stride = vec![1; shape.len()];
        for d in (0..shape.len().saturating_sub(1)).rev() {
            stride[d] = stride[d + 1] * shape[d + 1];
        }
        Entry {
            name,
            storage: (key, "FloatStorage", numel),
            offset: 0,
            shape: shape.to_vec(),
            stride,
            rebuild: ("torch._utils", "_rebuild_tensor_v2"),
        }
    }
}

/// `{"model": {entries}, "epoch": 3, "args": Namespace(lr=0.5, name='tiny', dims=[1, 2],
/// flag=True, extra=None)}` as `torch.save` pickles it.
fn checkpoint_pickle(entries: &[Entry]) -> Vec<u8> {
    let mut p = Pickle::default();
    p.op(&[0x80, 2]).op(b"}q\x00(").str("model").op(b"}(");
    for e in entries {
        p.str(e.name).global(e.rebuild.0, e.rebuild.1).op(b"((");
        p.str("storage")
            .global("torch", e.storage.1)
            .str(e.storage.0);
        p.str("cpu").int(e.storage.2).op(b"tQ");
        p.int(e.offset).ints(&e.shape).ints(&e.stride).op(&[0x89]);
        p.global("collections", "OrderedDict").op(b")R").op(b"tR");
    }
    p.op(b"u").str("epoch").int(3).str("args");
    p.global("argparse", "Namespace").op(b")\x81}(");
    p.str("lr").op(b"G").op(&0.5f64.to_be_bytes());
    p.str("name").str("tiny");
    p.str("dims").op(b"](").int(1).int(2).op(b"e");
    p.str("flag").op(&[0x88]).str("extra").op(b"N");
    p.op(b"ub").op(b"u.");
    p.0
}

/// A `torch.save`-style zip archive from a pickle and `(key, bytes)` storages.
fn archive(pickle: &[u8], storages: &[(&str, Vec<u8>)]) -> Vec<u8> {
    zip_archive("tiny", pickle, storages.iter().map(|(k, b)| (*k, &b[..])))
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Storage 0: six f32 (0..6); storage 1: two i64; `t` is the transpose of `w`.
fn tiny_entries() -> Vec<Entry> {
    let mut t = Entry::new("w.t", "0", 6, &[3, 2]);
    t.stride = vec![1, 3];
    let mut c = Entry::new("count", "1", 2, &[2]);
    c.storage.1 = "LongStorage";
    let mut tail = Entry::new("tail", "0", 6, &[2]);
    tail.offset = 4;
    vec![Entry::new("w", "0", 6, &[2, 3]), t, c, tail]
}

fn tiny_storages() -> Vec<(&'static str, Vec<u8>)> {
    let longs = [7i64, -2].iter().flat_map(|v| v.to_le_bytes()).collect();
    vec![("0", f32_bytes(&[0., 1., 2., 3., 4., 5.])), ("1", longs)]
}

fn tiny_pth() -> Vec<u8> {
    archive(&checkpoint_pickle(&tiny_entries()), &tiny_storages())
}

/// Runs a loader, turning a panic into a test failure that names the input.
fn no_panic<T>(what: &str, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| panic!("loader panicked on {what}"))
}

#[test]
fn tiny_checkpoint_reads_views_dtypes_and_args() {
    let ckpt = load_pth_bytes(&tiny_pth()).expect("tiny checkpoint loads");
    assert_eq!(ckpt.get("w").unwrap().data, [0., 1., 2., 3., 4., 5.]);
    let t = ckpt.expect_shape("w.t", &[3, 2]).expect("transposed view");
    assert_eq!(t.data, [0., 3., 1., 4., 2., 5.]);
    assert_eq!(ckpt.get("tail").unwrap().data, [4., 5.]);
    assert_eq!(ckpt.get("count").unwrap().data, [7., -2.]);
    assert_eq!(ckpt.args.get("lr"), Some(&ArgValue::Float(0.5)));
    assert_eq!(ckpt.args.get("name"), Some(&ArgValue::Str("tiny".into())));
    assert_eq!(
        ckpt.args.get("dims"),
        Some(&ArgValue::List(vec![ArgValue::Int(1), ArgValue::Int(2)]))
    );
    assert_eq!(ckpt.args.get("flag"), Some(&ArgValue::Bool(true)));
    assert_eq!(ckpt.args.get("extra"), Some(&ArgValue::None));
}

#[test]
fn get_and_expect_shape_name_the_tensor() {
    let ckpt = load_pth_bytes(&tiny_pth()).expect("tiny checkpoint loads");
    match ckpt.get("nope") {
        Err(e @ CheckpointError::MissingTensor { .. }) => {
            assert!(e.to_string().contains("nope"), "{e}")
        }
        other => panic!("expected MissingTensor, got {other:?}"),
    }
    match ckpt.expect_shape("w", &[3, 2]) {
        Err(CheckpointError::ShapeMismatch {
            name,
            expected,
            found,
        }) => {
            assert_eq!(
                (name.as_str(), expected, found),
                ("w", vec![3, 2], vec![2, 3])
            );
        }
        other => panic!("expected ShapeMismatch, got {other:?}"),
    }
}

#[test]
fn nan_is_reported_with_name_and_index() {
    let mut storages = tiny_storages();
    storages[0].1 = f32_bytes(&[0., 1., 2., 3., f32::NAN, 5.]);
    let ckpt = load_pth_bytes(&archive(&checkpoint_pickle(&tiny_entries()), &storages))
        .expect("NaN still loads");
    // Names are checked in order: "count", "tail" (NaN at its index 0), then "w"...
    match ckpt.check_finite() {
        Err(CheckpointError::NonFinite { name, index }) => {
            assert_eq!((name.as_str(), index), ("tail", 0))
        }
        other => panic!("expected NonFinite, got {other:?}"),
    }
    let only_w = Checkpoint {
        tensors: [("w".to_string(), ckpt.get("w").unwrap().clone())].into(),
        ..Default::default()
    };
    assert!(matches!(
        only_w.check_finite(),
        Err(CheckpointError::NonFinite { ref name, index: 4 }) if name == "w"
    ));
}

#[test]
fn bare_and_state_dict_layouts_are_accepted() {
    // {"state_dict": {...}} and a bare {name: tensor} dict.
    for wrapper in [Some("state_dict"), None] {
        let mut p = Pickle::default();
        p.op(&[0x80, 2]).op(b"}(");
        if let Some(key) = wrapper {
            p.str(key).op(b"}(");
        }
        p.str("x")
            .global("torch._utils", "_rebuild_tensor_v2")
            .op(b"((");
        p.str("storage").global("torch", "FloatStorage").str("0");
        p.str("cpu")
            .int(2)
            .op(b"tQ")
            .int(0)
            .ints(&[2])
            .ints(&[1])
            .op(&[0x89]);
        p.op(b"}tR");
        p.op(if wrapper.is_some() {
            &b"uu."[..]
        } else {
            b"u."
        });
        let bytes = archive(&p.0, &[("0", f32_bytes(&[1.5, -2.0]))]);
        let ckpt = load_pth_bytes(&bytes).expect("layout accepted");
        assert_eq!(ckpt.get("x").unwrap().data, [1.5, -2.0], "{wrapper:?}");
        assert!(ckpt.args.is_empty());
    }
}

// --- hostile inputs ----------------------------------------------------------------------

#[test]
fn every_truncation_of_a_small_pth_is_an_error() {
    let full = tiny_pth();
    for len in 0..full.len() {
        let result = no_panic(&format!("archive cut at {len}"), || {
            load_pth_bytes(&full[..len])
        });
        assert!(result.is_err(), "archive cut at {len} bytes loaded");
    }
    let pickle = checkpoint_pickle(&tiny_entries());
    for len in 0..pickle.len() {
        let bytes = archive(&pickle[..len], &tiny_storages());
        let result = no_panic(&format!("pickle cut at {len}"), || load_pth_bytes(&bytes));
        assert!(result.is_err(), "pickle cut at {len} bytes loaded");
    }
}

#[test]
fn truncated_golden_pth_is_an_error() {
    let file = std::fs::read(golden("sdt_digits32_seed1.pth")).expect("read digits .pth");
    let step = file.len() / 200;
    for i in 0..200 {
        let len = i * step + i % 7;
        let result = no_panic(&format!("digits .pth cut at {len}"), || {
            load_pth_bytes(&file[..len])
        });
        assert!(result.is_err(), "digits .pth cut at {len} bytes loaded");
    }
}

/// A small xorshift generator: deterministic and dependency-free.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn byte_flips_in_the_pickle_never_panic() {
    let pickle = checkpoint_pickle(&tiny_entries());
    let storages = tiny_storages();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut errors = 0;
    for round in 0..600 {
        let mut bad = pickle.clone();
        for _ in 0..1 + round % 3 {
            let at = rng.below(bad.len());
            bad[at] ^= 1 << rng.below(8);
        }
        let bytes = archive(&bad, &storages);
        let result = no_panic(&format!("flip round {round}"), || load_pth_bytes(&bytes));
        errors += usize::from(result.is_err());
    }
    assert!(
        errors > 100,
        "only {errors} of 600 corrupted pickles were refused"
    );
}

#[test]
fn byte_flips_in_the_golden_pickle_never_panic() {
    let file = std::fs::read(golden("sdt_digits32_seed1.pth")).expect("read digits .pth");
    let mut zip = zip::ZipArchive::new(Cursor::new(&file)).expect("golden zip");
    let mut entries = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).expect("entry");
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).expect("entry bytes");
        entries.push((entry.name().to_owned(), bytes));
    }
    let pkl = entries
        .iter()
        .position(|(n, _)| n.ends_with("/data.pkl"))
        .expect("data.pkl");
    let mut rng = Rng(42);
    for round in 0..30 {
        let mut entries = entries.clone();
        let pickle = &mut entries[pkl].1;
        for _ in 0..4 {
            let at = rng.below(pickle.len());
            pickle[at] = rng.next() as u8;
        }
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (name, bytes) in &entries {
            out.start_file(name.as_str(), opts).expect("entry");
            out.write_all(bytes).expect("write");
        }
        let bytes = out.finish().expect("finish").into_inner();
        let _ = no_panic(&format!("golden flip round {round}"), || {
            load_pth_bytes(&bytes)
        });
    }
}

#[test]
fn unknown_global_in_tensor_position_is_not_a_tensor() {
    let mut entries = tiny_entries();
    entries[0].rebuild = ("os", "system");
    let bytes = archive(&checkpoint_pickle(&entries), &tiny_storages());
    match load_pth_bytes(&bytes) {
        Err(e @ CheckpointError::NotATensor { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("w") && msg.contains("os.system"), "{msg}");
        }
        other => panic!("expected NotATensor, got {other:?}"),
    }
}

#[test]
fn view_past_its_storage_is_an_error() {
    let mut entries = tiny_entries();
    entries[0].shape = vec![4, 4];
    entries[0].stride = vec![4, 1];
    let bytes = archive(&checkpoint_pickle(&entries), &tiny_storages());
    match no_panic("oversized view", || load_pth_bytes(&bytes)) {
        Err(CheckpointError::OutOfBounds {
            name, needed: 15, ..
        }) => assert_eq!(name, "w"),
        other => panic!("expected OutOfBounds, got {other:?}"),
    }
}

#[test]
fn hostile_sizes_are_errors_not_allocations() {
    // A storage claiming 2^60 elements.
    let mut entries = tiny_entries();
    entries[2].storage.2 = 1 << 60;
    let bytes = archive(&checkpoint_pickle(&entries), &tiny_storages());
    let result = no_panic("huge numel", || load_pth_bytes(&bytes));
    assert!(
        matches!(result, Err(CheckpointError::StorageSize { .. })),
        "{result:?}"
    );

    // A broadcast view (stride 0) with 2^80 elements.
    let mut entries = tiny_entries();
    entries[0].shape = vec![1 << 40, 1 << 40];
    entries[0].stride = vec![0, 0];
    let bytes = archive(&checkpoint_pickle(&entries), &tiny_storages());
    let result = no_panic("huge shape", || load_pth_bytes(&bytes));
    assert!(
        matches!(result, Err(CheckpointError::TooLarge { .. })),
        "{result:?}"
    );

    // Negative stride and a missing storage entry.
    let mut entries = tiny_entries();
    entries[0].stride = vec![-3, 1];
    let bytes = archive(&checkpoint_pickle(&entries), &tiny_storages());
    let result = no_panic("negative stride", || load_pth_bytes(&bytes));
    assert!(
        matches!(result, Err(CheckpointError::Pickle(_))),
        "{result:?}"
    );
    let bytes = archive(&checkpoint_pickle(&tiny_entries()), &tiny_storages()[..1]);
    let result = no_panic("missing storage", || load_pth_bytes(&bytes));
    assert!(
        matches!(result, Err(CheckpointError::MissingStorage { ref key, .. }) if key == "1"),
        "{result:?}"
    );

    // A string claiming 4 GiB, and a memo read of a slot never written.
    for pickle in [
        &b"\x80\x02X\xff\xff\xff\xff"[..],
        b"\x80\x02j\xff\xff\xff\x7f.",
    ] {
        let bytes = archive(pickle, &[]);
        let result = no_panic("hostile pickle", || load_pth_bytes(&bytes));
        assert!(
            matches!(result, Err(CheckpointError::Pickle(_))),
            "{result:?}"
        );
    }
}

/// A safetensors file from a JSON header and a data section.
fn safetensors(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn safetensors_reads_and_refuses_bad_offsets() {
    let ok = safetensors(
        r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"h":{"dtype":"BF16","shape":[1],"data_offsets":[8,10]}}"#,
        &[f32_bytes(&[1.0, -3.5]), vec![0x80, 0x3f]].concat(),
    );
    let ckpt = load_safetensors_bytes(&ok).expect("valid safetensors");
    assert_eq!(ckpt.get("w").unwrap().data, [1.0, -3.5]);
    assert_eq!(ckpt.get("h").unwrap().data, [1.0]);

    let out_of_range = safetensors(
        r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,800]}}"#,
        &f32_bytes(&[1.0, 2.0]),
    );
    let result = no_panic("offset out of range", || {
        load_safetensors_bytes(&out_of_range)
    });
    assert!(
        matches!(result, Err(CheckpointError::Safetensors(_))),
        "{result:?}"
    );

    let mut huge_header = ok.clone();
    huge_header[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    let result = no_panic("header length", || load_safetensors_bytes(&huge_header));
    assert!(
        matches!(result, Err(CheckpointError::Safetensors(_))),
        "{result:?}"
    );

    for len in 0..ok.len() {
        let result = no_panic("cut safetensors", || load_safetensors_bytes(&ok[..len]));
        assert!(result.is_err(), "safetensors cut at {len} loaded");
    }
}

#[test]
fn load_names_a_missing_file() {
    let path = std::env::temp_dir().join("sdt-no-such-checkpoint.pth");
    match load(&path) {
        Err(e @ CheckpointError::Io { .. }) => {
            assert!(e.to_string().contains("sdt-no-such-checkpoint"), "{e}")
        }
        other => panic!("expected Io, got {other:?}"),
    }
}
