/* The batch API from C: send many / repeat / routed pairs, receive many, drain, parts,
 * routed receive; edge cases: empty queue, message larger than the buffer, exactly-full
 * buffer, message that does not fit the rest, multipart. Prints "batch: ok". */
#include <errno.h>

#include "check.h"

#define MAXN 64

/* Receive exactly `want` single-frame messages with rl_recv_batch into a `cap`-byte buffer,
 * appending their bytes to out/lens_out. */
static void recv_n(rl_socket_t *s, size_t cap, int want, char *out, size_t *lens_out) {
    char *buf = malloc(cap ? cap : 1);
    size_t lens[MAXN];
    int got = 0;
    size_t off = 0;
    while (got < want) {
        int n = rl_recv_batch(s, buf, cap, lens, MAXN, NULL, 0);
        CHECK(n >= 1 && got + n <= want);
        size_t used = 0;
        for (int i = 0; i < n; i++) {
            lens_out[got + i] = lens[i];
            used += lens[i];
        }
        CHECK(used <= cap);
        memcpy(out + off, buf, used);
        off += used;
        got += n;
    }
    free(buf);
}

static void pair_batches(int io_threads) {
    rl_ctx_t *ctx = rl_ctx_new();
    CHECK(rl_ctx_set(ctx, RL_IO_THREADS, io_threads) == 0);
    rl_socket_t *srv, *cli;
    connect_pair(ctx, RL_PAIR, RL_PAIR, NULL, &srv, &cli);
    char buf[256];
    size_t lens[MAXN], parts[MAXN], needed = 0;

    /* Empty queue. */
    CHECK(rl_drain(srv, buf, sizeof buf, lens, MAXN, &needed) == 0);
    CHECK_ERR(rl_recv_batch(srv, buf, sizeof buf, lens, MAXN, NULL, RL_DONTWAIT), EAGAIN);
    CHECK(rl_drain_parts(srv, buf, sizeof buf, lens, parts, MAXN, NULL) == 0);
    CHECK_ERR(rl_recv_batch(srv, buf, sizeof buf, lens, 0, NULL, 0), EINVAL);
    CHECK_ERR(rl_recv_batch(srv, buf, sizeof buf, NULL, MAXN, NULL, 0), EFAULT);
    CHECK_ERR(rl_drain(NULL, buf, sizeof buf, lens, MAXN, NULL), EFAULT);

    /* Array send: 4 messages of different sizes, one empty. */
    rl_iovec_t iov[4] = {{"alpha", 5}, {"be", 2}, {NULL, 0}, {"gamma!", 6}};
    CHECK(rl_send_batch(cli, iov, 4, 0) == 4);
    CHECK(rl_send_batch(cli, iov, 0, 0) == 0);
    CHECK_ERR(rl_send_batch(cli, iov, 4, RL_SNDMORE), EINVAL);
    CHECK_ERR(rl_send_batch(cli, NULL, 2, 0), EFAULT);
    char out[1024];
    size_t out_lens[MAXN];
    recv_n(srv, 13, 4, out, out_lens); /* exactly full: 5+2+0+6 = 13 */
    CHECK(out_lens[0] == 5 && out_lens[1] == 2 && out_lens[2] == 0 && out_lens[3] == 6);
    CHECK(memcmp(out, "alphabegamma!", 13) == 0);

    /* Repeat: 10 x 8 bytes into a 24-byte buffer: at most 3 per call, none lost. */
    CHECK(rl_send_repeat(cli, "12345678", 8, 10, 0) == 10);
    recv_n(srv, 24, 10, out, out_lens);
    for (int i = 0; i < 10; i++)
        CHECK(out_lens[i] == 8 && memcmp(out + 8 * i, "12345678", 8) == 0);
    CHECK(rl_drain(srv, buf, sizeof buf, lens, MAXN, NULL) == 0);

    /* Larger than the whole buffer: EMSGSIZE + needed, stays queued; the next message that
     * does not fit the rest of a buffer stays queued too. */
    char big[100];
    memset(big, 'B', sizeof big);
    CHECK(rl_send(cli, big, sizeof big, 0) == 100);
    CHECK(rl_send(cli, "tail", 4, 0) == 4);
    CHECK_ERR(rl_recv_batch(srv, buf, 99, lens, MAXN, &needed, 0), EMSGSIZE);
    CHECK(needed == 100);
    CHECK_ERR(rl_recv_batch(srv, buf, 99, lens, MAXN, NULL, 0), EMSGSIZE); /* NULL needed ok */
    int n = rl_recv_batch(srv, buf, 102, lens, MAXN, NULL, 0);
    CHECK(n == 1 && lens[0] == 100 && memcmp(buf, big, 100) == 0);
    n = rl_recv_batch(srv, buf, 4, lens, 1, NULL, 0);
    CHECK(n == 1 && lens[0] == 4 && memcmp(buf, "tail", 4) == 0);

    /* Multipart: frame counts per message. */
    CHECK(rl_send(cli, "x", 1, RL_SNDMORE) == 1);
    CHECK(rl_send(cli, "yy", 2, RL_SNDMORE) == 2);
    CHECK(rl_send(cli, "zzz", 3, 0) == 3);
    CHECK(rl_send(cli, "one", 3, 0) == 3);
    CHECK(rl_send(cli, "p", 1, RL_SNDMORE) == 1);
    CHECK(rl_send(cli, NULL, 0, 0) == 0);
    size_t all_parts[8], all_lens[8], msgs = 0, frames = 0, bytes = 0;
    while (msgs < 3) {
        n = rl_recv_batch_parts(srv, buf, sizeof buf, lens, parts, MAXN, NULL, 0);
        CHECK(n >= 1 && msgs + (size_t)n <= 3);
        size_t f = 0;
        for (int i = 0; i < n; i++)
            f += parts[i];
        size_t used = 0;
        for (size_t i = 0; i < f; i++)
            used += lens[i];
        memcpy(all_parts + msgs, parts, n * sizeof(size_t));
        memcpy(all_lens + frames, lens, f * sizeof(size_t));
        memcpy(out + bytes, buf, used);
        msgs += n;
        frames += f;
        bytes += used;
    }
    CHECK(frames == 6 && bytes == 10 && memcmp(out, "xyyzzzonep", 10) == 0);
    CHECK(all_parts[0] == 3 && all_parts[1] == 1 && all_parts[2] == 2);
    CHECK(all_lens[0] == 1 && all_lens[1] == 2 && all_lens[2] == 3 && all_lens[3] == 3 &&
          all_lens[4] == 1 && all_lens[5] == 0);
    /* A message with more frames than `max` slots: EINVAL, not lost. */
    CHECK(rl_send(cli, "a", 1, RL_SNDMORE) == 1);
    CHECK(rl_send(cli, "b", 1, 0) == 1);
    CHECK_ERR(rl_recv_batch_parts(srv, buf, sizeof buf, lens, parts, 1, NULL, 0), EINVAL);
    n = rl_recv_batch_parts(srv, buf, sizeof buf, lens, parts, 2, NULL, 0);
    CHECK(n == 1 && parts[0] == 2 && memcmp(buf, "ab", 2) == 0);
    /* Half-read multipart message: batch receive is EFSM. */
    CHECK(rl_send(cli, "h", 1, RL_SNDMORE) == 1);
    CHECK(rl_send(cli, "t", 1, 0) == 1);
    CHECK(rl_recv(srv, buf, sizeof buf, 0) == 1);
    CHECK_ERR(rl_recv_batch(srv, buf, sizeof buf, lens, MAXN, NULL, 0), RL_EFSM);
    CHECK(rl_recv(srv, buf, sizeof buf, 0) == 1 && buf[0] == 't');
    /* Routed receive is ROUTER only. */
    char ids[255];
    size_t id_lens[1];
    CHECK_ERR(rl_recv_batch_routed(srv, buf, sizeof buf, lens, ids, sizeof ids, id_lens, 1,
                                   NULL, 0),
              ENOTSUP);

    CHECK(rl_close(srv) == 0 && rl_close(cli) == 0);
    CHECK(rl_ctx_term(ctx) == 0);
}

