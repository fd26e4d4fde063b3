//! The io_uring backend: one ring per reactor, multishot accept, multishot receive into a
//! provided-buffer ring, one `SENDMSG` per batch, eventfd read for cross-thread wake-ups.
//!
//! Ring flags: `SINGLE_ISSUER | DEFER_TASKRUN` when one thread owns the ring (reactor threads,
//! `single_thread` inline contexts); the default task-work mode when several application
//! threads may take turns driving it (inline mode), so completions never wait for the thread
//! that submitted their operation.
//! With SQPOLL (an option, off by default) the kernel's thread submits and neither applies.
//! `user_data` = key << 8 | op, and the key carries a generation, so a late completion for a
//! closed connection is recognised and dropped.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use std::time::Duration;

use io_uring::{cqueue, opcode, squeue, types, IoUring};

use super::sys::syscall;
use super::{Driver, Event, Key, Req, UringFeatures};
use crate::pipe::SendLease;
use enter::Enter;

mod accept;
mod bufring;
mod enter;
mod held;
mod watch;
pub(crate) use bufring::BufConfig;
use bufring::{BufRing, BGID, PBUF_RING_INC};
use held::Held;

const OP_ACCEPT: u64 = 1;
const OP_CONNECT: u64 = 2;
const OP_RECV: u64 = 3;
const OP_SEND: u64 = 4;
const OP_CANCEL: u64 = 5;
const OP_WAKE: u64 = 6;
/// A one-shot poll of a watched fd (`Driver::poll`'s `watch`); its key carries the watch
/// generation and the index.
const OP_WATCH: u64 = 7;

fn ud(key: Key, op: u64) -> u64 {
    (key.0 << 8) | op
}

#[derive(Default)]
struct Slot {
    key: Option<Key>,
    fd: RawFd,
    listener: bool,
    /// A multishot accept is armed (a failed one is not re-armed until `ResumeAccept`).
    accepting: bool,
    inflight: u32,
    /// A connect is in flight.
    connecting: bool,
    recv_wanted: bool,
    recv_armed: bool,
    closing: Option<OwnedFd>,
    /// A connect's address, boxed: the kernel reads it when the SQE is submitted (after the
    /// turn), and requests later in the same turn may grow `slots` and move the slot.
    addr: Option<Box<super::sys::SockAddr>>,
    msg: Option<Box<libc::msghdr>>,
    /// The lease of the send in flight (its memory is the kernel's until the completion).
    send: Option<SendLease>,
    /// Received while the reactor had stopped receiving (its inbound pipe is at RCVHWM):
    /// kept in the provided buffers, in order, and delivered on `StartRecv`. Copying them
    /// aside instead cost a second copy of nearly every byte of a throughput run, since a
    /// multishot receive reads ahead of the application by as much as the socket holds.
    held: VecDeque<Held>,
    held_bytes: usize,
}

// SAFETY: the raw pointers (mmapped buffer ring, msghdrs) are owned by the driver and move
// with it; the ring is driven by one thread at a time (a reactor thread, or the inline mutex).
unsafe impl Send for UringDriver {}

pub(crate) struct UringDriver {
    ring: IoUring,
    enter: Enter,
    reap_before_wait: bool,
    slots: Vec<Slot>,
    bufs: BufRing,
    wake_fd: RawFd,
    wake_buf: Box<u64>,
    closed: Vec<Key>,
    /// Completions copied out of the CQ before dispatch (user_data, result, flags).
    cqes: Vec<(u64, i32, u32)>,
    /// The watched fds (`Driver::poll`'s `watch`): they stay armed across the turns of one
    /// inline wait (re-arming every turn would wake the next turn with the cancellations'
    /// completions) until `unwatch`. `watch_gen` tells current POLL_ADD completions from
    /// older ones; `watch_armed[i]`: a poll is in the kernel for `watch_set[i]`.
    watch_gen: u64,
    watch_set: Vec<(RawFd, i16)>,
    watch_armed: Vec<bool>,
    /// Watched fds that fired since the last report: (index, revents).
    watch_hits: Vec<(usize, i16)>,
    /// Connections restarted (`StartRecv`) with held data to deliver before new data.
    redeliver: Vec<Key>,
    /// Bytes held by all connections (`Slot::held`).
    held_total: usize,
}

