//! Discovery (zlink-spec §5.3): follows registries' lists for one service type and answers
//! "who provides service X" locally; changes are pushed to change feeds and callbacks and
//! wake threads waiting for a service.
//!
//! The worker waits in one `poll` on the SUB and a control socket (zlink polls every
//! 100 ms), so a list is applied as soon as it arrives.

mod state;

use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ringlink::POLLIN;
use ringlink::{Context, Error, PollItem, Result, Socket, SocketOption, SocketType, DONTWAIT};

use crate::control::{self, nowait, text, verb};
use crate::wire::{Provider, ServiceType};
pub use state::{Change, DiscoveryState};

/// Configures and starts a [`Discovery`].
#[derive(Debug)]
pub struct DiscoveryBuilder {
    ctx: Context,
    service_type: ServiceType,
    registries: Vec<String>,
    names: Vec<String>,
    options: Vec<SocketOption>,
    registry_timeout: Duration,
}

impl DiscoveryBuilder {
    /// Forget a registry's list after this long without one (default 90 s: three of the
    /// registries' default broadcast intervals).
    pub fn registry_timeout(mut self, t: Duration) -> Self {
        self.registry_timeout = t;
        self
    }

    /// Follow the registry publishing on this PUB endpoint (several may be given).
    pub fn registry(mut self, pub_endpoint: &str) -> Self {
        self.registries.push(pub_endpoint.to_string());
        self
    }

    /// Only show these services (default: all of the type).
    pub fn subscribe(mut self, name: &str) -> Self {
        self.names.push(name.to_string());
        self
    }

    /// Set an option on the SUB before it connects.
    pub fn socket_option(mut self, opt: SocketOption) -> Self {
        self.options.push(opt);
        self
    }

    /// Connect and start the worker.
    ///
    /// # Errors
    /// As [`Socket::connect`]; `Io` if the thread cannot be spawned.
    pub fn start(self) -> Result<Discovery> {
        let mut sub = self.ctx.socket(SocketType::Sub)?;
        sub.set_option(SocketOption::Linger(0))?;
        for opt in &self.options {
            sub.set_option(opt.clone())?;
        }
        sub.subscribe("")?;
        for r in &self.registries {
            sub.connect(r)?;
        }
        if self.registry_timeout.is_zero() {
            return Err(Error::InvalidArgument(
                "discovery registry timeout must be > 0".into(),
            ));
        }
        let mut state = DiscoveryState::new(self.service_type, self.registry_timeout);
        for n in &self.names {
            state.subscribe(n);
        }
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                state,
                feeds: Vec::new(),
                listeners: Vec::new(),
                failed: None,
            }),
            changed: Condvar::new(),
        });
        let (ctl, worker_ctl) = control::pair(&self.ctx, "discovery")?;
        let w = Worker {
            shared: shared.clone(),
            sub,
            ctl: worker_ctl,
        };
        let thread = control::spawn("discovery", move || w.run())?;
        Ok(Discovery {
            service_type: self.service_type,
            shared,
            ctl: Mutex::new(ctl),
            thread,
        })
    }
}

/// A callback registered with [`Discovery::on_change`].
struct Listener(Box<dyn FnMut(&Change) -> bool + Send>);

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Listener")
    }
}

#[derive(Debug)]
struct Inner {
    state: DiscoveryState,
    feeds: Vec<mpsc::Sender<Change>>,
    listeners: Vec<Listener>,
    /// Why the worker stopped, if it failed.
    failed: Option<Failure>,
}

/// Why a worker stopped serving.
#[derive(Debug, Clone)]
enum Failure {
    /// The context was shut down.
    Terminated,
    Other(String),
}

impl Failure {
    fn of(e: &Error) -> Failure {
        match e {
            Error::Terminated => Failure::Terminated,
            e => Failure::Other(e.to_string()),
        }
    }

    fn error(&self) -> Error {
        match self {
            Failure::Terminated => Error::Terminated,
            Failure::Other(why) => {
                Error::InvalidArgument(format!("discovery worker failed: {why}"))
            }
        }
    }
}

#[derive(Debug)]
struct Shared {
    inner: Mutex<Inner>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The state is consistent after every call: a panic elsewhere does not poison it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running discovery; dropping it stops the worker.
#[derive(Debug)]
pub struct Discovery {
    service_type: ServiceType,
    shared: Arc<Shared>,
    /// Behind a mutex so that a `Discovery` is `Sync` and [`Discovery::connect_registry_shared`]
    /// can take `&self`.
    ctl: Mutex<Socket>,
    thread: control::WorkerThread,
}

impl Discovery {
    /// A builder for a discovery of `service_type` services on `ctx`.
    pub fn builder(ctx: &Context, service_type: ServiceType) -> DiscoveryBuilder {
        DiscoveryBuilder {
            ctx: ctx.clone(),
            service_type,
            registries: Vec::new(),
            names: Vec::new(),
            options: Vec::new(),
            registry_timeout: Duration::from_secs(90),
        }
    }

    /// The service type this discovery follows.
    pub fn service_type(&self) -> ServiceType {
        self.service_type
    }

    /// Follow one more registry.
    ///
    /// # Errors
    /// `InvalidArgument` with the worker's reason when the endpoint is refused; `State` or
    /// the worker's failure if it has stopped.
    pub fn connect_registry(&mut self, pub_endpoint: &str) -> Result<()> {
        self.connect_registry_shared(pub_endpoint)
    }

