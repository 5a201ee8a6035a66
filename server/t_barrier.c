/* t_barrier.c - the "barrier" type: Python's Barrier for a fixed number of
 * parties (docs/protocol.md lists the methods).
 *
 * wait() takes the next arrival index (0 for the first) and parks with it in
 * w->n; the arrival that completes the party answers every waiter its index
 * and returns its own (parties - 1), and the barrier starts over. As in
 * Python, a deadline (a zero one included) or abort() breaks the barrier:
 * every waiter gets BROKEN, and so does every wait() until reset(). reset()
 * answers the waiters BROKEN too but leaves the barrier usable.
 *
 * Python has no counterpart to a waiter that disappears (its connection
 * closed): the party it belonged to can never complete, so the barrier
 * breaks and the others get BROKEN rather than waiting forever. The same
 * happens when the daemon stops: the first connection released breaks the
 * barrier, so waiters of the others may read BROKEN, not SHUTTING_DOWN. */
#include "blocked.h"
#include "types.h"

#include <stdlib.h>

typedef struct barrier {
  int64_t parties;
  int64_t count; /**< arrivals of the current round, all waiting */
  bool broken;
  bool dying;    /**< being destroyed: waiters leave as NOT_FOUND, nothing breaks */
  waitq waiters; /**< the current round's arrivals, index in w->n */
} barrier;

static barrier *barrier_of(call *c) { return c->obj->state; }

/* Answers every waiter BROKEN and starts an empty round. */
static void fail_waiters(barrier *b, const char *why) {
  b->count = 0;
  while (b->waiters.head)
    blk_answer(b->waiters.head, WS_BROKEN, (sm_span){NULL, 0}, why);
}

/* Deadline: the barrier breaks, this waiter included. */
static void wait_timeout(registry *reg, waiter *w) {
  (void)reg;
  barrier *b = w->obj->state;
  b->broken = true;
  fail_waiters(b, "barrier broken: a wait timed out");
}

/* A waiter's connection closed (it is out of the FIFO already). */
static void wait_drop(registry *reg, waiter *w) {
  (void)reg;
  barrier *b = w->obj->state;
  if (b->dying) return;
  b->broken = true;
  fail_waiters(b, "barrier broken: a waiting connection closed");
}

static const waiter_ops wait_ops = {wait_timeout, wait_drop};

/* wait() -> int [the arrival index; BROKEN] */
static int m_wait(call *c) {
  int rc = call_nargs(c, 0, 0);
  if (rc != WS_OK) return rc;
  barrier *b = barrier_of(c);
  if (b->broken) return call_fail(c, WS_BROKEN, "barrier is broken");
  int64_t index = b->count;
  if (index + 1 == b->parties) {
    b->count = 0;
    while (b->waiters.head) {
      waiter *w = b->waiters.head;
      blk_answer_int(w, w->n);
    }
    vb_int(c->out, index);
    return WS_OK;
  }
  if (!blk_may_wait(c)) {
    b->broken = true;
    fail_waiters(b, "barrier broken: a wait timed out");
    return call_fail(c, WS_BROKEN, "barrier broken: the wait timed out");
  }
  rc = blk_park(c, &b->waiters, &wait_ops, index, NULL);
  if (rc == CALL_PARKED) b->count++;
  return rc;
}

/* reset(): waiters get BROKEN; the barrier is usable again. */
static int m_reset(call *c) {
  int rc = call_nargs(c, 0, 0);
  if (rc != WS_OK) return rc;
  barrier *b = barrier_of(c);
  fail_waiters(b, "barrier reset");
  b->broken = false;
  return WS_OK;
}

/* abort(): breaks the barrier. */
static int m_abort(call *c) {
  int rc = call_nargs(c, 0, 0);
  if (rc != WS_OK) return rc;
  barrier *b = barrier_of(c);
  b->broken = true;
  fail_waiters(b, "barrier aborted");
  return WS_OK;
}

/* parties -> int */
static int m_parties(call *c) {
  int rc = call_nargs(c, 0, 0);
  if (rc == WS_OK) vb_int(c->out, barrier_of(c)->parties);
  return rc;
}

/* n_waiting -> int */
static int m_n_waiting(call *c) {
  int rc = call_nargs(c, 0, 0);
  if (rc == WS_OK) vb_int(c->out, barrier_of(c)->count);
  return rc;
}

/* broken -> bool */
static int m_broken(call *c) {
  int rc = call_nargs(c, 0, 0);
  if (rc == WS_OK) vb_bool(c->out, barrier_of(c)->broken);
  return rc;
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
  free(b);
}

static const method_def barrier_methods[] = {
    {"wait", m_wait, METHOD_MUTATES},   {"reset", m_reset, METHOD_MUTATES},
    {"abort", m_abort, METHOD_MUTATES}, {"parties", m_parties, 0},
    {"n_waiting", m_n_waiting, 0},      {"broken", m_broken, 0},
};

/* A barrier has no size: ls omits it. */
const obj_type t_barrier_type = {
    .name = "barrier",
    .create = barrier_create,
    .destroy = barrier_destroy,
    .size = NULL,
    .owner_gone = NULL,
    .methods = barrier_methods,
    .n_methods = sizeof barrier_methods / sizeof barrier_methods[0],
};
