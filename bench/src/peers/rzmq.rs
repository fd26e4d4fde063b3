//! rzmq peer (pure Rust on tokio, optionally its io_uring backend): one socket of the
//! run's pattern, driven by the shared async roles of [`super`].
//!
//! Configuration, and why:
//! * `AUTO_DELIMITER` off on DEALER and ROUTER: rzmq otherwise adds an empty delimiter frame
//!   to DEALER messages, which ringlink and libzmq do not send; off, the frames on the wire
//!   are the same for every library.
//! * PUB/SUB: `XPUB_NODROP` on, SNDHWM = RCVHWM = `--hwm` or 1000 where the run asks for 0:
//!   rzmq reads HWM 0 as a one-message queue, not as unlimited. With NODROP nothing is
//!   dropped, which is what HWM 0 gives the others.
//! * Send/receive batching is rzmq's default (up to 128 messages / 256 KiB coalesced per
//!   write and per wake-up): its best per-message configuration, nothing to switch on.
//! * `rzmq-uring`: `initialize_uring_backend` with its defaults (one worker thread here,
//!   multishot receive) and `IO_URING_SESSION_ENABLED` on the socket (TCP only).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rzmq::socket::options as opt;
use rzmq::{Context, Msg, MsgFlags, SocketType, ZmqError};

use super::{kind, run_role, runtime, AsyncSocket};
use crate::impls::{Flavour, Kind, Pattern};
use crate::peer::{PeerArgs, Role, RX_ID, TX_ID};

/// Runs `a`'s role on an rzmq socket in a runtime of `flavour`.
pub fn run(a: &PeerArgs, flavour: Flavour, uring: bool) -> Result<(), String> {
    runtime(flavour)?.block_on(async {
        if uring {
            rzmq::uring::initialize_uring_backend(Default::default())
                .map_err(err("io_uring backend"))?;
        }
        let ctx = Context::new().map_err(err("context"))?;
        let mut s = RzmqSocket::open(&ctx, a, uring).await?;
        run_role(&mut s, a).await
    })
}

fn err(what: &str) -> impl Fn(ZmqError) -> String + '_ {
    move |e| format!("{what}: {e}")
}

struct RzmqSocket {
    sock: rzmq::Socket,
    /// ROUTER: receives [id][payload] and sends [id][payload].
    router: bool,
    /// ROUTER sender: the routing id every message goes to.
    send_to: Option<Vec<u8>>,
}

impl RzmqSocket {
    async fn open(ctx: &Context, a: &PeerArgs, uring: bool) -> Result<RzmqSocket, String> {
        let k = kind(a);
        let ty = match k {
            Kind::Dealer => SocketType::Dealer,
            Kind::Router => SocketType::Router,
            Kind::Pub => SocketType::Pub,
            Kind::Sub => SocketType::Sub,
            Kind::Push => SocketType::Push,
            Kind::Pull => SocketType::Pull,
            Kind::Req => SocketType::Req,
            Kind::Rep => SocketType::Rep,
            Kind::Pair | Kind::Stream => return Err(format!("rzmq has no {k:?} socket")),
        };
        let sock = ctx.socket(ty).map_err(err("socket"))?;
        let set = |o: i32, v: i32| {
            let sock = sock.clone();
            async move { sock.set_option(o, v).await.map_err(err("set_option")) }
        };
        let hwm = if a.hwm == 0 { 1000 } else { a.hwm };
        set(opt::SNDHWM, hwm).await?;
        set(opt::RCVHWM, hwm).await?;
        match k {
            Kind::Dealer | Kind::Router => set(opt::AUTO_DELIMITER, 0).await?,
            Kind::Pub => set(opt::XPUB_NODROP, 1).await?,
            Kind::Sub => sock
                .set_option(opt::SUBSCRIBE, &b""[..])
                .await
                .map_err(err("SUBSCRIBE"))?,
            _ => {}
        }
        let bind_side = matches!(a.role, Role::ThrRecv | Role::LatServer);
        if matches!(a.pattern, Pattern::RouterRouter) {
            let id = if bind_side { RX_ID } else { TX_ID };
            sock.set_option(opt::ROUTING_ID, id)
                .await
                .map_err(err("ROUTING_ID"))?;
        }
        let send_to = (k == Kind::Router && !bind_side).then(|| RX_ID.to_vec());
        if send_to.is_some() {
            set(opt::ROUTER_MANDATORY, 1).await?;
        }
        if uring {
            set(opt::IO_URING_SESSION_ENABLED, 1).await?;
        }
        Ok(RzmqSocket {
            sock,
            router: k == Kind::Router,
            send_to,
        })
    }

    /// [to][msg] for a ROUTER sender, [msg] otherwise.
    async fn send_msg(&self, msg: &[u8]) -> Result<(), ZmqError> {
        let payload = Msg::from_vec(msg.to_vec());
        match &self.send_to {
            Some(to) => {
                let mut id = Msg::from_vec(to.clone());
                id.set_flags(MsgFlags::MORE);
                self.sock.send_multipart(vec![id, payload]).await
            }
            None => self.sock.send(payload).await,
        }
    }
}

impl AsyncSocket for RzmqSocket {
    async fn bind(&mut self, endpoint: &str) -> Result<String, String> {
        self.sock.bind(endpoint).await.map_err(err("bind"))?;
        let ep = self
            .sock
            .get_option(opt::LAST_ENDPOINT)
            .await
            .map_err(err("LAST_ENDPOINT"))?;
        String::from_utf8(ep).map_err(|_| "LAST_ENDPOINT: not UTF-8".to_string())
    }

    async fn connect(&mut self, endpoint: &str) -> Result<(), String> {
        self.sock.connect(endpoint).await.map_err(err("connect"))
    }

    async fn send(&mut self, msg: &[u8]) -> Result<(), String> {
        self.send_msg(msg).await.map_err(err("send"))
    }

    async fn try_send(&mut self, msg: &[u8]) -> Result<bool, String> {
        match self.send_msg(msg).await {
            Ok(()) => Ok(true),
            Err(ZmqError::HostUnreachable(_)) => Ok(false),
            Err(e) => Err(err("send")(e)),
        }
    }

    async fn recv<R>(&mut self, each: impl FnOnce(&[u8]) -> R) -> Result<R, String> {
        if self.router {
            let frames = self.sock.recv_multipart().await.map_err(err("recv"))?;
            let payload = frames.get(1).and_then(Msg::data).unwrap_or_default();
            return Ok(each(payload));
        }
        let m = self.sock.recv().await.map_err(err("recv"))?;
        Ok(each(m.data().unwrap_or_default()))
    }

    async fn echo(&mut self) -> Result<(), String> {
        if self.router {
            let mut frames = self.sock.recv_multipart().await.map_err(err("recv"))?;
            if let Some(id) = frames.first_mut() {
                id.set_flags(id.flags() | MsgFlags::MORE);
            }
            return self.sock.send_multipart(frames).await.map_err(err("send"));
        }
        let m = self.sock.recv().await.map_err(err("recv"))?;
        self.sock.send(m).await.map_err(err("send"))
    }

    /// rzmq's PUB cannot show subscriptions: publish warm-up messages (dropped while nobody
    /// is subscribed) until the parent relays the receiver's first-message line on stdin.
    async fn await_subscriber(&mut self, warm: &[u8]) -> Result<(), String> {
        let go = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&go);
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            flag.store(true, Ordering::Release);
        });
        while !go.load(Ordering::Acquire) {
            self.send(warm).await?;
            // Unmatched sends complete at once; let the session tasks take the subscription.
            tokio::task::yield_now().await;
        }
        Ok(())
    }
}
