/* One socket, two threads (issue 16 item 7d): a socket may be used from any thread, but by
 * one thread at a time; a call while another thread is inside one on the same socket fails
 * with EBUSY instead of corrupting it. Two threads receive 20,000 messages from one socket
 * with rl_recv, rl_msg_recv, rl_recv_batch, rl_poll and rl_getsockopt in turn: every call
 * works or fails with EBUSY (or EAGAIN at the 100 ms receive timeout), each message arrives
 * exactly once and in order within each thread, and of the two threads closing the socket
 * afterwards exactly one succeeds. Then rl_close against a thread blocked in rl_recv: EBUSY
 * until that call returns. Runs with a reactor thread and inline. Exits 0 and prints
 * "threads: ok" on success. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"

#define N 20000

static atomic_int taken, busy_count, closed_count;
static unsigned char seen[N];

struct worker {
    rl_socket_t *s;
    int id;
    uint32_t last; /* last sequence number + 1 received by this thread */
};

/* rc of a call by a worker: 1 if it worked; EBUSY/EAGAIN are fine, and ENOTSOCK once the
 * other thread took the last message and closed the socket. */
static int worked(long rc) {
    if (rc >= 0)
        return 1;
    int e = rl_errno();
    if (e == EBUSY)
        atomic_fetch_add(&busy_count, 1);
    else if (e == ENOTSOCK)
        CHECK(atomic_load(&taken) >= N);
    else
        CHECK(e == EAGAIN);
    return 0;
}

static void got(struct worker *w, const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    CHECK(v < N && !seen[v]);
    CHECK(v + 1 > w->last); /* in order within this thread */
    seen[v] = 1;
    w->last = v + 1;
    atomic_fetch_add(&taken, 1);
}

static void *hammer(void *arg) {
    struct worker *w = arg;
    unsigned char buf[64];
    size_t lens[8];
    for (unsigned round = (unsigned)w->id; atomic_load(&taken) < N; round++) {
        switch (round % 4) {
        case 0: {
            int rc = rl_recv(w->s, buf, sizeof buf, 0);
            if (worked(rc)) {
                CHECK(rc == 4);
                got(w, buf);
            }
            break;
        }
        case 1: {
            rl_msg_t m;
            CHECK(rl_msg_init(&m) == 0);
            int rc = rl_msg_recv(&m, w->s, 0);
            if (worked(rc)) {
                CHECK(rc == 4);
                got(w, rl_msg_data(&m));
            }
            CHECK(rl_msg_close(&m) == 0);
            break;
        }
        case 2: {
            int rc = rl_recv_batch(w->s, buf, sizeof buf, lens, 8, NULL, 0);
            if (worked(rc))
                for (int i = 0; i < rc; i++) {
                    CHECK(lens[i] == 4);
                    got(w, buf + 4 * i);
                }
            break;
        }
        default: {
            rl_pollitem_t item = {w->s, -1, RL_POLLIN, 0};
            worked(rl_poll(&item, 1, 0));
            int v;
            size_t len = sizeof v;
            worked(rl_getsockopt(w->s, RL_RCVMORE, &v, &len));
        }
        }
    }
    for (;;) {
        if (rl_close(w->s) == 0) {
            atomic_fetch_add(&closed_count, 1);
            break;
        }
        if (rl_errno() == ENOTSOCK)
            break;
        CHECK(rl_errno() == EBUSY);
        int v;
        size_t len = sizeof v;
        int rc = rl_getsockopt(w->s, RL_TYPE, &v, &len);
        CHECK(rc == 0 || rl_errno() == EBUSY || rl_errno() == ENOTSOCK);
    }
    return NULL;
}

static void two_threads_one_socket(int io_threads) {
    rl_ctx_t *ctx = rl_ctx_new();
    CHECK(ctx != NULL);
    CHECK(rl_ctx_set(ctx, RL_IO_THREADS, io_threads) == 0);
    rl_socket_t *server, *client;
    connect_pair(ctx, RL_PAIR, RL_PAIR, NULL, &server, &client);
    set_int(server, RL_RCVTIMEO, 100);
    set_int(server, RL_RCVHWM, 0);
    set_int(client, RL_SNDHWM, 0);
    for (uint32_t i = 0; i < N; i++)
        CHECK(rl_send(client, &i, 4, 0) == 4);
    CHECK(rl_flush(client) == 0);
    atomic_store(&taken, 0);
    atomic_store(&busy_count, 0);
    atomic_store(&closed_count, 0);
    memset(seen, 0, sizeof seen);
    struct worker w[2] = {{server, 0, 0}, {server, 1, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&t[i], NULL, hammer, &w[i]) == 0);
    for (int i = 0; i < 2; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    for (int i = 0; i < N; i++)
        CHECK(seen[i]);
    CHECK(atomic_load(&taken) == N);
    CHECK(atomic_load(&closed_count) == 1);
    printf("threads: io threads %d: %d EBUSY\n", io_threads, atomic_load(&busy_count));
    CHECK(rl_close(client) == 0);
    CHECK(rl_ctx_term(ctx) == 0);
}

static void *blocked_recv(void *arg) {
    static char buf[8];
    int rc;
    /* EBUSY while the main thread is inside its rl_getsockopt probe. */
    while ((rc = rl_recv(arg, buf, sizeof buf, 0)) == -1 && rl_errno() == EBUSY)
        sched_yield();
    CHECK(rc == 4 && memcmp(buf, "wake", 4) == 0);
    return NULL;
}

static void close_while_inside(int io_threads) {
    rl_ctx_t *ctx = rl_ctx_new();
    CHECK(rl_ctx_set(ctx, RL_IO_THREADS, io_threads) == 0);
    rl_socket_t *server, *client;
    connect_pair(ctx, RL_PAIR, RL_PAIR, NULL, &server, &client);
    set_int(server, RL_RCVTIMEO, -1);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, blocked_recv, server) == 0);
    /* Wait for the receiver to be inside its call (an event, not a delay). */
    for (;;) {
        int v;
        size_t len = sizeof v;
        if (rl_getsockopt(server, RL_TYPE, &v, &len) == -1) {
            CHECK(rl_errno() == EBUSY);
            break;
        }
        sched_yield();
    }
    CHECK_ERR(rl_close(server), EBUSY);
    CHECK_ERR(rl_send(server, "x", 1, RL_DONTWAIT), EBUSY);
    CHECK(rl_socket_monitor(server, RL_EVENT_ALL) == NULL && rl_errno() == EBUSY);
    CHECK(rl_send(client, "wake", 4, 0) == 4);
    CHECK(rl_flush(client) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(get_int(server, RL_TYPE) == RL_PAIR);
    CHECK(rl_close(server) == 0);
    CHECK(rl_close(client) == 0);
    CHECK(rl_ctx_term(ctx) == 0);
}

int main(void) {
    for (int io = 1; io >= 0; io--) {
        two_threads_one_socket(io);
        close_while_inside(io);
    }
    printf("threads: ok\n");
    return 0;
}
