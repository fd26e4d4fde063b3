/*
 * socket.c - ringlink._ringlink.Socket: the native socket. Lifecycle, endpoints, options and
 * the per-message hot path (send, recv, recv_into, send_multipart, recv_multipart). The batch
 * calls are in fastpath.c, poll/monitor in poll.c, the busy guard and the waits they share in
 * sockwait.c; ringlink.Socket (Python) subclasses this type for conveniences off the hot path.
 *
 * recv: with the GIL held, rl_recv_with(RL_DONTWAIT) hands the frame to a callback that
 * builds the bytes object of the exact size (one copy, from ringlink's queue into the
 * object). Only when nothing is queued does it release the GIL to wait in rl_poll
 * (honouring RCVTIMEO), then it retries. send: rl_send(RL_DONTWAIT) with the GIL held; when
 * the socket is full, a blocking rl_send with the GIL released (the data is pinned).
 */
#include "rlpy.h"

/* ---------------------------------------------------------------- helpers */

/* Send one frame (data pinned in `view`): DONTWAIT with the GIL held, then blocking with the
 * GIL released unless the caller asked for DONTWAIT. Returns 0 or -1 with an exception. */
static int send_one(rl_socket_t *h, void *arg, int flags) {
    const Py_buffer *view = arg;
    return rl_send(h, view->buf, (size_t)view->len, flags);
}

static int send_frame(SocketObject *s, const Py_buffer *view, int flags) {
    rl_socket_t *h = s->handle;
    if (rl_send(h, view->buf, (size_t)view->len, flags | RL_DONTWAIT) >= 0) {
        return 0;
    }
    int err = rl_errno();
    if (err != EAGAIN || (flags & RL_DONTWAIT)) {
        rlpy_raise(err);
        return -1;
    }
    if (rlpy_busy_enter(s) < 0) {
        return -1;
    }
    int rc = rlpy_send_sliced(s, send_one, (void *)view, flags, rlpy_deadline(s->sndtimeo), &err);
    rlpy_busy_leave(s);
    if (rc == -2) {
        return -1;
    }
    if (rc < 0) {
        rlpy_raise(err);
        return -1;
    }
    return 0;
}

struct recv_arg {
    PyObject *obj;
    int more;
};

static void recv_cb(const void *data, size_t len, int more, void *arg) {
    struct recv_arg *a = arg;
    a->obj = PyBytes_FromStringAndSize(data, (Py_ssize_t)len);
    a->more = more;
}

/* Receive one frame as a new bytes object into *out (more flag in *more). Returns 0, or -1
 * with an exception. */
static int recv_frame(SocketObject *s, int flags, PyObject **out, int *more) {
    struct recv_arg a = {NULL, 0};
    if (rl_recv_with(s->handle, recv_cb, &a, RL_DONTWAIT) >= 0) {
        goto got;
    }
    int err = rl_errno();
    if (err != EAGAIN || (flags & RL_DONTWAIT)) {
        rlpy_raise(err);
        return -1;
    }
    long long deadline = s->rcvtimeo < 0 ? -1 : rlpy_now_ms() + s->rcvtimeo;
    for (;;) {
        long t = -1;
        if (deadline >= 0) {
            long long left = deadline - rlpy_now_ms();
            t = left > 0 ? (long)left : 0;
        }
        int r = rlpy_wait(s, RL_POLLIN, t);
        if (r < 0) {
            return -1;
        }
        if (s->handle == NULL) { /* closed by a signal handler */
            rlpy_raise(ENOTSOCK);
            return -1;
        }
        if (rl_recv_with(s->handle, recv_cb, &a, RL_DONTWAIT) >= 0) {
            goto got;
        }
        err = rl_errno();
        if (err != EAGAIN) {
            rlpy_raise(err);
            return -1;
        }
        if (r == 0) {
            rlpy_raise(EAGAIN);
            return -1;
        }
    }
got:
    if (a.obj == NULL) {
        return -1; /* MemoryError from the callback (the frame was consumed) */
    }
    *out = a.obj;
    *more = a.more;
    return 0;
}

static int truthy(PyObject *o, int dflt) {
    if (o == NULL) {
        return dflt;
    }
    return PyObject_IsTrue(o);
}

