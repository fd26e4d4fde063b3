//! Contexts: `rl_ctx_new`, `rl_ctx_set` / `rl_ctx_get`, `rl_ctx_shutdown`, `rl_ctx_term`.
//!
//! The engine context is built lazily by the first `rl_socket`, because its settings
//! (IO_THREADS, the backend) are fixed at build time; setting them afterwards is `EINVAL`.
//! A context handle is a generation-checked id (`handles.rs`), not a pointer: `rl_ctx_term`
//! frees everything the context had (nothing is kept per terminated context) and a stale
//! handle keeps giving `EFAULT`. The husks of the context's closed sockets are released by
//! `rl_ctx_term` too.

use std::ffi::c_int;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use engine::{Backend, Context};

use crate::handles::{HandleTable, KIND_CTX};
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

/// Live contexts, by handle. `rl_ctx_term` removes the entry first, so a concurrent or later
/// call on the handle finds nothing (`EFAULT`), while calls that looked it up before go on
/// with their `Arc`.
static CONTEXTS: HandleTable<CtxShared> = HandleTable::new(KIND_CTX);

/// What a context handle refers to.
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
    /// Open sockets and service-layer objects (rl_ctx_term waits for 0).
    sockets: usize,
    /// Closed socket handles, freed at rl_ctx_term.
    husks: Vec<usize>,
}

impl CtxShared {
    fn lock(&self) -> MutexGuard<'_, CtxState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The engine context, built now if needed (`RL_ETERM` once shut down).
    fn built<'a>(st: &'a mut MutexGuard<'_, CtxState>) -> Res<&'a Context> {
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
        Ok(st.ctx.as_ref().expect("built above"))
    }

    /// Build the engine context if needed, and create a socket of type `ty`.
    pub(crate) fn new_socket(&self, ty: engine::SocketType) -> Res<engine::Socket> {
        let mut st = self.lock();
        let ctx = Self::built(&mut st)?;
        let mut sock = ctx.socket(ty).map_err(eno)?;
        if st.ipv6 {
            sock.set_option(engine::SocketOption::Ipv6(true))
                .map_err(eno)?;
        }
        st.sockets += 1;
        Ok(sock)
    }

    /// A service-layer object (registry, discovery, receiver, gateway, SPOT node or
    /// subscriber) is created: the engine context to build it on, built now if needed. The
    /// object counts as an open socket (`rl_ctx_term` waits for it) until
    /// [`CtxShared::service_closed`].
    pub(crate) fn open_service(&self) -> Res<Context> {
        let mut st = self.lock();
        let ctx = Self::built(&mut st)?.clone();
        st.sockets += 1;
        Ok(ctx)
    }

    /// A socket built by the service layer (a receiver's ROUTER) gets a handle: counted as
    /// open as `new_socket` does. `RL_ETERM` once the context is shut down.
    pub(crate) fn adopt_socket(&self) -> Res<()> {
        let mut st = self.lock();
        if st.shut {
            return Err(RL_ETERM);
        }
        st.sockets += 1;
        Ok(())
    }

