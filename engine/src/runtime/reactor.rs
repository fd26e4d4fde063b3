//! One reactor: a thread (or, in inline mode, whichever application thread drives it) that owns
//! a driver, the connections assigned to it, their codec state and their timers.
//!
//! The path of a message (see docs/architecture.md for the full picture):
//! * out: the application encodes frames into the connection's outbound pipe and commits; if
//!   the reactor was not already draining that pipe it gets `Cmd::Flush`. `flush` hands every
//!   committed byte (plus pending control frames) to the driver as one vectored send; more data
//!   committed meanwhile goes out with the next send, so sends grow with load.
//! * in: the driver hands received bytes to `on_data`; the handshake consumes the first ones,
//!   then the decoder returns runs of whole frames that are copied into the inbound pipe with
//!   one memcpy per run; commits happen at message boundaries only (multipart atomicity).
//!
//! Peer misbehaviour (bad greeting, oversize or malformed frames, stalled handshake, heartbeat
//! loss) ends in `disconnect` for that connection only.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use slab::Slab;

use super::reactor_set::ReactorSet;
use super::shared::{CloseAck, Cmd, NewPeer, ReactorHandle, SocketShared};
use crate::backend::sys::{self, SockAddr};
use crate::backend::{Driver, Event, IoVecs, Key, Req};
use crate::monitor::{DisconnectReason, MonitorEventKind};
use crate::options::{SockOpts, StreamFraming};
use crate::pipe;
use crate::protocol::command::encode_subscription;
use crate::protocol::{
    frame, Command, Decoded, Decoder, Handshake, HandshakeConfig, HandshakeStatus, Heartbeat,
    PeerInfo, ProtocolError, SocketType,
};

/// Bytes handed to one send at most; larger backlogs go out over several sends.
const MAX_SEND: usize = 4 << 20;
const MAX_IOV: usize = 64;
/// Bytes a paused connection may stash before it stops receiving.
const STASH_LIMIT: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    Reconnect,
    Handshake,
    Heartbeat,
    Linger,
    /// Give a final ERROR command a moment to leave before closing.
    CloseSoon,
}

struct Listener {
    gen: u32,
    sock: Arc<SocketShared>,
    opts: Arc<SockOpts>,
    fd: Option<OwnedFd>,
    endpoint: String,
    ipc_path: Option<String>,
}

enum Phase {
    /// Waiting for a reconnect timer or a connect completion.
    Connecting,
    Handshake(Box<Handshake>),
    Active,
}

struct ConnectInfo {
    target: crate::transport::Target,
    /// The address of the current attempt (a host name is resolved before each).
    addr: Option<SockAddr>,
    /// A resolver thread is running for this connection.
    resolving: bool,
    alias: Option<Vec<u8>>,
    /// The socket's pipes outlive connections (queued messages wait for a reconnect).
    persistent: bool,
    next_ivl: Duration,
    /// disconnect() or socket close: do not reconnect.
    stopped: bool,
}

struct Conn {
    gen: u32,
    sock: Arc<SocketShared>,
    opts: Arc<SockOpts>,
    endpoint: String,
    connect: Option<ConnectInfo>,
    fd: Option<OwnedFd>,
    raw: RawFd,
    phase: Phase,
    /// A Close was requested; waiting for the driver's Closed.
    closing: bool,
    peer_id: u64,
    out: Option<pipe::Reader>,
    inn: Option<pipe::Writer>,
    decoder: Decoder,
    /// Control frames (greeting, READY, PONG, ...) waiting to go out at a message boundary.
    ctrl: Vec<u8>,
    /// Control bytes referenced by the send in flight, and how many of them were sent.
    ctrl_inflight: Vec<u8>,
    ctrl_off: usize,
    /// A send is in flight: (ctrl bytes in it, pipe bytes in it, pipe data was truncated,
    /// committed-message snapshot taken before it).
    sending: Option<(usize, usize, bool, u64)>,
    iov: IoVecs,
    /// Outbound stream position inside a frame: bytes left of the current frame, and whether
    /// the message continues after it (tracked only across partial sends).
    out_frame_left: u64,
    out_in_msg: bool,
    /// Inbound: MORE flag of the frame being streamed; messages marked but not committed.
    in_more: bool,
    in_msgs: u64,
    /// The inbound pipe reached RCVHWM: new bytes wait in `stash[stash_off..]`; receiving
    /// stops only once the stash exceeds STASH_LIMIT (so a reader hovering around the mark
    /// does not cause a stop/re-arm per receive buffer).
    paused: bool,
    stash: Vec<u8>,
    stash_off: usize,
    recv_stopped: bool,
    /// The peer closed while we were paused: finish delivering the stash first.
    eof: Option<String>,
    /// Close once the pending control frames (an ERROR command) are sent.
    close_after_ctrl: Option<String>,
    hb: Option<Heartbeat>,
    hb_timer: Option<Instant>,
    /// The socket was closed: flush within the deadline (None = forever), then close.
    lingering: Option<Option<Instant>>,
    /// The peer speaks ZMTP 3.1 (subscriptions as commands) rather than 3.0 (as messages).
    v31: bool,
    /// SUB/XSUB: the subscription change (`SubSet::seq`) this connection has been told.
    subs_seq: u64,
    /// PUB/XPUB: subscriptions that arrived inside a multipart message, as legacy
    /// `[0x01|0x00][topic]` frames for the inbound pipe once the message ends.
    sub_backlog: Vec<u8>,
    /// STREAM: raw bytes instead of ZMTP, in this framing.
    stream: Option<StreamFraming>,
    /// STREAM length-prefixed framing: the length being collected, and the body bytes still
    /// to come of the message being received (`in_body`).
    lp_hdr: [u8; 4],
    lp_have: usize,
    lp_left: u64,
    lp_in_body: bool,
}

enum Ep {
    Listener(Listener),
    Conn(Box<Conn>),
}

/// Reactor state apart from the driver (so the driver can call back into it).
pub(crate) struct State {
    index: usize,
    peers: Arc<ReactorSet>,
    eps: Slab<Ep>,
    gens: Vec<u32>,
    by_peer: HashMap<u64, usize>,
    timers: BinaryHeap<Reverse<(Instant, usize, u32, TimerKind)>>,
    stopping: bool,
    events: u64,
    /// Synchronously closed sockets still owning descriptors here (see `Cmd::CloseSocket`).
    close_acks: Vec<(u64, Arc<CloseAck>)>,
}

pub(crate) struct Reactor<D: Driver> {
    pub(crate) handle: Arc<ReactorHandle>,
    driver: D,
    reqs: Vec<Req>,
    cmds: Vec<Cmd>,
    state: State,
    spin: Duration,
}

impl<D: Driver> Reactor<D> {
    pub(crate) fn new(
        handle: Arc<ReactorHandle>,
        driver: D,
        peers: Arc<ReactorSet>,
        spin: Duration,
    ) -> Self {
        Reactor {
            state: State {
                index: handle.index,
                peers,
                eps: Slab::new(),
                gens: Vec::new(),
                by_peer: HashMap::new(),
                timers: BinaryHeap::new(),
                stopping: false,
                events: 0,
                close_acks: Vec::new(),
            },
            handle,
            driver,
            reqs: Vec::new(),
            cmds: Vec::new(),
            spin,
        }
    }

    /// Run until `Cmd::Stop` and nothing lingers.
    pub(crate) fn run(mut self) {
        loop {
            match self.turn(None, &mut []) {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => log::warn!("reactor poll failed: {e}"),
            }
        }
    }

