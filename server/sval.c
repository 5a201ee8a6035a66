/* SPDX-License-Identifier: MIT */
/* sval.c - stored values (see sval.h): one allocation holding the packed
 * bytes, plus one reference on each anonymous object the value refers to,
 * taken when stored and given back when freed. Each value counts its own
 * block in the registry's memory account (memory.h). */
#include "sval.h"

#include "../proto/vequal.h"
#include "memory.h"
#include "registry.h"

#include <stdlib.h>
#include <string.h>

typedef struct ref_walk {
  registry *reg;
  bool hold; /* true: take references, false: drop them */
  size_t seen;
} ref_walk;

static int ref_one(void *ctx, uint64_t id, sm_span type) {
  (void)type;
  ref_walk *w = ctx;
  sm_obj *o = reg_get(w->reg, id); /* NULL while the registry is torn down */
  if (w->hold)
    reg_incref(w->reg, o);
  else
    reg_decref(w->reg, o);
  w->seen++;
  return 0;
}

/* A counted copy of packed with no flags yet; NULL when out of memory or
 * longer than 4 GiB. */
static sval *copy(registry *reg, sm_span packed) {
  if (packed.n > UINT32_MAX) return NULL;
  sval *v = malloc(sizeof *v + packed.n);
  if (!v) return NULL;
  v->len = (uint32_t)packed.n;
  v->flags = 0;
  mem_add(reg_mem(reg), mem_chunk(sizeof *v + packed.n));
  if (packed.n) memcpy(v->data, packed.p, packed.n);
  return v;
}

/* Caller owns the result: free with sval_free(). */
sval *sval_new(registry *reg, sm_span packed, unsigned flags) {
  sval *v = copy(reg, packed);
  if (v && (flags & VW_FLAG_HAS_REF)) {
    /* A container's flag may come from a sibling: keep it only when this
     * value really holds a ref, so freeing plain values never walks them. */
    ref_walk w = {reg, true, 0};
    vw_each_ref(sval_span(v), ref_one, &w);
    if (w.seen) v->flags = VW_FLAG_HAS_REF;
  }
  return v;
}

static int count_ref(void *ctx, uint64_t id, sm_span type) {
  (void)id;
  (void)type;
  ++*(size_t *)ctx;
  return 1; /* one is enough to know */
}

/* Caller owns the result: free with sval_free(). */
sval *sval_restore(registry *reg, sm_span packed) {
  sval *v = copy(reg, packed);
  size_t refs = 0;
  if (v) vw_each_ref(sval_span(v), count_ref, &refs);
  if (refs) v->flags = VW_FLAG_HAS_REF;
  return v;
}

void sval_free(registry *reg, sval *v) {
  if (!v) return;
  if (v->flags & VW_FLAG_HAS_REF) {
    ref_walk w = {reg, false, 0};
    vw_each_ref(sval_span(v), ref_one, &w);
  }
  mem_sub(reg_mem(reg), mem_chunk(sizeof *v + v->len));
  free(v);
}

typedef struct visit_ctx {
  ref_visit_fn visit;
  void *ctx;
} visit_ctx;

static int visit_one(void *ctx, uint64_t id, sm_span type) {
  (void)type;
  visit_ctx *vc = ctx;
  vc->visit(vc->ctx, id);
  return 0;
}

void sval_traverse(const sval *v, ref_visit_fn visit, void *ctx) {
  if (!(v->flags & VW_FLAG_HAS_REF)) return;
  visit_ctx vc = {visit, ctx};
  vw_each_ref(sval_span(v), visit_one, &vc);
}

/* Borrowed while v lives. */
sm_span sval_span(const sval *v) { return (sm_span){v->data, v->len}; }

bool sval_equals(const sval *v, sm_span packed) { return veq_match(sval_span(v), packed); }
