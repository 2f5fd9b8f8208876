//! The DVS128 Gesture dataset layout (IBM, 2017), for users who have it: recordings
//! `userNN_lighting.aedat` (AEDAT 3.1, 128 × 128) each with `userNN_lighting_labels.csv`
//! (`class,startTime_usec,endTime_usec`, classes 1..=11, times on the recording's clock).
//! Labelled spans are cut into clips of events with a zero-based class.

use std::path::{Path, PathBuf};

use sdt_events::aedat31::{Aedat31Decoder, Aedat31Encoder};
use sdt_events::{Counters, Decoder, EncodeError, Encoder, Event, Geometry};

/// The sensor of the dataset.
pub const GEOMETRY: Geometry = Geometry::new(128, 128);

/// Number of classes.
pub const CLASSES: usize = 11;

/// One labelled span of a recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label {
    /// Zero-based class (the file's class minus one).
    pub class: usize,
    /// First µs.
    pub start_us: u64,
    /// End µs (exclusive).
    pub end_us: u64,
}

/// A labelled span's events.
#[derive(Clone, Debug, PartialEq)]
pub struct GestureClip {
    /// Zero-based class.
    pub class: usize,
    /// Events with `start ≤ t < end`, in stream order.
    pub events: Vec<Event>,
    /// The recording it was cut from.
    pub recording: PathBuf,
    /// The span.
    pub start_us: u64,
    /// The span's end.
    pub end_us: u64,
}

/// Why a recording cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum Dvs128Error {
    /// Reading failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A labels line is not `class,start,end` with a class in 1..=11 and `start < end`.
    #[error("{path}:{line}: {why}")]
    Labels {
        /// The CSV file.
        path: PathBuf,
        /// One-based line number.
        line: usize,
        /// What is wrong.
        why: String,
    },
    /// An event cannot be written (coordinates, polarity or time order).
    #[error("cannot encode an event: {0:?}")]
    Encode(EncodeError),
    /// A recording has no `_labels.csv` next to it.
    #[error("{0}: no labels file (expected {1})")]
    MissingLabels(PathBuf, PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Dvs128Error + '_ {
    move |source| Dvs128Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// Parses a labels CSV (an optional header line, then `class,startTime_usec,endTime_usec`).
pub fn parse_labels(text: &str, path: &Path) -> Result<Vec<Label>, Dvs128Error> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        let bad = |why: String| Dvs128Error::Labels {
            path: path.to_owned(),
            line: i + 1,
            why,
        };
        if line.is_empty() || (i == 0 && line.starts_with(|c: char| c.is_ascii_alphabetic())) {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [class, start, end] = fields.as_slice() else {
            return Err(bad(format!("expected 3 fields, found {}", fields.len())));
        };
        let num = |s: &str| {
            s.parse::<u64>()
                .map_err(|e| bad(format!("`{s}` is not a number: {e}")))
        };
        let (class, start_us, end_us) = (num(class)?, num(start)?, num(end)?);
        if !(1..=CLASSES as u64).contains(&class) {
            return Err(bad(format!("class {class} is not in 1..={CLASSES}")));
        }
        if start_us >= end_us {
            return Err(bad(format!("start {start_us} is not before end {end_us}")));
        }
        out.push(Label {
            class: class as usize - 1,
            start_us,
            end_us,
        });
    }
    Ok(out)
}

/// Decodes a whole AEDAT 3.1 recording of the 128 × 128 sensor.
pub fn read_events(path: &Path) -> Result<(Vec<Event>, Counters), Dvs128Error> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    let mut dec = Aedat31Decoder::new(GEOMETRY);
    let mut events = Vec::new();
    dec.feed(&bytes, |e| events.push(e));
    let counters = dec.finish();
    Ok((events, counters))
}

/// The labels file of a recording: `X.aedat` → `X_labels.csv`.
pub fn labels_path(recording: &Path) -> PathBuf {
    let stem = recording
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    recording.with_file_name(format!("{stem}_labels.csv"))
}

/// Cuts `events` (time-ordered) into the labelled spans.
pub fn cut(events: &[Event], labels: &[Label], recording: &Path) -> Vec<GestureClip> {
    labels
        .iter()
        .map(|l| {
            let from = events.partition_point(|e| e.t < l.start_us);
            let to = events.partition_point(|e| e.t < l.end_us);
            GestureClip {
                class: l.class,
                events: events.get(from..to.max(from)).unwrap_or(&[]).to_vec(),
                recording: recording.to_owned(),
                start_us: l.start_us,
                end_us: l.end_us,
            }
        })
        .collect()
}

/// The clips of one recording and its labels file.
pub fn load_recording(path: &Path) -> Result<Vec<GestureClip>, Dvs128Error> {
    let csv = labels_path(path);
    if !csv.is_file() {
        return Err(Dvs128Error::MissingLabels(path.to_owned(), csv));
    }
    let text = std::fs::read_to_string(&csv).map_err(io(&csv))?;
    let labels = parse_labels(&text, &csv)?;
    let (events, _) = read_events(path)?;
    Ok(cut(&events, &labels, path))
}

/// The recordings (`*.aedat`) in `dir`, sorted by name; with `users`, only those whose name
/// starts with `userNN` for an `NN` in the range (the dataset trains on users 1–23 and tests on
/// 24–29).
pub fn recordings(
    dir: &Path,
    users: Option<core::ops::RangeInclusive<u32>>,
) -> Result<Vec<PathBuf>, Dvs128Error> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if path.extension().is_none_or(|e| e != "aedat") {
            continue;
        }
        if let Some(range) = &users {
            let name = path
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let user = name
                .strip_prefix("user")
                .map(|r| {
                    r.chars()
                        .take_while(char::is_ascii_digit)
                        .collect::<String>()
                })
                .and_then(|d| d.parse::<u32>().ok());
            if !user.is_some_and(|u| range.contains(&u)) {
                continue;
            }
        }
        out.push(path);
    }
    out.sort();
    Ok(out)
}

/// Every clip of every recording in `dir` (see [`recordings`]).
pub fn load_dir(
    dir: &Path,
    users: Option<core::ops::RangeInclusive<u32>>,
) -> Result<Vec<GestureClip>, Dvs128Error> {
    let mut clips = Vec::new();
    for r in recordings(dir, users)? {
        clips.extend(load_recording(&r)?);
    }
    Ok(clips)
}

/// Writes a recording in the dataset's layout: `path` (AEDAT 3.1) and its labels CSV.
pub fn write_recording(path: &Path, events: &[Event], labels: &[Label]) -> Result<(), Dvs128Error> {
    let mut bytes = Vec::new();
    Aedat31Encoder::new()
        .encode(events, &mut |b: &[u8]| bytes.extend_from_slice(b))
        .map_err(Dvs128Error::Encode)?;
    std::fs::write(path, &bytes).map_err(io(path))?;
    let mut csv = String::from("class,startTime_usec,endTime_usec\n");
    for l in labels {
        csv.push_str(&format!("{},{},{}\n", l.class + 1, l.start_us, l.end_us));
    }
    let csv_path = labels_path(path);
    std::fs::write(&csv_path, csv).map_err(io(&csv_path))
}
