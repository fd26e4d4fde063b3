//! The receiver (zlink-spec §5.4): the request-handler side. The application receives
//! `[gateway id][parts…]` on the receiver's ROUTER and replies with `[gateway id][parts…]` on
//! the same socket; a worker thread keeps the registrations (acks, heartbeats, failover
//! between registries) on a DEALER whose routing id is the ROUTER's, so the registry records
//! the id gateways must connect with.

mod state;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ringlink::{
    Context, Error, Monitor, MonitorEventKind, PollItem, Result, Socket, SocketOption, SocketType,
    DONTWAIT, POLLIN, POLLOUT,
};

use crate::control::{self, nowait, text, verb};
use crate::wire::{Message, ServiceType};
pub use state::{Action, ReceiverState, Refusal};

/// Configures and starts a [`Receiver`].
#[derive(Debug)]
pub struct ReceiverBuilder {
    ctx: Context,
    routing_id: Option<Vec<u8>>,
    registries: Vec<String>,
    ack_timeout: Duration,
    heartbeat_interval: Duration,
}

impl ReceiverBuilder {
    /// The ROUTER's routing id, kept across restarts so gateways reach the new process
    /// (default: 5 random bytes, the first non-zero: zlink uses `0x00` + a random u32, but a
    /// leading zero byte is reserved for ids a ROUTER generates, as in libzmq).
    pub fn routing_id(mut self, id: &[u8]) -> Self {
        self.routing_id = Some(id.to_vec());
        self
    }

    /// A registry's ROUTER endpoint; several give failover, tried in order.
    pub fn registry(mut self, router_endpoint: &str) -> Self {
        self.registries.push(router_endpoint.to_string());
        self
    }

    /// How long a registry has to acknowledge a request before the next one is tried
    /// (default 2 s).
    pub fn ack_timeout(mut self, t: Duration) -> Self {
        self.ack_timeout = t;
        self
    }

    /// How often registered services send heartbeats (default 5 s; keep it well under the
    /// registry's heartbeat timeout, 15 s by default).
    pub fn heartbeat_interval(mut self, t: Duration) -> Self {
        self.heartbeat_interval = t;
        self
    }

    /// Create the sockets and start the worker.
    ///
    /// # Errors
    /// `InvalidArgument` without a registry, with an empty routing id or zero times;
    /// connect errors as [`Socket::connect`]; `Io` if the thread cannot be spawned.
    pub fn start(self) -> Result<Receiver> {
        if self.registries.is_empty() {
            return Err(Error::InvalidArgument("a receiver needs a registry".into()));
        }
        if self.ack_timeout.is_zero() || self.heartbeat_interval.is_zero() {
            return Err(Error::InvalidArgument(
                "receiver ack timeout and heartbeat interval must be > 0".into(),
            ));
        }
        let rid = self.routing_id.unwrap_or_else(|| {
            let mut id = vec![fastrand::u8(1..)];
            id.extend_from_slice(&fastrand::u32(..).to_be_bytes());
            id
        });
        let mut router = self.ctx.socket(SocketType::Router)?;
        router.set_option(SocketOption::RoutingId(rid.clone()))?;
        // A restarted gateway with the same id takes its connection over.
        router.set_option(SocketOption::RouterHandover(true))?;
        let mut dealer = self.ctx.socket(SocketType::Dealer)?;
        dealer.set_option(SocketOption::RoutingId(rid.clone()))?;
        dealer.set_option(SocketOption::Linger(0))?;
        let monitor = dealer.monitor()?;
        dealer.connect(&self.registries[0])?;
        let (ctl, worker_ctl) = control::pair(&self.ctx, "receiver")?;
        let worker = Worker {
            state: ReceiverState::new(
                self.registries.len(),
                self.ack_timeout,
                self.heartbeat_interval,
                fastrand::Rng::new(),
            ),
            registries: self.registries,
            connected: 0,
            dealer,
            monitor,
            ctl: worker_ctl,
            waiting: false,
            outbox: VecDeque::new(),
            ready: false,
        };
        let thread = control::spawn("receiver", move || worker.run())?;
        Ok(Receiver {
            router,
            routing_id: rid,
            binds: Vec::new(),
            ctl,
            thread,
        })
    }
}

/// A request handler registered with registries; dropping it unregisters nothing (the
/// registry expires it by heartbeat) and stops the worker.
#[derive(Debug)]
pub struct Receiver {
    router: Socket,
    routing_id: Vec<u8>,
    binds: Vec<String>,
    ctl: Socket,
    thread: control::WorkerThread,
}

impl Receiver {
    /// A builder on `ctx`.
    pub fn builder(ctx: &Context) -> ReceiverBuilder {
        ReceiverBuilder {
            ctx: ctx.clone(),
            routing_id: None,
            registries: Vec::new(),
            ack_timeout: Duration::from_secs(2),
            heartbeat_interval: Duration::from_secs(5),
        }
    }

    /// The ROUTER's routing id (what the registry lists and gateways connect with).
    pub fn routing_id(&self) -> &[u8] {
        &self.routing_id
    }

