//! Application-side sockets: routing patterns over per-peer pipes, blocking and batching.
//!
//! This layer does no I/O: it reads and writes pipes and, when a pipe turns from idle to busy,
//! posts one command to the reactor serving that peer. Patterns:
//! * PAIR: one peer; a second connection is refused.
//! * DEALER: round-robin send over peers with room (lb), fair-queued receive (fq).
//! * ROUTER: the first frame of a sent message names the peer; received messages are
//!   prefixed with the sending peer's routing id.
//! * PUSH: lb send only. PULL: fq receive only.
//! * REQ: strict request/reply alternation; each request goes (lb) with an empty delimiter
//!   frame to one peer, and only that peer's reply is accepted. REP: fq receive, strips and
//!   keeps the envelope (frames up to the delimiter), and routes the reply back with it.

#![forbid(unsafe_code)]

mod pubsub;
mod stream;
pub(crate) mod trie;

use std::collections::{HashMap, VecDeque};
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use slab::Slab;

use crate::error::{Error, Result};
use crate::monitor::{Monitor, MonitorEventKind, MonitorQueue};
use crate::options::{OptionName, SockOpts, SocketOption};
use crate::pipe;
use crate::protocol::{frame, SocketType};
use crate::runtime::context::Context;
use crate::runtime::shared::{
    CloseAck, Cmd, InprocBound, Link, NewPeer, Parker, SocketInbox, SocketShared,
};
use crate::transport;

/// A send/receive timeout, turned into an instant only when the call actually has to wait
/// (no clock read on the fast path).
struct Deadline {
    timeo: Option<Duration>,
    at: Option<Instant>,
}

impl Deadline {
    fn get(&mut self) -> Option<Instant> {
        let t = self.timeo?;
        Some(*self.at.get_or_insert_with(|| Instant::now() + t))
    }
}

/// `poll`/`events`: a message can be received.
pub const POLLIN: i16 = 1;
/// `poll`/`events`: a message can be sent.
pub const POLLOUT: i16 = 2;
/// `poll`: error condition (raw file descriptors only).
pub const POLLERR: i16 = 4;

/// One entry of [`poll`]: a ringlink socket or a raw file descriptor, the events asked for,
/// and (after the call) the events that are ready.
pub struct PollItem<'a> {
    socket: Option<&'a mut Socket>,
    fd: RawFd,
    /// `POLLIN` | `POLLOUT` (| `POLLERR` for raw fds).
    pub events: i16,
    /// Filled by `poll`.
    pub revents: i16,
}

impl<'a> PollItem<'a> {
    /// Poll a ringlink socket.
    pub fn socket(s: &'a mut Socket, events: i16) -> PollItem<'a> {
        PollItem {
            socket: Some(s),
            fd: -1,
            events,
            revents: 0,
        }
    }

    /// Poll a raw file descriptor (POLLIN/POLLOUT/POLLERR as in poll(2)).
    pub fn fd(fd: RawFd, events: i16) -> PollItem<'a> {
        PollItem {
            socket: None,
            fd,
            events,
            revents: 0,
        }
    }
}

/// Wait until at least one item is ready or `timeout` passes (None = forever; zero = just
/// check), like `zmq_poll`. Returns the number of ready items (0 on timeout). Sockets of
/// inline contexts are driven while waiting (the raw fds are watched by the reactor's own
/// wait then). A signal ends the wait with `Error::Interrupted`.
pub fn poll(items: &mut [PollItem<'_>], timeout: Option<Duration>) -> Result<usize> {
    let deadline = timeout.map(|t| Instant::now() + t);
    // Allocates only when raw fds are polled: a poll that finds a socket ready costs no
    // allocation (it runs once per message in poll-driven loops).
    let mut raw: Vec<libc::pollfd> = Vec::new();
    loop {
        let mut ready = 0;
        let mut inline_ctx: Option<Context> = None;
        raw.clear();
        for it in items.iter_mut() {
            it.revents = 0;
            if let Some(s) = it.socket.as_deref_mut() {
                s.shared.parker.watch();
                it.revents = s.events()? & it.events;
                if s.inline && inline_ctx.is_none() {
                    inline_ctx = Some(s.ctx.clone());
                }
                if it.revents != 0 {
                    ready += 1;
                }
            }
        }
        // The raw fds, checked now (zero wait) or waited for below.
        for it in items.iter().filter(|it| it.socket.is_none()) {
            raw.push(libc::pollfd {
                fd: it.fd,
                events: it.events & (POLLIN | POLLOUT),
                revents: 0,
            });
        }
        let expired = deadline.is_some_and(|d| Instant::now() >= d);
        if ready > 0 || expired {
            if !raw.is_empty() {
                crate::backend::sys::poll_fds_ms(&mut raw, 0)?;
            }
            return Ok(ready + take_raw_revents(items, &raw));
        }
        match inline_ctx.as_ref().and_then(|c| c.inline()) {
            Some(inline) => {
                // Lead the reactor (or follow its leader) until a socket has news or a raw
                // fd is ready.
                let parkers: Vec<&Parker> = items
                    .iter()
                    .filter_map(|it| it.socket.as_deref().map(|s| &s.shared.parker))
                    .collect();
                let shareds: Vec<&SocketShared> = items
                    .iter()
                    .filter_map(|it| it.socket.as_deref().map(|s| &*s.shared))
                    .collect();
                let mut news = || shareds.iter().any(|s| s.has_pending());
                inline.wait(&parkers, &mut raw, deadline, &mut news)?;
            }
            None => {
                // Each socket's parker eventfd, then the raw fds.
                let mut all: Vec<libc::pollfd> = items
                    .iter()
                    .filter_map(|it| it.socket.as_deref())
                    .map(|s| libc::pollfd {
                        fd: s.shared.parker.fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    })
                    .collect();
                let sockets = all.len();
                all.extend_from_slice(&raw);
                let ms = crate::backend::sys::timeout_ms(
                    deadline.map(|d| d.saturating_duration_since(Instant::now())),
                );
                crate::backend::sys::poll_fds_ms(&mut all, ms)?;
                raw.copy_from_slice(&all[sockets..]);
            }
        }
        let n = take_raw_revents(items, &raw);
        if n > 0 {
            // Sockets may have become ready too: report them in the same call.
            for it in items.iter_mut() {
                if let Some(s) = it.socket.as_deref_mut() {
                    it.revents = s.events()? & it.events;
                }
            }
            return Ok(items.iter().filter(|it| it.revents != 0).count());
        }
    }
}

/// Copy the raw fds' `poll(2)` results into their items (in item order; `raw` holds the raw
/// items only); returns how many are ready.
fn take_raw_revents(items: &mut [PollItem<'_>], raw: &[libc::pollfd]) -> usize {
    let mut n = 0;
    for (it, p) in items.iter_mut().filter(|it| it.socket.is_none()).zip(raw) {
        let r = (p.revents & (libc::POLLIN | libc::POLLOUT)) & it.events
            | if p.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
                POLLERR
            } else {
                0
            };
        it.revents = r;
        if r != 0 {
            n += 1;
        }
    }
    n
}

/// Do not block (send/recv fail with `Error::Again` instead).
pub const DONTWAIT: i32 = 1;
/// More frames of this message follow.
pub const SNDMORE: i32 = 2;

struct Peer {
    id: u64,
    link: Link,
    out: pipe::Writer,
    inn: pipe::Reader,
    rid: Vec<u8>,
    in_active: bool,
    /// Uncommitted messages written by a batch call.
    batch: u64,
    /// Peer introspection: the peer's address and when it was attached.
    remote: String,
    since: std::time::SystemTime,
}

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
    ctx: Context,
    shared: Arc<SocketShared>,
    ty: SocketType,
    opts: SockOpts,
    peers: Slab<Peer>,
    by_id: HashMap<u64, usize>,
    inbox: SocketInbox,
    /// Peers whose inbound pipe may hold data, in fair-queue order.
    active: VecDeque<usize>,
    /// Peer whose message is being received (mid multipart).
    cur_in: Option<usize>,
    rcvmore: bool,
    /// Peers in send order, the round-robin cursor, and the peer of a message being sent.
    out_order: Vec<usize>,
    rr: usize,
    cur_out: Option<usize>,
    /// ROUTER: the current outgoing message is discarded (unroutable).
    dropping: bool,
    /// ROUTER: routing ids of attached peers.
    by_rid: HashMap<Vec<u8>, usize>,
    next_rid: u32,
    /// ROUTER: the routing-id frame of `cur_in` was delivered.
    rid_sent: bool,
    bound: Vec<Bound>,
    last_endpoint: Option<String>,
    /// Inline mode: messages committed since the reactor last ran.
    unflushed: u32,
    /// Peers with messages published without the notification check (batches, inline
    /// mode); `finish_batch` does that check once per peer.
    touched: Vec<usize>,
    /// Inline context (cached: checked per message).
    inline: bool,
    /// REQ: the peer (id) whose reply is awaited; the id of the last request (REQ_CORRELATE).
    req_peer: Option<u64>,
    req_id: u32,
    /// inproc connections made by `connect`: (endpoint, our peer id), for `disconnect`.
    inproc_conns: Vec<(String, u64)>,
    /// REP: envelope of the request being received/answered, the peer it came from, and
    /// (once the request was read whole) the peer owed a reply.
    rep_env: Vec<Vec<u8>>,
    rep_from: u64,
    rep_peer: Option<u64>,
    /// PUB/SUB/XPUB/XSUB state.
    ps: Box<pubsub::PubSub>,
    /// Messages are checked when they reach the head of a pipe (SUB filter, CONFLATE).
    filter_in: bool,
    /// SUB: an empty subscription matches everything (skip the filter).
    sub_matches_all: bool,
    /// STREAM: connect/disconnect notifications `(peer id, payload)` not yet received, the
    /// payload of one whose id frame was received, and the id counter (length-prefixed).
    stream_notices: VecDeque<(Vec<u8>, Vec<u8>)>,
    stream_notice_payload: Option<Vec<u8>>,
    next_stream_id: u32,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("type", &self.ty)
            .field("peers", &self.peers.len())
            .finish()
    }
}

