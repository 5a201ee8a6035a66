/* SPDX-License-Identifier: MIT */
/* check_cycles.c - anonymous objects that only hold each other are
 * collected, against a real statemgrd: a dict holding itself, two lists
 * holding each other, a longer cycle through a queue's item; after every
 * proxy is released the object count returns to where it was. An object
 * still held by a proxy, or by a named object, is never freed. */
#include "smtest.h"

#include <stdlib.h>
#include <unistd.h>

/* Waits (up to 3 s) until the daemon holds want objects; returns the last
 * count seen. */
static int64_t wait_objects(sm_client *c, int64_t want) {
  int64_t n = smtest_info_int(c, "objects");
  for (int i = 0; i < 300 && n != want; i++) {
    usleep(10 * 1000);
    n = smtest_info_int(c, "objects");
  }
  return n;
}

/* Waits (up to 3 s) until a batch of the collector has run after the call:
 * whatever it could free is then freed. */
static void wait_batch(sm_client *c) {
  int64_t runs = smtest_info_int(c, "gc_collections");
  for (int i = 0; i < 300 && smtest_info_int(c, "gc_collections") == runs; i++)
    usleep(10 * 1000);
  ck_assert_int_gt(smtest_info_int(c, "gc_collections"), runs);
}

/* Stores a ref to target's object as key in d. */
static void hold(sm_dict *d, const char *key, sm_proxy *target) {
  sm_value *k = sm_value_str(key), *r = sm_proxy_ref(target);
  OK(sm_dict_set(d, k, r));
  sm_value_free(k);
  sm_value_free(r);
}

static void append_ref(sm_list *l, sm_proxy *target) {
  sm_value *r = sm_proxy_ref(target);
  OK(sm_list_append(l, r));
  sm_value_free(r);
}

/* A dict holding a ref to itself goes once its proxy is released. */
START_TEST(self_referencing_dict) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  int64_t base = smtest_info_int(c, "objects");
  int64_t collected = smtest_info_int(c, "gc_collected");
  sm_dict *d;
  OK(sm_dict_open(c, NULL, &d));
  hold(d, "me", sm_dict_proxy(d));
  ck_assert_int_eq(smtest_info_int(c, "objects"), base + 1);
  sm_dict_free(d);
  ck_assert_int_eq(wait_objects(c, base), base);
  ck_assert_int_eq(smtest_info_int(c, "gc_collected"), collected + 1);
  sm_client_free(c);
}
END_TEST

/* Two lists holding each other go once both proxies are released. */
START_TEST(two_lists_holding_each_other) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  int64_t base = smtest_info_int(c, "objects");
  sm_list *a, *b;
  OK(sm_list_open(c, NULL, &a));
  OK(sm_list_open(c, NULL, &b));
  OK(sm_list_append_str(a, "payload"));
  append_ref(a, sm_list_proxy(b));
  append_ref(b, sm_list_proxy(a));
  sm_list_free(a);
  sm_list_free(b);
  ck_assert_int_eq(wait_objects(c, base), base);
  sm_client_free(c);
}
END_TEST

/* A longer cycle: queue -> (its item) dict -> list -> queue; it goes too,
 * and so do the objects hanging off it (a lock the dict holds). */
START_TEST(cycle_through_a_queue_item) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  int64_t base = smtest_info_int(c, "objects");
  sm_queue *q;
  sm_dict *d;
  sm_list *l;
  sm_lock *lock;
  OK(sm_queue_open(c, NULL, 0, &q));
  OK(sm_dict_open(c, NULL, &d));
  OK(sm_list_open(c, NULL, &l));
  OK(sm_lock_open(c, NULL, &lock));
  sm_value *r = sm_proxy_ref(sm_dict_proxy(d));
  OK(sm_queue_put(q, r, 0));
  sm_value_free(r);
  hold(d, "next", sm_list_proxy(l));
  hold(d, "lock", sm_lock_proxy(lock));
  append_ref(l, sm_queue_proxy(q));
  ck_assert_int_eq(smtest_info_int(c, "objects"), base + 4);
  sm_queue_free(q);
  sm_dict_free(d);
  sm_list_free(l);
  sm_lock_free(lock);
  ck_assert_int_eq(wait_objects(c, base), base);
  sm_client_free(c);
}
END_TEST

/* A ring of 2000 lists, each holding the next, goes in one batch: the
 * collector walks it without recursing. */
