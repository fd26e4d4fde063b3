/*
 * gateway.c - the gateway pattern of the service layer: Receiver (the request handler; its
 * ROUTER is handed out as an ordinary Socket object that it owns) and Gateway (load-balanced
 * requests, replies named by service; thread-safe, GIL released around every wait; recv
 * blocks in the C call in slices, see gw_recv_once). Shared
 * helpers, lifecycle and the GIL rules are in services.c.
 */
#include "rlpy.h"

#include <pythread.h>

#define FASTKW (METH_FASTCALL | METH_KEYWORDS)
#define M(name, fn, doc) {name, (PyCFunction)(void (*)(void))fn, FASTKW, doc}
#define PARSE(fname, names, nreq, a) \
    (rlpy_parse(fname, args, nargs, kwnames, names, (Py_ssize_t)(sizeof names / sizeof names[0]), nreq, a) < 0)
/* ---------------------------------------------------------------- Receiver */

static int recv_destroy(void *h) {
    rl_receiver_t *r = h;
    return rl_receiver_destroy(&r);
}

static PyObject *rcv_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"context", "routing_id", NULL};
    PyObject *ctx, *rid = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O:Receiver", kwlist, &ctx, &rid)) {
        return NULL;
    }
    Py_buffer v = {0};
    if (rid != Py_None && rlpy_get_read(rid, &v) < 0) {
        return NULL;
    }
    SvcObject *o = rlpy_svc_alloc(type, ctx, recv_destroy);
    if (o != NULL) {
        o->handle = rl_receiver_new(((ContextObject *)ctx)->handle, rid != Py_None ? v.buf : NULL,
                                    rid != Py_None ? (size_t)v.len : 0);
        if (o->handle == NULL) {
            Py_CLEAR(o);
            rlpy_raise_last();
        }
    }
    if (rid != Py_None) {
        rlpy_buffer_release(&v);
    }
    return (PyObject *)o;
}

void rlpy_receiver_forget_router(PyObject *owner, SocketObject *s) {
    SvcObject *o = (SvcObject *)owner;
    if (o->router == s) {
        o->router = NULL;
    }
}

static int rcv_connect_fn(void *h, const char *s) { return rl_receiver_connect_registry(h, s); }
static int rcv_unregister_fn(void *h, const char *s) { return rl_receiver_unregister(h, s); }
static PyObject *rcv_connect(SvcObject *o, PyObject *a) { return rlpy_svc_call_str(o, a, "endpoint", rcv_connect_fn, 0); }
static PyObject *rcv_unregister(SvcObject *o, PyObject *a) { return rlpy_svc_call_str(o, a, "name", rcv_unregister_fn, 0); }

static PyObject *rcv_bind(SvcObject *o, PyObject *arg) {
    const char *ep = rlpy_cstr(arg, "endpoint");
    void *h;
    if (ep == NULL || (h = rlpy_svc_handle(o)) == NULL) {
        return NULL;
    }
    char out[RL_ENDPOINT_MAX + 1];
    int rc, err;
    RLPY_NOGIL(rc, err, rl_receiver_bind(h, ep, out, sizeof out), return NULL);
    if (rc < 0) {
        return rlpy_svc_raise(o, err);
    }
    return PyUnicode_FromString(out);
}

static int parse_weight(PyObject *w, uint32_t *out) {
    unsigned long v = w ? PyLong_AsUnsignedLong(w) : 1;
    if (v == (unsigned long)-1 && PyErr_Occurred()) {
        return -1;
    }
    if (v > UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "weight out of range");
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

static PyObject *rcv_register(SvcObject *o, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"name", "advertise", "weight"};
    PyObject *a[3];
    uint32_t weight;
    int e;
    if (PARSE("register", names, 1, a) || parse_weight(a[2], &weight) < 0) {
        return NULL;
    }
    const char *name = rlpy_cstr(a[0], "name"), *adv = rlpy_cstr_opt(a[1], "advertise", &e);
    void *h;
    if (name == NULL || e || (h = rlpy_svc_handle(o)) == NULL) {
        return NULL;
    }
    int rc, err;
    RLPY_NOGIL(rc, err, rl_receiver_register(h, name, adv, weight), return NULL);
    if (rc < 0) {
        return rlpy_svc_raise(o, err);
    }
    Py_RETURN_NONE;
}

