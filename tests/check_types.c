/* SPDX-License-Identifier: MIT */
/* check_types.c - the built-in object types (server/t_*.c) called directly,
 * without sockets: every method of dict, list, value and namespace in
 * docs/protocol.md, their errors, and the references stored values hold.
 *
 * Arguments and results are written in smtest_unit.h's notation so each
 * check reads like the Python it mirrors: nil true false 12 -3 1.5 'str'
 * b'bytes' [v, ...] {k: v, ...} @id:type. A call packs the arguments with
 * the vb_* writer, validates them with vw_scan (as dispatch does), calls the
 * method, and the result is printed back in the same notation. */
#include "smtest_unit.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static registry *reg;
static vbuf result;              /* the last method's result */
static char err[SMTEST_ERR_LEN]; /* the last method's error text */

/* The calls below run on reg, without a timeout. */
static const smtest_unit unit = {&reg, &result, err, SMTEST_NO_TIMEOUT};

static void setup(void) { smtest_unit_setup(&unit); }
static void teardown(void) { smtest_unit_teardown(&unit); }

/* The short names the tests use. */
#define fmt smtest_fmt
#define ref smtest_ref

/* Creates an object as the manager does; returns the status. */
static int make_rc(const char *type, const char *name, const char *argtext, sm_obj **o) {
  return smtest_make_rc(&unit, type, name, argtext, o);
}

static sm_obj *make(const char *type, const char *name, const char *argtext) {
  return smtest_make(&unit, type, name, argtext);
}

/* The call succeeds and answers want. */
#define CK_RES(o, method, a, want) SMTEST_CK_RES(&unit, o, method, a, want)
/* The call succeeds. */
#define CK_OK(o, method, a) SMTEST_CK_OK(&unit, o, method, a)
/* The call fails with status and an error text containing text. */
#define CK_ERR(o, method, a, status, text) SMTEST_CK_ERR(&unit, o, method, a, status, text)

/* ---- dict ---- */

/* Proves a dict starts from nothing, nil or a map (a repeated key keeps its
 * first place and its last value, as in Python), refuses anything else, and
 * reports its size. */
START_TEST(test_dict_create) {
  sm_obj *d = make("dict", NULL, "{'a': 1, 'b': 2, 'a': 3}");
  CK_RES(d, "items", "", "[['a',3],['b',2]]");
  ck_assert_uint_eq(d->type->size(d->state), 2);
  CK_RES(make("dict", NULL, ""), "len", "", "0");
  CK_RES(make("dict", NULL, "nil"), "len", "", "0");
  sm_obj *o;
  ck_assert_int_eq(make_rc("dict", NULL, "[1]", &o), WS_TYPE_ERROR);
  ck_assert_ptr_nonnull(strstr(err, "map"));
  ck_assert_int_eq(make_rc("dict", NULL, "{}, {}", &o), WS_VALUE_ERROR);
}
END_TEST

/* Proves get/set/del/contains/len: get with and without a default,
 * NOT_FOUND for absent keys, overwrite, and argument count errors. */
START_TEST(test_dict_get_set_del) {
  sm_obj *d = make("dict", NULL, "");
  CK_RES(d, "set", "'a', 1", "nil");
  CK_RES(d, "get", "'a'", "1");
  CK_RES(d, "get", "'a', 5", "1");
  CK_ERR(d, "get", "'x'", WS_NOT_FOUND, "key not found");
  CK_RES(d, "get", "'x', [5]", "[5]");
  CK_RES(d, "contains", "'x'", "false");
  CK_OK(d, "set", "'a', 'one'");
  CK_RES(d, "get", "'a'", "'one'");
  CK_RES(d, "len", "", "1");
  CK_RES(d, "contains", "'a'", "true");
  CK_OK(d, "del", "'a'");
  CK_ERR(d, "del", "'a'", WS_NOT_FOUND, "key not found");
  CK_RES(d, "contains", "'a'", "false");
  CK_RES(d, "len", "", "0");
  CK_ERR(d, "get", "", WS_VALUE_ERROR, "argument");
  CK_ERR(d, "set", "'a'", WS_VALUE_ERROR, "argument");
  CK_ERR(d, "len", "1", WS_VALUE_ERROR, "argument");
  CK_ERR(d, "contains", "1, 2", WS_VALUE_ERROR, "argument");
}
END_TEST

/* Proves keys are equal as in Python: 1, 1.0 and true are one key (the
 * first key stays, the last value wins), while '1', b'1' and nil are keys
 * of their own. */
START_TEST(test_dict_key_kinds) {
  sm_obj *d = make("dict", NULL, "");
  CK_OK(d, "set", "1, 'int'");
  CK_OK(d, "set", "1.0, 'double'");
  CK_OK(d, "set", "true, 'bool'");
  CK_OK(d, "set", "'1', 'str'");
  CK_OK(d, "set", "b'1', 'bytes'");
  CK_OK(d, "set", "nil, 'nil'");
  CK_RES(d, "len", "", "4");
  CK_RES(d, "get", "1", "'bool'");
  CK_RES(d, "get", "1.0", "'bool'");
  CK_RES(d, "get", "nil", "'nil'");
  CK_RES(d, "keys", "", "[1,'1',b'1',nil]");
  CK_RES(d, "contains", "0", "false");
}
END_TEST

