//! PUB / SUB / XPUB / XSUB: subscription bookkeeping and fan-out (libzmq semantics).
//!
//! * Subscriptions travel upstream SUB→PUB. Over tcp/ipc the reactor sends them as ZMTP 3.1
//!   SUBSCRIBE/CANCEL commands (or 3.0 `[0x01|0x00][topic]` messages, by peer version) and
//!   re-sends the whole set on every (re)connection; over inproc the socket writes the
//!   message form into the pipe itself. On the publishing side the reactor turns commands
//!   into the message form, so PUB/XPUB read one form from their inbound pipes.
//! * PUB/XPUB keep a trie prefix → peers and send each message only to the peers with a
//!   subscription prefixing its first frame (publisher-side filtering, as libzmq). A peer at
//!   its HWM loses the message (XPUB_NODROP: send waits / fails with EAGAIN instead). The
//!   header is encoded once per frame, and a large body going to several tcp/ipc subscribers
//!   is copied once into a shared buffer that every reactor sends from.
//! * SUB filters what arrives against its own subscriptions as well (libzmq does too: a
//!   publisher may send before a subscription reached it, or with INVERT_MATCHING).

#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::time::Duration;

use super::trie::{Added, CountTrie, PeerTrie};
use super::{Deadline, Socket, DONTWAIT};
use crate::error::{Error, Result};
use crate::protocol::{frame, SocketType};
use crate::runtime::shared::{Cmd, Link};

/// XPUB stops reading upstream once this many frames wait for the application (flow
/// control falls back to the pipes' HWM beyond it).
const PENDING_LIMIT: usize = 1000;

/// Largest upstream read buffer kept between frames.
const SCRATCH_KEEP: usize = 64 * 1024;

/// Bodies from this size up are shared between subscribers' pipes instead of copied into each
/// (below it a copy is cheaper than the reference counting and the extra iovec).
const SHARE_MIN: usize = 8 * 1024;

/// A frame waiting for XPUB's `recv`: a subscription notification (`from` = the peer it came
/// from) or user data sent upstream by an XSUB.
struct Pending {
    data: Vec<u8>,
    more: bool,
    from: Option<u64>,
}

/// Per-socket PUB/SUB state (empty for other types).
#[derive(Default)]
pub(super) struct PubSub {
    /// PUB/XPUB: who subscribed to what.
    subs: PeerTrie,
    /// SUB/XSUB: our own subscriptions, counted (also SUB's receive filter).
    filter: CountTrie,
    /// XPUB: frames for `recv`.
    pending: VecDeque<Pending>,
    /// XPUB: the peer of the last notification `recv` returned (XPUB_MANUAL target).
    last_pipe: Option<u64>,
    /// Targets (peer slots) of the message being sent, and whether it continues.
    pub(super) matched: Vec<usize>,
    pub(super) dist_more: bool,
    /// De-duplication marks per peer slot for one match.
    marks: Vec<u32>,
    epoch: u32,
    /// Reading upstream: inside a multipart message.
    up_more: bool,
    /// XPUB: a data message from upstream is queued in `pending` and not finished yet;
    /// notifications raised by (un)subscription frames inside it wait in `held`, so they
    /// never land between its frames.
    up_data: bool,
    held: Vec<Pending>,
    /// XSUB send: inside a multipart message, and whether it is user data.
    xsub_more: bool,
    xsub_data: bool,
    scratch: Vec<u8>,
}

impl PubSub {
    /// SUB/XSUB: the empty subscription (everything) is among ours.
    pub(super) fn matches_all(&self) -> bool {
        self.filter.matches(b"")
    }
}

impl Socket {
    /// SUBSCRIBE / UNSUBSCRIBE socket options.
    pub(super) fn subscribe(&mut self, topic: &[u8], on: bool) -> Result<()> {
        match self.ty {
            SocketType::Sub | SocketType::XSub => {
                self.local_subscription(topic, on);
                Ok(())
            }
            SocketType::XPub if self.opts.xpub_manual || self.opts.xpub_manual_last_value => {
                // Manual mode: apply to the peer whose notification was received last.
                self.process_inbox();
                let slot = self
                    .ps
                    .last_pipe
                    .and_then(|id| self.by_id.get(&id).copied());
                if let Some(slot) = slot {
                    if on {
                        self.ps.subs.add(topic, slot);
                    } else {
                        self.ps.subs.remove(topic, slot);
                    }
                }
                Ok(())
            }
            SocketType::XPub => Err(Error::invalid(
                "SUBSCRIBE on XPUB needs XPUB_MANUAL (it applies to the last notification's peer)",
            )),
            _ => Err(Error::invalid(
                "SUBSCRIBE/UNSUBSCRIBE apply to SUB/XSUB sockets",
            )),
        }
    }

