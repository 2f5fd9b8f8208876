//! Writes state dicts the way `torch.save` does (zip archive or legacy stream), with container
//! keys and name prefixes, so tests can make every checkpoint shape from one golden model.

use sdt_convert::checkpoint::Checkpoint;

use super::pickle::{zip_archive, Pickle};

/// How floating-point tensors are stored (integer buffers stay `i64`, as `model.half()`
/// leaves them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    F32,
    F16,
    BF16,
}

/// Where the state dict sits and how its names are spelt.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    /// Container keys from the root down to the state dict.
    pub container: Vec<&'static str>,
    /// Put in front of every name (`module.` for DDP, `_orig_mod.` for `torch.compile`).
    pub prefix: &'static str,
}

fn is_integer_buffer(name: &str) -> bool {
    name.ends_with("num_batches_tracked")
}

/// The pickle of `{"epoch": 3, container...: {prefix + name: tensor}}` and its storages
/// (key, raw little-endian bytes). `legacy` adds the legacy persistent id's `view_metadata`.
/// (key, raw little-endian bytes, element count) of one storage.
type Storage = (String, Vec<u8>, usize);

fn pickle(
    ck: &Checkpoint,
    layout: &Layout,
    stored: Stored,
    legacy: bool,
) -> (Vec<u8>, Vec<Storage>) {
    let mut p = Pickle::default();
    let mut storages = Vec::new();
    p.op(&[0x80, 2]).op(b"}(");
    for key in &layout.container {
        p.str("epoch").int(3).str(key).op(b"}(");
    }
    for (i, (name, tensor)) in ck.tensors.iter().enumerate() {
        let key = i.to_string();
        let (class, bytes): (&str, Vec<u8>) = if is_integer_buffer(name) {
            let v = tensor.data.iter().flat_map(|&x| (x as i64).to_le_bytes());
            ("LongStorage", v.collect())
        } else {
            match stored {
                Stored::F32 => (
                    "FloatStorage",
                    tensor.data.iter().flat_map(|x| x.to_le_bytes()).collect(),
                ),
                Stored::F16 => (
                    "HalfStorage",
                    tensor
                        .data
                        .iter()
                        .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
                        .collect(),
                ),
                Stored::BF16 => (
                    "BFloat16Storage",
                    tensor
                        .data
                        .iter()
                        .flat_map(|&x| half::bf16::from_f32(x).to_le_bytes())
                        .collect(),
                ),
            }
        };
        let mut stride = vec![1; tensor.shape.len()];
        for d in (0..tensor.shape.len().saturating_sub(1)).rev() {
            stride[d] = stride[d + 1] * tensor.shape[d + 1];
        }
        p.str(&format!("{}{name}", layout.prefix))
            .global("torch._utils", "_rebuild_tensor_v2")
            .op(b"((");
        p.str("storage").global("torch", class).str(&key).str("cpu");
        p.int(tensor.numel() as i64);
        if legacy {
            p.op(b"N");
        }
        p.op(b"tQ")
            .int(0)
            .ints(&tensor.shape)
            .ints(&stride)
            .op(&[0x89]);
        p.global("collections", "OrderedDict").op(b")R").op(b"tR");
        storages.push((key, bytes, tensor.numel()));
    }
    for _ in &layout.container {
        p.op(b"u");
    }
    p.op(b"u.");
    (p.0, storages)
}

/// `torch.save(obj, f)`: a zip archive of `archive/data.pkl` and `archive/data/<key>`.
pub fn zip_save(ck: &Checkpoint, layout: &Layout, stored: Stored) -> Vec<u8> {
    let (pickle, storages) = pickle(ck, layout, stored, false);
    let storages = storages
        .iter()
        .map(|(key, bytes, _)| (key.as_str(), &bytes[..]));
    zip_archive("archive", &pickle, storages)
}

/// `torch.save(obj, f, _use_new_zipfile_serialization=False)`: magic number, protocol
/// version, system info, the object, the sorted storage keys, then each storage as its
/// element count (`i64`) and raw bytes.
pub fn legacy_save(ck: &Checkpoint, layout: &Layout, stored: Stored) -> Vec<u8> {
    let (object, mut storages) = pickle(ck, layout, stored, true);
    storages.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Vec::new();
    out.extend_from_slice(b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.");
    out.extend_from_slice(b"\x80\x02M\xe9\x03.");
    let mut info = Pickle::default();
    info.op(&[0x80, 2])
        .op(b"}(")
        .str("protocol_version")
        .op(b"M\xe9\x03");
    info.str("little_endian")
        .op(&[0x88])
        .str("type_sizes")
        .op(b"}(");
    info.str("short")
        .op(b"K\x02")
        .str("int")
        .op(b"K\x04")
        .str("long")
        .op(b"K\x04");
    info.op(b"uu.");
    out.extend_from_slice(&info.0);
    out.extend_from_slice(&object);
    let mut keys = Pickle::default();
    keys.op(&[0x80, 2]).op(b"](");
    for (key, _, _) in &storages {
        keys.str(key);
    }
    keys.op(b"e.");
    out.extend_from_slice(&keys.0);
    for (_, bytes, count) in &storages {
        out.extend_from_slice(&(*count as i64).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    out
}
