//! Socket options: libzmq's numeric ids mapped to the engine's typed options, and
//! `rl_setsockopt` / `rl_getsockopt` (including the readiness pair `RL_FD` / `RL_EVENTS`).

use std::ffi::{c_int, c_void};

use engine::{OptionName, SocketOption, StreamFraming};

use crate::socket::{bytes_arg, bytes_mut_arg, rl_socket_t, sock_mut, type_to_int};
use crate::{boundary, eno, Res};

/// Option (binary, 1..=255 bytes, first byte not 0): this socket's routing id.
pub const RL_ROUTING_ID: c_int = 5;
/// Option (int, bytes): kernel send buffer size (-1 or 0 = OS default).
pub const RL_SNDBUF: c_int = 11;
/// Option (int, bytes): kernel receive buffer size (-1 or 0 = OS default).
pub const RL_RCVBUF: c_int = 12;
/// Option (int, read-only): 1 if the last frame received with `rl_recv`/`rl_msg_recv` has
/// more frames after it.
pub const RL_RCVMORE: c_int = 13;
/// Option (int, read-only): a file descriptor that becomes readable when the socket's
/// readiness may have changed (libzmq `ZMQ_FD`), for epoll, libuv or asyncio loops. Edge
/// style: when it fires, read `RL_EVENTS` and send/receive until `EAGAIN`, then wait on it
/// again. Never read from or close it. Asking for it costs every later wake-up of this
/// socket an eventfd write, so ask only for sockets driven by an event loop. Needs reactor
/// threads (`RL_IO_THREADS` >= 1): in inline mode nothing progresses while the loop waits.
pub const RL_FD: c_int = 14;
/// Option (int, read-only): what the socket can do now, `RL_POLLIN` and/or `RL_POLLOUT`
/// (libzmq `ZMQ_EVENTS`). Reading it re-arms `RL_FD`.
pub const RL_EVENTS: c_int = 15;
/// Option (int, read-only): the socket type (`RL_PAIR`, ...).
pub const RL_TYPE: c_int = 16;
/// Option (int, ms): how long unsent messages are kept after close (-1 = until sent).
pub const RL_LINGER: c_int = 17;
/// Option (int, ms): initial reconnect interval (-1 = no reconnect).
pub const RL_RECONNECT_IVL: c_int = 18;
/// Option (int): listen backlog.
pub const RL_BACKLOG: c_int = 19;
/// Option (int, ms): maximum reconnect interval for exponential backoff (0 = none).
pub const RL_RECONNECT_IVL_MAX: c_int = 21;
/// Option (int64_t, bytes): largest inbound message; larger disconnect the peer (-1 = none).
pub const RL_MAXMSGSIZE: c_int = 22;
/// Option (int, messages): send high-water mark per peer (0 = unlimited).
pub const RL_SNDHWM: c_int = 23;
/// Option (int, messages): receive high-water mark per peer (0 = unlimited).
pub const RL_RCVHWM: c_int = 24;
/// Option (int, ms): receive timeout (-1 = block, 0 = never block).
pub const RL_RCVTIMEO: c_int = 27;
/// Option (int, ms): send timeout (-1 = block, 0 = never block).
pub const RL_SNDTIMEO: c_int = 28;
/// Option (string, read-only): the endpoint of the last bind with wildcards resolved, NUL
/// terminated (the length reported includes the NUL; "" before any bind).
pub const RL_LAST_ENDPOINT: c_int = 32;
/// Option (int 0/1, ROUTER only): unroutable messages fail with `EHOSTUNREACH`.
pub const RL_ROUTER_MANDATORY: c_int = 33;
/// Option (int 0/1): queue messages only to completed connections.
pub const RL_IMMEDIATE: c_int = 39;
/// Option (int 0/1): allow IPv6.
pub const RL_IPV6: c_int = 42;
/// Option (int 0/1, DEALER/ROUTER): send an empty message to every new peer.
pub const RL_PROBE_ROUTER: c_int = 51;
/// Option (int 0/1, ROUTER only): a new peer with a routing id in use takes it over.
pub const RL_ROUTER_HANDOVER: c_int = 56;
/// Option (binary, write-only, ROUTER only): routing id for the peer of the next connect.
pub const RL_CONNECT_ROUTING_ID: c_int = 61;
/// Option (int, ms): maximum time for the ZMTP handshake (0 = no limit).
pub const RL_HANDSHAKE_IVL: c_int = 66;
/// Option (int, ms): send a PING every this many ms (0 = off).
pub const RL_HEARTBEAT_IVL: c_int = 75;
/// Option (int, ms): time-to-live announced in PINGs.
pub const RL_HEARTBEAT_TTL: c_int = 76;
/// Option (int, ms): disconnect when nothing arrives this long after a PING.
pub const RL_HEARTBEAT_TIMEOUT: c_int = 77;
/// Option (binary, write-only, SUB/XSUB): receive messages whose first frame starts with
/// these bytes (0 bytes = everything). Counted: each SUBSCRIBE needs its own UNSUBSCRIBE.
/// XPUB with `RL_XPUB_MANUAL`: subscribe the peer of the last subscription message.
pub const RL_SUBSCRIBE: c_int = 6;
/// Option (binary, write-only, SUB/XSUB): drop one subscription made with `RL_SUBSCRIBE`
/// (XPUB with `RL_XPUB_MANUAL`: unsubscribe the peer of the last subscription message).
pub const RL_UNSUBSCRIBE: c_int = 7;
/// Option (int 0/1, XPUB): pass every subscription message up, not only new topics.
pub const RL_XPUB_VERBOSE: c_int = 40;
/// Option (int 0/1, REQ): prefix requests with an id and accept only the matching reply.
pub const RL_REQ_CORRELATE: c_int = 52;
/// Option (int 0/1, REQ): allow a new request before the last reply arrived (the late
/// reply is then dropped).
pub const RL_REQ_RELAXED: c_int = 53;
/// Option (int 0/1, DEALER/PUB/SUB/PULL): keep only the newest message (no HWM, single
/// frame messages only).
pub const RL_CONFLATE: c_int = 54;
/// Option (int 0/1, XPUB): a subscriber at its HWM makes sends fail with `EAGAIN` (or
/// block) instead of dropping the message for it.
pub const RL_XPUB_NODROP: c_int = 69;
/// Option (int 0/1, XPUB): subscriptions are not applied; the application applies them
/// with `RL_SUBSCRIBE` / `RL_UNSUBSCRIBE` on the XPUB.
pub const RL_XPUB_MANUAL: c_int = 71;
/// Option (binary, XPUB): a message sent to every new subscriber first (0 bytes = none).
pub const RL_XPUB_WELCOME_MSG: c_int = 72;
/// Option (int 0/1, STREAM): report connects and disconnects as messages (default 1).
pub const RL_STREAM_NOTIFY: c_int = 73;
/// Option (int 0/1, PUB/XPUB/SUB/XSUB): deliver what does NOT match the subscriptions.
pub const RL_INVERT_MATCHING: c_int = 74;
/// Option (int 0/1, XPUB): pass subscriptions and unsubscriptions up, all of them.
pub const RL_XPUB_VERBOSER: c_int = 78;
/// Option (int 0/1, XPUB): manual mode, and the next message goes only to the peer of the
/// last subscription message (libzmq draft `ZMQ_XPUB_MANUAL_LAST_VALUE`).
pub const RL_XPUB_MANUAL_LAST_VALUE: c_int = 98;
/// Option (int 0/1, XSUB/XPUB): only the first frame of a multipart message can be a
/// (un)subscription (libzmq draft `ZMQ_ONLY_FIRST_SUBSCRIBE`).
pub const RL_ONLY_FIRST_SUBSCRIBE: c_int = 108;
/// Option (int, ringlink, STREAM): how messages map to bytes on the wire,
/// `RL_STREAM_FRAMING_RAW` (default, libzmq's STREAM) or `RL_STREAM_FRAMING_LENGTH_PREFIXED`.
pub const RL_STREAM_FRAMING: c_int = 1001;
/// `RL_STREAM_FRAMING` value: libzmq's raw STREAM: `[peer id][bytes as received]`, 5-byte
/// peer ids, connect/disconnect notifications are empty payloads, sending an empty payload
/// closes the peer.
pub const RL_STREAM_FRAMING_RAW: c_int = 0;
/// `RL_STREAM_FRAMING` value: each message is a 4-byte big-endian length plus payload on
/// the wire; peer ids are 4-byte big-endian numbers from 1; connect/disconnect
/// notifications are the 1-byte payloads 0x01/0x00; sending the 1-byte payload 0x00 closes
/// the peer.
pub const RL_STREAM_FRAMING_LENGTH_PREFIXED: c_int = 1;

