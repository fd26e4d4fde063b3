//! `ringlink::tokio::AsyncSocket` on both backends: round trips, multipart and batches,
//! waiting at the send high-water mark, cancellation without loss, many tasks, and the
//! refusal of inline contexts.
#![cfg(feature = "tokio")]

use std::future::Future;
use std::time::Duration;

use ringlink::tokio::AsyncSocket;
use ringlink::{Backend, Context, Error, SocketOption, SocketType, DONTWAIT, POLLIN, POLLOUT};

/// Generous: the machine is shared and loaded; a test only waits this long when it fails.
const LIMIT: Duration = Duration::from_secs(20);

fn ctx(b: Backend) -> Context {
    Context::builder().backend(b).io_threads(1).build().unwrap()
}

fn backends() -> [Backend; 2] {
    [Backend::Uring, Backend::Epoll]
}

/// A bound and a connected socket over `transport` (`tcp` or `inproc`).
fn pair(ctx: &Context, a: SocketType, b: SocketType, ep: &str) -> (AsyncSocket, AsyncSocket) {
    let mut s = ctx.socket(a).unwrap();
    s.bind(ep).unwrap();
    let ep = s.last_endpoint().unwrap();
    let mut c = ctx.socket(b).unwrap();
    c.connect(&ep).unwrap();
    (AsyncSocket::new(s).unwrap(), AsyncSocket::new(c).unwrap())
}

async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f).await.expect("timed out")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_multipart_and_batches() {
    for b in backends() {
        let ctx = ctx(b);
        let (mut srv, mut cli) = pair(
            &ctx,
            SocketType::Pair,
            SocketType::Pair,
            "tcp://127.0.0.1:*",
        );
        within(cli.send(b"hello")).await.unwrap();
        assert_eq!(within(srv.recv()).await.unwrap(), b"hello");
        within(srv.send_multipart(&[&b"a"[..], b"", b"ccc"]))
            .await
            .unwrap();
        assert_eq!(
            within(cli.recv_multipart()).await.unwrap(),
            vec![b"a".to_vec(), vec![], b"ccc".to_vec()]
        );
        let msgs: Vec<Vec<u8>> = (0..500u32).map(|i| i.to_le_bytes().to_vec()).collect();
        let mut sent = 0;
        while sent < msgs.len() {
            sent += within(cli.send_batch(&msgs[sent..])).await.unwrap();
        }
        let mut buf = vec![0u8; 4096];
        let mut lens = vec![0usize; 64];
        let mut got = Vec::new();
        while got.len() < msgs.len() {
            let n = within(srv.recv_batch(&mut buf, &mut lens)).await.unwrap();
            let mut off = 0;
            for &l in &lens[..n] {
                got.push(buf[off..off + l].to_vec());
                off += l;
            }
        }
        assert_eq!(got, msgs);
        within(cli.send(b"in place")).await.unwrap();
        let n = within(srv.recv_with(|body, more| {
            assert!(!more);
            body.len()
        }))
        .await
        .unwrap();
        assert_eq!(n, 8);
        assert_eq!(within(cli.poll(POLLOUT)).await.unwrap() & POLLOUT, POLLOUT);
    }
}

/// A receive that is dropped while waiting takes nothing: the message sent afterwards goes
/// to the next receive. Also through `select!`, where the losing branch is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_receives_lose_nothing() {
    for b in backends() {
        let ctx = ctx(b);
        let (mut srv, mut cli) = pair(
            &ctx,
            SocketType::Pull,
            SocketType::Push,
            "tcp://127.0.0.1:*",
        );
        // Drive a receive to its first wait (it cannot complete: nothing was sent), drop it.
        {
            let fut = srv.recv();
            tokio::pin!(fut);
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            assert!(fut.as_mut().poll(&mut cx).is_pending());
        }
        for i in 0..100u32 {
            within(cli.send(&i.to_le_bytes())).await.unwrap();
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            // Half of the time the other branch is ready first and the receive is dropped.
            if i % 2 == 0 {
                tx.send(()).unwrap();
            } else {
                drop(tx);
            }
            tokio::select! {
                biased;
                _ = rx => {}
                m = srv.recv() => {
                    assert_eq!(m.unwrap(), i.to_le_bytes());
                    continue;
                }
            }
            // The select's receive was cancelled: the message is still there.
            assert_eq!(within(srv.recv()).await.unwrap(), i.to_le_bytes());
        }
        assert!(matches!(
            srv.get_mut().recv_bytes(DONTWAIT),
            Err(Error::Again)
        ));
    }
}

