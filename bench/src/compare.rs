//! `ringlink-bench compare`: interleaved repetitions of every implementation, then a summary.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::builder::{PossibleValuesParser, TypedValueParser as _};
use clap::{ArgAction, Args};
use serde::{Serialize, Serializer};

use crate::cli;
use crate::impls::{Impl, Pattern, Test, Transport};
use crate::peer::MIN_THR_SIZE;
use crate::report;
use crate::runner::{self, Metrics, RunSpec};
use crate::stats::fmt_num;

/// The description `compare --help` starts with.
pub const LONG_ABOUT: &str = "\
Runs throughput and ping-pong latency for ringlink (io_uring and epoll; reactor thread or
inline context; per-message or batch API; spin), libzmq and the Rust peers rzmq and zeromq
(zmq.rs; tcp only; no PAIR, STREAM or ROUTER_ROUTER_POLL: reported as n/a), each run in
two fresh processes; every repetition runs every case and implementation in turn (interleaved,
so ratios pair runs of one repetition). Prints a Markdown summary on
stdout and writes results.json, results.md and results.txt (RESULT lines) under the
results directory. Every combination of test x pattern x transport x size is one table.";

/// The end of `compare --help`: one line per implementation with the tests whose default
/// set it is in.
pub fn impls_help() -> String {
    let mut s = String::from(
        "Implementations (thr/lat: in the default set of that test; batch ones never run lat):\n",
    );
    for i in Impl::ALL {
        let def: Vec<&str> = [Test::Thr, Test::Lat]
            .into_iter()
            .filter(|&t| i.default_for(t))
            .map(Test::name)
            .collect();
        let line = format!("  {:<29} {}", i.name, def.join(","));
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

/// Everything `compare` was asked to do: its command-line options.
#[derive(Args, Serialize)]
pub struct Config {
    /// Repetitions per implementation
    #[arg(long, value_name = "N", default_value_t = 7)]
    pub reps: usize,
    /// Tests: thr (throughput) and/or lat (latency)
    #[arg(long, value_name = "LIST", default_value = "thr,lat",
          value_parser = cli::list("test", Test::parse))]
    pub tests: std::vec::Vec<Test>,
    /// PAIR,PUBSUB,DEALER_DEALER,DEALER_ROUTER,ROUTER_ROUTER,ROUTER_ROUTER_POLL,STREAM,PUSH_PULL,REQ_REP,
    /// GATEWAY,SPOT (case-insensitive) or `all` (thr: all but REQ_REP; lat: PAIR, DEALER_ROUTER,
    /// REQ_REP, GATEWAY, SPOT; PUBSUB and SPOT run with HWM 0 so the publisher drops nothing;
    /// STREAM: tcp/ipc; GATEWAY and SPOT: zlink's service layer, ringlink with reactor threads)
    #[arg(long, value_name = "LIST", default_value = "all", value_parser = patterns)]
    pub patterns: std::vec::Vec<Pattern>,
    /// tcp,ipc,inproc (inproc: both ends are threads of one process, one context; inline
    /// contexts do not apply)
    #[arg(long, value_name = "LIST", default_value = "tcp",
          value_parser = cli::list("transport", Transport::parse))]
    pub transports: std::vec::Vec<Transport>,
    /// Message sizes in bytes (thr needs >= 9); `--size N` is the one-size form
    #[arg(long, visible_alias = "size", value_name = "LIST", default_value = "64",
          value_parser = cli::list("size", |s| s.parse::<usize>().ok()))]
    pub sizes: std::vec::Vec<usize>,
    /// Comma-separated implementation names [default: the default sets listed below]
    #[arg(long, value_name = "LIST", value_parser = cli::list("implementation", Impl::parse))]
    pub impls: Option<std::vec::Vec<Impl>>,
    /// Measured messages per throughput run [default: 2000000 up to 256 B, 200000 up to 1 KiB, 20000 above]
    // `None`: scaled by size ([`default_count`]).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Timed round trips per latency run
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub roundtrips: u64,
    /// Warm-up messages / round trips
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub warmup: u64,
    /// SNDHWM and RCVHWM of every socket
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub hwm: i32,
    /// Messages per send_batch call (batch implementations)
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub batch: usize,
    /// Busy-poll time of the -spin implementations, µs
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub spin_us: u64,
    /// proc (two processes) or thread (two threads, one context); inproc always runs in
    /// thread mode
    #[arg(long = "mode", value_name = "MODE", default_value = "proc", action = ArgAction::Set,
          value_parser = PossibleValuesParser::new(["proc", "thread"]).map(|m| m == "thread"))]
    pub threads: bool,
    /// Pin each process of a run to one CPU, all its threads with it: the receiver (bind
    /// side) to the last CPU, the sender to the first (every implementation alike). Without
    /// it the scheduler places the four threads of a threaded run on two vCPUs as it likes,
    /// and a run is up to twice as fast when each process's threads share one
    #[arg(long)]
    pub pin: bool,
    /// Kill a run's processes after N seconds
    #[arg(long = "timeout-s", value_name = "N", default_value = "20", value_parser = cli::secs)]
    #[serde(rename = "timeout_s", serialize_with = "secs")]
    pub timeout: Duration,
    /// Results directory [default: <workspace>/results/<UTC timestamp>]
    #[arg(long, value_name = "DIR")]
    #[serde(skip)]
    pub out: Option<PathBuf>,
}

