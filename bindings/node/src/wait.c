/*
 * Readiness: a uv_poll handle on RL_FD, RL_EVENTS, timeouts and the starvation guard.
 *
 * RL_FD is an eventfd with libzmq's ZMQ_FD semantics: it becomes readable when the socket's
 * readiness may have changed, and reading RL_EVENTS drains it (re-arms it). libuv polls it
 * level-triggered, so the dispatcher always reads RL_EVENTS when it fires, then tries every
 * pending operation until it would block. The handle is asked for (RL_FD) and started only
 * when an operation first has to wait; it is ref'd while an operation is pending and unref'd
 * when idle (so an idle socket never keeps the process alive), and stopped at the first
 * wake-up that finds nothing pending (so traffic nobody waits for does not wake the loop).
 */
#include <errno.h>

#include "rl_node.h"

void rln_hold(rln_sock *k) {
    if (!k->self_strong && k->self) {
        napi_reference_ref(k->e->env, k->self, NULL);
        k->self_strong = 1;
    }
}

void rln_unhold(rln_sock *k) {
    if (k->self_strong && !k->send_d && !k->recv_d && k->self) {
        napi_reference_unref(k->e->env, k->self, NULL);
        k->self_strong = 0;
    }
}

static void on_poll(uv_poll_t *h, int status, int events);

/* Make sure the fd is watched and the handle keeps the loop alive. Returns 0 or an errno.
 * `*fresh` is set when the fd was switched on just now (RL_FD watches only from then on): the
 * caller then retries its operation once, since a wake-up before that was not signalled. */
int rln_wait_prepare(rln_sock *k, int *fresh) {
    *fresh = 0;
    if (k->fd < 0) {
        int fd = -1;
        size_t len = sizeof fd;
        if (rl_getsockopt(k->s, RL_FD, &fd, &len) < 0)
            return rl_errno();
        int rc = uv_poll_init(k->e->loop, &k->poll, fd);
        if (rc < 0)
            return -rc;
        uv_handle_set_data((uv_handle_t *)&k->poll, k);
        k->fd = fd;
        k->poll_inited = 1;
        k->handles_open++;
        *fresh = 1;
    }
    if (!k->poll_started) {
        int rc = uv_poll_start(&k->poll, UV_READABLE, on_poll);
        if (rc < 0)
            return -rc;
        k->poll_started = 1;
    }
    uv_ref((uv_handle_t *)&k->poll);
    return 0;
}

/* After operations ran: drop the loop reference and the strong object reference when
 * nothing is pending any more. */
void rln_wait_update(rln_sock *k) {
    if (k->send_d || k->recv_d)
        return;
    if (k->poll_inited && !k->closed)
        uv_unref((uv_handle_t *)&k->poll);
    if (!k->closed) {
        uv_timer_stop(&k->kick);
        k->kick_armed = 0;
    }
    rln_unhold(k);
}

/* Read RL_EVENTS (re-arming the fd), then run the pending operations. Called from libuv
 * callbacks: opens the scopes that let promise reactions run when it returns. */
void rln_dispatch(rln_sock *k, int from_js) {
    rln_scope sc;
    if (!from_js && rln_scope_open(k->e, &sc) < 0)
        return;
    /* Re-arm first; then try whatever is pending (an operation that cannot proceed just
     * fails with EAGAIN and keeps waiting; a real error, e.g. ETERM, surfaces there). */
    int ev = 0;
    size_t len = sizeof ev;
    rl_getsockopt(k->s, RL_EVENTS, &ev, &len);
    if (k->recv_d)
        rln_pending_recv_run(k);
    if (!k->closed && k->send_d)
        rln_pending_send_run(k);
    if (!k->closed)
        rln_wait_update(k);
    if (!from_js)
        rln_scope_close(k->e, &sc);
}

static void on_poll(uv_poll_t *h, int status, int events) {
    (void)events;
    rln_sock *k = uv_handle_get_data((uv_handle_t *)h);
    if (k->closed)
        return;
    if (!k->send_d && !k->recv_d) {
        /* Nobody waits: stop watching until the next operation has to wait. */
        uv_poll_stop(&k->poll);
        k->poll_started = 0;
        return;
    }
    (void)status; /* an error on an eventfd cannot happen; the operations report others */
    k->sync_ops = 0;
    rln_dispatch(k, 0);
}

static void on_kick(uv_timer_t *t) {
    rln_sock *k = uv_handle_get_data((uv_handle_t *)t);
    k->kick_armed = 0;
    if (k->closed)
        return;
    k->sync_ops = 0;
    rln_dispatch(k, 0);
}

/* Run the pending operations on the next loop turn (after I/O), e.g. when they could
 * complete now but have completed synchronously too often in a row. */
void rln_kick(rln_sock *k) { rln_kick_after(k, 0); }

/* Run the pending operations after `ms` milliseconds (0: on the next loop turn). */
void rln_kick_after(rln_sock *k, uint64_t ms) {
    if (!k->kick_armed && !k->closed) {
        uv_timer_start(&k->kick, on_kick, ms, 0);
        k->kick_armed = 1;
    }
}

static void on_timeout(uv_timer_t *t) {
    rln_sock *k = uv_handle_get_data((uv_handle_t *)t);
    rln_scope sc;
    if (k->closed || rln_scope_open(k->e, &sc) < 0)
        return;
    int send = t == &k->send_timer;
    rln_reject_pending(k, send, EAGAIN, "Socket operation timed out");
    rln_wait_update(k);
    rln_scope_close(k->e, &sc);
}

void rln_start_timer(rln_sock *k, int send) {
    int ms = send ? k->send_timeout : k->recv_timeout;
    if (ms > 0)
        uv_timer_start(send ? &k->send_timer : &k->recv_timer, on_timeout, (uint64_t)ms, 0);
}

/* socket._events() -> RL_POLLIN | RL_POLLOUT bits. Reading RL_EVENTS drains the fd, so a
 * pending operation is given a turn afterwards (it may have just lost its wake-up). */
napi_value rln_sock_events(napi_env env, napi_callback_info info) {
    napi_value out;
    rln_sock *k = rln_this_sock(env, info, NULL, NULL, 1);
    int ev = 0;
    size_t len = sizeof ev;
    if (!k)
        return NULL;
    if (rl_getsockopt(k->s, RL_EVENTS, &ev, &len) < 0) {
        rln_throw_errno(env, rl_errno(), NULL);
        return NULL;
    }
    if (k->send_d || k->recv_d)
        rln_kick(k);
    NAPI_CALL(env, napi_create_int32(env, ev, &out), NULL);
    return out;
}
