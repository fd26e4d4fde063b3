//! Application-side sockets: routing patterns over per-peer pipes, blocking and batching.
//!
//! This layer does no I/O: it reads and writes pipes and, when a pipe turns from idle to busy,
//! posts one command to the reactor serving that peer (through the runtime's `Hub`).
//! * `core`: the peer set, reactor inbox, blocking, writes and batch publication;
//! * libzmq's routing helpers: `lb` (load-balance), `fq` (fair-queue), `dist` (distribute);
//! * one file per pattern (`pair`, `dealer`, `router`, `publisher` for PUB/XPUB,
//!   `subscriber` for SUB/XSUB, `pipeline` for PUSH/PULL, `req`, `rep`, `stream`), held by
//!   the `pattern::Pattern` enum that the methods below match exhaustively.

#![forbid(unsafe_code)]

mod api;
mod core;
mod dealer;
mod dist;
mod endpoints;
mod flags;
mod fq;
mod lb;
mod message;
mod outgoing;
mod pair;
mod pattern;
mod pipeline;
mod poll;
mod publisher;
mod rep;
mod req;
mod router;
mod stats;
mod stream;
mod subscriber;
pub(crate) mod trie;

#[cfg(test)]
mod testutil;

pub use flags::{Flags, PollEvents, DONTWAIT, POLLERR, POLLIN, POLLOUT, SNDMORE};
pub use message::Message;
pub use poll::{poll, PollItem};
pub use stats::SocketStats;

use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::monitor::{Monitor, MonitorEventKind, MonitorQueue};
use crate::options::{OptionName, SocketOption};
use crate::protocol::SocketType;
use crate::runtime::context::Context;
use crate::runtime::hub::Hub;
use crate::runtime::shared::{CloseAck, Cmd, SocketShared};

use self::core::Core;
use self::pattern::{OptGroup, Pattern};

/// The flag bits as the patterns see them (the public calls take [`Flags`]).
const DONTWAIT_BIT: i32 = Flags::DONTWAIT.bits();
const SNDMORE_BIT: i32 = Flags::SNDMORE.bits();

/// What [`Socket::peers`] reports about one connected peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStats {
    /// ROUTER/STREAM: the id used to address it; other types: the identity it announced.
    pub routing_id: Vec<u8>,
    /// `tcp://ip:port` of the remote end, or the endpoint for ipc/inproc.
    pub remote_addr: String,
    /// When the connection was handed to the socket.
    pub connected_at: std::time::SystemTime,
    /// Messages queued to this peer (sent or about to be).
    pub msgs_sent: u64,
    /// Messages that arrived from this peer.
    pub msgs_received: u64,
}

#[derive(Clone, PartialEq, Eq)]
enum Bound {
    Listen(String),
    Connect(String),
}

/// A socket. Not thread-safe (`&mut self`); move it between threads freely.
pub struct Socket {
    core: Core,
    pattern: Pattern,
    bound: Vec<Bound>,
    last_endpoint: Option<String>,
    /// inproc connections made by `connect`: (endpoint, our peer id), for `disconnect`.
    inproc_conns: Vec<(String, u64)>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("type", &self.core.ty)
            .field("peers", &self.core.peers.len())
            .finish()
    }
}

impl Context {
    /// Create a socket. (Defined here, not in the runtime, so the runtime does not depend
    /// on the socket layer.)
    pub fn socket(&self, ty: SocketType) -> Result<Socket> {
        let hub = Hub::new(self.clone());
        let shared = hub.new_socket(ty)?;
        Ok(Socket::new(hub, shared))
    }
}

impl Socket {
    pub(crate) fn new(hub: Hub, shared: Arc<SocketShared>) -> Socket {
        Socket {
            pattern: Pattern::new(shared.ty),
            core: Core::new(hub, shared),
            bound: Vec::new(),
            last_endpoint: None,
            inproc_conns: Vec::new(),
        }
    }

    /// The socket's type.
    pub fn socket_type(&self) -> SocketType {
        self.core.ty
    }

    /// Set an option. Most options apply to connections made after the call (as in libzmq,
    /// set them before bind/connect).
    ///
    /// # Errors
    /// `InvalidArgument` for a value out of range or an option this socket type does not
    /// have (e.g. `Subscribe` on a PUSH); `Terminated` once the context is shut down.
    pub fn set_option(&mut self, opt: SocketOption) -> Result<()> {
        match &opt {
            SocketOption::Subscribe(t) => return self.set_subscription(t, true),
            SocketOption::Unsubscribe(t) => return self.set_subscription(t, false),
            _ => {}
        }
        if let Some((group, only)) = OptGroup::of(&opt) {
            if !self.pattern.accepts(group) {
                return Err(Error::invalid(only));
            }
        }
        self.core.opts.set(opt)?;
        match &mut self.pattern {
            Pattern::Sub(s) | Pattern::XSub(s) => s.refresh(&self.core),
            Pattern::Pair(_)
            | Pattern::Dealer(_)
            | Pattern::Router(_)
            | Pattern::Pub(_)
            | Pattern::XPub(_)
            | Pattern::Push(_)
            | Pattern::Pull(_)
            | Pattern::Req(_)
            | Pattern::Rep(_)
            | Pattern::Stream(_) => {}
        }
        Ok(())
    }

