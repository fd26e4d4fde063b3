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

use super::{Socket, SNDMORE};
use crate::error::{Error, Result};
use crate::options::StreamFraming;

impl Socket {
    /// The payload that announces a connect (`true`) or disconnect.
    fn notice(&self, connected: bool) -> Vec<u8> {
        match self.opts.stream_framing {
            StreamFraming::Raw => Vec::new(),
            StreamFraming::LengthPrefixed => vec![u8::from(connected)],
        }
    }

    /// Queue a connect/disconnect notification for `rid` (if STREAM_NOTIFY).
    pub(super) fn stream_notify(&mut self, rid: Vec<u8>, connected: bool) {
        if self.opts.stream_notify {
            let payload = self.notice(connected);
            self.stream_notices.push_back((rid, payload));
        }
    }

    /// A fresh peer id in the framing's format.
    pub(super) fn stream_rid(&mut self) -> Vec<u8> {
        match self.opts.stream_framing {
            StreamFraming::Raw => self.gen_rid(),
            StreamFraming::LengthPrefixed => loop {
                self.next_stream_id = self.next_stream_id.wrapping_add(1).max(1);
                let rid = self.next_stream_id.to_be_bytes().to_vec();
                if !self.by_rid.contains_key(&rid) {
                    return rid;
                }
            },
        }
    }

    /// The next frame of a queued notification, if one is due (`f(frame, more)`).
    pub(super) fn stream_notice_frame<R>(
        &mut self,
        f: &mut impl FnMut(&[u8], bool) -> R,
    ) -> Option<R> {
        if let Some(payload) = self.stream_notice_payload.take() {
            self.rcvmore = false;
            return Some(f(&payload, false));
        }
        let (rid, payload) = self.stream_notices.pop_front()?;
        self.stream_notice_payload = Some(payload);
        self.rcvmore = true;
        Some(f(&rid, true))
    }

    /// Whether `data` as a payload means "close this peer".
    pub(super) fn stream_is_close(&self, data: &[u8]) -> bool {
        match self.opts.stream_framing {
            StreamFraming::Raw => data.is_empty(),
            StreamFraming::LengthPrefixed => data == [0],
        }
    }

    /// Close peer `s`: whatever was queued before still goes out, then the connection closes.
    pub(super) fn stream_close(&mut self, s: usize) {
        let handles = &self.ctx.inner.peers.handles;
        let p = &mut self.peers[s];
        p.out.close();
        p.link.flush(handles, p.id);
        self.remove_peer(s);
    }

    /// Append `data` to peer `s`'s pipe in the wire framing (not yet committed).
    fn stream_append(&mut self, s: usize, data: &[u8]) -> Result<()> {
        let p = &mut self.peers[s];
        match self.opts.stream_framing {
            StreamFraming::Raw => p.out.write_frame(&[], data),
            StreamFraming::LengthPrefixed => {
                let len = u32::try_from(data.len()).map_err(|_| {
                    Error::invalid("a length-prefixed STREAM message is at most 4 GiB - 1")
                })?;
                p.out.write_frame(&len.to_be_bytes(), data);
            }
        }
        Ok(())
    }

    /// `send_routed_batch` for STREAM: one message for peer `s` as the `n`-th of a batch.
    pub(super) fn stream_batch_write(
        &mut self,
        s: usize,
        data: &[u8],
        touched: &mut Vec<usize>,
        n: usize,
    ) -> Result<()> {
        self.stream_append(s, data)?;
        let p = &mut self.peers[s];
        p.out.commit_quiet(1);
        if p.batch == 0 {
            touched.push(s);
        }
        p.batch += 1;
        if self.inline && n % 256 == 0 {
            self.finish_batch(touched);
            self.flush();
        }
        Ok(())
    }

    /// STREAM send: frame 1 names the peer (with SNDMORE), frame 2 is the payload (its MORE
    /// flag is ignored: the next frame names a peer again).
    pub(super) fn send_stream(&mut self, data: &[u8], flags: i32, nowait: bool) -> Result<()> {
        let more = flags & SNDMORE != 0;
        if let Some(s) = self.cur_out.take() {
            if self.stream_is_close(data) {
                self.stream_close(s);
                return Ok(());
            }
            self.stream_append(s, data)?;
            let handles = &self.ctx.inner.peers.handles;
            let p = &mut self.peers[s];
            if p.out.commit(1) {
                p.link.flush(handles, p.id);
            }
            self.sent_one();
            return Ok(());
        }
        if !more {
            // A lone id frame is dropped, as libzmq does.
            return Ok(());
        }
        if data.is_empty() {
            return Err(Error::invalid("STREAM peer id frame is empty"));
        }
        self.process_inbox();
        let Some(&s) = self.by_rid.get(data) else {
            return Err(Error::HostUnreachable);
        };
        let mut deadline = self.deadline(self.opts.sndtimeo);
        loop {
            let p = &mut self.peers[s];
            if p.out.reader_gone() {
                return Err(Error::HostUnreachable);
            }
            if !p.out.is_full() {
                break;
            }
            if nowait {
                return Err(Error::Again);
            }
            if p.out.wait_for_space() {
                self.wait(deadline.get())?;
                self.process_inbox();
                if !self.peers.contains(s) {
                    return Err(Error::HostUnreachable);
                }
            }
        }
        self.cur_out = Some(s);
        Ok(())
    }
}
