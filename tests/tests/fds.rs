//! Descriptors: a socket's descriptors are closed by the time its close returns (LINGER 0,
//! or nothing left to deliver), so a program near its descriptor limit can close and
//! re-create sockets as fast as with libzmq; and a listener that ran out of descriptors
//! accepts again once some are free. The tests lower RLIMIT_NOFILE and count or fill this
//! process's descriptor table, so they have their own binary and run one at a time.

use std::net::TcpStream;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ringlink::{poll, Monitor, MonitorEvent, MonitorEventKind, PollItem, POLLIN};
use ringlink_tests::raw::{self, RawConn};
use ringlink_tests::*;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Sets the soft descriptor limit; returns the previous one.
fn set_fd_limit(soft: u64) -> u64 {
    // SAFETY: getrlimit/setrlimit on a valid rlimit struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut r), 0);
        let old = r.rlim_cur;
        r.rlim_cur = soft;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &r), 0);
        old
    }
}

/// One round: ROUTER bind, DEALER connect, a round trip, close both (default LINGER -1,
/// nothing left queued). Returns the error of a failed round.
fn round(ctx: &Context) -> Result<(), ringlink::Error> {
    let mut r = ctx.socket(SocketType::Router)?;
    let mut d = ctx.socket(SocketType::Dealer)?;
    for s in [&mut r, &mut d] {
        s.set_option(SocketOption::RcvTimeo(IO_TIMEOUT_MS))?;
    }
    r.bind("tcp://127.0.0.1:*")?;
    d.connect(&r.last_endpoint().expect("bound"))?;
    d.send(b"x", 0)?;
    let msg = r.recv_multipart(0)?;
    r.send_multipart(&[&msg[0][..], b"y"], 0)?;
    d.recv_bytes(0)?;
    Ok(())
}

#[test]
fn closed_sockets_release_descriptors_at_once() {
    const ROUNDS: usize = 1000;
    let _serial = serial();
    let old = set_fd_limit(1024);
    for backend in backends() {
        for inline in [false, true] {
            let ctx = Context::builder()
                .backend(backend)
                .io_threads(if inline { 0 } else { 1 })
                .build()
                .unwrap();
            let base = open_fds();
            let mut failures = Vec::new();
            for i in 0..ROUNDS {
                if let Err(e) = round(&ctx) {
                    failures.push((i, e.to_string()));
                }
                let now = open_fds();
                assert!(
                    now <= base,
                    "{backend:?} inline={inline}: round {i} left {} descriptors open",
                    now - base
                );
            }
            assert!(
                failures.is_empty(),
                "{backend:?} inline={inline}: {} of {ROUNDS} rounds failed, first: {:?}",
                failures.len(),
                failures[0]
            );
        }
    }
    // libzmq (pyzmq) under the same limit, for comparison: no failures either.
    let mut py = PyPeer::spawn_script("lifecycle_peer", &["fd-rounds", &ROUNDS.to_string()]);
    assert_eq!(py.expect("FAILURES ").trim(), "0", "libzmq failed rounds");
    py.finish();
    set_fd_limit(old);
}

/// Takes every free descriptor (dups of `of`) until the table is full.
fn fill_table(of: &OwnedFd) -> Vec<OwnedFd> {
    let mut filler = Vec::new();
    loop {
        match of.try_clone() {
            Ok(fd) => filler.push(fd),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => return filler,
            Err(e) => panic!("dup: {e}"),
        }
    }
}

/// The socket's next monitor event. Waiting through `poll` also drives an inline context's
/// reactor.
fn next_event(router: &mut Socket, mon: &Monitor, what: &str) -> MonitorEvent {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(e) = mon.recv(Some(Duration::ZERO)).expect("monitor recv") {
            return e;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "{what}: no monitor event within 10 s");
        let mut items = [
            PollItem::socket(router, POLLIN),
            PollItem::fd(mon.fd(), POLLIN),
        ];
        retry_eintr(|| poll(&mut items, Some(left))).expect("poll");
    }
}

