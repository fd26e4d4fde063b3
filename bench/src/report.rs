//! Markdown, JSON and `RESULT`-line output of a `compare` session.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};

use crate::compare::{Case, Config, Record};
use crate::impls::{pairs, Impl, PairKind, Test};
use crate::net::libzmq_version;
use crate::report_notes as notes;
use crate::runner::Metrics;
use crate::stats::{paired_ratios, Summary};

/// Where and with what the session ran.
#[derive(Serialize)]
pub struct Meta {
    pub timestamp: String,
    pub libzmq: String,
    pub machine: Machine,
}

/// Machine facts recorded with every session.
#[derive(Serialize)]
pub struct Machine {
    pub cpu: String,
    pub nproc: usize,
    pub kernel: String,
    pub os: String,
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
        Meta {
            timestamp: timestamp.to_string(),
            libzmq: libzmq_version(),
            machine: Machine {
                cpu,
                nproc: std::thread::available_parallelism().map_or(0, usize::from),
                kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
                os,
            },
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
            ("cpu_ns_msg", "CPU ns/msg"),
            ("rss_rx_mib", "peak RSS rx MiB"),
            ("rss_tx_mib", "peak RSS tx MiB"),
        ],
        Test::Lat => &[
            ("mean_half_rtt_us", "mean half-RTT µs"),
            ("rtt_p50_us", "RTT p50 µs"),
            ("rtt_p99_us", "RTT p99 µs"),
            ("rtt_p999_us", "RTT p99.9 µs"),
            ("cpu_ns_msg", "CPU ns/msg"),
            ("rss_srv_mib", "peak RSS srv MiB"),
            ("rss_cli_mib", "peak RSS cli MiB"),
        ],
    }
}

/// Metrics compared by paired ratios per test.
fn ratio_columns(test: Test) -> &'static [(&'static str, &'static str)] {
    match test {
        Test::Thr => &[
            ("rx_kmsg_s", "rx Kmsg/s"),
            ("tx_kmsg_s", "tx Kmsg/s"),
            ("cpu_ns_msg", "CPU/msg"),
        ],
        Test::Lat => &[
            ("mean_half_rtt_us", "mean half-RTT"),
            ("rtt_p50_us", "RTT p50"),
            ("rtt_p99_us", "RTT p99"),
            ("cpu_ns_msg", "CPU/msg"),
        ],
    }
}

/// `metric` of `imp` in `case`, indexed by repetition (`None` = failed, missing or not a
/// finite number).
pub(crate) fn series(
    records: &[Record],
    case: &Case,
    imp: Impl,
    metric: &str,
    reps: usize,
) -> Vec<Option<f64>> {
    let mut v = vec![None; reps];
    for r in records.iter().filter(|r| r.case == *case && r.imp == imp) {
        if let (Ok(m), Some(slot)) = (&r.outcome, v.get_mut(r.rep)) {
            *slot = m
                .iter()
                .find(|(k, _)| *k == metric)
                .map(|&(_, x)| x)
                .filter(|x| x.is_finite());
        }
    }
    v
}

pub(crate) fn summary(values: &[Option<f64>]) -> Option<Summary> {
    Summary::of(&values.iter().flatten().copied().collect::<Vec<_>>())
}

/// Paired ratios of `metric` between `a` and `b` (see [`paired_ratios`]).
pub(crate) fn ratios(
    records: &[Record],
    case: &Case,
    a: Impl,
    b: Impl,
    metric: &str,
    reps: usize,
) -> Vec<f64> {
    paired_ratios(
        &series(records, case, a, metric, reps),
        &series(records, case, b, metric, reps),
    )
}

fn cell(s: Option<Summary>) -> String {
    s.map_or_else(|| "–".to_string(), |s| s.display())
}

/// An implementation's name without the `ringlink-` prefix (ratio tables).
fn short(imp: Impl) -> &'static str {
    imp.name.strip_prefix("ringlink-").unwrap_or(imp.name)
}

