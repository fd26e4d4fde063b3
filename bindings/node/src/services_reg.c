/*
 * The service layer, part 2: Registry, Discovery (its change callback through a
 * napi_threadsafe_function), Receiver (its ROUTER becomes an ordinary Socket object of the
 * package: rln_svc_adopt). Design: services.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services.h"

#define STR_METHOD(cname, kind, fn, mode, what)                                              \
    static napi_value cname(napi_env env, napi_callback_info info) {                         \
        return rln_str_call(env, info, kind, (str_fn)fn, mode, what);                        \
    }
#define CLOSE_PROPS METHOD("close", svc_close_method), GETTER("closed", svc_closed_getter)

/* ---------------------------------------------------------------- Registry */

static napi_value registry_new(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3], self;
    rln_ctx *c;
    char *pub = NULL, *router = NULL;
    NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL), NULL);
    if (argc < 3 || rln_arg_ctx(env, argv[0], &c) < 0 ||
        arg_string(env, argv[1], &pub, 0, "pubEndpoint") < 0 ||
        arg_string(env, argv[2], &router, 0, "routerEndpoint") < 0) {
        free(pub);
        if (argc < 3)
            napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "needs context and endpoints");
        return NULL;
    }
    rl_registry_t *r = rl_registry_new(c->ctx, pub, router);
    free(pub);
    free(router);
    if (!r)
        return throw_rl(env, rl_errno(), "rl_registry_new");
    return svc_new(env, self, K_REGISTRY, c, r);
}

typedef int (*int_fn)(void *, int);
static napi_value int_call(napi_env env, napi_callback_info info, int kind, int_fn fn,
                           const char *what) {
    size_t argc = 1;
    napi_value argv[1];
    int32_t v;
    svc *s = svc_this(env, info, &argc, argv, kind);
    if (!s)
        return NULL;
    if (argc < 1 || napi_get_value_int32(env, argv[0], &v) != napi_ok) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "a number is needed");
        return NULL;
    }
    if (fn(s->h, v) < 0)
        return throw_rl(env, rl_errno(), what);
    return rln_undefined(env);
}

static napi_value reg_set_id(napi_env env, napi_callback_info i) {
    return int_call(env, i, K_REGISTRY, (int_fn)rl_registry_set_id, "setId");
}
static napi_value reg_set_hb(napi_env env, napi_callback_info i) {
    return int_call(env, i, K_REGISTRY, (int_fn)rl_registry_set_heartbeat, "setHeartbeat");
}
static napi_value reg_set_bi(napi_env env, napi_callback_info i) {
    return int_call(env, i, K_REGISTRY, (int_fn)rl_registry_set_broadcast_interval,
                    "setBroadcastInterval");
}
STR_METHOD(reg_add_peer, K_REGISTRY, rl_registry_add_peer, 0, "peer")

static napi_value reg_start(napi_env env, napi_callback_info info) {
    svc *s = svc_this(env, info, NULL, NULL, K_REGISTRY);
    if (!s)
        return NULL;
    if (rl_registry_start(s->h) < 0)
        return throw_rl(env, rl_errno(), "rl_registry_start");
    return rln_undefined(env);
}

static napi_value reg_endpoint(napi_env env, napi_callback_info info, int router) {
    char buf[1024];
    svc *s = svc_this(env, info, NULL, NULL, K_REGISTRY);
    if (!s)
        return NULL;
    int rc = router ? rl_registry_router_endpoint(s->h, buf, sizeof buf)
                    : rl_registry_pub_endpoint(s->h, buf, sizeof buf);
    if (rc < 0)
        return throw_rl(env, rl_errno(), "registry endpoint (not started?)");
    return str_value(env, buf);
}
static napi_value reg_pub_ep(napi_env env, napi_callback_info i) { return reg_endpoint(env, i, 0); }
static napi_value reg_router_ep(napi_env env, napi_callback_info i) {
    return reg_endpoint(env, i, 1);
}

/* ---------------------------------------------------------------- Discovery */

static napi_value disc_new(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2], self;
    rln_ctx *c;
    int32_t type;
    NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL), NULL);
    if (argc < 2 || rln_arg_ctx(env, argv[0], &c) < 0)
        return NULL;
    if (napi_get_value_int32(env, argv[1], &type) != napi_ok) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "service type must be a number");
        return NULL;
    }
    rl_discovery_t *d = rl_discovery_new(c->ctx, type);
    if (!d)
        return throw_rl(env, rl_errno(), "rl_discovery_new");
    return svc_new(env, self, K_DISCOVERY, c, d);
}

