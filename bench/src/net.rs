//! The small socket surface the benchmark roles need, implemented for ringlink and libzmq so
//! the role code is the same for every implementation. Errors are strings with context:
//! they end up in the "failed" line of a run, never in a panic.

use std::time::Duration;

use ringlink::{
    Backend, Context, PollItem, Socket, SocketOption, SocketType, UringFeatures, DONTWAIT, POLLIN,
    SNDMORE,
};

use crate::impls::Kind;

/// Receive timeout of the throughput receiver, as in `zmq_bench.c`: a lost message ends the
/// run after 2 s instead of at the parent's much longer kill timeout.
pub const RX_TIMEOUT_MS: i32 = 2000;

/// Receive buffer of the batch API.
pub const RECV_BUF: usize = 1 << 20;

/// Socket operations used by the roles. Generic (not `dyn`) so per-message calls are not
/// slowed down by dynamic dispatch that the libraries themselves would not have.
pub trait BenchSocket {
    /// Binds and returns the resolved endpoint (the ephemeral port filled in).
    fn bind(&mut self, endpoint: &str) -> Result<String, String>;
    fn connect(&mut self, endpoint: &str) -> Result<(), String>;
    /// Sets the receive timeout (the throughput receiver only).
    fn set_rcvtimeo(&mut self, ms: i32) -> Result<(), String>;
    /// Sends one message, blocking while the HWM is reached. A ROUTER sender sends
    /// [`SocketConfig::send_to`] first (SNDMORE), then `msg`.
    fn send(&mut self, msg: &[u8]) -> Result<(), String>;
    /// Like `send`, without blocking: `Ok(false)` if the message could not be sent now
    /// (EAGAIN, or a ROUTER_MANDATORY sender's peer is not routable yet: EHOSTUNREACH).
    fn try_send(&mut self, msg: &[u8]) -> Result<bool, String>;
    /// Receives one message (blocking, or until the receive timeout). A ROUTER receiver
    /// reads the routing-id frame first and returns the payload.
    fn recv(&mut self) -> Result<&[u8], String>;
    /// Receives one message and sends it back (a ROUTER to the peer it came from), each
    /// library's cheapest way.
    fn echo(&mut self) -> Result<(), String>;

    /// Sends every message of `msgs` (one call per message unless overridden).
    fn send_all(&mut self, msgs: &[&[u8]]) -> Result<(), String> {
        msgs.iter().try_for_each(|m| self.send(m))
    }

    /// Sends `msg` `count` times (one call per message unless overridden).
    fn send_copies(&mut self, msg: &[u8], count: u64) -> Result<(), String> {
        (0..count).try_for_each(|_| self.send(msg))
    }

    /// Pushes out queued messages (ringlink inline contexts, where I/O only progresses inside
    /// library calls; a no-op for libraries with I/O threads).
    fn flush(&mut self) {}

    /// Keeps I/O going until the parent writes to or closes our stdin. Libraries with I/O
    /// threads need nothing, so the default returns at once (the caller then blocks on
    /// stdin itself).
    fn drive_until_parent(&mut self) -> Result<(), String> {
        Ok(())
    }

    /// Receives what one receive call yields (one message unless overridden) and hands each
    /// message to `each`, stopping early when it returns true. Returns whether it stopped.
    fn recv_each<F: FnMut(&[u8]) -> bool>(&mut self, mut each: F) -> Result<bool, String> {
        let msg = self.recv()?;
        Ok(each(msg))
    }

    /// Polls for input (up to the receive timeout), then receives everything queued without
    /// blocking, handing each payload to `each` (ROUTER_ROUTER_POLL). Returns whether
    /// `each` asked to stop.
    fn poll_drain<F: FnMut(&[u8]) -> bool>(&mut self, each: F) -> Result<bool, String>;

    /// STREAM: receives the connect notification and sends to that peer from now on.
    fn learn_peer(&mut self) -> Result<(), String>;
}

