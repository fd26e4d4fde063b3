//! Why a connection ended, as a value: the reactor maps it to the monitor's
//! [`DisconnectReason`] without parsing text, and logs it with `Display`.

use std::fmt;

use crate::monitor::DisconnectReason;
use crate::pipe;
use crate::protocol::ProtocolError;
use crate::wire::TransformError;

/// What ended a connection. Carried from where the fault is detected (decoder, handshake,
/// heartbeat, driver, application) to the `Disconnected` monitor event.
///
/// The `Display` texts are the descriptions users see in that event: keep them stable.
#[derive(Debug)]
pub(crate) enum CloseReason {
    /// The peer closed the connection (end of stream).
    PeerClosed,
    /// Receiving failed (a reset, for instance).
    RecvFailed(std::io::Error),
    /// Sending failed.
    SendFailed(std::io::Error),
    /// The connection attempt failed (before any event was reported for it).
    ConnectFailed,
    /// The application closed the socket (or, STREAM, the connection).
    SocketClosed,
    /// The socket's LINGER period ended with messages still queued.
    LingerExpired,
    /// `disconnect()` on this endpoint.
    Disconnected,
    /// The socket refused the peer (a duplicate routing id, for instance).
    Rejected,
    /// The handshake did not finish within HANDSHAKE_IVL.
    HandshakeTimeout,
    /// The peer's greeting or READY was unacceptable.
    HandshakeFailed(ProtocolError),
    /// The peer broke the protocol after the handshake.
    Protocol(ProtocolError),
    /// A message exceeded MAXMSGSIZE.
    TooLarge { size: u64, max: u64 },
    /// The memory for a frame (of this many bytes) could not be allocated.
    NoMemory(usize),
    /// The peer stopped answering heartbeats.
    HeartbeatTimeout,
    /// The connection's wire transform refused the bytes (see `crate::wire`).
    Transform(TransformError),
}

impl CloseReason {
    /// The monitor's classification. A transport failure during the handshake counts as a
    /// handshake failure (as libzmq reports it); a peer's hang-up stays `Remote`.
    pub(crate) fn disconnect_reason(&self, in_handshake: bool) -> DisconnectReason {
        match self {
            CloseReason::PeerClosed => DisconnectReason::Remote,
            CloseReason::SocketClosed
            | CloseReason::LingerExpired
            | CloseReason::Disconnected
            | CloseReason::Rejected => DisconnectReason::Local,
            CloseReason::HandshakeTimeout | CloseReason::HandshakeFailed(_) => {
                DisconnectReason::Handshake
            }
            _ if in_handshake => DisconnectReason::Handshake,
            CloseReason::RecvFailed(_)
            | CloseReason::SendFailed(_)
            | CloseReason::ConnectFailed
            | CloseReason::Protocol(_)
            | CloseReason::TooLarge { .. }
            | CloseReason::NoMemory(_)
            | CloseReason::HeartbeatTimeout
            | CloseReason::Transform(_) => DisconnectReason::Transport,
        }
    }

    /// How loudly to log it: ordinary ends are debug output, a misbehaving or failing
    /// connection a warning, memory the process could not get an error.
    pub(crate) fn log_level(&self, in_handshake: bool) -> log::Level {
        if matches!(self, CloseReason::NoMemory(_)) {
            return log::Level::Error;
        }
        match self.disconnect_reason(in_handshake) {
            DisconnectReason::Remote | DisconnectReason::Local => log::Level::Debug,
            _ => log::Level::Warn,
        }
    }
}

impl From<ProtocolError> for CloseReason {
    fn from(e: ProtocolError) -> CloseReason {
        match e {
            ProtocolError::FrameTooLarge { size, max } => CloseReason::TooLarge { size, max },
            ProtocolError::HeartbeatTimeout => CloseReason::HeartbeatTimeout,
            e => CloseReason::Protocol(e),
        }
    }
}

