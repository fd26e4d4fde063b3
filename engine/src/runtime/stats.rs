//! Counters the reactors keep for a socket (bytes on its connections, connection events),
//! read by `Socket::stats`. Updated once per completion or event, never per message.

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};

use crate::monitor::MonitorEventKind;

/// On a cache line of its own: reactors add to it while the socket's thread uses the
/// neighbouring fields of `SocketShared`.
#[repr(align(64))]
#[derive(Default)]
pub(crate) struct LinkStats {
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) bytes_received: AtomicU64,
    pub(crate) connects: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) handshake_failures: AtomicU64,
    pub(crate) disconnects: AtomicU64,
}

impl LinkStats {
    pub(crate) fn sent(&self, n: usize) {
        self.bytes_sent.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn received(&self, n: usize) {
        self.bytes_received.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Count a connection event (called for every event, monitored or not).
    pub(crate) fn event(&self, kind: &MonitorEventKind) {
        let c = match kind {
            MonitorEventKind::Connected | MonitorEventKind::Accepted => &self.connects,
            MonitorEventKind::ConnectRetried(_) => &self.reconnects,
            MonitorEventKind::HandshakeFailedProtocol(_)
            | MonitorEventKind::HandshakeFailedNoDetail(_) => &self.handshake_failures,
            MonitorEventKind::Disconnected(..) => &self.disconnects,
            _ => return,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}
