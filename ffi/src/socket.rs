//! Sockets: open/close, endpoints, options (libzmq's numeric ids), copying send/recv.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use engine::{OptionName, Socket, SocketOption, SocketType, StreamFraming};

use crate::ctx::{ctx_ref, rl_ctx_t, CtxShared};
use crate::handles::KIND_MASK;
use crate::{boundary, boundary_ptr, eno, to_int, Res};

// Socket types: libzmq's values; the engine implements all twelve.

/// Socket type PAIR (libzmq `ZMQ_PAIR`).
pub const RL_PAIR: c_int = 0;
/// Socket type PUB (libzmq `ZMQ_PUB`).
pub const RL_PUB: c_int = 1;
/// Socket type SUB (libzmq `ZMQ_SUB`).
pub const RL_SUB: c_int = 2;
/// Socket type REQ (libzmq `ZMQ_REQ`).
pub const RL_REQ: c_int = 3;
/// Socket type REP (libzmq `ZMQ_REP`).
pub const RL_REP: c_int = 4;
/// Socket type DEALER (libzmq `ZMQ_DEALER`).
pub const RL_DEALER: c_int = 5;
/// Socket type ROUTER (libzmq `ZMQ_ROUTER`).
pub const RL_ROUTER: c_int = 6;
/// Socket type PULL (libzmq `ZMQ_PULL`).
pub const RL_PULL: c_int = 7;
/// Socket type PUSH (libzmq `ZMQ_PUSH`).
pub const RL_PUSH: c_int = 8;
/// Socket type XPUB (libzmq `ZMQ_XPUB`).
pub const RL_XPUB: c_int = 9;
/// Socket type XSUB (libzmq `ZMQ_XSUB`).
pub const RL_XSUB: c_int = 10;
/// Socket type STREAM (libzmq `ZMQ_STREAM`).
pub const RL_STREAM: c_int = 11;

/// Option (binary, 1..=255 bytes, first byte not 0): this socket's routing id.
pub const RL_ROUTING_ID: c_int = 5;
/// Option (int, bytes): kernel send buffer size (-1 or 0 = OS default).
pub const RL_SNDBUF: c_int = 11;
/// Option (int, bytes): kernel receive buffer size (-1 or 0 = OS default).
pub const RL_RCVBUF: c_int = 12;
/// Option (int, read-only): 1 if the last frame received with `rl_recv`/`rl_msg_recv` has
/// more frames after it.
pub const RL_RCVMORE: c_int = 13;
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

/// Largest routing id, in bytes (sizes the id buffer of `rl_recv_batch_routed`).
pub const RL_ROUTING_ID_MAX: c_int = 255;

/// An opaque socket handle (libzmq's `void *socket`).
pub struct rl_socket_t {
    _private: [u8; 0],
}

const SOCK_LIVE: u32 = 0x7231_736b; // "rlsk"
const SOCK_DEAD: u32 = 0x7231_7364;

/// What an `rl_socket_t *` points to. After `rl_close` the husk (tag + NULL state) stays
/// allocated until `rl_ctx_term`, so a use after close reads `SOCK_DEAD` (`ENOTSOCK`).
#[repr(C)]
pub(crate) struct SockHandle {
    tag: AtomicU32,
    /// Taken by the thread inside a call on this socket: a second thread entering meanwhile
    /// fails with `EBUSY` (see [`SockRef`]).
    busy: AtomicBool,
    /// Only accessed by the thread holding `busy`.
    state: std::cell::UnsafeCell<Option<Box<SockState>>>,
}

// Socket handles are Box pointers with the low bits clear; context and monitor ids set them.
const _: () = assert!(std::mem::align_of::<SockHandle>() > KIND_MASK);

pub(crate) struct SockState {
    pub(crate) sock: Socket,
    pub(crate) ctx: Arc<CtxShared>,
    /// True while an `rl_monitor_t` of this socket is open (cleared by `rl_monitor_close`).
    pub(crate) monitor_open: Arc<AtomicBool>,
}