/* Proves a list or map key is refused with TYPE_ERROR "unhashable" by every
 * keyed method, and nothing is stored. */
START_TEST(test_dict_unhashable) {
  sm_obj *d = make("dict", NULL, "");
  CK_ERR(d, "set", "[1], 2", WS_TYPE_ERROR, "unhashable key of kind list");
  CK_ERR(d, "get", "{1: 2}", WS_TYPE_ERROR, "unhashable key of kind map");
  CK_ERR(d, "contains", "[]", WS_TYPE_ERROR, "unhashable");
  CK_ERR(d, "del", "[]", WS_TYPE_ERROR, "unhashable");
  CK_ERR(d, "pop", "[], 1", WS_TYPE_ERROR, "unhashable");
  CK_ERR(d, "setdefault", "[]", WS_TYPE_ERROR, "unhashable");
  CK_ERR(d, "set_if_absent", "[], 1", WS_TYPE_ERROR, "unhashable");
  CK_ERR(d, "cas", "[], 1", WS_TYPE_ERROR, "unhashable");
  CK_RES(d, "len", "", "0");
}
END_TEST

/* Proves keys, values and items follow insertion order; overwriting keeps a
 * key's place, deleting and re-adding moves it to the end. */
START_TEST(test_dict_order) {
  sm_obj *d = make("dict", NULL, "");
  CK_OK(d, "set", "'c', 1");
  CK_OK(d, "set", "'a', 2");
  CK_OK(d, "set", "'b', 3");
  CK_RES(d, "keys", "", "['c','a','b']");
  CK_RES(d, "values", "", "[1,2,3]");
  CK_OK(d, "set", "'c', 10");
  CK_RES(d, "items", "", "[['c',10],['a',2],['b',3]]");
  CK_OK(d, "del", "'a'");
  CK_OK(d, "set", "'a', 20");
  CK_RES(d, "items", "", "[['c',10],['b',3],['a',20]]");
  CK_RES(make("dict", NULL, ""), "items", "", "[]");
}
END_TEST

/* Proves pop returns and removes, NOT_FOUND without a default, and answers
 * the default without storing it. */
START_TEST(test_dict_pop) {
  sm_obj *d = make("dict", NULL, "{'a': 1, 'b': 2}");
  CK_RES(d, "pop", "'a'", "1");
  CK_RES(d, "contains", "'a'", "false");
  CK_ERR(d, "pop", "'a'", WS_NOT_FOUND, "key not found");
  CK_RES(d, "pop", "'a', 0", "0");
  CK_RES(d, "contains", "'a'", "false");
  CK_RES(d, "pop", "'b', 0", "2");
  CK_RES(d, "len", "", "0");
}
END_TEST

/* Proves popitem is LIFO by insertion (an overwrite does not move a key)
 * and answers NOT_FOUND once empty. */
START_TEST(test_dict_popitem) {
  sm_obj *d = make("dict", NULL, "");
  CK_OK(d, "set", "'a', 1");
  CK_OK(d, "set", "'b', 2");
  CK_OK(d, "set", "'c', 3");
  CK_OK(d, "set", "'a', 4");
  CK_RES(d, "popitem", "", "['c',3]");
  CK_OK(d, "set", "'d', 5");
  CK_RES(d, "popitem", "", "['d',5]");
  CK_RES(d, "popitem", "", "['b',2]");
  CK_RES(d, "popitem", "", "['a',4]");
  CK_ERR(d, "popitem", "", WS_NOT_FOUND, "empty");
  CK_ERR(d, "popitem", "1", WS_VALUE_ERROR, "argument");
}
END_TEST

/* Proves setdefault stores and answers the default only when the key is
 * absent (nil when no default is given), else answers what is stored. */
START_TEST(test_dict_setdefault) {
  sm_obj *d = make("dict", NULL, "");
  CK_RES(d, "setdefault", "'a', [1]", "[1]");
  CK_RES(d, "setdefault", "'a', 2", "[1]");
  CK_RES(d, "get", "'a'", "[1]");
  CK_RES(d, "setdefault", "'b'", "nil");
  CK_RES(d, "contains", "'b'", "true");
  CK_RES(d, "get", "'b', 7", "nil");
}
END_TEST

/* Proves update merges a map (overwrites keep their place, new keys go
 * last), refuses a non-map, clear empties, and copy answers the map. */
START_TEST(test_dict_update_clear_copy) {
  sm_obj *d = make("dict", NULL, "");
  CK_OK(d, "update", "{'a': 1, 'b': 2}");
  CK_OK(d, "update", "{'c': 3, 'a': 10}");
  CK_RES(d, "copy", "", "{'a':10,'b':2,'c':3}");
  CK_ERR(d, "update", "[['x', 1]]", WS_TYPE_ERROR, "map");
  CK_ERR(d, "update", "", WS_VALUE_ERROR, "argument");
  CK_OK(d, "clear", "");
  CK_RES(d, "len", "", "0");
  CK_RES(d, "copy", "", "{}");
  CK_OK(d, "update", "{'z': nil}");
  CK_RES(d, "copy", "", "{'z':nil}");
}
END_TEST

