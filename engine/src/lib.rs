//! ringlink: a ZMTP 3.1 messaging engine (libzmq-compatible on the wire) built on io_uring with
//! one reactor thread per core, and an epoll backend for comparison and fallback.
//!
//! Layers (each a module; lower layers never call upper ones):
//! * [`protocol`]: sans-IO ZMTP codec (greeting, frames, commands, handshake, heartbeats).
//! * `pipe`: lock-free byte pipes between application threads and reactors.
//! * `socket`: routing patterns over pipes (PAIR, PUB/SUB/XPUB/XSUB with subscription tries,
//!   PUSH/PULL, REQ/REP, DEALER/ROUTER, STREAM), poll, monitor, peer introspection; no I/O.
//!   [`proxy`] / [`proxy_steerable`] sit on top of it.
//! * `runtime`: context, reactor threads, connection state machines, timers.
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

mod backend;
/// Internals for `ringlink-bench`'s micro-benchmarks; not API.
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
pub mod protocol;
mod proxy;
mod runtime;
mod session;
mod socket;
mod sync;
mod transport;

pub use backend::sys::raise_fd_limit;
pub use backend::Backend;
pub use error::{Error, Result};
pub use monitor::{DisconnectReason, Monitor, MonitorEvent, MonitorEventKind};
pub use options::{OptionName, SocketOption, StreamFraming};
pub use protocol::SocketType;
pub use proxy::{proxy, proxy_steerable};
pub use runtime::context::{Context, ContextBuilder};
pub use socket::{poll, PeerStats, PollItem, Socket, DONTWAIT, POLLERR, POLLIN, POLLOUT, SNDMORE};

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
