//! ZMTP 3.1 wire protocol (also talking to ZMTP 3.0 peers), sans-IO.
//!
//! Nothing in here touches sockets or clocks: callers feed received bytes in,
//! take bytes to send out, and pass the current time where timers matter. That
//! keeps the protocol deterministic and testable byte-for-byte against what
//! libzmq 4.3 puts on the wire.
//!
//! * [`greeting`]: the fixed 64-byte greeting (NULL mechanism).
//! * [`frame`]: frame header encoding and parsing.
//! * [`command`]: command bodies (READY, ERROR, SUBSCRIBE, PING, ...).
//! * [`handshake`]: greeting + READY exchange state machine.
//! * [`decoder`]: streaming decoder for the established connection.
//! * [`heartbeat`]: PING/PONG liveness timers.

#![forbid(unsafe_code)]
// Without the `internals` feature this module is private: the parts that only the fuzzers
// and the codec benchmarks call (whole-frame builders, legacy parsers) are unused then.
#![cfg_attr(not(feature = "internals"), allow(dead_code, unused_imports))]

use std::fmt;

pub mod command;
pub mod decoder;
pub mod frame;
pub mod greeting;
pub mod handshake;
pub mod heartbeat;

pub use command::{ready_for, Command, Metadata};
pub use decoder::{Decoded, Decoder};
pub use frame::FrameHeader;
pub use greeting::PeerGreeting;
pub use handshake::{Handshake, HandshakeConfig, HandshakeStatus, PeerInfo};
pub use heartbeat::Heartbeat;

/// The socket types that ZMTP knows, as announced in READY's `Socket-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocketType {
    /// `PAIR`
    Pair,
    /// `PUB`
    Pub,
    /// `SUB`
    Sub,
    /// `REQ`
    Req,
    /// `REP`
    Rep,
    /// `DEALER`
    Dealer,
    /// `ROUTER`
    Router,
    /// `PULL`
    Pull,
    /// `PUSH`
    Push,
    /// `XPUB`
    XPub,
    /// `XSUB`
    XSub,
    /// `STREAM` (raw TCP in libzmq; never completes a ZMTP handshake).
    Stream,
}

impl SocketType {
    /// Every socket type, handy for exhaustive checks.
    pub const ALL: [SocketType; 12] = [
        SocketType::Pair,
        SocketType::Pub,
        SocketType::Sub,
        SocketType::Req,
        SocketType::Rep,
        SocketType::Dealer,
        SocketType::Router,
        SocketType::Pull,
        SocketType::Push,
        SocketType::XPub,
        SocketType::XSub,
        SocketType::Stream,
    ];

    /// The ZMTP wire name, e.g. `"DEALER"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SocketType::Pair => "PAIR",
            SocketType::Pub => "PUB",
            SocketType::Sub => "SUB",
            SocketType::Req => "REQ",
            SocketType::Rep => "REP",
            SocketType::Dealer => "DEALER",
            SocketType::Router => "ROUTER",
            SocketType::Pull => "PULL",
            SocketType::Push => "PUSH",
            SocketType::XPub => "XPUB",
            SocketType::XSub => "XSUB",
            SocketType::Stream => "STREAM",
        }
    }

    /// Parse a wire name. Exact and case-sensitive, as libzmq compares it.
    pub fn from_bytes(b: &[u8]) -> Option<SocketType> {
        SocketType::ALL
            .into_iter()
            .find(|t| t.as_str().as_bytes() == b)
    }

    /// Whether a socket of this type may talk to a peer of type `peer`
    /// (RFC 37 / libzmq's table; the relation is symmetric).
    pub fn compatible_with(self, peer: SocketType) -> bool {
        use SocketType::*;
        matches!(
            (self, peer),
            (Pair, Pair)
                | (Pub | XPub, Sub | XSub)
                | (Sub | XSub, Pub | XPub)
                | (Req, Rep | Router)
                | (Rep, Req | Dealer)
                | (Dealer, Rep | Dealer | Router)
                | (Router, Req | Dealer | Router)
                | (Push, Pull)
                | (Pull, Push)
        )
    }

    /// Whether READY carries an `Identity` property for this type (libzmq
    /// only sends it from sockets whose peers may route by it).
    pub fn sends_identity(self) -> bool {
        matches!(
            self,
            SocketType::Req | SocketType::Dealer | SocketType::Router
        )
    }
}