/* Proves set_if_absent stores only into an absent key and says whether it
 * did. */
START_TEST(test_dict_set_if_absent) {
  sm_obj *d = make("dict", NULL, "");
  CK_RES(d, "set_if_absent", "'k', 1", "true");
  CK_RES(d, "set_if_absent", "'k', 2", "false");
  CK_RES(d, "get", "'k'", "1");
}
END_TEST

/* Proves cas in both forms: expect-absent swaps only into an absent key;
 * expected/desired swaps only when the stored value equals expected as in
 * Python (5.0 is 5, '5' is not); previous is
 * reported whenever the key existed; a 3-argument cas on an absent key
 * stores nothing. */
START_TEST(test_dict_cas) {
  sm_obj *d = make("dict", NULL, "");
  CK_RES(d, "cas", "'k', 1", "[true]");
  CK_RES(d, "get", "'k'", "1");
  CK_RES(d, "cas", "'k', 2", "[false,1]");
  CK_RES(d, "get", "'k'", "1");
  CK_RES(d, "cas", "'k', 1, 5", "[true,1]");
  CK_RES(d, "get", "'k'", "5");
  CK_RES(d, "cas", "'k', 1, 6", "[false,5]");
  CK_RES(d, "cas", "'k', '5', 6", "[false,5]");
  CK_RES(d, "get", "'k'", "5");
  CK_RES(d, "cas", "'k', 5.0, 6", "[true,5]");
  CK_RES(d, "cas", "'k', 6", "[false,6]");
  CK_RES(d, "cas", "'z', nil, 2", "[false]");
  CK_RES(d, "contains", "'z'", "false");
  CK_RES(d, "cas", "'n', nil", "[true]");
  CK_RES(d, "cas", "'n', nil, 'x'", "[true,nil]");
  CK_RES(d, "get", "'n'", "'x'");
  CK_ERR(d, "cas", "'k'", WS_VALUE_ERROR, "argument");
  CK_ERR(d, "cas", "'k', 1, 2, 3", WS_VALUE_ERROR, "argument");
}
END_TEST

/* ---- list ---- */

/* Proves a list starts from nothing, nil or a list, refuses anything else,
 * and reports its size. */
START_TEST(test_list_create) {
  sm_obj *l = make("list", NULL, "[1, 'a', nil, [2]]");
  CK_RES(l, "slice", "nil, nil", "[1,'a',nil,[2]]");
  ck_assert_uint_eq(l->type->size(l->state), 4);
  CK_RES(make("list", NULL, "nil"), "len", "", "0");
  CK_RES(make("list", NULL, ""), "len", "", "0");
  sm_obj *o;
  ck_assert_int_eq(make_rc("list", NULL, "{1: 2}", &o), WS_TYPE_ERROR);
  ck_assert_int_eq(make_rc("list", NULL, "'abc'", &o), WS_TYPE_ERROR);
}
END_TEST

/* Proves append, extend (lists only, empty is fine) and insert with
 * Python's clamping: negative counts from the end, out of range sticks to
 * either end; a non-int position is a TYPE_ERROR. */
START_TEST(test_list_grow) {
  sm_obj *l = make("list", NULL, "");
  CK_OK(l, "append", "1");
  CK_OK(l, "extend", "[2, 3]");
  CK_OK(l, "extend", "[]");
  CK_RES(l, "slice", "", "[1,2,3]");
  CK_ERR(l, "extend", "5", WS_TYPE_ERROR, "list");
  CK_ERR(l, "extend", "{1: 2}", WS_TYPE_ERROR, "list");
  CK_OK(l, "insert", "0, 'a'");
  CK_OK(l, "insert", "-1, 'b'");
  CK_RES(l, "slice", "", "['a',1,2,'b',3]");
  CK_OK(l, "insert", "100, 'z'");
  CK_OK(l, "insert", "-100, 'y'");
  CK_RES(l, "slice", "", "['y','a',1,2,'b',3,'z']");
  CK_ERR(l, "insert", "'x', 1", WS_TYPE_ERROR, "int");
  CK_ERR(l, "insert", "1", WS_VALUE_ERROR, "argument");
  CK_RES(l, "len", "", "7");
}
END_TEST

/* Proves get/set/del by index, negative indexes from the end, VALUE_ERROR
 * out of range on either side and TYPE_ERROR for a non-int index. */
