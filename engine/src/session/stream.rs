//! The STREAM socket's session: raw TCP bytes, or zlink's `[u32 BE length][payload]`
//! messages, turned into one-frame messages for the inbound pipe. No greeting, no commands,
//! no clock; the reactor commits what this marks and does the I/O.

use crate::options::StreamFraming;
use crate::pipe;
use crate::protocol::{frame, ProtocolError};
use crate::wire;

use super::CloseReason;

/// Receive-side state of one STREAM connection.
pub(crate) struct StreamSession {
    framing: StreamFraming,
    max_msg_size: Option<u64>,
    /// No message larger than this can ever be buffered (the machine's memory); passed in so
    /// the session asks the OS nothing.
    mem_limit: u64,
    /// Length-prefixed: the length being collected (`have` bytes of it so far) and the body
    /// bytes still to come of the message being received (`in_body`).
    hdr: [u8; wire::LENGTH_PREFIX_LEN],
    have: usize,
    left: u64,
    in_body: bool,
}

impl StreamSession {
    pub(crate) fn new(framing: StreamFraming, max_msg_size: Option<u64>, mem_limit: u64) -> Self {
        StreamSession {
            framing,
            max_msg_size,
            mem_limit,
            hdr: [0; wire::LENGTH_PREFIX_LEN],
            have: 0,
            left: 0,
            in_body: false,
        }
    }

    /// Turn received bytes into messages in `inn`. Returns how many whole messages were
    /// marked; the caller commits them (and wakes the reader). Raw framing: each receive is
    /// one message (cut at MAXMSGSIZE); length-prefixed: lengths are checked against
    /// MAXMSGSIZE before anything is buffered. On error the marked messages are not
    /// committed: the connection is closed and the pipe rolled back.
    pub(crate) fn handle_bytes(
        &mut self,
        data: &[u8],
        inn: &mut pipe::Writer,
    ) -> Result<u64, CloseReason> {
        match self.framing {
            StreamFraming::LengthPrefixed => self.length_prefixed(data, inn),
            StreamFraming::Raw => self.raw(data, inn),
        }
    }

    fn length_prefixed(&mut self, data: &[u8], inn: &mut pipe::Writer) -> Result<u64, CloseReason> {
        let mut hdr = [0u8; frame::MAX_HEADER];
        let mut msgs = 0;
        let mut rest = data;
        while !rest.is_empty() {
            if !self.in_body {
                let k = (wire::LENGTH_PREFIX_LEN - self.have).min(rest.len());
                self.hdr[self.have..self.have + k].copy_from_slice(&rest[..k]);
                self.have += k;
                rest = &rest[k..];
                if self.have < wire::LENGTH_PREFIX_LEN {
                    break;
                }
                self.have = 0;
                let len = wire::parse_length_prefix(self.hdr);
                if let Some(max) = self.max_msg_size {
                    if len > max {
                        return Err(ProtocolError::FrameTooLarge { size: len, max }.into());
                    }
                }
                if len > self.mem_limit {
                    return Err(CloseReason::NoMemory(len as usize));
                }
                let hl = frame::encode_header(&mut hdr, false, false, len);
                inn.begin_fill(hl + len as usize)?;
                inn.fill(&hdr[..hl])?;
                self.left = len;
                self.in_body = true;
            }
            let k = usize::try_from(self.left)
                .unwrap_or(usize::MAX)
                .min(rest.len());
            inn.fill(&rest[..k])?;
            rest = &rest[k..];
            self.left -= k as u64;
            if self.left == 0 {
                self.in_body = false;
                inn.mark();
                msgs += 1;
            }
        }
        Ok(msgs)
    }

    fn raw(&mut self, data: &[u8], inn: &mut pipe::Writer) -> Result<u64, CloseReason> {
        // Raw bytes have no message boundaries: MAXMSGSIZE caps each delivered piece (0
        // allows no data at all).
        let piece = match self.max_msg_size {
            Some(0) if !data.is_empty() => {
                return Err(ProtocolError::FrameTooLarge {
                    size: data.len() as u64,
                    max: 0,
                }
                .into())
            }
            Some(max) => usize::try_from(max).unwrap_or(usize::MAX),
            None => usize::MAX,
        };
        let mut hdr = [0u8; frame::MAX_HEADER];
        let mut msgs = 0;
        for part in data.chunks(piece.max(1)) {
            let hl = frame::encode_header(&mut hdr, false, false, part.len() as u64);
            inn.write_frame(&hdr[..hl], part);
            inn.mark();
            msgs += 1;
        }
        Ok(msgs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-frame messages `bodies` as the inbound pipe holds them.
    fn frames(bodies: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for b in bodies {
            let mut hdr = [0u8; frame::MAX_HEADER];
            let hl = frame::encode_header(&mut hdr, false, false, b.len() as u64);
            out.extend_from_slice(&hdr[..hl]);
            out.extend_from_slice(b);
        }
        out
    }

    fn feed(s: &mut StreamSession, pieces: &[&[u8]]) -> (Result<u64, String>, Vec<u8>) {
        let (mut w, mut r) = pipe::pipe(1000);
        let mut total = 0;
        for p in pieces {
            match s.handle_bytes(p, &mut w) {
                Ok(n) => total += n,
                Err(e) => return (Err(e.to_string()), Vec::new()),
            }
        }
        w.commit_marked(total);
        let mut got = Vec::new();
        loop {
            let b = r.peek();
            if b.is_empty() {
                break;
            }
            let n = b.len();
            got.extend_from_slice(b);
            r.consume(n);
        }
        (Ok(total), got)
    }

    #[test]
    fn length_prefixed_across_any_split() {
        let wire = [
            &[0, 0, 0, 3][..],
            b"abc",
            &[0, 0, 0, 0],
            &[0, 0, 0, 2],
            b"xy",
        ]
        .concat();
        for cut in 0..=wire.len() {
            let mut s = StreamSession::new(StreamFraming::LengthPrefixed, None, u64::MAX);
            let (n, got) = feed(&mut s, &[&wire[..cut], &wire[cut..]]);
            assert_eq!(n, Ok(3), "cut at {cut}");
            assert_eq!(got, frames(&[b"abc", b"", b"xy"]), "cut at {cut}");
        }
    }

    #[test]
    fn length_prefixed_checks_maxmsgsize_before_buffering() {
        let mut s = StreamSession::new(StreamFraming::LengthPrefixed, Some(4), u64::MAX);
        let (r, _) = feed(&mut s, &[&[0, 0, 0, 5]]);
        assert_eq!(
            r,
            Err("protocol error: frame too large (5 > 4 bytes)".to_string())
        );
        let mut s = StreamSession::new(StreamFraming::LengthPrefixed, None, 1 << 20);
        let (r, _) = feed(&mut s, &[&[0, 0x20, 0, 0]]);
        assert_eq!(
            r,
            Err("out of memory: cannot buffer a frame (2097152 bytes)".to_string())
        );
    }

    #[test]
    fn raw_receives_are_messages_cut_at_maxmsgsize() {
        let mut s = StreamSession::new(StreamFraming::Raw, Some(2), u64::MAX);
        let (n, got) = feed(&mut s, &[b"hello", b"!"]);
        assert_eq!(n, Ok(4));
        assert_eq!(got, frames(&[b"he", b"ll", b"o", b"!"]));
        let mut s = StreamSession::new(StreamFraming::Raw, Some(0), u64::MAX);
        assert!(matches!(
            s.handle_bytes(b"x", &mut pipe::pipe(10).0),
            Err(CloseReason::TooLarge { size: 1, max: 0 })
        ));
    }
}
