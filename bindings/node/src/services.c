/*
 * The service layer, part 1: object lifetime, worker threads and their completion hub,
 * argument helpers, module init and exit cleanup. (Registry, Discovery, Receiver:
 * services_reg.c; Gateway and SPOT: services_io.c; design: services.h.)
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "services.h"

const napi_type_tag rln_svc_tags[K_COUNT] = {
    {0x72696e676c696e6bULL, 0x7265676973747279ULL}, {0x72696e676c696e6bULL, 0x646973636f766572ULL},
    {0x72696e676c696e6bULL, 0x7265636569766572ULL}, {0x72696e676c696e6bULL, 0x6761746577617900ULL},
    {0x72696e676c696e6bULL, 0x73706f746e6f6465ULL}, {0x72696e676c696e6bULL, 0x73706f7473756200ULL},
};
static const char *kind_names[K_COUNT] = {"Registry", "Discovery", "Receiver",
                                          "Gateway",  "SpotNode",  "SpotSub"};

/* ---------------------------------------------------------------- hub and workers */

typedef struct {
    uv_mutex_t mu;
    uv_async_t async;
    job *done;  /* finished jobs (LIFO; reversed when taken) */
    int closed; /* the environment is gone: finished jobs are freed by their thread */
    int live;   /* pending jobs that keep the loop alive (JS thread only) */
    rln_env *e;
} hub;

struct worker {
    uv_mutex_t mu;
    uv_cond_t cv;
    job *head, *tail;
    int quit, refs;
    hub *hub;
};

void job_release_native(job *j) {
    free(j->name);
    free(j->name2);
    if (j->iov) {
        for (size_t i = 0; i < j->n; i++)
            free((void *)j->iov[i].data);
        free(j->iov);
    }
    if (!j->borrowed) { /* else the caller's buffers */
        free(j->buf);
        free(j->tbuf);
    }
    free(j->lens);
    free(j->lens2);
    free(j->counts);
    free(j);
}

void job_free(napi_env env, job *j) {
    for (int i = 0; i < 4; i++)
        if (j->keep[i])
            napi_delete_reference(env, j->keep[i]);
    job_release_native(j);
}

static void hub_post(hub *h, job *j) {
    uv_mutex_lock(&h->mu);
    if (h->closed) {
        uv_mutex_unlock(&h->mu);
        job_release_native(j); /* refs are gone with the environment */
        return;
    }
    j->next = h->done;
    h->done = j;
    uv_async_send(&h->async);
    uv_mutex_unlock(&h->mu);
}

static void worker_main(void *arg) {
    worker *w = arg;
#ifdef __linux__
    prctl(PR_SET_NAME, "rl-node-svc"); /* visible in /proc (tests check that workers exit) */
#endif
    uv_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->quit)
            uv_cond_wait(&w->cv, &w->mu);
        job *j = w->head;
        if (!j)
            break;
        w->head = j->next;
        if (!w->head)
            w->tail = NULL;
        uv_mutex_unlock(&w->mu);
        if (__atomic_load_n(&j->cancel, __ATOMIC_ACQUIRE)) {
            j->rc = -1;
            j->err = EAGAIN;
        } else {
            j->rc = j->exec(j);
        }
        hub_post(w->hub, j);
        uv_mutex_lock(&w->mu);
    }
    int last = --w->refs == 0;
    uv_mutex_unlock(&w->mu);
    if (last) {
        uv_cond_destroy(&w->cv);
        uv_mutex_destroy(&w->mu);
        free(w);
    }
}

static int worker_push(svc *s, job *j) {
    if (!s->w) {
        worker *w = calloc(1, sizeof *w);
        uv_thread_t t;
        if (!w)
            return ENOMEM;
        uv_mutex_init(&w->mu);
        uv_cond_init(&w->cv);
        w->refs = 2; /* the object and the thread */
        w->hub = s->e->svc_hub;
        if (uv_thread_create(&t, worker_main, w) != 0) {
            uv_cond_destroy(&w->cv);
            uv_mutex_destroy(&w->mu);
            free(w);
            return EAGAIN;
        }
        pthread_detach(t);
        s->w = w;
    }
    worker *w = s->w;
    j->next = NULL;
    uv_mutex_lock(&w->mu);
    if (w->tail)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    uv_cond_signal(&w->cv);
    uv_mutex_unlock(&w->mu);
    return 0;
}

