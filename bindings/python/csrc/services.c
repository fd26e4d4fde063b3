/*
 * services.c - the service layer (docs/services.md) over its C ABI: Registry, Discovery,
 * plus what gateway.c (Receiver, Gateway) and spot.c share (object lifecycle, argument helpers,
 * callbacks from ringlink threads; the receive and send buffers are in svcbuf.c). The Python
 * classes of ringlink._services subclass these types.
 *
 * Threads: every service handle is thread-safe in ringlink, so these objects have no busy
 * guard of their own (the Receiver's calls go through its ROUTER and follow that socket's
 * EBUSY rule). Calls that can wait (registry answers, discovery waits, gateway receive and
 * blocking send, anything that may wait for a callback thread) release the GIL; a callback
 * thread may be waiting for the GIL, so every call that could wait for a callback in
 * progress (replacing a callback, destroying) is made with the GIL released too. Long waits
 * are cut into slices of RLPY_SLICE_MS so that Ctrl-C and a close() from another thread are
 * noticed.
 *
 * Lifetimes: each object holds its Context. close() destroys the handle at once (ringlink
 * frees the object when calls still inside other threads return; the handles are
 * generation-checked, so such a call gets EFAULT, reported as ENOTSOCK). A callback's
 * callable is held until ringlink says the callback will not run again.
 */
#include "rlpy.h"

#if PY_VERSION_HEX >= 0x030D0000
#define RLPY_FINALIZING() Py_IsFinalizing()
#else
#define RLPY_FINALIZING() _Py_IsFinalizing()
#endif

#define FASTKW (METH_FASTCALL | METH_KEYWORDS)
#define M(name, fn, doc) {name, (PyCFunction)(void (*)(void))fn, FASTKW, doc}
#define PARSE(fname, names, nreq, a) \
    (rlpy_parse(fname, args, nargs, kwnames, names, (Py_ssize_t)(sizeof names / sizeof names[0]), nreq, a) < 0)

/* ---------------------------------------------------------------- shared helpers */

SvcObject *rlpy_svc_alloc(PyTypeObject *type, PyObject *ctx, int (*destroy)(void *)) {
    if (!PyObject_TypeCheck(ctx, &Rlpy_ContextType)) {
        PyErr_SetString(PyExc_TypeError, "context must be a ringlink.Context");
        return NULL;
    }
    if (((ContextObject *)ctx)->handle == NULL) {
        rlpy_raise(RL_ETERM);
        return NULL;
    }
    SvcObject *o = (SvcObject *)type->tp_alloc(type, 0);
    if (o != NULL) {
        o->context = Py_NewRef(ctx);
        o->destroy = destroy;
    }
    return o;
}

void *rlpy_svc_handle(SvcObject *o) {
    if (o->handle == NULL) {
        rlpy_raise(ENOTSOCK);
    }
    return o->handle;
}

PyObject *rlpy_svc_raise(SvcObject *o, int err) {
    return rlpy_raise(err == EFAULT && o->handle == NULL ? ENOTSOCK : err);
}

const char *rlpy_cstr(PyObject *o, const char *what) {
    const char *s = NULL;
    if (o != NULL && PyUnicode_Check(o)) {
        s = PyUnicode_AsUTF8(o);
    } else if (o != NULL && PyBytes_Check(o)) {
        s = PyBytes_AS_STRING(o);
    } else {
        PyErr_Format(PyExc_TypeError, "%s must be str or bytes", what);
    }
    return s;
}

const char *rlpy_cstr_opt(PyObject *o, const char *what, int *err) {
    *err = 0;
    if (o == NULL || o == Py_None) {
        return NULL;
    }
    const char *s = rlpy_cstr(o, what);
    *err = s == NULL;
    return s;
}

int rlpy_timeout(PyObject *o, long *ms) {
    *ms = -1;
    if (o == NULL || o == Py_None) {
        return 0;
    }
    double v = PyFloat_AsDouble(o);
    if (v == -1.0 && PyErr_Occurred()) {
        return -1;
    }
    if (v >= 0) {
        *ms = v > INT_MAX ? INT_MAX : (long)v;
    }
    return 0;
}

/* ---------------------------------------------------------------- callbacks */

