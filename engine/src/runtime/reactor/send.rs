//! The send path: control frames and committed pipe data as one vectored send, and the
//! accounting when the driver reports what was sent.
//!
//! `Req::Send` is built in `flush` and `Event::Sent` handled in `on_sent` only.

use super::*;

impl State {
    /// Send pending control frames and committed pipe data, unless a send is in flight.
    pub(super) fn flush(&mut self, slot: usize, reqs: &mut Vec<Req>) {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return;
        };
        let c = &mut **c;
        if c.sending.is_some() || c.closing || c.fd.is_none() {
            return;
        }
        loop {
            c.iov.0.clear();
            let mut ctrl_len = 0;
            if c.ctrl_off == c.ctrl_inflight.len()
                && !c.ctrl.is_empty()
                && c.out_frame_left == 0
                && !c.out_in_msg
            {
                c.ctrl_inflight.clear();
                c.ctrl_off = 0;
                std::mem::swap(&mut c.ctrl, &mut c.ctrl_inflight);
            }
            if c.ctrl_off < c.ctrl_inflight.len() {
                ctrl_len = c.ctrl_inflight.len() - c.ctrl_off;
                c.iov.0.push(libc::iovec {
                    iov_base: c.ctrl_inflight[c.ctrl_off..].as_ptr() as *mut libc::c_void,
                    iov_len: ctrl_len,
                });
            }
            let mut data_len = 0;
            let mut truncated = false;
            let mut snapshot = 0;
            if matches!(c.phase, Phase::Active) {
                if let Some(out) = c.out.as_mut() {
                    snapshot = out.msgs_committed();
                    data_len = out.peek_iov(&mut c.iov.0, MAX_SEND, MAX_IOV);
                    truncated = data_len == MAX_SEND || c.iov.0.len() == MAX_IOV;
                }
            }
            if ctrl_len + data_len > 0 {
                c.sending = Some((ctrl_len, data_len, truncated, snapshot));
                reqs.push(Req::Send {
                    key: Key::new(slot, c.gen),
                    fd: c.raw,
                    iov: c.iov.0.as_ptr(),
                    iovcnt: c.iov.0.len(),
                });
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

    pub(super) fn on_sent(
        &mut self,
        slot: usize,
        result: std::io::Result<usize>,
        reqs: &mut Vec<Req>,
    ) {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return;
        };
        let c = &mut **c;
        let Some((ctrl_len, data_len, truncated, snapshot)) = c.sending.take() else {
            return;
        };
        let n = match result {
            Ok(n) => n,
            Err(e) => {
                self.disconnect(slot, CloseReason::SendFailed(e), reqs);
                return;
            }
        };
        let k = n.min(ctrl_len);
        c.ctrl_off += k;
        let sent = n - k;
        if c.stream.is_some() {
            // Raw bytes carry no frame structure to track.
            if let Some(out) = c.out.as_mut() {
                out.consume(sent);
                if sent == data_len && !truncated && out.credit_to(snapshot) {
                    c.sock.notify_ready(c.peer_id);
                }
            }
            self.flush(slot, reqs);
            return;
        }
        if c.close_after_ctrl.is_some() && c.ctrl_off == c.ctrl_inflight.len() && c.ctrl.is_empty()
        {
            if let Some(why) = c.close_after_ctrl.take() {
                self.disconnect(slot, why, reqs);
            }
            return;
        }
        if let Some(out) = c.out.as_mut() {
            if sent == data_len && !truncated && c.out_frame_left == 0 && !c.out_in_msg {
                // Everything committed at `snapshot` went out: at a message boundary.
                out.consume(sent);
                if out.credit_to(snapshot) {
                    c.sock.notify_ready(c.peer_id);
                }
            } else if sent > 0 {
                // Partial send (or a truncated batch): walk frames to keep our place.
                walk_out(out, sent, &mut c.out_frame_left, &mut c.out_in_msg);
                if c.out_frame_left == 0
                    && !c.out_in_msg
                    && !truncated
                    && sent == data_len
                    && out.credit_to(snapshot)
                {
                    c.sock.notify_ready(c.peer_id);
                }
            }
        }
        self.flush(slot, reqs);
    }
}

/// Consume `n` sent bytes from `out` while tracking frame boundaries.
fn walk_out(out: &mut pipe::Reader, mut n: usize, frame_left: &mut u64, in_msg: &mut bool) {
    while n > 0 {
        if *frame_left == 0 {
            let buf = out.peek();
            let h = frame::parse_header(buf)
                .ok()
                .flatten()
                .expect("outbound pipe holds whole frames");
            *frame_left = h.frame_len();
            *in_msg = h.more();
        }
        let take = (*frame_left).min(n as u64) as usize;
        let avail = out.peek().len().min(take);
        out.consume(avail);
        *frame_left -= avail as u64;
        n -= avail;
    }
    if *frame_left == 0 && *in_msg {
        // Between frames of one message: still mid-message.
    }
}

/// After a disconnect, drop the remainder of a partly sent message.
pub(super) fn skip_partial(out: &mut pipe::Reader, frame_left: &mut u64, in_msg: &mut bool) {
    loop {
        if *frame_left > 0 {
            let k = (*frame_left).min(out.peek().len() as u64) as usize;
            if k == 0 {
                break;
            }
            out.consume(k);
            *frame_left -= k as u64;
            continue;
        }
        if !*in_msg {
            break;
        }
        let buf = out.peek();
        let Some(h) = frame::parse_header(buf).ok().flatten() else {
            break;
        };
        *frame_left = h.frame_len();
        *in_msg = h.more();
    }
    *frame_left = 0;
    *in_msg = false;
}
