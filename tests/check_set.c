/* SPDX-License-Identifier: MIT */
/* check_set.c - the "set" type (server/t_set.c) and sm_set.
 *
 * - Called directly on a registry, in smtest_unit.h's notation: every
 *   method of docs/protocol.md with Python's results, dict-key equality
 *   (1, 1.0 and true are one element), insertion order, operands as lists
 *   or maps, calls that change nothing when an operand is bad, the
 *   references ref elements hold, and the snapshot hooks' round trip.
 * - Through libstatemgr against a real statemgrd, over TCP and the UNIX
 *   socket: every sm_set_* function with its results and error codes, a
 *   named set seen by two clients, the CLI's set commands, the bench's
 *   set workloads, the memory limit, examples/vocabulary.c, and a set on
 *   a durable daemon that comes back whole after a crash and after a
 *   clean stop, an anonymous object its element holds included. */
#include "smtest.h"
#include "smtest_unit.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the type, on a registry ---- */

static registry *reg;
static vbuf result;
static char err[SMTEST_ERR_LEN];
static const smtest_unit unit = {&reg, &result, err, SMTEST_NO_TIMEOUT};

static void setup(void) { smtest_unit_setup(&unit); }
static void teardown(void) { smtest_unit_teardown(&unit); }

#define make(type, name, args) smtest_make(&unit, type, name, args)
#define CK_RES(o, method, a, want) SMTEST_CK_RES(&unit, o, method, a, want)
#define CK_OK(o, method, a) SMTEST_CK_OK(&unit, o, method, a)
#define CK_ERR(o, method, a, status, text) SMTEST_CK_ERR(&unit, o, method, a, status, text)

/* Proves a set starts from nothing, nil, a list or a map's keys, keeps the
 * first form of equal elements in first-seen order, and refuses other
 * kinds and unhashable elements. */
START_TEST(test_create) {
  CK_RES(make("set", NULL, ""), "len", "", "0");
  CK_RES(make("set", NULL, "nil"), "copy", "", "[]");
  sm_obj *s = make("set", NULL, "[1, 'a', 1.0, true, 'b', 'a']");
  CK_RES(s, "copy", "", "[1,'a','b']");
  ck_assert_uint_eq(s->type->size(s->state), 3);
  CK_RES(make("set", NULL, "{'x': 1, 2: nil}"), "copy", "", "['x',2]");
  sm_obj *o;
  ck_assert_int_eq(smtest_make_rc(&unit, "set", NULL, "5", &o), WS_TYPE_ERROR);
  ck_assert_int_eq(smtest_make_rc(&unit, "set", NULL, "[1, [2]]", &o), WS_TYPE_ERROR);
  ck_assert(strstr(err, "unhashable") != NULL);
}
END_TEST

/* Proves add, discard, remove, contains and len with Python's equality:
 * 1, 1.0 and true are one element (the first form stays), 'a' and b'a'
 * are two, 2.5 is not 2; remove of an absent element is NOT_FOUND and
 * discard is not; a list is unhashable. */
START_TEST(test_elements) {
  sm_obj *s = make("set", NULL, "");
  CK_OK(s, "add", "1");
  CK_OK(s, "add", "1.0");
  CK_OK(s, "add", "true");
  CK_OK(s, "add", "'a'");
  CK_OK(s, "add", "b'a'");
  CK_OK(s, "add", "2.5");
  CK_OK(s, "add", "nil");
  CK_RES(s, "copy", "", "[1,'a',b'a',2.5,nil]");
  CK_RES(s, "contains", "1.0", "true");
  CK_RES(s, "contains", "true", "true");
  CK_RES(s, "contains", "2", "false");
  CK_RES(s, "contains", "nil", "true");
  CK_RES(s, "len", "", "5");
  CK_OK(s, "discard", "true"); /* removes 1 */
  CK_OK(s, "discard", "'absent'");
  CK_ERR(s, "remove", "'absent'", WS_NOT_FOUND, "not found");
  CK_OK(s, "remove", "b'a'");
  CK_RES(s, "copy", "", "['a',2.5,nil]");
  CK_ERR(s, "add", "[1]", WS_TYPE_ERROR, "unhashable");
  CK_ERR(s, "contains", "{'k': 1}", WS_TYPE_ERROR, "unhashable");
  CK_ERR(s, "add", "", WS_VALUE_ERROR, "");
  CK_RES(s, "len", "", "3");
}
END_TEST

