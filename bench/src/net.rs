//! The small socket surface the benchmark roles need, implemented for ringlink and libzmq so
//! the role code is the same for every implementation. Errors are strings with context:
//! they end up in the "failed" line of a run, never in a panic.

use std::time::Duration;

use ringlink::{Backend, Context, Socket, SocketOption, SocketType};

/// Receive timeout of the throughput receiver, as in `zmq_bench.c`: a lost message ends the
/// run after 2 s instead of at the parent's much longer kill timeout.
pub const RX_TIMEOUT_MS: i32 = 2000;

/// How long one blocking wait of [`BenchSocket::drive_until`] lasts, i.e. how late an
/// inline peer notices that the parent released it.
const DRIVE_SLICE_MS: i32 = 10;

/// Receive buffer of the batch API.
const RECV_BUF: usize = 1 << 20;

/// Socket operations used by the roles. Generic (not `dyn`) so per-message calls are not
/// slowed down by dynamic dispatch that the libraries themselves would not have.
pub trait BenchSocket {
    /// Binds and returns the resolved endpoint (the ephemeral port filled in).
    fn bind(&mut self, endpoint: &str) -> Result<String, String>;
    fn connect(&mut self, endpoint: &str) -> Result<(), String>;
    /// Sets the receive timeout (the throughput receiver only).
    fn set_rcvtimeo(&mut self, ms: i32) -> Result<(), String>;
    /// Sends one message, blocking while the HWM is reached.
    fn send(&mut self, msg: &[u8]) -> Result<(), String>;
    /// Receives one message (blocking, or until the receive timeout).
    fn recv(&mut self) -> Result<&[u8], String>;
    /// Receives one message and sends it back, each library's cheapest way.
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

    /// Keeps I/O going until `released()` returns true. Libraries with I/O threads need
    /// nothing, so the default returns at once (the caller then simply blocks).
    fn drive_until<F: FnMut() -> bool>(&mut self, released: F) {
        let _ = released;
    }

    /// Receives what one receive call yields (one message unless overridden) and hands each
    /// message to `each`, stopping early when it returns true. Returns whether it stopped.
    fn recv_each<F: FnMut(&[u8]) -> bool>(&mut self, mut each: F) -> Result<bool, String> {
        let msg = self.recv()?;
        Ok(each(msg))
    }
}

/// Throughput/latency settings shared by both peer roles of one run.
pub struct SocketConfig {
    pub hwm: i32,
    /// Message size, for sizing receive buffers.
    pub size: usize,
    /// Use `send_batch`/`send_repeat`/`recv_batch` (ringlink only).
    pub batch: bool,
    /// Spin this long before parking (ringlink only; `None` = library default of 0).
    pub spin: Option<Duration>,
    /// Run-to-completion context without a reactor thread (ringlink only).
    pub inline: bool,
}

/// A ringlink PAIR socket and the context that drives it.
pub struct RinglinkSocket {
    sock: Socket,
    // Kept alive for the socket; never dropped in practice (peers exit without teardown).
    _ctx: Context,
    buf: Vec<u8>,
    lens: Vec<usize>,
    batch: bool,
    inline: bool,
}

fn rl_err(what: &str) -> impl Fn(ringlink::Error) -> String + '_ {
    move |e| match e {
        ringlink::Error::Again => format!("{what}: timed out (EAGAIN)"),
        e => format!("{what}: {e}"),
    }
}

impl RinglinkSocket {
    /// Opens a context on exactly `backend` (no silent fallback: an epoll run labelled
    /// "uring" would make the comparison meaningless) and a PAIR socket with the given HWM.
    /// The context has one reactor thread (libzmq's default of one I/O thread), or none
    /// (`io_threads(0)`, run-to-completion, `single_thread`: each peer process is one
    /// thread) if `cfg.inline`.
    pub fn open(backend: Backend, cfg: &SocketConfig) -> Result<RinglinkSocket, String> {
        let ctx = Context::builder()
            .backend(backend)
            .io_threads(if cfg.inline { 0 } else { 1 })
            .single_thread(cfg.inline)
            .spin(cfg.spin.unwrap_or(Duration::ZERO))
            .build()
            .map_err(rl_err("context"))?;
        if ctx.backend() != backend {
            return Err(format!(
                "asked for the {} backend, got {}",
                backend.name(),
                ctx.backend().name()
            ));
        }
        let mut sock = ctx.socket(SocketType::Pair).map_err(rl_err("socket"))?;
        sock.set_option(SocketOption::SndHwm(cfg.hwm))
            .map_err(rl_err("SNDHWM"))?;
        sock.set_option(SocketOption::RcvHwm(cfg.hwm))
            .map_err(rl_err("RCVHWM"))?;
        // Per-message receives get a buffer of exactly one message (what an application
        // would pass); recv_batch gets at least 1 MiB and a length slot per message that fits.
        let len = if cfg.batch {
            RECV_BUF.max(cfg.size)
        } else {
            cfg.size
        };
        let slots = if cfg.batch { len / cfg.size.max(1) } else { 0 };
        Ok(RinglinkSocket {
            sock,
            _ctx: ctx,
            buf: vec![0; len],
            lens: vec![0; slots],
            batch: cfg.batch,
            inline: cfg.inline,
        })
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
        self.sock.send(msg, 0).map(|_| ()).map_err(rl_err("send"))
    }

