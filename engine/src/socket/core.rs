//! What every pattern shares: the peer set, the reactor inbox, blocking, the per-message
//! write/commit and batch publication. Patterns (`super::pattern`) decide routing; they
//! see the core through `&mut Core` and hook peer arrival/departure through [`Routing`].

#![forbid(unsafe_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use slab::Slab;

use crate::error::{Error, Result};
use crate::options::SockOpts;
use crate::pipe;
use crate::protocol::{frame, SocketType};
use crate::runtime::hub::Hub;
use crate::runtime::shared::{Link, NewPeer, SocketInbox, SocketShared};

use super::outgoing::Outgoing;
use super::DONTWAIT_BIT;

/// Inline contexts run the reactor from inside send calls so a long run of sends keeps the
/// wire busy without a system call per message: once this many bytes are queued since the
/// last run. 256 messages, whatever their size, was the rule before: 17 KB runs for 64 B
/// messages cost a third of inline throughput (a system call and a short TCP segment per
/// run), while 1024 messages cost 1 KiB messages a quarter (1 MB runs leave the wire idle).
const INLINE_FLUSH_BYTES: usize = 64 * 1024;
/// ... or this many messages (empty messages add no bytes).
const INLINE_FLUSH_MSGS: usize = 4096;
/// Batch calls look at the rule every this many messages (a run of messages for one peer
/// is written with one commit and stops there; see `batch_run`).
pub(super) const INLINE_FLUSH_EVERY: usize = 256;

/// A send/receive timeout, turned into an instant only when the call actually has to wait
/// (no clock read on the fast path).
pub(super) struct Deadline {
    timeo: Option<Duration>,
    at: Option<Instant>,
}

impl Deadline {
    pub(super) fn new(timeo: Option<Duration>) -> Deadline {
        Deadline { timeo, at: None }
    }

    pub(super) fn get(&mut self) -> Option<Instant> {
        let t = self.timeo?;
        Some(*self.at.get_or_insert_with(|| Instant::now() + t))
    }
}

/// One attached connection (or inproc pipe pair).
pub(super) struct Peer {
    pub(super) id: u64,
    pub(super) link: Link,
    pub(super) out: pipe::Writer,
    pub(super) inn: pipe::Reader,
    /// ROUTER/STREAM: the id it is addressed by; other types: the identity it announced.
    pub(super) rid: Vec<u8>,
    pub(super) in_active: bool,
    /// Uncommitted messages written by a batch call.
    pub(super) batch: u64,
    /// Peer introspection: the peer's address and when it was attached.
    pub(super) remote: String,
    pub(super) since: std::time::SystemTime,
}

/// A pattern's say in the peer set's life cycle and in what is received. Statically
/// dispatched (generic core functions), so the hooks cost nothing per message.
pub(super) trait Routing {
    /// The id a new peer is known by, or None to refuse it.
    fn admit(&mut self, _core: &mut Core, p: &NewPeer) -> Option<Vec<u8>> {
        Some(p.identity.clone())
    }

    /// The peer in `slot` was added.
    fn attached(&mut self, _core: &mut Core, _slot: usize) {}

    /// The peer in `slot` is about to be removed.
    fn detached(&mut self, _core: &mut Core, _slot: usize) {}

    /// The connection of `slot` ended and all it delivered was read (it is removed next).
    fn closed(&mut self, _core: &mut Core, _slot: usize) {}

    /// Whether the message at the head of `slot`'s pipe is delivered (false: it was
    /// dropped, look again). SUB filtering and CONFLATE.
    #[inline]
    fn accept(&mut self, _core: &mut Core, _slot: usize) -> bool {
        true
    }

    /// Whether `accept` may drop a message for its content (SUB filtering); CONFLATE is
    /// checked by the caller. A batch receive's runs then ask `keeps` per message.
    #[inline]
    fn filters(&self) -> bool {
        false
    }

    /// `accept`'s content filter as a pure question about a message whose first frame is
    /// `head` (`invert`: INVERT_MATCHING), for a batch receive taking runs of messages.
    #[inline]
    fn keeps(&self, _head: &[u8], _invert: bool) -> bool {
        true
    }

    /// STREAM: connect/disconnect notifications `(peer id, payload)` due before more data.
    fn notices(&mut self) -> Option<&mut VecDeque<(Vec<u8>, Vec<u8>)>> {
        None
    }
}