static void worker_quit(worker *w) {
    uv_mutex_lock(&w->mu);
    w->quit = 1;
    uv_cond_signal(&w->cv);
    int last = --w->refs == 0;
    uv_mutex_unlock(&w->mu);
    if (last) {
        uv_cond_destroy(&w->cv);
        uv_mutex_destroy(&w->mu);
        free(w);
    }
}

static void hub_update(hub *h) {
    if (h->closed)
        return;
    if (h->live > 0)
        uv_ref((uv_handle_t *)&h->async);
    else
        uv_unref((uv_handle_t *)&h->async);
}

/* The object stays alive while anything of it is pending. */
void svc_hold(svc *s) {
    if (!s->strong && s->self) {
        napi_reference_ref(s->e->env, s->self, NULL);
        s->strong = 1;
    }
}

void svc_unhold(svc *s) {
    if (s->strong && !s->jobs && !s->loop_ops && s->self) {
        napi_reference_unref(s->e->env, s->self, NULL);
        s->strong = 0;
    }
}

static void job_unlink(job *j) {
    svc *s = j->s;
    for (job **p = &s->jobs; *p; p = &(*p)->snext)
        if (*p == j) {
            *p = j->snext;
            break;
        }
    if (j->busy == 1)
        s->recv_busy = 0;
    else if (j->busy == 2)
        s->send_busy = 0;
    j->s = NULL;
}

static void hub_cb(uv_async_t *a) {
    hub *h = uv_handle_get_data((uv_handle_t *)a);
    rln_env *e = h->e;
    napi_env env = e->env;
    rln_scope sc;
    uv_mutex_lock(&h->mu);
    job *list = h->done, *fifo = NULL;
    h->done = NULL;
    uv_mutex_unlock(&h->mu);
    while (list) { /* reverse: settle in completion order */
        job *n = list->next;
        list->next = fifo;
        fifo = list;
        list = n;
    }
    if (rln_scope_open(e, &sc) < 0)
        return;
    while (fifo) {
        job *j = fifo;
        fifo = j->next;
        if (j->s) {
            svc *s = j->s;
            napi_deferred d = j->d;
            napi_value v = NULL;
            job_unlink(j);
            if (j->rc < 0) {
                v = rln_errno_error(env, j->err, NULL);
                napi_reject_deferred(env, d, v);
            } else {
                v = j->finish ? j->finish(env, j) : rln_undefined(env);
                if (v) {
                    napi_resolve_deferred(env, d, v);
                } else {
                    napi_get_and_clear_last_exception(env, &v);
                    napi_reject_deferred(env, d, v);
                }
            }
            h->live--;
            svc_unhold(s);
        }
        job_free(env, j);
    }
    rln_scope_close(e, &sc);
    hub_update(h);
}

job *job_new(svc *s) {
    job *j = calloc(1, sizeof *j);
    if (j) {
        j->h = s->h;
        j->timeout = -1;
    }
    return j;
}

/* Queue `j` on its object's worker; the promise of its result (or a rejected one). */
napi_value job_start(napi_env env, job *j) {
    svc *s = j->s;
    hub *h = s->e->svc_hub;
    napi_value p;
    if (napi_create_promise(env, &j->d, &p) != napi_ok) {
        job_free(env, j);
        rln_throw_last(env);
        return NULL;
    }
    int err = worker_push(s, j);
    if (err) {
        napi_reject_deferred(env, j->d, rln_errno_error(env, err, "no worker thread"));
        job_free(env, j);
        return p;
    }
    if (j->busy == 1)
        s->recv_busy = 1;
    else if (j->busy == 2)
        s->send_busy = 1;
    j->snext = s->jobs;
    s->jobs = j;
    svc_hold(s);
    h->live++;
    hub_update(h);
    return p;
}

