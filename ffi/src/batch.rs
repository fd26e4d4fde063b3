//! Drain-style batch receives: many messages per call, packed back to back into one caller
//! buffer with an array of lengths; the call blocks (per flags / RCVTIMEO) until at least
//! one message is ready, then takes whole messages while they fit. The `drain` forms never
//! block and return 0 when nothing is queued (meant to follow a poll).
//!
//! Common rules: a message that does not fit the remaining buffer (or the remaining
//! length slots) stays queued for the next call, whole; a message larger than the whole
//! buffer fails with `EMSGSIZE`, stays queued, and its size is stored in `*needed` (when
//! `needed` is not NULL), so the caller can grow the buffer and call again.

use std::cell::RefCell;
use std::ffi::{c_int, c_void};

use engine::{Error, SocketType};

use crate::socket::{bytes_mut_arg, rl_socket_t, sock_mut, RL_ROUTING_ID_MAX};
use crate::{boundary, eno, Res, RL_DONTWAIT};

/// Scratch arrays for the parts/routed forms (per thread, reused across calls).
#[derive(Default)]
struct Scratch {
    lens: Vec<usize>,
    more: Vec<bool>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Map an engine receive error, reporting EMSGSIZE's needed size.
///
/// # Safety
/// `needed` is NULL or valid for writing a `size_t`.
unsafe fn recv_err(e: Error, needed: *mut usize) -> c_int {
    if let Error::MessageTooLarge(n) = e {
        if !needed.is_null() {
            // SAFETY: caller contract.
            unsafe { needed.write(n) };
        }
    }
    eno(e)
}

/// A `max`-entry `size_t` array argument (`max` clamped to INT_MAX; 0 is `EINVAL`).
///
/// # Safety
/// `p` is NULL or valid for writing `max` entries.
unsafe fn slots<'a>(p: *mut usize, max: usize) -> Res<&'a mut [usize]> {
    if max == 0 {
        return Err(libc::EINVAL);
    }
    if p.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: caller contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, max.min(c_int::MAX as usize)) })
}

/// `Again` becomes 0 for the drain forms.
fn drained(r: Res<c_int>, drain: bool) -> Res<c_int> {
    match r {
        Err(libc::EAGAIN) if drain => Ok(0),
        r => r,
    }
}

/// Receive many frames into one buffer: frame i occupies `lens[i]` bytes, packed back to back
/// from `buf`; at most `max` frames (`lens` has `max` entries). On PAIR/DEALER each
/// single-frame message is one entry; a multipart message gives one entry per frame (use
/// `rl_recv_batch_parts` to see message boundaries); on ROUTER each message starts with its
/// routing id frame (`rl_recv_batch_routed` splits them off). Messages are taken whole.
///
/// Blocks until at least one message is ready (up to RCVTIMEO; `RL_DONTWAIT`: not at all),
/// then takes whatever is ready that fits. Returns the number of frames (>= 1), or -1 with
/// `EAGAIN` (nothing within the timeout), `EMSGSIZE` (the next message alone exceeds `buflen`:
/// it stays queued and its size goes to `*needed`), `EINVAL` (`max` is 0 or smaller than the
/// next message's frame count), `RL_EFSM` (a message is half read with `rl_recv`), `RL_ETERM`,
/// `EFAULT`.
///
/// # Safety
/// `s` is NULL or a live socket handle; `buf` valid for writing `buflen` bytes; `lens` for `max`
/// entries; `needed` NULL or valid. Uses the socket: `EBUSY` while another thread is inside a call
/// on it.
#[no_mangle]
pub unsafe extern "C" fn rl_recv_batch(
    s: *mut rl_socket_t,
    buf: *mut c_void,
    buflen: usize,
    lens: *mut usize,
    max: usize,
    needed: *mut usize,
    flags: c_int,
) -> c_int {
    // SAFETY: forwarded caller contract.
    boundary(|| unsafe { recv_batch(s, buf, buflen, lens, max, needed, flags, false) })
}

/// The non-blocking `rl_recv_batch` (same arguments, no flags): returns 0 when nothing is
/// queued instead of failing with `EAGAIN`.
///
/// # Safety
/// As `rl_recv_batch`.
#[no_mangle]
pub unsafe extern "C" fn rl_drain(
    s: *mut rl_socket_t,
    buf: *mut c_void,
    buflen: usize,
    lens: *mut usize,
    max: usize,
    needed: *mut usize,
) -> c_int {
    // SAFETY: forwarded caller contract.
    boundary(|| unsafe { recv_batch(s, buf, buflen, lens, max, needed, RL_DONTWAIT, true) })
}