static PyObject *rcv_update_weight(SvcObject *o, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"name", "weight"};
    PyObject *a[2];
    uint32_t weight;
    if (PARSE("update_weight", names, 2, a) || parse_weight(a[1], &weight) < 0) {
        return NULL;
    }
    const char *name = rlpy_cstr(a[0], "name");
    void *h;
    if (name == NULL || (h = rlpy_svc_handle(o)) == NULL) {
        return NULL;
    }
    int rc, err;
    RLPY_NOGIL(rc, err, rl_receiver_update_weight(h, name, weight), return NULL);
    if (rc < 0) {
        return rlpy_svc_raise(o, err);
    }
    Py_RETURN_NONE;
}

/* _router(socket_class): the ROUTER as a Socket object of socket_class (cached while alive). */
static PyObject *rcv_router(SvcObject *o, PyObject *cls) {
    if (o->router != NULL) {
        return Py_NewRef((PyObject *)o->router);
    }
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &Rlpy_SocketType)) {
        PyErr_SetString(PyExc_TypeError, "_router: a Socket class is needed");
        return NULL;
    }
    void *h = rlpy_svc_handle(o);
    if (h == NULL) {
        return NULL;
    }
    rl_socket_t *rh;
    int err;
    Py_BEGIN_ALLOW_THREADS
    rh = rl_receiver_router(h);
    err = rh == NULL ? rl_errno() : 0;
    Py_END_ALLOW_THREADS
    if (rh == NULL) {
        return rlpy_svc_raise(o, err);
    }
    if (o->router != NULL) { /* made meanwhile by another thread */
        return Py_NewRef((PyObject *)o->router);
    }
    SocketObject *s = (SocketObject *)((PyTypeObject *)cls)->tp_alloc((PyTypeObject *)cls, 0);
    if (s == NULL) {
        return NULL;
    }
    s->handle = rh;
    s->context = Py_NewRef(o->context);
    s->type = RL_ROUTER;
    s->owner = Py_NewRef((PyObject *)o);
    int v = -1;
    size_t vl = sizeof v;
    s->rcvtimeo = rl_getsockopt(rh, RL_RCVTIMEO, &v, &vl) == 0 ? v : -1;
    vl = sizeof v;
    s->sndtimeo = rl_getsockopt(rh, RL_SNDTIMEO, &v, &vl) == 0 ? v : -1;
    o->router = s;
    return (PyObject *)s;
}

static PyMethodDef rcv_methods[] = {
    M("close", rlpy_svc_close,
      "close(): destroy the receiver and its ROUTER (registrations expire by heartbeat;\n"
      "unregister first to withdraw them). EBUSY while another thread uses the ROUTER."),
    {"connect_registry", (PyCFunction)rcv_connect, METH_O,
     "connect_registry(router_endpoint): register with that registry (before bind/register/router)."},
    {"bind", (PyCFunction)rcv_bind, METH_O, "bind(endpoint) -> the endpoint as bound."},
    M("register", rcv_register, "register(name, advertise=None, weight=1): register a service; waits for the ack."),
    M("update_weight", rcv_update_weight, "update_weight(name, weight)."),
    {"unregister", (PyCFunction)rcv_unregister, METH_O, "unregister(name)."},
    {"_router", (PyCFunction)rcv_router, METH_O, "_router(socket_class) -> the ROUTER socket."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject Rlpy_ReceiverType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ringlink._ringlink.Receiver",
    .tp_doc = "Receiver(context, routing_id=None): native receiver (see ringlink.Receiver).",
    .tp_new = rcv_new,
    .tp_methods = rcv_methods,
};

/* ---------------------------------------------------------------- Gateway */

static int gw_destroy(void *h) {
    rl_gateway_t *g = h;
    return rl_gateway_destroy(&g);
}

static PyObject *gw_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"context", "discovery", "routing_id", NULL};
    PyObject *ctx, *disc, *rid = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO!|O:Gateway", kwlist, &ctx, &Rlpy_DiscoveryType, &disc, &rid)) {
        return NULL;
    }
    void *dh = rlpy_svc_handle((SvcObject *)disc);
    if (dh == NULL) {
        return NULL;
    }
    Py_buffer v = {0};
    if (rid != Py_None && rlpy_get_read(rid, &v) < 0) {
        return NULL;
    }
    SvcObject *o = rlpy_svc_alloc(type, ctx, gw_destroy);
    if (o != NULL && (o->lock = PyThread_allocate_lock()) == NULL) {
        Py_CLEAR(o);
        PyErr_NoMemory();
    }
    if (o != NULL) {
        /* Blocking receives wait in slices (see gw_recv_once). */
        o->handle = rl_gateway_new(((ContextObject *)ctx)->handle, dh, rid != Py_None ? v.buf : NULL,
                                   rid != Py_None ? (size_t)v.len : 0);
        if (o->handle == NULL || rl_gateway_set_rcvtimeo(o->handle, RLPY_SLICE_MS) < 0) {
            int err = rl_errno();
            Py_CLEAR(o); /* destroys a gateway made */
            rlpy_raise(err);
        }
    }
    if (rid != Py_None) {
        rlpy_buffer_release(&v);
    }
    return (PyObject *)o;
}