impl Socket {
    pub(crate) fn new(ctx: Context, shared: Arc<SocketShared>) -> Socket {
        let ty = shared.ty;
        let inline = ctx.is_inline();
        let mut s = Socket {
            ctx,
            shared,
            ty,
            opts: SockOpts::default(),
            peers: Slab::new(),
            by_id: HashMap::new(),
            inbox: SocketInbox::default(),
            active: VecDeque::new(),
            cur_in: None,
            rcvmore: false,
            out_order: Vec::new(),
            rr: 0,
            cur_out: None,
            dropping: false,
            by_rid: HashMap::new(),
            next_rid: 0x5EED_0000 ^ std::process::id(),
            rid_sent: false,
            bound: Vec::new(),
            last_endpoint: None,
            unflushed: 0,
            touched: Vec::new(),
            inline: false,
            inproc_conns: Vec::new(),
            req_peer: None,
            req_id: 0,
            rep_env: Vec::new(),
            rep_from: 0,
            rep_peer: None,
            ps: Box::default(),
            filter_in: ty == SocketType::Sub,
            sub_matches_all: false,
            stream_notices: VecDeque::new(),
            stream_notice_payload: None,
            next_stream_id: 0,
        };
        s.inline = inline;
        s
    }

    /// The socket's type.
    pub fn socket_type(&self) -> SocketType {
        self.ty
    }

    /// Set an option. Most options apply to connections made after the call (as in libzmq,
    /// set them before bind/connect).
    pub fn set_option(&mut self, opt: SocketOption) -> Result<()> {
        match &opt {
            SocketOption::ConnectRoutingId(_)
                if !matches!(self.ty, SocketType::Router | SocketType::Stream) =>
            {
                return Err(Error::invalid(
                    "option applies to ROUTER/STREAM sockets only",
                ))
            }
            SocketOption::RouterMandatory(_) | SocketOption::RouterHandover(_)
                if self.ty != SocketType::Router =>
            {
                return Err(Error::invalid("option applies to ROUTER sockets only"))
            }
            SocketOption::ProbeRouter(_)
                if !matches!(self.ty, SocketType::Router | SocketType::Dealer) =>
            {
                return Err(Error::invalid("PROBE_ROUTER applies to DEALER/ROUTER only"))
            }
            SocketOption::Subscribe(t) => return self.subscribe(t, true),
            SocketOption::Unsubscribe(t) => return self.subscribe(t, false),
            SocketOption::XpubVerbose(_)
            | SocketOption::XpubVerboser(_)
            | SocketOption::XpubManual(_)
            | SocketOption::XpubManualLastValue(_)
            | SocketOption::XpubNoDrop(_)
            | SocketOption::XpubWelcomeMsg(_)
                if self.ty != SocketType::XPub =>
            {
                return Err(Error::invalid("option applies to XPUB sockets only"))
            }
            SocketOption::OnlyFirstSubscribe(_)
                if !matches!(self.ty, SocketType::XPub | SocketType::XSub) =>
            {
                return Err(Error::invalid(
                    "ONLY_FIRST_SUBSCRIBE applies to XPUB/XSUB only",
                ))
            }
            SocketOption::InvertMatching(_)
                if !matches!(
                    self.ty,
                    SocketType::Pub | SocketType::XPub | SocketType::Sub | SocketType::XSub
                ) =>
            {
                return Err(Error::invalid(
                    "INVERT_MATCHING applies to PUB/SUB types only",
                ))
            }
            SocketOption::StreamNotify(_) | SocketOption::StreamFraming(_)
                if self.ty != SocketType::Stream =>
            {
                return Err(Error::invalid("option applies to STREAM sockets only"))
            }
            _ => {}
        }
        self.opts.set(opt)?;
        // CONFLATE is honoured on the receiving side of DEALER, SUB and PULL.
        let conflate = self.opts.conflate
            && matches!(
                self.ty,
                SocketType::Dealer | SocketType::Sub | SocketType::Pull
            );
        self.filter_in = self.ty == SocketType::Sub || conflate;
        self.sub_matches_all = !self.opts.invert_matching && self.ps.matches_all();
        Ok(())
    }

    /// Start receiving this socket's connection events (listening, accepted, connected,
    /// handshake results, disconnects with reasons, retries). Calling it again returns another
    /// handle to the same queue.
    pub fn monitor(&mut self) -> Result<Monitor> {
        let mut m = self.shared.monitor.lock().unwrap();
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
        self.opts.get(name)
    }

    /// The endpoint of the last `bind`, with wildcards resolved.
    pub fn last_endpoint(&self) -> Option<String> {
        self.last_endpoint.clone()
    }

    /// Number of connected peers (libzmq-style peer introspection).
    pub fn peer_count(&mut self) -> usize {
        self.process_inbox();
        self.peers
            .iter()
            .filter(|(_, p)| !p.inn.is_closed())
            .count()
    }

    /// Every connected peer with its routing id, address and message counts.
    pub fn peers(&mut self) -> Vec<PeerStats> {
        self.process_inbox();
        self.peers
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
        self.rcvmore
    }

    fn opts_arc(&self) -> Arc<SockOpts> {
        Arc::new(self.opts.clone())
    }

    /// Bind to a local endpoint (`tcp://host:port`, `tcp://*:*`, `ipc:///path`, `ipc://@name`).
    pub fn bind(&mut self, endpoint: &str) -> Result<()> {
        self.check_term()?;
        let ep = transport::parse(endpoint)?;
        if let transport::Endpoint::Inproc { name } = &ep {
            return self.bind_inproc(name, endpoint);
        }
        let (addr, ipc_path) = transport::bind_addr(&ep, self.opts.ipv6)?;
        if let Some(p) = ipc_path.as_deref() {
            // A stale socket file from an earlier run would make bind fail (libzmq removes it).
            if !p.starts_with('@') {
                let _ = std::fs::remove_file(p);
            }
        }
        let fd = match crate::backend::sys::listen(&addr, self.opts.backlog, !self.opts.ipv6) {
            Ok(fd) => fd,
            Err(e) => {
                let errno = e.raw_os_error().unwrap_or(libc::EIO);
                self.shared
                    .event(MonitorEventKind::BindFailed(errno), endpoint, None);
                return Err(e.into());
            }
        };
        let local = crate::backend::sys::local_addr(std::os::fd::AsRawFd::as_raw_fd(&fd))?;
        let resolved = transport::endpoint_string(&local, ipc_path.as_deref());
        let r = self.ctx.inner.peers.pick();
        self.ctx.reactor(r).send(Cmd::Listen {
            sock: self.shared.clone(),
            opts: self.opts_arc(),
            fd,
            endpoint: resolved.clone(),
            ipc_path,
        });
        self.bound.push(Bound::Listen(resolved.clone()));
        if resolved != endpoint {
            self.bound.push(Bound::Listen(endpoint.to_string()));
        }
        self.last_endpoint = Some(resolved);
        Ok(())
    }

