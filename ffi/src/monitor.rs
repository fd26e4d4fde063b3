//! Socket monitors: `rl_socket_monitor`, `rl_monitor_recv`, `rl_monitor_fd`,
//! `rl_monitor_close`. libzmq's `zmq_socket_monitor` events (same `ZMQ_EVENT_*` bit values)
//! delivered as a filled struct, without libzmq's inproc PAIR socket and two-frame messages.
//!
//! A monitor handle is independent of its socket's thread: it wraps an `engine::Monitor`
//! (a mutex-protected queue plus an eventfd the reactors signal). Monitor handles are
//! generation-checked ids (`handles.rs`), like context handles: `rl_monitor_close` frees the
//! monitor (once no call uses it any more) and a stale handle gives `EFAULT`, before or after
//! the context is terminated.

use std::ffi::{c_char, c_int, c_long};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::{DisconnectReason, Monitor, MonitorEvent, MonitorEventKind};

use crate::handles::{HandleTable, KIND_MONITOR};
use crate::socket::{rl_socket_t, sock_state};
use crate::{boundary, boundary_ptr, eno, Res, RL_DONTWAIT, RL_ETERM};

/// Event: a connection was established (before the ZMTP handshake). `value`: -1.
pub const RL_EVENT_CONNECTED: c_int = 0x0001;
/// Event: a connect is in progress (asynchronous connect). `value`: `EINPROGRESS`.
pub const RL_EVENT_CONNECT_DELAYED: c_int = 0x0002;
/// Event: a connect failed or a connection was lost; the next attempt follows after
/// `value` ms.
pub const RL_EVENT_CONNECT_RETRIED: c_int = 0x0004;
/// Event: a listener is accepting connections (`endpoint`: the resolved address). `value`:
/// -1.
pub const RL_EVENT_LISTENING: c_int = 0x0008;
/// Event: binding failed. `value`: the errno (e.g. `EADDRINUSE`).
pub const RL_EVENT_BIND_FAILED: c_int = 0x0010;
/// Event: a connection was accepted (`endpoint`: the listener's). `value`: -1.
pub const RL_EVENT_ACCEPTED: c_int = 0x0020;
/// Event: accepting a connection failed. `value`: the errno.
pub const RL_EVENT_ACCEPT_FAILED: c_int = 0x0040;
/// Event: a listener was closed (unbind, socket closed). `value`: -1.
pub const RL_EVENT_CLOSED: c_int = 0x0080;
/// Event: closing failed (libzmq's value; ringlink never reports it).
pub const RL_EVENT_CLOSE_FAILED: c_int = 0x0100;
/// Event: a connection ended. `value`: -1; `reason`: `RL_DISCONNECT_*`; `detail`: why.
pub const RL_EVENT_DISCONNECTED: c_int = 0x0200;
/// Event: the socket was closed; its monitor reports nothing after the events already
/// queued. `value`: 0. Always delivered, whatever the mask.
pub const RL_EVENT_MONITOR_STOPPED: c_int = 0x0400;
/// Event: the ZMTP handshake failed without a protocol error (e.g. it timed out).
/// `value`: `ETIMEDOUT` for a timeout, else 0; `detail`: why.
pub const RL_EVENT_HANDSHAKE_FAILED_NO_DETAIL: c_int = 0x0800;
/// Event: the ZMTP handshake completed; `peer_routing_id` holds the peer's routing id (for a
/// ROUTER: the id it routes the peer by). `value`: 0.
pub const RL_EVENT_HANDSHAKE_SUCCEEDED: c_int = 0x1000;
/// Event: the ZMTP handshake failed on a protocol error. `value`:
/// `RL_PROTOCOL_ERROR_ZMTP_UNSPECIFIED`; `detail`: the error.
pub const RL_EVENT_HANDSHAKE_FAILED_PROTOCOL: c_int = 0x2000;
/// Every event (the mask `rl_socket_monitor` takes; libzmq `ZMQ_EVENT_ALL`).
pub const RL_EVENT_ALL: c_int = 0xFFFF;

/// `value` of `RL_EVENT_HANDSHAKE_FAILED_PROTOCOL` (libzmq
/// `ZMQ_PROTOCOL_ERROR_ZMTP_UNSPECIFIED`; ringlink does not tell the finer codes apart yet,
/// `detail` describes the error).
pub const RL_PROTOCOL_ERROR_ZMTP_UNSPECIFIED: c_int = 0x1000_0000;