/* send / send_rid: DONTWAIT with the GIL held first; blocking (GIL released) when full. */
static PyObject *gw_send_common(SvcObject *o, PyObject *svc, PyObject *rid, PyObject *parts, PyObject *fl) {
    int flags = 0;
    if (fl != NULL && rlpy_flags(fl, &flags) < 0) {
        return NULL;
    }
    const char *service = rlpy_cstr(svc, "service");
    void *h;
    if (service == NULL || (h = rlpy_svc_handle(o)) == NULL) {
        return NULL;
    }
    Py_buffer rv = {0};
    if (rid != NULL && rlpy_get_read(rid, &rv) < 0) {
        return NULL;
    }
    rlpy_parts_t p;
    PyObject *res = NULL;
    if (rlpy_parts_pin(parts, &p) < 0) {
        goto out;
    }
    int rc, err;
#define GW_SEND(f)                                                                                         \
    (rid != NULL ? rl_gateway_send_rid(h, service, rv.buf, (size_t)rv.len, p.ptrs, p.lens, (size_t)p.n, f) \
                 : rl_gateway_send(h, service, p.ptrs, p.lens, (size_t)p.n, f))
    rc = GW_SEND(flags | RL_DONTWAIT);
    err = rc < 0 ? rl_errno() : 0;
    if (rc < 0 && err == EAGAIN && !(flags & RL_DONTWAIT)) {
        RLPY_NOGIL(rc, err, GW_SEND(flags), goto done);
    }
#undef GW_SEND
    if (rc < 0) {
        rlpy_svc_raise(o, err);
    } else {
        res = Py_NewRef(Py_None);
    }
done:
    rlpy_parts_release(&p);
out:
    if (rid != NULL) {
        rlpy_buffer_release(&rv);
    }
    return res;
}

static PyObject *gw_send(SvcObject *o, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    if (kwnames == NULL && (nargs == 2 || nargs == 3)) {
        return gw_send_common(o, args[0], NULL, args[1], nargs == 3 ? args[2] : NULL);
    }
    static const char *const names[] = {"service", "parts", "flags"};
    PyObject *a[3];
    return PARSE("send", names, 2, a) ? NULL : gw_send_common(o, a[0], NULL, a[1], a[2]);
}

static PyObject *gw_send_rid(SvcObject *o, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"service", "routing_id", "parts", "flags"};
    PyObject *a[4];
    return PARSE("send_rid", names, 3, a) ? NULL : gw_send_common(o, a[0], a[1], a[2], a[3]);
}