/// Check that io_uring and the operations we use are available.
pub(crate) fn probe() -> io::Result<()> {
    let ring: IoUring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(8)?;
    let mut probe = io_uring::Probe::new();
    ring.submitter().register_probe(&mut probe)?;
    for code in [
        opcode::RecvMulti::CODE,
        opcode::SendMsg::CODE,
        opcode::Send::CODE,
        opcode::AcceptMulti::CODE,
        opcode::AsyncCancel::CODE,
        opcode::Connect::CODE,
    ] {
        if !probe.is_supported(code) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring opcode missing",
            ));
        }
    }
    if !ring.params().is_feature_ext_arg() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "io_uring lacks EXT_ARG",
        ));
    }
    Ok(())
}

impl UringDriver {
    /// `single_issuer`: only the calling thread will ever drive this ring.
    /// `features.registered_ring` registers the ring fd for the calling thread, which must
    /// then be the one that drives and drops the driver.
    pub(crate) fn new(
        wake_fd: RawFd,
        single_issuer: bool,
        cfg: BufConfig,
        features: UringFeatures,
    ) -> io::Result<UringDriver> {
        // SQPOLL's idle time in whole milliseconds (at least 1).
        let sqpoll = features
            .sqpoll_idle
            .map(|d| d.as_millis().clamp(1, u128::from(u32::MAX)) as u32);
        let build = |no_sqarray: bool, sqpoll: Option<u32>| {
            let mut b = IoUring::builder();
            b.setup_cqsize(8192);
            if let Some(idle) = sqpoll {
                // The kernel's thread submits; deferred task work is not allowed with it.
                b.setup_sqpoll(idle);
            } else if single_issuer {
                // TASKRUN_FLAG lets a non-blocking `submit()` see (IORING_SQ_TASKRUN) that
                // deferred completion work is pending and enter with GETEVENTS only then. A
                // ring that several threads take turns driving keeps the default task-work
                // mode: completions are posted promptly whichever thread submitted the
                // operation (see runtime/inline.rs).
                b.setup_single_issuer()
                    .setup_defer_taskrun()
                    .setup_taskrun_flag();
            }
            if no_sqarray {
                b.setup_no_sqarray();
            }
            b.build(1024)
        };
        // Each optional flag is dropped when the kernel refuses it: NO_SQARRAY before 6.6
        // (EINVAL), SQPOLL before 5.11 without privileges (EPERM) or where disallowed.
        let mut no_sqarray = features.no_sqarray;
        let mut sqpoll = sqpoll;
        let ring = loop {
            match build(no_sqarray, sqpoll) {
                Ok(r) => break r,
                Err(e) if no_sqarray && e.raw_os_error() == Some(libc::EINVAL) => {
                    no_sqarray = false;
                }
                Err(e) if sqpoll.is_some() => {
                    log::debug!("io_uring SQPOLL refused ({e}); submitting by system call");
                    sqpoll = None;
                }
                Err(e) => return Err(e),
            }
        };
        let mut bufs = BufRing::new(cfg)?;
        // SAFETY: the ring memory is page aligned, initialised, and lives as long as the
        // driver; it is unregistered implicitly when the ring is dropped (the ring field is
        // declared, and so dropped, before `bufs`). Incremental consumption is tried first
        // and dropped on kernels that reject the flag.
        unsafe {
            let addr = bufs.ring.ptr as u64;
            match ring.submitter().register_buf_ring_with_flags(
                addr,
                cfg.count,
                BGID,
                PBUF_RING_INC,
            ) {
                Ok(()) => bufs.inc = true,
                Err(_) => ring
                    .submitter()
                    .register_buf_ring_with_flags(addr, cfg.count, BGID, 0)?,
            }
        }
        // A registered-index enter does not wake a sleeping SQPOLL thread: the crate's does.
        let enter = Enter::new(&ring, features.registered_ring && sqpoll.is_none());
        let mut d = UringDriver {
            ring,
            enter,
            reap_before_wait: features.reap_before_wait,
            slots: Vec::new(),
            bufs,
            wake_fd,
            wake_buf: Box::new(0),
            closed: Vec::new(),
            cqes: Vec::with_capacity(256),
            watch_gen: 0,
            watch_set: Vec::new(),
            watch_armed: Vec::new(),
            watch_hits: Vec::new(),
            redeliver: Vec::new(),
            held_total: 0,
        };
        d.arm_wake();
        Ok(d)
    }