rlpy_cb_t *rlpy_cb_new(PyObject *fn) {
    if (!PyCallable_Check(fn)) {
        PyErr_SetString(PyExc_TypeError, "the callback must be callable (or None)");
        return NULL;
    }
    rlpy_cb_t *cb = PyMem_RawMalloc(sizeof *cb);
    if (cb == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    cb->fn = Py_NewRef(fn);
    return cb;
}

void rlpy_cb_free(rlpy_cb_t *cb) {
    if (cb != NULL) {
        Py_XDECREF(cb->fn);
        PyMem_RawFree(cb);
    }
}

void rlpy_cb_call(rlpy_cb_t *cb, PyObject *(*build)(void *), void *arg) {
    if (RLPY_FINALIZING()) {
        return; /* the interpreter is going away: taking the GIL could hang this thread */
    }
    PyGILState_STATE st = PyGILState_Ensure();
    /* Held for the call: the callable may replace or clear itself (which frees `cb`). */
    PyObject *fn = Py_NewRef(cb->fn);
    PyObject *a = build(arg);
    PyObject *r = a != NULL ? PyObject_Call(fn, a, NULL) : NULL;
    if (r == NULL) {
        PyErr_WriteUnraisable(fn);
    }
    Py_XDECREF(r);
    Py_XDECREF(a);
    Py_DECREF(fn);
    PyGILState_Release(st);
}

/* ---------------------------------------------------------------- lifecycle */

static int svc_destroy(SvcObject *o, int *errp) {
    void *h = o->handle;
    SocketObject *r = o->router;
    rl_socket_t *rh = r != NULL ? r->handle : NULL;
    if (h == NULL) {
        return 0;
    }
    if (r != NULL && r->busy) {
        *errp = EBUSY; /* a call on the ROUTER is in progress (GIL released) */
        return -1;
    }
    o->handle = NULL;
    if (r != NULL) {
        r->handle = NULL;
    }
    int rc, err;
    Py_BEGIN_ALLOW_THREADS
    rc = o->destroy(h);
    err = rc < 0 ? rl_errno() : 0;
    Py_END_ALLOW_THREADS
    if (rc < 0 && err != EFAULT) { /* EBUSY, EDEADLK: nothing was destroyed */
        o->handle = h;
        if (o->router == r && r != NULL) {
            r->handle = rh;
        }
        *errp = err;
        return -1;
    }
    rlpy_cb_free(o->cb);
    o->cb = NULL;
    return 0;
}

PyObject *rlpy_svc_close(SvcObject *o, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"linger"}; /* accepted for Context.destroy(); unused */
    PyObject *a[1];
    int err = 0;
    if (PARSE("close", names, 0, a)) {
        return NULL;
    }
    if (svc_destroy(o, &err) < 0) {
        return rlpy_raise(err);
    }
    Py_RETURN_NONE;
}

void rlpy_svc_dealloc(SvcObject *o) {
    PyObject_GC_UnTrack(o);
    if (o->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)o);
    }
    int err = 0;
    if (svc_destroy(o, &err) < 0) {
        o->cb = NULL; /* still in ringlink's hands (EDEADLK: dropped from its own callback) */
    }
    Py_CLEAR(o->context);
    Py_CLEAR(o->dict);
    PyMem_RawFree(o->scratch);
    PyMem_RawFree(o->scratch2);
    PyMem_RawFree(o->lens);
    if (o->lock != NULL) {
        PyThread_free_lock(o->lock);
    }
    Py_TYPE(o)->tp_free((PyObject *)o);
}

int rlpy_svc_init(PyObject *self, PyObject *args, PyObject *kwds) {
    RLPY_UNUSED(self);
    RLPY_UNUSED(args);
    RLPY_UNUSED(kwds);
    return 0;
}

int rlpy_svc_traverse(SvcObject *o, visitproc visit, void *arg) {
    Py_VISIT(o->context);
    Py_VISIT(o->dict);
    if (o->cb != NULL) {
        Py_VISIT(o->cb->fn);
    }
    return 0;
}

int rlpy_svc_clear(SvcObject *o) {
    Py_CLEAR(o->dict);
    return 0;
}

static PyObject *svc_get_closed(SvcObject *o, void *x) {
    RLPY_UNUSED(x);
    return PyBool_FromLong(o->handle == NULL);
}

