/*
 * Fast paths: each is one ringlink batch call, synchronous and non-blocking (RL_DONTWAIT or
 * a drain). Sends return how many messages went out (0 when none could: EAGAIN is not an
 * error here); receives return how many frames/messages were packed into the caller's
 * buffer, with their lengths in the caller's Uint32Array (ringlink's size_t lengths are
 * converted). Nothing is truncated: a message that does not fit stays queued; one larger
 * than the whole buffer throws EMSGSIZE with `needed` set. Plus the awaitable forms
 * receiveMany(max) and receiveManyInto(buf, lens), which wait on the fd and then drain.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rl_node.h"

#define SCRATCH_MIN (256 * 1024)
#define LENS_MAX (1u << 24)

void rln_sock_free_scratch(rln_sock *k) {
    free(k->scratch);
    free(k->slens);
    free(k->sparts);
    k->scratch = NULL;
    k->slens = k->sparts = NULL;
    k->scratch_len = k->slens_cap = 0;
}

/* size_t length arrays with room for `n` entries each. */
static int lens_room(rln_sock *k, size_t n) {
    if (n <= k->slens_cap)
        return 0;
    size_t *a = realloc(k->slens, n * sizeof *a);
    if (!a)
        return ENOMEM;
    k->slens = a;
    size_t *b = realloc(k->sparts, n * sizeof *b);
    if (!b)
        return ENOMEM;
    k->sparts = b;
    k->slens_cap = n;
    return 0;
}

static int scratch_room(rln_sock *k, size_t n) {
    if (n <= k->scratch_len)
        return 0;
    unsigned char *p = realloc(k->scratch, n);
    if (!p)
        return ENOMEM;
    k->scratch = p;
    k->scratch_len = n;
    return 0;
}

static napi_value throw_emsgsize(napi_env env, size_t needed) {
    char msg[128];
    napi_value e, v;
    snprintf(msg, sizeof msg, "the next message needs %zu bytes, more than the buffer holds",
             needed);
    e = rln_errno_error(env, EMSGSIZE, msg);
    if (e && napi_create_double(env, (double)needed, &v) == napi_ok)
        napi_set_named_property(env, e, "needed", v);
    if (e)
        napi_throw(env, e);
    return NULL;
}

static napi_value count_value(napi_env env, int n) {
    napi_value out;
    NAPI_CALL(env, napi_create_int32(env, n, &out), NULL);
    return out;
}

/* Arguments: a writable byte buffer. */
static int arg_buf(napi_env env, napi_value v, void **data, size_t *len, const char *what) {
    bool is = false;
    if (napi_is_buffer(env, v, &is) != napi_ok || !is ||
        napi_get_buffer_info(env, v, data, len) != napi_ok) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s must be a Buffer or Uint8Array", what);
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
        return -1;
    }
    return 0;
}

/* Arguments: a Uint32Array of lengths. */
static int arg_lens(napi_env env, napi_value v, uint32_t **data, size_t *n, const char *what) {
    bool is = false;
    napi_typedarray_type t;
    void *p;
    if (napi_is_typedarray(env, v, &is) != napi_ok || !is ||
        napi_get_typedarray_info(env, v, &t, n, &p, NULL, NULL) != napi_ok ||
        t != napi_uint32_array) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s must be a Uint32Array", what);
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
        return -1;
    }
    *data = p;
    return 0;
}

static int arg_count(napi_env env, napi_value v, size_t *n) {
    int64_t c;
    if (napi_get_value_int64(env, v, &c) != napi_ok || c < 0 || c > 0x7fffffff) {
        napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "count must be an integer 0..2^31-1");
        return -1;
    }
    *n = (size_t)c;
    return 0;
}

/* Copy ringlink's size_t lengths into the caller's Uint32Array. */
static int put_lens(napi_env env, uint32_t *dst, const size_t *src, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (src[i] > UINT32_MAX) {
            rln_throw_errno(env, ERANGE, "a frame is longer than a Uint32Array entry holds");
            return -1;
        }
        dst[i] = (uint32_t)src[i];
    }
    return 0;
}