    /// libzmq's TOPICS_COUNT: the distinct topics this SUB/XSUB is subscribed to, or, on a
    /// PUB/XPUB, the distinct topics its subscribers hold (as far as it has read them: sending
    /// or polling reads what subscribers sent).
    pub fn topics_count(&self) -> usize {
        match self.ty {
            SocketType::Pub | SocketType::XPub => self.ps.subs.topics(),
            _ => self.ps.filter.topics(),
        }
    }

    /// Count a subscription change and pass it upstream: every subscribe (XPUB_VERBOSE
    /// upstream must see duplicates), an unsubscribe only when its count drops to zero.
    fn local_subscription(&mut self, topic: &[u8], on: bool) {
        if on {
            self.ps.filter.add(topic);
        } else if self.ps.filter.remove(topic) != Some(true) {
            return;
        }
        let seq = {
            let mut set = self.shared.subs.lock().unwrap();
            if on {
                *set.topics.entry(topic.to_vec()).or_insert(0) += 1;
            } else {
                set.topics.remove(topic);
            }
            set.seq += 1;
            set.seq
        };
        self.sub_matches_all = !self.opts.invert_matching && self.ps.filter.matches(b"");
        // inproc peers get the message form through the pipe; reactors get a command.
        let handles = &self.ctx.inner.peers.handles;
        for (_, p) in self.peers.iter_mut() {
            if matches!(p.link, Link::Inproc { .. }) {
                write_sub(p, on, topic, handles);
            }
        }
        for h in handles {
            h.send(Cmd::Subscribe {
                sock: self.shared.id,
                seq,
                topic: topic.to_vec(),
                on,
            });
        }
    }

    /// A new peer of a SUB/XSUB (inproc: reactors do this for their connections) learns our
    /// subscriptions; a new XPUB peer gets the welcome message.
    pub(super) fn pubsub_attached(&mut self, slot: usize) {
        let handles = &self.ctx.inner.peers.handles;
        let p = &mut self.peers[slot];
        match self.ty {
            SocketType::Sub | SocketType::XSub if matches!(p.link, Link::Inproc { .. }) => {
                self.ps
                    .filter
                    .for_each(|topic, _| write_sub(p, true, topic, handles));
            }
            SocketType::XPub if !self.opts.xpub_welcome_msg.is_empty() => {
                let msg = &self.opts.xpub_welcome_msg;
                let mut hdr = [0u8; frame::MAX_HEADER];
                let hl = frame::encode_header(&mut hdr, false, false, msg.len() as u64);
                p.out.write_frame(&hdr[..hl], msg);
                if p.out.commit(1) {
                    p.link.flush(handles, p.id);
                }
            }
            _ => {}
        }
    }

    /// A PUB/XPUB peer left: forget its subscriptions (XPUB: announce topics nobody holds
    /// any more, as unsubscriptions).
    pub(super) fn pubsub_detached(&mut self, slot: usize) {
        self.ps.matched.retain(|&s| s != slot);
        if !matches!(self.ty, SocketType::Pub | SocketType::XPub) {
            return;
        }
        let notify = self.ty == SocketType::XPub
            && !(self.opts.xpub_manual || self.opts.xpub_manual_last_value);
        let verboser = self.opts.xpub_verboser;
        let ps = &mut *self.ps;
        let pending = &mut ps.pending;
        ps.subs.remove_peer(slot, |topic, last| {
            if notify && (last || verboser) {
                let mut data = Vec::with_capacity(topic.len() + 1);
                data.push(0);
                data.extend_from_slice(topic);
                pending.push_back(Pending {
                    data,
                    more: false,
                    from: None,
                });
            }
        });
    }

