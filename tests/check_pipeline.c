/* SPDX-License-Identifier: MIT */
/* check_pipeline.c - generic calls (sm_proxy_open, sm_call) and pipelines
 * (sm_pipeline_*) against a real statemgrd, over TCP and the UNIX socket
 * (every test runs once on each): results come back in queueing order, each
 * call keeps its own status (a failing call in the middle spoils nothing
 * around it), a pipeline is reusable after a reset, 1,000 calls go in one
 * exec, a pipeline much larger than the socket buffers does not deadlock
 * against the daemon's output back-pressure, a parked blocking call lets
 * the later calls of the same pipeline run, and misuse is refused with
 * SM_EINVAL. */
#include "smtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARGS(...) ((const sm_value *const[]){__VA_ARGS__})

/* sm_proxy_open reaches any type by name; sm_call invokes methods by name
 * with sm_value arguments, reports the daemon's status, and accepts a NULL
 * out. */
START_TEST(test_generic_call) {
  sm_client *c = smtest_connect_i(_i);
  sm_proxy *p = NULL, *again = NULL;
  OK(sm_proxy_open(c, "dict", smtest_name_i("generic", _i), NULL, &p));
  ck_assert_str_eq(sm_proxy_type(p), "dict");
  sm_value *k = sm_value_str("k"), *v = sm_value_int(42), *out = NULL;
  OK(sm_call(p, "set", ARGS(k, v), 2, NULL));
  OK(sm_call(p, "get", ARGS(k), 1, &out));
  ck_assert(sm_value_equal(out, v));
  sm_value_free(out);
  out = NULL;
  OK(sm_call(p, "len", NULL, 0, &out));
  ck_assert_int_eq(sm_value_as_int(out), 1);
  sm_value_free(out);
  out = NULL;
  FAILS(sm_call(p, "no_such_method", NULL, 0, &out), SM_ETYPE);
  ck_assert_ptr_null(out);
  ck_assert_str_ne(sm_last_error(), "");
  sm_value *missing = sm_value_str("missing");
  FAILS(sm_call(p, "get", ARGS(missing), 1, &out), SM_ENOTFOUND);
  ck_assert_ptr_null(out);
  /* The same name with another type is refused; the same type finds it. */
  FAILS(sm_proxy_open(c, "list", smtest_name_i("generic", _i), NULL, &again), SM_ETYPE);
  OK(sm_proxy_open(c, "dict", smtest_name_i("generic", _i), NULL, &again));
  ck_assert_uint_eq(sm_proxy_id(again), sm_proxy_id(p));
  /* A typed proxy's view takes generic calls too. */
  sm_var *var = NULL;
  OK(sm_var_open(c, NULL, NULL, &var));
  sm_value *one = sm_value_int(1);
  OK(sm_call_timed(sm_var_proxy(var), "add", ARGS(one), 1, SM_FOREVER, &out));
  ck_assert_int_eq(sm_value_as_int(out), 1);
  sm_value_free(out);
  /* Misuse. */
  FAILS(sm_call(NULL, "get", NULL, 0, NULL), SM_EINVAL);
  FAILS(sm_call(p, NULL, NULL, 0, NULL), SM_EINVAL);
  FAILS(sm_call(p, "get", NULL, 1, NULL), SM_EINVAL);
  FAILS(sm_call(p, "get", ARGS(k, k, k, k, k, k, k, k, k), 9, NULL), SM_EINVAL);
  FAILS(sm_proxy_open(c, "", "x", NULL, &again), SM_EINVAL);
  sm_value_free(one);
  sm_value_free(missing);
  sm_value_free(k);
  sm_value_free(v);
  sm_var_free(var);
  sm_proxy_free(again);
  sm_proxy_free(p);
  sm_client_free(c);
}
END_TEST

/* Results come back in the order the calls were queued: 100 sets then 100
 * gets of distinct keys, and 50 atomic adds numbered 1..50. */
