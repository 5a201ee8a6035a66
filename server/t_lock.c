/* SPDX-License-Identifier: MIT */
/* t_lock.c - the "lock" type (Python's Lock) and the lock core that "rlock"
 * and "condition" use through t_lock.h (docs/protocol.md lists the methods).
 *
 * A lock is held by one connection (a client thread) at a time; an rlock
 * may be acquired again by its holder, which must release it as many times.
 * Calls that find it held wait in one FIFO and get it in arrival order: a
 * release that frees the lock signals it, and the serve pass right after
 * hands it to the first waiter, so no request ever finds a lock free while
 * someone waits for it.
 *
 What a dead holder leaves is the lock's owner-death policy (fence.h),
 * chosen at creation. With release (the default) or break every
 * acquisition is recorded against the holder's session (session.h), and
 * when that session ends lk_owner_gone() releases the lock for the next
 * waiter (with break, that grant answers OWNER_DEAD); only the holder may
 * release it (NOT_OWNER otherwise), since that ownership is what lets the
 * daemon give back a lock whose holder died. With keep a lock is Python's
 * Lock: a dead holder keeps it, and any connection may release it (the way
 * out of that). An rlock is released by its holder only, as Python's RLock,
 * whatever the policy.
 *
 * Every grant of the first level advances the lock's fencing token
 * (fence.h), which the grant answers in Response.token.
 *
 * Commands (cmd.h): an acquire that gets the lock at once and a release are
 * logged by dispatch; the two decisions made here are logged where they
 * are made, as calls of internal methods: grant() hands the lock to a
 * waiter ("_grant" n, by the waiter's session), and lk_release_all() gives
 * up every level for a condition's wait ("_release_all", by the holder). */
#include "t_lock.h"

#include "cmd.h"
#include "fence.h"
#include "saved.h"
#include "session.h"
#include "types.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct lk {
  bool recursive;      /**< rlock */
  fence_policy policy; /**< what a dead holder leaves */
  bool held;
  bool broken;      /**< its holder died (policy break): the next grant answers OWNER_DEAD */
  uint64_t owner;   /**< session id of the holder, when held */
  int64_t count;    /**< recursion level of the holder, when held */
  uint64_t token;   /**< the fencing token of the last grant (0: never granted) */
  int64_t since_ms; /**< when held: the grant's command time (0: unknown, an older state) */
  waitq waiters;    /**< calls waiting for the lock (lk_waiter_ops) */
} lk;

static lk *lk_of(const sm_obj *lo) { return lo->state; }

uint64_t lk_caller(const call *c) { return c->session; }

/* Records delta acquisitions of lo for session sid. Returns -1 when out of
 * memory (nothing recorded). */
static int note(registry *reg, const lk *l, uint64_t sid, sm_obj *lo, int64_t delta) {
  if (l->policy == FENCE_KEEP) return 0;
  return sess_note_owned(reg, sid, lo, delta);
}

/* Logs the decision method on lo by session sid, with an int argument when
 * n >= 0. */
static void log_decision(registry *reg, sm_obj *lo, uint64_t sid, const char *method, int64_t n) {
  if (!cmd_logging(reg)) return;
  uint8_t raw[16];
  vbuf arg = {.p = raw, .cap = sizeof raw}; /* a packed int takes at most 11 */
  if (n >= 0) vb_int(&arg, n);
  sm_span a = vb_span(&arg);
  cmd_log_call(reg, sid, lo->id, method, &a, n >= 0 ? 1 : 0);
}

/* The granted hook of plain acquire calls. */
static void acquire_granted(registry *reg, waiter *w) {
  (void)reg;
  blk_answer_bool(w, true);
}

/* Deadline: the default TIMEOUT answer. Nothing to drop. */
static const lk_waiter_ops acquire_ops = {{NULL, NULL}, acquire_granted};

/* Makes session sid the holder of free lock lo, count levels deep: a new
 * grant, with the next fencing token. Returns true when the last holder
 * died holding it (policy break): the grant answers OWNER_DEAD. */
