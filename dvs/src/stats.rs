//! Statistics of an event stream that say whether it looks like a real sensor's: rate and
//! burstiness, polarity balance, how much of the array is active, how events cluster in space
//! (neighbour support, spatial autocorrelation) and in time per pixel (inter-event
//! intervals), and how many are isolated (mostly noise). Used to compare simulated clips with
//! real recordings.

use sdt_events::{Event, Geometry};

use crate::denoise::NeighbourSupport;

/// Window of the per-window statistics (µs): a typical model bin.
pub const WINDOW_US: u64 = 50_000;
/// Bin of the rate burstiness (µs).
pub const RATE_BIN_US: u64 = 10_000;
/// An event is supported when one of its 8 neighbours fired within this time before it (µs),
/// the background-activity filter's usual setting.
pub const SUPPORT_US: u64 = 10_000;

/// Statistics of one stream.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct EventStats {
    /// Events.
    pub events: u64,
    /// First to last event (s).
    pub duration_s: f64,
    /// Events per second.
    pub rate_per_s: f64,
    /// Events per second per sensor pixel (Hz): comparable across resolutions.
    pub rate_per_pixel_hz: f64,
    /// Coefficient of variation of the event count in 10 ms bins (0: steady; Poisson noise at
    /// the same rate would give `1/√(mean count)`).
    pub rate_cv: f64,
    /// Largest 10 ms bin count over the mean one.
    pub peak_to_mean: f64,
    /// ON events over all events.
    pub on_fraction: f64,
    /// Mean fraction of the sensor's pixels with an event in a 50 ms window.
    pub active_pixels: f64,
    /// Mean events per active pixel in a 50 ms window.
    pub events_per_active_pixel: f64,
    /// Pearson correlation of the 50 ms count image with itself shifted by one pixel
    /// (mean of the horizontal and vertical shifts, over windows): near 0 for scattered
    /// noise, near 1 for smooth blobs.
    pub spatial_autocorrelation: f64,
    /// Fraction of events without an event among their 8 neighbours in the 10 ms before.
    pub isolated_fraction: f64,
    /// Per-pixel inter-event intervals (µs): 10th, 50th and 90th percentiles.
    pub interval_p10_us: f64,
    /// Median interval.
    pub interval_p50_us: f64,
    /// 90th percentile.
    pub interval_p90_us: f64,
}

