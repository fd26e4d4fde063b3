//! ringlink against every other library of a `compare` session (issue 17): one summary
//! table of paired ratios per (table, library row), and the targets against the
//! Rust peers: per-message throughput ≥ 2×, batch throughput ≥ 4× on every shared pattern,
//! RTT p50 no higher. A miss names its row so the cause can be looked up in the tables.

use std::fmt::Write;

use crate::compare::{Case, Config, Record};
use crate::impls::{Impl, Test};
use crate::report::{ratios, series, summary};
use crate::stats::{fmt_num, Summary};

/// Target ratios of issue 17.
const PER_MESSAGE: f64 = 2.0;
const BATCH: f64 = 4.0;
const RTT_P50: f64 = 1.0;

/// The best (highest for thr, lowest for lat) paired median of `metric` over the ringlink
/// rows of `impls` accepted by `pick`, against `b`: (row, ratio).
fn best(
    records: &[Record],
    cfg: &Config,
    case: &Case,
    impls: &[Impl],
    b: Impl,
    metric: &str,
    pick: impl Fn(&Impl) -> bool,
) -> Option<(Impl, f64)> {
    let higher = case.test == Test::Thr;
    impls
        .iter()
        .filter(|a| a.is_ringlink() && pick(a))
        .filter_map(|&a| {
            Summary::of(&ratios(records, case, a, b, metric, cfg.reps)).map(|s| (a, s.median))
        })
        .max_by(|x, y| {
            if higher {
                x.1.total_cmp(&y.1)
            } else {
                y.1.total_cmp(&x.1)
            }
        })
}

fn ratio_cell(r: Option<(Impl, f64)>) -> String {
    r.map_or_else(
        || "–".to_string(),
        |(a, v)| format!("{v:.2} ({})", a.name.trim_start_matches("ringlink-")),
    )
}

/// One target's rows: (where, paired median).
struct Target {
    what: String,
    rows: Vec<(String, f64)>,
    ok: fn(f64) -> bool,
}

impl Target {
    fn new(what: &str, ok: fn(f64) -> bool) -> Target {
        Target {
            what: what.to_string(),
            rows: Vec::new(),
            ok,
        }
    }

    fn line(&self) -> String {
        if self.rows.is_empty() {
            return format!(
                "* {}: not measured in this session (run `compare --impls` with rzmq or zeromq rows)\n",
                self.what
            );
        }
        let missed: Vec<String> = self
            .rows
            .iter()
            .filter(|(_, v)| !(self.ok)(*v))
            .map(|(at, v)| format!("{at} {v:.2}"))
            .collect();
        if missed.is_empty() {
            format!("* {}: **met** ({} rows)\n", self.what, self.rows.len())
        } else {
            format!(
                "* {}: **MISSED** in {} of {} rows: {}\n",
                self.what,
                missed.len(),
                self.rows.len(),
                missed.join("; ")
            )
        }
    }
}