/// A send at the high-water mark waits (without blocking the runtime) until the peer reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_waits_at_the_high_water_mark() {
    for b in backends() {
        let ctx = ctx(b);
        let mut pull = ctx.socket(SocketType::Pull).unwrap();
        pull.set_option(SocketOption::RcvHwm(2)).unwrap();
        pull.bind("inproc://tokio-hwm").unwrap();
        let mut push = ctx.socket(SocketType::Push).unwrap();
        push.set_option(SocketOption::SndHwm(2)).unwrap();
        push.connect("inproc://tokio-hwm").unwrap();
        let mut queued = 0u32;
        while push.send(&queued.to_le_bytes(), DONTWAIT).is_ok() {
            queued += 1;
        }
        assert!(queued >= 2, "queued {queued}");
        let mut push = AsyncSocket::new(push).unwrap();
        let mut pull = AsyncSocket::new(pull).unwrap();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..=queued {
                got.push(within(pull.recv()).await.unwrap());
            }
            got
        });
        within(push.send(&queued.to_le_bytes())).await.unwrap();
        let got = reader.await.unwrap();
        let want: Vec<Vec<u8>> = (0..=queued).map(|i| i.to_le_bytes().to_vec()).collect();
        assert_eq!(got, want);
    }
}

/// Many tasks, each with its own DEALER, against a ROUTER echo task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_echo_serves_many_tasks() {
    for b in backends() {
        let ctx = ctx(b);
        let mut router = ctx.socket(SocketType::Router).unwrap();
        router.bind("tcp://127.0.0.1:*").unwrap();
        let ep = router.last_endpoint().unwrap();
        let mut router = AsyncSocket::new(router).unwrap();
        const CLIENTS: usize = 8;
        const EACH: usize = 200;
        let server = tokio::spawn(async move {
            for _ in 0..CLIENTS * EACH {
                let msg = within(router.recv_multipart()).await.unwrap();
                within(router.send_multipart(&msg)).await.unwrap();
            }
        });
        let mut clients = Vec::new();
        for c in 0..CLIENTS {
            let mut d = ctx.socket(SocketType::Dealer).unwrap();
            d.connect(&ep).unwrap();
            let mut d = AsyncSocket::new(d).unwrap();
            clients.push(tokio::spawn(async move {
                for i in 0..EACH {
                    let body = format!("{c}:{i}");
                    within(d.send(body.as_bytes())).await.unwrap();
                    assert_eq!(within(d.recv()).await.unwrap(), body.as_bytes());
                }
            }));
        }
        for c in clients {
            c.await.unwrap();
        }
        server.await.unwrap();
    }
}

#[tokio::test]
async fn inline_contexts_are_refused_and_poll_reports_input() {
    let inline = Context::builder().io_threads(0).build().unwrap();
    let s = inline.socket(SocketType::Pair).unwrap();
    assert!(matches!(AsyncSocket::new(s), Err(Error::NotSupported)));
    for b in backends() {
        let ctx = ctx(b);
        let (mut srv, mut cli) = pair(
            &ctx,
            SocketType::Pair,
            SocketType::Pair,
            "inproc://tokio-poll",
        );
        cli.send(b"x").await.unwrap();
        assert_eq!(within(srv.poll(POLLIN)).await.unwrap() & POLLIN, POLLIN);
        let s = srv.into_inner();
        drop(s);
        drop(cli);
    }
}
