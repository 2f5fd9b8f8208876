//! The memory `sdt-convert inspect` reports is the memory a session needs: for every bundled
//! blob, a buffer of `arena_bytes` at the worst alignment runs, an aligned buffer of
//! `arena_aligned_bytes` runs and one byte less is refused, and `kept_thresholds_bytes` are
//! exactly what `Session::keep_thresholds` takes.

use std::path::{Path, PathBuf};

use sdt_core::{Kernel, Sequential, Session};
use sdt_host::AlignedBlob;

fn bundled_blobs() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data");
    let mut blobs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "blob"))
        .collect();
    blobs.sort();
    assert!(
        blobs.len() >= 2,
        "bundled blobs missing in {}",
        dir.display()
    );
    blobs
}

fn field(summary: &serde_json::Value, key: &str) -> usize {
    summary[key]
        .as_u64()
        .unwrap_or_else(|| panic!("inspect has no {key}: {summary}")) as usize
}

/// A `len`-byte slice of `buf` starting `offset` bytes past an `align` boundary.
fn at_offset(buf: &mut [u8], align: usize, offset: usize, len: usize) -> &mut [u8] {
    let start = buf.as_ptr().align_offset(align) + offset;
    &mut buf[start..start + len]
}

#[test]
fn inspect_reports_the_memory_a_session_needs() {
    for path in bundled_blobs() {
        let name = path.display();
        let blob = AlignedBlob::read(&path).unwrap();
        let model = blob.model().unwrap();
        let summary = sdt_convert::inspect::summary(&model, blob.bytes().len()).unwrap();
        let (any, aligned, align, kept) = (
            field(&summary, "arena_bytes"),
            field(&summary, "arena_aligned_bytes"),
            field(&summary, "arena_align"),
            field(&summary, "kept_thresholds_bytes"),
        );
        assert_eq!(any, sdt_core::arena_bytes(&model, 1).unwrap(), "{name}");
        assert!(aligned < any && any < aligned + align, "{name}: {summary}");
        assert!(kept > 0 && kept % 4 == 0, "{name}: {kept}");

        let mut buf = vec![0u8; any + 2 * align];
        // The worst start: one byte past an aligned address.
        let worst = at_offset(&mut buf, align, 1, any);
        let mut session =
            Session::new(&model, worst, 1).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let mut tables = vec![0i32; kept / 4];
        session
            .keep_thresholds(&mut tables)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        session
            .run(Kernel::SpikeDriven, &Sequential, None)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));

        let mut buf = vec![0u8; any + 2 * align];
        assert!(
            Session::new(&model, at_offset(&mut buf, align, 0, aligned), 1).is_ok(),
            "{name}"
        );
        assert!(
            Session::new(&model, at_offset(&mut buf, align, 0, aligned - 1), 1).is_err(),
            "{name}: an aligned arena of arena_aligned_bytes - 1 was accepted"
        );
        let mut short = vec![0i32; kept / 4 - 1];
        let mut session = Session::new(&model, &mut buf, 1).unwrap();
        assert!(session.keep_thresholds(&mut short).is_err(), "{name}");
    }
}