START_TEST(test_list_index_access) {
  sm_obj *l = make("list", NULL, "[10, 20, 30]");
  CK_RES(l, "get", "0", "10");
  CK_RES(l, "get", "-1", "30");
  CK_RES(l, "get", "-3", "10");
  CK_ERR(l, "get", "3", WS_VALUE_ERROR, "list index out of range");
  CK_ERR(l, "get", "-4", WS_VALUE_ERROR, "list index out of range");
  CK_ERR(l, "get", "'a'", WS_TYPE_ERROR, "int");
  CK_ERR(l, "get", "1.0", WS_TYPE_ERROR, "int");
  CK_OK(l, "set", "1, 'x'");
  CK_OK(l, "set", "-1, 'y'");
  CK_RES(l, "slice", "", "[10,'x','y']");
  CK_ERR(l, "set", "5, 1", WS_VALUE_ERROR, "out of range");
  CK_ERR(l, "set", "nil, 1", WS_TYPE_ERROR, "int");
  CK_OK(l, "del", "0");
  CK_OK(l, "del", "-1");
  CK_RES(l, "slice", "", "['x']");
  CK_ERR(l, "del", "1", WS_VALUE_ERROR, "out of range");
  CK_ERR(l, "del", "true", WS_TYPE_ERROR, "int");
}
END_TEST

/* Proves pop takes the last item or item i (negative too), refuses an
 * index out of range and an empty list with VALUE_ERROR. */
START_TEST(test_list_pop) {
  sm_obj *l = make("list", NULL, "[1, 2, 3, 4]");
  CK_RES(l, "pop", "", "4");
  CK_RES(l, "pop", "0", "1");
  CK_ERR(l, "pop", "5", WS_VALUE_ERROR, "out of range");
  CK_ERR(l, "pop", "'a'", WS_TYPE_ERROR, "int");
  CK_RES(l, "pop", "-1", "3");
  CK_RES(l, "pop", "", "2");
  CK_ERR(l, "pop", "", WS_VALUE_ERROR, "empty");
  CK_ERR(l, "pop", "0", WS_VALUE_ERROR, "empty");
}
END_TEST

/* Proves index, count and remove use Python's equality (2 finds 2.0, [1.0]
 * finds [1]), remove takes the first occurrence only, and absent values
 * are a VALUE_ERROR. */
START_TEST(test_list_search) {
  sm_obj *l = make("list", NULL, "[1, 'a', 1, 2.0, [1]]");
  CK_RES(l, "index", "1", "0");
  CK_RES(l, "index", "2.0", "3");
  CK_RES(l, "index", "2", "3");
  CK_RES(l, "index", "[1.0]", "4");
  CK_ERR(l, "index", "b'a'", WS_VALUE_ERROR, "not in list");
  CK_RES(l, "count", "1", "2");
  CK_RES(l, "count", "'b'", "0");
  CK_OK(l, "remove", "1");
  CK_RES(l, "slice", "", "['a',1,2.0,[1]]");
  CK_ERR(l, "remove", "'zz'", WS_VALUE_ERROR, "not in list");
  CK_RES(l, "len", "", "4");
}
END_TEST

/* Proves slice follows Python's l[a:b]: nil (or absent) bounds are open,
 * negative bounds count from the end, bounds clamp, an inverted or
 * out-of-range slice is empty, and non-int bounds are a TYPE_ERROR. */
START_TEST(test_list_slice) {
  sm_obj *l = make("list", NULL, "[0, 1, 2, 3, 4]");
  CK_RES(l, "slice", "nil, nil", "[0,1,2,3,4]");
  CK_RES(l, "slice", "", "[0,1,2,3,4]");
  CK_RES(l, "slice", "1", "[1,2,3,4]");
  CK_RES(l, "slice", "1, nil", "[1,2,3,4]");
  CK_RES(l, "slice", "nil, -1", "[0,1,2,3]");
  CK_RES(l, "slice", "-2, nil", "[3,4]");
  CK_RES(l, "slice", "-100, 100", "[0,1,2,3,4]");
  CK_RES(l, "slice", "1, 3", "[1,2]");
  CK_RES(l, "slice", "3, 1", "[]");
  CK_RES(l, "slice", "10, 20", "[]");
  CK_ERR(l, "slice", "'a', nil", WS_TYPE_ERROR, "slice");
  CK_ERR(l, "slice", "0, 1.5", WS_TYPE_ERROR, "slice");
  CK_ERR(l, "slice", "0, 1, 2", WS_VALUE_ERROR, "argument");
}
END_TEST

/* Proves reverse (odd, even and empty lengths) and clear, and that a
 * cleared list is usable again. */
START_TEST(test_list_reverse_clear) {
  sm_obj *l = make("list", NULL, "[1, 2, 3]");
  CK_OK(l, "reverse", "");
  CK_RES(l, "slice", "", "[3,2,1]");
  CK_OK(l, "append", "0");
  CK_OK(l, "reverse", "");
  CK_RES(l, "slice", "", "[0,1,2,3]");
  CK_OK(l, "clear", "");
  CK_RES(l, "len", "", "0");
  CK_OK(l, "reverse", "");
  CK_OK(l, "append", "'again'");
  CK_RES(l, "slice", "", "['again']");
}
END_TEST

/* Proves sort orders numbers (ints and doubles together), strings and
 * bytes, ascending and descending; the flag may be a bool or 0/1. */
