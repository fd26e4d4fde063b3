//! `scale --tests fanout`: one publisher process (an XPUB socket) and one subscriber
//! process holding `--subs` SUB sockets in one context, each subscribed to everything.
//!
//! * **Sync.** The publisher is an XPUB with XPUB_VERBOSE, so every SUB's subscription
//!   arrives as a `\x01` notification (without VERBOSE, libzmq and ringlink pass only the
//!   first subscription of a topic). The subscriber connects its SUBs `--connect-batch` at
//!   a time and, over a PAIR side channel, tells the publisher how many subscriptions to
//!   expect; the publisher answers once it has counted them. So nothing is sent before
//!   every SUB is attached, and connection bursts stay within the listen backlog.
//! * **Throughput.** 1,000 warm-up messages, then `--fanout-msgs` measured ones, sent as
//!   fast as the XPUB takes them. SNDHWM = RCVHWM = 0 (unlimited) on the XPUB and the SUBs,
//!   so neither library drops anything; the subscriber still checks every message on every
//!   SUB (marker and sequence number) and fails the run at the first one missing or out of
//!   order. The subscriber reads round-robin: message k from SUB 0, 1, …, n−1, then k+1.
//! * **Latency.** Closed loop over the side channel: the publisher writes CLOCK_MONOTONIC
//!   (shared by the two processes) into a message and sends it, the subscriber takes the
//!   clock after each SUB's receive and acknowledges once all SUBs have it, then the next
//!   message goes. 100 untimed rounds first, then `--lat-msgs` timed ones. One-way latency
//!   per delivery; with one thread reading all SUBs, SUB i's latency includes reading
//!   SUBs 0..i−1.

use std::time::Instant;

use ringlink::{Context, Socket, SocketOption, SocketType};

use super::peers::RawZmq;
use super::{PeerOpts, ScaleConfig, SCALE_RX_TIMEOUT_MS};
use crate::impls::Impl;
use crate::peer::{emit, now_ns, wait_for_parent, Usage};
use crate::runner::{num, parse_kv, with_peers, Metrics};

pub const PUB_ROLE: &str = "fanout-pub";
pub const SUB_ROLE: &str = "fanout-sub";

/// Marker byte, sequence number (u64 LE), send time (i64 LE, latency messages).
pub const MIN_SIZE: usize = 17;
/// Warm-up messages before the measured ones (each goes to every SUB).
pub const WARMUP_MSGS: u64 = 1000;
/// Untimed latency rounds before the timed ones.
pub const LAT_WARMUP: u64 = 100;

const WARMUP: u8 = b'W';
const MEASURED: u8 = b'M';
const LATENCY: u8 = b'L';

/// One fan-out run: publisher process, subscriber process.
pub fn run(cfg: &ScaleConfig, imp: Impl) -> Result<Metrics, String> {
    with_peers(cfg.timeout, |g| {
        let opts = |role| PeerOpts::new(cfg, role, imp, cfg.subs, cfg.fanout_msgs);
        let mut publ = g.spawn("publisher", &opts(PUB_ROLE).to_args(), false)?;
        let ep = publ.value("ENDPOINT")?;
        let sync_ep = publ.value("SYNC")?;
        let t = Instant::now();
        let mut sub = g.spawn(
            "subscriber",
            &opts(SUB_ROLE).to(&ep).sync(&sync_ep).to_args(),
            true,
        )?;
        sub.value("READY")?;
        let connect_ms = t.elapsed().as_secs_f64() * 1e3;
        let s = parse_kv(&sub.value("RESULT")?);
        let p = parse_kv(&publ.value("RESULT")?);
        let pub_usage = publ.usage()?;
        sub.release();
        let sub_usage = sub.usage()?;

        let (subs, msgs) = (cfg.subs as f64, cfg.fanout_msgs as f64);
        let deliveries = num(&s, "deliveries")?;
        if deliveries != subs * msgs {
            return Err(format!("{deliveries} deliveries, expected {}", subs * msgs));
        }
        let (rx_first, rx_last) = (num(&s, "rx_first_ns")?, num(&s, "rx_last_ns")?);
        let (tx_first, tx_last) = (num(&p, "tx_first_ns")?, num(&p, "tx_last_ns")?);
        let rate = |n: f64, from: f64, to: f64| {
            if to > from {
                Ok(n / ((to - from) / 1e9) / 1e3)
            } else {
                Err("measurement window is empty (use a larger --fanout-msgs)".to_string())
            }
        };
        // Both processes' CPU from socket open to the end of the throughput phase.
        let flood_cpu_us = num(&p, "flood_cpu_us")? + num(&s, "flood_cpu_us")?;
        let moved = subs * (WARMUP_MSGS as f64 + msgs);
        let mut m = vec![
            ("deliv_kmsg_s", rate(deliveries, tx_first, rx_last)?),
            ("per_sub_kmsg_s", rate(msgs, tx_first, rx_last)?),
            ("rx_deliv_kmsg_s", rate(deliveries, rx_first, rx_last)?),
            ("tx_kmsg_s", rate(msgs, tx_first, tx_last)?),
            ("cpu_ns_deliv", flood_cpu_us * 1e3 / moved),
        ];
        for k in [
            "lat_p50_us",
            "lat_p99_us",
            "lat_first_p50_us",
            "lat_last_p50_us",
            "lat_max_us",
        ] {
            m.push((k, num(&s, k)?));
        }
        m.extend([
            ("connect_ms", connect_ms),
            ("rss_pub_mib", pub_usage.maxrss_kib / 1024.0),
            ("rss_sub_mib", sub_usage.maxrss_kib / 1024.0),
        ]);
        Ok(m)
    })
}

