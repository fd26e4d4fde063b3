//! ROUTER: the first frame of a sent message names the peer; received messages are prefixed
//! with the sending peer's routing id. Unroutable messages are dropped, unless
//! ROUTER_MANDATORY (EHOSTUNREACH, and a full peer blocks or fails with EAGAIN).

#![forbid(unsafe_code)]

use std::cell::Cell;
use std::collections::HashMap;

use super::core::{partial, Core, Deadline, Routing, INLINE_FLUSH_EVERY};
use super::SNDMORE_BIT;
use crate::error::{Error, Result};
use crate::runtime::shared::NewPeer;

/// Routing ids of attached peers (ROUTER, STREAM) and the generator of fresh ones.
///
/// The map keeps the standard library's keyed SipHash: ids are chosen by peers, so a fast
/// unkeyed (or weakly keyed) hash would let a hostile peer set flood one bucket. What the
/// hash costs per send is saved instead by remembering the last peer found: a run of sends
/// to one peer (a gateway with one provider, a reply stream, a routed batch) compares the
/// id with that peer's instead of hashing it.
pub(super) struct RidTable {
    by_rid: HashMap<Vec<u8>, usize>,
    /// The slot of the last id found in `by_rid` (`NONE` for none). Cleared whenever the
    /// map changes, so a remembered slot is always mapped from its peer's current id.
    last: Cell<usize>,
    next: u32,
}

const NONE: usize = usize::MAX;

impl Default for RidTable {
    fn default() -> Self {
        RidTable {
            by_rid: HashMap::new(),
            last: Cell::new(NONE),
            next: 0x5EED_0000 ^ std::process::id(),
        }
    }
}

impl RidTable {
    /// A fresh id: `0x00` + a 4-byte counter (libzmq's form), unused so far.
    pub(super) fn generate(&mut self) -> Vec<u8> {
        loop {
            self.next = self.next.wrapping_add(1);
            let mut rid = vec![0u8];
            rid.extend_from_slice(&self.next.to_be_bytes());
            if !self.contains(&rid) {
                return rid;
            }
        }
    }

    /// Whether some peer has this id.
    pub(super) fn contains(&self, rid: &[u8]) -> bool {
        self.by_rid.contains_key(rid)
    }

    /// The peer slot with this id, live or not.
    pub(super) fn get(&self, rid: &[u8]) -> Option<usize> {
        self.by_rid.get(rid).copied()
    }

    /// Peer `slot` now has id `rid` (replacing whatever `rid` named before).
    pub(super) fn insert(&mut self, rid: Vec<u8>, slot: usize) {
        self.last.set(NONE);
        self.by_rid.insert(rid, slot);
    }

    /// The peer `slot` (with id `rid`) is going away.
    pub(super) fn forget(&mut self, rid: &[u8], slot: usize) {
        self.last.set(NONE);
        if self.by_rid.get(rid) == Some(&slot) {
            self.by_rid.remove(rid);
        }
    }

    /// Forget `rid` whichever peer has it.
    fn remove(&mut self, rid: &[u8]) {
        self.last.set(NONE);
        self.by_rid.remove(rid);
    }

    /// The live peer with this id.
    #[inline]
    pub(super) fn lookup(&self, core: &Core, rid: &[u8]) -> Option<usize> {
        let last = self.last.get();
        let s = match core.peers.get(last) {
            // `last` is mapped from its peer's current id (see the field), so equal ids
            // mean the map would answer `last` too.
            Some(p) if same_id(&p.rid, rid) => last,
            _ => {
                let s = *self.by_rid.get(rid)?;
                self.last.set(s);
                s
            }
        };
        (!core.peers[s].out.reader_gone()).then_some(s)
    }
}

/// `a == b` for the short ids routing compares on every send, in a few word compares
/// instead of a call into `memcmp`.
#[inline]
fn same_id(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let w8 = |s: &[u8], i: usize| u64::from_ne_bytes(s[i..i + 8].try_into().expect("8 bytes"));
    let w4 = |s: &[u8], i: usize| u32::from_ne_bytes(s[i..i + 4].try_into().expect("4 bytes"));
    match n {
        // Two overlapping words cover every byte.
        8..=16 => w8(a, 0) == w8(b, 0) && w8(a, n - 8) == w8(b, n - 8),
        4..=7 => w4(a, 0) == w4(b, 0) && w4(a, n - 4) == w4(b, n - 4),
        0..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        _ => a == b,
    }
}

/// A pattern that addresses peers by routing id (ROUTER, STREAM).
pub(super) trait Routed: Routing {
    fn table(&self) -> &RidTable;
}

#[derive(Default)]
pub(super) struct Router {
    pub(super) table: RidTable,
    /// The routing-id frame of the message being received was delivered.
    rid_sent: bool,
}

