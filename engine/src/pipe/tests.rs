//! Single-thread and two-thread tests of the pipe: publication, chunking, HWM, shared bodies.

use super::*;
use std::thread;

/// `normal`, or the much smaller `miri` under Miri (which runs ~1000x slower).
const fn size(normal: usize, miri: usize) -> usize {
    if cfg!(miri) {
        miri
    } else {
        normal
    }
}

fn drain(r: &mut Reader) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = r.peek();
        if b.is_empty() {
            return out;
        }
        let n = b.len();
        out.extend_from_slice(b);
        r.consume(n);
    }
}

#[test]
fn uncommitted_bytes_are_invisible() {
    let (mut w, mut r) = pipe(0);
    w.write_frame(&[0, 3], b"abc");
    assert!(r.peek().is_empty());
    assert!(w.commit(1));
    assert_eq!(r.peek(), &[0, 3, b'a', b'b', b'c']);
}

/// Capacity of the chunk the writer is filling.
fn cur_cap(w: &Writer) -> usize {
    // SAFETY: test-only read of the writer's own live chunk.
    unsafe { (*w.cur).cap }
}

#[test]
fn reservation_takes_memory_only_as_bytes_arrive() {
    let (mut w, mut r) = pipe(0);
    w.write_frame(&[0, 1], b"a");
    w.commit(1);
    // A peer announces an absurd frame: the reservation starts small.
    w.begin_fill(1 << 62).unwrap();
    assert!(cur_cap(&w) <= FILL_STEP, "{}", cur_cap(&w));
    w.rollback();
    // A real 1 MiB frame arriving in 10 KiB pieces grows its chunk and arrives intact.
    let body: Vec<u8> = (0..size(1 << 20, 140_000)).map(|i| (i * 7) as u8).collect();
    w.begin_fill(body.len()).unwrap();
    for piece in body.chunks(10_000) {
        w.fill(piece).unwrap();
        assert!(cur_cap(&w) <= 2 * w.wpos.max(FILL_STEP));
    }
    assert_eq!(cur_cap(&w), body.len());
    w.commit(1);
    let mut want = vec![0, 1, b'a'];
    want.extend_from_slice(&body);
    assert_eq!(drain(&mut r), want);
}

#[test]
fn reservation_that_fits_stays_in_the_current_chunk() {
    let (mut w, mut r) = pipe(0);
    w.write_frame(&[0, 1], b"a");
    let chunk = w.cur;
    w.begin_fill(100).unwrap();
    assert_eq!(w.cur, chunk);
    w.fill(&[0, 98]).unwrap();
    w.fill(&[5; 98]).unwrap();
    w.commit(2);
    let mut want = vec![0, 1, b'a', 0, 98];
    want.extend_from_slice(&[5; 98]);
    assert_eq!(drain(&mut r), want);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "Miri reports a refused allocation as resource exhaustion"
)]
fn impossible_sizes_are_errors_not_aborts() {
    // black_box: the optimizer may otherwise assume an unused allocation succeeds.
    assert!(zeroed_bytes(std::hint::black_box(usize::MAX)).is_none());
    assert!(zeroed_bytes(std::hint::black_box(0)).is_none());
    let c = Chunk::try_alloc(std::hint::black_box(isize::MAX as usize));
    assert!(std::hint::black_box(c).is_none());
}

#[test]
fn large_frame_chunks_are_not_kept_as_spares() {
    let (mut w, mut r) = pipe(0);
    w.write_frame(&[], &vec![1u8; MAX_CHUNK * 2]);
    w.commit(1);
    w.write_frame(&[], b"x");
    w.commit(1);
    assert_eq!(drain(&mut r).len(), MAX_CHUNK * 2 + 1);
    for s in &w.shared.spare {
        let c = s.load(Ordering::Acquire);
        // SAFETY: spares are live chunks owned by the pipe.
        assert!(c.is_null() || unsafe { (*c).cap } <= MAX_CHUNK);
    }
}

#[test]
fn rollback_discards_across_chunks() {
    let (mut w, mut r) = pipe(0);
    w.write_frame(&[0, 1], b"x");
    w.commit(1);
    // Spill over several chunks without committing.
    for _ in 0..size(50, 5) {
        w.write_frame(&[], &[7u8; 10_000]);
    }
    w.rollback();
    w.write_frame(&[0, 1], b"y");
    w.commit(1);
    assert_eq!(drain(&mut r), vec![0, 1, b'x', 0, 1, b'y']);
}

