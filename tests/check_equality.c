/* SPDX-License-Identifier: MIT */
/* check_equality.c - one equality and hash for values, Python's rules, on
 * both sides (proto/vequal.h).
 *
 * The shared rules on packed values, without a daemon: numbers across
 * bool/int/double (big ints exact against doubles, -0.0, NaN), str against
 * bytes, nil, refs, nested lists and maps (large ones too), hashes that
 * agree with equality, an order that agrees with it, and the duplicate key
 * check. Against a real statemgrd: dict keys find 1 by 1.0 and True, list
 * count/index/remove match mixed numbers and maps in any entry order,
 * compare-and-set compares by value, sort orders big ints exactly against
 * doubles, and a map holding two equal keys is refused. In the client:
 * sm_value_map_set and sm_value_equal follow the same rules (a property
 * test holds the tree walker to the packed one on random values), and
 * building a map costs work linear in its size. */
#include "client/value_internal.h"
#include "proto/msg.h"
#include "proto/vequal.h"
#include "smtest.h"
#include "smtest_unit.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Asserts the text form of v, then frees v. */
#define expect smtest_expect_value

#define TWO53 9007199254740992LL /* 2^53: the last int every double holds */

/* ---- the shared rules on packed values ---- */

/* text (smtest_unit.h's notation) packed into one of a few rotating
 * buffers, validated as dispatch does. Borrowed for the next 7 calls. */
static sm_span pk(const char *text) {
  static vbuf bufs[8];
  static unsigned next;
  vbuf *b = &bufs[next++ % 8];
  vb_reset(b);
  const char *s = text;
  smtest_parse(&s, b);
  ck_assert_msg(*s == '\0' && !b->failed, "cannot pack '%s'", text);
  ck_assert_int_eq(vw_scan(vb_span(b), VW_DEPTH_DEFAULT, NULL, NULL), VW_OK);
  return vb_span(b);
}

/* Equal both ways, and matching; hashables hash alike. */
static void ck_equal(const char *a, const char *b) {
  ck_assert_msg(veq_equal(pk(a), pk(b)) && veq_equal(pk(b), pk(a)), "%s == %s", a, b);
  ck_assert_msg(veq_match(pk(a), pk(b)) && veq_match(pk(b), pk(a)), "%s matches %s", a, b);
  vinfo x;
  vw_peek(pk(a), &x);
  if (x.kind != VK_LIST && x.kind != VK_MAP)
    ck_assert_msg(veq_hash(pk(a)) == veq_hash(pk(b)), "hash(%s) == hash(%s)", a, b);
}

/* Not equal either way. */
static void ck_differ(const char *a, const char *b) {
  ck_assert_msg(!veq_equal(pk(a), pk(b)) && !veq_equal(pk(b), pk(a)), "%s != %s", a, b);
}

/* Proves numbers compare by value across bool, int and double and hash
 * alike (1, 1.0, True; 0, -0.0, False), ints compare exactly with doubles
 * past 2^53 and at the int64 limits, NaN equals nothing (not even itself)
 * but matches the same NaN as a container element would, and the other
 * kinds keep apart: str and bytes, nil and 0/False/'', refs by id only. */
START_TEST(rules_scalars) {
  ck_equal("1", "1.0");
  ck_equal("1", "true");
  ck_equal("true", "1.0");
  ck_equal("0", "-0.0");
  ck_equal("0", "false");
  ck_equal("-0.0", "0.0");
  ck_equal("-5", "-5.0");
  ck_differ("1", "2");
  ck_differ("0.5", "0");
  ck_differ("true", "2");
  ck_equal("9007199254740992", "9007199254740992.0");
  ck_differ("9007199254740993", "9007199254740992.0");
  ck_differ("9223372036854775807", "9223372036854775808.0");
  ck_equal("-9223372036854775808", "-9223372036854775808.0");
  ck_differ("-9223372036854775807", "-9223372036854775808.0");
  ck_differ("9223372036854775807", "inf");
  ck_equal("inf", "inf");
  ck_differ("inf", "-inf");
  ck_differ("nan", "nan");
  ck_differ("nan", "0");
  ck_assert(veq_match(pk("nan"), pk("nan"))); /* the same bits */
  ck_assert(!veq_equal(pk("[nan]"), pk("[1]")));
  ck_differ("1", "'1'");
  ck_differ("'a'", "b'a'");
  ck_equal("'a'", "'a'");
  ck_equal("nil", "nil");
  ck_differ("nil", "0");
  ck_differ("nil", "false");
  ck_differ("nil", "''");
  ck_differ("nil", "[]");
  ck_equal("@5:dict", "@5:list");
  ck_differ("@5:dict", "@6:dict");
  ck_differ("@5:dict", "5");

  /* The hash of a top level is the hash of its bytes; a few distinct
   * values hash apart (a constant hash would pass the checks above). */
  const char *some[] = {"nil", "2", "2.5", "'2'", "b'2'", "@2:dict", "inf", "nan"};
  for (size_t i = 0; i < sizeof some / sizeof some[0]; i++) {
    vinfo vi;
    vw_peek(pk(some[i]), &vi);
    ck_assert_uint_eq(veq_hash_info(&vi), veq_hash(pk(some[i])));
    for (size_t j = 0; j < i; j++)
      ck_assert_msg(veq_hash(pk(some[i])) != veq_hash(pk(some[j])), "%s, %s", some[i], some[j]);
  }
}
END_TEST

