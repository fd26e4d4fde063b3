//! Fuzz target bodies for ringlink, as plain functions: the cargo-fuzz binaries in
//! `fuzz_targets/` call them, and so does the corpus replay test of the workspace
//! (`tests/tests/fuzz_replay.rs`, which includes this file), so every committed seed and
//! regression input is checked on stable by `cargo test` too.
//!
//! Each target checks invariants, not just "no panic": a stream decoded in one piece and in
//! fuzzer-chosen pieces gives the same items, encodings round-trip, the engine's own output is
//! well-formed ZMTP, and no input makes the process allocate more than what it received plus
//! fixed limits (see [`alloc`]). Input layouts are documented per target; in each, the peer's
//! bytes come last, so captured traffic (`fuzz/seeds/`) is a seed after a few header bytes.
//!
//! This file is self-contained (no `mod` files) so that the replay test can include it with
//! `#[path]`.

use ringlink::fuzzing::{ConnHarness, ConnOptions, Received};
use ringlink::protocol::command::{
    encode_subscription, parse_legacy_subscription, ready_for, Command, Metadata,
};
use ringlink::protocol::frame::{parse_header, MAX_HEADER};
use ringlink::protocol::greeting::{
    check_signature, check_version, greeting as our_greeting, parse_greeting, GREETING_LEN,
};
use ringlink::protocol::{
    Decoded, Decoder, Handshake, HandshakeConfig, HandshakeStatus, Heartbeat, ProtocolError,
    SocketType,
};
use std::time::{Duration, Instant};

/// Allocation accounting: a global allocator that, while a target body runs on this thread,
/// records the peak of live bytes and aborts at once (with a message, so libFuzzer keeps the
/// input) when one allocation exceeds the bound set for the current input. Aborting inside
/// the allocator rather than checking afterwards matters: an allocation of a peer-declared
/// size (say 2^62 bytes) would otherwise fail and abort without saying why, or succeed lazily
/// and go unnoticed.
pub mod alloc {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    /// The counting allocator (delegates to the system allocator).
    pub struct Counting;

    thread_local! {
        /// Largest allowed single allocation while measuring (0 = not measuring).
        static LIMIT: Cell<usize> = const { Cell::new(0) };
        static LIVE: Cell<isize> = const { Cell::new(0) };
        static PEAK: Cell<isize> = const { Cell::new(0) };
        /// What is being run (the replay test sets the file name), for the abort message.
        static LABEL: Cell<&'static str> = const { Cell::new("") };
    }

    fn on_alloc(size: usize) {
        let _ = LIMIT.try_with(|limit| {
            let max = limit.get();
            if max == 0 || std::thread::panicking() {
                // Not measuring, or reporting a failed check (symbolising a backtrace takes
                // megabytes): let it through.
                return;
            }
            if size > max {
                limit.set(0);
                let label = LABEL.with(Cell::get);
                eprintln!(
                    "ringlink-fuzz: single allocation of {size} bytes exceeds the bound of \
                     {max} bytes for this input {label}"
                );
                std::process::abort();
            }
            LIVE.with(|l| {
                let v = l.get() + size as isize;
                l.set(v);
                PEAK.with(|p| p.set(p.get().max(v)));
            });
        });
    }

    fn on_free(size: usize) {
        let _ = LIMIT.try_with(|limit| {
            if limit.get() != 0 {
                LIVE.with(|l| l.set(l.get() - size as isize));
            }
        });
    }

    // SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
    // bookkeeping only touches const-initialised thread-locals (no allocation, no destructor).
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            on_alloc(layout.size());
            // SAFETY: forwarded under the caller's contract.
            unsafe { System.alloc(layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            on_alloc(layout.size());
            // SAFETY: forwarded under the caller's contract.
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            on_free(layout.size());
            // SAFETY: forwarded under the caller's contract.
            unsafe { System.dealloc(ptr, layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            on_free(layout.size());
            on_alloc(new_size);
            // SAFETY: forwarded under the caller's contract.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    /// What [`measure`] saw.
    #[derive(Debug, Clone, Copy)]
    pub struct Usage {
        /// Peak of bytes allocated and not yet freed, counted from the start.
        pub peak: usize,
    }

    /// Run `f` with single allocations capped at `limit` bytes (abort beyond), and report.
    pub fn measure<R>(limit: usize, f: impl FnOnce() -> R) -> (R, Usage) {
        LIVE.with(|l| l.set(0));
        PEAK.with(|l| l.set(0));
        LIMIT.with(|l| l.set(limit.max(1)));
        let r = f();
        LIMIT.with(|l| l.set(0));
        let usage = Usage {
            peak: PEAK.with(Cell::get).max(0) as usize,
        };
        (r, usage)
    }

    /// Name what runs next on this thread, for the abort message.
    pub fn set_label(label: &'static str) {
        LABEL.with(|l| l.set(label));
    }
}

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

/// Fixed allowance on top of what is proportional to the input: pipe chunks grow to 256 KiB,
/// a command body is preallocated up to 64 KiB, a paused connection stashes up to 1 MiB.
const FIXED: usize = 1 << 20;

/// Run `f` for an input of `len` bytes, allowing single allocations up to `4 * len + FIXED`
/// and a peak of live bytes up to `8 * len + 8 * FIXED`.
fn bounded<R>(len: usize, f: impl FnOnce() -> R) -> R {
    let (r, usage) = alloc::measure(4 * len + FIXED, f);
    let peak = 8 * len + 8 * FIXED;
    assert!(
        usage.peak <= peak,
        "peak of {} live bytes exceeds {peak} for an input of {len} bytes",
        usage.peak
    );
    r
}

/// A cursor over the fuzz input for the header fields of each layout.
struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.data.split_at(n.min(self.data.len()));
        self.data = b;
        a
    }

    /// `[k][k x u16 LE]`: up to 32 cut points, returned sorted and within `0..=len`.
    fn cuts(&mut self) -> Vec<u16> {
        let k = usize::from(self.byte() % 33);
        (0..k).map(|_| self.u16()).collect()
    }
}

/// Split `stream` at `cuts` (taken modulo the length), in order, empty pieces included.
fn pieces<'a>(stream: &'a [u8], cuts: &[u16]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts
        .iter()
        .map(|&c| usize::from(c) % (stream.len() + 1))
        .collect();
    at.sort_unstable();
    let mut out = Vec::with_capacity(at.len() + 1);
    let mut prev = 0;
    for a in at {
        out.push(&stream[prev..a]);
        prev = a;
    }
    out.push(&stream[prev..]);
    out
}

fn socket_type(b: u8) -> SocketType {
    SocketType::ALL[usize::from(b) % SocketType::ALL.len()]
}

// ---------------------------------------------------------------------------------------------
// greeting

/// Target `greeting`. Input: the peer's greeting bytes (any length).
///
/// The early checks on every prefix agree with the full parse (an early rejection is final and
/// names the same error; a valid greeting passes every early check), our own greeting parses,
/// and a handshake fed these bytes fails or goes on exactly as the parse says.
pub fn greeting(data: &[u8]) {
    bounded(data.len(), || {
        let full = data.get(..GREETING_LEN).map(|g| {
            let mut a = [0u8; GREETING_LEN];
            a.copy_from_slice(g);
            parse_greeting(&a)
        });
        let mut early = None;
        for n in 0..=data.len().min(GREETING_LEN) {
            let p = &data[..n];
            if let Err(e) = check_signature(p).and_then(|()| check_version(p)) {
                early = Some((n, e));
                break;
            }
        }
        if let Some((_, e)) = &early {
            if let Some(full) = &full {
                assert_eq!(full.as_ref().err(), Some(e), "early check disagrees");
            }
        }
        if let Some(Ok(g)) = &full {
            assert!(early.is_none());
            assert!(g.major >= 3);
        }
        // The handshake applies the same checks.
        let mut hs = Handshake::new(HandshakeConfig {
            socket_type: SocketType::Dealer,
            identity: Vec::new(),
        });
        assert_eq!(hs.take_output(), our_greeting());
        let fed = &data[..data.len().min(GREETING_LEN)];
        match (hs.feed(fed), &early, &full) {
            (Err(e), Some((_, want)), _) => assert_eq!(&e, want),
            (Err(e), None, Some(Err(want))) => assert_eq!(&e, want),
            (Ok((n, HandshakeStatus::InProgress)), None, None | Some(Ok(_))) => {
                assert_eq!(n, fed.len())
            }
            (r, early, full) => panic!("handshake {r:?} vs early {early:?} full {full:?}"),
        }
        assert_eq!(
            parse_greeting(&our_greeting()).map(|g| g.is_v31()),
            Ok(true)
        );
    })
}

// ---------------------------------------------------------------------------------------------
// frame_decoder

/// A decoded stream, normalised so that different input splits can be compared.
#[derive(Debug, Default, PartialEq, Eq)]
struct Decoding {
    /// Complete items in order: data frames as (raw header + body), commands.
    items: Vec<Item>,
    /// Bytes of the data frame in progress (header + body so far).
    partial: Vec<u8>,
    error: Option<ProtocolError>,
    messages: usize,
    at_boundary: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum Item {
    Frame(Vec<u8>),
    Command(Command),
}

/// Feed `parts` to a fresh decoder, checking the per-item invariants.
fn decode_all(max: Option<u64>, parts: &[&[u8]]) -> Decoding {
    let mut dec = Decoder::new(max);
    let mut out = Decoding::default();
    // The open frame: body bytes still expected.
    let mut open: Option<u64> = None;
    'parts: for part in parts {
        let mut input = *part;
        // Every call consumes input or returns an item, so a piece cannot take more calls
        // than twice its length plus a few.
        let mut calls = 0usize;
        loop {
            calls += 1;
            assert!(calls <= 2 * part.len() + 4, "decoder does not progress");
            let (n, item) = match dec.decode(input) {
                Ok(r) => r,
                Err(e) => {
                    out.error = Some(e);
                    break 'parts;
                }
            };
            assert!(n <= input.len(), "consumed more than given");
            let got = item.is_some();
            match item {
                None => {}
                Some(Decoded::Data {
                    bytes,
                    messages,
                    ends_message,
                    complete,
                }) => {
                    assert!(open.is_none(), "data run inside an open frame");
                    assert!(!bytes.is_empty() && n == bytes.len());
                    let (mut rest, mut boundary, mut count, mut last_more) = (bytes, 0, 0, false);
                    while !rest.is_empty() {
                        let h = parse_header(rest)
                            .expect("run holds valid headers")
                            .expect("run holds whole headers");
                        assert!(!h.is_command());
                        if let Some(m) = max {
                            assert!(h.body_len <= m, "run frame above MAXMSGSIZE");
                        }
                        let end = usize::try_from(h.frame_len()).expect("frame fits");
                        out.items.push(Item::Frame(rest[..end].to_vec()));
                        rest = &rest[end..];
                        last_more = h.more();
                        count += usize::from(!h.more());
                        if !h.more() {
                            boundary = bytes.len() - rest.len();
                        }
                    }
                    assert_eq!(
                        (messages, ends_message, complete),
                        (count, !last_more, boundary)
                    );
                    out.messages += messages;
                }
                Some(Decoded::FrameStart {
                    header,
                    header_len,
                    more,
                    body_len,
                }) => {
                    assert!(open.is_none());
                    let h = parse_header(&header[..header_len]).unwrap().unwrap();
                    assert_eq!(
                        (h.header_len, h.more(), h.body_len),
                        (header_len, more, body_len)
                    );
                    assert!(!h.is_command());
                    if let Some(m) = max {
                        assert!(body_len <= m, "frame above MAXMSGSIZE announced");
                    }
                    assert!(header_len <= MAX_HEADER);
                    out.partial = header[..header_len].to_vec();
                    open = Some(body_len);
                }
                Some(Decoded::Body { bytes, last }) => {
                    let left = open.as_mut().expect("body without FrameStart");
                    assert!(bytes.len() as u64 <= *left);
                    *left -= bytes.len() as u64;
                    assert_eq!(last, *left == 0);
                    out.partial.extend_from_slice(bytes);
                    if last {
                        let h = parse_header(&out.partial).unwrap().unwrap();
                        out.messages += usize::from(!h.more());
                        out.items
                            .push(Item::Frame(std::mem::take(&mut out.partial)));
                        open = None;
                    }
                }
                Some(Decoded::Command(cmd)) => {
                    assert!(open.is_none());
                    out.items.push(Item::Command(cmd));
                }
            }
            input = &input[n..];
            if n == 0 && !got {
                assert!(input.is_empty(), "decoder stalled with input left");
                break;
            }
        }
    }
    out.at_boundary = out.error.is_none() && dec.at_message_boundary();
    out
}

/// Target `frame_decoder`. Input: `[max][k][k x u16 cut points][stream]`; `max` picks
/// MAXMSGSIZE (`max % 4`: 0, 1 none; 2 `max >> 2` bytes; 3 `(max >> 2)` KiB).
///
/// The stream decoded in one piece and in the pieces the cut points make gives the same frames,
/// commands, error and final state; every item is consistent (runs hold whole valid frames and
/// count their messages right, bodies add up to the announced size, nothing above MAXMSGSIZE
/// or the command limit gets through); the decoder never stalls with input left; a
/// stream of data frames is reproduced byte for byte.
pub fn frame_decoder(data: &[u8]) {
    bounded(data.len(), || {
        let mut inp = Input { data };
        let m = inp.byte();
        let max = match m % 4 {
            0 | 1 => None,
            2 => Some(u64::from(m >> 2)),
            _ => Some(u64::from(m >> 2) << 10),
        };
        let cuts = inp.cuts();
        let stream = inp.data;
        let whole = decode_all(max, &[stream]);
        let split = decode_all(max, &pieces(stream, &cuts));
        assert_eq!(whole, split, "one piece and pieces disagree");
        // Byte by byte, for short streams (cheap enough, and the hardest split).
        if stream.len() <= 64 {
            let bytes: Vec<&[u8]> = stream.chunks(1).collect();
            assert_eq!(whole, decode_all(max, &bytes), "byte by byte disagrees");
        }
        for item in &whole.items {
            if let Item::Command(c) = item {
                check_command_round_trip(c);
            }
        }
        if whole.error.is_none() {
            // Everything that is not a command came out verbatim.
            let mut raw = Vec::new();
            let mut commands = 0;
            for item in &whole.items {
                match item {
                    Item::Frame(f) => raw.extend_from_slice(f),
                    Item::Command(_) => commands += 1,
                }
            }
            raw.extend_from_slice(&whole.partial);
            if commands == 0 {
                assert!(stream.starts_with(&raw), "data frames not verbatim");
            }
        }
        if let Some(ProtocolError::FrameTooLarge { size, max: limit }) = &whole.error {
            assert!(size > limit);
        }
    })
}

// ---------------------------------------------------------------------------------------------
// command

/// parse(encode(c)) == c for a command we would send or have parsed (metadata names that came
/// in as non-UTF-8 are lossy by design and skipped).
fn check_command_round_trip(c: &Command) {
    if let Command::Ready(m) = c {
        if m.props.iter().any(|(n, _)| n.len() > 255 || n.is_empty()) {
            return;
        }
    }
    let frame = c.to_frame();
    let h = parse_header(&frame).unwrap().unwrap();
    assert!(h.is_command() && !h.more());
    assert_eq!(h.frame_len(), frame.len() as u64);
    let again = Command::parse(&frame[h.header_len..]).expect("own encoding parses");
    let expected = match c {
        Command::Error(r) => Command::Error(r[..r.len().min(255)].to_vec()),
        Command::Unknown { name } => Command::Unknown {
            name: name[..name.len().min(255)].to_vec(),
        },
        other => other.clone(),
    };
    assert_eq!(again, expected, "command does not round-trip");
}

/// Target `command`. Input: `[mode][rest]`. Mode (`% 4`): 0 parse `rest` as a command body;
/// 1 as READY metadata; 2 build a command from `rest` (kind from its first byte) and round-trip
/// it; 3 subscription forms and heartbeat replies.
///
/// Parsing never panics and only accepts what re-encodes to the same command; metadata
/// lookups agree with the property list; built commands survive encode + parse; PONG replies
/// carry at most 16 bytes of context.
pub fn command(data: &[u8]) {
    bounded(data.len(), || {
        let mut inp = Input { data };
        let mode = inp.byte() % 4;
        let rest = inp.data;
        match mode {
            0 => {
                if let Ok(c) = Command::parse(rest) {
                    assert_eq!(rest.first().map(|&n| usize::from(n)), Some(c.name().len()));
                    check_command_round_trip(&c);
                }
            }
            1 => {
                if let Ok(m) = Metadata::parse(rest) {
                    for (name, value) in &m.props {
                        // Lookups are case-insensitive and return the first match.
                        let found = m.get(&name.to_ascii_uppercase()).expect("lookup");
                        if m.props
                            .iter()
                            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                            .count()
                            == 1
                        {
                            assert_eq!(found, value.as_slice());
                        }
                    }
                    let ascii = m.props.iter().all(|(n, _)| n.is_ascii() && n.len() <= 255);
                    if ascii {
                        let mut out = Vec::new();
                        m.encode(&mut out);
                        assert_eq!(out, rest, "ascii metadata re-encodes verbatim");
                        check_command_round_trip(&Command::Ready(m));
                    }
                }
            }
            2 => {
                let kind = inp.byte();
                let body = inp.data.to_vec();
                let c = match kind % 7 {
                    0 => ready_for(socket_type(kind >> 3), &body),
                    1 => Command::Error(body),
                    2 => Command::Subscribe(body),
                    3 => Command::Cancel(body),
                    4 => Command::Ping {
                        ttl_ds: u16::from(kind),
                        context: body,
                    },
                    5 => Command::Pong(body),
                    _ => {
                        let mut name = body;
                        name.truncate(255);
                        if name.is_empty()
                            || [
                                &b"READY"[..],
                                b"ERROR",
                                b"SUBSCRIBE",
                                b"CANCEL",
                                b"PING",
                                b"PONG",
                            ]
                            .contains(&name.as_slice())
                        {
                            return;
                        }
                        Command::Unknown { name }
                    }
                };
                check_command_round_trip(&c);
            }
            _ => {
                let on = rest.first().is_some_and(|b| b & 1 == 1);
                for v31 in [false, true] {
                    let mut out = Vec::new();
                    encode_subscription(&mut out, on, rest, v31);
                    let h = parse_header(&out).unwrap().unwrap();
                    let body = &out[h.header_len..];
                    let parsed = if v31 {
                        Command::parse(body).unwrap()
                    } else {
                        parse_legacy_subscription(body).unwrap()
                    };
                    let want = if on {
                        Command::Subscribe(rest.to_vec())
                    } else {
                        Command::Cancel(rest.to_vec())
                    };
                    assert_eq!(parsed, want);
                }
                // Heartbeats: arbitrary settings and PINGs never panic; PONG contexts are cut.
                let mut inp = Input { data: rest };
                let ms = |b: u8| (b != 0).then(|| Duration::from_millis(u64::from(b) * 7));
                let now = Instant::now();
                let mut hb = Heartbeat::new(ms(inp.byte()), ms(inp.byte()), ms(inp.byte()), now);
                let mut t = now;
                for _ in 0..8 {
                    let ttl = inp.u16();
                    let len = usize::from(inp.byte() % 24);
                    let ctx = inp.take(len);
                    t += Duration::from_millis(u64::from(inp.byte()) * 13);
                    hb.on_traffic(t);
                    match hb.on_ping(ttl, ctx, t) {
                        Command::Pong(c) => assert!(c.len() <= 16 && ctx.starts_with(&c)),
                        other => panic!("PING answered with {other:?}"),
                    }
                    if let Some(d) = hb.next_deadline() {
                        assert!(d >= now);
                        let _ = hb.on_timer(d.max(t));
                    }
                }
            }
        }
    })
}

// ---------------------------------------------------------------------------------------------
// handshake

#[derive(Debug, PartialEq, Eq)]
struct HandshakeRun {
    /// Ok(peer info) or the error, or None if still in progress.
    result: Option<Result<ringlink::protocol::PeerInfo, ProtocolError>>,
    /// Bytes consumed (0 after a failure, which reports none).
    consumed: usize,
    output: Vec<u8>,
}

fn run_handshake(cfg: &HandshakeConfig, parts: &[&[u8]]) -> HandshakeRun {
    let mut hs = Handshake::new(cfg.clone());
    let mut run = HandshakeRun {
        result: None,
        consumed: 0,
        output: hs.take_output(),
    };
    assert_eq!(run.output, our_greeting(), "greeting goes out first");
    for part in parts {
        let r = hs.feed(part);
        run.output.extend_from_slice(&hs.take_output());
        match r {
            Ok((n, HandshakeStatus::InProgress)) => {
                assert_eq!(n, part.len(), "in progress but input left over");
                assert!(!hs.is_done());
                run.consumed += n;
            }
            Ok((n, HandshakeStatus::Done(info))) => {
                assert!(n <= part.len());
                assert!(hs.is_done());
                run.consumed += n;
                // Done is final and consumes nothing more.
                let again = hs.feed(b"more bytes");
                assert_eq!(again, Ok((0, HandshakeStatus::Done(info.clone()))));
                run.result = Some(Ok(info));
                break;
            }
            Err(e) => {
                // Failure is final and repeats.
                assert_eq!(hs.feed(b"x"), Err(e.clone()));
                assert!(!hs.is_done());
                run.result = Some(Err(e));
                run.consumed = 0;
                break;
            }
        }
    }
    run.output.extend_from_slice(&hs.take_output());
    run
}

/// Target `handshake`. Input: `[type][flags][k][k x u16 cut points][peer bytes]`; `type`
/// picks our socket type (`% 12`), `flags & 1` gives us a routing id.
///
/// One piece and pieces agree (result, bytes consumed, bytes sent); a success names a
/// compatible peer type, an identity of at most 255 bytes and the metadata it came from, and
/// consumes exactly greeting + READY; what we send is our greeting, then READY (once the peer's
/// greeting is valid), then possibly ERROR; failure and success are final.
pub fn handshake(data: &[u8]) {
    bounded(data.len(), || {
        let mut inp = Input { data };
        let ours = socket_type(inp.byte());
        let flags = inp.byte();
        let identity = if flags & 1 == 1 {
            b"fuzz-id".to_vec()
        } else {
            Vec::new()
        };
        let cfg = HandshakeConfig {
            socket_type: ours,
            identity: identity.clone(),
        };
        let cuts = inp.cuts();
        let stream = inp.data;
        let whole = run_handshake(&cfg, &[stream]);
        let split = run_handshake(&cfg, &pieces(stream, &cuts));
        assert_eq!(whole, split, "one piece and pieces disagree");
        if stream.len() <= 160 {
            let bytes: Vec<&[u8]> = stream.chunks(1).collect();
            assert_eq!(whole, run_handshake(&cfg, &bytes), "byte by byte disagrees");
        }
        let mut ready = our_greeting().to_vec();
        ready_for(ours, &identity).encode(&mut ready);
        assert!(
            whole.output.len() == GREETING_LEN || whole.output.starts_with(&ready),
            "unexpected output"
        );
        match &whole.result {
            Some(Ok(info)) => {
                assert!(ours.compatible_with(info.socket_type));
                assert!(info.identity.len() <= 255);
                assert_eq!(
                    info.metadata.socket_type(),
                    Some(info.socket_type.as_str().as_bytes())
                );
                assert_eq!(info.identity, info.metadata.identity().unwrap_or_default());
                assert_eq!(whole.output, ready);
                // Greeting + one READY frame.
                let h = parse_header(&stream[GREETING_LEN..]).unwrap().unwrap();
                assert_eq!(whole.consumed as u64, GREETING_LEN as u64 + h.frame_len());
            }
            Some(Err(_)) | None => {
                let extra = &whole.output[whole.output.len().min(ready.len())..];
                if !extra.is_empty() {
                    let err =
                        Command::Error(ringlink::protocol::handshake::INVALID_SOCKET_TYPE.to_vec())
                            .to_frame();
                    assert_eq!(extra, err.as_slice(), "only ERROR may follow READY");
                }
                if whole.result.is_none() {
                    assert_eq!(whole.consumed, stream.len());
                }
            }
        }
    })
}

// ---------------------------------------------------------------------------------------------
// connection

/// Check that what the engine sent is well-formed ZMTP: our greeting, then READY announcing
/// `ty`, then whole frames (the last one may be cut by a close mid-send).
fn check_engine_output(ty: SocketType, sent: &[u8]) {
    let g = our_greeting();
    let n = sent.len().min(GREETING_LEN);
    assert_eq!(
        &sent[..n],
        &g[..n],
        "engine output does not start with the greeting"
    );
    let mut rest = &sent[n..];
    let mut first = true;
    while !rest.is_empty() {
        let Some(h) = parse_header(rest).expect("engine sent an invalid frame header") else {
            return;
        };
        let Some(frame) = usize::try_from(h.frame_len())
            .ok()
            .and_then(|end| rest.get(..end))
        else {
            return;
        };
        let body = &frame[h.header_len..];
        if first {
            assert!(h.is_command(), "engine sent data before READY");
            match Command::parse(body) {
                Ok(Command::Ready(m)) => {
                    assert_eq!(m.socket_type(), Some(ty.as_str().as_bytes()))
                }
                other => panic!("engine's first command is {other:?}"),
            }
            first = false;
        } else if h.is_command() {
            Command::parse(body).expect("engine sent a malformed command");
        }
        rest = &rest[frame.len()..];
    }
}

/// Target `connection`. Input: `[type][flags][chunk][ops...]`.
///
/// * `type % 12`: the socket type; `flags`: bits 0-1 RCVHWM (1000, 1, 2, unlimited), bits 2-3
///   MAXMSGSIZE (none, 0, 16, 300), bit 4 STREAM length-prefixed framing, bit 5 SUB/XSUB do
///   not subscribe, bits 6-7 with `chunk` the receive piece size (64 KiB, `chunk + 1`,
///   `16 * chunk + 1`, 1).
/// * ops: `0x00..=0x3e` feed that many following bytes; `0x3f` feed `u16 LE` bytes; `0x40`
///   pump; `0x41` the application receives everything ready; `0x42` receives one message;
///   `0x43 n` sends `n % 4 + 1` frames of following `u8`-length-prefixed bytes (ROUTER and
///   STREAM: to the last routing id received); `0x44 w` from now on the peer reads `16 * w`
///   bytes in all (255: everything); `0x45` the peer closes; `0x46`/`0x47 k` (un)subscribe
///   to the next `k` bytes; other ops do nothing.
///
/// The reactor always settles (no livelock), the socket closes and releases its connection,
/// the application receives whole messages (also on XPUB, where a non-first frame that
/// starts with 0 or 1 is taken as a subscription, as libzmq does, and a message it ends
/// ends at its last data frame: `regressions/connection/xpub-*`),
/// the engine's output stays well-formed ZMTP, the application never receives more payload
/// than the peer sent (XPUB: twice, as unsubscriptions follow a disconnect), and memory
/// stays within the input-proportional bounds.
pub fn connection(data: &[u8]) {
    bounded(data.len(), || connection_inner(data))
}

fn connection_inner(data: &[u8]) {
    use ringlink::SocketOption;
    let mut inp = Input { data };
    let ty = socket_type(inp.byte());
    let flags = inp.byte();
    let chunk = usize::from(inp.byte());
    let o = ConnOptions {
        rcvhwm: [1000, 1, 2, 0][usize::from(flags & 3)],
        sndhwm: 1000,
        max_msg_size: [-1, 0, 16, 300][usize::from((flags >> 2) & 3)],
        recv_chunk: match flags >> 6 {
            0 => 64 * 1024,
            1 => chunk + 1,
            2 => 16 * chunk + 1,
            _ => 1,
        },
        length_prefixed: flags & 0x10 != 0,
        subscribe_all: flags & 0x20 == 0,
    };
    let mut h = ConnHarness::with_options(ty, &o).expect("harness");
    let routed = matches!(ty, SocketType::Router | SocketType::Stream);
    let mut fed = 0usize;
    let mut received = 0usize;
    let mut last_id: Vec<u8> = Vec::new();
    let mut sent = Vec::new();
    // One message for the application: counts its payload, remembers a routing id. Messages
    // reach the application whole.
    let recv_one = |h: &mut ConnHarness, last_id: &mut Vec<u8>, received: &mut usize| {
        let Some(Ok(Received { parts, cut })) = h.recv() else {
            return false;
        };
        assert!(!cut, "{ty} delivered part of a message");
        let mut payload = &parts[..];
        if routed {
            if let Some((id, rest)) = parts.split_first() {
                last_id.clone_from(id);
                payload = rest;
            }
        }
        *received += payload.iter().map(Vec::len).sum::<usize>();
        true
    };
    while !inp.data.is_empty() {
        let op = inp.byte();
        match op {
            0x00..=0x3f => {
                let n = if op == 0x3f {
                    usize::from(inp.u16())
                } else {
                    usize::from(op)
                };
                let bytes = inp.take(n);
                if h.feed(bytes) {
                    fed += bytes.len();
                }
            }
            0x41 => {
                h.pump().unwrap_or_else(|e| panic!("{e}"));
                while recv_one(&mut h, &mut last_id, &mut received) {}
            }
            0x42 => {
                recv_one(&mut h, &mut last_id, &mut received);
            }
            0x43 => {
                let frames = usize::from(inp.byte() % 4) + 1;
                let mut parts: Vec<&[u8]> = Vec::new();
                let id = last_id.clone();
                if routed {
                    parts.push(&id);
                }
                for _ in 0..frames {
                    let k = usize::from(inp.byte());
                    parts.push(inp.take(k));
                }
                let _ = h.send(&parts);
            }
            0x44 => {
                let w = inp.byte();
                h.set_window(if w == 255 {
                    usize::MAX
                } else {
                    16 * usize::from(w)
                });
            }
            0x45 => h.peer_close(),
            0x46 | 0x47 => {
                let k = usize::from(inp.byte());
                let topic = inp.take(k).to_vec();
                let opt = if op == 0x46 {
                    SocketOption::Subscribe(topic.clone())
                } else {
                    SocketOption::Unsubscribe(topic.clone())
                };
                if h.socket().set_option(opt).is_err() && ty == SocketType::XPub {
                    // XPUB without manual mode: pass a subscription message upstream instead.
                    let _ = h.send(&[&topic]);
                }
            }
            0x40 => h.pump().unwrap_or_else(|e| panic!("{e}")),
            // Unused op values do nothing (a pump each made random inputs slow to run).
            _ => {}
        }
        sent.extend_from_slice(&h.take_sent());
    }
    h.pump().unwrap_or_else(|e| panic!("{e}"));
    // Drain everything ready, pumping between rounds so a paused connection resumes. Every
    // round either delivers a message or the loop ends.
    loop {
        let mut any = false;
        while recv_one(&mut h, &mut last_id, &mut received) {
            any = true;
        }
        h.pump().unwrap_or_else(|e| panic!("{e}"));
        if !any {
            break;
        }
    }
    sent.extend_from_slice(&h.take_sent());
    // STREAM's length-prefixed framing announces connect and disconnect with one byte each;
    // XPUB hears each subscription twice at most: when made and when the peer goes away.
    let allowed = match ty {
        SocketType::Stream => fed + 2,
        SocketType::XPub => 2 * fed,
        _ => fed,
    };
    assert!(
        received <= allowed,
        "application received {received} payload bytes from {fed} peer bytes"
    );
    if ty != SocketType::Stream {
        check_engine_output(ty, &sent);
    }
    h.close().unwrap_or_else(|e| panic!("{e}"));
}

/// A target body.
pub type Target = fn(&[u8]);

/// Every target by name, for the replay test and tools.
pub const TARGETS: &[(&str, Target)] = &[
    ("greeting", greeting),
    ("frame_decoder", frame_decoder),
    ("command", command),
    ("handshake", handshake),
    ("connection", connection),
];
