//! `rl_msg_t`: libzmq's `zmq_msg_t` (a message frame object the caller allocates, e.g. on the
//! stack). The 64 opaque bytes hold a `MsgImpl`: a magic number (a closed or never-initialised
//! message is caught as `EFAULT` in the common case), the MORE flag and the body.

use std::ffi::{c_int, c_void};
use std::sync::Arc;

use crate::socket::{rl_socket_t, sock_mut};
use crate::{boundary, boundary_or, boundary_ptr, eno, to_int, Res};

/// `rl_msg_get` property: 1 if more frames of the message follow (libzmq `ZMQ_MORE`).
pub const RL_MORE: c_int = 1;

/// A message frame (libzmq `zmq_msg_t`): 64 bytes the caller allocates (stack, struct, heap)
/// and initialises with `rl_msg_init*`; close it with `rl_msg_close`. Never copy it with
/// `memcpy`/assignment (use `rl_msg_copy` / `rl_msg_move`). Not thread-safe: one thread at a
/// time, and it may move between threads.
#[repr(C)]
pub struct rl_msg_t {
    pub _opaque: [u64; 8],
}

/// Frees the data given to `rl_msg_init_data` once no message refers to it any more; called
/// with that data pointer and the `hint`, from whichever thread drops the last reference.
/// May be NULL.
pub type rl_free_fn = Option<unsafe extern "C" fn(data: *mut c_void, hint: *mut c_void)>;

const MSG_MAGIC: u32 = 0x726c_6d73; // "rlms"

#[repr(C)]
struct MsgImpl {
    magic: u32,
    more: bool,
    body: Body,
}

enum Body {
    Empty,
    Owned(Vec<u8>),
    Shared(Arc<Payload>),
}

enum Payload {
    Bytes(Box<[u8]>),
    Foreign {
        data: *mut u8,
        len: usize,
        ffn: rl_free_fn,
        hint: *mut c_void,
    },
}

// SAFETY: the caller of rl_msg_init_data hands the buffer over: it stays valid and unchanged
// until the free function runs, and that function may be called from any thread (documented).
unsafe impl Send for Payload {}
// SAFETY: shared access only reads the pointer values.
unsafe impl Sync for Payload {}

impl Drop for Payload {
    fn drop(&mut self) {
        if let Payload::Foreign {
            data,
            ffn: Some(f),
            hint,
            ..
        } = *self
        {
            // SAFETY: the function and its arguments come from rl_msg_init_data's caller,
            // which asked for exactly this call once the data is no longer used.
            unsafe { f(data as *mut c_void, hint) };
        }
    }
}

const _: () = assert!(std::mem::size_of::<MsgImpl>() <= std::mem::size_of::<rl_msg_t>());
const _: () = assert!(std::mem::align_of::<MsgImpl>() <= std::mem::align_of::<rl_msg_t>());

/// Non-NULL pointer for empty data (C's memcpy must not get NULL even for 0 bytes).
static EMPTY: [u8; 1] = [0];

impl MsgImpl {
    fn bytes(&self) -> (*mut u8, usize) {
        match &self.body {
            Body::Empty => (EMPTY.as_ptr() as *mut u8, 0),
            Body::Owned(v) => (v.as_ptr() as *mut u8, v.len()),
            Body::Shared(p) => match &**p {
                Payload::Bytes(b) => (b.as_ptr() as *mut u8, b.len()),
                Payload::Foreign { data, len, .. } if !data.is_null() => (*data, *len),
                Payload::Foreign { .. } => (EMPTY.as_ptr() as *mut u8, 0),
            },
        }
    }

    fn as_slice(&self) -> &[u8] {
        let (p, n) = self.bytes();
        // SAFETY: `bytes` returns memory owned by (or, for foreign data, promised to live
        // as long as) this message, valid for `n` bytes.
        unsafe { std::slice::from_raw_parts(p, n) }
    }
}

/// Initialise `*msg` (which must be uninitialised or closed) with `m`.
///
/// # Safety
/// `msg` is non-NULL and valid for writing an `rl_msg_t`.
unsafe fn msg_init(msg: *mut rl_msg_t, m: MsgImpl) {
    // SAFETY: caller contract; size and alignment are checked at compile time.
    unsafe { (msg as *mut MsgImpl).write(m) };
}

/// The initialised message behind `msg`; `EFAULT` for NULL or not initialised.
///
/// # Safety
/// `msg` is NULL or valid for reading and writing an `rl_msg_t`, not used elsewhere
/// meanwhile.
unsafe fn msg_mut<'a>(msg: *mut rl_msg_t) -> Res<&'a mut MsgImpl> {
    if msg.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: the caller's 64 bytes are readable; the magic is the first field.
    let magic = unsafe { (msg as *const u32).read() };
    if magic != MSG_MAGIC {
        return Err(libc::EFAULT);
    }
    // SAFETY: the magic says an rl_msg_init* call wrote a MsgImpl here.
    Ok(unsafe { &mut *(msg as *mut MsgImpl) })
}

