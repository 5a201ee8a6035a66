/* SPDX-License-Identifier: MIT */
/* check_watch.c - revisions and watches (sm_rev, sm_watch) against a real
 * statemgrd: a watcher following a key through many quick changes made by
 * another process sees every one, in order; a parked watch wakes for its
 * key and not for another; timeouts, bad revisions, wrong types and a
 * deleted object give their codes; a watch from before the kept history
 * says it is compacted; lists, values and namespaces; and a watcher
 * resumes from its revision across restarts of a durable daemon (the log
 * replayed, then a snapshot loaded). */
#include "smtest_sync.h"

/* Writes key "k" of dict "cfg" n times (values 1..n), with noise on
 * another key every 4th, as fast as it can. */
static int writer(void *ctx, int id) {
  (void)id;
  sm_client *c = ctx;
  sm_dict *d;
  WOK(sm_dict_open(c, "cfg", &d));
  for (int i = 1; i <= 200; i++) {
    WOK(sm_dict_set_int(d, "k", i));
    if (i % 4 == 0) WOK(sm_dict_set_int(d, "noise", i));
  }
  sm_dict_free(d);
  return 0;
}

/* A watcher of key k that reads the revision first, then the value, then
 * watches from that revision each time from the one the last watch gave:
 * it sees all 200 values of the writer in order, and nothing of the noise
 * key. */
START_TEST(test_follows_every_change) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_dict *d;
  OK(sm_dict_open(c, "cfg", &d));
  uint64_t rev = 0;
  OK(sm_rev(sm_dict_proxy(d), &rev));
  ck_assert_uint_eq(rev, 0);
  smtest_workers w;
  smtest_workers_start(&w, 1, 0, writer, c);
  sm_value *k = sm_value_str("k");
  int64_t next = 1;
  while (next <= 200) {
    sm_value *events = NULL;
    OK(sm_watch(sm_dict_proxy(d), rev, k, 10000, &events, &rev));
    ck_assert_ptr_nonnull(events); /* 250 changes fit the kept history */
    ck_assert_uint_gt(sm_value_len(events), 0);
    for (size_t i = 0; i < sm_value_len(events); i++) {
      const sm_value *ev = sm_value_list_at(events, i);
      ck_assert_str_eq(sm_value_as_str(sm_value_list_at(ev, 1), NULL), "set");
      ck_assert_str_eq(sm_value_as_str(sm_value_list_at(ev, 2), NULL), "k");
      ck_assert_int_eq(sm_value_as_int(sm_value_list_at(ev, 3)), next);
      ck_assert_uint_le((uint64_t)sm_value_as_int(sm_value_list_at(ev, 0)), rev);
      next++;
    }
    sm_value_free(events);
  }
  smtest_workers_join(&w);
  uint64_t now = 0;
  OK(sm_rev(sm_dict_proxy(d), &now));
  ck_assert_uint_eq(now, 250);
  sm_value_free(k);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* A process watching key "a" from the revision now. */
static int watch_a(void *ctx, int id) {
  (void)id;
  sm_client *c = ctx;
  sm_dict *d;
  WOK(sm_dict_open(c, "park", &d));
  sm_value *a = sm_value_str("a"), *events = NULL;
  uint64_t rev = 0, next = 0;
  WOK(sm_rev(sm_dict_proxy(d), &rev));
  WOK(sm_watch(sm_dict_proxy(d), rev, a, 10000, &events, &next));
  WCHECK(events && sm_value_len(events) == 1);
  const sm_value *ev = sm_value_list_at(events, 0);
  WCHECK(strcmp(sm_value_as_str(sm_value_list_at(ev, 1), NULL), "del") == 0);
  WCHECK(next == rev + 2); /* the change of b came first */
  sm_value_free(events);
  sm_value_free(a);
  sm_dict_free(d);
  return 0;
}

/* A watch of a key parks until that key changes: a change of another key
 * leaves it parked; deleting the key answers it with a "del" event. */
START_TEST(test_parks_for_its_key) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_dict *d;
  OK(sm_dict_open(c, "park", &d));
  OK(sm_dict_set_int(d, "a", 1));
  smtest_workers w;
  smtest_workers_start(&w, 1, 0, watch_a, c);
  smtest_wait_waiters(c, 1);
  OK(sm_dict_set_int(d, "b", 2));
  smtest_sleep_ms(50);
  ck_assert_int_eq(smtest_waiters(c), 1);
  OK(sm_dict_del_str(d, "a"));
  smtest_workers_join(&w);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* A process watching the value object "doomed" from 0, forever. */
