/* The calls language bindings stand on: RL_FD / RL_EVENTS (event-loop readiness),
 * rl_recv_with (a frame of unknown size without an intermediate buffer),
 * rl_send_routed_repeat, rl_send_multipart_batch, rl_proxy / rl_proxy_steerable.
 * Prints "bindings: ok". */
#include <errno.h>
#include <poll.h>
#include <pthread.h>

#include "check.h"

#define MAXN 64
#define TIMEOUT_MS 10000

/* Whether `fd` becomes readable within `ms`. */
static int readable(int fd, int ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n;
    do {
        n = poll(&p, 1, ms);
    } while (n < 0 && errno == EINTR);
    CHECK(n >= 0);
    return n == 1 && (p.revents & POLLIN);
}

/* Wait, as an event loop does, until RL_EVENTS reports `want`: wait on RL_FD, then read
 * RL_EVENTS (which re-arms the fd). Fails the test if the fd stays quiet for 10 s. */
static void wait_events(rl_socket_t *s, int fd, int want) {
    for (;;) {
        if (get_int(s, RL_EVENTS) & want)
            return;
        CHECK(readable(fd, TIMEOUT_MS));
    }
}

static void readiness(void) {
    rl_ctx_t *ctx = rl_ctx_new();
    CHECK(rl_ctx_set(ctx, RL_IO_THREADS, 1) == 0);
    rl_socket_t *srv, *cli;
    connect_pair(ctx, RL_PAIR, RL_PAIR, NULL, &srv, &cli);
    int fd = get_int(srv, RL_FD);
    CHECK(fd >= 0);
    CHECK(get_int(srv, RL_FD) == fd); /* stable */
    /* Read-only, and sized like libzmq's (an int). */
    CHECK_ERR(rl_setsockopt(srv, RL_FD, &fd, sizeof fd), EINVAL);
    CHECK_ERR(rl_setsockopt(srv, RL_EVENTS, &fd, sizeof fd), EINVAL);
    char small[2];
    size_t len = sizeof small;
    CHECK_ERR(rl_getsockopt(srv, RL_FD, small, &len), EINVAL);
    CHECK((get_int(srv, RL_EVENTS) & RL_POLLIN) == 0);

    /* Three rounds: each message makes the fd fire and RL_EVENTS show POLLIN; once it is
     * received, POLLIN is gone. */
    for (int round = 0; round < 3; round++) {
        CHECK(rl_send(cli, "ping", 4, 0) == 4);
        wait_events(srv, fd, RL_POLLIN);
        char buf[8];
        CHECK(rl_recv(srv, buf, sizeof buf, RL_DONTWAIT) == 4);
        CHECK(memcmp(buf, "ping", 4) == 0);
        CHECK((get_int(srv, RL_EVENTS) & RL_POLLIN) == 0);
    }

    /* POLLOUT: a connected PAIR can send; at SNDHWM it cannot until the peer reads. */
    int cfd = get_int(cli, RL_FD);
    wait_events(cli, cfd, RL_POLLOUT);
    rl_socket_t *lone = rl_socket(ctx, RL_PUSH);
    CHECK(lone != NULL);
    CHECK((get_int(lone, RL_EVENTS) & RL_POLLOUT) == 0); /* no peer yet */
    CHECK(rl_close(lone) == 0);

    CHECK(rl_close(srv) == 0);
    CHECK(rl_close(cli) == 0);

    /* A send that fails with EAGAIN at SNDHWM arms the fd by itself: an event loop that
     * sends until EAGAIN and then waits on the fd (without reading RL_EVENTS in between, as
     * libzmq allows) is woken when the peer makes room. */
    rl_socket_t *pull = rl_socket(ctx, RL_PULL), *push = rl_socket(ctx, RL_PUSH);
    set_int(pull, RL_RCVHWM, 1);
    set_int(push, RL_SNDHWM, 1);
    set_int(pull, RL_LINGER, 0);
    set_int(push, RL_LINGER, 0);
    CHECK(rl_bind(pull, "inproc://bindings-room") == 0);
    CHECK(rl_connect(push, "inproc://bindings-room") == 0);
    int pfd = get_int(push, RL_FD);
    CHECK(get_int(push, RL_EVENTS) & RL_POLLOUT); /* resets the fd while there is room */
    int queued = 0;
    while (rl_send(push, "x", 1, RL_DONTWAIT) == 1)
        queued++;
    CHECK(rl_errno() == EAGAIN && queued >= 1);
    char x;
    CHECK(rl_recv(pull, &x, 1, 0) == 1);
    CHECK(readable(pfd, TIMEOUT_MS));
    wait_events(push, pfd, RL_POLLOUT);
    CHECK(rl_send(push, "y", 1, RL_DONTWAIT) == 1);
    CHECK(rl_close(pull) == 0);
    CHECK(rl_close(push) == 0);
    CHECK(rl_ctx_term(ctx) == 0);
}

