/* SPDX-License-Identifier: MIT */
/* t_barrier.c - the "barrier" type: Python's Barrier for a fixed number of
 * parties (docs/protocol.md lists the methods).
 *
 * wait() takes the next arrival index (0 for the first) and parks with it in
 * w->n; the arrival that completes the party returns its own index
 * (parties - 1), moves the round's waiters to the passed queue, and the
 * serve pass right after answers each its index; the barrier starts over.
 * As in Python, a deadline (a zero one included) or abort() breaks the
 * barrier: the round's waiters move to the failed queue and get BROKEN, and
 * so does every wait() until reset(). reset() fails the round too but leaves
 * the barrier usable. A round's outcome is decided when it is moved: a
 * waiter in passed or failed is only waiting for its answer.
 *
 * Python has no counterpart to a waiter that disappears (its connection
 * closed): the party it belonged to can never complete, so the barrier
 * breaks and the others get BROKEN rather than waiting forever. When the
 * daemon stops, every waiter is answered SHUTTING_DOWN.
 *
 * Commands (cmd.h): a wait that parks changes the state (one more arrival)
 * without answering, so it is logged as "_arrive" by its session; a
 * barrier broken by the daemon itself (a deadline, a zero timeout, a
 * waiter's connection closing) is logged as "_break" with the reason, in
 * break_barrier, the one place that decision is made. Both are internal
 * methods only a replay may call.
 *
 * Exactly once across a restart (session.h): each arrival of the current
 * round is state - its session, its request's seq and its index, logged
 * with "_arrive" and saved with the barrier - and a unit its session owns.
 * A wait sent again on a resumed session finds its arrival and waits on
 * as it (before, it arrived a second time); the round's end keeps each
 * arrival's index in its session's reply table, live and in a replay
 * alike, so a resend after the round passed gets its index, and after it
 * failed its BROKEN. A session
 * that ends with an arrival in the round (not resumed in time) breaks the
 * barrier, as a waiter's connection closing does. A resent wait's deadline
 * counts from the resend. */
#include "blocked.h"
#include "cmd.h"
#include "saved.h"
#include "session.h"
#include "types.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Why a round failed: the text of its waiters' BROKEN answer (in w->n). */
enum { WHY_TIMEOUT, WHY_CLOSED, WHY_RESET, WHY_ABORT };
static const char *const why_text[] = {
    "barrier broken: a wait timed out",
    "barrier broken: a waiting connection closed",
    "barrier reset",
    "barrier aborted",
};

/* An arrival of the current round. */
typedef struct arrival {
  uint64_t session; /**< who arrived */
  uint64_t seq;     /**< its wait request */
  int64_t index;    /**< its arrival index */
} arrival;

typedef struct barrier {
  int64_t parties;
  int64_t count; /**< arrivals of the current round */
  arrival *arr;  /**< those arrivals (a barrier saved before they were kept may have fewer) */
  size_t n_arr, cap_arr;
  bool broken;
  bool dying;    /**< being destroyed: waiters leave as NOT_FOUND, nothing breaks */
  waitq waiters; /**< the current round's arrivals, index in w->n */
  waitq passed;  /**< a completed round's arrivals, to be answered their index */
  waitq failed;  /**< a failed round's arrivals, to be answered BROKEN (why in w->n) */
} barrier;

static barrier *barrier_of(call *c) { return c->obj->state; }

/* The arrival of session's wait seq in the current round, or NULL. */
static arrival *find_arrival(barrier *b, uint64_t session, uint64_t seq) {
  for (size_t i = 0; i < b->n_arr; i++)
    if (b->arr[i].session == session && b->arr[i].seq == seq) return &b->arr[i];
  return NULL;
}

/* Adds an arrival of the current round, owned by its session. Returns -1
 * when out of memory. */
static int add_arrival(registry *reg, sm_obj *o, arrival a) {
  barrier *b = o->state;
  if (b->n_arr == b->cap_arr) {
    size_t cap = b->cap_arr ? 2 * b->cap_arr : 4;
    arrival *p = realloc(b->arr, cap * sizeof *p);
    if (!p) return -1;
    b->arr = p;
    b->cap_arr = cap;
  }
  if (sess_note_owned(reg, a.session, o, 1) != 0) return -1;
  b->arr[b->n_arr++] = a;
  return 0;
}

/* The current round ends: its arrivals go, each keeping the answer of its
 * wait for a resend (why < 0: the round passed, the answer its index;
 * else it failed, BROKEN with why's text). */