/* Proves pop takes the most recently added element (the same on every
 * replay) and answers EMPTY on an empty set; clear empties it. */
START_TEST(test_pop_clear) {
  sm_obj *s = make("set", NULL, "[3, 1, 2]");
  CK_RES(s, "pop", "", "2");
  CK_OK(s, "add", "9");
  CK_RES(s, "pop", "", "9");
  CK_RES(s, "pop", "", "1");
  CK_RES(s, "pop", "", "3");
  CK_ERR(s, "pop", "", WS_EMPTY, "empty set");
  CK_OK(s, "update", "[1, 2]");
  CK_OK(s, "clear", "");
  CK_RES(s, "len", "", "0");
  CK_OK(s, "add", "4");
  CK_RES(s, "copy", "", "[4]");
}
END_TEST

/* Proves union, intersection, difference and symmetric_difference answer
 * Python's elements in a fixed order (this set's first, then the
 * operands' new ones), take several operands where Python does, take a
 * map's keys, and leave the set as it was. */
START_TEST(test_results) {
  sm_obj *s = make("set", NULL, "[1, 2, 3, 4]");
  CK_RES(s, "union", "[5, 1.0, 6, 5]", "[1,2,3,4,5,6]");
  CK_RES(s, "union", "[7], {8: nil, 2: nil}", "[1,2,3,4,7,8]");
  CK_RES(s, "union", "", "[1,2,3,4]");
  CK_RES(s, "intersection", "[4, 2.0, 9]", "[2,4]");
  CK_RES(s, "intersection", "[1, 2, 3], [3, 2, true]", "[1,2,3]");
  CK_RES(s, "intersection", "", "[1,2,3,4]");
  CK_RES(s, "difference", "[2], [true]", "[3,4]");
  CK_RES(s, "difference", "{3: 0}", "[1,2,4]");
  CK_RES(s, "symmetric_difference", "[9, 4, 1, 9, 8]", "[2,3,9,8]");
  CK_RES(s, "copy", "", "[1,2,3,4]");
  CK_ERR(s, "symmetric_difference", "", WS_VALUE_ERROR, "");
  CK_ERR(s, "union", "5", WS_TYPE_ERROR, "list or a map");
  CK_ERR(s, "intersection", "[1], [[2]]", WS_TYPE_ERROR, "unhashable");
}
END_TEST

/* Proves the in-place forms change the set as Python's do (the survivors
 * keep their order), and that a bad operand anywhere changes nothing. */
START_TEST(test_in_place) {
  sm_obj *s = make("set", NULL, "[1, 2, 3, 4]");
  CK_OK(s, "update", "[5, 1], {6: nil}");
  CK_RES(s, "copy", "", "[1,2,3,4,5,6]");
  CK_OK(s, "intersection_update", "[6, 5, 4, 3, 2], [2, 3, 5, 6, 7]");
  CK_RES(s, "copy", "", "[2,3,5,6]");
  CK_OK(s, "difference_update", "[3], [5.0, 42]");
  CK_RES(s, "copy", "", "[2,6]");
  CK_OK(s, "symmetric_difference_update", "[6, 7, 7, 8]");
  CK_RES(s, "copy", "", "[2,7,8]");
  CK_ERR(s, "update", "[9], [[10]]", WS_TYPE_ERROR, "unhashable");
  CK_ERR(s, "intersection_update", "[2], 3", WS_TYPE_ERROR, "list or a map");
  CK_ERR(s, "symmetric_difference_update", "[1], [2]", WS_VALUE_ERROR, "");
  CK_RES(s, "copy", "", "[2,7,8]");
  CK_OK(s, "intersection_update", "[]");
  CK_RES(s, "len", "", "0");
}
END_TEST

/* Proves issubset, issuperset and isdisjoint, with equal numbers of other
 * kinds and the empty cases. */
START_TEST(test_comparisons) {
  sm_obj *s = make("set", NULL, "[1, 2]");
  CK_RES(s, "issubset", "[2.0, 3, true]", "true");
  CK_RES(s, "issubset", "[1, 1, 1]", "false");
  CK_RES(s, "issubset", "[1, 2]", "true");
  CK_RES(s, "issuperset", "[true, 2, 1]", "true");
  CK_RES(s, "issuperset", "[1, 3]", "false");
  CK_RES(s, "issuperset", "[]", "true");
  CK_RES(s, "isdisjoint", "[3, 'a']", "true");
  CK_RES(s, "isdisjoint", "{2.0: nil}", "false");
  sm_obj *e = make("set", NULL, "");
  CK_RES(e, "issubset", "[]", "true");
  CK_RES(e, "isdisjoint", "[1]", "true");
  CK_ERR(s, "issubset", "", WS_VALUE_ERROR, "");
}
END_TEST

