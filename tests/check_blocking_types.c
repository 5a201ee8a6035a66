/* SPDX-License-Identifier: MIT */
/* check_blocking_types.c - the blocking and synchronisation types
 * (server/t_queue.c, t_lock.c, t_rlock.c, t_semaphore.c, t_condition.c,
 * t_event.c, t_barrier.c) and the array (t_array.c), called directly without
 * a daemon.
 *
 * Calls made here have no connection: a call that cannot be served at once
 * is parked (CALL_PARKED) and its later answer goes nowhere, so the tests
 * follow the waiting through its effects: the registry's count of parked
 * calls, hand-offs (an item that never reaches the queue), who holds a lock,
 * a semaphore's value. Every caller here is "connection 0", so ownership
 * across connections, deadlines and the answers themselves are proved
 * against the real daemon in check_parking.c. A timeout of 0 ("do not
 * block") is written T0, no timeout (wait forever) FOREVER.
 *
 * Arguments and results use smtest_unit.h's notation (as check_types.c
 * does): nil true false 12 -3 1.5 'str' [v, ...] @id:type. */
#include "server/blocked.h"
#include "smtest_unit.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 0
#define FOREVER SMTEST_NO_TIMEOUT

static registry *reg;
static vbuf result;
static char err[SMTEST_ERR_LEN];

/* The calls below run on reg; CK_RES, CK_OK and CK_ERR must not block. */
static const smtest_unit unit = {&reg, &result, err, T0};

static void setup(void) { smtest_unit_setup(&unit); }
static void teardown(void) { smtest_unit_teardown(&unit); /* parked calls included */ }

/* The short names the tests use. */
#define fmt smtest_fmt
#define ref smtest_ref

/* Calls method on o with a timeout (FOREVER: none; T0: do not block);
 * returns the status, CALL_PARKED included. */
static int run_t(sm_obj *o, const char *method, const char *argtext, int64_t timeout_ms) {
  return smtest_call(&unit, o, method, argtext, timeout_ms);
}

static const char *res(void) { return smtest_res(&unit); }

static int make_rc(const char *type, const char *name, const char *argtext, sm_obj **o) {
  return smtest_make_rc(&unit, type, name, argtext, o);
}

static sm_obj *make(const char *type, const char *name, const char *argtext) {
  return smtest_make(&unit, type, name, argtext);
}

static size_t parked(void) { return blk_parked(reg); }

/* Connection id closes while owning count units of o, as the server has it:
 * owner_gone, then the serve pass. */
static void owner_gone(sm_obj *o, uint64_t id, uint64_t count) {
  o->type->owner_gone(reg, o, id, count);
  blk_serve(reg);
}

#define CK_RES(o, method, a, want) SMTEST_CK_RES(&unit, o, method, a, want)
#define CK_OK(o, method, a) SMTEST_CK_OK(&unit, o, method, a)
#define CK_PARK(o, method, a) ck_assert_int_eq(run_t(o, method, a, FOREVER), CALL_PARKED)
#define CK_ERR(o, method, a, status, text) SMTEST_CK_ERR(&unit, o, method, a, status, text)

/* ---- queue ---- */

/* Proves the non-blocking paths: FIFO order, qsize/empty/full/maxsize, FULL
 * on a full queue and EMPTY on an empty one with a zero timeout, and the
 * size ls reports. */
START_TEST(test_queue_nowait) {
  sm_obj *q = make("queue", NULL, "2");
  CK_RES(q, "empty", "", "true");
  CK_OK(q, "put", "1");
  CK_OK(q, "put", "['a', nil]");
  CK_RES(q, "qsize", "", "2");
  CK_RES(q, "full", "", "true");
  CK_RES(q, "maxsize", "", "2");
  ck_assert_uint_eq(q->type->size(q->state), 2);
  CK_ERR(q, "put", "3", WS_FULL, "full");
  CK_RES(q, "qsize", "", "2");
  CK_RES(q, "get", "", "1");
  CK_RES(q, "full", "", "false");
  CK_RES(q, "get", "", "['a',nil]");
  CK_ERR(q, "get", "", WS_EMPTY, "empty");
  CK_RES(q, "empty", "", "true");
  ck_assert_uint_eq(parked(), 0);
  CK_ERR(q, "put", "", WS_VALUE_ERROR, "argument");
  CK_ERR(q, "get", "1", WS_VALUE_ERROR, "argument");
}
END_TEST

/* Proves creation: no argument, nil, 0 and negative sizes are unbounded
 * (as Python's maxsize <= 0), and a non-int is refused. */
START_TEST(test_queue_create) {
  sm_obj *q = make("queue", NULL, "-1");
  for (int i = 0; i < 100; i++)
    CK_OK(q, "put", fmt("%d", i));
  CK_RES(q, "full", "", "false");
  CK_RES(q, "maxsize", "", "-1");
  CK_RES(make("queue", NULL, ""), "maxsize", "", "0");
  CK_RES(make("queue", NULL, "nil"), "maxsize", "", "0");
  sm_obj *o;
  ck_assert_int_eq(make_rc("queue", NULL, "'big'", &o), WS_TYPE_ERROR);
  ck_assert_int_eq(make_rc("queue", NULL, "1, 2", &o), WS_VALUE_ERROR);
}
END_TEST

