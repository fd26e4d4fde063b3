/*
 * module.c - the module ringlink._ringlink: constants, errors, helpers, the Frame type.
 */
#include "rlpy.h"

#include <time.h>

PyObject *Rlpy_Error;
PyObject *Rlpy_Again;
PyObject *Rlpy_ContextTerminated;
PyObject *Rlpy_MessageTooLarge;

/* ---------------------------------------------------------------- errors */

PyObject *rlpy_raise(int err) {
    PyObject *cls = Rlpy_Error;
    if (err == EAGAIN) {
        cls = Rlpy_Again;
    } else if (err == RL_ETERM) {
        cls = Rlpy_ContextTerminated;
    }
    PyObject *exc = PyObject_CallFunction(cls, "is", err, rl_strerror(err));
    if (exc != NULL) {
        PyErr_SetObject(cls, exc);
        Py_DECREF(exc);
    }
    return NULL;
}

PyObject *rlpy_raise_last(void) { return rlpy_raise(rl_errno()); }

PyObject *rlpy_raise_too_large(size_t needed) {
    PyObject *exc = PyObject_CallFunction(Rlpy_MessageTooLarge, "n", (Py_ssize_t)needed);
    if (exc != NULL) {
        PyErr_SetObject(Rlpy_MessageTooLarge, exc);
        Py_DECREF(exc);
    }
    return NULL;
}

int rlpy_eintr(void) { return PyErr_CheckSignals() == 0 ? 0 : -1; }

long long rlpy_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int rlpy_flags(PyObject *o, int *flags) {
    long v = PyLong_AsLong(o);
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (v < INT_MIN || v > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "flags out of range");
        return -1;
    }
    *flags = (int)v;
    return 0;
}

int rlpy_get_read(PyObject *obj, Py_buffer *view) {
    if (PyBytes_CheckExact(obj)) {
        view->buf = PyBytes_AS_STRING(obj);
        view->len = PyBytes_GET_SIZE(obj);
        view->obj = NULL;
        return 0;
    }
    if (Py_TYPE(obj) == &Rlpy_FrameType) {
        PyObject *b = ((FrameObject *)obj)->bytes;
        view->buf = PyBytes_AS_STRING(b);
        view->len = PyBytes_GET_SIZE(b);
        view->obj = NULL;
        return 0;
    }
    if (PyUnicode_Check(obj)) {
        PyErr_SetString(PyExc_TypeError,
                        "str is not a buffer: encode it, or use send_string()");
        return -1;
    }
    if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    return 0;
}

void rlpy_buffer_release(Py_buffer *view) {
    if (view->obj != NULL) {
        PyBuffer_Release(view);
    }
}

/* ---------------------------------------------------------------- Frame */

PyObject *rlpy_frame_new(PyObject *bytes, int more) {
    FrameObject *f = PyObject_New(FrameObject, &Rlpy_FrameType);
    if (f == NULL) {
        Py_DECREF(bytes);
        return NULL;
    }
    f->bytes = bytes; /* stolen */
    f->more = more;
    f->weakreflist = NULL;
    return (PyObject *)f;
}

static PyObject *frame_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"data", "more", NULL};
    PyObject *data = NULL;
    int more = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|Op:Frame", kwlist, &data, &more)) {
        return NULL;
    }
    PyObject *bytes;
    if (data == NULL) {
        bytes = PyBytes_FromStringAndSize(NULL, 0);
    } else if (PyBytes_CheckExact(data)) {
        bytes = Py_NewRef(data);
    } else if (PyUnicode_Check(data)) {
        bytes = PyUnicode_AsUTF8String(data);
    } else {
        Py_buffer view;
        if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
            return NULL;
        }
        bytes = PyBytes_FromStringAndSize(view.buf, view.len);
        PyBuffer_Release(&view);
    }
    if (bytes == NULL) {
        return NULL;
    }
    FrameObject *f = (FrameObject *)type->tp_alloc(type, 0);
    if (f == NULL) {
        Py_DECREF(bytes);
        return NULL;
    }
    f->bytes = bytes;
    f->more = more;
    return (PyObject *)f;
}

static void frame_dealloc(FrameObject *f) {
    if (f->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)f);
    }
    Py_XDECREF(f->bytes);
    Py_TYPE(f)->tp_free((PyObject *)f);
}

static int frame_getbuffer(FrameObject *f, Py_buffer *view, int flags) {
    return PyBuffer_FillInfo(view, (PyObject *)f, PyBytes_AS_STRING(f->bytes),
                             PyBytes_GET_SIZE(f->bytes), 1, flags);
}

static PyBufferProcs frame_as_buffer = {(getbufferproc)frame_getbuffer, NULL};

static Py_ssize_t frame_len(FrameObject *f) { return PyBytes_GET_SIZE(f->bytes); }

static PySequenceMethods frame_as_sequence = {.sq_length = (lenfunc)frame_len};

static PyObject *frame_get_bytes(FrameObject *f, void *c) {
    RLPY_UNUSED(c);
    return Py_NewRef(f->bytes);
}

