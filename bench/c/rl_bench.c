/*
 * rl_bench.c - ringlink throughput from C, through the public header and library only.
 *
 * Two threads of one process, one shared context (1 I/O thread unless -i), over tcp loopback
 * (or ipc with -t ipc): a receiver that binds and a sender that connects. For each pattern
 * the same transfer runs through
 *   msg   : the per-message API  (rl_send / rl_recv, one call per frame), and
 *   batch : the batch API         (rl_send_batch or rl_send_routed, BATCH messages a call;
 *                                  rl_recv_batch / rl_recv_batch_routed, or rl_drain_routed
 *                                  after rl_poll).
 *
 * Patterns (sender -> receiver):
 *   PAIR                PAIR -> PAIR
 *   DEALER_ROUTER       DEALER (ROUTING_ID "TX") -> ROUTER
 *   ROUTER_ROUTER_POLL  ROUTER (CONNECT_ROUTING_ID "RX", ROUTER_MANDATORY) -> ROUTER
 *                       (ROUTING_ID "RX"); the receiver waits in rl_poll, then drains
 *                       without blocking (rl_recv RL_DONTWAIT until EAGAIN, or rl_drain_routed
 *                       until 0) and polls again.
 *
 * Methodology as shared/tools/baseline/zmq_bench.c (thread mode) and ringlink-bench: message
 * byte 0 is 'W' (handshake / warm-up) or 'M' (measured), bytes 1..8 the sequence number
 * (little endian). The sender sends 'W' without blocking every 1 ms until the receiver saw
 * one, then 1000 warm-up 'W', then COUNT measured 'M'. rx rate (headline) = received /
 * (receiver's last - first measured arrival); e2e = received / (receiver's last arrival -
 * sender's first measured send); tx = COUNT / the sender's send loop. A receive timeout of
 * 2 s ends a run as failed (the sender, whose sends time out after 1 s and are retried while
 * the receiver runs, then gives up). Output: one RESULT line per run in the format of
 * zmq_bench / ringlink-bench (shared/tools/baseline/summarize.py reads them; a failed run
 * is a FAILED line, which it skips), and a summary (lines starting with '#').
 *
 * Build and run: bench/c/run.sh [options]   (cargo build --release -p ringlink-ffi, cc -O2)
 * Options:
 *   -p LIST   patterns, comma separated (default PAIR,DEALER_ROUTER,ROUTER_ROUTER_POLL)
 *   -a LIST   APIs: msg,batch (default both)
 *   -t T      transport: tcp (default) or ipc
 *   -s SIZE   message size in bytes, >= 9 (default 64)
 *   -n COUNT  measured messages per run (default 0: calibrated once per row so a run takes
 *             about -T seconds)
 *   -T SECS   target run time for the calibration (default 1.5)
 *   -r REPS   repetitions; rows are interleaved within each (default 1)
 *   -B BATCH  messages per batch send call (default 1024)
 *   -b NAME   backend: auto (default; RINGLINK_BACKEND decides if set), uring, epoll
 *   -i        inline contexts (RL_IO_THREADS 0: no reactor thread)
 * Exit status: 0 if every run received every message, 1 otherwise, 2 on an API error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ringlink.h"

enum { P_PAIR, P_DEALER_ROUTER, P_ROUTER_ROUTER_POLL, P_COUNT };
static const char *pattern_names[P_COUNT] = {"PAIR", "DEALER_ROUTER", "ROUTER_ROUTER_POLL"};
enum { API_MSG, API_BATCH, API_COUNT };
static const char *api_names[API_COUNT] = {"msg", "batch"};

#define RX_ID "RX"
#define TX_ID "TX"
#define WARMUP_MSGS 1000
#ifndef RX_TIMEOUT_MS
#define RX_TIMEOUT_MS 2000
#endif
#define TX_TIMEOUT_MS 1000
#define SEQ_END 9 /* bytes 1..8: the sequence number */
#define RX_MAX 4096
#define RX_BUF (1 << 20)
#define CALIBRATION_COUNT 200000L
#define MAX_COUNT 100000000L
#define MAX_REPS 1000

