/*
 * rlpy.h - shared declarations of the ringlink CPython extension (ringlink._ringlink).
 *
 * Files: module.c (module, constants, errors, Frame), context.c (Context), socket.c (Socket
 * core: send/recv, multipart), sockwait.c (busy guard, scratch, sliced waits), options.c (socket options), fastpath.c (batch calls), poll.c (poll, Monitor,
 * proxy), services.c (Registry, Discovery, shared service helpers), svcbuf.c (the service
 * calls' receive buffers and pinned parts), gateway.c (Receiver, Gateway), spot.c (SpotNode,
 * SpotSub).
 *
 * GIL rule: a call that may block releases the GIL; before that it pins everything the C call
 * uses (INCREF of the socket object and of the objects whose bytes are passed, Py_buffer views
 * held). A second Python thread on the same socket then gets EBUSY from ringlink, or from the
 * binding's own `busy` flag for calls that use the socket's scratch buffer.
 */
#ifndef RLPY_H
#define RLPY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "ringlink.h"

/* The ABI additions of issue 12 (readiness fd, rl_recv_with, proxies, routed repeat,
 * multipart batch) arrived together; RL_FD marks a header that has them. */
#ifdef RL_FD
#define RLPY_HAVE_V2 1
#else
#define RLPY_HAVE_V2 0
#endif

#define RLPY_UNUSED(x) (void)(x)

typedef struct {
    PyObject_HEAD
    rl_ctx_t *handle; /* NULL once terminated */
    int io_threads_set;
    PyObject *weakreflist;
    PyObject *dict;
} ContextObject;

typedef struct {
    PyObject_HEAD
    rl_socket_t *handle; /* NULL once closed */
    PyObject *context;   /* the ContextObject (strong) */
    int type;
    int rcvtimeo;        /* cached RL_RCVTIMEO (the binding waits with rl_poll) */
    int sndtimeo;        /* cached RL_SNDTIMEO (blocking sends wait in slices) */
    int busy;            /* a GIL-released call uses `scratch` */
    char *scratch;       /* receive buffer of recv_many / recv_multipart_many */
    size_t scratch_len;
    size_t *lens;        /* lens/parts arrays of the scratch calls */
    size_t lens_cap;
    PyObject *owner;     /* a Receiver's ROUTER: the Receiver (strong); NULL for own sockets */
    PyObject *weakreflist;
    PyObject *dict;
} SocketObject;

/* A service-layer object (services.c, spot.c): one layout for the six types. The handles are
 * generation-checked by ringlink, so a handle used after another thread destroyed it gives
 * EFAULT (reported as ENOTSOCK here), never a dangling pointer. */
typedef struct rlpy_cb rlpy_cb_t; /* a callback (discovery change, SPOT handler) */
typedef struct {
    PyObject_HEAD
    void *handle;          /* rl_registry_t * ... rl_spot_sub_t *; NULL once closed */
    PyObject *context;     /* the ContextObject (strong) */
    rlpy_cb_t *cb;         /* the callback handed to ringlink, or NULL */
    SocketObject *router;  /* Receiver: its ROUTER's Socket object (borrowed: it holds us) */
    int (*destroy)(void *h); /* rl_*_destroy of the type */
    int started;           /* Registry: started */
    int setting;           /* a callback is being replaced (GIL released) */
    int busy;              /* the scratch buffers are in use (GIL released) */
    char *scratch;         /* receive buffers (Gateway.recv, SpotSub.recv / recv_many) */
    size_t scratch_len;
    char *scratch2;        /* topics of SpotSub.recv_many */
    size_t scratch2_len;
    size_t *lens;
    size_t lens_cap;
    void *lock;            /* Gateway: a PyThread_type_lock around a short receive slice */
    PyObject *weakreflist;
    PyObject *dict;
} SvcObject;

typedef struct {
    PyObject_HEAD
    PyObject *bytes; /* the frame's data (bytes) */
    int more;
    PyObject *weakreflist;
} FrameObject;

/* module.c */
extern PyTypeObject Rlpy_FrameType;
extern PyObject *Rlpy_Error;           /* RinglinkError */
extern PyObject *Rlpy_Again;           /* EAGAIN */
extern PyObject *Rlpy_ContextTerminated; /* RL_ETERM */
extern PyObject *Rlpy_MessageTooLarge; /* EMSGSIZE with the needed size */
/* Raise the exception for error number `err`; returns NULL. */
PyObject *rlpy_raise(int err);
/* Raise for rl_errno(); returns NULL. */
PyObject *rlpy_raise_last(void);
PyObject *rlpy_raise_too_large(size_t needed);
/* After EINTR: run the signal handlers. Returns 0 to retry, -1 with an exception set. */
int rlpy_eintr(void);
PyObject *rlpy_frame_new(PyObject *bytes, int more);
/* Pin a read-only contiguous buffer: bytes without a view (view->obj NULL, data borrowed), else
 * PyObject_GetBuffer. Release with rlpy_buffer_release. */