    /// PUB/XPUB: read what subscribers sent (subscriptions, and for XPUB user data).
    pub(super) fn pull_upstream(&mut self) {
        loop {
            if !self.ps.up_more && self.ps.pending.len() >= PENDING_LIMIT {
                return;
            }
            let Some(s) = self.next_in() else { return };
            let pid = self.peers[s].id;
            let first = !self.ps.up_more;
            let mut buf = std::mem::take(&mut self.ps.scratch);
            buf.clear();
            let more = self.read_frame(s, &mut |b: &[u8], m| {
                buf.extend_from_slice(b);
                m
            });
            self.ps.up_more = more;
            self.upstream_frame(s, pid, &buf, first, more);
            // Reuse the buffer unless one big frame grew it: a peer's largest message must
            // not stay allocated for the socket's lifetime.
            if buf.capacity() <= SCRATCH_KEEP {
                self.ps.scratch = buf;
            }
        }
    }

    fn upstream_frame(&mut self, slot: usize, pid: u64, frame: &[u8], first: bool, more: bool) {
        let xpub = self.ty == SocketType::XPub;
        let check = first || !self.opts.only_first_subscribe;
        let Some((&kind, topic)) = frame.split_first().filter(|(&k, _)| check && k <= 1) else {
            if xpub {
                self.ps.pending.push_back(Pending {
                    data: frame.to_vec(),
                    more,
                    from: None,
                });
                self.ps.up_data = more;
                if !more {
                    self.release_held();
                }
            }
            return;
        };
        // libzmq takes any frame starting with 0/1 as an (un)subscription, not only a
        // message's first. If it ends a data message, that message ends at its last data
        // frame: a MORE flag with nothing after it would leave the reader waiting.
        if xpub && !more && self.ps.up_data {
            if let Some(p) = self.ps.pending.iter_mut().rev().find(|p| p.from.is_none()) {
                p.more = false;
            }
            self.ps.up_data = false;
        }
        let on = kind == 1;
        if xpub && (self.opts.xpub_manual || self.opts.xpub_manual_last_value) {
            // The application decides (and applies it with SUBSCRIBE on this socket).
            self.queue_notification(Pending {
                data: frame.to_vec(),
                more: false,
                from: Some(pid),
            });
            return;
        }
        let notify = if on {
            let added = self.ps.subs.add(topic, slot);
            added == Added::NewTopic || self.opts.xpub_verbose || self.opts.xpub_verboser
        } else {
            let removed = self.ps.subs.remove(topic, slot);
            removed == Some(true) || self.opts.xpub_verboser
        };
        if xpub && notify {
            self.queue_notification(Pending {
                data: frame.to_vec(),
                more: false,
                from: Some(pid),
            });
        }
        if xpub && !self.ps.up_data {
            self.release_held();
        }
    }

    /// XPUB: queue a notification for `recv`, after the data message being queued if any.
    fn queue_notification(&mut self, n: Pending) {
        if self.ps.up_data {
            self.ps.held.push(n);
        } else {
            self.ps.pending.push_back(n);
        }
    }

    /// The data message ended: its held-back notifications follow it.
    fn release_held(&mut self) {
        if !self.ps.held.is_empty() {
            let held = std::mem::take(&mut self.ps.held);
            self.ps.pending.extend(held);
        }
    }

    /// XPUB receive: notifications and upstream data.
    #[inline(never)]
    pub(super) fn recv_frame_xpub<R>(
        &mut self,
        flags: i32,
        mut f: impl FnMut(&[u8], bool) -> R,
    ) -> Result<R> {
        let nowait = flags & DONTWAIT != 0 || self.opts.rcvtimeo == Some(Duration::ZERO);
        let mut deadline = self.deadline(self.opts.rcvtimeo);
        loop {
            if self.ps.pending.is_empty() {
                self.pull_upstream();
            }
            if let Some(p) = self.ps.pending.pop_front() {
                if p.from.is_some() {
                    self.ps.last_pipe = p.from;
                }
                self.rcvmore = p.more;
                return Ok(f(&p.data, p.more));
            }
            if nowait {
                return Err(Error::Again);
            }
            self.wait(deadline.get())?;
        }
    }

    /// XPUB: whether `recv` would return something now.
    pub(super) fn xpub_has_in(&mut self) -> bool {
        if self.ps.pending.is_empty() {
            self.pull_upstream();
        }
        !self.ps.pending.is_empty()
    }

