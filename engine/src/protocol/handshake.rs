//! Connection setup: greeting exchange followed by the NULL mechanism's READY
//! exchange.
//!
//! Like libzmq, we send our whole greeting at once and our READY as soon as
//! the peer's greeting checks out, without waiting for the peer's READY; the
//! as-server role does not matter for NULL. Input is accepted in arbitrary
//! pieces, and nothing past the peer's READY is consumed so the caller can
//! hand those bytes to the data-phase [`Decoder`](super::Decoder).

use super::command::{ready_for, Command, Metadata};
use super::frame::{parse_header, LONG, MAX_HEADER};
use super::greeting::{check_signature, check_version, greeting, parse_greeting, GREETING_LEN};
use super::{ProtocolError, SocketType};

pub use super::heartbeat::Heartbeat;

/// ERROR reason sent to a peer whose socket type we cannot talk to.
pub const INVALID_SOCKET_TYPE: &[u8] = b"invalid socket type";

/// Largest READY (or ERROR) body accepted during the handshake: metadata is
/// small in practice, and this is buffered before the peer is authenticated.
pub const MAX_HANDSHAKE_COMMAND: u64 = 1 << 20;

/// Our side of the handshake.
#[derive(Debug, Clone)]
pub struct HandshakeConfig {
    /// Our socket type, announced in READY and checked against the peer's.
    pub socket_type: SocketType,
    /// Our routing id (sent only by REQ, DEALER and ROUTER).
    pub identity: Vec<u8>,
}

/// Progress reported by [`Handshake::feed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeStatus {
    /// Need more input.
    InProgress,
    /// Done: the peer's greeting and READY were valid and compatible.
    Done(PeerInfo),
}

/// What the handshake learned about the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's socket type (compatible with ours).
    pub socket_type: SocketType,
    /// The peer's `Identity` property (empty if absent).
    pub identity: Vec<u8>,
    /// All READY properties.
    pub metadata: Metadata,
    /// The peer speaks ZMTP 3.1 (SUBSCRIBE/CANCEL and PING/PONG commands).
    pub v31: bool,
}

/// Where the handshake is.
#[derive(Debug)]
enum Phase {
    /// Collecting the peer's 64-byte greeting.
    Greeting,
    /// Collecting the peer's first frame, which must be READY.
    Ready,
    /// Finished successfully.
    Done(PeerInfo),
    /// Failed; the error is repeated on further input.
    Failed(ProtocolError),
}

/// The connection setup state machine (greeting + NULL READY exchange).
#[derive(Debug)]
pub struct Handshake {
    cfg: HandshakeConfig,
    phase: Phase,
    /// Bytes waiting to be sent.
    out: Vec<u8>,
    peer_greeting: [u8; GREETING_LEN],
    greeting_len: usize,
    v31: bool,
    /// The peer's first frame so far (header + body).
    frame: Vec<u8>,
}

impl Handshake {
    /// Start a handshake; our greeting is queued for sending right away.
    pub fn new(cfg: HandshakeConfig) -> Handshake {
        Handshake {
            cfg,
            phase: Phase::Greeting,
            out: greeting().to_vec(),
            peer_greeting: [0; GREETING_LEN],
            greeting_len: 0,
            v31: false,
            frame: Vec::new(),
        }
    }

