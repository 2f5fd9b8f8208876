//! Events → `T` frames of per-pixel, per-polarity event counts.
//!
//! Output layout is **CHW per bin**: `[T][S][2][H'][W']` `u8` counts, row-major. Each bin is
//! cut into `S` equal slices (of its time, or of its events); channel `2s` counts the OFF and
//! channel `2s + 1` the ON events of slice `s`, so with `S > 1` one bin shows the order of
//! the motion inside it (which way an arm turns), not only where it was. `S = 1` gives the
//! plain `[T][2][H'][W']` (channel 0 OFF, 1 ON). `H' = ceil(height / f)`,
//! `W' = ceil(width / f)` for the integer downsampling factor `f` (pixel `(x, y)` lands in
//! cell `(x / f, y / f)`). Counts saturate at the clip value `D`. The caller owns the buffer
//! (`&mut [u8]` of at least [`Framer::frame_len`] bytes).
//!
//! Bins are either fixed time windows of `dt` µs (the first window starts at the first
//! event's timestamp) or fixed event counts. When an event does not fit the current `T` bins,
//! [`Framer::push`] returns [`Push::Full`] *without* consuming it: read the frames, call
//! [`Framer::next_window`] (which clears the buffer) and push the event again.

use core::ops::ControlFlow;

use sdt_core::meta::CountNormalization;

use crate::{Event, Geometry};

/// How events are assigned to the `T` bins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Window {
    /// Each bin covers `us` microseconds; windows are contiguous in time.
    Time {
        /// Bin length in µs.
        us: u64,
    },
    /// Each bin takes `events` in-range events.
    Count {
        /// Events per bin.
        events: u32,
    },
}

/// Framer parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FramerConfig {
    /// Sensor resolution (before downsampling); other events are dropped.
    pub geometry: Geometry,
    /// Number of bins `T` per window.
    pub bins: u16,
    /// Bin assignment.
    pub window: Window,
    /// Integer spatial downsampling factor `f` (1 = none).
    pub downsample: u16,
    /// Largest count stored per cell (`D`).
    pub clip: u8,
    /// Slices `S` per bin, each with its own OFF/ON channel pair (1 = plain counts).
    pub slices: u8,
}

impl FramerConfig {
    /// Channels of one bin: `2 × S`.
    pub fn channels(&self) -> usize {
        2 * usize::from(self.slices)
    }

    /// `(T, 2S, H', W')` of one window, once the parameters are checked.
    pub fn shape(&self) -> Result<(usize, usize, usize, usize), FramerError> {
        if self.bins == 0 {
            return Err(FramerError::NoBins);
        }
        if matches!(
            self.window,
            Window::Time { us: 0 } | Window::Count { events: 0 }
        ) {
            return Err(FramerError::EmptyWindow);
        }
        if self.downsample == 0 {
            return Err(FramerError::NoDownsample);
        }
        if self.clip == 0 {
            return Err(FramerError::NoClip);
        }
        if self.slices == 0 {
            return Err(FramerError::NoSlices);
        }
        if self.geometry.width == 0 || self.geometry.height == 0 {
            return Err(FramerError::EmptyGeometry);
        }
        let f = usize::from(self.downsample);
        let width = usize::from(self.geometry.width).div_ceil(f);
        let height = usize::from(self.geometry.height).div_ceil(f);
        let shape = (usize::from(self.bins), self.channels(), height, width);
        shape
            .0
            .checked_mul(shape.1)
            .and_then(|n| n.checked_mul(width))
            .and_then(|n| n.checked_mul(height))
            .ok_or(FramerError::TooLarge)?;
        Ok(shape)
    }

    /// Bytes of one window, `T × 2S × H' × W'`, once the parameters are checked.
    pub fn frame_len(&self) -> Result<usize, FramerError> {
        let (t, c, h, w) = self.shape()?;
        Ok(t * c * h * w)
    }
}

/// Invalid framer parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FramerError {
    /// `bins` is 0.
    NoBins,
    /// The window length (µs or events) is 0.
    EmptyWindow,
    /// `downsample` is 0.
    NoDownsample,
    /// `clip` is 0.
    NoClip,
    /// `slices` is 0.
    NoSlices,
    /// The sensor has no pixels.
    EmptyGeometry,
    /// `T × 2S × H' × W'` does not fit in `usize`.
    TooLarge,
    /// The buffer handed to [`for_each_bin`] is shorter than one bin.
    FrameTooShort,
}

