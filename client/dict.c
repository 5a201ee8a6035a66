/* SPDX-License-Identifier: MIT */
/* dict.c - sm_dict, the proxy of the daemon's "dict" type.
 *
 * Each function is one method from docs/protocol.md; the typed helpers at
 * the end wrap the sm_value calls for string and int64 keys and values. */
#include "lifetime.h"
#include "proxy.h"
#include "value_internal.h"

struct sm_dict {
  sm_proxy p; /**< first and only member: see proxy.h */
};

#define DICT_TYPE "dict"

/* ---- opening ---- */

/* *out: caller frees with sm_dict_free(). */
int sm_dict_open(sm_client *c, const char *name, sm_dict **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_create(c, DICT_TYPE, name, NULL, sizeof(sm_dict), &p);
  if (rc == SM_OK) *out = (sm_dict *)p;
  return rc;
}

/* *out: caller frees with sm_dict_free(). */
int sm_dict_open_ex(sm_client *c, const char *name, const sm_open_options *opts, sm_dict **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = lifetime_open(c, DICT_TYPE, name, NULL, opts, sizeof(sm_dict), &p);
  if (rc == SM_OK) *out = (sm_dict *)p;
  return rc;
}

int sm_dict_from_ref(sm_client *c, const sm_value *ref, sm_dict **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_open_ref(c, ref, DICT_TYPE, sizeof(sm_dict), &p);
  if (rc == SM_OK) *out = (sm_dict *)p;
  return rc;
}

int sm_dict_from_token(sm_client *c, const char *token, sm_dict **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_open_token(c, token, DICT_TYPE, sizeof(sm_dict), &p);
  if (rc == SM_OK) *out = (sm_dict *)p;
  return rc;
}

void sm_dict_free(sm_dict *d) { proxy_free(d ? &d->p : NULL); }

/* Borrowed view, valid while d lives. */
sm_proxy *sm_dict_proxy(sm_dict *d) { return d ? &d->p : NULL; }

/* ---- methods ---- */

/* *out: caller frees with sm_value_free(). */
int sm_dict_get(sm_dict *d, const sm_value *key, sm_value **out) {
  PROXY_REQUIRE(d && key && out);
  return PROXY_CALL(d, "get", out, key);
}

int sm_dict_get_default(sm_dict *d, const sm_value *key, const sm_value *dflt, sm_value **out) {
  PROXY_REQUIRE(d && key && out);
  return PROXY_CALL(d, "get", out, key, dflt);
}

int sm_dict_set(sm_dict *d, const sm_value *key, const sm_value *val) {
  PROXY_REQUIRE(d && key && val);
  return PROXY_CALL(d, "set", NULL, key, val);
}

int sm_dict_set_ex(sm_dict *d, const sm_value *key, const sm_value *val, int64_t ttl_ms) {
  PROXY_REQUIRE(d && key && val);
  sm_value ms = val_int_view(ttl_ms);
  return PROXY_CALL(d, "set", NULL, key, val, &ms);
}

int sm_dict_set_ttl(sm_dict *d, const sm_value *key, int64_t ms, bool *existed) {
  PROXY_REQUIRE(d && key);
  sm_value msv = val_int_view(ms);
  bool b = false;
  int rc = proxy_call_bool(&d->p, "set_ttl", (const sm_value *const[]){key, &msv}, 2, __func__, &b);
  if (rc == SM_OK && existed) *existed = b;
  return rc;
}

int sm_dict_ttl(sm_dict *d, const sm_value *key, int64_t *out) {
  PROXY_REQUIRE(d && key && out);
  return proxy_call_int(&d->p, "ttl", (const sm_value *const[]){key}, 1, __func__, out);
}

int sm_dict_persist(sm_dict *d, const sm_value *key, bool *had) {
  PROXY_REQUIRE(d && key);
  bool b = false;
  int rc = proxy_call_bool(&d->p, "persist", (const sm_value *const[]){key}, 1, __func__, &b);
  if (rc == SM_OK && had) *had = b;
  return rc;
}

