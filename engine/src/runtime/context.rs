//! The context: reactor threads, backend choice, socket registry, shutdown.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use super::inline::{open_inline, Inline};
use super::reactor::Reactor;
use super::reactor_set::ReactorSet;
use super::shared::{Cmd, InprocRegistry, ReactorHandle, SocketShared};
use crate::backend::{self, AnyDriver, Backend, UringFeatures};
use crate::error::{Error, Result};
use crate::protocol::SocketType;
use crate::wire::Factory;
#[cfg(any(test, feature = "internals"))]
use crate::wire::WireFactory;

/// Builds a [`Context`].
#[derive(Debug, Clone)]
pub struct ContextBuilder {
    backend: Option<Backend>,
    io_threads: usize,
    pin: bool,
    spin: Duration,
    single_thread: bool,
    wire: Option<Factory>,
    uring: UringFeatures,
}

impl Default for ContextBuilder {
    fn default() -> Self {
        ContextBuilder {
            backend: None,
            io_threads: 1,
            pin: false,
            spin: Duration::ZERO,
            single_thread: false,
            wire: None,
            uring: UringFeatures::default(),
        }
    }
}

impl ContextBuilder {
    /// Force a backend. Without this, `RINGLINK_BACKEND=uring|epoll` decides, else io_uring
    /// with an automatic fallback to epoll when io_uring is unavailable.
    pub fn backend(mut self, b: Backend) -> Self {
        self.backend = Some(b);
        self
    }

    /// Number of reactor threads (default 1, like libzmq's I/O threads).
    ///
    /// `0` selects run-to-completion ("inline") mode: no reactor thread at all; the
    /// application thread that calls into ringlink drives the ring itself (a blocking
    /// `recv` waits in `io_uring_enter`/`epoll_wait`, sends are flushed every few hundred
    /// messages and whenever the caller would block). No thread hand-off and no wake-up of
    /// another core is on the message path. I/O progresses only inside ringlink calls:
    /// call [`Socket::flush`](crate::Socket::flush) or [`Context::drive_io`] when the
    /// application goes off to do other work with messages still queued.
    pub fn io_threads(mut self, n: usize) -> Self {
        self.io_threads = n;
        self
    }

    /// Pin reactor thread i to core i (mod the cores this process may use).
    pub fn pin_threads(mut self, pin: bool) -> Self {
        self.pin = pin;
        self
    }

    /// Spin this long (polling without blocking) before a reactor or a blocked socket call
    /// parks: trades CPU for latency (a wake-up of the other vCPU costs ~20 µs here).
    pub fn spin(mut self, d: Duration) -> Self {
        self.spin = d;
        self
    }

    /// Inline mode only: promise that only the thread calling `build` uses this context's
    /// sockets. The io_uring ring can then be created `SINGLE_ISSUER | DEFER_TASKRUN` (about
    /// 10 % more throughput here). Socket calls from any other thread fail with
    /// `Error::InvalidArgument` instead of driving the ring.
    pub fn single_thread(mut self, yes: bool) -> Self {
        self.single_thread = yes;
        self
    }

    /// Which io_uring features to use where the kernel has them (default: all); see
    /// [`UringFeatures`]. No effect on the epoll backend.
    pub fn uring_features(mut self, f: UringFeatures) -> Self {
        self.uring = f;
        self
    }

    /// Put a wire transform under every tcp/ipc connection of this context (see
    /// [`crate::wire`]): the seam a TLS, CURVE or WebSocket layer plugs into. Peers must use
    /// the same transform. Hidden: the interface may change when the first real transform
    /// lands; today it serves the test suites (`RINGLINK_TEST_WIRE=xor`).
    #[cfg(feature = "internals")]
    #[doc(hidden)]
    pub fn wire_transform(mut self, factory: Arc<dyn WireFactory>) -> Self {
        self.wire = Some(Factory(factory));
        self
    }

