//! Helpers for ringlink's integration tests: per-backend test generation, contexts and
//! sockets with generous timeouts, unique endpoints, the deterministic test messages shared
//! with `python/peer.py`, and a harness for pyzmq peer processes; `netns` builds the impaired
//! links of the fault tests.
//!
//! Tests wait on events (messages, a peer's output), never on sleeps; every wait has a
//! deadline so a broken engine fails a test instead of hanging CI.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::OnceLock;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

#[doc(hidden)]
pub use paste;
pub use ringlink::{Backend, Context, ContextBuilder, Error, Socket, SocketOption, SocketType};

/// RCVTIMEO/SNDTIMEO for every test socket: generous, only there so nothing blocks forever.
pub const IO_TIMEOUT_MS: i32 = 10_000;
/// How long a Python peer may run in total before it is killed and the test fails.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(30);
/// Watchdog for a whole test body (beyond PEER_TIMEOUT so the peer's diagnosis wins).
pub const TEST_DEADLINE: Duration = Duration::from_secs(60);
/// Size of the single-part message in the `large` scenario.
pub const LARGE_LEN: usize = 8 << 20;
/// Size of the one big frame in each run of test messages.
pub const BIG_PART_LEN: usize = 1 << 20;

/// Both backends; every socket-level test runs on each.
pub fn backends() -> [Backend; 2] {
    [Backend::Uring, Backend::Epoll]
}

/// Generates `<name>_uring` and `<name>_epoll` tests that run `body(backend)` under
/// [`run_test`]'s watchdog. `body` is anything `FnOnce(Backend) + Send + 'static`.
///
/// ```text
/// both_backends!(pair_roundtrip, |backend| { let ctx = ctx(backend); /* ... */ });
/// ```
#[macro_export]
macro_rules! both_backends {
    ($(#[$attr:meta])* $name:ident, $body:expr) => {
        $crate::paste::paste! {
            $(#[$attr])*
            #[test]
            fn [<$name _uring>]() {
                $crate::run_test(stringify!([<$name _uring>]), $crate::Backend::Uring, $body);
            }
            $(#[$attr])*
            #[test]
            fn [<$name _epoll>]() {
                $crate::run_test(stringify!([<$name _epoll>]), $crate::Backend::Epoll, $body);
            }
        }
    };
}

/// Runs `body(backend)` on its own thread and fails the test if it panics or does not finish
/// within [`TEST_DEADLINE`] (a blocked engine call then fails one test instead of hanging
/// the run; the stuck thread is abandoned).
pub fn run_test<F>(name: &str, backend: Backend, body: F)
where
    F: FnOnce(Backend) + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(backend)));
            let _ = tx.send(result);
        })
        .expect("spawn test thread");
    match rx.recv_timeout(TEST_DEADLINE) {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("{name}: did not finish within {TEST_DEADLINE:?} (a call is blocked?)"),
    }
}

/// `Context::builder()`, with the test wire transform under every connection when
/// `RINGLINK_TEST_WIRE=xor` (scripts/test runs the ringlink-only suites so, to show that the
/// wire seam hands every byte over once and in order; peers that are not ringlink fail then).
pub fn builder() -> ContextBuilder {
    let b = Context::builder();
    if test_wire() {
        b.wire_transform(std::sync::Arc::new(ringlink::wire::testing::XorFactory))
    } else {
        b
    }
}

/// Whether `RINGLINK_TEST_WIRE=xor` asks for the test transform.
pub fn test_wire() -> bool {
    match std::env::var("RINGLINK_TEST_WIRE").ok().as_deref() {
        None | Some("") => false,
        Some("xor") => true,
        Some(other) => panic!("RINGLINK_TEST_WIRE={other:?}: expected xor"),
    }
}

/// A context on exactly `backend` (fails rather than silently using the other one).
pub fn ctx(backend: Backend) -> Context {
    let want = backend.name();
    let ctx = builder()
        .backend(backend)
        .io_threads(1)
        .build()
        .unwrap_or_else(|e| panic!("building a context on the {want} backend: {e}"));
    assert_eq!(
        ctx.backend().name(),
        want,
        "context is not on the requested backend"
    );
    ctx
}

