//! A local subscriber's FIFO of delivered messages, packed back to back into one byte buffer
//! so that, once warm, delivering and receiving allocate nothing per message. Bounded by a
//! message count (zlink's HWM) and a byte budget (a peer's message sizes never decide how
//! much this holds); what does not fit is dropped and counted by the caller.
//!
//! Record: `[topic len: u8][topic][parts: u32][per part: len u32, bytes]` (native endian:
//! the buffer never leaves the process).

#![forbid(unsafe_code)]

/// Messages a queue holds before new ones are dropped (zlink's HWM).
pub const QUEUE_MESSAGES: usize = 100_000;
/// Bytes of queued messages a queue holds before new ones are dropped.
pub const QUEUE_BYTES: usize = 64 << 20;

/// One subscriber's queue.
#[derive(Debug, Default)]
pub struct MsgQueue {
    buf: Vec<u8>,
    head: usize,
    len: usize,
}

/// A message handed to a receiver, borrowed: from a subscriber's queue, or straight from
/// the node's receive batch when the queue was empty (no copy into the queue and out).
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// Its topic.
    pub topic: &'a [u8],
    parts: usize,
    body: Body<'a>,
}

#[derive(Debug, Clone, Copy)]
enum Body<'a> {
    /// Queued: per part, `len u32` and its bytes.
    Packed(&'a [u8]),
    /// From a receive batch: the parts back to back, and their lengths.
    Frames(&'a [u8], &'a [usize]),
}

impl<'a> Record<'a> {
    /// A message whose parts are `buf` cut at `lens` (a receive batch's layout).
    pub(super) fn from_frames(topic: &'a [u8], buf: &'a [u8], lens: &'a [usize]) -> Record<'a> {
        Record {
            topic,
            parts: lens.len(),
            body: Body::Frames(buf, lens),
        }
    }

    /// How many parts it has.
    pub fn part_count(&self) -> usize {
        self.parts
    }

    /// Its parts, in order.
    pub fn parts(&self) -> impl Iterator<Item = &'a [u8]> + Clone + 'a {
        Parts {
            body: self.body,
            left: self.parts,
        }
    }

    /// Its parts' total size.
    pub fn payload_len(&self) -> usize {
        self.parts().map(<[u8]>::len).sum()
    }
}

/// [`Record::parts`].
#[derive(Clone)]
struct Parts<'a> {
    body: Body<'a>,
    left: usize,
}

