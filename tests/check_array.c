/* SPDX-License-Identifier: MIT */
/* check_array.c - sm_array through libstatemgr against a real statemgrd,
 * porting the semantics of CPython's _TestArray
 * (Lib/test/_test_multiprocessing.py: test_array, test_array_from_size,
 * test_rawarray, and a child process changing the array): element
 * get/set, slices, lengths and typecodes, the limits of each element type,
 * and atomic add from several processes and threads with exact totals. */
#include "smtest_sync.h"

#include <float.h>
#include <stdint.h>

/* Asserts the text form of v, then frees v. */
#define expect smtest_expect_value

static sm_value *int_list(const int64_t *xs, size_t n) {
  sm_value *l = sm_value_list();
  for (size_t i = 0; i < n; i++)
    ck_assert_int_eq(sm_value_list_append(l, sm_value_int(xs[i])), 0);
  return l;
}

/* _TestArray.test_array: an i32 array made from a list has its length
 * and elements (negative indexes from the end); a[:] equals the list;
 * set_slice writes in place; a forked child's changes are seen by the
 * parent (test_array's child "f" doubles each element); indexes out of
 * range are SM_EVALUE, and a slice clamps like Python's. */
START_TEST(test_from_list) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  int64_t seq[] = {681, -35, 2, 17, -7, 0, 5, 99};
  size_t n = sizeof seq / sizeof seq[0];
  sm_value *init = int_list(seq, n);
  sm_array *a;
  OK(sm_array_open_values(c, NULL, "i32", init, &a));
  ck_assert_str_eq(sm_proxy_type(sm_array_proxy(a)), "array");
  size_t len = 0;
  OK(sm_array_len(a, &len));
  ck_assert_uint_eq(len, n);
  for (size_t i = 0; i < n; i++) {
    int64_t v = 0;
    OK(sm_array_get_int(a, (int64_t)i, &v));
    ck_assert_int_eq(v, seq[i]);
  }
  int64_t last = 0;
  OK(sm_array_get_int(a, -1, &last));
  ck_assert_int_eq(last, 99);
  sm_value *all = NULL;
  OK(sm_array_slice(a, 0, INT64_MAX, &all));
  ck_assert(sm_value_equal(all, init));
  sm_value_free(all);
  OK(sm_array_slice(a, 2, 5, &all));
  expect(all, "[2, 17, -7]");
  OK(sm_array_slice(a, -2, 100, &all));
  expect(all, "[5, 99]");
  OK(sm_array_slice(a, 6, 2, &all));
  expect(all, "[]");

  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    for (size_t i = 0; i < n; i++) {
      int64_t v = 0;
      if (sm_array_get_int(a, (int64_t)i, &v) != SM_OK) _exit(1);
      if (sm_array_set_int(a, (int64_t)i, v * 2) != SM_OK) _exit(2);
    }
    _exit(0);
  }
  int st = -1;
  ck_assert_int_eq(waitpid(pid, &st, 0), pid);
  ck_assert_int_eq(st, 0);
  OK(sm_array_slice(a, 0, INT64_MAX, &all));
  expect(all, "[1362, -70, 4, 34, -14, 0, 10, 198]");

  int64_t patch[] = {1, 2, 3};
  sm_value *p = int_list(patch, 3);
  OK(sm_array_set_slice(a, 5, p));
  OK(sm_array_slice(a, 4, INT64_MAX, &all));
  expect(all, "[-14, 1, 2, 3]");
  FAILS(sm_array_set_slice(a, 6, p), SM_EVALUE); /* would run past the end */
  OK(sm_array_slice(a, 5, INT64_MAX, &all));
  expect(all, "[1, 2, 3]"); /* all or nothing */
  sm_value_free(p);

  int64_t v = 123;
  FAILS(sm_array_get_int(a, (int64_t)n, &v), SM_EVALUE);
  FAILS(sm_array_get_int(a, -(int64_t)n - 1, &v), SM_EVALUE);
  ck_assert_int_eq(v, 123);
  FAILS(sm_array_set_int(a, 100, 1), SM_EVALUE);
  char *code = NULL;
  OK(sm_array_typecode(a, &code));
  ck_assert_str_eq(code, "i32");
  sm_free(code);
  sm_value_free(init);
  sm_array_free(a);
  sm_client_free(c);
}
END_TEST