/// Says which parameter is wrong in words a user of any front end (CLI flag, Python keyword,
/// C field) recognizes.
impl core::fmt::Display for FramerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            FramerError::NoBins => "bins must be at least 1",
            FramerError::EmptyWindow => "the bin length (µs or events) must be at least 1",
            FramerError::NoDownsample => "downsample must be at least 1",
            FramerError::NoClip => "clip must be at least 1",
            FramerError::NoSlices => "slices must be at least 1",
            FramerError::EmptyGeometry => "the sensor has no pixels",
            FramerError::TooLarge => "the frames do not fit in memory",
            FramerError::FrameTooShort => "the frame buffer is shorter than one bin",
        })
    }
}

/// What [`Framer::push`] did with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Push {
    /// Counted into the current window.
    Binned,
    /// Not counted: outside the sensor, polarity not 0/1, timestamp before the window, or
    /// an output buffer shorter than [`Framer::frame_len`].
    Dropped,
    /// Not consumed: the window is complete. Read it, call [`Framer::next_window`], push the
    /// event again.
    Full,
}

/// What a framer has seen so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FramerCounters {
    /// Events counted into a cell (including saturated ones).
    pub binned: u64,
    /// Events whose cell was already at the clip value.
    pub clipped: u64,
    /// Events dropped for their coordinates or polarity.
    pub out_of_range: u64,
    /// Events dropped because they are older than the current window.
    pub late: u64,
}

/// Streaming event framer.
#[derive(Clone, Debug)]
pub struct Framer {
    cfg: FramerConfig,
    width: usize,
    height: usize,
    len: usize,
    /// Time mode: start of the current window, once known.
    start: Option<u64>,
    /// Count mode: events binned in the current window.
    filled: u64,
    counters: FramerCounters,
}

