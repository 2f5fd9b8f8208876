//! Writing AEDAT 4.0 files (fixtures, conversions): header, event and raw packets.
//!
//! Flatbuffers are built with the `flatbuffers` crate's builder; the file has no data table
//! (`dataTablePosition = -1`), which readers treat as "read packets to the end".

use std::io::{self, Write};

use flatbuffers::FlatBufferBuilder;
use sdt_events::Event;

use super::{Aedat4Error, Compression, StreamInfo, EVENTS_TYPE, MAGIC};

/// Writes an AEDAT 4.0 file.
pub struct Aedat4Writer<W: Write> {
    out: W,
    compression: Compression,
}

impl<W: Write> Aedat4Writer<W> {
    /// Writes the magic line and an IOHeader listing `streams`.
    pub fn new(
        mut out: W,
        compression: Compression,
        streams: &[StreamInfo],
    ) -> Result<Self, Aedat4Error> {
        let xml = info_xml(compression, streams);
        let mut fbb = FlatBufferBuilder::new();
        let info = fbb.create_string(&xml);
        let start = fbb.start_table();
        // IOHeader slots: 0 compression (i32), 1 dataTablePosition (i64), 2 infoNode.
        fbb.push_slot::<i64>(6, -1, 0);
        fbb.push_slot_always(8, info);
        fbb.push_slot::<i32>(4, compression.code(), 0);
        let root = fbb.end_table(start);
        fbb.finish_size_prefixed(root, Some("IOHE"));
        out.write_all(MAGIC)?;
        out.write_all(fbb.finished_data())?;
        Ok(Self { out, compression })
    }

    /// Writes one `EventPacket` of `events` to `stream`.
    pub fn write_events(&mut self, stream: i32, events: &[Event]) -> Result<(), Aedat4Error> {
        let buf = event_packet(events)?;
        self.write_packet(stream, &buf)
    }

    /// Compresses a size-prefixed flatbuffer and writes it as a packet of `stream`.
    pub fn write_packet(&mut self, stream: i32, flatbuffer: &[u8]) -> Result<(), Aedat4Error> {
        let body = compress(self.compression, flatbuffer)?;
        self.write_raw(stream, &body)
    }

    /// Writes a packet header and `body` as they are (for damaged-file tests).
    pub fn write_raw(&mut self, stream: i32, body: &[u8]) -> Result<(), Aedat4Error> {
        let size = i32::try_from(body.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "packet over 2 GiB"))?;
        self.out.write_all(&stream.to_le_bytes())?;
        self.out.write_all(&size.to_le_bytes())?;
        self.out.write_all(body)?;
        Ok(())
    }

    /// Flushes and returns the output.
    pub fn finish(mut self) -> Result<W, Aedat4Error> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A size-prefixed `EventPacket` flatbuffer (identifier `EVTS`) holding `events`.
pub fn event_packet(events: &[Event]) -> Result<Vec<u8>, Aedat4Error> {
    let mut fbb = FlatBufferBuilder::with_capacity(events.len() * 16 + 64);
    // A vector of 16-byte structs, 8-aligned: built as two u64 words per event, pushed back
    // to front (the builder grows downwards), then given the element count.
    fbb.start_vector::<u64>(events.len() * 2);
    for e in events.iter().rev() {
        let t = i64::try_from(e.t).map_err(|_| Aedat4Error::Unencodable(*e))?;
        let (Ok(x), Ok(y), true) = (i16::try_from(e.x), i16::try_from(e.y), e.p <= 1) else {
            return Err(Aedat4Error::Unencodable(*e));
        };
        let hi = u64::from(x as u16) | u64::from(y as u16) << 16 | u64::from(e.p) << 32;
        fbb.push(hi);
        fbb.push(t as u64);
    }
    let elements = fbb.end_vector::<u64>(events.len());
    let start = fbb.start_table();
    fbb.push_slot_always(4, elements);
    let root = fbb.end_table(start);
    fbb.finish_size_prefixed(root, Some(EVENTS_TYPE));
    Ok(fbb.finished_data().to_vec())
}

/// Compresses a packet body as the header says.
pub fn compress(compression: Compression, data: &[u8]) -> Result<Vec<u8>, Aedat4Error> {
    Ok(match compression {
        Compression::None => data.to_vec(),
        Compression::Lz4 | Compression::Lz4High => {
            let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
            enc.write_all(data)?;
            enc.finish().map_err(io::Error::other)?
        }
        Compression::Zstd | Compression::ZstdHigh => {
            ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
        }
    })
}

/// The XML info tree for `streams`, in the layout DV writes.
fn info_xml(compression: Compression, streams: &[StreamInfo]) -> String {
    let mut x = String::from(
        "<dv version=\"2.0\">\n    <node name=\"outInfo\" path=\"/mainloop/Recorder/outInfo/\">\n",
    );
    for s in streams {
        let path = format!("/mainloop/Recorder/outInfo/{}/", s.id);
        x += &format!("        <node name=\"{}\" path=\"{path}\">\n", s.id);
        let attr = |key: &str, ty: &str, v: &str| {
            format!(
                "            <attr key=\"{key}\" type=\"{ty}\">{}</attr>\n",
                escape(v)
            )
        };
        x += &attr("compression", "string", compression.name());
        x += &attr("originalOutputName", "string", &s.name);
        x += &attr("typeIdentifier", "string", &s.type_identifier);
        if let Some(g) = s.geometry {
            x += &format!("            <node name=\"info\" path=\"{path}info/\">\n");
            x += &format!("    {}", attr("sizeX", "int", &g.width.to_string()));
            x += &format!("    {}", attr("sizeY", "int", &g.height.to_string()));
            x += "            </node>\n";
        }
        x += "        </node>\n";
    }
    x + "    </node>\n</dv>\n"
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
