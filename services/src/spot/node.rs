//! A SPOT node: one PUB that publishes this node's messages, one SUB connected to the peers'
//! PUBs (a full mesh, one hop, from manual peers and/or a [`Discovery`]), and local
//! subscribers with their own queues. A message is `[topic][part…]` on the wire. A published
//! message goes to the matching local subscribers and out on the PUB; a message from a peer
//! is delivered locally only, never published again (no loops).
//!
//! No worker thread stands between the SUB and the subscribers (zlink's sleeps 1 ms when
//! idle, which sets its latency): a receiving subscriber reads the SUB itself, taking its
//! own messages in place and queueing the other subscribers' (`receive.rs`), and waits as
//! one leader among followers on the SUB's readiness fd (the crate's `waiting` module). A
//! local delivery wakes a parked leader through an inproc wake-up pair.

use std::collections::BTreeSet;

use slab::Slab;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ringlink::{Context, Error, Result, Socket, SocketOption, SocketType, DONTWAIT};

use super::queue::MsgQueue;
use super::receive::Rest;
use super::sub::SpotSub;
use super::topics::{check_topic, FilterChange, Subscriptions};
use crate::discovery::Discovery;
use crate::registrar::{advertisable, Registrar};
use crate::waiting::Waiting;
use crate::wire::{Provider, ServiceType};

/// The service name a node registers under when none is given (zlink's).
pub const DEFAULT_SERVICE: &str = "spot-node";
const PUMP_BYTES: usize = 256 << 10;
const PUMP_FRAMES: usize = 8192;

/// Messages per batch handed to the PUB by `publish_repeat` / `publish_many` (built on
/// the stack).
const PUBLISH_CHUNK: usize = 256;

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves its state consistent: a panic elsewhere does not poison.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug, Default)]
pub(super) struct Subs {
    pub(super) table: Subscriptions,
    /// Subscriber id → its queue (ids are slab keys: a lookup is an index).
    pub(super) queues: Slab<MsgQueue>,
    pub(super) dropped: u64,
}

/// The SUB and what only its holder touches.
#[derive(Debug)]
pub(super) struct SubSide {
    pub(super) sub: Socket,
    pub(super) wake_rx: Socket,
    pub(super) buf: Vec<u8>,
    pub(super) lens: Vec<usize>,
    pub(super) more: Vec<bool>,
    /// What of the last batch read into `buf` is not delivered yet.
    pub(super) rest: Rest,
    /// Peers connected by hand, and from the discovery (an endpoint in both stays until
    /// neither wants it).
    manual: BTreeSet<String>,
    discovered: BTreeSet<String>,
    /// Endpoints this node advertised: never connected to from the discovery.
    own: BTreeSet<String>,
}

#[derive(Debug)]
struct Publisher {
    sock: Socket,
    binds: Vec<String>,
}

/// What a node's handles share.
#[derive(Debug)]
pub(super) struct Node {
    id: Vec<u8>,
    pub(super) subs: Mutex<Subs>,
    pub(super) side: Mutex<SubSide>,
    pub(super) fds: [RawFd; 2],
    pub(super) waiting: Waiting,
    wake_tx: Mutex<Socket>,
    /// A wake-up is in flight to the parked leader.
    pub(super) wake_pending: AtomicBool,
    publisher: Mutex<Publisher>,
}

/// Configures and starts a [`SpotNode`].
#[derive(Debug)]
pub struct SpotNodeBuilder {
    ctx: Context,
    pub_options: Vec<SocketOption>,
    sub_options: Vec<SocketOption>,
    registries: Vec<String>,
    ack_timeout: Duration,
    heartbeat_interval: Duration,
}

impl SpotNodeBuilder {
    /// A registry's ROUTER endpoint to register with; several give failover.
    pub fn registry(mut self, router_endpoint: &str) -> Self {
        self.registries.push(router_endpoint.to_string());
        self
    }