/// `--patterns`: a list of patterns or `all`.
fn patterns(text: &str) -> Result<Vec<Pattern>, String> {
    if text.trim().eq_ignore_ascii_case("all") {
        return Ok(Pattern::ALL.to_vec());
    }
    cli::list("pattern", Pattern::parse)(text)
}

fn secs<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Config {
    /// The checks that span several options or that clap's value parsers do not make.
    pub fn validate(&self) -> Result<(), String> {
        let c = self;
        if c.timeout.is_zero() {
            return Err("--timeout-s must be >= 1".into());
        }
        if c.reps == 0
            || c.count.is_some_and(|n| n < 2)
            || c.roundtrips == 0
            || c.batch == 0
            || c.sizes.contains(&0)
        {
            return Err("--reps, --roundtrips, --batch, sizes must be >= 1, --count >= 2".into());
        }
        if c.tests.contains(&Test::Thr) && c.sizes.iter().any(|&s| s < MIN_THR_SIZE) {
            return Err(format!("throughput needs sizes >= {MIN_THR_SIZE}"));
        }
        Ok(())
    }

    /// Every (test, pattern, transport, size) combination to run, in run order: all
    /// throughput cases, then all latency cases, each test in pattern, transport, size order.
    pub fn cases(&self) -> Vec<Case> {
        let mut v = Vec::new();
        for &test in &self.tests {
            for &pattern in self.patterns.iter().filter(|p| p.supports(test)) {
                for &transport in &self.transports {
                    for &size in &self.sizes {
                        let count = match test {
                            Test::Thr => self.count.unwrap_or_else(|| default_count(size)),
                            Test::Lat => self.roundtrips,
                        };
                        v.push(Case {
                            test,
                            pattern,
                            transport,
                            size,
                            count,
                        });
                    }
                }
            }
        }
        v
    }

    /// The implementations run for `test`, in interleaving order.
    pub fn impls_for(&self, test: Test) -> Vec<Impl> {
        Impl::ALL
            .into_iter()
            .filter(|i| i.supports(test))
            .filter(|i| match &self.impls {
                Some(list) => list.contains(i),
                None => i.default_for(test),
            })
            .collect()
    }

    fn spec(&self, case: &Case, imp: Impl) -> RunSpec {
        RunSpec {
            imp,
            pattern: case.pattern,
            transport: case.transport,
            size: case.size,
            count: case.count,
            warmup: self.warmup,
            hwm: case.pattern.hwm(self.hwm),
            batch: self.batch,
            spin_us: self.spin_us,
            timeout: self.timeout,
            threads: self.threads || case.transport == Transport::Inproc,
            pin: self.pin,
        }
    }
}

