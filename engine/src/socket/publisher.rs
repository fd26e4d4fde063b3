//! PUB / XPUB: subscription bookkeeping and fan-out (libzmq semantics).
//!
//! * Subscriptions travel upstream SUB→PUB. Over tcp/ipc the reactor sends them as ZMTP 3.1
//!   SUBSCRIBE/CANCEL commands (or 3.0 `[0x01|0x00][topic]` messages, by peer version) and
//!   re-sends the whole set on every (re)connection; over inproc the socket writes the
//!   message form into the pipe itself (`subscriber`). On the publishing side the reactor
//!   turns commands into the message form, so PUB/XPUB read one form from their pipes.
//! * PUB/XPUB keep a trie prefix → peers and send each message only to the peers with a
//!   subscription prefixing its first frame (publisher-side filtering, as libzmq). A peer at
//!   its HWM loses the message (XPUB_NODROP: send waits / fails with EAGAIN instead).
//! * XPUB's `recv` returns subscription notifications and user data sent upstream.

#![forbid(unsafe_code)]

use std::collections::VecDeque;

use super::core::{partial, Core, Deadline, Routing};
use super::dist::{Dist, SHARE_MIN};
use super::outgoing::{Outgoing, Parts};
use super::trie::{Added, PeerTrie};
use super::SNDMORE_BIT;
use crate::error::{Error, Result};

/// XPUB stops reading upstream once this many frames wait for the application (flow
/// control falls back to the pipes' HWM beyond it).
const PENDING_LIMIT: usize = 1000;

/// Largest upstream read buffer kept between frames.
const SCRATCH_KEEP: usize = 64 * 1024;

/// A frame waiting for XPUB's `recv`: a subscription notification (`from` = the peer it came
/// from) or user data sent upstream by an XSUB.
struct Pending {
    data: Vec<u8>,
    more: bool,
    from: Option<u64>,
}

/// PUB (`xpub` false) or XPUB state.
#[derive(Default)]
pub(super) struct Publisher {
    xpub: bool,
    /// Who subscribed to what.
    subs: PeerTrie,
    pub(super) dist: Dist,
    /// XPUB: frames for `recv`.
    pending: VecDeque<Pending>,
    /// XPUB: the peer of the last notification `recv` returned (XPUB_MANUAL target).
    last_pipe: Option<u64>,
    /// Reading upstream: inside a multipart message.
    up_more: bool,
    /// XPUB: a data message from upstream is queued in `pending` and not finished yet;
    /// notifications raised by (un)subscription frames inside it wait in `held`, so they
    /// never land between its frames.
    up_data: bool,
    held: Vec<Pending>,
    scratch: Vec<u8>,
}

impl Routing for Publisher {
    fn attached(&mut self, core: &mut Core, slot: usize) {
        if self.xpub && !core.opts.xpub_welcome_msg.is_empty() {
            let msg = core.opts.xpub_welcome_msg.clone();
            core.greet(slot, &msg);
        }
    }