/* The result of a batch receive: n >= 0, or throw (EAGAIN -> 0). */
static napi_value recv_result(napi_env env, int n, size_t needed) {
    if (n >= 0)
        return count_value(env, n);
    int err = rl_errno();
    if (err == EAGAIN)
        return count_value(env, 0);
    if (err == EMSGSIZE)
        return throw_emsgsize(env, needed);
    rln_throw_errno(env, err, NULL);
    return NULL;
}

static napi_value send_result(napi_env env, int n) {
    if (n >= 0)
        return count_value(env, n);
    int err = rl_errno();
    if (err == EAGAIN)
        return count_value(env, 0);
    rln_throw_errno(env, err, NULL);
    return NULL;
}

/* An array of frames -> iovecs (strings are encoded into owned copies). */
typedef struct {
    rl_iovec_t *iov;
    char **own;
    uint32_t n;
} iov_list;

static void iov_release(iov_list *l) {
    for (uint32_t i = 0; i < l->n; i++)
        free(l->own[i]);
    free(l->iov); /* one block with the owned-string pointers */
    l->iov = NULL;
}

static int iov_from_array(napi_env env, napi_value arr, iov_list *l, const char *what) {
    bool is = false;
    memset(l, 0, sizeof *l);
    if (napi_is_array(env, arr, &is) != napi_ok || !is) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s must be an array", what);
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
        return -1;
    }
    uint32_t n = 0;
    napi_get_array_length(env, arr, &n);
    /* one block: iovecs, then owned-string pointers */
    void *block = calloc(n ? n : 1, sizeof(rl_iovec_t) + sizeof(char *));
    if (!block) {
        rln_throw_errno(env, ENOMEM, NULL);
        return -1;
    }
    l->iov = block;
    l->own = (char **)(l->iov + (n ? n : 1));
    for (uint32_t i = 0; i < n; i++) {
        napi_value f;
        if (napi_get_element(env, arr, i, &f) != napi_ok ||
            rln_bytes(env, f, &l->iov[i].data, &l->iov[i].len, &l->own[i]) < 0) {
            l->n = i;
            iov_release(l);
            rln_throw_last(env);
            return -1;
        }
        l->n = i + 1;
    }
    return 0;
}

/* sendMany(frames[]) -> sent: rl_send_batch */
static napi_value send_many(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    iov_list l;
    rln_sock *k = rln_this_sock(env, info, &argc, argv, 1);
    if (!k || iov_from_array(env, argc ? argv[0] : rln_undefined(env), &l, "messages") < 0)
        return NULL;
    int n = rl_send_batch(k->s, l.iov, l.n, RL_DONTWAIT);
    iov_release(&l);
    return send_result(env, n);
}

/* sendManyConst(payload, count) -> sent: rl_send_repeat */
static napi_value send_many_const(napi_env env, napi_callback_info info) {
    size_t argc = 2, count, len;
    napi_value argv[2];
    const void *data;
    char *owned;
    rln_sock *k = rln_this_sock(env, info, &argc, argv, 1);
    if (!k)
        return NULL;
    if (argc < 2) {
        napi_throw_type_error(env, NULL, "sendManyConst(payload, count)");
        return NULL;
    }
    if (rln_bytes(env, argv[0], &data, &len, &owned) < 0)
        return NULL;
    if (arg_count(env, argv[1], &count) < 0) {
        free(owned);
        return NULL;
    }
    int n = rl_send_repeat(k->s, data, len, count, RL_DONTWAIT);
    free(owned);
    return send_result(env, n);
}

