/*
 * spot.c - SPOT, the service layer's topic mesh, over its C ABI: SpotNode (PUB/SUB options
 * before the start, bind, peers, registration, discovery-driven mesh, publish,
 * publish_many_const) and SpotSub (subscribe, patterns, recv, recv_many, handler).
 * Lifecycle and callbacks are shared with services.c (see there for the GIL and lifetime
 * rules), buffers with svcbuf.c.
 *
 *   SpotNode.publish(topic, parts)            rl_spot_publish (GIL held: it never blocks)
 *   SpotNode.publish_many_const(t, p, n)      rl_spot_publish_many_const (GIL released)
 *   SpotNode.dropped() / publisher_dropped()  rl_spot_node_stats
 *   SpotSub.recv(timeout)                     rl_spot_sub_recv, waiting in slices
 *   SpotSub.recv_many(max, timeout)           ONE rl_spot_recv_many per batch, into the
 *                                             object's buffer (topics, then payloads)
 *   SpotSub.recv_many_into(tb, tl, pb, pl, t) ONE rl_spot_recv_many straight into the
 *                                             caller's buffers (no object per message)
 *   SpotSub.set_handler(fn)                   rl_spot_sub_set_handler; fn(topic, parts) runs
 *                                             on the subscriber's thread under the GIL
 */
#include "rlpy.h"

#define FASTKW (METH_FASTCALL | METH_KEYWORDS)
#define M(name, fn, doc) {name, (PyCFunction)(void (*)(void))fn, FASTKW, doc}
#define PARSE(fname, names, nreq, a) \
    (rlpy_parse(fname, args, nargs, kwnames, names, (Py_ssize_t)(sizeof names / sizeof names[0]), nreq, a) < 0)
#define TOPIC_MAX 255
#define BUF_MAX ((size_t)1 << 30)

static PyTypeObject Rlpy_SpotNodeType;

/* A topic as bytes: str (UTF-8) or any buffer. Release with rlpy_buffer_release. */
static int get_topic(PyObject *o, Py_buffer *v) {
    if (PyUnicode_Check(o)) {
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(o, &n);
        if (s == NULL) {
            return -1;
        }
        v->buf = (void *)s;
        v->len = n;
        v->obj = NULL;
        return 0;
    }
    return rlpy_get_read(o, v);
}

/* A string argument (None passes NULL: ringlink reports it), then fn(handle, str). */
static PyObject *call_str(SvcObject *o, PyObject *arg, const char *what, str_fn fn) {
    return rlpy_svc_call_str(o, arg, what, fn, RLPY_STR_NULLABLE);
}

/* ---------------------------------------------------------------- SpotNode */

static int node_destroy(void *h) {
    rl_spot_node_t *n = h;
    return rl_spot_node_destroy(&n);
}

static PyObject *node_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"context", NULL};
    PyObject *ctx;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:SpotNode", kwlist, &ctx)) {
        return NULL;
    }
    SvcObject *o = rlpy_svc_alloc(type, ctx, node_destroy);
    if (o == NULL) {
        return NULL;
    }
    o->handle = rl_spot_node_new(((ContextObject *)ctx)->handle);
    if (o->handle == NULL) {
        Py_DECREF(o);
        return rlpy_raise_last();
    }
    return (PyObject *)o;
}

static int node_connect_fn(void *h, const char *s) { return rl_spot_node_connect_registry(h, s); }
static int node_peer_fn(void *h, const char *s) { return rl_spot_node_connect_peer(h, s); }
static int node_unpeer_fn(void *h, const char *s) { return rl_spot_node_disconnect_peer(h, s); }
static int node_unregister_fn(void *h, const char *s) { return rl_spot_node_unregister(h, s); }
static PyObject *node_connect(SvcObject *o, PyObject *a) { return call_str(o, a, "endpoint", node_connect_fn); }
static PyObject *node_peer(SvcObject *o, PyObject *a) { return call_str(o, a, "endpoint", node_peer_fn); }
static PyObject *node_unpeer(SvcObject *o, PyObject *a) { return call_str(o, a, "endpoint", node_unpeer_fn); }

static PyObject *node_unregister(SvcObject *o, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"service"};
    PyObject *a[1];
    return PARSE("unregister", names, 0, a) ? NULL : call_str(o, a[0], "service", node_unregister_fn);
}

