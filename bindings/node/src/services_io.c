/*
 * The service layer, part 3: the message helpers the Gateway (services_gw.c) and SPOT
 * (services_spot.c) classes share. Design: services.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services.h"

/* Receive scratch of an object: `cap` bytes, `max` entries per length array. */
int svc_scratch(svc *s, size_t cap, size_t max) {
    if (cap > s->cap) {
        unsigned char *b = realloc(s->buf, cap);
        if (!b)
            return ENOMEM;
        s->buf = b;
        s->cap = cap;
    }
    if (max > s->max) {
        size_t *a = realloc(s->lens, max * sizeof *a), *b2;
        if (!a)
            return ENOMEM;
        s->lens = a;
        if (!(b2 = realloc(s->lens2, max * sizeof *b2)))
            return ENOMEM;
        s->lens2 = b2;
        s->max = max;
    }
    return 0;
}

void parts_free(parts_t *m) {
    for (size_t i = 0; i < m->n; i++)
        free(m->own[i]);
    free(m->p);
    m->p = NULL;
}

int parts_get(napi_env env, napi_value msg, parts_t *m) {
    bool is = false;
    uint32_t n = 1;
    memset(m, 0, sizeof *m);
    napi_is_array(env, msg, &is);
    if (is)
        napi_get_array_length(env, msg, &n);
    if (n == 0) {
        rln_throw_errno(env, EINVAL, "a message needs at least one part");
        return -1;
    }
    void *block = calloc(n, sizeof(void *) + sizeof(size_t) + sizeof(char *));
    if (!block) {
        rln_throw_errno(env, ENOMEM, NULL);
        return -1;
    }
    m->p = block;
    m->l = (size_t *)(m->p + n);
    m->own = (char **)(m->l + n);
    for (uint32_t i = 0; i < n; i++) {
        napi_value v = msg;
        if (is && napi_get_element(env, msg, i, &v) != napi_ok) {
            parts_free(m);
            rln_throw_last(env);
            return -1;
        }
        if (rln_bytes(env, v, &m->p[i], &m->l[i], &m->own[i]) < 0) {
            parts_free(m);
            return -1;
        }
        m->n = i + 1;
    }
    return 0;
}

napi_value parts_value(napi_env env, const unsigned char *buf, const size_t *lens, size_t n) {
    napi_value arr, b;
    size_t off = 0;
    NAPI_CALL(env, napi_create_array_with_length(env, n, &arr), NULL);
    for (size_t i = 0; i < n; i++) {
        NAPI_CALL(env, napi_create_buffer_copy(env, lens[i], buf + off, NULL, &b), NULL);
        napi_set_element(env, arr, (uint32_t)i, b);
        off += lens[i];
    }
    return arr;
}

/* {<key>: name, parts} */
napi_value named_parts(napi_env env, const char *key, const char *name, size_t name_len,
                              const unsigned char *buf, const size_t *lens, size_t n) {
    napi_value o, v, parts = parts_value(env, buf, lens, n);
    if (!parts)
        return NULL;
    NAPI_CALL(env, napi_create_object(env, &o), NULL);
    NAPI_CALL(env, napi_create_string_utf8(env, name, name_len, &v), NULL);
    napi_set_named_property(env, o, key, v);
    napi_set_named_property(env, o, "parts", parts);
    return o;
}

int arg_count(napi_env env, napi_value v, size_t *n) {
    int64_t c;
    if (!v || napi_get_value_int64(env, v, &c) != napi_ok || c < 0 || c > 0x7fffffff) {
        napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "count must be an integer 0..2^31-1");
        return -1;
    }
    *n = (size_t)c;
    return 0;
}

/* ---------------------------------------------------------------- classes */

int rln_services_io_init(napi_env env, napi_value exports) {
    if (rln_services_gw_init(env, exports) < 0)
        return -1;
    return rln_services_spot_init(env, exports);
}