    fn push(&mut self, e: squeue::Entry) {
        loop {
            // SAFETY: every entry we build points at memory owned by the driver (slots, wake
            // buffer) or by the reactor under the Req::Send contract, valid until completion.
            if unsafe { self.ring.submission().push(&e) }.is_ok() {
                return;
            }
            // SQ full: submit what we have (with SQPOLL: wait until the kernel's thread
            // has taken some) and retry.
            let r = if self.ring.params().is_setup_sqpoll() {
                enter::wait_for_sq_room(&self.ring)
            } else {
                self.submit().map(drop)
            };
            if let Err(err) = r {
                log::warn!("io_uring submit failed: {err}");
            }
        }
    }

    /// Submit what is queued without waiting.
    pub(super) fn submit(&mut self) -> io::Result<usize> {
        self.enter.enter(&mut self.ring, false, None)
    }

    fn slot(&mut self, key: Key) -> &mut Slot {
        let s = key.slot();
        if self.slots.len() <= s {
            self.slots.resize_with(s + 1, Slot::default);
        }
        if self.slots[s].key != Some(key) {
            self.drop_held(s);
            self.slots[s] = Slot {
                key: Some(key),
                ..Slot::default()
            };
        }
        &mut self.slots[s]
    }

    fn live(&mut self, key: Key) -> Option<&mut Slot> {
        self.slots
            .get_mut(key.slot())
            .filter(|s| s.key == Some(key))
    }

    fn arm_wake(&mut self) {
        let e = opcode::Read::new(
            types::Fd(self.wake_fd),
            &mut *self.wake_buf as *mut u64 as *mut u8,
            8,
        )
        .build()
        .user_data(ud(Key::WAKE, OP_WAKE));
        self.push(e);
    }

    fn arm_recv(&mut self, key: Key) {
        let s = self.slot(key);
        if s.recv_armed || s.closing.is_some() {
            return;
        }
        s.recv_armed = true;
        s.inflight += 1;
        let fd = s.fd;
        let e = opcode::RecvMulti::new(types::Fd(fd), BGID)
            .build()
            .user_data(ud(key, OP_RECV));
        self.push(e);
    }

    fn cancel(&mut self, key: Key, target: u64) {
        let s = self.slot(key);
        s.inflight += 1;
        let e = opcode::AsyncCancel::new(target)
            .build()
            .user_data(ud(key, OP_CANCEL));
        self.push(e);
    }