/* _TestArray.test_array_from_size: an f64 array of 10 starts as zeros;
 * doubles go in and come out exactly; an int converts for the double
 * getter, but the int getter refuses a real array (SM_ETYPE); add_int on
 * it adds exactly and reports the result truncated (saturated); a named
 * array reopened with another typecode and length is the same array. */
START_TEST(test_from_size) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_array *a, *same;
  OK(sm_array_open(c, "reals", "f64", 10, &a));
  OK(sm_array_open(c, "reals", "i8", 3, &same));
  size_t len = 0;
  OK(sm_array_len(same, &len));
  ck_assert_uint_eq(len, 10);
  char *code = NULL;
  OK(sm_array_typecode(same, &code));
  ck_assert_str_eq(code, "f64");
  sm_free(code);
  for (int64_t i = 0; i < 10; i++) {
    double d = -1;
    OK(sm_array_get_double(a, i, &d));
    ck_assert_double_eq(d, 0.0);
  }
  OK(sm_array_set_double(a, 3, 2.5));
  OK(sm_array_set_double(a, -1, -1e300));
  OK(sm_array_set_int(a, 0, 7));
  double d = 0;
  OK(sm_array_get_double(same, 3, &d));
  ck_assert_double_eq(d, 2.5);
  OK(sm_array_get_double(same, 9, &d));
  ck_assert_double_eq(d, -1e300);
  OK(sm_array_get_double(same, 0, &d));
  ck_assert_double_eq(d, 7.0);
  int64_t i = 0;
  FAILS(sm_array_get_int(a, 0, &i), SM_ETYPE);
  double r = 0;
  OK(sm_array_add_double(a, 3, 0.25, &r));
  ck_assert_double_eq(r, 2.75);
  OK(sm_array_add_int(a, 3, 1, &i)); /* applied exactly, reported truncated */
  ck_assert_int_eq(i, 3);
  OK(sm_array_add_int(a, 9, 1, &i));
  ck_assert_int_eq(i, INT64_MIN);
  sm_value *all = NULL;
  OK(sm_array_slice(a, 0, 4, &all));
  expect(all, "[7.0, 0.0, 0.0, 3.75]");
  sm_array_free(same);
  sm_array_free(a);
  sm_client_free(c);
}
END_TEST

/* The element types keep their limits (test_rawarray's typecodes): u8
 * takes 0..255 and refuses 256 and -1 (SM_EVALUE, element unchanged); i8
 * takes -128..127; an add that would leave the range is SM_EVALUE; i64
 * add overflow is SM_EVALUE; a double into an integer array is SM_ETYPE;
 * f32 stores a float's precision; an unknown typecode is SM_EVALUE; an
 * element that does not fit a list start is refused too. */
START_TEST(test_type_limits) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_array *u8, *i8, *i64, *f32, *bad = NULL;
  OK(sm_array_open(c, NULL, "u8", 2, &u8));
  OK(sm_array_set_int(u8, 0, 255));
  FAILS(sm_array_set_int(u8, 0, 256), SM_EVALUE);
  FAILS(sm_array_set_int(u8, 1, -1), SM_EVALUE);
  int64_t v = 0;
  OK(sm_array_get_int(u8, 0, &v));
  ck_assert_int_eq(v, 255);
  FAILS(sm_array_add_int(u8, 0, 1, &v), SM_EVALUE);
  FAILS(sm_array_set_double(u8, 1, 1.5), SM_ETYPE);

  OK(sm_array_open(c, NULL, "i8", 1, &i8));
  OK(sm_array_set_int(i8, 0, -128));
  FAILS(sm_array_add_int(i8, 0, -1, &v), SM_EVALUE);
  OK(sm_array_add_int(i8, 0, 255, &v));
  ck_assert_int_eq(v, 127);

  OK(sm_array_open(c, NULL, "i64", 1, &i64));
  OK(sm_array_set_int(i64, 0, INT64_MAX));
  FAILS(sm_array_add_int(i64, 0, 1, &v), SM_EVALUE);
  OK(sm_array_get_int(i64, 0, &v));
  ck_assert_int_eq(v, INT64_MAX);

  OK(sm_array_open(c, NULL, "f32", 1, &f32));
  OK(sm_array_set_double(f32, 0, 0.1));
  double d = 0;
  OK(sm_array_get_double(f32, 0, &d));
  ck_assert_double_eq(d, (double)0.1f);

  FAILS(sm_array_open(c, NULL, "x64", 4, &bad), SM_EVALUE);
  int64_t big[] = {1, 300};
  sm_value *l = int_list(big, 2);
  FAILS(sm_array_open_values(c, NULL, "u8", l, &bad), SM_EVALUE);
  ck_assert_ptr_null(bad);
  sm_value_free(l);
  sm_array_free(f32);
  sm_array_free(i64);
  sm_array_free(i8);
  sm_array_free(u8);
  sm_client_free(c);
}
END_TEST

