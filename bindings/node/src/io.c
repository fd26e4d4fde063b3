/*
 * Per-message send and receive, returning promises (zeromq.js v6 semantics).
 *
 * send: try RL_DONTWAIT at once; resolved -> the shared resolved promise. Only on EAGAIN is
 * a deferred created and the message kept (strong reference) until the fd says POLLOUT.
 * receive: try rl_recv_with(RL_DONTWAIT) at once, building each frame's Buffer of exact size
 * inside the callback (one copy); on EAGAIN wait for POLLIN. A second pending send (or
 * receive) is rejected with EBUSY. After MAX_SYNC operations completed synchronously in a
 * row the next one waits for a loop turn, so a busy socket cannot starve timers and I/O.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rl_node.h"

#define MAX_SYNC 512
#define STACK_FRAMES 16

/* The bytes of a message frame: Buffer / TypedArray / DataView, ArrayBuffer, string (UTF-8,
 * copied into *owned, which the caller frees), number (its decimal string), null/undefined
 * (empty). Returns 0, or -1 with a TypeError thrown. */
int rln_bytes(napi_env env, napi_value v, const void **data, size_t *len, char **owned) {
    bool is = false;
    napi_valuetype t;
    *owned = NULL;
    if (napi_is_buffer(env, v, &is) == napi_ok && is) {
        void *p;
        if (napi_get_buffer_info(env, v, &p, len) != napi_ok)
            goto bad;
        *data = p;
        return 0;
    }
    if (napi_is_arraybuffer(env, v, &is) == napi_ok && is) {
        void *p;
        if (napi_get_arraybuffer_info(env, v, &p, len) != napi_ok)
            goto bad;
        *data = p;
        return 0;
    }
    if (napi_typeof(env, v, &t) != napi_ok)
        goto bad;
    if (t == napi_null || t == napi_undefined) {
        *data = NULL;
        *len = 0;
        return 0;
    }
    if (t == napi_number && napi_coerce_to_string(env, v, &v) == napi_ok)
        t = napi_string;
    if (t == napi_string) {
        size_t n;
        if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok)
            goto bad;
        char *s = malloc(n + 1);
        if (!s) {
            rln_throw_errno(env, ENOMEM, NULL);
            return -1;
        }
        napi_get_value_string_utf8(env, v, s, n + 1, &n);
        *owned = s;
        *data = s;
        *len = n;
        return 0;
    }
bad:
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                          "a message frame must be a Buffer, TypedArray, ArrayBuffer, string, "
                          "number or null");
    return -1;
}

/* Send `msg` (one frame or an array of frames) without blocking. Returns 0 (sent), an errno
 * (EAGAIN: not now), or -1 with a JS exception pending. */
int rln_send_try(rln_sock *k, napi_value msg) {
    napi_env env = k->e->env;
    bool arr = false;
    const void *data;
    size_t len;
    char *owned = NULL;
    napi_is_array(env, msg, &arr);
    if (!arr) {
        if (rln_bytes(env, msg, &data, &len, &owned) < 0)
            return -1;
        int rc = rl_send(k->s, data, len, RL_DONTWAIT);
        free(owned);
        return rc < 0 ? rl_errno() : 0;
    }
    uint32_t n = 0;
    napi_get_array_length(env, msg, &n);
    if (n == 0) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "a message needs at least one frame");
        return -1;
    }
    rl_iovec_t stack_iov[STACK_FRAMES];
    char *stack_owned[STACK_FRAMES];
    rl_iovec_t *iov = stack_iov;
    char **own = stack_owned;
    if (n > STACK_FRAMES) {
        iov = malloc(n * sizeof *iov);
        own = calloc(n, sizeof *own);
        if (!iov || !own) {
            free(iov);
            free(own);
            rln_throw_errno(env, ENOMEM, NULL);
            return -1;
        }
    }
    int rc = 0;
    uint32_t got = 0;
    for (; got < n; got++) {
        napi_value f;
        if (napi_get_element(env, msg, got, &f) != napi_ok ||
            rln_bytes(env, f, &iov[got].data, &iov[got].len, &own[got]) < 0) {
            rln_throw_last(env);
            rc = -1;
            break;
        }
    }
    if (rc == 0 && n == 2 && (k->type == RL_ROUTER || k->type == RL_STREAM)) {
        /* [id, payload]: rl_send_routed routes the pair as one unit. (On STREAM a full peer
         * shows only at the payload frame: rl_send_multipart_batch would return EAGAIN with
         * the id frame taken, leaving the socket in the middle of a message.) */
        rc = rl_send_routed(k->s, &iov[0], &iov[1], 1, RL_DONTWAIT) < 0 ? rl_errno() : 0;
    } else if (rc == 0) {
        size_t parts = n;
        rc = rl_send_multipart_batch(k->s, iov, &parts, 1, RL_DONTWAIT) < 0 ? rl_errno() : 0;
    }
    for (uint32_t i = 0; i < got; i++)
        free(own[i]);
    if (iov != stack_iov) {
        free(iov);
        free(own);
    }
    return rc;
}