    /// An option for the node's PUB (zlink's `spot_node_setsockopt` with role PUB), e.g.
    /// `SndHwm`: a PUB drops what a peer at its high-water mark cannot take.
    pub fn pub_option(mut self, opt: SocketOption) -> Self {
        self.pub_options.push(opt);
        self
    }

    /// An option for the node's SUB (role SUB), e.g. `RcvHwm`.
    pub fn sub_option(mut self, opt: SocketOption) -> Self {
        self.sub_options.push(opt);
        self
    }

    /// How long a registry has to acknowledge a registration (default 2 s).
    pub fn ack_timeout(mut self, t: Duration) -> Self {
        self.ack_timeout = t;
        self
    }

    /// How often a registered node sends heartbeats (default 5 s).
    pub fn heartbeat_interval(mut self, t: Duration) -> Self {
        self.heartbeat_interval = t;
        self
    }

    /// Create the sockets (and, with registries, the registration worker).
    ///
    /// # Errors
    /// `InvalidArgument` on an inline context (a waiting subscriber needs reactor threads)
    /// or zero times; socket errors as [`Context::socket`] and [`Socket::set_option`].
    pub fn start(self) -> Result<SpotNode> {
        let mut publisher = self.ctx.socket(SocketType::Pub)?;
        if publisher.is_inline() {
            return Err(Error::InvalidArgument(
                "a SPOT node needs a context with reactor threads".into(),
            ));
        }
        publisher.set_option(SocketOption::Linger(0))?;
        for o in self.pub_options {
            publisher.set_option(o)?;
        }
        let mut sub = self.ctx.socket(SocketType::Sub)?;
        sub.set_option(SocketOption::Linger(0))?;
        for o in self.sub_options {
            sub.set_option(o)?;
        }
        let (wake_tx, wake_rx) = crate::control::pair(&self.ctx, "spot-wake")?;
        // zlink: a random u32 ≠ 0 as the node id, its bytes the registration routing id (the
        // first byte non-zero here: a leading zero is reserved for generated ids).
        let id = loop {
            let b = fastrand::u32(..).to_ne_bytes();
            if b[0] != 0 {
                break b.to_vec();
            }
        };
        let registrar = if self.registries.is_empty() {
            None
        } else {
            Some(Registrar::start(
                &self.ctx,
                &id,
                self.registries,
                self.ack_timeout,
                self.heartbeat_interval,
            )?)
        };
        let node = Node {
            id,
            subs: Mutex::new(Subs::default()),
            fds: [sub.fd(), wake_rx.fd()],
            side: Mutex::new(SubSide {
                sub,
                wake_rx,
                buf: vec![0; PUMP_BYTES],
                lens: vec![0; PUMP_FRAMES],
                more: vec![false; PUMP_FRAMES],
                rest: Rest::default(),
                manual: BTreeSet::new(),
                discovered: BTreeSet::new(),
                own: BTreeSet::new(),
            }),
            waiting: Waiting::default(),
            wake_tx: Mutex::new(wake_tx),
            wake_pending: AtomicBool::new(false),
            publisher: Mutex::new(Publisher {
                sock: publisher,
                binds: Vec::new(),
            }),
        };
        Ok(SpotNode {
            node: Arc::new(node),
            registrar: registrar.map(Mutex::new),
        })
    }
}

/// A SPOT node (shared between threads: every method takes `&self`).
#[derive(Debug)]
pub struct SpotNode {
    node: Arc<Node>,
    registrar: Option<Mutex<Registrar>>,
}

impl SpotNode {
    /// A node on `ctx` with a manual mesh and no registration.
    ///
    /// # Errors
    /// As [`SpotNodeBuilder::start`].
    pub fn new(ctx: &Context) -> Result<SpotNode> {
        SpotNode::builder(ctx).start()
    }

