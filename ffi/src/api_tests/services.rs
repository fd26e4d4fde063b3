//! The service layer through the C ABI (`src/services/`): registry + receivers + discovery +
//! gateway round trips, SPOT delivery and batch receives, callbacks, and the error contract.
//! Each world runs on the automatic backend (io_uring where available) and on epoll, on
//! wildcard tcp ports read back from the calls; waits are on events (callbacks, blocking
//! receives) or polls of a condition with a generous deadline, never fixed sleeps.

use super::gateway::{gw_recv, gw_send, serve};
use super::*;
use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

pub(super) const BACKENDS: [c_int; 2] = [RL_BACKEND_AUTO, RL_BACKEND_EPOLL];
pub(super) const LONG: c_int = 20_000;

pub(super) fn ctx(backend: c_int) -> *mut rl_ctx_t {
    let ctx = rl_ctx_new();
    assert!(!ctx.is_null());
    assert_eq!(rl_ctx_set(ctx, RL_BACKEND, backend), 0);
    ctx
}

pub(super) fn errno_of(rc: c_int) -> c_int {
    assert_eq!(rc, -1, "expected a failure");
    rl_errno()
}

pub(super) fn cstr(buf: &[u8]) -> String {
    CStr::from_bytes_until_nul(buf)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

/// Poll `cond` until true (20 s at most; for states that have no event of their own).
pub(super) fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < end, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A started registry on wildcard ports and its (PUB, ROUTER) endpoints.
pub(super) fn registry(ctx: *mut rl_ctx_t) -> (*mut rl_registry_t, CString, CString) {
    // SAFETY: live context, valid strings and buffers.
    unsafe {
        let r = rl_registry_new(
            ctx,
            c"tcp://127.0.0.1:*".as_ptr(),
            c"tcp://127.0.0.1:*".as_ptr(),
        );
        assert!(!r.is_null());
        let mut buf = [0u8; 256];
        assert_eq!(
            errno_of(rl_registry_pub_endpoint(r, buf.as_mut_ptr().cast(), 256)),
            RL_EFSM
        );
        assert_eq!(rl_registry_set_heartbeat(r, 15_000), 0);
        assert_eq!(rl_registry_set_broadcast_interval(r, 30_000), 0);
        assert_eq!(rl_registry_set_id(r, 7), 0);
        assert_eq!(errno_of(rl_registry_set_id(r, 0)), libc::EINVAL);
        assert_eq!(rl_registry_start(r), 0);
        assert_eq!(errno_of(rl_registry_start(r)), RL_EFSM);
        assert_eq!(errno_of(rl_registry_set_id(r, 8)), RL_EFSM);
        assert_eq!(rl_registry_pub_endpoint(r, buf.as_mut_ptr().cast(), 256), 0);
        let pub_ep = CString::new(cstr(&buf)).unwrap();
        assert_eq!(
            errno_of(rl_registry_router_endpoint(r, buf.as_mut_ptr().cast(), 5)),
            libc::EMSGSIZE
        );
        assert_eq!(
            rl_registry_router_endpoint(r, buf.as_mut_ptr().cast(), 256),
            0
        );
        let router_ep = CString::new(cstr(&buf)).unwrap();
        assert!(pub_ep.to_str().unwrap().starts_with("tcp://127.0.0.1:"));
        assert_ne!(pub_ep, router_ep);
        (r, pub_ep, router_ep)
    }
}

/// What the discovery callback saw: provider count by service.
type Seen = (Mutex<HashMap<String, usize>>, Condvar);

unsafe extern "C" fn on_change(name: *const c_char, providers: usize, ud: *mut c_void) {
    // SAFETY: `ud` is the test's `Seen`, alive until the callback is removed; `name` is a C
    // string for the call.
    let (seen, name) = unsafe { (&*(ud as *const Seen), CStr::from_ptr(name)) };
    let mut m = seen.0.lock().unwrap();
    m.insert(name.to_str().unwrap().to_string(), providers);
    seen.1.notify_all();
}

fn wait_seen(seen: &Seen, name: &str, n: usize) {
    let m = seen.0.lock().unwrap();
    let (_m, t) = seen
        .1
        .wait_timeout_while(m, Duration::from_secs(20), |m| m.get(name) != Some(&n))
        .unwrap();
    assert!(
        !t.timed_out(),
        "discovery never saw {n} providers of {name}"
    );
}

#[test]
fn gateway_round_trip_with_round_robin_over_two_receivers() {
    for backend in BACKENDS {
        gateway_world(backend);
    }
}

fn gateway_world(backend: c_int) {
    let ctx = ctx(backend);
    let (mut reg, pub_ep, router_ep) = registry(ctx);
    let seen: Seen = Default::default();
    // SAFETY: every handle below is created here and used as documented; buffers are valid.
    unsafe {
        let mut disc = rl_discovery_new(ctx, RL_SERVICE_GATEWAY);
        assert!(!disc.is_null());
        let ud = &seen as *const Seen as *mut c_void;
        assert_eq!(rl_discovery_set_callback(disc, Some(on_change), ud), 0);
        assert_eq!(rl_discovery_connect_registry(disc, pub_ep.as_ptr()), 0);
        let mut receivers = Vec::new();
        let mut servers = Vec::new();
        for name in ["r-a", "r-b"] {
            let r = rl_receiver_new(ctx, name.as_ptr().cast(), name.len());
            assert!(!r.is_null());
            assert_eq!(rl_receiver_connect_registry(r, router_ep.as_ptr()), 0);
            let mut ep = [0u8; 256];
            let rc = rl_receiver_bind(
                r,
                c"tcp://127.0.0.1:*".as_ptr(),
                ep.as_mut_ptr().cast(),
                256,
            );
            assert_eq!(rc, 0, "bind: errno {}", rl_errno());
            assert!(cstr(&ep).starts_with("tcp://127.0.0.1:"));
            assert_eq!(
                errno_of(rl_receiver_connect_registry(r, router_ep.as_ptr())),
                RL_EFSM
            );
            assert_eq!(rl_receiver_register(r, c"echo".as_ptr(), null(), 1), 0);
            assert_eq!(rl_receiver_update_weight(r, c"echo".as_ptr(), 1), 0);
            assert_eq!(
                errno_of(rl_receiver_update_weight(r, c"other".as_ptr(), 1)),
                libc::ENOENT
            );
            let router = rl_receiver_router(r);
            assert!(!router.is_null());
            assert_eq!(rl_receiver_router(r), router, "one handle per receiver");
            assert_eq!(errno_of(rl_close(router)), libc::EINVAL);
            assert_eq!(set_int(router, RL_RCVTIMEO, LONG), 0);
            assert_eq!(set_int(router, RL_ROUTER_MANDATORY, 1), 0);
            receivers.push(r);
            let router = router as usize;
            servers.push(std::thread::spawn(move || serve(router, name)));
        }
        assert!(rl_discovery_wait_available(disc, c"echo".as_ptr(), LONG) >= 1);
        wait_seen(&seen, "echo", 2);
        assert_eq!(rl_discovery_provider_count(disc, c"echo".as_ptr()), 2);
        assert_eq!(rl_discovery_service_available(disc, c"echo".as_ptr()), 1);
        assert_eq!(rl_discovery_service_available(disc, c"none".as_ptr()), 0);
        // Providers: both, with their ids; room for one gives the first and the total.
        let mut infos: Vec<rl_provider_info_t> = (0..4).map(|_| std::mem::zeroed()).collect();
        let mut count = 1usize;
        let rc = rl_discovery_get_providers(disc, c"echo".as_ptr(), infos.as_mut_ptr(), &mut count);
        assert_eq!((rc, count), (2, 1));
        count = 4;
        let rc = rl_discovery_get_providers(disc, c"echo".as_ptr(), infos.as_mut_ptr(), &mut count);
        assert_eq!((rc, count), (2, 2));
        let mut ids: Vec<Vec<u8>> = infos[..2]
            .iter()
            .map(|i| i.routing_id[..i.routing_id_size].to_vec())
            .collect();
        ids.sort();
        assert_eq!(ids, [b"r-a".to_vec(), b"r-b".to_vec()]);
        for i in &infos[..2] {
            let ep = CStr::from_ptr(i.endpoint.as_ptr()).to_str().unwrap();
            assert!(ep.starts_with("tcp://127.0.0.1:"), "{ep}");
            assert_eq!(i.weight, 1);
        }
        // The callback is removed before `seen` goes (and is not running when this returns).
        assert_eq!(rl_discovery_set_callback(disc, None, null_mut()), 0);

        let mut gw = rl_gateway_new(ctx, disc, c"gw-1".as_ptr().cast(), 4);
        assert!(!gw.is_null(), "gateway: errno {}", rl_errno());
        until("both providers connected", || {
            rl_gateway_connection_count(gw, c"echo".as_ptr()) == 2
        });
        assert_eq!(
            rl_gateway_set_lb(gw, c"echo".as_ptr(), RL_LB_ROUND_ROBIN),
            0
        );
        assert_eq!(
            errno_of(rl_gateway_set_lb(gw, c"echo".as_ptr(), 7)),
            libc::EINVAL
        );

        // Counted round-robin: 100 two-part requests, 50 per receiver, replies named.
        for i in 0..100u32 {
            assert_eq!(gw_send(gw, c"echo", &[&i.to_le_bytes(), b"payload"], 0), 0);
        }
        let mut by: HashMap<Vec<u8>, usize> = HashMap::new();
        for _ in 0..100 {
            let (service, parts) = gw_recv(gw);
            assert_eq!(service, "echo");
            assert_eq!((parts.len(), &parts[2][..]), (3, &b"payload"[..]));
            *by.entry(parts[0].clone()).or_default() += 1;
        }
        assert_eq!((by[&b"r-a".to_vec()], by[&b"r-b".to_vec()]), (50, 50));

        // send_many_const: 10 one-part requests, still alternating.
        let rc = rl_gateway_send_many_const(gw, c"echo".as_ptr(), c"x".as_ptr().cast(), 1, 10, 0);
        assert_eq!(rc, 10);
        let mut by: HashMap<Vec<u8>, usize> = HashMap::new();
        for _ in 0..10 {
            let (service, parts) = gw_recv(gw);
            assert_eq!((service.as_str(), &parts[1][..]), ("echo", &b"x"[..]));
            *by.entry(parts[0].clone()).or_default() += 1;
        }
        assert_eq!((by[&b"r-a".to_vec()], by[&b"r-b".to_vec()]), (5, 5));

        // A reply too large for the buffer stays queued (EMSGSIZE, its size in `needed`).
        let ptrs = [b"big-one".as_ptr().cast::<c_void>()];
        let plen = [7usize];
        let rc = rl_gateway_send_rid(
            gw,
            c"echo".as_ptr(),
            b"r-a".as_ptr().cast(),
            3,
            ptrs.as_ptr(),
            plen.as_ptr(),
            1,
            0,
        );
        assert_eq!(rc, 0);
        let mut service = [0u8; 64];
        let mut small = [0u8; 4];
        let mut lens = [0usize; 8];
        let mut needed = 0usize;
        let rc = rl_gateway_recv(
            gw,
            service.as_mut_ptr().cast(),
            64,
            small.as_mut_ptr().cast(),
            4,
            lens.as_mut_ptr(),
            8,
            &mut needed,
            0,
        );
        assert_eq!((errno_of(rc), needed), (libc::EMSGSIZE, 3 + 7));
        let (svc, parts) = gw_recv(gw);
        assert_eq!(
            (svc.as_str(), &parts[0][..], &parts[1][..]),
            ("echo", &b"r-a"[..], &b"big-one"[..])
        );

        // Errors.
        assert_eq!(
            errno_of(gw_send(gw, c"nothing", &[b"x"], 0)),
            libc::EHOSTUNREACH
        );
        assert_eq!(
            errno_of(gw_send(gw, c"echo", &[b"x"], RL_SNDMORE)),
            libc::EINVAL
        );
        assert_eq!(errno_of(gw_send(gw, c"echo", &[], 0)), libc::EINVAL);
        let rc = rl_gateway_send(gw, c"echo".as_ptr(), null(), null(), 1, 0);
        assert_eq!(errno_of(rc), libc::EFAULT);
        let rc = rl_gateway_send_rid(
            gw,
            c"echo".as_ptr(),
            b"zz".as_ptr().cast(),
            2,
            ptrs.as_ptr(),
            plen.as_ptr(),
            1,
            0,
        );
        assert_eq!(errno_of(rc), libc::EHOSTUNREACH);
        let rc = rl_gateway_send_many_const(gw, c"nothing".as_ptr(), c"x".as_ptr().cast(), 1, 3, 0);
        assert_eq!(errno_of(rc), libc::EHOSTUNREACH);
        let rc = rl_gateway_recv(
            gw,
            service.as_mut_ptr().cast(),
            64,
            small.as_mut_ptr().cast(),
            4,
            lens.as_mut_ptr(),
            8,
            null_mut(),
            RL_DONTWAIT,
        );
        assert_eq!(errno_of(rc), libc::EAGAIN);
        // A receive timeout: a blocking recv gives up with EAGAIN.
        assert_eq!(errno_of(rl_gateway_set_rcvtimeo(gw, -2)), libc::EINVAL);
        assert_eq!(rl_gateway_set_rcvtimeo(gw, 30), 0);
        let t0 = Instant::now();
        let rc = rl_gateway_recv(
            gw,
            service.as_mut_ptr().cast(),
            64,
            small.as_mut_ptr().cast(),
            4,
            lens.as_mut_ptr(),
            8,
            null_mut(),
            0,
        );
        assert_eq!(errno_of(rc), libc::EAGAIN);
        assert!(t0.elapsed() >= Duration::from_millis(30));
        assert_eq!(rl_gateway_set_rcvtimeo(gw, -1), 0);
        assert_eq!(rl_gateway_connection_count(gw, c"nothing".as_ptr()), 0);

        // A thread blocked in recv does not keep another from sending (no EBUSY guard).
        let gwp = gw as usize;
        let waiter = std::thread::spawn(move || gw_recv(gwp as *mut rl_gateway_t));
        assert_eq!(gw_send(gw, c"echo", &[b"late"], 0), 0);
        let (service, parts) = waiter.join().unwrap();
        assert_eq!((service.as_str(), &parts[1][..]), ("echo", &b"late"[..]));

        for id in ["r-a", "r-b"] {
            let quit = [b"quit".as_ptr().cast::<c_void>()];
            let rc = rl_gateway_send_rid(
                gw,
                c"echo".as_ptr(),
                id.as_ptr().cast(),
                id.len(),
                quit.as_ptr(),
                [4usize].as_ptr(),
                1,
                0,
            );
            assert_eq!(rc, 0);
        }
        let served: Vec<usize> = servers.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(served.iter().sum::<usize>(), 100 + 10 + 2);

        assert_eq!(rl_receiver_unregister(receivers[0], c"echo".as_ptr()), 0);
        assert_eq!(rl_gateway_destroy(&mut gw), 0);
        assert!(gw.is_null());
        assert_eq!(errno_of(rl_gateway_destroy(&mut gw)), libc::EFAULT);
        for mut r in receivers {
            assert_eq!(rl_receiver_destroy(&mut r), 0);
            assert!(r.is_null());
        }
        assert_eq!(rl_discovery_destroy(&mut disc), 0);
        assert_eq!(rl_registry_destroy(&mut reg), 0);
        assert_eq!(rl_ctx_term(ctx), 0);
    }
}

#[test]
fn service_calls_check_their_arguments() {
    // SAFETY: NULL, stale and wrong-kind handles are what is tested; the rest is valid.
    unsafe {
        // NULL handles and pointers.
        assert!(rl_registry_new(
            null_mut(),
            c"tcp://127.0.0.1:*".as_ptr(),
            c"tcp://127.0.0.1:*".as_ptr()
        )
        .is_null());
        assert_eq!(rl_errno(), libc::EFAULT);
        assert_eq!(errno_of(rl_registry_start(null_mut())), libc::EFAULT);
        assert_eq!(errno_of(rl_registry_destroy(null_mut())), libc::EFAULT);
        let mut none: *mut rl_registry_t = null_mut();
        assert_eq!(errno_of(rl_registry_destroy(&mut none)), libc::EFAULT);
        assert_eq!(
            errno_of(rl_discovery_provider_count(null_mut(), c"x".as_ptr())),
            libc::EFAULT
        );
        assert_eq!(
            errno_of(rl_gateway_send_many_const(
                null_mut(),
                c"x".as_ptr(),
                null(),
                0,
                1,
                0
            )),
            libc::EFAULT
        );
        assert_eq!(
            errno_of(rl_spot_publish_many_const(
                null_mut(),
                b"t".as_ptr().cast(),
                1,
                null(),
                0,
                1
            )),
            libc::EFAULT
        );
        assert!(rl_spot_sub_new(null_mut()).is_null());
        assert!(rl_receiver_router(null_mut()).is_null());
        assert_eq!(rl_errno(), libc::EFAULT);

        let ctx = ctx(RL_BACKEND_AUTO);
        assert!(rl_discovery_new(ctx, 3).is_null());
        assert_eq!(rl_errno(), libc::EINVAL);
        assert!(rl_discovery_new(ctx, 0).is_null());
        assert_eq!(rl_errno(), libc::EINVAL);
        assert!(rl_registry_new(ctx, null(), c"tcp://127.0.0.1:*".as_ptr()).is_null());
        assert_eq!(rl_errno(), libc::EFAULT);
        let mut reg = rl_registry_new(
            ctx,
            c"tcp://127.0.0.1:*".as_ptr(),
            c"tcp://127.0.0.1:*".as_ptr(),
        );
        assert_eq!(errno_of(rl_registry_set_heartbeat(reg, 0)), libc::EINVAL);
        assert_eq!(
            errno_of(rl_registry_set_broadcast_interval(reg, -5)),
            libc::EINVAL
        );
        assert_eq!(rl_registry_add_peer(reg, c"tcp://127.0.0.1:1".as_ptr()), 0);
        let mut disc = rl_discovery_new(ctx, RL_SERVICE_GATEWAY);
        assert!(!disc.is_null());
        // A handle of another kind is refused (and not destroyed).
        assert_eq!(
            errno_of(rl_discovery_subscribe(reg.cast(), c"x".as_ptr())),
            libc::EFAULT
        );
        assert_eq!(errno_of(rl_registry_start(disc.cast())), libc::EFAULT);
        let mut wrong: *mut rl_discovery_t = reg.cast();
        assert_eq!(errno_of(rl_discovery_destroy(&mut wrong)), libc::EFAULT);
        assert!(!wrong.is_null());
        // ... and never mistaken for a socket.
        assert_eq!(
            errno_of(rl_send(disc.cast(), b"x".as_ptr().cast(), 1, 0)),
            libc::ENOTSOCK
        );
        assert_eq!(
            errno_of(rl_discovery_wait_available(disc, c"x".as_ptr(), 0)),
            libc::EAGAIN
        );
        assert_eq!(
            errno_of(rl_discovery_wait_available(disc, c"x".as_ptr(), -2)),
            libc::EINVAL
        );
        assert_eq!(errno_of(rl_discovery_subscribe(disc, null())), libc::EFAULT);
        let mut count = 1usize;
        let rc = rl_discovery_get_providers(disc, c"x".as_ptr(), null_mut(), &mut count);
        assert_eq!(errno_of(rc), libc::EFAULT);
        count = 0;
        assert_eq!(
            rl_discovery_get_providers(disc, c"x".as_ptr(), null_mut(), &mut count),
            0
        );
        assert_eq!(
            errno_of(rl_discovery_get_providers(
                disc,
                c"x".as_ptr(),
                null_mut(),
                null_mut()
            )),
            libc::EFAULT
        );
        assert_eq!(rl_discovery_subscribe(disc, c"x".as_ptr()), 0);
        assert_eq!(rl_discovery_unsubscribe(disc, c"x".as_ptr()), 0);
        assert_eq!(
            errno_of(rl_discovery_connect_registry(disc, c"nope://x".as_ptr())),
            libc::EINVAL
        );

        // Receivers: bad ids, no registry, the ROUTER handle's ownership.
        assert!(rl_receiver_new(ctx, b"x".as_ptr().cast(), 0).is_null());
        assert_eq!(rl_errno(), libc::EINVAL);
        assert!(rl_receiver_new(ctx, [1u8; 256].as_ptr().cast(), 256).is_null());
        assert_eq!(rl_errno(), libc::EINVAL);
        assert!(rl_receiver_new(ctx, null(), 3).is_null());
        assert_eq!(rl_errno(), libc::EFAULT);
        let mut r = rl_receiver_new(ctx, null(), 0);
        assert!(!r.is_null());
        assert_eq!(
            errno_of(rl_receiver_bind(
                r,
                c"tcp://127.0.0.1:*".as_ptr(),
                null_mut(),
                0
            )),
            libc::EINVAL
        );
        assert_eq!(
            errno_of(rl_receiver_bind(r, null(), null_mut(), 0)),
            libc::EFAULT
        );
        assert_eq!(rl_receiver_destroy(&mut r), 0);

        // Gateways: bad ids; inline contexts are refused.
        assert!(rl_gateway_new(ctx, disc, b"x".as_ptr().cast(), 0).is_null());
        assert_eq!(rl_errno(), libc::EINVAL);
        assert!(rl_gateway_new(ctx, null_mut(), null(), 0).is_null());
        assert_eq!(rl_errno(), libc::EFAULT);
        let mut gw = rl_gateway_new(ctx, disc, null(), 0);
        assert!(!gw.is_null());
        let mut service = [0u8; 8];
        let mut buf = [0u8; 8];
        let mut lens = [0usize; 2];
        let rc = rl_gateway_recv(
            gw,
            service.as_mut_ptr().cast(),
            8,
            buf.as_mut_ptr().cast(),
            8,
            lens.as_mut_ptr(),
            0,
            null_mut(),
            0,
        );
        assert_eq!(errno_of(rc), libc::EINVAL);
        let rc = rl_gateway_recv(
            gw,
            null_mut(),
            8,
            buf.as_mut_ptr().cast(),
            8,
            lens.as_mut_ptr(),
            2,
            null_mut(),
            0,
        );
        assert_eq!(errno_of(rc), libc::EFAULT);
        let rc = rl_gateway_recv(
            gw,
            service.as_mut_ptr().cast(),
            8,
            buf.as_mut_ptr().cast(),
            8,
            lens.as_mut_ptr(),
            2,
            null_mut(),
            RL_SNDMORE,
        );
        assert_eq!(errno_of(rc), libc::EINVAL);
        assert_eq!(rl_gateway_destroy(&mut gw), 0);
        let inline = rl_ctx_new();
        assert_eq!(rl_ctx_set(inline, RL_IO_THREADS, 0), 0);
        let mut idisc = rl_discovery_new(inline, RL_SERVICE_GATEWAY);
        assert!(!idisc.is_null());
        assert!(rl_gateway_new(inline, idisc, null(), 0).is_null());
        assert_eq!(rl_errno(), libc::EINVAL);
        let mut inode = rl_spot_node_new(inline);
        assert!(rl_spot_sub_new(inode).is_null());
        assert_eq!(rl_errno(), libc::EINVAL);
        assert_eq!(rl_spot_node_destroy(&mut inode), 0);
        assert_eq!(rl_discovery_destroy(&mut idisc), 0);
        assert_eq!(rl_ctx_term(inline), 0);

        // SPOT receive arguments.
        let mut node = rl_spot_node_new(ctx);
        let mut sub = rl_spot_sub_new(node);
        let mut t = [0u8; 8];
        let mut tl = [0usize; 4];
        let mut p = [0u8; 8];
        let mut pl = [0usize; 4];
        let rc = rl_spot_recv_many(
            sub,
            t.as_mut_ptr().cast(),
            8,
            tl.as_mut_ptr(),
            p.as_mut_ptr().cast(),
            8,
            pl.as_mut_ptr(),
            null_mut(),
            0,
            0,
        );
        assert_eq!(errno_of(rc), libc::EINVAL);
        let rc = rl_spot_recv_many(
            sub,
            t.as_mut_ptr().cast(),
            8,
            null_mut(),
            p.as_mut_ptr().cast(),
            8,
            pl.as_mut_ptr(),
            null_mut(),
            4,
            0,
        );
        assert_eq!(errno_of(rc), libc::EFAULT);
        let rc = rl_spot_recv_many(
            sub,
            t.as_mut_ptr().cast(),
            8,
            tl.as_mut_ptr(),
            p.as_mut_ptr().cast(),
            8,
            pl.as_mut_ptr(),
            null_mut(),
            4,
            0,
        );
        assert_eq!(errno_of(rc), libc::EAGAIN);
        assert_eq!(rl_spot_sub_destroy(&mut sub), 0);
        assert_eq!(rl_spot_node_destroy(&mut node), 0);

        // rl_ctx_term waits for service objects: destroyed from another thread meanwhile.
        let (regp, discp) = (reg as usize, disc as usize);
        let closer = std::thread::spawn(move || {
            let (mut reg, mut disc) = (regp as *mut rl_registry_t, discp as *mut rl_discovery_t);
            std::thread::sleep(Duration::from_millis(50));
            assert_eq!(rl_discovery_destroy(&mut disc), 0);
            assert_eq!(rl_registry_destroy(&mut reg), 0);
        });
        assert_eq!(rl_ctx_term(ctx), 0);
        closer.join().unwrap();
        reg = null_mut();
        disc = null_mut();
        assert!(reg.is_null() && disc.is_null());
    }
}
