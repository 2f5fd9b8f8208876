//! The event-camera simulator: pixel physics (event counts and times for a known log change,
//! polarity, refractory period, thresholds mismatch, silence of a static scene but for
//! noise) and determinism of the gesture scenes.

use sdt_dvs::sim::rng::Rng;
use sdt_dvs::sim::scene::Canvas;
use sdt_dvs::sim::{clip, simulate, Camera, CameraConfig, Gesture, SensorError, SimOptions};

/// One ideal pixel: no mismatch, no noise, no refractory period.
fn ideal(threshold: f32) -> CameraConfig {
    CameraConfig {
        width: 1,
        height: 1,
        threshold_on: threshold,
        threshold_off: threshold,
        threshold_sigma: 0.0,
        refractory_us: 0,
        noise_hz: 0.0,
        log_eps: 1e-9,
        ..CameraConfig::default()
    }
}

#[test]
fn a_brightening_pixel_fires_one_on_event_per_threshold_of_log_change() {
    let mut cam = Camera::new(ideal(0.25)).unwrap();
    let mut out = Vec::new();
    cam.frame(1_000, &[0.1], &mut out).unwrap();
    assert!(out.is_empty(), "the first frame only sets the reference");
    // ln(I1/I0) = 1.1: four crossings (0.25, 0.5, 0.75, 1.0), the rest stays pending.
    cam.frame(2_000, &[0.1 * 1.1f32.exp()], &mut out).unwrap();
    assert_eq!(out.len(), 4, "{out:?}");
    for (k, e) in out.iter().enumerate() {
        assert_eq!((e.x, e.y, e.p), (0, 0, 1));
        // Linear log intensity over the interval: level k·0.25 is crossed at k·0.25/1.1.
        let want = 1_000.0 + 1_000.0 * 0.25 * (k + 1) as f64 / 1.1;
        assert!(
            (e.t as f64 - want).abs() <= 1.0,
            "event {k} at {} not {want}",
            e.t
        );
    }
    // Up to 1.3 in all passes the fifth level (1.25).
    out.clear();
    cam.frame(3_000, &[0.1 * 1.3f32.exp()], &mut out).unwrap();
    assert_eq!(out.len(), 1);
    // Back down to the start: 1.3 of log change down gives five OFF events (levels 1.0 .. 0.0,
    // measured from the reference 1.25).
    out.clear();
    cam.frame(4_000, &[0.1 * (-0.01f32).exp()], &mut out)
        .unwrap();
    assert_eq!(out.len(), 5);
    assert!(out.iter().all(|e| e.p == 0));
    assert!(out.windows(2).all(|w| w[0].t <= w[1].t));
}

