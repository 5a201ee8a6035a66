/* SPDX-License-Identifier: MIT */
/* cycles.c - the cycle collector of anonymous objects (see cycles.h).
 *
 * A batch works on sm_obj scratch fields: cyc_mark says whether the object
 * is in the batch's graph and whether it was found alive, and cyc_refs
 * counts the references still unexplained by the graph. The graph and the
 * stack of live objects are arrays, so a long chain of objects never
 * recurses. Every mark is cleared before the batch returns. A batch runs
 * when its timer says, so what it frees is a decision of the daemon's: it is
 * logged (cmd.h) as the manager's internal "_collect" of those ids, which a
 * replay applies as it is. */
#include "cycles.h"

#include "cmd.h"
#include "log.h"
#include "registry.h"

#include <event2/event.h>
#include <stdlib.h>

#define CYC_IN 1u   /* in the batch's graph */
#define CYC_LIVE 2u /* held from outside, or reached from such an object */

/* A growable array of objects. */
typedef struct objvec {
  sm_obj **v;
  size_t n, cap;
  bool failed; /* a push ran out of memory */
} objvec;

static void push(objvec *a, sm_obj *o) {
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 64;
    sm_obj **p = realloc(a->v, cap * sizeof *p);
    if (!p) {
      a->failed = true;
      return;
    }
    a->v = p;
    a->cap = cap;
  }
  a->v[a->n++] = o;
}

/* Logs the freeing of the n objects of garbage as one command. */
static void log_garbage(registry *reg, sm_obj **garbage, size_t n) {
  if (!cmd_logging(reg)) return;
  vbuf ids;
  vb_init(&ids);
  size_t list = vb_list_begin(&ids);
  uint8_t raw[16];
  for (size_t i = 0; i < n; i++) {
    vbuf one = {.p = raw, .cap = sizeof raw}; /* a packed int takes at most 11 */
    vb_int(&one, (int64_t)garbage[i]->id);
    vb_list_item(&ids, vb_span(&one));
  }
  vb_list_end(&ids, list);
  sm_span arg = vb_span(&ids);
  if (ids.failed)
    log_error("cycle collector: out of memory logging %zu objects freed: not logged", n);
  else
    cmd_log_call(reg, 0, 0, "_collect", &arg, 1);
  vb_free(&ids);
}

static void batch_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  cyc_collect(arg);
}

void cyc_suspect(cycles *cy, sm_obj *o) {
  if (o->cyc_slot) return;
  if (cy->n_suspects == cy->cap_suspects) {
    size_t cap = cy->cap_suspects ? cy->cap_suspects * 2 : 64;
    sm_obj **p = realloc(cy->suspects, cap * sizeof *p);
    if (!p) return;
    cy->suspects = p;
    cy->cap_suspects = cap;
  }
  cy->suspects[cy->n_suspects++] = o;
  o->cyc_slot = cy->n_suspects;
  if (!cy->base) return;
  if (!cy->ev && !(cy->ev = evtimer_new(cy->base, batch_cb, cy))) return;
  if (!evtimer_pending(cy->ev, NULL)) {
    struct timeval tv = {0, CYC_DELAY_MS * 1000};
    evtimer_add(cy->ev, &tv);
  }
}

void cyc_forget(cycles *cy, sm_obj *o) {
  if (!o->cyc_slot) return;
  size_t i = o->cyc_slot - 1;
  sm_obj *last = cy->suspects[--cy->n_suspects];
  cy->suspects[i] = last;
  last->cyc_slot = i + 1;
  o->cyc_slot = 0;
}

/* The state of one batch, for the visit callbacks. */
typedef struct batch {
  registry *reg;
  objvec graph; /* every object with CYC_IN */
  objvec live;  /* the stack of live objects whose children are still to mark */
} batch;

/* Only anonymous objects whose type holds references take part. */
static sm_obj *member(batch *b, uint64_t id) {
  sm_obj *o = reg_get(b->reg, id);
  return o && !o->name && o->type->traverse ? o : NULL;
}

/* Adds o to the graph (out of memory: it stays out, and the batch frees
 * nothing). */
static void enter(batch *b, sm_obj *o) {
  push(&b->graph, o);
  if (b->graph.failed) return;
  o->cyc_mark = CYC_IN;
  o->cyc_refs = (int64_t)o->refs;
}

