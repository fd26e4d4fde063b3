//! The C ABI of the service layer (`ringlink-services`, zlink's registry / discovery /
//! receiver / gateway / SPOT): one module per concept (`registry.rs`, `discovery.rs`,
//! `receiver.rs`, `gateway.rs`, `spot_node.rs`, `spot_sub.rs`), the shared handle table and
//! argument helpers here.
//!
//! Handles: every service object is an `Arc` in one generation-checked table
//! (`handles.rs`, kind `10`), whose lookups also check the object's type, so a stale, closed
//! or wrong-kind handle gives `EFAULT` and is never dereferenced. A lookup clones the `Arc`:
//! a call goes on with the object while another thread destroys the handle, and the object
//! is freed when the last such call returns. Every object counts as an open socket of its
//! context (`CtxLink`), so `rl_ctx_term` waits until it is freed, as for sockets.

use std::any::Any;
use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;
use std::time::Duration;

use crate::ctx::{ctx_ref, rl_ctx_t, CtxShared};
use crate::handles::{HandleTable, KIND_SERVICE};
use crate::socket::{bytes_arg, str_arg};
use crate::Res;

// cbindgen follows these in this order (the header's order).
mod discovery;
mod gateway;
mod receiver;
mod registry;
mod spot_node;
mod spot_sub;

pub use discovery::*;
pub use gateway::*;
pub use receiver::*;
pub use registry::*;
pub use spot_node::*;
pub use spot_sub::*;

/// Service type: request handlers behind a gateway (zlink `ZLINK_SERVICE_TYPE_GATEWAY`).
pub const RL_SERVICE_GATEWAY: c_int = 1;
/// Service type: SPOT topic-mesh nodes (zlink `ZLINK_SERVICE_TYPE_SPOT`).
pub const RL_SERVICE_SPOT: c_int = 2;
/// Gateway load balancing: each request to the next provider in turn (the default).
pub const RL_LB_ROUND_ROBIN: c_int = 0;
/// Gateway load balancing: providers picked in proportion to their registered weight.
pub const RL_LB_WEIGHTED: c_int = 1;
/// Size of the `endpoint` buffer of `rl_provider_info_t`, the NUL included.
pub const RL_ENDPOINT_MAX: usize = 256;

type AnyObj = dyn Any + Send + Sync;

/// Every live service object, by handle.
static SERVICES: HandleTable<AnyObj> = HandleTable::new(KIND_SERVICE);

/// Ties a service object to its C context: counted as open from creation until dropped
/// (declare it as the object's last field, so it is dropped after the Rust object).
pub(crate) struct CtxLink(Arc<CtxShared>);

impl CtxLink {
    /// A link for one more object of the same context (`RL_ETERM` once it is shut down),
    /// with its engine context.
    pub(crate) fn another(&self) -> Res<(engine::Context, CtxLink)> {
        let engine_ctx = self.0.open_service()?;
        Ok((engine_ctx, CtxLink(self.0.clone())))
    }
}

impl Drop for CtxLink {
    fn drop(&mut self) {
        self.0.service_closed();
    }
}

/// The engine context behind `ctx` (built now if needed) and the link that counts the new
/// object: `EFAULT` for a bad context, `RL_ETERM` once it is shut down.
pub(crate) fn open_in(ctx: *mut rl_ctx_t) -> Res<(engine::Context, CtxLink)> {
    let shared = ctx_ref(ctx)?;
    let engine_ctx = shared.open_service()?;
    Ok((engine_ctx, CtxLink(shared)))
}

/// Store `obj` and return its handle (`EMFILE` when the table is full).
pub(crate) fn insert<T: Any + Send + Sync, H>(obj: T) -> Res<*mut H> {
    let obj: Arc<AnyObj> = Arc::new(obj);
    let id = SERVICES.insert(obj).ok_or(libc::EMFILE)?;
    Ok(id as *mut H)
}

/// The object of type `T` behind a handle: `EFAULT` for NULL, stale or other handles.
pub(crate) fn get<T: Any + Send + Sync, H>(h: *mut H) -> Res<Arc<T>> {
    if h.is_null() {
        return Err(libc::EFAULT);
    }
    let obj = SERVICES.get(h as usize).ok_or(libc::EFAULT)?;
    obj.downcast::<T>().map_err(|_| libc::EFAULT)
}

/// Take the object of type `T` behind `*pp` out of the table and set `*pp` to NULL; the
/// object is freed when the last call using it returns. `EFAULT` for a NULL `pp`, a NULL,
/// stale or other `*pp`.
///
/// # Safety
/// `pp` is NULL or valid for reading and writing a pointer.
pub(crate) unsafe fn take<T: Any + Send + Sync, H>(pp: *mut *mut H) -> Res<Arc<T>> {
    if pp.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: caller contract.
    let h = unsafe { pp.read() };
    // The type first: a handle of another kind is not removed.
    get::<T, H>(h)?;
    let obj = SERVICES.remove(h as usize).ok_or(libc::EFAULT)?;
    // SAFETY: caller contract.
    unsafe { pp.write(std::ptr::null_mut()) };
    obj.downcast::<T>().map_err(|_| libc::EFAULT)
}