/* Proves lists compare element by element (in order, numbers by value),
 * maps as sets of pairs in any order, nested ones too, small and large
 * (indexed) alike; a list holding a NaN equals a list holding the same
 * NaN; and bytes holding two equal keys (which the daemon refuses) still
 * compare symmetrically. */
START_TEST(rules_containers) {
  ck_equal("[1, 2.0]", "[1.0, 2]");
  ck_differ("[1, 2]", "[2, 1]");
  ck_differ("[1]", "[1, 1]");
  ck_differ("[]", "{}");
  ck_differ("[]", "nil");
  ck_equal("{'a': 1, 'b': 2}", "{'b': 2.0, 'a': true}");
  ck_differ("{'a': 1}", "{'a': 2}");
  ck_differ("{'a': 1}", "{'b': 1}");
  ck_differ("{'a': 1}", "{'a': 1, 'b': 2}");
  ck_equal("{1: 'x', 'k': nil}", "{'k': nil, 1.0: 'x'}");
  ck_equal("[{1: [1, {2: 'x'}]}, 'z']", "[{1.0: [true, {2.0: 'x'}]}, 'z']");
  ck_differ("[{1: [1, {2: 'x'}]}]", "[{1: [1, {2: 'y'}]}]");
  ck_equal("[nan, {'n': nan}]", "[nan, {'n': nan}]");
  ck_differ("{1: 'a', 1.0: 'a'}", "{1: 'a', 2: 'b'}");

  /* 100 entries: past the scanning size, so the indexed path runs. */
  char fwd[4096], rev[4096], chg[4096];
  size_t a = 0, b = 0, c = 0;
  a += (size_t)snprintf(fwd + a, sizeof fwd - a, "{");
  b += (size_t)snprintf(rev + b, sizeof rev - b, "{");
  c += (size_t)snprintf(chg + c, sizeof chg - c, "{");
  for (int i = 0; i < 100; i++) {
    int j = 99 - i;
    a += (size_t)snprintf(fwd + a, sizeof fwd - a, "%s%d: [%d]", i ? ", " : "", i, i);
    b += (size_t)snprintf(rev + b, sizeof rev - b, "%s%d.0: [%d.0]", i ? ", " : "", j, j);
    c += (size_t)snprintf(chg + c, sizeof chg - c, "%s%d: [%d]", i ? ", " : "", i, i == 57 ? 0 : i);
  }
  snprintf(fwd + a, sizeof fwd - a, "}");
  snprintf(rev + b, sizeof rev - b, "}");
  snprintf(chg + c, sizeof chg - c, "}");
  ck_equal(fwd, rev);
  ck_differ(fwd, chg);
  ck_differ(rev, chg);
}
END_TEST

/* Proves the sort order agrees with equality on every pair of a pool of
 * numbers (0 exactly when equal), is antisymmetric and transitive, orders
 * ints and doubles exactly (2^53 + 1 after the double 2^53, INT64_MAX
 * before 2^63), and refuses the pairs Python refuses. */
START_TEST(rules_order) {
  const char *pool[] = {"-inf",
                        "-9223372036854775808",
                        "-9223372036854775808.0",
                        "-3",
                        "-2.5",
                        "-0.0",
                        "0",
                        "false",
                        "0.5",
                        "1",
                        "true",
                        "1.0",
                        "2.5",
                        "3",
                        "9007199254740991",
                        "9007199254740992.0",
                        "9007199254740993",
                        "9223372036854775807",
                        "9223372036854775808.0",
                        "inf"};
  size_t n = sizeof pool / sizeof pool[0];
  vinfo v[sizeof pool / sizeof pool[0]];
  for (size_t i = 0; i < n; i++)
    vw_peek(pk(pool[i]), &v[i]);
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < n; j++) {
      bool ok;
      int c = veq_compare(&v[i], &v[j], &ok);
      ck_assert(ok);
      ck_assert_msg((c == 0) == veq_info_equal(&v[i], &v[j]), "%s vs %s", pool[i], pool[j]);
      bool ok2;
      int back = veq_compare(&v[j], &v[i], &ok2);
      ck_assert_int_eq((c > 0) - (c < 0), -((back > 0) - (back < 0)));
      /* The pool is written in ascending order. */
      if (c < 0) ck_assert_msg(i < j, "%s < %s", pool[i], pool[j]);
      for (size_t k = 0; k < n; k++) {
        int d = veq_compare(&v[j], &v[k], &ok2);
        if (c <= 0 && d <= 0) ck_assert_int_le(veq_compare(&v[i], &v[k], &ok2), 0);
      }
    }
  const char *apart[][2] = {{"1", "'1'"},   {"'a'", "b'a'"}, {"nil", "0"},
                            {"[1]", "[1]"}, {"{}", "{}"},    {"@1:dict", "@1:dict"}};
  for (size_t i = 0; i < sizeof apart / sizeof apart[0]; i++) {
    vinfo x, y;
    bool ok = true;
    vw_peek(pk(apart[i][0]), &x);
    vw_peek(pk(apart[i][1]), &y);
    ck_assert_int_eq(veq_compare(&x, &y, &ok), 0);
    ck_assert_msg(!ok, "%s and %s are not ordered", apart[i][0], apart[i][1]);
  }
  vinfo nil, s1, s2;
  bool ok;
  vw_peek(pk("nil"), &nil);
  ck_assert_int_eq(veq_compare(&nil, &nil, &ok), 0);
  ck_assert(ok);
  vw_peek(pk("'ab'"), &s1);
  vw_peek(pk("'b'"), &s2);
  ck_assert_int_lt(veq_compare(&s1, &s2, &ok), 0);
}
END_TEST

