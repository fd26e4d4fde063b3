//! SPOT node handles (`ringlink_services::spot::SpotNode`): registries are collected until
//! the node starts, at the first call that needs it (`rl_spot_node_bind`, ...); every call
//! after that is `&self` in Rust, so the handle is shared between threads without a guard.

use std::ffi::{c_char, c_int, c_void};
use std::sync::{Arc, Mutex, OnceLock};

use ringlink_services::spot::{SpotNode, DEFAULT_SERVICE};

use super::discovery::{discovery_obj, rl_discovery_t};
use super::{
    copy_str_out, count_arg, get, insert, lock, open_in, opt_str, req_str, take, with_parts,
    CtxLink,
};
use crate::ctx::rl_ctx_t;
use crate::socket::bytes_arg;
use crate::stats::write_sized;
use crate::{boundary, boundary_ptr, eno, to_int, Res, RL_EFSM};

/// An opaque SPOT node handle (zlink's `void *spot_node`).
pub struct rl_spot_node_t {
    _private: [u8; 0],
}

struct Config {
    ctx: engine::Context,
    registries: Vec<String>,
    pub_options: Vec<engine::SocketOption>,
    sub_options: Vec<engine::SocketOption>,
}

/// `rl_spot_node_setsockopt` role: the node's PUB (zlink `ZLINK_SPOT_NODE_SOCKET_PUB`).
pub const RL_SPOT_NODE_PUB: c_int = 1;
/// `rl_spot_node_setsockopt` role: the node's SUB (zlink `ZLINK_SPOT_NODE_SOCKET_SUB`).
pub const RL_SPOT_NODE_SUB: c_int = 2;

pub(crate) struct NodeObj {
    /// Until the start.
    config: Mutex<Option<Config>>,
    node: OnceLock<SpotNode>,
    pub(crate) ctx: CtxLink,
}

impl NodeObj {
    /// The node, started now if needed.
    pub(crate) fn node(&self) -> Res<&SpotNode> {
        if let Some(n) = self.node.get() {
            return Ok(n);
        }
        let mut cfg = lock(&self.config);
        if let Some(n) = self.node.get() {
            return Ok(n);
        }
        let c = cfg.as_ref().ok_or(libc::EFAULT)?;
        let mut b = SpotNode::builder(&c.ctx);
        for r in &c.registries {
            b = b.registry(r);
        }
        for o in &c.pub_options {
            b = b.pub_option(o.clone());
        }
        for o in &c.sub_options {
            b = b.sub_option(o.clone());
        }
        let node = b.start().map_err(eno)?;
        *cfg = None;
        Ok(self.node.get_or_init(|| node))
    }
}

/// The node object behind a handle (for `rl_spot_sub_new`).
pub(crate) fn node_obj(n: *mut rl_spot_node_t) -> Res<Arc<NodeObj>> {
    get::<NodeObj, _>(n)
}

/// A SPOT node (zlink `zlink_spot_node_new`): one PUB for what this node publishes, one SUB
/// meshed with its peers' PUBs (`rl_spot_node_connect_peer`, or the nodes a discovery
/// lists: `rl_spot_node_set_discovery`), local subscribers (`rl_spot_sub_new`). To register
/// it, give registries with `rl_spot_node_connect_registry` first: the node starts at the
/// first other call. Needs a context with reactor threads (`RL_IO_THREADS` >= 1).
///
/// Returns NULL with errno: `EFAULT` (bad context), `RL_ETERM`.
///
/// Thread-safe; `ctx` may be any value.
#[no_mangle]
pub extern "C" fn rl_spot_node_new(ctx: *mut rl_ctx_t) -> *mut rl_spot_node_t {
    boundary_ptr(|| {
        let (ctx, link) = open_in(ctx)?;
        insert(NodeObj {
            config: Mutex::new(Some(Config {
                ctx,
                registries: Vec::new(),
                pub_options: Vec::new(),
                sub_options: Vec::new(),
            })),
            node: OnceLock::new(),
            ctx: link,
        })
    })
}

