/*
 * poll.c - waiting on many sockets: poll() (rl_poll over sockets and raw fds), Socket.poll(),
 * the Monitor type (rl_socket_monitor / rl_monitor_recv), proxy() and proxy_steerable(), and
 * the readiness fd of event loops (Socket.fd / Socket.events via getsockopt RL_FD/RL_EVENTS).
 */
#include "rlpy.h"

/* Mark every socket busy (raise EBUSY and unmark on a conflict). */
static int busy_all(SocketObject **socks, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        if (socks[i] == NULL) {
            continue;
        }
        if (rlpy_busy_enter(socks[i]) < 0) {
            for (Py_ssize_t j = 0; j < i; j++) {
                if (socks[j] != NULL) {
                    rlpy_busy_leave(socks[j]);
                }
            }
            return -1;
        }
    }
    return 0;
}

static void unbusy_all(SocketObject **socks, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        if (socks[i] != NULL) {
            rlpy_busy_leave(socks[i]);
        }
    }
}

static long parse_timeout(PyObject *o, int *ok) {
    *ok = 1;
    if (o == NULL || o == Py_None) {
        return -1;
    }
    double t = PyFloat_AsDouble(o);
    if (t == -1.0 && PyErr_Occurred()) {
        *ok = 0;
        return 0;
    }
    if (t < 0) {
        return -1;
    }
    if (t > (double)LONG_MAX) {
        return LONG_MAX;
    }
    return (long)t;
}

