/* SPDX-License-Identifier: MIT */
/* check_txn_atomic.c - transactions are all or nothing, against a real
 * statemgrd: a call of the chosen list failing on the state it finds
 * fails the commit with its code and leaves every object the calls before
 * it touched as it was (values, order, revisions, watch history, memory,
 * references held by stored refs, parked waiters, locks released), and a
 * durable daemon restarted after such failures holds the same state. */
#include "smtest_sync.h"

#include <pthread.h>
#include <string.h>

#define ARGS(...) ((const sm_value *const[]){__VA_ARGS__})

static int64_t get_int(sm_dict *d, const char *k) {
  int64_t v = -1;
  OK(sm_dict_get_int(d, k, &v));
  return v;
}

static bool has_key(sm_dict *d, const char *k) {
  sm_value *key = sm_value_str(k);
  bool has = false;
  OK(sm_dict_contains(d, key, &has));
  sm_value_free(key);
  return has;
}

/* Commits t, which must fail with code naming then-operation op. */
static void commit_fails(sm_txn *t, int code, const char *op) {
  FAILS(sm_txn_commit(t, NULL), code);
  ck_assert_msg(strstr(sm_last_error(), op) != NULL, "'%s' does not name %s", sm_last_error(), op);
  ck_assert_msg(strstr(sm_last_error(), "applied nothing") != NULL, "%s", sm_last_error());
  ck_assert_uint_eq(sm_txn_count(t), 0);
}

/* dict set + list append + queue get on an empty queue: the get fails,
 * so neither the set (an overwrite) nor the append is applied, the
 * revisions stay, and the memory count does not grow. */
START_TEST(test_third_call_undoes_first_two) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_dict *d;
  sm_list *l;
  sm_queue *q;
  OK(sm_dict_open(c, "at-d", &d));
  OK(sm_list_open(c, "at-l", &l));
  OK(sm_queue_open(c, "at-q", 0, &q));
  OK(sm_dict_set_int(d, "a", 1));
  OK(sm_list_append_int(l, 1));
  OK(sm_list_append_int(l, 2));
  uint64_t drev = 0, lrev = 0, rev = 0;
  OK(sm_rev(sm_dict_proxy(d), &drev));
  OK(sm_rev(sm_list_proxy(l), &lrev));
  int64_t mem = smtest_info_int(c, "used_memory");
  sm_value *ka = sm_value_str("a"), *big = sm_value_str("a value long enough to be counted");
  sm_txn *t;
  OK(sm_txn_new(c, &t));
  OK(sm_txn_then(t, sm_dict_proxy(d), "set", ARGS(ka, big), 2));
  OK(sm_txn_then(t, sm_list_proxy(l), "append", ARGS(big), 1));
  OK(sm_txn_then(t, sm_queue_proxy(q), "get", NULL, 0));
  commit_fails(t, SM_EEMPTY, "then operation 3 (queue.get)");
  ck_assert_int_eq(get_int(d, "a"), 1);
  size_t n = 0;
  OK(sm_list_len(l, &n));
  ck_assert_uint_eq(n, 2);
  int64_t v = 0;
  OK(sm_list_get_int(l, 0, &v));
  ck_assert_int_eq(v, 1);
  OK(sm_list_get_int(l, 1, &v));
  ck_assert_int_eq(v, 2);
  OK(sm_rev(sm_dict_proxy(d), &rev));
  ck_assert_uint_eq(rev, drev);
  OK(sm_rev(sm_list_proxy(l), &rev));
  ck_assert_uint_eq(rev, lrev);
  /* The count is the state's: a rolled back list is rebuilt without its
   * spare room, so it may be less, and failing again changes nothing. */
  int64_t after = smtest_info_int(c, "used_memory");
  ck_assert_int_le(after, mem);
  commit_fails(t, SM_EEMPTY, "then operation 3 (queue.get)");
  ck_assert_int_eq(smtest_info_int(c, "used_memory"), after);
  /* The same calls with a queue item to get all apply. */
  OK(sm_queue_put_int(q, 9, 0));
  bool ok = false;
  OK(sm_txn_commit(t, &ok));
  ck_assert(ok);
  ck_assert_uint_eq(sm_txn_count(t), 3);
  OK(sm_list_len(l, &n));
  ck_assert_uint_eq(n, 3);
  OK(sm_rev(sm_dict_proxy(d), &rev));
  ck_assert_uint_eq(rev, drev + 1);
  sm_txn_free(t);
  sm_value_free(ka);
  sm_value_free(big);
  sm_queue_free(q);
  sm_list_free(l);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* dict del, then a value add that overflows: the key is back. */
