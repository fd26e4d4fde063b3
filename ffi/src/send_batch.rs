//! Batch sends: many messages per call with one engine hand-off.
//!
//! `rl_send_batch` (array of buffers), `rl_send_repeat` (one payload N times),
//! `rl_send_routed` (routing id + payload pairs), `rl_send_routed_repeat` (one id and payload
//! N times), `rl_send_multipart_batch` (whole multipart messages). All send whole messages:
//! `RL_SNDMORE` is refused, and a short count (with `RL_DONTWAIT` or SNDTIMEO) means the
//! messages from there on were not sent.

use std::ffi::{c_int, c_void};

use engine::{Socket, SocketType};

use crate::socket::{bytes_arg, rl_socket_t, sock_mut, SockRef};
use crate::{boundary, eno, Res, RL_DONTWAIT, RL_SNDMORE};

/// One buffer: `data` points to `len` bytes (`data` may be NULL when `len` is 0). Laid out
/// like POSIX `struct iovec`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct rl_iovec_t {
    pub data: *const c_void,
    pub len: usize,
}

/// An `rl_iovec_t` checked by `iovecs` (non-NULL data unless empty), usable as a byte slice.
#[repr(transparent)]
struct IoRef(rl_iovec_t);

impl AsRef<[u8]> for IoRef {
    fn as_ref(&self) -> &[u8] {
        if self.0.len == 0 {
            return &[];
        }
        // SAFETY: IoRefs are only made by `iovecs`, which checked `data` is non-NULL; the
        // extern function's caller promised it is valid for `len` bytes during the call.
        unsafe { std::slice::from_raw_parts(self.0.data as *const u8, self.0.len) }
    }
}

/// The caller's iovec array as checked byte-slice views.
///
/// # Safety
/// `p` is NULL or valid for reading `count` iovecs whose buffers are valid for the call.
unsafe fn iovecs<'a>(p: *const rl_iovec_t, count: usize) -> Res<&'a [IoRef]> {
    if count == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: caller contract; IoRef is repr(transparent) over rl_iovec_t.
    let v = unsafe { std::slice::from_raw_parts(p as *const IoRef, count) };
    if v.iter().any(|x| x.0.len > 0 && x.0.data.is_null()) {
        return Err(libc::EFAULT);
    }
    Ok(v)
}

fn check_count(count: usize) -> Res<()> {
    if count > c_int::MAX as usize {
        return Err(libc::EINVAL);
    }
    Ok(())
}

/// The socket of a batch send, after the checks every batch send shares: a live handle,
/// `count` representable in the `c_int` result, and no `RL_SNDMORE` (batches send whole
/// messages).
///
/// # Safety
/// `s` is NULL or a live socket handle used by this thread only.
unsafe fn send_target<'a>(
    s: *mut rl_socket_t,
    count: usize,
    flags: c_int,
) -> Res<SockRef<'a, Socket>> {
    // SAFETY: forwarded caller contract.
    let sock = unsafe { sock_mut(s) }?;
    check_count(count)?;
    if flags & RL_SNDMORE != 0 {
        return Err(libc::EINVAL);
    }
    Ok(sock)
}

/// Send `count` single-frame messages, `msgs[i]` each (copied), with one hand-off to the
/// engine for the whole batch (DEALER: spread round-robin over peers with room; PAIR).
/// `flags`: `RL_DONTWAIT` or 0 (`RL_SNDMORE` is `EINVAL`).
///
/// Returns how many were sent: `count`, or fewer when `RL_DONTWAIT`/SNDTIMEO stopped the call
/// after at least one (the rest was not sent: call again from there); -1 with `EAGAIN` if
/// none could be sent, `ENOTSUP` (ROUTER: use `rl_send_routed`), `RL_EFSM` (a multipart
/// message is half sent with `RL_SNDMORE`), `EINVAL` (`count` > INT_MAX), `EFAULT`,
/// `RL_ETERM`.
///
/// # Safety
/// `s` is NULL or a live socket handle; `msgs` valid for reading `count` iovecs and their
/// buffers. Uses the socket: `EBUSY` while another thread is inside a call on it.
#[no_mangle]
pub unsafe extern "C" fn rl_send_batch(
    s: *mut rl_socket_t,
    msgs: *const rl_iovec_t,
    count: usize,
    flags: c_int,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let mut sock = unsafe { send_target(s, count, flags) }?;
        // SAFETY: forwarded caller contract.
        let v = unsafe { iovecs(msgs, count) }?;
        if v.is_empty() {
            return Ok(0);
        }
        Ok(sock.send_batch(v, flags).map_err(eno)? as c_int)
    })
}

