//! State shared between an application-side socket and the reactors serving it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

pub(crate) use super::parker::Parker;
use crate::backend::sys::SockAddr;
use crate::options::SockOpts;
use crate::pipe;
use crate::protocol::SocketType;

/// An inproc endpoint bound in a context.
pub(crate) struct InprocBound {
    pub(crate) sock: Arc<SocketShared>,
    pub(crate) sndhwm: u64,
    pub(crate) rcvhwm: u64,
    pub(crate) routing_id: Vec<u8>,
}

/// The context's inproc names: bound sockets, and connections waiting for their bind (the
/// binder's halves, attached when it binds).
#[derive(Default)]
pub(crate) struct InprocRegistry {
    pub(crate) bound: std::collections::HashMap<String, InprocBound>,
    pub(crate) pending: std::collections::HashMap<String, Vec<PendingInproc>>,
}

/// A binder's half of an inproc connection made before the bind, and the slot through which
/// the connector learns the binder.
pub(crate) type PendingInproc = (NewPeer, Arc<OnceLock<Arc<SocketShared>>>);

/// Who serves the other end of a peer's pipes: a reactor (tcp, ipc) or, for inproc, the
/// other socket itself. Tells where "pipe became busy", "space freed" and "refused" go.
#[derive(Clone)]
pub(crate) enum Link {
    Reactor(usize),
    /// `other` is filled when the binding socket exists (a connect may come first).
    Inproc {
        other: Arc<OnceLock<Arc<SocketShared>>>,
        peer: u64,
        /// Inline context: the other socket's thread may be blocked in the reactor.
        inline: bool,
    },
}

impl Link {
    /// Deliver `cmd` to the reactor, or, for inproc, make the other socket look at its pipes
    /// again (which is all any of these commands means to a socket).
    fn tell(&self, handles: &[Arc<ReactorHandle>], cmd: Cmd) {
        match self {
            Link::Reactor(r) => handles[*r].send(cmd),
            Link::Inproc {
                other,
                peer,
                inline,
            } => {
                if let Some(o) = other.get() {
                    o.notify_inproc(*peer, handles, *inline)
                }
            }
        }
    }

    /// Our outbound pipe turned busy (or closed).
    pub(crate) fn flush(&self, handles: &[Arc<ReactorHandle>], id: u64) {
        self.tell(handles, Cmd::Flush(id));
    }

    /// We read enough from an inbound pipe whose writer waits for space.
    pub(crate) fn resume(&self, handles: &[Arc<ReactorHandle>], id: u64) {
        self.tell(handles, Cmd::Resume(id));
    }

    /// We refuse or drop this peer (its pipes are being dropped).
    pub(crate) fn reject(&self, handles: &[Arc<ReactorHandle>], id: u64) {
        self.tell(handles, Cmd::Reject(id));
    }
}

/// A connection handed from a reactor to its socket.
pub(crate) struct NewPeer {
    pub(crate) id: u64,
    pub(crate) out: pipe::Writer,
    pub(crate) inn: pipe::Reader,
    pub(crate) identity: Vec<u8>,
    /// The CONNECT_ROUTING_ID chosen when this connection was made, if any.
    pub(crate) alias: Option<Vec<u8>>,
    pub(crate) link: Link,
    /// The peer's address as an endpoint string (peer introspection).
    pub(crate) remote: String,
}

/// What reactors tell a socket.
#[derive(Default)]
pub(crate) struct SocketInbox {
    /// Peers whose pipes changed state (data arrived, space freed, closed).
    pub(crate) ready: Vec<u64>,
    /// Connections that completed their handshake.
    pub(crate) attach: Vec<NewPeer>,
}

/// The part of a socket that reactors hold.
pub(crate) struct SocketShared {
    pub(crate) id: u64,
    pub(crate) ty: SocketType,
    pub(crate) parker: Parker,
    pending: AtomicBool,
    inbox: Mutex<SocketInbox>,
    /// The socket was closed: connections completing now are dropped, not queued.
    closed: AtomicBool,
    /// Set by `Socket::monitor`: where connection events go.
    pub(crate) monitor: Mutex<Option<Arc<crate::monitor::MonitorQueue>>>,
    /// SUB/XSUB: the subscriptions every new connection is told about (reconnects included).
    pub(crate) subs: Mutex<SubSet>,
    /// What the reactors count for `Socket::stats`.
    pub(crate) stats: super::stats::LinkStats,
}

