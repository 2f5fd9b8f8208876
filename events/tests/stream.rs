//! The streaming classifier: equal to framing and running each bin by hand, deterministic,
//! identical under both kernels, and allocation-free.

// The core's test helpers (model builder, counting allocator): one copy, shared by path.
#[path = "../../core/tests/alloc_count/mod.rs"]
mod alloc_count;
#[path = "../../core/tests/common/mod.rs"]
mod common;

use alloc_count::allocations;

use common::*;
use sdt_core::graph::{AttentionOrder, TensorKind, WeightBits};
use sdt_core::meta::CountNormalization;
use sdt_core::{Input, Kernel, Model, Sequential, Session, Stats};
use sdt_events::stream::{
    Prediction, Run, StreamBuffers, StreamClassifier, StreamConfig, StreamError,
};
use sdt_events::{
    for_each_bin, Event, Framer, FramerConfig, FramerError, Geometry, Push, TrailingBin, Window,
};

/// A model that reacts to its input: encode 3×3 (2 → 8 channels) into the residual stream,
/// mean spike, linear head with 5 classes (the attention model of `tiny_model` is nearly
/// constant on sparse event frames).
fn event_model(seed: u64, acc: f64) -> Blob {
    sliced_event_model(seed, acc, 1)
}

/// [`event_model`] for bins cut into `slices` slices: `2 × slices` input channels.
fn sliced_event_model(seed: u64, acc: f64, slices: usize) -> Blob {
    let mut rng = Rng::new(seed);
    let d = 4;
    let mut b = Builder::new(d);
    let x = b.input(6, 6, &vec![0; 2 * slices]);
    let g = geom(3, 1, 1, 2 * slices as u16, 8, false);
    let (a, frac) = spike_affines(&mut rng, 8, acc, d);
    let r = b.fixed(6, 6, 8, frac);
    let w = Weights::random(&mut rng, WeightBits::I8, g.weight_count(), 127);
    b.conv(x, r, g, &w, &a, None);
    b.head(&mut rng, r, 5);
    b.blob()
}

const SENSOR: Geometry = Geometry::new(12, 12);

/// A synthetic stream: a blob drifting across a 12×12 sensor, ~8 events per 100 µs, with a
/// 5 ms gap in the middle and a few events outside the sensor.
fn stream(n: usize, seed: u64) -> Vec<Event> {
    let mut rng = Rng::new(seed);
    let mut t = 10_000u64;
    (0..n)
        .map(|i| {
            t += rng.below(25);
            if i == n / 2 {
                t += 5_000;
            }
            let cx = (i * 12 / n) as i64;
            let x = (cx + rng.range(-2, 2)).clamp(0, 13) as u16;
            let y = (6 + rng.range(-3, 3)) as u16;
            Event {
                t,
                x,
                y,
                p: rng.below(2) as u8,
            }
        })
        .collect()
}

fn config(window: Window, bins: u16, hop: u16, average: u16) -> StreamConfig {
    StreamConfig {
        framer: FramerConfig {
            geometry: SENSOR,
            bins,
            window,
            downsample: 2,
            clip: 4,
            slices: 1,
        },
        hop,
        average,
        normalize: None,
    }
}

/// Runs the classifier over `events`; returns its predictions.
fn classify(
    model: &Model<'_>,
    cfg: StreamConfig,
    events: &[Event],
    kernel: Kernel,
) -> Vec<Prediction> {
    let sizes = StreamClassifier::sizes(&cfg, model).unwrap();
    let (mut frames, mut logits, mut scores) = (
        vec![0xAAu8; sizes.frames],
        vec![7i32; sizes.logits],
        vec![9i64; sizes.scores],
    );
    let bufs = StreamBuffers {
        frames: &mut frames,
        logits: &mut logits,
        scores: &mut scores,
    };
    let mut c = StreamClassifier::new(cfg, model, bufs).unwrap();
    let mut arena = vec![0u8; sdt_core::arena_bytes(model, 1).unwrap()];
    let mut session = Session::new(model, &mut arena, 1).unwrap();
    let mut run = Run {
        kernel,
        exec: &Sequential,
        stats: None,
    };
    let mut out = Vec::new();
    for &e in events {
        c.push(e, &mut session, &mut run, |p| out.push(*p)).unwrap();
    }
    c.finish(&mut session, &mut run, |p| out.push(*p)).unwrap();
    out
}