/// Sends `msg` without blocking until everything between `tx` and a reader that does not
/// read is full: a send fails with EAGAIN and POLLOUT does not come back within `settle` (the
/// reactor may still be moving bytes when a send first fails). Returns how many messages were
/// accepted; fails the test if that does not happen within `limit`.
pub fn fill_until_full(tx: &mut Socket, msg: &[u8], settle: Duration, limit: Duration) -> usize {
    let mut sent = 0;
    let deadline = Instant::now() + limit;
    loop {
        match tx.send(msg, ringlink::DONTWAIT) {
            Ok(()) => sent += 1,
            Err(Error::Again) => {
                let mut items = [ringlink::PollItem::socket(tx, ringlink::POLLOUT)];
                if ringlink::poll(&mut items, Some(settle)).unwrap() == 0 {
                    return sent;
                }
            }
            Err(e) => panic!("send: {e}"),
        }
        assert!(Instant::now() < deadline, "never became full after {sent}");
    }
}

/// Sets RCVTIMEO and SNDTIMEO to [`IO_TIMEOUT_MS`] and a short linger.
pub fn recv_timeout(sock: &mut Socket) {
    for opt in [
        SocketOption::RcvTimeo(IO_TIMEOUT_MS),
        SocketOption::SndTimeo(IO_TIMEOUT_MS),
        SocketOption::Linger(1000),
    ] {
        sock.set_option(opt.clone())
            .unwrap_or_else(|e| panic!("set_option({opt:?}): {e}"));
    }
}

/// A socket with [`recv_timeout`] applied.
pub fn socket(ctx: &Context, ty: SocketType) -> Socket {
    let mut sock = ctx
        .socket(ty)
        .unwrap_or_else(|e| panic!("creating a {ty:?} socket: {e}"));
    recv_timeout(&mut sock);
    sock
}

/// `op` again while it fails with `Interrupted`. A blocking call returns EINTR, as libzmq's
/// do, when its wait is interrupted: by a signal, and on Linux also when the process is
/// stopped and continued (SIGSTOP/SIGCONT, a debugger, a container freeze), which makes
/// `epoll_wait` and `poll` fail with EINTR even without a handler. A client retries then,
/// and so do the tests' helpers; the engine's EINTR itself is tested where it is the point.
pub fn retry_eintr<T>(mut op: impl FnMut() -> ringlink::Result<T>) -> ringlink::Result<T> {
    loop {
        match op() {
            Err(Error::Interrupted) => continue,
            r => return r,
        }
    }
}

/// Receives one multipart message, failing the test (not hanging) on timeout or error.
pub fn recv_parts(sock: &mut Socket, what: &str) -> Vec<Vec<u8>> {
    retry_eintr(|| sock.recv_multipart(0)).unwrap_or_else(|e| {
        panic!(
            "receiving {what}: {e} (errno {}; RCVTIMEO is {IO_TIMEOUT_MS} ms)",
            e.errno()
        )
    })
}

/// Sends one multipart message, failing the test on error.
pub fn send_parts(sock: &mut Socket, parts: &[Vec<u8>], what: &str) {
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    retry_eintr(|| sock.send_multipart(refs.as_slice(), 0))
        .unwrap_or_else(|e| panic!("sending {what}: {e} (errno {})", e.errno()));
}

// ---------------------------------------------------------------------------------------------
// Deterministic messages (keep in sync with python/peer.py)

/// Bytes `j % 253` for `j` in `0..len`.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|j| (j % 253) as u8).collect()
}

