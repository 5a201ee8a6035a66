/* SPDX-License-Identifier: MIT */
/* check_value.c - the sm_value API and its wire codec, without a daemon:
 * constructors and accessors of every kind, ownership rules of list/map
 * building, map replace semantics, deep copy and equality, the Python-like
 * text form, and the encode/decode round trip of every kind (nested lists,
 * maps and refs included) checked against the vwire validator. The suite
 * links the static library, so the internal codec is reachable. */
#include "client/value_internal.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Encodes v, checks the daemon's validator accepts the bytes, decodes them
 * and returns the decoded value (caller frees). */
static sm_value *round_trip(const sm_value *v) {
  vbuf b;
  vb_init(&b);
  ck_assert_int_eq(val_encode(v, &b, VW_DEPTH_DEFAULT), 0);
  ck_assert_int_eq(vw_scan(vb_span(&b), VW_DEPTH_DEFAULT, NULL, NULL), VW_OK);
  sm_value *back = NULL;
  ck_assert_int_eq(val_decode(vb_span(&b), &back), 0);
  ck_assert_ptr_nonnull(back);
  /* Canonical: the decoded value encodes to the very same bytes. */
  vbuf again;
  vb_init(&again);
  ck_assert_int_eq(val_encode(back, &again, VW_DEPTH_DEFAULT), 0);
  ck_assert_uint_eq(again.len, b.len);
  ck_assert(b.len == 0 || memcmp(again.p, b.p, b.len) == 0);
  vb_free(&again);
  vb_free(&b);
  return back;
}

/* The text of v, compared with want. */
static void assert_text(const sm_value *v, const char *want) {
  char *t = sm_value_to_text(v);
  ck_assert_ptr_nonnull(t);
  ck_assert_str_eq(t, want);
  sm_free(t);
}

/* A map built from alternating key/value pairs (takes ownership). */
static sm_value *map_of(size_t n, sm_value **kv) {
  sm_value *m = sm_value_map();
  for (size_t i = 0; i + 1 < n; i += 2)
    ck_assert_int_eq(sm_value_map_set(m, kv[i], kv[i + 1]), 0);
  return m;
}

/* Every scalar constructor gives its kind and reads back through its
 * accessor; accessors of another kind give zero/NULL, with the documented
 * conversions (bool -> int, int -> double). */
START_TEST(test_scalars) {
  sm_value *n = sm_value_nil(), *b = sm_value_bool(true), *i = sm_value_int(-42);
  sm_value *d = sm_value_double(2.5), *s = sm_value_str("héllo"), *y = sm_value_bytes("a\0b", 3);
  ck_assert_int_eq(sm_value_type(n), SM_NIL);
  ck_assert_int_eq(sm_value_type(NULL), SM_NIL);
  ck_assert_int_eq(sm_value_type(b), SM_BOOL);
  ck_assert(sm_value_as_bool(b));
  ck_assert_int_eq(sm_value_as_int(b), 1);
  ck_assert_int_eq(sm_value_as_int(i), -42);
  ck_assert(sm_value_as_double(i) == -42.0);
  ck_assert(sm_value_as_double(d) == 2.5);
  ck_assert_int_eq(sm_value_as_int(d), 0);
  size_t len = 99;
  ck_assert_str_eq(sm_value_as_str(s, &len), "héllo");
  ck_assert_uint_eq(len, strlen("héllo"));
  ck_assert_ptr_null(sm_value_as_str(i, &len));
  ck_assert_uint_eq(len, 0);
  const unsigned char *raw = sm_value_as_bytes(y, &len);
  ck_assert_uint_eq(len, 3);
  ck_assert(memcmp(raw, "a\0b", 3) == 0);
  ck_assert_ptr_null(sm_value_as_bytes(s, NULL));
  ck_assert(!sm_value_as_bool(i));
  ck_assert_uint_eq(sm_value_len(s), 0);
  /* A string never holds NUL: the wire refuses it. */
  ck_assert_ptr_null(sm_value_strn("a\0b", 3));
  sm_value *part = sm_value_strn("abcdef", 3);
  ck_assert_str_eq(sm_value_as_str(part, NULL), "abc");
  ck_assert_ptr_null(sm_value_str(NULL));
  sm_value *empty = sm_value_bytes(NULL, 0);
  ck_assert_ptr_nonnull(empty);
  ck_assert_ptr_nonnull(sm_value_as_bytes(empty, &len));
  ck_assert_uint_eq(len, 0);
  sm_value *vs[] = {n, b, i, d, s, y, part, empty};
  for (size_t k = 0; k < sizeof vs / sizeof vs[0]; k++)
    sm_value_free(vs[k]);
  sm_value_free(NULL);
}
END_TEST