impl fmt::Display for SocketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses a socket type name in any case (`"dealer"`, `"XPUB"`), e.g. from a command line or
/// a configuration file. (The wire takes exact names: [`SocketType::from_bytes`].)
impl std::str::FromStr for SocketType {
    type Err = ParseSocketTypeError;

    fn from_str(s: &str) -> Result<SocketType, ParseSocketTypeError> {
        SocketType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| ParseSocketTypeError(s.to_owned()))
    }
}

/// A name that is not a socket type (from [`SocketType`]'s `FromStr`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseSocketTypeError(String);

impl fmt::Display for ParseSocketTypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown socket type {:?} (expected PAIR, PUB, SUB, REQ, REP, DEALER, ROUTER, PULL, PUSH, XPUB, XSUB or STREAM)", self.0)
    }
}

impl std::error::Error for ParseSocketTypeError {}

/// Why a peer was disconnected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// The greeting does not start with the ZMTP 3 signature.
    BadSignature,
    /// The peer speaks a ZMTP major version below 3 (1.0 / 2.0).
    UnsupportedVersion(u8),
    /// The peer's security mechanism is not NULL.
    MechanismMismatch,
    /// A frame had reserved flag bits set (the whole flags byte).
    ReservedFlags(u8),
    /// A command frame had the MORE flag set.
    CommandWithMore,
    /// A frame body exceeds the allowed size.
    FrameTooLarge {
        /// Announced body size.
        size: u64,
        /// The limit it exceeded.
        max: u64,
    },
    /// A command body could not be parsed; the text says which part.
    MalformedCommand(&'static str),
    /// READY's property list is malformed.
    MalformedMetadata,
    /// READY has no `Socket-Type` property.
    MissingSocketType,
    /// The peer's socket type is unknown or cannot talk to ours.
    IncompatibleSocketType {
        /// Our socket type.
        ours: SocketType,
        /// The peer's announced type (raw), if any.
        peer: Option<Vec<u8>>,
    },
    /// A command that is not allowed at this point (its name).
    UnexpectedCommand(Vec<u8>),
    /// A data frame arrived before the peer's READY.
    DataBeforeReady,
    /// The peer sent ERROR with this reason.
    PeerError(Vec<u8>),
    /// The handshake did not finish in time.
    HandshakeTimeout,
    /// The peer stopped answering heartbeats.
    HeartbeatTimeout,
    /// Buffering what the peer sent needed this many bytes, which could not be allocated.
    OutOfMemory(u64),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::BadSignature => f.write_str("bad greeting signature"),
            ProtocolError::UnsupportedVersion(v) => write!(f, "unsupported zmtp version {v}"),
            ProtocolError::MechanismMismatch => f.write_str("security mechanism mismatch"),
            ProtocolError::ReservedFlags(b) => write!(f, "reserved frame flags set ({b:#04x})"),
            ProtocolError::CommandWithMore => f.write_str("command frame with more flag"),
            ProtocolError::FrameTooLarge { size, max } => {
                write!(f, "frame too large ({size} > {max} bytes)")
            }
            ProtocolError::MalformedCommand(what) => write!(f, "malformed command: {what}"),
            ProtocolError::MalformedMetadata => f.write_str("malformed metadata"),
            ProtocolError::MissingSocketType => f.write_str("missing socket type"),
            ProtocolError::IncompatibleSocketType { ours, peer } => match peer {
                Some(p) => write!(
                    f,
                    "incompatible socket type ({} vs {})",
                    ours.as_str(),
                    String::from_utf8_lossy(p)
                ),
                None => write!(f, "incompatible socket type ({})", ours.as_str()),
            },
            ProtocolError::UnexpectedCommand(name) => {
                write!(f, "unexpected command {}", String::from_utf8_lossy(name))
            }
            ProtocolError::DataBeforeReady => f.write_str("data frame before ready"),
            ProtocolError::PeerError(reason) => {
                write!(f, "peer error: {}", String::from_utf8_lossy(reason))
            }
            ProtocolError::HandshakeTimeout => f.write_str("handshake timeout"),
            ProtocolError::HeartbeatTimeout => f.write_str("heartbeat timeout"),
            ProtocolError::OutOfMemory(n) => write!(f, "out of memory ({n} bytes)"),
        }
    }
}

