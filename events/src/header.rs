//! Text headers: the Prophesee RAW/DAT header parser, and the skipper the DAT and AEDAT
//! decoders use to step over comment lines.
//!
//! A Prophesee header is a run of lines starting with `%` at the beginning of the file, e.g.
//!
//! ```text
//! % evt 3.0
//! % format EVT3;height=720;width=1280
//! % geometry 1280x720
//! % Width 640
//! % Height 480
//! % end
//! ```
//!
//! The header ends at the first line that does not start with `%`, or after a `% end` line.
//!
//! Older recordings state no resolution, only the sensor: `% plugin_name hal_plugin_gen3_fx3`
//! (Metavision's HAL plugin) or `% sensor_generation 4.2`. As Metavision does, the resolution
//! then follows from the sensor ([`sensor_geometry`]).

use crate::Geometry;

/// Encoding of a Prophesee RAW stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventFormat {
    /// EVT 2.0 ([`crate::evt2`]).
    Evt2,
    /// EVT 2.1 (64-bit vectorised; no decoder here).
    Evt21,
    /// EVT 3.0 ([`crate::evt3`]).
    Evt3,
}

impl EventFormat {
    /// Parses `2.0`, `3.0`, `EVT2`, `EVT3`, `EVT21`, `2.1` (case-insensitive).
    pub fn from_name(name: &[u8]) -> Option<Self> {
        let name = trim(name);
        let name = strip_prefix_ignore_case(name, b"evt").unwrap_or(name);
        match name {
            b"2" | b"2.0" => Some(Self::Evt2),
            b"21" | b"2.1" => Some(Self::Evt21),
            b"3" | b"3.0" => Some(Self::Evt3),
            _ => None,
        }
    }
}

/// Where a header's resolution came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HeaderGeometry {
    /// Stated: `% geometry WxH`, `% format …;width=…;height=…`, or DAT's `% Width` /
    /// `% Height`.
    Stated(Geometry),
    /// Not stated, known from the sensor the header names (plugin name or generation).
    Sensor(Geometry),
}

impl HeaderGeometry {
    /// The resolution, whichever way it was found.
    pub const fn geometry(self) -> Geometry {
        match self {
            HeaderGeometry::Stated(g) | HeaderGeometry::Sensor(g) => g,
        }
    }
}

/// What a Prophesee header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HeaderInfo {
    /// Stream encoding (`% evt …` or `% format …`), if stated.
    pub format: Option<EventFormat>,
    /// Sensor resolution: stated, else from the sensor's name, else `None`.
    pub geometry: Option<HeaderGeometry>,
    /// Offset of the first byte after the header.
    pub data_offset: usize,
}

/// Why a header could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HeaderError {
    /// The buffer ends inside the header (or exactly at its end, so it is unknown whether
    /// more header lines follow): parse a longer prefix. A stream that is *only* a header
    /// also gives this.
    Incomplete,
}

impl HeaderInfo {
    /// Parses the header at the start of `prefix`. A stream without a header gives
    /// `data_offset == 0` and no information.
    pub fn parse(prefix: &[u8]) -> Result<Self, HeaderError> {
        let mut info = HeaderInfo {
            format: None,
            geometry: None,
            data_offset: 0,
        };
        let (mut width, mut height) = (None, None);
        let mut sensor = None;
        let mut rest = prefix;
        loop {
            match rest.first() {
                Some(b'%') => {}
                Some(_) => break,
                None => return Err(HeaderError::Incomplete),
            }
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                return Err(HeaderError::Incomplete);
            };
            let (line, tail) = rest.split_at(nl + 1);
            rest = tail;
            info.data_offset += line.len();
            let line = trim(line.get(1..).unwrap_or(&[]));
            let (key, value) = match line.iter().position(|&b| b == b' ') {
                Some(i) => (&line[..i], trim(&line[i..])),
                None => (line, &[][..]),
            };
            if key.eq_ignore_ascii_case(b"end") {
                break;
            } else if key.eq_ignore_ascii_case(b"evt") {
                info.format = EventFormat::from_name(value).or(info.format);
            } else if key.eq_ignore_ascii_case(b"format") {
                let mut fields = value.split(|&b| b == b';');
                if let Some(f) = fields.next().and_then(EventFormat::from_name) {
                    info.format = Some(f);
                }
                for field in fields {
                    if let Some(i) = field.iter().position(|&b| b == b'=') {
                        let (k, v) = (trim(&field[..i]), number(&field[i + 1..]));
                        if k.eq_ignore_ascii_case(b"width") {
                            width = v.or(width);
                        } else if k.eq_ignore_ascii_case(b"height") {
                            height = v.or(height);
                        }
                    }
                }
            } else if key.eq_ignore_ascii_case(b"geometry") {
                if let Some(i) = value.iter().position(|&b| b == b'x' || b == b'X') {
                    if let (Some(w), Some(h)) = (number(&value[..i]), number(&value[i + 1..])) {
                        width = Some(w);
                        height = Some(h);
                    }
                }
            } else if key.eq_ignore_ascii_case(b"plugin_name")
                || key.eq_ignore_ascii_case(b"sensor_name")
                || key.eq_ignore_ascii_case(b"sensor_generation")
                || key.eq_ignore_ascii_case(b"generation")
            {
                sensor = sensor_geometry(value).or(sensor);
            } else if key.eq_ignore_ascii_case(b"width") {
                width = number(value).or(width);
            } else if key.eq_ignore_ascii_case(b"height") {
                height = number(value).or(height);
            }
        }
        info.geometry = match (width, height) {
            (Some(w), Some(h)) => Some(HeaderGeometry::Stated(Geometry::new(w, h))),
            _ => sensor.map(HeaderGeometry::Sensor),
        };
        Ok(info)
    }
}