    /// A peer left: forget its subscriptions (XPUB: announce topics nobody holds any more,
    /// as unsubscriptions).
    fn detached(&mut self, core: &mut Core, slot: usize) {
        self.dist.detach(slot);
        let notify = self.xpub && !Publisher::manual(core);
        let verboser = core.opts.xpub_verboser;
        let pending = &mut self.pending;
        self.subs.remove_peer(slot, |topic, last| {
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
}

impl Publisher {
    /// Distinct topics the subscribers hold.
    pub(super) fn topics(&self) -> usize {
        self.subs.topics()
    }

    pub(super) fn new(xpub: bool) -> Publisher {
        Publisher {
            xpub,
            ..Publisher::default()
        }
    }

    fn manual(core: &Core) -> bool {
        core.opts.xpub_manual || core.opts.xpub_manual_last_value
    }

    /// XPUB SUBSCRIBE/UNSUBSCRIBE: in manual mode, applies to the peer whose notification
    /// was received last.
    pub(super) fn subscribe(&mut self, core: &mut Core, topic: &[u8], on: bool) -> Result<()> {
        if !self.xpub || !Publisher::manual(core) {
            return Err(Error::invalid(
                "SUBSCRIBE on XPUB needs XPUB_MANUAL (it applies to the last notification's peer)",
            ));
        }
        core.process_inbox(self);
        if let Some(slot) = self.last_pipe.and_then(|id| core.by_id.get(&id).copied()) {
            self.dist.forget_match();
            if on {
                self.subs.add(topic, slot);
            } else {
                self.subs.remove(topic, slot);
            }
        }
        Ok(())
    }

    /// Read what subscribers sent (subscriptions, and for XPUB user data).
    fn pull_upstream(&mut self, core: &mut Core) {
        loop {
            if !self.up_more && self.pending.len() >= PENDING_LIMIT {
                return;
            }
            let Some(s) = core.next_in(self) else { return };
            let pid = core.peers[s].id;
            let first = !self.up_more;
            let mut buf = std::mem::take(&mut self.scratch);
            buf.clear();
            let more = core.read_frame(s, &mut |b: &[u8], m| {
                buf.extend_from_slice(b);
                m
            });
            self.up_more = more;
            self.upstream_frame(core, s, pid, &buf, first, more);
            // Reuse the buffer unless one big frame grew it: a peer's largest message must
            // not stay allocated for the socket's lifetime.
            if buf.capacity() <= SCRATCH_KEEP {
                self.scratch = buf;
            }
        }
    }

    fn upstream_frame(
        &mut self,
        core: &Core,
        slot: usize,
        pid: u64,
        frame: &[u8],
        first: bool,
        more: bool,
    ) {
        let xpub = self.xpub;
        let check = first || !core.opts.only_first_subscribe;
        let Some((&kind, topic)) = frame.split_first().filter(|(&k, _)| check && k <= 1) else {
            if xpub {
                self.pending.push_back(Pending {
                    data: frame.to_vec(),
                    more,
                    from: None,
                });
                self.up_data = more;
                if !more {
                    self.release_held();
                }
            }
            return;
        };
        // libzmq takes any frame starting with 0/1 as an (un)subscription, not only a
        // message's first. If it ends a data message, that message ends at its last data
        // frame: a MORE flag with nothing after it would leave the reader waiting.
        if xpub && !more && self.up_data {
            if let Some(p) = self.pending.iter_mut().rev().find(|p| p.from.is_none()) {
                p.more = false;
            }
            self.up_data = false;
        }
        let on = kind == 1;
        let notification = || Pending {
            data: frame.to_vec(),
            more: false,
            from: Some(pid),
        };
        if xpub && Publisher::manual(core) {
            // The application decides (and applies it with SUBSCRIBE on this socket).
            self.queue_notification(notification());
            return;
        }
        let (verbose, verboser) = (core.opts.xpub_verbose, core.opts.xpub_verboser);
        self.dist.forget_match();
        let notify = if on {
            self.subs.add(topic, slot) == Added::NewTopic || verbose || verboser
        } else {
            self.subs.remove(topic, slot) == Some(true) || verboser
        };
        if xpub && notify {
            self.queue_notification(notification());
        }
        if xpub && !self.up_data {
            self.release_held();
        }
    }

    /// XPUB: queue a notification for `recv`, after the data message being queued if any.
    fn queue_notification(&mut self, n: Pending) {
        if self.up_data {
            self.held.push(n);
        } else {
            self.pending.push_back(n);
        }
    }

    /// The data message ended: its held-back notifications follow it.
    fn release_held(&mut self) {
        if !self.held.is_empty() {
            let held = std::mem::take(&mut self.held);
            self.pending.extend(held);
        }
    }

    /// XPUB receive: notifications and upstream data.
    #[inline(never)]
    pub(super) fn recv_frame<R>(
        &mut self,
        core: &mut Core,
        flags: i32,
        mut f: impl FnMut(&[u8], bool) -> R,
    ) -> Result<R> {
        let nowait = core.rcv_nowait(flags);
        let mut deadline = Deadline::new(core.opts.rcvtimeo);
        loop {
            if self.pending.is_empty() {
                self.pull_upstream(core);
            }
            if let Some(p) = self.pending.pop_front() {
                if p.from.is_some() {
                    self.last_pipe = p.from;
                }
                core.rcvmore = p.more;
                return Ok(f(&p.data, p.more));
            }
            if nowait {
                return Err(Error::Again);
            }
            core.wait(deadline.get())?;
        }
    }

    /// XPUB: whether `recv` would return something now.
    pub(super) fn xpub_has_in(&mut self, core: &mut Core) -> bool {
        if self.pending.is_empty() {
            self.pull_upstream(core);
        }
        !self.pending.is_empty()
    }

    /// Choose the peers for a new message whose first frame is `data`; waits for room
    /// under XPUB_NODROP, otherwise skips full peers.
    fn begin(
        &mut self,
        core: &mut Core,
        data: &[u8],
        nowait: bool,
        deadline: &mut Deadline,
    ) -> Result<()> {
        loop {
            core.process_inbox(self);
            self.pull_upstream(core);
            self.match_peers(core, data);
            if !self.xpub || !core.opts.xpub_nodrop {
                let peers = &mut core.peers;
                let matched = self.dist.matched.len();
                self.dist.matched.retain(|&s| !peers[s].out.is_full());
                core.dropped += (matched - self.dist.matched.len()) as u64;
                return Ok(());
            }
            let mut must_wait = false;
            let mut full = false;
            for &s in &self.dist.matched {
                let p = &mut core.peers[s];
                if p.out.is_full() {
                    full = true;
                    must_wait |= p.out.wait_for_space();
                }
            }
            if !full {
                return Ok(());
            }
            self.dist.matched.clear();
            if nowait {
                return Err(Error::Again);
            }
            if must_wait {
                core.wait(deadline.get())?;
            }
        }
    }

    /// Fill the targets with the live peers that get a message starting with `data`.
    fn match_peers(&mut self, core: &Core, data: &[u8]) {
        let only = if self.xpub && core.opts.xpub_manual_last_value {
            self.last_pipe.take().map(|id| core.by_id.get(&id).copied())
        } else {
            None
        };
        let invert = core.opts.invert_matching;
        let plain = !invert && only.is_none();
        if plain && self.dist.reuse_match(data) {
            self.dist
                .matched
                .retain(|&s| !core.peers[s].out.reader_gone());
            return;
        }
        let (epoch, marks, matched) = self.dist.round(core.peers.capacity());
        self.subs.prefixes_of(data, |slots| {
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
            for (s, _) in core.peers.iter() {
                if marks[s] != epoch {
                    matched.push(s);
                }
            }
        }
        if let Some(only) = only {
            matched.retain(|&s| Some(s) == only);
        }
        if plain {
            self.dist.remember_match(data);
        }
        self.dist
            .matched
            .retain(|&s| !core.peers[s].out.reader_gone());
    }

    /// Send: the frame goes to every chosen peer.
    pub(super) fn send(&mut self, core: &mut Core, data: &[u8], flags: i32) -> Result<()> {
        let more = flags & SNDMORE_BIT != 0;
        if !self.dist.more {
            let mut deadline = Deadline::new(core.opts.sndtimeo);
            self.begin(core, data, core.snd_nowait(flags), &mut deadline)?;
        }
        self.dist.frame(core, data, more);
        if !more {
            core.sent_one();
        }
        Ok(())
    }

    /// Whether `send_parts` takes this message: not one begun with `send(.., SNDMORE)`, and
    /// no frame the per-frame path would share (from `SHARE_MIN` up, or a caller's shared
    /// body).
    pub(super) fn whole<P: AsRef<[u8]>>(&self, core: &Core, parts: &[P]) -> bool {
        !self.dist.more
            && core.share.is_none()
            && !parts.is_empty()
            && parts.iter().all(|p| p.as_ref().len() < SHARE_MIN)
    }

    /// Send one whole message (see `whole`): the peers are chosen once, and each gets every
    /// frame and one commit (the per-frame path commits per frame's peer loop).
    pub(super) fn send_parts<P: AsRef<[u8]>>(
        &mut self,
        core: &mut Core,
        parts: &[P],
        flags: i32,
    ) -> Result<()> {
        let msg = Parts(parts);
        let mut deadline = Deadline::new(core.opts.sndtimeo);
        self.begin(core, msg.head(), core.snd_nowait(flags), &mut deadline)?;
        for &s in &self.dist.matched {
            let p = &mut core.peers[s];
            core.unflushed_bytes += msg.write(&mut p.out);
            if p.out.commit(1) {
                core.hub.flush(&p.link, p.id);
            }
        }
        self.dist.matched.clear();
        core.sent_one();
        Ok(())
    }

    /// Batch: each item is one message, fanned out like `send`, published with one
    /// notification per peer for the whole batch.
    pub(super) fn send_many<M: Outgoing>(
        &mut self,
        core: &mut Core,
        count: usize,
        flags: i32,
        item: impl Fn(usize) -> M,
    ) -> Result<usize> {
        if self.dist.more {
            return Err(Error::State);
        }
        let nowait = core.snd_nowait(flags);
        let mut deadline = Deadline::new(core.opts.sndtimeo);
        let mut touched = std::mem::take(&mut core.touched);
        let mut sent = 0;
        let result = loop {
            if sent == count {
                break Ok(sent);
            }
            let msg = item(sent);
            if let Err(e) = self.begin(core, msg.head(), true, &mut deadline) {
                // Only XPUB_NODROP gets here: publish, then wait unless DONTWAIT.
                core.finish_batch(&mut touched);
                if nowait {
                    break partial(sent, e);
                }
                if let Err(e) = self.begin(core, msg.head(), false, &mut deadline) {
                    break partial(sent, e);
                }
            }
            sent += 1;
            for &s in &self.dist.matched {
                core.batch_write(s, &msg, &mut touched, sent);
            }
            self.dist.matched.clear();
        };
        core.end_batch(touched);
        result
    }
}

#[cfg(test)]
mod tests;
