//! Endpoints: bind/connect over tcp/ipc (handed to a reactor) and inproc (pipes attached
//! here), and their undoing.

#![forbid(unsafe_code)]

use std::sync::Arc;

use super::{Bound, Socket};
use crate::error::{Error, Result};
use crate::monitor::MonitorEventKind;
use crate::options::SockOpts;
use crate::pipe;
use crate::runtime::shared::{Cmd, InprocBound, Link, NewPeer};
use crate::transport;

impl Socket {
    fn opts_arc(&self) -> Arc<SockOpts> {
        Arc::new(self.core.opts.clone())
    }

    /// Bind to a local endpoint (`tcp://host:port`, `tcp://*:*`, `ipc:///path`, `ipc://@name`,
    /// `inproc://name`). A `*` port picks a free one: read it back with
    /// [`Socket::last_endpoint`].
    ///
    /// # Errors
    /// `InvalidArgument` for a malformed endpoint; `ProtocolNotSupported` for another
    /// transport; `Io` when the address is in use or cannot be bound (`EADDRINUSE`, ...);
    /// `Terminated` once the context is shut down.
    ///
    /// # Examples
    /// ```
    /// use ringlink::{Context, SocketType};
    /// let ctx = Context::new()?;
    /// let mut rep = ctx.socket(SocketType::Rep)?;
    /// rep.bind("tcp://127.0.0.1:*")?;
    /// let endpoint = rep.last_endpoint().expect("bound");
    /// assert!(endpoint.starts_with("tcp://127.0.0.1:"));
    /// let mut req = ctx.socket(SocketType::Req)?;
    /// req.connect(&endpoint)?;
    /// req.send(b"ping", 0)?;
    /// assert_eq!(rep.recv_bytes(0)?, b"ping");
    /// rep.send(b"pong", 0)?;
    /// assert_eq!(req.recv_bytes(0)?, b"pong");
    /// # Ok::<(), ringlink::Error>(())
    /// ```
    pub fn bind(&mut self, endpoint: &str) -> Result<()> {
        self.core.check_term()?;
        let ep = transport::parse(endpoint)?;
        if let transport::Endpoint::Inproc { name } = &ep {
            return self.bind_inproc(name, endpoint);
        }
        let shared = &self.core.shared;
        let l = transport::listen(&ep, self.core.opts.ipv6, self.core.opts.backlog, |errno| {
            shared.event(MonitorEventKind::BindFailed(errno), endpoint, None)
        })?;
        let resolved = l.endpoint.clone();
        let r = self.core.hub.pick_reactor();
        self.core.hub.send(
            r,
            Cmd::Listen {
                sock: self.core.shared.clone(),
                opts: self.opts_arc(),
                fd: l.fd,
                endpoint: l.endpoint,
                ipc_path: l.ipc_path,
            },
        );
        self.bound.push(Bound::Listen(resolved.clone()));
        if resolved != endpoint {
            self.bound.push(Bound::Listen(endpoint.to_string()));
        }
        self.last_endpoint = Some(resolved);
        Ok(())
    }