/// Throughput/latency settings shared by both peer roles of one run.
#[derive(Clone)]
pub struct SocketConfig {
    /// Socket type of this end.
    pub kind: Kind,
    /// ROUTING_ID of this socket (`None`: the library's default).
    pub routing_id: Option<Vec<u8>>,
    /// ROUTER senders: ROUTER_MANDATORY, and the routing id every message is sent to.
    pub send_to: Option<Vec<u8>>,
    pub hwm: i32,
    /// Message size, for sizing receive buffers.
    pub size: usize,
    /// Use `send_batch`/`send_repeat`/`recv_batch` (ringlink only).
    pub batch: bool,
    /// Spin this long before parking (ringlink only; `None` = library default of 0).
    pub spin: Option<Duration>,
    /// Run-to-completion context without a reactor thread (ringlink only).
    pub inline: bool,
    /// The io_uring features of the context (ringlink only; `Impl::uring_features`).
    pub uring: UringFeatures,
}

/// A ringlink socket and the context that drives it.
pub struct RinglinkSocket {
    sock: Socket,
    // Kept alive for the socket; never dropped in practice (peers exit without teardown).
    _ctx: Context,
    buf: Vec<u8>,
    lens: Vec<usize>,
    /// Routing id of the last message a ROUTER received (echo replies go there).
    id: Vec<u8>,
    batch: bool,
    inline: bool,
    router: bool,
    send_to: Option<Vec<u8>>,
}

fn rl_err(what: &str) -> impl Fn(ringlink::Error) -> String + '_ {
    move |e| match e {
        ringlink::Error::Again => format!("{what}: timed out (EAGAIN)"),
        e => format!("{what}: {e}"),
    }
}

/// Opens a context on exactly `backend` (no silent fallback: an epoll run labelled
/// "uring" would make the comparison meaningless). It has one reactor thread (libzmq's
/// default of one I/O thread), or none (`io_threads(0)`, run-to-completion,
/// `single_thread`: each peer process is one thread) if `inline`. `features`: io_uring's
/// optional features (`Impl::uring_features`).
pub fn ringlink_context(
    backend: Backend,
    inline: bool,
    spin: Option<Duration>,
    features: UringFeatures,
) -> Result<Context, String> {
    let ctx = Context::builder()
        .backend(backend)
        .uring_features(features)
        .io_threads(if inline { 0 } else { 1 })
        .single_thread(inline)
        .spin(spin.unwrap_or(Duration::ZERO))
        .build()
        .map_err(rl_err("context"))?;
    if ctx.backend() != backend {
        return Err(format!(
            "asked for the {} backend, got {}",
            backend.name(),
            ctx.backend().name()
        ));
    }
    Ok(ctx)
}

impl RinglinkSocket {
    /// A context (see [`ringlink_context`]) and one socket in it.
    pub fn open(backend: Backend, cfg: &SocketConfig) -> Result<RinglinkSocket, String> {
        let ctx = ringlink_context(backend, cfg.inline, cfg.spin, cfg.uring)?;
        RinglinkSocket::new(&ctx, cfg)
    }

    /// A socket of `cfg.kind` in `ctx` with the HWM (and routing options) of `cfg`.
    pub fn new(ctx: &Context, cfg: &SocketConfig) -> Result<RinglinkSocket, String> {
        let ty = match cfg.kind {
            Kind::Pair => SocketType::Pair,
            Kind::Dealer => SocketType::Dealer,
            Kind::Router => SocketType::Router,
            Kind::Pub => SocketType::XPub,
            Kind::Sub => SocketType::Sub,
            Kind::Push => SocketType::Push,
            Kind::Pull => SocketType::Pull,
            Kind::Req => SocketType::Req,
            Kind::Rep => SocketType::Rep,
            Kind::Stream => SocketType::Stream,
        };
        let mut sock = ctx.socket(ty).map_err(rl_err("socket"))?;
        if cfg.kind == Kind::Sub {
            sock.set_option(SocketOption::Subscribe(Vec::new()))
                .map_err(rl_err("SUBSCRIBE"))?;
        }
        sock.set_option(SocketOption::SndHwm(cfg.hwm))
            .map_err(rl_err("SNDHWM"))?;
        sock.set_option(SocketOption::RcvHwm(cfg.hwm))
            .map_err(rl_err("RCVHWM"))?;
        if let Some(id) = &cfg.routing_id {
            sock.set_option(SocketOption::RoutingId(id.clone()))
                .map_err(rl_err("ROUTING_ID"))?;
        }
        if cfg.send_to.is_some() && cfg.kind == Kind::Router {
            sock.set_option(SocketOption::RouterMandatory(true))
                .map_err(rl_err("ROUTER_MANDATORY"))?;
        }
        Ok(RinglinkSocket::wrap(ctx, sock, cfg))
    }

