/* SPDX-License-Identifier: MIT */
/* check_condition.c - sm_condition through libstatemgr against a real
 * statemgrd, porting the semantics of CPython's ConditionTests
 * (Lib/test/lock_tests.py) and _TestCondition
 * (Lib/test/_test_multiprocessing.py): the lock rules (wait and notify
 * need it held), notify(n) waking exactly n of the waiters in processes
 * and threads, notify_all, wait deadlines answering false within a sane
 * bound, wait_for with and without a deadline, and a condition over a
 * user's lock or rlock (wait releases an rlock fully and restores its
 * level). */
#include "smtest_sync.h"

/* acquire/release through the condition; wait, notify and notify_all
 * without the lock are SM_ENOTOWNER (test_unacquired_wait,
 * test_unacquired_notify); with it held, notify of nobody is fine, and
 * wait(0) answers false at once and still holds the lock after. */
START_TEST(test_lock_rules) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_condition *cv;
  OK(sm_condition_open(c, NULL, NULL, &cv));
  ck_assert_str_eq(sm_proxy_type(sm_condition_proxy(cv)), "condition");
  bool b = true;
  FAILS(sm_condition_release(cv), SM_ENOTOWNER);
  FAILS(sm_condition_wait(cv, 0, &b), SM_ENOTOWNER);
  FAILS(sm_condition_notify(cv, 1), SM_ENOTOWNER);
  FAILS(sm_condition_notify_all(cv), SM_ENOTOWNER);
  OK(sm_condition_acquire(cv, SM_FOREVER));
  OK(sm_condition_acquire(cv, 0)); /* its own lock is an rlock */
  OK(sm_condition_notify(cv, 1));
  OK(sm_condition_notify_all(cv));
  double t0 = smtest_now_ms();
  OK(sm_condition_wait(cv, 0, &b));
  ck_assert(!b);
  ck_assert_double_lt(smtest_now_ms() - t0, 1000.0);
  OK(sm_condition_release(cv));
  OK(sm_condition_release(cv));
  FAILS(sm_condition_release(cv), SM_ENOTOWNER);
  sm_condition_free(cv);
  sm_client_free(c);
}
END_TEST

typedef struct notify_ctx {
  sm_condition *cv;
  sm_semaphore *sleeping, *woken; /* signals: auto_release off */
  int64_t timeout_ms;             /* each waiter's deadline */
  sm_var *notified;               /* waits that answered true */
} notify_ctx;

/* _TestCondition.f: take the lock, say "sleeping", wait, say "woken". */
static int notify_waiter(void *arg, int id) {
  (void)id;
  notify_ctx *x = arg;
  WOK(sm_condition_acquire(x->cv, SM_FOREVER));
  WOK(sm_semaphore_release(x->sleeping, 1));
  bool notified = false;
  WOK(sm_condition_wait(x->cv, x->timeout_ms, &notified));
  if (notified) WOK(sm_var_add_int(x->notified, 1, NULL));
  WOK(sm_semaphore_release(x->woken, 1));
  WOK(sm_condition_release(x->cv));
  return 0;
}

static int64_t sem_value(sm_semaphore *s) {
  int64_t v = -1;
  OK(sm_semaphore_get_value(s, &v));
  return v;
}

/* Stays at want for 200 ms: nothing else woke up. */
static void stays(sm_semaphore *s, int64_t want) {
  for (int i = 0; i < 10; i++) {
    ck_assert_int_eq(sem_value(s), want);
    smtest_sleep_ms(20);
  }
}

static void notify_ctx_open(sm_client *c, notify_ctx *x, int64_t timeout_ms) {
  sm_value *zero = sm_value_int(0);
  OK(sm_condition_open(c, NULL, NULL, &x->cv));
  OK(sm_semaphore_open_ex(c, NULL, 0, false, false, &x->sleeping));
  OK(sm_semaphore_open_ex(c, NULL, 0, false, false, &x->woken));
  OK(sm_var_open(c, NULL, zero, &x->notified));
  sm_value_free(zero);
  x->timeout_ms = timeout_ms;
}

static void notify_ctx_close(notify_ctx *x) {
  sm_var_free(x->notified);
  sm_semaphore_free(x->woken);
  sm_semaphore_free(x->sleeping);
  sm_condition_free(x->cv);
}

/* Waits until n waiters said "sleeping"; once the main thread then gets
 * the lock, all n are parked in wait (they held it until then). */
