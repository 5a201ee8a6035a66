/* SPDX-License-Identifier: MIT */
/* check_ns.c - sm_ns (the daemon's "namespace" type) through libstatemgr
 * against a real statemgrd, over TCP and the UNIX socket: attributes set,
 * read, listed sorted and deleted, SM_ENOTFOUND for unset ones, the typed
 * helpers, and a named namespace seen from two clients and by token. */
#include "smtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void expect_attrs(sm_ns *n, const char *want) {
  sm_value *names = NULL;
  OK(sm_ns_list(n, &names));
  char *t = sm_value_to_text(names);
  ck_assert_str_eq(t, want);
  sm_free(t);
  sm_value_free(names);
}

/* Attributes of any kind are set and read back; list is sorted whatever
 * the order of setting; an unset attribute is SM_ENOTFOUND for get and
 * del; deleting removes it from the list. */
START_TEST(test_attributes) {
  sm_client *c = smtest_connect_i(_i);
  sm_ns *n;
  OK(sm_ns_open(c, NULL, &n));
  ck_assert_str_eq(sm_proxy_type(sm_ns_proxy(n)), "namespace");
  expect_attrs(n, "[]");
  sm_value *l = sm_value_list(), *out = NULL;
  sm_value_list_append(l, sm_value_bool(true));
  OK(sm_ns_set(n, "zeta", l));
  OK(sm_ns_set_int(n, "alpha", 1));
  OK(sm_ns_set_str(n, "mid", "m"));
  expect_attrs(n, "['alpha', 'mid', 'zeta']");
  OK(sm_ns_get(n, "zeta", &out));
  ck_assert(sm_value_equal(out, l));
  sm_value_free(out);
  out = l;
  FAILS(sm_ns_get(n, "nope", &out), SM_ENOTFOUND);
  ck_assert_ptr_eq(out, l);
  FAILS(sm_ns_del(n, "nope"), SM_ENOTFOUND);
  OK(sm_ns_del(n, "mid"));
  FAILS(sm_ns_get(n, "mid", &out), SM_ENOTFOUND);
  expect_attrs(n, "['alpha', 'zeta']");
  OK(sm_ns_set_int(n, "alpha", 2)); /* replaces */
  int64_t i = 0;
  OK(sm_ns_get_int(n, "alpha", &i));
  ck_assert_int_eq(i, 2);
  FAILS(sm_ns_set(n, NULL, l), SM_EINVAL);
  FAILS(sm_ns_set(n, "x", NULL), SM_EINVAL);
  sm_value_free(l);
  sm_ns_free(n);
  sm_client_free(c);
}
END_TEST

/* Typed getters convert or answer SM_ETYPE, leaving the output alone. */
START_TEST(test_typed_helpers) {
  sm_client *c = smtest_connect_i(_i);
  sm_ns *n;
  OK(sm_ns_open(c, NULL, &n));
  OK(sm_ns_set_int(n, "i", -9));
  OK(sm_ns_set_str(n, "s", "text"));
  int64_t i = 0;
  char *s = NULL;
  OK(sm_ns_get_int(n, "i", &i));
  ck_assert_int_eq(i, -9);
  OK(sm_ns_get_str(n, "s", &s));
  ck_assert_str_eq(s, "text");
  sm_free(s);
  s = NULL;
  FAILS(sm_ns_get_str(n, "i", &s), SM_ETYPE);
  ck_assert_ptr_null(s);
  FAILS(sm_ns_get_int(n, "s", &i), SM_ETYPE);
  ck_assert_int_eq(i, -9);
  FAILS(sm_ns_get_int(n, "missing", &i), SM_ENOTFOUND);
  sm_ns_free(n);
  sm_client_free(c);
}
END_TEST

/* A named namespace is shared: what one client sets, another reads, also
 * through a proxy opened from a token; the name cannot be reopened as a
 * value (SM_ETYPE). */
START_TEST(test_shared) {
  sm_client *a = smtest_connect_i(_i), *b = smtest_connect_i(1 - _i);
  sm_ns *na, *nb, *nt;
  OK(sm_ns_open(a, smtest_name_i("config", _i), &na));
  OK(sm_ns_open(b, smtest_name_i("config", _i), &nb));
  OK(sm_ns_set_str(na, "mode", "fast"));
  char *s = NULL;
  OK(sm_ns_get_str(nb, "mode", &s));
  ck_assert_str_eq(s, "fast");
  sm_free(s);
  char *tok = sm_proxy_token(sm_ns_proxy(nb));
  OK(sm_ns_from_token(a, tok, &nt));
  OK(sm_ns_set_int(nt, "workers", 4));
  int64_t w = 0;
  OK(sm_ns_get_int(nb, "workers", &w));
  ck_assert_int_eq(w, 4);
  sm_var *wrong = NULL;
  FAILS(sm_var_open(a, smtest_name_i("config", _i), NULL, &wrong), SM_ETYPE);
  sm_free(tok);
  sm_ns_free(na);
  sm_ns_free(nb);
  sm_ns_free(nt);
  sm_client_free(a);
  sm_client_free(b);
}
END_TEST

Suite *ns_suite(void) {
  Suite *s = suite_create("ns");
  TCase *tc = smtest_daemon_tcase(s, "methods", 60);
  tcase_add_loop_test(tc, test_attributes, 0, 2);
  tcase_add_loop_test(tc, test_typed_helpers, 0, 2);
  tcase_add_loop_test(tc, test_shared, 0, 2);
  return s;
}
