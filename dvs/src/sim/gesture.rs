//! Gesture scenes for the 11 DVS128 Gesture classes: a person in front of a static textured
//! background moves their arms along class-specific trajectories; the [`Camera`] turns the
//! rendered frames into events.
//!
//! The person faces the camera, so their right hand appears on the image's left. "Clockwise"
//! is as seen by the camera (on the image, `y` pointing down). Arms are two capsules solved
//! by two-link inverse kinematics towards a hand target, so every class is a hand trajectory.
//! Every random choice (body size and position, colours, background texture, speed,
//! amplitude, phase, direction of an arm roll, sensor thresholds and noise) comes from the
//! seed: the same seed gives the same events.

use core::f32::consts::TAU;

use sdt_events::Event;

use super::camera::{Camera, CameraConfig};
use super::rng::Rng;
use super::scene::Canvas;
use super::sensor::SensorError;

/// The 11 classes of DVS128 Gesture, in the dataset's order (its labels are 1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gesture {
    /// Both hands clap in front of the chest.
    HandClap,
    /// The right hand waves above the shoulder.
    RightHandWave,
    /// The left hand waves above the shoulder.
    LeftHandWave,
    /// The right arm circles clockwise.
    RightArmClockwise,
    /// The right arm circles counter-clockwise.
    RightArmCounterClockwise,
    /// The left arm circles clockwise.
    LeftArmClockwise,
    /// The left arm circles counter-clockwise.
    LeftArmCounterClockwise,
    /// Both forearms roll around each other.
    ArmRoll,
    /// Both hands beat up and down in turn.
    AirDrums,
    /// One hand frets, the other strums.
    AirGuitar,
    /// Any other movement.
    Other,
}

impl Gesture {
    /// Every class, in label order.
    pub const ALL: [Gesture; 11] = [
        Gesture::HandClap,
        Gesture::RightHandWave,
        Gesture::LeftHandWave,
        Gesture::RightArmClockwise,
        Gesture::RightArmCounterClockwise,
        Gesture::LeftArmClockwise,
        Gesture::LeftArmCounterClockwise,
        Gesture::ArmRoll,
        Gesture::AirDrums,
        Gesture::AirGuitar,
        Gesture::Other,
    ];

    /// Zero-based class index (the dataset's label minus one).
    pub fn index(self) -> usize {
        Self::ALL.iter().position(|&g| g == self).unwrap_or(0)
    }

    /// The class with zero-based index `i`.
    pub fn from_index(i: usize) -> Option<Self> {
        Self::ALL.get(i).copied()
    }

    /// The class of this gesture played backwards: a circle turns the other way; waves, claps,
    /// rolls, drums and guitar look like themselves.
    pub fn reversed(self) -> Self {
        match self {
            Gesture::RightArmClockwise => Gesture::RightArmCounterClockwise,
            Gesture::RightArmCounterClockwise => Gesture::RightArmClockwise,
            Gesture::LeftArmClockwise => Gesture::LeftArmCounterClockwise,
            Gesture::LeftArmCounterClockwise => Gesture::LeftArmClockwise,
            g => g,
        }
    }

    /// The class of this gesture seen in a left-right mirror: the hands swap, and a circle's
    /// sense of rotation reverses (a right arm clockwise becomes a left arm counter-clockwise).
    pub fn mirrored(self) -> Self {
        match self {
            Gesture::RightHandWave => Gesture::LeftHandWave,
            Gesture::LeftHandWave => Gesture::RightHandWave,
            Gesture::RightArmClockwise => Gesture::LeftArmCounterClockwise,
            Gesture::LeftArmCounterClockwise => Gesture::RightArmClockwise,
            Gesture::RightArmCounterClockwise => Gesture::LeftArmClockwise,
            Gesture::LeftArmClockwise => Gesture::RightArmCounterClockwise,
            g => g,
        }
    }

    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Gesture::HandClap => "hand_clap",
            Gesture::RightHandWave => "right_hand_wave",
            Gesture::LeftHandWave => "left_hand_wave",
            Gesture::RightArmClockwise => "right_arm_cw",
            Gesture::RightArmCounterClockwise => "right_arm_ccw",
            Gesture::LeftArmClockwise => "left_arm_cw",
            Gesture::LeftArmCounterClockwise => "left_arm_ccw",
            Gesture::ArmRoll => "arm_roll",
            Gesture::AirDrums => "air_drums",
            Gesture::AirGuitar => "air_guitar",
            Gesture::Other => "other",
        }
    }
}

