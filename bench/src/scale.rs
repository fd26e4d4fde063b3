//! `ringlink-bench scale`: many connections at once.
//!
//! * **fanin**: `--conns` DEALER sockets (one process, one context) connected to one ROUTER
//!   (another process), each sending `--msgs` messages; throughput is measured at the ROUTER.
//! * **fanout**: one XPUB (one process) publishing to `--subs` SUB sockets (another process,
//!   one context); delivery rate and one-way latency (see `scale/fanout.rs`).
//! * **idle**: `--idle-conns` DEALERs (one context per client process) connect to one ROUTER,
//!   each exchanges one hello / reply so the connection is fully set up, and then sits idle;
//!   the RSS growth (`VmRSS` of `/proc/self/status`, before / after, measured inside each
//!   process) is divided by the number of connections.
//!
//! Both ends are always separate processes (the fd limit would not hold 2 × 10,000 sockets
//! in one process). Runs reuse the `compare` machinery: peer processes re-executed with the
//! hidden `__peer` subcommand, a watchdog, interleaved repetitions and paired ratios.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::BufRead;
use std::os::raw::{c_int, c_void};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Serialize, Serializer};

use crate::charts::{self, Chart, Group};
use crate::cli::Opts;
use crate::compare::default_results_root;
use crate::impls::{pairs, Impl, Kind, Library, PairKind, Transport};
use crate::net::{ringlink_context, BenchSocket, RinglinkSocket, SocketConfig, ZmqSocket};
use crate::peer::{announce, emit, exit_with, now_ns, wait_for_parent, Usage, SUBCOMMAND};
use crate::report::{self, Meta};
use crate::runner::{num, parse_kv, with_peers, Metrics, Peer};
use crate::stats::{fmt_num, paired_ratios, Summary};

mod fanout;

const USAGE: &str = "\
usage: ringlink-bench scale [options]

Many-connection tests, ringlink against libzmq (not part of `compare`):
  fanin  --conns DEALER sockets in one process (one context) connect to one ROUTER in
         another process, --connect-batch at a time, each exchanging a warm-up message
         and its echo; then each DEALER sends --msgs messages (round-robin over the
         DEALERs). Throughput is measured up to the ROUTER's last receive.
  fanout one XPUB (its own process) and --subs SUB sockets (another process, one context),
         each subscribed to everything, HWM unlimited (0) on both sides; after every
         subscription has arrived, --fanout-msgs messages as fast as the XPUB takes them
         (deliveries/s), then --lat-msgs closed-loop rounds for one-way latency (the
         send time travels in the message, CLOCK_MONOTONIC). Per-message API only: -batch
         implementations are skipped.
  idle   --idle-conns DEALERs connect to one ROUTER (server process; client processes
         hold the DEALERs, split so that no process exceeds its fd limit, run one after
         the other), --connect-batch at a time; each sends one hello and waits for the
         reply. VmRSS growth of the server and of the clients, per connection, measured
         in each process.

options:
  --tests LIST       fanin,fanout,idle                         [fanin,fanout,idle]
  --impls LIST       implementation names (see `compare --help`)
                                                [ringlink-uring,ringlink-epoll,libzmq]
  --reps N           repetitions (implementations interleaved) [3]
  --conns N          fan-in DEALER connections                 [1000]
  --msgs N           measured messages per DEALER (fan-in)     [200]
  --subs N           fan-out SUB sockets                       [100]
  --fanout-msgs N    fan-out measured messages (each to every SUB)  [20000]
  --lat-msgs N       fan-out timed latency rounds              [1000]
  --size BYTES       message size (>= 9; fanout >= 17)         [64]
  --hwm N            SNDHWM = RCVHWM of every socket           [1000]
  --batch N          messages per send_batch (-batch impls)    [1024]
  --spin-us N        busy-poll time of -spin impls, µs         [50]
  --idle-conns N     idle connections                          [10000]
  --connect-batch N  connections opened before waiting for their replies; keep it
                     <= the listen backlog (100 in both libraries)  [100]
  --transport T      tcp or ipc                                [tcp]
  --timeout-s N      kill a run's processes after N seconds    [120]
  --out DIR          results directory                         [<workspace>/results/<UTC timestamp>]
";

/// First byte of a warm-up / hello and of a measured message.
const WARMUP: u8 = b'W';
const MEASURED: u8 = b'M';
/// Marker + dealer index (u32 LE) + per-dealer sequence number (u32 LE).
const HEADER: usize = 9;
/// Receive timeout of the fan-in ROUTER and the idle clients (connection set-up of
/// thousands of sockets is inside it).
const SCALE_RX_TIMEOUT_MS: i32 = 30_000;
/// File descriptors kept free for everything but connections.
const FD_RESERVE: u64 = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleTest {
    Fanin,
    Fanout,
    Idle,
}

impl ScaleTest {
    pub fn name(self) -> &'static str {
        match self {
            ScaleTest::Fanin => "fanin",
            ScaleTest::Fanout => "fanout",
            ScaleTest::Idle => "idle",
        }
    }

    fn parse(s: &str) -> Option<ScaleTest> {
        [ScaleTest::Fanin, ScaleTest::Fanout, ScaleTest::Idle]
            .into_iter()
            .find(|t| t.name() == s)
    }
}

