//! inproc://: sockets of one context joined by a pipe pair, no kernel involved. The context's
//! registry (reached through the `Hub`) maps names to bound sockets and parks connections
//! made before their bind; the sockets themselves only attach the halves handed to them.

#![forbid(unsafe_code)]

use std::sync::{Arc, OnceLock};

use crate::error::{Error, Result};
use crate::pipe;
use crate::runtime::hub::Hub;
use crate::runtime::shared::{InprocBound, Link, NewPeer, PendingInproc, SocketShared};

/// Register `name` for the binding socket; returns the connections that waited for it (the
/// caller attaches them, or rejects those its pattern refuses).
pub(crate) fn bind(hub: &Hub, name: &str, bound: InprocBound) -> Result<Vec<PendingInproc>> {
    let mut reg = hub.inproc();
    if reg.bound.contains_key(name) {
        return Err(Error::Io(std::io::Error::from_raw_os_error(
            libc::EADDRINUSE,
        )));
    }
    let sock = bound.sock.clone();
    reg.bound.insert(name.to_string(), bound);
    let pending = reg.pending.remove(name).unwrap_or_default();
    drop(reg);
    for (_, slot) in &pending {
        let _ = slot.set(sock.clone());
    }
    Ok(pending)
}

/// The connecting socket's side of an inproc connection.
pub(crate) struct Connector<'a> {
    pub(crate) endpoint: &'a str,
    pub(crate) sock: &'a Arc<SocketShared>,
    pub(crate) sndhwm: u64,
    pub(crate) rcvhwm: u64,
    pub(crate) routing_id: &'a [u8],
    pub(crate) alias: Option<Vec<u8>>,
    pub(crate) inline: bool,
}

/// Make the pipe pair to the socket bound at `name` (or park the binder's half until it
/// binds) and return the connector's half. HWMs add up over both ends, as in libzmq.
pub(crate) fn connect(hub: &Hub, name: &str, c: Connector<'_>) -> NewPeer {
    let (id_here, id_there) = (hub.next_peer_id(), hub.next_peer_id());
    let sum = |a: u64, b: u64| if a == 0 || b == 0 { 0 } else { a + b };
    let mut reg = hub.inproc();
    let (their_snd, their_rcv, their_id, their_sock) = match reg.bound.get(name) {
        Some(b) => (
            b.sndhwm,
            b.rcvhwm,
            b.routing_id.clone(),
            Some(b.sock.clone()),
        ),
        None => (c.rcvhwm, c.sndhwm, Vec::new(), None),
    };
    let (out_w, out_r) = pipe::pipe(sum(c.sndhwm, their_rcv));
    let (back_w, back_r) = pipe::pipe(sum(their_snd, c.rcvhwm));
    let them = Arc::new(OnceLock::new());
    if let Some(s) = their_sock.clone() {
        let _ = them.set(s);
    }
    let us = Arc::new(OnceLock::new());
    let _ = us.set(c.sock.clone());
    let their_half = NewPeer {
        remote: c.endpoint.to_string(),
        id: id_there,
        out: back_w,
        inn: out_r,
        identity: c.routing_id.to_vec(),
        alias: None,
        link: Link::Inproc {
            other: us,
            peer: id_here,
            inline: c.inline,
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
    NewPeer {
        remote: c.endpoint.to_string(),
        id: id_here,
        out: out_w,
        inn: back_r,
        identity: their_id,
        alias: c.alias,
        link: Link::Inproc {
            other: them,
            peer: id_there,
            inline: c.inline,
        },
    }
}

/// Forget `name` if socket `sock` holds it.
pub(crate) fn unbind(hub: &Hub, name: &str, sock: u64) {
    let mut reg = hub.inproc();
    if reg.bound.get(name).is_some_and(|b| b.sock.id == sock) {
        reg.bound.remove(name);
    }
}

/// Forget every name socket `sock` holds (it is closing).
pub(crate) fn unbind_all(hub: &Hub, sock: u64) {
    hub.inproc().bound.retain(|_, b| b.sock.id != sock);
}