    /// One iteration: commands, I/O (waiting at most `max_wait`, or until a `watch`ed fd is
    /// ready), timers. Returns false once the reactor has stopped. Errors are the driver's
    /// (EINTR when a signal interrupted an inline wait); the turn's work is done regardless.
    pub(crate) fn turn(
        &mut self,
        max_wait: Option<Duration>,
        watch: &mut [libc::pollfd],
    ) -> std::io::Result<bool> {
        // Commands may have produced news for a socket whose thread is the one driving us
        // (inline mode): then do not block in the poll below.
        let did_work = self.process_cmds();
        if self.state.stopping && self.state.eps.is_empty() {
            return Ok(false);
        }
        let now = Instant::now();
        let mut wait = self
            .state
            .next_timer()
            .map(|t| t.saturating_duration_since(now));
        if let Some(m) = max_wait {
            wait = Some(wait.map_or(m, |w| w.min(m)));
        }
        let busy = did_work || !self.reqs.is_empty() || self.handle.has_cmds();
        if busy {
            wait = Some(Duration::ZERO);
        } else if !self.spin.is_zero() && wait != Some(Duration::ZERO) {
            // Bounded spin: poll without blocking until something happens or the spin ends.
            let until = now + self.spin.min(wait.unwrap_or(self.spin));
            loop {
                let before = self.state.events;
                let r = self.poll_once(Some(Duration::ZERO), watch);
                if self.state.events != before
                    || self.handle.has_cmds()
                    || !self.reqs.is_empty()
                    || r.is_err()
                    || watch.iter().any(|w| w.revents != 0)
                {
                    self.state.fire_timers(&mut self.reqs);
                    self.settle_close_acks();
                    return r.map(|()| true);
                }
                if Instant::now() >= until {
                    break;
                }
                std::hint::spin_loop();
            }
        }
        if wait != Some(Duration::ZERO) {
            self.handle.parker.announce();
            if self.handle.has_cmds() {
                wait = Some(Duration::ZERO);
            }
        }
        let r = self.poll_once(wait, watch);
        self.handle.parker.clear();
        self.state.fire_timers(&mut self.reqs);
        self.settle_close_acks();
        r.map(|()| true)
    }

    fn settle_close_acks(&mut self) {
        if self.state.settle_close_acks() {
            self.handle
                .acked
                .store(true, std::sync::atomic::Ordering::Release);
        }
    }

    /// Inline mode: one turn without the bounded spin (the caller spins around it).
    pub(crate) fn turn_inline(
        &mut self,
        max_wait: Option<Duration>,
        watch: &mut [libc::pollfd],
    ) -> std::io::Result<bool> {
        let spin = std::mem::take(&mut self.spin);
        let r = self.turn(max_wait, watch);
        self.spin = spin;
        r
    }

    /// The wait that watched fds is over (see `Driver::unwatch`).
    pub(crate) fn unwatch(&mut self) {
        self.driver.unwatch();
    }

    fn poll_once(
        &mut self,
        wait: Option<Duration>,
        watch: &mut [libc::pollfd],
    ) -> std::io::Result<()> {
        let state = &mut self.state;
        self.driver.poll(&mut self.reqs, wait, watch, |ev, reqs| {
            state.on_event(ev, reqs)
        })
    }

    /// Returns true if there were any.
    fn process_cmds(&mut self) -> bool {
        if !self.handle.has_cmds() {
            return false;
        }
        self.handle.take_cmds(&mut self.cmds);
        let any = !self.cmds.is_empty();
        for cmd in self.cmds.drain(..) {
            self.state.on_cmd(cmd, &mut self.reqs);
        }
        any
    }
}

impl State {
    /// Acknowledge the synchronous closes whose sockets own no endpoint here any more (their
    /// descriptors are closed: endpoints are removed only after the driver's `Closed`).
    /// Returns whether any was acknowledged.
    fn settle_close_acks(&mut self) -> bool {
        if self.close_acks.is_empty() {
            return false;
        }
        let eps = &self.eps;
        let before = self.close_acks.len();
        self.close_acks.retain(|(id, ack)| {
            let owns = eps.iter().any(|(_, e)| match e {
                Ep::Listener(l) => l.sock.id == *id,
                Ep::Conn(c) => c.sock.id == *id,
            });
            if !owns {
                ack.done_one();
            }
            owns
        });
        self.close_acks.len() != before
    }

