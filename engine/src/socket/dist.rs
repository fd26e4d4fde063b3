//! Distribution (libzmq's dist): one frame written to a chosen set of peers, the header
//! encoded once; a large body going to several connections is copied once and shared.

#![forbid(unsafe_code)]

use super::core::{is_body, Core};
use crate::protocol::frame;
use crate::runtime::shared::Link;

/// Bodies from this size up are shared between subscribers' pipes instead of copied into each
/// (below it a copy is cheaper than the reference counting and the extra iovec).
pub(super) const SHARE_MIN: usize = 8 * 1024;

/// The targets of the message being sent and the per-slot marks used to choose them.
#[derive(Default)]
pub(super) struct Dist {
    /// Targets (peer slots) of the message being sent, and whether it continues.
    pub(super) matched: Vec<usize>,
    pub(super) more: bool,
    /// De-duplication marks per peer slot for one match.
    marks: Vec<u32>,
    epoch: u32,
    /// The last match (first frame → subscribed slots), reused while the subscriptions
    /// stay the same: a publisher sending one topic walks the trie once.
    memo: Option<(Vec<u8>, Vec<usize>)>,
}

impl Dist {
    pub(super) fn detach(&mut self, slot: usize) {
        self.matched.retain(|&s| s != slot);
        self.forget_match();
    }

    /// The subscriptions changed: the remembered match is stale.
    pub(super) fn forget_match(&mut self) {
        self.memo = None;
    }

    /// Targets from the remembered match of `head`, if it is the one remembered.
    pub(super) fn reuse_match(&mut self, head: &[u8]) -> bool {
        match &self.memo {
            Some((h, slots)) if h[..] == *head => {
                self.matched.clear();
                self.matched.extend_from_slice(slots);
                true
            }
            _ => false,
        }
    }

    /// Remember the targets just matched for `head`.
    pub(super) fn remember_match(&mut self, head: &[u8]) {
        let (mut h, mut slots) = self.memo.take().unwrap_or_default();
        h.clear();
        h.extend_from_slice(head);
        slots.clear();
        slots.extend_from_slice(&self.matched);
        self.memo = Some((h, slots));
    }

    /// Start choosing targets among `cap` slots: clears `matched` and returns the marks
    /// with this round's epoch (a slot is chosen once per round).
    pub(super) fn round(&mut self, cap: usize) -> (u32, &mut Vec<u32>, &mut Vec<usize>) {
        self.matched.clear();
        if self.marks.len() < cap {
            self.marks.resize(cap, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.iter_mut().for_each(|m| *m = 0);
            self.epoch = 1;
        }
        (self.epoch, &mut self.marks, &mut self.matched)
    }

    /// Write one frame to every target.
    pub(super) fn frame(&mut self, core: &mut Core, data: &[u8], more: bool) {
        let mut hdr = [0u8; frame::MAX_HEADER];
        let hl = frame::encode_header(&mut hdr, more, false, data.len() as u64);
        core.unflushed_bytes += data.len();
        // A large body going to several connections is copied once and shared: each reactor
        // sends it from the same buffer. (inproc peers read frames in place: they get copies.)
        let shared: Option<std::sync::Arc<[u8]>> =
            core.share.clone().filter(|b| is_body(b, data)).or_else(|| {
                (data.len() >= SHARE_MIN
                    && self
                        .matched
                        .iter()
                        .filter(|&&s| matches!(core.peers[s].link, Link::Reactor(_)))
                        .nth(1)
                        .is_some())
                .then(|| data.into())
            });
        for &s in &self.matched {
            let p = &mut core.peers[s];
            match (&shared, &p.link) {
                (Some(body), Link::Reactor(_)) => p.out.write_shared(&hdr[..hl], body),
                _ => p.out.write_frame(&hdr[..hl], data),
            }
            if !more && p.out.commit(1) {
                core.hub.flush(&p.link, p.id);
            }
        }
        self.more = more;
        if !more {
            self.matched.clear();
        }
    }
}