static void all_asleep(notify_ctx *x, int n) {
  for (int i = 0; i < n; i++)
    OK(sm_semaphore_acquire(x->sleeping, 10000));
}

/* _TestCondition.test_notify_n: 3 processes and 3 threads wait (no
 * deadline); none has woken after 200 ms; notify(2) wakes exactly 2 (the
 * count reaches 2 and stays there), notify(4) the other 4, and a further
 * notify(3) with nobody waiting wakes nobody. Every wait answered true. */
START_TEST(test_notify_n) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  notify_ctx x;
  notify_ctx_open(c, &x, SM_FOREVER);
  smtest_workers w;
  smtest_workers_start(&w, 3, 3, notify_waiter, &x);
  all_asleep(&x, 6);
  OK(sm_condition_acquire(x.cv, SM_FOREVER));
  OK(sm_condition_release(x.cv));
  smtest_wait_waiters(c, 6);
  stays(x.woken, 0);

  OK(sm_condition_acquire(x.cv, SM_FOREVER));
  OK(sm_condition_notify(x.cv, 2));
  OK(sm_condition_release(x.cv));
  SMTEST_REACHES(sem_value(x.woken), 2);
  stays(x.woken, 2);
  ck_assert_int_eq(smtest_waiters(c), 4);

  OK(sm_condition_acquire(x.cv, SM_FOREVER));
  OK(sm_condition_notify(x.cv, 4));
  OK(sm_condition_release(x.cv));
  SMTEST_REACHES(sem_value(x.woken), 6);

  OK(sm_condition_acquire(x.cv, SM_FOREVER));
  OK(sm_condition_notify(x.cv, 3));
  OK(sm_condition_release(x.cv));
  stays(x.woken, 6);
  smtest_workers_join(&w);
  ck_assert_int_eq(smtest_var_int(x.notified), 6);
  notify_ctx_close(&x);
  sm_client_free(c);
}
END_TEST

/* _TestCondition.test_notify and test_notify_all: notify() (one) wakes
 * exactly one of 4 waiters (2 processes, 2 threads); notify_all wakes the
 * other 3, and every wait answered true (notified, not timed out). */
START_TEST(test_notify_all) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  notify_ctx x;
  notify_ctx_open(c, &x, 20000);
  smtest_workers w;
  smtest_workers_start(&w, 2, 2, notify_waiter, &x);
  all_asleep(&x, 4);
  OK(sm_condition_acquire(x.cv, SM_FOREVER));
  OK(sm_condition_notify(x.cv, 1));
  OK(sm_condition_release(x.cv));
  SMTEST_REACHES(sem_value(x.woken), 1);
  stays(x.woken, 1);
  OK(sm_condition_acquire(x.cv, SM_FOREVER));
  OK(sm_condition_notify_all(x.cv));
  OK(sm_condition_release(x.cv));
  SMTEST_REACHES(sem_value(x.woken), 4);
  smtest_workers_join(&w);
  ck_assert_int_eq(smtest_var_int(x.notified), 4);
  notify_ctx_close(&x);
  sm_client_free(c);
}
END_TEST

typedef struct timeout_ctx {
  sm_condition *cv;
  sm_var *late; /* waits that did not answer false within the bound */
} timeout_ctx;

/* One wait of 100 ms that nobody notifies. */
static int timeout_waiter(void *arg, int id) {
  (void)id;
  timeout_ctx *x = arg;
  WOK(sm_condition_acquire(x->cv, SM_FOREVER));
  bool notified = true;
  double t0 = smtest_now_ms();
  WOK(sm_condition_wait(x->cv, 100, &notified));
  double waited = smtest_now_ms() - t0;
  WCHECK(!notified);
  if (waited < 90.0 || waited > 2100.0) WOK(sm_var_add_int(x->late, 1, NULL));
  WOK(sm_condition_acquire(x->cv, 0)); /* it holds the lock again: one level more */
  WOK(sm_condition_release(x->cv));
  WOK(sm_condition_release(x->cv));
  return 0;
}

/* ConditionTests.test_timeout: 5 waiters (2 processes, 3 threads) each
 * wait 100 ms un-notified; each answers false after 90 ms..2.1 s, holding
 * the lock again. */
