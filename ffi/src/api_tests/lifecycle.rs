//! Lifecycle: nothing stays allocated per terminated context or closed socket (a counting global allocator measures this thread's heap).

use super::*;

/// Counts the heap bytes each thread allocated minus those it freed, so a test can measure
/// its own thread's growth while other tests run in parallel.
struct CountingAlloc;

thread_local! {
    static THREAD_HEAP: std::cell::Cell<isize> = const { std::cell::Cell::new(0) };
}

fn count(delta: isize) {
    // `try_with`: nothing to count during thread teardown.
    let _ = THREAD_HEAP.try_with(|c| c.set(c.get() + delta));
}

// SAFETY: every method forwards to the system allocator with the caller's arguments; the
// counting touches a const-initialised thread-local Cell, which never allocates.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: forwarded contract.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        count(-(layout.size() as isize));
        // SAFETY: forwarded contract.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: forwarded contract.
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        count(new as isize - layout.size() as isize);
        // SAFETY: forwarded contract.
        unsafe { std::alloc::System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn thread_heap() -> isize {
    THREAD_HEAP.with(|c| c.get())
}

/// Issue 16 item 5: 100,000 `rl_ctx_new` + `rl_ctx_term` cycles used to keep ~170 bytes each
/// (16.9 MB). Now the heap of this thread must not grow beyond the handle table's own slack
/// (a few slots, if other tests hold contexts at the same time), and stale handles, even of
/// a slot reused 100,000 times since, still give EFAULT.
#[test]
fn terminated_contexts_keep_no_memory() {
    for _ in 0..16 {
        assert_eq!(rl_ctx_term(rl_ctx_new()), 0);
    }
    let first = rl_ctx_new();
    assert!(!first.is_null());
    assert_eq!(rl_ctx_term(first), 0);
    let before = thread_heap();
    let mut last = null_mut();
    for i in 0..100_000 {
        let c = rl_ctx_new();
        assert!(!c.is_null(), "cycle {i}: errno {}", rl_errno());
        if i % 10_000 == 0 {
            assert_eq!(rl_ctx_set(c, RL_IO_THREADS, 0), 0);
            assert_eq!(rl_ctx_get(c, RL_IO_THREADS), 0);
        }
        assert_eq!(rl_ctx_term(c), 0);
        last = c;
    }
    let grown = thread_heap() - before;
    assert!(
        grown <= 4096,
        "100,000 context cycles kept {grown} bytes of heap"
    );
    for stale in [first, last] {
        assert_eq!(rl_ctx_get(stale, RL_IO_THREADS), -1);
        assert_eq!(rl_errno(), libc::EFAULT);
        assert_eq!(rl_ctx_set(stale, RL_IO_THREADS, 2), -1);
        assert_eq!(rl_errno(), libc::EFAULT);
        assert_eq!(rl_ctx_shutdown(stale), -1);
        assert_eq!(rl_ctx_term(stale), -1);
        assert_eq!(rl_errno(), libc::EFAULT);
        assert!(rl_socket(stale, RL_PAIR).is_null());
        assert_eq!(rl_errno(), libc::EFAULT);
    }
    // A stale handle whose slot holds a live context again does not reach it.
    let live = rl_ctx_new();
    assert_eq!(rl_ctx_set(live, RL_IO_THREADS, 3), 0);
    assert_eq!(rl_ctx_get(last, RL_IO_THREADS), -1);
    assert_eq!(rl_ctx_term(last), -1);
    assert_eq!(rl_ctx_get(live, RL_IO_THREADS), 3);
    assert_eq!(rl_ctx_term(live), 0);
}

/// Contexts with sockets and monitors (inline mode: no reactor thread, so every allocation
/// happens on this thread): closed sockets' husks are freed by term, monitors closed before
/// or after term leave nothing behind.
#[test]
fn socket_and_monitor_cycles_keep_no_memory() {
    let cycle = |monitor_after_term: bool| {
        let ctx = rl_ctx_new();
        assert_eq!(rl_ctx_set(ctx, RL_IO_THREADS, 0), 0);
        let s = rl_socket(ctx, RL_PAIR);
        assert!(!s.is_null());
        // SAFETY: `s` is live until closed here, by this thread only.
        unsafe {
            let m = rl_socket_monitor(s, RL_EVENT_ALL);
            assert!(!m.is_null());
            if !monitor_after_term {
                assert_eq!(rl_monitor_close(m), 0);
            }
            assert_eq!(rl_close(s), 0);
            assert_eq!(rl_ctx_term(ctx), 0);
            if monitor_after_term {
                assert_eq!(rl_monitor_close(m), 0);
            }
            assert_eq!(rl_monitor_fd(m), -1);
        }
    };
    for _ in 0..8 {
        cycle(false);
        cycle(true);
    }
    let before = thread_heap();
    for _ in 0..500 {
        cycle(false);
        cycle(true);
    }
    let grown = thread_heap() - before;
    assert!(
        grown <= 4096,
        "1,000 socket+monitor cycles kept {grown} bytes"
    );
}

// ----- one thread per socket at a time: concurrent use fails with EBUSY --------------------
