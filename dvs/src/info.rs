//! A JSON summary of an event file: format, resolution, event count, first and last event,
//! time range and the decoder's error counters.

use std::fmt;

use sdt_events::{Counters, Event};

use crate::source::{EventSource, Format, GeometrySource, SourceError};

/// One event as JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EventJson {
    /// Time in µs.
    pub t: u64,
    /// Column.
    pub x: u16,
    /// Row.
    pub y: u16,
    /// Polarity: 1 = ON, 0 = OFF.
    pub p: u8,
}

impl From<Event> for EventJson {
    fn from(e: Event) -> Self {
        Self {
            t: e.t,
            x: e.x,
            y: e.y,
            p: e.p,
        }
    }
}

/// What was wrong in the stream: skipped, dropped or cut units (units depend on the format,
/// see [`Counters`]). Well-formed units without events are not errors
/// ([`Info::non_event_units`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ErrorCounts {
    /// Malformed units skipped.
    pub malformed: u64,
    /// Events outside the resolution.
    pub out_of_range: u64,
    /// Bytes of an incomplete unit at the end.
    pub truncated_bytes: u64,
}

impl ErrorCounts {
    /// Whether anything was skipped.
    pub fn any(&self) -> bool {
        self.malformed + self.out_of_range + self.truncated_bytes > 0
    }
}

impl fmt::Display for ErrorCounts {
    /// The non-zero counts, e.g. "6 bytes of a cut-off end dropped".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts = [
            (self.malformed, "malformed units skipped"),
            (self.out_of_range, "events outside the sensor dropped"),
            (self.truncated_bytes, "bytes of a cut-off end dropped"),
        ];
        let mut first = true;
        for (n, what) in parts.into_iter().filter(|(n, _)| *n > 0) {
            write!(f, "{}{n} {what}", if first { "" } else { ", " })?;
            first = false;
        }
        if first {
            write!(f, "nothing skipped")?;
        }
        Ok(())
    }
}

impl From<Counters> for ErrorCounts {
    fn from(c: Counters) -> Self {
        Self {
            malformed: c.malformed,
            out_of_range: c.out_of_range,
            truncated_bytes: c.truncated_bytes,
        }
    }
}

/// One stream of an AEDAT 4.0 file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StreamJson {
    /// Stream ID.
    pub id: i32,
    /// `EVTS`, `FRME`, `IMUS`, `TRIG`, …
    pub r#type: String,
    /// Output name.
    pub name: String,
}

/// The summary.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Info {
    /// The file as given.
    pub file: String,
    /// Detected (or forced) format.
    pub format: Format,
    /// Sensor columns.
    pub width: u16,
    /// Sensor rows.
    pub height: u16,
    /// Where the resolution came from.
    pub geometry_source: GeometrySource,
    /// Events decoded.
    pub events: u64,
    /// ON events among them.
    pub on_events: u64,
    /// OFF events among them.
    pub off_events: u64,
    /// First event.
    pub first: Option<EventJson>,
    /// Last event.
    pub last: Option<EventJson>,
    /// Smallest and largest timestamp (µs).
    pub time_range_us: Option<[u64; 2]>,
    /// Largest minus smallest timestamp (µs).
    pub duration_us: u64,
    /// Events whose time is earlier than the one before.
    pub time_steps_back: u64,
    /// Malformed, out-of-range and truncated units.
    pub errors: ErrorCounts,
    /// Well-formed units that carry no event (time bases, row addresses, triggers, packets of
    /// other streams): normal stream content.
    pub non_event_units: u64,
    /// Bytes read.
    pub bytes: u64,
    /// AEDAT 4.0 packet compression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression: Option<&'static str>,
    /// AEDAT 4.0 streams.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streams: Option<Vec<StreamJson>>,
}

/// Decodes the whole source (a chunk at a time, without keeping the events) and summarizes
/// it; `progress` gets the bytes read after each chunk.
pub fn summarize(
    file: &str,
    source: &mut EventSource,
    mut progress: impl FnMut(u64),
) -> Result<Info, SourceError> {
    let g = source.geometry();
    let mut info = Info {
        file: file.to_owned(),
        format: source.format(),
        width: g.width,
        height: g.height,
        geometry_source: source.geometry_source(),
        events: 0,
        on_events: 0,
        off_events: 0,
        first: None,
        last: None,
        time_range_us: None,
        duration_us: 0,
        time_steps_back: 0,
        errors: ErrorCounts::default(),
        non_event_units: 0,
        bytes: 0,
        compression: None,
        streams: None,
    };
    if let Some(h) = source.aedat4_header() {
        info.compression = Some(h.compression.name());
        info.streams = Some(
            h.streams
                .iter()
                .map(|s| StreamJson {
                    id: s.id,
                    r#type: s.type_identifier.clone(),
                    name: s.name.clone(),
                })
                .collect(),
        );
    }
    let mut chunk = Vec::new();
    let mut prev: Option<Event> = None;
    let mut range: Option<[u64; 2]> = None;
    loop {
        chunk.clear();
        let more = source.next_chunk(&mut chunk)?;
        for &e in &chunk {
            info.events += 1;
            if e.p == 1 {
                info.on_events += 1;
            } else {
                info.off_events += 1;
            }
            if prev.is_some_and(|p| e.t < p.t) {
                info.time_steps_back += 1;
            }
            info.first.get_or_insert(e.into());
            prev = Some(e);
            range = Some(match range {
                None => [e.t, e.t],
                Some([lo, hi]) => [lo.min(e.t), hi.max(e.t)],
            });
        }
        progress(source.bytes_read());
        if !more {
            break;
        }
    }
    info.last = prev.map(Into::into);
    info.time_range_us = range;
    info.duration_us = range.map_or(0, |[lo, hi]| hi - lo);
    let counters = source.counters();
    info.errors = counters.into();
    info.non_event_units = counters.non_event;
    info.bytes = source.bytes_read();
    Ok(info)
}
