//! The ZMTP session of one connection, sans I/O: greeting and handshake, heartbeats, decoding
//! into the inbound pipe, subscription commands, the control frames to send, and the place in
//! the outbound frame stream across partial sends.
//!
//! The reactor owns the descriptor, the pipes' lifetimes, the timers and the socket; it hands
//! this session received bytes (and the inbound pipe to decode into), asks it for control bytes
//! to send next to the pipe's data, and reports what was sent. Time comes from the caller; the
//! session makes no syscalls and takes no locks.

use std::time::{Duration, Instant};

use crate::pipe::{self, IovArray, SendLease};
use crate::protocol::command::encode_subscription;
use crate::protocol::{
    frame, Command, Decoded, Decoder, Handshake, HandshakeConfig, HandshakeStatus, Heartbeat,
    PeerInfo, ProtocolError,
};

use super::CloseReason;

/// Protocol state of one ZMTP connection (reset with `reset` for the next connection).
pub(crate) struct ZmtpSession {
    max_msg_size: Option<u64>,
    /// No frame larger than this can ever be buffered (the machine's memory).
    mem_limit: u64,
    /// PUB/XPUB: peer subscriptions are delivered to the socket as messages.
    publishes: bool,
    handshake: Option<Box<Handshake>>,
    decoder: Decoder,
    /// Control frames (greeting, READY, PONG, ...) waiting to go out at a message boundary.
    ctrl: Vec<u8>,
    /// Control bytes handed to the send in flight (stable until it completes) and how many of
    /// them were sent.
    ctrl_inflight: Vec<u8>,
    ctrl_off: usize,
    /// Outbound stream position inside a frame: bytes left of the current frame, and whether
    /// the message continues after it (tracked only across partial sends).
    out_frame_left: u64,
    out_in_msg: bool,
    /// Inbound: MORE flag of the frame being streamed; messages marked but not committed.
    in_more: bool,
    in_msgs: u64,
    hb: Option<Heartbeat>,
    /// The peer speaks ZMTP 3.1 (subscriptions as commands) rather than 3.0 (as messages).
    v31: bool,
    /// PUB/XPUB: subscriptions that arrived inside a multipart message, as legacy
    /// `[0x01|0x00][topic]` frames for the inbound pipe once the message ends.
    sub_backlog: Vec<u8>,
}

/// Heartbeat settings (HEARTBEAT_IVL, _TTL, _TIMEOUT).
pub(crate) struct HeartbeatConfig {
    pub(crate) ivl: Option<Duration>,
    pub(crate) ttl: Option<Duration>,
    pub(crate) timeout: Option<Duration>,
}

impl ZmtpSession {
    pub(crate) fn new(max_msg_size: Option<u64>, mem_limit: u64, publishes: bool) -> Self {
        ZmtpSession {
            max_msg_size,
            mem_limit,
            publishes,
            handshake: None,
            decoder: Decoder::new(max_msg_size),
            ctrl: Vec::new(),
            ctrl_inflight: Vec::new(),
            ctrl_off: 0,
            out_frame_left: 0,
            out_in_msg: false,
            in_more: false,
            in_msgs: 0,
            hb: None,
            v31: true,
            sub_backlog: Vec::new(),
        }
    }

    /// The connection ended: forget what belonged to it (the outbound walk is settled
    /// separately, with `skip_partial` or `clear_out_walk`).
    pub(crate) fn reset(&mut self) {
        self.handshake = None;
        self.ctrl.clear();
        self.ctrl_inflight.clear();
        self.ctrl_off = 0;
        self.hb = None;
        self.decoder = Decoder::new(self.max_msg_size);
        self.in_msgs = 0;
    }

    // ---- handshake ------------------------------------------------------------------------

    /// Begin the handshake: our greeting is queued.
    pub(crate) fn start_handshake(&mut self, cfg: HandshakeConfig) {
        let mut hs = Box::new(Handshake::new(cfg));
        self.ctrl.extend_from_slice(&hs.take_output());
        self.handshake = Some(hs);
    }

