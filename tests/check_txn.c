/* SPDX-License-Identifier: MIT */
/* check_txn.c - guarded transactions (sm_txn_*) against a real statemgrd:
 * the then- or else-list runs as the conditions say, a bad call fails the
 * whole transaction with nothing applied, so does a call failing on the
 * state it finds (check_txn_atomic.c has the rollback), every condition kind, many processes
 * moving money between accounts under random SIGKILLs without the total
 * ever changing, and a transaction surviving a restart of a durable
 * daemon as the one change it was. */
#include "smtest_sync.h"

#include <errno.h>

/* Borrowed call arguments, as an array literal. */
#define PROXY_ARGS_T(...) ((const sm_value *const[]){__VA_ARGS__})

/* Key k of d as an int (the test fails otherwise). */
static int64_t get_int(sm_dict *d, const char *k) {
  int64_t v = -1;
  OK(sm_dict_get_int(d, k, &v));
  return v;
}

/* Conditions that hold run the then-list, with one result per call in
 * order; conditions that do not run the else-list instead, and the
 * then-list's changes are not made. */
START_TEST(test_then_and_else) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_dict *d;
  sm_queue *q;
  OK(sm_dict_open(c, "acct", &d));
  OK(sm_queue_open(c, "log", 0, &q));
  OK(sm_dict_set_int(d, "a", 10));
  sm_value *ka = sm_value_str("a"), *kb = sm_value_str("b"), *ten = sm_value_int(10);
  sm_value *seven = sm_value_int(7), *note = sm_value_str("moved");
  sm_txn *t;
  OK(sm_txn_new(c, &t));
  OK(sm_txn_if_equals(t, sm_dict_proxy(d), ka, ten));
  OK(sm_txn_if_absent(t, sm_dict_proxy(d), kb));
  OK(sm_txn_then(t, sm_dict_proxy(d), "set", PROXY_ARGS_T(ka, seven), 2));
  OK(sm_txn_then(t, sm_dict_proxy(d), "set", PROXY_ARGS_T(kb, ten), 2));
  OK(sm_txn_then(t, sm_queue_proxy(q), "put", PROXY_ARGS_T(note), 1));
  OK(sm_txn_then(t, sm_dict_proxy(d), "len", NULL, 0));
  OK(sm_txn_else(t, sm_dict_proxy(d), "del", PROXY_ARGS_T(ka), 1));
  bool ok = false;
  OK(sm_txn_commit(t, &ok));
  ck_assert(ok);
  ck_assert_uint_eq(sm_txn_count(t), 4);
  const sm_value *r = NULL;
  OK(sm_txn_result(t, 3, &r));
  ck_assert_int_eq(sm_value_as_int(r), 2); /* len saw both sets: calls run in order */
  ck_assert_int_eq(get_int(d, "a"), 7);
  ck_assert_int_eq(get_int(d, "b"), 10);
  size_t n = 0;
  OK(sm_queue_qsize(q, &n));
  ck_assert_uint_eq(n, 1);
  /* The same transaction again: a is 7 now, so the else-list runs. */
  OK(sm_txn_commit(t, &ok));
  ck_assert(!ok);
  ck_assert_uint_eq(sm_txn_count(t), 1);
  OK(sm_txn_result(t, 0, &r));
  bool has = true;
  OK(sm_dict_contains(d, ka, &has));
  ck_assert(!has);
  ck_assert_int_eq(get_int(d, "b"), 10);
  OK(sm_queue_qsize(q, &n));
  ck_assert_uint_eq(n, 1);
  FAILS(sm_txn_result(t, 1, &r), SM_EINVAL);
  sm_txn_free(t);
  sm_value_free(ka);
  sm_value_free(kb);
  sm_value_free(ten);
  sm_value_free(seven);
  sm_value_free(note);
  sm_queue_free(q);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* Builds [set a 1, <bad call>] and checks the commit fails with code and
 * leaves a unset. */
