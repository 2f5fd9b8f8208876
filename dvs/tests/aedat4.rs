//! AEDAT 4.0 writer/reader round trips and damaged files: every error is typed or counted,
//! nothing panics.

use sdt_dvs::aedat4::write::event_packet;
use sdt_dvs::aedat4::{
    Aedat4Error, Aedat4Reader, Aedat4Writer, Compression, Packet, PacketError, StreamInfo,
};
use sdt_events::{Event, Geometry};

const ALL: [Compression; 5] = [
    Compression::None,
    Compression::Lz4,
    Compression::Lz4High,
    Compression::Zstd,
    Compression::ZstdHigh,
];

fn streams() -> Vec<StreamInfo> {
    vec![
        StreamInfo {
            id: 0,
            type_identifier: "EVTS".into(),
            name: "events".into(),
            geometry: Some(Geometry::new(346, 260)),
        },
        StreamInfo {
            id: 3,
            type_identifier: "TRIG".into(),
            name: "triggers".into(),
            geometry: None,
        },
    ]
}

/// Deterministic pseudo-random events, time non-decreasing.
fn events(n: usize, seed: u64) -> Vec<Event> {
    let mut s = seed;
    let mut t = 1_633_953_690_975_950u64;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = s >> 16;
            t += r % 50;
            Event {
                t,
                x: (r % 346) as u16,
                y: ((r >> 12) % 260) as u16,
                p: ((r >> 24) & 1) as u8,
            }
        })
        .collect()
}

/// An empty `TRIG` packet flatbuffer.
fn trigger_packet() -> Vec<u8> {
    let mut fbb = flatbuffers::FlatBufferBuilder::new();
    let start = fbb.start_table();
    let root = fbb.end_table(start);
    fbb.finish_size_prefixed(root, Some("TRIG"));
    fbb.finished_data().to_vec()
}

/// A file of `packets` event packets (with a trigger packet after the first).
fn file(compression: Compression, all: &[Event], packets: usize) -> Vec<u8> {
    let mut w = Aedat4Writer::new(Vec::new(), compression, &streams()).unwrap();
    for (i, chunk) in all.chunks(all.len().div_ceil(packets).max(1)).enumerate() {
        w.write_events(0, chunk).unwrap();
        if i == 0 {
            w.write_packet(3, &trigger_packet()).unwrap();
        }
    }
    w.finish().unwrap()
}

fn read(bytes: &[u8]) -> Result<(Vec<Event>, sdt_events::Counters), Aedat4Error> {
    let mut r = Aedat4Reader::new(bytes)?;
    let events = r.read_all()?;
    Ok((events, r.counters()))
}

#[test]
fn round_trip_every_compression() {
    let all = events(10_000, 7);
    for c in ALL {
        let bytes = file(c, &all, 7);
        let mut r = Aedat4Reader::new(&bytes[..]).unwrap();
        assert_eq!(r.header().compression, c);
        assert_eq!(r.header().data_table_position, None);
        assert_eq!(r.header().streams, streams());
        assert_eq!(r.geometry(), Some(Geometry::new(346, 260)));
        let got = r.read_all().unwrap();
        assert!(got == all, "{c:?}: events differ");
        let k = r.counters();
        assert_eq!(k.events, 10_000);
        assert_eq!(
            (k.non_event, k.malformed, k.truncated_bytes),
            (1, 0, 0),
            "{c:?}"
        );
        assert_eq!(r.packets(), 8);
        assert_eq!(r.position(), bytes.len() as u64);
    }
}

#[test]
fn compression_shrinks_packets() {
    let all = events(20_000, 1);
    let none = file(Compression::None, &all, 1).len();
    let lz4 = file(Compression::Lz4, &all, 1).len();
    let zstd = file(Compression::Zstd, &all, 1).len();
    assert!(
        lz4 < none && zstd < none,
        "none {none} lz4 {lz4} zstd {zstd}"
    );
}

