//! Parent side of one run: start the two peer processes, collect their `RESULT` lines and
//! turn them into metrics. A watchdog kills both peers after the timeout, so a hung library
//! produces a failed run instead of a hung benchmark.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::impls::{Impl, Pattern, Transport};
use crate::peer::{PeerArgs, Role};

/// Named metric values of one successful run, in report order.
pub type Metrics = Vec<(&'static str, f64)>;

/// Parameters of one run, shared by both peers.
pub struct RunSpec {
    pub imp: Impl,
    pub pattern: Pattern,
    pub transport: Transport,
    pub size: usize,
    pub count: u64,
    pub warmup: u64,
    pub hwm: i32,
    pub batch: usize,
    pub spin_us: u64,
    pub timeout: Duration,
    /// Both ends as threads of one process (inproc, or `--mode thread`).
    pub threads: bool,
    /// Pin the receiving process to the last CPU and the sending one to the first.
    pub pin: bool,
}

impl RunSpec {
    fn peer(&self, role: Role, endpoint: Option<&str>) -> PeerArgs {
        PeerArgs {
            role,
            imp: self.imp,
            pattern: self.pattern,
            transport: self.transport,
            size: self.size,
            count: self.count,
            warmup: self.warmup,
            hwm: self.hwm,
            batch: self.batch,
            spin_us: self.spin_us,
            endpoint: endpoint.map(str::to_string),
            cpu: self.pin.then(|| role.pin_cpu()).flatten(),
        }
    }
}

/// One throughput run: receiver (bind) and sender (connect) in two processes, or two
/// threads of one process in thread mode.
pub fn throughput(spec: &RunSpec) -> Result<Metrics, String> {
    with_peers(spec.timeout, |g| {
        if spec.threads {
            let mut p = g.spawn(
                "threads",
                &spec.peer(Role::ThrThreads, None).to_args(),
                false,
            )?;
            let r = parse_kv(&p.value("RESULT_RX")?);
            let t = parse_kv(&p.value("RESULT_TX")?);
            let usage = p.usage()?;
            let none = PeerUsage {
                cpu_us: 0.0,
                maxrss_kib: usage.maxrss_kib,
            };
            return thr_metrics(spec, &r, &t, &usage, &none);
        }
        let mut rx = g.spawn("receiver", &spec.peer(Role::ThrRecv, None).to_args(), false)?;
        let ep = rx.value("ENDPOINT")?;
        let mut tx = g.spawn(
            "sender",
            &spec.peer(Role::ThrSend, Some(&ep)).to_args(),
            true,
        )?;
        if crate::peers::relays_subscription(spec.imp.lib, spec.pattern) {
            rx.value(crate::peers::SUBSCRIBED)?;
            tx.tell("go")?;
        }
        let r = parse_kv(&rx.value("RESULT")?);
        let t = parse_kv(&tx.value("RESULT")?);
        let rx_usage = rx.usage()?;
        tx.release();
        let tx_usage = tx.usage()?;
        thr_metrics(spec, &r, &t, &rx_usage, &tx_usage)
    })
}

/// Throughput metrics from the receiver's and the sender's results (CPU of both ends).
fn thr_metrics(
    spec: &RunSpec,
    r: &HashMap<String, String>,
    t: &HashMap<String, String>,
    rx_usage: &PeerUsage,
    tx_usage: &PeerUsage,
) -> Result<Metrics, String> {
    {
        let received = num(r, "received")?;
        let lost = num(r, "lost")?;
        let out_of_order = num(r, "out_of_order")?;
        if lost > 0.0 || out_of_order > 0.0 {
            return Err(format!(
                "lost {lost} of {} messages, {out_of_order} out of sequence",
                spec.count
            ));
        }
        let (rx_first, rx_last) = (num(r, "rx_first_ns")?, num(r, "rx_last_ns")?);
        let (tx_first, tx_last) = (num(t, "tx_first_ns")?, num(t, "tx_last_ns")?);
        let rate = |n: f64, from: f64, to: f64| {
            if to > from {
                Ok(n / ((to - from) / 1e9) / 1e3)
            } else {
                Err("measurement window is empty (use a larger --count)".to_string())
            }
        };
        let rx = rate(received, rx_first, rx_last)?;
        // Both processes' CPU from socket open to the end, warm-up included.
        let moved = (spec.count + spec.warmup) as f64;
        Ok(vec![
            ("rx_kmsg_s", rx),
            ("rx_MB_s", rx * 1e3 * spec.size as f64 / 1e6),
            ("tx_kmsg_s", rate(spec.count as f64, tx_first, tx_last)?),
            ("e2e_kmsg_s", rate(received, tx_first, rx_last)?),
            (
                "cpu_ns_msg",
                (rx_usage.cpu_us + tx_usage.cpu_us) * 1e3 / moved,
            ),
            ("rss_rx_mib", rx_usage.maxrss_kib / 1024.0),
            ("rss_tx_mib", tx_usage.maxrss_kib / 1024.0),
            ("received", received),
        ])
    }
}

/// One latency run: echo server (bind) and timing client (connect) in two processes, or two
/// threads of one process in thread mode.
pub fn latency(spec: &RunSpec) -> Result<Metrics, String> {
    with_peers(spec.timeout, |g| {
        if spec.threads {
            let mut p = g.spawn(
                "threads",
                &spec.peer(Role::LatThreads, None).to_args(),
                false,
            )?;
            p.value("RESULT_RX")?;
            let c = parse_kv(&p.value("RESULT_TX")?);
            let usage = p.usage()?;
            return lat_metrics(
                spec,
                &c,
                &usage,
                &PeerUsage {
                    cpu_us: 0.0,
                    maxrss_kib: usage.maxrss_kib,
                },
            );
        }
        let mut server = g.spawn("server", &spec.peer(Role::LatServer, None).to_args(), true)?;
        let ep = server.value("ENDPOINT")?;
        let mut client = g.spawn(
            "client",
            &spec.peer(Role::LatClient, Some(&ep)).to_args(),
            false,
        )?;
        let c = parse_kv(&client.value("RESULT")?);
        let client_usage = client.usage()?;
        server.value("RESULT")?;
        server.release();
        let server_usage = server.usage()?;
        lat_metrics(spec, &c, &client_usage, &server_usage)
    })
}

/// Latency metrics from the client's result (CPU of both ends).
fn lat_metrics(
    spec: &RunSpec,
    c: &HashMap<String, String>,
    client_usage: &PeerUsage,
    server_usage: &PeerUsage,
) -> Result<Metrics, String> {
    {
        let mut m = [
            "mean_half_rtt_us",
            "rtt_p50_us",
            "rtt_p99_us",
            "rtt_p999_us",
            "rtt_min_us",
            "rtt_max_us",
        ]
        .into_iter()
        .map(|k| Ok((k, num(c, k)?)))
        .collect::<Result<Metrics, String>>()?;
        // Two messages per round trip, warm-up included.
        let moved = 2.0 * (spec.count + spec.warmup) as f64;
        m.extend([
            (
                "cpu_ns_msg",
                (client_usage.cpu_us + server_usage.cpu_us) * 1e3 / moved,
            ),
            ("rss_srv_mib", server_usage.maxrss_kib / 1024.0),
            ("rss_cli_mib", client_usage.maxrss_kib / 1024.0),
        ]);
        Ok(m)
    }
}

/// What a peer's `USAGE` line says (see `peer::Usage`).
pub struct PeerUsage {
    pub cpu_us: f64,
    pub maxrss_kib: f64,
}

/// Runs `body` with a fresh peer group; on failure kills the peers and adds what they said
/// on stderr (and whether the watchdog fired) to the error.
pub fn with_peers<T>(
    timeout: Duration,
    body: impl FnOnce(&mut PeerGroup) -> Result<T, String>,
) -> Result<T, String> {
    let mut g = PeerGroup::new(timeout);
    let result = body(&mut g);
    if result.is_err() {
        g.kill_all();
    }
    let exits = g.reap();
    let result = result.and_then(|v| {
        if let Some((label, status)) = exits.iter().find(|(_, st)| !st.success()) {
            return Err(format!("{label} exited with {status}"));
        }
        Ok(v)
    });
    result.map_err(|e| {
        let mut msg = if g.timed_out.load(Ordering::SeqCst) {
            format!("timed out after {} s ({e})", timeout.as_secs())
        } else {
            e
        };
        for (label, err) in g.stderr_text() {
            // A panic's location and message, or our own error line, come first.
            let lines: Vec<&str> = err
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .take(2)
                .collect();
            if !lines.is_empty() {
                msg.push_str(&format!("; {label} stderr: {}", lines.join(" / ")));
            }
        }
        msg
    })
}

/// The stdout (and optionally stdin) of one peer process.
pub struct Peer {
    label: &'static str,
    stdout: BufReader<ChildStdout>,
    stdin: Option<ChildStdin>,
}

impl Peer {
    /// Reads lines until one starts with `tag` and returns the rest of it.
    pub fn value(&mut self, tag: &str) -> Result<String, String> {
        let mut line = String::new();
        loop {
            line.clear();
            match self.stdout.read_line(&mut line) {
                Ok(0) => return Err(format!("{} exited without {tag}", self.label)),
                Ok(_) => {
                    if let Some(rest) = line.trim_end().strip_prefix(tag) {
                        return Ok(rest.trim().to_string());
                    }
                }
                Err(e) => return Err(format!("{}: reading stdout: {e}", self.label)),
            }
        }
    }

    /// The next line of the peer's stdout (without the line end), `None` at end of file.
    pub fn line(&mut self) -> Result<Option<String>, String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => Ok(None),
            Ok(_) => Ok(Some(line.trim_end().to_string())),
            Err(e) => Err(format!("{}: reading stdout: {e}", self.label)),
        }
    }

    /// Closes the peer's stdin, which tells it to exit.
    pub fn release(&mut self) {
        self.stdin = None;
    }

    /// Writes one line to the peer's stdin (spawned with `keep_stdin`).
    pub fn tell(&mut self, line: &str) -> Result<(), String> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| format!("{}: stdin is closed", self.label))?;
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("{}: writing stdin: {e}", self.label))
    }

    /// Reads the peer's `USAGE` line.
    pub fn usage(&mut self) -> Result<PeerUsage, String> {
        let kv = parse_kv(&self.value("USAGE")?);
        Ok(PeerUsage {
            cpu_us: num(&kv, "cpu_us")?,
            maxrss_kib: num(&kv, "maxrss_kib")?,
        })
    }
}