// ----- sockets ----------------------------------------------------------------------------

/// The socket types of the fan-out roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FanKind {
    /// The publisher: XPUB, XPUB_VERBOSE, HWM 0.
    XPub,
    /// A subscriber: SUB subscribed to "", HWM 0.
    Sub,
    /// The side channel (set-up sync, end of throughput, latency acks); default HWM.
    Pair,
}

/// What the fan-out roles need from a socket, for ringlink and libzmq alike. Every socket
/// has RCVTIMEO = 30 s, so a lost message fails the run instead of hanging it.
pub trait FanSocket {
    /// Binds and returns the resolved endpoint.
    fn bind(&mut self, endpoint: &str) -> Result<String, String>;
    fn connect(&mut self, endpoint: &str) -> Result<(), String>;
    fn send(&mut self, msg: &[u8]) -> Result<(), String>;
    /// Receives one message; the bytes are valid until the next call.
    fn recv(&mut self) -> Result<&[u8], String>;
    /// Pushes out queued messages (inline ringlink contexts; a no-op otherwise).
    fn flush(&mut self) {}
    /// Keeps an inline context's I/O going until the parent writes to or closes our stdin
    /// (a no-op otherwise).
    fn drive_until_parent(&mut self) -> Result<(), String> {
        Ok(())
    }
}

fn rl_err(what: &str) -> impl Fn(ringlink::Error) -> String + '_ {
    move |e| match e {
        ringlink::Error::Again => format!("{what}: timed out (EAGAIN)"),
        e => format!("{what}: {e}"),
    }
}

/// A ringlink socket of a fan-out role.
pub struct RinglinkFan {
    sock: Socket,
    buf: Vec<u8>,
    inline: bool,
}

impl RinglinkFan {
    pub fn new(ctx: &Context, kind: FanKind, size: usize, inline: bool) -> Result<Self, String> {
        let ty = match kind {
            FanKind::XPub => SocketType::XPub,
            FanKind::Sub => SocketType::Sub,
            FanKind::Pair => SocketType::Pair,
        };
        let mut sock = ctx.socket(ty).map_err(rl_err("socket"))?;
        let mut set = |opt: SocketOption| {
            let what = format!("{opt:?}");
            sock.set_option(opt).map_err(|e| rl_err(&what)(e))
        };
        if kind != FanKind::Pair {
            set(SocketOption::SndHwm(0))?;
            set(SocketOption::RcvHwm(0))?;
        }
        match kind {
            FanKind::XPub => set(SocketOption::XpubVerbose(true))?,
            FanKind::Sub => set(SocketOption::Subscribe(Vec::new()))?,
            FanKind::Pair => {}
        }
        set(SocketOption::RcvTimeo(SCALE_RX_TIMEOUT_MS))?;
        Ok(RinglinkFan {
            sock,
            buf: vec![0; size.max(256)],
            inline,
        })
    }
}

