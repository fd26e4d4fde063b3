//! Discovery handles (`ringlink_services::discovery::Discovery`) and their change callback.
//! Every call is `&self` in Rust (`connect_registry_shared` for the connect), so the handle
//! is shared between threads without a guard.

use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::ThreadId;

use ringlink_services::discovery::{Change, Discovery};
use ringlink_services::wire::{Provider, ServiceType};

use super::{get, insert, lock, open_in, req_str, take, timeout, CtxLink, RL_ENDPOINT_MAX};
use super::{RL_SERVICE_GATEWAY, RL_SERVICE_SPOT};
use crate::ctx::rl_ctx_t;
use crate::socket::RL_ROUTING_ID_MAX;
use crate::{boundary, boundary_ptr, eno, to_int, Res};

/// An opaque discovery handle (zlink's `void *discovery`).
pub struct rl_discovery_t {
    _private: [u8; 0],
}

/// One provider of a service, filled by `rl_discovery_get_providers`.
#[repr(C)]
pub struct rl_provider_info_t {
    /// The endpoint gateways (or SPOT nodes) connect to, NUL-terminated.
    pub endpoint: [c_char; RL_ENDPOINT_MAX],
    /// The provider's routing id (a gateway connects with it), `routing_id_size` bytes.
    pub routing_id: [u8; 255],
    /// Length of `routing_id`.
    pub routing_id_size: usize,
    /// The provider's weight (>= 1).
    pub weight: u32,
}

/// Called by a discovery (`rl_discovery_set_callback`) for every change of a service's
/// providers: the service's name (NUL-terminated, valid during the call), its number of
/// providers now (0: it became unavailable), and the `userdata` given with the callback.
pub type rl_discovery_fn =
    Option<unsafe extern "C" fn(service: *const c_char, providers: usize, userdata: *mut c_void)>;

type CFn = unsafe extern "C" fn(*const c_char, usize, *mut c_void);

#[derive(Default)]
struct CbState {
    /// The callback and its userdata (as an address: the slot is shared with the worker).
    cb: Option<(CFn, usize)>,
    /// The thread running the callback now, if any.
    running: Option<ThreadId>,
}

/// The callback slot the discovery's one listener reads.
#[derive(Default)]
struct CbSlot {
    state: Mutex<CbState>,
    idle: Condvar,
}

impl CbSlot {
    /// On the discovery's worker thread: call the C callback (if set) for `c`, outside the
    /// lock, marked as running so `set` can wait for it.
    fn call(&self, c: &Change) {
        let Some((f, userdata)) = ({
            let mut st = lock(&self.state);
            let cb = st.cb;
            if cb.is_some() {
                st.running = Some(std::thread::current().id());
            }
            cb
        }) else {
            return;
        };
        // A name with a NUL cannot be passed as a C string: not reported.
        if let Ok(name) = CString::new(c.name.as_str()) {
            // SAFETY: the callback's owner vouched (rl_discovery_set_callback) for calling
            // `f` with `userdata`; `name` lives for the call.
            unsafe { f(name.as_ptr(), c.providers.len(), userdata as *mut c_void) };
        }
        lock(&self.state).running = None;
        self.idle.notify_all();
    }