    /// `sock` (configured already) as a bench socket of `cfg`'s kind.
    pub fn wrap(ctx: &Context, sock: Socket, cfg: &SocketConfig) -> RinglinkSocket {
        // Per-message receives get a buffer of exactly one message (what an application
        // would pass); recv_batch gets at least 1 MiB and a length slot per message that fits.
        // A STREAM receive yields whatever the kernel delivered, up to a receive buffer.
        let len = if cfg.batch || cfg.kind == Kind::Stream {
            RECV_BUF.max(cfg.size)
        } else {
            cfg.size
        };
        // A ROUTER's (STREAM's) batches hold a routing-id frame per message too.
        let router = cfg.kind.has_id_frame();
        let slots = if cfg.batch {
            (len / cfg.size.max(1)) * if router { 2 } else { 1 }
        } else {
            0
        };
        RinglinkSocket {
            sock,
            _ctx: ctx.clone(),
            buf: vec![0; len],
            lens: vec![0; slots],
            id: Vec::new(),
            batch: cfg.batch,
            inline: cfg.inline,
            router,
            send_to: cfg.send_to.clone(),
        }
    }

    /// ROUTER: reads the routing-id frame of the next message into `self.id`.
    fn recv_id(&mut self, flags: ringlink::Flags) -> Result<(), ringlink::Error> {
        let mut id = [0u8; 256];
        let n = self.sock.recv(&mut id, flags)?;
        self.id.clear();
        self.id.extend_from_slice(&id[..n.min(id.len())]);
        Ok(())
    }

    /// Receives one message into `self.buf` (after its routing id, for a ROUTER).
    fn recv_payload(&mut self) -> Result<usize, String> {
        if self.router {
            self.recv_id(ringlink::Flags::empty())
                .map_err(rl_err("recv id"))?;
        }
        let n = self.sock.recv(&mut self.buf, 0).map_err(rl_err("recv"))?;
        if n > self.buf.len() {
            return Err(format!("recv: {n}-byte message exceeds the buffer"));
        }
        Ok(n)
    }
}

impl BenchSocket for RinglinkSocket {
    fn bind(&mut self, endpoint: &str) -> Result<String, String> {
        self.sock.bind(endpoint).map_err(rl_err("bind"))?;
        self.sock
            .last_endpoint()
            .ok_or_else(|| "bind: no last endpoint".to_string())
    }

    fn connect(&mut self, endpoint: &str) -> Result<(), String> {
        self.sock.connect(endpoint).map_err(rl_err("connect"))
    }

    fn set_rcvtimeo(&mut self, ms: i32) -> Result<(), String> {
        self.sock
            .set_option(SocketOption::RcvTimeo(ms))
            .map_err(rl_err("RCVTIMEO"))
    }

    fn send(&mut self, msg: &[u8]) -> Result<(), String> {
        if let Some(to) = &self.send_to {
            return self.sock.send_routed(to, &[msg], 0).map_err(rl_err("send"));
        }
        self.sock.send(msg, 0).map_err(rl_err("send"))
    }

    fn try_send(&mut self, msg: &[u8]) -> Result<bool, String> {
        if let Some(to) = &self.send_to {
            return match self.sock.send_routed(to, &[msg], DONTWAIT) {
                Ok(()) => Ok(true),
                Err(ringlink::Error::Again | ringlink::Error::HostUnreachable) => Ok(false),
                Err(e) => Err(rl_err("send")(e)),
            };
        }
        match self.sock.send(msg, DONTWAIT) {
            Ok(()) => Ok(true),
            Err(ringlink::Error::Again) => Ok(false),
            Err(e) => Err(rl_err("send")(e)),
        }
    }

    fn recv(&mut self) -> Result<&[u8], String> {
        let n = self.recv_payload()?;
        Ok(&self.buf[..n])
    }

    fn echo(&mut self) -> Result<(), String> {
        let n = self.recv_payload()?;
        if self.router {
            self.sock
                .send(&self.id, SNDMORE)
                .map_err(rl_err("send id"))?;
        }
        self.sock.send(&self.buf[..n], 0).map_err(rl_err("send"))
    }