static void end_arrivals(registry *reg, sm_obj *o, int why) {
  barrier *b = o->state;
  for (size_t i = 0; i < b->n_arr; i++) {
    const arrival *a = &b->arr[i];
    /* Out of memory costs only the exactly-once answer of a resend. */
    if (a->seq && why < 0) {
      uint8_t raw[16];
      vbuf v = {.p = raw, .cap = sizeof raw}; /* a packed int takes at most 11 */
      vb_int(&v, a->index);
      sess_reply_keep(reg, a->session, a->seq, vb_span(&v));
    } else if (a->seq) {
      sm_span text = {(const uint8_t *)why_text[why], strlen(why_text[why])};
      sess_reply_keep_status(reg, a->session, a->seq, WS_BROKEN, text);
    }
    sess_note_owned(reg, a->session, o, -1);
  }
  b->n_arr = 0;
}

/* Ends the current round of barrier o in failure: its waiters get BROKEN
 * (why) from the serve pass. */
static void fail_round(registry *reg, sm_obj *o, int why) {
  barrier *b = o->state;
  b->count = 0;
  end_arrivals(reg, o, why);
  if (!b->waiters.head) return;
  while (b->waiters.head) {
    waiter *w = b->waiters.head;
    w->n = why;
    blk_move(w, o, &b->failed);
  }
  blk_signal(reg, o);
}

/* Logs the internal method on o by session sid, with an int argument when
 * n >= 0. */
static void log_decision(registry *reg, sm_obj *o, uint64_t sid, const char *method, int64_t n) {
  if (!cmd_logging(reg)) return;
  uint8_t raw[16];
  vbuf arg = {.p = raw, .cap = sizeof raw}; /* a packed int takes at most 11 */
  if (n >= 0) vb_int(&arg, n);
  sm_span a = vb_span(&arg);
  cmd_log_call(reg, sid, o->id, method, &a, n >= 0 ? 1 : 0);
}

/* The daemon breaks barrier o (why: WHY_TIMEOUT or WHY_CLOSED, a waiter of
 * session sid being the cause): the current round fails. */
static void break_barrier(registry *reg, sm_obj *o, int why, uint64_t sid) {
  barrier *b = o->state;
  b->broken = true;
  fail_round(reg, o, why);
  log_decision(reg, o, sid, "_break", why);
}

/* The serve hook: answers the rounds already decided. */
static void barrier_serve(registry *reg, sm_obj *o) {
  (void)reg;
  barrier *b = o->state;
  while (b->passed.head) {
    waiter *w = b->passed.head;
    blk_answer_int(w, w->n);
  }
  while (b->failed.head) {
    waiter *w = b->failed.head;
    blk_answer(w, WS_BROKEN, (sm_span){NULL, 0}, why_text[w->n]);
  }
}

/* Deadline: the barrier breaks, this waiter's round included. A waiter
 * whose round is decided already just waits for that answer. */
static void wait_timeout(registry *reg, waiter *w) {
  barrier *b = w->obj->state;
  if (w->q != &b->waiters) return;
  break_barrier(reg, w->obj, WHY_TIMEOUT, blk_session(w));
}

/* A waiter's connection closed (it is still in its queue). */
static void wait_drop(registry *reg, waiter *w) {
  barrier *b = w->obj->state;
  if (b->dying || w->q != &b->waiters) return;
  break_barrier(reg, w->obj, WHY_CLOSED, blk_session(w));
}

static const waiter_ops wait_ops = {wait_timeout, wait_drop};

/* wait() -> int [the arrival index; BROKEN] */
static int m_wait(call *c) {
  int rc;
  barrier *b = barrier_of(c);
  /* Sent again on a resumed session: it waits on as the arrival it was. */
  arrival *again = c->seq ? find_arrival(b, c->session, c->seq) : NULL;
  if (again) return blk_park(c, c->obj, &b->waiters, &wait_ops, again->index, NULL);
  if (b->broken) return call_fail(c, WS_BROKEN, "barrier is broken");
  int64_t index = b->count;
  if (index + 1 == b->parties) {
    b->count = 0;
    end_arrivals(c->reg, c->obj, -1);
    if (b->waiters.head) {
      while (b->waiters.head)
        blk_move(b->waiters.head, c->obj, &b->passed);
      blk_signal(c->reg, c->obj);
    }
    vb_int(c->out, index);
    return WS_OK;
  }
  if (!blk_may_wait(c)) {
    break_barrier(c->reg, c->obj, WHY_TIMEOUT, c->session);
    return call_fail(c, WS_BROKEN, "barrier broken: the wait timed out");
  }
  arrival a = {c->session, c->seq, index};
  if (add_arrival(c->reg, c->obj, a) != 0) return call_fail(c, WS_INTERNAL, "out of memory");
  rc = blk_park(c, c->obj, &b->waiters, &wait_ops, index, NULL);
  if (rc != CALL_PARKED) {
    sess_note_owned(c->reg, a.session, c->obj, -1);
    b->n_arr--;
    return rc;
  }
  b->count++;
  log_decision(c->reg, c->obj, c->session, "_arrive", (int64_t)c->seq);
  return rc;
}