/// The option `rl_setsockopt` would set from `option` and its value bytes (`EINVAL` for an
/// unknown option or a value of the wrong size).
pub(crate) fn option_from_c(option: c_int, val: &[u8]) -> Res<SocketOption> {
    Ok(match option {
        RL_MAXMSGSIZE => {
            let b: [u8; 8] = val.try_into().map_err(|_| libc::EINVAL)?;
            SocketOption::MaxMsgSize(i64::from_ne_bytes(b))
        }
        _ => match bytes_opt(option, val) {
            Some(o) => o,
            None => {
                let b: [u8; 4] = val.try_into().map_err(|_| libc::EINVAL)?;
                int_opt(option, c_int::from_ne_bytes(b)).ok_or(libc::EINVAL)?
            }
        },
    })
}

fn int_opt(option: c_int, v: c_int) -> Option<SocketOption> {
    Some(match option {
        RL_SNDHWM => SocketOption::SndHwm(v),
        RL_RCVHWM => SocketOption::RcvHwm(v),
        RL_LINGER => SocketOption::Linger(v),
        RL_RCVTIMEO => SocketOption::RcvTimeo(v),
        RL_SNDTIMEO => SocketOption::SndTimeo(v),
        RL_ROUTER_MANDATORY => SocketOption::RouterMandatory(v != 0),
        RL_ROUTER_HANDOVER => SocketOption::RouterHandover(v != 0),
        RL_PROBE_ROUTER => SocketOption::ProbeRouter(v != 0),
        RL_RECONNECT_IVL => SocketOption::ReconnectIvl(v),
        RL_RECONNECT_IVL_MAX => SocketOption::ReconnectIvlMax(v),
        RL_IMMEDIATE => SocketOption::Immediate(v != 0),
        RL_HEARTBEAT_IVL => SocketOption::HeartbeatIvl(v),
        RL_HEARTBEAT_TTL => SocketOption::HeartbeatTtl(v),
        RL_HEARTBEAT_TIMEOUT => SocketOption::HeartbeatTimeout(v),
        RL_HANDSHAKE_IVL => SocketOption::HandshakeIvl(v),
        RL_SNDBUF => SocketOption::SndBuf(v),
        RL_RCVBUF => SocketOption::RcvBuf(v),
        RL_IPV6 => SocketOption::Ipv6(v != 0),
        RL_BACKLOG => SocketOption::Backlog(v),
        RL_REQ_CORRELATE => SocketOption::ReqCorrelate(v != 0),
        RL_REQ_RELAXED => SocketOption::ReqRelaxed(v != 0),
        RL_CONFLATE => SocketOption::Conflate(v != 0),
        RL_XPUB_VERBOSE => SocketOption::XpubVerbose(v != 0),
        RL_XPUB_VERBOSER => SocketOption::XpubVerboser(v != 0),
        RL_XPUB_MANUAL => SocketOption::XpubManual(v != 0),
        RL_XPUB_MANUAL_LAST_VALUE => SocketOption::XpubManualLastValue(v != 0),
        RL_XPUB_NODROP => SocketOption::XpubNoDrop(v != 0),
        RL_INVERT_MATCHING => SocketOption::InvertMatching(v != 0),
        RL_ONLY_FIRST_SUBSCRIBE => SocketOption::OnlyFirstSubscribe(v != 0),
        RL_STREAM_NOTIFY => SocketOption::StreamNotify(v != 0),
        RL_STREAM_FRAMING => SocketOption::StreamFraming(match v {
            RL_STREAM_FRAMING_RAW => StreamFraming::Raw,
            RL_STREAM_FRAMING_LENGTH_PREFIXED => StreamFraming::LengthPrefixed,
            _ => return None,
        }),
        _ => return None,
    })
}