START_TEST(test_list_sort) {
  sm_obj *l = make("list", NULL, "[3, 1.5, -2, 10]");
  CK_OK(l, "sort", "");
  CK_RES(l, "slice", "", "[-2,1.5,3,10]");
  CK_OK(l, "sort", "true");
  CK_RES(l, "slice", "", "[10,3,1.5,-2]");
  CK_OK(l, "sort", "0");
  CK_RES(l, "slice", "", "[-2,1.5,3,10]");
  sm_obj *s = make("list", NULL, "['b', 'a', 'ab', 'B']");
  CK_OK(s, "sort", "");
  CK_RES(s, "slice", "", "['B','a','ab','b']");
  CK_OK(s, "sort", "1");
  CK_RES(s, "slice", "", "['b','ab','a','B']");
  sm_obj *b = make("list", NULL, "[b'z', b'a']");
  CK_OK(b, "sort", "false");
  CK_RES(b, "slice", "", "[b'a',b'z']");
  CK_OK(make("list", NULL, ""), "sort", "");
}
END_TEST

/* Proves sort is stable both ways: 1.0, true and 1 compare equal and keep
 * their original order, ascending and descending (Python's reverse=True). */
START_TEST(test_list_sort_stable) {
  sm_obj *l = make("list", NULL, "[1.0, 0, true, 1, 2]");
  CK_OK(l, "sort", "");
  CK_RES(l, "slice", "", "[0,1.0,true,1,2]");
  sm_obj *d = make("list", NULL, "[1.0, 2, true, 1, 0]");
  CK_OK(d, "sort", "true");
  CK_RES(d, "slice", "", "[2,1.0,true,1,0]");
}
END_TEST

/* Proves a sort over incomparable kinds is a TYPE_ERROR that leaves the
 * list as it was, that a single item needs no comparison, and that the
 * descending flag must be a bool. */
START_TEST(test_list_sort_errors) {
  sm_obj *l = make("list", NULL, "[3, 'a', 1]");
  CK_ERR(l, "sort", "", WS_TYPE_ERROR, "compare");
  CK_RES(l, "slice", "", "[3,'a',1]");
  sm_obj *n = make("list", NULL, "[[2], [1]]");
  CK_ERR(n, "sort", "", WS_TYPE_ERROR, "compare");
  CK_RES(n, "slice", "", "[[2],[1]]");
  sm_obj *m = make("list", NULL, "[2, b'x']");
  CK_ERR(m, "sort", "", WS_TYPE_ERROR, "compare");
  CK_OK(make("list", NULL, "[[1]]"), "sort", "");
  sm_obj *k = make("list", NULL, "[2, 1]");
  CK_ERR(k, "sort", "'x'", WS_TYPE_ERROR, "bool");
  CK_ERR(k, "sort", "2", WS_TYPE_ERROR, "bool");
  CK_RES(k, "slice", "", "[2,1]");
}
END_TEST

/* Proves the merge sort on 5000 pseudo-random ints (many equal) gives a
 * non-decreasing, then non-increasing, permutation of the input. */
START_TEST(test_list_sort_many) {
  enum { N = 5000 };
  sm_obj *l = make("list", NULL, "");
  int64_t sum = 0;
  srand(7);
  for (int i = 0; i < N; i++) {
    int v = rand() % 1000 - 500;
    sum += v;
    CK_OK(l, "append", fmt("%d", v));
  }
  for (int desc = 0; desc < 2; desc++) {
    CK_OK(l, "sort", desc ? "true" : "false");
    CK_OK(l, "slice", "");
    vinfo vi, item;
    ck_assert_int_eq(vw_peek(vb_span(&result), &vi), VW_OK);
    vw_iter it;
    sm_span s;
    int64_t prev = desc ? INT64_MAX : INT64_MIN, got = 0;
    int n = 0;
    for (vw_iter_init(&it, vi.data); vw_list_next(&it, &s); n++) {
      ck_assert_int_eq(vw_peek(s, &item), VW_OK);
      if (desc)
        ck_assert_int_le(item.i, prev);
      else
        ck_assert_int_ge(item.i, prev);
      prev = item.i;
      got += item.i;
    }
    ck_assert_int_eq(n, N);
    ck_assert_int_eq(got, sum);
  }
}
END_TEST

/* ---- value ---- */

/* Proves a value starts nil or from its argument, get/set replace it, it
 * has no size, and argument counts are checked. */
START_TEST(test_value_get_set) {
  sm_obj *v = make("value", NULL, "");
  CK_RES(v, "get", "", "nil");
  CK_OK(v, "set", "5");
  CK_RES(v, "get", "", "5");
  CK_OK(v, "set", "{'a': [1]}");
  CK_RES(v, "get", "", "{'a':[1]}");
  CK_RES(make("value", NULL, "'init'"), "get", "", "'init'");
  ck_assert_ptr_null(t_value_type.size);
  CK_ERR(v, "set", "", WS_VALUE_ERROR, "argument");
  CK_ERR(v, "get", "1", WS_VALUE_ERROR, "argument");
  sm_obj *o;
  ck_assert_int_eq(make_rc("value", NULL, "1, 2", &o), WS_VALUE_ERROR);
}
END_TEST

/* Proves add answers and stores the new value: nil counts as int 0,
 * int + int stays int, a double on either side makes a double. */
