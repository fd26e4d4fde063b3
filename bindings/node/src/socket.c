/*
 * The NativeSocket class: lifetime (open, close, finalize), options, bind/connect.
 *
 * Lifetime rules:
 *  - the socket is in its context's open list from construction until rl_close; the context
 *    is terminated only after the list is empty and its JS object is gone;
 *  - a pending send/receive makes the wrapper's reference strong, so a socket with a pending
 *    operation is never collected; an idle socket that is collected is closed by the
 *    finalizer (its fd released at once, nothing blocks ctx term);
 *  - the struct is freed when the wrapper was finalized and every uv handle has gone
 *    through its close callback.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rl_node.h"

static void sock_free(rln_sock *k) {
    rln_sock_free_scratch(k);
    free(k);
}

static void handle_closed(uv_handle_t *h) {
    rln_sock *k = uv_handle_get_data(h);
    k->handles_open--;
    if (k->finalized && k->handles_open == 0)
        sock_free(k);
}

/* Stop and close every uv handle of the socket (before rl_close: the poll handle must leave
 * epoll while RL_FD is still open). */
void rln_handles_close(rln_sock *k) {
    uv_handle_t *hs[4] = {(uv_handle_t *)&k->kick, (uv_handle_t *)&k->send_timer,
                          (uv_handle_t *)&k->recv_timer,
                          k->poll_inited ? (uv_handle_t *)&k->poll : NULL};
    for (int i = 0; i < 4; i++)
        if (hs[i] && !uv_is_closing(hs[i]))
            uv_close(hs[i], handle_closed);
}

/* Close the socket: reject pending operations (EAGAIN, as zeromq.js does, so `for await`
 * ends), close the uv handles, rl_close, leave the context. Idempotent. */
void rln_sock_close(rln_sock *k, int reject) {
    if (k->closed)
        return;
    if (reject) {
        rln_reject_pending(k, 1, EAGAIN, "Socket was closed");
        rln_reject_pending(k, 0, EAGAIN, "Socket was closed");
        rln_unhold(k);
    }
    k->closed = 1;
    rln_handles_close(k);
    if (k->owner) /* a receiver's ROUTER: the receiver closes it (rl_receiver_destroy) */
        rln_svc_router_closed(k->owner, k);
    else
        rl_close(k->s);
    k->owner = NULL;
    k->s = NULL;
    rln_ctx *c = k->c;
    if (k->prev)
        k->prev->next = k->next;
    else
        c->socks = k->next;
    if (k->next)
        k->next->prev = k->prev;
    k->next = k->prev = NULL;
    c->nsockets--;
    if (!k->e->tearing_down)
        rln_ctx_release(c);
}

static void sock_finalize(napi_env env, void *data, void *hint) {
    (void)hint;
    rln_sock *k = data;
    k->finalized = 1;
    if (k->self) {
        napi_delete_reference(env, k->self);
        k->self = NULL;
    }
    if (!k->closed)
        rln_sock_close(k, 0); /* no operation can be pending: it would hold the object */
    if (k->handles_open == 0)
        sock_free(k);
}

/* new NativeSocket(type, context[, adopt]): `adopt` (internal) wraps a receiver's ROUTER. */
static napi_value sock_new(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3], self;
    napi_valuetype at = napi_undefined;
    int32_t type;
    NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL), NULL);
    if (argc < 2 || napi_get_value_int32(env, argv[0], &type) != napi_ok) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "socket type must be a number");
        return NULL;
    }
    rln_ctx *c = rln_unwrap_ctx(env, argv[1]);
    if (!c)
        return NULL;
    if (c->terminated) {
        rln_throw_errno(env, RL_ETERM, "Context is terminated");
        return NULL;
    }
    rln_env *e = rln_get_env(env);
    rln_sock *k = calloc(1, sizeof *k);
    if (!k) {
        rln_throw_errno(env, ENOMEM, NULL);
        return NULL;
    }
    k->e = e;
    k->c = c;
    k->type = type;
    k->fd = -1;
    k->send_timeout = k->recv_timeout = -1;
    if (argc >= 3)
        napi_typeof(env, argv[2], &at);
    if (at != napi_undefined && at != napi_null) {
        k->s = rln_svc_adopt(env, argv[2], k); /* sets k->owner */
        if (!k->s) {
            free(k);
            return NULL; /* threw */
        }
    } else
        k->s = rl_socket(c->ctx, type);
    if (!k->s) {
        int err = rl_errno();
        free(k);
        rln_throw_errno(env, err, NULL);
        return NULL;
    }
    if (!c->blocky) {
        int zero = 0;
        rl_setsockopt(k->s, RL_LINGER, &zero, sizeof zero);
    }
    if (napi_wrap(env, self, k, sock_finalize, NULL, &k->self) != napi_ok) {
        if (k->owner)
            rln_svc_router_closed(k->owner, k);
        else
            rl_close(k->s);
        free(k);
        rln_throw_last(env);
        return NULL;
    }
    uv_timer_init(e->loop, &k->kick);
    uv_timer_init(e->loop, &k->send_timer);
    uv_timer_init(e->loop, &k->recv_timer);
    uv_handle_set_data((uv_handle_t *)&k->kick, k);
    uv_handle_set_data((uv_handle_t *)&k->send_timer, k);
    uv_handle_set_data((uv_handle_t *)&k->recv_timer, k);
    k->handles_open = 3;
    k->next = c->socks;
    if (c->socks)
        c->socks->prev = k;
    c->socks = k;
    c->nsockets++;
    return self;
}