/* Proves veq_check_keys finds two equal keys in a map wherever it sits
 * (1 and 1.0, True, -0.0 and 0, the same NaN, refs to one id, nested in a
 * list or a map value, at the end of a large map) and accepts keys that
 * only look alike ('a' and b'a', distinct NaN-free numbers). */
START_TEST(rules_unique_keys) {
  const char *dup[] = {"{1: 'a', 1.0: 'b'}",       "{1: 'a', true: 'b'}",
                       "{0: 1, -0.0: 2}",          "{nan: 1, nan: 2}",
                       "{@1:dict: 1, @1:list: 2}", "[1, {2: [{3: 1, 3.0: 2}]}]",
                       "{'x': {'y': 1, 'y': 2}}",  "{nil: 1, nil: 2}"};
  for (size_t i = 0; i < sizeof dup / sizeof dup[0]; i++)
    ck_assert_msg(veq_check_keys(pk(dup[i])) == VEQ_DUP_KEY, "%s", dup[i]);
  const char *ok[] = {"{'a': 1, b'a': 2}", "{1: 1, 2: 2, 1.5: 3, '1': 4, nil: 5}", "[{}, []]",
                      "{'x': {1: 1}, 'y': {1: 1}}", "7"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    ck_assert_msg(veq_check_keys(pk(ok[i])) == VEQ_OK, "%s", ok[i]);
  char big[4096];
  size_t n = (size_t)snprintf(big, sizeof big, "{");
  for (int i = 0; i < 60; i++)
    n += (size_t)snprintf(big + n, sizeof big - n, "%d: %d, ", i, i);
  snprintf(big + n, sizeof big - n, "'end': 0}");
  ck_assert_int_eq(veq_check_keys(pk(big)), VEQ_OK);
  snprintf(big + n, sizeof big - n, "59.0: 0}");
  ck_assert_int_eq(veq_check_keys(pk(big)), VEQ_DUP_KEY);
}
END_TEST

/* ---- the daemon ---- */

/* A map from alternating key/value pairs (takes ownership). */
static sm_value *map_of(size_t n, sm_value **kv) {
  sm_value *m = sm_value_map();
  for (size_t i = 0; i + 1 < n; i += 2)
    ck_assert_int_eq(sm_value_map_set(m, kv[i], kv[i + 1]), 0);
  return m;
}

/* A list of the given items (takes ownership). */
static sm_value *list_of(size_t n, sm_value **items) {
  sm_value *l = sm_value_list();
  for (size_t i = 0; i < n; i++)
    ck_assert_int_eq(sm_value_list_append(l, items[i]), 0);
  return l;
}

/* {'a': 1, 'b': 2} when ab, else {'b': 2, 'a': 1}: equal maps whose
 * entries (and so whose packed bytes) come in another order. */
static sm_value *map_ab(bool ab) {
  if (ab) {
    sm_value *kv[] = {sm_value_str("a"), sm_value_int(1), sm_value_str("b"), sm_value_int(2)};
    return map_of(4, kv);
  }
  sm_value *kv[] = {sm_value_str("b"), sm_value_double(2.0), sm_value_str("a"),
                    sm_value_bool(true)};
  return map_of(4, kv);
}

/* The value stored under key in d, as text ("<absent>" when not found). */
static const char *dict_text(sm_dict *d, sm_value *key) {
  static char buf[256];
  sm_value *out = NULL;
  int rc = sm_dict_get(d, key, &out);
  sm_value_free(key);
  if (rc == SM_ENOTFOUND) return "<absent>";
  ck_assert_msg(rc == SM_OK, "get: %s", sm_last_error());
  char *t = sm_value_to_text(out);
  snprintf(buf, sizeof buf, "%s", t);
  sm_free(t);
  sm_value_free(out);
  return buf;
}

/* d[1] is found by 1.0 and True, 0 by -0.0 and False; a second equal key
 * replaces the value and keeps the first key, as in Python; ints beyond
 * 2^53 are exact against doubles; str and bytes, nil and 0 stay apart; a
 * stored NaN is found by the same NaN; a ref is found by another ref to
 * its object. */
START_TEST(test_dict_keys) {
  sm_client *c = smtest_connect_i(_i);
  sm_dict *d;
  OK(sm_dict_open(c, NULL, &d));
  sm_value *one = sm_value_int(1), *a = sm_value_str("a");
  OK(sm_dict_set(d, one, a));
  ck_assert_str_eq(dict_text(d, sm_value_double(1.0)), "a");
  ck_assert_str_eq(dict_text(d, sm_value_bool(true)), "a");
  bool has = false;
  sm_value *k = sm_value_double(1.0);
  OK(sm_dict_contains(d, k, &has));
  ck_assert(has);
  sm_value *b = sm_value_str("b");
  OK(sm_dict_set(d, k, b)); /* replaces d[1], keeps the key 1 */
  sm_value *out = NULL;
  OK(sm_dict_keys(d, &out));
  expect(out, "[1]");
  ck_assert_str_eq(dict_text(d, sm_value_int(1)), "b");

  sm_value *zero = sm_value_double(-0.0), *z = sm_value_str("zero");
  OK(sm_dict_set(d, zero, z));
  ck_assert_str_eq(dict_text(d, sm_value_int(0)), "zero");
  ck_assert_str_eq(dict_text(d, sm_value_bool(false)), "zero");
  ck_assert_str_eq(dict_text(d, sm_value_nil()), "<absent>");

  sm_value *big = sm_value_int(TWO53 + 1), *dbl = sm_value_double((double)TWO53);
  OK(sm_dict_set(d, big, big));
  ck_assert_str_eq(dict_text(d, sm_value_double((double)TWO53)), "<absent>");
  OK(sm_dict_set(d, dbl, dbl));
  ck_assert_str_eq(dict_text(d, sm_value_int(TWO53)), "9007199254740992.0");
  ck_assert_str_eq(dict_text(d, sm_value_int(TWO53 + 1)), "9007199254740993");
  ck_assert_str_eq(dict_text(d, sm_value_double(9223372036854775808.0)), "<absent>");

  sm_value *sx = sm_value_str("x"), *bx = sm_value_bytes("x", 1);
  OK(sm_dict_set(d, sx, sx));
  ck_assert_str_eq(dict_text(d, sm_value_bytes("x", 1)), "<absent>");
  OK(sm_dict_set(d, bx, bx));

  sm_value *nan = sm_value_double(NAN);
  OK(sm_dict_set(d, nan, one));
  OK(sm_dict_set(d, nan, a)); /* the same NaN: the same key */
  ck_assert_str_eq(dict_text(d, sm_value_double(NAN)), "a");
  size_t n = 0;
  OK(sm_dict_len(d, &n));
  ck_assert_uint_eq(n, 7); /* 1, -0.0, 2^53 + 1, 2^53, 'x', b'x', nan */

  sm_value *t = sm_value_bool(true);
  OK(sm_dict_pop(d, t, &out)); /* pops the key 1 */
  expect(out, "b");
  bool set = true;
  OK(sm_dict_set_if_absent(d, zero, one, &set)); /* 0 is there already */
  ck_assert(!set);
  OK(sm_dict_del(d, zero));
  OK(sm_dict_copy(d, &out));
  expect(out, "{9007199254740993: 9007199254740993, 9007199254740992.0: 9007199254740992.0, "
              "'x': 'x', b'x': b'x', nan: 'a'}");

  sm_dict *other, *again;
  OK(sm_dict_open(c, NULL, &other));
  sm_value *ref = sm_proxy_ref(sm_dict_proxy(other));
  OK(sm_dict_set(d, ref, a));
  OK(sm_dict_from_ref(c, ref, &again)); /* another proxy of the same object */
  ck_assert_str_eq(dict_text(d, sm_proxy_ref(sm_dict_proxy(again))), "a");
  sm_dict_free(again);

  sm_value *vals[] = {one, a, k, b, zero, z, big, dbl, sx, bx, nan, t, ref};
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
    sm_value_free(vals[i]);
  sm_dict_free(other);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* [1, 1.0, 2].count(1) is 2; count, index and remove find True by 1, a
 * map by an equal map in another order, a list by element-wise equal
 * numbers; a big int is not the double next to it. */
START_TEST(test_list_search) {
  sm_client *c = smtest_connect_i(_i);
  sm_list *l;
  OK(sm_list_open(c, NULL, &l));
  sm_value *items[] = {sm_value_int(1), sm_value_double(1.0), sm_value_int(2)};
  sm_value *init = list_of(3, items);
  OK(sm_list_extend(l, init));
  sm_value *one = sm_value_int(1), *t = sm_value_bool(true);
  size_t n = 0;
  OK(sm_list_count(l, one, &n));
  ck_assert_uint_eq(n, 2);
  OK(sm_list_count(l, t, &n));
  ck_assert_uint_eq(n, 2);

  sm_value *ab = map_ab(true), *ba = map_ab(false);
  sm_value *inner_items[] = {sm_value_int(1), sm_value_double(2.0)};
  sm_value *inner = list_of(2, inner_items);
  sm_value *inner_eq_items[] = {sm_value_double(1.0), sm_value_int(2)};
  sm_value *inner_eq = list_of(2, inner_eq_items);
  sm_value *big = sm_value_int(TWO53 + 1), *dbl = sm_value_double((double)TWO53);
  OK(sm_list_append(l, ab));
  OK(sm_list_append(l, inner));
  OK(sm_list_append(l, big));
  OK(sm_list_count(l, ba, &n));
  ck_assert_uint_eq(n, 1);
  int64_t at = -1;
  OK(sm_list_index(l, ba, &at));
  ck_assert_int_eq(at, 3);
  OK(sm_list_index(l, inner_eq, &at));
  ck_assert_int_eq(at, 4);
  OK(sm_list_count(l, dbl, &n));
  ck_assert_uint_eq(n, 0);
  FAILS(sm_list_index(l, dbl, &at), SM_EVALUE);
  OK(sm_list_remove(l, ba));
  OK(sm_list_remove(l, t)); /* the first item equal to True: 1 */
  sm_value *all = NULL;
  OK(sm_list_slice(l, 0, INT64_MAX, &all));
  expect(all, "[1.0, 2, [1, 2.0], 9007199254740993]");

  sm_value *vals[] = {init, one, t, ab, ba, inner, inner_eq, big, dbl};
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
    sm_value_free(vals[i]);
  sm_list_free(l);
  sm_client_free(c);
}
END_TEST

/* cas compares the stored value by value: 1 matches 1.0, a map matches the
 * same entries in another order, a stored NaN matches the same NaN; str
 * and bytes do not match. */
START_TEST(test_cas) {
  sm_client *c = smtest_connect_i(_i);
  sm_dict *d;
  OK(sm_dict_open(c, NULL, &d));
  sm_value *k = sm_value_str("k"), *one = sm_value_int(1), *onef = sm_value_double(1.0);
  sm_value *x = sm_value_str("x"), *bx = sm_value_bytes("x", 1);
  OK(sm_dict_set(d, k, one));
  bool swapped = false;
  OK(sm_dict_cas(d, k, onef, x, &swapped, NULL));
  ck_assert(swapped);
  OK(sm_dict_cas(d, k, bx, one, &swapped, NULL));
  ck_assert(!swapped);

  sm_value *ab = map_ab(true), *ba = map_ab(false);
  OK(sm_dict_set(d, k, ab));
  sm_value *cur = NULL;
  OK(sm_dict_cas(d, k, ba, one, &swapped, &cur));
  ck_assert(swapped);
  expect(cur, "{'a': 1, 'b': 2}");

  sm_value *nan = sm_value_double(NAN);
  OK(sm_dict_set(d, k, nan));
  OK(sm_dict_cas(d, k, nan, onef, &swapped, NULL));
  ck_assert(swapped);
  ck_assert_str_eq(dict_text(d, sm_value_str("k")), "1.0");

  sm_value *vals[] = {k, one, onef, x, bx, ab, ba, nan};
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
    sm_value_free(vals[i]);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* sort orders ints and doubles exactly (2^53 + 1 after the double 2^53),
 * keeps equal numbers (1.0, True, 1) in their order both ways, and refuses
 * a str among numbers with SM_ETYPE, leaving the list as it was. */
START_TEST(test_sort) {
  sm_client *c = smtest_connect_i(_i);
  sm_list *l;
  OK(sm_list_open(c, NULL, &l));
  sm_value *items[] = {sm_value_int(TWO53 + 1), sm_value_double((double)TWO53),
                       sm_value_double(1.0),    sm_value_bool(true),
                       sm_value_int(1),         sm_value_double(0.5),
                       sm_value_int(TWO53 - 1)};
  sm_value *init = list_of(7, items);
  OK(sm_list_extend(l, init));
  OK(sm_list_sort(l, false));
  sm_value *all = NULL;
  OK(sm_list_slice(l, 0, INT64_MAX, &all));
  expect(all, "[0.5, 1.0, True, 1, 9007199254740991, 9007199254740992.0, 9007199254740993]");
  OK(sm_list_sort(l, true));
  OK(sm_list_slice(l, 0, INT64_MAX, &all));
  expect(all, "[9007199254740993, 9007199254740992.0, 9007199254740991, 1.0, True, 1, 0.5]");
  OK(sm_list_append_str(l, "a"));
  FAILS(sm_list_sort(l, false), SM_ETYPE);
  OK(sm_list_slice(l, 0, INT64_MAX, &all));
  expect(all, "[9007199254740993, 9007199254740992.0, 9007199254740991, 1.0, True, 1, 0.5, 'a']");
  sm_value_free(init);
  sm_list_free(l);
  sm_client_free(c);
}
END_TEST

/* A map with two equal keys (1 and 1.0), which a client can only send by
 * writing the bytes itself, is refused with VALUE_ERROR wherever it sits
 * (a dict value, inside a list, a large map); the same map without the
 * duplicate is stored. */
START_TEST(test_duplicate_keys_refused) {
  sm_client *c = smtest_connect_i(0);
  sm_dict *d;
  OK(sm_dict_open(c, "dups", &d));
  sm_value *ref = sm_proxy_ref(sm_dict_proxy(d));
  uint64_t id = sm_value_ref_id(ref);
  int fd = smtest_raw_authed();
  vbuf key, small, big, nested, plain;
  vb_init(&key);
  vb_init(&small);
  vb_init(&big);
  vb_init(&nested);
  vb_init(&plain);
  vb_str(&key, "k", 1);
  vbuf one, onef, val;
  vb_init(&one);
  vb_init(&onef);
  vb_init(&val);
  vb_int(&one, 1);
  vb_double(&onef, 1.0);
  vb_str(&val, "v", 1);
  size_t m = vb_map_begin(&small);
  vb_map_entry(&small, vb_span(&one), vb_span(&val));
  vb_map_entry(&small, vb_span(&onef), vb_span(&val));
  vb_map_end(&small, m);
  size_t mb = vb_map_begin(&big), mp = vb_map_begin(&plain);
  for (int i = 0; i < 40; i++) { /* 40 distinct ints, then 1.0 again in big */
    vbuf ik;
    vb_init(&ik);
    vb_int(&ik, i);
    vb_map_entry(&big, vb_span(&ik), vb_span(&val));
    vb_map_entry(&plain, vb_span(&ik), vb_span(&val));
    vb_free(&ik);
  }
  vb_map_entry(&big, vb_span(&onef), vb_span(&val));
  vb_map_end(&big, mb);
  vb_map_end(&plain, mp);
  m = vb_list_begin(&nested);
  vb_list_item(&nested, vb_span(&val));
  vb_list_item(&nested, vb_span(&small));
  vb_list_end(&nested, m);

  char err[256];
  sm_span args[2] = {vb_span(&key), vb_span(&small)};
  ck_assert_int_eq(smtest_raw_call(fd, 1, id, "set", args, 2, err, sizeof err), WS_VALUE_ERROR);
  ck_assert_msg(strstr(err, "equal keys") != NULL, "error text: %s", err);
  args[1] = vb_span(&nested);
  ck_assert_int_eq(smtest_raw_call(fd, 2, id, "set", args, 2, err, sizeof err), WS_VALUE_ERROR);
  args[1] = vb_span(&big);
  ck_assert_int_eq(smtest_raw_call(fd, 3, id, "update", &args[1], 1, err, sizeof err),
                   WS_VALUE_ERROR);
  args[1] = vb_span(&plain);
  ck_assert_int_eq(smtest_raw_call(fd, 4, id, "update", &args[1], 1, err, sizeof err), WS_OK);
  size_t n = 0;
  OK(sm_dict_len(d, &n));
  ck_assert_uint_eq(n, 40);
  close(fd);

  vbuf *bufs[] = {&key, &small, &big, &nested, &plain, &one, &onef, &val};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
    vb_free(bufs[i]);
  sm_value_free(ref);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* ---- the client's values, no daemon ---- */

/* sm_value_map_set treats 1, 1.0 and True as one key (the first key stays,
 * the last value wins) and -0.0 as 0; sm_value_map_get finds keys by
 * value; sm_value_equal compares numbers by value, maps in any order,
 * lists element by element, refs by id; a NaN is not equal to itself, but
 * a list holding it equals a list holding the same NaN. */
START_TEST(test_client_values) {
  sm_value *m = sm_value_map();
  ck_assert_int_eq(sm_value_map_set(m, sm_value_int(1), sm_value_str("int")), 0);
  ck_assert_int_eq(sm_value_map_set(m, sm_value_double(1.0), sm_value_str("double")), 0);
  ck_assert_int_eq(sm_value_map_set(m, sm_value_bool(true), sm_value_str("bool")), 0);
  ck_assert_int_eq(sm_value_map_set(m, sm_value_double(-0.0), sm_value_str("zero")), 0);
  ck_assert_int_eq(sm_value_map_set(m, sm_value_int(0), sm_value_str("int zero")), 0);
  smtest_expect_value(sm_value_copy(m), "{1: 'bool', -0.0: 'int zero'}");
  sm_value *f = sm_value_bool(false);
  ck_assert_str_eq(sm_value_as_str(sm_value_map_get(m, f), NULL), "int zero");

  sm_value *i = sm_value_int(1), *d = sm_value_double(1.0), *t = sm_value_bool(true);
  ck_assert(sm_value_equal(i, d));
  ck_assert(sm_value_equal(t, d));
  sm_value *big = sm_value_int(TWO53 + 1), *dbl = sm_value_double((double)TWO53);
  ck_assert(!sm_value_equal(big, dbl));
  sm_value *ab = map_ab(true), *ba = map_ab(false);
  ck_assert(sm_value_equal(ab, ba));
  sm_value *r1 = val_ref_new(7, "dict", 4), *r2 = val_ref_new(7, "list", 4);
  ck_assert(sm_value_equal(r1, r2));
  sm_value *nan = sm_value_double(NAN);
  ck_assert(!sm_value_equal(nan, nan));
  sm_value *ln1 = list_of(1, (sm_value *[]){sm_value_double(NAN)});
  sm_value *ln2 = list_of(1, (sm_value *[]){sm_value_double(NAN)});
  ck_assert(sm_value_equal(ln1, ln2));
  sm_value *s = sm_value_str("x"), *b = sm_value_bytes("x", 1);
  ck_assert(!sm_value_equal(s, b));

  sm_value *vals[] = {m, f, i, d, t, big, dbl, ab, ba, r1, r2, nan, ln1, ln2, s, b};
  for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++)
    sm_value_free(vals[k]);
}
END_TEST

/* A deterministic xorshift generator, so a failing case reproduces. */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(uint64_t n) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng % n;
}

/* Scalars in groups of equal values: member m of group g. */
#define N_GROUPS 15
static sm_value *scalar(unsigned g, unsigned m) {
  switch (g) {
  case 0: return m == 0 ? sm_value_int(0) : m == 1 ? sm_value_double(-0.0) : sm_value_bool(false);
  case 1: return m == 0 ? sm_value_int(1) : m == 1 ? sm_value_double(1.0) : sm_value_bool(true);
  case 2: return m % 2 ? sm_value_double(2.0) : sm_value_int(2);
  case 3: return m % 2 ? sm_value_double((double)TWO53) : sm_value_int(TWO53);
  case 4: return sm_value_int(TWO53 + 1);
  case 5: return sm_value_double(0.5);
  case 6: return sm_value_double(NAN);
  case 7: return m % 2 ? sm_value_double(-0x1p63) : sm_value_int(INT64_MIN);
  case 8: return sm_value_double(0x1p63);
  case 9: return sm_value_str(m % 2 ? "a" : "a");
  case 10: return sm_value_bytes("a", 1);
  case 11: return sm_value_nil();
  case 12: return val_ref_new(3, m % 2 ? "list" : "dict", 4);
  case 13: return sm_value_str("");
  default: return sm_value_double(INFINITY);
  }
}

/* Makes two values of the same shape whose scalars are equal members of
 * the same groups, except that about one scalar in 25 differs; maps get
 * their entries in different orders. */
static void gen_pair(unsigned depth, sm_value **a, sm_value **b) {
  uint64_t kind = depth == 0 ? 0 : rnd(5);
  if (kind < 3) {
    unsigned g = (unsigned)rnd(N_GROUPS);
    *a = scalar(g, (unsigned)rnd(3));
    *b = scalar(rnd(25) == 0 ? (unsigned)rnd(N_GROUPS) : g, (unsigned)rnd(3));
  } else if (kind == 3) {
    *a = sm_value_list();
    *b = sm_value_list();
    for (uint64_t n = rnd(4); n > 0; n--) {
      sm_value *x, *y;
      gen_pair(depth - 1, &x, &y);
      ck_assert_int_eq(sm_value_list_append(*a, x), 0);
      ck_assert_int_eq(sm_value_list_append(*b, y), 0);
    }
  } else {
    size_t n = (size_t)rnd(14); /* past the scanning size at times */
    sm_value *ka[16], *va[16], *kb[16], *vb[16];
    for (size_t i = 0; i < n; i++) {
      unsigned g = (unsigned)rnd(N_GROUPS);
      ka[i] = scalar(g, (unsigned)rnd(3));
      kb[i] = scalar(g, (unsigned)rnd(3));
      gen_pair(depth - 1, &va[i], &vb[i]);
    }
    *a = sm_value_map();
    *b = sm_value_map();
    for (size_t i = 0; i < n; i++)
      ck_assert_int_eq(sm_value_map_set(*a, ka[i], va[i]), 0);
    for (size_t i = n; i > 1; i--) { /* shuffle b's entries */
      size_t j = (size_t)rnd(i);
      sm_value *t = kb[i - 1];
      kb[i - 1] = kb[j];
      kb[j] = t;
      t = vb[i - 1];
      vb[i - 1] = vb[j];
      vb[j] = t;
    }
    for (size_t i = 0; i < n; i++)
      ck_assert_int_eq(sm_value_map_set(*b, kb[i], vb[i]), 0);
  }
}

/* veq_equal of the packed forms of two trees. */
static bool packed_equal(const sm_value *a, const sm_value *b) {
  vbuf x, y;
  vb_init(&x);
  vb_init(&y);
  ck_assert_int_eq(val_encode(a, &x, VW_DEPTH_MAX), 0);
  ck_assert_int_eq(val_encode(b, &y, VW_DEPTH_MAX), 0);
  bool eq = veq_equal(vb_span(&x), vb_span(&y));
  vb_free(&x);
  vb_free(&y);
  return eq;
}

/* Proves the client's tree walker (sm_value_equal) gives the answer of the
 * daemon's packed walker (veq_equal) on 3000 random pairs of nested values
 * (equal and unequal ones, NaNs, maps past the scanning size in shuffled
 * order), both ways and wrapped in a list (where NaN matches itself); and
 * that a key hashes the same as a tree and as bytes. */
START_TEST(test_client_agrees_with_packed) {
  unsigned equal = 0, trials = 3000;
  for (unsigned t = 0; t < trials; t++) {
    sm_value *a, *b;
    gen_pair(3, &a, &b);
    bool tree = sm_value_equal(a, b);
    ck_assert_msg(tree == packed_equal(a, b), "trial %u: tree %d", t, tree);
    ck_assert_int_eq(sm_value_equal(b, a), tree);
    sm_value *la = sm_value_list(), *lb = sm_value_list();
    ck_assert_int_eq(sm_value_list_append(la, a), 0);
    ck_assert_int_eq(sm_value_list_append(lb, b), 0);
    ck_assert_msg(sm_value_equal(la, lb) == packed_equal(la, lb), "trial %u, in a list", t);
    equal += sm_value_equal(la, lb);
    if (sm_value_type(a) != SM_LIST && sm_value_type(a) != SM_MAP) {
      vbuf x;
      vb_init(&x);
      ck_assert_int_eq(val_encode(a, &x, VW_DEPTH_MAX), 0);
      vinfo vi;
      val_info(a, &vi);
      ck_assert_uint_eq(veq_hash_info(&vi), veq_hash(vb_span(&x)));
      vb_free(&x);
    }
    sm_value_free(la);
    sm_value_free(lb);
  }
  /* Both answers were exercised. */
  ck_assert_uint_gt(equal, trials / 10);
  ck_assert_uint_lt(equal, trials - trials / 10);
}
END_TEST

/* Builds a map of n int keys and returns the key entries examined by the
 * lookups (val_map_probes on this thread). */
static uint64_t build_cost(int64_t n) {
  uint64_t before = val_map_probes();
  sm_value *m = sm_value_map();
  for (int64_t k = 0; k < n; k++)
    ck_assert_int_eq(sm_value_map_set(m, sm_value_int(k), sm_value_nil()), 0);
  ck_assert_uint_eq(sm_value_len(m), (size_t)n);
  uint64_t cost = val_map_probes() - before;
  sm_value_free(m);
  return cost;
}

/* Building a map is linear: 200,000 entries cost less than 5 times the
 * work of 50,000 (a linear scan per insert costs 16 times), and 500,000
 * entries at most 4 probes an entry. */
START_TEST(test_client_map_linear) {
  uint64_t small = build_cost(50000), large = build_cost(200000);
  ck_assert_msg(large < 5 * small, "50k: %llu probes, 200k: %llu", (unsigned long long)small,
                (unsigned long long)large);
  uint64_t huge = build_cost(500000);
  ck_assert_msg(huge <= 4 * 500000ULL, "500k: %llu probes", (unsigned long long)huge);
}
END_TEST

Suite *equality_suite(void) {
  Suite *s = suite_create("equality");
  TCase *tc = tcase_create("rules");
  tcase_add_test(tc, rules_scalars);
  tcase_add_test(tc, rules_containers);
  tcase_add_test(tc, rules_order);
  tcase_add_test(tc, rules_unique_keys);
  suite_add_tcase(s, tc);
  tc = smtest_daemon_tcase(s, "daemon", 60);
  tcase_add_loop_test(tc, test_dict_keys, 0, 2);
  tcase_add_loop_test(tc, test_list_search, 0, 2);
  tcase_add_loop_test(tc, test_cas, 0, 2);
  tcase_add_loop_test(tc, test_sort, 0, 2);
  tcase_add_test(tc, test_duplicate_keys_refused);
  tc = tcase_create("client");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_client_values);
  tcase_add_test(tc, test_client_agrees_with_packed);
  tcase_add_test(tc, test_client_map_linear);
  suite_add_tcase(s, tc);
  return s;
}
