//! Byte-level tests of the frame decoder: every split point, hostile sizes, commands.

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