struct frames {
    int calls;
    size_t len[4];
    int more[4];
    char *data[4];
    rl_socket_t *self;
    int reentry_rc, reentry_errno;
};

static void collect(const void *data, size_t len, int more, void *arg) {
    struct frames *f = arg;
    CHECK(f->calls < 4);
    f->len[f->calls] = len;
    f->more[f->calls] = more;
    f->data[f->calls] = malloc(len ? len : 1);
    memcpy(f->data[f->calls], data, len);
    if (f->self) {
        /* The socket is held by the call running this callback. */
        char b[4];
        f->reentry_rc = rl_recv(f->self, b, sizeof b, RL_DONTWAIT);
        f->reentry_errno = rl_errno();
    }
    f->calls++;
}

static void free_frames(struct frames *f) {
    for (int i = 0; i < f->calls; i++)
        free(f->data[i]);
    memset(f, 0, sizeof *f);
}

static void recv_with(void) {
    rl_ctx_t *ctx = rl_ctx_new();
    rl_socket_t *srv, *cli;
    connect_pair(ctx, RL_PAIR, RL_PAIR, NULL, &srv, &cli);
    struct frames f = {0};

    CHECK_ERR(rl_recv_with(srv, collect, &f, RL_DONTWAIT), EAGAIN);
    CHECK(f.calls == 0);
    CHECK_ERR(rl_recv_with(srv, NULL, &f, RL_DONTWAIT), EFAULT);
    CHECK_ERR(rl_recv_with(NULL, collect, &f, 0), EFAULT);

    /* A large frame of a size the receiver does not know, then a two-frame message. */
    size_t big = 100 * 1024;
    char *payload = malloc(big);
    for (size_t i = 0; i < big; i++)
        payload[i] = (char)(i * 7);
    CHECK(rl_send(cli, payload, big, 0) == (int)big);
    CHECK(rl_send(cli, "head", 4, RL_SNDMORE) == 4);
    CHECK(rl_send(cli, "", 0, 0) == 0);

    CHECK(rl_recv_with(srv, collect, &f, 0) == (int)big);
    CHECK(f.calls == 1 && f.len[0] == big && f.more[0] == 0);
    CHECK(memcmp(f.data[0], payload, big) == 0);
    CHECK(get_int(srv, RL_RCVMORE) == 0);
    free_frames(&f);

    f.self = srv;
    CHECK(rl_recv_with(srv, collect, &f, 0) == 4);
    CHECK(f.reentry_rc == -1 && f.reentry_errno == EBUSY);
    CHECK(get_int(srv, RL_RCVMORE) == 1);
    CHECK(rl_recv_with(srv, collect, &f, 0) == 0);
    CHECK(f.calls == 2 && f.more[0] == 1 && f.more[1] == 0 && f.len[1] == 0);
    CHECK(memcmp(f.data[0], "head", 4) == 0);
    CHECK(get_int(srv, RL_RCVMORE) == 0);
    free_frames(&f);
    free(payload);

    /* Counters: two messages (one of two frames) and their wire bytes. */
    rl_socket_stats_t st;
    memset(&st, 0xff, sizeof st);
    CHECK(rl_socket_stats(srv, &st, sizeof st) == 0);
    CHECK(st.msgs_received == 2 && st.connects == 1 && st.msgs_dropped == 0);
    CHECK(st.bytes_received > big);
    CHECK(rl_socket_stats(cli, &st, sizeof st) == 0);
    CHECK(st.msgs_sent == 2 && st.bytes_sent > big);
    uint64_t first[2] = {0, 12345};
    CHECK(rl_socket_stats(cli, (rl_socket_stats_t *)(void *)first, sizeof first[0]) == 0);
    CHECK(first[0] == 2 && first[1] == 12345); /* an older, shorter struct: nothing past it */
    CHECK_ERR(rl_socket_stats(cli, NULL, sizeof st), EFAULT);
    CHECK_ERR(rl_socket_stats(cli, &st, 4), EINVAL);

    /* A send-only socket cannot receive. */
    rl_socket_t *push = rl_socket(ctx, RL_PUSH);
    CHECK_ERR(rl_recv_with(push, collect, &f, RL_DONTWAIT), ENOTSUP);
    CHECK(rl_close(push) == 0);

    CHECK(rl_close(srv) == 0);
    CHECK(rl_close(cli) == 0);
    CHECK(rl_ctx_term(ctx) == 0);
}