static int check_track(PyObject *track) {
    int t = truthy(track, 0);
    if (t < 0) {
        return -1;
    }
    if (t) {
        PyErr_SetString(PyExc_NotImplementedError,
                        "track=True: ringlink copies every frame at send, there is nothing to track");
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- lifecycle */

static PyObject *sock_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"context", "socket_type", NULL};
    PyObject *ctx;
    int stype;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!i:Socket", kwlist, &Rlpy_ContextType, &ctx, &stype)) {
        return NULL;
    }
    ContextObject *c = (ContextObject *)ctx;
    if (c->handle == NULL) {
        return rlpy_raise(RL_ETERM);
    }
    SocketObject *s = (SocketObject *)type->tp_alloc(type, 0);
    if (s == NULL) {
        return NULL;
    }
    rl_socket_t *h;
    Py_BEGIN_ALLOW_THREADS
    h = rl_socket(c->handle, stype);
    Py_END_ALLOW_THREADS
    if (h == NULL) {
        Py_DECREF(s);
        return rlpy_raise_last();
    }
    s->handle = h;
    s->context = Py_NewRef(ctx);
    s->type = stype;
    s->rcvtimeo = -1;
    int v = -1;
    size_t vl = sizeof v;
    if (rl_getsockopt(h, RL_RCVTIMEO, &v, &vl) == 0) {
        s->rcvtimeo = v;
    }
    s->sndtimeo = -1;
    vl = sizeof v;
    if (rl_getsockopt(h, RL_SNDTIMEO, &v, &vl) == 0) {
        s->sndtimeo = v;
    }
    return (PyObject *)s;
}

static int sock_init(PyObject *self, PyObject *args, PyObject *kwds) {
    RLPY_UNUSED(self);
    RLPY_UNUSED(args);
    RLPY_UNUSED(kwds);
    return 0;
}

static void sock_dealloc(SocketObject *s) {
    PyObject_GC_UnTrack(s);
    if (s->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)s);
    }
    if (s->owner != NULL) {
        /* A Receiver's ROUTER: the Receiver closes it (rl_receiver_destroy). */
        rlpy_receiver_forget_router(s->owner, s);
        s->handle = NULL;
        Py_CLEAR(s->owner);
    }
    if (s->handle != NULL) {
        rl_close(s->handle);
        s->handle = NULL;
    }
    Py_CLEAR(s->context);
    Py_CLEAR(s->dict);
    PyMem_RawFree(s->scratch);
    PyMem_RawFree(s->lens);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static int sock_traverse(SocketObject *s, visitproc visit, void *arg) {
    Py_VISIT(s->context);
    Py_VISIT(s->owner);
    Py_VISIT(s->dict);
    return 0;
}

static int sock_clear(SocketObject *s) {
    Py_CLEAR(s->dict);
    return 0;
}

