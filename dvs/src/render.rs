//! Rendering events as images: one PNG per time window (ON events green, OFF events red,
//! both yellow, brighter for more events), a grid PNG of all windows, and an animated GIF.
//!
//! Windows are binned by the core's [`Framer`] (one bin per image), so an image shows exactly
//! the counts a model would get as input (with the same downsampling).

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, Frame, ImageBuffer, Rgb, RgbImage, RgbaImage};
use sdt_events::{Event, Framer, FramerConfig, FramerError, Geometry, Push, Window};

/// How to cut and draw the recording.
#[derive(Clone, Copy, Debug)]
pub struct RenderOptions {
    /// Window length in µs; `None`: the recording's span divided into [`Self::frames`].
    pub frame_us: Option<u64>,
    /// Number of windows when [`Self::frame_us`] is `None`.
    pub frames: u32,
    /// At most this many images (the rest of the recording is not drawn).
    pub max_frames: usize,
    /// Spatial downsampling factor (as the framer's).
    pub downsample: u16,
    /// Integer upscaling of the images; `None`: enough to make the long side ≥ 256 pixels.
    pub scale: Option<u32>,
    /// GIF frame delay in ms.
    pub gif_delay_ms: u32,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            frame_us: None,
            frames: 12,
            max_frames: 200,
            downsample: 1,
            scale: None,
            gif_delay_ms: 100,
        }
    }
}

/// Why rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Invalid window, downsampling or resolution.
    #[error("invalid framing: {0}")]
    Framer(FramerError),
    /// The image is too large.
    #[error("image of {0}×{1} pixels is too large")]
    TooLarge(u64, u64),
    /// Writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Encoding failed.
    #[error("{path}: {source}")]
    Image {
        /// The file.
        path: PathBuf,
        /// Why.
        source: image::ImageError,
    },
}

/// Drawn windows.
#[derive(Clone, Debug)]
pub struct Rendered {
    /// One image per window.
    pub images: Vec<RgbImage>,
    /// Events counted into each window.
    pub events: Vec<u64>,
    /// Window length (µs).
    pub frame_us: u64,
    /// Start of the first window (µs).
    pub start_us: u64,
}

/// Color of a cell with `off` and `on` counts.
pub fn color(off: u8, on: u8) -> Rgb<u8> {
    let level = |c: u8| {
        if c == 0 {
            0
        } else {
            (96 + 40 * u32::from(c)).min(255) as u8
        }
    };
    Rgb([level(off), level(on), 0])
}

/// Bins `events` into windows and draws them.
pub fn render(
    events: &[Event],
    geometry: Geometry,
    opts: &RenderOptions,
) -> Result<Rendered, RenderError> {
    let start_us = events.first().map_or(0, |e| e.t);
    let end_us = events.iter().map(|e| e.t).max().unwrap_or(start_us);
    let frame_us = opts
        .frame_us
        .unwrap_or_else(|| ((end_us - start_us) / u64::from(opts.frames.max(1))) + 1)
        .max(1);
    let mut framer = Framer::new(FramerConfig {
        geometry,
        bins: 1,
        window: Window::Time { us: frame_us },
        downsample: opts.downsample,
        clip: u8::MAX,
        slices: 1,
    })
    .map_err(RenderError::Framer)?;
    let (_, _, h, w) = framer.shape();
    let scale = opts
        .scale
        .unwrap_or_else(|| (256 / w.max(h).max(1)).max(1) as u32)
        .max(1);
    let (iw, ih) = (w as u64 * u64::from(scale), h as u64 * u64::from(scale));
    if iw * ih > 1 << 26 {
        return Err(RenderError::TooLarge(iw, ih));
    }
    let mut counts = vec![0u8; framer.frame_len()];
    let mut rendered = Rendered {
        images: Vec::new(),
        events: Vec::new(),
        frame_us,
        start_us,
    };
    let mut binned = 0u64;
    let emit = |counts: &[u8], binned: u64, out: &mut Rendered| {
        out.images.push(draw(counts, w, h, scale));
        out.events.push(binned);
    };
    for &e in events {
        if rendered.images.len() >= opts.max_frames {
            break;
        }
        loop {
            match framer.push(e, &mut counts) {
                Push::Binned => binned += 1,
                Push::Dropped => {}
                Push::Full => {
                    emit(&counts, binned, &mut rendered);
                    binned = 0;
                    framer.next_window(&mut counts);
                    if rendered.images.len() < opts.max_frames {
                        continue;
                    }
                }
            }
            break;
        }
    }
    if rendered.images.len() < opts.max_frames && (binned > 0 || rendered.images.is_empty()) {
        emit(&counts, binned, &mut rendered);
    }
    Ok(rendered)
}

