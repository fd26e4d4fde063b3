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

use crate::sync::{fence, Arc, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Mutex, Ordering};
use std::collections::VecDeque;
use std::ptr;

/// Smallest chunk; an idle pipe holds none at all.
const FIRST_CHUNK: usize = 1024;
/// Chunks grow to this size while a pipe stays busy.
const MAX_CHUNK: usize = 256 * 1024;
/// Recycled chunks kept per pipe (a busy pipe with large messages cycles through several).
const SPARES: usize = 4;
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
        })))
    }

    /// # Safety
    /// `c` came from `Chunk::try_alloc`, is reachable by no one else, and is freed once.
    unsafe fn free(c: *mut Chunk) {
        // SAFETY: per the contract, `c` is a uniquely owned allocation made by `try_alloc`,
        // and its buffer was made by `zeroed_bytes` with this capacity.
        unsafe {
            let chunk = Box::from_raw(c);
            free_bytes(chunk.buf, chunk.cap);
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
        hwm,
        ext: Mutex::new(VecDeque::new()),
        ext_count: AtomicUsize::new(0),
    });
    (
        Writer {
            shared: shared.clone(),
            cur: ptr::null_mut(),
            wpos: 0,
            ccur: ptr::null_mut(),
            cpos: 0,
            links: Vec::new(),
            mark: None,
            msgs_written: 0,
            read_cache: 0,
            next_size: FIRST_CHUNK,
            fill_left: 0,
            fill_grows: false,
            pending_ext: Vec::new(),
        },
        Reader {
            shared,
            cur: ptr::null_mut(),
            rpos: 0,
            ext: VecDeque::new(),
            ext_off: 0,
            msgs_read: 0,
            msgs_published: 0,
            credit_batch: credit_batch(hwm),
        },
    )
}

fn credit_batch(hwm: u64) -> u64 {
    if hwm == 0 {
        256
    } else {
        (hwm / 4).clamp(1, 256)
    }
}

/// The producing end.
pub(crate) struct Writer {
    shared: Arc<Shared>,
    /// Chunk being written.
    cur: *mut Chunk,
    /// Bytes written into `cur` (some maybe uncommitted).
    wpos: usize,
    /// The chunk holding the committed position, and that position.
    ccur: *mut Chunk,
    cpos: usize,
    /// Chunk switches since the committed position, in order: (old chunk or null for the very
    /// first chunk, its final length, new chunk).
    links: Vec<(*mut Chunk, usize, *mut Chunk)>,
    /// Last message boundary not yet committed: (number of `links` before it, byte position).
    mark: Option<(usize, usize)>,
    msgs_written: u64,
    read_cache: u64,
    next_size: usize,
    /// Bytes still expected by `fill` for the current reservation.
    fill_left: usize,
    /// The reservation has a chunk of its own that `fill` may grow.
    fill_grows: bool,
    /// Shared bodies written since the last commit (handed to `Shared::ext` by `publish`).
    pending_ext: Vec<Ext>,
}

// SAFETY: the writer is the unique producer; its chunk pointers follow the module protocol.
unsafe impl Send for Writer {}

impl Writer {
    /// Make `n` contiguous bytes available at the write position.
    #[inline]
    fn make_room(&mut self, n: usize) {
        // SAFETY: `cur` is either null or a live chunk owned by this pipe.
        if !self.cur.is_null() && unsafe { (*self.cur).cap } - self.wpos >= n {
            return;
        }
        self.new_chunk(n);
    }

    #[inline(never)]
    fn new_chunk(&mut self, n: usize) {
        if let Err(e) = self.try_new_chunk(n) {
            std::alloc::handle_alloc_error(
                std::alloc::Layout::array::<u8>(e.bytes).expect("chunk sizes fit a layout"),
            );
        }
    }

    /// Start a new chunk with room for at least `n` bytes (a recycled one if big enough).
    fn try_new_chunk(&mut self, n: usize) -> Result<(), AllocFailed> {
        let want = n.max(self.next_size);
        // Take a recycled chunk if one is big enough (the first non-empty slot).
        let spare = self
            .shared
            .spare
            .iter()
            .find(|s| !s.load(Ordering::Relaxed).is_null())
            .map_or(ptr::null_mut(), |s| {
                s.swap(ptr::null_mut(), Ordering::Acquire)
            });
        let new = if !spare.is_null() && {
            // SAFETY: the reader gave the spare up entirely; we own it now.
            unsafe { (*spare).cap >= want }
        } {
            // SAFETY: exclusively owned (just taken from the spare slot), not yet published.
            unsafe {
                (*spare).end.store(0, Ordering::Relaxed);
                (*spare).next.store(ptr::null_mut(), Ordering::Relaxed);
            }
            spare
        } else {
            if !spare.is_null() {
                // SAFETY: owned (taken from the spare slot) and too small: free it.
                unsafe { Chunk::free(spare) };
            }
            Chunk::try_alloc(want).ok_or(AllocFailed { bytes: want })?
        };
        self.next_size = (self.next_size * 2).min(MAX_CHUNK);
        self.links.push((self.cur, self.wpos, new));
        self.cur = new;
        self.wpos = 0;
        Ok(())
    }

