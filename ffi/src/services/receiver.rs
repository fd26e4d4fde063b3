//! Receiver handles (`ringlink_services::receiver::Receiver`).
//!
//! The Rust receiver is built with its registries and then started; the C handle collects
//! the routing id (`rl_receiver_new`) and the registries (`rl_receiver_connect_registry`)
//! and starts the receiver at the first call that needs it (`rl_receiver_bind`,
//! `rl_receiver_register`, `rl_receiver_router`). Once started, the receiver lives inside
//! an ordinary socket handle for its ROUTER (`SockBody::Receiver`): the application receives
//! requests and sends replies with `rl_recv`, `rl_send`, `rl_recv_batch_routed`,
//! `rl_send_routed`, `rl_poll`, ... on `rl_receiver_router(r)`, and the receiver calls use
//! that socket like any other call (`EBUSY` while another thread is inside a call on it).

use std::ffi::{c_char, c_int, c_void};
use std::sync::Mutex;

use ringlink_services::receiver::Receiver;

use super::{copy_str_out, get, insert, lock, opt_str, req_str, routing_id, take, CtxLink};
use crate::ctx::{ctx_ref, rl_ctx_t, CtxShared};
use crate::socket::{close_handle, new_handle, rl_socket_t, sock_state, SockBody};
use crate::{boundary, boundary_ptr, eno, Res, RL_EFSM};

/// An opaque receiver handle (zlink's `void *receiver`).
pub struct rl_receiver_t {
    _private: [u8; 0],
}

enum State {
    Config {
        ctx: engine::Context,
        shared: std::sync::Arc<CtxShared>,
        routing_id: Option<Vec<u8>>,
        registries: Vec<String>,
    },
    /// The ROUTER's socket handle (an address: `Send`), which owns the receiver.
    Started(usize),
    /// Destroyed while another call was on it.
    Closed,
}

struct ReceiverObj {
    state: Mutex<State>,
    _ctx: CtxLink,
}

impl ReceiverObj {
    /// The ROUTER's socket handle, starting the receiver first if needed.
    fn started(&self) -> Res<*mut rl_socket_t> {
        let mut st = lock(&self.state);
        if let State::Config {
            ctx,
            shared,
            routing_id,
            registries,
        } = &*st
        {
            let mut b = Receiver::builder(ctx);
            if let Some(id) = routing_id {
                b = b.routing_id(id);
            }
            for r in registries {
                b = b.registry(r);
            }
            let rx = b.start().map_err(eno)?;
            shared.adopt_socket()?;
            let s = new_handle(SockBody::Receiver(Box::new(rx)), shared.clone());
            *st = State::Started(s as usize);
        }
        match &*st {
            State::Started(s) => Ok(*s as *mut rl_socket_t),
            _ => Err(libc::EFAULT),
        }
    }
}

/// Check the arguments (`args`), then run `f` on the started receiver with them, through its
/// ROUTER's socket handle.
fn with_receiver<A>(
    r: *mut rl_receiver_t,
    args: impl FnOnce() -> Res<A>,
    f: impl FnOnce(&mut Receiver, A) -> Res<c_int>,
) -> c_int {
    boundary(|| {
        let a = args()?;
        // Held for the call: the context (whose termination frees closed socket handles)
        // waits for this object.
        let obj = get::<ReceiverObj, _>(r)?;
        let s = obj.started()?;
        // SAFETY: `s` is the handle this receiver made; it is closed only by
        // rl_receiver_destroy, and a closed one reads as ENOTSOCK until the context is
        // terminated, which waits for `obj` to be dropped.
        let mut st = unsafe { sock_state(s) }?;
        match &mut st.sock {
            SockBody::Receiver(rx) => f(rx, a),
            SockBody::Own(_) => Err(libc::EFAULT),
        }
    })
}