/* setsockopt(role, option, value): an option of the node's PUB (SPOT_NODE_PUB) or SUB
 * (SPOT_NODE_SUB), before the node starts (EFSM after). value: an int (an int64 for
 * MAXMSGSIZE) or, for the binary options, bytes. */
static PyObject *node_setsockopt(SvcObject *o, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"role", "option", "value"};
    PyObject *a[3];
    int role, option;
    if (PARSE("setsockopt", names, 3, a) || rlpy_flags(a[0], &role) < 0 || rlpy_flags(a[1], &option) < 0) {
        return NULL;
    }
    void *h = rlpy_svc_handle(o);
    if (h == NULL) {
        return NULL;
    }
    Py_buffer v = {0};
    int iv = 0;
    int64_t lv = 0;
    const void *val;
    size_t len;
    if (PyLong_Check(a[2])) {
        long long x = PyLong_AsLongLong(a[2]);
        if (x == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (option == RL_MAXMSGSIZE) {
            lv = (int64_t)x;
            val = &lv;
            len = sizeof lv;
        } else if (x < INT_MIN || x > INT_MAX) {
            return rlpy_raise(EINVAL);
        } else {
            iv = (int)x;
            val = &iv;
            len = sizeof iv;
        }
    } else if (!PyUnicode_Check(a[2]) && PyObject_CheckBuffer(a[2])) {
        if (rlpy_get_read(a[2], &v) < 0) {
            return NULL;
        }
        val = v.len ? v.buf : NULL;
        len = (size_t)v.len;
    } else {
        PyErr_SetString(PyExc_TypeError, "setsockopt: value must be an int (or bytes for a binary option)");
        return NULL;
    }
    int rc, err;
    RLPY_NOGIL(rc, err, rl_spot_node_setsockopt(h, role, option, val, len), rc = -2; break);
    rlpy_buffer_release(&v);
    if (rc == -2) {
        return NULL;
    }
    if (rc < 0) {
        return rlpy_svc_raise(o, err);
    }
    Py_RETURN_NONE;
}

static PyObject *node_bind(SvcObject *o, PyObject *arg) {
    const char *ep = rlpy_cstr(arg, "endpoint");
    void *h;
    if (ep == NULL || (h = rlpy_svc_handle(o)) == NULL) {
        return NULL;
    }
    char out[RL_ENDPOINT_MAX + 1];
    int rc, err;
    RLPY_NOGIL(rc, err, rl_spot_node_bind(h, ep, out, sizeof out), return NULL);
    if (rc < 0) {
        return rlpy_svc_raise(o, err);
    }
    return PyUnicode_FromString(out);
}

static PyObject *node_register(SvcObject *o, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"service", "advertise"};
    PyObject *a[2];
    int e1, e2;
    if (PARSE("register", names, 0, a)) {
        return NULL;
    }
    const char *svc = rlpy_cstr_opt(a[0], "service", &e1), *adv = rlpy_cstr_opt(a[1], "advertise", &e2);
    void *h;
    if (e1 || e2 || (h = rlpy_svc_handle(o)) == NULL) {
        return NULL;
    }
    char out[RL_ENDPOINT_MAX + 1];
    int rc, err;
    RLPY_NOGIL(rc, err, rl_spot_node_register(h, svc, adv, out, sizeof out), return NULL);
    if (rc < 0) {
        return rlpy_svc_raise(o, err);
    }
    return PyUnicode_FromString(out);
}

static PyObject *node_set_discovery(SvcObject *o, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"discovery", "service"};
    PyObject *a[2];
    int e;
    if (PARSE("set_discovery", names, 1, a)) {
        return NULL;
    }
    if (!PyObject_TypeCheck(a[0], &Rlpy_DiscoveryType)) {
        PyErr_SetString(PyExc_TypeError, "set_discovery: a ringlink.Discovery is needed");
        return NULL;
    }
    const char *svc = rlpy_cstr_opt(a[1], "service", &e);
    void *h, *dh;
    if (e || (h = rlpy_svc_handle(o)) == NULL || (dh = rlpy_svc_handle((SvcObject *)a[0])) == NULL) {
        return NULL;
    }
    int rc, err;
    RLPY_NOGIL(rc, err, rl_spot_node_set_discovery(h, dh, svc), return NULL);
    if (rc < 0) {
        return rlpy_svc_raise(o, err);
    }
    Py_RETURN_NONE;
}