impl Serialize for ScaleTest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Everything `scale` was asked to do.
#[derive(Serialize)]
pub struct ScaleConfig {
    pub reps: usize,
    pub tests: Vec<ScaleTest>,
    pub impls: Vec<Impl>,
    pub conns: usize,
    pub msgs: u64,
    pub subs: usize,
    pub fanout_msgs: u64,
    pub lat_msgs: u64,
    pub size: usize,
    pub hwm: i32,
    pub batch: usize,
    pub spin_us: u64,
    pub idle_conns: usize,
    pub connect_batch: usize,
    pub transport: Transport,
    #[serde(rename = "timeout_s", serialize_with = "secs")]
    pub timeout: Duration,
    #[serde(skip)]
    pub out: Option<PathBuf>,
}

fn secs<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn parse_list<T>(
    text: &str,
    what: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| parse(t).ok_or_else(|| format!("unknown {what} `{t}`")))
        .collect()
}

impl ScaleConfig {
    fn parse(args: &[String]) -> Result<Option<ScaleConfig>, String> {
        let mut o = Opts::parse(args)?;
        if o.help() {
            print!("{USAGE}");
            return Ok(None);
        }
        let tests = parse_list(
            &o.string("tests")
                .unwrap_or_else(|| "fanin,fanout,idle".into()),
            "test",
            ScaleTest::parse,
        )?;
        let impls = parse_list(
            &o.string("impls")
                .unwrap_or_else(|| "ringlink-uring,ringlink-epoll,libzmq".into()),
            "implementation",
            Impl::parse,
        )?;
        let transport = o.string("transport").unwrap_or_else(|| "tcp".into());
        let c = ScaleConfig {
            reps: o.get("reps", 3)?,
            tests,
            impls,
            conns: o.get("conns", 1000)?,
            msgs: o.get("msgs", 200)?,
            subs: o.get("subs", 100)?,
            fanout_msgs: o.get("fanout-msgs", 20_000)?,
            lat_msgs: o.get("lat-msgs", 1000)?,
            size: o.get("size", 64)?,
            hwm: o.get("hwm", 1000)?,
            batch: o.get("batch", 1024)?,
            spin_us: o.get("spin-us", 50)?,
            idle_conns: o.get("idle-conns", 10_000)?,
            connect_batch: o.get("connect-batch", 100)?,
            transport: Transport::parse(&transport)
                .ok_or_else(|| format!("unknown transport `{transport}`"))?,
            timeout: Duration::from_secs(o.get("timeout-s", 120)?),
            out: o.string("out").map(PathBuf::from),
        };
        o.finish()?;
        if c.tests.is_empty() || c.impls.is_empty() {
            return Err("--tests and --impls must not be empty".into());
        }
        if let Some(i) = c.impls.iter().find(|i| !i.is_ringlink() && !i.is_libzmq()) {
            return Err(format!(
                "scale runs ringlink and libzmq only, not {}",
                i.name
            ));
        }
        if c.reps == 0
            || c.conns == 0
            || c.msgs == 0
            || c.idle_conns == 0
            || c.connect_batch == 0
            || c.batch == 0
            || c.timeout.is_zero()
        {
            return Err("--reps, --conns, --msgs, --idle-conns, --connect-batch, --batch and --timeout-s must be >= 1".into());
        }
        if c.size < HEADER {
            return Err(format!("--size must be >= {HEADER}"));
        }
        if c.tests.contains(&ScaleTest::Fanout) {
            if c.subs == 0 || c.fanout_msgs == 0 || c.lat_msgs == 0 {
                return Err("--subs, --fanout-msgs and --lat-msgs must be >= 1".into());
            }
            if c.size < fanout::MIN_SIZE {
                return Err(format!("fanout needs --size >= {}", fanout::MIN_SIZE));
            }
        }
        if u32::try_from(c.conns).is_err() || u32::try_from(c.msgs).is_err() {
            return Err("--conns and --msgs must fit in 32 bits".into());
        }
        Ok(Some(c))
    }

    /// The implementations `test` runs, in interleaving order. The fan-out roles use the
    /// per-message API only, so `-batch` implementations are left out there.
    fn impls_for(&self, test: ScaleTest) -> Vec<Impl> {
        self.impls
            .iter()
            .copied()
            .filter(|i| test != ScaleTest::Fanout || !i.batch)
            .collect()
    }
}

/// Metric columns (key, header) per test; the first is the headline.
fn columns(test: ScaleTest) -> &'static [(&'static str, &'static str)] {
    match test {
        ScaleTest::Fanin => &[
            ("e2e_kmsg_s", "e2e Kmsg/s"),
            ("rx_kmsg_s", "rx Kmsg/s"),
            ("tx_kmsg_s", "tx Kmsg/s"),
            ("cpu_ns_msg", "CPU ns/msg"),
            ("connect_ms", "connect ms"),
            ("rss_rx_mib", "peak RSS rx MiB"),
            ("rss_tx_mib", "peak RSS tx MiB"),
        ],
        ScaleTest::Fanout => &[
            ("deliv_kmsg_s", "deliveries Kmsg/s"),
            ("per_sub_kmsg_s", "per SUB Kmsg/s"),
            ("tx_kmsg_s", "XPUB send Kmsg/s"),
            ("cpu_ns_deliv", "CPU ns/delivery"),
            ("lat_p50_us", "latency p50 µs"),
            ("lat_p99_us", "latency p99 µs"),
            ("lat_first_p50_us", "first SUB p50 µs"),
            ("lat_last_p50_us", "last SUB p50 µs"),
            ("connect_ms", "connect ms"),
            ("rss_pub_mib", "peak RSS pub MiB"),
            ("rss_sub_mib", "peak RSS sub MiB"),
        ],
        ScaleTest::Idle => &[
            ("srv_kib_conn", "server KiB/conn"),
            ("cli_kib_conn", "client KiB/conn"),
            ("cli_fds_conn", "client fds/conn"),
            ("setup_s", "setup s"),
            ("client_procs", "client procs"),
        ],
    }
}