START_TEST(test_wait_timeout) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  timeout_ctx x;
  sm_value *zero = sm_value_int(0);
  OK(sm_condition_open(c, NULL, NULL, &x.cv));
  OK(sm_var_open(c, NULL, zero, &x.late));
  sm_value_free(zero);
  smtest_run_workers(2, 3, timeout_waiter, &x);
  ck_assert_int_eq(smtest_var_int(x.late), 0);
  sm_var_free(x.late);
  sm_condition_free(x.cv);
  sm_client_free(c);
}
END_TEST

typedef struct waitfor_ctx {
  sm_condition *cv;
  sm_var *state;
  int calls; /* predicate calls */
} waitfor_ctx;

static bool state_is_4(void *arg) {
  waitfor_ctx *x = arg;
  x->calls++;
  int64_t v = -1;
  return sm_var_get_int(x->state, &v) == SM_OK && v == 4;
}

static bool never(void *arg) {
  waitfor_ctx *x = arg;
  x->calls++;
  return false;
}

/* Raises state to 4, one notify_all per step under the lock. */
static int stepper(void *arg, int id) {
  (void)id;
  waitfor_ctx *x = arg;
  for (int i = 0; i < 4; i++) {
    smtest_sleep_ms(20);
    WOK(sm_condition_acquire(x->cv, SM_FOREVER));
    WOK(sm_var_add_int(x->state, 1, NULL));
    WOK(sm_condition_notify_all(x->cv));
    WOK(sm_condition_release(x->cv));
  }
  return 0;
}

/* Notifies every 20 ms for about 600 ms without changing anything. */
static int nagger(void *arg, int id) {
  (void)id;
  waitfor_ctx *x = arg;
  for (int i = 0; i < 30; i++) {
    smtest_sleep_ms(20);
    WOK(sm_condition_acquire(x->cv, SM_FOREVER));
    WOK(sm_condition_notify_all(x->cv));
    WOK(sm_condition_release(x->cv));
  }
  return 0;
}

/* _TestCondition.test_waitfor: a process raises a shared state to 4 in
 * steps, notifying each time; wait_for(state == 4) with no deadline
 * returns satisfied once it is 4, having checked the predicate more than
 * once but at most once per step plus one. */
START_TEST(test_wait_for) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  waitfor_ctx x = {0};
  sm_value *zero = sm_value_int(0);
  OK(sm_condition_open(c, NULL, NULL, &x.cv));
  OK(sm_var_open(c, NULL, zero, &x.state));
  sm_value_free(zero);
  OK(sm_condition_acquire(x.cv, SM_FOREVER));
  smtest_workers w;
  smtest_workers_start(&w, 1, 0, stepper, &x);
  bool ok = false;
  OK(sm_condition_wait_for(x.cv, state_is_4, &x, SM_FOREVER, &ok));
  ck_assert(ok);
  ck_assert_int_eq(smtest_var_int(x.state), 4);
  ck_assert_int_ge(x.calls, 2);
  ck_assert_int_le(x.calls, 5);
  OK(sm_condition_release(x.cv));
  smtest_workers_join(&w);
  /* Satisfied from the start: no wait at all, even with 0. */
  x.calls = 0;
  OK(sm_condition_acquire(x.cv, SM_FOREVER));
  OK(sm_condition_wait_for(x.cv, state_is_4, &x, 0, &ok));
  ck_assert(ok);
  ck_assert_int_eq(x.calls, 1);
  OK(sm_condition_release(x.cv));
  sm_var_free(x.state);
  sm_condition_free(x.cv);
  sm_client_free(c);
}
END_TEST

/* _TestCondition.test_waitfor_timeout: wait_for(never, 300 ms) answers
 * unsatisfied after 270 ms..2.3 s even while another process notifies
 * every 20 ms (each wait gets only the time left, so the notifications do
 * not stretch the deadline), and checked the predicate after wake-ups. */
