//! Messages (zero-copy with a free function, multipart) and the batch calls' edge cases, plain and routed.

use super::*;

static FREED: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn free_box(data: *mut c_void, hint: *mut c_void) {
    assert_eq!(hint as usize, 0x1234);
    // SAFETY: `data` is the Box<[u8; 5]> leaked in the test below.
    drop(unsafe { Box::from_raw(data as *mut [u8; 5]) });
    FREED.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn messages() {
    let t = Setup::new(1, RL_PAIR, RL_PAIR, None);
    // SAFETY: messages are stack values initialised before use; live handles.
    unsafe {
        let mut a = rl_msg_t { _opaque: [0; 8] };
        let mut b = rl_msg_t { _opaque: [0; 8] };
        // Not initialised.
        assert_eq!(rl_msg_size(&a), 0);
        assert_eq!(rl_errno(), libc::EFAULT);
        assert_eq!(rl_msg_close(&mut a), -1);
        assert_eq!(rl_msg_init(null_mut()), -1);

        let data = Box::into_raw(Box::new(*b"zero!"));
        assert_eq!(
            rl_msg_init_data(
                &mut a,
                data.cast(),
                5,
                Some(free_box),
                0x1234 as *mut c_void
            ),
            0
        );
        assert_eq!(rl_msg_init(&mut b), 0);
        assert_eq!(rl_msg_size(&b), 0);
        assert!(!rl_msg_data(&mut b).is_null());
        assert_eq!(rl_msg_copy(&mut b, &mut a), 0);
        assert_eq!(rl_msg_data(&mut b), data.cast());
        assert_eq!(rl_msg_close(&mut a), 0);
        assert_eq!(FREED.load(Ordering::SeqCst), 0, "still referenced by b");
        assert_eq!(rl_msg_init(&mut a), 0);
        assert_eq!(rl_msg_move(&mut a, &mut b), 0);
        assert_eq!(rl_msg_size(&b), 0);
        assert_eq!(rl_msg_size(&a), 5);
        // Sending releases the data (the engine copied it).
        assert_eq!(rl_msg_send(&mut a, t.client, RL_SNDMORE), 5);
        assert_eq!(FREED.load(Ordering::SeqCst), 1);
        assert_eq!(rl_msg_size(&a), 0);
        assert_eq!(rl_msg_close(&mut a), 0);

        assert_eq!(rl_msg_init_size(&mut a, 3), 0);
        std::ptr::copy_nonoverlapping(b"end".as_ptr(), rl_msg_data(&mut a).cast(), 3);
        let mut c = rl_msg_t { _opaque: [0; 8] };
        assert_eq!(rl_msg_init(&mut c), 0);
        assert_eq!(rl_msg_copy(&mut c, &mut a), 0); // owned data becomes shared
        assert_eq!(rl_msg_send(&mut a, t.client, 0), 3);
        assert_eq!(rl_msg_size(&c), 3);
        assert_eq!(rl_msg_close(&mut c), 0);

        assert_eq!(rl_msg_recv(&mut b, t.server, 0), 5);
        assert_eq!(
            std::slice::from_raw_parts(rl_msg_data(&mut b) as *const u8, 5),
            b"zero!"
        );
        assert_eq!(rl_msg_more(&b), 1);
        assert_eq!(rl_msg_get(&b, RL_MORE), 1);
        assert_eq!(rl_msg_get(&b, 77), -1);
        assert_eq!(rl_msg_recv(&mut b, t.server, 0), 3);
        assert_eq!(
            std::slice::from_raw_parts(rl_msg_data(&mut b) as *const u8, 3),
            b"end"
        );
        assert_eq!(rl_msg_more(&b), 0);
        assert_eq!(rl_msg_recv(&mut b, t.server, RL_DONTWAIT), -1);
        assert_eq!(rl_errno(), libc::EAGAIN);
        assert_eq!(rl_msg_size(&b), 3, "unchanged after a failed receive");
        assert_eq!(rl_msg_close(&mut b), 0);
        assert_eq!(rl_msg_close(&mut a), 0);
    }
}

#[test]
fn batch_edges() {
    for threads in [1, 0] {
        let t = Setup::new(threads, RL_PAIR, RL_PAIR, None);
        let mut buf = [0u8; 64];
        let mut lens = [0usize; 8];
        let mut needed = 0usize;
        // SAFETY: live handles, buffers of the sizes passed.
        unsafe {
            // Empty queue.
            assert_eq!(
                rl_drain(
                    t.server,
                    buf.as_mut_ptr().cast(),
                    64,
                    lens.as_mut_ptr(),
                    8,
                    null_mut()
                ),
                0
            );
            let rc = rl_recv_batch(
                t.server,
                buf.as_mut_ptr().cast(),
                64,
                lens.as_mut_ptr(),
                8,
                null_mut(),
                RL_DONTWAIT,
            );
            assert_eq!((rc, rl_errno()), (-1, libc::EAGAIN));
            assert_eq!(
                rl_recv_batch(
                    t.server,
                    buf.as_mut_ptr().cast(),
                    64,
                    lens.as_mut_ptr(),
                    0,
                    null_mut(),
                    0
                ),
                -1
            );
            assert_eq!(rl_errno(), libc::EINVAL);

            // Exactly full: three 10-byte messages into 30 bytes.
            let msgs: Vec<[u8; 10]> = (0..3u8).map(|i| [b'a' + i; 10]).collect();
            let iov: Vec<rl_iovec_t> = msgs
                .iter()
                .map(|m| rl_iovec_t {
                    data: m.as_ptr().cast(),
                    len: 10,
                })
                .collect();
            assert_eq!(rl_send_batch(t.client, iov.as_ptr(), 3, 0), 3);
            let mut got = Vec::new();
            while got.len() < 3 {
                let n = rl_recv_batch(
                    t.server,
                    buf.as_mut_ptr().cast(),
                    30,
                    lens.as_mut_ptr(),
                    8,
                    null_mut(),
                    0,
                );
                assert!(n >= 1, "errno {}", rl_errno());
                let mut off = 0;
                for &l in &lens[..n as usize] {
                    got.push(buf[off..off + l].to_vec());
                    off += l;
                }
            }
            assert_eq!(got, msgs.iter().map(|m| m.to_vec()).collect::<Vec<_>>());

            // Too large for the whole buffer: EMSGSIZE, needed, not lost.
            assert_eq!(
                rl_send_repeat(t.client, [7u8; 40].as_ptr().cast(), 40, 2, 0),
                2
            );
            let rc = rl_recv_batch(
                t.server,
                buf.as_mut_ptr().cast(),
                39,
                lens.as_mut_ptr(),
                8,
                &mut needed,
                0,
            );
            assert_eq!((rc, rl_errno(), needed), (-1, libc::EMSGSIZE, 40));
            // Fits once; the second does not fit the rest (64 - 40) and stays queued.
            let n = rl_recv_batch(
                t.server,
                buf.as_mut_ptr().cast(),
                64,
                lens.as_mut_ptr(),
                8,
                &mut needed,
                0,
            );
            assert_eq!((n, lens[0]), (1, 40));
            assert!(buf[..40].iter().all(|&b| b == 7));
            let n = rl_recv_batch(
                t.server,
                buf.as_mut_ptr().cast(),
                40,
                lens.as_mut_ptr(),
                1,
                null_mut(),
                0,
            );
            assert_eq!((n, lens[0]), (1, 40));

            // Multipart: parts per message.
            for parts in [&[&b"x"[..], b"yy", b"zzz"][..], &[b"one"], &[b"p", b""]] {
                for (i, p) in parts.iter().enumerate() {
                    let more = if i + 1 < parts.len() { RL_SNDMORE } else { 0 };
                    assert_eq!(
                        rl_send(t.client, p.as_ptr().cast(), p.len(), more),
                        p.len() as c_int
                    );
                }
            }
            let mut counts = [0usize; 8];
            let mut all_lens = Vec::new();
            let mut all_counts = Vec::new();
            let mut bytes = Vec::new();
            while all_counts.len() < 3 {
                let n = rl_recv_batch_parts(
                    t.server,
                    buf.as_mut_ptr().cast(),
                    64,
                    lens.as_mut_ptr(),
                    counts.as_mut_ptr(),
                    8,
                    null_mut(),
                    0,
                );
                assert!(n >= 1);
                let frames: usize = counts[..n as usize].iter().sum();
                all_counts.extend_from_slice(&counts[..n as usize]);
                all_lens.extend_from_slice(&lens[..frames]);
                bytes.extend_from_slice(&buf[..lens[..frames].iter().sum::<usize>()]);
            }
            assert_eq!(all_counts, [3, 1, 2]);
            assert_eq!(all_lens, [1, 2, 3, 3, 1, 0]);
            assert_eq!(bytes, b"xyyzzzonep");
            assert_eq!(
                rl_drain_parts(
                    t.server,
                    buf.as_mut_ptr().cast(),
                    64,
                    lens.as_mut_ptr(),
                    counts.as_mut_ptr(),
                    8,
                    null_mut()
                ),
                0
            );
            // Batch send rejects SNDMORE; empty batch is 0.
            assert_eq!(rl_send_batch(t.client, iov.as_ptr(), 3, RL_SNDMORE), -1);
            assert_eq!(rl_errno(), libc::EINVAL);
            assert_eq!(rl_send_batch(t.client, null(), 0, 0), 0);
            assert_eq!(rl_send_batch(t.client, null(), 1, 0), -1);
            assert_eq!(rl_errno(), libc::EFAULT);
        }
    }
}

#[test]
fn router_batches() {
    let t = Setup::new(1, RL_ROUTER, RL_DEALER, Some(b"client-1"));
    let mut buf = [0u8; 256];
    let mut lens = [0usize; 16];
    let mut ids = vec![0u8; 16 * 255];
    let mut id_lens = [0usize; 16];
    // SAFETY: live handles, buffers of the sizes passed.
    unsafe {
        assert_eq!(
            rl_send_repeat(t.client, b"ping".as_ptr().cast(), 4, 5, 0),
            5
        );
        assert_eq!(rl_send_routed(t.client, null(), null(), 0, 0), 0);
        let mut got = 0;
        while got < 5 {
            let n = rl_recv_batch_routed(
                t.server,
                buf.as_mut_ptr().cast(),
                256,
                lens.as_mut_ptr(),
                ids.as_mut_ptr().cast(),
                ids.len(),
                id_lens.as_mut_ptr(),
                16,
                null_mut(),
                0,
            );
            assert!(n >= 1, "errno {}", rl_errno());
            let (mut off, mut idoff) = (0, 0);
            for j in 0..n as usize {
                assert_eq!(&ids[idoff..idoff + id_lens[j]], b"client-1");
                assert_eq!(&buf[off..off + lens[j]], b"ping");
                off += lens[j];
                idoff += id_lens[j];
            }
            got += n;
        }
        assert_eq!(got, 5);
        assert_eq!(
            rl_drain_routed(
                t.server,
                buf.as_mut_ptr().cast(),
                256,
                lens.as_mut_ptr(),
                ids.as_mut_ptr().cast(),
                ids.len(),
                id_lens.as_mut_ptr(),
                16,
                null_mut()
            ),
            0
        );
        // ids buffer too small for one id.
        let rc = rl_recv_batch_routed(
            t.server,
            buf.as_mut_ptr().cast(),
            256,
            lens.as_mut_ptr(),
            ids.as_mut_ptr().cast(),
            254,
            id_lens.as_mut_ptr(),
            16,
            null_mut(),
            0,
        );
        assert_eq!((rc, rl_errno()), (-1, libc::EINVAL));
        // Routed form on a DEALER.
        let rc = rl_recv_batch_routed(
            t.client,
            buf.as_mut_ptr().cast(),
            256,
            lens.as_mut_ptr(),
            ids.as_mut_ptr().cast(),
            ids.len(),
            id_lens.as_mut_ptr(),
            16,
            null_mut(),
            0,
        );
        assert_eq!((rc, rl_errno()), (-1, libc::ENOTSUP));
        // Batch send on ROUTER is not supported: routed pairs instead.
        assert_eq!(rl_send_repeat(t.server, b"x".as_ptr().cast(), 1, 1, 0), -1);
        assert_eq!(rl_errno(), libc::ENOTSUP);
        let id = rl_iovec_t {
            data: b"client-1".as_ptr().cast(),
            len: 8,
        };
        let pl: Vec<rl_iovec_t> = [&b"r0"[..], b"r1", b"r2"]
            .iter()
            .map(|p| rl_iovec_t {
                data: p.as_ptr().cast(),
                len: 2,
            })
            .collect();
        let idv = [id; 3];
        assert_eq!(rl_send_routed(t.server, idv.as_ptr(), pl.as_ptr(), 3, 0), 3);
        // The DEALER gets plain payloads.
        let mut got = Vec::new();
        while got.len() < 3 {
            let n = rl_recv_batch(
                t.client,
                buf.as_mut_ptr().cast(),
                256,
                lens.as_mut_ptr(),
                16,
                null_mut(),
                0,
            );
            assert!(n >= 1);
            let mut off = 0;
            for &l in &lens[..n as usize] {
                got.push(buf[off..off + l].to_vec());
                off += l;
            }
        }
        assert_eq!(got, [b"r0", b"r1", b"r2"]);
        // Mandatory: an unknown id fails first → -1 EHOSTUNREACH.
        assert_eq!(set_int(t.server, RL_ROUTER_MANDATORY, 1), 0);
        let bad = [rl_iovec_t {
            data: b"nobody".as_ptr().cast(),
            len: 6,
        }];
        assert_eq!(
            rl_send_routed(t.server, bad.as_ptr(), pl.as_ptr(), 1, 0),
            -1
        );
        assert_eq!(rl_errno(), libc::EHOSTUNREACH);
        // Mixed: the second fails → 1.
        let mixed = [id, bad[0]];
        assert_eq!(
            rl_send_routed(t.server, mixed.as_ptr(), pl.as_ptr(), 2, 0),
            1
        );
        // Plain recv_batch on the ROUTER: id frame first, then payload.
        assert_eq!(rl_send(t.client, b"solo".as_ptr().cast(), 4, 0), 4);
        let n = rl_recv_batch(
            t.server,
            buf.as_mut_ptr().cast(),
            256,
            lens.as_mut_ptr(),
            16,
            null_mut(),
            0,
        );
        assert_eq!((n, lens[0], lens[1]), (2, 8, 4));
        assert_eq!(&buf[..12], b"client-1solo");
        let n = rl_recv_batch(
            t.client,
            buf.as_mut_ptr().cast(),
            256,
            lens.as_mut_ptr(),
            16,
            null_mut(),
            0,
        );
        assert_eq!((n, &buf[..2]), (1, &b"r0"[..]));
    }
}
