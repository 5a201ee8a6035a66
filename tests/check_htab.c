/* SPDX-License-Identifier: MIT */
/* check_htab.c - the insertion-ordered hash table (server/htab.c), driven
 * directly: lookups, order, holes, resizing both ways, and a long random
 * run checked against a plain array model. */
#include "server/htab.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Key "k<n>" as a span over a caller buffer. */
static sm_span key_of(char *buf, size_t len, unsigned n) {
  int w = snprintf(buf, len, "k%u", n);
  return (sm_span){(const uint8_t *)buf, (size_t)w};
}

static void *val_of(unsigned n) { return (void *)(uintptr_t)(n + 1); }
static unsigned num_of(void *v) { return (unsigned)((uintptr_t)v - 1); }

/* Asserts that iteration yields exactly the numbers in want, in order. */
static void assert_order(const htab *t, const unsigned *want, size_t n) {
  size_t pos = 0, i = 0;
  sm_span k;
  void *v;
  char buf[32];
  while (htab_next(t, &pos, &k, &v)) {
    ck_assert_uint_lt(i, n);
    sm_span exp = key_of(buf, sizeof buf, want[i]);
    ck_assert_uint_eq(k.n, exp.n);
    ck_assert(memcmp(k.p, exp.p, k.n) == 0);
    ck_assert_uint_eq(num_of(v), want[i]);
    i++;
  }
  ck_assert_uint_eq(i, n);
  ck_assert_uint_eq(htab_len(t), n);
}

/* Proves put/find/remove return what htab.h promises: 1 on insert, 0 with
 * the old value on replace, false for an absent key. */
START_TEST(test_basic) {
  htab t;
  htab_init(&t);
  char b[32];
  void *old = NULL;
  ck_assert_ptr_null(htab_find(&t, key_of(b, sizeof b, 1)));
  ck_assert(!htab_remove(&t, key_of(b, sizeof b, 1), NULL));
  ck_assert_int_eq(htab_put(&t, key_of(b, sizeof b, 1), val_of(1), &old), 1);
  ck_assert_int_eq(htab_put(&t, key_of(b, sizeof b, 2), val_of(2), NULL), 1);
  ck_assert_int_eq(htab_put(&t, key_of(b, sizeof b, 1), val_of(7), &old), 0);
  ck_assert_uint_eq(num_of(old), 1);
  ck_assert_uint_eq(htab_len(&t), 2);
  void **slot = htab_find(&t, key_of(b, sizeof b, 1));
  ck_assert_ptr_nonnull(slot);
  ck_assert_uint_eq(num_of(*slot), 7);
  void *got = NULL;
  ck_assert(htab_remove(&t, key_of(b, sizeof b, 1), &got));
  ck_assert_uint_eq(num_of(got), 7);
  ck_assert_ptr_null(htab_find(&t, key_of(b, sizeof b, 1)));
  ck_assert(!htab_remove(&t, key_of(b, sizeof b, 1), NULL));
  ck_assert_uint_eq(htab_len(&t), 1);
  htab_clear(&t, NULL, NULL);
  ck_assert_uint_eq(htab_len(&t), 0);
}
END_TEST

/* Proves keys are compared as whole byte strings: the empty key, keys with
 * NUL bytes and prefixes of each other are all distinct, and the table owns
 * copies (changing the caller's buffer changes nothing). */