    fn recv(&mut self) -> Result<&[u8], String> {
        let n = self.sock.recv(&mut self.buf, 0).map_err(rl_err("recv"))?;
        self.buf
            .get(..n)
            .ok_or_else(|| format!("recv: {n}-byte message exceeds the buffer"))
    }

    fn echo(&mut self) -> Result<(), String> {
        let n = self.sock.recv(&mut self.buf, 0).map_err(rl_err("recv"))?;
        let msg = self
            .buf
            .get(..n)
            .ok_or_else(|| format!("recv: {n}-byte message exceeds the buffer"))?;
        self.sock.send(msg, 0).map(|_| ()).map_err(rl_err("send"))
    }

    fn flush(&mut self) {
        self.sock.flush();
    }

    /// Inline contexts: a blocking `recv` with a short timeout is a blocking wait inside
    /// ringlink, which drives the ring / epoll and sends what is queued as the kernel takes
    /// it, without polling on a timer. Nothing ever arrives (the partner only receives or
    /// is done); any error just stops the driving: the measurement is over by then.
    fn drive_until<F: FnMut() -> bool>(&mut self, mut released: F) {
        if !self.inline {
            return;
        }
        self.sock.flush();
        if self.set_rcvtimeo(DRIVE_SLICE_MS).is_err() {
            return;
        }
        while !released() {
            match self.sock.recv(&mut self.buf, 0) {
                Ok(_) | Err(ringlink::Error::Again) => {}
                Err(_) => return,
            }
        }
    }

    fn send_all(&mut self, msgs: &[&[u8]]) -> Result<(), String> {
        if !self.batch {
            return msgs.iter().try_for_each(|m| self.send(m));
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
        for &len in self.lens.get(..n).unwrap_or_default() {
            let msg = self
                .buf
                .get(off..off + len)
                .ok_or_else(|| "recv_batch: lengths exceed the buffer".to_string())?;
            off += len;
            if each(msg) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// A libzmq PAIR socket (own context with libzmq's default of 1 I/O thread).
pub struct ZmqSocket {
    sock: zmq::Socket,
    // Kept alive for the socket; never dropped in practice (peers exit without teardown).
    _ctx: zmq::Context,
    msg: zmq::Message,
}

fn zmq_err(what: &str) -> impl Fn(zmq::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

impl ZmqSocket {
    pub fn open(cfg: &SocketConfig) -> Result<ZmqSocket, String> {
        let ctx = zmq::Context::new();
        let sock = ctx.socket(zmq::PAIR).map_err(zmq_err("socket"))?;
        sock.set_sndhwm(cfg.hwm).map_err(zmq_err("SNDHWM"))?;
        sock.set_rcvhwm(cfg.hwm).map_err(zmq_err("RCVHWM"))?;
        Ok(ZmqSocket {
            sock,
            _ctx: ctx,
            msg: zmq::Message::new(),
        })
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
        self.sock.send(msg, 0).map_err(zmq_err("send"))
    }

    /// `zmq_msg_recv` into a reused message: no copy, like `local_thr`.
    fn recv(&mut self) -> Result<&[u8], String> {
        self.sock.recv(&mut self.msg, 0).map_err(zmq_err("recv"))?;
        Ok(&self.msg)
    }

    /// Sends the received message object back without copying (as `zmq_bench.c` does).
    fn echo(&mut self) -> Result<(), String> {
        self.sock.recv(&mut self.msg, 0).map_err(zmq_err("recv"))?;
        let msg = std::mem::replace(&mut self.msg, zmq::Message::new());
        self.sock.send(msg, 0).map_err(zmq_err("send"))
    }
}

/// The libzmq version string linked into this binary, e.g. "4.3.4".
pub fn libzmq_version() -> String {
    let (major, minor, patch) = zmq::version();
    format!("{major}.{minor}.{patch}")
}
