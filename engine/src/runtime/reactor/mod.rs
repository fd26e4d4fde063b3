//! One reactor: a thread (or, in inline mode, whichever application thread drives it) that owns
//! a driver, the connections assigned to it, their codec state and their timers.
//!
//! The path of a message (see docs/architecture.md for the full picture):
//! * out: the application encodes frames into the connection's outbound pipe and commits; if
//!   the reactor was not already draining that pipe it gets `Cmd::Flush`. `flush` hands every
//!   committed byte (plus pending control frames) to the driver as one vectored send; more data
//!   committed meanwhile goes out with the next send, so sends grow with load.
//! * a wire transform, when the context has one, decodes received bytes before `on_data` and
//!   encodes what `flush` collected into an owned buffer that is sent instead (`wire`).
//! * in: the driver hands received bytes to `on_data`; the handshake consumes the first ones,
//!   then the decoder returns runs of whole frames that are copied into the inbound pipe with
//!   one memcpy per run; commits happen at message boundaries only (multipart atomicity).
//!
//! Peer misbehaviour (bad greeting, oversize or malformed frames, stalled handshake, heartbeat
//! loss) ends in `disconnect` for that connection only, with a typed `CloseReason`.
//!
//! Files: this one holds the types and the driver loop; `cmds` dispatches commands and driver
//! events, `connect` sets connections up, `recv` / `send` are the two data paths, `close`
//! tears down and schedules reconnects, `timers` fires deadlines.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use slab::Slab;

use super::reactor_set::ReactorSet;
use super::shared::{CloseAck, Cmd, NewPeer, ReactorHandle, SocketShared};
use crate::backend::sys::{self, SockAddr};
use crate::backend::{Driver, Event, Key, Req};
use crate::monitor::MonitorEventKind;
use crate::options::SockOpts;
use crate::pipe::{self, SendLease};
use crate::protocol::{HandshakeConfig, PeerInfo, SocketType};
use crate::session::{CloseReason, HeartbeatConfig, StreamSession, ZmtpSession};

mod close;
mod cmds;
mod conn;
mod connect;
mod recv;
mod send;
#[cfg(test)]
mod tests;
mod timers;
mod wire;

/// Bytes handed to one send at most; larger backlogs go out over several sends, each
/// crediting the messages it completed. No more than the pipe's spare chunks hold: the
/// chunks one send frees are all recycled when the writer refills, instead of some going
/// back to the allocator and coming back as fresh zeroed (page-faulting) memory.
const MAX_SEND: usize = crate::pipe::RECYCLED_BYTES;
const MAX_IOV: usize = 64;
/// With a wire transform: encoded bytes waiting to be sent at most (plus one batch), so a
/// writer stays within about SNDHWM of what the kernel took.
const WIRE_BATCH: usize = 256 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    Reconnect,
    Handshake,
    Heartbeat,
    Linger,
    /// Give a final ERROR command a moment to leave before closing.
    CloseSoon,
    /// A listener paused by a failed accept tries again.
    ResumeAccept,
}

/// The first wait before accepting again after a failed accept, and the longest: the wait
/// doubles while accepts keep failing (a descriptor table stays full until something
/// closes), and a successful accept resets it.
const ACCEPT_RETRY_MIN: Duration = Duration::from_millis(10);
const ACCEPT_RETRY_MAX: Duration = Duration::from_secs(1);

struct Listener {
    gen: u32,
    sock: Arc<SocketShared>,
    opts: Arc<SockOpts>,
    fd: Option<OwnedFd>,
    endpoint: String,
    ipc_path: Option<String>,
    /// The current wait after a failed accept (zero while accepts succeed).
    accept_retry: Duration,
}

enum Phase {
    /// Waiting for a reconnect timer or a connect completion.
    Connecting,
    Handshake,
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
    /// The ZMTP session (handshake, decoding, control frames, outbound frame walk).
    zmtp: ZmtpSession,
    /// A send is in flight: (pipe data was truncated, committed-message snapshot taken
    /// before it). Its lease, held by the driver, has the rest. With a wire transform the
    /// send carries encoded bytes and this is only the in-flight mark.
    sending: Option<(bool, u64)>,
    /// The iovec array of the last send's lease, kept for reuse.
    iov: pipe::IovArray,
    /// The inbound pipe reached RCVHWM and receiving stopped (`recv::pause`); bytes the
    /// driver delivered anyway wait in `stash[stash_off..]`.
    paused: bool,
    stash: Vec<u8>,
    stash_off: usize,
    recv_stopped: bool,
    /// The peer closed while we were paused: finish delivering the stash first.
    eof: Option<CloseReason>,
    /// Close once the pending control frames (an ERROR command) are sent.
    close_after_ctrl: Option<CloseReason>,
    hb_timer: Option<Instant>,
    /// The socket was closed: flush within the deadline (None = forever), then close.
    lingering: Option<Option<Instant>>,
    /// SUB/XSUB: the subscription change (`SubSet::seq`) this connection has been told.
    subs_seq: u64,
    /// STREAM: raw bytes (or length-prefixed messages) instead of ZMTP.
    stream: Option<StreamSession>,
    /// The connection's wire transform, if the context has one (`crate::wire`).
    wire: Option<Box<wire::WireConn>>,
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
}