static bool take(registry *reg, sm_obj *lo, uint64_t sid, int64_t count) {
  lk *l = lk_of(lo);
  l->held = true;
  l->owner = sid;
  l->count = count;
  l->token++;
  l->since_ms = cmd_time(reg);
  bool broken = l->broken;
  l->broken = false;
  /* Out of memory here only costs the automatic release on close. */
  note(reg, l, sid, lo, count);
  return broken;
}

/* Makes w the holder of lo and answers it. */
static void grant(registry *reg, sm_obj *lo, waiter *w) {
  bool broken = take(reg, lo, blk_session(w), w->n);
  if (w->ops == &acquire_ops.base) {
    /* A plain acquire's answer (true) is the one a replay of _grant gives:
     * it is kept for a resend. A condition's waits log their own grant
     * (their granted hook), as they answer otherwise. */
    uint8_t raw[16];
    vbuf arg = {.p = raw, .cap = sizeof raw};
    vb_int(&arg, w->n);
    sm_span a = vb_span(&arg);
    cmd_log_served(reg, w, lo->id, "_grant", &a, 1);
    blk_answer_grant(w, lk_of(lo)->token, broken);
    return;
  }
  /* A condition's wait gets its lock back: its answer is the wait's (its
   * granted hook logs the grant), and carries neither the token nor the
   * broken mark. */
  ((const lk_waiter_ops *)w->ops)->granted(reg, w);
}

void lk_log_grant(registry *reg, sm_obj *lo, const waiter *w) {
  log_decision(reg, lo, blk_session(w), "_grant", w->n);
}

int lk_take_free(registry *reg, sm_obj *lo, uint64_t sid, int64_t count) {
  if (lk_of(lo)->held || count < 1) return -1;
  take(reg, lo, sid, count);
  return 0;
}

/* The one place a lock passes to a waiter: a free lock goes to the first. */
void lk_serve(registry *reg, sm_obj *lo) {
  lk *l = lk_of(lo);
  if (!l->held && l->waiters.head) grant(reg, lo, l->waiters.head);
}

/* lo was just freed: its first waiter gets it in the serve pass. */
static void freed(registry *reg, sm_obj *lo) {
  if (lk_of(lo)->waiters.head) blk_signal(reg, lo);
}

int lk_create(call *c, bool recursive, void **state) {
  fence_policy policy = FENCE_RELEASE;
  int rc = call_nargs(c, 0, 1);
  if (rc == WS_OK) rc = fence_policy_arg(c, 0, &policy);
  if (rc != WS_OK) return rc;
  lk *l = calloc(1, sizeof *l);
  if (!l) return call_fail(c, WS_INTERNAL, "out of memory");
  l->recursive = recursive;
  l->policy = policy;
  *state = l;
  return WS_OK;
}

void lk_destroy(registry *reg, void *state) {
  (void)reg;
  lk *l = state;
  if (!l) return;
  blk_cancel_all(&l->waiters, WS_NOT_FOUND, "object deleted");
  free(l);
}

int lk_save(const void *state, vbuf *out) {
  const lk *l = state;
  size_t m = vb_list_begin(out);
  saved_put_bool(out, l->policy != FENCE_KEEP); /* auto_release, as before policies */
  saved_put_bool(out, l->held);
  saved_put_int(out, l->held ? (int64_t)l->owner : 0);
  saved_put_int(out, l->held ? l->count : 0);
  saved_put_int(out, (int64_t)l->token);
  saved_put_int(out, l->policy);
  saved_put_bool(out, l->broken);
  saved_put_int(out, l->held ? l->since_ms : 0);
  vb_list_end(out, m);
  return saved_status(out);
}