    /// Append `n` bytes and return them for the caller to fill in full.
    #[inline]
    pub(crate) fn append(&mut self, n: usize) -> &mut [u8] {
        self.make_room(n);
        let at = self.wpos;
        self.wpos += n;
        // SAFETY: `make_room` guarantees `cur` is live with `cap - at >= n`; the bytes past the
        // committed position are invisible to the reader, so this is exclusive access.
        unsafe { std::slice::from_raw_parts_mut((*self.cur).buf.add(at), n) }
    }

    /// Append header and body as one contiguous frame.
    #[inline]
    pub(crate) fn write_frame(&mut self, header: &[u8], body: &[u8]) {
        let buf = self.append(header.len() + body.len());
        if let [a, b] = *header {
            // The common short header: two stores instead of a memcpy call.
            buf[0] = a;
            buf[1] = b;
        } else {
            buf[..header.len()].copy_from_slice(header);
        }
        buf[header.len()..].copy_from_slice(body);
    }

    /// Append a frame whose body is shared instead of copied: `header` goes into the chunk,
    /// `body` is referenced (the reactor sends it straight from there). Only for pipes read
    /// by a reactor: `peek` returns such a body as a segment of its own, which the
    /// application-side frame reader does not expect. `body` must not be empty.
    pub(crate) fn write_shared(&mut self, header: &[u8], body: &SharedBytes) {
        debug_assert!(!body.is_empty());
        self.append(header.len()).copy_from_slice(header);
        self.pending_ext.push(Ext {
            chunk: self.cur as usize,
            at: self.wpos,
            data: body.clone(),
        });
    }

    /// Reserve `n` contiguous bytes to be filled piecewise with `fill` (for frames that arrive
    /// in several receive buffers). `n` is what a peer announced, not what it sent: memory
    /// beyond `FILL_STEP` is taken only as the bytes arrive (`fill` grows the chunk), and a
    /// failed allocation is an error for the caller (which drops that connection), never an
    /// abort.
    pub(crate) fn begin_fill(&mut self, n: usize) -> Result<(), AllocFailed> {
        self.fill_left = 0;
        self.fill_grows = false;
        // SAFETY: `cur` is either null or a live chunk owned by this pipe.
        if self.cur.is_null() || unsafe { (*self.cur).cap } - self.wpos < n {
            // A chunk of its own, so that growing it moves nothing but this frame's bytes.
            self.try_new_chunk(n.min(FILL_STEP.max(self.next_size)))?;
            self.fill_grows = true;
        }
        self.fill_left = n;
        Ok(())
    }

    /// Copy the next piece of the reservation made by `begin_fill`.
    pub(crate) fn fill(&mut self, bytes: &[u8]) -> Result<(), AllocFailed> {
        assert!(bytes.len() <= self.fill_left, "fill past reservation");
        // SAFETY: `cur` is live after `begin_fill`.
        if unsafe { (*self.cur).cap } - self.wpos < bytes.len() {
            self.grow_fill(bytes.len())?;
        }
        let at = self.wpos;
        // SAFETY: `begin_fill` (or `grow_fill`) made room for these bytes at `wpos` in `cur`;
        // unpublished bytes are exclusively the writer's.
        unsafe {
            ptr::copy_nonoverlapping(bytes.as_ptr(), (*self.cur).buf.add(at), bytes.len());
        }
        self.wpos += bytes.len();
        self.fill_left -= bytes.len();
        Ok(())
    }

    /// Make room for `need` more bytes of the reservation: at least double the chunk, at most
    /// to the reservation's end.
    #[inline(never)]
    fn grow_fill(&mut self, need: usize) -> Result<(), AllocFailed> {
        assert!(self.fill_grows, "reservation outgrew a shared chunk");
        let c = self.cur;
        // SAFETY: `begin_fill` started `cur` for this reservation alone; it is unpublished
        // (its link lies past any mark), so nothing else reads or writes it.
        let chunk = unsafe { &mut *c };
        let min = self.wpos + need;
        let cap = chunk
            .cap
            .saturating_mul(2)
            .max(min)
            .min(self.wpos + self.fill_left);
        let layout =
            std::alloc::Layout::array::<u8>(cap).map_err(|_| AllocFailed { bytes: cap })?;
        // SAFETY: `chunk.buf` came from `zeroed_bytes(chunk.cap)` (the layout of `chunk.cap`
        // bytes, align 1, which exists since it did then) and `cap` (> chunk.cap > 0) fits a
        // layout. The bytes past the old capacity are uninitialised, but `cap` is at most
        // the reservation's end, `fill` writes every byte up to it before the chunk is
        // published, and nothing is appended to this chunk afterwards (it ends exactly at
        // the reservation's end). A large block grows by remapping pages, without a copy.
        let buf = unsafe {
            std::alloc::realloc(
                chunk.buf,
                std::alloc::Layout::array::<u8>(chunk.cap).unwrap_unchecked(),
                layout.size(),
            )
        };
        if buf.is_null() {
            return Err(AllocFailed { bytes: cap });
        }
        chunk.buf = buf;
        chunk.cap = cap;
        Ok(())
    }