static int watch_doomed(void *ctx, int id) {
  (void)id;
  sm_client *c = ctx;
  sm_var *v;
  WOK(sm_var_open(c, "doomed", NULL, &v));
  sm_value *events = NULL;
  uint64_t next = 0;
  int rc = sm_watch(sm_var_proxy(v), 0, NULL, -1, &events, &next);
  WCHECK(rc == SM_ENOTFOUND);
  sm_var_free(v);
  return 0;
}

/* Timeouts answer SM_ETIMEOUT, a zero timeout answers at once with no
 * events, a revision after now is SM_EVALUE, a type without revisions
 * SM_ETYPE, and deleting a watched object answers its watchers
 * SM_ENOTFOUND. */
START_TEST(test_timeouts_and_errors) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_dict *d;
  sm_queue *q;
  OK(sm_dict_open(c, "errs", &d));
  OK(sm_queue_open(c, "errs-q", 0, &q));
  sm_value *events = NULL;
  uint64_t next = 99;
  double t0 = smtest_now_ms();
  FAILS(sm_watch(sm_dict_proxy(d), 0, NULL, 100, &events, &next), SM_ETIMEOUT);
  ASSERT_DEADLINE(smtest_now_ms() - t0, 100);
  sm_value *key = sm_value_str("some key");
  FAILS(sm_watch(sm_dict_proxy(d), 0, key, 50, &events, &next), SM_ETIMEOUT);
  sm_value_free(key);
  OK(sm_watch(sm_dict_proxy(d), 0, NULL, 0, &events, &next));
  ck_assert_ptr_nonnull(events);
  ck_assert_uint_eq(sm_value_len(events), 0);
  ck_assert_uint_eq(next, 0);
  sm_value_free(events);
  FAILS(sm_watch(sm_dict_proxy(d), 1, NULL, 0, &events, &next), SM_EVALUE);
  FAILS(sm_watch(sm_queue_proxy(q), 0, NULL, 0, &events, &next), SM_ETYPE);
  uint64_t rev;
  FAILS(sm_rev(sm_queue_proxy(q), &rev), SM_ETYPE);
  smtest_workers w;
  smtest_workers_start(&w, 1, 0, watch_doomed, c);
  smtest_wait_waiters(c, 1);
  OK(sm_delete(c, "doomed"));
  smtest_workers_join(&w);
  sm_queue_free(q);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* A key that expires is a change like any other: a watcher of that key
 * parked before its deadline is woken with a "del" event, and the
 * dict's revision moves on (the expiry cycle removes it, nobody touches
 * the dict). */
START_TEST(test_expiry_is_a_change) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_dict *d;
  OK(sm_dict_open(c, "expiring", &d));
  sm_value *k = sm_value_str("session"), *v = sm_value_int(1);
  uint64_t rev, next = 0;
  OK(sm_rev(sm_dict_proxy(d), &rev));
  OK(sm_dict_set_ex(d, k, v, 150));
  OK(sm_rev(sm_dict_proxy(d), &rev)); /* the set itself: watch after it */
  sm_value *events = NULL;
  OK(sm_watch(sm_dict_proxy(d), rev, k, 5000, &events, &next));
  ck_assert_ptr_nonnull(events);
  ck_assert_uint_eq(sm_value_len(events), 1);
  const sm_value *ev = sm_value_list_at(events, 0); /* [rev, kind, key, value] */
  ck_assert_str_eq(sm_value_as_str(sm_value_list_at(ev, 1), NULL), "del");
  ck_assert_uint_eq(next, rev + 1);
  sm_value_free(events);
  sm_value_free(k);
  sm_value_free(v);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* More changes than the daemon keeps: a watch from before them answers
 * compacted (events NULL) with the revision to start again from, and a
 * watch from there works. */
