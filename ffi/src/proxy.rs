//! `rl_proxy` / `rl_proxy_steerable`: the engine's proxy (libzmq `zmq_proxy` /
//! `zmq_proxy_steerable`) over C handles.

use std::ffi::c_int;

use engine::Socket;

use crate::socket::{rl_socket_t, sock_mut, SockRef};
use crate::{boundary, eno, Res};

/// The sockets of one proxy call, each held for the whole call (so another thread using one
/// of them meanwhile gets `EBUSY`). The same handle twice is `EINVAL`.
///
/// # Safety
/// Every non-NULL pointer is a live socket handle; `frontend` and `backend` are not NULL.
unsafe fn hold<'a>(handles: &[*mut rl_socket_t]) -> Res<Vec<SockRef<'a, Socket>>> {
    for (i, h) in handles.iter().enumerate() {
        if !h.is_null() && handles[..i].contains(h) {
            return Err(libc::EINVAL);
        }
    }
    handles
        .iter()
        .filter(|h| !h.is_null())
        // SAFETY: forwarded caller contract.
        .map(|&h| unsafe { sock_mut(h) })
        .collect()
}

/// Forward messages between `frontend` and `backend` (libzmq `zmq_proxy`), also copying each
/// one, frame by frame, to `capture` unless it is NULL. Runs until the context is shut down
/// or terminated, then returns -1 with `RL_ETERM`; also -1 with `EINTR` (a signal handler ran
/// on this thread), `ENOTSUP` (neither socket can receive, or a receiving socket faces one
/// that cannot send), `EINVAL` (the same socket twice), `EFAULT`, `EBUSY`.
///
/// # Safety
/// `frontend` and `backend` are NULL or live socket handles, `capture` NULL or one. All of
/// them are held for the whole call: `EBUSY` for other threads using them meanwhile.
#[no_mangle]
pub unsafe extern "C" fn rl_proxy(
    frontend: *mut rl_socket_t,
    backend: *mut rl_socket_t,
    capture: *mut rl_socket_t,
) -> c_int {
    boundary(|| {
        if frontend.is_null() || backend.is_null() {
            return Err(libc::EFAULT);
        }
        // SAFETY: forwarded caller contract.
        let mut s = unsafe { hold(&[frontend, backend, capture]) }?;
        let (f, rest) = s.split_at_mut(1);
        let (b, c) = rest.split_at_mut(1);
        engine::proxy(&mut f[0], &mut b[0], c.first_mut().map(|c| &mut **c)).map_err(eno)?;
        Ok(0)
    })
}

/// `rl_proxy` steered through `control` (libzmq `zmq_proxy_steerable`): one-frame commands
/// `PAUSE`, `RESUME`, `TERMINATE` (the call returns 0) and `STATISTICS` (answered with 8
/// frames of native-endian `uint64_t`: frames and bytes received by the frontend, sent by
/// it, received by the backend and sent by it). Errors as `rl_proxy`.
///
/// # Safety
/// As `rl_proxy`; `control` is NULL or a live socket handle, held for the whole call too.
#[no_mangle]
pub unsafe extern "C" fn rl_proxy_steerable(
    frontend: *mut rl_socket_t,
    backend: *mut rl_socket_t,
    capture: *mut rl_socket_t,
    control: *mut rl_socket_t,
) -> c_int {
    boundary(|| {
        if frontend.is_null() || backend.is_null() || control.is_null() {
            return Err(libc::EFAULT);
        }
        // SAFETY: forwarded caller contract.
        let mut s = unsafe { hold(&[frontend, backend, control, capture]) }?;
        let (f, rest) = s.split_at_mut(1);
        let (b, rest) = rest.split_at_mut(1);
        let (ctl, c) = rest.split_at_mut(1);
        engine::proxy_steerable(
            &mut f[0],
            &mut b[0],
            c.first_mut().map(|c| &mut **c),
            &mut ctl[0],
        )
        .map_err(eno)?;
        Ok(0)
    })
}