int sm_dict_del(sm_dict *d, const sm_value *key) {
  PROXY_REQUIRE(d && key);
  return PROXY_CALL(d, "del", NULL, key);
}

int sm_dict_contains(sm_dict *d, const sm_value *key, bool *out) {
  PROXY_REQUIRE(d && key && out);
  return proxy_call_bool(&d->p, "contains", (const sm_value *const[]){key}, 1, __func__, out);
}

int sm_dict_len(sm_dict *d, size_t *out) {
  PROXY_REQUIRE(d && out);
  return proxy_call_size(&d->p, "len", NULL, 0, __func__, out);
}

/* keys / values / items / copy: *out caller frees with sm_value_free(). */
int sm_dict_keys(sm_dict *d, sm_value **out) {
  PROXY_REQUIRE(d && out);
  return proxy_invoke(&d->p, "keys", NULL, 0, out);
}

int sm_dict_values(sm_dict *d, sm_value **out) {
  PROXY_REQUIRE(d && out);
  return proxy_invoke(&d->p, "values", NULL, 0, out);
}

int sm_dict_items(sm_dict *d, sm_value **out) {
  PROXY_REQUIRE(d && out);
  return proxy_invoke(&d->p, "items", NULL, 0, out);
}

/* *page: caller frees with sm_value_free(). */
int sm_dict_scan(sm_dict *d, uint64_t cursor, size_t count, uint64_t *next, sm_value **page) {
  PROXY_REQUIRE(d && next && page);
  return proxy_scan(&d->p, cursor, count, __func__, next, page);
}

int sm_dict_pop(sm_dict *d, const sm_value *key, sm_value **out) {
  PROXY_REQUIRE(d && key && out);
  return PROXY_CALL(d, "pop", out, key);
}

int sm_dict_pop_default(sm_dict *d, const sm_value *key, const sm_value *dflt, sm_value **out) {
  PROXY_REQUIRE(d && key && out);
  return PROXY_CALL(d, "pop", out, key, dflt);
}

/* *key and *val: caller frees each with sm_value_free(). */
int sm_dict_popitem(sm_dict *d, sm_value **key, sm_value **val) {
  PROXY_REQUIRE(d && key && val);
  sm_value *r = NULL;
  int rc = proxy_invoke(&d->p, "popitem", NULL, 0, &r);
  if (rc != SM_OK) return rc;
  if (sm_value_type(r) != SM_LIST || sm_value_len(r) != 2) {
    sm_value_free(r);
    return err_set(SM_EPROTO, "%s: the daemon did not answer [key, value]", __func__);
  }
  *key = val_list_take(r, 0);
  *val = val_list_take(r, 1);
  sm_value_free(r);
  return SM_OK;
}

int sm_dict_setdefault(sm_dict *d, const sm_value *key, const sm_value *dflt, sm_value **out) {
  PROXY_REQUIRE(d && key && out);
  return PROXY_CALL(d, "setdefault", out, key, dflt);
}

int sm_dict_update(sm_dict *d, const sm_value *map) {
  PROXY_REQUIRE(d && map);
  return PROXY_CALL(d, "update", NULL, map);
}

int sm_dict_clear(sm_dict *d) {
  PROXY_REQUIRE(d);
  return proxy_invoke(&d->p, "clear", NULL, 0, NULL);
}

int sm_dict_copy(sm_dict *d, sm_value **out) {
  PROXY_REQUIRE(d && out);
  return proxy_invoke(&d->p, "copy", NULL, 0, out);
}

int sm_dict_set_if_absent(sm_dict *d, const sm_value *key, const sm_value *val, bool *set) {
  PROXY_REQUIRE(d && key && val);
  sm_value *r = NULL;
  bool done = false;
  int rc = PROXY_CALL(d, "set_if_absent", &r, key, val);
  if (rc == SM_OK) rc = proxy_result_bool(r, __func__, &done);
  if (rc == SM_OK && set) *set = done;
  return rc;
}

