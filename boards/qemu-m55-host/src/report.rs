//! Parses the firmware's text report (grammar in `qemu-m55/src/main.rs`).

use std::collections::BTreeMap;

use sdt_core::NodeStats;

use crate::error::{HarnessError, Result};

/// One inference on the device.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inference {
    pub top1: usize,
    pub logits: Vec<i32>,
    /// Ticks per node (SysTick; see [`crate::INSNS_PER_TICK`]).
    pub node_ticks: Vec<u64>,
    pub total_ticks: u64,
    /// Per-node statistics, when the job asked for them.
    pub stats: Vec<NodeStats>,
}

/// Everything one firmware run printed.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub blob_bytes: usize,
    pub nodes: usize,
    pub classes: usize,
    pub arena_bytes: usize,
    pub load_ticks: u64,
    pub helium: bool,
    /// `K` line: bytes of spike thresholds the firmware kept across runs (0: none).
    pub kept_bytes: usize,
    /// `C` line: (instructions, ticks) of the firmware's calibration loop.
    pub calibration: Option<(u64, u64)>,
    pub inferences: Vec<Inference>,
    /// `E` line: the firmware's error code and message.
    pub error: Option<(u32, String)>,
    pub complete: bool,
}

fn nums<T: std::str::FromStr>(fields: &[&str]) -> Option<Vec<T>> {
    fields.iter().map(|f| f.parse().ok()).collect()
}

impl Report {
    pub fn parse(text: &str) -> Result<Self> {
        let mut r = Report::default();
        let mut by_input: BTreeMap<usize, Inference> = BTreeMap::new();
        for (line_no, line) in text.lines().enumerate() {
            let bad = || HarnessError::Parse {
                line: line_no + 1,
                text: line.to_owned(),
            };
            let fields: Vec<&str> = line.split_whitespace().collect();
            let Some((&tag, rest)) = fields.split_first() else {
                continue;
            };
            match tag {
                "C" => {
                    let v: Vec<u64> = nums(rest).filter(|v| v.len() == 2).ok_or_else(bad)?;
                    r.calibration = Some((v[0], v[1]));
                }
                "M" => {
                    let v: Vec<u64> = nums(rest).filter(|v| v.len() == 6).ok_or_else(bad)?;
                    r.blob_bytes = v[0] as usize;
                    r.nodes = v[1] as usize;
                    r.classes = v[2] as usize;
                    r.arena_bytes = v[3] as usize;
                    r.load_ticks = v[4];
                    r.helium = v[5] != 0;
                }
                "K" => {
                    let v: Vec<usize> = nums(rest).filter(|v| v.len() == 1).ok_or_else(bad)?;
                    r.kept_bytes = v[0];
                }
                "L" => {
                    let v: Vec<i64> = nums(rest).filter(|v| v.len() >= 2).ok_or_else(bad)?;
                    let inf = by_input.entry(v[0] as usize).or_default();
                    inf.top1 = v[1] as usize;
                    inf.logits = v[2..].iter().map(|&x| x as i32).collect();
                }
                "P" => {
                    let v: Vec<u64> = nums(rest).filter(|v| v.len() == 3).ok_or_else(bad)?;
                    let inf = by_input.entry(v[0] as usize).or_default();
                    if inf.node_ticks.len() != v[1] as usize {
                        return Err(bad());
                    }
                    inf.node_ticks.push(v[2]);
                }
                "T" => {
                    let v: Vec<u64> = nums(rest).filter(|v| v.len() == 2).ok_or_else(bad)?;
                    by_input.entry(v[0] as usize).or_default().total_ticks = v[1];
                }
                "S" => {
                    let v: Vec<u64> = nums(rest).filter(|v| v.len() == 7).ok_or_else(bad)?;
                    let inf = by_input.entry(v[0] as usize).or_default();
                    if inf.stats.len() != v[1] as usize {
                        return Err(bad());
                    }
                    inf.stats.push(NodeStats {
                        sops: v[2],
                        macs: v[3],
                        spikes: v[4],
                        nonzero: v[5],
                        sites: v[6],
                    });
                }
                "E" => {
                    let code = rest.first().and_then(|c| c.parse().ok()).ok_or_else(bad)?;
                    r.error = Some((code, rest[1..].join(" ")));
                }
                "END" => r.complete = true,
                _ => return Err(bad()),
            }
        }
        // Inputs are numbered 0..n without gaps.
        for (i, (&k, _)) in by_input.iter().enumerate() {
            if i != k {
                return Err(HarnessError::Parse {
                    line: 0,
                    text: format!("input {k} reported without input {i}"),
                });
            }
        }
        r.inferences = by_input.into_values().collect();
        Ok(r)
    }
}