static void routed_repeat(void) {
    rl_ctx_t *ctx = rl_ctx_new();
    rl_socket_t *router, *dealer;
    connect_pair(ctx, RL_ROUTER, RL_DEALER, "cli", &router, &dealer);
    set_int(router, RL_ROUTER_MANDATORY, 1);
    /* The router learns the dealer's id from its first message. */
    CHECK(rl_send(dealer, "hi", 2, 0) == 2);
    char buf[4096], ids[MAXN * RL_ROUTING_ID_MAX];
    size_t lens[MAXN], id_lens[MAXN];
    CHECK(rl_recv_batch_routed(router, buf, sizeof buf, lens, ids, sizeof ids, id_lens, MAXN,
                               NULL, 0) == 1);

    CHECK(rl_send_routed_repeat(router, "cli", 3, "pay", 3, 1000, 0) == 1000);
    CHECK(rl_send_routed_repeat(router, "cli", 3, "pay", 3, 0, 0) == 0);
    CHECK_ERR(rl_send_routed_repeat(router, "nobody", 6, "x", 1, 5, 0), EHOSTUNREACH);
    CHECK_ERR(rl_send_routed_repeat(router, "cli", 3, "x", 1, 5, RL_SNDMORE), EINVAL);
    CHECK_ERR(rl_send_routed_repeat(router, NULL, 3, "x", 1, 5, 0), EFAULT);
    int got = 0;
    while (got < 1000) {
        int n = rl_recv_batch(dealer, buf, sizeof buf, lens, MAXN, NULL, 0);
        CHECK(n >= 1);
        for (int i = 0; i < n; i++)
            CHECK(lens[i] == 3 && memcmp(buf + 3 * i, "pay", 3) == 0);
        got += n;
    }
    CHECK(got == 1000);
    CHECK(rl_close(router) == 0);
    CHECK(rl_close(dealer) == 0);

    /* On other types the id is the first frame of each message. */
    rl_socket_t *srv, *cli;
    connect_pair(ctx, RL_PAIR, RL_PAIR, NULL, &srv, &cli);
    CHECK(rl_send_routed_repeat(cli, "id", 2, "body", 4, 3, 0) == 3);
    size_t parts[MAXN];
    int msgs = 0;
    while (msgs < 3) {
        int n = rl_recv_batch_parts(srv, buf, sizeof buf, lens, parts, MAXN, NULL, 0);
        CHECK(n >= 1);
        for (int j = 0; j < n; j++) {
            CHECK(parts[j] == 2 && lens[2 * j] == 2 && lens[2 * j + 1] == 4);
            CHECK(memcmp(buf + 6 * j, "idbody", 6) == 0);
        }
        msgs += n;
    }
    CHECK(rl_close(srv) == 0);
    CHECK(rl_close(cli) == 0);
    CHECK(rl_ctx_term(ctx) == 0);
}

