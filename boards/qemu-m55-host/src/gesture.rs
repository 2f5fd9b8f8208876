//! The bundled DVS gesture model on the bundled event stream: the bins of the stream framed
//! exactly as the core's streaming classifier frames them with the blob's own framing
//! (AEDAT 3.1 decoder, the blob's time bins and slices, 128×128 → 32×32, counts clipped to D,
//! sparse bins lifted by the blob's count normalization, CHW counts fed as HWC `i8`), one job
//! input per bin, as the demo (`examples/src/gesture.rs`) runs it.

use std::ops::ControlFlow;
use std::path::PathBuf;

use sdt_events::aedat31::Aedat31Decoder;
use sdt_events::stream::StreamConfig;
use sdt_events::{for_each_bin, Decoder, Event, FramerConfig, Geometry, TrailingBin};
use sdt_host::AlignedBlob;

use crate::error::{io, HarnessError, Result};
use crate::models::Workload;

/// The DVS128 sensor the bundled stream was written for.
pub const SENSOR: Geometry = Geometry::new(128, 128);

fn data_dir() -> PathBuf {
    crate::firmware::boards_dir()
        .parent()
        .map(|p| p.join("examples/data"))
        .unwrap_or_else(|| PathBuf::from("../../examples/data"))
}

/// The bundled stream's events.
pub fn stream_events() -> Result<Vec<Event>> {
    let path = data_dir().join("dvs_gesture_stream.aedat");
    let bytes = std::fs::read(&path).map_err(io(format!("reading {}", path.display())))?;
    let mut dec = Aedat31Decoder::new(SENSOR);
    let mut events = Vec::new();
    dec.feed(&bytes, |e| events.push(e));
    let c = dec.finish();
    if c.malformed + c.out_of_range + c.truncated_bytes > 0 {
        return Err(HarnessError::Model(format!(
            "{}: damaged stream {c:?}",
            path.display()
        )));
    }
    Ok(events)
}

/// The streaming classifier's configuration the blob asks for (its framing).
pub fn stream_config(blob: &[u8]) -> Result<StreamConfig> {
    let blob = AlignedBlob::from_bytes(blob);
    let model = blob.model()?;
    StreamConfig::from_model(&model)
        .ok_or_else(|| HarnessError::Model("the gesture blob has no event framing".into()))
}

/// The first `n` bins of `events` as model inputs (HWC `i8` bytes), empty bins included,
/// framed one bin at a time as `cfg` frames them.
pub fn bins(events: &[Event], cfg: &StreamConfig, n: usize) -> Result<Vec<Vec<u8>>> {
    let one_bin = FramerConfig {
        bins: 1,
        ..cfg.framer
    };
    let (_, c, h, w) = one_bin
        .shape()
        .map_err(|e| HarnessError::Model(format!("framing: {e}")))?;
    let plane = h * w;
    let mut frame = vec![0u8; c * plane];
    let mut out = Vec::new();
    // CHW (OFF plane, ON plane) → HWC, as the streaming classifier feeds the model.
    let hwc = |frame: &[u8]| -> Vec<u8> {
        (0..c * plane)
            .map(|i| {
                frame
                    .get((i % c) * plane + i / c)
                    .copied()
                    .unwrap_or(0)
                    .min(127)
            })
            .collect()
    };
    for_each_bin(
        events.iter().copied(),
        one_bin,
        cfg.normalize,
        TrailingBin::Drop,
        &mut frame,
        |bin, _| {
            out.push(hwc(bin));
            if out.len() < n {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            }
        },
    )
    .map_err(|e| HarnessError::Model(format!("framing: {e}")))?;
    if out.len() < n {
        return Err(HarnessError::Model(format!(
            "the stream has only {} complete bins, {n} wanted",
            out.len()
        )));
    }
    Ok(out)
}

/// The bundled gesture blob's bytes.
fn blob_bytes() -> Result<Vec<u8>> {
    let path = data_dir().join("dvs_gesture_int8.blob");
    std::fs::read(&path).map_err(io(format!("reading {}", path.display())))
}

/// The bundled gesture blob on the first `n` bins of the bundled stream.
pub fn workload(n: usize) -> Result<Workload> {
    let bytes = blob_bytes()?;
    let cfg = stream_config(&bytes)?;
    if cfg.framer.geometry != SENSOR {
        return Err(HarnessError::Model(format!(
            "the blob was trained for a {:?} sensor, the stream is {SENSOR:?}",
            cfg.framer.geometry
        )));
    }
    Ok(Workload {
        name: "DVS gesture int8 32x32".into(),
        inputs: bins(&stream_events()?, &cfg, n)?,
        blob: bytes,
    })
}