/* Proves the ring keeps FIFO order while it wraps, grows and shrinks. */
START_TEST(test_queue_ring) {
  sm_obj *q = make("queue", NULL, "");
  int next_in = 0, next_out = 0;
  for (int round = 0; round < 6; round++) {
    for (int i = 0; i < 300; i++)
      CK_OK(q, "put", fmt("%d", next_in++));
    for (int i = 0; i < 250; i++)
      CK_RES(q, "get", "", fmt("%d", next_out++));
  }
  while (next_out < next_in)
    CK_RES(q, "get", "", fmt("%d", next_out++));
  CK_ERR(q, "get", "", WS_EMPTY, "empty");
}
END_TEST

/* Proves getters park on an empty queue and a put hands its item straight
 * to the first of them: the queue stays empty until no getter waits. */
START_TEST(test_queue_handoff) {
  sm_obj *q = make("queue", NULL, "");
  CK_PARK(q, "get", "");
  CK_PARK(q, "get", "");
  CK_PARK(q, "get", "");
  ck_assert_uint_eq(parked(), 3);
  CK_OK(q, "put", "1");
  CK_RES(q, "qsize", "", "0");
  ck_assert_uint_eq(parked(), 2);
  CK_OK(q, "put", "2");
  CK_OK(q, "put", "3");
  ck_assert_uint_eq(parked(), 0);
  CK_RES(q, "qsize", "", "0");
  CK_OK(q, "put", "4");
  CK_RES(q, "qsize", "", "1");
  CK_RES(q, "get", "", "4");
}
END_TEST

/* Proves putters park on a full queue and each get that makes room moves
 * the first putter's item in, in arrival order. */
START_TEST(test_queue_putters) {
  sm_obj *q = make("queue", NULL, "1");
  CK_OK(q, "put", "1");
  CK_PARK(q, "put", "2");
  CK_PARK(q, "put", "3");
  ck_assert_uint_eq(parked(), 2);
  CK_RES(q, "qsize", "", "1");
  CK_RES(q, "get", "", "1");
  CK_RES(q, "qsize", "", "1");
  ck_assert_uint_eq(parked(), 1);
  CK_RES(q, "get", "", "2");
  ck_assert_uint_eq(parked(), 0);
  CK_RES(q, "get", "", "3");
  CK_RES(q, "qsize", "", "0");
}
END_TEST

/* Proves JoinableQueue: every put counts (a handed-off one too), task_done
 * past the count is VALUE_ERROR, join answers TIMEOUT with a zero timeout
 * while tasks are unfinished, and parked joiners are all released when the
 * count reaches zero. */
START_TEST(test_queue_join) {
  sm_obj *q = make("queue", NULL, "");
  CK_OK(q, "join", "");
  CK_ERR(q, "task_done", "", WS_VALUE_ERROR, "too many");
  CK_PARK(q, "get", "");
  CK_OK(q, "put", "'a'"); /* handed to the getter */
  CK_OK(q, "put", "'b'");
  CK_ERR(q, "join", "", WS_TIMEOUT, "unfinished");
  CK_PARK(q, "join", "");
  CK_PARK(q, "join", "");
  ck_assert_uint_eq(parked(), 2);
  CK_OK(q, "task_done", "");
  ck_assert_uint_eq(parked(), 2);
  CK_OK(q, "task_done", "");
  ck_assert_uint_eq(parked(), 0);
  CK_ERR(q, "task_done", "", WS_VALUE_ERROR, "too many");
  CK_OK(q, "join", "");
}
END_TEST

/* Proves destroying a queue answers its parked calls and frees the items of
 * parked putters: a ref inside such an item gives its reference back. */
START_TEST(test_queue_destroy) {
  sm_obj *l = make("list", NULL, "");
  uint64_t lid = l->id;
  sm_obj *q = make("queue", "q", "1");
  CK_OK(q, "put", "0");
  CK_PARK(q, "put", fmt("[%s]", ref(l)));
  ck_assert_uint_eq(l->refs, 2);
  sm_obj *q2 = make("queue", "q2", "");
  CK_PARK(q2, "get", "");
  CK_OK(q2, "put", "1"); /* answers the getter, and leaves an unfinished task */
  CK_PARK(q2, "join", "");
  CK_PARK(q2, "get", "");
  ck_assert_uint_eq(parked(), 3);
  reg_destroy(reg, q2);
  reg_destroy(reg, q);
  ck_assert_uint_eq(parked(), 0);
  ck_assert_uint_eq(l->refs, 1);
  reg_decref(reg, l);
  ck_assert_ptr_null(reg_get(reg, lid));
}
END_TEST

/* ---- lock and rlock ---- */

/* Proves acquire/release/locked, TIMEOUT for a held lock with a zero
 * timeout (a plain lock is not re-entrant), NOT_OWNER for a release of a
 * free lock, and the auto_release argument's checks. */