static PyObject *frame_get_buffer(FrameObject *f, void *c) {
    RLPY_UNUSED(c);
    return PyMemoryView_FromObject((PyObject *)f);
}

static PyObject *frame_get_more(FrameObject *f, void *c) {
    RLPY_UNUSED(c);
    return PyBool_FromLong(f->more);
}

static PyObject *frame_bytes_method(FrameObject *f, PyObject *unused) {
    RLPY_UNUSED(unused);
    return Py_NewRef(f->bytes);
}

static PyObject *frame_repr(FrameObject *f) {
    return PyUnicode_FromFormat("<ringlink.Frame(%R, more=%s)>", f->bytes, f->more ? "True" : "False");
}

static PyObject *frame_richcompare(FrameObject *f, PyObject *other, int op) {
    if (op != Py_EQ && op != Py_NE) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    PyObject *o = other;
    if (PyObject_TypeCheck(other, &Rlpy_FrameType)) {
        o = ((FrameObject *)other)->bytes;
    } else if (!PyBytes_Check(other)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    return PyObject_RichCompare(f->bytes, o, op);
}

static PyGetSetDef frame_getset[] = {
    {"bytes", (getter)frame_get_bytes, NULL, "The frame's data as bytes (no copy).", NULL},
    {"buffer", (getter)frame_get_buffer, NULL, "A read-only memoryview of the data.", NULL},
    {"more", (getter)frame_get_more, NULL, "True if more frames of the message follow.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef frame_methods[] = {
    {"__bytes__", (PyCFunction)frame_bytes_method, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

PyTypeObject Rlpy_FrameType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ringlink.Frame",
    .tp_doc = "Frame(data=b'', more=False): one message frame (recv(copy=False) returns these;\n"
              "send() accepts them). Supports the buffer protocol, len(), bytes().",
    .tp_basicsize = sizeof(FrameObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = frame_new,
    .tp_dealloc = (destructor)frame_dealloc,
    .tp_as_buffer = &frame_as_buffer,
    .tp_as_sequence = &frame_as_sequence,
    .tp_getset = frame_getset,
    .tp_methods = frame_methods,
    .tp_repr = (reprfunc)frame_repr,
    .tp_richcompare = (richcmpfunc)frame_richcompare,
    .tp_hash = PyObject_HashNotImplemented,
    .tp_weaklistoffset = offsetof(FrameObject, weakreflist),
};

/* ---------------------------------------------------------------- module functions */

static PyObject *mod_strerror(PyObject *m, PyObject *arg) {
    RLPY_UNUSED(m);
    int err = (int)PyLong_AsLong(arg);
    if (err == -1 && PyErr_Occurred()) {
        return NULL;
    }
    return PyUnicode_FromString(rl_strerror(err));
}

static PyObject *mod_version(PyObject *m, PyObject *unused) {
    RLPY_UNUSED(m);
    RLPY_UNUSED(unused);
    int major = 0, minor = 0, patch = 0;
    rl_version(&major, &minor, &patch);
    return Py_BuildValue("(iii)", major, minor, patch);
}

static PyMethodDef module_functions[] = {
    {"strerror", mod_strerror, METH_O, "strerror(errno) -> str: ringlink's text for an error number."},
    {"library_version", mod_version, METH_NOARGS, "library_version() -> (major, minor, patch) of libringlink."},
    {NULL, NULL, 0, NULL},
};

/* ---------------------------------------------------------------- constants */

#define C(name) {#name, RL_##name}
static const struct {
    const char *name;
    long value;
} constants[] = {
    C(VERSION_MAJOR), C(VERSION_MINOR), C(VERSION_PATCH), C(HAUSNUMERO), C(EFSM),
    C(ENOCOMPATPROTO), C(ETERM), C(EINTERNAL), C(DONTWAIT), C(SNDMORE), C(IO_THREADS),
    C(MSG_T_SIZE), C(CTX_IPV6), C(BACKEND), C(BACKEND_AUTO), C(BACKEND_URING), C(BACKEND_EPOLL),
    C(EVENT_CONNECTED), C(EVENT_CONNECT_DELAYED), C(EVENT_CONNECT_RETRIED), C(EVENT_LISTENING),
    C(EVENT_BIND_FAILED), C(EVENT_ACCEPTED), C(EVENT_ACCEPT_FAILED), C(EVENT_CLOSED),
    C(EVENT_CLOSE_FAILED), C(EVENT_DISCONNECTED), C(EVENT_MONITOR_STOPPED),
    C(EVENT_HANDSHAKE_FAILED_NO_DETAIL), C(EVENT_HANDSHAKE_SUCCEEDED),
    C(EVENT_HANDSHAKE_FAILED_PROTOCOL), C(EVENT_ALL), C(PROTOCOL_ERROR_ZMTP_UNSPECIFIED),
    C(DISCONNECT_REMOTE), C(DISCONNECT_LOCAL), C(DISCONNECT_HANDSHAKE), C(DISCONNECT_TRANSPORT),
    C(MORE), C(ROUTING_ID), C(SNDBUF), C(RCVBUF), C(RCVMORE), C(FD), C(EVENTS), C(TYPE),
    C(LINGER), C(RECONNECT_IVL), C(BACKLOG), C(RECONNECT_IVL_MAX), C(MAXMSGSIZE), C(SNDHWM),
    C(RCVHWM), C(RCVTIMEO), C(SNDTIMEO), C(LAST_ENDPOINT), C(ROUTER_MANDATORY), C(IMMEDIATE),
    C(IPV6), C(PROBE_ROUTER), C(ROUTER_HANDOVER), C(CONNECT_ROUTING_ID), C(HANDSHAKE_IVL),
    C(HEARTBEAT_IVL), C(HEARTBEAT_TTL), C(HEARTBEAT_TIMEOUT), C(SUBSCRIBE), C(UNSUBSCRIBE),
    C(XPUB_VERBOSE), C(REQ_CORRELATE), C(REQ_RELAXED), C(CONFLATE), C(XPUB_NODROP),
    C(XPUB_MANUAL), C(XPUB_WELCOME_MSG), C(STREAM_NOTIFY), C(INVERT_MATCHING),
    C(XPUB_VERBOSER), C(XPUB_MANUAL_LAST_VALUE), C(ONLY_FIRST_SUBSCRIBE), C(STREAM_FRAMING),
    C(STREAM_FRAMING_RAW), C(STREAM_FRAMING_LENGTH_PREFIXED), C(POLLIN), C(POLLOUT),
    C(POLLERR), C(PAIR), C(PUB), C(SUB), C(REQ), C(REP), C(DEALER), C(ROUTER), C(PULL),
    C(PUSH), C(XPUB), C(XSUB), C(STREAM), C(ROUTING_ID_MAX), C(SERVICE_GATEWAY), C(SERVICE_SPOT),
    C(LB_ROUND_ROBIN), C(LB_WEIGHTED), C(ENDPOINT_MAX), C(SPOT_NODE_PUB), C(SPOT_NODE_SUB),
};
#undef C

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ringlink._ringlink",
    .m_doc = "Native layer of the ringlink binding (use the `ringlink` package).",
    .m_size = -1,
    .m_methods = module_functions,
};

static int load_errors(PyObject *m) {
    PyObject *errors = PyImport_ImportModule("ringlink._errors");
    if (errors == NULL) {
        return -1;
    }
    Rlpy_Error = PyObject_GetAttrString(errors, "RinglinkError");
    Rlpy_Again = PyObject_GetAttrString(errors, "Again");
    Rlpy_ContextTerminated = PyObject_GetAttrString(errors, "ContextTerminated");
    Rlpy_MessageTooLarge = PyObject_GetAttrString(errors, "MessageTooLarge");
    Py_DECREF(errors);
    if (!Rlpy_Error || !Rlpy_Again || !Rlpy_ContextTerminated || !Rlpy_MessageTooLarge) {
        return -1;
    }
    if (PyModule_AddObjectRef(m, "RinglinkError", Rlpy_Error) < 0) {
        return -1;
    }
    return 0;
}

PyMODINIT_FUNC PyInit__ringlink(void) {
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < sizeof constants / sizeof constants[0]; i++) {
        if (PyModule_AddIntConstant(m, constants[i].name, constants[i].value) < 0) {
            goto fail;
        }
    }
    if (PyType_Ready(&Rlpy_FrameType) < 0 || PyModule_AddObjectRef(m, "Frame", (PyObject *)&Rlpy_FrameType) < 0) {
        goto fail;
    }
    if (load_errors(m) < 0 || rlpy_context_init_type(m) < 0 || rlpy_socket_init_type(m) < 0 ||
        rlpy_poll_init_types(m) < 0 || rlpy_services_init_types(m) < 0 || rlpy_spot_init_types(m) < 0) {
        goto fail;
    }
    if (PyModule_AddFunctions(m, rlpy_poll_functions) < 0) {
        goto fail;
    }
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}

/* ---------------------------------------------------------------- argument parsing */

int rlpy_parse(const char *fname, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
               const char *const *names, Py_ssize_t nnames, Py_ssize_t nrequired, PyObject **out) {
    if (nargs > nnames) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most %zd arguments (%zd given)", fname, nnames, nargs);
        return -1;
    }
    for (Py_ssize_t i = 0; i < nnames; i++) {
        out[i] = i < nargs ? args[i] : NULL;
    }
    if (kwnames != NULL) {
        Py_ssize_t nkw = PyTuple_GET_SIZE(kwnames);
        for (Py_ssize_t k = 0; k < nkw; k++) {
            PyObject *key = PyTuple_GET_ITEM(kwnames, k);
            Py_ssize_t i;
            for (i = 0; i < nnames; i++) {
                if (PyUnicode_CompareWithASCIIString(key, names[i]) == 0) {
                    break;
                }
            }
            if (i == nnames) {
                PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", fname, key);
                return -1;
            }
            if (out[i] != NULL) {
                PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", fname, names[i]);
                return -1;
            }
            out[i] = args[nargs + k];
        }
    }
    for (Py_ssize_t i = 0; i < nrequired; i++) {
        if (out[i] == NULL) {
            PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", fname, names[i]);
            return -1;
        }
    }
    return 0;
}
