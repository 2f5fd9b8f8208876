//! Filming one gesture in a realistic scene: a dressed person ([`Body`]) seen through a
//! [`View`] (whole upper body or a close-up of the moving hand), in front of a [`Backdrop`],
//! under [`Lighting`], recorded by the v2e-style [`Sensor`]. [`SceneParams`] fixes every
//! choice; [`Randomization`](super::randomize::Randomization) draws them.

use sdt_events::Event;

use super::backdrop::Backdrop;
use super::body::Body;
use super::gesture::{Gesture, Motion, Person, P};
use super::lighting::Lighting;
use super::rng::Rng;
use super::scene::Canvas;
use super::sensor::{Sensor, SensorConfig, SensorError};
use super::view::View;

/// Framing of the person.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shot {
    /// The upper body fills the view at `scale` × the sensor's whole-person scale.
    UpperBody,
    /// The gesturing hand and forearm, at `scale` × the whole-person scale.
    CloseUp,
}

/// Every choice of one filmed clip but the person, motion and textures (those come from the
/// seed).
#[derive(Clone, Debug, PartialEq)]
pub struct SceneParams {
    /// Framing.
    pub shot: Shot,
    /// Zoom relative to the whole 128-unit scene filling the sensor.
    pub scale: f32,
    /// Camera roll (radians).
    pub rotation: f32,
    /// Image shift (pixels).
    pub offset: P,
    /// Film the mirrored scene (a left-handed performance): the label is the mirrored class.
    pub mirror: bool,
    /// Gesture speed factor (1: the simulator's natural tempo).
    pub speed: f32,
    /// Clutter on the wall.
    pub clutter: bool,
    /// Background pan speed (pixels/s).
    pub pan_px_per_s: f32,
    /// A second object crosses the view.
    pub distractor: bool,
    /// Largest relative amplitude of cloth and background patterns.
    pub texture_contrast: f32,
    /// Long sleeves (else bare forearms).
    pub long_sleeves: bool,
    /// The light (level, flicker, changes).
    pub lighting: Lighting,
    /// The sensor (its seed is replaced by one drawn from the clip's seed).
    pub sensor: SensorConfig,
    /// Rendering interval (µs).
    pub frame_us: u64,
}

impl Default for SceneParams {
    /// An upper body in steady office light, DVS128 defaults.
    fn default() -> Self {
        Self {
            shot: Shot::UpperBody,
            scale: 1.0,
            rotation: 0.0,
            offset: (0.0, 0.0),
            mirror: false,
            speed: 1.0,
            clutter: true,
            pan_px_per_s: 0.0,
            distractor: false,
            texture_contrast: 0.3,
            long_sleeves: true,
            lighting: Lighting::steady(0.8),
            sensor: SensorConfig::default(),
            frame_us: 1_000,
        }
    }
}

/// A filmed clip and its label.
#[derive(Clone, Debug, PartialEq)]
pub struct Filmed {
    /// Events, time-ordered.
    pub events: Vec<Event>,
    /// The class the events show (the mirrored class for a mirrored scene).
    pub gesture: Gesture,
}

/// The world point a close-up centres on: the mean position of the hand that travels most.
fn close_up_focus(person: &Person, motion: &Motion) -> P {
    let samples: Vec<[P; 2]> = (0..40)
        .map(|k| motion.hands(person, k as f32 * 0.05))
        .collect();
    let travel = |h: usize| -> f32 {
        samples
            .windows(2)
            .map(|w| (w[1][h].0 - w[0][h].0).hypot(w[1][h].1 - w[0][h].1))
            .sum()
    };
    let (a, b) = (travel(0), travel(1));
    let mean = |h: usize| {
        let n = samples.len() as f32;
        (
            samples.iter().map(|s| s[h].0).sum::<f32>() / n,
            samples.iter().map(|s| s[h].1).sum::<f32>() / n,
        )
    };
    // Both hands moving alike (clap, drums, roll): between them.
    if a > 0.0 && b > 0.0 && (a / b).max(b / a) < 1.5 {
        let (m0, m1) = (mean(0), mean(1));
        ((m0.0 + m1.0) * 0.5, (m0.1 + m1.1) * 0.5)
    } else {
        mean(usize::from(b > a))
    }
}

/// Films `gesture` for `duration_us` with `params`; the person, motion, clothes, background
/// and sensor mismatch come from `seed`.
pub fn film(
    gesture: Gesture,
    duration_us: u64,
    params: &SceneParams,
    seed: u64,
) -> Result<Filmed, SensorError> {
    let mut rng = Rng::stream(seed, 20);
    let person = Person::random(128, 128, &mut rng);
    let motion = Motion::random(gesture, &mut rng);
    let body = Body::dress(
        person,
        params.texture_contrast,
        params.long_sleeves,
        &mut rng,
    );
    let (w, h) = (params.sensor.width, params.sensor.height);
    let base = View::whole(w, h);
    let focus = match params.shot {
        Shot::UpperBody => (
            body.skeleton.cx,
            body.skeleton.shoulder_y + 10.0 * body.skeleton.s,
        ),
        Shot::CloseUp => close_up_focus(&body.skeleton, &motion),
    };
    let view = View {
        scale: base.scale * params.scale,
        rotation: params.rotation,
        focus,
        offset: params.offset,
        mirror: params.mirror,
        mirror_axis: body.skeleton.cx,
        ..base
    };
    let backdrop = Backdrop::random(
        usize::from(w),
        usize::from(h),
        params.clutter,
        params.pan_px_per_s,
        params.distractor,
        params.texture_contrast,
        &mut rng,
    );
    let mut sensor = Sensor::new(SensorConfig {
        seed: rng.next_u64(),
        ..params.sensor
    })?;
    let mut canvas = Canvas::new(usize::from(w), usize::from(h));
    let mut events = Vec::new();
    let step = params.frame_us.max(1);
    let mut t_us = 0u64;
    loop {
        let t_s = t_us as f32 * 1e-6;
        backdrop.draw(&mut canvas, t_us);
        body.draw(
            &mut canvas,
            &view,
            motion.hands(&body.skeleton, t_s * params.speed),
            t_s,
        );
        let gain = params.lighting.gain(t_us);
        for v in canvas.pixels_mut() {
            *v *= gain;
        }
        sensor.frame(t_us, canvas.pixels(), &mut events)?;
        if t_us >= duration_us {
            break;
        }
        t_us = (t_us + step).min(duration_us);
    }
    Ok(Filmed {
        events,
        gesture: if params.mirror {
            gesture.mirrored()
        } else {
            gesture
        },
    })
}