pub fn markdown(
    meta: &Meta,
    cfg: &Config,
    plan: &[(Case, Vec<Impl>)],
    records: &[Record],
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# ringlink-bench compare, {}\n", meta.timestamp);
    let _ = writeln!(
        s,
        "Transport {} (receiver / echo server binds, peer connects). Every run is \
         two fresh processes, one context each: 1 I/O thread (libzmq, threaded ringlink) or \
         none (`-inline`: `io_threads(0)`, the application thread drives the ring / epoll). \
         SNDHWM = RCVHWM = {} on both sockets of every implementation; no other tuning. {} \
         repetitions; within each, the implementations run back to back in the order listed. \
         `-spin` variants busy-poll {} µs before blocking; `-batch` variants send {} messages \
         per `send_batch` and receive with `recv_batch` into a 1 MiB buffer. libzmq {} \
         (bundled with the `zmq` crate, static).\n",
        notes::transports_line(cfg),
        cfg.hwm,
        cfg.reps,
        cfg.spin_us,
        cfg.batch,
        meta.libzmq
    );
    let m = &meta.machine;
    let _ = writeln!(
        s,
        "Machine: cpu: {}; nproc: {}; kernel: {}; os: {}.\n",
        m.cpu, m.nproc, m.kernel, m.os
    );
    let _ = writeln!(
        s,
        "Cells are median [min–max] over the successful runs. Ratios are paired: for each \
         repetition, A's run divided by B's run from the same repetition; then median \
         [min–max] of those ratios over n pairs. On a noisy 2-vCPU machine compare ratios, \
         not absolute numbers from different sessions. CPU ns/msg = user + sys time of both \
         processes (all threads, `getrusage`) from socket open to the end of the run, \
         divided by the messages moved (warm-up included; a round trip is 2 messages). Peak \
         RSS = `ru_maxrss` of each process.\n"
    );
    let all: Vec<Impl> = plan.iter().flat_map(|(_, i)| i.iter().copied()).collect();
    s.push_str(&notes::libraries(&all));

    for (case, impls) in plan {
        let test = &case.test;
        let cols = columns(*test);
        let _ = writeln!(s, "## {}\n", notes::title(case, cfg));
        let note = notes::pattern_note(case);
        if !note.is_empty() {
            let _ = writeln!(s, "{note}\n");
        }
        let _ = write!(s, "| implementation | ok |");
        for (_, h) in cols {
            let _ = write!(s, " {h} |");
        }
        let _ = write!(s, "\n|---|---:|");
        s.push_str(&"---:|".repeat(cols.len()));
        s.push('\n');
        for &imp in impls {
            let ok = series(records, case, imp, cols[0].0, cfg.reps)
                .iter()
                .flatten()
                .count();
            let _ = write!(s, "| {} | {ok}/{} |", imp.name, cfg.reps);
            for (k, _) in cols {
                let _ = write!(
                    s,
                    " {} |",
                    cell(summary(&series(records, case, imp, k, cfg.reps)))
                );
            }
            s.push('\n');
        }
        for (imp, why) in notes::not_applicable(cfg, case) {
            let _ = writeln!(
                s,
                "| {} | n/a | {why} |{}",
                imp.name,
                " – |".repeat(cols.len() - 1)
            );
        }
        let pairs = pairs(impls);
        if !pairs.is_empty() {
            let rcols = ratio_columns(*test);
            let better = match test {
                Test::Thr => "> 1: A is faster; CPU/msg < 1: A uses less CPU",
                Test::Lat => "< 1: A has lower latency / uses less CPU",
            };
            let _ = write!(
                s,
                "\nPaired ratios A / B ({better}; `ringlink-` omitted):\n\n| comparison | A / B |"
            );
            for (_, h) in rcols {
                let _ = write!(s, " {h} |");
            }
            let _ = write!(s, " n |\n|---|---|");
            s.push_str(&"---:|".repeat(rcols.len() + 1));
            s.push('\n');
            let mut group = None;
            for (kind, a, b) in pairs {
                // The comparison is named on the first row of its group only.
                let label = if group == Some(kind) {
                    ""
                } else {
                    kind.label()
                };
                group = Some(kind);
                let _ = write!(s, "| {label} | {} / {} |", short(a), short(b));
                let mut n = 0;
                for (k, _) in rcols {
                    let r = ratios(records, case, a, b, k, cfg.reps);
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
                    r.case.label(),
                    r.rep + 1,
                    r.imp.name,
                    e
                );
            }
        }
        s.push('\n');
    }
    s
}

/// The whole `results.json`.
#[derive(Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    meta: &'a Meta,
    config: ConfigJson<'a>,
    runs: Vec<RunJson<'a>>,
    /// One entry per table, in report order.
    summary: Vec<CaseSummary>,
}

#[derive(Serialize)]
struct ConfigJson<'a> {
    mode: &'static str,
    #[serde(flatten)]
    cfg: &'a Config,
}