START_TEST(test_wait_for_timeout) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  waitfor_ctx x = {0};
  OK(sm_condition_open(c, NULL, NULL, &x.cv));
  smtest_workers w;
  smtest_workers_start(&w, 1, 0, nagger, &x);
  OK(sm_condition_acquire(x.cv, SM_FOREVER));
  bool ok = true;
  double t0 = smtest_now_ms();
  OK(sm_condition_wait_for(x.cv, never, &x, 300, &ok));
  ASSERT_DEADLINE(smtest_now_ms() - t0, 300);
  ck_assert(!ok);
  ck_assert_int_ge(x.calls, 3);
  OK(sm_condition_release(x.cv));
  smtest_workers_join(&w);
  x.calls = 0;
  OK(sm_condition_acquire(x.cv, SM_FOREVER));
  t0 = smtest_now_ms();
  OK(sm_condition_wait_for(x.cv, never, &x, 100, &ok));
  ASSERT_DEADLINE(smtest_now_ms() - t0, 100);
  ck_assert(!ok);
  ck_assert_int_ge(x.calls, 2); /* before, and after the one wait (a clock */
  ck_assert_int_le(x.calls, 3); /* tick may leave a last 1 ms wait) */
  OK(sm_condition_release(x.cv));
  FAILS(sm_condition_wait_for(x.cv, never, &x, 100, &ok), SM_ENOTOWNER);
  sm_condition_free(x.cv);
  sm_client_free(c);
}
END_TEST

typedef struct user_lock_ctx {
  sm_condition *cv;
  sm_rlock *r;
  int rc_try; /* another thread's try-acquire while main waits */
  int rc_notify;
} user_lock_ctx;

static void *rlock_notifier(void *arg) {
  user_lock_ctx *x = arg;
  x->rc_try = sm_rlock_acquire(x->r, 5000);
  x->rc_notify = sm_condition_notify(x->cv, 1);
  sm_rlock_release(x->r);
  return NULL;
}

/* A condition over a user's rlock: the main thread holds it at level 2
 * and waits; wait released it fully (another thread acquires it, through
 * the rlock proxy, and notifies through the condition); the wait answers
 * true with the level restored to 2. Over a plain lock, acquiring through
 * the lock proxy makes wait legal, and the lock shows as held. A dict is
 * not a lock: SM_ETYPE. */
START_TEST(test_user_lock) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  user_lock_ctx x = {0};
  OK(sm_rlock_open(c, NULL, &x.r));
  OK(sm_condition_open(c, NULL, sm_rlock_proxy(x.r), &x.cv));
  OK(sm_rlock_acquire(x.r, SM_FOREVER));
  OK(sm_condition_acquire(x.cv, SM_FOREVER));
  size_t n = 0;
  OK(sm_rlock_count(x.r, &n));
  ck_assert_uint_eq(n, 2);
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, rlock_notifier, &x), 0);
  bool notified = false;
  OK(sm_condition_wait(x.cv, 10000, &notified));
  ck_assert(notified);
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  ck_assert_int_eq(x.rc_try, SM_OK);
  ck_assert_int_eq(x.rc_notify, SM_OK);
  OK(sm_rlock_count(x.r, &n));
  ck_assert_uint_eq(n, 2);
  OK(sm_rlock_release(x.r));
  OK(sm_condition_release(x.cv));
  FAILS(sm_rlock_release(x.r), SM_ENOTOWNER);

  sm_lock *l;
  sm_condition *lcv;
  OK(sm_lock_open(c, "plain", &l));
  OK(sm_condition_open(c, "over-plain", sm_lock_proxy(l), &lcv));
  OK(sm_lock_acquire(l, SM_FOREVER));
  bool held = false;
  OK(sm_condition_wait(lcv, 50, &notified));
  ck_assert(!notified);
  OK(sm_lock_locked(l, &held));
  ck_assert(held);
  OK(sm_condition_release(lcv));
  OK(sm_lock_locked(l, &held));
  ck_assert(!held);

  sm_dict *d;
  OK(sm_dict_open(c, NULL, &d));
  sm_condition *bad = NULL;
  FAILS(sm_condition_open(c, NULL, sm_dict_proxy(d), &bad), SM_ETYPE);
  ck_assert_ptr_null(bad);
  sm_dict_free(d);
  sm_condition_free(lcv);
  sm_lock_free(l);
  sm_condition_free(x.cv);
  sm_rlock_free(x.r);
  sm_client_free(c);
}
END_TEST

Suite *condition_suite(void) {
  Suite *s = suite_create("condition");
  TCase *tc = smtest_daemon_tcase(s, "condition", 60);
  tcase_add_test(tc, test_lock_rules);
  tcase_add_test(tc, test_notify_n);
  tcase_add_test(tc, test_notify_all);
  tcase_add_test(tc, test_wait_timeout);
  tcase_add_test(tc, test_wait_for);
  tcase_add_test(tc, test_wait_for_timeout);
  tcase_add_test(tc, test_user_lock);
  return s;
}
