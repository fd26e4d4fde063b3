//! `ringlink-bench compare`: interleaved repetitions of every implementation, then a summary.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Serialize, Serializer};

use crate::cli::Opts;
use crate::impls::{Impl, Test};
use crate::peer::MIN_THR_SIZE;
use crate::report;
use crate::runner::{self, Metrics, RunSpec};
use crate::stats::fmt_num;

const USAGE: &str = "\
usage: ringlink-bench compare [options]

Runs PAIR throughput and ping-pong latency over tcp://127.0.0.1 for ringlink (io_uring and
epoll; reactor thread or inline context; per-message or batch API; spin) and libzmq, each
run in two fresh processes, implementations interleaved in every repetition. Prints a
Markdown summary on stdout and writes results.json, results.md and results.txt (RESULT
lines) under the results directory.

options:
  --reps N          repetitions per implementation            [7]
  --tests LIST      thr,lat                                   [thr,lat]
  --impls LIST      comma-separated implementation names      [the default sets below]
  --size BYTES      message size (thr needs >= 9)             [64]
  --count N         measured messages per throughput run      [200000]
  --roundtrips N    timed round trips per latency run         [20000]
  --warmup N        warm-up messages / round trips            [1000]
  --hwm N           SNDHWM and RCVHWM of every socket         [1000]
  --batch N         messages per send_batch call (batch impls) [1024]
  --spin-us N       busy-poll time of the -spin impls, µs     [50]
  --timeout-s N     kill a run's processes after N seconds    [20]
  --out DIR         results directory                         [<workspace>/results/<UTC timestamp>]

implementations (thr/lat: in the default set of that test; batch ones never run lat):
";

/// `USAGE` plus one line per implementation.
fn usage() -> String {
    let mut s = USAGE.to_string();
    for i in Impl::ALL {
        let def: Vec<&str> = [Test::Thr, Test::Lat]
            .into_iter()
            .filter(|&t| i.default_for(t))
            .map(Test::name)
            .collect();
        s.push_str(&format!("  {:<29} {}\n", i.name, def.join(",")));
    }
    s
}

/// Everything `compare` was asked to do.
#[derive(Serialize)]
pub struct Config {
    pub reps: usize,
    pub tests: Vec<Test>,
    pub impls: Option<Vec<Impl>>,
    pub size: usize,
    pub count: u64,
    pub roundtrips: u64,
    pub warmup: u64,
    pub hwm: i32,
    pub batch: usize,
    pub spin_us: u64,
    #[serde(rename = "timeout_s", serialize_with = "secs")]
    pub timeout: Duration,
    #[serde(skip)]
    pub out: Option<PathBuf>,
}

