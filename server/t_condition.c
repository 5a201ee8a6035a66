/* SPDX-License-Identifier: MIT */
/* t_condition.c - the "condition" type: Python's Condition over a lock or
 * rlock object (docs/protocol.md lists the methods).
 *
 * The condition names its lock by id: one given at creation (kept alive
 * with a reference when anonymous; a named one may be deleted, and the
 * condition then answers NOT_FOUND), or an anonymous rlock of its own made
 * at creation. acquire and release are the lock's. wait() checks that the
 * caller holds the lock, parks in the condition's FIFO with the lock's
 * recursion count saved in w->n, and releases the lock fully. notify moves
 * the first waiters back to the lock (lk_reacquire): from then on each is
 * the lock's waiter, not the condition's (deleting the condition leaves it
 * be), and is answered true only once it holds the lock again, with its
 * count restored. A deadline that passes before the notification does the
 * same but answers false; one that passes after it changes nothing
 * (Python's wait re-acquires without a deadline). The waiter's ops record
 * which of the two it is. The condition itself serves nobody: its waiters
 * leave by notify, their deadline or its deletion. */
#include "blocked.h"
#include "registry.h"
#include "saved.h"
#include "t_lock.h"
#include "types.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct cond {
  uint64_t lock_id; /**< the lock or rlock; held by one reference when anonymous */
  waitq waiters;    /**< wait() calls not notified yet (wait_ops) */
} cond;

static void granted_true(registry *reg, waiter *w) {
  (void)reg;
  blk_answer_bool(w, true);
}

static void granted_false(registry *reg, waiter *w) {
  (void)reg;
  blk_answer_bool(w, false);
}

/* A deadline that passes while the waiter already waits for the lock. */
static void late_deadline(registry *reg, waiter *w) {
  (void)reg;
  (void)w;
}

static void wait_timeout(registry *reg, waiter *w);

/* In the condition's FIFO. */
static const lk_waiter_ops wait_ops = {{wait_timeout, NULL}, granted_true};
/* Notified, back in the lock's FIFO: answers true once it has the lock. */
static const lk_waiter_ops notified_ops = {{late_deadline, NULL}, granted_true};
/* Deadline passed un-notified: answers false once it has the lock. */
static const lk_waiter_ops timed_out_ops = {{late_deadline, NULL}, granted_false};

/* The condition's lock object, or NULL when a named lock was deleted. */
static sm_obj *lock_obj(registry *reg, const cond *cv) { return reg_get(reg, cv->lock_id); }

static sm_obj *lock_or_fail(call *c, int *rc) {
  sm_obj *lo = lock_obj(c->reg, c->obj->state);
  *rc = lo ? WS_OK : call_fail(c, WS_NOT_FOUND, "the condition's lock was deleted");
  return lo;
}

static void wait_timeout(registry *reg, waiter *w) {
  const cond *cv = w->obj->state; /* w is in the condition's FIFO */
  sm_obj *lo = lock_obj(reg, cv);
  if (!lo) {
    blk_answer(w, WS_NOT_FOUND, (sm_span){NULL, 0}, "the condition's lock was deleted");
    return;
  }
  w->ops = &timed_out_ops.base;
  lk_reacquire(reg, lo, w);
}

/* acquire() -> true [blocks; TIMEOUT] */
static int m_acquire(call *c) {
  int rc;
  sm_obj *lo = lock_or_fail(c, &rc);
  return lo ? lk_acquire(c, lo) : rc;
}

/* release() (NOT_OWNER) */
static int m_release(call *c) {
  int rc;
  sm_obj *lo = lock_or_fail(c, &rc);
  return lo ? lk_release(c, lo) : rc;
}

/* Fails unless the caller holds the lock; what names the call. */
static int check_owner(call *c, const char *what, sm_obj **lo) {
  int rc;
  if (!(*lo = lock_or_fail(c, &rc))) return rc;
  if (!lk_held_by(*lo, lk_caller(c)))
    return call_fail(c, WS_NOT_OWNER, "cannot %s on an un-acquired lock", what);
  return WS_OK;
}

/* wait() -> bool [true if notified, false on the deadline] */
static int m_wait(call *c) {
  sm_obj *lo;
  int rc = call_nargs(c, 0, 0);
  if (rc == WS_OK) rc = check_owner(c, "wait", &lo);
  if (rc != WS_OK) return rc;
  /* Python's wait(0) gives the lock up and takes it straight back. */
  if (!blk_may_wait(c)) {
    vb_bool(c->out, false);
    return WS_OK;
  }
  cond *cv = c->obj->state;
  rc = blk_park(c, c->obj, &cv->waiters, &wait_ops.base, lk_count(lo), NULL);
  if (rc == CALL_PARKED) lk_release_all(c->reg, lo); /* logged there: a decision of the lock's */
  return rc;
}

/* Moves up to n waiters (all when n < 0) back to the lock. */
static void notify(call *c, sm_obj *lo, int64_t n) {
  cond *cv = c->obj->state;
  for (; n != 0 && cv->waiters.head; n--) {
    waiter *w = cv->waiters.head;
    w->ops = &notified_ops.base;
    lk_reacquire(c->reg, lo, w);
  }
}

