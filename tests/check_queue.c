/* SPDX-License-Identifier: MIT */
/* check_queue.c - sm_queue (Python's Queue and JoinableQueue) through
 * libstatemgr against a real statemgrd, porting the semantics of CPython's
 * _TestQueue (Lib/test/_test_multiprocessing.py): FIFO order, a bounded
 * queue's full/empty answers with and without blocking, deadlines within a
 * sane bound, a blocked get woken by a put from another process, a blocked
 * thread not stalling the others, task_done/join, and 100,000 items moved
 * by producer and consumer processes through a bounded queue with the sum
 * checked. */
#include "smtest_sync.h"

/* Items in the producer/consumer test, and its parties. */
#define PC_ITEMS 100000
#define PC_PRODUCERS 2
#define PC_CONSUMERS 2
#define PC_MAXSIZE 64

/* put/get keep FIFO order for values of every kind; qsize, empty, full
 * and maxsize report the state; get_nowait on an empty queue is
 * SM_EEMPTY at once, and a typed getter finding another kind is SM_ETYPE. */
START_TEST(test_fifo_and_state) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_queue *q;
  OK(sm_queue_open(c, NULL, 0, &q));
  ck_assert_str_eq(sm_proxy_type(sm_queue_proxy(q)), "queue");
  bool b = true;
  OK(sm_queue_empty(q, &b));
  ck_assert(b);
  sm_value *list = sm_value_list();
  sm_value_list_append(list, sm_value_int(1));
  sm_value_list_append(list, sm_value_str("two"));
  OK(sm_queue_put(q, list, SM_FOREVER));
  OK(sm_queue_put_int(q, 42, 0));
  OK(sm_queue_put_str(q, "hello", SM_FOREVER));
  OK(sm_queue_put_nowait(q, list));
  size_t n = 0;
  OK(sm_queue_qsize(q, &n));
  ck_assert_uint_eq(n, 4);
  OK(sm_queue_full(q, &b));
  ck_assert(!b); /* unbounded */
  int64_t max = -1;
  OK(sm_queue_maxsize(q, &max));
  ck_assert_int_eq(max, 0);

  sm_value *out = NULL;
  OK(sm_queue_get(q, SM_FOREVER, &out));
  ck_assert(sm_value_equal(out, list));
  sm_value_free(out);
  int64_t i = 0;
  OK(sm_queue_get_int(q, 0, &i));
  ck_assert_int_eq(i, 42);
  char *s = NULL;
  OK(sm_queue_get_str(q, 1000, &s));
  ck_assert_str_eq(s, "hello");
  sm_free(s);
  FAILS(sm_queue_get_int(q, 0, &i), SM_ETYPE); /* the list, taken all the same */
  ck_assert_int_eq(i, 42);
  out = list;
  FAILS(sm_queue_get_nowait(q, &out), SM_EEMPTY);
  ck_assert_ptr_eq(out, list); /* untouched on failure */
  FAILS(sm_queue_get(q, 0, &out), SM_EEMPTY);
  OK(sm_queue_empty(q, &b));
  ck_assert(b);
  FAILS(sm_queue_put(q, NULL, 0), SM_EINVAL);
  sm_value_free(list);
  sm_queue_free(q);
  sm_client_free(c);
}
END_TEST

/* test_put / test_get of _TestQueue: a queue of maxsize 6 takes 6 items
 * (blocking and not), is then full: put_nowait and put with timeout 0 are
 * SM_EFULL at once, put with 100 ms is SM_ETIMEOUT after 90 ms..2.1 s and
 * did not queue its item; the items come back in order, then get_nowait is
 * SM_EEMPTY and get with 100 ms SM_ETIMEOUT within the same bound. */
