//! SPOT through the C ABI: local and remote delivery, patterns, `rl_spot_sub_recv`,
//! `rl_spot_recv_many` into caller buffers (EMSGSIZE, `max`, multipart), `publish_many_const`,
//! handlers, a mesh formed through a registry and a discovery, and the node destroyed before
//! its subscribers. Helpers and rules as in `services.rs`.

use super::services::{cstr, ctx, errno_of, registry, until, BACKENDS, LONG};
use super::*;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// A SPOT node bound on a wildcard port; its endpoint.
pub(super) fn spot_node(ctx: *mut rl_ctx_t) -> (*mut rl_spot_node_t, CString) {
    // SAFETY: live context, valid buffer.
    unsafe {
        let n = rl_spot_node_new(ctx);
        assert!(!n.is_null());
        let mut ep = [0u8; 256];
        let rc = rl_spot_node_bind(
            n,
            c"tcp://127.0.0.1:*".as_ptr(),
            ep.as_mut_ptr().cast(),
            256,
        );
        assert_eq!(rc, 0, "bind: errno {}", rl_errno());
        (n, CString::new(cstr(&ep)).unwrap())
    }
}

pub(super) fn publish(node: *mut rl_spot_node_t, topic: &str, parts: &[&[u8]]) -> c_int {
    let ptrs: Vec<*const c_void> = parts.iter().map(|p| p.as_ptr().cast()).collect();
    let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    // SAFETY: live node, arrays of `parts.len()` entries.
    unsafe {
        rl_spot_publish(
            node,
            topic.as_ptr().cast(),
            topic.len(),
            ptrs.as_ptr(),
            lens.as_ptr(),
            parts.len(),
            0,
        )
    }
}

/// `rl_spot_node_setsockopt` with an int value.
pub(super) fn node_opt(n: *mut rl_spot_node_t, role: c_int, option: c_int, v: c_int) -> c_int {
    // SAFETY: `n` is a node of the calling test (live or destroyed: the ABI checks); a valid int.
    unsafe { rl_spot_node_setsockopt(n, role, option, (&v as *const c_int).cast(), 4) }
}

/// One message through rl_spot_sub_recv: (topic, parts), or the errno.
pub(super) fn sub_recv(
    sub: *mut rl_spot_sub_t,
    timeout_ms: c_int,
) -> Result<(String, Vec<Vec<u8>>), c_int> {
    sub_recv_into(sub, timeout_ms, &mut [0u8; 1024])
}

/// As [`sub_recv`], the parts received into `buf`.
pub(super) fn sub_recv_into(
    sub: *mut rl_spot_sub_t,
    timeout_ms: c_int,
    buf: &mut [u8],
) -> Result<(String, Vec<Vec<u8>>), c_int> {
    let mut topic = [0u8; 256];
    let mut tlen = 0usize;
    let mut lens = [0usize; 8];
    // SAFETY: live subscriber, valid buffers.
    let n = unsafe {
        rl_spot_sub_recv(
            sub,
            topic.as_mut_ptr().cast(),
            256,
            &mut tlen,
            buf.as_mut_ptr().cast(),
            buf.len(),
            lens.as_mut_ptr(),
            8,
            timeout_ms,
        )
    };
    if n < 0 {
        return Err(rl_errno());
    }
    assert_eq!(cstr(&topic).len(), tlen);
    let mut off = 0;
    let parts = lens[..n as usize]
        .iter()
        .map(|&l| {
            off += l;
            buf[off - l..off].to_vec()
        })
        .collect();
    Ok((cstr(&topic), parts))
}

/// Messages a handler saw: (topic, joined parts).
type Got = (Mutex<Vec<(String, Vec<Vec<u8>>)>>, Condvar);

unsafe extern "C" fn on_message(
    topic: *const c_char,
    topic_len: usize,
    parts: *const *const c_void,
    lens: *const usize,
    n: usize,
    ud: *mut c_void,
) {
    // SAFETY: `ud` is the test's `Got`, alive until the handler is removed; the rest is
    // valid for the call as documented.
    unsafe {
        let got = &*(ud as *const Got);
        let t = CStr::from_ptr(topic).to_str().unwrap().to_string();
        assert_eq!(t.len(), topic_len);
        let parts = (0..n)
            .map(|i| std::slice::from_raw_parts(*parts.add(i) as *const u8, *lens.add(i)).to_vec())
            .collect();
        got.0.lock().unwrap().push((t, parts));
        got.1.notify_all();
    }
}

#[test]
fn spot_local_and_remote_delivery_batches_and_handlers() {
    for backend in BACKENDS {
        spot_world(backend);
    }
}