static void bad_then(sm_client *c, sm_dict *d, sm_proxy *target, const char *method, int code) {
  sm_value *ka = sm_value_str("a"), *one = sm_value_int(1);
  sm_txn *t;
  OK(sm_txn_new(c, &t));
  OK(sm_txn_then(t, sm_dict_proxy(d), "set", PROXY_ARGS_T(ka, one), 2));
  OK(sm_txn_then(t, target, method, NULL, 0));
  FAILS(sm_txn_commit(t, NULL), code);
  ck_assert_uint_eq(sm_txn_count(t), 0);
  bool has = true;
  OK(sm_dict_contains(d, ka, &has));
  ck_assert_msg(!has, "a call before the bad %s was applied", method);
  sm_txn_free(t);
  sm_value_free(ka);
  sm_value_free(one);
}

/* A call that cannot run - an unknown method, a deleted object, a type a
 * transaction does not take, a method that waits, a lock the caller does
 * not hold - fails the whole transaction before anything is applied. */
START_TEST(test_bad_call_applies_nothing) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_dict *d, *gone;
  sm_lock *l;
  sm_barrier *b;
  sm_event *e;
  OK(sm_dict_open(c, "bad-acct", &d));
  OK(sm_dict_open(c, "gone", &gone));
  OK(sm_lock_open(c, "bad-lock", &l));
  OK(sm_barrier_open(c, "bad-barrier", 2, &b));
  OK(sm_event_open(c, "bad-event", &e));
  bad_then(c, d, sm_dict_proxy(d), "no_such_method", SM_ETYPE);
  bad_then(c, d, sm_barrier_proxy(b), "wait", SM_ETYPE);
  bad_then(c, d, sm_event_proxy(e), "wait", SM_ETYPE);
  bad_then(c, d, sm_lock_proxy(l), "acquire", SM_ETYPE);
  bad_then(c, d, sm_lock_proxy(l), "release", SM_ENOTOWNER);
  bad_then(c, d, sm_dict_proxy(d), "_grant", SM_ETYPE);
  bad_then(c, d, sm_dict_proxy(d), "rev", SM_ETYPE);
  bad_then(c, d, sm_dict_proxy(d), "watch", SM_ETYPE);
  OK(sm_delete(c, "gone"));
  bad_then(c, d, sm_dict_proxy(gone), "len", SM_ENOTFOUND);
  /* A malformed condition fails it too, whatever the state. */
  sm_txn *t;
  sm_value *ka = sm_value_str("a"), *one = sm_value_int(1);
  OK(sm_txn_new(c, &t));
  OK(sm_txn_if_exists(t, sm_lock_proxy(l), ka)); /* a lock has no keys */
  OK(sm_txn_then(t, sm_dict_proxy(d), "set", PROXY_ARGS_T(ka, one), 2));
  FAILS(sm_txn_commit(t, NULL), SM_ETYPE);
  sm_txn_free(t);
  OK(sm_txn_new(c, &t));
  FAILS(sm_txn_if_compare(t, sm_dict_proxy(d), ka, (sm_cmp)42, one), SM_EINVAL);
  FAILS(sm_txn_commit(t, NULL), SM_EINVAL); /* the builder's error comes back */
  sm_txn_free(t);
  size_t n = 9;
  OK(sm_dict_len(d, &n));
  ck_assert_uint_eq(n, 0);
  sm_value_free(ka);
  sm_value_free(one);
  sm_event_free(e);
  sm_barrier_free(b);
  sm_lock_free(l);
  sm_dict_free(gone);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* A call failing on the state it finds (get on an empty queue, pop of a
 * missing key) fails the commit with its code, naming the call, and
 * nothing is applied: not even the calls before it. */
