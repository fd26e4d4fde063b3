//! The producing end of a pipe: appends frames privately, publishes them at message
//! boundaries, and waits at HWM.

use super::{AllocFailed, Chunk, Ext, Shared, SharedBytes, FILL_STEP, FIRST_CHUNK, MAX_CHUNK};
use crate::sync::{fence, Arc, Ordering};
use std::ptr;

/// The producing end.
pub(crate) struct Writer {
    pub(super) shared: Arc<Shared>,
    /// Chunk being written.
    pub(super) cur: *mut Chunk,
    /// Bytes written into `cur` (some maybe uncommitted).
    pub(super) wpos: usize,
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
    pub(super) fn new(shared: Arc<Shared>) -> Writer {
        Writer {
            shared,
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
        }
    }

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

    /// How many more messages fit below HWM (`u64::MAX` without one); refreshes the
    /// reader's count only when none seem to.
    pub(crate) fn room(&mut self) -> u64 {
        let hwm = self.shared.hwm;
        if hwm == 0 {
            return u64::MAX;
        }
        let used = self.msgs_written.saturating_sub(self.read_cache);
        if used < hwm {
            return hwm - used;
        }
        self.read_cache = self.shared.msgs_read.load(Ordering::Acquire);
        hwm.saturating_sub(self.msgs_written.saturating_sub(self.read_cache))
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
