/*
 * The service layer, part 4: Gateway. Design: services.h.
 *
 * A send or receive first runs once without waiting (RL_DONTWAIT) on the JS thread. One
 * that has to wait waits on the event loop, never on a thread: the gateway's event-loop
 * wait (rl_gateway_wait_fd) names an fd to watch, and each time it fires the pending
 * receive and send are retried (at most one of each). The fd is the ROUTER's readiness fd
 * while the loop leads the gateway's waiting, and a notifier while a thread blocked in the
 * gateway does (another user of the same C handle; nothing here blocks), so there are two
 * uv_poll handles, one per fd, one started at a time. When nothing is pending the handle
 * stops and rl_gateway_wait_done hands the waiting back. sendManyConst is synchronous and
 * never waits, as the socket fast paths.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services.h"

#define PARTS_MAX_LIMIT (1u << 20)

/* A gateway's waits on the event loop. Allocated apart from its object: the uv handles are
 * freed by their close callbacks, which may run after the object is gone. */
struct gw_loop {
    svc *s; /* NULL once the gateway is closed */
    uv_poll_t poll[2];
    int fd[2];  /* the fd of each handle (-1: not made) */
    int active; /* the started handle (-1: none) */
    int open;   /* handles made and not closed yet */
    napi_deferred send_d, recv_d;
    /* the pending send: owned copies (parts in one block) */
    char *name;
    unsigned char rid[255];
    size_t rid_len; /* 0: picked by the load balancing */
    const void **p;
    size_t *l, n;
};

static napi_value resolved(napi_env env) {
    napi_value p;
    NAPI_CALL(env, napi_get_reference_value(env, rln_get_env(env)->resolved, &p), NULL);
    return p;
}

static gw_loop *gl_get(svc *s) {
    if (!s->gw) {
        gw_loop *l = calloc(1, sizeof *l);
        if (!l)
            return NULL;
        l->s = s;
        l->fd[0] = l->fd[1] = -1;
        l->active = -1;
        s->gw = l;
    }
    return s->gw;
}

static void gl_send_free(gw_loop *l) {
    free(l->name);
    free(l->p); /* one block: the pointers, the lengths, the bytes */
    l->name = NULL;
    l->p = NULL;
    l->l = NULL;
    l->n = 0;
}

/* Keep owned copies of the send that has to wait (`name` is taken over). */
static int gl_send_keep(gw_loop *l, char *name, const void *rid, size_t rlen, const parts_t *m) {
    size_t bytes = 0;
    for (size_t i = 0; i < m->n; i++)
        bytes += m->l[i];
    char *block = malloc(m->n * (sizeof(void *) + sizeof(size_t)) + bytes);
    if (!block)
        return ENOMEM;
    l->p = (const void **)block;
    l->l = (size_t *)(l->p + m->n);
    char *data = (char *)(l->l + m->n);
    for (size_t i = 0; i < m->n; i++) {
        memcpy(data, m->p[i], m->l[i]);
        l->p[i] = data;
        l->l[i] = m->l[i];
        data += m->l[i];
    }
    l->n = m->n;
    l->name = name;
    l->rid_len = rid ? rlen : 0;
    if (rid)
        memcpy(l->rid, rid, rlen);
    return 0;
}

/* Settle the pending send (`send`) or receive with `v`. */
static void gl_settle(gw_loop *l, int send, napi_value v, int ok) {
    svc *s = l->s;
    napi_env env = s->e->env;
    napi_deferred d = send ? l->send_d : l->recv_d;
    if (send) {
        l->send_d = NULL;
        gl_send_free(l);
        s->send_busy = 0;
    } else {
        l->recv_d = NULL;
        s->recv_busy = 0;
    }
    s->loop_ops--;
    if (ok)
        napi_resolve_deferred(env, d, v);
    else
        napi_reject_deferred(env, d, v);
    svc_unhold(s);
}

static void gl_fail(gw_loop *l, int send, int err, const char *msg) {
    gl_settle(l, send, rln_errno_error(l->s->e->env, err, msg), 0);
}

/* One reply into the object's scratch: 1 with `*out` (or an exception pending), 0 when none
 * is queued, -1 with `*err`. */
