//! Decoder throughput: events/s per format over a synthetic stream of a few MB, and over the
//! real EVT 3.0 sample when `SDT_EVENTS_DIR` is set. Run with
//! `cargo bench -p sdt-events --bench events`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use sdt_events::aedat2::{Aedat2Decoder, Aedat2Encoder};
use sdt_events::aedat31::{Aedat31Decoder, Aedat31Encoder};
use sdt_events::dat::{DatDecoder, DatEncoder};
use sdt_events::evt2::{Evt2Decoder, Evt2Encoder};
use sdt_events::evt3::{Evt3Decoder, Evt3Encoder};
use sdt_events::nmnist::{NmnistDecoder, NmnistEncoder};
use sdt_events::{Decoder, Encoder, Event, Geometry, HeaderInfo};

/// A deterministic pseudo-random event stream: bursts along rows (as a moving edge gives),
/// mixed with isolated events, time increasing by 0–3 µs per group.
fn synthetic(n: usize, g: Geometry, max_t: u64) -> Vec<Event> {
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut events = Vec::with_capacity(n);
    let mut t = 0u64;
    while events.len() < n {
        let r = next();
        t = (t + (r & 3)).min(max_t);
        let y = (r >> 8) as u16 % g.height;
        let x0 = (r >> 24) as u16 % g.width;
        let p = (r >> 40) as u8 & 1;
        let burst = if r >> 41 & 1 == 1 {
            (r >> 42) as u16 % 24 + 1
        } else {
            1
        };
        for x in x0..(x0 + burst).min(g.width) {
            if next() & 3 != 0 {
                events.push(Event { t, x, y, p });
            }
        }
    }
    events.truncate(n);
    events
}

fn encode(enc: &mut impl Encoder, events: &[Event]) -> Vec<u8> {
    let mut out = Vec::new();
    enc.encode(events, &mut |b: &[u8]| out.extend_from_slice(b))
        .expect("encodable");
    out
}

/// Decodes `bytes` in 64 KiB chunks repeatedly for about a second; returns events/s.
fn measure<D: Decoder>(make: impl Fn() -> D, bytes: &[u8]) -> (u64, f64) {
    let mut best = f64::MAX;
    let mut events = 0;
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        let mut d = make();
        let mut sum = 0u64;
        let t0 = Instant::now();
        for chunk in bytes.chunks(64 * 1024) {
            d.feed(black_box(chunk), |e| {
                sum = sum.wrapping_add(e.t ^ u64::from(e.x) ^ u64::from(e.y) << 16);
            });
        }
        let c = d.finish();
        let dt = t0.elapsed().as_secs_f64();
        black_box(sum);
        best = best.min(dt);
        events = c.events;
    }
    (events, events as f64 / best)
}

fn report(name: &str, bytes: usize, (events, rate): (u64, f64)) {
    println!(
        "{name:<24} {:>7.2} MB {:>9} events {:>8.1} M events/s",
        bytes as f64 / 1e6,
        events,
        rate / 1e6
    );
}

fn main() {
    let n = 1_500_000;
    let hd = Geometry::new(1280, 720);
    let dvs = Geometry::new(128, 128);
    let vga = Geometry::new(640, 480);

    let ev = synthetic(n, hd, u64::MAX);
    let b = encode(&mut Evt3Encoder::new(), &ev);
    report(
        "EVT 3.0 (synthetic)",
        b.len(),
        measure(|| Evt3Decoder::new(hd), &b),
    );
    let b = encode(&mut Evt2Encoder::new(), &ev);
    report(
        "EVT 2.0 (synthetic)",
        b.len(),
        measure(|| Evt2Decoder::new(hd), &b),
    );
    let ev = synthetic(n, vga, u64::MAX);
    let b = encode(&mut DatEncoder::new(vga), &ev);
    report(
        "DAT (synthetic)",
        b.len(),
        measure(|| DatDecoder::new(vga), &b),
    );
    let ev = synthetic(n, dvs, u64::MAX);
    let b = encode(&mut Aedat2Encoder::new(), &ev);
    report(
        "AEDAT 2.0 (synthetic)",
        b.len(),
        measure(|| Aedat2Decoder::new(dvs), &b),
    );
    let b = encode(&mut Aedat31Encoder::new(), &ev);
    report(
        "AEDAT 3.1 (synthetic)",
        b.len(),
        measure(|| Aedat31Decoder::new(dvs), &b),
    );
    let g = Geometry::new(34, 34);
    let ev = synthetic(n, g, (1 << 23) - 1);
    let b = encode(&mut NmnistEncoder::new(), &ev);
    report(
        "N-MNIST (synthetic)",
        b.len(),
        measure(|| NmnistDecoder::new(g), &b),
    );

    // The real recording is optional here (a benchmark, not a test): say why it is missing.
    match sdt_host::data::events_file("expelliarmus_evt3_gen41.raw") {
        Ok(path) => match std::fs::read(&path) {
            Ok(raw) => {
                let off = HeaderInfo::parse(&raw).map_or(0, |h| h.data_offset);
                let data = &raw[off..];
                report(
                    "EVT 3.0 (Gen4.1 sample)",
                    data.len(),
                    measure(|| Evt3Decoder::new(hd), data),
                );
            }
            Err(e) => println!("cannot read {}: {e}", path.display()),
        },
        Err(e) => println!("skipping the real EVT 3.0 recording: {e}"),
    }
}