/* Options. */
static int o_patterns[P_COUNT], o_apis[API_COUNT];
static int o_ipc, o_inline, o_backend = RL_BACKEND_AUTO, o_reps = 1;
static size_t o_size = 64, o_batch = 1024;
static long o_count = 0;
static double o_target_s = 1.5;

/* One run. */
struct run {
    int pattern, api;
    long count;
    rl_ctx_t *ctx;
    char endpoint[256];
    atomic_int endpoint_ready, rx_ready, rx_done;
    int64_t tx_first_ns, tx_last_ns, rx_first_ns, rx_last_ns;
    long received, out_of_order;
    int backend; /* RL_BACKEND_* actually running */
};

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "rl_bench: %s: %s\n", what, rl_strerror(rl_errno()));
    exit(2);
}

static void set_int(rl_socket_t *s, int opt, int v) {
    if (rl_setsockopt(s, opt, &v, sizeof v) != 0)
        die("rl_setsockopt");
}

static void set_bytes(rl_socket_t *s, int opt, const char *v) {
    if (rl_setsockopt(s, opt, v, strlen(v)) != 0)
        die("rl_setsockopt");
}

static int rx_is_router(int pattern) { return pattern != P_PAIR; }

/* ------------------------------------------------------------------------------------- */
/* receiver                                                                              */
/* ------------------------------------------------------------------------------------- */

struct rx_state {
    struct run *r;
    long next;
};

/* Account one payload; returns 1 when the last measured message has arrived. */
static int rx_payload(struct rx_state *st, const unsigned char *d, size_t len) {
    struct run *r = st->r;
    if (len < SEQ_END)
        return 0;
    if (d[0] == 'W') {
        if (!atomic_load_explicit(&r->rx_ready, memory_order_relaxed))
            atomic_store(&r->rx_ready, 1);
        return 0;
    }
    uint64_t seq = 0;
    for (int i = 8; i >= 1; i--)
        seq = seq << 8 | d[i];
    if (r->received == 0)
        r->rx_first_ns = now_ns();
    r->received++;
    if ((long)seq != st->next)
        r->out_of_order++;
    st->next = (long)seq + 1;
    if ((long)seq == r->count - 1) {
        r->rx_last_ns = now_ns();
        return 1;
    }
    return 0;
}

/* Per-message API: rl_recv (ROUTER: routing id frame first). */
static void rx_msg(rl_socket_t *s, struct rx_state *st, int poll) {
    unsigned char id[256], *buf = malloc(o_size + 1);
    int router = rx_is_router(st->r->pattern), done = 0;
    rl_pollitem_t item = {s, 0, RL_POLLIN, 0};
    while (!done) {
        int flags = 0;
        if (poll) {
            int rc = rl_poll(&item, 1, RX_TIMEOUT_MS);
            if (rc < 0)
                die("rl_poll");
            if (rc == 0)
                break; /* timeout */
            flags = RL_DONTWAIT;
        }
        for (;;) {
            if (router && rl_recv(s, id, sizeof id, flags) < 0) {
                if (rl_errno() != EAGAIN)
                    die("rl_recv id");
                if (!poll)
                    done = 1; /* timeout */
                break;
            }
            int n = rl_recv(s, buf, o_size + 1, flags);
            if (n < 0) {
                if (rl_errno() != EAGAIN || router)
                    die("rl_recv");
                if (!poll)
                    done = 1;
                break;
            }
            if (rx_payload(st, buf, (size_t)n)) {
                done = 1;
                break;
            }
        }
    }
    free(buf);
}

