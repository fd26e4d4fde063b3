//! The service-layer targets (issue 14), judged after a `compare` session that ran GATEWAY
//! and SPOT next to their socket counterparts: GATEWAY throughput ≥ 0.8× DEALER_ROUTER,
//! SPOT throughput ≥ 0.7× PUBSUB, SPOT latency p50 ≤ 2× the DEALER_ROUTER ping-pong (the
//! session has no PUBSUB ping-pong; one PUB → SUB hop each way is what both measure).
//!
//! `compare` runs every case in every repetition, and a service run right next to its
//! counterpart's run of the same implementation (`schedule`): each row is the median over
//! repetitions of the paired ratio (repetition i of one case over repetition i of the
//! other, same implementation), as the implementation ratios are.

use std::fmt::Write;

use crate::compare::{Case, Config, Record};
use crate::impls::{Impl, Pattern, Test};
use crate::report::{series, summary};

/// The ringlink rows that run the service layer.
const IMPLS: [&str; 4] = [
    "ringlink-uring",
    "ringlink-epoll",
    "ringlink-uring-batch",
    "ringlink-epoll-batch",
];

/// The median over repetitions of `a`'s `metric` over `b`'s in the same repetition.
fn paired(
    records: &[Record],
    cfg: &Config,
    (ca, ia): (&Case, Impl),
    (cb, ib): (&Case, Impl),
    metric: &str,
) -> Option<f64> {
    let xs = series(records, ca, ia, metric, cfg.reps);
    let ys = series(records, cb, ib, metric, cfg.reps);
    let ratios: Vec<Option<f64>> = xs
        .iter()
        .zip(&ys)
        .map(|(x, y)| match (x, y) {
            (Some(x), Some(y)) if *y > 0.0 => Some(x / y),
            _ => None,
        })
        .collect();
    summary(&ratios).map(|s| s.median)
}

/// For every implementation and size that ran both patterns, the paired median of `a`'s
/// `metric` over `b`'s.
fn rows(
    plan: &[(Case, Vec<Impl>)],
    records: &[Record],
    cfg: &Config,
    (test, a, b, metric): (Test, Pattern, Pattern, &str),
) -> Vec<(String, f64)> {
    let mut rows = Vec::new();
    for (ca, ia) in plan
        .iter()
        .filter(|(c, _)| c.test == test && c.pattern == a)
    {
        let Some((cb, ib)) = plan.iter().find(|(c, _)| {
            c.test == test && c.pattern == b && c.size == ca.size && c.transport == ca.transport
        }) else {
            continue;
        };
        for name in IMPLS {
            let (Some(x), Some(y)) = (
                ia.iter().find(|i| i.name == name),
                ib.iter().find(|i| i.name == name),
            ) else {
                continue;
            };
            if let Some(r) = paired(records, cfg, (ca, *x), (cb, *y), metric) {
                let at = format!("{} B {}", ca.size, name.trim_start_matches("ringlink-"));
                rows.push((at, r));
            }
        }
    }
    rows
}

fn listed(rows: &[(String, f64)]) -> String {
    let list: Vec<String> = rows.iter().map(|(at, v)| format!("{at} {v:.2}")).collect();
    list.join(", ")
}

/// One target over [`rows`]: met when every row is `ok`.
fn target(
    out: &mut String,
    what: &str,
    plan: &[(Case, Vec<Impl>)],
    records: &[Record],
    cfg: &Config,
    key: (Test, Pattern, Pattern, &str),
    ok: impl Fn(f64) -> bool,
) {
    let rows = rows(plan, records, cfg, key);
    if rows.is_empty() {
        let _ = writeln!(
            out,
            "* {what}: not measured in this session (run `compare --patterns {},{}`)",
            key.1.name(),
            key.2.name()
        );
        return;
    }
    let met = rows.iter().filter(|(_, v)| ok(*v)).count();
    let verdict = if met == rows.len() { "met" } else { "MISSED" };
    let _ = writeln!(
        out,
        "* {what}: **{verdict}** ({met} of {} rows met: {})",
        rows.len(),
        listed(&rows)
    );
}