int rlpy_get_read(PyObject *obj, Py_buffer *view);
/* A writable, non-empty array of size_t (array('Q')); fastpath.c. */
int rlpy_get_lens(PyObject *o, Py_buffer *v, const char *what);
void rlpy_buffer_release(Py_buffer *view);
/* Monotonic milliseconds. */
long long rlpy_now_ms(void);

/* context.c */
extern PyTypeObject Rlpy_ContextType;
int rlpy_context_init_type(PyObject *m);

/* socket.c */
extern PyTypeObject Rlpy_SocketType;
int rlpy_socket_init_type(PyObject *m);
/* The live handle or NULL with ENOTSOCK raised. */
static inline rl_socket_t *rlpy_sock(SocketObject *s) {
    if (s->handle == NULL) {
        rlpy_raise(ENOTSOCK);
    }
    return s->handle;
}
/* sockwait.c */
/* Blocking waits are cut into slices of at most this many ms so that signal handlers
 * (KeyboardInterrupt) run even if the library does not report EINTR for a wait. */
#define RLPY_SLICE_MS 100
/* Deadline (monotonic ms, -1 = none) for a timeout in ms (-1 = none). */
long long rlpy_deadline(long timeout_ms);
/* The next wait slice before `deadline`: 0..RLPY_SLICE_MS. */
long rlpy_slice(long long deadline);
/* A blocking send call, run as fn(h, arg, flags). */
typedef int (*rlpy_send_fn)(rl_socket_t *h, void *arg, int flags);
/* Run fn with the GIL released until it succeeds (>= 0, possibly a partial count), fails
 * with an error other than EAGAIN, or `deadline` passes (EAGAIN): SNDTIMEO is set to each
 * slice meanwhile and signal handlers run between slices. The caller holds the busy flag.
 * Returns fn's result, -1 with *err, or -2 with an exception set. */
int rlpy_send_sliced(SocketObject *s, rlpy_send_fn fn, void *arg, int flags, long long deadline, int *err);
/* Wait (GIL released) until the socket polls `events`, up to `timeout_ms` (-1: no limit).
 * Returns 1 ready, 0 timeout, -1 with an exception set. EINTR runs signal handlers. */
int rlpy_wait(SocketObject *s, short events, long timeout_ms);
/* METH_FASTCALL|METH_KEYWORDS argument parsing: out[i] gets the argument named names[i]
 * (positional first, then keywords), NULL when absent; the first `nrequired` are required.
 * Returns -1 with TypeError. */
int rlpy_parse(const char *fname, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
               const char *const *names, Py_ssize_t nnames, Py_ssize_t nrequired, PyObject **out);
/* Parse a flags argument (int) */
int rlpy_flags(PyObject *o, int *flags);

/* options.c */
PyObject *rlpy_sock_setsockopt(SocketObject *s, PyObject *const *args, Py_ssize_t nargs);
PyObject *rlpy_sock_getsockopt(SocketObject *s, PyObject *arg);

/* fastpath.c: methods of Socket */
extern PyMethodDef rlpy_fastpath_methods[];

/* poll.c */
extern PyMethodDef rlpy_poll_functions[];
extern PyMethodDef rlpy_poll_socket_methods[];
int rlpy_poll_init_types(PyObject *m);

/* services.c / spot.c */
int rlpy_services_init_types(PyObject *m);
int rlpy_spot_init_types(PyObject *m);
int rlpy_gateway_init_types(PyObject *m);
/* One string argument, then fn(handle, str) with the GIL released; returns its result as an
 * int (flags RLPY_STR_INT) or None. RLPY_STR_NULLABLE: None passes NULL (ringlink decides). */