static int gw_recv_now(napi_env env, svc *s, napi_value *out, int *err) {
    char name[1024];
    size_t needed = 0;
    if (svc_scratch(s, 64 * 1024, 64) != 0)
        return *err = ENOMEM, -1;
    for (;;) {
        int rc = rl_gateway_recv(s->h, name, sizeof name, s->buf, s->cap, s->lens, s->max,
                                 &needed, RL_DONTWAIT);
        if (rc >= 0) {
            *out = named_parts(env, "service", name, strlen(name), s->buf, s->lens, (size_t)rc);
            return 1;
        }
        *err = rl_errno();
        if (*err == EMSGSIZE && needed > s->cap && svc_scratch(s, needed, 0) == 0)
            continue;
        if (*err == EINVAL && s->max < PARTS_MAX_LIMIT && svc_scratch(s, 0, 4 * s->max) == 0)
            continue;
        return *err == EAGAIN ? 0 : -1;
    }
}

static int gw_send_now(svc *s, const char *name, const void *rid, size_t rlen, const void **p,
                       const size_t *l, size_t n) {
    int rc = rid ? rl_gateway_send_rid(s->h, name, rid, rlen, p, l, n, RL_DONTWAIT)
                 : rl_gateway_send(s->h, name, p, l, n, RL_DONTWAIT);
    return rc < 0 ? rl_errno() : 0;
}

static napi_value send_error(napi_env env, int err, const char *name) {
    char msg[320];
    snprintf(msg, sizeof msg, "%s: service '%s'", rl_strerror(err), name);
    return rln_errno_error(env, err, msg);
}

static void gl_on_poll(uv_poll_t *h, int status, int events);

/* Watch `fd` (one of the gateway's two) and nothing else. Returns 0 or an errno. */
static int gl_watch(gw_loop *l, int fd) {
    int i = l->fd[0] == fd ? 0 : l->fd[1] == fd ? 1 : l->fd[0] < 0 ? 0 : l->fd[1] < 0 ? 1 : -1;
    if (i < 0)
        return EIO; /* a third fd: not what rl_gateway_wait_fd promises */
    if (l->fd[i] != fd) {
        int rc = uv_poll_init(l->s->e->loop, &l->poll[i], fd);
        if (rc < 0)
            return -rc;
        uv_handle_set_data((uv_handle_t *)&l->poll[i], l);
        l->fd[i] = fd;
        l->open++;
    }
    if (l->active != i) {
        if (l->active >= 0)
            uv_poll_stop(&l->poll[l->active]);
        l->active = -1;
        int rc = uv_poll_start(&l->poll[i], UV_READABLE, gl_on_poll);
        if (rc < 0)
            return -rc;
        l->active = i;
    }
    return 0;
}

/* Nothing waits any more: stop watching, hand the gateway's waiting back. */
static void gl_idle(gw_loop *l) {
    if (l->active >= 0)
        uv_poll_stop(&l->poll[l->active]);
    l->active = -1;
    rl_gateway_wait_done(l->s->h);
}

/* Step the gateway's wait, retry what is pending, and watch the fd it named if anything
 * still is. */
static void gl_dispatch(gw_loop *l) {
    svc *s = l->s;
    napi_env env = s->e->env;
    int fd = rl_gateway_wait_fd(s->h);
    if (fd < 0) {
        int err = rl_errno();
        if (l->recv_d)
            gl_fail(l, 0, err, NULL);
        if (l->send_d)
            gl_fail(l, 1, err, NULL);
    }
    if (l->recv_d) {
        napi_value v = NULL;
        int err = 0, rc = gw_recv_now(env, s, &v, &err);
        if (rc > 0 && v)
            gl_settle(l, 0, v, 1);
        else if (rc > 0) {
            napi_get_and_clear_last_exception(env, &v);
            gl_settle(l, 0, v, 0);
        } else if (rc < 0)
            gl_fail(l, 0, err, NULL);
    }
    if (l->send_d) {
        int err = gw_send_now(s, l->name, l->rid_len ? l->rid : NULL, l->rid_len, l->p, l->l,
                              l->n);
        if (err == 0)
            gl_settle(l, 1, rln_undefined(env), 1);
        else if (err != EAGAIN)
            gl_settle(l, 1, send_error(env, err, l->name), 0);
    }
    if (!l->recv_d && !l->send_d) {
        gl_idle(l);
        return;
    }
    int err = gl_watch(l, fd);
    if (err) {
        if (l->recv_d)
            gl_fail(l, 0, err, "watching the gateway");
        if (l->send_d)
            gl_fail(l, 1, err, "watching the gateway");
        gl_idle(l);
    }
}

