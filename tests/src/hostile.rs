//! Harness of the hostile-peer suite (`tests/tests/hostile.rs`): a ringlink server of each type
//! with a real pyzmq client (`python/hostile_peer.py`) that must go on being served, checks of
//! how the monitor says an attacker's connection ended, and memory and fd accounting that
//! proves an attack costs what the attacker actually sent and no more.
//!
//! RSS, virtual size and the fd table belong to the whole test process, so the suite's tests
//! run one at a time ([`serial`]); everything else follows the crate's rules (waits on events,
//! every wait bounded).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::VecDeque;
use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use ringlink::{DisconnectReason, Monitor, MonitorEvent, MonitorEventKind};

use crate::raw::{self, RawConn};
use crate::{
    bind_tcp, connect, poll_until, python_script, recv_parts, require_pyzmq, set_opt, socket,
    Backend, Context, Socket, SocketOption, SocketType, PEER_TIMEOUT,
};

/// How long an attacker's connection may stay open, or a monitor event take, before the test
/// fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// RSS the engine may gain during an attack on top of what the attacker sent: receive
/// buffers (the io_uring ring is 4 MiB, touched as the kernel fills it), pipe chunks, the
/// monitor queue and allocator slack. A defect that keeps a second copy of a flood, or sizes
/// a buffer from a declared length, shows up well above it.
pub const RSS_MARGIN: u64 = 16 << 20;

/// Heap the process may gain during an attack beyond what was sent: the engine's per
/// connection state, pipe chunks for the good peer's round trips, monitor events. Counted
/// exactly by [`CountingAlloc`], so it can be tight.
pub const HEAP_MARGIN: u64 = 4 << 20;

/// Address space the process may gain during an attack beyond what was sent: thread stacks
/// and malloc arenas (64 MiB each, reserved, not touched) of threads started meanwhile. An
/// allocation sized from a length a peer *declared* (4 GiB, 2^62 bytes) is far above it.
pub const VM_MARGIN: u64 = 512 << 20;

