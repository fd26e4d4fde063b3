//! Errors returned to API callers.
//!
//! Every variant maps to the errno value libzmq would report (`Error::errno`), so the C ABI can
//! hand the same numbers to ported programs. Peer misbehaviour never surfaces here: it closes the
//! offending connection and is reported as a monitor/log event instead.

#![forbid(unsafe_code)]

use std::fmt;
use std::io;

/// Base of the errno values libzmq defines itself (`ZMQ_HAUSNUMERO`).
pub const HAUSNUMERO: i32 = 156_384_712;
/// The socket is in the wrong state for this operation (libzmq `EFSM`).
pub const EFSM: i32 = HAUSNUMERO + 51;
/// The protocol does not fit the socket type (libzmq `ENOCOMPATPROTO`).
pub const ENOCOMPATPROTO: i32 = HAUSNUMERO + 52;
/// The context was shut down (libzmq `ETERM`).
pub const ETERM: i32 = HAUSNUMERO + 53;

/// What went wrong in an API call.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The operation would block (DONTWAIT, a timeout, or a full queue): `EAGAIN`.
    Again,
    /// The context was shut down: `ETERM`.
    Terminated,
    /// ROUTER_MANDATORY and the routing id is not connected: `EHOSTUNREACH`.
    HostUnreachable,
    /// The operation is not valid for this socket type: `ENOTSUP`.
    NotSupported,
    /// A bad argument (option value, endpoint syntax, ...): `EINVAL`.
    InvalidArgument(String),
    /// The endpoint's transport is unknown: `EPROTONOSUPPORT`.
    ProtocolNotSupported(String),
    /// unbind/disconnect of an endpoint that is not bound/connected: `ENOENT`.
    NotFound,
    /// The message is larger than allowed or than the buffer given: `EMSGSIZE`.
    /// Carries the size that would be needed.
    MessageTooLarge(usize),
    /// The socket is in the wrong state (e.g. REQ send twice): `EFSM`.
    State,
    /// An ipc path longer than `sun_path` allows: `ENAMETOOLONG`.
    NameTooLong,
    /// A signal arrived while the call was blocked (as libzmq, the call returns instead of
    /// waiting on, so a signal handler's flag can be checked): `EINTR`.
    Interrupted,
    /// An operating system error (bind failed, address in use, ...).
    Io(io::Error),
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The errno value libzmq reports for the same condition.
    pub fn errno(&self) -> i32 {
        match self {
            Error::Again => libc::EAGAIN,
            Error::Terminated => ETERM,
            Error::HostUnreachable => libc::EHOSTUNREACH,
            Error::NotSupported => libc::ENOTSUP,
            Error::InvalidArgument(_) => libc::EINVAL,
            Error::ProtocolNotSupported(_) => libc::EPROTONOSUPPORT,
            Error::NotFound => libc::ENOENT,
            Error::MessageTooLarge(_) => libc::EMSGSIZE,
            Error::State => EFSM,
            Error::NameTooLong => libc::ENAMETOOLONG,
            Error::Interrupted => libc::EINTR,
            Error::Io(e) => e.raw_os_error().unwrap_or(libc::EIO),
        }
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Error {
        Error::InvalidArgument(msg.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Again => f.write_str("resource temporarily unavailable"),
            Error::Terminated => f.write_str("context was terminated"),
            Error::HostUnreachable => f.write_str("host unreachable"),
            Error::NotSupported => f.write_str("operation not supported by this socket type"),
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::ProtocolNotSupported(p) => write!(f, "protocol not supported: {p}"),
            Error::NotFound => f.write_str("no such endpoint"),
            Error::MessageTooLarge(n) => write!(f, "message too large ({n} bytes needed)"),
            Error::State => f.write_str("operation cannot be accomplished in current state"),
            Error::NameTooLong => f.write_str("file name too long"),
            Error::Interrupted => f.write_str("interrupted system call"),
            Error::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        match e.raw_os_error() {
            Some(libc::EAGAIN) => Error::Again,
            Some(libc::ENAMETOOLONG) => Error::NameTooLong,
            Some(libc::EINTR) => Error::Interrupted,
            _ => Error::Io(e),
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e {
            Error::Io(e) => e,
            other => io::Error::from_raw_os_error(match other.errno() {
                n if n >= HAUSNUMERO => libc::EPROTO,
                n => n,
            }),
        }
    }
}