/// Bins framed one by one with the plain framer: `(frame CHW, start, end, events)`.
fn bins_by_hand(cfg: &StreamConfig, events: &[Event]) -> Vec<(Vec<u8>, u64, u64, u64)> {
    let mut f = Framer::new(FramerConfig {
        bins: 1,
        ..cfg.framer
    })
    .unwrap();
    let mut frame = vec![0u8; f.frame_len()];
    let mut bins = Vec::new();
    let (mut first, mut last, mut n) = (0, 0, 0u64);
    let bounds = |f: &Framer, first, last| match (cfg.framer.window, f.window_start()) {
        (Window::Time { us }, Some(s)) => (s, s + us),
        _ => (first, last),
    };
    for &e in events {
        loop {
            match f.push(e, &mut frame) {
                Push::Binned => {
                    if n == 0 {
                        first = e.t;
                    }
                    n += 1;
                    last = e.t;
                }
                Push::Dropped => {}
                Push::Full => {
                    let (s, end) = bounds(&f, first, last);
                    bins.push((frame.clone(), s, end, n));
                    f.next_window(&mut frame);
                    n = 0;
                    continue;
                }
            }
            break;
        }
    }
    if n > 0 {
        let (s, end) = bounds(&f, first, last);
        bins.push((frame, s, end, n));
    }
    bins
}

/// Logits of one CHW frame, run by hand.
fn logits_by_hand(model: &Model<'_>, chw: &[u8]) -> Vec<i32> {
    let t = model.tensor(model.graph().input);
    let (h, w, channels) = (t.h as usize, t.w as usize, t.c as usize);
    let mut hwc = vec![0i8; h * w * channels];
    for c in 0..channels {
        for p in 0..h * w {
            hwc[p * channels + c] = chw[c * h * w + p] as i8;
        }
    }
    let mut arena = vec![0u8; sdt_core::arena_bytes(model, 1).unwrap()];
    let mut s = Session::new(model, &mut arena, 1).unwrap();
    s.set_input(Input::I8(&hwc)).unwrap();
    s.run(Kernel::Dense, &Sequential, None).unwrap();
    s.logits().to_vec()
}

fn check_against_hand(model: &Model<'_>, cfg: StreamConfig, events: &[Event]) -> usize {
    let got = classify(model, cfg, events, Kernel::SpikeDriven);
    let bins = bins_by_hand(&cfg, events);
    let logits: Vec<Vec<i32>> = bins.iter().map(|b| logits_by_hand(model, &b.0)).collect();
    let (t, hop, k) = (
        cfg.framer.bins as usize,
        cfg.hop as usize,
        cfg.average as usize,
    );
    let classes = model.classes();
    let frac = match model.tensor(model.graph().logits).kind {
        TensorKind::Fixed { frac } => frac,
        _ => unreachable!(),
    };
    // Window w covers bins [w·hop, w·hop + T).
    let window_scores: Vec<Vec<i64>> = (0..)
        .map(|w| w * hop)
        .take_while(|s| s + t <= bins.len())
        .map(|s| {
            (0..classes)
                .map(|c| (s..s + t).map(|b| logits[b][c] as i64).sum())
                .collect()
        })
        .collect();
    assert_eq!(got.len(), window_scores.len(), "number of windows");
    // The model must react to the stream, or equal scores would prove little.
    let distinct: std::collections::BTreeSet<&Vec<i64>> = window_scores.iter().collect();
    assert!(
        distinct.len() * 4 >= window_scores.len(),
        "{} distinct window scores of {}",
        distinct.len(),
        window_scores.len()
    );
    assert!(!got.is_empty());
    for (w, p) in got.iter().enumerate() {
        let first = w.saturating_sub(k - 1);
        let sums: Vec<i64> = (0..classes)
            .map(|c| window_scores[first..=w].iter().map(|s| s[c]).sum())
            .collect();
        let best = *sums.iter().max().unwrap();
        let label = sums.iter().position(|&s| s == best).unwrap();
        assert_eq!(p.window, w as u64);
        assert_eq!((p.label, p.score), (label, best), "window {w}");
        assert_eq!(p.windows_averaged as usize, w - first + 1);
        assert_eq!(p.start_us, bins[w * hop].1, "window {w} start");
        assert_eq!(p.end_us, bins[w * hop + t - 1].2, "window {w} end");
        // Confidence: softmax of the averaged logits, in thousandths.
        let scale = ((w - first + 1) * t) as f64 * (1u64 << frac) as f64;
        let z: f64 = sums
            .iter()
            .map(|&s| ((s - best) as f64 / scale).exp())
            .sum();
        let want = 1000.0 / z;
        assert!(
            (p.confidence_permille as f64 - want).abs() <= 3.0,
            "window {w}: confidence {} vs {want:.1}",
            p.confidence_permille
        );
    }
    got.len()
}