    /// Choose the peers for a new PUB/XPUB message whose first frame is `data`; waits for
    /// room under XPUB_NODROP, otherwise skips full peers.
    pub(super) fn dist_begin(
        &mut self,
        data: &[u8],
        nowait: bool,
        deadline: &mut Deadline,
    ) -> Result<()> {
        loop {
            self.process_inbox();
            self.pull_upstream();
            self.match_peers(data);
            if self.ty != SocketType::XPub || !self.opts.xpub_nodrop {
                let peers = &mut self.peers;
                self.ps.matched.retain(|&s| !peers[s].out.is_full());
                return Ok(());
            }
            let mut must_wait = false;
            let mut full = false;
            for &s in &self.ps.matched {
                let p = &mut self.peers[s];
                if p.out.is_full() {
                    full = true;
                    must_wait |= p.out.wait_for_space();
                }
            }
            if !full {
                return Ok(());
            }
            self.ps.matched.clear();
            if nowait {
                return Err(Error::Again);
            }
            if must_wait {
                self.wait(deadline.get())?;
            }
        }
    }

    /// Fill `matched` with the live peers that get a message starting with `data`.
    fn match_peers(&mut self, data: &[u8]) {
        let only = if self.opts.xpub_manual_last_value && self.ty == SocketType::XPub {
            self.ps
                .last_pipe
                .take()
                .map(|id| self.by_id.get(&id).copied())
        } else {
            None
        };
        let invert = self.opts.invert_matching;
        let cap = self.peers.capacity();
        let ps = &mut *self.ps;
        ps.matched.clear();
        if ps.marks.len() < cap {
            ps.marks.resize(cap, 0);
        }
        ps.epoch = ps.epoch.wrapping_add(1);
        if ps.epoch == 0 {
            ps.marks.iter_mut().for_each(|m| *m = 0);
            ps.epoch = 1;
        }
        let (epoch, marks, matched) = (ps.epoch, &mut ps.marks, &mut ps.matched);
        ps.subs.prefixes_of(data, |slots| {
            for &s in slots {
                if marks[s] != epoch {
                    marks[s] = epoch;
                    if !invert {
                        matched.push(s);
                    }
                }
            }
            true
        });
        if invert {
            for (s, _) in self.peers.iter() {
                if marks[s] != epoch {
                    matched.push(s);
                }
            }
        }
        if let Some(only) = only {
            matched.retain(|&s| Some(s) == only);
        }
        let peers = &self.peers;
        matched.retain(|&s| !peers[s].out.reader_gone());
    }

    /// PUB/XPUB send: the frame goes to every chosen peer; the header is encoded once.
    pub(super) fn send_dist(&mut self, data: &[u8], more: bool, nowait: bool) -> Result<()> {
        if !self.ps.dist_more {
            let mut deadline = self.deadline(self.opts.sndtimeo);
            self.dist_begin(data, nowait, &mut deadline)?;
        }
        self.dist_frame(data, more);
        if !more {
            self.sent_one();
        }
        Ok(())
    }

    fn dist_frame(&mut self, data: &[u8], more: bool) {
        let mut hdr = [0u8; frame::MAX_HEADER];
        let hl = frame::encode_header(&mut hdr, more, false, data.len() as u64);
        let handles = &self.ctx.inner.peers.handles;
        // A large body going to several connections is copied once and shared: each reactor
        // sends it from the same buffer. (inproc peers read frames in place: they get copies.)
        let shared: Option<std::sync::Arc<[u8]>> = (data.len() >= SHARE_MIN
            && self
                .ps
                .matched
                .iter()
                .filter(|&&s| matches!(self.peers[s].link, Link::Reactor(_)))
                .nth(1)
                .is_some())
        .then(|| data.into());
        for &s in &self.ps.matched {
            let p = &mut self.peers[s];
            match (&shared, &p.link) {
                (Some(body), Link::Reactor(_)) => p.out.write_shared(&hdr[..hl], body),
                _ => p.out.write_frame(&hdr[..hl], data),
            }
            if !more && p.out.commit(1) {
                p.link.flush(handles, p.id);
            }
        }
        self.ps.dist_more = more;
        if !more {
            self.ps.matched.clear();
        }
    }