START_TEST(test_lock_basic) {
  sm_obj *l = make("lock", NULL, "");
  CK_RES(l, "locked", "", "false");
  CK_RES(l, "acquire", "", "true");
  CK_RES(l, "locked", "", "true");
  CK_ERR(l, "acquire", "", WS_TIMEOUT, "held");
  CK_OK(l, "release", "");
  CK_RES(l, "locked", "", "false");
  CK_ERR(l, "release", "", WS_NOT_OWNER, "unlocked");
  CK_ERR(l, "acquire", "1", WS_VALUE_ERROR, "argument");
  ck_assert_ptr_null(l->type->size);
  sm_obj *o;
  /* The owner-death policy: a bool (auto_release) or one of its names. */
  ck_assert_int_eq(make_rc("lock", NULL, "'yes'", &o), WS_VALUE_ERROR);
  ck_assert_int_eq(make_rc("lock", NULL, "1.5", &o), WS_TYPE_ERROR);
  make("lock", NULL, "'break'");
  make("rlock", NULL, "'keep'");
  ck_assert_int_eq(make_rc("rlock", NULL, "true, 1", &o), WS_VALUE_ERROR);
  make("lock", NULL, "false");
  make("lock", NULL, "nil");
}
END_TEST

/* Proves waiters get a released lock in arrival order, one at a time: the
 * lock never becomes free while someone waits. */
START_TEST(test_lock_waiters) {
  sm_obj *l = make("lock", NULL, "");
  CK_OK(l, "acquire", "");
  CK_PARK(l, "acquire", "");
  CK_PARK(l, "acquire", "");
  ck_assert_uint_eq(parked(), 2);
  CK_OK(l, "release", "");
  CK_RES(l, "locked", "", "true");
  ck_assert_uint_eq(parked(), 1);
  CK_OK(l, "release", "");
  ck_assert_uint_eq(parked(), 0);
  CK_RES(l, "locked", "", "true");
  CK_OK(l, "release", "");
  CK_RES(l, "locked", "", "false");
}
END_TEST

/* Proves owner_gone: the closed connection's lock goes to the next waiter;
 * another connection's id changes nothing; with auto_release=false the
 * lock stays held and the waiter waits. */
START_TEST(test_lock_owner_gone) {
  sm_obj *l = make("lock", NULL, "");
  CK_OK(l, "acquire", "");
  CK_PARK(l, "acquire", "");
  owner_gone(l, 77, 1); /* not the holder */
  ck_assert_uint_eq(parked(), 1);
  owner_gone(l, 0, 1);
  ck_assert_uint_eq(parked(), 0);
  CK_RES(l, "locked", "", "true");
  owner_gone(l, 0, 1);
  CK_RES(l, "locked", "", "false");

  sm_obj *k = make("lock", NULL, "false");
  CK_OK(k, "acquire", "");
  CK_PARK(k, "acquire", "");
  owner_gone(k, 0, 1);
  ck_assert_uint_eq(parked(), 1);
  CK_RES(k, "locked", "", "true");
}
END_TEST

/* Proves the rlock counts re-entrant acquisitions of its holder, stays held
 * until as many releases, refuses one more (NOT_OWNER), and that owner_gone
 * releases every level at once. */
START_TEST(test_rlock) {
  sm_obj *r = make("rlock", NULL, "");
  CK_RES(r, "count", "", "0");
  CK_RES(r, "acquire", "", "true");
  CK_RES(r, "acquire", "", "true");
  CK_RES(r, "acquire", "", "true");
  CK_RES(r, "count", "", "3");
  CK_OK(r, "release", "");
  CK_OK(r, "release", "");
  CK_RES(r, "locked", "", "true");
  CK_RES(r, "count", "", "1");
  CK_OK(r, "release", "");
  CK_RES(r, "locked", "", "false");
  CK_RES(r, "count", "", "0");
  CK_ERR(r, "release", "", WS_NOT_OWNER, "unlocked");
  CK_OK(r, "acquire", "");
  CK_OK(r, "acquire", "");
  owner_gone(r, 0, 2);
  CK_RES(r, "locked", "", "false");
  CK_RES(r, "count", "", "0");
}
END_TEST

/* ---- semaphore and bounded_semaphore ---- */

/* Proves acquire takes units until none is left (then TIMEOUT with a zero
 * timeout, or parking), release(n) serves parked acquirers first in
 * arrival order and keeps the rest, and the argument checks. */
