//! The consuming end of a pipe: reads published bytes in place (or as iovecs for a send),
//! recycles chunks it moved past, and publishes read counts (credit) in batches.

use super::{Chunk, Ext, OwnedFrame, Shared, SharedBytes, MAX_CHUNK};
use crate::sync::{fence, Arc, Ordering};
use std::collections::VecDeque;
use std::ptr;

/// The consuming end.
pub(crate) struct Reader {
    shared: Arc<Shared>,
    cur: *mut Chunk,
    rpos: usize,
    /// Bytes of `cur` below this are known readable (a published `end`, or the next shared
    /// body, seen by an earlier `peek`): `peek` returns `rpos..ready` without looking at
    /// the shared state again. The receive path peeks three times per message; the full
    /// look (atomic loads, the shared-body queue) cost about 150 instructions a message.
    ready: usize,
    /// Shared bodies taken from `Shared::ext`, in stream order, and how much of the first one
    /// was consumed.
    pub(super) ext: VecDeque<Ext>,
    ext_off: usize,
    msgs_read: u64,
    msgs_published: u64,
    credit_batch: u64,
}

// SAFETY: the reader is the unique consumer; its chunk pointers follow the module protocol.
unsafe impl Send for Reader {}

impl Reader {
    pub(super) fn new(shared: Arc<Shared>, credit_batch: u64) -> Reader {
        Reader {
            shared,
            cur: ptr::null_mut(),
            rpos: 0,
            ready: 0,
            ext: VecDeque::new(),
            ext_off: 0,
            msgs_read: 0,
            msgs_published: 0,
            credit_batch,
        }
    }

    pub(super) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

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
        if self.rpos < self.ready {
            // SAFETY: `ready > 0` only while `cur` is the live chunk it was computed for
            // (cleared when `cur` changes), and it never exceeds a published `end`: those
            // bytes are complete and not written again until this reader recycles the chunk.
            // Shared bodies below it were all queued when it was computed (they are published
            // before the bytes that follow them), so it stops at the first one.
            return unsafe {
                std::slice::from_raw_parts((*self.cur).buf.add(self.rpos), self.ready - self.rpos)
            };
        }
        self.peek_slow()
    }

    #[inline(never)]
    fn peek_slow(&mut self) -> &[u8] {
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
                self.ready = limit;
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
            self.ready = 0;
            self.shared.head.store(next, Ordering::Relaxed);
            // Park the chunk in a free spare slot; if all are taken, free it. A chunk made
            // for one large frame is freed too: it would otherwise pin that much memory (and
            // a chunk whose memory an `OwnedFrame` took is always one of these).
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
    /// Shared bodies the iovecs point into are cloned into `bodies` (the lease keeps them).
    /// Only `SendLease` calls this: the iovecs are valid only while consumption is barred.
    pub(super) fn peek_iov(
        &mut self,
        iov: &mut Vec<libc::iovec>,
        bodies: &mut Vec<SharedBytes>,
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
                // SAFETY: `ext_off < len`; the clone pushed into `bodies` (the lease's) keeps
                // the bytes alive for as long as the iovec is used.
                iov_base: unsafe { e.data.as_ptr().add(self.ext_off) } as *mut libc::c_void,
                iov_len: take,
            });
            bodies.push(e.data.clone());
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
                        bodies.push(e.data.clone());
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

    /// Hand over the frame at the read position (`frame_len` bytes, the body from
    /// `header_len`; the caller parsed its header from `peek`) without copying it, when it
    /// fills a chunk of its own larger than `MAX_CHUNK`: such a chunk is freed, not
    /// recycled, once the reader moves past it, so giving its memory away costs the pipe
    /// nothing. Returns None (and changes nothing) for any other frame. The frame is not
    /// consumed: the caller consumes it as usual.
    pub(crate) fn take_frame(&mut self, frame_len: usize, header_len: usize) -> Option<OwnedFrame> {
        if self.rpos != 0 || self.cur.is_null() || frame_len <= MAX_CHUNK || self.at_ext() {
            return None;
        }
        // SAFETY: `cur` is the live chunk the caller just peeked the whole frame from, so its
        // `end` (published with `Release`, loaded with `Acquire` by that peek) covers
        // `frame_len` bytes; `buf` and `cap` were last written before that publication.
        let chunk = unsafe { &*self.cur };
        if chunk.cap != frame_len || chunk.taken.load(Ordering::Relaxed) {
            return None;
        }
        // The frame fills the chunk: the writer has no room left in it, so it never writes
        // these bytes again (its further stores touch only `end` and `next`), and the reader
        // frees only the header once it moves past (`Chunk::free` checks `taken`).
        chunk.taken.store(true, Ordering::Relaxed);
        // SAFETY: the chunk's buffer came from `zeroed_bytes` (grown by `realloc` to `cap`),
        // every byte of it is the published frame, nothing writes it again (above), and
        // `taken` moves the duty to free it to the `OwnedFrame`.
        Some(unsafe { OwnedFrame::new(chunk.buf, chunk.cap, header_len) })
    }

    /// Consume `n` bytes (frames already read, or bytes the kernel accepted).
    #[inline]
    pub(crate) fn consume(&mut self, mut n: usize) {
        // The kernel may be reading these bytes (see `SendLease`).
        assert!(
            !self.shared.send_leased.load(Ordering::Acquire),
            "pipe consumed while a send lease points into it"
        );
        if self.rpos + n <= self.ready {
            // Within what `peek` last saw of this chunk (plain bytes, no shared body).
            self.rpos += n;
            return;
        }
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