    /// SUBSCRIBE / UNSUBSCRIBE socket options.
    fn set_subscription(&mut self, topic: &[u8], on: bool) -> Result<()> {
        let core = &mut self.core;
        match &mut self.pattern {
            Pattern::Sub(s) | Pattern::XSub(s) => s.subscribe(core, topic, on),
            Pattern::XPub(p) => p.subscribe(core, topic, on),
            Pattern::Pair(_)
            | Pattern::Dealer(_)
            | Pattern::Router(_)
            | Pattern::Pub(_)
            | Pattern::Push(_)
            | Pattern::Pull(_)
            | Pattern::Req(_)
            | Pattern::Rep(_)
            | Pattern::Stream(_) => Err(Error::invalid(
                "SUBSCRIBE/UNSUBSCRIBE apply to SUB/XSUB sockets",
            )),
        }
    }

    /// libzmq's TOPICS_COUNT: the distinct topics this SUB/XSUB is subscribed to, or, on a
    /// PUB/XPUB, the distinct topics its subscribers hold (as far as it has read them: sending
    /// or polling reads what subscribers sent).
    pub fn topics_count(&self) -> usize {
        match &self.pattern {
            Pattern::Sub(s) | Pattern::XSub(s) => s.topics(),
            Pattern::Pub(p) | Pattern::XPub(p) => p.topics(),
            Pattern::Pair(_)
            | Pattern::Dealer(_)
            | Pattern::Router(_)
            | Pattern::Push(_)
            | Pattern::Pull(_)
            | Pattern::Req(_)
            | Pattern::Rep(_)
            | Pattern::Stream(_) => 0,
        }
    }

    /// Start receiving this socket's connection events (listening, accepted, connected,
    /// handshake results, disconnects with reasons, retries). Calling it again returns another
    /// handle to the same queue.
    pub fn monitor(&mut self) -> Result<Monitor> {
        let mut m = self.core.shared.monitor.lock().unwrap();
        let q = match m.as_ref() {
            Some(q) => q.clone(),
            None => {
                let q = Arc::new(MonitorQueue::new()?);
                *m = Some(q.clone());
                q
            }
        };
        Ok(Monitor { queue: q })
    }

    /// The current value of an option.
    pub fn get_option(&self, name: OptionName) -> SocketOption {
        self.core.opts.get(name)
    }

    /// The endpoint of the last `bind`, with wildcards resolved.
    pub fn last_endpoint(&self) -> Option<String> {
        self.last_endpoint.clone()
    }

    /// Number of connected peers (libzmq-style peer introspection).
    pub fn peer_count(&mut self) -> usize {
        self.core.process_inbox(&mut self.pattern);
        self.core
            .peers
            .iter()
            .filter(|(_, p)| !p.inn.is_closed())
            .count()
    }

    /// Every connected peer with its routing id, address and message counts.
    pub fn peers(&mut self) -> Vec<PeerStats> {
        self.core.process_inbox(&mut self.pattern);
        self.core
            .peers
            .iter()
            .filter(|(_, p)| !p.inn.is_closed())
            .map(|(_, p)| PeerStats {
                routing_id: p.rid.clone(),
                remote_addr: p.remote.clone(),
                connected_at: p.since,
                msgs_sent: p.out.msgs_written(),
                msgs_received: p.inn.msgs_committed(),
            })
            .collect()
    }

    /// The peer with this routing id (`Error::NotFound` if none).
    pub fn peer_stats(&mut self, routing_id: &[u8]) -> Result<PeerStats> {
        self.peers()
            .into_iter()
            .find(|p| p.routing_id == routing_id)
            .ok_or(Error::NotFound)
    }

    /// True if the last received frame has more frames after it.
    pub fn rcvmore(&self) -> bool {
        self.core.rcvmore
    }

    /// A file descriptor that becomes readable whenever this socket's readiness may have
    /// changed (libzmq's ZMQ_FD): for epoll, libuv or asyncio loops. It is edge-like: after
    /// it fires, call [`Socket::events`] and receive/send until they would block, then wait
    /// on the fd again. Do not read from it yourself.
    pub fn fd(&self) -> RawFd {
        self.core.shared.parker.watch();
        self.core.shared.parker.fd()
    }

    /// Whether this socket's context runs inline (no reactor threads): then I/O progresses
    /// only inside calls on its sockets, never while an event loop waits on [`Socket::fd`].
    pub fn is_inline(&self) -> bool {
        self.core.inline
    }