/* One scan page from cursor: returns the next cursor, *page receives the
 * page's elements in the notation (borrowed as smtest_fmt's). */
static uint64_t scan_page_of(sm_obj *s, uint64_t cursor, const char **page) {
  ck_assert_int_eq(smtest_call(&unit, s, "scan", smtest_fmt("%llu, 2", (unsigned long long)cursor),
                               SMTEST_NO_TIMEOUT),
                   WS_OK);
  vinfo top, next;
  ck_assert_int_eq(vw_peek(vb_span(&result), &top), VW_OK);
  vw_iter it;
  sm_span item;
  vw_iter_init(&it, top.data);
  ck_assert(vw_list_next(&it, &item) && vw_peek(item, &next) == VW_OK && next.kind == VK_INT);
  ck_assert(vw_list_next(&it, &item));
  *page = smtest_fmt("%s", smtest_show_value(item));
  return (uint64_t)next.i;
}

/* Proves scan pages through the elements in insertion order, each one
 * there for the whole scan once, with elements removed and added between
 * pages. */
START_TEST(test_scan) {
  sm_obj *s = make("set", NULL, "[1, 2, 3, 4, 5]");
  const char *page;
  uint64_t next = scan_page_of(s, 0, &page);
  ck_assert_str_eq(page, "[1,2]");
  ck_assert_uint_ne(next, 0);
  CK_OK(s, "discard", "3");
  CK_OK(s, "add", "6");
  next = scan_page_of(s, next, &page);
  ck_assert_str_eq(page, "[4,5]");
  if (next != 0) { /* 6 came after the scan began: it may come or not */
    next = scan_page_of(s, next, &page);
    ck_assert_msg(strcmp(page, "[]") == 0 || strcmp(page, "[6]") == 0, "%s", page);
  }
  ck_assert_uint_eq(next, 0);
  CK_ERR(s, "scan", "-1", WS_VALUE_ERROR, "");
}
END_TEST

/* Proves an element that is a ref holds its anonymous object as a dict key
 * does: once per element however often added, given back by discard,
 * pop, the in-place forms, clear and the set's end. */
START_TEST(test_refs) {
  sm_obj *a = make("list", NULL, ""), *b = make("list", NULL, "");
  uint64_t ida = a->id, idb = b->id;
  char ra[64], rb[64];
  snprintf(ra, sizeof ra, "%s", smtest_ref(a));
  snprintf(rb, sizeof rb, "%s", smtest_ref(b));
  sm_obj *s = make("set", "holder", smtest_fmt("[%s]", ra));
  CK_OK(s, "add", ra);
  CK_OK(s, "update", smtest_fmt("[%s, %s]", ra, rb));
  ck_assert_uint_eq(a->refs, 2);
  ck_assert_uint_eq(b->refs, 2);
  reg_decref(reg, a);
  reg_decref(reg, b);
  CK_RES(s, "pop", "", rb);
  ck_assert_ptr_null(reg_get(reg, idb));
  CK_OK(s, "symmetric_difference_update", smtest_fmt("[%s]", ra));
  ck_assert_ptr_null(reg_get(reg, ida));

  sm_obj *c = make("list", NULL, ""), *d = make("list", NULL, "");
  uint64_t idc = c->id, idd = d->id;
  CK_OK(s, "update", smtest_fmt("[%s, %s, 1]", smtest_ref(c), smtest_ref(d)));
  reg_decref(reg, c);
  reg_decref(reg, d);
  CK_OK(s, "intersection_update", "[1, 2]");
  ck_assert_ptr_null(reg_get(reg, idc));
  ck_assert_ptr_null(reg_get(reg, idd));

  sm_obj *e = make("list", NULL, "");
  uint64_t ide = e->id;
  sm_obj *anon = make("set", NULL, smtest_fmt("[%s]", smtest_ref(e)));
  reg_decref(reg, e);
  ck_assert_ptr_eq(reg_get(reg, ide), e);
  reg_decref(reg, anon); /* the set ends: its element's object too */
  ck_assert_ptr_null(reg_get(reg, ide));
}
END_TEST