static PyObject *svc_get_context(SvcObject *o, void *x) {
    RLPY_UNUSED(x);
    return Py_NewRef(o->context ? o->context : Py_None);
}

PyGetSetDef rlpy_svc_getset[] = {
    {"closed", (getter)svc_get_closed, NULL, "True once closed.", NULL},
    {"context", (getter)svc_get_context, NULL, "The context.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

void rlpy_svc_type(PyTypeObject *t) {
    t->tp_basicsize = sizeof(SvcObject);
    t->tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC;
    t->tp_init = rlpy_svc_init;
    t->tp_dealloc = (destructor)rlpy_svc_dealloc;
    t->tp_traverse = (traverseproc)rlpy_svc_traverse;
    t->tp_clear = (inquiry)rlpy_svc_clear;
    t->tp_getset = rlpy_svc_getset;
    t->tp_weaklistoffset = offsetof(SvcObject, weakreflist);
    t->tp_dictoffset = offsetof(SvcObject, dict);
}

PyObject *rlpy_svc_call_str(SvcObject *o, PyObject *arg, const char *what, str_fn fn, int flags) {
    int e = 0;
    const char *s = flags & RLPY_STR_NULLABLE ? rlpy_cstr_opt(arg, what, &e) : rlpy_cstr(arg, what);
    void *h;
    if (e || (s == NULL && !(flags & RLPY_STR_NULLABLE)) || (h = rlpy_svc_handle(o)) == NULL) {
        return NULL;
    }
    int rc, err;
    RLPY_NOGIL(rc, err, fn(h, s), return NULL);
    if (rc < 0) {
        return rlpy_svc_raise(o, err);
    }
    if (flags & RLPY_STR_INT) {
        return PyLong_FromLong(rc);
    }
    Py_RETURN_NONE;
}

/* Copy an endpoint out: fn(h, buf, cap). */
static PyObject *endpoint_out(SvcObject *o, int (*fn)(void *, char *, size_t)) {
    void *h = rlpy_svc_handle(o);
    if (h == NULL) {
        return NULL;
    }
    char buf[RL_ENDPOINT_MAX + 1];
    if (fn(h, buf, sizeof buf) < 0) {
        return rlpy_svc_raise(o, rl_errno());
    }
    return PyUnicode_FromString(buf);
}

/* ---------------------------------------------------------------- Registry */

static int reg_destroy(void *h) {
    rl_registry_t *r = h;
    return rl_registry_destroy(&r);
}

static PyObject *reg_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"context", "pub_endpoint", "router_endpoint", NULL};
    PyObject *ctx, *pub = NULL, *router = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|OO:Registry", kwlist, &ctx, &pub, &router)) {
        return NULL;
    }
    const char *p = pub ? rlpy_cstr(pub, "pub_endpoint") : "tcp://127.0.0.1:*";
    const char *r = router ? rlpy_cstr(router, "router_endpoint") : "tcp://127.0.0.1:*";
    if (p == NULL || r == NULL) {
        return NULL;
    }
    SvcObject *o = rlpy_svc_alloc(type, ctx, reg_destroy);
    if (o == NULL) {
        return NULL;
    }
    o->handle = rl_registry_new(((ContextObject *)ctx)->handle, p, r);
    if (o->handle == NULL) {
        Py_DECREF(o);
        return rlpy_raise_last();
    }
    return (PyObject *)o;
}

static PyObject *reg_set_int(SvcObject *o, PyObject *arg, int which) {
    long v = PyLong_AsLong(arg);
    void *h;
    if ((v == -1 && PyErr_Occurred()) || (h = rlpy_svc_handle(o)) == NULL) {
        return NULL;
    }
    if (v < INT_MIN || v > (which == 0 ? (long)UINT32_MAX : INT_MAX)) {
        PyErr_SetString(PyExc_OverflowError, "value out of range");
        return NULL;
    }
    int rc = which == 0 ? rl_registry_set_id(h, (uint32_t)v)
             : which == 1 ? rl_registry_set_heartbeat(h, (int)v)
                          : rl_registry_set_broadcast_interval(h, (int)v);
    if (rc < 0) {
        return rlpy_svc_raise(o, rl_errno());
    }
    Py_RETURN_NONE;
}