static void router_batches(int io_threads) {
    rl_ctx_t *ctx = rl_ctx_new();
    CHECK(rl_ctx_set(ctx, RL_IO_THREADS, io_threads) == 0);
    rl_socket_t *router, *dealer;
    connect_pair(ctx, RL_ROUTER, RL_DEALER, "client-1", &router, &dealer);
    char buf[256], out[1024];
    size_t lens[MAXN], id_lens[MAXN], parts[MAXN], needed = 0;
    char *ids = malloc(MAXN * RL_ROUTING_ID_MAX);

    CHECK(rl_drain_routed(router, buf, sizeof buf, lens, ids, MAXN * RL_ROUTING_ID_MAX, id_lens,
                          MAXN, NULL) == 0);
    CHECK(rl_send_repeat(dealer, "ping", 4, 6, 0) == 6);
    /* Routed receive: ids split off; the data buffer holds id + payload transiently:
     * 12 bytes per message, so 24 bytes take exactly 2 messages per call. */
    int got = 0;
    while (got < 6) {
        int n = rl_recv_batch_routed(router, buf, 24, lens, ids, MAXN * RL_ROUTING_ID_MAX,
                                     id_lens, MAXN, NULL, 0);
        CHECK(n >= 1 && n <= 2 && got + n <= 6);
        for (int i = 0; i < n; i++) {
            CHECK(id_lens[i] == 8 && memcmp(ids + 8 * i, "client-1", 8) == 0);
            CHECK(lens[i] == 4 && memcmp(buf + 4 * i, "ping", 4) == 0);
        }
        got += n;
    }
    CHECK_ERR(rl_recv_batch_routed(router, buf, sizeof buf, lens, ids, 254, id_lens, MAXN, NULL,
                                   RL_DONTWAIT),
              EINVAL);
    /* Larger than the buffer: needed includes the routing id. */
    char big[50];
    memset(big, 'Q', sizeof big);
    CHECK(rl_send(dealer, big, sizeof big, 0) == 50);
    CHECK_ERR(rl_recv_batch_routed(router, buf, 40, lens, ids, RL_ROUTING_ID_MAX, id_lens, 1,
                                   &needed, 0),
              EMSGSIZE);
    CHECK(needed == 58);
    int n = rl_recv_batch_routed(router, buf, 58, lens, ids, RL_ROUTING_ID_MAX, id_lens, 1,
                                 &needed, 0);
    CHECK(n == 1 && lens[0] == 50 && id_lens[0] == 8 && memcmp(buf, big, 50) == 0);
    /* Multipart payload through the routed form: frames concatenated. */
    CHECK(rl_send(dealer, "ab", 2, RL_SNDMORE) == 2);
    CHECK(rl_send(dealer, "cd", 2, 0) == 2);
    /* With room for 1 message there are 2 frame slots: id + 2 payload frames do not fit. */
    CHECK_ERR(rl_recv_batch_routed(router, buf, sizeof buf, lens, ids, RL_ROUTING_ID_MAX, id_lens,
                                   1, NULL, 0),
              EINVAL);
    n = rl_recv_batch_routed(router, buf, sizeof buf, lens, ids, 2 * RL_ROUTING_ID_MAX, id_lens, 2,
                             NULL, 0);
    CHECK(n == 1 && lens[0] == 4 && id_lens[0] == 8 && memcmp(buf, "abcd", 4) == 0);
    /* The parts form on ROUTER: id frame first. */
    CHECK(rl_send(dealer, "m", 1, 0) == 1);
    n = rl_recv_batch_parts(router, buf, sizeof buf, lens, parts, MAXN, NULL, 0);
    CHECK(n == 1 && parts[0] == 2 && lens[0] == 8 && lens[1] == 1);
    CHECK(memcmp(buf, "client-1m", 9) == 0);
    /* Plain rl_recv_batch on ROUTER: id, payload entries. */
    CHECK(rl_send(dealer, "pl", 2, 0) == 2);
    n = rl_recv_batch(router, buf, sizeof buf, lens, MAXN, NULL, 0);
    CHECK(n == 2 && lens[0] == 8 && lens[1] == 2 && memcmp(buf, "client-1pl", 10) == 0);

    /* Routed send: pairs; batch forms for single frames are not for ROUTER. */
    CHECK_ERR(rl_send_repeat(router, "x", 1, 1, 0), ENOTSUP);
    rl_iovec_t id = {"client-1", 8};
    rl_iovec_t idv[3] = {id, id, id};
    rl_iovec_t pl[3] = {{"r0", 2}, {"r1", 2}, {"r2", 2}};
    CHECK(rl_send_routed(router, idv, pl, 3, 0) == 3);
    size_t out_lens[MAXN];
    recv_n(dealer, sizeof buf, 3, out, out_lens);
    CHECK(memcmp(out, "r0r1r2", 6) == 0);
    set_int(router, RL_ROUTER_MANDATORY, 1);
    rl_iovec_t bad[2] = {id, {"nobody", 6}};
    CHECK_ERR(rl_send_routed(router, bad + 1, pl, 1, 0), EHOSTUNREACH);
    CHECK(rl_send_routed(router, bad, pl, 2, 0) == 1);
    CHECK_ERR(rl_send_routed(router, bad, pl, 2, RL_SNDMORE), EINVAL);
    recv_n(dealer, sizeof buf, 1, out, out_lens);
    CHECK(out_lens[0] == 2 && memcmp(out, "r0", 2) == 0);
    CHECK(rl_drain(dealer, buf, sizeof buf, lens, MAXN, NULL) == 0);

    free(ids);
    CHECK(rl_close(router) == 0 && rl_close(dealer) == 0);
    CHECK(rl_ctx_term(ctx) == 0);
}

int main(void) {
    pair_batches(1);
    pair_batches(0);
    router_batches(1);
    router_batches(0);
    printf("batch: ok\n");
    return 0;
}