START_TEST(test_binary_keys) {
  htab t;
  htab_init(&t);
  uint8_t buf[4] = {0, 0, 1, 0};
  sm_span empty = {NULL, 0};
  ck_assert_int_eq(htab_put(&t, empty, val_of(0), NULL), 1);
  for (size_t n = 1; n <= 4; n++)
    ck_assert_int_eq(htab_put(&t, (sm_span){buf, n}, val_of((unsigned)n), NULL), 1);
  buf[0] = 9; /* the table kept its own copy */
  uint8_t probe[4] = {0, 0, 1, 0};
  for (size_t n = 1; n <= 4; n++) {
    void **v = htab_find(&t, (sm_span){probe, n});
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(num_of(*v), n);
  }
  ck_assert_ptr_null(htab_find(&t, (sm_span){buf, 1}));
  void **v = htab_find(&t, empty);
  ck_assert_ptr_nonnull(v);
  ck_assert_uint_eq(num_of(*v), 0);
  ck_assert(htab_remove(&t, empty, NULL));
  ck_assert_ptr_null(htab_find(&t, empty));
  ck_assert_uint_eq(htab_len(&t), 4);
  htab_clear(&t, NULL, NULL);
}
END_TEST

/* Proves iteration is insertion order, a replaced key keeps its place, and
 * a removed then re-added key moves to the end (Python dict semantics). */
START_TEST(test_order) {
  htab t;
  htab_init(&t);
  char b[32];
  for (unsigned i = 0; i < 5; i++)
    htab_put(&t, key_of(b, sizeof b, i), val_of(i), NULL);
  htab_put(&t, key_of(b, sizeof b, 2), val_of(2), NULL);
  assert_order(&t, (unsigned[]){0, 1, 2, 3, 4}, 5);
  htab_remove(&t, key_of(b, sizeof b, 1), NULL);
  htab_put(&t, key_of(b, sizeof b, 1), val_of(1), NULL);
  assert_order(&t, (unsigned[]){0, 2, 3, 4, 1}, 5);
  htab_clear(&t, NULL, NULL);
}
END_TEST

/* Proves resizing with holes keeps order and contents: 1000 keys, every
 * other one removed, 1000 more added, then most removed so the table
 * shrinks (htab_memory falls) and still finds the survivors. */
START_TEST(test_resize_with_holes) {
  htab t;
  htab_init(&t);
  char b[32];
  for (unsigned i = 0; i < 1000; i++)
    htab_put(&t, key_of(b, sizeof b, i), val_of(i), NULL);
  for (unsigned i = 0; i < 1000; i += 2)
    ck_assert(htab_remove(&t, key_of(b, sizeof b, i), NULL));
  for (unsigned i = 1000; i < 2000; i++)
    htab_put(&t, key_of(b, sizeof b, i), val_of(i), NULL);
  unsigned want[1500];
  size_t n = 0;
  for (unsigned i = 1; i < 1000; i += 2)
    want[n++] = i;
  for (unsigned i = 1000; i < 2000; i++)
    want[n++] = i;
  assert_order(&t, want, n);
  size_t big = htab_memory(&t);
  for (unsigned i = 0; i < 1990; i++)
    htab_remove(&t, key_of(b, sizeof b, i), NULL);
  ck_assert_uint_lt(htab_memory(&t), big / 8);
  assert_order(&t, (unsigned[]){1990, 1991, 1992, 1993, 1994, 1995, 1996, 1997, 1998, 1999}, 10);
  htab_clear(&t, NULL, NULL);
}
END_TEST

/* Proves htab_last skips holes: after removing the newest entries it
 * answers the newest survivor, a middle removal does not disturb it, and an
 * emptied table answers false. */
START_TEST(test_last) {
  htab t;
  htab_init(&t);
  char b[32];
  sm_span k;
  void *v;
  ck_assert(!htab_last(&t, &k, &v));
  for (unsigned i = 0; i < 10; i++)
    htab_put(&t, key_of(b, sizeof b, i), val_of(i), NULL);
  htab_remove(&t, key_of(b, sizeof b, 9), NULL);
  htab_remove(&t, key_of(b, sizeof b, 8), NULL);
  htab_remove(&t, key_of(b, sizeof b, 3), NULL);
  ck_assert(htab_last(&t, &k, &v));
  ck_assert_uint_eq(num_of(v), 7);
  ck_assert(k.n == 2 && memcmp(k.p, "k7", 2) == 0);
  for (unsigned i = 0; i < 10; i++)
    htab_remove(&t, key_of(b, sizeof b, i), NULL);
  ck_assert(!htab_last(&t, &k, &v));
  htab_clear(&t, NULL, NULL);
}
END_TEST