impl<'a> Iterator for Parts<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let (part, body) = match self.body {
            Body::Packed(rest) => {
                let (n, tail) = rest.split_at(4);
                let n = u32::from_ne_bytes(n.try_into().expect("4 bytes")) as usize;
                let (part, tail) = tail.split_at(n);
                (part, Body::Packed(tail))
            }
            Body::Frames(buf, lens) => {
                let (part, tail) = buf.split_at(lens[0]);
                (part, Body::Frames(tail, &lens[1..]))
            }
        };
        self.body = body;
        Some(part)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl MsgQueue {
    /// Messages queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Nothing queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queue a message unless that would pass a bound; false when dropped.
    pub fn push<'p>(
        &mut self,
        topic: &[u8],
        parts: impl Iterator<Item = &'p [u8]> + Clone,
    ) -> bool {
        debug_assert!(
            !topic.is_empty() && topic.len() <= 255,
            "checked by the node"
        );
        let (count, bytes) = parts
            .clone()
            .fold((0usize, 0usize), |(c, b), p| (c + 1, b + 4 + p.len()));
        let size = 1 + topic.len() + 4 + bytes;
        if self.len >= QUEUE_MESSAGES || self.buf.len() - self.head + size > QUEUE_BYTES {
            return false;
        }
        let Ok(count32) = u32::try_from(count) else {
            return false;
        };
        self.buf.reserve(size);
        self.buf.push(topic.len() as u8);
        self.buf.extend_from_slice(topic);
        self.buf.extend_from_slice(&count32.to_ne_bytes());
        for p in parts {
            // Below QUEUE_BYTES, so it fits a u32.
            self.buf.extend_from_slice(&(p.len() as u32).to_ne_bytes());
            self.buf.extend_from_slice(p);
        }
        self.len += 1;
        true
    }

    /// The oldest message, if any, and its size in the buffer.
    fn peek_sized(&self) -> Option<(Record<'_>, usize)> {
        if self.len == 0 {
            return None;
        }
        let b = &self.buf[self.head..];
        let tlen = b[0] as usize;
        let topic = &b[1..1 + tlen];
        let at = 1 + tlen;
        let parts = u32::from_ne_bytes(b[at..at + 4].try_into().expect("4 bytes")) as usize;
        let mut end = at + 4;
        for _ in 0..parts {
            let n = u32::from_ne_bytes(b[end..end + 4].try_into().expect("4 bytes")) as usize;
            end += 4 + n;
        }
        let body = &b[at + 4..end];
        Some((
            Record {
                topic,
                parts,
                body: Body::Packed(body),
            },
            end,
        ))
    }

    /// The oldest message, if any.
    pub fn peek(&self) -> Option<Record<'_>> {
        self.peek_sized().map(|(r, _)| r)
    }

    /// Remove the oldest message.
    pub fn pop_front(&mut self) {
        let Some((_, size)) = self.peek_sized() else {
            return;
        };
        self.head += size;
        self.len -= 1;
        if self.len == 0 {
            self.buf.clear();
            self.head = 0;
            // A burst of large messages does not pin its memory for good.
            if self.buf.capacity() > 4 << 20 {
                self.buf.shrink_to(64 << 10);
            }
        } else if self.head > (1 << 20) && self.head * 2 > self.buf.len() {
            self.buf.drain(..self.head);
            self.head = 0;
        }
    }

    /// Remove and return the oldest message as owned parts.
    pub fn pop_owned(&mut self) -> Option<(Vec<u8>, Vec<Vec<u8>>)> {
        let m = self
            .peek()
            .map(|r| (r.topic.to_vec(), r.parts().map(<[u8]>::to_vec).collect()))?;
        self.pop_front();
        Some(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(q: &mut MsgQueue, topic: &str, parts: &[&str]) -> bool {
        q.push(topic.as_bytes(), parts.iter().map(|p| p.as_bytes()))
    }

    #[test]
    fn fifo_with_multipart_and_empty_parts() {
        let mut q = MsgQueue::default();
        assert!(push(&mut q, "a", &["1", "", "333"]));
        assert!(push(&mut q, "bb", &[""]));
        assert_eq!(q.len(), 2);
        let r = q.peek().unwrap();
        assert_eq!(
            (r.topic, r.part_count(), r.payload_len()),
            (&b"a"[..], 3, 4)
        );
        assert_eq!(
            q.pop_owned().unwrap(),
            (b"a".to_vec(), vec![b"1".to_vec(), vec![], b"333".to_vec()])
        );
        assert_eq!(q.pop_owned().unwrap(), (b"bb".to_vec(), vec![vec![]]));
        assert!(q.pop_owned().is_none() && q.is_empty());
        assert_eq!((q.head, q.buf.len()), (0, 0), "reset when emptied");
    }

    #[test]
    fn bounded_by_count_and_bytes() {
        let mut q = MsgQueue::default();
        for _ in 0..QUEUE_MESSAGES {
            assert!(push(&mut q, "t", &["x"]));
        }
        assert!(!push(&mut q, "t", &["x"]), "count bound");
        let mut q = MsgQueue::default();
        let big = vec![0u8; QUEUE_BYTES / 2];
        assert!(q.push(b"t", [&big[..]].into_iter()));
        assert!(!q.push(b"t", [&big[..]].into_iter()), "byte bound");
        q.pop_front();
        assert!(q.push(b"t", [&big[..]].into_iter()), "room again");
    }

    #[test]
    fn compacts_a_long_lived_queue() {
        let mut q = MsgQueue::default();
        let part = vec![7u8; 1000];
        for i in 0..5000u32 {
            assert!(q.push(b"t", [&part[..], &i.to_ne_bytes()[..]].into_iter()));
            if i % 2 == 1 {
                q.pop_front();
            }
        }
        assert!(q.head <= q.buf.len() && q.buf.len() < 5000 * 1020);
        let mut expect = 2500u32;
        while let Some((_, parts)) = q.pop_owned() {
            assert_eq!(parts[1], expect.to_ne_bytes());
            expect += 1;
        }
        assert_eq!(expect, 5000);
    }
}
