//! Timers: a heap of (deadline, slot, generation, kind); stale generations are skipped.

use super::*;

impl State {
    pub(super) fn next_timer(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, ..))| *t)
    }

    pub(super) fn timer(&mut self, at: Instant, slot: usize, gen: u32, kind: TimerKind) {
        self.timers.push(Reverse((at, slot, gen, kind)));
    }

    pub(super) fn fire_timers(&mut self, reqs: &mut Vec<Req>) {
        if self.timers.is_empty() {
            return;
        }
        let now = Instant::now();
        while let Some(Reverse((at, slot, gen, kind))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let c = match self.eps.get_mut(slot) {
                Some(Ep::Conn(c)) => c,
                Some(Ep::Listener(l)) => {
                    if l.gen == gen && kind == TimerKind::ResumeAccept {
                        reqs.push(Req::ResumeAccept {
                            key: Key::new(slot, gen),
                        });
                    }
                    continue;
                }
                None => continue,
            };
            if c.gen != gen {
                continue;
            }
            match kind {
                TimerKind::Reconnect => {
                    if matches!(c.phase, Phase::Connecting) && c.fd.is_none() && !c.closing {
                        self.start_connect(slot, reqs);
                    }
                }
                TimerKind::Handshake => {
                    if matches!(c.phase, Phase::Handshake) {
                        c.sock.event(
                            MonitorEventKind::HandshakeFailedNoDetail("handshake timed out".into()),
                            &c.endpoint,
                            None,
                        );
                        self.disconnect(slot, CloseReason::HandshakeTimeout, reqs);
                    }
                }
                TimerKind::CloseSoon => {
                    if let Some(why) = c.close_after_ctrl.take() {
                        self.disconnect(slot, why, reqs);
                    }
                }
                TimerKind::Linger => {
                    if let Some(ci) = c.connect.as_mut() {
                        ci.stopped = true;
                    }
                    self.disconnect(slot, CloseReason::LingerExpired, reqs);
                }
                // Listeners only (handled above).
                TimerKind::ResumeAccept => {}
                TimerKind::Heartbeat => {
                    c.hb_timer = None;
                    if !c.zmtp.has_heartbeat() {
                        continue;
                    }
                    match c.zmtp.handle_timeout(now) {
                        Ok(()) => {
                            if let Some(next) = c.zmtp.poll_timeout() {
                                c.hb_timer = Some(next);
                                self.timers
                                    .push(Reverse((next, slot, gen, TimerKind::Heartbeat)));
                            }
                            self.flush(slot, reqs);
                        }
                        Err(e) => {
                            self.disconnect(slot, e, reqs);
                        }
                    }
                }
            }
        }
    }
}
