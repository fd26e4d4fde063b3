//! An impaired link for the fault tests: two network namespaces joined by a veth pair,
//! 10.77.N.1 (namespace `a`) <-> 10.77.N.2 (namespace `b`), with optional random loss
//! (nftables `numgen random` drop rules on each end's output) and optional delay with
//! reordering (an `iptables-legacy ... -j NFQUEUE` rule on each end's input, served by
//! `python/impair.py`).
//!
//! This kernel is built without netem (`CONFIG_NET_SCH_NETEM`) and without the nftables
//! `queue` expression (`CONFIG_NFT_QUEUE`), so delay and reordering go through the legacy
//! iptables NFQUEUE target and a userspace program that holds each packet and accepts them in
//! deadline order. The packets are held on the receiving side's input: held on the sender's
//! output they would still count against its TCP socket (TCP small queues), which then sends
//! only a couple of packets per delay and never sees a real window.
//!
//! Needs root (fails with a message saying so, never skips), `ip` (iproute2), `nft`
//! (nftables) and `iptables-legacy` (iptables); `scripts/test` installs them. Everything lives
//! in the two namespaces, which are deleted on drop, also when a test fails.

use std::fs;
use std::os::fd::AsRawFd;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// The netfilter queue number `impair.py` serves (queues are per namespace).
const QUEUE: &str = "7";
/// How long `impair.py` may take to bind its queue, and to report after it is told to stop.
const IMPAIR_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs `args`, failing with its stderr (and what to install) if it does not succeed.
pub fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "running {args:?}: {e} (are iproute2, nftables and iptables installed? \
                 scripts/test installs them)"
            )
        });
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// [`sh`] with the words of `cmd` (none of which contains a space).
fn sh_words(cmd: &str) {
    sh(&cmd.split_whitespace().collect::<Vec<_>>());
}

/// Fails with a clear message unless running as root.
fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test builds network namespaces, a veth pair and netfilter rules: run it as root \
         (euid is {euid})"
    );
}

/// Two network namespaces joined by a veth pair. Removed on drop.
pub struct NetnsLink {
    /// Namespace of 10.77.N.1.
    pub a: String,
    /// Namespace of 10.77.N.2.
    pub b: String,
    /// The N of 10.77.N.0/24.
    pub net: u32,
    dev_a: String,
    dev_b: String,
}

impl NetnsLink {
    /// Creates the namespaces and the link. `tag` tells the tests of one process apart (the
    /// process id tells processes apart); names stay within IFNAMSIZ.
    pub fn new(tag: u32) -> NetnsLink {
        require_root();
        let id = std::process::id() % 10_000;
        let link = NetnsLink {
            a: format!("rl{id}x{tag}a"),
            b: format!("rl{id}x{tag}b"),
            net: (std::process::id() + tag) % 250 + 1,
            dev_a: format!("rv{id}x{tag}a"),
            dev_b: format!("rv{id}x{tag}b"),
        };
        // From here on, drop deletes whatever was created.
        sh(&["ip", "netns", "add", &link.a]);
        sh(&["ip", "netns", "add", &link.b]);
        // Both ends are created inside their namespaces: nothing is left behind in the
        // initial one if a later step fails.
        sh_words(&format!(
            "ip link add {} netns {} type veth peer name {} netns {}",
            link.dev_a, link.a, link.dev_b, link.b
        ));
        for (ns, dev, host) in [(&link.a, &link.dev_a, 1), (&link.b, &link.dev_b, 2)] {
            let addr = format!("10.77.{}.{host}/24", link.net);
            sh(&["ip", "-n", ns, "addr", "add", &addr, "dev", dev]);
            sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        link
    }

    /// The address of host 1 (namespace `a`) or 2 (namespace `b`).
    pub fn addr(&self, host: u32) -> String {
        format!("10.77.{}.{host}", self.net)
    }

    /// Drops `percent` % of the packets each end sends, at random (nftables).
    pub fn add_loss(&self, percent: u32) {
        for (ns, dev) in [(&self.a, &self.dev_a), (&self.b, &self.dev_b)] {
            let nft = |cmd: &str| sh(&["ip", "netns", "exec", ns, "nft", cmd]);
            nft("add table inet lossy");
            nft("add chain inet lossy out { type filter hook output priority 0 ; }");
            nft(&format!(
                "add rule inet lossy out oifname \"{dev}\" \
                 numgen random mod 100 lt {percent} counter drop"
            ));
        }
    }

    /// Packets the loss rules dropped so far in namespace `ns`.
    pub fn dropped(ns: &str) -> u64 {
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "nft", "list", "table", "inet", "lossy"])
            .output()
            .expect("nft list");
        let text = String::from_utf8_lossy(&out.stdout);
        text.split("counter packets ")
            .skip(1)
            .filter_map(|t| t.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
    }

