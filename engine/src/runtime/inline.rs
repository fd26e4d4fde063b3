//! Run-to-completion ("inline") contexts: no reactor thread; application threads drive the
//! reactor themselves, one at a time.
//!
//! Leader/followers: a thread that must wait (a blocking `recv`/`send`, `poll`) and finds
//! the reactor free becomes the leader: it blocks inside the reactor (`io_uring_enter` /
//! `epoll_wait`, plus any raw fds it polls) until its own condition holds, handling every
//! connection's I/O meanwhile. A thread that finds a leader becomes a follower: it sleeps on
//! its sockets' eventfds, which the reactor signals when their pipes change, because the
//! leader's I/O is theirs too. When the leader leaves, it wakes every follower so one of
//! them takes over; a follower registers before its last attempt to take the lead, so
//! either it gets the lead or the leaving leader sees it (both touch the follower list
//! under one lock). Nothing waits in slices or re-scans: every wake-up has a sender.

use std::os::fd::RawFd;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, TryLockError};
use std::time::{Duration, Instant};

use super::reactor::Reactor;
use super::reactor_set::ReactorSet;
use super::shared::{Parker, ReactorHandle};
use crate::backend::{sys, UringFeatures};
use crate::backend::{AnyDriver, Backend};

/// The reactor of an inline context.
pub(crate) type InlineReactor = Reactor<AnyDriver>;

/// Open the reactor of an inline context on `backend` (or its fallback).
///
/// `single_thread`: only the creating thread will drive it (io_uring can then defer its
/// completion work to that thread). Otherwise completions must reach the CQ whichever
/// thread submitted the operation and whatever it does now: with `DEFER_TASKRUN` or
/// `COOP_TASKRUN` they would wait for the submitting thread's next system call, so a
/// thread that submitted a receive and then went to sleep on its socket would hide that
/// receive's data from the thread leading the reactor.
pub(crate) fn open_inline(
    backend: Backend,
    h: Arc<ReactorHandle>,
    peers: Arc<ReactorSet>,
    spin: Duration,
    single_thread: bool,
    features: UringFeatures,
) -> std::io::Result<(InlineReactor, Backend)> {
    let d = AnyDriver::open(backend, h.parker.fd(), single_thread, features)?;
    let actual = d.backend();
    Ok((Reactor::new(h, d, peers, spin), actual))
}

/// How an inline wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waited {
    /// The condition holds, or a watched fd is ready.
    Ready,
    TimedOut,
}

/// The driving side of an inline context.
pub(crate) struct Inline {
    reactor: Mutex<InlineReactor>,
    handle: Arc<ReactorHandle>,
    /// Eventfds of the followers (one per waiting thread): signalled when a leader leaves.
    followers: Mutex<Vec<RawFd>>,
    /// Busy-poll this long before blocking (`ContextBuilder::spin`).
    spin: Duration,
}

impl Inline {
    pub(crate) fn new(
        reactor: InlineReactor,
        handle: Arc<ReactorHandle>,
        spin: Duration,
    ) -> Inline {
        Inline {
            reactor: Mutex::new(reactor),
            handle,
            followers: Mutex::new(Vec::new()),
            spin,
        }
    }