/* Lists grow in order; append takes ownership of the item even when it
 * refuses it, and refuses a non-list, a NULL item and the list itself. */
START_TEST(test_list_building) {
  sm_value *l = sm_value_list();
  for (int k = 0; k < 100; k++)
    ck_assert_int_eq(sm_value_list_append(l, sm_value_int(k)), 0);
  ck_assert_uint_eq(sm_value_len(l), 100);
  ck_assert_int_eq(sm_value_as_int(sm_value_list_at(l, 57)), 57);
  ck_assert_ptr_null(sm_value_list_at(l, 100));
  sm_value *i = sm_value_int(1);
  ck_assert_int_eq(sm_value_list_append(i, sm_value_str("x")), SM_EINVAL); /* freed */
  ck_assert_int_eq(sm_value_list_append(l, NULL), SM_EINVAL);
  ck_assert_int_eq(sm_value_list_append(NULL, sm_value_int(3)), SM_EINVAL);
  ck_assert_int_eq(sm_value_list_append(l, l), SM_EINVAL); /* no cycle, l still ours */
  ck_assert_uint_eq(sm_value_len(l), 100);
  sm_value_free(i);
  sm_value_free(l);
}
END_TEST

/* A map keeps insertion order; setting an equal key replaces the value in
 * place (len and order unchanged), and 1, 1.0 and true are one key, as in
 * Python; list/map keys are refused with SM_ETYPE. */
START_TEST(test_map_replace) {
  sm_value *m = sm_value_map();
  ck_assert_int_eq(sm_value_map_set(m, sm_value_str("a"), sm_value_int(1)), 0);
  ck_assert_int_eq(sm_value_map_set(m, sm_value_str("b"), sm_value_int(2)), 0);
  ck_assert_int_eq(sm_value_map_set(m, sm_value_str("c"), sm_value_int(3)), 0);
  ck_assert_int_eq(sm_value_map_set(m, sm_value_str("a"), sm_value_str("one")), 0);
  ck_assert_uint_eq(sm_value_len(m), 3);
  ck_assert_str_eq(sm_value_as_str(sm_value_map_key_at(m, 0), NULL), "a");
  ck_assert_str_eq(sm_value_as_str(sm_value_map_value_at(m, 0), NULL), "one");
  ck_assert_str_eq(sm_value_as_str(sm_value_map_key_at(m, 2), NULL), "c");
  ck_assert_ptr_null(sm_value_map_key_at(m, 3));
  sm_value *k = sm_value_str("b");
  ck_assert_int_eq(sm_value_as_int(sm_value_map_get(m, k)), 2);
  sm_value_free(k);
  ck_assert_int_eq(sm_value_map_set(m, sm_value_int(1), sm_value_str("int")), 0);
  ck_assert_int_eq(sm_value_map_set(m, sm_value_double(1.0), sm_value_str("double")), 0);
  ck_assert_int_eq(sm_value_map_set(m, sm_value_bool(true), sm_value_str("bool")), 0);
  ck_assert_uint_eq(sm_value_len(m), 4);
  ck_assert_int_eq(sm_value_type(sm_value_map_key_at(m, 3)), SM_INT); /* the first key */
  k = sm_value_double(1.0);
  ck_assert_str_eq(sm_value_as_str(sm_value_map_get(m, k), NULL), "bool");
  sm_value_free(k);
  ck_assert_int_eq(sm_value_map_set(m, sm_value_list(), sm_value_int(0)), SM_ETYPE);
  ck_assert_int_eq(sm_value_map_set(m, sm_value_map(), sm_value_int(0)), SM_ETYPE);
  ck_assert_int_eq(sm_value_map_set(m, sm_value_int(9), NULL), SM_EINVAL);
  ck_assert_int_eq(sm_value_map_set(NULL, sm_value_int(9), sm_value_int(9)), SM_EINVAL);
  ck_assert_uint_eq(sm_value_len(m), 4);
  ck_assert_ptr_null(sm_value_map_get(m, NULL));
  sm_value_free(m);
}
END_TEST

/* Equality is deep and Python's (numbers by value across kinds, refs by
 * id); lists compare in order, maps as sets of entries; copies are deep
 * (changing the copy leaves the original). */