typedef int (*str_fn)(void *h, const char *s);
#define RLPY_STR_INT 1
#define RLPY_STR_NULLABLE 2
PyObject *rlpy_svc_call_str(SvcObject *o, PyObject *arg, const char *what, str_fn fn, int flags);
/* The Receiver owning a ROUTER Socket object forgets it (the Socket is being deallocated). */
void rlpy_receiver_forget_router(PyObject *owner, SocketObject *s);
/* Shared by services.c and spot.c. */
SvcObject *rlpy_svc_alloc(PyTypeObject *type, PyObject *ctx, int (*destroy)(void *));
void *rlpy_svc_handle(SvcObject *o); /* NULL with ENOTSOCK raised once closed */
PyObject *rlpy_svc_raise(SvcObject *o, int err); /* EFAULT after a close: ENOTSOCK */
const char *rlpy_cstr(PyObject *o, const char *what); /* str/bytes -> UTF-8 (borrowed) */
const char *rlpy_cstr_opt(PyObject *o, const char *what, int *err); /* None/absent -> NULL */
int rlpy_timeout(PyObject *o, long *ms); /* None/absent/negative -> -1, else ms */
int rlpy_svc_traverse(SvcObject *o, visitproc visit, void *arg);
int rlpy_svc_clear(SvcObject *o);
void rlpy_svc_dealloc(SvcObject *o);
int rlpy_svc_init(PyObject *self, PyObject *args, PyObject *kwds);
PyObject *rlpy_svc_close(SvcObject *o, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames);
extern PyGetSetDef rlpy_svc_getset[];
extern PyTypeObject Rlpy_DiscoveryType;
/* Fill the common slots of a service type (dealloc, GC, getset, weakrefs, dict). */
void rlpy_svc_type(PyTypeObject *t);
/* Grow o->scratch to `bytes` and o->lens to `nlens` entries; -1 with MemoryError. */
int rlpy_svc_reserve(SvcObject *o, size_t bytes, size_t nlens);
/* A callback: a Python callable called from a ringlink thread under PyGILState_Ensure. */
struct rlpy_cb {
    PyObject *fn;
};
rlpy_cb_t *rlpy_cb_new(PyObject *fn); /* NULL with an exception */
void rlpy_cb_free(rlpy_cb_t *cb);     /* with the GIL */
/* Call cb->fn(*args) from a foreign thread (takes the GIL; errors are reported as
 * unraisable). `build` makes the argument tuple with the GIL held. */
void rlpy_cb_call(rlpy_cb_t *cb, PyObject *(*build)(void *), void *arg);
/* Replace o->cb with a callback for `fn` (None clears) through set(handle, cb or NULL), with
 * the GIL released (ringlink waits for a call in progress); EBUSY if another thread is at it. */
PyObject *rlpy_svc_set_callback(SvcObject *o, PyObject *fn, int (*set)(void *h, rlpy_cb_t *cb));

/* The parts of a message to send, pinned: one buffer, or a sequence of buffers (held). */
#define RLPY_PARTS_STACK 8
typedef struct {
    PyObject *tuple; /* the sequence's items (held), NULL for one buffer */
    Py_ssize_t n;
    const void **ptrs;
    size_t *lens;
    Py_buffer *views;
    const void *sp[RLPY_PARTS_STACK];
    size_t sl[RLPY_PARTS_STACK];
    Py_buffer sv[RLPY_PARTS_STACK];
} rlpy_parts_t;
int rlpy_parts_pin(PyObject *o, rlpy_parts_t *p); /* -1 with an exception */
void rlpy_parts_release(rlpy_parts_t *p);
/* Receive buffers: the object's scratch when free, else private ones (another thread uses
 * the scratch: the service calls are thread-safe). */
typedef struct {
    char *buf;
    size_t cap;
    size_t *lens;
    size_t nl;
    int own;
} rlpy_rxb_t;
int rlpy_rxb_take(SvcObject *o, rlpy_rxb_t *b, size_t cap, size_t nl);
int rlpy_rxb_grow(SvcObject *o, rlpy_rxb_t *b, size_t cap, size_t nl);
void rlpy_rxb_give(SvcObject *o, rlpy_rxb_t *b);
/* Run `call` with the GIL released; EINTR runs the signal handlers and retries. */
#define RLPY_NOGIL(rcvar, errvar, call, onfail)                   \
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

/* Grow *buf to `bytes` and *lens to `nlens` entries (never shrinks; sockwait.c). Returns -1
 * with MemoryError. */
int rlpy_reserve(char **buf, size_t *buf_len, size_t **lens, size_t *lens_cap, size_t bytes, size_t nlens);
/* Scratch buffers of the socket (sockwait.c). Returns -1 with MemoryError. */
int rlpy_scratch_reserve(SocketObject *s, size_t bytes, size_t nlens);
/* Take / give back the scratch: raise EBUSY when a released-GIL call uses it. */
int rlpy_busy_enter(SocketObject *s);
static inline void rlpy_busy_leave(SocketObject *s) { s->busy = 0; }

#endif
