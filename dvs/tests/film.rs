//! The realistic simulator's scenes: determinism, the mirror and its label, close-ups,
//! textures, flicker, light changes, tempo and noise each do what they claim, seen in the
//! events.

use sdt_dvs::sim::lighting::{Change, Lighting};
use sdt_dvs::sim::{film, Gesture, Randomization, SceneParams, SensorConfig, Shot};
use sdt_dvs::stats::compute;
use sdt_events::{Event, Geometry};

const G: Geometry = Geometry::new(128, 128);

/// A clean scene: plain wall, steady light, a quiet sensor.
fn clean() -> SceneParams {
    SceneParams {
        clutter: false,
        sensor: SensorConfig {
            leak_hz: 0.0,
            shot_noise_hz: 0.0,
            hot_pixel_fraction: 0.0,
            ..SensorConfig::default()
        },
        ..SceneParams::default()
    }
}

fn mean_x(ev: &[Event]) -> f64 {
    ev.iter().map(|e| f64::from(e.x)).sum::<f64>() / ev.len().max(1) as f64
}

#[test]
fn the_same_seed_gives_the_same_clip_and_another_seed_another() {
    let p = Randomization::default();
    let a = p.clip(Gesture::AirDrums, 300_000, 5).unwrap();
    assert_eq!(a, p.clip(Gesture::AirDrums, 300_000, 5).unwrap());
    assert_ne!(
        a.events,
        p.clip(Gesture::AirDrums, 300_000, 6).unwrap().events
    );
    assert!(a.events.windows(2).all(|w| w[0].t <= w[1].t));
    assert!(a
        .events
        .iter()
        .all(|e| e.x < 128 && e.y < 128 && e.t <= 300_000));
}

#[test]
fn a_mirrored_scene_moves_the_other_hand_and_swaps_the_label() {
    let p = clean();
    let plain = film(Gesture::RightHandWave, 600_000, &p, 3).unwrap();
    let mirrored = film(
        Gesture::RightHandWave,
        600_000,
        &SceneParams { mirror: true, ..p },
        3,
    )
    .unwrap();
    assert_eq!(plain.gesture, Gesture::RightHandWave);
    assert_eq!(mirrored.gesture, Gesture::LeftHandWave);
    // The person's right hand is on the image's left; mirrored, on its right.
    let (a, b) = (mean_x(&plain.events), mean_x(&mirrored.events));
    assert!(a < 56.0 && b > 72.0, "mean x {a} and {b}");
    assert!((a + b - 127.0).abs() < 6.0, "not mirror images: {a} + {b}");
}

#[test]
fn a_close_up_fills_more_of_the_view_than_the_upper_body() {
    let body = film(Gesture::RightHandWave, 500_000, &clean(), 4).unwrap();
    let close = SceneParams {
        shot: Shot::CloseUp,
        scale: 3.0,
        ..clean()
    };
    let close = film(Gesture::RightHandWave, 500_000, &close, 4).unwrap();
    let (b, c) = (compute(&body.events, G), compute(&close.events, G));
    assert!(c.active_pixels > 2.0 * b.active_pixels, "{b:?}\n{c:?}");
}

#[test]
fn texture_and_shading_add_events_inside_the_silhouette() {
    let flat = SceneParams {
        texture_contrast: 0.0,
        shot: Shot::CloseUp,
        scale: 3.0,
        ..clean()
    };
    let textured = SceneParams {
        texture_contrast: 0.6,
        ..flat.clone()
    };
    let a = film(Gesture::LeftArmClockwise, 500_000, &flat, 8)
        .unwrap()
        .events
        .len();
    let b = film(Gesture::LeftArmClockwise, 500_000, &textured, 8)
        .unwrap()
        .events
        .len();
    assert!(b as f64 > 1.1 * a as f64, "flat {a}, textured {b}");
}