/// `reason` of `RL_EVENT_DISCONNECTED`: the peer closed the connection.
pub const RL_DISCONNECT_REMOTE: c_int = 1;
/// `reason`: this side closed it (socket closed, `rl_disconnect`, linger expired, peer
/// refused).
pub const RL_DISCONNECT_LOCAL: c_int = 2;
/// `reason`: the ZMTP handshake failed or timed out.
pub const RL_DISCONNECT_HANDSHAKE: c_int = 3;
/// `reason`: a protocol violation, a transport error or a heartbeat timeout.
pub const RL_DISCONNECT_TRANSPORT: c_int = 4;

/// Size of `rl_monitor_event_t.endpoint`, NUL included (longer endpoints are truncated).
pub const RL_MONITOR_ENDPOINT_LEN: usize = 256;
/// Size of `rl_monitor_event_t.detail`, NUL included (longer texts are truncated).
pub const RL_MONITOR_DETAIL_LEN: usize = 128;

/// An opaque monitor handle.
pub struct rl_monitor_t {
    _private: [u8; 0],
}

/// One monitor event, filled by `rl_monitor_recv`.
#[repr(C)]
pub struct rl_monitor_event_t {
    /// What happened: one `RL_EVENT_*` bit.
    pub event: c_int,
    /// libzmq's event value where ringlink has it: an errno (`BIND_FAILED`, `ACCEPT_FAILED`,
    /// `CONNECT_DELAYED`, `HANDSHAKE_FAILED_NO_DETAIL`), the reconnect interval in ms
    /// (`CONNECT_RETRIED`), a protocol error code (`HANDSHAKE_FAILED_PROTOCOL`); -1 where
    /// libzmq gives a file descriptor (`LISTENING`, `ACCEPTED`, `CONNECTED`, `CLOSED`,
    /// `DISCONNECTED`: ringlink does not expose connection descriptors); 0 otherwise.
    pub value: c_int,
    /// `RL_EVENT_DISCONNECTED`: why (`RL_DISCONNECT_*`); 0 for every other event.
    pub reason: c_int,
    /// The endpoint (e.g. `tcp://127.0.0.1:5555`), NUL-terminated, truncated to
    /// `RL_MONITOR_ENDPOINT_LEN - 1` bytes; "" for `MONITOR_STOPPED`.
    pub endpoint: [c_char; RL_MONITOR_ENDPOINT_LEN],
    /// A description for `DISCONNECTED` and the `HANDSHAKE_FAILED_*` events (e.g. "peer
    /// closed the connection"), NUL-terminated, truncated; "" otherwise.
    pub detail: [c_char; RL_MONITOR_DETAIL_LEN],
    /// The peer's routing id (`HANDSHAKE_SUCCEEDED`), `peer_routing_id_size` bytes.
    pub peer_routing_id: [u8; 255],
    /// Length of `peer_routing_id`; 0 when the event carries none.
    pub peer_routing_id_size: usize,
}

/// Open monitors, by handle.
static MONITORS: HandleTable<MonState> = HandleTable::new(KIND_MONITOR);

/// What a monitor handle refers to.
struct MonState {
    mon: Monitor,
    mask: c_int,
    /// MONITOR_STOPPED was taken from the queue: wait no more once it is empty.
    stopped: AtomicBool,
    /// Shared with the socket: true while this monitor is open (one per socket).
    open: Arc<AtomicBool>,
}

// `MonState` is shared by every thread calling `rl_monitor_recv` / `rl_monitor_fd`.
const _: fn() = || {
    fn shared_between_threads<T: Sync + Send>() {}
    shared_between_threads::<MonState>();
};

/// The monitor behind a handle: `EFAULT` for NULL, closed or non-monitor handles (the handle
/// is only compared with the table, never dereferenced, so any value is safe). The `Arc`
/// keeps the monitor alive for the caller even if another thread closes the handle.
fn mon_ref(m: *mut rl_monitor_t) -> Res<Arc<MonState>> {
    MONITORS.get(m as usize).ok_or(libc::EFAULT)
}

