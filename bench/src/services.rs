//! GATEWAY and SPOT in `compare`: zlink's service layer (ringlink's `ringlink-services`)
//! measured like the socket patterns, with the same roles, warm-up, sequence check and
//! `RESULT` lines.
//!
//! * GATEWAY: the bind process runs a registry and a receiver (its ROUTER is the bench
//!   socket: `[gateway id][payload]` per request, replies go back the same way); it
//!   announces the registry's PUB endpoint. The other process runs a discovery of that
//!   registry and a gateway, and sends to the service by name (`send`, or `send_many` for
//!   the batch rows); a latency client receives the reply with `recv`.
//! * SPOT: the bind process runs a registry and a node subscribed to the topic; the other a
//!   publishing node. Both register and follow the registry through a discovery, so each
//!   node's SUB connects to the other's PUB. Before the first measured message the sender
//!   publishes `hello` on a control topic until the receiver's `go` comes back: then the
//!   receiver's subscriptions are in place at the sender (they travel in order on one
//!   connection) and nothing is published into the void. Latency: `ping` out, `pong` back.

use std::time::{Duration, Instant};

use ringlink::{Backend, Context, SocketOption, DONTWAIT};
use ringlink_services::discovery::Discovery;
use ringlink_services::gateway::Gateway;
use ringlink_services::receiver::{Receiver, Registration};
use ringlink_services::registry::Registry;
use ringlink_services::spot::{SpotNode, SpotSub, DEFAULT_SERVICE};
use ringlink_services::wire::ServiceType;

use crate::impls::Pattern;
use crate::net::{ringlink_context, BenchSocket, RinglinkSocket, SocketConfig, RECV_BUF};
use crate::peer::{run_role, PeerArgs, Role};

/// The service the receiver registers and the gateway sends to.
const SERVICE: &str = "bench";
const TOPIC: &[u8] = b"bench";
const PING: &[u8] = b"ping";
const PONG: &[u8] = b"pong";
/// Set-up topics: the sender's `hello` (only the receiver subscribes) and the receiver's
/// `go` (only the sender subscribes), so neither node hears its own.
const HELLO: &[u8] = b"ctl-hello";
const GO: &[u8] = b"ctl-go";
/// How long set-up may take (registration, discovery, connection, subscriptions).
const SETUP: Duration = Duration::from_secs(20);
/// Messages per batch receive.
const BATCH_RECV: usize = 4096;