/// Message `i` of a run of `n`: `[b"part0-<i>", <i*37 % 5000 bytes of i % 251>]`, with a
/// zero-length middle frame when `i % 5 == 1`, a zero-length last frame when `i % 4 == 3`, and a
/// [`BIG_PART_LEN`] frame appended to message `n / 2`.
pub fn test_message(i: usize, n: usize) -> Vec<Vec<u8>> {
    let mut parts = vec![
        format!("part0-{i}").into_bytes(),
        vec![(i % 251) as u8; i * 37 % 5000],
    ];
    if i % 5 == 1 {
        parts.insert(1, Vec::new());
    }
    if i % 4 == 3 {
        parts.push(Vec::new());
    }
    if i == n / 2 {
        parts.push(pattern(BIG_PART_LEN));
    }
    parts
}

fn describe(parts: &[Vec<u8>]) -> String {
    let lens: Vec<usize> = parts.iter().map(Vec::len).collect();
    match parts.first() {
        Some(first) => {
            let head = &first[..first.len().min(32)];
            format!(
                "{} parts, lengths {lens:?}, first {:?}",
                parts.len(),
                String::from_utf8_lossy(head)
            )
        }
        None => "0 parts".to_owned(),
    }
}

/// Asserts two multipart messages are equal, with a short diagnosis instead of a MiB dump.
pub fn assert_parts_eq(got: &[Vec<u8>], want: &[Vec<u8>], what: &str) {
    if got == want {
        return;
    }
    let mut detail = String::new();
    if let Some((k, (g, w))) = got.iter().zip(want).enumerate().find(|(_, (g, w))| g != w) {
        let off = g.iter().zip(w).position(|(a, b)| a != b);
        let off = off.unwrap_or(g.len().min(w.len()));
        detail = format!("; first difference in part {k} at byte {off}");
    }
    panic!(
        "{what}: got {}, want {}{detail}",
        describe(got),
        describe(want)
    );
}

// ---------------------------------------------------------------------------------------------
// Conversations mirroring peer.py's steps

/// One side of a conversation with a peer. On a ROUTER it prefixes sends with the peer's
/// routing id and strips/checks it on receive (the id is learned from the first message
/// unless given up front).
pub struct Conv<'a> {
    pub sock: &'a mut Socket,
    router: bool,
    /// Peer routing id (ROUTER only): fixed by [`Conv::router`] or learned.
    pub peer_id: Option<Vec<u8>>,
}

impl<'a> Conv<'a> {
    /// A PAIR or DEALER side.
    pub fn plain(sock: &'a mut Socket) -> Self {
        Conv {
            sock,
            router: false,
            peer_id: None,
        }
    }

    /// A ROUTER side; `expect_id` is the routing id the peer must show up with (None: learn
    /// whatever id it has).
    pub fn router(sock: &'a mut Socket, expect_id: Option<&[u8]>) -> Self {
        Conv {
            sock,
            router: true,
            peer_id: expect_id.map(<[u8]>::to_vec),
        }
    }

    pub fn send(&mut self, parts: &[Vec<u8>], what: &str) {
        if self.router {
            let id = self
                .peer_id
                .clone()
                .expect("ROUTER must receive before it can reply");
            let mut routed = Vec::with_capacity(parts.len() + 1);
            routed.push(id);
            routed.extend_from_slice(parts);
            send_parts(self.sock, &routed, what);
        } else {
            send_parts(self.sock, parts, what);
        }
    }

    pub fn recv(&mut self, what: &str) -> Vec<Vec<u8>> {
        let mut parts = recv_parts(self.sock, what);
        if !self.router {
            return parts;
        }
        assert!(
            parts.len() >= 2,
            "{what}: ROUTER got {}, no body after the routing id",
            describe(&parts)
        );
        let id = parts.remove(0);
        match &self.peer_id {
            Some(want) => assert_eq!(
                id,
                *want,
                "{what}: routing id {:?}, want {:?}",
                String::from_utf8_lossy(&id),
                String::from_utf8_lossy(want)
            ),
            None => {
                assert!(!id.is_empty(), "{what}: empty routing id");
                self.peer_id = Some(id);
            }
        }
        parts
    }

