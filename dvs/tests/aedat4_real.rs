//! The real DAVIS346 recording: the bundled MIT copy (always) and the shared events folder's
//! (`SDT_EVENTS_DIR`).

use std::path::PathBuf;

use sdt_dvs::aedat4::{Aedat4Reader, Compression, Packet};
use sdt_events::Geometry;

fn shared_path(name: &str) -> PathBuf {
    sdt_host::data::DataDir::Events.require(name)
}

fn read(name: &str) -> Vec<u8> {
    let p = shared_path(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

#[test]
fn davis346_bundled() {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/aestream_davis.aedat4");
    let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    check_davis346(&bytes);
}

#[test]
fn davis346_shared() {
    check_davis346(&read("aestream_davis.aedat4"));
}

fn check_davis346(bytes: &[u8]) {
    assert_eq!(bytes.len(), 1_191_471);
    let mut r = Aedat4Reader::new(bytes).expect("header");
    let h = r.header().clone();
    assert_eq!(h.compression, Compression::Lz4);
    assert_eq!(r.geometry(), Some(Geometry::new(346, 260)));
    let types: Vec<&str> = h
        .streams
        .iter()
        .map(|s| s.type_identifier.as_str())
        .collect();
    assert_eq!(types, ["EVTS", "FRME", "IMUS", "TRIG"]);
    let mut events = Vec::new();
    let (mut event_packets, mut other) = (0, 0);
    while let Some(p) = r.next_packet(&mut events).expect("packet") {
        match p {
            Packet::Events { stream, .. } => {
                assert_eq!(stream, 0);
                event_packets += 1;
            }
            Packet::Other { .. } => other += 1,
            Packet::Malformed { stream, reason } => panic!("stream {stream}: {reason}"),
        }
    }
    let c = r.counters();
    assert_eq!(events.len(), 117_667, "counters {c:?}");
    assert_eq!(c.events, 117_667);
    assert_eq!((c.malformed, c.out_of_range, c.truncated_bytes), (0, 0, 0));
    assert_eq!(event_packets, 13);
    assert_eq!(other, 3 + 13 + 11, "frame, IMU and trigger packets");
    assert_eq!(c.non_event, other);
    // Stopped at the data table, which runs to the end of the file.
    assert_eq!(Some(r.position()), h.data_table_position);
    assert!(events.iter().all(|e| e.x < 346 && e.y < 260 && e.p <= 1));
    assert!(events.iter().any(|e| e.p == 0) && events.iter().any(|e| e.p == 1));
    assert!(events.windows(2).all(|w| w[0].t <= w[1].t), "time order");
    let span = events.last().map_or(0, |e| e.t) - events.first().map_or(0, |e| e.t);
    println!(
        "first {:?} last {:?} span {span} µs",
        events.first(),
        events.last()
    );
}
