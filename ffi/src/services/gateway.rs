//! Gateway handles (`ringlink_services::gateway::Gateway`): shared between threads, no
//! per-call guard (the Rust gateway is `&self` throughout and never holds its ROUTER's lock
//! while waiting, so a thread blocked in `rl_gateway_recv` never stalls another's send).

use std::collections::VecDeque;
use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use ringlink_services::gateway::{Gateway, LoadBalance};

use super::discovery::{discovery_obj, rl_discovery_t};
use super::{
    copy_str_out, count_arg, get, insert, lock, open_in, req_str, routing_id, take, with_parts,
    CtxLink, RL_LB_ROUND_ROBIN, RL_LB_WEIGHTED,
};
use crate::ctx::rl_ctx_t;
use crate::socket::bytes_arg;
use crate::{boundary, boundary_ptr, eno, to_int, Res, RL_DONTWAIT};

/// An opaque gateway handle (zlink's `void *gateway`).
pub struct rl_gateway_t {
    _private: [u8; 0],
}

/// A reply: the service it came from and its parts.
type Reply = (String, Vec<Vec<u8>>);

struct GatewayObj {
    gw: Gateway,
    /// Replies taken from the ROUTER that did not fit the caller's buffers, oldest first:
    /// handed out before the ROUTER's by the next `rl_gateway_recv` calls (so they stay
    /// queued, as in the batch calls).
    pending: Mutex<VecDeque<Reply>>,
    /// `rl_gateway_set_rcvtimeo`: how long a blocking `rl_gateway_recv` waits (ms, -1: no
    /// limit).
    rcvtimeo: AtomicI32,
    _ctx: CtxLink,
}

fn gateway(g: *mut rl_gateway_t) -> Res<std::sync::Arc<GatewayObj>> {
    get::<GatewayObj, _>(g)
}

/// A gateway (zlink `zlink_gateway_new`) in front of the services `discovery` sees (a
/// discovery of `RL_SERVICE_GATEWAY`): one ROUTER connected to every provider, kept in step
/// with the discovery's changes. `routing_id` (`id_len` 1 to 255 bytes, or NULL and 0 for a
/// generated one) is the ROUTER's own id, as providers see it.
///
/// The discovery may be destroyed first: the gateway keeps the providers it knows, without
/// further changes. Needs a context with reactor threads (`RL_IO_THREADS` >= 1).
///
/// Returns NULL with errno: `EFAULT` (bad context or discovery, NULL id with a length),
/// `EINVAL` (bad id length, a discovery of SPOT services, an inline context), `RL_ETERM`.
///
/// # Safety
/// `routing_id` is NULL or valid for reading `id_len` bytes. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_gateway_new(
    ctx: *mut rl_ctx_t,
    discovery: *mut rl_discovery_t,
    routing_id: *const c_void,
    id_len: usize,
) -> *mut rl_gateway_t {
    boundary_ptr(|| {
        // SAFETY: forwarded caller contract.
        let id = unsafe { self::routing_id(routing_id, id_len) }?;
        let disc = discovery_obj(discovery)?;
        let disc = &disc.disc;
        if disc.service_type() != ringlink_services::wire::ServiceType::Gateway {
            return Err(libc::EINVAL);
        }
        let (ctx, link) = open_in(ctx)?;
        let gw = Gateway::new(&ctx, disc, id).map_err(eno)?;
        insert(GatewayObj {
            gw,
            pending: Mutex::new(VecDeque::new()),
            rcvtimeo: AtomicI32::new(-1),
            _ctx: link,
        })
    })
}

fn check_flags(flags: c_int) -> Res<()> {
    if flags & !RL_DONTWAIT != 0 {
        return Err(libc::EINVAL);
    }
    Ok(())
}

