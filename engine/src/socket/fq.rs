//! Fair queueing (libzmq's fq): receive from the peers whose pipes hold data in turn, one
//! message each, and notice connections that ended once their data was read.

#![forbid(unsafe_code)]

use super::core::{Core, Deadline, Routing};
use crate::error::{Error, Result};
use crate::protocol::frame;

/// A batch receive's destination: frames packed into `buf`, their lengths in `lens`, and
/// optionally whether each continues its message.
pub(super) struct BatchOut<'a> {
    pub(super) buf: &'a mut [u8],
    pub(super) lens: &'a mut [usize],
    pub(super) more: Option<&'a mut [bool]>,
    pub(super) cap: usize,
    pub(super) frames: usize,
    pub(super) used: usize,
}

impl BatchOut<'_> {
    /// Room for `frames` more frames of `bytes` in all? Fails if not even the first message
    /// fits.
    pub(super) fn fits(&self, frames: usize, bytes: usize) -> Result<bool> {
        if self.frames + frames <= self.cap && self.used + bytes <= self.buf.len() {
            return Ok(true);
        }
        if self.frames > 0 {
            return Ok(false);
        }
        Err(if frames > self.cap {
            Error::invalid("lens array too small for one message")
        } else {
            Error::MessageTooLarge(bytes)
        })
    }

    pub(super) fn push(&mut self, part: &[u8], more: bool) {
        self.buf[self.used..self.used + part.len()].copy_from_slice(part);
        self.lens[self.frames] = part.len();
        if let Some(m) = self.more.as_deref_mut() {
            m[self.frames] = more;
        }
        self.used += part.len();
        self.frames += 1;
    }
}

/// What `take_run` did.
enum Run {
    /// Took one or more messages; look for more.
    Took,
    /// The batch is full.
    Full,
    /// The head message does not lie whole in one piece of the pipe: the per-message path
    /// takes it.
    Piecemeal,
}

