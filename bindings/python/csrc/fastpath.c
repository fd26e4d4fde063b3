/*
 * fastpath.c - the batch methods of Socket: each is one call into ringlink's batch API with the
 * GIL released (the socket is marked busy, every object whose bytes are passed is held and
 * every buffer pinned). Lengths and routing ids are returned; a message that does not fit is
 * never truncated: MessageTooLarge(needed) is raised and the message stays queued.
 *
 *   send_many(msgs)                        rl_send_batch
 *   send_many_const / send_repeat          rl_send_repeat
 *   send_routed_many(ids, payloads)        rl_send_routed
 *   send_routed_many_const / _repeat       rl_send_routed_repeat
 *   send_multipart_many(messages)          rl_send_multipart_batch
 *   recv_many_into(buf, lens)              rl_recv_batch
 *   recv_many(max)                         rl_recv_batch into the socket's scratch buffer
 *   recv_multipart_many(max)               rl_recv_batch_parts into the scratch buffer
 *   recv_pair_many_into(ids, id_lens, buf, lens)   rl_recv_batch_routed
 *   recv_pair_drain_into(ids, id_lens, buf, lens)  rl_drain_routed
 *   drain_into(buf, lens)                  rl_drain
 *
 * Sends block (GIL released) until everything is sent, unless DONTWAIT or SNDTIMEO stop them:
 * then they return the number sent so far (the rest was not sent). EINTR runs the signal
 * handlers (KeyboardInterrupt propagates) and the call goes on.
 */
#include "rlpy.h"

#define CHUNK_MAX ((size_t)INT_MAX)
#define SCRATCH_DEFAULT ((size_t)256 * 1024)

/* Run `call` with the GIL released; on EINTR run the signal handlers and run it again. The
 * caller holds the socket's busy flag. `rcvar`/`errvar` receive the result and rl_errno. */
#define NOGIL_CALL(rcvar, errvar, call, onfail)                   \
    for (;;) {                                                    \
        Py_BEGIN_ALLOW_THREADS                                    \
        rcvar = (call);                                           \
        errvar = rcvar < 0 ? rl_errno() : 0;                      \
        Py_END_ALLOW_THREADS                                      \
        if (rcvar >= 0 || errvar != EINTR) {                      \
            break;                                                \
        }                                                         \
        if (rlpy_eintr() < 0) {                                   \
            onfail;                                               \
        }                                                         \
    }

/* Pinned read views of a tuple's items; bytes items need no view. */
typedef struct {
    PyObject *tuple;
    rl_iovec_t *iov;
    Py_buffer *views; /* NULL until an item needs one */
    Py_ssize_t n;
} pinned_t;

static void pinned_release(pinned_t *p) {
    if (p->views != NULL) {
        for (Py_ssize_t i = 0; i < p->n; i++) {
            rlpy_buffer_release(&p->views[i]);
        }
        PyMem_Free(p->views);
    }
    PyMem_Free(p->iov);
    Py_XDECREF(p->tuple);
    memset(p, 0, sizeof *p);
}

/* Pin the items of `seq` (copied into a tuple so that the caller mutating the list changes
 * nothing) into p->iov. Returns -1 with an exception. */
static int pin_sequence(PyObject *seq, pinned_t *p, const char *what) {
    memset(p, 0, sizeof *p);
    p->tuple = PySequence_Tuple(seq);
    if (p->tuple == NULL) {
        return -1;
    }
    p->n = PyTuple_GET_SIZE(p->tuple);
    p->iov = PyMem_Malloc(sizeof(rl_iovec_t) * (size_t)(p->n ? p->n : 1));
    if (p->iov == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t i = 0; i < p->n; i++) {
        PyObject *o = PyTuple_GET_ITEM(p->tuple, i);
        if (PyBytes_CheckExact(o)) {
            p->iov[i].data = PyBytes_AS_STRING(o);
            p->iov[i].len = (size_t)PyBytes_GET_SIZE(o);
            continue;
        }
        if (p->views == NULL) {
            p->views = PyMem_Calloc((size_t)p->n, sizeof(Py_buffer));
            if (p->views == NULL) {
                PyErr_NoMemory();
                goto fail;
            }
        }
        if (rlpy_get_read(o, &p->views[i]) < 0) {
            PyErr_Format(PyExc_TypeError, "%s: item %zd is %.100s, not a buffer", what, i, Py_TYPE(o)->tp_name);
            goto fail;
        }
        p->iov[i].data = p->views[i].buf;
        p->iov[i].len = (size_t)p->views[i].len;
    }
    return 0;
fail:
    pinned_release(p);
    return -1;
}

