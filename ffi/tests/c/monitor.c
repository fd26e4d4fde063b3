/* Socket monitors from C: LISTENING, ACCEPTED, CONNECTED, HANDSHAKE_SUCCEEDED (with the
 * peer's routing id), DISCONNECTED, BIND_FAILED, CLOSED, MONITOR_STOPPED; event masks;
 * RL_DONTWAIT on an empty queue; the descriptor in a poll loop; NULL and closed handles.
 * Every wait has a 10 s limit, no sleeps. Prints "monitor: ok". */
#include <errno.h>
#include <poll.h>

#include "check.h"

#define WAIT_MS 10000

/* The next event with bit `code` (others are skipped). */
static rl_monitor_event_t expect_event(rl_monitor_t *m, int code) {
    rl_monitor_event_t ev;
    for (;;) {
        memset(&ev, 0x5a, sizeof ev);
        int rc = rl_monitor_recv(m, &ev, 0, WAIT_MS);
        if (rc != 0) {
            fprintf(stderr, "no event %#x within %d ms\n", code, WAIT_MS);
            CHECK(rc == 0);
        }
        CHECK(memchr(ev.endpoint, 0, sizeof ev.endpoint) != NULL);
        CHECK(memchr(ev.detail, 0, sizeof ev.detail) != NULL);
        CHECK(ev.peer_routing_id_size <= sizeof ev.peer_routing_id);
        if (ev.event == code)
            return ev;
    }
}