    fn apply(&mut self, req: Req) {
        match req {
            Req::Listen { key, fd } => {
                let s = self.slot(key);
                s.fd = fd;
                s.listener = true;
                self.arm_accept(key);
            }
            Req::ResumeAccept { key } => {
                if self.live(key).is_some_and(|s| s.listener) {
                    self.arm_accept(key);
                }
            }
            Req::Connect { key, fd, addr } => {
                let s = self.slot(key);
                s.fd = fd;
                s.inflight += 1;
                s.connecting = true;
                let a = s.addr.insert(Box::new(addr));
                let e = opcode::Connect::new(types::Fd(fd), a.as_ptr(), a.len)
                    .build()
                    .user_data(ud(key, OP_CONNECT));
                self.push(e);
            }
            Req::StartRecv { key, fd } => {
                let s = self.slot(key);
                s.fd = fd;
                s.recv_wanted = true;
                if s.held.is_empty() {
                    self.arm_recv(key);
                } else {
                    self.redeliver.push(key);
                }
            }
            Req::StopRecv { key } => self.stop_recv(key),
            Req::Send { key, fd, lease } => {
                let s = self.slot(key);
                s.fd = fd;
                s.inflight += 1;
                // The slot keeps the lease until the completion: the kernel reads through
                // these pointers until then.
                let (iov, iovcnt) = (lease.iov().as_ptr(), lease.iov().len());
                s.send = Some(lease);
                if iovcnt == 1 {
                    // One buffer (the common flush): SEND skips the msghdr/iovec import.
                    // SAFETY: `iovcnt == 1`: `iov` points at the lease's one iovec.
                    let v = unsafe { *iov };
                    let e =
                        opcode::Send::new(types::Fd(fd), v.iov_base as *const u8, v.iov_len as u32)
                            .flags(libc::MSG_NOSIGNAL)
                            .build()
                            .user_data(ud(key, OP_SEND));
                    self.push(e);
                    return;
                }
                // SAFETY: zeroed msghdr is valid.
                let mut m: Box<libc::msghdr> = s
                    .msg
                    .take()
                    .unwrap_or_else(|| Box::new(unsafe { std::mem::zeroed() }));
                m.msg_iov = iov as *mut libc::iovec;
                m.msg_iovlen = iovcnt.min(libc::UIO_MAXIOV as usize) as _;
                let mp: *const libc::msghdr = &*m;
                s.msg = Some(m);
                let e = opcode::SendMsg::new(types::Fd(fd), mp)
                    .flags(libc::MSG_NOSIGNAL as u32)
                    .build()
                    .user_data(ud(key, OP_SEND));
                self.push(e);
            }
            Req::Close { key, fd } => {
                let raw = fd.as_raw_fd();
                if self.live(key).is_some() {
                    self.drop_held(key.slot());
                }
                let s = self.slot(key);
                s.fd = raw;
                s.recv_wanted = false;
                s.closing = Some(fd);
                if s.inflight == 0 {
                    self.finish_close(key);
                } else {
                    // Cancel each operation still in flight by its user data, which the
                    // kernel finds with a hash lookup. A cancel by fd scans every pending
                    // request of the ring, so closing n connections cost O(n²):
                    // `io_cancel_req_match` took 27 % of a 10,000-connection `scale` run.
                    // (A `StopRecv`'s cancel in flight completes on its own.)
                    let ops = [
                        (s.recv_armed, OP_RECV),
                        (s.accepting, OP_ACCEPT),
                        (s.connecting, OP_CONNECT),
                        (s.send.is_some(), OP_SEND),
                    ];
                    for (armed, op) in ops {
                        if armed {
                            self.cancel(key, ud(key, op));
                        }
                    }
                }
            }
        }
    }

    fn finish_close(&mut self, key: Key) {
        if let Some(s) = self.live(key) {
            let fd = s.closing.take();
            *s = Slot::default();
            drop(fd);
            self.closed.push(key);
        }
    }

    /// One operation of `key` finished for good.
    fn op_done(&mut self, key: Key) {
        if let Some(s) = self.live(key) {
            s.inflight = s.inflight.saturating_sub(1);
            if s.inflight == 0 && s.closing.is_some() {
                self.finish_close(key);
            }
        }
    }