rln_sock *rln_this_sock(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv,
                        int need_open) {
    napi_value self;
    void *p = NULL;
    if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) {
        rln_throw_last(env);
        return NULL;
    }
    if (napi_unwrap(env, self, &p) != napi_ok || !p) {
        napi_throw_type_error(env, "ERR_INVALID_THIS", "not a ringlink Socket");
        return NULL;
    }
    rln_sock *k = p;
    if (need_open && k->closed) {
        rln_throw_errno(env, EBADF, "Socket is closed");
        return NULL;
    }
    return k;
}

static napi_value sock_close(napi_env env, napi_callback_info info) {
    rln_sock *k = rln_this_sock(env, info, NULL, NULL, 0);
    if (!k)
        return NULL;
    rln_sock_close(k, 1);
    return rln_undefined(env);
}

static napi_value sock_closed(napi_env env, napi_callback_info info) {
    napi_value out;
    rln_sock *k = rln_this_sock(env, info, NULL, NULL, 0);
    if (!k)
        return NULL;
    NAPI_CALL(env, napi_get_boolean(env, k->closed, &out), NULL);
    return out;
}

/* ---------------------------------------------------------------- endpoints */

typedef int (*endpoint_fn)(rl_socket_t *, const char *);

static napi_value endpoint_call(napi_env env, napi_callback_info info, endpoint_fn fn) {
    size_t argc = 1, len;
    napi_value argv[1];
    char buf[1024];
    rln_sock *k = rln_this_sock(env, info, &argc, argv, 1);
    if (!k)
        return NULL;
    if (argc < 1 || napi_get_value_string_utf8(env, argv[0], buf, sizeof buf, &len) != napi_ok) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "address must be a string");
        return NULL;
    }
    if (len >= sizeof buf - 1) {
        rln_throw_errno(env, EINVAL, "address is too long");
        return NULL;
    }
    if (fn(k->s, buf) < 0) {
        int err = rl_errno();
        char msg[1200];
        snprintf(msg, sizeof msg, "%s: %s", rl_strerror(err), buf);
        rln_throw_errno(env, err, msg);
        return NULL;
    }
    return rln_undefined(env);
}

static napi_value sock_bind(napi_env env, napi_callback_info i) {
    return endpoint_call(env, i, rl_bind);
}
static napi_value sock_connect(napi_env env, napi_callback_info i) {
    return endpoint_call(env, i, rl_connect);
}
static napi_value sock_unbind(napi_env env, napi_callback_info i) {
    return endpoint_call(env, i, rl_unbind);
}
static napi_value sock_disconnect(napi_env env, napi_callback_info i) {
    return endpoint_call(env, i, rl_disconnect);
}

/* ---------------------------------------------------------------- options */

static int opt_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv,
                    rln_sock **k, int32_t *opt) {
    size_t argc = want;
    *k = rln_this_sock(env, info, &argc, argv, 1);
    if (!*k)
        return -1;
    if (argc < want || napi_get_value_int32(env, argv[0], opt) != napi_ok) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "option id must be a number");
        return -1;
    }
    return 0;
}

static napi_value opt_fail(napi_env env, int32_t opt) {
    int err = rl_errno();
    char msg[160];
    snprintf(msg, sizeof msg, "%s (socket option %d)", rl_strerror(err), (int)opt);
    rln_throw_errno(env, err, msg);
    return NULL;
}

static napi_value get_int(napi_env env, napi_callback_info info) {
    napi_value argv[1], out;
    rln_sock *k;
    int32_t opt;
    int v = 0;
    size_t len = sizeof v;
    if (opt_args(env, info, 1, argv, &k, &opt) < 0)
        return NULL;
    if (rl_getsockopt(k->s, opt, &v, &len) < 0)
        return opt_fail(env, opt);
    NAPI_CALL(env, napi_create_int32(env, v, &out), NULL);
    return out;
}

