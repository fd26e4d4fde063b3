//! The bytes of one send, owned for as long as the kernel may read them.
//!
//! A send hands the kernel pointers (iovecs) into control bytes and into pipe chunks and
//! shared bodies, without copying. Who keeps that memory alive, and unchanged, until the send
//! completes is the type's job rather than a convention in the reactor: a [`SendLease`] owns
//! the iovec array and the control bytes, holds a reference to the pipe's chunk memory and to
//! every shared body it points into, and bars the pipe's reader from consuming anything while
//! it exists. The reactor moves the lease into `Req::Send`; the driver keeps it until the
//! kernel is done (the send's completion, or the connection's close) and gives it back in
//! `Event::Sent` or drops it. Safe code can drop a lease early only by having it back, which
//! happens only after the kernel finished with it.

use super::{Reader, Shared, SharedBytes};
use crate::sync::{Arc, Ordering};

/// An empty iovec array kept between sends, so that building a lease allocates nothing.
#[derive(Default)]
pub(crate) struct IovArray(Vec<libc::iovec>);

// SAFETY: the array is empty whenever it is outside a lease (`SendLease::new` fills it,
// `release` clears it): only its capacity moves between threads, never a pointer.
unsafe impl Send for IovArray {}

/// One send's iovecs and everything they point into (see the module doc).
pub(crate) struct SendLease {
    pub(super) iov: Vec<libc::iovec>,
    /// Control bytes (greeting, commands) sent ahead of the pipe's bytes, from `ctrl_off`.
    ctrl: Vec<u8>,
    ctrl_off: usize,
    /// The pipe whose chunks `iov` points into; its reader may not consume while this is set.
    pipe: Option<Arc<Shared>>,
    /// Shared bodies (`Writer::write_shared`) that `iov` points into.
    bodies: Vec<SharedBytes>,
    ctrl_len: usize,
    data_len: usize,
}

// SAFETY: the iovecs point only into memory the lease owns (`ctrl`) or keeps alive (`pipe`'s
// chunks, `bodies`); nothing in it is tied to a thread.
unsafe impl Send for SendLease {}

impl SendLease {
    /// A lease starting with `ctrl[ctrl_off..]` (may be empty). `iov` is the array recycled
    /// from the previous lease, so a steady stream of sends allocates nothing.
    pub(crate) fn new(iov: IovArray, ctrl: Vec<u8>, ctrl_off: usize) -> SendLease {
        let mut lease = SendLease {
            iov: iov.0,
            ctrl,
            ctrl_off,
            pipe: None,
            bodies: Vec::new(),
            ctrl_len: 0,
            data_len: 0,
        };
        lease.iov.clear();
        let c = lease.ctrl_bytes();
        // Points into `ctrl`'s heap buffer, which moves with the lease unchanged.
        let v = libc::iovec {
            iov_base: c.as_ptr() as *mut libc::c_void,
            iov_len: c.len(),
        };
        if v.iov_len > 0 {
            lease.ctrl_len = v.iov_len;
            lease.iov.push(v);
        }
        lease
    }

    /// Add the pipe's committed bytes (up to `max` bytes and `max_iov` iovecs in all) and
    /// lease them from `reader`. Returns the pipe bytes added. Call at most once per lease.
    pub(crate) fn add_pipe(&mut self, reader: &mut Reader, max: usize, max_iov: usize) -> usize {
        debug_assert!(self.pipe.is_none(), "one pipe per lease");
        let n = reader.peek_iov(&mut self.iov, &mut self.bodies, max, max_iov);
        if n > 0 {
            let shared = reader.shared();
            shared.send_leased.store(true, Ordering::Relaxed);
            self.pipe = Some(shared.clone());
        }
        self.data_len = n;
        n
    }

    /// The iovecs to hand to the kernel. They stay valid while the lease exists.
    pub(crate) fn iov(&self) -> &[libc::iovec] {
        &self.iov
    }

    /// Append every byte the lease describes to `out`, in order (a wire transform encodes
    /// from this copy instead of the kernel reading the pipe in place).
    pub(crate) fn copy_to(&self, out: &mut Vec<u8>) {
        out.reserve(self.len());
        for v in &self.iov {
            // SAFETY: every iovec points into memory this lease owns (`ctrl`) or keeps alive
            // and unchanged (`pipe`'s chunks, which the reader may not consume while the lease
            // exists, and `bodies`), `iov_len` bytes of it, for as long as `self` is borrowed.
            let bytes = unsafe { std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len) };
            out.extend_from_slice(bytes);
        }
    }

    /// The control bytes at the front of the send.
    pub(crate) fn ctrl_bytes(&self) -> &[u8] {
        &self.ctrl[self.ctrl_off.min(self.ctrl.len())..]
    }

    /// Control bytes at the front of the send.
    pub(crate) fn ctrl_len(&self) -> usize {
        self.ctrl_len
    }

    /// Pipe bytes after the control bytes.
    pub(crate) fn data_len(&self) -> usize {
        self.data_len
    }

    /// Total bytes described.
    pub(crate) fn len(&self) -> usize {
        self.ctrl_len + self.data_len
    }

    /// End the lease (the send completed, or was never made): the pipe's reader may consume
    /// again. Returns the iovec array and the control bytes for reuse.
    pub(crate) fn release(mut self) -> (IovArray, Vec<u8>) {
        let mut iov = std::mem::take(&mut self.iov);
        iov.clear();
        (IovArray(iov), std::mem::take(&mut self.ctrl))
    }
}

impl Drop for SendLease {
    fn drop(&mut self) {
        if let Some(p) = self.pipe.take() {
            p.send_leased.store(false, Ordering::Release);
        }
    }
}