/* Proves popping the newest entry 100k times (popitem's pattern) yields
 * LIFO order and trims the trailing holes each time, so htab_last never
 * scans: n_entries stays equal to len. */
START_TEST(test_pop_last_lifo) {
  htab t;
  htab_init(&t);
  char b[32];
  const unsigned n = 100000;
  for (unsigned i = 0; i < n; i++)
    htab_put(&t, key_of(b, sizeof b, i), val_of(i), NULL);
  for (unsigned i = n; i-- > 0;) {
    sm_span k;
    void *v;
    ck_assert(htab_last(&t, &k, &v));
    ck_assert_uint_eq(num_of(v), i);
    ck_assert(htab_remove(&t, k, NULL));
    ck_assert_uint_eq(t.n_entries, t.len);
  }
  ck_assert_uint_eq(htab_len(&t), 0);
  htab_clear(&t, NULL, NULL);
}
END_TEST

static void count_free(void *ctx, void *val) {
  unsigned *freed = ctx;
  freed[num_of(val)]++;
}

/* Proves htab_clear hands every live value (and no removed one) to the
 * callback exactly once, and leaves an empty, reusable table. */
START_TEST(test_clear) {
  htab t;
  htab_init(&t);
  char b[32];
  unsigned freed[100] = {0};
  for (unsigned i = 0; i < 100; i++)
    htab_put(&t, key_of(b, sizeof b, i), val_of(i), NULL);
  for (unsigned i = 0; i < 100; i += 3)
    htab_remove(&t, key_of(b, sizeof b, i), NULL);
  htab_clear(&t, count_free, freed);
  for (unsigned i = 0; i < 100; i++)
    ck_assert_uint_eq(freed[i], i % 3 ? 1u : 0u);
  ck_assert_uint_eq(htab_len(&t), 0);
  ck_assert_ptr_null(htab_find(&t, key_of(b, sizeof b, 1)));
  ck_assert_int_eq(htab_put(&t, key_of(b, sizeof b, 1), val_of(1), NULL), 1);
  ck_assert_uint_eq(htab_len(&t), 1);
  htab_clear(&t, NULL, NULL);
}
END_TEST

/* Proves 100k random puts, replaces and removes over 3000 keys agree with a
 * model (presence, value, length after every step; full insertion order
 * every 10k steps and at the end). The model orders keys by the step at
 * which each was last inserted. */