/* poll(items, timeout=None) -> list of (obj, revents); items: sequence of (socket or fd, events). */
static PyObject *mod_poll(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    RLPY_UNUSED(m);
    static const char *const names[] = {"items", "timeout"};
    PyObject *a[2];
    if (rlpy_parse("poll", args, nargs, kwnames, names, 2, 1, a) < 0) {
        return NULL;
    }
    int ok;
    long timeout = parse_timeout(a[1], &ok);
    if (!ok) {
        return NULL;
    }
    PyObject *items = PySequence_Tuple(a[0]);
    if (items == NULL) {
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(items);
    if (n > INT_MAX) {
        Py_DECREF(items);
        PyErr_SetString(PyExc_ValueError, "too many poll items");
        return NULL;
    }
    rl_pollitem_t *pi = PyMem_Calloc((size_t)(n ? n : 1), sizeof(rl_pollitem_t));
    SocketObject **socks = PyMem_Calloc((size_t)(n ? n : 1), sizeof(SocketObject *));
    PyObject **objs = PyMem_Calloc((size_t)(n ? n : 1), sizeof(PyObject *));
    PyObject *result = NULL;
    if (pi == NULL || socks == NULL || objs == NULL) {
        PyErr_NoMemory();
        goto out;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *it = PyTuple_GET_ITEM(items, i);
        if (!PyTuple_Check(it) || PyTuple_GET_SIZE(it) != 2) {
            PyErr_SetString(PyExc_TypeError, "poll items are (socket or fd, events) pairs");
            goto out;
        }
        PyObject *o = PyTuple_GET_ITEM(it, 0);
        long ev = PyLong_AsLong(PyTuple_GET_ITEM(it, 1));
        if (ev == -1 && PyErr_Occurred()) {
            goto out;
        }
        objs[i] = o;
        pi[i].events = (short)ev;
        if (PyObject_TypeCheck(o, &Rlpy_SocketType)) {
            SocketObject *s = (SocketObject *)o;
            if (s->handle == NULL) {
                rlpy_raise(ENOTSOCK);
                goto out;
            }
            socks[i] = s;
            pi[i].socket = s->handle;
        } else {
            int fd = PyObject_AsFileDescriptor(o);
            if (fd < 0) {
                goto out;
            }
            pi[i].fd = fd;
        }
    }
    if (busy_all(socks, n) < 0) {
        goto out;
    }
    long long deadline = timeout < 0 ? -1 : rlpy_now_ms() + timeout;
    int rc, err;
    for (;;) {
        long t = -1;
        if (deadline >= 0) {
            long long left = deadline - rlpy_now_ms();
            t = left > 0 ? (long)left : 0;
        }
        if (t < 0 || t > RLPY_SLICE_MS) {
            t = RLPY_SLICE_MS;
        }
        Py_BEGIN_ALLOW_THREADS
        rc = rl_poll(pi, (int)n, t);
        err = rc < 0 ? rl_errno() : 0;
        Py_END_ALLOW_THREADS
        if (rc > 0 || (rc < 0 && err != EINTR)) {
            break;
        }
        if (rlpy_eintr() < 0) {
            unbusy_all(socks, n);
            goto out;
        }
        if (deadline >= 0 && rlpy_now_ms() >= deadline) {
            rc = 0;
            break;
        }
    }
    unbusy_all(socks, n);
    if (rc < 0) {
        rlpy_raise(err);
        goto out;
    }
    result = PyList_New(0);
    for (Py_ssize_t i = 0; result != NULL && i < n; i++) {
        if (pi[i].revents == 0) {
            continue;
        }
        PyObject *pair = Py_BuildValue("(Oi)", objs[i], (int)pi[i].revents);
        if (pair == NULL || PyList_Append(result, pair) < 0) {
            Py_XDECREF(pair);
            Py_CLEAR(result);
            break;
        }
        Py_DECREF(pair);
    }
out:
    PyMem_Free(pi);
    PyMem_Free(socks);
    PyMem_Free(objs);
    Py_DECREF(items);
    return result;
}

static PyObject *sock_poll(SocketObject *s, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"timeout", "flags"};
    PyObject *a[2];
    int flags = RL_POLLIN;
    if (rlpy_parse("poll", args, nargs, kwnames, names, 2, 0, a) < 0 || (a[1] && rlpy_flags(a[1], &flags) < 0)) {
        return NULL;
    }
    int ok;
    long timeout = parse_timeout(a[0], &ok);
    if (!ok) {
        return NULL;
    }
    if (rlpy_busy_enter(s) < 0) {
        return NULL;
    }
    rl_pollitem_t it = {s->handle, 0, (short)flags, 0};
    long long deadline = timeout < 0 ? -1 : rlpy_now_ms() + timeout;
    int rc, err;
    for (;;) {
        long t = -1;
        if (deadline >= 0) {
            long long left = deadline - rlpy_now_ms();
            t = left > 0 ? (long)left : 0;
        }
        if (t < 0 || t > RLPY_SLICE_MS) {
            t = RLPY_SLICE_MS;
        }
        Py_BEGIN_ALLOW_THREADS
        rc = rl_poll(&it, 1, t);
        err = rc < 0 ? rl_errno() : 0;
        Py_END_ALLOW_THREADS
        if (rc > 0 || (rc < 0 && err != EINTR)) {
            break;
        }
        if (rlpy_eintr() < 0) {
            rlpy_busy_leave(s);
            return NULL;
        }
        if (deadline >= 0 && rlpy_now_ms() >= deadline) {
            rc = 0;
            break;
        }
    }
    rlpy_busy_leave(s);
    if (rc < 0) {
        return rlpy_raise(err);
    }
    return PyLong_FromLong(it.revents);
}

/* ---------------------------------------------------------------- Monitor */

typedef struct {
    PyObject_HEAD
    rl_monitor_t *handle;
} MonitorObject;

static PyTypeObject MonitorType;

static PyObject *sock_monitor(SocketObject *s, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"events"};
    PyObject *a[1];
    int events = RL_EVENT_ALL;
    if (rlpy_parse("monitor", args, nargs, kwnames, names, 1, 0, a) < 0 || (a[0] && rlpy_flags(a[0], &events) < 0)) {
        return NULL;
    }
    if (rlpy_sock(s) == NULL) {
        return NULL;
    }
    if (s->busy) {
        return rlpy_raise(EBUSY);
    }
    rl_monitor_t *mon = rl_socket_monitor(s->handle, events);
    if (mon == NULL) {
        return rlpy_raise_last();
    }
    MonitorObject *m = PyObject_New(MonitorObject, &MonitorType);
    if (m == NULL) {
        rl_monitor_close(mon);
        return NULL;
    }
    m->handle = mon;
    return (PyObject *)m;
}

static void monitor_dealloc(MonitorObject *m) {
    if (m->handle != NULL) {
        rl_monitor_close(m->handle);
    }
    PyObject_Free(m);
}

