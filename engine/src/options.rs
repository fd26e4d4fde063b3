//! Socket options: the typed public enum and the plain settings struct a socket carries.
//!
//! Defaults follow libzmq 4.3 so ported programs behave the same (notably SNDHWM = RCVHWM =
//! 1000 messages, LINGER = -1, RECONNECT_IVL = 100 ms, HANDSHAKE_IVL = 30 s).

#![forbid(unsafe_code)]

use std::time::Duration;

use crate::error::{Error, Result};

/// A socket option and its value (libzmq names; times in milliseconds, -1 = infinite).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketOption {
    /// Messages queued per peer for sending before send blocks/fails (0 = unlimited).
    SndHwm(i32),
    /// Messages queued per peer on receive before the connection is paused (0 = unlimited).
    RcvHwm(i32),
    /// How long unsent messages are kept after close, ms (-1 = until sent, 0 = drop).
    Linger(i32),
    /// Send timeout, ms (-1 = block, 0 = never block).
    SndTimeo(i32),
    /// Receive timeout, ms (-1 = block, 0 = never block).
    RcvTimeo(i32),
    /// This socket's identity, announced to peers (1..=255 bytes, first byte not 0).
    RoutingId(Vec<u8>),
    /// ROUTER: the routing id to give the peer of the next `connect`.
    ConnectRoutingId(Vec<u8>),
    /// ROUTER: unroutable messages fail with EHOSTUNREACH, full peers with EAGAIN.
    RouterMandatory(bool),
    /// ROUTER: a new peer with a routing id in use takes it over.
    RouterHandover(bool),
    /// DEALER/ROUTER: send an empty message to every new peer.
    ProbeRouter(bool),
    /// Initial reconnect interval, ms (-1 = no reconnect).
    ReconnectIvl(i32),
    /// Upper bound for exponential reconnect backoff, ms (0 = no backoff).
    ReconnectIvlMax(i32),
    /// Queue messages only to completed connections.
    Immediate(bool),
    /// Largest inbound frame accepted; larger ones disconnect the peer (-1 = no limit).
    MaxMsgSize(i64),
    /// Send a PING every this many ms (0 = off).
    HeartbeatIvl(i32),
    /// TTL announced in our PINGs, ms.
    HeartbeatTtl(i32),
    /// Disconnect when nothing arrives this long after a PING, ms (-1 = use HeartbeatIvl).
    HeartbeatTimeout(i32),
    /// Maximum time for the ZMTP handshake, ms (0 = no limit).
    HandshakeIvl(i32),
    /// Kernel send buffer size (SO_SNDBUF), bytes (-1 or 0 = OS default).
    SndBuf(i32),
    /// Kernel receive buffer size (SO_RCVBUF), bytes (-1 or 0 = OS default).
    RcvBuf(i32),
    /// Allow IPv6 addresses (and dual-stack wildcard binds).
    Ipv6(bool),
    /// Listen backlog.
    Backlog(i32),
    /// REQ: allow a new request before the reply to the last one arrived (the late reply is
    /// then discarded).
    ReqRelaxed(bool),
    /// REQ: prefix requests with an id and accept only the reply carrying it.
    ReqCorrelate(bool),
    /// SUB/XSUB: receive messages whose first frame starts with these bytes (empty = all).
    /// Subscriptions are counted: each `Subscribe` needs its own `Unsubscribe`.
    /// XPUB with XPUB_MANUAL: apply a subscription to the peer of the last notification.
    Subscribe(Vec<u8>),
    /// SUB/XSUB: drop one subscription made with `Subscribe` (XPUB_MANUAL: see there).
    Unsubscribe(Vec<u8>),
    /// XPUB: pass every subscription up to the application, not only new topics.
    XpubVerbose(bool),
    /// XPUB: pass every subscription and every unsubscription up.
    XpubVerboser(bool),
    /// XPUB: do not apply subscriptions; the application does with `Subscribe`/`Unsubscribe`.
    XpubManual(bool),
    /// XPUB: manual mode, and the next message goes only to the peer of the last notification.
    XpubManualLastValue(bool),
    /// XPUB: a subscriber at its HWM makes send block/fail with EAGAIN instead of dropping.
    XpubNoDrop(bool),
    /// XPUB: a message sent to every new subscriber first (empty = none).
    XpubWelcomeMsg(Vec<u8>),
    /// PUB/XPUB/SUB/XSUB: deliver what does NOT match the subscriptions.
    InvertMatching(bool),
    /// XSUB/XPUB: only the first frame of a multipart message can be a (un)subscription.
    OnlyFirstSubscribe(bool),
    /// DEALER/PUB/SUB/PULL: keep only the newest message per peer (no HWM, no multipart).
    Conflate(bool),
    /// STREAM: report connects and disconnects as messages (default on).
    StreamNotify(bool),
    /// STREAM: how messages map to bytes on the wire.
    StreamFraming(StreamFraming),
}