/* ---------------------------------------------------------------- objects */

static int receiver_destroy_exec(job *j) {
    for (int i = 0; i < 500; i++) { /* the registration in progress ends within seconds */
        rl_receiver_t *r = j->h;
        if (rl_receiver_destroy(&r) == 0 || rl_errno() != EBUSY)
            return 0;
        uv_sleep(10);
    }
    return 0;
}

static void svc_close(svc *s, int reject) {
    rln_env *e = s->e;
    napi_env env = e->env;
    if (s->closed)
        return;
    s->closed = 1;
    hub *h = e->svc_hub;
    while (s->jobs) { /* cancel: the promise is rejected now, the thread frees the job */
        job *j = s->jobs;
        __atomic_store_n(&j->cancel, 1, __ATOMIC_RELEASE);
        if (reject) {
            char msg[64];
            snprintf(msg, sizeof msg, "%s was closed", kind_names[s->kind]);
            napi_reject_deferred(env, j->d, rln_errno_error(env, EAGAIN, msg));
        }
        job_unlink(j);
        h->live--;
    }
    hub_update(h);
    if (s->kind == K_GATEWAY)
        rln_gw_close(s, reject);
    svc_unhold(s);
    if (s->router)
        rln_sock_close(s->router, reject); /* calls rln_svc_router_closed */
    switch (s->kind) { /* callbacks first: destroy waits for one in progress */
    case K_DISCOVERY:
        rl_discovery_set_callback(s->h, NULL, NULL);
        break;
    case K_SUB:
        rl_spot_sub_set_handler(s->h, NULL, NULL);
        break;
    }
    if (s->tsfn) {
        napi_release_threadsafe_function(s->tsfn, napi_tsfn_abort);
        s->tsfn = NULL;
    }
    switch (s->kind) {
    case K_REGISTRY: rl_registry_destroy((rl_registry_t **)&s->h); break;
    case K_DISCOVERY: rl_discovery_destroy((rl_discovery_t **)&s->h); break;
    case K_GATEWAY: rl_gateway_destroy((rl_gateway_t **)&s->h); break;
    case K_NODE: rl_spot_node_destroy((rl_spot_node_t **)&s->h); break;
    case K_SUB: rl_spot_sub_destroy((rl_spot_sub_t **)&s->h); break;
    case K_RECEIVER:
        if (rl_receiver_destroy((rl_receiver_t **)&s->h) < 0 && rl_errno() == EBUSY && s->w)
            s->destroy_later = 1; /* a registration is in progress on the worker */
        break;
    }
    if (s->destroy_later) { /* after the registration: the worker runs jobs in order */
        job *j = job_new(s);
        if (j) {
            j->exec = receiver_destroy_exec;
            worker_push(s, j); /* no promise, no object: the hub frees it */
        }
    }
    if (s->w) {
        worker_quit(s->w);
        s->w = NULL;
    }
    if (s->prev)
        s->prev->next = s->next;
    else
        e->svc_list = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
    s->c->nsockets--;
    if (!e->tearing_down)
        rln_ctx_release(s->c);
}

static void svc_finalize(napi_env env, void *data, void *hint) {
    (void)hint;
    svc *s = data;
    if (s->self) {
        napi_delete_reference(env, s->self);
        s->self = NULL;
    }
    svc_close(s, 0); /* nothing can be pending: a job holds the object */
    free(s->buf);
    free(s->lens);
    free(s->lens2);
    free(s->counts);
    free(s);
}

