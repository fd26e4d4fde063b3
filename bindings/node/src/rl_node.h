/*
 * ringlink Node.js addon: shared declarations.
 *
 * Files, by concept:
 *   module.c   module init, per-environment state, errors, Context, exit cleanup
 *   socket.c   Socket class: lifetime (open/close/finalize), options, bind/connect
 *   wait.c     readiness: uv_poll on RL_FD + RL_EVENTS, timers, dispatch of pending ops
 *   io.c       per-message send/receive (promises)
 *   batch.c    fast paths (one ringlink batch call each) and the awaitable batch receives
 *   monitor.c  Observer (socket monitor over rl_monitor_fd)
 *   services.c / services_io.c  the service layer (registry, discovery, receiver, gateway,
 *              SPOT): see services.h
 *
 * Threading: the socket code runs on the JS thread of one Node environment. ringlink's own
 * threads never call back into it (rl_recv_with's callback runs inside the call). The
 * service layer (services.h) adds worker threads for its blocking calls and
 * napi_threadsafe_functions for the callbacks ringlink runs on its own threads.
 */
#ifndef RL_NODE_H
#define RL_NODE_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "ringlink.h"

/* Fail the current N-API call: throw (if nothing is pending) and return `ret`. */
#define NAPI_CALL(env, call, ret)                                                          \
    do {                                                                                   \
        if ((call) != napi_ok) {                                                           \
            rln_throw_last(env);                                                           \
            return ret;                                                                    \
        }                                                                                  \
    } while (0)

typedef struct rln_env rln_env;
typedef struct rln_ctx rln_ctx;
typedef struct rln_sock rln_sock;
typedef struct rln_mon rln_mon;

/* Per Node environment (main thread or worker). */
struct rln_env {
    napi_env env;
    uv_loop_t *loop;
    napi_ref resolved;       /* a resolved Promise<undefined>, returned by sends done at once */
    napi_ref resource;       /* async resource object for callback scopes */
    napi_async_context actx; /* async context for callback scopes */
    napi_ref sock_ctor, ctx_ctor, mon_ctor;
    rln_ctx *contexts;       /* live contexts (list) */
    int tearing_down;        /* the environment is being destroyed */
    void *svc_hub;           /* services.c: completion hub of the worker threads */
    void *svc_list;          /* services.c: live service objects (exit cleanup) */
};

/* A context: rl_ctx_t plus the bookkeeping that lets rl_ctx_term never block on a socket
 * the binding forgot: it runs only when the JS object is gone and every socket is closed. */
struct rln_ctx {
    rln_env *e;
    rl_ctx_t *ctx;
    int blocky;       /* new sockets get LINGER -1 (1) or 0 (0) */
    int js_alive;     /* the JS Context object exists */
    int terminated;   /* rl_ctx_term started (thread) or done */
    int nsockets;     /* open sockets */
    rln_sock *socks;  /* open sockets (list) */
    rln_ctx *next, *prev;
    uv_thread_t term_thread;
    int term_started;
    int term_done; /* set by the termination thread (atomic) */
};

/* What a pending receive is. */
enum { RECV_NONE, RECV_MSG, RECV_MANY, RECV_MANY_INTO };