/// Metrics compared by paired ratios.
fn ratio_columns(test: ScaleTest) -> &'static [(&'static str, &'static str)] {
    match test {
        ScaleTest::Fanin => &[
            ("e2e_kmsg_s", "e2e Kmsg/s"),
            ("rx_kmsg_s", "rx Kmsg/s"),
            ("cpu_ns_msg", "CPU/msg"),
            ("connect_ms", "connect"),
        ],
        ScaleTest::Fanout => &[
            ("deliv_kmsg_s", "deliveries/s"),
            ("cpu_ns_deliv", "CPU/delivery"),
            ("lat_p50_us", "latency p50"),
            ("lat_p99_us", "latency p99"),
        ],
        ScaleTest::Idle => &[
            ("srv_kib_conn", "server KiB/conn"),
            ("cli_kib_conn", "client KiB/conn"),
            ("setup_s", "setup"),
        ],
    }
}

/// One run.
#[derive(Serialize)]
struct Row {
    test: ScaleTest,
    #[serde(rename = "impl")]
    imp: Impl,
    rep: usize,
    seconds: f64,
    #[serde(skip)]
    outcome: Result<Metrics, String>,
}

pub fn run(args: &[String]) -> Result<(), String> {
    let Some(cfg) = ScaleConfig::parse(args)? else {
        return Ok(());
    };
    let started = report::utc_timestamp();
    let out_dir = cfg
        .out
        .clone()
        .unwrap_or_else(|| default_results_root().join(&started));
    let total: usize = cfg
        .tests
        .iter()
        .map(|&t| cfg.impls_for(t).len() * cfg.reps)
        .sum();
    if cfg.tests.contains(&ScaleTest::Fanout)
        && cfg.impls_for(ScaleTest::Fanout).len() < cfg.impls.len()
    {
        eprintln!(
            "note: fanout uses the per-message API; -batch implementations are skipped there"
        );
    }
    eprintln!(
        "ringlink-bench scale: {total} runs ({} reps) over {}, HWM {} (fanout: 0, unlimited), watchdog {} s",
        cfg.reps,
        cfg.transport.name(),
        cfg.hwm,
        cfg.timeout.as_secs()
    );
    let session = Instant::now();
    let mut rows = Vec::new();
    for &test in &cfg.tests {
        for rep in 0..cfg.reps {
            for imp in cfg.impls_for(test) {
                let t = Instant::now();
                let outcome = match test {
                    ScaleTest::Fanin => fanin(&cfg, imp),
                    ScaleTest::Fanout => fanout::run(&cfg, imp),
                    ScaleTest::Idle => idle(&cfg, imp),
                };
                let row = Row {
                    test,
                    imp,
                    rep,
                    seconds: t.elapsed().as_secs_f64(),
                    outcome,
                };
                eprintln!(
                    "[{} {}/{}] {:<27} {} [{}/{total}, {:.0} s]",
                    test.name(),
                    rep + 1,
                    cfg.reps,
                    imp.name,
                    progress(&row),
                    rows.len() + 1,
                    session.elapsed().as_secs_f64()
                );
                rows.push(row);
            }
        }
    }
    let meta = Meta::collect(&started);
    let md = markdown(&meta, &cfg, &rows);
    print!("{md}");
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| format!("creating {}: {e}", out_dir.display()))?;
    for (name, text) in [("scale.md", md), ("scale.json", json(&meta, &cfg, &rows)?)] {
        let path = out_dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    charts::write_all(&out_dir.join("charts"), &scale_charts(&cfg, &rows))?;
    eprintln!("results written to {}", out_dir.display());
    Ok(())
}

fn progress(r: &Row) -> String {
    match &r.outcome {
        Err(e) => format!("FAILED ({:.2} s): {e}", r.seconds),
        Ok(m) => {
            let body: Vec<String> = columns(r.test)
                .iter()
                .filter_map(|(k, h)| {
                    m.iter()
                        .find(|(n, _)| n == k)
                        .map(|(_, v)| format!("{h} {}", fmt_num(*v)))
                })
                .collect();
            format!("{}  ({:.2} s)", body.join("  "), r.seconds)
        }
    }
}

// ----- parent side ----------------------------------------------------------------------

