//! The registry's state machine, sans-IO: requests and peer lists in, replies and lists to
//! publish out, time passed in (zlink-spec §5.2).
//!
//! Providers are keyed by (service type, name, endpoint) — never by the sender's routing id —
//! so a receiver's heartbeats from another connection are not lost (zlink's are, at first).

#![forbid(unsafe_code)]

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::wire::{
    id, status, DecodeError, Message, Provider, ServiceEntry, ServiceList, ServiceType,
};

/// Peers silent for this many broadcast intervals are dropped with their entries.
const PEER_SILENCE_INTERVALS: u32 = 3;

/// Default bound on the providers one registry holds (its own and its peers'), so no client
/// or peer can make it grow without limit.
pub const MAX_PROVIDERS: usize = 65_536;

/// Peer registries tracked at once (a list from one more is ignored until one goes silent).
pub const MAX_PEERS: usize = 64;

// Flooding without tombstones lets a removed provider come back: A unregisters X while B's
// list (still holding X, learnt from A) is in flight; A adopts X from B, B drops X on A's
// list, then adopts it again from A's, and the two keep swapping it. So a removal leaves a
// tombstone for one broadcast interval: a local removal ignores the provider from every
// peer, a removal learnt from peer P ignores it from every peer but P. Removals spread at
// once (a change is published immediately), so one interval is ample, and a provider that
// really was registered elsewhere meanwhile is taken from the next periodic broadcast (lists
// with an unchanged sequence number are re-read, not dropped as zlink does).

/// Timing of a registry.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// A local provider without a heartbeat for longer than this is removed.
    pub heartbeat_timeout: Duration,
    /// The list is re-published at least this often (and at once after every change).
    pub broadcast_interval: Duration,
}

#[derive(Debug, Clone)]
struct Entry {
    routing_id: Vec<u8>,
    weight: u32,
    last_heartbeat: Instant,
    /// `None`: registered here; `Some(id)`: learnt from peer registry `id`.
    source: Option<u32>,
}

#[derive(Debug)]
struct Peer {
    last_seq: u64,
    last_seen: Instant,
}

type Key = (ServiceType, String);

/// A removed provider that peers' lists must not bring back until `until`.
#[derive(Debug)]
struct Tombstone {
    until: Instant,
    /// The peer whose list removed it (it may re-add it); `None`: removed here.
    except: Option<u32>,
}

/// One registry's view of all services.
#[derive(Debug)]
pub struct RegistryState {
    id: u32,
    timing: Timing,
    services: BTreeMap<Key, BTreeMap<String, Entry>>,
    list_seq: u64,
    published_seq: Option<u64>,
    last_publish: Option<Instant>,
    publish_now: bool,
    peers: HashMap<u32, Peer>,
    tombstones: HashMap<(Key, String), Tombstone>,
    /// Providers held (kept equal to the sum over `services`).
    count: usize,
    max_providers: usize,
}

impl RegistryState {
    /// An empty registry with this id (non-zero).
    pub fn new(id: u32, timing: Timing) -> RegistryState {
        RegistryState {
            id,
            timing,
            services: BTreeMap::new(),
            list_seq: 0,
            published_seq: None,
            last_publish: None,
            publish_now: true,
            peers: HashMap::new(),
            tombstones: HashMap::new(),
            count: 0,
            max_providers: MAX_PROVIDERS,
        }
    }

    /// Hold at most `n` providers (default [`MAX_PROVIDERS`]): a REGISTER beyond it is
    /// refused with `status::FULL`, peers' entries beyond it are not adopted.
    pub fn with_max_providers(mut self, n: usize) -> RegistryState {
        self.max_providers = n;
        self
    }

    fn recount(&mut self) {
        self.count = self.services.values().map(BTreeMap::len).sum();
    }

