//! soak.md (the table, the failures, the column notes) and one SVG chart per run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::config::{Api, SoakConfig};
use super::figures::{mib, rates, RssStats, Sample};
use super::session::Run;
use crate::charts::{self, Band, Line, LineChart, Panel};
use crate::report::Meta;

pub(super) fn markdown(meta: &Meta, cfg: &SoakConfig, runs: &[Run]) -> String {
    let mut s = String::new();
    let per = cfg.per_run();
    let _ = writeln!(s, "# Soak: {} UTC\n", meta.timestamp);
    let _ = writeln!(
        s,
        "Machine: {} ({} CPUs), kernel {}, {}. Both peers are ringlink processes (one \
         reactor thread each), over tcp loopback.\n",
        meta.machine.cpu, meta.machine.nproc, meta.machine.kernel, meta.machine.os
    );
    let _ = writeln!(
        s,
        "{} combinations × {:.1} s (total `--duration {}`), {} B messages, {} API{}, \
         SNDHWM = RCVHWM = {}. Warm-up: the first {:.1} s of each run ({}% of it, at least {} s). \
         Sampling every {} ms.\n",
        runs.len(),
        per.as_secs_f64(),
        cfg.duration_s,
        cfg.size,
        cfg.api.name(),
        if cfg.api == Api::Batch {
            format!(" (send_batch of {}, recv_batch into 1 MiB)", cfg.batch)
        } else {
            " (one send / recv per frame)".to_string()
        },
        cfg.hwm,
        cfg.warmup(per).as_secs_f64(),
        cfg.warmup_pct,
        cfg.warmup_min_s,
        cfg.sample_ms
    );
    for p in &cfg.patterns {
        let _ = writeln!(s, "* `{}`: {}", p.name(), p.describe());
    }
    s.push('\n');
    s.push_str(
        "| combination | backend | messages | rx M msg/s | min 1-interval | tx M msg/s | lost | out of seq | RSS rx MiB: warm-up end / max / final | RSS tx MiB: warm-up end / max / final | peak RSS rx / tx MiB | max rx backlog (msgs) | CPU ns/msg | load avg (before → after) | verdict |\n",
    );
    s.push_str("|---|---|---:|---:|---:|---:|---:|---:|---|---|---|---:|---:|---|---|\n");
    for r in runs {
        let rss = |x: &Option<RssStats>| {
            x.as_ref().map_or("-".to_string(), |x| {
                format!(
                    "{:.1} / {:.1} / {:.1} ({:+.1}%)",
                    mib(x.ref_kib),
                    mib(x.max_kib),
                    mib(x.final_kib),
                    worst_signed(x)
                )
            })
        };
        let load = format!(
            "{} → {}",
            r.load_before.split_whitespace().next().unwrap_or("?"),
            r.load_after.split_whitespace().next().unwrap_or("?")
        );
        let verdict = if r.ok { "**pass**" } else { "**FAIL**" };
        match &r.figures {
            Some(f) => {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {:.2} | {} | {:.2} | {} | {} | {} | {} | {:.1} / {:.1} | {} | {:.0} | {load} | {verdict} |",
                    r.pattern.name(),
                    r.backend.name(),
                    f.counts.received,
                    f.rx_rate / 1e6,
                    f.rx_min_interval_rate
                        .map_or("-".to_string(), |v| format!("{:.2}", v / 1e6)),
                    f.tx_rate / 1e6,
                    f.counts.lost,
                    f.counts.out_of_sequence,
                    rss(&f.rss_rx),
                    rss(&f.rss_tx),
                    f.peak_rx_kib / 1024.0,
                    f.peak_tx_kib / 1024.0,
                    f.rx_max_queued,
                    f.cpu_ns_per_msg,
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "| {} | {} | - | - | - | - | - | - | - | - | - | - | - | {load} | {verdict} |",
                    r.pattern.name(),
                    r.backend.name()
                );
            }
        }
    }
    let failed: Vec<&Run> = runs.iter().filter(|r| !r.ok).collect();
    if failed.is_empty() {
        let _ = writeln!(s, "\nAll {} combinations passed every check.", runs.len());
    } else {
        s.push_str("\n## Failures\n\n");
        for r in failed {
            let _ = writeln!(s, "* **{}**: {}", r.label(), r.failures.join("; "));
            if r.figures.is_none() {
                let last = |v: &[Sample]| {
                    v.last().map_or("no samples".to_string(), |x| {
                        format!(
                            "{} samples, last at {:.1} s: {} messages, {:.1} MiB",
                            v.len(),
                            r.t0_ns.map_or(0.0, |t0| (x.t_ns - t0) as f64 / 1e9),
                            x.msgs,
                            mib(x.rss_kib)
                        )
                    })
                };
                let _ = writeln!(
                    s,
                    "  (sender: {}; receiver: {})",
                    last(&r.tx_samples),
                    last(&r.rx_samples)
                );
            }
        }
    }
    let _ = write!(
        s,
        "\nColumns: `rx M msg/s` is the receiver's mean (data messages / time from the first to the \
         last receive); `min 1-interval` the lowest receiver rate over one sampling interval \
         after warm-up; `tx` the sender's mean from its start to its last send. `lost` counts \
         the sequence numbers skipped, `out of seq` the messages that did not carry the next \
         expected number. RSS is VmRSS of each process, sampled in the process itself: \
         `warm-up end` is the first sample at or after the end of warm-up (the reference), \
         `max` the largest from there on, `final` the sample taken when the side stopped; \
         the percentage is the largest deviation from the reference (sign: direction). \
         Peak RSS is ru_maxrss over the process's life. `max rx backlog`: the most messages \
         seen queued in the receiving socket's inbound pipe (committed by its reactor, not yet \
         read by the application; checked every ~8 Ki messages), a diagnostic for RSS growth: \
         RCVHWM ({}) is meant to bound it. CPU: both processes, user + sys, per message \
         received.\n",
        cfg.hwm
    );
    s
}

