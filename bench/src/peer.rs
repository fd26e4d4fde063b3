//! The child-process side: `ringlink-bench __peer ROLE --impl NAME ...`.
//!
//! Every run is two fresh processes (like libzmq's local_thr/remote_thr), so the two ends do
//! not share a heap, a context or a reactor. A peer talks to the parent through stdout lines:
//! `ENDPOINT <ep>` (bind side) and one `RESULT k=v ...` line. A peer whose partner still
//! needs its I/O thread (the throughput sender, the echo server) keeps running until the
//! parent closes its stdin.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::impls::{Kind, Library, Pattern};
use crate::net::{
    ringlink_context, zmq_type, BenchSocket, RinglinkSocket, SocketConfig, ZmqSocket, RX_TIMEOUT_MS,
};
pub use crate::peer_args::{PeerArgs, Role, MIN_THR_SIZE, SUBCOMMAND};

/// Routing ids of the ROUTER_ROUTER ends (as in `zmq_bench.c`).
pub const RX_ID: &[u8] = b"RX";
pub const TX_ID: &[u8] = b"TX";

/// How long a ROUTER sender retries until its peer is routable.
pub const ROUTABLE_TIMEOUT: Duration = Duration::from_secs(10);

/// First byte of a warm-up message; measured messages start with [`MEASURED`] followed by
/// the little-endian sequence number (the layout of `zmq_bench.c`).
pub const WARMUP: u8 = b'W';
pub const MEASURED: u8 = b'M';

/// Entry point of `__peer`. Once a socket is open the process exits here without running
/// destructors: library teardown is not part of what is measured, and a slow or hanging
/// close must neither turn a finished measurement into a failure nor swallow an error.
pub fn main(args: &[String]) -> Result<(), String> {
    if let Some(role) = args.first() {
        if crate::scale::is_peer_role(role) {
            return crate::scale::peer_main(args);
        }
        if crate::soak::is_peer_role(role) {
            return crate::soak::peer_main(args);
        }
    }
    let a = PeerArgs::from_args(args)?;
    if let Some(cpu) = a.cpu {
        // Before any library starts a thread: threads inherit their creator's affinity.
        if !core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
            return Err(format!("peer: cannot pin to CPU {cpu}"));
        }
    }
    if matches!(a.role, Role::ThrThreads | Role::LatThreads) {
        exit_with(run_threads(&a));
    }
    let bind_side = matches!(a.role, Role::ThrRecv | Role::LatServer);
    let cfg = socket_config(&a, bind_side);
    if a.pattern.is_service() {
        let Library::Ringlink(backend) = a.imp.lib else {
            return Err(format!("{}: ringlink only", a.pattern.name()));
        };
        exit_with(crate::services::run(&a, backend, &cfg));
    }
    match a.imp.lib {
        Library::Ringlink(backend) => {
            let mut s = RinglinkSocket::open(backend, &cfg)?;
            exit_with(run_role(&mut s, &a))
        }
        Library::Libzmq => {
            let mut s = ZmqSocket::open(&cfg)?;
            exit_with(run_role(&mut s, &a))
        }
        Library::Rzmq { flavour, uring } => exit_with(crate::peers::rzmq::run(&a, flavour, uring)),
        Library::Zeromq { flavour } => exit_with(crate::peers::zeromq::run(&a, flavour)),
    }
}

/// The socket settings of one end of `a`'s pattern.
fn socket_config(a: &PeerArgs, bind_side: bool) -> SocketConfig {
    let kind = if bind_side {
        a.pattern.bind_kind()
    } else {
        a.pattern.connect_kind()
    };
    let rr = matches!(a.pattern, Pattern::RouterRouter | Pattern::RouterRouterPoll);
    SocketConfig {
        kind,
        routing_id: rr.then(|| if bind_side { RX_ID } else { TX_ID }.to_vec()),
        send_to: (kind == Kind::Router && !bind_side).then(|| RX_ID.to_vec()),
        hwm: a.hwm,
        size: a.size,
        batch: a.imp.batch,
        spin: a.imp.spin.then(|| Duration::from_micros(a.spin_us)),
        inline: a.imp.inline,
        uring: a.imp.uring_features(),
    }
}

