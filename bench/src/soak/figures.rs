//! The measured figures of a run and its checks: samples, the RSS check after warm-up, rates
//! per sampling interval, the counts of the receiver's sequence check.

use std::collections::HashMap;

use serde::Serialize;

use super::config::SoakConfig;
use super::session::Run;
use crate::runner::{num, parse_kv};

/// One sample of a peer: CLOCK_MONOTONIC, messages moved so far, VmRSS.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sample {
    pub t_ns: i64,
    pub msgs: u64,
    pub rss_kib: u64,
    /// Receiver: largest inbound backlog (messages) seen in the interval before the sample.
    pub queued: u64,
}

impl Sample {
    pub(super) fn parse(s: &str) -> Result<Sample, String> {
        let kv = parse_kv(s);
        let get = |k: &str| {
            kv.get(k)
                .ok_or_else(|| format!("SAMPLE line lacks `{k}`: {s}"))
        };
        let n = |k: &str| -> Result<u64, String> {
            get(k)?
                .parse()
                .map_err(|_| format!("SAMPLE line: bad `{k}`: {s}"))
        };
        Ok(Sample {
            t_ns: get("t_ns")?
                .parse()
                .map_err(|_| format!("SAMPLE line: bad `t_ns`: {s}"))?,
            msgs: n("msgs")?,
            rss_kib: n("rss_kib")?,
            queued: n("queued")?,
        })
    }
}

/// RSS of one side over the run (KiB), and the check.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RssStats {
    /// The first sample at or after the end of warm-up, its time (s from the sender's start).
    pub ref_t_s: f64,
    pub ref_kib: u64,
    /// Over the reference sample and every later one.
    pub min_kib: u64,
    pub max_kib: u64,
    /// The last sample (taken when the side stopped moving messages).
    pub final_kib: u64,
    /// Largest |sample − reference| / reference, percent.
    pub worst_dev_pct: f64,
    /// Samples checked (the reference and the later ones).
    pub checked: usize,
    pub ok: bool,
}

/// The RSS check of one side: `None` if no sample lies at or after `warm_end_ns`.
pub fn rss_stats(
    samples: &[Sample],
    t0_ns: i64,
    warm_end_ns: i64,
    tol_pct: f64,
) -> Option<RssStats> {
    let i = samples.iter().position(|s| s.t_ns >= warm_end_ns)?;
    let after = &samples[i..];
    let r = after[0].rss_kib;
    let min = after.iter().map(|s| s.rss_kib).min()?;
    let max = after.iter().map(|s| s.rss_kib).max()?;
    let dev = |v: u64| (v as f64 - r as f64).abs() / (r.max(1) as f64) * 100.0;
    let worst = dev(min).max(dev(max));
    Some(RssStats {
        ref_t_s: (after[0].t_ns - t0_ns) as f64 / 1e9,
        ref_kib: r,
        min_kib: min,
        max_kib: max,
        final_kib: after[after.len() - 1].rss_kib,
        worst_dev_pct: worst,
        checked: after.len(),
        ok: worst <= tol_pct,
    })
}

/// Per-interval rates of `samples`: (end of interval, s from `t0_ns`; msg/s), over the
/// intervals of at least half `interval_ns` (the stop sample can follow the last regular
/// one closely, and a rate over a few ms says little).
pub(super) fn rates(samples: &[Sample], t0_ns: i64, interval_ns: i64) -> Vec<(f64, f64)> {
    samples
        .windows(2)
        .filter(|w| w[1].t_ns - w[0].t_ns >= (interval_ns / 2).max(1))
        .map(|w| {
            let dt = (w[1].t_ns - w[0].t_ns) as f64 / 1e9;
            (
                (w[1].t_ns - t0_ns) as f64 / 1e9,
                (w[1].msgs.saturating_sub(w[0].msgs)) as f64 / dt,
            )
        })
        .collect()
}

/// Lowest rate over whole sampling intervals (at least half of `interval_ns`) that start at
/// or after `from_ns`.
fn min_rate_after(samples: &[Sample], from_ns: i64, interval_ns: i64) -> Option<f64> {
    samples
        .windows(2)
        .filter(|w| w[0].t_ns >= from_ns && w[1].t_ns - w[0].t_ns >= interval_ns / 2)
        .map(|w| {
            (w[1].msgs.saturating_sub(w[0].msgs)) as f64 / ((w[1].t_ns - w[0].t_ns) as f64 / 1e9)
        })
        .min_by(f64::total_cmp)
}