/* Batch API: rl_recv_batch (PAIR), rl_recv_batch_routed (ROUTER), rl_poll + rl_drain_routed. */
static void rx_batch(rl_socket_t *s, struct rx_state *st, int poll) {
    unsigned char *buf = malloc(RX_BUF), *ids = malloc((size_t)RX_MAX * RL_ROUTING_ID_MAX);
    size_t *lens = malloc(RX_MAX * sizeof *lens), *id_lens = malloc(RX_MAX * sizeof *id_lens);
    int router = rx_is_router(st->r->pattern), done = 0;
    rl_pollitem_t item = {s, 0, RL_POLLIN, 0};
    while (!done) {
        if (poll) {
            int rc = rl_poll(&item, 1, RX_TIMEOUT_MS);
            if (rc < 0)
                die("rl_poll");
            if (rc == 0)
                break;
        }
        for (;;) {
            int n;
            if (poll)
                n = rl_drain_routed(s, buf, RX_BUF, lens, ids, (size_t)RX_MAX * RL_ROUTING_ID_MAX,
                                    id_lens, RX_MAX, NULL);
            else if (router)
                n = rl_recv_batch_routed(s, buf, RX_BUF, lens, ids,
                                         (size_t)RX_MAX * RL_ROUTING_ID_MAX, id_lens, RX_MAX,
                                         NULL, 0);
            else
                n = rl_recv_batch(s, buf, RX_BUF, lens, RX_MAX, NULL, 0);
            if (n < 0) {
                if (rl_errno() != EAGAIN)
                    die("batch receive");
                done = 1; /* timeout */
                break;
            }
            if (n == 0)
                break; /* drained: poll again */
            size_t off = 0;
            for (int i = 0; i < n && !done; i++) {
                done = rx_payload(st, buf + off, lens[i]);
                off += lens[i];
            }
            if (done || !poll)
                break;
        }
    }
    free(buf);
    free(ids);
    free(lens);
    free(id_lens);
}

static void *receiver(void *arg) {
    struct run *r = arg;
    rl_socket_t *s = rl_socket(r->ctx, r->pattern == P_PAIR ? RL_PAIR : RL_ROUTER);
    if (!s)
        die("rl_socket rx");
    r->backend = rl_ctx_get(r->ctx, RL_BACKEND);
    if (r->pattern == P_ROUTER_ROUTER_POLL)
        set_bytes(s, RL_ROUTING_ID, RX_ID);
    set_int(s, RL_RCVTIMEO, RX_TIMEOUT_MS);
    set_int(s, RL_LINGER, 0);
    static atomic_int runs;
    char ep[128];
    if (o_ipc)
        snprintf(ep, sizeof ep, "ipc://@rl_bench-%d-%d", (int)getpid(), atomic_fetch_add(&runs, 1));
    else
        snprintf(ep, sizeof ep, "tcp://127.0.0.1:*");
    if (rl_bind(s, ep) != 0)
        die("rl_bind");
    size_t len = sizeof r->endpoint;
    if (rl_getsockopt(s, RL_LAST_ENDPOINT, r->endpoint, &len) != 0)
        die("RL_LAST_ENDPOINT");
    atomic_store(&r->endpoint_ready, 1);

    struct rx_state st = {r, 0};
    int poll = r->pattern == P_ROUTER_ROUTER_POLL;
    if (r->api == API_BATCH)
        rx_batch(s, &st, poll);
    else
        rx_msg(s, &st, poll);
    if (r->received < r->count)
        fprintf(stderr, "rl_bench: %s %s: receive timeout after %ld of %ld messages\n",
                pattern_names[r->pattern], api_names[r->api], r->received, r->count);
    atomic_store(&r->rx_done, 1);
    if (rl_close(s) != 0)
        die("rl_close rx");
    return NULL;
}

/* ------------------------------------------------------------------------------------- */
/* sender                                                                                */
/* ------------------------------------------------------------------------------------- */

/* Send one frame; sends time out after TX_TIMEOUT_MS and are retried while the receiver
 * runs (without RL_DONTWAIT). Returns 0, or -1 (rl_errno()) on an error or EAGAIN once the
 * receiver has given up. */
static int tx_frame(struct run *r, rl_socket_t *s, const void *buf, size_t len, int flags) {
    while (rl_send(s, buf, len, flags) < 0)
        if (rl_errno() != EAGAIN || (flags & RL_DONTWAIT) || atomic_load(&r->rx_done))
            return -1;
    return 0;
}

/* One message (ROUTER: routing id frame first). */
static int tx_one(struct run *r, rl_socket_t *s, int router, const void *buf, int flags) {
    if (router && tx_frame(r, s, RX_ID, strlen(RX_ID), RL_SNDMORE | flags) < 0)
        return -1;
    return tx_frame(r, s, buf, o_size, flags);
}