static PyObject *node_publish(SvcObject *o, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    PyObject *a[3] = {NULL, NULL, NULL};
    int flags = 0;
    if (kwnames == NULL && nargs == 2) {
        a[0] = args[0];
        a[1] = args[1];
    } else {
        static const char *const names[] = {"topic", "parts", "flags"};
        if (PARSE("publish", names, 2, a) || (a[2] && rlpy_flags(a[2], &flags) < 0)) {
            return NULL;
        }
    }
    void *h = rlpy_svc_handle(o);
    Py_buffer t;
    if (h == NULL || get_topic(a[0], &t) < 0) {
        return NULL;
    }
    rlpy_parts_t p;
    if (rlpy_parts_pin(a[1], &p) < 0) {
        rlpy_buffer_release(&t);
        return NULL;
    }
    /* Never blocks (a PUB drops at its HWM), so the GIL stays held. */
    int rc = rl_spot_publish(h, t.buf, (size_t)t.len, p.ptrs, p.lens, (size_t)p.n, flags);
    int err = rc < 0 ? rl_errno() : 0;
    rlpy_parts_release(&p);
    rlpy_buffer_release(&t);
    if (rc < 0) {
        return rlpy_svc_raise(o, err);
    }
    Py_RETURN_NONE;
}

static PyObject *node_publish_many_const(SvcObject *o, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"topic", "payload", "count"};
    PyObject *a[3];
    if (PARSE("publish_many_const", names, 3, a)) {
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
    void *h = rlpy_svc_handle(o);
    Py_buffer t, v;
    if (h == NULL || get_topic(a[0], &t) < 0) {
        return NULL;
    }
    if (rlpy_get_read(a[1], &v) < 0) {
        rlpy_buffer_release(&t);
        return NULL;
    }
    int rc, err;
    RLPY_NOGIL(rc, err, rl_spot_publish_many_const(h, t.buf, (size_t)t.len, v.buf, (size_t)v.len, (size_t)count),
               rc = -2; break);
    rlpy_buffer_release(&v);
    rlpy_buffer_release(&t);
    if (rc == -2) {
        return NULL;
    }
    if (rc < 0) {
        return rlpy_svc_raise(o, err);
    }
    return PyLong_FromLong(rc);
}

/* rl_spot_node_stats: one counter (its offset in rl_spot_stats_t); never starts the node. */
static PyObject *node_counter(SvcObject *o, size_t off) {
    void *h = rlpy_svc_handle(o);
    rl_spot_stats_t st;
    if (h == NULL) {
        return NULL;
    }
    if (rl_spot_node_stats(h, &st, sizeof st) < 0) {
        return rlpy_svc_raise(o, rl_errno());
    }
    return PyLong_FromUnsignedLongLong(*(const uint64_t *)((const char *)&st + off));
}
static PyObject *node_dropped(SvcObject *o, PyObject *x) {
    RLPY_UNUSED(x);
    return node_counter(o, offsetof(rl_spot_stats_t, dropped));
}
static PyObject *node_pub_dropped(SvcObject *o, PyObject *x) {
    RLPY_UNUSED(x);
    return node_counter(o, offsetof(rl_spot_stats_t, publisher_dropped));
}