    fn next_timer(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, ..))| *t)
    }

    fn timer(&mut self, at: Instant, slot: usize, gen: u32, kind: TimerKind) {
        self.timers.push(Reverse((at, slot, gen, kind)));
    }

    fn new_gen(&mut self, slot: usize) -> u32 {
        if self.gens.len() <= slot {
            self.gens.resize(slot + 1, 0);
        }
        self.gens[slot] = self.gens[slot].wrapping_add(1) & 0xFF_FFFF;
        self.gens[slot]
    }

    fn conn(&mut self, key: Key) -> Option<&mut Conn> {
        match self.eps.get_mut(key.slot()) {
            Some(Ep::Conn(c)) if Key::new(key.slot(), c.gen) == key => Some(c),
            _ => None,
        }
    }

    fn on_cmd(&mut self, cmd: Cmd, reqs: &mut Vec<Req>) {
        match cmd {
            Cmd::Listen {
                sock,
                opts,
                fd,
                endpoint,
                ipc_path,
            } => {
                let entry = self.eps.vacant_entry();
                let slot = entry.key();
                let raw = fd.as_raw_fd();
                if self.gens.len() <= slot {
                    self.gens.resize(slot + 1, 0);
                }
                self.gens[slot] = self.gens[slot].wrapping_add(1) & 0xFF_FFFF;
                let gen = self.gens[slot];
                sock.event(MonitorEventKind::Listening, &endpoint, None);
                entry.insert(Ep::Listener(Listener {
                    gen,
                    sock,
                    opts,
                    fd: Some(fd),
                    endpoint,
                    ipc_path,
                }));
                reqs.push(Req::Listen {
                    key: Key::new(slot, gen),
                    fd: raw,
                });
            }
            Cmd::Connect {
                sock,
                opts,
                target,
                endpoint,
                alias,
                pipes,
            } => {
                let persistent = pipes.is_some();
                let (peer_id, out, inn) = match pipes {
                    Some((id, r, w)) => (id, Some(r), Some(w)),
                    None => (0, None, None),
                };
                let ivl = opts.reconnect_ivl.unwrap_or(Duration::from_millis(100));
                let slot = self.add_conn(sock, opts, endpoint, None, peer_id, out, inn);
                if let Some(Ep::Conn(c)) = self.eps.get_mut(slot) {
                    c.connect = Some(ConnectInfo {
                        target,
                        addr: None,
                        resolving: false,
                        alias,
                        persistent,
                        next_ivl: ivl,
                        stopped: false,
                    });
                }
                self.start_connect(slot, reqs);
            }
            Cmd::Adopt {
                sock,
                opts,
                fd,
                endpoint,
            } => {
                self.adopt(sock, opts, fd, endpoint, reqs);
            }
            Cmd::Resolved { slot, gen, result } => self.resolved(slot, gen, result, reqs),
            Cmd::Flush(peer) => {
                if let Some(&slot) = self.by_peer.get(&peer) {
                    self.flush(slot, reqs);
                }
            }
            Cmd::Resume(peer) => {
                if let Some(&slot) = self.by_peer.get(&peer) {
                    self.resume(slot, reqs);
                }
            }
            Cmd::Reject(peer) => {
                if let Some(&slot) = self.by_peer.get(&peer) {
                    if let Some(Ep::Conn(c)) = self.eps.get_mut(slot) {
                        if let Some(ci) = c.connect.as_mut() {
                            ci.stopped = true;
                        }
                    }
                    self.disconnect(slot, "rejected by the socket", reqs);
                }
            }
            Cmd::Unbind { sock, endpoint } => {
                let slots: Vec<usize> = self
                    .eps
                    .iter()
                    .filter_map(|(k, e)| match e {
                        Ep::Listener(l) if l.sock.id == sock && l.endpoint == endpoint => Some(k),
                        _ => None,
                    })
                    .collect();
                for s in slots {
                    self.close_listener(s, reqs);
                }
            }
            Cmd::Disconnect { sock, endpoint } => {
                let slots: Vec<usize> = self
                    .eps
                    .iter()
                    .filter_map(|(k, e)| match e {
                        Ep::Conn(c)
                            if c.sock.id == sock
                                && c.connect.is_some()
                                && c.endpoint == endpoint =>
                        {
                            Some(k)
                        }
                        _ => None,
                    })
                    .collect();
                for s in slots {
                    if let Some(Ep::Conn(c)) = self.eps.get_mut(s) {
                        if let Some(ci) = c.connect.as_mut() {
                            ci.stopped = true;
                        }
                    }
                    self.disconnect(s, "disconnected by the application", reqs);
                }
            }
            Cmd::Subscribe {
                sock,
                seq,
                topic,
                on,
            } => {
                let slots: Vec<usize> = self
                    .eps
                    .iter_mut()
                    .filter_map(|(k, e)| match e {
                        Ep::Conn(c)
                            if c.sock.id == sock
                                && matches!(c.phase, Phase::Active)
                                && c.subs_seq < seq =>
                        {
                            encode_subscription(&mut c.ctrl, on, &topic, c.v31);
                            c.subs_seq = seq;
                            Some(k)
                        }
                        _ => None,
                    })
                    .collect();
                for s in slots {
                    self.flush(s, reqs);
                }
            }
            Cmd::CloseSocket { sock, linger, ack } => {
                self.close_socket(sock, linger, reqs);
                if let Some(a) = ack {
                    self.close_acks.push((sock, a));
                }
            }
            Cmd::Stop => self.stopping = true,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn add_conn(
        &mut self,
        sock: Arc<SocketShared>,
        opts: Arc<SockOpts>,
        endpoint: String,
        fd: Option<OwnedFd>,
        peer_id: u64,
        out: Option<pipe::Reader>,
        inn: Option<pipe::Writer>,
    ) -> usize {
        let slot = self.eps.vacant_key();
        let gen = self.new_gen(slot);
        let raw = fd.as_ref().map_or(-1, |f| f.as_raw_fd());
        let max = opts.max_msg_size;
        self.eps.insert(Ep::Conn(Box::new(Conn {
            gen,
            sock,
            opts,
            endpoint,
            connect: None,
            fd,
            raw,
            phase: Phase::Connecting,
            closing: false,
            peer_id,
            out,
            inn,
            decoder: Decoder::new(max),
            ctrl: Vec::new(),
            ctrl_inflight: Vec::new(),
            ctrl_off: 0,
            sending: None,
            iov: IoVecs(Vec::with_capacity(8)),
            out_frame_left: 0,
            out_in_msg: false,
            in_more: false,
            in_msgs: 0,
            paused: false,
            stash: Vec::new(),
            stash_off: 0,
            recv_stopped: false,
            eof: None,
            close_after_ctrl: None,
            hb: None,
            hb_timer: None,
            lingering: None,
            v31: true,
            subs_seq: 0,
            sub_backlog: Vec::new(),
            stream: None,
            lp_hdr: [0; 4],
            lp_have: 0,
            lp_left: 0,
            lp_in_body: false,
        })));
        if peer_id != 0 {
            self.by_peer.insert(peer_id, slot);
        }
        slot
    }

    fn adopt(
        &mut self,
        sock: Arc<SocketShared>,
        opts: Arc<SockOpts>,
        fd: OwnedFd,
        endpoint: String,
        reqs: &mut Vec<Req>,
    ) {
        let family = sys::local_addr(fd.as_raw_fd())
            .map(|a| a.family())
            .unwrap_or(libc::AF_INET);
        if let Err(e) = sys::tune_stream(fd.as_raw_fd(), family, opts.sndbuf, opts.rcvbuf) {
            log::warn!("tuning accepted socket failed: {e}");
        }
        let slot = self.add_conn(sock, opts, endpoint, Some(fd), 0, None, None);
        self.start_handshake(slot, reqs);
    }

    /// Start a connection attempt: resolve the host name first (on a thread of its own, so a
    /// slow DNS answer stalls no other connection), then connect.
    fn start_connect(&mut self, slot: usize, reqs: &mut Vec<Req>) {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return;
        };
        let gen = c.gen;
        let Some(ci) = c.connect.as_mut() else { return };
        match &ci.target {
            crate::transport::Target::Addr(a) => {
                ci.addr = Some(a.clone());
                self.connect_addr(slot, reqs);
            }
            crate::transport::Target::Host { .. } => {
                if ci.resolving {
                    return;
                }
                ci.resolving = true;
                let target = ci.target.clone();
                let handle = self.peers.handles[self.index].clone();
                let spawned = sys::with_signals_blocked(|| {
                    std::thread::Builder::new()
                        .name("ringlink-resolve".into())
                        .spawn(move || {
                            let result = target.resolve().map_err(|e| e.to_string());
                            handle.send(Cmd::Resolved { slot, gen, result });
                        })
                });
                if let Err(e) = spawned {
                    ci.resolving = false;
                    log::warn!("cannot start a resolver thread: {e}");
                    self.retry_connect(slot);
                }
            }
        }
    }

    /// A resolver thread answered for connection `slot`.
    fn resolved(
        &mut self,
        slot: usize,
        gen: u32,
        result: std::result::Result<SockAddr, String>,
        reqs: &mut Vec<Req>,
    ) {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return;
        };
        if c.gen != gen || c.closing {
            return;
        }
        let Some(ci) = c.connect.as_mut() else { return };
        ci.resolving = false;
        if ci.stopped {
            return;
        }
        match result {
            Ok(addr) => {
                ci.addr = Some(addr);
                self.connect_addr(slot, reqs);
            }
            Err(e) => {
                log::warn!("{}: {e}", c.endpoint);
                self.retry_connect(slot);
            }
        }
    }

    /// Schedule the next attempt of a connection that never got a descriptor (its name did
    /// not resolve), as after a refused connection.
    fn retry_connect(&mut self, slot: usize) {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return;
        };
        let gen = c.gen;
        let Some(ci) = c.connect.as_mut() else { return };
        let base = c.opts.reconnect_ivl.unwrap_or(Duration::from_millis(100));
        let wait = ci.next_ivl + jitter(base);
        if let Some(max) = c.opts.reconnect_ivl_max {
            ci.next_ivl = (ci.next_ivl * 2).min(max.max(base));
        }
        c.sock
            .event(MonitorEventKind::ConnectRetried(wait), &c.endpoint, None);
        self.timer(Instant::now() + wait, slot, gen, TimerKind::Reconnect);
    }

    /// Open a socket and connect it to the attempt's address.
    fn connect_addr(&mut self, slot: usize, reqs: &mut Vec<Req>) {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return;
        };
        let Some(ci) = c.connect.as_ref() else { return };
        let Some(addr) = ci.addr.clone() else { return };
        let key = Key::new(slot, c.gen);
        match sys::stream_socket(addr.family()) {
            Ok(fd) => {
                if let Err(e) =
                    sys::tune_stream(fd.as_raw_fd(), addr.family(), c.opts.sndbuf, c.opts.rcvbuf)
                {
                    log::warn!("tuning socket failed: {e}");
                }
                c.raw = fd.as_raw_fd();
                c.fd = Some(fd);
                c.phase = Phase::Connecting;
                c.sock
                    .event(MonitorEventKind::ConnectDelayed, &c.endpoint, None);
                reqs.push(Req::Connect {
                    key,
                    fd: c.raw,
                    addr,
                });
            }
            Err(e) => {
                log::warn!("socket() failed: {e}");
                let gen = c.gen;
                let at = Instant::now() + ci.next_ivl;
                self.timer(at, slot, gen, TimerKind::Reconnect);
            }
        }
    }

    fn start_handshake(&mut self, slot: usize, reqs: &mut Vec<Req>) {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return;
        };
        if c.sock.ty == SocketType::Stream {
            // Raw TCP: no greeting, the connection is usable at once.
            c.stream = Some(c.opts.stream_framing);
            c.lp_have = 0;
            c.lp_left = 0;
            c.lp_in_body = false;
            reqs.push(Req::StartRecv {
                key: Key::new(slot, c.gen),
                fd: c.raw,
            });
            let info = PeerInfo {
                socket_type: SocketType::Stream,
                identity: Vec::new(),
                metadata: Default::default(),
                v31: true,
            };
            self.established(slot, info, reqs);
            return;
        }
        let mut hs = Box::new(Handshake::new(HandshakeConfig {
            socket_type: c.sock.ty,
            identity: c.opts.routing_id.clone(),
        }));
        c.ctrl.extend_from_slice(&hs.take_output());
        c.phase = Phase::Handshake(hs);
        let key = Key::new(slot, c.gen);
        reqs.push(Req::StartRecv { key, fd: c.raw });
        if let Some(ivl) = c.opts.handshake_ivl {
            let gen = c.gen;
            self.timer(Instant::now() + ivl, slot, gen, TimerKind::Handshake);
        }
        self.flush(slot, reqs);
    }

    fn on_event(&mut self, ev: Event<'_>, reqs: &mut Vec<Req>) {
        self.events += 1;
        match ev {
            Event::Accepted { key, fd } => {
                let Some(Ep::Listener(l)) = self.eps.get(key.slot()) else {
                    return;
                };
                if Key::new(key.slot(), l.gen) != key {
                    return;
                }
                let (sock, opts, endpoint) = (l.sock.clone(), l.opts.clone(), l.endpoint.clone());
                sock.event(MonitorEventKind::Accepted, &endpoint, None);
                let target = self.peers.pick();
                if target == self.index {
                    self.adopt(sock, opts, fd, endpoint, reqs);
                } else {
                    self.peers.handles[target].send(Cmd::Adopt {
                        sock,
                        opts,
                        fd,
                        endpoint,
                    });
                }
            }
            Event::AcceptFailed { key, err } => {
                if let Some(Ep::Listener(l)) = self.eps.get(key.slot()) {
                    log::warn!("accept on {} failed: {err}", l.endpoint);
                    let errno = err.raw_os_error().unwrap_or(libc::EIO);
                    l.sock
                        .event(MonitorEventKind::AcceptFailed(errno), &l.endpoint, None);
                }
            }
            Event::Connected { key, result } => {
                let slot = key.slot();
                let Some(c) = self.conn(key) else { return };
                match result {
                    Ok(()) => {
                        c.sock.event(MonitorEventKind::Connected, &c.endpoint, None);
                        self.start_handshake(slot, reqs)
                    }
                    Err(e) => {
                        log::warn!("connect to {} failed: {e}", c.endpoint);
                        self.disconnect(slot, "connect failed", reqs);
                    }
                }
            }
            Event::Received { key, data } => {
                if self.conn(key).is_some() {
                    self.on_data(key.slot(), data, reqs);
                }
            }
            Event::RecvClosed { key, err } => {
                if let Some(c) = self.conn(key) {
                    let why = match err {
                        None => "peer closed the connection".to_string(),
                        Some(e) => format!("receive failed: {e}"),
                    };
                    if c.paused {
                        // Messages still sit in the stash: deliver them before closing.
                        c.eof = Some(why);
                        return;
                    }
                    if matches!(c.phase, Phase::Handshake(_)) {
                        // libzmq reports a handshake cut short by the transport too.
                        c.sock.event(
                            MonitorEventKind::HandshakeFailedNoDetail(why.clone()),
                            &c.endpoint,
                            None,
                        );
                    }
                    self.disconnect(key.slot(), &why, reqs);
                }
            }
            Event::Sent { key, result } => {
                if self.conn(key).is_some() {
                    self.on_sent(key.slot(), result, reqs);
                }
            }
            Event::Closed { key } => self.on_closed(key, reqs),
        }
    }

    fn on_data(&mut self, slot: usize, data: &[u8], reqs: &mut Vec<Req>) {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return;
        };
        if c.closing {
            return;
        }
        if c.close_after_ctrl.is_some() {
            return;
        }
        if c.paused {
            // Drop the bytes already fed (once they are at least half the stash, so the copy
            // is amortised): a stash that is resumed piece by piece but never emptied while
            // the peer keeps sending would otherwise grow for as long as that lasts (found by
            // `ringlink-bench soak`: receiver RSS rising in steps of the Vec's doubling).
            if c.stash_off > 0 && c.stash_off >= c.stash.len() / 2 {
                c.stash.drain(..c.stash_off);
                c.stash_off = 0;
            }
            c.stash.extend_from_slice(data);
            if !c.recv_stopped && c.stash.len() - c.stash_off > STASH_LIMIT {
                c.recv_stopped = true;
                reqs.push(Req::StopRecv {
                    key: Key::new(slot, c.gen),
                });
            }
            return;
        }
        if let Some(hb) = c.hb.as_mut() {
            hb.on_traffic(Instant::now());
        }
        if c.stream.is_some() {
            if let Err(e) = self.decode_stream(slot, data) {
                self.disconnect(slot, &e.to_string(), reqs);
            }
            return;
        }
        let mut rest = data;
        if let Phase::Handshake(hs) = &mut c.phase {
            match hs.feed(rest) {
                Ok((n, status)) => {
                    c.ctrl.extend_from_slice(&hs.take_output());
                    rest = &rest[n..];
                    if let HandshakeStatus::Done(info) = status {
                        self.established(slot, info, reqs);
                    } else {
                        self.flush(slot, reqs);
                        return;
                    }
                }
                Err(e) => {
                    // Send the ERROR command if the handshake produced one, then close.
                    c.ctrl.extend_from_slice(&hs.take_output());
                    let why = format!("handshake failed: {e}");
                    c.sock.event(
                        MonitorEventKind::HandshakeFailedProtocol(e.to_string()),
                        &c.endpoint,
                        None,
                    );
                    if c.ctrl.is_empty() {
                        self.disconnect(slot, &why, reqs);
                        return;
                    }
                    c.close_after_ctrl = Some(why);
                    let (key, gen) = (Key::new(slot, c.gen), c.gen);
                    reqs.push(Req::StopRecv { key });
                    self.timer(
                        Instant::now() + Duration::from_millis(100),
                        slot,
                        gen,
                        TimerKind::CloseSoon,
                    );
                    self.flush(slot, reqs);
                    return;
                }
            }
        }
        if !rest.is_empty() {
            if let Err(e) = self.decode(slot, rest, reqs) {
                self.disconnect(slot, &e.to_string(), reqs);
            }
        }
    }

    /// Decode data-phase bytes into the inbound pipe.
    fn decode(&mut self, slot: usize, data: &[u8], reqs: &mut Vec<Req>) -> Result<(), Fault> {
        let r = self.decode_into_pipe(slot, data, reqs);
        // Whole messages that arrived before a violation are delivered (as libzmq does):
        // what a read returns must not depend on how TCP split the bytes.
        if let Some(Ep::Conn(c)) = self.eps.get_mut(slot) {
            if c.in_msgs > 0 {
                let msgs = std::mem::take(&mut c.in_msgs);
                if let Some(inn) = c.inn.as_mut() {
                    if inn.commit_marked(msgs) {
                        c.sock.notify_ready(c.peer_id);
                    }
                    if inn.is_full() && inn.wait_for_space() {
                        c.paused = true;
                    }
                }
            }
        }
        r
    }

    fn decode_into_pipe(
        &mut self,
        slot: usize,
        data: &[u8],
        reqs: &mut Vec<Req>,
    ) -> Result<(), Fault> {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return Ok(());
        };
        let c = &mut **c;
        let mut rest = data;
        let mut pong = false;
        loop {
            let (n, item) = c.decoder.decode(rest)?;
            match item {
                None => {
                    if n == 0 {
                        break;
                    }
                }
                Some(Decoded::Data {
                    bytes,
                    messages,
                    complete,
                    ..
                }) => {
                    if let Some(inn) = c.inn.as_mut() {
                        if complete > 0 {
                            inn.append(complete).copy_from_slice(&bytes[..complete]);
                            inn.mark();
                            c.in_msgs += messages as u64;
                        }
                        if complete < bytes.len() {
                            inn.append(bytes.len() - complete)
                                .copy_from_slice(&bytes[complete..]);
                        }
                    }
                }
                Some(Decoded::FrameStart {
                    header,
                    header_len,
                    more,
                    body_len,
                }) => {
                    c.in_more = more;
                    if let Some(inn) = c.inn.as_mut() {
                        // A frame larger than this machine's memory can never be held.
                        let total = usize::try_from(body_len)
                            .ok()
                            .filter(|_| body_len <= sys::physical_memory())
                            .and_then(|b| b.checked_add(header_len))
                            .ok_or(Fault::NoMemory(
                                usize::try_from(body_len).unwrap_or(usize::MAX),
                            ))?;
                        inn.begin_fill(total)?;
                        inn.fill(&header[..header_len])?;
                    }
                }
                Some(Decoded::Body { bytes, last }) => {
                    if let Some(inn) = c.inn.as_mut() {
                        inn.fill(bytes)?;
                        if last && !c.in_more {
                            inn.mark();
                            c.in_msgs += 1;
                        }
                    }
                }
                Some(Decoded::Command(cmd)) => match cmd {
                    Command::Ping { ttl_ds, context } => {
                        let now = Instant::now();
                        let reply = match c.hb.as_mut() {
                            Some(hb) => hb.on_ping(ttl_ds, &context, now),
                            None => Command::Pong(context.into_iter().take(16).collect()),
                        };
                        reply.encode(&mut c.ctrl);
                        pong = true;
                    }
                    Command::Pong(_) | Command::Unknown { .. } => {}
                    Command::Subscribe(topic) if publishes(c.sock.ty) => {
                        legacy_sub(&mut c.sub_backlog, true, &topic);
                    }
                    Command::Cancel(topic) if publishes(c.sock.ty) => {
                        legacy_sub(&mut c.sub_backlog, false, &topic);
                    }
                    Command::Subscribe(_) | Command::Cancel(_) => {}
                    Command::Error(reason) => return Err(ProtocolError::PeerError(reason).into()),
                    Command::Ready(_) => {
                        return Err(ProtocolError::UnexpectedCommand(b"READY".to_vec()).into())
                    }
                },
            }
            rest = &rest[n..];
            if !c.sub_backlog.is_empty() && c.decoder.at_message_boundary() {
                if let Some(inn) = c.inn.as_mut() {
                    let n = frames_in(&c.sub_backlog);
                    inn.append(c.sub_backlog.len())
                        .copy_from_slice(&c.sub_backlog);
                    inn.mark();
                    c.in_msgs += n;
                }
                c.sub_backlog.clear();
            }
        }
        if let Some(at) = c.hb.as_ref().and_then(|h| h.next_deadline()) {
            if c.hb_timer.is_none_or(|t| at < t) {
                c.hb_timer = Some(at);
                let gen = c.gen;
                self.timer(at, slot, gen, TimerKind::Heartbeat);
            }
        }
        if pong {
            self.flush(slot, reqs);
        }
        Ok(())
    }

    /// STREAM: turn received bytes into messages for the inbound pipe. Raw framing: each
    /// receive is one message; length-prefixed: `[u32 BE length][payload]` messages, checked
    /// against MAXMSGSIZE.
    fn decode_stream(&mut self, slot: usize, data: &[u8]) -> Result<(), Fault> {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return Ok(());
        };
        let c = &mut **c;
        let Some(inn) = c.inn.as_mut() else {
            return Ok(());
        };
        let mut hdr = [0u8; frame::MAX_HEADER];
        match c.stream {
            Some(StreamFraming::LengthPrefixed) => {
                let mut rest = data;
                while !rest.is_empty() {
                    if !c.lp_in_body {
                        let k = (4 - c.lp_have).min(rest.len());
                        c.lp_hdr[c.lp_have..c.lp_have + k].copy_from_slice(&rest[..k]);
                        c.lp_have += k;
                        rest = &rest[k..];
                        if c.lp_have < 4 {
                            break;
                        }
                        c.lp_have = 0;
                        let len = u64::from(u32::from_be_bytes(c.lp_hdr));
                        if let Some(max) = c.opts.max_msg_size {
                            if len > max {
                                return Err(ProtocolError::FrameTooLarge { size: len, max }.into());
                            }
                        }
                        if len > sys::physical_memory() {
                            return Err(Fault::NoMemory(len as usize));
                        }
                        let hl = frame::encode_header(&mut hdr, false, false, len);
                        inn.begin_fill(hl + len as usize)?;
                        inn.fill(&hdr[..hl])?;
                        c.lp_left = len;
                        c.lp_in_body = true;
                    }
                    let k = usize::try_from(c.lp_left)
                        .unwrap_or(usize::MAX)
                        .min(rest.len());
                    inn.fill(&rest[..k])?;
                    rest = &rest[k..];
                    c.lp_left -= k as u64;
                    if c.lp_left == 0 {
                        c.lp_in_body = false;
                        inn.mark();
                        c.in_msgs += 1;
                    }
                }
            }
            _ => {
                // Raw bytes have no message boundaries: MAXMSGSIZE caps each delivered piece
                // (0 allows no data at all).
                let piece = match c.opts.max_msg_size {
                    Some(0) if !data.is_empty() => {
                        return Err(ProtocolError::FrameTooLarge {
                            size: data.len() as u64,
                            max: 0,
                        }
                        .into())
                    }
                    Some(max) => usize::try_from(max).unwrap_or(usize::MAX),
                    None => usize::MAX,
                };
                for part in data.chunks(piece.max(1)) {
                    let hl = frame::encode_header(&mut hdr, false, false, part.len() as u64);
                    inn.write_frame(&hdr[..hl], part);
                    inn.mark();
                    c.in_msgs += 1;
                }
            }
        }
        if c.in_msgs > 0 {
            let msgs = std::mem::take(&mut c.in_msgs);
            if inn.commit_marked(msgs) {
                c.sock.notify_ready(c.peer_id);
            }
            if inn.is_full() && inn.wait_for_space() {
                c.paused = true;
            }
        }
        Ok(())
    }

    fn resume(&mut self, slot: usize, reqs: &mut Vec<Req>) {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return;
        };
        if !c.paused || c.closing {
            return;
        }
        // The reader hands back credit in batches (a quarter of RCVHWM) and wakes us with
        // each: resume only once the pipe is below RCVHWM, else wait for more credit. Feeding
        // a 64 KiB piece on every wake-up let the pipe grow by a piece minus a credit batch
        // per wake-up, without bound while the application read slower than the peer sent
        // (found by `ringlink-bench soak`: 450,000 messages queued at RCVHWM 1000).
        if let Some(inn) = c.inn.as_mut() {
            if inn.is_full() && inn.wait_for_space() {
                return;
            }
        }
        c.paused = false;
        let mut stash = std::mem::take(&mut c.stash);
        let mut off = c.stash_off;
        // Feed the stash in receive-buffer sized pieces so pausing stays fine grained.
        while off < stash.len() {
            let end = (off + 64 * 1024).min(stash.len());
            self.on_data(slot, &stash[off..end], reqs);
            off = end;
            let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
                return;
            };
            if c.closing {
                return;
            }
            if c.paused {
                // Full again: keep the rest (no new bytes were stashed meanwhile: only we
                // call on_data here).
                c.stash = stash;
                c.stash_off = off;
                return;
            }
        }
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return;
        };
        stash.clear();
        c.stash = stash;
        c.stash_off = 0;
        if let Some(why) = c.eof.take() {
            self.disconnect(slot, &why, reqs);
            return;
        }
        if c.recv_stopped {
            c.recv_stopped = false;
            reqs.push(Req::StartRecv {
                key: Key::new(slot, c.gen),
                fd: c.raw,
            });
        }
    }

    /// The handshake completed: wire the connection to its socket.
    fn established(&mut self, slot: usize, info: PeerInfo, reqs: &mut Vec<Req>) {
        let reactor = self.index;
        let peers = self.peers.clone();
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return;
        };
        c.phase = Phase::Active;
        c.v31 = info.v31;
        if matches!(c.sock.ty, SocketType::Sub | SocketType::XSub) {
            // Every (re)connection starts with the whole subscription set.
            let subs = c.sock.subs.lock().unwrap();
            for topic in subs.topics.keys() {
                encode_subscription(&mut c.ctrl, true, topic, c.v31);
            }
            c.subs_seq = subs.seq;
        }
        if let Some(ci) = c.connect.as_mut() {
            ci.next_ivl = c.opts.reconnect_ivl.unwrap_or(Duration::from_millis(100));
        }
        if c.stream.is_none() && (c.opts.heartbeat_ivl.is_some() || c.opts.heartbeat_ttl.is_some())
        {
            let now = Instant::now();
            let hb = Heartbeat::new(
                c.opts.heartbeat_ivl,
                c.opts.heartbeat_ttl,
                c.opts.heartbeat_timeout,
                now,
            );
            if let Some(at) = hb.next_deadline() {
                c.hb_timer = Some(at);
                let gen = c.gen;
                self.timers
                    .push(Reverse((at, slot, gen, TimerKind::Heartbeat)));
            }
            c.hb = Some(hb);
        }
        let persistent = c.connect.as_ref().is_some_and(|ci| ci.persistent);
        if !persistent {
            let id = peers.peer_id();
            let (out_w, out_r) = pipe::pipe(c.opts.sndhwm);
            let (in_w, in_r) = pipe::pipe(c.opts.rcvhwm);
            c.peer_id = id;
            c.out = Some(out_r);
            c.inn = Some(in_w);
            let alias = c.connect.as_ref().and_then(|ci| ci.alias.clone());
            let remote = match sys::peer_addr(c.raw).ok().and_then(|a| a.to_inet()) {
                Some(a) => crate::transport::endpoint_string(&sys::SockAddr::from_inet(a), None),
                None => c.endpoint.clone(),
            };
            c.sock.attach(NewPeer {
                remote,
                id,
                out: out_w,
                inn: in_r,
                identity: info.identity.clone(),
                alias,
                link: super::shared::Link::Reactor(reactor),
            });
            self.by_peer.insert(id, slot);
        }
        let peer_id = c
            .connect
            .as_ref()
            .and_then(|ci| ci.alias.clone())
            .unwrap_or_else(|| info.identity.clone());
        c.sock.event(
            MonitorEventKind::HandshakeSucceeded,
            &c.endpoint,
            Some(&peer_id),
        );
        self.flush(slot, reqs);
    }

    /// Send pending control frames and committed pipe data, unless a send is in flight.
    fn flush(&mut self, slot: usize, reqs: &mut Vec<Req>) {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return;
        };
        let c = &mut **c;
        if c.sending.is_some() || c.closing || c.fd.is_none() {
            return;
        }
        loop {
            c.iov.0.clear();
            let mut ctrl_len = 0;
            if c.ctrl_off == c.ctrl_inflight.len()
                && !c.ctrl.is_empty()
                && c.out_frame_left == 0
                && !c.out_in_msg
            {
                c.ctrl_inflight.clear();
                c.ctrl_off = 0;
                std::mem::swap(&mut c.ctrl, &mut c.ctrl_inflight);
            }
            if c.ctrl_off < c.ctrl_inflight.len() {
                ctrl_len = c.ctrl_inflight.len() - c.ctrl_off;
                c.iov.0.push(libc::iovec {
                    iov_base: c.ctrl_inflight[c.ctrl_off..].as_ptr() as *mut libc::c_void,
                    iov_len: ctrl_len,
                });
            }
            let mut data_len = 0;
            let mut truncated = false;
            let mut snapshot = 0;
            if matches!(c.phase, Phase::Active) {
                if let Some(out) = c.out.as_mut() {
                    snapshot = out.msgs_committed();
                    data_len = out.peek_iov(&mut c.iov.0, MAX_SEND, MAX_IOV);
                    truncated = data_len == MAX_SEND || c.iov.0.len() == MAX_IOV;
                }
            }
            if ctrl_len + data_len > 0 {
                c.sending = Some((ctrl_len, data_len, truncated, snapshot));
                reqs.push(Req::Send {
                    key: Key::new(slot, c.gen),
                    fd: c.raw,
                    iov: c.iov.0.as_ptr(),
                    iovcnt: c.iov.0.len(),
                });
                return;
            }
            // Nothing to send: stop looking at the pipe unless data raced in.
            let Some(out) = c.out.as_mut() else { break };
            if !matches!(c.phase, Phase::Active) {
                break;
            }
            // Everything committed up to `snapshot` has left: make sure it is credited. A
            // send that ended exactly at MAX_SEND / MAX_IOV was counted as truncated and did
            // not credit; without this, a writer blocked at the HWM would wait forever.
            if out.credit_to(snapshot) {
                c.sock.notify_ready(c.peer_id);
            }
            if out.is_finished() {
                // The socket closed the pipe and everything was sent: done lingering (or,
                // STREAM, the application closed this connection).
                if c.lingering.is_some() || c.stream.is_some() {
                    self.disconnect(slot, "socket closed", reqs);
                }
                return;
            }
            if !out.deactivate() {
                break;
            }
        }
    }

    fn on_sent(&mut self, slot: usize, result: std::io::Result<usize>, reqs: &mut Vec<Req>) {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return;
        };
        let c = &mut **c;
        let Some((ctrl_len, data_len, truncated, snapshot)) = c.sending.take() else {
            return;
        };
        let n = match result {
            Ok(n) => n,
            Err(e) => {
                let why = format!("send failed: {e}");
                self.disconnect(slot, &why, reqs);
                return;
            }
        };
        let k = n.min(ctrl_len);
        c.ctrl_off += k;
        let sent = n - k;
        if c.stream.is_some() {
            // Raw bytes carry no frame structure to track.
            if let Some(out) = c.out.as_mut() {
                out.consume(sent);
                if sent == data_len && !truncated && out.credit_to(snapshot) {
                    c.sock.notify_ready(c.peer_id);
                }
            }
            self.flush(slot, reqs);
            return;
        }
        if c.close_after_ctrl.is_some() && c.ctrl_off == c.ctrl_inflight.len() && c.ctrl.is_empty()
        {
            let why = c.close_after_ctrl.take().unwrap_or_default();
            self.disconnect(slot, &why, reqs);
            return;
        }
        if let Some(out) = c.out.as_mut() {
            if sent == data_len && !truncated && c.out_frame_left == 0 && !c.out_in_msg {
                // Everything committed at `snapshot` went out: at a message boundary.
                out.consume(sent);
                if out.credit_to(snapshot) {
                    c.sock.notify_ready(c.peer_id);
                }
            } else if sent > 0 {
                // Partial send (or a truncated batch): walk frames to keep our place.
                walk_out(out, sent, &mut c.out_frame_left, &mut c.out_in_msg);
                if c.out_frame_left == 0
                    && !c.out_in_msg
                    && !truncated
                    && sent == data_len
                    && out.credit_to(snapshot)
                {
                    c.sock.notify_ready(c.peer_id);
                }
            }
        }
        self.flush(slot, reqs);
    }

    /// Tear down the current connection (the fd is closed by the driver; pipes are dealt with
    /// in `on_closed`, when no send can still reference them).
    fn disconnect(&mut self, slot: usize, why: &str, reqs: &mut Vec<Req>) {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return;
        };
        if c.closing {
            return;
        }
        let reason = classify(why, matches!(c.phase, Phase::Handshake(_)));
        // Ordinary ends are debug output; a misbehaving or failing connection a warning;
        // memory the process could not get, an error.
        let level = match reason {
            _ if why.starts_with("out of memory") => log::Level::Error,
            DisconnectReason::Remote | DisconnectReason::Local => log::Level::Debug,
            DisconnectReason::Handshake | DisconnectReason::Transport => log::Level::Warn,
        };
        log::log!(level, "{}: {why}", c.endpoint);
        if !matches!(c.phase, Phase::Connecting) {
            c.sock.event(
                MonitorEventKind::Disconnected(reason, why.to_string()),
                &c.endpoint,
                None,
            );
        }
        c.closing = true;
        let key = Key::new(slot, c.gen);
        match c.fd.take() {
            Some(fd) => reqs.push(Req::Close { key, fd }),
            None => {
                // Not connected (waiting to reconnect): handle as closed right away.
                self.on_closed(key, reqs);
            }
        }
    }

    fn on_closed(&mut self, key: Key, _reqs: &mut Vec<Req>) {
        let slot = key.slot();
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            // A listener finished closing.
            if let Some(Ep::Listener(l)) = self.eps.get(slot) {
                if Key::new(slot, l.gen) == key && l.fd.is_none() {
                    self.eps.remove(slot);
                }
            }
            return;
        };
        if Key::new(slot, c.gen) != key {
            return;
        }
        c.closing = false;
        c.sending = None;
        c.ctrl.clear();
        c.ctrl_inflight.clear();
        c.ctrl_off = 0;
        c.paused = false;
        c.stash.clear();
        c.stash_off = 0;
        c.recv_stopped = false;
        c.eof = None;
        c.close_after_ctrl = None;
        c.hb = None;
        c.hb_timer = None;
        c.phase = Phase::Connecting;
        c.decoder = Decoder::new(c.opts.max_msg_size);
        c.in_msgs = 0;
        if let Some(inn) = c.inn.as_mut() {
            inn.rollback();
        }
        // A closed socket's connection keeps reconnecting while its queued messages wait
        // (LINGER: until they are delivered or the linger period ends), as libzmq does.
        let undelivered = c
            .out
            .as_mut()
            .is_some_and(|o| !o.is_finished() || o.msgs_committed() > o.msgs_read());
        let reconnect = (c.lingering.is_none() || undelivered)
            && c.connect
                .as_ref()
                .is_some_and(|ci| !ci.stopped && c.opts.reconnect_ivl.is_some());
        let keep_pipes = reconnect && c.connect.as_ref().is_some_and(|ci| ci.persistent);
        if keep_pipes {
            // Drop the rest of a message that was cut off mid-way; the peer never saw it whole.
            if let Some(out) = c.out.as_mut() {
                skip_partial(out, &mut c.out_frame_left, &mut c.out_in_msg);
            }
        } else {
            c.out_frame_left = 0;
            c.out_in_msg = false;
            if let Some(mut inn) = c.inn.take() {
                // Always tell the socket: even an active reader must learn the peer is gone.
                inn.close();
                c.sock.notify_ready(c.peer_id);
            }
            c.out = None;
            if c.peer_id != 0 {
                self.by_peer.remove(&c.peer_id);
            }
            if let Some(Ep::Conn(c)) = self.eps.get_mut(slot) {
                if !(c.connect.as_ref().is_some_and(|ci| ci.persistent)) {
                    c.peer_id = 0;
                }
            }
        }
        if reconnect {
            let gen = self.new_gen(slot);
            let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
                return;
            };
            c.gen = gen;
            let ci = c.connect.as_mut().expect("reconnect without connect info");
            let base = c.opts.reconnect_ivl.unwrap_or(Duration::from_millis(100));
            let wait = ci.next_ivl + jitter(base);
            c.sock
                .event(MonitorEventKind::ConnectRetried(wait), &c.endpoint, None);
            if let Some(max) = c.opts.reconnect_ivl_max {
                ci.next_ivl = (ci.next_ivl * 2).min(max.max(base));
            }
            let linger_until = c.lingering.flatten();
            self.timer(Instant::now() + wait, slot, gen, TimerKind::Reconnect);
            if let Some(d) = linger_until {
                // Timers follow the generation: the linger deadline must too.
                self.timer(d, slot, gen, TimerKind::Linger);
            }
        } else {
            self.eps.remove(slot);
        }
    }

    fn close_listener(&mut self, slot: usize, reqs: &mut Vec<Req>) {
        if let Some(Ep::Listener(l)) = self.eps.get_mut(slot) {
            if let Some(fd) = l.fd.take() {
                l.sock.event(MonitorEventKind::Closed, &l.endpoint, None);
                if let Some(p) = l.ipc_path.as_deref() {
                    if !p.starts_with('@') {
                        let _ = std::fs::remove_file(p);
                    }
                }
                reqs.push(Req::Close {
                    key: Key::new(slot, l.gen),
                    fd,
                });
            }
        }
    }

    fn close_socket(&mut self, sock: u64, linger: Option<Duration>, reqs: &mut Vec<Req>) {
        let slots: Vec<usize> = self
            .eps
            .iter()
            .filter(|(_, e)| match e {
                Ep::Listener(l) => l.sock.id == sock,
                Ep::Conn(c) => c.sock.id == sock,
            })
            .map(|(k, _)| k)
            .collect();
        let deadline = linger.map(|l| Instant::now() + l);
        for slot in slots {
            match self.eps.get_mut(slot) {
                Some(Ep::Listener(_)) => self.close_listener(slot, reqs),
                Some(Ep::Conn(c)) => {
                    c.lingering = Some(deadline);
                    let pending = c
                        .out
                        .as_mut()
                        .is_some_and(|o| !o.is_finished() || o.msgs_committed() > o.msgs_read());
                    if linger == Some(Duration::ZERO) || c.out.is_none() || !pending {
                        if let Some(ci) = c.connect.as_mut() {
                            ci.stopped = true;
                        }
                        self.disconnect(slot, "socket closed", reqs);
                    } else {
                        let gen = c.gen;
                        if let Some(d) = deadline {
                            self.timer(d, slot, gen, TimerKind::Linger);
                        }
                        self.flush(slot, reqs);
                    }
                }
                None => {}
            }
        }
    }

    fn fire_timers(&mut self, reqs: &mut Vec<Req>) {
        if self.timers.is_empty() {
            return;
        }
        let now = Instant::now();
        while let Some(Reverse((at, slot, gen, kind))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
                continue;
            };
            if c.gen != gen {
                continue;
            }
            match kind {
                TimerKind::Reconnect => {
                    if matches!(c.phase, Phase::Connecting) && c.fd.is_none() && !c.closing {
                        self.start_connect(slot, reqs);
                    }
                }
                TimerKind::Handshake => {
                    if matches!(c.phase, Phase::Handshake(_)) {
                        c.sock.event(
                            MonitorEventKind::HandshakeFailedNoDetail("handshake timed out".into()),
                            &c.endpoint,
                            None,
                        );
                        self.disconnect(slot, "handshake timed out", reqs);
                    }
                }
                TimerKind::CloseSoon => {
                    if let Some(why) = c.close_after_ctrl.take() {
                        self.disconnect(slot, &why, reqs);
                    }
                }
                TimerKind::Linger => {
                    if let Some(ci) = c.connect.as_mut() {
                        ci.stopped = true;
                    }
                    self.disconnect(slot, "linger expired", reqs);
                }
                TimerKind::Heartbeat => {
                    c.hb_timer = None;
                    let Some(hb) = c.hb.as_mut() else { continue };
                    match hb.on_timer(now) {
                        Ok(ping) => {
                            if let Some(p) = ping {
                                p.encode(&mut c.ctrl);
                            }
                            if let Some(next) = hb.next_deadline() {
                                c.hb_timer = Some(next);
                                self.timers
                                    .push(Reverse((next, slot, gen, TimerKind::Heartbeat)));
                            }
                            self.flush(slot, reqs);
                        }
                        Err(e) => {
                            let why = format!("{e}");
                            self.disconnect(slot, &why, reqs);
                        }
                    }
                }
            }
        }
    }
}

