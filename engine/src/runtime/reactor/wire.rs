//! A connection's wire transform (`crate::wire`) in the reactor: received bytes are decoded
//! before the session sees them; `flush` copies what it would have sent out of the pipe,
//! encodes it into an owned buffer and sends that buffer instead.
//!
//! Pipe data counts as sent (consumed and credited) once it is encoded, so with a transform
//! a writer may run ahead of the kernel by up to two encoded batches (`WIRE_BATCH`) beyond
//! SNDHWM, and encoded bytes still unsent when the connection drops are lost with it (as
//! libzmq's encoded batch is).

use crate::wire::WireTransform;

use super::*;

pub(super) struct WireConn {
    transform: Box<dyn WireTransform>,
    /// Plain bytes of the current receive (kept for its capacity).
    plain: Vec<u8>,
    /// Plain bytes of the send being encoded (kept for its capacity).
    scratch: Vec<u8>,
    /// Encoded bytes not yet sent start at `tx_off`. While a send is in flight the buffer is
    /// in its lease (from `inflight_off`), and `tx` is empty with `tx_off` 0.
    tx: Vec<u8>,
    tx_off: usize,
    inflight_off: usize,
}

impl WireConn {
    pub(super) fn new(transform: Box<dyn WireTransform>) -> WireConn {
        WireConn {
            transform,
            plain: Vec::new(),
            scratch: Vec::new(),
            tx: Vec::new(),
            tx_off: 0,
            inflight_off: 0,
        }
    }

    /// Encoded bytes waiting to be sent.
    pub(super) fn pending(&self) -> usize {
        self.tx.len() - self.tx_off
    }

    /// Encode the bytes `lease` describes onto the bytes waiting to be sent.
    pub(super) fn encode(&mut self, lease: &SendLease) -> Result<(), CloseReason> {
        self.scratch.clear();
        lease.copy_to(&mut self.scratch);
        if self.tx_off > 0 {
            // A partial send left bytes behind: keep only those (at most one batch).
            self.tx.drain(..self.tx_off);
            self.tx_off = 0;
        }
        self.transform
            .encode(&self.scratch, &mut self.tx)
            .map_err(CloseReason::Transform)
    }
}

impl Conn {
    /// Encoded bytes have not all left yet (pipe data counts as sent once encoded, so a
    /// lingering close must also wait for these).
    pub(super) fn wire_unsent(&self) -> bool {
        self.wire
            .as_ref()
            .is_some_and(|w| w.pending() > 0 || self.sending.is_some())
    }
}

impl State {
    /// Bytes from the driver: decoded first when the connection has a transform.
    pub(super) fn on_received(&mut self, slot: usize, data: &[u8], reqs: &mut Vec<Req>) {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return;
        };
        let Some(w) = c.wire.as_mut() else {
            self.on_data(slot, data, reqs);
            return;
        };
        if c.closing {
            return;
        }
        let mut plain = std::mem::take(&mut w.plain);
        plain.clear();
        if let Err(e) = w.transform.decode(data, &mut plain) {
            if matches!(c.phase, Phase::Handshake) {
                // As a bad greeting would be: the peer does not speak what we speak.
                c.sock.event(
                    MonitorEventKind::HandshakeFailedProtocol(e.to_string()),
                    &c.endpoint,
                    None,
                );
            }
            self.disconnect(slot, CloseReason::Transform(e), reqs);
            return;
        }
        self.on_data(slot, &plain, reqs);
        if let Some(Ep::Conn(c)) = self.eps.get_mut(slot) {
            if let Some(w) = c.wire.as_mut() {
                plain.clear();
                w.plain = plain;
            }
        }
    }

    /// Send the encoded bytes waiting, if any (and no send is in flight). Returns whether a
    /// send was started.
    pub(super) fn send_wire(&mut self, slot: usize, reqs: &mut Vec<Req>) -> bool {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return false;
        };
        let Some(w) = c.wire.as_mut() else {
            return false;
        };
        if c.sending.is_some() || w.pending() == 0 {
            return false;
        }
        w.inflight_off = std::mem::take(&mut w.tx_off);
        let lease = SendLease::new(
            std::mem::take(&mut c.iov),
            std::mem::take(&mut w.tx),
            w.inflight_off,
        );
        c.sending = Some((false, 0));
        reqs.push(Req::Send {
            key: Key::new(slot, c.gen),
            fd: c.raw,
            lease,
        });
        true
    }

    /// The driver sent (some of) the encoded bytes.
    pub(super) fn on_wire_sent(
        &mut self,
        slot: usize,
        result: std::io::Result<usize>,
        lease: SendLease,
        reqs: &mut Vec<Req>,
    ) {
        let Some(Ep::Conn(c)) = self.eps.get_mut(slot) else {
            return;
        };
        let (iov, tx) = lease.release();
        c.iov = iov;
        if c.sending.take().is_none() {
            return;
        }
        let Some(w) = c.wire.as_mut() else {
            return;
        };
        let sent = match result {
            Ok(n) => n,
            Err(e) => {
                self.disconnect(slot, CloseReason::SendFailed(e), reqs);
                return;
            }
        };
        w.tx = tx;
        w.tx_off = w.inflight_off + sent;
        if w.pending() == 0 {
            w.tx.clear();
            w.tx_off = 0;
            // An ERROR command was queued before closing: it has now left.
            if c.close_after_ctrl.is_some() && c.zmtp.ctrl_done() {
                if let Some(why) = c.close_after_ctrl.take() {
                    self.disconnect(slot, why, reqs);
                }
                return;
            }
        }
        self.flush(slot, reqs);
    }
}