static void lifecycle(void) {
    rl_ctx_t *ctx = rl_ctx_new();
    CHECK(ctx != NULL);
    rl_socket_t *srv = rl_socket(ctx, RL_ROUTER);
    rl_socket_t *cli = rl_socket(ctx, RL_DEALER);
    CHECK(srv != NULL && cli != NULL);
    set_int(srv, RL_LINGER, 0);
    set_int(cli, RL_LINGER, 0);
    set_int(srv, RL_RCVTIMEO, WAIT_MS);

    rl_monitor_t *sm = rl_socket_monitor(srv, RL_EVENT_ALL);
    CHECK(sm != NULL);
    CHECK(rl_socket_monitor(srv, RL_EVENT_ALL) == NULL && rl_errno() == EEXIST);
    CHECK(rl_bind(srv, "tcp://127.0.0.1:*") == 0);
    char ep[256];
    size_t len = sizeof ep;
    CHECK(rl_getsockopt(srv, RL_LAST_ENDPOINT, ep, &len) == 0);
    rl_monitor_event_t ev = expect_event(sm, RL_EVENT_LISTENING);
    CHECK(strcmp(ev.endpoint, ep) == 0);
    CHECK(ev.value == -1 && ev.reason == 0 && ev.peer_routing_id_size == 0);

    /* Client: only CONNECTED and HANDSHAKE_SUCCEEDED pass its mask, in that order. */
    CHECK(rl_setsockopt(cli, RL_ROUTING_ID, "c-client", 8) == 0);
    rl_monitor_t *cm = rl_socket_monitor(cli, RL_EVENT_CONNECTED | RL_EVENT_HANDSHAKE_SUCCEEDED);
    CHECK(cm != NULL);
    CHECK_ERR(rl_monitor_recv(cm, &ev, RL_DONTWAIT, -1), EAGAIN);
    CHECK(rl_connect(cli, ep) == 0);
    CHECK(rl_monitor_recv(cm, &ev, 0, WAIT_MS) == 0);
    CHECK(ev.event == RL_EVENT_CONNECTED && strcmp(ev.endpoint, ep) == 0);
    CHECK(rl_monitor_recv(cm, &ev, 0, WAIT_MS) == 0);
    CHECK(ev.event == RL_EVENT_HANDSHAKE_SUCCEEDED);
    CHECK_ERR(rl_monitor_recv(cm, &ev, RL_DONTWAIT, WAIT_MS), EAGAIN);
    CHECK_ERR(rl_monitor_recv(cm, &ev, 0, 0), EAGAIN);

    /* Server: ACCEPTED, then HANDSHAKE_SUCCEEDED with the client's routing id. */
    ev = expect_event(sm, RL_EVENT_ACCEPTED);
    CHECK(strcmp(ev.endpoint, ep) == 0);
    ev = expect_event(sm, RL_EVENT_HANDSHAKE_SUCCEEDED);
    CHECK(ev.peer_routing_id_size == 8 && memcmp(ev.peer_routing_id, "c-client", 8) == 0);

    /* Messages flow as usual while monitored. */
    CHECK(rl_send(cli, "hi", 2, 0) == 2);
    char buf[16];
    CHECK(rl_recv(srv, buf, sizeof buf, 0) == 8);
    CHECK(rl_recv(srv, buf, sizeof buf, 0) == 2);

    /* The client closes: its monitor gets MONITOR_STOPPED (whatever the mask), then
     * RL_ETERM at once; the server's descriptor polls readable and the drain finds a remote
     * DISCONNECTED. */
    int fd = rl_monitor_fd(sm);
    CHECK(fd >= 0);
    while (rl_monitor_recv(sm, &ev, RL_DONTWAIT, 0) == 0) {
    }
    CHECK(rl_errno() == EAGAIN);
    CHECK(rl_close(cli) == 0);
    ev = expect_event(cm, RL_EVENT_MONITOR_STOPPED);
    CHECK(ev.endpoint[0] == 0);
    CHECK_ERR(rl_monitor_recv(cm, &ev, 0, -1), RL_ETERM);
    CHECK(rl_monitor_close(cm) == 0);
    CHECK_ERR(rl_monitor_close(cm), EFAULT);
    CHECK_ERR(rl_monitor_recv(cm, &ev, 0, 0), EFAULT);
    int disconnected = 0;
    while (!disconnected) {
        struct pollfd p = {fd, POLLIN, 0};
        CHECK(poll(&p, 1, WAIT_MS) == 1);
        while (rl_monitor_recv(sm, &ev, RL_DONTWAIT, 0) == 0) {
            if (ev.event == RL_EVENT_DISCONNECTED) {
                CHECK(ev.reason == RL_DISCONNECT_REMOTE && ev.value == -1);
                CHECK(strlen(ev.detail) > 0);
                disconnected = 1;
            }
        }
        CHECK(rl_errno() == EAGAIN);
    }

    /* Unbind: the listener's CLOSED. The same fd works as a raw rl_poll entry. */
    CHECK(rl_unbind(srv, ep) == 0);
    rl_pollitem_t item = {NULL, fd, RL_POLLIN, 0};
    CHECK(rl_poll(&item, 1, WAIT_MS) == 1 && item.revents == RL_POLLIN);
    ev = expect_event(sm, RL_EVENT_CLOSED);
    CHECK(strcmp(ev.endpoint, ep) == 0);

    /* A second bind to a taken address: BIND_FAILED with the errno; the mask filters. */
    rl_socket_t *a = rl_socket(ctx, RL_PAIR);
    rl_socket_t *b = rl_socket(ctx, RL_PAIR);
    set_int(a, RL_LINGER, 0);
    set_int(b, RL_LINGER, 0);
    CHECK(rl_bind(a, "tcp://127.0.0.1:*") == 0);
    len = sizeof ep;
    CHECK(rl_getsockopt(a, RL_LAST_ENDPOINT, ep, &len) == 0);
    rl_monitor_t *bm = rl_socket_monitor(b, RL_EVENT_BIND_FAILED);
    CHECK(bm != NULL);
    CHECK_ERR(rl_bind(b, ep), EADDRINUSE);
    ev = expect_event(bm, RL_EVENT_BIND_FAILED);
    CHECK(ev.value == EADDRINUSE);
    CHECK(rl_bind(b, "tcp://127.0.0.1:*") == 0); /* LISTENING: not in the mask */
    CHECK_ERR(rl_monitor_recv(bm, &ev, 0, 50), EAGAIN);

    /* Close sockets first and the monitors after the context: both orders are fine. */
    CHECK(rl_close(a) == 0);
    CHECK(rl_close(b) == 0);
    expect_event(bm, RL_EVENT_MONITOR_STOPPED);
    CHECK(rl_monitor_close(bm) == 0);
    /* A closed monitor lets the socket get a new one, which starts empty. */
    CHECK(rl_monitor_close(sm) == 0);
    sm = rl_socket_monitor(srv, RL_EVENT_ALL);
    CHECK(sm != NULL);
    CHECK_ERR(rl_monitor_recv(sm, &ev, RL_DONTWAIT, 0), EAGAIN);
    CHECK(rl_close(srv) == 0);
    CHECK(rl_ctx_term(ctx) == 0);
    expect_event(sm, RL_EVENT_MONITOR_STOPPED);
    CHECK(rl_monitor_close(sm) == 0);
}

