//! Registry handles: configured after `rl_registry_new`, running after `rl_registry_start`
//! (`ringlink_services::registry::Registry`).

use std::ffi::{c_char, c_int};
use std::sync::Mutex;
use std::time::Duration;

use ringlink_services::registry::Registry;

use super::{copy_str_out, get, insert, lock, open_in, positive_ms, req_str, take, CtxLink};
use crate::ctx::rl_ctx_t;
use crate::{boundary, boundary_ptr, eno, Res, RL_EFSM};

/// An opaque registry handle (zlink's `void *registry`).
pub struct rl_registry_t {
    _private: [u8; 0],
}

struct Config {
    ctx: engine::Context,
    pub_ep: String,
    router_ep: String,
    id: Option<u32>,
    heartbeat: Option<Duration>,
    broadcast: Option<Duration>,
    peers: Vec<String>,
}

enum State {
    Config(Config),
    Running(Box<Registry>),
}

struct RegistryObj {
    state: Mutex<State>,
    _ctx: CtxLink,
}

/// Run `f` on the registry's configuration: `RL_EFSM` once started.
fn configure(r: *mut rl_registry_t, f: impl FnOnce(&mut Config) -> Res<()>) -> c_int {
    boundary(|| {
        let obj = get::<RegistryObj, _>(r)?;
        let mut st = lock(&obj.state);
        match &mut *st {
            State::Config(c) => f(c)?,
            State::Running(_) => return Err(RL_EFSM),
        }
        Ok(0)
    })
}

/// A registry (zlink `zlink_registry_new` + `set_endpoints`) on `ctx` that will publish its
/// service list on the PUB endpoint `pub_endpoint` and take requests on the ROUTER endpoint
/// `router_endpoint` (wildcards such as `tcp://127.0.0.1:*` allowed; read the bound ones
/// with `rl_registry_pub_endpoint` / `rl_registry_router_endpoint` after the start).
/// Nothing is bound before `rl_registry_start`; configure it first with `rl_registry_set_id`,
/// `rl_registry_add_peer`, `rl_registry_set_heartbeat`, `rl_registry_set_broadcast_interval`.
///
/// Returns NULL with errno: `EFAULT` (bad context, NULL endpoint), `EINVAL` (endpoint not
/// UTF-8), `RL_ETERM` (context shut down).
///
/// # Safety
/// The endpoints are NULL or NUL-terminated strings. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_registry_new(
    ctx: *mut rl_ctx_t,
    pub_endpoint: *const c_char,
    router_endpoint: *const c_char,
) -> *mut rl_registry_t {
    boundary_ptr(|| {
        // SAFETY: forwarded caller contract.
        let (pub_ep, router_ep) = unsafe { (req_str(pub_endpoint)?, req_str(router_endpoint)?) };
        let (ctx, link) = open_in(ctx)?;
        insert(RegistryObj {
            state: Mutex::new(State::Config(Config {
                ctx,
                pub_ep: pub_ep.to_string(),
                router_ep: router_ep.to_string(),
                id: None,
                heartbeat: None,
                broadcast: None,
                peers: Vec::new(),
            })),
            _ctx: link,
        })
    })
}

/// Set the registry's id in a cluster (default: random, non-zero). Before the start only.
/// Returns 0, or -1 with `EINVAL` (id 0), `RL_EFSM` (already started), `EFAULT`.
///
/// Thread-safe; `r` may be any value (handles are checked).
#[no_mangle]
pub extern "C" fn rl_registry_set_id(r: *mut rl_registry_t, id: u32) -> c_int {
    configure(r, |c| {
        if id == 0 {
            return Err(libc::EINVAL);
        }
        c.id = Some(id);
        Ok(())
    })
}

/// Remove a provider after `timeout_ms` without a heartbeat (default 15000). Before the
/// start only. Returns 0, or -1 with `EINVAL` (<= 0), `RL_EFSM` (already started), `EFAULT`.
///
/// Thread-safe; `r` may be any value.
#[no_mangle]
pub extern "C" fn rl_registry_set_heartbeat(r: *mut rl_registry_t, timeout_ms: c_int) -> c_int {
    configure(r, |c| {
        c.heartbeat = Some(positive_ms(timeout_ms)?);
        Ok(())
    })
}