START_TEST(test_semaphore) {
  sm_obj *s = make("semaphore", NULL, "2");
  CK_RES(s, "get_value", "", "2");
  CK_RES(s, "acquire", "", "true");
  CK_RES(s, "acquire", "", "true");
  CK_ERR(s, "acquire", "", WS_TIMEOUT, "no unit");
  CK_PARK(s, "acquire", "");
  CK_PARK(s, "acquire", "");
  CK_OK(s, "release", "");
  ck_assert_uint_eq(parked(), 1);
  CK_RES(s, "get_value", "", "0");
  CK_OK(s, "release", "3");
  ck_assert_uint_eq(parked(), 0);
  CK_RES(s, "get_value", "", "2");
  CK_OK(s, "release", "5"); /* a plain semaphore has no bound */
  CK_RES(s, "get_value", "", "7");
  CK_ERR(s, "release", "0", WS_VALUE_ERROR, "one or more");
  CK_ERR(s, "release", "'x'", WS_TYPE_ERROR, "int");
  CK_RES(make("semaphore", NULL, ""), "get_value", "", "1");
  CK_RES(make("semaphore", NULL, "nil, false"), "get_value", "", "1");
  sm_obj *o;
  ck_assert_int_eq(make_rc("semaphore", NULL, "-1", &o), WS_VALUE_ERROR);
  ck_assert_int_eq(make_rc("bounded_semaphore", NULL, "1.5", &o), WS_TYPE_ERROR);
}
END_TEST

/* Proves a bounded semaphore refuses a release past its initial value with
 * VALUE_ERROR and releases nothing then, while a plain one does not. */
START_TEST(test_bounded_semaphore) {
  sm_obj *b = make("bounded_semaphore", NULL, "2");
  CK_ERR(b, "release", "", WS_VALUE_ERROR, "too many");
  CK_OK(b, "acquire", "");
  CK_OK(b, "acquire", "");
  CK_ERR(b, "release", "3", WS_VALUE_ERROR, "too many");
  CK_RES(b, "get_value", "", "0");
  CK_OK(b, "release", "2");
  CK_RES(b, "get_value", "", "2");
}
END_TEST

/* Proves owner_gone gives a closed connection's units back to the next
 * waiters, never lifts a bounded semaphore past its initial value, and
 * does nothing with auto_release=false. */
START_TEST(test_semaphore_owner_gone) {
  sm_obj *s = make("semaphore", NULL, "3");
  for (int i = 0; i < 3; i++)
    CK_OK(s, "acquire", "");
  CK_PARK(s, "acquire", "");
  owner_gone(s, 0, 3);
  ck_assert_uint_eq(parked(), 0);
  CK_RES(s, "get_value", "", "2");

  sm_obj *b = make("bounded_semaphore", NULL, "1");
  CK_OK(b, "acquire", "");
  CK_OK(b, "release", "");
  owner_gone(b, 0, 1);
  CK_RES(b, "get_value", "", "1");

  sm_obj *k = make("semaphore", NULL, "1, false");
  CK_OK(k, "acquire", "");
  CK_PARK(k, "acquire", "");
  owner_gone(k, 0, 1);
  ck_assert_uint_eq(parked(), 1);
  CK_RES(k, "get_value", "", "0");
}
END_TEST

/* ---- condition ---- */

/* The condition's lock object. */
static sm_obj *cond_lock(sm_obj *cv) {
  CK_OK(cv, "lock", "");
  vinfo vi;
  ck_assert_int_eq(vw_peek(vb_span(&result), &vi), VW_OK);
  ck_assert_int_eq(vi.kind, VK_REF);
  sm_obj *lo = reg_get(reg, vi.ref_id);
  ck_assert_ptr_nonnull(lo);
  return lo;
}

/* Proves a condition made without a lock has its own rlock, wait and notify
 * need the lock held (NOT_OWNER), wait with a zero timeout answers false
 * and keeps the lock, and a parked wait releases the lock fully. */
START_TEST(test_condition_basic) {
  sm_obj *cv = make("condition", NULL, "");
  sm_obj *lo = cond_lock(cv);
  ck_assert_str_eq(lo->type->name, "rlock");
  CK_ERR(cv, "wait", "", WS_NOT_OWNER, "un-acquired");
  CK_ERR(cv, "notify", "", WS_NOT_OWNER, "un-acquired");
  CK_ERR(cv, "notify_all", "", WS_NOT_OWNER, "un-acquired");
  CK_ERR(cv, "release", "", WS_NOT_OWNER, "unlocked");
  CK_RES(cv, "acquire", "", "true");
  CK_RES(cv, "wait", "", "false");
  CK_RES(lo, "count", "", "1");
  CK_RES(cv, "acquire", "", "true");
  CK_PARK(cv, "wait", "");
  CK_RES(lo, "locked", "", "false");
  ck_assert_uint_eq(parked(), 1);
  CK_ERR(cv, "notify", "-1", WS_VALUE_ERROR, ">= 0");
}
END_TEST

/* Proves notify moves a waiter to the lock without answering it, and the
 * waiter is answered only when it holds the lock again, with its rlock
 * count restored; notify(n) wakes the first n in arrival order,
 * notify_all the rest, and a notify with nobody waiting changes nothing. */
