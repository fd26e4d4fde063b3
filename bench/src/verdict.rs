//! The throughput targets of the io_uring work (issue 11), judged after a `compare` session:
//! one line per target, met or missed, with the worst paired median and where it was. A
//! target whose rows this session did not run says so and names the command that does.

use std::fmt::Write;

use crate::compare::{Case, Config, Record};
use crate::impls::{Impl, Pattern, Test};
use crate::report::{ratios, series, summary};

/// The four ways ringlink runs: reactor thread or inline, per message or batch.
const MODES: [&str; 4] = ["", "-batch", "-inline", "-inline-batch"];

/// One row of a target: where, and its paired median.
struct Row {
    at: String,
    value: f64,
}

/// The thr cases of small messages (the per-message targets are about 64 B) of the socket
/// patterns (the service layer has targets of its own: `verdict_services`).
fn small_thr(plan: &[(Case, Vec<Impl>)]) -> impl Iterator<Item = &(Case, Vec<Impl>)> {
    plan.iter()
        .filter(|(c, _)| c.test == Test::Thr && c.size <= 1024 && !c.pattern.is_service())
}

fn find(impls: &[Impl], name: &str) -> Option<Impl> {
    impls.iter().copied().find(|i| i.name == name)
}

/// Median of the paired ratios `a / b` of `metric`, if both ran.
fn paired(
    records: &[Record],
    cfg: &Config,
    case: &Case,
    impls: &[Impl],
    a: &str,
    b: &str,
    metric: &str,
) -> Option<f64> {
    let (a, b) = (find(impls, a)?, find(impls, b)?);
    crate::stats::Summary::of(&ratios(records, case, a, b, metric, cfg.reps)).map(|s| s.median)
}

fn where_(case: &Case, what: &str) -> String {
    format!("{} {} B {what}", case.pattern.name(), case.size)
}

/// "met"/"MISSED" and the worst row, for rows that must all be `ok`.
fn judge(
    out: &mut String,
    target: &str,
    rows: &[Row],
    ok: impl Fn(f64) -> bool,
    worse: impl Fn(f64, f64) -> bool,
    missing: &str,
) {
    let Some(worst) = rows
        .iter()
        .reduce(|w, r| if worse(r.value, w.value) { r } else { w })
    else {
        let _ = writeln!(out, "* {target}: not measured in this session ({missing})");
        return;
    };
    let met = rows.iter().filter(|r| ok(r.value)).count();
    let verdict = if met == rows.len() { "met" } else { "MISSED" };
    let _ = writeln!(
        out,
        "* {target}: **{verdict}** ({met} of {} rows met; worst {:.3}, {})",
        rows.len(),
        worst.value,
        worst.at
    );
}

