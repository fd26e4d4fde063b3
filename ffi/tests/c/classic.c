/* The classic (libzmq-shaped) API from C: contexts, sockets, options, send/recv, messages,
 * errors. Exits 0 and prints "classic: ok" on success. */
#include <errno.h>
#include <stdint.h>

#include <unistd.h>

#include "check.h"

static int freed = 0;
static void free_cb(void *data, void *hint) {
    CHECK(hint == (void *)&freed);
    free(data);
    freed++;
}

static void errors_and_version(void) {
    int major = -1, minor = -1, patch = -1;
    rl_version(&major, &minor, &patch);
    CHECK(major == RL_VERSION_MAJOR && minor == RL_VERSION_MINOR && patch == RL_VERSION_PATCH);
    rl_version(NULL, NULL, NULL);
    CHECK(strcmp(rl_strerror(RL_ETERM), "Context was terminated") == 0);
    CHECK(strlen(rl_strerror(EAGAIN)) > 0);
    CHECK(strlen(rl_strerror(RL_EFSM)) > 0);
    CHECK_ERR(rl_close(NULL), EFAULT);
    CHECK(errno == EFAULT);
    CHECK(rl_socket(NULL, RL_PAIR) == NULL && rl_errno() == EFAULT);
    CHECK_ERR(rl_ctx_term(NULL), EFAULT);
    CHECK_ERR(rl_ctx_shutdown(NULL), EFAULT);
    CHECK_ERR(rl_ctx_set(NULL, RL_IO_THREADS, 1), EFAULT);
    CHECK_ERR(rl_ctx_get(NULL, RL_IO_THREADS), EFAULT);
    CHECK_ERR(rl_send(NULL, "x", 1, 0), EFAULT);
    CHECK_ERR(rl_recv(NULL, NULL, 0, 0), EFAULT);
    CHECK_ERR(rl_flush(NULL), EFAULT);
    CHECK_ERR(rl_bind(NULL, "tcp://127.0.0.1:*"), EFAULT);
}

static void context_and_handles(void) {
    rl_ctx_t *ctx = rl_ctx_new();
    CHECK(ctx != NULL);
    CHECK(rl_ctx_get(ctx, RL_IO_THREADS) == 1);
    CHECK(rl_ctx_get(ctx, RL_MSG_T_SIZE) == (int)sizeof(rl_msg_t));
    CHECK_ERR(rl_ctx_get(ctx, 4242), EINVAL);
    CHECK_ERR(rl_ctx_set(ctx, RL_IO_THREADS, -3), EINVAL);
    CHECK(rl_ctx_set(ctx, RL_IO_THREADS, 1) == 0);
    CHECK(rl_ctx_set(ctx, RL_CTX_IPV6, 0) == 0);
    CHECK(rl_ctx_get(ctx, RL_CTX_IPV6) == 0);
    CHECK(rl_socket(ctx, 99) == NULL && rl_errno() == EINVAL);
    /* Every libzmq socket type exists. */
    for (int t = RL_PAIR; t <= RL_STREAM; t++) {
        rl_socket_t *x = rl_socket(ctx, t);
        CHECK(x != NULL);
        CHECK(get_int(x, RL_TYPE) == t);
        CHECK(rl_close(x) == 0);
    }
    rl_socket_t *s = rl_socket(ctx, RL_DEALER);
    CHECK(s != NULL);
    int backend = rl_ctx_get(ctx, RL_BACKEND);
    CHECK(backend == RL_BACKEND_URING || backend == RL_BACKEND_EPOLL);
    CHECK_ERR(rl_ctx_set(ctx, RL_IO_THREADS, 2), EINVAL); /* built already */
    /* A context handle is not a socket and vice versa. */
    CHECK_ERR(rl_send((rl_socket_t *)ctx, "x", 1, 0), ENOTSOCK);
    CHECK_ERR(rl_ctx_get((rl_ctx_t *)s, RL_IO_THREADS), EFAULT);
    CHECK_ERR(rl_bind(s, "bogus://nowhere"), EPROTONOSUPPORT);
    CHECK_ERR(rl_bind(s, "tcp://"), EINVAL);
    CHECK_ERR(rl_unbind(s, "tcp://127.0.0.1:5"), ENOENT);
    CHECK_ERR(rl_disconnect(s, "tcp://127.0.0.1:5"), ENOENT);
    CHECK(rl_connect(s, "tcp://127.0.0.1:9") == 0);
    CHECK(rl_disconnect(s, "tcp://127.0.0.1:9") == 0);
    CHECK(rl_bind(s, "tcp://127.0.0.1:*") == 0);
    char ep[256];
    size_t len = sizeof ep;
    CHECK(rl_getsockopt(s, RL_LAST_ENDPOINT, ep, &len) == 0);
    CHECK(rl_unbind(s, ep) == 0);
    len = 3; /* too small */
    CHECK_ERR(rl_getsockopt(s, RL_LAST_ENDPOINT, ep, &len), EINVAL);
    CHECK_ERR(rl_getsockopt(s, RL_LINGER, ep, NULL), EFAULT);
    CHECK(rl_close(s) == 0);
    CHECK_ERR(rl_close(s), ENOTSOCK);
    CHECK_ERR(rl_send(s, "x", 1, 0), ENOTSOCK);
    CHECK_ERR(rl_setsockopt(s, RL_LINGER, &len, sizeof(int)), ENOTSOCK);
    /* Shutdown then term. */
    rl_socket_t *p = rl_socket(ctx, RL_PAIR);
    CHECK(p != NULL);
    CHECK(rl_ctx_shutdown(ctx) == 0);
    char b[4];
    CHECK_ERR(rl_recv(p, b, sizeof b, 0), RL_ETERM);
    CHECK(rl_socket(ctx, RL_PAIR) == NULL && rl_errno() == RL_ETERM);
    CHECK(rl_close(p) == 0);
    CHECK(rl_ctx_term(ctx) == 0);
    CHECK_ERR(rl_ctx_term(ctx), EFAULT);
}

