//! The epoll backend: edge-triggered readiness plus non-blocking `recv`/`sendmsg`.
//!
//! Sends are speculative: `Req::Send` calls `sendmsg` at once and only waits for EPOLLOUT when
//! the kernel buffer is full, so a busy connection costs one syscall per batch, as on io_uring.
//! Reads loop until EAGAIN (bounded per turn for fairness) into one per-reactor buffer.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::sys::{self, syscall};
use super::{Driver, Event, Key, Req};
use crate::pipe::SendLease;

const READ_BUF: usize = 64 * 1024;
/// Reads per connection per turn before yielding to other connections.
const READ_BUDGET: usize = 16;
const WAKE_TOKEN: u64 = u64::MAX;

#[derive(Default)]
struct Entry {
    key: Option<Key>,
    fd: RawFd,
    listener: bool,
    connecting: bool,
    recv_on: bool,
    readable: bool,
    /// A listener whose accept failed: no accepting until `ResumeAccept`.
    accept_paused: bool,
    /// A send that hit EAGAIN, and the bytes of it already sent.
    pending: Option<(SendLease, usize)>,
}

/// Completions produced outside of epoll_wait (speculative sends, immediate connects, closes).
enum Done {
    Connected(Key, io::Result<()>),
    Sent(Key, io::Result<usize>, SendLease),
    Closed(Key),
}

pub(crate) struct EpollDriver {
    ep: OwnedFd,
    entries: Vec<Entry>,
    done: VecDeque<Done>,
    /// Connections with unread data left after their read budget.
    backlog: Vec<usize>,
    buf: Box<[u8]>,
    events: Vec<libc::epoll_event>,
    wake_fd: RawFd,
    /// Listeners that may have connections waiting.
    accept_ready: Vec<usize>,
    /// Scratch list for `wait_with`.
    pollfds: Vec<libc::pollfd>,
}