static PyMethodDef node_methods[] = {
    M("close", rlpy_svc_close,
      "close(): destroy the node handle (its registrations stop; its subscribers stay valid)."),
    M("setsockopt", node_setsockopt,
      "setsockopt(role, option, value): an option (SNDHWM, RCVHWM, ...) of the node's PUB (SPOT_NODE_PUB)\n"
      "or SUB (SPOT_NODE_SUB); only before the node starts (its first call other than\n"
      "connect_registry/setsockopt), EFSM after."),
    {"connect_registry", (PyCFunction)node_connect, METH_O,
     "connect_registry(router_endpoint): register with that registry (before any other call)."},
    {"bind", (PyCFunction)node_bind, METH_O, "bind(endpoint) -> the PUB endpoint as bound."},
    {"connect_peer", (PyCFunction)node_peer, METH_O, "connect_peer(pub_endpoint): receive a peer's publications."},
    {"disconnect_peer", (PyCFunction)node_unpeer, METH_O, "disconnect_peer(pub_endpoint)."},
    M("register", node_register,
      "register(service=None, advertise=None) -> the advertised endpoint (service None: 'spot-node')."),
    M("unregister", node_unregister, "unregister(service=None): None is 'spot-node', as for register."),
    M("set_discovery", node_set_discovery,
      "set_discovery(discovery, service=None): keep the mesh connected to the nodes it lists."),
    M("publish", node_publish, "publish(topic, parts, flags=0): parts is bytes or a list of parts."),
    M("publish_many_const", node_publish_many_const,
      "publish_many_const(topic, payload, count) -> int: payload count times (one C call)."),
    {"dropped", (PyCFunction)node_dropped, METH_NOARGS,
     "dropped() -> int: messages dropped because a local subscriber's queue was full."},
    {"publisher_dropped", (PyCFunction)node_pub_dropped, METH_NOARGS,
     "publisher_dropped() -> int: messages the node's PUB dropped for a peer at its SNDHWM."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject Rlpy_SpotNodeType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ringlink._ringlink.SpotNode",
    .tp_doc = "SpotNode(context): native SPOT node (see ringlink.SpotNode).",
    .tp_new = node_new,
    .tp_methods = node_methods,
};

/* ---------------------------------------------------------------- SpotSub */

static int sub_destroy(void *h) {
    rl_spot_sub_t *s = h;
    return rl_spot_sub_destroy(&s);
}

static PyObject *sub_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"node", NULL};
    PyObject *node;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!:SpotSub", kwlist, &Rlpy_SpotNodeType, &node)) {
        return NULL;
    }
    SvcObject *n = (SvcObject *)node;
    void *nh = rlpy_svc_handle(n);
    if (nh == NULL) {
        return NULL;
    }
    SvcObject *o = rlpy_svc_alloc(type, n->context, sub_destroy);
    if (o == NULL) {
        return NULL;
    }
    rl_spot_sub_t *h;
    int err;
    Py_BEGIN_ALLOW_THREADS
    h = rl_spot_sub_new(nh);
    err = h == NULL ? rl_errno() : 0;
    Py_END_ALLOW_THREADS
    if (h == NULL) {
        Py_DECREF(o);
        return rlpy_svc_raise(n, err);
    }
    o->handle = h;
    return (PyObject *)o;
}

static int sub_sub_fn(void *h, const char *s) { return rl_spot_sub_subscribe(h, s); }
static int sub_pat_fn(void *h, const char *s) { return rl_spot_sub_subscribe_pattern(h, s); }
static int sub_unsub_fn(void *h, const char *s) { return rl_spot_sub_unsubscribe(h, s); }
static PyObject *sub_subscribe(SvcObject *o, PyObject *a) { return call_str(o, a, "topic", sub_sub_fn); }
static PyObject *sub_pattern(SvcObject *o, PyObject *a) { return call_str(o, a, "pattern", sub_pat_fn); }
static PyObject *sub_unsubscribe(SvcObject *o, PyObject *a) { return call_str(o, a, "topic", sub_unsub_fn); }

/* Shared by recv and recv_many: wait in slices of the timeout; grow the buffers when the
 * first message does not fit (EMSGSIZE: the C calls do not report the size needed, so the
 * payload buffer doubles) or has too many parts. `call` returns rc and sets *err. */
typedef int (*sub_call_fn)(void *h, rlpy_rxb_t *b, void *arg, int slice_ms, int *err);

