/* Shared helpers for the C tests: every check aborts the program with a message. */
#ifndef RL_TEST_CHECK_H
#define RL_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringlink.h"

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s (rl_errno %d: %s)\n", __FILE__, \
                    __LINE__, #cond, rl_errno(), rl_strerror(rl_errno()));           \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)

/* rc must be -1 with error number e. */
#define CHECK_ERR(rc, e)                                                            \
    do {                                                                            \
        long rc_ = (long)(rc);                                                      \
        if (rc_ != -1 || rl_errno() != (e)) {                                       \
            fprintf(stderr, "%s:%d: expected -1/%s, got %ld/%d (%s)\n", __FILE__,   \
                    __LINE__, #e, rc_, rl_errno(), rl_strerror(rl_errno()));        \
            exit(1);                                                                \
        }                                                                           \
    } while (0)

static inline void set_int(rl_socket_t *s, int opt, int v) {
    CHECK(rl_setsockopt(s, opt, &v, sizeof v) == 0);
}

static inline int get_int(rl_socket_t *s, int opt) {
    int v = -12345;
    size_t len = sizeof v;
    CHECK(rl_getsockopt(s, opt, &v, &len) == 0);
    CHECK(len == sizeof v);
    return v;
}

/* A bound server and a connected client with 10 s receive timeouts and LINGER 0. */
static inline void connect_pair(rl_ctx_t *ctx, int server_type, int client_type,
                                const char *client_id, rl_socket_t **server,
                                rl_socket_t **client) {
    *server = rl_socket(ctx, server_type);
    *client = rl_socket(ctx, client_type);
    CHECK(*server != NULL && *client != NULL);
    set_int(*server, RL_RCVTIMEO, 10000);
    set_int(*client, RL_RCVTIMEO, 10000);
    set_int(*server, RL_LINGER, 0);
    set_int(*client, RL_LINGER, 0);
    if (client_id)
        CHECK(rl_setsockopt(*client, RL_ROUTING_ID, client_id, strlen(client_id)) == 0);
    CHECK(rl_bind(*server, "tcp://127.0.0.1:*") == 0);
    char ep[256];
    size_t len = sizeof ep;
    CHECK(rl_getsockopt(*server, RL_LAST_ENDPOINT, ep, &len) == 0);
    CHECK(len == strlen(ep) + 1);
    CHECK(strncmp(ep, "tcp://127.0.0.1:", 16) == 0);
    CHECK(rl_connect(*client, ep) == 0);
}

#endif