/// The statistics of `events` (time-ordered) on a `geometry` sensor; events outside it are
/// ignored.
pub fn compute(events: &[Event], geometry: Geometry) -> EventStats {
    let (w, h) = (usize::from(geometry.width), usize::from(geometry.height));
    let pixels = (w * h).max(1);
    let inside: Vec<Event> = events
        .iter()
        .copied()
        .filter(|e| usize::from(e.x) < w && usize::from(e.y) < h)
        .collect();
    let n = inside.len() as u64;
    let (t0, t1) = match (inside.first(), inside.last()) {
        (Some(a), Some(b)) => (a.t, b.t.max(a.t)),
        _ => (0, 0),
    };
    let duration_s = (t1 - t0) as f64 * 1e-6;
    let rate_per_s = if duration_s > 0.0 {
        n as f64 / duration_s
    } else {
        0.0
    };
    let on = inside.iter().filter(|e| e.p != 0).count() as f64;

    // Rate in 10 ms bins.
    let bins = ((t1 - t0) / RATE_BIN_US + 1) as usize;
    let mut counts = vec![0f64; bins];
    for e in &inside {
        if let Some(c) = counts.get_mut(((e.t - t0) / RATE_BIN_US) as usize) {
            *c += 1.0;
        }
    }
    // A trailing partial bin would read as a dip.
    if counts.len() > 1 {
        counts.pop();
    }
    let (mean, sd) = mean_sd(&counts);
    let peak = counts.iter().copied().fold(0.0, f64::max);

    // Per 50 ms window: active pixels, events per active pixel, spatial autocorrelation.
    let mut image = vec![0f64; pixels];
    let (mut active_sum, mut per_active_sum, mut corr_sum, mut windows) = (0.0, 0.0, 0.0, 0u64);
    let mut corr_windows = 0u64;
    let mut start = 0;
    while start < inside.len() {
        let w_start = inside[start].t;
        let end = start + inside[start..].partition_point(|e| e.t < w_start + WINDOW_US);
        image.iter_mut().for_each(|v| *v = 0.0);
        for e in &inside[start..end] {
            image[usize::from(e.y) * w + usize::from(e.x)] += 1.0;
        }
        let active = image.iter().filter(|&&v| v > 0.0).count() as f64;
        active_sum += active / pixels as f64;
        per_active_sum += (end - start) as f64 / active.max(1.0);
        if let Some(r) = lag_one_correlation(&image, w, h) {
            corr_sum += r;
            corr_windows += 1;
        }
        windows += 1;
        start = end;
    }

    // Neighbour support and per-pixel intervals.
    let mut support = NeighbourSupport::new(geometry);
    let mut intervals = Vec::with_capacity(inside.len());
    let mut isolated = 0u64;
    for e in &inside {
        isolated += u64::from(!support.supported(e, SUPPORT_US));
        if let Some(before) = support.record(e) {
            intervals.push(e.t.saturating_sub(before));
        }
    }
    intervals.sort_unstable();
    let q = |f: f64| -> f64 {
        if intervals.is_empty() {
            return 0.0;
        }
        let k = ((intervals.len() - 1) as f64 * f).round() as usize;
        intervals[k] as f64
    };
    let wins = windows.max(1) as f64;
    EventStats {
        events: n,
        duration_s,
        rate_per_s,
        rate_per_pixel_hz: rate_per_s / pixels as f64,
        rate_cv: if mean > 0.0 { sd / mean } else { 0.0 },
        peak_to_mean: if mean > 0.0 { peak / mean } else { 0.0 },
        on_fraction: if n > 0 { on / n as f64 } else { 0.0 },
        active_pixels: active_sum / wins,
        events_per_active_pixel: per_active_sum / wins,
        spatial_autocorrelation: if corr_windows > 0 {
            corr_sum / corr_windows as f64
        } else {
            0.0
        },
        isolated_fraction: if n > 0 {
            isolated as f64 / n as f64
        } else {
            0.0
        },
        interval_p10_us: q(0.1),
        interval_p50_us: q(0.5),
        interval_p90_us: q(0.9),
    }
}

/// A Markdown table of named statistics, one row per stream.
pub fn markdown_table(rows: &[(String, EventStats)]) -> String {
    let mut out = String::from(
        "| stream | events | s | ev/s | Hz/pixel | rate CV (10 ms) | peak/mean | ON | active px (50 ms) | ev/active px | autocorr | isolated | interval p10/p50/p90 (ms) |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (name, s) in rows {
        out.push_str(&format!(
            "| {name} | {} | {:.2} | {:.0} | {:.3} | {:.2} | {:.1} | {:.2} | {:.3} | {:.2} | {:.2} | {:.2} | {:.1} / {:.1} / {:.0} |\n",
            s.events,
            s.duration_s,
            s.rate_per_s,
            s.rate_per_pixel_hz,
            s.rate_cv,
            s.peak_to_mean,
            s.on_fraction,
            s.active_pixels,
            s.events_per_active_pixel,
            s.spatial_autocorrelation,
            s.isolated_fraction,
            s.interval_p10_us * 1e-3,
            s.interval_p50_us * 1e-3,
            s.interval_p90_us * 1e-3,
        ));
    }
    out
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64;
    (m, var.sqrt())
}

