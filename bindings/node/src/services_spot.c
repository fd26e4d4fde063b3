/*
 * The service layer, part 4: SpotNode and SpotSub (design: services.h). Publishing never
 * waits (a PUB); a receive tries once without waiting, then waits on the sub's worker in
 * slices (so close() ends it within SLICE_MS). _recvManyInto is the fast path: one
 * rl_spot_recv_many into the caller's preallocated buffers. A handler runs on ringlink's
 * thread and is forwarded through a napi_threadsafe_function.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services.h"

/* ---------------------------------------------------------------- SpotNode */

static napi_value node_new(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1] = {NULL}, self;
    rln_ctx *c;
    NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL), NULL);
    if (argc < 1 || rln_arg_ctx(env, argv[0], &c) < 0)
        return NULL;
    rl_spot_node_t *n = rl_spot_node_new(c->ctx);
    if (!n)
        return throw_rl(env, rl_errno(), "rl_spot_node_new");
    return svc_new(env, self, K_NODE, c, n);
}

#define NODE_STR(cname, fn, mode, what)                                                      \
    static napi_value cname(napi_env env, napi_callback_info info) {                         \
        return rln_str_call(env, info, K_NODE, (str_fn)fn, mode, what);                      \
    }
NODE_STR(node_connect_registry, rl_spot_node_connect_registry, 0, "registry")
NODE_STR(node_connect_peer, rl_spot_node_connect_peer, 0, "peer endpoint")
NODE_STR(node_disconnect_peer, rl_spot_node_disconnect_peer, 0, "peer endpoint")
NODE_STR(node_unregister, rl_spot_node_unregister, STR_NULLABLE, "service")

static int node_register_exec(job *j) {
    int rc = rl_spot_node_register(j->h, j->name, j->name2, j->out, sizeof j->out);
    if (rc < 0)
        j->err = rl_errno();
    return rc;
}

static napi_value node_register_finish(napi_env env, job *j) {
    napi_value v;
    NAPI_CALL(env, napi_create_string_utf8(env, j->out, NAPI_AUTO_LENGTH, &v), NULL);
    return v;
}

/* _register(service | null, advertise | null) -> Promise<advertised endpoint> */
static napi_value node_register(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2] = {NULL, NULL};
    char *name = NULL, *adv = NULL;
    svc *s = svc_this(env, info, &argc, argv, K_NODE);
    if (!s || (argv[0] && arg_string(env, argv[0], &name, 1, "service") < 0))
        return NULL;
    if (argv[1] && arg_string(env, argv[1], &adv, 1, "advertise") < 0) {
        free(name);
        return NULL;
    }
    job *j = job_new(s);
    if (!j) {
        free(name);
        free(adv);
        return rln_rejected(env, ENOMEM, NULL);
    }
    j->s = s;
    j->name = name;
    j->name2 = adv;
    j->exec = node_register_exec;
    j->finish = node_register_finish;
    return job_start(env, j);
}

static napi_value node_set_discovery(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2] = {NULL, NULL};
    char *name = NULL;
    svc *s = svc_this(env, info, &argc, argv, K_NODE);
    if (!s)
        return NULL;
    svc *d = svc_unwrap(env, argv[0] ? argv[0] : rln_undefined(env), K_DISCOVERY, "discovery");
    if (!d || (argv[1] && arg_string(env, argv[1], &name, 1, "service") < 0))
        return NULL;
    int rc = rl_spot_node_set_discovery(s->h, d->h, name);
    free(name);
    if (rc < 0)
        return throw_rl(env, rl_errno(), "setDiscovery");
    return rln_undefined(env);
}

/* _setsockopt(role, option, value): an int option of the node's PUB (role 1) or SUB (2),
 * before the node starts (rl_spot_node_setsockopt). */
static napi_value node_setsockopt(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3] = {NULL, NULL, NULL};
    svc *s = svc_this(env, info, &argc, argv, K_NODE);
    if (!s)
        return NULL;
    int32_t v[3];
    for (int i = 0; i < 3; i++) {
        if (!argv[i] || napi_get_value_int32(env, argv[i], &v[i]) != napi_ok) {
            napi_throw_type_error(env, "EINVAL", "setsockopt(role, option, value): integers");
            return NULL;
        }
    }
    int value = v[2];
    if (rl_spot_node_setsockopt(s->h, v[0], v[1], &value, sizeof value) < 0)
        return throw_rl(env, rl_errno(), "setsockopt");
    return rln_undefined(env);
}

