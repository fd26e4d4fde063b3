/*
 * Module init, per-environment state, errors, the Context class and exit cleanup.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rl_node.h"

/* ---------------------------------------------------------------- errors */

static const struct {
    int num;
    const char *code;
} errno_names[] = {
    {EAGAIN, "EAGAIN"},
    {EINVAL, "EINVAL"},
    {EMSGSIZE, "EMSGSIZE"},
    {EHOSTUNREACH, "EHOSTUNREACH"},
    {ENOTSUP, "ENOTSUP"},
    {EPROTONOSUPPORT, "EPROTONOSUPPORT"},
    {ENOENT, "ENOENT"},
    {EADDRINUSE, "EADDRINUSE"},
    {EADDRNOTAVAIL, "EADDRNOTAVAIL"},
    {EBUSY, "EBUSY"},
    {EFAULT, "EFAULT"},
    {ENOTSOCK, "ENOTSOCK"},
    {EBADF, "EBADF"},
    {EINTR, "EINTR"},
    {ETIMEDOUT, "ETIMEDOUT"},
    {EMFILE, "EMFILE"},
    {ENFILE, "ENFILE"},
    {ECONNREFUSED, "ECONNREFUSED"},
    {ENODEV, "ENODEV"},
    {ENOMEM, "ENOMEM"},
    {EEXIST, "EEXIST"},
    {EACCES, "EACCES"},
    {EPERM, "EPERM"},
    {EINPROGRESS, "EINPROGRESS"},
    {ENOBUFS, "ENOBUFS"},
    {ENETDOWN, "ENETDOWN"},
    {ECONNABORTED, "ECONNABORTED"},
    {ECONNRESET, "ECONNRESET"},
    {ENOTCONN, "ENOTCONN"},
    {ENETUNREACH, "ENETUNREACH"},
    {EAFNOSUPPORT, "EAFNOSUPPORT"},
    {ENAMETOOLONG, "ENAMETOOLONG"},
    {ERANGE, "ERANGE"},
    {RL_ETERM, "ETERM"},
    {RL_EFSM, "EFSM"},
    {RL_ENOCOMPATPROTO, "ENOCOMPATPROTO"},
    {RL_EINTERNAL, "EINTERNAL"},
};

static const char *errno_code(int err) {
    for (size_t i = 0; i < sizeof errno_names / sizeof errno_names[0]; i++)
        if (errno_names[i].num == err)
            return errno_names[i].code;
    return "EUNKNOWN";
}

/* An Error with .code (e.g. 'EAGAIN') and .errno; message `msg` or rl_strerror. */
napi_value rln_errno_error(napi_env env, int err, const char *msg) {
    napi_value code, text, error, num;
    const char *m = msg ? msg : rl_strerror(err);
    if (napi_create_string_utf8(env, errno_code(err), NAPI_AUTO_LENGTH, &code) != napi_ok ||
        napi_create_string_utf8(env, m ? m : "unknown error", NAPI_AUTO_LENGTH, &text) !=
            napi_ok ||
        napi_create_error(env, code, text, &error) != napi_ok)
        return NULL;
    if (napi_create_int32(env, err, &num) == napi_ok)
        napi_set_named_property(env, error, "errno", num);
    return error;
}

void rln_throw_errno(napi_env env, int err, const char *msg) {
    napi_value e = rln_errno_error(env, err, msg);
    if (e)
        napi_throw(env, e);
}

/* Throw the last N-API error unless an exception is already pending. */
void rln_throw_last(napi_env env) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending)
        return;
    const napi_extended_error_info *info = NULL;
    napi_get_last_error_info(env, &info);
    napi_throw_error(env, "ERR_RINGLINK_NAPI",
                     info && info->error_message ? info->error_message : "N-API call failed");
}

napi_value rln_rejected(napi_env env, int err, const char *msg) {
    napi_deferred d;
    napi_value p, e = rln_errno_error(env, err, msg);
    if (!e || napi_create_promise(env, &d, &p) != napi_ok)
        return NULL;
    napi_reject_deferred(env, d, e);
    return p;
}

