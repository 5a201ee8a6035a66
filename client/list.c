/* SPDX-License-Identifier: MIT */
/* list.c - sm_list, the proxy of the daemon's "list" type.
 *
 * Each function is one method from docs/protocol.md. Indexes follow
 * Python: negative counts from the end; the daemon answers SM_EVALUE when
 * one is out of range. */
#include "proxy.h"
#include "value_internal.h"

struct sm_list {
  sm_proxy p; /**< first and only member: see proxy.h */
};

#define LIST_TYPE "list"

/* ---- opening ---- */

/* *out: caller frees with sm_list_free(). */
int sm_list_open(sm_client *c, const char *name, sm_list **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_create(c, LIST_TYPE, name, NULL, sizeof(sm_list), &p);
  if (rc == SM_OK) *out = (sm_list *)p;
  return rc;
}

int sm_list_from_ref(sm_client *c, const sm_value *ref, sm_list **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_open_ref(c, ref, LIST_TYPE, sizeof(sm_list), &p);
  if (rc == SM_OK) *out = (sm_list *)p;
  return rc;
}

int sm_list_from_token(sm_client *c, const char *token, sm_list **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_open_token(c, token, LIST_TYPE, sizeof(sm_list), &p);
  if (rc == SM_OK) *out = (sm_list *)p;
  return rc;
}

void sm_list_free(sm_list *l) { proxy_free(l ? &l->p : NULL); }

/* Borrowed view, valid while l lives. */
sm_proxy *sm_list_proxy(sm_list *l) { return l ? &l->p : NULL; }

/* ---- methods ---- */

int sm_list_append(sm_list *l, const sm_value *v) {
  PROXY_REQUIRE(l && v);
  return PROXY_CALL(l, "append", NULL, v);
}

int sm_list_extend(sm_list *l, const sm_value *items) {
  PROXY_REQUIRE(l && items);
  return PROXY_CALL(l, "extend", NULL, items);
}

int sm_list_insert(sm_list *l, int64_t index, const sm_value *v) {
  PROXY_REQUIRE(l && v);
  sm_value i = val_int_view(index);
  return PROXY_CALL(l, "insert", NULL, &i, v);
}

/* *out: caller frees with sm_value_free(). */
int sm_list_get(sm_list *l, int64_t index, sm_value **out) {
  PROXY_REQUIRE(l && out);
  sm_value i = val_int_view(index);
  return PROXY_CALL(l, "get", out, &i);
}

int sm_list_set(sm_list *l, int64_t index, const sm_value *v) {
  PROXY_REQUIRE(l && v);
  sm_value i = val_int_view(index);
  return PROXY_CALL(l, "set", NULL, &i, v);
}

int sm_list_del(sm_list *l, int64_t index) {
  PROXY_REQUIRE(l);
  sm_value i = val_int_view(index);
  return PROXY_CALL(l, "del", NULL, &i);
}

/* *out: caller frees with sm_value_free(). */
int sm_list_pop(sm_list *l, int64_t index, sm_value **out) {
  PROXY_REQUIRE(l && out);
  sm_value i = val_int_view(index);
  return PROXY_CALL(l, "pop", out, &i);
}

int sm_list_remove(sm_list *l, const sm_value *v) {
  PROXY_REQUIRE(l && v);
  return PROXY_CALL(l, "remove", NULL, v);
}

int sm_list_index(sm_list *l, const sm_value *v, int64_t *out) {
  PROXY_REQUIRE(l && v && out);
  return proxy_call_int(&l->p, "index", (const sm_value *const[]){v}, 1, __func__, out);
}

int sm_list_count(sm_list *l, const sm_value *v, size_t *out) {
  PROXY_REQUIRE(l && v && out);
  return proxy_call_size(&l->p, "count", (const sm_value *const[]){v}, 1, __func__, out);
}

int sm_list_len(sm_list *l, size_t *out) {
  PROXY_REQUIRE(l && out);
  return proxy_call_size(&l->p, "len", NULL, 0, __func__, out);
}

/* A stop of INT64_MAX travels as nil: "to the end". *out: caller frees. */
int sm_list_slice(sm_list *l, int64_t start, int64_t stop, sm_value **out) {
  PROXY_REQUIRE(l && out);
  sm_value a = val_int_view(start), b = val_int_view(stop);
  return PROXY_CALL(l, "slice", out, &a, stop == INT64_MAX ? NULL : &b);
}

/* *page: caller frees with sm_value_free(). */
int sm_list_scan(sm_list *l, uint64_t cursor, size_t count, uint64_t *next, sm_value **page) {
  PROXY_REQUIRE(l && next && page);
  return proxy_scan(&l->p, cursor, count, __func__, next, page);
}

int sm_list_reverse(sm_list *l) {
  PROXY_REQUIRE(l);
  return proxy_invoke(&l->p, "reverse", NULL, 0, NULL);
}

int sm_list_sort(sm_list *l, bool descending) {
  PROXY_REQUIRE(l);
  sm_value desc = val_bool_view(descending);
  return PROXY_CALL(l, "sort", NULL, &desc);
}

int sm_list_clear(sm_list *l) {
  PROXY_REQUIRE(l);
  return proxy_invoke(&l->p, "clear", NULL, 0, NULL);
}

/* ---- typed helpers ---- */

int sm_list_append_str(sm_list *l, const char *s) {
  PROXY_REQUIRE(l && s);
  sm_value v = val_str_view(s);
  return sm_list_append(l, &v);
}

int sm_list_append_int(sm_list *l, int64_t i) {
  PROXY_REQUIRE(l);
  sm_value v = val_int_view(i);
  return sm_list_append(l, &v);
}

/* *out: caller frees with sm_free(). */
int sm_list_get_str(sm_list *l, int64_t index, char **out) {
  PROXY_REQUIRE(l && out);
  sm_value *v = NULL;
  int rc = sm_list_get(l, index, &v);
  return rc == SM_OK ? proxy_result_str(v, __func__, out) : rc;
}

int sm_list_get_int(sm_list *l, int64_t index, int64_t *out) {
  PROXY_REQUIRE(l && out);
  sm_value *v = NULL;
  int rc = sm_list_get(l, index, &v);
  return rc == SM_OK ? proxy_result_int(v, __func__, out) : rc;
}
