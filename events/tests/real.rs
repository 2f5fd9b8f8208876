//! Decoding of real recordings from the shared events folder (`SDT_EVENTS_DIR`).

use sdt_events::evt3::{Evt3Decoder, TimePolicy};
use sdt_events::nmnist::{NmnistDecoder, NMNIST};
use sdt_events::{Decoder, Event, EventFormat, Geometry, HeaderGeometry, HeaderInfo};

fn read(name: &str) -> Vec<u8> {
    let path = sdt_host::data::DataDir::Events.require(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The fields of a NumPy structured array, as `(name, type, offset)`, and the record size.
fn npy_fields(header: &str) -> (Vec<(String, String, usize)>, usize) {
    let descr = header
        .split("'descr':")
        .nth(1)
        .and_then(|s| s.split(']').next())
        .expect("npy header has a structured 'descr'");
    let mut fields = Vec::new();
    let mut offset = 0;
    for tuple in descr.split('(').skip(1) {
        let parts: Vec<&str> = tuple.split('\'').collect();
        let (name, ty) = (parts[1].to_string(), parts[3].to_string());
        let size: usize = ty[2..].parse().expect("field size");
        fields.push((name, ty, offset));
        offset += size;
    }
    (fields, offset)
}

/// Parses the reference `.npy`: `(t, x, y, p)` rows.
fn read_npy(bytes: &[u8]) -> Vec<Event> {
    assert_eq!(&bytes[..6], b"\x93NUMPY", "not a .npy file");
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(&bytes[start..start + header_len]).expect("ascii header");
    assert!(header.contains("'fortran_order': False"));
    let (fields, record) = npy_fields(header);
    let field = |name: &str, ty: &str| {
        let (_, t, o) = fields
            .iter()
            .find(|(n, _, _)| n == name)
            .unwrap_or_else(|| panic!("field {name} missing from {header}"));
        assert_eq!(t, ty, "type of field {name}");
        *o
    };
    let (ot, ox, oy, op) = (
        field("t", "<i8"),
        field("x", "<i2"),
        field("y", "<i2"),
        field("p", "|u1"),
    );
    let rows: usize = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.trim().parse().ok())
        .expect("1-d shape");
    let data = &bytes[start + header_len..];
    assert_eq!(data.len(), rows * record, "data size");
    data.chunks_exact(record)
        .map(|r| {
            let i8_at = |o: usize| i64::from_le_bytes(r[o..o + 8].try_into().unwrap());
            let i2_at = |o: usize| i16::from_le_bytes([r[o], r[o + 1]]);
            Event {
                t: u64::try_from(i8_at(ot)).expect("t >= 0"),
                x: u16::try_from(i2_at(ox)).expect("x >= 0"),
                y: u16::try_from(i2_at(oy)).expect("y >= 0"),
                p: r[op],
            }
        })
        .collect()
}

fn decode_evt3(raw: &[u8], chunk: usize, policy: TimePolicy) -> (Vec<Event>, sdt_events::Counters) {
    let info = HeaderInfo::parse(raw).expect("complete header");
    assert_eq!(info.format, Some(EventFormat::Evt3));
    // `% plugin_name hal_plugin_gen41_evk3`, no geometry line: a Gen4.1 sensor, 1280×720.
    assert_eq!(
        info.geometry,
        Some(HeaderGeometry::Sensor(Geometry::new(1280, 720)))
    );
    let geometry = Geometry::new(1280, 720);
    let mut d = Evt3Decoder::with_policy(geometry, policy);
    let mut events = Vec::new();
    for c in raw[info.data_offset..].chunks(chunk) {
        d.feed(c, |e| events.push(e));
    }
    (events, d.finish())
}

#[test]
fn evt3_gen41_matches_reference() {
    let raw = read("expelliarmus_evt3_gen41.raw");
    let reference = read_npy(&read("expelliarmus_evt3_gen41.ref.npy"));
    assert_eq!(reference.len(), 219_596);
    let (events, counters) = decode_evt3(&raw, raw.len(), TimePolicy::LowCarry);
    assert_eq!(
        events.len(),
        reference.len(),
        "event count; counters {counters:?}"
    );
    for (i, (got, want)) in events.iter().zip(&reference).enumerate() {
        assert_eq!(got, want, "event {i}");
    }
    assert_eq!(counters.events, 219_596);
    assert_eq!(counters.malformed, 0);
    assert_eq!(counters.out_of_range, 0);
    assert_eq!(counters.truncated_bytes, 0);
    // Time bases and row addresses: well-formed units without events, not errors.
    assert_eq!(counters.non_event, 79_530);
    assert_eq!(events.first().map(|e| e.t), Some(11_718_656));
    assert_eq!(events.last().map(|e| e.t), Some(11_772_513));
}

#[test]
fn evt3_gen41_any_chunking() {
    let raw = read("expelliarmus_evt3_gen41.raw");
    for policy in [TimePolicy::Spec, TimePolicy::LowCarry] {
        let (whole, c0) = decode_evt3(&raw, raw.len(), policy);
        for chunk in [1, 3, 64, 4093] {
            let (events, c) = decode_evt3(&raw, chunk, policy);
            assert_eq!(c, c0, "counters, chunk {chunk}");
            assert!(events == whole, "events differ with chunk {chunk}");
        }
    }
}

/// With the documented time rule the sample agrees with the reference on everything but the
/// carries `LowCarry` adds: coordinates and polarities equal, times off by multiples of
/// 4096 µs, and the recording spans about 12 ms instead of 54 ms.
#[test]
fn evt3_gen41_spec_time() {
    let raw = read("expelliarmus_evt3_gen41.raw");
    let reference = read_npy(&read("expelliarmus_evt3_gen41.ref.npy"));
    let (events, counters) = decode_evt3(&raw, raw.len(), TimePolicy::Spec);
    assert_eq!(counters.events, 219_596);
    assert_eq!(events.len(), reference.len());
    for (i, (got, want)) in events.iter().zip(&reference).enumerate() {
        assert_eq!((got.x, got.y, got.p), (want.x, want.y, want.p), "event {i}");
        assert!(got.t <= want.t && (want.t - got.t) % 4096 == 0, "event {i}");
    }
    assert_eq!(events[0].t, 11_718_656);
    let last = events.last().map_or(0, |e| e.t);
    assert!(
        (11_718_656 + 8_192..11_718_656 + 12_288).contains(&last),
        "last t {last}"
    );
    assert_eq!(&events[..20_121], &reference[..20_121]);
}

#[test]
fn evt3_gen41_header() {
    let raw = read("expelliarmus_evt3_gen41.raw");
    let info = HeaderInfo::parse(&raw).expect("complete header");
    assert_eq!(info.format, Some(EventFormat::Evt3));
    assert!(raw[..info.data_offset].ends_with(b"% system_ID 48\n"));
}

#[test]
fn nmnist_sample() {
    let bytes = read("tonic_sample_nmnist.bin");
    let mut d = NmnistDecoder::new(NMNIST);
    let mut events = Vec::new();
    for c in bytes.chunks(1000) {
        d.feed(c, |e| events.push(e));
    }
    let counters = d.finish();
    assert_eq!(events.len(), 4_325);
    assert_eq!(counters.events, 4_325);
    assert_eq!(counters.out_of_range, 0);
    assert_eq!(counters.truncated_bytes, 0);
    assert!(events.iter().all(|e| e.x < 34 && e.y < 34 && e.p <= 1));
    assert_eq!(events.first().map(|e| e.t), Some(654));
    assert_eq!(events.last().map(|e| e.t), Some(311_175));
    assert!(events.windows(2).all(|w| w[0].t <= w[1].t));
    assert!(events.iter().any(|e| e.p == 0) && events.iter().any(|e| e.p == 1));
}