START_TEST(test_condition_notify) {
  sm_obj *cv = make("condition", NULL, "");
  sm_obj *lo = cond_lock(cv);
  CK_OK(cv, "acquire", "");
  CK_OK(cv, "acquire", "");
  CK_PARK(cv, "wait", ""); /* saves count 2 */
  CK_OK(cv, "acquire", "");
  CK_PARK(cv, "wait", ""); /* saves count 1 */
  CK_OK(cv, "acquire", "");
  CK_PARK(cv, "wait", "");
  ck_assert_uint_eq(parked(), 3);
  CK_OK(cv, "acquire", "");
  CK_OK(cv, "notify", "2");
  ck_assert_uint_eq(parked(), 3); /* both now wait for the lock */
  CK_OK(cv, "release", "");       /* the first gets it, with count 2 */
  ck_assert_uint_eq(parked(), 2);
  CK_RES(lo, "count", "", "2");
  CK_OK(lo, "release", "");
  CK_OK(lo, "release", ""); /* the second gets it, with count 1 */
  ck_assert_uint_eq(parked(), 1);
  CK_RES(lo, "count", "", "1");
  CK_OK(cv, "notify_all", "");
  CK_OK(cv, "release", "");
  ck_assert_uint_eq(parked(), 0);
  CK_RES(lo, "count", "", "1");
  CK_OK(cv, "notify", "5"); /* nobody waits: nothing happens */
  CK_OK(cv, "release", "");
  CK_RES(lo, "locked", "", "false");
}
END_TEST

/* Proves a condition over a given lock or rlock shares it (acquire through
 * one is seen by the other), keeps an anonymous one alive by a reference
 * given back on destroy, refuses other kinds, and answers NOT_FOUND once a
 * named lock it used is deleted. */
START_TEST(test_condition_given_lock) {
  sm_obj *l = make("lock", NULL, "");
  sm_obj *cv = make("condition", NULL, ref(l));
  ck_assert_uint_eq(l->refs, 2);
  ck_assert_ptr_eq(cond_lock(cv), l);
  CK_OK(cv, "acquire", "");
  CK_RES(l, "locked", "", "true");
  CK_OK(l, "release", "");
  reg_decref(reg, cv);
  ck_assert_uint_eq(l->refs, 1);

  sm_obj *o, *q = make("queue", NULL, "");
  ck_assert_int_eq(make_rc("condition", NULL, ref(q), &o), WS_TYPE_ERROR);
  ck_assert_int_eq(make_rc("condition", NULL, "1", &o), WS_TYPE_ERROR);

  sm_obj *nl = make("lock", "named-lock", "");
  sm_obj *cv2 = make("condition", "cv2", ref(nl));
  reg_destroy(reg, nl);
  CK_ERR(cv2, "acquire", "", WS_NOT_FOUND, "deleted");
  CK_ERR(cv2, "lock", "", WS_NOT_FOUND, "deleted");
}
END_TEST

/* Proves destroying a condition answers its waiters and frees its own
 * rlock, and destroying a lock answers the condition waiters moved to it. */
START_TEST(test_condition_destroy) {
  sm_obj *cv = make("condition", "cv", "");
  uint64_t lid = cond_lock(cv)->id;
  CK_OK(cv, "acquire", "");
  CK_PARK(cv, "wait", "");
  ck_assert_uint_eq(parked(), 1);
  reg_destroy(reg, cv);
  ck_assert_uint_eq(parked(), 0);
  ck_assert_ptr_null(reg_get(reg, lid));

  sm_obj *l = make("lock", "l", "");
  sm_obj *cv2 = make("condition", "cv2", ref(l));
  CK_OK(cv2, "acquire", "");
  CK_PARK(cv2, "wait", "");
  CK_OK(cv2, "acquire", "");
  CK_OK(cv2, "notify", ""); /* now waiting for the lock */
  CK_PARK(cv2, "acquire", "");
  ck_assert_uint_eq(parked(), 2);
  reg_destroy(reg, l);
  ck_assert_uint_eq(parked(), 0);
}
END_TEST

/* ---- event ---- */

/* Proves set/clear/is_set, wait answering at once when set or with a zero
 * timeout (false), and set releasing every parked waiter. */
START_TEST(test_event) {
  sm_obj *e = make("event", NULL, "");
  CK_RES(e, "is_set", "", "false");
  CK_RES(e, "wait", "", "false");
  CK_PARK(e, "wait", "");
  CK_PARK(e, "wait", "");
  CK_PARK(e, "wait", "");
  ck_assert_uint_eq(parked(), 3);
  CK_OK(e, "set", "");
  ck_assert_uint_eq(parked(), 0);
  CK_RES(e, "is_set", "", "true");
  ck_assert_int_eq(run_t(e, "wait", "", FOREVER), WS_OK);
  ck_assert_str_eq(res(), "true");
  CK_OK(e, "clear", "");
  CK_RES(e, "wait", "", "false");
  CK_PARK(e, "wait", "");
  reg_decref(reg, e);
  ck_assert_uint_eq(parked(), 0);
  sm_obj *o;
  ck_assert_int_eq(make_rc("event", NULL, "1", &o), WS_VALUE_ERROR);
}
END_TEST

/* ---- barrier ---- */

/* Proves a barrier releases its parties together, answering the last
 * arrival its index (parties - 1), then starts a new round. */
