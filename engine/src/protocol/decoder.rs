//! Streaming frame decoder for an established connection.
//!
//! Built for the receive hot path: complete data frames are not copied or
//! split apart but handed back as verbatim runs (headers included) so the
//! caller can move many small messages with one memcpy. Only what cannot be
//! returned as a borrowed slice is buffered here: a frame header split across
//! reads (at most 9 bytes) and command bodies (small, and needed whole to be
//! parsed). Large data-frame bodies that straddle reads are streamed out
//! piecewise as [`Decoded::FrameStart`] + [`Decoded::Body`] items.

use super::command::Command;
use super::frame::{
    parse_header, read_u64, FrameHeader, COMMAND, LONG, MAX_BODY, MAX_HEADER, MORE, RESERVED,
};
use super::ProtocolError;

/// Commands are buffered whole, so their size is capped even without
/// MAXMSGSIZE.
pub const MAX_COMMAND: u64 = 64 << 20;

/// Don't pre-allocate more than this for a command whose body has not arrived
/// yet: a lying header must not cost us its announced size up front.
const COMMAND_PREALLOC: usize = 64 << 10;

/// One decoded item; see [`Decoder::decode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// One or more complete data frames, verbatim (headers + bodies), ending
    /// at a frame boundary.
    Data {
        /// The frames exactly as received.
        bytes: &'a [u8],
        /// Frames in the run without MORE (= messages completed by the run).
        messages: usize,
        /// The last frame in the run has no MORE.
        ends_message: bool,
        /// Length of the prefix of `bytes` that ends at the last message
        /// boundary (== `bytes.len()` when `ends_message`): what a receiver may
        /// publish while keeping multipart messages atomic.
        complete: usize,
    },
    /// A data frame whose body does not fit in the input, announced with its
    /// header exactly as received. Always followed by [`Decoded::Body`] items,
    /// the last one with `last = true` (a single empty one for an empty body).
    FrameStart {
        /// The received header bytes (`header[..header_len]`).
        header: [u8; MAX_HEADER],
        /// 2 or 9.
        header_len: usize,
        /// The MORE flag.
        more: bool,
        /// Full body length.
        body_len: u64,
    },
    /// Part of the body of the frame announced by `FrameStart`.
    Body {
        /// The next body bytes.
        bytes: &'a [u8],
        /// These bytes complete the body.
        last: bool,
    },
    /// A complete command (possibly buffered across inputs).
    Command(Command),
}

/// Where the decoder is within the stream.
#[derive(Debug)]
enum State {
    /// Between frames (a partial header may sit in `Decoder::hdr`).
    Idle,
    /// Streaming the body of a data frame announced by `FrameStart`.
    Body { remaining: u64 },
    /// Collecting a command body of `len` bytes.
    Command { buf: Vec<u8>, len: usize },
}

/// Streaming decoder for the data phase (after the handshake).
#[derive(Debug)]
pub struct Decoder {
    /// MAXMSGSIZE, if set.
    max_msg_size: Option<u64>,
    /// Largest acceptable data-frame body (MAXMSGSIZE capped by the wire limit).
    max_data: u64,
    state: State,
    /// Partially received header bytes, `hdr[..hdr_len]`.
    hdr: [u8; MAX_HEADER],
    hdr_len: usize,
    /// The last data frame seen had MORE: a multipart message is in progress.
    in_message: bool,
}

impl Decoder {
    /// `max_msg_size`: MAXMSGSIZE (None = unlimited), enforced per data-frame
    /// body like libzmq does.
    pub fn new(max_msg_size: Option<u64>) -> Decoder {
        Decoder {
            max_msg_size,
            max_data: max_msg_size.map_or(MAX_BODY, |m| m.min(MAX_BODY)),
            state: State::Idle,
            hdr: [0; MAX_HEADER],
            hdr_len: 0,
            in_message: false,
        }
    }

    /// True when nothing is partially received: no multipart message, frame,
    /// header or command in progress.
    pub fn at_message_boundary(&self) -> bool {
        matches!(self.state, State::Idle) && self.hdr_len == 0 && !self.in_message
    }

