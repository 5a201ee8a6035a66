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
 * leave by notify, their deadline or its deletion.
 *
 * Exactly once across a restart (cmd.h, session.h): a wait is state, not
 * only a parked call. Each wait that parks adds an entry (its session, its
 * request's seq, its lock count, and whether it was notified or its
 * deadline passed) to the condition's table, logged as "_wait"; notify
 * marks entries in their order, a deadline is logged as "_timeout", and
 * the lock regained is logged as "_regain" on the condition with the
 * waiter's seq, so its answer (true or false) is kept for a resend. The
 * table is saved with the condition, so after a restart a wait resent on
 * its resumed session finds its entry and waits on where it was - in the
 * condition's queue, or for the lock - instead of failing NOT_OWNER (the
 * lock it gave up is not its own). A session that ends (a dead client, or
 * one not resumed in time) loses its entries (owner_gone: each entry is a
 * unit the session owns). A resent wait's deadline counts from the
 * resend. */
#include "blocked.h"
#include "cmd.h"
#include "registry.h"
#include "saved.h"
#include "session.h"
#include "t_lock.h"
#include "types.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where a wait of the table is. */
enum { CW_WAITING, CW_NOTIFIED, CW_TIMED_OUT };

/* One wait in the condition's table. */
typedef struct cond_wait {
  uint64_t session; /**< who waits */
  uint64_t seq;     /**< its request */
  int64_t count;    /**< the lock's recursion count it gets back */
  int64_t state;    /**< CW_* */
} cond_wait;

typedef struct cond {
  uint64_t lock_id; /**< the lock or rlock; held by one reference when anonymous */
  waitq waiters;    /**< wait() calls not notified yet (wait_ops) */
  cond_wait *waits; /**< every wait not answered yet, in arrival order */
  size_t n_waits, cap_waits;
} cond;

/* A waiter's datum: the condition it waits on (it may be the lock's waiter
 * by now, and the condition gone). */
typedef struct wait_ref {
  uint64_t cond_id;
} wait_ref;

static void drop_ref(registry *reg, waiter *w) {
  (void)reg;
  free(w->data);
  w->data = NULL;
}

/* The entry of session's wait seq, or NULL. */
static cond_wait *find_wait(cond *cv, uint64_t session, uint64_t seq) {
  for (size_t i = 0; i < cv->n_waits; i++)
    if (cv->waits[i].session == session && cv->waits[i].seq == seq) return &cv->waits[i];
  return NULL;
}

/* Adds an entry, owned by its session. Returns -1 when out of memory. */
static int add_wait(registry *reg, sm_obj *o, cond_wait cw) {
  cond *cv = o->state;
  if (cv->n_waits == cv->cap_waits) {
    size_t cap = cv->cap_waits ? 2 * cv->cap_waits : 4;
    cond_wait *p = realloc(cv->waits, cap * sizeof *p);
    if (!p) return -1;
    cv->waits = p;
    cv->cap_waits = cap;
  }
  if (sess_note_owned(reg, cw.session, o, 1) != 0) return -1;
  cv->waits[cv->n_waits++] = cw;
  return 0;
}

/* Removes entry e of o's table. */
static void remove_wait(registry *reg, sm_obj *o, cond_wait *e) {
  cond *cv = o->state;
  sess_note_owned(reg, e->session, o, -1);
  size_t i = (size_t)(e - cv->waits);
  memmove(&cv->waits[i], &cv->waits[i + 1], (cv->n_waits - i - 1) * sizeof *e);
  cv->n_waits--;
}

/* Logs the internal method on condition o by session sid with int
 * arguments (seq is the waiter's: the record carries it, as a kept
 * session's, through cmd_log_served when w is given). */
static void log_wait_change(registry *reg, sm_obj *o, uint64_t sid, const char *method,
                            const int64_t *v, size_t n, waiter *w) {
  if (!cmd_logging(reg)) return;
  uint8_t raw[3][16];
  sm_span args[3];
  for (size_t i = 0; i < n; i++) {
    vbuf b = {.p = raw[i], .cap = sizeof raw[i]};
    vb_int(&b, v[i]);
    args[i] = vb_span(&b);
  }
  if (w)
    cmd_log_served(reg, w, o->id, method, args, n);
  else
    cmd_log_call(reg, sid, o->id, method, args, n);
}

/* The lock is granted to w, a wait of the condition: its entry goes (a
 * regain, logged with w's seq so the answer is kept), and w is answered. */
