//! Load balancing (libzmq's lb): each new message goes to the next peer in round-robin
//! order that has room; a multipart message stays with its peer.

#![forbid(unsafe_code)]

use super::core::{partial, Core, Deadline, Routing, INLINE_FLUSH_EVERY};
use super::outgoing::Outgoing;
use super::SNDMORE_BIT;
use crate::error::{Error, Result};

/// Peers in send order and the round-robin cursor.
#[derive(Default)]
pub(super) struct Lb {
    order: Vec<usize>,
    rr: usize,
}

impl Lb {
    pub(super) fn attach(&mut self, slot: usize) {
        self.order.push(slot);
    }

    pub(super) fn detach(&mut self, slot: usize) {
        self.order.retain(|&s| s != slot);
    }
}

/// A pattern that load-balances its sends over an [`Lb`].
pub(super) trait Balanced: Routing {
    fn lb(&mut self) -> &mut Lb;
}

/// A peer with room for a new message (round-robin), blocking per `nowait`/`deadline`.
/// The common case (one peer with room) is inlined into the send; the rest is not.
#[inline]
pub(super) fn pick<H: Balanced>(
    h: &mut H,
    core: &mut Core,
    nowait: bool,
    deadline: &mut Deadline,
) -> Result<usize> {
    core.process_inbox(h);
    if let [s] = h.lb().order[..] {
        let p = &mut core.peers[s];
        if !p.out.is_full() && !p.out.reader_gone() {
            return Ok(s);
        }
    }
    pick_slow(h, core, nowait, deadline)
}

#[inline(never)]
fn pick_slow<H: Balanced>(
    h: &mut H,
    core: &mut Core,
    nowait: bool,
    deadline: &mut Deadline,
) -> Result<usize> {
    loop {
        core.process_inbox(h);
        let this = h.lb();
        let n = this.order.len();
        for i in 0..n {
            let idx = (this.rr + i) % n;
            let s = this.order[idx];
            let p = &mut core.peers[s];
            if p.out.reader_gone() {
                continue;
            }
            if !p.out.is_full() {
                this.rr = (idx + 1) % n.max(1);
                return Ok(s);
            }
        }
        if nowait {
            return Err(Error::Again);
        }
        // Ask every full peer to tell us when it drains, then re-check before sleeping.
        let mut room = false;
        for &s in &this.order {
            let p = &mut core.peers[s];
            if !p.out.reader_gone() && !p.out.wait_for_space() {
                room = true;
            }
        }
        if !room {
            core.wait(deadline.get())?;
        }
    }
}

/// Send one frame load-balanced (PAIR, DEALER, PUSH).
#[inline]
pub(super) fn send<H: Balanced>(h: &mut H, core: &mut Core, data: &[u8], flags: i32) -> Result<()> {
    let more = flags & SNDMORE_BIT != 0;
    let s = match core.cur_out {
        Some(s) => s,
        None => {
            // The peer of a message in progress went away: swallow the rest.
            if core.swallow(more) {
                return Ok(());
            }
            let nowait = core.snd_nowait(flags);
            let mut deadline = Deadline::new(core.opts.sndtimeo);
            pick(h, core, nowait, &mut deadline)?
        }
    };
    core.write(s, data, more);
    core.cur_out = more.then_some(s);
    if !more {
        core.sent_one();
    }
    Ok(())
}

/// Send `count` messages load-balanced with one hand-off per peer for the whole batch.
pub(super) fn send_many<H: Balanced, M: Outgoing>(
    h: &mut H,
    core: &mut Core,
    count: usize,
    flags: i32,
    item: impl Fn(usize) -> M,
) -> Result<usize> {
    if core.cur_out.is_some() || core.dropping {
        return Err(Error::State);
    }
    let nowait = core.snd_nowait(flags);
    let mut deadline = Deadline::new(core.opts.sndtimeo);
    let mut touched = std::mem::take(&mut core.touched);
    let mut sent = 0;
    let result = loop {
        if sent == count {
            break Ok(sent);
        }
        // One peer: as many messages as it has room for, with one commit (up to the next
        // multiple of INLINE_FLUSH_EVERY in inline mode, where the batch may start sending).
        core.process_inbox(h);
        if let [s] = h.lb().order[..] {
            let p = &mut core.peers[s];
            if !p.out.reader_gone() {
                let room = p.out.room().min((count - sent) as u64) as usize;
                if room > 0 {
                    let mut to = sent + room;
                    if core.inline {
                        to = to.min((sent / INLINE_FLUSH_EVERY + 1) * INLINE_FLUSH_EVERY);
                    }
                    sent = core.batch_run(s, sent, to, &item, &mut touched);
                    continue;
                }
            }
        }
        let s = match pick(h, core, true, &mut deadline) {
            Ok(s) => s,
            Err(Error::Again) => {
                // Publish what we have before blocking, so the reactor can drain it.
                core.finish_batch(&mut touched);
                if nowait {
                    break partial(sent, Error::Again);
                }
                match pick(h, core, false, &mut deadline) {
                    Ok(s) => s,
                    Err(Error::Again) if sent > 0 => break Ok(sent),
                    Err(e) => break Err(e),
                }
            }
            Err(e) => break Err(e),
        };
        sent += 1;
        core.batch_write(s, &item(sent - 1), &mut touched, sent);
    };
    core.end_batch(touched);
    result
}