static PyObject *reg_set_id(SvcObject *o, PyObject *a) { return reg_set_int(o, a, 0); }
static PyObject *reg_set_heartbeat(SvcObject *o, PyObject *a) { return reg_set_int(o, a, 1); }
static PyObject *reg_set_broadcast(SvcObject *o, PyObject *a) { return reg_set_int(o, a, 2); }

static int reg_add_peer_fn(void *h, const char *s) { return rl_registry_add_peer(h, s); }
static PyObject *reg_add_peer(SvcObject *o, PyObject *a) { return rlpy_svc_call_str(o, a, "endpoint", reg_add_peer_fn, 0); }

static PyObject *reg_start(SvcObject *o, PyObject *unused) {
    RLPY_UNUSED(unused);
    void *h = rlpy_svc_handle(o);
    if (h == NULL) {
        return NULL;
    }
    int rc, err;
    RLPY_NOGIL(rc, err, rl_registry_start(h), return NULL);
    if (rc < 0) {
        return rlpy_svc_raise(o, err);
    }
    o->started = 1;
    Py_RETURN_NONE;
}

static int reg_pub_fn(void *h, char *b, size_t c) { return rl_registry_pub_endpoint(h, b, c); }
static int reg_router_fn(void *h, char *b, size_t c) { return rl_registry_router_endpoint(h, b, c); }
static PyObject *reg_pub_ep(SvcObject *o, void *x) {
    RLPY_UNUSED(x);
    return endpoint_out(o, reg_pub_fn);
}
static PyObject *reg_router_ep(SvcObject *o, void *x) {
    RLPY_UNUSED(x);
    return endpoint_out(o, reg_router_fn);
}
static PyObject *reg_started(SvcObject *o, void *x) {
    RLPY_UNUSED(x);
    return PyBool_FromLong(o->started);
}

static PyMethodDef reg_methods[] = {
    M("close", rlpy_svc_close, "close(): stop the registry (its thread and sockets)."),
    {"set_id", (PyCFunction)reg_set_id, METH_O, "set_id(id): the registry's id in a cluster (before start)."},
    {"set_heartbeat", (PyCFunction)reg_set_heartbeat, METH_O, "set_heartbeat(timeout_ms) (before start)."},
    {"set_broadcast_interval", (PyCFunction)reg_set_broadcast, METH_O, "set_broadcast_interval(ms) (before start)."},
    {"add_peer", (PyCFunction)reg_add_peer, METH_O, "add_peer(pub_endpoint): follow a peer registry."},
    {"start", (PyCFunction)reg_start, METH_NOARGS, "start(): bind both endpoints and start the worker."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef reg_getset[] = {
    {"pub_endpoint", (getter)reg_pub_ep, NULL, "The PUB endpoint as bound (after start).", NULL},
    {"router_endpoint", (getter)reg_router_ep, NULL, "The ROUTER endpoint as bound (after start).", NULL},
    {"started", (getter)reg_started, NULL, "True once started.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject Rlpy_RegistryType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ringlink._ringlink.Registry",
    .tp_doc = "Registry(context, pub_endpoint, router_endpoint): native registry (see ringlink.Registry).",
    .tp_new = reg_new,
    .tp_methods = reg_methods,
};

/* ---------------------------------------------------------------- Discovery */

static int disc_destroy(void *h) {
    rl_discovery_t *d = h;
    return rl_discovery_destroy(&d);
}

static PyObject *disc_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"context", "service_type", NULL};
    PyObject *ctx;
    int st = RL_SERVICE_GATEWAY;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|i:Discovery", kwlist, &ctx, &st)) {
        return NULL;
    }
    SvcObject *o = rlpy_svc_alloc(type, ctx, disc_destroy);
    if (o == NULL) {
        return NULL;
    }
    o->handle = rl_discovery_new(((ContextObject *)ctx)->handle, st);
    if (o->handle == NULL) {
        Py_DECREF(o);
        return rlpy_raise_last();
    }
    o->started = st; /* the service type */
    return (PyObject *)o;
}

static int disc_connect_fn(void *h, const char *s) { return rl_discovery_connect_registry(h, s); }
static int disc_sub_fn(void *h, const char *s) { return rl_discovery_subscribe(h, s); }
static int disc_unsub_fn(void *h, const char *s) { return rl_discovery_unsubscribe(h, s); }
static int disc_count_fn(void *h, const char *s) { return rl_discovery_provider_count(h, s); }
static int disc_avail_fn(void *h, const char *s) { return rl_discovery_service_available(h, s); }