    /// Counterpart of peer.py `hello`.
    pub fn hello(&mut self) {
        if self.router {
            let got = self.recv("hello");
            assert_parts_eq(&got, &[b"hello".to_vec()], "hello");
        } else {
            self.send(&[b"hello".to_vec()], "hello");
        }
    }

    /// Counterpart of peer.py `recv n`.
    pub fn send_n(&mut self, n: usize) {
        for i in 0..n {
            self.send(&test_message(i, n), &format!("message {i}"));
        }
    }

    /// Counterpart of peer.py `send n`: checks every message's content.
    pub fn recv_n(&mut self, n: usize) {
        for i in 0..n {
            let what = format!("message {i} of {n}");
            let got = self.recv(&what);
            assert_parts_eq(&got, &test_message(i, n), &what);
        }
    }

    /// Counterpart of peer.py `echo n`: sends all n messages first, then checks the echoes,
    /// so requests and replies are in flight together.
    pub fn ping_n(&mut self, n: usize) {
        for i in 0..n {
            self.send(&test_message(i, n), &format!("ping {i}"));
        }
        for i in 0..n {
            let what = format!("echo of ping {i} of {n}");
            let got = self.recv(&what);
            assert_parts_eq(&got, &test_message(i, n), &what);
        }
    }

    /// Counterpart of peer.py `large`: one [`LARGE_LEN`] message there and back.
    pub fn large_ping(&mut self) {
        let big = vec![pattern(LARGE_LEN)];
        self.send(&big, "large message");
        let got = self.recv("echo of large message");
        assert_parts_eq(&got, &big, "echo of large message");
    }
}

// ---------------------------------------------------------------------------------------------
// Endpoints

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A name unique to this process and call: `rl-<pid>-<n>-<tag>`.
pub fn unique_name(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("rl-{}-{n}-{tag}", std::process::id())
}

/// Transports the interop tests cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    /// ipc with a filesystem path.
    Ipc,
    /// ipc in Linux's abstract namespace (`ipc://@name`).
    Abstract,
}

/// An endpoint to bind; removes its ipc socket file (if any) when dropped.
pub struct BindAddr {
    pub endpoint: String,
    path: Option<PathBuf>,
}

impl BindAddr {
    /// A fresh endpoint: `tcp://127.0.0.1:*` (ephemeral port), a unique ipc path in the temp
    /// dir, or a unique abstract name.
    pub fn new(transport: Transport, tag: &str) -> Self {
        match transport {
            Transport::Tcp => BindAddr {
                endpoint: "tcp://127.0.0.1:*".to_owned(),
                path: None,
            },
            Transport::Ipc => {
                let path = std::env::temp_dir().join(format!("{}.ipc", unique_name(tag)));
                let _ = std::fs::remove_file(&path);
                BindAddr {
                    endpoint: format!("ipc://{}", path.display()),
                    path: Some(path),
                }
            }
            Transport::Abstract => BindAddr {
                endpoint: format!("ipc://@{}", unique_name(tag)),
                path: None,
            },
        }
    }
}