typedef struct {
    napi_env env;
    napi_value buf;
    int more;
} recv_arg;

static void recv_cb(const void *data, size_t len, int more, void *arg) {
    recv_arg *a = arg;
    a->more = more;
    if (napi_create_buffer_copy(a->env, len, data, NULL, &a->buf) != napi_ok)
        a->buf = NULL;
}

static void clear_partial(rln_sock *k) {
    if (k->recv_parts) {
        napi_delete_reference(k->e->env, k->recv_parts);
        k->recv_parts = NULL;
    }
    k->recv_nparts = 0;
}

/* Receive one whole message without blocking into *out (Buffer[]). Returns 0, an errno
 * (EAGAIN: nothing now), or -1 with a JS exception pending. Frames of a message taken
 * before an EAGAIN are kept for the next try (they cannot be given back). */
int rln_recv_try(rln_sock *k, napi_value *out) {
    napi_env env = k->e->env;
    napi_value arr = NULL;
    uint32_t n = 0;
    if (k->recv_parts) {
        napi_get_reference_value(env, k->recv_parts, &arr);
        n = k->recv_nparts;
    }
    for (;;) {
        recv_arg a = {env, NULL, 0};
        if (rl_recv_with(k->s, recv_cb, &a, RL_DONTWAIT) < 0) {
            int err = rl_errno();
            if (err == EAGAIN && arr) {
                if (!k->recv_parts && napi_create_reference(env, arr, 1, &k->recv_parts) != napi_ok)
                    return -1;
                k->recv_nparts = n;
            } else if (arr) {
                clear_partial(k);
            }
            return err;
        }
        if (!a.buf) {
            rln_throw_last(env);
            return -1;
        }
        if (!arr && napi_create_array_with_length(env, a.more ? 2 : 1, &arr) != napi_ok) {
            rln_throw_last(env);
            return -1;
        }
        napi_set_element(env, arr, n++, a.buf);
        if (!a.more)
            break;
    }
    clear_partial(k);
    *out = arr;
    return 0;
}

static napi_value take_exception(napi_env env) {
    napi_value e = NULL;
    napi_get_and_clear_last_exception(env, &e);
    return e;
}

/* A promise rejected with the pending JS exception. */
static napi_value rejected_with_exception(napi_env env) {
    napi_deferred d;
    napi_value p, e = take_exception(env);
    if (napi_create_promise(env, &d, &p) != napi_ok)
        return NULL;
    napi_reject_deferred(env, d, e ? e : rln_undefined(env));
    return p;
}

/* Drop what a pending operation keeps alive (message, receive buffers) and its timer. */
static void release_args(rln_sock *k, int send) {
    napi_env env = k->e->env;
    napi_ref *refs[] = {send ? &k->send_msg : &k->recv_buf, send ? NULL : &k->recv_lens};
    for (int i = 0; i < 2; i++)
        if (refs[i] && *refs[i]) {
            napi_delete_reference(env, *refs[i]);
            *refs[i] = NULL;
        }
    if (!send)
        k->recv_kind = RECV_NONE;
    if (!k->closed)
        uv_timer_stop(send ? &k->send_timer : &k->recv_timer);
}