START_TEST(test_state_failure_reported) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_dict *d;
  sm_queue *q;
  OK(sm_dict_open(c, "sf", &d));
  OK(sm_queue_open(c, "sf-q", 0, &q));
  sm_value *k = sm_value_str("k"), *v = sm_value_int(5), *missing = sm_value_str("missing");
  sm_txn *t;
  OK(sm_txn_new(c, &t));
  OK(sm_txn_then(t, sm_dict_proxy(d), "set", PROXY_ARGS_T(k, v), 2));
  OK(sm_txn_then(t, sm_queue_proxy(q), "get", NULL, 0));
  FAILS(sm_txn_commit(t, NULL), SM_EEMPTY);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "then operation 2 (queue.get)"));
  ck_assert_uint_eq(sm_txn_count(t), 0);
  bool has = true;
  OK(sm_dict_contains(d, k, &has));
  ck_assert(!has);
  sm_txn_free(t);
  OK(sm_txn_new(c, &t));
  OK(sm_txn_then(t, sm_dict_proxy(d), "set", PROXY_ARGS_T(k, v), 2));
  OK(sm_txn_then(t, sm_dict_proxy(d), "pop", PROXY_ARGS_T(missing), 1));
  OK(sm_txn_then(t, sm_dict_proxy(d), "get", PROXY_ARGS_T(k), 1));
  FAILS(sm_txn_commit(t, NULL), SM_ENOTFOUND);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "then operation 2 (dict.pop)"));
  OK(sm_dict_contains(d, k, &has));
  ck_assert(!has);
  sm_txn_free(t);
  sm_value_free(k);
  sm_value_free(v);
  sm_value_free(missing);
  sm_queue_free(q);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* Commits a transaction of one condition and no calls: whether it held. */
static bool holds(sm_txn *t) {
  bool ok = false;
  OK(sm_txn_commit(t, &ok));
  sm_txn_free(t);
  return ok;
}

static sm_txn *txn(sm_client *c) {
  sm_txn *t;
  OK(sm_txn_new(c, &t));
  return t;
}

/* Every condition kind, true and false: comparisons of dict values,
 * namespace attributes and a value object, sizes of a queue and a list,
 * a lock held by this connection and not by another, an event set, and
 * revisions. */
START_TEST(test_condition_kinds) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_dict *d;
  sm_ns *ns;
  sm_var *v;
  sm_queue *q;
  sm_list *l;
  sm_lock *lk;
  sm_event *e;
  OK(sm_dict_open(c, "ck", &d));
  OK(sm_ns_open(c, "ck-ns", &ns));
  sm_value *three = sm_value_int(3), *three_f = sm_value_double(3.0), *four = sm_value_int(4);
  sm_value *k = sm_value_str("k"), *s = sm_value_str("abc");
  OK(sm_var_open(c, "ck-v", three, &v));
  OK(sm_queue_open(c, "ck-q", 0, &q));
  OK(sm_list_open(c, "ck-l", &l));
  OK(sm_lock_open(c, "ck-lock", &lk));
  OK(sm_event_open(c, "ck-ev", &e));
  OK(sm_dict_set(d, k, three));
  OK(sm_ns_set(ns, "k", s));
  sm_proxy *dp = sm_dict_proxy(d);
  sm_txn *t;

  t = txn(c);
  OK(sm_txn_if_equals(t, dp, k, three_f)); /* 3 == 3.0, as dict keys compare */
  ck_assert(holds(t));
  t = txn(c);
  OK(sm_txn_if_compare(t, dp, k, SM_CMP_LT, four));
  OK(sm_txn_if_compare(t, dp, k, SM_CMP_GE, three));
  OK(sm_txn_if_compare(t, dp, k, SM_CMP_NE, four));
  ck_assert(holds(t));
  t = txn(c);
  OK(sm_txn_if_compare(t, dp, k, SM_CMP_GT, three));
  ck_assert(!holds(t));
  t = txn(c);
  OK(sm_txn_if_compare(t, dp, k, SM_CMP_LT, s)); /* int against str: unordered */
  ck_assert(!holds(t));
  t = txn(c);
  OK(sm_txn_if_exists(t, sm_ns_proxy(ns), k));
  OK(sm_txn_if_equals(t, sm_ns_proxy(ns), k, s));
  ck_assert(holds(t));
  t = txn(c);
  OK(sm_txn_if_equals(t, sm_var_proxy(v), NULL, three));
  ck_assert(holds(t));
  t = txn(c);
  OK(sm_txn_if_compare(t, sm_var_proxy(v), NULL, SM_CMP_GT, three));
  ck_assert(!holds(t));

  OK(sm_queue_put(q, s, -1));
  t = txn(c);
  OK(sm_txn_if_size(t, sm_queue_proxy(q), SM_CMP_EQ, 1));
  OK(sm_txn_if_size(t, sm_list_proxy(l), SM_CMP_EQ, 0));
  OK(sm_txn_if_size(t, dp, SM_CMP_GE, 1));
  ck_assert(holds(t));
  t = txn(c);
  OK(sm_txn_if_size(t, sm_queue_proxy(q), SM_CMP_GT, 1));
  ck_assert(!holds(t));

  t = txn(c);
  OK(sm_txn_if_held(t, sm_lock_proxy(lk), 0));
  ck_assert(!holds(t));
  OK(sm_lock_acquire(lk, -1));
  t = txn(c);
  OK(sm_txn_if_held(t, sm_lock_proxy(lk), 0));
  ck_assert(holds(t));
  t = txn(c);
  OK(sm_txn_if_held(t, sm_lock_proxy(lk), 5)); /* a token this grant does not carry */
  ck_assert(!holds(t));
  /* Another process holds nothing: the condition is about the caller. */
  pid_t pid = fork();
  if (pid == 0) {
    sm_txn *o;
    bool ok = true;
    if (sm_txn_new(c, &o) != SM_OK || sm_txn_if_held(o, sm_lock_proxy(lk), 0) != SM_OK ||
        sm_txn_commit(o, &ok) != SM_OK)
      _exit(2);
    _exit(ok ? 1 : 0);
  }
  int st = -1;
  ck_assert_int_eq(waitpid(pid, &st, 0), pid);
  ck_assert_int_eq(WEXITSTATUS(st), 0);
  /* Release inside a transaction, guarded by holding it. */
  t = txn(c);
  OK(sm_txn_if_held(t, sm_lock_proxy(lk), 0));
  OK(sm_txn_then(t, sm_lock_proxy(lk), "release", NULL, 0));
  ck_assert(holds(t));
  bool locked = true;
  OK(sm_lock_locked(lk, &locked));
  ck_assert(!locked);

  t = txn(c);
  OK(sm_txn_if_set(t, sm_event_proxy(e)));
  ck_assert(!holds(t));
  OK(sm_event_set(e));
  t = txn(c);
  OK(sm_txn_if_set(t, sm_event_proxy(e)));
  ck_assert(holds(t));

  uint64_t rev = 0;
  OK(sm_rev(dp, &rev));
  ck_assert_uint_eq(rev, 1);
  t = txn(c);
  OK(sm_txn_if_rev(t, dp, SM_CMP_EQ, rev));
  OK(sm_txn_then(t, dp, "set", PROXY_ARGS_T(k, four), 2));
  ck_assert(holds(t));
  t = txn(c);
  OK(sm_txn_if_rev(t, dp, SM_CMP_EQ, rev)); /* the set moved it on */
  ck_assert(!holds(t));

  sm_value_free(three);
  sm_value_free(three_f);
  sm_value_free(four);
  sm_value_free(k);
  sm_value_free(s);
  sm_event_free(e);
  sm_lock_free(lk);
  sm_list_free(l);
  sm_queue_free(q);
  sm_var_free(v);
  sm_ns_free(ns);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* ---- money ---- */