STR_METHOD(disc_connect, K_DISCOVERY, rl_discovery_connect_registry, 0, "registry")
STR_METHOD(disc_subscribe, K_DISCOVERY, rl_discovery_subscribe, 0, "service")
STR_METHOD(disc_unsubscribe, K_DISCOVERY, rl_discovery_unsubscribe, 0, "service")
STR_METHOD(disc_count, K_DISCOVERY, rl_discovery_provider_count, STR_INT, "service")
STR_METHOD(disc_available, K_DISCOVERY, rl_discovery_service_available, STR_BOOL, "service")

/* providers(name) -> [{endpoint, routingId: Buffer, weight}] */
static napi_value disc_providers(napi_env env, napi_callback_info info) {
    size_t argc = 1, room = 16;
    napi_value argv[1] = {NULL}, arr;
    char *name;
    rl_provider_info_t *p = NULL;
    svc *s = svc_this(env, info, &argc, argv, K_DISCOVERY);
    if (!s || arg_string(env, argc ? argv[0] : rln_undefined(env), &name, 0, "service") < 0)
        return NULL;
    int total;
    for (;;) {
        size_t count = room;
        rl_provider_info_t *q = realloc(p, room * sizeof *p);
        if (!q) {
            total = -1;
            errno = ENOMEM;
            break;
        }
        p = q;
        total = rl_discovery_get_providers(s->h, name, p, &count);
        if (total < 0 || (size_t)total <= room) {
            room = total < 0 ? 0 : count;
            break;
        }
        room = (size_t)total;
    }
    if (total < 0) {
        int err = rl_errno();
        free(p);
        throw_rl(env, err, name);
        free(name);
        return NULL;
    }
    free(name);
    napi_create_array_with_length(env, room, &arr);
    for (size_t i = 0; i < room; i++) {
        napi_value o, v;
        napi_create_object(env, &o);
        napi_create_string_utf8(env, p[i].endpoint, NAPI_AUTO_LENGTH, &v);
        napi_set_named_property(env, o, "endpoint", v);
        napi_create_buffer_copy(env, p[i].routing_id_size, p[i].routing_id, NULL, &v);
        napi_set_named_property(env, o, "routingId", v);
        napi_create_uint32(env, p[i].weight, &v);
        napi_set_named_property(env, o, "weight", v);
        napi_set_element(env, arr, (uint32_t)i, o);
    }
    free(p);
    return arr;
}

static int wait_exec(job *j) {
    uint64_t t0 = uv_hrtime();
    int slice;
    while (deadline_slice(j->timeout, t0, &slice) == 0) {
        if (__atomic_load_n(&j->cancel, __ATOMIC_ACQUIRE))
            break;
        int n = rl_discovery_wait_available(j->h, j->name, slice);
        if (n >= 0)
            return n;
        if (rl_errno() != EAGAIN) {
            j->err = rl_errno();
            return -1;
        }
    }
    j->err = EAGAIN;
    return -1;
}

static napi_value rc_finish(napi_env env, job *j) { return int_value(env, j->rc); }

/* _waitAvailable(name, timeoutMs) -> count, or a promise of it */
static napi_value disc_wait(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2] = {NULL, NULL};
    char *name;
    int timeout;
    svc *s = svc_this(env, info, &argc, argv, K_DISCOVERY);
    if (!s || arg_string(env, argv[0] ? argv[0] : rln_undefined(env), &name, 0, "service") < 0)
        return NULL;
    if (arg_timeout(env, argv[1] ? argv[1] : rln_undefined(env), &timeout) < 0) {
        free(name);
        return NULL;
    }
    int n = rl_discovery_wait_available(s->h, name, 0);
    if (n >= 0 || rl_errno() != EAGAIN || timeout == 0) {
        int err = n < 0 ? rl_errno() : 0;
        free(name);
        return n >= 0 ? int_value(env, n) : rln_rejected(env, err, "no provider in time");
    }
    job *j = job_new(s);
    if (!j) {
        free(name);
        return rln_rejected(env, ENOMEM, NULL);
    }
    j->s = s;
    j->name = name;
    j->timeout = timeout;
    j->exec = wait_exec;
    j->finish = rc_finish;
    return job_start(env, j);
}

typedef struct {
    size_t providers;
    char name[];
} disc_item;

static void disc_cb(const char *service, size_t providers, void *userdata) {
    size_t n = strlen(service);
    disc_item *it = malloc(sizeof *it + n + 1);
    if (!it)
        return;
    it->providers = providers;
    memcpy(it->name, service, n + 1);
    if (napi_call_threadsafe_function(userdata, it, napi_tsfn_nonblocking) != napi_ok)
        free(it);
}