/* Proves save and load give back the same elements in the same order
 * (saving the loaded state gives the same bytes), and that load refuses a
 * damaged state: an element twice, an unhashable one, a wrong shape. */
START_TEST(test_save_load) {
  sm_obj *s = make("set", NULL, "['z', 1, b'\\x00', 2.5, nil, false]");
  CK_OK(s, "discard", "1");
  CK_OK(s, "add", "1.0");
  vbuf a, b;
  vb_init(&a);
  vb_init(&b);
  ck_assert_int_eq(t_set_type.save(s->state, &a), WS_OK);
  void *state = NULL;
  char e[128];
  ck_assert_int_eq(t_set_type.load(reg, &t_set_type, vb_span(&a), &state, e, sizeof e), WS_OK);
  ck_assert_int_eq(t_set_type.save(state, &b), WS_OK);
  ck_assert_uint_eq(a.len, b.len);
  ck_assert(memcmp(vb_span(&a).p, vb_span(&b).p, a.len) == 0);
  ck_assert_str_eq(smtest_show_value(vb_span(&a)), "[['z',b'\\x00',2.5,nil,false,1.0]]");
  ck_assert_uint_eq(t_set_type.size(state), 6);
  t_set_type.destroy(reg, state);

  const char *bad[] = {"[[1, 2, 1.0]]", "[[1, [2]]]", "[{1: 2}]", "[]"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    vbuf d;
    vb_init(&d);
    const char *text = bad[i];
    smtest_parse(&text, &d);
    state = NULL;
    ck_assert_int_eq(t_set_type.load(reg, &t_set_type, vb_span(&d), &state, e, sizeof e),
                     WS_VALUE_ERROR);
    ck_assert_ptr_null(state);
    ck_assert_str_ne(e, "");
    vb_free(&d);
  }
  vb_free(&a);
  vb_free(&b);
}
END_TEST

/* Proves the method table holds exactly the methods of docs/protocol.md,
 * that every mutating one (and no other) carries METHOD_MUTATES, and that
 * those that may add elements carry METHOD_GROWS. */
START_TEST(test_method_table) {
  const char *readers = " contains len copy scan union intersection difference "
                        "symmetric_difference issubset issuperset isdisjoint ";
  const char *writers = " add discard remove pop clear update intersection_update "
                        "difference_update symmetric_difference_update ";
  const char *growers = " add update symmetric_difference_update ";
  ck_assert_ptr_eq(reg_type(reg, "set"), &t_set_type);
  ck_assert_uint_eq(t_set_type.n_methods, 20);
  for (size_t m = 0; m < t_set_type.n_methods; m++) {
    const method_def *d = &t_set_type.methods[m];
    const char *name = smtest_fmt(" %s ", d->name);
    bool writer = strstr(writers, name) != NULL;
    ck_assert_msg(writer || strstr(readers, name), "set.%s unexpected", d->name);
    ck_assert_msg(((d->flags & METHOD_MUTATES) != 0) == writer, "set.%s mutation flag", d->name);
    ck_assert_msg(((d->flags & METHOD_GROWS) != 0) == (strstr(growers, name) != NULL),
                  "set.%s grows flag", d->name);
  }
}
END_TEST

/* ---- sm_set against a real daemon ---- */

/* A list value of the ints given (caller frees). */
static sm_value *ints(size_t n, const int64_t *v) {
  sm_value *l = sm_value_list();
  for (size_t i = 0; i < n; i++)
    ck_assert_int_eq(sm_value_list_append(l, sm_value_int(v[i])), SM_OK);
  return l;
}
#define INTS(...) ints(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t), (int64_t[]){__VA_ARGS__})

/* Every sm_set_* function: results, the set left unchanged by the result
 * forms, and the error codes (absent, empty, unhashable, bad operand). */