    /// Feed handshake bytes. Returns how many were consumed and, once the peer's READY was
    /// accepted, its description (bytes after that are data for `handle_bytes`). On error an
    /// ERROR command may be queued: close once it is sent (`ctrl_done`).
    pub(crate) fn handle_handshake(
        &mut self,
        data: &[u8],
    ) -> Result<(usize, Option<PeerInfo>), ProtocolError> {
        let Some(hs) = self.handshake.as_mut() else {
            return Ok((0, None));
        };
        let r = hs.feed(data);
        self.ctrl.extend_from_slice(&hs.take_output());
        let (n, status) = r?;
        match status {
            HandshakeStatus::Done(info) => {
                self.handshake = None;
                self.v31 = info.v31;
                Ok((n, Some(info)))
            }
            _ => Ok((n, None)),
        }
    }

    /// Start heartbeats (if configured) once the handshake completed.
    pub(crate) fn start_heartbeat(&mut self, cfg: &HeartbeatConfig, now: Instant) {
        if cfg.ivl.is_some() || cfg.ttl.is_some() {
            self.hb = Some(Heartbeat::new(cfg.ivl, cfg.ttl, cfg.timeout, now));
        }
    }

    /// Queue a subscription (or cancellation) in the form the peer's version expects.
    pub(crate) fn queue_subscription(&mut self, on: bool, topic: &[u8]) {
        encode_subscription(&mut self.ctrl, on, topic, self.v31);
    }

    // ---- receive --------------------------------------------------------------------------

    /// Decode data-phase bytes into `inn` (None: the bytes are checked and dropped). Whole
    /// messages are marked, not committed: `take_marked` says how many, also after an error
    /// (messages before a violation are delivered, as libzmq does). `now` is asked only when
    /// heartbeats or a PING need the time. Returns whether control frames were queued.
    pub(crate) fn handle_bytes(
        &mut self,
        now: impl Fn() -> Instant,
        data: &[u8],
        mut inn: Option<&mut pipe::Writer>,
    ) -> Result<bool, CloseReason> {
        if let Some(hb) = self.hb.as_mut() {
            hb.on_traffic(now());
        }
        let mut rest = data;
        let mut queued = false;
        loop {
            let (n, item) = self.decoder.decode(rest)?;
            match item {
                None if n == 0 => break,
                None => {}
                Some(Decoded::Command(cmd)) => queued |= self.on_command(cmd, &now)?,
                Some(item) => self.on_data(item, inn.as_deref_mut())?,
            }
            rest = &rest[n..];
            if !self.sub_backlog.is_empty() && self.decoder.at_message_boundary() {
                if let Some(inn) = inn.as_deref_mut() {
                    let n = frames_in(&self.sub_backlog);
                    inn.append(self.sub_backlog.len())
                        .copy_from_slice(&self.sub_backlog);
                    inn.mark();
                    self.in_msgs += n;
                }
                self.sub_backlog.clear();
            }
        }
        Ok(queued)
    }

    /// Data frames into the pipe: runs of whole messages with one copy, larger frames
    /// streamed into a reservation.
    #[inline]
    fn on_data(
        &mut self,
        item: Decoded<'_>,
        inn: Option<&mut pipe::Writer>,
    ) -> Result<(), CloseReason> {
        if let Decoded::FrameStart { more, .. } = item {
            self.in_more = more;
        }
        let Some(inn) = inn else { return Ok(()) };
        match item {
            Decoded::Data {
                bytes,
                messages,
                complete,
                ..
            } => {
                if complete > 0 {
                    inn.append(complete).copy_from_slice(&bytes[..complete]);
                    inn.mark();
                    self.in_msgs += messages as u64;
                }
                if complete < bytes.len() {
                    inn.append(bytes.len() - complete)
                        .copy_from_slice(&bytes[complete..]);
                }
            }
            Decoded::FrameStart {
                header,
                header_len,
                body_len,
                ..
            } => {
                // A frame larger than this machine's memory can never be held.
                let total = usize::try_from(body_len)
                    .ok()
                    .filter(|_| body_len <= self.mem_limit)
                    .and_then(|b| b.checked_add(header_len))
                    .ok_or(CloseReason::NoMemory(
                        usize::try_from(body_len).unwrap_or(usize::MAX),
                    ))?;
                inn.begin_fill(total)?;
                inn.fill(&header[..header_len])?;
            }
            Decoded::Body { bytes, last } => {
                inn.fill(bytes)?;
                if last && !self.in_more {
                    inn.mark();
                    self.in_msgs += 1;
                }
            }
            Decoded::Command(_) => {}
        }
        Ok(())
    }

