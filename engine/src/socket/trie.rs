//! Byte-prefix tries for subscriptions: PUB/XPUB map each subscription to the peers holding
//! it (and fan a message out to every peer with a subscription that prefixes its first
//! frame); SUB/XSUB count their own subscriptions (and filter what arrives).
//!
//! A node's children are kept in a small vector sorted by first byte: topic sets are small and
//! prefixes share little, so this beats a 256-way table in memory and is as fast to walk.
//! Labels are path-compressed and no operation recurses, because the topics are the peers':
//! a subscription costs about its length, however long, and any shape of trie is safe.

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

/// A node: the bytes it adds to its parent's key (`label`, empty only at the root), the value
/// at the key it ends, and its children sorted by the first byte of their labels (distinct).
///
/// Path compression keeps memory proportional to the topic bytes: a topic is one label, not a
/// node per byte (which cost ~60 bytes per topic byte, so a peer subscribing to a long topic
/// could make the publisher allocate 60 times what it sent). Invariant outside the root: a node
/// without a value has at least two children (otherwise it is merged with its only child or
/// removed).
struct Node<V> {
    label: Box<[u8]>,
    val: V,
    kids: Vec<Node<V>>,
}

impl<V: Default> Default for Node<V> {
    fn default() -> Self {
        Node {
            label: Box::default(),
            val: V::default(),
            kids: Vec::new(),
        }
    }
}

impl<V: Value> Node<V> {
    fn leaf(label: &[u8]) -> Node<V> {
        Node {
            label: label.into(),
            ..Node::default()
        }
    }

    fn dead(&self) -> bool {
        self.val.is_empty() && self.kids.is_empty()
    }

    /// The child whose label starts with `b`.
    fn kid(&self, b: u8) -> Result<usize, usize> {
        self.kids.binary_search_by_key(&b, |k| k.label[0])
    }

    /// Split the label after `at` bytes: the rest, with the value and children, becomes the
    /// only child.
    fn split(&mut self, at: usize) {
        let tail = Node {
            label: self.label[at..].into(),
            val: std::mem::take(&mut self.val),
            kids: std::mem::take(&mut self.kids),
        };
        self.label = self.label[..at].into();
        self.kids = vec![tail];
    }

    /// Restore the invariant of a non-root node after its value or children changed: `None`
    /// if it holds nothing any more, merged with its only child if it has no value.
    fn normalized(mut self) -> Option<Node<V>> {
        if self.dead() {
            return None;
        }
        if self.val.is_empty() && self.kids.len() == 1 {
            let kid = self.kids.pop().expect("one child");
            let mut label = std::mem::take(&mut self.label).into_vec();
            label.extend_from_slice(&kid.label);
            return Some(Node {
                label: label.into(),
                val: kid.val,
                kids: kid.kids,
            });
        }
        Some(self)
    }
}