/// The binary (byte string) option `option` with value `v`.
fn bytes_opt(option: c_int, v: &[u8]) -> Option<SocketOption> {
    Some(match option {
        RL_ROUTING_ID => SocketOption::RoutingId(v.to_vec()),
        RL_CONNECT_ROUTING_ID => SocketOption::ConnectRoutingId(v.to_vec()),
        RL_SUBSCRIBE => SocketOption::Subscribe(v.to_vec()),
        RL_UNSUBSCRIBE => SocketOption::Unsubscribe(v.to_vec()),
        RL_XPUB_WELCOME_MSG => SocketOption::XpubWelcomeMsg(v.to_vec()),
        _ => return None,
    })
}

fn opt_name(option: c_int) -> Option<OptionName> {
    Some(match option {
        RL_SNDHWM => OptionName::SndHwm,
        RL_RCVHWM => OptionName::RcvHwm,
        RL_LINGER => OptionName::Linger,
        RL_RCVTIMEO => OptionName::RcvTimeo,
        RL_SNDTIMEO => OptionName::SndTimeo,
        RL_ROUTING_ID => OptionName::RoutingId,
        RL_ROUTER_MANDATORY => OptionName::RouterMandatory,
        RL_ROUTER_HANDOVER => OptionName::RouterHandover,
        RL_PROBE_ROUTER => OptionName::ProbeRouter,
        RL_RECONNECT_IVL => OptionName::ReconnectIvl,
        RL_RECONNECT_IVL_MAX => OptionName::ReconnectIvlMax,
        RL_IMMEDIATE => OptionName::Immediate,
        RL_MAXMSGSIZE => OptionName::MaxMsgSize,
        RL_HEARTBEAT_IVL => OptionName::HeartbeatIvl,
        RL_HEARTBEAT_TTL => OptionName::HeartbeatTtl,
        RL_HEARTBEAT_TIMEOUT => OptionName::HeartbeatTimeout,
        RL_HANDSHAKE_IVL => OptionName::HandshakeIvl,
        RL_SNDBUF => OptionName::SndBuf,
        RL_RCVBUF => OptionName::RcvBuf,
        RL_IPV6 => OptionName::Ipv6,
        RL_BACKLOG => OptionName::Backlog,
        RL_REQ_CORRELATE => OptionName::ReqCorrelate,
        RL_REQ_RELAXED => OptionName::ReqRelaxed,
        RL_CONFLATE => OptionName::Conflate,
        RL_XPUB_VERBOSE => OptionName::XpubVerbose,
        RL_XPUB_VERBOSER => OptionName::XpubVerboser,
        RL_XPUB_MANUAL => OptionName::XpubManual,
        RL_XPUB_MANUAL_LAST_VALUE => OptionName::XpubManualLastValue,
        RL_XPUB_NODROP => OptionName::XpubNoDrop,
        RL_XPUB_WELCOME_MSG => OptionName::XpubWelcomeMsg,
        RL_INVERT_MATCHING => OptionName::InvertMatching,
        RL_ONLY_FIRST_SUBSCRIBE => OptionName::OnlyFirstSubscribe,
        RL_STREAM_NOTIFY => OptionName::StreamNotify,
        RL_STREAM_FRAMING => OptionName::StreamFraming,
        _ => return None,
    })
}

