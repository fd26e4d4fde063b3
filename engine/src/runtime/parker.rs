//! Parking a thread on an eventfd so that waking it costs a syscall only when it sleeps.

use std::os::fd::RawFd;
use std::time::Duration;

use crate::sync::{fence, AtomicBool, Ordering};

#[cfg(not(loom))]
use crate::backend::sys::EventFd;
#[cfg(loom)]
use model::EventFd;

/// A thread that may park and be woken: waking costs a syscall only if it announced
/// `parked` (Dekker-style: announce, fence, re-check work, then sleep).
pub(crate) struct Parker {
    fd: EventFd,
    parked: AtomicBool,
    /// Someone watches the fd from outside (poll, an event loop): signal every change, not
    /// only while parked.
    watched: AtomicBool,
}

impl Parker {
    pub(crate) fn new() -> std::io::Result<Parker> {
        Ok(Parker {
            fd: EventFd::new()?,
            parked: AtomicBool::new(false),
            watched: AtomicBool::new(false),
        })
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.fd.fd()
    }

    /// The eventfd, borrowed (there is none in the loom model).
    #[cfg(not(loom))]
    pub(crate) fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Wake the owner if it is (about to be) parked. Call after publishing the work.
    #[inline]
    pub(crate) fn unpark(&self) {
        fence(Ordering::SeqCst);
        if self.parked.load(Ordering::Relaxed) || self.watched.load(Ordering::Relaxed) {
            self.fd.signal();
        }
    }

    /// Signal the fd unconditionally.
    pub(crate) fn signal(&self) {
        self.fd.signal();
    }

    /// Whether `watch` was called.
    pub(crate) fn is_watched(&self) -> bool {
        self.watched.load(Ordering::Relaxed)
    }

    /// From now on every `unpark` signals the fd (it is watched by a poller).
    pub(crate) fn watch(&self) {
        self.watched.store(true, Ordering::SeqCst);
    }

    /// Reset the fd's readability (before re-checking state).
    pub(crate) fn reset(&self) {
        self.fd.drain();
    }

    /// Announce parking. The caller must re-check for work after this and before sleeping.
    pub(crate) fn announce(&self) {
        self.parked.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    pub(crate) fn clear(&self) {
        self.parked.store(false, Ordering::Relaxed);
    }

    /// Sleep on the eventfd (after `announce` + re-check). EINTR (a signal arrived) is
    /// returned as an error.
    pub(crate) fn sleep(&self, timeout: Option<Duration>) -> std::io::Result<()> {
        let r = self.fd.wait(timeout);
        self.clear();
        self.fd.drain();
        r.map(drop)
    }
}

/// A model of the eventfd for loom: a flag under a mutex, waited for with a condition
/// variable, so a missed wake-up shows up as a deadlock. Timeouts are not modelled.
#[cfg(loom)]
mod model {
    use loom::sync::{Condvar, Mutex};
    use std::os::fd::RawFd;
    use std::time::Duration;

    pub(crate) struct EventFd {
        set: Mutex<bool>,
        cv: Condvar,
    }

    impl EventFd {
        pub(crate) fn new() -> std::io::Result<EventFd> {
            Ok(EventFd {
                set: Mutex::new(false),
                cv: Condvar::new(),
            })
        }

        pub(crate) fn fd(&self) -> RawFd {
            -1
        }

        pub(crate) fn signal(&self) {
            *self.set.lock().unwrap() = true;
            self.cv.notify_all();
        }

        pub(crate) fn drain(&self) {
            *self.set.lock().unwrap() = false;
        }

        pub(crate) fn wait(&self, timeout: Option<Duration>) -> std::io::Result<bool> {
            assert!(timeout.is_none(), "the model has no timeouts");
            let mut g = self.set.lock().unwrap();
            while !*g {
                g = self.cv.wait(g).unwrap();
            }
            Ok(true)
        }
    }
}