    /// A command from the peer; returns whether a reply was queued.
    fn on_command(
        &mut self,
        cmd: Command,
        now: &impl Fn() -> Instant,
    ) -> Result<bool, CloseReason> {
        match cmd {
            Command::Ping { ttl_ds, context } => {
                let reply = match self.hb.as_mut() {
                    Some(hb) => hb.on_ping(ttl_ds, &context, now()),
                    None => Command::Pong(context.into_iter().take(16).collect()),
                };
                reply.encode(&mut self.ctrl);
                return Ok(true);
            }
            Command::Pong(_) | Command::Unknown { .. } => {}
            Command::Subscribe(topic) if self.publishes => {
                crate::wire::legacy_subscription(&mut self.sub_backlog, true, &topic);
            }
            Command::Cancel(topic) if self.publishes => {
                crate::wire::legacy_subscription(&mut self.sub_backlog, false, &topic);
            }
            Command::Subscribe(_) | Command::Cancel(_) => {}
            Command::Error(reason) => return Err(ProtocolError::PeerError(reason).into()),
            Command::Ready(_) => {
                return Err(ProtocolError::UnexpectedCommand(b"READY".to_vec()).into())
            }
        }
        Ok(false)
    }

    /// Messages marked in the inbound pipe since the last call, for the caller to commit.
    pub(crate) fn take_marked(&mut self) -> u64 {
        std::mem::take(&mut self.in_msgs)
    }

    // ---- timers ---------------------------------------------------------------------------

