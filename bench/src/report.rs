//! Markdown, JSON and `RESULT`-line output of a `compare` session.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::compare::{Config, Record};
use crate::impls::{Impl, Test};
use crate::json::Json;
use crate::net::libzmq_version;
use crate::stats::{paired_ratios, Summary};

/// Where and with what the session ran.
pub struct Meta {
    pub timestamp: String,
    pub libzmq: String,
    /// (label, value) machine facts, in display order.
    pub machine: Vec<(&'static str, String)>,
}

impl Meta {
    pub fn collect(timestamp: &str) -> Meta {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cpu = read("/proc/cpuinfo")
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown".to_string(), |(_, v)| v.trim().to_string());
        let os = read("/etc/os-release")
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map_or_else(
                || "unknown".to_string(),
                |v| v.trim_matches('"').to_string(),
            );
        let nproc = std::thread::available_parallelism().map_or(0, usize::from);
        Meta {
            timestamp: timestamp.to_string(),
            libzmq: libzmq_version(),
            machine: vec![
                ("cpu", cpu),
                ("nproc", nproc.to_string()),
                (
                    "kernel",
                    read("/proc/sys/kernel/osrelease").trim().to_string(),
                ),
                ("os", os),
            ],
        }
    }
}

/// Metric columns per test: (key, header). The first is the headline.
fn columns(test: Test) -> &'static [(&'static str, &'static str)] {
    match test {
        Test::Thr => &[
            ("rx_kmsg_s", "rx Kmsg/s"),
            ("rx_MB_s", "rx MB/s"),
            ("tx_kmsg_s", "tx Kmsg/s"),
            ("e2e_kmsg_s", "e2e Kmsg/s"),
        ],
        Test::Lat => &[
            ("mean_half_rtt_us", "mean half-RTT µs"),
            ("rtt_p50_us", "RTT p50 µs"),
            ("rtt_p99_us", "RTT p99 µs"),
            ("rtt_p999_us", "RTT p99.9 µs"),
        ],
    }
}

/// Metrics compared by paired ratios per test.
fn ratio_columns(test: Test) -> &'static [(&'static str, &'static str)] {
    match test {
        Test::Thr => &[("rx_kmsg_s", "rx Kmsg/s"), ("tx_kmsg_s", "tx Kmsg/s")],
        Test::Lat => &[
            ("mean_half_rtt_us", "mean half-RTT"),
            ("rtt_p50_us", "RTT p50"),
            ("rtt_p99_us", "RTT p99"),
        ],
    }
}

/// The (A, B) pairs reported as A / B: every ringlink variant against libzmq, then the
/// backend and API comparisons within ringlink.
fn pairs(impls: &[Impl]) -> Vec<(Impl, Impl)> {
    let has = |i: &Impl| impls.contains(i);
    let mut v: Vec<(Impl, Impl)> = Vec::new();
    if has(&Impl::Libzmq) {
        v.extend(
            impls
                .iter()
                .filter(|&&i| i != Impl::Libzmq)
                .map(|&i| (i, Impl::Libzmq)),
        );
    }
    for (a, b) in [
        (Impl::Uring, Impl::Epoll),
        (Impl::UringBatch, Impl::EpollBatch),
        (Impl::UringBatch, Impl::Uring),
        (Impl::EpollBatch, Impl::Epoll),
        (Impl::UringSpin, Impl::Uring),
    ] {
        if has(&a) && has(&b) {
            v.push((a, b));
        }
    }
    v
}

/// `metric` of `imp` in `test`, indexed by repetition (`None` = failed or missing).
fn series(
    records: &[Record],
    test: Test,
    imp: Impl,
    metric: &str,
    reps: usize,
) -> Vec<Option<f64>> {
    let mut v = vec![None; reps];
    for r in records.iter().filter(|r| r.test == test && r.imp == imp) {
        if let (Ok(m), Some(slot)) = (&r.outcome, v.get_mut(r.rep)) {
            *slot = m.iter().find(|(k, _)| *k == metric).map(|&(_, x)| x);
        }
    }
    v
}

fn summary(values: &[Option<f64>]) -> Option<Summary> {
    Summary::of(&values.iter().flatten().copied().collect::<Vec<_>>())
}

fn cell(s: Option<Summary>) -> String {
    s.map_or_else(|| "–".to_string(), |s| s.display())
}

fn title(test: Test, cfg: &Config) -> String {
    match test {
        Test::Thr => format!(
            "Throughput: PAIR, {} B × {} messages (after {} warm-up)",
            cfg.size, cfg.count, cfg.warmup
        ),
        Test::Lat => format!(
            "Latency: PAIR ping-pong, {} B, {} timed round trips (after {} warm-up)",
            cfg.size, cfg.roundtrips, cfg.warmup
        ),
    }
}