static PyObject *monitor_recv(MonitorObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"timeout"};
    PyObject *a[1];
    if (rlpy_parse("recv", args, nargs, kwnames, names, 1, 0, a) < 0) {
        return NULL;
    }
    int ok;
    long timeout = parse_timeout(a[0], &ok);
    if (!ok) {
        return NULL;
    }
    if (m->handle == NULL) {
        return rlpy_raise(EFAULT);
    }
    rl_monitor_event_t ev;
    long long deadline = timeout < 0 ? -1 : rlpy_now_ms() + timeout;
    rl_monitor_t *h = m->handle;
    int rc, err;
    Py_INCREF(m);
    for (;;) {
        long t = -1;
        if (deadline >= 0) {
            long long left = deadline - rlpy_now_ms();
            t = left > 0 ? (long)left : 0;
        }
        if (t == 0) {
            rc = rl_monitor_recv(h, &ev, RL_DONTWAIT, 0);
            err = rc < 0 ? rl_errno() : 0;
        } else {
            if (t < 0 || t > RLPY_SLICE_MS) {
                t = RLPY_SLICE_MS;
            }
            Py_BEGIN_ALLOW_THREADS
            rc = rl_monitor_recv(h, &ev, 0, t);
            err = rc < 0 ? rl_errno() : 0;
            Py_END_ALLOW_THREADS
            if (rc < 0 && err == EAGAIN && (deadline < 0 || rlpy_now_ms() < deadline)) {
                err = EINTR; /* a slice ended: run the signal handlers, wait on */
            }
        }
        if (rc >= 0 || err != EINTR) {
            break;
        }
        if (rlpy_eintr() < 0) {
            Py_DECREF(m);
            return NULL;
        }
    }
    Py_DECREF(m);
    if (rc < 0) {
        return rlpy_raise(err);
    }
    return Py_BuildValue("(iiissy#)", ev.event, ev.value, ev.reason, ev.endpoint, ev.detail,
                         (const char *)ev.peer_routing_id, (Py_ssize_t)ev.peer_routing_id_size);
}

static PyObject *monitor_close(MonitorObject *m, PyObject *unused) {
    RLPY_UNUSED(unused);
    if (m->handle != NULL) {
        rl_monitor_t *h = m->handle;
        m->handle = NULL;
        if (rl_monitor_close(h) < 0) {
            return rlpy_raise_last();
        }
    }
    Py_RETURN_NONE;
}

static PyObject *monitor_get_fd(MonitorObject *m, void *x) {
    RLPY_UNUSED(x);
    if (m->handle == NULL) {
        return rlpy_raise(EFAULT);
    }
    int fd = rl_monitor_fd(m->handle);
    if (fd < 0) {
        return rlpy_raise_last();
    }
    return PyLong_FromLong(fd);
}

static PyObject *monitor_get_closed(MonitorObject *m, void *x) {
    RLPY_UNUSED(x);
    return PyBool_FromLong(m->handle == NULL);
}

