/* SPDX-License-Identifier: MIT */
/* t_semaphore.c - the "semaphore" and "bounded_semaphore" types: Python's
 * Semaphore and BoundedSemaphore (docs/protocol.md lists the methods). The
 * two share everything but the bound, so they live here together.
 *
 * The state is a counter and a FIFO of acquire calls waiting for a unit.
 * Every release with waiters signals the semaphore, and the serve pass
 * right after gives the units out in arrival order, so no request finds a
 * unit free while someone waits. A semaphore has no owner in Python; here each unit taken
 * is recorded against the session that took it (session.h; a release by
 * that session gives its record back), so that with the owner-death policy
 * release (the default, fence.h) the units of a connection that closes
 * return to the counter for the next waiters, and with break the next
 * grant after that answers OWNER_DEAD. A unit given to a waiter in the
 * serve pass is logged (cmd.h) as that waiter's acquire made without
 * waiting. Every unit granted advances the fencing token (fence.h). A
 * semaphore used for signalling, released by one connection and acquired
 * by another, should be created with policy keep (auto_release = false),
 * or a closing consumer gives back units it never released (and the
 * deadlock detection, waitfor.h, would take its holders for the only ones
 * that release it). The bounded kind never goes above its initial value,
 * not even through that automatic release. */
#include "blocked.h"
#include "cmd.h"
#include "fence.h"
#include "saved.h"
#include "session.h"
#include "types.h"

#include <stdio.h>
#include <stdlib.h>

/* A session holding units, and since when (the command time of its first
 * unit still held). */
typedef struct sem_hold {
  uint64_t session;
  int64_t since_ms;
} sem_hold;

typedef struct sem {
  bool bounded;
  fence_policy policy; /**< what a dead holder's units do */
  bool broken;         /**< a holder died (policy break): the next grant answers OWNER_DEAD */
  int64_t value;       /**< units free now */
  int64_t initial;     /**< the creation value: the bound of a bounded semaphore */
  uint64_t token;      /**< the fencing token of the last unit granted (0: none yet) */
  waitq waiters;       /**< acquire calls waiting for a unit */
  sem_hold *holds;     /**< the sessions holding units (none with policy keep) */
  size_t n_holds, cap_holds;
} sem;

static sem *sem_of(call *c) { return c->obj->state; }

static int note(registry *reg, const sem *s, uint64_t sid, sm_obj *o, int64_t delta) {
  if (s->policy == FENCE_KEEP) return 0;
  return sess_note_owned(reg, sid, o, delta);
}

/* Session sid got a unit: its hold begins now unless it held one already.
 * Out of memory only leaves its since unknown (the listing omits it). */
static void hold_begin(registry *reg, sem *s, uint64_t sid) {
  if (s->policy == FENCE_KEEP) return;
  for (size_t i = 0; i < s->n_holds; i++)
    if (s->holds[i].session == sid) return;
  if (s->n_holds == s->cap_holds) {
    size_t cap = s->cap_holds ? s->cap_holds * 2 : 4;
    sem_hold *h = realloc(s->holds, cap * sizeof *h);
    if (!h) return;
    s->holds = h;
    s->cap_holds = cap;
  }
  s->holds[s->n_holds++] = (sem_hold){sid, cmd_time(reg)};
}

/* Session sid's hold ends (it holds no unit any more). */
static void hold_end(sem *s, uint64_t sid) {
  for (size_t i = 0; i < s->n_holds; i++)
    if (s->holds[i].session == sid) {
      s->holds[i] = s->holds[--s->n_holds];
      return;
    }
}

/* Takes one unit for a grant: the next token, and whether it answers
 * OWNER_DEAD (a holder died since the last grant). */
static bool take_unit(sem *s) {
  s->value--;
  s->token++;
  bool broken = s->broken;
  s->broken = false;
  return broken;
}

/* The serve hook: free units go to waiters, first come first served. */
static void sem_serve(registry *reg, sm_obj *o) {
  sem *s = o->state;
  while (s->value > 0 && s->waiters.head) {
    waiter *w = s->waiters.head;
    bool broken = take_unit(s);
    /* Out of memory here only costs the automatic release on close. */
    note(reg, s, blk_session(w), o, 1);
    hold_begin(reg, s, blk_session(w));
    cmd_log_served(reg, w, o->id, "acquire", NULL, 0);
    blk_answer_grant(w, s->token, broken);
  }
}

