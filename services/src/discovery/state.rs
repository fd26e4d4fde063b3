//! Discovery's state machine, sans-IO (zlink-spec §5.3): registry lists in, the providers of
//! one service type and what changed out.

#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use crate::wire::{Message, Provider, ServiceType};

/// A service whose providers changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The service name.
    pub name: String,
    /// Its providers now (empty: unavailable).
    pub providers: Vec<Provider>,
    /// Grows with every change of this service.
    pub seq: u64,
}

/// Registries followed at once (a list from one more is ignored until one is forgotten), so
/// a publisher inventing registry ids cannot make a discovery grow without limit.
pub const MAX_REGISTRIES: usize = 64;

/// One registry's latest list (this type's services only).
#[derive(Debug)]
struct Snapshot {
    seq: u64,
    last_seen: Instant,
    services: BTreeMap<String, Vec<Provider>>,
}

/// What one discovery knows.
///
/// zlink replaces its whole view with each registry's list, trusting that peered registries
/// hold the same merged view; while they converge (or if they are not peered) the view flips
/// between lists and providers vanish for a moment. Here each registry's latest list is kept
/// and the view is their union (a provider listed by several registries counts once, with the
/// data of the lowest registry id); a registry silent for `registry_timeout` is forgotten.
#[derive(Debug)]
pub struct DiscoveryState {
    service_type: ServiceType,
    registry_timeout: Duration,
    snapshots: BTreeMap<u32, Snapshot>,
    /// The union of the snapshots.
    view: BTreeMap<String, Vec<Provider>>,
    /// Names asked for (empty: every service is visible).
    filter: BTreeSet<String>,
    seqs: HashMap<String, u64>,
}

impl DiscoveryState {
    /// A discovery of services of `service_type` that forgets a registry silent for
    /// `registry_timeout` (registries re-publish at least every broadcast interval).
    pub fn new(service_type: ServiceType, registry_timeout: Duration) -> DiscoveryState {
        DiscoveryState {
            service_type,
            registry_timeout,
            snapshots: BTreeMap::new(),
            view: BTreeMap::new(),
            filter: BTreeSet::new(),
            seqs: HashMap::new(),
        }
    }

    /// A message from a registry's PUB. Returns the visible services that changed.
    pub fn on_list<T: AsRef<[u8]>>(&mut self, frames: &[T], now: Instant) -> Vec<Change> {
        let list = match Message::decode(frames) {
            Ok(Message::ServiceList(l)) => l,
            Ok(_) => return Vec::new(),
            Err(e) => {
                log::debug!("discovery: malformed list ({e})");
                return Vec::new();
            }
        };
        let services: BTreeMap<String, Vec<Provider>> = list
            .services
            .into_iter()
            .filter(|s| s.service_type == self.service_type && !s.providers.is_empty())
            .map(|s| (s.name, s.providers))
            .collect();
        let full = self.snapshots.len() >= MAX_REGISTRIES;
        match self.snapshots.get_mut(&list.registry_id) {
            // An older list (reordered across reconnects) changes nothing; it still shows
            // the registry is alive.
            Some(s) if list.list_seq < s.seq => {
                s.last_seen = now;
                return Vec::new();
            }
            Some(s) => {
                s.last_seen = now;
                s.seq = list.list_seq;
                if s.services == services {
                    return Vec::new();
                }
                s.services = services;
            }
            None if full => {
                log::warn!(
                    "discovery: ignoring registry {}: already {MAX_REGISTRIES} registries",
                    list.registry_id
                );
                return Vec::new();
            }
            None => {
                self.snapshots.insert(
                    list.registry_id,
                    Snapshot {
                        seq: list.list_seq,
                        last_seen: now,
                        services,
                    },
                );
            }
        }
        self.rebuild()
    }