/// Send a request of `n` parts (`parts[i]`, `lens[i]` bytes; copied) to a provider of
/// `service`, picked by the service's load balancing (`rl_gateway_set_lb`); a provider not
/// connected yet is skipped for the next. Blocks while every connected provider is full,
/// unless `flags` has `RL_DONTWAIT`.
///
/// Returns 0, or -1 with `EHOSTUNREACH` (no connected provider), `EAGAIN` (`RL_DONTWAIT`
/// and every provider full), `EINVAL` (`n` 0, flags other than `RL_DONTWAIT`, service not
/// UTF-8), `EFAULT` (NULL arrays, a NULL part with a length), `RL_ETERM`, `EINTR`.
///
/// # Safety
/// `service` is NULL or a NUL-terminated string; `parts` and `lens` NULL or valid for `n`
/// entries, each part for its length. Thread-safe: any number of threads may send and
/// receive on one gateway at once.
#[no_mangle]
pub unsafe extern "C" fn rl_gateway_send(
    gw: *mut rl_gateway_t,
    service: *const c_char,
    parts: *const *const c_void,
    lens: *const usize,
    n: usize,
    flags: c_int,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let service = unsafe { req_str(service) }?;
        check_flags(flags)?;
        let obj = gateway(gw)?;
        // SAFETY: forwarded caller contract.
        unsafe {
            with_parts(parts, lens, n, |p| {
                obj.gw.send(service, p, flags).map_err(eno)
            })
        }?;
        Ok(0)
    })
}

/// `rl_gateway_send` to the provider of `service` whose routing id is `rid` (`rid_len`
/// bytes, 1 to 255). Returns 0, or -1 as `rl_gateway_send`; `EHOSTUNREACH` also when that
/// provider is not one of the service's (or not connected).
///
/// # Safety
/// As `rl_gateway_send`; `rid` valid for reading `rid_len` bytes.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn rl_gateway_send_rid(
    gw: *mut rl_gateway_t,
    service: *const c_char,
    rid: *const c_void,
    rid_len: usize,
    parts: *const *const c_void,
    lens: *const usize,
    n: usize,
    flags: c_int,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let service = unsafe { req_str(service) }?;
        // SAFETY: forwarded caller contract.
        let rid = unsafe { routing_id(rid, rid_len) }?.ok_or(libc::EINVAL)?;
        check_flags(flags)?;
        let obj = gateway(gw)?;
        // SAFETY: forwarded caller contract.
        unsafe {
            with_parts(parts, lens, n, |p| {
                obj.gw.send_to(service, rid, p, flags).map_err(eno)
            })
        }?;
        Ok(0)
    })
}

/// Send the one-part request `payload` (`len` bytes) to `service` `count` times, each to the
/// next provider as `rl_gateway_send` picks, under one lock for as many as can go at once
/// (zlink `zlink_gateway_send_many_const`). Blocks while every provider is full unless
/// `RL_DONTWAIT`. Returns how many were sent (fewer than `count` when the service lost its
/// last connected provider midway or `RL_DONTWAIT` found everyone full; 0 for `count` 0),
/// or -1 when none was: errors as `rl_gateway_send` (`EINVAL` also for `count` > INT_MAX).
///
/// # Safety
/// As `rl_gateway_send`; `payload` valid for reading `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn rl_gateway_send_many_const(
    gw: *mut rl_gateway_t,
    service: *const c_char,
    payload: *const c_void,
    len: usize,
    count: usize,
    flags: c_int,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let service = unsafe { req_str(service) }?;
        // SAFETY: forwarded caller contract.
        let payload = unsafe { bytes_arg(payload, len) }?;
        let count = count_arg(count)?;
        check_flags(flags)?;
        let obj = gateway(gw)?;
        if count == 0 {
            return Ok(0);
        }
        let n = obj
            .gw
            .send_repeat(service, payload, count, flags)
            .map_err(eno)?;
        Ok(to_int(n))
    })
}