/* sendRoutedMany(ids[], payloads[]) -> sent: rl_send_routed */
static napi_value send_routed_many(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    iov_list ids, pay;
    rln_sock *k = rln_this_sock(env, info, &argc, argv, 1);
    if (!k)
        return NULL;
    if (argc < 2) {
        napi_throw_type_error(env, NULL, "sendRoutedMany(ids, payloads)");
        return NULL;
    }
    if (iov_from_array(env, argv[0], &ids, "ids") < 0)
        return NULL;
    if (iov_from_array(env, argv[1], &pay, "payloads") < 0) {
        iov_release(&ids);
        return NULL;
    }
    if (ids.n != pay.n) {
        iov_release(&ids);
        iov_release(&pay);
        rln_throw_errno(env, EINVAL, "ids and payloads must have the same length");
        return NULL;
    }
    int n = rl_send_routed(k->s, ids.iov, pay.iov, ids.n, RL_DONTWAIT);
    iov_release(&ids);
    iov_release(&pay);
    return send_result(env, n);
}

/* sendRoutedManyConst(id, payload, count) -> sent: rl_send_routed_repeat */
static napi_value send_routed_many_const(napi_env env, napi_callback_info info) {
    size_t argc = 3, count, idlen, len;
    napi_value argv[3];
    const void *id, *data;
    char *own1 = NULL, *own2 = NULL;
    rln_sock *k = rln_this_sock(env, info, &argc, argv, 1);
    if (!k)
        return NULL;
    if (argc < 3) {
        napi_throw_type_error(env, NULL, "sendRoutedManyConst(id, payload, count)");
        return NULL;
    }
    if (rln_bytes(env, argv[0], &id, &idlen, &own1) < 0)
        return NULL;
    if (rln_bytes(env, argv[1], &data, &len, &own2) < 0 || arg_count(env, argv[2], &count) < 0) {
        free(own1);
        free(own2);
        return NULL;
    }
    int n = rl_send_routed_repeat(k->s, id, idlen, data, len, count, RL_DONTWAIT);
    free(own1);
    free(own2);
    return send_result(env, n);
}

/* sendMultipartMany(messages: frames[][]) -> sent: rl_send_multipart_batch */
static napi_value send_multipart_many(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1], flat;
    bool is = false;
    uint32_t nmsg = 0, at = 0;
    rln_sock *k = rln_this_sock(env, info, &argc, argv, 1);
    if (!k)
        return NULL;
    if (argc < 1 || napi_is_array(env, argv[0], &is) != napi_ok || !is) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "messages must be an array of arrays");
        return NULL;
    }
    napi_get_array_length(env, argv[0], &nmsg);
    size_t *parts = malloc((nmsg ? nmsg : 1) * sizeof *parts);
    NAPI_CALL(env, napi_create_array(env, &flat), (free(parts), NULL));
    for (uint32_t j = 0; j < nmsg; j++) {
        napi_value m, f;
        uint32_t np = 0;
        bool arr = false;
        if (!parts || napi_get_element(env, argv[0], j, &m) != napi_ok ||
            napi_is_array(env, m, &arr) != napi_ok || !arr) {
            free(parts);
            napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "each message must be an array");
            return NULL;
        }
        napi_get_array_length(env, m, &np);
        parts[j] = np;
        for (uint32_t i = 0; i < np; i++) {
            napi_get_element(env, m, i, &f);
            napi_set_element(env, flat, at++, f);
        }
    }
    iov_list l;
    if (iov_from_array(env, flat, &l, "frames") < 0) {
        free(parts);
        return NULL;
    }
    int n = rl_send_multipart_batch(k->s, l.iov, parts, nmsg, RL_DONTWAIT);
    iov_release(&l);
    free(parts);
    return send_result(env, n);
}

/* recvManyInto / drainInto (buf, lens) -> frames */
static napi_value recv_into(napi_env env, napi_callback_info info, int drain) {
    size_t argc = 2, buflen, max, needed = 0;
    napi_value argv[2];
    void *buf;
    uint32_t *lens;
    rln_sock *k = rln_this_sock(env, info, &argc, argv, 1);
    if (!k)
        return NULL;
    if (argc < 2) {
        napi_throw_type_error(env, NULL, "expected (buf, lens)");
        return NULL;
    }
    if (arg_buf(env, argv[0], &buf, &buflen, "buf") < 0 ||
        arg_lens(env, argv[1], &lens, &max, "lens") < 0)
        return NULL;
    if (lens_room(k, max ? max : 1)) {
        rln_throw_errno(env, ENOMEM, NULL);
        return NULL;
    }
    int n = drain ? rl_drain(k->s, buf, buflen, k->slens, max, &needed)
                  : rl_recv_batch(k->s, buf, buflen, k->slens, max, &needed, RL_DONTWAIT);
    if (n > 0 && put_lens(env, lens, k->slens, (size_t)n) < 0)
        return NULL;
    return recv_result(env, n, needed);
}