/* A reference held inside the graph: it explains one count of its target. */
static void subtract(void *ctx, uint64_t id) {
  batch *b = ctx;
  sm_obj *o = member(b, id);
  if (!o) return;
  if (!(o->cyc_mark & CYC_IN)) enter(b, o);
  if (o->cyc_mark & CYC_IN) o->cyc_refs--;
}

/* What a live object refers to lives too. */
static void reach(void *ctx, uint64_t id) {
  batch *b = ctx;
  sm_obj *o = member(b, id);
  if (!o || !(o->cyc_mark & CYC_IN) || (o->cyc_mark & CYC_LIVE)) return;
  o->cyc_mark |= CYC_LIVE;
  push(&b->live, o);
}

size_t cyc_collect(cycles *cy) {
  if (cy->running || cy->n_suspects == 0) return 0;
  cy->running = true;
  if (cy->ev) evtimer_del(cy->ev);
  batch b = {.reg = cy->reg};
  for (size_t i = 0; i < cy->n_suspects; i++) {
    sm_obj *o = cy->suspects[i];
    o->cyc_slot = 0;
    if (!(o->cyc_mark & CYC_IN) && o->refs > 0) enter(&b, o);
  }
  cy->n_suspects = 0;
  /* The graph grows while it is walked: each member is traversed once. */
  for (size_t i = 0; i < b.graph.n; i++)
    b.graph.v[i]->type->traverse(b.graph.v[i]->state, subtract, &b);
  bool sound = !b.graph.failed;
  for (size_t i = 0; i < b.graph.n && sound; i++) {
    sm_obj *o = b.graph.v[i];
    if (o->cyc_refs < 0) {
      /* A traverse hook visited a reference it never took: trust nothing. */
      log_error("cycle collector: object %llu (%s) has more references inside than its count",
                (unsigned long long)o->id, o->type->name);
      sound = false;
    } else if (o->cyc_refs > 0 && !(o->cyc_mark & CYC_LIVE)) {
      o->cyc_mark |= CYC_LIVE;
      push(&b.live, o);
    }
  }
  if (b.live.failed) sound = false;
  while (sound && b.live.n > 0) {
    sm_obj *o = b.live.v[--b.live.n];
    o->type->traverse(o->state, reach, &b);
    if (b.live.failed) sound = false;
  }
  /* Garbage moves to the front of the graph array; every mark is cleared. */
  size_t n_garbage = 0;
  for (size_t i = 0; i < b.graph.n; i++) {
    sm_obj *o = b.graph.v[i];
    if (sound && !(o->cyc_mark & CYC_LIVE)) b.graph.v[n_garbage++] = o;
    o->cyc_mark = 0;
    o->cyc_refs = 0;
  }
  if (n_garbage > 0) {
    log_debug("cycle collector: %zu of %zu objects held only by each other", n_garbage, b.graph.n);
    log_garbage(cy->reg, b.graph.v, n_garbage);
    reg_destroy_set(cy->reg, b.graph.v, n_garbage);
  }
  free(b.graph.v);
  free(b.live.v);
  cy->collections++;
  cy->collected += n_garbage;
  cy->running = false;
  return n_garbage;
}

void cyc_set_base(cycles *cy, struct event_base *base) {
  cy->base = base;
  if (!base || cy->n_suspects == 0) return;
  /* Suspects gathered while no batch could run (a member of a replicated
   * group that followed): a batch looks at them now. */
  if (!cy->ev && !(cy->ev = evtimer_new(base, batch_cb, cy))) return;
  if (!evtimer_pending(cy->ev, NULL)) {
    struct timeval tv = {0, CYC_DELAY_MS * 1000};
    evtimer_add(cy->ev, &tv);
  }
}

void cyc_release(cycles *cy) {
  for (size_t i = 0; i < cy->n_suspects; i++)
    cy->suspects[i]->cyc_slot = 0;
  free(cy->suspects);
  cy->suspects = NULL;
  cy->n_suspects = cy->cap_suspects = 0;
  if (cy->ev) event_free(cy->ev);
  cy->ev = NULL;
  cy->base = NULL;
}