/* publish(topic, msg) */
static napi_value node_publish(napi_env env, napi_callback_info info) {
    size_t argc = 2, tlen;
    napi_value argv[2] = {NULL, NULL};
    const void *topic;
    char *town = NULL;
    parts_t m;
    svc *s = svc_this(env, info, &argc, argv, K_NODE);
    if (!s || !argv[0] || rln_bytes(env, argv[0], &topic, &tlen, &town) < 0)
        return s && !argv[0] ? throw_rl(env, EINVAL, "a topic is needed") : NULL;
    if (parts_get(env, argv[1] ? argv[1] : rln_undefined(env), &m) < 0) {
        free(town);
        return NULL;
    }
    int rc = rl_spot_publish(s->h, topic, tlen, m.p, m.l, m.n, 0);
    int err = rc < 0 ? rl_errno() : 0;
    free(town);
    parts_free(&m);
    if (rc < 0)
        return throw_rl(env, err, "publish (topics have 1..255 bytes)");
    return rln_undefined(env);
}

/* publishManyConst(topic, payload, count) -> count */
static napi_value node_publish_many_const(napi_env env, napi_callback_info info) {
    size_t argc = 3, tlen, len, count;
    napi_value argv[3] = {NULL, NULL, NULL}, out;
    const void *topic, *data;
    char *town = NULL, *down = NULL;
    svc *s = svc_this(env, info, &argc, argv, K_NODE);
    if (!s || !argv[0] || !argv[1] || rln_bytes(env, argv[0], &topic, &tlen, &town) < 0)
        return s && (!argv[0] || !argv[1]) ? throw_rl(env, EINVAL, "topic and payload") : NULL;
    if (rln_bytes(env, argv[1], &data, &len, &down) < 0 || arg_count(env, argv[2], &count) < 0) {
        free(town);
        return NULL;
    }
    int n = rl_spot_publish_many_const(s->h, topic, tlen, data, len, count);
    int err = n < 0 ? rl_errno() : 0;
    free(town);
    free(down);
    if (n < 0)
        return throw_rl(env, err, "publishManyConst (topics have 1..255 bytes)");
    NAPI_CALL(env, napi_create_int32(env, n, &out), NULL);
    return out;
}

/* dropped() / publisherDropped(): one counter of rl_spot_node_stats (at `off`); reading
 * never starts the node. */
static napi_value node_counter(napi_env env, napi_callback_info info, size_t off) {
    size_t argc = 0;
    napi_value out;
    rl_spot_stats_t st;
    svc *s = svc_this(env, info, &argc, NULL, K_NODE);
    if (!s)
        return NULL;
    if (rl_spot_node_stats(s->h, &st, sizeof st) < 0)
        return throw_rl(env, rl_errno(), "rl_spot_node_stats");
    NAPI_CALL(env, napi_create_double(env, (double)*(const uint64_t *)((const char *)&st + off), &out), NULL);
    return out;
}
static napi_value node_dropped(napi_env env, napi_callback_info info) {
    return node_counter(env, info, offsetof(rl_spot_stats_t, dropped));
}
static napi_value node_publisher_dropped(napi_env env, napi_callback_info info) {
    return node_counter(env, info, offsetof(rl_spot_stats_t, publisher_dropped));
}

/* ---------------------------------------------------------------- SpotSub */

static napi_value sub_new(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2] = {NULL, NULL}, self;
    NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL), NULL);
    svc *n = svc_unwrap(env, argv[0] ? argv[0] : rln_undefined(env), K_NODE, "node");
    if (!n)
        return NULL;
    rl_spot_sub_t *sub = rl_spot_sub_new(n->h);
    if (!sub)
        return throw_rl(env, rl_errno(), "rl_spot_sub_new");
    return svc_new(env, self, K_SUB, n->c, sub);
}

#define SUB_STR(cname, fn, what)                                                             \
    static napi_value cname(napi_env env, napi_callback_info info) {                         \
        return rln_str_call(env, info, K_SUB, (str_fn)fn, 0, what);                          \
    }