/// Bins cut into slices reach the model as `2S` HWC channels, slice by slice, in time and
/// in count bins; a model of the wrong width is refused.
#[test]
fn sliced_bins_equal_framing_and_running_by_hand() {
    let events = stream(3_000, 6);
    for slices in [2u8, 3] {
        let blob = sliced_event_model(2, 50.0, usize::from(slices));
        let model = blob.model().unwrap();
        let sliced = |cfg: StreamConfig| StreamConfig {
            framer: FramerConfig {
                slices,
                ..cfg.framer
            },
            ..cfg
        };
        for cfg in [
            config(Window::Time { us: 400 }, 4, 2, 1),
            config(Window::Count { events: 150 }, 3, 1, 2),
        ] {
            let cfg = sliced(cfg);
            let n = check_against_hand(&model, cfg, &events);
            println!("{cfg:?}: {n} windows");
        }
        let plain = config(Window::Time { us: 400 }, 4, 2, 1);
        assert_eq!(
            StreamClassifier::sizes(&plain, &model),
            Err(StreamError::InputShape {
                expected: (6, 6, 2),
                found: (6, 6, 2 * usize::from(slices)),
            })
        );
    }
}

#[test]
fn equals_framing_and_running_by_hand() {
    let blob = event_model(0, 50.0);
    let model = blob.model().unwrap();
    let events = stream(3_000, 4);
    for cfg in [
        config(Window::Time { us: 400 }, 4, 1, 3),
        config(Window::Time { us: 250 }, 3, 3, 1),
        config(Window::Time { us: 1000 }, 2, 1, 5),
        config(Window::Count { events: 150 }, 4, 2, 2),
        config(Window::Count { events: 500 }, 1, 1, 1),
    ] {
        let n = check_against_hand(&model, cfg, &events);
        println!("{cfg:?}: {n} windows");
    }
}

#[test]
fn deterministic_and_kernel_independent() {
    let blob = event_model(0, 50.0);
    let model = blob.model().unwrap();
    let events = stream(2_000, 9);
    let cfg = config(Window::Time { us: 300 }, 4, 1, 4);
    let a = classify(&model, cfg, &events, Kernel::SpikeDriven);
    let b = classify(&model, cfg, &events, Kernel::SpikeDriven);
    let d = classify(&model, cfg, &events, Kernel::Dense);
    assert_eq!(a, b);
    assert_eq!(a, d);
    // Scores vary along the stream (the model is not constant on it).
    let scores: std::collections::BTreeSet<i64> = a.iter().map(|p| p.score).collect();
    assert!(scores.len() >= 10, "{} distinct scores", scores.len());
    // The 5 ms gap gives empty bins, which run the model once and then reuse its logits.
    let runs: u32 = a.iter().map(|p| p.runs).sum();
    let bins = bins_by_hand(&cfg, &events);
    let empty = bins.iter().filter(|b| b.3 == 0).count();
    assert!(empty >= 10, "{empty} empty bins");
    assert_eq!(
        runs as usize,
        bins.len() - empty + 1 - (bins.len() - a.len() - 3)
    );
}