START_TEST(test_results_in_order) {
  sm_client *c = smtest_connect_i(_i);
  sm_dict *d = NULL;
  sm_var *n = NULL;
  OK(sm_dict_open(c, NULL, &d));
  OK(sm_var_open(c, NULL, NULL, &n));
  sm_pipeline *pl = NULL;
  OK(sm_pipeline_new(c, &pl));
  for (int i = 0; i < 100; i++) {
    sm_value *k = sm_value_int(i), *v = sm_value_int(i * 7);
    OK(sm_pipeline_call(pl, sm_dict_proxy(d), "set", ARGS(k, v), 2));
    sm_value_free(k); /* encoded at queueing: freeing now is fine */
    sm_value_free(v);
  }
  for (int i = 0; i < 100; i++) {
    sm_value *k = sm_value_int(i);
    OK(sm_pipeline_call(pl, sm_dict_proxy(d), "get", ARGS(k), 1));
    sm_value_free(k);
  }
  sm_value *one = sm_value_int(1);
  for (int i = 0; i < 50; i++)
    OK(sm_pipeline_call(pl, sm_var_proxy(n), "add", ARGS(one), 1));
  sm_value_free(one);
  ck_assert_uint_eq(sm_pipeline_count(pl), 250);
  OK(sm_pipeline_exec(pl));
  for (size_t i = 0; i < 250; i++) {
    ck_assert_int_eq(sm_pipeline_status(pl, i), SM_OK);
    ck_assert_str_eq(sm_pipeline_error(pl, i), "");
    sm_value *r = NULL;
    OK(sm_pipeline_result(pl, i, &r));
    if (i < 100)
      ck_assert_int_eq(sm_value_type(r), SM_NIL);
    else if (i < 200)
      ck_assert_int_eq(sm_value_as_int(r), (int64_t)(i - 100) * 7);
    else
      ck_assert_int_eq(sm_value_as_int(r), (int64_t)(i - 199));
    sm_value_free(r);
  }
  /* A result may be decoded again. */
  sm_value *r = NULL;
  OK(sm_pipeline_result(pl, 150, &r));
  ck_assert_int_eq(sm_value_as_int(r), 350);
  sm_value_free(r);
  size_t len = 0;
  OK(sm_dict_len(d, &len));
  ck_assert_uint_eq(len, 100);
  sm_pipeline_free(pl);
  sm_dict_free(d);
  sm_var_free(n);
  sm_client_free(c);
}
END_TEST

/* A failing call in the middle keeps its own status and text; the calls
 * before and after it succeed and the exec as a whole returns 0. */
START_TEST(test_failure_in_the_middle) {
  sm_client *c = smtest_connect_i(_i);
  sm_dict *d = NULL;
  OK(sm_dict_open(c, NULL, &d));
  sm_pipeline *pl = NULL;
  OK(sm_pipeline_new(c, &pl));
  sm_value *a = sm_value_str("a"), *b = sm_value_str("b"), *v = sm_value_str("value");
  OK(sm_pipeline_call(pl, sm_dict_proxy(d), "set", ARGS(a, v), 2));
  OK(sm_pipeline_call(pl, sm_dict_proxy(d), "get", ARGS(b), 1));     /* NOT_FOUND */
  OK(sm_pipeline_call(pl, sm_dict_proxy(d), "frobnicate", NULL, 0)); /* no such method */
  OK(sm_pipeline_call(pl, NULL, "ping", NULL, 0));                   /* the manager */
  OK(sm_pipeline_call(pl, sm_dict_proxy(d), "get", ARGS(a), 1));
  OK(sm_pipeline_exec(pl));
  ck_assert_int_eq(sm_pipeline_status(pl, 0), SM_OK);
  ck_assert_int_eq(sm_pipeline_status(pl, 1), SM_ENOTFOUND);
  ck_assert_int_eq(sm_pipeline_status(pl, 2), SM_ETYPE);
  ck_assert_int_eq(sm_pipeline_status(pl, 3), SM_OK);
  ck_assert_int_eq(sm_pipeline_status(pl, 4), SM_OK);
  ck_assert_str_ne(sm_pipeline_error(pl, 2), "");
  sm_value *r = NULL;
  FAILS(sm_pipeline_result(pl, 1, &r), SM_ENOTFOUND);
  ck_assert_ptr_null(r);
  ck_assert_str_ne(sm_last_error(), "");
  FAILS(sm_pipeline_result(pl, 2, &r), SM_ETYPE);
  ck_assert_msg(strstr(sm_last_error(), "frobnicate") != NULL, "text: %s", sm_last_error());
  OK(sm_pipeline_result(pl, 4, &r));
  ck_assert(sm_value_equal(r, v));
  sm_value_free(r);
  FAILS(sm_pipeline_result(pl, 5, &r), SM_EINVAL);
  ck_assert_int_eq(sm_pipeline_status(pl, 5), SM_EINVAL);
  sm_value_free(a);
  sm_value_free(b);
  sm_value_free(v);
  sm_pipeline_free(pl);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* After sm_pipeline_reset the same pipeline takes new calls; before exec
 * there are no statuses; an executed pipeline refuses calls and a second
 * exec until it is reset; an empty pipeline executes as a no-op. */
START_TEST(test_reset_and_reuse) {
  sm_client *c = smtest_connect_i(_i);
  sm_list *l = NULL;
  OK(sm_list_open(c, NULL, &l));
  sm_pipeline *pl = NULL;
  OK(sm_pipeline_new(c, &pl));
  OK(sm_pipeline_exec(pl)); /* empty */
  ck_assert_uint_eq(sm_pipeline_count(pl), 0);
  sm_pipeline_reset(pl);
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < 10; i++) {
      sm_value *x = sm_value_int(round * 10 + i);
      OK(sm_pipeline_call(pl, sm_list_proxy(l), "append", ARGS(x), 1));
      sm_value_free(x);
    }
    OK(sm_pipeline_call(pl, sm_list_proxy(l), "len", NULL, 0));
    ck_assert_int_eq(sm_pipeline_status(pl, 0), SM_EINVAL); /* not run yet */
    OK(sm_pipeline_exec(pl));
    FAILS(sm_pipeline_exec(pl), SM_EINVAL);
    sm_value *x = sm_value_int(0);
    FAILS(sm_pipeline_call(pl, sm_list_proxy(l), "append", ARGS(x), 1), SM_EINVAL);
    sm_value_free(x);
    ck_assert_uint_eq(sm_pipeline_count(pl), 11);
    sm_value *r = NULL;
    OK(sm_pipeline_result(pl, 10, &r));
    ck_assert_int_eq(sm_value_as_int(r), (round + 1) * 10);
    sm_value_free(r);
    sm_pipeline_reset(pl);
    ck_assert_uint_eq(sm_pipeline_count(pl), 0);
  }
  int64_t last = 0;
  OK(sm_list_get_int(l, -1, &last));
  ck_assert_int_eq(last, 29);
  sm_pipeline_free(pl);
  sm_pipeline_free(NULL);
  sm_pipeline_reset(NULL);
  ck_assert_uint_eq(sm_pipeline_count(NULL), 0);
  sm_list_free(l);
  sm_client_free(c);
}
END_TEST

