/*
 * The service layer, part 3: Gateway, and the message helpers the SPOT classes share
 * (services_spot.c). Design: services.h.
 *
 * Sends and receives first run once without waiting (RL_DONTWAIT / timeout 0) on the JS
 * thread; only a call that would wait becomes a job of the object's worker thread. The batch
 * calls (gateway sendManyConst, SPOT publishManyConst, SpotSub _recvManyInto without a
 * timeout) are synchronous and never wait, as the socket fast paths.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services.h"

#define PARTS_MAX_LIMIT (1u << 20)

/* Receive scratch of an object: `cap` bytes, `max` entries per length array. */
int svc_scratch(svc *s, size_t cap, size_t max) {
    if (cap > s->cap) {
        unsigned char *b = realloc(s->buf, cap);
        if (!b)
            return ENOMEM;
        s->buf = b;
        s->cap = cap;
    }
    if (max > s->max) {
        size_t *a = realloc(s->lens, max * sizeof *a), *b2;
        if (!a)
            return ENOMEM;
        s->lens = a;
        if (!(b2 = realloc(s->lens2, max * sizeof *b2)))
            return ENOMEM;
        s->lens2 = b2;
        s->max = max;
    }
    return 0;
}

void parts_free(parts_t *m) {
    for (size_t i = 0; i < m->n; i++)
        free(m->own[i]);
    free(m->p);
    m->p = NULL;
}

int parts_get(napi_env env, napi_value msg, parts_t *m) {
    bool is = false;
    uint32_t n = 1;
    memset(m, 0, sizeof *m);
    napi_is_array(env, msg, &is);
    if (is)
        napi_get_array_length(env, msg, &n);
    if (n == 0) {
        rln_throw_errno(env, EINVAL, "a message needs at least one part");
        return -1;
    }
    void *block = calloc(n, sizeof(void *) + sizeof(size_t) + sizeof(char *));
    if (!block) {
        rln_throw_errno(env, ENOMEM, NULL);
        return -1;
    }
    m->p = block;
    m->l = (size_t *)(m->p + n);
    m->own = (char **)(m->l + n);
    for (uint32_t i = 0; i < n; i++) {
        napi_value v = msg;
        if (is && napi_get_element(env, msg, i, &v) != napi_ok) {
            parts_free(m);
            rln_throw_last(env);
            return -1;
        }
        if (rln_bytes(env, v, &m->p[i], &m->l[i], &m->own[i]) < 0) {
            parts_free(m);
            return -1;
        }
        m->n = i + 1;
    }
    return 0;
}

/* Owned copies of the parts, for a job. */
static int parts_copy(parts_t *m, job *j) {
    j->iov = calloc(m->n, sizeof *j->iov);
    if (!j->iov)
        return ENOMEM;
    j->n = m->n;
    for (size_t i = 0; i < m->n; i++) {
        void *c = malloc(m->l[i] ? m->l[i] : 1);
        if (!c)
            return ENOMEM;
        memcpy(c, m->p[i], m->l[i]);
        j->iov[i].data = c;
        j->iov[i].len = m->l[i];
    }
    return 0;
}

napi_value parts_value(napi_env env, const unsigned char *buf, const size_t *lens, size_t n) {
    napi_value arr, b;
    size_t off = 0;
    NAPI_CALL(env, napi_create_array_with_length(env, n, &arr), NULL);
    for (size_t i = 0; i < n; i++) {
        NAPI_CALL(env, napi_create_buffer_copy(env, lens[i], buf + off, NULL, &b), NULL);
        napi_set_element(env, arr, (uint32_t)i, b);
        off += lens[i];
    }
    return arr;
}

/* {<key>: name, parts} */
napi_value named_parts(napi_env env, const char *key, const char *name, size_t name_len,
                              const unsigned char *buf, const size_t *lens, size_t n) {
    napi_value o, v, parts = parts_value(env, buf, lens, n);
    if (!parts)
        return NULL;
    NAPI_CALL(env, napi_create_object(env, &o), NULL);
    NAPI_CALL(env, napi_create_string_utf8(env, name, name_len, &v), NULL);
    napi_set_named_property(env, o, key, v);
    napi_set_named_property(env, o, "parts", parts);
    return o;
}

static napi_value resolved(napi_env env) {
    napi_value p;
    NAPI_CALL(env, napi_get_reference_value(env, rln_get_env(env)->resolved, &p), NULL);
    return p;
}

int arg_count(napi_env env, napi_value v, size_t *n) {
    int64_t c;
    if (!v || napi_get_value_int64(env, v, &c) != napi_ok || c < 0 || c > 0x7fffffff) {
        napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "count must be an integer 0..2^31-1");
        return -1;
    }
    *n = (size_t)c;
    return 0;
}

/* ---------------------------------------------------------------- Gateway */

