//! REQ: strict request/reply alternation. Each request goes (lb) with an empty delimiter
//! frame (after a request id with REQ_CORRELATE) to one peer, and only that peer's reply to
//! the latest request is accepted; a send while a reply is owed fails with EFSM unless
//! REQ_RELAXED.

#![forbid(unsafe_code)]

use super::core::{Core, Deadline, Routing};
use super::lb::{self, Balanced, Lb};
use super::SNDMORE_BIT;
use crate::error::{Error, Result};

#[derive(Default)]
pub(super) struct Req {
    lb: Lb,
    /// The peer (id) whose reply is awaited.
    peer: Option<u64>,
    /// The id of the last request (REQ_CORRELATE).
    id: u32,
}

impl Routing for Req {
    fn attached(&mut self, _core: &mut Core, slot: usize) {
        self.lb.attach(slot);
    }

    fn detached(&mut self, _core: &mut Core, slot: usize) {
        self.lb.detach(slot);
    }
}

impl Balanced for Req {
    fn lb(&mut self) -> &mut Lb {
        &mut self.lb
    }
}

impl Req {
    /// Whether a reply can be received now (none is awaited: no, as in libzmq).
    pub(super) fn has_in(&mut self, core: &mut Core) -> bool {
        if self.peer.is_none() && core.cur_in.is_none() {
            return false;
        }
        core.has_in(self)
    }

    pub(super) fn can_send(&mut self, core: &mut Core) -> bool {
        if self.peer.is_some() && !core.opts.req_relaxed {
            return false;
        }
        core.any_room()
    }

    /// A new request starts with [request id (REQ_CORRELATE)][empty delimiter] to one peer
    /// (lb); its last frame arms the wait for that peer's reply.
    pub(super) fn send(&mut self, core: &mut Core, data: &[u8], flags: i32) -> Result<()> {
        let more = flags & SNDMORE_BIT != 0;
        let s = match core.cur_out {
            Some(s) => s,
            None => {
                if self.peer.is_some() && !core.opts.req_relaxed {
                    return Err(Error::State);
                }
                let mut deadline = Deadline::new(core.opts.sndtimeo);
                let s = lb::pick(self, core, core.snd_nowait(flags), &mut deadline)?;
                self.id = self.id.wrapping_add(1);
                if core.opts.req_correlate {
                    core.write(s, &self.id.to_ne_bytes(), true);
                }
                core.write(s, &[], true);
                // A new request makes any earlier reply stale (REQ_RELAXED).
                self.peer = None;
                s
            }
        };
        core.write(s, data, more);
        if more {
            core.cur_out = Some(s);
        } else {
            core.cur_out = None;
            self.peer = Some(core.peers[s].id);
            core.sent_one();
        }
        Ok(())
    }

    /// Receive a frame of the awaited reply; the envelope was stripped.
    pub(super) fn recv_frame<R>(
        &mut self,
        core: &mut Core,
        flags: i32,
        mut f: impl FnMut(&[u8], bool) -> R,
    ) -> Result<R> {
        let nowait = core.rcv_nowait(flags);
        let mut deadline = Deadline::new(core.opts.rcvtimeo);
        if core.cur_in.is_none() {
            self.begin_reply(core, nowait, &mut deadline)?;
        }
        let s = core.next_message(self, nowait, &mut deadline)?;
        let r = core.read_frame(s, &mut f);
        if !core.rcvmore {
            self.peer = None;
        }
        Ok(r)
    }

    /// Skip to the first payload frame of the awaited reply; replies from other peers, with
    /// a stale request id, or without the empty delimiter are dropped.
    fn begin_reply(
        &mut self,
        core: &mut Core,
        nowait: bool,
        deadline: &mut Deadline,
    ) -> Result<()> {
        let Some(want) = self.peer else {
            return Err(Error::State);
        };
        loop {
            let s = core.next_message(self, nowait, deadline)?;
            let mut ok = core.peers[s].id == want;
            if ok && core.opts.req_correlate {
                let id = self.id.to_ne_bytes();
                let (good, more) = core.read_frame(s, &mut |b: &[u8], m| (b == id, m));
                ok = good && more;
                if !more {
                    continue;
                }
            }
            let (delim, more) = core.read_frame(s, &mut |b: &[u8], m| (b.is_empty(), m));
            if ok && delim && more {
                return Ok(());
            }
            if more {
                core.discard_rest(s);
            }
        }
    }
}

#[cfg(test)]
mod tests;