START_TEST(test_barrier_rounds) {
  sm_obj *b = make("barrier", NULL, "3");
  CK_RES(b, "parties", "", "3");
  for (int round = 0; round < 2; round++) {
    CK_PARK(b, "wait", "");
    CK_PARK(b, "wait", "");
    CK_RES(b, "n_waiting", "", "2");
    ck_assert_uint_eq(parked(), 2);
    ck_assert_int_eq(run_t(b, "wait", "", FOREVER), WS_OK);
    ck_assert_str_eq(res(), "2");
    ck_assert_uint_eq(parked(), 0);
    CK_RES(b, "n_waiting", "", "0");
  }
  CK_RES(b, "broken", "", "false");
  CK_RES(make("barrier", NULL, "1"), "wait", "", "0");
  sm_obj *o;
  ck_assert_int_eq(make_rc("barrier", NULL, "0", &o), WS_VALUE_ERROR);
  ck_assert_int_eq(make_rc("barrier", NULL, "", &o), WS_VALUE_ERROR);
  ck_assert_int_eq(make_rc("barrier", NULL, "'2'", &o), WS_TYPE_ERROR);
}
END_TEST

/* Proves a wait that may not block breaks the barrier, as Python's
 * wait(0): the parked waiters are answered, every later wait is BROKEN
 * until reset, abort breaks it too, and reset with waiters answers them
 * and leaves it usable. */
START_TEST(test_barrier_broken) {
  sm_obj *b = make("barrier", NULL, "3");
  CK_PARK(b, "wait", "");
  CK_ERR(b, "wait", "", WS_BROKEN, "broken");
  ck_assert_uint_eq(parked(), 0);
  CK_RES(b, "broken", "", "true");
  ck_assert_int_eq(run_t(b, "wait", "", FOREVER), WS_BROKEN);
  CK_OK(b, "reset", "");
  CK_RES(b, "broken", "", "false");
  CK_PARK(b, "wait", "");
  CK_PARK(b, "wait", "");
  CK_OK(b, "abort", "");
  ck_assert_uint_eq(parked(), 0);
  CK_RES(b, "broken", "", "true");
  CK_RES(b, "n_waiting", "", "0");
  CK_OK(b, "reset", "");
  CK_PARK(b, "wait", "");
  CK_OK(b, "reset", "");
  ck_assert_uint_eq(parked(), 0);
  CK_RES(b, "broken", "", "false");
  CK_PARK(b, "wait", "");
  CK_PARK(b, "wait", "");
  ck_assert_int_eq(run_t(b, "wait", "", FOREVER), WS_OK);
  ck_assert_str_eq(res(), "2");
}
END_TEST

/* Proves destroying a barrier answers its waiters without breaking anything
 * on the way (no drop hook runs against a half-freed barrier). */
START_TEST(test_barrier_destroy) {
  sm_obj *b = make("barrier", "b", "4");
  CK_PARK(b, "wait", "");
  CK_PARK(b, "wait", "");
  CK_PARK(b, "wait", "");
  reg_destroy(reg, b);
  ck_assert_uint_eq(parked(), 0);
}
END_TEST

/* ---- array ---- */

/* Proves creation from a length (zeros) or a list, every typecode, and the
 * creation errors: unknown typecode, non-str typecode, negative or huge
 * length, a list item that does not fit. */
START_TEST(test_array_create) {
  sm_obj *a = make("array", NULL, "'i32', 3");
  CK_RES(a, "slice", "", "[0,0,0]");
  CK_RES(a, "len", "", "3");
  ck_assert_uint_eq(a->type->size(a->state), 3);
  CK_RES(a, "typecode", "", "'i32'");
  const char *codes[] = {"i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64"};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
    CK_RES(make("array", NULL, fmt("'%s', [1, 2, 3]", codes[i])), "slice", "", "[1,2,3]");
  CK_RES(make("array", NULL, "'f32', [1, 2.5]"), "slice", "", "[1.0,2.5]");
  CK_RES(make("array", NULL, "'f64', 2"), "slice", "", "[0.0,0.0]");
  CK_RES(make("array", NULL, "'u8', []"), "len", "", "0");
  sm_obj *o;
  ck_assert_int_eq(make_rc("array", NULL, "'q', 1", &o), WS_VALUE_ERROR);
  ck_assert_ptr_nonnull(strstr(err, "typecode"));
  ck_assert_int_eq(make_rc("array", NULL, "8, 1", &o), WS_TYPE_ERROR);
  ck_assert_int_eq(make_rc("array", NULL, "'i8', -1", &o), WS_VALUE_ERROR);
  ck_assert_int_eq(make_rc("array", NULL, "'i64', 1000000000000", &o), WS_VALUE_ERROR);
  ck_assert_int_eq(make_rc("array", NULL, "'u8', [1, 256]", &o), WS_VALUE_ERROR);
  ck_assert_int_eq(make_rc("array", NULL, "'i8', [1.5]", &o), WS_TYPE_ERROR);
  ck_assert_int_eq(make_rc("array", NULL, "'i8', 'abc'", &o), WS_TYPE_ERROR);
  ck_assert_int_eq(make_rc("array", NULL, "'i8'", &o), WS_VALUE_ERROR);
}
END_TEST