static void options(void) {
    rl_ctx_t *ctx = rl_ctx_new();
    rl_socket_t *r = rl_socket(ctx, RL_ROUTER);
    rl_socket_t *d = rl_socket(ctx, RL_DEALER);
    CHECK(r && d);
    const int ints[][2] = {
        {RL_SNDHWM, 11},          {RL_RCVHWM, 12},          {RL_LINGER, 0},
        {RL_RCVTIMEO, 100},       {RL_SNDTIMEO, 200},       {RL_ROUTER_MANDATORY, 1},
        {RL_ROUTER_HANDOVER, 1},  {RL_PROBE_ROUTER, 1},     {RL_RECONNECT_IVL, 10},
        {RL_RECONNECT_IVL_MAX, 90}, {RL_IMMEDIATE, 1},      {RL_HEARTBEAT_IVL, 100},
        {RL_HEARTBEAT_TTL, 300},  {RL_HEARTBEAT_TIMEOUT, 400}, {RL_HANDSHAKE_IVL, 5000},
        {RL_SNDBUF, 1 << 16},     {RL_RCVBUF, 1 << 17},     {RL_IPV6, 1},
        {RL_BACKLOG, 64},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        set_int(r, ints[i][0], ints[i][1]);
        CHECK(get_int(r, ints[i][0]) == ints[i][1]);
    }
    CHECK(get_int(r, RL_TYPE) == RL_ROUTER);
    CHECK(get_int(d, RL_TYPE) == RL_DEALER);
    CHECK(get_int(d, RL_RCVMORE) == 0);
    CHECK(get_int(d, RL_LINGER) == -1); /* libzmq default */
    CHECK(get_int(d, RL_SNDHWM) == 1000);
    int one = 1;
    CHECK_ERR(rl_setsockopt(d, RL_ROUTER_MANDATORY, &one, sizeof one), EINVAL);
    CHECK_ERR(rl_setsockopt(d, RL_TYPE, &one, sizeof one), EINVAL);
    CHECK_ERR(rl_setsockopt(d, 12345, &one, sizeof one), EINVAL);
    CHECK_ERR(rl_setsockopt(d, RL_LINGER, &one, 2), EINVAL);
    CHECK_ERR(rl_setsockopt(d, RL_LINGER, NULL, sizeof one), EFAULT);
    int64_t mx = 1 << 20, got = 0;
    CHECK(rl_setsockopt(d, RL_MAXMSGSIZE, &mx, sizeof mx) == 0);
    size_t len = sizeof got;
    CHECK(rl_getsockopt(d, RL_MAXMSGSIZE, &got, &len) == 0 && got == mx && len == 8);
    CHECK(rl_setsockopt(d, RL_ROUTING_ID, "me", 2) == 0);
    char id[255];
    len = sizeof id;
    CHECK(rl_getsockopt(d, RL_ROUTING_ID, id, &len) == 0 && len == 2 && memcmp(id, "me", 2) == 0);
    CHECK_ERR(rl_setsockopt(d, RL_ROUTING_ID, "", 0), EINVAL);
    CHECK(rl_setsockopt(r, RL_CONNECT_ROUTING_ID, "peer", 4) == 0);
    len = sizeof id;
    CHECK_ERR(rl_getsockopt(r, RL_CONNECT_ROUTING_ID, id, &len), EINVAL);
    len = sizeof id;
    CHECK(rl_getsockopt(d, RL_LAST_ENDPOINT, id, &len) == 0 && len == 1 && id[0] == 0);
    CHECK(rl_close(r) == 0 && rl_close(d) == 0);
    CHECK(rl_ctx_term(ctx) == 0);
}