    /// When `handle_timeout` is due next (heartbeats), if ever.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.hb.as_ref().and_then(Heartbeat::next_deadline)
    }

    /// The heartbeat deadline passed: queue a PING, or fail when the peer went silent.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Result<(), CloseReason> {
        let Some(hb) = self.hb.as_mut() else {
            return Ok(());
        };
        if let Some(ping) = hb.on_timer(now)? {
            ping.encode(&mut self.ctrl);
        }
        Ok(())
    }

    /// Whether heartbeats run (a timer fired for them is not stale).
    pub(crate) fn has_heartbeat(&self) -> bool {
        self.hb.is_some()
    }

    // ---- send -----------------------------------------------------------------------------

    /// Start the next send with the control bytes to put in front of it: pending frames move
    /// in only at a message boundary of the outbound stream (never inside a message the peer
    /// is receiving). The lease owns them until `handle_sent`; the caller may add pipe data.
    /// `iov`: the array the previous lease gave back.
    pub(crate) fn poll_transmit(&mut self, iov: IovArray) -> SendLease {
        if self.ctrl_off == self.ctrl_inflight.len()
            && !self.ctrl.is_empty()
            && self.out_at_boundary()
        {
            self.ctrl_inflight.clear();
            self.ctrl_off = 0;
            std::mem::swap(&mut self.ctrl, &mut self.ctrl_inflight);
        }
        SendLease::new(iov, std::mem::take(&mut self.ctrl_inflight), self.ctrl_off)
    }

    /// The send of `lease` took `n` bytes (0: it was never made). Ends the lease; returns
    /// how many of the bytes were pipe data, and the iovec array for the next lease.
    pub(crate) fn handle_sent(&mut self, n: usize, lease: SendLease) -> (usize, IovArray) {
        let ctrl_len = lease.ctrl_len();
        let (iov, ctrl) = lease.release();
        self.ctrl_inflight = ctrl;
        let k = n.min(ctrl_len);
        self.ctrl_off += k;
        (n - k, iov)
    }

    /// No control bytes are queued or unsent.
    pub(crate) fn ctrl_done(&self) -> bool {
        self.ctrl_off == self.ctrl_inflight.len() && self.ctrl.is_empty()
    }

    /// Control frames are queued (not yet handed to a send).
    pub(crate) fn has_queued_ctrl(&self) -> bool {
        !self.ctrl.is_empty()
    }

    /// The outbound stream is between messages.
    pub(crate) fn out_at_boundary(&self) -> bool {
        self.out_frame_left == 0 && !self.out_in_msg
    }

    /// Consume `n` sent pipe bytes from `out`, keeping our place in the frame stream.
    /// The frames of one readable piece are walked in place and consumed together.
    /// Returns how many messages were completed (their last byte among these).
    pub(crate) fn walk_sent(&mut self, out: &mut pipe::Reader, mut n: usize) -> u64 {
        let mut done = 0;
        while n > 0 {
            let buf = out.peek();
            let span = buf.len().min(n);
            let mut at = 0;
            while at < span {
                if self.out_frame_left == 0 {
                    let h = frame::parse_header(&buf[at..])
                        .ok()
                        .flatten()
                        .expect("outbound pipe holds whole frames");
                    self.out_frame_left = h.frame_len();
                    self.out_in_msg = h.more();
                }
                let take = self.out_frame_left.min((span - at) as u64) as usize;
                at += take;
                self.out_frame_left -= take as u64;
                done += u64::from(self.out_frame_left == 0 && !self.out_in_msg);
            }
            out.consume(at);
            n -= at;
        }
        done
    }

    /// After a disconnect, drop the remainder of a partly sent message (the peer never saw it
    /// whole; the next connection starts at a message boundary).
    pub(crate) fn skip_partial(&mut self, out: &mut pipe::Reader) {
        loop {
            if self.out_frame_left > 0 {
                let k = self.out_frame_left.min(out.peek().len() as u64) as usize;
                if k == 0 {
                    break;
                }
                out.consume(k);
                self.out_frame_left -= k as u64;
                continue;
            }
            if !self.out_in_msg {
                break;
            }
            let Some(h) = frame::parse_header(out.peek()).ok().flatten() else {
                break;
            };
            self.out_frame_left = h.frame_len();
            self.out_in_msg = h.more();
        }
        self.clear_out_walk();
    }

    /// The outbound pipe is gone: forget the place in it.
    pub(crate) fn clear_out_walk(&mut self) {
        self.out_frame_left = 0;
        self.out_in_msg = false;
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::SocketType;

    fn session(ty: SocketType) -> ZmtpSession {
        let mut s = ZmtpSession::new(None, u64::MAX, matches!(ty, SocketType::Pub));
        s.start_handshake(HandshakeConfig {
            socket_type: ty,
            identity: Vec::new(),
        });
        s
    }

    /// Everything `s` would send now, as if the send completed in full.
    fn transmit(s: &mut ZmtpSession) -> Vec<u8> {
        let lease = s.poll_transmit(IovArray::default());
        let out = lease.ctrl_bytes().to_vec();
        assert_eq!(s.handle_sent(out.len(), lease).0, 0);
        out
    }

    /// Whether `s` has control bytes to send now (without sending them).
    fn has_transmit(s: &mut ZmtpSession) -> bool {
        let lease = s.poll_transmit(IovArray::default());
        let any = !lease.ctrl_bytes().is_empty();
        s.handle_sent(0, lease);
        any
    }

    /// Send what `from` has for `to`, `chunk` bytes at a time; true once `to` is done.
    fn hand_over(from: &mut ZmtpSession, to: &mut ZmtpSession, chunk: usize) -> bool {
        let mut done = false;
        for piece in transmit(from).chunks(chunk.max(1)) {
            let (n, info) = to.handle_handshake(piece).expect("handshake");
            assert_eq!(n, piece.len());
            done |= info.is_some();
        }
        done
    }

    /// Run the handshake between two sessions, bytes handed over `chunk` at a time.
    fn connect(a: &mut ZmtpSession, b: &mut ZmtpSession, chunk: usize) {
        let (mut a_done, mut b_done) = (false, false);
        for _ in 0..10 {
            b_done |= hand_over(a, b, chunk);
            a_done |= hand_over(b, a, chunk);
            if a_done && b_done {
                return;
            }
        }
        panic!("handshake did not finish");
    }

    #[test]
    fn greeting_first_then_ready() {
        let mut a = session(SocketType::Dealer);
        let greeting = transmit(&mut a);
        assert_eq!(greeting.len(), 64);
        assert_eq!((greeting[0], greeting[9], greeting[10]), (0xFF, 0x7F, 3));
        assert_eq!(&greeting[12..16], b"NULL");
        assert!(!has_transmit(&mut a), "READY waits for the peer's greeting");
        let mut b = session(SocketType::Router);
        assert_eq!(b.handle_handshake(&greeting).unwrap(), (64, None));
        for chunk in [1, 7, 64, 1000] {
            let (mut a, mut b2) = (session(SocketType::Dealer), session(SocketType::Router));
            connect(&mut a, &mut b2, chunk);
        }
        connect(&mut a, &mut b, 1000);
    }

    #[test]
    fn incompatible_peer_gets_an_error_command() {
        let mut a = session(SocketType::Pub);
        let mut b = session(SocketType::Push);
        let g = transmit(&mut b);
        a.handle_handshake(&g).expect("greeting is fine");
        let a_out = transmit(&mut a);
        // PUSH rejects PUB too, after queueing its READY.
        let _ = b.handle_handshake(&a_out);
        let ready = transmit(&mut b);
        let e = a
            .handle_handshake(&ready)
            .expect_err("PUB does not talk to PUSH");
        assert!(matches!(e, ProtocolError::IncompatibleSocketType { .. }));
        assert!(a.has_queued_ctrl(), "an ERROR command is queued");
        let error = transmit(&mut a);
        assert!(error.windows(5).any(|w| w == b"ERROR"));
        assert!(a.ctrl_done());
    }

    #[test]
    fn data_decodes_into_the_pipe_and_errors_are_typed() {
        let (mut a, mut b) = (session(SocketType::Pair), session(SocketType::Pair));
        connect(&mut a, &mut b, 1000);
        let t0 = Instant::now();
        let (mut w, mut r) = pipe::pipe(1000);
        let mut wire = Vec::new();
        for body in [&b"one"[..], b"two"] {
            let mut hdr = [0u8; frame::MAX_HEADER];
            let hl = frame::encode_header(&mut hdr, false, false, body.len() as u64);
            wire.extend_from_slice(&hdr[..hl]);
            wire.extend_from_slice(body);
        }
        let expected = wire.clone();
        Command::Ping {
            ttl_ds: 0,
            context: b"hi".to_vec(),
        }
        .encode(&mut wire);
        assert!(a
            .handle_bytes(|| t0, &wire, Some(&mut w))
            .expect("valid data"));
        assert_eq!(a.take_marked(), 2);
        w.commit_marked(2);
        assert_eq!(r.peek(), &expected[..]);
        let pong = transmit(&mut a);
        assert!(pong.windows(4).any(|x| x == b"PONG"));
        // A reserved flag bit: the whole message before it is still marked.
        let bad = [&expected[..5], &[0x80, 0][..]].concat();
        let e = a.handle_bytes(|| t0, &bad, Some(&mut w)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "protocol error: reserved frame flags set (0x80)"
        );
        assert_eq!(a.take_marked(), 1);
        let mut err = Vec::new();
        Command::Error(b"go away".to_vec()).encode(&mut err);
        let mut c = session(SocketType::Pair);
        connect(&mut c, &mut session(SocketType::Pair), 1000);
        let e = c.handle_bytes(|| t0, &err, None).unwrap_err();
        assert!(matches!(
            e,
            CloseReason::Protocol(ProtocolError::PeerError(_))
        ));
        assert_eq!(
            e.disconnect_reason(false),
            crate::monitor::DisconnectReason::Transport
        );
    }

    #[test]
    fn heartbeats_ping_then_time_out() {
        let (mut a, mut b) = (session(SocketType::Pair), session(SocketType::Pair));
        connect(&mut a, &mut b, 1000);
        let t0 = Instant::now();
        let ivl = Duration::from_millis(100);
        a.start_heartbeat(
            &HeartbeatConfig {
                ivl: Some(ivl),
                ttl: None,
                timeout: None,
            },
            t0,
        );
        assert_eq!(a.poll_timeout(), Some(t0 + ivl));
        a.handle_timeout(t0 + ivl)
            .expect("first deadline sends a PING");
        assert!(transmit(&mut a).windows(4).any(|x| x == b"PING"));
        let at = a.poll_timeout().expect("waiting for an answer");
        let e = a.handle_timeout(at).unwrap_err();
        assert!(matches!(e, CloseReason::HeartbeatTimeout));
        assert_eq!(e.to_string(), "heartbeat timeout");
    }

    #[test]
    fn control_frames_wait_for_a_message_boundary() {
        let (mut a, mut b) = (session(SocketType::Sub), session(SocketType::Pub));
        connect(&mut a, &mut b, 1000);
        let (mut w, mut r) = pipe::pipe(1000);
        // A two-frame message, of which the driver sends 3 bytes (a partial send).
        let mut hdr = [0u8; frame::MAX_HEADER];
        for (more, body) in [(true, &b"head"[..]), (false, b"tail")] {
            let hl = frame::encode_header(&mut hdr, more, false, body.len() as u64);
            w.write_frame(&hdr[..hl], body);
        }
        w.commit(1);
        let lease = a.poll_transmit(IovArray::default());
        assert_eq!(a.handle_sent(3, lease).0, 3);
        a.walk_sent(&mut r, 3);
        assert!(!a.out_at_boundary());
        a.queue_subscription(true, b"topic");
        assert!(!has_transmit(&mut a), "not inside a message");
        a.walk_sent(&mut r, 9);
        assert!(a.out_at_boundary());
        let sub = transmit(&mut a);
        assert!(sub.windows(5).any(|x| x == b"topic"));
        assert!(a.ctrl_done());
        // A subscriber's SUBSCRIBE reaches a publisher's pipe as a legacy message.
        let (mut pw, mut pr) = pipe::pipe(1000);
        assert!(!b
            .handle_bytes(Instant::now, &sub, Some(&mut pw))
            .expect("a subscription"));
        assert_eq!(b.take_marked(), 1);
        pw.commit_marked(1);
        assert_eq!(pr.peek(), &[0, 6, 1, b't', b'o', b'p', b'i', b'c'][..]);
    }

    #[test]
    fn walk_sent_keeps_its_place_for_every_cut() {
        let msgs: [&[&[u8]]; 4] = [&[b"a", b"bcd"], &[b""], &[b"efgh", b"", b"i"], &[b"jk"]];
        let (mut wire, mut boundaries) = (Vec::new(), vec![0]);
        let mut hdr = [0u8; frame::MAX_HEADER];
        for m in msgs {
            for (i, f) in m.iter().enumerate() {
                let hl = frame::encode_header(&mut hdr, i + 1 < m.len(), false, f.len() as u64);
                wire.extend_from_slice(&hdr[..hl]);
                wire.extend_from_slice(f);
            }
            boundaries.push(wire.len());
        }
        for step in 1..=wire.len() {
            let mut a = ZmtpSession::new(None, u64::MAX, false);
            let (mut w, mut r) = pipe::pipe(1000);
            w.write_frame(&[], &wire);
            w.commit(msgs.len() as u64);
            let (mut done, mut whole) = (0, 0);
            while done < wire.len() {
                let k = step.min(wire.len() - done);
                whole += a.walk_sent(&mut r, k);
                done += k;
                assert_eq!(
                    a.out_at_boundary(),
                    boundaries.contains(&done),
                    "step {step} at {done}"
                );
                // Messages whose last byte was sent: the boundaries passed so far.
                let passed = boundaries[1..].iter().filter(|&&b| b <= done).count();
                assert_eq!(whole, passed as u64, "step {step} at {done}");
                assert_eq!(r.peek(), &wire[done..], "step {step} at {done}");
            }
        }
    }

    #[test]
    fn skip_partial_drops_the_rest_of_a_cut_message() {
        let mut a = ZmtpSession::new(None, u64::MAX, false);
        let (mut w, mut r) = pipe::pipe(1000);
        let mut hdr = [0u8; frame::MAX_HEADER];
        for (more, body) in [(true, &b"ab"[..]), (false, b"cd"), (false, b"next")] {
            let hl = frame::encode_header(&mut hdr, more, false, body.len() as u64);
            w.write_frame(&hdr[..hl], body);
        }
        w.commit(2);
        a.walk_sent(&mut r, 1);
        a.skip_partial(&mut r);
        assert!(a.out_at_boundary());
        assert_eq!(r.peek(), &[0, 4, b'n', b'e', b'x', b't'][..]);
    }
}
