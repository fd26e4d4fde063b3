//! Watched descriptors (`Driver::poll`'s `watch`): one-shot polls that stay armed across the
//! turns of one inline wait, cancelled under a new generation when the list changes.

use io_uring::{opcode, types};

use super::{ud, UringDriver, OP_CANCEL, OP_WATCH};
use crate::backend::Key;

impl UringDriver {
    /// Arm a one-shot POLL_ADD for each watched fd that has none in the kernel. A different
    /// list than last time replaces the old one (cancelled, under a new generation).
    pub(super) fn arm_watches(&mut self, watch: &mut [libc::pollfd]) {
        let same = watch.len() == self.watch_set.len()
            && watch
                .iter()
                .zip(&self.watch_set)
                .all(|(w, &(fd, ev))| w.fd == fd && w.events == ev);
        if !same {
            self.cancel_watches();
            self.watch_set = watch.iter().map(|w| (w.fd, w.events)).collect();
            self.watch_armed = vec![false; watch.len()];
        }
        for (i, w) in watch.iter_mut().enumerate().take(1 << 16) {
            w.revents = 0;
            if self.watch_armed[i] {
                continue;
            }
            self.watch_armed[i] = true;
            let e = opcode::PollAdd::new(types::Fd(w.fd), w.events as u16 as u32)
                .build()
                .user_data(ud(Key(self.watch_gen << 16 | i as u64), OP_WATCH));
            self.push(e);
        }
    }
    /// Report the watched fds that fired.
    pub(super) fn report_watches(&mut self, watch: &mut [libc::pollfd]) {
        for (i, revents) in self.watch_hits.drain(..) {
            if let Some(w) = watch.get_mut(i) {
                w.revents |= revents;
            }
        }
    }
    /// Cancel every armed watch (their completions, of an old generation, are ignored when
    /// they come) and submit now, not at the next turn: an armed poll holds a reference to
    /// the fd's file, which the caller may close as soon as its wait returns.
    pub(super) fn cancel_watches(&mut self) {
        let mut any = false;
        for i in 0..self.watch_armed.len() {
            if std::mem::take(&mut self.watch_armed[i]) {
                let target = ud(Key(self.watch_gen << 16 | i as u64), OP_WATCH);
                let e = opcode::AsyncCancel::new(target)
                    .build()
                    .user_data(ud(Key::WAKE, OP_CANCEL));
                self.push(e);
                any = true;
            }
        }
        self.watch_set.clear();
        self.watch_armed.clear();
        self.watch_hits.clear();
        self.watch_gen = (self.watch_gen + 1) & 0xFF_FFFF_FFFF;
        if any {
            if let Err(e) = self.submit() {
                log::warn!("io_uring submit failed: {e}");
            }
        }
    }
    /// A watched fd's poll completed (key = watch generation << 16 | index).
    pub(super) fn on_watch(&mut self, key: Key, res: i32) {
        let i = (key.0 & 0xFFFF) as usize;
        if key.0 >> 16 == self.watch_gen && i < self.watch_armed.len() {
            self.watch_armed[i] = false;
            // An fd the kernel cannot poll (closed meanwhile, ...) reads as POLLNVAL.
            let revents = if res >= 0 { res as i16 } else { libc::POLLNVAL };
            if revents != 0 {
                self.watch_hits.push((i, revents));
            }
        }
    }
}