START_TEST(test_equal_copy) {
  sm_value *kv1[] = {sm_value_str("x"), sm_value_int(1), sm_value_str("y"), sm_value_list()};
  sm_value *kv2[] = {sm_value_str("y"), sm_value_list(), sm_value_str("x"), sm_value_int(1)};
  sm_value *a = map_of(4, kv1), *b = map_of(4, kv2);
  ck_assert(sm_value_equal(a, b)); /* order does not matter for maps */
  sm_value *c = sm_value_copy(a);
  ck_assert(sm_value_equal(a, c));
  sm_value *inner = (sm_value *)sm_value_map_get(c, kv1[2]);
  ck_assert_int_eq(sm_value_list_append(inner, sm_value_int(5)), 0);
  ck_assert(!sm_value_equal(a, c));
  ck_assert_uint_eq(sm_value_len(sm_value_map_get(a, kv1[2])), 0);

  sm_value *i = sm_value_int(1), *d = sm_value_double(1.0), *t = sm_value_bool(true);
  sm_value *n0 = sm_value_str("1");
  ck_assert(sm_value_equal(i, d));
  ck_assert(sm_value_equal(i, t));
  ck_assert(!sm_value_equal(i, n0));
  sm_value *n = sm_value_nil();
  ck_assert(sm_value_equal(n, NULL));
  sm_value *l1 = sm_value_list(), *l2 = sm_value_list();
  sm_value_list_append(l1, sm_value_int(1));
  sm_value_list_append(l1, sm_value_int(2));
  sm_value_list_append(l2, sm_value_int(2));
  sm_value_list_append(l2, sm_value_int(1));
  ck_assert(!sm_value_equal(l1, l2));
  sm_value *r1 = val_ref_new(7, "dict", 4), *r2 = val_ref_new(8, "dict", 4);
  sm_value *r3 = sm_value_copy(r1);
  ck_assert(!sm_value_equal(r1, r2));
  ck_assert(sm_value_equal(r1, r3));
  ck_assert_str_eq(sm_value_ref_type(r3), "dict");
  ck_assert_uint_eq(sm_value_ref_id(r3), 7);
  ck_assert_ptr_null(sm_value_ref_type(i));
  ck_assert_ptr_null(sm_value_copy(NULL));
  sm_value *vs[] = {a, b, c, i, d, t, n0, n, l1, l2, r1, r2, r3};
  for (size_t k = 0; k < sizeof vs / sizeof vs[0]; k++)
    sm_value_free(vs[k]);
}
END_TEST

/* Every kind survives encode -> decode unchanged, scalars at their
 * extremes included, and the bytes are canonical (re-encoding gives the
 * same bytes, which the daemon's validator accepts). */
START_TEST(test_round_trip_scalars) {
  sm_value *vs[] = {sm_value_nil(),
                    sm_value_bool(false),
                    sm_value_bool(true),
                    sm_value_int(0),
                    sm_value_int(INT64_MIN),
                    sm_value_int(INT64_MAX),
                    sm_value_int(-1),
                    sm_value_double(-0.0),
                    sm_value_double(3.141592653589793),
                    sm_value_double(1e300),
                    sm_value_str(""),
                    sm_value_str("naïve ☃"),
                    sm_value_bytes("\0\xff\x01", 3),
                    sm_value_bytes(NULL, 0),
                    val_ref_new(UINT64_MAX, "queue", 5)};
  for (size_t k = 0; k < sizeof vs / sizeof vs[0]; k++) {
    sm_value *back = round_trip(vs[k]);
    ck_assert_int_eq(sm_value_type(back), sm_value_type(vs[k]));
    ck_assert_msg(sm_value_equal(back, vs[k]), "kind %d changed", sm_value_type(vs[k]));
    sm_value_free(back);
    sm_value_free(vs[k]);
  }
  /* A NaN does not equal itself, but survives bit for bit. */
  sm_value *nan = sm_value_double(NAN), *back = round_trip(nan);
  ck_assert(isnan(sm_value_as_double(back)));
  sm_value_free(nan);
  sm_value_free(back);
}
END_TEST

/* Nested lists and maps holding every kind, refs included, survive the
 * round trip with map order kept; the bytes of a simple list are exactly
 * what the vbuf composer writes. */