/// Wait from an event loop instead of a blocked thread (what the Node binding does): after a
/// call with `RL_DONTWAIT` failed with `EAGAIN`, call this, retry every call that failed,
/// and if they fail again, poll the returned fd for `POLLIN` (level-triggered) and call this
/// again when it is readable. Call `rl_gateway_wait_done` once no call waits any more.
///
/// The fd may change from one call to the next: the ROUTER's readiness fd while the loop
/// leads the gateway's waiting, a notifier while a thread blocked in a call of this gateway
/// does. One event loop per gateway. Until `rl_gateway_wait_done`, threads blocked in this
/// gateway's calls rely on the loop's calls (when it leads, it is the one that watches the
/// ROUTER). The fds belong to the gateway: do not close them; stop polling them before
/// `rl_gateway_destroy`.
///
/// Returns the fd, or -1 with `EFAULT`, `RL_ETERM`, or an error making the notifier
/// (`EMFILE`, `ENFILE`). Thread-safe.
#[no_mangle]
pub extern "C" fn rl_gateway_wait_fd(gw: *mut rl_gateway_t) -> c_int {
    boundary(|| gateway(gw)?.gw.wait_fd().map_err(eno))
}

/// The event loop of `rl_gateway_wait_fd` waits no more: the gateway's waiting no longer
/// relies on it (a lead it held passes to a blocked thread). Idempotent. Returns 0, or -1
/// with `EFAULT`. Thread-safe.
#[no_mangle]
pub extern "C" fn rl_gateway_wait_done(gw: *mut rl_gateway_t) -> c_int {
    boundary(|| {
        gateway(gw)?.gw.wait_done();
        Ok(0)
    })
}

/// How long a blocking `rl_gateway_recv` waits for a reply before failing with `EAGAIN`
/// (`timeout_ms`; -1, the default: no limit; 0: as `RL_DONTWAIT`), like `RL_RCVTIMEO` on a
/// socket. Returns 0, or -1 with `EINVAL` (below -1), `EFAULT`. Thread-safe.
#[no_mangle]
pub extern "C" fn rl_gateway_set_rcvtimeo(gw: *mut rl_gateway_t, timeout_ms: c_int) -> c_int {
    boundary(|| {
        if timeout_ms < -1 {
            return Err(libc::EINVAL);
        }
        gateway(gw)?.rcvtimeo.store(timeout_ms, Ordering::Relaxed);
        Ok(0)
    })
}

/// Receive one reply: the name of the service it came from (NUL-terminated, into
/// `service_buf`, `service_cap` bytes; "" if the provider is no longer known) and its parts,
/// packed back to back into `buf` (`buflen` bytes), part i being `lens[i]` bytes (`lens` has
/// `max` entries). Blocks until a reply comes unless `flags` has `RL_DONTWAIT` (at most the
/// `rl_gateway_set_rcvtimeo` time).
///
/// Returns the number of parts (>= 1), or -1 with `EAGAIN` (`RL_DONTWAIT`, nothing
/// queued; or nothing came within the receive timeout), `EMSGSIZE` (the parts exceed `buflen`, or the name `service_cap - 1`: the reply
/// stays queued, handed out first by the next call, and its payload size goes to `*needed`
/// if not NULL), `EINVAL` (`max` 0 or smaller than the reply's part count, the reply stays
/// queued as well; flags other than `RL_DONTWAIT`), `EFAULT`, `RL_ETERM`, `EINTR`.
///
/// # Safety
/// `service_buf` valid for `service_cap` bytes, `buf` for `buflen`, `lens` for `max`
/// entries, `needed` NULL or valid. Thread-safe: a thread blocked here does not delay other
/// threads' sends.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn rl_gateway_recv(
    gw: *mut rl_gateway_t,
    service_buf: *mut c_char,
    service_cap: usize,
    buf: *mut c_void,
    buflen: usize,
    lens: *mut usize,
    max: usize,
    needed: *mut usize,
    flags: c_int,
) -> c_int {
    boundary(|| {
        check_flags(flags)?;
        if service_buf.is_null() || lens.is_null() || (buf.is_null() && buflen > 0) {
            return Err(libc::EFAULT);
        }
        if service_cap == 0 || max == 0 {
            return Err(libc::EINVAL);
        }
        let obj = gateway(gw)?;
        let pending = lock(&obj.pending).pop_front();
        let was_pending = pending.is_some();
        let (service, parts) = match pending {
            Some(r) => r,
            None if flags & RL_DONTWAIT != 0 => obj.gw.recv(engine::DONTWAIT).map_err(eno)?,
            None => {
                let ms = obj.rcvtimeo.load(Ordering::Relaxed);
                let timeout = u64::try_from(ms).ok().map(Duration::from_millis);
                obj.gw.recv_timeout(timeout).map_err(eno)?
            }
        };
        let size: usize = parts.iter().map(Vec::len).sum();
        let err = if size > buflen || service.len() >= service_cap {
            Some(libc::EMSGSIZE)
        } else if parts.len() > max {
            Some(libc::EINVAL)
        } else {
            None
        };
        if let Some(e) = err {
            if !needed.is_null() {
                // SAFETY: caller contract.
                unsafe { needed.write(size) };
            }
            // Back where it was; one from the ROUTER is newer than any parked meanwhile.
            let mut q = lock(&obj.pending);
            if was_pending {
                q.push_front((service, parts));
            } else {
                q.push_back((service, parts));
            }
            return Err(e);
        }
        // SAFETY: checked above: `service_buf` holds `service_cap` > service.len() bytes.
        unsafe { copy_str_out(&service, service_buf, service_cap) }?;
        let mut off = 0;
        for (i, p) in parts.iter().enumerate() {
            // SAFETY: caller contract: `buf` holds `buflen` >= size bytes, `lens` `max` >=
            // parts.len() entries.
            unsafe {
                std::ptr::copy_nonoverlapping(p.as_ptr(), (buf as *mut u8).add(off), p.len());
                lens.add(i).write(p.len());
            }
            off += p.len();
        }
        Ok(to_int(parts.len()))
    })
}