#define ACCOUNTS 8
#define START_BALANCE 1000

static const char *acct_name(int i) {
  static char buf[16];
  snprintf(buf, sizeof buf, "acct%d", i);
  return buf;
}

/* A mover: forever, reads two accounts and moves a random amount from one
 * to the other with a transaction guarded by both balances it read (so a
 * concurrent move makes it retry), never overdrawing. */
static void mover(sm_client *c, unsigned seed) {
  sm_dict *d;
  if (sm_dict_open(c, "bank", &d) != SM_OK) _exit(3);
  for (;;) {
    int a = (int)(rand_r(&seed) % ACCOUNTS), b = (int)(rand_r(&seed) % ACCOUNTS);
    if (a == b) continue;
    int64_t va, vb;
    if (sm_dict_get_int(d, acct_name(a), &va) != SM_OK ||
        sm_dict_get_int(d, acct_name(b), &vb) != SM_OK)
      _exit(4);
    int64_t amount = va ? (int64_t)(rand_r(&seed) % (unsigned)(va + 1)) : 0;
    sm_value *ka = sm_value_str(acct_name(a)), *kb = sm_value_str(acct_name(b));
    sm_value *oa = sm_value_int(va), *ob = sm_value_int(vb);
    sm_value *na = sm_value_int(va - amount), *nb = sm_value_int(vb + amount);
    sm_txn *t;
    if (sm_txn_new(c, &t) != SM_OK || sm_txn_if_equals(t, sm_dict_proxy(d), ka, oa) != SM_OK ||
        sm_txn_if_equals(t, sm_dict_proxy(d), kb, ob) != SM_OK ||
        sm_txn_then(t, sm_dict_proxy(d), "set", PROXY_ARGS_T(ka, na), 2) != SM_OK ||
        sm_txn_then(t, sm_dict_proxy(d), "set", PROXY_ARGS_T(kb, nb), 2) != SM_OK ||
        sm_txn_commit(t, NULL) != SM_OK)
      _exit(5);
    sm_txn_free(t);
    sm_value_free(ka);
    sm_value_free(kb);
    sm_value_free(oa);
    sm_value_free(ob);
    sm_value_free(na);
    sm_value_free(nb);
  }
}