static PyMethodDef monitor_methods[] = {
    {"recv", (PyCFunction)(void (*)(void))monitor_recv, METH_FASTCALL | METH_KEYWORDS,
     "recv(timeout=None) -> (event, value, reason, endpoint, detail, peer_routing_id): the next\n"
     "event; timeout in ms (None: wait). Again on timeout, ContextTerminated after MONITOR_STOPPED."},
    {"close", (PyCFunction)monitor_close, METH_NOARGS, "close(): close the monitor (unread events are dropped)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef monitor_getset[] = {
    {"fd", (getter)monitor_get_fd, NULL, "A descriptor that polls readable when events may be queued.", NULL},
    {"closed", (getter)monitor_get_closed, NULL, "True once closed.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject MonitorType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ringlink._ringlink.Monitor",
    .tp_doc = "A socket monitor (Socket.monitor()); see ringlink.Monitor.",
    .tp_basicsize = sizeof(MonitorObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)monitor_dealloc,
    .tp_methods = monitor_methods,
    .tp_getset = monitor_getset,
};

/* ---------------------------------------------------------------- proxy */

static int as_socket(PyObject *o, SocketObject **out, int optional, const char *what) {
    if (optional && (o == NULL || o == Py_None)) {
        *out = NULL;
        return 0;
    }
    if (o == NULL || !PyObject_TypeCheck(o, &Rlpy_SocketType)) {
        PyErr_Format(PyExc_TypeError, "%s must be a ringlink Socket", what);
        return -1;
    }
    *out = (SocketObject *)o;
    if ((*out)->handle == NULL) {
        rlpy_raise(ENOTSOCK);
        return -1;
    }
    return 0;
}

static PyObject *proxy_common(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, int steerable) {
    static const char *const names[] = {"frontend", "backend", "capture", "control"};
    PyObject *a[4];
    Py_ssize_t nn = steerable ? 4 : 3;
    if (rlpy_parse(steerable ? "proxy_steerable" : "proxy", args, nargs, kwnames, names, nn, steerable ? 4 : 2, a) < 0) {
        return NULL;
    }
    SocketObject *s[4] = {NULL, NULL, NULL, NULL};
    if (as_socket(a[0], &s[0], 0, "frontend") < 0 || as_socket(a[1], &s[1], 0, "backend") < 0 ||
        as_socket(a[2], &s[2], 1, "capture") < 0 || (steerable && as_socket(a[3], &s[3], 0, "control") < 0)) {
        return NULL;
    }
    for (int i = 0; i < 4; i++) {
        for (int j = i + 1; j < 4; j++) {
            if (s[i] != NULL && s[i] == s[j]) {
                return rlpy_raise(EINVAL);
            }
        }
    }
    if (busy_all(s, 4) < 0) {
        return NULL;
    }
    rl_socket_t *h[4];
    for (int i = 0; i < 4; i++) {
        h[i] = s[i] ? s[i]->handle : NULL;
    }
    int rc, err;
    for (;;) {
        Py_BEGIN_ALLOW_THREADS
        rc = steerable ? rl_proxy_steerable(h[0], h[1], h[2], h[3]) : rl_proxy(h[0], h[1], h[2]);
        err = rc < 0 ? rl_errno() : 0;
        Py_END_ALLOW_THREADS
        if (rc >= 0 || err != EINTR) {
            break;
        }
        if (rlpy_eintr() < 0) {
            unbusy_all(s, 4);
            return NULL;
        }
    }
    unbusy_all(s, 4);
    if (rc < 0) {
        return rlpy_raise(err);
    }
    Py_RETURN_NONE;
}

static PyObject *mod_proxy(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    RLPY_UNUSED(m);
    return proxy_common(args, nargs, kwnames, 0);
}

static PyObject *mod_proxy_steerable(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    RLPY_UNUSED(m);
    return proxy_common(args, nargs, kwnames, 1);
}

#define FASTKW (METH_FASTCALL | METH_KEYWORDS)

PyMethodDef rlpy_poll_functions[] = {
    {"poll", (PyCFunction)(void (*)(void))mod_poll, FASTKW,
     "poll(items, timeout=None) -> list of (obj, revents): items are (socket or fd, events) pairs;\n"
     "timeout in ms (None or negative: wait)."},
    {"proxy", (PyCFunction)(void (*)(void))mod_proxy, FASTKW,
     "proxy(frontend, backend, capture=None): forward messages until the context is terminated\n"
     "(raises ContextTerminated)."},
    {"proxy_steerable", (PyCFunction)(void (*)(void))mod_proxy_steerable, FASTKW,
     "proxy_steerable(frontend, backend, capture, control): proxy controlled by PAUSE, RESUME,\n"
     "TERMINATE (returns) and STATISTICS commands on control."},
    {NULL, NULL, 0, NULL},
};

PyMethodDef rlpy_poll_socket_methods[] = {
    {"poll", (PyCFunction)(void (*)(void))sock_poll, FASTKW,
     "poll(timeout=None, flags=POLLIN) -> int: wait until the socket can receive (or send); returns\n"
     "the ready events (0 on timeout). timeout in ms."},
    {"monitor", (PyCFunction)(void (*)(void))sock_monitor, FASTKW,
     "monitor(events=EVENT_ALL) -> native Monitor (ringlink.Socket.monitor wraps it)."},
    {NULL, NULL, 0, NULL},
};

int rlpy_poll_init_types(PyObject *m) {
    if (PyType_Ready(&MonitorType) < 0) {
        return -1;
    }
    return PyModule_AddObjectRef(m, "Monitor", (PyObject *)&MonitorType);
}