START_TEST(test_api) {
  sm_client *c = smtest_connect_i(_i);
  sm_set *s;
  OK(sm_set_open(c, smtest_name_i("api", _i), &s));
  ck_assert_str_eq(sm_proxy_type(sm_set_proxy(s)), "set");
  OK(sm_set_add_int(s, 1));
  OK(sm_set_add_str(s, "a"));
  sm_value *one = sm_value_double(1.0), *out = NULL;
  OK(sm_set_add(s, one));
  bool has = false;
  OK(sm_set_contains(s, one, &has));
  ck_assert(has);
  OK(sm_set_contains_str(s, "b", &has));
  ck_assert(!has);
  OK(sm_set_contains_int(s, 1, &has));
  ck_assert(has);
  size_t n = 0;
  OK(sm_set_len(s, &n));
  ck_assert_uint_eq(n, 2);
  OK(sm_set_copy(s, &out));
  smtest_expect_value(out, "[1, 'a']");

  FAILS(sm_set_remove(s, one = (sm_value_free(one), sm_value_int(7))), SM_ENOTFOUND);
  OK(sm_set_discard_int(s, 7));
  OK(sm_set_discard_str(s, "a"));
  sm_value *lst = sm_value_list();
  FAILS(sm_set_add(s, lst), SM_ETYPE);
  sm_value_free(lst);

  sm_value *other = INTS(1, 2, 3);
  OK(sm_set_update(s, other));
  sm_value_free(other);
  other = INTS(3, 4);
  OK(sm_set_union(s, other, &out));
  smtest_expect_value(out, "[1, 2, 3, 4]");
  OK(sm_set_intersection(s, other, &out));
  smtest_expect_value(out, "[3]");
  OK(sm_set_difference(s, other, &out));
  smtest_expect_value(out, "[1, 2]");
  OK(sm_set_symmetric_difference(s, other, &out));
  smtest_expect_value(out, "[1, 2, 4]");
  OK(sm_set_issubset(s, other, &has));
  ck_assert(!has);
  OK(sm_set_isdisjoint(s, other, &has));
  ck_assert(!has);
  OK(sm_set_copy(s, &out));
  smtest_expect_value(out, "[1, 2, 3]");
  OK(sm_set_symmetric_difference_update(s, other));
  OK(sm_set_copy(s, &out));
  smtest_expect_value(out, "[1, 2, 4]");
  OK(sm_set_difference_update(s, other));
  OK(sm_set_intersection_update(s, other = (sm_value_free(other), INTS(2, 1, 9))));
  OK(sm_set_copy(s, &out));
  smtest_expect_value(out, "[1, 2]");
  OK(sm_set_issuperset(s, other, &has));
  ck_assert(!has);
  OK(sm_set_issubset(s, other, &has));
  ck_assert(has);
  sm_value *notlist = sm_value_int(3);
  FAILS(sm_set_update(s, notlist), SM_ETYPE);
  sm_value_free(notlist);
  sm_value_free(other);

  uint64_t next = 0;
  OK(sm_set_scan(s, 0, 1, &next, &out));
  smtest_expect_value(out, "[1]");
  ck_assert_uint_ne(next, 0);
  OK(sm_set_scan(s, next, 10, &next, &out));
  smtest_expect_value(out, "[2]");
  ck_assert_uint_eq(next, 0);

  OK(sm_set_pop(s, &out));
  smtest_expect_value(out, "2");
  OK(sm_set_clear(s));
  FAILS(sm_set_pop(s, &out), SM_EEMPTY);
  sm_value_free(one);
  sm_set_free(s);
  sm_client_free(c);
}
END_TEST

/* A named set is one object for two clients; a token opens it as a set
 * and nothing else; sm_set_open of a dict's name is SM_ETYPE. */
START_TEST(test_sharing) {
  sm_client *c1 = smtest_connect_i(_i), *c2 = smtest_connect_i(_i);
  sm_set *a, *b;
  OK(sm_set_open(c1, smtest_name_i("shared", _i), &a));
  OK(sm_set_open(c2, smtest_name_i("shared", _i), &b));
  OK(sm_set_add_str(a, "x"));
  bool has = false;
  OK(sm_set_contains_str(b, "x", &has));
  ck_assert(has);
  char *token = sm_proxy_token(sm_set_proxy(a));
  sm_set *t;
  OK(sm_set_from_token(c2, token, &t));
  size_t n = 0;
  OK(sm_set_len(t, &n));
  ck_assert_uint_eq(n, 1);
  sm_dict *d;
  FAILS(sm_dict_from_token(c2, token, &d), SM_ETYPE);
  OK(sm_dict_open(c1, smtest_name_i("a-dict", _i), &d));
  sm_set *wrong;
  FAILS(sm_set_open(c2, smtest_name_i("a-dict", _i), &wrong), SM_ETYPE);
  sm_free(token);
  sm_dict_free(d);
  sm_set_free(t);
  sm_set_free(a);
  sm_set_free(b);
  sm_client_free(c1);
  sm_client_free(c2);
}
END_TEST