/// # Safety
/// As `rl_recv_batch`.
#[allow(clippy::too_many_arguments)]
unsafe fn recv_batch(
    s: *mut rl_socket_t,
    buf: *mut c_void,
    buflen: usize,
    lens: *mut usize,
    max: usize,
    needed: *mut usize,
    flags: c_int,
    drain: bool,
) -> Res<c_int> {
    // SAFETY: forwarded caller contract (all three).
    let mut sock = unsafe { sock_mut(s) }?;
    // SAFETY: see above.
    let buf = unsafe { bytes_mut_arg(buf, buflen) }?;
    // SAFETY: see above.
    let lens = unsafe { slots(lens, max) }?;
    let r = sock
        .recv_batch(buf, lens, flags | if drain { RL_DONTWAIT } else { 0 })
        .map(|n| n as c_int)
        // SAFETY: see above.
        .map_err(|e| unsafe { recv_err(e, needed) });
    drained(r, drain)
}

/// `rl_recv_batch` that also reports message boundaries: frames are packed and measured as
/// there (`lens`, up to `max` frames), and `parts[j]` is the number of frames of message j
/// (ROUTER: including the routing id frame first). `parts` has `max` entries too. Returns
/// the number of messages (the frames used are the sum of `parts`), or -1 as
/// `rl_recv_batch`.
///
/// # Safety
/// As `rl_recv_batch`; `parts` valid for writing `max` entries.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn rl_recv_batch_parts(
    s: *mut rl_socket_t,
    buf: *mut c_void,
    buflen: usize,
    lens: *mut usize,
    parts: *mut usize,
    max: usize,
    needed: *mut usize,
    flags: c_int,
) -> c_int {
    // SAFETY: forwarded caller contract.
    boundary(|| unsafe { recv_parts(s, buf, buflen, lens, parts, max, needed, flags, false) })
}

/// The non-blocking `rl_recv_batch_parts`: returns 0 when nothing is queued.
///
/// # Safety
/// As `rl_recv_batch_parts`.
#[no_mangle]
pub unsafe extern "C" fn rl_drain_parts(
    s: *mut rl_socket_t,
    buf: *mut c_void,
    buflen: usize,
    lens: *mut usize,
    parts: *mut usize,
    max: usize,
    needed: *mut usize,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        unsafe { recv_parts(s, buf, buflen, lens, parts, max, needed, RL_DONTWAIT, true) }
    })
}

/// # Safety
/// As `rl_recv_batch_parts`.
#[allow(clippy::too_many_arguments)]
unsafe fn recv_parts(
    s: *mut rl_socket_t,
    buf: *mut c_void,
    buflen: usize,
    lens: *mut usize,
    parts: *mut usize,
    max: usize,
    needed: *mut usize,
    flags: c_int,
    drain: bool,
) -> Res<c_int> {
    // SAFETY: forwarded caller contract (all four).
    let mut sock = unsafe { sock_mut(s) }?;
    // SAFETY: see above.
    let buf = unsafe { bytes_mut_arg(buf, buflen) }?;
    // SAFETY: see above.
    let lens = unsafe { slots(lens, max) }?;
    // SAFETY: see above.
    let parts = unsafe { slots(parts, max) }?;
    let flags = flags | if drain { RL_DONTWAIT } else { 0 };
    SCRATCH.with(|sc| {
        let more = &mut sc.borrow_mut().more;
        more.clear();
        more.resize(lens.len(), false);
        let r = sock
            .recv_batch_parts(buf, lens, more, flags)
            // SAFETY: see above.
            .map_err(|e| unsafe { recv_err(e, needed) });
        let frames = match drained(r.map(|n| n as c_int), drain)? {
            0 => return Ok(0),
            n => n as usize,
        };
        let (mut msgs, mut count) = (0usize, 0usize);
        for &m in &more[..frames] {
            count += 1;
            if !m {
                parts[msgs] = count;
                msgs += 1;
                count = 0;
            }
        }
        Ok(msgs as c_int)
    })
}

