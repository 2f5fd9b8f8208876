//! The bookkeeping every decoder shares: the incomplete unit at the end of a chunk (kept for
//! the next chunk, so every split of a stream decodes alike) and the [`Counters`].

use crate::{Counters, Event, Geometry};

/// Up to `N` bytes of a unit that a chunk ended in the middle of.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Partial<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Partial<N> {
    pub(crate) const fn new() -> Self {
        Self {
            bytes: [0; N],
            len: 0,
        }
    }

    /// Bytes held.
    pub(crate) const fn len(&self) -> usize {
        self.len
    }

    /// Forgets the bytes held, returning how many there were.
    pub(crate) fn clear(&mut self) -> usize {
        core::mem::take(&mut self.len)
    }

    /// Moves bytes from `input` until a whole unit is held. Returns the unconsumed rest of
    /// `input`, and the unit if it was completed (the buffer is then empty again).
    #[inline]
    pub(crate) fn fill<'a>(&mut self, input: &'a [u8]) -> (&'a [u8], Option<[u8; N]>) {
        let need = N.saturating_sub(self.len).min(input.len());
        let (head, rest) = input.split_at(need);
        if let Some(dst) = self.bytes.get_mut(self.len..self.len + need) {
            dst.copy_from_slice(head);
        }
        self.len += need;
        if self.len >= N {
            self.len = 0;
            (rest, Some(self.bytes))
        } else {
            (rest, None)
        }
    }

    /// The last unit completed, or the bytes held so far (past [`Partial::len`]: stale).
    pub(crate) const fn bytes(&self) -> [u8; N] {
        self.bytes
    }

    /// Drops the first byte held: a decoder that lost synchronisation looks again one byte
    /// further.
    pub(crate) fn shift_one(&mut self) {
        self.bytes.copy_within(1.., 0);
        self.len = N.saturating_sub(1);
    }

    /// Stores the (shorter than `N`) tail of a chunk.
    #[inline]
    fn keep(&mut self, tail: &[u8]) {
        let n = tail.len().min(N);
        if let (Some(dst), Some(src)) = (self.bytes.get_mut(..n), tail.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.len = n;
    }
}

/// A decoder's partial `N`-byte unit and its counters.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Units<const N: usize> {
    partial: Partial<N>,
    pub(crate) counters: Counters,
}

impl<const N: usize> Units<N> {
    pub(crate) const fn new() -> Self {
        Self {
            partial: Partial::new(),
            counters: Counters::ZERO,
        }
    }

    /// Bytes of an incomplete unit held.
    pub(crate) const fn pending(&self) -> usize {
        self.partial.len()
    }

    /// Runs `f` on every complete unit of the stream continued by `bytes` (the held partial
    /// unit first), keeping an incomplete trailing unit for the next call. `units` finds
    /// this bookkeeping inside `owner`, so that `f` may use all of the decoder.
    #[inline(always)]
    pub(crate) fn feed<D>(
        owner: &mut D,
        units: fn(&mut D) -> &mut Self,
        bytes: &[u8],
        mut f: impl FnMut(&mut D, [u8; N]),
    ) {
        let mut bytes = bytes;
        if units(owner).partial.len() > 0 {
            let (rest, unit) = units(owner).partial.fill(bytes);
            match unit {
                Some(u) => f(owner, u),
                None => return,
            }
            bytes = rest;
        }
        let mut whole = bytes.chunks_exact(N);
        for u in &mut whole {
            if let Ok(u) = <[u8; N]>::try_from(u) {
                f(owner, u);
            }
        }
        units(owner).partial.keep(whole.remainder());
    }

    /// Ends the stream: the held partial unit and `other_pending` bytes the decoder held
    /// elsewhere (a header being read) are counted as truncated and dropped.
    pub(crate) fn finish(&mut self, other_pending: usize) -> Counters {
        let dropped = self.partial.clear() + other_pending;
        self.counters.truncated_bytes += dropped as u64;
        self.counters
    }
}

impl Counters {
    /// All zero.
    pub const ZERO: Counters = Counters {
        events: 0,
        malformed: 0,
        non_event: 0,
        out_of_range: 0,
        truncated_bytes: 0,
    };

    /// Delivers a decoded event to `sink` when it lies on the sensor, else counts it out of
    /// range.
    #[inline(always)]
    pub(crate) fn deliver(&mut self, geometry: Geometry, e: Event, sink: &mut impl FnMut(Event)) {
        if geometry.contains(e.x, e.y) {
            self.events += 1;
            sink(e);
        } else {
            self.out_of_range += 1;
        }
    }
}