/* A sender call failed: fine if the receiver gave up (the run reports the loss), else fatal. */
static void tx_failed(struct run *r, const char *what) {
    if (!atomic_load(&r->rx_done))
        die(what);
}

static void put_seq(unsigned char *m, uint64_t seq) {
    m[0] = 'M';
    for (int i = 1; i < SEQ_END; i++, seq >>= 8)
        m[i] = (unsigned char)seq;
}

static void *sender(void *arg) {
    struct run *r = arg;
    while (!atomic_load(&r->endpoint_ready))
        usleep(100);
    int router = r->pattern == P_ROUTER_ROUTER_POLL;
    rl_socket_t *s = rl_socket(r->ctx, r->pattern == P_PAIR ? RL_PAIR
                                       : router           ? RL_ROUTER
                                                          : RL_DEALER);
    if (!s)
        die("rl_socket tx");
    if (r->pattern == P_DEALER_ROUTER)
        set_bytes(s, RL_ROUTING_ID, TX_ID);
    if (router) {
        set_bytes(s, RL_ROUTING_ID, TX_ID);
        set_bytes(s, RL_CONNECT_ROUTING_ID, RX_ID);
        set_int(s, RL_ROUTER_MANDATORY, 1); /* block instead of drop */
    }
    set_int(s, RL_LINGER, -1);
    set_int(s, RL_SNDTIMEO, TX_TIMEOUT_MS);
    if (rl_connect(s, r->endpoint) != 0)
        die("rl_connect");

    unsigned char *msg = calloc(1, o_size);
    /* Handshake: 'W' without blocking until the receiver saw one (the ROUTER peer may not
     * be routable yet). */
    msg[0] = 'W';
    while (!atomic_load(&r->rx_ready) && !atomic_load(&r->rx_done)) {
        if (tx_one(r, s, router, msg, RL_DONTWAIT) < 0 && rl_errno() != EAGAIN &&
            rl_errno() != EHOSTUNREACH)
            die("rl_send handshake");
        if (o_inline)
            rl_flush(s);
        usleep(1000);
    }
    int gone = atomic_load(&r->rx_done);
    for (int i = 0; i < WARMUP_MSGS && !gone; i++)
        if (tx_one(r, s, router, msg, 0) < 0) {
            tx_failed(r, "rl_send warm-up");
            gone = 1;
        }

    if (r->api == API_BATCH) {
        size_t b = o_batch;
        unsigned char *chunk = calloc(b, o_size);
        rl_iovec_t *iov = malloc(b * sizeof *iov), *idv = malloc(b * sizeof *idv);
        for (size_t i = 0; i < b; i++) {
            iov[i] = (rl_iovec_t){chunk + i * o_size, o_size};
            idv[i] = (rl_iovec_t){RX_ID, strlen(RX_ID)};
        }
        uint64_t seq = 0;
        r->tx_first_ns = now_ns();
        while (seq < (uint64_t)r->count && !gone) {
            size_t n = (uint64_t)r->count - seq < b ? (size_t)((uint64_t)r->count - seq) : b;
            for (size_t i = 0; i < n; i++)
                put_seq(chunk + i * o_size, seq++);
            /* A timed-out call may send part of the batch: go on from there. */
            for (size_t done = 0; done < n;) {
                int sent = router ? rl_send_routed(s, idv + done, iov + done, n - done, 0)
                                  : rl_send_batch(s, iov + done, n - done, 0);
                if (sent > 0) {
                    done += (size_t)sent;
                } else if (rl_errno() != EAGAIN || atomic_load(&r->rx_done)) {
                    tx_failed(r, "batch send");
                    gone = 1;
                    break;
                }
            }
        }
        free(chunk);
        free(iov);
        free(idv);
    } else {
        r->tx_first_ns = now_ns();
        for (uint64_t seq = 0; seq < (uint64_t)r->count && !gone; seq++) {
            put_seq(msg, seq);
            if (tx_one(r, s, router, msg, 0) < 0) {
                tx_failed(r, "rl_send");
                gone = 1;
            }
        }
    }
    if (o_inline)
        rl_flush(s);
    r->tx_last_ns = now_ns();
    if (gone) /* nobody will take what is queued */
        set_int(s, RL_LINGER, 0);
    if (rl_close(s) != 0) /* LINGER -1: flushed before rl_ctx_term returns */
        die("rl_close tx");
    free(msg);
    return NULL;
}