START_TEST(test_compacted) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_dict *d;
  OK(sm_dict_open(c, "many", &d));
  uint64_t rev = 1;
  OK(sm_rev(sm_dict_proxy(d), &rev)); /* its changes are kept from now on */
  ck_assert_uint_eq(rev, 0);
  for (int i = 0; i < 300; i++)
    OK(sm_dict_set_int(d, "k", i));
  sm_value *events = (sm_value *)1;
  uint64_t next = 0;
  OK(sm_watch(sm_dict_proxy(d), 0, NULL, 0, &events, &next));
  ck_assert_ptr_null(events);
  ck_assert_uint_eq(next, 300);
  OK(sm_watch(sm_dict_proxy(d), 299, NULL, 0, &events, &next));
  ck_assert_uint_eq(sm_value_len(events), 1);
  sm_value_free(events);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* An object nobody watched keeps only its revision: a first watch from
 * an earlier revision answers compacted, and its changes are kept from
 * that watch on. */
START_TEST(test_kept_from_first_watch) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_dict *d;
  OK(sm_dict_open(c, "late", &d));
  OK(sm_dict_set_int(d, "k", 1));
  OK(sm_dict_set_int(d, "k", 2));
  sm_value *events = (sm_value *)1;
  uint64_t next = 0;
  OK(sm_watch(sm_dict_proxy(d), 1, NULL, 0, &events, &next));
  ck_assert_ptr_null(events);
  ck_assert_uint_eq(next, 2);
  OK(sm_dict_set_int(d, "k", 3));
  OK(sm_watch(sm_dict_proxy(d), 2, NULL, 0, &events, &next));
  ck_assert_uint_eq(sm_value_len(events), 1);
  ck_assert_uint_eq(next, 3);
  sm_value_free(events);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* The kind of event i of events, and its value as text (caller frees). */
static void expect_event(const sm_value *events, size_t i, const char *kind, const char *text) {
  const sm_value *ev = sm_value_list_at(events, i);
  ck_assert_ptr_nonnull(ev);
  ck_assert_str_eq(sm_value_as_str(sm_value_list_at(ev, 1), NULL), kind);
  char *s = sm_value_to_text(sm_value_list_at(ev, 3));
  ck_assert_str_eq(s, text);
  sm_free(s);
}

/* A list changes when its length does (a set of an item is no event), a
 * value with every set or add, a namespace attribute with set and del;
 * transactions' calls count as changes too. */
START_TEST(test_list_value_namespace) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_list *l;
  sm_var *v;
  sm_ns *ns;
  OK(sm_list_open(c, "w-l", &l));
  OK(sm_var_open(c, "w-v", NULL, &v));
  OK(sm_ns_open(c, "w-ns", &ns));
  sm_value *one = sm_value_int(1), *zero = sm_value_int(0), *x = sm_value_str("x");
  uint64_t rev;
  OK(sm_rev(sm_list_proxy(l), &rev));
  OK(sm_rev(sm_var_proxy(v), &rev));
  OK(sm_rev(sm_ns_proxy(ns), &rev));
  OK(sm_list_append(l, one));
  OK(sm_list_set(l, 0, x));
  OK(sm_list_append(l, one));
  sm_value *events = NULL;
  uint64_t next = 0;
  OK(sm_watch(sm_list_proxy(l), 0, NULL, 0, &events, &next));
  ck_assert_uint_eq(next, 3);
  ck_assert_uint_eq(sm_value_len(events), 2);
  expect_event(events, 0, "len", "1");
  expect_event(events, 1, "len", "2");
  sm_value_free(events);

  OK(sm_var_set(v, x));
  FAILS(sm_var_add_int(v, 1, NULL), SM_ETYPE); /* failed: no change */
  OK(sm_var_set(v, zero));
  OK(sm_var_add_int(v, 5, NULL));
  OK(sm_watch(sm_var_proxy(v), 0, NULL, 0, &events, &next));
  ck_assert_uint_eq(next, 3);
  ck_assert_uint_eq(sm_value_len(events), 3);
  expect_event(events, 0, "set", "x");
  expect_event(events, 2, "set", "5");
  sm_value_free(events);

  sm_value *attr = sm_value_str("host");
  OK(sm_ns_set(ns, "host", x));
  OK(sm_ns_set(ns, "port", one));
  OK(sm_ns_del(ns, "host"));
  OK(sm_watch(sm_ns_proxy(ns), 0, attr, 0, &events, &next));
  ck_assert_uint_eq(sm_value_len(events), 2);
  expect_event(events, 0, "set", "x");
  expect_event(events, 1, "del", "None");
  sm_value_free(events);

  sm_txn *t;
  OK(sm_txn_new(c, &t));
  OK(sm_txn_then(t, sm_ns_proxy(ns), "set", (const sm_value *const[]){attr, one}, 2));
  OK(sm_txn_commit(t, NULL));
  sm_txn_free(t);
  OK(sm_watch(sm_ns_proxy(ns), next, attr, 0, &events, &next));
  ck_assert_uint_eq(sm_value_len(events), 1);
  expect_event(events, 0, "set", "1");
  ck_assert_uint_eq(next, 4);
  sm_value_free(events);
  sm_value_free(attr);
  sm_value_free(one);
  sm_value_free(zero);
  sm_value_free(x);
  sm_ns_free(ns);
  sm_var_free(v);
  sm_list_free(l);
  sm_client_free(c);
}
END_TEST