/* _arrive([seq]) (internal: replay only): the caller's wait seq parked,
 * one more arrival of the round; it never completes the round (the
 * completing wait is logged as itself). A log written before arrivals
 * were kept has no seq. */
static int m_arrive(call *c) {
  int64_t seq = 0;
  int rc = c->nargs == 1 ? call_arg_int(c, 0, &seq) : WS_OK;
  if (rc != WS_OK) return rc;
  barrier *b = barrier_of(c);
  if (b->broken) return call_fail(c, WS_BROKEN, "barrier is broken");
  if (b->count + 1 >= b->parties)
    return call_fail(c, WS_VALUE_ERROR, "an arrival that would complete the round");
  arrival a = {c->session, (uint64_t)seq, b->count};
  if (add_arrival(c->reg, c->obj, a) != 0) return call_fail(c, WS_INTERNAL, "out of memory");
  b->count++;
  return WS_OK;
}

/* Session sid ended (not resumed in time after a restart) with an arrival
 * in the current round, which can never complete now: the barrier breaks,
 * as when a waiter's connection closes. Logged as the session's end. */
static void barrier_owner_gone(registry *reg, sm_obj *o, uint64_t sid, uint64_t count) {
  (void)count;
  barrier *b = o->state;
  for (size_t i = 0; i < b->n_arr; i++) {
    if (b->arr[i].session == sid) {
      b->broken = true;
      fail_round(reg, o, WHY_CLOSED);
      return;
    }
  }
}

/* _break(why) (internal: replay only): the daemon broke the barrier. */
static int m_break(call *c) {
  int64_t why;
  int rc = call_arg_int(c, 0, &why);
  if (rc != WS_OK) return rc;
  if (why != WHY_TIMEOUT && why != WHY_CLOSED)
    return call_fail(c, WS_VALUE_ERROR, "no such reason to break a barrier: %lld", (long long)why);
  barrier_of(c)->broken = true;
  fail_round(c->reg, c->obj, (int)why);
  return WS_OK;
}

/* reset(): waiters get BROKEN; the barrier is usable again. */
static int m_reset(call *c) {
  fail_round(c->reg, c->obj, WHY_RESET);
  barrier_of(c)->broken = false;
  return WS_OK;
}

/* abort(): breaks the barrier. */
static int m_abort(call *c) {
  barrier_of(c)->broken = true;
  fail_round(c->reg, c->obj, WHY_ABORT);
  return WS_OK;
}

/* parties -> int */
static int m_parties(call *c) {
  vb_int(c->out, barrier_of(c)->parties);
  return WS_OK;
}

/* n_waiting -> int */
static int m_n_waiting(call *c) {
  vb_int(c->out, barrier_of(c)->count);
  return WS_OK;
}

/* broken -> bool */
static int m_broken(call *c) {
  vb_bool(c->out, barrier_of(c)->broken);
  return WS_OK;
}

/* Creation: [parties:int >= 1]. */
static int barrier_create(call *c, void **state) {
  int64_t parties;
  int rc = call_nargs(c, 1, 1);
  if (rc == WS_OK) rc = call_arg_int(c, 0, &parties);
  if (rc != WS_OK) return rc;
  if (parties < 1) return call_fail(c, WS_VALUE_ERROR, "a barrier needs at least one party");
  barrier *b = calloc(1, sizeof *b);
  if (!b) return call_fail(c, WS_INTERNAL, "out of memory");
  b->parties = parties;
  *state = b;
  return WS_OK;
}

static void barrier_destroy(registry *reg, void *state) {
  (void)reg;
  barrier *b = state;
  if (!b) return;
  b->dying = true;
  blk_cancel_all(&b->waiters, WS_NOT_FOUND, "object deleted");
  blk_cancel_all(&b->passed, WS_NOT_FOUND, "object deleted");
  blk_cancel_all(&b->failed, WS_NOT_FOUND, "object deleted");
  free(b->arr);
  free(b);
}

