/* SPDX-License-Identifier: MIT */
/* check_event.c - sm_event through libstatemgr against a real statemgrd,
 * porting the semantics of CPython's EventTests (Lib/test/lock_tests.py)
 * and _TestEvent (Lib/test/_test_multiprocessing.py): set/clear/is_set,
 * one set() waking every waiter in processes and threads, wait deadlines
 * answering false within a sane bound, wait on a set event answering true
 * at once, and waiters woken by a set that is cleared again at once. */
#include "smtest_sync.h"

/* EventTests.test_is_set: a new event is clear; set makes it set (twice
 * is fine), clear clears it (twice is fine). A named event is shared:
 * a second proxy sees the flag. */
START_TEST(test_set_clear) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_event *e, *same;
  OK(sm_event_open(c, "flag", &e));
  OK(sm_event_open(c, "flag", &same));
  ck_assert_str_eq(sm_proxy_type(sm_event_proxy(e)), "event");
  bool b = true;
  OK(sm_event_is_set(e, &b));
  ck_assert(!b);
  OK(sm_event_set(e));
  OK(sm_event_is_set(same, &b));
  ck_assert(b);
  OK(sm_event_set(e));
  OK(sm_event_is_set(e, &b));
  ck_assert(b);
  OK(sm_event_clear(same));
  OK(sm_event_is_set(e, &b));
  ck_assert(!b);
  OK(sm_event_clear(e));
  OK(sm_event_is_set(e, &b));
  ck_assert(!b);
  sm_event *bad = NULL;
  FAILS(sm_event_open(c, NULL, NULL), SM_EINVAL);
  sm_queue *q;
  OK(sm_queue_open(c, "a-queue", 0, &q));
  FAILS(sm_event_open(c, "a-queue", &bad), SM_ETYPE);
  ck_assert_ptr_null(bad);
  sm_queue_free(q);
  sm_event_free(same);
  sm_event_free(e);
  sm_client_free(c);
}
END_TEST

typedef struct waiters_ctx {
  sm_event *e;
  int64_t timeout_ms;
  sm_var *woke; /* waits that answered true */
} waiters_ctx;

static int event_waiter(void *arg, int id) {
  (void)id;
  waiters_ctx *x = arg;
  bool was_set = false;
  WOK(sm_event_wait(x->e, x->timeout_ms, &was_set));
  WCHECK(was_set);
  WOK(sm_var_add_int(x->woke, 1, NULL));
  return 0;
}

/* EventTests._check_notify / _TestEvent.test_event: 3 processes and 4
 * threads wait with no deadline (7 parked calls, none returned); one set
 * wakes all 7, each seeing true; a wait on the set event then answers
 * true at once, with or without a deadline; after clear, wait(0) is false
 * at once. */
START_TEST(test_set_wakes_all) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  waiters_ctx x = {.timeout_ms = SM_FOREVER};
  sm_value *zero = sm_value_int(0);
  OK(sm_event_open(c, NULL, &x.e));
  OK(sm_var_open(c, NULL, zero, &x.woke));
  sm_value_free(zero);
  smtest_workers w;
  smtest_workers_start(&w, 3, 4, event_waiter, &x);
  smtest_wait_waiters(c, 7);
  ck_assert_int_eq(smtest_var_int(x.woke), 0);
  OK(sm_event_set(x.e));
  smtest_workers_join(&w);
  ck_assert_int_eq(smtest_var_int(x.woke), 7);
  ck_assert_int_eq(smtest_waiters(c), 0);
  bool b = false;
  double t0 = smtest_now_ms();
  OK(sm_event_wait(x.e, SM_FOREVER, &b));
  ck_assert(b);
  b = false;
  OK(sm_event_wait(x.e, 5000, &b));
  ck_assert(b);
  OK(sm_event_wait(x.e, 0, NULL));
  ck_assert_double_lt(smtest_now_ms() - t0, 1000.0);
  OK(sm_event_clear(x.e));
  OK(sm_event_wait(x.e, 0, &b));
  ck_assert(!b);
  sm_var_free(x.woke);
  sm_event_free(x.e);
  sm_client_free(c);
}
END_TEST

typedef struct timed_ctx {
  sm_event *e;
  sm_var *bad; /* waits outside the bound or not false */
} timed_ctx;