fn new_msg(body: Body) -> MsgImpl {
    MsgImpl {
        magic: MSG_MAGIC,
        more: false,
        body,
    }
}

/// Initialise an empty message (libzmq `zmq_msg_init`). Returns 0, or -1 with `EFAULT`.
///
/// # Safety
/// `msg` is NULL or valid for writing an `rl_msg_t`; an initialised message must be closed
/// first (or it leaks).
#[no_mangle]
pub unsafe extern "C" fn rl_msg_init(msg: *mut rl_msg_t) -> c_int {
    boundary(|| {
        if msg.is_null() {
            return Err(libc::EFAULT);
        }
        // SAFETY: forwarded caller contract.
        unsafe { msg_init(msg, new_msg(Body::Empty)) };
        Ok(0)
    })
}

/// Initialise a message of `size` zeroed bytes to fill through `rl_msg_data` (libzmq
/// `zmq_msg_init_size`). Returns 0, or -1 with `EFAULT`.
///
/// # Safety
/// As `rl_msg_init`.
#[no_mangle]
pub unsafe extern "C" fn rl_msg_init_size(msg: *mut rl_msg_t, size: usize) -> c_int {
    boundary(|| {
        if msg.is_null() {
            return Err(libc::EFAULT);
        }
        // SAFETY: forwarded caller contract.
        unsafe { msg_init(msg, new_msg(Body::Owned(vec![0; size]))) };
        Ok(0)
    })
}

/// Initialise a message over the caller's `data` without copying (libzmq
/// `zmq_msg_init_data`). Once no message refers to it any more (after close, send, or the
/// last copy's close), `ffn(data, hint)` is called, from any thread; `ffn` may be NULL when
/// the data needs no freeing (it must then outlive every use). Returns 0, or -1 with
/// `EFAULT` (NULL `msg`, or NULL `data` with `size` > 0).
///
/// # Safety
/// As `rl_msg_init`; `data` is valid for reading `size` bytes and unchanged until `ffn` runs
/// (or forever if `ffn` is NULL).
#[no_mangle]
pub unsafe extern "C" fn rl_msg_init_data(
    msg: *mut rl_msg_t,
    data: *mut c_void,
    size: usize,
    ffn: rl_free_fn,
    hint: *mut c_void,
) -> c_int {
    boundary(|| {
        if msg.is_null() || (data.is_null() && size > 0) {
            return Err(libc::EFAULT);
        }
        let p = Payload::Foreign {
            data: data as *mut u8,
            len: size,
            ffn,
            hint,
        };
        // SAFETY: forwarded caller contract.
        unsafe { msg_init(msg, new_msg(Body::Shared(Arc::new(p)))) };
        Ok(0)
    })
}

/// Release the message's data (libzmq `zmq_msg_close`); the message must be initialised
/// again before reuse. Returns 0, or -1 with `EFAULT` (NULL or not initialised).
///
/// # Safety
/// `msg` is NULL or points to an `rl_msg_t` (initialised or closed). Not thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_msg_close(msg: *mut rl_msg_t) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let m = unsafe { msg_mut(msg) }?;
        m.body = Body::Empty;
        m.magic = 0;
        Ok(0)
    })
}

/// Pointer to the message's bytes (libzmq `zmq_msg_data`); writable for messages from
/// `rl_msg_init_size` and `rl_msg_recv`. Never NULL for a valid message (even when empty).
/// Returns NULL with `EFAULT` for a NULL or uninitialised message.
///
/// # Safety
/// `msg` is NULL or points to an `rl_msg_t`. The pointer is valid until the message is
/// closed, sent, moved or received into. Not thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_msg_data(msg: *mut rl_msg_t) -> *mut c_void {
    boundary_ptr(|| {
        // SAFETY: forwarded caller contract.
        let m = unsafe { msg_mut(msg) }?;
        Ok(m.bytes().0 as *mut c_void)
    })
}

/// The message's size in bytes (libzmq `zmq_msg_size`); 0 with errno `EFAULT` for a NULL or
/// uninitialised message.
///
/// # Safety
/// As `rl_msg_data`.
#[no_mangle]
pub unsafe extern "C" fn rl_msg_size(msg: *const rl_msg_t) -> usize {
    boundary_or(0, || {
        // SAFETY: forwarded caller contract; only read.
        let m = unsafe { msg_mut(msg as *mut rl_msg_t) }?;
        Ok(m.bytes().1)
    })
}

/// 1 if more frames of the message follow this one (after `rl_msg_recv`), else 0 (libzmq
/// `zmq_msg_more`); -1 with `EFAULT` for a NULL or uninitialised message.
///
/// # Safety
/// As `rl_msg_data`.
#[no_mangle]
pub unsafe extern "C" fn rl_msg_more(msg: *const rl_msg_t) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract; only read.
        let m = unsafe { msg_mut(msg as *mut rl_msg_t) }?;
        Ok(c_int::from(m.more))
    })
}

