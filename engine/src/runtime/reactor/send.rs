//! The send path: control frames and committed pipe data as one vectored send, and the
//! accounting when the driver reports what was sent.
//!
//! `Req::Send` is built in `flush` (or, with a wire transform, `send_wire`) and `Event::Sent`
//! handled in `on_sent` only.

use super::*;

impl State {
    /// Send pending control frames and committed pipe data, unless a send is in flight.
    pub(super) fn flush(&mut self, slot: usize, reqs: &mut Vec<Req>) {
        loop {
            let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
                return;
            };
            let c = &mut **c;
            if c.sending.is_some() || c.closing || c.fd.is_none() {
                return;
            }
            // With a transform, pipe data counts as sent once encoded: encode no more than a
            // batch ahead of the kernel, so SNDHWM still holds the writer back.
            let max = match c.wire.as_ref() {
                None => MAX_SEND,
                Some(w) if w.pending() < WIRE_BATCH => WIRE_BATCH,
                Some(_) => {
                    self.send_wire(slot, reqs);
                    return;
                }
            };
            let mut lease = c.zmtp.poll_transmit(std::mem::take(&mut c.iov));
            let mut truncated = false;
            let mut snapshot = 0;
            if matches!(c.phase, Phase::Active) {
                if let Some(out) = c.out.as_mut() {
                    snapshot = out.msgs_committed();
                    let n = lease.add_pipe(out, max, MAX_IOV);
                    truncated = n == max || lease.iov().len() == MAX_IOV;
                }
            }
            if lease.len() > 0 {
                c.sending = Some((truncated, snapshot));
                let Some(w) = c.wire.as_mut() else {
                    reqs.push(Req::Send {
                        key: Key::new(slot, c.gen),
                        fd: c.raw,
                        lease,
                    });
                    return;
                };
                // A transform: these bytes are encoded now and count as sent.
                let encoded = w.encode(&lease);
                let len = lease.len();
                let go_on = self.settle(slot, Ok(len), lease, reqs);
                if let Err(why) = encoded {
                    self.disconnect(slot, why, reqs);
                    return;
                }
                let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
                    return;
                };
                if !go_on || c.wire.as_ref().is_some_and(|w| w.pending() >= WIRE_BATCH) {
                    self.send_wire(slot, reqs);
                    return;
                }
                continue;
            }
            (_, c.iov) = c.zmtp.handle_sent(0, lease);
            if c.wire.as_ref().is_some_and(|w| w.pending() > 0) {
                // Encoded bytes go out first; the idle checks below run once they have.
                self.send_wire(slot, reqs);
                return;
            }
            // Nothing to send: stop looking at the pipe unless data raced in.
            let Some(out) = c.out.as_mut() else { break };
            if !matches!(c.phase, Phase::Active) {
                break;
            }
            // Everything committed up to `snapshot` has left: make sure it is credited. A
            // send that ended exactly at MAX_SEND / MAX_IOV was counted as truncated and did
            // not credit; without this, a writer blocked at the HWM would wait forever.
            if out.credit_to(snapshot) {
                c.sock.notify_ready(c.peer_id);
            }
            if out.is_finished() {
                // The socket closed the pipe and everything was sent: done lingering (or,
                // STREAM, the application closed this connection).
                if c.lingering.is_some() || c.stream.is_some() {
                    self.disconnect(slot, CloseReason::SocketClosed, reqs);
                }
                return;
            }
            if !out.deactivate() {
                break;
            }
        }
    }

    /// The driver finished a send.
    pub(super) fn on_sent(
        &mut self,
        slot: usize,
        result: std::io::Result<usize>,
        lease: SendLease,
        reqs: &mut Vec<Req>,
    ) {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return;
        };
        if c.wire.is_some() {
            self.on_wire_sent(slot, result, lease, reqs);
        } else if self.settle(slot, result, lease, reqs) {
            self.flush(slot, reqs);
        }
    }

    /// Account for `result` bytes of `lease` having left (the driver sent them, or a wire
    /// transform encoded them): end the lease, keep the place in the outbound frame stream,
    /// consume and credit the pipe. Returns whether to go on sending (false once the
    /// connection is closing or waits to close).
    fn settle(
        &mut self,
        slot: usize,
        result: std::io::Result<usize>,
        lease: SendLease,
        reqs: &mut Vec<Req>,
    ) -> bool {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return false;
        };
        let c = &mut **c;
        let data_len = lease.data_len();
        // Ends the lease: the kernel is done with these bytes, the pipe may be consumed.
        let (sent, iov) = c.zmtp.handle_sent(*result.as_ref().unwrap_or(&0), lease);
        c.iov = iov;
        let Some((truncated, snapshot)) = c.sending.take() else {
            return false;
        };
        if let Err(e) = result {
            self.disconnect(slot, CloseReason::SendFailed(e), reqs);
            return false;
        }
        if c.stream.is_some() {
            // Raw bytes carry no frame structure to track.
            if let Some(out) = c.out.as_mut() {
                out.consume(sent);
                if sent == data_len && !truncated && out.credit_to(snapshot) {
                    c.sock.notify_ready(c.peer_id);
                }
            }
            return true;
        }
        if c.close_after_ctrl.is_some() && c.zmtp.ctrl_done() {
            // The ERROR command left (with a transform: was encoded; `on_wire_sent` closes
            // once it has left).
            if c.wire.is_none() {
                if let Some(why) = c.close_after_ctrl.take() {
                    self.disconnect(slot, why, reqs);
                }
            }
            return false;
        }
        if let Some(out) = c.out.as_mut() {
            if sent == data_len && !truncated && c.zmtp.out_at_boundary() {
                // Everything committed at `snapshot` went out: at a message boundary.
                out.consume(sent);
                if out.credit_to(snapshot) {
                    c.sock.notify_ready(c.peer_id);
                }
            } else if sent > 0 {
                // Partial send (or a truncated batch): walk frames to keep our place, and
                // credit the messages that left whole now, so a writer held at the HWM by a
                // backlog larger than one send refills as it drains (not only once all of
                // it has left: that emptied and refilled the whole pipe, every chunk fresh).
                let whole = c.zmtp.walk_sent(out, sent);
                let wake = if c.zmtp.out_at_boundary() && !truncated && sent == data_len {
                    out.credit_to(snapshot)
                } else {
                    whole > 0 && (out.credit(whole) | out.publish_credit())
                };
                if wake {
                    c.sock.notify_ready(c.peer_id);
                }
            }
        }
        true
    }
}
