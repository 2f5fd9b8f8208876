//! Writing `torch.save` output by hand: a protocol-2 pickle opcode by opcode, and the zip
//! archive around it.

use std::io::{Cursor, Write};

/// A protocol-2 pickle written opcode by opcode.
#[derive(Default)]
pub struct Pickle(pub Vec<u8>);

impl Pickle {
    pub fn op(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.extend_from_slice(bytes);
        self
    }

    pub fn str(&mut self, s: &str) -> &mut Self {
        self.op(b"X")
            .op(&(s.len() as u32).to_le_bytes())
            .op(s.as_bytes())
    }

    pub fn int(&mut self, v: i64) -> &mut Self {
        self.op(&[0x8a, 8]).op(&v.to_le_bytes())
    }

    pub fn global(&mut self, module: &str, name: &str) -> &mut Self {
        self.op(b"c")
            .op(module.as_bytes())
            .op(b"\n")
            .op(name.as_bytes())
            .op(b"\n")
    }

    /// A tuple of integers (shapes, strides).
    pub fn ints<T: Copy + TryInto<i64>>(&mut self, values: &[T]) -> &mut Self {
        self.op(b"(");
        for &v in values {
            let Ok(v) = v.try_into() else {
                panic!("test value does not fit i64")
            };
            self.int(v);
        }
        self.op(b"t")
    }
}

/// A `torch.save` zip archive: `<root>/data.pkl`, `<root>/byteorder`, `<root>/data/<key>` for
/// each storage and `<root>/version`, stored uncompressed as torch writes them.
pub fn zip_archive<'a>(
    root: &str,
    pickle: &[u8],
    storages: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut put = |name: String, bytes: &[u8]| {
        zip.start_file(name, opts).expect("zip entry");
        zip.write_all(bytes).expect("zip write");
    };
    put(format!("{root}/data.pkl"), pickle);
    put(format!("{root}/byteorder"), b"little");
    for (key, bytes) in storages {
        put(format!("{root}/data/{key}"), bytes);
    }
    put(format!("{root}/version"), b"3\n");
    zip.finish().expect("zip finish").into_inner()
}
