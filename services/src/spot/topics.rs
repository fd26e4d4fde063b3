//! SPOT's topic rules and a node's subscription table, sans-IO (zlink-spec §5.6): which
//! topics and `prefix*` patterns are valid, which SUB filters a node needs (reference-counted
//! across its local subscribers), and which local subscribers a message goes to.
//!
//! A SUB filter is a prefix, so the publisher sends a topic to a node if it starts with any
//! of the node's filters; exact topics are then checked again locally (a filter `news` also
//! passes `newsroom`).

#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Why a topic or pattern is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicError {
    /// Topics are 1..=255 bytes.
    Length(usize),
    /// A pattern is a prefix followed by exactly one `*`, at the end.
    Pattern,
}

impl std::fmt::Display for TopicError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TopicError::Length(n) => write!(f, "topic of {n} bytes (1..=255 allowed)"),
            TopicError::Pattern => f.write_str("a pattern is a prefix and one trailing '*'"),
        }
    }
}

impl std::error::Error for TopicError {}

/// What a local subscriber asked for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Interest {
    /// Exactly this topic.
    Topic(Vec<u8>),
    /// Every topic starting with this prefix (from `prefix*`; `*` alone is every topic).
    Prefix(Vec<u8>),
}

impl Interest {
    /// Parse what `subscribe` was given: a topic, or with `pattern` a `prefix*`.
    pub fn parse(s: &[u8], pattern: bool) -> Result<Interest, TopicError> {
        if s.is_empty() || s.len() > 255 {
            return Err(TopicError::Length(s.len()));
        }
        if !pattern {
            return Ok(Interest::Topic(s.to_vec()));
        }
        match s.split_last() {
            Some((b'*', prefix)) if !prefix.contains(&b'*') => {
                Ok(Interest::Prefix(prefix.to_vec()))
            }
            _ => Err(TopicError::Pattern),
        }
    }

    /// The SUB filter it needs.
    pub fn filter(&self) -> &[u8] {
        match self {
            Interest::Topic(t) | Interest::Prefix(t) => t,
        }
    }

    /// Whether a message on `topic` is for it.
    pub fn matches(&self, topic: &[u8]) -> bool {
        match self {
            Interest::Topic(t) => t == topic,
            Interest::Prefix(p) => topic.starts_with(p),
        }
    }
}

/// A topic a message may be published on.
pub fn check_topic(topic: &[u8]) -> Result<(), TopicError> {
    if topic.is_empty() || topic.len() > 255 {
        Err(TopicError::Length(topic.len()))
    } else {
        Ok(())
    }
}

/// A change of the node's SUB filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterChange {
    /// Subscribe the SUB to this prefix.
    Add(Vec<u8>),
    /// Unsubscribe it.
    Remove(Vec<u8>),
}

/// A node's subscriptions: local subscriber `id` → interests, and the filters they need.
#[derive(Debug, Default)]
pub struct Subscriptions {
    by_sub: BTreeMap<u64, BTreeSet<Interest>>,
    /// Filter → how many (subscriber, interest) pairs need it.
    filters: BTreeMap<Vec<u8>, usize>,
    /// Exact topic → its subscribers: the per-message lookup.
    exact: HashMap<Vec<u8>, BTreeSet<u64>>,
    /// Subscriber → its prefixes, for subscribers with patterns.
    prefixes: BTreeMap<u64, Vec<Vec<u8>>>,
    /// The recipients of the last topic looked up (messages come in runs of one topic):
    /// valid until the subscriptions change.
    cache_topic: Vec<u8>,
    cache_ids: Vec<u64>,
    cache_valid: bool,
}

