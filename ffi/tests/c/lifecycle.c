/* Lifecycle: terminated contexts, closed sockets and closed monitors leave nothing behind
 * (issue 16 item 5: 100,000 rl_ctx_new + rl_ctx_term cycles used to keep 16.9 MB), and stale
 * handles keep failing cleanly (EFAULT / ENOTSOCK, never a use after free: ASan watches).
 * The heap is measured with the sanitizer's allocated-bytes counter (mallinfo2 without
 * ASan). Exits 0 and prints "lifecycle: ok" on success. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>

#include "check.h"

/* Provided by ASan/LSan; weak so the program also links without a sanitizer. */
extern size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

static long heap_bytes(void) {
    if (__sanitizer_get_current_allocated_bytes)
        return (long)__sanitizer_get_current_allocated_bytes();
    return (long)mallinfo2().uordblks;
}

static void context_cycles(void) {
    for (int i = 0; i < 16; i++)
        CHECK(rl_ctx_term(rl_ctx_new()) == 0);
    rl_ctx_t *first = rl_ctx_new();
    CHECK(first != NULL);
    CHECK(rl_ctx_term(first) == 0);
    long before = heap_bytes();
    rl_ctx_t *last = NULL;
    for (int i = 0; i < 100000; i++) {
        rl_ctx_t *c = rl_ctx_new();
        CHECK(c != NULL);
        CHECK(rl_ctx_term(c) == 0);
        last = c;
    }
    long grown = heap_bytes() - before;
    printf("lifecycle: 100000 context cycles: heap %+ld bytes\n", grown);
    CHECK(grown <= 4096);
    /* Stale handles, one of them for a slot reused 100,000 times since. */
    CHECK_ERR(rl_ctx_get(first, RL_IO_THREADS), EFAULT);
    CHECK_ERR(rl_ctx_term(first), EFAULT);
    CHECK_ERR(rl_ctx_shutdown(last), EFAULT);
    CHECK_ERR(rl_ctx_set(last, RL_IO_THREADS, 0), EFAULT);
    CHECK(rl_socket(last, RL_PAIR) == NULL && rl_errno() == EFAULT);
    /* A stale handle whose slot holds a live context again does not reach it. */
    rl_ctx_t *live = rl_ctx_new();
    CHECK(rl_ctx_set(live, RL_IO_THREADS, 3) == 0);
    CHECK_ERR(rl_ctx_term(last), EFAULT);
    CHECK(rl_ctx_get(live, RL_IO_THREADS) == 3);
    CHECK(rl_ctx_term(live) == 0);
}

/* One context with a socket (and, with `threads` 1, its reactor thread) and a monitor, closed
 * before term (`monitor_after_term` 0) or after it. */
static void socket_cycle(int threads, int monitor_after_term) {
    rl_ctx_t *ctx = rl_ctx_new();
    CHECK(ctx != NULL);
    CHECK(rl_ctx_set(ctx, RL_IO_THREADS, threads) == 0);
    rl_socket_t *s = rl_socket(ctx, RL_PAIR);
    CHECK(s != NULL);
    rl_monitor_t *m = rl_socket_monitor(s, RL_EVENT_ALL);
    CHECK(m != NULL);
    if (!monitor_after_term)
        CHECK(rl_monitor_close(m) == 0);
    CHECK(rl_close(s) == 0);
    CHECK_ERR(rl_send(s, "x", 1, 0), ENOTSOCK); /* closed: a husk until term */
    CHECK(rl_ctx_term(ctx) == 0);
    if (monitor_after_term)
        CHECK(rl_monitor_close(m) == 0);
    CHECK_ERR(rl_monitor_fd(m), EFAULT);
    CHECK_ERR(rl_monitor_close(m), EFAULT);
}

static void socket_cycles(int threads, int n) {
    for (int i = 0; i < 4; i++) {
        socket_cycle(threads, 0);
        socket_cycle(threads, 1);
    }
    long before = heap_bytes();
    for (int i = 0; i < n; i++) {
        socket_cycle(threads, 0);
        socket_cycle(threads, 1);
    }
    long grown = heap_bytes() - before;
    printf("lifecycle: %d socket+monitor cycles (io threads %d): heap %+ld bytes\n", 2 * n,
           threads, grown);
    CHECK(grown <= 4096);
}

int main(void) {
    context_cycles();
    socket_cycles(0, 500);
    socket_cycles(1, 200);
    printf("lifecycle: ok\n");
    return 0;
}