/// The resolution of a Prophesee sensor named by a HAL plugin (`hal_plugin_gen3_fx3`,
/// `hal_plugin_imx636_evk4`), a sensor name (`IMX636`, `GenX320`) or a generation (`3.1`,
/// `4.2`). The table follows Metavision's plugin table (Gen3/Gen3.1 VGA, Gen4/Gen4.1 HD) and
/// the sensors' datasheets (IMX636 = generation 4.2: 1280×720; GenX320: 320×320).
pub fn sensor_geometry(name: &[u8]) -> Option<Geometry> {
    const VGA: Geometry = Geometry::new(640, 480);
    const HD: Geometry = Geometry::new(1280, 720);
    const GENX320: Geometry = Geometry::new(320, 320);
    let name = trim(name);
    match name {
        b"3.0" | b"3.1" | b"3" => return Some(VGA),
        b"4.0" | b"4.1" | b"4.2" | b"4" => return Some(HD),
        _ => {}
    }
    // Plugin names are `_`-separated words; one of them names the sensor.
    name.split(|&b| b == b'_' || b == b'-' || b == b' ')
        .find_map(|word| {
            let is = |w: &[u8]| word.eq_ignore_ascii_case(w);
            if is(b"gen3") || is(b"gen31") {
                Some(VGA)
            } else if is(b"gen4") || is(b"gen41") || is(b"imx636") {
                Some(HD)
            } else if is(b"genx320") {
                Some(GENX320)
            } else {
                None
            }
        })
}

fn trim(s: &[u8]) -> &[u8] {
    s.trim_ascii()
}

fn number(s: &[u8]) -> Option<u16> {
    core::str::from_utf8(trim(s)).ok()?.parse().ok()
}

fn strip_prefix_ignore_case<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// Skips a run of comment lines (each starting with `marker`) at the start of a stream, fed
/// in chunks of any size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CommentSkipper {
    marker: u8,
    state: SkipState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SkipState {
    LineStart,
    InLine,
    Done,
}

impl CommentSkipper {
    pub(crate) const fn new(marker: u8) -> Self {
        Self {
            marker,
            state: SkipState::LineStart,
        }
    }

    /// Whether the header is over.
    #[inline(always)]
    pub(crate) fn done(&self) -> bool {
        self.state == SkipState::Done
    }

    /// Consumes header bytes from the front of `input`; returns the rest.
    pub(crate) fn skip<'a>(&mut self, input: &'a [u8]) -> &'a [u8] {
        let mut input = input;
        loop {
            match self.state {
                SkipState::Done => return input,
                SkipState::LineStart => match input.first() {
                    None => return input,
                    Some(&b) if b == self.marker => self.state = SkipState::InLine,
                    Some(_) => self.state = SkipState::Done,
                },
                SkipState::InLine => match input.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        input = input.get(i + 1..).unwrap_or(&[]);
                        self.state = SkipState::LineStart;
                    }
                    None => return &[],
                },
            }
        }
    }
}
