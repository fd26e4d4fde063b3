//! The receiver's registration state machine, sans-IO (zlink-spec §5.4, with the failover
//! zlink documents but never built): requests, acks and connection losses in, messages to the
//! registry and registry switches out, time passed in.
//!
//! * One request (REGISTER / UPDATE_WEIGHT) is outstanding at a time; without an ack within
//!   the ack timeout it is sent to the next registry, and fails once every registry was tried.
//! * Losing the registry connection switches to the next registry after an exponential
//!   backoff (200 ms doubling to 5 s, ±20 % jitter) and registers every service there again.
//! * Heartbeats go out for every registered service each interval, keyed by (type, name,
//!   endpoint) like the registry's entries.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::wire::{status, Message, ServiceType};

const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What the worker must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this message to the current registry.
    Send(Message),
    /// Connect to registry `index` instead of the current one.
    SwitchTo(usize),
    /// The outstanding request ended.
    Done(Result<(), Refusal>),
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A registry answered with this status and reason.
    Refused(u8, String),
    /// No registry answered within the ack timeout.
    NoAnswer,
}

#[derive(Debug, Clone)]
struct Registration {
    service_type: ServiceType,
    endpoint: String,
    weight: u32,
}

#[derive(Debug)]
struct Pending {
    msg: Message,
    /// What to record when it is acknowledged: (name, registration); `None` for removals.
    on_ok: Option<(String, Registration)>,
    deadline: Instant,
    tried: usize,
}

/// A receiver's registrations and its registry connection.
#[derive(Debug)]
pub struct ReceiverState {
    registries: usize,
    current: usize,
    services: BTreeMap<String, Registration>,
    pending: Option<Pending>,
    ack_timeout: Duration,
    heartbeat_interval: Duration,
    next_heartbeat: Option<Instant>,
    failures: u32,
    switch_at: Option<Instant>,
    rng: fastrand::Rng,
}

impl ReceiverState {
    /// A receiver that knows `registries` registries (≥ 1), starting with the first.
    pub fn new(
        registries: usize,
        ack_timeout: Duration,
        heartbeat_interval: Duration,
        rng: fastrand::Rng,
    ) -> ReceiverState {
        assert!(registries > 0, "a receiver needs a registry");
        ReceiverState {
            registries,
            current: 0,
            services: BTreeMap::new(),
            pending: None,
            ack_timeout,
            heartbeat_interval,
            next_heartbeat: None,
            failures: 0,
            switch_at: None,
            rng,
        }
    }

    /// The registry in use.
    pub fn current(&self) -> usize {
        self.current
    }

    /// Start registering `name` at `endpoint` (replacing an earlier registration of it).
    pub fn register(
        &mut self,
        service_type: ServiceType,
        name: &str,
        endpoint: &str,
        weight: u32,
        now: Instant,
    ) -> Vec<Action> {
        let r = Registration {
            service_type,
            endpoint: endpoint.to_string(),
            weight: weight.max(1),
        };
        let msg = Message::Register {
            service_type,
            name: name.to_string(),
            endpoint: r.endpoint.clone(),
            weight: r.weight,
        };
        self.request(msg, Some((name.to_string(), r)), now)
    }

    /// Start changing the weight of registered `name`; `None` if it is not registered.
    pub fn update_weight(&mut self, name: &str, weight: u32, now: Instant) -> Option<Vec<Action>> {
        let mut r = self.services.get(name)?.clone();
        r.weight = weight.max(1);
        let msg = Message::UpdateWeight {
            service_type: r.service_type,
            name: name.to_string(),
            endpoint: r.endpoint.clone(),
            weight: r.weight,
        };
        Some(self.request(msg, Some((name.to_string(), r)), now))
    }

    /// Unregister `name` (no answer comes; heartbeats for it stop at once).
    pub fn unregister(&mut self, name: &str) -> Vec<Action> {
        match self.services.remove(name) {
            Some(r) => vec![Action::Send(Message::Unregister {
                service_type: r.service_type,
                name: name.to_string(),
                endpoint: r.endpoint,
            })],
            None => Vec::new(),
        }
    }