    /// The reactor, for the context's teardown (no other thread is left then).
    pub(crate) fn into_reactor(self) -> InlineReactor {
        self.reactor.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    /// Do the pending I/O now without blocking. If another thread leads, it does that work
    /// (the commands that asked for it woke it), so there is nothing to do here.
    pub(crate) fn drive_now(&self) -> std::io::Result<()> {
        match self.reactor.try_lock() {
            Ok(mut r) => {
                let res = r.turn_inline(Some(Duration::ZERO), &mut []).map(drop);
                drop(r);
                self.wake_followers();
                res
            }
            Err(TryLockError::Poisoned(p)) => {
                let res = p
                    .into_inner()
                    .turn_inline(Some(Duration::ZERO), &mut [])
                    .map(drop);
                self.wake_followers();
                res
            }
            Err(TryLockError::WouldBlock) => Ok(()),
        }
    }

    /// Block until `ready()` holds, a `watch`ed fd is ready, or `deadline` passes, leading
    /// the reactor whenever no other thread does. `sleepers` are the parkers a follower
    /// sleeps on (the reactor signals them when the caller's sockets change); there must be
    /// at least one. EINTR (a signal arrived) is returned as an error.
    pub(crate) fn wait(
        &self,
        sleepers: &[&Parker],
        watch: &mut [libc::pollfd],
        deadline: Option<Instant>,
        ready: &mut dyn FnMut() -> bool,
    ) -> std::io::Result<Waited> {
        assert!(!sleepers.is_empty(), "an inline wait needs a parker");
        loop {
            if ready() {
                return Ok(Waited::Ready);
            }
            let guard = match self.reactor.try_lock() {
                Ok(g) => Some(g),
                Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            };
            if let Some(mut r) = guard {
                let res = self.lead(&mut r, watch, deadline, ready);
                if !watch.is_empty() {
                    r.unwatch();
                }
                drop(r);
                self.wake_followers();
                return res;
            }
            match self.follow(sleepers, watch, deadline, ready)? {
                Some(w) => return Ok(w),
                None => continue,
            }
        }
    }

    /// The leader's loop: turns of the reactor until the caller's condition holds.
    fn lead(
        &self,
        r: &mut InlineReactor,
        watch: &mut [libc::pollfd],
        deadline: Option<Instant>,
        ready: &mut dyn FnMut() -> bool,
    ) -> std::io::Result<Waited> {
        let spin_until = (!self.spin.is_zero()).then(|| Instant::now() + self.spin);
        loop {
            let now = Instant::now();
            let mut wait = deadline.map(|d| d.saturating_duration_since(now));
            if spin_until.is_some_and(|s| now < s) {
                wait = Some(Duration::ZERO);
            }
            r.turn_inline(wait, watch)?;
            if self.handle.acked.swap(false, Ordering::AcqRel) {
                // A close was acknowledged: its thread may be one of our followers.
                self.wake_followers();
            }
            if ready() || watch.iter().any(|w| w.revents != 0) {
                return Ok(Waited::Ready);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(Waited::TimedOut);
            }
        }
    }

    /// A follower's sleep. Returns None when the caller should try to lead again (the
    /// leader left, or news arrived that `ready()` must look at).
    fn follow(
        &self,
        sleepers: &[&Parker],
        watch: &mut [libc::pollfd],
        deadline: Option<Instant>,
        ready: &mut dyn FnMut() -> bool,
    ) -> std::io::Result<Option<Waited>> {
        let me = sleepers[0].fd();
        self.followers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(me);
        let out = self.follow_registered(sleepers, watch, deadline, ready);
        let mut f = self.followers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = f.iter().position(|&fd| fd == me) {
            f.swap_remove(i);
        }
        out
    }

    fn follow_registered(
        &self,
        sleepers: &[&Parker],
        watch: &mut [libc::pollfd],
        deadline: Option<Instant>,
        ready: &mut dyn FnMut() -> bool,
    ) -> std::io::Result<Option<Waited>> {
        // Registered first, so a leader leaving from now on wakes us: if it already left,
        // the lead is free now.
        match self.reactor.try_lock() {
            Err(TryLockError::WouldBlock) => {}
            _ => return Ok(None),
        }
        for p in sleepers {
            p.announce();
        }
        let mut fds: Vec<libc::pollfd> = sleepers
            .iter()
            .map(|p| libc::pollfd {
                fd: p.fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        fds.extend(watch.iter().map(|w| libc::pollfd { revents: 0, ..*w }));
        let res = if ready() {
            Ok(Some(Waited::Ready))
        } else {
            let ms = match deadline {
                None => -1,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    sys::timeout_ms(Some(left))
                }
            };
            match sys::poll_fds_ms(&mut fds, ms) {
                Err(e) => Err(e),
                Ok(_) => {
                    let n = sleepers.len();
                    for (w, p) in watch.iter_mut().zip(&fds[n..]) {
                        w.revents = p.revents;
                    }
                    if watch.iter().any(|w| w.revents != 0) {
                        Ok(Some(Waited::Ready))
                    } else if deadline.is_some_and(|d| Instant::now() >= d) && !ready() {
                        Ok(Some(Waited::TimedOut))
                    } else {
                        Ok(None)
                    }
                }
            }
        };
        for p in sleepers {
            p.clear();
            p.reset();
        }
        res
    }

    /// The leader is leaving: every follower gets a chance to take over.
    fn wake_followers(&self) {
        let f = self.followers.lock().unwrap_or_else(|e| e.into_inner());
        for &fd in f.iter() {
            // Under the lock: a follower unregisters (and may drop its eventfd) only after.
            sys::signal_eventfd(fd);
        }
    }
}