thread_local! {
    /// The address of the body of the frame `read_taking` handed over last on this thread:
    /// how `Socket::recv_msg`'s callback, which cannot see the socket, tells that frame from
    /// one it must copy (a pattern may also deliver frames from its own memory).
    static TAKEN: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Whether `body` is the frame handed over last (it lives in `Core::taken`).
pub(super) fn taken_body(body: &[u8]) -> bool {
    TAKEN.with(|c| c.get()) == body.as_ptr() as usize
}

/// Forget the last hand-over (its memory may be freed and reused).
pub(super) fn clear_taken() {
    TAKEN.with(|c| c.set(0));
}

impl Core {
    pub(super) fn mark_active(&mut self, slot: usize) {
        if let Some(p) = self.peers.get_mut(slot) {
            if !p.in_active {
                p.in_active = true;
                self.active.push_back(slot);
            }
        }
    }

    /// The peer to read the next frame from, if any frame is ready.
    #[inline]
    pub(super) fn next_in<H: Routing>(&mut self, h: &mut H) -> Option<usize> {
        if let Some(s) = self.cur_in {
            return Some(s);
        }
        self.process_inbox(h);
        while let Some(&s) = self.active.front() {
            let p = &mut self.peers[s];
            if !p.inn.peek().is_empty() {
                return Some(s);
            }
            // Hand back all read credit before going idle: the reactor may be paused on it.
            if p.inn.publish_credit() {
                self.hub.resume(&p.link, p.id);
            }
            if p.inn.deactivate() {
                continue;
            }
            self.active.pop_front();
            p.in_active = false;
            if p.inn.is_finished() {
                // The connection is gone and everything it delivered was read.
                h.closed(self, s);
                self.remove_peer(h, s);
            }
        }
        None
    }

    /// The next message start from any peer that the pattern accepts, waiting per
    /// `nowait`/`deadline`.
    #[inline]
    pub(super) fn next_message<H: Routing>(
        &mut self,
        h: &mut H,
        nowait: bool,
        deadline: &mut Deadline,
    ) -> Result<usize> {
        loop {
            if let Some(s) = self.next_in(h) {
                if self.cur_in.is_some() || h.accept(self, s) {
                    return Ok(s);
                }
                continue;
            }
            if nowait {
                return Err(Error::Again);
            }
            self.wait(deadline.get())?;
        }
    }

    /// Read one frame with `f(body, more)`, blocking per flags/RCVTIMEO.
    #[inline]
    pub(super) fn recv_frame<H: Routing, R>(
        &mut self,
        h: &mut H,
        flags: i32,
        mut f: impl FnMut(&[u8], bool) -> R,
    ) -> Result<R> {
        let nowait = self.rcv_nowait(flags);
        let mut deadline = Deadline::new(self.opts.rcvtimeo);
        let s = self.next_message(h, nowait, &mut deadline)?;
        Ok(self.read_frame(s, &mut f))
    }

    /// Whether a message can be received now (POLLIN).
    pub(super) fn has_in<H: Routing>(&mut self, h: &mut H) -> bool {
        if self.cur_in.is_some() {
            return true;
        }
        while let Some(s) = self.next_in(h) {
            if h.accept(self, s) {
                return true;
            }
        }
        false
    }

    /// Read the next frame from peer `s` (which has one). Always inlined: it is the body of
    /// the per-message receive path.
    #[inline(always)]
    pub(super) fn read_frame<R>(&mut self, s: usize, f: &mut impl FnMut(&[u8], bool) -> R) -> R {
        let p = &mut self.peers[s];
        let buf = p.inn.peek();
        let h = frame::parse_header(buf)
            .ok()
            .flatten()
            .expect("inbound pipe holds whole frames");
        let end = h.frame_len() as usize;
        let more = h.more();
        let (r, p) = if self.take && end > crate::pipe::MAX_CHUNK {
            let r = self.read_taking(s, h.header_len, end, more, f);
            (r, &mut self.peers[s])
        } else {
            (f(&buf[h.header_len..end], more), p)
        };
        p.inn.consume(end);
        self.rcvmore = more;
        if more {
            self.cur_in = Some(s);
        } else {
            self.cur_in = None;
            if p.inn.credit(1) {
                self.hub.resume(&p.link, p.id);
            }
            // Fair queueing: the next message comes from the next peer.
            if self.active.len() > 1 && self.active.front() == Some(&s) {
                self.active.pop_front();
                self.active.push_back(s);
            }
        }
        r
    }

    /// `read_frame` of a large frame for `Socket::recv_msg`: the frame's memory is handed
    /// over from the pipe when it has a chunk of its own (`Reader::take_frame`), and
    /// `f` sees the body in that memory, which [`taken_body`] then recognises.
    #[inline(never)]
    fn read_taking<R>(
        &mut self,
        s: usize,
        header_len: usize,
        end: usize,
        more: bool,
        f: &mut impl FnMut(&[u8], bool) -> R,
    ) -> R {
        let p = &mut self.peers[s];
        if let Some(t) = p.inn.take_frame(end, header_len) {
            let body = t.body();
            TAKEN.with(|c| c.set(body.as_ptr() as usize));
            let r = f(body, more);
            self.taken = Some(t);
            return r;
        }
        let buf = p.inn.peek();
        f(&buf[header_len..end], more)
    }

    /// Consume the rest of a message from `s` (the current frame had MORE).
    pub(super) fn discard_rest(&mut self, s: usize) {
        while self.cur_in == Some(s) {
            self.read_frame(s, &mut |_: &[u8], _| ());
        }
    }

    /// Consume one whole message from peer `s`.
    pub(super) fn discard_message(&mut self, s: usize) {
        while self.read_frame(s, &mut |_: &[u8], m| m) {}
    }

    /// CONFLATE: skip to the newest message queued by peer `s`; false if none is left.
    #[inline(never)]
    pub(super) fn conflate(&mut self, s: usize) -> bool {
        loop {
            let p = &mut self.peers[s];
            if p.inn.msgs_committed().saturating_sub(p.inn.msgs_read()) <= 1 {
                break;
            }
            self.discard_message(s);
        }
        !self.peers[s].inn.peek().is_empty()
    }

    /// The batch receive's fast path: the whole messages at the head of peer `s`'s pipe
    /// that lie in one contiguous piece, copied out in one pass with one `consume` and one
    /// `credit` (the per-message path peeks, parses, consumes and credits each frame).
    /// `filter` (SUB's, on the first frame) drops messages, which are consumed and counted
    /// too; a run of one topic asks once.
    #[inline]
    fn take_run(
        &mut self,
        s: usize,
        out: &mut BatchOut<'_>,
        routed: bool,
        filter: Option<impl Fn(&[u8]) -> bool>,
    ) -> Result<Run> {
        let p = &mut self.peers[s];
        let rid: &[u8] = if routed { &p.rid } else { &[] };
        let buf = p.inn.peek();
        let (mut off, mut n) = (0, 0u64);
        let mut stop = None;
        let mut last: Option<(&[u8], bool)> = None;
        while let Some(m) = whole_message(buf, off) {
            let head = &buf[off + m.head_at..off + m.head_end];
            // Only a filtering socket looks at the head (comparing it with the last one
            // cost a 64 B message a fifth of its instructions on PAIR).
            let kept = match &filter {
                None => true,
                Some(keep) => match last {
                    Some((h, k)) if h == head => k,
                    _ => {
                        let k = keep(head);
                        last = Some((head, k));
                        k
                    }
                },
            };
            if kept {
                match out.fits(m.frames + usize::from(routed), rid.len() + m.bytes) {
                    Ok(true) => {}
                    Ok(false) => {
                        stop = Some(Ok(Run::Full));
                        break;
                    }
                    Err(e) => {
                        stop = Some(Err(e));
                        break;
                    }
                }
                if routed {
                    out.push(rid, true);
                }
                if m.frames == 1 {
                    // Its one frame is the head: no second parse.
                    out.push(head, false);
                    off = m.end;
                    n += 1;
                    continue;
                }
                let mut at = off;
                while at < m.end {
                    let h = frame::parse_header(&buf[at..])
                        .ok()
                        .flatten()
                        .expect("scanned by whole_message");
                    let fe = at + h.frame_len() as usize;
                    out.push(&buf[at + h.header_len..fe], h.more());
                    at = fe;
                }
            }
            off = m.end;
            n += 1;
        }
        if n > 0 {
            p.inn.consume(off);
            self.rcvmore = false;
            if p.inn.credit(n) {
                self.hub.resume(&p.link, p.id);
            }
        }
        match stop {
            Some(r) => r,
            None if n > 0 => Ok(Run::Took),
            None => Ok(Run::Piecemeal),
        }
    }

    /// Start a batch receive: checks shared by every pattern that supports it.
    pub(super) fn batch_out<'a>(
        &self,
        buf: &'a mut [u8],
        lens: &'a mut [usize],
        more: Option<&'a mut [bool]>,
    ) -> Result<BatchOut<'a>> {
        if self.cur_in.is_some() {
            // A message was partly read with recv(): batches deal in whole messages.
            return Err(Error::State);
        }
        let cap = match more.as_deref() {
            Some(m) => lens.len().min(m.len()),
            None => lens.len(),
        };
        if cap == 0 {
            return Err(Error::invalid("no room for lengths"));
        }
        Ok(BatchOut {
            buf,
            lens,
            more,
            cap,
            frames: 0,
            used: 0,
        })
    }

    /// Receive whole messages into `out` while they fit, blocking per flags/RCVTIMEO until
    /// at least one is there. `routed`: each message starts with the peer's routing id.
    /// The pattern's notices (STREAM) are packed first, as `[peer id][payload]` messages.
    pub(super) fn recv_batch<H: Routing>(
        &mut self,
        h: &mut H,
        out: &mut BatchOut<'_>,
        flags: i32,
        routed: bool,
    ) -> Result<usize> {
        let queued = |h: &mut H| h.notices().is_some_and(|q| !q.is_empty());
        let nowait = self.rcv_nowait(flags);
        let mut deadline = Deadline::new(self.opts.rcvtimeo);
        loop {
            loop {
                if let Some(q) = h.notices() {
                    while let Some((rid, payload)) = q.front() {
                        if !out.fits(2, rid.len() + payload.len())? {
                            return Ok(out.frames);
                        }
                        out.push(rid, true);
                        out.push(payload, false);
                        q.pop_front();
                    }
                }
                let Some(s) = self.next_in(h) else {
                    if !queued(h) {
                        break;
                    }
                    continue; // a peer attached meanwhile: its notification first
                };
                if queued(h) {
                    continue;
                }
                // One peer with data (PAIR, or one busy connection of many): take what lies
                // in one piece of its pipe in one pass, filtering as `accept` would (without
                // CONFLATE, `accept` is only SUB's filter). With several, one message each
                // in turn, as libzmq's fair queueing does.
                if self.active.len() == 1 && !self.opts.conflate {
                    let invert = self.opts.invert_matching;
                    let keep = |head: &[u8]| h.keeps(head, invert);
                    let filter = h.filters().then_some(keep);
                    match self.take_run(s, out, routed, filter)? {
                        Run::Took => continue,
                        Run::Full => return Ok(out.frames),
                        Run::Piecemeal => {}
                    }
                }
                if !h.accept(self, s) {
                    continue;
                }
                let Some((nf, body)) = self.peers[s].inn.scan_message() else {
                    break;
                };
                let rid_len = if routed { self.peers[s].rid.len() } else { 0 };
                if !out.fits(nf + usize::from(routed), body + rid_len)? {
                    return Ok(out.frames);
                }
                if routed {
                    out.push(&self.peers[s].rid, true);
                }
                while self.read_frame(s, &mut |body: &[u8], m| {
                    out.push(body, m);
                    m
                }) {}
            }
            if out.frames > 0 {
                return Ok(out.frames);
            }
            if nowait {
                return Err(Error::Again);
            }
            self.wait(deadline.get())?;
        }
    }
}

/// Where one whole message at `off` of a contiguous piece lies.
struct Whole {
    /// Its first frame's body (`head_at..head_end`, relative to `off`).
    head_at: usize,
    head_end: usize,
    /// Where it ends (absolute), its frame count and body bytes.
    end: usize,
    frames: usize,
    bytes: usize,
}

/// The message starting at `off` of `buf`, if it lies there whole.
#[inline]
fn whole_message(buf: &[u8], off: usize) -> Option<Whole> {
    let mut at = off;
    let mut w = Whole {
        head_at: 0,
        head_end: 0,
        end: 0,
        frames: 0,
        bytes: 0,
    };
    loop {
        let h = frame::parse_header(buf.get(at..)?).ok().flatten()?;
        let fe = at + h.frame_len() as usize;
        if fe > buf.len() {
            return None;
        }
        if w.frames == 0 {
            w.head_at = h.header_len;
            w.head_end = fe - off;
        }
        w.frames += 1;
        w.bytes += h.body_len as usize;
        at = fe;
        if !h.more() {
            w.end = at;
            return Some(w);
        }
    }
}