#[test]
fn empty_and_extreme_events() {
    let edge = vec![
        Event {
            t: 0,
            x: 0,
            y: 0,
            p: 0,
        },
        Event {
            t: i64::MAX as u64,
            x: 345,
            y: 259,
            p: 1,
        },
    ];
    for c in ALL {
        let (got, k) = read(&file(c, &[], 1)).unwrap();
        assert!(got.is_empty() && k.malformed == 0);
        let (got, _) = read(&file(c, &edge, 1)).unwrap();
        assert_eq!(got, edge);
    }
    for bad in [
        Event {
            t: u64::MAX,
            x: 0,
            y: 0,
            p: 0,
        },
        Event {
            t: 0,
            x: 40_000,
            y: 0,
            p: 0,
        },
        Event {
            t: 0,
            x: 0,
            y: 0,
            p: 2,
        },
    ] {
        assert!(matches!(event_packet(&[bad]), Err(Aedat4Error::Unencodable(e)) if e == bad));
    }
}

/// Cutting the file anywhere: a typed error inside the header, otherwise the events of the
/// complete packets and the rest counted as truncated.
#[test]
fn truncation_at_every_byte() {
    let all = events(40, 3);
    for c in [Compression::None, Compression::Lz4, Compression::Zstd] {
        let bytes = file(c, &all, 4);
        let header_end = Aedat4Reader::new(&bytes[..]).unwrap().header().data_offset as usize;
        // Ends of complete packets and the events read up to each.
        let mut ends = vec![(header_end, 0usize)];
        let mut r = Aedat4Reader::new(&bytes[..]).unwrap();
        let mut buf = Vec::new();
        while r.next_packet(&mut buf).unwrap().is_some() {
            ends.push((r.position() as usize, buf.len()));
        }
        for cut in 0..bytes.len() {
            match read(&bytes[..cut]) {
                Err(Aedat4Error::Truncated(_)) | Err(Aedat4Error::Header(_)) => {
                    assert!(cut < header_end, "cut {cut}: header error after the header")
                }
                Err(e) => panic!("cut {cut}: unexpected {e}"),
                Ok((got, k)) => {
                    assert!(cut >= header_end, "cut {cut}");
                    let &(end, n) = ends.iter().rev().find(|(e, _)| *e <= cut).unwrap();
                    assert_eq!(got, all[..n], "cut {cut}");
                    assert_eq!(k.truncated_bytes, (cut - end) as u64, "cut {cut}");
                    assert_eq!(k.malformed, 0, "cut {cut}");
                }
            }
        }
    }
}

/// Any single corrupted byte: no panic, and events still come from the undamaged packets.
#[test]
fn corruption_of_every_byte() {
    let all = events(30, 5);
    for c in [Compression::None, Compression::Lz4, Compression::Zstd] {
        let bytes = file(c, &all, 3);
        for i in 0..bytes.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] ^= flip;
                if let Ok((got, k)) = read(&b) {
                    assert!(
                        got.len() <= all.len() + 30,
                        "byte {i}: {} events",
                        got.len()
                    );
                    assert!(k.events == got.len() as u64);
                }
            }
        }
    }
}

#[test]
fn damaged_packets_are_skipped_and_counted() {
    let all = events(20, 9);
    let mut w = Aedat4Writer::new(Vec::new(), Compression::Lz4, &streams()).unwrap();
    w.write_events(0, &all[..10]).unwrap();
    w.write_raw(0, b"not an lz4 frame").unwrap();
    w.write_events(9, &all[..3]).unwrap(); // stream 9 is not in the header
                                           // A vector claiming 2^31 elements.
    let mut huge = event_packet(&all[..1]).unwrap();
    let n = huge.len();
    huge[n - 20..n - 16].copy_from_slice(&0x8000_0000u32.to_le_bytes());
    w.write_packet(0, &huge).unwrap();
    w.write_packet(0, &trigger_packet()).unwrap(); // wrong identifier for the stream
    w.write_events(0, &all[10..]).unwrap();
    let bytes = w.finish().unwrap();
    let mut r = Aedat4Reader::new(&bytes[..]).unwrap();
    let mut got = Vec::new();
    let mut kinds = Vec::new();
    while let Some(p) = r.next_packet(&mut got).unwrap() {
        kinds.push(p);
    }
    assert_eq!(got, all);
    assert_eq!(r.counters().malformed, 4);
    assert!(matches!(
        kinds[1],
        Packet::Malformed {
            reason: PacketError::Decompress(_),
            ..
        }
    ));
    assert!(matches!(
        kinds[2],
        Packet::Malformed {
            reason: PacketError::UnknownStream(9),
            ..
        }
    ));
    assert!(matches!(
        kinds[3],
        Packet::Malformed {
            reason: PacketError::Flat(_),
            ..
        }
    ));
    assert!(matches!(
        kinds[4],
        Packet::Malformed {
            reason: PacketError::Flat(_),
            ..
        }
    ));
}

