//! A received frame handed out of its pipe without a copy: the chunk memory the reactor
//! received it into, now owned by the application (see `Reader::take_frame`).

use std::ptr::NonNull;

/// The memory of one chunk that held exactly one frame, and where the frame's body starts
/// in it (after the ZMTP header). Frees the memory when dropped.
pub(crate) struct OwnedFrame {
    buf: NonNull<u8>,
    cap: usize,
    off: usize,
}

// SAFETY: the frame owns its memory outright (the pipe gave it up and never touches it
// again) and hands out only shared references to it.
unsafe impl Send for OwnedFrame {}
// SAFETY: as above; `&OwnedFrame` gives read-only access to bytes nobody writes.
unsafe impl Sync for OwnedFrame {}

impl OwnedFrame {
    /// # Safety
    /// `buf` came from `super::zeroed_bytes(cap)` (possibly grown by `realloc` to `cap`), all
    /// `cap` bytes are initialised and will not be written again, nothing else frees it, and
    /// `off <= cap`.
    pub(super) unsafe fn new(buf: *mut u8, cap: usize, off: usize) -> OwnedFrame {
        debug_assert!(off <= cap);
        OwnedFrame {
            // SAFETY: chunk buffers are never null (`zeroed_bytes` checks).
            buf: unsafe { NonNull::new_unchecked(buf) },
            cap,
            off,
        }
    }

    /// The frame's body.
    pub(crate) fn body(&self) -> &[u8] {
        // SAFETY: per `new`, `buf` holds `cap` initialised bytes owned by this value and
        // `off <= cap`.
        unsafe { std::slice::from_raw_parts(self.buf.as_ptr().add(self.off), self.cap - self.off) }
    }
}

impl Drop for OwnedFrame {
    fn drop(&mut self) {
        // SAFETY: per `new`, the memory came from `zeroed_bytes(cap)` and only this value
        // frees it.
        unsafe { super::free_bytes(self.buf.as_ptr(), self.cap) }
    }
}