START_TEST(test_round_trip_nested) {
  sm_value *inner = sm_value_list();
  sm_value_list_append(inner, sm_value_int(1));
  sm_value_list_append(inner, sm_value_nil());
  sm_value_list_append(inner, val_ref_new(3, "list", 4));
  sm_value *deep = sm_value_map();
  sm_value_map_set(deep, val_ref_new(9, "dict", 4), sm_value_bytes("zz", 2));
  sm_value_map_set(deep, sm_value_bool(false), sm_value_list());
  sm_value_list_append(inner, deep);
  sm_value *kv[] = {
      sm_value_str("zeta"),  inner,          sm_value_int(-5), sm_value_double(0.5),
      sm_value_str("alpha"), sm_value_map(), sm_value_nil(),   sm_value_str("nil key")};
  sm_value *m = map_of(8, kv);
  sm_value *back = round_trip(m);
  ck_assert(sm_value_equal(back, m));
  ck_assert_str_eq(sm_value_as_str(sm_value_map_key_at(back, 0), NULL), "zeta");
  ck_assert_int_eq(sm_value_as_int(sm_value_map_key_at(back, 1)), -5);
  const sm_value *bl = sm_value_map_value_at(back, 0);
  ck_assert_uint_eq(sm_value_len(bl), 4);
  ck_assert_str_eq(sm_value_ref_type(sm_value_list_at(bl, 2)), "list");
  ck_assert_int_eq(sm_value_type(sm_value_map_key_at(sm_value_list_at(bl, 3), 0)), SM_REF);
  sm_value_free(back);
  sm_value_free(m);

  sm_value *l = sm_value_list();
  sm_value_list_append(l, sm_value_int(7));
  sm_value_list_append(l, sm_value_str("x"));
  vbuf mine, ref, item;
  vb_init(&mine);
  vb_init(&ref);
  vb_init(&item);
  ck_assert_int_eq(val_encode(l, &mine, VW_DEPTH_DEFAULT), 0);
  size_t mark = vb_list_begin(&ref);
  vb_int(&item, 7);
  vb_list_item(&ref, vb_span(&item));
  vb_reset(&item);
  vb_str(&item, "x", 1);
  vb_list_item(&ref, vb_span(&item));
  vb_list_end(&ref, mark);
  ck_assert_uint_eq(mine.len, ref.len);
  ck_assert(memcmp(mine.p, ref.p, ref.len) == 0);
  vb_free(&mine);
  vb_free(&ref);
  vb_free(&item);
  sm_value_free(l);
}
END_TEST

/* Encoding is bounded by the limit given (the daemon's): 64 levels encode,
 * 65 give SM_EVALUE. Decoding takes whatever a daemon may send (up to
 * VW_DEPTH_REPLY_MAX levels); malformed or deeper bytes decode to
 * SM_EPROTO. */
START_TEST(test_codec_limits) {
  sm_value *top = sm_value_list(), *cur = top;
  for (unsigned k = 1; k < VW_DEPTH_DEFAULT; k++) {
    sm_value *next = sm_value_list();
    sm_value_list_append(cur, next);
    cur = next;
  }
  vbuf b;
  vb_init(&b);
  ck_assert_int_eq(val_encode(top, &b, VW_DEPTH_DEFAULT), 0);
  sm_value *back = NULL;
  ck_assert_int_eq(val_decode(vb_span(&b), &back), 0);
  ck_assert(sm_value_equal(back, top));
  sm_value_free(back);
  sm_value_list_append(cur, sm_value_list()); /* level 65 */
  vb_reset(&b);
  ck_assert_int_eq(val_encode(top, &b, VW_DEPTH_DEFAULT), SM_EVALUE);
  sm_value_free(top);

  static const uint8_t garbage[] = {0xff, 0x01};
  static const uint8_t nul_str[] = {(5 << 3) | 2, 3, 'a', 0, 'b'};
  static const uint8_t truncated[] = {(5 << 3) | 2, 9, 'a'};
  sm_value sentinel, *out = &sentinel; /* must stay untouched */
  ck_assert_int_eq(val_decode((sm_span){garbage, sizeof garbage}, &out), SM_EPROTO);
  ck_assert_int_eq(val_decode((sm_span){nul_str, sizeof nul_str}, &out), SM_EPROTO);
  ck_assert_int_eq(val_decode((sm_span){truncated, sizeof truncated}, &out), SM_EPROTO);
  ck_assert_ptr_eq(out, &sentinel);
  /* VW_DEPTH_REPLY_MAX nested lists written with the composer decode; one
   * more does not. */
  vb_reset(&b);
  size_t mark = vb_list_begin(&b);
  vb_list_end(&b, mark);
  for (unsigned k = 1; k <= VW_DEPTH_REPLY_MAX; k++) {
    if (k == VW_DEPTH_REPLY_MAX) {
      ck_assert_int_eq(val_decode(vb_span(&b), &out), 0);
      sm_value_free(out);
      out = &sentinel;
    }
    vbuf outer;
    vb_init(&outer);
    size_t m2 = vb_list_begin(&outer);
    vb_list_item(&outer, vb_span(&b));
    vb_list_end(&outer, m2);
    vb_free(&b);
    b = outer;
  }
  ck_assert_int_eq(vw_scan(vb_span(&b), VW_DEPTH_REPLY_MAX, NULL, NULL), VW_TOO_DEEP);
  ck_assert_int_eq(val_decode(vb_span(&b), &out), SM_EPROTO);
  ck_assert_ptr_eq(out, &sentinel);
  vb_free(&b);
}
END_TEST

