//! Faults around a running stream, on both backends: a peer killed (SIGKILL) mid-stream and
//! restarted, 1,000 reconnect cycles with flat descriptors, threads and memory, and impaired
//! links between two network namespaces (`ringlink_tests::netns`; root): random loss, and
//! delay with reordering plus loss. The tests count process-wide resources, so they run one
//! at a time (`SERIAL`).

use std::fs;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use ringlink::{Backend, MonitorEventKind};
use ringlink_tests::netns::NetnsLink;
use ringlink_tests::*;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn open_fds() -> usize {
    fs::read_dir("/proc/self/fd").unwrap().count()
}

fn threads() -> usize {
    fs::read_dir("/proc/self/task").unwrap().count()
}

fn rss_kib() -> u64 {
    let s = fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// The sequence numbers a `pull-seq` peer recorded.
fn recorded(path: &std::path::Path) -> Vec<u64> {
    fs::read(path)
        .unwrap_or_default()
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// Sends sequence number `*seq` (16-byte message) and advances it.
fn send(push: &mut Socket, seq: &mut u64) {
    let mut msg = [0u8; 16];
    msg[..8].copy_from_slice(&seq.to_le_bytes());
    push.send(&msg, 0).expect("send");
    *seq += 1;
}

/// Checks that `seqs` is `first..first + len` without gaps or duplicates.
fn assert_consecutive(seqs: &[u64], what: &str) {
    for w in seqs.windows(2) {
        assert_eq!(w[1], w[0] + 1, "{what}: {} then {}", w[0], w[1]);
    }
}

// A ringlink PUSH streams sequence numbers to a libzmq PULL in another process, which is
// SIGKILLed mid-stream and restarted on the same port: the PUSH reconnects by itself, what
// was still queued in its pipe is delivered to the new process, nothing is duplicated, and
// the only messages missing are the ones the dead process's kernel had accepted.
both_backends!(peer_killed_mid_stream_is_reconnected, |backend| {
    let _serial = serial();
    const TOTAL: u64 = 60_000;
    let ep = format!("tcp://127.0.0.1:{}", free_tcp_port());
    let dir = std::env::temp_dir();
    let tag = unique_name("kill");
    let (f1, f2) = (dir.join(format!("{tag}-1")), dir.join(format!("{tag}-2")));
    let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();
    let last = (TOTAL - 1).to_string();
    let mut first = PyPeer::spawn_script("lifecycle_peer", &["pull-seq", &ep, &path(&f1), &last]);
    first.expect("BOUND");
    let ctx = ctx(backend);
    let mut push = socket(&ctx, SocketType::Push);
    set_opt(&mut push, SocketOption::ReconnectIvl(10));
    set_opt(&mut push, SocketOption::SndTimeo(30_000));
    push.connect(&ep).unwrap();
    let mut seq = 0u64;
    while seq < 20_000 {
        send(&mut push, &mut seq);
    }
    first.expect("AT 5000");
    first.kill();
    // Keep sending while nobody listens: the PUSH queues up to its HWM, then blocks until
    // the new peer is there (sent from another thread so this one can start the peer).
    let sender = thread::spawn(move || {
        while seq < TOTAL {
            send(&mut push, &mut seq);
        }
        push
    });
    let mut second = PyPeer::spawn_script("lifecycle_peer", &["pull-seq", &ep, &path(&f2), &last]);
    second.expect("BOUND");
    let push = sender.join().unwrap();
    second.finish();
    drop(push);
    let (a, b) = (recorded(&f1), recorded(&f2));
    let _ = (fs::remove_file(&f1), fs::remove_file(&f2));
    assert!(a.len() >= 5000, "the first peer recorded only {}", a.len());
    assert_eq!(a[0], 0, "the first peer missed the start");
    assert_consecutive(&a, "first peer");
    assert_consecutive(&b, "second peer");
    assert_eq!(*b.last().unwrap(), TOTAL - 1);
    let lost = b[0] - a.last().unwrap() - 1;
    // What the dead connection's kernel had taken: bounded by its socket buffers (a few
    // MiB) in 16-byte messages + 2-byte headers.
    assert!(
        b[0] > *a.last().unwrap() && lost < 1 << 20,
        "first peer ended at {}, second started at {}",
        a.last().unwrap(),
        b[0]
    );
    eprintln!(
        "{backend:?}: first peer {} messages, lost in flight {lost}, second peer {} (from {})",
        a.len(),
        b.len(),
        b[0]
    );
});

// 1,000 times: the server goes away (LINGER 0) and a new one binds the same port; the
// DEALER reconnects by itself and does a round trip. Descriptors and threads come back to
// their level, memory stays flat after a warm-up.
both_backends!(thousand_reconnect_cycles_keep_resources_flat, |backend| {
    let _serial = serial();
    let ctx = ctx(backend);
    let port = free_tcp_port();
    let ep = format!("tcp://127.0.0.1:{port}");
    let mut dealer = socket(&ctx, SocketType::Dealer);
    set_opt(&mut dealer, SocketOption::ReconnectIvl(1));
    let dm = dealer.monitor().unwrap();
    dealer.connect(&ep).unwrap();
    let mut warm = None;
    for i in 0..1000 {
        let mut router = socket(&ctx, SocketType::Router);
        set_opt(&mut router, SocketOption::Linger(0));
        router.bind(&ep).unwrap();
        dealer.send(format!("ping {i}").as_bytes(), 0).unwrap();
        let m = recv_parts(&mut router, "ping");
        assert_eq!(m[1], format!("ping {i}").into_bytes());
        router.send_multipart(&[&m[0][..], b"pong"], 0).unwrap();
        assert_eq!(recv_parts(&mut dealer, "pong"), vec![b"pong".to_vec()]);
        drop(router);
        // A message sent before the DEALER saw the close would go into the dying
        // connection (and be lost, with libzmq too): wait until it noticed.
        loop {
            let e = dm.recv(Some(std::time::Duration::from_secs(20)));
            match e.expect("monitor").expect("a DISCONNECTED event").kind {
                MonitorEventKind::Disconnected(..) => break,
                _ => continue,
            }
        }
        if i == 99 {
            warm = Some((open_fds(), threads(), rss_kib()));
        }
    }
    let (fds, thr, rss) = warm.unwrap();
    // The DEALER's own connection may be up or reconnecting right now: one descriptor.
    assert!(
        open_fds() <= fds + 1,
        "descriptors {} -> {}",
        fds,
        open_fds()
    );
    assert_eq!(threads(), thr, "thread count changed");
    assert!(
        rss_kib() <= rss + rss / 10 + 2048,
        "RSS grew from {rss} KiB to {} KiB",
        rss_kib()
    );
});

// ----- impaired links between two network namespaces (ringlink_tests::netns) ---------------

/// Streams `count` sequence-numbered 1 KiB messages and then an end marker from a PUSH in
/// `link.a` to a PULL in `link.b`; the PULL checks that each arrives exactly once, in order,
/// and that the marker comes right after the last. Returns how long the PULL took.
fn stream_across(link: &NetnsLink, backend: Backend, count: u64) -> Duration {
    let ep = format!("tcp://{}:5555", link.addr(2));
    let ep2 = ep.clone();
    let receiver = NetnsLink::run_in(&link.b, move || {
        let ctx = ctx(backend);
        let mut pull = socket(&ctx, SocketType::Pull);
        set_opt(&mut pull, SocketOption::RcvTimeo(20_000));
        pull.bind(&ep2).unwrap();
        let start = Instant::now();
        let mut buf = vec![0u8; 2048];
        for want in 0..count {
            let n = pull
                .recv(&mut buf, 0)
                .expect("receive over the impaired link");
            assert_eq!(n, 1024, "message {want}: wrong size");
            let got = u64::from_le_bytes(buf[..8].try_into().unwrap());
            assert_eq!(got, want, "out of sequence");
        }
        let n = pull.recv(&mut buf, 0).expect("receive the end marker");
        assert_eq!(&buf[..n], b"end", "a message after the last one");
        start.elapsed()
    });
    let sender = NetnsLink::run_in(&link.a, move || {
        let ctx = ctx(backend);
        let mut push = socket(&ctx, SocketType::Push);
        set_opt(&mut push, SocketOption::SndTimeo(20_000));
        push.connect(&ep).unwrap();
        let mut msg = vec![0u8; 1024];
        for seq in 0..count {
            msg[..8].copy_from_slice(&seq.to_le_bytes());
            push.send(&msg, 0).expect("send over the impaired link");
        }
        push.send(b"end", 0).expect("send the end marker");
        // Let LINGER deliver the tail before the context goes.
        set_opt(&mut push, SocketOption::Linger(-1));
        drop(push);
        drop(ctx);
    });
    // The receiver first: if it fails, the sender may wait forever on LINGER.
    let took = receiver
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p));
    sender
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p));
    took
}