START_TEST(test_bounded_put_get) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_queue *q;
  OK(sm_queue_open(c, NULL, 6, &q));
  OK(sm_queue_put_int(q, 1, SM_FOREVER));
  OK(sm_queue_put_int(q, 2, 1000));
  OK(sm_queue_put_int(q, 3, 0));
  sm_value *v = sm_value_int(4);
  OK(sm_queue_put_nowait(q, v));
  sm_value_free(v);
  OK(sm_queue_put_int(q, 5, SM_FOREVER));
  OK(sm_queue_put_int(q, 6, SM_FOREVER));
  bool b = false;
  OK(sm_queue_full(q, &b));
  ck_assert(b);
  size_t n = 0;
  OK(sm_queue_qsize(q, &n));
  ck_assert_uint_eq(n, 6);
  int64_t max = 0;
  OK(sm_queue_maxsize(q, &max));
  ck_assert_int_eq(max, 6);

  v = sm_value_int(7);
  double t0 = smtest_now_ms();
  FAILS(sm_queue_put_nowait(q, v), SM_EFULL);
  FAILS(sm_queue_put(q, v, 0), SM_EFULL);
  ck_assert_double_lt(smtest_now_ms() - t0, 1000.0);
  t0 = smtest_now_ms();
  FAILS(sm_queue_put(q, v, 100), SM_ETIMEOUT);
  ASSERT_DEADLINE(smtest_now_ms() - t0, 100);
  sm_value_free(v);
  OK(sm_queue_qsize(q, &n));
  ck_assert_uint_eq(n, 6);

  for (int64_t want = 1; want <= 6; want++) {
    int64_t got = 0;
    OK(sm_queue_get_int(q, want % 2 ? SM_FOREVER : 0, &got));
    ck_assert_int_eq(got, want);
  }
  sm_value *out = NULL;
  t0 = smtest_now_ms();
  FAILS(sm_queue_get_nowait(q, &out), SM_EEMPTY);
  ck_assert_double_lt(smtest_now_ms() - t0, 1000.0);
  t0 = smtest_now_ms();
  FAILS(sm_queue_get(q, 100, &out), SM_ETIMEOUT);
  ASSERT_DEADLINE(smtest_now_ms() - t0, 100);
  t0 = smtest_now_ms();
  FAILS(sm_queue_get(q, 300, &out), SM_ETIMEOUT);
  ASSERT_DEADLINE(smtest_now_ms() - t0, 300);
  ck_assert_ptr_null(out);
  OK(sm_queue_empty(q, &b));
  ck_assert(b);
  sm_queue_free(q);
  sm_client_free(c);
}
END_TEST

/* test_fork of _TestQueue: a child process puts 0..9 (into a queue it
 * opened from a token) while the parent waits in get with no deadline;
 * the parent receives all ten in order, and the daemon had parked the
 * parent's get before the child started. */
START_TEST(test_get_woken_by_other_process) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_queue *q;
  OK(sm_queue_open(c, NULL, 0, &q));
  char *token = sm_proxy_token(sm_queue_proxy(q));
  ck_assert_ptr_nonnull(token);
  smtest_wait_waiters(c, 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    sm_client *mine = smtest_connect(&smtest_d, NULL);
    sm_queue *cq;
    if (sm_queue_from_token(mine, token, &cq) != SM_OK) _exit(1);
    /* The parent parks its get first. */
    for (int k = 0; k < 10000 && smtest_waiters(mine) != 1; k++)
      smtest_sleep_ms(1);
    for (int i = 0; i < 10; i++)
      if (sm_queue_put_int(cq, i, SM_FOREVER) != SM_OK) _exit(2);
    sm_queue_free(cq);
    sm_client_free(mine);
    _exit(0);
  }
  for (int64_t want = 0; want < 10; want++) {
    int64_t got = -1;
    OK(sm_queue_get_int(q, want == 0 ? SM_FOREVER : 10000, &got));
    ck_assert_int_eq(got, want);
  }
  int st = 0;
  ck_assert_int_eq(waitpid(pid, &st, 0), pid);
  ck_assert_int_eq(st, 0);
  sm_free(token);
  sm_queue_free(q);
  sm_client_free(c);
}
END_TEST

typedef struct blocked_ctx {
  sm_queue *q;
  int64_t got;       /* the getter's item */
  int rc;            /* the blocked call's status */
  double waited_ms;  /* how long it blocked */
  volatile int done; /* set when the blocked call returned */
} blocked_ctx;