/// Thread mode: both ends in this process, one shared context (what inproc needs), the
/// receiver / echo server on a second thread. Prints `RESULT_RX`, `RESULT_TX` and one
/// `USAGE` line covering both ends.
fn run_threads(a: &PeerArgs) -> Result<(), String> {
    let start = Usage::now();
    let (rx_cfg, tx_cfg) = (socket_config(a, true), socket_config(a, false));
    match a.imp.lib {
        Library::Ringlink(backend) => {
            if a.imp.inline {
                return Err("thread mode needs a context with a reactor thread".into());
            }
            let ctx = ringlink_context(backend, false, rx_cfg.spin, rx_cfg.uring)?;
            let rx = RinglinkSocket::new(&ctx, &rx_cfg)?;
            let tx = RinglinkSocket::new(&ctx, &tx_cfg)?;
            two_threads(rx, tx, a)?;
        }
        Library::Rzmq { .. } | Library::Zeromq { .. } => {
            return Err(format!("{}: no thread mode", a.imp.name));
        }
        Library::Libzmq => {
            let ctx = zmq::Context::new();
            let open = |cfg: &SocketConfig| {
                let s = ctx
                    .socket(zmq_type(cfg.kind))
                    .map_err(|e| format!("socket: {e}"))?;
                ZmqSocket::wrap(s, cfg)
            };
            two_threads(open(&rx_cfg)?, open(&tx_cfg)?, a)?;
        }
    }
    emit(&Usage::now().since(&start))
}

fn two_threads<S: BenchSocket + Send + 'static>(
    mut rx: S,
    mut tx: S,
    a: &PeerArgs,
) -> Result<(), String> {
    let ep = rx.bind(&a.transport.bind_endpoint(0))?;
    let thr = a.role == Role::ThrThreads;
    if thr {
        rx.set_rcvtimeo(RX_TIMEOUT_MS)?;
    }
    let args = a.clone();
    let receiver = std::thread::spawn(move || -> Result<String, String> {
        if thr {
            thr_recv(&mut rx, &args)
        } else {
            for _ in 0..args.warmup + args.count {
                rx.echo()?;
            }
            Ok(format!("echoed={}", args.warmup + args.count))
        }
    });
    tx.connect(&ep)?;
    let t = if thr {
        thr_send(&mut tx, a)
    } else {
        lat_client(&mut tx, a)
    };
    let r = receiver
        .join()
        .map_err(|_| "receiver thread panicked".to_string())?;
    emit(&format!("RESULT_RX {}", r?))?;
    emit(&format!("RESULT_TX {}", t?))
}

pub fn exit_with(result: Result<(), String>) -> ! {
    match result {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("ringlink-bench peer: {e}");
            std::process::exit(2)
        }
    }
}

pub(crate) fn run_role<S: BenchSocket>(s: &mut S, a: &PeerArgs) -> Result<(), String> {
    let start = Usage::now();
    let bind = a.transport.bind_endpoint(0);
    let result = match a.role {
        Role::ThrRecv => {
            s.set_rcvtimeo(RX_TIMEOUT_MS)?;
            announce(&s.bind(&bind)?)?;
            thr_recv(s, a)?
        }
        Role::ThrThreads | Role::LatThreads => unreachable!("handled by run_threads"),
        Role::ThrSend => {
            s.connect(endpoint(a)?)?;
            thr_send(s, a)?
        }
        Role::LatServer => {
            announce(&s.bind(&bind)?)?;
            for _ in 0..a.warmup + a.count {
                s.echo()?;
            }
            // The last reply may still be queued in an inline context.
            s.flush();
            format!("echoed={}", a.warmup + a.count)
        }
        Role::LatClient => {
            s.connect(endpoint(a)?)?;
            lat_client(s, a)?
        }
    };
    emit(&format!("RESULT {result}"))?;
    if matches!(a.role, Role::ThrSend | Role::LatServer) {
        // An inline context sends only inside ringlink calls: keep driving it until the
        // partner has everything (the parent then closes our stdin).
        s.drive_until_parent()?;
        wait_for_parent();
    }
    // Taken only now so that the I/O thread's work on the last messages is included.
    emit(&Usage::now().since(&start))
}

/// CPU time (user + sys, all threads) and peak RSS of this process.
pub struct Usage {
    cpu_us: f64,
    maxrss_kib: i64,
}

impl Usage {
    pub fn now() -> Usage {
        // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `ru` is a valid, writable rusage; RUSAGE_SELF cannot fail.
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
        let us = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
        Usage {
            cpu_us: us(ru.ru_utime) + us(ru.ru_stime),
            maxrss_kib: ru.ru_maxrss,
        }
    }

    /// The `USAGE` line the parent reads: CPU used since `start`, peak RSS so far (KiB).
    pub fn since(&self, start: &Usage) -> String {
        format!(
            "USAGE cpu_us={:.0} maxrss_kib={}",
            self.cpu_us - start.cpu_us,
            self.maxrss_kib
        )
    }
}

