//! Byte-prefix tries for subscriptions: PUB/XPUB map each subscription to the peers holding
//! it (and fan a message out to every peer with a subscription that prefixes its first
//! frame); SUB/XSUB count their own subscriptions (and filter what arrives).
//!
//! A node's children are kept in a small vector sorted by byte: topic sets are small and
//! prefixes share little, so this beats a 256-way table in memory and is as fast to walk.

#![forbid(unsafe_code)]

/// What a trie node stores.
pub(crate) trait Value: Default {
    fn is_empty(&self) -> bool;
}

/// Peer slots subscribed to one prefix (a set).
impl Value for Vec<usize> {
    fn is_empty(&self) -> bool {
        Vec::is_empty(self)
    }
}

/// How many times one prefix was subscribed.
impl Value for u32 {
    fn is_empty(&self) -> bool {
        *self == 0
    }
}

#[derive(Default)]
struct Node<V> {
    val: V,
    kids: Vec<(u8, Node<V>)>,
}

impl<V: Value> Node<V> {
    fn dead(&self) -> bool {
        self.val.is_empty() && self.kids.is_empty()
    }
}

/// A prefix trie over byte strings.
#[derive(Default)]
pub(crate) struct Trie<V> {
    root: Node<V>,
}

impl<V: Value> Trie<V> {
    /// The value at `key`, created empty if missing.
    pub(crate) fn entry(&mut self, key: &[u8]) -> &mut V {
        let mut n = &mut self.root;
        for &b in key {
            let i = match n.kids.binary_search_by_key(&b, |k| k.0) {
                Ok(i) => i,
                Err(i) => {
                    n.kids.insert(i, (b, Node::default()));
                    i
                }
            };
            n = &mut n.kids[i].1;
        }
        &mut n.val
    }

    /// The value at `key`, if the node exists.
    pub(crate) fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        let mut n = &mut self.root;
        for &b in key {
            let i = n.kids.binary_search_by_key(&b, |k| k.0).ok()?;
            n = &mut n.kids[i].1;
        }
        Some(&mut n.val)
    }

    /// Drop nodes on the path of `key` that hold nothing (after a value there emptied).
    pub(crate) fn prune(&mut self, key: &[u8]) {
        fn walk<V: Value>(n: &mut Node<V>, key: &[u8]) {
            let Some((&b, rest)) = key.split_first() else {
                return;
            };
            if let Ok(i) = n.kids.binary_search_by_key(&b, |k| k.0) {
                walk(&mut n.kids[i].1, rest);
                if n.kids[i].1.dead() {
                    n.kids.remove(i);
                }
            }
        }
        walk(&mut self.root, key);
    }

    /// Call `f` with the value of every stored prefix of `data` (shortest first), until `f`
    /// returns false.
    #[inline]
    pub(crate) fn prefixes_of(&self, data: &[u8], mut f: impl FnMut(&V) -> bool) {
        let mut n = &self.root;
        if !n.val.is_empty() && !f(&n.val) {
            return;
        }
        for &b in data {
            let Ok(i) = n.kids.binary_search_by_key(&b, |k| k.0) else {
                return;
            };
            n = &n.kids[i].1;
            if !n.val.is_empty() && !f(&n.val) {
                return;
            }
        }
    }

    /// Visit every non-empty value with its key; `f` may empty it, and empty branches are
    /// removed afterwards.
    pub(crate) fn retain(&mut self, mut f: impl FnMut(&[u8], &mut V)) {
        fn walk<V: Value>(n: &mut Node<V>, key: &mut Vec<u8>, f: &mut impl FnMut(&[u8], &mut V)) {
            if !n.val.is_empty() {
                f(key, &mut n.val);
            }
            for (b, kid) in n.kids.iter_mut() {
                key.push(*b);
                walk(kid, key, f);
                key.pop();
            }
            n.kids.retain(|(_, k)| !k.dead());
        }
        walk(&mut self.root, &mut Vec::new(), &mut f);
    }

    /// Every non-empty value with its key.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&[u8], &V)) {
        fn walk<V: Value>(n: &Node<V>, key: &mut Vec<u8>, f: &mut impl FnMut(&[u8], &V)) {
            if !n.val.is_empty() {
                f(key, &n.val);
            }
            for (b, kid) in &n.kids {
                key.push(*b);
                walk(kid, key, f);
                key.pop();
            }
        }
        walk(&self.root, &mut Vec::new(), &mut f);
    }
}

/// Outcome of adding a peer's subscription.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Added {
    /// No peer held this prefix before.
    NewTopic,
    /// Other peers hold it too.
    Shared,
    /// This peer already held it.
    Duplicate,
}

/// PUB/XPUB subscriptions: prefix → peer slots.
pub(crate) type PeerTrie = Trie<Vec<usize>>;

