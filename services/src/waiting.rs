//! Leader/follower waiting for handles shared between threads (the gateway's ROUTER, a SPOT
//! node's SUB): the sockets sit behind a mutex that is never held while waiting, so a
//! thread blocked in a receive never stalls another's send or subscribe.
//!
//! A blocking call first tries without blocking. If it must wait, one waiting thread (the
//! leader) re-arms the sockets' edge-style readiness fds, lets every waiter try again, and
//! sleeps on the fds; the others sleep on a condition variable until the leader wakes (or
//! hands over). Only the leader re-arms the fds, so no waiter can lose a wake-up another
//! consumed. [`Waiting::poke`] makes every waiter try again (e.g. after a local delivery);
//! a parked leader also needs one of its fds signalled, which the caller does when `poke`
//! says a leader is parked.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use ringlink::{Error, PollItem, Result, POLLIN};

#[derive(Debug, Default)]
struct Waiters {
    /// A thread sleeps (or is about to) on the readiness fds.
    leader: bool,
}

/// The waiters of one shared handle.
#[derive(Debug, Default)]
pub(crate) struct Waiting {
    waiters: Mutex<Waiters>,
    /// Bumped (under the lock) whenever waiters must try again; read without it on the
    /// fast path, where a call that need not wait takes no lock of this.
    epoch: AtomicU64,
    /// Threads past their first attempt (about to wait, or waiting).
    sleepers: AtomicUsize,
    wake: Condvar,
}

/// Counts a thread among the sleepers while it lives.
struct Sleeper<'a>(&'a AtomicUsize);

impl Drop for Sleeper<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Waiting {
    fn lock(&self) -> MutexGuard<'_, Waiters> {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Let every waiter try again; returns whether a leader is (or may be) parked on the
    /// fds, which then need a signal of their own.
    pub(crate) fn poke(&self) -> bool {
        self.bump(false)
    }

    fn bump(&self, release_leader: bool) -> bool {
        let mut w = self.lock();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let leader = w.leader;
        if release_leader {
            w.leader = false;
        }
        drop(w);
        self.wake.notify_all();
        leader
    }

    /// Something to take appeared where the fds do not show it (a shared buffer): every
    /// waiter must look again. Returns whether any thread waits (or is about to), which then
    /// needs [`Waiting::poke`] (and a parked leader its fd signalled); when none does, this
    /// costs an atomic add and a load.
    pub(crate) fn announce(&self) -> bool {
        // Paired with `run`: a thread that counts itself a sleeper and then finds the epoch
        // unchanged is seen here (both sequentially consistent).
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.sleepers.load(Ordering::SeqCst) > 0
    }

    /// Run `op` until it yields a result, waiting as above whenever it yields `None`.
    /// `op(rearm)`: with `rearm` the caller re-arms the fds (reads each socket's events)
    /// before trying. `deadline` `None` waits without limit.
    ///
    /// # Errors
    /// What `op` returns; `Again` once `deadline` passed; `poll`'s errors.
    pub(crate) fn run<R>(
        &self,
        fds: &[RawFd],
        deadline: Option<Instant>,
        mut op: impl FnMut(bool) -> Result<Option<R>>,
    ) -> Result<R> {
        let mut sleeper = None;
        loop {
            // Read before trying: a change after this point bumps the epoch.
            let epoch = self.epoch.load(Ordering::Acquire);
            if let Some(r) = op(false)? {
                return Ok(r);
            }
            if sleeper.is_none() {
                self.sleepers.fetch_add(1, Ordering::SeqCst);
                sleeper = Some(Sleeper(&self.sleepers));
            }
            let mut w = self.lock();
            if self.epoch.load(Ordering::SeqCst) != epoch {
                continue;
            }
            if w.leader {
                while self.epoch.load(Ordering::Acquire) == epoch {
                    w = crate::control::wait_until(&self.wake, w, deadline)?;
                }
                continue;
            }
            w.leader = true;
            drop(w);
            let r = self.lead(fds, deadline, &mut op);
            self.bump(true);
            if let Some(r) = r? {
                return Ok(r);
            }
        }
    }

    /// The leader's turn: re-arm, let everyone (itself included) try again after that,
    /// then sleep on the fds.
    fn lead<R>(
        &self,
        fds: &[RawFd],
        deadline: Option<Instant>,
        op: &mut impl FnMut(bool) -> Result<Option<R>>,
    ) -> Result<Option<R>> {
        if let Some(r) = op(true)? {
            return Ok(Some(r));
        }
        self.bump(false);
        let timeout = match deadline {
            None => None,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Error::Again);
                }
                Some(left)
            }
        };
        let mut items: Vec<PollItem<'_>> = fds.iter().map(|&fd| PollItem::fd(fd, POLLIN)).collect();
        ringlink::poll(&mut items, timeout)?;
        Ok(None)
    }
}
