//! A dressed, textured person drawn through a [`View`]: the stick skeleton of
//! [`gesture`](super::gesture) (shoulders, two-link arms, hand targets) fleshed out with a
//! shaded torso in patterned cloth, sleeves (long or short, with a cuff), a face with hair,
//! eyes and mouth, and hands with fingers. Texture and shading give events from inside the
//! silhouette; the fingers and face give the detail a close-up shows.

use super::gesture::{Person, P};
use super::material::Material;
use super::rng::Rng;
use super::scene::Canvas;
use super::view::View;

/// The person's looks.
#[derive(Clone, Debug)]
pub struct Body {
    pub(crate) skeleton: Person,
    shirt: Material,
    skin: Material,
    hair: Material,
    features: f32,
    long_sleeves: bool,
    cuff: f32,
    finger_spread: f32,
}

impl Body {
    /// Dresses `skeleton` at random; patterns reach up to `texture_contrast`.
    pub(crate) fn dress(
        skeleton: Person,
        texture_contrast: f32,
        long_sleeves: bool,
        rng: &mut Rng,
    ) -> Self {
        let shirt = Material::random_cloth(skeleton.shirt, texture_contrast, rng);
        let skin = Material::skin(skeleton.skin, rng);
        let hair = Material {
            base: rng.range(0.03, 0.5) as f32,
            ..Material::random_cloth(0.1, texture_contrast, rng)
        };
        Self {
            features: (skeleton.skin * rng.range(0.2, 0.5) as f32).max(0.01),
            cuff: rng.range(0.05, 0.9) as f32,
            finger_spread: rng.range(0.05, 0.3) as f32,
            skeleton,
            shirt,
            skin,
            hair,
            long_sleeves,
        }
    }

    /// Draws the person with hand targets `hands` (world units) at `t_s` seconds.
    pub fn draw(&self, c: &mut Canvas, view: &View, hands: [P; 2], t_s: f32) {
        let p = &self.skeleton;
        let s = p.s;
        let unit = view.scale;
        let dx = p.sway_px * (core::f32::consts::TAU * p.sway_hz * t_s + p.sway_phase).sin();
        let neck = (p.cx + dx, p.shoulder_y);
        let at = |q: P| view.project(q);
        let len = |l: f32| view.length(l);
        let off = |q: P, x: f32, y: f32| (q.0 + x * s, q.1 + y * s);
        // Torso, shoulders, neck.
        c.capsule_material(
            at(off(neck, 0.0, 5.0)),
            at(off(neck, 0.0, 40.0)),
            len(11.0 * s),
            &self.shirt,
            unit,
        );
        c.capsule_material(
            at(p.shoulder(0, dx)),
            at(p.shoulder(1, dx)),
            len(4.5 * s),
            &self.shirt,
            unit,
        );
        c.capsule_material(
            at(off(neck, 0.0, -7.0)),
            at(off(neck, 0.0, 1.0)),
            len(3.0 * s),
            &self.skin,
            unit,
        );
        // Head: hair behind, face, eyes, mouth.
        let head = off(neck, 0.0, -13.0);
        c.capsule_material(
            at(off(head, 0.0, -1.5)),
            at(off(head, 0.0, -1.0)),
            len(7.8 * s),
            &self.hair,
            unit,
        );
        c.capsule_material(
            at(off(head, 0.0, 0.5)),
            at(off(head, 0.0, 1.5)),
            len(6.3 * s),
            &self.skin,
            unit,
        );
        for side in [-1.0, 1.0] {
            c.disc(at(off(head, side * 2.6, -0.5)), len(0.9 * s), self.features);
            c.capsule(
                at(off(head, side * 3.6, -2.2)),
                at(off(head, side * 1.6, -2.4)),
                len(0.4 * s),
                self.features,
            );
        }
        c.capsule(
            at(off(head, -2.0, 3.8)),
            at(off(head, 2.0, 3.8)),
            len(0.5 * s),
            self.features,
        );
        for (i, &target) in hands.iter().enumerate() {
            let (sh, elbow, hand) = p.arm(i, dx, target);
            c.capsule_material(at(sh), at(elbow), len(4.0 * s), &self.shirt, unit);
            let fore = if self.long_sleeves {
                &self.shirt
            } else {
                &self.skin
            };
            let wrist = lerp(elbow, hand, 0.82);
            c.capsule_material(at(elbow), at(wrist), len(3.4 * s), fore, unit);
            if self.long_sleeves {
                c.capsule(
                    at(lerp(elbow, hand, 0.72)),
                    at(wrist),
                    len(3.5 * s),
                    self.cuff,
                );
            }
            c.capsule_material(at(wrist), at(hand), len(2.6 * s), &self.skin, unit);
            self.hand(c, view, elbow, hand, i, t_s);
        }
    }

    /// A palm and five fingers pointing away from the elbow.
    fn hand(&self, c: &mut Canvas, view: &View, elbow: P, hand: P, i: usize, t_s: f32) {
        let s = self.skeleton.s;
        let (vx, vy) = (hand.0 - elbow.0, hand.1 - elbow.1);
        let l = (vx * vx + vy * vy).sqrt().max(1e-3);
        let (ux, uy) = (vx / l, vy / l);
        let side = if i == 0 { -1.0 } else { 1.0 };
        let palm = (hand.0 + ux * 1.5 * s, hand.1 + uy * 1.5 * s);
        c.capsule_material(
            view.project(hand),
            view.project(palm),
            view.length(3.2 * s),
            &self.skin,
            view.scale,
        );
        // Fingers fan out a little and flex with time (a live hand is never still).
        let flex = 0.1 * (t_s * 5.0 + i as f32).sin();
        for k in 0..4 {
            let a = (k as f32 - 1.5) * self.finger_spread + flex;
            let (ca, sa) = (a.cos(), a.sin());
            let (dx, dy) = (ux * ca - uy * sa, ux * sa + uy * ca);
            let across = (k as f32 - 1.5) * 1.5 * s;
            let base = (
                palm.0 - uy * across + ux * 1.5 * s,
                palm.1 + ux * across + uy * 1.5 * s,
            );
            let length = if k == 0 || k == 3 { 3.2 } else { 4.0 } * s;
            let tip = (base.0 + dx * length, base.1 + dy * length);
            c.capsule_material(
                view.project(base),
                view.project(tip),
                view.length(0.75 * s),
                &self.skin,
                view.scale,
            );
        }
        // The thumb, on the body's side of the palm.
        let base = (hand.0 - uy * side * -2.5 * s, hand.1 + ux * side * -2.5 * s);
        let tip = (
            base.0 + (ux - uy * side * -0.8) * 3.0 * s,
            base.1 + (uy + ux * side * -0.8) * 3.0 * s,
        );
        c.capsule_material(
            view.project(base),
            view.project(tip),
            view.length(0.9 * s),
            &self.skin,
            view.scale,
        );
    }
}

fn lerp(a: P, b: P, k: f32) -> P {
    (a.0 + (b.0 - a.0) * k, a.1 + (b.1 - a.1) * k)
}
