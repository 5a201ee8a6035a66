/* SPDX-License-Identifier: MIT */
/* array.c - sm_array, the proxy of the daemon's "array" type (Python's
 * multiprocessing Array): a fixed-length run of numbers of one typecode
 * ("i8".."u64", "f32", "f64") with atomic per-element add. */
#include "proxy.h"
#include "value_internal.h"

struct sm_array {
  sm_proxy p; /**< first and only member: see proxy.h */
};

#define ARRAY_TYPE "array"

/* ---- opening ---- */

/* Creates or gets the array from [typecode, init] (init: a length or a
 * list). */
static int array_create(sm_client *c, const char *name, const char *typecode, const sm_value *init,
                        sm_array **out) {
  sm_value code = val_str_view(typecode);
  const sm_value *args[2] = {&code, init};
  sm_proxy *p = NULL;
  int rc = proxy_create_args(c, ARRAY_TYPE, name, args, 2, sizeof(sm_array), &p);
  if (rc == SM_OK) *out = (sm_array *)p;
  return rc;
}

/* typecode and length only apply when the array is created.
 * *out: caller frees with sm_array_free(). */
int sm_array_open(sm_client *c, const char *name, const char *typecode, size_t length,
                  sm_array **out) {
  PROXY_REQUIRE(out && typecode && length <= INT64_MAX);
  sm_value n = val_int_view((int64_t)length);
  return array_create(c, name, typecode, &n, out);
}

/* values (an SM_LIST) is borrowed. */
int sm_array_open_values(sm_client *c, const char *name, const char *typecode,
                         const sm_value *values, sm_array **out) {
  PROXY_REQUIRE(out && typecode && sm_value_type(values) == SM_LIST);
  return array_create(c, name, typecode, values, out);
}

int sm_array_from_ref(sm_client *c, const sm_value *ref, sm_array **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_open_ref(c, ref, ARRAY_TYPE, sizeof(sm_array), &p);
  if (rc == SM_OK) *out = (sm_array *)p;
  return rc;
}

int sm_array_from_token(sm_client *c, const char *token, sm_array **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_open_token(c, token, ARRAY_TYPE, sizeof(sm_array), &p);
  if (rc == SM_OK) *out = (sm_array *)p;
  return rc;
}

void sm_array_free(sm_array *a) { proxy_free(a ? &a->p : NULL); }

/* Borrowed view, valid while a lives. */
sm_proxy *sm_array_proxy(sm_array *a) { return a ? &a->p : NULL; }

/* ---- methods ---- */

int sm_array_get_int(sm_array *a, int64_t index, int64_t *out) {
  PROXY_REQUIRE(a && out);
  sm_value i = val_int_view(index);
  return proxy_call_int(&a->p, "get", (const sm_value *const[]){&i}, 1, __func__, out);
}

/* An integer element converts. */
int sm_array_get_double(sm_array *a, int64_t index, double *out) {
  PROXY_REQUIRE(a && out);
  sm_value i = val_int_view(index), *r = NULL;
  int rc = PROXY_CALL(a, "get", &r, &i);
  return rc == SM_OK ? proxy_result_double(r, __func__, out) : rc;
}

int sm_array_set_int(sm_array *a, int64_t index, int64_t val) {
  PROXY_REQUIRE(a);
  sm_value i = val_int_view(index), v = val_int_view(val);
  return PROXY_CALL(a, "set", NULL, &i, &v);
}

int sm_array_set_double(sm_array *a, int64_t index, double val) {
  PROXY_REQUIRE(a);
  sm_value i = val_int_view(index), v = val_double_view(val);
  return PROXY_CALL(a, "set", NULL, &i, &v);
}

/* x truncated toward zero into the int64 range (NaN: 0). */
static int64_t trunc_int64(double x) {
  if (x != x) return 0;
  if (x >= 9223372036854775808.0) return INT64_MAX;
  if (x < -9223372036854775808.0) return INT64_MIN;
  return (int64_t)x;
}

/* result may be NULL. On a real array the add is applied like any other
 * and *result gets the new value truncated, so an applied add never
 * reports failure. */
int sm_array_add_int(sm_array *a, int64_t index, int64_t delta, int64_t *result) {
  PROXY_REQUIRE(a);
  sm_value i = val_int_view(index), d = val_int_view(delta), *r = NULL;
  int64_t now = 0;
  int rc = PROXY_CALL(a, "add", &r, &i, &d);
  if (rc == SM_OK && sm_value_type(r) == SM_DOUBLE) {
    now = trunc_int64(sm_value_as_double(r));
    sm_value_free(r);
  } else if (rc == SM_OK) {
    rc = proxy_result_int(r, __func__, &now);
  }
  if (rc == SM_OK && result) *result = now;
  return rc;
}

/* result may be NULL. */
int sm_array_add_double(sm_array *a, int64_t index, double delta, double *result) {
  PROXY_REQUIRE(a);
  sm_value i = val_int_view(index), d = val_double_view(delta), *r = NULL;
  double now = 0;
  int rc = PROXY_CALL(a, "add", &r, &i, &d);
  if (rc == SM_OK) rc = proxy_result_double(r, __func__, &now);
  if (rc == SM_OK && result) *result = now;
  return rc;
}

int sm_array_len(sm_array *a, size_t *out) {
  PROXY_REQUIRE(a && out);
  return proxy_call_size(&a->p, "len", NULL, 0, __func__, out);
}

/* INT64_MAX as stop means "to the end" (the daemon clamps it).
 * *out: an SM_LIST (caller frees with sm_value_free()). */
int sm_array_slice(sm_array *a, int64_t start, int64_t stop, sm_value **out) {
  PROXY_REQUIRE(a && out);
  sm_value b = val_int_view(start), e = val_int_view(stop);
  return PROXY_CALL(a, "slice", out, &b, &e);
}

int sm_array_set_slice(sm_array *a, int64_t start, const sm_value *values) {
  PROXY_REQUIRE(a && values);
  sm_value b = val_int_view(start);
  return PROXY_CALL(a, "set_slice", NULL, &b, values);
}

/* *out: caller frees with sm_free(). */
int sm_array_typecode(sm_array *a, char **out) {
  PROXY_REQUIRE(a && out);
  sm_value *r = NULL;
  int rc = proxy_invoke(&a->p, "typecode", NULL, 0, &r);
  return rc == SM_OK ? proxy_result_str(r, __func__, out) : rc;
}