static int sub_wait_loop(SvcObject *o, rlpy_rxb_t *b, sub_call_fn call, void *arg, long timeout, size_t lens_per) {
    long long deadline = rlpy_deadline(timeout);
    for (;;) {
        void *h = o->handle;
        if (h == NULL) {
            rlpy_raise(ENOTSOCK);
            return -1;
        }
        int err = 0, rc;
        int slice = timeout == 0 ? 0 : (int)rlpy_slice(deadline);
        Py_BEGIN_ALLOW_THREADS
        rc = call(h, b, arg, slice, &err);
        Py_END_ALLOW_THREADS
        if (rc >= 0) {
            return rc;
        }
        if (err == EMSGSIZE && b->cap < BUF_MAX) {
            if (rlpy_rxb_grow(o, b, b->cap * 2, b->nl) < 0) {
                return -1;
            }
            continue;
        }
        if (err == EINVAL && o->cb == NULL && lens_per == 1 && b->nl < ((size_t)1 << 20)) {
            if (rlpy_rxb_grow(o, b, b->cap, b->nl * 4) < 0) { /* more parts than lens */
                return -1;
            }
            continue;
        }
        if (err != EAGAIN && err != EINTR) {
            rlpy_svc_raise(o, err);
            return -1;
        }
        if (PyErr_CheckSignals() < 0) {
            return -1;
        }
        if (err == EAGAIN && (timeout == 0 || (deadline >= 0 && rlpy_now_ms() >= deadline))) {
            rlpy_raise(EAGAIN);
            return -1;
        }
    }
}

struct recv_one {
    char topic[TOPIC_MAX + 1];
    size_t topic_len;
};

static int recv_one_call(void *h, rlpy_rxb_t *b, void *arg, int slice, int *err) {
    struct recv_one *r = arg;
    int rc = rl_spot_sub_recv(h, r->topic, sizeof r->topic, &r->topic_len, b->buf, b->cap, b->lens, b->nl, slice);
    *err = rc < 0 ? rl_errno() : 0;
    return rc;
}

static PyObject *parts_list(const char *p, const size_t *lens, int n) {
    PyObject *list = PyList_New(n);
    for (int i = 0; list != NULL && i < n; i++) {
        PyObject *part = PyBytes_FromStringAndSize(p, (Py_ssize_t)lens[i]);
        if (part == NULL) {
            Py_CLEAR(list);
            break;
        }
        p += lens[i];
        PyList_SET_ITEM(list, i, part);
    }
    return list;
}

static PyObject *sub_recv(SvcObject *o, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"timeout", "flags"};
    PyObject *a[2];
    long timeout;
    int flags = 0;
    if (PARSE("recv", names, 0, a) || rlpy_timeout(a[0], &timeout) < 0 || (a[1] && rlpy_flags(a[1], &flags) < 0)) {
        return NULL;
    }
    if (flags & RL_DONTWAIT) {
        timeout = 0;
    }
    if (rlpy_svc_handle(o) == NULL) {
        return NULL;
    }
    rlpy_rxb_t b;
    if (rlpy_rxb_take(o, &b, 64 * 1024, 64) < 0) {
        return NULL;
    }
    struct recv_one r;
    PyObject *res = NULL;
    int n = sub_wait_loop(o, &b, recv_one_call, &r, timeout, 1);
    if (n >= 0) {
        PyObject *list = parts_list(b.buf, b.lens, n);
        if (list != NULL) {
            res = Py_BuildValue("(y#N)", r.topic, (Py_ssize_t)r.topic_len, list);
        }
    }
    rlpy_rxb_give(o, &b);
    return res;
}

struct recv_many {
    size_t max;
    size_t topic_cap;
};

static int recv_many_call(void *h, rlpy_rxb_t *b, void *arg, int slice, int *err) {
    struct recv_many *r = arg;
    int rc = rl_spot_recv_many(h, b->buf, r->topic_cap, b->lens, b->buf + r->topic_cap, b->cap - r->topic_cap,
                               b->lens + r->max, NULL, r->max, slice);
    *err = rc < 0 ? rl_errno() : 0;
    return rc;
}