/// The Markdown section; empty if the session ran no library but ringlink.
pub fn section(cfg: &Config, plan: &[(Case, Vec<Impl>)], records: &[Record]) -> String {
    if plan.iter().all(|(_, i)| i.iter().all(Impl::is_ringlink)) {
        return String::new();
    }
    let mut s = String::from(
        "## ringlink against each library (issue 17)\n\nPaired medians over this \
         session's repetitions; each ratio is the best ringlink row of the table (named) \
         against the library's row. thr: rx Kmsg/s ratio (> 1: ringlink faster), per-message \
         rows and batch rows apart; lat: RTT p50 ratio (< 1: ringlink lower), any row and \
         rows that do not spin apart (a spinning row burns a core while it waits).\n\n\
         | test | pattern | size | library row | its median | best per-message ringlink / it | thr: best batch, lat: best non-spinning ringlink / it |\n\
         |---|---|---:|---|---:|---|---|\n",
    );
    let mut per_msg = Target::new(
        "ringlink per-message ≥ 2× every Rust peer's throughput (every shared pattern)",
        |v| v >= PER_MESSAGE,
    );
    let mut batch = Target::new(
        "ringlink batch ≥ 4× every Rust peer's throughput (every shared pattern)",
        |v| v >= BATCH,
    );
    let mut p50 = Target::new("ringlink RTT p50 ≤ every Rust peer's (best row)", |v| {
        v <= RTT_P50
    });
    let mut p50_calm = Target::new(
        "ringlink RTT p50 ≤ every Rust peer's (best row that does not spin)",
        |v| v <= RTT_P50,
    );
    for (case, impls) in plan {
        let (metric, unit) = match case.test {
            Test::Thr => ("rx_kmsg_s", "Kmsg/s"),
            Test::Lat => ("rtt_p50_us", "µs p50"),
        };
        for &b in impls.iter().filter(|i| !i.is_ringlink()) {
            let med = summary(&series(records, case, b, metric, cfg.reps)).map_or_else(
                || "–".to_string(),
                |m| format!("{} {unit}", fmt_num(m.median)),
            );
            let one = best(records, cfg, case, impls, b, metric, |a| !a.batch);
            let many = match case.test {
                Test::Thr => best(records, cfg, case, impls, b, metric, |a| a.batch),
                Test::Lat => best(records, cfg, case, impls, b, metric, |a| !a.spin),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {med} | {} | {} |",
                case.test.name(),
                case.pattern.name(),
                case.size,
                b.name,
                ratio_cell(one),
                ratio_cell(many)
            );
            if b.is_libzmq() {
                continue; // issue 17's targets are about the Rust peers
            }
            let at = |r: &Impl| {
                format!(
                    "{} {} B {} / {}",
                    case.pattern.name(),
                    case.size,
                    r.name.trim_start_matches("ringlink-"),
                    b.name
                )
            };
            match case.test {
                Test::Thr => {
                    if let Some((a, v)) = one {
                        per_msg.rows.push((at(&a), v));
                    }
                    if let Some((a, v)) = many {
                        batch.rows.push((at(&a), v));
                    }
                }
                Test::Lat => {
                    if let Some((a, v)) = one {
                        p50.rows.push((at(&a), v));
                    }
                    if let Some((a, v)) = many {
                        p50_calm.rows.push((at(&a), v));
                    }
                }
            }
        }
    }
    s.push_str("\nTargets of issue 17:\n\n");
    for t in [&per_msg, &batch, &p50, &p50_calm] {
        s.push_str(&t.line());
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::impls::{Pattern, Transport};
    use crate::report::tests::config;

    fn rec(name: &str, rep: usize, rx: f64) -> Record {
        Record {
            case: CASE,
            imp: Impl::parse(name).expect("known"),
            rep,
            secs: 0.1,
            outcome: Ok(vec![("rx_kmsg_s", rx)]),
        }
    }

    const CASE: Case = Case {
        test: Test::Thr,
        pattern: Pattern::PushPull,
        transport: Transport::Tcp,
        size: 64,
        count: 1000,
    };

    #[test]
    fn best_rows_and_targets() {
        let names = [
            "ringlink-uring",
            "ringlink-epoll",
            "ringlink-uring-batch",
            "rzmq",
            "libzmq",
        ];
        let impls: Vec<Impl> = names.iter().map(|n| Impl::parse(n).unwrap()).collect();
        let mut records = Vec::new();
        for rep in 0..2 {
            for (n, v) in names.iter().zip([300.0, 250.0, 900.0, 100.0, 150.0]) {
                records.push(rec(n, rep, v));
            }
        }
        let cfg = config(2);
        let md = section(&cfg, &[(CASE, impls)], &records);
        assert!(
            md.contains("| thr | PUSH_PULL | 64 | rzmq | 100.0 Kmsg/s | 3.00 (uring) | 9.00 (uring-batch) |"),
            "{md}"
        );
        assert!(
            md.contains("| libzmq | 150.0 Kmsg/s | 2.00 (uring) |"),
            "{md}"
        );
        assert!(md.contains("per-message ≥ 2× every Rust peer's throughput (every shared pattern): **met** (1 rows)"), "{md}");
        assert!(
            md.contains("batch ≥ 4× every Rust peer's throughput (every shared pattern): **met**"),
            "{md}"
        );
        assert!(
            md.contains("RTT p50 ≤ every Rust peer's (best row): not measured"),
            "{md}"
        );
    }

    #[test]
    fn ringlink_only_sessions_have_no_section() {
        let impls = vec![Impl::parse("ringlink-uring").unwrap()];
        assert!(section(&config(1), &[(CASE, impls)], &[]).is_empty());
    }
}