/// Milliseconds for a time option: rounded up (a non-zero wait never becomes "do not wait")
/// and capped at `i32::MAX`; `None` is libzmq's -1 (infinite).
fn millis(t: Option<Duration>) -> i32 {
    t.map_or(-1, |t| {
        let ms = t.as_nanos().div_ceil(1_000_000);
        i32::try_from(ms).unwrap_or(i32::MAX)
    })
}

/// The time options from [`Duration`]s (the variants hold libzmq's milliseconds).
impl SocketOption {
    /// [`SocketOption::Linger`]: `None` keeps unsent messages until they are sent.
    pub fn linger(t: Option<Duration>) -> SocketOption {
        SocketOption::Linger(millis(t))
    }

    /// [`SocketOption::SndTimeo`]: `None` blocks until the send can proceed.
    pub fn send_timeout(t: Option<Duration>) -> SocketOption {
        SocketOption::SndTimeo(millis(t))
    }

    /// [`SocketOption::RcvTimeo`]: `None` blocks until a message arrives.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use ringlink::{Context, SocketOption, SocketType};
    /// let ctx = Context::new()?;
    /// let mut s = ctx.socket(SocketType::Pull)?;
    /// s.set_option(SocketOption::recv_timeout(Some(Duration::from_millis(250))))?;
    /// assert!(matches!(s.recv_bytes(0), Err(ringlink::Error::Again)));
    /// # Ok::<(), ringlink::Error>(())
    /// ```
    pub fn recv_timeout(t: Option<Duration>) -> SocketOption {
        SocketOption::RcvTimeo(millis(t))
    }

    /// [`SocketOption::ReconnectIvl`].
    pub fn reconnect_interval(t: Duration) -> SocketOption {
        SocketOption::ReconnectIvl(millis(Some(t)))
    }

    /// [`SocketOption::ReconnectIvlMax`].
    pub fn reconnect_interval_max(t: Duration) -> SocketOption {
        SocketOption::ReconnectIvlMax(millis(Some(t)))
    }

    /// [`SocketOption::HeartbeatIvl`].
    pub fn heartbeat_interval(t: Duration) -> SocketOption {
        SocketOption::HeartbeatIvl(millis(Some(t)))
    }

    /// [`SocketOption::HeartbeatTtl`].
    pub fn heartbeat_ttl(t: Duration) -> SocketOption {
        SocketOption::HeartbeatTtl(millis(Some(t)))
    }

    /// [`SocketOption::HeartbeatTimeout`].
    pub fn heartbeat_timeout(t: Duration) -> SocketOption {
        SocketOption::HeartbeatTimeout(millis(Some(t)))
    }

    /// [`SocketOption::HandshakeIvl`].
    pub fn handshake_interval(t: Duration) -> SocketOption {
        SocketOption::HandshakeIvl(millis(Some(t)))
    }

