//! `ringlink-bench soak`: sustained load with sequence checks and RSS tracking.
//!
//! For every combination of pattern (PUSH/PULL, DEALER/ROUTER, PUB/SUB) and backend
//! (io_uring, epoll) a receiver process (binds) and a sender process (connects) are started
//! (this executable re-executed with the hidden `__peer soak-recv|soak-send` roles), so each
//! side's RSS is its own. The sender pushes 64 B messages over tcp loopback as fast as the
//! socket takes them for the combination's share of `--duration`, then one end marker.
//!
//! * **Sequence.** Every message is `[b'D'][seq: u64 LE][0xA5 …][seq as u8 ^ 0xA5]`; the
//!   end marker is `b'E'` carrying the number of messages sent. The receiver checks each
//!   message against the next expected sequence number (gap = lost, lower = duplicate or
//!   reordered), its length and its last byte, and (DEALER/ROUTER) that every message is
//!   `[routing id][payload]` with the same routing id.
//! * **Sampling.** A sampler thread in each peer prints, once per `--sample-ms`, the
//!   messages sent / received so far (a counter the I/O loop stores) and `VmRSS` from
//!   `/proc/self/status`: one sample when the peer starts moving messages (sender: before
//!   the first send; receiver: at the first message), one per interval, one when it stops.
//!   The parent reads both peers' samples as they come and prints progress.
//! * **RSS check.** Warm-up = the first `--warmup-pct` of the combination's run, at least
//!   `--warmup-min-s`, on the sender's clock (CLOCK_MONOTONIC, shared by both processes). The
//!   reference is a side's first sample at or after the end of warm-up; that sample and every
//!   later one, including the final sample, must lie within ±`--rss-tolerance-pct` of it.
//!   Peak RSS is `ru_maxrss` at the end (the whole process lifetime).
//! * **Backlog.** The receiver also records, every ~8 Ki messages, how many messages its
//!   socket's inbound pipe holds (committed by the reactor, not yet read): RCVHWM is meant to
//!   bound that, and it is what the receiver's RSS follows (a diagnostic, not a check).
//! * **Rate check.** Receiver mean rate: data messages received / (last − first receive)
//!   ≥ `--min-rate`.
//! * **Stalls.** Every wait has a timeout that fails the run with a message: connection and
//!   subscription set-up (`SETUP_TIMEOUT`), a send blocked or a receive without a message for
//!   `--stall-s` (SNDTIMEO / RCVTIMEO), and the parent's watchdog (the run's duration plus
//!   `WATCHDOG_SLACK`) kills both peers.

mod config;
mod figures;
mod peers;
mod report;
mod sampler;
mod session;
mod wire;

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::compare::default_results_root;
use crate::report::{utc_timestamp, Meta};
use config::Api;
pub use config::SoakConfig;
use session::Run;

pub use peers::peer_main;

/// The description `soak --help` starts with.
pub const LONG_ABOUT: &str = "\
Sustained throughput with sequence checks: for every pattern x backend, a receiver process
(binds) and a sender process (connects) over tcp loopback; the sender pushes messages as fast
as the socket takes them for the combination's share of --duration, then an end marker. Every
message carries a 64-bit sequence number; the receiver checks strict sequence (no loss, no
duplicate, no reordering). Both sides sample messages/s and VmRSS once per --sample-ms.

Checks (any failure: exit status 1; a run that cannot complete fails with its cause):
  zero loss, zero out-of-sequence / corrupt messages, sent = received;
  RSS of each side within +-(--rss-tolerance-pct) of its value at the end of warm-up
  (first sample at or after it), for every later sample including the final one;
  receiver mean rate >= --min-rate.
Warm-up = the first --warmup-pct of each combination's run, at least --warmup-min-s.