struct rln_sock {
    rln_env *e;
    rln_ctx *c;
    rl_socket_t *s;
    int type;
    int closed;        /* rl_close done (or the context was torn down) */
    int finalized;     /* the JS object was collected */
    int handles_open;  /* uv handles not yet through their close callback */
    int fd;            /* RL_FD, -1 until the first wait */
    int poll_inited, poll_started;
    uv_poll_t poll;
    uv_timer_t kick;   /* runs pending ops on the next loop turn (starvation guard) */
    uv_timer_t send_timer, recv_timer;
    int kick_armed;
    /* STREAM send: RL_EVENTS was read since the last EAGAIN (see keep_waiting in io.c). */
    int stream_drained;
    int send_timeout, recv_timeout; /* ms, -1: none (mirrors SNDTIMEO / RCVTIMEO) */
    unsigned sync_ops; /* operations completed synchronously since the loop last turned */
    napi_ref self;     /* weak; strong while an operation is pending */
    int self_strong;
    /* pending send */
    napi_deferred send_d;
    napi_ref send_msg;
    /* pending receive */
    napi_deferred recv_d;
    int recv_kind;
    napi_ref recv_parts; /* RECV_MSG: frames of a message taken so far (array) */
    uint32_t recv_nparts;
    size_t recv_max;     /* RECV_MANY */
    napi_ref recv_buf, recv_lens; /* RECV_MANY_INTO */
    /* scratch for receiveMany */
    unsigned char *scratch;
    size_t scratch_len;
    size_t *slens, *sparts;
    size_t slens_cap;
    void *owner;           /* a receiver's ROUTER: the receiver (services.c); not rl_close'd */
    rln_sock *next, *prev; /* in the context's open list */
};

struct rln_mon {
    rln_env *e;
    rl_monitor_t *m;
    int fd;
    int closed, finalized, handle_open, poll_started;
    uv_poll_t poll;
    napi_ref self;
    int self_strong;
    napi_deferred d;
};

/* module.c */
void rln_throw_last(napi_env env);
napi_value rln_errno_error(napi_env env, int err, const char *msg);
void rln_throw_errno(napi_env env, int err, const char *msg);
napi_value rln_rejected(napi_env env, int err, const char *msg);
napi_value rln_undefined(napi_env env);
rln_env *rln_get_env(napi_env env);
rln_ctx *rln_unwrap_ctx(napi_env env, napi_value v);
void rln_ctx_release(rln_ctx *c);
/* Open a handle scope + callback scope (so microtasks run when it closes). */
typedef struct {
    napi_handle_scope hs;
    napi_callback_scope cs;
} rln_scope;
int rln_scope_open(rln_env *e, rln_scope *sc);
void rln_scope_close(rln_env *e, rln_scope *sc);

/* socket.c */
napi_value rln_socket_class(napi_env env);
rln_sock *rln_this_sock(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv,
                        int need_open);
void rln_sock_close(rln_sock *k, int err);

/* wait.c */
int rln_wait_prepare(rln_sock *k, int *fresh);
void rln_wait_update(rln_sock *k);
void rln_kick(rln_sock *k);
void rln_kick_after(rln_sock *k, uint64_t ms);
void rln_hold(rln_sock *k);
void rln_unhold(rln_sock *k);
void rln_start_timer(rln_sock *k, int send);
void rln_handles_close(rln_sock *k);
void rln_dispatch(rln_sock *k, int events);
napi_value rln_sock_events(napi_env env, napi_callback_info info);

/* io.c */
napi_value rln_send(napi_env env, napi_callback_info info);
napi_value rln_receive(napi_env env, napi_callback_info info);
napi_value rln_receive_start(napi_env env, rln_sock *k, int kind);
int rln_send_try(rln_sock *k, napi_value msg);
int rln_recv_try(rln_sock *k, napi_value *out);
void rln_pending_send_run(rln_sock *k);
void rln_pending_recv_run(rln_sock *k);
void rln_reject_pending(rln_sock *k, int send, int err, const char *msg);
int rln_bytes(napi_env env, napi_value v, const void **data, size_t *len, char **owned);

/* batch.c */
void rln_batch_define(napi_property_descriptor *props, size_t *n);
int rln_recv_many_try(rln_sock *k, napi_value *out);
void rln_sock_free_scratch(rln_sock *k);

/* monitor.c */
napi_value rln_monitor_class(napi_env env);

/* services.c */
int rln_services_init(napi_env env, napi_value exports);
/* new NativeSocket(type, ctx, adopt): the receiver's ROUTER handle behind `adopt`. */
rl_socket_t *rln_svc_adopt(napi_env env, napi_value adopt, rln_sock *k);
void rln_svc_router_closed(void *owner, rln_sock *k);

#endif
