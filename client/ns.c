/* SPDX-License-Identifier: MIT */
/* ns.c - sm_ns, the proxy of the daemon's "namespace" type (Python's
 * Manager().Namespace()): named attributes holding any value. */
#include "proxy.h"
#include "value_internal.h"

struct sm_ns {
  sm_proxy p; /**< first and only member: see proxy.h */
};

#define NS_TYPE "namespace"

/* ---- opening ---- */

/* *out: caller frees with sm_ns_free(). */
int sm_ns_open(sm_client *c, const char *name, sm_ns **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_create(c, NS_TYPE, name, NULL, sizeof(sm_ns), &p);
  if (rc == SM_OK) *out = (sm_ns *)p;
  return rc;
}

int sm_ns_from_ref(sm_client *c, const sm_value *ref, sm_ns **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_open_ref(c, ref, NS_TYPE, sizeof(sm_ns), &p);
  if (rc == SM_OK) *out = (sm_ns *)p;
  return rc;
}

int sm_ns_from_token(sm_client *c, const char *token, sm_ns **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_open_token(c, token, NS_TYPE, sizeof(sm_ns), &p);
  if (rc == SM_OK) *out = (sm_ns *)p;
  return rc;
}

void sm_ns_free(sm_ns *n) { proxy_free(n ? &n->p : NULL); }

/* Borrowed view, valid while n lives. */
sm_proxy *sm_ns_proxy(sm_ns *n) { return n ? &n->p : NULL; }

/* ---- methods ---- */

/* *out: caller frees with sm_value_free(). */
int sm_ns_get(sm_ns *n, const char *attr, sm_value **out) {
  PROXY_REQUIRE(n && attr && out);
  sm_value a = val_str_view(attr);
  return PROXY_CALL(n, "get", out, &a);
}

int sm_ns_set(sm_ns *n, const char *attr, const sm_value *val) {
  PROXY_REQUIRE(n && attr && val);
  sm_value a = val_str_view(attr);
  return PROXY_CALL(n, "set", NULL, &a, val);
}

int sm_ns_del(sm_ns *n, const char *attr) {
  PROXY_REQUIRE(n && attr);
  sm_value a = val_str_view(attr);
  return PROXY_CALL(n, "del", NULL, &a);
}

/* *out: a sorted list of str (caller frees with sm_value_free()). */
int sm_ns_list(sm_ns *n, sm_value **out) {
  PROXY_REQUIRE(n && out);
  return proxy_invoke(&n->p, "list", NULL, 0, out);
}

/* ---- typed helpers ---- */

/* *page: caller frees with sm_value_free(). */
int sm_ns_scan(sm_ns *n, uint64_t cursor, size_t count, uint64_t *next, sm_value **page) {
  PROXY_REQUIRE(n && next && page);
  return proxy_scan(&n->p, cursor, count, __func__, next, page);
}

int sm_ns_set_int(sm_ns *n, const char *attr, int64_t val) {
  PROXY_REQUIRE(n && attr);
  sm_value v = val_int_view(val);
  return sm_ns_set(n, attr, &v);
}

int sm_ns_get_int(sm_ns *n, const char *attr, int64_t *out) {
  PROXY_REQUIRE(n && attr && out);
  sm_value *v = NULL;
  int rc = sm_ns_get(n, attr, &v);
  return rc == SM_OK ? proxy_result_int(v, __func__, out) : rc;
}

int sm_ns_set_str(sm_ns *n, const char *attr, const char *val) {
  PROXY_REQUIRE(n && attr && val);
  sm_value v = val_str_view(val);
  return sm_ns_set(n, attr, &v);
}

/* *out: caller frees with sm_free(). */
int sm_ns_get_str(sm_ns *n, const char *attr, char **out) {
  PROXY_REQUIRE(n && attr && out);
  sm_value *v = NULL;
  int rc = sm_ns_get(n, attr, &v);
  return rc == SM_OK ? proxy_result_str(v, __func__, out) : rc;
}
