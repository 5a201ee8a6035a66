/* SPDX-License-Identifier: MIT */
/* value_internal.h - the layout of sm_value, the codec between sm_value
 * trees and packed Value bytes, and the map insertion both use; shared by
 * value.c, codec.c and the proxy files. */
#ifndef SM_CLIENT_VALUE_INTERNAL_H
#define SM_CLIENT_VALUE_INTERNAL_H

#include "../proto/vwire.h"
#include "statemgr.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct val_entry {
  sm_value *key; /**< owned; never a list or a map */
  sm_value *val; /**< owned */
  uint64_t hash; /**< veq_hash_info of the key (proto/vequal.h) */
} val_entry;

struct sm_value {
  sm_type type;
  union {
    bool b;    /**< SM_BOOL */
    int64_t i; /**< SM_INT */
    double d;  /**< SM_DOUBLE */
    struct {
      char *p; /**< owned, always NUL-terminated */
      size_t n;
    } s; /**< SM_STR, SM_BYTES */
    struct {
      sm_value **items; /**< owned elements */
      size_t n, cap;
    } list; /**< SM_LIST */
    struct {
      val_entry *entries; /**< insertion order, no two keys equal */
      size_t n, cap;
      /** 2 * cap slots, each an entry number + 1 (0: empty); NULL while the
       * map is small enough to scan. */
      uint32_t *index;
    } map; /**< SM_MAP */
    struct {
      char *type; /**< owned type name */
      uint64_t id;
    } ref; /**< SM_REF */
  } u;
};

/* A zeroed value of kind t (caller frees with sm_value_free()), or NULL. */
static inline sm_value *val_new(sm_type t) {
  sm_value *v = calloc(1, sizeof *v);
  if (v) v->type = t;
  return v;
}

/* Makes room for one more element of size elem in *arr. */
static inline bool val_reserve(void **arr, size_t *cap, size_t n, size_t elem) {
  if (n < *cap) return true;
  size_t ncap = *cap ? *cap * 2 : 4;
  if (ncap > SIZE_MAX / elem) return false;
  void *p = realloc(*arr, ncap * elem);
  if (!p) return false;
  *arr = p;
  *cap = ncap;
  return true;
}

/* Appends item to a list without checks. On failure (false) item is still
 * the caller's. */
static inline bool val_list_push(sm_value *l, sm_value *item) {
  if (!val_reserve((void **)&l->u.list.items, &l->u.list.cap, l->u.list.n, sizeof(sm_value *)))
    return false;
  l->u.list.items[l->u.list.n++] = item;
  return true;
}

/* Sets k to v in map m, both owned by the map on success: a new key is
 * appended; a key equal to one already there (proto/vequal.h: 1, 1.0 and
 * True are one key) keeps that first key and its place, and v replaces its
 * value, as in a Python dict (k and the old value are freed). Returns 0, or
 * SM_ENOMEM with k and v still the caller's. k must not be a list or map. */
int val_map_put(sm_value *m, sm_value *k, sm_value *v);

/* The top level of v as vequal.h reads it (NULL is nil). Spans and the ref
 * type borrow from v; a list or map has its kind only. */
void val_info(const sm_value *v, vinfo *out);

/* A reference to object id of the given type (caller frees), or NULL. */
static inline sm_value *val_ref_new(uint64_t id, const char *type, size_t tlen) {
  sm_value *v = val_new(SM_REF);
  if (!v) return NULL;
  v->u.ref.type = malloc(tlen + 1);
  if (!v->u.ref.type) {
    free(v);
    return NULL;
  }
  memcpy(v->u.ref.type, type, tlen);
  v->u.ref.type[tlen] = '\0';
  v->u.ref.id = id;
  return v;
}

/* Detaches and returns element i of list, leaving a hole (NULL) that only
 * sm_value_free() tolerates: free the list right after. */
static inline sm_value *val_list_take(sm_value *list, size_t i) {
  sm_value *item = list->u.list.items[i];
  list->u.list.items[i] = NULL;
  return item;
}

/* Stack values that borrow their contents, for passing arguments without
 * allocating. Never free them or store them. */
static inline sm_value val_int_view(int64_t i) {
  sm_value v = {.type = SM_INT};
  v.u.i = i;
  return v;
}

static inline sm_value val_double_view(double d) {
  sm_value v = {.type = SM_DOUBLE};
  v.u.d = d;
  return v;
}

static inline sm_value val_bool_view(bool b) {
  sm_value v = {.type = SM_BOOL};
  v.u.b = b;
  return v;
}

static inline sm_value val_str_view(const char *s) {
  sm_value v = {.type = SM_STR};
  v.u.s.p = (char *)(uintptr_t)s;
  v.u.s.n = strlen(s);
  return v;
}

/* Appends v as one packed Value to out (nil appends nothing). Returns 0,
 * SM_EVALUE when lists and maps nest deeper than max_depth levels (the
 * daemon's limit, client_max_depth), or SM_ENOMEM. Sets no error text. */
int val_encode(const sm_value *v, vbuf *out, unsigned max_depth);

/* Builds a value from packed bytes (empty = nil) nested at most
 * VW_DEPTH_REPLY_MAX levels: every value a daemon stores, and its results
 * that wrap them. Returns 0 with *out set (caller frees with
 * sm_value_free()), SM_EPROTO when the bytes are not a valid packed Value,
 * or SM_ENOMEM. Sets no error text. */
int val_decode(sm_span in, sm_value **out);

/* Map entries examined by key lookups on this thread so far: the work of
 * building and reading maps, which tests hold to linear. */
uint64_t val_map_probes(void);

/* A kind as error texts name it, with its article ("an int", "nil"). */
const char *val_kind_name(sm_type t);

#endif
