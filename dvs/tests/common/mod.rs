//! Shared helpers of the sdt-dvs tests: synthetic events, a fixture file per format written
//! by the encoders, a small 2-channel event model blob, and the shared-folder lookup.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use sdt_core::fixed::Affine;
use sdt_core::graph::{
    ArchInfo, ConvGeom, ConvOutput, Graph, InputSpec, Node, Op, Section, Synapse, TensorDesc,
    TensorKind, WeightBits,
};
use sdt_dvs::aedat4::{Aedat4Writer, Compression, StreamInfo};
use sdt_dvs::source::Format;
use sdt_events::aedat2::Aedat2Encoder;
use sdt_events::aedat31::Aedat31Encoder;
use sdt_events::dat::DatEncoder;
use sdt_events::evt2::Evt2Encoder;
use sdt_events::evt3::Evt3Encoder;
use sdt_events::nmnist::NmnistEncoder;
use sdt_events::{Encoder, Event, Geometry};

/// A file of the shared events folder; a missing folder or file fails the test.
pub fn shared(name: &str) -> PathBuf {
    sdt_host::data::DataDir::Events.require(name)
}

/// The bundled (MIT) DAVIS346 recording.
pub fn bundled_davis() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/aestream_davis.aedat4")
}

/// A fresh folder under the target directory.
pub fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Deterministic events on a `g` sensor: a bar sweeping left to right, time non-decreasing.
pub fn sweep(n: usize, g: Geometry, seed: u64) -> Vec<Event> {
    let mut s = seed;
    let mut t = 1_000u64;
    (0..n)
        .map(|i| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = s >> 20;
            t += r % 40;
            let cx = (i as u64 * u64::from(g.width) / n as u64) as i64;
            let x = (cx + (r % 5) as i64 - 2).clamp(0, i64::from(g.width) - 1) as u16;
            Event {
                t,
                x,
                y: ((r >> 8) % u64::from(g.height)) as u16,
                p: ((r >> 16) & 1) as u8,
            }
        })
        .collect()
}

/// Writes `events` in `format` to `dir/name.ext`; returns the path.
pub fn write_fixture(dir: &Path, format: Format, g: Geometry, events: &[Event]) -> PathBuf {
    let mut out = Vec::new();
    let mut sink = |b: &[u8]| out.extend_from_slice(b);
    let ext = match format {
        Format::Evt2 | Format::Evt3 => "raw",
        Format::Dat => "dat",
        Format::Aedat2 => "aedat",
        Format::Aedat31 => "aedat3",
        Format::Aedat4 => "aedat4",
        Format::Nmnist => "bin",
    };
    match format {
        Format::Evt2 | Format::Evt3 => {
            let (name, fmt) = match format {
                Format::Evt2 => ("2.0", "EVT2"),
                _ => ("3.0", "EVT3"),
            };
            let header = format!(
                "% evt {name}\n% format {fmt};height={};width={}\n% end\n",
                g.height, g.width
            );
            sink(header.as_bytes());
            match format {
                Format::Evt2 => Evt2Encoder::new().encode(events, &mut sink),
                _ => Evt3Encoder::new().encode(events, &mut sink),
            }
            .unwrap();
        }
        Format::Dat => DatEncoder::new(g).encode(events, &mut sink).unwrap(),
        Format::Aedat2 => Aedat2Encoder::new().encode(events, &mut sink).unwrap(),
        Format::Aedat31 => Aedat31Encoder::new().encode(events, &mut sink).unwrap(),
        Format::Nmnist => NmnistEncoder::new().encode(events, &mut sink).unwrap(),
        Format::Aedat4 => {
            let streams = [StreamInfo {
                id: 0,
                type_identifier: "EVTS".into(),
                name: "events".into(),
                geometry: Some(g),
            }];
            let mut w = Aedat4Writer::new(Vec::new(), Compression::Lz4, &streams).unwrap();
            for chunk in events.chunks(1000) {
                w.write_events(0, chunk).unwrap();
            }
            out = w.finish().unwrap();
        }
    }
    let path = dir.join(format!("fixture_{}.{ext}", format.name()));
    std::fs::write(&path, &out).unwrap();
    path
}