/// A SUB/XSUB socket's subscriptions as reactors see them. `seq` counts changes: a
/// connection that sent the whole set at change `n` ignores `Cmd::Subscribe` up to `n`.
#[derive(Default)]
pub(crate) struct SubSet {
    pub(crate) seq: u64,
    pub(crate) topics: std::collections::HashMap<Vec<u8>, u32>,
}

impl SocketShared {
    pub(crate) fn new(id: u64, ty: SocketType) -> std::io::Result<SocketShared> {
        Ok(SocketShared {
            id,
            ty,
            parker: Parker::new()?,
            pending: AtomicBool::new(false),
            inbox: Mutex::new(SocketInbox::default()),
            closed: AtomicBool::new(false),
            monitor: Mutex::new(None),
            subs: Mutex::new(SubSet::default()),
            stats: Default::default(),
        })
    }

    /// A peer's pipes changed: queue it and wake the socket's thread if it waits.
    pub(crate) fn notify_ready(&self, peer: u64) {
        self.inbox.lock().unwrap().ready.push(peer);
        self.pending.store(true, Ordering::Release);
        self.parker.unpark();
    }

    pub(crate) fn attach(&self, p: NewPeer) {
        {
            let mut inbox = self.inbox.lock().unwrap();
            if self.closed.load(Ordering::Relaxed) {
                drop(inbox);
                // Dropping our ends closes the pipes: the reactor (or inproc peer) lets go.
                drop(p);
                return;
            }
            inbox.attach.push(p);
        }
        self.pending.store(true, Ordering::Release);
        self.parker.unpark();
    }

    /// The socket is being closed: refuse connections from now on and hand back the ones
    /// that completed but were never taken (the caller drops them, closing their pipes, so a
    /// lingering reactor is not left waiting for a writer nobody will close).
    pub(crate) fn close(&self) -> Vec<NewPeer> {
        let mut inbox = self.inbox.lock().unwrap();
        self.closed.store(true, Ordering::Relaxed);
        std::mem::take(&mut inbox.attach)
    }

    /// An inproc peer changed our pipes. In inline contexts the thread that waits for this
    /// socket may be blocked inside the reactor (or about to be: it announces parking only
    /// inside the reactor's turn) instead of on our parker: always wake the reactor then.
    pub(crate) fn notify_inproc(&self, peer: u64, handles: &[Arc<ReactorHandle>], inline: bool) {
        self.notify_ready(peer);
        if inline {
            if let Some(h) = handles.first() {
                h.parker.signal();
            }
        }
    }

    /// Report a connection event if the socket is monitored.
    pub(crate) fn event(
        &self,
        kind: crate::monitor::MonitorEventKind,
        endpoint: &str,
        peer: Option<&[u8]>,
    ) {
        self.stats.event(&kind);
        let mut m = self.monitor.lock().unwrap();
        if let Some(q) = m.as_ref() {
            if Arc::strong_count(q) == 1 {
                // Every Monitor handle was dropped: stop queueing events nobody reads.
                *m = None;
                return;
            }
            q.push(kind, endpoint, peer);
        }
    }

    /// Wake a waiting application thread without news (shutdown, timers).
    pub(crate) fn poke(&self) {
        self.pending.store(true, Ordering::Release);
        self.parker.unpark();
    }

    #[inline]
    pub(crate) fn has_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Take the queued notifications (into `into`, reusing its allocations).
    pub(crate) fn take_inbox(&self, into: &mut SocketInbox) {
        self.pending.store(false, Ordering::Relaxed);
        let mut g = self.inbox.lock().unwrap();
        std::mem::swap(&mut g.ready, &mut into.ready);
        std::mem::swap(&mut g.attach, &mut into.attach);
    }
}

/// The reactors' acknowledgements of a synchronous close. No descriptor is involved (a
/// mutex and a condition variable): a reactor may still hold its reference for a moment
/// after the closing thread went on, and it must not keep a descriptor open then.
pub(crate) struct CloseAck {
    remaining: Mutex<usize>,
    cv: std::sync::Condvar,
}

impl CloseAck {
    /// An acknowledgement awaited from `reactors` reactors.
    pub(crate) fn new(reactors: usize) -> CloseAck {
        CloseAck {
            remaining: Mutex::new(reactors),
            cv: std::sync::Condvar::new(),
        }
    }