static napi_value recv_many_into(napi_env env, napi_callback_info i) {
    return recv_into(env, i, 0);
}
static napi_value drain_into(napi_env env, napi_callback_info i) { return recv_into(env, i, 1); }

/* recvMultipartManyInto(buf, lens, parts) -> messages: rl_recv_batch_parts */
static napi_value recv_multipart_many_into(napi_env env, napi_callback_info info) {
    size_t argc = 3, buflen, max, pmax, needed = 0;
    napi_value argv[3];
    void *buf;
    uint32_t *lens, *parts;
    rln_sock *k = rln_this_sock(env, info, &argc, argv, 1);
    if (!k)
        return NULL;
    if (argc < 3) {
        napi_throw_type_error(env, NULL, "recvMultipartManyInto(buf, lens, parts)");
        return NULL;
    }
    if (arg_buf(env, argv[0], &buf, &buflen, "buf") < 0 ||
        arg_lens(env, argv[1], &lens, &max, "lens") < 0 ||
        arg_lens(env, argv[2], &parts, &pmax, "parts") < 0)
        return NULL;
    if (pmax < max)
        max = pmax;
    if (lens_room(k, max ? max : 1)) {
        rln_throw_errno(env, ENOMEM, NULL);
        return NULL;
    }
    int n = rl_recv_batch_parts(k->s, buf, buflen, k->slens, k->sparts, max, &needed,
                                RL_DONTWAIT);
    if (n > 0) {
        size_t frames = 0;
        for (int j = 0; j < n; j++)
            frames += k->sparts[j];
        if (put_lens(env, lens, k->slens, frames) < 0 ||
            put_lens(env, parts, k->sparts, (size_t)n) < 0)
            return NULL;
    }
    return recv_result(env, n, needed);
}

/* recvPairManyInto / recvPairDrainInto (idBuf, idLens, buf, lens) -> messages (ROUTER,
 * STREAM): rl_recv_batch_routed / rl_drain_routed. */
static napi_value recv_pair(napi_env env, napi_callback_info info, int drain) {
    size_t argc = 4, idslen, nid, buflen, max, needed = 0;
    napi_value argv[4];
    void *ids, *buf;
    uint32_t *id_lens, *lens;
    rln_sock *k = rln_this_sock(env, info, &argc, argv, 1);
    if (!k)
        return NULL;
    if (argc < 4) {
        napi_throw_type_error(env, NULL, "expected (idBuf, idLens, buf, lens)");
        return NULL;
    }
    if (arg_buf(env, argv[0], &ids, &idslen, "idBuf") < 0 ||
        arg_lens(env, argv[1], &id_lens, &nid, "idLens") < 0 ||
        arg_buf(env, argv[2], &buf, &buflen, "buf") < 0 ||
        arg_lens(env, argv[3], &lens, &max, "lens") < 0)
        return NULL;
    if (nid < max)
        max = nid;
    if (idslen < RL_ROUTING_ID_MAX) {
        rln_throw_errno(env, EINVAL,
                        "idBuf needs RL_ROUTING_ID_MAX (255) bytes per message it may take");
        return NULL;
    }
    if (lens_room(k, max ? max : 1)) {
        rln_throw_errno(env, ENOMEM, NULL);
        return NULL;
    }
    int n = drain ? rl_drain_routed(k->s, buf, buflen, k->slens, ids, idslen, k->sparts, max,
                                    &needed)
                  : rl_recv_batch_routed(k->s, buf, buflen, k->slens, ids, idslen, k->sparts,
                                         max, &needed, RL_DONTWAIT);
    if (n > 0 && (put_lens(env, lens, k->slens, (size_t)n) < 0 ||
                  put_lens(env, id_lens, k->sparts, (size_t)n) < 0))
        return NULL;
    return recv_result(env, n, needed);
}

