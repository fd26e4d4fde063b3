//! `rl_spot_node_stats`: a SPOT node's drop counters through the C ABI (the size contract,
//! an unstarted node, a local subscriber's full queue, a PUB at its high-water mark).

use super::services::{ctx, BACKENDS, LONG};
use super::spot::{node_opt as set, publish, spot_node, sub_recv, sub_recv_into};
use super::*;
use std::time::{Duration, Instant};

fn stats(n: *mut rl_spot_node_t) -> rl_spot_stats_t {
    let mut st = rl_spot_stats_t::default();
    // SAFETY: live node, a whole struct.
    let rc = unsafe { rl_spot_node_stats(n, &mut st, std::mem::size_of::<rl_spot_stats_t>()) };
    assert_eq!(rc, 0, "errno {}", rl_errno());
    st
}

/// The size contract, and a node read before it starts stays unstarted.
#[test]
fn spot_node_stats_size_contract_and_an_unstarted_node() {
    let ctx = ctx(RL_BACKEND_AUTO);
    // SAFETY: live context and node; the buffers below are valid for the sizes given.
    unsafe {
        let mut n = rl_spot_node_new(ctx);
        assert_eq!(stats(n).dropped, 0);
        assert_eq!(set(n, RL_SPOT_NODE_PUB, RL_SNDHWM, 5), 0, "still unstarted");
        let mut st = rl_spot_stats_t::default();
        assert_eq!(rl_spot_node_stats(n, null_mut(), 16), -1);
        assert_eq!(rl_errno(), libc::EFAULT);
        assert_eq!(rl_spot_node_stats(n, &mut st, 4), -1);
        assert_eq!(rl_errno(), libc::EINVAL);
        assert_eq!(rl_spot_node_stats(null_mut(), &mut st, 16), -1);
        assert_eq!(rl_errno(), libc::EFAULT);
        // An older, shorter struct: only the fields it knows are written.
        let mut short = [u64::MAX; 2];
        assert_eq!(rl_spot_node_stats(n, short.as_mut_ptr().cast(), 8), 0);
        assert_eq!(short, [0, u64::MAX]);
        assert_eq!(rl_spot_node_destroy(&mut n), 0);
        assert_eq!(rl_ctx_term(ctx), 0);
    }
}

#[test]
fn spot_node_stats_count_local_and_publisher_drops() {
    for backend in BACKENDS {
        local_and_publisher_drops(backend);
    }
}

fn local_and_publisher_drops(backend: c_int) {
    let ctx = ctx(backend);
    // SAFETY: live context and handles throughout; valid buffers.
    unsafe {
        // A local subscriber that does not read holds 100,000 messages; the rest are dropped.
        let (mut a, _) = spot_node(ctx);
        let mut local = rl_spot_sub_new(a);
        assert_eq!(rl_spot_sub_subscribe(local, c"q".as_ptr()), 0);
        let n = rl_spot_publish_many_const(
            a,
            b"q".as_ptr().cast(),
            1,
            b"x".as_ptr().cast(),
            1,
            100_010,
        );
        assert_eq!(n, 100_010);
        assert_eq!(stats(a).dropped, 10);
        assert_eq!(rl_spot_sub_destroy(&mut local), 0);

        // A peer that does not read holds a few messages (two in each pipe, small kernel
        // buffers): most of a 64 KiB burst is dropped at the PUB, and what arrives plus what
        // it counted is the burst, in order.
        let mut p = rl_spot_node_new(ctx);
        assert_eq!(set(p, RL_SPOT_NODE_PUB, RL_SNDHWM, 2), 0);
        assert_eq!(set(p, RL_SPOT_NODE_PUB, RL_SNDBUF, 4096), 0);
        let mut r = rl_spot_node_new(ctx);
        assert_eq!(set(r, RL_SPOT_NODE_SUB, RL_RCVHWM, 2), 0);
        assert_eq!(set(r, RL_SPOT_NODE_SUB, RL_RCVBUF, 4096), 0);
        let mut ep = [0u8; 256];
        let rc = rl_spot_node_bind(
            p,
            c"tcp://127.0.0.1:*".as_ptr(),
            ep.as_mut_ptr().cast(),
            256,
        );
        assert_eq!(rc, 0);
        assert_eq!(rl_spot_node_connect_peer(r, ep.as_ptr().cast()), 0);
        let mut sub = rl_spot_sub_new(r);
        assert_eq!(rl_spot_sub_subscribe(sub, c"big".as_ptr()), 0);
        let deadline = Instant::now() + Duration::from_millis(LONG as u64);
        while sub_recv(sub, 10).is_err() {
            assert!(Instant::now() < deadline, "subscription never arrived");
            assert_eq!(publish(p, "big", &[b"probe"]), 0);
        }
        let before = stats(p).publisher_dropped;
        let body = vec![5u8; 64 << 10];
        const BURST: u32 = 200;
        for i in 0..BURST {
            assert_eq!(publish(p, "big", &[&i.to_be_bytes(), &body]), 0);
        }
        let dropped = stats(p).publisher_dropped - before;
        assert!(dropped >= u64::from(BURST) / 2, "dropped {dropped}");
        let mut buf = vec![0u8; 80 << 10];
        let (mut last, mut got) = (None, 0);
        while got < u64::from(BURST) - dropped {
            let (_, parts) = sub_recv_into(sub, LONG, &mut buf).expect("burst message");
            if parts.len() == 1 {
                continue; // a probe still in flight when the subscription was seen
            }
            let i = u32::from_be_bytes(parts[0][..].try_into().unwrap());
            assert!(last < Some(i), "in order: {i} after {last:?}");
            assert!(parts[1] == body);
            (last, got) = (Some(i), got + 1);
        }
        // Nothing else but probes still in flight when the subscription was seen (they are
        // ahead of the burst in the pipe, so they are left only if the whole burst dropped).
        loop {
            match sub_recv_into(sub, 0, &mut buf) {
                Ok((_, parts)) => assert_eq!(parts, [b"probe".to_vec()], "after the burst"),
                Err(e) => {
                    assert_eq!(e, libc::EAGAIN);
                    break;
                }
            }
        }
        assert_eq!(stats(r).dropped, 0, "nothing dropped at the receiving node");
        assert_eq!(rl_spot_sub_destroy(&mut sub), 0);
        for n in [&mut a, &mut p, &mut r] {
            assert_eq!(rl_spot_node_destroy(n), 0);
        }
        assert_eq!(rl_ctx_term(ctx), 0);
    }
}