/// Start monitoring socket `s` (libzmq `zmq_socket_monitor`, without the inproc PAIR
/// socket): events whose `RL_EVENT_*` bit is in `events` are queued from now on and read
/// with `rl_monitor_recv` (`RL_EVENT_MONITOR_STOPPED` always is). Returns the monitor, or NULL
/// with errno: `EFAULT` (NULL socket), `ENOTSOCK` (closed socket), `EINVAL` (no
/// `RL_EVENT_ALL` bit in `events`), `EEXIST` (the socket already has an open monitor: close
/// that one first), or a system error.
///
/// The monitor is independent of the socket afterwards: it may be used from any thread and
/// outlives the socket (close it after reading `RL_EVENT_MONITOR_STOPPED`, or any time). In
/// inline mode (`RL_IO_THREADS` 0) connection events happen while the context is driven,
/// i.e. inside ringlink calls on its sockets.
///
/// # Safety
/// `s` is NULL or a live socket handle. Uses the socket: `EBUSY` while another thread is
/// inside a call on it.
#[no_mangle]
pub unsafe extern "C" fn rl_socket_monitor(
    s: *mut rl_socket_t,
    events: c_int,
) -> *mut rl_monitor_t {
    boundary_ptr(|| {
        // SAFETY: forwarded caller contract.
        let mut st = unsafe { sock_state(s) }?;
        if events & RL_EVENT_ALL == 0 {
            return Err(libc::EINVAL);
        }
        if st
            .monitor_open
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(libc::EEXIST);
        }
        let mon = match st.sock.socket().monitor() {
            Ok(m) => m,
            Err(e) => {
                st.monitor_open.store(false, Ordering::Release);
                return Err(eno(e));
            }
        };
        // The engine keeps one queue per socket: drop what a closed monitor left unread.
        while let Ok(Some(_)) = mon.recv(Some(Duration::ZERO)) {}
        let state = Arc::new(MonState {
            mon,
            mask: events & RL_EVENT_ALL,
            stopped: AtomicBool::new(false),
            open: st.monitor_open.clone(),
        });
        match MONITORS.insert(state) {
            Some(id) => Ok(id as *mut rl_monitor_t),
            None => {
                st.monitor_open.store(false, Ordering::Release);
                Err(libc::EMFILE)
            }
        }
    })
}

/// Receive the next event whose bit is in the monitor's mask into `*ev` (events outside the
/// mask are dropped on the way). `flags` `RL_DONTWAIT`: do not wait; otherwise wait up to
/// `timeout_ms` milliseconds (-1: no limit).
///
/// Returns 0, or -1 with errno: `EAGAIN` (no event, now or within the timeout), `RL_ETERM`
/// (the socket was closed and every event has been read, `RL_EVENT_MONITOR_STOPPED` last; no
/// wait), `EFAULT` (NULL or closed monitor, NULL `ev`).
///
/// With `rl_monitor_fd`: after the descriptor polls readable, call `rl_monitor_recv` with
/// `RL_DONTWAIT` until it fails with `EAGAIN` (the descriptor is reset when events are taken,
/// not when the queue becomes empty, like libzmq's `ZMQ_FD`).
///
/// # Safety
/// `ev` is NULL or valid for writing an `rl_monitor_event_t` (`m` may be any value: only live
/// monitor handles are accepted). Thread-safe: several threads may receive from one monitor
/// (each event goes to one of them).
#[no_mangle]
pub unsafe extern "C" fn rl_monitor_recv(
    m: *mut rl_monitor_t,
    ev: *mut rl_monitor_event_t,
    flags: c_int,
    timeout_ms: c_long,
) -> c_int {
    boundary(|| {
        let st = mon_ref(m)?;
        if ev.is_null() {
            return Err(libc::EFAULT);
        }
        let deadline = if flags & RL_DONTWAIT != 0 {
            Some(Instant::now())
        } else if timeout_ms < 0 {
            None
        } else {
            Some(Instant::now() + Duration::from_millis(timeout_ms as u64))
        };
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            // After MONITOR_STOPPED only what is queued already: no waiting.
            let wait = if st.stopped.load(Ordering::Acquire) {
                Some(Duration::ZERO)
            } else {
                left
            };
            let Some(e) = st.mon.recv(wait).map_err(|e| e.errno())? else {
                if st.stopped.load(Ordering::Acquire) {
                    return Err(RL_ETERM);
                }
                return Err(libc::EAGAIN);
            };
            let code = event_code(&e.kind);
            if code == RL_EVENT_MONITOR_STOPPED {
                st.stopped.store(true, Ordering::Release);
            }
            if code & st.mask != 0 || code == RL_EVENT_MONITOR_STOPPED {
                // SAFETY: checked non-NULL; the caller promised it is valid for writing.
                unsafe { fill(&mut *ev, &e) };
                return Ok(0);
            }
        }
    })
}