/// Set a socket option (libzmq `zmq_setsockopt`). Int options take `optvallen ==
/// sizeof(int)`, `RL_MAXMSGSIZE` an `int64_t`, the binary options (`RL_ROUTING_ID`,
/// `RL_CONNECT_ROUTING_ID`, `RL_SUBSCRIBE`, `RL_UNSUBSCRIBE`, `RL_XPUB_WELCOME_MSG`) their
/// bytes (`optval` may be NULL when `optvallen` is 0). Most options apply to connections made
/// afterwards (set them before bind/connect). Returns 0, or -1 with `EINVAL` (unknown or
/// read-only option, wrong length, bad value, option of another socket type), `EFAULT`.
///
/// # Safety
/// `s` is NULL or a live socket handle; `optval` is valid for reading `optvallen` bytes.
/// Uses the socket: `EBUSY` while another thread is inside a call on it.
#[no_mangle]
pub unsafe extern "C" fn rl_setsockopt(
    s: *mut rl_socket_t,
    option: c_int,
    optval: *const c_void,
    optvallen: usize,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let mut sock = unsafe { sock_mut(s) }?;
        // SAFETY: forwarded caller contract.
        let val = unsafe { bytes_arg(optval, optvallen) }?;
        sock.set_option(option_from_c(option, val)?).map_err(eno)?;
        Ok(0)
    })
}

