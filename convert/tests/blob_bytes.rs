//! The blob format is fixed: the bundled blobs (written by earlier converters) load into a
//! graph and metadata and write back byte for byte, so changes to the graph types (grouped
//! fields) keep every blob readable and every written blob identical. `annotate` adds
//! metadata to a blob and keeps its graph and weights byte for byte.

use std::path::{Path, PathBuf};

use sdt_convert::meta::{class_names, ClassNames};
use sdt_convert::{annotate, MetaOptions};
use sdt_core::graph::Op;
use sdt_core::meta::{BinLength, CountNormalization};
use sdt_host::AlignedBlob;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data")
}

#[test]
fn bundled_blobs_rewrite_byte_identical() {
    let dir = data_dir();
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
        assert!(raw.version >= 2, "{}: has metadata", path.display());
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
        let n = sdt_core::blob::write(&raw.graph, &raw.meta, raw.data, &mut out).unwrap();
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

fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize
}

/// The graph bytes and the data section of a blob.
fn graph_and_data(b: &[u8]) -> (&[u8], &[u8]) {
    let graph = &b[32..32 + u32_at(b, 12)];
    let data = &b[u32_at(b, 16)..u32_at(b, 16) + u32_at(b, 20)];
    (graph, data)
}

fn names(list: &str) -> ClassNames {
    ClassNames(class_names(list).unwrap())
}

fn gesture_options() -> MetaOptions {
    MetaOptions {
        name: Some("dvs_gesture".into()),
        class_names: Some(names(
            "hand_clap,right_hand_wave,left_hand_wave,right_arm_cw,right_arm_ccw,left_arm_cw,\
             left_arm_ccw,arm_roll,air_drums,air_guitar,other",
        )),
        bin_us: Some(50_000),
        bins: Some(8),
        hop: Some(4),
        sensor: Some((128, 128)),
        ..MetaOptions::default()
    }
}

/// The first released (version 1) blobs annotated: same graph and data bytes, and `annotate`
/// of the old blob with the documented flags gives the annotated blobs exactly (the bundled
/// digits blob, and the first gesture model kept beside its version 1 blob).
#[test]
fn annotate_keeps_graph_and_weights_byte_identical() {
    let dir = data_dir();
    let digits = MetaOptions {
        name: Some("digits32".into()),
        class_names: Some(names("0,1,2,3,4,5,6,7,8,9")),
        image_mean: Some(vec![0.5]),
        image_std: Some(vec![0.5]),
        ..MetaOptions::default()
    };
    for (name, annotated_path, opts) in [
        (
            "dvs_gesture_int8.blob",
            "v1/dvs_gesture_int8_annotated.blob",
            gesture_options(),
        ),
        ("digits32_int8.blob", "digits32_int8.blob", digits),
    ] {
        let old = AlignedBlob::read(&dir.join("v1").join(name)).unwrap();
        let annotated = annotate(&old, &opts).unwrap();
        assert_eq!(
            graph_and_data(annotated.bytes()),
            graph_and_data(old.bytes()),
            "{name}"
        );
        let bundled = AlignedBlob::read(&dir.join(annotated_path)).unwrap();
        assert!(
            annotated.bytes() == bundled.bytes(),
            "{name}: regenerate it"
        );
        // Annotating again with nothing changes nothing.
        let again = annotate(&annotated, &MetaOptions::default()).unwrap();
        assert!(again.bytes() == annotated.bytes(), "{name}");
    }
}

#[test]
fn annotate_overrides_only_what_is_given() {
    let bundled = AlignedBlob::read(&data_dir().join("dvs_gesture_int8.blob")).unwrap();
    let before = *bundled.model().unwrap().framing().unwrap();
    let opts = MetaOptions {
        bin_events: Some(2_000),
        bins: Some(8),
        hop: Some(8),
        ..MetaOptions::default()
    };
    let changed = annotate(&bundled, &opts).unwrap();
    let model = changed.model().unwrap();
    let f = model.framing().unwrap();
    assert_eq!((f.bin, f.bins, f.hop), (BinLength::Events(2_000), 8, 8));
    assert_eq!(
        (f.downsample, f.clip, f.polarity, f.sensor),
        (
            before.downsample,
            before.clip,
            before.polarity,
            before.sensor
        )
    );
    assert_eq!(model.class_name(1), Some("right_hand_wave"));
    assert_eq!(
        graph_and_data(changed.bytes()),
        graph_and_data(bundled.bytes())
    );
}