/// Peer set and plumbing of one socket.
pub(super) struct Core {
    pub(super) hub: Hub,
    pub(super) shared: Arc<SocketShared>,
    pub(super) ty: SocketType,
    pub(super) opts: SockOpts,
    pub(super) peers: Slab<Peer>,
    pub(super) by_id: HashMap<u64, usize>,
    inbox: SocketInbox,
    /// Peers whose inbound pipe may hold data, in fair-queue order (`fq`).
    pub(super) active: VecDeque<usize>,
    /// Peer whose message is being received (mid multipart).
    pub(super) cur_in: Option<usize>,
    pub(super) rcvmore: bool,
    /// Peer of a message being sent, or the rest of the message is discarded (its peer
    /// went away or it is unroutable).
    pub(super) cur_out: Option<usize>,
    pub(super) dropping: bool,
    /// Inline mode: messages committed since the reactor last ran.
    unflushed: u32,
    /// Inline contexts: bytes written to pipes since the reactor last ran.
    pub(super) unflushed_bytes: usize,
    /// Peers with messages published without the notification check (batches); flushed
    /// by `finish_touched`.
    pub(super) touched: Vec<usize>,
    /// Inline context (cached: checked per message).
    pub(super) inline: bool,
    /// Messages sent to / received from peers that are gone (for `Socket::stats`; the live
    /// peers' counts are their pipes').
    pub(super) retired_sent: u64,
    pub(super) retired_received: u64,
    /// Messages dropped: a full peer (PUB, ROUTER) or an unroutable id (ROUTER).
    pub(super) dropped: u64,
    /// During `Socket::send_shared`: the caller's body, referenced by reactor-read pipes
    /// instead of copied into them.
    pub(super) share: Option<Arc<[u8]>>,
    /// During `Socket::recv_msg`: hand a large frame over from its pipe instead of copying
    /// it (`fq::Core::read_frame`), into `taken`.
    pub(super) take: bool,
    pub(super) taken: Option<crate::pipe::OwnedFrame>,
}

impl Core {
    pub(super) fn new(hub: Hub, shared: Arc<SocketShared>) -> Core {
        let inline = hub.is_inline();
        Core {
            hub,
            ty: shared.ty,
            shared,
            opts: SockOpts::default(),
            peers: Slab::new(),
            by_id: HashMap::new(),
            inbox: SocketInbox::default(),
            active: VecDeque::new(),
            cur_in: None,
            rcvmore: false,
            cur_out: None,
            dropping: false,
            unflushed: 0,
            unflushed_bytes: 0,
            touched: Vec::new(),
            inline,
            retired_sent: 0,
            retired_received: 0,
            dropped: 0,
            share: None,
            take: false,
            taken: None,
        }
    }

    pub(super) fn check_term(&self) -> Result<()> {
        if self.hub.is_terminated() {
            return Err(Error::Terminated);
        }
        Ok(())
    }

    /// Whether a receive must not block (DONTWAIT or RCVTIMEO 0).
    #[inline]
    pub(super) fn rcv_nowait(&self, flags: i32) -> bool {
        flags & DONTWAIT_BIT != 0 || self.opts.rcvtimeo == Some(Duration::ZERO)
    }

    /// Whether a send must not block (DONTWAIT or SNDTIMEO 0).
    #[inline]
    pub(super) fn snd_nowait(&self, flags: i32) -> bool {
        flags & DONTWAIT_BIT != 0 || self.opts.sndtimeo == Some(Duration::ZERO)
    }

    // ----- peers -------------------------------------------------------------------------

    /// Attach a connection; false if the pattern refuses it.
    pub(super) fn add_peer<H: Routing>(&mut self, h: &mut H, p: NewPeer) -> bool {
        let Some(rid) = h.admit(self, &p) else {
            return false;
        };
        let id = p.id;
        let slot = self.peers.insert(Peer {
            id,
            link: p.link,
            out: p.out,
            inn: p.inn,
            rid,
            in_active: false,
            batch: 0,
            remote: p.remote,
            since: std::time::SystemTime::now(),
        });
        self.by_id.insert(id, slot);
        h.attached(self, slot);
        // Data may already be waiting.
        self.mark_active(slot);
        true
    }

    /// Attach a connection, or tell its other side it was refused.
    pub(super) fn add_or_reject<H: Routing>(&mut self, h: &mut H, p: NewPeer) {
        let (id, link) = (p.id, p.link.clone());
        if !self.add_peer(h, p) {
            self.hub.reject(&link, id);
        }
    }

    pub(super) fn remove_peer<H: Routing>(&mut self, h: &mut H, slot: usize) {
        h.detached(self, slot);
        let p = self.peers.remove(slot);
        self.retired_sent += p.out.msgs_written();
        self.retired_received += p.inn.msgs_committed();
        self.by_id.remove(&p.id);
        self.active.retain(|&s| s != slot);
        if self.cur_out == Some(slot) {
            self.cur_out = None;
            self.dropping = true;
        }
        if self.cur_in == Some(slot) {
            self.cur_in = None;
        }
    }