/// Re-publish the list at least every `interval_ms` (default 30000; peers silent for three
/// intervals are dropped). Before the start only. Returns 0, or -1 with `EINVAL` (<= 0),
/// `RL_EFSM` (already started), `EFAULT`.
///
/// Thread-safe; `r` may be any value.
#[no_mangle]
pub extern "C" fn rl_registry_set_broadcast_interval(
    r: *mut rl_registry_t,
    interval_ms: c_int,
) -> c_int {
    configure(r, |c| {
        c.broadcast = Some(positive_ms(interval_ms)?);
        Ok(())
    })
}

/// Subscribe to a peer registry's PUB endpoint (an HA cluster), before or after the start.
/// Returns 0, or -1 with `EFAULT`, `EINVAL` (the endpoint is refused, after the start),
/// `RL_ETERM`.
///
/// # Safety
/// `pub_endpoint` is NULL or a NUL-terminated string. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_registry_add_peer(
    r: *mut rl_registry_t,
    pub_endpoint: *const c_char,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let ep = unsafe { req_str(pub_endpoint) }?;
        let obj = get::<RegistryObj, _>(r)?;
        let mut st = lock(&obj.state);
        match &mut *st {
            State::Config(c) => c.peers.push(ep.to_string()),
            State::Running(reg) => reg.add_peer(ep).map_err(eno)?,
        }
        Ok(0)
    })
}

/// Bind both endpoints, connect to the peers and start the registry's worker thread.
/// Returns 0, or -1 with `RL_EFSM` (already started), bind errors (`EADDRINUSE`, `EINVAL`,
/// `EPROTONOSUPPORT`, ...), `RL_ETERM`, `EFAULT`. After a failure the configuration is kept
/// and the start may be tried again.
///
/// Thread-safe; `r` may be any value.
#[no_mangle]
pub extern "C" fn rl_registry_start(r: *mut rl_registry_t) -> c_int {
    boundary(|| {
        let obj = get::<RegistryObj, _>(r)?;
        let mut st = lock(&obj.state);
        let State::Config(c) = &*st else {
            return Err(RL_EFSM);
        };
        let mut b = Registry::builder(&c.ctx).endpoints(&c.pub_ep, &c.router_ep);
        if let Some(id) = c.id {
            b = b.id(id);
        }
        if let Some(t) = c.heartbeat {
            b = b.heartbeat_timeout(t);
        }
        if let Some(t) = c.broadcast {
            b = b.broadcast_interval(t);
        }
        for p in &c.peers {
            b = b.peer(p);
        }
        *st = State::Running(Box::new(b.start().map_err(eno)?));
        Ok(0)
    })
}

fn endpoint(
    r: *mut rl_registry_t,
    buf: *mut c_char,
    cap: usize,
    pick: fn(&Registry) -> &str,
) -> c_int {
    boundary(|| {
        let obj = get::<RegistryObj, _>(r)?;
        let st = lock(&obj.state);
        let State::Running(reg) = &*st else {
            return Err(RL_EFSM);
        };
        // SAFETY: the extern callers' contract: `buf` is valid for `cap` bytes.
        unsafe { copy_str_out(pick(reg), buf, cap) }?;
        Ok(0)
    })
}

/// Copy the PUB endpoint as bound (wildcard port resolved), NUL-terminated, into `buf`
/// (`cap` bytes). Returns 0, or -1 with `EMSGSIZE` (too small; nothing written), `RL_EFSM`
/// (not started), `EFAULT`.
///
/// # Safety
/// `buf` is NULL or valid for writing `cap` bytes. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_registry_pub_endpoint(
    r: *mut rl_registry_t,
    buf: *mut c_char,
    cap: usize,
) -> c_int {
    endpoint(r, buf, cap, Registry::pub_endpoint)
}

/// Copy the ROUTER endpoint as bound (what receivers and SPOT nodes register with) into
/// `buf`, as `rl_registry_pub_endpoint`.
///
/// # Safety
/// As `rl_registry_pub_endpoint`.
#[no_mangle]
pub unsafe extern "C" fn rl_registry_router_endpoint(
    r: *mut rl_registry_t,
    buf: *mut c_char,
    cap: usize,
) -> c_int {
    endpoint(r, buf, cap, Registry::router_endpoint)
}

/// Stop the registry (its worker thread, its sockets) and set `*r` to NULL. Returns 0, or -1
/// with `EFAULT` (NULL `r`, NULL or stale `*r`).
///
/// # Safety
/// `r` is NULL or valid for reading and writing a pointer. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_registry_destroy(r: *mut *mut rl_registry_t) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        drop(unsafe { take::<RegistryObj, _>(r) }?);
        Ok(0)
    })
}