/// Names of all classes in label order.
pub fn class_names() -> [&'static str; 11] {
    Gesture::ALL.map(Gesture::name)
}

pub(crate) type P = (f32, f32);

/// One person's body, colours and background.
#[derive(Clone, Debug)]
pub(crate) struct Person {
    pub(crate) cx: f32,
    pub(crate) shoulder_y: f32,
    pub(crate) s: f32,
    half_shoulders: f32,
    upper: f32,
    fore: f32,
    pub(crate) skin: f32,
    pub(crate) shirt: f32,
    pub(crate) sway_px: f32,
    pub(crate) sway_hz: f32,
    pub(crate) sway_phase: f32,
    background: Canvas,
}

impl Person {
    pub(crate) fn random(width: usize, height: usize, rng: &mut Rng) -> Self {
        let s = rng.range(0.8, 1.15) as f32;
        let w = width as f32 / 128.0;
        let h = height as f32 / 128.0;
        let bg_mean = rng.range(0.06, 0.3) as f32;
        let background = Canvas::texture(
            width,
            height,
            bg_mean,
            rng.range(0.01, 0.8 * f64::from(bg_mean)) as f32,
            4 + rng.below(20) as usize,
            rng.range(0.0, 0.02) as f32,
            rng,
        );
        Self {
            cx: (64.0 + rng.range(-10.0, 10.0) as f32) * w,
            shoulder_y: (46.0 + rng.range(-8.0, 8.0) as f32) * h,
            s: s * w.min(h),
            half_shoulders: 13.0,
            upper: 19.0,
            fore: 19.0,
            skin: (rng.range(0.5, 0.95) as f32).max(bg_mean + 0.25),
            shirt: rng.range(0.12, 0.6) as f32,
            sway_px: rng.range(0.0, 1.0) as f32,
            sway_hz: rng.range(0.2, 0.6) as f32,
            sway_phase: rng.range(0.0, TAU.into()) as f32,
            background,
        }
    }

    /// Shoulder `i` (0: the person's right, on the image's left) at horizontal offset `dx`.
    pub(crate) fn shoulder(&self, i: usize, dx: f32) -> P {
        let side = if i == 0 { -1.0 } else { 1.0 };
        (
            self.cx + dx + side * self.half_shoulders * self.s,
            self.shoulder_y,
        )
    }

    /// Hand position of a hanging arm.
    pub(crate) fn rest(&self, i: usize) -> P {
        let side = if i == 0 { -1.0 } else { 1.0 };
        let (x, y) = self.shoulder(i, 0.0);
        (
            x + side * 3.0 * self.s,
            y + 0.95 * (self.upper + self.fore) * self.s,
        )
    }

    /// Elbow and reachable hand for a hand target (the elbow bends away from the body).
    pub(crate) fn arm(&self, i: usize, dx: f32, target: P) -> (P, P, P) {
        let sh = self.shoulder(i, dx);
        let (a, b) = (self.upper * self.s, self.fore * self.s);
        let (vx, vy) = (target.0 - sh.0, target.1 - sh.1);
        let dist = (vx * vx + vy * vy).sqrt().max(1e-3);
        let d = dist.clamp((a - b).abs() + 0.5, a + b - 0.05);
        let (ux, uy) = (vx / dist, vy / dist);
        let hand = (sh.0 + ux * d, sh.1 + uy * d);
        let along = (a * a - b * b + d * d) / (2.0 * d);
        let across = (a * a - along * along).max(0.0).sqrt();
        let side = if i == 0 { -1.0 } else { 1.0 };
        // Of the two elbow solutions take the one further out to the person's side.
        let e1 = (
            sh.0 + ux * along - uy * across,
            sh.1 + uy * along + ux * across,
        );
        let e2 = (
            sh.0 + ux * along + uy * across,
            sh.1 + uy * along - ux * across,
        );
        let elbow = if (e1.0 - e2.0) * side >= 0.0 { e1 } else { e2 };
        (sh, elbow, hand)
    }