/// Messages per throughput run at `size` bytes when `--count` is not given: 2M up to
/// 256 B, then as `zmq_bench`'s baselines (200k up to 1 KiB, 20k above). At 30 M msg/s
/// (the batch rows since stop 30) 200k messages is a 7 ms run, in which start-up costs
/// (first-touch faults of the receive buffers, TCP window growth) weigh like the steady state.
pub fn default_count(size: usize) -> u64 {
    match size {
        0..=256 => 2_000_000,
        257..=1024 => 200_000,
        _ => 20_000,
    }
}

/// One table of the report: a test of one pattern over one transport at one size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Case {
    pub test: Test,
    pub pattern: Pattern,
    pub transport: Transport,
    pub size: usize,
    /// Measured messages (thr) or timed round trips (lat).
    pub count: u64,
}

impl Case {
    /// Short label for progress lines.
    pub fn label(&self) -> String {
        format!(
            "{} {} {} {} B",
            self.test.name(),
            self.pattern.name(),
            self.transport.name(),
            self.size
        )
    }
}

/// The outcome of one run. Serialized (in `results.json`) without the outcome, which the
/// report adds as `ok` plus `metrics` or `error`.
#[derive(Serialize)]
pub struct Record {
    #[serde(flatten)]
    pub case: Case,
    #[serde(rename = "impl")]
    pub imp: Impl,
    /// 0-based repetition index; runs with the same index ran back to back. 1-based in JSON.
    #[serde(serialize_with = "one_based")]
    pub rep: usize,
    /// Wall time of the whole run including process start.
    #[serde(rename = "seconds")]
    pub secs: f64,
    #[serde(skip)]
    pub outcome: Result<Metrics, String>,
}

fn one_based<S: Serializer>(rep: &usize, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(*rep as u64 + 1)
}

/// Runs the comparison `cfg` describes (validated).
pub fn run(cfg: &Config) -> Result<(), String> {
    let started = report::utc_timestamp();
    let out_dir = match &cfg.out {
        Some(dir) => dir.clone(),
        None => default_results_root().join(&started),
    };
    if cfg.tests.contains(&Test::Lat) {
        for p in cfg.patterns.iter().filter(|p| !p.supports(Test::Lat)) {
            eprintln!(
                "note: no latency test for {} (latency is measured for PAIR, DEALER_ROUTER and REQ_REP)",
                p.name()
            );
        }
    }
    let plan: Vec<(Case, Vec<Impl>)> = cfg
        .cases()
        .into_iter()
        .map(|c| {
            let impls = cfg.impls_for(c.test);
            let runs = impls
                .into_iter()
                .filter(|i| i.unsupported(c.pattern, c.transport, cfg.threads).is_none())
                .collect::<Vec<_>>();
            (c, runs)
        })
        .filter(|(_, impls)| !impls.is_empty())
        .collect();
    if plan.is_empty() {
        return Err("nothing to run: no implementation applies to the selected tests".into());
    }
    let total: usize = plan.iter().map(|(_, impls)| impls.len() * cfg.reps).sum();
    eprintln!(
        "ringlink-bench compare: {total} runs in {} tables ({} reps), HWM {} (SNDHWM = RCVHWM, every socket; PUBSUB: 0), {} per run, one I/O thread per context (libzmq default; rzmq/zeromq: their tokio runtime), OS socket buffers, watchdog {} s",
        plan.len(),
        cfg.reps,
        cfg.hwm,
        match (cfg.threads, cfg.pin) {
            (true, _) => "two threads in one process",
            (false, false) => "two processes (inproc: two threads)",
            (false, true) => "two processes, each pinned to one CPU (receiver: the last, sender: the first; inproc: two threads, unpinned)",
        },
        cfg.timeout.as_secs()
    );

    let session = Instant::now();
    let mut records = Vec::new();
    let labelled = plan.len() > cfg.tests.len();
    // Repetition-major: each repetition runs every case, so the cases (not only the
    // implementations within a case) are interleaved, and ratios between cases (GATEWAY /
    // DEALER_ROUTER, SPOT / PUBSUB) can be paired by repetition: their runs are neighbours
    // (`schedule`).
    for rep in 0..cfg.reps {
        for (ci, imp) in crate::schedule::run_order(&plan, rep) {
            let case = &plan[ci].0;
            let spec = cfg.spec(case, imp);
            let t = Instant::now();
            let outcome = match case.test {
                Test::Thr => runner::throughput(&spec),
                Test::Lat => runner::latency(&spec),
            };
            let r = Record {
                case: *case,
                imp,
                rep,
                secs: t.elapsed().as_secs_f64(),
                outcome,
            };
            eprintln!(
                "{} [{}/{total}, {:.0} s]",
                progress(&r, cfg.reps, labelled),
                records.len() + 1,
                session.elapsed().as_secs_f64()
            );
            records.push(r);
        }
    }

    let meta = report::Meta::collect(&started);
    let mut md = report::markdown(&meta, cfg, &plan, &records);
    md.push_str(&crate::verdict_peers::section(cfg, &plan, &records));
    md.push_str(&crate::verdict::verdicts(cfg, &plan, &records));
    md.push_str(&crate::verdict_services::verdicts(cfg, &plan, &records));
    print!("{md}");
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| format!("creating {}: {e}", out_dir.display()))?;
    let write = |name: &str, text: String| {
        let path = out_dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))
    };
    write("results.md", md.clone())?;
    write("results.json", report::json(&meta, cfg, &plan, &records)?)?;
    write("results.txt", report::result_lines(&meta, &records))?;
    let charts = crate::charts::write_compare_charts(&out_dir, &records)?;
    eprintln!(
        "{} charts written to {}",
        charts.len(),
        out_dir.join("charts").display()
    );
    eprintln!("results written to {}", out_dir.display());
    Ok(())
}