/// Mean of the horizontal and vertical lag-one Pearson correlations of `image`; `None` for a
/// constant image.
fn lag_one_correlation(image: &[f64], w: usize, h: usize) -> Option<f64> {
    let pearson = |pairs: &mut dyn Iterator<Item = (f64, f64)>| -> Option<f64> {
        let (mut n, mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        for (a, b) in pairs {
            n += 1.0;
            sa += a;
            sb += b;
            saa += a * a;
            sbb += b * b;
            sab += a * b;
        }
        let va = saa - sa * sa / n;
        let vb = sbb - sb * sb / n;
        (n > 1.0 && va > 0.0 && vb > 0.0).then(|| (sab - sa * sb / n) / (va * vb).sqrt())
    };
    let at = |x: usize, y: usize| image[y * w + x];
    let horizontal = pearson(
        &mut (0..h)
            .flat_map(|y| (1..w).map(move |x| (y, x)))
            .map(|(y, x)| (at(x - 1, y), at(x, y))),
    );
    let vertical = pearson(
        &mut (1..h)
            .flat_map(|y| (0..w).map(move |x| (y, x)))
            .map(|(y, x)| (at(x, y - 1), at(x, y))),
    );
    match (horizontal, vertical) {
        (Some(a), Some(b)) => Some(0.5 * (a + b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::rng::Rng;

    fn noise(n: usize, g: Geometry, seed: u64) -> Vec<Event> {
        let mut r = Rng::new(seed);
        let mut ev: Vec<Event> = (0..n)
            .map(|_| Event {
                t: r.below(1_000_000),
                x: r.below(u64::from(g.width)) as u16,
                y: r.below(u64::from(g.height)) as u16,
                p: u8::from(r.chance(0.5)),
            })
            .collect();
        ev.sort_by_key(|e| e.t);
        ev
    }

    #[test]
    fn sparse_uniform_noise_is_isolated_uncorrelated_and_steady() {
        let g = Geometry::new(128, 128);
        let s = compute(&noise(5_000, g, 1), g);
        assert!((s.rate_per_s - 5_000.0).abs() < 50.0, "{s:?}");
        assert!((s.on_fraction - 0.5).abs() < 0.03, "{s:?}");
        // 5 k/s over 16 k pixels: 8 neighbours see ~0.025 events in 10 ms.
        assert!(s.isolated_fraction > 0.95, "{s:?}");
        assert!(s.spatial_autocorrelation.abs() < 0.05, "{s:?}");
        // Poisson counts of mean 50 per 10 ms: CV ≈ 0.14.
        assert!((0.1..0.2).contains(&s.rate_cv), "{s:?}");
    }

    #[test]
    fn a_moving_bar_is_supported_correlated_and_bursty_when_it_stops() {
        let g = Geometry::new(64, 64);
        let mut ev = Vec::new();
        // A vertical bar 3 pixels wide sweeping right at 1 pixel/ms for 50 ms, then still
        // for 50 ms: every event has neighbours, the image is blobby, the rate bursts.
        for k in 0..50u64 {
            for y in 10..50u16 {
                for dx in 0..3u16 {
                    ev.push(Event {
                        t: k * 1_000 + u64::from(y),
                        x: (k as u16 + dx) % 64,
                        y,
                        p: 1,
                    });
                }
            }
        }
        ev.push(Event {
            t: 100_000,
            x: 0,
            y: 0,
            p: 0,
        });
        let s = compute(&ev, g);
        assert!(s.isolated_fraction < 0.01, "{s:?}");
        assert!(s.spatial_autocorrelation > 0.5, "{s:?}");
        // Five busy 10 ms bins of nine (the partial last one is left out).
        assert!((s.rate_cv - 0.8f64.sqrt()).abs() < 0.01, "{s:?}");
        assert!((s.peak_to_mean - 1.8).abs() < 0.01, "{s:?}");
        // Each pixel of the bar fires on three consecutive ms.
        assert!((900.0..=1_100.0).contains(&s.interval_p50_us), "{s:?}");
        assert!(s.on_fraction > 0.99);
    }
}
