//! Thin, checked wrappers over the libc calls the engine needs (sockets, eventfd, poll).
//!
//! All raw libc use outside the two drivers funnels through here so each `unsafe` block sits
//! next to the one syscall it wraps.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Turn a `-1` return into the thread's `errno`.
macro_rules! syscall {
    ($e:expr) => {{
        let r = $e;
        if r == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(r)
        }
    }};
}
pub(crate) use syscall;

/// A socket address in kernel form (inet, inet6 or unix), owned so it outlives async ops.
#[derive(Clone)]
pub(crate) struct SockAddr {
    pub(crate) storage: libc::sockaddr_storage,
    pub(crate) len: libc::socklen_t,
}

impl SockAddr {
    pub(crate) fn from_inet(addr: SocketAddr) -> SockAddr {
        // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
        let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
        let len = match addr {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(a.ip().octets()),
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
                unsafe { (&mut storage as *mut _ as *mut libc::sockaddr_in).write(sin) };
                mem::size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: a.scope_id(),
                };
                // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
                unsafe { (&mut storage as *mut _ as *mut libc::sockaddr_in6).write(sin6) };
                mem::size_of::<libc::sockaddr_in6>()
            }
        };
        SockAddr {
            storage,
            len: len as libc::socklen_t,
        }
    }

    /// A unix-domain address; a leading `@` selects the abstract namespace.
    pub(crate) fn from_unix(path: &str) -> io::Result<SockAddr> {
        // SAFETY: all-zero sockaddr_storage is valid.
        let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
        // SAFETY: sockaddr_un fits in sockaddr_storage and has byte alignment needs only.
        let sun = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_un) };
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let bytes = path.as_bytes();
        let (abstract_ns, name) = match bytes.first() {
            Some(b'@') => (true, &bytes[1..]),
            _ => (false, bytes),
        };
        // A filesystem path needs a terminating NUL inside sun_path.
        let room = sun.sun_path.len() - usize::from(!abstract_ns);
        if name.len() + usize::from(abstract_ns) > room {
            return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
        }
        let off = usize::from(abstract_ns);
        for (i, b) in name.iter().enumerate() {
            sun.sun_path[off + i] = *b as libc::c_char;
        }
        let path_len = off + name.len() + usize::from(!abstract_ns);
        let base = mem::size_of::<libc::sa_family_t>();
        Ok(SockAddr {
            storage,
            len: (base + path_len) as libc::socklen_t,
        })
    }

    pub(crate) fn family(&self) -> libc::c_int {
        self.storage.ss_family as libc::c_int
    }

    pub(crate) fn as_ptr(&self) -> *const libc::sockaddr {
        &self.storage as *const _ as *const libc::sockaddr
    }

    /// The inet address, if this is one.
    pub(crate) fn to_inet(&self) -> Option<SocketAddr> {
        match self.family() {
            libc::AF_INET => {
                // SAFETY: family says the storage holds a sockaddr_in.
                let sin = unsafe { &*(self.as_ptr() as *const libc::sockaddr_in) };
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                Some(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 => {
                // SAFETY: family says the storage holds a sockaddr_in6.
                let sin6 = unsafe { &*(self.as_ptr() as *const libc::sockaddr_in6) };
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}

/// A non-blocking, close-on-exec stream socket of the address's family.
pub(crate) fn stream_socket(family: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the returned fd is owned by the OwnedFd.
    let fd = syscall!(unsafe {
        libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub(crate) fn set_int_opt(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    v: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the option value is a valid int for its size.
    syscall!(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &v as *const _ as *const libc::c_void,
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Options every connection gets: no Nagle for TCP, optional kernel buffer sizes.
pub(crate) fn tune_stream(
    fd: RawFd,
    family: libc::c_int,
    sndbuf: i32,
    rcvbuf: i32,
) -> io::Result<()> {
    if family != libc::AF_UNIX {
        set_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
    }
    if sndbuf > 0 {
        set_int_opt(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, sndbuf)?;
    }
    if rcvbuf > 0 {
        set_int_opt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, rcvbuf)?;
    }
    Ok(())
}

/// The largest TCP segment a connection uses (`TCP_MAXSEG`, set before `connect` and
/// `listen`, so each end's SYN advertises it and both directions are capped).
///
/// Why: on links with a 64 KiB MTU (loopback) the sender's MSS can exceed a window the
/// receiver has advertised, early in a connection while the receive window is still
/// small. The sender then sends nothing (one segment does not fit), and the receiver
/// sends no window update when its application reads, because Linux only sends one
/// when the window at least doubles (`tcp_cleanup_rbuf`), which the still-small
/// `rcv_ssthresh` does not allow. Both wait for the persist timer: a 200 ms stall with
/// everything read (seen as `timer:(persist,…)`, rwnd-limited, in `ss -ti`, about once in
/// 30 gateway runs). With segments of at most 16 KiB every window a receiver advertises
/// (at least one segment, or zero, which its first read reopens) fits a segment. Links
/// with MTUs up to 16 KiB are unaffected; loopback still moves 64 KiB GSO packets.
pub(crate) const TCP_SEGMENT_MAX: i32 = 16 * 1024;

/// Cap the segment size of a TCP socket before it connects or listens
/// ([`TCP_SEGMENT_MAX`]; accepted sockets inherit the listener's).
pub(crate) fn cap_segment(fd: RawFd, family: libc::c_int) -> io::Result<()> {
    if family == libc::AF_UNIX {
        return Ok(());
    }
    set_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_MAXSEG, TCP_SEGMENT_MAX)
}

/// Create, bind and listen.
pub(crate) fn listen(addr: &SockAddr, backlog: i32, v6only: bool) -> io::Result<OwnedFd> {
    let fd = stream_socket(addr.family())?;
    if addr.family() != libc::AF_UNIX {
        set_int_opt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        cap_segment(fd.as_raw_fd(), addr.family())?;
    }
    if addr.family() == libc::AF_INET6 {
        set_int_opt(
            fd.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            v6only as i32,
        )?;
    }
    // SAFETY: `addr` holds a valid sockaddr of `len` bytes.
    syscall!(unsafe { libc::bind(fd.as_raw_fd(), addr.as_ptr(), addr.len) })?;
    // SAFETY: plain syscall on an owned fd.
    syscall!(unsafe { libc::listen(fd.as_raw_fd(), backlog) })?;
    Ok(fd)
}

/// The address of a connected socket's peer.
pub(crate) fn peer_addr(fd: RawFd) -> io::Result<SockAddr> {
    sock_name(fd, libc::getpeername)
}

/// The locally bound address of a socket.
pub(crate) fn local_addr(fd: RawFd) -> io::Result<SockAddr> {
    sock_name(fd, libc::getsockname)
}

/// `getsockname`/`getpeername` into a fresh `SockAddr`.
fn sock_name(
    fd: RawFd,
    call: unsafe extern "C" fn(RawFd, *mut libc::sockaddr, *mut libc::socklen_t) -> libc::c_int,
) -> io::Result<SockAddr> {
    // SAFETY: zeroed storage is valid; the kernel fills at most `len` bytes.
    let storage = unsafe { mem::zeroed() };
    let mut a = SockAddr {
        storage,
        len: mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t,
    };
    // SAFETY: pointers refer to `a`'s storage and length; `call` is getsockname/getpeername.
    syscall!(unsafe {
        call(
            fd,
            &mut a.storage as *mut _ as *mut libc::sockaddr,
            &mut a.len,
        )
    })?;
    Ok(a)
}

/// The pending error of a socket (non-blocking connect result).
pub(crate) fn take_error(fd: RawFd) -> io::Result<Option<io::Error>> {
    let mut err: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `err`/`len` are valid out-parameters for SO_ERROR.
    syscall!(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            &mut err as *mut _ as *mut libc::c_void,
            &mut len,
        )
    })?;
    Ok((err != 0).then(|| io::Error::from_raw_os_error(err)))
}

/// An eventfd used to wake a parked thread (non-blocking, close-on-exec).
pub(crate) struct EventFd(OwnedFd);

impl EventFd {
    pub(crate) fn new() -> io::Result<EventFd> {
        // SAFETY: plain syscall; the fd is owned below.
        let fd = syscall!(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        // SAFETY: fresh descriptor.
        Ok(EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    pub(crate) fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.0)
    }

    /// Add one to the counter: makes the fd readable.
    pub(crate) fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64. EAGAIN (counter saturated) is harmless: the
        // fd is readable anyway.
        unsafe { libc::write(self.fd(), &one as *const u64 as *const libc::c_void, 8) };
    }

    /// Reset the counter.
    pub(crate) fn drain(&self) {
        drain_eventfd(self.fd());
    }

    /// Block until signalled or `timeout` passes (None = forever). Returns true if signalled;
    /// EINTR is an error.
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> io::Result<bool> {
        let mut fds = [libc::pollfd {
            fd: self.fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        poll_fds_ms(&mut fds, timeout_ms(timeout)).map(|n| n > 0)
    }
}

/// Reset an eventfd's counter given only its descriptor.
pub(crate) fn drain_eventfd(fd: RawFd) {
    let mut v: u64 = 0;
    // SAFETY: reads 8 bytes into a valid u64; EAGAIN just means it was not signalled.
    unsafe { libc::read(fd, &mut v as *mut u64 as *mut libc::c_void, 8) };
}

/// poll(2) with a timeout in milliseconds (-1: none); EINTR is returned as an error.
pub(crate) fn poll_fds_ms(fds: &mut [libc::pollfd], ms: libc::c_int) -> io::Result<usize> {
    // SAFETY: `fds` is a valid array of `len` pollfd structs.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r as usize)
}

/// Milliseconds for poll/epoll, rounded up so a sub-millisecond wait never becomes a busy loop.
pub(crate) fn timeout_ms(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            ms.min(i32::MAX as u128) as libc::c_int
        }
    }
}

/// Raise RLIMIT_NOFILE's soft limit to the hard limit (many connections need many fds).
pub fn raise_fd_limit() {
    // SAFETY: zeroed rlimit is valid; get/setrlimit read/write it.
    unsafe {
        let mut rl: libc::rlimit = mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 && rl.rlim_cur < rl.rlim_max {
            rl.rlim_cur = rl.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
        }
    }
}

/// Bytes of physical memory (cached). A peer announcing a frame larger than this can never
/// have it buffered: such a connection is refused at the header, as libzmq's failing
/// `malloc` of the announced size does, instead of after it has sent gigabytes.
pub(crate) fn physical_memory() -> u64 {
    static MEM: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *MEM.get_or_init(|| {
        // SAFETY: sysconf has no memory-safety preconditions.
        let (pages, size) = unsafe {
            (
                libc::sysconf(libc::_SC_PHYS_PAGES),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        match (u64::try_from(pages), u64::try_from(size)) {
            (Ok(p), Ok(s)) if p > 0 && s > 0 => p.saturating_mul(s),
            _ => u64::MAX,
        }
    })
}

/// Add one to an eventfd's counter given only its descriptor (makes it readable).
pub(crate) fn signal_eventfd(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a valid u64. EAGAIN (counter saturated) is harmless: the
    // fd is readable anyway.
    unsafe { libc::write(fd, &one as *const u64 as *const libc::c_void, 8) };
}

/// Run `f` (which spawns threads) with every signal blocked in the calling thread, then
/// restore its mask: the threads started meanwhile inherit the full mask, so an
/// application's signal handlers never run on a library thread (as libzmq's threads).
pub(crate) fn with_signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: sigset_t is plain data; sigfillset initialises it fully; pthread_sigmask only
    // reads `all` and writes `old`, both valid for the call.
    let old = unsafe {
        let mut all: libc::sigset_t = mem::zeroed();
        let mut old: libc::sigset_t = mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        old
    };
    let r = f();
    // SAFETY: restores the mask read above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    r
}
