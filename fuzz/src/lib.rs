//! The fuzz harnesses, shared by the libFuzzer targets (`fuzz_targets/`, nightly) and the
//! regression test that replays the committed corpora (`tests/regressions.rs`, stable).

pub mod aedat4;
pub mod blob;
pub mod checkpoint;
pub mod events;

/// A harness: panics when `data` shows a bug.
pub type Harness = fn(&[u8]);

/// Every fuzz target by name (the names of `fuzz_targets/*.rs` and `regressions/*/`).
pub const TARGETS: [(&str, Harness); 10] = [
    ("blob", blob::run),
    ("pth", checkpoint::pth),
    ("safetensors", checkpoint::safetensors),
    ("events_aedat2", events::aedat2),
    ("events_aedat31", events::aedat31),
    ("events_aedat4", aedat4::run),
    ("events_dat", events::dat),
    ("events_evt2", events::evt2),
    ("events_evt3", events::evt3),
    ("events_nmnist", events::nmnist),
];
