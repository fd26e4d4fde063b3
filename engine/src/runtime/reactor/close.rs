//! Tearing connections down: `disconnect`, the driver's `Closed`, reconnect scheduling,
//! listeners and socket close with LINGER.

use super::connect::jitter;
use super::*;

impl State {
    /// Tear down the current connection (the fd is closed by the driver; pipes are dealt with
    /// in `on_closed`, when no send can still reference them).
    pub(super) fn disconnect(&mut self, slot: usize, why: CloseReason, reqs: &mut Vec<Req>) {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return;
        };
        if c.closing {
            return;
        }
        let in_handshake = matches!(c.phase, Phase::Handshake);
        let reason = why.disconnect_reason(in_handshake);
        log::log!(why.log_level(in_handshake), "{}: {why}", c.endpoint);
        if !matches!(c.phase, Phase::Connecting) {
            c.sock.event(
                MonitorEventKind::Disconnected(reason, why.to_string()),
                &c.endpoint,
                None,
            );
        }
        c.closing = true;
        let key = Key::new(slot, c.gen);
        match c.fd.take() {
            Some(fd) => reqs.push(Req::Close { key, fd }),
            None => {
                // Not connected (waiting to reconnect): handle as closed right away.
                self.on_closed(key, reqs);
            }
        }
    }

    pub(super) fn on_closed(&mut self, key: Key, _reqs: &mut Vec<Req>) {
        let slot = key.slot();
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            // A listener finished closing.
            if let Some(Ep::Listener(l)) = self.eps.get(slot) {
                if Key::new(slot, l.gen) == key && l.fd.is_none() {
                    self.eps.remove(slot);
                }
            }
            return;
        };
        if Key::new(slot, c.gen) != key {
            return;
        }
        c.closing = false;
        c.sending = None;
        c.paused = false;
        c.stash.clear();
        c.stash_off = 0;
        c.recv_stopped = false;
        c.eof = None;
        c.close_after_ctrl = None;
        c.hb_timer = None;
        c.phase = Phase::Connecting;
        c.zmtp.reset();
        // Encoded bytes not sent die with the connection (libzmq's encoded batch does too).
        c.wire = None;
        if let Some(inn) = c.inn.as_mut() {
            inn.rollback();
        }
        // A closed socket's connection keeps reconnecting while its queued messages wait
        // (LINGER: until they are delivered or the linger period ends), as libzmq does.
        let undelivered = c
            .out
            .as_mut()
            .is_some_and(|o| !o.is_finished() || o.msgs_committed() > o.msgs_read());
        let reconnect = (c.lingering.is_none() || undelivered)
            && c.connect
                .as_ref()
                .is_some_and(|ci| !ci.stopped && c.opts.reconnect_ivl.is_some());
        let keep_pipes = reconnect && c.connect.as_ref().is_some_and(|ci| ci.persistent);
        if keep_pipes {
            // Drop the rest of a message that was cut off mid-way; the peer never saw it whole.
            if let Some(out) = c.out.as_mut() {
                c.zmtp.skip_partial(out);
            }
        } else {
            c.zmtp.clear_out_walk();
            if let Some(mut inn) = c.inn.take() {
                // Always tell the socket: even an active reader must learn the peer is gone.
                inn.close();
                c.sock.notify_ready(c.peer_id);
            }
            c.out = None;
            if c.peer_id != 0 {
                self.by_peer.remove(&c.peer_id);
            }
            if let Some(Ep::Conn(c)) = self.eps.get_mut(slot) {
                if !(c.connect.as_ref().is_some_and(|ci| ci.persistent)) {
                    c.peer_id = 0;
                }
            }
        }
        if reconnect {
            let gen = self.new_gen(slot);
            let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
                return;
            };
            c.gen = gen;
            let ci = c.connect.as_mut().expect("reconnect without connect info");
            let base = c.opts.reconnect_ivl.unwrap_or(Duration::from_millis(100));
            let wait = ci.next_ivl + jitter(base);
            c.sock
                .event(MonitorEventKind::ConnectRetried(wait), &c.endpoint, None);
            if let Some(max) = c.opts.reconnect_ivl_max {
                ci.next_ivl = (ci.next_ivl * 2).min(max.max(base));
            }
            let linger_until = c.lingering.flatten();
            self.timer(Instant::now() + wait, slot, gen, TimerKind::Reconnect);
            if let Some(d) = linger_until {
                // Timers follow the generation: the linger deadline must too.
                self.timer(d, slot, gen, TimerKind::Linger);
            }
        } else {
            self.eps.remove(slot);
        }
    }

    pub(super) fn close_listener(&mut self, slot: usize, reqs: &mut Vec<Req>) {
        if let Some(Ep::Listener(l)) = self.eps.get_mut(slot) {
            if let Some(fd) = l.fd.take() {
                l.sock.event(MonitorEventKind::Closed, &l.endpoint, None);
                if let Some(p) = l.ipc_path.as_deref() {
                    if !p.starts_with('@') {
                        let _ = std::fs::remove_file(p);
                    }
                }
                reqs.push(Req::Close {
                    key: Key::new(slot, l.gen),
                    fd,
                });
            }
        }
    }

    pub(super) fn close_socket(
        &mut self,
        sock: u64,
        linger: Option<Duration>,
        reqs: &mut Vec<Req>,
    ) {
        let slots: Vec<usize> = self
            .eps
            .iter()
            .filter(|(_, e)| match e {
                Ep::Listener(l) => l.sock.id == sock,
                Ep::Conn(c) => c.sock.id == sock,
            })
            .map(|(k, _)| k)
            .collect();
        let deadline = linger.map(|l| Instant::now() + l);
        for slot in slots {
            match self.eps.get_mut(slot) {
                Some(Ep::Listener(_)) => self.close_listener(slot, reqs),
                Some(Ep::Conn(c)) => {
                    c.lingering = Some(deadline);
                    let pending =
                        c.out.as_mut().is_some_and(|o| {
                            !o.is_finished() || o.msgs_committed() > o.msgs_read()
                        }) || c.wire_unsent();
                    if linger == Some(Duration::ZERO) || c.out.is_none() || !pending {
                        if let Some(ci) = c.connect.as_mut() {
                            ci.stopped = true;
                        }
                        self.disconnect(slot, CloseReason::SocketClosed, reqs);
                    } else {
                        let gen = c.gen;
                        if let Some(d) = deadline {
                            self.timer(d, slot, gen, TimerKind::Linger);
                        }
                        self.flush(slot, reqs);
                    }
                }
                None => {}
            }
        }
    }
}