impl Framer {
    /// Checks `cfg` and makes a framer.
    pub fn new(cfg: FramerConfig) -> Result<Self, FramerError> {
        let (t, c, height, width) = cfg.shape()?;
        // `shape` checked that this product fits.
        let len = t * c * height * width;
        Ok(Self {
            cfg,
            width,
            height,
            len,
            start: None,
            filled: 0,
            counters: FramerCounters::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &FramerConfig {
        &self.cfg
    }

    /// Bytes of one window: `T × 2S × H' × W'`.
    pub fn frame_len(&self) -> usize {
        self.len
    }

    /// `(T, 2S, H', W')`.
    pub fn shape(&self) -> (usize, usize, usize, usize) {
        (
            usize::from(self.cfg.bins),
            self.cfg.channels(),
            self.height,
            self.width,
        )
    }

    /// Start of the current time window (µs), once the first event fixed it.
    pub fn window_start(&self) -> Option<u64> {
        self.start
    }

    /// Counters so far.
    pub fn counters(&self) -> FramerCounters {
        self.counters
    }

    /// Bin and slice of an event at `t` in the current window, `None` if the window is full
    /// for it, or `Err` if it is too old.
    #[inline(always)]
    fn bin(&mut self, t: u64) -> Result<Option<(u64, u64)>, ()> {
        let (bins, slices) = (u64::from(self.cfg.bins), u64::from(self.cfg.slices));
        match self.cfg.window {
            Window::Time { us } => {
                let start = *self.start.get_or_insert(t);
                if t < start {
                    return Err(());
                }
                let (bin, into) = ((t - start) / us, (t - start) % us);
                // `into < us`, so the slice is below `S`. One slice needs no division (a
                // division per event is a library call on Cortex-M); `into × S` overflows u64
                // only for bins of thousands of years, where u128 keeps it exact.
                let slice = match (slices, into.checked_mul(slices)) {
                    (1, _) => 0,
                    (_, Some(scaled)) => scaled / us,
                    (_, None) => (u128::from(into) * u128::from(slices) / u128::from(us)) as u64,
                };
                Ok((bin < bins).then_some((bin, slice)))
            }
            Window::Count { events } => {
                let events = u64::from(events);
                let (bin, into) = (self.filled / events, self.filled % events);
                let slice = into * slices / events;
                Ok((bin < bins).then_some((bin, slice)))
            }
        }
    }

    /// Counts `e` into `out` (see the module docs for the layout).
    #[inline]
    pub fn push(&mut self, e: Event, out: &mut [u8]) -> Push {
        if !self.cfg.geometry.contains(e.x, e.y) || e.p > 1 || out.len() < self.len {
            self.counters.out_of_range += 1;
            return Push::Dropped;
        }
        let (bin, slice) = match self.bin(e.t) {
            Ok(Some((bin, slice))) => (bin as usize, slice as usize),
            Ok(None) => return Push::Full,
            Err(()) => {
                self.counters.late += 1;
                return Push::Dropped;
            }
        };
        let f = usize::from(self.cfg.downsample);
        let (x, y) = (usize::from(e.x) / f, usize::from(e.y) / f);
        let channel = (bin * usize::from(self.cfg.slices) + slice) * 2 + usize::from(e.p);
        let idx = (channel * self.height + y) * self.width + x;
        if let Some(c) = out.get_mut(idx) {
            if *c < self.cfg.clip {
                *c += 1;
            } else {
                self.counters.clipped += 1;
            }
        }
        self.counters.binned += 1;
        self.filled += 1;
        Push::Binned
    }

    /// Pushes events from the front of `events` until one does not fit; returns how many
    /// were consumed (binned or dropped).
    pub fn push_slice(&mut self, events: &[Event], out: &mut [u8]) -> usize {
        for (i, &e) in events.iter().enumerate() {
            if self.push(e, out) == Push::Full {
                return i;
            }
        }
        events.len()
    }

    /// Whether the current window is complete: in count mode after `T × events` events; in
    /// time mode this is only known when a later event arrives ([`Push::Full`]).
    pub fn is_full(&self) -> bool {
        match self.cfg.window {
            Window::Count { events } => self.filled >= u64::from(events) * u64::from(self.cfg.bins),
            Window::Time { .. } => false,
        }
    }

    /// Clears `out` and moves to the next window: the next `T × dt` µs in time mode (so a
    /// gap in the stream gives empty windows), the next `T × events` events in count mode.
    pub fn next_window(&mut self, out: &mut [u8]) {
        out.fill(0);
        if let (Window::Time { us }, Some(start)) = (self.cfg.window, self.start) {
            let span = us.saturating_mul(u64::from(self.cfg.bins));
            self.start = Some(start.saturating_add(span));
        }
        self.filled = 0;
    }

    /// Clears `out` and restarts: in time mode the next event starts a new window.
    pub fn restart(&mut self, out: &mut [u8]) {
        out.fill(0);
        self.start = None;
        self.filled = 0;
    }
}

/// Whether [`for_each_bin`] hands over the bin still open when the events run out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrailingBin {
    /// Leave it out: later events of a live stream would complete it (the trainer's choice,
    /// so that it learns from whole bins only).
    Drop,
    /// Hand it over too when it received events, lifted as a stream's `finish` lifts it (a
    /// recording that ends there).
    Keep,
}

/// Frames time-ordered `events` one bin at a time, as the streaming classifier frames a live
/// stream: each bin of `cfg` (its `bins` is taken as 1) is counted into `frame` (at least one
/// bin's [`FramerConfig::frame_len`], else [`FramerError::FrameTooShort`]), lifted by
/// `normalize` when given, and handed to `on_bin` with its event count. An event older than
/// its bin's start is dropped as late. `trailing` says what becomes of the bin still open at
/// the end; `on_bin` may stop early with [`ControlFlow::Break`].
pub fn for_each_bin(
    events: impl IntoIterator<Item = Event>,
    cfg: FramerConfig,
    normalize: Option<CountNormalization>,
    trailing: TrailingBin,
    frame: &mut [u8],
    mut on_bin: impl FnMut(&[u8], u64) -> ControlFlow<()>,
) -> Result<(), FramerError> {
    let one_bin = FramerConfig { bins: 1, ..cfg };
    let frame = frame
        .get_mut(..one_bin.frame_len()?)
        .ok_or(FramerError::FrameTooShort)?;
    let mut framer = Framer::new(one_bin)?;
    frame.fill(0);
    let mut binned = 0u64;
    let mut close_bin = |frame: &mut [u8], binned: &mut u64| {
        if let Some(n) = normalize {
            n.apply(frame, *binned, cfg.clip);
        }
        let flow = on_bin(frame, *binned);
        *binned = 0;
        flow
    };
    for e in events {
        loop {
            match framer.push(e, frame) {
                Push::Binned => binned += 1,
                Push::Dropped => {}
                Push::Full => {
                    if close_bin(frame, &mut binned).is_break() {
                        return Ok(());
                    }
                    framer.next_window(frame);
                    continue;
                }
            }
            break;
        }
        // A bin of counted events is complete with its last event; one of time only when a
        // later event falls past it.
        if framer.is_full() {
            if close_bin(frame, &mut binned).is_break() {
                return Ok(());
            }
            framer.next_window(frame);
        }
    }
    if trailing == TrailingBin::Keep && binned > 0 {
        // The caller learns nothing from a `Break` here: this was the last bin.
        let _ = close_bin(frame, &mut binned);
    }
    Ok(())
}