/* The sum of every account, read at once (copy is one call). */
static int64_t total(sm_dict *d) {
  sm_value *all = NULL;
  OK(sm_dict_copy(d, &all));
  int64_t sum = 0;
  for (size_t i = 0; i < sm_value_len(all); i++) {
    int64_t v = sm_value_as_int(sm_value_map_value_at(all, i));
    ck_assert_int_ge(v, 0);
    sum += v;
  }
  sm_value_free(all);
  return sum;
}

static pid_t spawn_mover(sm_client *c, unsigned seed) {
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    mover(c, seed);
  }
  return pid;
}

/* Six processes move money between eight accounts with transactions while
 * the test SIGKILLs a random one every few milliseconds (a transaction is
 * in flight in the daemon, half sent, or not started) and starts another:
 * the total never changes, no account goes negative, and the moves do
 * happen. */
START_TEST(test_money_under_sigkill) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_dict *d;
  OK(sm_dict_open(c, "bank", &d));
  for (int i = 0; i < ACCOUNTS; i++)
    OK(sm_dict_set_int(d, acct_name(i), START_BALANCE));
  uint64_t rev0 = 0;
  OK(sm_rev(sm_dict_proxy(d), &rev0));
  enum { MOVERS = 6, KILLS = 40 };
  pid_t pids[MOVERS];
  unsigned seed = 12345;
  for (int i = 0; i < MOVERS; i++)
    pids[i] = spawn_mover(c, seed + (unsigned)i);
  for (int k = 0; k < KILLS; k++) {
    smtest_sleep_ms(5 + (long)(rand_r(&seed) % 20));
    int victim = (int)(rand_r(&seed) % MOVERS);
    kill(pids[victim], SIGKILL);
    int st;
    ck_assert_int_eq(waitpid(pids[victim], &st, 0), pids[victim]);
    ck_assert_msg(WIFSIGNALED(st), "mover %d exited on its own (status %d)", victim,
                  WEXITSTATUS(st));
    ck_assert_int_eq(total(d), ACCOUNTS * START_BALANCE);
    pids[victim] = spawn_mover(c, seed + 1000u + (unsigned)k);
  }
  for (int i = 0; i < MOVERS; i++) {
    kill(pids[i], SIGKILL);
    waitpid(pids[i], NULL, 0);
  }
  ck_assert_int_eq(total(d), ACCOUNTS * START_BALANCE);
  uint64_t rev1 = 0;
  OK(sm_rev(sm_dict_proxy(d), &rev1));
  ck_assert_msg(rev1 > rev0 + 20, "only %llu moves were made", (unsigned long long)(rev1 - rev0));
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* ---- across a restart ---- */

/* The money movers again, on a durable daemon that is SIGKILLed while
 * they run (transactions in flight, in the log's buffer, half written) and
 * restarted: the total read back after the replay is the total put in. */