#[test]
fn push_does_not_allocate() {
    let blob = tiny_model(8, AttentionOrder::KvFirst).blob();
    let model = blob.model().unwrap();
    let events = stream(2_000, 1);
    let cfg = config(Window::Time { us: 200 }, 4, 2, 3);
    let sizes = StreamClassifier::sizes(&cfg, &model).unwrap();
    let (mut frames, mut logits, mut scores) = (
        vec![0u8; sizes.frames],
        vec![0i32; sizes.logits],
        vec![0i64; sizes.scores],
    );
    let mut arena = vec![0u8; sdt_core::arena_bytes(&model, 1).unwrap()];
    let mut stats = Box::<Stats>::default();
    let mut predictions = 0usize;
    let mut last = None;
    let n = allocations(|| {
        let bufs = StreamBuffers {
            frames: &mut frames,
            logits: &mut logits,
            scores: &mut scores,
        };
        let mut c = StreamClassifier::new(cfg, &model, bufs).unwrap();
        let mut session = Session::new(&model, &mut arena, 1).unwrap();
        let mut run = Run {
            kernel: Kernel::SpikeDriven,
            exec: &Sequential,
            stats: Some(&mut stats),
        };
        for &e in &events {
            c.push(e, &mut session, &mut run, |p| {
                predictions += 1;
                last = Some(*p);
            })
            .unwrap();
        }
    });
    assert_eq!(n, 0, "the stream classifier allocated");
    assert!(predictions > 10 && last.is_some());
    assert!(stats.runs > 0 && stats.total().sops > 0);
}

#[test]
fn counting_allocator_is_active() {
    assert!(allocations(|| drop(std::hint::black_box(vec![1u8; 10]))) > 0);
}

#[test]
fn rejects_mismatched_configurations() {
    let blob = tiny_model(3, AttentionOrder::KvFirst).blob();
    let model = blob.model().unwrap();
    let mut cfg = config(Window::Time { us: 100 }, 4, 1, 1);
    cfg.framer.geometry = Geometry::new(10, 10);
    assert_eq!(
        StreamClassifier::sizes(&cfg, &model),
        Err(StreamError::InputShape {
            expected: (5, 5, 2),
            found: (6, 6, 2)
        })
    );
    for (hop, avg, error) in [
        (0, 1, StreamError::BadHop),
        (5, 1, StreamError::BadHop),
        (1, 0, StreamError::NoAverage),
    ] {
        let cfg = config(Window::Time { us: 100 }, 4, hop, avg);
        assert_eq!(StreamClassifier::sizes(&cfg, &model), Err(error));
    }
    let cfg = config(Window::Time { us: 100 }, 65, 1, 1);
    assert_eq!(
        StreamClassifier::sizes(&cfg, &model),
        Err(StreamError::TooManyBins)
    );
    let cfg = config(Window::Time { us: 100 }, 4, 1, 2);
    let sizes = StreamClassifier::sizes(&cfg, &model).unwrap();
    assert_eq!(sizes.frames, 4 * 2 * 6 * 6);
    assert_eq!(sizes.logits, 5 * 5);
    assert_eq!(sizes.scores, 2 * 5);
    let (mut f, mut l, mut s) = (
        vec![0u8; sizes.frames - 1],
        vec![0i32; sizes.logits],
        vec![0i64; sizes.scores],
    );
    let bufs = StreamBuffers {
        frames: &mut f,
        logits: &mut l,
        scores: &mut s,
    };
    assert_eq!(
        StreamClassifier::new(cfg, &model, bufs).err(),
        Some(StreamError::Buffer)
    );
}

