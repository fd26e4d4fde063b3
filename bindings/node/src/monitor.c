/*
 * NativeObserver: a socket monitor (rl_socket_monitor) read without blocking the loop, woken
 * by a uv_poll handle on rl_monitor_fd (an eventfd that rl_monitor_recv drains). Events are
 * objects shaped like zeromq.js's: {type, address, ...}. Like a socket's, the handle keeps the
 * process alive only while a receive() is pending (so `for await (const e of sock.events)`
 * runs until the socket is closed). After 'end' (the socket was closed) the observer closes
 * itself.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rl_node.h"

static void mon_free_cb(uv_handle_t *h) {
    rln_mon *m = uv_handle_get_data(h);
    m->handle_open = 0;
    if (m->finalized)
        free(m);
}

static void mon_unhold(rln_mon *m) {
    if (!m->d && m->handle_open && !m->closed)
        uv_unref((uv_handle_t *)&m->poll);
    if (m->self_strong && !m->d && m->self) {
        napi_reference_unref(m->e->env, m->self, NULL);
        m->self_strong = 0;
    }
}

/* Close the monitor (pending receive rejected with EAGAIN, which ends `for await`). */
static void mon_close(rln_mon *m, int reject) {
    if (m->closed)
        return;
    m->closed = 1;
    if (m->handle_open && !uv_is_closing((uv_handle_t *)&m->poll))
        uv_close((uv_handle_t *)&m->poll, mon_free_cb);
    rl_monitor_close(m->m);
    m->m = NULL;
    if (reject && m->d) {
        napi_deferred d = m->d;
        m->d = NULL;
        napi_reject_deferred(m->e->env, d,
                             rln_errno_error(m->e->env, EAGAIN, "Observer was closed"));
    }
    mon_unhold(m);
}

static void set_str(napi_env env, napi_value o, const char *k, const char *v) {
    napi_value s;
    if (napi_create_string_utf8(env, v, NAPI_AUTO_LENGTH, &s) == napi_ok)
        napi_set_named_property(env, o, k, s);
}

static const char *event_type(int ev) {
    switch (ev) {
    case RL_EVENT_CONNECTED: return "connect";
    case RL_EVENT_CONNECT_DELAYED: return "connect:delay";
    case RL_EVENT_CONNECT_RETRIED: return "connect:retry";
    case RL_EVENT_LISTENING: return "bind";
    case RL_EVENT_BIND_FAILED: return "bind:error";
    case RL_EVENT_ACCEPTED: return "accept";
    case RL_EVENT_ACCEPT_FAILED: return "accept:error";
    case RL_EVENT_CLOSED: return "close";
    case RL_EVENT_CLOSE_FAILED: return "close:error";
    case RL_EVENT_DISCONNECTED: return "disconnect";
    case RL_EVENT_MONITOR_STOPPED: return "end";
    case RL_EVENT_HANDSHAKE_FAILED_NO_DETAIL: return "handshake:error:other";
    case RL_EVENT_HANDSHAKE_SUCCEEDED: return "handshake";
    case RL_EVENT_HANDSHAKE_FAILED_PROTOCOL: return "handshake:error:protocol";
    default: return "unknown";
    }
}