static napi_value gw_new(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3] = {NULL, NULL, NULL}, self;
    rln_ctx *c;
    const void *id = NULL;
    size_t len = 0;
    char *owned = NULL;
    NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL), NULL);
    if (argc < 2 || rln_arg_ctx(env, argv[0], &c) < 0)
        return NULL;
    svc *d = svc_unwrap(env, argv[1], K_DISCOVERY, "discovery");
    if (!d || (argv[2] && rln_bytes(env, argv[2], &id, &len, &owned) < 0))
        return NULL;
    rl_gateway_t *g = rl_gateway_new(c->ctx, d->h, len ? id : NULL, len);
    free(owned);
    if (!g) {
        char msg[160];
        int err = rl_errno();
        snprintf(msg, sizeof msg, "%s (rl_gateway_new: a gateway discovery, a routing id of "
                 "1..255 bytes)", rl_strerror(err));
        rln_throw_errno(env, err, msg);
        return NULL;
    }
    /* A blocking recv waits in slices (gw_recv_exec), so close() ends it within SLICE_MS. */
    if (rl_gateway_set_rcvtimeo(g, SLICE_MS) < 0) {
        int err = rl_errno();
        rl_gateway_destroy(&g);
        return throw_rl(env, err, "rl_gateway_set_rcvtimeo");
    }
    return svc_new(env, self, K_GATEWAY, c, g);
}

static int gw_send_exec(job *j) {
    const void *p[64], **pp = p;
    size_t l[64], *ll = l;
    if (j->n > 64) {
        pp = malloc(j->n * sizeof *pp);
        ll = malloc(j->n * sizeof *ll);
        if (!pp || !ll) {
            free(pp);
            free(ll);
            j->err = ENOMEM;
            return -1;
        }
    }
    for (size_t i = 0; i < j->n; i++) {
        pp[i] = j->iov[i].data;
        ll[i] = j->iov[i].len;
    }
    int rc = j->cap ? rl_gateway_send_rid(j->h, j->name, j->text, j->cap, pp, ll, j->n, 0)
                    : rl_gateway_send(j->h, j->name, pp, ll, j->n, 0);
    if (rc < 0)
        j->err = rl_errno();
    if (pp != p) {
        free(pp);
        free(ll);
    }
    return rc;
}

/* _send(service, msg, rid | null) -> a promise (resolved at once when sent without waiting) */
static napi_value gw_send(napi_env env, napi_callback_info info) {
    size_t argc = 3, rlen = 0;
    napi_value argv[3] = {NULL, NULL, NULL};
    char *name, *rown = NULL;
    const void *rid = NULL;
    parts_t m;
    svc *s = svc_this(env, info, &argc, argv, K_GATEWAY);
    if (!s)
        return NULL;
    if (s->send_busy)
        return rln_rejected(env, EBUSY, "a send is already pending");
    if (arg_string(env, argv[0] ? argv[0] : rln_undefined(env), &name, 0, "service") < 0)
        return NULL;
    if (argv[2] && rln_bytes(env, argv[2], &rid, &rlen, &rown) < 0) {
        free(name);
        return NULL;
    }
    if (parts_get(env, argv[1] ? argv[1] : rln_undefined(env), &m) < 0 || rlen > 255) {
        free(name);
        free(rown);
        if (rlen > 255)
            return rln_rejected(env, EINVAL, "a routing id has 1..255 bytes");
        return NULL;
    }
    int rc = rid ? rl_gateway_send_rid(s->h, name, rid, rlen, m.p, m.l, m.n, RL_DONTWAIT)
                 : rl_gateway_send(s->h, name, m.p, m.l, m.n, RL_DONTWAIT);
    int err = rc < 0 ? rl_errno() : 0;
    napi_value out = NULL;
    if (rc == 0)
        out = resolved(env);
    else if (err != EAGAIN) {
        char msg[320];
        snprintf(msg, sizeof msg, "%s: service '%s'", rl_strerror(err), name);
        out = rln_rejected(env, err, msg);
    } else { /* every provider full: wait on the worker */
        job *j = job_new(s);
        if (!j || parts_copy(&m, j) != 0) {
            if (j)
                job_release_native(j);
            out = rln_rejected(env, ENOMEM, NULL);
        } else {
            j->s = s;
            j->name = name;
            name = NULL;
            if (rid) {
                memcpy(j->text, rid, rlen);
                j->cap = rlen;
            }
            j->busy = 2;
            j->exec = gw_send_exec;
            out = job_start(env, j);
        }
    }
    free(name);
    free(rown);
    parts_free(&m);
    return out;
}

/* sendManyConst(service, payload, count) -> how many were sent now (0: everyone full) */
static napi_value gw_send_many_const(napi_env env, napi_callback_info info) {
    size_t argc = 3, len, count;
    napi_value argv[3] = {NULL, NULL, NULL}, out;
    char *name, *own = NULL;
    const void *data;
    svc *s = svc_this(env, info, &argc, argv, K_GATEWAY);
    if (!s || arg_string(env, argv[0] ? argv[0] : rln_undefined(env), &name, 0, "service") < 0)
        return NULL;
    if (!argv[1] || rln_bytes(env, argv[1], &data, &len, &own) < 0 ||
        arg_count(env, argv[2], &count) < 0) {
        free(name);
        return NULL;
    }
    int n = rl_gateway_send_many_const(s->h, name, data, len, count, RL_DONTWAIT);
    int err = n < 0 ? rl_errno() : 0;
    free(own);
    if (n < 0 && err != EAGAIN) {
        throw_rl(env, err, name);
        free(name);
        return NULL;
    }
    free(name);
    NAPI_CALL(env, napi_create_int32(env, n < 0 ? 0 : n, &out), NULL);
    return out;
}