napi_value rln_undefined(napi_env env) {
    napi_value u;
    napi_get_undefined(env, &u);
    return u;
}

rln_env *rln_get_env(napi_env env) {
    void *d = NULL;
    napi_get_instance_data(env, &d);
    return d;
}

/* ---------------------------------------------------------------- scopes */

int rln_scope_open(rln_env *e, rln_scope *sc) {
    napi_value res;
    if (napi_open_handle_scope(e->env, &sc->hs) != napi_ok)
        return -1;
    if (napi_get_reference_value(e->env, e->resource, &res) != napi_ok ||
        napi_open_callback_scope(e->env, res, e->actx, &sc->cs) != napi_ok) {
        napi_close_handle_scope(e->env, sc->hs);
        return -1;
    }
    return 0;
}

void rln_scope_close(rln_env *e, rln_scope *sc) {
    napi_close_callback_scope(e->env, sc->cs);
    napi_close_handle_scope(e->env, sc->hs);
}

/* ---------------------------------------------------------------- Context */

static void term_entry(void *arg) {
    rln_ctx *c = arg;
    rl_ctx_term(c->ctx);
    __atomic_store_n(&c->term_done, 1, __ATOMIC_RELEASE);
}

static void ctx_unlink_free(rln_ctx *c) {
    rln_env *e = c->e;
    if (c->prev)
        c->prev->next = c->next;
    else if (e->contexts == c)
        e->contexts = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

/* Drop one hold on the context (its JS object or an open socket). With none left it is
 * terminated on a thread of its own (rl_ctx_term may linger with queued messages, which
 * must not block the event loop) and forgotten; exit cleanup joins that thread. */
/* Join and free the contexts whose termination thread has finished. */
static void reap_terminated(rln_env *e) {
    rln_ctx *c = e->contexts;
    while (c) {
        rln_ctx *next = c->next;
        if (c->term_started && __atomic_load_n(&c->term_done, __ATOMIC_ACQUIRE)) {
            uv_thread_join(&c->term_thread);
            c->term_started = 0;
            if (!c->js_alive)
                ctx_unlink_free(c);
        }
        c = next;
    }
}

void rln_ctx_release(rln_ctx *c) {
    if (c->js_alive || c->nsockets)
        return;
    reap_terminated(c->e);
    if (!c->terminated) {
        c->terminated = 1;
        if (uv_thread_create(&c->term_thread, term_entry, c) == 0) {
            c->term_started = 1;
            return; /* freed by exit cleanup after the join */
        }
        rl_ctx_term(c->ctx); /* no thread: terminate here */
    }
    if (!c->term_started)
        ctx_unlink_free(c);
}

static void ctx_finalize(napi_env env, void *data, void *hint) {
    (void)env;
    (void)hint;
    rln_ctx *c = data;
    c->js_alive = 0;
    if (c->e->tearing_down) {
        if (c->terminated && !c->term_started)
            ctx_unlink_free(c);
        return;
    }
    rln_ctx_release(c);
}

static napi_value ctx_new(napi_env env, napi_callback_info info) {
    napi_value self;
    NAPI_CALL(env, napi_get_cb_info(env, info, NULL, NULL, &self, NULL), NULL);
    rln_env *e = rln_get_env(env);
    rln_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        rln_throw_errno(env, ENOMEM, NULL);
        return NULL;
    }
    c->e = e;
    c->ctx = rl_ctx_new();
    if (!c->ctx) {
        int err = rl_errno();
        free(c);
        rln_throw_errno(env, err, NULL);
        return NULL;
    }
    c->blocky = 1;
    c->js_alive = 1;
    if (napi_wrap(env, self, c, ctx_finalize, NULL, NULL) != napi_ok) {
        rl_ctx_term(c->ctx);
        free(c);
        rln_throw_last(env);
        return NULL;
    }
    c->next = e->contexts;
    if (e->contexts)
        e->contexts->prev = c;
    e->contexts = c;
    return self;
}