/// A blob's framing gives the stream configuration, which classifies exactly like the same
/// configuration written out by hand.
#[test]
fn framing_from_the_blob() {
    use sdt_core::meta::{BinLength, EventFraming, InputKind, PolarityLayout};
    let framing = EventFraming {
        bin: BinLength::Micros(500),
        bins: 4,
        hop: 2,
        downsample: 2,
        clip: 4,
        polarity: PolarityLayout::OffOn,
        sensor: (12, 12),
        normalize: None,
    };
    let mut rng = Rng::new(3);
    let mut b = Builder::new(4);
    let x = b.input(6, 6, &[0, 0]);
    let g = geom(3, 1, 1, 2, 8, false);
    let (a, frac) = spike_affines(&mut rng, 8, 2.0, 4);
    let r = b.fixed(6, 6, 8, frac);
    let w = Weights::random(&mut rng, WeightBits::I8, g.weight_count(), 127);
    b.conv(x, r, g, &w, &a, None);
    b.head(&mut rng, r, 5);
    let meta = sdt_core::Metadata {
        name: "",
        class_names: "",
        input: InputKind::Events(framing),
    };
    let described = b.blob_with(&meta);
    let model = described.model().unwrap();
    let cfg = StreamConfig::from_model(&model).expect("the blob has a framing");
    assert_eq!(cfg, config(Window::Time { us: 500 }, 4, 2, 1));
    let events = stream(3_000, 5);
    assert_eq!(
        classify(&model, cfg, &events, Kernel::SpikeDriven),
        classify(
            &model,
            config(Window::Time { us: 500 }, 4, 2, 1),
            &events,
            Kernel::SpikeDriven
        )
    );
    assert_eq!(
        Window::from(BinLength::Events(300)),
        Window::Count { events: 300 }
    );
    let plain = b.blob();
    assert_eq!(StreamConfig::from_model(&plain.model().unwrap()), None);
}

/// A count normalization equals each event of a sparse bin coming `gain` times (bins counted
/// from the first event, only events on the sensor counted), in time and in count bins'
/// neighbour: it changes sparse bins and leaves busy ones as they are.
#[test]
fn normalized_bins_equal_repeated_events() {
    let model_blob = event_model(0, 50.0);
    let model = model_blob.model().unwrap();
    // Busy and sparse stretches of 2 ms, in turn.
    let events: Vec<Event> = stream(4_000, 8)
        .into_iter()
        .enumerate()
        .filter(|(i, e)| (e.t / 2_000).is_multiple_of(2) || i % 5 == 0)
        .map(|(_, e)| e)
        .collect();
    let bin_us = 400;
    let normalize = CountNormalization {
        events: 30,
        max_gain: 4,
    };
    let plain = config(Window::Time { us: bin_us }, 4, 2, 1);
    let lifted = StreamConfig {
        normalize: Some(normalize),
        ..plain
    };
    let t0 = events[0].t;
    let mut per_bin = std::collections::BTreeMap::<u64, u64>::new();
    for e in events.iter().filter(|e| SENSOR.contains(e.x, e.y)) {
        *per_bin.entry((e.t - t0) / bin_us).or_default() += 1;
    }
    let gains: Vec<u8> = per_bin.values().map(|&n| normalize.gain(n)).collect();
    assert!(gains.contains(&1) && gains.contains(&4), "{gains:?}");
    let repeated: Vec<Event> = events
        .iter()
        .flat_map(|e| {
            let n = per_bin.get(&((e.t - t0) / bin_us)).copied().unwrap_or(0);
            std::iter::repeat_n(*e, usize::from(normalize.gain(n)))
        })
        .collect();
    for kernel in [Kernel::SpikeDriven, Kernel::Dense] {
        let seen = classify(&model, lifted, &events, kernel);
        assert_eq!(seen, classify(&model, plain, &repeated, kernel));
        assert_ne!(seen, classify(&model, plain, &events, kernel));
    }
}

#[test]
fn count_normalization_gain_rounds_and_is_bounded() {
    let n = CountNormalization {
        events: 2_000,
        max_gain: 4,
    };
    let gains = [0, 1, 400, 570, 800, 1_000, 1_334, 2_000, 9_000].map(|k| n.gain(k));
    assert_eq!(gains, [4, 4, 4, 4, 3, 2, 1, 1, 1]);
    let mut counts = [0u8, 1, 2, 3, 4];
    n.apply(&mut counts, 1_000, 4);
    assert_eq!(counts, [0, 2, 4, 4, 4]);
    let mut busy = [0u8, 1, 2, 3, 4];
    n.apply(&mut busy, 5_000, 4);
    assert_eq!(busy, [0, 1, 2, 3, 4]);
    // The tools' "0 events turns it off".
    assert_eq!(CountNormalization::towards(2_000, 4), Some(n));
    assert_eq!(CountNormalization::towards(0, 4), None);
}