impl Drop for BindAddr {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Binds `sock` and returns the endpoint peers should connect to (`last_endpoint`, which
/// must carry the real port for `tcp://...:*`).
pub fn bind(sock: &mut Socket, addr: &BindAddr) -> String {
    sock.bind(&addr.endpoint)
        .unwrap_or_else(|e| panic!("bind {}: {e}", addr.endpoint));
    let ep = sock
        .last_endpoint()
        .unwrap_or_else(|| panic!("no last_endpoint after binding {}", addr.endpoint));
    assert!(
        !ep.ends_with('*'),
        "last_endpoint {ep} does not name the bound port"
    );
    ep
}

/// Connects `sock` to `endpoint`, failing the test on error.
pub fn connect(sock: &mut Socket, endpoint: &str) {
    sock.connect(endpoint)
        .unwrap_or_else(|e| panic!("connect {endpoint}: {e}"));
}

/// Links a ringlink socket with a new pyzmq peer running `peer.py <args..> <py_type>
/// bind|connect <endpoint> <steps..>`: ringlink binds and the peer connects if `rl_binds`,
/// else the other way round. Returns the running peer and the address guard (keep it
/// alive until the test ends).
pub fn link_peer(
    sock: &mut Socket,
    transport: Transport,
    rl_binds: bool,
    py_type: &str,
    py_opts: &[&str],
    steps: &[&str],
) -> (PyPeer, BindAddr) {
    let addr = BindAddr::new(transport, &py_type.to_lowercase());
    let peer_args = |mode: &str, ep: &str| -> Vec<String> {
        let mut v: Vec<String> = py_opts.iter().map(|s| s.to_string()).collect();
        v.extend([py_type.to_owned(), mode.to_owned(), ep.to_owned()]);
        v.extend(steps.iter().map(|s| s.to_string()));
        v
    };
    if rl_binds {
        let ep = bind(sock, &addr);
        let mut peer = PyPeer::spawn(&peer_args("connect", &ep));
        peer.endpoint();
        (peer, addr)
    } else {
        let mut peer = PyPeer::spawn(&peer_args("bind", &addr.endpoint));
        let ep = peer.endpoint();
        connect(sock, &ep);
        (peer, addr)
    }
}

// ---------------------------------------------------------------------------------------------
// Python peers

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Fails (never skips) with a clear message when pyzmq cannot be imported; checked once.
pub fn require_pyzmq() {
    static CHECK: OnceLock<Result<String, String>> = OnceLock::new();
    let res = CHECK.get_or_init(|| {
        let out = Command::new(python())
            .args(["-c", "import zmq; print(zmq.zmq_version())"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", python()))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    });
    if let Err(e) = res {
        panic!(
            "pyzmq is required by the interop tests but `{} -c 'import zmq'` failed: {e}\n\
             install it with: python3 -m pip install pyzmq   (.ci/run does this)",
            python()
        );
    }
}

/// Path of a script in `tests/python/`.
pub fn python_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(format!("{name}.py"))
}

/// A running `python/peer.py`. Its stdout is read line by line; every wait is bounded by
/// [`PEER_TIMEOUT`] from spawn, after which the child is killed and the test fails with its
/// stderr. Dropping it kills a child that has not finished.
pub struct PyPeer {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Option<JoinHandle<String>>,
    deadline: Instant,
    desc: String,
    done: bool,
}

impl PyPeer {
    /// Spawns `python3 -u tests/python/peer.py <args>`.
    pub fn spawn<S: AsRef<str>>(args: &[S]) -> Self {
        Self::spawn_script("peer", args)
    }

    /// Spawns `python3 -u tests/python/<script>.py <args>`.
    pub fn spawn_script<S: AsRef<str>>(script: &str, args: &[S]) -> Self {
        require_pyzmq();
        let path = python_script(script);
        let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        let desc = format!("{script}.py {}", args.join(" "));
        let mut child = Command::new(python())
            .arg("-u")
            .arg(&path)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {} {}: {e}", python(), path.display()));
        let (lines, stderr) = capture_output(&mut child);
        PyPeer {
            child,
            lines,
            stderr: Some(stderr),
            deadline: Instant::now() + PEER_TIMEOUT,
            desc,
            done: false,
        }
    }

    /// Waits for the next stdout line starting with `prefix` (other lines are ignored) and
    /// returns the rest of it.
    pub fn expect(&mut self, prefix: &str) -> String {
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.to_owned();
                    }
                }
                Err(RecvTimeoutError::Timeout) => self.fail(&format!(
                    "timed out after {PEER_TIMEOUT:?} waiting for {prefix:?}"
                )),
                Err(RecvTimeoutError::Disconnected) => {
                    self.fail(&format!("exited before printing {prefix:?}"))
                }
            }
        }
    }

    /// Waits for `ENDPOINT <ep>` and returns `<ep>`.
    pub fn endpoint(&mut self) -> String {
        self.expect("ENDPOINT ").trim().to_owned()
    }

    /// Waits for `OK` and a zero exit status.
    pub fn finish(mut self) {
        self.expect("OK");
        // stdout closes when the process exits.
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(_) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => self.fail("did not exit after printing OK"),
            }
        }
        let status = self.child.wait().expect("wait for python peer");
        if !status.success() {
            self.fail_with(Some(status), "exited unsuccessfully after printing OK");
        }
        self.done = true;
    }

    /// SIGKILLs the peer (fault tests) and reaps it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.done = true;
    }

    fn fail(&mut self, msg: &str) -> ! {
        self.fail_with(None, msg)
    }

    fn fail_with(&mut self, status: Option<ExitStatus>, msg: &str) -> ! {
        let status = status.or_else(|| {
            let _ = self.child.kill();
            self.child.wait().ok()
        });
        self.done = true;
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let status = status.map_or_else(|| "exit status unknown".to_owned(), |s| s.to_string());
        panic!(
            "python peer `{}` {msg}\n  {status}\n  stderr:\n{stderr}",
            self.desc
        );
    }
}