rln_ctx *rln_unwrap_ctx(napi_env env, napi_value v) {
    rln_env *e = rln_get_env(env);
    napi_value ctor;
    bool is = false;
    void *p = NULL;
    if (napi_get_reference_value(env, e->ctx_ctor, &ctor) != napi_ok ||
        napi_instanceof(env, v, ctor, &is) != napi_ok || !is ||
        napi_unwrap(env, v, &p) != napi_ok) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "context must be a ringlink Context");
        return NULL;
    }
    return p;
}

static rln_ctx *ctx_this(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
    napi_value self;
    void *p = NULL;
    NAPI_CALL(env, napi_get_cb_info(env, info, argc, argv, &self, NULL), NULL);
    if (napi_unwrap(env, self, &p) != napi_ok || !p) {
        napi_throw_type_error(env, "ERR_INVALID_THIS", "not a ringlink Context");
        return NULL;
    }
    return p;
}

/* ctx._get(option) -> number */
static napi_value ctx_get(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1], out;
    rln_ctx *c = ctx_this(env, info, &argc, argv);
    int32_t opt;
    if (!c)
        return NULL;
    if (argc < 1 || napi_get_value_int32(env, argv[0], &opt) != napi_ok) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "option must be a number");
        return NULL;
    }
    if (opt == -1) { /* blocky lives in the binding */
        napi_get_boolean(env, c->blocky, &out);
        return out;
    }
    if (c->terminated) {
        rln_throw_errno(env, RL_ETERM, "Context is terminated");
        return NULL;
    }
    int v = rl_ctx_get(c->ctx, opt);
    if (v < 0) {
        rln_throw_errno(env, rl_errno(), NULL);
        return NULL;
    }
    NAPI_CALL(env, napi_create_int32(env, v, &out), NULL);
    return out;
}

/* ctx._set(option, value) */
static napi_value ctx_set(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    rln_ctx *c = ctx_this(env, info, &argc, argv);
    int32_t opt, val;
    if (!c)
        return NULL;
    if (argc < 2 || napi_get_value_int32(env, argv[0], &opt) != napi_ok ||
        napi_get_value_int32(env, argv[1], &val) != napi_ok) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "option and value must be numbers");
        return NULL;
    }
    if (opt == -1) {
        c->blocky = val != 0;
        return rln_undefined(env);
    }
    if (c->terminated) {
        rln_throw_errno(env, RL_ETERM, "Context is terminated");
        return NULL;
    }
    if (rl_ctx_set(c->ctx, opt, val) < 0) {
        rln_throw_errno(env, rl_errno(), NULL);
        return NULL;
    }
    return rln_undefined(env);
}

static napi_value context_class(napi_env env) {
    napi_property_descriptor props[] = {
        {"_get", NULL, ctx_get, NULL, NULL, NULL, napi_default_method, NULL},
        {"_set", NULL, ctx_set, NULL, NULL, NULL, napi_default_method, NULL},
    };
    napi_value cls;
    NAPI_CALL(env,
              napi_define_class(env, "NativeContext", NAPI_AUTO_LENGTH, ctx_new, NULL,
                                sizeof props / sizeof props[0], props, &cls),
              NULL);
    return cls;
}

/* ---------------------------------------------------------------- module functions */

static napi_value version(napi_env env, napi_callback_info info) {
    (void)info;
    int a, b, c;
    char buf[48];
    napi_value out;
    rl_version(&a, &b, &c);
    snprintf(buf, sizeof buf, "%d.%d.%d", a, b, c);
    NAPI_CALL(env, napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &out), NULL);
    return out;
}

static napi_value strerror_js(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1], out;
    int32_t n;
    NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL), NULL);
    if (argc < 1 || napi_get_value_int32(env, argv[0], &n) != napi_ok) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "errno must be a number");
        return NULL;
    }
    NAPI_CALL(env, napi_create_string_utf8(env, rl_strerror(n), NAPI_AUTO_LENGTH, &out), NULL);
    return out;
}

