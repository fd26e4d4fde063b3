/*
 * sockwait.c - what socket.c, fastpath.c and poll.c share around a native socket: the busy
 * guard (one call at a time per socket), the scratch buffers of the batch calls, and waiting
 * with the GIL released in slices of RLPY_SLICE_MS (so Ctrl-C and signal handlers run
 * between them): rl_poll for readiness, a sliced SNDTIMEO for blocking sends.
 */
#include "rlpy.h"

int rlpy_busy_enter(SocketObject *s) {
    if (s->handle == NULL) {
        rlpy_raise(ENOTSOCK);
        return -1;
    }
    if (s->busy) {
        rlpy_raise(EBUSY);
        return -1;
    }
    s->busy = 1;
    return 0;
}

int rlpy_reserve(char **buf, size_t *buf_len, size_t **lens, size_t *lens_cap, size_t bytes, size_t nlens) {
    if (bytes > *buf_len) {
        char *p = PyMem_RawRealloc(*buf, bytes);
        if (p == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        *buf = p;
        *buf_len = bytes;
    }
    if (nlens > *lens_cap) {
        size_t *p = PyMem_RawRealloc(*lens, nlens * sizeof(size_t));
        if (p == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        *lens = p;
        *lens_cap = nlens;
    }
    return 0;
}

int rlpy_scratch_reserve(SocketObject *s, size_t bytes, size_t nlens) {
    return rlpy_reserve(&s->scratch, &s->scratch_len, &s->lens, &s->lens_cap, bytes, nlens);
}

long long rlpy_deadline(long timeout_ms) { return timeout_ms < 0 ? -1 : rlpy_now_ms() + timeout_ms; }

long rlpy_slice(long long deadline) {
    if (deadline < 0) {
        return RLPY_SLICE_MS;
    }
    long long left = deadline - rlpy_now_ms();
    return left <= 0 ? 0 : left < RLPY_SLICE_MS ? (long)left : RLPY_SLICE_MS;
}

int rlpy_wait(SocketObject *s, short events, long timeout_ms) {
    long long deadline = rlpy_deadline(timeout_ms);
    for (;;) {
        if (rlpy_busy_enter(s) < 0) {
            return -1;
        }
        rl_pollitem_t item = {s->handle, 0, events, 0};
        long t = rlpy_slice(deadline);
        int rc, err;
        Py_BEGIN_ALLOW_THREADS
        rc = rl_poll(&item, 1, t);
        err = rc < 0 ? rl_errno() : 0;
        Py_END_ALLOW_THREADS
        rlpy_busy_leave(s);
        if (rc > 0 && (item.revents & events)) {
            return 1;
        }
        if (rc < 0 && err != EINTR) {
            rlpy_raise(err);
            return -1;
        }
        if (rlpy_eintr() < 0) {
            return -1;
        }
        if (deadline >= 0 && rlpy_now_ms() >= deadline) {
            return 0;
        }
    }
}

int rlpy_send_sliced(SocketObject *s, rlpy_send_fn fn, void *arg, int flags, long long deadline, int *errp) {
    rl_socket_t *h = s->handle;
    int rc, err = 0;
    for (;;) {
        int slice = (int)rlpy_slice(deadline);
        rl_setsockopt(h, RL_SNDTIMEO, &slice, sizeof slice);
        Py_BEGIN_ALLOW_THREADS
        rc = fn(h, arg, flags);
        err = rc < 0 ? rl_errno() : 0;
        Py_END_ALLOW_THREADS
        if (rc >= 0 || (err != EAGAIN && err != EINTR)) {
            break;
        }
        if (PyErr_CheckSignals() < 0) {
            rc = -2;
            break;
        }
        if (err == EAGAIN && deadline >= 0 && rlpy_now_ms() >= deadline) {
            break;
        }
    }
    rl_setsockopt(h, RL_SNDTIMEO, &s->sndtimeo, sizeof s->sndtimeo);
    *errp = err;
    return rc;
}

