//! The provided-buffer ring that multishot receives fill: page-aligned buffers registered
//! with the kernel, handed back as the reactor consumes their data, grown when it runs dry.

use std::io;
use std::ptr;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::{cqueue, types};

pub(super) const BGID: u16 = 7;
/// `IOU_PBUF_RING_INC` (not re-exported by the io-uring crate).
pub(super) const PBUF_RING_INC: u16 = 2;

/// Receive buffers of the per-reactor provided-buffer ring: at most `count` buffers of
/// `size` bytes, `initial` of them handed to the kernel at start and `initial` more each time
/// the ring runs dry (ENOBUFS). The kernel cycles through every buffer it has, and each costs
/// first-touch page faults (and RSS) the first time round: a fixed 128 × 32 KiB ring spent
/// 5 % of a short 64 B run clearing pages (uring inline PAIR 0.69× epoll; 32 buffers: 0.84×),
/// while many connections receiving large messages need the 128 (10 subscribers × 64 KiB:
/// 11.5 k deliveries/s with 32, 19.6 k with 128). So the ring can grow when it runs dry while
/// more than two connections receive (with fewer, a dry ring means the application is behind).
/// The default starts with 32.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BufConfig {
    pub(crate) count: u16,
    pub(crate) size: u32,
    pub(crate) initial: u16,
}

impl Default for BufConfig {
    fn default() -> Self {
        BufConfig {
            count: 128,
            size: 32 * 1024,
            // 32: fewer first-touch faults for short runs; the ring grows when it runs dry
            // while many connections receive.
            initial: 32,
        }
    }
}

/// Anonymous page-aligned memory, unmapped on drop.
pub(super) struct Mmap {
    pub(super) ptr: *mut u8,
    len: usize,
}

impl Mmap {
    fn new(len: usize) -> io::Result<Mmap> {
        // SAFETY: anonymous private mapping; no file, result checked.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mmap {
            ptr: p as *mut u8,
            len,
        })
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping created in `new`.
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.len) };
    }
}

/// The provided-buffer ring: the kernel picks a free buffer for each multishot receive
/// completion; we hand it back as soon as its bytes are copied out.
pub(super) struct BufRing {
    pub(super) ring: Mmap,
    bufs: Mmap,
    count: u16,
    size: u32,
    tail: u16,
    /// Buffers handed to the kernel so far (bids `0..provided`); grows to `count`.
    provided: u16,
    step: u16,
    /// Incremental consumption (`IOU_PBUF_RING_INC`, Linux 6.12): the kernel keeps filling a
    /// buffer across completions (`F_BUF_MORE`), so many small receives, from any
    /// connection, share one buffer instead of each taking a whole one. `off[bid]` is where
    /// the next completion's data starts in buffer `bid`.
    pub(super) inc: bool,
    off: Vec<u32>,
    /// Per buffer: ranges of it that a paused connection holds (delivered later, in place).
    holds: Vec<u32>,
    /// Per buffer: the kernel is done with it, but `holds` keep it from going back.
    retired: Vec<bool>,
}

impl BufRing {
    pub(super) fn new(cfg: BufConfig) -> io::Result<BufRing> {
        assert!(cfg.count.is_power_of_two());
        let ring = Mmap::new((cfg.count as usize * 16).max(4096))?;
        let bufs = Mmap::new(cfg.count as usize * cfg.size as usize)?;
        let mut r = BufRing {
            ring,
            bufs,
            count: cfg.count,
            size: cfg.size,
            tail: 0,
            provided: 0,
            step: cfg.initial.clamp(1, cfg.count),
            inc: false,
            off: vec![0; cfg.count as usize],
            holds: vec![0; cfg.count as usize],
            retired: vec![false; cfg.count as usize],
        };
        r.grow();
        Ok(r)
    }

    /// Hand `step` more buffers to the kernel (the ring ran dry), up to `count`. The buffer
    /// memory is one mapping reserved up front; untouched buffers cost no RSS.
    pub(super) fn grow(&mut self) {
        let to = self.provided.saturating_add(self.step).min(self.count);
        for bid in self.provided..to {
            self.push(bid);
        }
        self.provided = to;
        self.publish();
    }

    /// No buffer is held or waiting to go back (tests).
    #[cfg(test)]
    pub(super) fn all_returned(&self) -> bool {
        self.holds.iter().all(|&h| h == 0) && self.retired.iter().all(|&r| !r)
    }

    pub(super) fn entries(&self) -> *mut types::BufRingEntry {
        self.ring.ptr as *mut types::BufRingEntry
    }

    /// Queue buffer `bid` at the tail (published by `publish`).
    pub(super) fn push(&mut self, bid: u16) {
        let idx = (self.tail & (self.count - 1)) as usize;
        // SAFETY: `idx < count`; the entry slot at the tail is owned by us until the tail is
        // published past it.
        let e = unsafe { &mut *self.entries().add(idx) };
        // SAFETY: `bid < count`, so the address is inside the buffer mapping.
        e.set_addr(unsafe { self.bufs.ptr.add(bid as usize * self.size as usize) } as u64);
        e.set_len(self.size);
        e.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    pub(super) fn publish(&self) {
        // SAFETY: the ring base is page aligned and its entries initialised; `tail` returns
        // the address of the shared tail field, which the kernel reads with acquire semantics.
        unsafe {
            let tail = types::BufRingEntry::tail(self.entries()) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    /// A completion delivered `len` bytes in buffer `bid`: where they start. The buffer's
    /// fill offset advances (incremental mode, `F_BUF_MORE`), or the buffer is retired: it
    /// goes back to the kernel once `release` finds no range of it held.
    pub(super) fn take(&mut self, bid: u16, len: usize, flags: u32) -> u32 {
        let b = bid as usize;
        assert!(bid < self.count && self.off[b] as usize + len <= self.size as usize);
        let start = self.off[b];
        if self.inc && cqueue::buffer_more(flags) {
            self.off[b] += len as u32;
        } else {
            self.off[b] = 0;
            self.retired[b] = true;
        }
        start
    }

    /// The `len` bytes at `start` in buffer `bid` (a range `take` returned, not yet released).
    pub(super) fn data(&self, bid: u16, start: u32, len: usize) -> &[u8] {
        assert!(bid < self.count && start as usize + len <= self.size as usize);
        // SAFETY: the kernel filled these bytes of buffer `bid` and reported them in a CQE;
        // it does not touch them again (incremental mode only appends past them, and a
        // retired buffer waits until `release` pushes it back).
        unsafe {
            std::slice::from_raw_parts(
                self.bufs
                    .ptr
                    .add(bid as usize * self.size as usize + start as usize),
                len,
            )
        }
    }

    /// Keep a range of `bid` for later delivery (its buffer stays out of the ring).
    pub(super) fn hold(&mut self, bid: u16) {
        self.holds[bid as usize] += 1;
    }

    /// A held range of `bid` was delivered or dropped.
    pub(super) fn unhold(&mut self, bid: u16) {
        self.holds[bid as usize] -= 1;
        self.release(bid);
    }

    /// Give `bid` back to the kernel if it is retired and nothing of it is held.
    pub(super) fn release(&mut self, bid: u16) {
        let b = bid as usize;
        if self.retired[b] && self.holds[b] == 0 {
            self.retired[b] = false;
            self.push(bid);
            self.publish();
        }
    }
}
