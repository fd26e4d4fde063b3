/*
 * options.c - Socket.setsockopt / getsockopt: int, int64 (MAXMSGSIZE), binary (routing ids,
 * subscriptions, welcome message) and string (LAST_ENDPOINT, returned without its NUL)
 * options. RCVTIMEO and SNDTIMEO are cached in the socket object: the binding's own waits
 * (rl_poll slices, sliced blocking sends) honour them.
 */
#include "rlpy.h"

/* ---------------------------------------------------------------- options */

enum { OPT_INT, OPT_INT64, OPT_BYTES, OPT_STRING };

static int opt_kind(int option) {
    switch (option) {
    case RL_ROUTING_ID:
    case RL_CONNECT_ROUTING_ID:
    case RL_SUBSCRIBE:
    case RL_UNSUBSCRIBE:
    case RL_XPUB_WELCOME_MSG:
        return OPT_BYTES;
    case RL_LAST_ENDPOINT:
        return OPT_STRING;
    case RL_MAXMSGSIZE:
        return OPT_INT64;
    default:
        return OPT_INT;
    }
}

PyObject *rlpy_sock_setsockopt(SocketObject *s, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "setsockopt(option, value) takes 2 arguments");
        return NULL;
    }
    int option = (int)PyLong_AsLong(args[0]);
    if (option == -1 && PyErr_Occurred()) {
        return NULL;
    }
    rl_socket_t *h = rlpy_sock(s);
    if (h == NULL) {
        return NULL;
    }
    if (s->busy) {
        return rlpy_raise(EBUSY);
    }
    PyObject *value = args[1];
    int rc;
    int kind = opt_kind(option);
    if (kind == OPT_BYTES || kind == OPT_STRING) {
        Py_buffer view;
        PyObject *enc = NULL;
        if (PyUnicode_Check(value)) {
            enc = PyUnicode_AsUTF8String(value);
            if (enc == NULL) {
                return NULL;
            }
            value = enc;
        }
        if (rlpy_get_read(value, &view) < 0) {
            Py_XDECREF(enc);
            return NULL;
        }
        rc = rl_setsockopt(h, option, view.len ? view.buf : NULL, (size_t)view.len);
        rlpy_buffer_release(&view);
        Py_XDECREF(enc);
    } else if (kind == OPT_INT64) {
        long long v = PyLong_AsLongLong(value);
        if (v == -1 && PyErr_Occurred()) {
            return NULL;
        }
        int64_t v64 = (int64_t)v;
        rc = rl_setsockopt(h, option, &v64, sizeof v64);
    } else {
        long v = PyLong_AsLong(value);
        if (v == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (v < INT_MIN || v > INT_MAX) {
            return rlpy_raise(EINVAL);
        }
        int iv = (int)v;
        rc = rl_setsockopt(h, option, &iv, sizeof iv);
        if (rc == 0 && option == RL_RCVTIMEO) {
            s->rcvtimeo = iv;
        }
        if (rc == 0 && option == RL_SNDTIMEO) {
            s->sndtimeo = iv;
        }
    }
    if (rc < 0) {
        return rlpy_raise_last();
    }
    Py_RETURN_NONE;
}

PyObject *rlpy_sock_getsockopt(SocketObject *s, PyObject *arg) {
    int option = (int)PyLong_AsLong(arg);
    if (option == -1 && PyErr_Occurred()) {
        return NULL;
    }
    rl_socket_t *h = rlpy_sock(s);
    if (h == NULL) {
        return NULL;
    }
    if (s->busy) {
        return rlpy_raise(EBUSY);
    }
    int kind = opt_kind(option);
    if (kind == OPT_BYTES || kind == OPT_STRING) {
        char buf[1024];
        size_t len = sizeof buf;
        if (rl_getsockopt(h, option, buf, &len) < 0) {
            return rlpy_raise_last();
        }
        if (kind == OPT_STRING && len > 0 && buf[len - 1] == '\0') {
            len--;
        }
        return PyBytes_FromStringAndSize(buf, (Py_ssize_t)len);
    }
    if (kind == OPT_INT64) {
        int64_t v = 0;
        size_t len = sizeof v;
        if (rl_getsockopt(h, option, &v, &len) < 0) {
            return rlpy_raise_last();
        }
        return PyLong_FromLongLong((long long)v);
    }
    int v = 0;
    size_t len = sizeof v;
    if (rl_getsockopt(h, option, &v, &len) < 0) {
        return rlpy_raise_last();
    }
    return PyLong_FromLong(v);
}

