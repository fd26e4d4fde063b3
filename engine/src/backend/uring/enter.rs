//! Entering the ring: `io_uring_enter` through the registered ring index where the ring fd
//! is registered (`IORING_REGISTER_RING_FDS`: the kernel skips the file-table lookup on every
//! enter; the io-uring crate's `Submitter` keeps a registration only for its own short
//! lifetime, so the driver enters by itself then), else through the crate's calls.

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use io_uring::IoUring;

const IORING_ENTER_GETEVENTS: u32 = 1;
const IORING_ENTER_SQ_WAKEUP: u32 = 2;
const IORING_ENTER_SQ_WAIT: u32 = 4;
const IORING_ENTER_EXT_ARG: u32 = 8;
const IORING_ENTER_REGISTERED_RING: u32 = 16;
const IORING_REGISTER_RING_FDS: u32 = 20;
const IORING_UNREGISTER_RING_FDS: u32 = 21;

/// `struct io_uring_rsrc_update`.
#[repr(C)]
struct RsrcUpdate {
    offset: u32,
    resv: u32,
    data: u64,
}

/// `struct io_uring_getevents_arg`.
#[repr(C)]
struct GeteventsArg {
    sigmask: u64,
    sigmask_sz: u32,
    min_wait_usec: u32,
    ts: u64,
}

/// `struct __kernel_timespec`.
#[repr(C)]
struct KernelTimespec {
    sec: i64,
    nsec: i64,
}

/// A SQPOLL ring's SQ is full: wake its SQ thread and wait until it has taken entries. The
/// thread may have gone to sleep before these entries were queued (nothing has woken it since:
/// queuing is no system call), and `SQ_WAIT` alone would then wait for it forever.
pub(super) fn wait_for_sq_room(ring: &IoUring) -> io::Result<()> {
    // SAFETY: nothing to submit and no argument: the call only wakes the SQ thread and waits
    // for room; queued entries point at memory that outlives their operations (the driver's
    // push contract).
    unsafe {
        ring.submitter().enter::<libc::sigset_t>(
            0,
            0,
            IORING_ENTER_SQ_WAKEUP | IORING_ENTER_SQ_WAIT,
            None,
        )
    }
    .map(drop)
}

/// How this ring is entered.
pub(super) struct Enter {
    /// The registered index of the ring fd, if registered (by the thread that drives the
    /// ring, which is the only one that may use it: registrations are per thread).
    registered: Option<u32>,
    thread: std::thread::ThreadId,
}

impl Enter {
    /// Register `ring`'s fd for the calling thread if `register`; without it, or if the
    /// kernel refuses (older than 5.18, or 16 rings registered by this thread), enter
    /// through the fd.
    pub(super) fn new(ring: &IoUring, register: bool) -> Enter {
        let mut registered = None;
        if register {
            let mut up = RsrcUpdate {
                offset: u32::MAX,
                resv: 0,
                data: ring.as_raw_fd() as u64,
            };
            // SAFETY: `up` is a valid io_uring_rsrc_update for the one entry passed.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_io_uring_register,
                    ring.as_raw_fd(),
                    IORING_REGISTER_RING_FDS,
                    &mut up as *mut RsrcUpdate,
                    1u32,
                )
            };
            if r == 1 {
                registered = Some(up.offset);
            } else {
                log::debug!(
                    "io_uring ring fd registration refused ({}); entering through the fd",
                    io::Error::last_os_error()
                );
            }
        }
        Enter {
            registered,
            thread: std::thread::current().id(),
        }
    }

    #[cfg(test)]
    pub(super) fn is_registered(&self) -> bool {
        self.registered.is_some()
    }

    /// Submit what is queued and, if `wait`, wait for at least one completion (at most
    /// `timeout`; None = until one comes). Adds GETEVENTS also when deferred completion
    /// work or a CQ overflow is pending, as the crate's `submit` does.
    pub(super) fn enter(
        &self,
        ring: &mut IoUring,
        wait: bool,
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        let Some(index) = self.registered else {
            // Not registered: the crate's own calls, exactly as before the registration
            // existed (a 1,000-connection fan-in measured 0.85-1.06x epoll through this
            // function and 1.06-1.33x through the crate; within this VM's noise, so the
            // crate path stays where it suffices).
            return match (wait, timeout) {
                (false, _) => ring.submit(),
                (true, None) => ring.submit_and_wait(1),
                (true, Some(t)) => {
                    let ts = io_uring::types::Timespec::new()
                        .sec(t.as_secs())
                        .nsec(t.subsec_nanos());
                    let args = io_uring::types::SubmitArgs::new().timespec(&ts);
                    ring.submitter().submit_with_args(1, &args)
                }
            };
        };
        let sq = ring.submission();
        let to_submit = sq.len() as u32;
        let mut flags = 0;
        if wait || sq.taskrun() || sq.cq_overflow() {
            flags |= IORING_ENTER_GETEVENTS;
        }
        drop(sq);
        let (fd, extra) = (index as i32, IORING_ENTER_REGISTERED_RING);
        let ts;
        let arg;
        let (argp, argsz) = match timeout.filter(|_| wait) {
            Some(t) => {
                ts = KernelTimespec {
                    sec: t.as_secs() as i64,
                    nsec: t.subsec_nanos() as i64,
                };
                arg = GeteventsArg {
                    sigmask: 0,
                    sigmask_sz: 0,
                    min_wait_usec: 0,
                    ts: &ts as *const KernelTimespec as u64,
                };
                flags |= IORING_ENTER_EXT_ARG;
                (
                    &arg as *const GeteventsArg as *const libc::c_void,
                    std::mem::size_of::<GeteventsArg>(),
                )
            }
            None => (std::ptr::null(), 0),
        };
        // SAFETY: `argp`/`argsz` describe a live io_uring_getevents_arg (whose `ts` points at
        // a live timespec) or are null/0; every queued SQE points at memory that outlives
        // its operation (the driver's push contract).
        let r = unsafe {
            libc::syscall(
                libc::SYS_io_uring_enter,
                fd,
                to_submit,
                u32::from(wait),
                flags | extra,
                argp,
                argsz,
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as usize)
        }
    }

    /// Drop the registration (on the thread that made it; elsewhere it cannot be undone and
    /// lasts until that thread exits).
    pub(super) fn unregister(&mut self, ring: &IoUring) {
        let Some(offset) = self.registered.take() else {
            return;
        };
        if std::thread::current().id() != self.thread {
            log::warn!("io_uring ring dropped off its thread: its fd registration stays");
            return;
        }
        let mut up = RsrcUpdate {
            offset,
            resv: 0,
            data: 0,
        };
        // SAFETY: as in `new`.
        unsafe {
            libc::syscall(
                libc::SYS_io_uring_register,
                ring.as_raw_fd(),
                IORING_UNREGISTER_RING_FDS,
                &mut up as *mut RsrcUpdate,
                1u32,
            )
        };
    }
}