/// Exclusive access to an open socket for the duration of one call: holds the handle's `busy`
/// flag (released on drop, also when a panic unwinds to `boundary`) and derefs to `T`, the
/// socket's state or the engine socket in it.
///
/// One `swap` on entry and one store on exit: the cost of catching two threads on one socket
/// (issue 16 item 7d: they used to lose and reorder messages, and could double-free) instead
/// of corrupting it. The swap is `Acquire` and the release store `Release`, so everything
/// the previous holder did to the state happens-before the next holder's access.
pub(crate) struct SockRef<'a, T> {
    busy: &'a AtomicBool,
    val: std::ptr::NonNull<T>,
    _excl: std::marker::PhantomData<&'a mut T>,
}

impl<T> std::ops::Deref for SockRef<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: `val` points into the state owned by the handle, which stays allocated for
        // 'a; holding `busy` makes this the only access to it.
        unsafe { self.val.as_ref() }
    }
}

impl<T> std::ops::DerefMut for SockRef<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes the borrow unique.
        unsafe { self.val.as_mut() }
    }
}

impl<T> Drop for SockRef<'_, T> {
    fn drop(&mut self) {
        self.busy.store(false, Ordering::Release);
    }
}

/// Take the handle's `busy` flag: `EBUSY` if another thread is inside a call on the socket.
fn enter(h: &SockHandle) -> Res<&AtomicBool> {
    if h.busy.swap(true, Ordering::Acquire) {
        return Err(libc::EBUSY);
    }
    Ok(&h.busy)
}

/// The engine socket behind a handle, held for one call: `EFAULT` for NULL, `ENOTSOCK` for
/// closed or non-socket handles, `EBUSY` while another thread is inside a call on it.
///
/// # Safety
/// `s` is NULL or a handle from `rl_socket` whose context was not terminated.
pub(crate) unsafe fn sock_mut<'a>(s: *mut rl_socket_t) -> Res<SockRef<'a, Socket>> {
    // SAFETY: same contract.
    let mut st = unsafe { sock_state(s) }?;
    let val = std::ptr::NonNull::from(&mut st.sock);
    // The flag moves to the new guard: the old one must not release it.
    let st = std::mem::ManuallyDrop::new(st);
    Ok(SockRef {
        busy: st.busy,
        val,
        _excl: std::marker::PhantomData,
    })
}

/// The state behind a socket handle (the socket and what the C layer keeps with it), held
/// for one call; errors as [`sock_mut`].
///
/// # Safety
/// As [`sock_mut`].
pub(crate) unsafe fn sock_state<'a>(s: *mut rl_socket_t) -> Res<SockRef<'a, SockState>> {
    if s.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: see `live_handle`.
    let h = unsafe { live_handle(s) }?;
    let busy = enter(h)?;
    // SAFETY: holding `busy` makes this thread the only one to touch the state.
    match unsafe { &mut *h.state.get() } {
        Some(st) => Ok(SockRef {
            busy,
            val: std::ptr::NonNull::from(&mut **st),
            _excl: std::marker::PhantomData,
        }),
        None => {
            // Closed by another thread between the tag check and `enter`.
            busy.store(false, Ordering::Release);
            Err(libc::ENOTSOCK)
        }
    }
}

/// The handle behind `s` if its tag says it is an open socket, else `ENOTSOCK`.
///
/// # Safety
/// `s` is non-NULL and a handle from `rl_socket` whose context was not terminated, or,
/// misused, a context or monitor handle (ids with low bits set, never dereferenced).
unsafe fn live_handle<'a>(s: *mut rl_socket_t) -> Res<&'a SockHandle> {
    if s as usize & KIND_MASK != 0 {
        // Not a Box pointer: a context or monitor id (see handles.rs).
        return Err(libc::ENOTSOCK);
    }
    // SAFETY: socket handles are repr(C) structs starting with the AtomicU32 tag and stay
    // allocated (as husks once closed) while their context lives.
    let tag = unsafe { &*(s as *const AtomicU32) };
    if tag.load(Ordering::Acquire) != SOCK_LIVE {
        return Err(libc::ENOTSOCK);
    }
    // SAFETY: the tag says this is a SockHandle.
    Ok(unsafe { &*(s as *const SockHandle) })
}