    /// Forget registries silent for too long; returns the visible services that changed.
    pub fn poll(&mut self, now: Instant) -> Vec<Change> {
        let timeout = self.registry_timeout;
        let before = self.snapshots.len();
        self.snapshots
            .retain(|_, s| now.duration_since(s.last_seen) <= timeout);
        if self.snapshots.len() == before {
            return Vec::new();
        }
        self.rebuild()
    }

    /// When [`DiscoveryState::poll`] may next forget a registry.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.snapshots
            .values()
            .map(|s| s.last_seen + self.registry_timeout + Duration::from_millis(1))
            .min()
    }

    /// Recompute the union and report what changed.
    fn rebuild(&mut self) -> Vec<Change> {
        let mut view: BTreeMap<String, Vec<Provider>> = BTreeMap::new();
        for s in self.snapshots.values() {
            for (name, providers) in &s.services {
                let v = view.entry(name.clone()).or_default();
                for p in providers {
                    if !v.iter().any(|q| q.endpoint == p.endpoint) {
                        v.push(p.clone());
                    }
                }
            }
        }
        for v in view.values_mut() {
            v.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
        }
        let old = std::mem::replace(&mut self.view, view);
        let names: BTreeSet<&String> = old.keys().chain(self.view.keys()).collect();
        let changed: Vec<String> = names
            .into_iter()
            .filter(|n| old.get(*n) != self.view.get(*n) && self.visible(n))
            .map(|n| n.to_string())
            .collect();
        changed
            .into_iter()
            .map(|n| {
                let seq = self.seqs.entry(n.clone()).or_insert(0);
                *seq += 1;
                Change {
                    providers: self.view.get(&n).cloned().unwrap_or_default(),
                    seq: *seq,
                    name: n,
                }
            })
            .collect()
    }

    fn visible(&self, name: &str) -> bool {
        self.filter.is_empty() || self.filter.contains(name)
    }

    /// Make `name` visible (from then on only subscribed names are).
    pub fn subscribe(&mut self, name: &str) {
        self.filter.insert(name.to_string());
    }

    /// Drop a subscription (with none left, every service is visible again).
    pub fn unsubscribe(&mut self, name: &str) {
        self.filter.remove(name);
    }

    /// The providers of a visible service (empty if unknown or not visible).
    pub fn providers(&self, name: &str) -> Vec<Provider> {
        if !self.visible(name) {
            return Vec::new();
        }
        self.view.get(name).cloned().unwrap_or_default()
    }

    /// The visible services that have providers.
    pub fn services(&self) -> Vec<String> {
        self.view
            .keys()
            .filter(|n| self.visible(n))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{ServiceEntry, ServiceList};

    type Services<'a> = &'a [(ServiceType, &'a str, &'a [&'a str])];

    fn list(registry_id: u32, list_seq: u64, services: Services<'_>) -> Vec<Vec<u8>> {
        Message::ServiceList(ServiceList {
            registry_id,
            list_seq,
            services: services
                .iter()
                .map(|(t, name, eps)| ServiceEntry {
                    service_type: *t,
                    name: name.to_string(),
                    providers: eps
                        .iter()
                        .map(|ep| Provider {
                            endpoint: ep.to_string(),
                            routing_id: ep.as_bytes().to_vec(),
                            weight: 1,
                        })
                        .collect(),
                })
                .collect(),
        })
        .encode()
    }

    const G: ServiceType = ServiceType::Gateway;
    const S: ServiceType = ServiceType::Spot;
    const T: Duration = Duration::from_secs(90);

    fn names(c: &[Change]) -> Vec<&str> {
        c.iter().map(|c| c.name.as_str()).collect()
    }

    #[test]
    fn keeps_its_type_reports_changes_and_ignores_stale_lists() {
        let t0 = Instant::now();
        let mut d = DiscoveryState::new(G, T);
        let c = d.on_list(
            &list(1, 5, &[(G, "echo", &["e1"]), (S, "spot-node", &["s1"])]),
            t0,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].name.as_str(), c[0].providers.len(), c[0].seq),
            ("echo", 1, 1)
        );
        assert_eq!(d.services(), ["echo"]);
        assert!(
            d.on_list(&list(1, 4, &[]), t0).is_empty(),
            "older list: stale"
        );
        // A newer list without changes reports nothing.
        assert!(d
            .on_list(&list(1, 6, &[(G, "echo", &["e1"])]), t0)
            .is_empty());
        let c = d.on_list(
            &list(1, 7, &[(G, "echo", &["e1", "e2"]), (G, "time", &["t"])]),
            t0,
        );
        assert_eq!(names(&c), ["echo", "time"]);
        assert_eq!(c[0].seq, 2);
        assert!(d.on_list(&[b"junk".to_vec()], t0).is_empty());
    }

    #[test]
    fn the_view_is_the_union_of_the_registries_lists() {
        let t0 = Instant::now();
        let mut d = DiscoveryState::new(G, T);
        d.on_list(&list(1, 1, &[(G, "echo", &["e1"])]), t0);
        // A registry that does not know e1 (not peered, or not converged yet) hides nothing.
        let c = d.on_list(
            &list(2, 1, &[(G, "echo", &["e2"]), (G, "time", &["t"])]),
            t0,
        );
        assert_eq!(names(&c), ["echo", "time"]);
        assert_eq!(d.providers("echo").len(), 2);
        // Both list e2 once converged: it counts once.
        assert!(d
            .on_list(&list(1, 2, &[(G, "echo", &["e1", "e2"])]), t0)
            .is_empty());
        // Removed everywhere: gone.
        d.on_list(&list(1, 3, &[]), t0);
        let c = d.on_list(&list(2, 2, &[]), t0);
        assert!(c.iter().all(|c| c.providers.is_empty()));
        assert!(d.services().is_empty());
    }

    #[test]
    fn silent_registries_are_forgotten() {
        let t0 = Instant::now();
        let mut d = DiscoveryState::new(G, T);
        d.on_list(&list(1, 1, &[(G, "echo", &["e1"])]), t0);
        d.on_list(&list(2, 1, &[(G, "echo", &["e2"])]), t0 + T / 2);
        assert_eq!(d.next_deadline(), Some(t0 + T + Duration::from_millis(1)));
        assert!(d.poll(t0 + T).is_empty());
        let c = d.poll(t0 + T + Duration::from_millis(1));
        assert_eq!(
            c[0].providers.len(),
            1,
            "only registry 2's provider is left"
        );
    }

    #[test]
    fn the_number_of_registries_is_bounded() {
        let t0 = Instant::now();
        let mut d = DiscoveryState::new(G, T);
        for id in 0..MAX_REGISTRIES as u32 {
            d.on_list(&list(id + 1, 1, &[(G, "echo", &["e"])]), t0);
        }
        let c = d.on_list(&list(9999, 1, &[(G, "other", &["o"])]), t0);
        assert!(
            c.is_empty() && d.providers("other").is_empty(),
            "one registry too many"
        );
        // Once one is forgotten, another fits.
        d.on_list(&list(1, 2, &[(G, "echo", &["e"])]), t0 + T);
        d.poll(t0 + T + Duration::from_millis(1));
        assert_eq!(
            d.on_list(&list(9999, 1, &[(G, "other", &["o"])]), t0 + T)
                .len(),
            1
        );
    }

    #[test]
    fn subscriptions_filter_what_is_visible() {
        let mut d = DiscoveryState::new(G, T);
        d.subscribe("echo");
        let c = d.on_list(
            &list(1, 1, &[(G, "echo", &["e1"]), (G, "time", &["t"])]),
            Instant::now(),
        );
        assert_eq!(names(&c), ["echo"]);
        assert!(d.providers("time").is_empty());
        d.unsubscribe("echo");
        assert_eq!(
            d.providers("time").len(),
            1,
            "no subscriptions: everything visible"
        );
    }
}