/// Runs the suite's tests one at a time: they measure process-wide RSS, address space and
/// fds. Poisoning is ignored (a failed test must not fail the ones after it).
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Generates `<name>_uring` and `<name>_epoll` like [`both_backends!`](crate::both_backends),
/// each holding the [`serial`] lock for the whole test; the lock is taken before
/// [`run_test`](crate::run_test)'s watchdog starts, so waiting for it never counts against a test.
#[macro_export]
macro_rules! hostile {
    ($(#[$attr:meta])* $name:ident, $body:expr) => {
        $crate::paste::paste! {
            $(#[$attr])*
            #[test]
            fn [<$name _uring>]() {
                let _serial = $crate::hostile::serial();
                $crate::run_test(stringify!([<$name _uring>]), $crate::Backend::Uring, $body);
            }
            $(#[$attr])*
            #[test]
            fn [<$name _epoll>]() {
                let _serial = $crate::hostile::serial();
                $crate::run_test(stringify!([<$name _epoll>]), $crate::Backend::Epoll, $body);
            }
        }
    };
}

/// A deadline [`WAIT`] from now.
pub fn deadline() -> Instant {
    Instant::now() + WAIT
}

// ---------------------------------------------------------------------------------------------
// Memory and fds

/// A field of /proc/self/status in bytes (the file reports kB).
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    let kb: u64 = line[field.len() + 1..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{field}: {e}"));
    kb * 1024
}

fn mib(b: u64) -> f64 {
    b as f64 / (1u64 << 20) as f64
}

static LIVE: AtomicU64 = AtomicU64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);

/// A global allocator that counts live heap bytes and their peak, exactly, whatever the
/// system allocator keeps cached (RSS alone misses growth that lands in pages an earlier test
/// freed, and counts an untouched reservation as nothing). The hostile suite's binary installs
/// it: `#[global_allocator] static A: CountingAlloc = CountingAlloc;`.
pub struct CountingAlloc;

fn grew(n: usize) {
    let live = LIVE.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

fn shrank(n: usize) {
    LIVE.fetch_sub(n as u64, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `System` with the caller's arguments unchanged; the
// counters are plain atomics and never affect the returned memory.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded under the caller's contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded under the caller's contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded under the caller's contract.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded under the caller's contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        p
    }
}

/// Memory accounting over an attack, against what the attacker sent: the peak of live heap
/// ([`CountingAlloc`]), the RSS *peak* (VmHWM, reset at the start) and the address space.
pub struct MemWatch {
    base_heap: u64,
    base_rss: u64,
    base_vm: u64,
}

impl MemWatch {
    /// Returns free heap memory to the kernel, resets the RSS high-water mark to the current
    /// RSS (`/proc/self/clear_refs` = 5) and takes the baseline.
    pub fn start() -> MemWatch {
        // Hand freed memory back to the kernel first: otherwise pages freed by an earlier test
        // are reused without showing as growth, and the bound checks less than it says.
        // SAFETY: malloc_trim only walks and trims the allocator's own free lists.
        unsafe { libc::malloc_trim(0) };
        std::fs::write("/proc/self/clear_refs", "5")
            .expect("reset VmHWM through /proc/self/clear_refs");
        let base_heap = LIVE.load(Ordering::Relaxed);
        assert!(
            base_heap > 0,
            "CountingAlloc is not the global allocator of this test binary"
        );
        PEAK.store(base_heap, Ordering::Relaxed);
        MemWatch {
            base_heap,
            base_rss: status_bytes("VmRSS"),
            base_vm: status_bytes("VmSize"),
        }
    }

    /// Asserts that, since [`start`](Self::start), the peak of live heap grew by at most
    /// `allowed` (what the attacker sent, plus any bookkeeping the case documents) plus
    /// [`HEAP_MARGIN`], the RSS peak by at most `allowed` plus [`RSS_MARGIN`], and the address
    /// space (now) by at most `allowed` plus [`VM_MARGIN`]. Call it while the attacker's state
    /// is still held, and again after.
    pub fn check(&self, allowed: u64, what: &str) {
        let heap_growth = PEAK.load(Ordering::Relaxed).saturating_sub(self.base_heap);
        let peak = status_bytes("VmHWM");
        let vm = status_bytes("VmSize");
        let rss_growth = peak.saturating_sub(self.base_rss);
        let vm_growth = vm.saturating_sub(self.base_vm);
        eprintln!(
            "memory: {what}: heap peak +{:.1} MiB, RSS peak +{:.1} MiB, address space +{:.1} \
             MiB ({:.1} MiB allowed)",
            mib(heap_growth),
            mib(rss_growth),
            mib(vm_growth),
            mib(allowed)
        );
        assert!(
            heap_growth <= allowed + HEAP_MARGIN,
            "{what}: the heap peak grew by {:.1} MiB, more than the {:.1} MiB allowed plus the \
             {:.0} MiB margin",
            mib(heap_growth),
            mib(allowed),
            mib(HEAP_MARGIN)
        );
        assert!(
            rss_growth <= allowed + RSS_MARGIN,
            "{what}: RSS peak grew by {:.1} MiB (from {:.1} MiB), more than the {:.1} MiB allowed \
             plus the {:.0} MiB margin",
            mib(rss_growth),
            mib(self.base_rss),
            mib(allowed),
            mib(RSS_MARGIN)
        );
        assert!(
            vm_growth <= allowed + VM_MARGIN,
            "{what}: address space grew by {:.1} MiB (from {:.1} MiB), more than the {:.1} MiB \
             allowed plus the {:.0} MiB margin: something was sized from a declared length",
            mib(vm_growth),
            mib(self.base_vm),
            mib(allowed),
            mib(VM_MARGIN)
        );
    }
}

impl MemWatch {
    /// Live heap now, relative to the baseline (may be negative).
    pub fn held(&self) -> i64 {
        LIVE.load(Ordering::Relaxed) as i64 - self.base_heap as i64
    }

    /// Waits until the live heap is back within [`HEAP_MARGIN`] of the baseline: once an
    /// attacker is done, nothing it caused is kept (no leak, no cache sized by its input).
    /// `poke` is what the application does meanwhile (the socket lets go of a departed peer's
    /// pipes when it next looks at them, see [`Server::poke`]).
    pub fn released(&self, what: &str, mut poke: impl FnMut()) {
        let start = Instant::now();
        loop {
            poke();
            let kept = LIVE.load(Ordering::Relaxed).saturating_sub(self.base_heap);
            if kept <= HEAP_MARGIN {
                eprintln!("memory: {what}: {:.2} MiB still held", mib(kept));
                return;
            }
            assert!(
                start.elapsed() < WAIT,
                "{what}: {:.1} MiB of heap still held (margin {:.0} MiB) after {WAIT:?}",
                mib(kept),
                mib(HEAP_MARGIN)
            );
            thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Open file descriptors of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
}

// ---------------------------------------------------------------------------------------------
// TCP queues

/// `addr` as /proc/net/tcp prints it (`0100007F:1F90`). IPv4 only (the suite uses 127.0.0.1).
fn proc_addr(addr: SocketAddr) -> String {
    let SocketAddr::V4(a) = addr else {
        panic!("{addr}: only IPv4 is looked up in /proc/net/tcp")
    };
    format!(
        "{:08X}:{:04X}",
        u32::from_ne_bytes(a.ip().octets()),
        a.port()
    )
}

/// (tx_queue, rx_queue) of the socket `local` -> `remote`, if it still exists.
fn tcp_queues(local: &str, remote: &str) -> Option<(u64, u64)> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 5 || f[1] != local || f[2] != remote {
            return None;
        }
        let (tx, rx) = f[4].split_once(':')?;
        Some((
            u64::from_str_radix(tx, 16).ok()?,
            u64::from_str_radix(rx, 16).ok()?,
        ))
    })
}

/// Whether everything written on `s` has been read by the process at the other end: our send
/// queue is acknowledged and the receiver's queue is empty (or its socket is gone).
pub fn consumed(s: &TcpStream) -> bool {
    let ours = proc_addr(s.local_addr().expect("local_addr"));
    let theirs = proc_addr(s.peer_addr().expect("peer_addr"));
    let sent = tcp_queues(&ours, &theirs).is_none_or(|(tx, _)| tx == 0);
    sent && tcp_queues(&theirs, &ours).is_none_or(|(_, rx)| rx == 0)
}

/// Waits until everything written on `s` has been read by the process at the other end: our
/// send queue is acknowledged and the receiver's queue is empty (or its socket is gone). The
/// engine has then taken every byte off the kernel; a round trip with the good peer on the
/// same reactor afterwards proves it also processed them.
pub fn wait_consumed(s: &TcpStream, what: &str) {
    poll_until(
        WAIT,
        &format!("{what}: engine reading everything sent"),
        || consumed(s).then_some(()),
    );
}

// ---------------------------------------------------------------------------------------------
// Attackers

/// A raw client that completed a ZMTP handshake (ZMTP 3.`minor`) as `socket_type`.
pub fn zmtp_client(endpoint: &str, minor: u8, socket_type: &str, id: Option<&[u8]>) -> RawConn {
    let mut c = RawConn::connect(endpoint);
    c.handshake(minor, socket_type, id);
    c
}

/// Closes `c` with a RST instead of a FIN (SO_LINGER 0), as a crashed or abusive client does.
pub fn reset(c: RawConn) {
    set_linger_zero(&c.stream);
}

fn set_linger_zero(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads `size_of::<linger>()` bytes from a valid, live `linger`, and the
    // fd is owned by `s` for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER: {}", std::io::Error::last_os_error());
}

/// A TCP listener posing as a publisher that a ringlink SUB connects to.
pub struct HostileListener {
    pub listener: TcpListener,
    pub endpoint: String,
}

impl HostileListener {
    pub fn new() -> HostileListener {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind hostile listener");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let endpoint = format!("tcp://{}", listener.local_addr().expect("local_addr"));
        HostileListener { listener, endpoint }
    }

    /// The next connection from the SUB (it reconnects after every failure).
    pub fn accept(&self) -> RawConn {
        let (s, _) = poll_until(
            WAIT,
            "the SUB connecting to the hostile publisher",
            || match self.listener.accept() {
                Ok(x) => Some(x),
                Err(e) if e.kind() == ErrorKind::WouldBlock => None,
                Err(e) => panic!("accept: {e}"),
            },
        );
        s.set_nonblocking(false).expect("blocking stream");
        s.set_nodelay(true).expect("TCP_NODELAY");
        RawConn::from_stream(s)
    }
}

impl Default for HostileListener {
    fn default() -> Self {
        Self::new()
    }
}

/// A READY command body with exactly these properties (no Socket-Type unless given).
pub fn ready_with(props: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut body = b"\x05READY".to_vec();
    for (name, value) in props {
        body.push(name.len() as u8);
        body.extend_from_slice(name);
        body.extend_from_slice(&(value.len() as u32).to_be_bytes());
        body.extend_from_slice(value);
    }
    body
}

/// A frame header declaring `len` body bytes with `flags`, in the long form.
pub fn long_header(flags: u8, len: u64) -> Vec<u8> {
    let mut h = vec![flags | 0x02];
    h.extend_from_slice(&len.to_be_bytes());
    h
}

/// A SUBSCRIBE command (ZMTP 3.1) for `topic`.
pub fn subscribe_cmd(topic: &[u8]) -> Vec<u8> {
    let mut body = b"\x09SUBSCRIBE".to_vec();
    body.extend_from_slice(topic);
    raw::command(&body)
}

// ---------------------------------------------------------------------------------------------
// Monitor

/// How an attacker's connection must end, as the server's monitor reports it.
#[derive(Debug, Clone)]
pub enum End {
    /// HANDSHAKE_FAILED_PROTOCOL whose description contains the text, then
    /// DISCONNECTED(handshake).
    HandshakeProtocol(&'static str),
    /// HANDSHAKE_FAILED_NO_DETAIL (timed out), then DISCONNECTED(handshake).
    HandshakeTimeout,
    /// HANDSHAKE_FAILED_NO_DETAIL (the transport failed), then DISCONNECTED with this reason:
    /// the peer hung up (remote) or reset (handshake) before the handshake completed.
    HandshakeCut(DisconnectReason),
    /// DISCONNECTED(remote) during the handshake; whether a HANDSHAKE_FAILED_NO_DETAIL comes
    /// first is left to [`End::HandshakeCut`].
    Hangup,
    /// DISCONNECTED(transport) with the text in its description, no handshake failure: a
    /// protocol violation or a transport error after the handshake.
    Transport(&'static str),
    /// DISCONNECTED(remote), no handshake failure: the attacker hung up.
    Remote,
    /// DISCONNECTED(local), no handshake failure: the application closed the connection.
    Local,
}

/// A socket's monitor with a record of everything seen (for failure messages).
pub struct Events {
    mon: Monitor,
    /// Only events on this endpoint count (None: all).
    only: Option<String>,
    /// The latest events (at most [`SEEN`]), for failure messages.
    pub seen: VecDeque<MonitorEvent>,
}

/// Events kept for failure messages.
const SEEN: usize = 64;

impl Events {
    pub fn new(sock: &mut Socket) -> Events {
        Events {
            mon: sock.monitor().expect("monitor"),
            only: None,
            seen: VecDeque::new(),
        }
    }

    fn record(&mut self, e: MonitorEvent) {
        if self.seen.len() == SEEN {
            self.seen.pop_front();
        }
        self.seen.push_back(e);
    }

    /// Count only events on `endpoint` (a connecting socket's events carry its endpoint).
    pub fn only(&mut self, endpoint: &str) {
        self.only = Some(endpoint.to_owned());
    }

    fn log(&self) -> String {
        self.seen
            .iter()
            .skip(self.seen.len().saturating_sub(12))
            .map(|e| format!("\n    {:?} on {}", e.kind, e.endpoint))
            .collect()
    }

    /// The next counted event, waiting up to [`WAIT`].
    pub fn next(&mut self, what: &str) -> MonitorEvent {
        self.next_with(what, &mut || {})
    }

    /// The next counted event, waiting up to [`WAIT`] and calling `poke` every 10 ms
    /// meanwhile (what the application does while it waits).
    pub fn next_with(&mut self, what: &str, poke: &mut dyn FnMut()) -> MonitorEvent {
        let end = deadline();
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "{what}: no monitor event within {WAIT:?}; recent events:{}",
                    self.log()
                )
            }
            let e = match self.mon.recv(Some(left.min(Duration::from_millis(10)))) {
                Ok(Some(e)) => e,
                // Timed out (or a signal): let the application do its part, then wait again.
                Ok(None) | Err(ringlink::Error::Interrupted) => {
                    poke();
                    continue;
                }
                Err(e) => panic!("{what}: monitor: {e}"),
            };
            self.record(e.clone());
            if self.only.as_ref().is_none_or(|ep| *ep == e.endpoint) {
                return e;
            }
        }
    }

    /// Discards what is queued now (the setup's events).
    pub fn drain(&mut self) {
        while let Ok(Some(e)) = self.mon.recv(Some(Duration::ZERO)) {
            self.record(e);
        }
    }

    /// Waits for the first counted event matching `pred`, skipping others.
    pub fn wait_for(
        &mut self,
        what: &str,
        pred: impl Fn(&MonitorEventKind) -> bool,
    ) -> MonitorEvent {
        loop {
            let e = self.next(what);
            if pred(&e.kind) {
                return e;
            }
        }
    }

    /// Waits for the next DISCONNECTED and checks it, and the events since, against `want`.
    pub fn expect_end(&mut self, want: End, what: &str) {
        self.expect_end_with(want, what, &mut || {});
    }

    /// [`expect_end`](Self::expect_end), calling `poke` while it waits.
    pub fn expect_end_with(&mut self, want: End, what: &str, poke: &mut dyn FnMut()) {
        let mut failures = Vec::new();
        let (reason, text) = loop {
            let e = self.next_with(what, poke);
            match e.kind {
                MonitorEventKind::Disconnected(r, t) => break (r, t),
                MonitorEventKind::HandshakeFailedProtocol(_)
                | MonitorEventKind::HandshakeFailedNoDetail(_) => failures.push(e.kind),
                _ => {}
            }
        };
        let fail = |why: String| -> ! {
            panic!(
                "{what}: want {want:?}, got handshake failures {failures:?} then \
                 DISCONNECTED({reason:?}, {text:?}): {why}; recent events:{}",
                self.log()
            )
        };
        let one_failure =
            |pred: &dyn Fn(&MonitorEventKind) -> bool| failures.len() == 1 && pred(&failures[0]);
        let no_detail =
            |k: &MonitorEventKind| matches!(k, MonitorEventKind::HandshakeFailedNoDetail(_));
        let (failures_ok, want_reason) = match &want {
            End::HandshakeProtocol(needle) => (
                one_failure(
                    &|k| matches!(k, MonitorEventKind::HandshakeFailedProtocol(d) if d.contains(needle)),
                ),
                DisconnectReason::Handshake,
            ),
            End::HandshakeTimeout => (one_failure(&no_detail), DisconnectReason::Handshake),
            End::HandshakeCut(r) => (one_failure(&no_detail), r.clone()),
            End::Hangup => (
                failures.is_empty() || one_failure(&no_detail),
                DisconnectReason::Remote,
            ),
            End::Transport(needle) => {
                if !text.contains(needle) {
                    fail(format!("the description does not mention {needle:?}"));
                }
                (failures.is_empty(), DisconnectReason::Transport)
            }
            End::Remote => (failures.is_empty(), DisconnectReason::Remote),
            End::Local => (failures.is_empty(), DisconnectReason::Local),
        };
        if !failures_ok {
            fail("wrong handshake failure events".into());
        }
        if reason != want_reason {
            fail(format!("want DISCONNECTED({want_reason:?})"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The good peer

/// A running `python/hostile_peer.py`, driven line by line over stdin.
pub struct GoodPeer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Option<JoinHandle<String>>,
    deadline: Instant,
    desc: String,
    done: bool,
}

impl GoodPeer {
    pub fn spawn(role: &str, endpoint: &str) -> GoodPeer {
        require_pyzmq();
        let path = python_script("hostile_peer");
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let mut child = Command::new(&python)
            .arg("-u")
            .arg(&path)
            .args([role, endpoint])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {python} {}: {e}", path.display()));
        let (lines, stderr) = crate::capture_output(&mut child);
        GoodPeer {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr: Some(stderr),
            deadline: Instant::now() + PEER_TIMEOUT * 3,
            desc: format!("hostile_peer.py {role} {endpoint}"),
            done: false,
        }
    }

    fn fail(&mut self, msg: &str) -> ! {
        let _ = self.child.kill();
        let status = self.child.wait();
        self.done = true;
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        panic!(
            "pyzmq peer `{}` {msg}\n  {status:?}\n  stderr:\n{stderr}",
            self.desc
        );
    }

    pub fn cmd(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        if let Err(e) = writeln!(stdin, "{line}").and_then(|()| stdin.flush()) {
            self.fail(&format!("did not take the command {line:?}: {e}"));
        }
    }

    /// The rest of the next stdout line starting with `prefix` (others are skipped), waiting
    /// at most `limit`: None on timeout.
    pub fn try_expect(&mut self, prefix: &str, limit: Duration) -> Option<String> {
        let end = (Instant::now() + limit).min(self.deadline);
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return Some(rest.to_owned());
                    }
                }
                Err(RecvTimeoutError::Timeout) if Instant::now() < self.deadline => return None,
                Err(RecvTimeoutError::Timeout) => self.fail("ran out of time"),
                Err(RecvTimeoutError::Disconnected) => {
                    self.fail(&format!("exited before printing {prefix:?}"))
                }
            }
        }
    }

    pub fn expect(&mut self, prefix: &str) -> String {
        match self.try_expect(prefix, PEER_TIMEOUT) {
            Some(rest) => rest,
            None => self.fail(&format!("did not print {prefix:?} within {PEER_TIMEOUT:?}")),
        }
    }

    /// Ends the peer: it closes its socket and must exit cleanly.
    pub fn quit(mut self) {
        self.cmd("quit");
        self.expect("OK");
        drop(self.stdin.take());
        let status = self.child.wait().expect("wait for the pyzmq peer");
        if !status.success() {
            self.fail(&format!("exited with {status} after OK"));
        }
        self.done = true;
    }
}

impl Drop for GoodPeer {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let _ = self.child.kill();
        let status = self.child.wait();
        if thread::panicking() {
            let stderr = self.stderr.take().and_then(|h| h.join().ok());
            eprintln!(
                "pyzmq peer `{}` (stopped; {status:?}) stderr:\n{}",
                self.desc,
                stderr.unwrap_or_default()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Servers

/// The server types under attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Router,
    Rep,
    Pub,
    XPub,
    /// A SUB connecting to publishers: the attacker is a publisher it connected to.
    Sub,
    Pull,
    StreamRaw,
    StreamLp,
}

impl Kind {
    fn socket_type(self) -> SocketType {
        match self {
            Kind::Router => SocketType::Router,
            Kind::Rep => SocketType::Rep,
            Kind::Pub => SocketType::Pub,
            Kind::XPub => SocketType::XPub,
            Kind::Sub => SocketType::Sub,
            Kind::Pull => SocketType::Pull,
            Kind::StreamRaw | Kind::StreamLp => SocketType::Stream,
        }
    }

    /// The pyzmq peer's role in `hostile_peer.py`.
    fn role(self) -> &'static str {
        match self {
            Kind::Router => "dealer",
            Kind::Rep => "req",
            Kind::Pub | Kind::XPub => "sub",
            Kind::Sub => "xpub",
            Kind::Pull => "push",
            Kind::StreamRaw => "stream-raw",
            Kind::StreamLp => "stream-lp",
        }
    }

    /// The socket type a ZMTP attacker announces to get past the handshake.
    pub fn peer_type(self) -> &'static str {
        match self {
            Kind::Router => "DEALER",
            Kind::Rep => "REQ",
            Kind::Pub | Kind::XPub => "SUB",
            Kind::Sub => "PUB",
            Kind::Pull => "PUSH",
            Kind::StreamRaw | Kind::StreamLp => panic!("STREAM peers speak no ZMTP"),
        }
    }
}

/// See [`Server::poke`].
fn poke(kind: Kind, sock: &mut Socket) {
    if matches!(kind, Kind::Pub | Kind::XPub) {
        let _ = sock.send(b"\xffnobody", ringlink::DONTWAIT);
    }
    let _ = sock.events();
}

/// A ringlink socket of one [`Kind`] on one backend, monitored, with a pyzmq peer that it
/// serves: attackers connect to `endpoint` (a SUB instead connects to a [`HostileListener`]).
pub struct Server {
    pub kind: Kind,
    pub sock: Socket,
    pub events: Events,
    /// Where attackers connect (SUB: the pyzmq publisher's endpoint).
    pub endpoint: String,
    /// STREAM: messages from other peers than the good one, in arrival order.
    pub stream_others: Vec<(Vec<u8>, Vec<u8>)>,
    peer: Option<GoodPeer>,
    round: u64,
    stream_rid: Vec<u8>,
    // Last: the socket must go before its context.
    _ctx: Context,
}

impl Server {
    /// Builds the server with `opts`, links the pyzmq peer, serves it once and drains the
    /// setup's monitor events.
    pub fn new(backend: Backend, kind: Kind, opts: &[SocketOption]) -> Server {
        let ctx = crate::ctx(backend);
        let mut sock = socket(&ctx, kind.socket_type());
        for o in opts {
            set_opt(&mut sock, o.clone());
        }
        if kind == Kind::StreamLp {
            set_opt(
                &mut sock,
                SocketOption::StreamFraming(ringlink::StreamFraming::LengthPrefixed),
            );
        }
        let events = Events::new(&mut sock);
        let (endpoint, peer) = if kind == Kind::Sub {
            set_opt(&mut sock, SocketOption::Subscribe(b"t".to_vec()));
            let mut peer = GoodPeer::spawn(kind.role(), "tcp://127.0.0.1:*");
            let ep = peer.expect("ENDPOINT ").trim().to_owned();
            connect(&mut sock, &ep);
            peer.expect("SUBSCRIBED");
            (ep, peer)
        } else {
            let ep = bind_tcp(&mut sock);
            let mut peer = GoodPeer::spawn(kind.role(), &ep);
            peer.expect("ENDPOINT ");
            (ep, peer)
        };
        let mut srv = Server {
            kind,
            sock,
            events,
            endpoint,
            stream_others: Vec::new(),
            peer: Some(peer),
            round: 0,
            stream_rid: Vec::new(),
            _ctx: ctx,
        };
        match kind {
            Kind::StreamRaw | Kind::StreamLp => {
                let m = recv_parts(&mut srv.sock, "the pyzmq peer's connect notification");
                assert_eq!(m.len(), 2, "connect notification {m:?}");
                srv.stream_rid = m[0].clone();
            }
            Kind::XPub => {
                // Sends are reliable once the subscription has arrived.
                loop {
                    let m = recv_parts(&mut srv.sock, "the pyzmq SUB's subscription");
                    if m == [b"\x01t".to_vec()] {
                        break;
                    }
                }
            }
            _ => {}
        }
        srv.serve("setup");
        srv.events.drain();
        srv
    }

    fn peer(&mut self) -> &mut GoodPeer {
        self.peer.as_mut().expect("the pyzmq peer is running")
    }

    /// One round with the pyzmq peer (see hostile_peer.py): fails the test if the server does
    /// not serve it.
    pub fn serve(&mut self, what: &str) {
        let n = self.round;
        self.round += 1;
        let ping = format!("ping-{n}").into_bytes();
        let pong = format!("pong-{n}").into_bytes();
        let what = format!("serving the pyzmq peer ({what}, round {n})");
        self.peer().cmd(&format!("round {n}"));
        match self.kind {
            Kind::Router => {
                let got = recv_parts(&mut self.sock, &what);
                assert_eq!(got, vec![b"py".to_vec(), ping], "{what}");
                self.sock
                    .send_multipart(&[&b"py"[..], &pong], 0)
                    .unwrap_or_else(|e| panic!("{what}: reply: {e}"));
            }
            Kind::Rep => {
                let got = recv_parts(&mut self.sock, &what);
                assert_eq!(got, vec![ping], "{what}");
                self.sock
                    .send(&pong, 0)
                    .unwrap_or_else(|e| panic!("{what}: reply: {e}"));
            }
            Kind::Pull => {
                let got = recv_parts(&mut self.sock, &what);
                assert_eq!(got, vec![ping], "{what}");
            }
            Kind::Sub => {
                let got = recv_parts(&mut self.sock, &what);
                assert_eq!(got, vec![format!("t-{n}").into_bytes()], "{what}");
            }
            Kind::Pub if n == 0 => {
                // The subscription reaches a PUB unannounced: repeat until the peer has one.
                let topic = format!("t-{n}").into_bytes();
                loop {
                    self.sock
                        .send(&topic, 0)
                        .unwrap_or_else(|e| panic!("{what}: publish: {e}"));
                    if self
                        .peer()
                        .try_expect("DONE ", Duration::from_millis(10))
                        .is_some()
                    {
                        return;
                    }
                }
            }
            Kind::Pub | Kind::XPub => {
                self.sock
                    .send(format!("t-{n}").as_bytes(), 0)
                    .unwrap_or_else(|e| panic!("{what}: publish: {e}"));
            }
            Kind::StreamRaw | Kind::StreamLp => {
                let mut got = Vec::new();
                while got.len() < ping.len() {
                    let m = recv_parts(&mut self.sock, &what);
                    assert_eq!(m.len(), 2, "{what}: STREAM message {m:?}");
                    if m[0] == self.stream_rid {
                        got.extend_from_slice(&m[1]);
                    } else {
                        self.stream_others.push((m[0].clone(), m[1].clone()));
                    }
                }
                assert_eq!(got, ping, "{what}");
                let rid = self.stream_rid.clone();
                self.sock
                    .send_multipart(&[&rid[..], &pong], 0)
                    .unwrap_or_else(|e| panic!("{what}: reply: {e}"));
            }
        }
        let done = self.peer().expect("DONE ");
        assert_eq!(
            done.trim(),
            n.to_string(),
            "{what}: peer finished another round"
        );
    }

    /// What an application does anyway: look at the socket (and publish, on PUB/XPUB, which
    /// reads subscribers' pipes), so that it lets go of peers that left and lets a paused
    /// connection go on (whose end the engine reports only after its queued messages).
    pub fn poke(&mut self) {
        poke(self.kind, &mut self.sock);
    }

    /// Waits for the end of an attacker's connection (see [`Events::expect_end`]), poking the
    /// socket meanwhile.
    pub fn expect_end(&mut self, want: End, what: &str) {
        let (kind, sock) = (self.kind, &mut self.sock);
        self.events
            .expect_end_with(want, what, &mut || poke(kind, sock));
    }

    /// STREAM: the next message from a peer other than the good one (queued or received).
    pub fn stream_other(&mut self, what: &str) -> (Vec<u8>, Vec<u8>) {
        if !self.stream_others.is_empty() {
            return self.stream_others.remove(0);
        }
        let mut m = recv_parts(&mut self.sock, what);
        assert_eq!(m.len(), 2, "{what}: STREAM message {m:?}");
        assert_ne!(m[0], self.stream_rid, "{what}: the good peer sent unasked");
        let payload = m.pop().expect("two parts");
        (m.pop().expect("two parts"), payload)
    }

    /// The pyzmq peer quits cleanly (it saw no error), then the server is closed.
    pub fn finish(mut self) {
        if let Some(p) = self.peer.take() {
            p.quit();
        }
    }
}