/// A NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string.
unsafe fn str_arg<'a>(p: *const c_char) -> Res<&'a str> {
    if p.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: caller contract.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map_err(|_| libc::EINVAL)
}

/// A byte-slice argument; NULL is allowed for length 0.
///
/// # Safety
/// `p` is NULL or valid for reading `len` bytes for `'a`.
pub(crate) unsafe fn bytes_arg<'a>(p: *const c_void, len: usize) -> Res<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: caller contract.
    Ok(unsafe { std::slice::from_raw_parts(p as *const u8, len) })
}

/// A mutable byte-slice argument; NULL is allowed for length 0.
///
/// # Safety
/// `p` is NULL or valid for writing `len` bytes for `'a`, not aliased.
pub(crate) unsafe fn bytes_mut_arg<'a>(p: *mut c_void, len: usize) -> Res<&'a mut [u8]> {
    if len == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: caller contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(p as *mut u8, len) })
}

pub(crate) fn type_from_int(t: c_int) -> Option<SocketType> {
    Some(match t {
        RL_PAIR => SocketType::Pair,
        RL_PUB => SocketType::Pub,
        RL_SUB => SocketType::Sub,
        RL_REQ => SocketType::Req,
        RL_REP => SocketType::Rep,
        RL_DEALER => SocketType::Dealer,
        RL_ROUTER => SocketType::Router,
        RL_PULL => SocketType::Pull,
        RL_PUSH => SocketType::Push,
        RL_XPUB => SocketType::XPub,
        RL_XSUB => SocketType::XSub,
        RL_STREAM => SocketType::Stream,
        _ => return None,
    })
}

fn type_to_int(t: SocketType) -> c_int {
    (RL_PAIR..=RL_STREAM)
        .find(|&i| type_from_int(i) == Some(t))
        .unwrap_or(-1)
}

/// Create a socket of `type` (libzmq `zmq_socket`): `RL_PAIR` ... `RL_STREAM`. The first
/// socket of a context builds it (starts the reactor threads).
///
/// Returns NULL with errno: `EFAULT` (bad context), `EINVAL` (unknown type), `ENOTSUP`
/// (a type this build of the engine does not implement yet), `RL_ETERM` (context shut
/// down), or a system error.
///
/// Thread-safe. `ctx` may be any value: only live handles from `rl_ctx_new` are accepted.
#[no_mangle]
pub extern "C" fn rl_socket(ctx: *mut rl_ctx_t, r#type: c_int) -> *mut rl_socket_t {
    boundary_ptr(|| {
        let h = ctx_ref(ctx)?;
        let ty = type_from_int(r#type).ok_or(libc::EINVAL)?;
        let sock = h.new_socket(ty)?;
        let handle = Box::new(SockHandle {
            tag: AtomicU32::new(SOCK_LIVE),
            busy: AtomicBool::new(false),
            state: std::cell::UnsafeCell::new(Some(Box::new(SockState {
                sock,
                ctx: h,
                monitor_open: Arc::new(AtomicBool::new(false)),
            }))),
        });
        Ok(Box::into_raw(handle) as *mut rl_socket_t)
    })
}

/// Close a socket (libzmq `zmq_close`). Returns at once; queued messages are still sent for
/// up to LINGER ms (in inline mode: while the context is driven, at the latest in
/// `rl_ctx_term`). Returns 0, or -1 with `EFAULT` (NULL) / `ENOTSOCK` (already closed) /
/// `EBUSY` (another thread is inside a call on the socket, e.g. blocked in `rl_recv`: the
/// socket stays open; `rl_ctx_shutdown` makes such calls return).
///
/// # Safety
/// `s` is NULL or a handle from `rl_socket` whose context is not terminated.
#[no_mangle]
pub unsafe extern "C" fn rl_close(s: *mut rl_socket_t) -> c_int {
    boundary(|| {
        if s.is_null() {
            return Err(libc::EFAULT);
        }
        // SAFETY: forwarded caller contract.
        let h = unsafe { live_handle(s) }?;
        let busy = enter(h)?;
        // SAFETY: holding `busy` makes this thread the only one to touch the state.
        let st = unsafe { (*h.state.get()).take() };
        if st.is_some() {
            h.tag.store(SOCK_DEAD, Ordering::Release);
        }
        // Released before `socket_closed`: once the context counts the socket closed,
        // rl_ctx_term may free the husk.
        busy.store(false, Ordering::Release);
        let SockState { sock, ctx, .. } = *st.ok_or(libc::ENOTSOCK)?;
        drop(sock);
        ctx.socket_closed(s as usize);
        Ok(0)
    })
}

/// Shared body of bind/connect/unbind/disconnect.
///
/// # Safety
/// As the callers.
unsafe fn endpoint_call(
    s: *mut rl_socket_t,
    endpoint: *const c_char,
    f: impl FnOnce(&mut Socket, &str) -> engine::Result<()>,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let mut sock = unsafe { sock_mut(s) }?;
        // SAFETY: forwarded caller contract.
        let ep = unsafe { str_arg(endpoint) }?;
        f(&mut sock, ep).map_err(eno)?;
        Ok(0)
    })
}