fn endpoint(a: &PeerArgs) -> Result<&str, String> {
    a.endpoint
        .as_deref()
        .ok_or_else(|| "peer: --endpoint missing".to_string())
}

pub fn announce(endpoint: &str) -> Result<(), String> {
    emit(&format!("ENDPOINT {endpoint}"))
}

pub fn emit(line: &str) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| format!("stdout: {e}"))
}

/// Blocks until the parent closes our stdin (it does so once the partner has finished).
pub fn wait_for_parent() {
    let mut sink = [0u8; 64];
    let mut stdin = std::io::stdin().lock();
    while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
}

/// CLOCK_MONOTONIC in ns. Unlike `Instant`, comparable across the two processes, which the
/// end-to-end rate (sender's first send to receiver's last receive) needs.
pub fn now_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC is always supported on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// Counts measured messages, checks their sequence numbers and timestamps only the first and
/// the last one (a clock read per message would be a measurable share of a 64 B message).
fn thr_recv<S: BenchSocket>(s: &mut S, a: &PeerArgs) -> Result<String, String> {
    if a.pattern == Pattern::Stream {
        return thr_recv_stream(s, a);
    }
    let poll = a.pattern == Pattern::RouterRouterPoll;
    let mut check = SeqCheck::new(a.count);
    let mut finished = false;
    while !finished {
        let step = if poll {
            s.poll_drain(|m| check.on(m))
        } else {
            s.recv_each(|m| check.on(m))
        };
        match step {
            Ok(done) => finished = done,
            // A receive timeout ends the run; the parent reports the shortfall as lost.
            Err(e) if check.received > 0 => {
                eprintln!("receiver: {e} after {} measured messages", check.received);
                break;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(check.result())
}

/// The throughput receiver's per-message work, the same for every library: skip warm-up
/// messages, count measured ones, check their sequence numbers, and read the clock only at
/// the first and the last one (a clock read per message would be a measurable share of a
/// 64 B message).
pub struct SeqCheck {
    pub received: u64,
    out_of_order: u64,
    next: u64,
    count: u64,
    t_first: i64,
    t_last: i64,
}

impl SeqCheck {
    pub fn new(count: u64) -> SeqCheck {
        SeqCheck {
            received: 0,
            out_of_order: 0,
            next: 0,
            count,
            t_first: 0,
            t_last: 0,
        }
    }

    /// Accounts for one received payload; true once the last measured message is in.
    pub fn on(&mut self, msg: &[u8]) -> bool {
        if msg.len() < MIN_THR_SIZE || msg[0] != MEASURED {
            return false; // warm-up (or foreign) message
        }
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&msg[1..MIN_THR_SIZE]);
        let seq = u64::from_le_bytes(seq);
        if self.received == 0 {
            self.t_first = now_ns();
        }
        self.received += 1;
        if seq != self.next {
            self.out_of_order += 1;
        }
        self.next = seq + 1;
        if seq == self.count - 1 {
            self.t_last = now_ns();
            return true;
        }
        false
    }

    /// The receiver's `RESULT` fields.
    pub fn result(&self) -> String {
        format!(
            "received={} lost={} out_of_order={} rx_first_ns={} rx_last_ns={}",
            self.received,
            self.count.saturating_sub(self.received),
            self.out_of_order,
            self.t_first,
            self.t_last
        )
    }
}

/// Writes the measured-message header (marker + little-endian sequence number) into `msg`.
pub fn stamp(msg: &mut [u8], seq: u64) {
    msg[0] = MEASURED;
    msg[1..MIN_THR_SIZE].copy_from_slice(&seq.to_le_bytes());
}

/// STREAM receiver: raw bytes arrive in arbitrary pieces, so it counts bytes; the clock
/// starts when the warm-up bytes are through and stops at the last byte.
fn thr_recv_stream<S: BenchSocket>(s: &mut S, a: &PeerArgs) -> Result<String, String> {
    let size = a.size as u64;
    let (warm, total) = (a.warmup * size, (a.warmup + a.count) * size);
    let mut bytes: u64 = 0;
    let (mut t_first, mut t_last) = (0i64, 0i64);
    while bytes < total {
        let step = s.recv_each(|chunk| {
            if bytes <= warm && bytes + chunk.len() as u64 > warm {
                t_first = now_ns();
            }
            bytes += chunk.len() as u64;
            if bytes >= total {
                t_last = now_ns();
                return true;
            }
            false
        });
        if let Err(e) = step {
            if bytes == 0 {
                return Err(e);
            }
            eprintln!("receiver: {e} after {bytes} bytes");
            break;
        }
    }
    let received = bytes.saturating_sub(warm) / size;
    Ok(format!(
        "received={received} lost={} out_of_order=0 rx_first_ns={t_first} rx_last_ns={t_last}",
        a.count.saturating_sub(received)
    ))
}

fn thr_send<S: BenchSocket>(s: &mut S, a: &PeerArgs) -> Result<String, String> {
    let mut msg = vec![0u8; a.size];
    msg[0] = WARMUP;
    match a.pattern {
        _ if a.pattern.connect_kind() == Kind::Router => wait_routable(s, &msg)?,
        // The XPUB sees the subscription arrive: nothing is published into the void.
        Pattern::PubSub => {
            s.set_rcvtimeo(RX_TIMEOUT_MS * 5)?;
            s.recv()?;
        }
        Pattern::Stream => {
            s.set_rcvtimeo(RX_TIMEOUT_MS * 5)?;
            s.learn_peer()?;
        }
        _ => {}
    }
    s.send_copies(&msg, a.warmup)?;

    let t_first;
    if a.imp.batch {
        let batch = a.batch.max(1);
        let mut chunk = vec![0u8; batch * a.size];
        let mut seq: u64 = 0;
        t_first = now_ns();
        while seq < a.count {
            let n = usize::try_from((a.count - seq).min(batch as u64)).unwrap_or(batch);
            for m in chunk.chunks_exact_mut(a.size).take(n) {
                stamp(m, seq);
                seq += 1;
            }
            let msgs: Vec<&[u8]> = chunk.chunks_exact(a.size).take(n).collect();
            s.send_all(&msgs)?;
        }
    } else {
        t_first = now_ns();
        for seq in 0..a.count {
            stamp(&mut msg, seq);
            s.send(&msg)?;
        }
    }
    // Inline contexts: push out what is still queued (part of the cost of sending there).
    s.flush();
    let t_last = now_ns();
    Ok(format!("tx_first_ns={t_first} tx_last_ns={t_last}"))
}

/// The ROUTER_ROUTER handshake (`zlink-bench.md` §2): a ROUTER_MANDATORY sender cannot
/// send to a peer whose routing id it has not learned yet, so it retries a non-blocking
/// warm-up message until the first one goes through.
fn wait_routable<S: BenchSocket>(s: &mut S, msg: &[u8]) -> Result<(), String> {
    let deadline = Instant::now() + ROUTABLE_TIMEOUT;
    loop {
        if s.try_send(msg)? {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "peer not routable after {} s",
                ROUTABLE_TIMEOUT.as_secs()
            ));
        }
        // Inline contexts make progress (the handshake) only inside ringlink calls.
        s.flush();
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn lat_client<S: BenchSocket>(s: &mut S, a: &PeerArgs) -> Result<String, String> {
    let msg = vec![0u8; a.size];
    let reply = |s: &mut S| -> Result<(), String> {
        let n = s.recv()?.len();
        if n == a.size {
            Ok(())
        } else {
            Err(format!("reply of {n} bytes, expected {}", a.size))
        }
    };
    for _ in 0..a.warmup {
        s.send(&msg)?;
        reply(s)?;
    }
    let count = usize::try_from(a.count).map_err(|_| "count too large".to_string())?;
    let mut rtts = Vec::with_capacity(count);
    let start = Instant::now();
    for _ in 0..count {
        let t = Instant::now();
        s.send(&msg)?;
        reply(s)?;
        rtts.push(t.elapsed());
    }
    Ok(lat_result(&mut rtts, start.elapsed()))
}

/// The latency client's `RESULT` fields from its round-trip times (sorted here) and the
/// wall time of all of them.
pub fn lat_result(rtts: &mut [Duration], total: Duration) -> String {
    rtts.sort_unstable();
    let count = rtts.len().max(1);
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let pct = |p: usize| {
        rtts.get((count * p / 1000).min(count - 1))
            .map_or(0.0, |&d| us(d))
    };
    format!(
        "roundtrips={} mean_half_rtt_us={:.3} rtt_p50_us={:.3} rtt_p99_us={:.3} rtt_p999_us={:.3} rtt_min_us={:.3} rtt_max_us={:.3}",
        rtts.len(),
        us(total) / (2.0 * count as f64),
        pct(500),
        pct(990),
        pct(999),
        pct(0),
        rtts.last().map_or(0.0, |&d| us(d)),
    )
}