    /// Write a one-frame control message (PROBE_ROUTER, XPUB welcome) to a new peer.
    pub(super) fn greet(&mut self, slot: usize, msg: &[u8]) {
        let mut hdr = [0u8; frame::MAX_HEADER];
        let hl = frame::encode_header(&mut hdr, false, false, msg.len() as u64);
        let p = &mut self.peers[slot];
        p.out.write_frame(&hdr[..hl], msg);
        if p.out.commit(1) {
            self.hub.flush(&p.link, p.id);
        }
    }

    /// Apply reactor notifications (new peers, pipe state changes).
    #[inline]
    pub(super) fn process_inbox<H: Routing>(&mut self, h: &mut H) {
        if self.shared.has_pending() {
            self.take_inbox(h);
        }
    }

    #[inline(never)]
    fn take_inbox<H: Routing>(&mut self, h: &mut H) {
        let mut inbox = std::mem::take(&mut self.inbox);
        self.shared.take_inbox(&mut inbox);
        for p in inbox.attach.drain(..) {
            self.add_or_reject(h, p);
        }
        for id in inbox.ready.drain(..) {
            if let Some(&slot) = self.by_id.get(&id) {
                self.mark_active(slot);
            }
        }
        self.inbox = inbox;
    }

    // ----- blocking ----------------------------------------------------------------------