/* Runs the statemgr CLI ($STATEMGR_CLI) on smtest_d with args (pasted
 * into a shell command line); returns its exit status, stdout in out. */
static int run_cli(char *out, size_t outlen, const char *args) {
  const char *bin = getenv("STATEMGR_CLI");
  ck_assert_msg(bin && *bin, "STATEMGR_CLI must name the statemgr binary");
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s' -u '%s' --authkey-file '%s' %s", bin, smtest_d.tcp_url,
           smtest_d.authkey_file, args);
  return smtest_run(cmd, out, outlen);
}

/* The CLI's set commands: sadd creates and adds (1 and 1.0 one element),
 * smembers prints in insertion order (--json an array), sismember prints
 * True/False, srem ignores absent elements, len and scan read a set, spop
 * prints the newest element and exits 1 on an empty set, and the reading
 * commands exit 1 for an unknown name without creating it. */
START_TEST(test_cli) {
  char out[4096];
  ck_assert_int_eq(run_cli(out, sizeof out, "sadd cliset b 1 1.0 a"), 0);
  ck_assert_int_eq(run_cli(out, sizeof out, "smembers cliset"), 0);
  ck_assert_str_eq(out, "b\n1\na\n");
  ck_assert_int_eq(run_cli(out, sizeof out, "smembers cliset --json"), 0);
  ck_assert_str_eq(out, "[\"b\", 1, \"a\"]\n");
  ck_assert_int_eq(run_cli(out, sizeof out, "sismember cliset 1.0"), 0);
  ck_assert_str_eq(out, "True\n");
  ck_assert_int_eq(run_cli(out, sizeof out, "sismember cliset zz"), 0);
  ck_assert_str_eq(out, "False\n");
  ck_assert_int_eq(run_cli(out, sizeof out, "srem cliset b zz"), 0);
  ck_assert_int_eq(run_cli(out, sizeof out, "len cliset"), 0);
  ck_assert_str_eq(out, "2\n");
  ck_assert_int_eq(run_cli(out, sizeof out, "scan cliset --count 1"), 0);
  ck_assert_str_eq(out, "1\na\n");
  ck_assert_int_eq(run_cli(out, sizeof out, "spop cliset"), 0);
  ck_assert_str_eq(out, "a\n");
  ck_assert_int_eq(run_cli(out, sizeof out, "spop cliset"), 0);
  ck_assert_int_eq(run_cli(out, sizeof out, "spop cliset"), 1);
  ck_assert_int_eq(run_cli(out, sizeof out, "smembers nosuchset"), 1);
  ck_assert_int_eq(run_cli(out, sizeof out, "sadd"), 2);
  ck_assert_int_eq(run_cli(out, sizeof out, "ls --type set"), 0);
  ck_assert_msg(strstr(out, "cliset") && !strstr(out, "nosuchset"), "%s", out);
}
END_TEST

/* Under --max-memory a set's elements count: adds of 1000-byte elements
 * are refused with SM_EMAXMEMORY near the limit (not long after it, as
 * uncounted elements would be), reads and removals go on, and a removal
 * makes room again; clear gives the memory back. */
START_TEST(test_memory_limit) {
  const char *args[] = {"--max-memory", "1M", NULL};
  smtest_daemon d;
  smtest_daemon_start(&d, args);
  sm_client *c = smtest_connect(&d, NULL);
  sm_set *s;
  OK(sm_set_open(c, "big", &s));
  int64_t empty = smtest_info_int(c, "used_memory");
  char elem[1001];
  memset(elem, 'x', 1000);
  elem[1000] = '\0';
  int n = 0, rc = SM_OK;
  for (; n < 5000 && rc == SM_OK; n++) {
    snprintf(elem, sizeof elem, "%06d", n);
    elem[6] = 'x';
    rc = sm_set_add_str(s, elem);
  }
  FAILS(rc, SM_EMAXMEMORY);
  n--; /* the refused one */
  ck_assert_int_gt(n, 700);
  ck_assert_int_lt(n, 1100);
  int64_t used = smtest_info_int(c, "used_memory");
  ck_assert_int_le(used, (1 << 20) + 2048);
  ck_assert_int_gt(used, (1 << 20) - 4096);
  size_t len = 0;
  OK(sm_set_len(s, &len));
  ck_assert_uint_eq(len, (size_t)n);
  FAILS(sm_set_add_str(s, elem), SM_EMAXMEMORY);
  bool has = true;
  OK(sm_set_contains_str(s, elem, &has));
  ck_assert(!has);
  snprintf(elem, sizeof elem, "%06d", 0);
  elem[6] = 'x';
  OK(sm_set_discard_str(s, elem));
  snprintf(elem, sizeof elem, "%06d", n);
  elem[6] = 'x';
  OK(sm_set_add_str(s, elem));
  OK(sm_set_clear(s));
  ck_assert_int_lt(smtest_info_int(c, "used_memory"), empty + 4096);
  sm_set_free(s);
  sm_client_free(c);
  smtest_daemon_stop_checked(&d);
}
END_TEST