    /// One reactor closed every descriptor of the socket.
    pub(crate) fn done_one(&self) {
        let mut r = self.remaining.lock().unwrap_or_else(|e| e.into_inner());
        *r = r.saturating_sub(1);
        self.cv.notify_all();
    }

    pub(crate) fn is_done(&self) -> bool {
        *self.remaining.lock().unwrap_or_else(|e| e.into_inner()) == 0
    }

    /// Block until every reactor acknowledged (reactor threads do the work).
    pub(crate) fn wait(&self) {
        let mut r = self.remaining.lock().unwrap_or_else(|e| e.into_inner());
        while *r > 0 {
            r = self.cv.wait(r).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Commands from application threads (or other reactors) to a reactor. Rare (connection
/// set-up, idle-to-busy transitions), so the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Cmd {
    /// Start accepting on a bound listener.
    Listen {
        sock: Arc<SocketShared>,
        opts: Arc<SockOpts>,
        fd: std::os::fd::OwnedFd,
        endpoint: String,
        ipc_path: Option<String>,
    },
    /// Connect (and keep reconnecting). `pipes` are given when the socket queues messages
    /// before the connection exists (PAIR/DEALER without IMMEDIATE).
    Connect {
        sock: Arc<SocketShared>,
        opts: Arc<SockOpts>,
        target: crate::transport::Target,
        endpoint: String,
        alias: Option<Vec<u8>>,
        pipes: Option<(u64, pipe::Reader, pipe::Writer)>,
    },
    /// An accepted connection moved here from the listener's reactor.
    Adopt {
        sock: Arc<SocketShared>,
        opts: Arc<SockOpts>,
        fd: std::os::fd::OwnedFd,
        endpoint: String,
    },
    /// A host name resolver thread finished for connection `slot` (generation `gen`).
    Resolved {
        slot: usize,
        gen: u32,
        result: std::result::Result<SockAddr, String>,
    },
    /// The outbound pipe of a peer has data (or was closed).
    Flush(u64),
    /// The application read enough from a paused peer's inbound pipe.
    Resume(u64),
    /// The socket refused this peer (e.g. a second PAIR peer, a duplicate routing id).
    Reject(u64),
    /// Stop listening on / stop connecting to `endpoint`.
    Unbind {
        sock: u64,
        endpoint: String,
    },
    Disconnect {
        sock: u64,
        endpoint: String,
    },
    /// SUB/XSUB: send a subscription (`on`) or cancellation to every established connection
    /// of socket `sock` that has not seen change `seq` yet.
    Subscribe {
        sock: u64,
        seq: u64,
        topic: Vec<u8>,
        on: bool,
    },
    /// The socket was closed: close listeners, linger connections. With `ack`, report
    /// (`CloseAck::done_one`) once every descriptor of the socket on this reactor is
    /// closed: such closes are synchronous, as a caller counting descriptors expects.
    CloseSocket {
        sock: u64,
        linger: Option<Duration>,
        ack: Option<Arc<CloseAck>>,
    },
    /// Exit once nothing lingers.
    Stop,
}

/// The handle other threads use to reach a reactor.
pub(crate) struct ReactorHandle {
    pub(crate) index: usize,
    pub(crate) parker: Parker,
    cmds: Mutex<Vec<Cmd>>,
    has_cmds: AtomicBool,
    /// A close was acknowledged during the last turn: an inline leader then wakes its
    /// followers (one of them may be the closing thread).
    pub(crate) acked: AtomicBool,
}

impl ReactorHandle {
    pub(crate) fn new(index: usize) -> std::io::Result<ReactorHandle> {
        Ok(ReactorHandle {
            index,
            parker: Parker::new()?,
            cmds: Mutex::new(Vec::new()),
            has_cmds: AtomicBool::new(false),
            acked: AtomicBool::new(false),
        })
    }

    pub(crate) fn send(&self, cmd: Cmd) {
        self.cmds.lock().unwrap().push(cmd);
        self.has_cmds.store(true, Ordering::Release);
        self.parker.unpark();
    }

    #[inline]
    pub(crate) fn has_cmds(&self) -> bool {
        self.has_cmds.load(Ordering::Acquire)
    }

    pub(crate) fn take_cmds(&self, into: &mut Vec<Cmd>) {
        self.has_cmds.store(false, Ordering::Relaxed);
        std::mem::swap(&mut *self.cmds.lock().unwrap(), into);
    }
}