/* ---------------------------------------------------------------- exit cleanup */

/* The environment goes away (process exit or worker end): close every socket the
 * application left open (uv handles included), terminate the contexts (this waits for
 * lingering messages, as libzmq does at exit) and join the termination threads. */
static void env_cleanup(void *arg) {
    rln_env *e = arg;
    e->tearing_down = 1;
    for (rln_ctx *c = e->contexts; c; c = c->next) {
        while (c->socks)
            rln_sock_close(c->socks, 0);
        if (!c->terminated) {
            c->terminated = 1;
            rl_ctx_term(c->ctx);
        }
    }
    rln_ctx *c = e->contexts;
    while (c) {
        rln_ctx *next = c->next;
        if (c->term_started) {
            uv_thread_join(&c->term_thread);
            c->term_started = 0;
        }
        if (!c->js_alive)
            ctx_unlink_free(c);
        c = next;
    }
}

static void env_free(napi_env env, void *data, void *hint) {
    (void)env;
    (void)hint;
    (void)data; /* contexts still referenced by JS objects keep the env alive; leak at exit */
}

/* ---------------------------------------------------------------- init */

static napi_value init(napi_env env, napi_value exports) {
    rln_env *e = calloc(1, sizeof *e);
    napi_value v, resolved, undef, res_obj, name;
    napi_deferred d;
    if (!e) {
        rln_throw_errno(env, ENOMEM, NULL);
        return NULL;
    }
    e->env = env;
    NAPI_CALL(env, napi_get_uv_event_loop(env, &e->loop), NULL);
    NAPI_CALL(env, napi_set_instance_data(env, e, env_free, NULL), NULL);
    NAPI_CALL(env, napi_add_env_cleanup_hook(env, env_cleanup, e), NULL);

    NAPI_CALL(env, napi_create_promise(env, &d, &resolved), NULL);
    undef = rln_undefined(env);
    NAPI_CALL(env, napi_resolve_deferred(env, d, undef), NULL);
    NAPI_CALL(env, napi_create_reference(env, resolved, 1, &e->resolved), NULL);
    NAPI_CALL(env, napi_create_object(env, &res_obj), NULL);
    NAPI_CALL(env, napi_create_reference(env, res_obj, 1, &e->resource), NULL);
    NAPI_CALL(env, napi_create_string_utf8(env, "ringlink", NAPI_AUTO_LENGTH, &name), NULL);
    NAPI_CALL(env, napi_async_init(env, res_obj, name, &e->actx), NULL);

    v = context_class(env);
    if (!v)
        return NULL;
    NAPI_CALL(env, napi_create_reference(env, v, 1, &e->ctx_ctor), NULL);
    NAPI_CALL(env, napi_set_named_property(env, exports, "NativeContext", v), NULL);

    v = rln_socket_class(env);
    if (!v)
        return NULL;
    NAPI_CALL(env, napi_create_reference(env, v, 1, &e->sock_ctor), NULL);
    NAPI_CALL(env, napi_set_named_property(env, exports, "NativeSocket", v), NULL);

    v = rln_monitor_class(env);
    if (!v)
        return NULL;
    NAPI_CALL(env, napi_create_reference(env, v, 1, &e->mon_ctor), NULL);
    NAPI_CALL(env, napi_set_named_property(env, exports, "NativeObserver", v), NULL);

    if (rln_services_init(env, exports) < 0) /* after env_cleanup's hook: its own runs first */
        return NULL;

    NAPI_CALL(env, napi_create_function(env, "version", NAPI_AUTO_LENGTH, version, NULL, &v),
              NULL);
    NAPI_CALL(env, napi_set_named_property(env, exports, "version", v), NULL);
    NAPI_CALL(env,
              napi_create_function(env, "strerror", NAPI_AUTO_LENGTH, strerror_js, NULL, &v),
              NULL);
    NAPI_CALL(env, napi_set_named_property(env, exports, "strerror", v), NULL);
    return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