impl Subscriptions {
    /// Subscriber `sub` wants `interest`; returns the filter to add if it is new. A repeated
    /// subscription is not counted twice.
    pub fn subscribe(&mut self, sub: u64, interest: Interest) -> Option<FilterChange> {
        self.cache_valid = false;
        let filter = interest.filter().to_vec();
        if !self.by_sub.entry(sub).or_default().insert(interest.clone()) {
            return None;
        }
        self.index(sub, &interest, true);
        let n = self.filters.entry(filter.clone()).or_insert(0);
        *n += 1;
        (*n == 1).then_some(FilterChange::Add(filter))
    }

    /// Subscriber `sub` drops `interest`; returns the filter to remove if nobody needs it.
    pub fn unsubscribe(&mut self, sub: u64, interest: &Interest) -> Option<FilterChange> {
        self.cache_valid = false;
        let set = self.by_sub.get_mut(&sub)?;
        if !set.remove(interest) {
            return None;
        }
        if set.is_empty() {
            self.by_sub.remove(&sub);
        }
        self.index(sub, interest, false);
        self.release(interest.filter())
    }

    /// Subscriber `sub` is gone: every filter only it needed is removed.
    pub fn remove_subscriber(&mut self, sub: u64) -> Vec<FilterChange> {
        self.cache_valid = false;
        let Some(set) = self.by_sub.remove(&sub) else {
            return Vec::new();
        };
        set.iter()
            .filter_map(|i| {
                self.index(sub, i, false);
                self.release(i.filter())
            })
            .collect()
    }

    fn index(&mut self, sub: u64, interest: &Interest, add: bool) {
        match interest {
            Interest::Topic(t) if add => {
                self.exact.entry(t.clone()).or_default().insert(sub);
            }
            Interest::Topic(t) => {
                if let Some(set) = self.exact.get_mut(t) {
                    set.remove(&sub);
                    if set.is_empty() {
                        self.exact.remove(t);
                    }
                }
            }
            Interest::Prefix(p) if add => self.prefixes.entry(sub).or_default().push(p.clone()),
            Interest::Prefix(p) => {
                if let Some(list) = self.prefixes.get_mut(&sub) {
                    list.retain(|x| x != p);
                    if list.is_empty() {
                        self.prefixes.remove(&sub);
                    }
                }
            }
        }
    }

    fn release(&mut self, filter: &[u8]) -> Option<FilterChange> {
        let n = self
            .filters
            .get_mut(filter)
            .expect("counted when subscribed");
        *n -= 1;
        if *n > 0 {
            return None;
        }
        self.filters.remove(filter);
        Some(FilterChange::Remove(filter.to_vec()))
    }

    /// Call `f` once for each local subscriber a message on `topic` goes to, without
    /// allocating (one hash lookup, plus a scan of the subscribers with patterns).
    pub fn for_each_recipient(&self, topic: &[u8], mut f: impl FnMut(u64)) {
        let exact = self.exact.get(topic);
        for &id in exact.into_iter().flatten() {
            f(id);
        }
        for (id, prefixes) in &self.prefixes {
            if exact.is_some_and(|s| s.contains(id)) {
                continue;
            }
            if prefixes.iter().any(|p| topic.starts_with(p)) {
                f(*id);
            }
        }
    }

    /// The local subscribers a message on `topic` goes to, as [`Self::for_each_recipient`],
    /// remembered for the next message on the same topic (no lookup, no allocation).
    pub fn recipients_cached(&mut self, topic: &[u8]) -> &[u64] {
        if !self.cache_valid || self.cache_topic != topic {
            let mut ids = std::mem::take(&mut self.cache_ids);
            ids.clear();
            self.for_each_recipient(topic, |id| ids.push(id));
            self.cache_ids = ids;
            self.cache_topic.clear();
            self.cache_topic.extend_from_slice(topic);
            self.cache_valid = true;
        }
        &self.cache_ids
    }