impl Routing for Router {
    fn admit(&mut self, core: &mut Core, p: &NewPeer) -> Option<Vec<u8>> {
        let rid = match (&p.alias, p.identity.is_empty()) {
            (Some(a), _) => a.clone(),
            (None, false) => p.identity.clone(),
            (None, true) => self.table.generate(),
        };
        if let Some(old) = self.table.get(&rid) {
            if !core.opts.router_handover {
                return None;
            }
            // Handover: the old peer loses the id and its connection.
            let fresh = self.table.generate();
            self.table.remove(&rid);
            self.table.insert(fresh.clone(), old);
            let op = &mut core.peers[old];
            op.rid = fresh;
            core.hub.reject(&op.link, op.id);
        }
        Some(rid)
    }

    fn attached(&mut self, core: &mut Core, slot: usize) {
        self.table.insert(core.peers[slot].rid.clone(), slot);
        if core.opts.probe_router {
            core.greet(slot, &[]);
        }
    }

    fn detached(&mut self, core: &mut Core, slot: usize) {
        self.table.forget(&core.peers[slot].rid, slot);
        if core.cur_in == Some(slot) {
            self.rid_sent = false;
        }
    }
}

impl Routed for Router {
    fn table(&self) -> &RidTable {
        &self.table
    }
}

impl Router {
    /// Receive: the peer's routing id frame, then its message.
    #[inline]
    pub(super) fn recv_frame<R>(
        &mut self,
        core: &mut Core,
        flags: i32,
        mut f: impl FnMut(&[u8], bool) -> R,
    ) -> Result<R> {
        let nowait = core.rcv_nowait(flags);
        let mut deadline = Deadline::new(core.opts.rcvtimeo);
        let s = core.next_message(self, nowait, &mut deadline)?;
        if !self.rid_sent {
            core.cur_in = Some(s);
            core.rcvmore = true;
            self.rid_sent = true;
            return Ok(f(&core.peers[s].rid, true));
        }
        let r = core.read_frame(s, &mut f);
        if !core.rcvmore {
            self.rid_sent = false;
        }
        Ok(r)
    }

    pub(super) fn can_send(&mut self, core: &mut Core) -> bool {
        !core.opts.router_mandatory || core.any_room()
    }

    #[inline]
    pub(super) fn send(&mut self, core: &mut Core, data: &[u8], flags: i32) -> Result<()> {
        let more = flags & SNDMORE_BIT != 0;
        if let Some(s) = core.cur_out {
            core.write(s, data, more);
            if !more {
                core.cur_out = None;
                core.sent_one();
            }
            return Ok(());
        }
        if core.swallow(more) {
            return Ok(());
        }
        // First frame: the routing id. A lone routing id is silently dropped, as libzmq does.
        if !more {
            return Ok(());
        }
        match self.route(core, data, flags)? {
            Some(s) => core.cur_out = Some(s),
            None => core.dropping = true,
        }
        Ok(())
    }

    /// [`Socket::send_routed`](crate::Socket::send_routed): the message `parts` for peer
    /// `rid`, routed once.
    #[inline]
    pub(super) fn send_parts<T: AsRef<[u8]>>(
        &mut self,
        core: &mut Core,
        rid: &[u8],
        parts: &[T],
        flags: i32,
    ) -> Result<()> {
        if core.cur_out.is_some() || core.dropping {
            return Err(Error::State);
        }
        if let Some(s) = self.route(core, rid, flags)? {
            let last = parts.len() - 1;
            for (i, p) in parts.iter().enumerate() {
                core.write(s, p.as_ref(), i < last);
            }
            core.sent_one();
        }
        Ok(())
    }

    /// The peer a message for `rid` goes to, waiting for room as ROUTER_MANDATORY says;
    /// `None` when the message is to be dropped (counted here).
    fn route(&mut self, core: &mut Core, rid: &[u8], flags: i32) -> Result<Option<usize>> {
        core.process_inbox(self);
        let mandatory = core.opts.router_mandatory;
        let Some(s) = self.table.lookup(core, rid) else {
            if mandatory {
                return Err(Error::HostUnreachable);
            }
            core.dropped += 1;
            return Ok(None);
        };
        if core.peers[s].out.is_full() {
            if !mandatory {
                core.dropped += 1;
                return Ok(None);
            }
            if core.snd_nowait(flags) {
                // Ask the peer to report free space (so a watched fd fires when it comes),
                // or go on if it appeared meanwhile.
                if core.peers[s].out.wait_for_space() {
                    return Err(Error::Again);
                }
            }
            let mut deadline = Deadline::new(core.opts.sndtimeo);
            loop {
                let p = &mut core.peers[s];
                if !p.out.is_full() || p.out.reader_gone() {
                    break;
                }
                if p.out.wait_for_space() {
                    core.wait(deadline.get())?;
                    core.process_inbox(self);
                    if !core.peers.contains(s) {
                        return Err(Error::HostUnreachable);
                    }
                }
            }
        }
        Ok(Some(s))
    }
}

