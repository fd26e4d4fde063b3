//! The scale peer processes: their arguments (`PeerOpts`, built by the parent and parsed
//! back in the child) and the fan-in and idle roles (the fan-out roles are in `fanout.rs`).

use std::io::BufRead;
use std::os::raw::{c_int, c_void};
use std::time::Duration;

use clap::Parser;

use super::{fanout, ScaleConfig, HEADER, MEASURED, SCALE_RX_TIMEOUT_MS, WARMUP};
use crate::cli;
use crate::impls::{Impl, Kind, Library, Transport};
use crate::net::{ringlink_context, BenchSocket, RinglinkSocket, SocketConfig, ZmqSocket};
use crate::peer::{announce, emit, exit_with, now_ns, wait_for_parent, Usage, SUBCOMMAND};

/// Arguments of one scale peer process (round-tripped through argv: [`PeerOpts::to_args`],
/// parsed back by clap).
#[derive(Debug, Clone, PartialEq, Parser)]
#[command(name = SUBCOMMAND, about = "One end of a scale run (started by the parent)")]
pub(super) struct PeerOpts {
    pub(super) role: String,
    #[arg(long = "impl", value_parser = cli::one("impl", Impl::parse))]
    pub(super) imp: Impl,
    #[arg(long, default_value = "tcp", value_parser = cli::one("transport", Transport::parse))]
    pub(super) transport: Transport,
    #[arg(long, default_value_t = 64)]
    pub(super) size: usize,
    #[arg(long, default_value_t = 1000)]
    pub(super) hwm: i32,
    #[arg(long, default_value_t = 1024)]
    pub(super) batch: usize,
    #[arg(long, default_value_t = 0)]
    pub(super) spin_us: u64,
    /// fanin: DEALERs; idle: connections of this process.
    #[arg(long, default_value_t = 1)]
    pub(super) conns: usize,
    /// fanin: messages per DEALER.
    #[arg(long, default_value_t = 1)]
    pub(super) msgs: u64,
    /// Connections opened before waiting for their echo.
    #[arg(long, default_value_t = 100)]
    pub(super) connect_batch: usize,
    /// fanout: timed latency rounds.
    #[arg(long, default_value_t = 0)]
    pub(super) lat_msgs: u64,
    #[arg(long)]
    pub(super) endpoint: Option<String>,
    /// fanout: the publisher's side channel.
    #[arg(long)]
    pub(super) sync_endpoint: Option<String>,
}

const ROLES: [&str; 6] = [
    "fanin-recv",
    "fanin-send",
    fanout::PUB_ROLE,
    fanout::SUB_ROLE,
    "idle-server",
    "idle-client",
];

/// True for the `__peer` roles this module runs.
pub fn is_peer_role(role: &str) -> bool {
    ROLES.contains(&role)
}

impl PeerOpts {
    pub(super) fn new(
        cfg: &ScaleConfig,
        role: &str,
        imp: Impl,
        conns: usize,
        msgs: u64,
    ) -> PeerOpts {
        PeerOpts {
            role: role.to_string(),
            imp,
            transport: cfg.transport,
            size: cfg.size,
            hwm: cfg.hwm,
            batch: cfg.batch,
            spin_us: cfg.spin_us,
            conns,
            msgs,
            connect_batch: cfg.connect_batch,
            lat_msgs: cfg.lat_msgs,
            endpoint: None,
            sync_endpoint: None,
        }
    }

    pub(super) fn to(mut self, endpoint: &str) -> PeerOpts {
        self.endpoint = Some(endpoint.to_string());
        self
    }

    pub(super) fn sync(mut self, endpoint: &str) -> PeerOpts {
        self.sync_endpoint = Some(endpoint.to_string());
        self
    }

