//! AEDAT 4.0 reader: any bytes give a typed error or events and counters, never a panic; the
//! result does not depend on how the input arrives (whole, or a few bytes per read). Inputs
//! starting with 0xFF get a valid file header (compression from the second byte) so the
//! fuzzer reaches packet decoding quickly.

use std::io::Read;

use sdt_dvs::aedat4::{Aedat4Reader, Aedat4Writer, Compression, StreamInfo};
use sdt_events::Geometry;

/// A reader that returns at most `step` bytes per call.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn read_all(r: impl Read) -> Option<(Vec<sdt_events::Event>, sdt_events::Counters)> {
    let mut reader = Aedat4Reader::new(r).ok()?;
    let events = reader.read_all().ok()?;
    Some((events, reader.counters()))
}

/// The AEDAT 4.0 harness.
pub fn run(data: &[u8]) {
    let file = match data {
        [0xFF, c, rest @ ..] => {
            let compression =
                Compression::from_code(i32::from(*c % 5)).unwrap_or(Compression::None);
            let streams = [
                StreamInfo {
                    id: 0,
                    type_identifier: "EVTS".into(),
                    name: "events".into(),
                    geometry: Some(Geometry::new(346, 260)),
                },
                StreamInfo {
                    id: 1,
                    type_identifier: "TRIG".into(),
                    name: "triggers".into(),
                    geometry: None,
                },
            ];
            let Ok(w) = Aedat4Writer::new(Vec::new(), compression, &streams) else {
                return;
            };
            let Ok(mut file) = w.finish() else { return };
            file.extend_from_slice(rest);
            file
        }
        _ => data.to_vec(),
    };
    let whole = read_all(&file[..]);
    let step = usize::from(data.get(2).copied().unwrap_or(1)).max(1);
    let trickled = read_all(Trickle { data: &file, step });
    assert_eq!(whole, trickled);
    if let Some((events, counters)) = whole {
        assert_eq!(counters.events, events.len() as u64);
    }
}