SUB_STR(sub_subscribe, rl_spot_sub_subscribe, "topic")
SUB_STR(sub_subscribe_pattern, rl_spot_sub_subscribe_pattern, "pattern")
SUB_STR(sub_unsubscribe, rl_spot_sub_unsubscribe, "topic or pattern")

/* One rl_spot_sub_recv, growing the buffers of a message that does not fit. */
static int sub_recv_once(void *h, char *topic, size_t *tlen, unsigned char **buf, size_t *cap,
                         size_t **lens, size_t *max, int timeout) {
    for (;;) {
        int rc = rl_spot_sub_recv(h, topic, 256, tlen, *buf, *cap, *lens, *max, timeout);
        if (rc >= 0)
            return rc;
        int err = rl_errno();
        if (err == EMSGSIZE && *cap < ((size_t)1 << 31)) {
            unsigned char *b = realloc(*buf, *cap * 4);
            if (!b)
                return errno = ENOMEM, -ENOMEM;
            *buf = b;
            *cap *= 4;
        } else if (err == EINVAL && *max < 4096) {
            size_t *l = realloc(*lens, *max * 4 * sizeof *l);
            if (!l)
                return -ENOMEM;
            *lens = l;
            *max *= 4;
        } else {
            return -err;
        }
    }
}

static int sub_recv_exec(job *j) {
    uint64_t t0 = uv_hrtime();
    int slice;
    while (deadline_slice(j->timeout, t0, &slice) == 0 &&
           !__atomic_load_n(&j->cancel, __ATOMIC_ACQUIRE)) {
        int rc = sub_recv_once(j->h, j->text, &j->text_len, &j->buf, &j->cap, &j->lens, &j->max,
                               slice);
        if (rc >= 0)
            return rc;
        if (rc != -EAGAIN)
            return j->err = -rc, -1;
    }
    j->err = EAGAIN;
    return -1;
}

static napi_value sub_recv_finish(napi_env env, job *j) {
    return named_parts(env, "topic", j->text, j->text_len, j->buf, j->lens, (size_t)j->rc);
}

/* _recv(timeoutMs) -> {topic, parts}, or a promise of it (EAGAIN when none in time) */
static napi_value sub_recv(napi_env env, napi_callback_info info) {
    size_t argc = 1, tlen = 0;
    napi_value argv[1] = {NULL};
    char topic[256];
    int timeout;
    svc *s = svc_this(env, info, &argc, argv, K_SUB);
    if (!s || arg_timeout(env, argv[0] ? argv[0] : rln_undefined(env), &timeout) < 0)
        return NULL;
    if (s->recv_busy)
        return rln_rejected(env, EBUSY, "a receive is already pending");
    if (svc_scratch(s, 64 * 1024, 64) != 0)
        return rln_rejected(env, ENOMEM, NULL);
    int rc = sub_recv_once(s->h, topic, &tlen, &s->buf, &s->cap, &s->lens, &s->max, 0);
    if (rc >= 0)
        return named_parts(env, "topic", topic, tlen, s->buf, s->lens, (size_t)rc);
    if (rc != -EAGAIN || timeout == 0)
        return rln_rejected(env, -rc, rc == -EAGAIN ? "no message in time" : NULL);
    job *j = job_new(s);
    if (!j || !(j->buf = malloc(64 * 1024)) || !(j->lens = malloc(64 * sizeof(size_t)))) {
        if (j)
            job_release_native(j);
        return rln_rejected(env, ENOMEM, NULL);
    }
    j->cap = 64 * 1024;
    j->max = 64;
    j->s = s;
    j->timeout = timeout;
    j->busy = 1;
    j->exec = sub_recv_exec;
    j->finish = sub_recv_finish;
    return job_start(env, j);
}

/* Arguments of _recvManyInto: the caller's buffers. */
typedef struct {
    void *tb, *pb;
    size_t tcap, pcap, max;
    uint32_t *tl, *pl;
} many_args;