typedef struct {
    const rl_iovec_t *a;
    const rl_iovec_t *b;
    const void *d1;
    size_t l1;
    const void *d2;
    size_t l2;
    const size_t *parts;
} send_args_t;

enum { SEND_BATCH, SEND_REPEAT, SEND_ROUTED, SEND_ROUTED_REPEAT, SEND_MULTIPART };

/* One chunk of a send: returns messages sent or -1. `frames_done` positions multipart sends. */
static int send_chunk(int kind, rl_socket_t *h, const send_args_t *x, size_t off, size_t frame_off, size_t n,
                      int flags) {
    switch (kind) {
    case SEND_BATCH:
        return rl_send_batch(h, x->a + off, n, flags);
    case SEND_REPEAT:
        return rl_send_repeat(h, x->d1, x->l1, n, flags);
    case SEND_ROUTED:
        return rl_send_routed(h, x->a + off, x->b + off, n, flags);
    case SEND_ROUTED_REPEAT:
        return rl_send_routed_repeat(h, x->d1, x->l1, x->d2, x->l2, n, flags);
    default:
        return rl_send_multipart_batch(h, x->a + frame_off, x->parts + off, n, flags);
    }
}

struct chunk_arg {
    int kind;
    const send_args_t *x;
    size_t off, frame_off, n;
};

static int chunk_fn(rl_socket_t *h, void *arg, int flags) {
    const struct chunk_arg *c = arg;
    return send_chunk(c->kind, h, c->x, c->off, c->frame_off, c->n, flags);
}

/* Send `count` messages; returns the number sent as a Python int, or NULL. Blocking sends
 * wait in slices (rlpy_send_sliced) so that Ctrl-C works; SNDTIMEO bounds the whole call. */
static PyObject *send_loop(SocketObject *s, int kind, const send_args_t *x, size_t count, int flags) {
    if (flags & RL_SNDMORE) {
        PyErr_SetString(PyExc_ValueError, "SNDMORE is not a batch flag");
        return NULL;
    }
    if (rlpy_busy_enter(s) < 0) {
        return NULL;
    }
    rl_socket_t *h = s->handle;
    long long deadline = rlpy_deadline(s->sndtimeo);
    size_t done = 0, frame_off = 0;
    while (done < count) {
        size_t n = count - done;
        if (n > CHUNK_MAX) {
            n = CHUNK_MAX;
        }
        struct chunk_arg c = {kind, x, done, frame_off, n};
        int rc, err;
        if (flags & RL_DONTWAIT) {
            NOGIL_CALL(rc, err, chunk_fn(h, &c, flags), goto fail);
        } else {
            rc = rlpy_send_sliced(s, chunk_fn, &c, flags, deadline, &err);
            if (rc == -2) {
                goto fail;
            }
        }
        if (rc < 0) {
            if (err == EAGAIN && done > 0) {
                break; /* DONTWAIT / SNDTIMEO after some were sent: report how many */
            }
            rlpy_busy_leave(s);
            return rlpy_raise(err);
        }
        if (kind == SEND_MULTIPART) {
            for (int j = 0; j < rc; j++) {
                frame_off += x->parts[done + (size_t)j];
            }
        }
        done += (size_t)rc;
        if ((size_t)rc < n && (flags & RL_DONTWAIT)) {
            break;
        }
    }
    rlpy_busy_leave(s);
    return PyLong_FromSize_t(done);
fail:
    rlpy_busy_leave(s);
    return NULL;
}

