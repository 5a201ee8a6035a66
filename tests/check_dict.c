/* SPDX-License-Identifier: MIT */
/* check_dict.c - sm_dict and the generic proxy through libstatemgr against
 * a real statemgrd, over TCP and over the UNIX socket: every dict method
 * with its results and error codes, the typed helpers, named get-or-create
 * seen from two clients, anonymous lifetime, tokens (also handed to a
 * forked child), argument checks, and reconnecting after the daemon drops
 * a connection. */
#include "smtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Asserts the text form of v, then frees v. */
#define expect smtest_expect_value

/* get/set/del/contains/len on values of every kind; a missing key is
 * SM_ENOTFOUND for get and del, a list key SM_ETYPE, and the dict is
 * unchanged by the failures. */
START_TEST(test_get_set_del) {
  sm_client *c = smtest_connect_i(_i);
  sm_dict *d;
  OK(sm_dict_open(c, smtest_name_i("basic", _i), &d));
  ck_assert_str_eq(sm_proxy_type(sm_dict_proxy(d)), "dict");
  ck_assert_str_eq(sm_proxy_name(sm_dict_proxy(d)), smtest_name_i("basic", _i));
  sm_value *k = sm_value_str("k"), *v = sm_value_list(), *out = NULL;
  sm_value_list_append(v, sm_value_double(1.5));
  sm_value_list_append(v, sm_value_bytes("\x00\x01", 2));
  OK(sm_dict_set(d, k, v));
  OK(sm_dict_get(d, k, &out));
  ck_assert(sm_value_equal(out, v));
  sm_value_free(out);
  sm_value *ik = sm_value_int(7), *nil = sm_value_nil();
  OK(sm_dict_set(d, ik, nil)); /* nil is a value like any other */
  bool has = false;
  OK(sm_dict_contains(d, ik, &has));
  ck_assert(has);
  size_t n = 0;
  OK(sm_dict_len(d, &n));
  ck_assert_uint_eq(n, 2);

  sm_value *missing = sm_value_str("missing"), *sentinel = v;
  out = sentinel;
  FAILS(sm_dict_get(d, missing, &out), SM_ENOTFOUND);
  ck_assert_ptr_eq(out, sentinel); /* untouched on failure */
  FAILS(sm_dict_del(d, missing), SM_ENOTFOUND);
  OK(sm_dict_contains(d, missing, &has));
  ck_assert(!has);
  FAILS(sm_dict_set(d, v, k), SM_ETYPE); /* a list is unhashable */
  OK(sm_dict_del(d, ik));
  FAILS(sm_dict_del(d, ik), SM_ENOTFOUND);
  OK(sm_dict_len(d, &n));
  ck_assert_uint_eq(n, 1);

  sm_value *dflt = sm_value_str("fallback");
  OK(sm_dict_get_default(d, missing, dflt, &out));
  expect(out, "fallback");
  OK(sm_dict_get_default(d, missing, NULL, &out));
  ck_assert_int_eq(sm_value_type(out), SM_NIL);
  sm_value_free(out);
  OK(sm_dict_get_default(d, k, dflt, &out));
  ck_assert(sm_value_equal(out, v));
  sm_value_free(out);

  sm_value *vals[] = {k, v, ik, nil, missing, dflt};
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
    sm_value_free(vals[i]);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* keys/values/items/copy keep insertion order; pop, popitem and setdefault
 * follow Python; update is atomic over a map; clear empties. */
START_TEST(test_bulk_methods) {
  sm_client *c = smtest_connect_i(_i);
  sm_dict *d;
  OK(sm_dict_open(c, NULL, &d));
  ck_assert_ptr_null(sm_proxy_name(sm_dict_proxy(d)));
  OK(sm_dict_set_int(d, "b", 2));
  OK(sm_dict_set_int(d, "a", 1));
  OK(sm_dict_iset_str(d, 3, "three"));
  sm_value *out = NULL;
  OK(sm_dict_keys(d, &out));
  expect(out, "['b', 'a', 3]");
  OK(sm_dict_values(d, &out));
  expect(out, "[2, 1, 'three']");
  OK(sm_dict_items(d, &out));
  expect(out, "[['b', 2], ['a', 1], [3, 'three']]");
  OK(sm_dict_copy(d, &out));
  ck_assert_int_eq(sm_value_type(out), SM_MAP);
  expect(out, "{'b': 2, 'a': 1, 3: 'three'}");

  sm_value *ka = sm_value_str("a"), *kz = sm_value_str("z"), *dflt = sm_value_int(-1);
  OK(sm_dict_pop(d, ka, &out));
  expect(out, "1");
  FAILS(sm_dict_pop(d, ka, &out), SM_ENOTFOUND);
  OK(sm_dict_pop_default(d, ka, dflt, &out));
  expect(out, "-1");
  OK(sm_dict_pop_default(d, ka, NULL, &out));
  expect(out, "None");

  sm_value *pk = NULL, *pv = NULL;
  OK(sm_dict_popitem(d, &pk, &pv)); /* the last inserted pair */
  expect(pk, "3");
  expect(pv, "three");

  OK(sm_dict_setdefault(d, kz, dflt, &out)); /* absent: stores dflt */
  expect(out, "-1");
  sm_value *other = sm_value_int(99);
  OK(sm_dict_setdefault(d, kz, other, &out)); /* present: keeps it */
  expect(out, "-1");
  OK(sm_dict_setdefault(d, ka, NULL, &out)); /* default nil */
  expect(out, "None");

  sm_value *upd = sm_value_map();
  sm_value_map_set(upd, sm_value_str("z"), sm_value_int(26));
  sm_value_map_set(upd, sm_value_str("y"), sm_value_int(25));
  OK(sm_dict_update(d, upd));
  OK(sm_dict_copy(d, &out));
  expect(out, "{'b': 2, 'z': 26, 'a': None, 'y': 25}");
  FAILS(sm_dict_update(d, dflt), SM_ETYPE); /* not a map */

  OK(sm_dict_clear(d));
  size_t n = 1;
  OK(sm_dict_len(d, &n));
  ck_assert_uint_eq(n, 0);
  pk = pv = NULL;
  FAILS(sm_dict_popitem(d, &pk, &pv), SM_ENOTFOUND);
  ck_assert_ptr_null(pk);

  sm_value *vals[] = {ka, kz, dflt, other, upd};
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
    sm_value_free(vals[i]);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* set_if_absent stores only once; compare-and-set swaps only on a match,
 * and reports the value it found (NULL when the key was absent). */
START_TEST(test_atomic_helpers) {
  sm_client *c = smtest_connect_i(_i);
  sm_dict *d;
  OK(sm_dict_open(c, NULL, &d));
  sm_value *k = sm_value_str("k"), *one = sm_value_int(1), *two = sm_value_int(2);
  bool set = false, swapped = true;
  OK(sm_dict_set_if_absent(d, k, one, &set));
  ck_assert(set);
  OK(sm_dict_set_if_absent(d, k, two, &set));
  ck_assert(!set);
  OK(sm_dict_set_if_absent(d, k, two, NULL));
  int64_t got = 0;
  OK(sm_dict_get_int(d, "k", &got));
  ck_assert_int_eq(got, 1);

  sm_value *cur = NULL;
  OK(sm_dict_cas(d, k, two, one, &swapped, &cur)); /* expects 2, finds 1 */
  ck_assert(!swapped);
  expect(cur, "1");
  OK(sm_dict_cas(d, k, one, two, &swapped, &cur));
  ck_assert(swapped);
  expect(cur, "1");
  OK(sm_dict_cas(d, k, NULL, one, &swapped, NULL)); /* expects absent */
  ck_assert(!swapped);
  OK(sm_dict_get_int(d, "k", &got));
  ck_assert_int_eq(got, 2);

  sm_value *fresh = sm_value_str("fresh");
  cur = one; /* must become NULL: the key was absent */
  OK(sm_dict_cas(d, fresh, NULL, one, &swapped, &cur));
  ck_assert(swapped);
  ck_assert_ptr_null(cur);
  OK(sm_dict_cas(d, fresh, two, two, &swapped, &cur));
  ck_assert(!swapped);
  expect(cur, "1");
  FAILS(sm_dict_cas(d, fresh, one, two, NULL, NULL), SM_EINVAL);

  sm_value_free(k);
  sm_value_free(one);
  sm_value_free(two);
  sm_value_free(fresh);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* The typed helpers convert, and report a stored value of another kind as
 * SM_ETYPE (leaving the output untouched); int64 keys are distinct from
 * string keys. */
START_TEST(test_typed_helpers) {
  sm_client *c = smtest_connect_i(_i);
  sm_dict *d;
  OK(sm_dict_open(c, smtest_name_i("typed", _i), &d));
  OK(sm_dict_set_str(d, "name", "ada"));
  OK(sm_dict_set_int(d, "age", 36));
  OK(sm_dict_iset_int(d, 36, -36));
  OK(sm_dict_iset_str(d, -1, "minus one"));
  char *s = NULL;
  int64_t i = 0;
  OK(sm_dict_get_str(d, "name", &s));
  ck_assert_str_eq(s, "ada");
  sm_free(s);
  OK(sm_dict_get_int(d, "age", &i));
  ck_assert_int_eq(i, 36);
  OK(sm_dict_iget_int(d, 36, &i));
  ck_assert_int_eq(i, -36);
  OK(sm_dict_iget_str(d, -1, &s));
  ck_assert_str_eq(s, "minus one");
  sm_free(s);
  s = (char *)"untouched";
  FAILS(sm_dict_get_str(d, "age", &s), SM_ETYPE);
  ck_assert_str_eq(s, "untouched");
  i = 5;
  FAILS(sm_dict_get_int(d, "name", &i), SM_ETYPE);
  ck_assert_int_eq(i, 5);
  FAILS(sm_dict_iget_int(d, -1, &i), SM_ETYPE);
  FAILS(sm_dict_get_int(d, "36", &i), SM_ENOTFOUND); /* "36" is not 36 */
  FAILS(sm_dict_iget_str(d, 404, &s), SM_ENOTFOUND);
  OK(sm_dict_del_str(d, "name"));
  FAILS(sm_dict_del_str(d, "name"), SM_ENOTFOUND);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* A named dict is get-or-create: a second client opening the name gets the
 * same object and sees the first one's writes; the name taken by a dict
 * cannot be opened as a list; after sm_delete both proxies get
 * SM_ENOTFOUND. */
START_TEST(test_named_two_clients) {
  sm_client *a = smtest_connect_i(_i), *b = smtest_connect_i(1 - _i);
  sm_dict *da, *db;
  OK(sm_dict_open(a, smtest_name_i("shared", _i), &da));
  OK(sm_dict_set_str(da, "from", "a"));
  OK(sm_dict_open(b, smtest_name_i("shared", _i), &db));
  ck_assert_uint_eq(sm_proxy_id(sm_dict_proxy(da)), sm_proxy_id(sm_dict_proxy(db)));
  char *s = NULL;
  OK(sm_dict_get_str(db, "from", &s));
  ck_assert_str_eq(s, "a");
  sm_free(s);
  OK(sm_dict_set_str(db, "from", "b"));
  OK(sm_dict_get_str(da, "from", &s));
  ck_assert_str_eq(s, "b");
  sm_free(s);
  sm_list *l = NULL;
  FAILS(sm_list_open(b, smtest_name_i("shared", _i), &l), SM_ETYPE);
  ck_assert_ptr_null(l);

  sm_value *ls = NULL;
  OK(sm_ls(a, "dict", &ls));
  bool listed = false;
  for (size_t i = 0; i < sm_value_len(ls); i++) {
    sm_value *key = sm_value_str("name");
    const char *nm = sm_value_as_str(sm_value_map_get(sm_value_list_at(ls, i), key), NULL);
    listed = listed || (nm && strcmp(nm, smtest_name_i("shared", _i)) == 0);
    sm_value_free(key);
  }
  ck_assert(listed);
  sm_value_free(ls);

  OK(sm_delete(b, smtest_name_i("shared", _i)));
  FAILS(sm_dict_set_str(da, "x", "y"), SM_ENOTFOUND);
  FAILS(sm_dict_get_str(db, "from", &s), SM_ENOTFOUND);
  FAILS(sm_delete(a, smtest_name_i("shared", _i)), SM_ENOTFOUND);
  sm_dict_free(da);
  sm_dict_free(db);
  sm_client_free(a);
  sm_client_free(b);
}
END_TEST

/* An anonymous dict lives while a proxy holds it: another client may open
 * it by token and keep it alive after the creator frees its proxy; once
 * every proxy is freed, opening the token gives SM_ENOTFOUND. */
START_TEST(test_anonymous_lifetime) {
  sm_client *a = smtest_connect_i(_i), *b = smtest_connect_i(_i);
  sm_dict *d, *d2, *d3 = NULL;
  OK(sm_dict_open(a, NULL, &d));
  OK(sm_dict_set_int(d, "n", 1));
  char *tok = sm_proxy_token(sm_dict_proxy(d));
  ck_assert_ptr_nonnull(tok);
  char want[64];
  snprintf(want, sizeof want, "dict:%llu", (unsigned long long)sm_proxy_id(sm_dict_proxy(d)));
  ck_assert_str_eq(tok, want);
  OK(sm_dict_from_token(b, tok, &d2));
  sm_dict_free(d); /* b still holds it */
  int64_t n = 0;
  OK(sm_dict_get_int(d2, "n", &n));
  ck_assert_int_eq(n, 1);
  sm_dict_free(d2); /* the last holder */
  FAILS(sm_dict_from_token(a, tok, &d3), SM_ENOTFOUND);
  ck_assert_ptr_null(d3);
  sm_free(tok);

  /* The same through the generic proxy and a ref value. */
  OK(sm_dict_open(a, NULL, &d));
  sm_value *ref = sm_proxy_ref(sm_dict_proxy(d));
  ck_assert_str_eq(sm_value_ref_type(ref), "dict");
  sm_proxy *p;
  OK(sm_proxy_from_ref(b, ref, &p));
  ck_assert_str_eq(sm_proxy_type(p), "dict");
  ck_assert_uint_eq(sm_proxy_id(p), sm_value_ref_id(ref));
  sm_dict_free(d);
  sm_proxy_free(p);
  FAILS(sm_dict_from_ref(b, ref, &d3), SM_ENOTFOUND);
  sm_value_free(ref);
  sm_client_free(a);
  sm_client_free(b);
}
END_TEST

/* A token is plain text a forked child can use: the child opens the
 * parent's anonymous dict by token (with the client it inherited) and
 * writes; the parent reads the write. */
START_TEST(test_token_to_forked_child) {
  sm_client *c = smtest_connect_i(_i);
  sm_dict *d;
  OK(sm_dict_open(c, NULL, &d));
  char *tok = sm_proxy_token(sm_dict_proxy(d));
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    sm_dict *mine;
    if (sm_dict_from_token(c, tok, &mine) != SM_OK) _exit(1);
    if (sm_dict_set_int(mine, "child", (int64_t)getpid()) != SM_OK) _exit(2);
    sm_dict_free(mine);
    _exit(0);
  }
  int st = 0;
  ck_assert_int_eq(waitpid(pid, &st, 0), pid);
  ck_assert(WIFEXITED(st));
  ck_assert_int_eq(WEXITSTATUS(st), 0);
  int64_t who = 0;
  OK(sm_dict_get_int(d, "child", &who));
  ck_assert_int_eq(who, pid);
  sm_free(tok);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* Bad arguments are refused before anything is sent, with SM_EINVAL and a
 * text; bad tokens are SM_EINVAL; a token of a list is SM_ETYPE for a
 * dict. */
START_TEST(test_argument_checks) {
  sm_client *c = smtest_connect_i(_i);
  sm_dict *d = NULL;
  sm_value *k = sm_value_str("k"), *out = NULL;
  FAILS(sm_dict_open(NULL, "x", &d), SM_EINVAL);
  FAILS(sm_dict_open(c, "x", NULL), SM_EINVAL);
  FAILS(sm_dict_get(NULL, k, &out), SM_EINVAL);
  OK(sm_dict_open(c, NULL, &d));
  FAILS(sm_dict_get(d, NULL, &out), SM_EINVAL);
  FAILS(sm_dict_get(d, k, NULL), SM_EINVAL);
  FAILS(sm_dict_set(d, k, NULL), SM_EINVAL);
  FAILS(sm_dict_len(d, NULL), SM_EINVAL);
  FAILS(sm_dict_set_str(d, NULL, "v"), SM_EINVAL);
  FAILS(sm_ping(NULL), SM_EINVAL);
  const char *bad[] = {"", "dict", "dict:", ":5", "dict:0", "dict:x", "dict:5x", "dict:-5"};
  sm_dict *x = NULL;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    FAILS(sm_dict_from_token(c, bad[i], &x), SM_EINVAL);
  FAILS(sm_dict_from_ref(c, k, &x), SM_EINVAL); /* a str is not a ref */
  sm_list *l;
  OK(sm_list_open(c, NULL, &l));
  char *tok = sm_proxy_token(sm_list_proxy(l));
  FAILS(sm_dict_from_token(c, tok, &x), SM_ETYPE);
  ck_assert_ptr_null(x);
  sm_proxy *p;
  OK(sm_proxy_from_token(c, tok, &p)); /* the generic proxy takes any type */
  ck_assert_str_eq(sm_proxy_type(p), "list");
  sm_proxy_free(p);
  sm_free(tok);
  sm_list_free(l);
  sm_dict_free(NULL);
  sm_proxy_free(NULL);
  sm_client_free(NULL);
  ck_assert_ptr_null(sm_proxy_token(NULL));
  sm_value_free(k);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* Connecting reports a bad URL (SM_EINVAL), a closed port (tcp:// or
 * tls://) or missing socket (SM_ECONNECT) and a wrong key (SM_EAUTH) from
 * sm_connect itself (TLS failures: check_tls.c); the client remembers its
 * URL. */
START_TEST(test_connect_errors) {
  sm_options *o = sm_options_new();
  OK(sm_options_set_authkey_file(o, smtest_d.authkey_file));
  sm_client *c = NULL;
  FAILS(sm_connect("http://x", o, &c), SM_EINVAL);
  FAILS(sm_connect("tcp://127.0.0.1", o, &c), SM_EINVAL);
  FAILS(sm_connect("tcp://127.0.0.1:99999", o, &c), SM_EINVAL);
  FAILS(sm_connect("tcp://::1:80", o, &c), SM_EINVAL);
  FAILS(sm_connect("unix:", o, &c), SM_EINVAL);
  FAILS(sm_connect("tcp://127.0.0.1:1", o, &c), SM_ECONNECT);
  FAILS(sm_connect("unix:/nonexistent/statemgr.sock", o, &c), SM_ECONNECT);
  FAILS(sm_connect("tls://127.0.0.1:1", o, &c), SM_ECONNECT);
  ck_assert_ptr_null(c);
  sm_options *bad = sm_options_new();
  OK(sm_options_set_authkey(bad, "a wrong key of some length", 26));
  FAILS(sm_connect(smtest_d.unix_url, bad, &c), SM_EAUTH);
  sm_options_free(bad);
  FAILS(sm_connect("tcp://[::1]:1", o, &c), SM_ECONNECT); /* parsed, nobody there */
  /* A host name resolves, and every address is tried in turn. */
  char by_name[64];
  snprintf(by_name, sizeof by_name, "tcp://localhost%s", strrchr(smtest_d.tcp_url, ':'));
  OK(sm_connect(by_name, o, &c));
  OK(sm_ping(c));
  sm_client_free(c);
  OK(sm_options_set_client_name(o, "check_dict"));
  OK(sm_options_set_connect_timeout(o, 2000));
  OK(sm_connect(smtest_d.tcp_url, o, &c));
  ck_assert_str_eq(sm_client_url(c), smtest_d.tcp_url);
  sm_value *info = NULL;
  OK(sm_info(c, &info));
  sm_value *key = sm_value_str("version");
  ck_assert_str_eq(sm_value_as_str(sm_value_map_get(info, key), NULL), sm_version());
  sm_value_free(key);
  sm_value_free(info);
  sm_client_free(c);
  sm_options_free(o);
}
END_TEST

/* A request over the daemon's frame limit makes it refuse the frame and
 * close the connection: the call reports SM_ETOOLARGE, and the next call on
 * the same thread opens a new connection and works. Once the daemon has
 * shut down, the next call finds its connection gone: over TCP its request
 * went out before the close showed (SM_ECLOSED), over a UNIX socket it
 * could not be sent, so it tried a new connection (SM_ECONNECT); the one
 * after cannot reconnect (SM_ECONNECT). */
START_TEST(test_reconnect_after_drop) {
  smtest_daemon small;
  const char *args[] = {"--max-frame", "4K", NULL};
  smtest_daemon_start(&small, args);
  sm_client *c = smtest_connect(&small, _i == 0 ? small.tcp_url : small.unix_url);
  sm_dict *d;
  OK(sm_dict_open(c, "big", &d));
  OK(sm_dict_set_int(d, "before", 1));
  char *blob = malloc(8192);
  memset(blob, 'x', 8191);
  blob[8191] = '\0';
  FAILS(sm_dict_set_str(d, "blob", blob), SM_ETOOLARGE);
  free(blob);
  int64_t v = 0;
  OK(sm_dict_get_int(d, "before", &v)); /* a fresh connection */
  ck_assert_int_eq(v, 1);
  OK(sm_ping(c));
  OK(sm_shutdown(c));
  int st = 0;
  ck_assert_int_eq(waitpid(small.pid, &st, 0), small.pid);
  ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  small.pid = 0; /* reaped: stop only removes the directory */
  FAILS(sm_dict_get_int(d, "before", &v), _i == 0 ? SM_ECLOSED : SM_ECONNECT);
  FAILS(sm_ping(c), SM_ECONNECT);
  sm_dict_free(d);
  sm_client_free(c);
  ck_assert_int_eq(smtest_daemon_stop(&small), 0);
}
END_TEST

Suite *dict_suite(void) {
  Suite *s = suite_create("dict");
  TCase *tc = smtest_daemon_tcase(s, "methods", 60);
  tcase_add_loop_test(tc, test_get_set_del, 0, 2);
  tcase_add_loop_test(tc, test_bulk_methods, 0, 2);
  tcase_add_loop_test(tc, test_atomic_helpers, 0, 2);
  tcase_add_loop_test(tc, test_typed_helpers, 0, 2);
  tc = smtest_daemon_tcase(s, "sharing", 60);
  tcase_add_loop_test(tc, test_named_two_clients, 0, 2);
  tcase_add_loop_test(tc, test_anonymous_lifetime, 0, 2);
  tcase_add_loop_test(tc, test_token_to_forked_child, 0, 2);
  tc = smtest_daemon_tcase(s, "errors", 60);
  tcase_add_loop_test(tc, test_argument_checks, 0, 2);
  tcase_add_test(tc, test_connect_errors);
  tcase_add_loop_test(tc, test_reconnect_after_drop, 0, 2);
  return s;
}
