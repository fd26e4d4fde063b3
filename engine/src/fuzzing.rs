//! A harness that runs one accepted connection of a real socket over the in-memory driver, so a
//! fuzzer can play the remote peer: its bytes go through the real reactor, handshake, decoder,
//! pipes and socket code, with no network I/O (setting up costs a few descriptors: the
//! context's and socket's eventfds, an abstract-namespace listener the driver never uses, and
//! a duplicate of a socketpair end standing in for the accepted connection).
//!
//! Built only with the `fuzzing` feature; used by `fuzz/` and its corpus replay test.
//! Not API: it may change with the engine at any time.

#![forbid(unsafe_code)]

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use crate::backend::mem::{MemDriver, MemNet};
use crate::error::{Error, Result};
use crate::options::{SocketOption, StreamFraming};
use crate::protocol::SocketType;
use crate::runtime::context::Context;
use crate::socket::{Socket, DONTWAIT};

/// Socket settings a fuzz input may choose.
#[derive(Debug, Clone)]
pub struct ConnOptions {
    /// RCVHWM (small values exercise pausing and the receive stash).
    pub rcvhwm: i32,
    /// SNDHWM.
    pub sndhwm: i32,
    /// MAXMSGSIZE (-1 = none).
    pub max_msg_size: i64,
    /// Largest piece the driver hands to the reactor at once (a receive buffer).
    pub recv_chunk: usize,
    /// STREAM: zlink's length-prefixed framing instead of raw bytes.
    pub length_prefixed: bool,
    /// SUB/XSUB: subscribe to everything, so data reaches the application.
    pub subscribe_all: bool,
}

impl Default for ConnOptions {
    fn default() -> Self {
        ConnOptions {
            rcvhwm: 1000,
            sndhwm: 1000,
            max_msg_size: -1,
            recv_chunk: 64 * 1024,
            length_prefixed: false,
            subscribe_all: true,
        }
    }
}

/// A message the application received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Its frames.
    pub parts: Vec<Vec<u8>>,
    /// A frame announced by MORE was not there: the message is incomplete.
    pub cut: bool,
}

/// The reactor kept working for longer than the bytes it was given can explain (a livelock),
/// or a closed socket did not let go of its connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stuck(pub String);

impl std::fmt::Display for Stuck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One socket of type `ty` with one accepted connection whose remote end is scripted.
pub struct ConnHarness {
    net: Arc<Mutex<MemNet>>,
    sock: Option<Socket>,
    ctx: Option<Context>,
    /// Driver key of the accepted connection.
    key: u64,
    /// Work allowance for `pump`: grows with the bytes given to the engine.
    budget: u64,
}

/// Turns `pump` may take beyond those paid for by input.
const BASE_TURNS: u64 = 10_000;

impl ConnHarness {
    /// A socket of type `ty` with default options and one accepted connection.
    pub fn new(ty: SocketType) -> Result<ConnHarness> {
        ConnHarness::with_options(ty, &ConnOptions::default())
    }