/// Events with impossible fields are dropped and counted, the others kept.
#[test]
fn bad_event_records() {
    let good = events(4, 11);
    let mut packet = event_packet(&good).unwrap();
    // The 4 records are the last 64 bytes of the buffer (the vector ends the builder's data).
    let n = packet.len();
    let rec = |i: usize| n - 64 + 16 * i;
    let r0 = rec(0);
    packet[r0..r0 + 8].copy_from_slice(&(-5i64).to_le_bytes()); // negative time
    let r1 = rec(1);
    packet[r1 + 8..r1 + 10].copy_from_slice(&(-1i16).to_le_bytes()); // negative x
    let r2 = rec(2);
    packet[r2 + 12] = 7; // polarity not a bool
    let mut w = Aedat4Writer::new(Vec::new(), Compression::None, &streams()).unwrap();
    w.write_packet(0, &packet).unwrap();
    let (got, k) = read(&w.finish().unwrap()).unwrap();
    assert_eq!(got, good[3..]);
    assert_eq!((k.events, k.malformed, k.out_of_range), (1, 2, 1));
}

#[test]
fn out_of_range_coordinates_are_counted() {
    let mut s = streams();
    s[0].geometry = Some(Geometry::new(100, 100));
    let all = events(500, 13);
    let mut w = Aedat4Writer::new(Vec::new(), Compression::Lz4, &s).unwrap();
    w.write_events(0, &all).unwrap();
    let (got, k) = read(&w.finish().unwrap()).unwrap();
    let inside: Vec<Event> = all
        .iter()
        .copied()
        .filter(|e| e.x < 100 && e.y < 100)
        .collect();
    assert_eq!(got, inside);
    assert_eq!(k.out_of_range as usize, all.len() - inside.len());
}

#[test]
fn damaged_headers_are_typed_errors() {
    let good = file(Compression::Lz4, &events(5, 1), 1);
    assert!(matches!(
        read(b"#!AER-DAT3.1\r\n"),
        Err(Aedat4Error::NotAedat4)
    ));
    assert!(matches!(read(b""), Err(Aedat4Error::Truncated(_))));
    let mut big = good.clone();
    big[14..18].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(read(&big), Err(Aedat4Error::HeaderTooLarge(_))));
    // Compression code 9: the i32 field sits in the table; find it via a fresh header.
    let mut fbb = flatbuffers::FlatBufferBuilder::new();
    let info = fbb.create_string("<dv/>");
    let start = fbb.start_table();
    fbb.push_slot_always(8, info);
    fbb.push_slot::<i32>(4, 9, 0);
    let root = fbb.end_table(start);
    fbb.finish_size_prefixed(root, Some("IOHE"));
    let mut b = b"#!AER-DAT4.0\r\n".to_vec();
    b.extend_from_slice(fbb.finished_data());
    assert!(matches!(read(&b), Err(Aedat4Error::Compression(9))));
    // Bad XML.
    let mut fbb = flatbuffers::FlatBufferBuilder::new();
    let info = fbb.create_string("<dv><node></dv>");
    let start = fbb.start_table();
    fbb.push_slot_always(8, info);
    let root = fbb.end_table(start);
    fbb.finish_size_prefixed(root, Some("IOHE"));
    let mut b = b"#!AER-DAT4.0\r\n".to_vec();
    b.extend_from_slice(fbb.finished_data());
    assert!(matches!(read(&b), Err(Aedat4Error::Xml(_))));
    // Wrong identifier.
    let mut b = good.clone();
    b[22..26].copy_from_slice(b"XXXX");
    assert!(matches!(read(&b), Err(Aedat4Error::Header(_))));
}

#[test]
fn negative_packet_size_ends_the_stream() {
    let all = events(10, 2);
    let mut bytes = file(Compression::Lz4, &all, 1);
    let tail = bytes.len();
    bytes.extend_from_slice(&0i32.to_le_bytes());
    bytes.extend_from_slice(&(-8i32).to_le_bytes());
    bytes.extend_from_slice(&[0xAB; 24]);
    let (got, k) = read(&bytes).unwrap();
    assert_eq!(got, all);
    assert_eq!(k.malformed, 1);
    assert_eq!(k.truncated_bytes, (bytes.len() - tail - 8) as u64);
}
