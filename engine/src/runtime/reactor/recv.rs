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
            c.stash.extend_from_slice(data);
            if !c.recv_stopped && c.stash.len() - c.stash_off > STASH_LIMIT {
                c.recv_stopped = true;
                reqs.push(Req::StopRecv {
                    key: Key::new(slot, c.gen),
                });
            }
            return;
        }
        if let Some(hb) = c.hb.as_mut() {
            hb.on_traffic(Instant::now());
        }
        if c.stream.is_some() {
            if let Err(e) = self.decode_stream(slot, data) {
                self.disconnect(slot, e, reqs);
            }
            return;
        }
        let mut rest = data;
        if let Phase::Handshake(hs) = &mut c.phase {
            match hs.feed(rest) {
                Ok((n, status)) => {
                    c.ctrl.extend_from_slice(&hs.take_output());
                    rest = &rest[n..];
                    if let HandshakeStatus::Done(info) = status {
                        self.established(slot, info, reqs);
                    } else {
                        self.flush(slot, reqs);
                        return;
                    }
                }
                Err(e) => {
                    // Send the ERROR command if the handshake produced one, then close.
                    c.ctrl.extend_from_slice(&hs.take_output());
                    c.sock.event(
                        MonitorEventKind::HandshakeFailedProtocol(e.to_string()),
                        &c.endpoint,
                        None,
                    );
                    let why = CloseReason::HandshakeFailed(e);
                    if c.ctrl.is_empty() {
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

    /// Decode data-phase bytes into the inbound pipe.
    pub(super) fn decode(
        &mut self,
        slot: usize,
        data: &[u8],
        reqs: &mut Vec<Req>,
    ) -> Result<(), CloseReason> {
        let r = self.decode_into_pipe(slot, data, reqs);
        // Whole messages that arrived before a violation are delivered (as libzmq does):
        // what a read returns must not depend on how TCP split the bytes.
        if let Some(Ep::Conn(c)) = self.eps.get_mut(slot) {
            if c.in_msgs > 0 {
                let msgs = std::mem::take(&mut c.in_msgs);
                if let Some(inn) = c.inn.as_mut() {
                    if inn.commit_marked(msgs) {
                        c.sock.notify_ready(c.peer_id);
                    }
                    if inn.is_full() && inn.wait_for_space() {
                        c.paused = true;
                    }
                }
            }
        }
        r
    }

    pub(super) fn decode_into_pipe(
        &mut self,
        slot: usize,
        data: &[u8],
        reqs: &mut Vec<Req>,
    ) -> Result<(), CloseReason> {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return Ok(());
        };
        let c = &mut **c;
        let mut rest = data;
        let mut pong = false;
        loop {
            let (n, item) = c.decoder.decode(rest)?;
            match item {
                None => {
                    if n == 0 {
                        break;
                    }
                }
                Some(Decoded::Data {
                    bytes,
                    messages,
                    complete,
                    ..
                }) => {
                    if let Some(inn) = c.inn.as_mut() {
                        if complete > 0 {
                            inn.append(complete).copy_from_slice(&bytes[..complete]);
                            inn.mark();
                            c.in_msgs += messages as u64;
                        }
                        if complete < bytes.len() {
                            inn.append(bytes.len() - complete)
                                .copy_from_slice(&bytes[complete..]);
                        }
                    }
                }
                Some(Decoded::FrameStart {
                    header,
                    header_len,
                    more,
                    body_len,
                }) => {
                    c.in_more = more;
                    if let Some(inn) = c.inn.as_mut() {
                        // A frame larger than this machine's memory can never be held.
                        let total = usize::try_from(body_len)
                            .ok()
                            .filter(|_| body_len <= sys::physical_memory())
                            .and_then(|b| b.checked_add(header_len))
                            .ok_or(CloseReason::NoMemory(
                                usize::try_from(body_len).unwrap_or(usize::MAX),
                            ))?;
                        inn.begin_fill(total)?;
                        inn.fill(&header[..header_len])?;
                    }
                }
                Some(Decoded::Body { bytes, last }) => {
                    if let Some(inn) = c.inn.as_mut() {
                        inn.fill(bytes)?;
                        if last && !c.in_more {
                            inn.mark();
                            c.in_msgs += 1;
                        }
                    }
                }
                Some(Decoded::Command(cmd)) => match cmd {
                    Command::Ping { ttl_ds, context } => {
                        let now = Instant::now();
                        let reply = match c.hb.as_mut() {
                            Some(hb) => hb.on_ping(ttl_ds, &context, now),
                            None => Command::Pong(context.into_iter().take(16).collect()),
                        };
                        reply.encode(&mut c.ctrl);
                        pong = true;
                    }
                    Command::Pong(_) | Command::Unknown { .. } => {}
                    Command::Subscribe(topic) if publishes(c.sock.ty) => {
                        legacy_sub(&mut c.sub_backlog, true, &topic);
                    }
                    Command::Cancel(topic) if publishes(c.sock.ty) => {
                        legacy_sub(&mut c.sub_backlog, false, &topic);
                    }
                    Command::Subscribe(_) | Command::Cancel(_) => {}
                    Command::Error(reason) => return Err(ProtocolError::PeerError(reason).into()),
                    Command::Ready(_) => {
                        return Err(ProtocolError::UnexpectedCommand(b"READY".to_vec()).into())
                    }
                },
            }
            rest = &rest[n..];
            if !c.sub_backlog.is_empty() && c.decoder.at_message_boundary() {
                if let Some(inn) = c.inn.as_mut() {
                    let n = frames_in(&c.sub_backlog);
                    inn.append(c.sub_backlog.len())
                        .copy_from_slice(&c.sub_backlog);
                    inn.mark();
                    c.in_msgs += n;
                }
                c.sub_backlog.clear();
            }
        }
        if let Some(at) = c.hb.as_ref().and_then(|h| h.next_deadline()) {
            if c.hb_timer.is_none_or(|t| at < t) {
                c.hb_timer = Some(at);
                let gen = c.gen;
                self.timer(at, slot, gen, TimerKind::Heartbeat);
            }
        }
        if pong {
            self.flush(slot, reqs);
        }
        Ok(())
    }

    /// STREAM: the session turns received bytes into messages; commit them.
    pub(super) fn decode_stream(&mut self, slot: usize, data: &[u8]) -> Result<(), CloseReason> {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return Ok(());
        };
        let (Some(session), Some(inn)) = (c.stream.as_mut(), c.inn.as_mut()) else {
            return Ok(());
        };
        let msgs = session.handle_bytes(data, inn)?;
        if msgs > 0 {
            if inn.commit_marked(msgs) {
                c.sock.notify_ready(c.peer_id);
            }
            if inn.is_full() && inn.wait_for_space() {
                c.paused = true;
            }
        }
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

/// Socket types that receive subscriptions.
fn publishes(ty: SocketType) -> bool {
    matches!(ty, SocketType::Pub | SocketType::XPub)
}

/// Append a subscription as a one-frame message `[0x01|0x00][topic]` (ZMTP 3.0's form).
fn legacy_sub(out: &mut Vec<u8>, on: bool, topic: &[u8]) {
    let mut hdr = [0u8; frame::MAX_HEADER];
    let hl = frame::encode_header(&mut hdr, false, false, topic.len() as u64 + 1);
    out.extend_from_slice(&hdr[..hl]);
    out.push(u8::from(on));
    out.extend_from_slice(topic);
}

/// Number of frames in a run of whole single-frame messages.
fn frames_in(mut bytes: &[u8]) -> u64 {
    let mut n = 0;
    while let Ok(Some(h)) = frame::parse_header(bytes) {
        bytes = &bytes[h.frame_len() as usize..];
        n += 1;
    }
    n
}