impl EpollDriver {
    pub(crate) fn new(wake_fd: RawFd) -> io::Result<EpollDriver> {
        // SAFETY: plain syscall; the fd is owned below.
        let ep = syscall!(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: fresh descriptor.
        let ep = unsafe { OwnedFd::from_raw_fd(ep) };
        let d = EpollDriver {
            ep,
            entries: Vec::new(),
            done: VecDeque::new(),
            backlog: Vec::new(),
            buf: vec![0u8; READ_BUF].into_boxed_slice(),
            events: Vec::with_capacity(256),
            wake_fd,
            accept_ready: Vec::new(),
            pollfds: Vec::new(),
        };
        d.ctl(
            libc::EPOLL_CTL_ADD,
            wake_fd,
            libc::EPOLLIN as u32,
            WAKE_TOKEN,
        )?;
        Ok(d)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: `ev` is a valid epoll_event; the fd is owned by the caller.
        syscall!(unsafe { libc::epoll_ctl(self.ep.as_raw_fd(), op, fd, &mut ev) }).map(drop)
    }

    fn entry(&mut self, key: Key) -> &mut Entry {
        let slot = key.slot();
        if self.entries.len() <= slot {
            self.entries.resize_with(slot + 1, Entry::default);
        }
        &mut self.entries[slot]
    }

    fn register(&mut self, key: Key, fd: RawFd, listener: bool) -> io::Result<()> {
        let e = self.entry(key);
        if e.key == Some(key) {
            return Ok(());
        }
        *e = Entry {
            key: Some(key),
            fd,
            listener,
            ..Entry::default()
        };
        let events = if listener {
            libc::EPOLLIN | libc::EPOLLET
        } else {
            libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET
        };
        self.ctl(libc::EPOLL_CTL_ADD, fd, events as u32, key.slot() as u64)
    }

    fn apply(&mut self, req: Req) {
        match req {
            Req::Listen { key, fd } => {
                if let Err(e) = self.register(key, fd, true) {
                    self.done.push_back(Done::Connected(key, Err(e)));
                }
                // A connection may already be queued; edge-triggered add reports it, but be
                // robust and try once.
                self.entry(key).readable = true;
                self.accept_ready.push(key.slot());
            }
            Req::ResumeAccept { key } => {
                if let Some(e) = self.entries.get_mut(key.slot()) {
                    if e.key == Some(key) && e.listener {
                        e.accept_paused = false;
                        // The edge that announced the waiting connections was consumed
                        // by the failed accept: try once.
                        e.readable = true;
                        self.accept_ready.push(key.slot());
                    }
                }
            }
            Req::Connect { key, fd, addr } => {
                // SAFETY: `addr` holds a valid sockaddr of `len` bytes.
                let r = unsafe { libc::connect(fd, addr.as_ptr(), addr.len) };
                let err = (r == -1).then(io::Error::last_os_error);
                match err {
                    None => {
                        let reg = self.register(key, fd, false);
                        self.done.push_back(Done::Connected(key, reg));
                    }
                    Some(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
                        match self.register(key, fd, false) {
                            Ok(()) => self.entry(key).connecting = true,
                            Err(e) => self.done.push_back(Done::Connected(key, Err(e))),
                        }
                    }
                    Some(e) => self.done.push_back(Done::Connected(key, Err(e))),
                }
            }
            Req::StartRecv { key, fd } => {
                if let Err(e) = self.register(key, fd, false) {
                    log::warn!("epoll register failed: {e}");
                }
                let e = self.entry(key);
                e.recv_on = true;
                // Data may have arrived before we listened; edge-triggered epoll will not
                // report it again, so read once.
                e.readable = true;
                self.backlog.push(key.slot());
            }
            Req::StopRecv { key } => {
                if let Some(e) = self.entries.get_mut(key.slot()) {
                    if e.key == Some(key) {
                        e.recv_on = false;
                    }
                }
            }
            Req::Send { key, fd, lease } => match send_iov(fd, lease.iov()) {
                Ok(n) if n == lease.len() => self.done.push_back(Done::Sent(key, Ok(n), lease)),
                Ok(n) => self.entry(key).pending = Some((lease, n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.entry(key).pending = Some((lease, 0));
                }
                Err(e) => self.done.push_back(Done::Sent(key, Err(e), lease)),
            },
            Req::Close { key, fd } => {
                let raw = fd.as_raw_fd();
                if let Some(e) = self.entries.get_mut(key.slot()) {
                    if e.key == Some(key) {
                        *e = Entry::default();
                    }
                }
                // Deregistration fails only if it was never registered: ignore.
                let _ = self.ctl(libc::EPOLL_CTL_DEL, raw, 0, 0);
                drop(fd);
                self.done.push_back(Done::Closed(key));
            }
        }
    }

    /// Block in `poll(2)` on the epoll fd and `watch` for up to `ms`, setting the watched
    /// fds' `revents`.
    fn wait_with(&mut self, watch: &mut [libc::pollfd], ms: libc::c_int) -> io::Result<()> {
        self.pollfds.clear();
        self.pollfds.push(libc::pollfd {
            fd: self.ep.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        self.pollfds
            .extend(watch.iter().map(|w| libc::pollfd { revents: 0, ..*w }));
        let r = sys::poll_fds_ms(&mut self.pollfds, ms);
        for (w, p) in watch.iter_mut().zip(&self.pollfds[1..]) {
            w.revents = if r.is_ok() { p.revents } else { 0 };
        }
        r.map(drop)
    }

    /// Read until EAGAIN or the budget runs out. Returns true if more may be readable.
    fn read_conn<F>(&mut self, slot: usize, reqs: &mut Vec<Req>, on_event: &mut F) -> bool
    where
        F: FnMut(Event<'_>, &mut Vec<Req>),
    {
        for _ in 0..READ_BUDGET {
            let e = &self.entries[slot];
            let (Some(key), fd) = (e.key, e.fd) else {
                return false;
            };
            if !e.recv_on || !e.readable {
                return false;
            }
            // SAFETY: `buf` is a valid writable buffer of its length.
            let n = unsafe {
                libc::recv(
                    fd,
                    self.buf.as_mut_ptr() as *mut libc::c_void,
                    self.buf.len(),
                    0,
                )
            };
            let from = reqs.len();
            if n > 0 {
                on_event(
                    Event::Received {
                        key,
                        data: &self.buf[..n as usize],
                    },
                    reqs,
                );
            } else if n == 0 {
                self.entries[slot].readable = false;
                self.entries[slot].recv_on = false;
                on_event(Event::RecvClosed { key, err: None }, reqs);
                return false;
            } else {
                let err = io::Error::last_os_error();
                match err.kind() {
                    io::ErrorKind::WouldBlock => {
                        self.entries[slot].readable = false;
                        return false;
                    }
                    io::ErrorKind::Interrupted => {}
                    _ => {
                        self.entries[slot].readable = false;
                        self.entries[slot].recv_on = false;
                        on_event(
                            Event::RecvClosed {
                                key,
                                err: Some(err),
                            },
                            reqs,
                        );
                        return false;
                    }
                }
            }
            // The callback may have closed or paused the connection.
            let e = &self.entries[slot];
            if e.key != Some(key) {
                return false;
            }
            // A `StopRecv` the callback queued takes effect before the next read, so that a
            // connection whose inbound pipe filled up reads no further ahead of its reader.
            let asked = reqs[from..]
                .iter()
                .any(|r| matches!(r, Req::StopRecv { key: k } if *k == key));
            if asked {
                self.entries[slot].recv_on = false;
                return false;
            }
        }
        true
    }

    fn accept_all<F>(&mut self, slot: usize, reqs: &mut Vec<Req>, on_event: &mut F)
    where
        F: FnMut(Event<'_>, &mut Vec<Req>),
    {
        loop {
            let e = &self.entries[slot];
            let (Some(key), fd) = (e.key, e.fd) else {
                return;
            };
            // SAFETY: no address is requested; flags make the new fd non-blocking/cloexec.
            let r = unsafe {
                libc::accept4(
                    fd,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                )
            };
            if r >= 0 {
                // SAFETY: fresh descriptor from accept4.
                let fd = unsafe { OwnedFd::from_raw_fd(r) };
                on_event(Event::Accepted { key, fd }, reqs);
                continue;
            }
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::WouldBlock => {
                    self.entries[slot].readable = false;
                    return;
                }
                io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted => continue,
                _ => {
                    // EMFILE and friends: pause until the reactor's `ResumeAccept`.
                    self.entries[slot].readable = false;
                    self.entries[slot].accept_paused = true;
                    on_event(Event::AcceptFailed { key, err }, reqs);
                    return;
                }
            }
        }
    }

    fn flush_pending(&mut self, slot: usize) {
        let e = &mut self.entries[slot];
        let (Some(key), fd) = (e.key, e.fd) else {
            return;
        };
        let Some((lease, sent)) = e.pending.take() else {
            return;
        };
        let rest = advance_iov(lease.iov(), sent);
        match send_iov(fd, &rest) {
            Ok(n) if sent + n == lease.len() => {
                self.done.push_back(Done::Sent(key, Ok(sent + n), lease))
            }
            Ok(n) => e.pending = Some((lease, sent + n)),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => e.pending = Some((lease, sent)),
            Err(err) => self.done.push_back(Done::Sent(key, Err(err), lease)),
        }
    }
}

impl Driver for EpollDriver {
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
        for r in reqs.drain(..) {
            self.apply(r);
        }
        let busy =
            !self.done.is_empty() || !self.backlog.is_empty() || !self.accept_ready.is_empty();
        let mut ms = if busy { 0 } else { sys::timeout_ms(timeout) };
        // EINTR (a signal reached an inline wait) is reported after this turn's events are
        // handled.
        let mut interrupted = None;
        if !watch.is_empty() {
            // Wait for the epoll set (itself pollable) and the watched fds together, then
            // collect the set's events without blocking.
            if let Err(e) = self.wait_with(watch, ms) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
                interrupted = Some(e);
            }
            ms = 0;
        }
        self.events.clear();
        // SAFETY: `events` has capacity for `cap` entries; the kernel writes at most that many.
        let n = unsafe {
            libc::epoll_wait(
                self.ep.as_raw_fd(),
                self.events.as_mut_ptr(),
                self.events.capacity() as libc::c_int,
                ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
            interrupted = Some(e);
        } else {
            // SAFETY: the kernel initialised the first `n` entries.
            unsafe { self.events.set_len(n as usize) };
        }
        let mut ready = std::mem::take(&mut self.backlog);
        for i in 0..self.events.len() {
            let ev = self.events[i];
            let (token, bits) = (ev.u64, ev.events);
            if token == WAKE_TOKEN {
                sys::drain_eventfd(self.wake_fd);
                continue;
            }
            let slot = token as usize;
            let Some(e) = self.entries.get_mut(slot) else {
                continue;
            };
            let Some(key) = e.key else { continue };
            if e.listener {
                e.readable = true;
                self.accept_ready.push(slot);
                continue;
            }
            let err_bits = (libc::EPOLLERR | libc::EPOLLHUP) as u32;
            if bits & (libc::EPOLLOUT as u32 | err_bits) != 0 {
                if e.connecting {
                    e.connecting = false;
                    let fd = e.fd;
                    let res = match sys::take_error(fd) {
                        Ok(None) => Ok(()),
                        Ok(Some(err)) | Err(err) => Err(err),
                    };
                    self.done.push_back(Done::Connected(key, res));
                } else if e.pending.is_some() {
                    self.flush_pending(slot);
                }
            }
            let e = &mut self.entries[slot];
            if bits & (libc::EPOLLIN as u32 | libc::EPOLLRDHUP as u32 | err_bits) != 0 {
                e.readable = true;
                ready.push(slot);
            }
        }
        // Completions first (they may re-arm receives or close connections).
        while let Some(d) = self.done.pop_front() {
            match d {
                Done::Connected(key, result) => {
                    on_event(Event::Connected { key, result }, &mut *reqs)
                }
                Done::Sent(key, result, lease) => {
                    on_event(Event::Sent { key, result, lease }, &mut *reqs)
                }
                Done::Closed(key) => on_event(Event::Closed { key }, &mut *reqs),
            }
        }
        let mut listeners = std::mem::take(&mut self.accept_ready);
        listeners.sort_unstable();
        listeners.dedup();
        for slot in listeners {
            let e = &self.entries[slot];
            if e.listener && e.readable && !e.accept_paused {
                self.accept_all(slot, reqs, &mut on_event);
            }
        }
        ready.sort_unstable();
        ready.dedup();
        for slot in ready {
            if self.read_conn(slot, reqs, &mut on_event) {
                self.backlog.push(slot);
            }
        }
        interrupted.map_or(Ok(()), Err)
    }
}

/// The iovecs left after `n` bytes were sent (pointing into the same lease).
fn advance_iov(iov: &[libc::iovec], mut n: usize) -> Vec<libc::iovec> {
    let mut out = Vec::with_capacity(iov.len());
    for v in iov {
        if n >= v.iov_len {
            n -= v.iov_len;
            continue;
        }
        out.push(libc::iovec {
            // SAFETY: `n < iov_len`, so the pointer stays inside the same buffer.
            iov_base: unsafe { (v.iov_base as *mut u8).add(n) } as *mut libc::c_void,
            iov_len: v.iov_len - n,
        });
        n = 0;
    }
    out
}

fn send_iov(fd: RawFd, iov: &[libc::iovec]) -> io::Result<usize> {
    // SAFETY: zeroed msghdr is valid; we point it at the caller's live iovec array.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = iov.len().min(libc::UIO_MAXIOV as usize) as _;
    loop {
        // SAFETY: `msg` describes readable memory: the iovecs of a `SendLease` the driver
        // holds (or a suffix of them), which keeps that memory alive.
        let r = unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL) };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}