/// Draws one `[2][h][w]` count frame, each cell a `scale × scale` square.
fn draw(counts: &[u8], w: usize, h: usize, scale: u32) -> RgbImage {
    let plane = w * h;
    ImageBuffer::from_fn(w as u32 * scale, h as u32 * scale, |px, py| {
        let i = (py / scale) as usize * w + (px / scale) as usize;
        let off = counts.get(i).copied().unwrap_or(0);
        let on = counts.get(plane + i).copied().unwrap_or(0);
        color(off, on)
    })
}

/// Tiles images in a grid (`columns` wide) with 2-pixel gray gutters.
pub fn grid(images: &[RgbImage], columns: u32) -> RgbImage {
    let Some(first) = images.first() else {
        return RgbImage::new(1, 1);
    };
    let (w, h) = first.dimensions();
    let columns = columns.clamp(1, images.len() as u32);
    let rows = (images.len() as u32).div_ceil(columns);
    let gap = 2;
    let mut out = ImageBuffer::from_pixel(
        columns * (w + gap) + gap,
        rows * (h + gap) + gap,
        Rgb([80, 80, 80]),
    );
    for (k, img) in images.iter().enumerate() {
        let (c, r) = (k as u32 % columns, k as u32 / columns);
        image::imageops::replace(
            &mut out,
            img,
            i64::from(gap + c * (w + gap)),
            i64::from(gap + r * (h + gap)),
        );
    }
    out
}

/// Files written by [`write()`].
#[derive(Clone, Debug)]
pub struct Written {
    /// `frame_NNNN.png`, one per window.
    pub frames: Vec<PathBuf>,
    /// `grid.png`.
    pub grid: PathBuf,
    /// `frames.gif`.
    pub gif: PathBuf,
}

/// Writes the images, the grid and the GIF into `dir` (created if missing).
pub fn write(rendered: &Rendered, dir: &Path, gif_delay_ms: u32) -> Result<Written, RenderError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| RenderError::Io { path, source }
    };
    let img = |path: &Path| {
        let path = path.to_owned();
        move |source| RenderError::Image { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut frames = Vec::new();
    for (k, image) in rendered.images.iter().enumerate() {
        let path = dir.join(format!("frame_{k:04}.png"));
        image.save(&path).map_err(img(&path))?;
        frames.push(path);
    }
    let columns = (rendered.images.len() as f64).sqrt().ceil() as u32;
    let grid_path = dir.join("grid.png");
    grid(&rendered.images, columns)
        .save(&grid_path)
        .map_err(img(&grid_path))?;
    let gif_path = dir.join("frames.gif");
    let file = File::create(&gif_path).map_err(io(&gif_path))?;
    let mut enc = GifEncoder::new_with_speed(BufWriter::new(file), 10);
    enc.set_repeat(Repeat::Infinite).map_err(img(&gif_path))?;
    let delay = Delay::from_numer_denom_ms(gif_delay_ms, 1);
    let gif_frames = rendered.images.iter().map(|i| {
        let rgba: RgbaImage = image::DynamicImage::ImageRgb8(i.clone()).into_rgba8();
        Frame::from_parts(rgba, 0, 0, delay)
    });
    enc.encode_frames(gif_frames).map_err(img(&gif_path))?;
    Ok(Written {
        frames,
        grid: grid_path,
        gif: gif_path,
    })
}