/// Choose how `service`'s provider is picked: `RL_LB_ROUND_ROBIN` (default) or
/// `RL_LB_WEIGHTED` (in proportion to the registered weights). Returns 0, or -1 with
/// `EINVAL` (unknown strategy), `EFAULT`, `RL_ETERM`.
///
/// # Safety
/// `service` is NULL or a NUL-terminated string. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_gateway_set_lb(
    gw: *mut rl_gateway_t,
    service: *const c_char,
    strategy: c_int,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let service = unsafe { req_str(service) }?;
        let lb = match strategy {
            RL_LB_ROUND_ROBIN => LoadBalance::RoundRobin,
            RL_LB_WEIGHTED => LoadBalance::Weighted,
            _ => return Err(libc::EINVAL),
        };
        gateway(gw)?.gw.set_load_balance(service, lb).map_err(eno)?;
        Ok(0)
    })
}

/// How many of `service`'s providers are connected now. Returns the count, or -1 with
/// `EFAULT`, `EINVAL`, `RL_ETERM`.
///
/// # Safety
/// `service` is NULL or a NUL-terminated string. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_gateway_connection_count(
    gw: *mut rl_gateway_t,
    service: *const c_char,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let service = unsafe { req_str(service) }?;
        let n = gateway(gw)?.gw.connection_count(service).map_err(eno)?;
        Ok(to_int(n))
    })
}

/// Destroy the gateway and set `*gw` to NULL: the handle is dead at once; the gateway (its
/// ROUTER, LINGER 0) is freed when calls other threads are still inside return (a blocked
/// `rl_gateway_recv` returns at a reply or with `RL_ETERM` after `rl_ctx_shutdown`); an
/// event loop's wait (`rl_gateway_wait_fd`) ends with it. Returns
/// 0, or -1 with `EFAULT` (NULL `gw`, NULL or stale `*gw`).
///
/// # Safety
/// `gw` is NULL or valid for reading and writing a pointer. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_gateway_destroy(gw: *mut *mut rl_gateway_t) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let obj = unsafe { take::<GatewayObj, _>(gw) }?;
        // Threads still inside a call must not wait for an event loop that is gone.
        obj.gw.wait_done();
        drop(obj);
        Ok(0)
    })
}