/// A receiver (zlink `zlink_receiver_new`): the request-handler side of the gateway
/// pattern. `routing_id` (`id_len` 1 to 255 bytes, or NULL and 0 for a random one) is its
/// ROUTER's id, kept across restarts so gateways reach the new process. Give it registries
/// with `rl_receiver_connect_registry`, then bind, register, and serve on
/// `rl_receiver_router`.
///
/// Returns NULL with errno: `EINVAL` (bad id length), `EFAULT` (bad context, NULL id with a
/// length), `RL_ETERM`.
///
/// # Safety
/// `routing_id` is NULL or valid for reading `id_len` bytes. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_receiver_new(
    ctx: *mut rl_ctx_t,
    routing_id: *const c_void,
    id_len: usize,
) -> *mut rl_receiver_t {
    boundary_ptr(|| {
        // SAFETY: forwarded caller contract.
        let id = unsafe { self::routing_id(routing_id, id_len) }?.map(<[u8]>::to_vec);
        let shared = ctx_ref(ctx)?;
        let (ctx, link) = super::open_in(ctx)?;
        insert(ReceiverObj {
            state: Mutex::new(State::Config {
                ctx,
                shared,
                routing_id: id,
                registries: Vec::new(),
            }),
            _ctx: link,
        })
    })
}

/// Register with the registry whose ROUTER endpoint is `router_endpoint` (several give
/// failover, tried in the order given). Only before the receiver starts, i.e. before the
/// first `rl_receiver_bind`, `rl_receiver_register` or `rl_receiver_router`. Returns 0, or
/// -1 with `RL_EFSM` (already started), `EFAULT`, `EINVAL`.
///
/// # Safety
/// `router_endpoint` is NULL or a NUL-terminated string. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_receiver_connect_registry(
    r: *mut rl_receiver_t,
    router_endpoint: *const c_char,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let ep = unsafe { req_str(router_endpoint) }?;
        let obj = get::<ReceiverObj, _>(r)?;
        let mut st = lock(&obj.state);
        match &mut *st {
            State::Config { registries, .. } => registries.push(ep.to_string()),
            _ => return Err(RL_EFSM),
        }
        Ok(0)
    })
}

/// Bind the receiver's ROUTER to `endpoint` (starting the receiver if needed) and copy the
/// endpoint as bound (wildcard port resolved), NUL-terminated, into `out` (`out_cap` bytes;
/// NULL and 0 to skip). Returns 0, or -1 with bind errors (`EADDRINUSE`, `EINVAL`, ...),
/// `EINVAL` (no registry given: the receiver cannot start), `EMSGSIZE` (`out` too small:
/// the bind was made), `EBUSY` (another thread is inside a call on the ROUTER), `EFAULT`,
/// `RL_ETERM`.
///
/// # Safety
/// `endpoint` is NULL or a NUL-terminated string; `out` NULL or valid for `out_cap` bytes.
/// Thread-safe, as a call on the ROUTER socket.
#[no_mangle]
pub unsafe extern "C" fn rl_receiver_bind(
    r: *mut rl_receiver_t,
    endpoint: *const c_char,
    out: *mut c_char,
    out_cap: usize,
) -> c_int {
    with_receiver(
        r,
        // SAFETY: forwarded caller contract.
        || unsafe { req_str(endpoint) },
        |rx, ep| {
            let bound = rx.bind(ep).map_err(eno)?;
            // SAFETY: forwarded caller contract.
            unsafe { copy_str_out(&bound, out, out_cap) }?;
            Ok(0)
        },
    )
}

/// Register the gateway service `name` with weight `weight` (0 means 1) and wait for the
/// registry's answer. `advertise` is the endpoint gateways connect to; NULL (or "") takes the
/// only bound endpoint, a wildcard host replaced by 127.0.0.1. Returns 0, or -1 with
/// `EINVAL` (no endpoint to advertise, or the registry refused: see the log), `EHOSTUNREACH`
/// (no registry answered in time), `EBUSY` (another thread is inside a call on the ROUTER),
/// `EFAULT`, `RL_ETERM`.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string, `advertise` too. Thread-safe, as a call on the
/// ROUTER socket.
#[no_mangle]
pub unsafe extern "C" fn rl_receiver_register(
    r: *mut rl_receiver_t,
    name: *const c_char,
    advertise: *const c_char,
    weight: u32,
) -> c_int {
    with_receiver(
        r,
        // SAFETY: forwarded caller contract.
        || unsafe { Ok((req_str(name)?, opt_str(advertise)?)) },
        |rx, (name, advertise)| {
            rx.register(name, advertise, weight).map_err(eno)?;
            Ok(0)
        },
    )
}

