//! A local subscriber of a SPOT node: its subscriptions, blocking and batch receives, and
//! handler callbacks (run on a thread of their own that receives in batches).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{JoinHandle, ThreadId};
use std::time::Duration;

use ringlink::{Error, Flags, Result, DONTWAIT};

use super::node::Node;
use super::queue::Record;
use super::topics::{FilterChange, Interest, TopicError};

/// A received message: `(topic, parts)`.
pub type SpotMessage = (Vec<u8>, Vec<Vec<u8>>);

/// A message callback: `(topic, parts)`.
pub type Handler = Box<dyn FnMut(&[u8], &[&[u8]]) + Send>;

/// Messages a handler thread takes per wake-up.
const HANDLER_BATCH: usize = 256;

#[derive(Debug)]
struct HandlerThread {
    stop: Arc<AtomicBool>,
    thread: ThreadId,
    handle: JoinHandle<()>,
}

/// A local subscriber of a [`SpotNode`](super::SpotNode); dropping it removes its
/// subscriptions (and stops its handler).
#[derive(Debug)]
pub struct SpotSub {
    id: u64,
    node: Arc<Node>,
    handler: Mutex<Option<HandlerThread>>,
    /// A handler is set: read on every receive without the mutex.
    handled: AtomicBool,
}

impl SpotSub {
    pub(super) fn new(id: u64, node: Arc<Node>) -> SpotSub {
        SpotSub {
            id,
            node,
            handler: Mutex::new(None),
            handled: AtomicBool::new(false),
        }
    }

    /// Receive messages on exactly `topic`.
    ///
    /// # Errors
    /// `InvalidArgument` for an empty or too long topic.
    pub fn subscribe(&self, topic: &str) -> Result<()> {
        self.add(Interest::parse(topic.as_bytes(), false))
    }

    /// Receive messages on every topic starting with `prefix` (the pattern `prefix*`).
    ///
    /// # Errors
    /// `InvalidArgument` unless the pattern is a prefix and one trailing `*`.
    pub fn subscribe_pattern(&self, pattern: &str) -> Result<()> {
        self.add(Interest::parse(pattern.as_bytes(), true))
    }

    /// Drop a subscription made with either call (`*` at the end names a pattern).
    ///
    /// # Errors
    /// `InvalidArgument` for an invalid topic or pattern.
    pub fn unsubscribe(&self, topic_or_pattern: &str) -> Result<()> {
        let b = topic_or_pattern.as_bytes();
        let interest = Interest::parse(b, b.ends_with(b"*"))
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let change = self.subs().table.unsubscribe(self.id, &interest);
        self.apply(change)
    }