    /// [`Discovery::connect_registry`] through a shared reference, for a discovery shared
    /// between threads (the C API's handles): concurrent calls take turns. Must not be called
    /// from an [`Discovery::on_change`] callback (the worker running it would have to answer;
    /// it never returns).
    ///
    /// # Errors
    /// As [`Discovery::connect_registry`].
    pub fn connect_registry_shared(&self, pub_endpoint: &str) -> Result<()> {
        let mut ctl = self.ctl.lock().unwrap_or_else(|e| e.into_inner());
        ctl.send_multipart(&[b"connect", pub_endpoint.as_bytes()], 0)?;
        let reply = ctl.recv_multipart(0)?;
        match reply.first().map(Vec::as_slice) {
            Some(b"ok") => Ok(()),
            _ => Err(Error::InvalidArgument(
                String::from_utf8_lossy(reply.get(1).map_or(&[][..], |v| v)).into_owned(),
            )),
        }
    }

    /// Show `name` (from then on only subscribed names are shown).
    pub fn subscribe(&self, name: &str) {
        self.shared.lock().state.subscribe(name);
    }

    /// Stop showing `name` (with no subscription left, every service is shown).
    pub fn unsubscribe(&self, name: &str) {
        self.shared.lock().state.unsubscribe(name);
    }

    /// The providers of `name` now (empty: unavailable).
    pub fn providers(&self, name: &str) -> Vec<Provider> {
        self.shared.lock().state.providers(name)
    }

    /// How many providers `name` has now.
    pub fn provider_count(&self, name: &str) -> usize {
        self.providers(name).len()
    }

    /// Whether `name` has a provider now.
    pub fn is_available(&self, name: &str) -> bool {
        self.provider_count(name) > 0
    }

    /// The shown services that have providers.
    pub fn services(&self) -> Vec<String> {
        self.shared.lock().state.services()
    }

    /// A feed of the changes from now on (one [`Change`] per service whose providers
    /// changed, in order). Dropping the receiver ends the feed.
    pub fn changes(&self) -> mpsc::Receiver<Change> {
        let (tx, rx) = mpsc::channel();
        self.shared.lock().feeds.push(tx);
        rx
    }

    /// Call `f` on the discovery's worker thread for every change from now on, until it
    /// returns false. It runs without the discovery's lock held (it may call this
    /// discovery), but it delays the next list, so it should be quick.
    pub fn on_change(&self, f: impl FnMut(&Change) -> bool + Send + 'static) {
        self.shared.lock().listeners.push(Listener(Box::new(f)));
    }

    /// Wait until `name` has a provider and return the providers (`timeout` `None`: no
    /// limit).
    ///
    /// # Errors
    /// `Again` when the timeout passes; `Terminated` (or the worker's failure as
    /// `InvalidArgument`) if the worker stopped.
    pub fn wait_available(&self, name: &str, timeout: Option<Duration>) -> Result<Vec<Provider>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut g = self.shared.lock();
        loop {
            let p = g.state.providers(name);
            if !p.is_empty() {
                return Ok(p);
            }
            if let Some(f) = &g.failed {
                return Err(f.error());
            }
            g = control::wait_until(&self.shared.changed, g, deadline)?;
        }
    }
}

impl Drop for Discovery {
    fn drop(&mut self) {
        let ctl = self.ctl.get_mut().unwrap_or_else(|e| e.into_inner());
        self.thread.stop(ctl);
    }
}

struct Worker {
    shared: Arc<Shared>,
    sub: Socket,
    ctl: Socket,
}

impl Worker {
    fn run(mut self) {
        if let Err(e) = self.serve() {
            log::error!("discovery: worker failed: {e}");
            let why = e.to_string();
            self.shared.lock().failed = Some(Failure::of(&e));
            self.shared.changed.notify_all();
            control::answer_until_stop(&mut self.ctl, &[b"err".to_vec(), why.into_bytes()]);
        }
    }

    fn serve(&mut self) -> Result<()> {
        loop {
            let (changes, deadline) = {
                let mut g = self.shared.lock();
                (g.state.poll(Instant::now()), g.state.next_deadline())
            };
            self.publish(changes);
            let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let mut items = [
                PollItem::socket(&mut self.sub, POLLIN),
                PollItem::socket(&mut self.ctl, POLLIN),
            ];
            ringlink::poll(&mut items, timeout)?;
            let ready = items.map(|i| i.revents.contains(POLLIN));
            if ready[0] {
                self.lists()?;
            }
            if ready[1] && !self.control()? {
                return Ok(());
            }
        }
    }

    fn lists(&mut self) -> Result<()> {
        while let Some(m) = nowait(self.sub.recv_multipart(DONTWAIT))? {
            let changes = self.shared.lock().state.on_list(&m, Instant::now());
            self.publish(changes);
        }
        Ok(())
    }

    /// Hand changes to the feeds and wake the waiters.
    fn publish(&self, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        let mut listeners = {
            let mut g = self.shared.lock();
            g.feeds
                .retain(|tx| changes.iter().all(|c| tx.send(c.clone()).is_ok()));
            std::mem::take(&mut g.listeners)
        };
        self.shared.changed.notify_all();
        listeners.retain_mut(|l| changes.iter().all(|c| (l.0)(c)));
        // Listeners added while these ran go after them.
        let mut g = self.shared.lock();
        listeners.append(&mut g.listeners);
        g.listeners = listeners;
    }

    /// Control requests; false on "stop".
    fn control(&mut self) -> Result<bool> {
        while let Some(m) = nowait(self.ctl.recv_multipart(DONTWAIT))? {
            match verb(&m) {
                Some(b"stop") => return Ok(false),
                Some(b"connect") => match self.sub.connect(&text(&m, 1)) {
                    Ok(()) => self.ctl.send(b"ok", 0)?,
                    Err(e) => self
                        .ctl
                        .send_multipart(&[b"err".to_vec(), e.to_string().into_bytes()], 0)?,
                },
                _ => self.ctl.send(b"err", 0)?,
            }
        }
        Ok(true)
    }
}