    /// Bind the ROUTER; returns the endpoint as bound (a wildcard port resolved).
    ///
    /// # Errors
    /// As [`Socket::bind`].
    pub fn bind(&mut self, endpoint: &str) -> Result<String> {
        self.router.bind(endpoint)?;
        let ep = self
            .router
            .last_endpoint()
            .unwrap_or_else(|| endpoint.to_string());
        self.binds.push(ep.clone());
        Ok(ep)
    }

    /// The ROUTER the application receives requests on and replies with.
    pub fn router(&mut self) -> &mut Socket {
        &mut self.router
    }

    /// Register `name` (a gateway service) and wait for the registry's answer. `advertise`
    /// is the endpoint gateways connect to; `None` takes the only bound endpoint with a
    /// wildcard host replaced by the loopback address. Weight 0 means 1.
    /// Returns the advertised endpoint.
    ///
    /// # Errors
    /// `InvalidArgument` when no endpoint can be advertised or a registry refuses (its
    /// reason in the message); `HostUnreachable` when no registry answered in time.
    pub fn register(&mut self, name: &str, advertise: Option<&str>, weight: u32) -> Result<String> {
        let endpoint = match advertise {
            Some(e) if !e.is_empty() => e.to_string(),
            _ => self.default_advertise()?,
        };
        self.request(&[
            b"register",
            name.as_bytes(),
            endpoint.as_bytes(),
            &weight.to_le_bytes(),
        ])?;
        Ok(endpoint)
    }

    /// Change a registered service's weight and wait for the registry's answer.
    ///
    /// # Errors
    /// `NotFound` if `name` is not registered here; otherwise as [`Receiver::register`].
    pub fn update_weight(&mut self, name: &str, weight: u32) -> Result<()> {
        self.request(&[b"weight", name.as_bytes(), &weight.to_le_bytes()])
    }

    /// Unregister `name` (the registry does not answer; heartbeats for it stop).
    ///
    /// # Errors
    /// `Terminated` once the context is shut down.
    pub fn unregister(&mut self, name: &str) -> Result<()> {
        self.request(&[b"unregister", name.as_bytes()])
    }

    fn default_advertise(&self) -> Result<String> {
        let [ep] = &self.binds[..] else {
            return Err(Error::InvalidArgument(
                "no advertise endpoint given and not exactly one bind".into(),
            ));
        };
        Ok(advertisable(ep))
    }

    fn request(&mut self, frames: &[&[u8]]) -> Result<()> {
        self.ctl.send_multipart(frames, 0)?;
        let reply = self.ctl.recv_multipart(0)?;
        let text =
            |i: usize| String::from_utf8_lossy(reply.get(i).map_or(&[][..], |v| v)).into_owned();
        match reply.first().map(Vec::as_slice) {
            Some(b"ok") => Ok(()),
            Some(b"refused") => Err(Error::InvalidArgument(format!(
                "registry refused: {}",
                text(1)
            ))),
            Some(b"no-answer") => Err(Error::HostUnreachable),
            Some(b"not-found") => Err(Error::NotFound),
            Some(b"terminated") => Err(Error::Terminated),
            _ => Err(Error::InvalidArgument(format!(
                "receiver worker: {}",
                text(1)
            ))),
        }
    }
}

/// `tcp://0.0.0.0:5555` / `tcp://*:5555` → `tcp://127.0.0.1:5555` (and `[::]` → `[::1]`).
fn advertisable(ep: &str) -> String {
    for (wild, local) in [
        ("tcp://0.0.0.0:", "tcp://127.0.0.1:"),
        ("tcp://*:", "tcp://127.0.0.1:"),
        ("tcp://[::]:", "tcp://[::1]:"),
    ] {
        if let Some(port) = ep.strip_prefix(wild) {
            return format!("{local}{port}");
        }
    }
    ep.to_string()
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.thread.stop(&mut self.ctl);
    }
}

struct Worker {
    state: ReceiverState,
    registries: Vec<String>,
    /// The registry the DEALER is connected to.
    connected: usize,
    dealer: Socket,
    monitor: Monitor,
    ctl: Socket,
    /// The handle waits for the outstanding request's end.
    waiting: bool,
    /// Requests the DEALER could not take yet (no registry connected): sent when it can.
    outbox: VecDeque<Message>,
    /// The current registry's handshake completed (and it has not disconnected since):
    /// until then requests wait in the outbox. Sending earlier could put them on the pipe of
    /// the registry just left, which `disconnect` removes asynchronously.
    ready: bool,
}

impl Worker {
    fn run(mut self) {
        if let Err(e) = self.serve() {
            log::error!("receiver: worker failed: {e}");
            let reason: &[u8] = if matches!(e, Error::Terminated) {
                b"terminated"
            } else {
                b"failed"
            };
            // The handle may be waiting for the outstanding request: answer it first. If the
            // channel is gone too (context shut down), so is the handle's wait.
            let reply = [reason.to_vec(), e.to_string().into_bytes()];
            if self.waiting && self.ctl.send_multipart(&reply, 0).is_err() {
                return;
            }
            control::answer_until_stop(&mut self.ctl, &reply);
        }
    }

