//! Contexts: `rl_ctx_new`, `rl_ctx_set` / `rl_ctx_get`, `rl_ctx_shutdown`, `rl_ctx_term`.
//!
//! The engine context is built lazily by the first `rl_socket`, because its settings
//! (IO_THREADS, the backend) are fixed at build time; setting them afterwards is `EINVAL`.
//! A handle stays allocated (as a 16-byte husk) after `rl_ctx_term`, so a stale use gives
//! `EFAULT` instead of touching freed memory; the husks of closed sockets and monitors are
//! released by `rl_ctx_term`.

use std::ffi::c_int;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use engine::{Backend, Context};

use crate::socket::SockHandle;
use crate::{boundary, boundary_ptr, eno, Res, RL_ETERM};

/// Context option: number of reactor (I/O) threads, default 1. `0` selects the inline
/// run-to-completion mode: no reactor thread, the calling thread drives the I/O (see
/// `rl_flush`). Settable only before the first `rl_socket`.
pub const RL_IO_THREADS: c_int = 1;
/// Context option (read-only): `sizeof(rl_msg_t)`.
pub const RL_MSG_T_SIZE: c_int = 6;
/// Context option: new sockets get `RL_IPV6` set to this value (default 0).
pub const RL_CTX_IPV6: c_int = 42;
/// Context option (ringlink): the backend, `RL_BACKEND_AUTO` (default: io_uring, falling
/// back to epoll; `RINGLINK_BACKEND=uring|epoll` in the environment decides if set),
/// `RL_BACKEND_URING` or `RL_BACKEND_EPOLL`. Settable only before the first `rl_socket`;
/// once the context is built, reading it gives the backend actually running.
pub const RL_BACKEND: c_int = 1000;
/// `RL_BACKEND` value: automatic choice.
pub const RL_BACKEND_AUTO: c_int = 0;
/// `RL_BACKEND` value: io_uring.
pub const RL_BACKEND_URING: c_int = 1;
/// `RL_BACKEND` value: epoll.
pub const RL_BACKEND_EPOLL: c_int = 2;

/// An opaque context handle (libzmq's `void *context`).
pub struct rl_ctx_t {
    _private: [u8; 0],
}

pub(crate) const CTX_LIVE: u32 = 0x7231_6378; // "rlcx"
const CTX_DEAD: u32 = 0x7231_6464;

/// What an `rl_ctx_t *` points to. `tag` first, as in `SockHandle`, so a handle of the wrong
/// kind is recognised.
#[repr(C)]
pub(crate) struct CtxHandle {
    tag: AtomicU32,
    pub(crate) shared: Arc<CtxShared>,
}

pub(crate) struct CtxShared {
    state: Mutex<CtxState>,
    idle: Condvar,
}

struct CtxState {
    ctx: Option<Context>,
    io_threads: usize,
    backend: c_int,
    ipv6: bool,
    shut: bool,
    /// Open sockets (rl_ctx_term waits for 0).
    sockets: usize,
    /// Closed socket handles, freed at rl_ctx_term.
    husks: Vec<usize>,
    /// Closed monitor handles, freed at rl_ctx_term.
    monitor_husks: Vec<usize>,
}

/// Terminated context handles: kept so stale handles read a dead tag (and LeakSanitizer sees
/// them as reachable).
static CTX_HUSKS: Mutex<Vec<usize>> = Mutex::new(Vec::new());

impl CtxShared {
    fn lock(&self) -> MutexGuard<'_, CtxState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Build the engine context if needed, and create a socket of type `ty`.
    pub(crate) fn new_socket(&self, ty: engine::SocketType) -> Res<engine::Socket> {
        let mut st = self.lock();
        if st.shut {
            return Err(RL_ETERM);
        }
        if st.ctx.is_none() {
            let mut b = Context::builder().io_threads(st.io_threads);
            match st.backend {
                crate::ctx::RL_BACKEND_URING => b = b.backend(Backend::Uring),
                crate::ctx::RL_BACKEND_EPOLL => b = b.backend(Backend::Epoll),
                _ => {}
            }
            st.ctx = Some(b.build().map_err(eno)?);
        }
        let ctx = st.ctx.as_ref().expect("built above");
        let mut sock = ctx.socket(ty).map_err(eno)?;
        if st.ipv6 {
            sock.set_option(engine::SocketOption::Ipv6(true))
                .map_err(eno)?;
        }
        st.sockets += 1;
        Ok(sock)
    }

