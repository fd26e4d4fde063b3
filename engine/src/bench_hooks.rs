//! Thin safe wrappers around engine internals, for the criterion micro-benchmarks of
//! `ringlink-bench` (subscription trie, pipe chunk recycling). Hidden from the docs and
//! not part of the API: no stability promise, nothing else should use it.

#![forbid(unsafe_code)]

use crate::pipe::{self, Reader, Writer};
use crate::protocol::frame;

use crate::socket::trie;

/// Publisher-side subscriptions (PUB/XPUB): topic prefix → subscribed peer slots, matched
/// the way `send` on a PUB socket does (every stored prefix of the message, each peer
/// counted once).
#[derive(Default)]
pub struct TopicTrie {
    trie: trie::PeerTrie,
    /// Per-peer epoch marks (deduplicate a peer holding several matching prefixes), as
    /// `socket::pubsub` keeps them.
    marks: Vec<u32>,
    epoch: u32,
}

impl TopicTrie {
    pub fn new() -> TopicTrie {
        TopicTrie::default()
    }

    /// Subscribes `peer` to `topic`; false if it already held it.
    pub fn add(&mut self, topic: &[u8], peer: usize) -> bool {
        if self.marks.len() <= peer {
            self.marks.resize(peer + 1, 0);
        }
        self.trie.add(topic, peer) != trie::Added::Duplicate
    }

    /// The number of distinct peers `data` goes to: one walk down the trie along `data`,
    /// visiting the peers of every stored prefix.
    pub fn count_matches(&mut self, data: &[u8]) -> usize {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.iter_mut().for_each(|m| *m = 0);
            self.epoch = 1;
        }
        let (epoch, marks) = (self.epoch, &mut self.marks);
        let mut n = 0;
        self.trie.prefixes_of(data, |peers| {
            for &p in peers {
                if marks[p] != epoch {
                    marks[p] = epoch;
                    n += 1;
                }
            }
            true
        });
        n
    }
}

/// Subscriber-side filter (SUB/XSUB): counted subscriptions, asked "does any prefix
/// match" for every received message.
#[derive(Default)]
pub struct SubFilter(trie::CountTrie);

impl SubFilter {
    pub fn new() -> SubFilter {
        SubFilter::default()
    }

    /// Adds one subscription; true if the topic is new.
    pub fn add(&mut self, topic: &[u8]) -> bool {
        self.0.add(topic)
    }

    /// Whether some subscription is a prefix of `data`.
    pub fn matches(&self, data: &[u8]) -> bool {
        self.0.matches(data)
    }
}

/// Both ends of one byte pipe on one thread, to measure the writer / reader paths and the
/// chunk recycling through the pipe's spare slots without a second thread.
pub struct PipePair {
    w: Writer,
    r: Reader,
}

impl Default for PipePair {
    fn default() -> Self {
        PipePair::new()
    }
}

impl PipePair {
    /// A pipe without HWM (0): the benchmarks read every message right after writing it.
    pub fn new() -> PipePair {
        let (w, r) = pipe::pipe(0);
        PipePair { w, r }
    }

    /// Writes `body` as one single-frame message (header + body, as a socket's `send`
    /// does) and commits it, then reads and consumes it on the reader end and credits it.
    /// Returns the body length read back. When the frame does not fit the writer's chunk,
    /// the writer takes a new one from the spare slots (or allocates), and the reader parks
    /// the chunk it leaves in a spare slot (or frees it).
    pub fn roundtrip(&mut self, body: &[u8]) -> usize {
        let mut hdr = [0u8; frame::MAX_HEADER];
        let n = frame::encode_header(&mut hdr, false, false, body.len() as u64);
        self.w.write_frame(&hdr[..n], body);
        // The notification flag only matters to a reactor; nobody waits here.
        let _notify = self.w.commit(1);
        let h = frame::parse_header(self.r.peek())
            .ok()
            .flatten()
            .expect("the committed frame starts the readable bytes");
        self.r.consume(h.frame_len() as usize);
        let _wake_writer = self.r.credit(1);
        h.body_len as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_trie_counts_each_peer_once() {
        let mut t = TopicTrie::new();
        assert!(t.add(b"a", 0));
        assert!(t.add(b"ab", 0));
        assert!(t.add(b"ab", 1));
        assert!(!t.add(b"ab", 1));
        assert!(t.add(b"", 2));
        assert_eq!(t.count_matches(b"abc"), 3);
        assert_eq!(t.count_matches(b"a"), 2);
        assert_eq!(t.count_matches(b"x"), 1);
    }

    #[test]
    fn sub_filter_matches_prefixes() {
        let mut f = SubFilter::new();
        assert!(!f.matches(b"abc"));
        assert!(f.add(b"ab"));
        assert!(!f.add(b"ab"));
        assert!(f.matches(b"abc"));
        assert!(!f.matches(b"a"));
    }

    #[test]
    fn pipe_roundtrip_recycles_across_chunks() {
        let mut p = PipePair::new();
        // Larger than half the biggest chunk: every message needs a chunk of its own.
        let big = vec![7u8; 200 << 10];
        for _ in 0..10 {
            assert_eq!(p.roundtrip(&big), big.len());
            assert_eq!(p.roundtrip(b"x"), 1);
            assert_eq!(p.roundtrip(&[]), 0);
        }
    }
}