#[test]
fn commit_marked_hides_the_unfinished_message() {
    let (mut w, mut r) = pipe(0);
    w.write_frame(&[0, 1], b"a");
    w.mark();
    // An unfinished multipart message that spills into new chunks.
    for _ in 0..20 {
        w.write_frame(&[1], &[9u8; 5000]);
    }
    assert!(w.commit_marked(1));
    assert_eq!(drain(&mut r), vec![0, 1, b'a']);
    w.write_frame(&[0, 1], b"z");
    w.commit(1);
    let rest = drain(&mut r);
    assert_eq!(rest.len(), 20 * 5001 + 3);
    assert_eq!(&rest[rest.len() - 3..], &[0, 1, b'z']);
}

#[test]
fn frames_never_straddle_chunks_and_order_is_kept() {
    let (mut w, mut r) = pipe(0);
    let mut expect = Vec::new();
    for i in 0..size(10_000, 300) as u32 {
        let body = vec![(i % 251) as u8; (i % 700) as usize];
        w.write_frame(&i.to_be_bytes(), &body);
        expect.extend_from_slice(&i.to_be_bytes());
        expect.extend_from_slice(&body);
        if i % 7 == 0 {
            w.commit(7);
        }
    }
    w.commit(1);
    assert_eq!(drain(&mut r), expect);
}

#[test]
fn hwm_counts_messages_and_credit_releases() {
    let (mut w, mut r) = pipe(4);
    for _ in 0..4 {
        assert!(!w.is_full());
        w.write_frame(&[0, 0], &[]);
        w.commit(1);
    }
    assert!(w.is_full());
    assert!(w.wait_for_space());
    r.consume(4);
    assert!(r.credit(1), "waiting writer must be reported");
    assert!(!w.is_full());
}

#[test]
fn deactivate_sees_late_data() {
    let (mut w, mut r) = pipe(0);
    assert!(!r.deactivate());
    w.write_frame(&[0, 0], &[]);
    assert!(w.commit(1), "inactive reader must be notified");
    assert!(!w.commit(0), "already notified");
    assert!(r.deactivate(), "data pending: reader keeps ownership");
}

#[test]
fn peek_iov_spans_chunks_in_order() {
    let (mut w, mut r) = pipe(0);
    let mut expect = Vec::new();
    for i in 0..100u8 {
        let body = vec![i; 3000];
        w.write_frame(&[], &body);
        expect.extend_from_slice(&body);
    }
    w.commit(100);
    let mut got = Vec::new();
    loop {
        let mut iov = Vec::new();
        let n = r.peek_iov(&mut iov, &mut Vec::new(), 1 << 20, 64);
        if n == 0 {
            break;
        }
        for v in &iov {
            // SAFETY: iovecs point at committed bytes that are not consumed yet.
            got.extend_from_slice(unsafe {
                std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len)
            });
        }
        r.consume(n);
    }
    assert_eq!(got, expect);
}

#[test]
fn threads_stream_a_million_frames() {
    let (mut w, mut r) = pipe(1000);
    let t = thread::spawn(move || {
        for i in 0..size(1_000_000, 2_000) as u32 {
            while w.is_full() {
                std::hint::spin_loop();
            }
            w.write_frame(&[], &i.to_le_bytes());
            w.commit(1);
        }
    });
    let mut next = 0u32;
    while next < size(1_000_000, 2_000) as u32 {
        let b = r.peek();
        if b.is_empty() {
            r.publish_credit();
            std::hint::spin_loop();
            continue;
        }
        let n = b.len() / 4;
        for c in b.chunks_exact(4) {
            assert_eq!(u32::from_le_bytes(c.try_into().unwrap()), next);
            next += 1;
        }
        r.consume(n * 4);
        r.credit(n as u64);
    }
    t.join().unwrap();
}