/// A file descriptor that polls readable (`POLLIN`) when events may be queued, for
/// `poll`/`epoll` loops or as a raw-fd entry of `rl_poll`; drain with `RL_DONTWAIT` (see
/// `rl_monitor_recv`). Owned by the monitor: do not read, write or close it; valid until
/// `rl_monitor_close`. Returns -1 with `EFAULT` for a NULL or closed monitor.
///
/// Thread-safe. `m` may be any value: only live monitor handles are accepted.
#[no_mangle]
pub extern "C" fn rl_monitor_fd(m: *mut rl_monitor_t) -> c_int {
    boundary(|| {
        let st = mon_ref(m)?;
        Ok(st.mon.fd())
    })
}

/// Close a monitor; unread events are dropped and the socket may get a new monitor. Works
/// before or after the socket is closed, and after its context was terminated (an open
/// monitor stays usable until closed). Returns 0, or -1 with `EFAULT` (NULL or already
/// closed).
///
/// Nothing stays allocated for a closed handle; a stale use reports `EFAULT`, at any time.
/// A call running in another thread when the monitor is closed finishes normally (a waiting
/// `rl_monitor_recv` until its timeout or next event), the monitor is freed after it.
///
/// Thread-safe. `m` may be any value: only live handles from `rl_socket_monitor` are
/// accepted.
#[no_mangle]
pub extern "C" fn rl_monitor_close(m: *mut rl_monitor_t) -> c_int {
    boundary(|| {
        let st = MONITORS.remove(m as usize).ok_or(libc::EFAULT)?;
        let open = st.open.clone();
        // Frees the engine monitor unless a call on another thread still holds it.
        drop(st);
        open.store(false, Ordering::Release);
        Ok(0)
    })
}

/// The `RL_EVENT_*` bit of an event kind.
fn event_code(k: &MonitorEventKind) -> c_int {
    match k {
        MonitorEventKind::Listening => RL_EVENT_LISTENING,
        MonitorEventKind::BindFailed(_) => RL_EVENT_BIND_FAILED,
        MonitorEventKind::Accepted => RL_EVENT_ACCEPTED,
        MonitorEventKind::AcceptFailed(_) => RL_EVENT_ACCEPT_FAILED,
        MonitorEventKind::ConnectDelayed => RL_EVENT_CONNECT_DELAYED,
        MonitorEventKind::Connected => RL_EVENT_CONNECTED,
        MonitorEventKind::ConnectRetried(_) => RL_EVENT_CONNECT_RETRIED,
        MonitorEventKind::HandshakeSucceeded => RL_EVENT_HANDSHAKE_SUCCEEDED,
        MonitorEventKind::HandshakeFailedProtocol(_) => RL_EVENT_HANDSHAKE_FAILED_PROTOCOL,
        MonitorEventKind::HandshakeFailedNoDetail(_) => RL_EVENT_HANDSHAKE_FAILED_NO_DETAIL,
        MonitorEventKind::Disconnected(..) => RL_EVENT_DISCONNECTED,
        MonitorEventKind::Closed => RL_EVENT_CLOSED,
        MonitorEventKind::MonitorStopped => RL_EVENT_MONITOR_STOPPED,
        // A kind added to the engine after this was written: no bit, so it is dropped.
        _ => 0,
    }
}

/// (value, reason, detail) of an event kind.
fn event_fields(k: &MonitorEventKind) -> (c_int, c_int, &str) {
    match k {
        MonitorEventKind::BindFailed(e) | MonitorEventKind::AcceptFailed(e) => (*e, 0, ""),
        MonitorEventKind::ConnectDelayed => (libc::EINPROGRESS, 0, ""),
        MonitorEventKind::ConnectRetried(d) => {
            (d.as_millis().min(c_int::MAX as u128) as c_int, 0, "")
        }
        MonitorEventKind::HandshakeSucceeded | MonitorEventKind::MonitorStopped => (0, 0, ""),
        MonitorEventKind::HandshakeFailedProtocol(d) => {
            (RL_PROTOCOL_ERROR_ZMTP_UNSPECIFIED, 0, d.as_str())
        }
        MonitorEventKind::HandshakeFailedNoDetail(d) => {
            // The engine reports only timeouts this way today; it passes text, not an errno.
            let v = if d.contains("timed out") {
                libc::ETIMEDOUT
            } else {
                0
            };
            (v, 0, d.as_str())
        }
        MonitorEventKind::Disconnected(r, d) => {
            let reason = match r {
                DisconnectReason::Remote => RL_DISCONNECT_REMOTE,
                DisconnectReason::Local => RL_DISCONNECT_LOCAL,
                DisconnectReason::Handshake => RL_DISCONNECT_HANDSHAKE,
                _ => RL_DISCONNECT_TRANSPORT,
            };
            (-1, reason, d.as_str())
        }
        // LISTENING, ACCEPTED, CONNECTED, CLOSED: libzmq's value is a descriptor.
        _ => (-1, 0, ""),
    }
}