START_TEST(test_random_model) {
  enum { KEYS = 3000, STEPS = 100000 };
  static long born[KEYS]; /* step of insertion, -1 when absent */
  static unsigned val[KEYS];
  htab t;
  htab_init(&t);
  char b[32];
  size_t len = 0;
  srand(12345);
  for (unsigned k = 0; k < KEYS; k++)
    born[k] = -1;
  for (long step = 0; step < STEPS; step++) {
    unsigned k = (unsigned)rand() % KEYS;
    sm_span key = key_of(b, sizeof b, k);
    if (rand() % 100 < 55) {
      unsigned v = (unsigned)rand() % 1000;
      int rc = htab_put(&t, key, val_of(v), NULL);
      ck_assert_int_eq(rc, born[k] < 0 ? 1 : 0);
      if (born[k] < 0) {
        born[k] = step;
        len++;
      }
      val[k] = v;
    } else {
      void *got;
      bool had = htab_remove(&t, key, &got);
      ck_assert_int_eq(had, born[k] >= 0);
      if (had) {
        ck_assert_uint_eq(num_of(got), val[k]);
        born[k] = -1;
        len--;
      }
    }
    ck_assert_uint_eq(htab_len(&t), len);
    void **slot = htab_find(&t, key);
    ck_assert_int_eq(slot != NULL, born[k] >= 0);
    if (slot) ck_assert_uint_eq(num_of(*slot), val[k]);
    if (step % 10000 == 9999 || step == STEPS - 1) {
      size_t pos = 0;
      sm_span kk;
      void *vv;
      long prev = -1;
      size_t seen = 0;
      while (htab_next(&t, &pos, &kk, &vv)) {
        char nb[32];
        ck_assert_uint_lt(kk.n, sizeof nb);
        memcpy(nb, kk.p, kk.n);
        nb[kk.n] = '\0';
        unsigned kn = (unsigned)strtoul(nb + 1, NULL, 10);
        ck_assert_int_gt(born[kn], prev); /* strictly increasing insertion step */
        prev = born[kn];
        ck_assert_uint_eq(num_of(vv), val[kn]);
        seen++;
      }
      ck_assert_uint_eq(seen, len);
    }
  }
  htab_clear(&t, NULL, NULL);
}
END_TEST
/* Proves a scan cursor (htab_seek, htab_cursor, htab_next_before) survives
 * rebuilds: 500 staying keys are read 7 at a time while, between pages,
 * 60 new keys are inserted and 60 older others removed, so the table grows,
 * shrinks and compacts its holes (entries move down) under the cursor.
 * Each staying key comes exactly once, no key inserted after the start
 * (from next_seq then on) comes, and the scan ends. */
START_TEST(test_cursor_through_rebuilds) {
  htab t;
  htab_init(&t);
  char buf[32];
  unsigned next = 0, oldest_churn = 0, churn[100000];
  size_t n_churn = 0;
  for (unsigned i = 0; i < 1000; i++) { /* even: staying, odd: churn */
    ck_assert_int_eq(htab_put(&t, key_of(buf, sizeof buf, next), val_of(next), NULL), 1);
    if (next % 2) churn[n_churn++] = next;
    next++;
  }
  unsigned char seen[1000] = {0};
  uint64_t end = t.next_seq, cursor = 0;
  size_t pages = 0;
  do {
    size_t pos = htab_seek(&t, cursor), at = pos, n = 0;
    sm_span k;
    void *v;
    while (n < 7 && htab_next_before(&t, &pos, end, &k, &v)) {
      unsigned num = num_of(v);
      ck_assert_uint_lt(num, 1000); /* nothing inserted after the start */
      seen[num]++;
      n++;
      at = pos;
    }
    cursor = htab_cursor(&t, at);
    if (cursor >= end) cursor = 0;
    pages++;
    for (int i = 0; i < 60; i++, next++) {
      ck_assert_int_eq(htab_put(&t, key_of(buf, sizeof buf, next), val_of(next), NULL), 1);
      churn[n_churn++] = next;
      ck_assert(htab_remove(&t, key_of(buf, sizeof buf, churn[oldest_churn++]), NULL));
    }
  } while (cursor != 0);
  ck_assert_uint_gt(pages, 500 / 7);
  for (unsigned i = 0; i < 1000; i += 2)
    ck_assert_msg(seen[i] == 1, "staying key %u seen %d times", i, seen[i]);
  htab_clear(&t, NULL, NULL);
}
END_TEST

Suite *htab_suite(void) {
  Suite *s = suite_create("htab");
  TCase *tc = tcase_create("lookup");
  tcase_add_test(tc, test_basic);
  tcase_add_test(tc, test_binary_keys);
  suite_add_tcase(s, tc);
  tc = tcase_create("order");
  tcase_add_test(tc, test_order);
  tcase_add_test(tc, test_last);
  tcase_add_test(tc, test_pop_last_lifo);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  tc = tcase_create("resize");
  tcase_add_test(tc, test_resize_with_holes);
  tcase_add_test(tc, test_clear);
  tcase_add_test(tc, test_random_model);
  tcase_add_test(tc, test_cursor_through_rebuilds);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  return s;
}