static void disc_call_js(napi_env env, napi_value fn, void *ctx, void *data) {
    (void)ctx;
    disc_item *it = data;
    if (env && fn) {
        napi_value argv[2], undef = rln_undefined(env);
        napi_create_string_utf8(env, it->name, NAPI_AUTO_LENGTH, &argv[0]);
        napi_create_double(env, (double)it->providers, &argv[1]);
        napi_call_function(env, undef, fn, 2, argv, NULL);
    }
    free(it);
}

/* Create a tsfn for `fn` (unref'd), replacing s->tsfn after `install` succeeded. */
static napi_value set_callback(napi_env env, svc *s, napi_value fn, napi_threadsafe_function_call_js call_js,
                               int (*install)(svc *, napi_threadsafe_function)) {
    napi_valuetype t = napi_undefined;
    napi_threadsafe_function tsfn = NULL, old = s->tsfn;
    napi_typeof(env, fn, &t);
    if (t == napi_function) {
        napi_value name = str_value(env, "ringlink callback");
        NAPI_CALL(env,
                  napi_create_threadsafe_function(env, fn, NULL, name, 0, 1, NULL, NULL, NULL,
                                                  call_js, &tsfn),
                  NULL);
        napi_unref_threadsafe_function(env, tsfn);
    } else if (t != napi_null && t != napi_undefined) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "the callback must be a function or null");
        return NULL;
    }
    if (install(s, tsfn) < 0) {
        int err = rl_errno();
        if (tsfn)
            napi_release_threadsafe_function(tsfn, napi_tsfn_abort);
        return throw_rl(env, err, "set callback");
    }
    s->tsfn = tsfn;
    if (old) /* not running any more: messages it queued are still delivered */
        napi_release_threadsafe_function(old, napi_tsfn_release);
    return rln_undefined(env);
}

static int disc_install(svc *s, napi_threadsafe_function tsfn) {
    return rl_discovery_set_callback(s->h, tsfn ? disc_cb : NULL, tsfn);
}

static napi_value disc_set_callback(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1] = {NULL};
    svc *s = svc_this(env, info, &argc, argv, K_DISCOVERY);
    if (!s)
        return NULL;
    return set_callback(env, s, argc ? argv[0] : rln_undefined(env), disc_call_js, disc_install);
}

napi_value rln_svc_set_callback(napi_env env, svc *s, napi_value fn,
                                napi_threadsafe_function_call_js call_js,
                                int (*install)(svc *, napi_threadsafe_function)) {
    return set_callback(env, s, fn, call_js, install);
}

/* ---------------------------------------------------------------- Receiver */

static napi_value recv_new(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2] = {NULL, NULL}, self;
    rln_ctx *c;
    const void *id = NULL;
    size_t len = 0;
    char *owned = NULL;
    NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL), NULL);
    if (argc < 1 || rln_arg_ctx(env, argv[0], &c) < 0)
        return NULL;
    if (argv[1] && rln_bytes(env, argv[1], &id, &len, &owned) < 0)
        return NULL;
    rl_receiver_t *r = rl_receiver_new(c->ctx, len ? id : NULL, len);
    free(owned);
    if (!r)
        return throw_rl(env, rl_errno(), "rl_receiver_new (routing id of 1..255 bytes)");
    return svc_new(env, self, K_RECEIVER, c, r);
}

STR_METHOD(recv_connect, K_RECEIVER, rl_receiver_connect_registry, 0, "registry")
STR_METHOD(recv_unregister, K_RECEIVER, rl_receiver_unregister, 0, "service")

/* bind(endpoint) -> the endpoint as bound */
static napi_value ep_bind(napi_env env, napi_callback_info info, int kind) {
    size_t argc = 1;
    napi_value argv[1] = {NULL};
    char *ep, out[1024];
    svc *s = svc_this(env, info, &argc, argv, kind);
    if (!s || arg_string(env, argc ? argv[0] : rln_undefined(env), &ep, 0, "endpoint") < 0)
        return NULL;
    int rc = kind == K_RECEIVER ? rl_receiver_bind(s->h, ep, out, sizeof out)
                                : rl_spot_node_bind(s->h, ep, out, sizeof out);
    if (rc < 0) {
        throw_rl(env, rl_errno(), ep);
        free(ep);
        return NULL;
    }
    free(ep);
    return str_value(env, out);
}
static napi_value recv_bind(napi_env env, napi_callback_info i) { return ep_bind(env, i, K_RECEIVER); }
napi_value rln_node_bind(napi_env env, napi_callback_info i) { return ep_bind(env, i, K_NODE); }