// 5 % of the packets dropped at random in each direction (nftables); 20,000 messages arrive
// exactly once, in order.
fn lossy(backend: Backend, tag: u32) {
    let _serial = serial();
    const COUNT: u64 = 20_000;
    let link = NetnsLink::new(tag);
    link.add_loss(5);
    let took = stream_across(&link, backend, COUNT);
    let (da, db) = (NetnsLink::dropped(&link.a), NetnsLink::dropped(&link.b));
    eprintln!(
        "{backend:?}: {COUNT} x 1 KiB in order over 5 % loss each way in {took:?} \
         ({da} + {db} packets dropped)"
    );
    assert!(
        da > 0,
        "the loss rule dropped nothing: the link was not lossy"
    );
}

#[test]
fn lossy_link_delivers_in_sequence_uring() {
    run_test("lossy_uring", Backend::Uring, |b| lossy(b, 1));
}

#[test]
fn lossy_link_delivers_in_sequence_epoll() {
    run_test("lossy_epoll", Backend::Epoll, |b| lossy(b, 2));
}

// Every TCP packet held 5 ms + 0..10 ms at random on arrival, in both directions, and let go
// in deadline order (NFQUEUE and python/impair.py: this kernel has no netem), so packets
// overtake each other; 1 % loss each way on top. 20,000 messages arrive exactly once, in
// order; the impairment proves it reordered data packets and held every packet at least the
// fixed delay, and the receiving TCP counted segments it had to queue out of order.
fn delayed_reordered(backend: Backend, tag: u32) {
    let _serial = serial();
    const COUNT: u64 = 20_000;
    const DELAY_MS: u32 = 5;
    const JITTER_MS: u32 = 10;
    const LOSS_PERCENT: u32 = 1;
    let link = NetnsLink::new(tag);
    link.add_loss(LOSS_PERCENT);
    let (into_a, into_b) = link.add_delay(DELAY_MS, JITTER_MS, tag * 2);
    let took = stream_across(&link, backend, COUNT);
    let (acks, data) = (into_a.finish(), into_b.finish());
    let dropped = NetnsLink::dropped(&link.a) + NetnsLink::dropped(&link.b);
    let out_of_order = NetnsLink::tcp_ext(&link.b, "TCPOFOQueue");
    eprintln!(
        "{backend:?}: {COUNT} x 1 KiB in order in {took:?} over {DELAY_MS} ms + 0..{JITTER_MS} ms \
         delay and {LOSS_PERCENT} % loss each way ({dropped} packets dropped, receiving TCP \
         queued {out_of_order} segments out of order); data: {data:?}; acks: {acks:?}"
    );
    for (what, s) in [("data", data), ("acks", acks)] {
        assert!(
            s.packets >= 100,
            "{what}: only {} packets queued",
            s.packets
        );
        assert!(
            s.min_us >= u64::from(DELAY_MS) * 1000,
            "{what}: a packet was held less than {DELAY_MS} ms: {s:?}"
        );
        // Each packet is held at least its own 5..15 ms draw; the draws (seeded, thousands of
        // them) average 10 ms.
        assert!(
            s.mean_us >= u64::from(DELAY_MS * 1000 + JITTER_MS * 500) * 9 / 10,
            "{what}: mean delay below the configured one: {s:?}"
        );
    }
    assert!(
        data.reordered > 0,
        "no data packet was overtaken: the link did not reorder ({data:?})"
    );
    assert!(
        out_of_order > 0,
        "the receiving TCP saw no segment out of order"
    );
    assert!(dropped > 0, "the loss rules dropped nothing");
}

#[test]
fn delayed_reordered_link_delivers_in_sequence_uring() {
    run_test("reorder_uring", Backend::Uring, |b| delayed_reordered(b, 3));
}

#[test]
fn delayed_reordered_link_delivers_in_sequence_epoll() {
    run_test("reorder_epoll", Backend::Epoll, |b| delayed_reordered(b, 4));
}