static int parse_count(PyObject *o, size_t *out) {
    Py_ssize_t v = PyLong_AsSsize_t(o);
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (v < 0) {
        PyErr_SetString(PyExc_ValueError, "count must be >= 0");
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

static PyObject *fp_send_many(SocketObject *s, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"msgs", "flags"};
    PyObject *a[2];
    int flags = 0;
    if (rlpy_parse("send_many", args, nargs, kwnames, names, 2, 1, a) < 0 || (a[1] && rlpy_flags(a[1], &flags) < 0)) {
        return NULL;
    }
    if (rlpy_sock(s) == NULL) {
        return NULL;
    }
    pinned_t p;
    if (pin_sequence(a[0], &p, "send_many") < 0) {
        return NULL;
    }
    send_args_t x = {.a = p.iov};
    PyObject *r = p.n ? send_loop(s, SEND_BATCH, &x, (size_t)p.n, flags) : PyLong_FromLong(0);
    pinned_release(&p);
    return r;
}

static PyObject *fp_send_repeat(SocketObject *s, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"payload", "count", "flags"};
    PyObject *a[3];
    int flags = 0;
    size_t count;
    if (rlpy_parse("send_many_const", args, nargs, kwnames, names, 3, 2, a) < 0 || parse_count(a[1], &count) < 0 ||
        (a[2] && rlpy_flags(a[2], &flags) < 0)) {
        return NULL;
    }
    if (rlpy_sock(s) == NULL) {
        return NULL;
    }
    Py_buffer v;
    if (rlpy_get_read(a[0], &v) < 0) {
        return NULL;
    }
    send_args_t x = {.d1 = v.buf, .l1 = (size_t)v.len};
    PyObject *r = count ? send_loop(s, SEND_REPEAT, &x, count, flags) : PyLong_FromLong(0);
    rlpy_buffer_release(&v);
    return r;
}

static PyObject *fp_send_routed_many(SocketObject *s, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"ids", "payloads", "flags"};
    PyObject *a[3];
    int flags = 0;
    if (rlpy_parse("send_routed_many", args, nargs, kwnames, names, 3, 2, a) < 0 ||
        (a[2] && rlpy_flags(a[2], &flags) < 0)) {
        return NULL;
    }
    if (rlpy_sock(s) == NULL) {
        return NULL;
    }
    pinned_t ids, pl;
    if (pin_sequence(a[0], &ids, "send_routed_many ids") < 0) {
        return NULL;
    }
    if (pin_sequence(a[1], &pl, "send_routed_many payloads") < 0) {
        pinned_release(&ids);
        return NULL;
    }
    PyObject *r;
    if (ids.n != pl.n) {
        r = PyErr_Format(PyExc_ValueError, "send_routed_many: %zd ids but %zd payloads", ids.n, pl.n);
    } else {
        send_args_t x = {.a = ids.iov, .b = pl.iov};
        r = ids.n ? send_loop(s, SEND_ROUTED, &x, (size_t)ids.n, flags) : PyLong_FromLong(0);
    }
    pinned_release(&ids);
    pinned_release(&pl);
    return r;
}

static PyObject *fp_send_routed_repeat(SocketObject *s, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"routing_id", "payload", "count", "flags"};
    PyObject *a[4];
    int flags = 0;
    size_t count;
    if (rlpy_parse("send_routed_many_const", args, nargs, kwnames, names, 4, 3, a) < 0 ||
        parse_count(a[2], &count) < 0 || (a[3] && rlpy_flags(a[3], &flags) < 0)) {
        return NULL;
    }
    if (rlpy_sock(s) == NULL) {
        return NULL;
    }
    Py_buffer vid, vpl;
    if (rlpy_get_read(a[0], &vid) < 0) {
        return NULL;
    }
    if (rlpy_get_read(a[1], &vpl) < 0) {
        rlpy_buffer_release(&vid);
        return NULL;
    }
    send_args_t x = {.d1 = vid.buf, .l1 = (size_t)vid.len, .d2 = vpl.buf, .l2 = (size_t)vpl.len};
    PyObject *r = count ? send_loop(s, SEND_ROUTED_REPEAT, &x, count, flags) : PyLong_FromLong(0);
    rlpy_buffer_release(&vid);
    rlpy_buffer_release(&vpl);
    return r;
}