START_TEST(long_ring) {
  enum { N = 2000 };
  sm_client *c = smtest_connect(&smtest_d, NULL);
  int64_t base = smtest_info_int(c, "objects");
  sm_list **ring = calloc(N, sizeof *ring);
  ck_assert_ptr_nonnull(ring);
  for (int i = 0; i < N; i++)
    OK(sm_list_open(c, NULL, &ring[i]));
  for (int i = 0; i < N; i++)
    append_ref(ring[i], sm_list_proxy(ring[(i + 1) % N]));
  ck_assert_int_eq(smtest_info_int(c, "objects"), base + N);
  for (int i = 0; i < N; i++)
    sm_list_free(ring[i]);
  free(ring);
  ck_assert_int_eq(wait_objects(c, base), base);
  sm_client_free(c);
}
END_TEST

/* A cycle one of whose objects a proxy still holds stays whole and usable
 * through batches; releasing that proxy frees it. The holder is another
 * process's connection, so the count is the daemon's, not this client's. */
START_TEST(held_by_a_proxy_is_kept) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_client *other = smtest_connect(&smtest_d, smtest_d.unix_url);
  int64_t base = smtest_info_int(c, "objects");
  sm_list *a, *b;
  OK(sm_list_open(c, NULL, &a));
  OK(sm_list_open(c, NULL, &b));
  append_ref(a, sm_list_proxy(b));
  append_ref(b, sm_list_proxy(a));
  sm_value *ref_b = sm_proxy_ref(sm_list_proxy(b));
  sm_list *kept;
  OK(sm_list_from_ref(other, ref_b, &kept)); /* the other connection holds b */
  sm_value_free(ref_b);
  sm_list_free(a);
  sm_list_free(b);
  wait_batch(c);
  ck_assert_int_eq(smtest_info_int(c, "objects"), base + 2);
  /* Still whole: b's item is a, and a's item is b again. */
  sm_value *item = NULL;
  OK(sm_list_get(kept, 0, &item));
  sm_list *via;
  OK(sm_list_from_ref(other, item, &via));
  sm_value_free(item);
  OK(sm_list_get(via, 0, &item));
  ck_assert_uint_eq(sm_value_ref_id(item), sm_proxy_id(sm_list_proxy(kept)));
  sm_value_free(item);
  sm_list_free(via);
  sm_list_free(kept);
  ck_assert_int_eq(wait_objects(c, base), base);
  sm_client_free(other);
  sm_client_free(c);
}
END_TEST

/* A named object is a root: a self-referencing list that a named dict
 * holds survives batches; deleting the dict lets it go. */
START_TEST(held_by_a_named_object_is_kept) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  int64_t base = smtest_info_int(c, "objects");
  sm_dict *root;
  sm_list *x;
  OK(sm_dict_open(c, "root", &root));
  OK(sm_list_open(c, NULL, &x));
  append_ref(x, sm_list_proxy(x));
  OK(sm_list_append_str(x, "still here"));
  hold(root, "x", sm_list_proxy(x));
  sm_list_free(x);
  wait_batch(c);
  ck_assert_int_eq(smtest_info_int(c, "objects"), base + 2);
  sm_value *k = sm_value_str("x"), *ref = NULL;
  OK(sm_dict_get(root, k, &ref));
  sm_value_free(k);
  OK(sm_list_from_ref(c, ref, &x));
  sm_value_free(ref);
  sm_value *item = NULL;
  OK(sm_list_get(x, 1, &item));
  ck_assert_str_eq(sm_value_as_str(item, NULL), "still here");
  sm_value_free(item);
  sm_list_free(x);
  sm_dict_free(root);
  OK(sm_delete(c, "root"));
  ck_assert_int_eq(wait_objects(c, base), base);
  sm_client_free(c);
}
END_TEST

Suite *cycles_suite(void) {
  Suite *s = suite_create("cycles");
  TCase *tc = smtest_daemon_tcase(s, "collect", 60);
  tcase_add_test(tc, self_referencing_dict);
  tcase_add_test(tc, two_lists_holding_each_other);
  tcase_add_test(tc, cycle_through_a_queue_item);
  tcase_add_test(tc, long_ring);
  tcase_add_test(tc, held_by_a_proxy_is_kept);
  tcase_add_test(tc, held_by_a_named_object_is_kept);
  return s;
}
