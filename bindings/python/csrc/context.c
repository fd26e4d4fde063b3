/*
 * context.c - ringlink._ringlink.Context: the native context (rl_ctx_t). The Python subclass
 * ringlink.Context adds socket tracking, instance(), destroy() and the context manager.
 */
#include "rlpy.h"

static PyObject *ctx_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"io_threads", NULL};
    int io_threads = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|i:Context", kwlist, &io_threads)) {
        return NULL;
    }
    if (io_threads < 0) {
        PyErr_SetString(PyExc_ValueError, "io_threads must be >= 0");
        return NULL;
    }
    ContextObject *c = (ContextObject *)type->tp_alloc(type, 0);
    if (c == NULL) {
        return NULL;
    }
    c->handle = rl_ctx_new();
    if (c->handle == NULL) {
        Py_DECREF(c);
        return rlpy_raise_last();
    }
    /* The library's default is 1 as well; set it explicitly so that the binding's default
     * (fd-based asyncio needs a reactor thread) does not depend on the library's. */
    if (rl_ctx_set(c->handle, RL_IO_THREADS, io_threads) < 0) {
        Py_DECREF(c);
        return rlpy_raise_last();
    }
    return (PyObject *)c;
}

static int ctx_init(PyObject *self, PyObject *args, PyObject *kwds) {
    /* Everything happens in tp_new; accept the same arguments (subclasses' __init__ call
     * super().__init__(...) with them or with none). */
    RLPY_UNUSED(self);
    RLPY_UNUSED(args);
    RLPY_UNUSED(kwds);
    return 0;
}

static int ctx_term_handle(ContextObject *c) {
    rl_ctx_t *h = c->handle;
    if (h == NULL) {
        return 0;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = rl_ctx_term(h);
    Py_END_ALLOW_THREADS
    c->handle = NULL;
    return rc;
}

static void ctx_dealloc(ContextObject *c) {
    PyObject_GC_UnTrack(c);
    if (c->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)c);
    }
    /* Every socket holds a reference to its context, so none is left open here: terminating
     * only waits for messages still lingering. */
    if (c->handle != NULL) {
        ctx_term_handle(c);
    }
    Py_CLEAR(c->dict);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

static int ctx_traverse(ContextObject *c, visitproc visit, void *arg) {
    Py_VISIT(c->dict);
    return 0;
}

static int ctx_clear(ContextObject *c) {
    Py_CLEAR(c->dict);
    return 0;
}

static PyObject *ctx_term(ContextObject *c, PyObject *unused) {
    RLPY_UNUSED(unused);
    if (c->handle == NULL) {
        Py_RETURN_NONE;
    }
    if (ctx_term_handle(c) < 0) {
        return rlpy_raise_last();
    }
    Py_RETURN_NONE;
}

static PyObject *ctx_shutdown(ContextObject *c, PyObject *unused) {
    RLPY_UNUSED(unused);
    if (c->handle == NULL) {
        Py_RETURN_NONE;
    }
    if (rl_ctx_shutdown(c->handle) < 0) {
        return rlpy_raise_last();
    }
    Py_RETURN_NONE;
}

static PyObject *ctx_set(ContextObject *c, PyObject *args) {
    int option, value;
    if (!PyArg_ParseTuple(args, "ii:set", &option, &value)) {
        return NULL;
    }
    if (c->handle == NULL) {
        return rlpy_raise(EFAULT);
    }
    if (rl_ctx_set(c->handle, option, value) < 0) {
        return rlpy_raise_last();
    }
    Py_RETURN_NONE;
}

static PyObject *ctx_get(ContextObject *c, PyObject *arg) {
    int option = (int)PyLong_AsLong(arg);
    if (option == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (c->handle == NULL) {
        return rlpy_raise(EFAULT);
    }
    int v = rl_ctx_get(c->handle, option);
    if (v == -1) { /* no option has the value -1 */
        return rlpy_raise_last();
    }
    return PyLong_FromLong(v);
}

static PyObject *ctx_get_closed(ContextObject *c, void *x) {
    RLPY_UNUSED(x);
    return PyBool_FromLong(c->handle == NULL);
}

static PyObject *ctx_get_underlying(ContextObject *c, void *x) {
    RLPY_UNUSED(x);
    return PyLong_FromVoidPtr(c->handle);
}

static PyMethodDef ctx_methods[] = {
    {"term", (PyCFunction)ctx_term, METH_NOARGS,
     "term(): terminate the context; blocks (GIL released) until every socket is closed and "
     "lingering messages are sent."},
    {"shutdown", (PyCFunction)ctx_shutdown, METH_NOARGS,
     "shutdown(): blocking calls on the context's sockets raise ContextTerminated from now on."},
    {"set", (PyCFunction)ctx_set, METH_VARARGS, "set(option, value): a context option (IO_THREADS, BACKEND, CTX_IPV6)."},
    {"get", (PyCFunction)ctx_get, METH_O, "get(option) -> int: a context option."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef ctx_getset[] = {
    {"closed", (getter)ctx_get_closed, NULL, "True once the context is terminated.", NULL},
    {"underlying", (getter)ctx_get_underlying, NULL, "The rl_ctx_t handle as an int (0 once terminated).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject Rlpy_ContextType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ringlink._ringlink.Context",
    .tp_doc = "Context(io_threads=1): native ringlink context (see ringlink.Context).",
    .tp_basicsize = sizeof(ContextObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = ctx_new,
    .tp_init = ctx_init,
    .tp_dealloc = (destructor)ctx_dealloc,
    .tp_traverse = (traverseproc)ctx_traverse,
    .tp_clear = (inquiry)ctx_clear,
    .tp_methods = ctx_methods,
    .tp_getset = ctx_getset,
    .tp_weaklistoffset = offsetof(ContextObject, weakreflist),
    .tp_dictoffset = offsetof(ContextObject, dict),
};

int rlpy_context_init_type(PyObject *m) {
    if (PyType_Ready(&Rlpy_ContextType) < 0) {
        return -1;
    }
    return PyModule_AddObjectRef(m, "Context", (PyObject *)&Rlpy_ContextType);
}