static napi_value set_int(napi_env env, napi_callback_info info) {
    napi_value argv[2];
    rln_sock *k;
    int32_t opt, v;
    if (opt_args(env, info, 2, argv, &k, &opt) < 0)
        return NULL;
    if (napi_get_value_int32(env, argv[1], &v) != napi_ok) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "option value must be a number");
        return NULL;
    }
    if (rl_setsockopt(k->s, opt, &v, sizeof v) < 0)
        return opt_fail(env, opt);
    if (opt == RL_SNDTIMEO)
        k->send_timeout = v;
    else if (opt == RL_RCVTIMEO)
        k->recv_timeout = v;
    return rln_undefined(env);
}

static napi_value get_int64(napi_env env, napi_callback_info info) {
    napi_value argv[1], out;
    rln_sock *k;
    int32_t opt;
    int64_t v = 0;
    size_t len = sizeof v;
    if (opt_args(env, info, 1, argv, &k, &opt) < 0)
        return NULL;
    if (rl_getsockopt(k->s, opt, &v, &len) < 0)
        return opt_fail(env, opt);
    NAPI_CALL(env, napi_create_int64(env, v, &out), NULL);
    return out;
}

static napi_value set_int64(napi_env env, napi_callback_info info) {
    napi_value argv[2];
    rln_sock *k;
    int32_t opt;
    int64_t v;
    if (opt_args(env, info, 2, argv, &k, &opt) < 0)
        return NULL;
    if (napi_get_value_int64(env, argv[1], &v) != napi_ok) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "option value must be a number");
        return NULL;
    }
    if (rl_setsockopt(k->s, opt, &v, sizeof v) < 0)
        return opt_fail(env, opt);
    return rln_undefined(env);
}

/* _getBytes(id) -> Buffer (the option's bytes; LAST_ENDPOINT without its NUL) */
static napi_value get_bytes(napi_env env, napi_callback_info info) {
    napi_value argv[1], out;
    rln_sock *k;
    int32_t opt;
    char buf[1024];
    size_t len = sizeof buf;
    if (opt_args(env, info, 1, argv, &k, &opt) < 0)
        return NULL;
    if (rl_getsockopt(k->s, opt, buf, &len) < 0)
        return opt_fail(env, opt);
    if (opt == RL_LAST_ENDPOINT && len > 0 && buf[len - 1] == '\0')
        len--;
    NAPI_CALL(env, napi_create_buffer_copy(env, len, buf, NULL, &out), NULL);
    return out;
}

/* _setBytes(id, Buffer | string | null) */
static napi_value set_bytes(napi_env env, napi_callback_info info) {
    napi_value argv[2];
    rln_sock *k;
    int32_t opt;
    const void *data;
    size_t len;
    char *owned = NULL;
    if (opt_args(env, info, 2, argv, &k, &opt) < 0)
        return NULL;
    if (rln_bytes(env, argv[1], &data, &len, &owned) < 0)
        return NULL;
    int rc = rl_setsockopt(k->s, opt, len ? data : NULL, len);
    free(owned);
    if (rc < 0)
        return opt_fail(env, opt);
    return rln_undefined(env);
}

/* ---------------------------------------------------------------- class */

#define METHOD(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_default_method, NULL}

napi_value rln_socket_class(napi_env env) {
    napi_property_descriptor props[40] = {
        METHOD("close", sock_close),
        METHOD("_bind", sock_bind),
        METHOD("connect", sock_connect),
        METHOD("_unbind", sock_unbind),
        METHOD("disconnect", sock_disconnect),
        METHOD("_getInt", get_int),
        METHOD("_setInt", set_int),
        METHOD("_getInt64", get_int64),
        METHOD("_setInt64", set_int64),
        METHOD("_getBytes", get_bytes),
        METHOD("_setBytes", set_bytes),
        METHOD("send", rln_send),
        METHOD("_receive", rln_receive),
        METHOD("_events", rln_sock_events),
        {"closed", NULL, NULL, sock_closed, NULL, NULL, napi_enumerable | napi_configurable, NULL},
    };
    size_t n = 15;
    rln_batch_define(props, &n);
    napi_value cls;
    NAPI_CALL(env,
              napi_define_class(env, "NativeSocket", NAPI_AUTO_LENGTH, sock_new, NULL, n, props,
                                &cls),
              NULL);
    return cls;
}