    /// Connect to a remote endpoint; returns at once (the connection is made, and remade after
    /// failures, in the background).
    pub fn connect(&mut self, endpoint: &str) -> Result<()> {
        self.check_term()?;
        let ep = transport::parse(endpoint)?;
        if let transport::Endpoint::Inproc { name } = &ep {
            return self.connect_inproc(name, endpoint);
        }
        let target = transport::connect_target(&ep, self.opts.ipv6)?;
        let alias = if matches!(self.ty, SocketType::Router | SocketType::Stream) {
            self.opts.connect_routing_id.take()
        } else {
            None
        };
        let r = self.ctx.inner.peers.pick();
        // PAIR/DEALER queue messages for a peer that is not there yet (unless IMMEDIATE), so
        // the pipes exist from now on and survive reconnects.
        let pipes = if !self.opts.immediate
            && !matches!(self.ty, SocketType::Router | SocketType::Stream)
        {
            let id = self.ctx.inner.peers.peer_id();
            let (out_w, out_r) = pipe::pipe(self.opts.sndhwm);
            let (in_w, in_r) = pipe::pipe(self.opts.rcvhwm);
            let accepted = self.add_peer(NewPeer {
                remote: endpoint.to_string(),
                id,
                out: out_w,
                inn: in_r,
                identity: Vec::new(),
                alias: None,
                link: Link::Reactor(r),
            });
            if !accepted {
                return Err(Error::invalid("PAIR socket already has a peer"));
            }
            Some((id, out_r, in_w))
        } else {
            None
        };
        self.ctx.reactor(r).send(Cmd::Connect {
            sock: self.shared.clone(),
            opts: self.opts_arc(),
            target,
            endpoint: endpoint.to_string(),
            alias,
            pipes,
        });
        self.bound.push(Bound::Connect(endpoint.to_string()));
        Ok(())
    }

    /// inproc bind: register the name and attach connections that were waiting for it.
    fn bind_inproc(&mut self, name: &str, endpoint: &str) -> Result<()> {
        if self.ty == SocketType::Stream {
            return Err(Error::NotSupported);
        }
        let pending = {
            let mut reg = self.ctx.inner.inproc.lock().unwrap();
            if reg.bound.contains_key(name) {
                return Err(Error::Io(std::io::Error::from_raw_os_error(
                    libc::EADDRINUSE,
                )));
            }
            reg.bound.insert(
                name.to_string(),
                InprocBound {
                    sock: self.shared.clone(),
                    sndhwm: self.opts.sndhwm,
                    rcvhwm: self.opts.rcvhwm,
                    routing_id: self.opts.routing_id.clone(),
                },
            );
            reg.pending.remove(name).unwrap_or_default()
        };
        for (p, slot) in pending {
            let _ = slot.set(self.shared.clone());
            let (id, link) = (p.id, p.link.clone());
            if !self.add_peer(p) {
                link.reject(&self.ctx.inner.peers.handles, id);
            }
        }
        self.bound.push(Bound::Listen(endpoint.to_string()));
        self.last_endpoint = Some(endpoint.to_string());
        Ok(())
    }

    /// inproc connect: a pipe pair straight to the bound socket (or parked until it binds).
    /// HWMs add up over both ends, as in libzmq.
    fn connect_inproc(&mut self, name: &str, endpoint: &str) -> Result<()> {
        if self.ty == SocketType::Stream {
            return Err(Error::NotSupported);
        }
        let peers = self.ctx.inner.peers.clone();
        let (id_here, id_there) = (peers.peer_id(), peers.peer_id());
        let sum = |a: u64, b: u64| if a == 0 || b == 0 { 0 } else { a + b };
        let mut reg = self.ctx.inner.inproc.lock().unwrap();
        let bound = reg.bound.get(name);
        let (their_snd, their_rcv, their_id, their_sock) = match bound {
            Some(b) => (
                b.sndhwm,
                b.rcvhwm,
                b.routing_id.clone(),
                Some(b.sock.clone()),
            ),
            None => (self.opts.rcvhwm, self.opts.sndhwm, Vec::new(), None),
        };
        let (out_w, out_r) = pipe::pipe(sum(self.opts.sndhwm, their_rcv));
        let (back_w, back_r) = pipe::pipe(sum(their_snd, self.opts.rcvhwm));
        let them = Arc::new(std::sync::OnceLock::new());
        if let Some(s) = their_sock.clone() {
            let _ = them.set(s);
        }
        let us = Arc::new(std::sync::OnceLock::new());
        let _ = us.set(self.shared.clone());
        let their_half = NewPeer {
            remote: endpoint.to_string(),
            id: id_there,
            out: back_w,
            inn: out_r,
            identity: self.opts.routing_id.clone(),
            alias: None,
            link: Link::Inproc {
                other: us,
                peer: id_here,
                inline: self.inline,
            },
        };
        match their_sock {
            Some(s) => s.attach(their_half),
            None => reg
                .pending
                .entry(name.to_string())
                .or_default()
                .push((their_half, them.clone())),
        }
        drop(reg);
        let alias = if matches!(self.ty, SocketType::Router | SocketType::Stream) {
            self.opts.connect_routing_id.take()
        } else {
            None
        };
        let accepted = self.add_peer(NewPeer {
            remote: endpoint.to_string(),
            id: id_here,
            out: out_w,
            inn: back_r,
            identity: their_id,
            alias,
            link: Link::Inproc {
                other: them,
                peer: id_there,
                inline: self.inline,
            },
        });
        if !accepted {
            return Err(Error::invalid("the socket refused another peer"));
        }
        self.bound.push(Bound::Connect(endpoint.to_string()));
        self.inproc_conns.push((endpoint.to_string(), id_here));
        Ok(())
    }

    /// Stop listening on an endpoint given to `bind` (or its resolved form).
    pub fn unbind(&mut self, endpoint: &str) -> Result<()> {
        let b = Bound::Listen(endpoint.to_string());
        let Some(pos) = self.bound.iter().position(|x| *x == b) else {
            return Err(Error::NotFound);
        };
        self.bound.remove(pos);
        if let Some(name) = endpoint.strip_prefix("inproc://") {
            let mut reg = self.ctx.inner.inproc.lock().unwrap();
            if reg
                .bound
                .get(name)
                .is_some_and(|b| b.sock.id == self.shared.id)
            {
                reg.bound.remove(name);
            }
            return Ok(());
        }
        for h in &self.ctx.inner.peers.handles {
            h.send(Cmd::Unbind {
                sock: self.shared.id,
                endpoint: endpoint.to_string(),
            });
        }
        Ok(())
    }

    /// Drop the connection(s) made by `connect(endpoint)`.
    pub fn disconnect(&mut self, endpoint: &str) -> Result<()> {
        let b = Bound::Connect(endpoint.to_string());
        let Some(pos) = self.bound.iter().position(|x| *x == b) else {
            return Err(Error::NotFound);
        };
        self.bound.remove(pos);
        if endpoint.starts_with("inproc://") {
            let ids: Vec<u64> = self
                .inproc_conns
                .iter()
                .filter(|(e, _)| e == endpoint)
                .map(|&(_, id)| id)
                .collect();
            self.inproc_conns.retain(|(e, _)| e != endpoint);
            for id in ids {
                if let Some(&slot) = self.by_id.get(&id) {
                    let p = &mut self.peers[slot];
                    p.out.close();
                    p.link.flush(&self.ctx.inner.peers.handles, p.id);
                    self.remove_peer(slot);
                }
            }
            return Ok(());
        }
        for h in &self.ctx.inner.peers.handles {
            h.send(Cmd::Disconnect {
                sock: self.shared.id,
                endpoint: endpoint.to_string(),
            });
        }
        Ok(())
    }