fn secs<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Config {
    /// `Ok(None)` means `--help` was printed.
    fn parse(args: &[String]) -> Result<Option<Config>, String> {
        let mut o = Opts::parse(args)?;
        if o.help() {
            print!("{}", usage());
            return Ok(None);
        }
        let tests = o
            .string("tests")
            .unwrap_or_else(|| "thr,lat".to_string())
            .split(',')
            .map(|t| Test::parse(t.trim()).ok_or_else(|| format!("unknown test `{t}`")))
            .collect::<Result<Vec<_>, _>>()?;
        let impls = o
            .string("impls")
            .map(|list| {
                list.split(',')
                    .map(|i| {
                        Impl::parse(i.trim()).ok_or_else(|| format!("unknown implementation `{i}`"))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let c = Config {
            reps: o.get("reps", 7)?,
            tests,
            impls,
            size: o.get("size", 64)?,
            count: o.get("count", 200_000)?,
            roundtrips: o.get("roundtrips", 20_000)?,
            warmup: o.get("warmup", 1000)?,
            hwm: o.get("hwm", 1000)?,
            batch: o.get("batch", 1024)?,
            spin_us: o.get("spin-us", 50)?,
            timeout: Duration::from_secs(o.get("timeout-s", 20)?),
            out: o.string("out").map(PathBuf::from),
        };
        o.finish()?;
        if c.timeout.is_zero() {
            return Err("--timeout-s must be >= 1".into());
        }
        if c.reps == 0 || c.count < 2 || c.roundtrips == 0 || c.batch == 0 || c.size == 0 {
            return Err("--reps, --roundtrips, --batch, --size must be >= 1, --count >= 2".into());
        }
        if c.tests.contains(&Test::Thr) && c.size < MIN_THR_SIZE {
            return Err(format!("throughput needs --size >= {MIN_THR_SIZE}"));
        }
        Ok(Some(c))
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

    fn spec(&self, test: Test, imp: Impl) -> RunSpec {
        RunSpec {
            imp,
            size: self.size,
            count: match test {
                Test::Thr => self.count,
                Test::Lat => self.roundtrips,
            },
            warmup: self.warmup,
            hwm: self.hwm,
            batch: self.batch,
            spin_us: self.spin_us,
            timeout: self.timeout,
        }
    }
}

/// The outcome of one run. Serialized (in `results.json`) without the outcome, which the
/// report adds as `ok` plus `metrics` or `error`.
#[derive(Serialize)]
pub struct Record {
    pub test: Test,
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

pub fn run(args: &[String]) -> Result<(), String> {
    let Some(cfg) = Config::parse(args)? else {
        return Ok(());
    };
    let started = report::utc_timestamp();
    let out_dir = match &cfg.out {
        Some(dir) => dir.clone(),
        None => default_results_root().join(&started),
    };
    let plan: Vec<(Test, Vec<Impl>)> = cfg
        .tests
        .iter()
        .map(|&t| (t, cfg.impls_for(t)))
        .filter(|(_, impls)| !impls.is_empty())
        .collect();
    if plan.is_empty() {
        return Err("nothing to run: no implementation applies to the selected tests".into());
    }
    let total: usize = plan.iter().map(|(_, impls)| impls.len() * cfg.reps).sum();
    eprintln!(
        "ringlink-bench compare: {total} runs ({} reps), PAIR {} B, HWM {} (SNDHWM = RCVHWM, both sockets), two processes per run, watchdog {} s",
        cfg.reps,
        cfg.size,
        cfg.hwm,
        cfg.timeout.as_secs()
    );

    let session = Instant::now();
    let mut records = Vec::new();
    for (test, impls) in &plan {
        for rep in 0..cfg.reps {
            for &imp in impls {
                let spec = cfg.spec(*test, imp);
                let t = Instant::now();
                let outcome = match test {
                    Test::Thr => runner::throughput(&spec),
                    Test::Lat => runner::latency(&spec),
                };
                let r = Record {
                    test: *test,
                    imp,
                    rep,
                    secs: t.elapsed().as_secs_f64(),
                    outcome,
                };
                eprintln!(
                    "{} [{}/{total}, {:.0} s]",
                    progress(&r, cfg.reps),
                    records.len() + 1,
                    session.elapsed().as_secs_f64()
                );
                records.push(r);
            }
        }
    }

    let meta = report::Meta::collect(&started);
    let md = report::markdown(&meta, &cfg, &plan, &records);
    print!("{md}");
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| format!("creating {}: {e}", out_dir.display()))?;
    let write = |name: &str, text: String| {
        let path = out_dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))
    };
    write("results.md", md.clone())?;
    write("results.json", report::json(&meta, &cfg, &plan, &records)?)?;
    write("results.txt", report::result_lines(&meta, &cfg, &records))?;
    eprintln!("results written to {}", out_dir.display());
    Ok(())
}

/// `<workspace>/results` (git-ignored), found from this crate's manifest directory.
fn default_results_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).join("results")
}

fn progress(r: &Record, reps: usize) -> String {
    let head = format!(
        "[{} {}/{}] {:<27}",
        r.test.name(),
        r.rep + 1,
        reps,
        r.imp.name
    );
    match &r.outcome {
        Err(e) => format!("{head} FAILED ({:.2} s): {e}", r.secs),
        Ok(m) => {
            let get = |k: &str| {
                m.iter()
                    .find(|(n, _)| *n == k)
                    .map_or("?".to_string(), |(_, v)| fmt_num(*v))
            };
            let body = match r.test {
                Test::Thr => format!(
                    "rx {} Kmsg/s  tx {}  e2e {}",
                    get("rx_kmsg_s"),
                    get("tx_kmsg_s"),
                    get("e2e_kmsg_s")
                ),
                Test::Lat => format!(
                    "half-RTT {} µs  RTT p50 {}  p99 {}  p99.9 {}",
                    get("mean_half_rtt_us"),
                    get("rtt_p50_us"),
                    get("rtt_p99_us"),
                    get("rtt_p999_us")
                ),
            };
            format!("{head} {body}  ({:.2} s)", r.secs)
        }
    }
}
