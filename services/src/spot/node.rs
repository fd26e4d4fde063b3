//! A SPOT node: one PUB that publishes this node's messages, one SUB connected to the peers'
//! PUBs (a full mesh, one hop), and local subscribers with their own queues. A message is
//! `[topic][part…]` on the wire. A published message goes to the local subscribers whose
//! interest matches and out on the PUB; a message from a peer is delivered locally only,
//! never published again (no loops).
//!
//! A worker thread reads the SUB in one `poll` with its control socket (zlink's node loop
//! sleeps 1 ms when idle, which sets its latency); subscribers wait on a condition variable.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ringlink::{Context, Error, Flags, PollItem, Result, Socket, SocketType, DONTWAIT, POLLIN};

use super::topics::{check_topic, FilterChange, Interest, Subscriptions};
use crate::control::{self, nowait, verb};

/// Messages a subscriber's queue holds before new ones are dropped (zlink's HWM).
pub const SUB_QUEUE_LIMIT: usize = 100_000;

type Delivered = (Vec<u8>, Vec<Vec<u8>>);

#[derive(Debug, Default)]
struct Subs {
    table: Subscriptions,
    queues: HashMap<u64, VecDeque<Delivered>>,
    next_id: u64,
    dropped: u64,
    /// Why the worker stopped, if it failed.
    stopped: Option<Stopped>,
}

#[derive(Debug, Clone)]
enum Stopped {
    Terminated,
    Failed(String),
}

#[derive(Debug)]
struct Shared {
    subs: Mutex<Subs>,
    arrived: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Subs> {
        self.subs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue a message for the local subscribers it matches; wake them.
    fn deliver<T: AsRef<[u8]>>(&self, topic: &[u8], parts: &[T]) {
        let mut g = self.lock();
        let to = g.table.recipients(topic);
        if to.is_empty() {
            return;
        }
        for id in to {
            let q = g.queues.entry(id).or_default();
            if q.len() < SUB_QUEUE_LIMIT {
                q.push_back((
                    topic.to_vec(),
                    parts.iter().map(|p| p.as_ref().to_vec()).collect(),
                ));
            } else {
                g.dropped += 1;
            }
        }
        drop(g);
        self.arrived.notify_all();
    }
}

/// A SPOT node.
#[derive(Debug)]
pub struct SpotNode {
    shared: Arc<Shared>,
    publisher: Mutex<Socket>,
    ctl: Arc<Mutex<Socket>>,
    thread: control::WorkerThread,
}

impl SpotNode {
    /// A node on `ctx` (its worker starts at once).
    ///
    /// # Errors
    /// Socket errors as [`Context::socket`]; `Io` if the thread cannot be spawned.
    pub fn new(ctx: &Context) -> Result<SpotNode> {
        let mut publisher = ctx.socket(SocketType::Pub)?;
        publisher.set_option(ringlink::SocketOption::Linger(0))?;
        let mut sub = ctx.socket(SocketType::Sub)?;
        sub.set_option(ringlink::SocketOption::Linger(0))?;
        let (ctl, worker_ctl) = control::pair(ctx, "spot")?;
        let shared = Arc::new(Shared {
            subs: Mutex::new(Subs::default()),
            arrived: Condvar::new(),
        });
        let w = Worker {
            shared: shared.clone(),
            sub,
            ctl: worker_ctl,
        };
        let thread = control::spawn("spotnode", move || w.run())?;
        Ok(SpotNode {
            shared,
            publisher: Mutex::new(publisher),
            ctl: Arc::new(Mutex::new(ctl)),
            thread,
        })
    }

    /// Bind the node's PUB; returns the endpoint as bound.
    ///
    /// # Errors
    /// As [`Socket::bind`].
    pub fn bind(&self, endpoint: &str) -> Result<String> {
        let mut p = self.publisher.lock().unwrap_or_else(|e| e.into_inner());
        p.bind(endpoint)?;
        Ok(p.last_endpoint().unwrap_or_else(|| endpoint.to_string()))
    }