START_TEST(test_value_add) {
  sm_obj *v = make("value", NULL, "");
  CK_RES(v, "add", "2", "2");
  CK_RES(v, "add", "3", "5");
  CK_RES(v, "add", "-10", "-5");
  CK_RES(v, "get", "", "-5");
  CK_RES(v, "add", "0.5", "-4.5");
  CK_RES(v, "add", "1", "-3.5");
  CK_RES(v, "get", "", "-3.5");
  sm_obj *d = make("value", NULL, "1.5");
  CK_RES(d, "add", "2", "3.5");
  sm_obj *i = make("value", NULL, "4");
  CK_RES(i, "add", "0.0", "4.0");
}
END_TEST

/* Proves int overflow either way is a VALUE_ERROR that leaves the value
 * unchanged, while adding a double to a big int does not overflow. */
START_TEST(test_value_add_overflow) {
  sm_obj *v = make("value", NULL, "9223372036854775807");
  CK_ERR(v, "add", "1", WS_VALUE_ERROR, "overflow");
  CK_RES(v, "get", "", "9223372036854775807");
  CK_RES(v, "add", "0", "9223372036854775807");
  CK_RES(v, "add", "1.0", "9.22337e+18");
  sm_obj *m = make("value", NULL, "-9223372036854775808");
  CK_ERR(m, "add", "-1", WS_VALUE_ERROR, "overflow");
  CK_RES(m, "get", "", "-9223372036854775808");
}
END_TEST

/* Proves add refuses non-numeric values and deltas (str, bool, list, nil
 * delta) with TYPE_ERROR and changes nothing. */
START_TEST(test_value_add_types) {
  sm_obj *s = make("value", NULL, "'x'");
  CK_ERR(s, "add", "1", WS_TYPE_ERROR, "str");
  CK_RES(s, "get", "", "'x'");
  CK_ERR(make("value", NULL, "true"), "add", "1", WS_TYPE_ERROR, "bool");
  CK_ERR(make("value", NULL, "[1]"), "add", "1", WS_TYPE_ERROR, "list");
  sm_obj *v = make("value", NULL, "1");
  CK_ERR(v, "add", "'a'", WS_TYPE_ERROR, "str");
  CK_ERR(v, "add", "true", WS_TYPE_ERROR, "bool");
  CK_ERR(v, "add", "nil", WS_TYPE_ERROR, "nil");
  CK_ERR(v, "add", "", WS_VALUE_ERROR, "argument");
  CK_RES(v, "get", "", "1");
}
END_TEST

/* ---- namespace ---- */

/* Proves get/set/del/len on attributes, NOT_FOUND naming the attribute,
 * and TYPE_ERROR for a name that is not a str. */
START_TEST(test_ns_attrs) {
  sm_obj *n = make("namespace", NULL, "{'x': 1, 'y': 'two'}");
  CK_RES(n, "get", "'x'", "1");
  CK_RES(n, "get", "'y'", "'two'");
  CK_ERR(n, "get", "'z'", WS_NOT_FOUND, "no attribute 'z'");
  CK_OK(n, "set", "'z', [1, 2]");
  CK_RES(n, "get", "'z'", "[1,2]");
  CK_OK(n, "set", "'x', 10");
  CK_RES(n, "get", "'x'", "10");
  CK_RES(n, "len", "", "3");
  ck_assert_uint_eq(n->type->size(n->state), 3);
  CK_OK(n, "del", "'x'");
  CK_RES(n, "len", "", "2");
  CK_ERR(n, "del", "'x'", WS_NOT_FOUND, "no attribute 'x'");
  CK_ERR(n, "get", "1", WS_TYPE_ERROR, "str");
  CK_ERR(n, "set", "b'x', 2", WS_TYPE_ERROR, "str");
  CK_ERR(n, "del", "nil", WS_TYPE_ERROR, "str");
  CK_ERR(n, "set", "'x'", WS_VALUE_ERROR, "argument");
}
END_TEST

/* Proves list answers the attribute names sorted bytewise (not in
 * insertion order), and [] for an empty namespace. */
START_TEST(test_ns_list) {
  sm_obj *n = make("namespace", NULL, "");
  CK_RES(n, "list", "", "[]");
  CK_OK(n, "set", "'b', 1");
  CK_OK(n, "set", "'a', 1");
  CK_OK(n, "set", "'ab', 1");
  CK_OK(n, "set", "'B', 1");
  CK_RES(n, "list", "", "['B','a','ab','b']");
}
END_TEST

/* Proves a namespace starts from nothing, nil or a map with str keys only;
 * anything else is a TYPE_ERROR. */
START_TEST(test_ns_create) {
  CK_RES(make("namespace", NULL, "nil"), "len", "", "0");
  sm_obj *o;
  ck_assert_int_eq(make_rc("namespace", NULL, "{'a': 1, 2: 3}", &o), WS_TYPE_ERROR);
  ck_assert_ptr_nonnull(strstr(err, "str"));
  ck_assert_int_eq(make_rc("namespace", NULL, "['a']", &o), WS_TYPE_ERROR);
}
END_TEST

/* ---- method tables ---- */

