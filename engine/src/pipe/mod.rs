//! Chunked single-producer/single-consumer byte pipes: the only queue between an application
//! thread and a reactor.
//!
//! A pipe carries ZMTP frames verbatim (flags, size, body), so the reactor sends the bytes an
//! application wrote without touching them, and the application reads frames the reactor copied
//! straight out of the kernel's receive buffers. Bytes live in chunks (linked, recycled through a
//! few spare slots), frames never straddle chunks, and nothing is allocated per message.
//!
//! Publication protocol (why it is lock-free and still never loses a wake-up):
//! * the writer appends privately, then `commit` publishes a message boundary: chunk ends with
//!   `Release` stores, then the message counter; the reader loads them with `Acquire`;
//! * `reader_active` is the reader's "I will look at this pipe again" flag. `commit` issues a
//!   `SeqCst` fence and, if the flag is clear, sets it and tells the caller to notify the reader.
//!   The reader clears it, fences, and re-checks for data before it stops looking (Dekker);
//! * `writer_waiting` is the same handshake in the other direction for a writer blocked at HWM.
//!
//! This module holds `unsafe` because both threads reach the same chunk memory through raw
//! pointers; every block states why the access is exclusive or published (see docs/unsafe.md).

mod lease;
mod owned;
mod reader;
#[cfg(test)]
mod tests;
mod writer;

pub(crate) use lease::{IovArray, SendLease};
pub(crate) use owned::OwnedFrame;
pub(crate) use reader::Reader;
pub(crate) use writer::Writer;

use crate::sync::{Arc, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Mutex, Ordering};
use std::collections::VecDeque;
use std::ptr;

/// Smallest chunk; an idle pipe holds none at all.
const FIRST_CHUNK: usize = 1024;
/// Chunks grow to this size while a pipe stays busy. A frame longer than this gets a chunk of
/// exactly its size, which the reader frees rather than recycles, or hands over whole
/// (`Reader::take_frame`).
pub(crate) const MAX_CHUNK: usize = 256 * 1024;
/// Recycled chunks kept per pipe (a busy pipe with large messages cycles through several).
const SPARES: usize = 4;
/// Bytes of chunks the spares hold at most: a reader that consumes no more than this between
/// two refills by the writer hands every chunk back for reuse (see the reactor's `MAX_SEND`).
pub(crate) const RECYCLED_BYTES: usize = SPARES * MAX_CHUNK;
/// A reservation (`Writer::begin_fill`) gets at most this much memory before its bytes
/// arrive; it grows as they do. A peer's declared frame size is only a claim.
const FILL_STEP: usize = 64 * 1024;

struct Chunk {
    buf: *mut u8,
    cap: usize,
    /// Bytes published to the reader. Final once `next` is non-null.
    end: AtomicUsize,
    /// The chunk the writer moved on to; published after the final `end`.
    next: AtomicPtr<Chunk>,
    /// The reader handed `buf` over to an `OwnedFrame`, which frees it: freeing the chunk
    /// frees only this header. Written and read by the reader (and by whoever frees the
    /// chunk after the reader is gone, which `Arc<Shared>` orders after it).
    taken: AtomicBool,
}

impl Chunk {
    /// A chunk of `cap` (> 0) bytes, or None when the memory cannot be had (for sizes a peer
    /// influences: the caller closes that connection instead of aborting the process).
    fn try_alloc(cap: usize) -> Option<*mut Chunk> {
        let buf = zeroed_bytes(cap)?;
        Some(Box::into_raw(Box::new(Chunk {
            buf,
            cap,
            end: AtomicUsize::new(0),
            next: AtomicPtr::new(ptr::null_mut()),
            taken: AtomicBool::new(false),
        })))
    }

    /// # Safety
    /// `c` came from `Chunk::try_alloc`, is reachable by no one else, and is freed once.
    unsafe fn free(c: *mut Chunk) {
        // SAFETY: per the contract, `c` is a uniquely owned allocation made by `try_alloc`,
        // and its buffer was made by `zeroed_bytes` with this capacity (unless an
        // `OwnedFrame` took it, and frees it itself).
        unsafe {
            let chunk = Box::from_raw(c);
            if !chunk.taken.load(Ordering::Relaxed) {
                free_bytes(chunk.buf, chunk.cap);
            }
        }
    }
}