/// Length of the common prefix of `a` and `b`.
fn common(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// A prefix trie over byte strings. Every operation is iterative (keys and tries built by a
/// peer may be arbitrarily long or deep; nothing recurses on them, dropping included).
#[derive(Default)]
pub(crate) struct Trie<V: Value> {
    root: Node<V>,
}

impl<V: Value> Drop for Trie<V> {
    fn drop(&mut self) {
        let mut stack = std::mem::take(&mut self.root.kids);
        while let Some(mut n) = stack.pop() {
            stack.append(&mut n.kids);
        }
    }
}

impl<V: Value> Trie<V> {
    /// The value at `key`, created empty if missing (the caller must fill it).
    pub(crate) fn entry(&mut self, key: &[u8]) -> &mut V {
        let mut n = &mut self.root;
        let mut rest = key;
        while let Some(&b) = rest.first() {
            let i = match n.kid(b) {
                Ok(i) => {
                    let c = common(&n.kids[i].label, rest);
                    if c < n.kids[i].label.len() {
                        n.kids[i].split(c);
                    }
                    rest = &rest[c..];
                    i
                }
                Err(i) => {
                    n.kids.insert(i, Node::leaf(rest));
                    rest = &[];
                    i
                }
            };
            n = &mut n.kids[i];
        }
        &mut n.val
    }

    /// Child indices from the root to the node of `key`, if it exists.
    fn path(&self, key: &[u8]) -> Option<Vec<usize>> {
        let mut path = Vec::new();
        let mut n = &self.root;
        let mut rest = key;
        while let Some(&b) = rest.first() {
            let i = n.kid(b).ok()?;
            n = &n.kids[i];
            rest = rest.strip_prefix(&n.label[..])?;
            path.push(i);
        }
        Some(path)
    }

    fn node_mut(&mut self, path: &[usize]) -> &mut Node<V> {
        let mut n = &mut self.root;
        for &i in path {
            n = &mut n.kids[i];
        }
        n
    }

    /// The value at `key`, if the node exists.
    pub(crate) fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        let path = self.path(key)?;
        Some(&mut self.node_mut(&path).val)
    }

    /// Restore the shape on the path of `key` after its value emptied: the node goes (or
    /// merges with its only child), and its parent may then merge with its remaining child.
    pub(crate) fn prune(&mut self, key: &[u8]) {
        let Some(mut path) = self.path(key) else {
            return;
        };
        // Up to two levels change: the node, then (if it went) its parent.
        for _ in 0..2 {
            let Some(i) = path.pop() else { return };
            let parent = self.node_mut(&path);
            let node = std::mem::take(&mut parent.kids[i]);
            match node.normalized() {
                Some(n) => {
                    parent.kids[i] = n;
                    return;
                }
                None => {
                    parent.kids.remove(i);
                }
            }
        }
    }

    /// Call `f` with the value of every stored prefix of `data` (shortest first), until `f`
    /// returns false.
    #[inline]
    pub(crate) fn prefixes_of(&self, data: &[u8], mut f: impl FnMut(&V) -> bool) {
        let mut n = &self.root;
        if !n.val.is_empty() && !f(&n.val) {
            return;
        }
        let mut rest = data;
        while let Some(&b) = rest.first() {
            let Ok(i) = n.kid(b) else {
                return;
            };
            n = &n.kids[i];
            let Some(r) = rest.strip_prefix(&n.label[..]) else {
                return;
            };
            rest = r;
            if !n.val.is_empty() && !f(&n.val) {
                return;
            }
        }
    }

    /// Visit every non-empty value with its key (in key order); `f` may empty it, and empty
    /// branches are removed afterwards. Rebuilds the trie bottom-up with an explicit stack.
    pub(crate) fn retain(&mut self, mut f: impl FnMut(&[u8], &mut V)) {
        struct Frame<V> {
            label: Box<[u8]>,
            val: V,
            todo: std::vec::IntoIter<Node<V>>,
            done: Vec<Node<V>>,
        }
        let frame = |n: Node<V>| Frame {
            label: n.label,
            val: n.val,
            done: Vec::with_capacity(n.kids.len()),
            todo: n.kids.into_iter(),
        };
        let mut key = Vec::new();
        let mut root = frame(std::mem::take(&mut self.root));
        if !root.val.is_empty() {
            f(&key, &mut root.val);
        }
        let mut stack = vec![root];
        loop {
            let top = stack.last_mut().expect("the root frame");
            if let Some(kid) = top.todo.next() {
                key.extend_from_slice(&kid.label);
                let mut fr = frame(kid);
                if !fr.val.is_empty() {
                    f(&key, &mut fr.val);
                }
                stack.push(fr);
                continue;
            }
            let fr = stack.pop().expect("a frame");
            key.truncate(key.len() - fr.label.len());
            let node = Node {
                label: fr.label,
                val: fr.val,
                kids: fr.done,
            };
            match stack.last_mut() {
                Some(parent) => parent.done.extend(node.normalized()),
                None => {
                    self.root = node;
                    return;
                }
            }
        }
    }

    /// Every non-empty value with its key, in key order.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&[u8], &V)) {
        let mut key = Vec::new();
        // (node, key length before its label)
        let mut stack = vec![(&self.root, 0)];
        while let Some((n, base)) = stack.pop() {
            key.truncate(base);
            key.extend_from_slice(&n.label);
            if !n.val.is_empty() {
                f(&key, &n.val);
            }
            let len = key.len();
            stack.extend(n.kids.iter().rev().map(|k| (k, len)));
        }
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

    /// Number of distinct topics some peer holds.
    pub(crate) fn topics(&self) -> usize {
        let mut n = 0;
        self.for_each(|_, v| n += usize::from(!v.is_empty()));
        n
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

    /// Number of nodes below the root, and whether every non-root node keeps the invariant
    /// (a label; a value or at least two children; children sorted by distinct first bytes).
    fn shape<V: Value>(t: &Trie<V>) -> usize {
        let mut count = 0;
        let mut stack = vec![(&t.root, true)];
        while let Some((n, is_root)) = stack.pop() {
            if !is_root {
                count += 1;
                assert!(!n.label.is_empty(), "empty label below the root");
                assert!(
                    !n.val.is_empty() || n.kids.len() >= 2,
                    "uncompressed node {:?}",
                    n.label
                );
            }
            for w in n.kids.windows(2) {
                assert!(w[0].label[0] < w[1].label[0], "children out of order");
            }
            stack.extend(n.kids.iter().map(|k| (k, false)));
        }
        count
    }

    /// A small deterministic generator (xorshift64*).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[test]
    fn matches_a_model_under_random_operations() {
        use std::collections::BTreeMap;
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut t = PeerTrie::default();
        let mut model: BTreeMap<Vec<u8>, Vec<usize>> = BTreeMap::new();
        // Short keys over a 3-letter alphabet: lots of shared prefixes, splits and merges.
        let key = |rng: &mut Rng| -> Vec<u8> {
            let len = rng.below(6) as usize;
            (0..len).map(|_| b'a' + rng.below(3) as u8).collect()
        };
        for step in 0..20_000 {
            let k = key(&mut rng);
            let peer = rng.below(4) as usize;
            match rng.below(10) {
                0..=4 => {
                    let set = model.entry(k.clone()).or_default();
                    let want = if set.contains(&peer) {
                        Added::Duplicate
                    } else {
                        set.push(peer);
                        if set.len() == 1 {
                            Added::NewTopic
                        } else {
                            Added::Shared
                        }
                    };
                    assert_eq!(t.add(&k, peer), want, "step {step}");
                }
                5..=8 => {
                    let want = model.get_mut(&k).and_then(|set| {
                        let i = set.iter().position(|&p| p == peer)?;
                        set.swap_remove(i);
                        Some(set.is_empty())
                    });
                    if want == Some(true) {
                        model.remove(&k);
                    }
                    assert_eq!(t.remove(&k, peer), want, "step {step}");
                }
                _ => {
                    let mut gone = Vec::new();
                    t.remove_peer(peer, |topic, last| gone.push((topic.to_vec(), last)));
                    let mut want = Vec::new();
                    model.retain(|topic, set| {
                        if let Some(i) = set.iter().position(|&p| p == peer) {
                            set.swap_remove(i);
                            want.push((topic.clone(), set.is_empty()));
                        }
                        !set.is_empty()
                    });
                    assert_eq!(gone, want, "step {step}: removed in key order");
                }
            }
            if step % 97 == 0 {
                shape(&t);
                let mut all = Vec::new();
                t.for_each(|topic, set| {
                    let mut set = set.clone();
                    set.sort();
                    all.push((topic.to_vec(), set));
                });
                let want: Vec<_> = model
                    .iter()
                    .map(|(k, v)| {
                        let mut v = v.clone();
                        v.sort();
                        (k.clone(), v)
                    })
                    .collect();
                assert_eq!(all, want, "step {step}");
                let data = key(&mut rng);
                let mut hit: Vec<usize> = model
                    .iter()
                    .filter(|(k, _)| data.starts_with(k))
                    .flat_map(|(_, v)| v.iter().copied())
                    .collect();
                hit.sort();
                hit.dedup();
                assert_eq!(matching(&t, &data), hit, "step {step}: match {data:?}");
            }
        }
        for p in 0..4 {
            t.remove_peer(p, |_, _| {});
        }
        assert!(t.root.dead() && shape(&t) == 0, "everything pruned");
    }

    #[test]
    fn a_long_topic_is_one_node() {
        let topic: Vec<u8> = (0..4 << 20).map(|i| (i % 251) as u8).collect();
        let mut t = PeerTrie::default();
        assert_eq!(t.add(&topic, 1), Added::NewTopic);
        assert_eq!(shape(&t), 1);
        let mut msg = topic.clone();
        msg.push(b'!');
        assert_eq!(matching(&t, &msg), vec![1]);
        assert_eq!(matching(&t, &topic[..topic.len() - 1]), Vec::<usize>::new());
        // A shorter and a diverging topic split the label once each.
        assert_eq!(t.add(&topic[..1000], 2), Added::NewTopic);
        let mut other = topic[..2000].to_vec();
        other.push(0xFF);
        assert_eq!(t.add(&other, 3), Added::NewTopic);
        assert_eq!(matching(&t, &msg), vec![1, 2]);
        assert_eq!(matching(&t, &other), vec![2, 3]);
        let mut gone = Vec::new();
        t.remove_peer(1, |topic, last| gone.push((topic.len(), last)));
        assert_eq!(gone, vec![(topic.len(), true)]);
        assert_eq!(t.remove(&other, 3), Some(true));
        assert_eq!(t.remove(&topic[..1000], 2), Some(true));
        assert!(t.root.dead());
    }

    #[test]
    fn deep_tries_need_no_deep_stack() {
        // Topics "a", "aa", "aaa", ...: a chain as deep as there are topics. Built, matched,
        // walked, removed and dropped on a small stack.
        std::thread::Builder::new()
            .stack_size(64 << 10)
            .spawn(|| {
                const N: usize = 5_000;
                let long = vec![b'a'; N + 1];
                let mut t = PeerTrie::default();
                let mut c = CountTrie::default();
                for len in 1..=N {
                    t.add(&long[..len], len % 3);
                    c.add(&long[..len]);
                }
                assert_eq!(c.topics(), N);
                assert_eq!(matching(&t, &long), vec![0, 1, 2]);
                let mut n = 0;
                t.remove_peer(1, |_, last| {
                    assert!(last);
                    n += 1;
                });
                assert_eq!(n, N / 3 + 1);
                for len in (1..=N).step_by(2) {
                    assert_eq!(c.remove(&long[..len]), Some(true));
                }
                assert_eq!(c.topics(), N / 2);
                drop((t, c));
            })
            .expect("spawn")
            .join()
            .expect("deep trie on a 64 KiB stack");
    }
}