    fn check_term(&self) -> Result<()> {
        if self.ctx.is_terminated() {
            return Err(Error::Terminated);
        }
        Ok(())
    }

    // ----- peers -------------------------------------------------------------------------

    /// Attach a connection; false if the pattern refuses it.
    fn add_peer(&mut self, p: NewPeer) -> bool {
        let rid = match self.ty {
            // One live peer at a time; a peer whose connection already closed (and which is
            // only draining what it delivered) does not block a new one.
            SocketType::Pair if self.peers.iter().any(|(_, q)| !q.inn.is_closed()) => return false,
            SocketType::Router => {
                let rid = match (&p.alias, p.identity.is_empty()) {
                    (Some(a), _) => a.clone(),
                    (None, false) => p.identity.clone(),
                    (None, true) => self.gen_rid(),
                };
                if let Some(&old) = self.by_rid.get(&rid) {
                    if !self.opts.router_handover {
                        return false;
                    }
                    // Handover: the old peer loses the id and its connection.
                    let fresh = self.gen_rid();
                    self.by_rid.remove(&rid);
                    self.by_rid.insert(fresh.clone(), old);
                    let op = &mut self.peers[old];
                    op.rid = fresh;
                    op.link.reject(&self.ctx.inner.peers.handles, op.id);
                }
                rid
            }
            SocketType::Stream => match p.alias.clone() {
                Some(a) if !self.by_rid.contains_key(&a) => a,
                _ => self.stream_rid(),
            },
            _ => p.identity.clone(),
        };
        let id = p.id;
        let link = p.link;
        let slot = self.peers.insert(Peer {
            id,
            link,
            out: p.out,
            inn: p.inn,
            rid: rid.clone(),
            in_active: false,
            batch: 0,
            remote: p.remote,
            since: std::time::SystemTime::now(),
        });
        self.by_id.insert(id, slot);
        self.out_order.push(slot);
        if matches!(self.ty, SocketType::Router | SocketType::Stream) {
            if self.ty == SocketType::Stream {
                self.stream_notify(rid.clone(), true);
            }
            self.by_rid.insert(rid, slot);
        }
        if self.opts.probe_router && matches!(self.ty, SocketType::Router | SocketType::Dealer) {
            let peer = &mut self.peers[slot];
            peer.out.write_frame(&[0, 0], &[]);
            if peer.out.commit(1) {
                peer.link.flush(&self.ctx.inner.peers.handles, id);
            }
        }
        if matches!(
            self.ty,
            SocketType::Sub | SocketType::XSub | SocketType::XPub
        ) {
            self.pubsub_attached(slot);
        }
        // Data may already be waiting.
        self.mark_active(slot);
        true
    }

    fn gen_rid(&mut self) -> Vec<u8> {
        loop {
            self.next_rid = self.next_rid.wrapping_add(1);
            let mut rid = vec![0u8];
            rid.extend_from_slice(&self.next_rid.to_be_bytes());
            if !self.by_rid.contains_key(&rid) {
                return rid;
            }
        }
    }

    fn mark_active(&mut self, slot: usize) {
        if let Some(p) = self.peers.get_mut(slot) {
            if !p.in_active {
                p.in_active = true;
                self.active.push_back(slot);
            }
        }
    }

    fn remove_peer(&mut self, slot: usize) {
        self.pubsub_detached(slot);
        let p = self.peers.remove(slot);
        self.by_id.remove(&p.id);
        self.out_order.retain(|&s| s != slot);
        self.active.retain(|&s| s != slot);
        if matches!(self.ty, SocketType::Router | SocketType::Stream)
            && self.by_rid.get(&p.rid) == Some(&slot)
        {
            self.by_rid.remove(&p.rid);
        }
        if self.cur_out == Some(slot) {
            self.cur_out = None;
            self.dropping = true;
        }
        if self.cur_in == Some(slot) {
            self.cur_in = None;
        }
    }

    /// Apply reactor notifications (new peers, pipe state changes).
    #[inline]
    fn process_inbox(&mut self) {
        if self.shared.has_pending() {
            self.take_inbox();
        }
    }

    #[inline(never)]
    fn take_inbox(&mut self) {
        let mut inbox = std::mem::take(&mut self.inbox);
        self.shared.take_inbox(&mut inbox);
        for p in inbox.attach.drain(..) {
            let (id, link) = (p.id, p.link.clone());
            if !self.add_peer(p) {
                link.reject(&self.ctx.inner.peers.handles, id);
            }
        }
        for id in inbox.ready.drain(..) {
            if let Some(&slot) = self.by_id.get(&id) {
                self.mark_active(slot);
            }
        }
        self.inbox = inbox;
    }

