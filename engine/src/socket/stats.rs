//! `Socket::stats`: what a socket has done since it was created, for metrics.

#![forbid(unsafe_code)]

use super::Socket;
use crate::runtime::stats::LinkStats;

/// Counters of one socket since it was created (see [`Socket::stats`]). Reading them costs a
/// walk over the peers; keeping them costs the message path nothing (the message counts are
/// the pipes' own, bytes and events are added per completion and per event).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SocketStats {
    /// Messages queued to peers (handed to their pipes; PUB counts each subscriber's copy).
    pub msgs_sent: u64,
    /// Messages that arrived from peers (queued for this socket, read or not yet).
    pub msgs_received: u64,
    /// Bytes sent on tcp/ipc connections, as on the wire (ZMTP framing included).
    pub bytes_sent: u64,
    /// Bytes received on tcp/ipc connections, as on the wire.
    pub bytes_received: u64,
    /// Messages dropped: PUB/XPUB to a subscriber at its high-water mark, ROUTER to a full
    /// peer or an unknown routing id (without ROUTER_MANDATORY).
    pub msgs_dropped: u64,
    /// Connections established (connected or accepted).
    pub connects: u64,
    /// Connect attempts retried after a failure (libzmq's CONNECT_RETRIED events).
    pub reconnects: u64,
    /// Handshakes that failed (protocol errors, timeouts, connections cut short).
    pub handshake_failures: u64,
    /// Connections that ended after their handshake or during it.
    pub disconnects: u64,
}

impl Socket {
    /// This socket's counters since it was created: messages and bytes in and out, drops,
    /// connection events. Also available in C as `rl_socket_stats`.
    pub fn stats(&mut self) -> SocketStats {
        self.core.process_inbox(&mut self.pattern);
        let core = &self.core;
        let (mut sent, mut received) = (core.retired_sent, core.retired_received);
        for (_, p) in core.peers.iter() {
            sent += p.out.msgs_written();
            received += p.inn.msgs_committed();
        }
        let l = &core.shared.stats;
        SocketStats {
            msgs_sent: sent,
            msgs_received: received,
            bytes_sent: LinkStats::get(&l.bytes_sent),
            bytes_received: LinkStats::get(&l.bytes_received),
            msgs_dropped: core.dropped,
            connects: LinkStats::get(&l.connects),
            reconnects: LinkStats::get(&l.reconnects),
            handshake_failures: LinkStats::get(&l.handshake_failures),
            disconnects: LinkStats::get(&l.disconnects),
        }
    }
}