/// Send the same `len`-byte payload `count` times as single-frame messages, batched like
/// `rl_send_batch` (same flags, return values and errors).
///
/// # Safety
/// `s` is NULL or a live socket handle; `data` valid for reading `len` bytes. Uses the socket:
/// `EBUSY` while another thread is inside a call on it.
#[no_mangle]
pub unsafe extern "C" fn rl_send_repeat(
    s: *mut rl_socket_t,
    data: *const c_void,
    len: usize,
    count: usize,
    flags: c_int,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let mut sock = unsafe { send_target(s, count, flags) }?;
        // SAFETY: forwarded caller contract.
        let payload = unsafe { bytes_arg(data, len) }?;
        if count == 0 {
            return Ok(0);
        }
        Ok(sock.send_repeat(payload, count, flags).map_err(eno)? as c_int)
    })
}

/// Send `count` two-frame messages `[ids[i], payloads[i]]` in one call. On ROUTER that is
/// routing id + payload: unknown ids are dropped silently (and counted as sent) unless
/// ROUTER_MANDATORY, which makes them fail with `EHOSTUNREACH`. On STREAM it is peer id +
/// payload, always mandatory (a full peer: `EAGAIN` / wait), and a close payload (empty, or
/// `0x00` with `RL_STREAM_FRAMING_LENGTH_PREFIXED`) closes that peer. Both are one hand-off
/// per peer for the whole batch. On other types the id is simply the first frame.
/// `flags`: `RL_DONTWAIT` or 0.
///
/// Returns how many messages were sent; when message i (i >= 1) fails, the call returns i
/// (messages 0..i went out, i and later did not; calling again from i reports the error).
/// -1 with errno (as `rl_send`) if the first one fails, `EINVAL` (`count` > INT_MAX or
/// `RL_SNDMORE` in flags), `EFAULT`.
///
/// On ROUTER the whole batch is one engine hand-off per peer (`Socket::send_routed_batch`);
/// on other socket types it is one engine call per frame.
///
/// # Safety
/// `s` is NULL or a live socket handle; `ids` and `payloads` valid for reading `count`
/// iovecs and their buffers. Uses the socket: `EBUSY` while another thread is inside a call on it.
#[no_mangle]
pub unsafe extern "C" fn rl_send_routed(
    s: *mut rl_socket_t,
    ids: *const rl_iovec_t,
    payloads: *const rl_iovec_t,
    count: usize,
    flags: c_int,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let mut sock = unsafe { send_target(s, count, flags) }?;
        // SAFETY: forwarded caller contract.
        let ids = unsafe { iovecs(ids, count) }?;
        // SAFETY: forwarded caller contract.
        let payloads = unsafe { iovecs(payloads, count) }?;
        let f = flags & RL_DONTWAIT;
        if matches!(sock.socket_type(), SocketType::Router | SocketType::Stream) {
            // One engine hand-off per peer for the whole batch.
            let pairs: Vec<(&[u8], &[u8])> = ids
                .iter()
                .zip(payloads)
                .map(|(id, p)| (id.as_ref(), p.as_ref()))
                .collect();
            return Ok(sock.send_routed_batch(&pairs, f).map_err(eno)? as c_int);
        }
        send_pairs_each(&mut sock, count, f, |i| {
            (ids[i].as_ref(), payloads[i].as_ref())
        })
    })
}

/// `rl_send_routed` on types without routing: `[id, payload]` as two plain frames per
/// message, one engine call per frame. Returns how many went; an error only if the first did
/// not.
fn send_pairs_each<'a>(
    sock: &mut Socket,
    count: usize,
    f: c_int,
    pair: impl Fn(usize) -> (&'a [u8], &'a [u8]),
) -> Res<c_int> {
    for i in 0..count {
        let (id, p) = pair(i);
        let r = sock.send(id, f | RL_SNDMORE).and_then(|()| sock.send(p, f));
        if let Err(e) = r {
            if i == 0 {
                return Err(eno(e));
            }
            return Ok(i as c_int);
        }
    }
    Ok(count as c_int)
}

/// Messages per engine call of `rl_send_routed_repeat` on ROUTER/STREAM: the batch is built
/// on the stack from references to the one id and payload.
const REPEAT_CHUNK: usize = 256;

/// Send the two-frame message `[id, data]` `count` times, batched like `rl_send_routed` (same
/// flags, routing rules, return values and errors): on ROUTER `count` messages to the peer
/// `id`, one engine hand-off per 256 messages; on other types the id is the first frame.
///
/// # Safety
/// `s` is NULL or a live socket handle; `id` valid for reading `idlen` bytes, `data` for
/// `len` bytes. Uses the socket: `EBUSY` while another thread is inside a call on it.
#[no_mangle]
pub unsafe extern "C" fn rl_send_routed_repeat(
    s: *mut rl_socket_t,
    id: *const c_void,
    idlen: usize,
    data: *const c_void,
    len: usize,
    count: usize,
    flags: c_int,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let mut sock = unsafe { send_target(s, count, flags) }?;
        // SAFETY: forwarded caller contract.
        let id = unsafe { bytes_arg(id, idlen) }?;
        // SAFETY: forwarded caller contract.
        let payload = unsafe { bytes_arg(data, len) }?;
        let f = flags & RL_DONTWAIT;
        if !matches!(sock.socket_type(), SocketType::Router | SocketType::Stream) {
            return send_pairs_each(&mut sock, count, f, |_| (id, payload));
        }
        let chunk = [(id, payload); REPEAT_CHUNK];
        let mut sent = 0;
        while sent < count {
            let n = (count - sent).min(REPEAT_CHUNK);
            match sock.send_routed_batch(&chunk[..n], f) {
                Ok(k) => {
                    sent += k;
                    if k < n {
                        break;
                    }
                }
                Err(e) if sent == 0 => return Err(eno(e)),
                Err(_) => break,
            }
        }
        Ok(sent as c_int)
    })
}