/* Settle the pending operation: resolve with `value` (ok) or reject with it. */
static void settle_value(rln_sock *k, int send, int ok, napi_value value) {
    napi_env env = k->e->env;
    napi_deferred d = send ? k->send_d : k->recv_d;
    if (send)
        k->send_d = NULL;
    else
        k->recv_d = NULL;
    release_args(k, send);
    if (!d)
        return;
    if (!value)
        value = rln_undefined(env);
    if (ok)
        napi_resolve_deferred(env, d, value);
    else
        napi_reject_deferred(env, d, value);
}

/* rc 0 -> resolve with `value`, -1 -> reject with the pending exception, else the errno. */
static void settle(rln_sock *k, int send, int rc, napi_value value) {
    if (rc == 0)
        settle_value(k, send, 1, value);
    else
        settle_value(k, send, 0,
                     rc < 0 ? take_exception(k->e->env) : rln_errno_error(k->e->env, rc, NULL));
}

void rln_reject_pending(rln_sock *k, int send, int err, const char *msg) {
    if (!(send ? k->send_d : k->recv_d))
        return;
    if (!send)
        clear_partial(k);
    settle_value(k, send, 0, rln_errno_error(k->e->env, err, msg));
}

/* The pending operation still cannot complete: make sure the fd is watched, then read
 * RL_EVENTS. Reading it re-arms the fd and, for sends, asks full peers to report free space
 * (a failed RL_DONTWAIT send does not), so a wake-up is guaranteed from here on. Returns
 * RETRY when the operation should be tried again now (the fd was switched on just now, or
 * RL_EVENTS already shows it possible), WAITING, or an errno (> 0). */
#define WAITING 0
#define RETRY (-1)

static int keep_waiting(rln_sock *k, int send) {
    int fresh = 0, err = rln_wait_prepare(k, &fresh), ev = 0;
    size_t len = sizeof ev;
    if (err)
        return err;
    if (send && k->type == RL_STREAM) {
        /* STREAM: RL_EVENTS always shows POLLOUT (any peer may be addressed), so it cannot
         * tell whether the full peer has room. The send's EAGAIN asked that peer to report
         * free space on the fd (engine/src/socket/stream.rs). Reading RL_EVENTS re-arms the
         * fd but may swallow a report that came in just before, so: drain, try once more
         * (that EAGAIN asks again, after the drain), then wait for the fd alone. */
        if (k->stream_drained && !fresh) {
            k->stream_drained = 0;
            return WAITING;
        }
        if (rl_getsockopt(k->s, RL_EVENTS, &ev, &len) < 0)
            return rl_errno();
        k->stream_drained = 1;
        return RETRY;
    }
    if (rl_getsockopt(k->s, RL_EVENTS, &ev, &len) < 0)
        return rl_errno();
    return fresh || (ev & (send ? RL_POLLOUT : RL_POLLIN)) ? RETRY : WAITING;
}

#define MAX_TRIES 4

void rln_pending_send_run(rln_sock *k) {
    napi_value msg;
    for (int tries = 0; tries < MAX_TRIES; tries++) {
        int rc;
        napi_value holder;
        if (napi_get_reference_value(k->e->env, k->send_msg, &holder) != napi_ok ||
            napi_get_element(k->e->env, holder, 0, &msg) != napi_ok) {
            rln_throw_last(k->e->env);
            rc = -1;
        } else {
            rc = rln_send_try(k, msg);
        }
        if (rc == EAGAIN) {
            int w = keep_waiting(k, 1);
            if (w == WAITING)
                return;
            if (w == RETRY)
                continue;
            rc = w;
        }
        settle(k, 1, rc, NULL);
        return;
    }
}

void rln_pending_recv_run(rln_sock *k) {
    for (int tries = 0; tries < MAX_TRIES; tries++) {
        napi_value out = NULL;
        int rc = k->recv_kind == RECV_MSG ? rln_recv_try(k, &out) : rln_recv_many_try(k, &out);
        if (rc == EAGAIN) {
            int w = keep_waiting(k, 0);
            if (w == WAITING)
                return;
            if (w == RETRY)
                continue;
            rc = w;
        }
        settle(k, 0, rc, out);
        return;
    }
}

