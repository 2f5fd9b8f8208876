//! A bump allocator over the peer's DDR region: tensors, reordered weights and scratch are
//! allocated once when the model is prepared and live until the firmware exits.

use core::mem::{align_of, size_of};
use core::sync::atomic::{AtomicBool, Ordering};

use super::PeerError;

extern "C" {
    static mut __speer: u8;
    static __epeer: u8;
}

pub struct Heap {
    next: usize,
    end: usize,
}

impl Heap {
    /// The region, handed out once.
    pub fn take() -> Option<Heap> {
        static TAKEN: AtomicBool = AtomicBool::new(false);
        if TAKEN.swap(true, Ordering::AcqRel) {
            return None;
        }
        Some(Heap {
            next: (&raw mut __speer) as usize,
            end: (&raw const __epeer) as usize,
        })
    }

    /// `n` values, all `fill`.
    pub fn alloc<T: Copy>(&mut self, n: usize, fill: T) -> Result<&'static mut [T], PeerError> {
        let start = self.next.next_multiple_of(align_of::<T>().max(16));
        let bytes = n
            .checked_mul(size_of::<T>())
            .ok_or(PeerError::OutOfMemory)?;
        let end = start.checked_add(bytes).ok_or(PeerError::OutOfMemory)?;
        if end > self.end {
            return Err(PeerError::OutOfMemory);
        }
        self.next = end;
        // SAFETY: memory.x reserves `__speer..__epeer` for this heap and links nothing into it;
        // `Heap::take` hands the region out once and every allocation is a fresh, aligned range
        // inside it, so the slice aliases nothing. It is initialised before it is returned.
        let slice = unsafe { core::slice::from_raw_parts_mut(start as *mut T, n) };
        slice.fill(fill);
        Ok(slice)
    }
}