static void multipart_batch(void) {
    rl_ctx_t *ctx = rl_ctx_new();
    rl_socket_t *srv, *cli;
    connect_pair(ctx, RL_PAIR, RL_PAIR, NULL, &srv, &cli);
    rl_iovec_t frames[6] = {{"a", 1}, {"11", 2}, {"b", 1}, {NULL, 0}, {"333", 3}, {"c", 1}};
    size_t nparts[3] = {2, 3, 1};
    CHECK(rl_send_multipart_batch(cli, frames, nparts, 3, 0) == 3);
    CHECK(rl_send_multipart_batch(cli, frames, nparts, 0, 0) == 0);
    size_t zero[2] = {2, 0};
    CHECK_ERR(rl_send_multipart_batch(cli, frames, zero, 2, 0), EINVAL);
    CHECK_ERR(rl_send_multipart_batch(cli, frames, NULL, 2, 0), EFAULT);
    CHECK_ERR(rl_send_multipart_batch(cli, NULL, nparts, 3, 0), EFAULT);
    CHECK_ERR(rl_send_multipart_batch(cli, frames, nparts, 3, RL_SNDMORE), EINVAL);

    char buf[256];
    size_t lens[MAXN], parts[MAXN];
    size_t want_parts[3] = {2, 3, 1}, want_lens[6] = {1, 2, 1, 0, 3, 1};
    int msgs = 0, frame = 0; /* over the whole stream */
    size_t off = 0;
    char all[16];
    while (msgs < 3) {
        int n = rl_recv_batch_parts(srv, buf, sizeof buf, lens, parts, MAXN, NULL, 0);
        CHECK(n >= 1 && msgs + n <= 3);
        size_t used = 0, local = 0; /* frame index within this call's lens */
        for (int j = 0; j < n; j++) {
            CHECK(parts[j] == want_parts[msgs + j]);
            for (size_t k = 0; k < parts[j]; k++, frame++, local++) {
                CHECK(lens[local] == want_lens[frame]);
                used += lens[local];
            }
        }
        memcpy(all + off, buf, used);
        off += used;
        msgs += n;
    }
    CHECK(off == 8 && memcmp(all, "a11b333c", 8) == 0);

    /* More messages than one internal chunk (64 per call into the engine), in order. */
    enum { MANY = 150 };
    static rl_iovec_t mf[2 * MANY];
    static size_t mp[MANY];
    static char nums[MANY][4];
    for (int i = 0; i < MANY; i++) {
        nums[i][0] = (char)('0' + i / 100);
        nums[i][1] = (char)('0' + i / 10 % 10);
        nums[i][2] = (char)('0' + i % 10);
        mf[2 * i] = (rl_iovec_t){"k", 1};
        mf[2 * i + 1] = (rl_iovec_t){nums[i], 3};
        mp[i] = 2;
    }
    CHECK(rl_send_multipart_batch(cli, mf, mp, MANY, 0) == MANY);
    for (int i = 0; i < MANY; i++) {
        char k[4], v[4];
        CHECK(rl_recv(srv, k, sizeof k, 0) == 1 && k[0] == 'k');
        CHECK(get_int(srv, RL_RCVMORE) == 1);
        CHECK(rl_recv(srv, v, sizeof v, 0) == 3 && memcmp(v, nums[i], 3) == 0);
        CHECK(get_int(srv, RL_RCVMORE) == 0);
    }
    CHECK(rl_close(srv) == 0);
    CHECK(rl_close(cli) == 0);

    /* ROUTER: the first frame of each message routes (message by message). */
    rl_socket_t *router, *dealer;
    connect_pair(ctx, RL_ROUTER, RL_DEALER, "cli", &router, &dealer);
    CHECK(rl_send(dealer, "hi", 2, 0) == 2);
    char hi[8];
    CHECK(rl_recv(router, hi, sizeof hi, 0) == 3 && rl_recv(router, hi, sizeof hi, 0) == 2);
    rl_iovec_t rf[4] = {{"cli", 3}, {"r1", 2}, {"cli", 3}, {"r2", 2}};
    size_t rp[2] = {2, 2};
    CHECK(rl_send_multipart_batch(router, rf, rp, 2, 0) == 2);
    for (int i = 0; i < 2; i++) {
        char r[4];
        CHECK(rl_recv(dealer, r, sizeof r, 0) == 2 && r[0] == 'r' && r[1] == '1' + i);
        CHECK(get_int(dealer, RL_RCVMORE) == 0);
    }
    CHECK(rl_close(router) == 0);
    CHECK(rl_close(dealer) == 0);

    /* PUB topic + payload pairs, sent once the subscription has arrived (seen on XPUB). */
    rl_socket_t *xpub, *sub;
    connect_pair(ctx, RL_XPUB, RL_SUB, NULL, &xpub, &sub);
    CHECK(rl_setsockopt(sub, RL_SUBSCRIBE, "t1", 2) == 0);
    char s[8];
    CHECK(rl_recv(xpub, s, sizeof s, 0) == 3 && memcmp(s, "\001t1", 3) == 0);
    rl_iovec_t tp[6] = {{"t1", 2}, {"x", 1}, {"t2", 2}, {"y", 1}, {"t1", 2}, {"z", 1}};
    size_t two[3] = {2, 2, 2};
    CHECK(rl_send_multipart_batch(xpub, tp, two, 3, 0) == 3);
    const char *want[2] = {"x", "z"};
    for (int i = 0; i < 2; i++) {
        char t[4], p[4];
        CHECK(rl_recv(sub, t, sizeof t, 0) == 2 && memcmp(t, "t1", 2) == 0);
        CHECK(get_int(sub, RL_RCVMORE) == 1);
        CHECK(rl_recv(sub, p, sizeof p, 0) == 1 && p[0] == want[i][0]);
    }
    CHECK(rl_close(xpub) == 0);
    CHECK(rl_close(sub) == 0);
    CHECK(rl_ctx_term(ctx) == 0);
}

struct proxy_args {
    rl_socket_t *front, *back, *capture, *control;
    int rc, err;
};

