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
//!
//! An event loop (a binding's) takes part without blocking a thread: [`Waiting::loop_step`]
//! makes it the leader when no thread leads (it then polls the readiness fd itself, and
//! re-arms and lets everyone try again each time that fires) or a follower woken through a
//! notifier socket of its own; [`Waiting::loop_done`] hands the lead back.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use ringlink::{Error, PollItem, Result, POLLIN};

/// Who sleeps on the readiness fds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Leader {
    #[default]
    None,
    /// A thread in [`Waiting::run`] (or about to be).
    Thread,
    /// The event loop of [`Waiting::loop_step`].
    Loop,
}

#[derive(Debug, Default)]
struct Waiters {
    leader: Leader,
    /// An event loop waits (from its first `loop_step` to `loop_done`).
    looping: bool,
    /// The loop's notifier holds a wake-up it has not read.
    signalled: bool,
    /// The loop's notifier (its end to poll, ours to write), made on its first step.
    notifier: Option<(UnixStream, UnixStream)>,
    /// Threads asleep on the condition variable: a bump with none skips the notify (a
    /// system call in std's futex condvar even with no waiter, twice per full wait).
    followers: usize,
}

impl Waiters {
    /// Wake the loop if it follows and has no unread wake-up (under the lock, so a drain
    /// never races a write).
    fn signal_loop(&mut self) {
        if !self.looping || self.leader == Leader::Loop || self.signalled {
            return;
        }
        if let Some((_, mut tx)) = self.notifier.as_ref().map(|(r, t)| (r, t)) {
            match tx.write(&[1]) {
                // WouldBlock: the socket is full of wake-ups already.
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => log::warn!("event-loop wake-up not sent: {e}"),
            }
            self.signalled = true;
        }
    }

    /// Read the loop's wake-ups.
    fn drain(&mut self) {
        if !std::mem::take(&mut self.signalled) {
            return;
        }
        if let Some((mut rx, _)) = self.notifier.as_ref().map(|(r, t)| (r, t)) {
            let mut buf = [0u8; 64];
            while matches!(rx.read(&mut buf), Ok(n) if n > 0) {}
        }
    }
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
        let leader = w.leader != Leader::None;
        if release_leader {
            w.leader = Leader::None;
        }
        w.signal_loop();
        let followers = w.followers > 0;
        drop(w);
        if followers {
            self.wake.notify_all();
        }
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
            if w.leader != Leader::None {
                // Counted under the lock, as the bump that must wake us reads it.
                w.followers += 1;
                while self.epoch.load(Ordering::Acquire) == epoch {
                    match crate::control::wait_until(&self.wake, w, deadline) {
                        Ok(g) => w = g,
                        Err(e) => {
                            self.lock().followers -= 1;
                            return Err(e);
                        }
                    }
                }
                w.followers -= 1;
                continue;
            }
            w.leader = Leader::Thread;
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

    /// An event loop's step of a wait on a handle whose wake-ups all come through `fd`
    /// (one loop per handle): call it after a call failed for want of something, retry
    /// every such call, and if they fail again poll the returned fd (POLLIN) and step again
    /// when it is readable. Until [`Waiting::loop_done`], blocked threads may rely on the
    /// loop's steps: when it leads, it is the one that sleeps on `fd`.
    ///
    /// Leading (no thread does), the loop re-arms `fd` with `rearm`, lets every waiter try
    /// again and gets `fd` back; following a thread leader, it gets the notifier's fd,
    /// which becomes readable whenever waiters must try again.
    ///
    /// # Errors
    /// `rearm`'s (the lead is given back); the notifier's creation.
    pub(crate) fn loop_step(&self, fd: RawFd, rearm: impl FnOnce() -> Result<()>) -> Result<RawFd> {
        let mut w = self.lock();
        if w.notifier.is_none() {
            let pair = UnixStream::pair()?;
            pair.0.set_nonblocking(true)?;
            pair.1.set_nonblocking(true)?;
            w.notifier = Some(pair);
        }
        if !w.looping {
            w.looping = true;
            self.sleepers.fetch_add(1, Ordering::SeqCst);
        }
        // Read before the caller retries: a later bump writes again.
        w.drain();
        if w.leader == Leader::Thread {
            return Ok(w.notifier.as_ref().map_or(fd, |(rx, _)| rx.as_raw_fd()));
        }
        w.leader = Leader::Loop;
        drop(w);
        if let Err(e) = rearm() {
            self.loop_done();
            return Err(e);
        }
        // Whatever the re-arm consumed, every waiter looks again.
        self.bump(false);
        Ok(fd)
    }

    /// The event loop waits no more: a lead it holds goes to the next waiting thread.
    pub(crate) fn loop_done(&self) {
        let mut w = self.lock();
        if !w.looping {
            return;
        }
        w.looping = false;
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
        w.drain();
        let led = w.leader == Leader::Loop;
        if led {
            w.leader = Leader::None;
        }
        drop(w);
        if led {
            self.bump(false);
        }
    }
}