/// The largest deviation from the reference, with its sign.
fn worst_signed(x: &RssStats) -> f64 {
    let r = x.ref_kib.max(1) as f64;
    let up = (x.max_kib as f64 - r) / r * 100.0;
    let down = (x.min_kib as f64 - r) / r * 100.0;
    if up.abs() >= down.abs() {
        up
    } else {
        down
    }
}

/// One chart per run: receiver and sender rate (top) and RSS (bottom) over time, warm-up
/// shaded, the allowed RSS band and the minimum rate drawn.
pub(super) fn write_charts(
    dir: &Path,
    cfg: &SoakConfig,
    runs: &[Run],
) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let mut paths = Vec::new();
    for r in runs {
        let path = dir.join(format!(
            "soak-{}-{}.svg",
            r.pattern.name(),
            r.backend.name()
        ));
        std::fs::write(&path, charts::render_line_svg(&chart(cfg, r)))
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        paths.push(path);
    }
    Ok(paths)
}

fn chart(cfg: &SoakConfig, r: &Run) -> LineChart {
    let color = charts::impl_color(r.backend.name()).to_string();
    let grey = "#555555".to_string();
    // Time 0: the sender's start; without it (failed early), the first sample.
    let t0 = r.t0_ns.or_else(|| {
        r.tx_samples
            .iter()
            .chain(&r.rx_samples)
            .map(|s| s.t_ns)
            .min()
    });
    let t0 = t0.unwrap_or(0);
    let rate_line = |name: &str, samples: &[Sample], c: &String, dashed: bool| Line {
        name: name.to_string(),
        color: c.clone(),
        dashed,
        points: rates(samples, t0, cfg.sample_ms as i64 * 1_000_000)
            .into_iter()
            .map(|(t, v)| (t, v / 1e6))
            .collect(),
    };
    let rss_line = |name: &str, samples: &[Sample], c: &String, dashed: bool| Line {
        name: name.to_string(),
        color: c.clone(),
        dashed,
        points: samples
            .iter()
            .map(|s| ((s.t_ns - t0) as f64 / 1e9, mib(s.rss_kib)))
            .collect(),
    };
    let end = r
        .tx_samples
        .iter()
        .chain(&r.rx_samples)
        .map(|s| (s.t_ns - t0) as f64 / 1e9)
        .fold(r.planned_s, f64::max);
    let tol = cfg.rss_tolerance_pct / 100.0;
    let mut bands = Vec::new();
    if let Some(f) = &r.figures {
        for (s, c) in [(&f.rss_rx, &color), (&f.rss_tx, &grey)] {
            if let Some(s) = s {
                bands.push(Band {
                    x0: s.ref_t_s,
                    x1: end,
                    y0: mib(s.ref_kib) * (1.0 - tol),
                    y1: mib(s.ref_kib) * (1.0 + tol),
                    color: c.clone(),
                });
            }
        }
    }
    let verdict = if r.ok {
        "pass".to_string()
    } else {
        let first = r.failures.first().map_or("", String::as_str);
        let mut v: String = first.chars().take(125).collect();
        if v.len() < first.len() {
            v.push('…');
        }
        format!("FAIL: {v}")
    };
    LineChart {
        title: format!(
            "soak {} {} — {} B, {} API, {:.0} s",
            r.pattern.name(),
            r.backend.name(),
            cfg.size,
            cfg.api.name(),
            r.planned_s
        ),
        subtitle: format!(
            "one sample per {} ms in each process (rate: per interval); shaded: warm-up; bands: RSS reference ±{}%\n{verdict}",
            cfg.sample_ms, cfg.rss_tolerance_pct
        ),
        x_label: "seconds since the sender started".to_string(),
        x_max: end,
        shade: Some((0.0, r.warmup_s, "warm-up".to_string())),
        panels: vec![
            Panel {
                y_label: "M msg/s".to_string(),
                lines: vec![
                    rate_line("receiver", &r.rx_samples, &color, false),
                    rate_line("sender", &r.tx_samples, &grey, true),
                ],
                bands: Vec::new(),
                rules: vec![(
                    cfg.min_rate / 1e6,
                    format!("minimum {} M msg/s", cfg.min_rate / 1e6),
                )],
            },
            Panel {
                y_label: "RSS MiB (VmRSS)".to_string(),
                lines: vec![
                    rss_line("receiver", &r.rx_samples, &color, false),
                    rss_line("sender", &r.tx_samples, &grey, true),
                ],
                bands,
                rules: Vec::new(),
            },
            Panel {
                y_label: "k msgs queued".to_string(),
                lines: vec![Line {
                    name: "receiver inbound backlog (largest per interval)".to_string(),
                    color: color.clone(),
                    dashed: false,
                    points: r
                        .rx_samples
                        .iter()
                        .skip(1)
                        .map(|s| ((s.t_ns - t0) as f64 / 1e9, s.queued as f64 / 1e3))
                        .collect(),
                }],
                bands: Vec::new(),
                rules: vec![(
                    f64::from(cfg.hwm) / 1e3,
                    format!("RCVHWM {}", cfg.hwm),
                )],
            },
        ],
    }
}