    /// Bytes to send now: our greeting immediately, our READY once the
    /// peer's greeting is validated, an ERROR command after an incompatible
    /// peer. Call after every [`feed`](Self::feed); empty when nothing is
    /// pending.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Whether the handshake completed successfully.
    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done(_))
    }

    /// Feed received bytes. Returns `(consumed, status)`. After `Done`, bytes
    /// beyond the peer's READY are not consumed: they belong to the data
    /// phase. Once failed, every call returns the same error.
    pub fn feed(&mut self, input: &[u8]) -> Result<(usize, HandshakeStatus), ProtocolError> {
        match &self.phase {
            Phase::Done(info) => return Ok((0, HandshakeStatus::Done(info.clone()))),
            Phase::Failed(e) => return Err(e.clone()),
            Phase::Greeting | Phase::Ready => {}
        }
        self.step(input)
            .inspect_err(|e| self.phase = Phase::Failed(e.clone()))
    }

    fn step(&mut self, input: &[u8]) -> Result<(usize, HandshakeStatus), ProtocolError> {
        let mut pos = 0;
        if let Phase::Greeting = self.phase {
            let n = (GREETING_LEN - self.greeting_len).min(input.len());
            self.peer_greeting[self.greeting_len..self.greeting_len + n]
                .copy_from_slice(&input[..n]);
            self.greeting_len += n;
            pos = n;
            let got = &self.peer_greeting[..self.greeting_len];
            check_signature(got)?;
            check_version(got)?;
            if self.greeting_len < GREETING_LEN {
                return Ok((pos, HandshakeStatus::InProgress));
            }
            self.v31 = parse_greeting(&self.peer_greeting)?.is_v31();
            ready_for(self.cfg.socket_type, &self.cfg.identity).encode(&mut self.out);
            self.phase = Phase::Ready;
        }
        let rest = &input[pos..];
        let mut used = 0;
        let header_len = loop {
            let need = match parse_header(&self.frame)? {
                Some(h) => {
                    if !h.is_command() {
                        return Err(ProtocolError::DataBeforeReady);
                    }
                    if h.body_len > MAX_HANDSHAKE_COMMAND {
                        return Err(ProtocolError::FrameTooLarge {
                            size: h.body_len,
                            max: MAX_HANDSHAKE_COMMAND,
                        });
                    }
                    if self.frame.len() as u64 == h.frame_len() {
                        break h.header_len;
                    }
                    h.frame_len() as usize
                }
                None if self.frame.is_empty() => 1,
                None if self.frame[0] & LONG != 0 => MAX_HEADER,
                None => 2,
            };
            if used == rest.len() {
                return Ok((pos + used, HandshakeStatus::InProgress));
            }
            let n = (need - self.frame.len()).min(rest.len() - used);
            self.frame.extend_from_slice(&rest[used..used + n]);
            used += n;
        };
        let consumed = pos + used;
        let info = self.on_command(header_len)?;
        self.frame = Vec::new();
        self.phase = Phase::Done(info.clone());
        Ok((consumed, HandshakeStatus::Done(info)))
    }

    /// Check the peer's first command, which must be a READY we can accept.
    fn on_command(&mut self, header_len: usize) -> Result<PeerInfo, ProtocolError> {
        let metadata = match Command::parse(&self.frame[header_len..])? {
            Command::Ready(m) => m,
            Command::Error(reason) => return Err(ProtocolError::PeerError(reason)),
            other => return Err(ProtocolError::UnexpectedCommand(other.name().to_vec())),
        };
        let ours = self.cfg.socket_type;
        let Some(raw) = metadata.socket_type() else {
            Command::Error(INVALID_SOCKET_TYPE.to_vec()).encode(&mut self.out);
            return Err(ProtocolError::MissingSocketType);
        };
        let socket_type = match SocketType::from_bytes(raw) {
            Some(t) if ours.compatible_with(t) => t,
            _ => {
                Command::Error(INVALID_SOCKET_TYPE.to_vec()).encode(&mut self.out);
                return Err(ProtocolError::IncompatibleSocketType {
                    ours,
                    peer: Some(raw.to_vec()),
                });
            }
        };
        let identity = metadata.identity().unwrap_or_default().to_vec();
        if identity.len() > 255 {
            return Err(ProtocolError::MalformedMetadata);
        }
        Ok(PeerInfo {
            socket_type,
            identity,
            metadata,
            v31: self.v31,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::frame::write_frame;
    use super::*;

    fn cfg(t: SocketType, id: &[u8]) -> HandshakeConfig {
        HandshakeConfig {
            socket_type: t,
            identity: id.to_vec(),
        }
    }

    type Outcome = Option<Result<PeerInfo, ProtocolError>>;

    /// Feed up to `chunk` pending bytes into `h`, recording the outcome.
    fn step(h: &mut Handshake, inbox: &mut Vec<u8>, outcome: &mut Outcome, chunk: usize) {
        if outcome.is_some() || inbox.is_empty() {
            return;
        }
        let n = chunk.min(inbox.len());
        match h.feed(&inbox[..n]) {
            Ok((used, status)) => {
                assert!(used <= n);
                inbox.drain(..used);
                match status {
                    HandshakeStatus::Done(info) => *outcome = Some(Ok(info)),
                    HandshakeStatus::InProgress => assert_eq!(used, n),
                }
            }
            Err(e) => *outcome = Some(Err(e)),
        }
    }

    /// Wire two handshakes to each other; returns both outcomes and the
    /// bytes each side sent in total.
    fn run_pair(
        a: HandshakeConfig,
        b: HandshakeConfig,
        chunk: usize,
    ) -> (Outcome, Outcome, Vec<u8>, Vec<u8>) {
        let mut ha = Handshake::new(a);
        let mut hb = Handshake::new(b);
        let (mut to_a, mut to_b) = (Vec::new(), Vec::new());
        let (mut sent_a, mut sent_b) = (Vec::new(), Vec::new());
        let (mut ra, mut rb) = (None, None);
        for _ in 0..10_000 {
            let oa = ha.take_output();
            let ob = hb.take_output();
            sent_a.extend_from_slice(&oa);
            sent_b.extend_from_slice(&ob);
            to_b.extend_from_slice(&oa);
            to_a.extend_from_slice(&ob);
            step(&mut ha, &mut to_a, &mut ra, chunk);
            step(&mut hb, &mut to_b, &mut rb, chunk);
            if ra.is_some() && rb.is_some() {
                break;
            }
        }
        sent_a.extend_from_slice(&ha.take_output());
        sent_b.extend_from_slice(&hb.take_output());
        (ra, rb, sent_a, sent_b)
    }

    #[test]
    fn all_pairs() {
        for a in SocketType::ALL {
            for b in SocketType::ALL {
                let (ra, rb, sent_a, sent_b) = run_pair(cfg(a, b"ida"), cfg(b, b"idb"), usize::MAX);
                let ra = ra.expect("a finished");
                let rb = rb.expect("b finished");
                let error_frame = Command::Error(INVALID_SOCKET_TYPE.to_vec()).to_frame();
                if a.compatible_with(b) {
                    let ia = ra.unwrap();
                    let ib = rb.unwrap();
                    assert_eq!(ia.socket_type, b);
                    assert_eq!(ib.socket_type, a);
                    assert!(ia.v31 && ib.v31);
                    let id_b: &[u8] = if b.sends_identity() { b"idb" } else { b"" };
                    assert_eq!(ia.identity, id_b);
                    assert_eq!(ia.metadata.socket_type(), Some(b.as_str().as_bytes()));
                    let mut expected = greeting().to_vec();
                    ready_for(a, b"ida").encode(&mut expected);
                    assert_eq!(sent_a, expected);
                } else {
                    assert_eq!(
                        ra,
                        Err(ProtocolError::IncompatibleSocketType {
                            ours: a,
                            peer: Some(b.as_str().as_bytes().to_vec())
                        })
                    );
                    assert!(matches!(
                        rb,
                        Err(ProtocolError::IncompatibleSocketType { .. })
                    ));
                    assert!(sent_a.ends_with(&error_frame), "{a} {b}");
                    assert!(sent_b.ends_with(&error_frame), "{a} {b}");
                }
            }
        }
    }

    #[test]
    fn byte_by_byte_and_odd_chunks() {
        for chunk in [1, 2, 3, 7, 10, 63, 64, 65, 100] {
            let (ra, rb, _, _) = run_pair(
                cfg(SocketType::Router, b""),
                cfg(SocketType::Dealer, b"me"),
                chunk,
            );
            let ra = ra.unwrap().unwrap();
            assert_eq!(ra.socket_type, SocketType::Dealer);
            assert_eq!(ra.identity, b"me");
            assert_eq!(rb.unwrap().unwrap().socket_type, SocketType::Router);
        }
    }

    /// Peer bytes: greeting (possibly modified) + what follows.
    fn peer_stream(minor: u8, after: &[u8]) -> Vec<u8> {
        let mut g = greeting();
        g[11] = minor;
        let mut v = g.to_vec();
        v.extend_from_slice(after);
        v
    }

    /// Feed `input` byte by byte; returns total consumed and final status.
    fn feed_bytes(
        h: &mut Handshake,
        input: &[u8],
    ) -> Result<(usize, HandshakeStatus), ProtocolError> {
        let mut total = 0;
        for b in input {
            let (n, status) = h.feed(std::slice::from_ref(b))?;
            total += n;
            if let HandshakeStatus::Done(_) = status {
                return Ok((total, status));
            }
        }
        Ok((total, HandshakeStatus::InProgress))
    }

    #[test]
    fn zmtp30_peer_and_trailing_data() {
        let mut after = ready_for(SocketType::Push, b"").to_frame();
        let ready_len = after.len();
        write_frame(&mut after, false, false, b"data");
        let input = peer_stream(0, &after);
        let mut h = Handshake::new(cfg(SocketType::Pull, b""));
        let (n, status) = h.feed(&input).unwrap();
        assert_eq!(n, 64 + ready_len);
        let HandshakeStatus::Done(info) = status else {
            panic!("not done")
        };
        assert!(!info.v31);
        assert_eq!(info.socket_type, SocketType::Push);
        assert!(info.identity.is_empty());
        assert!(h.is_done());
        // Further feeds consume nothing and repeat Done.
        assert_eq!(
            h.feed(&input[n..]).unwrap(),
            (0, HandshakeStatus::Done(info))
        );
        let mut expected = greeting().to_vec();
        ready_for(SocketType::Pull, b"").encode(&mut expected);
        assert_eq!(h.take_output(), expected);
        assert!(h.take_output().is_empty());
    }

    #[test]
    fn output_order() {
        let mut h = Handshake::new(cfg(SocketType::Req, b"x"));
        assert_eq!(h.take_output(), greeting());
        assert!(h.take_output().is_empty());
        let g = greeting();
        assert_eq!(h.feed(&g[..63]).unwrap(), (63, HandshakeStatus::InProgress));
        assert!(h.take_output().is_empty(), "READY only after full greeting");
        assert_eq!(h.feed(&g[63..]).unwrap(), (1, HandshakeStatus::InProgress));
        assert_eq!(h.take_output(), ready_for(SocketType::Req, b"x").to_frame());
    }

    #[test]
    fn byte_by_byte_single_side() {
        let mut after = ready_for(SocketType::Router, b"rid").to_frame();
        let ready_len = after.len();
        write_frame(&mut after, false, false, b"tail");
        let input = peer_stream(1, &after);
        let mut h = Handshake::new(cfg(SocketType::Req, b""));
        let (n, status) = feed_bytes(&mut h, &input).unwrap();
        assert_eq!(n, 64 + ready_len);
        let HandshakeStatus::Done(info) = status else {
            panic!("not done")
        };
        assert_eq!(info.identity, b"rid");
        assert!(info.v31);
    }

    #[test]
    fn greeting_errors_in_every_split() {
        let mut bad_sig = greeting();
        bad_sig[0] = 0x00;
        let mut v2 = greeting();
        v2[10] = 2;
        let mut plain = greeting();
        plain[12..17].copy_from_slice(b"PLAIN");
        let mut bad_end = greeting();
        bad_end[9] = 0x00;
        let cases = [
            (bad_sig, ProtocolError::BadSignature, 1),
            (bad_end, ProtocolError::BadSignature, 10),
            (v2, ProtocolError::UnsupportedVersion(2), 11),
            (plain, ProtocolError::MechanismMismatch, 64),
        ];
        for (g, err, detect_at) in cases {
            for split in 0..=64 {
                let mut h = Handshake::new(cfg(SocketType::Pair, b""));
                let first = h.feed(&g[..split]);
                if split >= detect_at {
                    assert_eq!(first, Err(err.clone()), "split {split}");
                    // Failure is sticky.
                    assert_eq!(h.feed(&g[split..]), Err(err.clone()));
                } else {
                    assert_eq!(first, Ok((split, HandshakeStatus::InProgress)));
                    assert_eq!(h.feed(&g[split..]), Err(err.clone()), "split {split}");
                }
            }
            let mut h = Handshake::new(cfg(SocketType::Pair, b""));
            assert_eq!(feed_bytes(&mut h, &g), Err(err));
        }
    }

    #[test]
    fn data_before_ready() {
        let mut after = Vec::new();
        write_frame(&mut after, false, false, b"early");
        let input = peer_stream(1, &after);
        let mut h = Handshake::new(cfg(SocketType::Pair, b""));
        assert_eq!(h.feed(&input), Err(ProtocolError::DataBeforeReady));
        let mut h = Handshake::new(cfg(SocketType::Pair, b""));
        assert_eq!(
            feed_bytes(&mut h, &input),
            Err(ProtocolError::DataBeforeReady)
        );
    }

    #[test]
    fn peer_error_reported() {
        let after = Command::Error(b"go away".to_vec()).to_frame();
        let input = peer_stream(1, &after);
        let mut h = Handshake::new(cfg(SocketType::Pair, b""));
        assert_eq!(
            h.feed(&input),
            Err(ProtocolError::PeerError(b"go away".to_vec()))
        );
        let mut h = Handshake::new(cfg(SocketType::Pair, b""));
        assert_eq!(
            feed_bytes(&mut h, &input),
            Err(ProtocolError::PeerError(b"go away".to_vec()))
        );
    }

    #[test]
    fn unexpected_and_malformed_commands() {
        let cases = [
            (
                Command::Ping {
                    ttl_ds: 1,
                    context: Vec::new(),
                }
                .to_frame(),
                ProtocolError::UnexpectedCommand(b"PING".to_vec()),
            ),
            (
                b"\x04\x04\x03FOO".to_vec(),
                ProtocolError::UnexpectedCommand(b"FOO".to_vec()),
            ),
            (
                b"\x04\x07\x05READY\x00".to_vec(),
                ProtocolError::MalformedMetadata,
            ),
            (
                Command::Ready(Metadata::default()).to_frame(),
                ProtocolError::MissingSocketType,
            ),
            (b"\x05\x00".to_vec(), ProtocolError::CommandWithMore),
            (b"\x10".to_vec(), ProtocolError::ReservedFlags(0x10)),
        ];
        for (after, err) in cases {
            let mut h = Handshake::new(cfg(SocketType::Pair, b""));
            assert_eq!(h.feed(&peer_stream(1, &after)), Err(err.clone()));
            let mut h = Handshake::new(cfg(SocketType::Pair, b""));
            assert_eq!(feed_bytes(&mut h, &peer_stream(1, &after)), Err(err));
        }
    }

    #[test]
    fn unknown_socket_type_gets_error_command() {
        let after = Command::Ready(Metadata {
            props: vec![("Socket-Type".into(), b"pair".to_vec())],
        })
        .to_frame();
        let mut h = Handshake::new(cfg(SocketType::Pair, b""));
        h.take_output();
        assert_eq!(
            h.feed(&peer_stream(1, &after)),
            Err(ProtocolError::IncompatibleSocketType {
                ours: SocketType::Pair,
                peer: Some(b"pair".to_vec())
            })
        );
        let mut expected = ready_for(SocketType::Pair, b"").to_frame();
        Command::Error(INVALID_SOCKET_TYPE.to_vec()).encode(&mut expected);
        assert_eq!(h.take_output(), expected);
    }

    #[test]
    fn oversized_ready_rejected() {
        let mut after = vec![0x06];
        after.extend_from_slice(&(MAX_HANDSHAKE_COMMAND + 1).to_be_bytes());
        let mut h = Handshake::new(cfg(SocketType::Pair, b""));
        assert!(matches!(
            h.feed(&peer_stream(1, &after)),
            Err(ProtocolError::FrameTooLarge { .. })
        ));
    }

    #[test]
    fn ready_with_long_header_and_extra_props() {
        let ready = Command::Ready(Metadata {
            props: vec![
                ("socket-type".into(), b"DEALER".to_vec()),
                ("X-Big".into(), vec![b'v'; 500]),
                ("identity".into(), b"peer".to_vec()),
            ],
        })
        .to_frame();
        assert_eq!(ready[0], 0x06, "long command header");
        let mut h = Handshake::new(cfg(SocketType::Router, b""));
        let (n, status) = feed_bytes(&mut h, &peer_stream(1, &ready)).unwrap();
        assert_eq!(n, 64 + ready.len());
        let HandshakeStatus::Done(info) = status else {
            panic!()
        };
        assert_eq!(info.identity, b"peer");
        assert_eq!(info.metadata.get("X-BIG").map(<[u8]>::len), Some(500));
    }
}
