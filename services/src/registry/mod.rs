//! The registry (zlink-spec §5.2): receivers register providers on its ROUTER, discoveries
//! and peer registries read its list on its PUB (an XPUB, so a new subscriber gets the list
//! at once).
//!
//! The worker thread waits in one `poll` on the ROUTER, the XPUB, the peer SUB and a control
//! socket, with the state machine's next deadline as the timeout: nothing runs while nothing
//! is due (zlink wakes every 100 ms).

mod state;

use std::time::{Duration, Instant};

use ringlink::{Context, Error, PollItem, Result, Socket, SocketOption, SocketType, DONTWAIT};
use ringlink::{POLLIN, SNDMORE};

use crate::control::{self, nowait, text, verb};
use crate::wire::{Message, ServiceList};
pub use state::{RegistryState, Timing, MAX_PEERS, MAX_PROVIDERS};

/// Which of the registry's sockets an option is for (zlink's roles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The XPUB that publishes the list.
    Pub,
    /// The ROUTER that takes requests.
    Router,
    /// The SUB connected to peer registries.
    PeerSub,
}

/// Configures and starts a [`Registry`].
#[derive(Debug)]
pub struct RegistryBuilder {
    ctx: Context,
    pub_endpoint: Option<String>,
    router_endpoint: Option<String>,
    id: Option<u32>,
    timing: Timing,
    peers: Vec<String>,
    options: Vec<(Role, SocketOption)>,
    max_providers: usize,
}

impl RegistryBuilder {
    /// Hold at most this many providers, its own and its peers' (default
    /// [`MAX_PROVIDERS`], 65,536): a REGISTER beyond it gets `status::FULL`.
    pub fn max_providers(mut self, n: usize) -> Self {
        self.max_providers = n;
        self
    }

    /// Where the list is published and where requests arrive (both required).
    pub fn endpoints(mut self, pub_endpoint: &str, router_endpoint: &str) -> Self {
        self.pub_endpoint = Some(pub_endpoint.to_string());
        self.router_endpoint = Some(router_endpoint.to_string());
        self
    }

    /// This registry's id in a cluster (default: random, non-zero).
    pub fn id(mut self, id: u32) -> Self {
        self.id = Some(id);
        self
    }

    /// Remove a provider after this long without a heartbeat (default 15 s).
    pub fn heartbeat_timeout(mut self, t: Duration) -> Self {
        self.timing.heartbeat_timeout = t;
        self
    }

    /// Re-publish the list at least this often (default 30 s); peers silent for three
    /// intervals are dropped.
    pub fn broadcast_interval(mut self, t: Duration) -> Self {
        self.timing.broadcast_interval = t;
        self
    }

    /// Subscribe to a peer registry's PUB endpoint (more can be added after start).
    pub fn peer(mut self, pub_endpoint: &str) -> Self {
        self.peers.push(pub_endpoint.to_string());
        self
    }

    /// Set an option on one of the sockets before it binds or connects.
    pub fn socket_option(mut self, role: Role, opt: SocketOption) -> Self {
        self.options.push((role, opt));
        self
    }

    /// Bind, connect to the peers and start the worker thread.
    ///
    /// # Errors
    /// `InvalidArgument` without endpoints, with a zero id or interval; bind errors as
    /// [`Socket::bind`]; `Io` if the thread cannot be spawned.
    pub fn start(self) -> Result<Registry> {
        let (Some(pub_ep), Some(router_ep)) = (&self.pub_endpoint, &self.router_endpoint) else {
            return Err(Error::InvalidArgument(
                "registry endpoints are not set".into(),
            ));
        };
        if self.timing.heartbeat_timeout.is_zero() || self.timing.broadcast_interval.is_zero() {
            return Err(Error::InvalidArgument(
                "registry heartbeat timeout and broadcast interval must be > 0".into(),
            ));
        }
        let id = match self.id {
            Some(0) => return Err(Error::InvalidArgument("registry id 0".into())),
            Some(id) => id,
            None => fastrand::u32(1..),
        };
        let with = |ty, role| -> Result<Socket> {
            let mut s = self.ctx.socket(ty)?;
            s.set_option(SocketOption::Linger(0))?;
            for (r, opt) in &self.options {
                if *r == role {
                    s.set_option(opt.clone())?;
                }
            }
            Ok(s)
        };
        let mut xpub = with(SocketType::XPub, Role::Pub)?;
        xpub.set_option(SocketOption::XpubVerbose(true))?;
        xpub.bind(pub_ep)?;
        let mut router = with(SocketType::Router, Role::Router)?;
        router.bind(router_ep)?;
        let mut sub = with(SocketType::Sub, Role::PeerSub)?;
        sub.subscribe("")?;
        for p in &self.peers {
            sub.connect(p)?;
        }
        let (ctl, worker_ctl) = control::pair(&self.ctx, "registry")?;
        let pub_endpoint = xpub.last_endpoint().unwrap_or_else(|| pub_ep.clone());
        let router_endpoint = router.last_endpoint().unwrap_or_else(|| router_ep.clone());
        let worker = Worker {
            state: RegistryState::new(id, self.timing).with_max_providers(self.max_providers),
            xpub,
            router,
            sub,
            ctl: worker_ctl,
        };
        let thread = control::spawn("registry", move || worker.run())?;
        Ok(Registry {
            id,
            pub_endpoint,
            router_endpoint,
            ctl,
            thread,
        })
    }
}

/// A running registry; dropping it stops the worker.
#[derive(Debug)]
pub struct Registry {
    id: u32,
    pub_endpoint: String,
    router_endpoint: String,
    ctl: Socket,
    thread: control::WorkerThread,
}