/* Saved as [parties, broken, count, [session, seq, index, ...]]: the
 * parked calls of a round are not state (object.h), but its arrivals are,
 * since the log holds each ("_arrive"), a replay after the snapshot goes
 * on from them, and a wait resent after a restart finds its own. */
static int barrier_save(const void *state, vbuf *out) {
  const barrier *b = state;
  size_t m = vb_list_begin(out);
  saved_put_int(out, b->parties);
  saved_put_bool(out, b->broken);
  saved_put_int(out, b->count);
  int64_t *rows = malloc((b->n_arr ? b->n_arr : 1) * 3 * sizeof *rows);
  if (!rows) return WS_INTERNAL;
  for (size_t i = 0; i < b->n_arr; i++) {
    rows[3 * i] = (int64_t)b->arr[i].session;
    rows[3 * i + 1] = (int64_t)b->arr[i].seq;
    rows[3 * i + 2] = b->arr[i].index;
  }
  saved_put_ints(out, rows, 3 * b->n_arr);
  free(rows);
  vb_list_end(out, m);
  return saved_status(out);
}

static int barrier_load(registry *reg, const obj_type *t, sm_span saved, void **state, char *err,
                        size_t errlen) {
  (void)reg;
  (void)t;
  vinfo f[4];
  int rc = saved_fields(saved, "ibil", f, NULL, "barrier", err, errlen);
  if (rc != WS_OK) { /* saved before arrivals were kept */
    if ((rc = saved_fields(saved, "ibi", f, NULL, "barrier", err, errlen)) != WS_OK) return rc;
    f[3].kind = VK_NIL;
  }
  int64_t *rows = NULL;
  size_t n = 0;
  if (f[3].kind == VK_LIST &&
      (rc = saved_ints(f[3].data, 3, &rows, &n, "barrier", err, errlen)) != WS_OK)
    return rc;
  bool bad = f[0].i < 1 || f[2].i < 0 || f[2].i >= f[0].i || (int64_t)(n / 3) > f[2].i;
  for (size_t i = 0; !bad && i < n / 3; i++)
    bad = rows[3 * i + 2] < 0 || rows[3 * i + 2] >= f[2].i;
  if (bad) {
    free(rows);
    snprintf(err, errlen, "a saved barrier has %lld parties, %lld arrivals and %zu kept",
             (long long)f[0].i, (long long)f[2].i, n / 3);
    return WS_VALUE_ERROR;
  }
  barrier *b = calloc(1, sizeof *b);
  arrival *arr = n ? malloc(n / 3 * sizeof *arr) : NULL;
  if (!b || (n && !arr)) {
    free(b);
    free(arr);
    free(rows);
    snprintf(err, errlen, "out of memory");
    return WS_INTERNAL;
  }
  for (size_t i = 0; i < n / 3; i++)
    arr[i] = (arrival){(uint64_t)rows[3 * i], (uint64_t)rows[3 * i + 1], rows[3 * i + 2]};
  free(rows);
  b->parties = f[0].i;
  b->broken = f[1].b;
  b->count = f[2].i;
  b->arr = arr;
  b->n_arr = b->cap_arr = n / 3;
  *state = b;
  return WS_OK;
}

static const method_def barrier_methods[] = {
    {"wait", m_wait, METHOD_MUTATES | ARGS(0, 0)},
    {"reset", m_reset, METHOD_MUTATES | ARGS(0, 0)},
    {"abort", m_abort, METHOD_MUTATES | ARGS(0, 0)},
    {"parties", m_parties, ARGS(0, 0)},
    {"n_waiting", m_n_waiting, ARGS(0, 0)},
    {"broken", m_broken, ARGS(0, 0)},
    {"_arrive", m_arrive, METHOD_MUTATES | METHOD_INTERNAL | ARGS(0, 1)},
    {"_break", m_break, METHOD_MUTATES | METHOD_INTERNAL | ARGS(1, 1)},
};

/* A barrier has no size: ls omits it. */
const obj_type t_barrier_type = {
    .name = "barrier",
    .create = barrier_create,
    .destroy = barrier_destroy,
    .size = NULL,
    .owner_gone = barrier_owner_gone,
    .serve = barrier_serve,
    .save = barrier_save,
    .load = barrier_load,
    .methods = barrier_methods,
    .n_methods = sizeof barrier_methods / sizeof barrier_methods[0],
};