/// A count normalization makes a version 3 blob; removing it gives the version 2 blob back,
/// byte for byte.
#[test]
fn annotate_adds_and_removes_a_count_normalization() {
    let bundled = AlignedBlob::read(&data_dir().join("dvs_gesture_int8.blob")).unwrap();
    let without = annotate(
        &bundled,
        &MetaOptions {
            normalize_events: Some(0),
            ..MetaOptions::default()
        },
    )
    .unwrap();
    let lifted = annotate(
        &without,
        &MetaOptions {
            normalize_events: Some(1_500),
            normalize_max_gain: Some(3),
            ..MetaOptions::default()
        },
    )
    .unwrap();
    let version = |b: &AlignedBlob| sdt_core::blob::parse(b.bytes()).unwrap().version;
    assert_eq!((version(&without), version(&lifted)), (2, 3));
    let model = lifted.model().unwrap();
    let f = model.framing().unwrap();
    assert_eq!(
        f.normalize,
        Some(CountNormalization {
            events: 1_500,
            max_gain: 3
        })
    );
    assert_eq!(f.bin, without.model().unwrap().framing().unwrap().bin);
    assert_eq!(
        graph_and_data(lifted.bytes()),
        graph_and_data(bundled.bytes())
    );
    // Other flags keep it; 0 removes it.
    let renamed = annotate(
        &lifted,
        &MetaOptions {
            name: Some("renamed".into()),
            ..MetaOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        renamed.model().unwrap().framing().unwrap().normalize,
        f.normalize
    );
    let removed = annotate(
        &lifted,
        &MetaOptions {
            normalize_events: Some(0),
            ..MetaOptions::default()
        },
    )
    .unwrap();
    assert!(removed.bytes() == without.bytes());
    let no_gain = MetaOptions {
        normalize_events: Some(1_500),
        normalize_max_gain: Some(0),
        ..MetaOptions::default()
    };
    let e = annotate(&without, &no_gain).unwrap_err().to_string();
    assert!(e.contains("framing"), "{e}");
}

#[test]
fn annotate_rejects_metadata_that_does_not_fit() {
    let old = AlignedBlob::read(&data_dir().join("v1/dvs_gesture_int8.blob")).unwrap();
    let too_few = MetaOptions {
        class_names: Some(names("a,b")),
        ..MetaOptions::default()
    };
    let e = annotate(&old, &too_few).unwrap_err().to_string();
    assert!(e.contains("2 class names for 11 classes"), "{e}");
    let no_bins = MetaOptions {
        bin_us: Some(1_000),
        sensor: Some((128, 128)),
        ..MetaOptions::default()
    };
    let e = annotate(&old, &no_bins).unwrap_err().to_string();
    assert!(e.contains("--bins"), "{e}");
    let wrong_sensor = MetaOptions {
        sensor: Some((100, 128)),
        ..gesture_options()
    };
    let e = annotate(&old, &wrong_sensor).unwrap_err().to_string();
    assert!(e.contains("no downsampling maps"), "{e}");
}

#[test]
fn class_names_from_a_file_or_a_list() {
    let dir = std::env::temp_dir().join(format!("sdt-class-names-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("names.txt");
    std::fs::write(&file, "zero\n one \n\ntwo, three\n").unwrap();
    assert_eq!(
        class_names(file.to_str().unwrap()).unwrap(),
        ["zero", "one", "two, three"]
    );
    assert_eq!(class_names("a, b,c").unwrap(), ["a", "b", "c"]);
    std::fs::remove_dir_all(&dir).ok();
}