/// The verdict section (Markdown) for a finished session.
pub fn verdicts(cfg: &Config, plan: &[(Case, Vec<Impl>)], records: &[Record]) -> String {
    let mut out = String::from(
        "## Targets (issue 11)\n\nPaired medians over this session's repetitions; a target \
         holds only if every row meets it.\n\n",
    );
    let default_cmd = "run the default `compare`";

    let mut rx = Vec::new();
    let mut cpu = Vec::new();
    for (case, impls) in small_thr(plan) {
        for m in MODES {
            let (u, e) = (format!("ringlink-uring{m}"), format!("ringlink-epoll{m}"));
            let at = where_(case, &format!("uring{m} / epoll{m}"));
            if let Some(v) = paired(records, cfg, case, impls, &u, &e, "rx_kmsg_s") {
                rx.push(Row {
                    at: at.clone(),
                    value: v,
                });
            }
            if let Some(v) = paired(records, cfg, case, impls, &u, &e, "cpu_ns_msg") {
                cpu.push(Row { at, value: v });
            }
        }
    }
    judge(
        &mut out,
        "io_uring / epoll rx ≥ 1.10",
        &rx,
        |v| v >= 1.10,
        |a, b| a < b,
        default_cmd,
    );
    judge(
        &mut out,
        "CPU/msg io_uring / epoll ≤ 0.90",
        &cpu,
        |v| v <= 0.90,
        |a, b| a > b,
        default_cmd,
    );

    let mut batch = Vec::new();
    for (case, impls) in small_thr(plan).filter(|(c, _)| {
        matches!(
            c.pattern,
            Pattern::Pair | Pattern::DealerRouter | Pattern::RouterRouterPoll
        )
    }) {
        for base in ["uring", "epoll", "uring-inline", "epoll-inline"] {
            let (b, p) = (format!("ringlink-{base}-batch"), format!("ringlink-{base}"));
            if let Some(v) = paired(records, cfg, case, impls, &b, &p, "rx_kmsg_s") {
                let at = where_(case, &format!("{base}-batch / {base}"));
                batch.push(Row { at, value: v });
            }
        }
    }
    judge(
        &mut out,
        "batch / per-message rx ≥ 1.5 (PAIR, DEALER_ROUTER, ROUTER_ROUTER_POLL)",
        &batch,
        |v| v >= 1.5,
        |a, b| a < b,
        default_cmd,
    );

    // The best io_uring batch row of PAIR at 64 B, by median rx.
    let mut best: Option<Row> = None;
    for (case, impls) in small_thr(plan).filter(|(c, _)| c.pattern == Pattern::Pair && c.size == 64)
    {
        for name in ["ringlink-uring-batch", "ringlink-uring-inline-batch"] {
            let Some(imp) = find(impls, name) else {
                continue;
            };
            if let Some(s) = summary(&series(records, case, imp, "rx_kmsg_s", cfg.reps)) {
                if best.as_ref().is_none_or(|b| s.median / 1000.0 > b.value) {
                    best = Some(Row {
                        at: where_(case, name.trim_start_matches("ringlink-")),
                        value: s.median / 1000.0,
                    });
                }
            }
        }
    }
    judge(
        &mut out,
        "PAIR 64 B batch on io_uring ≥ 20 M msg/s (best row, M msg/s)",
        best.as_slice(),
        |v| v >= 20.0,
        |a, b| a < b,
        default_cmd,
    );

    // Per pattern, the best per-message ringlink row against libzmq.
    let mut zmq = Vec::new();
    for (case, impls) in small_thr(plan) {
        let best = impls
            .iter()
            .filter(|i| i.is_ringlink() && !i.batch)
            .filter_map(|i| {
                paired(records, cfg, case, impls, i.name, "libzmq", "rx_kmsg_s").map(|v| (i, v))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((i, v)) = best {
            let at = where_(
                case,
                &format!("{} / libzmq", i.name.trim_start_matches("ringlink-")),
            );
            zmq.push(Row { at, value: v });
        }
    }
    judge(
        &mut out,
        "per-message vs libzmq ≥ 2.5× on every pattern (best ringlink row)",
        &zmq,
        |v| v >= 2.5,
        |a, b| a < b,
        default_cmd,
    );

    let mut large = Vec::new();
    for (case, impls) in plan
        .iter()
        .filter(|(c, _)| c.test == Test::Thr && c.pattern == Pattern::Pair && c.size == 65536)
    {
        let best = impls
            .iter()
            .filter(|i| i.is_ringlink())
            .filter_map(|i| paired(records, cfg, case, impls, i.name, "libzmq", "rx_kmsg_s"))
            .max_by(f64::total_cmp);
        if let Some(v) = best {
            large.push(Row {
                at: where_(case, "best ringlink / libzmq"),
                value: v,
            });
        }
    }
    judge(
        &mut out,
        "64 KiB PAIR vs libzmq ≥ 1.5× (best ringlink row)",
        &large,
        |v| v >= 1.5,
        |a, b| a < b,
        "run `compare --patterns PAIR --tests thr --sizes 65536`",
    );
    out.push_str(
        "* 1,000-connection fan-in io_uring / epoll ≥ 1.3× and 10,000-connection set-up no \
         slower on io_uring: measured by `ringlink-bench scale`, not by `compare`\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::impls::Transport;
    use crate::report::tests::config;

    const CASE: Case = Case {
        test: Test::Thr,
        pattern: Pattern::Pair,
        transport: Transport::Tcp,
        size: 64,
        count: 1000,
    };

    /// A record with CPU per message 30000 / rate (so a faster run uses less CPU).
    fn thr(name: &str, rx: f64) -> Record {
        Record {
            case: CASE,
            imp: Impl::parse(name).expect("known implementation"),
            rep: 0,
            secs: 0.5,
            outcome: Ok(vec![
                ("rx_kmsg_s", rx),
                ("tx_kmsg_s", rx),
                ("cpu_ns_msg", 30_000.0 / rx),
            ]),
        }
    }

    #[test]
    fn each_target_is_judged_on_its_worst_row() {
        let rates = [
            ("ringlink-uring", 360.0),
            ("ringlink-epoll", 300.0),
            ("ringlink-uring-batch", 720.0),
            ("ringlink-epoll-batch", 300.0),
            ("libzmq", 100.0),
        ];
        let records: Vec<Record> = rates.iter().map(|&(n, v)| thr(n, v)).collect();
        let impls = records.iter().map(|r| r.imp).collect();
        let out = verdicts(&config(1), &[(CASE, impls)], &records);
        let line = |start: &str| {
            out.lines()
                .find(|l| l.starts_with(start))
                .unwrap_or_else(|| panic!("no line {start:?} in\n{out}"))
                .to_string()
        };
        // uring / epoll: 1.2 (thread) and 2.4 (batch).
        assert!(line("* io_uring / epoll rx").contains("**met** (2 of 2 rows met; worst 1.200"));
        assert!(line("* CPU/msg").contains("**met** (2 of 2 rows met; worst 0.833"));
        let batch = line("* batch / per-message");
        assert!(
            batch.contains(
                "**MISSED** (1 of 2 rows met; worst 1.000, PAIR 64 B epoll-batch / epoll)"
            ),
            "{batch}"
        );
        assert!(line("* PAIR 64 B batch").contains("**MISSED** (0 of 1 rows met; worst 0.720"));
        assert!(line("* per-message vs libzmq")
            .contains("**met** (1 of 1 rows met; worst 3.600, PAIR 64 B uring / libzmq)"));
        assert!(line("* 64 KiB PAIR").contains("not measured in this session"));
    }
}