    /// A builder on `ctx`.
    pub fn builder(ctx: &Context) -> SpotNodeBuilder {
        SpotNodeBuilder {
            ctx: ctx.clone(),
            pub_options: Vec::new(),
            sub_options: Vec::new(),
            registries: Vec::new(),
            ack_timeout: Duration::from_secs(2),
            heartbeat_interval: Duration::from_secs(5),
        }
    }

    /// The node's id (its registration routing id).
    pub fn id(&self) -> &[u8] {
        &self.node.id
    }

    /// Bind the node's PUB; returns the endpoint as bound (a wildcard port resolved).
    ///
    /// # Errors
    /// As [`Socket::bind`].
    pub fn bind(&self, endpoint: &str) -> Result<String> {
        let mut p = lock(&self.node.publisher);
        p.sock.bind(endpoint)?;
        let ep = p
            .sock
            .last_endpoint()
            .unwrap_or_else(|| endpoint.to_string());
        p.binds.push(ep.clone());
        Ok(ep)
    }

    /// Receive the messages a peer node publishes (its PUB endpoint).
    ///
    /// # Errors
    /// As [`Socket::connect`].
    pub fn connect_peer(&self, pub_endpoint: &str) -> Result<()> {
        let mut side = lock(&self.node.side);
        if !side.discovered.contains(pub_endpoint) && !side.manual.contains(pub_endpoint) {
            side.sub.connect(pub_endpoint)?;
        }
        side.manual.insert(pub_endpoint.to_string());
        Ok(())
    }

    /// Stop receiving from a peer node connected with [`SpotNode::connect_peer`].
    ///
    /// # Errors
    /// `NotFound` when not connected to it by hand.
    pub fn disconnect_peer(&self, pub_endpoint: &str) -> Result<()> {
        let mut side = lock(&self.node.side);
        if !side.manual.remove(pub_endpoint) {
            return Err(Error::NotFound);
        }
        if !side.discovered.contains(pub_endpoint) {
            side.sub.disconnect(pub_endpoint)?;
        }
        Ok(())
    }

    /// Register this node as `service` (default [`DEFAULT_SERVICE`]) of type SPOT, so that
    /// nodes following it through a discovery connect to `advertise` (default: the only
    /// bound endpoint, a wildcard host replaced by the loopback address). Waits for the
    /// registry's answer; returns the advertised endpoint.
    ///
    /// # Errors
    /// `NotSupported` without registries (zlink: ENOTSUP); `InvalidArgument` when no
    /// endpoint can be advertised or a registry refuses; `HostUnreachable` when no registry
    /// answered in time.
    pub fn register(&self, service: Option<&str>, advertise: Option<&str>) -> Result<String> {
        let Some(reg) = &self.registrar else {
            return Err(Error::NotSupported);
        };
        let endpoint = match advertise {
            Some(e) if !e.is_empty() => e.to_string(),
            _ => {
                let p = lock(&self.node.publisher);
                let [ep] = &p.binds[..] else {
                    return Err(Error::InvalidArgument(
                        "no advertise endpoint given and not exactly one bind".into(),
                    ));
                };
                advertisable(ep)
            }
        };
        lock(&self.node.side).own.insert(endpoint.clone());
        let service = service.unwrap_or(DEFAULT_SERVICE);
        lock(reg).register(ServiceType::Spot, service, &endpoint, 1)?;
        Ok(endpoint)
    }

    /// Unregister `service` (the registry does not answer; heartbeats for it stop).
    ///
    /// # Errors
    /// `NotSupported` without registries; `Terminated` once the context is shut down.
    pub fn unregister(&self, service: &str) -> Result<()> {
        let Some(reg) = &self.registrar else {
            return Err(Error::NotSupported);
        };
        lock(reg).unregister(service)
    }

