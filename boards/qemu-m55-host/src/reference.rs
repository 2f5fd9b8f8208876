//! The same job on the host core, and the bit-for-bit comparison with the device.

use sdt_core::{Input, Kernel, NodeStats, Sequential, Session, Stats};
use sdt_host::AlignedBlob;

use crate::error::Result;
use crate::report::Report;

/// One inference on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostInference {
    pub top1: usize,
    pub logits: Vec<i32>,
    pub stats: Vec<NodeStats>,
}

/// Runs `blob` on every input (little-endian `i8` or `i16` bytes, as in the job).
pub fn run(blob: &[u8], inputs: &[Vec<u8>], kernel: Kernel) -> Result<Vec<HostInference>> {
    let blob = AlignedBlob::from_bytes(blob);
    let model = blob.model()?;
    let mut arena = vec![0u8; sdt_core::arena_bytes(&model, 1)?];
    let mut session = Session::new(&model, &mut arena, 1)?;
    let nodes = model.nodes().len();
    let mut out = Vec::with_capacity(inputs.len());
    for x in inputs {
        if model.wide_input() {
            let v: Vec<i16> = x
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect();
            session.set_input(Input::I16(&v))?;
        } else {
            let v: Vec<i8> = x.iter().map(|&b| b as i8).collect();
            session.set_input(Input::I8(&v))?;
        }
        let mut stats = Stats::default();
        session.run(kernel, &Sequential, Some(&mut stats))?;
        out.push(HostInference {
            top1: session.top1(),
            logits: session.logits().to_vec(),
            stats: stats.nodes[..nodes].to_vec(),
        });
    }
    Ok(out)
}

/// Differences between the device's report and the host's run (empty: bit-identical logits,
/// and identical per-node statistics where the device reported them).
pub fn differences(device: &Report, host: &[HostInference]) -> Vec<String> {
    let mut diffs = Vec::new();
    if device.inferences.len() != host.len() {
        diffs.push(format!(
            "device ran {} inputs, host {}",
            device.inferences.len(),
            host.len()
        ));
    }
    for (i, (d, h)) in device.inferences.iter().zip(host).enumerate() {
        if d.logits != h.logits || d.top1 != h.top1 {
            diffs.push(format!(
                "input {i}: logits device {:?} (top1 {}) vs host {:?} (top1 {})",
                d.logits, d.top1, h.logits, h.top1
            ));
        }
        if !d.stats.is_empty() && d.stats != h.stats {
            let node = d.stats.iter().zip(&h.stats).position(|(a, b)| a != b);
            diffs.push(format!(
                "input {i}: node statistics differ first at node {node:?}"
            ));
        }
    }
    diffs
}