static void gl_on_poll(uv_poll_t *h, int status, int events) {
    (void)status; /* eventfd and socket readiness: errors surface in the calls */
    (void)events;
    gw_loop *l = uv_handle_get_data((uv_handle_t *)h);
    if (!l->s)
        return;
    rln_env *e = l->s->e;
    rln_scope sc;
    if (rln_scope_open(e, &sc) < 0)
        return;
    gl_dispatch(l);
    rln_scope_close(e, &sc);
}

/* Make `*d` the pending receive's or send's promise. */
static napi_value gl_pend(napi_env env, svc *s, gw_loop *l, int send) {
    napi_value p;
    napi_deferred *d = send ? &l->send_d : &l->recv_d;
    if (napi_create_promise(env, d, &p) != napi_ok) {
        if (send)
            gl_send_free(l);
        rln_throw_last(env);
        return NULL;
    }
    if (send)
        s->send_busy = 1;
    else
        s->recv_busy = 1;
    s->loop_ops++;
    svc_hold(s);
    gl_dispatch(l);
    return p;
}

static void gl_handle_closed(uv_handle_t *h) {
    gw_loop *l = uv_handle_get_data(h);
    if (--l->open == 0 && !l->s)
        free(l);
}

/* close(): the pending calls are rejected (EAGAIN, as a socket's), the waiting handed back,
 * the handles closed (before rl_gateway_destroy: they leave epoll while the fds are open). */
void rln_gw_close(svc *s, int reject) {
    gw_loop *l = s->gw;
    if (!l)
        return;
    for (int send = 0; send < 2; send++) {
        if (!(send ? l->send_d : l->recv_d))
            continue;
        if (reject)
            gl_fail(l, send, EAGAIN, "Gateway was closed");
        else { /* exit: nothing will settle it */
            if (send) {
                l->send_d = NULL;
                gl_send_free(l);
            } else
                l->recv_d = NULL;
            s->loop_ops--;
        }
    }
    s->send_busy = s->recv_busy = 0;
    rl_gateway_wait_done(s->h);
    for (int i = 0; i < 2; i++)
        if (l->fd[i] >= 0)
            uv_close((uv_handle_t *)&l->poll[i], gl_handle_closed);
    l->s = NULL;
    s->gw = NULL;
    if (l->open == 0)
        free(l);
}

/* ---------------------------------------------------------------- methods */

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
    return svc_new(env, self, K_GATEWAY, c, g);
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
    int err = gw_send_now(s, name, rid, rlen, m.p, m.l, m.n);
    napi_value out;
    gw_loop *l;
    if (err == 0)
        out = resolved(env);
    else if (err != EAGAIN) {
        napi_value e = send_error(env, err, name), p;
        napi_deferred d;
        NAPI_CALL(env, napi_create_promise(env, &d, &p), NULL);
        napi_reject_deferred(env, d, e);
        out = p;
    } else if (!(l = gl_get(s)) || gl_send_keep(l, name, rid, rlen, &m) != 0) {
        out = rln_rejected(env, ENOMEM, NULL);
    } else { /* every provider full: wait on the loop */
        name = NULL; /* kept */
        out = gl_pend(env, s, l, 1);
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

/* _recv() -> {service, parts}, or a promise of it (waiting on the loop) */
static napi_value gw_recv(napi_env env, napi_callback_info info) {
    svc *s = svc_this(env, info, NULL, NULL, K_GATEWAY);
    napi_value v = NULL;
    int err = 0;
    gw_loop *l;
    if (!s)
        return NULL;
    if (s->recv_busy)
        return rln_rejected(env, EBUSY, "a receive is already pending");
    int rc = gw_recv_now(env, s, &v, &err);
    if (rc > 0)
        return v;
    if (rc < 0)
        return rln_rejected(env, err, NULL);
    if (!(l = gl_get(s)))
        return rln_rejected(env, ENOMEM, NULL);
    return gl_pend(env, s, l, 0);
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

int rln_services_gw_init(napi_env env, napi_value exports) {
    napi_property_descriptor gw[] = {
        METHOD("_send", gw_send), METHOD("sendManyConst", gw_send_many_const),
        METHOD("_recv", gw_recv), METHOD("_setLb", gw_set_lb),
        METHOD("connectionCount", gw_conn_count), METHOD("close", svc_close_method),
        GETTER("closed", svc_closed_getter),
    };
    return svc_define(env, exports, "NativeGateway", gw_new, gw, sizeof gw / sizeof *gw) ? 0 : -1;
}