/// Arguments of one scale peer process (round-tripped through argv).
#[derive(Debug, Clone)]
struct PeerOpts {
    role: String,
    imp: Impl,
    transport: Transport,
    size: usize,
    hwm: i32,
    batch: usize,
    spin_us: u64,
    /// fanin: DEALERs; idle: connections of this process.
    conns: usize,
    /// fanin: messages per DEALER.
    msgs: u64,
    /// Connections opened before waiting for their echo.
    connect_batch: usize,
    /// fanout: timed latency rounds.
    lat_msgs: u64,
    endpoint: Option<String>,
    /// fanout: the publisher's side channel.
    sync_endpoint: Option<String>,
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
    fn new(cfg: &ScaleConfig, role: &str, imp: Impl, conns: usize, msgs: u64) -> PeerOpts {
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

    fn to(mut self, endpoint: &str) -> PeerOpts {
        self.endpoint = Some(endpoint.to_string());
        self
    }

    fn sync(mut self, endpoint: &str) -> PeerOpts {
        self.sync_endpoint = Some(endpoint.to_string());
        self
    }

    fn to_args(&self) -> Vec<String> {
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

    fn from_args(args: &[String]) -> Result<PeerOpts, String> {
        let (role, rest) = args.split_first().ok_or("peer: missing role")?;
        let mut o = Opts::parse(rest)?;
        let imp = o.string("impl").ok_or("peer: --impl missing")?;
        let imp = Impl::parse(&imp).ok_or_else(|| format!("peer: unknown impl `{imp}`"))?;
        let transport = o.string("transport").unwrap_or_else(|| "tcp".into());
        let p = PeerOpts {
            role: role.clone(),
            imp,
            transport: Transport::parse(&transport)
                .ok_or_else(|| format!("peer: unknown transport `{transport}`"))?,
            size: o.get("size", 64)?,
            hwm: o.get("hwm", 1000)?,
            batch: o.get("batch", 1024)?,
            spin_us: o.get("spin-us", 0)?,
            conns: o.get("conns", 1)?,
            msgs: o.get("msgs", 1)?,
            connect_batch: o.get("connect-batch", 100)?,
            lat_msgs: o.get("lat-msgs", 0)?,
            endpoint: o.string("endpoint"),
            sync_endpoint: o.string("sync-endpoint"),
        };
        o.finish()?;
        Ok(p)
    }

    /// The idle test never uses the batch API: its receive buffers (1 MiB per socket)
    /// would be counted as per-connection memory.
    fn socket_config(&self, kind: Kind) -> SocketConfig {
        SocketConfig {
            kind,
            routing_id: None,
            send_to: None,
            hwm: self.hwm,
            size: self.size,
            batch: self.imp.batch && self.role.starts_with("fanin"),
            spin: self.imp.spin.then(|| Duration::from_micros(self.spin_us)),
            inline: self.imp.inline,
            plain: self.imp.plain,
        }
    }

    fn endpoint(&self) -> Result<&str, String> {
        self.endpoint
            .as_deref()
            .ok_or_else(|| "peer: --endpoint missing".to_string())
    }
}

/// One fan-in run: ROUTER receiver process, one sender process holding every DEALER.
fn fanin(cfg: &ScaleConfig, imp: Impl) -> Result<Metrics, String> {
    with_peers(cfg.timeout, |g| {
        let mut rx = g.spawn(
            "receiver",
            &PeerOpts::new(cfg, "fanin-recv", imp, cfg.conns, cfg.msgs).to_args(),
            false,
        )?;
        let ep = rx.value("ENDPOINT")?;
        let t = Instant::now();
        let mut tx = g.spawn(
            "sender",
            &PeerOpts::new(cfg, "fanin-send", imp, cfg.conns, cfg.msgs)
                .to(&ep)
                .to_args(),
            true,
        )?;
        rx.value("READY")?;
        let connect_ms = t.elapsed().as_secs_f64() * 1e3;
        tx.tell("GO")?;
        let r = parse_kv(&rx.value("RESULT")?);
        let rx_usage = rx.usage()?;
        let s = parse_kv(&tx.value("RESULT")?);
        tx.release();
        let tx_usage = tx.usage()?;

        let total = cfg.conns as f64 * cfg.msgs as f64;
        let (received, lost, ooo) = (
            num(&r, "received")?,
            num(&r, "lost")?,
            num(&r, "out_of_order")?,
        );
        if lost > 0.0 || ooo > 0.0 {
            return Err(format!(
                "lost {lost} of {total} messages, {ooo} out of sequence"
            ));
        }
        let (rx_first, rx_last) = (num(&r, "rx_first_ns")?, num(&r, "rx_last_ns")?);
        let (tx_first, tx_last) = (num(&s, "tx_first_ns")?, num(&s, "tx_last_ns")?);
        let rate = |n: f64, from: f64, to: f64| {
            if to > from {
                Ok(n / ((to - from) / 1e9) / 1e3)
            } else {
                Err("measurement window is empty (use a larger --msgs)".to_string())
            }
        };
        let moved = cfg.conns as f64 * (cfg.msgs as f64 + 1.0);
        Ok(vec![
            ("rx_kmsg_s", rate(received, rx_first, rx_last)?),
            ("e2e_kmsg_s", rate(received, tx_first, rx_last)?),
            ("tx_kmsg_s", rate(total, tx_first, tx_last)?),
            (
                "cpu_ns_msg",
                (rx_usage.cpu_us + tx_usage.cpu_us) * 1e3 / moved,
            ),
            ("connect_ms", connect_ms),
            ("rss_rx_mib", rx_usage.maxrss_kib / 1024.0),
            ("rss_tx_mib", tx_usage.maxrss_kib / 1024.0),
        ])
    })
}

/// File descriptors a client connection (one DEALER socket with one connection) costs:
/// ringlink 2 (the TCP socket, and the eventfd of the socket's parker; the context's own fds
/// are per context), libzmq 3 (the TCP socket plus the socket's mailbox signaler, a
/// socketpair in the bundled build, which does not enable eventfd). Measured: the report's
/// `client fds/conn` column.
fn fds_per_conn(imp: Impl) -> u64 {
    if imp.is_libzmq() {
        3
    } else {
        2
    }
}

/// The hard RLIMIT_NOFILE (peers raise their soft limit to it).
fn nofile_hard_limit() -> u64 {
    // SAFETY: an all-zero rlimit is a valid value for getrlimit to overwrite.
    let mut rl: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: `rl` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return 1024;
    }
    rl.rlim_max
}

/// One idle-memory run: a ROUTER server process and as many DEALER client processes as
/// the fd limit requires.
fn idle(cfg: &ScaleConfig, imp: Impl) -> Result<Metrics, String> {
    let limit = nofile_hard_limit();
    let n = cfg.idle_conns;
    if n as u64 + FD_RESERVE > limit {
        return Err(format!(
            "{n} connections need more than the hard fd limit {limit} in the server process"
        ));
    }
    let per_proc = ((limit - FD_RESERVE) / fds_per_conn(imp)).max(1) as usize;
    let procs = n.div_ceil(per_proc);
    with_peers(cfg.timeout, |g| {
        let mut server = g.spawn(
            "server",
            &PeerOpts::new(cfg, "idle-server", imp, n, 0).to_args(),
            true,
        )?;
        let ep = server.value("ENDPOINT")?;
        let t = Instant::now();
        let mut clients: Vec<Peer> = Vec::new();
        let mut cli = [0.0f64; 2]; // KiB growth, fd growth
                                   // One after the other, so that connection bursts stay within --connect-batch.
        for i in 0..procs {
            let share = n / procs + usize::from(i < n % procs);
            let args = PeerOpts::new(cfg, "idle-client", imp, share, 0)
                .to(&ep)
                .to_args();
            let mut c = g.spawn("client", &args, true)?;
            let kv = parse_kv(&c.value("RESULT")?);
            cli[0] += num(&kv, "rss_after_kib")? - num(&kv, "rss_before_kib")?;
            cli[1] += num(&kv, "fds_after")? - num(&kv, "fds_before")?;
            clients.push(c);
        }
        let setup_s = t.elapsed().as_secs_f64();
        let s = parse_kv(&server.value("RESULT")?);
        let srv = num(&s, "rss_after_kib")? - num(&s, "rss_before_kib")?;
        server.release();
        for c in &mut clients {
            c.release();
        }
        let n = n as f64;
        Ok(vec![
            ("srv_kib_conn", srv / n),
            ("cli_kib_conn", cli[0] / n),
            ("cli_fds_conn", cli[1] / n),
            ("setup_s", setup_s),
            ("client_procs", procs as f64),
            ("srv_rss_before_kib", num(&s, "rss_before_kib")?),
            ("srv_rss_after_kib", num(&s, "rss_after_kib")?),
        ])
    })
}

// ----- peer side ------------------------------------------------------------------------

/// A libzmq context made with the raw API: the `zmq` crate cannot set ZMQ_MAX_SOCKETS
/// (default 1023), which thousands of sockets need. Never terminated (peers exit without
/// teardown).
struct RawZmq(*mut c_void);

impl RawZmq {
    fn new(max_sockets: usize) -> Result<RawZmq, String> {
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
    fn socket_of_type(&self, ty: u32) -> Result<zmq::Socket, String> {
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
                p.imp.plain,
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

// ----- report -----------------------------------------------------------------------------

fn title(test: ScaleTest, cfg: &ScaleConfig) -> String {
    match test {
        ScaleTest::Fanin => format!(
            "Fan-in: {} DEALERs → 1 ROUTER over {}, {} × {} B per DEALER",
            cfg.conns,
            cfg.transport.name(),
            cfg.msgs,
            cfg.size
        ),
        ScaleTest::Fanout => format!(
            "Fan-out: 1 XPUB → {} SUBs over {}, {} × {} B, HWM unlimited",
            cfg.subs,
            cfg.transport.name(),
            cfg.fanout_msgs,
            cfg.size
        ),
        ScaleTest::Idle => format!(
            "Idle connections: {} DEALERs → 1 ROUTER over {}, RSS growth per connection",
            cfg.idle_conns,
            cfg.transport.name()
        ),
    }
}

fn note(test: ScaleTest, cfg: &ScaleConfig) -> String {
    match test {
        ScaleTest::Fanin => format!(
            "Receiver: one ROUTER (its own process). Sender: one process, one context, {n} \
             DEALER sockets, one connection each. Set-up: {b} DEALERs at a time connect and \
             send a warm-up message, which the ROUTER echoes; the next {b} start once every \
             echo arrived (`connect ms`: sender start to the last echo). Then the sender sends \
             round-robin, one message (or one `--batch` for `-batch`) per DEALER per round. \
             e2e (the headline) = measured messages / (sender's first measured send → \
             ROUTER's last receive). rx = the same over the first → last arrival at the \
             ROUTER: with room for {n} × HWM {h} messages in the pipes, much of the load can \
             be queued before the ROUTER sees its first measured message, so rx can be a \
             queue-drain rate. CPU ns/msg = user + sys of both processes from socket open to \
             the end / messages (warm-ups included). Inline sender: I/O happens where \
             ringlink's policy does it (every 256 messages of a socket, blocking waits), plus \
             one flush of every socket at the end, inside the timed window.",
            n = cfg.conns,
            b = cfg.connect_batch,
            h = cfg.hwm
        ),
        ScaleTest::Fanout => format!(
            "Publisher: one XPUB (XPUB_VERBOSE) in its own process. Subscribers: {n} SUB \
             sockets subscribed to \"\" in one process, one context. SNDHWM = RCVHWM = 0 \
             (unlimited) on the XPUB and every SUB, so nothing is dropped; every SUB checks \
             every message's marker and sequence number, and a lost or reordered message \
             fails the run. Set-up: {b} SUBs at a time connect; over a PAIR side channel the \
             subscriber tells the publisher how many subscriptions to expect and waits until \
             the XPUB has counted them (`\\x01` notifications), so no message is sent before \
             every SUB is attached (`connect ms`: subscriber start to the last one). \
             Throughput: {w} warm-up messages, then {m} measured ones sent back to back; the \
             subscriber reads round-robin (message k from SUB 0 … {last}, then k + 1). \
             deliveries (the headline) = {n} × {m} / (XPUB's first measured send → last \
             SUB's last receive); per SUB = the same / {n}; XPUB send = {m} / the send loop. \
             CPU ns/delivery = user + sys of both processes from socket open to the end of \
             the throughput phase / deliveries (warm-up included). Latency: then {lw} untimed \
             and {l} timed closed-loop rounds: the publisher writes CLOCK_MONOTONIC into a \
             message and sends it, the subscriber takes the clock after each SUB's receive and \
             acknowledges on the side channel once all {n} have it. latency p50/p99 = over \
             all {n} × {l} deliveries; first / last SUB = the p50 of SUB 0 (the first read \
             after the wake-up) and of SUB {last} (= until every SUB has the message). One \
             thread reads all SUBs, so SUB i's latency includes reading SUBs 0 … i − 1. \
             Per-message API only (`-batch` implementations are not run).",
            n = cfg.subs,
            last = cfg.subs - 1,
            b = cfg.connect_batch.min(cfg.subs),
            w = fanout::WARMUP_MSGS,
            m = cfg.fanout_msgs,
            lw = fanout::LAT_WARMUP,
            l = cfg.lat_msgs,
        ),
        ScaleTest::Idle => format!(
            "Server: one ROUTER in its own process. Clients: DEALER sockets, one connection \
             each, in as few processes as the hard fd limit allows (a DEALER with one \
             connection needs 2 fds in ringlink: the TCP socket and the socket's eventfd \
             parker; 3 in libzmq: the TCP socket and the socket's socketpair signaler), run \
             one after the other; each client process has one context. Connections are set \
             up {b} at a time: each DEALER sends one {size} B hello, the server echoes it, and \
             the next {b} start once every echo arrived. Per-message API only (`-batch` \
             changes nothing here). KiB/conn = (VmRSS after − VmRSS before) / connections, \
             measured inside each process: server before = after bind, client before = after \
             context creation; after = once every connection has exchanged its hello. \
             Server and clients are separate processes, so the two columns do not overlap.",
            b = cfg.connect_batch,
            size = cfg.size
        ),
    }
}

fn series(rows: &[Row], test: ScaleTest, imp: Impl, key: &str, reps: usize) -> Vec<Option<f64>> {
    let mut v = vec![None; reps];
    for r in rows.iter().filter(|r| r.test == test && r.imp == imp) {
        if let (Ok(m), Some(slot)) = (&r.outcome, v.get_mut(r.rep)) {
            *slot = m
                .iter()
                .find(|(k, _)| *k == key)
                .map(|&(_, x)| x)
                .filter(|x| x.is_finite());
        }
    }
    v
}

fn summary_of(v: &[Option<f64>]) -> Option<Summary> {
    Summary::of(&v.iter().flatten().copied().collect::<Vec<_>>())
}

fn cell(s: Option<Summary>) -> String {
    s.map_or_else(|| "–".to_string(), |s| s.display())
}

fn markdown(meta: &Meta, cfg: &ScaleConfig, rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# ringlink-bench scale, {}\n", meta.timestamp);
    let m = &meta.machine;
    let _ = writeln!(
        s,
        "SNDHWM = RCVHWM = {} on every socket (fanout: 0, unlimited); 1 I/O thread per context (libzmq, threaded \
         ringlink) or none (`-inline`). {} repetitions, implementations interleaved. libzmq {} \
         (bundled). Machine: cpu: {}; nproc: {}; kernel: {}; os: {}. Cells are median \
         [min–max]; ratios are paired per repetition.\n",
        cfg.hwm, cfg.reps, meta.libzmq, m.cpu, m.nproc, m.kernel, m.os
    );
    for &test in &cfg.tests {
        let cols = columns(test);
        let _ = writeln!(s, "## {}\n\n{}\n", title(test, cfg), note(test, cfg));
        let _ = write!(s, "| implementation | ok |");
        for (_, h) in cols {
            let _ = write!(s, " {h} |");
        }
        let _ = write!(s, "\n|---|---:|{}\n", "---:|".repeat(cols.len()));
        let impls = cfg.impls_for(test);
        for &imp in &impls {
            let ok = series(rows, test, imp, cols[0].0, cfg.reps)
                .iter()
                .flatten()
                .count();
            let _ = write!(s, "| {} | {ok}/{} |", imp.name, cfg.reps);
            for (k, _) in cols {
                let _ = write!(
                    s,
                    " {} |",
                    cell(summary_of(&series(rows, test, imp, k, cfg.reps)))
                );
            }
            s.push('\n');
        }
        let pairs = pairs(&impls);
        if !pairs.is_empty() {
            let rcols = ratio_columns(test);
            let _ = write!(
                s,
                "\nPaired ratios A / B (rates: > 1 = A faster; CPU, time and memory: < 1 = A \
                 uses less):\n\n| comparison | A / B |"
            );
            for (_, h) in rcols {
                let _ = write!(s, " {h} |");
            }
            let _ = write!(s, " n |\n|---|---|{}\n", "---:|".repeat(rcols.len() + 1));
            let mut group = None;
            for (kind, a, b) in pairs {
                let label = if group == Some(kind) {
                    ""
                } else {
                    kind.label()
                };
                group = Some(kind);
                let short = |i: Impl| i.name.strip_prefix("ringlink-").unwrap_or(i.name);
                let _ = write!(s, "| {label} | {} / {} |", short(a), short(b));
                let mut n = 0;
                for (k, _) in rcols {
                    let r = paired_ratios(
                        &series(rows, test, a, k, cfg.reps),
                        &series(rows, test, b, k, cfg.reps),
                    );
                    n = n.max(r.len());
                    let _ = write!(s, " {} |", cell(Summary::of(&r)));
                }
                let _ = writeln!(s, " {n} |");
            }
        }
        s.push('\n');
    }
    let failed: Vec<&Row> = rows.iter().filter(|r| r.outcome.is_err()).collect();
    if !failed.is_empty() {
        let _ = writeln!(s, "## Failed runs\n");
        for r in failed {
            if let Err(e) = &r.outcome {
                let _ = writeln!(
                    s,
                    "* {} rep {} {}: {e}",
                    r.test.name(),
                    r.rep + 1,
                    r.imp.name
                );
            }
        }
        s.push('\n');
    }
    s
}

/// A chart of `scale`: file-name suffix, value-axis label, (metric key, series name)s.
type ChartSpec = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// The charts of a session: per test, its headline metrics as bars (median, whiskers
/// min–max over the repetitions), one group per implementation.
fn scale_charts(cfg: &ScaleConfig, rows: &[Row]) -> Vec<(String, Chart)> {
    let mut out = Vec::new();
    for &test in &cfg.tests {
        let specs: &[ChartSpec] = match test {
            ScaleTest::Fanin => &[(
                "",
                "e2e Kmsg/s (higher is better)",
                &[("e2e_kmsg_s", "e2e Kmsg/s")],
            )],
            ScaleTest::Fanout => &[
                (
                    "-throughput",
                    "deliveries Kmsg/s (higher is better)",
                    &[("deliv_kmsg_s", "deliveries Kmsg/s")],
                ),
                (
                    "-latency",
                    "one-way latency µs (lower is better)",
                    &[
                        ("lat_p50_us", "p50, all SUBs"),
                        ("lat_p99_us", "p99, all SUBs"),
                        ("lat_last_p50_us", "p50, last SUB"),
                    ],
                ),
            ],
            ScaleTest::Idle => &[(
                "",
                "KiB per connection (lower is better)",
                &[
                    ("srv_kib_conn", "server KiB/conn"),
                    ("cli_kib_conn", "client KiB/conn"),
                ],
            )],
        };
        for &(suffix, y_label, metrics) in specs {
            let groups = cfg
                .impls_for(test)
                .into_iter()
                .map(|imp| {
                    let ok = series(rows, test, imp, columns(test)[0].0, cfg.reps)
                        .iter()
                        .flatten()
                        .count();
                    Group {
                        label: charts::run_label(imp.name, ok, cfg.reps),
                        color: charts::impl_color(imp.name),
                        bars: metrics
                            .iter()
                            .map(|(k, _)| summary_of(&series(rows, test, imp, k, cfg.reps)))
                            .collect(),
                    }
                })
                .collect();
            out.push((
                format!("scale-{}{suffix}", test.name()),
                Chart {
                    title: title(test, cfg),
                    subtitle: format!(
                        "bar: median of {} repetitions, whisker: min–max; implementations interleaved",
                        cfg.reps
                    ),
                    y_label: y_label.to_string(),
                    series: metrics.iter().map(|(_, n)| n.to_string()).collect(),
                    groups,
                },
            ));
        }
    }
    out
}

#[derive(Serialize)]
struct ScaleJson<'a> {
    #[serde(flatten)]
    meta: &'a Meta,
    config: &'a ScaleConfig,
    runs: Vec<RunJson<'a>>,
    summary: Vec<TestJson>,
}

#[derive(Serialize)]
struct RunJson<'a> {
    #[serde(flatten)]
    row: &'a Row,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    metrics: Option<BTreeMap<&'static str, f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

#[derive(Serialize)]
struct TestJson {
    test: ScaleTest,
    impls: Vec<ImplJson>,
    ratios: Vec<RatioJson>,
}

#[derive(Serialize)]
struct ImplJson {
    #[serde(rename = "impl")]
    imp: Impl,
    ok: usize,
    metrics: BTreeMap<&'static str, Option<Summary>>,
}

#[derive(Serialize)]
struct RatioJson {
    kind: PairKind,
    a: Impl,
    b: Impl,
    metric: &'static str,
    paired: Option<Summary>,
}

fn json(meta: &Meta, cfg: &ScaleConfig, rows: &[Row]) -> Result<String, String> {
    let runs = rows
        .iter()
        .map(|r| RunJson {
            row: r,
            ok: r.outcome.is_ok(),
            metrics: r
                .outcome
                .as_ref()
                .ok()
                .map(|m| m.iter().map(|&(k, v)| (k, v)).collect()),
            error: r.outcome.as_ref().err().map(String::as_str),
        })
        .collect();
    let summary = cfg
        .tests
        .iter()
        .map(|&test| TestJson {
            test,
            impls: cfg
                .impls_for(test)
                .into_iter()
                .map(|imp| ImplJson {
                    imp,
                    ok: series(rows, test, imp, columns(test)[0].0, cfg.reps)
                        .iter()
                        .flatten()
                        .count(),
                    metrics: columns(test)
                        .iter()
                        .map(|&(k, _)| (k, summary_of(&series(rows, test, imp, k, cfg.reps))))
                        .collect(),
                })
                .collect(),
            ratios: pairs(&cfg.impls_for(test))
                .into_iter()
                .flat_map(|(kind, a, b)| {
                    ratio_columns(test)
                        .iter()
                        .map(move |&(metric, _)| RatioJson {
                            kind,
                            a,
                            b,
                            metric,
                            paired: Summary::of(&paired_ratios(
                                &series(rows, test, a, metric, cfg.reps),
                                &series(rows, test, b, metric, cfg.reps),
                            )),
                        })
                })
                .collect(),
        })
        .collect();
    serde_json::to_string_pretty(&ScaleJson {
        meta,
        config: cfg,
        runs,
        summary,
    })
    .map(|mut s| {
        s.push('\n');
        s
    })
    .map_err(|e| format!("scale.json: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn defaults_and_options() {
        let c = ScaleConfig::parse(&[]).expect("parses").expect("not help");
        assert_eq!(
            c.tests,
            [ScaleTest::Fanin, ScaleTest::Fanout, ScaleTest::Idle]
        );
        assert_eq!(
            c.impls.iter().map(|i| i.name).collect::<Vec<_>>(),
            ["ringlink-uring", "ringlink-epoll", "libzmq"]
        );
        assert_eq!(
            (c.conns, c.msgs, c.idle_conns, c.reps),
            (1000, 200, 10_000, 3)
        );
        let c = ScaleConfig::parse(&args("--tests idle --idle-conns 50 --transport ipc"))
            .expect("parses")
            .expect("not help");
        assert_eq!(c.tests, [ScaleTest::Idle]);
        assert_eq!(c.transport, Transport::Ipc);
        assert!(ScaleConfig::parse(&args("--size 4")).is_err());
        assert_eq!((c.subs, c.fanout_msgs, c.lat_msgs), (100, 20_000, 1000));
        assert!(ScaleConfig::parse(&args("--tests fanout --size 16")).is_err());
        assert!(ScaleConfig::parse(&args("--tests fanin --size 16")).is_ok());
        assert!(ScaleConfig::parse(&args("--tests fanout --subs 0")).is_err());
        assert!(ScaleConfig::parse(&args("--tests fanio")).is_err());
    }

    #[test]
    fn peer_args_round_trip() {
        let cfg = ScaleConfig::parse(&[]).expect("parses").expect("not help");
        let imp = Impl::parse("ringlink-uring-inline").expect("known");
        let p = PeerOpts::new(&cfg, "fanin-send", imp, 7, 9).to("tcp://127.0.0.1:5");
        let back = PeerOpts::from_args(&p.to_args()[1..]).expect("round trip");
        assert_eq!(back.role, "fanin-send");
        assert_eq!(back.imp, imp);
        assert_eq!((back.conns, back.msgs), (7, 9));
        assert_eq!(back.endpoint.as_deref(), Some("tcp://127.0.0.1:5"));
        assert!(is_peer_role(&p.to_args()[1]));
        let p = PeerOpts::new(&cfg, fanout::SUB_ROLE, imp, 100, 20)
            .to("tcp://127.0.0.1:5")
            .sync("tcp://127.0.0.1:6");
        let back = PeerOpts::from_args(&p.to_args()[1..]).expect("round trip");
        assert_eq!(back.sync_endpoint.as_deref(), Some("tcp://127.0.0.1:6"));
        assert_eq!(back.lat_msgs, 1000);
        assert!(is_peer_role(fanout::PUB_ROLE) && is_peer_role(fanout::SUB_ROLE));
    }

    #[test]
    fn fanout_skips_batch_implementations() {
        let c = ScaleConfig::parse(&args(
            "--impls ringlink-uring,ringlink-uring-batch,ringlink-epoll-inline-batch,libzmq",
        ))
        .expect("parses")
        .expect("not help");
        let names = |t| -> Vec<&str> { c.impls_for(t).iter().map(|i| i.name).collect() };
        assert_eq!(names(ScaleTest::Fanout), ["ringlink-uring", "libzmq"]);
        assert_eq!(names(ScaleTest::Fanin).len(), 4);
    }

    #[test]
    fn charts_per_test_from_rows() {
        let c = ScaleConfig::parse(&args("--impls ringlink-uring,libzmq --reps 2"))
            .expect("parses")
            .expect("not help");
        let mut rows = Vec::new();
        for test in [ScaleTest::Fanin, ScaleTest::Fanout, ScaleTest::Idle] {
            for rep in 0..2 {
                for imp in c.impls_for(test) {
                    let outcome = if imp.is_libzmq() && rep == 1 {
                        Err("timed out".to_string())
                    } else {
                        Ok(columns(test)
                            .iter()
                            .map(|&(k, _)| (k, 10.0 + rep as f64))
                            .collect())
                    };
                    rows.push(Row {
                        test,
                        imp,
                        rep,
                        seconds: 1.0,
                        outcome,
                    });
                }
            }
        }
        let charts = scale_charts(&c, &rows);
        let stems: Vec<&str> = charts.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(
            stems,
            [
                "scale-fanin",
                "scale-fanout-throughput",
                "scale-fanout-latency",
                "scale-idle"
            ]
        );
        for (_, chart) in &charts {
            let svg = charts::render_svg(chart);
            crate::charts::tests::assert_well_formed(&svg);
            assert!(svg.contains(">ringlink-uring</text>"));
            assert!(svg.contains(">libzmq (1/2 ok)</text>"));
        }
        let latency = charts::render_svg(&charts[2].1);
        assert_eq!(latency.matches(r#"class="bar""#).count(), 6);
        assert!(latency.contains("median 10.5 [min 10.0 – max 11.0], 2 runs"));
    }

    #[test]
    fn fds_per_connection() {
        assert_eq!(fds_per_conn(Impl::LIBZMQ), 3);
        let epoll = Impl::parse("ringlink-epoll").expect("known");
        assert_eq!(fds_per_conn(epoll), 2);
    }
}