static PyObject *sub_recv_many(SvcObject *o, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"max", "timeout"};
    PyObject *a[2];
    long timeout;
    Py_ssize_t max = 1024;
    if (PARSE("recv_many", names, 0, a) || rlpy_timeout(a[1], &timeout) < 0) {
        return NULL;
    }
    if (a[0] != NULL && (max = PyLong_AsSsize_t(a[0])) == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (max <= 0 || max > INT_MAX) {
        PyErr_SetString(PyExc_ValueError, "max must be between 1 and INT_MAX");
        return NULL;
    }
    if (rlpy_svc_handle(o) == NULL) {
        return NULL;
    }
    struct recv_many r = {(size_t)max, (size_t)max * 64};
    if (r.topic_cap < TOPIC_MAX + 1) {
        r.topic_cap = TOPIC_MAX + 1;
    } else if (r.topic_cap > ((size_t)1 << 20)) {
        r.topic_cap = (size_t)1 << 20;
    }
    rlpy_rxb_t b;
    if (rlpy_rxb_take(o, &b, r.topic_cap + 256 * 1024, 2 * (size_t)max) < 0) {
        return NULL;
    }
    PyObject *res = NULL;
    int n = sub_wait_loop(o, &b, recv_many_call, &r, timeout, 2);
    if (n >= 0 && (res = PyList_New(n)) != NULL) {
        const char *tp = b.buf, *pp = b.buf + r.topic_cap;
        PyObject *last = NULL; /* consecutive messages of one topic share its bytes object */
        for (int i = 0; i < n; i++) {
            size_t tl = b.lens[i], pl = b.lens[r.max + i];
            PyObject *topic;
            if (last != NULL && (size_t)PyBytes_GET_SIZE(last) == tl && memcmp(PyBytes_AS_STRING(last), tp, tl) == 0) {
                topic = Py_NewRef(last);
            } else {
                topic = PyBytes_FromStringAndSize(tp, (Py_ssize_t)tl);
            }
            PyObject *payload = topic ? PyBytes_FromStringAndSize(pp, (Py_ssize_t)pl) : NULL;
            PyObject *t = payload ? PyTuple_New(2) : NULL;
            if (t == NULL) {
                Py_XDECREF(topic);
                Py_XDECREF(payload);
                Py_CLEAR(res);
                break;
            }
            last = topic;
            PyTuple_SET_ITEM(t, 0, topic);
            PyTuple_SET_ITEM(t, 1, payload);
            PyList_SET_ITEM(res, i, t);
            tp += tl;
            pp += pl;
        }
    }
    rlpy_rxb_give(o, &b);
    return res;
}

/* recv_many_into(topic_buf, topic_lens, payload_buf, payload_lens, timeout=None) -> count */
static PyObject *sub_recv_many_into(SvcObject *o, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"topic_buf", "topic_lens", "payload_buf", "payload_lens", "timeout"};
    PyObject *a[5];
    long timeout;
    Py_buffer v[4];
    int nv = 0, rc = -1, err = 0;
    if (PARSE("recv_many_into", names, 4, a) || rlpy_timeout(a[4], &timeout) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(a[0], &v[0], PyBUF_WRITABLE) < 0 || (nv = 1, rlpy_get_lens(a[1], &v[1], "topic_lens") < 0) ||
        (nv = 2, PyObject_GetBuffer(a[2], &v[2], PyBUF_WRITABLE) < 0) ||
        (nv = 3, rlpy_get_lens(a[3], &v[3], "payload_lens") < 0)) {
        goto out;
    }
    nv = 4;
    size_t max = (size_t)(v[1].len < v[3].len ? v[1].len : v[3].len) / sizeof(size_t);
    long long deadline = rlpy_deadline(timeout);
    for (;;) {
        void *h = o->handle;
        if (h == NULL) {
            rlpy_raise(ENOTSOCK);
            goto out;
        }
        int slice = timeout == 0 ? 0 : (int)rlpy_slice(deadline);
        Py_BEGIN_ALLOW_THREADS
        rc = rl_spot_recv_many(h, v[0].buf, (size_t)v[0].len, v[1].buf, v[2].buf, (size_t)v[2].len, v[3].buf, NULL,
                               max, slice);
        err = rc < 0 ? rl_errno() : 0;
        Py_END_ALLOW_THREADS
        if (rc >= 0) {
            break;
        }
        if (err != EAGAIN && err != EINTR) {
            rlpy_svc_raise(o, err); /* EMSGSIZE: the first message does not fit the buffers */
            goto out;
        }
        if (PyErr_CheckSignals() < 0) {
            goto out;
        }
        if (err == EAGAIN && (timeout == 0 || (deadline >= 0 && rlpy_now_ms() >= deadline))) {
            rlpy_raise(EAGAIN);
            goto out;
        }
    }
out:
    while (nv > 0) {
        PyBuffer_Release(&v[--nv]);
    }
    return rc >= 0 ? PyLong_FromLong(rc) : NULL;
}

struct handler_msg {
    const char *topic;
    size_t topic_len;
    const void *const *parts;
    const size_t *lens;
    size_t n;
};

