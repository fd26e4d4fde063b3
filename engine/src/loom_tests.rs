//! Model-checked hand-offs (loom explores every interleaving and memory-order outcome):
//! `RUSTFLAGS="--cfg loom" cargo test --release -p ringlink --lib loom_tests` (see
//! `scripts/loom.sh`). The pipe and the parker are the real code built on loom's atomics
//! (`crate::sync`); the inline leader/follower hand-over is modelled on its locking shape.

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;

use crate::pipe::{pipe, Reader};
use crate::runtime::parker::Parker;

/// Everything the reader can see now, as (frames, bytes).
fn drain(r: &mut Reader) -> usize {
    let mut n = 0;
    loop {
        let len = r.peek().len();
        if len == 0 {
            return n;
        }
        n += len;
        r.consume(len);
    }
}

/// A writer committing while the reader stops looking: either the reader sees the data or
/// the writer is told to notify it (a notification after the reader already took the data
/// is allowed: the notified reader then finds the pipe empty).
#[test]
fn pipe_commit_vs_deactivate() {
    loom::model(|| {
        let (mut w, mut r) = pipe(0);
        w.write_frame(&[0, 1], b"a");
        assert!(w.commit(1), "first commit activates the idle reader");
        let writer = thread::spawn(move || {
            w.write_frame(&[0, 1], b"b");
            let notify = w.commit(1);
            (notify, w)
        });
        let mut read = drain(&mut r);
        while r.deactivate() {
            read += drain(&mut r);
        }
        let (notify, _w) = writer.join().unwrap();
        if !notify {
            assert_eq!(
                read, 6,
                "data committed without a notification was not read"
            );
        }
        if notify {
            // The notified reader finds the rest.
            read += drain(&mut r);
            assert_eq!(read, 6);
        }
    });
}

/// The reader hands a large frame over while the writer may still be on that frame's
/// chunk, writing the next frame and publishing the chunk's final `end` and `next`: the
/// frame's bytes and the frame after it arrive intact, and dropping the taken frame, the
/// reader and the writer in any order frees everything once.
#[test]
fn pipe_take_frame_vs_writer() {
    loom::model(|| {
        let n = crate::pipe::MAX_CHUNK + 1;
        let mut header = [0x02u8, 0, 0, 0, 0, 0, 0, 0, 0];
        header[1..].copy_from_slice(&(n as u64).to_be_bytes());
        let (mut w, mut r) = pipe(0);
        w.write_frame(&header, &vec![7; n]);
        w.commit(1);
        let writer = thread::spawn(move || {
            w.write_frame(&[0, 1], b"b");
            w.commit(1);
        });
        assert_eq!(r.peek().len(), 9 + n);
        let t = r
            .take_frame(9 + n, 9)
            .expect("a large frame alone in its chunk");
        r.consume(9 + n);
        let mut small = 0;
        while small == 0 {
            small = drain(&mut r);
            if small == 0 {
                thread::yield_now();
            }
        }
        assert_eq!(small, 3);
        writer.join().unwrap();
        assert!(t.body().len() == n && t.body().iter().all(|&b| b == 7));
    });
}

/// A writer blocking at the high-water mark while the reader credits what it read: a
/// blocked writer is always woken.
#[test]
fn pipe_hwm_wait_vs_credit() {
    loom::model(|| {
        let (mut w, mut r) = pipe(1);
        w.write_frame(&[0, 1], b"a");
        w.commit(1);
        let writer = thread::spawn(move || {
            let blocked = w.is_full() && w.wait_for_space();
            (blocked, w)
        });
        let n = r.peek().len();
        r.consume(n);
        let wake = r.credit(1) | r.publish_credit();
        let (blocked, _w) = writer.join().unwrap();
        assert!(!blocked || wake, "a writer blocked at HWM was never woken");
    });
}

/// The socket/reactor parking protocol: publish news then unpark, against announce,
/// re-check, sleep. A lost wake-up deadlocks the model (the eventfd is a condvar there).
#[test]
fn parker_never_misses_a_wake_up() {
    loom::model(|| {
        let p = Arc::new(Parker::new().unwrap());
        let news = Arc::new(AtomicBool::new(false));
        let (p2, news2) = (p.clone(), news.clone());
        let producer = thread::spawn(move || {
            news2.store(true, Ordering::Release);
            p2.unpark();
        });
        p.announce();
        if !news.load(Ordering::Acquire) {
            p.sleep(None).unwrap();
        }
        p.clear();
        assert!(news.load(Ordering::Acquire));
        producer.join().unwrap();
    });
}

/// A watched parker (an event loop polls its fd) is signalled even when nobody parked.
#[test]
fn watched_parker_is_always_signalled() {
    loom::model(|| {
        let p = Arc::new(Parker::new().unwrap());
        p.watch();
        let p2 = p.clone();
        let producer = thread::spawn(move || p2.unpark());
        producer.join().unwrap();
        // Readable: a sleep returns at once.
        p.sleep(None).unwrap();
    });
}

/// Inline leader/followers (runtime/inline.rs): a follower registers, tries the lead once
/// more, then sleeps on its parker; a leaving leader unlocks, then signals every registered
/// follower under the list lock. The follower always gets the lead or a wake-up.
#[test]
fn inline_leader_hands_over_to_a_follower() {
    loom::model(|| {
        let lead = Arc::new(Mutex::new(()));
        let followers: Arc<Mutex<Vec<Arc<Parker>>>> = Arc::new(Mutex::new(Vec::new()));
        let me = Arc::new(Parker::new().unwrap());
        let guard_holder = {
            let (lead, followers) = (lead.clone(), followers.clone());
            thread::spawn(move || {
                let g = lead.lock().unwrap();
                // ... the leader's turns ...
                drop(g);
                for f in followers.lock().unwrap().iter() {
                    f.signal();
                }
            })
        };
        // The follower.
        let got_lead = loop {
            if lead.try_lock().is_ok() {
                break true;
            }
            followers.lock().unwrap().push(me.clone());
            let free = lead.try_lock().is_ok();
            if !free {
                me.announce();
                me.sleep(None).unwrap();
            }
            followers.lock().unwrap().clear();
            if free {
                break true;
            }
        };
        assert!(got_lead);
        guard_holder.join().unwrap();
    });
}
