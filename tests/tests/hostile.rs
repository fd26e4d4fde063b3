//! The hostile-peer suite: raw TCP attackers against ringlink servers of every kind (ROUTER,
//! REP, PUB, XPUB, PULL, STREAM in both framings, and a SUB that connects to a hostile
//! publisher), on both backends.
//!
//! Every case checks the engine's promise: a bad peer costs what it actually sends, never what
//! it declares, and loses its own connection and nothing else. So each one checks that
//! 1. the offending connection is closed and the monitor says how (HANDSHAKE_FAILED_* and the
//!    DISCONNECTED reason, as libzmq reports them),
//! 2. a real pyzmq peer on the same server is served before, during and after the attack,
//! 3. the peak of live heap (counted exactly by this binary's allocator) and of RSS grow by no
//!    more than what the attacker sent (plus documented bookkeeping) and a fixed margin, and
//!    the address space by no declared size.
//!
//! The tests run one at a time (process-wide RSS and fds); see `ringlink_tests::hostile`.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringlink::DisconnectReason;
use ringlink_tests::hostile::*;
use ringlink_tests::raw::{self, RawConn};
use ringlink_tests::*;

/// Exact heap accounting for `MemWatch` (this binary only).
#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Opens a connection, writes `bytes`, and expects the engine to close it with `want`.
/// Returns what the engine sent before closing.
fn rejected(srv: &mut Server, bytes: &[u8], want: End, what: &str) -> Vec<u8> {
    let mut c = RawConn::connect(&srv.endpoint);
    c.write_lenient(bytes);
    let got = c.expect_closed(deadline());
    srv.expect_end(want, what);
    got
}

/// Expects the engine to close `c` (after it wrote something bad) with `want`.
fn closed(srv: &mut Server, mut c: RawConn, want: End, what: &str) -> Vec<u8> {
    let got = c.expect_closed(deadline());
    srv.expect_end(want, what);
    got
}

/// Asserts the engine sent at most its 64-byte greeting before dropping a bad greeting.
fn only_greeting(got: &[u8], what: &str) {
    assert!(
        got.len() <= 64 && got[..] == raw::greeting(1)[..got.len()],
        "{what}: the engine sent {} bytes, not (part of) its greeting: {:02x?}",
        got.len(),
        &got[..got.len().min(100)]
    );
}

/// A greeting with `f` applied.
fn greeting_with(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut g = raw::greeting(1);
    f(&mut g);
    g
}

/// A greeting announcing `mechanism` (NUL-padded to 20 bytes).
fn greeting_mech(mechanism: &[u8]) -> Vec<u8> {
    greeting_with(|g| {
        g[12..32].fill(0);
        g[12..12 + mechanism.len()].copy_from_slice(mechanism);
    })
}

/// A valid greeting followed by `after`.
fn greeting_then(after: &[u8]) -> Vec<u8> {
    let mut v = raw::greeting(1);
    v.extend_from_slice(after);
    v
}

// ---------------------------------------------------------------------------------------------
// Greetings