impl Registry {
    /// A builder on `ctx` (a context with reactor threads or inline both work).
    pub fn builder(ctx: &Context) -> RegistryBuilder {
        RegistryBuilder {
            ctx: ctx.clone(),
            pub_endpoint: None,
            router_endpoint: None,
            id: None,
            timing: Timing {
                heartbeat_timeout: Duration::from_secs(15),
                broadcast_interval: Duration::from_secs(30),
            },
            peers: Vec::new(),
            options: Vec::new(),
            max_providers: MAX_PROVIDERS,
        }
    }

    /// The registry's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The PUB endpoint as bound (a wildcard port resolved).
    pub fn pub_endpoint(&self) -> &str {
        &self.pub_endpoint
    }

    /// The ROUTER endpoint as bound (a wildcard port resolved).
    pub fn router_endpoint(&self) -> &str {
        &self.router_endpoint
    }

    /// Subscribe to another peer registry's PUB endpoint.
    ///
    /// # Errors
    /// `InvalidArgument` with the worker's reason when [`Socket::connect`] refuses the
    /// endpoint; `State` if the worker has stopped.
    pub fn add_peer(&mut self, pub_endpoint: &str) -> Result<()> {
        self.request(&[b"peer", pub_endpoint.as_bytes()]).map(drop)
    }

    /// The registry's current list.
    ///
    /// # Errors
    /// `State` if the worker has stopped.
    pub fn list(&mut self) -> Result<ServiceList> {
        let frames = self.request(&[b"list"])?;
        match Message::decode(&frames) {
            Ok(Message::ServiceList(l)) => Ok(l),
            _ => Err(Error::State),
        }
    }

    fn request(&mut self, frames: &[&[u8]]) -> Result<Vec<Vec<u8>>> {
        self.ctl.send_multipart(frames, 0)?;
        let mut reply = self.ctl.recv_multipart(0)?;
        match reply.first().map(Vec::as_slice) {
            Some(b"ok") => Ok(reply.split_off(1)),
            Some(b"err") => Err(Error::InvalidArgument(
                String::from_utf8_lossy(reply.get(1).map_or(&[][..], |v| v)).into_owned(),
            )),
            _ => Err(Error::State),
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.thread.stop(&mut self.ctl);
    }
}

struct Worker {
    state: RegistryState,
    xpub: Socket,
    router: Socket,
    sub: Socket,
    ctl: Socket,
}

impl Worker {
    /// Serve until stopped. If serving fails (e.g. the context is shut down), keep answering
    /// the handle's requests with the reason until it stops the worker, so no caller waits
    /// for an answer that never comes.
    fn run(mut self) {
        if let Err(e) = self.serve() {
            log::error!("registry {}: worker failed: {e}", self.state.id());
            let reason = format!("registry worker failed: {e}").into_bytes();
            control::answer_until_stop(&mut self.ctl, &[b"err".to_vec(), reason]);
        }
    }

    fn serve(&mut self) -> Result<()> {
        loop {
            let now = Instant::now();
            if let Some(list) = self.state.poll(now) {
                // XPUB never blocks: a subscriber at its HWM misses this list, not the others.
                self.xpub
                    .send_multipart(&Message::ServiceList(list).encode(), DONTWAIT)
                    .or_else(|e| {
                        if matches!(e, Error::Again) {
                            Ok(())
                        } else {
                            Err(e)
                        }
                    })?;
            }
            let timeout = self
                .state
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()));
            let mut items = [
                PollItem::socket(&mut self.router, POLLIN),
                PollItem::socket(&mut self.xpub, POLLIN),
                PollItem::socket(&mut self.sub, POLLIN),
                PollItem::socket(&mut self.ctl, POLLIN),
            ];
            ringlink::poll(&mut items, timeout)?;
            let ready = items.map(|i| i.revents.contains(POLLIN));
            if ready[0] {
                self.requests()?;
            }
            if ready[1] {
                while let Some(m) = nowait(self.xpub.recv_multipart(DONTWAIT))? {
                    if m.first().and_then(|f| f.first()) == Some(&1) {
                        self.state.on_subscriber();
                    }
                }
            }
            if ready[2] {
                while let Some(m) = nowait(self.sub.recv_multipart(DONTWAIT))? {
                    self.state.on_peer_message(&m, Instant::now());
                }
            }
            if ready[3] && !self.control()? {
                return Ok(());
            }
        }
    }

    fn requests(&mut self) -> Result<()> {
        while let Some(mut m) = nowait(self.router.recv_multipart(DONTWAIT))? {
            let sender = m.remove(0);
            if let Some(reply) = self.state.on_request(&sender, &m, Instant::now()) {
                // The requester may be gone already: its reply is dropped (ROUTER's rule).
                self.router.send(&sender, SNDMORE)?;
                self.router.send_multipart(&reply.encode(), 0)?;
            }
        }
        Ok(())
    }

    /// Handle control requests; false on "stop".
    fn control(&mut self) -> Result<bool> {
        while let Some(m) = nowait(self.ctl.recv_multipart(DONTWAIT))? {
            match verb(&m) {
                Some(b"stop") => return Ok(false),
                Some(b"peer") => match self.sub.connect(&text(&m, 1)) {
                    Ok(()) => self.ctl.send(b"ok", 0)?,
                    Err(e) => self
                        .ctl
                        .send_multipart(&[b"err".to_vec(), e.to_string().into_bytes()], 0)?,
                },
                Some(b"list") => {
                    let mut frames = vec![b"ok".to_vec()];
                    frames.extend(Message::ServiceList(self.state.list()).encode());
                    self.ctl.send_multipart(&frames, 0)?;
                }
                _ => self.ctl.send(b"err", 0)?,
            }
        }
        Ok(true)
    }
}