/* Proves get/set with Python's negative indexes, VALUE_ERROR out of range
 * or for a value that does not fit (the element unchanged), and
 * TYPE_ERROR for a double in an integer array. */
START_TEST(test_array_get_set) {
  sm_obj *a = make("array", NULL, "'i8', 3");
  CK_OK(a, "set", "0, 127");
  CK_OK(a, "set", "-1, -128");
  CK_RES(a, "get", "0", "127");
  CK_RES(a, "get", "2", "-128");
  CK_RES(a, "get", "-3", "127");
  CK_ERR(a, "get", "3", WS_VALUE_ERROR, "out of range");
  CK_ERR(a, "get", "-4", WS_VALUE_ERROR, "out of range");
  CK_ERR(a, "set", "0, 128", WS_VALUE_ERROR, "does not fit");
  CK_ERR(a, "set", "0, -129", WS_VALUE_ERROR, "does not fit");
  CK_ERR(a, "set", "0, 1.5", WS_TYPE_ERROR, "int");
  CK_ERR(a, "get", "'0'", WS_TYPE_ERROR, "int");
  CK_RES(a, "get", "0", "127");
  sm_obj *u = make("array", NULL, "'u8', 1");
  CK_ERR(u, "set", "0, -1", WS_VALUE_ERROR, "does not fit");
  CK_OK(u, "set", "0, 255");
  CK_RES(u, "get", "0", "255");
  sm_obj *u32 = make("array", NULL, "'u32', 1");
  CK_OK(u32, "set", "0, 4294967295");
  CK_ERR(u32, "set", "0, 4294967296", WS_VALUE_ERROR, "does not fit");
  CK_RES(u32, "get", "0", "4294967295");
  sm_obj *u64 = make("array", NULL, "'u64', 1");
  CK_OK(u64, "set", "0, 9223372036854775807");
  CK_RES(u64, "get", "0", "9223372036854775807");
  CK_ERR(u64, "set", "0, -1", WS_VALUE_ERROR, "does not fit");
  sm_obj *f = make("array", NULL, "'f32', 2");
  CK_OK(f, "set", "0, 1.5");
  CK_OK(f, "set", "1, 3");
  CK_RES(f, "slice", "", "[1.5,3.0]");
  CK_ERR(f, "set", "0, 1e39", WS_VALUE_ERROR, "f32");
  CK_ERR(f, "set", "0, 'x'", WS_TYPE_ERROR, "int or double");
  CK_RES(f, "get", "0", "1.5");
  sm_obj *d = make("array", NULL, "'f64', 1");
  CK_OK(d, "set", "0, 1e300");
  CK_RES(d, "get", "0", "1e+300");
}
END_TEST

/* Proves add returns the new value, refuses to overflow the element type
 * (u64 included, at INT64_MAX) leaving it unchanged, and adds floats in
 * double, an f32 answering what it stored. */
START_TEST(test_array_add) {
  sm_obj *a = make("array", NULL, "'i8', [120, -120]");
  CK_RES(a, "add", "0, 7", "127");
  CK_ERR(a, "add", "0, 1", WS_VALUE_ERROR, "does not fit");
  CK_ERR(a, "add", "1, -9", WS_VALUE_ERROR, "does not fit");
  CK_RES(a, "add", "-1, -8", "-128");
  CK_RES(a, "slice", "", "[127,-128]");
  CK_ERR(a, "add", "0, 1.0", WS_TYPE_ERROR, "int");
  sm_obj *i = make("array", NULL, "'i64', [9223372036854775800]");
  CK_ERR(i, "add", "0, 100", WS_VALUE_ERROR, "overflow");
  CK_RES(i, "get", "0", "9223372036854775800");
  sm_obj *u = make("array", NULL, "'u64', [9223372036854775806]");
  CK_RES(u, "add", "0, 1", "9223372036854775807");
  CK_ERR(u, "add", "0, 1", WS_VALUE_ERROR, "overflow");
  CK_RES(u, "add", "0, -9223372036854775807", "0");
  CK_ERR(u, "add", "0, -1", WS_VALUE_ERROR, "does not fit");
  sm_obj *f = make("array", NULL, "'f32', [1]");
  CK_RES(f, "add", "0, 0.25", "1.25");
  CK_RES(f, "add", "0, 2", "3.25");
  CK_RES(f, "add", "0, 0.1", "3.35"); /* the f32 nearest 3.35, printed by %g */
  CK_ERR(f, "add", "0, 1e39", WS_VALUE_ERROR, "f32");
  sm_obj *d = make("array", NULL, "'f64', [0.5]");
  CK_RES(d, "add", "0, 1", "1.5");
}
END_TEST

/* Proves slice clamps like a list's and set_slice writes in place, all or
 * nothing: past the end is VALUE_ERROR and a bad item TYPE_ERROR or
 * VALUE_ERROR, with the array unchanged. */