/// A message property (libzmq `zmq_msg_get`): `RL_MORE`. Returns the value, or -1 with
/// `EINVAL` (unknown property) / `EFAULT`.
///
/// # Safety
/// As `rl_msg_data`.
#[no_mangle]
pub unsafe extern "C" fn rl_msg_get(msg: *const rl_msg_t, property: c_int) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract; only read.
        let m = unsafe { msg_mut(msg as *mut rl_msg_t) }?;
        match property {
            RL_MORE => Ok(c_int::from(m.more)),
            _ => Err(libc::EINVAL),
        }
    })
}

/// Make `dest` refer to the same data as `src` (libzmq `zmq_msg_copy`): `dest`'s old content
/// is released, the bytes are shared, not copied (do not modify them afterwards). Both must
/// be initialised. Returns 0, or -1 with `EFAULT`.
///
/// # Safety
/// Both are NULL or point to `rl_msg_t`s. Not thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rl_msg_copy(dest: *mut rl_msg_t, src: *mut rl_msg_t) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let s = unsafe { msg_mut(src) }?;
        if std::ptr::eq(dest, src) {
            return Ok(0);
        }
        if let Body::Owned(v) = &mut s.body {
            let bytes = std::mem::take(v).into_boxed_slice();
            s.body = Body::Shared(Arc::new(Payload::Bytes(bytes)));
        }
        let body = match &s.body {
            Body::Empty | Body::Owned(_) => Body::Empty,
            Body::Shared(p) => Body::Shared(p.clone()),
        };
        let more = s.more;
        // SAFETY: forwarded caller contract; `dest` != `src`, so no aliasing with `s`.
        let d = unsafe { msg_mut(dest) }?;
        d.body = body;
        d.more = more;
        Ok(0)
    })
}

/// Move `src`'s content into `dest` (libzmq `zmq_msg_move`): `dest`'s old content is
/// released and `src` becomes an empty message. Both must be initialised. Returns 0, or -1
/// with `EFAULT`.
///
/// # Safety
/// As `rl_msg_copy`.
#[no_mangle]
pub unsafe extern "C" fn rl_msg_move(dest: *mut rl_msg_t, src: *mut rl_msg_t) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let s = unsafe { msg_mut(src) }?;
        if std::ptr::eq(dest, src) {
            return Ok(0);
        }
        let body = std::mem::replace(&mut s.body, Body::Empty);
        let more = std::mem::take(&mut s.more);
        // SAFETY: forwarded caller contract; `dest` != `src`.
        let d = unsafe { msg_mut(dest) }?;
        d.body = body;
        d.more = more;
        Ok(0)
    })
}

/// Send the message as one frame (libzmq `zmq_msg_send`; flags as `rl_send`). On success the
/// message becomes empty (its data is released) and the size is returned; on failure (-1,
/// errno as `rl_send`, or `EFAULT` for a bad message) it is unchanged.
///
/// # Safety
/// `msg` as `rl_msg_data`; `s` NULL or a live socket handle. Not thread-safe for the message;
/// uses the socket: `EBUSY` while another thread is inside a call on it.
#[no_mangle]
pub unsafe extern "C" fn rl_msg_send(
    msg: *mut rl_msg_t,
    s: *mut rl_socket_t,
    flags: c_int,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let m = unsafe { msg_mut(msg) }?;
        // SAFETY: forwarded caller contract.
        let mut sock = unsafe { sock_mut(s) }?;
        let n = m.as_slice().len();
        sock.send(m.as_slice(), flags).map_err(eno)?;
        // Leave the socket before releasing the body: an rl_msg_init_data free function may
        // call into ringlink, also on this socket.
        drop(sock);
        m.body = Body::Empty;
        m.more = false;
        Ok(to_int(n))
    })
}

/// Receive one frame into the message (libzmq `zmq_msg_recv`; flags as `rl_recv`): its old
/// content is released, `rl_msg_more` tells whether more frames follow. Returns the size, or
/// -1 (errno as `rl_recv`, or `EFAULT`), leaving the message unchanged.
///
/// # Safety
/// As `rl_msg_send`.
#[no_mangle]
pub unsafe extern "C" fn rl_msg_recv(
    msg: *mut rl_msg_t,
    s: *mut rl_socket_t,
    flags: c_int,
) -> c_int {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let m = unsafe { msg_mut(msg) }?;
        // SAFETY: forwarded caller contract.
        let mut sock = unsafe { sock_mut(s) }?;
        let v = sock.recv_bytes(flags).map_err(eno)?;
        let more = sock.rcvmore();
        // Leave the socket before the old body goes (its free function may call ringlink).
        drop(sock);
        let n = v.len();
        m.body = Body::Owned(v);
        m.more = more;
        Ok(to_int(n))
    })
}