typedef struct expect_methods {
  const obj_type *t;
  const char *readers; /* space-separated, with spaces around */
  const char *writers;
} expect_methods;

/* Proves each type has exactly the methods of docs/protocol.md, that every
 * mutating method (and no other) carries METHOD_MUTATES, and that an
 * unknown method is not found. */
START_TEST(test_method_tables) {
  const expect_methods want[] = {
      {&t_dict_type, " get contains len keys values items scan copy ttl rev watch _track ",
       " set del pop popitem setdefault update clear set_if_absent cas set_ttl persist _expire "},
      {&t_list_type, " get index count len slice scan rev watch _track ",
       " append extend insert set del pop remove reverse sort clear "},
      {&t_value_type, " get rev watch _track ", " set add "},
      {&t_namespace_type, " get list len scan rev watch _track ", " set del "},
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    const obj_type *t = want[i].t;
    size_t n_expected = 0;
    for (const char *p = want[i].readers; *p; p++)
      n_expected += *p == ' ';
    for (const char *p = want[i].writers; *p; p++)
      n_expected += *p == ' ';
    ck_assert_uint_eq(t->n_methods, n_expected - 2);
    for (size_t m = 0; m < t->n_methods; m++) {
      const char *name = fmt(" %s ", t->methods[m].name);
      bool writer = strstr(want[i].writers, name) != NULL;
      ck_assert_msg(writer || strstr(want[i].readers, name), "%s.%s unexpected", t->name,
                    t->methods[m].name);
      ck_assert_msg(((t->methods[m].flags & METHOD_MUTATES) != 0) == writer, "%s.%s mutation flag",
                    t->name, t->methods[m].name);
      ck_assert_ptr_eq(type_method(t, t->methods[m].name), &t->methods[m]);
    }
    ck_assert_ptr_null(type_method(t, "no_such_method"));
  }
}
END_TEST

/* ---- references held by stored values ---- */

/* Proves a ref stored in a dict keeps an anonymous object alive after its
 * creator drops its reference, and deleting the entry frees it. */
START_TEST(test_ref_dict_value) {
  sm_obj *l = make("list", NULL, "[1]");
  uint64_t id = l->id;
  ck_assert_uint_eq(l->refs, 1);
  sm_obj *d = make("dict", "holder", "");
  CK_OK(d, "set", fmt("'k', %s", ref(l)));
  ck_assert_uint_eq(l->refs, 2);
  reg_decref(reg, l);
  ck_assert_ptr_eq(reg_get(reg, id), l);
  ck_assert_uint_eq(l->refs, 1);
  CK_RES(d, "get", "'k'", ref(l));
  CK_OK(d, "del", "'k'");
  ck_assert_ptr_null(reg_get(reg, id));
}
END_TEST

/* Proves every occurrence holds one reference (nested in lists and maps
 * too), and overwriting the entry gives them all back. */
START_TEST(test_ref_nested_counts) {
  sm_obj *q = make("value", NULL, "");
  uint64_t id = q->id;
  sm_obj *d = make("dict", "holder", "");
  char r[64];
  snprintf(r, sizeof r, "%s", ref(q));
  CK_OK(d, "set", fmt("'k', [%s, {'x': %s}, [[%s]]]", r, r, r));
  ck_assert_uint_eq(q->refs, 4);
  CK_OK(d, "set", "'k', 0");
  ck_assert_uint_eq(q->refs, 1);
  reg_decref(reg, q);
  ck_assert_ptr_null(reg_get(reg, id));
}
END_TEST

/* Proves a ref used as a dict key holds its object like a value does:
 * popitem (and del) release it. */
START_TEST(test_ref_dict_key) {
  sm_obj *a = make("list", NULL, ""), *b = make("list", NULL, "");
  uint64_t ida = a->id, idb = b->id;
  sm_obj *d = make("dict", "holder", "");
  CK_OK(d, "set", fmt("%s, 1", ref(a)));
  CK_OK(d, "set", fmt("%s, 2", ref(b)));
  CK_OK(d, "set", fmt("%s, 3", ref(a))); /* overwrite: no second key ref */
  reg_decref(reg, a);
  reg_decref(reg, b);
  ck_assert_uint_eq(a->refs, 1);
  CK_RES(d, "get", ref(b), "2");
  CK_OK(d, "popitem", "");
  ck_assert_ptr_null(reg_get(reg, idb));
  ck_assert_ptr_eq(reg_get(reg, ida), a);
  CK_OK(d, "del", ref(a));
  ck_assert_ptr_null(reg_get(reg, ida));
}
END_TEST

/* Proves the other dict paths release or take references: pop, cas
 * swapping a ref out, update, setdefault, clear, and creation from a map. */