static napi_value event_object(napi_env env, const rl_monitor_event_t *ev) {
    napi_value o, v;
    if (napi_create_object(env, &o) != napi_ok)
        return NULL;
    set_str(env, o, "type", event_type(ev->event));
    if (ev->event != RL_EVENT_MONITOR_STOPPED)
        set_str(env, o, "address", ev->endpoint);
    switch (ev->event) {
    case RL_EVENT_CONNECT_RETRIED:
        napi_create_int32(env, ev->value, &v);
        napi_set_named_property(env, o, "interval", v);
        break;
    case RL_EVENT_BIND_FAILED:
    case RL_EVENT_ACCEPT_FAILED:
    case RL_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        v = rln_errno_error(env, ev->value > 0 ? ev->value : EPROTO,
                            ev->detail[0] ? ev->detail : NULL);
        if (v)
            napi_set_named_property(env, o, "error", v);
        break;
    case RL_EVENT_HANDSHAKE_FAILED_PROTOCOL: {
        napi_value code, msg;
        napi_create_string_utf8(env, "ERR_ZMTP_UNSPECIFIED", NAPI_AUTO_LENGTH, &code);
        napi_create_string_utf8(env, ev->detail[0] ? ev->detail : "ZMTP protocol error",
                                NAPI_AUTO_LENGTH, &msg);
        if (napi_create_error(env, code, msg, &v) == napi_ok)
            napi_set_named_property(env, o, "error", v);
        break;
    }
    case RL_EVENT_DISCONNECTED: {
        static const char *reasons[] = {"unknown", "remote", "local", "handshake", "transport"};
        set_str(env, o, "reason", reasons[ev->reason >= 0 && ev->reason <= 4 ? ev->reason : 0]);
        break;
    }
    case RL_EVENT_HANDSHAKE_SUCCEEDED:
        if (ev->peer_routing_id_size &&
            napi_create_buffer_copy(env, ev->peer_routing_id_size, ev->peer_routing_id, NULL,
                                    &v) == napi_ok)
            napi_set_named_property(env, o, "peerRoutingId", v);
        break;
    default:
        break;
    }
    if (ev->detail[0])
        set_str(env, o, "detail", ev->detail);
    return o;
}

/* Take one event without waiting: 0 with *out, EAGAIN, or another errno. */
static int mon_try(rln_mon *m, napi_value *out) {
    rl_monitor_event_t ev;
    if (rl_monitor_recv(m->m, &ev, RL_DONTWAIT, 0) < 0) {
        int err = rl_errno();
        return err == RL_ETERM ? EAGAIN : err; /* ETERM: drained after 'end' (closed below) */
    }
    *out = event_object(m->e->env, &ev);
    if (!*out)
        return ENOMEM;
    if (ev.event == RL_EVENT_MONITOR_STOPPED)
        mon_close(m, 0);
    return 0;
}

static void mon_on_poll(uv_poll_t *h, int status, int events) {
    (void)status;
    (void)events;
    rln_mon *m = uv_handle_get_data((uv_handle_t *)h);
    rln_scope sc;
    if (m->closed)
        return;
    if (!m->d) {
        uv_poll_stop(&m->poll);
        m->poll_started = 0;
        return;
    }
    if (rln_scope_open(m->e, &sc) < 0)
        return;
    napi_value out = NULL;
    int rc = mon_try(m, &out);
    if (rc != EAGAIN && m->d) {
        napi_deferred d = m->d;
        m->d = NULL;
        if (rc == 0)
            napi_resolve_deferred(m->e->env, d, out);
        else
            napi_reject_deferred(m->e->env, d, rln_errno_error(m->e->env, rc, NULL));
        mon_unhold(m);
    }
    rln_scope_close(m->e, &sc);
}

static void mon_finalize(napi_env env, void *data, void *hint) {
    (void)hint;
    rln_mon *m = data;
    m->finalized = 1;
    if (m->self) {
        napi_delete_reference(env, m->self);
        m->self = NULL;
    }
    mon_close(m, 0);
    if (!m->handle_open)
        free(m);
}