/// The same ratio for CPU per message, printed under a throughput target without a verdict
/// of its own: the service's cost per message (on 2 vCPUs it moves with thread placement
/// too: cross-vCPU wake-ups cost CPU; docs/services.md).
fn cpu_line(
    out: &mut String,
    what: &str,
    plan: &[(Case, Vec<Impl>)],
    records: &[Record],
    cfg: &Config,
    (a, b): (Pattern, Pattern),
) {
    let rows = rows(plan, records, cfg, (Test::Thr, a, b, "cpu_ns_msg"));
    if !rows.is_empty() {
        let _ = writeln!(
            out,
            "  * {what} (CPU per message, no target of its own): {}",
            listed(&rows)
        );
    }
}

/// The verdict section (Markdown), empty when the session ran no service pattern.
pub fn verdicts(cfg: &Config, plan: &[(Case, Vec<Impl>)], records: &[Record]) -> String {
    if !plan.iter().any(|(c, _)| c.pattern.is_service()) {
        return String::new();
    }
    let mut out = String::from(
        "## Targets (issue 14: the service layer)\n\nPer implementation, the median over \
         repetitions of the two cases' ratio within a repetition (every repetition runs every \
         case).\n\n",
    );
    target(
        &mut out,
        "GATEWAY / DEALER_ROUTER rx ≥ 0.8",
        plan,
        records,
        cfg,
        (
            Test::Thr,
            Pattern::Gateway,
            Pattern::DealerRouter,
            "rx_kmsg_s",
        ),
        |v| v >= 0.8,
    );
    cpu_line(
        &mut out,
        "GATEWAY / DEALER_ROUTER CPU/msg",
        plan,
        records,
        cfg,
        (Pattern::Gateway, Pattern::DealerRouter),
    );
    target(
        &mut out,
        "SPOT / PUBSUB rx ≥ 0.7",
        plan,
        records,
        cfg,
        (Test::Thr, Pattern::Spot, Pattern::PubSub, "rx_kmsg_s"),
        |v| v >= 0.7,
    );
    cpu_line(
        &mut out,
        "SPOT / PUBSUB CPU/msg",
        plan,
        records,
        cfg,
        (Pattern::Spot, Pattern::PubSub),
    );
    target(
        &mut out,
        "SPOT / DEALER_ROUTER RTT p50 ≤ 2",
        plan,
        records,
        cfg,
        (
            Test::Lat,
            Pattern::Spot,
            Pattern::DealerRouter,
            "rtt_p50_us",
        ),
        |v| v <= 2.0,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::impls::Transport;
    use crate::report::tests::config;

    fn case(test: Test, pattern: Pattern) -> Case {
        Case {
            test,
            pattern,
            transport: Transport::Tcp,
            size: 64,
            count: 1000,
        }
    }

    fn rec(case: Case, name: &str, metric: &'static str, v: f64) -> Record {
        rec_at(case, name, metric, v, 0)
    }

    fn rec_at(case: Case, name: &str, metric: &'static str, v: f64, rep: usize) -> Record {
        Record {
            case,
            imp: Impl::parse(name).expect("known implementation"),
            rep,
            secs: 0.5,
            outcome: Ok(vec![(metric, v)]),
        }
    }

    #[test]
    fn paired_ratios_per_implementation() {
        let (gw, dr) = (
            case(Test::Thr, Pattern::Gateway),
            case(Test::Thr, Pattern::DealerRouter),
        );
        let (spot, drl) = (
            case(Test::Lat, Pattern::Spot),
            case(Test::Lat, Pattern::DealerRouter),
        );
        let records = vec![
            rec(gw, "ringlink-uring", "rx_kmsg_s", 900.0),
            rec(dr, "ringlink-uring", "rx_kmsg_s", 1000.0),
            rec(gw, "ringlink-epoll-batch", "rx_kmsg_s", 700.0),
            rec(dr, "ringlink-epoll-batch", "rx_kmsg_s", 1000.0),
            rec(spot, "ringlink-uring", "rtt_p50_us", 150.0),
            rec(drl, "ringlink-uring", "rtt_p50_us", 100.0),
        ];
        let imp = |names: &[&str]| -> Vec<Impl> {
            names.iter().map(|n| Impl::parse(n).unwrap()).collect()
        };
        let both = imp(&["ringlink-uring", "ringlink-epoll-batch"]);
        let plan = vec![
            (gw, both.clone()),
            (dr, both),
            (spot, imp(&["ringlink-uring"])),
            (drl, imp(&["ringlink-uring"])),
        ];
        let out = verdicts(&config(1), &plan, &records);
        let line = |start: &str| {
            out.lines()
                .find(|l| l.starts_with(start))
                .unwrap_or_else(|| panic!("no line {start:?} in\n{out}"))
                .to_string()
        };
        assert!(
            line("* GATEWAY")
                .contains("**MISSED** (1 of 2 rows met: 64 B uring 0.90, 64 B epoll-batch 0.70)"),
            "{out}"
        );
        assert!(line("* SPOT / PUBSUB").contains("not measured"));
        assert!(
            line("* SPOT / DEALER_ROUTER").contains("**met** (1 of 1 rows met: 64 B uring 1.50)")
        );
        assert!(verdicts(&config(1), &plan[1..2], &records).is_empty());
    }

    #[test]
    fn cpu_per_message_is_listed_under_its_target_without_a_verdict() {
        let (gw, dr) = (
            case(Test::Thr, Pattern::Gateway),
            case(Test::Thr, Pattern::DealerRouter),
        );
        let both = |case: Case, rx: f64, cpu: f64| Record {
            case,
            imp: Impl::parse("ringlink-uring").unwrap(),
            rep: 0,
            secs: 0.5,
            outcome: Ok(vec![("rx_kmsg_s", rx), ("cpu_ns_msg", cpu)]),
        };
        let records = vec![both(gw, 500.0, 110.0), both(dr, 1000.0, 100.0)];
        let imp = vec![Impl::parse("ringlink-uring").unwrap()];
        let plan = vec![(gw, imp.clone()), (dr, imp)];
        let out = verdicts(&config(1), &plan, &records);
        let lines: Vec<&str> = out.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.starts_with("* GATEWAY / DEALER_ROUTER rx"))
            .expect("the throughput target");
        assert!(
            lines[at].contains("**MISSED** (0 of 1 rows met: 64 B uring 0.50)"),
            "{out}"
        );
        assert_eq!(
            lines[at + 1],
            "  * GATEWAY / DEALER_ROUTER CPU/msg (CPU per message, no target of its own): \
             64 B uring 1.10"
        );
        assert!(!out.contains("SPOT / PUBSUB CPU/msg"), "{out}");
    }

    #[test]
    fn ratios_pair_repetitions_instead_of_dividing_medians() {
        let (gw, dr) = (
            case(Test::Thr, Pattern::Gateway),
            case(Test::Thr, Pattern::DealerRouter),
        );
        let name = "ringlink-epoll";
        // Per repetition 1.0, 0.5, 2.0 (median 1.0); the medians' ratio would be 200/150.
        // A repetition that failed in one case (the fourth) pairs with nothing.
        let mut records = Vec::new();
        for (rep, (a, b)) in [(100.0, 100.0), (200.0, 400.0), (300.0, 150.0)]
            .into_iter()
            .enumerate()
        {
            records.push(rec_at(gw, name, "rx_kmsg_s", a, rep));
            records.push(rec_at(dr, name, "rx_kmsg_s", b, rep));
        }
        records.push(rec_at(gw, name, "rx_kmsg_s", 10.0, 3));
        let imps = vec![Impl::parse(name).unwrap()];
        let plan = vec![(gw, imps.clone()), (dr, imps)];
        let out = verdicts(&config(4), &plan, &records);
        assert!(
            out.contains(
                "GATEWAY / DEALER_ROUTER rx ≥ 0.8: **met** (1 of 1 rows met: 64 B epoll 1.00)"
            ),
            "{out}"
        );
    }
}
