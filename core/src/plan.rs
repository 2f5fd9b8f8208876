//! Memory plan: where each tensor and each node's scratch lives in the caller's arena.
//!
//! Every buffer has a lifetime `[first node that writes it, last node that reads it]`. Buffers
//! are placed greedily, largest first, at the lowest offset that does not collide with an
//! already placed buffer whose lifetime overlaps (the "greedy by size" strategy of TFLite
//! Micro). The lower bound of any plan is the largest total size of buffers live at once.

use crate::error::{Error, Result};
use crate::graph::WeightBits;
use crate::graph::{AttentionOrder, Graph, Op, Synapse, MAX_NODES, MAX_TENSORS};
use crate::kernels::conv::conv_scratch_len;
use crate::model::{node_io, tensor_bytes};

/// Most worker threads a session may split a node across.
pub const MAX_WORKERS: usize = 16;
/// Alignment of every buffer in the arena.
pub const ALIGN: usize = 16;

const MAX_BUFFERS: usize = MAX_TENSORS + MAX_NODES;

#[derive(Clone, Copy, Default)]
struct Buffer {
    size: usize,
    first: u16,
    last: u16,
    offset: usize,
}

/// Scratch a node needs: bytes shared by all workers and bytes per worker.
pub fn node_scratch(graph: &Graph, op: &Op) -> (usize, usize) {
    let t = |id: u16| graph.tensors.get(id as usize).copied();
    match *op {
        Op::Encode(Synapse { geom, bits, .. })
        | Op::Conv {
            synapse: Synapse { geom, bits, .. },
            ..
        } => {
            // Packed 4-bit weights are unpacked to i8 here for the run (shared by the workers).
            let unpacked = match bits {
                WeightBits::I4 => geom.weight_count(),
                WeightBits::I8 | WeightBits::I16 => 0,
            };
            (unpacked, conv_scratch_len(&geom) * 4)
        }
        Op::Attention {
            q, v, heads, order, ..
        } => {
            let (Some(tq), Some(tv)) = (t(q), t(v)) else {
                return (0, 0);
            };
            let heads = heads.max(1) as usize;
            let (d, dv) = (tq.c as usize / heads, tv.c as usize / heads);
            let tokens = tq.h as usize * tq.w as usize;
            // Per worker: one row of scores and one token's sums, all heads (all kernels).
            let shared = match order {
                AttentionOrder::KvFirst => heads * d * dv * 4,
                AttentionOrder::QkThenV => 0,
            };
            (shared, (tokens + heads * dv) * 4)
        }
        Op::Spike { .. } | Op::MeanSpike { .. } => (0, 0),
    }
}

/// Offsets of every tensor and every node's scratch for a given worker count.
#[derive(Clone)]
pub struct Plan {
    buffers: [Buffer; MAX_BUFFERS],
    tensors: usize,
    /// Arena bytes the plan uses.
    pub bytes: usize,
    /// No plan can use fewer bytes than this.
    pub lower_bound: usize,
    pub workers: usize,
}

pub(crate) fn aligned(n: usize) -> usize {
    n.next_multiple_of(ALIGN)
}

/// Bytes of a cache line on the hosts that run several workers.
const CACHE_LINE: usize = 64;

/// Bytes from one worker's scratch (`per_worker` bytes) to the next. With several workers a
/// cache line of gap follows each block, so that no line holds scratch of two workers: a line
/// that two cores write bounces between them at every write (measured: it doubled the time
/// of a node split over two threads).
pub fn worker_stride(per_worker: usize, workers: usize) -> usize {
    aligned(per_worker) + if workers > 1 { CACHE_LINE } else { 0 }
}