/// `for_each_bin` (the trainer's, the firmware harness's and Python's framing) gives the
/// stream's bins: the complete ones, each lifted as the count normalization says, the open
/// one at the end only when asked for, and stops when told.
#[test]
fn for_each_bin_frames_bins_like_the_stream() {
    let events = stream(3_000, 6);
    let normalize = CountNormalization {
        events: 60,
        max_gain: 3,
    };
    let time = config(Window::Time { us: 400 }, 4, 2, 1);
    let counted = |events| config(Window::Count { events }, 4, 2, 1);
    // Cut after the 2,800th event on the sensor: in bins of 100 events every bin is then
    // complete with its last event, and nothing is left open.
    let on_sensor = |e: &&Event| SENSOR.contains(e.x, e.y);
    let cut = events.iter().filter(on_sensor).nth(2_799).unwrap();
    let whole_bins = &events[..=events.iter().position(|e| e == cut).unwrap()];
    let cases = [
        (time, &events[..]),
        (counted(70), &events[..]),
        (counted(100), whole_bins),
    ];
    let mut left_open = Vec::new();
    for (cfg, events) in cases {
        let by_hand = bins_by_hand(&cfg, events);
        let last_is_open = match cfg.framer.window {
            Window::Time { .. } => true,
            Window::Count { events } => by_hand.last().unwrap().3 < u64::from(events),
        };
        left_open.push(last_is_open);
        let mut frame = vec![0u8; by_hand[0].0.len()];
        for lift in [None, Some(normalize)] {
            for trailing in [TrailingBin::Drop, TrailingBin::Keep] {
                let mut seen = Vec::new();
                for_each_bin(
                    events.iter().copied(),
                    cfg.framer,
                    lift,
                    trailing,
                    &mut frame,
                    |bin, n| {
                        seen.push((bin.to_vec(), n));
                        std::ops::ControlFlow::Continue(())
                    },
                )
                .unwrap();
                let left_out = usize::from(last_is_open && trailing == TrailingBin::Drop);
                assert_eq!(seen.len(), by_hand.len() - left_out, "{cfg:?} {trailing:?}");
                for ((got, n), (want, _, _, m)) in seen.iter().zip(&by_hand) {
                    let mut want = want.clone();
                    if let Some(l) = lift {
                        l.apply(&mut want, *m, cfg.framer.clip);
                    }
                    assert_eq!((got, n), (&want, m));
                }
            }
        }
    }
    assert_eq!(left_open, [true, true, false]);
    let mut frame = vec![0u8; bins_by_hand(&time, &events)[0].0.len()];
    let frame_bins = |frame: &mut [u8], on_bin: &mut dyn FnMut() -> std::ops::ControlFlow<()>| {
        for_each_bin(
            events.iter().copied(),
            time.framer,
            None,
            TrailingBin::Keep,
            frame,
            |_, _| on_bin(),
        )
    };
    let mut first_two = 0;
    frame_bins(&mut frame, &mut || {
        first_two += 1;
        if first_two < 2 {
            std::ops::ControlFlow::Continue(())
        } else {
            std::ops::ControlFlow::Break(())
        }
    })
    .unwrap();
    assert_eq!(first_two, 2);
    // One bin's buffer, from the configuration alone; a shorter one is refused, not
    // silently left empty.
    let one_bin = FramerConfig {
        bins: 1,
        ..time.framer
    };
    assert_eq!(one_bin.frame_len(), Ok(frame.len()));
    let short = frame.len() - 1;
    assert_eq!(
        frame_bins(
            &mut frame[..short],
            &mut || std::ops::ControlFlow::Continue(())
        ),
        Err(FramerError::FrameTooShort)
    );
}
