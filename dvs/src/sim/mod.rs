//! An event-camera simulator and gesture scenes to film with it, for training and testing
//! gesture models where no recordings are at hand.
//!
//! [`camera`] is the pixel model (log-intensity change against a per-pixel contrast
//! threshold, refractory period, background noise), [`scene`] draws intensity frames,
//! [`gesture`] animates a person performing the 11 DVS128 Gesture classes and films it.

pub mod camera;
pub mod gesture;
pub mod rng;
pub mod scene;

pub use camera::{Camera, CameraConfig, CameraError};
pub use gesture::{class_names, clip, simulate, Gesture, Recording, SimOptions, Span};