    /// Connect to a remote endpoint; returns at once (the connection is made, and remade after
    /// failures, in the background).
    ///
    /// # Errors
    /// `InvalidArgument` for a malformed endpoint; `ProtocolNotSupported` for another
    /// transport; `Io` when a host name cannot be resolved; `Terminated` once the context is
    /// shut down. A peer that is not there yet is not an error (see [`Socket::monitor`]).
    pub fn connect(&mut self, endpoint: &str) -> Result<()> {
        self.core.check_term()?;
        let ep = transport::parse(endpoint)?;
        if let transport::Endpoint::Inproc { name } = &ep {
            return self.connect_inproc(name, endpoint);
        }
        let target = transport::connect_target(&ep, self.core.opts.ipv6)?;
        let alias = if self.pattern.addresses_peers() {
            self.core.opts.connect_routing_id.take()
        } else {
            None
        };
        let r = self.core.hub.pick_reactor();
        // PAIR/DEALER queue messages for a peer that is not there yet (unless IMMEDIATE), so
        // the pipes exist from now on and survive reconnects.
        let pipes = if !self.core.opts.immediate && !self.pattern.addresses_peers() {
            let id = self.core.hub.next_peer_id();
            let (out_w, out_r) = pipe::pipe(self.core.opts.sndhwm);
            let (in_w, in_r) = pipe::pipe(self.core.opts.rcvhwm);
            let accepted = self.core.add_peer(
                &mut self.pattern,
                NewPeer {
                    remote: endpoint.to_string(),
                    id,
                    out: out_w,
                    inn: in_r,
                    identity: Vec::new(),
                    alias: None,
                    link: Link::Reactor(r),
                },
            );
            if !accepted {
                return Err(Error::invalid("PAIR socket already has a peer"));
            }
            Some((id, out_r, in_w))
        } else {
            None
        };
        self.core.hub.send(
            r,
            Cmd::Connect {
                sock: self.core.shared.clone(),
                opts: self.opts_arc(),
                target,
                endpoint: endpoint.to_string(),
                alias,
                pipes,
            },
        );
        self.bound.push(Bound::Connect(endpoint.to_string()));
        Ok(())
    }

    /// inproc bind: register the name and attach connections that were waiting for it.
    fn bind_inproc(&mut self, name: &str, endpoint: &str) -> Result<()> {
        if !self.pattern.inproc() {
            return Err(Error::NotSupported);
        }
        let bound = InprocBound {
            sock: self.core.shared.clone(),
            sndhwm: self.core.opts.sndhwm,
            rcvhwm: self.core.opts.rcvhwm,
            routing_id: self.core.opts.routing_id.clone(),
        };
        for (p, _) in crate::runtime::inproc::bind(&self.core.hub, name, bound)? {
            self.core.add_or_reject(&mut self.pattern, p);
        }
        self.bound.push(Bound::Listen(endpoint.to_string()));
        self.last_endpoint = Some(endpoint.to_string());
        Ok(())
    }

    /// inproc connect: a pipe pair straight to the bound socket (or parked until it binds).
    /// HWMs add up over both ends, as in libzmq.
    fn connect_inproc(&mut self, name: &str, endpoint: &str) -> Result<()> {
        if !self.pattern.inproc() {
            return Err(Error::NotSupported);
        }
        let alias = if self.pattern.addresses_peers() {
            self.core.opts.connect_routing_id.take()
        } else {
            None
        };
        let ours = crate::runtime::inproc::connect(
            &self.core.hub,
            name,
            crate::runtime::inproc::Connector {
                endpoint,
                sock: &self.core.shared,
                sndhwm: self.core.opts.sndhwm,
                rcvhwm: self.core.opts.rcvhwm,
                routing_id: &self.core.opts.routing_id,
                alias,
                inline: self.core.inline,
            },
        );
        let id_here = ours.id;
        let accepted = self.core.add_peer(&mut self.pattern, ours);
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
            crate::runtime::inproc::unbind(&self.core.hub, name, self.core.shared.id);
            return Ok(());
        }
        let sock = self.core.shared.id;
        self.core.hub.broadcast(|| Cmd::Unbind {
            sock,
            endpoint: endpoint.to_string(),
        });
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
                if let Some(&slot) = self.core.by_id.get(&id) {
                    let p = &mut self.core.peers[slot];
                    p.out.close();
                    self.core.hub.flush(&p.link, p.id);
                    self.core.remove_peer(&mut self.pattern, slot);
                }
            }
            return Ok(());
        }
        let sock = self.core.shared.id;
        self.core.hub.broadcast(|| Cmd::Disconnect {
            sock,
            endpoint: endpoint.to_string(),
        });
        Ok(())
    }
}