static napi_value recv_pair_many_into(napi_env env, napi_callback_info i) {
    return recv_pair(env, i, 0);
}
static napi_value recv_pair_drain_into(napi_env env, napi_callback_info i) {
    return recv_pair(env, i, 1);
}

/* ---------------------------------------------------------------- awaitable forms */

/* RECV_MANY: up to k->recv_max whole messages as Buffer[][] (drained into the scratch
 * buffer, which grows on EMSGSIZE). Types without batch receive (REQ, REP, XPUB) take the
 * messages one by one. */
static int recv_many_msgs(rln_sock *k, napi_value *out) {
    napi_env env = k->e->env;
    size_t needed = 0, cap = k->recv_max;
    int n;
    for (;;) {
        if (scratch_room(k, SCRATCH_MIN) || lens_room(k, cap))
            return ENOMEM;
        n = rl_drain_parts(k->s, k->scratch, k->scratch_len, k->slens, k->sparts, cap, &needed);
        if (n >= 0)
            break;
        int err = rl_errno();
        if (err == EMSGSIZE) {
            if (scratch_room(k, needed > 2 * k->scratch_len ? needed : 2 * k->scratch_len))
                return ENOMEM;
        } else if (err == EINVAL && cap < LENS_MAX) {
            cap *= 2; /* the next message has more frames than the slots */
        } else if (err == ENOTSUP) {
            napi_value m, arr;
            uint32_t got = 0;
            int rc;
            if (napi_create_array(env, &arr) != napi_ok)
                return -1;
            while (got < k->recv_max && (rc = rln_recv_try(k, &m)) == 0)
                napi_set_element(env, arr, got++, m);
            if (got == 0)
                return rc;
            *out = arr;
            return 0;
        } else {
            return err;
        }
    }
    if (n == 0)
        return EAGAIN;
    napi_value arr;
    if (napi_create_array_with_length(env, (size_t)n, &arr) != napi_ok)
        return -1;
    size_t off = 0, f = 0;
    for (int j = 0; j < n; j++) {
        napi_value msg, b;
        if (napi_create_array_with_length(env, k->sparts[j], &msg) != napi_ok)
            return -1;
        for (size_t i = 0; i < k->sparts[j]; i++, f++) {
            if (napi_create_buffer_copy(env, k->slens[f], k->scratch + off, NULL, &b) != napi_ok)
                return -1;
            off += k->slens[f];
            napi_set_element(env, msg, (uint32_t)i, b);
        }
        napi_set_element(env, arr, (uint32_t)j, msg);
    }
    *out = arr;
    return 0;
}

/* RECV_MANY_INTO: drain into the caller's buffer; resolves with the frame count. */
static int recv_many_into_try(rln_sock *k, napi_value *out) {
    napi_env env = k->e->env;
    napi_value vb, vl;
    void *buf;
    uint32_t *lens;
    size_t buflen, max, needed = 0;
    if (napi_get_reference_value(env, k->recv_buf, &vb) != napi_ok ||
        napi_get_reference_value(env, k->recv_lens, &vl) != napi_ok ||
        arg_buf(env, vb, &buf, &buflen, "buf") < 0 || arg_lens(env, vl, &lens, &max, "lens") < 0)
        return -1;
    if (lens_room(k, max ? max : 1))
        return ENOMEM;
    int n = rl_drain(k->s, buf, buflen, k->slens, max, &needed);
    if (n == 0)
        return EAGAIN;
    if (n < 0) {
        int err = rl_errno();
        if (err != EMSGSIZE)
            return err;
        throw_emsgsize(env, needed);
        return -1;
    }
    if (put_lens(env, lens, k->slens, (size_t)n) < 0)
        return -1;
    return napi_create_int32(env, n, out) == napi_ok ? 0 : -1;
}