fn spot_world(backend: c_int) {
    let ctx = ctx(backend);
    let (mut a, ep_a) = spot_node(ctx);
    let (mut b, _) = spot_node(ctx);
    // SAFETY: handles from this test, valid buffers.
    unsafe {
        assert_eq!(rl_spot_node_connect_peer(b, ep_a.as_ptr()), 0);
        // Remote: B's subscriber hears A once the subscription reached A's PUB (published
        // until it arrives: PUB drops what no subscriber asked for yet). The pattern goes
        // first: B's SUB sends subscriptions in order, so "t.x" arriving proves "t." did.
        let mut pattern = rl_spot_sub_new(b);
        assert_eq!(rl_spot_sub_subscribe_pattern(pattern, c"t.*".as_ptr()), 0);
        let mut remote = rl_spot_sub_new(b);
        assert!(!remote.is_null());
        assert_eq!(rl_spot_sub_subscribe(remote, c"t.x".as_ptr()), 0);
        let end = Instant::now() + Duration::from_secs(20);
        let first = loop {
            assert_eq!(publish(a, "t.x", &[b"hello", b"world"]), 0);
            match sub_recv(remote, 50) {
                Ok(m) => break m,
                Err(libc::EAGAIN) => assert!(Instant::now() < end, "remote never delivered"),
                Err(e) => panic!("errno {e}"),
            }
        };
        assert_eq!(
            first,
            (
                "t.x".to_string(),
                vec![b"hello".to_vec(), b"world".to_vec()]
            )
        );
        // The pattern subscriber got the same messages; "t.y" reaches only it.
        assert_eq!(publish(a, "t.y", &[b"why"]), 0);
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            let (t, parts) = sub_recv(pattern, LONG).unwrap();
            if t == "t.y" {
                assert_eq!(parts, [b"why".to_vec()]);
                break;
            }
            assert_eq!(t, "t.x");
            assert!(Instant::now() < end);
        }
        // Drain what the remote subscriber still holds (retries of the first publish).
        while sub_recv(remote, 0).is_ok() {}
        assert_eq!(rl_spot_sub_unsubscribe(pattern, c"t.*".as_ptr()), 0);
        assert_eq!(rl_spot_sub_destroy(&mut pattern), 0);

        // Local delivery (synchronous: no wait needed) and recv_many into caller buffers.
        let mut local = rl_spot_sub_new(a);
        assert_eq!(rl_spot_sub_subscribe(local, c"loc".as_ptr()), 0);
        assert_eq!(publish(a, "loc", &[b"a", b"bb"]), 0);
        assert_eq!(
            sub_recv(local, 0).unwrap(),
            ("loc".into(), vec![b"a".to_vec(), b"bb".to_vec()])
        );
        assert_eq!(sub_recv(local, 0), Err(libc::EAGAIN));
        let rc = rl_spot_publish_many_const(
            a,
            b"loc".as_ptr().cast(),
            3,
            b"12345".as_ptr().cast(),
            5,
            10,
        );
        assert_eq!(rc, 10);
        let mut topics = [0u8; 64];
        let mut tlens = [0usize; 16];
        let mut payload = [0u8; 64];
        let mut plens = [0usize; 16];
        let mut pcounts = [0usize; 16];
        let many = |topics: &mut [u8],
                    payload: &mut [u8],
                    plens: &mut [usize],
                    pcounts: *mut usize,
                    tlens: &mut [usize],
                    max: usize| {
            rl_spot_recv_many(
                local,
                topics.as_mut_ptr().cast(),
                topics.len(),
                tlens.as_mut_ptr(),
                payload.as_mut_ptr().cast(),
                payload.len(),
                plens.as_mut_ptr(),
                pcounts,
                max,
                0,
            )
        };
        // A first message larger than the payload buffer: EMSGSIZE, nothing taken.
        assert_eq!(
            errno_of(many(
                &mut topics,
                &mut payload[..4],
                &mut plens,
                null_mut(),
                &mut tlens,
                16
            )),
            libc::EMSGSIZE
        );
        assert_eq!(
            errno_of(many(
                &mut topics[..2],
                &mut payload,
                &mut plens,
                null_mut(),
                &mut tlens,
                16
            )),
            libc::EMSGSIZE
        );
        // 20 payload bytes: 4 messages; then the next 6 (a whole queue of room).
        assert_eq!(
            many(
                &mut topics,
                &mut payload[..20],
                &mut plens,
                null_mut(),
                &mut tlens,
                16
            ),
            4
        );
        assert_eq!((&tlens[..4], &plens[..4]), (&[3; 4][..], &[5; 4][..]));
        assert_eq!(
            (&topics[..12], &payload[..20]),
            (&b"locloclocloc"[..], &b"12345123451234512345"[..])
        );
        assert_eq!(
            many(
                &mut topics,
                &mut payload,
                &mut plens,
                null_mut(),
                &mut tlens,
                16
            ),
            6
        );
        // `max` bounds the batch.
        assert_eq!(
            rl_spot_publish_many_const(a, b"loc".as_ptr().cast(), 3, b"z".as_ptr().cast(), 1, 5),
            5
        );
        assert_eq!(
            many(
                &mut topics,
                &mut payload,
                &mut plens,
                null_mut(),
                &mut tlens,
                2
            ),
            2
        );
        assert_eq!(
            many(
                &mut topics,
                &mut payload,
                &mut plens,
                null_mut(),
                &mut tlens,
                16
            ),
            3
        );
        assert_eq!(
            errno_of(many(
                &mut topics,
                &mut payload,
                &mut plens,
                null_mut(),
                &mut tlens,
                16
            )),
            libc::EAGAIN
        );
        // Multipart: concatenated without `part_counts`, per part with it.
        assert_eq!(publish(a, "loc", &[b"a", b"bb"]), 0);
        assert_eq!(publish(a, "loc", &[b"ccc"]), 0);
        assert_eq!(
            many(
                &mut topics,
                &mut payload,
                &mut plens,
                null_mut(),
                &mut tlens,
                16
            ),
            2
        );
        assert_eq!((&plens[..2], &payload[..6]), (&[3, 3][..], &b"abbccc"[..]));
        assert_eq!(publish(a, "loc", &[b"a", b"bb"]), 0);
        assert_eq!(publish(a, "loc", &[b"ccc"]), 0);
        assert_eq!(publish(a, "loc", &[b"d", b"e", b"f"]), 0);
        // Room for 4 parts: the first two messages (3 parts), the third stays.
        assert_eq!(
            many(
                &mut topics,
                &mut payload,
                &mut plens,
                pcounts.as_mut_ptr(),
                &mut tlens,
                4
            ),
            2
        );
        assert_eq!(
            (&pcounts[..2], &plens[..3], &payload[..6]),
            (&[2, 1][..], &[1, 2, 3][..], &b"abbccc"[..])
        );
        // Its 3 parts do not fit 2 slots: EINVAL, still queued.
        assert_eq!(
            errno_of(many(
                &mut topics,
                &mut payload,
                &mut plens,
                pcounts.as_mut_ptr(),
                &mut tlens,
                2
            )),
            libc::EINVAL
        );
        assert_eq!(
            many(
                &mut topics,
                &mut payload,
                &mut plens,
                pcounts.as_mut_ptr(),
                &mut tlens,
                16
            ),
            1
        );
        assert_eq!(
            (pcounts[0], &plens[..3], &payload[..3]),
            (3, &[1, 1, 1][..], &b"def"[..])
        );

        // Handler: called on its own thread for each message, in order.
        let got: Got = Default::default();
        let ud = &got as *const Got as *mut c_void;
        assert_eq!(rl_spot_sub_set_handler(local, Some(on_message), ud), 0);
        assert_eq!(
            sub_recv(local, 0),
            Err(libc::EINVAL),
            "receives fail while a handler is set"
        );
        for i in 0..5u8 {
            assert_eq!(publish(a, "loc", &[&[i], b"tail"]), 0);
        }
        {
            let m = got.0.lock().unwrap();
            let (m, t) = got
                .1
                .wait_timeout_while(m, Duration::from_secs(20), |m| m.len() < 5)
                .unwrap();
            assert!(!t.timed_out());
            for (i, (t, parts)) in m.iter().enumerate() {
                assert_eq!(
                    (t.as_str(), &parts[..]),
                    ("loc", &[vec![i as u8], b"tail".to_vec()][..])
                );
            }
        }
        assert_eq!(rl_spot_sub_set_handler(local, None, null_mut()), 0);
        assert_eq!(publish(a, "loc", &[b"after"]), 0);
        assert_eq!(sub_recv(local, 0).unwrap().1, [b"after".to_vec()]);
        assert_eq!(got.0.lock().unwrap().len(), 5);

        // Errors.
        let p = [b"x".as_ptr().cast::<c_void>()];
        let rc = rl_spot_publish(
            a,
            b"t".as_ptr().cast(),
            1,
            p.as_ptr(),
            [1usize].as_ptr(),
            1,
            RL_DONTWAIT,
        );
        assert_eq!(errno_of(rc), libc::ENOTSUP);
        let rc = rl_spot_publish(
            a,
            b"t".as_ptr().cast(),
            0,
            p.as_ptr(),
            [1usize].as_ptr(),
            1,
            0,
        );
        assert_eq!(errno_of(rc), libc::EINVAL);
        let rc = rl_spot_publish(
            a,
            b"t".as_ptr().cast(),
            1,
            p.as_ptr(),
            [1usize].as_ptr(),
            0,
            0,
        );
        assert_eq!(errno_of(rc), libc::EINVAL);
        let rc = rl_spot_publish(a, null(), 1, p.as_ptr(), [1usize].as_ptr(), 1, 0);
        assert_eq!(errno_of(rc), libc::EFAULT);
        assert_eq!(
            errno_of(rl_spot_sub_subscribe(local, c"".as_ptr())),
            libc::EINVAL
        );
        assert_eq!(
            errno_of(rl_spot_sub_subscribe_pattern(local, c"no-star".as_ptr())),
            libc::EINVAL
        );
        assert_eq!(
            errno_of(rl_spot_node_disconnect_peer(
                a,
                c"tcp://127.0.0.1:1".as_ptr()
            )),
            libc::ENOENT
        );
        let mut out = [0u8; 64];
        let rc = rl_spot_node_register(a, null(), null(), out.as_mut_ptr().cast(), 64);
        assert_eq!(errno_of(rc), libc::ENOTSUP, "no registry given");
        assert_eq!(
            errno_of(rl_spot_node_connect_registry(
                a,
                c"tcp://127.0.0.1:1".as_ptr()
            )),
            RL_EFSM
        );
        assert_eq!(sub_recv(local, -2), Err(libc::EINVAL));

        // The node goes first; its subscribers stay usable.
        assert_eq!(rl_spot_node_destroy(&mut a), 0);
        assert!(a.is_null());
        assert_eq!(rl_spot_sub_subscribe(local, c"more".as_ptr()), 0);
        assert_eq!(sub_recv(local, 0), Err(libc::EAGAIN));
        assert_eq!(rl_spot_sub_destroy(&mut local), 0);
        assert_eq!(rl_spot_node_disconnect_peer(b, ep_a.as_ptr()), 0);
        assert_eq!(rl_spot_sub_destroy(&mut remote), 0);
        assert_eq!(rl_spot_node_destroy(&mut b), 0);
        assert_eq!(rl_ctx_term(ctx), 0);
    }
}