static void *getter_thread(void *arg) {
  blocked_ctx *b = arg;
  double t0 = smtest_now_ms();
  b->rc = sm_queue_get_int(b->q, SM_FOREVER, &b->got);
  b->waited_ms = smtest_now_ms() - t0;
  __atomic_store_n(&b->done, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

static void *putter_thread(void *arg) {
  blocked_ctx *b = arg;
  double t0 = smtest_now_ms();
  b->rc = sm_queue_put_int(b->q, 99, SM_FOREVER);
  b->waited_ms = smtest_now_ms() - t0;
  __atomic_store_n(&b->done, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

/* A thread blocked in get (no deadline) stalls neither its process nor the
 * daemon: while it waits, the main thread of the same client makes 200
 * calls on the same queue and others; one put then wakes the getter with
 * that item. The same for a thread blocked in put on a full queue, woken
 * by a get that makes room (its item then follows in order). */
START_TEST(test_blocked_thread_others_work) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_queue *q;
  OK(sm_queue_open(c, NULL, 1, &q));
  sm_dict *d;
  OK(sm_dict_open(c, NULL, &d));
  blocked_ctx b = {.q = q};
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, getter_thread, &b), 0);
  smtest_wait_waiters(c, 1);
  for (int i = 0; i < 100; i++) {
    bool empty = false;
    OK(sm_queue_empty(q, &empty));
    ck_assert(empty);
    OK(sm_dict_set_int(d, "k", i));
  }
  ck_assert_int_eq(__atomic_load_n(&b.done, __ATOMIC_SEQ_CST), 0);
  OK(sm_queue_put_int(q, 7, SM_FOREVER));
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  ck_assert_int_eq(b.rc, SM_OK);
  ck_assert_int_eq(b.got, 7);
  bool empty = false;
  OK(sm_queue_empty(q, &empty)); /* handed over, never queued */
  ck_assert(empty);

  OK(sm_queue_put_int(q, 8, 0)); /* now full */
  b = (blocked_ctx){.q = q};
  ck_assert_int_eq(pthread_create(&th, NULL, putter_thread, &b), 0);
  smtest_wait_waiters(c, 1);
  int64_t k = 0;
  OK(sm_dict_get_int(d, "k", &k));
  ck_assert_int_eq(k, 99);
  ck_assert_int_eq(__atomic_load_n(&b.done, __ATOMIC_SEQ_CST), 0);
  int64_t got = 0;
  OK(sm_queue_get_int(q, 0, &got));
  ck_assert_int_eq(got, 8);
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  ck_assert_int_eq(b.rc, SM_OK);
  OK(sm_queue_get_int(q, 0, &got));
  ck_assert_int_eq(got, 99);
  sm_dict_free(d);
  sm_queue_free(q);
  sm_client_free(c);
}
END_TEST

typedef struct tasks_ctx {
  sm_queue *q;
  sm_var *sum; /* what the workers processed */
} tasks_ctx;

/* A JoinableQueue worker: takes items until the sentinel -1, adds each to
 * the sum, and marks every item (the sentinel too) task_done. */
static int task_worker(void *arg, int id) {
  (void)id;
  tasks_ctx *t = arg;
  for (;;) {
    int64_t item = 0;
    WOK(sm_queue_get_int(t->q, SM_FOREVER, &item));
    if (item >= 0) WOK(sm_var_add_int(t->sum, item, NULL));
    WOK(sm_queue_task_done(t->q));
    if (item < 0) return 0;
  }
}

/* test_task_done of _TestQueue: 2 worker processes and 2 worker threads
 * drain 100 items; join (no deadline) returns only after every item was
 * task_done, so the sum is complete when it returns. Before any item,
 * join is immediate; with work outstanding, join with 0 or 100 ms is
 * SM_ETIMEOUT (the latter within the bound); one task_done too many is
 * SM_EVALUE. */
START_TEST(test_task_done_join) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  tasks_ctx t;
  OK(sm_queue_open(c, NULL, 0, &t.q));
  OK(sm_var_open(c, NULL, NULL, &t.sum));
  OK(sm_queue_join(t.q, 0)); /* nothing put yet */
  OK(sm_queue_put_int(t.q, 1000, 0));
  FAILS(sm_queue_join(t.q, 0), SM_ETIMEOUT);
  double t0 = smtest_now_ms();
  FAILS(sm_queue_join(t.q, 100), SM_ETIMEOUT);
  ASSERT_DEADLINE(smtest_now_ms() - t0, 100);
  int64_t first = 0;
  OK(sm_queue_get_int(t.q, 0, &first));
  OK(sm_queue_task_done(t.q));
  FAILS(sm_queue_task_done(t.q), SM_EVALUE);
  OK(sm_queue_join(t.q, 0));

  smtest_workers w;
  smtest_workers_start(&w, 2, 2, task_worker, &t);
  int64_t want = 0;
  for (int i = 0; i < 100; i++) {
    OK(sm_queue_put_int(t.q, i, SM_FOREVER));
    want += i;
  }
  OK(sm_queue_join(t.q, SM_FOREVER));
  int64_t sum = smtest_var_int(t.sum);
  ck_assert_int_eq(sum, want);
  for (int i = 0; i < 4; i++)
    OK(sm_queue_put_int(t.q, -1, SM_FOREVER));
  smtest_workers_join(&w);
  OK(sm_queue_join(t.q, 10000));
  size_t n = 1;
  OK(sm_queue_qsize(t.q, &n));
  ck_assert_uint_eq(n, 0);
  sm_var_free(t.sum);
  sm_queue_free(t.q);
  sm_client_free(c);
}
END_TEST

