//! SPOT subscriber handles (`ringlink_services::spot::SpotSub`): subscriptions, the
//! one-message and batch receives into caller buffers (built on `SpotSub::recv_with`, which
//! hands each queued record over in place: one copy, into the caller's memory), and handler
//! callbacks.

use std::ffi::{c_char, c_int, c_void};

use engine::Error;
use ringlink_services::spot::{Record, SpotSub};

use super::spot_node::{node_obj, rl_spot_node_t};
use super::{get, insert, req_str, take, timeout, CtxLink};
use crate::socket::bytes_mut_arg;
use crate::{boundary, boundary_ptr, eno, to_int, Res};

/// An opaque SPOT subscriber handle (zlink's `void *spot_sub`).
pub struct rl_spot_sub_t {
    _private: [u8; 0],
}

/// Called for each message of a subscriber with a handler (`rl_spot_sub_set_handler`): the
/// topic (`topic_len` bytes, followed by a NUL), the `n` parts (`parts[i]`, `lens[i]`
/// bytes), all valid only during the call, and the handler's `userdata`.
pub type rl_spot_handler_fn = Option<
    unsafe extern "C" fn(
        topic: *const c_char,
        topic_len: usize,
        parts: *const *const c_void,
        lens: *const usize,
        n: usize,
        userdata: *mut c_void,
    ),
>;

struct SubObj {
    sub: SpotSub,
    _ctx: CtxLink,
}

fn sub_obj(s: *mut rl_spot_sub_t) -> Res<std::sync::Arc<SubObj>> {
    get::<SubObj, _>(s)
}

/// A new local subscriber of `node` (zlink `zlink_spot_sub_new`), with no subscription yet.
/// It stays valid after `rl_spot_node_destroy` (it keeps the node's sockets) until
/// `rl_spot_sub_destroy`.
///
/// Returns NULL with errno: `EFAULT` (bad node), `EINVAL` (the node cannot start: an inline
/// context), `RL_ETERM`.
///
/// Thread-safe; `node` may be any value.
#[no_mangle]
pub extern "C" fn rl_spot_sub_new(node: *mut rl_spot_node_t) -> *mut rl_spot_sub_t {
    boundary_ptr(|| {
        let obj = node_obj(node)?;
        let sub = obj.node()?.subscriber();
        let (_, link) = obj.ctx.another()?;
        insert(SubObj { sub, _ctx: link })
    })
}

fn topic_call(
    s: *mut rl_spot_sub_t,
    topic: *const c_char,
    f: fn(&SpotSub, &str) -> engine::Result<()>,
) -> c_int {
    boundary(|| {
        // SAFETY: the extern callers' contract: `topic` is NULL or NUL-terminated.
        let topic = unsafe { req_str(topic) }?;
        f(&sub_obj(s)?.sub, topic).map_err(eno)?;
        Ok(0)
    })
}

/// Receive messages published on exactly `topic` (1 to 255 bytes, NUL-terminated). Returns
/// 0, or -1 with `EINVAL` (empty or too long), `EFAULT`, `RL_ETERM`.
///
/// # Safety
/// `topic` is NULL or a NUL-terminated string. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_spot_sub_subscribe(
    s: *mut rl_spot_sub_t,
    topic: *const c_char,
) -> c_int {
    topic_call(s, topic, SpotSub::subscribe)
}

/// Receive messages on every topic starting with a prefix: `pattern` is the prefix and one
/// trailing `*` (e.g. `"prices.*"`). Returns 0, or -1 with `EINVAL` (not of that form),
/// `EFAULT`, `RL_ETERM`.
///
/// # Safety
/// `pattern` is NULL or a NUL-terminated string. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_spot_sub_subscribe_pattern(
    s: *mut rl_spot_sub_t,
    pattern: *const c_char,
) -> c_int {
    topic_call(s, pattern, SpotSub::subscribe_pattern)
}