/* acquire() -> true [blocks while 0; TIMEOUT] */
static int m_acquire(call *c) {
  sem *s = sem_of(c);
  if (s->value > 0) {
    if (note(c->reg, s, c->session, c->obj, 1) != 0)
      return call_fail(c, WS_INTERNAL, "out of memory");
    c->owner_dead = take_unit(s);
    c->token = s->token;
    hold_begin(c->reg, s, c->session);
    vb_bool(c->out, true);
    return WS_OK;
  }
  if (blk_may_wait(c)) return blk_park(c, c->obj, &s->waiters, NULL, 1, NULL);
  return call_fail(c, WS_TIMEOUT, "%s has no unit free", c->obj->type->name);
}

/* release([n = 1]): bounded, VALUE_ERROR past the initial value (nothing
 * released). */
static int m_release(call *c) {
  int64_t n = 1;
  int rc = c->nargs == 1 ? call_arg_int(c, 0, &n) : WS_OK;
  if (rc != WS_OK) return rc;
  sem *s = sem_of(c);
  if (n < 1) return call_fail(c, WS_VALUE_ERROR, "n must be one or more");
  if (n > INT64_MAX - s->value || (s->bounded && s->value + n > s->initial))
    return call_fail(c, WS_VALUE_ERROR, "%s released too many times", c->obj->type->name);
  note(c->reg, s, c->session, c->obj, -n);
  if (sess_owned_units(c->reg, c->session, c->obj->id) == 0) hold_end(s, c->session);
  s->value += n;
  if (s->waiters.head) blk_signal(c->reg, c->obj);
  return WS_OK;
}

/* get_value -> int */
static int m_get_value(call *c) {
  vb_int(c->out, sem_of(c)->value);
  return WS_OK;
}

/* Creation: [value:int = 1, policy = "release"] (fence.h: a bool
 * auto_release, or "release", "break", "keep"); nil means the default. */
static int create(call *c, bool bounded, void **state) {
  int64_t value = 1;
  fence_policy policy = FENCE_RELEASE;
  vinfo vi;
  int rc = call_nargs(c, 0, 2);
  if (rc == WS_OK && c->nargs >= 1 && (call_arg(c, 0, &vi), vi.kind != VK_NIL))
    rc = call_arg_int(c, 0, &value);
  if (rc == WS_OK) rc = fence_policy_arg(c, 1, &policy);
  if (rc != WS_OK) return rc;
  if (value < 0) return call_fail(c, WS_VALUE_ERROR, "semaphore initial value must be >= 0");
  sem *s = calloc(1, sizeof *s);
  if (!s) return call_fail(c, WS_INTERNAL, "out of memory");
  s->bounded = bounded;
  s->policy = policy;
  s->value = s->initial = value;
  *state = s;
  return WS_OK;
}

static int sem_create(call *c, void **state) { return create(c, false, state); }
static int bsem_create(call *c, void **state) { return create(c, true, state); }

static void sem_destroy(registry *reg, void *state) {
  (void)reg;
  sem *s = state;
  if (!s) return;
  blk_cancel_all(&s->waiters, WS_NOT_FOUND, "object deleted");
  free(s->holds);
  free(s);
}

/* The units an ended session took and did not release come back. */
static void sem_owner_gone(registry *reg, sm_obj *o, uint64_t sid, uint64_t count) {
  (void)sid;
  sem *s = o->state;
  if (s->policy == FENCE_KEEP) return;
  hold_end(s, sid);
  if (s->policy == FENCE_BREAK) s->broken = true;
  int64_t room = (s->bounded ? s->initial : INT64_MAX) - s->value;
  s->value += count > (uint64_t)room ? room : (int64_t)count;
  if (s->waiters.head) blk_signal(reg, o);
}

/* Saved as [value, initial value (the bound), auto_release, token, policy,
 * broken, holds: [session, since] rows] (auto_release is policy != keep,
 * for older readers; a state saved before holds were kept has the first
 * six, one saved before fencing the first three); which units each
 * session holds is the session table's (snapshot.h's extra). */
static int sem_save(const void *state, vbuf *out) {
  const sem *s = state;
  size_t m = vb_list_begin(out);
  saved_put_int(out, s->value);
  saved_put_int(out, s->initial);
  saved_put_bool(out, s->policy != FENCE_KEEP);
  saved_put_int(out, (int64_t)s->token);
  saved_put_int(out, s->policy);
  saved_put_bool(out, s->broken);
  int64_t *rows = malloc((s->n_holds ? s->n_holds : 1) * 2 * sizeof *rows);
  if (!rows) return WS_INTERNAL;
  for (size_t i = 0; i < s->n_holds; i++) {
    rows[2 * i] = (int64_t)s->holds[i].session;
    rows[2 * i + 1] = s->holds[i].since_ms;
  }
  saved_put_ints(out, rows, 2 * s->n_holds);
  free(rows);
  vb_list_end(out, m);
  return saved_status(out);
}