static int many_get(napi_env env, napi_value *argv, many_args *a) {
    bool b1 = false, b2 = false;
    napi_typedarray_type t1, t2;
    size_t n1, n2;
    void *p1, *p2;
    if (napi_is_buffer(env, argv[0], &b1) != napi_ok || !b1 ||
        napi_is_buffer(env, argv[2], &b2) != napi_ok || !b2 ||
        napi_get_buffer_info(env, argv[0], &a->tb, &a->tcap) != napi_ok ||
        napi_get_buffer_info(env, argv[2], &a->pb, &a->pcap) != napi_ok ||
        napi_get_typedarray_info(env, argv[1], &t1, &n1, &p1, NULL, NULL) != napi_ok ||
        napi_get_typedarray_info(env, argv[3], &t2, &n2, &p2, NULL, NULL) != napi_ok ||
        t1 != napi_uint32_array || t2 != napi_uint32_array) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                              "expected (topicBuf: Buffer, topicLens: Uint32Array, payloadBuf: "
                              "Buffer, payloadLens: Uint32Array[, timeoutMs])");
        return -1;
    }
    a->tl = p1;
    a->pl = p2;
    a->max = n1 < n2 ? n1 : n2;
    if (a->max == 0) {
        rln_throw_errno(env, EINVAL, "the length arrays have no room");
        return -1;
    }
    return 0;
}

static void put_lens(uint32_t *dst, const size_t *src, size_t n) {
    for (size_t i = 0; i < n; i++)
        dst[i] = (uint32_t)src[i];
}

static int many_exec(job *j) {
    uint64_t t0 = uv_hrtime();
    int slice;
    while (deadline_slice(j->timeout, t0, &slice) == 0 &&
           !__atomic_load_n(&j->cancel, __ATOMIC_ACQUIRE)) {
        int n = rl_spot_recv_many(j->h, j->tbuf, j->needed, j->lens, j->buf, j->cap, j->lens2,
                                  NULL, j->max, slice);
        if (n >= 0)
            return n;
        if (rl_errno() != EAGAIN)
            return j->err = rl_errno(), -1;
    }
    return 0; /* none in time: 0 messages */
}

static napi_value many_finish(napi_env env, job *j) {
    napi_value b;
    void *p;
    size_t n;
    napi_typedarray_type t;
    napi_get_reference_value(env, j->keep[1], &b);
    napi_get_typedarray_info(env, b, &t, &n, &p, NULL, NULL);
    put_lens(p, j->lens, (size_t)j->rc);
    napi_get_reference_value(env, j->keep[3], &b);
    napi_get_typedarray_info(env, b, &t, &n, &p, NULL, NULL);
    put_lens(p, j->lens2, (size_t)j->rc);
    napi_value out;
    NAPI_CALL(env, napi_create_int32(env, j->rc, &out), NULL);
    return out;
}

/* _recvManyInto(topicBuf, topicLens, payloadBuf, payloadLens, timeoutMs = 0): one
 * rl_spot_recv_many into the caller's buffers -> message count; with a timeout other than 0
 * and nothing queued, a promise of the count of the call that waits (0: none in time). */
static napi_value sub_recv_many_into(napi_env env, napi_callback_info info) {
    size_t argc = 5;
    napi_value argv[5] = {NULL, NULL, NULL, NULL, NULL}, out;
    many_args a;
    int timeout = 0;
    svc *s = svc_this(env, info, &argc, argv, K_SUB);
    if (!s)
        return NULL;
    if (argc < 4 || many_get(env, argv, &a) < 0)
        return argc < 4 ? throw_rl(env, EINVAL, "four buffers are needed") : NULL;
    if (argv[4] && arg_timeout(env, argv[4], &timeout) < 0)
        return NULL;
    if (s->recv_busy) {
        rln_throw_errno(env, EBUSY, "a receive is already pending");
        return NULL;
    }
    if (svc_scratch(s, 0, a.max) != 0)
        return throw_rl(env, ENOMEM, NULL);
    int n = rl_spot_recv_many(s->h, a.tb, a.tcap, s->lens, a.pb, a.pcap, s->lens2, NULL, a.max, 0);
    if (n < 0 && rl_errno() != EAGAIN)
        return throw_rl(env, rl_errno(), "spotRecvMany");
    if (n > 0 || timeout == 0) {
        if (n > 0) {
            put_lens(a.tl, s->lens, (size_t)n);
            put_lens(a.pl, s->lens2, (size_t)n);
        }
        NAPI_CALL(env, napi_create_int32(env, n < 0 ? 0 : n, &out), NULL);
        return out;
    }
    job *j = job_new(s);
    if (!j || !(j->lens = malloc(a.max * sizeof(size_t))) ||
        !(j->lens2 = malloc(a.max * sizeof(size_t)))) {
        if (j)
            job_release_native(j);
        return rln_rejected(env, ENOMEM, NULL);
    }
    for (int i = 0; i < 4; i++)
        napi_create_reference(env, argv[i], 1, &j->keep[i]);
    j->tbuf = a.tb; /* the caller's buffers, kept alive by keep[] */
    j->borrowed = 1;
    j->needed = a.tcap;
    j->buf = a.pb;
    j->cap = a.pcap;
    j->max = a.max;
    j->s = s;
    j->timeout = timeout;
    j->busy = 1;
    j->exec = many_exec;
    j->finish = many_finish;
    return job_start(env, j);
}