#[test]
fn a_change_below_threshold_gives_nothing() {
    let mut cam = Camera::new(ideal(0.3)).unwrap();
    let mut out = Vec::new();
    cam.frame(0, &[0.5], &mut out).unwrap();
    cam.frame(10, &[0.5 * 0.29f32.exp()], &mut out).unwrap();
    cam.frame(20, &[0.5], &mut out).unwrap();
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn the_refractory_period_is_respected() {
    let mut cfg = ideal(0.05);
    cfg.refractory_us = 500;
    let mut cam = Camera::new(cfg).unwrap();
    let mut out = Vec::new();
    cam.frame(0, &[0.1], &mut out).unwrap();
    // 20 levels per ms for 10 ms: without the refractory period 200 events.
    for k in 1..=10u64 {
        cam.frame(k * 1_000, &[0.1 * (k as f32).exp()], &mut out)
            .unwrap();
    }
    assert!(out.windows(2).all(|w| w[1].t - w[0].t >= 500), "{out:?}");
    assert!((19..=21).contains(&out.len()), "{} events", out.len());
    // Lost crossings still move the reference: no burst once the ramp stops.
    let n = out.len();
    cam.frame(20_000, &[0.1 * 10f32.exp()], &mut out).unwrap();
    assert_eq!(out.len(), n);
}

#[test]
fn a_static_scene_is_silent_except_for_background_noise() {
    let mut rng = Rng::new(3);
    let scene = Canvas::texture(64, 64, 0.3, 0.2, 8, 0.05, &mut rng);
    let cfg = CameraConfig {
        width: 64,
        height: 64,
        noise_hz: 0.0,
        ..CameraConfig::default()
    };
    let mut out = Vec::new();
    let mut cam = Camera::new(cfg).unwrap();
    for k in 0..=500u64 {
        cam.frame(k * 2_000, scene.pixels(), &mut out).unwrap();
    }
    assert!(out.is_empty(), "{} events without noise", out.len());

    let mut cam = Camera::new(CameraConfig {
        noise_hz: 2.0,
        ..cfg
    })
    .unwrap();
    for k in 0..=500u64 {
        cam.frame(k * 2_000, scene.pixels(), &mut out).unwrap();
    }
    // 2 Hz × 4096 pixels × 1 s = 8192 expected (Poisson: σ ≈ 90; refractory losses tiny).
    let n = out.len() as f64;
    assert!((n - 8192.0).abs() < 400.0, "{n} noise events");
    let on = out.iter().filter(|e| e.p == 1).count() as f64;
    assert!((on / n - 0.5).abs() < 0.03, "ON fraction {}", on / n);
    assert!(out.windows(2).all(|w| w[0].t <= w[1].t));
    assert!(out.iter().all(|e| e.t > 0 && e.t <= 1_000_000));
}

#[test]
fn thresholds_vary_per_pixel_as_configured() {
    let cfg = CameraConfig {
        threshold_on: 0.4,
        threshold_sigma: 0.1,
        ..CameraConfig::default()
    };
    let cam = Camera::new(cfg).unwrap();
    let c: Vec<f64> = (0..cam.pixels())
        .map(|i| f64::from(cam.threshold_on(i).unwrap()))
        .collect();
    let mean = c.iter().sum::<f64>() / c.len() as f64;
    let sd = (c.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / c.len() as f64).sqrt();
    assert!((mean - 0.4).abs() < 0.002, "mean {mean}");
    assert!((sd - 0.04).abs() < 0.003, "sd {sd}");
}

#[test]
fn bad_input_is_an_error() {
    assert_eq!(
        Camera::new(CameraConfig {
            threshold_on: 0.0,
            ..CameraConfig::default()
        })
        .unwrap_err(),
        SensorError::Config
    );
    let mut cam = Camera::new(ideal(0.2)).unwrap();
    let mut out = Vec::new();
    assert!(matches!(
        cam.frame(0, &[0.1, 0.2], &mut out),
        Err(SensorError::FrameSize { .. })
    ));
    cam.frame(5, &[0.1], &mut out).unwrap();
    assert!(matches!(
        cam.frame(5, &[0.2], &mut out),
        Err(SensorError::Time { .. })
    ));
}

#[test]
fn gesture_clips_are_deterministic_and_seeded() {
    let opts = SimOptions::default();
    let a = clip(Gesture::ArmRoll, 300_000, &opts, 42).unwrap();
    let b = clip(Gesture::ArmRoll, 300_000, &opts, 42).unwrap();
    let c = clip(Gesture::ArmRoll, 300_000, &opts, 43).unwrap();
    assert!(a.len() > 500, "{} events", a.len());
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn every_class_moves_where_its_gesture_says() {
    let opts = SimOptions {
        vary_camera: false,
        camera: CameraConfig {
            noise_hz: 0.0,
            ..CameraConfig::default()
        },
        ..SimOptions::default()
    };
    for g in Gesture::ALL {
        let ev = clip(g, 1_000_000, &opts, 7).unwrap();
        assert!(ev.len() > 1_000, "{}: {} events", g.name(), ev.len());
        assert!(ev.windows(2).all(|w| w[0].t <= w[1].t));
        assert!(ev.iter().all(|e| e.x < 128 && e.y < 128 && e.p <= 1));
        let on = ev.iter().filter(|e| e.p == 1).count() as f64 / ev.len() as f64;
        assert!((0.2..0.8).contains(&on), "{}: ON fraction {on}", g.name());
        // One-armed gestures happen on their arm's side of the image (the person's right is
        // the image's left).
        let mean_x = ev.iter().map(|e| f64::from(e.x)).sum::<f64>() / ev.len() as f64;
        match g {
            Gesture::RightHandWave
            | Gesture::RightArmClockwise
            | Gesture::RightArmCounterClockwise => assert!(mean_x < 60.0, "{}: {mean_x}", g.name()),
            Gesture::LeftHandWave
            | Gesture::LeftArmClockwise
            | Gesture::LeftArmCounterClockwise => {
                assert!(mean_x > 68.0, "{}: {mean_x}", g.name())
            }
            _ => {}
        }
    }
}

#[test]
fn sequences_label_each_gesture_and_leave_transitions_unlabelled() {
    let opts = SimOptions {
        transition_us: 200_000,
        ..SimOptions::default()
    };
    let seq = [(Gesture::HandClap, 500_000), (Gesture::AirDrums, 400_000)];
    let r = simulate(&seq, &opts, 5).unwrap();
    assert_eq!(r.spans.len(), 2);
    assert_eq!((r.spans[0].start_us, r.spans[0].end_us), (0, 500_000));
    assert_eq!(
        (r.spans[1].start_us, r.spans[1].end_us),
        (700_000, 1_100_000)
    );
    let last = r.events.last().unwrap().t;
    assert!(last > 1_000_000 && last <= 1_100_000, "{last}");
    assert_eq!(r, simulate(&seq, &opts, 5).unwrap());
}