static void *run_proxy(void *arg) {
    struct proxy_args *a = arg;
    if (a->control)
        a->rc = rl_proxy_steerable(a->front, a->back, a->capture, a->control);
    else
        a->rc = rl_proxy(a->front, a->back, a->capture);
    a->err = rl_errno();
    return NULL;
}

static rl_socket_t *bound(rl_ctx_t *ctx, int type, const char *ep) {
    rl_socket_t *s = rl_socket(ctx, type);
    CHECK(s != NULL);
    set_int(s, RL_LINGER, 0);
    set_int(s, RL_RCVTIMEO, TIMEOUT_MS);
    CHECK(rl_bind(s, ep) == 0);
    return s;
}

static rl_socket_t *connected(rl_ctx_t *ctx, int type, const char *ep) {
    rl_socket_t *s = rl_socket(ctx, type);
    CHECK(s != NULL);
    set_int(s, RL_LINGER, 0);
    set_int(s, RL_RCVTIMEO, TIMEOUT_MS);
    CHECK(rl_connect(s, ep) == 0);
    return s;
}

static void proxies(void) {
    rl_ctx_t *ctx = rl_ctx_new();
    /* Argument checks fail at once. */
    rl_socket_t *a = rl_socket(ctx, RL_PUSH), *b = rl_socket(ctx, RL_PUSH);
    CHECK_ERR(rl_proxy(NULL, b, NULL), EFAULT);
    CHECK_ERR(rl_proxy(a, a, NULL), EINVAL);
    CHECK_ERR(rl_proxy(a, b, NULL), ENOTSUP); /* neither can receive */
    CHECK_ERR(rl_proxy_steerable(a, b, NULL, NULL), EFAULT);
    CHECK(rl_close(a) == 0 && rl_close(b) == 0);

    /* A steerable PULL -> PUSH pipeline with a capture socket. */
    rl_socket_t *front = bound(ctx, RL_PULL, "inproc://bindings-front");
    rl_socket_t *back = bound(ctx, RL_PUSH, "inproc://bindings-back");
    rl_socket_t *cap = bound(ctx, RL_PUSH, "inproc://bindings-capture");
    rl_socket_t *ctl = bound(ctx, RL_PAIR, "inproc://bindings-control");
    rl_socket_t *producer = connected(ctx, RL_PUSH, "inproc://bindings-front");
    rl_socket_t *consumer = connected(ctx, RL_PULL, "inproc://bindings-back");
    rl_socket_t *tap = connected(ctx, RL_PULL, "inproc://bindings-capture");
    rl_socket_t *steer = connected(ctx, RL_PAIR, "inproc://bindings-control");
    struct proxy_args args = {front, back, cap, ctl, 0, 0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, run_proxy, &args) == 0);
    for (int i = 0; i < 100; i++)
        CHECK(rl_send(producer, "m", 1, 0) == 1);
    for (int i = 0; i < 100; i++) {
        char c;
        CHECK(rl_recv(consumer, &c, 1, 0) == 1 && c == 'm');
        CHECK(rl_recv(tap, &c, 1, 0) == 1 && c == 'm');
    }
    CHECK(rl_send(steer, "STATISTICS", 10, 0) == 10);
    uint64_t stats[8];
    for (int i = 0; i < 8; i++) {
        CHECK(rl_recv(steer, &stats[i], sizeof stats[i], 0) == 8);
        CHECK(get_int(steer, RL_RCVMORE) == (i < 7));
    }
    CHECK(stats[0] == 100 && stats[1] == 100 && stats[6] == 100 && stats[7] == 100);
    CHECK(rl_send(steer, "TERMINATE", 9, 0) == 9);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(args.rc == 0);

    /* rl_proxy runs until the context is shut down. */
    struct proxy_args plain = {front, back, NULL, NULL, 0, 0};
    CHECK(pthread_create(&t, NULL, run_proxy, &plain) == 0);
    CHECK(rl_send(producer, "n", 1, 0) == 1);
    char c;
    CHECK(rl_recv(consumer, &c, 1, 0) == 1 && c == 'n');
    CHECK(rl_ctx_shutdown(ctx) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(plain.rc == -1 && plain.err == RL_ETERM);

    rl_socket_t *all[8] = {front, back, cap, ctl, producer, consumer, tap, steer};
    for (int i = 0; i < 8; i++)
        CHECK(rl_close(all[i]) == 0);
    CHECK(rl_ctx_term(ctx) == 0);
}

int main(void) {
    readiness();
    recv_with();
    routed_repeat();
    multipart_batch();
    proxies();
    printf("bindings: ok\n");
    return 0;
}
