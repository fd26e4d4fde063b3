//! The context's reactors as seen by everyone else: their handles, round-robin placement of
//! new connections, and the allocator of peer ids (unique per context, so a reactor and a
//! socket can name a connection without sharing any other state).

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use super::shared::ReactorHandle;
use crate::wire::{Factory, WireTransform};

/// Handles of every reactor of a context plus the id allocator for peers.
pub(crate) struct ReactorSet {
    pub(crate) handles: Vec<Arc<ReactorHandle>>,
    next: AtomicUsize,
    next_peer_id: AtomicU64,
    /// Makes each tcp/ipc connection's wire transform (none: bytes go out as the session
    /// produced them).
    wire: Option<Factory>,
}

impl ReactorSet {
    pub(crate) fn new(handles: Vec<Arc<ReactorHandle>>, wire: Option<Factory>) -> ReactorSet {
        ReactorSet {
            handles,
            next: AtomicUsize::new(0),
            next_peer_id: AtomicU64::new(1),
            wire,
        }
    }

    /// The wire transform for a connection that starts now (None without one).
    pub(crate) fn wire_transform(&self, connected: bool) -> Option<Box<dyn WireTransform>> {
        self.wire.as_ref().map(|f| f.0.transform(connected))
    }

    /// Round-robin choice of a reactor for a new connection.
    pub(crate) fn pick(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len()
    }

    /// A fresh peer id.
    pub(crate) fn peer_id(&self) -> u64 {
        self.next_peer_id.fetch_add(1, Ordering::Relaxed)
    }
}
