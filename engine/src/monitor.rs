//! Socket monitoring: connection-level events (libzmq's `zmq_socket_monitor`), delivered as
//! typed values through a queue the reactors append to.

#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::backend::sys::EventFd;

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The peer closed the connection.
    Remote,
    /// This side closed it (socket closed, `disconnect`, linger expired, refused peer).
    Local,
    /// The ZMTP handshake failed or timed out.
    Handshake,
    /// A protocol violation, a transport error or a heartbeat timeout.
    Transport,
}

/// What happened (libzmq's ZMQ_EVENT_* with their values folded in).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MonitorEventKind {
    /// A listener is accepting connections.
    Listening,
    /// Binding failed (errno).
    BindFailed(i32),
    /// A connection was accepted.
    Accepted,
    /// Accepting failed (errno).
    AcceptFailed(i32),
    /// A connect is in progress.
    ConnectDelayed,
    /// A connection was established (before the ZMTP handshake).
    Connected,
    /// The next connect attempt is scheduled after this interval.
    ConnectRetried(Duration),
    /// The ZMTP handshake completed.
    HandshakeSucceeded,
    /// The handshake failed for a protocol reason (description).
    HandshakeFailedProtocol(String),
    /// The handshake failed otherwise (timeout, transport error; description).
    HandshakeFailedNoDetail(String),
    /// A connection ended.
    Disconnected(DisconnectReason, String),
    /// A listener was closed.
    Closed,
    /// The socket was closed; no more events follow.
    MonitorStopped,
}

/// One event: what happened, on which endpoint, and the peer's routing id if known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorEvent {
    /// What happened (with its details).
    pub kind: MonitorEventKind,
    /// The endpoint: the connection's, or the listener's for listening/accept/close events.
    pub endpoint: String,
    /// The peer's routing id, once the handshake told it (a ROUTER's id for the peer).
    pub peer_routing_id: Option<Vec<u8>>,
}

/// The queue behind a [`Monitor`].
pub(crate) struct MonitorQueue {
    events: Mutex<VecDeque<MonitorEvent>>,
    fd: EventFd,
}

impl MonitorQueue {
    pub(crate) fn new() -> std::io::Result<MonitorQueue> {
        Ok(MonitorQueue {
            events: Mutex::new(VecDeque::new()),
            fd: EventFd::new()?,
        })
    }

    pub(crate) fn push(&self, kind: MonitorEventKind, endpoint: &str, peer: Option<&[u8]>) {
        self.events.lock().unwrap().push_back(MonitorEvent {
            kind,
            endpoint: endpoint.to_string(),
            peer_routing_id: peer.map(<[u8]>::to_vec),
        });
        self.fd.signal();
    }
}

/// Receives a socket's events (from `Socket::monitor`). Independent of the socket's thread.
pub struct Monitor {
    pub(crate) queue: std::sync::Arc<MonitorQueue>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor").finish_non_exhaustive()
    }
}

impl Monitor {
    /// The next event, waiting up to `timeout` (None = forever): `Ok(None)` on timeout,
    /// `Err(Error::Interrupted)` when a signal arrives meanwhile.
    pub fn recv(&self, timeout: Option<Duration>) -> crate::Result<Option<MonitorEvent>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            self.queue.fd.drain();
            if let Some(e) = self.queue.events.lock().unwrap().pop_front() {
                return Ok(Some(e));
            }
            let left = match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Ok(None);
                    }
                    Some(d - now)
                }
                None => None,
            };
            self.queue.fd.wait(left)?;
        }
    }

    /// A file descriptor that is readable while events may be queued.
    pub fn fd(&self) -> std::os::fd::RawFd {
        self.queue.fd.fd()
    }
}

/// The fd of [`Monitor::fd`].
impl std::os::fd::AsRawFd for Monitor {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd()
    }
}

/// The fd of [`Monitor::fd`], borrowed for the monitor's lifetime. Never read from or close it.
#[cfg(not(loom))]
impl std::os::fd::AsFd for Monitor {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.queue.fd.as_fd()
    }
}