/* A named queue is get-or-create: a second open (with another maxsize)
 * finds the first, whose maxsize stays; opening a dict's name as a queue
 * is SM_ETYPE, and so is a dict's token; a token round-trips. */
START_TEST(test_named_and_tokens) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_queue *a, *b, *t;
  OK(sm_queue_open(c, "jobs", 3, &a));
  OK(sm_queue_open(c, "jobs", 100, &b));
  ck_assert_uint_eq(sm_proxy_id(sm_queue_proxy(a)), sm_proxy_id(sm_queue_proxy(b)));
  int64_t max = 0;
  OK(sm_queue_maxsize(b, &max));
  ck_assert_int_eq(max, 3);
  OK(sm_queue_put_str(a, "x", 0));
  char *s = NULL;
  OK(sm_queue_get_str(b, 0, &s));
  ck_assert_str_eq(s, "x");
  sm_free(s);
  char *tok = sm_proxy_token(sm_queue_proxy(a));
  OK(sm_queue_from_token(c, tok, &t));
  ck_assert_uint_eq(sm_proxy_id(sm_queue_proxy(t)), sm_proxy_id(sm_queue_proxy(a)));
  sm_free(tok);
  sm_dict *d;
  OK(sm_dict_open(c, "not-a-queue", &d));
  sm_queue *bad = NULL;
  FAILS(sm_queue_open(c, "not-a-queue", 0, &bad), SM_ETYPE);
  tok = sm_proxy_token(sm_dict_proxy(d));
  FAILS(sm_queue_from_token(c, tok, &bad), SM_ETYPE);
  ck_assert_ptr_null(bad);
  sm_free(tok);
  OK(sm_delete(c, "jobs"));
  FAILS(sm_queue_put_int(a, 1, 0), SM_ENOTFOUND);
  sm_dict_free(d);
  sm_queue_free(t);
  sm_queue_free(b);
  sm_queue_free(a);
  sm_client_free(c);
}
END_TEST

typedef struct ended_ctx {
  sm_queue *q;
  int rc;           /* the blocked get's status */
  double waited_ms; /* how long it blocked */
} ended_ctx;

static void *forever_getter(void *arg) {
  ended_ctx *x = arg;
  sm_value *out = NULL;
  double t0 = smtest_now_ms();
  x->rc = sm_queue_get(x->q, SM_FOREVER, &out);
  x->waited_ms = smtest_now_ms() - t0;
  sm_value_free(out);
  return NULL;
}

/* Only the deadline or the connection can end a wait: a get with no
 * deadline, parked in a daemon of its own, ends with SM_ESHUTDOWN when the
 * daemon shuts down (it answers its parked calls), and with SM_ECLOSED
 * when a second daemon is killed with SIGKILL under it (the connection
 * closes). Neither blocked thread had returned before. */
START_TEST(test_wait_ends_with_daemon) {
  for (int kill_it = 0; kill_it < 2; kill_it++) {
    smtest_daemon own;
    smtest_daemon_start(&own, NULL);
    sm_client *c = smtest_connect(&own, NULL);
    ended_ctx x = {0};
    OK(sm_queue_open(c, NULL, 0, &x.q));
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, forever_getter, &x), 0);
    smtest_wait_waiters(c, 1);
    smtest_sleep_ms(50);
    double t0 = smtest_now_ms();
    if (kill_it)
      ck_assert_int_eq(kill(own.pid, SIGKILL), 0);
    else
      OK(sm_shutdown(c));
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(x.rc, kill_it ? SM_ECLOSED : SM_ESHUTDOWN);
    ck_assert_double_ge(x.waited_ms, 50.0);
    ck_assert_double_lt(smtest_now_ms() - t0, 5000.0);
    int st = 0;
    ck_assert_int_eq(waitpid(own.pid, &st, 0), own.pid);
    if (kill_it)
      ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    else
      ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    own.pid = 0; /* reaped: stop only removes the directory */
    sm_queue_free(x.q);
    sm_client_free(c);
    ck_assert_int_eq(smtest_daemon_stop(&own), 0);
  }
}
END_TEST