/* The text form: top-level strings as they are, Python reprs elsewhere,
 * floats in Python's shortest form. */
START_TEST(test_to_text) {
  struct {
    sm_value *v;
    const char *text;
  } cases[] = {
      {sm_value_nil(), "None"},
      {sm_value_bool(true), "True"},
      {sm_value_bool(false), "False"},
      {sm_value_int(-12), "-12"},
      {sm_value_int(INT64_MIN), "-9223372036854775808"},
      {sm_value_double(0.1), "0.1"},
      {sm_value_double(1.0), "1.0"},
      {sm_value_double(-0.0), "-0.0"},
      {sm_value_double(1234.5), "1234.5"},
      {sm_value_double(1e15), "1000000000000000.0"},
      {sm_value_double(1e16), "1e+16"},
      {sm_value_double(1.5e-7), "1.5e-07"},
      {sm_value_double(0.0001), "0.0001"},
      {sm_value_double(INFINITY), "inf"},
      {sm_value_double(NAN), "nan"},
      {sm_value_str("plain 'text'"), "plain 'text'"},
      {sm_value_bytes("a'\n\x80", 4), "b\"a'\\n\\x80\""},
      {sm_value_bytes("ab", 2), "b'ab'"},
      {val_ref_new(42, "dict", 4), "<ref dict:42>"},
      {sm_value_list(), "[]"},
      {sm_value_map(), "{}"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    assert_text(cases[k].v, cases[k].text);
    sm_value_free(cases[k].v);
  }
  sm_value *l = sm_value_list();
  sm_value_list_append(l, sm_value_str("it's"));
  sm_value_list_append(l, sm_value_str("tab\there\\"));
  sm_value_list_append(l, sm_value_nil());
  sm_value *m = sm_value_map();
  sm_value_map_set(m, sm_value_str("k"), sm_value_double(2.5));
  sm_value_map_set(m, sm_value_int(3), val_ref_new(1, "list", 4));
  sm_value_list_append(l, m);
  assert_text(l, "[\"it's\", 'tab\\there\\\\', None, {'k': 2.5, 3: <ref list:1>}]");
  sm_value_free(l);
  char *t = sm_value_to_text(NULL);
  ck_assert_str_eq(t, "None");
  sm_free(t);
}
END_TEST

/* Error names and texts come from the one table; unknown codes are
 * reported as such; the run-time version matches the header. */
START_TEST(test_errors_version) {
  ck_assert_str_eq(sm_errname(SM_ENOTFOUND), "SM_ENOTFOUND");
  ck_assert_str_eq(sm_strerror(SM_ENOTFOUND), "not found");
  ck_assert_str_eq(sm_errname(SM_ETLS), "SM_ETLS");
  ck_assert_str_eq(sm_strerror(SM_ECLOSED), "connection closed");
  ck_assert_str_eq(sm_errname(SM_OK), "SM_OK");
  ck_assert_str_eq(sm_strerror(-999), "unknown error");
  ck_assert_str_eq(sm_errname(42), "SM_EUNKNOWN");
  for (int code = -1; code >= -18; code--) {
    ck_assert_str_ne(sm_strerror(code), "unknown error");
    ck_assert(strncmp(sm_errname(code), "SM_E", 4) == 0);
  }
  char want[32];
  snprintf(want, sizeof want, "%d.%d.%d", SM_VERSION_MAJOR, SM_VERSION_MINOR, SM_VERSION_PATCH);
  ck_assert_str_eq(sm_version(), want);
  ck_assert_uint_eq(sm_version_hex(), SM_VERSION_HEX);
  sm_free(NULL);
}
END_TEST

Suite *value_suite(void) {
  Suite *s = suite_create("value");
  TCase *api = tcase_create("api");
  tcase_add_test(api, test_scalars);
  tcase_add_test(api, test_list_building);
  tcase_add_test(api, test_map_replace);
  tcase_add_test(api, test_equal_copy);
  tcase_add_test(api, test_to_text);
  tcase_add_test(api, test_errors_version);
  suite_add_tcase(s, api);
  TCase *codec = tcase_create("codec");
  tcase_add_test(codec, test_round_trip_scalars);
  tcase_add_test(codec, test_round_trip_nested);
  tcase_add_test(codec, test_codec_limits);
  suite_add_tcase(s, codec);
  return s;
}
