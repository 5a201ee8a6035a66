/* SPDX-License-Identifier: MIT */
/* check_barrier.c - sm_barrier through libstatemgr against a real
 * statemgrd, porting the semantics of CPython's BarrierTests
 * (Lib/test/lock_tests.py) with 5 parties: 2 processes and 3 threads of
 * the test process in each test. Several rounds pass with every party
 * arriving before any leaves and each arrival index given once; abort and
 * reset break the waiters (SM_EBROKEN) and a reset barrier is usable
 * again; a wait deadline breaks the barrier for everyone; a zero timeout
 * that cannot pass breaks it at once; and a waiter whose process dies
 * breaks it for the others instead of leaving them waiting forever. */
#include "smtest_sync.h"

#define N 5
#define N_PROC 2
#define N_THREADS 3
#define PASSES 3

typedef struct bar_ctx {
  sm_barrier *b, *b2;    /* b2: abort_and_reset's second barrier */
  sm_var *r1, *r2, *r3;  /* Python's results1..3, as counters */
  sm_var *masks[PASSES]; /* arrival indexes seen, one bit each */
  int64_t late_ms;       /* test_timeout: the late party's delay */
} bar_ctx;

static void ctx_open(sm_client *c, bar_ctx *x) {
  memset(x, 0, sizeof *x);
  sm_value *zero = sm_value_int(0);
  OK(sm_barrier_open(c, NULL, N, &x->b));
  OK(sm_barrier_open(c, NULL, N, &x->b2));
  OK(sm_var_open(c, NULL, zero, &x->r1));
  OK(sm_var_open(c, NULL, zero, &x->r2));
  OK(sm_var_open(c, NULL, zero, &x->r3));
  for (int i = 0; i < PASSES; i++)
    OK(sm_var_open(c, NULL, zero, &x->masks[i]));
  sm_value_free(zero);
}

static void ctx_close(bar_ctx *x) {
  for (int i = 0; i < PASSES; i++)
    sm_var_free(x->masks[i]);
  sm_var_free(x->r3);
  sm_var_free(x->r2);
  sm_var_free(x->r1);
  sm_barrier_free(x->b2);
  sm_barrier_free(x->b);
}

static int64_t get(sm_var *v) {
  int64_t n = -1;
  return sm_var_get_int(v, &n) == SM_OK ? n : -1;
}

/* BarrierTests.multipass: before each pass's first wait, results1 holds
 * exactly the earlier passes; after it, every party's arrival of this
 * pass. The first wait's index goes into the pass's mask. */
static int multipass(void *arg, int id) {
  (void)id;
  bar_ctx *x = arg;
  size_t parties = 0;
  WOK(sm_barrier_parties(x->b, &parties));
  WCHECK(parties == N);
  for (int i = 0; i < PASSES; i++) {
    WOK(sm_var_add_int(x->r1, 1, NULL));
    WCHECK(get(x->r2) == i * N);
    int64_t index = -1;
    WOK(sm_barrier_wait(x->b, SM_FOREVER, &index));
    WCHECK(index >= 0 && index < N);
    WOK(sm_var_add_int(x->masks[i], (int64_t)1 << index, NULL));
    WOK(sm_var_add_int(x->r2, 1, NULL));
    WCHECK(get(x->r1) == (i + 1) * N);
    WOK(sm_barrier_wait(x->b, SM_FOREVER, NULL));
  }
  size_t waiting = 9;
  bool broken = true;
  WOK(sm_barrier_n_waiting(x->b, &waiting));
  WOK(sm_barrier_broken(x->b, &broken));
  WCHECK(waiting == 0 && !broken);
  return 0;
}

/* BarrierTests.test_barrier and test_wait_return: 3 passes of 5 parties
 * (2 processes, 3 threads), two waits each; nobody leaves a wait before
 * all have arrived, and in every pass the indexes 0..4 each went to
 * exactly one party. */
START_TEST(test_rounds) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  bar_ctx x;
  ctx_open(c, &x);
  smtest_run_workers(N_PROC, N_THREADS, multipass, &x);
  ck_assert_int_eq(get(x.r1), PASSES * N);
  ck_assert_int_eq(get(x.r2), PASSES * N);
  for (int i = 0; i < PASSES; i++)
    ck_assert_int_eq(get(x.masks[i]), (1 << N) - 1);
  ctx_close(&x);
  sm_client_free(c);
}
END_TEST

/* The part of test_abort and test_abort_and_reset before the resync:
 * the party given index N/2 aborts instead of waiting again; the others'
 * second wait is SM_EBROKEN (counted in results2; passing would count in
 * results1). */
static int abort_part(bar_ctx *x) {
  int64_t index = -1;
  WOK(sm_barrier_wait(x->b, SM_FOREVER, &index));
  if (index == N / 2) {
    WOK(sm_barrier_abort(x->b));
    return 0;
  }
  int rc = sm_barrier_wait(x->b, SM_FOREVER, NULL);
  WCHECK(rc == SM_OK || rc == SM_EBROKEN);
  WOK(sm_var_add_int(rc == SM_OK ? x->r1 : x->r2, 1, NULL));
  return 0;
}

