//! The scale report: `scale.md` (tables per test, paired ratios, notes), `scale.json` and
//! the charts.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::{columns, fanout, ratio_columns, Row, ScaleConfig, ScaleTest};
use crate::charts::{self, Chart, Group};
use crate::impls::{pairs, Impl, PairKind};
use crate::report::Meta;
use crate::stats::{paired_ratios, Summary};

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

pub(super) fn markdown(meta: &Meta, cfg: &ScaleConfig, rows: &[Row]) -> String {
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
pub(super) fn scale_charts(cfg: &ScaleConfig, rows: &[Row]) -> Vec<(String, Chart)> {
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

pub(super) fn json(meta: &Meta, cfg: &ScaleConfig, rows: &[Row]) -> Result<String, String> {
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
    use super::super::tests::parse;
    use super::*;
    use crate::charts;

    #[test]
    fn charts_per_test_from_rows() {
        let c = parse("--impls ringlink-uring,libzmq --reps 2").expect("parses");
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
}