/* Waits in slices: the gateway's receive timeout is SLICE_MS (set in gw_new), and an EAGAIN
 * is retried until the job is cancelled (close), so the wait has no limit for JS while the
 * worker thread stays interruptible. */
static int gw_recv_exec(job *j) {
    for (;;) {
        int rc = rl_gateway_recv(j->h, j->text, sizeof j->text, j->buf, j->cap, j->lens, j->max,
                                 &j->needed, 0);
        if (rc >= 0)
            return rc;
        j->err = rl_errno();
        if (j->err == EAGAIN) {
            if (__atomic_load_n(&j->cancel, __ATOMIC_ACQUIRE))
                return -1;
        } else if (j->err == EMSGSIZE && j->needed > j->cap) {
            unsigned char *b = realloc(j->buf, j->needed);
            if (!b)
                return j->err = ENOMEM, -1;
            j->buf = b;
            j->cap = j->needed;
        } else if (j->err == EINVAL && j->max < PARTS_MAX_LIMIT) {
            size_t *l = realloc(j->lens, 4 * j->max * sizeof *l);
            if (!l)
                return j->err = ENOMEM, -1;
            j->lens = l;
            j->max *= 4;
        } else {
            return -1;
        }
    }
}

static napi_value gw_recv_finish(napi_env env, job *j) {
    return named_parts(env, "service", j->text, strlen(j->text), j->buf, j->lens, (size_t)j->rc);
}

/* _recv() -> {service, parts}, or a promise of it */
static napi_value gw_recv(napi_env env, napi_callback_info info) {
    char name[1024];
    size_t needed = 0;
    svc *s = svc_this(env, info, NULL, NULL, K_GATEWAY);
    if (!s)
        return NULL;
    if (s->recv_busy)
        return rln_rejected(env, EBUSY, "a receive is already pending");
    if (svc_scratch(s, 64 * 1024, 64) != 0)
        return rln_rejected(env, ENOMEM, NULL);
    for (;;) {
        int rc = rl_gateway_recv(s->h, name, sizeof name, s->buf, s->cap, s->lens, s->max,
                                 &needed, RL_DONTWAIT);
        if (rc >= 0)
            return named_parts(env, "service", name, strlen(name), s->buf, s->lens, (size_t)rc);
        int err = rl_errno();
        if (err == EMSGSIZE && needed > s->cap && svc_scratch(s, needed, 0) == 0)
            continue;
        if (err == EINVAL && s->max < PARTS_MAX_LIMIT && svc_scratch(s, 0, 4 * s->max) == 0)
            continue;
        if (err != EAGAIN)
            return rln_rejected(env, err, NULL);
        break;
    }
    job *j = job_new(s);
    if (!j || !(j->buf = malloc(64 * 1024)) || !(j->lens = malloc(64 * sizeof(size_t)))) {
        if (j)
            job_release_native(j);
        return rln_rejected(env, ENOMEM, NULL);
    }
    j->cap = 64 * 1024;
    j->max = 64;
    j->s = s;
    j->busy = 1;
    j->exec = gw_recv_exec;
    j->finish = gw_recv_finish;
    return job_start(env, j);
}

static napi_value gw_set_lb(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2] = {NULL, NULL};
    char *name;
    int32_t strategy;
    svc *s = svc_this(env, info, &argc, argv, K_GATEWAY);
    if (!s || arg_string(env, argv[0] ? argv[0] : rln_undefined(env), &name, 0, "service") < 0)
        return NULL;
    if (!argv[1] || napi_get_value_int32(env, argv[1], &strategy) != napi_ok) {
        free(name);
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "strategy must be a number");
        return NULL;
    }
    int rc = rl_gateway_set_lb(s->h, name, strategy);
    free(name);
    if (rc < 0)
        return throw_rl(env, rl_errno(), "setLb");
    return rln_undefined(env);
}

static napi_value gw_conn_count(napi_env env, napi_callback_info info) {
    return rln_str_call(env, info, K_GATEWAY, (str_fn)rl_gateway_connection_count, STR_INT,
                        "service");
}

/* ---------------------------------------------------------------- classes */

int rln_services_io_init(napi_env env, napi_value exports) {
    napi_property_descriptor gw[] = {
        METHOD("_send", gw_send), METHOD("sendManyConst", gw_send_many_const),
        METHOD("_recv", gw_recv), METHOD("_setLb", gw_set_lb),
        METHOD("connectionCount", gw_conn_count), METHOD("close", svc_close_method),
        GETTER("closed", svc_closed_getter),
    };
    if (!svc_define(env, exports, "NativeGateway", gw_new, gw, sizeof gw / sizeof *gw))
        return -1;
    return rln_services_spot_init(env, exports);
}