static int sem_load(registry *reg, const obj_type *t, sm_span saved, void **state, char *err,
                    size_t errlen) {
  (void)reg;
  vinfo f[7];
  int rc = saved_fields(saved, "iibiibl", f, NULL, t->name, err, errlen);
  if (rc != WS_OK && saved_fields(saved, "iibiib", f, NULL, t->name, err, errlen) == WS_OK) {
    f[6].kind = VK_NIL; /* saved before holds were kept: each holder's since unknown */
    rc = WS_OK;
  }
  if (rc != WS_OK && saved_fields(saved, "iib", f, NULL, t->name, err, errlen) == WS_OK) {
    f[6].kind = VK_NIL;
    f[3].i = 0;
    f[4].i = f[2].b ? FENCE_RELEASE : FENCE_KEEP;
    f[5].b = false;
    rc = WS_OK;
  }
  if (rc != WS_OK) return rc;
  bool bounded = t == &t_bounded_semaphore_type;
  if (f[3].i < 0 || !fence_policy_valid(f[4].i)) {
    snprintf(err, errlen, "a saved %s has token %lld and policy %lld", t->name, (long long)f[3].i,
             (long long)f[4].i);
    return WS_VALUE_ERROR;
  }
  if (f[0].i < 0 || f[1].i < 0 || (bounded && f[0].i > f[1].i)) {
    snprintf(err, errlen, "a saved %s has value %lld of %lld", t->name, (long long)f[0].i,
             (long long)f[1].i);
    return WS_VALUE_ERROR;
  }
  int64_t *rows = NULL;
  size_t n = 0;
  if (f[6].kind == VK_LIST &&
      (rc = saved_ints(f[6].data, 2, &rows, &n, t->name, err, errlen)) != WS_OK)
    return rc;
  sem *s = calloc(1, sizeof *s);
  sem_hold *holds = n ? malloc(n / 2 * sizeof *holds) : NULL;
  if (!s || (n && !holds)) {
    free(s);
    free(holds);
    free(rows);
    snprintf(err, errlen, "out of memory");
    return WS_INTERNAL;
  }
  for (size_t i = 0; i < n / 2; i++)
    holds[i] = (sem_hold){(uint64_t)rows[2 * i], rows[2 * i + 1]};
  free(rows);
  s->holds = holds;
  s->n_holds = s->cap_holds = n / 2;
  s->bounded = bounded;
  s->value = f[0].i;
  s->initial = f[1].i;
  s->token = (uint64_t)f[3].i;
  s->policy = (fence_policy)f[4].i;
  s->broken = f[5].b;
  *state = s;
  return WS_OK;
}

/* A semaphore's current grant is its last unit granted: a guard holds
 * while no unit was granted since. */
static bool sem_fence_token(const void *state, uint64_t *token) {
  const sem *s = state;
  *token = s->token;
  return s->token != 0;
}

/* The sessions holding units (the session table's records, which policy
 * keep does not make: then anyone may release, and no wait on it is part
 * of a deadlock). */
static bool sem_holders(registry *reg, const sm_obj *o, holder_visit_fn visit, void *ctx) {
  const sem *s = o->state;
  if (s->policy == FENCE_KEEP) return false;
  sess_each_holder(reg, o->id, visit, ctx);
  return true;
}

static int64_t sem_held_since(const sm_obj *o, uint64_t sid) {
  const sem *s = o->state;
  for (size_t i = 0; i < s->n_holds; i++)
    if (s->holds[i].session == sid) return s->holds[i].since_ms;
  return 0;
}

static const method_def sem_methods[] = {
    {"acquire", m_acquire, METHOD_MUTATES | ARGS(0, 0)},
    {"release", m_release, METHOD_MUTATES | ARGS(0, 1)},
    {"get_value", m_get_value, ARGS(0, 0)},
};

/* A semaphore has no size: ls omits it. */
const obj_type t_semaphore_type = {
    .name = "semaphore",
    .create = sem_create,
    .destroy = sem_destroy,
    .size = NULL,
    .owner_gone = sem_owner_gone,
    .serve = sem_serve,
    .save = sem_save,
    .load = sem_load,
    .fence_token = sem_fence_token,
    .holders = sem_holders,
    .held_since = sem_held_since,
    .methods = sem_methods,
    .n_methods = sizeof sem_methods / sizeof sem_methods[0],
};

const obj_type t_bounded_semaphore_type = {
    .name = "bounded_semaphore",
    .create = bsem_create,
    .destroy = sem_destroy,
    .size = NULL,
    .owner_gone = sem_owner_gone,
    .serve = sem_serve,
    .save = sem_save,
    .load = sem_load,
    .fence_token = sem_fence_token,
    .holders = sem_holders,
    .held_since = sem_held_since,
    .methods = sem_methods,
    .n_methods = sizeof sem_methods / sizeof sem_methods[0],
};