impl PeerTrie {
    pub(crate) fn add(&mut self, topic: &[u8], peer: usize) -> Added {
        let v = self.entry(topic);
        if v.contains(&peer) {
            return Added::Duplicate;
        }
        v.push(peer);
        if v.len() == 1 {
            Added::NewTopic
        } else {
            Added::Shared
        }
    }

    /// Remove one peer's subscription: None if it did not hold it, Some(true) if no peer
    /// holds the topic any more.
    pub(crate) fn remove(&mut self, topic: &[u8], peer: usize) -> Option<bool> {
        let v = self.get_mut(topic)?;
        let i = v.iter().position(|&p| p == peer)?;
        v.swap_remove(i);
        let last = v.is_empty();
        if last {
            self.prune(topic);
        }
        Some(last)
    }

    /// Remove a peer everywhere; `gone(topic, last)` is called for each of its topics, with
    /// `last` true when no other peer holds it.
    pub(crate) fn remove_peer(&mut self, peer: usize, mut gone: impl FnMut(&[u8], bool)) {
        self.retain(|topic, v| {
            if let Some(i) = v.iter().position(|&p| p == peer) {
                v.swap_remove(i);
                gone(topic, v.is_empty());
            }
        });
    }
}

/// SUB/XSUB subscriptions with counts.
pub(crate) type CountTrie = Trie<u32>;

impl CountTrie {
    /// Count one more subscription; true if the topic is new.
    pub(crate) fn add(&mut self, topic: &[u8]) -> bool {
        let v = self.entry(topic);
        *v += 1;
        *v == 1
    }

    /// Drop one subscription: None if there was none, Some(true) when it was the last one.
    pub(crate) fn remove(&mut self, topic: &[u8]) -> Option<bool> {
        let v = self.get_mut(topic).filter(|v| **v > 0)?;
        *v -= 1;
        let last = *v == 0;
        if last {
            self.prune(topic);
        }
        Some(last)
    }

    /// Whether some subscription prefixes `data`.
    #[inline]
    pub(crate) fn matches(&self, data: &[u8]) -> bool {
        let mut hit = false;
        self.prefixes_of(data, |_| {
            hit = true;
            false
        });
        hit
    }

    /// Number of distinct topics.
    pub(crate) fn topics(&self) -> usize {
        let mut n = 0;
        self.for_each(|_, _| n += 1);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matching(t: &PeerTrie, data: &[u8]) -> Vec<usize> {
        let mut v = Vec::new();
        t.prefixes_of(data, |ps| {
            v.extend_from_slice(ps);
            true
        });
        v.sort();
        v.dedup();
        v
    }

    #[test]
    fn prefix_matching_and_removal() {
        let mut t = PeerTrie::default();
        assert_eq!(t.add(b"ab", 1), Added::NewTopic);
        assert_eq!(t.add(b"ab", 2), Added::Shared);
        assert_eq!(t.add(b"ab", 2), Added::Duplicate);
        assert_eq!(t.add(b"", 3), Added::NewTopic);
        assert_eq!(t.add(b"abc", 4), Added::NewTopic);
        assert_eq!(matching(&t, b"abcd"), vec![1, 2, 3, 4]);
        assert_eq!(matching(&t, b"ab"), vec![1, 2, 3]);
        assert_eq!(matching(&t, b"a"), vec![3]);
        assert_eq!(matching(&t, b"x"), vec![3]);
        assert_eq!(t.remove(b"ab", 9), None);
        assert_eq!(t.remove(b"ab", 1), Some(false));
        assert_eq!(t.remove(b"ab", 2), Some(true));
        assert_eq!(matching(&t, b"abcd"), vec![3, 4]);
        let mut gone = Vec::new();
        t.remove_peer(4, |topic, last| gone.push((topic.to_vec(), last)));
        assert_eq!(gone, vec![(b"abc".to_vec(), true)]);
        assert_eq!(matching(&t, b"abcd"), vec![3]);
        t.remove_peer(3, |_, _| {});
        assert!(t.root.dead(), "empty branches are pruned");
    }

    #[test]
    fn counted_subscriptions() {
        let mut t = CountTrie::default();
        assert!(!t.matches(b"anything"));
        assert!(t.add(b"x"));
        assert!(!t.add(b"x"));
        assert!(t.matches(b"xy"));
        assert!(!t.matches(b"y"));
        assert_eq!(t.remove(b"x"), Some(false));
        assert!(t.matches(b"x"));
        assert_eq!(t.remove(b"x"), Some(true));
        assert_eq!(t.remove(b"x"), None);
        assert!(!t.matches(b"x"));
        assert!(t.add(b""));
        assert!(t.matches(b""));
        assert!(t.matches(b"zzz"));
        assert_eq!(t.topics(), 1);
    }
}