pub fn markdown(
    meta: &Meta,
    cfg: &Config,
    plan: &[(Test, Vec<Impl>)],
    records: &[Record],
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# ringlink-bench compare, {}\n", meta.timestamp);
    let _ = writeln!(
        s,
        "Transport tcp://127.0.0.1 (receiver / echo server binds, peer connects). Every run is \
         two fresh processes, one context each (1 I/O thread). SNDHWM = RCVHWM = {} on both \
         sockets of every implementation; no other tuning. {} repetitions; within each, the \
         implementations run back to back in the order listed. ringlink-uring-spin spins {} µs \
         before parking; batch variants send {} messages per `send_batch` and receive with \
         `recv_batch` into a 1 MiB buffer. libzmq {} (bundled with the `zmq` crate, static).\n",
        cfg.hwm, cfg.reps, cfg.spin_us, cfg.batch, meta.libzmq
    );
    let machine: Vec<String> = meta
        .machine
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    let _ = writeln!(s, "Machine: {}.\n", machine.join("; "));
    let _ = writeln!(
        s,
        "Cells are median [min–max] over the successful runs. Ratios are paired: for each \
         repetition, A's run divided by B's run from the same repetition; then median \
         [min–max] of those ratios. On a noisy 2-vCPU machine compare ratios, not absolute \
         numbers from different sessions.\n"
    );

    for (test, impls) in plan {
        let cols = columns(*test);
        let _ = writeln!(s, "## {}\n", title(*test, cfg));
        let _ = write!(s, "| implementation | ok |");
        for (_, h) in cols {
            let _ = write!(s, " {h} |");
        }
        let _ = write!(s, "\n|---|---:|");
        s.push_str(&"---:|".repeat(cols.len()));
        s.push('\n');
        for &imp in impls {
            let ok = series(records, *test, imp, cols[0].0, cfg.reps)
                .iter()
                .flatten()
                .count();
            let _ = write!(s, "| {} | {ok}/{} |", imp.name(), cfg.reps);
            for (k, _) in cols {
                let _ = write!(
                    s,
                    " {} |",
                    cell(summary(&series(records, *test, imp, k, cfg.reps)))
                );
            }
            s.push('\n');
        }
        let pairs = pairs(impls);
        if !pairs.is_empty() {
            let rcols = ratio_columns(*test);
            let better = match test {
                Test::Thr => "> 1: A is faster",
                Test::Lat => "< 1: A has lower latency",
            };
            let _ = write!(s, "\nPaired ratios A / B ({better}):\n\n| A / B |");
            for (_, h) in rcols {
                let _ = write!(s, " {h} |");
            }
            let _ = write!(s, " pairs |\n|---|");
            s.push_str(&"---:|".repeat(rcols.len() + 1));
            s.push('\n');
            for (a, b) in pairs {
                let _ = write!(s, "| {} / {} |", a.name(), b.name());
                let mut n = 0;
                for (k, _) in rcols {
                    let r = paired_ratios(
                        &series(records, *test, a, k, cfg.reps),
                        &series(records, *test, b, k, cfg.reps),
                    );
                    n = n.max(r.len());
                    let _ = write!(s, " {} |", cell(Summary::of(&r)));
                }
                let _ = writeln!(s, " {n} |");
            }
        }
        s.push('\n');
    }

    let failed: Vec<&Record> = records.iter().filter(|r| r.outcome.is_err()).collect();
    if !failed.is_empty() {
        let _ = writeln!(s, "## Failed runs\n");
        for r in failed {
            if let Err(e) = &r.outcome {
                let _ = writeln!(
                    s,
                    "* {} rep {} {}: {}",
                    r.test.name(),
                    r.rep + 1,
                    r.imp.name(),
                    e
                );
            }
        }
        s.push('\n');
    }
    s
}

