/* SPDX-License-Identifier: MIT */
/* txn_undo.c - undo images of the objects a transaction changes, and the
 * rollback that puts them back (txn_undo.h). */
#include "txn_undo.h"

#include "expire.h"
#include "log.h"
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>

struct undo_image {
  sm_obj *o;     /* borrowed: freeing waits for reg_release_frees */
  vbuf saved;    /* o's state as its type's save wrote it */
  wch_point rev; /* o's revision before */
};

int undo_keep(txn_undo *u, sm_obj *o, char *err, size_t errlen) {
  for (size_t i = 0; i < u->n; i++)
    if (u->images[i].o == o) return WS_OK;
  if (!o->type->save || !o->type->load) {
    snprintf(err, errlen, "a %s cannot be rolled back", o->type->name);
    return WS_TYPE_ERROR;
  }
  if (u->n == u->cap) {
    size_t cap = u->cap ? u->cap * 2 : 4;
    undo_image *p = realloc(u->images, cap * sizeof *p);
    if (!p) goto oom;
    u->images = p;
    u->cap = cap;
  }
  undo_image *im = &u->images[u->n];
  im->o = o;
  im->rev = wch_here(o);
  vb_init(&im->saved);
  if (o->type->save(o->state, &im->saved) != WS_OK || im->saved.failed) {
    vb_free(&im->saved);
    goto oom;
  }
  u->n++;
  return WS_OK;
oom:
  snprintf(err, errlen, "out of memory keeping the undo image of %s %llu", o->type->name,
           (unsigned long long)o->id);
  return WS_INTERNAL;
}

/* A reference the loaded image holds, counted again. */
static void hold_ref(void *ctx, uint64_t id) {
  registry *reg = ctx;
  reg_incref(reg, reg_get(reg, id));
}

int undo_restore(registry *reg, txn_undo *u, char *err, size_t errlen) {
  int rc = WS_OK;
  for (size_t i = 0; i < u->n; i++) {
    sm_obj *o = u->images[i].o;
    const obj_type *t = o->type;
    void *state;
    char why[200];
    if (t->load(reg, t, vb_span(&u->images[i].saved), &state, why, sizeof why) != WS_OK) {
      log_error("transaction rollback: %s %llu keeps the rolled back changes: %s", t->name,
                (unsigned long long)o->id, why);
      snprintf(err, errlen, "the rollback of %s %llu failed: %s", t->name,
               (unsigned long long)o->id, why);
      rc = WS_INTERNAL;
      continue;
    }
    if (t->traverse) t->traverse(state, hold_ref, reg);
    if (t->move_waiters) t->move_waiters(reg, o, o->state, state);
    t->destroy(reg, o->state);
    o->state = state;
    wch_back(o, u->images[i].rev);
    reg_measure(reg, o);
    exp_update(reg, o);
  }
  return rc;
}

void undo_free(txn_undo *u) {
  for (size_t i = 0; i < u->n; i++)
    vb_free(&u->images[i].saved);
  free(u->images);
  *u = (txn_undo){0};
}