    /// This registry's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// A request arrived on the ROUTER from `sender` (its routing id): returns the reply to
    /// send back to it, if the request has one (REGISTER and UPDATE_WEIGHT do).
    pub fn on_request<T: AsRef<[u8]>>(
        &mut self,
        sender: &[u8],
        frames: &[T],
        now: Instant,
    ) -> Option<Message> {
        let msg = match Message::decode(frames) {
            Ok(m) => m,
            Err(e) => return self.malformed(frames, e),
        };
        match msg {
            Message::Register {
                service_type,
                name,
                endpoint,
                weight,
            } => Some(self.register(sender, service_type, name, endpoint, weight, now)),
            Message::UpdateWeight {
                service_type,
                name,
                endpoint,
                weight,
            } => Some(self.update_weight(service_type, &name, endpoint, weight)),
            Message::Unregister {
                service_type,
                name,
                endpoint,
            } => {
                self.unregister(service_type, &name, &endpoint, now);
                None
            }
            Message::Heartbeat {
                service_type,
                name,
                endpoint,
            } => {
                let local = self
                    .services
                    .get_mut(&(service_type, name))
                    .and_then(|m| m.get_mut(&endpoint))
                    .filter(|e| e.source.is_none());
                if let Some(e) = local {
                    e.last_heartbeat = now;
                }
                None
            }
            Message::RegisterAck { .. } | Message::ServiceList(_) => None,
        }
    }

    /// A REGISTER or UPDATE_WEIGHT that does not decode is answered with MALFORMED; anything
    /// else that does not decode is dropped.
    fn malformed<T: AsRef<[u8]>>(&self, frames: &[T], e: DecodeError) -> Option<Message> {
        let msg_id = frames
            .first()
            .and_then(|f| <[u8; 2]>::try_from(f.as_ref()).ok())
            .map(u16::from_le_bytes);
        log::debug!("registry {}: malformed request ({e})", self.id);
        if !matches!(msg_id, Some(id::REGISTER | id::UPDATE_WEIGHT)) {
            return None;
        }
        let endpoint = frames
            .get(3)
            .and_then(|f| std::str::from_utf8(f.as_ref()).ok())
            .unwrap_or_default()
            .to_string();
        Some(Message::RegisterAck {
            status: status::MALFORMED,
            endpoint,
            error: e.to_string(),
        })
    }

    fn register(
        &mut self,
        sender: &[u8],
        service_type: ServiceType,
        name: String,
        endpoint: String,
        weight: u32,
        now: Instant,
    ) -> Message {
        if name.is_empty() || endpoint.is_empty() {
            return ack(status::EMPTY, endpoint, "empty service name or endpoint");
        }
        let key = (service_type, name);
        let known = self
            .services
            .get(&key)
            .is_some_and(|m| m.contains_key(&endpoint));
        if !known && self.count >= self.max_providers {
            return ack(
                status::FULL,
                endpoint,
                "the registry holds its maximum of providers",
            );
        }
        let (service_type, name) = key;
        if !known {
            self.count += 1;
        }
        self.tombstones
            .remove(&((service_type, name.clone()), endpoint.clone()));
        self.services
            .entry((service_type, name))
            .or_default()
            .insert(
                endpoint.clone(),
                Entry {
                    routing_id: sender.to_vec(),
                    weight,
                    last_heartbeat: now,
                    source: None,
                },
            );
        self.list_seq += 1;
        ack(status::OK, endpoint, "")
    }

    fn update_weight(
        &mut self,
        service_type: ServiceType,
        name: &str,
        endpoint: String,
        weight: u32,
    ) -> Message {
        if name.is_empty() || endpoint.is_empty() {
            return ack(status::EMPTY, endpoint, "empty service name or endpoint");
        }
        let local = self
            .services
            .get_mut(&(service_type, name.to_string()))
            .and_then(|m| m.get_mut(&endpoint))
            .filter(|e| e.source.is_none());
        match local {
            Some(e) => {
                if e.weight != weight {
                    e.weight = weight;
                    self.list_seq += 1;
                }
                ack(status::OK, endpoint, "")
            }
            None => ack(
                status::NOT_FOUND,
                endpoint,
                "no such provider registered here",
            ),
        }
    }