    /// The local subscribers a message on `topic` goes to (each once, in no set order).
    pub fn recipients(&self, topic: &[u8]) -> Vec<u64> {
        let mut v = Vec::new();
        self.for_each_recipient(topic, |id| v.push(id));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Interest {
        Interest::parse(s.as_bytes(), false).unwrap()
    }

    fn p(s: &str) -> Interest {
        Interest::parse(s.as_bytes(), true).unwrap()
    }

    #[test]
    fn topics_and_patterns_are_validated() {
        assert_eq!(Interest::parse(b"", false), Err(TopicError::Length(0)));
        assert_eq!(
            Interest::parse(&[b'a'; 256], false),
            Err(TopicError::Length(256))
        );
        assert_eq!(Interest::parse(b"news", true), Err(TopicError::Pattern));
        assert_eq!(Interest::parse(b"n*ws*", true), Err(TopicError::Pattern));
        assert_eq!(p("news*"), Interest::Prefix(b"news".to_vec()));
        assert_eq!(p("*"), Interest::Prefix(Vec::new()), "every topic");
        assert!(check_topic(b"x").is_ok() && check_topic(b"").is_err());
    }

    #[test]
    fn exact_topics_are_checked_again_locally() {
        let mut s = Subscriptions::default();
        s.subscribe(1, t("news"));
        s.subscribe(2, p("news.*"));
        assert_eq!(s.recipients(b"news"), [1]);
        assert!(
            s.recipients(b"newsroom").is_empty(),
            "the SUB filter lets it through"
        );
        assert_eq!(s.recipients(b"news.eu"), [2]);
    }

    #[test]
    fn filters_are_counted_across_subscribers() {
        let mut s = Subscriptions::default();
        assert_eq!(
            s.subscribe(1, t("a")),
            Some(FilterChange::Add(b"a".to_vec()))
        );
        assert_eq!(s.subscribe(1, t("a")), None, "repeated: not counted twice");
        assert_eq!(s.subscribe(2, t("a")), None);
        assert_eq!(s.subscribe(2, p("a*")), None, "same filter");
        assert_eq!(s.unsubscribe(1, &t("a")), None);
        assert_eq!(s.unsubscribe(1, &t("a")), None, "not subscribed any more");
        assert_eq!(
            s.remove_subscriber(2),
            [FilterChange::Remove(b"a".to_vec())]
        );
        assert!(s.recipients(b"a").is_empty());
    }

    #[test]
    fn each_recipient_once_and_the_index_follows_removals() {
        let mut s = Subscriptions::default();
        s.subscribe(1, t("a.b"));
        s.subscribe(1, p("a*"));
        s.subscribe(1, p("a.*"));
        s.subscribe(2, p("a.*"));
        s.subscribe(3, t("a.c"));
        let mut got = s.recipients(b"a.b");
        got.sort_unstable();
        assert_eq!(got, [1, 2], "exact and two patterns: still once");
        s.unsubscribe(1, &t("a.b"));
        s.unsubscribe(1, &p("a*"));
        let mut got = s.recipients(b"a.b");
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        s.remove_subscriber(1);
        s.remove_subscriber(2);
        assert!(s.recipients(b"a.b").is_empty());
        assert_eq!(s.recipients(b"a.c"), [3]);
        assert!(s.prefixes.is_empty() && s.exact.len() == 1);
    }

    #[test]
    fn the_cache_follows_changes() {
        let mut s = Subscriptions::default();
        s.subscribe(1, t("a"));
        assert_eq!(s.recipients_cached(b"a"), [1]);
        assert_eq!(s.recipients_cached(b"a"), [1], "from the cache");
        s.subscribe(2, p("a*"));
        let mut got = s.recipients_cached(b"a").to_vec();
        got.sort_unstable();
        assert_eq!(got, [1, 2], "a subscription invalidates it");
        assert_eq!(s.recipients_cached(b"ab"), [2], "another topic");
        s.remove_subscriber(2);
        assert!(s.recipients_cached(b"ab").is_empty());
        s.unsubscribe(1, &t("a"));
        assert!(s.recipients_cached(b"a").is_empty());
    }
}
