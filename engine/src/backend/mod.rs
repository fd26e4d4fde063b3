//! I/O backends behind one small driver interface.
//!
//! The reactor (`runtime::reactor`) owns all connection logic: codec, pipes, batching, timers.
//! A driver only moves bytes: it takes requests ([`Req`]) and reports completions ([`Event`]).
//! Both drivers give the same guarantees, so every test runs unchanged on either:
//! * at most one `Send` per key is in flight; its `SendLease` keeps the bytes alive until the
//!   driver gives it back in `Sent` (or drops it when the key closes);
//! * `Received` data is borrowed for the duration of the callback only (the io_uring buffer goes
//!   back to the provided-buffer ring right after);
//! * after `Close`, exactly one `Closed` is reported once no operation on the key is in flight,
//!   and the fd is closed by then, so the key's slot can be reused safely.

pub(crate) mod epoll;
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) mod mem;
pub mod sys;
pub(crate) mod uring;

use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::time::Duration;

use crate::pipe::SendLease;
use sys::SockAddr;

/// Which backend a context runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// io_uring: multishot accept/recv with a provided-buffer ring, batched sends.
    Uring,
    /// epoll readiness with non-blocking recv/sendmsg.
    Epoll,
}

impl Backend {
    /// Lower-case name, as accepted by `RINGLINK_BACKEND`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Uring => "uring",
            Backend::Epoll => "epoll",
        }
    }
}

/// io_uring features the driver uses where the kernel has them (each falls back silently
/// where it does not). All on by default; turning one off measures what it is worth
/// (`ringlink-bench compare` runs the `-plain` variants with all of them off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UringFeatures {
    /// Register the ring's fd and enter through its index (`IORING_ENTER_REGISTERED_RING`,
    /// Linux 5.18): no file-table lookup per `io_uring_enter`. Used by reactor threads
    /// only: a registration belongs to the thread that made it and keeps the ring alive
    /// until that thread undoes it or exits, and an inline context may be dropped on
    /// another thread than the one that drove it.
    pub registered_ring: bool,
    /// `IORING_SETUP_NO_SQARRAY` (Linux 6.6): the kernel reads submissions straight from
    /// the ring, without the index array.
    pub no_sqarray: bool,
    /// Before blocking in `io_uring_enter`, look at the completion queue: completions
    /// already there are handled without a system call.
    pub reap_before_wait: bool,
    /// `IORING_SETUP_SQPOLL` (Linux 5.11 unprivileged) with this idle time before the
    /// kernel's submission thread sleeps: while it polls, submitting takes no system call
    /// (waiting for completions still does). Off by default: the polling thread is one more
    /// busy thread per ring, which on a 2-vCPU machine takes the CPU its peers need
    /// (`ringlink-bench compare` measures it in the `-sqpoll` rows). It excludes deferred
    /// task work and the ring fd registration, which the ring then goes without; a kernel
    /// that refuses it gets the ring without it.
    pub sqpoll_idle: Option<std::time::Duration>,
}

impl UringFeatures {
    /// Every feature off: the plain ring of earlier versions.
    pub const NONE: UringFeatures = UringFeatures {
        registered_ring: false,
        no_sqarray: false,
        reap_before_wait: false,
        sqpoll_idle: None,
    };
}

impl Default for UringFeatures {
    fn default() -> Self {
        UringFeatures {
            registered_ring: true,
            no_sqarray: true,
            reap_before_wait: true,
            sqpoll_idle: None,
        }
    }
}

/// Identifies one endpoint (listener or connection) of a reactor: slot and generation, so a
/// completion for a closed endpoint can never reach the slot's next occupant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key(pub(crate) u64);

impl Key {
    pub(crate) const WAKE: Key = Key((1 << 48) - 1);

    pub(crate) fn new(slot: usize, generation: u32) -> Key {
        debug_assert!(slot < (1 << 24));
        Key(((generation as u64 & 0xFF_FFFF) << 24) | slot as u64)
    }

    pub(crate) fn slot(self) -> usize {
        (self.0 & 0xFF_FFFF) as usize
    }
}

/// A request to the driver.
pub(crate) enum Req {
    /// Accept connections on a listening socket until `Close`.
    Listen { key: Key, fd: RawFd },
    /// Accept again after an `AcceptFailed`. A failed accept pauses the listener: the usual
    /// causes (a full descriptor table, no memory) persist for a while, so retrying at once
    /// would spin, and the reactor retries after a back-off instead. Connections arriving in
    /// the meantime wait in the kernel's backlog.
    ResumeAccept { key: Key },
    /// Connect a fresh non-blocking socket.
    Connect { key: Key, fd: RawFd, addr: SockAddr },
    /// Deliver received data until `StopRecv` or `Close`.
    StartRecv { key: Key, fd: RawFd },
    /// Pause receiving (the application is not reading). Data already received may still
    /// arrive as `Received`.
    StopRecv { key: Key },
    /// Send the bytes the lease describes. The driver keeps the lease (and so the memory its
    /// iovecs point into) until the kernel is done with it, then returns it in `Sent`, or
    /// drops it if the key is closing.
    Send {
        key: Key,
        fd: RawFd,
        lease: SendLease,
    },
    /// Cancel everything on the key, close the fd, then report `Closed`.
    Close { key: Key, fd: OwnedFd },
}