/// The peers of one run plus the watchdog that kills them at the deadline.
pub struct PeerGroup {
    children: Arc<Mutex<Vec<(&'static str, Child)>>>,
    stderr: Vec<(&'static str, JoinHandle<String>)>,
    timed_out: Arc<AtomicBool>,
    cancel: Option<mpsc::Sender<()>>,
    watchdog: Option<JoinHandle<()>>,
}

impl PeerGroup {
    fn new(timeout: Duration) -> PeerGroup {
        let children: Arc<Mutex<Vec<(&'static str, Child)>>> = Arc::default();
        let timed_out = Arc::new(AtomicBool::new(false));
        let (cancel, cancelled) = mpsc::channel::<()>();
        let watchdog = {
            let children = Arc::clone(&children);
            let timed_out = Arc::clone(&timed_out);
            std::thread::spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = cancelled.recv_timeout(timeout) {
                    timed_out.store(true, Ordering::SeqCst);
                    kill(&children);
                }
            })
        };
        PeerGroup {
            children,
            stderr: Vec::new(),
            timed_out,
            cancel: Some(cancel),
            watchdog: Some(watchdog),
        }
    }

    /// Starts this executable with `args` (`__peer ROLE ...`).
    pub fn spawn(
        &mut self,
        label: &'static str,
        args: &[String],
        keep_stdin: bool,
    ) -> Result<Peer, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let mut child = Command::new(exe)
            .args(args)
            // The backend is chosen explicitly per implementation; an inherited override
            // must not change what a run measures.
            .env_remove("RINGLINK_BACKEND")
            .stdin(if keep_stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {label}: {e}"))?;
        let (Some(stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(format!("{label}: stdio pipes missing"));
        };
        let stdin = child.stdin.take();
        // Drained on a thread so a chatty peer can never block on a full stderr pipe.
        self.stderr.push((
            label,
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = stderr.read_to_string(&mut s);
                s
            }),
        ));
        lock(&self.children).push((label, child));
        Ok(Peer {
            label,
            stdout: BufReader::new(stdout),
            stdin,
        })
    }