#[cfg(test)]
mod tests {
    //! The hand-offs between threads and an event loop, with a socket pair standing in for
    //! a handle's readiness fd (written: something changed; drained by the re-arm).

    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use std::time::Duration;

    const LONG: Duration = Duration::from_secs(20);

    struct Handle {
        waiting: Waiting,
        /// The readiness fd (`.0`, polled) and its writer (`.1`).
        ready: (UnixStream, UnixStream),
        /// What the waiters wait for.
        flag: AtomicBool,
        /// Re-arms by a thread (only a thread leader may).
        thread_rearms: AtomicUsize,
    }

    fn handle() -> Arc<Handle> {
        let ready = UnixStream::pair().unwrap();
        ready.0.set_nonblocking(true).unwrap();
        Arc::new(Handle {
            waiting: Waiting::default(),
            ready,
            flag: AtomicBool::new(false),
            thread_rearms: AtomicUsize::new(0),
        })
    }

    impl Handle {
        fn fd(&self) -> RawFd {
            self.ready.0.as_raw_fd()
        }
        fn rearm(&self) {
            let mut buf = [0u8; 64];
            while matches!((&self.ready.0).read(&mut buf), Ok(n) if n > 0) {}
        }
        fn change(&self) {
            self.flag.store(true, Ordering::SeqCst);
            (&self.ready.1).write_all(&[1]).unwrap();
        }
        fn step(&self) -> RawFd {
            self.waiting
                .loop_step(self.fd(), || {
                    self.rearm();
                    Ok(())
                })
                .unwrap()
        }
        /// A thread's blocking call: waits for the flag, takes it.
        fn blocking(self: &Arc<Self>) -> std::thread::JoinHandle<()> {
            let h = self.clone();
            std::thread::spawn(move || {
                let fd = h.fd();
                h.waiting
                    .run(&[fd], Some(Instant::now() + LONG), |rearm| {
                        if rearm {
                            h.rearm();
                            h.thread_rearms.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(h.flag.swap(false, Ordering::SeqCst).then_some(()))
                    })
                    .unwrap();
            })
        }
        fn leader(&self) -> Leader {
            self.waiting.lock().leader
        }
        fn until(&self, what: &str, mut cond: impl FnMut(&Self) -> bool) {
            let end = Instant::now() + LONG;
            while !cond(self) {
                assert!(Instant::now() < end, "timed out waiting for {what}");
                std::thread::yield_now();
            }
        }
    }

    fn readable(fd: RawFd) -> bool {
        let mut items = [PollItem::fd(fd, POLLIN)];
        ringlink::poll(&mut items, Some(LONG)).unwrap() == 1
    }

    #[test]
    fn a_loop_that_leads_wakes_the_threads_that_follow() {
        let h = handle();
        assert_eq!(h.step(), h.fd());
        assert_eq!(h.leader(), Leader::Loop);
        let t = h.blocking();
        // The thread follows: the loop's sleeper and the thread's.
        h.until("the thread to wait", |h| {
            h.waiting.sleepers.load(Ordering::SeqCst) == 2
        });
        h.change();
        assert!(readable(h.fd()));
        assert_eq!(h.step(), h.fd());
        t.join().unwrap();
        assert_eq!(h.thread_rearms.load(Ordering::SeqCst), 0);
        h.waiting.loop_done();
        assert_eq!(h.leader(), Leader::None);
        assert_eq!(h.waiting.sleepers.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_loop_that_follows_is_woken_when_the_thread_gives_up_the_lead() {
        let h = handle();
        let t = h.blocking();
        // Re-armed once: the thread leads and sleeps on the fd.
        h.until("the thread to lead", |h| {
            h.thread_rearms.load(Ordering::SeqCst) == 1
        });
        assert_eq!(h.leader(), Leader::Thread);
        let notifier = h.step();
        assert_ne!(notifier, h.fd());
        h.change();
        t.join().unwrap();
        // The lead came free: the loop hears of it and takes it.
        assert!(readable(notifier));
        assert_eq!(h.step(), h.fd());
        assert_eq!(h.leader(), Leader::Loop);
        // Read by the step: quiet until the next wake-up.
        let mut items = [PollItem::fd(notifier, POLLIN)];
        assert_eq!(ringlink::poll(&mut items, Some(Duration::ZERO)).unwrap(), 0);
        h.waiting.loop_done();
    }

    #[test]
    fn loop_done_hands_the_lead_to_a_waiting_thread() {
        let h = handle();
        assert_eq!(h.step(), h.fd());
        let t = h.blocking();
        h.until("the thread to wait", |h| {
            h.waiting.sleepers.load(Ordering::SeqCst) == 2
        });
        h.waiting.loop_done();
        h.until("the thread to lead", |h| {
            h.thread_rearms.load(Ordering::SeqCst) == 1
        });
        h.change();
        t.join().unwrap();
        assert_eq!(h.leader(), Leader::None);
    }
}