/// Everything `peek_iov` offers, consumed `step` bytes at a time (partial sends).
fn drain_iov(r: &mut Reader, max: usize, max_iov: usize, step: usize) -> Vec<u8> {
    let mut got = Vec::new();
    loop {
        let mut iov = Vec::new();
        let n = r.peek_iov(&mut iov, &mut Vec::new(), max, max_iov);
        if n == 0 {
            return got;
        }
        let mut bytes = Vec::new();
        for v in &iov {
            // SAFETY: iovecs point at committed bytes (or held shared bodies) not yet
            // consumed.
            bytes.extend_from_slice(unsafe {
                std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len)
            });
        }
        assert_eq!(bytes.len(), n);
        let k = n.min(step);
        got.extend_from_slice(&bytes[..k]);
        r.consume(k);
    }
}

/// Frames with shared bodies interleaved with copied ones, across chunk boundaries, read
/// through `peek_iov` with partial consumption and through `peek`, give the same stream
/// as if every body had been copied.
#[test]
fn shared_bodies_splice_into_the_stream() {
    for (max, max_iov, step) in [(1 << 20, 64, usize::MAX), (5000, 3, 777), (64, 2, 1)] {
        let (mut w, mut r) = pipe(0);
        let (mut w2, mut r2) = pipe(0);
        let mut expect = Vec::new();
        // Under Miri: 21 smaller frames (the byte-at-a-time drain dominates).
        for i in 0..size(60, 21) as u8 {
            let body: SharedBytes = vec![i; size(1000, 100) + size(97, 9) * i as usize].into();
            let hdr = [i, 0xAA];
            if i % 3 == 0 {
                w.write_frame(&hdr, &body);
            } else {
                w.write_shared(&hdr, &body);
            }
            w2.write_shared(&hdr, &body);
            expect.extend_from_slice(&hdr);
            expect.extend_from_slice(&body);
            if i % 7 == 6 {
                w.commit(7);
                w2.commit(7);
            }
        }
        w.commit(0);
        w2.commit(0);
        assert_eq!(drain_iov(&mut r, max, max_iov, step), expect);
        assert_eq!(drain(&mut r2), expect);
        assert!(r.peek().is_empty() && r.ext.is_empty());
    }
}

#[test]
fn rollback_drops_uncommitted_shared_bodies() {
    let (mut w, mut r) = pipe(0);
    let body: SharedBytes = vec![7u8; 10_000].into();
    w.write_shared(&[1, 2], &body);
    w.commit(1);
    w.write_shared(&[3, 4], &body);
    w.rollback();
    w.write_frame(&[5], b"x");
    w.commit(1);
    let mut expect = vec![1, 2];
    expect.extend_from_slice(&body);
    expect.extend_from_slice(&[5, b'x']);
    assert_eq!(drain(&mut r), expect);
    drop(w);
    drop(r);
    assert_eq!(
        SharedBytes::strong_count(&body),
        1,
        "every reference released"
    );
}

#[test]
fn threads_stream_shared_and_copied_frames() {
    let (mut w, mut r) = pipe(64);
    let n = size(20_000, 120) as u32;
    let span = size(9000, 1500);
    let t = thread::spawn(move || {
        for i in 0..n {
            while w.is_full() {
                std::hint::spin_loop();
            }
            let body: SharedBytes = vec![(i % 251) as u8; 1 + (i as usize * 37) % span].into();
            let hdr = i.to_le_bytes();
            if i % 2 == 0 {
                w.write_shared(&hdr, &body);
            } else {
                w.write_frame(&hdr, &body);
            }
            w.commit(1);
        }
    });
    let mut next = 0u32;
    let mut buf = Vec::new();
    while next < n {
        let mut iov = Vec::new();
        let got = r.peek_iov(&mut iov, &mut Vec::new(), 1 << 16, 16);
        if got == 0 {
            r.publish_credit();
            std::hint::spin_loop();
            continue;
        }
        for v in &iov {
            // SAFETY: as in `drain_iov`.
            buf.extend_from_slice(unsafe {
                std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len)
            });
        }
        r.consume(got);
        // Parse whole records: 4-byte index + body.
        loop {
            let len = 1 + (next as usize * 37) % span;
            if buf.len() < 4 + len {
                break;
            }
            assert_eq!(u32::from_le_bytes(buf[..4].try_into().unwrap()), next);
            assert!(buf[4..4 + len].iter().all(|&b| b == (next % 251) as u8));
            buf.drain(..4 + len);
            next += 1;
            r.credit(1);
        }
    }
    t.join().unwrap();
}