static PyObject *fp_send_multipart_many(SocketObject *s, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"messages", "flags"};
    PyObject *a[2];
    int flags = 0;
    if (rlpy_parse("send_multipart_many", args, nargs, kwnames, names, 2, 1, a) < 0 ||
        (a[1] && rlpy_flags(a[1], &flags) < 0)) {
        return NULL;
    }
    if (rlpy_sock(s) == NULL) {
        return NULL;
    }
    /* Flatten into one list of frames (holding them) plus the frame count of each message. */
    PyObject *msgs = PySequence_Tuple(a[0]);
    if (msgs == NULL) {
        return NULL;
    }
    Py_ssize_t nmsg = PyTuple_GET_SIZE(msgs);
    PyObject *flat = PyList_New(0);
    size_t *parts = PyMem_Malloc(sizeof(size_t) * (size_t)(nmsg ? nmsg : 1));
    PyObject *r = NULL;
    pinned_t p = {0};
    if (flat == NULL || parts == NULL) {
        if (parts == NULL) {
            PyErr_NoMemory();
        }
        goto out;
    }
    for (Py_ssize_t j = 0; j < nmsg; j++) {
        PyObject *m = PyTuple_GET_ITEM(msgs, j);
        if (PyBytes_Check(m) || PyUnicode_Check(m) || PyObject_CheckBuffer(m)) {
            PyErr_Format(PyExc_TypeError, "send_multipart_many: message %zd must be a sequence of frames", j);
            goto out;
        }
        PyObject *fr = PySequence_Fast(m, "send_multipart_many: each message must be a sequence of frames");
        if (fr == NULL) {
            goto out;
        }
        Py_ssize_t k = PySequence_Fast_GET_SIZE(fr);
        if (k == 0) {
            Py_DECREF(fr);
            PyErr_Format(PyExc_ValueError, "send_multipart_many: message %zd has no frame", j);
            goto out;
        }
        parts[j] = (size_t)k;
        for (Py_ssize_t i = 0; i < k; i++) {
            if (PyList_Append(flat, PySequence_Fast_GET_ITEM(fr, i)) < 0) {
                Py_DECREF(fr);
                goto out;
            }
        }
        Py_DECREF(fr);
    }
    if (pin_sequence(flat, &p, "send_multipart_many") < 0) {
        goto out;
    }
    send_args_t x = {.a = p.iov, .parts = parts};
    r = nmsg ? send_loop(s, SEND_MULTIPART, &x, (size_t)nmsg, flags) : PyLong_FromLong(0);
out:
    pinned_release(&p);
    PyMem_Free(parts);
    Py_XDECREF(flat);
    Py_DECREF(msgs);
    return r;
}

/* ---------------------------------------------------------------- receive */