/// An optional NUL-terminated UTF-8 string: NULL (and "") is `None`.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string.
pub(crate) unsafe fn opt_str<'a>(p: *const c_char) -> Res<Option<&'a str>> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: caller contract.
    let s = unsafe { str_arg(p) }?;
    Ok((!s.is_empty()).then_some(s))
}

/// A required NUL-terminated UTF-8 string: NULL is `EFAULT`, invalid UTF-8 `EINVAL`.
///
/// # Safety
/// As [`opt_str`].
pub(crate) unsafe fn req_str<'a>(p: *const c_char) -> Res<&'a str> {
    // SAFETY: caller contract.
    unsafe { str_arg(p) }
}

/// Copy `s` and a NUL into `buf` (`cap` bytes): `EMSGSIZE` when it does not fit (nothing is
/// written then). A NULL `buf` with `cap` 0 skips the copy.
///
/// # Safety
/// `buf` is NULL or valid for writing `cap` bytes.
pub(crate) unsafe fn copy_str_out(s: &str, buf: *mut c_char, cap: usize) -> Res<()> {
    if buf.is_null() {
        return if cap == 0 { Ok(()) } else { Err(libc::EFAULT) };
    }
    if s.len() >= cap {
        return Err(libc::EMSGSIZE);
    }
    // SAFETY: caller contract; `s.len() + 1 <= cap`.
    unsafe {
        std::ptr::copy_nonoverlapping(s.as_ptr(), buf as *mut u8, s.len());
        buf.add(s.len()).write(0);
    }
    Ok(())
}

/// A routing id argument: NULL with length 0 is `None`; otherwise 1 to 255 bytes (`EINVAL`
/// for a length of 0 with a non-NULL pointer, or above 255; `EFAULT` for NULL with a length).
///
/// # Safety
/// `p` is NULL or valid for reading `len` bytes.
pub(crate) unsafe fn routing_id<'a>(p: *const c_void, len: usize) -> Res<Option<&'a [u8]>> {
    if p.is_null() && len == 0 {
        return Ok(None);
    }
    if len == 0 || len > crate::socket::RL_ROUTING_ID_MAX as usize {
        return Err(libc::EINVAL);
    }
    // SAFETY: caller contract.
    unsafe { bytes_arg(p, len) }.map(Some)
}

/// Parts given as `n` pointers and `n` lengths, checked (NULL arrays with `n` > 0, NULL parts
/// with a length: `EFAULT`; `n` 0: `EINVAL`), handed to `f` as byte slices without
/// allocating for up to 16 parts.
///
/// # Safety
/// `parts` and `lens` are NULL or valid for reading `n` entries, each part for its length.
pub(crate) unsafe fn with_parts<R>(
    parts: *const *const c_void,
    lens: *const usize,
    n: usize,
    f: impl FnOnce(&[&[u8]]) -> Res<R>,
) -> Res<R> {
    if n == 0 {
        return Err(libc::EINVAL);
    }
    if parts.is_null() || lens.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: caller contract.
    let (ptrs, lens) = unsafe {
        (
            std::slice::from_raw_parts(parts, n),
            std::slice::from_raw_parts(lens, n),
        )
    };
    let part = |i: usize| -> Res<&[u8]> {
        // SAFETY: caller contract: part i is valid for lens[i] bytes.
        unsafe { bytes_arg(ptrs[i], lens[i]) }
    };
    if n <= 16 {
        let mut arr: [&[u8]; 16] = [&[]; 16];
        for (i, slot) in arr.iter_mut().enumerate().take(n) {
            *slot = part(i)?;
        }
        f(&arr[..n])
    } else {
        let v = (0..n).map(part).collect::<Res<Vec<&[u8]>>>()?;
        f(&v)
    }
}

/// A timeout in ms: -1 no limit (`None`), >= 0 that long; below -1 `EINVAL`.
pub(crate) fn timeout(ms: c_int) -> Res<Option<Duration>> {
    match ms {
        -1 => Ok(None),
        ms if ms >= 0 => Ok(Some(Duration::from_millis(ms as u64))),
        _ => Err(libc::EINVAL),
    }
}

/// A positive duration in ms (`EINVAL` for 0 or less).
pub(crate) fn positive_ms(ms: c_int) -> Res<Duration> {
    if ms <= 0 {
        return Err(libc::EINVAL);
    }
    Ok(Duration::from_millis(ms as u64))
}

/// A C `size_t` count that must fit the `int` result (`EINVAL` above INT_MAX).
pub(crate) fn count_arg(n: usize) -> Res<usize> {
    if n > c_int::MAX as usize {
        return Err(libc::EINVAL);
    }
    Ok(n)
}

/// `std::sync::Mutex::lock`, ignoring poisoning: every critical section here leaves its
/// state consistent (a panic is caught at the boundary and reported).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