/// The bytes a lease's iovecs describe, in order.
fn lease_bytes(l: &SendLease) -> Vec<u8> {
    let mut out = b"prefix".to_vec();
    l.copy_to(&mut out);
    assert_eq!(&out[..6], b"prefix", "copy_to appends");
    out.split_off(6)
}

#[test]
fn lease_puts_control_bytes_first_and_counts_both() {
    let (mut w, mut r) = pipe(0);
    w.write_frame(&[0, 2], b"hi");
    w.commit(1);
    let mut l = SendLease::new(IovArray::default(), b"xxCTRL".to_vec(), 2);
    assert_eq!(l.add_pipe(&mut r, 1 << 20, 64), 4);
    assert_eq!((l.ctrl_len(), l.data_len(), l.len()), (4, 4, 8));
    assert_eq!(lease_bytes(&l), b"CTRL\x00\x02hi");
    let (iov, ctrl) = l.release();
    let l2 = SendLease::new(iov, Vec::new(), 0);
    assert!(
        l2.iov().is_empty() && l2.iov.capacity() > 0,
        "the array is reused"
    );
    assert_eq!(ctrl, b"xxCTRL");
    r.consume(4);
    assert!(r.peek().is_empty());
}

#[test]
#[should_panic(expected = "send lease")]
fn consuming_under_a_lease_is_refused() {
    let (mut w, mut r) = pipe(0);
    w.write_frame(&[0, 2], b"hi");
    w.commit(1);
    let mut l = SendLease::new(IovArray::default(), Vec::new(), 0);
    l.add_pipe(&mut r, 1 << 20, 64);
    r.consume(4);
}

#[test]
fn dropping_a_lease_ends_it() {
    let (mut w, mut r) = pipe(0);
    w.write_frame(&[0, 2], b"hi");
    w.commit(1);
    let mut l = SendLease::new(IovArray::default(), Vec::new(), 0);
    l.add_pipe(&mut r, 1 << 20, 64);
    drop(l);
    r.consume(4);
    assert!(r.peek().is_empty());
}

/// A send may outlive both ends of its pipe (a connection torn down while the kernel still
/// reads): the lease keeps chunks and shared bodies alive. Miri checks the reads below.
#[test]
fn lease_outlives_both_pipe_ends() {
    let (mut w, mut r) = pipe(0);
    let body: SharedBytes = vec![7u8; 9000].into();
    w.write_frame(&[0, 1], b"a");
    w.write_shared(&[2, 0, 0, 0, 0, 0, 0, 0x23, 0x28], &body);
    w.commit(2);
    let mut l = SendLease::new(IovArray::default(), b"C".to_vec(), 0);
    let n = l.add_pipe(&mut r, 1 << 20, 64);
    assert_eq!(n, 3 + 9 + 9000);
    drop(body);
    drop(w);
    drop(r);
    let got = lease_bytes(&l);
    assert_eq!(&got[..4], b"C\x00\x01a");
    assert_eq!(got[4..13], [2, 0, 0, 0, 0, 0, 0, 0x23, 0x28]);
    assert!(got[13..].iter().all(|&b| b == 7) && got.len() == 1 + n);
}

/// `peek` remembers how far the current chunk was readable; bytes and shared bodies
/// published after that, in the same chunk, are still found, in order, and a consume that
/// crosses the remembered end takes the careful path.
#[test]
fn peek_cache_sees_later_publications_in_order() {
    let (mut w, mut r) = pipe(0);
    w.write_frame(&[0, 3], b"abc");
    w.commit(1);
    assert_eq!(r.peek(), &[0, 3, b'a', b'b', b'c']);
    r.consume(2);
    let body: SharedBytes = b"XYZ".to_vec().into();
    w.write_shared(&[0, 3], &body);
    w.write_frame(&[0, 3], b"def");
    w.commit(2);
    // Still the remembered piece first, then the rest.
    assert_eq!(r.peek(), b"abc");
    r.consume(3);
    assert_eq!(r.peek(), &[0, 3]);
    r.consume(1);
    assert_eq!(r.peek(), &[3]);
    r.consume(1);
    assert_eq!(r.peek(), b"XYZ");
    r.consume(3);
    assert_eq!(drain(&mut r), [0, 3, b'd', b'e', b'f']);
    assert!(r.peek().is_empty());
}

/// A ZMTP long-frame header for a body of `n` bytes.
fn long_header(n: usize) -> [u8; 9] {
    let mut h = [0x02, 0, 0, 0, 0, 0, 0, 0, 0];
    h[1..].copy_from_slice(&(n as u64).to_be_bytes());
    h
}