/// Consume `n` sent bytes from `out` while tracking frame boundaries.
fn walk_out(out: &mut pipe::Reader, mut n: usize, frame_left: &mut u64, in_msg: &mut bool) {
    while n > 0 {
        if *frame_left == 0 {
            let buf = out.peek();
            let h = frame::parse_header(buf)
                .ok()
                .flatten()
                .expect("outbound pipe holds whole frames");
            *frame_left = h.frame_len();
            *in_msg = h.more();
        }
        let take = (*frame_left).min(n as u64) as usize;
        let avail = out.peek().len().min(take);
        out.consume(avail);
        *frame_left -= avail as u64;
        n -= avail;
    }
    if *frame_left == 0 && *in_msg {
        // Between frames of one message: still mid-message.
    }
}

/// After a disconnect, drop the remainder of a partly sent message.
fn skip_partial(out: &mut pipe::Reader, frame_left: &mut u64, in_msg: &mut bool) {
    loop {
        if *frame_left > 0 {
            let k = (*frame_left).min(out.peek().len() as u64) as usize;
            if k == 0 {
                break;
            }
            out.consume(k);
            *frame_left -= k as u64;
            continue;
        }
        if !*in_msg {
            break;
        }
        let buf = out.peek();
        let Some(h) = frame::parse_header(buf).ok().flatten() else {
            break;
        };
        *frame_left = h.frame_len();
        *in_msg = h.more();
    }
    *frame_left = 0;
    *in_msg = false;
}

