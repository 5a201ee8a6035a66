/* SPDX-License-Identifier: MIT */
/* check_list.c - sm_list through libstatemgr against a real statemgrd,
 * over TCP and the UNIX socket: every list method with Python's index
 * rules and its error codes, the typed helpers, a list shared from two
 * clients, an anonymous list kept alive by a ref stored in a dict and
 * opened from that ref by another client, and a token handed to a forked
 * child. */
#include "smtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The whole list as text. */
static void expect_list(sm_list *l, const char *want) {
  sm_value *all = NULL;
  OK(sm_list_slice(l, 0, INT64_MAX, &all));
  char *t = sm_value_to_text(all);
  ck_assert_str_eq(t, want);
  sm_free(t);
  sm_value_free(all);
}

/* Asserts the text form of v, then frees v. */
#define expect smtest_expect_value

/* append/extend/insert build the list as Python would (insert clamps and
 * counts negative indexes from the end); get/set/del take negative indexes
 * and answer SM_EVALUE out of range. */
START_TEST(test_build_and_index) {
  sm_client *c = smtest_connect_i(_i);
  sm_list *l;
  OK(sm_list_open(c, smtest_name_i("build", _i), &l));
  ck_assert_str_eq(sm_proxy_type(sm_list_proxy(l)), "list");
  OK(sm_list_append_int(l, 1));
  OK(sm_list_append_str(l, "two"));
  sm_value *more = sm_value_list();
  sm_value_list_append(more, sm_value_double(3.5));
  sm_value_list_append(more, sm_value_nil());
  OK(sm_list_extend(l, more));
  expect_list(l, "[1, 'two', 3.5, None]");
  sm_value *x = sm_value_str("x");
  OK(sm_list_insert(l, 0, x));
  OK(sm_list_insert(l, -1, x));
  OK(sm_list_insert(l, 100, x));
  OK(sm_list_insert(l, -100, x));
  expect_list(l, "['x', 'x', 1, 'two', 3.5, 'x', None, 'x']");

  sm_value *out = NULL;
  OK(sm_list_get(l, -2, &out));
  expect(out, "None");
  OK(sm_list_get(l, 3, &out));
  expect(out, "two");
  out = more;
  FAILS(sm_list_get(l, 8, &out), SM_EVALUE);
  FAILS(sm_list_get(l, -9, &out), SM_EVALUE);
  ck_assert_ptr_eq(out, more);
  OK(sm_list_set(l, -1, more)); /* a list inside the list */
  FAILS(sm_list_set(l, 8, x), SM_EVALUE);
  OK(sm_list_del(l, 0));
  OK(sm_list_del(l, -3));
  FAILS(sm_list_del(l, 6), SM_EVALUE);
  expect_list(l, "['x', 1, 'two', 3.5, None, [3.5, None]]");
  size_t n = 0;
  OK(sm_list_len(l, &n));
  ck_assert_uint_eq(n, 6);
  FAILS(sm_list_extend(l, x), SM_ETYPE); /* extend wants a list */
  sm_value_free(more);
  sm_value_free(x);
  sm_list_free(l);
  sm_client_free(c);
}
END_TEST

/* pop (last or at an index), remove/index/count by equality, slice with
 * clamping and negative bounds, reverse, sort (stable, both directions;
 * SM_ETYPE and no change for incomparable kinds), clear; and the errors
 * for empty or absent. */
