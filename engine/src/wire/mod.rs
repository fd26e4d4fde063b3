//! The wire seam: what a connection's bytes look like, and the one place they may be changed
//! between the driver and the session.
//!
//! * **Frame formats.** Pipes hold ZMTP frames, so the socket layer writes them and the
//!   session reads them with one codec: [`crate::protocol::frame`] (headers), plus the two
//!   messages whose layout is not a plain frame of application bytes, built here only:
//!   ZMTP 3.0's subscription message (`legacy_subscription`) and the STREAM socket's zlink
//!   length prefix (`length_prefix`, `LENGTH_PREFIX_LEN`).
//! * **Transform.** An optional per-connection [`WireTransform`] sits between the driver and
//!   the session (for a TLS or CURVE layer, or WebSocket framing). The reactor asks the
//!   context's [`WireFactory`] for one whenever a connection starts; received bytes are
//!   decoded before the session sees them, and the session's output is encoded before the
//!   driver sends it. Without a transform the zero-copy send path is unchanged (the kernel
//!   reads pipe chunks in place); with one, the bytes of a send are copied out of the pipe
//!   once, transformed into an owned buffer and sent from there.
//!
//! [`testing::Xor`] demonstrates the seam: the socket suites pass with it on every
//! connection (`RINGLINK_TEST_WIRE=xor`, see scripts/test).

#![forbid(unsafe_code)]

use std::fmt;
use std::sync::Arc;

use crate::protocol::frame;

#[cfg(any(test, feature = "internals"))]
pub mod testing;

/// A per-connection byte transform between the driver and the session.
///
/// One instance serves one connection from its first byte (the greeting) to its close; a
/// reconnection gets a new one. Both directions are streams: `encode` and `decode` may be
/// handed any split of the bytes, and may hold bytes back (a partial record) until more
/// arrive. An error closes the connection with a `Disconnected` monitor event naming it.
pub trait WireTransform: Send {
    /// Append the wire form of `plain` (bytes the session sends) to `out`.
    fn encode(&mut self, plain: &[u8], out: &mut Vec<u8>) -> Result<(), TransformError>;
    /// Append the plain bytes carried by `wire` (bytes received) to `out`.
    fn decode(&mut self, wire: &[u8], out: &mut Vec<u8>) -> Result<(), TransformError>;
}

/// Makes the transform of each new connection.
pub trait WireFactory: Send + Sync {
    /// A transform for a connection this side `connected` (else accepted).
    fn transform(&self, connected: bool) -> Box<dyn WireTransform>;
}

/// Why a transform refused bytes (shown in the connection's `Disconnected` event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformError(pub String);

impl fmt::Display for TransformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TransformError {}

/// A context's factory, as kept by the builder (a `Debug` and `Clone` handle).
#[derive(Clone)]
pub(crate) struct Factory(pub(crate) Arc<dyn WireFactory>);

impl fmt::Debug for Factory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WireFactory")
    }
}

/// Append ZMTP 3.0's subscription message, one frame `[0x01 | 0x00][topic]`, to `out` (the
/// form a 3.0 peer expects on the wire, and the form XPUB and inproc peers see in pipes).
pub(crate) fn legacy_subscription(out: &mut Vec<u8>, on: bool, topic: &[u8]) {
    let mut hdr = [0u8; frame::MAX_HEADER];
    let hl = frame::encode_header(&mut hdr, false, false, topic.len() as u64 + 1);
    out.reserve(hl + 1 + topic.len());
    out.extend_from_slice(&hdr[..hl]);
    out.push(u8::from(on));
    out.extend_from_slice(topic);
}

/// Bytes of the STREAM socket's length prefix (zlink's framing: `[u32 BE length][payload]`).
pub(crate) const LENGTH_PREFIX_LEN: usize = 4;

/// The length prefix of a `len`-byte STREAM message, or None when `len` does not fit.
pub(crate) fn length_prefix(len: usize) -> Option<[u8; LENGTH_PREFIX_LEN]> {
    u32::try_from(len).ok().map(u32::to_be_bytes)
}

/// The message length a complete prefix announces.
pub(crate) fn parse_length_prefix(prefix: [u8; LENGTH_PREFIX_LEN]) -> u64 {
    u64::from(u32::from_be_bytes(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_subscription_is_one_frame_with_the_flag_byte() {
        let mut out = Vec::new();
        legacy_subscription(&mut out, true, b"ab");
        legacy_subscription(&mut out, false, b"");
        assert_eq!(out, [0x00, 3, 1, b'a', b'b', 0x00, 1, 0]);
        let h = frame::parse_header(&out).unwrap().unwrap();
        assert_eq!((h.frame_len(), h.more()), (5, false));
    }

    #[test]
    fn length_prefix_round_trips_and_refuses_4_gib() {
        let p = length_prefix(0x0102_0304).unwrap();
        assert_eq!(p, [1, 2, 3, 4]);
        assert_eq!(parse_length_prefix(p), 0x0102_0304);
        assert_eq!(length_prefix(u32::MAX as usize + 1), None);
    }
}