#define ADDS 500
#define SLOTS 4

/* Adds 1 to every slot ADDS times, and checks each result moved up. */
static int adder(void *arg, int id) {
  (void)id;
  sm_array *a = arg;
  int64_t last[SLOTS] = {0};
  for (int k = 0; k < ADDS; k++) {
    for (int64_t s = 0; s < SLOTS; s++) {
      int64_t now = 0;
      WOK(sm_array_add_int(a, s, 1, &now));
      WCHECK(now > last[s]);
      last[s] = now;
    }
  }
  return 0;
}

/* Atomic add from 3 processes and 3 threads: 6 x 500 adds to each of 4
 * elements leave each at exactly 3000, and every caller saw its results
 * strictly increase. The array, opened from a token in each process,
 * is the same one. */
START_TEST(test_add_contended) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_array *a;
  OK(sm_array_open(c, NULL, "i64", SLOTS, &a));
  char *tok = sm_proxy_token(sm_array_proxy(a));
  sm_array *b;
  OK(sm_array_from_token(c, tok, &b));
  ck_assert_uint_eq(sm_proxy_id(sm_array_proxy(b)), sm_proxy_id(sm_array_proxy(a)));
  sm_free(tok);
  smtest_run_workers(3, 3, adder, b);
  sm_value *all = NULL;
  OK(sm_array_slice(a, 0, INT64_MAX, &all));
  expect(all, "[3000, 3000, 3000, 3000]");
  sm_dict *d;
  OK(sm_dict_open(c, NULL, &d));
  sm_value *ref = sm_proxy_ref(sm_dict_proxy(d));
  sm_array *wrong = NULL;
  FAILS(sm_array_from_ref(c, ref, &wrong), SM_ETYPE);
  ck_assert_ptr_null(wrong);
  sm_value_free(ref);
  sm_dict_free(d);
  sm_array_free(b);
  sm_array_free(a);
  sm_client_free(c);
}
END_TEST

/* A slice whose answer cannot fit in one frame (what a client reads) is
 * refused with SM_ETOOLARGE at once, not built: a 1 GiB u8 array sliced
 * whole would otherwise cost the daemon gigabytes and minutes (found by
 * tests/fuzz/fuzz_dispatch.c). A large slice that fits still works. */
START_TEST(test_huge_slice) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_array *a;
  OK(sm_array_open(c, NULL, "u8", (size_t)1 << 30, &a));
  sm_value *all = NULL;
  FAILS(sm_array_slice(a, 0, INT64_MAX, &all), SM_ETOOLARGE);
  ck_assert_ptr_null(all);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "in parts"));
  OK(sm_array_slice(a, -(1 << 20), INT64_MAX, &all));
  ck_assert_uint_eq(sm_value_len(all), (size_t)1 << 20);
  sm_value_free(all);
  sm_array_free(a);
  OK(sm_ping(c));
  sm_client_free(c);
}
END_TEST

Suite *array_suite(void) {
  Suite *s = suite_create("array");
  TCase *tc = smtest_daemon_tcase(s, "array", 60);
  tcase_add_test(tc, test_from_list);
  tcase_add_test(tc, test_from_size);
  tcase_add_test(tc, test_type_limits);
  tcase_add_test(tc, test_add_contended);
  tcase_add_test(tc, test_huge_slice);
  return s;
}
