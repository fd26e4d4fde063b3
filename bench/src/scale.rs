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

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use serde::{Serialize, Serializer};

use crate::charts;
use crate::cli;
use crate::compare::default_results_root;
use crate::impls::{Impl, Transport};
use crate::report::{utc_timestamp, Meta};
use crate::runner::{num, parse_kv, with_peers, Metrics, Peer};
use crate::stats::fmt_num;

mod fanout;
mod peers;
mod report;

use peers::PeerOpts;
pub use peers::{is_peer_role, peer_main};

/// The description `scale --help` starts with.
pub const LONG_ABOUT: &str = "\
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
         in each process.";

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

/// Everything `scale` was asked to do: its command-line options.
#[derive(Args, Serialize)]
pub struct ScaleConfig {
    /// Repetitions (implementations interleaved)
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub reps: usize,
    /// fanin,fanout,idle
    #[arg(long, value_name = "LIST", default_value = "fanin,fanout,idle",
          value_parser = cli::list("test", ScaleTest::parse))]
    pub tests: std::vec::Vec<ScaleTest>,
    /// Implementation names (see `compare --help`); ringlink and libzmq only
    #[arg(long, value_name = "LIST", default_value = "ringlink-uring,ringlink-epoll,libzmq",
          value_parser = cli::list("implementation", Impl::parse))]
    pub impls: std::vec::Vec<Impl>,
    /// Fan-in DEALER connections
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub conns: usize,
    /// Measured messages per DEALER (fan-in)
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub msgs: u64,
    /// Fan-out SUB sockets
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub subs: usize,
    /// Fan-out measured messages (each to every SUB)
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    pub fanout_msgs: u64,
    /// Fan-out timed latency rounds
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub lat_msgs: u64,
    /// Message size (>= 9; fanout >= 17)
    #[arg(long, value_name = "BYTES", default_value_t = 64)]
    pub size: usize,
    /// SNDHWM = RCVHWM of every socket
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub hwm: i32,
    /// Messages per send_batch (-batch impls)
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub batch: usize,
    /// Busy-poll time of -spin impls, µs
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub spin_us: u64,
    /// Idle connections
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub idle_conns: usize,
    /// Connections opened before waiting for their replies; keep it <= the listen backlog
    /// (100 in both libraries)
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub connect_batch: usize,
    /// tcp or ipc
    #[arg(long, value_name = "T", default_value = "tcp",
          value_parser = cli::one("transport", Transport::parse))]
    pub transport: Transport,
    /// Kill a run's processes after N seconds
    #[arg(long = "timeout-s", value_name = "N", default_value = "120", value_parser = cli::secs)]
    #[serde(rename = "timeout_s", serialize_with = "secs")]
    pub timeout: Duration,
    /// Results directory [default: <workspace>/results/<UTC timestamp>]
    #[arg(long, value_name = "DIR")]
    #[serde(skip)]
    pub out: Option<PathBuf>,
}

fn secs<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl ScaleConfig {
    /// The checks that span several options or that clap's value parsers do not make.
    pub fn validate(&self) -> Result<(), String> {
        let c = self;
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
        Ok(())
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

/// Runs the tests `cfg` describes (validated).
pub fn run(cfg: &ScaleConfig) -> Result<(), String> {
    let started = utc_timestamp();
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
                    ScaleTest::Fanin => fanin(cfg, imp),
                    ScaleTest::Fanout => fanout::run(cfg, imp),
                    ScaleTest::Idle => idle(cfg, imp),
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
    let md = report::markdown(&meta, cfg, &rows);
    print!("{md}");
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| format!("creating {}: {e}", out_dir.display()))?;
    for (name, text) in [
        ("scale.md", md),
        ("scale.json", report::json(&meta, cfg, &rows)?),
    ] {
        let path = out_dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    charts::write_all(&out_dir.join("charts"), &report::scale_charts(cfg, &rows))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `scale` with the options in `s`, validated.
    pub(super) fn parse(s: &str) -> Result<ScaleConfig, String> {
        #[derive(clap::Parser)]
        struct Cmd {
            #[command(flatten)]
            config: ScaleConfig,
        }
        let argv = std::iter::once("scale").chain(s.split_whitespace());
        let c = <Cmd as clap::Parser>::try_parse_from(argv)
            .map_err(|e| e.to_string())?
            .config;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn defaults_and_options() {
        let c = parse("").expect("parses");
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
        let c = parse("--tests idle --idle-conns 50 --transport ipc").expect("parses");
        assert_eq!(c.tests, [ScaleTest::Idle]);
        assert_eq!(c.transport, Transport::Ipc);
        assert!(parse("--size 4").is_err());
        assert_eq!((c.subs, c.fanout_msgs, c.lat_msgs), (100, 20_000, 1000));
        assert!(parse("--tests fanout --size 16").is_err());
        assert!(parse("--tests fanin --size 16").is_ok());
        assert!(parse("--tests fanout --subs 0").is_err());
        assert!(parse("--tests fanio").is_err());
        assert!(
            parse("--impls zeromq").is_err(),
            "scale runs ringlink and libzmq only"
        );
        assert!(parse("--timeout-s 0").is_err());
        assert!(parse("--conns 1 --conns 2").is_err());
        assert!(parse("--bogus").is_err());
        assert_eq!(
            (c.size, c.hwm, c.batch, c.spin_us, c.connect_batch),
            (64, 1000, 1024, 50, 100)
        );
        assert_eq!(c.timeout, Duration::from_secs(120));
        assert!(c.out.is_none());
    }

    #[test]
    fn fanout_skips_batch_implementations() {
        let c =
            parse("--impls ringlink-uring,ringlink-uring-batch,ringlink-epoll-inline-batch,libzmq")
                .expect("parses");
        let names = |t| -> Vec<&str> { c.impls_for(t).iter().map(|i| i.name).collect() };
        assert_eq!(names(ScaleTest::Fanout), ["ringlink-uring", "libzmq"]);
        assert_eq!(names(ScaleTest::Fanin).len(), 4);
    }

    #[test]
    fn fds_per_connection() {
        assert_eq!(fds_per_conn(Impl::LIBZMQ), 3);
        let epoll = Impl::parse("ringlink-epoll").expect("known");
        assert_eq!(fds_per_conn(epoll), 2);
    }
}