START_TEST(test_array_slices) {
  sm_obj *a = make("array", NULL, "'i16', [1, 2, 3, 4, 5]");
  CK_RES(a, "slice", "1, 3", "[2,3]");
  CK_RES(a, "slice", "-2, nil", "[4,5]");
  CK_RES(a, "slice", "nil, 100", "[1,2,3,4,5]");
  CK_RES(a, "slice", "4, 1", "[]");
  CK_ERR(a, "slice", "'a'", WS_TYPE_ERROR, "slice bounds");
  CK_OK(a, "set_slice", "1, [20, 30]");
  CK_RES(a, "slice", "", "[1,20,30,4,5]");
  CK_OK(a, "set_slice", "-2, [40, 50]");
  CK_OK(a, "set_slice", "5, []");
  CK_RES(a, "slice", "", "[1,20,30,40,50]");
  CK_ERR(a, "set_slice", "4, [1, 2]", WS_VALUE_ERROR, "past the end");
  CK_ERR(a, "set_slice", "6, []", WS_VALUE_ERROR, "out of range");
  CK_ERR(a, "set_slice", "0, [1, 70000]", WS_VALUE_ERROR, "does not fit");
  CK_ERR(a, "set_slice", "0, [1, 'x']", WS_TYPE_ERROR, "int");
  CK_ERR(a, "set_slice", "0, 1", WS_TYPE_ERROR, "list");
  CK_RES(a, "slice", "", "[1,20,30,40,50]");
}
END_TEST

/* ---- method tables ---- */

typedef struct expect_methods {
  const obj_type *t;
  const char *readers; /* space-separated, with spaces around */
  const char *writers;
} expect_methods;

/* Proves each type has exactly the methods of docs/protocol.md and that
 * every mutating method (and no other) carries METHOD_MUTATES; the internal
 * methods only a replay runs (cmd.h) are named with a leading underscore,
 * mutate, and are not the protocol's. */
START_TEST(test_method_tables) {
  const expect_methods want[] = {
      {&t_queue_type, " qsize empty full maxsize join ", " put get task_done "},
      {&t_lock_type, " locked ", " acquire release "},
      {&t_rlock_type, " locked count ", " acquire release "},
      {&t_semaphore_type, " get_value ", " acquire release "},
      {&t_bounded_semaphore_type, " get_value ", " acquire release "},
      {&t_condition_type, " lock ", " acquire release wait notify notify_all "},
      {&t_event_type, " is_set wait ", " set clear "},
      {&t_barrier_type, " parties n_waiting broken ", " wait reset abort "},
      {&t_array_type, " get len typecode slice ", " set add set_slice "},
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    const obj_type *t = want[i].t;
    ck_assert_ptr_eq(reg_type(reg, t->name), t);
    size_t n_expected = 0;
    for (const char *p = want[i].readers; *p; p++)
      n_expected += *p == ' ';
    for (const char *p = want[i].writers; *p; p++)
      n_expected += *p == ' ';
    size_t n_public = 0;
    for (size_t m = 0; m < t->n_methods; m++)
      n_public += !(t->methods[m].flags & METHOD_INTERNAL);
    ck_assert_uint_eq(n_public, n_expected - 2);
    for (size_t m = 0; m < t->n_methods; m++) {
      if (t->methods[m].flags & METHOD_INTERNAL) {
        ck_assert_msg(t->methods[m].name[0] == '_' && (t->methods[m].flags & METHOD_MUTATES),
                      "%s.%s internal", t->name, t->methods[m].name);
        continue;
      }
      const char *name = fmt(" %s ", t->methods[m].name);
      bool writer = strstr(want[i].writers, name) != NULL;
      ck_assert_msg(writer || strstr(want[i].readers, name), "%s.%s unexpected", t->name,
                    t->methods[m].name);
      ck_assert_msg(((t->methods[m].flags & METHOD_MUTATES) != 0) == writer, "%s.%s mutation flag",
                    t->name, t->methods[m].name);
    }
  }
}
END_TEST

Suite *blocking_types_suite(void) {
  Suite *s = suite_create("blocking_types");
  const smtest_group groups[] = {
      {"queue",
       {test_queue_nowait, test_queue_create, test_queue_ring, test_queue_handoff,
        test_queue_putters, test_queue_join, test_queue_destroy}},
      {"lock", {test_lock_basic, test_lock_waiters, test_lock_owner_gone, test_rlock}},
      {"semaphore", {test_semaphore, test_bounded_semaphore, test_semaphore_owner_gone}},
      {"condition",
       {test_condition_basic, test_condition_notify, test_condition_given_lock,
        test_condition_destroy}},
      {"event", {test_event}},
      {"barrier", {test_barrier_rounds, test_barrier_broken, test_barrier_destroy}},
      {"array", {test_array_create, test_array_get_set, test_array_add, test_array_slices}},
      {"methods", {test_method_tables}},
  };
  smtest_add_groups(s, groups, sizeof groups / sizeof groups[0], setup, teardown);
  return s;
}