/// Drop a subscription made with either call (a trailing `*` names a pattern). Returns 0,
/// or -1 with `EINVAL`, `EFAULT`, `RL_ETERM`.
///
/// # Safety
/// `topic_or_pattern` is NULL or a NUL-terminated string. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_spot_sub_unsubscribe(
    s: *mut rl_spot_sub_t,
    topic_or_pattern: *const c_char,
) -> c_int {
    topic_call(s, topic_or_pattern, SpotSub::unsubscribe)
}

/// A `max`-entry `size_t` array (`max` 0: `EINVAL`, NULL: `EFAULT`).
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

/// Receive one message: its topic, NUL-terminated, into `topic_buf` (`topic_cap` bytes; its
/// length to `*topic_len` if not NULL) and its parts packed back to back into `buf`
/// (`buflen` bytes), part i being `lens[i]` bytes (`lens` has `max` entries). Waits up to
/// `timeout_ms` (-1: no limit, 0: not at all).
///
/// Returns the number of parts (>= 1), or -1 with `EAGAIN` (nothing in time), `EMSGSIZE`
/// (the topic or the parts do not fit: the message stays queued), `EINVAL` (`max` 0 or
/// below its part count, the message stays queued; a handler is set; timeout below -1),
/// `EFAULT`, `RL_ETERM`, `EINTR`.
///
/// # Safety
/// `topic_buf` valid for `topic_cap` bytes, `buf` for `buflen`, `lens` for `max` entries,
/// `topic_len` NULL or valid. Thread-safe (several threads may receive on one subscriber;
/// each message goes to one of them).
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn rl_spot_sub_recv(
    s: *mut rl_spot_sub_t,
    topic_buf: *mut c_char,
    topic_cap: usize,
    topic_len: *mut usize,
    buf: *mut c_void,
    buflen: usize,
    lens: *mut usize,
    max: usize,
    timeout_ms: c_int,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract (all three).
        let tbuf = unsafe { bytes_mut_arg(topic_buf.cast(), topic_cap) }?;
        // SAFETY: see above.
        let pbuf = unsafe { bytes_mut_arg(buf, buflen) }?;
        // SAFETY: see above.
        let lens = unsafe { slots(lens, max) }?;
        let timeout = timeout(timeout_ms)?;
        let obj = sub_obj(s)?;
        let mut got = (0, 0);
        obj.sub
            .recv_with(1, timeout, |r| {
                let (tl, pl, pc) = (r.topic.len(), r.payload_len(), r.part_count());
                if pc > lens.len() {
                    return Err(Error::InvalidArgument("more parts than slots".into()));
                }
                if tl >= tbuf.len() || pl > pbuf.len() {
                    return Err(Error::MessageTooLarge(pl));
                }
                tbuf[..tl].copy_from_slice(r.topic);
                tbuf[tl] = 0;
                let mut off = 0;
                for (i, p) in r.parts().enumerate() {
                    pbuf[off..off + p.len()].copy_from_slice(p);
                    lens[i] = p.len();
                    off += p.len();
                }
                got = (tl, pc);
                Ok(true)
            })
            .map_err(eno)?;
        if !topic_len.is_null() {
            // SAFETY: caller contract.
            unsafe { topic_len.write(got.0) };
        }
        Ok(to_int(got.1))
    })
}

/// Where `rl_spot_recv_many` writes, and how much of it is used.
struct Batch<'a> {
    topics: &'a mut [u8],
    topic_lens: &'a mut [usize],
    payload: &'a mut [u8],
    payload_lens: &'a mut [usize],
    part_counts: Option<&'a mut [usize]>,
    max: usize,
    msgs: usize,
    toff: usize,
    poff: usize,
    /// `payload_lens` entries used.
    slots: usize,
}