    /// Keep the mesh connected to every node `discovery` lists under `service` (this node
    /// excepted), as the lists change: the SUB connects to new nodes and disconnects from
    /// vanished ones, from the discovery's thread as each change arrives.
    ///
    /// # Errors
    /// `InvalidArgument` when `discovery` does not follow SPOT services.
    pub fn follow(&self, discovery: &Discovery, service: &str) -> Result<()> {
        if discovery.service_type() != ServiceType::Spot {
            return Err(Error::InvalidArgument(
                "a SPOT node follows a discovery of SPOT services".into(),
            ));
        }
        discovery.subscribe(service);
        let weak = Arc::downgrade(&self.node);
        let name = service.to_string();
        // The listener first, then the snapshot, both applied under the SUB's lock: a change
        // the snapshot misses is applied after it.
        discovery.on_change(move |c| {
            let Some(node) = weak.upgrade() else {
                return false;
            };
            if c.name == name {
                node.apply_mesh(&c.providers);
            }
            true
        });
        let mut side = lock(&self.node.side);
        let providers = discovery.providers(service);
        self.node.apply_mesh_locked(&mut side, &providers);
        Ok(())
    }

    /// The peers the SUB is connected to now (manual and discovered).
    pub fn peers(&self) -> Vec<String> {
        let side = lock(&self.node.side);
        side.manual.union(&side.discovered).cloned().collect()
    }

    /// A new local subscriber.
    pub fn subscriber(&self) -> SpotSub {
        let mut g = lock(&self.node.subs);
        let id = g.queues.insert(MsgQueue::default()) as u64;
        SpotSub::new(id, self.node.clone())
    }

    /// Publish `parts` on `topic`: to the matching local subscribers, then to the peers
    /// (lossy, as PUB is: a peer at its high-water mark misses it).
    ///
    /// # Errors
    /// `InvalidArgument` for an empty or longer than 255 byte topic or no parts;
    /// `Terminated` once the context is shut down.
    pub fn publish<T: AsRef<[u8]>>(&self, topic: &[u8], parts: &[T]) -> Result<()> {
        check_topic(topic).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        if parts.is_empty() {
            return Err(Error::InvalidArgument("a message needs a part".into()));
        }
        self.node
            .deliver_local(topic, 1, |_| parts.iter().map(AsRef::as_ref));
        let mut p = lock(&self.node.publisher);
        // The topic frame and the parts as one message: one match and one commit.
        match parts {
            [one] => p.sock.send_multipart(&[topic, one.as_ref()], DONTWAIT),
            _ => {
                let all: Vec<&[u8]> = std::iter::once(topic)
                    .chain(parts.iter().map(AsRef::as_ref))
                    .collect();
                p.sock.send_multipart(&all, DONTWAIT)
            }
        }
    }

    /// Publish the one-part message `payload` on `topic` `count` times, with one lock of
    /// the local queues and the PUB for all of them (zlink's `spot_publish_many_const`).
    /// Returns `count`.
    ///
    /// # Errors
    /// As [`SpotNode::publish`].
    pub fn publish_repeat(&self, topic: &[u8], payload: &[u8], count: usize) -> Result<usize> {
        self.publish_each(topic, count, |_| payload)
    }

    /// Publish each of `payloads` as a one-part message on `topic`, with one lock of the
    /// local queues and the PUB for all of them. Returns how many.
    ///
    /// # Errors
    /// As [`SpotNode::publish`].
    pub fn publish_many<T: AsRef<[u8]>>(&self, topic: &[u8], payloads: &[T]) -> Result<usize> {
        self.publish_each(topic, payloads.len(), |i| payloads[i].as_ref())
    }