/// ROUTER: receive many messages, routing ids split off. Message j's routing id is packed
/// into `ids` (`id_lens[j]` bytes, back to back) and its payload into `buf` (`lens[j]` bytes,
/// back to back); the frames of a multipart payload are concatenated into its one entry
/// (use `rl_recv_batch_parts` to keep frame boundaries). Takes at most `max` messages and at
/// most `idslen / RL_ROUTING_ID_MAX` (a routing id has up to 255 bytes), so size `ids` as
/// `max * RL_ROUTING_ID_MAX` to get up to `max`. `lens` and `id_lens` have `max` entries.
/// With room for M messages a message may have up to 2M - 1 payload frames (more is
/// `EINVAL`, the message stays queued: use `rl_recv_batch_parts` for long multipart
/// messages).
///
/// Blocking, return value and errors as `rl_recv_batch`, counting messages; in addition
/// `ENOTSUP` on types other than ROUTER and STREAM, and `EINVAL` when `idslen` <
/// `RL_ROUTING_ID_MAX`. The
/// data buffer also holds each message's routing id while the call runs, so `*needed` (on
/// `EMSGSIZE`) and the room a message takes include its id's length.
///
/// # Safety
/// As `rl_recv_batch`; `ids` valid for writing `idslen` bytes, `id_lens` for `max` entries;
/// `buf` and `ids` do not overlap.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn rl_recv_batch_routed(
    s: *mut rl_socket_t,
    buf: *mut c_void,
    buflen: usize,
    lens: *mut usize,
    ids: *mut c_void,
    idslen: usize,
    id_lens: *mut usize,
    max: usize,
    needed: *mut usize,
    flags: c_int,
) -> c_int {
    boundary(|| {
        let a = RoutedArgs {
            buf,
            buflen,
            lens,
            ids,
            idslen,
            id_lens,
            max,
            needed,
        };
        // SAFETY: forwarded caller contract.
        unsafe { recv_routed(s, a, flags, false) }
    })
}

/// The non-blocking `rl_recv_batch_routed`: returns 0 when nothing is queued.
///
/// # Safety
/// As `rl_recv_batch_routed`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn rl_drain_routed(
    s: *mut rl_socket_t,
    buf: *mut c_void,
    buflen: usize,
    lens: *mut usize,
    ids: *mut c_void,
    idslen: usize,
    id_lens: *mut usize,
    max: usize,
    needed: *mut usize,
) -> c_int {
    boundary(|| {
        let a = RoutedArgs {
            buf,
            buflen,
            lens,
            ids,
            idslen,
            id_lens,
            max,
            needed,
        };
        // SAFETY: forwarded caller contract.
        unsafe { recv_routed(s, a, RL_DONTWAIT, true) }
    })
}

struct RoutedArgs {
    buf: *mut c_void,
    buflen: usize,
    lens: *mut usize,
    ids: *mut c_void,
    idslen: usize,
    id_lens: *mut usize,
    max: usize,
    needed: *mut usize,
}

/// # Safety
/// As `rl_recv_batch_routed`.
unsafe fn recv_routed(s: *mut rl_socket_t, a: RoutedArgs, flags: c_int, drain: bool) -> Res<c_int> {
    // SAFETY: forwarded caller contract (all five).
    let mut sock = unsafe { sock_mut(s) }?;
    if !matches!(sock.socket_type(), SocketType::Router | SocketType::Stream) {
        return Err(libc::ENOTSUP);
    }
    // SAFETY: see above.
    let buf = unsafe { bytes_mut_arg(a.buf, a.buflen) }?;
    // SAFETY: see above.
    let ids = unsafe { bytes_mut_arg(a.ids, a.idslen) }?;
    // SAFETY: see above.
    let lens = unsafe { slots(a.lens, a.max) }?;
    // SAFETY: see above.
    let id_lens = unsafe { slots(a.id_lens, a.max) }?;
    let max_msgs = lens.len().min(ids.len() / RL_ROUTING_ID_MAX as usize);
    if max_msgs == 0 {
        return Err(libc::EINVAL);
    }
    // Every message has >= 2 frames (id + payload), so 2 * max_msgs frames bound the
    // messages to max_msgs, and their ids to max_msgs * 255 bytes.
    let cap = 2 * max_msgs;
    let flags = flags | if drain { RL_DONTWAIT } else { 0 };
    SCRATCH.with(|sc| {
        let sc = &mut *sc.borrow_mut();
        sc.lens.clear();
        sc.lens.resize(cap, 0);
        sc.more.clear();
        sc.more.resize(cap, false);
        let r = sock
            .recv_batch_parts(buf, &mut sc.lens, &mut sc.more, flags)
            // SAFETY: see above.
            .map_err(|e| unsafe { recv_err(e, a.needed) });
        let frames = match drained(r.map(|n| n as c_int), drain)? {
            0 => return Ok(0),
            n => n as usize,
        };
        // Walk the packed frames: move each id out to `ids`, close the gap in `buf`.
        let (mut rd, mut wr, mut id_wr, mut msgs, mut i) = (0usize, 0usize, 0usize, 0usize, 0);
        while i < frames {
            let idl = sc.lens[i];
            ids[id_wr..id_wr + idl].copy_from_slice(&buf[rd..rd + idl]);
            id_lens[msgs] = idl;
            id_wr += idl;
            rd += idl;
            let mut body = 0;
            let mut more = sc.more[i];
            i += 1;
            while more && i < frames {
                body += sc.lens[i];
                more = sc.more[i];
                i += 1;
            }
            buf.copy_within(rd..rd + body, wr);
            lens[msgs] = body;
            rd += body;
            wr += body;
            msgs += 1;
        }
        Ok(msgs as c_int)
    })
}