static int aborter(void *arg, int id) {
  (void)id;
  return abort_part(arg);
}

/* BarrierTests.test_abort: one party aborts; the other 4 get SM_EBROKEN,
 * none passes, and the barrier stays broken (a later wait is SM_EBROKEN
 * at once). */
START_TEST(test_abort) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  bar_ctx x;
  ctx_open(c, &x);
  smtest_run_workers(N_PROC, N_THREADS, aborter, &x);
  ck_assert_int_eq(get(x.r1), 0);
  ck_assert_int_eq(get(x.r2), N - 1);
  bool broken = false;
  OK(sm_barrier_broken(x.b, &broken));
  ck_assert(broken);
  FAILS(sm_barrier_wait(x.b, SM_FOREVER, NULL), SM_EBROKEN);
  ctx_close(&x);
  sm_client_free(c);
}
END_TEST

/* BarrierTests.test_reset's party: index N/2 waits until the other 4 are
 * waiting again, then resets; they get SM_EBROKEN. Then all 5 pass the
 * barrier once more (results3). */
static int resetter(void *arg, int id) {
  (void)id;
  bar_ctx *x = arg;
  int64_t index = -1;
  WOK(sm_barrier_wait(x->b, SM_FOREVER, &index));
  if (index == N / 2) {
    size_t waiting = 0;
    for (int k = 0; k < 20000; k++) {
      WOK(sm_barrier_n_waiting(x->b, &waiting));
      if (waiting == N - 1) break;
      smtest_sleep_ms(1);
    }
    WCHECK(waiting == N - 1);
    WOK(sm_barrier_reset(x->b));
  } else {
    int rc = sm_barrier_wait(x->b, SM_FOREVER, NULL);
    WCHECK(rc == SM_OK || rc == SM_EBROKEN);
    WOK(sm_var_add_int(rc == SM_OK ? x->r1 : x->r2, 1, NULL));
  }
  WOK(sm_barrier_wait(x->b, SM_FOREVER, NULL));
  WOK(sm_var_add_int(x->r3, 1, NULL));
  return 0;
}

/* BarrierTests.test_reset: a reset while 4 parties wait breaks their
 * waits (4 x SM_EBROKEN, none passes) but leaves the barrier usable: all
 * 5 pass it again, and it is not broken. */
START_TEST(test_reset) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  bar_ctx x;
  ctx_open(c, &x);
  smtest_run_workers(N_PROC, N_THREADS, resetter, &x);
  ck_assert_int_eq(get(x.r1), 0);
  ck_assert_int_eq(get(x.r2), N - 1);
  ck_assert_int_eq(get(x.r3), N);
  bool broken = true;
  OK(sm_barrier_broken(x.b, &broken));
  ck_assert(!broken);
  ctx_close(&x);
  sm_client_free(c);
}
END_TEST

/* BarrierTests.test_abort_and_reset's party: the abort part, then a
 * resync on the second barrier, whose index-N/2 party resets the first;
 * a second resync so nobody waits on the first before the reset; then
 * everyone passes the first barrier again. */
static int abort_resetter(void *arg, int id) {
  (void)id;
  bar_ctx *x = arg;
  int rc = abort_part(x);
  if (rc != 0) return rc;
  int64_t index = -1;
  WOK(sm_barrier_wait(x->b2, SM_FOREVER, &index));
  if (index == N / 2) WOK(sm_barrier_reset(x->b));
  WOK(sm_barrier_wait(x->b2, SM_FOREVER, NULL));
  WOK(sm_barrier_wait(x->b, SM_FOREVER, NULL));
  WOK(sm_var_add_int(x->r3, 1, NULL));
  return 0;
}

/* BarrierTests.test_abort_and_reset: after an abort (4 x SM_EBROKEN)
 * and a reset, all 5 pass the barrier again. */
START_TEST(test_abort_and_reset) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  bar_ctx x;
  ctx_open(c, &x);
  smtest_run_workers(N_PROC, N_THREADS, abort_resetter, &x);
  ck_assert_int_eq(get(x.r1), 0);
  ck_assert_int_eq(get(x.r2), N - 1);
  ck_assert_int_eq(get(x.r3), N);
  ctx_close(&x);
  sm_client_free(c);
}
END_TEST

/* BarrierTests.test_timeout's party: pass once; the index-N/2 party is
 * then late by late_ms; everyone's second wait (100 ms) is SM_EBROKEN,
 * answered within 2.1 s. */