/// Copy `s` into `out` as a NUL-terminated C string, truncated at a character boundary.
fn put_str(out: &mut [c_char], s: &str) {
    let mut n = s.len().min(out.len() - 1);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    for (o, &b) in out.iter_mut().zip(&s.as_bytes()[..n]) {
        *o = b as c_char;
    }
    out[n] = 0;
}

fn fill(out: &mut rl_monitor_event_t, e: &MonitorEvent) {
    let (value, reason, detail) = event_fields(&e.kind);
    out.event = event_code(&e.kind);
    out.value = value;
    out.reason = reason;
    put_str(&mut out.endpoint, &e.endpoint);
    put_str(&mut out.detail, detail);
    let id = e.peer_routing_id.as_deref().unwrap_or_default();
    let n = id.len().min(out.peer_routing_id.len());
    out.peer_routing_id[..n].copy_from_slice(&id[..n]);
    out.peer_routing_id_size = n;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_bits_are_libzmqs() {
        let kinds = [
            (MonitorEventKind::Connected, 1),
            (MonitorEventKind::ConnectDelayed, 2),
            (
                MonitorEventKind::ConnectRetried(Duration::from_millis(250)),
                4,
            ),
            (MonitorEventKind::Listening, 8),
            (MonitorEventKind::BindFailed(libc::EADDRINUSE), 16),
            (MonitorEventKind::Accepted, 32),
            (MonitorEventKind::AcceptFailed(libc::EMFILE), 64),
            (MonitorEventKind::Closed, 128),
            (
                MonitorEventKind::Disconnected(DisconnectReason::Remote, "x".into()),
                512,
            ),
            (MonitorEventKind::MonitorStopped, 1024),
            (MonitorEventKind::HandshakeFailedNoDetail("t".into()), 2048),
            (MonitorEventKind::HandshakeSucceeded, 4096),
            (MonitorEventKind::HandshakeFailedProtocol("p".into()), 8192),
        ];
        for (k, bit) in &kinds {
            assert_eq!(event_code(k), *bit, "{k:?}");
        }
        assert_eq!(RL_EVENT_CLOSE_FAILED, 256);
        assert_eq!(
            event_fields(&MonitorEventKind::ConnectRetried(Duration::from_millis(
                250
            )))
            .0,
            250
        );
        assert_eq!(
            event_fields(&MonitorEventKind::BindFailed(libc::EADDRINUSE)).0,
            libc::EADDRINUSE
        );
        assert_eq!(
            event_fields(&MonitorEventKind::HandshakeFailedNoDetail(
                "handshake timed out".into()
            )),
            (libc::ETIMEDOUT, 0, "handshake timed out")
        );
        assert_eq!(
            event_fields(&MonitorEventKind::Disconnected(
                DisconnectReason::Handshake,
                "why".into()
            )),
            (-1, RL_DISCONNECT_HANDSHAKE, "why")
        );
    }

    #[test]
    fn strings_are_truncated_and_terminated() {
        let mut out = [1 as c_char; 8];
        put_str(&mut out, "tcp://1.2.3.4:5");
        assert_eq!(out.map(|c| c as u8), *b"tcp://1\0");
        // Never splits a UTF-8 sequence: "ab" + 3-byte char does not fit 5 + NUL.
        let mut out = [1 as c_char; 5];
        put_str(&mut out, "ab\u{20ac}x");
        assert_eq!(&out.map(|c| c as u8)[..3], b"ab\0");
        let mut out = [1 as c_char; 4];
        put_str(&mut out, "");
        assert_eq!(out[0], 0);
    }
}