/* 1,000 calls in one exec: appends of 0..999, then a second pipeline of
 * 1,000 indexed gets that must return each number at its index. */
START_TEST(test_thousand_calls) {
  sm_client *c = smtest_connect_i(_i);
  sm_list *l = NULL;
  OK(sm_list_open(c, NULL, &l));
  sm_pipeline *pl = NULL;
  OK(sm_pipeline_new(c, &pl));
  for (int i = 0; i < 1000; i++) {
    sm_value *x = sm_value_int(i);
    OK(sm_pipeline_call(pl, sm_list_proxy(l), "append", ARGS(x), 1));
    sm_value_free(x);
  }
  OK(sm_pipeline_exec(pl));
  for (size_t i = 0; i < 1000; i++)
    ck_assert_int_eq(sm_pipeline_status(pl, i), SM_OK);
  sm_pipeline_reset(pl);
  for (int i = 999; i >= 0; i--) {
    sm_value *x = sm_value_int(i);
    OK(sm_pipeline_call(pl, sm_list_proxy(l), "get", ARGS(x), 1));
    sm_value_free(x);
  }
  OK(sm_pipeline_exec(pl));
  for (size_t i = 0; i < 1000; i++) {
    sm_value *r = NULL;
    OK(sm_pipeline_result(pl, i, &r));
    ck_assert_int_eq(sm_value_as_int(r), 999 - (int64_t)i);
    sm_value_free(r);
  }
  sm_pipeline_free(pl);
  sm_list_free(l);
  sm_client_free(c);
}
END_TEST

/* 1,000 setdefault calls with 32 KiB values: 32 MiB of requests and as
 * much in answers, more than the socket buffers and the daemon's output
 * limit. A client that wrote everything before reading would stall
 * forever; sm_pipeline_exec reads while it writes. */