static PyObject *disc_connect(SvcObject *o, PyObject *a) { return rlpy_svc_call_str(o, a, "endpoint", disc_connect_fn, 0); }
static PyObject *disc_subscribe(SvcObject *o, PyObject *a) { return rlpy_svc_call_str(o, a, "name", disc_sub_fn, 0); }
static PyObject *disc_unsubscribe(SvcObject *o, PyObject *a) { return rlpy_svc_call_str(o, a, "name", disc_unsub_fn, 0); }
static PyObject *disc_count(SvcObject *o, PyObject *a) { return rlpy_svc_call_str(o, a, "name", disc_count_fn, RLPY_STR_INT); }
static PyObject *disc_available(SvcObject *o, PyObject *a) {
    PyObject *r = rlpy_svc_call_str(o, a, "name", disc_avail_fn, RLPY_STR_INT);
    if (r == NULL) {
        return NULL;
    }
    int v = PyObject_IsTrue(r);
    Py_DECREF(r);
    return PyBool_FromLong(v);
}

static PyObject *disc_providers(SvcObject *o, PyObject *arg) {
    const char *name = rlpy_cstr(arg, "name");
    void *h;
    if (name == NULL || (h = rlpy_svc_handle(o)) == NULL) {
        return NULL;
    }
    size_t room = 8;
    rl_provider_info_t *out = NULL;
    int total, err;
    for (;;) {
        rl_provider_info_t *p = PyMem_RawRealloc(out, room * sizeof *out);
        if (p == NULL) {
            PyMem_RawFree(out);
            return PyErr_NoMemory();
        }
        out = p;
        size_t count = room;
        RLPY_NOGIL(total, err, rl_discovery_get_providers(h, name, out, &count), PyMem_RawFree(out); return NULL);
        if (total < 0) {
            PyMem_RawFree(out);
            return rlpy_svc_raise(o, err);
        }
        if ((size_t)total <= count) {
            room = count;
            break;
        }
        room = (size_t)total;
    }
    PyObject *list = PyList_New((Py_ssize_t)room);
    for (size_t i = 0; list != NULL && i < room; i++) {
        PyObject *t = Py_BuildValue("(sy#k)", out[i].endpoint, (const char *)out[i].routing_id,
                                    (Py_ssize_t)out[i].routing_id_size, (unsigned long)out[i].weight);
        if (t == NULL) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, t);
    }
    PyMem_RawFree(out);
    return list;
}

static PyObject *disc_wait(SvcObject *o, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"name", "timeout"};
    PyObject *a[2];
    long timeout;
    if (PARSE("wait_available", names, 1, a) || rlpy_timeout(a[1], &timeout) < 0) {
        return NULL;
    }
    const char *name = rlpy_cstr(a[0], "name");
    if (name == NULL || rlpy_svc_handle(o) == NULL) {
        return NULL;
    }
    long long deadline = rlpy_deadline(timeout);
    for (;;) {
        void *h = o->handle;
        if (h == NULL) {
            return rlpy_raise(ENOTSOCK);
        }
        int rc, err;
        int slice = (int)rlpy_slice(deadline);
        RLPY_NOGIL(rc, err, rl_discovery_wait_available(h, name, slice), return NULL);
        if (rc >= 0) {
            return PyLong_FromLong(rc);
        }
        if (err != EAGAIN || (deadline >= 0 && rlpy_now_ms() >= deadline)) {
            return rlpy_svc_raise(o, err);
        }
        if (PyErr_CheckSignals() < 0) {
            return NULL;
        }
    }
}

static PyObject *build_change(void *arg) {
    void **a = arg;
    return Py_BuildValue("(sn)", (const char *)a[0], *(Py_ssize_t *)a[1]);
}

static void disc_trampoline(const char *service, size_t providers, void *ud) {
    Py_ssize_t n = (Py_ssize_t)providers;
    void *a[2] = {(void *)service, &n};
    rlpy_cb_call(ud, build_change, a);
}

