/* SPDX-License-Identifier: MIT */
/* txn_undo.c - undo images of the objects a transaction changes, and the
 * rollback that puts them back (txn_undo.h). */
#include "txn_undo.h"

#include "expire.h"
#include "log.h"
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void undo_init(txn_undo *u) {
  u->images = u->local;
  u->n = 0;
  u->cap = UNDO_LOCAL;
  vb_init(&u->saved);
}

int undo_keep(txn_undo *u, sm_obj *o, char *err, size_t errlen) {
  for (size_t i = 0; i < u->n; i++)
    if (u->images[i].o == o) return WS_OK;
  if (!o->type->save || !o->type->load) {
    snprintf(err, errlen, "a %s cannot be rolled back", o->type->name);
    return WS_TYPE_ERROR;
  }
  if (u->n == u->cap) {
    size_t cap = u->cap * 2;
    undo_image *p = malloc(cap * sizeof *p);
    if (!p) goto oom;
    memcpy(p, u->images, u->n * sizeof *p);
    if (u->images != u->local) free(u->images);
    u->images = p;
    u->cap = cap;
  }
  size_t off = u->saved.len;
  if (o->type->save(o->state, &u->saved) != WS_OK || u->saved.failed) {
    u->saved.len = off;
    u->saved.failed = false; /* the images kept so far are whole */
    goto oom;
  }
  u->images[u->n++] =
      (undo_image){.o = o, .off = off, .len = u->saved.len - off, .rev = wch_here(o)};
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
    sm_span saved = {u->saved.p + u->images[i].off, u->images[i].len};
    if (t->load(reg, t, saved, &state, why, sizeof why) != WS_OK) {
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
  if (u->images != u->local) free(u->images);
  vb_free(&u->saved);
  undo_init(u);
}