static PyObject *build_msg(void *arg) {
    struct handler_msg *m = arg;
    PyObject *list = PyList_New((Py_ssize_t)m->n);
    for (size_t i = 0; list != NULL && i < m->n; i++) {
        PyObject *part = PyBytes_FromStringAndSize(m->parts[i], (Py_ssize_t)m->lens[i]);
        if (part == NULL) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, part);
    }
    return list ? Py_BuildValue("(y#N)", m->topic, (Py_ssize_t)m->topic_len, list) : NULL;
}

static void sub_trampoline(const char *topic, size_t topic_len, const void *const *parts, const size_t *lens, size_t n,
                           void *ud) {
    struct handler_msg m = {topic, topic_len, parts, lens, n};
    rlpy_cb_call(ud, build_msg, &m);
}

static int sub_set_fn(void *h, rlpy_cb_t *cb) { return rl_spot_sub_set_handler(h, cb ? sub_trampoline : NULL, cb); }
static PyObject *sub_set_handler(SvcObject *o, PyObject *fn) { return rlpy_svc_set_callback(o, fn, sub_set_fn); }

static PyObject *sub_get_handler(SvcObject *o, void *x) {
    RLPY_UNUSED(x);
    return Py_NewRef(o->cb != NULL ? o->cb->fn : Py_None);
}

static PyMethodDef sub_methods[] = {
    M("close", rlpy_svc_close, "close(): destroy the subscriber (waits for a handler call in progress)."),
    {"subscribe", (PyCFunction)sub_subscribe, METH_O, "subscribe(topic): messages on exactly topic."},
    {"subscribe_pattern", (PyCFunction)sub_pattern, METH_O, "subscribe_pattern('prefix*'): topics with that prefix."},
    {"unsubscribe", (PyCFunction)sub_unsubscribe, METH_O, "unsubscribe(topic_or_pattern)."},
    M("recv", sub_recv, "recv(timeout=None, flags=0) -> (topic, parts); timeout in ms; Again when none came."),
    M("recv_many", sub_recv_many,
      "recv_many(max=1024, timeout=None) -> list of (topic, payload): waits for the first message, then\n"
      "takes what is queued, in ONE rl_spot_recv_many call (multipart payloads come concatenated)."),
    M("recv_many_into", sub_recv_many_into,
      "recv_many_into(topic_buf, topic_lens, payload_buf, payload_lens, timeout=None) -> int: waits for\n"
      "the first message, then copies what is queued and fits straight into the caller's buffers in\n"
      "ONE rl_spot_recv_many call: topics back to back (sizes in topic_lens), payloads back to back\n"
      "(sizes in payload_lens; multipart parts concatenated), both lens array('Q'); returns the count.\n"
      "ringlink.RinglinkError (errno EMSGSIZE) if the first message does not fit (it stays queued)."),
    {"set_handler", (PyCFunction)sub_set_handler, METH_O,
     "set_handler(fn or None): fn(topic, parts) for each message, on the subscriber's own thread."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef sub_getset[] = {
    {"handler", (getter)sub_get_handler, NULL, "The handler set with set_handler, or None.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject Rlpy_SpotSubType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ringlink._ringlink.SpotSub",
    .tp_doc = "SpotSub(node): native SPOT subscriber (see ringlink.SpotSub).",
    .tp_new = sub_new,
    .tp_methods = sub_methods,
};

int rlpy_spot_init_types(PyObject *m) {
    PyTypeObject *types[] = {&Rlpy_SpotNodeType, &Rlpy_SpotSubType};
    for (size_t i = 0; i < 2; i++) {
        rlpy_svc_type(types[i]);
        if (PyType_Ready(types[i]) < 0) {
            return -1;
        }
        if (i == 1) {
            PyObject *d = PyDescr_NewGetSet(types[i], &sub_getset[0]);
            if (d == NULL || PyDict_SetItemString(types[i]->tp_dict, "handler", d) < 0) {
                Py_XDECREF(d);
                return -1;
            }
            Py_DECREF(d);
            PyType_Modified(types[i]);
        }
        if (PyModule_AddObjectRef(m, strrchr(types[i]->tp_name, '.') + 1, (PyObject *)types[i]) < 0) {
            return -1;
        }
    }
    return 0;
}