START_TEST(test_overflow_after_del) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_dict *d;
  sm_var *v;
  OK(sm_dict_open(c, "ov-d", &d));
  sm_value *max = sm_value_int(INT64_MAX), *one = sm_value_int(1), *kx = sm_value_str("x");
  OK(sm_var_open(c, "ov-v", max, &v));
  OK(sm_dict_set_int(d, "x", 5));
  OK(sm_dict_set_int(d, "y", 6));
  sm_txn *t;
  OK(sm_txn_new(c, &t));
  OK(sm_txn_then(t, sm_dict_proxy(d), "del", ARGS(kx), 1));
  OK(sm_txn_then(t, sm_var_proxy(v), "add", ARGS(one), 1));
  commit_fails(t, SM_EVALUE, "then operation 2 (value.add)");
  ck_assert_int_eq(get_int(d, "x"), 5);
  ck_assert_int_eq(get_int(d, "y"), 6);
  size_t n = 0;
  OK(sm_dict_len(d, &n));
  ck_assert_uint_eq(n, 2);
  int64_t got = 0;
  OK(sm_var_get_int(v, &got));
  ck_assert_int_eq(got, INT64_MAX);
  sm_txn_free(t);
  sm_value_free(max);
  sm_value_free(one);
  sm_value_free(kx);
  sm_var_free(v);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* A call with a wrong argument count (a get of no key, a set of one
 * argument) fails the transaction with VALUE_ERROR, the calls before it
 * rolled back: a transaction's calls get the counts checked as dispatch
 * checks a call's. */
START_TEST(test_wrong_count_rolled_back) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_dict *d;
  OK(sm_dict_open(c, "wc-d", &d));
  sm_value *k = sm_value_str("k"), *one = sm_value_int(1);
  const char *bad[] = {"get", "set", "del", "pop"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    sm_txn *t;
    OK(sm_txn_new(c, &t));
    OK(sm_txn_then(t, sm_dict_proxy(d), "set", ARGS(k, one), 2));
    OK(sm_txn_then(t, sm_dict_proxy(d), bad[i], i == 1 ? ARGS(k) : NULL, i == 1 ? 1 : 0));
    commit_fails(t, SM_EVALUE, "then operation 2");
    ck_assert(!has_key(d, "k"));
    sm_txn_free(t);
  }
  /* The same with a value's add and a list's append of no argument. */
  sm_var *v;
  sm_list *l;
  OK(sm_var_open(c, "wc-v", one, &v));
  OK(sm_list_open(c, "wc-l", &l));
  sm_proxy *target[] = {sm_var_proxy(v), sm_list_proxy(l)};
  const char *method[] = {"add", "append"};
  for (size_t i = 0; i < 2; i++) {
    sm_txn *t;
    OK(sm_txn_new(c, &t));
    OK(sm_txn_then(t, sm_dict_proxy(d), "set", ARGS(k, one), 2));
    OK(sm_txn_then(t, target[i], method[i], NULL, 0));
    commit_fails(t, SM_EVALUE, "then operation 2");
    ck_assert(!has_key(d, "k"));
    sm_txn_free(t);
  }
  size_t n = 1;
  OK(sm_list_len(l, &n));
  ck_assert_uint_eq(n, 0);
  sm_list_free(l);
  sm_var_free(v);
  sm_value_free(k);
  sm_value_free(one);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* TTLs rolled back: a TTL removed comes back, one given goes, a key
 * removed by a TTL of 0 comes back, and nothing expires by them. */
