//! A transform for tests: it exercises everything a real one (TLS, CURVE, WebSocket) needs
//! of the seam, without being one.

use super::{TransformError, WireFactory, WireTransform};

/// Records of at most this many payload bytes.
pub const MAX_RECORD: usize = 1500;

/// Wraps the byte stream in records `[u16 BE length][payload XOR keystream]`, the keystream
/// running on across records. Records make the decoder hold partial input back (as a TLS
/// layer does); the running keystream makes any lost, repeated or reordered byte corrupt
/// everything after it, so a suite that passes through it proves the seam hands over every
/// byte once and in order. A record announcing 0 or more than [`MAX_RECORD`] bytes is an
/// error (what a hostile peer's bytes look like to it).
#[derive(Default)]
pub struct Xor {
    tx_pos: u64,
    rx_pos: u64,
    /// Decoding: the header collected so far, and the payload bytes still due.
    hdr: [u8; 2],
    have: usize,
    left: usize,
}

impl Xor {
    fn key(pos: u64) -> u8 {
        (pos.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8 ^ 0xA5
    }
}

impl WireTransform for Xor {
    fn encode(&mut self, plain: &[u8], out: &mut Vec<u8>) -> Result<(), TransformError> {
        out.reserve(plain.len() + 2 * plain.len().div_ceil(MAX_RECORD));
        for rec in plain.chunks(MAX_RECORD) {
            out.extend_from_slice(&(rec.len() as u16).to_be_bytes());
            for &b in rec {
                out.push(b ^ Xor::key(self.tx_pos));
                self.tx_pos += 1;
            }
        }
        Ok(())
    }

    fn decode(&mut self, mut wire: &[u8], out: &mut Vec<u8>) -> Result<(), TransformError> {
        while !wire.is_empty() {
            if self.left == 0 {
                let k = (2 - self.have).min(wire.len());
                self.hdr[self.have..self.have + k].copy_from_slice(&wire[..k]);
                self.have += k;
                wire = &wire[k..];
                if self.have < 2 {
                    break;
                }
                self.have = 0;
                let len = usize::from(u16::from_be_bytes(self.hdr));
                if len == 0 || len > MAX_RECORD {
                    return Err(TransformError(format!("xor: bad record length {len}")));
                }
                self.left = len;
            }
            let k = self.left.min(wire.len());
            for &b in &wire[..k] {
                out.push(b ^ Xor::key(self.rx_pos));
                self.rx_pos += 1;
            }
            self.left -= k;
            wire = &wire[k..];
        }
        Ok(())
    }
}

/// Gives every connection a fresh [`Xor`].
pub struct XorFactory;

impl WireFactory for XorFactory {
    fn transform(&self, _connected: bool) -> Box<dyn WireTransform> {
        Box::new(Xor::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_across_any_split() {
        let plain: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let mut a = Xor::default();
        let mut wire = Vec::new();
        a.encode(&plain[..1234], &mut wire).unwrap();
        a.encode(&plain[1234..], &mut wire).unwrap();
        assert_ne!(&wire[2..10], &plain[..8]);
        for step in [1, 2, 3, 7, 1502, 4096] {
            let mut b = Xor::default();
            let mut got = Vec::new();
            for piece in wire.chunks(step) {
                b.decode(piece, &mut got).unwrap();
            }
            assert_eq!(got, plain, "split into pieces of {step}");
        }
    }

    #[test]
    fn a_lost_byte_corrupts_the_rest() {
        let mut wire = Vec::new();
        Xor::default().encode(b"hello world", &mut wire).unwrap();
        wire.remove(5);
        wire[1] -= 1;
        let mut got = Vec::new();
        Xor::default().decode(&wire, &mut got).unwrap();
        // A plain stream would read "helo world"; after the gap every byte decodes wrongly.
        assert_eq!(&got[..3], b"hel");
        assert!(got[3..].iter().zip(&b"o world"[..]).all(|(g, w)| g != w));
    }

    #[test]
    fn bad_record_lengths_are_errors() {
        let mut got = Vec::new();
        assert!(Xor::default().decode(&[0, 0], &mut got).is_err());
        assert!(Xor::default().decode(&[0x10, 0], &mut got).is_err());
        assert!(Xor::default().decode(b"\xff\xff\x00GET", &mut got).is_err());
    }
}