    /// A multishot receive delivered data, ran dry, or ended.
    fn on_recv<F>(
        &mut self,
        key: Key,
        res: i32,
        flags: u32,
        closing: bool,
        reqs: &mut Vec<Req>,
        on_event: &mut F,
    ) where
        F: FnMut(Event<'_>, &mut Vec<Req>),
    {
        let more = cqueue::more(flags);
        let mut rearm = false;
        if res > 0 {
            let bid = cqueue::buffer_select(flags).expect("multishot recv without buffer");
            let len = res as usize;
            let start = self.bufs.take(bid, len, flags);
            if closing {
                self.bufs.release(bid);
            } else if self.hold(key, bid, start, len, reqs, on_event) {
                self.bufs.hold(bid);
            } else {
                let from = reqs.len();
                let data = self.bufs.data(bid, start, len);
                on_event(Event::Received { key, data }, reqs);
                self.bufs.release(bid);
                self.stop_if_asked(key, reqs, from);
            }
            rearm = true;
        } else if res == -libc::ENOBUFS {
            // The ring ran dry. Buffers held for stopped connections come back (if this one
            // still receives). With a few connections a dry ring only means the application
            // is behind (the buffers come back as it reads); with many receiving at once the
            // ring is too small: provide more (up to the max), holds or not.
            let receiving = self.live(key).is_some_and(|s| s.recv_wanted);
            if receiving && !closing && self.held_total > 0 {
                self.spill_all(reqs, on_event);
            }
            if self.slots.iter().filter(|s| s.recv_armed).nth(2).is_some() {
                self.bufs.grow();
            }
            rearm = true;
        } else if res != -libc::ECANCELED && !closing {
            let errno = (res < 0).then_some(-res);
            let held = match self.live(key) {
                Some(s) => {
                    s.recv_wanted = false;
                    if !s.held.is_empty() {
                        // After the held data.
                        s.held.push_back(Held::End(errno));
                        true
                    } else {
                        false
                    }
                }
                None => false,
            };
            if !held {
                let err = errno.map(io::Error::from_raw_os_error);
                on_event(Event::RecvClosed { key, err }, reqs);
            }
        }
        if !more {
            if let Some(s) = self.live(key) {
                s.recv_armed = false;
            }
            self.op_done(key);
            if rearm || res == -libc::ECANCELED {
                if let Some(s) = self.live(key) {
                    if s.recv_wanted && s.closing.is_none() {
                        self.arm_recv(key);
                    }
                }
            }
        }
    }

    fn dispatch<F>(
        &mut self,
        user_data: u64,
        res: i32,
        flags: u32,
        reqs: &mut Vec<Req>,
        on_event: &mut F,
    ) where
        F: FnMut(Event<'_>, &mut Vec<Req>),
    {
        let op = user_data & 0xFF;
        let key = Key(user_data >> 8);
        let more = cqueue::more(flags);
        if op == OP_WAKE {
            self.arm_wake();
            return;
        }
        if op == OP_WATCH {
            self.on_watch(key, res);
            return;
        }
        let closing = match self.live(key) {
            Some(s) => s.closing.is_some(),
            None => {
                // A completion for a slot that was already closed and reused: only a provided
                // buffer may need to go back.
                if let Some(bid) = cqueue::buffer_select(flags) {
                    self.bufs.take(bid, res.max(0) as usize, flags);
                    self.bufs.release(bid);
                }
                return;
            }
        };
        match op {
            OP_ACCEPT => self.on_accept(key, res, more, closing, reqs, on_event),
            OP_CONNECT => {
                if let Some(s) = self.live(key) {
                    s.connecting = false;
                }
                self.op_done(key);
                if !closing {
                    let result = if res < 0 {
                        Err(io::Error::from_raw_os_error(-res))
                    } else {
                        Ok(())
                    };
                    on_event(Event::Connected { key, result }, reqs);
                }
            }
            OP_RECV => self.on_recv(key, res, flags, closing, reqs, on_event),
            OP_SEND => {
                // The kernel is done with the lease's memory: give it back (or drop it).
                let lease = self.live(key).and_then(|s| s.send.take());
                self.op_done(key);
                if let (false, Some(lease)) = (closing, lease) {
                    let result = if res < 0 {
                        Err(io::Error::from_raw_os_error(-res))
                    } else {
                        Ok(res as usize)
                    };
                    on_event(Event::Sent { key, result, lease }, reqs);
                }
            }
            OP_CANCEL => self.op_done(key),
            _ => {}
        }
    }
}

impl Driver for UringDriver {
    fn unwatch(&mut self) {
        self.cancel_watches();
    }

    fn poll<F>(
        &mut self,
        reqs: &mut Vec<Req>,
        timeout: Option<Duration>,
        watch: &mut [libc::pollfd],
        mut on_event: F,
    ) -> io::Result<()>
    where
        F: FnMut(Event<'_>, &mut Vec<Req>),
    {
        // Held data is delivered before anything new; what the reactor asks in reaction is
        // applied in this same turn, and the turn does not block (the reactor has news).
        let mut redelivered = false;
        loop {
            for r in reqs.drain(..) {
                self.apply(r);
            }
            if self.redeliver.is_empty() {
                break;
            }
            redelivered = true;
            for key in std::mem::take(&mut self.redeliver) {
                self.redeliver(key, reqs, &mut on_event);
            }
        }
        if !watch.is_empty() {
            self.arm_watches(watch);
        }
        let mut busy = redelivered || !self.closed.is_empty();
        if self.reap_before_wait && !busy && timeout != Some(Duration::ZERO) {
            // Completions already posted (and nothing to submit, no deferred work): handle
            // them now instead of entering the kernel to learn about them.
            let sq = self.ring.submission();
            let quiet = sq.is_empty() && !sq.taskrun() && !sq.cq_overflow();
            drop(sq);
            busy = quiet && !self.ring.completion().is_empty();
        }
        let res = match (busy, timeout) {
            (false, None) => self.enter.enter(&mut self.ring, true, None),
            (false, Some(t)) if !t.is_zero() => self.enter.enter(&mut self.ring, true, Some(t)),
            // Non-blocking: submit and reap what completed, without arming a kernel timer
            // for a zero wait. With nothing to submit and no deferred completion work
            // pending (TASKRUN flag), the CQ can be read without a syscall at all, which is
            // what makes a spinning wait cheap.
            _ => {
                let sq = self.ring.submission();
                let idle = sq.is_empty() && !sq.taskrun() && !sq.cq_overflow();
                drop(sq);
                if idle {
                    Ok(0)
                } else {
                    self.submit()
                }
            }
        };
        // EINTR (a signal reached an inline wait) is reported after the completions are
        // handled, so nothing that already finished waits for the next turn.
        let mut interrupted = None;
        if let Err(e) = res {
            match e.raw_os_error() {
                Some(libc::ETIME) | Some(libc::EBUSY) => {}
                Some(libc::EINTR) => interrupted = Some(e),
                _ => return Err(e),
            }
        }
        for key in std::mem::take(&mut self.closed) {
            on_event(Event::Closed { key }, &mut *reqs);
        }
        loop {
            self.cqes.clear();
            self.cqes.extend(
                self.ring
                    .completion()
                    .map(|c| (c.user_data(), c.result(), c.flags())),
            );
            if self.cqes.is_empty() {
                break;
            }
            let batch = std::mem::take(&mut self.cqes);
            for &(u, r, f) in &batch {
                self.dispatch(u, r, f, reqs, &mut on_event);
            }
            self.cqes = batch;
            for key in std::mem::take(&mut self.closed) {
                on_event(Event::Closed { key }, &mut *reqs);
            }
        }
        if !watch.is_empty() {
            self.report_watches(watch);
        }
        interrupted.map_or(Ok(()), Err)
    }
}

impl Drop for UringDriver {
    fn drop(&mut self) {
        self.enter.unregister(&self.ring);
        // Descriptors still open in closing slots are closed by their OwnedFd. The ring is
        // torn down before the buffer memory (field order), so the kernel never writes into
        // unmapped buffers.
        let _ = syscall!(0);
    }
}

#[cfg(test)]
mod tests;