    /// A time option's value as a [`Duration`]: `Some(None)` for infinite (-1),
    /// `Some(Some(t))` for a finite time, `None` if this is not a time option.
    pub fn duration(&self) -> Option<Option<Duration>> {
        match *self {
            SocketOption::Linger(ms)
            | SocketOption::SndTimeo(ms)
            | SocketOption::RcvTimeo(ms)
            | SocketOption::ReconnectIvl(ms)
            | SocketOption::ReconnectIvlMax(ms)
            | SocketOption::HeartbeatIvl(ms)
            | SocketOption::HeartbeatTtl(ms)
            | SocketOption::HeartbeatTimeout(ms)
            | SocketOption::HandshakeIvl(ms) => {
                Some(u64::try_from(ms).ok().map(Duration::from_millis))
            }
            _ => None,
        }
    }
}

/// STREAM socket framing (`SocketOption::StreamFraming`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StreamFraming {
    /// libzmq's: a message is `[peer id][bytes]`, bytes pass through as received; a
    /// connect/disconnect is a zero-length payload; sending an empty payload closes the peer.
    /// Peer ids are 5 bytes (`0x00` + 4-byte counter).
    #[default]
    Raw,
    /// zlink's: each message on the wire is a 4-byte big-endian length plus payload; peer ids
    /// are 4-byte big-endian numbers from 1; connect/disconnect are 1-byte payloads 0x01/0x00;
    /// sending the 1-byte payload 0x00 closes the peer.
    LengthPrefixed,
}

/// The name of a socket option, for reading its current value with
/// [`Socket::get_option`](crate::Socket::get_option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OptionName {
    /// [`SocketOption::SndHwm`].
    SndHwm,
    /// [`SocketOption::RcvHwm`].
    RcvHwm,
    /// [`SocketOption::Linger`].
    Linger,
    /// [`SocketOption::SndTimeo`].
    SndTimeo,
    /// [`SocketOption::RcvTimeo`].
    RcvTimeo,
    /// [`SocketOption::RoutingId`].
    RoutingId,
    /// [`SocketOption::RouterMandatory`].
    RouterMandatory,
    /// [`SocketOption::RouterHandover`].
    RouterHandover,
    /// [`SocketOption::ProbeRouter`].
    ProbeRouter,
    /// [`SocketOption::ReconnectIvl`].
    ReconnectIvl,
    /// [`SocketOption::ReconnectIvlMax`].
    ReconnectIvlMax,
    /// [`SocketOption::Immediate`].
    Immediate,
    /// [`SocketOption::MaxMsgSize`].
    MaxMsgSize,
    /// [`SocketOption::HeartbeatIvl`].
    HeartbeatIvl,
    /// [`SocketOption::HeartbeatTtl`].
    HeartbeatTtl,
    /// [`SocketOption::HeartbeatTimeout`].
    HeartbeatTimeout,
    /// [`SocketOption::HandshakeIvl`].
    HandshakeIvl,
    /// [`SocketOption::SndBuf`].
    SndBuf,
    /// [`SocketOption::RcvBuf`].
    RcvBuf,
    /// [`SocketOption::Ipv6`].
    Ipv6,
    /// [`SocketOption::Backlog`].
    Backlog,
    /// [`SocketOption::ReqRelaxed`].
    ReqRelaxed,
    /// [`SocketOption::ReqCorrelate`].
    ReqCorrelate,
    /// [`SocketOption::XpubVerbose`].
    XpubVerbose,
    /// [`SocketOption::XpubVerboser`].
    XpubVerboser,
    /// [`SocketOption::XpubManual`].
    XpubManual,
    /// [`SocketOption::XpubManualLastValue`].
    XpubManualLastValue,
    /// [`SocketOption::XpubNoDrop`].
    XpubNoDrop,
    /// [`SocketOption::XpubWelcomeMsg`].
    XpubWelcomeMsg,
    /// [`SocketOption::InvertMatching`].
    InvertMatching,
    /// [`SocketOption::OnlyFirstSubscribe`].
    OnlyFirstSubscribe,
    /// [`SocketOption::Conflate`].
    Conflate,
    /// [`SocketOption::StreamNotify`].
    StreamNotify,
    /// [`SocketOption::StreamFraming`].
    StreamFraming,
}