START_TEST(test_money_across_daemon_crash) {
  smtest_durable x;
  smtest_durable_start(&x, (const char *const[]){"--fsync", "everysec", NULL});
  sm_client *c = smtest_connect(&x.d, x.d.unix_url);
  sm_dict *d;
  OK(sm_dict_open(c, "bank", &d));
  for (int i = 0; i < ACCOUNTS; i++)
    OK(sm_dict_set_int(d, acct_name(i), START_BALANCE));
  uint64_t rev0 = 0;
  OK(sm_rev(sm_dict_proxy(d), &rev0));
  enum { MOVERS = 4 };
  pid_t pids[MOVERS];
  for (int i = 0; i < MOVERS; i++)
    pids[i] = spawn_mover(c, 777u + (unsigned)i);
  smtest_sleep_ms(300);
  smtest_daemon_kill(&x.d, SIGKILL);
  for (int i = 0; i < MOVERS; i++) {
    kill(pids[i], SIGKILL); /* those the dead daemon did not end already */
    waitpid(pids[i], NULL, 0);
  }
  sm_dict_free(d);
  sm_client_free(c);
  smtest_daemon_restart_args(&x.d, x.args);
  c = smtest_connect(&x.d, x.d.unix_url);
  OK(sm_dict_open(c, "bank", &d));
  ck_assert_int_eq(total(d), ACCOUNTS * START_BALANCE);
  uint64_t rev1 = 0;
  OK(sm_rev(sm_dict_proxy(d), &rev1));
  ck_assert_msg(rev1 > rev0 + 10, "only %llu moves were made before the crash",
                (unsigned long long)(rev1 - rev0));
  sm_dict_free(d);
  sm_client_free(c);
  smtest_durable_stop(&x);
}
END_TEST

/* A transaction is logged as one command: after a SIGKILL and restart of
 * a durable daemon its changes to two objects are there, and its
 * revisions go on from where they were. */
START_TEST(test_durable_restart) {
  smtest_durable x;
  smtest_durable_start(&x, NULL);
  sm_client *c = smtest_connect(&x.d, x.d.unix_url);
  sm_dict *d;
  sm_list *l;
  OK(sm_dict_open(c, "dur", &d));
  OK(sm_list_open(c, "dur-l", &l));
  sm_value *k = sm_value_str("k"), *v = sm_value_int(42);
  sm_txn *t = txn(c);
  OK(sm_txn_if_absent(t, sm_dict_proxy(d), k));
  OK(sm_txn_then(t, sm_dict_proxy(d), "set", PROXY_ARGS_T(k, v), 2));
  OK(sm_txn_then(t, sm_list_proxy(l), "append", PROXY_ARGS_T(v), 1));
  ck_assert(holds(t));
  uint64_t rev = 0;
  OK(sm_rev(sm_dict_proxy(d), &rev));
  ck_assert_uint_eq(rev, 1);
  sm_dict_free(d);
  sm_list_free(l);
  sm_client_free(c);
  smtest_daemon_kill(&x.d, SIGKILL);
  smtest_daemon_restart_args(&x.d, x.args);
  c = smtest_connect(&x.d, x.d.unix_url);
  OK(sm_dict_open(c, "dur", &d));
  OK(sm_list_open(c, "dur-l", &l));
  ck_assert_int_eq(get_int(d, "k"), 42);
  size_t n = 0;
  OK(sm_list_len(l, &n));
  ck_assert_uint_eq(n, 1);
  OK(sm_rev(sm_dict_proxy(d), &rev));
  ck_assert_uint_eq(rev, 1);
  /* The same transaction again finds k present: the else-list (none). */
  t = txn(c);
  OK(sm_txn_if_absent(t, sm_dict_proxy(d), k));
  OK(sm_txn_then(t, sm_list_proxy(l), "append", PROXY_ARGS_T(v), 1));
  ck_assert(!holds(t));
  OK(sm_list_len(l, &n));
  ck_assert_uint_eq(n, 1);
  sm_value_free(k);
  sm_value_free(v);
  sm_dict_free(d);
  sm_list_free(l);
  sm_client_free(c);
  smtest_durable_stop(&x);
}
END_TEST

Suite *txn_suite(void) {
  Suite *s = suite_create("txn");
  TCase *tc = smtest_daemon_tcase(s, "txn", 60);
  tcase_add_test(tc, test_then_and_else);
  tcase_add_test(tc, test_bad_call_applies_nothing);
  tcase_add_test(tc, test_state_failure_reported);
  tcase_add_test(tc, test_condition_kinds);
  tcase_add_test(tc, test_money_under_sigkill);
  TCase *dur = tcase_create("durable");
  tcase_set_timeout(dur, 60);
  tcase_add_test(dur, test_durable_restart);
  tcase_add_test(dur, test_money_across_daemon_crash);
  suite_add_tcase(s, dur);
  return s;
}