int rln_recv_many_try(rln_sock *k, napi_value *out) {
    return k->recv_kind == RECV_MANY ? recv_many_msgs(k, out) : recv_many_into_try(k, out);
}

static rln_sock *recv_entry(napi_env env, napi_callback_info info, size_t *argc,
                            napi_value *argv, napi_value *rejected) {
    rln_sock *k = rln_this_sock(env, info, argc, argv, 0);
    *rejected = NULL;
    if (!k)
        return NULL;
    if (k->closed)
        *rejected = rln_rejected(env, EBADF, "Socket is closed");
    else if (k->recv_d)
        *rejected = rln_rejected(env, EBUSY,
                                 "Socket is busy reading; only one receive operation may be "
                                 "in progress at any time");
    return *rejected ? NULL : k;
}

/* receiveMany(max = 1024) -> Promise<Buffer[][]> */
static napi_value receive_many(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1], rej;
    napi_valuetype t = napi_undefined;
    int64_t max = 1024;
    rln_sock *k = recv_entry(env, info, &argc, argv, &rej);
    if (!k)
        return rej;
    if (argc >= 1)
        napi_typeof(env, argv[0], &t);
    if (t != napi_undefined &&
        (napi_get_value_int64(env, argv[0], &max) != napi_ok || max < 1 || max > LENS_MAX))
        return rln_rejected(env, EINVAL, "max must be an integer 1..16777216");
    k->recv_max = (size_t)max;
    k->recv_kind = RECV_MANY;
    return rln_receive_start(env, k, RECV_MANY);
}

/* receiveManyInto(buf, lens) -> Promise<number> */
static napi_value receive_many_into(napi_env env, napi_callback_info info) {
    size_t argc = 2, n1, n2;
    napi_value argv[2], rej;
    void *b;
    uint32_t *l;
    rln_sock *k = recv_entry(env, info, &argc, argv, &rej);
    if (!k)
        return rej;
    if (argc < 2 || arg_buf(env, argv[0], &b, &n1, "buf") < 0 ||
        arg_lens(env, argv[1], &l, &n2, "lens") < 0) {
        napi_value e = NULL;
        napi_deferred d;
        napi_value p;
        if (argc < 2)
            return rln_rejected(env, EINVAL, "receiveManyInto(buf, lens)");
        napi_get_and_clear_last_exception(env, &e);
        NAPI_CALL(env, napi_create_promise(env, &d, &p), NULL);
        napi_reject_deferred(env, d, e);
        return p;
    }
    NAPI_CALL(env, napi_create_reference(env, argv[0], 1, &k->recv_buf), NULL);
    NAPI_CALL(env, napi_create_reference(env, argv[1], 1, &k->recv_lens), NULL);
    k->recv_kind = RECV_MANY_INTO;
    return rln_receive_start(env, k, RECV_MANY_INTO);
}

#define METHOD(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_default_method, NULL}

void rln_batch_define(napi_property_descriptor *props, size_t *n) {
    const napi_property_descriptor mine[] = {
        METHOD("sendMany", send_many),
        METHOD("sendManyConst", send_many_const),
        METHOD("sendRoutedMany", send_routed_many),
        METHOD("sendRoutedManyConst", send_routed_many_const),
        METHOD("sendMultipartMany", send_multipart_many),
        METHOD("recvManyInto", recv_many_into),
        METHOD("drainInto", drain_into),
        METHOD("recvMultipartManyInto", recv_multipart_many_into),
        METHOD("recvPairManyInto", recv_pair_many_into),
        METHOD("recvPairDrainInto", recv_pair_drain_into),
        METHOD("_receiveMany", receive_many),
        METHOD("_receiveManyInto", receive_many_into),
    };
    for (size_t i = 0; i < sizeof mine / sizeof mine[0]; i++)
        props[(*n)++] = mine[i];
}