static int register_exec(job *j) {
    int rc = j->timeout == 1 ? rl_receiver_update_weight(j->h, j->name, j->weight)
                             : rl_receiver_register(j->h, j->name, j->name2, j->weight);
    if (rc < 0)
        j->err = rl_errno();
    return rc;
}

/* _register(name, advertise | null, weight) / _updateWeight(name, weight) -> Promise */
static napi_value recv_register_common(napi_env env, napi_callback_info info, int update) {
    size_t argc = 3;
    napi_value argv[3] = {NULL, NULL, NULL};
    char *name = NULL, *adv = NULL;
    uint32_t weight = 0;
    svc *s = svc_this(env, info, &argc, argv, K_RECEIVER);
    if (!s || arg_string(env, argv[0] ? argv[0] : rln_undefined(env), &name, 0, "service") < 0)
        return NULL;
    napi_value wv = argv[update ? 1 : 2];
    napi_valuetype t = napi_undefined;
    if (wv)
        napi_typeof(env, wv, &t);
    if ((!update && argv[1] && arg_string(env, argv[1], &adv, 1, "advertise") < 0) ||
        (t != napi_undefined && napi_get_value_uint32(env, wv, &weight) != napi_ok)) {
        free(name);
        free(adv);
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "weight must be a number");
        return NULL;
    }
    job *j = job_new(s);
    if (!j) {
        free(name);
        free(adv);
        return rln_rejected(env, ENOMEM, NULL);
    }
    j->s = s;
    j->name = name;
    j->name2 = adv;
    j->weight = weight;
    j->timeout = update; /* 1: an update of the weight */
    j->exec = register_exec;
    return job_start(env, j);
}

static napi_value recv_register(napi_env env, napi_callback_info i) {
    return recv_register_common(env, i, 0);
}
static napi_value recv_update(napi_env env, napi_callback_info i) {
    return recv_register_common(env, i, 1);
}

/* new NativeSocket(RL_ROUTER, ctx, receiver): the receiver's ROUTER as a Socket object. */
rl_socket_t *rln_svc_adopt(napi_env env, napi_value adopt, rln_sock *k) {
    svc *s = svc_unwrap(env, adopt, K_RECEIVER, "the socket to adopt");
    if (!s)
        return NULL;
    if (s->router) {
        rln_throw_errno(env, EBUSY, "the receiver's ROUTER has a Socket object already");
        return NULL;
    }
    rl_socket_t *r = rl_receiver_router(s->h);
    if (!r) {
        throw_rl(env, rl_errno(), "rl_receiver_router");
        return NULL;
    }
    s->router = k;
    k->owner = s;
    return r;
}

void rln_svc_router_closed(void *owner, rln_sock *k) {
    svc *s = owner;
    if (s->router == k)
        s->router = NULL;
}


int rln_services_reg_init(napi_env env, napi_value exports) {
    napi_property_descriptor reg[] = {
        METHOD("setId", reg_set_id), METHOD("setHeartbeat", reg_set_hb),
        METHOD("setBroadcastInterval", reg_set_bi), METHOD("addPeer", reg_add_peer),
        METHOD("start", reg_start), METHOD("_pubEndpoint", reg_pub_ep),
        METHOD("_routerEndpoint", reg_router_ep), CLOSE_PROPS,
    };
    napi_property_descriptor disc[] = {
        METHOD("connectRegistry", disc_connect), METHOD("subscribe", disc_subscribe),
        METHOD("unsubscribe", disc_unsubscribe), METHOD("providerCount", disc_count),
        METHOD("serviceAvailable", disc_available), METHOD("providers", disc_providers),
        METHOD("_waitAvailable", disc_wait), METHOD("_setCallback", disc_set_callback),
        CLOSE_PROPS,
    };
    napi_property_descriptor rcv[] = {
        METHOD("connectRegistry", recv_connect), METHOD("bind", recv_bind),
        METHOD("_register", recv_register), METHOD("_updateWeight", recv_update),
        METHOD("unregister", recv_unregister), CLOSE_PROPS,
    };
    if (!svc_define(env, exports, "NativeRegistry", registry_new, reg, sizeof reg / sizeof *reg) ||
        !svc_define(env, exports, "NativeDiscovery", disc_new, disc, sizeof disc / sizeof *disc) ||
        !svc_define(env, exports, "NativeReceiver", recv_new, rcv, sizeof rcv / sizeof *rcv))
        return -1;
    return 0;
}