static void send_recv(int io_threads) {
    rl_ctx_t *ctx = rl_ctx_new();
    CHECK(rl_ctx_set(ctx, RL_IO_THREADS, io_threads) == 0);
    rl_socket_t *srv, *cli;
    connect_pair(ctx, RL_PAIR, RL_PAIR, NULL, &srv, &cli);
    char buf[64];
    CHECK(rl_send(cli, "hello", 5, 0) == 5);
    CHECK(rl_send_const(cli, "world!", 6, RL_SNDMORE) == 6);
    CHECK(rl_send(cli, NULL, 0, 0) == 0);
    CHECK(rl_flush(cli) == 0);
    memset(buf, 0, sizeof buf);
    CHECK(rl_recv(srv, buf, sizeof buf, 0) == 5 && memcmp(buf, "hello", 5) == 0);
    CHECK(get_int(srv, RL_RCVMORE) == 0);
    CHECK(rl_recv(srv, buf, 3, 0) == 6 && memcmp(buf, "wor", 3) == 0); /* truncated */
    CHECK(get_int(srv, RL_RCVMORE) == 1);
    CHECK(rl_recv(srv, buf, sizeof buf, 0) == 0);
    CHECK(get_int(srv, RL_RCVMORE) == 0);
    CHECK_ERR(rl_recv(srv, buf, sizeof buf, RL_DONTWAIT), EAGAIN);
    set_int(srv, RL_RCVTIMEO, 20);
    CHECK_ERR(rl_recv(srv, buf, sizeof buf, 0), EAGAIN);

    /* Messages. */
    rl_msg_t a, b, c;
    CHECK_ERR(rl_msg_init(NULL), EFAULT);
    CHECK(rl_msg_init(&a) == 0 && rl_msg_size(&a) == 0 && rl_msg_data(&a) != NULL);
    CHECK(rl_msg_close(&a) == 0);
    CHECK_ERR(rl_msg_close(&a), EFAULT); /* closed */
    CHECK(rl_msg_data(&a) == NULL && rl_errno() == EFAULT);
    freed = 0;
    char *heap = malloc(4);
    memcpy(heap, "data", 4);
    CHECK(rl_msg_init_data(&a, heap, 4, free_cb, &freed) == 0);
    CHECK(rl_msg_init(&b) == 0);
    CHECK(rl_msg_copy(&b, &a) == 0);
    CHECK(rl_msg_data(&b) == heap && rl_msg_size(&b) == 4);
    CHECK(rl_msg_close(&a) == 0 && freed == 0);
    CHECK(rl_msg_init(&a) == 0);
    CHECK(rl_msg_move(&a, &b) == 0 && rl_msg_size(&b) == 0 && rl_msg_size(&a) == 4);
    CHECK(rl_msg_send(&a, cli, RL_SNDMORE) == 4);
    CHECK(freed == 1 && rl_msg_size(&a) == 0);
    CHECK(rl_msg_close(&a) == 0);
    CHECK(rl_msg_init_size(&a, 3) == 0);
    memcpy(rl_msg_data(&a), "end", 3);
    CHECK(rl_msg_init(&c) == 0);
    CHECK(rl_msg_copy(&c, &a) == 0);
    CHECK(rl_msg_send(&a, cli, 0) == 3);
    CHECK(rl_msg_size(&c) == 3 && memcmp(rl_msg_data(&c), "end", 3) == 0);
    CHECK(rl_msg_close(&c) == 0 && rl_msg_close(&a) == 0);
    CHECK(rl_msg_init_data(&c, NULL, 0, NULL, NULL) == 0 && rl_msg_size(&c) == 0);
    CHECK(rl_msg_close(&c) == 0);
    CHECK_ERR(rl_msg_init_data(&c, NULL, 5, NULL, NULL), EFAULT);
    CHECK(rl_flush(cli) == 0);
    set_int(srv, RL_RCVTIMEO, 10000);
    CHECK(rl_msg_recv(&b, srv, 0) == 4 && memcmp(rl_msg_data(&b), "data", 4) == 0);
    CHECK(rl_msg_more(&b) == 1 && rl_msg_get(&b, RL_MORE) == 1);
    CHECK_ERR(rl_msg_get(&b, 999), EINVAL);
    CHECK(rl_msg_recv(&b, srv, 0) == 3 && memcmp(rl_msg_data(&b), "end", 3) == 0);
    CHECK(rl_msg_more(&b) == 0);
    CHECK_ERR(rl_msg_recv(&b, srv, RL_DONTWAIT), EAGAIN);
    CHECK(rl_msg_size(&b) == 3); /* unchanged */
    CHECK_ERR(rl_msg_send(&b, NULL, 0), EFAULT);
    CHECK(rl_msg_close(&b) == 0);

    CHECK(rl_close(srv) == 0 && rl_close(cli) == 0);
    CHECK(rl_ctx_term(ctx) == 0);
}