    fn flush(&mut self) {
        self.sock.flush();
    }

    /// Inline contexts: `poll` on the socket (no events) and stdin leads the context's
    /// reactor, sending what is queued as the kernel takes it, until stdin is readable.
    fn drive_until_parent(&mut self) -> Result<(), String> {
        if !self.inline {
            return Ok(());
        }
        drive_until_stdin(&mut self.sock)
    }

    /// ROUTER / STREAM senders use `send_routed_batch` ([peer id, payload] pairs).
    fn send_all(&mut self, msgs: &[&[u8]]) -> Result<(), String> {
        if !self.batch {
            return msgs.iter().try_for_each(|m| self.send(m));
        }
        if let Some(to) = self.send_to.clone() {
            let pairs: Vec<(&[u8], &[u8])> = msgs.iter().map(|m| (&to[..], *m)).collect();
            let mut rest = &pairs[..];
            while !rest.is_empty() {
                let n = self
                    .sock
                    .send_routed_batch(rest, 0)
                    .map_err(rl_err("send_routed_batch"))?;
                rest = rest.get(n..).unwrap_or_default();
            }
            return Ok(());
        }
        let mut rest = msgs;
        // A blocking send_batch may still return a short count (e.g. at the HWM); resend the rest.
        while !rest.is_empty() {
            let n = self
                .sock
                .send_batch(rest, 0)
                .map_err(rl_err("send_batch"))?;
            rest = rest.get(n..).unwrap_or_default();
        }
        Ok(())
    }

    fn send_copies(&mut self, msg: &[u8], count: u64) -> Result<(), String> {
        if !self.batch {
            return (0..count).try_for_each(|_| self.send(msg));
        }
        if self.send_to.is_some() {
            let n = usize::try_from(count).map_err(|_| "count too large".to_string())?;
            return self.send_all(&vec![msg; n]);
        }
        let mut left = usize::try_from(count).map_err(|_| "count too large".to_string())?;
        while left > 0 {
            let n = self
                .sock
                .send_repeat(msg, left, 0)
                .map_err(rl_err("send_repeat"))?;
            left = left.saturating_sub(n);
        }
        Ok(())
    }

    fn poll_drain<F: FnMut(&[u8]) -> bool>(&mut self, mut each: F) -> Result<bool, String> {
        let timeout = Duration::from_millis(RX_TIMEOUT_MS as u64);
        let ready = ringlink::poll(
            &mut [PollItem::socket(&mut self.sock, POLLIN)],
            Some(timeout),
        )
        .map_err(rl_err("poll"))?;
        if ready == 0 {
            return Err("poll: timed out".into());
        }
        if self.batch {
            loop {
                let n = self
                    .sock
                    .drain(&mut self.buf, &mut self.lens)
                    .map_err(rl_err("drain"))?;
                if n == 0 {
                    return Ok(false);
                }
                let mut off = 0;
                for (i, &len) in self.lens[..n].iter().enumerate() {
                    let msg = &self.buf[off..off + len];
                    off += len;
                    if self.router && i % 2 == 0 {
                        continue;
                    }
                    if each(msg) {
                        return Ok(true);
                    }
                }
            }
        }
        loop {
            if self.router {
                match self.recv_id(DONTWAIT) {
                    Ok(()) => {}
                    Err(ringlink::Error::Again) => return Ok(false),
                    Err(e) => return Err(rl_err("recv id")(e)),
                }
                let n = self.sock.recv(&mut self.buf, 0).map_err(rl_err("recv"))?;
                if each(&self.buf[..n.min(self.buf.len())]) {
                    return Ok(true);
                }
            } else {
                match self.sock.recv(&mut self.buf, DONTWAIT) {
                    Ok(n) => {
                        if each(&self.buf[..n.min(self.buf.len())]) {
                            return Ok(true);
                        }
                    }
                    Err(ringlink::Error::Again) => return Ok(false),
                    Err(e) => return Err(rl_err("recv")(e)),
                }
            }
        }
    }

    fn learn_peer(&mut self) -> Result<(), String> {
        let n = self.recv_payload()?;
        if n != 0 {
            return Err(format!("expected a connect notification, got {n} bytes"));
        }
        self.send_to = Some(self.id.clone());
        Ok(())
    }