    pub(super) fn to_args(&self) -> Vec<String> {
        let mut v = vec![
            SUBCOMMAND.to_string(),
            self.role.clone(),
            format!("--impl={}", self.imp.name),
            format!("--transport={}", self.transport.name()),
            format!("--size={}", self.size),
            format!("--hwm={}", self.hwm),
            format!("--batch={}", self.batch),
            format!("--spin-us={}", self.spin_us),
            format!("--conns={}", self.conns),
            format!("--msgs={}", self.msgs),
            format!("--connect-batch={}", self.connect_batch),
            format!("--lat-msgs={}", self.lat_msgs),
        ];
        if let Some(ep) = &self.endpoint {
            v.push(format!("--endpoint={ep}"));
        }
        if let Some(ep) = &self.sync_endpoint {
            v.push(format!("--sync-endpoint={ep}"));
        }
        v
    }

    /// Parses `args` (the role and its options, as [`to_args`](Self::to_args) wrote them
    /// after the subcommand).
    pub(super) fn from_args(args: &[String]) -> Result<PeerOpts, String> {
        let argv = std::iter::once(SUBCOMMAND).chain(args.iter().map(String::as_str));
        PeerOpts::try_parse_from(argv).map_err(|e| e.to_string().trim_end().to_string())
    }

    /// The idle test never uses the batch API: its receive buffers (1 MiB per socket)
    /// would be counted as per-connection memory.
    pub(super) fn socket_config(&self, kind: Kind) -> SocketConfig {
        SocketConfig {
            kind,
            routing_id: None,
            send_to: None,
            hwm: self.hwm,
            size: self.size,
            batch: self.imp.batch && self.role.starts_with("fanin"),
            spin: self.imp.spin.then(|| Duration::from_micros(self.spin_us)),
            inline: self.imp.inline,
            uring: self.imp.uring_features(),
        }
    }

    pub(super) fn endpoint(&self) -> Result<&str, String> {
        self.endpoint
            .as_deref()
            .ok_or_else(|| "peer: --endpoint missing".to_string())
    }
}

/// A libzmq context made with the raw API: the `zmq` crate cannot set ZMQ_MAX_SOCKETS
/// (default 1023), which thousands of sockets need. Never terminated (peers exit without
/// teardown).
pub(super) struct RawZmq(*mut c_void);

impl RawZmq {
    pub(super) fn new(max_sockets: usize) -> Result<RawZmq, String> {
        // SAFETY: zmq_ctx_new has no preconditions; a null result is checked.
        let ctx = unsafe { zmq_sys::zmq_ctx_new() };
        if ctx.is_null() {
            return Err("zmq_ctx_new failed".into());
        }
        let max = c_int::try_from(max_sockets).unwrap_or(c_int::MAX);
        // SAFETY: `ctx` is a live context; ZMQ_MAX_SOCKETS takes an int.
        let rc = unsafe { zmq_sys::zmq_ctx_set(ctx, zmq_sys::ZMQ_MAX_SOCKETS as c_int, max) };
        if rc != 0 {
            // SAFETY: zmq_errno only reads the calling thread's errno.
            let errno = unsafe { zmq_sys::zmq_errno() };
            return Err(format!(
                "ZMQ_MAX_SOCKETS {max}: {}",
                zmq::Error::from_raw(errno)
            ));
        }
        Ok(RawZmq(ctx))
    }

    fn socket(&self, kind: Kind) -> Result<zmq::Socket, String> {
        self.socket_of_type(match kind {
            Kind::Pair => zmq_sys::ZMQ_PAIR,
            Kind::Dealer => zmq_sys::ZMQ_DEALER,
            Kind::Router => zmq_sys::ZMQ_ROUTER,
            Kind::Pub => zmq_sys::ZMQ_XPUB,
            Kind::Sub => zmq_sys::ZMQ_SUB,
            Kind::Push => zmq_sys::ZMQ_PUSH,
            Kind::Pull => zmq_sys::ZMQ_PULL,
            Kind::Req => zmq_sys::ZMQ_REQ,
            Kind::Rep => zmq_sys::ZMQ_REP,
            Kind::Stream => zmq_sys::ZMQ_STREAM,
        })
    }