#[test]
fn spot_mesh_through_registry_and_discovery() {
    let ctx = ctx(RL_BACKEND_AUTO);
    let (mut reg, pub_ep, router_ep) = registry(ctx);
    // SAFETY: handles from this test, valid buffers.
    unsafe {
        let mut nodes = Vec::new();
        for _ in 0..2 {
            let n = rl_spot_node_new(ctx);
            assert_eq!(rl_spot_node_connect_registry(n, router_ep.as_ptr()), 0);
            let mut ep = [0u8; 256];
            let rc = rl_spot_node_bind(
                n,
                c"tcp://127.0.0.1:*".as_ptr(),
                ep.as_mut_ptr().cast(),
                256,
            );
            assert_eq!(rc, 0);
            let mut adv = [0u8; 256];
            let rc = rl_spot_node_register(n, null(), null(), adv.as_mut_ptr().cast(), 256);
            assert_eq!(rc, 0, "register: errno {}", rl_errno());
            assert_eq!(cstr(&adv), cstr(&ep));
            nodes.push(n);
        }
        let mut disc = rl_discovery_new(ctx, RL_SERVICE_SPOT);
        assert_eq!(rl_discovery_connect_registry(disc, pub_ep.as_ptr()), 0);
        assert!(rl_discovery_wait_available(disc, c"spot-node".as_ptr(), LONG) >= 1);
        until("both nodes listed", || {
            rl_discovery_provider_count(disc, c"spot-node".as_ptr()) == 2
        });
        // A gateway needs a discovery of gateway services.
        assert!(rl_gateway_new(ctx, disc, null(), 0).is_null());
        assert_eq!(rl_errno(), libc::EINVAL);
        assert_eq!(
            rl_spot_node_set_discovery(nodes[1], disc, c"spot-node".as_ptr()),
            0
        );
        let mut sub = rl_spot_sub_new(nodes[1]);
        assert_eq!(rl_spot_sub_subscribe(sub, c"m".as_ptr()), 0);
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            assert_eq!(publish(nodes[0], "m", &[b"via-registry"]), 0);
            match sub_recv(sub, 50) {
                Ok((t, parts)) => {
                    assert_eq!(
                        (t.as_str(), &parts[..]),
                        ("m", &[b"via-registry".to_vec()][..])
                    );
                    break;
                }
                Err(libc::EAGAIN) => assert!(Instant::now() < end, "mesh never formed"),
                Err(e) => panic!("errno {e}"),
            }
        }
        assert_eq!(rl_spot_node_unregister(nodes[0], c"spot-node".as_ptr()), 0);
        assert_eq!(
            rl_spot_node_unregister(nodes[1], null()),
            0,
            "NULL: spot-node"
        );
        assert_eq!(rl_spot_sub_destroy(&mut sub), 0);
        assert_eq!(rl_discovery_destroy(&mut disc), 0);
        for mut n in nodes {
            assert_eq!(rl_spot_node_destroy(&mut n), 0);
        }
        assert_eq!(rl_registry_destroy(&mut reg), 0);
        assert_eq!(rl_ctx_term(ctx), 0);
    }
}