    fn unregister(&mut self, service_type: ServiceType, name: &str, endpoint: &str, now: Instant) {
        let key = (service_type, name.to_string());
        let Some(m) = self.services.get_mut(&key) else {
            return;
        };
        if m.get(endpoint).is_some_and(|e| e.source.is_none()) {
            m.remove(endpoint);
            if m.is_empty() {
                self.services.remove(&key);
            }
            self.count -= 1;
            self.bury(key, endpoint.to_string(), None, now);
            self.list_seq += 1;
        }
    }

    fn bury(&mut self, key: Key, endpoint: String, except: Option<u32>, now: Instant) {
        let until = now + self.timing.broadcast_interval;
        self.tombstones
            .insert((key, endpoint), Tombstone { until, except });
    }

    /// Whether peer `from` may (re)introduce this provider.
    fn may_adopt(&self, key: &Key, endpoint: &str, from: u32, now: Instant) -> bool {
        if let Some(e) = self.services.get(key).and_then(|m| m.get(endpoint)) {
            // Local entries, and entries another peer reported first, win.
            return e.source == Some(from);
        }
        self.tombstones
            .get(&(key.clone(), endpoint.to_string()))
            .is_none_or(|t| now >= t.until || t.except == Some(from))
    }

    /// A subscriber joined the PUB side: publish the list at once (so a new discovery does
    /// not wait for the next broadcast).
    pub fn on_subscriber(&mut self) {
        self.publish_now = true;
    }

    /// A message from a peer registry's PUB.
    pub fn on_peer_message<T: AsRef<[u8]>>(&mut self, frames: &[T], now: Instant) {
        let list = match Message::decode(frames) {
            Ok(Message::ServiceList(l)) => l,
            Ok(_) => return,
            Err(e) => {
                log::debug!("registry {}: malformed peer list ({e})", self.id);
                return;
            }
        };
        if list.registry_id == self.id {
            return;
        }
        if !self.peers.contains_key(&list.registry_id) && self.peers.len() >= MAX_PEERS {
            log::warn!(
                "registry {}: ignoring registry {}: already {MAX_PEERS} peers",
                self.id,
                list.registry_id
            );
            return;
        }
        let peer = self.peers.entry(list.registry_id).or_insert(Peer {
            last_seq: 0,
            last_seen: now,
        });
        peer.last_seen = now;
        // Older lists are stale; the same list again is re-read (see the tombstones).
        if list.list_seq < peer.last_seq {
            return;
        }
        peer.last_seq = list.list_seq;
        let from = list.registry_id;
        let snapshot: Vec<(Key, String, Vec<u8>, u32)> = list
            .services
            .into_iter()
            .flat_map(|s| {
                let key = (s.service_type, s.name);
                s.providers
                    .into_iter()
                    .map(move |p| (key.clone(), p.endpoint, p.routing_id, p.weight))
            })
            .filter(|(k, ep, _, _)| self.may_adopt(k, ep, from, now))
            .collect();
        let old = self.sourced_from(from);
        if old == snapshot_view(&snapshot) {
            return;
        }
        let gone: Vec<(Key, String)> = old
            .iter()
            .filter(|(k, ep, _, _)| !snapshot.iter().any(|(k2, ep2, _, _)| k2 == *k && ep2 == ep))
            .map(|(k, ep, _, _)| ((*k).clone(), ep.to_string()))
            .collect();
        self.drop_source(from);
        for (key, endpoint) in gone {
            self.bury(key, endpoint, Some(from), now);
        }
        let room = self.max_providers.saturating_sub(self.count);
        if snapshot.len() > room {
            log::warn!(
                "registry {}: {} providers from registry {from} not adopted: at the maximum",
                self.id,
                snapshot.len() - room
            );
        }
        for (key, endpoint, routing_id, weight) in snapshot.into_iter().take(room) {
            self.services.entry(key).or_default().insert(
                endpoint,
                Entry {
                    routing_id,
                    weight,
                    last_heartbeat: now,
                    source: Some(from),
                },
            );
        }
        self.recount();
        self.list_seq += 1;
    }