    /// Remember the current position as a message boundary, to be published by
    /// `commit_marked`. Everything after it stays invisible.
    #[inline]
    pub(crate) fn mark(&mut self) {
        self.mark = Some((self.links.len(), self.wpos));
    }

    /// Publish everything appended so far (which must end a message) as `msgs` more messages.
    /// Returns true when the reader is not looking at this pipe and must be told.
    #[inline]
    pub(crate) fn commit(&mut self, msgs: u64) -> bool {
        self.mark();
        self.commit_marked(msgs)
    }

    /// Publish up to the last `mark`, counting `msgs` more messages. Returns true when the
    /// reader must be notified (see `commit`).
    pub(crate) fn commit_marked(&mut self, msgs: u64) -> bool {
        self.publish(msgs);
        fence(Ordering::SeqCst);
        !self.shared.reader_active.load(Ordering::Relaxed)
            && !self.shared.reader_active.swap(true, Ordering::SeqCst)
    }

    /// Publish a finished message without the notification check: for batches, which end
    /// with one `commit(0)` that does the check once.
    #[inline]
    pub(crate) fn commit_quiet(&mut self, msgs: u64) {
        self.mark();
        self.publish(msgs);
    }

    #[inline]
    fn publish(&mut self, msgs: u64) {
        let Some((k, pos)) = self.mark.take() else {
            return;
        };
        if !self.pending_ext.is_empty() {
            // Before the chunk ends and links below: a reader that sees the bytes up to an
            // insertion point also sees its entry.
            let n = self.pending_ext.len();
            let mut q = self.shared.ext.lock().unwrap_or_else(|e| e.into_inner());
            q.extend(self.pending_ext.drain(..));
            drop(q);
            self.shared.ext_count.fetch_add(n, Ordering::Release);
        }
        for (old, len, new) in self.links.drain(..k) {
            if old.is_null() {
                self.shared.first.store(new, Ordering::Release);
            } else {
                // SAFETY: `old` is a chunk of this pipe the reader may be reading; `end` and
                // `next` are atomics, and the bytes below `len` are complete.
                unsafe {
                    (*old).end.store(len, Ordering::Release);
                    (*old).next.store(new, Ordering::Release);
                }
            }
            self.ccur = new;
            self.cpos = 0;
        }
        if pos != self.cpos {
            self.cpos = pos;
            // SAFETY: `ccur` is live: a chunk exists whenever a boundary lies past 0.
            unsafe { (*self.ccur).end.store(pos, Ordering::Release) };
        }
        self.msgs_written += msgs;
        self.shared
            .msgs_committed
            .store(self.msgs_written, Ordering::Release);
    }

    /// Committed messages the reader has not finished with yet.
    pub(crate) fn unread(&self) -> u64 {
        self.msgs_written
            .saturating_sub(self.shared.msgs_read.load(Ordering::Acquire))
    }

    /// Messages committed so far.
    pub(crate) fn msgs_written(&self) -> u64 {
        self.msgs_written
    }

    /// Drop everything appended since the last commit (a message cut short by a disconnect).
    pub(crate) fn rollback(&mut self) {
        self.fill_left = 0;
        self.fill_grows = false;
        self.mark = None;
        self.pending_ext.clear();
        for (_, _, new) in self.links.drain(..) {
            // SAFETY: chunks created after the committed position were never published, so
            // they are exclusively the writer's.
            unsafe { Chunk::free(new) };
        }
        self.cur = self.ccur;
        self.wpos = self.cpos;
    }

    /// True when hwm messages are unread. Cheap while far from the mark.
    #[inline]
    pub(crate) fn is_full(&mut self) -> bool {
        let hwm = self.shared.hwm;
        // Saturating: a dropped reader publishes a huge read count to release the writer.
        if hwm == 0 || self.msgs_written.saturating_sub(self.read_cache) < hwm {
            return false;
        }
        self.read_cache = self.shared.msgs_read.load(Ordering::Acquire);
        self.msgs_written.saturating_sub(self.read_cache) >= hwm
    }