/// Effective settings of one socket.
#[derive(Debug, Clone)]
pub(crate) struct SockOpts {
    pub(crate) sndhwm: u64,
    pub(crate) rcvhwm: u64,
    pub(crate) linger: Option<Duration>,
    pub(crate) sndtimeo: Option<Duration>,
    pub(crate) rcvtimeo: Option<Duration>,
    pub(crate) routing_id: Vec<u8>,
    pub(crate) connect_routing_id: Option<Vec<u8>>,
    pub(crate) router_mandatory: bool,
    pub(crate) router_handover: bool,
    pub(crate) probe_router: bool,
    pub(crate) reconnect_ivl: Option<Duration>,
    pub(crate) reconnect_ivl_max: Option<Duration>,
    pub(crate) immediate: bool,
    pub(crate) max_msg_size: Option<u64>,
    pub(crate) heartbeat_ivl: Option<Duration>,
    pub(crate) heartbeat_ttl: Option<Duration>,
    pub(crate) heartbeat_timeout: Option<Duration>,
    pub(crate) handshake_ivl: Option<Duration>,
    pub(crate) sndbuf: i32,
    pub(crate) rcvbuf: i32,
    pub(crate) ipv6: bool,
    pub(crate) backlog: i32,
    pub(crate) req_relaxed: bool,
    pub(crate) req_correlate: bool,
    pub(crate) xpub_verbose: bool,
    pub(crate) xpub_verboser: bool,
    pub(crate) xpub_manual: bool,
    pub(crate) xpub_manual_last_value: bool,
    pub(crate) xpub_nodrop: bool,
    pub(crate) xpub_welcome_msg: Vec<u8>,
    pub(crate) invert_matching: bool,
    pub(crate) only_first_subscribe: bool,
    pub(crate) conflate: bool,
    pub(crate) stream_notify: bool,
    pub(crate) stream_framing: StreamFraming,
}

impl Default for SockOpts {
    fn default() -> Self {
        SockOpts {
            sndhwm: 1000,
            rcvhwm: 1000,
            linger: None,
            sndtimeo: None,
            rcvtimeo: None,
            routing_id: Vec::new(),
            connect_routing_id: None,
            router_mandatory: false,
            router_handover: false,
            probe_router: false,
            reconnect_ivl: Some(Duration::from_millis(100)),
            reconnect_ivl_max: None,
            immediate: false,
            max_msg_size: None,
            heartbeat_ivl: None,
            heartbeat_ttl: None,
            heartbeat_timeout: None,
            handshake_ivl: Some(Duration::from_millis(30_000)),
            sndbuf: -1,
            rcvbuf: -1,
            ipv6: false,
            backlog: 100,
            req_relaxed: false,
            req_correlate: false,
            xpub_verbose: false,
            xpub_verboser: false,
            xpub_manual: false,
            xpub_manual_last_value: false,
            xpub_nodrop: false,
            xpub_welcome_msg: Vec::new(),
            invert_matching: false,
            only_first_subscribe: false,
            conflate: false,
            stream_notify: true,
            stream_framing: StreamFraming::Raw,
        }
    }
}

fn non_negative(name: &str, v: i32) -> Result<u64> {
    if v < 0 {
        return Err(Error::invalid(format!("{name} must be >= 0, got {v}")));
    }
    Ok(v as u64)
}

/// -1 = infinite (None), >= 0 = that many ms.
fn timeout(name: &str, v: i32) -> Result<Option<Duration>> {
    match v {
        -1 => Ok(None),
        v if v >= 0 => Ok(Some(Duration::from_millis(v as u64))),
        v => Err(Error::invalid(format!("{name} must be >= -1, got {v}"))),
    }
}

/// 0 = off (None).
fn interval(name: &str, v: i32) -> Result<Option<Duration>> {
    Ok(match non_negative(name, v)? {
        0 => None,
        ms => Some(Duration::from_millis(ms)),
    })
}