typedef struct {
    size_t tlen, n;
    unsigned char *data; /* topic, then the parts */
    size_t lens[];
} sub_item;

static void sub_handler(const char *topic, size_t topic_len, const void *const *parts,
                        const size_t *lens, size_t n, void *userdata) {
    size_t total = topic_len;
    for (size_t i = 0; i < n; i++)
        total += lens[i];
    sub_item *it = malloc(sizeof *it + n * sizeof(size_t) + total + 1);
    if (!it)
        return;
    it->tlen = topic_len;
    it->n = n;
    it->data = (unsigned char *)(it->lens + n);
    memcpy(it->data, topic, topic_len);
    size_t off = topic_len;
    for (size_t i = 0; i < n; i++) {
        it->lens[i] = lens[i];
        memcpy(it->data + off, parts[i], lens[i]);
        off += lens[i];
    }
    if (napi_call_threadsafe_function(userdata, it, napi_tsfn_nonblocking) != napi_ok)
        free(it);
}

static void sub_call_js(napi_env env, napi_value fn, void *ctx, void *data) {
    (void)ctx;
    sub_item *it = data;
    if (env && fn) {
        napi_value argv[2], undef = rln_undefined(env);
        napi_create_string_utf8(env, (const char *)it->data, it->tlen, &argv[0]);
        argv[1] = parts_value(env, it->data + it->tlen, it->lens, it->n);
        if (argv[1])
            napi_call_function(env, undef, fn, 2, argv, NULL);
    }
    free(it);
}

static int sub_install(svc *s, napi_threadsafe_function tsfn) {
    return rl_spot_sub_set_handler(s->h, tsfn ? sub_handler : NULL, tsfn);
}

static napi_value sub_set_handler(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1] = {NULL};
    svc *s = svc_this(env, info, &argc, argv, K_SUB);
    if (!s)
        return NULL;
    if (s->recv_busy) {
        rln_throw_errno(env, EBUSY, "a receive is pending");
        return NULL;
    }
    return rln_svc_set_callback(env, s, argc ? argv[0] : rln_undefined(env), sub_call_js,
                                sub_install);
}

/* ---------------------------------------------------------------- classes */

int rln_services_spot_init(napi_env env, napi_value exports) {
    napi_property_descriptor node[] = {
        METHOD("connectRegistry", node_connect_registry), METHOD("bind", rln_node_bind),
        METHOD("connectPeer", node_connect_peer), METHOD("disconnectPeer", node_disconnect_peer),
        METHOD("_register", node_register), METHOD("_unregister", node_unregister),
        METHOD("setDiscovery", node_set_discovery), METHOD("publish", node_publish),
        METHOD("_setsockopt", node_setsockopt),
        METHOD("publishManyConst", node_publish_many_const), METHOD("dropped", node_dropped),
        METHOD("publisherDropped", node_publisher_dropped), METHOD("close", svc_close_method),
        GETTER("closed", svc_closed_getter),
    };
    napi_property_descriptor sub[] = {
        METHOD("subscribe", sub_subscribe), METHOD("subscribePattern", sub_subscribe_pattern),
        METHOD("unsubscribe", sub_unsubscribe), METHOD("_recv", sub_recv),
        METHOD("_recvManyInto", sub_recv_many_into), METHOD("_setHandler", sub_set_handler),
        METHOD("close", svc_close_method), GETTER("closed", svc_closed_getter),
    };
    if (!svc_define(env, exports, "NativeSpotNode", node_new, node, sizeof node / sizeof *node) ||
        !svc_define(env, exports, "NativeSpotSub", sub_new, sub, sizeof sub / sizeof *sub))
        return -1;
    return 0;
}
