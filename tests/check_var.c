/* SPDX-License-Identifier: MIT */
/* check_var.c - sm_var (the daemon's "value" type) through libstatemgr
 * against a real statemgrd, over TCP and the UNIX socket: get/set of every
 * kind, the initial value applying only at creation, atomic add on ints
 * and doubles with its type and overflow errors, the typed helpers, and a
 * named value shared by two clients. */
#include "smtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A value starts as its initial value (nil without one); an existing named
 * value ignores a later initial; set/get carry any kind, a map included. */
START_TEST(test_get_set) {
  sm_client *c = smtest_connect_i(_i);
  sm_value *init = sm_value_str("start"), *out = NULL;
  sm_var *v, *again, *anon;
  OK(sm_var_open(c, smtest_name_i("greeting", _i), init, &v));
  ck_assert_str_eq(sm_proxy_type(sm_var_proxy(v)), "value");
  OK(sm_var_get(v, &out));
  ck_assert(sm_value_equal(out, init));
  sm_value_free(out);
  sm_value *other = sm_value_int(5);
  OK(sm_var_open(c, smtest_name_i("greeting", _i), other, &again)); /* exists: initial ignored */
  OK(sm_var_get(again, &out));
  ck_assert(sm_value_equal(out, init));
  sm_value_free(out);

  OK(sm_var_open(c, NULL, NULL, &anon));
  OK(sm_var_get(anon, &out));
  ck_assert_int_eq(sm_value_type(out), SM_NIL);
  sm_value_free(out);
  sm_value *m = sm_value_map();
  sm_value_map_set(m, sm_value_str("k"), sm_value_list());
  OK(sm_var_set(anon, m));
  OK(sm_var_get(anon, &out));
  ck_assert(sm_value_equal(out, m));
  sm_value_free(out);
  FAILS(sm_var_set(anon, NULL), SM_EINVAL);
  sm_value_free(m);
  sm_value_free(init);
  sm_value_free(other);
  sm_var_free(v);
  sm_var_free(again);
  sm_var_free(anon);
  sm_client_free(c);
}
END_TEST

/* add_int adds and returns the new value (nil counts as 0); an int plus a
 * double becomes a double; adding to a string is SM_ETYPE and int64
 * overflow is SM_EVALUE, both leaving the value unchanged. */
START_TEST(test_add) {
  sm_client *c = smtest_connect_i(_i);
  sm_var *v;
  OK(sm_var_open(c, NULL, NULL, &v));
  int64_t r = 0;
  OK(sm_var_add_int(v, 5, &r));
  ck_assert_int_eq(r, 5);
  OK(sm_var_add_int(v, -7, &r));
  ck_assert_int_eq(r, -2);
  OK(sm_var_add_int(v, 2, NULL));
  OK(sm_var_get_int(v, &r));
  ck_assert_int_eq(r, 0);
  double d = 0;
  OK(sm_var_add_double(v, 0.5, &d));
  ck_assert(d == 0.5);
  OK(sm_var_add_double(v, 1.25, &d));
  ck_assert(d == 1.75);
  OK(sm_var_get_double(v, &d));
  ck_assert(d == 1.75);

  OK(sm_var_set_int(v, INT64_MAX - 1));
  OK(sm_var_add_int(v, 1, &r));
  ck_assert_int_eq(r, INT64_MAX);
  FAILS(sm_var_add_int(v, 1, &r), SM_EVALUE);
  OK(sm_var_get_int(v, &r));
  ck_assert_int_eq(r, INT64_MAX);
  OK(sm_var_set_str(v, "text"));
  FAILS(sm_var_add_int(v, 1, &r), SM_ETYPE);
  FAILS(sm_var_add_double(v, 1.0, &d), SM_ETYPE);
  char *s = NULL;
  OK(sm_var_get_str(v, &s));
  ck_assert_str_eq(s, "text");
  sm_free(s);
  sm_var_free(v);
  sm_client_free(c);
}
END_TEST

/* Typed getters convert or answer SM_ETYPE; get_double also takes an
 * int. */
START_TEST(test_typed_helpers) {
  sm_client *c = smtest_connect_i(_i);
  sm_var *v;
  OK(sm_var_open(c, NULL, NULL, &v));
  int64_t i = 3;
  double d = 0;
  char *s = NULL;
  FAILS(sm_var_get_int(v, &i), SM_ETYPE); /* nil */
  ck_assert_int_eq(i, 3);
  OK(sm_var_set_double(v, -2.5));
  OK(sm_var_get_double(v, &d));
  ck_assert(d == -2.5);
  FAILS(sm_var_get_int(v, &i), SM_ETYPE);
  FAILS(sm_var_get_str(v, &s), SM_ETYPE);
  OK(sm_var_set_int(v, 12));
  OK(sm_var_get_double(v, &d));
  ck_assert(d == 12.0);
  OK(sm_var_set_str(v, "s"));
  FAILS(sm_var_get_double(v, &d), SM_ETYPE);
  FAILS(sm_var_get_int(NULL, &i), SM_EINVAL);
  FAILS(sm_var_get_int(v, NULL), SM_EINVAL);
  sm_var_free(v);
  sm_client_free(c);
}
END_TEST

/* A named value is one object for every client: increments from two
 * clients add up, and a token from one opens it in the other. */
START_TEST(test_shared) {
  sm_client *a = smtest_connect_i(_i), *b = smtest_connect_i(1 - _i);
  sm_var *va, *vb, *vt;
  sm_value *zero = sm_value_int(0);
  OK(sm_var_open(a, smtest_name_i("counter", _i), zero, &va));
  OK(sm_var_open(b, smtest_name_i("counter", _i), NULL, &vb));
  for (int k = 0; k < 50; k++) {
    OK(sm_var_add_int(va, 1, NULL));
    OK(sm_var_add_int(vb, 2, NULL));
  }
  int64_t r = 0;
  OK(sm_var_get_int(va, &r));
  ck_assert_int_eq(r, 150);
  char *tok = sm_proxy_token(sm_var_proxy(va));
  OK(sm_var_from_token(b, tok, &vt));
  OK(sm_var_get_int(vt, &r));
  ck_assert_int_eq(r, 150);
  sm_list *wrong = NULL;
  FAILS(sm_list_from_token(b, tok, &wrong), SM_ETYPE);
  sm_free(tok);
  sm_value_free(zero);
  sm_var_free(va);
  sm_var_free(vb);
  sm_var_free(vt);
  sm_client_free(a);
  sm_client_free(b);
}
END_TEST

Suite *var_suite(void) {
  Suite *s = suite_create("var");
  TCase *tc = smtest_daemon_tcase(s, "methods", 60);
  tcase_add_loop_test(tc, test_get_set, 0, 2);
  tcase_add_loop_test(tc, test_add, 0, 2);
  tcase_add_loop_test(tc, test_typed_helpers, 0, 2);
  tcase_add_loop_test(tc, test_shared, 0, 2);
  return s;
}
