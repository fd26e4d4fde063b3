/* Signals (issue 16 item 2): with a handler installed without SA_RESTART, a signal sent to a
 * thread blocked in a ringlink call makes the call return -1 with errno EINTR, as a blocking
 * system call would (and as libzmq does), with a reactor thread and inline (RL_IO_THREADS 0):
 * rl_recv, rl_recv_batch, rl_msg_recv, rl_send (no peer), rl_poll on a socket and on a raw
 * fd only, and rl_monitor_recv. The socket stays usable afterwards. The sender repeats
 * SIGUSR1 every 2 ms until the call returns (a signal that lands just before the thread
 * starts waiting is consumed by the handler without interrupting anything). Exits 0 and
 * prints "signals: ok" on success. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static volatile sig_atomic_t hits;
static void on_signal(int sig) {
    (void)sig;
    hits = hits + 1;
}

enum call { RECV, RECV_BATCH, MSG_RECV, SEND, POLL_SOCKET, POLL_FD, MONITOR_RECV, NCALLS };
static const char *const names[NCALLS] = {"rl_recv",        "rl_recv_batch", "rl_msg_recv",
                                          "rl_send",        "rl_poll(socket)", "rl_poll(fd)",
                                          "rl_monitor_recv"};

struct blocked {
    enum call call;
    rl_socket_t *s;
    rl_monitor_t *m;
    int fd;
    atomic_int done;
    int rc, err;
};

static void *blocker(void *arg) {
    struct blocked *b = arg;
    char buf[64];
    size_t lens[4];
    int rc = 0;
    switch (b->call) {
    case RECV:
        rc = rl_recv(b->s, buf, sizeof buf, 0);
        break;
    case RECV_BATCH:
        rc = rl_recv_batch(b->s, buf, sizeof buf, lens, 4, NULL, 0);
        break;
    case MSG_RECV: {
        rl_msg_t m;
        CHECK(rl_msg_init(&m) == 0);
        rc = rl_msg_recv(&m, b->s, 0);
        CHECK(rl_msg_close(&m) == 0);
        break;
    }
    case SEND:
        rc = rl_send(b->s, "x", 1, 0);
        break;
    case POLL_SOCKET: {
        rl_pollitem_t item = {b->s, -1, RL_POLLIN, 0};
        rc = rl_poll(&item, 1, -1);
        break;
    }
    case POLL_FD: {
        rl_pollitem_t item = {NULL, b->fd, RL_POLLIN, 0};
        rc = rl_poll(&item, 1, -1);
        break;
    }
    case MONITOR_RECV: {
        rl_monitor_event_t ev;
        rc = rl_monitor_recv(b->m, &ev, 0, -1);
        break;
    }
    default:
        CHECK(0);
    }
    b->rc = rc;
    b->err = rl_errno();
    atomic_store(&b->done, 1);
    return NULL;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run `b` on a thread and signal it until the call returns; it must fail with EINTR. */
static void interrupt(struct blocked *b, int io_threads) {
    atomic_store(&b->done, 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, blocker, b) == 0);
    double start = now_s();
    int sent = 0;
    while (!atomic_load(&b->done)) {
        CHECK(pthread_kill(t, SIGUSR1) == 0);
        sent++;
        struct timespec pace = {0, 2 * 1000 * 1000};
        nanosleep(&pace, NULL);
        if (now_s() - start > 30) {
            fprintf(stderr, "signals: %s (io threads %d) did not return after %d signals\n",
                    names[b->call], io_threads, sent);
            exit(1);
        }
    }
    CHECK(pthread_join(t, NULL) == 0);
    if (b->rc != -1 || b->err != EINTR) {
        fprintf(stderr, "signals: %s (io threads %d) returned %d, errno %d (%s), not EINTR\n",
                names[b->call], io_threads, b->rc, b->err, rl_strerror(b->err));
        exit(1);
    }
    printf("signals: %s (io threads %d): EINTR after %d signal(s), %.1f ms\n",
           names[b->call], io_threads, sent, (now_s() - start) * 1e3);
}

static void run(int io_threads) {
    rl_ctx_t *ctx = rl_ctx_new();
    CHECK(ctx != NULL);
    CHECK(rl_ctx_set(ctx, RL_IO_THREADS, io_threads) == 0);
    rl_socket_t *server, *client;
    connect_pair(ctx, RL_PAIR, RL_PAIR, NULL, &server, &client);
    set_int(server, RL_RCVTIMEO, -1);
    /* A socket whose sends block: no peer ever connects, and IMMEDIATE queues nothing for
     * a connection not made. */
    rl_socket_t *lonely = rl_socket(ctx, RL_PUSH);
    CHECK(lonely != NULL);
    set_int(lonely, RL_LINGER, 0);
    set_int(lonely, RL_IMMEDIATE, 1);
    CHECK(rl_connect(lonely, "tcp://127.0.0.1:9") == 0);
    /* A round trip first: the connection is up, so the monitor (which starts empty) gets no
     * event while rl_monitor_recv waits. */
    char buf[8];
    CHECK(rl_send(client, "ping", 4, 0) == 4);
    CHECK(rl_recv(server, buf, sizeof buf, 0) == 4);
    rl_monitor_t *m = rl_socket_monitor(client, RL_EVENT_ALL);
    CHECK(m != NULL);
    rl_monitor_event_t ev;
    while (rl_monitor_recv(m, &ev, RL_DONTWAIT, 0) == 0)
        ;
    int fds[2];
    CHECK(pipe(fds) == 0);

    for (int c = 0; c < NCALLS; c++) {
        struct blocked b = {.call = (enum call)c, .s = server, .m = m, .fd = fds[0]};
        if (c == SEND)
            b.s = lonely;
        interrupt(&b, io_threads);
    }
    /* Still usable: a message sent now arrives. */
    CHECK(rl_send(client, "after", 5, 0) == 5);
    set_int(server, RL_RCVTIMEO, 10000);
    CHECK(rl_recv(server, buf, sizeof buf, 0) == 5 && memcmp(buf, "after", 5) == 0);

    close(fds[0]);
    close(fds[1]);
    CHECK(rl_monitor_close(m) == 0);
    CHECK(rl_close(lonely) == 0);
    CHECK(rl_close(server) == 0);
    CHECK(rl_close(client) == 0);
    CHECK(rl_ctx_term(ctx) == 0);
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = 0; /* no SA_RESTART: blocking calls see EINTR */
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
    run(1);
    run(0);
    CHECK(hits > 0);
    printf("signals: ok\n");
    return 0;
}
