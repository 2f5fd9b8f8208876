//! An event-camera simulator and gesture scenes to film with it, for training and testing
//! gesture models where no recordings are at hand.
//!
//! Two generations live side by side:
//!
//! - the original one, kept bit-for-bit for the bundled data and its tests: [`camera`] is
//!   the pixel model (log-intensity change against a per-pixel contrast threshold, refractory
//!   period, background noise), [`scene`] draws intensity frames, [`gesture`] animates a
//!   person performing the 11 DVS128 Gesture classes and films it ([`clip`], [`simulate`]);
//! - the realistic one, for training that must survive a real sensor: [`material`] (cloth and
//!   skin textures, shading), [`body`] (a dressed person with face and fingers), [`view`]
//!   (framing: upper body or close-up, zoom, roll, mirror), [`backdrop`] (cluttered, panning
//!   walls and a passing object), [`lighting`] (flicker, light changes), [`sensor`] (a
//!   v2e-style pixel array: low-pass photoreceptor, mismatch, leak, shot noise, hot pixels),
//!   [`film()`] (one clip from fixed [`SceneParams`]) and [`randomize`] (domain randomization
//!   ranges and presets).

pub mod backdrop;
pub mod body;
pub mod camera;
pub mod film;
pub mod gesture;
pub mod lighting;
pub mod material;
pub mod randomize;
pub mod rng;
pub mod scene;
pub mod sensor;
pub mod view;

pub use camera::{Camera, CameraConfig};
pub use film::{film, Filmed, SceneParams, Shot};
pub use gesture::{class_names, clip, simulate, Gesture, Recording, SimOptions, Span};
pub use randomize::Randomization;
pub use sensor::{Sensor, SensorConfig, SensorError};