napi_value svc_new(napi_env env, napi_value self, int kind, rln_ctx *c, void *h) {
    rln_env *e = rln_get_env(env);
    svc *s = calloc(1, sizeof *s);
    if (!s) {
        rln_throw_errno(env, ENOMEM, NULL);
        return NULL;
    }
    s->kind = kind;
    s->e = e;
    s->c = c;
    s->h = h;
    if (napi_wrap(env, self, s, svc_finalize, NULL, &s->self) != napi_ok ||
        napi_type_tag_object(env, self, &rln_svc_tags[kind]) != napi_ok) {
        free(s);
        rln_throw_last(env);
        return NULL; /* the handle leaks only if N-API itself failed */
    }
    c->nsockets++;
    s->next = e->svc_list;
    if (s->next)
        ((svc *)e->svc_list)->prev = s;
    e->svc_list = s;
    return self;
}

svc *svc_unwrap(napi_env env, napi_value v, int kind, const char *what) {
    bool ok = false;
    void *p = NULL;
    if (napi_check_object_type_tag(env, v, &rln_svc_tags[kind], &ok) != napi_ok || !ok ||
        napi_unwrap(env, v, &p) != napi_ok || !p) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s must be a ringlink %s", what, kind_names[kind]);
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
        return NULL;
    }
    svc *s = p;
    if (s->closed) {
        char msg[64];
        snprintf(msg, sizeof msg, "%s is closed", kind_names[kind]);
        rln_throw_errno(env, EBADF, msg);
        return NULL;
    }
    return s;
}

/* `this` of a method of `kind` (kind < 0: any kind, closed allowed). */
svc *svc_this(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv, int kind) {
    napi_value self;
    void *p = NULL;
    NAPI_CALL(env, napi_get_cb_info(env, info, argc, argv, &self, NULL), NULL);
    if (kind < 0) {
        if (napi_unwrap(env, self, &p) != napi_ok || !p) {
            napi_throw_type_error(env, "ERR_INVALID_THIS", "not a ringlink service object");
            return NULL;
        }
        return p;
    }
    return svc_unwrap(env, self, kind, "this");
}

napi_value svc_close_method(napi_env env, napi_callback_info info) {
    svc *s = svc_this(env, info, NULL, NULL, -1);
    if (!s)
        return NULL;
    svc_close(s, 1);
    return rln_undefined(env);
}

napi_value svc_closed_getter(napi_env env, napi_callback_info info) {
    napi_value out;
    svc *s = svc_this(env, info, NULL, NULL, -1);
    if (!s)
        return NULL;
    NAPI_CALL(env, napi_get_boolean(env, s->closed, &out), NULL);
    return out;
}

/* ---------------------------------------------------------------- helpers */

/* A string argument, malloc'ed into *out (nullable: null/undefined gives NULL). */
int arg_string(napi_env env, napi_value v, char **out, int nullable, const char *what) {
    napi_valuetype t = napi_undefined;
    size_t n;
    *out = NULL;
    napi_typeof(env, v, &t);
    if (nullable && (t == napi_null || t == napi_undefined))
        return 0;
    if (t != napi_string || napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s must be a string", what);
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
        return -1;
    }
    if (!(*out = malloc(n + 1))) {
        rln_throw_errno(env, ENOMEM, NULL);
        return -1;
    }
    napi_get_value_string_utf8(env, v, *out, n + 1, &n);
    return 0;
}

int arg_timeout(napi_env env, napi_value v, int *out) {
    napi_valuetype t = napi_undefined;
    int32_t ms;
    napi_typeof(env, v, &t);
    if (t == napi_undefined || t == napi_null) {
        *out = -1;
        return 0;
    }
    if (napi_get_value_int32(env, v, &ms) != napi_ok || ms < -1) {
        napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "timeout must be -1 or a number of ms");
        return -1;
    }
    *out = ms;
    return 0;
}

/* Throw ringlink's error `err`, the message naming the call and its argument. */
napi_value throw_rl(napi_env env, int err, const char *what) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s: %s", rl_strerror(err), what ? what : "");
    rln_throw_errno(env, err, what ? msg : NULL);
    return NULL;
}

/* The next wait of a sliced blocking call: 0 and *slice ms, or -1 when the time is up. */
int deadline_slice(int timeout, uint64_t t0, int *slice) {
    if (timeout < 0) {
        *slice = SLICE_MS;
        return 0;
    }
    uint64_t spent = (uv_hrtime() - t0) / 1000000;
    if (spent >= (uint64_t)timeout)
        return -1;
    uint64_t left = (uint64_t)timeout - spent;
    *slice = left < SLICE_MS ? (int)left : SLICE_MS;
    return 0;
}