    /// Announce that the writer is blocked at HWM. Returns false if space appeared meanwhile
    /// (then the writer must not wait).
    pub(crate) fn wait_for_space(&mut self) -> bool {
        self.shared.writer_waiting.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if !self.is_full() {
            self.shared.writer_waiting.store(false, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Mark the pipe finished after the committed data. Returns true if the reader must be
    /// notified (as `commit`).
    pub(crate) fn close(&mut self) -> bool {
        self.rollback();
        self.shared.closed.store(true, Ordering::Release);
        fence(Ordering::SeqCst);
        !self.shared.reader_active.swap(true, Ordering::SeqCst)
    }

    /// The reading end was dropped: nothing written will ever be read.
    pub(crate) fn reader_gone(&self) -> bool {
        self.shared.reader_gone.load(Ordering::Acquire)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Unpublished chunks are unreachable from the shared chain: free them here.
        self.rollback();
        self.shared.closed.store(true, Ordering::Release);
    }
}

/// The consuming end.
pub(crate) struct Reader {
    shared: Arc<Shared>,
    cur: *mut Chunk,
    rpos: usize,
    /// Shared bodies taken from `Shared::ext`, in stream order, and how much of the first one
    /// was consumed.
    ext: VecDeque<Ext>,
    ext_off: usize,
    msgs_read: u64,
    msgs_published: u64,
    credit_batch: u64,
}

// SAFETY: the reader is the unique consumer; its chunk pointers follow the module protocol.
unsafe impl Send for Reader {}

impl Reader {
    /// Move published shared-body entries into the reader's queue. Call after loading a
    /// chunk's `end` (or `next`): entries are published before the bytes they follow.
    #[inline]
    fn refill_ext(&mut self) {
        if self.shared.ext_count.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut q = self.shared.ext.lock().unwrap_or_else(|e| e.into_inner());
        let n = q.len();
        self.ext.extend(q.drain(..));
        drop(q);
        self.shared.ext_count.fetch_sub(n, Ordering::Relaxed);
    }

    /// True when the read position is at a shared body (the next bytes come from it).
    #[inline]
    fn at_ext(&self) -> bool {
        self.ext
            .front()
            .is_some_and(|e| e.chunk == self.cur as usize && e.at == self.rpos)
    }

    /// The committed bytes readable now: the rest of the current chunk (whole frames), or of
    /// a shared body the stream is at. Empty when the pipe is drained.
    #[inline]
    pub(crate) fn peek(&mut self) -> &[u8] {
        loop {
            if self.cur.is_null() {
                let first = self.shared.first.load(Ordering::Acquire);
                if first.is_null() {
                    return &[];
                }
                self.cur = first;
                self.shared.head.store(first, Ordering::Relaxed);
            }
            // SAFETY: `cur` is a live chunk of this pipe; the reader frees chunks only after
            // moving past them.
            let chunk = unsafe { &*self.cur };
            let end = chunk.end.load(Ordering::Acquire);
            self.refill_ext();
            if self.at_ext() {
                let off = self.ext_off;
                return &self.ext.front().expect("at_ext").data[off..];
            }
            // Stop at the next shared body inside this chunk.
            let limit = match self.ext.front() {
                Some(e) if e.chunk == self.cur as usize && e.at > self.rpos && e.at <= end => e.at,
                _ => end,
            };
            if self.rpos < limit {
                // SAFETY: bytes below a published `end` are complete and never written again
                // until the chunk is recycled, which only this reader does.
                return unsafe {
                    std::slice::from_raw_parts(chunk.buf.add(self.rpos), limit - self.rpos)
                };
            }
            let next = chunk.next.load(Ordering::Acquire);
            if next.is_null() {
                return &[];
            }
            // `end` is final once `next` is set; re-read it (and the entries published with
            // it) before leaving the chunk.
            self.refill_ext();
            if self.rpos < chunk.end.load(Ordering::Acquire) || self.at_ext() {
                continue;
            }
            let old = self.cur;
            self.cur = next;
            self.rpos = 0;
            self.shared.head.store(next, Ordering::Relaxed);
            // Park the chunk in a free spare slot; if all are taken, free it. A chunk made
            // for one large frame is freed too: it would otherwise pin that much memory.
            // SAFETY: `old` is live (we were reading it); `cap` is not written after publication.
            let big = unsafe { (*old).cap } > MAX_CHUNK;
            let parked = !big
                && self.shared.spare.iter().any(|s| {
                    s.compare_exchange(ptr::null_mut(), old, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok()
                });
            if !parked {
                // SAFETY: the reader has moved past `old` and the writer never sees it again
                // (it is in no slot and unlinked from the reader's view): exclusively ours.
                unsafe { Chunk::free(old) };
            }
        }
    }

    /// Append the committed bytes (up to `max` bytes, across chunks) as iovecs without
    /// consuming them; used by the reactor to send a whole backlog with one call.
    /// Returns the byte count.
    pub(crate) fn peek_iov(
        &mut self,
        iov: &mut Vec<libc::iovec>,
        max: usize,
        max_iov: usize,
    ) -> usize {
        if self.peek().is_empty() {
            return 0;
        }
        let mut total = 0;
        let mut c = self.cur;
        let mut start = self.rpos;
        // Index in `self.ext` of the next shared body to splice in.
        let mut ei = 0;
        if self.at_ext() {
            let e = &self.ext[0];
            let left = e.data.len() - self.ext_off;
            let take = left.min(max);
            iov.push(libc::iovec {
                // SAFETY: `ext_off < len`; the Arc keeps the bytes alive until `consume`
                // pops the entry, which happens only after the send that uses them.
                iov_base: unsafe { e.data.as_ptr().add(self.ext_off) } as *mut libc::c_void,
                iov_len: take,
            });
            total += take;
            if take < left || total >= max || iov.len() >= max_iov {
                return total;
            }
            ei = 1;
        }
        loop {
            // SAFETY: `cur` and chunks reachable from it through published links are live and
            // owned by this reader until it consumes them.
            let chunk = unsafe { &*c };
            let end = chunk.end.load(Ordering::Acquire);
            // Entries are published before the bytes they follow: take them after `end`.
            self.refill_ext();
            loop {
                let here =
                    |e: &Ext, from: usize| e.chunk == c as usize && e.at >= from && e.at <= end;
                let stop = match self.ext.get(ei) {
                    Some(e) if here(e, start) => e.at,
                    _ => end,
                };
                if stop > start {
                    let take = (stop - start).min(max - total);
                    iov.push(libc::iovec {
                        // SAFETY: `start < stop <= end <= cap`, inside the chunk's buffer.
                        iov_base: unsafe { chunk.buf.add(start) } as *mut libc::c_void,
                        iov_len: take,
                    });
                    total += take;
                    if take < stop - start {
                        return total;
                    }
                }
                start = stop;
                if total >= max || iov.len() >= max_iov {
                    return total;
                }
                match self.ext.get(ei) {
                    Some(e) if here(e, start) => {
                        let take = e.data.len().min(max - total);
                        iov.push(libc::iovec {
                            iov_base: e.data.as_ptr() as *mut libc::c_void,
                            iov_len: take,
                        });
                        total += take;
                        ei += 1;
                        if take < e.data.len() || total >= max || iov.len() >= max_iov {
                            return total;
                        }
                    }
                    _ => break,
                }
            }
            let next = chunk.next.load(Ordering::Acquire);
            // Continue into the next chunk only if this one is sealed at the `end` we used.
            if next.is_null() || chunk.end.load(Ordering::Acquire) != end {
                break;
            }
            c = next;
            start = 0;
        }
        total
    }

    /// Describe the next message without consuming it: (frames, total body bytes). Walks frame
    /// headers across chunks; the message is complete because commits end messages. Not for
    /// pipes written with `write_shared` (application-side readers only).
    pub(crate) fn scan_message(&mut self) -> Option<(usize, usize)> {
        if self.peek().is_empty() {
            return None;
        }
        let (mut frames, mut body) = (0usize, 0usize);
        let mut c = self.cur;
        let mut pos = self.rpos;
        loop {
            // SAFETY: `cur` and chunks reachable through published links are live and owned by
            // this reader until consumed; bytes below `end` are published.
            let chunk = unsafe { &*c };
            let end = chunk.end.load(Ordering::Acquire);
            if pos >= end {
                let next = chunk.next.load(Ordering::Acquire);
                if next.is_null() || chunk.end.load(Ordering::Acquire) != end {
                    return None;
                }
                c = next;
                pos = 0;
                continue;
            }
            // SAFETY: as above; `pos < end`.
            let bytes = unsafe { std::slice::from_raw_parts(chunk.buf.add(pos), end - pos) };
            let h = crate::protocol::frame::parse_header(bytes).ok().flatten()?;
            frames += 1;
            body += h.body_len as usize;
            pos += h.frame_len() as usize;
            if !h.more() {
                return Some((frames, body));
            }
        }
    }

    /// Consume `n` bytes (frames already read, or bytes the kernel accepted).
    #[inline]
    pub(crate) fn consume(&mut self, mut n: usize) {
        while n > 0 {
            let avail = self.peek().len();
            assert!(avail > 0, "consume past committed data");
            let k = avail.min(n);
            if self.at_ext() {
                self.ext_off += k;
                if self.ext_off == self.ext[0].data.len() {
                    self.ext.pop_front();
                    self.ext_off = 0;
                }
            } else {
                self.rpos += k;
            }
            n -= k;
        }
    }

    /// Count `n` messages as read; publishes the count in batches. Returns true if a writer
    /// blocked at HWM must be woken (the caller notifies it).
    #[inline]
    pub(crate) fn credit(&mut self, n: u64) -> bool {
        self.msgs_read += n;
        if self.msgs_read - self.msgs_published >= self.credit_batch {
            return self.publish_credit();
        }
        false
    }

    /// Count messages up to a total the writer committed (the reactor learns counts from
    /// `msgs_committed` snapshots rather than parsing what it sent). Returns as `credit`.
    pub(crate) fn credit_to(&mut self, total: u64) -> bool {
        if total > self.msgs_read {
            self.msgs_read = total;
        }
        self.publish_credit()
    }

    /// Publish the read count now (the reader drained the pipe or is about to wait).
    pub(crate) fn publish_credit(&mut self) -> bool {
        if self.msgs_published == self.msgs_read {
            return false;
        }
        self.msgs_published = self.msgs_read;
        self.shared
            .msgs_read
            .store(self.msgs_read, Ordering::Release);
        fence(Ordering::SeqCst);
        self.shared.writer_waiting.load(Ordering::Relaxed)
            && self.shared.writer_waiting.swap(false, Ordering::SeqCst)
    }

    /// Messages the writer has committed (a lower bound of what is readable).
    pub(crate) fn msgs_committed(&self) -> u64 {
        self.shared.msgs_committed.load(Ordering::Acquire)
    }

    /// Messages read so far (what `credit` counted).
    pub(crate) fn msgs_read(&self) -> u64 {
        self.msgs_read
    }

    /// Stop looking at this pipe. Returns true if data arrived meanwhile and the caller still
    /// owns the "active" state (it must keep reading); false means either the pipe is empty or
    /// the writer re-activated it and will send a notification.
    /// Publish credit first (`publish_credit`) if the writer may be waiting for it.
    pub(crate) fn deactivate(&mut self) -> bool {
        self.shared.reader_active.store(false, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if self.peek().is_empty() {
            return false;
        }
        !self.shared.reader_active.swap(true, Ordering::SeqCst)
    }

    /// The writer closed the pipe (check after `peek` returned empty).
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// The writer has been dropped or closed and everything committed was read.
    pub(crate) fn is_finished(&mut self) -> bool {
        self.is_closed() && self.peek().is_empty()
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.shared.reader_gone.store(true, Ordering::Release);
        // Wake a writer blocked at HWM: nothing will ever be read again.
        self.shared.msgs_read.store(u64::MAX / 2, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    /// `normal`, or the much smaller `miri` under Miri (which runs ~1000x slower).
    const fn size(normal: usize, miri: usize) -> usize {
        if cfg!(miri) {
            miri
        } else {
            normal
        }
    }

    fn drain(r: &mut Reader) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = r.peek();
            if b.is_empty() {
                return out;
            }
            let n = b.len();
            out.extend_from_slice(b);
            r.consume(n);
        }
    }

    #[test]
    fn uncommitted_bytes_are_invisible() {
        let (mut w, mut r) = pipe(0);
        w.write_frame(&[0, 3], b"abc");
        assert!(r.peek().is_empty());
        assert!(w.commit(1));
        assert_eq!(r.peek(), &[0, 3, b'a', b'b', b'c']);
    }

    /// Capacity of the chunk the writer is filling.
    fn cur_cap(w: &Writer) -> usize {
        // SAFETY: test-only read of the writer's own live chunk.
        unsafe { (*w.cur).cap }
    }

    #[test]
    fn reservation_takes_memory_only_as_bytes_arrive() {
        let (mut w, mut r) = pipe(0);
        w.write_frame(&[0, 1], b"a");
        w.commit(1);
        // A peer announces an absurd frame: the reservation starts small.
        w.begin_fill(1 << 62).unwrap();
        assert!(cur_cap(&w) <= FILL_STEP, "{}", cur_cap(&w));
        w.rollback();
        // A real 1 MiB frame arriving in 10 KiB pieces grows its chunk and arrives intact.
        let body: Vec<u8> = (0..size(1 << 20, 140_000)).map(|i| (i * 7) as u8).collect();
        w.begin_fill(body.len()).unwrap();
        for piece in body.chunks(10_000) {
            w.fill(piece).unwrap();
            assert!(cur_cap(&w) <= 2 * w.wpos.max(FILL_STEP));
        }
        assert_eq!(cur_cap(&w), body.len());
        w.commit(1);
        let mut want = vec![0, 1, b'a'];
        want.extend_from_slice(&body);
        assert_eq!(drain(&mut r), want);
    }

    #[test]
    fn reservation_that_fits_stays_in_the_current_chunk() {
        let (mut w, mut r) = pipe(0);
        w.write_frame(&[0, 1], b"a");
        let chunk = w.cur;
        w.begin_fill(100).unwrap();
        assert_eq!(w.cur, chunk);
        w.fill(&[0, 98]).unwrap();
        w.fill(&[5; 98]).unwrap();
        w.commit(2);
        let mut want = vec![0, 1, b'a', 0, 98];
        want.extend_from_slice(&[5; 98]);
        assert_eq!(drain(&mut r), want);
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "Miri reports a refused allocation as resource exhaustion"
    )]
    fn impossible_sizes_are_errors_not_aborts() {
        // black_box: the optimizer may otherwise assume an unused allocation succeeds.
        assert!(zeroed_bytes(std::hint::black_box(usize::MAX)).is_none());
        assert!(zeroed_bytes(std::hint::black_box(0)).is_none());
        let c = Chunk::try_alloc(std::hint::black_box(isize::MAX as usize));
        assert!(std::hint::black_box(c).is_none());
    }

    #[test]
    fn large_frame_chunks_are_not_kept_as_spares() {
        let (mut w, mut r) = pipe(0);
        w.write_frame(&[], &vec![1u8; MAX_CHUNK * 2]);
        w.commit(1);
        w.write_frame(&[], b"x");
        w.commit(1);
        assert_eq!(drain(&mut r).len(), MAX_CHUNK * 2 + 1);
        for s in &w.shared.spare {
            let c = s.load(Ordering::Acquire);
            // SAFETY: spares are live chunks owned by the pipe.
            assert!(c.is_null() || unsafe { (*c).cap } <= MAX_CHUNK);
        }
    }

    #[test]
    fn rollback_discards_across_chunks() {
        let (mut w, mut r) = pipe(0);
        w.write_frame(&[0, 1], b"x");
        w.commit(1);
        // Spill over several chunks without committing.
        for _ in 0..size(50, 5) {
            w.write_frame(&[], &[7u8; 10_000]);
        }
        w.rollback();
        w.write_frame(&[0, 1], b"y");
        w.commit(1);
        assert_eq!(drain(&mut r), vec![0, 1, b'x', 0, 1, b'y']);
    }

    #[test]
    fn commit_marked_hides_the_unfinished_message() {
        let (mut w, mut r) = pipe(0);
        w.write_frame(&[0, 1], b"a");
        w.mark();
        // An unfinished multipart message that spills into new chunks.
        for _ in 0..20 {
            w.write_frame(&[1], &[9u8; 5000]);
        }
        assert!(w.commit_marked(1));
        assert_eq!(drain(&mut r), vec![0, 1, b'a']);
        w.write_frame(&[0, 1], b"z");
        w.commit(1);
        let rest = drain(&mut r);
        assert_eq!(rest.len(), 20 * 5001 + 3);
        assert_eq!(&rest[rest.len() - 3..], &[0, 1, b'z']);
    }

    #[test]
    fn frames_never_straddle_chunks_and_order_is_kept() {
        let (mut w, mut r) = pipe(0);
        let mut expect = Vec::new();
        for i in 0..size(10_000, 300) as u32 {
            let body = vec![(i % 251) as u8; (i % 700) as usize];
            w.write_frame(&i.to_be_bytes(), &body);
            expect.extend_from_slice(&i.to_be_bytes());
            expect.extend_from_slice(&body);
            if i % 7 == 0 {
                w.commit(7);
            }
        }
        w.commit(1);
        assert_eq!(drain(&mut r), expect);
    }

    #[test]
    fn hwm_counts_messages_and_credit_releases() {
        let (mut w, mut r) = pipe(4);
        for _ in 0..4 {
            assert!(!w.is_full());
            w.write_frame(&[0, 0], &[]);
            w.commit(1);
        }
        assert!(w.is_full());
        assert!(w.wait_for_space());
        r.consume(4);
        assert!(r.credit(1), "waiting writer must be reported");
        assert!(!w.is_full());
    }

    #[test]
    fn deactivate_sees_late_data() {
        let (mut w, mut r) = pipe(0);
        assert!(!r.deactivate());
        w.write_frame(&[0, 0], &[]);
        assert!(w.commit(1), "inactive reader must be notified");
        assert!(!w.commit(0), "already notified");
        assert!(r.deactivate(), "data pending: reader keeps ownership");
    }

    #[test]
    fn peek_iov_spans_chunks_in_order() {
        let (mut w, mut r) = pipe(0);
        let mut expect = Vec::new();
        for i in 0..100u8 {
            let body = vec![i; 3000];
            w.write_frame(&[], &body);
            expect.extend_from_slice(&body);
        }
        w.commit(100);
        let mut got = Vec::new();
        loop {
            let mut iov = Vec::new();
            let n = r.peek_iov(&mut iov, 1 << 20, 64);
            if n == 0 {
                break;
            }
            for v in &iov {
                // SAFETY: iovecs point at committed bytes that are not consumed yet.
                got.extend_from_slice(unsafe {
                    std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len)
                });
            }
            r.consume(n);
        }
        assert_eq!(got, expect);
    }

    #[test]
    fn threads_stream_a_million_frames() {
        let (mut w, mut r) = pipe(1000);
        let t = thread::spawn(move || {
            for i in 0..size(1_000_000, 2_000) as u32 {
                while w.is_full() {
                    std::hint::spin_loop();
                }
                w.write_frame(&[], &i.to_le_bytes());
                w.commit(1);
            }
        });
        let mut next = 0u32;
        while next < size(1_000_000, 2_000) as u32 {
            let b = r.peek();
            if b.is_empty() {
                r.publish_credit();
                std::hint::spin_loop();
                continue;
            }
            let n = b.len() / 4;
            for c in b.chunks_exact(4) {
                assert_eq!(u32::from_le_bytes(c.try_into().unwrap()), next);
                next += 1;
            }
            r.consume(n * 4);
            r.credit(n as u64);
        }
        t.join().unwrap();
    }

    /// Everything `peek_iov` offers, consumed `step` bytes at a time (partial sends).
    fn drain_iov(r: &mut Reader, max: usize, max_iov: usize, step: usize) -> Vec<u8> {
        let mut got = Vec::new();
        loop {
            let mut iov = Vec::new();
            let n = r.peek_iov(&mut iov, max, max_iov);
            if n == 0 {
                return got;
            }
            let mut bytes = Vec::new();
            for v in &iov {
                // SAFETY: iovecs point at committed bytes (or held shared bodies) not yet
                // consumed.
                bytes.extend_from_slice(unsafe {
                    std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len)
                });
            }
            assert_eq!(bytes.len(), n);
            let k = n.min(step);
            got.extend_from_slice(&bytes[..k]);
            r.consume(k);
        }
    }

    /// Frames with shared bodies interleaved with copied ones, across chunk boundaries, read
    /// through `peek_iov` with partial consumption and through `peek`, give the same stream
    /// as if every body had been copied.
    #[test]
    fn shared_bodies_splice_into_the_stream() {
        for (max, max_iov, step) in [(1 << 20, 64, usize::MAX), (5000, 3, 777), (64, 2, 1)] {
            let (mut w, mut r) = pipe(0);
            let (mut w2, mut r2) = pipe(0);
            let mut expect = Vec::new();
            // Under Miri: 21 smaller frames (the byte-at-a-time drain dominates).
            for i in 0..size(60, 21) as u8 {
                let body: SharedBytes = vec![i; size(1000, 100) + size(97, 9) * i as usize].into();
                let hdr = [i, 0xAA];
                if i % 3 == 0 {
                    w.write_frame(&hdr, &body);
                } else {
                    w.write_shared(&hdr, &body);
                }
                w2.write_shared(&hdr, &body);
                expect.extend_from_slice(&hdr);
                expect.extend_from_slice(&body);
                if i % 7 == 6 {
                    w.commit(7);
                    w2.commit(7);
                }
            }
            w.commit(0);
            w2.commit(0);
            assert_eq!(drain_iov(&mut r, max, max_iov, step), expect);
            assert_eq!(drain(&mut r2), expect);
            assert!(r.peek().is_empty() && r.ext.is_empty());
        }
    }

    #[test]
    fn rollback_drops_uncommitted_shared_bodies() {
        let (mut w, mut r) = pipe(0);
        let body: SharedBytes = vec![7u8; 10_000].into();
        w.write_shared(&[1, 2], &body);
        w.commit(1);
        w.write_shared(&[3, 4], &body);
        w.rollback();
        w.write_frame(&[5], b"x");
        w.commit(1);
        let mut expect = vec![1, 2];
        expect.extend_from_slice(&body);
        expect.extend_from_slice(&[5, b'x']);
        assert_eq!(drain(&mut r), expect);
        drop(w);
        drop(r);
        assert_eq!(
            SharedBytes::strong_count(&body),
            1,
            "every reference released"
        );
    }

    #[test]
    fn threads_stream_shared_and_copied_frames() {
        let (mut w, mut r) = pipe(64);
        let n = size(20_000, 120) as u32;
        let span = size(9000, 1500);
        let t = thread::spawn(move || {
            for i in 0..n {
                while w.is_full() {
                    std::hint::spin_loop();
                }
                let body: SharedBytes = vec![(i % 251) as u8; 1 + (i as usize * 37) % span].into();
                let hdr = i.to_le_bytes();
                if i % 2 == 0 {
                    w.write_shared(&hdr, &body);
                } else {
                    w.write_frame(&hdr, &body);
                }
                w.commit(1);
            }
        });
        let mut next = 0u32;
        let mut buf = Vec::new();
        while next < n {
            let mut iov = Vec::new();
            let got = r.peek_iov(&mut iov, 1 << 16, 16);
            if got == 0 {
                r.publish_credit();
                std::hint::spin_loop();
                continue;
            }
            for v in &iov {
                // SAFETY: as in `drain_iov`.
                buf.extend_from_slice(unsafe {
                    std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len)
                });
            }
            r.consume(got);
            // Parse whole records: 4-byte index + body.
            loop {
                let len = 1 + (next as usize * 37) % span;
                if buf.len() < 4 + len {
                    break;
                }
                assert_eq!(u32::from_le_bytes(buf[..4].try_into().unwrap()), next);
                assert!(buf[4..4 + len].iter().all(|&b| b == (next % 251) as u8));
                buf.drain(..4 + len);
                next += 1;
                r.credit(1);
            }
        }
        t.join().unwrap();
    }
}