    /// PUB/XPUB batch: each item is a one-frame message, fanned out like `send`, published
    /// with one notification per peer for the whole batch.
    pub(super) fn send_many_dist<'a>(
        &mut self,
        count: usize,
        flags: i32,
        item: impl Fn(usize) -> &'a [u8],
    ) -> Result<usize> {
        let nowait = flags & DONTWAIT != 0 || self.opts.sndtimeo == Some(Duration::ZERO);
        let mut deadline = self.deadline(self.opts.sndtimeo);
        let mut touched = std::mem::take(&mut self.touched);
        let mut sent = 0;
        let result = loop {
            if sent == count {
                break Ok(sent);
            }
            let data = item(sent);
            if let Err(e) = self.dist_begin(data, true, &mut deadline) {
                // Only XPUB_NODROP gets here: publish, then wait unless DONTWAIT.
                self.finish_batch(&mut touched);
                if nowait {
                    break if sent > 0 { Ok(sent) } else { Err(e) };
                }
                if let Err(e) = self.dist_begin(data, false, &mut deadline) {
                    break if sent > 0 { Ok(sent) } else { Err(e) };
                }
            }
            sent += 1;
            let matched = std::mem::take(&mut self.ps.matched);
            for &s in &matched {
                self.batch_write(s, data, &mut touched, sent);
            }
            self.ps.matched = matched;
            self.ps.matched.clear();
        };
        self.finish_batch(&mut touched);
        self.touched = touched;
        if self.inline {
            self.flush();
        }
        result
    }

    /// XSUB send: a frame `[0x01|0x00][topic]` is a (un)subscription (only a message's first
    /// frame with ONLY_FIRST_SUBSCRIBE); anything else is user data for every publisher.
    pub(super) fn send_xsub(&mut self, data: &[u8], more: bool) -> Result<()> {
        let first = !self.ps.xsub_more;
        self.ps.xsub_more = more;
        let check = !self.ps.xsub_data && (first || !self.opts.only_first_subscribe);
        if let Some((&kind, topic)) = data.split_first().filter(|(&k, _)| check && k <= 1) {
            self.local_subscription(topic, kind == 1);
            return Ok(());
        }
        if !self.ps.xsub_data {
            // A new upstream message: to every publisher with room (dropped where full).
            self.process_inbox();
            self.ps.matched.clear();
            for (s, p) in self.peers.iter_mut() {
                if !p.out.reader_gone() && !p.out.is_full() {
                    self.ps.matched.push(s);
                }
            }
        }
        self.ps.xsub_data = more;
        self.dist_frame(data, more);
        if !more {
            self.sent_one();
        }
        Ok(())
    }

    /// SUB (and CONFLATE) receive filter, applied at the start of a message from peer `s`:
    /// CONFLATE skips to the newest queued message; SUB drops messages matching none of its
    /// subscriptions. Returns false if the message was dropped (look again).
    #[inline(never)]
    pub(super) fn accept_head(&mut self, s: usize) -> bool {
        if self.opts.conflate {
            loop {
                let p = &mut self.peers[s];
                if p.inn.msgs_committed().saturating_sub(p.inn.msgs_read()) <= 1 {
                    break;
                }
                self.discard_message(s);
            }
            if self.peers[s].inn.peek().is_empty() {
                return false;
            }
        }
        if self.ty != SocketType::Sub || self.sub_matches_all {
            return true;
        }
        let p = &mut self.peers[s];
        let buf = p.inn.peek();
        let Ok(Some(h)) = frame::parse_header(buf) else {
            return true;
        };
        let body = &buf[h.header_len..h.frame_len() as usize];
        if self.ps.filter.matches(body) != self.opts.invert_matching {
            return true;
        }
        self.discard_message(s);
        false
    }

    /// Consume one whole message from peer `s`.
    fn discard_message(&mut self, s: usize) {
        loop {
            let more = self.read_frame(s, &mut |_: &[u8], m| m);
            if !more {
                return;
            }
        }
    }
}

/// Write a subscription in the message form into an inproc peer's pipe (dropped when the
/// pipe is full, as libzmq drops subscriptions at HWM).
fn write_sub(
    p: &mut super::Peer,
    on: bool,
    topic: &[u8],
    handles: &[std::sync::Arc<crate::runtime::shared::ReactorHandle>],
) {
    if p.out.reader_gone() || p.out.is_full() {
        return;
    }
    let mut hdr = [0u8; frame::MAX_HEADER];
    let hl = frame::encode_header(&mut hdr, false, false, topic.len() as u64 + 1);
    let mut body = Vec::with_capacity(topic.len() + 1);
    body.push(u8::from(on));
    body.extend_from_slice(topic);
    p.out.write_frame(&hdr[..hl], &body);
    if p.out.commit(1) {
        p.link.flush(handles, p.id);
    }
}