impl Batch<'_> {
    /// Take `r` if it fits (true), else leave it (false; an error for the first message).
    fn take(&mut self, r: Record<'_>) -> engine::Result<bool> {
        let (tl, pl, pc) = (r.topic.len(), r.payload_len(), r.part_count());
        let need_slots = if self.part_counts.is_some() { pc } else { 1 };
        let room_slots = self.slots + need_slots <= self.max;
        let room_bytes =
            self.toff + tl <= self.topics.len() && self.poff + pl <= self.payload.len();
        if self.msgs == self.max || !room_slots || !room_bytes {
            return match self.msgs {
                0 if !room_slots => Err(Error::InvalidArgument("more parts than slots".into())),
                0 => Err(Error::MessageTooLarge(pl)),
                _ => Ok(false),
            };
        }
        self.topics[self.toff..self.toff + tl].copy_from_slice(r.topic);
        self.topic_lens[self.msgs] = tl;
        self.toff += tl;
        for p in r.parts() {
            self.payload[self.poff..self.poff + p.len()].copy_from_slice(p);
            self.poff += p.len();
            if self.part_counts.is_some() {
                self.payload_lens[self.slots] = p.len();
                self.slots += 1;
            }
        }
        match &mut self.part_counts {
            Some(pcs) => pcs[self.msgs] = pc,
            None => {
                self.payload_lens[self.slots] = pl;
                self.slots += 1;
            }
        }
        self.msgs += 1;
        Ok(true)
    }
}

/// Receive many messages at once (the fast path): topics packed back to back into
/// `topic_buf` (`topic_cap` bytes, no NULs), message i's topic being `topic_lens[i]` bytes;
/// payloads packed back to back into `payload_buf` (`payload_cap` bytes). Each queued
/// message is copied once, straight from the subscriber's queue into these buffers.
///
/// Payload lengths: with `part_counts` NULL, `payload_lens[i]` is message i's whole payload
/// (a multipart message's parts back to back, boundaries not reported: meant for one-part
/// messages); with `part_counts` given, `payload_lens` has one entry per part, message i
/// taking the next `part_counts[i]` entries (as `rl_recv_batch_parts`). `topic_lens`,
/// `payload_lens` and `part_counts` have `max` entries; at most `max` messages are taken,
/// and with `part_counts` at most `max` parts in all.
///
/// Waits up to `timeout_ms` (-1: no limit, 0: not at all) for the first message, then
/// takes the queued messages while the next one fits (the rest stay queued, in order).
/// Returns the number of messages (>= 1), or -1 with `EAGAIN` (nothing in time), `EMSGSIZE`
/// (the first message's topic or payload does not fit the whole buffer: it stays queued),
/// `EINVAL` (`max` 0; its parts exceed `max` with `part_counts`, it stays queued; a handler
/// is set; timeout below -1), `EFAULT`, `RL_ETERM`, `EINTR`.
///
/// # Safety
/// `topic_buf` valid for `topic_cap` bytes, `payload_buf` for `payload_cap`; `topic_lens`,
/// `payload_lens` and (if not NULL) `part_counts` for `max` entries. Thread-safe.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn rl_spot_recv_many(
    s: *mut rl_spot_sub_t,
    topic_buf: *mut c_void,
    topic_cap: usize,
    topic_lens: *mut usize,
    payload_buf: *mut c_void,
    payload_cap: usize,
    payload_lens: *mut usize,
    part_counts: *mut usize,
    max: usize,
    timeout_ms: c_int,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract (all five).
        let topics = unsafe { bytes_mut_arg(topic_buf, topic_cap) }?;
        // SAFETY: see above.
        let payload = unsafe { bytes_mut_arg(payload_buf, payload_cap) }?;
        // SAFETY: see above.
        let topic_lens = unsafe { slots(topic_lens, max) }?;
        // SAFETY: see above.
        let payload_lens = unsafe { slots(payload_lens, max) }?;
        let part_counts = match part_counts.is_null() {
            true => None,
            // SAFETY: see above.
            false => Some(unsafe { slots(part_counts, max) }?),
        };
        let timeout = timeout(timeout_ms)?;
        let obj = sub_obj(s)?;
        let max = topic_lens.len();
        let mut b = Batch {
            topics,
            topic_lens,
            payload,
            payload_lens,
            part_counts,
            max,
            msgs: 0,
            toff: 0,
            poff: 0,
            slots: 0,
        };
        obj.sub
            .recv_with(max, timeout, |r| b.take(r))
            .map_err(eno)?;
        Ok(to_int(b.msgs))
    })
}