/// `send_routed_batch` for ROUTER and STREAM: each `(routing id, payload)` is one message
/// for that peer, published with one hand-off per peer. An unknown id or a full peer drops
/// the message (still counted) unless `mandatory`, where an unknown id ends the batch with
/// `HostUnreachable` and a full peer blocks (or ends it with `Again`). `write` queues one
/// payload for a peer as the `n`-th message of the batch. With `runs` (ROUTER, whose
/// `write` is a plain append), a run of messages for one peer is appended with one commit
/// (as far as the peer has room).
#[allow(clippy::too_many_arguments)]
pub(super) fn send_batch<H: Routed, B: RoutedBatch + ?Sized>(
    h: &mut H,
    core: &mut Core,
    msgs: &B,
    flags: i32,
    mandatory: bool,
    runs: bool,
    mut write: impl FnMut(&mut H, &mut Core, usize, &[u8], &mut Vec<usize>, usize) -> Result<()>,
) -> Result<usize> {
    if core.cur_out.is_some() || core.dropping {
        return Err(Error::State);
    }
    let nowait = core.snd_nowait(flags);
    let mut deadline = Deadline::new(core.opts.sndtimeo);
    let mut touched = std::mem::take(&mut core.touched);
    let mut done = 0;
    let result = 'batch: loop {
        if done == msgs.len() {
            break Ok(done);
        }
        core.process_inbox(h);
        let Some(s) = h.table().lookup(core, msgs.rid(done)) else {
            if mandatory {
                break partial(done, Error::HostUnreachable);
            }
            core.dropped += 1;
            done += 1;
            continue;
        };
        while core.peers[s].out.is_full() {
            if !mandatory {
                core.dropped += 1;
                done += 1;
                continue 'batch;
            }
            // Let the reactor drain what we queued, then wait for room.
            core.finish_batch(&mut touched);
            if nowait {
                // As in `send`: the full peer reports free space when it comes.
                if core.peers[s].out.wait_for_space() {
                    break 'batch partial(done, Error::Again);
                }
                continue;
            }
            if core.peers[s].out.wait_for_space() {
                if let Err(e) = core.wait(deadline.get()) {
                    break 'batch partial(done, e);
                }
                core.process_inbox(h);
                if !core.peers.contains(s) || core.peers[s].out.reader_gone() {
                    continue 'batch;
                }
            }
        }
        if runs {
            let end = run_end(core, s, msgs, done);
            if end > done + 1 {
                done = core.batch_run(s, done, end, &|i| msgs.payload(i), &mut touched);
                continue;
            }
        }
        if let Err(e) = write(h, core, s, msgs.payload(done), &mut touched, done + 1) {
            break partial(done, e);
        }
        done += 1;
    };
    core.end_batch(touched);
    result
}

/// The end of the run of messages from `at` that go to peer `s`, bounded by the peer's room
/// and, inline, by the next multiple of `INLINE_FLUSH_EVERY` (where a batch may start sending).
fn run_end<B: RoutedBatch + ?Sized>(core: &mut Core, s: usize, msgs: &B, at: usize) -> usize {
    let room = core.peers[s].out.room().min((msgs.len() - at) as u64) as usize;
    let mut limit = at + room;
    if core.inline {
        limit = limit.min((at / INLINE_FLUSH_EVERY + 1) * INLINE_FLUSH_EVERY);
    }
    msgs.run_end(at, limit)
}

/// The messages of a routed batch: message `i` is `payload(i)` for the peer `rid(i)`.
pub(super) trait RoutedBatch {
    fn len(&self) -> usize;
    fn rid(&self, i: usize) -> &[u8];
    fn payload(&self, i: usize) -> &[u8];
    /// The end (at most `limit`) of the run from `at` that goes to `rid(at)`.
    fn run_end(&self, at: usize, limit: usize) -> usize;
}

/// `(routing id, payload)` pairs (`Socket::send_routed_batch`).
impl<R: AsRef<[u8]>, P: AsRef<[u8]>> RoutedBatch for [(R, P)] {
    fn len(&self) -> usize {
        <[(R, P)]>::len(self)
    }
    fn rid(&self, i: usize) -> &[u8] {
        self[i].0.as_ref()
    }
    fn payload(&self, i: usize) -> &[u8] {
        self[i].1.as_ref()
    }
    /// Compares ids (often the very same slice, as a gateway's picks are).
    fn run_end(&self, at: usize, limit: usize) -> usize {
        let rid = self[at].0.as_ref();
        let mut end = at + 1;
        while end < limit {
            let next = self[end].0.as_ref();
            if !(std::ptr::eq(next, rid) || same_id(next, rid)) {
                break;
            }
            end += 1;
        }
        end
    }
}

/// `count` messages for one peer (`Socket::send_routed_many`, `send_routed_repeat`): one
/// run, no id compared per message.
pub(super) struct OnePeer<'a, F> {
    pub(super) rid: &'a [u8],
    pub(super) count: usize,
    pub(super) payload: F,
}

impl<'a, F: Fn(usize) -> &'a [u8]> RoutedBatch for OnePeer<'a, F> {
    fn len(&self) -> usize {
        self.count
    }
    fn rid(&self, _: usize) -> &[u8] {
        self.rid
    }
    fn payload(&self, i: usize) -> &[u8] {
        (self.payload)(i)
    }
    fn run_end(&self, _: usize, limit: usize) -> usize {
        limit
    }
}

#[cfg(test)]
mod tests;
