/* The service layer from C: a registry, a receiver registered with it, a discovery and a
 * gateway (one request/reply round trip, the reply named by its service), then a SPOT node
 * publishing to a local subscriber that receives with rl_spot_recv_many (one-part and
 * multipart messages). Everything is destroyed before rl_ctx_term (LeakSanitizer is on).
 * Exits 0 and prints "services: ok" on success. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <time.h>

#include "check.h"

/* Wait (polling, 20 s at most) until the gateway has `n` connected providers of `service`. */
static void wait_connected(rl_gateway_t *gw, const char *service, int n) {
    for (int i = 0; i < 20000 && rl_gateway_connection_count(gw, service) != n; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    CHECK(rl_gateway_connection_count(gw, service) == n);
}

static void gateway_round_trip(rl_ctx_t *ctx) {
    rl_registry_t *reg = rl_registry_new(ctx, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*");
    CHECK(reg != NULL);
    CHECK(rl_registry_start(reg) == 0);
    char pub_ep[256], router_ep[256];
    CHECK(rl_registry_pub_endpoint(reg, pub_ep, sizeof pub_ep) == 0);
    CHECK(rl_registry_router_endpoint(reg, router_ep, sizeof router_ep) == 0);
    CHECK(strncmp(pub_ep, "tcp://127.0.0.1:", 16) == 0);

    rl_receiver_t *rx = rl_receiver_new(ctx, "svc-1", 5);
    CHECK(rx != NULL);
    CHECK(rl_receiver_connect_registry(rx, router_ep) == 0);
    char bound[256];
    CHECK(rl_receiver_bind(rx, "tcp://127.0.0.1:*", bound, sizeof bound) == 0);
    CHECK(rl_receiver_register(rx, "echo", NULL, 1) == 0);
    rl_socket_t *router = rl_receiver_router(rx);
    CHECK(router != NULL);
    set_int(router, RL_RCVTIMEO, 10000);
    CHECK_ERR(rl_close(router), EINVAL);

    rl_discovery_t *disc = rl_discovery_new(ctx, RL_SERVICE_GATEWAY);
    CHECK(disc != NULL);
    CHECK(rl_discovery_connect_registry(disc, pub_ep) == 0);
    CHECK(rl_discovery_wait_available(disc, "echo", 10000) == 1);
    rl_provider_info_t info[2];
    size_t count = 2;
    CHECK(rl_discovery_get_providers(disc, "echo", info, &count) == 1 && count == 1);
    CHECK(strcmp(info[0].endpoint, bound) == 0);
    CHECK(info[0].routing_id_size == 5 && memcmp(info[0].routing_id, "svc-1", 5) == 0);

    rl_gateway_t *gw = rl_gateway_new(ctx, disc, "gw", 2);
    CHECK(gw != NULL);
    wait_connected(gw, "echo", 1);
    const void *parts[2] = {"hello", "world"};
    size_t lens[2] = {5, 5};
    CHECK(rl_gateway_send(gw, "echo", parts, lens, 2, 0) == 0);

    /* The receiver: [gateway id][hello][world] in, [gateway id][hello world] out. */
    char id[256], a[16], b[16];
    int idlen = rl_recv(router, id, sizeof id, 0);
    CHECK(idlen == 2 && memcmp(id, "gw", 2) == 0 && get_int(router, RL_RCVMORE) == 1);
    CHECK(rl_recv(router, a, sizeof a, 0) == 5 && get_int(router, RL_RCVMORE) == 1);
    CHECK(rl_recv(router, b, sizeof b, 0) == 5 && get_int(router, RL_RCVMORE) == 0);
    CHECK(memcmp(a, "hello", 5) == 0 && memcmp(b, "world", 5) == 0);
    CHECK(rl_send(router, id, (size_t)idlen, RL_SNDMORE) == idlen);
    CHECK(rl_send(router, "hello world", 11, 0) == 11);

    char service[64], buf[64];
    size_t plens[4];
    CHECK(rl_gateway_recv(gw, service, sizeof service, buf, sizeof buf, plens, 4, NULL, 0) == 1);
    CHECK(strcmp(service, "echo") == 0 && plens[0] == 11 && memcmp(buf, "hello world", 11) == 0);
    CHECK_ERR(rl_gateway_recv(gw, service, sizeof service, buf, sizeof buf, plens, 4, NULL,
                              RL_DONTWAIT),
              EAGAIN);
    CHECK_ERR(rl_gateway_send(gw, "missing", parts, lens, 2, 0), EHOSTUNREACH);

    CHECK(rl_gateway_destroy(&gw) == 0 && gw == NULL);
    CHECK(rl_receiver_destroy(&rx) == 0 && rx == NULL);
    CHECK(rl_discovery_destroy(&disc) == 0 && disc == NULL);
    CHECK(rl_registry_destroy(&reg) == 0 && reg == NULL);
}

static void spot_publish_recv_many(rl_ctx_t *ctx) {
    rl_spot_node_t *node = rl_spot_node_new(ctx);
    CHECK(node != NULL);
    char ep[256];
    CHECK(rl_spot_node_bind(node, "tcp://127.0.0.1:*", ep, sizeof ep) == 0);
    rl_spot_sub_t *sub = rl_spot_sub_new(node);
    CHECK(sub != NULL);
    CHECK(rl_spot_sub_subscribe_pattern(sub, "news.*") == 0);

    CHECK(rl_spot_publish_many_const(node, "news.a", 6, "abc", 3, 3) == 3);
    const void *parts[2] = {"x", "yz"};
    size_t lens[2] = {1, 2};
    CHECK(rl_spot_publish(node, "news.b", 6, parts, lens, 2, 0) == 0);
    CHECK_ERR(rl_spot_publish(node, "news.b", 6, parts, lens, 2, RL_DONTWAIT), ENOTSUP);

    char topics[64], payload[64];
    size_t topic_lens[8], payload_lens[8], part_counts[8];
    int n = rl_spot_recv_many(sub, topics, sizeof topics, topic_lens, payload, sizeof payload,
                              payload_lens, part_counts, 8, 1000);
    CHECK(n == 4);
    for (int i = 0; i < 3; i++)
        CHECK(topic_lens[i] == 6 && part_counts[i] == 1 && payload_lens[i] == 3);
    CHECK(topic_lens[3] == 6 && part_counts[3] == 2);
    CHECK(payload_lens[3] == 1 && payload_lens[4] == 2);
    CHECK(memcmp(topics, "news.anews.anews.anews.b", 24) == 0);
    CHECK(memcmp(payload, "abcabcabcxyz", 12) == 0);
    CHECK_ERR(rl_spot_recv_many(sub, topics, sizeof topics, topic_lens, payload,
                                sizeof payload, payload_lens, NULL, 8, 0),
              EAGAIN);

    /* The node may go first: the subscriber stays valid until destroyed. */
    CHECK(rl_spot_node_destroy(&node) == 0 && node == NULL);
    CHECK(rl_spot_sub_unsubscribe(sub, "news.*") == 0);
    CHECK(rl_spot_sub_destroy(&sub) == 0 && sub == NULL);
}

int main(void) {
    rl_ctx_t *ctx = rl_ctx_new();
    CHECK(ctx != NULL);
    gateway_round_trip(ctx);
    spot_publish_recv_many(ctx);
    CHECK(rl_ctx_term(ctx) == 0);
    printf("services: ok\n");
    return 0;
}