impl From<pipe::AllocFailed> for CloseReason {
    fn from(e: pipe::AllocFailed) -> CloseReason {
        CloseReason::NoMemory(e.bytes)
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::PeerClosed => f.write_str("peer closed the connection"),
            CloseReason::RecvFailed(e) => write!(f, "receive failed: {e}"),
            CloseReason::SendFailed(e) => write!(f, "send failed: {e}"),
            CloseReason::ConnectFailed => f.write_str("connect failed"),
            CloseReason::SocketClosed => f.write_str("socket closed"),
            CloseReason::LingerExpired => f.write_str("linger expired"),
            CloseReason::Disconnected => f.write_str("disconnected by the application"),
            CloseReason::Rejected => f.write_str("rejected by the socket"),
            CloseReason::HandshakeTimeout => f.write_str("handshake timed out"),
            CloseReason::HandshakeFailed(e) => write!(f, "handshake failed: {e}"),
            CloseReason::Protocol(e) => write!(f, "protocol error: {e}"),
            CloseReason::TooLarge { size, max } => write!(
                f,
                "protocol error: {}",
                ProtocolError::FrameTooLarge {
                    size: *size,
                    max: *max
                }
            ),
            CloseReason::NoMemory(n) => {
                write!(f, "out of memory: cannot buffer a frame ({n} bytes)")
            }
            CloseReason::HeartbeatTimeout => write!(f, "{}", ProtocolError::HeartbeatTimeout),
            CloseReason::Transform(e) => write!(f, "wire transform: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The descriptions and classes are what monitor users saw when reasons were strings.
    #[test]
    fn texts_and_classes_are_stable() {
        let cases: Vec<(CloseReason, &str, DisconnectReason)> = vec![
            (
                CloseReason::PeerClosed,
                "peer closed the connection",
                DisconnectReason::Remote,
            ),
            (
                CloseReason::SocketClosed,
                "socket closed",
                DisconnectReason::Local,
            ),
            (
                CloseReason::LingerExpired,
                "linger expired",
                DisconnectReason::Local,
            ),
            (
                CloseReason::Rejected,
                "rejected by the socket",
                DisconnectReason::Local,
            ),
            (
                CloseReason::Disconnected,
                "disconnected by the application",
                DisconnectReason::Local,
            ),
            (
                CloseReason::HandshakeTimeout,
                "handshake timed out",
                DisconnectReason::Handshake,
            ),
            (
                CloseReason::HandshakeFailed(ProtocolError::BadSignature),
                "handshake failed: bad greeting signature",
                DisconnectReason::Handshake,
            ),
            (
                ProtocolError::FrameTooLarge { size: 9, max: 8 }.into(),
                "protocol error: frame too large (9 > 8 bytes)",
                DisconnectReason::Transport,
            ),
            (
                ProtocolError::ReservedFlags(0x80).into(),
                "protocol error: reserved frame flags set (0x80)",
                DisconnectReason::Transport,
            ),
            (
                ProtocolError::HeartbeatTimeout.into(),
                "heartbeat timeout",
                DisconnectReason::Transport,
            ),
            (
                CloseReason::Transform(TransformError("bad record".into())),
                "wire transform: bad record",
                DisconnectReason::Transport,
            ),
            (
                CloseReason::NoMemory(7),
                "out of memory: cannot buffer a frame (7 bytes)",
                DisconnectReason::Transport,
            ),
        ];
        for (r, text, class) in cases {
            assert_eq!(r.to_string(), text);
            assert_eq!(r.disconnect_reason(false), class, "{text}");
        }
        let reset = CloseReason::RecvFailed(std::io::Error::from_raw_os_error(libc::ECONNRESET));
        assert!(reset.to_string().starts_with("receive failed: "));
        assert_eq!(reset.disconnect_reason(false), DisconnectReason::Transport);
        assert_eq!(reset.disconnect_reason(true), DisconnectReason::Handshake);
        assert_eq!(
            CloseReason::PeerClosed.disconnect_reason(true),
            DisconnectReason::Remote
        );
        assert_eq!(
            CloseReason::SocketClosed.disconnect_reason(true),
            DisconnectReason::Local
        );
        assert_eq!(CloseReason::NoMemory(1).log_level(false), log::Level::Error);
    }
}