    fn draw(&self, c: &mut Canvas, hands: [P; 2], t_s: f32) {
        let s = self.s;
        let dx = self.sway_px * (TAU * self.sway_hz * t_s + self.sway_phase).sin();
        let neck = (self.cx + dx, self.shoulder_y);
        c.capsule(
            (neck.0, neck.1 + 5.0 * s),
            (neck.0, neck.1 + 40.0 * s),
            11.0 * s,
            self.shirt,
        );
        c.capsule(
            self.shoulder(0, dx),
            self.shoulder(1, dx),
            4.5 * s,
            self.shirt,
        );
        c.disc((neck.0, neck.1 - 13.0 * s), 7.5 * s, self.skin * 0.9);
        for (i, &target) in hands.iter().enumerate() {
            let (sh, elbow, hand) = self.arm(i, dx, target);
            c.capsule(sh, elbow, 4.0 * s, self.shirt);
            c.capsule(elbow, hand, 3.2 * s, self.skin);
            c.disc(hand, 4.3 * s, self.skin);
        }
    }
}

/// One performance of a gesture: speed, amplitude, phase and class-specific choices.
#[derive(Clone, Debug)]
pub(crate) struct Motion {
    gesture: Gesture,
    hz: f32,
    amp: f32,
    phase: f32,
    /// Arm roll direction (±1).
    dir: f32,
    /// "Other": per hand, whether it moves, and two sinusoids per axis (hz, amplitude, phase).
    moves: [bool; 2],
    wander: [[(f32, f32, f32); 4]; 2],
}

impl Motion {
    pub(crate) fn random(gesture: Gesture, rng: &mut Rng) -> Self {
        let (lo, hi) = match gesture {
            Gesture::HandClap | Gesture::ArmRoll => (1.2, 2.2),
            Gesture::RightHandWave | Gesture::LeftHandWave => (1.5, 3.0),
            Gesture::RightArmClockwise
            | Gesture::RightArmCounterClockwise
            | Gesture::LeftArmClockwise
            | Gesture::LeftArmCounterClockwise => (0.6, 1.3),
            Gesture::AirDrums => (1.5, 3.0),
            Gesture::AirGuitar => (2.5, 4.0),
            Gesture::Other => (0.3, 1.5),
        };
        let mut wander = [[(0.0, 0.0, 0.0); 4]; 2];
        for hand in &mut wander {
            for w in hand.iter_mut() {
                *w = (
                    rng.range(0.3, 1.8) as f32,
                    rng.range(0.0, 14.0) as f32,
                    rng.range(0.0, TAU.into()) as f32,
                );
            }
        }
        let both = rng.chance(0.5);
        let first = rng.chance(0.5);
        Self {
            gesture,
            hz: rng.range(lo, hi) as f32,
            amp: rng.range(0.75, 1.25) as f32,
            phase: rng.range(0.0, TAU.into()) as f32,
            dir: if rng.chance(0.5) { 1.0 } else { -1.0 },
            moves: [both || first, both || !first],
            wander,
        }
    }