START_TEST(test_search_and_reorder) {
  sm_client *c = smtest_connect_i(_i);
  sm_list *l;
  OK(sm_list_open(c, NULL, &l));
  int64_t init[] = {5, 3, 9, 3, 1};
  for (size_t i = 0; i < 5; i++)
    OK(sm_list_append_int(l, init[i]));
  sm_value *three = sm_value_int(3), *seven = sm_value_int(7), *out = NULL;
  int64_t idx = -1;
  size_t cnt = 0;
  OK(sm_list_index(l, three, &idx));
  ck_assert_int_eq(idx, 1);
  OK(sm_list_count(l, three, &cnt));
  ck_assert_uint_eq(cnt, 2);
  OK(sm_list_count(l, seven, &cnt));
  ck_assert_uint_eq(cnt, 0);
  FAILS(sm_list_index(l, seven, &idx), SM_EVALUE);
  FAILS(sm_list_remove(l, seven), SM_EVALUE);
  OK(sm_list_remove(l, three)); /* the first one */
  expect_list(l, "[5, 9, 3, 1]");

  OK(sm_list_slice(l, 1, 3, &out));
  expect(out, "[9, 3]");
  OK(sm_list_slice(l, -2, INT64_MAX, &out));
  expect(out, "[3, 1]");
  OK(sm_list_slice(l, -100, 100, &out));
  expect(out, "[5, 9, 3, 1]");
  OK(sm_list_slice(l, 3, 1, &out));
  expect(out, "[]");

  OK(sm_list_sort(l, false));
  expect_list(l, "[1, 3, 5, 9]");
  OK(sm_list_sort(l, true));
  expect_list(l, "[9, 5, 3, 1]");
  OK(sm_list_reverse(l));
  expect_list(l, "[1, 3, 5, 9]");
  OK(sm_list_append_str(l, "str"));
  FAILS(sm_list_sort(l, false), SM_ETYPE);
  expect_list(l, "[1, 3, 5, 9, 'str']");

  OK(sm_list_pop(l, -1, &out));
  expect(out, "str");
  OK(sm_list_pop(l, 0, &out));
  expect(out, "1");
  FAILS(sm_list_pop(l, 5, &out), SM_EVALUE);
  OK(sm_list_clear(l));
  size_t n = 1;
  OK(sm_list_len(l, &n));
  ck_assert_uint_eq(n, 0);
  FAILS(sm_list_pop(l, -1, &out), SM_EVALUE);
  sm_value_free(three);
  sm_value_free(seven);
  sm_list_free(l);
  sm_client_free(c);
}
END_TEST

/* The typed getters convert, or answer SM_ETYPE for another kind. */
START_TEST(test_typed_helpers) {
  sm_client *c = smtest_connect_i(_i);
  sm_list *l;
  OK(sm_list_open(c, NULL, &l));
  OK(sm_list_append_int(l, -42));
  OK(sm_list_append_str(l, "word"));
  int64_t i = 0;
  char *s = NULL;
  OK(sm_list_get_int(l, 0, &i));
  ck_assert_int_eq(i, -42);
  OK(sm_list_get_str(l, -1, &s));
  ck_assert_str_eq(s, "word");
  sm_free(s);
  FAILS(sm_list_get_int(l, 1, &i), SM_ETYPE);
  FAILS(sm_list_get_str(l, 0, &s), SM_ETYPE);
  FAILS(sm_list_get_int(l, 2, &i), SM_EVALUE);
  ck_assert_int_eq(i, -42);
  FAILS(sm_list_append(l, NULL), SM_EINVAL);
  FAILS(sm_list_len(NULL, NULL), SM_EINVAL);
  sm_list_free(l);
  sm_client_free(c);
}
END_TEST

/* Two clients appending to the same named list see one list. */
START_TEST(test_named_two_clients) {
  sm_client *a = smtest_connect_i(_i), *b = smtest_connect_i(1 - _i);
  sm_list *la, *lb;
  OK(sm_list_open(a, smtest_name_i("shared", _i), &la));
  OK(sm_list_open(b, smtest_name_i("shared", _i), &lb));
  OK(sm_list_append_str(la, "from a"));
  OK(sm_list_append_str(lb, "from b"));
  expect_list(la, "['from a', 'from b']");
  expect_list(lb, "['from a', 'from b']");
  sm_list_free(la);
  sm_list_free(lb);
  sm_client_free(a);
  sm_client_free(b);
}
END_TEST

/* A ref to an anonymous list stored in a named dict keeps the list alive
 * after its creator frees its proxy and even disconnects; another client
 * reads the ref from the dict, opens it with sm_list_from_ref and uses it;
 * the ref is refused as a dict (SM_ETYPE). */