/// Register with the registry whose ROUTER endpoint is `router_endpoint` (several give
/// failover). Only before the node starts, i.e. before any other call on it
/// (`rl_spot_node_bind`, `..._connect_peer`, `..._register`, `..._set_discovery`,
/// `rl_spot_publish*`, `rl_spot_sub_new`). Returns 0, or -1 with `RL_EFSM` (already
/// started), `EFAULT`, `EINVAL`.
///
/// # Safety
/// `router_endpoint` is NULL or a NUL-terminated string. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_spot_node_connect_registry(
    node: *mut rl_spot_node_t,
    router_endpoint: *const c_char,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let ep = unsafe { req_str(router_endpoint) }?;
        let obj = node_obj(node)?;
        let mut cfg = lock(&obj.config);
        cfg.as_mut().ok_or(RL_EFSM)?.registries.push(ep.to_string());
        Ok(0)
    })
}

/// Set an option of the node's PUB (`role` `RL_SPOT_NODE_PUB`) or SUB (`RL_SPOT_NODE_SUB`),
/// as `rl_setsockopt` would (zlink `zlink_spot_node_setsockopt`); e.g. `RL_SNDHWM` 0 on the
/// PUB, which otherwise drops what a peer at its high-water mark (1000) cannot take. Only
/// before the node starts (see `rl_spot_node_connect_registry`); the options are applied
/// when it does, where an option the socket refuses fails that first call. Returns 0, or -1
/// with `RL_EFSM` (already started), `EINVAL` (unknown role or option, wrong value size),
/// `EFAULT`.
///
/// # Safety
/// `optval` is NULL or valid for `optvallen` bytes. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_spot_node_setsockopt(
    node: *mut rl_spot_node_t,
    role: c_int,
    option: c_int,
    optval: *const c_void,
    optvallen: usize,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let val = unsafe { bytes_arg(optval, optvallen) }?;
        let opt = crate::options::option_from_c(option, val)?;
        let obj = node_obj(node)?;
        let mut cfg = lock(&obj.config);
        let cfg = cfg.as_mut().ok_or(RL_EFSM)?;
        match role {
            RL_SPOT_NODE_PUB => cfg.pub_options.push(opt),
            RL_SPOT_NODE_SUB => cfg.sub_options.push(opt),
            _ => return Err(libc::EINVAL),
        }
        Ok(0)
    })
}

/// Run `f` on the started node after checking the string argument `arg`.
///
/// # Safety
/// `arg` is NULL or a NUL-terminated string.
unsafe fn with_node(
    node: *mut rl_spot_node_t,
    arg: *const c_char,
    f: impl FnOnce(&SpotNode, &str) -> Res<c_int>,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let s = unsafe { req_str(arg) }?;
        let obj = node_obj(node)?;
        f(obj.node()?, s)
    })
}

/// Bind the node's PUB to `endpoint` and copy the endpoint as bound (wildcard port
/// resolved), NUL-terminated, into `out` (`out_cap` bytes; NULL and 0 to skip). Returns 0,
/// or -1 with bind errors, `EMSGSIZE` (`out` too small: the bind was made), `EINVAL` (also:
/// an inline context), `EFAULT`, `RL_ETERM`.
///
/// # Safety
/// `endpoint` is NULL or a NUL-terminated string; `out` NULL or valid for `out_cap` bytes.
/// Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_spot_node_bind(
    node: *mut rl_spot_node_t,
    endpoint: *const c_char,
    out: *mut c_char,
    out_cap: usize,
) -> c_int {
    // SAFETY: forwarded caller contract (`endpoint`, and `out` in the closure).
    unsafe {
        with_node(node, endpoint, |n, ep| {
            let bound = n.bind(ep).map_err(eno)?;
            copy_str_out(&bound, out, out_cap)?;
            Ok(0)
        })
    }
}

/// Receive what the peer node publishing on `pub_endpoint` publishes. Returns 0, or -1 with
/// connect errors (`EINVAL`, `EPROTONOSUPPORT`), `EFAULT`, `RL_ETERM`.
///
/// # Safety
/// `pub_endpoint` is NULL or a NUL-terminated string. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_spot_node_connect_peer(
    node: *mut rl_spot_node_t,
    pub_endpoint: *const c_char,
) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe {
        with_node(node, pub_endpoint, |n, ep| {
            n.connect_peer(ep).map(|_| 0).map_err(eno)
        })
    }
}

