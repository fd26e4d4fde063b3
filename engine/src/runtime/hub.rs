//! The socket layer's one door into the runtime: reactor placement and commands, peer ids,
//! the inproc registry, termination and inline driving. Sockets hold a `Hub` instead of
//! reaching into the context's internals, so the runtime can change behind it.

#![forbid(unsafe_code)]

use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use super::context::Context;
use super::inline::Inline;
use super::shared::{Cmd, InprocRegistry, Link, SocketShared};
use crate::error::Result;
use crate::protocol::SocketType;

/// A socket's handle on its context's runtime (cheap to clone).
#[derive(Clone)]
pub(crate) struct Hub {
    ctx: Context,
}

impl Hub {
    pub(crate) fn new(ctx: Context) -> Hub {
        Hub { ctx }
    }

    /// A hub over a context without reactors, for socket unit tests that wire peers by
    /// hand (inproc links whose other side is unset: their notifications go nowhere).
    #[cfg(test)]
    pub(crate) fn detached() -> Hub {
        Hub {
            ctx: Context::detached(),
        }
    }

    /// Register a new socket of type `ty` with the context (refused after shutdown).
    pub(crate) fn new_socket(&self, ty: SocketType) -> Result<Arc<SocketShared>> {
        self.ctx.new_socket_shared(ty)
    }

    /// The reactor a new listener or connection goes to (round-robin).
    pub(crate) fn pick_reactor(&self) -> usize {
        self.ctx.inner.peers.pick()
    }

    /// A fresh peer id (unique in the context).
    pub(crate) fn next_peer_id(&self) -> u64 {
        self.ctx.inner.peers.peer_id()
    }

    /// Send a command to reactor `r`.
    pub(crate) fn send(&self, r: usize, cmd: Cmd) {
        self.ctx.reactor(r).send(cmd);
    }

    /// Send a command (built per reactor) to every reactor.
    pub(crate) fn broadcast(&self, mut cmd: impl FnMut() -> Cmd) {
        for h in &self.ctx.inner.peers.handles {
            h.send(cmd());
        }
    }

    pub(crate) fn reactor_count(&self) -> usize {
        self.ctx.inner.peers.handles.len()
    }

    /// Our outbound pipe to peer `id` turned busy (or closed).
    #[inline]
    pub(crate) fn flush(&self, link: &Link, id: u64) {
        link.flush(&self.ctx.inner.peers.handles, id);
    }

    /// We freed space in peer `id`'s inbound pipe that its writer waits for.
    #[inline]
    pub(crate) fn resume(&self, link: &Link, id: u64) {
        link.resume(&self.ctx.inner.peers.handles, id);
    }

    /// We refuse or drop peer `id`.
    pub(crate) fn reject(&self, link: &Link, id: u64) {
        link.reject(&self.ctx.inner.peers.handles, id);
    }

    /// The context's inproc names (poisoning ignored: the registry stays consistent).
    pub(crate) fn inproc(&self) -> MutexGuard<'_, InprocRegistry> {
        self.ctx
            .inner
            .inproc
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn is_terminated(&self) -> bool {
        self.ctx.is_terminated()
    }

    /// How long a blocking call spins before it parks.
    pub(crate) fn spin(&self) -> Duration {
        self.ctx.inner.spin
    }

    pub(crate) fn is_inline(&self) -> bool {
        self.ctx.is_inline()
    }

    /// The driving side of an inline context, on its owner thread (None otherwise).
    pub(crate) fn inline(&self) -> Option<&Inline> {
        self.ctx.inline()
    }

    /// Inline contexts: perform pending I/O now (no-op with reactor threads).
    pub(crate) fn drive_io(&self) {
        self.ctx.drive_io();
    }
}