/* examples/vocabulary.c, built beside the daemon, runs: its forked
 * workers' words make one set (9 distinct words), difference leaves the
 * content words (in an order that depends on which worker came first),
 * and issuperset answers. */
START_TEST(test_example) {
  const char *daemon = getenv("STATEMGRD");
  ck_assert_ptr_nonnull(daemon);
  char dir[512], cmd[1200], out[2048];
  snprintf(dir, sizeof dir, "%s", daemon);
  char *slash = strrchr(dir, '/');
  ck_assert_ptr_nonnull(slash);
  *slash = '\0';
  snprintf(cmd, sizeof cmd, "'%s/examples/vocabulary'", dir);
  ck_assert_int_eq(smtest_run(cmd, out, sizeof out), 0);
  ck_assert_msg(strstr(out, "9 distinct words in 4 documents\n"), "%s", out);
  ck_assert_msg(strstr(out, "covers \"dog sat\": yes\n"), "%s", out);
  const char *line = strstr(out, "content words:");
  ck_assert_ptr_nonnull(line);
  const char *end = strchr(line, '\n');
  ck_assert_ptr_nonnull(end);
  ck_assert_int_eq((int)(end - line), (int)strlen("content words: dog cat sat mat slept"));
  const char *const words[] = {" dog", " cat", " sat", " mat", " slept"};
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
    const char *w = strstr(line, words[i]);
    ck_assert_msg(w && w < end, "%s missing from %.*s", words[i], (int)(end - line), line);
  }
}
END_TEST

/* statemgr-bench's set_add and set_contains run, with and without
 * pipelining, over threads and processes, and pass their own checks (a
 * wrong answer exits 1); both appear in the CSV. */
START_TEST(test_bench_workloads) {
  const char *bin = getenv("STATEMGR_BENCH");
  ck_assert_msg(bin && *bin, "STATEMGR_BENCH must name statemgr-bench");
  ck_assert_msg(access(bin, X_OK) == 0, "%s is not built", bin);
  const char *runs[] = {"-c 2 -n 400 -r 50", "-c 3 -n 600 -r 50 -P 8 --processes"};
  for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
    char cmd[1024], out[2048];
    snprintf(cmd, sizeof cmd,
             "'%s' -u '%s' --authkey-file '%s' -q --csv --prefix setb%zu: "
             "-t set_add,set_contains %s 2>&1",
             bin, smtest_d.tcp_url, smtest_d.authkey_file, i, runs[i]);
    ck_assert_msg(smtest_run(cmd, out, sizeof out) == 0, "%s: %s", runs[i], out);
    ck_assert_msg(strstr(out, "\nset_add,tcp,") && strstr(out, "\nset_contains,tcp,"), "%s", out);
  }
}
END_TEST

/* A set on a durable daemon comes back with its elements in their order
 * after a crash (replayed from the log) and after a clean stop (loaded
 * from the snapshot), so pop answers the same element as before. */
