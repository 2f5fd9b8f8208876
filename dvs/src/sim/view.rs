//! Where the camera looks: a similarity transform from the scene's world coordinates (the
//! 128 × 128 units a standing person is laid out in) to sensor pixels, with an optional
//! left-right mirror. Zooming in on a hand is a large scale centred on it.

use super::gesture::P;

/// World → sensor mapping: `sensor = centre + offset + R(rotation) · scale · (world' − focus)`,
/// where `world'` is the world point, mirrored about `x = mirror_axis` when `mirror` is set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct View {
    /// Sensor pixels per world unit.
    pub scale: f32,
    /// Rotation about the focus (radians, clockwise on the image).
    pub rotation: f32,
    /// The world point shown at the sensor centre (before `offset`).
    pub focus: P,
    /// Shift of the image (pixels).
    pub offset: P,
    /// Mirror the world left-right (about `x = mirror_axis`) before projecting.
    pub mirror: bool,
    /// The mirror's axis (world units).
    pub mirror_axis: f32,
    /// Sensor size (pixels).
    pub sensor: (u16, u16),
}

impl View {
    /// The whole 128 × 128 world on a `width × height` sensor, unrotated.
    pub fn whole(width: u16, height: u16) -> Self {
        Self {
            scale: f32::from(width.min(height)) / 128.0,
            rotation: 0.0,
            focus: (64.0, 64.0),
            offset: (0.0, 0.0),
            mirror: false,
            mirror_axis: 64.0,
            sensor: (width, height),
        }
    }

    /// Sensor pixel position of world point `p`.
    pub fn project(&self, p: P) -> P {
        let x = if self.mirror {
            2.0 * self.mirror_axis - p.0
        } else {
            p.0
        };
        let fx = if self.mirror {
            2.0 * self.mirror_axis - self.focus.0
        } else {
            self.focus.0
        };
        let (dx, dy) = ((x - fx) * self.scale, (p.1 - self.focus.1) * self.scale);
        let (s, c) = self.rotation.sin_cos();
        (
            f32::from(self.sensor.0) * 0.5 + self.offset.0 + c * dx - s * dy,
            f32::from(self.sensor.1) * 0.5 + self.offset.1 + s * dx + c * dy,
        )
    }

    /// A world length in pixels.
    pub fn length(&self, world: f32) -> f32 {
        world * self.scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_view_is_identity_on_128() {
        let v = View::whole(128, 128);
        assert_eq!(v.project((10.0, 20.0)), (10.0, 20.0));
        let m = View { mirror: true, ..v };
        assert_eq!(m.project((10.0, 20.0)), (118.0, 20.0));
    }

    #[test]
    fn zoom_keeps_the_focus_at_the_centre() {
        let v = View {
            scale: 4.0,
            rotation: 0.3,
            focus: (30.0, 40.0),
            ..View::whole(128, 128)
        };
        let c = v.project((30.0, 40.0));
        assert!((c.0 - 64.0).abs() < 1e-4 && (c.1 - 64.0).abs() < 1e-4);
        let a = v.project((31.0, 40.0));
        assert!(((a.0 - c.0).hypot(a.1 - c.1) - 4.0).abs() < 1e-4);
    }
}