/* Replace o->cb with a callback for `fn` (None clears) through set(h, cb or NULL). */
PyObject *rlpy_svc_set_callback(SvcObject *o, PyObject *fn, int (*set)(void *h, rlpy_cb_t *cb)) {
    void *h = rlpy_svc_handle(o);
    if (h == NULL) {
        return NULL;
    }
    if (o->setting) {
        return rlpy_raise(EBUSY);
    }
    rlpy_cb_t *cb = NULL;
    if (fn != Py_None && (cb = rlpy_cb_new(fn)) == NULL) {
        return NULL;
    }
    o->setting = 1;
    int rc, err;
    Py_BEGIN_ALLOW_THREADS /* waits for a call in progress, which may wait for the GIL */
    rc = set(h, cb);
    err = rc < 0 ? rl_errno() : 0;
    Py_END_ALLOW_THREADS
    o->setting = 0;
    if (rc < 0) {
        rlpy_cb_free(cb);
        return rlpy_svc_raise(o, err);
    }
    rlpy_cb_t *old = o->cb;
    o->cb = cb;
    rlpy_cb_free(old);
    Py_RETURN_NONE;
}

static int disc_set_fn(void *h, rlpy_cb_t *cb) {
    return rl_discovery_set_callback(h, cb ? disc_trampoline : NULL, cb);
}

static PyObject *disc_set_callback(SvcObject *o, PyObject *fn) { return rlpy_svc_set_callback(o, fn, disc_set_fn); }

static PyObject *disc_type(SvcObject *o, void *x) {
    RLPY_UNUSED(x);
    return PyLong_FromLong(o->started);
}

static PyMethodDef disc_methods[] = {
    M("close", rlpy_svc_close, "close(): stop the discovery (its thread; the callback is not called any more)."),
    {"connect_registry", (PyCFunction)disc_connect, METH_O, "connect_registry(pub_endpoint): follow a registry."},
    {"subscribe", (PyCFunction)disc_subscribe, METH_O, "subscribe(name): show only subscribed services."},
    {"unsubscribe", (PyCFunction)disc_unsubscribe, METH_O, "unsubscribe(name)."},
    {"provider_count", (PyCFunction)disc_count, METH_O, "provider_count(name) -> int."},
    {"service_available", (PyCFunction)disc_available, METH_O, "service_available(name) -> bool."},
    {"providers", (PyCFunction)disc_providers, METH_O,
     "providers(name) -> list of (endpoint, routing_id, weight)."},
    M("wait_available", disc_wait,
      "wait_available(name, timeout=None) -> int: wait (ms; None: no limit) until name has a provider;\n"
      "returns the provider count; Again on timeout."),
    {"set_callback", (PyCFunction)disc_set_callback, METH_O,
     "set_callback(fn or None): fn(service, providers) on every change, from the discovery's thread."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef disc_getset[] = {
    {"service_type", (getter)disc_type, NULL, "SERVICE_GATEWAY or SERVICE_SPOT.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject Rlpy_DiscoveryType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ringlink._ringlink.Discovery",
    .tp_doc = "Discovery(context, service_type=SERVICE_GATEWAY): native discovery (see ringlink.Discovery).",
    .tp_new = disc_new,
    .tp_methods = disc_methods,
};

/* ---------------------------------------------------------------- module */

int rlpy_services_init_types(PyObject *m) {
    PyTypeObject *types[] = {&Rlpy_RegistryType, &Rlpy_DiscoveryType};
    PyGetSetDef *extra[] = {reg_getset, disc_getset};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        rlpy_svc_type(types[i]);
        if (PyType_Ready(types[i]) < 0) {
            return -1;
        }
        for (PyGetSetDef *g = extra[i]; g != NULL && g->name != NULL; g++) {
            PyObject *d = PyDescr_NewGetSet(types[i], g);
            if (d == NULL || PyDict_SetItemString(types[i]->tp_dict, g->name, d) < 0) {
                Py_XDECREF(d);
                return -1;
            }
            Py_DECREF(d);
        }
        PyType_Modified(types[i]);
        const char *name = strrchr(types[i]->tp_name, '.') + 1;
        if (PyModule_AddObjectRef(m, name, (PyObject *)types[i]) < 0) {
            return -1;
        }
    }
    return rlpy_gateway_init_types(m);
}
