/*
 * The service layer (ringlink.h "Service layer"): shared declarations of services.c (objects,
 * worker threads, registry, discovery, receiver) and services_io.c (gateway, SPOT).
 *
 * Files: services.c (objects, jobs, helpers, init/exit), services_reg.c (Registry, Discovery,
 * Receiver), services_io.c (message helpers), services_gw.c (Gateway), services_spot.c
 * (SpotNode, SpotSub).
 *
 * Every service object is one `svc` wrapped by a native class (NativeRegistry ...
 * NativeSpotSub), type-tagged so that one object can be checked as another's argument.
 *
 * Blocking calls (a registration that waits for the registry's answer, waitAvailable, a SPOT
 * receive that has to wait) first try once without waiting on the JS thread; only when that
 * cannot complete they become a `job` run by the object's worker thread (one per object,
 * started on first use, detached). The gateway's sends and receives wait on the event loop
 * instead (services_gw.c: rl_gateway_wait_fd), with no thread.
 * A finished job goes to the environment's hub (a uv_async_t) and its promise is settled on
 * the JS thread. The hub's handle keeps the loop alive only while a job is pending.
 *
 * close() (or the finalizer, or exit) cancels the object's jobs: their promises are rejected
 * at once (EAGAIN "... was closed", as socket.close() does), they no longer keep the process
 * alive, and when their thread returns they are freed without touching the object. Calls
 * that wait in slices notice the cancellation within SLICE_MS: waitAvailable and SPOT
 * receives. A gateway's pending calls are rejected the same way and its uv handles closed.
 *
 * Callbacks that ringlink runs on its own threads (discovery changes, SPOT handlers) are
 * forwarded through napi_threadsafe_functions (unref'd: they do not keep the process alive).
 */
#ifndef RL_SERVICES_H
#define RL_SERVICES_H

#include "rl_node.h"

#define SLICE_MS 100

enum { K_REGISTRY, K_DISCOVERY, K_RECEIVER, K_GATEWAY, K_NODE, K_SUB, K_COUNT };

typedef struct svc svc;
typedef struct job job;
typedef struct worker worker;
typedef struct gw_loop gw_loop;

struct job {
    job *next;                             /* worker queue, hub list */
    job *snext;                            /* the object's pending jobs */
    svc *s;                                /* NULL once cancelled */
    void *h;                               /* the ringlink handle (generation-checked) */
    int (*exec)(job *);                    /* worker thread: -1 with j->err, or a result */
    napi_value (*finish)(napi_env, job *); /* JS thread: the value to resolve with */
    napi_deferred d;
    int rc, err;
    int cancel; /* atomic */
    int busy;   /* 1: the object's receive, 2: its send (cleared when settled) */
    /* arguments and results (by kind) */
    char *name, *name2;
    int timeout;
    uint32_t weight;
    rl_iovec_t *iov; /* owned copies of the parts */
    size_t n;
    unsigned char *buf; /* receive buffer (owned) or the caller's (borrowed, refs below) */
    void *tbuf;         /* topic buffer of a receive-into (owned or borrowed) */
    int borrowed;       /* buf and tbuf are the caller's */
    size_t cap, max, needed;
    size_t *lens, *lens2, *counts;
    char text[256]; /* service name / topic */
    size_t text_len;
    napi_ref keep[4]; /* caller buffers of a receive-into */
    char out[RL_ENDPOINT_MAX];
};

struct svc {
    int kind;
    rln_env *e;
    rln_ctx *c;
    void *h; /* rl_registry_t * ... rl_spot_sub_t * */
    int closed;
    napi_ref self; /* weak; strong while a job is pending */
    int strong;
    job *jobs; /* pending */
    int recv_busy, send_busy;
    worker *w;
    gw_loop *gw;  /* a gateway's waits on the event loop (services_gw.c) */
    int loop_ops; /* its pending calls (they hold the object like jobs) */
    napi_threadsafe_function tsfn; /* discovery callback / SPOT handler */
    rln_sock *router;              /* a receiver's adopted ROUTER */
    int destroy_later;             /* receiver: destroyed by its worker (EBUSY) */
    /* scratch of the synchronous receives */
    unsigned char *buf;
    size_t cap;
    size_t *lens, *lens2, *counts;
    size_t max;
    svc *next, *prev; /* the environment's live objects */
};

extern const napi_type_tag rln_svc_tags[K_COUNT];

/* services.c */
typedef int (*str_fn)(void *, const char *);
enum { STR_VOID = 0, STR_INT = 1, STR_BOOL = 2, STR_NULLABLE = 4 };
napi_value rln_str_call(napi_env env, napi_callback_info info, int kind, str_fn fn, int mode,
                        const char *what);
int rln_arg_ctx(napi_env env, napi_value v, rln_ctx **c);
napi_value str_value(napi_env env, const char *s);
napi_value int_value(napi_env env, int n);
void job_release_native(job *j);
void svc_hold(svc *s);
void svc_unhold(svc *s);
svc *svc_this(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv, int kind);
svc *svc_unwrap(napi_env env, napi_value v, int kind, const char *what);
napi_value svc_new(napi_env env, napi_value self, int kind, rln_ctx *c, void *h);
job *job_new(svc *s);
void job_free(napi_env env, job *j);
napi_value job_start(napi_env env, job *j);
int arg_string(napi_env env, napi_value v, char **out, int nullable, const char *what);
int arg_timeout(napi_env env, napi_value v, int *out);
napi_value throw_rl(napi_env env, int err, const char *what);
int deadline_slice(int timeout, uint64_t t0, int *slice);
napi_value svc_define(napi_env env, napi_value exports, const char *name, napi_callback ctor,
                      const napi_property_descriptor *props, size_t n);
napi_value svc_close_method(napi_env env, napi_callback_info info);
napi_value svc_closed_getter(napi_env env, napi_callback_info info);

/* services_reg.c */
int rln_services_reg_init(napi_env env, napi_value exports);
napi_value rln_node_bind(napi_env env, napi_callback_info i);
napi_value rln_svc_set_callback(napi_env env, svc *s, napi_value fn,
                                napi_threadsafe_function_call_js call_js,
                                int (*install)(svc *, napi_threadsafe_function));

/* services_io.c */
/* A message (one value or an array of parts) as borrowed pointers (strings owned). */
typedef struct {
    const void **p;
    size_t *l;
    char **own;
    size_t n;
} parts_t;
int rln_services_io_init(napi_env env, napi_value exports);
int parts_get(napi_env env, napi_value msg, parts_t *m);
void parts_free(parts_t *m);
int arg_count(napi_env env, napi_value v, size_t *n);
napi_value named_parts(napi_env env, const char *key, const char *name, size_t name_len,
                       const unsigned char *buf, const size_t *lens, size_t n);

/* services_gw.c */
int rln_services_gw_init(napi_env env, napi_value exports);
void rln_gw_close(svc *s, int reject);

/* services_spot.c */
int rln_services_spot_init(napi_env env, napi_value exports);
int svc_scratch(svc *s, size_t cap, size_t max);
int iov_copy(napi_env env, napi_value msg, rl_iovec_t **iov, size_t *n);
napi_value parts_value(napi_env env, const unsigned char *buf, const size_t *lens, size_t n);

#define METHOD(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_default_method, NULL}
#define GETTER(name, fn) {name, NULL, NULL, fn, NULL, NULL, napi_enumerable | napi_configurable, NULL}

#endif