impl Drop for PyPeer {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let _ = self.child.kill();
        let status = self.child.wait();
        // The test failed on the Rust side: the peer's view is often the real diagnosis.
        if thread::panicking() {
            let stderr = self.stderr.take().and_then(|h| h.join().ok());
            let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
            eprintln!(
                "python peer `{}` (stopped; {status}) stderr:\n{}",
                self.desc,
                stderr.unwrap_or_default()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers for the pattern, robustness and reconnect tests

/// Sets `opt` on `sock`, failing the test on error.
pub fn set_opt(sock: &mut Socket, opt: SocketOption) {
    sock.set_option(opt.clone())
        .unwrap_or_else(|e| panic!("set_option({opt:?}): {e}"));
}

/// Binds `sock` to `tcp://127.0.0.1:*` and returns the resolved endpoint.
pub fn bind_tcp(sock: &mut Socket) -> String {
    bind(sock, &BindAddr::new(Transport::Tcp, "tcp"))
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it, release it).
pub fn free_tcp_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// The port of a `tcp://host:port` endpoint.
pub fn endpoint_port(ep: &str) -> u16 {
    ep.rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in endpoint {ep}"))
}

/// Polls `f` (every millisecond) until it returns `Some`, failing with `what` after `limit`.
/// For conditions only observable by retrying (e.g. an asynchronous connect completing).
pub fn poll_until<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Receives one message with a short `timeout_ms` instead of the socket's RCVTIMEO:
/// `None` on timeout (RCVTIMEO is restored to [`IO_TIMEOUT_MS`] afterwards).
pub fn try_recv_parts(sock: &mut Socket, timeout_ms: i32) -> Option<Vec<Vec<u8>>> {
    set_opt(sock, SocketOption::RcvTimeo(timeout_ms));
    let r = retry_eintr(|| sock.recv_multipart(0));
    set_opt(sock, SocketOption::RcvTimeo(IO_TIMEOUT_MS));
    match r {
        Ok(parts) => Some(parts),
        Err(Error::Again) => None,
        Err(e) => panic!("recv: {e}"),
    }
}

pub mod hostile;
pub mod netns;

/// Byte-level ZMTP 3.x for raw TCP clients playing a misbehaving (or minimal) peer.
pub mod raw {
    use std::io::{ErrorKind, Read, Write};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    /// A NULL-mechanism greeting with the given minor version (1 = ZMTP 3.1, 0 = 3.0).
    pub fn greeting(minor: u8) -> Vec<u8> {
        let mut g = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x7F, 0x03, minor];
        g.extend_from_slice(b"NULL");
        g.extend_from_slice(&[0; 16]);
        g.push(0);
        g.extend_from_slice(&[0; 31]);
        assert_eq!(g.len(), 64);
        g
    }

    /// A command frame (short or long form) with `body`.
    pub fn command(body: &[u8]) -> Vec<u8> {
        frame_with_flags(0x04, body)
    }

    /// A frame with the given base flags (MORE = 1, COMMAND = 4, reserved bits allowed: the
    /// LONG bit is added when needed).
    pub fn frame_with_flags(flags: u8, body: &[u8]) -> Vec<u8> {
        let mut f = Vec::with_capacity(body.len() + 9);
        if body.len() <= 255 {
            f.push(flags);
            f.push(body.len() as u8);
        } else {
            f.push(flags | 0x02);
            f.extend_from_slice(&(body.len() as u64).to_be_bytes());
        }
        f.extend_from_slice(body);
        f
    }

    /// A message frame (`more` sets the MORE flag).
    pub fn message(body: &[u8], more: bool) -> Vec<u8> {
        frame_with_flags(u8::from(more), body)
    }

    /// A READY command announcing `socket_type` (and an Identity property if given).
    pub fn ready(socket_type: &str, identity: Option<&[u8]>) -> Vec<u8> {
        let mut body = vec![5];
        body.extend_from_slice(b"READY");
        let mut prop = |name: &str, value: &[u8]| {
            body.push(name.len() as u8);
            body.extend_from_slice(name.as_bytes());
            body.extend_from_slice(&(value.len() as u32).to_be_bytes());
            body.extend_from_slice(value);
        };
        prop("Socket-Type", socket_type.as_bytes());
        if let Some(id) = identity {
            prop("Identity", id);
        }
        command(&body)
    }

    /// One frame as read from the wire.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Frame {
        pub flags: u8,
        pub body: Vec<u8>,
    }

    impl Frame {
        pub fn is_command(&self) -> bool {
            self.flags & 0x04 != 0
        }
        /// The command name (first byte is its length), if this is a command.
        pub fn command_name(&self) -> Option<&[u8]> {
            let n = *self.body.first()? as usize;
            (self.is_command() && self.body.len() > n).then(|| &self.body[1..1 + n])
        }
    }

    /// How a read ended.
    #[derive(Debug)]
    pub enum ReadEnd {
        /// The peer closed (EOF or reset).
        Closed,
    }

    /// A raw TCP connection with a deadline on every read. Under `RINGLINK_TEST_WIRE=xor` its
    /// bytes go through the same test transform as the engine's (see `builder`), so the
    /// hand-written ZMTP of these tests reaches the engine's session unchanged.
    pub struct RawConn {
        pub stream: TcpStream,
        /// Everything read so far (for diagnostics and content checks), decoded.
        pub received: Vec<u8>,
        pos: usize,
        wire: Option<ringlink::wire::testing::Xor>,
    }

    impl RawConn {
        /// Connects to a `tcp://host:port` endpoint.
        pub fn connect(endpoint: &str) -> RawConn {
            let addr = endpoint
                .strip_prefix("tcp://")
                .unwrap_or_else(|| panic!("not a tcp endpoint: {endpoint}"));
            let stream =
                TcpStream::connect(addr).unwrap_or_else(|e| panic!("raw connect {addr}: {e}"));
            stream.set_nodelay(true).expect("TCP_NODELAY");
            RawConn::from_stream(stream)
        }

        pub fn from_stream(stream: TcpStream) -> RawConn {
            let wire = super::test_wire().then(ringlink::wire::testing::Xor::default);
            RawConn {
                stream,
                received: Vec::new(),
                pos: 0,
                wire,
            }
        }

        /// `bytes` as they go on the wire.
        fn encode<'a>(&mut self, bytes: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
            use ringlink::wire::WireTransform;
            match self.wire.as_mut() {
                Some(w) => {
                    let mut out = Vec::new();
                    w.encode(bytes, &mut out).expect("xor encode");
                    out.into()
                }
                None => bytes.into(),
            }
        }

        pub fn write(&mut self, bytes: &[u8]) {
            let wire = self.encode(bytes);
            self.stream
                .write_all(&wire)
                .unwrap_or_else(|e| panic!("raw write of {} bytes: {e}", bytes.len()));
        }

        /// Writes, tolerating the peer having closed already (EPIPE/ECONNRESET).
        pub fn write_lenient(&mut self, bytes: &[u8]) {
            let wire = self.encode(bytes);
            let _ = self.stream.write_all(&wire);
        }

        /// Reads more bytes into `received` before `deadline`; Err(Closed) on EOF/reset.
        fn fill(&mut self, deadline: Instant) -> Result<(), ReadEnd> {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "raw read: deadline passed ({} bytes read so far: {:02x?})",
                self.received.len(),
                &self.received[..self.received.len().min(200)]
            );
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("set_read_timeout");
            let mut buf = [0u8; 65536];
            match self.stream.read(&mut buf) {
                Ok(0) => Err(ReadEnd::Closed),
                Ok(n) => {
                    match self.wire.as_mut() {
                        Some(w) => {
                            use ringlink::wire::WireTransform;
                            w.decode(&buf[..n], &mut self.received)
                                .expect("the engine's records");
                        }
                        None => self.received.extend_from_slice(&buf[..n]),
                    }
                    Ok(())
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => Ok(()),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                    ) =>
                {
                    Err(ReadEnd::Closed)
                }
                Err(e) => panic!("raw read: {e}"),
            }
        }