    /// A `TcpExt` counter of namespace `ns` (`/proc/net/netstat` there), e.g. `TCPOFOQueue`:
    /// segments the receiving TCP had to queue because they arrived out of order.
    pub fn tcp_ext(ns: &str, name: &str) -> u64 {
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "cat", "/proc/net/netstat"])
            .output()
            .expect("read /proc/net/netstat");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut rows = text.lines().filter(|l| l.starts_with("TcpExt:"));
        let (names, values) = (rows.next().unwrap_or(""), rows.next().unwrap_or(""));
        names
            .split_whitespace()
            .zip(values.split_whitespace())
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or_else(|| panic!("no TcpExt {name} in {ns}'s /proc/net/netstat"))
    }

    /// Holds every TCP packet arriving at each end for `delay_ms` plus a random 0..`jitter_ms`
    /// and lets them go in deadline order (`impair.py`, seeded with `seed` and `seed + 1`).
    /// Returns the impairment of the packets arriving in `a` and of those arriving in `b`.
    pub fn add_delay(&self, delay_ms: u32, jitter_ms: u32, seed: u32) -> (Impairment, Impairment) {
        let a = Impairment::start(&self.a, &self.dev_a, delay_ms, jitter_ms, seed);
        let b = Impairment::start(&self.b, &self.dev_b, delay_ms, jitter_ms, seed + 1);
        (a, b)
    }

    /// Runs `f` on a new thread inside namespace `ns` (threads it starts, such as a
    /// context's reactor, inherit the namespace).
    pub fn run_in<T: Send + 'static>(
        ns: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> JoinHandle<T> {
        let path = format!("/var/run/netns/{ns}");
        thread::spawn(move || {
            let fd = fs::File::open(&path).unwrap();
            // SAFETY: setns on an open namespace file for this thread only.
            let r = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns {path}: {}", std::io::Error::last_os_error());
            f()
        })
    }
}

impl Drop for NetnsLink {
    fn drop(&mut self) {
        // Deleting a namespace removes its end of the veth pair, and with it the other end.
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// What `impair.py` did to the packets arriving at one end.
#[derive(Debug, Clone, Copy)]
pub struct ImpairStats {
    /// Packets held and accepted.
    pub packets: u64,
    /// Packets accepted after a packet that arrived later than they did.
    pub reordered: u64,
    /// Mean, least and greatest time a packet was held, in microseconds.
    pub mean_us: u64,
    pub min_us: u64,
    pub max_us: u64,
    /// Packets accepted at once while stopping.
    pub passed: u64,
    /// Packets the kernel let through unqueued (queue or netlink socket full; fail-open).
    pub bypassed: u64,
}

/// A running `python/impair.py` in one namespace. Dropping it kills the program; the rule's
/// `--queue-bypass` then lets packets through.
pub struct Impairment {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    stderr: Option<JoinHandle<String>>,
    desc: String,
}

impl Impairment {
    fn start(ns: &str, dev: &str, delay_ms: u32, jitter_ms: u32, seed: u32) -> Impairment {
        let script = super::python_script("impair");
        let (delay, jitter, seed) = (
            delay_ms.to_string(),
            jitter_ms.to_string(),
            seed.to_string(),
        );
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, &super::python(), "-u"])
            .arg(&script)
            .args([QUEUE, &delay, &jitter, &seed])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning ip netns exec {ns} {}: {e}", script.display()));
        let (lines, stderr) = super::capture_output(&mut child);
        let mut imp = Impairment {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr: Some(stderr),
            desc: format!("impair.py in {ns} ({delay_ms} ms + 0..{jitter_ms} ms)"),
        };
        imp.expect("READY");
        // Only now: until the program is bound, the rule would let packets through.
        sh_words(&format!(
            "ip netns exec {ns} iptables-legacy -A INPUT -i {dev} -p tcp \
             -j NFQUEUE --queue-num {QUEUE} --queue-bypass"
        ));
        imp
    }

    /// Waits for a stdout line starting with `prefix` and returns the rest of it.
    fn expect(&mut self, prefix: &str) -> String {
        let deadline = std::time::Instant::now() + IMPAIR_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.to_owned();
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.fail(&format!("no {prefix:?} within {IMPAIR_TIMEOUT:?}"))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.fail(&format!("exited before printing {prefix:?}"))
                }
            }
        }
    }

    fn fail(&mut self, msg: &str) -> ! {
        let _ = self.child.kill();
        let status = self.child.wait();
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        panic!("`{}` {msg} ({status:?})\n  stderr:\n{stderr}", self.desc);
    }

    /// Stops the program (closes its stdin: it lets the held packets go at their deadlines)
    /// and returns its figures.
    pub fn finish(mut self) -> ImpairStats {
        drop(self.stdin.take());
        let line = self.expect("STATS ");
        let status = self.child.wait().expect("wait for impair.py");
        if !status.success() {
            self.fail(&format!("exited with {status} after its figures"));
        }
        let field = |name: &str| -> u64 {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in impair.py's figures: {line}"))
        };
        ImpairStats {
            packets: field("packets"),
            reordered: field("reordered"),
            mean_us: field("mean_us"),
            min_us: field("min_us"),
            max_us: field("max_us"),
            passed: field("passed"),
            bypassed: field("bypassed"),
        }
    }
}

impl Drop for Impairment {
    fn drop(&mut self) {
        // After finish() the child has been reaped already: kill then fails harmlessly.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