START_TEST(test_ttls_rolled_back) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_dict *d;
  sm_queue *q;
  OK(sm_dict_open(c, "tt-d", &d));
  OK(sm_queue_open(c, "tt-q", 0, &q));
  sm_value *kt = sm_value_str("t"), *ku = sm_value_str("u"), *kv = sm_value_str("v");
  sm_value *one = sm_value_int(1), *ms = sm_value_int(50), *zero = sm_value_int(0);
  OK(sm_dict_set_ex(d, kt, one, 100000));
  OK(sm_dict_set(d, ku, one));
  OK(sm_dict_set(d, kv, one));
  sm_txn *t;
  OK(sm_txn_new(c, &t));
  OK(sm_txn_then(t, sm_dict_proxy(d), "persist", ARGS(kt), 1));
  OK(sm_txn_then(t, sm_dict_proxy(d), "set_ttl", ARGS(ku, ms), 2));
  OK(sm_txn_then(t, sm_dict_proxy(d), "set_ttl", ARGS(kv, zero), 2));
  OK(sm_txn_then(t, sm_queue_proxy(q), "get", NULL, 0));
  commit_fails(t, SM_EEMPTY, "then operation 4");
  int64_t left = 0;
  OK(sm_dict_ttl(d, kt, &left));
  ck_assert_int_gt(left, 90000);
  OK(sm_dict_ttl(d, ku, &left));
  ck_assert_int_eq(left, -1);
  OK(sm_dict_ttl(d, kv, &left));
  ck_assert_int_eq(left, -1);
  smtest_sleep_ms(150); /* past the 50 ms the rolled back set_ttl gave */
  ck_assert(has_key(d, "u"));
  ck_assert(has_key(d, "v"));
  sm_txn_free(t);
  sm_value *all[] = {kt, ku, kv, one, ms, zero};
  for (size_t i = 0; i < 6; i++)
    sm_value_free(all[i]);
  sm_queue_free(q);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* Whether the anonymous object ref names is alive. */
static bool alive(sm_client *c, const sm_value *ref) {
  sm_dict *p = NULL;
  int rc = sm_dict_from_ref(c, ref, &p);
  sm_dict_free(p);
  ck_assert_msg(rc == SM_OK || rc == SM_ENOTFOUND, "from_ref: %s", sm_last_error());
  return rc == SM_OK;
}

/* A ref stored by a rolled back call holds nothing: the anonymous object
 * goes with its proxy. A ref deleted by a rolled back call still holds:
 * the object lives on with no proxy, and goes when the key does. */
START_TEST(test_refs_rolled_back) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_dict *d, *x, *y;
  sm_queue *q;
  OK(sm_dict_open(c, "rf-d", &d));
  OK(sm_queue_open(c, "rf-q", 0, &q));
  OK(sm_dict_open(c, NULL, &x));
  OK(sm_dict_open(c, NULL, &y));
  sm_value *rx = sm_proxy_ref(sm_dict_proxy(x)), *ry = sm_proxy_ref(sm_dict_proxy(y));
  sm_value *kr = sm_value_str("r"), *ky = sm_value_str("y");
  OK(sm_dict_set(d, ky, ry));
  sm_dict_free(y); /* y is held by d alone now */
  ck_assert(alive(c, ry));
  sm_txn *t;
  OK(sm_txn_new(c, &t));
  OK(sm_txn_then(t, sm_dict_proxy(d), "set", ARGS(kr, rx), 2));
  OK(sm_txn_then(t, sm_dict_proxy(d), "del", ARGS(ky), 1));
  OK(sm_txn_then(t, sm_queue_proxy(q), "get", NULL, 0));
  commit_fails(t, SM_EEMPTY, "then operation 3");
  ck_assert(!has_key(d, "r"));
  ck_assert(has_key(d, "y"));
  ck_assert(alive(c, ry)); /* held by d again, not freed meanwhile */
  sm_dict_free(x);         /* x's last holder */
  ck_assert(!alive(c, rx));
  OK(sm_dict_del(d, ky));
  ck_assert(!alive(c, ry));
  sm_txn_free(t);
  sm_value_free(rx);
  sm_value_free(ry);
  sm_value_free(kr);
  sm_value_free(ky);
  sm_queue_free(q);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* Within one transaction an object whose last holder goes is not freed
 * before the transaction ends: a later call may hold it again (then it
 * lives on), or let it go a second time (then it is freed once). */