/// Stop receiving from a peer connected with `rl_spot_node_connect_peer`. Returns 0, or -1
/// with `ENOENT` (not connected to it by hand), `EFAULT`, `EINVAL`, `RL_ETERM`.
///
/// # Safety
/// As `rl_spot_node_connect_peer`.
#[no_mangle]
pub unsafe extern "C" fn rl_spot_node_disconnect_peer(
    node: *mut rl_spot_node_t,
    pub_endpoint: *const c_char,
) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe {
        with_node(node, pub_endpoint, |n, ep| {
            n.disconnect_peer(ep).map(|_| 0).map_err(eno)
        })
    }
}

/// Register this node as `service` (NULL: "spot-node", zlink's default) of type SPOT with
/// the registries, so nodes following the service through a discovery connect to
/// `advertise` (NULL or "": the only bound endpoint, a wildcard host replaced by
/// 127.0.0.1); waits for the registry's answer and copies the advertised endpoint,
/// NUL-terminated, into `out` (`out_cap` bytes; NULL and 0 to skip). Returns 0, or -1 with
/// `ENOTSUP` (no registry was given), `EINVAL` (nothing to advertise, or refused),
/// `EHOSTUNREACH` (no registry answered in time), `EMSGSIZE` (`out` too small: registered
/// anyway), `EFAULT`, `RL_ETERM`.
///
/// # Safety
/// `service` and `advertise` are NULL or NUL-terminated strings; `out` NULL or valid for
/// `out_cap` bytes. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_spot_node_register(
    node: *mut rl_spot_node_t,
    service: *const c_char,
    advertise: *const c_char,
    out: *mut c_char,
    out_cap: usize,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let (service, advertise) = unsafe { (opt_str(service)?, opt_str(advertise)?) };
        let obj = node_obj(node)?;
        let ep = obj.node()?.register(service, advertise).map_err(eno)?;
        // SAFETY: forwarded caller contract.
        unsafe { copy_str_out(&ep, out, out_cap) }?;
        Ok(0)
    })
}

/// Unregister `service` (NULL: "spot-node", as `rl_spot_node_register`; the registry does
/// not answer, its heartbeats stop). Returns 0, or -1 with `ENOTSUP` (no registry was
/// given), `EFAULT`, `EINVAL`, `RL_ETERM`.
///
/// # Safety
/// `service` is NULL or a NUL-terminated string. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_spot_node_unregister(
    node: *mut rl_spot_node_t,
    service: *const c_char,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let service = unsafe { opt_str(service) }?.unwrap_or(DEFAULT_SERVICE);
        let obj = node_obj(node)?;
        obj.node()?.unregister(service).map_err(eno)?;
        Ok(0)
    })
}

/// Keep the mesh connected to every node `discovery` (of `RL_SERVICE_SPOT`) lists under
/// `service` (this node excepted), as the lists change (zlink `spot_node_set_discovery`):
/// the SUB connects and disconnects from the discovery's worker thread. The discovery may be
/// destroyed later (the mesh then stays as it is). Returns 0, or -1 with `EINVAL` (a
/// discovery of gateway services), `EFAULT`, `RL_ETERM`.
///
/// # Safety
/// `service` is NULL or a NUL-terminated string. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_spot_node_set_discovery(
    node: *mut rl_spot_node_t,
    discovery: *mut rl_discovery_t,
    service: *const c_char,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let service = unsafe { req_str(service) }?;
        let disc = discovery_obj(discovery)?;
        let obj = node_obj(node)?;
        obj.node()?.follow(&disc.disc, service).map_err(eno)?;
        Ok(0)
    })
}

/// A topic argument: 1 to 255 bytes (`EINVAL` otherwise; `EFAULT` for NULL with a length).
///
/// # Safety
/// `topic` is NULL or valid for reading `len` bytes.
unsafe fn topic_arg<'a>(topic: *const c_void, len: usize) -> Res<&'a [u8]> {
    if len == 0 || len > 255 {
        return Err(libc::EINVAL);
    }
    // SAFETY: caller contract.
    unsafe { bytes_arg(topic, len) }
}