impl std::error::Error for ProtocolError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_type_names_round_trip() {
        for t in SocketType::ALL {
            assert_eq!(SocketType::from_bytes(t.as_str().as_bytes()), Some(t));
            assert_eq!(t.to_string(), t.as_str());
        }
        assert_eq!(SocketType::from_bytes(b"dealer"), None);
        assert_eq!(SocketType::from_bytes(b"DEALER "), None);
        assert_eq!(SocketType::from_bytes(b""), None);
    }

    #[test]
    fn compatibility_is_symmetric_and_matches_table() {
        use SocketType::*;
        let valid = [
            (Pair, Pair),
            (Pub, Sub),
            (Pub, XSub),
            (XPub, Sub),
            (XPub, XSub),
            (Req, Rep),
            (Req, Router),
            (Rep, Dealer),
            (Dealer, Dealer),
            (Dealer, Router),
            (Router, Router),
            (Push, Pull),
        ];
        let mut count = 0;
        for a in SocketType::ALL {
            for b in SocketType::ALL {
                assert_eq!(a.compatible_with(b), b.compatible_with(a), "{a} {b}");
                let expected = valid.contains(&(a, b)) || valid.contains(&(b, a));
                assert_eq!(a.compatible_with(b), expected, "{a} {b}");
                count += usize::from(expected);
            }
        }
        assert_eq!(count, 21);
        assert!(!Stream.compatible_with(Stream));
        assert!(!Push.compatible_with(Push));
        assert!(!Req.compatible_with(Req));
    }

    #[test]
    fn identity_senders() {
        let senders: Vec<_> = SocketType::ALL
            .into_iter()
            .filter(|t| t.sends_identity())
            .collect();
        assert_eq!(
            senders,
            [SocketType::Req, SocketType::Dealer, SocketType::Router]
        );
    }

    #[test]
    fn error_display_is_short_lowercase() {
        let errors = [
            ProtocolError::BadSignature,
            ProtocolError::UnsupportedVersion(2),
            ProtocolError::MechanismMismatch,
            ProtocolError::ReservedFlags(0x08),
            ProtocolError::CommandWithMore,
            ProtocolError::FrameTooLarge { size: 10, max: 5 },
            ProtocolError::MalformedCommand("truncated"),
            ProtocolError::MalformedMetadata,
            ProtocolError::MissingSocketType,
            ProtocolError::IncompatibleSocketType {
                ours: SocketType::Push,
                peer: Some(b"PUSH".to_vec()),
            },
            ProtocolError::IncompatibleSocketType {
                ours: SocketType::Push,
                peer: None,
            },
            ProtocolError::UnexpectedCommand(b"PING".to_vec()),
            ProtocolError::DataBeforeReady,
            ProtocolError::PeerError(b"go away".to_vec()),
            ProtocolError::HandshakeTimeout,
            ProtocolError::HeartbeatTimeout,
        ];
        for e in errors {
            let s = e.to_string();
            assert!(!s.is_empty() && s.len() < 80, "{s}");
            let first = s.chars().next().unwrap();
            assert!(first.is_ascii_lowercase(), "{s}");
        }
        assert_eq!(
            ProtocolError::FrameTooLarge { size: 10, max: 5 }.to_string(),
            "frame too large (10 > 5 bytes)"
        );
        assert_eq!(
            ProtocolError::ReservedFlags(0x08).to_string(),
            "reserved frame flags set (0x08)"
        );
    }
}