/// `cap` zeroed bytes (every byte initialised, so handing out `&mut [u8]` is sound; large
/// zeroed allocations come from untouched pages: no RSS until written). None if `cap` is 0,
/// too large for a layout, or the allocator refuses.
fn zeroed_bytes(cap: usize) -> Option<*mut u8> {
    let layout = std::alloc::Layout::array::<u8>(cap).ok()?;
    if layout.size() == 0 {
        return None;
    }
    // SAFETY: the layout has a non-zero size.
    let p = unsafe { std::alloc::alloc_zeroed(layout) };
    (!p.is_null()).then_some(p)
}

/// # Safety
/// `p` came from `zeroed_bytes(cap)` and is freed once.
unsafe fn free_bytes(p: *mut u8, cap: usize) {
    // SAFETY: `zeroed_bytes` allocated `p` with exactly this layout (it exists: it did then).
    unsafe { std::alloc::dealloc(p, std::alloc::Layout::array::<u8>(cap).unwrap_unchecked()) }
}

/// A reservation could not be allocated (see [`Writer::begin_fill`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AllocFailed {
    /// Bytes that were being asked for.
    pub(crate) bytes: usize,
}

struct Shared {
    /// First chunk, published by the writer's first commit (the reader starts here).
    first: AtomicPtr<Chunk>,
    /// The reader's current chunk: where `Drop` starts freeing.
    head: AtomicPtr<Chunk>,
    /// One recycled chunk handed back by the reader.
    spare: [AtomicPtr<Chunk>; SPARES],
    msgs_committed: AtomicU64,
    msgs_read: AtomicU64,
    reader_active: AtomicBool,
    writer_waiting: AtomicBool,
    closed: AtomicBool,
    reader_gone: AtomicBool,
    /// A `SendLease` points into this pipe's bytes: the reader must not consume them.
    send_leased: AtomicBool,
    hwm: u64,
    /// Shared bodies (`Writer::write_shared`) of committed frames, in stream order, not yet
    /// taken by the reader; `ext_count` lets the reader skip the lock when there are none.
    ext: Mutex<VecDeque<Ext>>,
    ext_count: AtomicUsize,
}

/// A body shared by many pipes (always std's `Arc`: it comes from the socket layer).
pub(crate) type SharedBytes = std::sync::Arc<[u8]>;

/// A frame body that is not in the chunk bytes but shared (one buffer for many pipes): it
/// belongs in the stream right before byte `at` of chunk `chunk` (an address, compared only).
struct Ext {
    chunk: usize,
    at: usize,
    data: SharedBytes,
}

// SAFETY: the raw chunk pointers are only dereferenced under the publication protocol described
// in the module doc; everything else is atomics.
unsafe impl Send for Shared {}
// SAFETY: as above; shared access goes through atomics and published, immutable bytes.
unsafe impl Sync for Shared {}

impl Drop for Shared {
    fn drop(&mut self) {
        // Both ends are gone: walk from the reader's chunk (or the first one) along published
        // links. The writer unlinked any unpublished chunks when it was dropped.
        let mut c = self.head.load(Ordering::Relaxed);
        if c.is_null() {
            c = self.first.load(Ordering::Relaxed);
        }
        while !c.is_null() {
            // SAFETY: no other handle exists; each chunk in the chain is freed exactly once.
            unsafe {
                let next = (*c).next.load(Ordering::Relaxed);
                Chunk::free(c);
                c = next;
            }
        }
        for slot in &self.spare {
            let s = slot.load(Ordering::Relaxed);
            if !s.is_null() {
                // SAFETY: a spare is owned by the pipe and not in the chain.
                unsafe { Chunk::free(s) };
            }
        }
    }
}

/// Create a pipe whose writer counts as full at `hwm` unread messages (0 = unlimited).
pub(crate) fn pipe(hwm: u64) -> (Writer, Reader) {
    let shared = Arc::new(Shared {
        first: AtomicPtr::new(ptr::null_mut()),
        head: AtomicPtr::new(ptr::null_mut()),
        spare: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
        msgs_committed: AtomicU64::new(0),
        msgs_read: AtomicU64::new(0),
        reader_active: AtomicBool::new(false),
        writer_waiting: AtomicBool::new(false),
        closed: AtomicBool::new(false),
        reader_gone: AtomicBool::new(false),
        send_leased: AtomicBool::new(false),
        hwm,
        ext: Mutex::new(VecDeque::new()),
        ext_count: AtomicUsize::new(0),
    });
    (
        Writer::new(shared.clone()),
        Reader::new(shared, credit_batch(hwm)),
    )
}

fn credit_batch(hwm: u64) -> u64 {
    if hwm == 0 {
        256
    } else {
        (hwm / 4).clamp(1, 256)
    }
}