/// Bind to `tcp://host:port` (`*` and port `*` allowed; read the result with
/// `RL_LAST_ENDPOINT`) or `ipc:///path` / `ipc://@abstract` (libzmq `zmq_bind`).
/// Returns 0, or -1 with `EINVAL` (syntax), `EPROTONOSUPPORT`, `EADDRINUSE`, `RL_ETERM`, ...
///
/// # Safety
/// `s` is NULL or a live socket handle; `endpoint` is NULL or a NUL-terminated string.
/// Uses the socket: `EBUSY` while another thread is inside a call on it.
#[no_mangle]
pub unsafe extern "C" fn rl_bind(s: *mut rl_socket_t, endpoint: *const c_char) -> c_int {
    // SAFETY: same contract.
    unsafe { endpoint_call(s, endpoint, |s, ep| s.bind(ep)) }
}

/// Connect to an endpoint (libzmq `zmq_connect`); returns at once, the connection is made
/// (and remade) in the background. Returns 0, or -1 with `EINVAL`, `EPROTONOSUPPORT`,
/// `RL_ETERM`, ...
///
/// # Safety
/// `s` is NULL or a live socket handle; `endpoint` is NULL or a NUL-terminated string.
/// Uses the socket: `EBUSY` while another thread is inside a call on it.
#[no_mangle]
pub unsafe extern "C" fn rl_connect(s: *mut rl_socket_t, endpoint: *const c_char) -> c_int {
    // SAFETY: same contract.
    unsafe { endpoint_call(s, endpoint, |s, ep| s.connect(ep)) }
}

/// Stop listening on an endpoint given to `rl_bind` or its resolved form (libzmq
/// `zmq_unbind`). Returns 0, or -1 with `ENOENT` if it is not bound.
///
/// # Safety
/// `s` is NULL or a live socket handle; `endpoint` is NULL or a NUL-terminated string.
/// Uses the socket: `EBUSY` while another thread is inside a call on it.
#[no_mangle]
pub unsafe extern "C" fn rl_unbind(s: *mut rl_socket_t, endpoint: *const c_char) -> c_int {
    // SAFETY: same contract.
    unsafe { endpoint_call(s, endpoint, |s, ep| s.unbind(ep)) }
}