impl Plan {
    /// Plans a validated graph for `workers` threads (1 ..= [`MAX_WORKERS`]).
    pub fn new(graph: &Graph, workers: usize) -> Result<Self> {
        if workers == 0 || workers > MAX_WORKERS {
            return Err(Error::BadWorkerCount {
                workers,
                max: MAX_WORKERS,
            });
        }
        let tensors = graph.tensors.len();
        let nodes = graph.nodes.len() as u16;
        let mut buffers = [Buffer::default(); MAX_BUFFERS];
        let mut used = [false; MAX_TENSORS];
        for (id, t) in graph.tensors.iter().enumerate() {
            buffers[id] = Buffer {
                size: aligned(tensor_bytes(t)),
                first: u16::MAX,
                last: 0,
                offset: 0,
            };
        }
        let mut touch = |id: u16, at: u16| {
            let b = &mut buffers[id as usize];
            b.first = b.first.min(at);
            b.last = b.last.max(at);
            used[id as usize] = true;
        };
        // The input stays intact for the whole run, so a session can run again on it.
        touch(graph.input, 0);
        touch(graph.input, nodes.saturating_sub(1));
        touch(graph.logits, nodes.saturating_sub(1));
        for (i, node) in graph.nodes.iter().enumerate() {
            let (reads, out) = node_io(&node.op);
            for r in reads.iter().flatten() {
                touch(*r, i as u16);
            }
            touch(out, i as u16);
        }
        for (id, b) in buffers[..tensors].iter_mut().enumerate() {
            if !used[id] {
                b.size = 0;
            }
        }
        for (i, node) in graph.nodes.iter().enumerate() {
            let (shared, per_worker) = node_scratch(graph, &node.op);
            let size = aligned(shared) + worker_stride(per_worker, workers) * workers;
            buffers[tensors + i] = Buffer {
                size,
                first: i as u16,
                last: i as u16,
                offset: 0,
            };
        }
        let count = tensors + graph.nodes.len();
        let (bytes, lower_bound) = place(&mut buffers[..count], graph.nodes.len().max(1));
        Ok(Plan {
            buffers,
            tensors,
            bytes,
            lower_bound,
            workers,
        })
    }

    /// Byte range of tensor `id` in the (aligned) arena.
    pub fn tensor(&self, id: u16) -> core::ops::Range<usize> {
        let b = &self.buffers[id as usize];
        b.offset..b.offset + b.size
    }

    /// Byte range of node `i`'s scratch.
    pub fn scratch(&self, node: usize) -> core::ops::Range<usize> {
        let b = &self.buffers[self.tensors + node];
        b.offset..b.offset + b.size
    }
}

fn overlaps_in_time(a: &Buffer, b: &Buffer) -> bool {
    a.first <= b.last && b.first <= a.last
}

/// Greedy-by-size placement; returns (arena bytes, liveness lower bound).
fn place(buffers: &mut [Buffer], steps: usize) -> (usize, usize) {
    let mut order = [0u16; MAX_BUFFERS];
    let order = &mut order[..buffers.len()];
    for (i, o) in order.iter_mut().enumerate() {
        *o = i as u16;
    }
    order.sort_unstable_by(|&a, &b| {
        let (x, y) = (&buffers[a as usize], &buffers[b as usize]);
        y.size.cmp(&x.size).then(a.cmp(&b))
    });
    let mut placed = [0u16; MAX_BUFFERS];
    let mut n_placed = 0;
    let mut total = 0;
    for &idx in order.iter() {
        let me = buffers[idx as usize];
        if me.size == 0 {
            continue;
        }
        // Collect placed buffers alive at the same time, by offset.
        let mut conflicts = [0u16; MAX_BUFFERS];
        let mut n = 0;
        for &p in &placed[..n_placed] {
            if overlaps_in_time(&buffers[p as usize], &me) {
                conflicts[n] = p;
                n += 1;
            }
        }
        let conflicts = &mut conflicts[..n];
        conflicts.sort_unstable_by_key(|&p| buffers[p as usize].offset);
        let mut offset = 0;
        for &p in conflicts.iter() {
            let other = &buffers[p as usize];
            if offset + me.size <= other.offset {
                break;
            }
            offset = offset.max(other.offset + other.size);
        }
        buffers[idx as usize].offset = offset;
        total = total.max(offset + me.size);
        placed[n_placed] = idx;
        n_placed += 1;
    }
    let mut lower = 0;
    for step in 0..steps as u16 {
        let live: usize = buffers
            .iter()
            .filter(|b| b.first <= step && step <= b.last)
            .map(|b| b.size)
            .sum();
        lower = lower.max(live);
    }
    (total, lower)
}