START_TEST(test_ref_in_dict) {
  sm_client *a = smtest_connect_i(_i);
  sm_list *l;
  sm_dict *d;
  OK(sm_list_open(a, NULL, &l));
  OK(sm_list_append_str(l, "inside"));
  OK(sm_dict_open(a, smtest_name_i("holder", _i), &d));
  sm_value *key = sm_value_str("queue"), *ref = sm_proxy_ref(sm_list_proxy(l));
  OK(sm_dict_set(d, key, ref));
  sm_value_free(ref);
  sm_list_free(l);
  sm_dict_free(d);
  sm_client_free(a);

  sm_client *b = smtest_connect_i(1 - _i);
  OK(sm_dict_open(b, smtest_name_i("holder", _i), &d));
  OK(sm_dict_get(d, key, &ref));
  ck_assert_int_eq(sm_value_type(ref), SM_REF);
  ck_assert_str_eq(sm_value_ref_type(ref), "list");
  sm_dict *wrong = NULL;
  FAILS(sm_dict_from_ref(b, ref, &wrong), SM_ETYPE);
  OK(sm_list_from_ref(b, ref, &l));
  expect_list(l, "['inside']");
  OK(sm_list_append_str(l, "from b"));
  size_t n = 0;
  OK(sm_list_len(l, &n));
  ck_assert_uint_eq(n, 2);
  /* Dropping the dict entry leaves b's proxy as the only holder. */
  OK(sm_dict_del(d, key));
  OK(sm_list_len(l, &n));
  ck_assert_uint_eq(n, 2);
  sm_list_free(l);
  sm_list *gone = NULL;
  FAILS(sm_list_from_ref(b, ref, &gone), SM_ENOTFOUND);
  sm_value_free(ref);
  sm_value_free(key);
  sm_dict_free(d);
  sm_client_free(b);
}
END_TEST

/* A forked child opens the parent's anonymous list from its token text
 * with a client of its own and appends; the parent sees the items. */
START_TEST(test_token_to_forked_child) {
  sm_client *c = smtest_connect_i(_i);
  sm_list *l;
  OK(sm_list_open(c, NULL, &l));
  char *tok = sm_proxy_token(sm_list_proxy(l));
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    sm_client *mine = NULL;
    sm_options *o = sm_options_new();
    sm_list *ml;
    if (sm_options_set_authkey_file(o, smtest_d.authkey_file) != SM_OK) _exit(1);
    if (sm_connect(sm_client_url(c), o, &mine) != SM_OK) _exit(2);
    if (sm_list_from_token(mine, tok, &ml) != SM_OK) _exit(3);
    for (int i = 0; i < 10; i++)
      if (sm_list_append_int(ml, i) != SM_OK) _exit(4);
    sm_list_free(ml);
    sm_client_free(mine);
    sm_options_free(o);
    _exit(0);
  }
  int st = 0;
  ck_assert_int_eq(waitpid(pid, &st, 0), pid);
  ck_assert(WIFEXITED(st));
  ck_assert_int_eq(WEXITSTATUS(st), 0);
  expect_list(l, "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]");
  sm_free(tok);
  sm_list_free(l);
  sm_client_free(c);
}
END_TEST

Suite *list_suite(void) {
  Suite *s = suite_create("list");
  TCase *tc = smtest_daemon_tcase(s, "methods", 60);
  tcase_add_loop_test(tc, test_build_and_index, 0, 2);
  tcase_add_loop_test(tc, test_search_and_reorder, 0, 2);
  tcase_add_loop_test(tc, test_typed_helpers, 0, 2);
  tc = smtest_daemon_tcase(s, "sharing", 60);
  tcase_add_loop_test(tc, test_named_two_clients, 0, 2);
  tcase_add_loop_test(tc, test_ref_in_dict, 0, 2);
  tcase_add_loop_test(tc, test_token_to_forked_child, 0, 2);
  return s;
}