/// The monitor's reason for a disconnect, from the reactor's description of it.
fn classify(why: &str, in_handshake: bool) -> DisconnectReason {
    if why.starts_with("peer closed") {
        DisconnectReason::Remote
    } else if [
        "socket closed",
        "linger expired",
        "disconnected by",
        "rejected by",
    ]
    .iter()
    .any(|p| why.starts_with(p))
    {
        DisconnectReason::Local
    } else if in_handshake || why.starts_with("handshake") {
        DisconnectReason::Handshake
    } else {
        DisconnectReason::Transport
    }
}

/// Why decoding a connection's bytes ended it.
enum Fault {
    Protocol(ProtocolError),
    /// The memory for a frame (of this many bytes so far) could not be allocated.
    NoMemory(usize),
}

impl From<ProtocolError> for Fault {
    fn from(e: ProtocolError) -> Fault {
        Fault::Protocol(e)
    }
}

impl From<pipe::AllocFailed> for Fault {
    fn from(e: pipe::AllocFailed) -> Fault {
        Fault::NoMemory(e.bytes)
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Protocol(e) => write!(f, "protocol error: {e}"),
            Fault::NoMemory(n) => write!(f, "out of memory: cannot buffer a frame ({n} bytes)"),
        }
    }
}

/// Socket types that receive subscriptions.
fn publishes(ty: SocketType) -> bool {
    matches!(ty, SocketType::Pub | SocketType::XPub)
}

/// Append a subscription as a one-frame message `[0x01|0x00][topic]` (ZMTP 3.0's form).
fn legacy_sub(out: &mut Vec<u8>, on: bool, topic: &[u8]) {
    let mut hdr = [0u8; frame::MAX_HEADER];
    let hl = frame::encode_header(&mut hdr, false, false, topic.len() as u64 + 1);
    out.extend_from_slice(&hdr[..hl]);
    out.push(u8::from(on));
    out.extend_from_slice(topic);
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

/// Random extra wait (up to `base`) so many clients do not reconnect in lockstep.
fn jitter(base: Duration) -> Duration {
    let ms = base.as_millis() as u64;
    if ms == 0 {
        return Duration::ZERO;
    }
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    let x = (seed ^ ((std::process::id() as u64) << 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    Duration::from_millis((x >> 33) % ms)
}