/* A writable array of size_t (array('Q'), numpy uint64, memoryview cast 'Q'/'L'/'N'). */
int rlpy_get_lens(PyObject *o, Py_buffer *v, const char *what) {
    if (PyObject_GetBuffer(o, v, PyBUF_WRITABLE | PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) {
        return -1;
    }
    const char *f = v->format ? v->format : "B";
    if (*f == '@' || *f == '=' || *f == '<') {
        f++;
    }
    if (v->itemsize != (Py_ssize_t)sizeof(size_t) || f[1] != '\0' || (f[0] != 'Q' && f[0] != 'L' && f[0] != 'N')) {
        PyErr_Format(PyExc_TypeError, "%s must be a writable array of size_t (array('Q')), not format '%s'", what,
                     v->format ? v->format : "B");
        PyBuffer_Release(v);
        return -1;
    }
    if (v->len == 0) {
        PyErr_Format(PyExc_ValueError, "%s is empty", what);
        PyBuffer_Release(v);
        return -1;
    }
    return 0;
}

enum { RECV_BATCH, RECV_DRAIN, RECV_ROUTED, RECV_DRAIN_ROUTED };

typedef struct {
    Py_buffer buf, lens, ids, id_lens;
    int nviews;
} recv_views_t;

static void recv_views_release(recv_views_t *r) {
    Py_buffer *all[4] = {&r->buf, &r->lens, &r->ids, &r->id_lens};
    for (int i = 0; i < r->nviews; i++) {
        PyBuffer_Release(all[i]);
    }
}

static PyObject *recv_into_common(SocketObject *s, int kind, PyObject **a, int flags) {
    recv_views_t r;
    memset(&r, 0, sizeof r);
    int routed = kind == RECV_ROUTED || kind == RECV_DRAIN_ROUTED;
    /* a: buf, lens  or  ids, id_lens, buf, lens */
    PyObject *obuf = routed ? a[2] : a[0], *olens = routed ? a[3] : a[1];
    if (PyObject_GetBuffer(obuf, &r.buf, PyBUF_WRITABLE) < 0) {
        return NULL;
    }
    r.nviews = 1;
    if (rlpy_get_lens(olens, &r.lens, "lens") < 0) {
        goto fail;
    }
    r.nviews = 2;
    size_t max = (size_t)r.lens.len / sizeof(size_t);
    if (routed) {
        if (PyObject_GetBuffer(a[0], &r.ids, PyBUF_WRITABLE) < 0) {
            goto fail;
        }
        r.nviews = 3;
        if (rlpy_get_lens(a[1], &r.id_lens, "id_lens") < 0) {
            goto fail;
        }
        r.nviews = 4;
        size_t m2 = (size_t)r.id_lens.len / sizeof(size_t);
        if (m2 < max) {
            max = m2;
        }
        if ((size_t)r.ids.len < RL_ROUTING_ID_MAX) {
            PyErr_SetString(PyExc_ValueError, "ids must hold at least 255 bytes (one routing id of the largest size)");
            goto fail;
        }
    }
    size_t needed = 0;
    int rc, err;
    void *b = r.buf.buf;
    size_t bl = (size_t)r.buf.len;
    size_t *lens = r.lens.buf;
    long long deadline = rlpy_deadline(s->rcvtimeo);
    for (;;) {
        if (rlpy_busy_enter(s) < 0) {
            goto fail;
        }
        rl_socket_t *h = s->handle;
        int f = flags | RL_DONTWAIT;
        switch (kind) {
        case RECV_BATCH:
            NOGIL_CALL(rc, err, rl_recv_batch(h, b, bl, lens, max, &needed, f), goto busy_fail);
            break;
        case RECV_DRAIN:
            NOGIL_CALL(rc, err, rl_drain(h, b, bl, lens, max, &needed), goto busy_fail);
            break;
        case RECV_ROUTED:
            NOGIL_CALL(rc, err,
                       rl_recv_batch_routed(h, b, bl, lens, r.ids.buf, (size_t)r.ids.len, r.id_lens.buf, max, &needed, f),
                       goto busy_fail);
            break;
        default:
            NOGIL_CALL(rc, err,
                       rl_drain_routed(h, b, bl, lens, r.ids.buf, (size_t)r.ids.len, r.id_lens.buf, max, &needed),
                       goto busy_fail);
            break;
        }
        rlpy_busy_leave(s);
        if (rc >= 0 || err != EAGAIN || (flags & RL_DONTWAIT)) {
            break;
        }
        /* Nothing queued: wait (sliced, Ctrl-C works) for RCVTIMEO at most, then retry. */
        long t = -1;
        if (deadline >= 0) {
            long long left = deadline - rlpy_now_ms();
            t = left > 0 ? (long)left : 0;
        }
        int w = rlpy_wait(s, RL_POLLIN, t);
        if (w < 0) {
            goto fail;
        }
        if (w == 0) {
            break; /* timeout: EAGAIN */
        }
    }
    recv_views_release(&r);
    if (rc < 0) {
        if (err == EMSGSIZE) {
            return rlpy_raise_too_large(needed);
        }
        return rlpy_raise(err);
    }
    return PyLong_FromLong(rc);
busy_fail:
    rlpy_busy_leave(s);
fail:
    recv_views_release(&r);
    return NULL;
}

static PyObject *fp_recv_many_into(SocketObject *s, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"buf", "lens", "flags"};
    PyObject *a[3];
    int flags = 0;
    if (rlpy_parse("recv_many_into", args, nargs, kwnames, names, 3, 2, a) < 0 || (a[2] && rlpy_flags(a[2], &flags) < 0)) {
        return NULL;
    }
    return rlpy_sock(s) ? recv_into_common(s, RECV_BATCH, a, flags) : NULL;
}

