/*
 * rlpy.h - shared declarations of the ringlink CPython extension (ringlink._ringlink).
 *
 * Files: module.c (module, constants, errors, Frame), context.c (Context), socket.c (Socket
 * core: send/recv, multipart), options.c (socket options), fastpath.c (batch calls), poll.c (poll, Monitor,
 * proxy).
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
    PyObject *weakreflist;
    PyObject *dict;
} SocketObject;

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

/* Scratch buffers of the socket (socket.c). Returns -1 with MemoryError. */
int rlpy_scratch_reserve(SocketObject *s, size_t bytes, size_t nlens);
/* Take / give back the scratch: raise EBUSY when a released-GIL call uses it. */
int rlpy_busy_enter(SocketObject *s);
static inline void rlpy_busy_leave(SocketObject *s) { s->busy = 0; }

#endif