static PyObject *sock_close(SocketObject *s, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"linger"};
    PyObject *a[1];
    if (rlpy_parse("close", args, nargs, kwnames, names, 1, 0, a) < 0) {
        return NULL;
    }
    if (s->handle == NULL) {
        Py_RETURN_NONE;
    }
    if (s->busy) {
        return rlpy_raise(EBUSY);
    }
    if (s->owner != NULL) {
        PyObject *exc = PyObject_CallFunction(Rlpy_Error, "is", EINVAL,
                                              "this ROUTER belongs to its Receiver: close the Receiver");
        if (exc != NULL) {
            PyErr_SetObject(Rlpy_Error, exc);
            Py_DECREF(exc);
        }
        return NULL;
    }
    if (a[0] != NULL && a[0] != Py_None) {
        int linger = (int)PyLong_AsLong(a[0]);
        if (linger == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (rl_setsockopt(s->handle, RL_LINGER, &linger, sizeof linger) < 0) {
            return rlpy_raise_last();
        }
    }
    if (rl_close(s->handle) < 0) {
        return rlpy_raise_last();
    }
    s->handle = NULL;
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------- endpoints */

typedef int (*endpoint_fn)(rl_socket_t *, const char *);

static PyObject *endpoint_call(SocketObject *s, PyObject *arg, endpoint_fn fn) {
    const char *ep;
    if (PyUnicode_Check(arg)) {
        ep = PyUnicode_AsUTF8(arg);
    } else if (PyBytes_Check(arg)) {
        ep = PyBytes_AS_STRING(arg);
    } else {
        PyErr_SetString(PyExc_TypeError, "endpoint must be str or bytes");
        return NULL;
    }
    if (ep == NULL) {
        return NULL;
    }
    rl_socket_t *h = rlpy_sock(s);
    if (h == NULL) {
        return NULL;
    }
    if (s->busy) {
        return rlpy_raise(EBUSY);
    }
    int rc = fn(h, ep);
    if (rc < 0) {
        return rlpy_raise_last();
    }
    Py_RETURN_NONE;
}

static PyObject *sock_bind(SocketObject *s, PyObject *a) { return endpoint_call(s, a, rl_bind); }
static PyObject *sock_connect(SocketObject *s, PyObject *a) { return endpoint_call(s, a, rl_connect); }
static PyObject *sock_unbind(SocketObject *s, PyObject *a) { return endpoint_call(s, a, rl_unbind); }
static PyObject *sock_disconnect(SocketObject *s, PyObject *a) { return endpoint_call(s, a, rl_disconnect); }

/* ---------------------------------------------------------------- send / recv */

static PyObject *sock_send(SocketObject *s, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    PyObject *data;
    int flags = 0;
    if (kwnames == NULL && nargs >= 1 && nargs <= 2) {
        data = args[0];
        if (nargs == 2 && rlpy_flags(args[1], &flags) < 0) {
            return NULL;
        }
    } else {
        static const char *const names[] = {"data", "flags", "copy", "track"};
        PyObject *a[4];
        if (rlpy_parse("send", args, nargs, kwnames, names, 4, 1, a) < 0) {
            return NULL;
        }
        data = a[0];
        if ((a[1] && rlpy_flags(a[1], &flags) < 0) || check_track(a[3]) < 0) {
            return NULL;
        }
    }
    if (s->handle == NULL) {
        return rlpy_raise(ENOTSOCK);
    }
    Py_buffer view;
    if (rlpy_get_read(data, &view) < 0) {
        return NULL;
    }
    int rc = send_frame(s, &view, flags);
    rlpy_buffer_release(&view);
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *sock_recv(SocketObject *s, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    int flags = 0, copy = 1;
    if (kwnames == NULL && nargs <= 1) {
        if (nargs == 1 && rlpy_flags(args[0], &flags) < 0) {
            return NULL;
        }
    } else {
        static const char *const names[] = {"flags", "copy", "track"};
        PyObject *a[3];
        if (rlpy_parse("recv", args, nargs, kwnames, names, 3, 0, a) < 0) {
            return NULL;
        }
        if ((a[0] && rlpy_flags(a[0], &flags) < 0) || (copy = truthy(a[1], 1)) < 0 || check_track(a[2]) < 0) {
            return NULL;
        }
    }
    if (s->handle == NULL) {
        return rlpy_raise(ENOTSOCK);
    }
    PyObject *obj;
    int more;
    if (recv_frame(s, flags, &obj, &more) < 0) {
        return NULL;
    }
    return copy ? obj : rlpy_frame_new(obj, more);
}

static PyObject *sock_recv_into(SocketObject *s, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"buffer", "nbytes", "flags"};
    PyObject *a[3];
    if (rlpy_parse("recv_into", args, nargs, kwnames, names, 3, 1, a) < 0) {
        return NULL;
    }
    Py_ssize_t nbytes = 0;
    int flags = 0;
    if (a[1] != NULL && (nbytes = PyLong_AsSsize_t(a[1])) == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (a[2] && rlpy_flags(a[2], &flags) < 0) {
        return NULL;
    }
    if (nbytes < 0) {
        PyErr_SetString(PyExc_ValueError, "nbytes must be >= 0");
        return NULL;
    }
    if (s->handle == NULL) {
        return rlpy_raise(ENOTSOCK);
    }
    Py_buffer view;
    if (PyObject_GetBuffer(a[0], &view, PyBUF_WRITABLE) < 0) {
        return NULL;
    }
    size_t len = (size_t)view.len;
    if (nbytes > 0 && (size_t)nbytes < len) {
        len = (size_t)nbytes;
    }
    long long deadline = rlpy_deadline(s->rcvtimeo);
    int rc, err;
    for (;;) {
        if (s->handle == NULL) {
            PyBuffer_Release(&view);
            return rlpy_raise(ENOTSOCK);
        }
        rc = rl_recv(s->handle, view.buf, len, flags | RL_DONTWAIT);
        err = rc < 0 ? rl_errno() : 0;
        if (rc >= 0 || err != EAGAIN || (flags & RL_DONTWAIT)) {
            break;
        }
        long t = -1;
        if (deadline >= 0) {
            long long left = deadline - rlpy_now_ms();
            t = left > 0 ? (long)left : 0;
        }
        int r = rlpy_wait(s, RL_POLLIN, t);
        if (r < 0) {
            PyBuffer_Release(&view);
            return NULL;
        }
        if (r == 0) {
            break; /* timeout: EAGAIN */
        }
    }
    PyBuffer_Release(&view);
    if (rc < 0) {
        return rlpy_raise(err);
    }
    return PyLong_FromLong(rc);
}

static PyObject *sock_send_multipart(SocketObject *s, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"msg_parts", "flags", "copy", "track"};
    PyObject *a[4];
    int flags = 0;
    if (rlpy_parse("send_multipart", args, nargs, kwnames, names, 4, 1, a) < 0) {
        return NULL;
    }
    if ((a[1] && rlpy_flags(a[1], &flags) < 0) || check_track(a[3]) < 0) {
        return NULL;
    }
    if (s->handle == NULL) {
        return rlpy_raise(ENOTSOCK);
    }
    /* A tuple copy holds every part while frames are sent (a blocking send releases the GIL). */
    PyObject *parts = PySequence_Tuple(a[0]);
    if (parts == NULL) {
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(parts);
    if (n == 0) {
        Py_DECREF(parts);
        PyErr_SetString(PyExc_ValueError, "send_multipart: a message needs at least one frame");
        return NULL;
    }
    /* Check every part first so that a bad part does not leave a message half sent. */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *p = PyTuple_GET_ITEM(parts, i);
        if (!PyBytes_CheckExact(p) && !PyObject_CheckBuffer(p)) {
            Py_DECREF(parts);
            return PyErr_Format(PyExc_TypeError, "send_multipart: frame %zd is %.100s, not a buffer", i,
                                Py_TYPE(p)->tp_name);
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_buffer view;
        if (rlpy_get_read(PyTuple_GET_ITEM(parts, i), &view) < 0) {
            Py_DECREF(parts);
            return NULL;
        }
        int rc = send_frame(s, &view, i + 1 < n ? (flags | RL_SNDMORE) : flags);
        rlpy_buffer_release(&view);
        if (rc < 0) {
            Py_DECREF(parts);
            return NULL;
        }
    }
    Py_DECREF(parts);
    Py_RETURN_NONE;
}

static PyObject *sock_recv_multipart(SocketObject *s, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    int flags = 0, copy = 1;
    if (kwnames != NULL || nargs > 1) {
        static const char *const names[] = {"flags", "copy", "track"};
        PyObject *a[3];
        if (rlpy_parse("recv_multipart", args, nargs, kwnames, names, 3, 0, a) < 0) {
            return NULL;
        }
        if ((a[0] && rlpy_flags(a[0], &flags) < 0) || (copy = truthy(a[1], 1)) < 0 || check_track(a[2]) < 0) {
            return NULL;
        }
    } else if (nargs == 1 && rlpy_flags(args[0], &flags) < 0) {
        return NULL;
    }
    if (s->handle == NULL) {
        return rlpy_raise(ENOTSOCK);
    }
    PyObject *list = PyList_New(0);
    if (list == NULL) {
        return NULL;
    }
    int more = 1;
    while (more) {
        PyObject *obj;
        /* The later frames of a message are queued together with the first. */
        if (recv_frame(s, PyList_GET_SIZE(list) ? 0 : flags, &obj, &more) < 0) {
            Py_DECREF(list);
            return NULL;
        }
        if (!copy && (obj = rlpy_frame_new(obj, more)) == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        int rc = PyList_Append(list, obj);
        Py_DECREF(obj);
        if (rc < 0) {
            Py_DECREF(list);
            return NULL;
        }
    }
    return list;
}

/* ---------------------------------------------------------------- attributes */

static PyObject *sock_get_closed(SocketObject *s, void *x) {
    RLPY_UNUSED(x);
    return PyBool_FromLong(s->handle == NULL);
}

static PyObject *sock_get_type(SocketObject *s, void *x) {
    RLPY_UNUSED(x);
    return PyLong_FromLong(s->type);
}

static PyObject *sock_get_context(SocketObject *s, void *x) {
    RLPY_UNUSED(x);
    return Py_NewRef(s->context ? s->context : Py_None);
}

static PyObject *sock_get_underlying(SocketObject *s, void *x) {
    RLPY_UNUSED(x);
    return PyLong_FromVoidPtr(s->handle);
}

static PyGetSetDef sock_getset[] = {
    {"closed", (getter)sock_get_closed, NULL, "True once the socket is closed.", NULL},
    {"socket_type", (getter)sock_get_type, NULL, "The socket type (int; see ringlink.SocketType).", NULL},
    {"context", (getter)sock_get_context, NULL, "The context the socket belongs to.", NULL},
    {"underlying", (getter)sock_get_underlying, NULL, "The rl_socket_t handle as an int (0 once closed).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

#define FASTKW (METH_FASTCALL | METH_KEYWORDS)

static PyMethodDef sock_methods[] = {
    {"close", (PyCFunction)(void (*)(void))sock_close, FASTKW,
     "close(linger=None): close the socket (setting LINGER first if given)."},
    {"bind", (PyCFunction)sock_bind, METH_O, "bind(endpoint): tcp://host:port (port * for any), ipc://path."},
    {"connect", (PyCFunction)sock_connect, METH_O, "connect(endpoint)."},
    {"unbind", (PyCFunction)sock_unbind, METH_O, "unbind(endpoint)."},
    {"disconnect", (PyCFunction)sock_disconnect, METH_O, "disconnect(endpoint)."},
    {"setsockopt", (PyCFunction)(void (*)(void))rlpy_sock_setsockopt, METH_FASTCALL,
     "setsockopt(option, value): int options take an int, binary ones bytes (str is encoded UTF-8)."},
    {"getsockopt", (PyCFunction)rlpy_sock_getsockopt, METH_O, "getsockopt(option) -> int or bytes."},
    {"send", (PyCFunction)(void (*)(void))sock_send, FASTKW,
     "send(data, flags=0, copy=True, track=False): send one frame (bytes or any buffer)."},
    {"recv", (PyCFunction)(void (*)(void))sock_recv, FASTKW,
     "recv(flags=0, copy=True, track=False) -> bytes (copy=False: Frame)."},
    {"recv_into", (PyCFunction)(void (*)(void))sock_recv_into, FASTKW,
     "recv_into(buffer, nbytes=0, flags=0) -> int: receive one frame into a writable buffer;\n"
     "returns the frame's full size (larger than the buffer: the rest was discarded)."},
    {"send_multipart", (PyCFunction)(void (*)(void))sock_send_multipart, FASTKW,
     "send_multipart(msg_parts, flags=0, copy=True, track=False)."},
    {"recv_multipart", (PyCFunction)(void (*)(void))sock_recv_multipart, FASTKW,
     "recv_multipart(flags=0, copy=True, track=False) -> list of bytes (or Frames)."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject Rlpy_SocketType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ringlink._ringlink.Socket",
    .tp_doc = "Socket(context, socket_type): native ringlink socket (see ringlink.Socket).",
    .tp_basicsize = sizeof(SocketObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = sock_new,
    .tp_init = sock_init,
    .tp_dealloc = (destructor)sock_dealloc,
    .tp_traverse = (traverseproc)sock_traverse,
    .tp_clear = (inquiry)sock_clear,
    .tp_getset = sock_getset,
    .tp_weaklistoffset = offsetof(SocketObject, weakreflist),
    .tp_dictoffset = offsetof(SocketObject, dict),
};

static int add_methods(PyTypeObject *type, PyMethodDef *defs) {
    for (PyMethodDef *d = defs; d->ml_name != NULL; d++) {
        PyObject *descr = PyDescr_NewMethod(type, d);
        if (descr == NULL) {
            return -1;
        }
        int rc = PyDict_SetItemString(type->tp_dict, d->ml_name, descr);
        Py_DECREF(descr);
        if (rc < 0) {
            return -1;
        }
    }
    return 0;
}

int rlpy_socket_init_type(PyObject *m) {
    Rlpy_SocketType.tp_methods = sock_methods;
    if (PyType_Ready(&Rlpy_SocketType) < 0) {
        return -1;
    }
    if (add_methods(&Rlpy_SocketType, rlpy_fastpath_methods) < 0 ||
        add_methods(&Rlpy_SocketType, rlpy_poll_socket_methods) < 0) {
        return -1;
    }
    PyType_Modified(&Rlpy_SocketType);
    return PyModule_AddObjectRef(m, "Socket", (PyObject *)&Rlpy_SocketType);
}