napi_value str_value(napi_env env, const char *s) {
    napi_value v;
    NAPI_CALL(env, napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v), NULL);
    return v;
}

napi_value int_value(napi_env env, int n) {
    napi_value v;
    NAPI_CALL(env, napi_create_int32(env, n, &v), NULL);
    return v;
}

/* Methods `fn(this.h, string)`: mode STR_INT returns the count, STR_BOOL a boolean, else
 * undefined; STR_NULLABLE lets the string be null/undefined (NULL). */
napi_value rln_str_call(napi_env env, napi_callback_info info, int kind, str_fn fn, int mode,
                        const char *what) {
    size_t argc = 1;
    napi_value argv[1] = {NULL};
    char *a;
    svc *s = svc_this(env, info, &argc, argv, kind);
    if (!s || arg_string(env, argc ? argv[0] : rln_undefined(env), &a, mode & STR_NULLABLE,
                         what) < 0)
        return NULL;
    int rc = fn(s->h, a);
    if (rc < 0) {
        int err = rl_errno();
        throw_rl(env, err, a ? a : what);
        free(a);
        return NULL;
    }
    free(a);
    int count = mode & 3;
    if (count == STR_BOOL) {
        napi_value b;
        NAPI_CALL(env, napi_get_boolean(env, rc != 0, &b), NULL);
        return b;
    }
    return count ? int_value(env, rc) : rln_undefined(env);
}

int rln_arg_ctx(napi_env env, napi_value v, rln_ctx **c) {
    *c = rln_unwrap_ctx(env, v);
    if (!*c)
        return -1;
    if ((*c)->terminated) {
        rln_throw_errno(env, RL_ETERM, "Context is terminated");
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- classes, init, exit */

napi_value svc_define(napi_env env, napi_value exports, const char *name, napi_callback ctor,
                      const napi_property_descriptor *props, size_t n) {
    napi_value cls;
    NAPI_CALL(env, napi_define_class(env, name, NAPI_AUTO_LENGTH, ctor, NULL, n, props, &cls),
              NULL);
    NAPI_CALL(env, napi_set_named_property(env, exports, name, cls), NULL);
    return cls;
}

/* Exit (or worker end): runs before the module's env_cleanup (hooks run in reverse order of
 * registration), so the contexts are terminated after every service object is destroyed. */
static void services_cleanup(void *arg) {
    rln_env *e = arg;
    hub *h = e->svc_hub;
    e->tearing_down = 1;
    while (e->svc_list)
        svc_close(e->svc_list, 0);
    uv_mutex_lock(&h->mu);
    h->closed = 1;
    job *list = h->done;
    h->done = NULL;
    uv_mutex_unlock(&h->mu);
    while (list) {
        job *n = list->next;
        job_release_native(list);
        list = n;
    }
    uv_close((uv_handle_t *)&h->async, NULL); /* the hub itself is leaked: threads may post */
}

int rln_services_init(napi_env env, napi_value exports) {
    rln_env *e = rln_get_env(env);
    hub *h = calloc(1, sizeof *h);
    if (!h) {
        rln_throw_errno(env, ENOMEM, NULL);
        return -1;
    }
    h->e = e;
    uv_mutex_init(&h->mu);
    if (uv_async_init(e->loop, &h->async, hub_cb) != 0) {
        rln_throw_errno(env, ENOMEM, "uv_async_init");
        return -1;
    }
    uv_handle_set_data((uv_handle_t *)&h->async, h);
    uv_unref((uv_handle_t *)&h->async);
    e->svc_hub = h;
    NAPI_CALL(env, napi_add_env_cleanup_hook(env, services_cleanup, e), -1);

    if (rln_services_reg_init(env, exports) < 0)
        return -1;
    return rln_services_io_init(env, exports);
}
