//! The receive path: handshake bytes, decoding into the inbound pipe (ZMTP and STREAM), and
//! pausing at RCVHWM (stash) until the reader makes room.

use super::*;

impl State {
    pub(super) fn on_data(&mut self, slot: usize, data: &[u8], reqs: &mut Vec<Req>) {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return;
        };
        if c.closing {
            return;
        }
        if c.close_after_ctrl.is_some() {
            return;
        }
        if c.paused {
            // Drop the bytes already fed (once they are at least half the stash, so the copy
            // is amortised): a stash that is resumed piece by piece but never emptied while
            // the peer keeps sending would otherwise grow for as long as that lasts (found by
            // `ringlink-bench soak`: receiver RSS rising in steps of the Vec's doubling).
            if c.stash_off > 0 && c.stash_off >= c.stash.len() / 2 {
                c.stash.drain(..c.stash_off);
                c.stash_off = 0;
            }
            // The driver delivers data after a `StopRecv` only when it cannot hold it (epoll
            // stops reading at once; io_uring keeps what is in flight in its buffers up to a
            // limit): keep it until the reader makes room.
            c.stash.extend_from_slice(data);
            return;
        }
        if c.stream.is_some() {
            if let Err(e) = self.decode_stream(slot, data, reqs) {
                self.disconnect(slot, e, reqs);
            }
            return;
        }
        let mut rest = data;
        if matches!(c.phase, Phase::Handshake) {
            match c.zmtp.handle_handshake(rest) {
                Ok((n, done)) => {
                    rest = &rest[n..];
                    match done {
                        Some(info) => self.established(slot, info, reqs),
                        None => {
                            self.flush(slot, reqs);
                            return;
                        }
                    }
                }
                Err(e) => {
                    // Send the ERROR command if the handshake produced one, then close.
                    c.sock.event(
                        MonitorEventKind::HandshakeFailedProtocol(e.to_string()),
                        &c.endpoint,
                        None,
                    );
                    let why = CloseReason::HandshakeFailed(e);
                    if !c.zmtp.has_queued_ctrl() {
                        self.disconnect(slot, why, reqs);
                        return;
                    }
                    c.close_after_ctrl = Some(why);
                    let (key, gen) = (Key::new(slot, c.gen), c.gen);
                    reqs.push(Req::StopRecv { key });
                    self.timer(
                        Instant::now() + Duration::from_millis(100),
                        slot,
                        gen,
                        TimerKind::CloseSoon,
                    );
                    self.flush(slot, reqs);
                    return;
                }
            }
        }
        if !rest.is_empty() {
            if let Err(e) = self.decode(slot, rest, reqs) {
                self.disconnect(slot, e, reqs);
            }
        }
    }

    /// Decode data-phase bytes into the inbound pipe (the session's work) and commit the
    /// whole messages, also those before a violation (as libzmq does): what a read returns
    /// must not depend on how TCP split the bytes.
    pub(super) fn decode(
        &mut self,
        slot: usize,
        data: &[u8],
        reqs: &mut Vec<Req>,
    ) -> Result<(), CloseReason> {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return Ok(());
        };
        let r = c.zmtp.handle_bytes(Instant::now, data, c.inn.as_mut());
        let msgs = c.zmtp.take_marked();
        commit_decoded(c, slot, msgs, reqs);
        let queued = r?;
        if let Some(at) = c.zmtp.poll_timeout() {
            if c.hb_timer.is_none_or(|t| at < t) {
                c.hb_timer = Some(at);
                let gen = c.gen;
                self.timer(at, slot, gen, TimerKind::Heartbeat);
            }
        }
        if queued {
            self.flush(slot, reqs);
        }
        Ok(())
    }

    /// STREAM: the session turns received bytes into messages; commit them.
    pub(super) fn decode_stream(
        &mut self,
        slot: usize,
        data: &[u8],
        reqs: &mut Vec<Req>,
    ) -> Result<(), CloseReason> {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return Ok(());
        };
        let (Some(session), Some(inn)) = (c.stream.as_mut(), c.inn.as_mut()) else {
            return Ok(());
        };
        let msgs = session.handle_bytes(data, inn)?;
        commit_decoded(c, slot, msgs, reqs);
        Ok(())
    }

    pub(super) fn resume(&mut self, slot: usize, reqs: &mut Vec<Req>) {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return;
        };
        if !c.paused || c.closing {
            return;
        }
        // The reader hands back credit in batches (a quarter of RCVHWM) and wakes us with
        // each: resume only once the pipe is below RCVHWM, else wait for more credit. Feeding
        // a 64 KiB piece on every wake-up let the pipe grow by a piece minus a credit batch
        // per wake-up, without bound while the application read slower than the peer sent
        // (found by `ringlink-bench soak`: 450,000 messages queued at RCVHWM 1000).
        if let Some(inn) = c.inn.as_mut() {
            if inn.is_full() && inn.wait_for_space() {
                return;
            }
        }
        c.paused = false;
        let mut stash = std::mem::take(&mut c.stash);
        let mut off = c.stash_off;
        // Feed the stash in receive-buffer sized pieces so pausing stays fine grained.
        while off < stash.len() {
            let end = (off + 64 * 1024).min(stash.len());
            self.on_data(slot, &stash[off..end], reqs);
            off = end;
            let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
                return;
            };
            if c.closing {
                return;
            }
            if c.paused {
                // Full again: keep the rest (no new bytes were stashed meanwhile: only we
                // call on_data here).
                c.stash = stash;
                c.stash_off = off;
                return;
            }
        }
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return;
        };
        stash.clear();
        c.stash = stash;
        c.stash_off = 0;
        if let Some(why) = c.eof.take() {
            self.disconnect(slot, why, reqs);
            return;
        }
        if c.recv_stopped {
            c.recv_stopped = false;
            reqs.push(Req::StartRecv {
                key: Key::new(slot, c.gen),
                fd: c.raw,
            });
        }
    }
}

/// Publish the `msgs` whole messages the session decoded into the inbound pipe, tell the
/// socket if its reader was idle, and pause at RCVHWM.
fn commit_decoded(c: &mut Conn, slot: usize, msgs: u64, reqs: &mut Vec<Req>) {
    if msgs == 0 {
        return;
    }
    if let Some(inn) = c.inn.as_mut() {
        if inn.commit_marked(msgs) {
            c.sock.notify_ready(c.peer_id);
        }
        if inn.is_full() && inn.wait_for_space() {
            pause(c, slot, reqs);
        }
    }
}

/// The inbound pipe reached RCVHWM: stop receiving until the reader makes room (`resume`).
/// At once, not after a stash of read-ahead: receiving on into a copy aside would copy twice
/// nearly every byte of a stream whose reader is the slower side (measured: 95 % of a 64 B
/// throughput run went through such a stash).
fn pause(c: &mut Conn, slot: usize, reqs: &mut Vec<Req>) {
    c.paused = true;
    if !c.recv_stopped {
        c.recv_stopped = true;
        reqs.push(Req::StopRecv {
            key: Key::new(slot, c.gen),
        });
    }
}
