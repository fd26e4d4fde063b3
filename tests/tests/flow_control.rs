//! Inbound flow control over tcp: RCVHWM bounds what the reactor queues for a reader that is
//! slower than its peer, on both backends.

use std::thread;

use ringlink_tests::*;

const HWM: i32 = 1000;
const SIZE: usize = 64;
const COUNT: u64 = 200_000;
/// Messages in one 64 KiB receive piece (2-byte frame header + 64 B body): the reactor
/// decodes a whole piece before it looks at the mark again.
const PIECE: u64 = 65_536 / (2 + SIZE as u64) + 1;

fn message(seq: u64) -> [u8; SIZE] {
    let mut m = [0xA5u8; SIZE];
    m[..8].copy_from_slice(&seq.to_le_bytes());
    m
}

// The reader wakes the reactor with every credit batch (a quarter of RCVHWM). The reactor
// used to feed a whole 64 KiB piece on each wake-up even though the pipe was still over the
// mark, so the queue grew by a piece minus a credit batch per wake-up for as long as the
// reader stayed behind (450,000 messages queued at RCVHWM 1000 in `ringlink-bench soak`).
both_backends!(
    rcvhwm_bounds_the_inbound_queue_of_a_slow_reader,
    |backend| {
        let ctx = ctx(backend);
        let mut pull = socket(&ctx, SocketType::Pull);
        set_opt(&mut pull, SocketOption::RcvHwm(HWM));
        let ep = bind_tcp(&mut pull);
        let mut push = socket(&ctx, SocketType::Push);
        set_opt(&mut push, SocketOption::SndHwm(HWM));
        connect(&mut push, &ep);
        let sender = thread::spawn(move || {
            let mut seq = 0;
            while seq < COUNT {
                let batch: Vec<[u8; SIZE]> = (seq..(seq + 256).min(COUNT)).map(message).collect();
                let mut rest = &batch[..];
                while !rest.is_empty() {
                    let n = push
                        .send_batch(rest, 0)
                        .unwrap_or_else(|e| panic!("send_batch after {seq}: {e}"));
                    rest = &rest[n..];
                }
                seq += batch.len() as u64;
            }
            push
        });
        // One message per call, and the peer statistics after each: a reader much slower than
        // the sender, whose reactor has data waiting whenever credit comes back.
        let mut buf = [0u8; 2 * SIZE];
        let mut max_queued = 0;
        for seq in 0..COUNT {
            let n = pull
                .recv(&mut buf, 0)
                .unwrap_or_else(|e| panic!("recv of message {seq}: {e}"));
            assert_eq!(&buf[..n], &message(seq), "message {seq}");
            let committed: u64 = pull.peers().iter().map(|p| p.msgs_received).sum();
            max_queued = max_queued.max(committed.saturating_sub(seq + 1));
            assert!(
                max_queued <= HWM as u64 + PIECE,
                "{max_queued} messages queued after reading {} (RCVHWM {HWM}, one receive \
             piece {PIECE} messages)",
                seq + 1
            );
        }
        drop(sender.join().expect("sender thread"));
        assert!(
            max_queued >= HWM as u64 / 2,
            "the reader never fell behind ({max_queued} queued at most): the bound was not tested"
        );
    }
);