/// Clients connect while the descriptor table is full: the kernel completes their
/// connections into the listener's backlog, and every accept fails with EMFILE (a monitor
/// event). Once descriptors are free again the listener must take them all. Edge-triggered
/// epoll announces a backlog once, so a listener that waited for the next edge never would;
/// an io_uring accept re-armed at once would spin on EMFILE, which the event count catches.
/// The table is filled up to a lowered soft limit, so filling it is cheap.
#[test]
fn accept_resumes_once_descriptors_are_free() {
    const CLIENTS: usize = 8;
    let _serial = serial();
    for backend in backends() {
        for io_threads in [1, 0] {
            let what = format!("{backend:?} io_threads={io_threads}");
            // Lowered before the listener exists: io_uring reads the limit when an accept
            // is submitted, so a multishot accept armed earlier would not see it.
            let old = set_fd_limit(open_fds() as u64 + 64);
            let ctx = builder()
                .backend(backend)
                .io_threads(io_threads)
                .build()
                .unwrap();
            let mut router = socket(&ctx, SocketType::Router);
            let mon = router.monitor().unwrap();
            let ep = bind_tcp(&mut router);
            // The descriptor table is filled once the engine is at rest.
            let e = next_event(&mut router, &mon, &what);
            assert_eq!(e.kind, MonitorEventKind::Listening, "{what}");
            let addr: std::net::SocketAddr = ep.strip_prefix("tcp://").unwrap().parse().unwrap();
            // The clients' sockets are made while descriptors are free; connecting needs none.
            let clients: Vec<OwnedFd> = (0..CLIENTS)
                .map(|_| {
                    // SAFETY: plain socket(2); the result is checked and owned at once.
                    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
                    assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
                    // SAFETY: a fresh descriptor nobody else owns.
                    unsafe { OwnedFd::from_raw_fd(fd) }
                })
                .collect();
            let sin = match addr {
                std::net::SocketAddr::V4(a) => libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from(*a.ip()).to_be(),
                    },
                    sin_zero: [0; 8],
                },
                other => panic!("expected an IPv4 endpoint, got {other}"),
            };
            let filler = fill_table(&clients[0]);
            for c in &clients {
                // SAFETY: `sin` is a valid sockaddr_in of the given size.
                let r = unsafe {
                    libc::connect(
                        c.as_raw_fd(),
                        &sin as *const libc::sockaddr_in as *const libc::sockaddr,
                        std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                    )
                };
                assert_eq!(r, 0, "{what}: connect: {}", std::io::Error::last_os_error());
            }
            let first = next_event(&mut router, &mon, &what);
            assert_eq!(
                first.kind,
                MonitorEventKind::AcceptFailed(libc::EMFILE),
                "{what}"
            );
            drop(filler);
            set_fd_limit(old);
            // The clients talk from another thread: an inline context moves only while
            // this one waits in `recv`.
            let talk = std::thread::spawn(move || {
                let mut conns: Vec<RawConn> = clients
                    .into_iter()
                    .map(|fd| RawConn::from_stream(TcpStream::from(fd)))
                    .collect();
                for (i, c) in conns.iter_mut().enumerate() {
                    c.handshake(1, "DEALER", Some(format!("client-{i}").as_bytes()));
                    c.write(&raw::message(format!("hello {i}").as_bytes(), false));
                }
                conns
            });
            let mut seen = [false; CLIENTS];
            for _ in 0..CLIENTS {
                let parts = recv_parts(&mut router, &format!("{what}: a client's message"));
                let i: usize = std::str::from_utf8(&parts[0]).unwrap()["client-".len()..]
                    .parse()
                    .unwrap();
                assert_eq!(parts[1], format!("hello {i}").as_bytes(), "{what}");
                assert!(
                    !std::mem::replace(&mut seen[i], true),
                    "{what}: twice from {i}"
                );
            }
            drop(talk.join().expect("client thread"));
            // A listener that re-armed its accept at once would have failed many thousand
            // times in the few milliseconds the table was full; backing off from 10 ms, a
            // handful. 30 would take a window of over 25 s.
            let mut failures = 1;
            while let Some(e) = mon.recv(Some(Duration::ZERO)).expect("monitor") {
                if matches!(e.kind, MonitorEventKind::AcceptFailed(_)) {
                    failures += 1;
                }
            }
            assert!(failures < 30, "{what}: {failures} failed accepts");
        }
    }
}