START_TEST(test_durable) {
  char base[64], data[128];
  snprintf(base, sizeof base, "/tmp/smset.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(base));
  snprintf(data, sizeof data, "%s/data", base);
  const char *args[] = {"--data-dir", data, NULL};
  smtest_daemon d;
  smtest_daemon_start(&d, args);
  sm_client *c = smtest_connect(&d, d.unix_url);
  sm_set *s;
  OK(sm_set_open(c, "kept", &s));
  sm_value *items = INTS(5, 3, 9, 1);
  OK(sm_set_update(s, items));
  sm_value_free(items);
  OK(sm_set_add_str(s, "k"));
  OK(sm_set_discard_int(s, 9));
  items = INTS(3, 7);
  OK(sm_set_symmetric_difference_update(s, items));
  sm_value_free(items);
  sm_value *out = NULL;
  OK(sm_set_copy(s, &out));
  smtest_expect_value(out, "[5, 1, 'k', 7]");

  for (int sig = SIGKILL, round = 0; round < 2; round++, sig = SIGTERM) {
    int rc = smtest_daemon_kill(&d, sig);
    if (sig == SIGTERM) ck_assert_int_eq(rc, 0);
    smtest_daemon_restart_args(&d, args);
    OK(sm_set_copy(s, &out));
    smtest_expect_value(out, "[5, 1, 'k', 7]");
  }
  ck_assert(smtest_daemon_log_has(&d, "loaded", 0));
  OK(sm_set_pop(s, &out));
  smtest_expect_value(out, "7");
  sm_set_free(s);
  sm_client_free(c);
  ck_assert_int_eq(smtest_daemon_stop(&d), 0);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* An anonymous list held only by a set element comes back with the set
 * after a clean stop (from the snapshot) and after a crash (the log on top
 * of it), still held exactly once: discarding the element frees it. */
START_TEST(test_durable_ref_element) {
  char base[64], data[128];
  snprintf(base, sizeof base, "/tmp/smset.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(base));
  snprintf(data, sizeof data, "%s/data", base);
  const char *args[] = {"--data-dir", data, NULL};
  smtest_daemon d;
  smtest_daemon_start(&d, args);
  sm_client *c = smtest_connect(&d, d.unix_url);
  sm_set *s;
  sm_list *l;
  OK(sm_set_open(c, "holder", &s));
  OK(sm_list_open(c, NULL, &l));
  OK(sm_list_append_int(l, 42));
  sm_value *ref = sm_proxy_ref(sm_list_proxy(l));
  OK(sm_set_add(s, ref));
  OK(sm_set_add(s, ref)); /* one element, one reference */
  sm_value_free(ref);
  sm_list_free(l); /* from now on only the set holds the list */
  int64_t objects = smtest_info_int(c, "objects");

  ck_assert_int_eq(smtest_daemon_kill(&d, SIGTERM), 0);
  smtest_daemon_restart_args(&d, args);
  OK(sm_set_add_str(s, "after the snapshot")); /* a change the crash replays */
  smtest_daemon_kill(&d, SIGKILL);
  smtest_daemon_restart_args(&d, args);
  ck_assert_int_eq(smtest_info_int(c, "objects"), objects);

  sm_value *all = NULL;
  OK(sm_set_copy(s, &all));
  ck_assert_uint_eq(sm_value_len(all), 2);
  sm_value *held = sm_value_copy(sm_value_list_at(all, 0));
  sm_value_free(all);
  OK(sm_list_from_ref(c, held, &l));
  int64_t v = 0;
  OK(sm_list_get_int(l, 0, &v));
  ck_assert_int_eq(v, 42);
  sm_list_free(l);
  OK(sm_set_remove(s, held));
  ck_assert_int_eq(smtest_info_int(c, "objects"), objects - 1);
  /* Gone; an id from before a restart is answered SM_ESTALE once its
   * object is not there. */
  FAILS(sm_list_from_ref(c, held, &l), SM_ESTALE);
  sm_value_free(held);
  sm_set_free(s);
  sm_client_free(c);
  ck_assert_int_eq(smtest_daemon_stop(&d), 0);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

Suite *set_suite(void) {
  Suite *s = suite_create("set");
  const smtest_group groups[] = {
      {"type",
       {test_create, test_elements, test_pop_clear, test_results, test_in_place, test_comparisons,
        test_scan, test_refs, test_save_load, test_method_table}},
  };
  smtest_add_groups(s, groups, sizeof groups / sizeof groups[0], setup, teardown);
  TCase *tc = smtest_daemon_tcase(s, "api", 60);
  tcase_add_loop_test(tc, test_api, 0, 2);
  tcase_add_loop_test(tc, test_sharing, 0, 2);
  tcase_add_test(tc, test_cli);
  tcase_add_test(tc, test_bench_workloads);
  tc = tcase_create("own_daemons"); /* each test starts the daemon it needs */
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_durable);
  tcase_add_test(tc, test_durable_ref_element);
  tcase_add_test(tc, test_example);
  tcase_add_test(tc, test_memory_limit);
  suite_add_tcase(s, tc);
  return s;
}