impl FanSocket for RinglinkFan {
    fn bind(&mut self, endpoint: &str) -> Result<String, String> {
        self.sock.bind(endpoint).map_err(rl_err("bind"))?;
        self.sock
            .last_endpoint()
            .ok_or_else(|| "bind: no last endpoint".to_string())
    }

    fn connect(&mut self, endpoint: &str) -> Result<(), String> {
        self.sock.connect(endpoint).map_err(rl_err("connect"))
    }

    fn send(&mut self, msg: &[u8]) -> Result<(), String> {
        self.sock.send(msg, 0).map_err(rl_err("send"))
    }

    fn recv(&mut self) -> Result<&[u8], String> {
        let n = self.sock.recv(&mut self.buf, 0).map_err(rl_err("recv"))?;
        self.buf
            .get(..n)
            .ok_or_else(|| format!("recv: {n}-byte message exceeds the buffer"))
    }

    fn flush(&mut self) {
        self.sock.flush();
    }

    fn drive_until_parent(&mut self) -> Result<(), String> {
        if !self.inline {
            return Ok(());
        }
        crate::net::drive_until_stdin(&mut self.sock)
    }
}

/// A libzmq socket of a fan-out role (in the process's one raw context).
pub struct ZmqFan {
    sock: zmq::Socket,
    msg: zmq::Message,
}

impl ZmqFan {
    pub fn new(ctx: &RawZmq, kind: FanKind) -> Result<Self, String> {
        let sock = ctx.socket_of_type(match kind {
            FanKind::XPub => zmq_sys::ZMQ_XPUB,
            FanKind::Sub => zmq_sys::ZMQ_SUB,
            FanKind::Pair => zmq_sys::ZMQ_PAIR,
        })?;
        let err = |what: &'static str| move |e: zmq::Error| format!("{what}: {e}");
        if kind != FanKind::Pair {
            sock.set_sndhwm(0).map_err(err("SNDHWM"))?;
            sock.set_rcvhwm(0).map_err(err("RCVHWM"))?;
        }
        match kind {
            FanKind::XPub => sock.set_xpub_verbose(true).map_err(err("XPUB_VERBOSE"))?,
            FanKind::Sub => sock.set_subscribe(b"").map_err(err("SUBSCRIBE"))?,
            FanKind::Pair => {}
        }
        sock.set_rcvtimeo(SCALE_RX_TIMEOUT_MS)
            .map_err(err("RCVTIMEO"))?;
        Ok(ZmqFan {
            sock,
            msg: zmq::Message::new(),
        })
    }
}

impl FanSocket for ZmqFan {
    fn bind(&mut self, endpoint: &str) -> Result<String, String> {
        self.sock.bind(endpoint).map_err(|e| format!("bind: {e}"))?;
        self.sock
            .get_last_endpoint()
            .map_err(|e| format!("LAST_ENDPOINT: {e}"))?
            .map_err(|_| "LAST_ENDPOINT is not UTF-8".to_string())
    }

    fn connect(&mut self, endpoint: &str) -> Result<(), String> {
        self.sock
            .connect(endpoint)
            .map_err(|e| format!("connect: {e}"))
    }

    /// `zmq_send`: init + copy + `zmq_msg_send`, as the other scale tests.
    fn send(&mut self, msg: &[u8]) -> Result<(), String> {
        self.sock.send(msg, 0).map_err(|e| format!("send: {e}"))
    }

    /// `zmq_msg_recv` into a reused message: no copy.
    fn recv(&mut self) -> Result<&[u8], String> {
        self.sock
            .recv(&mut self.msg, 0)
            .map_err(|e| format!("recv: {e}"))?;
        Ok(&self.msg)
    }
}

// ----- roles ------------------------------------------------------------------------------

/// Runs the fan-out role named in `p`, with sockets from `make`.
pub fn role<S: FanSocket>(
    p: &PeerOpts,
    make: impl FnMut(FanKind) -> Result<S, String>,
) -> Result<(), String> {
    match p.role.as_str() {
        PUB_ROLE => publisher(make, p),
        SUB_ROLE => subscriber(make, p),
        other => Err(format!("peer: unknown role `{other}`")),
    }
}

