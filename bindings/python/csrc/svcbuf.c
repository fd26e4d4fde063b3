/*
 * svcbuf.c - the buffers of the service layer's calls (shared by gateway.c and spot.c):
 * receive buffers (the object's scratch buffers while no other thread of the object uses
 * them, else buffers of the call's own) and the pinned parts of a message to send.
 */
#include "rlpy.h"

int rlpy_svc_reserve(SvcObject *o, size_t bytes, size_t nlens) {
    return rlpy_reserve(&o->scratch, &o->scratch_len, &o->lens, &o->lens_cap, bytes, nlens);
}

int rlpy_rxb_take(SvcObject *o, rlpy_rxb_t *b, size_t cap, size_t nl) {
    memset(b, 0, sizeof *b);
    if (!o->busy) {
        if (rlpy_svc_reserve(o, cap, nl) < 0) {
            return -1;
        }
        o->busy = 1;
        b->own = 1;
        b->buf = o->scratch;
        b->cap = o->scratch_len;
        b->lens = o->lens;
        b->nl = o->lens_cap;
        return 0;
    }
    return rlpy_rxb_grow(o, b, cap, nl);
}

int rlpy_rxb_grow(SvcObject *o, rlpy_rxb_t *b, size_t cap, size_t nl) {
    if (b->own) {
        if (rlpy_svc_reserve(o, cap, nl) < 0) {
            return -1;
        }
        b->buf = o->scratch;
        b->cap = o->scratch_len;
        b->lens = o->lens;
        b->nl = o->lens_cap;
        return 0;
    }
    if (cap > b->cap) {
        char *p = PyMem_RawRealloc(b->buf, cap);
        if (p == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        b->buf = p;
        b->cap = cap;
    }
    if (nl > b->nl) {
        size_t *p = PyMem_RawRealloc(b->lens, nl * sizeof(size_t));
        if (p == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        b->lens = p;
        b->nl = nl;
    }
    return 0;
}

void rlpy_rxb_give(SvcObject *o, rlpy_rxb_t *b) {
    if (b->own) {
        o->busy = 0;
    } else {
        PyMem_RawFree(b->buf);
        PyMem_RawFree(b->lens);
    }
    memset(b, 0, sizeof *b);
}

int rlpy_parts_pin(PyObject *o, rlpy_parts_t *p) {
    memset(p, 0, sizeof *p);
    p->ptrs = p->sp;
    p->lens = p->sl;
    p->views = p->sv;
    if (PyUnicode_Check(o)) {
        PyErr_SetString(PyExc_TypeError, "parts must be bytes (a buffer) or a sequence of them, not str");
        return -1;
    }
    if (PyBytes_Check(o) || PyObject_CheckBuffer(o)) {
        if (rlpy_get_read(o, &p->sv[0]) < 0) {
            return -1;
        }
        p->n = 1;
        p->sp[0] = p->sv[0].buf;
        p->sl[0] = (size_t)p->sv[0].len;
        return 0;
    }
    p->tuple = PySequence_Tuple(o);
    if (p->tuple == NULL) {
        return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(p->tuple);
    if (n == 0) {
        Py_CLEAR(p->tuple);
        PyErr_SetString(PyExc_ValueError, "a message needs at least one part");
        return -1;
    }
    if (n > RLPY_PARTS_STACK) {
        p->ptrs = PyMem_Malloc(sizeof(void *) * (size_t)n);
        p->lens = PyMem_Malloc(sizeof(size_t) * (size_t)n);
        p->views = PyMem_Malloc(sizeof(Py_buffer) * (size_t)n);
        if (p->ptrs == NULL || p->lens == NULL || p->views == NULL) {
            PyErr_NoMemory();
            rlpy_parts_release(p);
            return -1;
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *it = PyTuple_GET_ITEM(p->tuple, i);
        if (rlpy_get_read(it, &p->views[i]) < 0) {
            PyErr_Format(PyExc_TypeError, "part %zd is %.100s, not a buffer", i, Py_TYPE(it)->tp_name);
            rlpy_parts_release(p);
            return -1;
        }
        p->n = i + 1;
        p->ptrs[i] = p->views[i].buf;
        p->lens[i] = (size_t)p->views[i].len;
    }
    return 0;
}

void rlpy_parts_release(rlpy_parts_t *p) {
    for (Py_ssize_t i = 0; i < p->n; i++) {
        rlpy_buffer_release(&p->views[i]);
    }
    if (p->ptrs != p->sp) {
        PyMem_Free((void *)p->ptrs);
        PyMem_Free(p->lens);
        PyMem_Free(p->views);
    }
    Py_CLEAR(p->tuple);
    p->n = 0;
    p->ptrs = p->sp;
    p->lens = p->sl;
    p->views = p->sv;
}