#[derive(Serialize)]
struct RunJson<'a> {
    #[serde(flatten)]
    record: &'a Record,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    metrics: Option<MetricMap<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

/// Metrics as a JSON object, in report order.
struct MetricMap<'a>(&'a Metrics);

impl Serialize for MetricMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

#[derive(Serialize)]
struct CaseSummary {
    #[serde(flatten)]
    case: Case,
    impls: Vec<ImplSummary>,
    ratios: Vec<RatioJson>,
}

#[derive(Serialize)]
struct ImplSummary {
    #[serde(rename = "impl")]
    imp: Impl,
    mode: String,
    ok: usize,
    /// `None` (null) where no run succeeded.
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

pub fn json(
    meta: &Meta,
    cfg: &Config,
    plan: &[(Case, Vec<Impl>)],
    records: &[Record],
) -> Result<String, String> {
    let runs = records
        .iter()
        .map(|r| RunJson {
            record: r,
            ok: r.outcome.is_ok(),
            metrics: r.outcome.as_ref().ok().map(MetricMap),
            error: r.outcome.as_ref().err().map(String::as_str),
        })
        .collect();
    let summary = plan
        .iter()
        .map(|(case, impls)| {
            let test = case.test;
            let impls_json = impls
                .iter()
                .map(|&imp| ImplSummary {
                    imp,
                    mode: imp.mode(),
                    ok: series(records, case, imp, columns(test)[0].0, cfg.reps)
                        .iter()
                        .flatten()
                        .count(),
                    metrics: columns(test)
                        .iter()
                        .map(|&(k, _)| (k, summary(&series(records, case, imp, k, cfg.reps))))
                        .collect(),
                })
                .collect();
            let ratios_json = pairs(impls)
                .into_iter()
                .flat_map(|(kind, a, b)| {
                    ratio_columns(test)
                        .iter()
                        .map(move |&(metric, _)| RatioJson {
                            kind,
                            a,
                            b,
                            metric,
                            paired: Summary::of(&ratios(records, case, a, b, metric, cfg.reps)),
                        })
                })
                .collect();
            CaseSummary {
                case: *case,
                impls: impls_json,
                ratios: ratios_json,
            }
        })
        .collect();
    let report = Report {
        meta,
        config: ConfigJson { mode: "proc", cfg },
        runs,
        summary,
    };
    serde_json::to_string_pretty(&report)
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(|e| format!("results.json: {e}"))
}

/// `zmq_bench.c`-style `RESULT` lines (one per successful run, in run order), readable by
/// `tools/baseline/summarize.py`; failed runs become `FAILED` lines, which it skips.
pub fn result_lines(meta: &Meta, records: &[Record]) -> String {
    let mut s = String::new();
    for r in records {
        let lib = if r.imp.is_libzmq() {
            format!("libzmq-{}", meta.libzmq)
        } else {
            r.imp.name.to_string()
        };
        let c = &r.case;
        let (kind, n) = match c.test {
            Test::Thr => ("thr", "count"),
            Test::Lat => ("lat", "roundtrips"),
        };
        let head = format!(
            "lib={lib} kind={kind} pattern={} transport={} size={} {n}={} mode=proc",
            c.pattern.name(),
            c.transport.name(),
            c.size,
            c.count
        );
        match &r.outcome {
            Ok(m) => {
                let _ = write!(s, "RESULT {head}");
                if c.test == Test::Thr {
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
pub(crate) mod tests {
    use std::time::Duration;

    use super::*;
    use crate::impls::{Pattern, Transport};

    /// A thr-only PAIR 64 B configuration (also the verdict tests').
    pub(crate) fn config(reps: usize) -> Config {
        Config {
            reps,
            tests: vec![Test::Thr],
            patterns: vec![Pattern::Pair],
            transports: vec![Transport::Tcp],
            sizes: vec![64],
            impls: None,
            count: Some(1000),
            roundtrips: 100,
            warmup: 10,
            hwm: 1000,
            batch: 1024,
            spin_us: 50,
            threads: false,
            pin: false,
            timeout: Duration::from_secs(20),
            out: None,
        }
    }

    fn imp(name: &str) -> Impl {
        Impl::parse(name).expect("known implementation")
    }

    const CASE: Case = Case {
        test: Test::Thr,
        pattern: Pattern::Pair,
        transport: Transport::Tcp,
        size: 64,
        count: 1000,
    };

    /// A throughput record whose CPU per message is 30000 / rate.
    fn thr(name: &str, rep: usize, rx: Result<f64, &str>) -> Record {
        Record {
            case: CASE,
            imp: imp(name),
            rep,
            secs: 0.5,
            outcome: rx
                .map(|v| {
                    vec![
                        ("rx_kmsg_s", v),
                        ("tx_kmsg_s", v),
                        ("cpu_ns_msg", 30_000.0 / v),
                    ]
                })
                .map_err(str::to_string),
        }
    }

    /// Two reps of uring, uring-inline and libzmq; uring-inline failed in rep 2.
    type Plan = Vec<(Case, Vec<Impl>)>;

    fn session() -> (Meta, Config, Plan, Vec<Record>) {
        let meta = Meta {
            timestamp: "T".into(),
            libzmq: "4.3.4".into(),
            machine: Machine {
                cpu: "cpu".into(),
                nproc: 2,
                kernel: "k".into(),
                os: "os".into(),
            },
        };
        let impls = vec![
            imp("ringlink-uring"),
            imp("ringlink-uring-inline"),
            imp("libzmq"),
        ];
        let records = vec![
            thr("ringlink-uring", 0, Ok(300.0)),
            thr("ringlink-uring-inline", 0, Ok(400.0)),
            thr("libzmq", 0, Ok(100.0)),
            thr("ringlink-uring", 1, Ok(f64::NAN)),
            thr("ringlink-uring-inline", 1, Err("lost 3 of 1000 messages")),
            thr("libzmq", 1, Ok(200.0)),
        ];
        (meta, config(2), vec![(CASE, impls)], records)
    }

    #[test]
    fn markdown_has_grouped_paired_ratios_and_failures() {
        let (meta, cfg, plan, records) = session();
        let md = markdown(&meta, &cfg, &plan, &records);
        assert!(
            md.contains("| ringlink-uring-inline | 1/2 | 400.0 |"),
            "{md}"
        );
        // uring's NaN rep pairs with nothing; inline's failed rep 2 pairs with nothing.
        assert!(
            md.contains("| vs libzmq | uring / libzmq | 3.000 | 3.000 | 0.333 | 1 |"),
            "{md}"
        );
        assert!(
            md.contains("|  | uring-inline / libzmq | 4.000 | 4.000 | 0.250 | 1 |"),
            "{md}"
        );
        assert!(
            md.contains("| inline vs threaded | uring-inline / uring | 1.333 |"),
            "{md}"
        );
        assert!(md.contains("## Throughput: PAIR over tcp, 64 B × 1000 messages"));
        assert!(
            md.contains("* thr PAIR tcp 64 B rep 2 ringlink-uring-inline: lost 3 of 1000 messages"),
            "{md}"
        );
        let lines = result_lines(&meta, &records);
        assert!(lines.starts_with(
            "RESULT lib=ringlink-uring kind=thr pattern=PAIR transport=tcp size=64 count=1000 mode=proc lost=0 rx_kmsg_s=300"
        ), "{lines}");
    }

    #[test]
    fn json_round_trips_through_serde() {
        let (meta, cfg, plan, records) = session();
        let text = json(&meta, &cfg, &plan, &records).expect("serializable");
        let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(v["machine"]["nproc"], 2);
        assert_eq!(v["config"]["timeout_s"], 20.0);
        assert_eq!(v["config"]["patterns"][0], "PAIR");
        assert_eq!(v["config"]["count"], 1000);
        assert_eq!(v["runs"][0]["impl"], "ringlink-uring");
        assert_eq!(v["runs"][0]["pattern"], "PAIR");
        assert_eq!(v["runs"][0]["transport"], "tcp");
        assert_eq!(v["runs"][0]["rep"], 1);
        assert_eq!(v["runs"][0]["metrics"]["rx_kmsg_s"], 300.0);
        assert!(
            v["runs"][3]["metrics"]["rx_kmsg_s"].is_null(),
            "NaN is null"
        );
        assert_eq!(v["runs"][4]["ok"], false);
        assert_eq!(v["runs"][4]["error"], "lost 3 of 1000 messages");
        assert!(v["runs"][4].get("metrics").is_none());
        let thr = &v["summary"][0];
        assert_eq!(thr["test"], "thr");
        assert_eq!(thr["size"], 64);
        assert_eq!(thr["impls"][1]["mode"], "inline");
        assert_eq!(thr["impls"][1]["ok"], 1);
        assert_eq!(thr["ratios"][0]["kind"], "vs-libzmq");
        assert_eq!(thr["ratios"][0]["paired"]["median"], 3.0);
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