hostile!(garbage_instead_of_greeting, |backend| {
    let mut srv = Server::new(backend, Kind::Router, &[]);
    // An HTTP client, and binary noise that starts like a greeting.
    let http = b"GET / HTTP/1.1\r\nHost: ringlink.test\r\nAccept: */*\r\n\r\n".repeat(1000);
    let mut noise = vec![0xFF];
    noise.extend((0..65_536u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 & 0xFE));
    let mem = MemWatch::start();
    let mut sent = 0;
    for (what, bytes) in [("HTTP request", &http), ("binary noise", &noise)] {
        let got = rejected(
            &mut srv,
            bytes,
            End::HandshakeProtocol("bad greeting signature"),
            what,
        );
        only_greeting(&got, what);
        sent += bytes.len() as u64;
        srv.serve(&format!("after {what}"));
    }
    mem.check(sent, "garbage greetings");
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

hostile!(bad_signature_rejected_early, |backend| {
    let mut srv = Server::new(backend, Kind::Pull, &[]);
    let mem = MemWatch::start();
    // Byte 0 must be 0xFF (seen after 1 byte), byte 9 must have its low bit (after 10): the
    // engine does not wait for the rest of a greeting that is already wrong.
    let bad0 = greeting_with(|g| g[0] = 0xFE);
    let bad9 = greeting_with(|g| g[9] = 0x7E);
    for (what, bytes) in [("byte 0", &bad0[..1]), ("byte 9", &bad9[..10])] {
        let got = rejected(
            &mut srv,
            bytes,
            End::HandshakeProtocol("bad greeting signature"),
            what,
        );
        only_greeting(&got, what);
        srv.serve(&format!("after a bad signature ({what})"));
    }
    mem.check(11, "bad signatures");
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

hostile!(old_zmtp_versions_rejected, |backend| {
    let mut srv = Server::new(backend, Kind::Pub, &[]);
    let mem = MemWatch::start();
    // ZMTP 1.0 opens with a length-prefixed identity frame; 2.0 with the signature and
    // revision 1; "2" is no ZMTP at all. Rejected as soon as the version byte is in.
    let zmtp10 = vec![0x01, 0x00];
    let zmtp20 = greeting_with(|g| g[10] = 1);
    let major2 = greeting_with(|g| g[10] = 2);
    let major0 = greeting_with(|g| g[10] = 0);
    let cases: [(&str, &[u8], &'static str); 4] = [
        ("ZMTP 1.0", &zmtp10, "bad greeting signature"),
        ("ZMTP 2.0", &zmtp20[..11], "unsupported zmtp version 1"),
        (
            "major version 2",
            &major2[..11],
            "unsupported zmtp version 2",
        ),
        ("major version 0", &major0, "unsupported zmtp version 0"),
    ];
    for (what, bytes, why) in cases {
        let got = rejected(&mut srv, bytes, End::HandshakeProtocol(why), what);
        only_greeting(&got, what);
        srv.serve(&format!("after a {what} greeting"));
    }
    mem.check(256, "old versions");
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

hostile!(wrong_or_unknown_mechanism, |backend| {
    let mut srv = Server::new(backend, Kind::XPub, &[]);
    let mem = MemWatch::start();
    let mut null_tail = greeting_mech(b"NULL");
    null_tail[31] = b'X';
    let cases = [
        ("PLAIN", greeting_mech(b"PLAIN")),
        ("CURVE", greeting_mech(b"CURVE")),
        ("GSSAPI", greeting_mech(b"GSSAPI")),
        ("an unknown mechanism", greeting_mech(b"XYZZY-9000")),
        ("an empty mechanism", greeting_mech(b"")),
        ("lowercase null", greeting_mech(b"null")),
        ("NULL with garbage padding", null_tail),
    ];
    for (what, g) in &cases {
        let mut bytes = g.clone();
        bytes.extend(raw::ready("SUB", None));
        let got = rejected(
            &mut srv,
            &bytes,
            End::HandshakeProtocol("security mechanism mismatch"),
            what,
        );
        only_greeting(&got, what);
        srv.serve(&format!("after {what}"));
    }
    mem.check(4096, "wrong mechanisms");
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

// ---------------------------------------------------------------------------------------------
// Half handshakes

hostile!(truncated_handshakes_closed_by_the_peer, |backend| {
    let mut srv = Server::new(backend, Kind::Rep, &[]);
    let mem = MemWatch::start();
    let mut full = raw::greeting(1);
    full.extend(raw::ready("REQ", None));
    // Cut inside the signature, at the version, inside the mechanism, one byte short of the
    // greeting, inside READY's header and inside its body; then hang up (FIN).
    for cut in [1, 10, 11, 20, 63, 65, full.len() - 3] {
        let mut c = RawConn::connect(&srv.endpoint);
        c.write(&full[..cut]);
        wait_consumed(&c.stream, "half a handshake");
        c.stream
            .shutdown(std::net::Shutdown::Write)
            .expect("shutdown");
        closed(&mut srv, c, End::Hangup, &format!("handshake cut at {cut}"));
        srv.serve(&format!("after a handshake cut at {cut}"));
    }
    mem.check(1024, "truncated handshakes");
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

hostile!(
    /// libzmq reports HANDSHAKE_FAILED_NO_DETAIL before DISCONNECTED when a peer hangs up or
    /// resets during the handshake (as ringlink's own doc of the event says: "timeout,
    /// transport error").
    peer_closing_mid_handshake_reports_handshake_failure,
    |backend| {
        let mut srv = Server::new(backend, Kind::Rep, &[]);
        let mem = MemWatch::start();
        let mut c = RawConn::connect(&srv.endpoint);
        c.write(&raw::greeting(1)[..30]);
        wait_consumed(&c.stream, "half a greeting");
        c.stream
            .shutdown(std::net::Shutdown::Write)
            .expect("shutdown");
        closed(
            &mut srv,
            c,
            End::HandshakeCut(DisconnectReason::Remote),
            "FIN during the greeting",
        );
        srv.serve("after a FIN during the greeting");
        let mut c = RawConn::connect(&srv.endpoint);
        c.write(&raw::greeting(1)[..30]);
        wait_consumed(&c.stream, "half a greeting");
        reset(c);
        srv.expect_end(
            End::HandshakeCut(DisconnectReason::Handshake),
            "RST during the greeting",
        );
        srv.serve("after a RST during the greeting");
        mem.check(64, "hang-ups mid-handshake");
        mem.released("after the attack", || srv.poke());
        srv.finish();
    }
);

hostile!(half_handshake_times_out, |backend| {
    let ivl = Duration::from_millis(300);
    let mut srv = Server::new(backend, Kind::Pub, &[SocketOption::HandshakeIvl(300)]);
    let mem = MemWatch::start();
    // READY's header promises a 64 KiB body (acceptable) of which 100 bytes come.
    let mut half_ready = greeting_then(&long_header(0x04, 65_536));
    half_ready.extend_from_slice(&[0x05; 100]);
    let cases: [(&str, &[u8]); 4] = [
        ("a silent client", b""),
        ("half a greeting", &raw::greeting(1)[..40]),
        ("a greeting without READY", &raw::greeting(1)),
        ("half a READY", &half_ready),
    ];
    for (what, bytes) in cases {
        let start = Instant::now();
        let mut c = RawConn::connect(&srv.endpoint);
        c.write(bytes);
        closed(&mut srv, c, End::HandshakeTimeout, what);
        let took = start.elapsed();
        assert!(
            took >= ivl - Duration::from_millis(10),
            "{what}: closed after {took:?}, before HANDSHAKE_IVL ({ivl:?})"
        );
        srv.serve(&format!("after {what}"));
    }
    mem.check(half_ready.len() as u64 * 2, "half handshakes");
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

hostile!(slow_loris_bounded_by_handshake_ivl, |backend| {
    const IVL_MS: i32 = 500;
    let mut srv = Server::new(backend, Kind::Router, &[SocketOption::HandshakeIvl(IVL_MS)]);
    let mem = MemWatch::start();
    // A valid handshake, one byte per 100 ms: about 10 s if the engine waited for it.
    let mut bytes = raw::greeting(1);
    bytes.extend(raw::ready("DEALER", Some(b"loris")));
    let c = RawConn::connect(&srv.endpoint);
    let mut writer = c.stream.try_clone().expect("clone stream");
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let pacer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut written = 0;
            for b in &bytes {
                if stop.load(Ordering::Relaxed) || writer.write_all(&[*b]).is_err() {
                    break;
                }
                written += 1;
                // The one timed action in the suite: the attacker's pacing.
                std::thread::sleep(Duration::from_millis(100));
            }
            (written, bytes.len())
        })
    };
    closed(&mut srv, c, End::HandshakeTimeout, "slow loris");
    let took = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (written, total) = pacer.join().expect("pacer");
    assert!(
        took >= Duration::from_millis(IVL_MS as u64 - 10),
        "closed after {took:?}, before HANDSHAKE_IVL"
    );
    assert!(
        written < total,
        "the engine waited for all {total} bytes ({took:?})"
    );
    srv.serve("after the slow loris");
    mem.check(total as u64, "slow loris");
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

// ---------------------------------------------------------------------------------------------
// READY and the rest of the handshake

hostile!(data_before_ready, |backend| {
    let mut srv = Server::new(backend, Kind::Pull, &[]);
    let mem = MemWatch::start();
    let mut huge = long_header(0x00, 1 << 62);
    huge.extend_from_slice(&[0xAB; 1000]);
    let cases: [(&str, Vec<u8>); 3] = [
        ("a message", raw::message(b"early", false)),
        ("a multipart start", raw::message(&[7; 300], true)),
        ("a 2^62-byte frame", huge),
    ];
    for (what, frame) in &cases {
        let got = rejected(
            &mut srv,
            &greeting_then(frame),
            End::HandshakeProtocol("data frame before ready"),
            what,
        );
        // The engine's greeting and READY, nothing more.
        assert!(got.len() < 128, "{what}: {} bytes back", got.len());
        srv.serve(&format!("after {what} before READY"));
    }
    mem.check(4096, "data before READY");
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

hostile!(malformed_metadata, |backend| {
    let mut srv = Server::new(backend, Kind::Rep, &[]);
    let mem = MemWatch::start();
    let mut trailing = ready_with(&[(b"Socket-Type", b"REQ")]);
    trailing.push(3);
    let mut value_too_long = b"\x05READY\x0bSocket-Type".to_vec();
    value_too_long.extend_from_slice(&u32::MAX.to_be_bytes());
    value_too_long.extend_from_slice(b"REQ");
    let mut name_too_long = b"\x05READY\xff".to_vec();
    name_too_long.extend_from_slice(b"Socket-Type");
    let cases: [(&str, Vec<u8>, &'static str); 5] = [
        (
            "a zero-length property name",
            ready_with(&[(b"", b"x")]),
            "malformed metadata",
        ),
        (
            "a value length of 2^32-1",
            value_too_long,
            "malformed metadata",
        ),
        (
            "a name running past the end",
            name_too_long,
            "malformed metadata",
        ),
        ("a trailing byte", trailing, "malformed metadata"),
        (
            "a cut command name",
            b"\x05REA".to_vec(),
            "malformed command",
        ),
    ];
    for (what, body, why) in &cases {
        let got = rejected(
            &mut srv,
            &greeting_then(&raw::command(body)),
            End::HandshakeProtocol(why),
            what,
        );
        assert!(got.len() < 128, "{what}: {} bytes back", got.len());
        srv.serve(&format!("after READY with {what}"));
    }
    mem.check(4096, "malformed metadata");
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

hostile!(oversized_ready, |backend| {
    let mut srv = Server::new(backend, Kind::Router, &[]);
    let mem = MemWatch::start();
    // READY is buffered before the peer is known, so its size is capped (1 MiB): declared
    // sizes above it are refused from the header alone, without waiting or allocating.
    for size in [(1u64 << 20) + 1, 1 << 40, 1 << 63, u64::MAX] {
        let what = format!("a READY declaring {size} bytes");
        rejected(
            &mut srv,
            &greeting_then(&long_header(0x04, size)),
            End::HandshakeProtocol("frame too large"),
            &what,
        );
        srv.serve(&format!("after {what}"));
    }
    mem.check(4096, "oversized READY");
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

hostile!(ready_with_thousands_of_properties, |backend| {
    /// Parsing keeps each property as a (String, Vec) pair until the handshake ends.
    const PER_PROPERTY: u64 = 160;
    let mut srv = Server::new(backend, Kind::Router, &[]);
    // As many properties as fit under the 1 MiB READY limit, plus one large value.
    let names: Vec<Vec<u8>> = (0..80_000)
        .map(|i| format!("X-{i:05}").into_bytes())
        .collect();
    let big = vec![b'v'; 64 << 10];
    let mut props: Vec<(&[u8], &[u8])> = vec![(b"Socket-Type", b"DEALER"), (b"Identity", b"many")];
    props.extend(names.iter().map(|n| (&n[..], &b""[..])));
    props.push((b"X-Big", &big));
    let body = ready_with(&props);
    assert!(body.len() < 1 << 20, "READY of {} bytes", body.len());
    let bytes = greeting_then(&raw::command(&body));
    drop(props);
    drop(names);
    let mem = MemWatch::start();
    let mut c = RawConn::connect(&srv.endpoint);
    c.write(&bytes);
    c.write(&raw::message(b"after 80k properties", false));
    let got = recv_parts(&mut srv.sock, "the message after a huge READY");
    assert_eq!(
        got,
        vec![b"many".to_vec(), b"after 80k properties".to_vec()]
    );
    srv.serve("while the peer with 80k properties is connected");
    // Read the server's greeting and READY, so that closing sends a FIN, not a RST.
    c.read_exact(64, deadline()).expect("greeting");
    c.read_frame(deadline()).expect("READY");
    let sent = body.len() as u64 + 128;
    mem.check(sent + PER_PROPERTY * 80_000, "READY with 80k properties");
    drop(c);
    srv.expect_end(End::Remote, "the peer with 80k properties hangs up");
    srv.serve("after the peer with 80k properties left");
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

hostile!(routing_id_over_255_bytes, |backend| {
    let mut srv = Server::new(backend, Kind::Router, &[]);
    let mem = MemWatch::start();
    // 255 bytes is the most a routing id can be (ZMQ_ROUTING_ID): accepted.
    let id255 = vec![b'r'; 255];
    let mut c = zmtp_client(&srv.endpoint, 1, "DEALER", Some(&id255));
    c.write(&raw::message(b"longest id", false));
    let got = recv_parts(&mut srv.sock, "a message from a 255-byte routing id");
    assert_eq!(got, vec![id255.clone(), b"longest id".to_vec()]);
    srv.sock
        .send_multipart(&[&id255[..], b"reply"], 0)
        .expect("reply to the 255-byte id");
    let f = c.read_frame(deadline()).expect("the reply");
    assert_eq!(f.body, b"reply");
    drop(c);
    srv.expect_end(End::Remote, "the 255-byte id hangs up");
    for len in [256, 64 << 10] {
        let id = vec![b'r'; len];
        let what = format!("a {len}-byte routing id");
        rejected(
            &mut srv,
            &greeting_then(&raw::ready("DEALER", Some(&id))),
            End::HandshakeProtocol("malformed metadata"),
            &what,
        );
        srv.serve(&format!("after {what}"));
    }
    mem.check(128 << 10, "long routing ids");
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

hostile!(incompatible_socket_type, |backend| {
    let mut srv = Server::new(backend, Kind::Pull, &[]);
    let mem = MemWatch::start();
    let cases: [(&str, Vec<u8>, &'static str); 5] = [
        ("PULL", raw::ready("PULL", None), "incompatible socket type"),
        ("pull", raw::ready("pull", None), "incompatible socket type"),
        ("FOO", raw::ready("FOO", None), "incompatible socket type"),
        (
            "a 64 KiB type name",
            raw::ready(&"P".repeat(64 << 10), None),
            "incompatible socket type",
        ),
        (
            "no Socket-Type",
            raw::command(&ready_with(&[(b"Identity", b"x")])),
            "missing socket type",
        ),
    ];
    for (what, ready, why) in &cases {
        let got = rejected(
            &mut srv,
            &greeting_then(ready),
            End::HandshakeProtocol(why),
            what,
        );
        // libzmq's answer before it closes: ERROR "invalid socket type".
        assert!(
            raw::contains(&got, b"\x05ERROR\x13invalid socket type"),
            "{what}: no ERROR command before the close ({} bytes)",
            got.len()
        );
        srv.serve(&format!("after a {what} peer"));
    }
    mem.check(256 << 10, "incompatible socket types");
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

hostile!(unexpected_command_during_handshake, |backend| {
    let mut srv = Server::new(backend, Kind::Rep, &[]);
    let mem = MemWatch::start();
    let cases: [(&str, Vec<u8>, &'static str); 5] = [
        (
            "PING",
            raw::command(b"\x04PING\x00\x0a"),
            "unexpected command",
        ),
        ("SUBSCRIBE", subscribe_cmd(b"x"), "unexpected command"),
        (
            "an unknown command",
            raw::command(b"\x05HELLO"),
            "unexpected command",
        ),
        ("ERROR", raw::command(b"\x05ERROR\x07go away"), "peer error"),
        (
            "a command with MORE",
            vec![0x05, 0x00],
            "command frame with more flag",
        ),
    ];
    for (what, cmd, why) in &cases {
        rejected(
            &mut srv,
            &greeting_then(cmd),
            End::HandshakeProtocol(why),
            what,
        );
        srv.serve(&format!("after {what} instead of READY"));
    }
    mem.check(4096, "unexpected commands");
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

// ---------------------------------------------------------------------------------------------
// After the handshake: flags and lengths

hostile!(reserved_flag_bits, |backend| {
    let mut srv = Server::new(backend, Kind::Router, &[]);
    let mem = MemWatch::start();
    for flags in [0x08u8, 0x10, 0x20, 0x40, 0x80, 0xF8, 0x05, 0x09] {
        let what = format!("a frame with flags {flags:#04x}");
        let mut c = zmtp_client(&srv.endpoint, 1, "DEALER", Some(b"rsv"));
        c.write_lenient(&raw::frame_with_flags(flags, b"x"));
        let why = if flags == 0x05 {
            "command frame with more flag"
        } else {
            "reserved frame flags"
        };
        closed(&mut srv, c, End::Transport(why), &what);
        srv.serve(&format!("after {what}"));
    }
    // During the handshake too.
    rejected(
        &mut srv,
        &greeting_then(&raw::frame_with_flags(0x14, b"\x05READY")),
        End::HandshakeProtocol("reserved frame flags"),
        "READY with reserved flags",
    );
    srv.serve("after READY with reserved flags");
    mem.check(4096, "reserved flags");
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

hostile!(
    /// libzmq pushes every message decoded before a violation to the application, and so
    /// does ringlink, also when they arrive in the same read as the violation: delivery
    /// must not depend on TCP segmentation.
    messages_before_a_violation_are_delivered,
    |backend| {
        let mut srv = Server::new(backend, Kind::Pull, &[]);
        let mem = MemWatch::start();
        let mut c = zmtp_client(&srv.endpoint, 1, "PUSH", None);
        let mut bytes = Vec::new();
        for i in 0..3 {
            bytes.extend(raw::message(format!("valid {i}").as_bytes(), false));
        }
        bytes.extend(raw::frame_with_flags(0x10, b"x"));
        c.write_lenient(&bytes);
        closed(&mut srv, c, End::Transport("reserved frame flags"), "flags after 3 messages");
        for i in 0..3 {
            let got = recv_parts(&mut srv.sock, "a message before the violation");
            assert_eq!(got, vec![format!("valid {i}").into_bytes()]);
        }
        srv.serve("after the violation");
        mem.check(4096, "messages before a violation");
        mem.released("after the attack", || srv.poke());
        srv.finish();
    }
);

hostile!(frame_length_beyond_the_wire_limit, |backend| {
    let mut srv = Server::new(backend, Kind::Pull, &[]);
    let mem = MemWatch::start();
    // Sizes with the top bit set are invalid on the wire (libzmq stores them signed): refused
    // from the header alone, whatever the flags.
    for (flags, size) in [(0x00, 1u64 << 63), (0x01, u64::MAX), (0x00, u64::MAX - 8)] {
        let what = format!("a frame declaring {size} bytes (flags {flags:#04x})");
        let mut c = zmtp_client(&srv.endpoint, 1, "PUSH", None);
        c.write_lenient(&long_header(flags, size));
        closed(&mut srv, c, End::Transport("frame too large"), &what);
        srv.serve(&format!("after {what}"));
    }
    mem.check(4096, "frames beyond the wire limit");
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

/// This machine's memory (MemTotal): frames declared larger can never be buffered.
fn physical_memory() -> u64 {
    let info = std::fs::read_to_string("/proc/meminfo").expect("read /proc/meminfo");
    let kb: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("MemTotal in /proc/meminfo");
    kb * 1024
}

hostile!(huge_declared_frame_costs_only_what_arrives, |backend| {
    let mut srv = Server::new(backend, Kind::Router, &[]);
    let body = pattern(1 << 20);
    let mem = MemWatch::start();
    let mut sent = 0u64;
    // MAXMSGSIZE is unset (libzmq: unlimited). A frame that fits in this machine's memory
    // is legal: the engine takes its body as it comes and sizes nothing from the header.
    let phys = physical_memory();
    for (i, size) in [1u64 << 30, phys / 2].into_iter().enumerate() {
        let what = format!("a frame declaring {size} bytes");
        let id = format!("huge-{i}").into_bytes();
        let mut c = zmtp_client(&srv.endpoint, 1, "DEALER", Some(&id));
        c.write(&long_header(0x00, size));
        c.write(&body);
        sent += body.len() as u64 + 128;
        wait_consumed(&c.stream, &what);
        srv.serve(&format!("while {what} is open"));
        mem.check(growing(sent), &what);
        drop(c);
        srv.expect_end(End::Remote, &format!("{what}: hang-up"));
        srv.serve(&format!("after {what}"));
    }
    // One that could never be held is refused at its header (libzmq's malloc fails there).
    for size in [phys.saturating_mul(2), 1 << 62] {
        let what = format!("a frame declaring {size} bytes");
        let mut c = zmtp_client(&srv.endpoint, 1, "DEALER", Some(b"huger"));
        c.write_lenient(&long_header(0x01, size));
        c.write_lenient(&body[..1000]);
        closed(&mut srv, c, End::Transport("out of memory"), &what);
        srv.serve(&format!("after {what}"));
    }
    mem.check(growing(sent), "huge declared frames");
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

hostile!(frame_over_max_msg_size, |backend| {
    let mut srv = Server::new(backend, Kind::Rep, &[SocketOption::MaxMsgSize(200)]);
    let mem = MemWatch::start();
    // At the limit: served (REP strips the empty delimiter and routes the reply back).
    let mut c = zmtp_client(&srv.endpoint, 1, "REQ", None);
    let mut req = raw::message(b"", true);
    req.extend(raw::message(&[0x42; 200], false));
    c.write(&req);
    assert_eq!(
        recv_parts(&mut srv.sock, "a 200-byte request"),
        vec![vec![0x42; 200]]
    );
    srv.sock.send(b"ok", 0).expect("reply");
    assert_eq!(c.read_frame(deadline()).expect("delimiter").body, b"");
    assert_eq!(c.read_frame(deadline()).expect("reply").body, b"ok");
    drop(c);
    srv.expect_end(End::Remote, "the request at the limit");
    // Over it, in the short form, the long form, and absurdly: closed from the header.
    let mut short = raw::message(b"", true);
    short.extend(raw::message(&[0x43; 255], false));
    let mut long = raw::message(b"", true);
    long.extend(long_header(0x00, 201));
    long.extend_from_slice(&[0x44; 201]);
    let mut absurd = raw::message(b"", true);
    absurd.extend(long_header(0x00, 1 << 62));
    for (what, bytes) in [
        ("a 255-byte short frame", short),
        ("a 201-byte long frame", long),
        ("a 2^62-byte frame", absurd),
    ] {
        let mut c = zmtp_client(&srv.endpoint, 1, "REQ", None);
        c.write_lenient(&bytes);
        closed(&mut srv, c, End::Transport("frame too large"), what);
        srv.serve(&format!("after {what}"));
    }
    mem.check(4096, "frames over MAXMSGSIZE");
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

hostile!(command_lengths, |backend| {
    let mut srv = Server::new(backend, Kind::XPub, &[]);
    let mut bytes = long_header(0x04, 60 << 20);
    bytes.extend_from_slice(b"\x09SUBSCRIBE");
    bytes.extend(pattern(256 << 10));
    let mem = MemWatch::start();
    // Commands are buffered whole, so they have a cap (64 MiB) even without MAXMSGSIZE.
    for size in [1u64 << 40, u64::MAX] {
        let what = format!("a command declaring {size} bytes");
        let mut c = zmtp_client(&srv.endpoint, 1, "SUB", None);
        c.write_lenient(&long_header(0x04, size));
        closed(&mut srv, c, End::Transport("frame too large"), &what);
        srv.serve(&format!("after {what}"));
    }
    // 60 MiB is under the cap: the engine waits for the body, but holds only what came.
    let what = "a SUBSCRIBE declaring 60 MiB";
    let mut c = zmtp_client(&srv.endpoint, 1, "SUB", None);
    c.write(&bytes);
    wait_consumed(&c.stream, what);
    srv.serve(&format!("while {what} is open"));
    mem.check(bytes.len() as u64 * 2, what);
    drop(c);
    srv.expect_end(End::Remote, what);
    srv.serve(&format!("after {what}"));
    mem.check(bytes.len() as u64 * 2, "command lengths");
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

hostile!(unexpected_commands_after_handshake, |backend| {
    let mut srv = Server::new(backend, Kind::Pull, &[]);
    let mem = MemWatch::start();
    let cases: [(&str, Vec<u8>, &'static str); 2] = [
        (
            "a second READY",
            raw::ready("PUSH", None),
            "unexpected command READY",
        ),
        (
            "ERROR",
            raw::command(b"\x05ERROR\x03bye"),
            "peer error: bye",
        ),
    ];
    for (what, cmd, why) in &cases {
        let mut c = zmtp_client(&srv.endpoint, 1, "PUSH", None);
        c.write_lenient(cmd);
        closed(&mut srv, c, End::Transport(why), what);
        srv.serve(&format!("after {what}"));
    }
    // Unknown commands, PINGs and subscriptions (meaningless to a PULL) are not violations:
    // the connection lives on and its next message arrives.
    let mut c = zmtp_client(&srv.endpoint, 1, "PUSH", None);
    let mut bytes = raw::command(b"\x05HELLO\x01\x02\x03");
    bytes.extend(raw::command(b"\x04PING\x00\x0apingctx"));
    bytes.extend(subscribe_cmd(b"topic"));
    bytes.extend(raw::message(b"still here", false));
    c.write(&bytes);
    let f = c.read_frame(deadline()).expect("PONG");
    assert_eq!(f.command_name(), Some(&b"PONG"[..]), "{f:02x?}");
    assert_eq!(
        recv_parts(&mut srv.sock, "the message after ignored commands"),
        vec![b"still here".to_vec()]
    );
    drop(c);
    srv.expect_end(End::Remote, "the peer with unknown commands");
    srv.serve("after unknown commands");
    mem.check(4096, "unexpected commands");
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

// ---------------------------------------------------------------------------------------------
// Messages that never end

/// What the engine may hold for `sent` bytes of an unfinished message: the reactor copies
/// each received run of frames contiguously into 256 KiB pipe chunks, so up to one receive
/// (64 KiB) can stay unused at the end of a chunk.
fn held(sent: u64) -> u64 {
    sent + sent / 4
}

/// What the engine may hold while one frame larger than a pipe chunk arrives: its buffer
/// grows with the bytes received (never from the declared size) by doubling, and each growth
/// copies into the new buffer before the old one goes: three times the bytes received at most.
fn growing(sent: u64) -> u64 {
    3 * sent
}

/// `total` bytes of frames with MORE set, each with a body of `body` bytes.
fn endless(total: usize, body: usize) -> Vec<u8> {
    let frame = raw::message(&pattern(body), true);
    frame.repeat(total / frame.len())
}

hostile!(
    /// A frame larger than a pipe chunk (256 KiB) gets a chunk of its own; once the connection
    /// moves on to its next message, that chunk is freed, not kept as a spare for the
    /// connection's lifetime. (The last one stays while the connection is idle: no more than
    /// a sender could pin anyway by never finishing a message.)
    consumed_big_frames_are_not_kept,
    |backend| {
        let mut srv = Server::new(backend, Kind::Pull, &[]);
        let mut bytes: Vec<u8> = (0..4)
            .flat_map(|i| raw::message(&pattern((8 << 20) - i), false))
            .collect();
        bytes.extend(raw::message(b"small", false));
        let mem = MemWatch::start();
        let mut c = zmtp_client(&srv.endpoint, 1, "PUSH", None);
        c.write(&bytes);
        for i in 0..4 {
            let got = recv_parts(&mut srv.sock, "an 8 MiB message");
            assert_eq!(got[0].len(), (8 << 20) - i);
        }
        let got = recv_parts(&mut srv.sock, "the small message after them");
        assert_eq!(got, vec![b"small".to_vec()]);
        srv.serve("after four 8 MiB messages");
        // Each frame's buffer grows to its size (half as much again while copying), and the
        // application reads a copy of it.
        mem.check(2 * bytes.len() as u64, "four 8 MiB messages");
        // Everything was delivered and read: nothing of it needs to stay.
        mem.released("while the sender of 8 MiB messages stays", || srv.poke());
        drop(c);
        srv.expect_end(End::Remote, "the big sender hangs up");
        srv.finish();
    }
);

hostile!(endless_multipart, |backend| {
    let mut srv = Server::new(backend, Kind::Pull, &[]);
    // MAXMSGSIZE limits frames, not messages (libzmq): the engine holds the unfinished
    // message, so memory follows what was actually sent.
    let bytes = endless(32 << 20, 8192);
    let mem = MemWatch::start();
    let mut c = zmtp_client(&srv.endpoint, 1, "PUSH", None);
    c.write(&bytes);
    wait_consumed(&c.stream, "32 MiB of MORE frames");
    srv.serve("while a message never ends");
    mem.check(held(bytes.len() as u64), "32 MiB of MORE frames");
    drop(c);
    srv.expect_end(End::Remote, "the endless message's sender hangs up");
    // Nothing of the unfinished message reaches the application: serve() sees only the
    // good peer's message.
    srv.serve("after the endless message");
    mem.check(held(bytes.len() as u64), "endless multipart");
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

hostile!(endless_multipart_of_empty_frames, |backend| {
    let mut srv = Server::new(backend, Kind::Router, &[]);
    // Four million empty frames: 2 bytes each on the wire, and no more in the engine.
    let bytes = endless(8 << 20, 0);
    let mem = MemWatch::start();
    let mut c = zmtp_client(&srv.endpoint, 1, "DEALER", Some(b"empties"));
    c.write(&bytes);
    wait_consumed(&c.stream, "empty MORE frames");
    srv.serve("while a message of empty frames never ends");
    mem.check(held(bytes.len() as u64), "4M empty MORE frames");
    reset(c);
    srv.expect_end(
        End::Transport("receive failed"),
        "the empty frames' sender resets",
    );
    srv.serve("after the empty frames");
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

// ---------------------------------------------------------------------------------------------
// Subscriptions

/// Keeps the application side of `srv` busy (a PUB reads subscriptions when it publishes, an
/// XPUB when asked for news) until everything written on `c` was read by the engine.
fn poke_until_consumed(srv: &mut Server, c: &RawConn, what: &str) {
    let start = Instant::now();
    loop {
        srv.poke();
        if consumed(&c.stream) {
            return;
        }
        assert!(start.elapsed() < WAIT, "{what}: not read within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Pokes the socket until `done` holds.
fn poke_until(srv: &mut Server, what: &str, mut done: impl FnMut(&mut Server) -> bool) {
    let start = Instant::now();
    while !done(srv) {
        assert!(start.elapsed() < WAIT, "{what}: not within {WAIT:?}");
        srv.poke();
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Bookkeeping a publisher may keep per distinct subscription (trie nodes, the peer set) on
/// top of the topic bytes themselves.
const PER_SUBSCRIPTION: u64 = 512;

hostile!(subscription_flood, |backend| {
    const N: usize = 100_000;
    let mut srv = Server::new(backend, Kind::XPub, &[]);
    let mut bytes = Vec::new();
    for i in 0..N {
        bytes.extend(subscribe_cmd(format!("flood-{i:06}").as_bytes()));
    }
    // The same topic again and again costs a count, not memory.
    for _ in 0..N {
        bytes.extend(subscribe_cmd(b"flood-000000"));
    }
    let sent = bytes.len() as u64;
    let mem = MemWatch::start();
    let mut c = zmtp_client(&srv.endpoint, 1, "SUB", None);
    let writer = {
        let mut s = c.stream.try_clone().expect("clone");
        std::thread::spawn(move || s.write_all(&bytes).expect("write the flood"))
    };
    // XPUB passes each new topic up once; reading them is what lets the flood flow.
    for i in 0..N {
        let got = recv_parts(&mut srv.sock, "a flood notification");
        assert_eq!(
            got,
            vec![format!("\x01flood-{i:06}").into_bytes()],
            "notification {i}"
        );
    }
    writer.join().expect("writer");
    // The repeated subscriptions make no notification: the XPUB reads them when asked.
    poke_until_consumed(&mut srv, &c, "the subscription flood");
    srv.serve("after 100k subscriptions");
    let allowed = sent + PER_SUBSCRIPTION * N as u64;
    mem.check(allowed, "100k subscriptions");
    c.write(&raw::message(b"up", false));
    drop(c);
    srv.expect_end(End::Remote, "the flooding subscriber hangs up");
    // Its topics go away with it: one cancellation each, then the good peer alone.
    let mut cancelled = 0;
    while cancelled < N {
        let got = recv_parts(&mut srv.sock, "a cancellation");
        if got == [b"up".to_vec()] {
            continue;
        }
        assert!(
            got.len() == 1 && got[0].starts_with(b"\x00flood-"),
            "{got:?}"
        );
        cancelled += 1;
    }
    srv.serve("after the flooding subscriber left");
    mem.check(allowed, "subscription flood");
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

hostile!(subscription_flood_from_a_zmtp30_peer, |backend| {
    const N: usize = 100_000;
    let mut srv = Server::new(backend, Kind::Pub, &[]);
    // ZMTP 3.0 subscribes with messages ([0x01][topic]) instead of commands.
    let mut bytes = Vec::new();
    for i in 0..N {
        let mut m = vec![1];
        m.extend_from_slice(format!("flood-{i:06}").as_bytes());
        bytes.extend(raw::message(&m, false));
    }
    for _ in 0..N {
        bytes.extend(raw::message(b"\x01flood-000000", false));
    }
    let sent = bytes.len() as u64;
    // The good peer's subscriptions.
    let topics = srv.sock.topics_count();
    let mem = MemWatch::start();
    let mut c = zmtp_client(&srv.endpoint, 0, "SUB", None);
    let writer = {
        let mut s = c.stream.try_clone().expect("clone");
        std::thread::spawn(move || s.write_all(&bytes).expect("write the flood"))
    };
    poke_until_consumed(&mut srv, &c, "the 3.0 subscription flood");
    writer.join().expect("writer");
    // Off the kernel is not yet applied: at RCVHWM the reactor holds bytes back until the
    // publisher reads its pipe (which poking does).
    poke_until(&mut srv, "the 3.0 subscriptions applied", |s| {
        s.sock.topics_count() == topics + N
    });
    srv.serve("after 100k legacy subscriptions");
    let allowed = sent + PER_SUBSCRIPTION * N as u64;
    mem.check(allowed, "100k legacy subscriptions");
    // The subscriptions are real: a matching message reaches the flooder.
    srv.sock.send(b"flood-054321 news", 0).expect("publish");
    let f = c.read_frame(deadline()).expect("the matching message");
    assert_eq!(f.body, b"flood-054321 news");
    drop(c);
    srv.expect_end(End::Remote, "the 3.0 flooder hangs up");
    srv.serve("after the 3.0 flooder left");
    mem.check(allowed, "legacy subscription flood");
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

hostile!(huge_subscription_topics, |backend| {
    const TOPIC: usize = 2 << 20;
    /// On its way to the trie a subscription is copied a few times (the command, its message
    /// form, the pipe, the publisher's read buffer); all but the trie's copy go once the
    /// subscriber does.
    const COPIES: u64 = 4;
    let mut srv = Server::new(backend, Kind::Pub, &[]);
    let topic = pattern(TOPIC);
    // One 2 MiB topic as a 3.1 command, one as a 3.0 message.
    let mut cmd = b"\x09SUBSCRIBE".to_vec();
    cmd.extend_from_slice(&topic);
    let mut legacy = vec![1];
    legacy.extend_from_slice(&topic);
    let attacks = [(1, raw::command(&cmd)), (0, raw::message(&legacy, false))];
    let mut msg = topic.clone();
    msg.extend_from_slice(b"!");
    drop((cmd, legacy));
    let mem = MemWatch::start();
    let mut sent = 0u64;
    let mut conns = Vec::new();
    for (minor, bytes) in &attacks {
        let mut c = zmtp_client(&srv.endpoint, *minor, "SUB", None);
        c.write(bytes);
        sent += bytes.len() as u64;
        poke_until_consumed(&mut srv, &c, "a 2 MiB subscription");
        conns.push(c);
    }
    srv.serve("with two 2 MiB subscriptions");
    mem.check(COPIES * sent, "two 2 MiB subscriptions");
    // Both hold: a message whose first frame starts with the whole topic reaches both.
    srv.sock.send(&msg, 0).expect("publish on the huge topic");
    for c in &mut conns {
        let f = c.read_frame(deadline()).expect("the huge-topic message");
        assert!(f.body == msg, "got {} bytes", f.body.len());
    }
    for (i, c) in conns.into_iter().enumerate() {
        drop(c);
        srv.expect_end(End::Remote, &format!("huge subscriber {i} hangs up"));
    }
    srv.serve("after the huge subscribers left");
    // A SUBSCRIBE declaring more than the command cap is refused from its header.
    let mut c = zmtp_client(&srv.endpoint, 1, "SUB", None);
    c.write_lenient(&long_header(0x04, 1 << 40));
    closed(
        &mut srv,
        c,
        End::Transport("frame too large"),
        "a 1 TiB SUBSCRIBE",
    );
    srv.serve("after a 1 TiB SUBSCRIBE");
    mem.check(
        COPIES * sent + (msg.len() as u64) * 2,
        "huge subscription topics",
    );
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

hostile!(big_upstream_message_to_a_pub, |backend| {
    let mut srv = Server::new(backend, Kind::Pub, &[]);
    // A subscriber may send a PUB anything (no MAXMSGSIZE): a 16 MiB message that is no
    // subscription. The PUB reads it and drops it, and must not keep its size around.
    let mut body = vec![0x02];
    body.extend(pattern(16 << 20));
    let bytes = raw::message(&body, false);
    drop(body);
    let mem = MemWatch::start();
    let mut c = zmtp_client(&srv.endpoint, 1, "SUB", None);
    c.write(&bytes);
    poke_until_consumed(&mut srv, &c, "a 16 MiB upstream message");
    srv.serve("after a 16 MiB upstream message");
    // Growing in the pipe, then copied into the publisher's read buffer.
    let sent = bytes.len() as u64;
    mem.check(growing(sent) + sent, "a 16 MiB upstream message");
    drop(c);
    srv.expect_end(End::Remote, "the big sender hangs up");
    srv.serve("after the big sender left");
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

// ---------------------------------------------------------------------------------------------
// A SUB and the publishers it connects to

hostile!(hostile_publisher_handshakes, |backend| {
    let mut srv = Server::new(backend, Kind::Sub, &[]);
    let evil = HostileListener::new();
    connect(&mut srv.sock, &evil.endpoint);
    srv.events.only(&evil.endpoint);
    let mem = MemWatch::start();
    let mut curve = greeting_mech(b"CURVE");
    curve.extend(raw::ready("PUB", None));
    let cases: [(&str, Vec<u8>, &'static str); 4] = [
        (
            "garbage",
            b"HTTP/1.1 200 OK\r\n\r\n".repeat(10),
            "bad greeting signature",
        ),
        ("CURVE", curve, "security mechanism mismatch"),
        (
            "a PUSH",
            greeting_then(&raw::ready("PUSH", None)),
            "incompatible socket type",
        ),
        (
            "a 300-byte identity",
            greeting_then(&raw::ready("PUB", Some(&[b'i'; 300]))),
            "malformed metadata",
        ),
    ];
    // The SUB reconnects after each failure: every case gets a fresh connection.
    for (what, bytes, why) in &cases {
        let mut c = evil.accept();
        c.write_lenient(bytes);
        closed(&mut srv, c, End::HandshakeProtocol(why), what);
        srv.events.wait_for("the reconnect", |k| {
            matches!(k, ringlink::MonitorEventKind::ConnectRetried(_))
        });
        srv.serve(&format!("after a publisher with {what}"));
    }
    mem.check(4096, "hostile publishers' handshakes");
    drop(evil);
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

hostile!(hostile_publisher_data, |backend| {
    let mut srv = Server::new(backend, Kind::Sub, &[]);
    let evil = HostileListener::new();
    connect(&mut srv.sock, &evil.endpoint);
    srv.events.only(&evil.endpoint);
    let mut endless_msg = raw::message(b"t-hostile", true);
    endless_msg.extend(endless(16 << 20, 4096));
    let mem = MemWatch::start();
    let publisher = |minor: u8| {
        let mut c = evil.accept();
        c.handshake(minor, "PUB", None);
        // The SUB tells every (re)connected publisher its subscriptions.
        let f = c.read_frame(deadline()).expect("the subscription");
        if minor == 1 {
            assert_eq!(f.body, b"\x09SUBSCRIBEt", "{f:02x?}");
        } else {
            assert_eq!((f.flags, &f.body[..]), (0, &b"\x01t"[..]));
        }
        c
    };
    let cases: [(&str, Vec<u8>, &'static str); 3] = [
        (
            "a 2^63-byte frame",
            long_header(0, 1 << 63),
            "frame too large",
        ),
        (
            "reserved flags",
            raw::frame_with_flags(0x40, b"t-x"),
            "reserved frame flags",
        ),
        (
            "a second READY",
            raw::ready("PUB", None),
            "unexpected command READY",
        ),
    ];
    for (what, bytes, why) in &cases {
        let mut c = publisher(1);
        c.write_lenient(bytes);
        closed(&mut srv, c, End::Transport(why), what);
        srv.serve(&format!("after a publisher sending {what}"));
    }
    // A ZMTP 3.0 publisher whose message, matching the subscription, never ends.
    let mut c = publisher(0);
    let bytes = endless_msg;
    c.write(&bytes);
    wait_consumed(&c.stream, "16 MiB of a published message");
    srv.serve("while a published message never ends");
    mem.check(held(bytes.len() as u64), "an endless published message");
    drop(c);
    srv.expect_end(End::Remote, "the endless publisher hangs up");
    srv.serve("after the endless publisher left");
    mem.check(held(bytes.len() as u64), "hostile publishers' data");
    drop(evil);
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

// ---------------------------------------------------------------------------------------------
// STREAM

hostile!(stream_raw_flood, |backend| {
    const TOTAL: usize = 16 << 20;
    let mut srv = Server::new(backend, Kind::StreamRaw, &[]);
    let mem = MemWatch::start();
    let c = RawConn::connect(&srv.endpoint);
    let (rid, notice) = srv.stream_other("the flooder's connect notification");
    assert_eq!(notice, b"", "connect notification");
    let writer = {
        let mut s = c.stream.try_clone().expect("clone");
        std::thread::spawn(move || {
            let block = pattern(64 << 10);
            for _ in 0..TOTAL / block.len() {
                s.write_all(&block).expect("flood");
            }
        })
    };
    // Raw bytes have no message boundaries: every piece arrives, in order, and only what was
    // sent is ever queued (the inbound HWM pauses the connection meanwhile).
    let mut got = 0;
    let mut check = pattern(64 << 10);
    check.extend_from_within(..);
    while got < TOTAL {
        let (from, piece) = srv.stream_other("the flood");
        assert_eq!(from, rid, "a message from another peer");
        let at = got % (64 << 10);
        assert!(
            piece.len() <= 64 << 10 && piece[..] == check[at..at + piece.len()],
            "flood bytes {got}..{} corrupted",
            got + piece.len()
        );
        got += piece.len();
    }
    writer.join().expect("writer");
    srv.serve("after a 16 MiB raw flood");
    mem.check(TOTAL as u64, "a 16 MiB raw flood");
    // The application hangs up on the flooder (an empty payload closes a raw STREAM peer).
    srv.sock
        .send_multipart(&[&rid[..], b""], 0)
        .expect("close the flooder");
    // (No disconnect notification follows a close the application asked for, as in libzmq.)
    closed(&mut srv, c, End::Local, "closing the flooder");
    srv.serve("after closing the flooder");
    mem.check(TOTAL as u64, "raw STREAM flood");
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

hostile!(stream_length_prefix_costs_only_what_arrives, |backend| {
    let mut srv = Server::new(backend, Kind::StreamLp, &[]);
    let body = pattern(16 << 20);
    let mem = MemWatch::start();
    let mut sent = 0u64;
    // MAXMSGSIZE unset: a 4 GiB message is legal; the engine must not reserve it up front.
    for (declared, len) in [(u32::MAX, 1usize << 20), (1 << 31, 16 << 20)] {
        let what = format!("a length prefix of {declared} with {len} bytes");
        let mut c = RawConn::connect(&srv.endpoint);
        let (rid, notice) = srv.stream_other("connect notification");
        assert_eq!(notice, [1], "{what}: connect notification");
        c.write(&declared.to_be_bytes());
        c.write(&body[..len]);
        sent += len as u64 + 4;
        wait_consumed(&c.stream, &what);
        srv.serve(&format!("while {what} is open"));
        mem.check(growing(sent), &what);
        drop(c);
        srv.expect_end(End::Remote, &what);
        let (from, notice) = srv.stream_other("disconnect notification");
        assert_eq!(
            (from, notice),
            (rid, vec![0]),
            "{what}: nothing else delivered"
        );
        srv.serve(&format!("after {what}"));
    }
    mem.check(growing(sent), "huge length prefixes");
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

hostile!(stream_length_prefix_over_max_msg_size, |backend| {
    const MAX: usize = 64 << 10;
    let mut srv = Server::new(
        backend,
        Kind::StreamLp,
        &[SocketOption::MaxMsgSize(MAX as i64)],
    );
    let mut bytes = (MAX as u32).to_be_bytes().to_vec();
    bytes.extend(pattern(MAX));
    let mem = MemWatch::start();
    // At the limit: delivered whole.
    let mut c = RawConn::connect(&srv.endpoint);
    let (rid, _) = srv.stream_other("connect notification");
    c.write(&bytes);
    let (from, payload) = srv.stream_other("a message at the limit");
    assert_eq!(from, rid);
    assert!(payload == pattern(MAX), "{} bytes", payload.len());
    drop(c);
    srv.expect_end(End::Remote, "the peer at the limit");
    srv.stream_other("disconnect notification");
    for declared in [MAX as u32 + 1, u32::MAX] {
        let what = format!("a length prefix of {declared}");
        let mut c = RawConn::connect(&srv.endpoint);
        let (rid, _) = srv.stream_other("connect notification");
        c.write_lenient(&declared.to_be_bytes());
        closed(&mut srv, c, End::Transport("frame too large"), &what);
        let (from, notice) = srv.stream_other("disconnect notification");
        assert_eq!(
            (from, notice),
            (rid, vec![0]),
            "{what}: nothing else delivered"
        );
        srv.serve(&format!("after {what}"));
    }
    mem.check(4 * MAX as u64, "length prefixes over MAXMSGSIZE");
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

hostile!(stream_raw_connection_churn, |backend| {
    const N: usize = 2_000;
    const BATCH: usize = 100;
    let mut srv = Server::new(backend, Kind::StreamRaw, &[SocketOption::Backlog(1000)]);
    let fds = fd_count();
    let mem = MemWatch::start();
    let mut halfway = 0;
    for b in 0..N / BATCH {
        // Each connection says who it is (or nothing), then leaves with a FIN or a RST.
        let conns: Vec<(Vec<u8>, RawConn)> = (0..BATCH)
            .map(|i| {
                let mut c = RawConn::connect(&srv.endpoint);
                let hello = if i % 3 == 0 {
                    Vec::new()
                } else {
                    format!("hello-{b}-{i}").into_bytes()
                };
                c.write(&hello);
                (hello, c)
            })
            .collect();
        let (mut want, mut must) = (Vec::new(), Vec::new());
        for (i, (hello, c)) in conns.into_iter().enumerate() {
            if i % 2 == 0 {
                reset(c);
            } else {
                drop(c);
                must.push(hello.clone());
            }
            want.push(hello);
        }
        // Every peer is announced, then its bytes, then its end, in that order; what a peer
        // sent before a RST may be lost, nothing else.
        let mut open: std::collections::HashMap<Vec<u8>, Vec<u8>> = Default::default();
        let mut said = Vec::new();
        let mut ended = 0;
        while ended < BATCH {
            let (rid, payload) = srv.stream_other("churn notifications");
            match open.get_mut(&rid) {
                None => {
                    assert!(payload.is_empty(), "data before the connect notification");
                    open.insert(rid, Vec::new());
                }
                Some(_) if payload.is_empty() => {
                    said.push(open.remove(&rid).expect("open"));
                    ended += 1;
                }
                Some(got) => got.extend_from_slice(&payload),
            }
        }
        assert!(open.is_empty(), "connect notifications without an end");
        for got in said.iter().filter(|g| !g.is_empty()) {
            assert!(want.contains(got), "a peer said {got:?}");
        }
        for m in must.iter().filter(|m| !m.is_empty()) {
            assert!(said.contains(m), "{m:?} (closed with a FIN) was lost");
        }
        if (b + 1) * BATCH == N / 2 {
            halfway = mem.held();
        }
    }
    srv.serve(&format!("after {N} STREAM connections"));
    poll_until(WAIT, "fds released after the churn", || {
        (fd_count() <= fds).then_some(())
    });
    mem.check(0, "STREAM churn");
    let growth = mem.held() - halfway;
    assert!(
        growth < 1 << 20,
        "the heap grew by {growth} bytes over the second half"
    );
    mem.released("after the attack", || srv.poke());
    srv.finish();
});

// ---------------------------------------------------------------------------------------------
// Connection churn

hostile!(ten_thousand_connect_close_cycles, |backend| {
    const N: usize = 10_000;
    const BATCH: usize = 100;
    ringlink::raise_fd_limit();
    let start = Instant::now();
    let mut srv = Server::new(backend, Kind::Router, &[SocketOption::Backlog(1000)]);
    let fds = fd_count();
    let mem = MemWatch::start();
    let mut handshake = raw::greeting(1);
    handshake.extend(raw::ready("DEALER", None));
    let mut ended = 0;
    let mut halfway = 0;
    for b in 0..N / BATCH {
        let conns: Vec<RawConn> = (0..BATCH)
            .map(|i| {
                let mut c = RawConn::connect(&srv.endpoint);
                // Silent, half a greeting, or a whole handshake; then FIN or RST.
                match i % 3 {
                    0 => {}
                    1 => c.write_lenient(&handshake[..20]),
                    _ => c.write_lenient(&handshake),
                }
                c
            })
            .collect();
        for (i, c) in conns.into_iter().enumerate() {
            if i % 2 == 0 {
                reset(c);
            } else {
                drop(c);
            }
        }
        // Every connection ends with exactly one DISCONNECTED.
        while ended < (b + 1) * BATCH {
            let e = srv.events.next("a churned connection's end");
            if matches!(e.kind, ringlink::MonitorEventKind::Disconnected(..)) {
                ended += 1;
            }
        }
        if b % 10 == 9 {
            srv.serve(&format!("after {} connect/close cycles", (b + 1) * BATCH));
        }
        if (b + 1) * BATCH == N / 2 {
            halfway = mem.held();
        }
    }
    // Every connection's fd is released (the close may trail the event a little).
    poll_until(WAIT, "fds released after 10k cycles", || {
        (fd_count() <= fds).then_some(())
    });
    mem.check(0, "10k connect/close cycles");
    // Flat: the second 5000 connections cost (almost) nothing more than the first. What they
    // may add is capacity growth and the reactor's lazily deleted handshake timers (32 bytes
    // per connection of the last HANDSHAKE_IVL); a leak of 200 bytes per connection is not.
    let growth = mem.held() - halfway;
    assert!(
        growth < 1 << 20,
        "the heap grew by {growth} bytes over the second 5000 cycles"
    );
    srv.serve("after 10k connect/close cycles");
    mem.released("after the attack", || srv.poke());
    srv.finish();
    eprintln!(
        "ten_thousand_connect_close_cycles ({}): {:?}",
        backend.name(),
        start.elapsed()
    );
});