    fn recv_each<F: FnMut(&[u8]) -> bool>(&mut self, mut each: F) -> Result<bool, String> {
        if !self.batch {
            let msg = self.recv()?;
            return Ok(each(msg));
        }
        let n = self
            .sock
            .recv_batch(&mut self.buf, &mut self.lens, 0)
            .map_err(rl_err("recv_batch"))?;
        let mut off = 0;
        for (i, &len) in self.lens.get(..n).unwrap_or_default().iter().enumerate() {
            let msg = self
                .buf
                .get(off..off + len)
                .ok_or_else(|| "recv_batch: lengths exceed the buffer".to_string())?;
            off += len;
            // A ROUTER's batch alternates [routing id][payload] (single-part payloads).
            if self.router && i % 2 == 0 {
                continue;
            }
            if each(msg) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// A libzmq socket (own context with libzmq's default of 1 I/O thread).
pub struct ZmqSocket {
    sock: zmq::Socket,
    // Kept alive for the socket; never dropped in practice (peers exit without teardown).
    _ctx: Option<zmq::Context>,
    msg: zmq::Message,
    id: zmq::Message,
    router: bool,
    send_to: Option<Vec<u8>>,
}

fn zmq_err(what: &str) -> impl Fn(zmq::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// The libzmq socket type of `kind`.
pub fn zmq_type(kind: Kind) -> zmq::SocketType {
    match kind {
        Kind::Pair => zmq::PAIR,
        Kind::Dealer => zmq::DEALER,
        Kind::Router => zmq::ROUTER,
        Kind::Pub => zmq::XPUB,
        Kind::Sub => zmq::SUB,
        Kind::Push => zmq::PUSH,
        Kind::Pull => zmq::PULL,
        Kind::Req => zmq::REQ,
        Kind::Rep => zmq::REP,
        Kind::Stream => zmq::STREAM,
    }
}

impl ZmqSocket {
    /// A context of its own and one socket in it.
    pub fn open(cfg: &SocketConfig) -> Result<ZmqSocket, String> {
        let ctx = zmq::Context::new();
        let sock = ctx.socket(zmq_type(cfg.kind)).map_err(zmq_err("socket"))?;
        let mut s = ZmqSocket::wrap(sock, cfg)?;
        s._ctx = Some(ctx);
        Ok(s)
    }

    /// Applies the options of `cfg` to `sock` (a socket of type `cfg.kind`).
    pub fn wrap(sock: zmq::Socket, cfg: &SocketConfig) -> Result<ZmqSocket, String> {
        sock.set_sndhwm(cfg.hwm).map_err(zmq_err("SNDHWM"))?;
        sock.set_rcvhwm(cfg.hwm).map_err(zmq_err("RCVHWM"))?;
        if let Some(id) = &cfg.routing_id {
            sock.set_identity(id).map_err(zmq_err("ROUTING_ID"))?;
        }
        if cfg.send_to.is_some() && cfg.kind == Kind::Router {
            sock.set_router_mandatory(true)
                .map_err(zmq_err("ROUTER_MANDATORY"))?;
        }
        if cfg.kind == Kind::Sub {
            sock.set_subscribe(b"").map_err(zmq_err("SUBSCRIBE"))?;
        }
        Ok(ZmqSocket {
            sock,
            _ctx: None,
            msg: zmq::Message::new(),
            id: zmq::Message::new(),
            router: cfg.kind.has_id_frame(),
            send_to: cfg.send_to.clone(),
        })
    }

    fn recv_msg(&mut self) -> Result<(), String> {
        if self.router {
            self.sock
                .recv(&mut self.id, 0)
                .map_err(zmq_err("recv id"))?;
        }
        self.sock.recv(&mut self.msg, 0).map_err(zmq_err("recv"))
    }
}

impl BenchSocket for ZmqSocket {
    fn bind(&mut self, endpoint: &str) -> Result<String, String> {
        self.sock.bind(endpoint).map_err(zmq_err("bind"))?;
        self.sock
            .get_last_endpoint()
            .map_err(zmq_err("LAST_ENDPOINT"))?
            .map_err(|_| "LAST_ENDPOINT is not UTF-8".to_string())
    }

    fn connect(&mut self, endpoint: &str) -> Result<(), String> {
        self.sock.connect(endpoint).map_err(zmq_err("connect"))
    }

    fn set_rcvtimeo(&mut self, ms: i32) -> Result<(), String> {
        self.sock.set_rcvtimeo(ms).map_err(zmq_err("RCVTIMEO"))
    }

    /// `zmq_msg_init_size` + copy + `zmq_msg_send`, i.e. what `zmq_send()` does.
    fn send(&mut self, msg: &[u8]) -> Result<(), String> {
        if let Some(to) = &self.send_to {
            self.sock
                .send(&to[..], zmq::SNDMORE)
                .map_err(zmq_err("send id"))?;
        }
        self.sock.send(msg, 0).map_err(zmq_err("send"))
    }

    fn try_send(&mut self, msg: &[u8]) -> Result<bool, String> {
        if let Some(to) = &self.send_to {
            match self.sock.send(&to[..], zmq::SNDMORE | zmq::DONTWAIT) {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN | zmq::Error::EHOSTUNREACH) => return Ok(false),
                Err(e) => return Err(zmq_err("send id")(e)),
            }
            return self
                .sock
                .send(msg, 0)
                .map(|()| true)
                .map_err(zmq_err("send"));
        }
        match self.sock.send(msg, zmq::DONTWAIT) {
            Ok(()) => Ok(true),
            Err(zmq::Error::EAGAIN) => Ok(false),
            Err(e) => Err(zmq_err("send")(e)),
        }
    }

    /// `zmq_msg_recv` into a reused message: no copy, like `local_thr`.
    fn recv(&mut self) -> Result<&[u8], String> {
        self.recv_msg()?;
        Ok(&self.msg)
    }

    fn poll_drain<F: FnMut(&[u8]) -> bool>(&mut self, mut each: F) -> Result<bool, String> {
        let ready = self
            .sock
            .poll(zmq::POLLIN, i64::from(RX_TIMEOUT_MS))
            .map_err(zmq_err("poll"))?;
        if ready == 0 {
            return Err("poll: timed out".into());
        }
        loop {
            let first = if self.router {
                &mut self.id
            } else {
                &mut self.msg
            };
            match self.sock.recv(first, zmq::DONTWAIT) {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN) => return Ok(false),
                Err(e) => return Err(zmq_err("recv")(e)),
            }
            if self.router {
                self.sock.recv(&mut self.msg, 0).map_err(zmq_err("recv"))?;
            }
            if each(&self.msg) {
                return Ok(true);
            }
        }
    }

    fn learn_peer(&mut self) -> Result<(), String> {
        self.recv_msg()?;
        if !self.msg.is_empty() {
            return Err(format!(
                "expected a connect notification, got {} bytes",
                self.msg.len()
            ));
        }
        self.send_to = Some(self.id.to_vec());
        Ok(())
    }

    /// Sends the received message object back without copying (as `zmq_bench.c` does); a
    /// ROUTER sends the routing-id message object first.
    fn echo(&mut self) -> Result<(), String> {
        self.recv_msg()?;
        if self.router {
            let id = std::mem::replace(&mut self.id, zmq::Message::new());
            self.sock
                .send(id, zmq::SNDMORE)
                .map_err(zmq_err("send id"))?;
        }
        let msg = std::mem::replace(&mut self.msg, zmq::Message::new());
        self.sock.send(msg, 0).map_err(zmq_err("send"))
    }
}

/// The libzmq version string linked into this binary, e.g. "4.3.4".
pub fn libzmq_version() -> String {
    let (major, minor, patch) = zmq::version();
    format!("{major}.{minor}.{patch}")
}

/// Inline ringlink contexts: drive `sock`'s context until stdin is readable (the parent wrote
/// or closed it). Errors (a signal, a terminated context) end the run as failures.
pub fn drive_until_stdin(sock: &mut Socket) -> Result<(), String> {
    sock.flush();
    let mut items = [
        PollItem::socket(sock, 0),
        PollItem::fd(libc::STDIN_FILENO, ringlink::POLLIN),
    ];
    while items[1].revents.is_empty() {
        ringlink::poll(&mut items, None).map_err(rl_err("poll (driving until released)"))?;
    }
    Ok(())
}