    /// Kills every peer of the group now (the readers of their stdout then see its end).
    pub fn kill_all(&self) {
        kill(&self.children);
    }

    /// Waits for every peer to exit (the watchdog stays armed meanwhile), then disarms it.
    /// Polls instead of blocking in `wait()` so the watchdog can take the lock to kill.
    fn reap(&mut self) -> Vec<(&'static str, ExitStatus)> {
        let mut exits = Vec::new();
        loop {
            {
                let mut children = lock(&self.children);
                let mut i = 0;
                while i < children.len() {
                    match children[i].1.try_wait() {
                        Ok(Some(st)) => exits.push((children.remove(i).0, st)),
                        Ok(None) => i += 1,
                        Err(_) => {
                            // Cannot be waited for (should not happen): kill it and stop tracking.
                            let (_, mut c) = children.remove(i);
                            let _ = c.kill();
                        }
                    }
                }
                if children.is_empty() {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.disarm();
        exits
    }

    fn disarm(&mut self) {
        self.cancel = None; // disconnects the channel: the watchdog returns at once
        if let Some(w) = self.watchdog.take() {
            let _ = w.join();
        }
    }

    /// What each peer wrote to stderr (available once the peers have exited).
    fn stderr_text(&mut self) -> Vec<(&'static str, String)> {
        self.stderr
            .drain(..)
            .map(|(label, h)| (label, h.join().unwrap_or_default()))
            .collect()
    }
}

impl Drop for PeerGroup {
    fn drop(&mut self) {
        // Normally a no-op (reap ran); protects against leaking peers on an early return.
        self.kill_all();
        for (_, c) in lock(&self.children).iter_mut() {
            let _ = c.wait();
        }
        self.disarm();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn kill(children: &Mutex<Vec<(&'static str, Child)>>) {
    for (_, c) in lock(children).iter_mut() {
        // Fails only if the child was already reaped, which is fine.
        let _ = c.kill();
    }
}

pub fn parse_kv(s: &str) -> HashMap<String, String> {
    s.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn num(kv: &HashMap<String, String>, key: &str) -> Result<f64, String> {
    kv.get(key)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("peer result lacks a numeric `{key}`"))
}