    /// Receive the messages a peer node publishes (its PUB endpoint).
    ///
    /// # Errors
    /// `InvalidArgument` with the reason when the endpoint is refused.
    pub fn connect_peer(&self, pub_endpoint: &str) -> Result<()> {
        request(&self.ctl, &[b"connect", pub_endpoint.as_bytes()])
    }

    /// Stop receiving from a peer node.
    ///
    /// # Errors
    /// `InvalidArgument` when not connected to it.
    pub fn disconnect_peer(&self, pub_endpoint: &str) -> Result<()> {
        request(&self.ctl, &[b"disconnect", pub_endpoint.as_bytes()])
    }

    /// A new local subscriber.
    pub fn subscriber(&self) -> SpotSub {
        let mut g = self.shared.lock();
        g.next_id += 1;
        let id = g.next_id;
        g.queues.insert(id, VecDeque::new());
        SpotSub {
            id,
            shared: self.shared.clone(),
            ctl: self.ctl.clone(),
        }
    }

    /// Publish `parts` on `topic`: to the matching local subscribers, then to the peers
    /// (lossy, as PUB is: a peer at its high-water mark misses it).
    ///
    /// # Errors
    /// `InvalidArgument` for an empty or longer than 255 byte topic or no parts;
    /// `Terminated` once the context is shut down.
    pub fn publish<T: AsRef<[u8]>>(&self, topic: &[u8], parts: &[T]) -> Result<()> {
        check_topic(topic).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        if parts.is_empty() {
            return Err(Error::InvalidArgument("a message needs a part".into()));
        }
        // Copies only for local subscribers that want it; the PUB sends from `parts`.
        self.shared.deliver(topic, parts);
        let mut p = self.publisher.lock().unwrap_or_else(|e| e.into_inner());
        p.send(topic, ringlink::SNDMORE | DONTWAIT)?;
        p.send_multipart(parts, DONTWAIT)
    }

    /// Messages dropped because a local subscriber's queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.lock().dropped
    }
}

impl Drop for SpotNode {
    fn drop(&mut self) {
        let mut ctl = self.ctl.lock().unwrap_or_else(|e| e.into_inner());
        self.thread.stop(&mut ctl);
    }
}

fn request(ctl: &Mutex<Socket>, frames: &[&[u8]]) -> Result<()> {
    let mut c = ctl.lock().unwrap_or_else(|e| e.into_inner());
    c.send_multipart(frames, 0)?;
    let reply = c.recv_multipart(0)?;
    match verb(&reply) {
        Some(b"ok") => Ok(()),
        Some(b"terminated") => Err(Error::Terminated),
        _ => Err(Error::InvalidArgument(control::text(&reply, 1))),
    }
}

/// A local subscriber of a [`SpotNode`]; dropping it removes its subscriptions.
#[derive(Debug)]
pub struct SpotSub {
    id: u64,
    shared: Arc<Shared>,
    ctl: Arc<Mutex<Socket>>,
}