static PyObject *fp_drain_into(SocketObject *s, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"buf", "lens"};
    PyObject *a[2];
    if (rlpy_parse("drain_into", args, nargs, kwnames, names, 2, 2, a) < 0) {
        return NULL;
    }
    return rlpy_sock(s) ? recv_into_common(s, RECV_DRAIN, a, 0) : NULL;
}

static PyObject *fp_recv_pair_many_into(SocketObject *s, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"ids", "id_lens", "buf", "lens", "flags"};
    PyObject *a[5];
    int flags = 0;
    if (rlpy_parse("recv_pair_many_into", args, nargs, kwnames, names, 5, 4, a) < 0 ||
        (a[4] && rlpy_flags(a[4], &flags) < 0)) {
        return NULL;
    }
    return rlpy_sock(s) ? recv_into_common(s, RECV_ROUTED, a, flags) : NULL;
}

static PyObject *fp_recv_pair_drain_into(SocketObject *s, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"ids", "id_lens", "buf", "lens"};
    PyObject *a[4];
    if (rlpy_parse("recv_pair_drain_into", args, nargs, kwnames, names, 4, 4, a) < 0) {
        return NULL;
    }
    return rlpy_sock(s) ? recv_into_common(s, RECV_DRAIN_ROUTED, a, 0) : NULL;
}

