//! Subscription matching cost: the publisher-side trie (PUB/XPUB: which peers does a
//! message go to) and the subscriber-side filter (SUB/XSUB: does any subscription match),
//! per number of topics and topic length, for messages that hit a topic and for messages
//! that miss only at the topic's last byte (the longest walk that fails).
//!
//! `cargo bench -p ringlink-bench --bench trie`. Uses `ringlink::bench_hooks` (the engine's
//! trie is private). Each iteration matches 256 different messages (random topics of the
//! set, so the walk is not the same path every time); throughput is in messages.

use std::collections::HashSet;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ringlink::bench_hooks::{SubFilter, TopicTrie};

const TOPICS: [usize; 4] = [1, 10, 100, 1000];
const LENGTHS: [usize; 2] = [8, 64];
/// Messages matched per iteration.
const BATCH: usize = 256;
/// Subscribers on the publisher side; topic `i` belongs to peer `i % PEERS`.
const PEERS: usize = 100;
/// Payload bytes after the topic.
const PAYLOAD: usize = 16;

/// xorshift64: deterministic input without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `n` distinct topics of `len` bytes over the 16 letters `a..=p`: random, so neighbouring
/// topics share short prefixes as unrelated names do.
fn topics(n: usize, len: usize, rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut seen = HashSet::new();
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        let t: Vec<u8> = (0..len).map(|_| b'a' + (rng.next() % 16) as u8).collect();
        if seen.insert(t.clone()) {
            v.push(t);
        }
    }
    v
}

/// `BATCH` messages, each a random topic of `set` followed by a payload; for `miss`, the
/// topic's last byte is replaced by one outside the alphabet.
fn messages(set: &[Vec<u8>], miss: bool, rng: &mut Rng) -> Vec<Vec<u8>> {
    (0..BATCH)
        .map(|_| {
            let mut m = set[rng.next() as usize % set.len()].clone();
            if miss {
                if let Some(last) = m.last_mut() {
                    *last = b'z';
                }
            }
            m.extend_from_slice(&[b'.'; PAYLOAD]);
            m
        })
        .collect()
}

fn trie(c: &mut Criterion) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for len in LENGTHS {
        let mut pub_group = c.benchmark_group(format!("trie/pub/{len}B"));
        pub_group.throughput(Throughput::Elements(BATCH as u64));
        let mut sub_sets = Vec::new();
        for n in TOPICS {
            let set = topics(n, len, &mut rng);
            let mut t = TopicTrie::new();
            let mut f = SubFilter::new();
            for (i, topic) in set.iter().enumerate() {
                assert!(t.add(topic, i % PEERS));
                assert!(f.add(topic));
            }
            let hit = messages(&set, false, &mut rng);
            let miss = messages(&set, true, &mut rng);
            // Distinct equal-length topics: a hit matches exactly one topic, one peer.
            assert_eq!(hit.iter().map(|m| t.count_matches(m)).sum::<usize>(), BATCH);
            assert_eq!(miss.iter().map(|m| t.count_matches(m)).sum::<usize>(), 0);
            assert!(hit.iter().all(|m| f.matches(m)) && !miss.iter().any(|m| f.matches(m)));
            for (name, msgs) in [("hit", &hit), ("miss", &miss)] {
                pub_group.bench_with_input(BenchmarkId::new(name, n), msgs, |b, msgs| {
                    b.iter(|| {
                        msgs.iter()
                            .map(|m| t.count_matches(black_box(m)))
                            .sum::<usize>()
                    })
                });
            }
            sub_sets.push((n, f, hit, miss));
        }
        pub_group.finish();
        let mut sub_group = c.benchmark_group(format!("trie/sub/{len}B"));
        sub_group.throughput(Throughput::Elements(BATCH as u64));
        for (n, f, hit, miss) in &sub_sets {
            for (name, msgs) in [("hit", hit), ("miss", miss)] {
                sub_group.bench_with_input(BenchmarkId::new(name, n), msgs, |b, msgs| {
                    b.iter(|| msgs.iter().filter(|m| f.matches(black_box(m))).count())
                });
            }
        }
        sub_group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = trie
}
criterion_main!(benches);