    /// A service-layer object counted by [`CtxShared::open_service`] was freed.
    pub(crate) fn service_closed(&self) {
        let mut st = self.lock();
        st.sockets -= 1;
        if st.sockets == 0 {
            self.idle.notify_all();
        }
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
}

/// The context behind a handle: `EFAULT` for NULL, terminated or non-context handles (the
/// handle is only compared with the table, never dereferenced, so any value is safe).
pub(crate) fn ctx_ref(ctx: *mut rl_ctx_t) -> Res<Arc<CtxShared>> {
    CONTEXTS.get(ctx as usize).ok_or(libc::EFAULT)
}

/// A new context (libzmq `zmq_ctx_new`). Cheap: no thread starts before the first socket.
///
/// Returns NULL on failure (errno set). Thread-safe.
#[no_mangle]
pub extern "C" fn rl_ctx_new() -> *mut rl_ctx_t {
    boundary_ptr(|| {
        let shared = Arc::new(CtxShared {
            state: Mutex::new(CtxState {
                ctx: None,
                io_threads: 1,
                backend: RL_BACKEND_AUTO,
                ipv6: false,
                shut: false,
                sockets: 0,
                husks: Vec::new(),
            }),
            idle: Condvar::new(),
        });
        let id = CONTEXTS.insert(shared).ok_or(libc::EMFILE)?;
        Ok(id as *mut rl_ctx_t)
    })
}

/// Set a context option (libzmq `zmq_ctx_set`): `RL_IO_THREADS` (>= 0), `RL_BACKEND`,
/// `RL_CTX_IPV6` (0/1). Returns 0, or -1 with `EINVAL` for an unknown option, a bad value,
/// or IO_THREADS/BACKEND after the first socket was created; `EFAULT` for a bad context.
///
/// Thread-safe. `ctx` may be any value: only live handles from `rl_ctx_new` are accepted.
#[no_mangle]
pub extern "C" fn rl_ctx_set(ctx: *mut rl_ctx_t, option: c_int, optval: c_int) -> c_int {
    boundary(|| {
        let h = ctx_ref(ctx)?;
        let mut st = h.lock();
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
/// Thread-safe. `ctx` may be any value: only live handles from `rl_ctx_new` are accepted.
#[no_mangle]
pub extern "C" fn rl_ctx_get(ctx: *mut rl_ctx_t, option: c_int) -> c_int {
    boundary(|| {
        let h = ctx_ref(ctx)?;
        let st = h.lock();
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
/// Thread-safe. `ctx` may be any value: only live handles from `rl_ctx_new` are accepted.
#[no_mangle]
pub extern "C" fn rl_ctx_shutdown(ctx: *mut rl_ctx_t) -> c_int {
    boundary(|| {
        let h = ctx_ref(ctx)?;
        let mut st = h.lock();
        st.shut = true;
        if let Some(c) = st.ctx.as_ref() {
            c.shutdown();
        }
        Ok(0)
    })
}

/// Terminate the context (libzmq `zmq_ctx_term`): shuts it down (as `rl_ctx_shutdown`), then
/// blocks until every socket of the context is closed (and every service-layer object of it,
/// `rl_registry_t` ... `rl_spot_sub_t`, destroyed), then waits for queued messages to be
/// sent as each socket's LINGER allows, stops the reactor threads and frees the context.
/// Returns 0, or -1 with `EFAULT` (NULL or already terminated).
///
/// After it returns, the handle and every socket handle of this context are invalid: the
/// context handle keeps reporting `EFAULT` for a stale use (nothing stays allocated for it:
/// handles are generation-checked ids), socket handles must not be used at all. Monitors
/// still open stay usable until closed; term does not wait for them.
///
/// Thread-safe: other threads may still be closing their sockets. `ctx` may be any value:
/// only live handles from `rl_ctx_new` are accepted.
#[no_mangle]
pub extern "C" fn rl_ctx_term(ctx: *mut rl_ctx_t) -> c_int {
    boundary(|| {
        // From here on the handle is dead for every caller (a concurrent second term gets
        // EFAULT); the slot is free for the next rl_ctx_new.
        let h = CONTEXTS.remove(ctx as usize).ok_or(libc::EFAULT)?;
        let (engine_ctx, husks) = {
            let mut st = h.lock();
            st.shut = true;
            if let Some(c) = st.ctx.as_ref() {
                c.shutdown();
            }
            while st.sockets > 0 {
                st = h.idle.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            (st.ctx.take(), std::mem::take(&mut st.husks))
        };
        // Joins the reactors after lingering messages went out (outside the lock).
        drop(engine_ctx);
        for p in husks {
            // SAFETY: each husk is a closed socket's Box<SockHandle>, leaked by rl_close and
            // recorded once; the context is dead, so no call may use it any more.
            drop(unsafe { Box::from_raw(p as *mut SockHandle) });
        }
        // `h` is the last reference unless a call that looked the handle up before is still
        // running (it fails with RL_ETERM): the context's memory goes with the last one.
        Ok(0)
    })
}