    /// Make the context: probes io_uring (unless epoll was asked for) and falls back to
    /// epoll with a logged warning when it is unavailable. Threads start with the first
    /// socket.
    ///
    /// # Errors
    /// `Error::Io` when the chosen backend cannot be set up (an explicit `Backend::Uring` on a
    /// kernel without io_uring, a file-descriptor limit); `Error::InvalidArgument` for a
    /// `RINGLINK_BACKEND` other than `uring` or `epoll`.
    pub fn build(self) -> Result<Context> {
        let requested = match self.backend {
            Some(b) => Some(b),
            None => match std::env::var("RINGLINK_BACKEND").ok().as_deref() {
                Some("uring") | Some("io_uring") => Some(Backend::Uring),
                Some("epoll") => Some(Backend::Epoll),
                Some("") | None => None,
                Some(other) => {
                    return Err(Error::invalid(format!(
                        "RINGLINK_BACKEND={other:?}: expected uring or epoll"
                    )))
                }
            },
        };
        let backend = match requested {
            Some(Backend::Epoll) => Backend::Epoll,
            Some(Backend::Uring) => {
                backend::probe_uring().map_err(|e| {
                    Error::Io(std::io::Error::new(
                        e.kind(),
                        format!("io_uring requested but unavailable: {e}"),
                    ))
                })?;
                Backend::Uring
            }
            None => match backend::probe_uring() {
                Ok(()) => Backend::Uring,
                Err(e) => {
                    log::warn!("io_uring unavailable ({e}); falling back to the epoll backend");
                    Backend::Epoll
                }
            },
        };
        let inline = self.io_threads == 0;
        let handles: Vec<Arc<ReactorHandle>> = (0..self.io_threads.max(1))
            .map(|i| ReactorHandle::new(i).map(Arc::new))
            .collect::<std::io::Result<_>>()?;
        let peers = Arc::new(ReactorSet::new(handles.clone(), self.wire.clone()));
        if inline {
            let (reactor, actual) = open_inline(
                backend,
                handles[0].clone(),
                peers.clone(),
                self.spin,
                self.single_thread,
                // A registration is per thread, and an inline context may be dropped on
                // another thread than the one that drove it.
                UringFeatures {
                    registered_ring: false,
                    ..self.uring
                },
            )?;
            return Ok(Context {
                inner: Arc::new(CtxInner {
                    peers,
                    threads: Mutex::new(Vec::new()),
                    backend: actual,
                    terminated: AtomicBool::new(false),
                    sockets: Mutex::new(Vec::new()),
                    next_id: AtomicU64::new(1),
                    spin: self.spin,
                    inline: Some(Inline::new(reactor, handles[0].clone(), self.spin)),
                    owner: self.single_thread.then(|| std::thread::current().id()),
                    inproc: Mutex::new(InprocRegistry::default()),
                }),
            });
        }
        let cores = if self.pin {
            core_affinity::get_core_ids()
        } else {
            None
        };
        let mut threads = Vec::new();
        let (tx, rx) = mpsc::channel();
        for (i, h) in handles.iter().enumerate() {
            let h = h.clone();
            let peers = peers.clone();
            let tx = tx.clone();
            let core = cores
                .as_ref()
                .and_then(|c| c.get(i % c.len().max(1)).copied());
            let spin = self.spin;
            let features = self.uring;
            let t = crate::backend::sys::with_signals_blocked(|| {
                std::thread::Builder::new()
                    .name(format!("ringlink-io-{i}"))
                    .spawn(move || {
                        if let Some(core) = core {
                            core_affinity::set_for_current(core);
                        }
                        run_reactor(backend, features, h, peers, spin, tx)
                    })
            })?;
            threads.push(t);
        }
        drop(tx);
        let mut actual = backend;
        for _ in 0..self.io_threads {
            match rx.recv() {
                Ok(Ok(b)) => actual = b,
                Ok(Err(e)) => return Err(Error::Io(e)),
                Err(_) => return Err(Error::invalid("reactor thread failed to start")),
            }
        }
        Ok(Context {
            inner: Arc::new(CtxInner {
                peers,
                threads: Mutex::new(threads),
                backend: actual,
                terminated: AtomicBool::new(false),
                sockets: Mutex::new(Vec::new()),
                next_id: AtomicU64::new(1),
                spin: self.spin,
                inline: None,
                owner: None,
                inproc: Mutex::new(InprocRegistry::default()),
            }),
        })
    }
}