type HandlerFn = unsafe extern "C" fn(
    *const c_char,
    usize,
    *const *const c_void,
    *const usize,
    usize,
    *mut c_void,
);

/// Call the C handler for one message.
fn call_handler(f: HandlerFn, userdata: usize, topic: &[u8], parts: &[&[u8]]) {
    let mut t = [0u8; 256];
    let tl = topic.len().min(255);
    t[..tl].copy_from_slice(&topic[..tl]);
    let call = |ptrs: &[*const c_void], lens: &[usize]| {
        // SAFETY: the handler's owner vouched (rl_spot_sub_set_handler) for calling `f` with
        // `userdata` from this thread; the arrays and what they point to live for the call.
        unsafe {
            f(
                t.as_ptr().cast(),
                tl,
                ptrs.as_ptr(),
                lens.as_ptr(),
                parts.len(),
                userdata as *mut c_void,
            )
        }
    };
    if parts.len() <= 16 {
        let mut ptrs = [std::ptr::null::<c_void>(); 16];
        let mut lens = [0usize; 16];
        for (i, p) in parts.iter().enumerate() {
            ptrs[i] = p.as_ptr().cast();
            lens[i] = p.len();
        }
        call(&ptrs[..parts.len()], &lens[..parts.len()]);
    } else {
        let ptrs: Vec<*const c_void> = parts.iter().map(|p| p.as_ptr().cast()).collect();
        let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
        call(&ptrs, &lens);
    }
}

/// Deliver this subscriber's messages to `fn(topic, topic_len, parts, lens, n, userdata)`
/// instead of the receive calls (zlink `spot_sub_set_handler`), replacing a handler set
/// before; NULL `fn` removes it (messages not yet handed over stay queued for the receive
/// calls). Returns 0, or -1 with `EFAULT`, or a system error (no thread could be started).
///
/// The handler runs on a thread of the subscriber's own (never on a caller's), one message
/// at a time, in order. It may call ringlink, this subscriber and its node included (e.g.
/// publish, subscribe, or remove itself). While a handler is set, `rl_spot_sub_recv` and
/// `rl_spot_recv_many` fail with `EINVAL`. When this call (or `rl_spot_sub_destroy`)
/// returns, called from another thread than the handler's, the previous handler is not
/// running and will not be called again, so its `userdata` may be freed.
///
/// # Safety
/// `fn` is NULL or safe to call from another thread with `userdata` until it is replaced or
/// the subscriber destroyed.
#[no_mangle]
pub unsafe extern "C" fn rl_spot_sub_set_handler(
    s: *mut rl_spot_sub_t,
    r#fn: rl_spot_handler_fn,
    userdata: *mut c_void,
) -> c_int {
    boundary(|| {
        let obj = sub_obj(s)?;
        match r#fn {
            None => obj.sub.clear_handler(),
            Some(f) => {
                let ud = userdata as usize;
                obj.sub
                    .set_handler(move |topic, parts| call_handler(f, ud, topic, parts))
                    .map_err(eno)?;
            }
        }
        Ok(0)
    })
}

/// Destroy the subscriber and set `*s` to NULL: its subscriptions are removed, its handler
/// stopped (waiting for a call in progress, unless called from the handler itself) and its
/// queued messages dropped; the node's sockets go with the last of the node and its
/// subscribers. Calls other threads are still inside (a receive) finish first. Returns 0, or
/// -1 with `EFAULT` (NULL `s`, NULL or stale `*s`).
///
/// # Safety
/// `s` is NULL or valid for reading and writing a pointer. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_spot_sub_destroy(s: *mut *mut rl_spot_sub_t) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let obj = unsafe { take::<SubObj, _>(s) }?;
        // Stopped now even if a receive on another thread still holds the object.
        obj.sub.clear_handler();
        drop(obj);
        Ok(0)
    })
}