    /// A socket of the raw libzmq type `ty` (`zmq_sys::ZMQ_*`).
    pub(super) fn socket_of_type(&self, ty: u32) -> Result<zmq::Socket, String> {
        // SAFETY: `self.0` is a live context (never terminated).
        let sock = unsafe { zmq_sys::zmq_socket(self.0, ty as c_int) };
        if sock.is_null() {
            // SAFETY: zmq_errno only reads the calling thread's errno.
            let errno = unsafe { zmq_sys::zmq_errno() };
            return Err(format!("zmq_socket: {}", zmq::Error::from_raw(errno)));
        }
        // SAFETY: `sock` is a new socket that nothing else refers to; the returned Socket
        // owns it. It references no context, and the context outlives it (never freed).
        Ok(unsafe { zmq::Socket::from_raw(sock) })
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (libzmq peers; ringlink peers use
/// `ringlink::raise_fd_limit`, which does the same).
fn raise_nofile() {
    // SAFETY: an all-zero rlimit is a valid value for getrlimit to overwrite.
    let mut rl: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: `rl` is a valid rlimit for both calls.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 && rl.rlim_cur < rl.rlim_max {
            rl.rlim_cur = rl.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
        }
    }
}

/// `VmRSS` of this process in KiB (0 if unreadable).
fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Open file descriptors of this process.
fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

/// Entry point of the scale roles of `__peer`.
pub fn peer_main(args: &[String]) -> Result<(), String> {
    let p = PeerOpts::from_args(args)?;
    let max_sockets = p.conns + 16;
    match p.imp.lib {
        Library::Ringlink(backend) => {
            ringlink::raise_fd_limit();
            let ctx = ringlink_context(
                backend,
                p.imp.inline,
                p.imp.spin.then(|| Duration::from_micros(p.spin_us)),
                p.imp.uring_features(),
            )?;
            if p.role.starts_with("fanout") {
                exit_with(fanout::role(&p, |kind| {
                    fanout::RinglinkFan::new(&ctx, kind, p.size, p.imp.inline)
                }))
            }
            exit_with(role(&p, |kind| {
                RinglinkSocket::new(&ctx, &p.socket_config(kind))
            }))
        }
        Library::Rzmq { .. } | Library::Zeromq { .. } => {
            Err(format!("scale: {} is not supported", p.imp.name))
        }
        Library::Libzmq => {
            raise_nofile();
            let ctx = RawZmq::new(max_sockets)?;
            if p.role.starts_with("fanout") {
                exit_with(fanout::role(&p, |kind| fanout::ZmqFan::new(&ctx, kind)))
            }
            exit_with(role(&p, |kind| {
                ZmqSocket::wrap(ctx.socket(kind)?, &p.socket_config(kind))
            }))
        }
    }
}

fn role<S: BenchSocket>(
    p: &PeerOpts,
    mut make: impl FnMut(Kind) -> Result<S, String>,
) -> Result<(), String> {
    match p.role.as_str() {
        "fanin-recv" => fanin_recv(make(Kind::Router)?, p),
        "fanin-send" => {
            let socks = (0..p.conns)
                .map(|_| make(Kind::Dealer))
                .collect::<Result<Vec<S>, String>>()?;
            fanin_send(socks, p)
        }
        "idle-server" => idle_server(make(Kind::Router)?, p),
        "idle-client" => idle_client(make, p),
        other => Err(format!("peer: unknown role `{other}`")),
    }
}

fn fanin_recv<S: BenchSocket>(mut s: S, p: &PeerOpts) -> Result<(), String> {
    let start = Usage::now();
    s.set_rcvtimeo(SCALE_RX_TIMEOUT_MS)?;
    announce(&s.bind(&p.transport.bind_endpoint(0))?)?;
    // One warm-up message per DEALER, echoed: then every connection is up at both ends.
    for _ in 0..p.conns {
        s.echo()?;
    }
    s.flush();
    emit("READY")?;

    let total = p.conns as u64 * p.msgs;
    let mut next = vec![0u32; p.conns];
    let (mut received, mut out_of_order) = (0u64, 0u64);
    let (mut t_first, mut t_last) = (0i64, 0i64);
    while received < total {
        let step = s.recv_each(|m| {
            if m.len() < HEADER || m[0] != MEASURED {
                return false;
            }
            let d = u32::from_le_bytes([m[1], m[2], m[3], m[4]]) as usize;
            let seq = u32::from_le_bytes([m[5], m[6], m[7], m[8]]);
            if received == 0 {
                t_first = now_ns();
            }
            received += 1;
            match next.get_mut(d) {
                Some(n) if *n == seq => *n = seq + 1,
                Some(n) => {
                    out_of_order += 1;
                    *n = seq + 1;
                }
                None => out_of_order += 1,
            }
            if received == total {
                t_last = now_ns();
                return true;
            }
            false
        });
        match step {
            Ok(_) => {}
            Err(e) if received > 0 => {
                eprintln!("receiver: {e} after {received} measured messages");
                break;
            }
            Err(e) => return Err(e),
        }
    }
    emit(&format!(
        "RESULT received={received} lost={} out_of_order={out_of_order} rx_first_ns={t_first} rx_last_ns={t_last}",
        total.saturating_sub(received)
    ))?;
    emit(&Usage::now().since(&start))
}

fn fanin_send<S: BenchSocket>(mut socks: Vec<S>, p: &PeerOpts) -> Result<(), String> {
    let start = Usage::now();
    let mut msg = vec![0u8; p.size];
    msg[0] = WARMUP;
    connect_in_batches(&mut socks, p, &msg)?;
    // Inline contexts: keep the I/O going until the parent's GO arrives on stdin.
    if let Some(s) = socks.first_mut() {
        s.drive_until_parent()?;
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("stdin: {e}"))?;
    if line.trim() != "GO" {
        return Err(format!("expected GO from the parent, got {line:?}"));
    }

    // Round-robin over the DEALERs: one message (or one batch) per DEALER per round.
    let chunk = if p.imp.batch {
        p.batch.min(p.msgs as usize).max(1)
    } else {
        1
    };
    let mut buf = vec![0u8; chunk * p.size];
    let t_first = now_ns();
    let mut seq = 0u64;
    while seq < p.msgs {
        let n = (p.msgs - seq).min(chunk as u64) as usize;
        for (d, s) in socks.iter_mut().enumerate() {
            for (k, m) in buf.chunks_exact_mut(p.size).take(n).enumerate() {
                m[0] = MEASURED;
                m[1..5].copy_from_slice(&(d as u32).to_le_bytes());
                m[5..9].copy_from_slice(&((seq as u32) + k as u32).to_le_bytes());
            }
            if p.imp.batch {
                let msgs: Vec<&[u8]> = buf.chunks_exact(p.size).take(n).collect();
                s.send_all(&msgs)?;
            } else {
                s.send(&buf[..p.size])?;
            }
        }
        seq += n as u64;
    }
    // Inline contexts are left to ringlink's own policy while sending (a socket flushes
    // every 256 of its messages and inside every blocking wait, e.g. at the HWM); flushing
    // the context once per round instead makes every write carry one message per
    // connection, ~10x slower. Push out the rest now (inside the timed window).
    for s in &mut socks {
        s.flush();
    }
    let t_last = now_ns();
    emit(&format!("RESULT tx_first_ns={t_first} tx_last_ns={t_last}"))?;
    if let Some(s) = socks.first_mut() {
        s.drive_until_parent()?;
    }
    wait_for_parent();
    emit(&Usage::now().since(&start))
}

fn idle_server<S: BenchSocket>(mut s: S, p: &PeerOpts) -> Result<(), String> {
    s.set_rcvtimeo(SCALE_RX_TIMEOUT_MS)?;
    announce(&s.bind(&p.transport.bind_endpoint(0))?)?;
    let (rss_before, fds_before) = (vm_rss_kib(), fd_count());
    for _ in 0..p.conns {
        s.echo()?;
    }
    s.flush();
    emit(&format!(
        "RESULT rss_before_kib={rss_before} rss_after_kib={} fds_before={fds_before} fds_after={}",
        vm_rss_kib(),
        fd_count()
    ))?;
    s.drive_until_parent()?;
    wait_for_parent();
    Ok(())
}

/// Connects `socks` to the endpoint `--connect-batch` at a time: connect each of a batch,
/// send `hello` on each, then wait for every echo before the next batch. Bursts larger
/// than the listen backlog (100 in both libraries) overflow the accept queue, and the
/// dropped SYNs are retried after 1, 3, 7 … s, which would make set-up times meaningless.
fn connect_in_batches<S: BenchSocket>(
    socks: &mut [S],
    p: &PeerOpts,
    hello: &[u8],
) -> Result<(), String> {
    let ep = p.endpoint()?;
    for batch in socks.chunks_mut(p.connect_batch.max(1)) {
        for s in batch.iter_mut() {
            s.set_rcvtimeo(SCALE_RX_TIMEOUT_MS)?;
            s.connect(ep)?;
            s.send(hello)?;
        }
        for s in batch.iter_mut() {
            s.recv()?;
        }
    }
    Ok(())
}

fn idle_client<S: BenchSocket>(
    mut make: impl FnMut(Kind) -> Result<S, String>,
    p: &PeerOpts,
) -> Result<(), String> {
    let (rss_before, fds_before) = (vm_rss_kib(), fd_count());
    let mut socks = (0..p.conns)
        .map(|_| make(Kind::Dealer))
        .collect::<Result<Vec<S>, String>>()?;
    let mut hello = vec![0u8; p.size];
    hello[0] = WARMUP;
    connect_in_batches(&mut socks, p, &hello)?;
    emit(&format!(
        "RESULT rss_before_kib={rss_before} rss_after_kib={} fds_before={fds_before} fds_after={}",
        vm_rss_kib(),
        fd_count()
    ))?;
    if let Some(s) = socks.last_mut() {
        s.drive_until_parent()?;
    }
    wait_for_parent();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse;
    use super::*;

    #[test]
    fn peer_args_round_trip() {
        let cfg = parse("").expect("parses");
        let imp = Impl::parse("ringlink-uring-inline").expect("known");
        let p = PeerOpts::new(&cfg, "fanin-send", imp, 7, 9).to("tcp://127.0.0.1:5");
        let back = PeerOpts::from_args(&p.to_args()[1..]).expect("round trip");
        assert_eq!(back, p);
        assert_eq!(back.role, "fanin-send");
        assert_eq!(back.imp, imp);
        assert_eq!((back.conns, back.msgs), (7, 9));
        assert_eq!(back.endpoint.as_deref(), Some("tcp://127.0.0.1:5"));
        assert!(is_peer_role(&p.to_args()[1]));
        let p = PeerOpts::new(&cfg, fanout::SUB_ROLE, imp, 100, 20)
            .to("tcp://127.0.0.1:5")
            .sync("tcp://127.0.0.1:6");
        let back = PeerOpts::from_args(&p.to_args()[1..]).expect("round trip");
        assert_eq!(back, p);
        assert_eq!(back.sync_endpoint.as_deref(), Some("tcp://127.0.0.1:6"));
        assert_eq!(back.lat_msgs, 1000);
        assert!(is_peer_role(fanout::PUB_ROLE) && is_peer_role(fanout::SUB_ROLE));
    }

    #[test]
    fn peer_defaults_and_errors() {
        let args = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        let p = PeerOpts::from_args(&args("idle-server --impl libzmq")).expect("parses");
        assert_eq!(p.transport, Transport::Tcp);
        assert_eq!((p.size, p.hwm, p.batch, p.spin_us), (64, 1000, 1024, 0));
        assert_eq!(
            (p.conns, p.msgs, p.connect_batch, p.lat_msgs),
            (1, 1, 100, 0)
        );
        assert_eq!((p.endpoint, p.sync_endpoint), (None, None));
        assert!(PeerOpts::from_args(&args("idle-server")).is_err());
        assert!(PeerOpts::from_args(&args("idle-server --impl libzmq --conns x")).is_err());
        assert!(PeerOpts::from_args(&args("idle-server --impl libzmq --nope 1")).is_err());
    }
}