fn run_reactor(
    backend: Backend,
    features: UringFeatures,
    h: Arc<ReactorHandle>,
    peers: Arc<ReactorSet>,
    spin: Duration,
    ready: mpsc::Sender<std::io::Result<Backend>>,
) {
    match AnyDriver::open(backend, h.parker.fd(), true, features) {
        Ok(d) => {
            let _ = ready.send(Ok(d.backend()));
            drop(ready);
            Reactor::new(h, d, peers, spin).run();
        }
        Err(e) => {
            let _ = ready.send(Err(e));
        }
    }
}

pub(crate) struct CtxInner {
    pub(crate) peers: Arc<ReactorSet>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    backend: Backend,
    terminated: AtomicBool,
    sockets: Mutex<Vec<Weak<SocketShared>>>,
    next_id: AtomicU64,
    pub(crate) spin: Duration,
    /// Inline mode: the reactor application threads drive.
    pub(crate) inline: Option<Inline>,
    /// `single_thread` inline contexts: the only thread allowed to drive.
    pub(crate) owner: Option<std::thread::ThreadId>,
    /// inproc:// names of this context.
    pub(crate) inproc: Mutex<InprocRegistry>,
}

impl Drop for CtxInner {
    fn drop(&mut self) {
        // Every socket is gone (they hold the context): let reactors finish lingering
        // connections, then exit.
        for h in &self.peers.handles {
            h.send(Cmd::Stop);
        }
        let foreign = self.owner.is_some_and(|o| o != std::thread::current().id());
        if let Some(inline) = self.inline.take() {
            if foreign {
                log::warn!(
                    "single_thread context dropped on another thread: pending messages are discarded"
                );
            } else {
                let mut r = inline.into_reactor();
                loop {
                    match r.turn(None, &mut []) {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            log::warn!("inline reactor failed at teardown: {e}");
                            break;
                        }
                    }
                }
            }
        }
        for t in self.threads.get_mut().unwrap().drain(..) {
            let _ = t.join();
        }
    }
}

/// A ringlink context: reactor threads plus the sockets created from it.
///
/// Cloning is cheap (shared). The reactors stop when the last clone and the last socket are
/// dropped, after lingering messages were flushed (LINGER).
#[derive(Clone)]
pub struct Context {
    pub(crate) inner: Arc<CtxInner>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("backend", &self.inner.backend)
            .field("io_threads", &self.inner.peers.handles.len())
            .finish()
    }
}

impl Context {
    /// A context with the defaults: io_uring (epoll where unavailable), one reactor thread.
    ///
    /// # Errors
    /// As [`ContextBuilder::build`].
    pub fn new() -> Result<Context> {
        ContextBuilder::default().build()
    }

    /// A builder for a context with other settings (backend, I/O threads, inline mode).
    pub fn builder() -> ContextBuilder {
        ContextBuilder::default()
    }