fn err(what: &str) -> impl Fn(ringlink::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Run one end of a GATEWAY or SPOT case (both need a context with a reactor thread).
pub fn run(a: &PeerArgs, backend: Backend, cfg: &SocketConfig) -> Result<(), String> {
    let ctx = ringlink_context(backend, false, cfg.spin, cfg.uring)?;
    let bind_side = matches!(a.role, Role::ThrRecv | Role::LatServer);
    let lat = matches!(a.role, Role::LatServer | Role::LatClient);
    match (a.pattern, bind_side) {
        (Pattern::Gateway, true) => run_role(&mut GatewayRx::new(ctx, cfg), a),
        (Pattern::Gateway, false) => run_role(&mut GatewayTx::new(ctx, cfg), a),
        (Pattern::Spot, _) => {
            // Each node's PUB on the run's transport (the registries are tcp).
            let own = a.transport.bind_endpoint(usize::from(!bind_side));
            run_role(&mut SpotEnd::new(ctx, cfg, bind_side, lat, own), a)
        }
        _ => Err(format!("{}: not a service pattern", a.pattern.name())),
    }
}

/// Split the announced `registry-pub|registry-router`.
fn registry_endpoints(announced: &str) -> Result<(&str, &str), String> {
    announced
        .split_once('|')
        .ok_or_else(|| format!("bad service endpoint {announced:?}"))
}

fn start_registry(ctx: &Context) -> Result<Registry, String> {
    Registry::builder(ctx)
        .endpoints("tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
        .start()
        .map_err(err("registry"))
}

/// GATEWAY's bind side: a registry and a receiver whose ROUTER becomes a plain bench
/// socket once bound and registered.
struct GatewayRx {
    ctx: Context,
    cfg: SocketConfig,
    sock: Option<RinglinkSocket>,
    /// Set before the bind (which creates the socket).
    rcvtimeo: Option<i32>,
    _keep: Option<(Registry, Registration)>,
}

impl GatewayRx {
    fn new(ctx: Context, cfg: &SocketConfig) -> GatewayRx {
        GatewayRx {
            ctx,
            cfg: cfg.clone(),
            sock: None,
            rcvtimeo: None,
            _keep: None,
        }
    }

    fn sock(&mut self) -> Result<&mut RinglinkSocket, String> {
        self.sock
            .as_mut()
            .ok_or_else(|| "gateway receiver: not bound".to_string())
    }
}

impl BenchSocket for GatewayRx {
    fn bind(&mut self, endpoint: &str) -> Result<String, String> {
        let reg = start_registry(&self.ctx)?;
        let mut rx = Receiver::builder(&self.ctx)
            .registry(reg.router_endpoint())
            .start()
            .map_err(err("receiver"))?;
        for o in [
            SocketOption::SndHwm(self.cfg.hwm),
            SocketOption::RcvHwm(self.cfg.hwm),
        ] {
            rx.router().set_option(o).map_err(err("receiver HWM"))?;
        }
        rx.bind(endpoint).map_err(err("receiver bind"))?;
        rx.register(SERVICE, None, 1).map_err(err("register"))?;
        let (router, registration) = rx.into_router();
        let mut sock = RinglinkSocket::wrap(&self.ctx, router, &self.cfg);
        if let Some(ms) = self.rcvtimeo {
            sock.set_rcvtimeo(ms)?;
        }
        self.sock = Some(sock);
        let announced = format!("{}|{}", reg.pub_endpoint(), reg.router_endpoint());
        self._keep = Some((reg, registration));
        Ok(announced)
    }
    fn connect(&mut self, _: &str) -> Result<(), String> {
        Err("gateway receiver: binds only".into())
    }
    fn set_rcvtimeo(&mut self, ms: i32) -> Result<(), String> {
        self.rcvtimeo = Some(ms);
        match &mut self.sock {
            Some(s) => s.set_rcvtimeo(ms),
            None => Ok(()),
        }
    }
    fn send(&mut self, msg: &[u8]) -> Result<(), String> {
        self.sock()?.send(msg)
    }
    fn try_send(&mut self, msg: &[u8]) -> Result<bool, String> {
        self.sock()?.try_send(msg)
    }
    fn recv(&mut self) -> Result<&[u8], String> {
        self.sock()?.recv()
    }
    fn echo(&mut self) -> Result<(), String> {
        self.sock()?.echo()
    }
    fn recv_each<F: FnMut(&[u8]) -> bool>(&mut self, each: F) -> Result<bool, String> {
        self.sock()?.recv_each(each)
    }
    fn poll_drain<F: FnMut(&[u8]) -> bool>(&mut self, each: F) -> Result<bool, String> {
        self.sock()?.poll_drain(each)
    }
    fn learn_peer(&mut self) -> Result<(), String> {
        Err("gateway: no STREAM peer".into())
    }
}

/// GATEWAY's sending side: a discovery of the announced registry and a gateway.
struct GatewayTx {
    ctx: Context,
    batch: bool,
    gw: Option<(Discovery, Gateway)>,
    buf: Vec<u8>,
}

impl GatewayTx {
    fn new(ctx: Context, cfg: &SocketConfig) -> GatewayTx {
        GatewayTx {
            ctx,
            batch: cfg.batch,
            gw: None,
            buf: Vec::new(),
        }
    }

    fn gw(&self) -> Result<&Gateway, String> {
        self.gw
            .as_ref()
            .map(|(_, g)| g)
            .ok_or_else(|| "gateway: not connected".to_string())
    }
}

impl BenchSocket for GatewayTx {
    fn bind(&mut self, _: &str) -> Result<String, String> {
        Err("gateway: connects only".into())
    }

    /// Discover the receiver and wait until the gateway is connected to it (the
    /// connection has no event to wait on: checked every millisecond, during set-up only).
    fn connect(&mut self, announced: &str) -> Result<(), String> {
        let (pub_ep, _) = registry_endpoints(announced)?;
        let disc = Discovery::builder(&self.ctx, ServiceType::Gateway)
            .registry(pub_ep)
            .subscribe(SERVICE)
            .start()
            .map_err(err("discovery"))?;
        disc.wait_available(SERVICE, Some(SETUP))
            .map_err(err("waiting for the service"))?;
        let gw = Gateway::new(&self.ctx, &disc, None).map_err(err("gateway"))?;
        let deadline = Instant::now() + SETUP;
        while gw.connection_count(SERVICE).map_err(err("gateway"))? == 0 {
            if Instant::now() > deadline {
                return Err("gateway: no connected provider".into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.gw = Some((disc, gw));
        Ok(())
    }
    fn set_rcvtimeo(&mut self, _: i32) -> Result<(), String> {
        Ok(())
    }
    fn send(&mut self, msg: &[u8]) -> Result<(), String> {
        self.gw()?
            .send(SERVICE, &[msg], 0)
            .map_err(err("gateway send"))
    }
    fn try_send(&mut self, msg: &[u8]) -> Result<bool, String> {
        match self.gw()?.send(SERVICE, &[msg], DONTWAIT) {
            Ok(()) => Ok(true),
            Err(ringlink::Error::Again | ringlink::Error::HostUnreachable) => Ok(false),
            Err(e) => Err(err("gateway send")(e)),
        }
    }
    fn send_all(&mut self, msgs: &[&[u8]]) -> Result<(), String> {
        if !self.batch {
            return msgs.iter().try_for_each(|m| self.send(m));
        }
        let gw = self.gw()?;
        let mut rest = msgs;
        while !rest.is_empty() {
            let n = gw
                .send_many(SERVICE, rest, 0)
                .map_err(err("gateway send_many"))?;
            rest = &rest[n..];
        }
        Ok(())
    }
    fn send_copies(&mut self, msg: &[u8], count: u64) -> Result<(), String> {
        let mut left = usize::try_from(count).map_err(|_| "count too large".to_string())?;
        if !self.batch {
            return (0..left).try_for_each(|_| self.send(msg));
        }
        let gw = self.gw()?;
        while left > 0 {
            left -= gw
                .send_repeat(SERVICE, msg, left, 0)
                .map_err(err("gateway send_repeat"))?;
        }
        Ok(())
    }
    fn recv(&mut self) -> Result<&[u8], String> {
        let (_, parts) = self.gw()?.recv(0).map_err(err("gateway recv"))?;
        self.buf = parts.into_iter().next().unwrap_or_default();
        Ok(&self.buf)
    }
    fn echo(&mut self) -> Result<(), String> {
        Err("gateway: the receiver echoes".into())
    }
    fn poll_drain<F: FnMut(&[u8]) -> bool>(&mut self, _: F) -> Result<bool, String> {
        Err("gateway: no poll-drain receiver".into())
    }
    fn learn_peer(&mut self) -> Result<(), String> {
        Err("gateway: no STREAM peer".into())
    }
}

/// Either end of SPOT.
struct SpotEnd {
    ctx: Context,
    cfg: SocketConfig,
    bind_side: bool,
    lat: bool,
    /// Where this node's PUB binds.
    own: String,
    timeout: Option<Duration>,
    node: Option<(SpotNode, SpotSub, Discovery)>,
    _registry: Option<Registry>,
    buf: Vec<u8>,
}

impl SpotEnd {
    fn new(ctx: Context, cfg: &SocketConfig, bind_side: bool, lat: bool, own: String) -> SpotEnd {
        SpotEnd {
            ctx,
            cfg: cfg.clone(),
            bind_side,
            lat,
            own,
            timeout: None,
            node: None,
            _registry: None,
            buf: Vec::with_capacity(cfg.size.max(64)),
        }
    }

    /// A registered node following the registry, subscribed to `topics`.
    fn start(&mut self, pub_ep: &str, router_ep: &str, topics: &[&[u8]]) -> Result<(), String> {
        let node = SpotNode::builder(&self.ctx)
            .registry(router_ep)
            .pub_option(SocketOption::SndHwm(self.cfg.hwm))
            .sub_option(SocketOption::RcvHwm(self.cfg.hwm))
            .start()
            .map_err(err("spot node"))?;
        node.bind(&self.own).map_err(err("spot bind"))?;
        node.register(None, None).map_err(err("spot register"))?;
        let disc = Discovery::builder(&self.ctx, ServiceType::Spot)
            .registry(pub_ep)
            .start()
            .map_err(err("discovery"))?;
        node.follow(&disc, DEFAULT_SERVICE)
            .map_err(err("spot follow"))?;
        let sub = node.subscriber();
        for t in topics {
            sub.subscribe(std::str::from_utf8(t).expect("ASCII topics"))
                .map_err(err("subscribe"))?;
        }
        self.node = Some((node, sub, disc));
        Ok(())
    }

    fn parts(&self) -> Result<(&SpotNode, &SpotSub), String> {
        self.node
            .as_ref()
            .map(|(n, s, _)| (n, s))
            .ok_or_else(|| "spot: not started".to_string())
    }

    fn data_topic(&self) -> &'static [u8] {
        match (self.lat, self.bind_side) {
            (false, _) => TOPIC,
            (true, false) => PING,
            (true, true) => PONG,
        }
    }

    /// Receive up to `max` messages, each data payload to `each` (until it returns true);
    /// a `hello` is answered with a `go`. Returns whether `each` stopped.
    fn take<F: FnMut(&[u8]) -> bool>(&mut self, max: usize, mut each: F) -> Result<bool, String> {
        let timeout = self.timeout;
        let (node, sub) = self.parts()?;
        let (mut stopped, mut hello) = (false, false);
        let r = sub.recv_with(max, timeout, |r| {
            if stopped {
                return Ok(false);
            }
            if r.topic == HELLO {
                hello = true;
            } else if r.topic != GO {
                // (A `go` answering one of several hellos may still come: not data.)
                stopped = each(r.parts().next().unwrap_or_default());
            }
            Ok(true)
        });
        if hello {
            node.publish(GO, &[b"go"]).map_err(err("spot publish"))?;
        }
        match r {
            Ok(_) => Ok(stopped),
            Err(ringlink::Error::Again) => Err("spot recv: timed out".into()),
            Err(e) => Err(err("spot recv")(e)),
        }
    }
}

impl BenchSocket for SpotEnd {
    fn bind(&mut self, _endpoint: &str) -> Result<String, String> {
        let reg = start_registry(&self.ctx)?;
        let (pub_ep, router_ep) = (
            reg.pub_endpoint().to_string(),
            reg.router_endpoint().to_string(),
        );
        self._registry = Some(reg);
        let topic = if self.lat { PING } else { TOPIC };
        self.start(&pub_ep, &router_ep, &[topic, HELLO])?;
        Ok(format!("{pub_ep}|{router_ep}"))
    }

    /// Start the node, then `hello` every 5 ms until a `go`: the receiver hears us from
    /// then on.
    fn connect(&mut self, announced: &str) -> Result<(), String> {
        let (pub_ep, router_ep) = registry_endpoints(announced)?;
        let topics: &[&[u8]] = if self.lat { &[PONG, GO] } else { &[GO] };
        self.start(pub_ep, router_ep, topics)?;
        let (node, sub) = self.parts()?;
        let deadline = Instant::now() + SETUP;
        loop {
            node.publish(HELLO, &[b"hello"])
                .map_err(err("spot publish"))?;
            let mut go = false;
            match sub.recv_with(usize::MAX, Some(Duration::from_millis(5)), |r| {
                go |= r.topic == GO;
                Ok(true)
            }) {
                Ok(_) | Err(ringlink::Error::Again) => {}
                Err(e) => return Err(err("spot recv")(e)),
            }
            if go {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("spot: the receiver never answered".into());
            }
        }
    }
    fn set_rcvtimeo(&mut self, ms: i32) -> Result<(), String> {
        self.timeout = u64::try_from(ms).ok().map(Duration::from_millis);
        Ok(())
    }
    fn send(&mut self, msg: &[u8]) -> Result<(), String> {
        let topic = self.data_topic();
        self.parts()?
            .0
            .publish(topic, &[msg])
            .map_err(err("spot publish"))
    }
    fn try_send(&mut self, msg: &[u8]) -> Result<bool, String> {
        self.send(msg).map(|()| true)
    }
    fn send_all(&mut self, msgs: &[&[u8]]) -> Result<(), String> {
        if !self.cfg.batch {
            return msgs.iter().try_for_each(|m| self.send(m));
        }
        let topic = self.data_topic();
        self.parts()?
            .0
            .publish_many(topic, msgs)
            .map(drop)
            .map_err(err("spot publish_many"))
    }
    fn send_copies(&mut self, msg: &[u8], count: u64) -> Result<(), String> {
        let n = usize::try_from(count).map_err(|_| "count too large".to_string())?;
        if !self.cfg.batch {
            return (0..n).try_for_each(|_| self.send(msg));
        }
        let topic = self.data_topic();
        self.parts()?
            .0
            .publish_repeat(topic, msg, n)
            .map(drop)
            .map_err(err("spot publish_repeat"))
    }
    fn recv(&mut self) -> Result<&[u8], String> {
        let mut buf = std::mem::take(&mut self.buf);
        let r = loop {
            buf.clear();
            let mut got = false;
            match self.take(1, |p| {
                buf.extend_from_slice(p);
                got = true;
                true
            }) {
                Ok(_) if got => break Ok(()),
                Ok(_) => {}
                Err(e) => break Err(e),
            }
        };
        self.buf = buf;
        r.map(|()| &self.buf[..])
    }
    fn echo(&mut self) -> Result<(), String> {
        self.recv()?;
        let (node, _) = self.parts()?;
        node.publish(PONG, &[&self.buf[..]])
            .map_err(err("spot publish"))
    }
    fn recv_each<F: FnMut(&[u8]) -> bool>(&mut self, each: F) -> Result<bool, String> {
        let max = if self.cfg.batch {
            BATCH_RECV.min(RECV_BUF / self.cfg.size.max(1)).max(1)
        } else {
            1
        };
        self.take(max, each)
    }
    fn poll_drain<F: FnMut(&[u8]) -> bool>(&mut self, _: F) -> Result<bool, String> {
        Err("spot: no poll-drain receiver".into())
    }
    fn learn_peer(&mut self) -> Result<(), String> {
        Err("spot: no STREAM peer".into())
    }
}
