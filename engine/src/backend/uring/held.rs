//! Data a stopped connection received, kept in place in the provided buffers.
//!
//! The reactor stops a connection's receiving when its inbound pipe reaches RCVHWM. A
//! multishot receive has by then often read ahead by much more than the pipe holds (up to
//! the whole buffer ring in one turn, since the reader is the slower side of a stream).
//! Rather than hand that to the reactor to copy aside, the driver keeps the buffer ranges
//! and delivers them, in order and before anything newer, when receiving restarts.

use std::io;

use super::{ud, UringDriver, OP_RECV};
use crate::backend::{Event, Key, Req};

/// What a stopped connection received: data in a provided buffer, or the end of the stream
/// (after the data before it).
pub(super) enum Held {
    Data { bid: u16, start: u32, len: u32 },
    End(Option<i32>),
}

/// Bytes one stopped connection may hold in provided buffers (a multishot receive reads
/// ahead by up to the whole ring, 1 MiB at first, in one turn); beyond that, received data
/// is delivered anyway (the reactor copies it aside). Holds also end when another
/// connection finds the ring dry (`spill_all`).
pub(super) const HOLD_LIMIT: usize = 1 << 20;

impl UringDriver {
    /// Give back every buffer range slot `s` holds (its connection is closing or gone).
    pub(super) fn drop_held(&mut self, s: usize) {
        let Some(slot) = self.slots.get_mut(s) else {
            return;
        };
        self.held_total -= std::mem::take(&mut slot.held_bytes);
        for h in std::mem::take(&mut slot.held) {
            if let Held::Data { bid, .. } = h {
                self.bufs.unhold(bid);
            }
        }
    }
    /// Stop receiving on `key` (the reactor's `StopRecv`): cancel the multishot receive;
    /// what it still delivers is held.
    pub(super) fn stop_recv(&mut self, key: Key) {
        if let Some(s) = self.live(key) {
            if !s.recv_wanted {
                return;
            }
            s.recv_wanted = false;
            if s.recv_armed {
                self.cancel(key, ud(key, OP_RECV));
            }
        }
    }
    /// A callback for `key` queued `reqs[from..]`: a `StopRecv` among them takes effect now,
    /// so that the completions after it in this turn are held rather than delivered.
    pub(super) fn stop_if_asked(&mut self, key: Key, reqs: &[Req], from: usize) {
        let asked = reqs[from..]
            .iter()
            .any(|r| matches!(r, Req::StopRecv { key: k } if *k == key));
        if asked {
            self.stop_recv(key);
        }
    }
    /// Deliver what `key` held while stopped, in order, until it is stopped again; then
    /// receive new data.
    pub(super) fn redeliver<F>(&mut self, key: Key, reqs: &mut Vec<Req>, on_event: &mut F)
    where
        F: FnMut(Event<'_>, &mut Vec<Req>),
    {
        loop {
            let Some(s) = self.live(key) else {
                return;
            };
            if !s.recv_wanted || s.closing.is_some() {
                return;
            }
            match s.held.pop_front() {
                Some(Held::Data { bid, start, len }) => {
                    s.held_bytes -= len as usize;
                    self.held_total -= len as usize;
                    let from = reqs.len();
                    let data = self.bufs.data(bid, start, len as usize);
                    on_event(Event::Received { key, data }, reqs);
                    self.bufs.unhold(bid);
                    self.stop_if_asked(key, reqs, from);
                }
                Some(Held::End(err)) => {
                    s.recv_wanted = false;
                    let err = err.map(io::Error::from_raw_os_error);
                    on_event(Event::RecvClosed { key, err }, reqs);
                    return;
                }
                None => break,
            }
        }
        self.arm_recv(key);
    }
    /// Whether received data for `key` is to be held (its receiving is stopped, or older data
    /// is held). Past `HOLD_LIMIT`, the held data is delivered first and the new data after
    /// it (false), in order.
    pub(super) fn hold<F>(
        &mut self,
        key: Key,
        bid: u16,
        start: u32,
        len: usize,
        reqs: &mut Vec<Req>,
        on_event: &mut F,
    ) -> bool
    where
        F: FnMut(Event<'_>, &mut Vec<Req>),
    {
        let Some(s) = self.live(key) else {
            return false;
        };
        if s.recv_wanted && s.held.is_empty() {
            return false;
        }
        if s.held_bytes + len > HOLD_LIMIT {
            self.spill(key.slot(), reqs, on_event);
            return false;
        }
        s.held_bytes += len;
        s.held.push_back(Held::Data {
            bid,
            start,
            len: len as u32,
        });
        self.held_total += len;
        true
    }

    /// Deliver everything slot `s` holds now, in order (its connection is still stopped: the
    /// reactor copies the data aside), and give the buffers back.
    pub(super) fn spill<F>(&mut self, s: usize, reqs: &mut Vec<Req>, on_event: &mut F)
    where
        F: FnMut(Event<'_>, &mut Vec<Req>),
    {
        let Some(slot) = self.slots.get_mut(s) else {
            return;
        };
        let Some(key) = slot.key else {
            return;
        };
        self.held_total -= std::mem::take(&mut slot.held_bytes);
        for h in std::mem::take(&mut slot.held) {
            match h {
                Held::Data { bid, start, len } => {
                    let data = self.bufs.data(bid, start, len as usize);
                    on_event(Event::Received { key, data }, reqs);
                    self.bufs.unhold(bid);
                }
                Held::End(err) => {
                    let err = err.map(io::Error::from_raw_os_error);
                    on_event(Event::RecvClosed { key, err }, reqs);
                }
            }
        }
    }

    /// A receiving connection found the ring dry while stopped ones hold buffers: they give
    /// them back (their data goes to the reactor's stash), so that a connection whose
    /// application does not read never keeps the others from receiving. Holding is only
    /// a way to skip a copy while buffers are plentiful.
    pub(super) fn spill_all<F>(&mut self, reqs: &mut Vec<Req>, on_event: &mut F)
    where
        F: FnMut(Event<'_>, &mut Vec<Req>),
    {
        for s in 0..self.slots.len() {
            if self.held_total == 0 {
                return;
            }
            if !self.slots[s].held.is_empty() {
                self.spill(s, reqs, on_event);
            }
        }
    }
}