/* ------------------------------------------------------------------------------------- */

static void run_once(struct run *r) {
    r->ctx = rl_ctx_new();
    if (!r->ctx)
        die("rl_ctx_new");
    if (rl_ctx_set(r->ctx, RL_BACKEND, o_backend) != 0 ||
        rl_ctx_set(r->ctx, RL_IO_THREADS, o_inline ? 0 : 1) != 0)
        die("rl_ctx_set");
    pthread_t a, b;
    if (pthread_create(&a, NULL, receiver, r) != 0 || pthread_create(&b, NULL, sender, r) != 0) {
        fprintf(stderr, "rl_bench: pthread_create failed\n");
        exit(2);
    }
    pthread_join(b, NULL);
    pthread_join(a, NULL);
    if (rl_ctx_term(r->ctx) != 0)
        die("rl_ctx_term");
}

static double rx_rate(const struct run *r) {
    double s = (r->rx_last_ns - r->rx_first_ns) / 1e9;
    return s > 0 ? r->received / s : 0;
}

static const char *backend_name(int b) {
    return b == RL_BACKEND_URING ? "uring" : b == RL_BACKEND_EPOLL ? "epoll" : "auto";
}

static int run_ok(const struct run *r) { return r->received == r->count && !r->out_of_order; }

/* A RESULT line, or (as ringlink-bench) a FAILED line that summarize.py skips. */
static void print_result(const struct run *r, int rep) {
    printf("%s lib=ringlink-c-%s%s%s kind=thr pattern=%s transport=%s size=%zu count=%ld "
           "mode=thread api=%s",
           run_ok(r) ? "RESULT" : "FAILED", backend_name(r->backend), o_inline ? "-inline" : "",
           r->api == API_BATCH ? "-batch" : "", pattern_names[r->pattern],
           o_ipc ? "ipc" : "tcp", o_size, r->count, api_names[r->api]);
    if (!run_ok(r)) {
        printf(" rep=%d error=\"received %ld, %ld out of order\"\n", rep + 1, r->received,
               r->out_of_order);
    } else {
        double rx = rx_rate(r);
        double e2e_s = (r->rx_last_ns - r->tx_first_ns) / 1e9;
        double tx_s = (r->tx_last_ns - r->tx_first_ns) / 1e9;
        printf(" received=%ld lost=0 rx_kmsg_s=%.1f e2e_kmsg_s=%.1f tx_kmsg_s=%.1f "
               "rx_MB_s=%.1f\n",
               r->received, rx / 1e3, e2e_s > 0 ? r->received / e2e_s / 1e3 : 0,
               tx_s > 0 ? r->count / tx_s / 1e3 : 0, rx * o_size / 1e6);
    }
    fflush(stdout);
}

static int parse_list(char *arg, const char **names, int n, int *out) {
    memset(out, 0, n * sizeof *out);
    for (char *tok = strtok(arg, ","); tok; tok = strtok(NULL, ",")) {
        int found = 0;
        for (int i = 0; i < n; i++)
            if (!strcmp(tok, names[i]))
                out[i] = found = 1;
        if (!found) {
            fprintf(stderr, "rl_bench: unknown name %s\n", tok);
            return -1;
        }
    }
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s [-p PAIR,DEALER_ROUTER,ROUTER_ROUTER_POLL] [-a msg,batch] [-t tcp|ipc] "
            "[-s SIZE] [-n COUNT] [-T SECS] [-r REPS] [-B BATCH] [-b auto|uring|epoll] [-i]\n",
            argv0);
    exit(2);
}

