//! STREAM: raw TCP/IPC peers (no ZMTP). Every message is `[peer id][payload]` both ways.
//!
//! Framing on the wire (`SocketOption::StreamFraming`):
//! * `Raw` (libzmq's): payload bytes pass through as they arrive (one receive = one
//!   message); a connect or disconnect is reported as an empty payload; sending an empty
//!   payload closes that peer. Peer ids are 5 bytes, `0x00` + a 4-byte counter.
//! * `LengthPrefixed` (zlink's): each message on the wire is `[u32 BE length][payload]`;
//!   connect/disconnect are the 1-byte payloads `0x01`/`0x00`; sending the 1-byte payload
//!   `0x00` closes the peer. Peer ids are 4-byte big-endian numbers from 1.
//!
//! The reactor does the byte work (`decode_stream`); this layer routes like a ROUTER with
//! ROUTER_MANDATORY (unknown peer → EHOSTUNREACH, full peer → EAGAIN / wait) and queues the
//! connect/disconnect notifications (STREAM_NOTIFY) in order with the data.

#![forbid(unsafe_code)]

use std::collections::VecDeque;

use super::core::{Core, Deadline, Routing};
use super::fq::BatchOut;
use super::router::{self, RidTable, Routed};
use super::SNDMORE_BIT;
use crate::error::{Error, Result};
use crate::options::StreamFraming;
use crate::runtime::shared::NewPeer;
use crate::wire;

#[derive(Default)]
pub(super) struct Stream {
    table: RidTable,
    /// Connect/disconnect notifications `(peer id, payload)` not yet received, and the
    /// payload of one whose id frame was received.
    notices: VecDeque<(Vec<u8>, Vec<u8>)>,
    notice_payload: Option<Vec<u8>>,
    /// LengthPrefixed ids.
    next_id: u32,
    /// The id frame of the message being received was delivered.
    rid_sent: bool,
}

impl Routing for Stream {
    fn admit(&mut self, core: &mut Core, p: &NewPeer) -> Option<Vec<u8>> {
        Some(match p.alias.clone() {
            Some(a) if !self.table.contains(&a) => a,
            _ => self.fresh_id(core),
        })
    }

    fn attached(&mut self, core: &mut Core, slot: usize) {
        let rid = core.peers[slot].rid.clone();
        self.notify(core, rid.clone(), true);
        self.table.insert(rid, slot);
    }

    fn detached(&mut self, core: &mut Core, slot: usize) {
        self.table.forget(&core.peers[slot].rid, slot);
        if core.cur_in == Some(slot) {
            self.rid_sent = false;
        }
    }

    fn closed(&mut self, core: &mut Core, slot: usize) {
        let rid = core.peers[slot].rid.clone();
        self.notify(core, rid, false);
    }

    fn notices(&mut self) -> Option<&mut VecDeque<(Vec<u8>, Vec<u8>)>> {
        Some(&mut self.notices)
    }
}

impl Routed for Stream {
    fn table(&self) -> &RidTable {
        &self.table
    }
}

impl Stream {
    /// Queue a connect/disconnect notification for `rid` (if STREAM_NOTIFY).
    fn notify(&mut self, core: &Core, rid: Vec<u8>, connected: bool) {
        if core.opts.stream_notify {
            let payload = match core.opts.stream_framing {
                StreamFraming::Raw => Vec::new(),
                StreamFraming::LengthPrefixed => vec![u8::from(connected)],
            };
            self.notices.push_back((rid, payload));
        }
    }

    /// A fresh peer id in the framing's format.
    fn fresh_id(&mut self, core: &Core) -> Vec<u8> {
        match core.opts.stream_framing {
            StreamFraming::Raw => self.table.generate(),
            StreamFraming::LengthPrefixed => loop {
                self.next_id = self.next_id.wrapping_add(1).max(1);
                let rid = self.next_id.to_be_bytes().to_vec();
                if !self.table.contains(&rid) {
                    return rid;
                }
            },
        }
    }

    /// Whether a message (or a notification) can be received now.
    pub(super) fn has_in(&mut self, core: &mut Core) -> bool {
        if self.notice_payload.is_some() || !self.notices.is_empty() || core.has_in(self) {
            return true;
        }
        // Attaching peers may have queued notifications.
        !self.notices.is_empty()
    }