/// Read a socket option (libzmq `zmq_getsockopt`). `*optvallen` gives the buffer's size and
/// receives the value's size. Int options need room for an `int`, `RL_MAXMSGSIZE` for an
/// `int64_t`, `RL_ROUTING_ID` / `RL_XPUB_WELCOME_MSG` for the bytes, `RL_LAST_ENDPOINT` for
/// the string and its NUL. Unlike libzmq, the XPUB, CONFLATE, REQ and STREAM options can be
/// read back. Returns 0, or -1 with `EINVAL` (unknown or write-only option such as
/// `RL_SUBSCRIBE` and `RL_CONNECT_ROUTING_ID`, buffer too small), `EFAULT` (NULL
/// `optval`/`optvallen`).
///
/// # Safety
/// `s` is NULL or a live socket handle; `optvallen` is NULL or valid, `optval` is NULL or valid for
/// writing `*optvallen` bytes. Uses the socket: `EBUSY` while another thread is inside a call on
/// it.
#[no_mangle]
pub unsafe extern "C" fn rl_getsockopt(
    s: *mut rl_socket_t,
    option: c_int,
    optval: *mut c_void,
    optvallen: *mut usize,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let mut sock = unsafe { sock_mut(s) }?;
        if optvallen.is_null() {
            return Err(libc::EFAULT);
        }
        // SAFETY: checked non-NULL; caller contract.
        let cap = unsafe { *optvallen };
        let value: Vec<u8> = match option {
            RL_TYPE => type_to_int(sock.socket_type()).to_ne_bytes().to_vec(),
            RL_RCVMORE => c_int::from(sock.rcvmore()).to_ne_bytes().to_vec(),
            RL_FD => sock.fd().to_ne_bytes().to_vec(),
            RL_EVENTS => c_int::from(sock.events().map_err(eno)?.bits())
                .to_ne_bytes()
                .to_vec(),
            RL_LAST_ENDPOINT => {
                let mut v = sock.last_endpoint().unwrap_or_default().into_bytes();
                v.push(0);
                v
            }
            _ => {
                let name = opt_name(option).ok_or(libc::EINVAL)?;
                match sock.get_option(name) {
                    SocketOption::RoutingId(b) | SocketOption::XpubWelcomeMsg(b) => b,
                    SocketOption::MaxMsgSize(v) => v.to_ne_bytes().to_vec(),
                    other => opt_int_value(&other).to_ne_bytes().to_vec(),
                }
            }
        };
        if value.len() > cap {
            return Err(libc::EINVAL);
        }
        // SAFETY: forwarded caller contract (valid for `cap` >= value.len() bytes).
        let out = unsafe { bytes_mut_arg(optval, value.len()) }?;
        out.copy_from_slice(&value);
        // SAFETY: checked non-NULL above.
        unsafe { *optvallen = value.len() };
        Ok(0)
    })
}