    /// The backend actually in use (after any automatic fallback).
    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// Register a new socket's shared half (`Context::socket` is in `crate::socket`, so the
    /// runtime does not depend on the socket layer).
    pub(crate) fn new_socket_shared(&self, ty: SocketType) -> Result<Arc<SocketShared>> {
        if self.inner.terminated.load(Ordering::Acquire) {
            return Err(Error::Terminated);
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::new(SocketShared::new(id, ty)?);
        {
            let mut socks = self.inner.sockets.lock().unwrap();
            socks.retain(|w| w.strong_count() > 0);
            socks.push(Arc::downgrade(&shared));
        }
        Ok(shared)
    }

    /// Make blocking calls on every socket return `Error::Terminated`, now and from now on.
    pub fn shutdown(&self) {
        self.inner.terminated.store(true, Ordering::Release);
        for s in self.inner.sockets.lock().unwrap().iter() {
            if let Some(s) = s.upgrade() {
                s.poke();
            }
        }
        if self.inner.inline.is_some() {
            // A thread blocked inside the inline reactor waits there, not on its socket.
            for h in &self.inner.peers.handles {
                h.parker.signal();
            }
        }
    }

    pub(crate) fn is_terminated(&self) -> bool {
        self.inner.terminated.load(Ordering::Acquire)
    }

    pub(crate) fn reactor(&self, i: usize) -> &ReactorHandle {
        &self.inner.peers.handles[i]
    }

    /// The driving side of an inline context (None with reactor threads).
    pub(crate) fn inline(&self) -> Option<&Inline> {
        self.inner
            .inline
            .as_ref()
            .filter(|_| self.on_owner_thread())
    }

    /// Inline mode: perform pending I/O without blocking (flush queued messages, take in
    /// received data). A no-op with reactor threads, and when another thread is driving the
    /// context at the moment (that thread does the work).
    pub fn drive_io(&self) {
        if let Some(i) = self.inline() {
            if let Err(e) = i.drive_now() {
                log::warn!("inline drive failed: {e}");
            }
        }
    }

    /// False for a `single_thread` context used from another thread.
    pub(crate) fn on_owner_thread(&self) -> bool {
        self.inner
            .owner
            .is_none_or(|o| o == std::thread::current().id())
    }

    pub(crate) fn is_inline(&self) -> bool {
        self.inner.inline.is_some()
    }
}

#[cfg(test)]
impl Context {
    /// A context without reactors or threads (socket unit tests; see `Hub::detached`).
    pub(crate) fn detached() -> Context {
        Context {
            inner: Arc::new(CtxInner {
                peers: Arc::new(ReactorSet::new(Vec::new(), None)),
                threads: Mutex::new(Vec::new()),
                backend: Backend::Epoll,
                terminated: AtomicBool::new(false),
                sockets: Mutex::new(Vec::new()),
                next_id: AtomicU64::new(1),
                spin: Duration::ZERO,
                inline: None,
                owner: None,
                inproc: Mutex::new(InprocRegistry::default()),
            }),
        }
    }
}

#[cfg(any(test, feature = "fuzzing"))]
impl Context {
    /// An inline context whose reactor runs on the in-memory driver (`crate::fuzzing`), with
    /// an optional wire transform under its connections. It reports the epoll backend.
    pub(crate) fn with_mem_driver(
        driver: crate::backend::mem::MemDriver,
        wire: Option<Arc<dyn WireFactory>>,
    ) -> Result<Context> {
        let handle = Arc::new(ReactorHandle::new(0)?);
        let peers = Arc::new(ReactorSet::new(vec![handle.clone()], wire.map(Factory)));
        let driver = crate::backend::AnyDriver::Mem(driver);
        let reactor = Reactor::new(handle.clone(), driver, peers.clone(), Duration::ZERO);
        Ok(Context {
            inner: Arc::new(CtxInner {
                peers,
                threads: Mutex::new(Vec::new()),
                backend: Backend::Epoll,
                terminated: AtomicBool::new(false),
                sockets: Mutex::new(Vec::new()),
                next_id: AtomicU64::new(1),
                spin: Duration::ZERO,
                inline: Some(Inline::new(reactor, handle, Duration::ZERO)),
                owner: Some(std::thread::current().id()),
                inproc: Mutex::new(InprocRegistry::default()),
            }),
        })
    }
}
