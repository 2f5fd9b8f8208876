//! Blob metadata (format versions 2 and 3): class names and input framing round-trip, version
//! 1 blobs (the bundled blobs as first released) load without any, version 2 is still written
//! for metadata without a count normalization, and corrupted metadata is a typed error.

mod common;

use std::path::Path;

use common::*;
use sdt_core::blob::{self, HEADER_LEN, VERSION, VERSION_NO_METADATA};
use sdt_core::graph::AttentionOrder;
use sdt_core::meta::{
    BinLength, CountNormalization, EventFraming, ImageNorm, InputKind, MetaError, PolarityLayout,
};
use sdt_core::{Error, Metadata, Model};

/// The tiny test model: 6×6×2 input, 5 classes, D = 4.
fn tiny() -> Builder {
    tiny_model(1, AttentionOrder::KvFirst)
}

fn framing() -> EventFraming {
    EventFraming {
        bin: BinLength::Micros(25_000),
        bins: 6,
        hop: 3,
        downsample: 2,
        clip: 4,
        polarity: PolarityLayout::OffOn,
        sensor: (12, 11),
        normalize: None,
    }
}

/// [`framing`] with a count normalization (format version 3).
fn normalized_framing() -> EventFraming {
    EventFraming {
        normalize: Some(CountNormalization {
            events: 300,
            max_gain: 3,
        }),
        ..framing()
    }
}

fn version(blob: &Blob) -> u16 {
    u16::from_le_bytes([blob.bytes()[8], blob.bytes()[9]])
}

fn meta(class_names: &str, input: InputKind) -> Metadata<'_> {
    Metadata {
        name: "tiny",
        class_names,
        input,
    }
}

fn rejection(blob: &Blob) -> Error {
    Model::from_blob(blob.bytes())
        .err()
        .expect("blob must be rejected")
}

fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize
}

/// Where the metadata lies in a version 2 blob.
fn meta_range(b: &[u8]) -> std::ops::Range<usize> {
    let start = HEADER_LEN + u32_at(b, 12);
    start..start + u32_at(b, 28)
}

#[test]
fn metadata_round_trips() {
    let blob = tiny().blob_with(&meta("a\nb\nc\nd\ne", InputKind::Events(framing())));
    assert_eq!(version(&blob), 2, "nothing that needs version 3");
    let model = blob.model().unwrap();
    let m = model.metadata();
    assert_eq!(m.name, "tiny");
    assert_eq!(m.class_count(), 5);
    let names: Vec<_> = (0..6).map(|i| model.class_name(i)).collect();
    assert_eq!(
        names,
        [Some("a"), Some("b"), Some("c"), Some("d"), Some("e"), None]
    );
    assert_eq!(model.framing(), Some(&framing()));
    // The names are borrowed from the blob, not copied.
    let range = blob.bytes().as_ptr_range();
    assert!(range.contains(&model.class_name(2).unwrap().as_ptr()));

    let norm = ImageNorm {
        mean: [0.5, 0.25].into_iter().collect(),
        std: [0.5, 2.0].into_iter().collect(),
    };
    let blob = tiny().blob_with(&meta("", InputKind::Image(norm.clone())));
    let model = blob.model().unwrap();
    assert_eq!(model.metadata().normalization(), Some(&norm));
    assert_eq!(model.framing(), None);
    assert_eq!(model.class_name(0), None);
    assert_eq!(version(&blob), 2);

    let blob = tiny().blob_with(&meta("", InputKind::Events(normalized_framing())));
    assert_eq!(version(&blob), VERSION);
    assert_eq!(VERSION, 3);
    assert_eq!(blob.model().unwrap().framing(), Some(&normalized_framing()));
}

/// The version names the layout: version 3 metadata read as version 2 leaves the count
/// normalization as trailing bytes, version 2 metadata read as version 3 ends too early.
#[test]
fn metadata_layout_follows_the_version() {
    let mut v3 = tiny().blob_with(&meta("", InputKind::Events(normalized_framing())));
    v3.bytes_mut()[8..10].copy_from_slice(&2u16.to_le_bytes());
    refresh_crc(&mut v3);
    assert_eq!(rejection(&v3), Error::BadMetadata(MetaError::Malformed));
    let mut v2 = tiny().blob_with(&meta("", InputKind::Events(framing())));
    v2.bytes_mut()[8..10].copy_from_slice(&3u16.to_le_bytes());
    refresh_crc(&mut v2);
    assert_eq!(rejection(&v2), Error::BadMetadata(MetaError::Truncated));
}