/* notify([n = 1]) (NOT_OWNER) */
static int m_notify(call *c) {
  sm_obj *lo;
  int64_t n = 1;
  int rc = call_nargs(c, 0, 1);
  if (rc == WS_OK && c->nargs == 1) rc = call_arg_int(c, 0, &n);
  if (rc == WS_OK && n < 0) rc = call_fail(c, WS_VALUE_ERROR, "notify count must be >= 0");
  if (rc == WS_OK) rc = check_owner(c, "notify", &lo);
  if (rc == WS_OK) notify(c, lo, n);
  return rc;
}

/* notify_all() (NOT_OWNER) */
static int m_notify_all(call *c) {
  sm_obj *lo;
  int rc = call_nargs(c, 0, 0);
  if (rc == WS_OK) rc = check_owner(c, "notify", &lo);
  if (rc == WS_OK) notify(c, lo, -1);
  return rc;
}

/* lock -> ref to the lock or rlock */
static int m_lock(call *c) {
  int rc = call_nargs(c, 0, 0);
  sm_obj *lo = rc == WS_OK ? lock_or_fail(c, &rc) : NULL;
  if (lo) vb_ref(c->out, lo->id, lo->type->name);
  return rc;
}

/* Creation: nothing or nil (an rlock of its own), or a ref to a lock or an
 * rlock. */
static int cond_create(call *c, void **state) {
  int rc = call_nargs(c, 0, 1);
  if (rc != WS_OK) return rc;
  vinfo vi = {.kind = VK_NIL};
  if (c->nargs == 1) call_arg(c, 0, &vi);
  sm_obj *lo = NULL;
  if (vi.kind == VK_REF) {
    if (!(lo = reg_get(c->reg, vi.ref_id)))
      return call_fail(c, WS_NOT_FOUND, "object %llu does not exist",
                       (unsigned long long)vi.ref_id);
    if (!lk_is_lock(lo))
      return call_fail(c, WS_TYPE_ERROR, "a condition needs a lock or rlock, not a %s",
                       lo->type->name);
    reg_incref(c->reg, lo);
  } else if (vi.kind == VK_NIL) {
    /* Born with one reference: the condition's. */
    call sub = {.reg = c->reg, .seq = c->seq, .conn = c->conn, .out = c->out};
    if ((rc = reg_create(c->reg, &t_rlock_type, NULL, &sub, &lo, NULL)) != WS_OK)
      return call_fail(c, rc, "%s", sub.err);
  } else {
    return call_fail(c, WS_TYPE_ERROR, "a condition needs a lock or rlock, not %s",
                     call_kind_name(vi.kind));
  }
  cond *cv = calloc(1, sizeof *cv);
  if (!cv) {
    reg_decref(c->reg, lo);
    return call_fail(c, WS_INTERNAL, "out of memory");
  }
  cv->lock_id = lo->id;
  *state = cv;
  return WS_OK;
}

static void cond_destroy(registry *reg, void *state) {
  cond *cv = state;
  if (!cv) return;
  blk_cancel_all(&cv->waiters, WS_NOT_FOUND, "object deleted");
  /* NULL while the registry is torn down: the lock goes on its own. */
  reg_decref(reg, lock_obj(reg, cv));
  free(cv);
}

/* Saved as [lock id]: an int, not a ref, since a named lock may have been
 * deleted (the condition then answers NOT_FOUND) and a ref names a type. */
static int cond_save(const void *state, vbuf *out) {
  size_t m = vb_list_begin(out);
  saved_put_int(out, (int64_t)((const cond *)state)->lock_id);
  vb_list_end(out, m);
  return saved_status(out);
}

/* The lock's reference is among its saved count (object.h). */
static int cond_load(registry *reg, const obj_type *t, sm_span saved, void **state, char *err,
                     size_t errlen) {
  (void)reg;
  (void)t;
  vinfo f[1];
  int rc = saved_fields(saved, "i", f, NULL, "condition", err, errlen);
  if (rc != WS_OK) return rc;
  cond *cv = calloc(1, sizeof *cv);
  if (!cv) {
    snprintf(err, errlen, "out of memory");
    return WS_INTERNAL;
  }
  cv->lock_id = (uint64_t)f[0].i;
  *state = cv;
  return WS_OK;
}

static const method_def cond_methods[] = {
    {"acquire", m_acquire, METHOD_MUTATES},
    {"release", m_release, METHOD_MUTATES},
    {"wait", m_wait, METHOD_MUTATES},
    {"notify", m_notify, METHOD_MUTATES},
    {"notify_all", m_notify_all, METHOD_MUTATES},
    {"lock", m_lock, 0},
};

/* A condition has no size, and owns nothing itself: holding it is holding
 * its lock, recorded against the lock object. */
const obj_type t_condition_type = {
    .name = "condition",
    .create = cond_create,
    .destroy = cond_destroy,
    .size = NULL,
    .owner_gone = NULL,
    .save = cond_save,
    .load = cond_load,
    .methods = cond_methods,
    .n_methods = sizeof cond_methods / sizeof cond_methods[0],
};