static PyObject *gw_send_many_const(SvcObject *o, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"service", "payload", "count", "flags"};
    PyObject *a[4];
    int flags = 0;
    if (PARSE("send_many_const", names, 3, a) || (a[3] && rlpy_flags(a[3], &flags) < 0)) {
        return NULL;
    }
    Py_ssize_t count = PyLong_AsSsize_t(a[2]);
    if (count == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (count < 0 || count > INT_MAX) {
        PyErr_SetString(PyExc_ValueError, "count must be between 0 and INT_MAX");
        return NULL;
    }
    const char *service = rlpy_cstr(a[0], "service");
    void *h;
    if (service == NULL || (h = rlpy_svc_handle(o)) == NULL) {
        return NULL;
    }
    Py_buffer v;
    if (rlpy_get_read(a[1], &v) < 0) {
        return NULL;
    }
    size_t done = 0;
    int rc = 0, err = 0;
    while (done < (size_t)count) {
        Py_BEGIN_ALLOW_THREADS
        rc = rl_gateway_send_many_const(h, service, v.buf, (size_t)v.len, (size_t)count - done, flags);
        err = rc < 0 ? rl_errno() : 0;
        Py_END_ALLOW_THREADS
        if (rc > 0) {
            done += (size_t)rc;
            if (flags & RL_DONTWAIT) {
                break;
            }
            continue; /* fewer: a provider was lost midway; the next call says why */
        }
        if (rc == 0 || err != EINTR) {
            break;
        }
        if (rlpy_eintr() < 0) {
            rlpy_buffer_release(&v);
            return NULL;
        }
    }
    rlpy_buffer_release(&v);
    if (rc < 0 && done == 0) {
        return rlpy_svc_raise(o, err);
    }
    return PyLong_FromSize_t(done);
}

#define SERVICE_CAP 1024

/* One receive attempt, GIL released. The gateway's receive timeout stays at RLPY_SLICE_MS
 * (set at creation), so any number of threads can block in full slices at once; a shorter
 * last slice (a timeout's remainder) takes the gateway's lock, sets the timeout to what is
 * left for that call and puts it back (a full slice starting meanwhile just ends early and
 * loops). `deadline` -2: DONTWAIT. */
static int gw_recv_once(SvcObject *o, void *h, long long deadline, char *service, rlpy_rxb_t *b, size_t *needed,
                        int *err) {
    int rc, e = 0;
    long slice = deadline == -2 ? 0 : rlpy_slice(deadline);
    Py_BEGIN_ALLOW_THREADS
    if (slice <= 0 || slice >= RLPY_SLICE_MS) {
        rc = rl_gateway_recv(h, service, SERVICE_CAP, b->buf, b->cap, b->lens, b->nl, needed,
                             slice <= 0 ? RL_DONTWAIT : 0);
        e = rc < 0 ? rl_errno() : 0;
    } else if (PyThread_acquire_lock_timed(o->lock, (PY_TIMEOUT_T)slice * 1000, 0) != PY_LOCK_ACQUIRED) {
        rc = -1; /* other short receives took the time that was left */
        e = EAGAIN;
    } else {
        slice = rlpy_slice(deadline);
        rc = slice > 0 ? rl_gateway_set_rcvtimeo(h, (int)slice) : -1;
        e = slice > 0 ? (rc < 0 ? rl_errno() : 0) : EAGAIN;
        if (rc == 0) {
            rc = rl_gateway_recv(h, service, SERVICE_CAP, b->buf, b->cap, b->lens, b->nl, needed, 0);
            e = rc < 0 ? rl_errno() : 0;
            rl_gateway_set_rcvtimeo(h, RLPY_SLICE_MS);
        }
        PyThread_release_lock(o->lock);
    }
    Py_END_ALLOW_THREADS
    *err = e;
    return rc;
}

/* recv(flags=0, timeout=None): blocking calls in slices of at most RLPY_SLICE_MS (signal
 * handlers run and a close() from another thread is seen between slices); DONTWAIT or
 * timeout 0: one attempt. */