#[test]
fn large_frame_in_its_own_chunk_is_handed_over() {
    let (mut w, mut r) = pipe(0);
    let n = MAX_CHUNK + size(100_000, 1000);
    // Cheap to build under Miri: a memset, and a mark every 4 KiB.
    let mut body = vec![5u8; n];
    for (i, b) in body.iter_mut().step_by(4096).enumerate() {
        *b = i as u8;
    }
    w.write_frame(&[0, 1], b"a");
    // Arrives in pieces, as from the network.
    w.begin_fill(9 + n).unwrap();
    w.fill(&long_header(n)).unwrap();
    for piece in body.chunks(size(60_000, 50_000)) {
        w.fill(piece).unwrap();
    }
    w.write_frame(&[0, 1], b"z");
    w.commit(3);
    // The small frame before it shares a chunk: not handed over.
    assert!(r.take_frame(3, 2).is_none());
    r.consume(3);
    let peeked = r.peek().len();
    assert_eq!(peeked, 9 + n);
    // Not the whole chunk (a wrong length): refused.
    assert!(r.take_frame(9 + n - 1, 9).is_none());
    let t = r.take_frame(9 + n, 9).expect("handed over");
    assert_eq!(t.body(), &body[..]);
    // A second take of the same frame is refused.
    assert!(r.take_frame(9 + n, 9).is_none());
    r.consume(9 + n);
    assert_eq!(drain(&mut r), vec![0, 1, b'z']);
    // The writer goes on after the reader moved past (and freed the chunk's header).
    w.write_frame(&[0, 1], b"y");
    w.commit(1);
    drop(w);
    assert_eq!(drain(&mut r), vec![0, 1, b'y']);
    drop(r);
    // The frame outlives both ends.
    assert_eq!(t.body(), &body[..]);
}

#[test]
fn small_or_shared_frames_are_not_handed_over() {
    let (mut w, mut r) = pipe(0);
    // At most MAX_CHUNK: such chunks are recycled, so they are copied from instead.
    let n = MAX_CHUNK - 9;
    w.write_frame(&long_header(n), &vec![1; n]);
    w.commit(1);
    assert_eq!(r.peek().len(), MAX_CHUNK);
    assert!(r.take_frame(MAX_CHUNK, 9).is_none());
    r.consume(MAX_CHUNK);
    // A large frame written in one piece with a small one before it (one append, as a
    // receive buffer that held both complete): it does not start its chunk.
    let n = MAX_CHUNK + 10;
    let mut both = vec![0, 1, b'a'];
    both.extend_from_slice(&long_header(n));
    both.extend_from_slice(&vec![2u8; n]);
    w.append(both.len()).copy_from_slice(&both);
    w.commit(2);
    r.consume(3);
    assert!(r.take_frame(9 + n, 9).is_none());
    r.consume(9 + n);
    assert!(r.peek().is_empty());
}

/// The reader takes a large frame while the writer goes on writing after it (its last
/// chunk is the taken one until it moves on): run under Miri and the sanitizers.
#[test]
fn taken_frame_while_the_writer_continues() {
    let (mut w, mut r) = pipe(0);
    let n = MAX_CHUNK + size(4096, 64);
    let writer = thread::spawn(move || {
        for k in 0..size(8, 2) {
            w.write_frame(&long_header(n), &vec![k as u8; n]);
            w.commit(1);
            w.write_frame(&[0, 1], &[k as u8]);
            w.commit(1);
        }
    });
    let mut taken = Vec::new();
    let mut k = 0;
    while k < size(8, 2) {
        let len = r.peek().len();
        if len == 0 {
            thread::yield_now();
            continue;
        }
        assert_eq!(len, 9 + n);
        taken.push(r.take_frame(9 + n, 9).expect("handed over"));
        r.consume(9 + n);
        loop {
            let b = r.peek();
            if b.is_empty() {
                thread::yield_now();
                continue;
            }
            assert_eq!(b, &[0, 1, k as u8]);
            r.consume(3);
            break;
        }
        k += 1;
    }
    writer.join().unwrap();
    for (k, t) in taken.iter().enumerate() {
        assert!(t.body() == &vec![k as u8; n][..]);
    }
}
