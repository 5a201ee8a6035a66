/* SPDX-License-Identifier: MIT */
/* set.c - sm_set, the proxy of the daemon's "set" type.
 *
 * Each function is one method from docs/protocol.md, with one operand
 * (a list of elements, or a map whose keys are the elements) where the
 * daemon takes several; the typed helpers at the end wrap the sm_value
 * calls for string and int64 elements. */
#include "proxy.h"
#include "value_internal.h"

struct sm_set {
  sm_proxy p; /**< first and only member: see proxy.h */
};

#define SET_TYPE "set"

/* ---- opening ---- */

/* *out: caller frees with sm_set_free(). */
int sm_set_open(sm_client *c, const char *name, sm_set **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_create(c, SET_TYPE, name, NULL, sizeof(sm_set), &p);
  if (rc == SM_OK) *out = (sm_set *)p;
  return rc;
}

int sm_set_from_ref(sm_client *c, const sm_value *ref, sm_set **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_open_ref(c, ref, SET_TYPE, sizeof(sm_set), &p);
  if (rc == SM_OK) *out = (sm_set *)p;
  return rc;
}

int sm_set_from_token(sm_client *c, const char *token, sm_set **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_open_token(c, token, SET_TYPE, sizeof(sm_set), &p);
  if (rc == SM_OK) *out = (sm_set *)p;
  return rc;
}

void sm_set_free(sm_set *s) { proxy_free(s ? &s->p : NULL); }

/* Borrowed view, valid while s lives. */
sm_proxy *sm_set_proxy(sm_set *s) { return s ? &s->p : NULL; }

/* ---- single elements ---- */

int sm_set_add(sm_set *s, const sm_value *elem) {
  PROXY_REQUIRE(s && elem);
  return PROXY_CALL(s, "add", NULL, elem);
}

int sm_set_discard(sm_set *s, const sm_value *elem) {
  PROXY_REQUIRE(s && elem);
  return PROXY_CALL(s, "discard", NULL, elem);
}

int sm_set_remove(sm_set *s, const sm_value *elem) {
  PROXY_REQUIRE(s && elem);
  return PROXY_CALL(s, "remove", NULL, elem);
}

int sm_set_contains(sm_set *s, const sm_value *elem, bool *out) {
  PROXY_REQUIRE(s && elem && out);
  return proxy_call_bool(&s->p, "contains", (const sm_value *const[]){elem}, 1, __func__, out);
}

int sm_set_len(sm_set *s, size_t *out) {
  PROXY_REQUIRE(s && out);
  return proxy_call_size(&s->p, "len", NULL, 0, __func__, out);
}

/* *out: caller frees with sm_value_free(). */
int sm_set_pop(sm_set *s, sm_value **out) {
  PROXY_REQUIRE(s && out);
  return proxy_invoke(&s->p, "pop", NULL, 0, out);
}

int sm_set_clear(sm_set *s) {
  PROXY_REQUIRE(s);
  return proxy_invoke(&s->p, "clear", NULL, 0, NULL);
}

/* *out: caller frees with sm_value_free(). */
int sm_set_copy(sm_set *s, sm_value **out) {
  PROXY_REQUIRE(s && out);
  return proxy_invoke(&s->p, "copy", NULL, 0, out);
}

/* *page: caller frees with sm_value_free(). */
int sm_set_scan(sm_set *s, uint64_t cursor, size_t count, uint64_t *next, sm_value **page) {
  PROXY_REQUIRE(s && next && page);
  return proxy_scan(&s->p, cursor, count, __func__, next, page);
}

/* ---- with an operand ---- */

/* The method with the one operand other, answering into out (NULL: no
 * result wanted; otherwise the caller frees with sm_value_free()). */
static int with_operand(sm_set *s, const char *method, const sm_value *other, sm_value **out) {
  return proxy_invoke(&s->p, method, (const sm_value *const[]){other}, 1, out);
}

int sm_set_update(sm_set *s, const sm_value *other) {
  PROXY_REQUIRE(s && other);
  return with_operand(s, "update", other, NULL);
}

int sm_set_intersection_update(sm_set *s, const sm_value *other) {
  PROXY_REQUIRE(s && other);
  return with_operand(s, "intersection_update", other, NULL);
}

int sm_set_difference_update(sm_set *s, const sm_value *other) {
  PROXY_REQUIRE(s && other);
  return with_operand(s, "difference_update", other, NULL);
}

int sm_set_symmetric_difference_update(sm_set *s, const sm_value *other) {
  PROXY_REQUIRE(s && other);
  return with_operand(s, "symmetric_difference_update", other, NULL);
}

/* union ... symmetric_difference: *out caller frees with sm_value_free(). */
int sm_set_union(sm_set *s, const sm_value *other, sm_value **out) {
  PROXY_REQUIRE(s && other && out);
  return with_operand(s, "union", other, out);
}

int sm_set_intersection(sm_set *s, const sm_value *other, sm_value **out) {
  PROXY_REQUIRE(s && other && out);
  return with_operand(s, "intersection", other, out);
}

int sm_set_difference(sm_set *s, const sm_value *other, sm_value **out) {
  PROXY_REQUIRE(s && other && out);
  return with_operand(s, "difference", other, out);
}

int sm_set_symmetric_difference(sm_set *s, const sm_value *other, sm_value **out) {
  PROXY_REQUIRE(s && other && out);
  return with_operand(s, "symmetric_difference", other, out);
}

int sm_set_issubset(sm_set *s, const sm_value *other, bool *out) {
  PROXY_REQUIRE(s && other && out);
  return proxy_call_bool(&s->p, "issubset", (const sm_value *const[]){other}, 1, __func__, out);
}

int sm_set_issuperset(sm_set *s, const sm_value *other, bool *out) {
  PROXY_REQUIRE(s && other && out);
  return proxy_call_bool(&s->p, "issuperset", (const sm_value *const[]){other}, 1, __func__, out);
}

int sm_set_isdisjoint(sm_set *s, const sm_value *other, bool *out) {
  PROXY_REQUIRE(s && other && out);
  return proxy_call_bool(&s->p, "isdisjoint", (const sm_value *const[]){other}, 1, __func__, out);
}

/* ---- typed helpers: string or int64 elements, views instead of copies ---- */

int sm_set_add_str(sm_set *s, const char *elem) {
  PROXY_REQUIRE(s && elem);
  sm_value e = val_str_view(elem);
  return sm_set_add(s, &e);
}

int sm_set_discard_str(sm_set *s, const char *elem) {
  PROXY_REQUIRE(s && elem);
  sm_value e = val_str_view(elem);
  return sm_set_discard(s, &e);
}

int sm_set_contains_str(sm_set *s, const char *elem, bool *out) {
  PROXY_REQUIRE(s && elem && out);
  sm_value e = val_str_view(elem);
  return sm_set_contains(s, &e, out);
}

int sm_set_add_int(sm_set *s, int64_t elem) {
  PROXY_REQUIRE(s);
  sm_value e = val_int_view(elem);
  return sm_set_add(s, &e);
}

int sm_set_discard_int(sm_set *s, int64_t elem) {
  PROXY_REQUIRE(s);
  sm_value e = val_int_view(elem);
  return sm_set_discard(s, &e);
}

int sm_set_contains_int(sm_set *s, int64_t elem, bool *out) {
  PROXY_REQUIRE(s && out);
  sm_value e = val_int_view(elem);
  return sm_set_contains(s, &e, out);
}