    /// Receive: notifications come before (connect) or after (disconnect) a peer's data;
    /// each message starts with the peer's id frame.
    pub(super) fn recv_frame<R>(
        &mut self,
        core: &mut Core,
        flags: i32,
        mut f: impl FnMut(&[u8], bool) -> R,
    ) -> Result<R> {
        let nowait = core.rcv_nowait(flags);
        let mut deadline = Deadline::new(core.opts.rcvtimeo);
        loop {
            if core.cur_in.is_none() {
                if let Some(payload) = self.notice_payload.take() {
                    core.rcvmore = false;
                    return Ok(f(&payload, false));
                }
                if let Some((rid, payload)) = self.notices.pop_front() {
                    self.notice_payload = Some(payload);
                    core.rcvmore = true;
                    return Ok(f(&rid, true));
                }
            }
            if let Some(s) = core.next_in(self) {
                if core.cur_in.is_none() && !self.notices.is_empty() {
                    continue;
                }
                if !self.rid_sent {
                    core.cur_in = Some(s);
                    core.rcvmore = true;
                    self.rid_sent = true;
                    return Ok(f(&core.peers[s].rid, true));
                }
                let r = core.read_frame(s, &mut f);
                if !core.rcvmore {
                    self.rid_sent = false;
                }
                return Ok(r);
            }
            if !self.notices.is_empty() {
                continue; // a peer attached while we looked
            }
            if nowait {
                return Err(Error::Again);
            }
            core.wait(deadline.get())?;
        }
    }

    pub(super) fn recv_batch(
        &mut self,
        core: &mut Core,
        out: &mut BatchOut<'_>,
        flags: i32,
    ) -> Result<usize> {
        if self.notice_payload.is_some() {
            return Err(Error::State);
        }
        core.recv_batch(self, out, flags, true)
    }

    /// Whether `data` as a payload means "close this peer".
    fn is_close(core: &Core, data: &[u8]) -> bool {
        match core.opts.stream_framing {
            StreamFraming::Raw => data.is_empty(),
            StreamFraming::LengthPrefixed => data == [0],
        }
    }

    /// Close peer `s`: whatever was queued before still goes out, then the connection closes.
    fn close(&mut self, core: &mut Core, s: usize) {
        let p = &mut core.peers[s];
        p.out.close();
        core.hub.flush(&p.link, p.id);
        core.remove_peer(self, s);
    }

    /// Append `data` to peer `s`'s pipe in the wire framing (not yet committed).
    fn append(core: &mut Core, s: usize, data: &[u8]) -> Result<()> {
        let framing = core.opts.stream_framing;
        core.unflushed_bytes += data.len();
        let p = &mut core.peers[s];
        match framing {
            StreamFraming::Raw => p.out.write_frame(&[], data),
            StreamFraming::LengthPrefixed => {
                let prefix = wire::length_prefix(data.len()).ok_or_else(|| {
                    Error::invalid("a length-prefixed STREAM message is at most 4 GiB - 1")
                })?;
                p.out.write_frame(&prefix, data);
            }
        }
        Ok(())
    }

    /// `send_routed_batch`: STREAM routes like a ROUTER_MANDATORY; a close payload closes.
    pub(super) fn send_batch<B: router::RoutedBatch + ?Sized>(
        &mut self,
        core: &mut Core,
        msgs: &B,
        flags: i32,
    ) -> Result<usize> {
        router::send_batch(
            self,
            core,
            msgs,
            flags,
            true,
            false,
            |this, core, s, data, t, n| {
                if Stream::is_close(core, data) {
                    core.finish_batch(t);
                    this.close(core, s);
                    return Ok(());
                }
                Stream::append(core, s, data)?;
                core.batch_commit(s, t, n);
                Ok(())
            },
        )
    }

    /// Send: frame 1 names the peer (with SNDMORE), frame 2 is the payload (its MORE flag is
    /// ignored: the next frame names a peer again).
    pub(super) fn send(&mut self, core: &mut Core, data: &[u8], flags: i32) -> Result<()> {
        let more = flags & SNDMORE_BIT != 0;
        if let Some(s) = core.cur_out.take() {
            if Stream::is_close(core, data) {
                self.close(core, s);
                return Ok(());
            }
            Stream::append(core, s, data)?;
            let p = &mut core.peers[s];
            if p.out.commit(1) {
                core.hub.flush(&p.link, p.id);
            }
            core.sent_one();
            return Ok(());
        }
        if !more {
            // A lone id frame is dropped, as libzmq does.
            return Ok(());
        }
        if data.is_empty() {
            return Err(Error::invalid("STREAM peer id frame is empty"));
        }
        core.process_inbox(self);
        let Some(s) = self.table.get(data) else {
            return Err(Error::HostUnreachable);
        };
        let mut deadline = Deadline::new(core.opts.sndtimeo);
        let nowait = core.snd_nowait(flags);
        loop {
            let p = &mut core.peers[s];
            if p.out.reader_gone() {
                return Err(Error::HostUnreachable);
            }
            if !p.out.is_full() {
                break;
            }
            if nowait {
                // Ask the peer to report free space (so a watched fd fires when it comes), or
                // go on if it appeared meanwhile.
                if !p.out.wait_for_space() {
                    break;
                }
                return Err(Error::Again);
            }
            if p.out.wait_for_space() {
                core.wait(deadline.get())?;
                core.process_inbox(self);
                if !core.peers.contains(s) {
                    return Err(Error::HostUnreachable);
                }
            }
        }
        core.cur_out = Some(s);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