    fn serve(&mut self) -> Result<()> {
        loop {
            let actions = self.state.poll(Instant::now());
            self.apply(actions)?;
            let timeout = self
                .state
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()));
            let dealer_events = if self.outbox.is_empty() || !self.ready {
                POLLIN
            } else {
                POLLIN | POLLOUT
            };
            let mut items = [
                PollItem::socket(&mut self.dealer, dealer_events),
                PollItem::socket(&mut self.ctl, POLLIN),
                PollItem::fd(self.monitor.fd(), POLLIN),
            ];
            ringlink::poll(&mut items, timeout)?;
            let writable = items[0].revents.contains(POLLOUT);
            let ready = items.map(|i| i.revents.contains(POLLIN));
            if writable {
                self.flush()?;
            }
            if ready[0] {
                while let Some(m) = nowait(self.dealer.recv_multipart(DONTWAIT))? {
                    let actions = self.state.on_message(&m, Instant::now());
                    self.apply(actions)?;
                }
            }
            if ready[2] {
                while let Some(ev) = self.monitor.recv(Some(Duration::ZERO))? {
                    // Only the registry in use: the one left behind by a switch also ends.
                    if ev.endpoint != self.registries[self.connected] {
                        continue;
                    }
                    match ev.kind {
                        MonitorEventKind::HandshakeSucceeded => {
                            self.ready = true;
                            self.flush()?;
                        }
                        MonitorEventKind::Disconnected(..) => {
                            self.ready = false;
                            self.state.on_disconnected(Instant::now());
                        }
                        _ => {}
                    }
                }
            }
            if ready[1] && !self.control()? {
                return Ok(());
            }
        }
    }

    fn apply(&mut self, actions: Vec<Action>) -> Result<()> {
        for a in actions {
            match a {
                // A heartbeat that cannot go now is dropped (the next one follows within an
                // interval); anything else waits in the outbox for the connection.
                Action::Send(m @ Message::Heartbeat { .. }) => {
                    if self.ready && self.outbox.is_empty() {
                        send(&mut self.dealer, &m)?;
                    }
                }
                Action::Send(m) => {
                    self.outbox.push_back(m);
                    self.flush()?;
                }
                Action::SwitchTo(i) => {
                    if i == self.connected {
                        // One registry: stay connected (the DEALER reconnects by itself).
                        continue;
                    }
                    self.dealer.disconnect(&self.registries[self.connected])?;
                    self.dealer.connect(&self.registries[i])?;
                    self.connected = i;
                    self.ready = false;
                    log::info!("receiver: switched to registry {}", self.registries[i]);
                }
                Action::Done(r) => {
                    self.waiting = false;
                    match r {
                        Ok(()) => self.ctl.send(b"ok", 0)?,
                        Err(Refusal::NoAnswer) => self.ctl.send(b"no-answer", 0)?,
                        Err(Refusal::Refused(st, why)) => self.ctl.send_multipart(
                            &[
                                b"refused".to_vec(),
                                format!("status {st:#04x}: {why}").into_bytes(),
                            ],
                            0,
                        )?,
                    }
                }
            }
        }
        Ok(())
    }

    /// Send the outbox until the DEALER would block.
    fn flush(&mut self) -> Result<()> {
        if !self.ready {
            return Ok(());
        }
        while let Some(m) = self.outbox.front() {
            if !send(&mut self.dealer, m)? {
                break;
            }
            self.outbox.pop_front();
        }
        Ok(())
    }

    /// Control requests; false on "stop".
    fn control(&mut self) -> Result<bool> {
        loop {
            let m = match nowait(self.ctl.recv_multipart(DONTWAIT))? {
                Some(m) => m,
                None => return Ok(true),
            };
            let text = |i: usize| text(&m, i);
            let num = |i: usize| {
                m.get(i)
                    .and_then(|v| <[u8; 4]>::try_from(&v[..]).ok())
                    .map_or(1, u32::from_le_bytes)
            };
            let now = Instant::now();
            match verb(&m) {
                Some(b"stop") => return Ok(false),
                Some(b"register") => {
                    self.waiting = true;
                    let a =
                        self.state
                            .register(ServiceType::Gateway, &text(1), &text(2), num(3), now);
                    self.apply(a)?;
                }
                Some(b"weight") => match self.state.update_weight(&text(1), num(2), now) {
                    Some(a) => {
                        self.waiting = true;
                        self.apply(a)?;
                    }
                    None => self.ctl.send(b"not-found", 0)?,
                },
                Some(b"unregister") => {
                    let a = self.state.unregister(&text(1));
                    self.apply(a)?;
                    self.ctl.send(b"ok", 0)?;
                }
                _ => self.ctl.send(b"bad", 0)?,
            }
        }
    }
}

/// One message without blocking; false if it would block.
fn send(dealer: &mut Socket, m: &Message) -> Result<bool> {
    match dealer.send_multipart(&m.encode(), DONTWAIT) {
        Ok(()) => Ok(true),
        Err(Error::Again) => Ok(false),
        Err(e) => Err(e),
    }
}