        /// Reads exactly `n` bytes before `deadline`; Err(Closed) if the peer closes first.
        pub fn read_exact(&mut self, n: usize, deadline: Instant) -> Result<Vec<u8>, ReadEnd> {
            while self.received.len() - self.pos < n {
                self.fill(deadline)?;
            }
            let out = self.received[self.pos..self.pos + n].to_vec();
            self.pos += n;
            Ok(out)
        }

        /// Reads one frame before `deadline`.
        pub fn read_frame(&mut self, deadline: Instant) -> Result<Frame, ReadEnd> {
            let hdr = self.read_exact(2, deadline)?;
            let flags = hdr[0];
            let len = if flags & 0x02 != 0 {
                let mut rest = vec![hdr[1]];
                rest.extend(self.read_exact(7, deadline)?);
                u64::from_be_bytes(rest.try_into().expect("8 bytes")) as usize
            } else {
                hdr[1] as usize
            };
            let body = self.read_exact(len, deadline)?;
            Ok(Frame { flags, body })
        }

        /// Reads until the peer closes; fails if it does not close before `deadline`.
        /// Returns everything received on the connection.
        pub fn expect_closed(&mut self, deadline: Instant) -> Vec<u8> {
            while self.fill(deadline).is_ok() {}
            self.received.clone()
        }