fn ms(d: Option<Duration>, none: i32) -> i32 {
    d.map_or(none, |d| d.as_millis().min(i32::MAX as u128) as i32)
}

impl SockOpts {
    /// The current value of an option, in the form `set` takes.
    pub(crate) fn get(&self, name: OptionName) -> SocketOption {
        let hwm = |v: u64| v.min(i32::MAX as u64) as i32;
        match name {
            OptionName::SndHwm => SocketOption::SndHwm(hwm(self.sndhwm)),
            OptionName::RcvHwm => SocketOption::RcvHwm(hwm(self.rcvhwm)),
            OptionName::Linger => SocketOption::Linger(ms(self.linger, -1)),
            OptionName::SndTimeo => SocketOption::SndTimeo(ms(self.sndtimeo, -1)),
            OptionName::RcvTimeo => SocketOption::RcvTimeo(ms(self.rcvtimeo, -1)),
            OptionName::RoutingId => SocketOption::RoutingId(self.routing_id.clone()),
            OptionName::RouterMandatory => SocketOption::RouterMandatory(self.router_mandatory),
            OptionName::RouterHandover => SocketOption::RouterHandover(self.router_handover),
            OptionName::ProbeRouter => SocketOption::ProbeRouter(self.probe_router),
            OptionName::ReconnectIvl => SocketOption::ReconnectIvl(ms(self.reconnect_ivl, -1)),
            OptionName::ReconnectIvlMax => {
                SocketOption::ReconnectIvlMax(ms(self.reconnect_ivl_max, 0))
            }
            OptionName::Immediate => SocketOption::Immediate(self.immediate),
            OptionName::MaxMsgSize => {
                SocketOption::MaxMsgSize(self.max_msg_size.map_or(-1, |v| v as i64))
            }
            OptionName::HeartbeatIvl => SocketOption::HeartbeatIvl(ms(self.heartbeat_ivl, 0)),
            OptionName::HeartbeatTtl => SocketOption::HeartbeatTtl(ms(self.heartbeat_ttl, 0)),
            OptionName::HeartbeatTimeout => {
                SocketOption::HeartbeatTimeout(ms(self.heartbeat_timeout, -1))
            }
            OptionName::HandshakeIvl => SocketOption::HandshakeIvl(ms(self.handshake_ivl, 0)),
            OptionName::SndBuf => SocketOption::SndBuf(self.sndbuf),
            OptionName::RcvBuf => SocketOption::RcvBuf(self.rcvbuf),
            OptionName::Ipv6 => SocketOption::Ipv6(self.ipv6),
            OptionName::Backlog => SocketOption::Backlog(self.backlog),
            OptionName::ReqRelaxed => SocketOption::ReqRelaxed(self.req_relaxed),
            OptionName::ReqCorrelate => SocketOption::ReqCorrelate(self.req_correlate),
            OptionName::XpubVerbose => SocketOption::XpubVerbose(self.xpub_verbose),
            OptionName::XpubVerboser => SocketOption::XpubVerboser(self.xpub_verboser),
            OptionName::XpubManual => SocketOption::XpubManual(self.xpub_manual),
            OptionName::XpubManualLastValue => {
                SocketOption::XpubManualLastValue(self.xpub_manual_last_value)
            }
            OptionName::XpubNoDrop => SocketOption::XpubNoDrop(self.xpub_nodrop),
            OptionName::XpubWelcomeMsg => {
                SocketOption::XpubWelcomeMsg(self.xpub_welcome_msg.clone())
            }
            OptionName::InvertMatching => SocketOption::InvertMatching(self.invert_matching),
            OptionName::OnlyFirstSubscribe => {
                SocketOption::OnlyFirstSubscribe(self.only_first_subscribe)
            }
            OptionName::Conflate => SocketOption::Conflate(self.conflate),
            OptionName::StreamNotify => SocketOption::StreamNotify(self.stream_notify),
            OptionName::StreamFraming => SocketOption::StreamFraming(self.stream_framing),
        }
    }

