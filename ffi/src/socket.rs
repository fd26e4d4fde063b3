//! Sockets: open/close, the per-call handle guard, endpoints, copying send/recv (options are
//! in `options.rs`).

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use engine::{Socket, SocketType};

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
    pub(crate) sock: SockBody,
    pub(crate) ctx: Arc<CtxShared>,
    /// True while an `rl_monitor_t` of this socket is open (cleared by `rl_monitor_close`).
    pub(crate) monitor_open: Arc<AtomicBool>,
}

/// The engine socket a handle stands for: its own, or the ROUTER of a service-layer receiver
/// (`rl_receiver_router`), which the receiver owns and lends.
// The common variant stays inline (no second indirection on the message path); the state
// is boxed once per handle anyway.
#[allow(clippy::large_enum_variant)]
pub(crate) enum SockBody {
    Own(Socket),
    Receiver(Box<ringlink_services::receiver::Receiver>),
}

impl SockBody {
    /// The engine socket.
    pub(crate) fn socket(&mut self) -> &mut Socket {
        match self {
            SockBody::Own(s) => s,
            SockBody::Receiver(r) => r.router(),
        }
    }
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
    let val = std::ptr::NonNull::from(st.sock.socket());
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
pub(crate) unsafe fn str_arg<'a>(p: *const c_char) -> Res<&'a str> {
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

pub(crate) fn type_to_int(t: SocketType) -> c_int {
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
        Ok(new_handle(SockBody::Own(sock), h))
    })
}

/// A socket handle for `sock`, already counted as open by `ctx`.
pub(crate) fn new_handle(sock: SockBody, ctx: Arc<CtxShared>) -> *mut rl_socket_t {
    let handle = Box::new(SockHandle {
        tag: AtomicU32::new(SOCK_LIVE),
        busy: AtomicBool::new(false),
        state: std::cell::UnsafeCell::new(Some(Box::new(SockState {
            sock,
            ctx,
            monitor_open: Arc::new(AtomicBool::new(false)),
        }))),
    });
    Box::into_raw(handle) as *mut rl_socket_t
}

/// Close a socket (libzmq `zmq_close`). Returns at once; queued messages are still sent for
/// up to LINGER ms (in inline mode: while the context is driven, at the latest in
/// `rl_ctx_term`). Returns 0, or -1 with `EFAULT` (NULL) / `ENOTSOCK` (already closed) /
/// `EBUSY` (another thread is inside a call on the socket, e.g. blocked in `rl_recv`: the
/// socket stays open; `rl_ctx_shutdown` makes such calls return) / `EINVAL` (a receiver's
/// ROUTER from `rl_receiver_router`: it belongs to the receiver, `rl_receiver_destroy`
/// closes it).
///
/// # Safety
/// `s` is NULL or a handle from `rl_socket` whose context is not terminated.
#[no_mangle]
pub unsafe extern "C" fn rl_close(s: *mut rl_socket_t) -> c_int {
    // SAFETY: forwarded caller contract.
    boundary(|| unsafe { close_handle(s, false) })
}

/// Close a socket handle. A receiver's ROUTER (`SockBody::Receiver`) is closed only with
/// `owned` (by `rl_receiver_destroy`); `rl_close` on it is `EINVAL`.
///
/// # Safety
/// As `rl_close`.
pub(crate) unsafe fn close_handle(s: *mut rl_socket_t, owned: bool) -> Res<c_int> {
    if s.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: forwarded caller contract.
    let h = unsafe { live_handle(s) }?;
    let busy = enter(h)?;
    // SAFETY: holding `busy` makes this thread the only one to touch the state.
    let state = unsafe { &mut *h.state.get() };
    if !owned && matches!(state.as_deref(), Some(st) if matches!(st.sock, SockBody::Receiver(_))) {
        busy.store(false, Ordering::Release);
        return Err(libc::EINVAL);
    }
    let st = state.take();
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

/// Called by `rl_recv_with` with the frame's bytes (valid only during the call), its size,
/// 1 if more frames of the message follow (else 0), and the caller's `arg`.
pub type rl_recv_fn =
    Option<unsafe extern "C" fn(data: *const c_void, len: usize, more: c_int, arg: *mut c_void)>;

/// Receive one frame of any size without copying it out first (ringlink): `fn` is called
/// exactly once, inside this call, with the frame still in the socket's queue, and the frame
/// is consumed when it returns. This is how a binding builds its own object of the exact
/// size (no intermediate buffer, no allocation by ringlink). Blocks and fails as `rl_recv`;
/// `RL_RCVMORE` is updated. `fn` must not call into this socket (that is `EBUSY`); other
/// sockets are fine.
///
/// Returns the frame's size (clamped to INT_MAX), or -1 with `EAGAIN`, `EINTR`, `RL_ETERM`,
/// `ENOTSUP`, `EFAULT` (NULL `fn`); `fn` is not called then.
///
/// # Safety
/// `s` is NULL or a live socket handle; `fn` is safe to call with `arg`. Uses the socket:
/// `EBUSY` while another thread is inside a call on it.
#[no_mangle]
pub unsafe extern "C" fn rl_recv_with(
    s: *mut rl_socket_t,
    r#fn: rl_recv_fn,
    arg: *mut c_void,
    flags: c_int,
) -> c_int {
    boundary(|| {
        let f = r#fn.ok_or(libc::EFAULT)?;
        // SAFETY: forwarded caller contract.
        let mut sock = unsafe { sock_mut(s) }?;
        let n = sock
            .recv_with(flags, |body, more| {
                // SAFETY: the caller vouches for `fn` and `arg`; `body` is valid for its length
                // during the call.
                unsafe { f(body.as_ptr().cast(), body.len(), c_int::from(more), arg) };
                body.len()
            })
            .map_err(eno)?;
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