static int timed_waiter(void *arg, int id) {
  (void)id;
  timed_ctx *x = arg;
  bool b = true;
  double t0 = smtest_now_ms();
  WOK(sm_event_wait(x->e, 0, &b));
  WCHECK(!b);
  WCHECK(smtest_now_ms() - t0 < 1000.0);
  b = true;
  t0 = smtest_now_ms();
  WOK(sm_event_wait(x->e, 100, &b));
  double waited = smtest_now_ms() - t0;
  if (b || waited < 90.0 || waited > 2100.0) WOK(sm_var_add_int(x->bad, 1, NULL));
  return 0;
}

/* EventTests.test_timeout: 2 processes and 3 threads each wait(0) (false
 * at once) then wait 100 ms on a clear event: false, after 90 ms..2.1 s;
 * nothing stays parked. */
START_TEST(test_wait_timeout) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  timed_ctx x;
  sm_value *zero = sm_value_int(0);
  OK(sm_event_open(c, NULL, &x.e));
  OK(sm_var_open(c, NULL, zero, &x.bad));
  sm_value_free(zero);
  smtest_run_workers(2, 3, timed_waiter, &x);
  ck_assert_int_eq(smtest_var_int(x.bad), 0);
  ck_assert_int_eq(smtest_waiters(c), 0);
  sm_var_free(x.bad);
  sm_event_free(x.e);
  sm_client_free(c);
}
END_TEST

/* EventTests.test_set_and_clear: 5 waiters (2 processes, 3 threads) wait
 * with a 10 s deadline; set() immediately followed by clear() still wakes
 * every one of them with true, well before the deadline, and the event is
 * clear afterwards. */
START_TEST(test_set_and_clear) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  waiters_ctx x = {.timeout_ms = 10000};
  sm_value *zero = sm_value_int(0);
  OK(sm_event_open(c, NULL, &x.e));
  OK(sm_var_open(c, NULL, zero, &x.woke));
  sm_value_free(zero);
  smtest_workers w;
  smtest_workers_start(&w, 2, 3, event_waiter, &x);
  smtest_wait_waiters(c, 5);
  double t0 = smtest_now_ms();
  OK(sm_event_set(x.e));
  OK(sm_event_clear(x.e));
  smtest_workers_join(&w);
  ck_assert_double_lt(smtest_now_ms() - t0, 5000.0);
  ck_assert_int_eq(smtest_var_int(x.woke), 5);
  bool b = true;
  OK(sm_event_is_set(x.e, &b));
  ck_assert(!b);
  sm_var_free(x.woke);
  sm_event_free(x.e);
  sm_client_free(c);
}
END_TEST

/* A waiter whose process dies leaves nothing parked, and the event goes
 * on working for the others; deleting a named event answers its waiters
 * SM_ENOTFOUND. */
START_TEST(test_waiter_gone_and_delete) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_event *e;
  OK(sm_event_open(c, "doomed", &e));
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    sm_event_wait(e, SM_FOREVER, NULL);
    _exit(0);
  }
  smtest_wait_waiters(c, 1);
  ck_assert_int_eq(kill(pid, SIGKILL), 0);
  ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
  smtest_wait_waiters(c, 0);

  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    _exit(sm_event_wait(e, SM_FOREVER, NULL) == SM_ENOTFOUND ? 0 : 1);
  }
  smtest_wait_waiters(c, 1);
  OK(sm_delete(c, "doomed"));
  int st = -1;
  ck_assert_int_eq(waitpid(pid, &st, 0), pid);
  ck_assert_int_eq(st, 0);
  FAILS(sm_event_set(e), SM_ENOTFOUND);
  sm_event_free(e);
  sm_client_free(c);
}
END_TEST

Suite *event_suite(void) {
  Suite *s = suite_create("event");
  TCase *tc = smtest_daemon_tcase(s, "event", 60);
  tcase_add_test(tc, test_set_clear);
  tcase_add_test(tc, test_set_wakes_all);
  tcase_add_test(tc, test_wait_timeout);
  tcase_add_test(tc, test_set_and_clear);
  tcase_add_test(tc, test_waiter_gone_and_delete);
  return s;
}