Patterns: PUSH_PULL (PUSH -> PULL), DEALER_ROUTER (DEALER -> ROUTER; the ROUTER receives
[routing id, payload]), PUB_SUB (XPUB with XPUB_NODROP, so the publisher blocks at the HWM
instead of dropping, -> SUB subscribed to everything; publishing starts after the
subscription has arrived).

Writes soak.md, soak.json and charts/soak-<pattern>-<backend>.svg (rate and RSS over time)
under the results directory; prints the Markdown on stdout.";

pub const SEND_ROLE: &str = "soak-send";
pub const RECV_ROLE: &str = "soak-recv";

/// True for the `__peer` roles this module runs.
pub fn is_peer_role(role: &str) -> bool {
    role == SEND_ROLE || role == RECV_ROLE
}

/// Connection set-up, the subscription's arrival and the first message must happen within
/// this (process start, connect, ZMTP handshake).
const SETUP_TIMEOUT: Duration = Duration::from_secs(15);
/// The watchdog kills a combination's peers this long after its planned duration.
const WATCHDOG_SLACK: Duration = Duration::from_secs(60);

/// Runs the soak `cfg` describes (validated).
pub fn run(cfg: &SoakConfig) -> Result<(), String> {
    let started = utc_timestamp();
    let out_dir = cfg
        .out
        .clone()
        .unwrap_or_else(|| default_results_root().join(format!("{started}-soak")));
    let combos = cfg.combinations();
    let per = cfg.per_run();
    eprintln!(
        "ringlink-bench soak: {} combinations x {:.1} s (warm-up {:.1} s), {} B messages, {} API{}, HWM {}, tcp loopback, one reactor thread per process; checks: no loss / out-of-sequence, RSS within ±{}% after warm-up, rx >= {} msg/s",
        combos.len(),
        per.as_secs_f64(),
        cfg.warmup(per).as_secs_f64(),
        cfg.size,
        cfg.api.name(),
        if cfg.api == Api::Batch {
            format!(" ({} per send_batch)", cfg.batch)
        } else {
            String::new()
        },
        cfg.hwm,
        cfg.rss_tolerance_pct,
        cfg.min_rate
    );
    let session = Instant::now();
    let mut runs = Vec::new();
    for (i, &(pattern, backend)) in combos.iter().enumerate() {
        eprintln!(
            "[{}/{}] {} {} ({:.0} s) ...",
            i + 1,
            combos.len(),
            pattern.name(),
            backend.name(),
            per.as_secs_f64()
        );
        let r = session::run_one(cfg, pattern, backend);
        eprintln!(
            "[{}/{}] {} {}: {} [{:.0} s]",
            i + 1,
            combos.len(),
            pattern.name(),
            backend.name(),
            session::progress(&r),
            session.elapsed().as_secs_f64()
        );
        runs.push(r);
    }
    let meta = Meta::collect(&started);
    let md = report::markdown(&meta, cfg, &runs);
    print!("{md}");
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| format!("creating {}: {e}", out_dir.display()))?;
    let json = serde_json::to_string_pretty(&SoakJson {
        meta: &meta,
        config: cfg,
        runs: &runs,
    })
    .map_err(|e| format!("soak.json: {e}"))?;
    for (name, text) in [("soak.md", md), ("soak.json", json + "\n")] {
        let path = out_dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    let charts = report::write_charts(&out_dir.join("charts"), cfg, &runs)?;
    eprintln!(
        "{} charts written to {}",
        charts.len(),
        out_dir.join("charts").display()
    );
    eprintln!("results written to {}", out_dir.display());
    let failed: Vec<String> = runs.iter().filter(|r| !r.ok).map(Run::label).collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "soak: {} of {} combinations failed: {}",
            failed.len(),
            runs.len(),
            failed.join(", ")
        ))
    }
}

#[derive(Serialize)]
struct SoakJson<'a> {
    #[serde(flatten)]
    meta: &'a Meta,
    config: &'a SoakConfig,
    runs: &'a [Run],
}
