//! REP: fair-queued receive that strips and keeps a request's envelope (the frames up to the
//! empty delimiter) and routes the reply back behind it; receiving while a reply is owed,
//! or replying to nothing, fails with EFSM.

#![forbid(unsafe_code)]

use super::core::{Core, Deadline, Routing};
use super::SNDMORE_BIT;
use crate::error::{Error, Result};

#[derive(Default)]
pub(super) struct Rep {
    /// Envelope of the request being received/answered.
    env: Vec<Vec<u8>>,
    /// The peer the request being received came from.
    from: u64,
    /// Once the request was read whole: the peer owed a reply.
    peer: Option<u64>,
}

impl Routing for Rep {}

impl Rep {
    /// Whether a request can be received now (not while a reply is owed).
    pub(super) fn has_in(&mut self, core: &mut Core) -> bool {
        self.peer.is_none() && core.has_in(self)
    }

    pub(super) fn can_send(&self) -> bool {
        self.peer.is_some()
    }

    pub(super) fn recv_frame<R>(
        &mut self,
        core: &mut Core,
        flags: i32,
        mut f: impl FnMut(&[u8], bool) -> R,
    ) -> Result<R> {
        let nowait = core.rcv_nowait(flags);
        let mut deadline = Deadline::new(core.opts.rcvtimeo);
        if core.cur_in.is_none() {
            self.begin_request(core, nowait, &mut deadline)?;
        }
        let s = core.next_message(self, nowait, &mut deadline)?;
        let r = core.read_frame(s, &mut f);
        if !core.rcvmore {
            self.peer = Some(self.from);
        }
        Ok(r)
    }

    /// Read a request's envelope and stop at its first payload frame; messages without a
    /// delimiter are dropped.
    fn begin_request(
        &mut self,
        core: &mut Core,
        nowait: bool,
        deadline: &mut Deadline,
    ) -> Result<()> {
        if self.peer.is_some() {
            return Err(Error::State);
        }
        loop {
            let s = core.next_message(self, nowait, deadline)?;
            self.from = core.peers[s].id;
            self.env.clear();
            loop {
                let (frame, more) = core.read_frame(s, &mut |b: &[u8], m| (b.to_vec(), m));
                if !more {
                    break;
                }
                if frame.is_empty() {
                    return Ok(());
                }
                self.env.push(frame);
            }
        }
    }

    /// The reply goes to the peer of the last request, behind its envelope. A peer that
    /// left or is full loses the reply (as a ROUTER drops it).
    pub(super) fn send(&mut self, core: &mut Core, data: &[u8], flags: i32) -> Result<()> {
        let more = flags & SNDMORE_BIT != 0;
        if core.cur_out.is_none() && !core.dropping {
            let Some(pid) = self.peer else {
                return Err(Error::State);
            };
            core.process_inbox(self);
            match core.by_id.get(&pid).copied() {
                Some(s) if !core.peers[s].out.reader_gone() && !core.peers[s].out.is_full() => {
                    for frame in &self.env {
                        core.write(s, frame, true);
                    }
                    core.write(s, &[], true);
                    core.cur_out = Some(s);
                }
                _ => core.dropping = true,
            }
        }
        if !more {
            self.peer = None;
        }
        if core.swallow(more) {
            return Ok(());
        }
        let s = core.cur_out.expect("reply in progress");
        core.write(s, data, more);
        if !more {
            core.cur_out = None;
            core.sent_one();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
