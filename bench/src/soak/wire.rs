//! The soak's message layout and the receiver's sequence check: every message is
//! `[b'D'][seq: u64 LE][0xA5 …][seq as u8 ^ 0xA5]`, the end marker `b'E'` with the count.

use crate::peer::now_ns;

/// Data message / end marker, first byte.
pub(super) const DATA: u8 = b'D';
pub(super) const END: u8 = b'E';
/// Marker + sequence number; the last byte is `seq as u8 ^ FILL`, the rest `FILL`.
const HEADER: usize = 9;
const FILL: u8 = 0xA5;
pub const MIN_SIZE: usize = 16;

/// Writes sequence number `seq` into `m` (layout in the module docs).
pub(super) fn stamp(m: &mut [u8], marker: u8, seq: u64) {
    m[0] = marker;
    m[1..HEADER].copy_from_slice(&seq.to_le_bytes());
    if let Some(last) = m.last_mut() {
        *last = seq as u8 ^ FILL;
    }
}

/// A message buffer of `size` bytes filled with the constant part of the layout.
pub(super) fn template(size: usize) -> Vec<u8> {
    vec![FILL; size]
}

/// The receiver's sequence check over the payloads, in arrival order.
#[derive(Debug, Default)]
pub(super) struct SeqCheck {
    size: usize,
    pub(super) next: u64,
    pub(super) received: u64,
    pub(super) lost: u64,
    pub(super) out_of_sequence: u64,
    pub(super) duplicates: u64,
    pub(super) corrupt: u64,
    pub(super) end: Option<u64>,
    pub(super) first_anomaly: Option<String>,
    /// DEALER/ROUTER: the routing id every message must carry.
    routing_id: Option<Vec<u8>>,
    /// CLOCK_MONOTONIC of the first message (anomalies are timed from it).
    pub(super) t_first: i64,
}

impl SeqCheck {
    pub(super) fn new(size: usize) -> SeqCheck {
        SeqCheck {
            size,
            ..SeqCheck::default()
        }
    }

    pub(super) fn anomaly(&mut self, what: String) {
        if self.first_anomaly.is_none() {
            self.first_anomaly = Some(format!(
                "after {} messages, {:.3} s after the first: {what}",
                self.received,
                (now_ns() - self.t_first) as f64 / 1e9
            ));
        }
    }

    /// A ROUTER's routing-id frame (`more`: whether a payload frame follows).
    pub(super) fn routing_id(&mut self, id: &[u8], more: bool) {
        if !more || id.is_empty() {
            self.corrupt += 1;
            self.anomaly(format!(
                "routing-id frame of {} bytes, more={more}",
                id.len()
            ));
            return;
        }
        match &self.routing_id {
            None => self.routing_id = Some(id.to_vec()),
            Some(r) if r == id => {}
            Some(_) => {
                self.corrupt += 1;
                self.anomaly(format!("routing id changed to {id:02x?}"));
            }
        }
    }

    /// One payload; returns true at the end marker.
    pub(super) fn payload(&mut self, m: &[u8]) -> bool {
        if m.len() != self.size || !matches!(m[0], DATA | END) {
            self.corrupt += 1;
            let head = &m[..m.len().min(HEADER)];
            self.anomaly(format!("{}-byte message starting {head:02x?}", m.len()));
            return false;
        }
        let mut b = [0u8; 8];
        b.copy_from_slice(&m[1..HEADER]);
        let seq = u64::from_le_bytes(b);
        if m[0] == END {
            if seq < self.next {
                self.anomaly(format!(
                    "end marker says {seq} sent, but {} were numbered",
                    self.next
                ));
                self.corrupt += 1;
            } else if seq > self.next {
                // The tail is missing.
                self.lost += seq - self.next;
                let next = self.next;
                self.anomaly(format!(
                    "end marker says {seq} sent, last in sequence was {}",
                    next.wrapping_sub(1)
                ));
            }
            self.end = Some(seq);
            return true;
        }
        if m[m.len() - 1] != seq as u8 ^ FILL {
            self.corrupt += 1;
            self.anomaly(format!("seq {seq}: last byte {:#04x}", m[m.len() - 1]));
        }
        self.received += 1;
        if seq == self.next {
            self.next += 1;
        } else if seq > self.next {
            self.out_of_sequence += 1;
            self.lost += seq - self.next;
            let next = self.next;
            self.anomaly(format!(
                "expected seq {next}, got {seq} (gap of {})",
                seq - next
            ));
            self.next = seq + 1;
        } else {
            self.out_of_sequence += 1;
            self.duplicates += 1;
            let next = self.next;
            self.anomaly(format!(
                "expected seq {next}, got {seq} (duplicate or late)"
            ));
        }
        false
    }

    pub(super) fn result(&self) -> String {
        format!(
            "received={} end_seq={} lost={} out_of_sequence={} duplicates={} corrupt={} first_anomaly={}",
            self.received,
            self.end.unwrap_or(0),
            self.lost,
            self.out_of_sequence,
            self.duplicates,
            self.corrupt,
            self.first_anomaly
                .as_deref()
                .unwrap_or("none")
                .replace(' ', "_")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::parse_kv;

    fn msg(marker: u8, seq: u64) -> Vec<u8> {
        let mut m = template(64);
        stamp(&mut m, marker, seq);
        m
    }

    #[test]
    fn sequence_check_counts_gaps_duplicates_and_corruption() {
        let mut c = SeqCheck::new(64);
        for s in 0..5 {
            assert!(!c.payload(&msg(DATA, s)));
        }
        assert!(c.payload(&msg(END, 5)));
        assert_eq!(
            (c.received, c.lost, c.out_of_sequence, c.corrupt, c.end),
            (5, 0, 0, 0, Some(5))
        );
        assert!(c.first_anomaly.is_none());

        let mut c = SeqCheck::new(64);
        for s in [0, 1, 3, 2, 4, 4] {
            c.payload(&msg(DATA, s));
        }
        // 3 skips 2 (lost 1), 2 is late, the second 4 is a duplicate; the tail 5..7 is lost.
        assert!(c.payload(&msg(END, 8)));
        assert_eq!(
            (c.received, c.lost, c.out_of_sequence, c.duplicates),
            (6, 4, 3, 2)
        );
        assert!(c
            .first_anomaly
            .as_deref()
            .unwrap()
            .contains("expected seq 2, got 3"));

        let mut c = SeqCheck::new(64);
        let mut bad = msg(DATA, 0);
        bad[63] ^= 1;
        c.payload(&bad);
        c.payload(&msg(DATA, 1)[..32]);
        c.routing_id(b"", true);
        c.routing_id(b"A", true);
        c.routing_id(b"B", true);
        assert_eq!(c.corrupt, 4);
        let r = parse_kv(&c.result());
        assert_eq!(r["corrupt"], "4");
        assert!(!r["first_anomaly"].contains(' '));
    }
}
