//! ringlink: a ZMTP 3.1 messaging engine (libzmq-compatible on the wire) built on io_uring with
//! one reactor thread per core, and an epoll backend for comparison and fallback.
//!
//! Layers, top down; each imports only layers below it (`scripts/arch-metrics.py` checks the
//! module graph has no cycle; docs/architecture.md draws it):
//! * `socket`: routing patterns over pipes, one file per pattern behind an exhaustive enum
//!   (PAIR, PUB/SUB/XPUB/XSUB, PUSH/PULL, REQ/REP, DEALER/ROUTER, STREAM), poll, monitor,
//!   peer introspection; no syscalls. [`proxy`] / [`proxy_steerable`] sit on top of it.
//! * `runtime`: context, the `Hub` facade sockets use, reactor threads (slots, timers,
//!   commands, reconnect, linger), inline leader/followers, inproc.
//! * `session`: sans-IO per-connection state (ZMTP, STREAM framings) and typed close reasons.
//! * `wire`: the wire seam: the one optional per-connection byte transform between driver and
//!   session (TLS, CURVE, WebSocket plug in here) and the message layouts that are not plain
//!   frames (ZMTP 3.0 subscriptions, the STREAM length prefix).
//! * `protocol`: sans-IO ZMTP codec (greeting, frames, commands, handshake, heartbeats).
//! * `pipe`: lock-free byte pipes between application threads and reactors, and the send
//!   lease that owns a send's bytes until the kernel is done.
//! * `transport`: endpoints (parsing, addresses, resolution, listening sockets).
//! * `backend`: the io_uring and epoll drivers behind one small interface.
//!
//! ```no_run
//! use ringlink::{Context, SocketType};
//! let ctx = Context::new()?;
//! let mut server = ctx.socket(SocketType::Pair)?;
//! server.bind("tcp://127.0.0.1:*")?;
//! let mut client = ctx.socket(SocketType::Pair)?;
//! client.connect(&server.last_endpoint().unwrap())?;
//! client.send(b"hello", 0)?;
//! assert_eq!(server.recv_bytes(0)?, b"hello");
//! # Ok::<(), ringlink::Error>(())
//! ```

#![warn(missing_docs)]

mod backend;
/// Internals for `ringlink-bench`'s micro-benchmarks; not API (feature `internals`).
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod bench_hooks;
pub mod error;
/// Fuzzing harness: a socket's accepted connection over an in-memory driver; not API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(all(test, loom))]
mod loom_tests;
mod monitor;
mod options;
mod pipe;
/// The ZMTP codec and handshake (sans-IO); public only for the fuzzers and micro-benchmarks
/// (feature `internals`), not API.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod protocol;
#[cfg(not(feature = "internals"))]
mod protocol;
mod proxy;
mod runtime;
mod session;
mod socket;
mod sync;
#[cfg(feature = "tokio")]
pub mod tokio;
mod transport;
/// The wire-transform seam (a byte transform between the codec and the socket); public only
/// for the test suites (feature `internals`), not API yet.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod wire;
#[cfg(not(feature = "internals"))]
mod wire;

pub use backend::sys::raise_fd_limit;
pub use backend::{Backend, UringFeatures};
pub use error::{Error, Result};
pub use monitor::{DisconnectReason, Monitor, MonitorEvent, MonitorEventKind};
pub use options::{OptionName, SocketOption, StreamFraming};
pub use protocol::{ParseSocketTypeError, SocketType};
pub use proxy::{proxy, proxy_steerable};
pub use runtime::context::{Context, ContextBuilder};
pub use socket::{
    poll, Flags, Message, PeerStats, PollEvents, PollItem, Socket, SocketStats, DONTWAIT, POLLERR,
    POLLIN, POLLOUT, SNDMORE,
};

/// The README's example is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    /// Sockets move between threads; contexts are shared between them.
    #[test]
    fn thread_safety_contract() {
        fn send<T: Send>() {}
        fn sync<T: Sync + Send>() {}
        send::<crate::Socket>();
        sync::<crate::Context>();
    }
}
