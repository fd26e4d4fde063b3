//! TCP segment size: ringlink caps the MSS of its TCP connections at 16 KiB in both
//! directions (`TCP_MAXSEG` before `listen` and `connect`), so a receiver's small early
//! window never falls below the sender's segment size on loopback's 64 KiB MTU (the
//! persist-timer stall explained at `backend/sys.rs::TCP_SEGMENT_MAX`). Checked from the
//! plain-TCP end of a connection, whose MSS the other end's SYN bounds.

use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

use ringlink_tests::*;

const CAP: i32 = 16 * 1024;

fn mss(fd: &impl AsRawFd) -> i32 {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: a valid int out-pointer and its length on an open socket.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MAXSEG,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "getsockopt(TCP_MAXSEG)");
    v
}

/// The MSS of a plain connection over this loopback: above the cap on a 64 KiB MTU, so the
/// tests below show the cap rather than the link.
fn plain_mss() -> i32 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (a, _) = l.accept().unwrap();
    mss(&c).min(mss(&a))
}

both_backends!(a_listener_caps_what_its_peers_send, |backend| {
    let ctx = ctx(backend);
    let mut router = socket(&ctx, SocketType::Router);
    let ep = bind_tcp(&mut router);
    let c = TcpStream::connect(ep.strip_prefix("tcp://").unwrap()).unwrap();
    let plain = plain_mss();
    assert!(
        mss(&c) <= CAP,
        "MSS {} towards a ringlink listener (plain: {plain})",
        mss(&c)
    );
    assert!(
        plain > CAP || plain == mss(&c),
        "loopback MTU below the cap: {plain}"
    );
    drop(c);
});

both_backends!(a_connecting_socket_caps_what_its_peer_sends, |backend| {
    let ctx = ctx(backend);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut dealer = socket(&ctx, SocketType::Dealer);
    dealer
        .connect(&format!("tcp://{}", l.local_addr().unwrap()))
        .unwrap();
    let (a, _) = l.accept().unwrap();
    a.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    assert!(
        mss(&a) <= CAP,
        "MSS {} towards a ringlink connection",
        mss(&a)
    );
    drop(dealer);
});