START_TEST(test_ref_dropped_and_held_again) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_dict *d, *y;
  OK(sm_dict_open(c, "rh-d", &d));
  OK(sm_dict_open(c, NULL, &y));
  sm_value *ry = sm_proxy_ref(sm_dict_proxy(y));
  sm_value *ky = sm_value_str("y"), *kz = sm_value_str("z");
  OK(sm_dict_set(d, ky, ry));
  sm_dict_free(y);
  sm_txn *t;
  OK(sm_txn_new(c, &t));
  OK(sm_txn_then(t, sm_dict_proxy(d), "del", ARGS(ky), 1));
  OK(sm_txn_then(t, sm_dict_proxy(d), "set", ARGS(kz, ry), 2));
  OK(sm_txn_commit(t, NULL));
  sm_txn_free(t);
  ck_assert(alive(c, ry)); /* held by z */
  OK(sm_txn_new(c, &t));
  OK(sm_txn_then(t, sm_dict_proxy(d), "del", ARGS(kz), 1));
  OK(sm_txn_then(t, sm_dict_proxy(d), "set", ARGS(ky, ry), 2));
  OK(sm_txn_then(t, sm_dict_proxy(d), "del", ARGS(ky), 1));
  OK(sm_txn_commit(t, NULL));
  sm_txn_free(t);
  ck_assert(!alive(c, ry));
  size_t n = 1;
  OK(sm_dict_len(d, &n));
  ck_assert_uint_eq(n, 0);
  sm_value_free(ry);
  sm_value_free(ky);
  sm_value_free(kz);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* A watcher of the dict sees no event of a failed transaction: from the
 * revision before it, the next event is the next real change. */
START_TEST(test_watchers_see_nothing) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_dict *d;
  sm_queue *q;
  OK(sm_dict_open(c, "wt-d", &d));
  OK(sm_queue_open(c, "wt-q", 0, &q));
  uint64_t from = 0, next = 0;
  OK(sm_rev(sm_dict_proxy(d), &from)); /* starts keeping its changes */
  int64_t mem = smtest_info_int(c, "used_memory");
  sm_value *k = sm_value_str("k"), *v = sm_value_int(1);
  sm_txn *t;
  OK(sm_txn_new(c, &t));
  OK(sm_txn_then(t, sm_dict_proxy(d), "set", ARGS(k, v), 2));
  OK(sm_txn_then(t, sm_queue_proxy(q), "get", NULL, 0));
  commit_fails(t, SM_EEMPTY, "then operation 2");
  ck_assert_int_eq(smtest_info_int(c, "used_memory"), mem);
  sm_value *events = NULL;
  OK(sm_watch(sm_dict_proxy(d), from, NULL, 0, &events, &next));
  ck_assert_ptr_nonnull(events);
  ck_assert_uint_eq(sm_value_len(events), 0);
  ck_assert_uint_eq(next, from);
  sm_value_free(events);
  OK(sm_dict_set_int(d, "other", 2));
  OK(sm_watch(sm_dict_proxy(d), from, NULL, 0, &events, &next));
  ck_assert_uint_eq(sm_value_len(events), 1);
  const sm_value *e = sm_value_list_at(events, 0);
  ck_assert_int_eq(sm_value_as_int(sm_value_list_at(e, 0)), (int64_t)from + 1);
  ck_assert_str_eq(sm_value_as_str(sm_value_list_at(e, 2), NULL), "other");
  sm_value_free(events);
  sm_txn_free(t);
  sm_value_free(k);
  sm_value_free(v);
  sm_queue_free(q);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

typedef struct getter {
  sm_queue *q;
  int rc;
} getter;

static void *get_one(void *arg) {
  getter *g = arg;
  sm_value *out = NULL;
  g->rc = sm_queue_get(g->q, 600, &out);
  sm_value_free(out);
  return NULL;
}

/* A getter parked on an empty queue is not handed the item a failed
 * transaction put, and a lock released by it is still held. */