/// User + sys CPU time of this process (all threads), µs.
fn cpu_us() -> f64 {
    // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage; RUSAGE_SELF cannot fail.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let us = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    us(ru.ru_utime) + us(ru.ru_stime)
}

fn put_seq(msg: &mut [u8], marker: u8, seq: u64) {
    msg[0] = marker;
    msg[1..9].copy_from_slice(&seq.to_le_bytes());
}

/// Checks size, marker and sequence number of a received message.
fn check(m: &[u8], size: usize, marker: u8, seq: u64) -> Result<(), String> {
    let got_seq = m
        .get(1..9)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes);
    if m.len() == size && m[0] == marker && got_seq == Some(seq) {
        return Ok(());
    }
    Err(format!(
        "expected {} #{seq} ({size} B), got {:?} #{got_seq:?} ({} B): lost or out of order",
        marker as char,
        m.first().map(|&b| b as char),
        m.len()
    ))
}

fn expect_reply(got: &[u8], want: &[u8]) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!(
            "side channel: expected {:?}, got {:?}",
            String::from_utf8_lossy(want),
            String::from_utf8_lossy(got)
        ))
    }
}

fn publisher<S: FanSocket>(
    mut make: impl FnMut(FanKind) -> Result<S, String>,
    p: &PeerOpts,
) -> Result<(), String> {
    let (start, cpu0) = (Usage::now(), cpu_us());
    let mut xpub = make(FanKind::XPub)?;
    let mut sync = make(FanKind::Pair)?;
    let ep = xpub.bind(&p.transport.bind_endpoint(0))?;
    let sync_ep = sync.bind(&p.transport.bind_endpoint(1))?;
    emit(&format!("ENDPOINT {ep}"))?;
    emit(&format!("SYNC {sync_ep}"))?;

    // Set-up: "SUBS n" on the side channel means n SUBs have connected so far; answer once
    // n subscriptions have been counted.
    let mut subs = 0usize;
    while subs < p.conns {
        let want: usize = std::str::from_utf8(sync.recv()?)
            .ok()
            .and_then(|s| s.strip_prefix("SUBS ")?.parse().ok())
            .ok_or("side channel: expected SUBS <n>")?;
        while subs < want.min(p.conns) {
            if xpub.recv()?.first() == Some(&1) {
                subs += 1;
            }
        }
        sync.send(b"OK")?;
    }

    let mut msg = vec![0u8; p.size];
    for seq in 0..WARMUP_MSGS {
        put_seq(&mut msg, WARMUP, seq);
        xpub.send(&msg)?;
    }
    let t_first = now_ns();
    for seq in 0..p.msgs {
        put_seq(&mut msg, MEASURED, seq);
        xpub.send(&msg)?;
    }
    // Inline contexts: push out what is queued (part of the cost of sending there).
    xpub.flush();
    let t_last = now_ns();
    expect_reply(sync.recv()?, b"DONE")?;
    let flood_cpu = cpu_us() - cpu0;

    for k in 0..LAT_WARMUP + p.lat_msgs {
        put_seq(&mut msg, LATENCY, k);
        msg[9..17].copy_from_slice(&now_ns().to_le_bytes());
        xpub.send(&msg)?;
        xpub.flush();
        expect_reply(sync.recv()?, b"ACK")?;
    }
    emit(&format!(
        "RESULT tx_first_ns={t_first} tx_last_ns={t_last} flood_cpu_us={flood_cpu:.0}"
    ))?;
    // Everything sent has been acknowledged: nothing is left for the I/O thread to do.
    emit(&Usage::now().since(&start))
}

/// Index ⌊n·p⌋ of sorted samples (as `zmq_bench.c`), in µs.
fn percentile_us(sorted: &[i64], per_mille: usize) -> f64 {
    let i = (sorted.len() * per_mille / 1000).min(sorted.len().saturating_sub(1));
    sorted.get(i).map_or(f64::NAN, |&ns| ns as f64 / 1e3)
}

