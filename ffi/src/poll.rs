//! `rl_poll`: wait on ringlink sockets and raw file descriptors together (zmq_poll).

use std::ffi::{c_int, c_long, c_short, c_void};
use std::time::Duration;

use engine::PollItem;

use crate::socket::{rl_socket_t, sock_mut};
use crate::{boundary, eno};

/// A message can be received / the fd is readable.
pub const RL_POLLIN: c_short = 1;
/// A message can be sent / the fd is writable.
pub const RL_POLLOUT: c_short = 2;
/// Error condition (raw file descriptors only).
pub const RL_POLLERR: c_short = 4;

/// One entry of `rl_poll`: a socket (non-NULL `socket`) or a raw descriptor (`fd`, used
/// when `socket` is NULL).
#[repr(C)]
pub struct rl_pollitem_t {
    pub socket: *mut c_void,
    pub fd: c_int,
    pub events: c_short,
    pub revents: c_short,
}

/// Wait until at least one item is ready, like `zmq_poll`: `timeout_ms` -1 waits forever,
/// 0 only checks. Fills every item's `revents` and returns the number of ready items (0 on
/// timeout), or -1 with errno: `EFAULT` (NULL `items` with `nitems` > 0), `ENOTSOCK` (a
/// closed or invalid socket), `EINVAL` (the same socket twice), `RL_ETERM`.
///
/// # Safety
/// `items` is valid for reading and writing `nitems` entries; every non-NULL `socket` is a
/// live socket handle. Uses each socket: `EBUSY` while another thread is inside a call on
/// one of them.
#[no_mangle]
pub unsafe extern "C" fn rl_poll(
    items: *mut rl_pollitem_t,
    nitems: c_int,
    timeout_ms: c_long,
) -> c_int {
    boundary(|| {
        if nitems < 0 {
            return Err(libc::EINVAL);
        }
        if nitems > 0 && items.is_null() {
            return Err(libc::EFAULT);
        }
        let n = nitems as usize;
        let entries: &mut [rl_pollitem_t] = if n == 0 {
            &mut []
        } else {
            // SAFETY: non-NULL and valid for `nitems` entries per the caller contract.
            unsafe { std::slice::from_raw_parts_mut(items, n) }
        };
        // Each socket may appear once: the engine needs one exclusive borrow per socket.
        for (i, a) in entries.iter().enumerate() {
            if !a.socket.is_null() && entries[..i].iter().any(|b| b.socket == a.socket) {
                return Err(libc::EINVAL);
            }
        }
        // Enter every socket first (EBUSY if another thread is inside a call on one of them;
        // the ones entered already are left again when `held` drops).
        let mut held = Vec::new();
        for e in entries.iter().filter(|e| !e.socket.is_null()) {
            // SAFETY: a live handle per the contract; distinct from every other entry's
            // (checked above), so the borrows do not alias.
            held.push(unsafe { sock_mut(e.socket as *mut rl_socket_t) }?);
        }
        let mut sockets = held.iter_mut();
        let mut polled: Vec<PollItem<'_>> = Vec::with_capacity(n);
        for e in entries.iter() {
            let ev = e.events & (RL_POLLIN | RL_POLLOUT | RL_POLLERR);
            if e.socket.is_null() {
                polled.push(PollItem::fd(e.fd, ev));
            } else {
                let s = sockets.next().expect("one entered socket per socket entry");
                polled.push(PollItem::socket(s, ev));
            }
        }
        let timeout = match timeout_ms {
            t if t < 0 => None,
            t => Some(Duration::from_millis(t as u64)),
        };
        let ready = engine::poll(&mut polled, timeout).map_err(eno)?;
        for (e, p) in entries.iter_mut().zip(&polled) {
            e.revents = p.revents.bits();
        }
        Ok(ready as c_int)
    })
}
