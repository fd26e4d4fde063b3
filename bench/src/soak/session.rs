//! One combination from the parent's side: start the receiver and the sender, read their
//! samples as they come, then compute the figures and checks.

use std::collections::HashMap;
use std::time::Instant;

use ringlink::Backend;
use serde::Serialize;

use super::config::{PeerOpts, SoakConfig, SoakPattern};
use super::figures::{checks, figures, mib, Figures, RssStats, Sample};
use super::{RECV_ROLE, SEND_ROLE, WATCHDOG_SLACK};
use crate::runner::{num, parse_kv, with_peers, Peer, PeerGroup};

/// One combination's run.
#[derive(Debug, Serialize)]
pub struct Run {
    pub pattern: SoakPattern,
    #[serde(serialize_with = "backend_name")]
    pub backend: Backend,
    pub planned_s: f64,
    pub warmup_s: f64,
    /// Wall time including process start and teardown.
    pub wall_s: f64,
    /// /proc/loadavg (1, 5, 15 min) before and after the run.
    pub load_before: String,
    pub load_after: String,
    /// The sender's start (CLOCK_MONOTONIC ns): time 0 of the samples and charts.
    pub t0_ns: Option<i64>,
    pub tx_samples: Vec<Sample>,
    pub rx_samples: Vec<Sample>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub figures: Option<Figures>,
    /// Every failed check (and the error of a run that did not complete).
    pub failures: Vec<String>,
    pub ok: bool,
}

fn backend_name<S: serde::Serializer>(b: &Backend, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(b.name())
}

impl Run {
    pub fn label(&self) -> String {
        format!("{} {}", self.pattern.name(), self.backend.name())
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a peer printed: its samples (appended as they arrive) and its tagged lines.
struct Collected {
    tags: HashMap<String, String>,
}

/// Reads `peer`'s stdout until a line tagged `until`, appending SAMPLE lines to `samples`
/// and calling `on_sample` for each; keeps the other tagged lines.
fn collect(
    peer: &mut Peer,
    label: &str,
    samples: &mut Vec<Sample>,
    until: &str,
    mut on_sample: impl FnMut(&[Sample]),
) -> Result<Collected, String> {
    let mut tags = HashMap::new();
    loop {
        let Some(line) = peer.line()? else {
            return Err(format!("{label} exited without {until}"));
        };
        let (tag, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        if tag == "SAMPLE" {
            samples.push(Sample::parse(rest)?);
            on_sample(samples);
            continue;
        }
        tags.insert(tag.to_string(), rest.to_string());
        if tag == until {
            return Ok(Collected { tags });
        }
    }
}

/// One combination: receiver and sender processes, samples, checks.
pub(super) fn run_one(cfg: &SoakConfig, pattern: SoakPattern, backend: Backend) -> Run {
    let per = cfg.per_run();
    let warm = cfg.warmup(per);
    let load_before = loadavg();
    let started = Instant::now();
    let mut tx_samples = Vec::new();
    let mut rx_samples = Vec::new();
    let mut t0 = None;
    let label = format!("{} {}", pattern.name(), backend.name());
    let result = with_peers(per + WATCHDOG_SLACK, |g| {
        let mut rx = g.spawn(
            "receiver",
            &PeerOpts::new(cfg, RECV_ROLE, pattern, backend).to_args(),
            false,
        )?;
        let ep = rx.value("ENDPOINT")?;
        let mut opts = PeerOpts::new(cfg, SEND_ROLE, pattern, backend);
        opts.endpoint = Some(ep);
        let mut tx = g.spawn("sender", &opts.to_args(), true)?;
        let g: &PeerGroup = g;
        let every = (10_000 / cfg.sample_ms).max(1) as usize;
        let (tx_out, rx_out) = std::thread::scope(|sc| {
            let txh = sc.spawn(|| {
                let r = collect(&mut tx, "sender", &mut tx_samples, "RESULT", |_| {});
                if r.is_err() {
                    g.kill_all();
                }
                r
            });
            let r = collect(&mut rx, "receiver", &mut rx_samples, "RESULT", |s| {
                // Progress every ~10 s of the run.
                if s.len() > 1 && (s.len() - 1) % every == 0 {
                    let (a, b) = (s[s.len() - 2], s[s.len() - 1]);
                    let dt = (b.t_ns - a.t_ns) as f64 / 1e9;
                    eprintln!(
                        "    {label}: {:>4.0} s  rx {:.2} M msg/s  RSS rx {:.1} MiB  ({} received)",
                        (b.t_ns - s[0].t_ns) as f64 / 1e9,
                        b.msgs.saturating_sub(a.msgs) as f64 / dt / 1e6,
                        b.rss_kib as f64 / 1024.0,
                        b.msgs
                    );
                }
            });
            if r.is_err() {
                g.kill_all();
            }
            let t = txh
                .join()
                .unwrap_or_else(|_| Err("sender reader panicked".to_string()));
            (t, r)
        });
        let (tx_out, rx_out) = match (tx_out, rx_out) {
            (Ok(t), Ok(r)) => (t, r),
            (Err(e), _) | (_, Err(e)) => return Err(e),
        };
        let start = tx_out
            .tags
            .get("START")
            .map(|s| parse_kv(s))
            .ok_or("sender printed no START")?;
        let t0_ns = num(&start, "t0_ns")? as i64;
        t0 = Some(t0_ns);
        tx.release();
        let tx_usage = tx.usage()?;
        let rx_usage = rx.usage()?;
        Ok((
            t0_ns,
            parse_kv(&tx_out.tags["RESULT"]),
            parse_kv(&rx_out.tags["RESULT"]),
            tx_usage,
            rx_usage,
        ))
    });
    let mut run = Run {
        pattern,
        backend,
        planned_s: per.as_secs_f64(),
        warmup_s: warm.as_secs_f64(),
        wall_s: 0.0,
        load_before,
        load_after: loadavg(),
        t0_ns: t0,
        tx_samples,
        rx_samples,
        error: None,
        figures: None,
        failures: Vec::new(),
        ok: false,
    };
    run.wall_s = started.elapsed().as_secs_f64();
    match result.and_then(|(t0_ns, t, r, tu, ru)| {
        figures(
            cfg,
            &run,
            t0_ns,
            &t,
            &r,
            tu.cpu_us + ru.cpu_us,
            tu.maxrss_kib,
            ru.maxrss_kib,
        )
    }) {
        Ok(f) => {
            run.failures = checks(cfg, &f);
            run.figures = Some(f);
        }
        Err(e) => {
            run.failures.push(format!("run did not complete: {e}"));
            run.error = Some(e);
        }
    }
    run.ok = run.failures.is_empty();
    run
}

pub(super) fn progress(r: &Run) -> String {
    match &r.figures {
        None => format!("FAILED: {}", r.error.as_deref().unwrap_or("no figures")),
        Some(f) => {
            let rss = |s: &Option<RssStats>| {
                s.as_ref().map_or("-".to_string(), |s| {
                    format!("{:.1}→{:.1} MiB", mib(s.ref_kib), mib(s.final_kib))
                })
            };
            format!(
                "{}  {} msgs, rx {:.2} M msg/s, lost {}, out of seq {}, RSS rx {} tx {}{}",
                if r.ok { "ok" } else { "FAILED" },
                f.counts.received,
                f.rx_rate / 1e6,
                f.counts.lost,
                f.counts.out_of_sequence,
                rss(&f.rss_rx),
                rss(&f.rss_tx),
                if r.ok {
                    String::new()
                } else {
                    format!(" — {}", r.failures.join("; "))
                }
            )
        }
    }
}