START_TEST(test_ref_dict_paths) {
  sm_obj *o = make("namespace", NULL, "");
  sm_obj *d = make("dict", NULL, fmt("{'a': %s}", ref(o)));
  ck_assert_uint_eq(o->refs, 2);
  CK_OK(d, "update", fmt("{'b': %s, 'c': %s}", ref(o), ref(o)));
  CK_OK(d, "setdefault", fmt("'e', %s", ref(o)));
  CK_OK(d, "setdefault", fmt("'e', %s", ref(o))); /* present: nothing stored */
  ck_assert_uint_eq(o->refs, 5);
  CK_OK(d, "pop", "'a'");
  ck_assert_uint_eq(o->refs, 4);
  CK_RES(d, "cas", fmt("'b', %s, 1", ref(o)), fmt("[true,%s]", ref(o)));
  ck_assert_uint_eq(o->refs, 3);
  CK_OK(d, "clear", "");
  ck_assert_uint_eq(o->refs, 1);
  CK_OK(d, "set", fmt("'z', %s", ref(o)));
  ck_assert_uint_eq(o->refs, 2);
  reg_decref(reg, d); /* destroying the anonymous dict releases its entries */
  ck_assert_uint_eq(o->refs, 1);
}
END_TEST

/* Proves list items hold references through reorderings and give them back
 * on pop, remove, set, del and clear. */
START_TEST(test_ref_list) {
  sm_obj *o = make("dict", NULL, "");
  char r[64];
  snprintf(r, sizeof r, "%s", ref(o));
  sm_obj *l = make("list", "holder", fmt("[%s, 1]", r));
  CK_OK(l, "append", r);
  CK_OK(l, "extend", fmt("[%s, %s]", r, r));
  CK_OK(l, "insert", fmt("0, %s", r));
  ck_assert_uint_eq(o->refs, 6);
  CK_OK(l, "reverse", "");
  ck_assert_uint_eq(o->refs, 6);
  CK_OK(l, "pop", "");
  CK_OK(l, "remove", r);
  CK_OK(l, "set", "0, 'x'");
  ck_assert_uint_eq(o->refs, 3);
  CK_RES(l, "slice", "", fmt("['x',%s,1,%s]", r, r));
  CK_OK(l, "del", "1");
  ck_assert_uint_eq(o->refs, 2);
  CK_OK(l, "clear", "");
  ck_assert_uint_eq(o->refs, 1);
}
END_TEST

/* Proves value and namespace hold references, set releases the replaced
 * one, and destroying a named namespace (delete) releases what it held. */
START_TEST(test_ref_value_namespace) {
  sm_obj *o = make("list", NULL, "");
  uint64_t id = o->id;
  sm_obj *v = make("value", "v", ref(o));
  ck_assert_uint_eq(o->refs, 2);
  CK_OK(v, "set", "1");
  ck_assert_uint_eq(o->refs, 1);
  CK_OK(v, "set", ref(o));
  sm_obj *n = make("namespace", "ns", "");
  CK_OK(n, "set", fmt("'a', %s", ref(o)));
  CK_OK(n, "set", fmt("'b', [%s]", ref(o)));
  ck_assert_uint_eq(o->refs, 4);
  CK_OK(n, "del", "'a'");
  ck_assert_uint_eq(o->refs, 3);
  reg_destroy(reg, n);
  ck_assert_uint_eq(o->refs, 2);
  reg_decref(reg, o);
  reg_destroy(reg, v);
  ck_assert_ptr_null(reg_get(reg, id));
}
END_TEST

/* Proves a chain of anonymous objects held only through stored refs is
 * freed entirely once the head is dropped. */
START_TEST(test_ref_chain) {
  enum { N = 50 };
  uint64_t ids[N];
  sm_obj *prev = make("list", NULL, "");
  ids[0] = prev->id;
  for (int i = 1; i < N; i++) {
    sm_obj *o = make("list", NULL, fmt("[%s]", ref(prev)));
    reg_decref(reg, prev); /* now held only by o */
    ids[i] = o->id;
    prev = o;
  }
  for (int i = 0; i < N; i++)
    ck_assert_ptr_nonnull(reg_get(reg, ids[i]));
  reg_decref(reg, prev);
  for (int i = 0; i < N; i++)
    ck_assert_ptr_null(reg_get(reg, ids[i]));
}
END_TEST

Suite *types_suite(void) {
  Suite *s = suite_create("types");
  const smtest_group groups[] = {
      {"dict",
       {test_dict_create, test_dict_get_set_del, test_dict_key_kinds, test_dict_unhashable,
        test_dict_order, test_dict_pop, test_dict_popitem, test_dict_setdefault,
        test_dict_update_clear_copy, test_dict_set_if_absent, test_dict_cas}},
      {"list",
       {test_list_create, test_list_grow, test_list_index_access, test_list_pop, test_list_search,
        test_list_slice, test_list_reverse_clear, test_list_sort, test_list_sort_stable,
        test_list_sort_errors, test_list_sort_many}},
      {"value",
       {test_value_get_set, test_value_add, test_value_add_overflow, test_value_add_types}},
      {"namespace", {test_ns_attrs, test_ns_list, test_ns_create}},
      {"methods", {test_method_tables}},
      {"refs",
       {test_ref_dict_value, test_ref_nested_counts, test_ref_dict_key, test_ref_dict_paths,
        test_ref_list, test_ref_value_namespace, test_ref_chain}},
  };
  smtest_add_groups(s, groups, sizeof groups / sizeof groups[0], setup, teardown);
  return s;
}