    /// Replace the callback; unless called from the callback itself, wait until a call of
    /// the previous one in progress returned.
    fn set(&self, cb: Option<(CFn, usize)>) {
        let me = std::thread::current().id();
        let mut st = lock(&self.state);
        st.cb = cb;
        while st.running.is_some_and(|t| t != me) {
            st = self.idle.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Whether this thread is running the callback now.
    fn in_callback(&self) -> bool {
        lock(&self.state).running == Some(std::thread::current().id())
    }
}

pub(crate) struct DiscoveryObj {
    pub(crate) disc: Discovery,
    cb: Arc<CbSlot>,
    _ctx: CtxLink,
}

/// The discovery object behind a handle (for the gateway and SPOT calls).
pub(crate) fn discovery_obj(d: *mut rl_discovery_t) -> Res<Arc<DiscoveryObj>> {
    get::<DiscoveryObj, _>(d)
}

/// A discovery of the services of one type (zlink `zlink_discovery_new`):
/// `RL_SERVICE_GATEWAY` (receivers, for gateways) or `RL_SERVICE_SPOT` (SPOT nodes). It
/// follows the registries given with `rl_discovery_connect_registry` on a worker thread of
/// its own.
///
/// Returns NULL with errno: `EINVAL` (unknown type), `EFAULT` (bad context), `RL_ETERM`.
///
/// Thread-safe; `ctx` may be any value.
#[no_mangle]
pub extern "C" fn rl_discovery_new(ctx: *mut rl_ctx_t, service_type: c_int) -> *mut rl_discovery_t {
    boundary_ptr(|| {
        let ty = match service_type {
            RL_SERVICE_GATEWAY => ServiceType::Gateway,
            RL_SERVICE_SPOT => ServiceType::Spot,
            _ => return Err(libc::EINVAL),
        };
        let (ctx, link) = open_in(ctx)?;
        let disc = Discovery::builder(&ctx, ty).start().map_err(eno)?;
        let cb = Arc::new(CbSlot::default());
        let weak = Arc::downgrade(&cb);
        disc.on_change(move |c| match weak.upgrade() {
            Some(slot) => {
                slot.call(c);
                true
            }
            None => false,
        });
        insert(DiscoveryObj {
            disc,
            cb,
            _ctx: link,
        })
    })
}

/// Follow the registry publishing on `pub_endpoint` (its PUB endpoint; several registries
/// may be followed). Returns 0, or -1 with `EFAULT`, `EINVAL` (endpoint refused),
/// `RL_ETERM`, `EDEADLK` (called from this discovery's callback).
///
/// # Safety
/// `pub_endpoint` is NULL or a NUL-terminated string. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_discovery_connect_registry(
    d: *mut rl_discovery_t,
    pub_endpoint: *const c_char,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let ep = unsafe { req_str(pub_endpoint) }?;
        let obj = discovery_obj(d)?;
        if obj.cb.in_callback() {
            // The worker runs the callback: it cannot answer the request.
            return Err(libc::EDEADLK);
        }
        obj.disc.connect_registry_shared(ep).map_err(eno)?;
        Ok(0)
    })
}

fn name_call(
    d: *mut rl_discovery_t,
    name: *const c_char,
    f: fn(&Discovery, &str) -> Res<c_int>,
) -> c_int {
    boundary(|| {
        // SAFETY: the extern callers' contract: `name` is NULL or NUL-terminated.
        let name = unsafe { req_str(name) }?;
        f(&discovery_obj(d)?.disc, name)
    })
}

/// Show only subscribed services from now on, `name` among them (default: every service of
/// the type). Returns 0, or -1 with `EFAULT`, `EINVAL` (not UTF-8).
///
/// # Safety
/// `name` is NULL or a NUL-terminated string. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_discovery_subscribe(
    d: *mut rl_discovery_t,
    name: *const c_char,
) -> c_int {
    name_call(d, name, |disc, n| {
        disc.subscribe(n);
        Ok(0)
    })
}

/// Stop showing `name` (with no subscription left, every service is shown again). Returns 0,
/// or -1 with `EFAULT`, `EINVAL`.
///
/// # Safety
/// As `rl_discovery_subscribe`.
#[no_mangle]
pub unsafe extern "C" fn rl_discovery_unsubscribe(
    d: *mut rl_discovery_t,
    name: *const c_char,
) -> c_int {
    name_call(d, name, |disc, n| {
        disc.unsubscribe(n);
        Ok(0)
    })
}

/// How many providers `name` has now (0: unavailable). Returns the count (clamped to
/// INT_MAX), or -1 with `EFAULT`, `EINVAL`.
///
/// # Safety
/// As `rl_discovery_subscribe`.
#[no_mangle]
pub unsafe extern "C" fn rl_discovery_provider_count(
    d: *mut rl_discovery_t,
    name: *const c_char,
) -> c_int {
    name_call(d, name, |disc, n| Ok(to_int(disc.provider_count(n))))
}

/// Whether `name` has a provider now: 1 or 0, or -1 with `EFAULT`, `EINVAL`.
///
/// # Safety
/// As `rl_discovery_subscribe`.
#[no_mangle]
pub unsafe extern "C" fn rl_discovery_service_available(
    d: *mut rl_discovery_t,
    name: *const c_char,
) -> c_int {
    name_call(d, name, |disc, n| Ok(c_int::from(disc.is_available(n))))
}

