//! Registration with registries, shared by the receiver and the SPOT node: a worker thread
//! keeps the registrations (acks, heartbeats, failover between registries; the sans-IO
//! [`ReceiverState`](crate::receiver::ReceiverState)) on a DEALER with the caller's routing
//! id, so the registry records the id peers must connect with.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ringlink::{
    Context, Error, Monitor, MonitorEventKind, PollItem, Result, Socket, SocketOption, SocketType,
    DONTWAIT, POLLIN, POLLOUT,
};

use crate::control::{self, nowait, text, verb};
use crate::receiver::{Action, ReceiverState, Refusal};
use crate::wire::{Message, ServiceType};

/// The handle of a registration worker; dropping it stops the worker (the registry expires
/// the registrations by heartbeat).
#[derive(Debug)]
pub(crate) struct Registrar {
    ctl: Socket,
    thread: control::WorkerThread,
}

impl Registrar {
    /// Start a worker registering with `registries` (tried in order) as `routing_id`.
    pub(crate) fn start(
        ctx: &Context,
        routing_id: &[u8],
        registries: Vec<String>,
        ack_timeout: Duration,
        heartbeat_interval: Duration,
    ) -> Result<Registrar> {
        if registries.is_empty() {
            return Err(Error::InvalidArgument(
                "no registry to register with".into(),
            ));
        }
        if ack_timeout.is_zero() || heartbeat_interval.is_zero() {
            return Err(Error::InvalidArgument(
                "registration ack timeout and heartbeat interval must be > 0".into(),
            ));
        }
        let mut dealer = ctx.socket(SocketType::Dealer)?;
        dealer.set_option(SocketOption::RoutingId(routing_id.to_vec()))?;
        dealer.set_option(SocketOption::Linger(0))?;
        let monitor = dealer.monitor()?;
        dealer.connect(&registries[0])?;
        let (ctl, worker_ctl) = control::pair(ctx, "registrar")?;
        let worker = Worker {
            state: ReceiverState::new(
                registries.len(),
                ack_timeout,
                heartbeat_interval,
                fastrand::Rng::new(),
            ),
            registries,
            connected: 0,
            dealer,
            monitor,
            ctl: worker_ctl,
            waiting: false,
            outbox: VecDeque::new(),
            ready: false,
        };
        let thread = control::spawn("registrar", move || worker.run())?;
        Ok(Registrar { ctl, thread })
    }

    /// Register `name` of type `ty` at `endpoint` and wait for the registry's answer.
    pub(crate) fn register(
        &mut self,
        ty: ServiceType,
        name: &str,
        endpoint: &str,
        weight: u32,
    ) -> Result<()> {
        self.request(&[
            b"register",
            &ty.code().to_le_bytes(),
            name.as_bytes(),
            endpoint.as_bytes(),
            &weight.to_le_bytes(),
        ])
    }

    /// Change a registered service's weight and wait for the registry's answer.
    pub(crate) fn update_weight(&mut self, name: &str, weight: u32) -> Result<()> {
        self.request(&[b"weight", name.as_bytes(), &weight.to_le_bytes()])
    }

    /// Unregister `name` (the registry does not answer).
    pub(crate) fn unregister(&mut self, name: &str) -> Result<()> {
        self.request(&[b"unregister", name.as_bytes()])
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
                "registration worker: {}",
                text(1)
            ))),
        }
    }
}

impl Drop for Registrar {
    fn drop(&mut self) {
        self.thread.stop(&mut self.ctl);
    }
}

/// `tcp://0.0.0.0:5555` / `tcp://*:5555` → `tcp://127.0.0.1:5555` (and `[::]` → `[::1]`).
pub(crate) fn advertisable(ep: &str) -> String {
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
            log::error!("registrar: worker failed: {e}");
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
                    log::info!("registrar: switched to registry {}", self.registries[i]);
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
                    let ty = m
                        .get(1)
                        .and_then(|v| <[u8; 2]>::try_from(&v[..]).ok())
                        .and_then(|b| ServiceType::from_code(u16::from_le_bytes(b)))
                        .unwrap_or(ServiceType::Gateway);
                    self.waiting = true;
                    let a = self.state.register(ty, &text(2), &text(3), num(4), now);
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