/// A completion reported by the driver.
pub(crate) enum Event<'a> {
    Accepted {
        key: Key,
        fd: OwnedFd,
    },
    /// Accepting failed; the listener is paused until `ResumeAccept`.
    AcceptFailed {
        key: Key,
        err: io::Error,
    },
    Connected {
        key: Key,
        result: io::Result<()>,
    },
    Received {
        key: Key,
        data: &'a [u8],
    },
    /// The peer closed (None) or the connection failed.
    RecvClosed {
        key: Key,
        err: Option<io::Error>,
    },
    /// A send completed (`result`: bytes the kernel took); its lease comes back.
    Sent {
        key: Key,
        result: io::Result<usize>,
        lease: SendLease,
    },
    Closed {
        key: Key,
    },
}

/// The interface both backends implement. The reactor is generic over it (no dynamic
/// dispatch on the hot path).
pub(crate) trait Driver {
    /// Apply `reqs`, wait for completions (at most `timeout`; None = until something happens),
    /// and hand each to `on_event`, which may queue further requests into `reqs`.
    ///
    /// `watch`: descriptors that also end the wait when ready (`events` as for `poll(2)`);
    /// their `revents` are set. Inline contexts use it for `poll` on sockets and raw fds, so
    /// a thread blocks in one place for both. Empty on the reactor threads' hot path.
    fn poll<F>(
        &mut self,
        reqs: &mut Vec<Req>,
        timeout: Option<Duration>,
        watch: &mut [libc::pollfd],
        on_event: F,
    ) -> io::Result<()>
    where
        F: FnMut(Event<'_>, &mut Vec<Req>);

    /// Stop watching the fds of earlier `poll` calls (the wait that needed them is over).
    /// A watch may stay armed between consecutive polls with the same list.
    fn unwatch(&mut self) {}
}

/// The driver a reactor runs on. One enum rather than a generic parameter per backend: the
/// match costs one branch per `poll` (not per message), and every reactor, threaded or inline,
/// is the same type. One lives per reactor and never moves once running, so the size
/// difference between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum AnyDriver {
    Uring(uring::UringDriver),
    Epoll(epoll::EpollDriver),
    /// The in-memory driver of tests and the fuzzing harness.
    #[cfg(any(test, feature = "fuzzing"))]
    Mem(mem::MemDriver),
}

impl AnyDriver {
    /// Open a driver for `backend`, waking on `wake_fd`. An io_uring ring that cannot be set
    /// up (memory limits, a kernel without a feature we need) falls back to epoll, with a
    /// warning: whether io_uring was asked for explicitly is checked earlier, with
    /// [`probe_uring`], so that such a request fails instead.
    ///
    /// `single_issuer`: only one thread will ever drive this ring (io_uring may then defer
    /// completion work to that thread). An inline context driven by several threads must not
    /// set it: a completion would wait for the submitting thread's next system call.
    pub(crate) fn open(
        backend: Backend,
        wake_fd: RawFd,
        single_issuer: bool,
        features: UringFeatures,
    ) -> io::Result<AnyDriver> {
        if backend == Backend::Uring {
            let cfg = uring::BufConfig::default();
            match uring::UringDriver::new(wake_fd, single_issuer, cfg, features) {
                Ok(d) => return Ok(AnyDriver::Uring(d)),
                Err(e) => log::warn!("io_uring ring setup failed ({e}); using epoll"),
            }
        }
        epoll::EpollDriver::new(wake_fd).map(AnyDriver::Epoll)
    }

    /// The backend actually in use (the in-memory driver reports epoll).
    pub(crate) fn backend(&self) -> Backend {
        match self {
            AnyDriver::Uring(_) => Backend::Uring,
            AnyDriver::Epoll(_) => Backend::Epoll,
            #[cfg(any(test, feature = "fuzzing"))]
            AnyDriver::Mem(_) => Backend::Epoll,
        }
    }
}

impl Driver for AnyDriver {
    #[inline]
    fn poll<F>(
        &mut self,
        reqs: &mut Vec<Req>,
        timeout: Option<Duration>,
        watch: &mut [libc::pollfd],
        on_event: F,
    ) -> io::Result<()>
    where
        F: FnMut(Event<'_>, &mut Vec<Req>),
    {
        match self {
            AnyDriver::Uring(d) => d.poll(reqs, timeout, watch, on_event),
            AnyDriver::Epoll(d) => d.poll(reqs, timeout, watch, on_event),
            #[cfg(any(test, feature = "fuzzing"))]
            AnyDriver::Mem(d) => d.poll(reqs, timeout, watch, on_event),
        }
    }

    fn unwatch(&mut self) {
        match self {
            AnyDriver::Uring(d) => d.unwatch(),
            AnyDriver::Epoll(d) => d.unwatch(),
            #[cfg(any(test, feature = "fuzzing"))]
            AnyDriver::Mem(d) => d.unwatch(),
        }
    }
}

/// Whether io_uring with the features we need can be set up here. Errors say why not
/// (ENOSYS: old kernel or seccomp; EPERM: `kernel.io_uring_disabled` or a sandbox).
pub(crate) fn probe_uring() -> io::Result<()> {
    uring::probe()
}