    /// Block until notified or `deadline`; errors with Again at the deadline, Terminated on
    /// shutdown, Interrupted when a signal arrives.
    fn wait(&mut self, deadline: Option<Instant>) -> Result<()> {
        self.check_term()?;
        self.unflushed = 0;
        if self.inline {
            self.finish_touched();
            return self.wait_inline(deadline);
        }
        let spin = self.ctx.inner.spin;
        if !spin.is_zero() {
            let until = Instant::now() + spin;
            while Instant::now() < until {
                if self.shared.has_pending() {
                    return Ok(());
                }
                std::hint::spin_loop();
            }
        }
        let parker = &self.shared.parker;
        parker.announce();
        if self.shared.has_pending() {
            parker.clear();
            return Ok(());
        }
        let timeout = match deadline {
            None => None,
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    parker.clear();
                    return Err(Error::Again);
                }
                Some(d - now)
            }
        };
        parker.sleep(timeout)?;
        self.check_term()?;
        Ok(())
    }

    /// Inline mode: lead the reactor until this socket has news, or sleep while another
    /// thread leads it (see `runtime::inline`).
    fn wait_inline(&mut self, deadline: Option<Instant>) -> Result<()> {
        let Some(inline) = self.ctx.inline() else {
            return Err(Error::invalid(
                "a single_thread context is used from a thread other than its creator",
            ));
        };
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Error::Again);
        }
        let shared = &self.shared;
        let ctx = &self.ctx;
        let mut ready = || shared.has_pending() || ctx.is_terminated();
        inline.wait(&[&shared.parker], &mut [], deadline, &mut ready)?;
        self.check_term()
    }

    /// A file descriptor that becomes readable whenever this socket's readiness may have
    /// changed (libzmq's ZMQ_FD): for epoll, libuv or asyncio loops. It is edge-like: after
    /// it fires, call [`Socket::events`] and receive/send until they would block, then wait
    /// on the fd again. Do not read from it yourself.
    pub fn fd(&self) -> RawFd {
        self.shared.parker.watch();
        self.shared.parker.fd()
    }

    /// What the socket can do now without blocking: `POLLIN` (a message can be received)
    /// and/or `POLLOUT` (a message can be sent) (libzmq's ZMQ_EVENTS). Resets [`Socket::fd`].
    pub fn events(&mut self) -> Result<i16> {
        self.check_term()?;
        self.shared.parker.reset();
        if self.inline {
            self.flush();
        }
        let mut ev = 0;
        if self.has_in() {
            ev |= POLLIN;
        }
        if self.can_send() {
            ev |= POLLOUT;
        }
        Ok(ev)
    }

    /// Whether a new message (or the rest of one) can be sent without blocking. When not,
    /// asks the full peers to report free space (so `fd` fires when it appears).
    fn can_send(&mut self) -> bool {
        if self.cur_out.is_some() || self.dropping {
            return true;
        }
        match self.ty {
            SocketType::Pub | SocketType::XPub | SocketType::XSub | SocketType::Stream => true,
            SocketType::Router if !self.opts.router_mandatory => true,
            SocketType::Rep => self.rep_peer.is_some(),
            SocketType::Req if self.req_peer.is_some() && !self.opts.req_relaxed => false,
            SocketType::Req => self.peers.iter_mut().any(|(_, p)| {
                !p.out.reader_gone() && (!p.out.is_full() || !p.out.wait_for_space())
            }),
            SocketType::Pair | SocketType::Dealer | SocketType::Router | SocketType::Push => {
                let mut room = false;
                for (_, p) in self.peers.iter_mut() {
                    if p.out.reader_gone() {
                        continue;
                    }
                    if !p.out.is_full() || !p.out.wait_for_space() {
                        room = true;
                        break;
                    }
                }
                room
            }
            _ => false,
        }
    }

    /// Perform pending I/O now without blocking (inline contexts; a no-op when reactor
    /// threads do the I/O). Use it before going off to other work with messages queued.
    pub fn flush(&mut self) {
        self.unflushed = 0;
        self.finish_touched();
        self.ctx.drive_io();
    }

    fn finish_touched(&mut self) {
        let mut touched = std::mem::take(&mut self.touched);
        self.finish_batch(&mut touched);
        self.touched = touched;
    }

    /// Inline mode: after a committed message, let the reactor send every so often so a
    /// long run of sends keeps the wire busy without a syscall per message.
    #[inline]
    fn sent_one(&mut self) {
        if self.inline {
            self.unflushed += 1;
            if self.unflushed >= 256 {
                self.flush();
            }
        }
    }

    fn deadline(&self, timeo: Option<Duration>) -> Deadline {
        Deadline { timeo, at: None }
    }

    // ----- receive -----------------------------------------------------------------------

    /// The peer to read the next frame from, if any frame is ready.
    fn next_in(&mut self) -> Option<usize> {
        if let Some(s) = self.cur_in {
            return Some(s);
        }
        self.process_inbox();
        while let Some(&s) = self.active.front() {
            let p = &mut self.peers[s];
            if !p.inn.peek().is_empty() {
                return Some(s);
            }
            // Hand back all read credit before going idle: the reactor may be paused on it.
            if p.inn.publish_credit() {
                p.link.resume(&self.ctx.inner.peers.handles, p.id);
            }
            if p.inn.deactivate() {
                continue;
            }
            self.active.pop_front();
            p.in_active = false;
            if p.inn.is_finished() {
                // The connection is gone and everything it delivered was read.
                if self.ty == SocketType::Stream {
                    let rid = p.rid.clone();
                    self.stream_notify(rid, false);
                }
                self.remove_peer(s);
            }
        }
        None
    }

    /// Socket types that receive messages (PUSH and PUB only send).
    fn can_receive(&self) -> bool {
        matches!(
            self.ty,
            SocketType::Pair
                | SocketType::Dealer
                | SocketType::Router
                | SocketType::Pull
                | SocketType::Req
                | SocketType::Rep
                | SocketType::Sub
                | SocketType::XSub
                | SocketType::XPub
                | SocketType::Stream
        )
    }

    /// Whether a message can be received now (POLLIN).
    fn has_in(&mut self) -> bool {
        match self.ty {
            SocketType::XPub => return self.xpub_has_in(),
            // REP owes a reply first; REQ has no request outstanding (libzmq's view too).
            SocketType::Rep if self.rep_peer.is_some() => return false,
            SocketType::Req if self.req_peer.is_none() && self.cur_in.is_none() => return false,
            _ => {}
        }
        if self.cur_in.is_some()
            || self.stream_notice_payload.is_some()
            || !self.stream_notices.is_empty()
        {
            return true;
        }
        while let Some(s) = self.next_in() {
            if !self.filter_in || self.accept_head(s) {
                return true;
            }
        }
        // Attaching peers may have queued STREAM notifications.
        !self.stream_notices.is_empty()
    }

    /// Socket types whose sends go round-robin to any peer with room.
    fn load_balanced(&self) -> bool {
        matches!(
            self.ty,
            SocketType::Pair | SocketType::Dealer | SocketType::Push
        )
    }

    /// Read one frame with `f(body, more)`, blocking per flags/RCVTIMEO.
    fn recv_frame<R>(&mut self, flags: i32, mut f: impl FnMut(&[u8], bool) -> R) -> Result<R> {
        if matches!(self.ty, SocketType::Req | SocketType::Rep) {
            return self.recv_frame_reqrep(flags, f);
        }
        if self.ty == SocketType::XPub {
            return self.recv_frame_xpub(flags, f);
        }
        if !self.can_receive() {
            return Err(Error::NotSupported);
        }
        let nowait = flags & DONTWAIT != 0 || self.opts.rcvtimeo == Some(Duration::ZERO);
        let mut deadline = self.deadline(self.opts.rcvtimeo);
        loop {
            if self.ty == SocketType::Stream && self.cur_in.is_none() {
                // Notifications come before (connect) or after (disconnect) a peer's data.
                if let Some(r) = self.stream_notice_frame(&mut f) {
                    return Ok(r);
                }
            }
            if let Some(s) = self.next_in() {
                if self.filter_in && self.cur_in.is_none() && !self.accept_head(s) {
                    continue;
                }
                if self.ty == SocketType::Stream
                    && self.cur_in.is_none()
                    && !self.stream_notices.is_empty()
                {
                    continue;
                }
                if matches!(self.ty, SocketType::Router | SocketType::Stream) && !self.rid_sent {
                    // Deliver the routing-id frame first.
                    self.cur_in = Some(s);
                    self.rid_sent = true;
                    self.rcvmore = true;
                    return Ok(f(&self.peers[s].rid, true));
                }
                return Ok(self.read_frame(s, &mut f));
            }
            if !self.stream_notices.is_empty() {
                continue; // a peer attached while we looked
            }
            if nowait {
                return Err(Error::Again);
            }
            self.wait(deadline.get())?;
        }
    }

    /// `recv_frame` for REQ/REP (kept out of the common path): strip the envelope at the
    /// start of a message, and track the request/reply alternation at its end.
    #[inline(never)]
    fn recv_frame_reqrep<R>(
        &mut self,
        flags: i32,
        mut f: impl FnMut(&[u8], bool) -> R,
    ) -> Result<R> {
        let nowait = flags & DONTWAIT != 0 || self.opts.rcvtimeo == Some(Duration::ZERO);
        let mut deadline = self.deadline(self.opts.rcvtimeo);
        if self.cur_in.is_none() {
            if self.ty == SocketType::Req {
                self.req_begin_reply(nowait, &mut deadline)?;
            } else {
                self.rep_begin_request(nowait, &mut deadline)?;
            }
        }
        let s = self.next_message(nowait, &mut deadline)?;
        let r = self.read_frame(s, &mut f);
        if !self.rcvmore {
            // The whole reply (REQ) / request (REP) was read.
            if self.ty == SocketType::Req {
                self.req_peer = None;
            } else {
                self.rep_peer = Some(self.rep_from);
            }
        }
        Ok(r)
    }

    /// The next message start from any peer, waiting per `nowait`/`deadline`.
    fn next_message(&mut self, nowait: bool, deadline: &mut Deadline) -> Result<usize> {
        loop {
            if let Some(s) = self.next_in() {
                return Ok(s);
            }
            if nowait {
                return Err(Error::Again);
            }
            self.wait(deadline.get())?;
        }
    }

    /// Consume the rest of a message from `s` (the current frame had MORE).
    fn discard_rest(&mut self, s: usize) {
        while self.cur_in == Some(s) {
            self.read_frame(s, &mut |_: &[u8], _| ());
        }
    }

    /// REQ: skip to the first payload frame of the awaited reply; replies from other peers,
    /// with a stale request id, or without the empty delimiter are dropped.
    fn req_begin_reply(&mut self, nowait: bool, deadline: &mut Deadline) -> Result<()> {
        let Some(want) = self.req_peer else {
            return Err(Error::State);
        };
        loop {
            let s = self.next_message(nowait, deadline)?;
            let from = self.peers[s].id;
            let mut ok = from == want;
            if ok && self.opts.req_correlate {
                let id = self.req_id.to_ne_bytes();
                let (good, more) = self.read_frame(s, &mut |b: &[u8], m| (b == id, m));
                ok = good && more;
                if !more {
                    continue;
                }
            }
            let (delim, more) = self.read_frame(s, &mut |b: &[u8], m| (b.is_empty(), m));
            if ok && delim && more {
                return Ok(());
            }
            if more {
                self.discard_rest(s);
            }
        }
    }

    /// REP: read a request's envelope (frames up to the empty delimiter) and stop at its
    /// first payload frame; messages without a delimiter are dropped.
    fn rep_begin_request(&mut self, nowait: bool, deadline: &mut Deadline) -> Result<()> {
        if self.rep_peer.is_some() {
            return Err(Error::State);
        }
        loop {
            let s = self.next_message(nowait, deadline)?;
            self.rep_from = self.peers[s].id;
            self.rep_env.clear();
            loop {
                let (frame, more) = self.read_frame(s, &mut |b: &[u8], m| (b.to_vec(), m));
                if !more {
                    break;
                }
                if frame.is_empty() {
                    return Ok(());
                }
                self.rep_env.push(frame);
            }
        }
    }

    /// Read the next frame from peer `s` (which has one). Always inlined: it is the body of
    /// the per-message receive path.
    #[inline(always)]
    fn read_frame<R>(&mut self, s: usize, f: &mut impl FnMut(&[u8], bool) -> R) -> R {
        let p = &mut self.peers[s];
        let buf = p.inn.peek();
        let h = frame::parse_header(buf)
            .ok()
            .flatten()
            .expect("inbound pipe holds whole frames");
        let end = h.frame_len() as usize;
        let more = h.more();
        let r = f(&buf[h.header_len..end], more);
        p.inn.consume(end);
        self.rcvmore = more;
        if more {
            self.cur_in = Some(s);
        } else {
            self.cur_in = None;
            self.rid_sent = false;
            if p.inn.credit(1) {
                p.link.resume(&self.ctx.inner.peers.handles, p.id);
            }
            // Fair queueing: the next message comes from the next peer.
            if self.active.len() > 1 && self.active.front() == Some(&s) {
                self.active.pop_front();
                self.active.push_back(s);
            }
        }
        r
    }

    /// Receive one frame into `buf`; returns the frame's full size (the copy is truncated to
    /// `buf.len()`, as zmq_recv does).
    pub fn recv(&mut self, buf: &mut [u8], flags: i32) -> Result<usize> {
        self.recv_frame(flags, |body, _| {
            let n = body.len().min(buf.len());
            buf[..n].copy_from_slice(&body[..n]);
            body.len()
        })
    }

    /// Receive one frame and hand it to `f` in place, without copying it out of the
    /// socket's queue: `f(body, more)`; returns what `f` returns. The borrow ends with `f`,
    /// after which the frame is consumed.
    pub fn recv_with<R>(&mut self, flags: i32, f: impl FnOnce(&[u8], bool) -> R) -> Result<R> {
        let mut f = Some(f);
        self.recv_frame(flags, |body, more| {
            let f = f.take().expect("recv_frame calls its callback once");
            f(body, more)
        })
    }

    /// Receive one frame as a new vector.
    pub fn recv_bytes(&mut self, flags: i32) -> Result<Vec<u8>> {
        self.recv_frame(flags, |body, _| body.to_vec())
    }

    /// Receive all frames of the next message.
    pub fn recv_multipart(&mut self, flags: i32) -> Result<Vec<Vec<u8>>> {
        let mut parts = vec![self.recv_bytes(flags)?];
        while self.rcvmore {
            // The rest of the message is already queued (messages are committed whole).
            parts.push(self.recv_bytes(flags & !DONTWAIT)?);
        }
        Ok(parts)
    }

    /// Receive many messages into one buffer: frames are packed back to back, `lens[i]` is the
    /// length of frame i. Blocks (per flags/RCVTIMEO) until at least one message is ready,
    /// then takes whole messages while they fit. ROUTER messages start with the routing id
    /// frame. Returns the number of frames written; a message too big for the whole buffer
    /// fails with `MessageTooLarge(needed)` and stays queued.
    pub fn recv_batch(&mut self, buf: &mut [u8], lens: &mut [usize], flags: i32) -> Result<usize> {
        self.recv_batch_inner(buf, lens, None, flags)
    }

    /// Like `recv_batch`, also reporting for each frame whether more frames of the same
    /// message follow.
    pub fn recv_batch_parts(
        &mut self,
        buf: &mut [u8],
        lens: &mut [usize],
        more: &mut [bool],
        flags: i32,
    ) -> Result<usize> {
        self.recv_batch_inner(buf, lens, Some(more), flags)
    }

    /// Non-blocking `recv_batch`: `Ok(0)` when nothing is queued.
    pub fn drain(&mut self, buf: &mut [u8], lens: &mut [usize]) -> Result<usize> {
        match self.recv_batch_inner(buf, lens, None, DONTWAIT) {
            Err(Error::Again) => Ok(0),
            r => r,
        }
    }

    fn recv_batch_inner(
        &mut self,
        buf: &mut [u8],
        lens: &mut [usize],
        mut more: Option<&mut [bool]>,
        flags: i32,
    ) -> Result<usize> {
        if !self.can_receive()
            || matches!(
                self.ty,
                SocketType::Req | SocketType::Rep | SocketType::XPub
            )
        {
            return Err(Error::NotSupported);
        }
        if self.cur_in.is_some() {
            // A message was partly read with recv(): batches deal in whole messages.
            return Err(Error::State);
        }
        let cap = match more.as_deref() {
            Some(m) => lens.len().min(m.len()),
            None => lens.len(),
        };
        if cap == 0 {
            return Err(Error::invalid("no room for lengths"));
        }
        let nowait = flags & DONTWAIT != 0 || self.opts.rcvtimeo == Some(Duration::ZERO);
        let mut deadline = self.deadline(self.opts.rcvtimeo);
        let router = matches!(self.ty, SocketType::Router | SocketType::Stream);
        if self.stream_notice_payload.is_some() {
            return Err(Error::State);
        }
        loop {
            let mut frames = 0usize;
            let mut used = 0usize;
            loop {
                // STREAM notifications, packed like messages: [peer id][payload].
                while let Some((rid, payload)) = self.stream_notices.front() {
                    let (nb, nf) = (rid.len() + payload.len(), 2);
                    if frames + nf > cap || used + nb > buf.len() {
                        if frames == 0 {
                            return Err(if nf > cap {
                                Error::invalid("lens array too small for one message")
                            } else {
                                Error::MessageTooLarge(nb)
                            });
                        }
                        return Ok(frames);
                    }
                    for (k, part) in [rid, payload].into_iter().enumerate() {
                        buf[used..used + part.len()].copy_from_slice(part);
                        lens[frames] = part.len();
                        if let Some(m) = more.as_deref_mut() {
                            m[frames] = k == 0;
                        }
                        used += part.len();
                        frames += 1;
                    }
                    self.stream_notices.pop_front();
                }
                let Some(s) = self.next_in() else {
                    if self.stream_notices.is_empty() {
                        break;
                    }
                    continue; // a peer attached meanwhile: its notification first
                };
                if !self.stream_notices.is_empty() {
                    continue;
                }
                if self.filter_in && !self.accept_head(s) {
                    continue;
                }
                let Some((nf, body)) = self.peers[s].inn.scan_message() else {
                    break;
                };
                let rid_len = if router { self.peers[s].rid.len() } else { 0 };
                let need_frames = nf + usize::from(router);
                let need_bytes = body + rid_len;
                if frames + need_frames > cap || used + need_bytes > buf.len() {
                    if frames == 0 {
                        return Err(if need_frames > cap {
                            Error::invalid("lens array too small for one message")
                        } else {
                            Error::MessageTooLarge(need_bytes)
                        });
                    }
                    return Ok(frames);
                }
                if router {
                    let rid = &self.peers[s].rid;
                    buf[used..used + rid.len()].copy_from_slice(rid);
                    lens[frames] = rid.len();
                    if let Some(m) = more.as_deref_mut() {
                        m[frames] = true;
                    }
                    used += rid.len();
                    frames += 1;
                }
                loop {
                    let (len, m) = self.read_frame(s, &mut |body: &[u8], m| {
                        buf[used..used + body.len()].copy_from_slice(body);
                        (body.len(), m)
                    });
                    lens[frames] = len;
                    if let Some(mm) = more.as_deref_mut() {
                        mm[frames] = m;
                    }
                    used += len;
                    frames += 1;
                    if !m {
                        break;
                    }
                }
            }
            if frames > 0 {
                return Ok(frames);
            }
            if nowait {
                return Err(Error::Again);
            }
            self.wait(deadline.get())?;
        }
    }

    // ----- send --------------------------------------------------------------------------

    /// A peer with room for a new message (round-robin), blocking per flags/SNDTIMEO.
    fn pick_out(&mut self, nowait: bool, deadline: &mut Deadline) -> Result<usize> {
        self.process_inbox();
        if let [s] = self.out_order[..] {
            let p = &mut self.peers[s];
            if !p.out.is_full() && !p.out.reader_gone() {
                return Ok(s);
            }
        }
        loop {
            self.process_inbox();
            let n = self.out_order.len();
            for i in 0..n {
                let idx = (self.rr + i) % n;
                let s = self.out_order[idx];
                let p = &mut self.peers[s];
                if p.out.reader_gone() {
                    continue;
                }
                if !p.out.is_full() {
                    self.rr = (idx + 1) % n.max(1);
                    return Ok(s);
                }
            }
            if nowait {
                return Err(Error::Again);
            }
            // Ask every full peer to tell us when it drains, then re-check before sleeping.
            let mut room = false;
            for &s in &self.out_order {
                let p = &mut self.peers[s];
                if !p.out.reader_gone() && !p.out.wait_for_space() {
                    room = true;
                }
            }
            if !room {
                self.wait(deadline.get())?;
            }
        }
    }

    #[inline]
    fn write(&mut self, s: usize, data: &[u8], more: bool) {
        let mut hdr = [0u8; frame::MAX_HEADER];
        let hl = frame::encode_header(&mut hdr, more, false, data.len() as u64);
        let p = &mut self.peers[s];
        p.out.write_frame(&hdr[..hl], data);
        if more {
            return;
        }
        // The fenced commit per message stays even in inline mode: another socket's thread
        // may be the one driving the shared reactor, and only this check tells it.
        if p.out.commit(1) {
            p.link.flush(&self.ctx.inner.peers.handles, p.id);
        }
    }

    /// Send one frame; `SNDMORE` in flags means more frames of this message follow.
    pub fn send(&mut self, data: &[u8], flags: i32) -> Result<()> {
        self.check_term()?;
        let more = flags & SNDMORE != 0;
        let nowait = flags & DONTWAIT != 0 || self.opts.sndtimeo == Some(Duration::ZERO);
        match self.ty {
            _ if self.load_balanced() => {
                let s = match self.cur_out {
                    Some(s) => s,
                    None => {
                        if self.dropping {
                            // The peer of a message in progress went away: swallow the rest.
                            if !more {
                                self.dropping = false;
                            }
                            return Ok(());
                        }
                        let mut deadline = self.deadline(self.opts.sndtimeo);
                        self.pick_out(nowait, &mut deadline)?
                    }
                };
                self.write(s, data, more);
                self.cur_out = more.then_some(s);
                if !more {
                    self.sent_one();
                }
                Ok(())
            }
            SocketType::Router => self.send_router(data, more, nowait),
            SocketType::Stream => self.send_stream(data, flags, nowait),
            SocketType::Pub | SocketType::XPub => self.send_dist(data, more, nowait),
            SocketType::XSub => self.send_xsub(data, more),
            SocketType::Req => self.send_req(data, more, nowait),
            SocketType::Rep => self.send_rep(data, more),
            _ => Err(Error::NotSupported),
        }
    }

    /// REQ: a new request starts with [request id (REQ_CORRELATE)][empty delimiter] to one
    /// peer (lb); its last frame arms the wait for that peer's reply.
    fn send_req(&mut self, data: &[u8], more: bool, nowait: bool) -> Result<()> {
        let s = match self.cur_out {
            Some(s) => s,
            None => {
                if self.req_peer.is_some() && !self.opts.req_relaxed {
                    return Err(Error::State);
                }
                let mut deadline = self.deadline(self.opts.sndtimeo);
                let s = self.pick_out(nowait, &mut deadline)?;
                self.req_id = self.req_id.wrapping_add(1);
                if self.opts.req_correlate {
                    let id = self.req_id.to_ne_bytes();
                    self.write(s, &id, true);
                }
                self.write(s, &[], true);
                // A new request makes any earlier reply stale (REQ_RELAXED).
                self.req_peer = None;
                s
            }
        };
        self.write(s, data, more);
        if more {
            self.cur_out = Some(s);
        } else {
            self.cur_out = None;
            self.req_peer = Some(self.peers[s].id);
            self.sent_one();
        }
        Ok(())
    }

    /// REP: the reply goes to the peer of the last request, behind its envelope. A peer that
    /// left or is full loses the reply (as a ROUTER drops it).
    fn send_rep(&mut self, data: &[u8], more: bool) -> Result<()> {
        if self.cur_out.is_none() && !self.dropping {
            let Some(pid) = self.rep_peer else {
                return Err(Error::State);
            };
            self.process_inbox();
            match self.by_id.get(&pid).copied() {
                Some(s) if !self.peers[s].out.reader_gone() && !self.peers[s].out.is_full() => {
                    let env = std::mem::take(&mut self.rep_env);
                    for frame in &env {
                        self.write(s, frame, true);
                    }
                    self.rep_env = env;
                    self.write(s, &[], true);
                    self.cur_out = Some(s);
                }
                _ => self.dropping = true,
            }
        }
        if !more {
            self.rep_peer = None;
        }
        if self.dropping {
            if !more {
                self.dropping = false;
            }
            return Ok(());
        }
        let s = self.cur_out.expect("reply in progress");
        self.write(s, data, more);
        if !more {
            self.cur_out = None;
            self.sent_one();
        }
        Ok(())
    }

    fn send_router(&mut self, data: &[u8], more: bool, nowait: bool) -> Result<()> {
        if let Some(s) = self.cur_out {
            self.write(s, data, more);
            if !more {
                self.cur_out = None;
                self.sent_one();
            }
            return Ok(());
        }
        if self.dropping {
            if !more {
                self.dropping = false;
            }
            return Ok(());
        }
        // First frame: the routing id.
        if !more {
            // A lone routing id is silently dropped, as libzmq does.
            return Ok(());
        }
        self.process_inbox();
        let Some(&s) = self.by_rid.get(data) else {
            if self.opts.router_mandatory {
                return Err(Error::HostUnreachable);
            }
            self.dropping = true;
            return Ok(());
        };
        if self.peers[s].out.reader_gone() {
            if self.opts.router_mandatory {
                return Err(Error::HostUnreachable);
            }
            self.dropping = true;
            return Ok(());
        }
        if self.peers[s].out.is_full() {
            if !self.opts.router_mandatory {
                self.dropping = true;
                return Ok(());
            }
            if nowait {
                return Err(Error::Again);
            }
            let mut deadline = self.deadline(self.opts.sndtimeo);
            loop {
                let p = &mut self.peers[s];
                if !p.out.is_full() || p.out.reader_gone() {
                    break;
                }
                if p.out.wait_for_space() {
                    self.wait(deadline.get())?;
                    self.process_inbox();
                    if !self.peers.contains(s) {
                        return Err(Error::HostUnreachable);
                    }
                }
            }
        }
        self.cur_out = Some(s);
        Ok(())
    }

    /// Send all parts of one message.
    pub fn send_multipart<T: AsRef<[u8]>>(&mut self, parts: &[T], flags: i32) -> Result<()> {
        let n = parts.len();
        for (i, p) in parts.iter().enumerate() {
            let more = if i + 1 < n { SNDMORE } else { 0 };
            self.send(p.as_ref(), (flags & !SNDMORE) | more)?;
        }
        Ok(())
    }

    /// Send each item as a single-frame message with one hand-off per peer for the whole
    /// batch. Returns how many were sent (fewer only with DONTWAIT or SNDTIMEO).
    pub fn send_batch<T: AsRef<[u8]>>(&mut self, msgs: &[T], flags: i32) -> Result<usize> {
        self.send_many(msgs.len(), flags, |i| msgs[i].as_ref())
    }

    /// Send `payload` `count` times (single-frame messages), batched like `send_batch`.
    pub fn send_repeat(&mut self, payload: &[u8], count: usize, flags: i32) -> Result<usize> {
        self.send_many(count, flags, |_| payload)
    }

    fn send_many<'a>(
        &mut self,
        count: usize,
        flags: i32,
        item: impl Fn(usize) -> &'a [u8],
    ) -> Result<usize> {
        self.check_term()?;
        if matches!(self.ty, SocketType::Pub | SocketType::XPub) {
            if self.ps.dist_more {
                return Err(Error::State);
            }
            return self.send_many_dist(count, flags, item);
        }
        if !self.load_balanced() {
            return Err(Error::NotSupported);
        }
        if self.cur_out.is_some() || self.dropping {
            return Err(Error::State);
        }
        let nowait = flags & DONTWAIT != 0 || self.opts.sndtimeo == Some(Duration::ZERO);
        let mut deadline = self.deadline(self.opts.sndtimeo);
        let mut touched = std::mem::take(&mut self.touched);
        let mut sent = 0;
        let result = loop {
            if sent == count {
                break Ok(sent);
            }
            let s = match self.pick_out(true, &mut deadline) {
                Ok(s) => s,
                Err(Error::Again) => {
                    // Publish what we have before blocking, so the reactor can drain it.
                    self.finish_batch(&mut touched);
                    if nowait {
                        break if sent > 0 {
                            Ok(sent)
                        } else {
                            Err(Error::Again)
                        };
                    }
                    match self.pick_out(false, &mut deadline) {
                        Ok(s) => s,
                        Err(Error::Again) if sent > 0 => break Ok(sent),
                        Err(e) => break Err(e),
                    }
                }
                Err(e) => break Err(e),
            };
            sent += 1;
            self.batch_write(s, item(sent - 1), &mut touched, sent);
        };
        self.finish_batch(&mut touched);
        self.touched = touched;
        if self.inline {
            self.flush();
        }
        result
    }

    /// ROUTER (and STREAM, always mandatory, an empty payload closing the peer as in `send`):
    /// send each `(routing id, payload)` as a one-frame message to that peer, with
    /// one hand-off per peer for the whole batch. Routing follows `send`: an unknown id or a
    /// full peer drops the message (still counted) unless ROUTER_MANDATORY, where an unknown
    /// id ends the batch with `HostUnreachable` and a full peer blocks (or ends it with
    /// `Again` under DONTWAIT/SNDTIMEO). Returns how many were handled; an error is returned
    /// only if it hits the first message.
    pub fn send_routed_batch<R: AsRef<[u8]>, P: AsRef<[u8]>>(
        &mut self,
        msgs: &[(R, P)],
        flags: i32,
    ) -> Result<usize> {
        self.check_term()?;
        let stream = self.ty == SocketType::Stream;
        if self.ty != SocketType::Router && !stream {
            return Err(Error::NotSupported);
        }
        if self.cur_out.is_some() || self.dropping {
            return Err(Error::State);
        }
        let nowait = flags & DONTWAIT != 0 || self.opts.sndtimeo == Some(Duration::ZERO);
        let mut deadline = self.deadline(self.opts.sndtimeo);
        // STREAM routes like a ROUTER_MANDATORY.
        let mandatory = self.opts.router_mandatory || stream;
        let mut touched = std::mem::take(&mut self.touched);
        let mut done = 0;
        let result = 'batch: loop {
            let Some((rid, payload)) = msgs.get(done) else {
                break Ok(done);
            };
            self.process_inbox();
            let slot = self
                .by_rid
                .get(rid.as_ref())
                .copied()
                .filter(|&s| !self.peers[s].out.reader_gone());
            let Some(s) = slot else {
                if mandatory {
                    break if done > 0 {
                        Ok(done)
                    } else {
                        Err(Error::HostUnreachable)
                    };
                }
                done += 1;
                continue;
            };
            while self.peers[s].out.is_full() {
                if !mandatory {
                    done += 1;
                    continue 'batch;
                }
                // Let the reactor drain what we queued, then wait for room.
                self.finish_batch(&mut touched);
                if nowait {
                    break 'batch if done > 0 {
                        Ok(done)
                    } else {
                        Err(Error::Again)
                    };
                }
                if self.peers[s].out.wait_for_space() {
                    if let Err(e) = self.wait(deadline.get()) {
                        break 'batch if done > 0 { Ok(done) } else { Err(e) };
                    }
                    self.process_inbox();
                    if !self.peers.contains(s) || self.peers[s].out.reader_gone() {
                        continue 'batch;
                    }
                }
            }
            done += 1;
            if !stream {
                self.batch_write(s, payload.as_ref(), &mut touched, done);
            } else if self.stream_is_close(payload.as_ref()) {
                self.finish_batch(&mut touched);
                self.stream_close(s);
            } else if let Err(e) = self.stream_batch_write(s, payload.as_ref(), &mut touched, done)
            {
                done -= 1;
                break if done > 0 { Ok(done) } else { Err(e) };
            }
        };
        self.finish_batch(&mut touched);
        self.touched = touched;
        if self.inline {
            self.flush();
        }
        result
    }

    /// Append a single-frame message for peer `s` as the `n`-th of a batch: published without
    /// the notification check (`finish_batch` does it once per peer); inline contexts run
    /// the reactor every 256 messages so a long batch keeps the wire busy.
    fn batch_write(&mut self, s: usize, data: &[u8], touched: &mut Vec<usize>, n: usize) {
        let mut hdr = [0u8; frame::MAX_HEADER];
        let hl = frame::encode_header(&mut hdr, false, false, data.len() as u64);
        let p = &mut self.peers[s];
        p.out.write_frame(&hdr[..hl], data);
        p.out.commit_quiet(1);
        if p.batch == 0 {
            touched.push(s);
        }
        p.batch += 1;
        if self.inline && n % 256 == 0 {
            self.finish_batch(touched);
            self.flush();
        }
    }

    fn finish_batch(&mut self, touched: &mut Vec<usize>) {
        for s in touched.drain(..) {
            if let Some(p) = self.peers.get_mut(s) {
                p.batch = 0;
                if p.out.commit(0) {
                    p.link.flush(&self.ctx.inner.peers.handles, p.id);
                }
            }
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // Close our ends: the reactors flush what was committed (LINGER), then close.
        self.finish_touched();
        // With LINGER 0, or nothing left to deliver, the close is synchronous: every
        // descriptor of the socket is closed when this returns (a program counting fds, or
        // near its limit, closing and re-creating sockets, must not find them open).
        let sync = self.opts.linger == Some(Duration::ZERO)
            || self.peers.iter().all(|(_, p)| p.out.unread() == 0);
        for p in self.shared.close() {
            p.link.reject(&self.ctx.inner.peers.handles, p.id);
        }
        for (_, p) in self.peers.iter_mut() {
            if p.out.close() {
                p.link.flush(&self.ctx.inner.peers.handles, p.id);
            }
        }
        self.peers.clear();
        {
            let mut reg = self
                .ctx
                .inner
                .inproc
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let id = self.shared.id;
            reg.bound.retain(|_, b| b.sock.id != id);
        }
        let handles = &self.ctx.inner.peers.handles;
        let ack = sync.then(|| Arc::new(CloseAck::new(handles.len())));
        for h in handles {
            h.send(Cmd::CloseSocket {
                sock: self.shared.id,
                linger: self.opts.linger,
                ack: ack.clone(),
            });
        }
        self.shared
            .event(MonitorEventKind::MonitorStopped, "", None);
        // Inline mode: start flushing now; the rest lingers until the context is dropped
        // or driven again.
        self.ctx.drive_io();
        if let Some(ack) = ack {
            self.wait_closed(&ack);
        }
    }
}

impl Socket {
    /// Wait for the reactors' close acknowledgements (`Cmd::CloseSocket { ack }`). Signals
    /// do not interrupt a close.
    fn wait_closed(&self, ack: &CloseAck) {
        if !self.inline {
            ack.wait();
            return;
        }
        let Some(inline) = self.ctx.inline() else {
            // A single_thread context dropped elsewhere cannot be driven from here; its
            // teardown closes the descriptors.
            return;
        };
        let mut done = || ack.is_done();
        while let Err(e) = inline.wait(&[&self.shared.parker], &mut [], None, &mut done) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                log::warn!("close: {e}");
                return;
            }
        }
    }
}