static PyObject *gw_recv(SvcObject *o, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"flags", "timeout"};
    PyObject *a[2] = {NULL, NULL};
    int flags = 0;
    long timeout = -1;
    if (nargs || kwnames) {
        if (PARSE("recv", names, 0, a) || (a[0] && rlpy_flags(a[0], &flags) < 0) || rlpy_timeout(a[1], &timeout) < 0) {
            return NULL;
        }
    }
    if (rlpy_svc_handle(o) == NULL) {
        return NULL;
    }
    rlpy_rxb_t b;
    if (rlpy_rxb_take(o, &b, 64 * 1024, 64) < 0) {
        return NULL;
    }
    char service[SERVICE_CAP];
    long long deadline = (flags & RL_DONTWAIT) || timeout == 0 ? -2 : rlpy_deadline(timeout);
    int rc, err;
    PyObject *res = NULL;
    for (;;) {
        void *h = o->handle;
        if (h == NULL) {
            rlpy_raise(ENOTSOCK);
            goto out;
        }
        size_t needed = 0;
        rc = gw_recv_once(o, h, deadline, service, &b, &needed, &err);
        if (rc >= 0) {
            break;
        }
        if (err == EMSGSIZE && needed > b.cap) {
            if (rlpy_rxb_grow(o, &b, needed, b.nl) < 0) {
                goto out;
            }
            continue;
        }
        if (err == EINVAL && b.nl < ((size_t)1 << 20)) {
            if (rlpy_rxb_grow(o, &b, b.cap, b.nl * 4) < 0) {
                goto out;
            }
            continue;
        }
        if (err == EINTR) {
            if (rlpy_eintr() < 0) {
                goto out;
            }
            continue;
        }
        if (err != EAGAIN || deadline == -2 || (deadline >= 0 && rlpy_now_ms() >= deadline)) {
            rlpy_svc_raise(o, err);
            goto out;
        }
        if (PyErr_CheckSignals() < 0) {
            goto out;
        }
    }
    PyObject *list = PyList_New(rc);
    const char *p = b.buf;
    for (int i = 0; list != NULL && i < rc; i++) {
        PyObject *part = PyBytes_FromStringAndSize(p, (Py_ssize_t)b.lens[i]);
        if (part == NULL) {
            Py_CLEAR(list);
            break;
        }
        p += b.lens[i];
        PyList_SET_ITEM(list, i, part);
    }
    if (list != NULL) {
        res = Py_BuildValue("(sN)", service, list);
    }
out:
    rlpy_rxb_give(o, &b);
    return res;
}

static PyObject *gw_set_lb(SvcObject *o, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"service", "strategy"};
    PyObject *a[2];
    int strategy;
    if (PARSE("set_lb", names, 2, a) || rlpy_flags(a[1], &strategy) < 0) {
        return NULL;
    }
    const char *service = rlpy_cstr(a[0], "service");
    void *h;
    if (service == NULL || (h = rlpy_svc_handle(o)) == NULL) {
        return NULL;
    }
    int rc, err;
    RLPY_NOGIL(rc, err, rl_gateway_set_lb(h, service, strategy), return NULL);
    if (rc < 0) {
        return rlpy_svc_raise(o, err);
    }
    Py_RETURN_NONE;
}

static int gw_count_fn(void *h, const char *s) { return rl_gateway_connection_count(h, s); }
static PyObject *gw_count(SvcObject *o, PyObject *a) { return rlpy_svc_call_str(o, a, "service", gw_count_fn, RLPY_STR_INT); }

static PyMethodDef gw_methods[] = {
    M("close", rlpy_svc_close, "close(): destroy the gateway."),
    M("send", gw_send,
      "send(service, parts, flags=0): a request (bytes or a list of parts) to a provider of service;\n"
      "blocks while every provider is full unless DONTWAIT."),
    M("send_rid", gw_send_rid, "send_rid(service, routing_id, parts, flags=0): to that provider."),
    M("send_many_const", gw_send_many_const,
      "send_many_const(service, payload, count, flags=0) -> int: payload count times (one C call)."),
    M("recv", gw_recv, "recv(flags=0, timeout=None) -> (service, parts): a reply."),
    M("set_lb", gw_set_lb, "set_lb(service, strategy): LB_ROUND_ROBIN or LB_WEIGHTED."),
    {"connection_count", (PyCFunction)gw_count, METH_O, "connection_count(service) -> int."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject Rlpy_GatewayType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ringlink._ringlink.Gateway",
    .tp_doc = "Gateway(context, discovery, routing_id=None): native gateway (see ringlink.Gateway).",
    .tp_new = gw_new,
    .tp_methods = gw_methods,
};

int rlpy_gateway_init_types(PyObject *m) {
    PyTypeObject *types[] = {&Rlpy_ReceiverType, &Rlpy_GatewayType};
    for (size_t i = 0; i < 2; i++) {
        rlpy_svc_type(types[i]);
        if (PyType_Ready(types[i]) < 0 ||
            PyModule_AddObjectRef(m, strrchr(types[i]->tp_name, '.') + 1, (PyObject *)types[i]) < 0) {
            return -1;
        }
    }
    return 0;
}
