//! The gateway (zlink-spec §5.5): one ROUTER in front of every service's providers, fed by a
//! [`Discovery`]. `send` picks a provider of the named service (round-robin or weighted),
//! `recv` returns a reply with the service it came from.
//!
//! A `Gateway` is shared between threads (`&self` methods): the ROUTER sits behind a mutex
//! that is never held while waiting, so a thread blocked in `recv` never stalls another's
//! `send` (zlink's single mutex does): a blocking call waits on the ROUTER's readiness fd as
//! one leader among followers (the crate's `waiting` module). Discovery's changes are applied
//! from the discovery's thread as they arrive (`Discovery::on_change`): new providers are
//! connected with their routing id at once, vanished ones disconnected. A provider that is not
//! connected yet is skipped for the next candidate (ROUTER_MANDATORY tells).
//!
//! Needs a context with reactor threads (the readiness fd does not progress inline).

mod pool;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ringlink::{Context, Error, Flags, Result, Socket, SocketOption, SocketType, DONTWAIT};

use crate::discovery::{Change, Discovery};
use crate::waiting::Waiting;
use pool::Pools;
pub use pool::{LoadBalance, Pool};

/// The gateway's state behind its mutex.
#[derive(Debug)]
struct Inner {
    router: Socket,
    pools: Pools,
    /// Connected endpoints and the routing id they were connected with.
    endpoints: HashMap<String, Vec<u8>>,
    /// Routing id → service, to name replies.
    services: HashMap<Vec<u8>, String>,
    /// Scratch: the providers picked for a routed batch.
    picks: Vec<usize>,
}

/// Requests per routed batch of `send_many` / `send_repeat`.
const ROUTED_BATCH: usize = 1024;

/// A load-balancing client of the services a discovery sees.
#[derive(Debug)]
pub struct Gateway {
    /// Shared with the discovery's change callback, which applies changes as they come.
    inner: Arc<Mutex<Inner>>,
    fd: std::os::fd::RawFd,
    waiting: Waiting,
}

