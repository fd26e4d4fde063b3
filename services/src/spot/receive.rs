//! How a subscriber's receive gets its messages: its queued ones first, then straight from
//! the node's SUB. The SUB is read in large batches; while the receiver's queue is empty, a
//! message for it is handed over from the batch in place (not copied into its queue and out
//! again). A batch is delivered only as far as the receiver has room: the rest stays in the
//! batch, undelivered, for the next receive of any subscriber, so a message-by-message
//! receiver pays for a batch read once per batch. Messages for the node's other subscribers
//! go to their queues as the batch is delivered, and they are told; and since an undelivered
//! rest is not on the SUB's readiness fd, a waiting subscriber is told of it too.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ringlink::{Error, Result, DONTWAIT};

use super::node::{lock, Node, SubSide, Subs};
use super::queue::Record;
use super::topics::check_topic;

/// Batches of the SUB read per attempt (a fast publisher cannot keep a receiver from
/// returning).
const PUMP_BATCHES: usize = 4;

impl Node {
    /// Take up to `max` of subscriber `id`'s messages, handing each to `f` in place (`f`
    /// returns false to leave it queued and stop); waits for the first up to `timeout` (`None`:
    /// no limit; zero: not at all). With `stop` set, returns `Ok(0)`. `f` runs under the
    /// node's locks: it must not call into the node.
    pub(super) fn take(
        &self,
        id: u64,
        max: usize,
        timeout: Option<Duration>,
        stop: Option<&AtomicBool>,
        mut f: impl FnMut(Record<'_>) -> Result<bool>,
    ) -> Result<usize> {
        let mut attempt = |rearm: bool| -> Result<Option<usize>> {
            if stop.is_some_and(|s| s.load(Ordering::Acquire)) {
                return Ok(Some(0));
            }
            let n = self.fill(id, max, rearm, &mut f)?;
            Ok((n > 0).then_some(n))
        };
        // The clock is read only when a wait begins (not once per message).
        if let Some(n) = attempt(false)? {
            return Ok(n);
        }
        if timeout == Some(Duration::ZERO) {
            return Err(Error::Again);
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        self.waiting.run(&self.fds, deadline, attempt)
    }

    /// One attempt of [`Node::take`]: queued messages, then (with room left) the SUB. A
    /// subscriber whose queue never runs dry (local publishing) still hears its peers: the
    /// SUB is read whenever the queue leaves room. `rearm`: the caller is the leader about to
    /// sleep on the fds, which are re-armed first.
    fn fill(
        &self,
        id: u64,
        max: usize,
        rearm: bool,
        f: &mut impl FnMut(Record<'_>) -> Result<bool>,
    ) -> Result<usize> {
        let mut side_guard = lock(&self.side);
        let side = &mut *side_guard;
        if rearm {
            self.wake_pending.store(false, Ordering::Release);
            while side.wake_rx.recv(&mut [], DONTWAIT).is_ok() {}
            side.wake_rx.events()?;
            side.sub.events()?;
        }
        let mut subs = lock(&self.subs);
        let mut to = Taker {
            id,
            room: max,
            taken: 0,
            open: true,
            failed: None,
        };
        to.consume(&mut subs, f);
        let (mut queued, mut reads) = (false, 0);
        while to.wants_more() {
            if side.rest.is_empty() {
                if reads == PUMP_BATCHES {
                    break;
                }
                reads += 1;
                match read_batch(side)? {
                    Batch::Frames(n) => {
                        side.rest = Rest {
                            at: 0,
                            off: 0,
                            end: n,
                        }
                    }
                    Batch::Alone(m) => {
                        let lens: Vec<usize> = m[1..].iter().map(Vec::len).collect();
                        let body = m[1..].concat();
                        let record = Record::from_frames(&m[0], &body, &lens);
                        queued |= to.deliver(&mut subs, record, f);
                    }
                    Batch::Empty => break,
                }
                continue;
            }
            queued |= to.deliver_next(&mut subs, side, f);
        }
        // A rest this call read is announced; one left by an earlier call was announced
        // then (a waiter that looked after that saw it), so a message-by-message receiver
        // pays for the announcement once per batch, not per message.
        let fresh_rest = reads > 0 && !side.rest.is_empty();
        drop(subs);
        drop(side_guard);
        if queued || (fresh_rest && self.waiting.announce()) {
            self.notify(rearm);
        }
        match to.failed {
            Some(e) if to.taken == 0 => Err(e),
            _ => Ok(to.taken),
        }
    }
}

/// What one read of the SUB gave.
enum Batch {
    /// Frames in the side's buffers.
    Frames(usize),
    /// One message too large for them, on its own.
    Alone(Vec<Vec<u8>>),
    Empty,
}

/// Read whole messages from the SUB into the side's buffers.
fn read_batch(side: &mut SubSide) -> Result<Batch> {
    match side
        .sub
        .recv_batch_parts(&mut side.buf, &mut side.lens, &mut side.more, DONTWAIT)
    {
        Ok(n) => Ok(Batch::Frames(n)),
        Err(Error::Again) => Ok(Batch::Empty),
        // Bigger than the batch buffer: on its own (the engine holds it already).
        Err(Error::MessageTooLarge(_)) => Ok(Batch::Alone(side.sub.recv_multipart(DONTWAIT)?)),
        Err(e) => Err(e),
    }
}

/// The undelivered rest of the last batch read: frames `at..end`, frame `at` starting at
/// byte `off` of the buffer.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Rest {
    at: usize,
    off: usize,
    end: usize,
}

impl Rest {
    pub(super) fn is_empty(&self) -> bool {
        self.at == self.end
    }
}

/// The receiving subscriber and how far its receive got.
struct Taker {
    id: u64,
    room: usize,
    taken: usize,
    /// Still taking messages in place (its queue is empty, it has room, and it has not
    /// refused or failed).
    open: bool,
    /// What the receiver's callback failed with (its message stays queued).
    failed: Option<Error>,
}

impl Taker {
    fn wants_more(&self) -> bool {
        self.open && self.taken < self.room
    }

    /// Hand over queued messages first; the taker stays open only if its queue ran dry.
    fn consume(&mut self, subs: &mut Subs, f: &mut impl FnMut(Record<'_>) -> Result<bool>) {
        let Some(q) = subs.queues.get_mut(self.id as usize) else {
            self.open = false;
            return;
        };
        while self.taken < self.room {
            let Some(r) = q.peek() else { return };
            if !self.offer(r, f) {
                return;
            }
            q.pop_front();
        }
    }

    /// Offer `r` to the receiver: whether it took it. A refusal or an error closes the
    /// taker (the message is to be queued).
    fn offer(&mut self, r: Record<'_>, f: &mut impl FnMut(Record<'_>) -> Result<bool>) -> bool {
        match f(r) {
            Ok(true) => {
                self.taken += 1;
                true
            }
            Ok(false) => {
                self.open = false;
                false
            }
            Err(e) => {
                self.failed = Some(e);
                self.open = false;
                false
            }
        }
    }

    /// Deliver the next message of the batch's rest; whether it went to a queue.
    fn deliver_next(
        &mut self,
        subs: &mut Subs,
        side: &mut SubSide,
        f: &mut impl FnMut(Record<'_>) -> Result<bool>,
    ) -> bool {
        let Rest { at, off, end } = side.rest;
        let mut last = at;
        while side.more[last] && last + 1 < end {
            last += 1;
        }
        let topic = &side.buf[off..off + side.lens[at]];
        let lens = &side.lens[at + 1..=last];
        let body_at = off + side.lens[at];
        let body_len: usize = lens.iter().sum();
        let record = Record::from_frames(topic, &side.buf[body_at..body_at + body_len], lens);
        let queued = self.deliver(subs, record, f);
        side.rest = Rest {
            at: last + 1,
            off: body_at + body_len,
            end,
        };
        queued
    }

    /// Deliver one message from a peer to the matching subscribers: in place to the taker
    /// while it is open, to the queues otherwise; whether any went to a queue. Only a topic,
    /// or a topic SPOT cannot have: not a SPOT message, ignored.
    fn deliver(
        &mut self,
        subs: &mut Subs,
        r: Record<'_>,
        f: &mut impl FnMut(Record<'_>) -> Result<bool>,
    ) -> bool {
        if check_topic(r.topic).is_err() || r.part_count() == 0 {
            return false;
        }
        let Subs {
            table,
            queues,
            dropped,
            ..
        } = subs;
        let mut queued = false;
        for &sid in table.recipients_cached(r.topic) {
            if sid == self.id && self.wants_more() && self.offer(r, f) {
                continue;
            }
            if queues[sid as usize].push(r.topic, r.parts()) {
                queued = true;
            } else {
                *dropped += 1;
            }
        }
        queued
    }
}