#[test]
fn flicker_modulates_the_event_rate_at_its_frequency() {
    let p = SceneParams {
        lighting: Lighting {
            flicker_hz: 100.0,
            flicker_depth: 0.6,
            ..Lighting::steady(0.8)
        },
        clutter: true,
        ..clean()
    };
    let ev = film(Gesture::Other, 400_000, &p, 9).unwrap().events;
    // ON counts per 1 ms (ON fires as the light rises, OFF as it falls: together they beat
    // at 200 Hz): correlated at a full period (10 ms), anti-correlated at half of one.
    let mut counts = vec![0f64; 400];
    for e in ev.iter().filter(|e| e.p == 1) {
        if let Some(c) = counts.get_mut((e.t / 1_000) as usize) {
            *c += 1.0;
        }
    }
    let counts = &counts[20..];
    let m = counts.iter().sum::<f64>() / counts.len() as f64;
    let ac = |lag: usize| -> f64 {
        counts
            .windows(lag + 1)
            .map(|w| (w[0] - m) * (w[lag] - m))
            .sum::<f64>()
    };
    assert!(
        ac(10) > 0.0 && ac(5) < 0.0,
        "lag 10: {}, lag 5: {}",
        ac(10),
        ac(5)
    );
}

#[test]
fn a_light_change_makes_a_burst() {
    let steady = clean();
    let change = SceneParams {
        lighting: Lighting {
            changes: vec![Change {
                start_us: 300_000,
                ramp_us: 20_000,
                factor: 0.4,
            }],
            ..Lighting::steady(0.8)
        },
        ..clean()
    };
    let a = compute(
        &film(Gesture::HandClap, 600_000, &steady, 2).unwrap().events,
        G,
    );
    let b = compute(
        &film(Gesture::HandClap, 600_000, &change, 2).unwrap().events,
        G,
    );
    assert!(b.peak_to_mean > 1.5 * a.peak_to_mean, "{a:?}\n{b:?}");
}

#[test]
fn tempo_and_noise_multipliers_show_in_the_statistics() {
    let slow = SceneParams {
        speed: 0.5,
        ..clean()
    };
    let fast = SceneParams {
        speed: 2.0,
        ..clean()
    };
    let a = film(Gesture::AirGuitar, 500_000, &slow, 1)
        .unwrap()
        .events
        .len();
    let b = film(Gesture::AirGuitar, 500_000, &fast, 1)
        .unwrap()
        .events
        .len();
    assert!(b as f64 > 1.5 * a as f64, "slow {a}, fast {b}");
    let noisy = |k: f32| SceneParams {
        sensor: SensorConfig {
            leak_hz: 0.02 * k,
            shot_noise_hz: 0.02 * k,
            ..SensorConfig::default()
        },
        ..clean()
    };
    let quiet = compute(
        &film(Gesture::HandClap, 500_000, &noisy(1.0), 1)
            .unwrap()
            .events,
        G,
    );
    let loud = compute(
        &film(Gesture::HandClap, 500_000, &noisy(10.0), 1)
            .unwrap()
            .events,
        G,
    );
    assert!(
        loud.isolated_fraction > quiet.isolated_fraction + 0.1,
        "{quiet:?}\n{loud:?}"
    );
}

#[test]
fn randomized_clips_span_sparse_to_busy_event_rates() {
    let r = Randomization::default();
    let rates: Vec<f64> = Gesture::ALL
        .iter()
        .chain(Gesture::ALL.iter())
        .enumerate()
        .map(|(k, &g)| {
            let clip = r.clip(g, 500_000, 40 + k as u64).unwrap();
            clip.events.len() as f64 / 0.5
        })
        .collect();
    eprintln!("events/s: {rates:?}");
    let (lo, hi) = rates
        .iter()
        .fold((f64::MAX, 0f64), |(a, b), &v| (a.min(v), b.max(v)));
    // From a few thousand (dim, distant, noisy) to around a hundred thousand events per
    // second, the median in the tens of thousands; a flickering lamp on a textured close-up
    // goes higher (the real DAVIS346 room under flickering lamps makes 0.9 M/s, 10 Hz per
    // pixel: 16 k DVS128 pixels at that rate are 160 k/s).
    let mut sorted = rates.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    assert!(lo > 1_000.0 && lo < 15_000.0, "quietest {lo}");
    assert!((15_000.0..80_000.0).contains(&median), "median {median}");
    assert!(hi > 40_000.0 && hi < 600_000.0, "busiest {hi}");
}