#[test]
fn metadata_does_not_change_graph_or_data_bytes() {
    let b = tiny();
    let plain = b.blob();
    let described = b.blob_with(&meta("a\nb\nc\nd\ne", InputKind::Events(framing())));
    let (p, d) = (plain.bytes(), described.bytes());
    let graph = HEADER_LEN..HEADER_LEN + u32_at(p, 12);
    assert_eq!(p[graph.clone()], d[graph]);
    let data = |b: &[u8]| b[u32_at(b, 16)..u32_at(b, 16) + u32_at(b, 20)].to_vec();
    assert_eq!(data(p), data(d));
}

/// The bundled blobs as first released (format version 1, kept in `examples/data/v1`).
#[test]
fn version_1_blobs_load_without_metadata() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data/v1");
    for name in ["digits32_int8.blob", "dvs_gesture_int8.blob"] {
        let blob = Blob::read(&dir.join(name)).unwrap();
        assert_eq!(
            u16::from_le_bytes([blob.bytes()[8], blob.bytes()[9]]),
            VERSION_NO_METADATA,
            "{name}"
        );
        let model = blob.model().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(model.metadata(), &Metadata::default(), "{name}");
        assert_eq!(model.class_name(0), None);
        assert_eq!(model.framing(), None);
    }
}

/// The first gesture model annotated as a version 2 blob: a framing without a normalization.
#[test]
fn version_2_blobs_load_without_a_count_normalization() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/data/v1/dvs_gesture_int8_annotated.blob");
    let blob = Blob::read(&path).unwrap();
    assert_eq!(version(&blob), 2);
    let model = blob.model().unwrap();
    let f = model.framing().expect("its framing");
    assert_eq!((f.bin, f.normalize), (BinLength::Micros(50_000), None));
}

#[test]
fn bundled_blobs_describe_themselves() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data");
    let gesture = Blob::read(&dir.join("dvs_gesture_int8.blob")).unwrap();
    let model = gesture.model().unwrap();
    assert_eq!(model.class_name(0), Some("hand_clap"));
    assert_eq!(model.class_name(10), Some("other"));
    let f = model.framing().expect("gesture framing");
    assert_eq!(
        (f.bin, f.bins, f.hop, f.downsample, f.clip, f.sensor),
        (BinLength::Micros(200_000), 2, 1, 4, 4, (128, 128))
    );
    assert_eq!(f.polarity, PolarityLayout::OffOnPerSlice(4));
    assert_eq!(
        f.normalize,
        Some(CountNormalization {
            events: 1_500,
            max_gain: 4
        })
    );
    assert_eq!(version(&gesture), 3);
    assert_eq!(model.tensor(model.graph().input).c, 8);
    let digits = Blob::read(&dir.join("digits32_int8.blob")).unwrap();
    let model = digits.model().unwrap();
    let names: Vec<_> = (0..10).filter_map(|i| model.class_name(i)).collect();
    assert_eq!(names, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    assert!(model.metadata().normalization().is_some());
    assert_eq!(version(&digits), 2, "nothing that needs version 3");
}

#[test]
fn bad_utf8_is_a_typed_error() {
    let mut blob = tiny().blob_with(&meta("a\nb\nc\nd\ne", InputKind::Unspecified));
    let r = meta_range(blob.bytes());
    // name "tiny" then class names: patch the first class name byte.
    let at = r.start + 1 + 4 + 1;
    assert_eq!(blob.bytes()[at], b'a');
    blob.bytes_mut()[at] = 0xff;
    refresh_crc(&mut blob);
    assert_eq!(rejection(&blob), Error::BadMetadata(MetaError::BadUtf8));
}