START_TEST(test_large_pipeline_no_deadlock) {
  sm_client *c = smtest_connect_i(_i);
  sm_dict *d = NULL;
  OK(sm_dict_open(c, NULL, &d));
  size_t size = 32 * 1024;
  char *big = malloc(size);
  ck_assert_ptr_nonnull(big);
  sm_pipeline *pl = NULL;
  OK(sm_pipeline_new(c, &pl));
  for (int i = 0; i < 1000; i++) {
    memset(big, 'a' + i % 26, size);
    sm_value *k = sm_value_int(i), *v = sm_value_bytes(big, size);
    OK(sm_pipeline_call(pl, sm_dict_proxy(d), "setdefault", ARGS(k, v), 2));
    sm_value_free(k);
    sm_value_free(v);
  }
  OK(sm_pipeline_exec(pl));
  for (size_t i = 0; i < 1000; i++) {
    sm_value *r = NULL;
    OK(sm_pipeline_result(pl, i, &r));
    size_t n = 0;
    const unsigned char *p = sm_value_as_bytes(r, &n);
    ck_assert_uint_eq(n, size);
    ck_assert_int_eq(p[0], 'a' + (int)(i % 26));
    ck_assert_int_eq(p[size - 1], 'a' + (int)(i % 26));
    sm_value_free(r);
  }
  free(big);
  sm_pipeline_free(pl);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* Blocking calls in a pipeline: a get with timeout 0 on an empty queue
 * answers EMPTY at once; a get that parks does not stop the put queued
 * after it, which then wakes it with that item. */
START_TEST(test_blocking_calls) {
  sm_client *c = smtest_connect_i(_i);
  sm_queue *q = NULL;
  OK(sm_queue_open(c, NULL, 0, &q));
  sm_pipeline *pl = NULL;
  OK(sm_pipeline_new(c, &pl));
  sm_value *item = sm_value_str("wake up");
  OK(sm_pipeline_call_timed(pl, sm_queue_proxy(q), "get", NULL, 0, 0));
  OK(sm_pipeline_call_timed(pl, sm_queue_proxy(q), "get", NULL, 0, 10000));
  OK(sm_pipeline_call(pl, sm_queue_proxy(q), "put", ARGS(item), 1));
  OK(sm_pipeline_exec(pl));
  ck_assert_int_eq(sm_pipeline_status(pl, 0), SM_EEMPTY);
  ck_assert_int_eq(sm_pipeline_status(pl, 2), SM_OK);
  sm_value *r = NULL;
  OK(sm_pipeline_result(pl, 1, &r));
  ck_assert(sm_value_equal(r, item));
  sm_value_free(r);
  sm_value_free(item);
  sm_pipeline_free(pl);
  sm_queue_free(q);
  sm_client_free(c);
}
END_TEST

/* Misuse is refused with SM_EINVAL and queues nothing: reference-taking
 * manager methods, another client's proxy, too many arguments, NULLs. */
START_TEST(test_misuse) {
  sm_client *c = smtest_connect_i(_i), *other = smtest_connect_i(_i);
  sm_dict *d = NULL;
  OK(sm_dict_open(other, NULL, &d));
  sm_pipeline *pl = NULL;
  FAILS(sm_pipeline_new(NULL, &pl), SM_EINVAL);
  FAILS(sm_pipeline_new(c, NULL), SM_EINVAL);
  OK(sm_pipeline_new(c, &pl));
  sm_value *t = sm_value_str("dict");
  FAILS(sm_pipeline_call(pl, NULL, "create", ARGS(t), 1), SM_EINVAL);
  FAILS(sm_pipeline_call(pl, NULL, "release", ARGS(t), 1), SM_EINVAL);
  FAILS(sm_pipeline_call(pl, sm_dict_proxy(d), "len", NULL, 0), SM_EINVAL);
  FAILS(sm_pipeline_call(pl, NULL, NULL, NULL, 0), SM_EINVAL);
  FAILS(sm_pipeline_call(pl, NULL, "ping", NULL, 2), SM_EINVAL);
  FAILS(sm_pipeline_call(pl, NULL, "ping", ARGS(t, t, t, t, t, t, t, t, t), 9), SM_EINVAL);
  FAILS(sm_pipeline_call(NULL, NULL, "ping", NULL, 0), SM_EINVAL);
  FAILS(sm_pipeline_exec(NULL), SM_EINVAL);
  ck_assert_uint_eq(sm_pipeline_count(pl), 0);
  OK(sm_pipeline_exec(pl));
  sm_value_free(t);
  sm_pipeline_free(pl);
  sm_dict_free(d);
  sm_client_free(other);
  sm_client_free(c);
}
END_TEST

Suite *pipeline_suite(void) {
  Suite *s = suite_create("pipeline");
  TCase *tc = smtest_daemon_tcase(s, "calls", 120);
  tcase_add_loop_test(tc, test_generic_call, 0, 2);
  tcase_add_loop_test(tc, test_results_in_order, 0, 2);
  tcase_add_loop_test(tc, test_failure_in_the_middle, 0, 2);
  tcase_add_loop_test(tc, test_reset_and_reuse, 0, 2);
  tcase_add_loop_test(tc, test_thousand_calls, 0, 2);
  tcase_add_loop_test(tc, test_large_pipeline_no_deadlock, 0, 2);
  tcase_add_loop_test(tc, test_blocking_calls, 0, 2);
  tcase_add_loop_test(tc, test_misuse, 0, 2);
  return s;
}