/// What the receiver's sequence check found (from its RESULT line).
#[derive(Debug, Clone, Serialize)]
pub struct Counts {
    pub sent: u64,
    pub received: u64,
    /// The end marker's count (what the sender says it sent, as seen by the receiver).
    pub end_seq: u64,
    pub lost: u64,
    pub out_of_sequence: u64,
    pub duplicates: u64,
    pub corrupt: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_anomaly: Option<String>,
}

/// The measured figures of a completed run.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    #[serde(flatten)]
    pub counts: Counts,
    /// Receiver: received / (last − first receive); sender: sent / (end − start).
    pub rx_rate: f64,
    pub tx_rate: f64,
    /// Lowest receiver rate over one sampling interval after warm-up.
    pub rx_min_interval_rate: Option<f64>,
    pub rss_rx: Option<RssStats>,
    pub rss_tx: Option<RssStats>,
    /// ru_maxrss of each process at its end.
    pub peak_rx_kib: f64,
    pub peak_tx_kib: f64,
    /// CPU (user + sys, all threads) per message, both processes.
    pub cpu_ns_per_msg: f64,
    /// Receiver: the largest inbound backlog seen (messages committed to the socket's pipe
    /// by the reactor, not yet read; checked every ~8 Ki messages). A diagnostic: RCVHWM is
    /// meant to bound it.
    pub rx_max_queued: u64,
}

/// The run's figures from both RESULT lines and the samples.
#[allow(clippy::too_many_arguments)]
pub(super) fn figures(
    cfg: &SoakConfig,
    run: &Run,
    t0_ns: i64,
    t: &HashMap<String, String>,
    r: &HashMap<String, String>,
    cpu_us: f64,
    peak_tx_kib: f64,
    peak_rx_kib: f64,
) -> Result<Figures, String> {
    let u = |kv: &HashMap<String, String>, k: &str| num(kv, k).map(|v| v as u64);
    let counts = Counts {
        sent: u(t, "sent")?,
        received: u(r, "received")?,
        end_seq: u(r, "end_seq")?,
        lost: u(r, "lost")?,
        out_of_sequence: u(r, "out_of_sequence")?,
        duplicates: u(r, "duplicates")?,
        corrupt: u(r, "corrupt")?,
        first_anomaly: r
            .get("first_anomaly")
            .map(|s| s.replace('_', " "))
            .filter(|s| s != "none"),
    };
    let secs = |a: f64, b: f64| (b - a) / 1e9;
    let rx_span = secs(num(r, "rx_first_ns")?, num(r, "rx_last_ns")?);
    let tx_span = secs(t0_ns as f64, num(t, "tx_end_ns")?);
    let warm_end = t0_ns + (run.warmup_s * 1e9) as i64;
    let tol = cfg.rss_tolerance_pct;
    Ok(Figures {
        rx_rate: if rx_span > 0.0 {
            counts.received as f64 / rx_span
        } else {
            0.0
        },
        tx_rate: if tx_span > 0.0 {
            counts.sent as f64 / tx_span
        } else {
            0.0
        },
        rx_min_interval_rate: min_rate_after(
            &run.rx_samples,
            warm_end,
            cfg.sample_ms as i64 * 1_000_000,
        ),
        rss_rx: rss_stats(&run.rx_samples, t0_ns, warm_end, tol),
        rss_tx: rss_stats(&run.tx_samples, t0_ns, warm_end, tol),
        peak_rx_kib,
        peak_tx_kib,
        cpu_ns_per_msg: cpu_us * 1e3 / (counts.received.max(1) as f64),
        rx_max_queued: run.rx_samples.iter().map(|s| s.queued).max().unwrap_or(0),
        counts,
    })
}