        /// Sends a greeting and READY for `socket_type`, then reads the peer's greeting
        /// (checked: ZMTP 3.x NULL) and its READY command. Returns the peer's READY frame.
        pub fn handshake(
            &mut self,
            minor: u8,
            socket_type: &str,
            identity: Option<&[u8]>,
        ) -> Frame {
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut out = greeting(minor);
            out.extend(ready(socket_type, identity));
            self.write(&out);
            let g = self
                .read_exact(64, deadline)
                .unwrap_or_else(|e| panic!("peer closed before its greeting ({e:?})"));
            assert_eq!(g[0], 0xFF, "greeting signature byte 0: {g:02x?}");
            assert_eq!(g[9] & 1, 1, "greeting signature byte 9: {g:02x?}");
            assert_eq!(g[10], 3, "greeting major version: {g:02x?}");
            assert_eq!(&g[12..16], b"NULL", "greeting mechanism: {g:02x?}");
            let f = self
                .read_frame(deadline)
                .unwrap_or_else(|e| panic!("peer closed before READY ({e:?})"));
            assert_eq!(
                f.command_name(),
                Some(&b"READY"[..]),
                "expected READY, got {f:02x?}"
            );
            f
        }
    }

    /// True if `haystack` contains `needle`.
    pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }
}

/// Reads a child's piped stdout line by line into a channel and its stderr to the end, each on
/// its own thread, so neither pipe fills up and blocks the child.
pub fn capture_output(child: &mut Child) -> (mpsc::Receiver<String>, JoinHandle<String>) {
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let (tx, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    (lines, stderr)
}