#[test]
fn length_past_the_end_is_a_typed_error() {
    let mut blob = tiny().blob_with(&meta("a\nb\nc\nd\ne", InputKind::Unspecified));
    let r = meta_range(blob.bytes());
    // The class names' length (9) claims more bytes than the metadata holds.
    let at = r.start + 1 + 4;
    assert_eq!(blob.bytes()[at], 9);
    blob.bytes_mut()[at] = 0x7f;
    refresh_crc(&mut blob);
    assert_eq!(rejection(&blob), Error::BadMetadata(MetaError::Truncated));
}

#[test]
fn unknown_input_kind_is_a_typed_error() {
    let mut blob = tiny().blob_with(&meta("", InputKind::Unspecified));
    let r = meta_range(blob.bytes());
    blob.bytes_mut()[r.end - 1] = 9;
    refresh_crc(&mut blob);
    assert_eq!(rejection(&blob), Error::BadMetadata(MetaError::Malformed));
}

#[test]
fn wrong_version_is_a_typed_error() {
    let mut blob = tiny().blob_with(&meta("", InputKind::Events(framing())));
    blob.bytes_mut()[8..10].copy_from_slice(&(VERSION + 1).to_le_bytes());
    refresh_crc(&mut blob);
    assert_eq!(
        rejection(&blob),
        Error::UnsupportedVersion {
            found: VERSION + 1,
            supported: VERSION
        }
    );
    // Version 1 has no metadata: a metadata length there is a bad layout.
    blob.bytes_mut()[8..10].copy_from_slice(&VERSION_NO_METADATA.to_le_bytes());
    refresh_crc(&mut blob);
    assert_eq!(rejection(&blob), Error::BadLayout);
}

#[test]
fn metadata_that_does_not_fit_the_model_is_rejected() {
    let b = tiny();
    let classes = b.blob_with(&meta("a\nb", InputKind::Unspecified));
    assert_eq!(
        rejection(&classes),
        Error::BadMetadata(MetaError::ClassCount {
            found: 2,
            classes: 5
        })
    );
    let empty_name = b.blob_with(&meta("a\nb\n\nd\ne", InputKind::Unspecified));
    assert!(matches!(
        rejection(&empty_name),
        Error::BadMetadata(MetaError::ClassCount { .. })
    ));
    let bad_framings = [
        EventFraming {
            downsample: 1,
            ..framing()
        },
        EventFraming {
            hop: 7,
            ..framing()
        },
        EventFraming {
            bin: BinLength::Events(0),
            ..framing()
        },
        EventFraming {
            clip: 0,
            ..framing()
        },
        EventFraming {
            downsample: 0,
            ..framing()
        },
        EventFraming {
            polarity: PolarityLayout::OffOnPerSlice(0),
            ..framing()
        },
        EventFraming {
            polarity: PolarityLayout::OffOnPerSlice(2),
            ..framing()
        },
        EventFraming {
            normalize: Some(CountNormalization {
                events: 0,
                max_gain: 4,
            }),
            ..framing()
        },
        EventFraming {
            normalize: Some(CountNormalization {
                events: 300,
                max_gain: 0,
            }),
            ..framing()
        },
    ];
    for f in bad_framings {
        let blob = b.blob_with(&meta("", InputKind::Events(f)));
        assert_eq!(
            rejection(&blob),
            Error::BadMetadata(MetaError::Framing),
            "{f:?}"
        );
    }
    let norm = ImageNorm {
        mean: [0.5].into_iter().collect(),
        std: [0.5].into_iter().collect(),
    };
    let blob = b.blob_with(&meta("", InputKind::Image(norm)));
    assert_eq!(
        rejection(&blob),
        Error::BadMetadata(MetaError::Normalization)
    );
}

#[test]
fn blob_write_reports_a_short_buffer() {
    let b = tiny();
    let full = b.blob_with(&meta("a\nb\nc\nd\ne", InputKind::Events(framing())));
    let mut out = vec![0u8; full.len() - 1];
    let m = meta("a\nb\nc\nd\ne", InputKind::Events(framing()));
    assert!(matches!(
        blob::write(&b.graph, &m, &b.data, &mut out),
        Err(Error::Truncated { .. })
    ));
}