pub fn json(meta: &Meta, cfg: &Config, plan: &[(Test, Vec<Impl>)], records: &[Record]) -> Json {
    let num = |x: f64| Json::Num(x);
    let summary_json = |s: Option<Summary>| match s {
        None => Json::Null,
        Some(s) => Json::obj([
            ("n", num(s.n as f64)),
            ("median", num(s.median)),
            ("min", num(s.min)),
            ("max", num(s.max)),
        ]),
    };
    let config = Json::obj([
        ("pattern", Json::str("PAIR")),
        ("transport", Json::str("tcp://127.0.0.1")),
        ("mode", Json::str("proc")),
        ("reps", num(cfg.reps as f64)),
        ("size", num(cfg.size as f64)),
        ("count", num(cfg.count as f64)),
        ("roundtrips", num(cfg.roundtrips as f64)),
        ("warmup", num(cfg.warmup as f64)),
        ("hwm", num(f64::from(cfg.hwm))),
        ("batch", num(cfg.batch as f64)),
        ("spin_us", num(cfg.spin_us as f64)),
        ("timeout_s", num(cfg.timeout.as_secs_f64())),
    ]);
    let runs = records
        .iter()
        .map(|r| {
            let mut f = vec![
                ("test", Json::str(r.test.name())),
                ("impl", Json::str(r.imp.name())),
                ("rep", num((r.rep + 1) as f64)),
                ("seconds", num(r.secs)),
                ("ok", Json::Bool(r.outcome.is_ok())),
            ];
            match &r.outcome {
                Ok(m) => f.push(("metrics", Json::obj(m.iter().map(|&(k, v)| (k, num(v)))))),
                Err(e) => f.push(("error", Json::str(e.as_str()))),
            }
            Json::obj(f)
        })
        .collect();
    let summary = plan
        .iter()
        .map(|(test, impls)| {
            let per_impl = impls.iter().map(|&imp| {
                let metrics = columns(*test).iter().map(|&(k, _)| {
                    (
                        k,
                        summary_json(summary(&series(records, *test, imp, k, cfg.reps))),
                    )
                });
                (imp.name(), Json::obj(metrics))
            });
            let ratios = pairs(impls)
                .into_iter()
                .flat_map(|(a, b)| {
                    ratio_columns(*test).iter().map(move |&(k, _)| {
                        let r = paired_ratios(
                            &series(records, *test, a, k, cfg.reps),
                            &series(records, *test, b, k, cfg.reps),
                        );
                        Json::obj([
                            ("a", Json::str(a.name())),
                            ("b", Json::str(b.name())),
                            ("metric", Json::str(k)),
                            ("paired", summary_json(Summary::of(&r))),
                        ])
                    })
                })
                .collect();
            (
                test.name(),
                Json::obj([
                    ("impls", Json::obj(per_impl)),
                    ("ratios", Json::Arr(ratios)),
                ]),
            )
        })
        .collect::<Vec<_>>();
    Json::obj([
        ("timestamp", Json::str(meta.timestamp.as_str())),
        ("libzmq", Json::str(meta.libzmq.as_str())),
        (
            "machine",
            Json::obj(
                meta.machine
                    .iter()
                    .map(|(k, v)| (*k, Json::str(v.as_str()))),
            ),
        ),
        ("config", config),
        ("runs", Json::Arr(runs)),
        ("summary", Json::obj(summary)),
    ])
}

/// `zmq_bench.c`-style `RESULT` lines (one per successful run, in run order), readable by
/// `tools/baseline/summarize.py`; failed runs become `FAILED` lines, which it skips.
pub fn result_lines(meta: &Meta, cfg: &Config, records: &[Record]) -> String {
    let mut s = String::new();
    for r in records {
        let lib = match r.imp {
            Impl::Libzmq => format!("libzmq-{}", meta.libzmq),
            imp => imp.name().to_string(),
        };
        let head = match r.test {
            Test::Thr => format!(
                "lib={lib} kind=thr pattern=PAIR size={} count={} mode=proc",
                cfg.size, cfg.count
            ),
            Test::Lat => format!(
                "lib={lib} kind=lat pattern=PAIR size={} roundtrips={} mode=proc",
                cfg.size, cfg.roundtrips
            ),
        };
        match &r.outcome {
            Ok(m) => {
                let _ = write!(s, "RESULT {head}");
                if r.test == Test::Thr {
                    let _ = write!(s, " lost=0");
                }
                for (k, v) in m {
                    if v.fract() == 0.0 {
                        let _ = write!(s, " {k}={v}");
                    } else {
                        let _ = write!(s, " {k}={v:.3}");
                    }
                }
                s.push('\n');
            }
            Err(e) => {
                let _ = writeln!(s, "FAILED {head} rep={} error={e:?}", r.rep + 1);
            }
        }
    }
    s
}

/// Current UTC time as `YYYYMMDDTHHMMSSZ` (sortable, safe in a path).
pub fn utc_timestamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days(i64::try_from(secs / 86_400).unwrap_or(0));
    let t = secs % 86_400;
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        t / 3600,
        t % 3600 / 60,
        t % 60
    )
}

/// Proleptic Gregorian date of `days` since 1970-01-01, counting in 400-year eras of
/// 146097 days whose years start on March 1 (so the leap day is the era-year's last day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1
    let mp = (5 * doy + 2) / 153; // month index from March
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn pairs_cover_libzmq_and_backends() {
        let p = pairs(&[Impl::Uring, Impl::Epoll, Impl::Libzmq]);
        assert_eq!(
            p,
            vec![
                (Impl::Uring, Impl::Libzmq),
                (Impl::Epoll, Impl::Libzmq),
                (Impl::Uring, Impl::Epoll)
            ]
        );
    }
}