int lk_load(registry *reg, const obj_type *t, sm_span saved, void **state, char *err,
            size_t errlen) {
  (void)reg;
  vinfo f[8];
  /* A state saved before the holder's since was kept has the first seven
   * fields; one saved before fencing the first four only. */
  int rc = saved_fields(saved, "bbiiiibi", f, NULL, t->name, err, errlen);
  if (rc != WS_OK && saved_fields(saved, "bbiiiib", f, NULL, t->name, err, errlen) == WS_OK) {
    f[7].i = 0;
    rc = WS_OK;
  }
  if (rc != WS_OK && saved_fields(saved, "bbii", f, NULL, t->name, err, errlen) == WS_OK) {
    f[7].i = 0;
    f[4].i = 0;
    f[5].i = f[0].b ? FENCE_RELEASE : FENCE_KEEP;
    f[6].b = false;
    rc = WS_OK;
  }
  if (rc != WS_OK) return rc;
  bool recursive = t == &t_rlock_type;
  if (f[4].i < 0 || !fence_policy_valid(f[5].i)) {
    snprintf(err, errlen, "a saved %s has token %lld and policy %lld", t->name, (long long)f[4].i,
             (long long)f[5].i);
    return WS_VALUE_ERROR;
  }
  if (f[2].i < 0 || (f[1].b ? f[3].i < 1 || (!recursive && f[3].i != 1) : f[3].i != 0)) {
    snprintf(err, errlen, "a saved %s is %s with count %lld", t->name, f[1].b ? "held" : "free",
             (long long)f[3].i);
    return WS_VALUE_ERROR;
  }
  lk *l = calloc(1, sizeof *l);
  if (!l) {
    snprintf(err, errlen, "out of memory");
    return WS_INTERNAL;
  }
  l->recursive = recursive;
  l->held = f[1].b;
  l->owner = (uint64_t)f[2].i;
  l->count = f[3].i;
  l->token = (uint64_t)f[4].i;
  l->policy = (fence_policy)f[5].i;
  l->broken = f[6].b;
  l->since_ms = l->held && f[7].i > 0 ? f[7].i : 0;
  *state = l;
  return WS_OK;
}

void lk_owner_gone(registry *reg, sm_obj *o, uint64_t sid, uint64_t count) {
  (void)count; /* the holder gives back every level it held */
  lk *l = lk_of(o);
  if (l->policy == FENCE_KEEP || !l->held || l->owner != sid) return;
  l->held = false;
  l->count = 0;
  l->broken = l->policy == FENCE_BREAK;
  freed(reg, o);
}

int lk_acquire(call *c, sm_obj *lo) {
  lk *l = lk_of(lo);
  uint64_t me = lk_caller(c);
  if (!l->held || (l->recursive && l->owner == me)) {
    if (note(c->reg, l, me, lo, 1) != 0) return call_fail(c, WS_INTERNAL, "out of memory");
    if (l->held) {
      l->count++;
    } else {
      l->held = true;
      l->owner = me;
      l->count = 1;
      l->since_ms = cmd_time(c->reg);
      c->token = ++l->token;
      c->owner_dead = l->broken;
      l->broken = false;
    }
    vb_bool(c->out, true);
    return WS_OK;
  }
  /* A plain lock acquired again by its holder waits, as Python's does. */
  if (blk_may_wait(c)) return blk_park(c, lo, &l->waiters, &acquire_ops.base, 1, NULL);
  return call_fail(c, WS_TIMEOUT, "%s is held", lo->type->name);
}

int lk_release(call *c, sm_obj *lo) {
  lk *l = lk_of(lo);
  if (!l->held) return call_fail(c, WS_NOT_OWNER, "release of an unlocked %s", lo->type->name);
  bool anyone = !l->recursive && l->policy == FENCE_KEEP; /* Python's Lock */
  if (l->owner != lk_caller(c) && !anyone)
    return call_fail(c, WS_NOT_OWNER, "%s is held by another connection", lo->type->name);
  note(c->reg, l, l->owner, lo, -1); /* not with keep: the caller is the holder */
  if (--l->count == 0) {
    l->held = false;
    freed(c->reg, lo);
  }
  return WS_OK;
}

bool lk_locked(const sm_obj *lo) { return lk_of(lo)->held; }

int64_t lk_count(const sm_obj *lo) {
  const lk *l = lk_of(lo);
  return l->held ? l->count : 0;
}

bool lk_is_lock(const sm_obj *o) { return o->type == &t_lock_type || o->type == &t_rlock_type; }