    fn subs(&self) -> MutexGuard<'_, super::node::Subs> {
        self.node.subs_lock()
    }

    fn add(&self, interest: std::result::Result<Interest, TopicError>) -> Result<()> {
        let interest = interest.map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let change = self.subs().table.subscribe(self.id, interest);
        self.apply(change)
    }

    fn apply(&self, change: Option<FilterChange>) -> Result<()> {
        change.map_or(Ok(()), |c| self.node.apply_filter(c))
    }

    fn check_no_handler(&self) -> Result<()> {
        if self.handled.load(Ordering::Acquire) {
            return Err(Error::InvalidArgument(
                "this subscriber's messages go to its handler".into(),
            ));
        }
        Ok(())
    }

    /// The next message: `(topic, parts)`. Waits (up to `timeout`, `None`: no limit) unless
    /// `flags` has `DONTWAIT`.
    ///
    /// # Errors
    /// `Again` when nothing came in time (at once with `DONTWAIT`); `InvalidArgument` while
    /// a handler is set; `Terminated` once the context is shut down.
    pub fn recv(&self, flags: impl Into<Flags>, timeout: Option<Duration>) -> Result<SpotMessage> {
        let mut out = None;
        self.recv_with(1, wait(flags.into(), timeout), |r| {
            out = Some(owned(r));
            Ok(true)
        })?;
        Ok(out.expect("one message taken"))
    }

    /// Up to `max` queued messages (at least one: waits for it as [`SpotSub::recv`]).
    ///
    /// # Errors
    /// As [`SpotSub::recv`].
    pub fn recv_many(
        &self,
        max: usize,
        flags: impl Into<Flags>,
        timeout: Option<Duration>,
    ) -> Result<Vec<SpotMessage>> {
        let mut out = Vec::new();
        self.recv_with(max, wait(flags.into(), timeout), |r| {
            out.push(owned(r));
            Ok(true)
        })?;
        Ok(out)
    }

    /// Hand up to `max` queued messages to `f` in place, without copying them out (for
    /// batch receives into caller buffers): `f` returns false to leave a message queued and
    /// stop. Waits for the first message up to `timeout` (`None`: no limit; zero: not at
    /// all). Returns how many `f` took.
    ///
    /// # Errors
    /// What `f` returns; otherwise as [`SpotSub::recv`].
    pub fn recv_with(
        &self,
        max: usize,
        timeout: Option<Duration>,
        f: impl FnMut(Record<'_>) -> Result<bool>,
    ) -> Result<usize> {
        self.check_no_handler()?;
        if max == 0 {
            return Ok(0);
        }
        self.node.take(self.id, max, timeout, None, f)
    }

    /// Deliver this subscriber's messages to `handler`, on a thread of its own, in order
    /// (replacing a handler set before). While a handler is set, `recv` fails.
    ///
    /// # Errors
    /// `Io` if the thread cannot be spawned.
    pub fn set_handler(&self, handler: impl FnMut(&[u8], &[&[u8]]) + Send + 'static) -> Result<()> {
        self.clear_handler();
        let stop = Arc::new(AtomicBool::new(false));
        let (node, id, flag) = (self.node.clone(), self.id, stop.clone());
        let mut handler: Handler = Box::new(handler);
        let handle = std::thread::Builder::new()
            .name("spot-handler".into())
            .spawn(move || run_handler(&node, id, &flag, &mut handler))
            .map_err(Error::Io)?;
        self.handled.store(true, Ordering::Release);
        *lock(&self.handler) = Some(HandlerThread {
            stop,
            thread: handle.thread().id(),
            handle,
        });
        Ok(())
    }

    /// Stop delivering to the handler; waits for a callback in progress unless called from
    /// the handler itself. Messages not yet handed over stay queued for `recv`.
    pub fn clear_handler(&self) {
        let Some(h) = lock(&self.handler).take() else {
            return;
        };
        self.handled.store(false, Ordering::Release);
        h.stop.store(true, Ordering::Release);
        self.node.wake_all();
        if h.thread != std::thread::current().id() && h.handle.join().is_err() {
            log::error!("spot subscriber {}: handler panicked", self.id);
        }
    }
}

impl Drop for SpotSub {
    fn drop(&mut self) {
        self.clear_handler();
        let changes = {
            let mut g = self.subs();
            g.queues.try_remove(self.id as usize);
            g.table.remove_subscriber(self.id)
        };
        for c in changes {
            if let Err(e) = self.node.apply_filter(c) {
                log::debug!("spot subscriber {}: filter not removed: {e}", self.id);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn wait(flags: Flags, timeout: Option<Duration>) -> Option<Duration> {
    if flags.contains(DONTWAIT) {
        Some(Duration::ZERO)
    } else {
        timeout
    }
}

fn owned(r: Record<'_>) -> SpotMessage {
    (r.topic.to_vec(), r.parts().map(<[u8]>::to_vec).collect())
}

/// The handler thread: take a batch (copied out, so the callback runs without the node's
/// locks and may publish or subscribe), call the handler for each, until stopped.
fn run_handler(node: &Node, id: u64, stop: &AtomicBool, handler: &mut Handler) {
    let mut batch: Vec<SpotMessage> = Vec::new();
    loop {
        let r = node.take(id, HANDLER_BATCH, None, Some(stop), |r| {
            batch.push(owned(r));
            Ok(true)
        });
        if let Err(e) = r {
            log::debug!("spot subscriber {id}: handler thread ends: {e}");
            return;
        }
        for (topic, parts) in batch.drain(..) {
            let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            handler(&topic, &refs);
        }
        if stop.load(Ordering::Acquire) {
            return;
        }
    }
}