static void regained(registry *reg, waiter *w, bool answer) {
  wait_ref *ref = w->data;
  sm_obj *o = ref ? reg_get(reg, ref->cond_id) : NULL;
  cond_wait *e =
      o && o->type == &t_condition_type ? find_wait(o->state, blk_session(w), blk_seq(w)) : NULL;
  if (e) {
    int64_t v[3] = {w->n, answer, (int64_t)blk_seq(w)};
    remove_wait(reg, o, e);
    log_wait_change(reg, o, blk_session(w), "_regain", v, 3, w);
  } else {
    lk_log_grant(reg, w->obj, w); /* the condition is gone: a plain grant */
  }
  drop_ref(reg, w);
  blk_answer_bool(w, answer);
}

static void granted_true(registry *reg, waiter *w) { regained(reg, w, true); }

static void granted_false(registry *reg, waiter *w) { regained(reg, w, false); }

/* A deadline that passes while the waiter already waits for the lock. */
static void late_deadline(registry *reg, waiter *w) {
  (void)reg;
  (void)w;
}

static void wait_timeout(registry *reg, waiter *w);

/* In the condition's FIFO. */
static const lk_waiter_ops wait_ops = {{wait_timeout, drop_ref}, granted_true};
/* Notified, back in the lock's FIFO: answers true once it has the lock. */
static const lk_waiter_ops notified_ops = {{late_deadline, drop_ref}, granted_true};
/* Deadline passed un-notified: answers false once it has the lock. */
static const lk_waiter_ops timed_out_ops = {{late_deadline, drop_ref}, granted_false};

/* The condition's lock object, or NULL when a named lock was deleted. */
static sm_obj *lock_obj(registry *reg, const cond *cv) { return reg_get(reg, cv->lock_id); }

static sm_obj *lock_or_fail(call *c, int *rc) {
  sm_obj *lo = lock_obj(c->reg, c->obj->state);
  *rc = lo ? WS_OK : call_fail(c, WS_NOT_FOUND, "the condition's lock was deleted");
  return lo;
}

/* The deadline of a wait's entry passed un-notified (live, or its
 * "_timeout" replayed): it waits for the lock now, or goes when the lock
 * was deleted. Returns the lock, or NULL. */
static sm_obj *time_out(registry *reg, sm_obj *o, cond_wait *e) {
  sm_obj *lo = lock_obj(reg, o->state);
  if (lo)
    e->state = CW_TIMED_OUT;
  else
    remove_wait(reg, o, e);
  return lo;
}