    /// Entries learnt from `peer`, in a comparable form.
    fn sourced_from(&self, peer: u32) -> Vec<(&Key, &str, &[u8], u32)> {
        let mut v: Vec<_> = self
            .services
            .iter()
            .flat_map(|(k, m)| {
                m.iter()
                    .filter(|(_, e)| e.source == Some(peer))
                    .map(move |(ep, e)| (k, ep.as_str(), &e.routing_id[..], e.weight))
            })
            .collect();
        v.sort();
        v
    }

    /// Remove every entry learnt from `peer`; true if there was any.
    fn drop_source(&mut self, peer: u32) -> bool {
        let mut any = false;
        self.services.retain(|_, m| {
            m.retain(|_, e| {
                let keep = e.source != Some(peer);
                any |= !keep;
                keep
            });
            !m.is_empty()
        });
        self.recount();
        any
    }

    /// Housekeeping at `now` (expire silent providers and peers); returns the list to
    /// publish if it changed, a subscriber joined, or the broadcast interval passed.
    pub fn poll(&mut self, now: Instant) -> Option<ServiceList> {
        let timeout = self.timing.heartbeat_timeout;
        let mut dead = Vec::new();
        self.services.retain(|k, m| {
            m.retain(|ep, e| {
                let keep = e.source.is_some() || now.duration_since(e.last_heartbeat) <= timeout;
                if !keep {
                    dead.push((k.clone(), ep.clone()));
                }
                keep
            });
            !m.is_empty()
        });
        self.count -= dead.len();
        let mut expired = !dead.is_empty();
        for (k, ep) in dead {
            self.bury(k, ep, None, now);
        }
        self.tombstones.retain(|_, t| now < t.until);
        let silence = self.timing.broadcast_interval * PEER_SILENCE_INTERVALS;
        let gone: Vec<u32> = self
            .peers
            .iter()
            .filter(|(_, p)| now.duration_since(p.last_seen) > silence)
            .map(|(&id, _)| id)
            .collect();
        for id in gone {
            self.peers.remove(&id);
            expired |= self.drop_source(id);
        }
        if expired {
            self.list_seq += 1;
        }
        let due = self.publish_now
            || self.published_seq != Some(self.list_seq)
            || self
                .last_publish
                .is_none_or(|t| now.duration_since(t) >= self.timing.broadcast_interval);
        if !due {
            return None;
        }
        self.publish_now = false;
        self.published_seq = Some(self.list_seq);
        self.last_publish = Some(now);
        Some(self.list())
    }

    /// When [`RegistryState::poll`] next has something to do (a provider or peer may expire,
    /// a broadcast is due), at the latest.
    pub fn next_deadline(&self) -> Option<Instant> {
        let tick = Duration::from_millis(1);
        let providers = self
            .services
            .values()
            .flat_map(|m| m.values())
            .filter(|e| e.source.is_none())
            .map(|e| e.last_heartbeat + self.timing.heartbeat_timeout + tick);
        let silence = self.timing.broadcast_interval * PEER_SILENCE_INTERVALS;
        let peers = self.peers.values().map(|p| p.last_seen + silence + tick);
        let broadcast = self
            .last_publish
            .map(|t| t + self.timing.broadcast_interval);
        providers.chain(peers).chain(broadcast).min()
    }

    /// The current list (services by type and name, providers by endpoint).
    pub fn list(&self) -> ServiceList {
        ServiceList {
            registry_id: self.id,
            list_seq: self.list_seq,
            services: self
                .services
                .iter()
                .map(|((t, name), m)| ServiceEntry {
                    service_type: *t,
                    name: name.clone(),
                    providers: m
                        .iter()
                        .map(|(ep, e)| Provider {
                            endpoint: ep.clone(),
                            routing_id: e.routing_id.clone(),
                            weight: e.weight,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

fn ack(status: u8, endpoint: String, error: &str) -> Message {
    Message::RegisterAck {
        status,
        endpoint,
        error: error.to_string(),
    }
}

fn snapshot_view(s: &[(Key, String, Vec<u8>, u32)]) -> Vec<(&Key, &str, &[u8], u32)> {
    let mut v: Vec<_> = s
        .iter()
        .map(|(k, ep, rid, w)| (k, ep.as_str(), &rid[..], *w))
        .collect();
    v.sort();
    v
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