    /// A socket of type `ty` with options `o` and one accepted connection, handshake started
    /// (our greeting is queued for the peer).
    pub fn with_options(ty: SocketType, o: &ConnOptions) -> Result<ConnHarness> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let net = Arc::new(Mutex::new(MemNet::default()));
        lock(&net).recv_chunk = o.recv_chunk.max(1);
        let ctx = Context::with_mem_driver(MemDriver::new(net.clone()), None)?;
        let mut sock = ctx.socket(ty)?;
        sock.set_option(SocketOption::RcvHwm(o.rcvhwm))?;
        sock.set_option(SocketOption::SndHwm(o.sndhwm))?;
        sock.set_option(SocketOption::MaxMsgSize(o.max_msg_size))?;
        if ty == SocketType::Stream && o.length_prefixed {
            sock.set_option(SocketOption::StreamFraming(StreamFraming::LengthPrefixed))?;
        }
        if o.subscribe_all && matches!(ty, SocketType::Sub | SocketType::XSub) {
            sock.set_option(SocketOption::Subscribe(Vec::new()))?;
        }
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        sock.bind(&format!("ipc://@ringlink-fuzz-{}-{n}", std::process::id()))?;
        // The accepted descriptor only names the connection (the driver does no I/O on it):
        // a duplicate of one socketpair end per process is enough, and cheaper than a pair.
        static PAIR: OnceLock<(UnixStream, UnixStream)> = OnceLock::new();
        let pair = match PAIR.get() {
            Some(p) => p,
            None => {
                let p = UnixStream::pair()?;
                PAIR.get_or_init(|| p)
            }
        };
        lock(&net)
            .accept_queue
            .push_back(OwnedFd::from(pair.0.try_clone()?));
        let mut h = ConnHarness {
            net,
            sock: Some(sock),
            ctx: Some(ctx),
            key: 0,
            budget: BASE_TURNS,
        };
        h.pump().map_err(|e| Error::invalid(e.0))?;
        h.key = lock(&h.net)
            .conn_keys()
            .first()
            .copied()
            .ok_or_else(|| Error::invalid("the connection was not accepted"))?;
        Ok(h)
    }

    /// The application's socket.
    pub fn socket(&mut self) -> &mut Socket {
        self.sock.as_mut().expect("socket present until close")
    }

    /// Bytes from the peer, delivered by later `pump`s. False once the connection is closed.
    pub fn feed(&mut self, bytes: &[u8]) -> bool {
        self.budget += 2 * bytes.len() as u64;
        lock(&self.net).push_inbound(self.key, bytes)
    }

    /// The peer closes its side after the bytes fed so far.
    pub fn peer_close(&mut self) {
        lock(&self.net).peer_close(self.key);
    }

    /// How many more bytes the peer reads (`usize::MAX` = all); sends beyond that stall.
    pub fn set_window(&mut self, bytes: usize) {
        lock(&self.net).window = bytes;
    }

    /// Whether the engine still holds the connection open.
    pub fn is_open(&self) -> bool {
        lock(&self.net).is_open(self.key)
    }

    /// Peer bytes not yet handed to the engine (the connection paused, or closed).
    pub fn undelivered(&self) -> usize {
        lock(&self.net).inbound_len(self.key)
    }

    /// Run the reactor until two turns in a row do nothing. Errs if it keeps busy beyond what
    /// the input pays for.
    pub fn pump(&mut self) -> std::result::Result<(), Stuck> {
        let ctx = self.ctx.as_ref().expect("context present until drop");
        let mut quiet = 0;
        let mut turns = 0u64;
        while quiet < 2 {
            let before = lock(&self.net).activity;
            ctx.drive_io();
            let busy = lock(&self.net).activity != before || ctx.reactor(0).has_cmds();
            quiet = if busy { 0 } else { quiet + 1 };
            turns += 1;
            if turns > self.budget {
                return Err(Stuck(format!("reactor still busy after {turns} turns")));
            }
        }
        self.budget = self.budget.saturating_sub(turns).max(BASE_TURNS);
        Ok(())
    }

    /// One message for the application, if one is ready, received frame by frame with
    /// DONTWAIT (`Socket::recv_multipart` blocks for the frames after the first, trusting
    /// that messages arrive whole; a harness must not hang on a peer that breaks that). A
    /// message whose announced next frame is missing comes back cut short, and `cut` says
    /// so. Errors other than `Again` (e.g. a socket type that cannot receive) are returned.
    pub fn recv(&mut self) -> Option<Result<Received>> {
        let sock = self.socket();
        let mut parts = match sock.recv_bytes(DONTWAIT) {
            Err(Error::Again) => return None,
            Err(e) => return Some(Err(e)),
            Ok(p) => vec![p],
        };
        while sock.rcvmore() {
            match sock.recv_bytes(DONTWAIT) {
                Ok(p) => parts.push(p),
                Err(_) => return Some(Ok(Received { parts, cut: true })),
            }
        }
        Some(Ok(Received { parts, cut: false }))
    }

    /// The application sends `parts` as one message (DONTWAIT).
    pub fn send(&mut self, parts: &[&[u8]]) -> Result<()> {
        self.budget += 64 + 2 * parts.iter().map(|p| p.len() as u64).sum::<u64>();
        self.socket().send_multipart(parts, DONTWAIT)
    }

    /// What the engine sent to the peer since the last call.
    pub fn take_sent(&mut self) -> Vec<u8> {
        lock(&self.net).take_sent(self.key)
    }

    /// Close the socket (the peer reads whatever is queued) and check that the reactor lets
    /// go of every connection and listener before the context is dropped.
    pub fn close(mut self) -> std::result::Result<(), Stuck> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> std::result::Result<(), Stuck> {
        let Some(sock) = self.sock.take() else {
            return Ok(());
        };
        self.set_window(usize::MAX);
        drop(sock);
        let r = self
            .pump()
            .and_then(|()| match lock(&self.net).open_endpoints() {
                0 => Ok(()),
                n => Err(Stuck(format!("{n} endpoints still open after close"))),
            });
        if r.is_err() {
            // Dropping the context now would wait for them forever.
            std::mem::forget(self.ctx.take());
        }
        self.ctx = None;
        r
    }
}

impl Drop for ConnHarness {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

fn lock(net: &Mutex<MemNet>) -> MutexGuard<'_, MemNet> {
    net.lock().unwrap_or_else(|e| e.into_inner())
}