impl Gateway {
    /// A gateway over `discovery`'s services. `routing_id`: the ROUTER's own id (providers
    /// see it on requests; default: generated).
    ///
    /// # Errors
    /// `InvalidArgument` on an inline context (no reactor thread to make progress while a
    /// call waits); socket errors as [`Context::socket`].
    pub fn new(ctx: &Context, discovery: &Discovery, routing_id: Option<&[u8]>) -> Result<Gateway> {
        let mut router = ctx.socket(SocketType::Router)?;
        if router.is_inline() {
            return Err(Error::InvalidArgument(
                "a gateway needs a context with reactor threads".into(),
            ));
        }
        router.set_option(SocketOption::RouterMandatory(true))?;
        router.set_option(SocketOption::RouterHandover(true))?;
        router.set_option(SocketOption::Linger(0))?;
        if let Some(id) = routing_id {
            router.set_option(SocketOption::RoutingId(id.to_vec()))?;
        }
        let fd = router.fd();
        let inner = Arc::new(Mutex::new(Inner {
            router,
            pools: Pools::default(),
            endpoints: HashMap::new(),
            services: HashMap::new(),
            picks: Vec::new(),
        }));
        // Changes are applied from the discovery's thread as they arrive, so providers are
        // connected before the first request. The callback first, then the snapshot, both
        // under the gateway's lock: a change the snapshot misses is applied after it.
        let weak = Arc::downgrade(&inner);
        discovery.on_change(move |c| {
            let Some(inner) = weak.upgrade() else {
                return false;
            };
            lock(&inner).apply(c.clone());
            true
        });
        {
            let mut g = lock(&inner);
            for name in discovery.services() {
                let providers = discovery.providers(&name);
                g.apply(Change {
                    name,
                    providers,
                    seq: 0,
                });
            }
        }
        Ok(Gateway {
            inner,
            fd,
            waiting: Waiting::default(),
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>> {
        Ok(lock(&self.inner))
    }

    /// Choose how `service`'s provider is picked (default round-robin).
    pub fn set_load_balance(&self, service: &str, lb: LoadBalance) -> Result<()> {
        self.lock()?.pools.entry(service).set_strategy(lb);
        Ok(())
    }

    /// How many of `service`'s providers are connected now.
    pub fn connection_count(&self, service: &str) -> Result<usize> {
        let mut g = self.lock()?;
        let connected: Vec<Vec<u8>> = g.router.peers().into_iter().map(|p| p.routing_id).collect();
        Ok(g.pools.get(service).map_or(0, |p| {
            p.providers()
                .iter()
                .filter(|p| connected.contains(&p.routing_id))
                .count()
        }))
    }

    /// Send a request (one or more frames) to a provider of `service`.
    ///
    /// # Errors
    /// `HostUnreachable` when the service has no connected provider; `Again` with
    /// `DONTWAIT` when every connected provider is full; `InvalidArgument` for no parts or
    /// flags other than `DONTWAIT`; `Terminated` once the context is shut down.
    pub fn send<T: AsRef<[u8]>>(
        &self,
        service: &str,
        parts: &[T],
        flags: impl Into<Flags>,
    ) -> Result<()> {
        self.send_with(service, None, parts, flags.into())
    }

    /// Send a request to the provider of `service` with this routing id.
    ///
    /// # Errors
    /// As [`Gateway::send`]; `HostUnreachable` also when that provider is not in the pool.
    pub fn send_to<T: AsRef<[u8]>>(
        &self,
        service: &str,
        routing_id: &[u8],
        parts: &[T],
        flags: impl Into<Flags>,
    ) -> Result<()> {
        self.send_with(service, Some(routing_id), parts, flags.into())
    }

    fn send_with<T: AsRef<[u8]>>(
        &self,
        service: &str,
        to: Option<&[u8]>,
        parts: &[T],
        flags: Flags,
    ) -> Result<()> {
        if parts.is_empty() {
            return Err(Error::InvalidArgument("a request needs a frame".into()));
        }
        if !(flags - DONTWAIT).is_empty() {
            return Err(Error::InvalidArgument(
                "gateway sends take DONTWAIT only".into(),
            ));
        }
        // A failed send asks the full peers to signal the fd when room appears.
        let dontwait = flags.contains(DONTWAIT);
        // Most sends go at once: tried before the waiting machinery is set up.
        match self.lock()?.try_send(service, to, parts)? {
            Sent::Yes => return Ok(()),
            Sent::Unreachable => return Err(Error::HostUnreachable),
            Sent::Full if dontwait => return Err(Error::Again),
            Sent::Full => {}
        }
        self.blocking(|g| match g.try_send(service, to, parts)? {
            Sent::Yes => Ok(Some(())),
            Sent::Unreachable => Err(Error::HostUnreachable),
            Sent::Full if dontwait => Err(Error::Again),
            Sent::Full => Ok(None),
        })
    }

    /// Send the one-frame request `payload` to `service` `count` times, each to the next
    /// provider as [`Gateway::send`] picks (zlink's `gateway_send_many_const`); see
    /// [`Gateway::send_many`].
    ///
    /// # Errors
    /// As [`Gateway::send`].
    pub fn send_repeat(
        &self,
        service: &str,
        payload: &[u8],
        count: usize,
        flags: impl Into<Flags>,
    ) -> Result<usize> {
        self.send_each::<&[u8]>(service, Payloads::Repeat(payload, count), flags.into())
    }

    /// Send each of `payloads` as a one-frame request to `service`, each to the next
    /// provider as [`Gateway::send`] picks, under one lock for as many as can go at once.
    /// Blocks while every provider is full unless `DONTWAIT`; returns how many were sent
    /// (fewer when the service lost its last connected provider midway, or `DONTWAIT` found
    /// everyone full). An error is returned only if it hits the first request.
    ///
    /// # Errors
    /// As [`Gateway::send`].
    pub fn send_many<T: AsRef<[u8]>>(
        &self,
        service: &str,
        payloads: &[T],
        flags: impl Into<Flags>,
    ) -> Result<usize> {
        self.send_each(service, Payloads::Each(payloads), flags.into())
    }

    fn send_each<T: AsRef<[u8]>>(
        &self,
        service: &str,
        payloads: Payloads<'_, T>,
        flags: Flags,
    ) -> Result<usize> {
        let count = payloads.len();
        let payload = |i| payloads.get(i);
        if !(flags - DONTWAIT).is_empty() {
            return Err(Error::InvalidArgument(
                "gateway sends take DONTWAIT only".into(),
            ));
        }
        let dontwait = flags.contains(DONTWAIT);
        let mut sent = 0;
        while sent < count {
            let (n, end) = self.blocking(|g| {
                let mut n = 0;
                while sent + n < count {
                    // As many as go at once along the pool's order, then one at a time
                    // for the message that did not (skipping a provider that is full or
                    // not connected).
                    n += g.try_send_routed(service, payloads, sent + n)?;
                    if sent + n == count {
                        break;
                    }
                    match g.try_send(service, None, &[payload(sent + n)])? {
                        Sent::Yes => n += 1,
                        Sent::Unreachable if sent + n == 0 => return Err(Error::HostUnreachable),
                        Sent::Unreachable => return Ok(Some((n, true))),
                        Sent::Full if n > 0 => return Ok(Some((n, false))),
                        Sent::Full if dontwait && sent == 0 => return Err(Error::Again),
                        Sent::Full if dontwait => return Ok(Some((0, true))),
                        Sent::Full => return Ok(None),
                    }
                }
                Ok(Some((n, false)))
            })?;
            sent += n;
            if end {
                break;
            }
        }
        Ok(sent)
    }

    /// Receive a reply: the service it came from (empty if the provider is no longer known)
    /// and its frames.
    ///
    /// # Errors
    /// `Again` with `DONTWAIT` when nothing is queued; `Terminated` once the context is shut
    /// down.
    pub fn recv(&self, flags: impl Into<Flags>) -> Result<(String, Vec<Vec<u8>>)> {
        let timeout = flags.into().contains(DONTWAIT).then_some(Duration::ZERO);
        self.recv_timeout(timeout)
    }

    /// [`Gateway::recv`] waiting at most `timeout` (`None`: no limit; zero: not at all).
    ///
    /// # Errors
    /// `Again` when nothing came in time; `Terminated` once the context is shut down.
    pub fn recv_timeout(&self, timeout: Option<Duration>) -> Result<(String, Vec<Vec<u8>>)> {
        let dontwait = timeout == Some(Duration::ZERO);
        // The clock is read only when a wait begins.
        let mut deadline = None;
        if let Some(t) = timeout.filter(|t| !t.is_zero()) {
            if let Some(r) = self.try_recv()? {
                return Ok(r);
            }
            deadline = Some(std::time::Instant::now() + t);
        }
        self.blocking_until(deadline, |g| match g.router.recv_multipart(DONTWAIT) {
            Ok(parts) => Ok(Some(g.name_reply(parts))),
            Err(Error::Again) if dontwait => Err(Error::Again),
            Err(Error::Again) => Ok(None),
            Err(e) => Err(e),
        })
    }

    /// One reply if one is queued.
    fn try_recv(&self) -> Result<Option<(String, Vec<Vec<u8>>)>> {
        let mut g = self.lock()?;
        match g.router.recv_multipart(DONTWAIT) {
            Ok(parts) => Ok(Some(g.name_reply(parts))),
            Err(Error::Again) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Wait from an event loop instead of a blocked thread (a binding's): after a `DONTWAIT`
    /// call failed with `Again`, call this, retry every call that failed, and if they fail
    /// again, poll the returned fd for POLLIN (level-triggered) and call this again when it
    /// is readable. Call [`Gateway::wait_done`] once no call waits any more. The fd may
    /// change from one call to the next (the ROUTER's readiness fd while the loop leads the
    /// gateway's waiting, a notifier while a blocked thread does). One event loop per
    /// gateway; until `wait_done`, threads blocked in this gateway's calls rely on its calls.
    ///
    /// # Errors
    /// `Terminated` once the context is shut down; `Io` if the notifier cannot be made.
    pub fn wait_fd(&self) -> Result<std::os::fd::RawFd> {
        self.waiting.loop_step(self.fd, || {
            self.lock()?.router.events()?;
            Ok(())
        })
    }

    /// The event loop of [`Gateway::wait_fd`] waits no more (idempotent).
    pub fn wait_done(&self) {
        self.waiting.loop_done();
    }

    /// Run `op` (non-blocking, under the lock) until it yields a result, waiting as the leader or a follower.
    fn blocking<R>(&self, op: impl FnMut(&mut Inner) -> Result<Option<R>>) -> Result<R> {
        self.blocking_until(None, op)
    }

    /// [`Gateway::blocking`] until `deadline` (`Again` then).
    fn blocking_until<R>(
        &self,
        deadline: Option<std::time::Instant>,
        mut op: impl FnMut(&mut Inner) -> Result<Option<R>>,
    ) -> Result<R> {
        self.waiting.run(&[self.fd], deadline, |rearm| {
            let mut g = self.lock()?;
            if rearm {
                g.router.events()?;
            }
            op(&mut g)
        })
    }
}

/// A batch's payloads: each its own, or one payload repeated.
enum Payloads<'a, T> {
    Each(&'a [T]),
    Repeat(&'a [u8], usize),
}

impl<T> Clone for Payloads<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Payloads<'_, T> {}

impl<'a, T: AsRef<[u8]>> Payloads<'a, T> {
    fn len(&self) -> usize {
        match self {
            Payloads::Each(p) => p.len(),
            Payloads::Repeat(_, n) => *n,
        }
    }

    fn get(&self, i: usize) -> &'a [u8] {
        match *self {
            Payloads::Each(p) => p[i].as_ref(),
            Payloads::Repeat(p, _) => p,
        }
    }

    /// Send messages `from..from + n` to the peer `rid` (as far as it has room now).
    fn send_run(&self, router: &mut Socket, rid: &[u8], from: usize, n: usize) -> Result<usize> {
        match *self {
            Payloads::Each(p) => router.send_routed_many(rid, &p[from..from + n], DONTWAIT),
            Payloads::Repeat(p, _) => router.send_routed_repeat(rid, p, n, DONTWAIT),
        }
    }
}

enum Sent {
    Yes,
    Full,
    Unreachable,
}

impl Inner {
    /// `[provider id][parts…]` → (its service, parts).
    fn name_reply(&self, mut parts: Vec<Vec<u8>>) -> (String, Vec<Vec<u8>>) {
        let rid = parts.remove(0);
        let service = self.services.get(&rid).cloned().unwrap_or_default();
        (service, parts)
    }
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    // Consistent after every call: a panic elsewhere does not poison it.
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    /// Apply a discovery change: connect new providers (with their routing id), disconnect
    /// vanished ones. A provider that cannot be connected (an endpoint this process cannot
    /// use, the context shut down) is logged and left out of the pool; the others go on.
    fn apply(&mut self, c: Change) {
        let pool = self.pools.entry(&c.name);
        let old: Vec<String> = pool
            .providers()
            .iter()
            .map(|p| p.endpoint.clone())
            .collect();
        for ep in old {
            if !c.providers.iter().any(|p| p.endpoint == ep) {
                if let Some(rid) = self.endpoints.remove(&ep) {
                    self.services.remove(&rid);
                    if let Err(e) = self.router.disconnect(&ep) {
                        log::debug!("gateway: disconnect {ep}: {e}");
                    }
                }
            }
        }
        let mut usable = Vec::with_capacity(c.providers.len());
        for p in c.providers {
            if self.endpoints.get(&p.endpoint) != Some(&p.routing_id) {
                if self.endpoints.remove(&p.endpoint).is_some() {
                    // Re-registered with another id: connect again with the new one.
                    if let Err(e) = self.router.disconnect(&p.endpoint) {
                        log::debug!("gateway: disconnect {}: {e}", p.endpoint);
                    }
                }
                let connected = self
                    .router
                    .set_option(SocketOption::ConnectRoutingId(p.routing_id.clone()))
                    .and_then(|()| self.router.connect(&p.endpoint));
                if let Err(e) = connected {
                    log::warn!(
                        "gateway: provider {} of {:?} left out: {e}",
                        p.endpoint,
                        c.name
                    );
                    continue;
                }
                self.endpoints
                    .insert(p.endpoint.clone(), p.routing_id.clone());
            }
            self.services.insert(p.routing_id.clone(), c.name.clone());
            usable.push(p);
        }
        self.pools
            .get_mut(&c.name)
            .expect("inserted above")
            .set_providers(usable);
    }

    /// Send the requests of `payloads` from `from` on, each to the provider the pool picks,
    /// as far as they go at once: a run for one provider (a pool of one, a weighted share)
    /// with one routed call, otherwise up to `ROUTED_BATCH` in one routed batch. Stops at the
    /// first that cannot go now; returns how many went (the picks of the others are taken
    /// back).
    fn try_send_routed<T: AsRef<[u8]>>(
        &mut self,
        service: &str,
        payloads: Payloads<'_, T>,
        from: usize,
    ) -> Result<usize> {
        let Inner {
            router,
            pools,
            picks,
            ..
        } = self;
        let Some(pool) = pools.get_mut(service) else {
            return Ok(0);
        };
        let left = payloads.len() - from;
        let unsent = |e: Error| match e {
            Error::Again | Error::HostUnreachable => Ok(0),
            e => Err(e),
        };
        if let Some((i, run)) = pool.peek_run(left).filter(|&(_, run)| run > 1) {
            let rid = &pool.providers()[i].routing_id;
            let sent = payloads.send_run(router, rid, from, run).or_else(unsent)?;
            pool.skip(sent);
            return Ok(sent);
        }
        picks.clear();
        if !pool.pick_many(left.min(ROUTED_BATCH), picks) {
            return Ok(0);
        }
        let providers = pool.providers();
        let batch: Vec<(&[u8], &[u8])> = picks
            .iter()
            .enumerate()
            .map(|(j, &i)| (&providers[i].routing_id[..], payloads.get(from + j)))
            .collect();
        let sent = router.send_routed_batch(&batch, DONTWAIT).or_else(unsent)?;
        pool.unpick((picks.len() - sent) as u64);
        Ok(sent)
    }

    fn try_send<T: AsRef<[u8]>>(
        &mut self,
        service: &str,
        to: Option<&[u8]>,
        parts: &[T],
    ) -> Result<Sent> {
        // Split borrows: the pool's routing ids are sent from in place (no copy per send).
        let Inner { router, pools, .. } = self;
        let Some(pool) = pools.get_mut(service) else {
            return Ok(Sent::Unreachable);
        };
        let mut full = false;
        let mut try_one = |rid: &[u8]| -> Result<Option<Sent>> {
            match router.send_routed(rid, parts, DONTWAIT) {
                Ok(()) => Ok(Some(Sent::Yes)),
                // Not connected yet (or gone): the next provider.
                Err(Error::HostUnreachable) => Ok(None),
                Err(Error::Again) => {
                    full = true;
                    Ok(None)
                }
                Err(e) => Err(e),
            }
        };
        match to {
            Some(rid) if pool.providers().iter().any(|p| p.routing_id == rid) => {
                if let Some(s) = try_one(rid)? {
                    return Ok(s);
                }
            }
            Some(_) => return Ok(Sent::Unreachable),
            None => {
                for p in pool.candidates() {
                    if let Some(s) = try_one(&p.routing_id)? {
                        return Ok(s);
                    }
                }
            }
        }
        Ok(if full { Sent::Full } else { Sent::Unreachable })
    }
}
