//! Hand-built streams for each decoder, the header parser and the framer.

mod util;

use sdt_events::aedat31::{Aedat31Decoder, Aedat31Encoder};
use sdt_events::evt2::Evt2Decoder;
use sdt_events::evt3::{Evt3Decoder, Evt3Encoder};
use sdt_events::{
    Decoder, Encoder, Event, EventFormat, Framer, FramerConfig, FramerError, Geometry, HeaderError,
    HeaderGeometry, HeaderInfo, Push, Window,
};
use util::{decode_whole, Format};

fn words16(ws: &[u16]) -> Vec<u8> {
    ws.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn ev(t: u64, x: u16, y: u16, p: u8) -> Event {
    Event { t, x, y, p }
}

#[test]
fn evt3_vectors_and_time_wrap() {
    let bytes = words16(&[
        0x8FFF, // TIME_HIGH 0xFFF
        0x6FFE, // TIME_LOW 0xFFE
        0x0005, // ADDR_Y 5
        0x3864, // VECT_BASE_X 100, ON
        0x4805, // VECT_12 0b1000_0000_0101 -> 100, 102, 111
        0x5081, // VECT_8 0x81 -> 112, 119
        0x2007, // ADDR_X 7, OFF
        0x8000, // TIME_HIGH 0 -> wrap
        0x6001, // TIME_LOW 1
        0x2801, // ADDR_X 1, ON
        0x9000, // reserved
        0xA001, // EXT_TRIGGER
    ]);
    let mut d = Evt3Decoder::new(Geometry::new(1280, 720));
    let mut got = Vec::new();
    d.feed(&bytes, |e| got.push(e));
    let c = d.finish();
    let t0 = 0xFFF_FFE;
    assert_eq!(
        got,
        [
            ev(t0, 100, 5, 1),
            ev(t0, 102, 5, 1),
            ev(t0, 111, 5, 1),
            ev(t0, 112, 5, 1),
            ev(t0, 119, 5, 1),
            ev(t0, 7, 5, 0),
            ev((1 << 24) + 1, 1, 5, 1),
        ]
    );
    assert_eq!((c.events, c.malformed, c.non_event), (7, 1, 7));
}

#[test]
fn evt3_state_before_sync_is_malformed() {
    // A vector without a base and an event before any row are not guessed.
    let bytes = words16(&[0x2001, 0x0001, 0x4FFF, 0x3000, 0x4001]);
    let mut d = Evt3Decoder::new(Geometry::new(1280, 720));
    let mut got = Vec::new();
    d.feed(&bytes, |e| got.push(e));
    assert_eq!(got, [ev(0, 0, 1, 0)]);
    assert_eq!(d.finish().malformed, 2);
}

#[test]
fn evt3_out_of_range_vector() {
    let bytes = words16(&[0x0002, 0x3000 | 1270, 0x4FFF]);
    let mut d = Evt3Decoder::new(Geometry::new(1280, 720));
    let mut n = 0;
    d.feed(&bytes, |_| n += 1);
    let c = d.finish();
    assert_eq!((n, c.events, c.out_of_range), (10, 10, 2));
}

#[test]
fn evt3_encoder_vectorises() {
    let events: Vec<Event> = (0..30).map(|i| ev(5000, 200 + i, 3, 1)).collect();
    let mut bytes = Vec::new();
    Evt3Encoder::new()
        .encode(&events, &mut |b: &[u8]| bytes.extend_from_slice(b))
        .unwrap();
    let types: Vec<u16> = bytes
        .chunks(2)
        .map(|w| u16::from_le_bytes([w[0], w[1]]) >> 12)
        .collect();
    assert_eq!(types, [8, 6, 0, 3, 4, 4, 5]);
    assert_eq!(decode_whole(Format::Evt3, &bytes).0, events);
}

#[test]
fn evt2_words_and_wrap() {
    let w = |v: u32| v.to_le_bytes();
    let mut bytes = Vec::new();
    bytes.extend(w(0x8FFF_FFFF)); // TIME_HIGH max
    bytes.extend(w(0x1000_0000 | 63 << 22 | 10 << 11 | 20)); // CD_ON
    bytes.extend(w(0x8000_0000)); // TIME_HIGH 0 -> wrap
    bytes.extend(w(3 << 22 | 2047 << 11 | 1)); // CD_OFF, x out of range
    bytes.extend(w(3 << 22 | 11 << 11 | 1)); // CD_OFF
    bytes.extend(w(0x5000_0000)); // reserved
    bytes.extend([1, 2, 3]); // truncated
    let mut d = Evt2Decoder::new(Geometry::new(1280, 720));
    let mut got = Vec::new();
    d.feed(&bytes, |e| got.push(e));
    let c = d.finish();
    let top = ((1u64 << 28) - 1) << 6;
    assert_eq!(got, [ev(top + 63, 10, 20, 1), ev((1 << 34) + 3, 11, 1, 0)]);
    assert_eq!(
        (
            c.events,
            c.out_of_range,
            c.malformed,
            c.non_event,
            c.truncated_bytes
        ),
        (2, 1, 1, 2, 3)
    );
}

#[test]
fn aedat31_skips_other_packets_invalid_events_and_garbage() {
    let events = [ev(10, 1, 2, 1), ev(20, 127, 127, 0)];
    let mut bytes = Vec::new();
    let mut sink = |b: &[u8]| bytes.extend_from_slice(b);
    let mut enc = Aedat31Encoder::new();
    enc.other_packet(0, 8, 3, &mut sink); // special events
    enc.encode(&events[..1], &mut sink).unwrap();
    sink(&[0xFF; 5]); // garbage between packets
    enc.other_packet(3, 60, 2, &mut sink); // IMU6
    enc.encode(&events[1..], &mut sink).unwrap();
    // An event with the validity bit cleared.
    let mut invalid = Vec::new();
    Aedat31Encoder::new()
        .encode(&[ev(30, 5, 5, 1)], &mut |b: &[u8]| {
            invalid.extend_from_slice(b)
        })
        .unwrap();
    let packet_at = invalid.len() - 36;
    invalid[packet_at + 28] &= !1;
    bytes.extend_from_slice(&invalid[packet_at..]);

    let mut d = Aedat31Decoder::new(Geometry::new(128, 128));
    let mut got = Vec::new();
    for c in bytes.chunks(3) {
        d.feed(c, |e| got.push(e));
    }
    let c = d.finish();
    assert_eq!(got, events);
    assert_eq!(c.malformed, 5, "{c:?}");
    assert_eq!(c.non_event, 3, "{c:?}");
}

#[test]
fn aedat31_timestamp_overflow() {
    let events = [ev((1 << 31) - 1, 3, 4, 0), ev(5 << 31 | 7, 3, 4, 1)];
    let bytes = Format::Aedat31.encode(&events).unwrap();
    assert_eq!(decode_whole(Format::Aedat31, &bytes).0, events);
}

#[test]
fn dat_header_geometry_and_other_types() {
    let events = [
        ev(1, 2, 3, 1),
        ev(4_000_000_000, 639, 479, 0),
        ev(4_300_000_000, 0, 0, 1),
    ];
    let bytes = Format::Dat.encode(&events).unwrap();
    let info = HeaderInfo::parse(&bytes).unwrap();
    assert_eq!(
        info.geometry,
        Some(HeaderGeometry::Stated(Geometry::new(640, 480)))
    );
    assert_eq!(&bytes[info.data_offset..info.data_offset + 2], &[12, 8]);
    assert_eq!(decode_whole(Format::Dat, &bytes).0, events);
    // Trigger records are skipped.
    let mut trig = b"% Version 2\n".to_vec();
    trig.extend_from_slice(&[14, 8]);
    trig.extend_from_slice(&[0; 20]);
    let (got, c) = decode_whole(Format::Dat, &trig);
    assert!(got.is_empty());
    assert_eq!((c.non_event, c.truncated_bytes), (2, 4));
}

#[test]
fn aedat2_dvs128_address_bits() {
    let mut bytes = b"#!AER-DAT2.0\r\n# comment\r\n".to_vec();
    let addr: u32 = 100 << 8 | 27 << 1 | 1;
    bytes.extend(addr.to_be_bytes());
    bytes.extend(1234u32.to_be_bytes());
    bytes.extend((1u32 << 15).to_be_bytes()); // external event
    bytes.extend(1235u32.to_be_bytes());
    let (got, c) = decode_whole(Format::Aedat2, &bytes);
    assert_eq!(got, [ev(1234, 27, 100, 1)]);
    assert_eq!(c.non_event, 1);
}

#[test]
fn header_parser() {
    let h = b"% evt 3.0\n% format EVT3;height=720;width=1280\n% end\nDATA";
    let info = HeaderInfo::parse(h).unwrap();
    assert_eq!(info.format, Some(EventFormat::Evt3));
    assert_eq!(
        info.geometry,
        Some(HeaderGeometry::Stated(Geometry::new(1280, 720)))
    );
    assert_eq!(&h[info.data_offset..], b"DATA");

    let h = b"% evt 2.0\r\n% geometry 640x480\r\n\x01\x02";
    let info = HeaderInfo::parse(h).unwrap();
    assert_eq!(info.format, Some(EventFormat::Evt2));
    assert_eq!(
        info.geometry,
        Some(HeaderGeometry::Stated(Geometry::new(640, 480)))
    );
    assert_eq!(info.data_offset, h.len() - 2);

    let h = b"% format EVT21;width=320;height=320\n\0";
    let info = HeaderInfo::parse(h).unwrap();
    assert_eq!(info.format, Some(EventFormat::Evt21));
    assert_eq!(
        info.geometry,
        Some(HeaderGeometry::Stated(Geometry::new(320, 320)))
    );

    assert_eq!(
        HeaderInfo::parse(b"% evt 3.0\n% geom"),
        Err(HeaderError::Incomplete)
    );
    assert_eq!(
        HeaderInfo::parse(b"% evt 3.0\n"),
        Err(HeaderError::Incomplete)
    );
    let none = HeaderInfo::parse(b"\x00\x80").unwrap();
    assert_eq!(
        (none.format, none.geometry, none.data_offset),
        (None, None, 0)
    );
    let odd = HeaderInfo::parse(b"% geometry 99999x1\n% evt 9.9\n% \xff\xfe\n\0").unwrap();
    assert_eq!((odd.format, odd.geometry), (None, None));
}

fn cfg(window: Window, bins: u16, downsample: u16, clip: u8) -> FramerConfig {
    FramerConfig {
        geometry: Geometry::new(5, 4),
        bins,
        window,
        downsample,
        clip,
        slices: 1,
    }
}

/// Slice `s` of a bin lands in channels `2s` (OFF) and `2s + 1` (ON): by time in time bins,
/// by event count in count bins.
#[test]
fn framer_slices_cut_each_bin() {
    // Time: bins of 10 µs in 4 slices; offsets 0-2 → 0, 3-4 → 1, 5-7 → 2, 8-9 → 3.
    let mut f = Framer::new(FramerConfig {
        slices: 4,
        ..cfg(Window::Time { us: 10 }, 2, 1, 255)
    })
    .unwrap();
    assert_eq!(f.shape(), (2, 8, 4, 5));
    let mut out = vec![0u8; f.frame_len()];
    let plane = 20;
    let at = |bin: usize, slice: usize, p: usize, x: usize| ((bin * 4 + slice) * 2 + p) * plane + x;
    let pushes = [
        (100, 0, 1, (0, 0)),
        (102, 1, 0, (0, 0)),
        (103, 2, 1, (0, 1)),
        (104, 3, 0, (0, 1)),
        (105, 4, 1, (0, 2)),
        (107, 0, 1, (0, 2)),
        (108, 1, 1, (0, 3)),
        (109, 2, 0, (0, 3)),
        (110, 3, 1, (1, 0)),
        (119, 4, 0, (1, 3)),
    ];
    let mut want = vec![0u8; out.len()];
    for (t, x, p, (bin, slice)) in pushes {
        assert_eq!(f.push(ev(t, x, 0, p), &mut out), Push::Binned);
        want[at(bin, slice, p as usize, x as usize)] += 1;
    }
    assert_eq!(out, want);
    assert_eq!(f.push(ev(120, 0, 0, 1), &mut out), Push::Full);

    // A bin so long that offset × slices passes u64: still exact (3/4 of the bin → slice 6).
    let mut f = Framer::new(FramerConfig {
        slices: 8,
        ..cfg(Window::Time { us: 1 << 63 }, 1, 1, 255)
    })
    .unwrap();
    let mut out = vec![0u8; f.frame_len()];
    assert_eq!(f.push(ev(0, 0, 0, 0), &mut out), Push::Binned);
    assert_eq!(f.push(ev(3 << 61, 1, 0, 1), &mut out), Push::Binned);
    let ones: Vec<usize> = (0..out.len()).filter(|&i| out[i] == 1).collect();
    assert_eq!(ones, [0, (6 * 2 + 1) * plane + 1]);

    // Count: bins of 5 events in 2 slices; events 0-2 → slice 0, 3-4 → slice 1.
    let mut f = Framer::new(FramerConfig {
        slices: 2,
        ..cfg(Window::Count { events: 5 }, 1, 1, 255)
    })
    .unwrap();
    let mut out = vec![0u8; f.frame_len()];
    let events: Vec<Event> = (0..6).map(|i| ev(i, i as u16 % 5, 1, 0)).collect();
    assert_eq!(f.push_slice(&events, &mut out), 5);
    let ones: Vec<usize> = (0..out.len()).filter(|&i| out[i] == 1).collect();
    let row = 5;
    assert_eq!(
        ones,
        [
            row,
            row + 1,
            row + 2,
            2 * plane + row + 3,
            2 * plane + row + 4
        ]
    );
    assert_eq!(
        Framer::new(FramerConfig {
            slices: 0,
            ..cfg(Window::Count { events: 5 }, 1, 1, 255)
        })
        .unwrap_err(),
        FramerError::NoSlices
    );
}

#[test]
fn framer_time_windows_chw_downsample_clip() {
    let mut f = Framer::new(cfg(Window::Time { us: 10 }, 2, 2, 2)).unwrap();
    assert_eq!(f.shape(), (2, 2, 2, 3));
    let mut out = vec![0u8; f.frame_len()];
    assert_eq!(out.len(), 24);
    let at = |t: usize, p: usize, y: usize, x: usize| ((t * 2 + p) * 2 + y) * 3 + x;
    for e in [
        ev(100, 4, 3, 1),
        ev(105, 0, 0, 0),
        ev(105, 1, 1, 0),
        ev(109, 0, 1, 0),
    ] {
        assert_eq!(f.push(e, &mut out), Push::Binned);
    }
    assert_eq!(f.push(ev(110, 2, 2, 1), &mut out), Push::Binned);
    assert_eq!(f.push(ev(111, 9, 0, 1), &mut out), Push::Dropped);
    assert_eq!(f.push(ev(120, 0, 0, 1), &mut out), Push::Full);
    let mut want = vec![0u8; 24];
    want[at(0, 1, 1, 2)] = 1;
    want[at(0, 0, 0, 0)] = 2; // three events clipped to 2
    want[at(1, 1, 1, 1)] = 1;
    assert_eq!(out, want);
    assert_eq!(f.counters().clipped, 1);
    f.next_window(&mut out);
    assert!(out.iter().all(|&c| c == 0));
    assert_eq!(f.window_start(), Some(120));
    assert_eq!(f.push(ev(120, 0, 0, 1), &mut out), Push::Binned);
    assert_eq!(f.push(ev(119, 0, 0, 1), &mut out), Push::Dropped);
    assert_eq!(f.counters().late, 1);
}

#[test]
fn framer_count_windows() {
    let mut f = Framer::new(cfg(Window::Count { events: 2 }, 2, 1, 255)).unwrap();
    let mut out = vec![0u8; f.frame_len()];
    let events: Vec<Event> = (0..5).map(|i| ev(i, i as u16, 0, 1)).collect();
    assert_eq!(f.push_slice(&events, &mut out), 4);
    assert!(f.is_full());
    let plane = 20;
    let ones: Vec<usize> = (0..out.len()).filter(|&i| out[i] == 1).collect();
    assert_eq!(ones, [plane, plane + 1, 3 * plane + 2, 3 * plane + 3]);
    f.next_window(&mut out);
    assert_eq!(f.push_slice(&events[4..], &mut out), 1);
    assert_eq!(out[plane + 4], 1);
}

#[test]
fn framer_rejects_bad_config() {
    assert_eq!(
        Framer::new(cfg(Window::Time { us: 1 }, 0, 1, 1)).err(),
        Some(FramerError::NoBins)
    );
    assert_eq!(
        Framer::new(cfg(Window::Count { events: 0 }, 1, 1, 1)).err(),
        Some(FramerError::EmptyWindow)
    );
    assert_eq!(
        Framer::new(cfg(Window::Time { us: 1 }, 1, 0, 1)).err(),
        Some(FramerError::NoDownsample)
    );
    assert_eq!(
        Framer::new(cfg(Window::Time { us: 1 }, 1, 1, 0)).err(),
        Some(FramerError::NoClip)
    );
    // A too-short buffer drops instead of panicking.
    let mut f = Framer::new(cfg(Window::Time { us: 1 }, 1, 1, 1)).unwrap();
    assert_eq!(f.push(ev(0, 0, 0, 0), &mut [0u8; 3]), Push::Dropped);
    // The configuration alone tells the same shape and errors as the framer.
    let good = cfg(Window::Time { us: 1 }, 3, 2, 1);
    let f = Framer::new(good).unwrap();
    assert_eq!(good.shape(), Ok(f.shape()));
    assert_eq!(good.frame_len(), Ok(f.frame_len()));
    assert_eq!(
        cfg(Window::Count { events: 0 }, 1, 1, 1).frame_len(),
        Err(FramerError::EmptyWindow)
    );
}

#[test]
fn header_geometry_from_the_sensor_name_when_none_is_stated() {
    use sdt_events::header::sensor_geometry;
    let vga = Geometry::new(640, 480);
    let hd = Geometry::new(1280, 720);
    // A Gen3 EVT 2.0 recording's header, as Metavision wrote them: no geometry line.
    let h = b"% Date 2020-09-14 09:03:25\n% firmware_version 2.0.2\n\
              % integrator_name Prophesee\n% plugin_name hal_plugin_gen3_fx3\n\
              % serial_number 30384338\n% system_ID 21\n% evt 2.0\nDATA";
    let info = HeaderInfo::parse(h).unwrap();
    assert_eq!(info.format, Some(EventFormat::Evt2));
    assert_eq!(info.geometry, Some(HeaderGeometry::Sensor(vga)));
    assert_eq!(info.geometry.map(HeaderGeometry::geometry), Some(vga));
    assert_eq!(&h[info.data_offset..], b"DATA");
    // A stated geometry wins over the sensor, wherever it appears.
    let h = b"% geometry 320x240\n% plugin_name hal_plugin_gen41_evk3\n% end\n";
    let info = HeaderInfo::parse(h).unwrap();
    assert_eq!(
        info.geometry,
        Some(HeaderGeometry::Stated(Geometry::new(320, 240)))
    );
    let h = b"% sensor_generation 4.2\n% end\n";
    assert_eq!(
        HeaderInfo::parse(h).unwrap().geometry,
        Some(HeaderGeometry::Sensor(hd))
    );
    for (name, want) in [
        (&b"hal_plugin_gen3_fx3"[..], Some(vga)),
        (b"hal_plugin_gen31_evk3", Some(vga)),
        (b"hal_plugin_gen4_fx3", Some(hd)),
        (b"hal_plugin_gen41_evk2", Some(hd)),
        (b"hal_plugin_imx636_evk4", Some(hd)),
        (b"IMX636", Some(hd)),
        (b"hal_plugin_genx320_evk", Some(Geometry::new(320, 320))),
        (b"3.1", Some(vga)),
        (b"hal_plugin_unknown_fx3", None),
        (b"", None),
    ] {
        assert_eq!(
            sensor_geometry(name),
            want,
            "{}",
            String::from_utf8_lossy(name)
        );
    }
    // Unknown sensor, nothing stated: no geometry (the caller's default applies).
    let h = b"% plugin_name hal_plugin_unknown\n% end\n";
    assert_eq!(HeaderInfo::parse(h).unwrap().geometry, None);
}