/// Every failed check of a completed run.
pub(super) fn checks(cfg: &SoakConfig, f: &Figures) -> Vec<String> {
    let mut v = Vec::new();
    let c = &f.counts;
    if c.sent != c.end_seq {
        v.push(format!(
            "sender reports {} sent, its end marker says {}",
            c.sent, c.end_seq
        ));
    }
    if c.lost > 0 || c.received != c.sent {
        v.push(format!(
            "loss: {} sent, {} received, {} missing in sequence gaps",
            c.sent, c.received, c.lost
        ));
    }
    if c.out_of_sequence > 0 || c.duplicates > 0 {
        v.push(format!(
            "{} messages out of sequence ({} duplicate or late)",
            c.out_of_sequence, c.duplicates
        ));
    }
    if c.corrupt > 0 {
        v.push(format!("{} corrupt messages", c.corrupt));
    }
    if let Some(a) = &c.first_anomaly {
        v.push(format!("first anomaly: {a}"));
    }
    for (side, s) in [("receiver", &f.rss_rx), ("sender", &f.rss_tx)] {
        match s {
            None => v.push(format!("{side}: no RSS sample after warm-up")),
            Some(s) if !s.ok => v.push(format!(
                "{side} RSS left ±{}% of {:.1} MiB (at {:.1} s): min {:.1}, max {:.1}, final {:.1} MiB ({:.1}%)",
                cfg.rss_tolerance_pct,
                mib(s.ref_kib),
                s.ref_t_s,
                mib(s.min_kib),
                mib(s.max_kib),
                mib(s.final_kib),
                s.worst_dev_pct
            )),
            Some(_) => {}
        }
    }
    if f.rx_rate < cfg.min_rate {
        v.push(format!(
            "rate {:.3} M msg/s < minimum {:.3} M msg/s",
            f.rx_rate / 1e6,
            cfg.min_rate / 1e6
        ));
    }
    v
}

pub(super) fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t_s: f64, msgs: u64, rss_kib: u64) -> Sample {
        Sample {
            t_ns: (t_s * 1e9) as i64,
            msgs,
            rss_kib,
            queued: 0,
        }
    }

    #[test]
    fn rss_check_uses_the_first_sample_after_warm_up() {
        let s = [
            sample(0.0, 0, 4000),
            sample(1.0, 1_000_000, 9000),
            sample(2.0, 2_000_000, 10_000),
            sample(3.0, 3_000_000, 10_500),
            sample(4.0, 4_000_000, 10_900),
            sample(4.2, 4_100_000, 10_800),
        ];
        let r = rss_stats(&s, 0, 2_000_000_000, 10.0).unwrap();
        assert_eq!(
            (r.ref_kib, r.max_kib, r.min_kib, r.final_kib),
            (10_000, 10_900, 10_000, 10_800)
        );
        assert_eq!(r.checked, 4);
        assert!(r.ok && (r.worst_dev_pct - 9.0).abs() < 1e-9);
        let r = rss_stats(&s, 0, 1_500_000_000, 10.0).unwrap();
        assert_eq!(r.ref_kib, 10_000);
        let r = rss_stats(&s, 0, 500_000_000, 10.0).unwrap();
        assert!(!r.ok, "9000 -> 10900 is +21%");
        assert!(rss_stats(&s, 0, 5_000_000_000, 10.0).is_none());
        // Rates: per interval; the short last interval is left out of the minimum.
        let rt = rates(&s, 0, 1_000_000_000);
        assert_eq!(rt.len(), 4);
        assert!((rt[0].1 - 1e6).abs() < 1.0);
        assert_eq!(min_rate_after(&s, 2_000_000_000, 1_000_000_000), Some(1e6));
    }

    #[test]
    fn checks_name_every_failure() {
        let c = super::super::config::tests::parse("").unwrap();
        let rss = |ok| RssStats {
            ref_t_s: 2.0,
            ref_kib: 8192,
            min_kib: 8192,
            max_kib: 9000,
            final_kib: 9000,
            worst_dev_pct: 9.9,
            checked: 9,
            ok,
        };
        let mut f = Figures {
            counts: Counts {
                sent: 100,
                received: 100,
                end_seq: 100,
                lost: 0,
                out_of_sequence: 0,
                duplicates: 0,
                corrupt: 0,
                first_anomaly: None,
            },
            rx_rate: 2e6,
            tx_rate: 2e6,
            rx_min_interval_rate: Some(1.5e6),
            rss_rx: Some(rss(true)),
            rss_tx: Some(rss(true)),
            peak_rx_kib: 9000.0,
            peak_tx_kib: 9000.0,
            cpu_ns_per_msg: 300.0,
            rx_max_queued: 1000,
        };
        assert!(checks(&c, &f).is_empty());
        f.counts.received = 99;
        f.counts.lost = 1;
        f.rss_tx = Some(rss(false));
        f.rss_rx = None;
        f.rx_rate = 0.5e6;
        let v = checks(&c, &f);
        assert_eq!(v.len(), 4, "{v:?}");
        assert!(v[0].starts_with("loss"));
        assert!(v.iter().any(|s| s.starts_with("sender RSS")));
        assert!(v.iter().any(|s| s.starts_with("receiver: no RSS")));
        assert!(v.iter().any(|s| s.starts_with("rate")));
    }
}
