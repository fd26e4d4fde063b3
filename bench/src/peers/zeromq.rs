//! zeromq (zmq.rs, pure Rust on tokio) peer: one socket of the run's pattern, driven by the
//! shared async roles of [`super`].
//!
//! Configuration, and why:
//! * Default `SocketOptions`: zmq.rs has no HWM option (its per-peer queues have a fixed
//!   bound) and no batch API; there is nothing else to tune.
//! * PUB/SUB sends from an XPUB, as ringlink and libzmq do: it receives the subscription
//!   before the warm-up, and its send waits for room instead of dropping (PUB drops for a
//!   slow subscriber), so nothing is lost, as with HWM 0 elsewhere.

use bytes::Bytes;
use zeromq::prelude::*;
use zeromq::{
    DealerSocket, PullSocket, PushSocket, RepSocket, ReqSocket, RouterSocket, SocketOptions,
    SubSocket, XPubSocket, ZmqError, ZmqMessage,
};

use super::{kind, run_role, runtime, AsyncSocket};
use crate::impls::{Flavour, Kind, Pattern};
use crate::peer::{PeerArgs, Role, RX_ID, TX_ID};

/// Runs `a`'s role on a zeromq socket in a runtime of `flavour`.
pub fn run(a: &PeerArgs, flavour: Flavour) -> Result<(), String> {
    runtime(flavour)?.block_on(async {
        let mut s = ZeromqSocket::open(a).await?;
        run_role(&mut s, a).await
    })
}

fn err(what: &str) -> impl Fn(ZmqError) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// zmq.rs has one type per socket kind.
enum Sock {
    Dealer(DealerSocket),
    Router(RouterSocket),
    XPub(XPubSocket),
    Sub(SubSocket),
    Push(PushSocket),
    Pull(PullSocket),
    Req(ReqSocket),
    Rep(RepSocket),
}

/// `$body` with `$s` bound to the socket, whatever its type.
macro_rules! any_sock {
    ($sock:expr, $s:ident => $body:expr) => {
        match $sock {
            Sock::Dealer($s) => $body,
            Sock::Router($s) => $body,
            Sock::XPub($s) => $body,
            Sock::Sub($s) => $body,
            Sock::Push($s) => $body,
            Sock::Pull($s) => $body,
            Sock::Req($s) => $body,
            Sock::Rep($s) => $body,
        }
    };
}

struct ZeromqSocket {
    sock: Sock,
    /// ROUTER sender: the routing id every message goes to.
    send_to: Option<Bytes>,
}

impl ZeromqSocket {
    async fn open(a: &PeerArgs) -> Result<ZeromqSocket, String> {
        let k = kind(a);
        let bind_side = matches!(a.role, Role::ThrRecv | Role::LatServer);
        let mut o = SocketOptions::default();
        if a.pattern == Pattern::RouterRouter {
            let id = if bind_side { RX_ID } else { TX_ID };
            o.peer_identity(id.try_into().map_err(err("routing id"))?);
        }
        let sock = match k {
            Kind::Dealer => Sock::Dealer(DealerSocket::with_options(o)),
            Kind::Router => Sock::Router(RouterSocket::with_options(o)),
            Kind::Pub => Sock::XPub(XPubSocket::with_options(o)),
            Kind::Sub => {
                let mut s = SubSocket::with_options(o);
                s.subscribe("").await.map_err(err("subscribe"))?;
                Sock::Sub(s)
            }
            Kind::Push => Sock::Push(PushSocket::with_options(o)),
            Kind::Pull => Sock::Pull(PullSocket::with_options(o)),
            Kind::Req => Sock::Req(ReqSocket::with_options(o)),
            Kind::Rep => Sock::Rep(RepSocket::with_options(o)),
            Kind::Pair | Kind::Stream => return Err(format!("zeromq has no {k:?} socket")),
        };
        let send_to = (k == Kind::Router && !bind_side).then(|| Bytes::from_static(RX_ID));
        Ok(ZeromqSocket { sock, send_to })
    }

    async fn send_msg(&mut self, m: ZmqMessage) -> Result<(), ZmqError> {
        match &mut self.sock {
            Sock::Dealer(s) => s.send(m).await,
            Sock::Router(s) => s.send(m).await,
            Sock::XPub(s) => s.send(m).await,
            Sock::Push(s) => s.send(m).await,
            Sock::Req(s) => s.send(m).await,
            Sock::Rep(s) => s.send(m).await,
            Sock::Sub(_) | Sock::Pull(_) => Err(ZmqError::Socket("cannot send on this socket")),
        }
    }

    async fn recv_msg(&mut self) -> Result<ZmqMessage, ZmqError> {
        match &mut self.sock {
            Sock::Dealer(s) => s.recv().await,
            Sock::Router(s) => s.recv().await,
            Sock::XPub(s) => s.recv().await,
            Sock::Sub(s) => s.recv().await,
            Sock::Pull(s) => s.recv().await,
            Sock::Req(s) => s.recv().await,
            Sock::Rep(s) => s.recv().await,
            Sock::Push(_) => Err(ZmqError::Socket("cannot receive on this socket")),
        }
    }

    /// [to][msg] for a ROUTER sender, [msg] otherwise.
    fn message(&self, msg: &[u8]) -> ZmqMessage {
        let mut m = ZmqMessage::from(Bytes::copy_from_slice(msg));
        if let Some(to) = &self.send_to {
            m.push_front(to.clone());
        }
        m
    }

    fn is_router(&self) -> bool {
        matches!(self.sock, Sock::Router(_))
    }
}

impl AsyncSocket for ZeromqSocket {
    async fn bind(&mut self, endpoint: &str) -> Result<String, String> {
        let ep = any_sock!(&mut self.sock, s => s.bind(endpoint).await).map_err(err("bind"))?;
        Ok(ep.to_string())
    }

    async fn connect(&mut self, endpoint: &str) -> Result<(), String> {
        any_sock!(&mut self.sock, s => s.connect(endpoint).await).map_err(err("connect"))
    }

    async fn send(&mut self, msg: &[u8]) -> Result<(), String> {
        let m = self.message(msg);
        self.send_msg(m).await.map_err(err("send"))
    }

    /// zmq.rs's ROUTER always refuses a message for an unknown peer (as ROUTER_MANDATORY).
    async fn try_send(&mut self, msg: &[u8]) -> Result<bool, String> {
        let m = self.message(msg);
        match self.send_msg(m).await {
            Ok(()) => Ok(true),
            Err(ZmqError::Other(_)) if self.is_router() => Ok(false),
            Err(e) => Err(err("send")(e)),
        }
    }

    async fn recv<R>(&mut self, each: impl FnOnce(&[u8]) -> R) -> Result<R, String> {
        let m = self.recv_msg().await.map_err(err("recv"))?;
        // A ROUTER's message is [routing id][payload].
        let at = usize::from(self.is_router());
        Ok(each(m.get(at).map_or(&[][..], |b| &b[..])))
    }

    async fn echo(&mut self) -> Result<(), String> {
        let m = self.recv_msg().await.map_err(err("recv"))?;
        self.send_msg(m).await.map_err(err("send"))
    }

    /// The XPUB receives the subscription message itself.
    async fn await_subscriber(&mut self, _warm: &[u8]) -> Result<(), String> {
        self.recv_msg().await.map_err(err("subscription"))?;
        Ok(())
    }
}