    /// Validate and apply one option.
    pub(crate) fn set(&mut self, opt: SocketOption) -> Result<()> {
        match opt {
            SocketOption::SndHwm(v) => self.sndhwm = non_negative("SNDHWM", v)?,
            SocketOption::RcvHwm(v) => self.rcvhwm = non_negative("RCVHWM", v)?,
            // -1 = until delivered; below -1 is EINVAL (libzmq 4.3's check).
            SocketOption::Linger(v) => self.linger = timeout("LINGER", v)?,
            SocketOption::SndTimeo(v) => self.sndtimeo = timeout("SNDTIMEO", v)?,
            SocketOption::RcvTimeo(v) => self.rcvtimeo = timeout("RCVTIMEO", v)?,
            SocketOption::RoutingId(id) => {
                if id.is_empty() || id.len() > 255 {
                    return Err(Error::invalid("ROUTING_ID must be 1..=255 bytes"));
                }
                if id[0] == 0 {
                    return Err(Error::invalid("ROUTING_ID must not start with a zero byte"));
                }
                self.routing_id = id;
            }
            SocketOption::ConnectRoutingId(id) => {
                if id.is_empty() || id.len() > 255 {
                    return Err(Error::invalid("CONNECT_ROUTING_ID must be 1..=255 bytes"));
                }
                self.connect_routing_id = Some(id);
            }
            SocketOption::RouterMandatory(b) => self.router_mandatory = b,
            SocketOption::RouterHandover(b) => self.router_handover = b,
            SocketOption::ProbeRouter(b) => self.probe_router = b,
            SocketOption::ReconnectIvl(v) => {
                self.reconnect_ivl = match v {
                    -1 => None,
                    v => Some(Duration::from_millis(non_negative("RECONNECT_IVL", v)?)),
                }
            }
            SocketOption::ReconnectIvlMax(v) => {
                self.reconnect_ivl_max = interval("RECONNECT_IVL_MAX", v)?
            }
            SocketOption::Immediate(b) => self.immediate = b,
            SocketOption::MaxMsgSize(v) => {
                self.max_msg_size = match v {
                    -1 => None,
                    v if v >= 0 => Some(v as u64),
                    v => return Err(Error::invalid(format!("MAXMSGSIZE must be >= -1, got {v}"))),
                }
            }
            SocketOption::HeartbeatIvl(v) => self.heartbeat_ivl = interval("HEARTBEAT_IVL", v)?,
            SocketOption::HeartbeatTtl(v) => {
                if !(0..=6_553_500).contains(&v) {
                    return Err(Error::invalid("HEARTBEAT_TTL must be 0..=6553500 ms"));
                }
                self.heartbeat_ttl = interval("HEARTBEAT_TTL", v)?
            }
            SocketOption::HeartbeatTimeout(v) => {
                self.heartbeat_timeout = match v {
                    -1 => None,
                    v => interval("HEARTBEAT_TIMEOUT", v)?,
                }
            }
            SocketOption::HandshakeIvl(v) => self.handshake_ivl = interval("HANDSHAKE_IVL", v)?,
            SocketOption::SndBuf(v) => {
                self.sndbuf = v.max(-1);
            }
            SocketOption::RcvBuf(v) => {
                self.rcvbuf = v.max(-1);
            }
            SocketOption::Ipv6(b) => self.ipv6 = b,
            SocketOption::Backlog(v) => self.backlog = non_negative("BACKLOG", v)? as i32,
            SocketOption::ReqRelaxed(b) => self.req_relaxed = b,
            SocketOption::ReqCorrelate(b) => self.req_correlate = b,
            SocketOption::XpubVerbose(b) => self.xpub_verbose = b,
            SocketOption::XpubVerboser(b) => self.xpub_verboser = b,
            SocketOption::XpubManual(b) => self.xpub_manual = b,
            SocketOption::XpubManualLastValue(b) => self.xpub_manual_last_value = b,
            SocketOption::XpubNoDrop(b) => self.xpub_nodrop = b,
            SocketOption::XpubWelcomeMsg(m) => self.xpub_welcome_msg = m,
            SocketOption::InvertMatching(b) => self.invert_matching = b,
            SocketOption::OnlyFirstSubscribe(b) => self.only_first_subscribe = b,
            SocketOption::Conflate(b) => self.conflate = b,
            SocketOption::StreamNotify(b) => self.stream_notify = b,
            SocketOption::StreamFraming(f) => self.stream_framing = f,
            SocketOption::Subscribe(_) | SocketOption::Unsubscribe(_) => {
                return Err(Error::invalid(
                    "SUBSCRIBE/UNSUBSCRIBE are actions of a socket",
                ))
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_libzmq() {
        let o = SockOpts::default();
        assert_eq!((o.sndhwm, o.rcvhwm), (1000, 1000));
        assert_eq!(o.linger, None);
        assert_eq!(o.reconnect_ivl, Some(Duration::from_millis(100)));
    }

    #[test]
    fn durations_round_up_to_milliseconds_and_back() {
        use SocketOption as O;
        assert_eq!(O::recv_timeout(None), O::RcvTimeo(-1));
        assert_eq!(O::recv_timeout(Some(Duration::ZERO)), O::RcvTimeo(0));
        assert_eq!(
            O::send_timeout(Some(Duration::from_micros(1))),
            O::SndTimeo(1)
        );
        assert_eq!(O::linger(Some(Duration::from_micros(1500))), O::Linger(2));
        assert_eq!(
            O::heartbeat_interval(Duration::from_secs(u64::MAX)),
            O::HeartbeatIvl(i32::MAX)
        );
        assert_eq!(O::Linger(-1).duration(), Some(None));
        assert_eq!(
            O::handshake_interval(Duration::from_secs(3)).duration(),
            Some(Some(Duration::from_secs(3)))
        );
        assert_eq!(O::SndHwm(5).duration(), None);
    }

    #[test]
    fn get_returns_what_set_stored() {
        let mut o = SockOpts::default();
        for opt in [
            SocketOption::SndHwm(7),
            SocketOption::Linger(0),
            SocketOption::RcvTimeo(250),
            SocketOption::RoutingId(b"id".to_vec()),
            SocketOption::MaxMsgSize(1 << 20),
            SocketOption::ReconnectIvl(-1),
            SocketOption::HeartbeatTimeout(-1),
        ] {
            o.set(opt.clone()).unwrap();
            let name = match &opt {
                SocketOption::SndHwm(_) => OptionName::SndHwm,
                SocketOption::Linger(_) => OptionName::Linger,
                SocketOption::RcvTimeo(_) => OptionName::RcvTimeo,
                SocketOption::RoutingId(_) => OptionName::RoutingId,
                SocketOption::MaxMsgSize(_) => OptionName::MaxMsgSize,
                SocketOption::ReconnectIvl(_) => OptionName::ReconnectIvl,
                _ => OptionName::HeartbeatTimeout,
            };
            assert_eq!(o.get(name), opt);
        }
        assert_eq!(o.get(OptionName::SndTimeo), SocketOption::SndTimeo(-1));
    }

    #[test]
    fn bad_values_are_rejected() {
        let mut o = SockOpts::default();
        assert!(o.set(SocketOption::SndHwm(-1)).is_err());
        assert!(o.set(SocketOption::RoutingId(vec![])).is_err());
        assert!(o.set(SocketOption::RoutingId(vec![0, 1])).is_err());
        assert!(o.set(SocketOption::RcvTimeo(-2)).is_err());
        assert!(o.set(SocketOption::HeartbeatTtl(7_000_000)).is_err());
        assert!(o.set(SocketOption::RcvTimeo(5)).is_ok());
        assert_eq!(o.rcvtimeo, Some(Duration::from_millis(5)));
    }
}