/* ---- producer / consumer ---- */

typedef struct pc_ctx {
  sm_queue *q;
  sm_var *sum, *sumsq, *count; /* what the consumers received */
} pc_ctx;

/* Producers (ids 0..PC_PRODUCERS-1) put their share of 0..PC_ITEMS-1;
 * consumers take until the sentinel -1 and add what they saw. */
static int pc_worker(void *arg, int id) {
  pc_ctx *p = arg;
  if (id < PC_PRODUCERS) {
    for (int64_t i = id; i < PC_ITEMS; i += PC_PRODUCERS)
      WOK(sm_queue_put_int(p->q, i, SM_FOREVER));
    return 0;
  }
  int64_t sum = 0, sumsq = 0, count = 0;
  for (;;) {
    int64_t item = 0;
    WOK(sm_queue_get_int(p->q, SM_FOREVER, &item));
    if (item < 0) break;
    WCHECK(item < PC_ITEMS);
    sum += item;
    sumsq += item * item;
    count++;
  }
  WOK(sm_var_add_int(p->sum, sum, NULL));
  WOK(sm_var_add_int(p->sumsq, sumsq, NULL));
  WOK(sm_var_add_int(p->count, count, NULL));
  return 0;
}

/* 100,000 items move from 2 producer processes to 2 consumer processes
 * through a queue bounded at 64, so both sides block again and again;
 * the consumers' count, sum and sum of squares match 0..99,999 exactly:
 * no item was lost, duplicated or changed. The queue is empty after. */
START_TEST(test_producer_consumer) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  pc_ctx p;
  sm_value *zero = sm_value_int(0);
  OK(sm_queue_open(c, "pc", PC_MAXSIZE, &p.q));
  OK(sm_var_open(c, "pc-sum", zero, &p.sum));
  OK(sm_var_open(c, "pc-sumsq", zero, &p.sumsq));
  OK(sm_var_open(c, "pc-count", zero, &p.count));
  sm_value_free(zero);
  /* Consumers first (ids past the producers'), so they start parked. */
  pid_t cons[PC_CONSUMERS];
  for (int i = 0; i < PC_CONSUMERS; i++) {
    cons[i] = fork();
    ck_assert_int_ge(cons[i], 0);
    if (cons[i] == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      _exit(pc_worker(&p, PC_PRODUCERS + i));
    }
  }
  smtest_workers producers;
  smtest_workers_start(&producers, PC_PRODUCERS, 0, pc_worker, &p);
  smtest_workers_join(&producers);
  for (int i = 0; i < PC_CONSUMERS; i++)
    OK(sm_queue_put_int(p.q, -1, SM_FOREVER));
  for (int i = 0; i < PC_CONSUMERS; i++) {
    int st = 0;
    ck_assert_int_eq(waitpid(cons[i], &st, 0), cons[i]);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "consumer %d ended with %d", i, st);
  }
  int64_t n = PC_ITEMS;
  ck_assert_int_eq(smtest_var_int(p.count), n);
  ck_assert_int_eq(smtest_var_int(p.sum), n * (n - 1) / 2);
  ck_assert_int_eq(smtest_var_int(p.sumsq), (n - 1) * n * (2 * n - 1) / 6);
  size_t left = 1;
  OK(sm_queue_qsize(p.q, &left));
  ck_assert_uint_eq(left, 0);
  sm_var_free(p.sum);
  sm_var_free(p.sumsq);
  sm_var_free(p.count);
  sm_queue_free(p.q);
  sm_client_free(c);
}
END_TEST

Suite *queue_suite(void) {
  Suite *s = suite_create("queue");
  TCase *tc = smtest_daemon_tcase(s, "queue", 60);
  tcase_add_test(tc, test_fifo_and_state);
  tcase_add_test(tc, test_bounded_put_get);
  tcase_add_test(tc, test_get_woken_by_other_process);
  tcase_add_test(tc, test_blocked_thread_others_work);
  tcase_add_test(tc, test_task_done_join);
  tcase_add_test(tc, test_named_and_tokens);
  tc = tcase_create("daemon ends");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_wait_ends_with_daemon);
  suite_add_tcase(s, tc);
  tc = smtest_daemon_tcase(s, "producer consumer", 120);
  tcase_add_test(tc, test_producer_consumer);
  return s;
}
