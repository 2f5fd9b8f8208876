//! What a blob holds: architecture, sizes, arena, and per-layer formats (`sdt-convert inspect`,
//! the Python `Blob.inspect()`).

use sdt_core::graph::{ConvOutput, Op, TensorKind};
use sdt_core::model::{node_io, tensor_bytes};
use sdt_core::plan::{Plan, ALIGN};
use sdt_core::{kept_thresholds_len, Model};
use serde::Serialize;

use crate::error::{ConvertError, Result};

/// The whole-blob summary.
pub fn summary(model: &Model<'_>, blob_bytes: usize) -> Result<serde_json::Value> {
    let g = model.graph();
    let plan = Plan::new(g, 1).map_err(ConvertError::Blob)?;
    let input = model.tensor(g.input);
    let mut weights = 0usize;
    for node in model.nodes() {
        if let Some(s) = node.op.synapse() {
            weights += s.geom.weight_count();
        }
    }
    Ok(serde_json::json!({
        "embed": g.arch.embed,
        "blocks3": g.arch.blocks3,
        "blocks4": g.arch.blocks4,
        "input": [input.h, input.w, input.c],
        "input_scale": g.input_spec.scale,
        "classes": model.classes(),
        "d": g.d,
        "params": g.arch.params,
        "stored_weights": weights,
        "nodes": g.nodes.len(),
        "tensors": g.tensors.len(),
        "blob_bytes": blob_bytes,
        "bytes_per_param": blob_bytes as f64 / g.arch.params.max(1) as f64,
        // What `sdt_core::arena_bytes` asks a caller to allocate: any buffer will do.
        "arena_bytes": sdt_core::arena_bytes(model, 1).map_err(ConvertError::Blob)?,
        // The same arena in a buffer aligned to `arena_align` (a device's static buffer).
        "arena_aligned_bytes": plan.bytes,
        "arena_align": ALIGN,
        "arena_lower_bound": plan.lower_bound,
        // Optional `Session::keep_thresholds` tables, outside the arena.
        "kept_thresholds_bytes": kept_thresholds_len(model) * core::mem::size_of::<i32>(),
        "metadata": crate::meta::to_json(model.metadata()),
    }))
}

/// One node of the graph as `inspect --layers` lists it.
#[derive(Clone, Debug, Serialize)]
pub struct Layer {
    pub node: usize,
    pub block: u16,
    pub name: String,
    /// Output height, width, channels.
    pub out: [u16; 3],
    /// Weight bits and fixed-point format (`w8 Q12`, `w8 s10`, `attn s8`, `spikes`, `-`).
    pub format: String,
    /// Bytes of the output tensor.
    pub bytes: usize,
}

/// Every node of `model`.
pub fn layers(model: &Model<'_>) -> Vec<Layer> {
    model
        .nodes()
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let out = model.tensor(node_io(&node.op).1);
            let format = match (node.op.synapse(), node.op, out.kind) {
                (Some(s), _, TensorKind::Fixed { frac }) => format!("w{} Q{frac}", s.bits.bits()),
                (
                    Some(s),
                    Op::Conv {
                        mode: ConvOutput::Spikes { frac },
                        ..
                    },
                    _,
                ) => format!("w{} s{frac}", s.bits.bits()),
                (_, Op::Attention { frac, .. }, _) => format!("attn s{frac}"),
                (_, _, TensorKind::Spikes) => "spikes".into(),
                _ => "-".into(),
            };
            Layer {
                node: i,
                block: node.block,
                name: model.node_name(i).to_owned(),
                out: [out.h, out.w, out.c],
                format,
                bytes: tensor_bytes(out),
            }
        })
        .collect()
}