/* Start a pending operation (deferred already stored): wait for the fd, or for the next loop
 * turn when `later`. */
static void go_pending(rln_sock *k, int send, int later) {
    rln_hold(k);
    if (later) {
        rln_kick(k);
    } else {
        int w = keep_waiting(k, send);
        if (w == RETRY) {
            if (send)
                rln_pending_send_run(k);
            else
                rln_pending_recv_run(k);
        } else if (w != WAITING) {
            settle(k, send, w, NULL);
        }
    }
    if (send ? k->send_d != NULL : k->recv_d != NULL)
        rln_start_timer(k, send);
    else
        rln_wait_update(k);
}

napi_value rln_send(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1], p;
    rln_sock *k = rln_this_sock(env, info, &argc, argv, 0);
    if (!k)
        return NULL;
    if (k->closed)
        return rln_rejected(env, EBADF, "Socket is closed");
    if (argc < 1)
        return rln_rejected(env, EINVAL, "send() needs a message");
    if (k->send_d)
        return rln_rejected(env, EBUSY,
                            "Socket is busy writing; only one send operation may be in "
                            "progress at any time");
    int later = k->sync_ops >= MAX_SYNC && k->send_timeout != 0;
    if (!later) {
        int rc = rln_send_try(k, argv[0]);
        if (rc == 0) {
            k->sync_ops++;
            NAPI_CALL(env, napi_get_reference_value(env, k->e->resolved, &p), NULL);
            return p;
        }
        if (rc < 0)
            return rejected_with_exception(env);
        if (rc != EAGAIN || k->send_timeout == 0)
            return rln_rejected(env, rc, NULL);
    }
    NAPI_CALL(env, napi_create_promise(env, &k->send_d, &p), NULL);
    /* Keep the message alive (in a holder: references to primitives such as strings are not
     * allowed) until it is sent. */
    napi_value holder;
    if (napi_create_array_with_length(env, 1, &holder) != napi_ok ||
        napi_set_element(env, holder, 0, argv[0]) != napi_ok ||
        napi_create_reference(env, holder, 1, &k->send_msg) != napi_ok) {
        rln_throw_last(env);
        settle(k, 1, -1, NULL);
        return p;
    }
    go_pending(k, 1, later);
    return p;
}

/* Common entry of receive(), receiveMany() and receiveManyInto(): the caller checked the
 * socket and stored the kind's arguments (k->recv_max, k->recv_buf, k->recv_lens). Returns
 * the result when it is there at once (a Buffer[] message, Buffer[][] messages or a frame
 * count), else a promise. */
napi_value rln_receive_start(napi_env env, rln_sock *k, int kind) {
    napi_value p, out = NULL;
    int later = k->sync_ops >= MAX_SYNC && k->recv_timeout != 0;
    if (!later) {
        int rc = kind == RECV_MSG ? rln_recv_try(k, &out) : rln_recv_many_try(k, &out);
        if (rc != EAGAIN || k->recv_timeout == 0)
            release_args(k, 0); /* settled now: nothing to keep */
        if (rc == 0) {
            /* The result itself, not a promise: lib/index.js wraps it in Promise.resolve(),
             * which costs much less than napi_create_promise + napi_resolve_deferred. */
            k->sync_ops++;
            return out;
        }
        if (rc < 0)
            return rejected_with_exception(env);
        if (rc != EAGAIN || k->recv_timeout == 0)
            return rln_rejected(env, rc, NULL);
    }
    NAPI_CALL(env, napi_create_promise(env, &k->recv_d, &p), NULL);
    k->recv_kind = kind;
    go_pending(k, 0, later);
    return p;
}

napi_value rln_receive(napi_env env, napi_callback_info info) {
    rln_sock *k = rln_this_sock(env, info, NULL, NULL, 0);
    if (!k)
        return NULL;
    if (k->closed)
        return rln_rejected(env, EBADF, "Socket is closed");
    if (k->recv_d)
        return rln_rejected(env, EBUSY,
                            "Socket is busy reading; only one receive operation may be in "
                            "progress at any time");
    k->recv_kind = RECV_MSG;
    return rln_receive_start(env, k, RECV_MSG);
}
