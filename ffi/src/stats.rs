//! `rl_socket_stats`: a socket's counters (`Socket::stats`) for metrics.

use std::ffi::c_int;

use crate::socket::{rl_socket_t, sock_mut};
use crate::{boundary, Res};

/// A socket's counters since it was created (`rl_socket_stats`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct rl_socket_stats_t {
    /// Messages queued to peers (PUB: each subscriber's copy).
    pub msgs_sent: u64,
    /// Messages that arrived from peers (read or not yet).
    pub msgs_received: u64,
    /// Bytes sent on tcp/ipc connections, as on the wire (ZMTP framing included).
    pub bytes_sent: u64,
    /// Bytes received on tcp/ipc connections, as on the wire.
    pub bytes_received: u64,
    /// Messages dropped: PUB/XPUB to a subscriber at HWM, ROUTER to a full peer or an unknown
    /// routing id (without `RL_ROUTER_MANDATORY`).
    pub msgs_dropped: u64,
    /// Connections established (connected or accepted).
    pub connects: u64,
    /// Connect attempts retried after a failure.
    pub reconnects: u64,
    /// Handshakes that failed.
    pub handshake_failures: u64,
    /// Connections that ended.
    pub disconnects: u64,
}

/// Read a socket's counters into `*out` (ringlink). `size` is `sizeof(rl_socket_stats_t)`
/// as the caller knows it: a program built against an older header with a shorter struct
/// gets the fields it knows, and new fields are only ever added at the end. Reading costs a
/// walk over the socket's peers; keeping the counters costs the message path nothing.
///
/// Returns 0, or -1 with `EFAULT` (NULL), `EINVAL` (`size` smaller than one field).
///
/// # Safety
/// `s` is NULL or a live socket handle; `out` is NULL or valid for writing `size` bytes. Uses
/// the socket: `EBUSY` while another thread is inside a call on it.
#[no_mangle]
pub unsafe extern "C" fn rl_socket_stats(
    s: *mut rl_socket_t,
    out: *mut rl_socket_stats_t,
    size: usize,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let mut sock = unsafe { sock_mut(s) }?;
        let st = sock.stats();
        let v = rl_socket_stats_t {
            msgs_sent: st.msgs_sent,
            msgs_received: st.msgs_received,
            bytes_sent: st.bytes_sent,
            bytes_received: st.bytes_received,
            msgs_dropped: st.msgs_dropped,
            connects: st.connects,
            reconnects: st.reconnects,
            handshake_failures: st.handshake_failures,
            disconnects: st.disconnects,
        };
        // SAFETY: forwarded caller contract.
        unsafe { write_sized(&v, out, size) }?;
        Ok(0)
    })
}

/// Copy the first `size` bytes of a counters struct to `out` (at most its whole size): a
/// caller built against an older header, with a shorter struct, gets the fields it knows
/// (fields are only ever added at the end). `EFAULT` for a NULL `out`, `EINVAL` for a
/// `size` smaller than one field.
///
/// # Safety
/// `out` is NULL or valid for writing `size` bytes; `T` has no padding (the counters structs
/// are `#[repr(C)]` and all `u64`), so every byte copied is initialised.
pub(crate) unsafe fn write_sized<T: Copy>(v: &T, out: *mut T, size: usize) -> Res<()> {
    if out.is_null() {
        return Err(libc::EFAULT);
    }
    if size < std::mem::size_of::<u64>() {
        return Err(libc::EINVAL);
    }
    let n = size.min(std::mem::size_of::<T>());
    // SAFETY: `out` is valid for `size` >= n bytes (caller contract); `v` is n bytes or more
    // of initialised integers (no padding: caller contract).
    unsafe { std::ptr::copy_nonoverlapping((v as *const T).cast::<u8>(), out.cast::<u8>(), n) };
    Ok(())
}
