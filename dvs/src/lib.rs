//! Event-camera files on the host: an AEDAT 4.0 reader and writer ([`aedat4`]), format
//! detection and whole-file decoding for every supported format ([`source`]), a JSON summary
//! ([`info`]), rendering to PNG/GIF ([`render`]), a background-activity filter ([`denoise`])
//! and streaming classification of a recording with a model blob ([`classify`]). The
//! `sdt-dvs` binary is the command-line front end.

pub mod aedat4;
pub mod augment;
pub mod classify;
pub mod denoise;
pub mod dvs128;
pub mod info;
pub mod render;
pub mod sim;
pub mod source;
pub mod stats;