impl SpotSub {
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
        let change = self.shared.lock().table.unsubscribe(self.id, &interest);
        self.apply(change)
    }

    fn add(
        &self,
        interest: std::result::Result<Interest, super::topics::TopicError>,
    ) -> Result<()> {
        let interest = interest.map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let change = self.shared.lock().table.subscribe(self.id, interest);
        self.apply(change)
    }

    fn apply(&self, change: Option<FilterChange>) -> Result<()> {
        match change {
            Some(FilterChange::Add(f)) => request(&self.ctl, &[b"sub", &f]),
            Some(FilterChange::Remove(f)) => request(&self.ctl, &[b"unsub", &f]),
            None => Ok(()),
        }
    }

    /// The next message: `(topic, parts)`. Waits (up to `timeout`, `None`: no limit) unless
    /// `flags` has `DONTWAIT`.
    ///
    /// # Errors
    /// `Again` when nothing came in time (at once with `DONTWAIT`); `Terminated` once the
    /// node's worker stopped because the context was shut down (`InvalidArgument` with the
    /// reason if it failed otherwise).
    pub fn recv(
        &self,
        flags: impl Into<Flags>,
        timeout: Option<Duration>,
    ) -> Result<(Vec<u8>, Vec<Vec<u8>>)> {
        let dontwait = flags.into().contains(DONTWAIT);
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut g = self.shared.lock();
        loop {
            if let Some(m) = g.queues.get_mut(&self.id).and_then(VecDeque::pop_front) {
                return Ok(m);
            }
            match &g.stopped {
                Some(Stopped::Terminated) => return Err(Error::Terminated),
                Some(Stopped::Failed(why)) => {
                    return Err(Error::InvalidArgument(format!(
                        "spot node worker failed: {why}"
                    )))
                }
                None => {}
            }
            if dontwait {
                return Err(Error::Again);
            }
            g = control::wait_until(&self.shared.arrived, g, deadline)?;
        }
    }
}

impl Drop for SpotSub {
    fn drop(&mut self) {
        let changes = {
            let mut g = self.shared.lock();
            g.queues.remove(&self.id);
            g.table.remove_subscriber(self.id)
        };
        for c in changes {
            if let Err(e) = self.apply(Some(c)) {
                log::debug!("spot subscriber {}: filter not removed: {e}", self.id);
            }
        }
    }
}

struct Worker {
    shared: Arc<Shared>,
    sub: Socket,
    ctl: Socket,
}

impl Worker {
    fn run(mut self) {
        if let Err(e) = self.serve() {
            log::error!("spot node: worker failed: {e}");
            let terminated = matches!(e, Error::Terminated);
            self.shared.lock().stopped = Some(if terminated {
                Stopped::Terminated
            } else {
                Stopped::Failed(e.to_string())
            });
            self.shared.arrived.notify_all();
            let reason: &[u8] = if terminated { b"terminated" } else { b"failed" };
            control::answer_until_stop(
                &mut self.ctl,
                &[reason.to_vec(), e.to_string().into_bytes()],
            );
        }
    }

    fn serve(&mut self) -> Result<()> {
        loop {
            let mut items = [
                PollItem::socket(&mut self.sub, POLLIN),
                PollItem::socket(&mut self.ctl, POLLIN),
            ];
            ringlink::poll(&mut items, None)?;
            let ready = items.map(|i| i.revents.contains(POLLIN));
            if ready[0] {
                while let Some(mut m) = nowait(self.sub.recv_multipart(DONTWAIT))? {
                    // Only a topic, or an empty topic: not a SPOT message.
                    if m.len() < 2 || m[0].is_empty() {
                        continue;
                    }
                    let topic = m.remove(0);
                    self.shared.deliver(&topic, &m);
                }
            }
            if ready[1] && !self.control()? {
                return Ok(());
            }
        }
    }

    /// Control requests; false on "stop".
    fn control(&mut self) -> Result<bool> {
        while let Some(m) = nowait(self.ctl.recv_multipart(DONTWAIT))? {
            let arg = m.get(1).cloned().unwrap_or_default();
            let r = match verb(&m) {
                Some(b"stop") => return Ok(false),
                Some(b"connect") => self.sub.connect(&String::from_utf8_lossy(&arg)),
                Some(b"disconnect") => self.sub.disconnect(&String::from_utf8_lossy(&arg)),
                Some(b"sub") => self.sub.subscribe(&arg),
                Some(b"unsub") => self.sub.unsubscribe(&arg),
                _ => Err(Error::InvalidArgument("unknown control request".into())),
            };
            match r {
                Ok(()) => self.ctl.send(b"ok", 0)?,
                Err(Error::Terminated) => return Err(Error::Terminated),
                Err(e) => self
                    .ctl
                    .send_multipart(&[b"err".to_vec(), e.to_string().into_bytes()], 0)?,
            }
        }
        Ok(true)
    }
}