static void bad_handles(void) {
    rl_monitor_event_t ev;
    CHECK(rl_socket_monitor(NULL, RL_EVENT_ALL) == NULL && rl_errno() == EFAULT);
    CHECK_ERR(rl_monitor_recv(NULL, &ev, 0, 0), EFAULT);
    CHECK_ERR(rl_monitor_recv(NULL, &ev, RL_DONTWAIT, 0), EFAULT);
    CHECK_ERR(rl_monitor_fd(NULL), EFAULT);
    CHECK_ERR(rl_monitor_close(NULL), EFAULT);

    rl_ctx_t *ctx = rl_ctx_new();
    rl_socket_t *s = rl_socket(ctx, RL_PAIR);
    CHECK(s != NULL);
    CHECK(rl_socket_monitor(s, 0) == NULL && rl_errno() == EINVAL);
    rl_monitor_t *m = rl_socket_monitor(s, RL_EVENT_ALL);
    CHECK(m != NULL);
    CHECK_ERR(rl_monitor_recv(m, NULL, 0, 0), EFAULT);
    /* Handles of other kinds. */
    CHECK_ERR(rl_monitor_fd((rl_monitor_t *)s), EFAULT);
    CHECK_ERR(rl_monitor_fd((rl_monitor_t *)ctx), EFAULT);
    CHECK_ERR(rl_send((rl_socket_t *)m, "x", 1, 0), ENOTSOCK);
    CHECK(rl_close(s) == 0);
    CHECK(rl_socket_monitor(s, RL_EVENT_ALL) == NULL && rl_errno() == ENOTSOCK);
    expect_event(m, RL_EVENT_MONITOR_STOPPED);
    CHECK(rl_monitor_close(m) == 0);
    CHECK_ERR(rl_monitor_fd(m), EFAULT);
    CHECK(rl_ctx_term(ctx) == 0);
}

int main(void) {
    CHECK(RL_EVENT_CONNECTED == 1 && RL_EVENT_CONNECT_DELAYED == 2 &&
          RL_EVENT_CONNECT_RETRIED == 4 && RL_EVENT_LISTENING == 8 &&
          RL_EVENT_BIND_FAILED == 16 && RL_EVENT_ACCEPTED == 32 &&
          RL_EVENT_ACCEPT_FAILED == 64 && RL_EVENT_CLOSED == 128 &&
          RL_EVENT_CLOSE_FAILED == 256 && RL_EVENT_DISCONNECTED == 512 &&
          RL_EVENT_MONITOR_STOPPED == 1024 && RL_EVENT_HANDSHAKE_FAILED_NO_DETAIL == 2048 &&
          RL_EVENT_HANDSHAKE_SUCCEEDED == 4096 && RL_EVENT_HANDSHAKE_FAILED_PROTOCOL == 8192);
    lifecycle();
    bad_handles();
    printf("monitor: ok\n");
    return 0;
}