/* new NativeObserver(socket) */
static napi_value mon_new(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1], self, ctor;
    bool is = false;
    void *p = NULL;
    rln_env *e = rln_get_env(env);
    NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL), NULL);
    if (argc < 1 || napi_get_reference_value(env, e->sock_ctor, &ctor) != napi_ok ||
        napi_instanceof(env, argv[0], ctor, &is) != napi_ok || !is ||
        napi_unwrap(env, argv[0], &p) != napi_ok) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "Observer needs a ringlink Socket");
        return NULL;
    }
    rln_sock *k = p;
    if (k->closed) {
        rln_throw_errno(env, EBADF, "Socket is closed");
        return NULL;
    }
    rln_mon *m = calloc(1, sizeof *m);
    if (!m) {
        rln_throw_errno(env, ENOMEM, NULL);
        return NULL;
    }
    m->e = e;
    m->m = rl_socket_monitor(k->s, RL_EVENT_ALL);
    if (!m->m) {
        int err = rl_errno();
        free(m);
        rln_throw_errno(env, err, NULL);
        return NULL;
    }
    m->fd = rl_monitor_fd(m->m);
    if (m->fd < 0 || uv_poll_init(e->loop, &m->poll, m->fd) < 0) {
        rl_monitor_close(m->m);
        free(m);
        rln_throw_errno(env, EINVAL, "cannot watch the monitor's descriptor");
        return NULL;
    }
    uv_handle_set_data((uv_handle_t *)&m->poll, m);
    uv_unref((uv_handle_t *)&m->poll);
    m->handle_open = 1;
    if (napi_wrap(env, self, m, mon_finalize, NULL, &m->self) != napi_ok) {
        m->finalized = 1;
        mon_close(m, 0);
        rln_throw_last(env);
        return NULL;
    }
    return self;
}

static rln_mon *mon_this(napi_env env, napi_callback_info info) {
    napi_value self;
    void *p = NULL;
    if (napi_get_cb_info(env, info, NULL, NULL, &self, NULL) != napi_ok ||
        napi_unwrap(env, self, &p) != napi_ok || !p) {
        napi_throw_type_error(env, "ERR_INVALID_THIS", "not a ringlink Observer");
        return NULL;
    }
    return p;
}

/* receive() -> Promise<event> */
static napi_value mon_receive(napi_env env, napi_callback_info info) {
    rln_mon *m = mon_this(env, info);
    napi_value p, out = NULL;
    napi_deferred d;
    if (!m)
        return NULL;
    if (m->closed)
        return rln_rejected(env, EAGAIN, "Observer is closed");
    if (m->d)
        return rln_rejected(env, EBUSY,
                            "Observer is busy reading; only one receive operation may be in "
                            "progress at any time");
    int rc = mon_try(m, &out);
    if (rc != EAGAIN) {
        if (rc != 0)
            return rln_rejected(env, rc, NULL);
        NAPI_CALL(env, napi_create_promise(env, &d, &p), NULL);
        napi_resolve_deferred(env, d, out);
        return p;
    }
    NAPI_CALL(env, napi_create_promise(env, &m->d, &p), NULL);
    if (!m->self_strong) {
        napi_reference_ref(env, m->self, NULL);
        m->self_strong = 1;
    }
    if (!m->poll_started) {
        int err = uv_poll_start(&m->poll, UV_READABLE, mon_on_poll);
        if (err < 0) {
            napi_deferred dd = m->d;
            m->d = NULL;
            napi_reject_deferred(env, dd, rln_errno_error(env, -err, NULL));
            mon_unhold(m);
            return p;
        }
        m->poll_started = 1;
    }
    uv_ref((uv_handle_t *)&m->poll);
    return p;
}

static napi_value mon_close_js(napi_env env, napi_callback_info info) {
    rln_mon *m = mon_this(env, info);
    if (!m)
        return NULL;
    mon_close(m, 1);
    return rln_undefined(env);
}

static napi_value mon_closed(napi_env env, napi_callback_info info) {
    rln_mon *m = mon_this(env, info);
    napi_value out;
    if (!m)
        return NULL;
    NAPI_CALL(env, napi_get_boolean(env, m->closed, &out), NULL);
    return out;
}

napi_value rln_monitor_class(napi_env env) {
    napi_property_descriptor props[] = {
        {"receive", NULL, mon_receive, NULL, NULL, NULL, napi_default_method, NULL},
        {"close", NULL, mon_close_js, NULL, NULL, NULL, napi_default_method, NULL},
        {"closed", NULL, NULL, mon_closed, NULL, NULL, napi_enumerable | napi_configurable,
         NULL},
    };
    napi_value cls;
    NAPI_CALL(env,
              napi_define_class(env, "NativeObserver", NAPI_AUTO_LENGTH, mon_new, NULL,
                                sizeof props / sizeof props[0], props, &cls),
              NULL);
    return cls;
}