/* The daemon answers [swapped] or [swapped, previous]; *current (when
 * asked) receives previous, or NULL when the key was absent. */
int sm_dict_cas(sm_dict *d, const sm_value *key, const sm_value *expected, const sm_value *desired,
                bool *swapped, sm_value **current) {
  PROXY_REQUIRE(d && key && desired && swapped);
  sm_value *r = NULL;
  int rc = expected ? PROXY_CALL(d, "cas", &r, key, expected, desired)
                    : PROXY_CALL(d, "cas", &r, key, desired);
  if (rc != SM_OK) return rc;
  size_t n = sm_value_len(r);
  if (sm_value_type(r) != SM_LIST || n < 1 || n > 2 ||
      sm_value_type(sm_value_list_at(r, 0)) != SM_BOOL) {
    sm_value_free(r);
    return err_set(SM_EPROTO, "%s: the daemon did not answer [swapped, previous]", __func__);
  }
  *swapped = sm_value_as_bool(sm_value_list_at(r, 0));
  if (current) *current = n == 2 ? val_list_take(r, 1) : NULL;
  sm_value_free(r);
  return SM_OK;
}

/* ---- typed helpers: string or int64 keys, views instead of copies ---- */

int sm_dict_set_str(sm_dict *d, const char *key, const char *val) {
  PROXY_REQUIRE(d && key && val);
  sm_value k = val_str_view(key), v = val_str_view(val);
  return sm_dict_set(d, &k, &v);
}

/* *out: caller frees with sm_free(). */
int sm_dict_get_str(sm_dict *d, const char *key, char **out) {
  PROXY_REQUIRE(d && key && out);
  sm_value k = val_str_view(key), *v = NULL;
  int rc = sm_dict_get(d, &k, &v);
  return rc == SM_OK ? proxy_result_str(v, __func__, out) : rc;
}

int sm_dict_set_int(sm_dict *d, const char *key, int64_t val) {
  PROXY_REQUIRE(d && key);
  sm_value k = val_str_view(key), v = val_int_view(val);
  return sm_dict_set(d, &k, &v);
}

int sm_dict_get_int(sm_dict *d, const char *key, int64_t *out) {
  PROXY_REQUIRE(d && key && out);
  sm_value k = val_str_view(key), *v = NULL;
  int rc = sm_dict_get(d, &k, &v);
  return rc == SM_OK ? proxy_result_int(v, __func__, out) : rc;
}

int sm_dict_del_str(sm_dict *d, const char *key) {
  PROXY_REQUIRE(d && key);
  sm_value k = val_str_view(key);
  return sm_dict_del(d, &k);
}

int sm_dict_iset_str(sm_dict *d, int64_t key, const char *val) {
  PROXY_REQUIRE(d && val);
  sm_value k = val_int_view(key), v = val_str_view(val);
  return sm_dict_set(d, &k, &v);
}

/* *out: caller frees with sm_free(). */
int sm_dict_iget_str(sm_dict *d, int64_t key, char **out) {
  PROXY_REQUIRE(d && out);
  sm_value k = val_int_view(key), *v = NULL;
  int rc = sm_dict_get(d, &k, &v);
  return rc == SM_OK ? proxy_result_str(v, __func__, out) : rc;
}

int sm_dict_iset_int(sm_dict *d, int64_t key, int64_t val) {
  PROXY_REQUIRE(d);
  sm_value k = val_int_view(key), v = val_int_view(val);
  return sm_dict_set(d, &k, &v);
}

int sm_dict_iget_int(sm_dict *d, int64_t key, int64_t *out) {
  PROXY_REQUIRE(d && out);
  sm_value k = val_int_view(key), *v = NULL;
  int rc = sm_dict_get(d, &k, &v);
  return rc == SM_OK ? proxy_result_int(v, __func__, out) : rc;
}