    /// A socket was closed; `husk` is its handle, freed at termination.
    pub(crate) fn socket_closed(&self, husk: usize) {
        let mut st = self.lock();
        st.sockets -= 1;
        st.husks.push(husk);
        if st.sockets == 0 {
            self.idle.notify_all();
        }
    }

    /// A monitor was closed; `husk` is its handle, freed at termination (or never, if the
    /// context is terminated already: then it stays reachable from the context's husk).
    pub(crate) fn monitor_closed(&self, husk: usize) {
        self.lock().monitor_husks.push(husk);
    }
}

/// The context behind a handle: EFAULT for NULL, terminated or non-context handles.
///
/// # Safety
/// `ctx` is NULL or a pointer returned by `rl_ctx_new`.
pub(crate) unsafe fn ctx_ref<'a>(ctx: *mut rl_ctx_t) -> Res<&'a CtxHandle> {
    if ctx.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: non-NULL handles point to a CtxHandle (never freed) or, misused, a live
    // SockHandle: both are repr(C) and start with the AtomicU32 tag.
    let tag = unsafe { &*(ctx as *const AtomicU32) };
    if tag.load(Ordering::Acquire) != CTX_LIVE {
        return Err(libc::EFAULT);
    }
    // SAFETY: the tag says this is a CtxHandle.
    Ok(unsafe { &*(ctx as *const CtxHandle) })
}

/// A new context (libzmq `zmq_ctx_new`). Cheap: no thread starts before the first socket.
///
/// Returns NULL on failure (errno set). Thread-safe.
#[no_mangle]
pub extern "C" fn rl_ctx_new() -> *mut rl_ctx_t {
    boundary_ptr(|| {
        let h = Box::new(CtxHandle {
            tag: AtomicU32::new(CTX_LIVE),
            shared: Arc::new(CtxShared {
                state: Mutex::new(CtxState {
                    ctx: None,
                    io_threads: 1,
                    backend: RL_BACKEND_AUTO,
                    ipv6: false,
                    shut: false,
                    sockets: 0,
                    husks: Vec::new(),
                    monitor_husks: Vec::new(),
                }),
                idle: Condvar::new(),
            }),
        });
        Ok(Box::into_raw(h) as *mut rl_ctx_t)
    })
}

/// Set a context option (libzmq `zmq_ctx_set`): `RL_IO_THREADS` (>= 0), `RL_BACKEND`,
/// `RL_CTX_IPV6` (0/1). Returns 0, or -1 with `EINVAL` for an unknown option, a bad value,
/// or IO_THREADS/BACKEND after the first socket was created; `EFAULT` for a bad context.
///
/// # Safety
/// `ctx` is NULL or a handle from `rl_ctx_new`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_ctx_set(ctx: *mut rl_ctx_t, option: c_int, optval: c_int) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let h = unsafe { ctx_ref(ctx) }?;
        let mut st = h.shared.lock();
        let built = st.ctx.is_some();
        match option {
            RL_IO_THREADS if !built && optval >= 0 => st.io_threads = optval as usize,
            RL_BACKEND if !built && (RL_BACKEND_AUTO..=RL_BACKEND_EPOLL).contains(&optval) => {
                st.backend = optval
            }
            RL_CTX_IPV6 if optval == 0 || optval == 1 => st.ipv6 = optval == 1,
            _ => return Err(libc::EINVAL),
        }
        Ok(0)
    })
}