static int timeouter(void *arg, int id) {
  (void)id;
  bar_ctx *x = arg;
  int64_t index = -1;
  WOK(sm_barrier_wait(x->b, SM_FOREVER, &index));
  if (index == N / 2) smtest_sleep_ms(x->late_ms);
  double t0 = smtest_now_ms();
  int rc = sm_barrier_wait(x->b, 100, NULL);
  WCHECK(rc == SM_EBROKEN);
  WCHECK(smtest_now_ms() - t0 <= 2100.0);
  WOK(sm_var_add_int(x->r2, 1, NULL));
  return 0;
}

/* BarrierTests.test_timeout: one party is 600 ms late; the others' 100 ms
 * deadline breaks the barrier, so all 5 (the late one included) get
 * SM_EBROKEN, and the barrier reports broken. */
START_TEST(test_timeout) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  bar_ctx x;
  ctx_open(c, &x);
  x.late_ms = 600;
  double t0 = smtest_now_ms();
  smtest_run_workers(N_PROC, N_THREADS, timeouter, &x);
  ck_assert_int_eq(get(x.r2), N);
  ck_assert_double_ge(smtest_now_ms() - t0, 100.0);
  bool broken = false;
  OK(sm_barrier_broken(x.b, &broken));
  ck_assert(broken);
  ctx_close(&x);
  sm_client_free(c);
}
END_TEST

/* BarrierTests.test_single_thread, plus the zero timeout and the
 * accessors: a barrier of 1 passes at once with index 0, twice; a
 * barrier of 2 waited on with 0 breaks (SM_EBROKEN), stays broken for a
 * blocking wait, and reset makes it whole; a barrier of 0 parties is
 * SM_EVALUE; a named barrier keeps its parties when reopened. */
START_TEST(test_single_and_zero) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_barrier *one, *two, *again, *bad = NULL;
  OK(sm_barrier_open(c, NULL, 1, &one));
  ck_assert_str_eq(sm_proxy_type(sm_barrier_proxy(one)), "barrier");
  int64_t index = -1;
  OK(sm_barrier_wait(one, SM_FOREVER, &index));
  ck_assert_int_eq(index, 0);
  index = -1;
  OK(sm_barrier_wait(one, 0, &index));
  ck_assert_int_eq(index, 0);

  OK(sm_barrier_open(c, "two", 2, &two));
  OK(sm_barrier_open(c, "two", 7, &again));
  size_t n = 0;
  OK(sm_barrier_parties(again, &n));
  ck_assert_uint_eq(n, 2);
  OK(sm_barrier_n_waiting(two, &n));
  ck_assert_uint_eq(n, 0);
  double t0 = smtest_now_ms();
  FAILS(sm_barrier_wait(two, 0, &index), SM_EBROKEN);
  FAILS(sm_barrier_wait(two, SM_FOREVER, &index), SM_EBROKEN);
  ck_assert_double_lt(smtest_now_ms() - t0, 1000.0);
  bool broken = false;
  OK(sm_barrier_broken(two, &broken));
  ck_assert(broken);
  OK(sm_barrier_reset(two));
  OK(sm_barrier_broken(two, &broken));
  ck_assert(!broken);
  FAILS(sm_barrier_open(c, NULL, 0, &bad), SM_EVALUE);
  ck_assert_ptr_null(bad);
  sm_barrier_free(again);
  sm_barrier_free(two);
  sm_barrier_free(one);
  sm_client_free(c);
}
END_TEST

typedef struct dying_ctx {
  sm_barrier *b;
  int rc; /* the surviving thread's wait */
} dying_ctx;

static void *survivor(void *arg) {
  dying_ctx *x = arg;
  x->rc = sm_barrier_wait(x->b, SM_FOREVER, NULL);
  return NULL;
}

/* A barrier of 3: a thread and a child process wait; the child is killed.
 * The party can never complete, so the daemon breaks the barrier and the
 * thread's wait (no deadline) answers SM_EBROKEN instead of hanging. */
START_TEST(test_waiter_dies) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  dying_ctx x = {0};
  OK(sm_barrier_open(c, NULL, 3, &x.b));
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    sm_barrier_wait(x.b, SM_FOREVER, NULL);
    _exit(0);
  }
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, survivor, &x), 0);
  smtest_wait_waiters(c, 2);
  ck_assert_int_eq(kill(pid, SIGKILL), 0);
  ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  ck_assert_int_eq(x.rc, SM_EBROKEN);
  bool broken = false;
  OK(sm_barrier_broken(x.b, &broken));
  ck_assert(broken);
  sm_barrier_free(x.b);
  sm_client_free(c);
}
END_TEST

Suite *barrier_suite(void) {
  Suite *s = suite_create("barrier");
  TCase *tc = smtest_daemon_tcase(s, "barrier", 60);
  tcase_add_test(tc, test_rounds);
  tcase_add_test(tc, test_abort);
  tcase_add_test(tc, test_reset);
  tcase_add_test(tc, test_abort_and_reset);
  tcase_add_test(tc, test_timeout);
  tcase_add_test(tc, test_single_and_zero);
  tcase_add_test(tc, test_waiter_dies);
  return s;
}