/// Every format with the sensor its fixture uses (DVS128 for AEDAT 2.0/3.1, N-MNIST's 34×34).
pub fn formats() -> [(Format, Geometry); 7] {
    [
        (Format::Evt2, Geometry::new(64, 48)),
        (Format::Evt3, Geometry::new(64, 48)),
        (Format::Dat, Geometry::new(64, 48)),
        (Format::Aedat2, Geometry::new(128, 128)),
        (Format::Aedat31, Geometry::new(128, 128)),
        (Format::Aedat4, Geometry::new(64, 48)),
        (Format::Nmnist, Geometry::new(34, 34)),
    ]
}

/// A small event model blob: input `h × w × 2` counts → 3×3 encoding conv (8 channels) into
/// the residual stream → mean spike → linear head over `labels`.
pub fn event_model(h: u16, w: u16, labels: &[&str], seed: u64) -> Vec<u8> {
    let mut s = seed;
    let mut next = move |lo: i64, hi: i64| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        lo + ((s >> 33) % (hi - lo + 1) as u64) as i64
    };
    let classes = labels.len() as u16;
    let mut data: Vec<u8> = Vec::new();
    let section = |data: &mut Vec<u8>, bytes: &[u8]| {
        let offset = data.len().next_multiple_of(16);
        data.resize(offset, 0);
        data.extend_from_slice(bytes);
        Section {
            offset: offset as u32,
            len: bytes.len() as u32,
        }
    };
    let tensor = |kind, h, w, c| TensorDesc { kind, h, w, c };
    let mut tensors = heapless::Vec::new();
    for t in [
        tensor(TensorKind::Input { wide: false }, h, w, 2),
        tensor(TensorKind::Fixed { frac: 4 }, h, w, 8),
        tensor(TensorKind::Spikes, 1, 1, 8),
        tensor(TensorKind::Fixed { frac: 8 }, 1, 1, classes),
    ] {
        tensors.push(t).unwrap();
    }
    let geom = |kernel, pad, in_c, out_c| ConvGeom {
        kernel,
        stride: 1,
        pad,
        in_c,
        out_c,
        depthwise: false,
    };
    let g0 = geom(3, 1, 2, 8);
    let w0: Vec<i8> = (0..g0.weight_count())
        .map(|_| next(-30, 127) as i8)
        .collect();
    let a0: Vec<Affine> = (0..8)
        .map(|_| Affine::new(next(1 << 19, 1 << 21) as i32, 20, next(-8, 8) as i32))
        .collect();
    let g1 = geom(1, 0, 8, classes);
    let w1: Vec<i8> = (0..g1.weight_count())
        .map(|_| next(-127, 127) as i8)
        .collect();
    let a1: Vec<Affine> = (0..classes)
        .map(|_| Affine::new(1 << 20, 20, next(-64, 64) as i32))
        .collect();
    let (sw0, sa0) = (
        section(&mut data, bytemuck::cast_slice(&w0)),
        section(&mut data, bytemuck::cast_slice(&a0)),
    );
    let (sw1, sa1) = (
        section(&mut data, bytemuck::cast_slice(&w1)),
        section(&mut data, bytemuck::cast_slice(&a1)),
    );
    let label_text = labels.join("\n");
    let sl = section(&mut data, label_text.as_bytes());
    let node = |op| Node {
        op,
        name: Section::default(),
        block: 0,
    };
    let mut nodes = heapless::Vec::new();
    for n in [
        node(Op::Encode(Synapse {
            input: 0,
            output: 1,
            geom: g0,
            bits: WeightBits::I8,
            weights: sw0,
            affine: sa0,
        })),
        node(Op::MeanSpike {
            input: 1,
            output: 2,
        }),
        node(Op::Conv {
            synapse: Synapse {
                input: 2,
                output: 3,
                geom: g1,
                bits: WeightBits::I8,
                weights: sw1,
                affine: sa1,
            },
            mode: ConvOutput::Write,
        }),
    ] {
        nodes.push(n).unwrap();
    }
    let graph = Graph {
        d: 4,
        input: 0,
        logits: 3,
        input_spec: InputSpec {
            scale: 1.0,
            max_abs: 127,
            zero_points: [0i16, 0].into_iter().collect(),
        },
        arch: ArchInfo {
            embed: [0; 4],
            blocks3: 0,
            blocks4: 0,
            params: (w0.len() + w1.len()) as u32,
        },
        tensors,
        nodes,
        labels: sl,
    };
    sdt_host::blob::assemble(&graph, &Default::default(), &data)
        .expect("the test model is valid")
        .bytes()
        .to_vec()
}
