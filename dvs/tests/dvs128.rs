//! The DVS128 Gesture layout loader on a fixture written with the core AEDAT 3.1 encoder: a
//! simulated recording of three gestures plus its labels CSV.

mod common;

use std::path::Path;

use sdt_dvs::dvs128::{self, Dvs128Error};
use sdt_dvs::sim::{simulate, Gesture, SimOptions};
use sdt_events::aedat31::Aedat31Encoder;
use sdt_events::{Encoder, Event};

/// Writes `userNN_led.aedat` and its labels; returns the events and the labels written.
fn write_recording(dir: &Path, name: &str, seed: u64) -> (Vec<Event>, Vec<(usize, u64, u64)>) {
    let seq = [
        (Gesture::LeftHandWave, 300_000),
        (Gesture::AirGuitar, 250_000),
        (Gesture::HandClap, 300_000),
    ];
    let rec = simulate(&seq, &SimOptions::default(), seed).unwrap();
    // The dataset's clocks do not start at 0.
    let offset = 7_000_000;
    let events: Vec<Event> = rec
        .events
        .iter()
        .map(|e| Event {
            t: e.t + offset,
            ..*e
        })
        .collect();
    let mut bytes = Vec::new();
    Aedat31Encoder::new()
        .encode(&events, &mut |b: &[u8]| bytes.extend_from_slice(b))
        .unwrap();
    std::fs::write(dir.join(format!("{name}.aedat")), &bytes).unwrap();
    let mut csv = String::from("class,startTime_usec,endTime_usec\n");
    let mut labels = Vec::new();
    for s in &rec.spans {
        let l = (s.gesture.index(), s.start_us + offset, s.end_us + offset);
        csv.push_str(&format!("{},{},{}\n", l.0 + 1, l.1, l.2));
        labels.push(l);
    }
    std::fs::write(dir.join(format!("{name}_labels.csv")), csv).unwrap();
    (events, labels)
}

#[test]
fn labelled_spans_become_clips_with_their_events() {
    let dir = common::scratch("dvs128-clips");
    let (events, labels) = write_recording(&dir, "user03_led", 11);
    let clips = dvs128::load_recording(&dir.join("user03_led.aedat")).unwrap();
    assert_eq!(clips.len(), 3);
    for (c, &(class, start, end)) in clips.iter().zip(&labels) {
        assert_eq!((c.class, c.start_us, c.end_us), (class, start, end));
        let want: Vec<Event> = events
            .iter()
            .copied()
            .filter(|e| e.t >= start && e.t < end)
            .collect();
        assert!(want.len() > 100, "{} events", want.len());
        assert_eq!(c.events, want);
    }
    assert_eq!(
        clips.iter().map(|c| c.class).collect::<Vec<_>>(),
        [2, 9, 0],
        "left hand wave, air guitar, hand clap (0-based)"
    );
    let (all, counters) = dvs128::read_events(&dir.join("user03_led.aedat")).unwrap();
    assert_eq!(all, events);
    assert_eq!(counters.malformed + counters.out_of_range, 0);
}

#[test]
fn a_folder_is_listed_and_split_by_user() {
    let dir = common::scratch("dvs128-dir");
    write_recording(&dir, "user02_fluorescent", 1);
    write_recording(&dir, "user25_natural", 2);
    std::fs::write(dir.join("notes.txt"), "not a recording").unwrap();
    assert_eq!(dvs128::recordings(&dir, None).unwrap().len(), 2);
    let test = dvs128::load_dir(&dir, Some(24..=29)).unwrap();
    assert_eq!(test.len(), 3);
    assert!(test
        .iter()
        .all(|c| c.recording.ends_with("user25_natural.aedat")));
    assert_eq!(dvs128::load_dir(&dir, None).unwrap().len(), 6);
    // A recording without labels is an error naming the file it looked for.
    write_recording(&dir, "user04_led", 3);
    std::fs::remove_file(dir.join("user04_led_labels.csv")).unwrap();
    let err = dvs128::load_dir(&dir, None).unwrap_err();
    assert!(matches!(err, Dvs128Error::MissingLabels(..)), "{err}");
}

#[test]
fn malformed_labels_are_errors_with_line_numbers() {
    let p = Path::new("x_labels.csv");
    let ok = dvs128::parse_labels(
        "class,startTime_usec,endTime_usec\n3,10,20\n\n11,30,40\n",
        p,
    )
    .unwrap();
    assert_eq!(ok.len(), 2);
    assert_eq!((ok[1].class, ok[1].start_us, ok[1].end_us), (10, 30, 40));
    for (text, line) in [
        ("class,a,b\n12,1,2\n", 2),
        ("0,1,2\n", 1),
        ("1,5,5\n", 1),
        ("1,x,9\n", 1),
        ("1,2\n", 1),
    ] {
        match dvs128::parse_labels(text, p) {
            Err(Dvs128Error::Labels { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
            other => panic!("{text:?}: {other:?}"),
        }
    }
}
