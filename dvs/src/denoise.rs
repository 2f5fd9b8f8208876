//! The background-activity filter, the usual first defence of a DVS pipeline against shot noise
//! and hot pixels: an event is kept only when one of its 8 neighbours fired shortly before it.
//! Moving edges light up whole neighbourhoods, noise and hot pixels fire alone. (The same rule
//! as tonic's `Denoise` and jAER's `BackgroundActivityFilter`, except that a pixel's own earlier
//! events do not count, so a hot pixel cannot support itself.)

use sdt_events::{Event, Geometry};

/// Last event time of every pixel of a sensor, and whether a new event has a recent neighbour.
pub struct NeighbourSupport {
    width: usize,
    height: usize,
    last: Vec<u64>,
}

/// A pixel that has not fired yet.
const NEVER: u64 = u64::MAX;

impl NeighbourSupport {
    /// No pixel has fired yet.
    pub fn new(geometry: Geometry) -> Self {
        let (width, height) = (usize::from(geometry.width), usize::from(geometry.height));
        Self {
            width,
            height,
            last: vec![NEVER; width * height],
        }
    }

    /// Whether one of the 8 neighbours of `e` fired within `window_us` before it (false for
    /// an event outside the sensor).
    pub fn supported(&self, e: &Event, window_us: u64) -> bool {
        let (x, y) = (usize::from(e.x), usize::from(e.y));
        if x >= self.width || y >= self.height {
            return false;
        }
        (y.saturating_sub(1)..=(y + 1).min(self.height - 1)).any(|ny| {
            (x.saturating_sub(1)..=(x + 1).min(self.width - 1)).any(|nx| {
                let t = self.last[ny * self.width + nx];
                (nx, ny) != (x, y) && t != NEVER && e.t.saturating_sub(t) <= window_us
            })
        })
    }

    /// Records that `e` fired and returns when its pixel fired before (ignored and `None`
    /// outside the sensor).
    pub fn record(&mut self, e: &Event) -> Option<u64> {
        let (x, y) = (usize::from(e.x), usize::from(e.y));
        if x >= self.width || y >= self.height {
            return None;
        }
        let own = &mut self.last[y * self.width + x];
        let before = (*own != NEVER).then_some(*own);
        *own = e.t;
        before
    }
}

/// The events of a time-ordered stream that one of their 8 neighbours supports within
/// `window_us` (events outside `geometry` are dropped). Every event, kept or not, counts as
/// support for the ones after it.
pub fn background_activity(events: &[Event], geometry: Geometry, window_us: u64) -> Vec<Event> {
    let mut support = NeighbourSupport::new(geometry);
    let mut kept = Vec::with_capacity(events.len());
    for e in events {
        if support.supported(e, window_us) {
            kept.push(*e);
        }
        support.record(e);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: u64, x: u16, y: u16) -> Event {
        Event { t, x, y, p: 1 }
    }

    #[test]
    fn keeps_an_event_whose_neighbour_fired_within_the_window_only() {
        let g = Geometry::new(8, 8);
        let events = [
            ev(0, 3, 3),     // first: nothing before it
            ev(500, 4, 4),   // diagonal neighbour 500 µs earlier: kept
            ev(5_000, 6, 6), // two pixels away: dropped
            ev(9_000, 5, 5), // neighbour (6, 6) 4 ms earlier: kept at 5 ms, not at 1 ms
        ];
        assert_eq!(
            background_activity(&events, g, 5_000),
            vec![events[1], events[3]]
        );
        assert_eq!(background_activity(&events, g, 1_000), vec![events[1]]);
    }

    #[test]
    fn a_hot_pixel_does_not_support_itself_and_edges_of_the_sensor_are_safe() {
        let g = Geometry::new(4, 4);
        let hot: Vec<Event> = (0..100).map(|k| ev(k * 10, 0, 0)).collect();
        assert!(background_activity(&hot, g, 1_000_000).is_empty());
        let corner = [ev(0, 3, 3), ev(1, 2, 3), ev(2, 9, 9), ev(3, 3, 2)];
        assert_eq!(
            background_activity(&corner, g, 10),
            vec![corner[1], corner[3]]
        );
    }
}