/// Drop the connection made by `rl_connect(endpoint)` (libzmq `zmq_disconnect`). Returns
/// 0, or -1 with `ENOENT` if it is not connected.
///
/// # Safety
/// `s` is NULL or a live socket handle; `endpoint` is NULL or a NUL-terminated string.
/// Uses the socket: `EBUSY` while another thread is inside a call on it.
#[no_mangle]
pub unsafe extern "C" fn rl_disconnect(s: *mut rl_socket_t, endpoint: *const c_char) -> c_int {
    // SAFETY: same contract.
    unsafe { endpoint_call(s, endpoint, |s, ep| s.disconnect(ep)) }
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
        let opt = match option {
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
        };
        sock.set_option(opt).map_err(eno)?;
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
        let sock = unsafe { sock_mut(s) }?;
        if optvallen.is_null() {
            return Err(libc::EFAULT);
        }
        // SAFETY: checked non-NULL; caller contract.
        let cap = unsafe { *optvallen };
        let value: Vec<u8> = match option {
            RL_TYPE => type_to_int(sock.socket_type()).to_ne_bytes().to_vec(),
            RL_RCVMORE => c_int::from(sock.rcvmore()).to_ne_bytes().to_vec(),
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

/// Send one frame of `len` bytes (copied; libzmq `zmq_send`). `flags`: `RL_SNDMORE` (more
/// frames of this message follow), `RL_DONTWAIT`. Blocks while every peer is at SNDHWM (up to
/// SNDTIMEO). ROUTER: the first frame of a message is the peer's routing id.
///
/// Returns `len` (clamped to INT_MAX), or -1 with `EAGAIN` (would block / timeout),
/// `EHOSTUNREACH` (ROUTER_MANDATORY), `ENOTSUP`, `RL_ETERM`, `EFAULT` (NULL `buf` with
/// `len` > 0).
///
/// # Safety
/// `s` is NULL or a live socket handle; `buf` valid for reading `len` bytes. Uses the socket:
/// `EBUSY` while another thread is inside a call on it.
#[no_mangle]
pub unsafe extern "C" fn rl_send(
    s: *mut rl_socket_t,
    buf: *const c_void,
    len: usize,
    flags: c_int,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let mut sock = unsafe { sock_mut(s) }?;
        // SAFETY: forwarded caller contract.
        let data = unsafe { bytes_arg(buf, len) }?;
        sock.send(data, flags).map_err(eno)?;
        Ok(to_int(len))
    })
}

/// `rl_send` for a buffer the caller keeps alive and unchanged (libzmq `zmq_send_const`).
/// ringlink copies into its pipes anyway, so this is `rl_send`; the buffer may be reused as
/// soon as the call returns.
///
/// # Safety
/// As `rl_send`.
#[no_mangle]
pub unsafe extern "C" fn rl_send_const(
    s: *mut rl_socket_t,
    buf: *const c_void,
    len: usize,
    flags: c_int,
) -> c_int {
    // SAFETY: same contract.
    unsafe { rl_send(s, buf, len, flags) }
}

/// Receive one frame into `buf` (libzmq `zmq_recv`): copies at most `len` bytes and returns
/// the frame's full size, which may exceed `len` (the rest is discarded, as in libzmq). Blocks
/// until a frame is ready (up to RCVTIMEO) unless `RL_DONTWAIT`. Check `RL_RCVMORE` for more
/// frames of the same message. ROUTER: the routing id arrives as the first frame.
///
/// Returns the size, or -1 with `EAGAIN`, `RL_ETERM`, `ENOTSUP`, `EFAULT`.
///
/// # Safety
/// `s` is NULL or a live socket handle; `buf` valid for writing `len` bytes. Uses the socket:
/// `EBUSY` while another thread is inside a call on it.
#[no_mangle]
pub unsafe extern "C" fn rl_recv(
    s: *mut rl_socket_t,
    buf: *mut c_void,
    len: usize,
    flags: c_int,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let mut sock = unsafe { sock_mut(s) }?;
        // SAFETY: forwarded caller contract.
        let out = unsafe { bytes_mut_arg(buf, len) }?;
        let n = sock.recv(out, flags).map_err(eno)?;
        Ok(to_int(n))
    })
}

/// Perform pending I/O now without blocking (ringlink). Needed only with `RL_IO_THREADS`
/// = 0 (inline mode), where I/O progresses inside ringlink calls: call it before doing other
/// work with messages still queued. A no-op with reactor threads. Returns 0, or -1 with
/// `EFAULT`/`ENOTSOCK`.
///
/// # Safety
/// `s` is NULL or a live socket handle. Uses the socket: `EBUSY` while another thread is inside a
/// call on it.
#[no_mangle]
pub unsafe extern "C" fn rl_flush(s: *mut rl_socket_t) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        unsafe { sock_mut(s) }?.flush();
        Ok(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