START_TEST(test_waiters_and_locks_untouched) {
  sm_client *c = smtest_connect(&smtest_d, NULL), *c2 = smtest_connect(&smtest_d, NULL);
  sm_queue *q, *q2;
  sm_dict *d;
  sm_lock *l;
  OK(sm_queue_open(c, "wl-q", 0, &q));
  OK(sm_queue_open(c2, "wl-q", 0, &q2));
  OK(sm_dict_open(c, "wl-d", &d));
  OK(sm_lock_open(c, "wl-l", &l));
  OK(sm_lock_acquire(l, -1));
  getter g = {.q = q2, .rc = 1};
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, get_one, &g), 0);
  smtest_wait_waiters(c, 1);
  sm_value *item = sm_value_int(7), *missing = sm_value_str("missing");
  sm_txn *t;
  OK(sm_txn_new(c, &t));
  OK(sm_txn_then(t, sm_lock_proxy(l), "release", NULL, 0));
  OK(sm_txn_then(t, sm_queue_proxy(q), "put", ARGS(item), 1));
  OK(sm_txn_then(t, sm_dict_proxy(d), "pop", ARGS(missing), 1));
  commit_fails(t, SM_ENOTFOUND, "then operation 3 (dict.pop)");
  pthread_join(th, NULL);
  ck_assert_int_eq(g.rc, SM_ETIMEOUT);
  size_t n = 1;
  OK(sm_queue_qsize(q, &n));
  ck_assert_uint_eq(n, 0);
  bool locked = false;
  OK(sm_lock_locked(l, &locked));
  ck_assert(locked);
  OK(sm_lock_release(l));
  sm_txn_free(t);
  sm_value_free(item);
  sm_value_free(missing);
  sm_lock_free(l);
  sm_dict_free(d);
  sm_queue_free(q2);
  sm_queue_free(q);
  sm_client_free(c2);
  sm_client_free(c);
}
END_TEST

/* Failed transactions on a durable daemon: after a SIGKILL and restart
 * the state, and the revisions, are those before them (the replay
 * agrees with what the live daemon answered). */
START_TEST(test_durable_restart_after_failures) {
  smtest_durable x;
  smtest_durable_start(&x, NULL);
  sm_client *c = smtest_connect(&x.d, x.d.unix_url);
  sm_dict *d;
  sm_list *l;
  sm_queue *q;
  OK(sm_dict_open(c, "dr-d", &d));
  OK(sm_list_open(c, "dr-l", &l));
  OK(sm_queue_open(c, "dr-q", 0, &q));
  OK(sm_dict_set_int(d, "k", 1));
  sm_value *k = sm_value_str("k"), *v = sm_value_int(2);
  sm_txn *t;
  OK(sm_txn_new(c, &t));
  OK(sm_txn_then(t, sm_dict_proxy(d), "set", ARGS(k, v), 2));
  OK(sm_txn_then(t, sm_list_proxy(l), "append", ARGS(v), 1));
  OK(sm_txn_then(t, sm_queue_proxy(q), "get", NULL, 0));
  for (int i = 0; i < 3; i++)
    commit_fails(t, SM_EEMPTY, "then operation 3");
  OK(sm_list_append_int(l, 5)); /* a change after them, logged */
  sm_txn_free(t);
  sm_queue_free(q);
  sm_dict_free(d);
  sm_list_free(l);
  sm_client_free(c);
  smtest_daemon_kill(&x.d, SIGKILL);
  smtest_daemon_restart_args(&x.d, x.args);
  c = smtest_connect(&x.d, x.d.unix_url);
  OK(sm_dict_open(c, "dr-d", &d));
  OK(sm_list_open(c, "dr-l", &l));
  ck_assert_int_eq(get_int(d, "k"), 1);
  size_t n = 0;
  OK(sm_list_len(l, &n));
  ck_assert_uint_eq(n, 1);
  uint64_t rev = 0;
  OK(sm_rev(sm_dict_proxy(d), &rev));
  ck_assert_uint_eq(rev, 1);
  OK(sm_rev(sm_list_proxy(l), &rev));
  ck_assert_uint_eq(rev, 1);
  sm_value_free(k);
  sm_value_free(v);
  sm_dict_free(d);
  sm_list_free(l);
  sm_client_free(c);
  smtest_durable_stop(&x);
}
END_TEST

Suite *txn_atomic_suite(void) {
  Suite *s = suite_create("txn_atomic");
  TCase *tc = smtest_daemon_tcase(s, "txn_atomic", 30);
  tcase_add_test(tc, test_third_call_undoes_first_two);
  tcase_add_test(tc, test_overflow_after_del);
  tcase_add_test(tc, test_wrong_count_rolled_back);
  tcase_add_test(tc, test_ttls_rolled_back);
  tcase_add_test(tc, test_refs_rolled_back);
  tcase_add_test(tc, test_ref_dropped_and_held_again);
  tcase_add_test(tc, test_watchers_see_nothing);
  tcase_add_test(tc, test_waiters_and_locks_untouched);
  TCase *dur = tcase_create("durable");
  tcase_set_timeout(dur, 30);
  tcase_add_test(dur, test_durable_restart_after_failures);
  suite_add_tcase(s, dur);
  return s;
}
