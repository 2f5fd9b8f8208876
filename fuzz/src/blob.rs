//! Model blobs: arbitrary bytes never make the loader panic; whatever loads (and is small
//! enough) runs without panicking, and the spike-driven and dense kernels give the same logits.

use sdt_core::graph::Op;
use sdt_core::{Kernel, Model, Sequential, Session};

const MAX_ARENA: usize = 16 << 20;
/// Rough upper bound on the additions one run may cost before it is skipped (keeps exec/s up).
const MAX_WORK: u64 = 1 << 26;

fn work(model: &Model<'_>) -> u64 {
    let d = model.d() as u64;
    let elems = |id: u16| {
        let t = model.tensor(id);
        t.h as u64 * t.w as u64 * t.c as u64
    };
    let mut total = 0u64;
    for node in model.nodes() {
        let cost = match node.op {
            Op::Encode(s) | Op::Conv { synapse: s, .. } => {
                let fan = if s.geom.depthwise {
                    1
                } else {
                    s.geom.in_c as u64
                };
                elems(s.output) * (s.geom.kernel as u64).pow(2) * fan * d
            }
            Op::Attention { q, v, heads, .. } => {
                let (tq, tv) = (model.tensor(q), model.tensor(v));
                let n = tq.h as u64 * tq.w as u64;
                let (c, cv) = (tq.c as u64, tv.c as u64);
                (n * n * (c + cv) + n * c * cv / heads.max(1) as u64) * d
            }
            Op::Spike { input, .. } | Op::MeanSpike { input, .. } => elems(input),
        };
        total = total.saturating_add(cost);
    }
    total
}

/// The blob harness.
pub fn run(data: &[u8]) {
    let mut blob = sdt_host::AlignedBlob::from_bytes(data);
    let bytes = blob.bytes_mut();
    check(bytes);
    // Most mutations only break the checksum; also try the input with its CRC repaired so the
    // graph decoder and the validation see them.
    if fix_crc(bytes) {
        check(bytes);
    }
}

/// Rewrites the CRC trailer where the header says it is; false if it is out of range.
fn fix_crc(bytes: &mut [u8]) -> bool {
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    if bytes.len() < 32 {
        return false;
    }
    let end = u32_at(bytes, 16) as usize + u32_at(bytes, 20) as usize;
    if end.checked_add(4).is_none_or(|e| e > bytes.len()) {
        return false;
    }
    let crc = sdt_core::blob::checksum(&bytes[..end]).to_le_bytes();
    let changed = bytes[end..end + 4] != crc;
    bytes[end..end + 4].copy_from_slice(&crc);
    changed
}

/// Loads `bytes`; when they load, runs both kernels (if small enough) and compares logits.
fn check(bytes: &[u8]) {
    let Ok(model) = Model::from_blob(bytes) else {
        return;
    };
    let Ok(need) = sdt_core::arena_bytes(&model, 1) else {
        return;
    };
    if need > MAX_ARENA || work(&model) > MAX_WORK {
        return;
    }
    let mut logits = Vec::new();
    for kernel in [Kernel::SpikeDriven, Kernel::Dense] {
        let mut arena = vec![0u8; need];
        let mut s = Session::new(&model, &mut arena, 1).expect("arena_bytes is enough");
        if let Some(x) = s.input_i8_mut() {
            x.iter_mut()
                .enumerate()
                .for_each(|(i, v)| *v = (i * 37) as i8);
        }
        if let Some(x) = s.input_i16_mut() {
            x.iter_mut()
                .enumerate()
                .for_each(|(i, v)| *v = (i * 977) as i16);
        }
        s.run(kernel, &Sequential, None)
            .expect("a validated model runs");
        logits.push(s.logits().to_vec());
    }
    assert_eq!(logits[0], logits[1], "kernels disagree");
}