/// Read a context option (libzmq `zmq_ctx_get`): `RL_IO_THREADS`, `RL_BACKEND`,
/// `RL_CTX_IPV6`, `RL_MSG_T_SIZE`. Returns the value, or -1 with `EINVAL` (unknown option) or
/// `EFAULT` (bad context).
///
/// # Safety
/// `ctx` is NULL or a handle from `rl_ctx_new`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_ctx_get(ctx: *mut rl_ctx_t, option: c_int) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let h = unsafe { ctx_ref(ctx) }?;
        let st = h.shared.lock();
        Ok(match option {
            RL_IO_THREADS => st.io_threads.min(c_int::MAX as usize) as c_int,
            RL_CTX_IPV6 => c_int::from(st.ipv6),
            RL_MSG_T_SIZE => std::mem::size_of::<crate::msg::rl_msg_t>() as c_int,
            RL_BACKEND => match st.ctx.as_ref().map(|c| c.backend()) {
                Some(Backend::Uring) => RL_BACKEND_URING,
                Some(Backend::Epoll) => RL_BACKEND_EPOLL,
                None => st.backend,
            },
            _ => return Err(libc::EINVAL),
        })
    })
}

/// Shut the context down (libzmq `zmq_ctx_shutdown`): blocking calls on its sockets return
/// -1 with `RL_ETERM`, now and from now on, and `rl_socket` fails with `RL_ETERM`. Sockets
/// must still be closed. Returns 0, or -1 with `EFAULT`.
///
/// # Safety
/// `ctx` is NULL or a handle from `rl_ctx_new`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_ctx_shutdown(ctx: *mut rl_ctx_t) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let h = unsafe { ctx_ref(ctx) }?;
        let mut st = h.shared.lock();
        st.shut = true;
        if let Some(c) = st.ctx.as_ref() {
            c.shutdown();
        }
        Ok(0)
    })
}

/// Terminate the context (libzmq `zmq_ctx_term`): shuts it down (as `rl_ctx_shutdown`), then
/// blocks until every socket of the context is closed, then waits for queued messages to be
/// sent as each socket's LINGER allows, stops the reactor threads and frees the context.
/// Returns 0, or -1 with `EFAULT` (NULL or already terminated).
///
/// After it returns, the handle and every socket handle of this context are invalid (the
/// context handle keeps reporting `EFAULT` for a stale use, socket handles must not be used),
/// and so are monitors closed before; monitors still open stay usable until closed. Term does
/// not wait for monitors.
///
/// # Safety
/// `ctx` is NULL or a handle from `rl_ctx_new`. Thread-safe: other threads may still be
/// closing their sockets.
#[no_mangle]
pub unsafe extern "C" fn rl_ctx_term(ctx: *mut rl_ctx_t) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let h = unsafe { ctx_ref(ctx) }?;
        if h.tag
            .compare_exchange(CTX_LIVE, CTX_DEAD, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(libc::EFAULT); // terminated concurrently
        }
        let (engine_ctx, husks, monitor_husks) = {
            let mut st = h.shared.lock();
            st.shut = true;
            if let Some(c) = st.ctx.as_ref() {
                c.shutdown();
            }
            while st.sockets > 0 {
                st = h.shared.idle.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            (
                st.ctx.take(),
                std::mem::take(&mut st.husks),
                std::mem::take(&mut st.monitor_husks),
            )
        };
        // Joins the reactors after lingering messages went out (outside the lock).
        drop(engine_ctx);
        for p in husks {
            // SAFETY: each husk is a closed socket's Box<SockHandle>, leaked by rl_close and
            // recorded once; the context is dead, so no call may use it any more.
            drop(unsafe { Box::from_raw(p as *mut SockHandle) });
        }
        for p in monitor_husks {
            // SAFETY: recorded once by rl_monitor_close; stale monitor handles must not be
            // used after rl_ctx_term (its contract).
            unsafe { crate::monitor::free_husk(p) };
        }
        CTX_HUSKS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ctx as usize);
        Ok(0)
    })
}
