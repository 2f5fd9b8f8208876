//! Unwrapping of narrow, wrapping timestamp fields into 64-bit time.

/// Extends a `BITS`-wide counter that wraps around to a monotonic 64-bit value.
///
/// A step backwards by more than half the counter range is taken as one wrap-around; a
/// smaller step backwards is taken at face value (jitter between sources), so a single
/// corrupted value cannot add a whole period to every later timestamp.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Unwrapper<const BITS: u32> {
    epoch: u64,
    last: u64,
}

impl<const BITS: u32> Unwrapper<BITS> {
    const HALF: u64 = 1 << (BITS - 1);

    pub(crate) const fn new() -> Self {
        Self { epoch: 0, last: 0 }
    }

    /// The 64-bit value of the raw counter value `raw` (only its low `BITS` bits are used).
    #[inline(always)]
    pub(crate) fn unwrap(&mut self, raw: u64) -> u64 {
        let raw = raw & ((Self::HALF << 1) - 1);
        if raw < self.last && self.last - raw > Self::HALF {
            self.epoch = self.epoch.wrapping_add(1);
        }
        self.last = raw;
        self.epoch.wrapping_shl(BITS) | raw
    }
}

/// The encoder's mirror of [`Unwrapper`]: emits the raw counter values (through `emit`)
/// needed so that an [`Unwrapper`] fed with them reaches the 64-bit value `target`.
///
/// Returns the raw value to use for `target`, or `None` if `target` lies before the current
/// value. Intermediate values are only emitted when `target` is one or more periods ahead.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Wrapper<const BITS: u32> {
    current: u64,
}

impl<const BITS: u32> Wrapper<BITS> {
    const MASK: u64 = (1 << BITS) - 1;

    pub(crate) const fn new() -> Self {
        Self { current: 0 }
    }

    /// The last unwrapped value.
    pub(crate) fn current(&self) -> u64 {
        self.current
    }

    /// Steps to `target`, calling `emit(raw)` for each intermediate counter value needed.
    pub(crate) fn advance(&mut self, target: u64, mut emit: impl FnMut(u64)) -> Option<u64> {
        if target < self.current {
            return None;
        }
        let half = 1u64 << (BITS - 1);
        while (target >> BITS) > (self.current >> BITS) {
            // Within one period, any step forward is read as forward; a step back by more
            // than half a period as one wrap. So: go to the top of the period if needed, then
            // to 0 of the next one.
            let raw = self.current & Self::MASK;
            if raw <= half {
                emit(Self::MASK);
            }
            emit(0);
            self.current = ((self.current >> BITS) + 1) << BITS;
        }
        self.current = target;
        Some(target & Self::MASK)
    }

    /// Steps to `target` without intermediate counter values (formats whose only time field
    /// is the event's own). Returns the raw value, or `None` if `target` lies before the
    /// current value or too far ahead for an [`Unwrapper`] to follow.
    pub(crate) fn step(&mut self, target: u64) -> Option<u64> {
        if target < self.current {
            return None;
        }
        let (cur_epoch, new_epoch) = (self.current >> BITS, target >> BITS);
        let (cur_raw, new_raw) = (self.current & Self::MASK, target & Self::MASK);
        let half = 1u64 << (BITS - 1);
        let ok = if new_epoch == cur_epoch {
            true
        } else {
            new_epoch == cur_epoch.wrapping_add(1) && cur_raw > new_raw && cur_raw - new_raw > half
        };
        if ok {
            self.current = target;
            Some(new_raw)
        } else {
            None
        }
    }
}