    /// Hand targets at `t_s` seconds into the gesture.
    pub(crate) fn hands(&self, p: &Person, t_s: f32) -> [P; 2] {
        let s = p.s;
        let a = self.amp;
        let ph = TAU * self.hz * t_s + self.phase;
        let (r0, r1) = (p.rest(0), p.rest(1));
        let (s0, s1) = (p.shoulder(0, 0.0), p.shoulder(1, 0.0));
        let circle = |i: usize, clockwise: bool| -> P {
            let side = if i == 0 { -1.0 } else { 1.0 };
            let sh = if i == 0 { s0 } else { s1 };
            let c = (sh.0 + side * 8.0 * s, sh.1 + 2.0 * s);
            let r = (20.0 + 6.0 * (a - 1.0)) * s;
            let th = if clockwise { ph } else { -ph };
            (c.0 + r * th.cos(), c.1 + r * th.sin())
        };
        let wave = |i: usize| -> P {
            let side = if i == 0 { -1.0 } else { 1.0 };
            let sh = if i == 0 { s0 } else { s1 };
            (
                sh.0 + side * 9.0 * s + a * 9.0 * s * ph.sin(),
                sh.1 - 16.0 * s - 2.5 * s * ph.cos().abs(),
            )
        };
        match self.gesture {
            Gesture::HandClap => {
                let sep = (3.0 + a * 14.0 * (0.5 + 0.5 * ph.cos())) * s;
                let y = p.shoulder_y + 16.0 * s;
                [(p.cx - sep, y), (p.cx + sep, y)]
            }
            Gesture::RightHandWave => [wave(0), r1],
            Gesture::LeftHandWave => [r0, wave(1)],
            Gesture::RightArmClockwise => [circle(0, true), r1],
            Gesture::RightArmCounterClockwise => [circle(0, false), r1],
            Gesture::LeftArmClockwise => [r0, circle(1, true)],
            Gesture::LeftArmCounterClockwise => [r0, circle(1, false)],
            Gesture::ArmRoll => {
                let c = (p.cx, p.shoulder_y + 20.0 * s);
                let r = a * 7.0 * s;
                let th = self.dir * ph;
                [
                    (c.0 + r * th.cos(), c.1 + r * th.sin()),
                    (c.0 - r * th.cos(), c.1 - r * th.sin()),
                ]
            }
            Gesture::AirDrums => [
                (
                    s0.0 + 4.0 * s,
                    p.shoulder_y + 20.0 * s + a * 7.0 * s * ph.sin(),
                ),
                (
                    s1.0 - 4.0 * s,
                    p.shoulder_y + 20.0 * s - a * 7.0 * s * ph.sin(),
                ),
            ],
            Gesture::AirGuitar => [
                (
                    p.cx - 5.0 * s + 1.5 * s * (0.5 * ph).sin(),
                    p.shoulder_y + 28.0 * s + a * 6.0 * s * ph.sin(),
                ),
                (
                    s1.0 + 16.0 * s + 2.0 * s * (0.3 * ph).sin(),
                    p.shoulder_y + 4.0 * s,
                ),
            ],
            Gesture::Other => {
                let mut out = [r0, r1];
                for (i, o) in out.iter_mut().enumerate() {
                    if !self.moves[i] {
                        continue;
                    }
                    let w = &self.wander[i];
                    let term = |k: usize| {
                        let (hz, amp, phase) = w[k];
                        amp * s * (TAU * hz * t_s + phase).sin()
                    };
                    // Lift the hand from rest towards the chest, then wander.
                    o.0 += term(0) + term(1);
                    o.1 += -18.0 * s + term(2) + term(3);
                }
                out
            }
        }
    }
}

/// How a scene is filmed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimOptions {
    /// The sensor (resolution, thresholds, noise); its seed is replaced per recording.
    pub camera: CameraConfig,
    /// Draw each recording's threshold (×0.7..1.3) and noise rate (×0.2..3) at random.
    pub vary_camera: bool,
    /// Rendering interval (µs); log intensity is interpolated linearly in between.
    pub frame_us: u64,
    /// Blending time between consecutive gestures of a sequence (µs).
    pub transition_us: u64,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            camera: CameraConfig::default(),
            vary_camera: true,
            frame_us: 2_000,
            transition_us: 400_000,
        }
    }
}

/// A labelled span of a recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// The class.
    pub gesture: Gesture,
    /// First µs.
    pub start_us: u64,
    /// End µs (exclusive).
    pub end_us: u64,
}

