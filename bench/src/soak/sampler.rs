//! The sampler thread of a soak peer: `SAMPLE t_ns= msgs= rss_kib= queued=` lines on stdout.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::peer::{emit, now_ns};

/// `VmRSS` and `VmHWM` of this process, KiB (0 if unreadable).
pub(super) fn vm_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| {
            v.trim_start_matches(':')
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// What the I/O loop of a peer publishes for its sampler.
#[derive(Default)]
pub(super) struct Counters {
    /// Messages sent / received so far.
    pub(super) msgs: AtomicU64,
    /// Receiver: the largest inbound backlog (messages the reactor committed to the socket's
    /// pipe but the application has not read) seen since the last sample.
    pub(super) queued: AtomicU64,
}

/// A thread printing `SAMPLE t_ns= msgs= rss_kib= queued=` at once, every `interval`, and
/// once more when stopped.
pub(super) struct Sampler {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    pub(super) fn start(counter: Arc<Counters>, interval: Duration) -> Sampler {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let sample = || {
                let _ = emit(&format!(
                    "SAMPLE t_ns={} msgs={} rss_kib={} queued={}",
                    now_ns(),
                    counter.msgs.load(Ordering::Relaxed),
                    vm_kib("VmRSS"),
                    counter.queued.swap(0, Ordering::Relaxed)
                ));
            };
            let start = Instant::now();
            sample();
            let mut k = 1u32;
            loop {
                let next = start + interval * k;
                let wait = next.saturating_duration_since(Instant::now());
                match stopped.recv_timeout(wait) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        sample();
                        k += 1;
                        // A late wake-up (loaded machine) skips ticks instead of bunching.
                        while start + interval * k <= Instant::now() {
                            k += 1;
                        }
                    }
                    _ => {
                        sample();
                        return;
                    }
                }
            }
        });
        Sampler {
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Takes the final sample and waits for the thread.
    pub(super) fn finish(mut self) {
        self.stop = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