/* rl_poll over a socket and a pipe, threaded and inline. */
static void polling(int io_threads) {
    rl_ctx_t *ctx = rl_ctx_new();
    CHECK(rl_ctx_set(ctx, RL_IO_THREADS, io_threads) == 0);
    rl_socket_t *srv, *cli;
    connect_pair(ctx, RL_PAIR, RL_PAIR, NULL, &srv, &cli);
    int fds[2];
    CHECK(pipe(fds) == 0);
    rl_pollitem_t items[2] = {{srv, 0, RL_POLLIN, -1}, {NULL, fds[0], RL_POLLIN, -1}};
    CHECK(rl_poll(items, 2, 0) == 0);
    CHECK(items[0].revents == 0 && items[1].revents == 0);
    CHECK(rl_send(cli, "p", 1, 0) == 1);
    CHECK(rl_poll(items, 2, 10000) == 1);
    CHECK(items[0].revents == RL_POLLIN && items[1].revents == 0);
    char buf[8];
    CHECK(rl_recv(srv, buf, sizeof buf, 0) == 1 && buf[0] == 'p');
    CHECK(write(fds[1], "!", 1) == 1);
    CHECK(rl_poll(items, 2, 10000) == 1);
    CHECK(items[0].revents == 0 && items[1].revents == RL_POLLIN);
    rl_pollitem_t twice[2] = {{srv, 0, RL_POLLIN, 0}, {srv, 0, RL_POLLIN, 0}};
    CHECK_ERR(rl_poll(twice, 2, 0), EINVAL);
    CHECK_ERR(rl_poll(NULL, 1, 0), EFAULT);
    close(fds[0]);
    close(fds[1]);
    CHECK(rl_close(srv) == 0 && rl_close(cli) == 0);
    CHECK(rl_ctx_term(ctx) == 0);
}

int main(void) {
    errors_and_version();
    context_and_handles();
    options();
    send_recv(1);
    send_recv(0);
    polling(1);
    polling(0);
    printf("classic: ok\n");
    return 0;
}