    /// Decode from `input`. Returns how many bytes of `input` were consumed
    /// and at most one item.
    ///
    /// The caller loops, passing the unconsumed rest, while `consumed > 0` or
    /// an item was returned; `(0, None)` means more input is needed. After an
    /// error the stream is unusable.
    pub fn decode<'a>(
        &mut self,
        input: &'a [u8],
    ) -> Result<(usize, Option<Decoded<'a>>), ProtocolError> {
        match &mut self.state {
            State::Idle if self.hdr_len == 0 => self.decode_frames(input),
            State::Idle => self.continue_header(input),
            State::Body { remaining } => {
                if *remaining == 0 {
                    // Empty body announced by FrameStart: close it explicitly.
                    self.state = State::Idle;
                    return Ok((
                        0,
                        Some(Decoded::Body {
                            bytes: &[],
                            last: true,
                        }),
                    ));
                }
                if input.is_empty() {
                    return Ok((0, None));
                }
                let n = (*remaining).min(input.len() as u64) as usize;
                *remaining -= n as u64;
                let last = *remaining == 0;
                if last {
                    self.state = State::Idle;
                }
                Ok((
                    n,
                    Some(Decoded::Body {
                        bytes: &input[..n],
                        last,
                    }),
                ))
            }
            State::Command { buf, len } => {
                let n = (*len - buf.len()).min(input.len());
                if buf.capacity() - buf.len() < n {
                    // Double what arrived, but never past the declared length: the buffer
                    // follows the bytes received and does not overshoot the command.
                    let want = (buf.len() + n).max(2 * buf.capacity()).min(*len);
                    buf.try_reserve_exact(want - buf.len())
                        .map_err(|_| ProtocolError::OutOfMemory(want as u64))?;
                }
                buf.extend_from_slice(&input[..n]);
                if buf.len() < *len {
                    return Ok((n, None));
                }
                let cmd = Command::parse(buf);
                self.state = State::Idle;
                Ok((n, Some(Decoded::Command(cmd?))))
            }
        }
    }

    /// Fast path at a frame boundary: gather the longest run of complete data
    /// frames; fall back to the slow path for whatever stops it.
    #[inline]
    fn decode_frames<'a>(
        &mut self,
        input: &'a [u8],
    ) -> Result<(usize, Option<Decoded<'a>>), ProtocolError> {
        let max = self.max_data;
        let mut pos = 0usize;
        let mut messages = 0usize;
        let mut more = false;
        let mut complete = 0usize;
        while let Some(&flags) = input.get(pos) {
            if flags & (RESERVED | COMMAND) != 0 {
                break;
            }
            let (hl, len) = if flags & LONG == 0 {
                match input.get(pos + 1) {
                    Some(&n) => (2, u64::from(n)),
                    None => break,
                }
            } else {
                match input.get(pos + 1..pos + MAX_HEADER) {
                    Some(b) => (MAX_HEADER, read_u64(b)),
                    None => break,
                }
            };
            // `len <= avail` also keeps the `as usize` below lossless.
            let avail = (input.len() - pos - hl) as u64;
            if len > max || len > avail {
                break;
            }
            pos += hl + len as usize;
            more = flags & MORE != 0;
            messages += usize::from(!more);
            if !more {
                complete = pos;
            }
        }
        if pos > 0 {
            // Frames after the run (even invalid ones) are handled next call,
            // so valid messages before a protocol error are still delivered.
            self.in_message = more;
            return Ok((
                pos,
                Some(Decoded::Data {
                    bytes: &input[..pos],
                    messages,
                    ends_message: !more,
                    complete,
                }),
            ));
        }
        let Some(h) = parse_header(input)? else {
            // Incomplete header (shorter than MAX_HEADER by construction).
            self.hdr[..input.len()].copy_from_slice(input);
            self.hdr_len = input.len();
            return Ok((input.len(), None));
        };
        let hl = h.header_len;
        if h.is_command() && h.body_len <= (input.len() - hl) as u64 {
            self.check_command_size(h.body_len)?;
            let end = hl + h.body_len as usize;
            let cmd = Command::parse(&input[hl..end])?;
            return Ok((end, Some(Decoded::Command(cmd))));
        }
        let mut header = [0u8; MAX_HEADER];
        header[..hl].copy_from_slice(&input[..hl]);
        self.start_frame(h, header, hl)
    }

    /// Add bytes to a header that was split across inputs.
    fn continue_header<'a>(
        &mut self,
        input: &'a [u8],
    ) -> Result<(usize, Option<Decoded<'a>>), ProtocolError> {
        let need = if self.hdr[0] & LONG != 0 {
            MAX_HEADER
        } else {
            2
        };
        let n = (need - self.hdr_len).min(input.len());
        self.hdr[self.hdr_len..self.hdr_len + n].copy_from_slice(&input[..n]);
        self.hdr_len += n;
        if self.hdr_len < need {
            return Ok((n, None));
        }
        let header = self.hdr;
        self.hdr_len = 0;
        match parse_header(&header[..need])? {
            Some(h) => self.start_frame(h, header, n),
            None => Ok((n, None)),
        }
    }

    /// Enter the body of a frame whose header is complete but whose body is
    /// (possibly) not; `consumed` input bytes are reported.
    fn start_frame<'a>(
        &mut self,
        h: FrameHeader,
        header: [u8; MAX_HEADER],
        consumed: usize,
    ) -> Result<(usize, Option<Decoded<'a>>), ProtocolError> {
        if h.is_command() {
            self.check_command_size(h.body_len)?;
            let len = h.body_len as usize;
            if len == 0 {
                return Command::parse(&[]).map(|c| (consumed, Some(Decoded::Command(c))));
            }
            self.state = State::Command {
                buf: Vec::with_capacity(len.min(COMMAND_PREALLOC)),
                len,
            };
            return Ok((consumed, None));
        }
        if h.body_len > self.max_data {
            return Err(ProtocolError::FrameTooLarge {
                size: h.body_len,
                max: self.max_data,
            });
        }
        self.in_message = h.more();
        self.state = State::Body {
            remaining: h.body_len,
        };
        Ok((
            consumed,
            Some(Decoded::FrameStart {
                header,
                header_len: h.header_len,
                more: h.more(),
                body_len: h.body_len,
            }),
        ))
    }

    fn check_command_size(&self, size: u64) -> Result<(), ProtocolError> {
        let max = self
            .max_msg_size
            .map_or(MAX_COMMAND, |m| m.min(MAX_COMMAND));
        if size > max {
            return Err(ProtocolError::FrameTooLarge { size, max });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::frame::write_frame;
    use super::*;

    /// A frame as the test expects to see it come out of the decoder.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Item {
        Data { more: bool, body: Vec<u8> },
        Cmd(Command),
    }

    /// Collects decoder output and rebuilds frames, checking invariants.
    struct Collector {
        dec: Decoder,
        items: Vec<Item>,
        /// Raw bytes of data frames, to check verbatim reproduction.
        raw: Vec<u8>,
        /// Open FrameStart: more flag, expected length, body so far.
        open: Option<(bool, u64, Vec<u8>)>,
        messages: usize,
    }

    impl Collector {
        fn new(max: Option<u64>) -> Self {
            Collector {
                dec: Decoder::new(max),
                items: Vec::new(),
                raw: Vec::new(),
                open: None,
                messages: 0,
            }
        }

        fn feed(&mut self, mut input: &[u8]) -> Result<(), ProtocolError> {
            loop {
                let (n, item) = self.dec.decode(input)?;
                assert!(n <= input.len());
                input = &input[n..];
                let got_item = item.is_some();
                if let Some(item) = item {
                    self.take(item);
                }
                if n == 0 && !got_item {
                    // Needs more input: everything must have been consumed.
                    assert!(input.is_empty(), "stalled with {} bytes", input.len());
                    return Ok(());
                }
            }
        }

        fn take(&mut self, item: Decoded<'_>) {
            match item {
                Decoded::Data {
                    bytes,
                    messages,
                    ends_message,
                    complete,
                } => {
                    assert!(self.open.is_none());
                    let mut boundary = 0;
                    assert!(!bytes.is_empty());
                    self.raw.extend_from_slice(bytes);
                    let mut rest = bytes;
                    let mut counted = 0;
                    let mut last_more = false;
                    while !rest.is_empty() {
                        let h = parse_header(rest).unwrap().unwrap();
                        assert!(!h.is_command());
                        let end = h.frame_len() as usize;
                        self.items.push(Item::Data {
                            more: h.more(),
                            body: rest[h.header_len..end].to_vec(),
                        });
                        counted += usize::from(!h.more());
                        last_more = h.more();
                        rest = &rest[end..];
                        if !h.more() {
                            boundary = bytes.len() - rest.len();
                        }
                    }
                    assert_eq!(complete, boundary);
                    assert_eq!(messages, counted);
                    assert_eq!(ends_message, !last_more);
                    self.messages += messages;
                }
                Decoded::FrameStart {
                    header,
                    header_len,
                    more,
                    body_len,
                } => {
                    assert!(self.open.is_none());
                    let h = parse_header(&header[..header_len]).unwrap().unwrap();
                    assert_eq!(h.header_len, header_len);
                    assert_eq!(h.more(), more);
                    assert_eq!(h.body_len, body_len);
                    assert!(!self.dec.at_message_boundary());
                    self.raw.extend_from_slice(&header[..header_len]);
                    self.open = Some((more, body_len, Vec::new()));
                }
                Decoded::Body { bytes, last } => {
                    let (more, len, mut body) = self.open.take().expect("body without start");
                    body.extend_from_slice(bytes);
                    self.raw.extend_from_slice(bytes);
                    assert_eq!(last, body.len() as u64 == len);
                    assert!(body.len() as u64 <= len);
                    if last {
                        self.messages += usize::from(!more);
                        self.items.push(Item::Data { more, body });
                    } else {
                        assert!(!bytes.is_empty());
                        self.open = Some((more, len, body));
                    }
                }
                Decoded::Command(c) => {
                    assert!(self.open.is_none());
                    self.items.push(Item::Cmd(c));
                }
            }
        }
    }

    /// A mixed stream covering every frame shape, with its expected items.
    fn mixed_stream() -> (Vec<u8>, Vec<Item>, Vec<u8>, usize) {
        let mut wire = Vec::new();
        let mut items = Vec::new();
        let mut data_raw = Vec::new();
        let mut data = |wire: &mut Vec<u8>, more: bool, body: Vec<u8>| {
            let start = wire.len();
            write_frame(wire, more, false, &body);
            data_raw.extend_from_slice(&wire[start..]);
            items.push(Item::Data { more, body });
        };
        data(&mut wire, false, b"hello".to_vec());
        data(&mut wire, false, Vec::new());
        data(&mut wire, true, b"part1".to_vec());
        data(&mut wire, true, Vec::new());
        data(&mut wire, false, vec![0xAB; 300]);
        data(&mut wire, false, vec![1; 255]);
        data(&mut wire, true, vec![2; 256]);
        data(&mut wire, false, b"x".to_vec());
        // A long-form header for a small body must be passed on verbatim.
        let start = wire.len();
        wire.extend_from_slice(&[LONG | MORE, 0, 0, 0, 0, 0, 0, 0, 3]);
        wire.extend_from_slice(b"abc");
        data_raw.extend_from_slice(&wire[start..]);
        items.push(Item::Data {
            more: true,
            body: b"abc".to_vec(),
        });
        let start = wire.len();
        wire.extend_from_slice(&[LONG, 0, 0, 0, 0, 0, 0, 0, 0]);
        data_raw.extend_from_slice(&wire[start..]);
        items.push(Item::Data {
            more: false,
            body: Vec::new(),
        });
        let cmds = [
            Command::Ping {
                ttl_ds: 30,
                context: b"ctx".to_vec(),
            },
            Command::Subscribe(vec![b's'; 400]),
        ];
        for c in &cmds {
            c.encode(&mut wire);
        }
        items.extend(cmds.iter().cloned().map(Item::Cmd));
        let start = wire.len();
        write_frame(&mut wire, false, false, b"after");
        data_raw.extend_from_slice(&wire[start..]);
        items.push(Item::Data {
            more: false,
            body: b"after".to_vec(),
        });
        Command::Pong(Vec::new()).encode(&mut wire);
        items.push(Item::Cmd(Command::Pong(Vec::new())));
        let start = wire.len();
        write_frame(&mut wire, true, false, b"");
        write_frame(&mut wire, false, false, b"end");
        data_raw.extend_from_slice(&wire[start..]);
        items.push(Item::Data {
            more: true,
            body: Vec::new(),
        });
        items.push(Item::Data {
            more: false,
            body: b"end".to_vec(),
        });
        let messages = items
            .iter()
            .filter(|i| matches!(i, Item::Data { more: false, .. }))
            .count();
        (wire, items, data_raw, messages)
    }

    fn check(c: &Collector, items: &[Item], raw: &[u8], messages: usize) {
        assert_eq!(c.items, items);
        assert_eq!(c.raw, raw);
        assert_eq!(c.messages, messages);
        assert!(c.open.is_none());
        assert!(c.dec.at_message_boundary());
    }

    #[test]
    fn whole_stream_at_once() {
        let (wire, items, raw, messages) = mixed_stream();
        let mut c = Collector::new(None);
        c.feed(&wire).unwrap();
        check(&c, &items, &raw, messages);
    }

    #[test]
    fn byte_by_byte() {
        let (wire, items, raw, messages) = mixed_stream();
        let mut c = Collector::new(None);
        for b in &wire {
            c.feed(std::slice::from_ref(b)).unwrap();
        }
        check(&c, &items, &raw, messages);
    }

    /// Split points are tried at every byte, or every 7th under Miri (which is ~1000x slower).
    const MIRI_STRIDE: usize = if cfg!(miri) { 7 } else { 1 };

    #[test]
    fn every_two_piece_split() {
        let (wire, items, raw, messages) = mixed_stream();
        for split in (0..=wire.len()).step_by(MIRI_STRIDE) {
            let mut c = Collector::new(None);
            c.feed(&wire[..split]).unwrap();
            c.feed(&wire[split..]).unwrap();
            check(&c, &items, &raw, messages);
        }
    }

    #[test]
    fn three_piece_splits() {
        let (wire, items, raw, messages) = mixed_stream();
        // Under Miri a sample: every 300th first cut, every 17th second cut.
        let (sa, sb) = if cfg!(miri) { (300, 17) } else { (13, 1) };
        for a in (0..=wire.len()).step_by(sa) {
            for b in (a..=wire.len()).step_by(sb) {
                let mut c = Collector::new(Some(1000));
                c.feed(&wire[..a]).unwrap();
                c.feed(&wire[a..b]).unwrap();
                c.feed(&wire[b..]).unwrap();
                check(&c, &items, &raw, messages);
            }
        }
    }

    #[test]
    fn long_run_is_one_item() {
        let mut wire = Vec::new();
        for i in 0..1000u32 {
            let more = i % 4 != 3;
            write_frame(&mut wire, more, false, &i.to_be_bytes());
        }
        let mut dec = Decoder::new(None);
        let (n, item) = dec.decode(&wire).unwrap();
        assert_eq!(n, wire.len());
        assert_eq!(
            item,
            Some(Decoded::Data {
                bytes: &wire[..],
                messages: 250,
                ends_message: true,
                complete: wire.len(),
            })
        );
        assert!(dec.at_message_boundary());
        assert_eq!(dec.decode(&[]).unwrap(), (0, None));
    }

    #[test]
    fn run_stops_at_command_and_incomplete_frame() {
        let mut wire = Vec::new();
        write_frame(&mut wire, true, false, b"a");
        write_frame(&mut wire, false, false, b"b");
        write_frame(&mut wire, true, false, b"c");
        let run_end = wire.len();
        Command::Pong(b"p".to_vec()).encode(&mut wire);
        let cmd_end = wire.len();
        write_frame(&mut wire, false, false, b"body");
        let mut dec = Decoder::new(None);
        let (n, item) = dec.decode(&wire[..wire.len() - 1]).unwrap();
        assert_eq!(n, run_end);
        assert_eq!(
            item,
            Some(Decoded::Data {
                bytes: &wire[..run_end],
                messages: 1,
                ends_message: false,
                complete: 6,
            })
        );
        assert!(!dec.at_message_boundary());
        let (n, item) = dec.decode(&wire[run_end..wire.len() - 1]).unwrap();
        assert_eq!(n, cmd_end - run_end);
        assert_eq!(item, Some(Decoded::Command(Command::Pong(b"p".to_vec()))));
        // Incomplete data frame with complete header: FrameStart then Body.
        let (n, item) = dec.decode(&wire[cmd_end..wire.len() - 1]).unwrap();
        assert_eq!(n, 2);
        assert!(matches!(
            item,
            Some(Decoded::FrameStart {
                header_len: 2,
                more: false,
                body_len: 4,
                ..
            })
        ));
        let (n, item) = dec.decode(&wire[cmd_end + 2..wire.len() - 1]).unwrap();
        assert_eq!(n, 3);
        assert_eq!(
            item,
            Some(Decoded::Body {
                bytes: b"bod",
                last: false
            })
        );
        assert_eq!(dec.decode(&[]).unwrap(), (0, None));
        let (n, item) = dec.decode(b"y").unwrap();
        assert_eq!(n, 1);
        assert_eq!(
            item,
            Some(Decoded::Body {
                bytes: b"y",
                last: true
            })
        );
        assert!(dec.at_message_boundary());
    }

    #[test]
    fn split_header_of_empty_frame() {
        let mut dec = Decoder::new(None);
        assert_eq!(dec.decode(&[MORE]).unwrap(), (1, None));
        assert!(!dec.at_message_boundary());
        let (n, item) = dec.decode(&[0]).unwrap();
        assert_eq!(n, 1);
        assert!(matches!(
            item,
            Some(Decoded::FrameStart {
                header: [MORE, 0, ..],
                header_len: 2,
                more: true,
                body_len: 0
            })
        ));
        assert_eq!(
            dec.decode(&[]).unwrap(),
            (
                0,
                Some(Decoded::Body {
                    bytes: &[],
                    last: true
                })
            )
        );
        assert!(!dec.at_message_boundary()); // MORE was set
        assert_eq!(dec.decode(&[]).unwrap(), (0, None));
    }

    #[test]
    fn max_msg_size_per_frame() {
        let mut wire = Vec::new();
        write_frame(&mut wire, true, false, &[0; 10]);
        write_frame(&mut wire, false, false, &[0; 10]);
        let mut dec = Decoder::new(Some(10));
        let (n, _) = dec.decode(&wire).unwrap();
        assert_eq!(n, wire.len());

        // Frames before the oversized one are still delivered.
        let mut wire = Vec::new();
        write_frame(&mut wire, false, false, &[0; 10]);
        let first = wire.len();
        write_frame(&mut wire, false, false, &[0; 11]);
        let mut dec = Decoder::new(Some(10));
        let (n, _) = dec.decode(&wire).unwrap();
        assert_eq!(n, first);
        assert_eq!(
            dec.decode(&wire[first..]),
            Err(ProtocolError::FrameTooLarge { size: 11, max: 10 })
        );
        // Also when only the header has arrived, and when it is split.
        let mut dec = Decoder::new(Some(10));
        assert!(dec.decode(&wire[first..first + 2]).is_err());
        let mut dec = Decoder::new(Some(100));
        let big = [LONG, 0, 0, 0, 0, 0, 0, 1, 0];
        assert_eq!(dec.decode(&big[..4]).unwrap(), (4, None));
        assert_eq!(
            dec.decode(&big[4..]),
            Err(ProtocolError::FrameTooLarge {
                size: 256,
                max: 100
            })
        );
    }

    #[test]
    fn command_size_caps() {
        let mut dec = Decoder::new(Some(10));
        let mut wire = Vec::new();
        Command::Subscribe(vec![0; 20]).encode(&mut wire);
        assert!(matches!(
            dec.decode(&wire),
            Err(ProtocolError::FrameTooLarge { max: 10, .. })
        ));
        let mut dec = Decoder::new(None);
        let mut hdr = [LONG | COMMAND, 0, 0, 0, 0, 0, 0, 0, 0];
        hdr[1..].copy_from_slice(&(MAX_COMMAND + 1).to_be_bytes());
        assert_eq!(
            dec.decode(&hdr),
            Err(ProtocolError::FrameTooLarge {
                size: MAX_COMMAND + 1,
                max: MAX_COMMAND
            })
        );
        // At the cap is fine (buffering starts).
        let mut dec = Decoder::new(None);
        hdr[1..].copy_from_slice(&MAX_COMMAND.to_be_bytes());
        assert_eq!(dec.decode(&hdr).unwrap(), (9, None));
        assert!(!dec.at_message_boundary());
    }

    #[test]
    fn command_buffer_follows_the_bytes_received() {
        // Past the preallocation, so the buffer has to grow (smaller under Miri, which is slow).
        let size = if cfg!(miri) {
            COMMAND_PREALLOC + (16 << 10)
        } else {
            1 << 20
        };
        let topic: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let wire = Command::Subscribe(topic.clone()).to_frame();
        let len = wire.len() - MAX_HEADER;
        let mut dec = Decoder::new(None);
        let mut fed = 0;
        for mut piece in wire.chunks(7000) {
            while !piece.is_empty() {
                let (n, item) = dec.decode(piece).unwrap();
                piece = &piece[n..];
                fed += n;
                if let State::Command { buf, .. } = &dec.state {
                    let received = fed - MAX_HEADER;
                    assert!(buf.capacity() <= len, "capacity past the declared length");
                    assert!(
                        buf.capacity() <= (2 * received).max(COMMAND_PREALLOC),
                        "capacity {} for {received} bytes received",
                        buf.capacity()
                    );
                }
                if let Some(item) = item {
                    assert_eq!(item, Decoded::Command(Command::Subscribe(topic.clone())));
                    assert_eq!(fed, wire.len());
                    return;
                }
            }
        }
        panic!("no command after {fed} bytes");
    }

    #[test]
    fn protocol_errors() {
        let mut dec = Decoder::new(None);
        assert_eq!(dec.decode(&[0x08]), Err(ProtocolError::ReservedFlags(0x08)));
        let mut dec = Decoder::new(None);
        assert_eq!(
            dec.decode(&[COMMAND | MORE, 0]),
            Err(ProtocolError::CommandWithMore)
        );
        let mut dec = Decoder::new(None);
        let mut big = [LONG; 9];
        big[1..].copy_from_slice(&u64::MAX.to_be_bytes());
        assert!(matches!(
            dec.decode(&big),
            Err(ProtocolError::FrameTooLarge { .. })
        ));
        // A bad frame after a good one: the good one first, then the error.
        let mut dec = Decoder::new(None);
        let wire = [0x00, 0x01, b'a', 0x80, 0x00];
        assert_eq!(dec.decode(&wire).unwrap().0, 3);
        assert_eq!(
            dec.decode(&wire[3..]),
            Err(ProtocolError::ReservedFlags(0x80))
        );
        // Empty and malformed commands.
        let mut dec = Decoder::new(None);
        assert!(dec.decode(&[COMMAND, 0]).is_err());
        let mut dec = Decoder::new(None);
        assert_eq!(dec.decode(&[COMMAND]).unwrap(), (1, None));
        assert!(dec.decode(&[0]).is_err());
        let mut dec = Decoder::new(None);
        assert!(dec.decode(b"\x04\x03\x05RE").is_err());
    }

    #[test]
    fn unknown_command_is_returned() {
        let mut dec = Decoder::new(None);
        let (n, item) = dec.decode(b"\x04\x06\x03FOOab").unwrap();
        assert_eq!(n, 8);
        assert_eq!(
            item,
            Some(Decoded::Command(Command::Unknown {
                name: b"FOO".to_vec()
            }))
        );
    }
}