/* Sets key k of d to 1..n. */
static void set_many(sm_dict *d, int from, int to) {
  for (int i = from; i <= to; i++)
    OK(sm_dict_set_int(d, "k", i));
}

/* The values of the events of a watch from rev, as one string "3,4,5". */
static void expect_values(sm_dict *d, uint64_t rev, const char *want, uint64_t want_next) {
  sm_value *events = NULL;
  uint64_t next = 0;
  OK(sm_watch(sm_dict_proxy(d), rev, NULL, 0, &events, &next));
  ck_assert_ptr_nonnull(events);
  char got[256] = "";
  for (size_t i = 0; i < sm_value_len(events); i++) {
    char one[32];
    snprintf(one, sizeof one, "%s%lld", i ? "," : "",
             (long long)sm_value_as_int(sm_value_list_at(sm_value_list_at(events, i), 3)));
    strncat(got, one, sizeof got - strlen(got) - 1);
  }
  ck_assert_str_eq(got, want);
  ck_assert_uint_eq(next, want_next);
  sm_value_free(events);
}

/* A watcher resumes from its revision across a crash of a durable daemon
 * (the history rebuilt by replaying the log) and across a clean stop
 * (loaded from the snapshot it wrote), and revisions go on from there. */
START_TEST(test_resume_across_restart) {
  smtest_durable x;
  smtest_durable_start(&x, NULL);
  sm_client *c = smtest_connect(&x.d, x.d.unix_url);
  sm_dict *d;
  OK(sm_dict_open(c, "cfg", &d));
  uint64_t rev = 1;
  OK(sm_rev(sm_dict_proxy(d), &rev)); /* logged: a replay keeps the changes too */
  ck_assert_uint_eq(rev, 0);
  set_many(d, 1, 5);
  expect_values(d, 3, "4,5", 5);
  sm_dict_free(d);
  sm_client_free(c);

  smtest_daemon_kill(&x.d, SIGKILL);
  smtest_daemon_restart_args(&x.d, x.args);
  c = smtest_connect(&x.d, x.d.unix_url);
  OK(sm_dict_open(c, "cfg", &d));
  expect_values(d, 3, "4,5", 5);
  set_many(d, 6, 7);
  expect_values(d, 5, "6,7", 7);
  sm_dict_free(d);
  sm_client_free(c);

  ck_assert_int_eq(smtest_daemon_kill(&x.d, SIGTERM), 0); /* writes a snapshot */
  smtest_daemon_restart_args(&x.d, x.args);
  c = smtest_connect(&x.d, x.d.unix_url);
  OK(sm_dict_open(c, "cfg", &d));
  expect_values(d, 3, "4,5,6,7", 7);
  set_many(d, 8, 8);
  expect_values(d, 7, "8", 8);
  sm_dict_free(d);
  sm_client_free(c);
  smtest_durable_stop(&x);
}
END_TEST

Suite *watch_suite(void) {
  Suite *s = suite_create("watch");
  TCase *tc = smtest_daemon_tcase(s, "watch", 60);
  tcase_add_test(tc, test_follows_every_change);
  tcase_add_test(tc, test_parks_for_its_key);
  tcase_add_test(tc, test_timeouts_and_errors);
  tcase_add_test(tc, test_expiry_is_a_change);
  tcase_add_test(tc, test_compacted);
  tcase_add_test(tc, test_kept_from_first_watch);
  tcase_add_test(tc, test_list_value_namespace);
  TCase *dur = tcase_create("durable");
  tcase_set_timeout(dur, 60);
  tcase_add_test(dur, test_resume_across_restart);
  suite_add_tcase(s, dur);
  return s;
}
