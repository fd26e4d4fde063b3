//! SUB / XSUB: our own subscriptions, counted, passed upstream and (SUB) used as a receive
//! filter (libzmq filters on both sides: a publisher may send before a subscription reached
//! it, or with INVERT_MATCHING). XSUB sends subscriptions as `[0x01|0x00][topic]` frames and
//! anything else upstream as data to every publisher.

#![forbid(unsafe_code)]

use super::core::{Core, Peer, Routing};
use super::dist::Dist;
use super::trie::CountTrie;
use super::SNDMORE_BIT;
use crate::error::Result;
use crate::protocol::frame;
use crate::runtime::hub::Hub;
use crate::runtime::shared::{Cmd, Link};

/// SUB (`xsub` false) or XSUB state.
#[derive(Default)]
pub(super) struct Subscriber {
    xsub: bool,
    /// Our subscriptions, counted (also SUB's receive filter).
    filter: CountTrie,
    /// SUB: an empty subscription matches everything (skip the filter).
    matches_all: bool,
    /// XSUB send: the upstream data message's targets.
    dist: Dist,
    /// XSUB send: inside a multipart message, and whether it is user data.
    send_more: bool,
    send_data: bool,
}

impl Routing for Subscriber {
    /// A new inproc peer learns our subscriptions (reactors do this for their connections).
    fn attached(&mut self, core: &mut Core, slot: usize) {
        let p = &mut core.peers[slot];
        if matches!(p.link, Link::Inproc { .. }) {
            let hub = &core.hub;
            self.filter
                .for_each(|topic, _| write_sub(hub, p, true, topic));
        }
    }

    fn detached(&mut self, _core: &mut Core, slot: usize) {
        self.dist.detach(slot);
    }

    /// SUB drops messages matching none of its subscriptions; CONFLATE skips to the newest.
    #[inline]
    fn accept(&mut self, core: &mut Core, slot: usize) -> bool {
        if self.xsub {
            return true;
        }
        if core.opts.conflate && !core.conflate(slot) {
            return false;
        }
        self.matches_all || self.filter_head(core, slot)
    }

    #[inline]
    fn filters(&self) -> bool {
        !self.xsub && !self.matches_all
    }

    #[inline]
    fn keeps(&self, head: &[u8], invert: bool) -> bool {
        self.filter.matches(head) != invert
    }
}

impl Subscriber {
    pub(super) fn new(xsub: bool) -> Subscriber {
        Subscriber {
            xsub,
            ..Subscriber::default()
        }
    }

    /// Options changed (INVERT_MATCHING).
    pub(super) fn refresh(&mut self, core: &Core) {
        self.matches_all = !core.opts.invert_matching && self.filter.matches(b"");
    }

    /// Number of distinct topics subscribed to (libzmq's TOPICS_COUNT).
    pub(super) fn topics(&self) -> usize {
        self.filter.topics()
    }

    #[inline(never)]
    fn filter_head(&mut self, core: &mut Core, s: usize) -> bool {
        let buf = core.peers[s].inn.peek();
        let Ok(Some(h)) = frame::parse_header(buf) else {
            return true;
        };
        let body = &buf[h.header_len..h.frame_len() as usize];
        if self.keeps(body, core.opts.invert_matching) {
            return true;
        }
        core.discard_message(s);
        false
    }

    /// Count a subscription change and pass it upstream: every subscribe (XPUB_VERBOSE
    /// upstream must see duplicates), an unsubscribe only when its count drops to zero.
    pub(super) fn subscribe(&mut self, core: &mut Core, topic: &[u8], on: bool) -> Result<()> {
        if on {
            self.filter.add(topic);
        } else if self.filter.remove(topic) != Some(true) {
            return Ok(());
        }
        let seq = {
            let mut set = core.shared.subs.lock().unwrap();
            if on {
                *set.topics.entry(topic.to_vec()).or_insert(0) += 1;
            } else {
                set.topics.remove(topic);
            }
            set.seq += 1;
            set.seq
        };
        self.refresh(core);
        // inproc peers get the message form through the pipe; reactors get a command.
        let hub = &core.hub;
        for (_, p) in core.peers.iter_mut() {
            if matches!(p.link, Link::Inproc { .. }) {
                write_sub(hub, p, on, topic);
            }
        }
        let sock = core.shared.id;
        hub.broadcast(|| Cmd::Subscribe {
            sock,
            seq,
            topic: topic.to_vec(),
            on,
        });
        Ok(())
    }

    /// XSUB send: a frame `[0x01|0x00][topic]` is a (un)subscription (only a message's first
    /// frame with ONLY_FIRST_SUBSCRIBE); anything else is user data for every publisher.
    pub(super) fn send(&mut self, core: &mut Core, data: &[u8], flags: i32) -> Result<()> {
        let more = flags & SNDMORE_BIT != 0;
        let first = !self.send_more;
        self.send_more = more;
        let check = !self.send_data && (first || !core.opts.only_first_subscribe);
        if let Some((&kind, topic)) = data.split_first().filter(|(&k, _)| check && k <= 1) {
            return self.subscribe(core, topic, kind == 1);
        }
        if !self.send_data {
            // A new upstream message: to every publisher with room (dropped where full).
            core.process_inbox(self);
            self.dist.matched.clear();
            for (s, p) in core.peers.iter_mut() {
                if !p.out.reader_gone() && !p.out.is_full() {
                    self.dist.matched.push(s);
                }
            }
        }
        self.send_data = more;
        self.dist.frame(core, data, more);
        if !more {
            core.sent_one();
        }
        Ok(())
    }
}

/// Write a subscription in the message form into an inproc peer's pipe (dropped when the
/// pipe is full, as libzmq drops subscriptions at HWM).
fn write_sub(hub: &Hub, p: &mut Peer, on: bool, topic: &[u8]) {
    if p.out.reader_gone() || p.out.is_full() {
        return;
    }
    let mut msg = Vec::new();
    crate::wire::legacy_subscription(&mut msg, on, topic);
    p.out.write_frame(&msg, &[]);
    if p.out.commit(1) {
        hub.flush(&p.link, p.id);
    }
}

#[cfg(test)]
mod tests;