/// Simulated events with their ground truth.
#[derive(Clone, Debug, PartialEq)]
pub struct Recording {
    /// Events, time-ordered, starting after `t = 0`.
    pub events: Vec<Event>,
    /// The gestures performed, in order.
    pub spans: Vec<Span>,
}

/// A scene's person and sensor for `seed`.
fn setup(opts: &SimOptions, seed: u64) -> Result<(Person, Camera, Rng), SensorError> {
    let mut rng = Rng::stream(seed, 10);
    let (w, h) = (
        usize::from(opts.camera.width),
        usize::from(opts.camera.height),
    );
    let person = Person::random(w, h, &mut rng);
    let mut cam = opts.camera;
    cam.seed = rng.next_u64();
    if opts.vary_camera {
        let k = rng.range(0.7, 1.3) as f32;
        cam.threshold_on *= k;
        cam.threshold_off *= k * rng.range(0.9, 1.1) as f32;
        cam.noise_hz *= rng.range(0.2, 3.0) as f32;
    }
    Ok((person, Camera::new(cam)?, rng))
}

/// Films one person performing `gestures` (class, duration in µs) one after the other, with
/// [`SimOptions::transition_us`] of blending between them (not labelled).
pub fn simulate(
    gestures: &[(Gesture, u64)],
    opts: &SimOptions,
    seed: u64,
) -> Result<Recording, SensorError> {
    let (person, mut camera, mut rng) = setup(opts, seed)?;
    let motions: Vec<Motion> = gestures
        .iter()
        .map(|&(g, _)| Motion::random(g, &mut rng))
        .collect();
    // Timeline: gesture i runs over [start_i, start_i + dur_i), transitions in between.
    let mut spans = Vec::with_capacity(gestures.len());
    let mut t = 0u64;
    for (i, &(g, dur)) in gestures.iter().enumerate() {
        if i > 0 {
            t += opts.transition_us;
        }
        spans.push(Span {
            gesture: g,
            start_us: t,
            end_us: t + dur,
        });
        t += dur;
    }
    let end = t;
    let hands_at = |t_us: u64| -> [P; 2] {
        let sec = |us: u64| us as f32 * 1e-6;
        for (i, sp) in spans.iter().enumerate() {
            if t_us < sp.end_us || i + 1 == spans.len() {
                if t_us >= sp.start_us || i == 0 {
                    return motions[i].hands(&person, sec(t_us.saturating_sub(sp.start_us)));
                }
                // Between span i-1 and i: blend the end pose into the start pose.
                let prev = &spans[i - 1];
                let from = motions[i - 1].hands(&person, sec(prev.end_us - prev.start_us));
                let to = motions[i].hands(&person, 0.0);
                let k = (t_us - prev.end_us) as f32 / (sp.start_us - prev.end_us).max(1) as f32;
                let k = k * k * (3.0 - 2.0 * k);
                return [lerp(from[0], to[0], k), lerp(from[1], to[1], k)];
            }
        }
        [person.rest(0), person.rest(1)]
    };
    let mut canvas = person.background.clone();
    let mut events = Vec::new();
    let step = opts.frame_us.max(1);
    let mut t_us = 0u64;
    loop {
        canvas.copy_from(&person.background);
        person.draw(&mut canvas, hands_at(t_us), t_us as f32 * 1e-6);
        camera.frame(t_us, canvas.pixels(), &mut events)?;
        if t_us >= end {
            break;
        }
        t_us = (t_us + step).min(end);
    }
    Ok(Recording { events, spans })
}

/// One gesture of `duration_us` by a random person (from `seed`).
pub fn clip(
    gesture: Gesture,
    duration_us: u64,
    opts: &SimOptions,
    seed: u64,
) -> Result<Vec<Event>, SensorError> {
    Ok(simulate(&[(gesture, duration_us)], opts, seed)?.events)
}

fn lerp(a: P, b: P, k: f32) -> P {
    (a.0 + (b.0 - a.0) * k, a.1 + (b.1 - a.1) * k)
}