/// Send `count` multipart messages in one call: message j has `parts[j]` (>= 1) frames, taken
/// in order from `frames` (which holds the sum of `parts` iovecs). Made for PUB topic +
/// payload pairs and envelopes. `flags`: `RL_DONTWAIT` or 0. Each message goes out whole: a
/// message whose first frame is accepted is sent completely.
///
/// Returns how many messages were sent: `count`, or fewer when `RL_DONTWAIT`/SNDTIMEO stopped
/// the call after at least one; -1 with errno (as `rl_send`) if the first message fails,
/// `EINVAL` (a `parts[j]` of 0, `count` > INT_MAX, `RL_SNDMORE` in flags), `EFAULT`.
///
/// PUB, XPUB, PAIR, DEALER and PUSH take the messages as a batch (one pass and one hand-off
/// per peer, as `rl_send_batch` does for one-frame messages); the other types, whose first
/// frame routes (ROUTER, STREAM) or which alternate (REQ, REP), take them message by message.
///
/// # Safety
/// `s` is NULL or a live socket handle; `parts` valid for reading `count` entries and
/// `frames` for their sum of iovecs and buffers. Uses the socket: `EBUSY` while another thread
/// is inside a call on it.
#[no_mangle]
pub unsafe extern "C" fn rl_send_multipart_batch(
    s: *mut rl_socket_t,
    frames: *const rl_iovec_t,
    parts: *const usize,
    count: usize,
    flags: c_int,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let mut sock = unsafe { send_target(s, count, flags) }?;
        if count == 0 {
            return Ok(0);
        }
        if parts.is_null() {
            return Err(libc::EFAULT);
        }
        // SAFETY: caller contract: `parts` has `count` entries.
        let parts = unsafe { std::slice::from_raw_parts(parts, count) };
        let mut total = 0usize;
        for &p in parts {
            if p == 0 {
                return Err(libc::EINVAL);
            }
            total = total.checked_add(p).ok_or(libc::EINVAL)?;
        }
        // SAFETY: forwarded caller contract (`frames` holds the sum of `parts`).
        let frames = unsafe { iovecs(frames, total) }?;
        let f = flags & RL_DONTWAIT;
        // Types with a batch path (PUB, XPUB, PAIR, DEALER, PUSH): chunks of messages, each
        // chunk one pass and one hand-off per peer. The others (whose first frame routes, or
        // that alternate) go message by message below.
        let mut chunk: [&[IoRef]; MULTIPART_CHUNK] = [&[]; MULTIPART_CHUNK];
        let (mut done, mut at) = (0, 0);
        while done < count {
            let n = (count - done).min(MULTIPART_CHUNK);
            let mut end = at;
            for (c, &p) in chunk.iter_mut().zip(&parts[done..done + n]) {
                *c = &frames[end..end + p];
                end += p;
            }
            match sock.send_batch_parts(&chunk[..n], f) {
                Ok(k) if k == n => {
                    done += n;
                    at = end;
                }
                Ok(k) => return Ok((done + k) as c_int),
                Err(engine::Error::NotSupported) if done == 0 => break,
                Err(e) if done == 0 => return Err(eno(e)),
                Err(_) => return Ok(done as c_int),
            }
        }
        if done == count {
            return Ok(count as c_int);
        }
        let mut at = 0;
        for (j, &p) in parts.iter().enumerate() {
            let msg = &frames[at..at + p];
            at += p;
            // The first frame decides: once it is accepted the message is committed to a
            // peer and the rest cannot block (as in libzmq).
            if let Err(e) = sock.send(msg[0].as_ref(), f | more(p > 1)) {
                if j == 0 {
                    return Err(eno(e));
                }
                return Ok(j as c_int);
            }
            for (k, fr) in msg.iter().enumerate().skip(1) {
                sock.send(fr.as_ref(), f | more(k + 1 < p)).map_err(eno)?;
            }
        }
        Ok(count as c_int)
    })
}

/// Messages per `send_batch_parts` call of `rl_send_multipart_batch` (slices on the stack).
const MULTIPART_CHUNK: usize = 64;

fn more(m: bool) -> c_int {
    if m {
        RL_SNDMORE
    } else {
        0
    }
}
