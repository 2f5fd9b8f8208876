//! Host-side pieces this crate takes from the converter and the event tools, named in one
//! place so that a move of these types between crates touches only this file.

pub use sdt_dvs::classify::{
    classify, classify_events, ClassifyError, ClassifyFlags, ClassifyOptions, Summary, WindowResult,
};
pub use sdt_dvs::source::{EventSource, Format, GeometrySource, SourceError, SourceOptions};
pub use sdt_events::evt3::TimePolicy;
pub use sdt_events::framer::{
    for_each_bin, Framer, FramerConfig, FramerError, Push, TrailingBin, Window,
};
pub use sdt_events::{Counters, Event, Geometry};
pub use sdt_host::{AlignedBlob, ThreadPool};