/* recv_many / recv_multipart_many: into the socket's scratch buffer, then bytes objects. */
static PyObject *recv_scratch(SocketObject *s, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                              int multipart) {
    static const char *const names[] = {"max", "flags"};
    PyObject *a[2];
    int flags = 0;
    Py_ssize_t max = 1024;
    if (rlpy_parse(multipart ? "recv_multipart_many" : "recv_many", args, nargs, kwnames, names, 2, 0, a) < 0 ||
        (a[1] && rlpy_flags(a[1], &flags) < 0)) {
        return NULL;
    }
    if (a[0] != NULL && (max = PyLong_AsSsize_t(a[0])) == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (max <= 0 || (size_t)max > CHUNK_MAX) {
        PyErr_SetString(PyExc_ValueError, "max must be between 1 and INT_MAX");
        return NULL;
    }
    if (rlpy_busy_enter(s) < 0) {
        return NULL;
    }
    size_t nl = (size_t)max * (multipart ? 2 : 1);
    if (rlpy_scratch_reserve(s, SCRATCH_DEFAULT, nl) < 0) {
        rlpy_busy_leave(s);
        return NULL;
    }
    int rc, err;
    long long deadline = rlpy_deadline(s->rcvtimeo);
    for (;;) {
        rl_socket_t *h = s->handle;
        size_t needed = 0;
        char *b = s->scratch;
        size_t bl = s->scratch_len, *lens = s->lens, *parts = s->lens + max;
        int f = flags | RL_DONTWAIT;
        if (multipart) {
            NOGIL_CALL(rc, err, rl_recv_batch_parts(h, b, bl, lens, parts, (size_t)max, &needed, f), goto fail);
        } else {
            NOGIL_CALL(rc, err, rl_recv_batch(h, b, bl, lens, (size_t)max, &needed, f), goto fail);
        }
        if (rc >= 0) {
            break;
        }
        if (err == EMSGSIZE) {
            /* The message stays queued: grow the scratch buffer to its size and take it. */
            if (rlpy_scratch_reserve(s, needed, nl) < 0) {
                goto fail;
            }
            continue;
        }
        if (err != EAGAIN || (flags & RL_DONTWAIT)) {
            break;
        }
        rlpy_busy_leave(s);
        long t = -1;
        if (deadline >= 0) {
            long long left = deadline - rlpy_now_ms();
            t = left > 0 ? (long)left : 0;
        }
        int w = rlpy_wait(s, RL_POLLIN, t);
        if (w < 0) {
            return NULL;
        }
        if (rlpy_busy_enter(s) < 0) {
            return NULL;
        }
        if (w == 0) {
            break; /* timeout: EAGAIN */
        }
    }
    if (rc < 0) {
        rlpy_busy_leave(s);
        return rlpy_raise(err);
    }
    PyObject *list = PyList_New(rc);
    if (list == NULL) {
        goto fail;
    }
    const char *p = s->scratch;
    size_t fi = 0;
    for (int j = 0; j < rc; j++) {
        PyObject *item;
        if (multipart) {
            size_t k = s->lens[max + j];
            item = PyList_New((Py_ssize_t)k);
            for (size_t i = 0; item != NULL && i < k; i++, fi++) {
                PyObject *f = PyBytes_FromStringAndSize(p, (Py_ssize_t)s->lens[fi]);
                if (f == NULL) {
                    Py_CLEAR(item);
                    break;
                }
                p += s->lens[fi];
                PyList_SET_ITEM(item, i, f);
            }
        } else {
            item = PyBytes_FromStringAndSize(p, (Py_ssize_t)s->lens[j]);
            p += s->lens[j];
        }
        if (item == NULL) {
            Py_DECREF(list);
            goto fail;
        }
        PyList_SET_ITEM(list, j, item);
    }
    rlpy_busy_leave(s);
    return list;
fail:
    rlpy_busy_leave(s);
    return NULL;
}

static PyObject *fp_recv_many(SocketObject *s, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    return recv_scratch(s, args, nargs, kwnames, 0);
}

static PyObject *fp_recv_multipart_many(SocketObject *s, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    return recv_scratch(s, args, nargs, kwnames, 1);
}

#define FASTKW (METH_FASTCALL | METH_KEYWORDS)
#define M(name, fn, doc) {name, (PyCFunction)(void (*)(void))fn, FASTKW, doc}

PyMethodDef rlpy_fastpath_methods[] = {
    M("send_many", fp_send_many,
      "send_many(msgs, flags=0) -> int: send each item of msgs (bytes/buffers) as a single-frame\n"
      "message in one batch call (rl_send_batch; PAIR, DEALER, PUSH, PUB). Returns the number sent."),
    M("send_many_const", fp_send_repeat, "send_many_const(payload, count, flags=0) -> int: payload count times (rl_send_repeat)."),
    M("send_repeat", fp_send_repeat, "send_repeat(payload, count, flags=0) -> int: alias of send_many_const."),
    M("send_routed_many", fp_send_routed_many,
      "send_routed_many(ids, payloads, flags=0) -> int: [ids[i], payloads[i]] messages (rl_send_routed)."),
    M("send_routed_many_const", fp_send_routed_repeat,
      "send_routed_many_const(routing_id, payload, count, flags=0) -> int: [routing_id, payload] count\n"
      "times (rl_send_routed_repeat)."),
    M("send_routed_repeat", fp_send_routed_repeat, "alias of send_routed_many_const."),
    M("send_multipart_many", fp_send_multipart_many,
      "send_multipart_many(messages, flags=0) -> int: each item is a list of frames (rl_send_multipart_batch)."),
    M("recv_many_into", fp_recv_many_into,
      "recv_many_into(buf, lens, flags=0) -> int: frames packed into buf, their sizes in lens\n"
      "(array('Q')); returns the number of frames. MessageTooLarge(needed) if the next message\n"
      "does not fit buf (it stays queued)."),
    M("drain_into", fp_drain_into, "drain_into(buf, lens) -> int: recv_many_into without waiting; 0 when empty."),
    M("recv_pair_many_into", fp_recv_pair_many_into,
      "recv_pair_many_into(ids, id_lens, buf, lens, flags=0) -> int: ROUTER/STREAM messages, routing\n"
      "ids packed into ids (id_lens), payloads into buf (lens). Returns the number of messages."),
    M("recv_pair_drain_into", fp_recv_pair_drain_into,
      "recv_pair_drain_into(ids, id_lens, buf, lens) -> int: recv_pair_many_into without waiting."),
    M("recv_many", fp_recv_many, "recv_many(max=1024, flags=0) -> list[bytes]: up to max frames in one call."),
    M("recv_multipart_many", fp_recv_multipart_many,
      "recv_multipart_many(max=1024, flags=0) -> list[list[bytes]]: up to max messages in one call."),
    {NULL, NULL, 0, NULL},
};