/// `rl_spot_node_setsockopt`: HWM 0 on the publisher's PUB and the receiver's SUB lets a
/// burst far past the default high-water mark (1000) through whole; errors for a bad role,
/// an unknown option and a started node.
#[test]
fn spot_node_socket_options() {
    let ctx = ctx(RL_BACKEND_AUTO);
    let opt = |n, role, option| node_opt(n, role, option, 0);
    // SAFETY: live context and handles throughout; valid buffers.
    unsafe {
        let (a, b) = (rl_spot_node_new(ctx), rl_spot_node_new(ctx));
        assert_eq!(opt(a, RL_SPOT_NODE_PUB, RL_SNDHWM), 0);
        assert_eq!(opt(b, RL_SPOT_NODE_SUB, RL_RCVHWM), 0);
        assert_eq!(opt(a, 7, RL_SNDHWM), -1);
        assert_eq!(rl_errno(), libc::EINVAL, "bad role");
        assert_eq!(opt(a, RL_SPOT_NODE_PUB, 12345), -1);
        assert_eq!(rl_errno(), libc::EINVAL, "unknown option");
        let mut ep = [0u8; 256];
        let rc = rl_spot_node_bind(
            a,
            c"tcp://127.0.0.1:*".as_ptr(),
            ep.as_mut_ptr().cast(),
            256,
        );
        assert_eq!(rc, 0);
        assert_eq!(opt(a, RL_SPOT_NODE_PUB, RL_SNDHWM), -1);
        assert_eq!(rl_errno(), RL_EFSM, "started");
        let a_ep = CString::new(cstr(&ep)).unwrap();
        assert_eq!(rl_spot_node_connect_peer(b, a_ep.as_ptr()), 0);
        let mut sub = rl_spot_sub_new(b);
        assert_eq!(rl_spot_sub_subscribe(sub, c"burst".as_ptr()), 0);
        assert_eq!(rl_spot_sub_subscribe(sub, c"probe".as_ptr()), 0);
        // Probe until the subscriptions reached a's PUB ("probe" is subscribed last).
        let deadline = Instant::now() + Duration::from_millis(LONG as u64);
        loop {
            assert!(Instant::now() < deadline, "subscription never arrived");
            assert_eq!(publish(a, "probe", &[b"p"]), 0);
            if sub_recv(sub, 10).is_ok() {
                break;
            }
        }
        const N: usize = 50_000;
        let rc =
            rl_spot_publish_many_const(a, b"burst".as_ptr().cast(), 5, b"x".as_ptr().cast(), 1, N);
        assert_eq!(rc, N as c_int);
        let (mut topics, mut tlens) = (vec![0u8; 5 * 4096], vec![0usize; 4096]);
        let (mut payload, mut plens) = (vec![0u8; 4096], vec![0usize; 4096]);
        let mut got = 0;
        while got < N {
            let n = rl_spot_recv_many(
                sub,
                topics.as_mut_ptr().cast(),
                topics.len(),
                tlens.as_mut_ptr(),
                payload.as_mut_ptr().cast(),
                payload.len(),
                plens.as_mut_ptr(),
                std::ptr::null_mut(),
                4096,
                LONG,
            );
            assert!(n > 0, "after {got}: errno {}", rl_errno());
            let mut off = 0;
            for &l in &tlens[..n as usize] {
                if &topics[off..off + l] == b"burst" {
                    got += 1;
                }
                off += l;
            }
        }
        assert_eq!(got, N, "none dropped");
        assert_eq!(rl_spot_sub_destroy(&mut sub), 0);
        let (mut a, mut b) = (a, b);
        assert_eq!(rl_spot_node_destroy(&mut a), 0);
        assert_eq!(rl_spot_node_destroy(&mut b), 0);
        assert_eq!(rl_ctx_term(ctx), 0);
    }
}
