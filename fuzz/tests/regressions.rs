//! Replays every committed fuzz input (`regressions/<target>/`: the minimized corpora of
//! `scripts/fuzz.sh`, crash inputs included) through its harness, on the stable toolchain.

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

#[test]
fn every_regression_input_passes_its_harness() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut failed = Vec::new();
    for (target, harness) in sdt_fuzz::TARGETS {
        let dir = root.join(target);
        let entries = fs::read_dir(&dir).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (make it with scripts/fuzz.sh --update-regressions {target})",
                dir.display()
            )
        });
        let mut count = 0;
        for entry in entries {
            let path = entry.expect("directory entry").path();
            let data = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if catch_unwind(AssertUnwindSafe(|| harness(&data))).is_err() {
                failed.push(path.display().to_string());
            }
            count += 1;
        }
        assert!(
            count > 0,
            "{target}: no regression inputs in {}",
            dir.display()
        );
        println!("{target}: {count} inputs");
    }
    assert!(
        failed.is_empty(),
        "inputs failing their harness:\n{}",
        failed.join("\n")
    );
}