/// Fill `out` with `name`'s providers now: `*count` gives the room in `out` (entries) and
/// receives how many were stored (the first ones, in the discovery's order). Returns the
/// total number of providers (more than `*count` when `out` was too small: call again with
/// more room), or -1 with `EFAULT` (NULL `count`, NULL `out` with room), `EINVAL`,
/// `EMSGSIZE` (an endpoint longer than `RL_ENDPOINT_MAX - 1` bytes; nothing stored).
///
/// # Safety
/// `name` is NULL or a NUL-terminated string; `count` NULL or valid; `out` NULL or valid
/// for writing `*count` entries. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_discovery_get_providers(
    d: *mut rl_discovery_t,
    name: *const c_char,
    out: *mut rl_provider_info_t,
    count: *mut usize,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let name = unsafe { req_str(name) }?;
        if count.is_null() {
            return Err(libc::EFAULT);
        }
        // SAFETY: forwarded caller contract.
        let cap = unsafe { count.read() };
        if cap > 0 && out.is_null() {
            return Err(libc::EFAULT);
        }
        let providers = discovery_obj(d)?.disc.providers(name);
        let n = providers.len().min(cap);
        let infos = providers[..n].iter().map(info).collect::<Res<Vec<_>>>()?;
        for (i, v) in infos.into_iter().enumerate() {
            // SAFETY: `out` is valid for `cap` >= n entries (caller contract).
            unsafe { out.add(i).write(v) };
        }
        // SAFETY: checked non-NULL above; caller contract.
        unsafe { count.write(n) };
        Ok(to_int(providers.len()))
    })
}

fn info(p: &Provider) -> Res<rl_provider_info_t> {
    let mut v = rl_provider_info_t {
        endpoint: [0; RL_ENDPOINT_MAX],
        routing_id: [0; 255],
        routing_id_size: 0,
        weight: p.weight,
    };
    if p.endpoint.len() >= RL_ENDPOINT_MAX || p.routing_id.len() > RL_ROUTING_ID_MAX as usize {
        return Err(libc::EMSGSIZE);
    }
    for (d, s) in v.endpoint.iter_mut().zip(p.endpoint.bytes()) {
        *d = s as c_char;
    }
    v.routing_id[..p.routing_id.len()].copy_from_slice(&p.routing_id);
    v.routing_id_size = p.routing_id.len();
    Ok(v)
}

/// Wait until `name` has a provider (`timeout_ms`: -1 no limit, 0 do not wait). Returns its
/// number of providers (>= 1), or -1 with `EAGAIN` (none in time), `RL_ETERM`, `EFAULT`,
/// `EINVAL`.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_discovery_wait_available(
    d: *mut rl_discovery_t,
    name: *const c_char,
    timeout_ms: c_int,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let name = unsafe { req_str(name) }?;
        let t = timeout(timeout_ms)?;
        let p = discovery_obj(d)?
            .disc
            .wait_available(name, t)
            .map_err(eno)?;
        Ok(to_int(p.len()))
    })
}

/// Call `fn(service, providers, userdata)` for every change of a service's providers from
/// now on (zlink's change notification; `Discovery::on_change`), replacing the callback set
/// before; NULL `fn` removes it. Returns 0, or -1 with `EFAULT`.
///
/// The callback runs on the discovery's worker thread (never on a caller's), one change at a
/// time, in order; it delays the next list, so it should be quick. It may call other
/// functions of this discovery except `rl_discovery_connect_registry` and
/// `rl_discovery_destroy` (`EDEADLK`). When this call returns (from another thread than
/// the callback's), the previous callback is not running and will not be called again, so
/// its `userdata` may be freed.
///
/// # Safety
/// `fn` is NULL or safe to call from another thread with `userdata` until it is replaced or
/// the discovery destroyed.
#[no_mangle]
pub unsafe extern "C" fn rl_discovery_set_callback(
    d: *mut rl_discovery_t,
    r#fn: rl_discovery_fn,
    userdata: *mut c_void,
) -> c_int {
    boundary(|| {
        let obj = discovery_obj(d)?;
        obj.cb.set(r#fn.map(|f| (f, userdata as usize)));
        Ok(0)
    })
}

/// Stop the discovery (its worker thread and socket; the callback is not called any more)
/// and set `*d` to NULL. Gateways and SPOT nodes made with it keep working with the providers
/// they know, without further changes. Returns 0, or -1 with `EFAULT` (NULL `d`, NULL or
/// stale `*d`), `EDEADLK` (called from the discovery's callback; nothing is destroyed).
///
/// # Safety
/// `d` is NULL or valid for reading and writing a pointer. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_discovery_destroy(d: *mut *mut rl_discovery_t) -> c_int {
    boundary(|| {
        if !d.is_null() {
            // SAFETY: forwarded caller contract.
            let h = unsafe { d.read() };
            if discovery_obj(h)?.cb.in_callback() {
                return Err(libc::EDEADLK);
            }
        }
        // SAFETY: forwarded caller contract.
        drop(unsafe { take::<DiscoveryObj, _>(d) }?);
        Ok(0)
    })
}