fn subscriber<S: FanSocket>(
    mut make: impl FnMut(FanKind) -> Result<S, String>,
    p: &PeerOpts,
) -> Result<(), String> {
    let (start, cpu0) = (Usage::now(), cpu_us());
    let mut sync = make(FanKind::Pair)?;
    sync.connect(
        p.sync_endpoint
            .as_deref()
            .ok_or("peer: --sync-endpoint missing")?,
    )?;
    let mut subs = (0..p.conns)
        .map(|_| make(FanKind::Sub))
        .collect::<Result<Vec<S>, String>>()?;
    let ep = p.endpoint()?;
    let mut connected = 0;
    for batch in subs.chunks_mut(p.connect_batch.max(1)) {
        for s in batch.iter_mut() {
            s.connect(ep)?;
        }
        connected += batch.len();
        sync.send(format!("SUBS {connected}").as_bytes())?;
        expect_reply(sync.recv()?, b"OK")?;
    }
    emit("READY")?;

    let mut t_first = 0;
    for k in 0..WARMUP_MSGS + p.msgs {
        let (marker, seq) = if k < WARMUP_MSGS {
            (WARMUP, k)
        } else {
            (MEASURED, k - WARMUP_MSGS)
        };
        for (i, s) in subs.iter_mut().enumerate() {
            let m = s.recv().map_err(|e| format!("SUB {i}: {e}"))?;
            check(m, p.size, marker, seq).map_err(|e| format!("SUB {i}: {e}"))?;
            if k == WARMUP_MSGS && i == 0 {
                t_first = now_ns();
            }
        }
    }
    let t_last = now_ns();
    let flood_cpu = cpu_us() - cpu0;
    sync.send(b"DONE")?;

    let rounds = usize::try_from(p.lat_msgs).map_err(|_| "--lat-msgs too large")?;
    let mut all = Vec::with_capacity(rounds * subs.len());
    let (mut first, mut last) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for k in 0..LAT_WARMUP + p.lat_msgs {
        let mut delay = 0;
        for (i, s) in subs.iter_mut().enumerate() {
            let m = s.recv().map_err(|e| format!("SUB {i}: {e}"))?;
            let now = now_ns();
            check(m, p.size, LATENCY, k).map_err(|e| format!("SUB {i}: {e}"))?;
            let mut sent = [0u8; 8];
            sent.copy_from_slice(&m[9..17]);
            delay = now - i64::from_le_bytes(sent);
            if k >= LAT_WARMUP {
                all.push(delay);
                if i == 0 {
                    first.push(delay);
                }
            }
        }
        if k >= LAT_WARMUP {
            last.push(delay);
        }
        sync.send(b"ACK")?;
    }
    sync.flush();
    for v in [&mut all, &mut first, &mut last] {
        v.sort_unstable();
    }
    emit(&format!(
        "RESULT deliveries={} rx_first_ns={t_first} rx_last_ns={t_last} flood_cpu_us={flood_cpu:.0} \
         lat_p50_us={:.3} lat_p99_us={:.3} lat_first_p50_us={:.3} lat_last_p50_us={:.3} lat_max_us={:.3}",
        subs.len() as u64 * p.msgs,
        percentile_us(&all, 500),
        percentile_us(&all, 990),
        percentile_us(&first, 500),
        percentile_us(&last, 500),
        all.last().map_or(f64::NAN, |&ns| ns as f64 / 1e3),
    ))?;
    // The last ACK may still be queued in an inline context.
    sync.drive_until_parent()?;
    wait_for_parent();
    emit(&Usage::now().since(&start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_checked_for_marker_sequence_and_size() {
        let mut m = vec![0u8; MIN_SIZE];
        put_seq(&mut m, MEASURED, 7);
        assert!(check(&m, MIN_SIZE, MEASURED, 7).is_ok());
        assert!(check(&m, MIN_SIZE, MEASURED, 8).is_err());
        assert!(check(&m, MIN_SIZE, WARMUP, 7).is_err());
        assert!(check(&m[..9], MIN_SIZE, MEASURED, 7).is_err());
        assert!(check(&[], MIN_SIZE, MEASURED, 0).is_err());
    }

    #[test]
    fn percentiles_index_sorted_samples() {
        let v: Vec<i64> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(percentile_us(&v, 500), 51.0);
        assert_eq!(percentile_us(&v, 990), 100.0);
        assert!(percentile_us(&[], 500).is_nan());
    }
}
