/* SPDX-License-Identifier: MIT */
/* var.c - sm_var, the proxy of the daemon's "value" type (Python's
 * Manager().Value): one shared value with atomic add-and-get. */
#include "proxy.h"
#include "value_internal.h"

struct sm_var {
  sm_proxy p; /**< first and only member: see proxy.h */
};

#define VAR_TYPE "value"

/* ---- opening ---- */

/* initial (NULL: nil) only applies when the value is created.
 * *out: caller frees with sm_var_free(). */
int sm_var_open(sm_client *c, const char *name, const sm_value *initial, sm_var **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_create(c, VAR_TYPE, name, initial, sizeof(sm_var), &p);
  if (rc == SM_OK) *out = (sm_var *)p;
  return rc;
}

int sm_var_from_ref(sm_client *c, const sm_value *ref, sm_var **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_open_ref(c, ref, VAR_TYPE, sizeof(sm_var), &p);
  if (rc == SM_OK) *out = (sm_var *)p;
  return rc;
}

int sm_var_from_token(sm_client *c, const char *token, sm_var **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_open_token(c, token, VAR_TYPE, sizeof(sm_var), &p);
  if (rc == SM_OK) *out = (sm_var *)p;
  return rc;
}

void sm_var_free(sm_var *v) { proxy_free(v ? &v->p : NULL); }

/* Borrowed view, valid while v lives. */
sm_proxy *sm_var_proxy(sm_var *v) { return v ? &v->p : NULL; }

/* ---- methods ---- */

/* *out: caller frees with sm_value_free(). */
int sm_var_get(sm_var *v, sm_value **out) {
  PROXY_REQUIRE(v && out);
  return proxy_invoke(&v->p, "get", NULL, 0, out);
}

int sm_var_set(sm_var *v, const sm_value *val) {
  PROXY_REQUIRE(v && val);
  return PROXY_CALL(v, "set", NULL, val);
}

/* result may be NULL. */
int sm_var_add_int(sm_var *v, int64_t delta, int64_t *result) {
  PROXY_REQUIRE(v);
  sm_value d = val_int_view(delta), *r = NULL;
  int64_t now = 0;
  int rc = PROXY_CALL(v, "add", &r, &d);
  if (rc == SM_OK) rc = proxy_result_int(r, __func__, &now);
  if (rc == SM_OK && result) *result = now;
  return rc;
}

/* result may be NULL. */
int sm_var_add_double(sm_var *v, double delta, double *result) {
  PROXY_REQUIRE(v);
  sm_value d = val_double_view(delta), *r = NULL;
  double now = 0;
  int rc = PROXY_CALL(v, "add", &r, &d);
  if (rc == SM_OK) rc = proxy_result_double(r, __func__, &now);
  if (rc == SM_OK && result) *result = now;
  return rc;
}

/* ---- typed helpers ---- */

int sm_var_get_int(sm_var *v, int64_t *out) {
  PROXY_REQUIRE(v && out);
  sm_value *r = NULL;
  int rc = sm_var_get(v, &r);
  return rc == SM_OK ? proxy_result_int(r, __func__, out) : rc;
}

int sm_var_set_int(sm_var *v, int64_t val) {
  PROXY_REQUIRE(v);
  sm_value x = val_int_view(val);
  return sm_var_set(v, &x);
}

/* An int converts. */
int sm_var_get_double(sm_var *v, double *out) {
  PROXY_REQUIRE(v && out);
  sm_value *r = NULL;
  int rc = sm_var_get(v, &r);
  return rc == SM_OK ? proxy_result_double(r, __func__, out) : rc;
}

int sm_var_set_double(sm_var *v, double val) {
  PROXY_REQUIRE(v);
  sm_value x = val_double_view(val);
  return sm_var_set(v, &x);
}

/* *out: caller frees with sm_free(). */
int sm_var_get_str(sm_var *v, char **out) {
  PROXY_REQUIRE(v && out);
  sm_value *r = NULL;
  int rc = sm_var_get(v, &r);
  return rc == SM_OK ? proxy_result_str(r, __func__, out) : rc;
}

int sm_var_set_str(sm_var *v, const char *val) {
  PROXY_REQUIRE(v && val);
  sm_value x = val_str_view(val);
  return sm_var_set(v, &x);
}
