//! Training curves as a PNG: loss (train, test) on the left, accuracy (train, test) on the right.
//!
//! The font is bundled (DejaVu Sans, `assets/`) so plots render the same on machines without
//! any system fonts.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::checkpoint::write_atomic;
use crate::error::{Error, Result};
use crate::train::EpochMetrics;

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const SIZE: (u32, u32) = (1200, 450);

fn ensure_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Registration only fails on a malformed font, which the bundled one is not; plotting
        // then reports a missing font family as an error.
        let _ = register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

fn plot_err(e: impl std::fmt::Display) -> Error {
    Error::Data(format!("plot: {e}"))
}

type Series<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

fn panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    title: &str,
    series: &[Series<'_>],
    y_range: std::ops::Range<f64>,
    last_epoch: f64,
) -> Result<()> {
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(52)
        .build_cartesian_2d(0.0..last_epoch.max(1.0), y_range)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(plot_err)?;
    for (name, color, points) in series {
        let color = *color;
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(plot_err)?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(plot_err)?;
    Ok(())
}

/// Renders loss and accuracy per epoch into a PNG at `path` (written atomically).
pub fn training_curves(history: &[EpochMetrics], path: &Path) -> Result<()> {
    ensure_font();
    let mut pixels = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (left, right) = root.split_horizontally(SIZE.0 / 2);
        let pick = |f: fn(&EpochMetrics) -> f64| -> Vec<(f64, f64)> {
            history.iter().map(|m| (m.epoch as f64, f(m))).collect()
        };
        let last = history.last().map_or(1.0, |m| m.epoch as f64);
        let max_loss = history
            .iter()
            .flat_map(|m| [m.train_loss, m.test_loss])
            .filter(|v| v.is_finite())
            .fold(0.1f64, f64::max);
        panel(
            &left,
            "loss",
            &[
                ("train", BLUE, pick(|m| m.train_loss)),
                ("test", RED, pick(|m| m.test_loss)),
            ],
            0.0..max_loss * 1.05,
            last,
        )?;
        panel(
            &right,
            "accuracy",
            &[
                ("train", BLUE, pick(|m| m.train_acc)),
                ("test", RED, pick(|m| m.test_acc)),
            ],
            0.0..1.0,
            last,
        )?;
        root.present().map_err(plot_err)?;
    }
    let image = image::RgbImage::from_raw(SIZE.0, SIZE.1, pixels)
        .ok_or_else(|| plot_err("pixel buffer size"))?;
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(plot_err)?;
    write_atomic(path, &png)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(epoch: u64, loss: f64, acc: f64) -> EpochMetrics {
        EpochMetrics {
            epoch,
            step: epoch * 10,
            lr: 1e-3,
            train_loss: loss,
            train_acc: acc,
            test_loss: loss * 1.1,
            test_acc: acc * 0.95,
            weight_bits: None,
            seconds: 1.0,
        }
    }

    #[test]
    fn writes_a_png_with_both_curves() {
        let dir = std::env::temp_dir().join(format!("sdt-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("curves.png");
        let history: Vec<_> = (1..=20)
            .map(|e| metrics(e, 2.3 / e as f64, 1.0 - 0.9 / e as f64))
            .collect();
        training_curves(&history, &path).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), SIZE);
        // Both colours of the curves were drawn.
        let has = |c: [u8; 3]| img.pixels().any(|p| p.0 == c);
        assert!(has([0, 0, 255]) && has([255, 0, 0]));
        std::fs::remove_dir_all(&dir).ok();
    }
}
