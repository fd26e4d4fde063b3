//! Accepting: one multishot accept per listener, re-armed when the kernel ends it, and
//! paused after a failed accept until the reactor's `ResumeAccept` (the usual failure, a
//! full descriptor table, would otherwise make the ring spin).

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use io_uring::{opcode, types};

use super::{ud, UringDriver, OP_ACCEPT};
use crate::backend::{Event, Key, Req};

impl UringDriver {
    /// Arm a multishot accept on a live, open listener unless one is armed.
    pub(super) fn arm_accept(&mut self, key: Key) {
        let Some(s) = self.live(key) else { return };
        if s.accepting || s.closing.is_some() {
            return;
        }
        s.accepting = true;
        s.inflight += 1;
        let e = opcode::AcceptMulti::new(types::Fd(s.fd))
            .flags(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
            .build()
            .user_data(ud(key, OP_ACCEPT));
        self.push(e);
    }

    /// A multishot accept produced a connection or an error (and maybe ended).
    pub(super) fn on_accept<F>(
        &mut self,
        key: Key,
        res: i32,
        more: bool,
        closing: bool,
        reqs: &mut Vec<Req>,
        on_event: &mut F,
    ) where
        F: FnMut(Event<'_>, &mut Vec<Req>),
    {
        if res >= 0 {
            // SAFETY: a non-negative result of accept is a fresh descriptor we own.
            let fd = unsafe { OwnedFd::from_raw_fd(res) };
            if !closing {
                on_event(Event::Accepted { key, fd }, reqs);
            }
        } else if !closing && res != -libc::ECANCELED {
            on_event(
                Event::AcceptFailed {
                    key,
                    err: io::Error::from_raw_os_error(-res),
                },
                reqs,
            );
        }
        if !more {
            if let Some(s) = self.live(key) {
                s.accepting = false;
            }
            self.op_done(key);
            // A multishot accept that ended without an error (the kernel may end one at
            // any time) is re-armed; after an error the listener stays paused until the
            // reactor's `ResumeAccept`, since re-arming into EMFILE would spin.
            if !closing && res >= 0 {
                self.arm_accept(key);
            }
        }
    }
}