    fn request(
        &mut self,
        msg: Message,
        on_ok: Option<(String, Registration)>,
        now: Instant,
    ) -> Vec<Action> {
        assert!(self.pending.is_none(), "one request at a time");
        self.pending = Some(Pending {
            msg: msg.clone(),
            on_ok,
            deadline: now + self.ack_timeout,
            tried: 0,
        });
        vec![Action::Send(msg)]
    }

    /// A message from the registry.
    pub fn on_message<T: AsRef<[u8]>>(&mut self, frames: &[T], now: Instant) -> Vec<Action> {
        let Ok(Message::RegisterAck {
            status: st,
            endpoint,
            error,
        }) = Message::decode(frames)
        else {
            return Vec::new();
        };
        let matches = self.pending.as_ref().is_some_and(|p| match &p.msg {
            Message::Register { endpoint: e, .. } | Message::UpdateWeight { endpoint: e, .. } => {
                *e == endpoint
            }
            _ => false,
        });
        if !matches {
            // An ack of a re-registration after a switch, or a late one: nothing waits.
            if st != status::OK {
                log::warn!("receiver: registry refused {endpoint}: {error}");
            }
            return Vec::new();
        }
        let p = self.pending.take().expect("matched");
        if st != status::OK {
            return vec![Action::Done(Err(Refusal::Refused(st, error)))];
        }
        self.failures = 0;
        if let Some((name, r)) = p.on_ok {
            self.services.insert(name, r);
            self.next_heartbeat
                .get_or_insert(now + self.heartbeat_interval);
        }
        vec![Action::Done(Ok(()))]
    }

    /// The connection to the current registry was lost: switch after a backoff.
    pub fn on_disconnected(&mut self, now: Instant) {
        if self.switch_at.is_some() {
            return;
        }
        let exp = BACKOFF_MIN.saturating_mul(1 << self.failures.min(5));
        let base = exp.min(BACKOFF_MAX);
        let jitter = 0.8 + 0.4 * self.rng.f64();
        self.switch_at = Some(now + base.mul_f64(jitter));
        self.failures = self.failures.saturating_add(1);
    }

    /// Time-driven work at `now`.
    pub fn poll(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if self.switch_at.is_some_and(|t| now >= t) {
            self.switch_at = None;
            self.current = (self.current + 1) % self.registries;
            out.push(Action::SwitchTo(self.current));
            // The new registry may know nothing of us: register everything again.
            for (name, r) in &self.services {
                out.push(Action::Send(Message::Register {
                    service_type: r.service_type,
                    name: name.clone(),
                    endpoint: r.endpoint.clone(),
                    weight: r.weight,
                }));
            }
            if let Some(p) = &mut self.pending {
                p.deadline = now + self.ack_timeout;
                out.push(Action::Send(p.msg.clone()));
            }
        }
        if let Some(p) = self.pending.as_mut().filter(|p| now >= p.deadline) {
            p.tried += 1;
            if p.tried >= self.registries {
                self.pending = None;
                out.push(Action::Done(Err(Refusal::NoAnswer)));
            } else {
                p.deadline = now + self.ack_timeout;
                let msg = p.msg.clone();
                self.current = (self.current + 1) % self.registries;
                out.push(Action::SwitchTo(self.current));
                out.push(Action::Send(msg));
            }
        }
        if self.services.is_empty() {
            self.next_heartbeat = None;
        } else if self.next_heartbeat.is_some_and(|t| now >= t) {
            for (name, r) in &self.services {
                out.push(Action::Send(Message::Heartbeat {
                    service_type: r.service_type,
                    name: name.clone(),
                    endpoint: r.endpoint.clone(),
                }));
            }
            self.next_heartbeat = Some(now + self.heartbeat_interval);
        }
        out
    }

    /// When [`ReceiverState::poll`] next has work.
    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.pending.as_ref().map(|p| p.deadline),
            self.switch_at,
            self.next_heartbeat,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