    /// Block until notified or `deadline`; errors with Again at the deadline, Terminated on
    /// shutdown, Interrupted when a signal arrives.
    pub(super) fn wait(&mut self, deadline: Option<Instant>) -> Result<()> {
        self.check_term()?;
        self.unflushed = 0;
        self.unflushed_bytes = 0;
        if self.inline {
            self.finish_touched();
            return self.wait_inline(deadline);
        }
        let spin = self.hub.spin();
        if !spin.is_zero() {
            let until = Instant::now() + spin;
            while Instant::now() < until {
                if self.shared.has_pending() {
                    return Ok(());
                }
                std::hint::spin_loop();
            }
        }
        let parker = &self.shared.parker;
        parker.announce();
        if self.shared.has_pending() {
            parker.clear();
            return Ok(());
        }
        let timeout = match deadline {
            None => None,
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    parker.clear();
                    return Err(Error::Again);
                }
                Some(d - now)
            }
        };
        parker.sleep(timeout)?;
        self.check_term()?;
        Ok(())
    }

    /// Inline mode: lead the reactor until this socket has news, or sleep while another
    /// thread leads it (see `runtime::inline`).
    fn wait_inline(&mut self, deadline: Option<Instant>) -> Result<()> {
        let Some(inline) = self.hub.inline() else {
            return Err(Error::invalid(
                "a single_thread context is used from a thread other than its creator",
            ));
        };
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Error::Again);
        }
        let shared = &self.shared;
        let hub = &self.hub;
        let mut ready = || shared.has_pending() || hub.is_terminated();
        inline.wait(&[&shared.parker], &mut [], deadline, &mut ready)?;
        self.check_term()
    }

    /// Perform pending I/O now without blocking (inline contexts).
    pub(super) fn flush(&mut self) {
        self.unflushed = 0;
        self.unflushed_bytes = 0;
        self.finish_touched();
        self.hub.drive_io();
    }

    pub(super) fn finish_touched(&mut self) {
        let mut touched = std::mem::take(&mut self.touched);
        self.finish_batch(&mut touched);
        self.touched = touched;
    }

    /// Inline mode: after a committed message, let the reactor send every so often so a
    /// long run of sends keeps the wire busy without a syscall per message.
    #[inline]
    pub(super) fn sent_one(&mut self) {
        if self.inline {
            self.unflushed += 1;
            if self.unflushed_bytes >= INLINE_FLUSH_BYTES
                || self.unflushed as usize >= INLINE_FLUSH_MSGS
            {
                self.flush();
            }
        }
    }

    /// Whether some peer can take a new message now; when none can, asks the full ones to
    /// report free space (so `fd` fires when it appears).
    pub(super) fn any_room(&mut self) -> bool {
        for (_, p) in self.peers.iter_mut() {
            if p.out.reader_gone() {
                continue;
            }
            if !p.out.is_full() || !p.out.wait_for_space() {
                return true;
            }
        }
        false
    }

    // ----- writing -----------------------------------------------------------------------

    /// Write one frame to peer `s`; the last frame of a message commits it.
    #[inline]
    pub(super) fn write(&mut self, s: usize, data: &[u8], more: bool) {
        let mut hdr = [0u8; frame::MAX_HEADER];
        let hl = frame::encode_header(&mut hdr, more, false, data.len() as u64);
        self.unflushed_bytes += data.len();
        let p = &mut self.peers[s];
        match &self.share {
            // The reactor sends the body from the caller's buffer (`send_shared`).
            // (Only this very frame: REQ/REP write envelope frames in the same call.)
            Some(body) if matches!(p.link, Link::Reactor(_)) && is_body(body, data) => {
                p.out.write_shared(&hdr[..hl], body)
            }
            _ => p.out.write_frame(&hdr[..hl], data),
        }
        if more {
            return;
        }
        // The fenced commit per message stays even in inline mode: another socket's thread
        // may be the one driving the shared reactor, and only this check tells it.
        if p.out.commit(1) {
            self.hub.flush(&p.link, p.id);
        }
    }

    /// Skip the rest of a message whose peer went away or that is unroutable; true if the
    /// frame was swallowed that way.
    #[inline]
    pub(super) fn swallow(&mut self, more: bool) -> bool {
        if !self.dropping {
            return false;
        }
        if !more {
            self.dropping = false;
        }
        true
    }

    /// Append a message for peer `s` as the `n`-th of a batch: published without
    /// the notification check (`finish_batch` does it once per peer); inline contexts may
    /// run the reactor every `INLINE_FLUSH_EVERY` messages so a long batch keeps the wire
    /// busy.
    pub(super) fn batch_write(
        &mut self,
        s: usize,
        msg: &impl Outgoing,
        touched: &mut Vec<usize>,
        n: usize,
    ) {
        self.unflushed_bytes += msg.write(&mut self.peers[s].out);
        self.batch_commit(s, touched, n);
    }

    /// Commit the batch message just written to peer `s` (see `batch_write`).
    pub(super) fn batch_commit(&mut self, s: usize, touched: &mut Vec<usize>, n: usize) {
        let p = &mut self.peers[s];
        p.out.commit_quiet(1);
        if p.batch == 0 {
            touched.push(s);
        }
        p.batch += 1;
        if self.inline && n % INLINE_FLUSH_EVERY == 0 && self.flush_due(n) {
            self.finish_batch(touched);
            self.flush();
        }
    }

    /// Append messages `item(from..to)` for peer `s`, which has room for all of them,
    /// published with one commit (the batch's fast path when one peer takes everything;
    /// `batch_write` commits each). In inline mode `to` must not pass the next multiple of
    /// `INLINE_FLUSH_EVERY`, where this may start sending as `batch_commit` does. Returns `to`.
    pub(super) fn batch_run<M: Outgoing>(
        &mut self,
        s: usize,
        from: usize,
        to: usize,
        item: &impl Fn(usize) -> M,
        touched: &mut Vec<usize>,
    ) -> usize {
        let p = &mut self.peers[s];
        for i in from..to {
            self.unflushed_bytes += item(i).write(&mut p.out);
        }
        let n = (to - from) as u64;
        p.out.commit_quiet(n);
        if p.batch == 0 {
            touched.push(s);
        }
        p.batch += n;
        if self.inline && to % INLINE_FLUSH_EVERY == 0 && self.flush_due(to) {
            self.finish_batch(touched);
            self.flush();
        }
        to
    }

    /// Inline batch calls, at the `n`-th message (a multiple of `INLINE_FLUSH_EVERY`):
    /// whether to run the reactor now.
    fn flush_due(&self, n: usize) -> bool {
        self.unflushed_bytes >= INLINE_FLUSH_BYTES || n % INLINE_FLUSH_MSGS == 0
    }

    pub(super) fn finish_batch(&mut self, touched: &mut Vec<usize>) {
        for s in touched.drain(..) {
            if let Some(p) = self.peers.get_mut(s) {
                p.batch = 0;
                if p.out.commit(0) {
                    self.hub.flush(&p.link, p.id);
                }
            }
        }
    }

    /// End of a batch call: publish, and in inline mode start sending.
    pub(super) fn end_batch(&mut self, mut touched: Vec<usize>) {
        self.finish_batch(&mut touched);
        self.touched = touched;
        if self.inline {
            self.flush();
        }
    }
}

/// The first result of a batch wins; after that an error only ends the batch.
pub(super) fn partial(done: usize, e: Error) -> Result<usize> {
    if done > 0 {
        Ok(done)
    } else {
        Err(e)
    }
}

/// Whether `data` is `body` itself (the frame `Socket::send_shared` is sending).
pub(super) fn is_body(body: &[u8], data: &[u8]) -> bool {
    std::ptr::eq(body, data)
}