    fn publish_each<'a>(
        &self,
        topic: &[u8],
        count: usize,
        payload: impl Fn(usize) -> &'a [u8],
    ) -> Result<usize> {
        check_topic(topic).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        self.node
            .deliver_local(topic, count, |i| std::iter::once(payload(i)));
        let mut p = lock(&self.node.publisher);
        // Batches of `[topic, payload]` messages built on the stack: one pass and one
        // hand-off per peer for each.
        let mut chunk = [[topic, &[][..]]; PUBLISH_CHUNK];
        let mut done = 0;
        while done < count {
            let n = (count - done).min(PUBLISH_CHUNK);
            for (i, m) in chunk[..n].iter_mut().enumerate() {
                m[1] = payload(done + i);
            }
            done += p.sock.send_batch_parts(&chunk[..n], DONTWAIT)?;
        }
        Ok(count)
    }

    /// Messages dropped because a local subscriber's queue was full.
    pub fn dropped(&self) -> u64 {
        lock(&self.node.subs).dropped
    }

    /// Messages the node's PUB dropped for a peer whose pipe was at its high-water mark (the
    /// PUB's `SndHwm`; `SndHwm(0)` on the builder: none), counted once per peer.
    pub fn publisher_dropped(&self) -> u64 {
        lock(&self.node.publisher).sock.stats().msgs_dropped
    }
}

impl Node {
    pub(super) fn subs_lock(&self) -> MutexGuard<'_, Subs> {
        lock(&self.subs)
    }

    /// Make every waiting subscriber look again (a handler is being stopped).
    pub(super) fn wake_all(&self) {
        self.notify(false);
    }

    /// Queue `times` messages published here (message `i`'s parts: `parts(i)`) for the
    /// matching local subscribers.
    fn deliver_local<'p, I: Iterator<Item = &'p [u8]> + Clone>(
        &self,
        topic: &[u8],
        times: usize,
        parts: impl Fn(usize) -> I,
    ) {
        let mut g = lock(&self.subs);
        let Subs {
            table,
            queues,
            dropped,
            ..
        } = &mut *g;
        let mut any = false;
        for &id in table.recipients_cached(topic) {
            let q = &mut queues[id as usize];
            for i in 0..times {
                if q.push(topic, parts(i)) {
                    any = true;
                } else {
                    *dropped += 1;
                }
            }
        }
        drop(g);
        if any {
            self.notify(false);
        }
    }

    /// New messages are queued: let the waiting subscribers look, waking a parked leader
    /// unless the caller is that leader.
    pub(super) fn notify(&self, caller_leads: bool) {
        if self.waiting.poke() && !caller_leads && !self.wake_pending.swap(true, Ordering::AcqRel) {
            // A full pair already holds wake-ups; the fd is signalled either way.
            match lock(&self.wake_tx).send(b"", DONTWAIT) {
                Ok(()) | Err(Error::Again) => {}
                Err(e) => log::debug!("spot node: wake-up not sent: {e}"),
            }
        }
    }

    /// Apply a filter change to the SUB.
    pub(super) fn apply_filter(&self, change: FilterChange) -> Result<()> {
        let mut side = lock(&self.side);
        match change {
            FilterChange::Add(f) => side.sub.subscribe(&f),
            FilterChange::Remove(f) => side.sub.unsubscribe(&f),
        }
    }

    fn apply_mesh(&self, providers: &[Provider]) {
        let mut side = lock(&self.side);
        self.apply_mesh_locked(&mut side, providers);
    }

    fn apply_mesh_locked(&self, side: &mut SubSide, providers: &[Provider]) {
        let want: BTreeSet<String> = providers
            .iter()
            .filter(|p| p.routing_id != self.id && !side.own.contains(&p.endpoint))
            .map(|p| p.endpoint.clone())
            .collect();
        for ep in side.discovered.difference(&want) {
            if !side.manual.contains(ep) {
                if let Err(e) = side.sub.disconnect(ep) {
                    log::debug!("spot node: disconnect {ep}: {e}");
                }
            }
        }
        for ep in want.difference(&side.discovered) {
            if !side.manual.contains(ep) {
                if let Err(e) = side.sub.connect(ep) {
                    log::warn!("spot node: cannot connect to {ep}: {e}");
                }
            }
        }
        side.discovered = want;
    }
}
