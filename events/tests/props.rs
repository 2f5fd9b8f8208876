//! Property tests: encode → decode round trips, and chunked decoding equal to whole-buffer
//! decoding, for every format; hostile input (random bytes, truncation) never panics and is
//! accounted for in the counters.

mod util;

use proptest::prelude::*;
use sdt_events::evt3::{Evt3Decoder, TimePolicy};
use sdt_events::{Decoder, Event};
use util::{build_events, decode_chunked, decode_whole, Format, ALL};

type Segment = (u8, u64, u16, u16, bool, u32);

fn segments() -> impl Strategy<Value = Vec<Segment>> {
    prop::collection::vec(
        (
            any::<u8>(),
            any::<u64>(),
            any::<u16>(),
            any::<u16>(),
            any::<bool>(),
            any::<u32>(),
        ),
        0..120,
    )
}

fn chunks() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..97, 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn round_trip_every_format(segs in segments(), sizes in chunks()) {
        for f in ALL {
            let events = build_events(f, &segs);
            let bytes = f.encode(&events).expect("encodable");
            let (whole, c) = decode_whole(f, &bytes);
            prop_assert_eq!(&whole, &events, "{:?}", f);
            prop_assert_eq!(c.events, events.len() as u64);
            prop_assert_eq!((c.malformed, c.out_of_range, c.truncated_bytes), (0, 0, 0));
            let (chunked, c2) = decode_chunked(f, &bytes, &sizes);
            prop_assert_eq!(&chunked, &events, "{:?} chunked {:?}", f, sizes);
            prop_assert_eq!(c2, c);
        }
    }

    #[test]
    fn random_bytes_chunked_equals_whole(bytes in prop::collection::vec(any::<u8>(), 0..600),
                                         sizes in chunks()) {
        for f in ALL {
            let whole = decode_whole(f, &bytes);
            let chunked = decode_chunked(f, &bytes, &sizes);
            prop_assert_eq!(&whole, &chunked, "{:?}", f);
            prop_assert!(whole.0.iter().all(|e| f.geometry().contains(e.x, e.y) && e.p <= 1));
        }
    }

    /// Random bytes after a valid header, so the record decoders see plenty of records.
    #[test]
    fn random_records_are_accounted(body in prop::collection::vec(any::<u8>(), 0..800),
                                    sizes in chunks()) {
        for f in ALL {
            let mut bytes = f.encode(&[]).expect("header");
            let header = bytes.len();
            bytes.extend_from_slice(&body);
            // A body starting with the comment marker would just be one more header line.
            if let Some(b) = bytes.get_mut(header) {
                if *b == b'#' {
                    *b = 0;
                }
            }
            let (events, c) = decode_chunked(f, &bytes, &sizes);
            prop_assert_eq!(c.events, events.len() as u64);
            let n = body.len() as u64;
            match f {
                // Every complete unit is exactly one of: event, out of range, malformed, other.
                Format::Evt2 | Format::Dat | Format::Aedat2 | Format::Nmnist => {
                    let unit = match f { Format::Evt2 => 4, Format::Nmnist => 5, _ => 8 };
                    prop_assert_eq!(c.events + c.out_of_range + c.malformed + c.non_event, n / unit, "{:?}", f);
                    prop_assert_eq!(c.truncated_bytes, n % unit, "{:?}", f);
                }
                Format::Evt3 => {
                    prop_assert!(c.malformed + c.non_event <= n / 2);
                    prop_assert_eq!(c.truncated_bytes, n % 2);
                }
                Format::Aedat31 => {
                    prop_assert!(c.truncated_bytes < 28);
                }
            }
        }
    }

    #[test]
    fn truncation_gives_a_prefix(segs in segments(), cut in any::<prop::sample::Index>()) {
        for f in ALL {
            let events = build_events(f, &segs);
            let bytes = f.encode(&events).expect("encodable");
            let cut = cut.index(bytes.len() + 1);
            let (got, c) = decode_whole(f, &bytes[..cut]);
            prop_assert!(got.len() <= events.len());
            prop_assert_eq!(&got[..], &events[..got.len()], "{:?}", f);
            prop_assert_eq!(c.malformed, 0, "{:?}", f);
            match f {
                Format::Evt2 => prop_assert_eq!(c.truncated_bytes as usize, cut % 4),
                Format::Evt3 => prop_assert_eq!(c.truncated_bytes as usize, cut % 2),
                Format::Nmnist => prop_assert_eq!(c.truncated_bytes as usize, cut % 5),
                _ => prop_assert!(c.truncated_bytes < 28),
            }
        }
    }

    #[test]
    fn evt3_low_carry_chunking(bytes in prop::collection::vec(any::<u8>(), 0..600), sizes in chunks()) {
        let decode = |sizes: &[usize]| {
            let mut d = Evt3Decoder::with_policy(Format::Evt3.geometry(), TimePolicy::LowCarry);
            let mut out = Vec::new();
            let mut rest = &bytes[..];
            for &s in sizes.iter().cycle() {
                if rest.is_empty() { break; }
                let (a, b) = rest.split_at(s.min(rest.len()));
                d.feed(a, |e| out.push(e));
                rest = b;
            }
            (out, d.finish())
        };
        prop_assert_eq!(decode(&[bytes.len().max(1)]), decode(&sizes));
    }

    #[test]
    fn feed_into_equals_feed(segs in segments(), room in 12usize..40) {
        let f = Format::Evt3;
        let events = build_events(f, &segs);
        let bytes = f.encode(&events).expect("encodable");
        let mut d = Evt3Decoder::new(f.geometry());
        let mut out = vec![Event::default(); room];
        let mut got = Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let p = d.feed_into(rest, &mut out);
            prop_assert!(p.consumed > 0);
            got.extend_from_slice(&out[..p.written]);
            rest = &rest[p.consumed..];
        }
        prop_assert_eq!(got, events);
    }
}