    /// What the socket can do now without blocking: `POLLIN` (a message can be received)
    /// and/or `POLLOUT` (a message can be sent) (libzmq's ZMQ_EVENTS). Resets [`Socket::fd`].
    ///
    /// # Errors
    /// `Terminated` once the context is shut down.
    pub fn events(&mut self) -> Result<PollEvents> {
        self.core.check_term()?;
        self.core.shared.parker.reset();
        if self.core.inline {
            self.core.flush();
        }
        let mut ev = PollEvents::empty();
        if self.has_in() {
            ev |= POLLIN;
        }
        if self.can_send() {
            ev |= POLLOUT;
        }
        Ok(ev)
    }

    /// Whether a message can be received now (POLLIN).
    fn has_in(&mut self) -> bool {
        let core = &mut self.core;
        match &mut self.pattern {
            Pattern::XPub(p) => p.xpub_has_in(core),
            // REP owes a reply first; REQ has no request outstanding (libzmq's view too).
            Pattern::Rep(r) => r.has_in(core),
            Pattern::Req(r) => r.has_in(core),
            Pattern::Stream(s) => s.has_in(core),
            Pattern::Pair(p) => core.has_in(p),
            Pattern::Dealer(p) => core.has_in(p),
            Pattern::Router(p) => core.has_in(p),
            Pattern::Sub(p) | Pattern::XSub(p) => core.has_in(&mut **p),
            Pattern::Pull(p) => core.has_in(p),
            // Send-only types: still notices departed peers.
            Pattern::Pub(p) => core.has_in(&mut **p),
            Pattern::Push(p) => core.has_in(p),
        }
    }

    /// Whether a new message (or the rest of one) can be sent without blocking. When not,
    /// asks the full peers to report free space (so `fd` fires when it appears).
    fn can_send(&mut self) -> bool {
        let core = &mut self.core;
        if core.cur_out.is_some() || core.dropping {
            return true;
        }
        match &mut self.pattern {
            Pattern::Pub(_) | Pattern::XPub(_) | Pattern::XSub(_) | Pattern::Stream(_) => true,
            Pattern::Router(r) => r.can_send(core),
            Pattern::Rep(r) => r.can_send(),
            Pattern::Req(r) => r.can_send(core),
            Pattern::Pair(_) | Pattern::Dealer(_) | Pattern::Push(_) => core.any_room(),
            Pattern::Sub(_) | Pattern::Pull(_) => false,
        }
    }

    /// Perform pending I/O now without blocking (inline contexts; a no-op when reactor
    /// threads do the I/O). Use it before going off to other work with messages queued.
    pub fn flush(&mut self) {
        self.core.flush();
    }
}

/// The readiness fd of [`Socket::fd`] (asking for it starts the fd's signalling).
impl std::os::fd::AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd()
    }
}

/// The readiness fd of [`Socket::fd`], borrowed for the socket's lifetime (for
/// `tokio::io::unix::AsyncFd`, `mio`, `polling`, ...). Never read from or close it.
#[cfg(not(loom))]
impl std::os::fd::AsFd for Socket {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.core.shared.parker.watch();
        self.core.shared.parker.as_fd()
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        let core = &mut self.core;
        // Close our ends: the reactors flush what was committed (LINGER), then close.
        core.finish_touched();
        // With LINGER 0, or nothing left to deliver, the close is synchronous: every
        // descriptor of the socket is closed when this returns (a program counting fds, or
        // near its limit, closing and re-creating sockets, must not find them open).
        let sync = core.opts.linger == Some(Duration::ZERO)
            || core.peers.iter().all(|(_, p)| p.out.unread() == 0);
        for p in core.shared.close() {
            core.hub.reject(&p.link, p.id);
        }
        for (_, p) in core.peers.iter_mut() {
            if p.out.close() {
                core.hub.flush(&p.link, p.id);
            }
        }
        core.peers.clear();
        crate::runtime::inproc::unbind_all(&core.hub, core.shared.id);
        let ack = sync.then(|| Arc::new(CloseAck::new(core.hub.reactor_count())));
        let (sock, linger) = (core.shared.id, core.opts.linger);
        core.hub.broadcast(|| Cmd::CloseSocket {
            sock,
            linger,
            ack: ack.clone(),
        });
        core.shared
            .event(MonitorEventKind::MonitorStopped, "", None);
        // Inline mode: start flushing now; the rest lingers until the context is dropped
        // or driven again.
        core.hub.drive_io();
        if let Some(ack) = ack {
            self.wait_closed(&ack);
        }
    }
}

impl Socket {
    /// Wait for the reactors' close acknowledgements (`Cmd::CloseSocket { ack }`). Signals
    /// do not interrupt a close.
    fn wait_closed(&self, ack: &CloseAck) {
        if !self.core.inline {
            ack.wait();
            return;
        }
        let Some(inline) = self.core.hub.inline() else {
            // A single_thread context dropped elsewhere cannot be driven from here; its
            // teardown closes the descriptors.
            return;
        };
        let mut done = || ack.is_done();
        while let Err(e) = inline.wait(&[&self.core.shared.parker], &mut [], None, &mut done) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                log::warn!("close: {e}");
                return;
            }
        }
    }
}