static void wait_timeout(registry *reg, waiter *w) {
  sm_obj *o = w->obj; /* w is in the condition's FIFO */
  cond_wait *e = find_wait(o->state, blk_session(w), blk_seq(w));
  sm_obj *lo = lock_obj(reg, o->state);
  if (e) {
    int64_t seq = (int64_t)blk_seq(w);
    lo = time_out(reg, o, e);
    log_wait_change(reg, o, blk_session(w), "_timeout", &seq, 1, NULL);
  }
  if (!lo) {
    drop_ref(reg, w);
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

/* Parks call c as the wait of entry e: in the condition's queue while it
 * is not notified, else in the lock's. */
static int park_wait(call *c, sm_obj *lo, const cond_wait *e) {
  cond *cv = c->obj->state;
  wait_ref *ref = malloc(sizeof *ref);
  if (!ref) return call_fail(c, WS_INTERNAL, "out of memory parking the call");
  ref->cond_id = c->obj->id;
  int rc = blk_park(c, c->obj, &cv->waiters, &wait_ops.base, e->count, ref);
  if (rc != CALL_PARKED) {
    free(ref);
    return rc;
  }
  if (e->state != CW_WAITING) {
    waiter *w = cv->waiters.tail;
    w->ops = e->state == CW_NOTIFIED ? &notified_ops.base : &timed_out_ops.base;
    lk_reacquire(c->reg, lo, w);
  }
  return CALL_PARKED;
}

/* wait() -> bool [true if notified, false on the deadline] */
static int m_wait(call *c) {
  sm_obj *lo;
  int rc;
  cond *cv = c->obj->state;
  /* Sent again on a resumed session: the wait goes on where it was. */
  cond_wait *e = c->seq ? find_wait(cv, c->session, c->seq) : NULL;
  if (e) return (lo = lock_or_fail(c, &rc)) ? park_wait(c, lo, e) : rc;
  if ((rc = check_owner(c, "wait", &lo)) != WS_OK) return rc;
  /* Python's wait(0) gives the lock up and takes it straight back. */
  if (!blk_may_wait(c)) {
    vb_bool(c->out, false);
    return WS_OK;
  }
  cond_wait cw = {c->session, c->seq, lk_count(lo), CW_WAITING};
  if (add_wait(c->reg, c->obj, cw) != 0) return call_fail(c, WS_INTERNAL, "out of memory");
  rc = park_wait(c, lo, &cw);
  if (rc != CALL_PARKED) {
    remove_wait(c->reg, c->obj, find_wait(cv, cw.session, cw.seq));
    return rc;
  }
  lk_release_all(c->reg, lo); /* logged there: a decision of the lock's */
  int64_t v[2] = {(int64_t)cw.seq, cw.count};
  log_wait_change(c->reg, c->obj, c->session, "_wait", v, 2, NULL);
  return rc;
}

/* The parked waiter of entry e, or NULL (not sent again yet). */
static waiter *waiter_of(cond *cv, const cond_wait *e) {
  for (waiter *w = cv->waiters.head; w; w = w->next)
    if (blk_session(w) == e->session && blk_seq(w) == e->seq) return w;
  return NULL;
}

/* Notifies up to n waits (all when n < 0), in their order: each goes back
 * to the lock, its waiter with it when it is parked. */
static void notify(call *c, sm_obj *lo, int64_t n) {
  cond *cv = c->obj->state;
  for (size_t i = 0; i < cv->n_waits && n != 0; i++) {
    cond_wait *e = &cv->waits[i];
    if (e->state != CW_WAITING) continue;
    e->state = CW_NOTIFIED;
    n--;
    waiter *w = waiter_of(cv, e);
    if (w) {
      w->ops = &notified_ops.base;
      lk_reacquire(c->reg, lo, w);
    }
  }
}

/* notify([n = 1]) (NOT_OWNER) */
static int m_notify(call *c) {
  sm_obj *lo;
  int64_t n = 1;
  int rc = c->nargs == 1 ? call_arg_int(c, 0, &n) : WS_OK;
  if (rc == WS_OK && n < 0) rc = call_fail(c, WS_VALUE_ERROR, "notify count must be >= 0");
  if (rc == WS_OK) rc = check_owner(c, "notify", &lo);
  if (rc == WS_OK) notify(c, lo, n);
  return rc;
}

/* notify_all() (NOT_OWNER) */
static int m_notify_all(call *c) {
  sm_obj *lo;
  int rc = check_owner(c, "notify", &lo);
  if (rc == WS_OK) notify(c, lo, -1);
  return rc;
}

/* lock -> ref to the lock or rlock */
static int m_lock(call *c) {
  int rc;
  sm_obj *lo = lock_or_fail(c, &rc);
  if (lo) vb_ref(c->out, lo->id, lo->type->name);
  return rc;
}

/* Reads the int arguments of an internal method into v[0..n) (the table
 * gives their count). */
static int int_args(call *c, int64_t *v, size_t n) {
  int rc = WS_OK;
  for (size_t i = 0; rc == WS_OK && i < n; i++)
    rc = call_arg_int(c, i, &v[i]);
  return rc;
}

/* _wait(seq, count) (internal: replay only): the caller's wait parked;
 * the lock's "_release_all" before it gave the lock up. */
static int m_wait_parked(call *c) {
  int64_t v[2];
  int rc = int_args(c, v, 2);
  if (rc != WS_OK) return rc;
  if (v[1] < 1) return call_fail(c, WS_VALUE_ERROR, "a wait gives back one level or more");
  cond_wait cw = {c->session, (uint64_t)v[0], v[1], CW_WAITING};
  return add_wait(c->reg, c->obj, cw) == 0 ? WS_OK : call_fail(c, WS_INTERNAL, "out of memory");
}

/* _timeout(seq) (internal: replay only): the deadline of the caller's
 * wait seq passed un-notified. */
static int m_timeout(call *c) {
  int64_t seq;
  int rc = int_args(c, &seq, 1);
  if (rc != WS_OK) return rc;
  cond_wait *e = find_wait(c->obj->state, c->session, (uint64_t)seq);
  if (!e) return call_fail(c, WS_VALUE_ERROR, "no wait %lld of this session", (long long)seq);
  time_out(c->reg, c->obj, e);
  return WS_OK;
}

/* _regain(count, answer, seq) (internal: replay only): the caller's wait
 * seq got the lock back, count levels deep, and answered answer. */
static int m_regain(call *c) {
  int64_t v[3];
  int rc = int_args(c, v, 3);
  if (rc != WS_OK) return rc;
  cond_wait *e = find_wait(c->obj->state, c->session, (uint64_t)v[2]);
  sm_obj *lo = lock_or_fail(c, &rc);
  if (!lo) return rc;
  if (!e) return call_fail(c, WS_VALUE_ERROR, "no wait %lld of this session", (long long)v[2]);
  if (lk_take_free(c->reg, lo, c->session, v[0]) != 0)
    return call_fail(c, WS_TIMEOUT, "%s is held", lo->type->name);
  remove_wait(c->reg, c->obj, e);
  vb_bool(c->out, v[1] != 0); /* the wait's answer, kept for a resend */
  return WS_OK;
}

/* Session sid ended: its waits go (their parked calls, if any, were
 * dropped with its connection). */
static void cond_owner_gone(registry *reg, sm_obj *o, uint64_t sid, uint64_t count) {
  (void)count;
  cond *cv = o->state;
  for (size_t i = cv->n_waits; i-- > 0;)
    if (cv->waits[i].session == sid) remove_wait(reg, o, &cv->waits[i]);
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
  free(cv->waits);
  free(cv);
}

/* Saved as [lock id, [session, seq, count, state, ...]]: the lock an int,
 * not a ref, since a named lock may have been deleted (the condition then
 * answers NOT_FOUND) and a ref names a type; the waits as a table, so a
 * wait resent after a restart finds its own. */
static int cond_save(const void *state, vbuf *out) {
  const cond *cv = state;
  size_t m = vb_list_begin(out);
  saved_put_int(out, (int64_t)cv->lock_id);
  int64_t *rows = malloc((cv->n_waits ? cv->n_waits : 1) * 4 * sizeof *rows);
  if (!rows) return WS_INTERNAL;
  for (size_t i = 0; i < cv->n_waits; i++) {
    const cond_wait *e = &cv->waits[i];
    int64_t *r = &rows[4 * i];
    r[0] = (int64_t)e->session;
    r[1] = (int64_t)e->seq;
    r[2] = e->count;
    r[3] = e->state;
  }
  saved_put_ints(out, rows, 4 * cv->n_waits);
  free(rows);
  vb_list_end(out, m);
  return saved_status(out);
}

/* The lock's reference is among its saved count (object.h); the waits'
 * units among their sessions' (session.h). A condition saved before waits
 * were kept is [lock id]. */
static int cond_load(registry *reg, const obj_type *t, sm_span saved, void **state, char *err,
                     size_t errlen) {
  (void)reg;
  (void)t;
  vinfo f[2];
  int rc = saved_fields(saved, "il", f, NULL, "condition", err, errlen);
  if (rc != WS_OK) {
    if ((rc = saved_fields(saved, "i", f, NULL, "condition", err, errlen)) != WS_OK) return rc;
    f[1].kind = VK_NIL; /* no waits */
  }
  int64_t *rows = NULL;
  size_t n = 0;
  if (f[1].kind == VK_LIST &&
      (rc = saved_ints(f[1].data, 4, &rows, &n, "condition", err, errlen)) != WS_OK)
    return rc;
  cond *cv = calloc(1, sizeof *cv);
  cond_wait *waits = n ? malloc(n / 4 * sizeof *waits) : NULL;
  if (!cv || (n && !waits)) {
    free(cv);
    free(waits);
    free(rows);
    snprintf(err, errlen, "out of memory");
    return WS_INTERNAL;
  }
  for (size_t i = 0; i < n / 4; i++) {
    const int64_t *r = &rows[4 * i];
    if (r[2] < 1 || r[3] < CW_WAITING || r[3] > CW_TIMED_OUT) {
      free(cv);
      free(waits);
      free(rows);
      snprintf(err, errlen, "a saved condition has a wait with count %lld and state %lld",
               (long long)r[2], (long long)r[3]);
      return WS_VALUE_ERROR;
    }
    waits[i] = (cond_wait){(uint64_t)r[0], (uint64_t)r[1], r[2], r[3]};
  }
  free(rows);
  cv->lock_id = (uint64_t)f[0].i;
  cv->waits = waits;
  cv->n_waits = cv->cap_waits = n / 4;
  *state = cv;
  return WS_OK;
}

static const method_def cond_methods[] = {
    {"acquire", m_acquire, METHOD_MUTATES | ARGS(0, 0)},
    {"release", m_release, METHOD_MUTATES | ARGS(0, 0)},
    {"wait", m_wait, METHOD_MUTATES | ARGS(0, 0)},
    {"notify", m_notify, METHOD_MUTATES | ARGS(0, 1)},
    {"notify_all", m_notify_all, METHOD_MUTATES | ARGS(0, 0)},
    {"lock", m_lock, ARGS(0, 0)},
    {"_wait", m_wait_parked, METHOD_MUTATES | METHOD_INTERNAL | ARGS(2, 2)},
    {"_timeout", m_timeout, METHOD_MUTATES | METHOD_INTERNAL | ARGS(1, 1)},
    {"_regain", m_regain, METHOD_MUTATES | METHOD_INTERNAL | ARGS(3, 3)},
};

/* A condition has no size. Holding it is holding its lock, recorded
 * against the lock object; what a session owns of the condition itself
 * is its waits (owner_gone drops them). */
const obj_type t_condition_type = {
    .name = "condition",
    .create = cond_create,
    .destroy = cond_destroy,
    .size = NULL,
    .owner_gone = cond_owner_gone,
    .save = cond_save,
    .load = cond_load,
    .methods = cond_methods,
    .n_methods = sizeof cond_methods / sizeof cond_methods[0],
};