/// Change a registered service's weight (0 means 1) and wait for the registry's answer.
/// Returns 0, or -1 with `ENOENT` (not registered here), otherwise as
/// `rl_receiver_register`.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string. Thread-safe, as a call on the ROUTER socket.
#[no_mangle]
pub unsafe extern "C" fn rl_receiver_update_weight(
    r: *mut rl_receiver_t,
    name: *const c_char,
    weight: u32,
) -> c_int {
    with_receiver(
        r,
        // SAFETY: forwarded caller contract.
        || unsafe { req_str(name) },
        |rx, name| {
            rx.update_weight(name, weight).map_err(eno)?;
            Ok(0)
        },
    )
}

/// Unregister `name` (the registry does not answer; its heartbeats stop). Returns 0, or -1
/// with `EFAULT`, `EINVAL`, `EBUSY`, `RL_ETERM`.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string. Thread-safe, as a call on the ROUTER socket.
#[no_mangle]
pub unsafe extern "C" fn rl_receiver_unregister(
    r: *mut rl_receiver_t,
    name: *const c_char,
) -> c_int {
    with_receiver(
        r,
        // SAFETY: forwarded caller contract.
        || unsafe { req_str(name) },
        |rx, name| {
            rx.unregister(name).map_err(eno)?;
            Ok(0)
        },
    )
}

/// The receiver's ROUTER as a socket handle (starting the receiver if needed): requests
/// arrive as `[gateway routing id][parts...]`, replies go out as `[gateway routing id]
/// [parts...]`, with any socket call (`rl_recv`, `rl_send`, `rl_msg_recv`, the batch calls,
/// `rl_setsockopt`, `rl_poll`, `rl_socket_monitor`, ...). The handle belongs to the receiver:
/// `rl_close` on it fails with `EINVAL`, `rl_receiver_destroy` closes it, and it must not be
/// used after that. The same handle is returned every time.
///
/// Returns NULL with errno: `EINVAL` (no registry given), `EFAULT`, `RL_ETERM`.
///
/// Thread-safe; `r` may be any value.
#[no_mangle]
pub extern "C" fn rl_receiver_router(r: *mut rl_receiver_t) -> *mut rl_socket_t {
    boundary_ptr(|| get::<ReceiverObj, _>(r)?.started())
}

/// Destroy the receiver and set `*r` to NULL: closes its ROUTER (the handle from
/// `rl_receiver_router` becomes invalid) and stops its registration worker. Registrations
/// are not withdrawn: the registry expires them by heartbeat (call `rl_receiver_unregister`
/// first to withdraw them at once). Returns 0, or -1 with `EFAULT` (NULL `r`, NULL or stale
/// `*r`), `EBUSY` (another thread is inside a call on the ROUTER, e.g. blocked in `rl_recv`:
/// nothing is destroyed).
///
/// # Safety
/// `r` is NULL or valid for reading and writing a pointer. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_receiver_destroy(r: *mut *mut rl_receiver_t) -> c_int {
    boundary(|| {
        if r.is_null() {
            return Err(libc::EFAULT);
        }
        // SAFETY: forwarded caller contract.
        let obj = get::<ReceiverObj, _>(unsafe { r.read() })?;
        {
            let mut st = lock(&obj.state);
            if let State::Started(s) = *st {
                // SAFETY: the receiver's own live handle (see `with_receiver`).
                match unsafe { close_handle(s as *mut rl_socket_t, true) } {
                    Ok(_) | Err(libc::ENOTSOCK) => {}
                    Err(e) => return Err(e),
                }
            }
            *st = State::Closed;
        }
        // SAFETY: forwarded caller contract.
        drop(unsafe { take::<ReceiverObj, _>(r) }?);
        Ok(0)
    })
}