/// `<workspace>/results` (git-ignored), found from this crate's manifest directory.
pub fn default_results_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).join("results")
}

/// One progress line; `labelled`: name the pattern, transport and size (several tables).
fn progress(r: &Record, reps: usize, labelled: bool) -> String {
    let what = if labelled {
        r.case.label()
    } else {
        r.case.test.name().to_string()
    };
    let head = format!("[{what} {}/{}] {:<27}", r.rep + 1, reps, r.imp.name);
    match &r.outcome {
        Err(e) => format!("{head} FAILED ({:.2} s): {e}", r.secs),
        Ok(m) => {
            let get = |k: &str| {
                m.iter()
                    .find(|(n, _)| *n == k)
                    .map_or("?".to_string(), |(_, v)| fmt_num(*v))
            };
            let body = match r.case.test {
                Test::Thr => format!(
                    "rx {} Kmsg/s  tx {}  e2e {}  CPU {} ns/msg",
                    get("rx_kmsg_s"),
                    get("tx_kmsg_s"),
                    get("e2e_kmsg_s"),
                    get("cpu_ns_msg")
                ),
                Test::Lat => format!(
                    "half-RTT {} µs  RTT p50 {}  p99 {}  p99.9 {}  CPU {} ns/msg",
                    get("mean_half_rtt_us"),
                    get("rtt_p50_us"),
                    get("rtt_p99_us"),
                    get("rtt_p999_us"),
                    get("cpu_ns_msg")
                ),
            };
            format!("{head} {body}  ({:.2} s)", r.secs)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn try_parse(s: &str) -> Result<Config, String> {
        #[derive(clap::Parser)]
        struct Cmd {
            #[command(flatten)]
            config: Config,
        }
        let argv = std::iter::once("compare").chain(s.split_whitespace());
        let c = <Cmd as clap::Parser>::try_parse_from(argv)
            .map_err(|e| e.to_string())?
            .config;
        c.validate()?;
        Ok(c)
    }

    fn parse(s: &str) -> Config {
        try_parse(s).expect("parses")
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = parse("");
        assert_eq!(c.reps, 7);
        assert_eq!(c.tests, [Test::Thr, Test::Lat]);
        assert_eq!(c.patterns, Pattern::ALL);
        assert_eq!(c.transports, [Transport::Tcp]);
        assert_eq!(c.sizes, [64]);
        assert!(c.impls.is_none() && c.count.is_none() && c.out.is_none());
        assert_eq!(
            (c.roundtrips, c.warmup, c.hwm, c.batch, c.spin_us),
            (10_000, 1000, 1000, 1024, 50)
        );
        assert!(!c.threads);
        assert_eq!(c.timeout, Duration::from_secs(20));
        let c = parse(
            "--reps=2 --tests thr --patterns ALL --mode thread --impls libzmq,ringlink-uring \
             --count 5000 --hwm 0 --timeout-s 3 --out /tmp/x",
        );
        assert_eq!((c.reps, c.count, c.hwm), (2, Some(5000), 0));
        assert_eq!(c.patterns, Pattern::ALL);
        assert!(c.threads);
        assert_eq!(c.impls.as_deref().map(<[Impl]>::len), Some(2));
        assert_eq!(c.timeout, Duration::from_secs(3));
        assert_eq!(c.out, Some(PathBuf::from("/tmp/x")));
    }

    #[test]
    fn default_is_every_pattern_tcp_64_thr_then_lat() {
        let c = parse("");
        let cases = c.cases();
        // thr: every pattern but REQ_REP; lat: PAIR, DEALER_ROUTER, REQ_REP, GATEWAY, SPOT.
        assert_eq!(cases.len(), Pattern::ALL.len() - 1 + 5);
        assert!(cases
            .iter()
            .all(|c| c.transport == Transport::Tcp && c.size == 64));
        assert_eq!(
            (
                cases[0].test,
                cases[0].pattern,
                cases[0].transport,
                cases[0].size
            ),
            (Test::Thr, Pattern::Pair, Transport::Tcp, 64)
        );
        assert_eq!(cases[0].count, 2_000_000);
        let lat = cases.iter().position(|c| c.test == Test::Lat).unwrap();
        assert_eq!(
            (cases[lat].pattern, cases[lat].count),
            (Pattern::Pair, 10_000)
        );
    }

    #[test]
    fn cases_cover_patterns_transports_sizes_with_scaled_counts() {
        let c = parse(
            "--patterns pair,DEALER_DEALER,dealer_router,ROUTER_ROUTER --transports tcp,ipc --sizes 64,1024,65536",
        );
        let cases = c.cases();
        // thr: 4 patterns x 2 transports x 3 sizes; lat: PAIR and DEALER_ROUTER only.
        assert_eq!(cases.len(), 4 * 2 * 3 + 2 * 2 * 3);
        let thr: Vec<u64> = cases
            .iter()
            .filter(|c| c.test == Test::Thr && c.pattern == Pattern::Pair)
            .map(|c| c.count)
            .collect();
        assert_eq!(
            thr,
            [2_000_000, 200_000, 20_000, 2_000_000, 200_000, 20_000]
        );
        assert!(cases
            .iter()
            .filter(|c| c.test == Test::Lat)
            .all(|c| matches!(c.pattern, Pattern::Pair | Pattern::DealerRouter)));
        // An explicit --count applies to every size.
        let c = parse("--sizes 64,65536 --count 5000 --tests thr");
        assert!(c.cases().iter().all(|c| c.count == 5000));
        assert_eq!(parse("--size 1024").sizes, [1024]);
    }

    #[test]
    fn bad_lists_are_rejected() {
        let bad = |s: &str| try_parse(s).is_err();
        assert!(bad("--patterns PUBSUB,NOPE"));
        assert!(bad("--transports udp"));
        assert!(bad("--mode fibers"));
        assert!(!bad(
            "--patterns all --transports tcp,ipc,inproc --mode thread"
        ));
        assert!(bad("--sizes 64,x"));
        assert!(bad("--sizes 8"));
        assert!(bad("--size 64 --sizes 64"));
        assert!(bad("--count 1"));
        assert!(bad("--count x"));
        assert!(bad("--impls libzmq,nope"));
        assert!(bad("--timeout-s 0"));
        assert!(bad("--reps 1 --reps 2"));
        assert!(bad("--bogus 1"));
    }
}