int main(int argc, char **argv) {
    for (int i = 0; i < P_COUNT; i++)
        o_patterns[i] = 1;
    for (int i = 0; i < API_COUNT; i++)
        o_apis[i] = 1;
    int c;
    while ((c = getopt(argc, argv, "p:a:t:s:n:T:r:B:b:i")) != -1) {
        switch (c) {
        case 'p':
            if (parse_list(optarg, pattern_names, P_COUNT, o_patterns))
                usage(argv[0]);
            break;
        case 'a':
            if (parse_list(optarg, api_names, API_COUNT, o_apis))
                usage(argv[0]);
            break;
        case 't':
            if (strcmp(optarg, "tcp") && strcmp(optarg, "ipc"))
                usage(argv[0]);
            o_ipc = !strcmp(optarg, "ipc");
            break;
        case 's': o_size = strtoul(optarg, NULL, 10); break;
        case 'n': o_count = strtol(optarg, NULL, 10); break;
        case 'T': o_target_s = strtod(optarg, NULL); break;
        case 'r': o_reps = atoi(optarg); break;
        case 'B': o_batch = strtoul(optarg, NULL, 10); break;
        case 'b':
            o_backend = !strcmp(optarg, "uring")   ? RL_BACKEND_URING
                        : !strcmp(optarg, "epoll") ? RL_BACKEND_EPOLL
                        : !strcmp(optarg, "auto")  ? RL_BACKEND_AUTO
                                                   : -1;
            if (o_backend < 0)
                usage(argv[0]);
            break;
        case 'i': o_inline = 1; break;
        default: usage(argv[0]);
        }
    }
    if (o_size < SEQ_END || o_size > RX_BUF || o_count < 0 || o_count > MAX_COUNT ||
        o_reps < 1 || o_reps > MAX_REPS || o_batch < 1 || o_batch > 65536 ||
        !(o_target_s > 0))
        usage(argv[0]);

    int major, minor, patch;
    rl_version(&major, &minor, &patch);
    printf("# rl_bench: ringlink %d.%d.%d, %s, %zu B, %d rep(s), batch %zu, %s\n", major, minor,
           patch, o_ipc ? "ipc" : "tcp", o_size, o_reps, o_batch,
           o_inline ? "inline contexts" : "1 I/O thread");

    /* Messages per row: fixed, or calibrated once per row (so repetitions compare). */
    long counts[P_COUNT][API_COUNT];
    double rates[P_COUNT][API_COUNT][MAX_REPS];
    int ok[P_COUNT][API_COUNT] = {{0}};
    int bad = 0, backend = RL_BACKEND_AUTO;
    for (int p = 0; p < P_COUNT; p++)
        for (int a = 0; a < API_COUNT; a++) {
            counts[p][a] = o_count;
            if (o_count || !o_patterns[p] || !o_apis[a])
                continue;
            struct run r = {.pattern = p, .api = a, .count = CALIBRATION_COUNT};
            run_once(&r);
            double want = run_ok(&r) ? rx_rate(&r) * o_target_s : 0;
            counts[p][a] = want < CALIBRATION_COUNT ? CALIBRATION_COUNT
                           : want > MAX_COUNT       ? MAX_COUNT
                                                    : (long)want;
        }
    for (int rep = 0; rep < o_reps; rep++)
        for (int p = 0; p < P_COUNT; p++)
            for (int a = 0; a < API_COUNT; a++) {
                if (!o_patterns[p] || !o_apis[a])
                    continue;
                struct run r = {.pattern = p, .api = a, .count = counts[p][a]};
                run_once(&r);
                print_result(&r, rep);
                backend = r.backend;
                if (run_ok(&r))
                    rates[p][a][ok[p][a]++] = rx_rate(&r);
                else
                    bad = 1;
            }

    printf("# summary (%s): rx Mmsg/s, median of the successful runs (of %d); batch / msg\n",
           backend_name(backend), o_reps);
    for (int p = 0; p < P_COUNT; p++) {
        if (!o_patterns[p])
            continue;
        double m[API_COUNT] = {0};
        for (int a = 0; a < API_COUNT; a++)
            if (o_apis[a] && ok[p][a])
                m[a] = median(rates[p][a], ok[p][a]) / 1e6;
        printf("# %-20s msg %8.2f   batch %8.2f", pattern_names[p], m[API_MSG], m[API_BATCH]);
        if (m[API_MSG] > 0 && m[API_BATCH] > 0)
            printf("   x%.2f", m[API_BATCH] / m[API_MSG]);
        printf("\n");
    }
    return bad;
}