fn opt_int_value(o: &SocketOption) -> c_int {
    match *o {
        SocketOption::SndHwm(v)
        | SocketOption::RcvHwm(v)
        | SocketOption::Linger(v)
        | SocketOption::SndTimeo(v)
        | SocketOption::RcvTimeo(v)
        | SocketOption::ReconnectIvl(v)
        | SocketOption::ReconnectIvlMax(v)
        | SocketOption::HeartbeatIvl(v)
        | SocketOption::HeartbeatTtl(v)
        | SocketOption::HeartbeatTimeout(v)
        | SocketOption::HandshakeIvl(v)
        | SocketOption::SndBuf(v)
        | SocketOption::RcvBuf(v)
        | SocketOption::Backlog(v) => v,
        SocketOption::RouterMandatory(b)
        | SocketOption::RouterHandover(b)
        | SocketOption::ProbeRouter(b)
        | SocketOption::Immediate(b)
        | SocketOption::Ipv6(b)
        | SocketOption::ReqCorrelate(b)
        | SocketOption::ReqRelaxed(b)
        | SocketOption::Conflate(b)
        | SocketOption::XpubVerbose(b)
        | SocketOption::XpubVerboser(b)
        | SocketOption::XpubManual(b)
        | SocketOption::XpubManualLastValue(b)
        | SocketOption::XpubNoDrop(b)
        | SocketOption::InvertMatching(b)
        | SocketOption::OnlyFirstSubscribe(b)
        | SocketOption::StreamNotify(b) => c_int::from(b),
        SocketOption::StreamFraming(StreamFraming::Raw) => RL_STREAM_FRAMING_RAW,
        SocketOption::StreamFraming(StreamFraming::LengthPrefixed) => {
            RL_STREAM_FRAMING_LENGTH_PREFIXED
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::{type_from_int, RL_PAIR, RL_STREAM};

    /// The C ids reach the engine as the right typed options, whatever socket types the
    /// engine implements yet.
    #[test]
    fn pattern_option_ids_map_to_engine_options() {
        use SocketOption as O;
        for (id, opt, name) in [
            (
                RL_REQ_CORRELATE,
                O::ReqCorrelate(true),
                OptionName::ReqCorrelate,
            ),
            (RL_REQ_RELAXED, O::ReqRelaxed(true), OptionName::ReqRelaxed),
            (RL_CONFLATE, O::Conflate(true), OptionName::Conflate),
            (
                RL_XPUB_VERBOSE,
                O::XpubVerbose(true),
                OptionName::XpubVerbose,
            ),
            (
                RL_XPUB_VERBOSER,
                O::XpubVerboser(true),
                OptionName::XpubVerboser,
            ),
            (RL_XPUB_MANUAL, O::XpubManual(true), OptionName::XpubManual),
            (
                RL_XPUB_MANUAL_LAST_VALUE,
                O::XpubManualLastValue(true),
                OptionName::XpubManualLastValue,
            ),
            (RL_XPUB_NODROP, O::XpubNoDrop(true), OptionName::XpubNoDrop),
            (
                RL_INVERT_MATCHING,
                O::InvertMatching(true),
                OptionName::InvertMatching,
            ),
            (
                RL_ONLY_FIRST_SUBSCRIBE,
                O::OnlyFirstSubscribe(true),
                OptionName::OnlyFirstSubscribe,
            ),
            (
                RL_STREAM_NOTIFY,
                O::StreamNotify(true),
                OptionName::StreamNotify,
            ),
        ] {
            assert_eq!(int_opt(id, 1), Some(opt.clone()), "{id}");
            assert_eq!(opt_name(id), Some(name), "{id}");
            assert_eq!(opt_int_value(&opt), 1, "{id}");
        }
        assert_eq!(
            int_opt(RL_STREAM_FRAMING, RL_STREAM_FRAMING_LENGTH_PREFIXED),
            Some(O::StreamFraming(StreamFraming::LengthPrefixed))
        );
        assert_eq!(
            int_opt(RL_STREAM_FRAMING, RL_STREAM_FRAMING_RAW),
            Some(O::StreamFraming(StreamFraming::Raw))
        );
        assert_eq!(int_opt(RL_STREAM_FRAMING, 7), None);
        assert_eq!(
            opt_int_value(&O::StreamFraming(StreamFraming::LengthPrefixed)),
            RL_STREAM_FRAMING_LENGTH_PREFIXED
        );
        assert_eq!(
            bytes_opt(RL_SUBSCRIBE, b"t"),
            Some(O::Subscribe(b"t".to_vec()))
        );
        assert_eq!(bytes_opt(RL_UNSUBSCRIBE, b""), Some(O::Unsubscribe(vec![])));
        assert_eq!(
            bytes_opt(RL_XPUB_WELCOME_MSG, b"w"),
            Some(O::XpubWelcomeMsg(b"w".to_vec()))
        );
        assert_eq!(
            opt_name(RL_XPUB_WELCOME_MSG),
            Some(OptionName::XpubWelcomeMsg)
        );
        // Write-only.
        assert_eq!(opt_name(RL_SUBSCRIBE), None);
        assert_eq!(opt_name(RL_UNSUBSCRIBE), None);
        // Socket types: libzmq's numbers, both ways.
        for t in RL_PAIR..=RL_STREAM {
            assert_eq!(type_to_int(type_from_int(t).unwrap()), t);
        }
        assert_eq!(type_from_int(RL_STREAM + 1), None);
    }
}