/// Publish a message of `n` parts (`parts[i]`, `lens[i]` bytes; copied) on `topic`
/// (`topic_len` bytes, 1 to 255): to this node's matching subscribers, then to its peers (as
/// a PUB: a peer at its high-water mark misses it). `flags` must be 0 (`ENOTSUP` otherwise,
/// as zlink). Returns 0, or -1 with `EINVAL` (bad topic length, `n` 0), `EFAULT`,
/// `ENOTSUP`, `RL_ETERM`.
///
/// # Safety
/// `topic` valid for `topic_len` bytes; `parts` and `lens` NULL or valid for `n` entries,
/// each part for its length. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_spot_publish(
    node: *mut rl_spot_node_t,
    topic: *const c_void,
    topic_len: usize,
    parts: *const *const c_void,
    lens: *const usize,
    n: usize,
    flags: c_int,
) -> c_int {
    boundary(|| {
        if flags != 0 {
            return Err(libc::ENOTSUP);
        }
        // SAFETY: forwarded caller contract.
        let topic = unsafe { topic_arg(topic, topic_len) }?;
        let obj = node_obj(node)?;
        let node = obj.node()?;
        // SAFETY: forwarded caller contract.
        unsafe { with_parts(parts, lens, n, |p| node.publish(topic, p).map_err(eno)) }?;
        Ok(0)
    })
}

/// Publish the one-part message `payload` (`len` bytes) on `topic` `count` times, with one
/// lock of the local queues and the PUB for all of them (zlink
/// `zlink_spot_publish_many_const`). Returns `count` (0 for 0), or -1 with `EINVAL` (bad
/// topic length, `count` > INT_MAX), `EFAULT`, `RL_ETERM`.
///
/// # Safety
/// `topic` valid for `topic_len` bytes, `payload` for `len`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_spot_publish_many_const(
    node: *mut rl_spot_node_t,
    topic: *const c_void,
    topic_len: usize,
    payload: *const c_void,
    len: usize,
    count: usize,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let topic = unsafe { topic_arg(topic, topic_len) }?;
        // SAFETY: forwarded caller contract.
        let payload = unsafe { bytes_arg(payload, len) }?;
        let count = count_arg(count)?;
        let obj = node_obj(node)?;
        let n = obj
            .node()?
            .publish_repeat(topic, payload, count)
            .map_err(eno)?;
        Ok(to_int(n))
    })
}

/// A SPOT node's drop counters since it started (`rl_spot_node_stats`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct rl_spot_stats_t {
    /// Messages dropped because a local subscriber's queue was full (100,000 messages or
    /// 64 MiB).
    pub dropped: u64,
    /// Messages the node's PUB dropped for a peer whose pipe was at its high-water mark
    /// (`RL_SNDHWM` of the `RL_SPOT_NODE_PUB` role; 0 there: none), counted once per peer.
    pub publisher_dropped: u64,
}

/// Read a node's drop counters into `*out` (ringlink; zlink counts neither). `size` is
/// `sizeof(rl_spot_stats_t)` as the caller knows it: new fields are only ever added at the
/// end, so a program built against an older header gets the fields it knows. A node that has
/// not started (only `rl_spot_node_connect_registry` / `rl_spot_node_setsockopt` so far)
/// reads zeros and stays unstarted.
///
/// Returns 0, or -1 with `EFAULT` (NULL or stale handle, NULL `out`), `EINVAL` (`size`
/// smaller than one field).
///
/// # Safety
/// `out` is NULL or valid for writing `size` bytes. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_spot_node_stats(
    node: *mut rl_spot_node_t,
    out: *mut rl_spot_stats_t,
    size: usize,
) -> c_int {
    boundary(|| {
        let obj = node_obj(node)?;
        let v = obj
            .node
            .get()
            .map_or_else(rl_spot_stats_t::default, |n| rl_spot_stats_t {
                dropped: n.dropped(),
                publisher_dropped: n.publisher_dropped(),
            });
        // SAFETY: forwarded caller contract.
        unsafe { write_sized(&v, out, size) }?;
        Ok(0)
    })
}

/// Destroy the node handle and set `*node` to NULL: its registrations stop (withdrawn by
/// the registries' heartbeat expiry; call `rl_spot_node_unregister` first to withdraw them
/// at once) and it can no longer publish. Its subscribers stay valid: each keeps the node's
/// sockets (and receives from its peers) until destroyed itself. Returns 0, or -1 with
/// `EFAULT` (NULL `node`, NULL or stale `*node`).
///
/// # Safety
/// `node` is NULL or valid for reading and writing a pointer. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_spot_node_destroy(node: *mut *mut rl_spot_node_t) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        drop(unsafe { take::<NodeObj, _>(node) }?);
        Ok(0)
    })
}
