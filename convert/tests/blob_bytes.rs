//! The blob format is fixed: the bundled blobs (written by earlier converters) load into a
//! graph and write back byte for byte, so changes to the graph types (grouped fields) keep
//! every blob readable and every written blob identical.

use sdt_core::graph::Op;
use sdt_host::AlignedBlob;

#[test]
fn bundled_blobs_rewrite_byte_identical() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "blob") {
            continue;
        }
        let blob = AlignedBlob::read(&path).unwrap();
        blob.model()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let raw = sdt_core::blob::parse(blob.bytes()).unwrap();
        assert!(
            raw.graph
                .nodes
                .iter()
                .any(|n| matches!(n.op, Op::Encode(_)))
                && raw
                    .graph
                    .nodes
                    .iter()
                    .any(|n| matches!(n.op, Op::Conv { .. })),
            "{}: expected encoding and convolution nodes",
            path.display()
        );
        let mut out = vec![0u8; blob.len() + 64];
        let n = sdt_core::blob::write(&raw.graph, raw.data, &mut out).unwrap();
        assert_eq!(n, blob.len(), "{}", path.display());
        assert!(
            out[..n] == *blob.bytes(),
            "{}: rewritten bytes differ",
            path.display()
        );
        checked += 1;
    }
    assert_eq!(checked, 2, "the two bundled blobs in {}", dir.display());
}