bool lk_held_by(const sm_obj *lo, uint64_t sid) {
  const lk *l = lk_of(lo);
  return l->held && l->owner == sid;
}

int64_t lk_release_all(registry *reg, sm_obj *lo) {
  lk *l = lk_of(lo);
  if (!l->held) return 0;
  int64_t n = l->count;
  log_decision(reg, lo, l->owner, "_release_all", -1);
  note(reg, l, l->owner, lo, -n);
  l->held = false;
  l->count = 0;
  freed(reg, lo);
  return n;
}

void lk_reacquire(registry *reg, sm_obj *lo, waiter *w) {
  lk *l = lk_of(lo);
  blk_move(w, lo, &l->waiters);
  if (!l->held) blk_signal(reg, lo);
}

int lk_m_grant(call *c) {
  int64_t n;
  int rc = call_arg_int(c, 0, &n);
  if (rc != WS_OK) return rc;
  if (n < 1) return call_fail(c, WS_VALUE_ERROR, "a grant is of one level or more");
  if (lk_locked(c->obj)) return call_fail(c, WS_TIMEOUT, "%s is held", c->obj->type->name);
  c->owner_dead = take(c->reg, c->obj, c->session, n);
  c->token = lk_of(c->obj)->token;
  vb_bool(c->out, true); /* the answer of the acquire it grants */
  return WS_OK;
}

int lk_m_release_all(call *c) {
  if (!lk_held_by(c->obj, c->session))
    return call_fail(c, WS_NOT_OWNER, "%s is not held by this session", c->obj->type->name);
  lk_release_all(c->reg, c->obj);
  return WS_OK;
}

bool lk_fence_token(const void *state, uint64_t *token) {
  const lk *l = state;
  *token = l->token;
  return l->held;
}

bool lk_holders(registry *reg, const sm_obj *o, holder_visit_fn visit, void *ctx) {
  (void)reg;
  const lk *l = lk_of(o);
  if (l->held) visit(ctx, l->owner, l->count);
  return l->recursive || l->policy != FENCE_KEEP; /* keep: Python's Lock, anyone releases */
}

int64_t lk_held_since(const sm_obj *o, uint64_t sid) {
  const lk *l = lk_of(o);
  return l->held && l->owner == sid ? l->since_ms : 0;
}

uint64_t lk_token(const sm_obj *lo) { return lk_of(lo)->token; }

const char *lk_policy_name(const sm_obj *lo) { return fence_policy_name(lk_of(lo)->policy); }

/* ---- the "lock" type ---- */

static int lock_create(call *c, void **state) { return lk_create(c, false, state); }

/* acquire() -> true [blocks; TIMEOUT] */
static int m_acquire(call *c) { return lk_acquire(c, c->obj); }

/* release() (NOT_OWNER when unlocked, or held by another connection and
 * made with auto_release) */
static int m_release(call *c) { return lk_release(c, c->obj); }

/* locked -> bool */
static int m_locked(call *c) {
  vb_bool(c->out, lk_locked(c->obj));
  return WS_OK;
}

static const method_def lock_methods[] = {
    {"acquire", m_acquire, METHOD_MUTATES | ARGS(0, 0)},
    {"release", m_release, METHOD_MUTATES | ARGS(0, 0)},
    {"locked", m_locked, ARGS(0, 0)},
    {"_grant", lk_m_grant, METHOD_MUTATES | METHOD_INTERNAL | ARGS(1, 1)},
    {"_release_all", lk_m_release_all, METHOD_MUTATES | METHOD_INTERNAL | ARGS(0, 0)},
};

/* A lock has no size: ls omits it. */
const obj_type t_lock_type = {
    .name = "lock",
    .create = lock_create,
    .destroy = lk_destroy,
    .size = NULL,
    .owner_gone = lk_owner_gone,
    .serve = lk_serve,
    .save = lk_save,
    .load = lk_load,
    .fence_token = lk_fence_token,
    .holders = lk_holders,
    .held_since = lk_held_since,
    .methods = lock_methods,
    .n_methods = sizeof lock_methods / sizeof lock_methods[0],
};
