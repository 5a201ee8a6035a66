/* SPDX-License-Identifier: MIT */
/* check_scan.c - cursor iteration over big objects (dict, list and
 * namespace "scan", the manager's "ls_scan") and the TOO_LARGE answer that
 * points at it, against a real statemgrd: a 1,000,000-entry dict read page
 * by page through the C API, scans while another connection inserts and
 * deletes (with the table resizing and compacting under the cursor), the
 * CLI's `scan`, and whole-object reads over a small --max-frame. */
#include "smtest.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Adds keys [from, to) mapped to key * 2 with one update call. */
static void fill_ints(sm_dict *d, int64_t from, int64_t to) {
  sm_value *m = sm_value_map();
  ck_assert_ptr_nonnull(m);
  for (int64_t k = from; k < to; k++)
    OK(sm_value_map_set(m, sm_value_int(k), sm_value_int(k * 2)));
  OK(sm_dict_update(d, m));
  sm_value_free(m);
}

/* Marks the int keys of a dict page in seen[] (asserting each value is
 * key * 2 and each key is below n); returns the page's length. */
static size_t mark_int_page(const sm_value *page, unsigned char *seen, int64_t n) {
  size_t len = sm_value_len(page);
  for (size_t i = 0; i < len; i++) {
    const sm_value *item = sm_value_list_at(page, i);
    ck_assert_int_eq(sm_value_len(item), 2);
    int64_t k = sm_value_as_int(sm_value_list_at(item, 0));
    ck_assert_int_eq(sm_value_as_int(sm_value_list_at(item, 1)), k * 2);
    ck_assert(k >= 0 && k < n);
    if (seen[k] < 255) seen[k]++;
  }
  return len;
}

/* ---- the C API over a big dict ---- */

#define BIG_N 1000000
#define BIG_PAGE 5000

/* A 1,000,000-entry dict scanned with count 5000 returns every key exactly
 * once, no page holds more than the count (the client holds one page at a
 * time), and the last page's cursor is 0. */
START_TEST(test_dict_scan_million) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_dict *d;
  OK(sm_dict_open(c, "scan-million", &d));
  for (int64_t from = 0; from < BIG_N; from += 50000)
    fill_ints(d, from, from + 50000);
  size_t len = 0;
  OK(sm_dict_len(d, &len));
  ck_assert_uint_eq(len, BIG_N);

  unsigned char *seen = calloc(BIG_N, 1);
  ck_assert_ptr_nonnull(seen);
  uint64_t cursor = 0;
  size_t total = 0, pages = 0;
  do {
    sm_value *page = NULL;
    OK(sm_dict_scan(d, cursor, BIG_PAGE, &cursor, &page));
    size_t n = mark_int_page(page, seen, BIG_N);
    ck_assert_uint_le(n, BIG_PAGE);
    ck_assert_uint_gt(n, 0);
    total += n;
    pages++;
    sm_value_free(page);
  } while (cursor != 0);
  ck_assert_uint_eq(total, BIG_N);
  ck_assert_uint_eq(pages, BIG_N / BIG_PAGE);
  for (int64_t k = 0; k < BIG_N; k++)
    ck_assert_msg(seen[k] == 1, "key %" PRId64 " seen %d times", k, seen[k]);
  free(seen);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* ---- scans under concurrent change ---- */

#define STAY_N 2000
#define CHURN 100

/* A dict of 2,000 keys that stay is scanned 10 at a time while a second
 * connection, between every two pages, inserts 100 other keys and deletes
 * the 100 oldest others (interleaved with the staying keys at first, so
 * holes open on both sides of the cursor): the table grows, fills with
 * holes and is rebuilt, moving entries down, several times under the
 * cursor (an entry-position cursor skips keys here). Every staying key is
 * still returned exactly once, and the scan ends although new keys keep
 * coming after it. */
START_TEST(test_dict_scan_concurrent) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_client *other = smtest_connect(&smtest_d, NULL);
  sm_dict *d, *od;
  OK(sm_dict_open(c, "scan-churn", &d));
  OK(sm_dict_open(other, "scan-churn", &od));
  int64_t next_churn = 1000000;
  for (int64_t k = 0; k < STAY_N; k += 100) {
    fill_ints(d, k, k + 100);
    fill_ints(d, next_churn, next_churn + 20);
    next_churn += 20;
  }
  unsigned char seen[STAY_N] = {0};
  int64_t oldest = 1000000;
  uint64_t cursor = 0;
  size_t pages = 0;
  do {
    sm_value *page = NULL;
    OK(sm_dict_scan(d, cursor, 10, &cursor, &page));
    for (size_t i = 0; i < sm_value_len(page); i++) {
      int64_t k = sm_value_as_int(sm_value_list_at(sm_value_list_at(page, i), 0));
      if (k < STAY_N && seen[k] < 255) seen[k]++;
    }
    sm_value_free(page);
    pages++;
    fill_ints(od, next_churn, next_churn + CHURN);
    next_churn += CHURN;
    for (int i = 0; i < CHURN; i++, oldest++) {
      sm_value *k = sm_value_int(oldest);
      OK(sm_dict_del(od, k));
      sm_value_free(k);
    }
  } while (cursor != 0);
  ck_assert_uint_ge(pages, STAY_N / 10);
  for (int64_t k = 0; k < STAY_N; k++)
    ck_assert_msg(seen[k] == 1, "staying key %" PRId64 " seen %d times", k, seen[k]);
  sm_dict_free(od);
  sm_dict_free(d);
  sm_client_free(other);
  sm_client_free(c);
}
END_TEST

/* A list of 3,000 staying items behind 200 others is scanned 25 at a time
 * while a second connection, between every two pages, deletes an item
 * before the cursor (the front one of the others), inserts one at the
 * front and deletes one behind the cursor, and once reverses the whole
 * list: every staying item is still returned at least once. */
START_TEST(test_list_scan_concurrent) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_client *other = smtest_connect(&smtest_d, NULL);
  sm_list *l, *ol;
  OK(sm_list_open(c, "scan-list", &l));
  OK(sm_list_open(other, "scan-list", &ol));
  sm_value *items = sm_value_list();
  for (int64_t i = 0; i < 200; i++)
    OK(sm_value_list_append(items, sm_value_int(-1 - i)));
  for (int64_t i = 0; i < 3000; i++)
    OK(sm_value_list_append(items, sm_value_int(i)));
  for (int64_t i = 0; i < 200; i++)
    OK(sm_value_list_append(items, sm_value_int(-1000 - i)));
  OK(sm_list_extend(l, items));
  sm_value_free(items);
  unsigned char *seen = calloc(3000, 1);
  uint64_t cursor = 0;
  size_t pages = 0;
  do {
    sm_value *page = NULL;
    OK(sm_list_scan(l, cursor, 25, &cursor, &page));
    ck_assert_uint_le(sm_value_len(page), 25);
    for (size_t i = 0; i < sm_value_len(page); i++) {
      int64_t v = sm_value_as_int(sm_value_list_at(page, i));
      if (v >= 0 && v < 3000) seen[v] = 1;
    }
    sm_value_free(page);
    pages++;
    sm_value *neg = NULL;
    OK(sm_list_get(ol, 0, &neg));
    if (sm_value_as_int(neg) < 0) OK(sm_list_del(ol, 0)); /* before the cursor */
    sm_value_free(neg);
    sm_value *front = sm_value_int(-5000 - (int64_t)pages);
    OK(sm_list_insert(ol, 0, front));
    sm_value_free(front);
    OK(sm_list_get(ol, -1, &neg));
    if (sm_value_as_int(neg) < 0) OK(sm_list_del(ol, -1)); /* behind the cursor */
    sm_value_free(neg);
    if (pages == 20) OK(sm_list_reverse(ol)); /* cursors start again */
  } while (cursor != 0 && pages < 10000);
  ck_assert_uint_eq(cursor, 0);
  for (int i = 0; i < 3000; i++)
    ck_assert_msg(seen[i], "staying item %d never returned", i);
  free(seen);
  sm_list_free(ol);
  sm_list_free(l);
  sm_client_free(other);
  sm_client_free(c);
}
END_TEST

/* A namespace of 300 attributes and the manager's ls_scan over 250 named
 * dicts (among other objects, some deleted between pages, and anonymous
 * ones) return every attribute and every staying name once. */
START_TEST(test_ns_and_ls_scan) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_ns *ns;
  OK(sm_ns_open(c, "scan-ns", &ns));
  for (int i = 0; i < 300; i++) {
    char attr[32];
    snprintf(attr, sizeof attr, "a%d", i);
    OK(sm_ns_set_int(ns, attr, i));
  }
  int ns_seen[300] = {0};
  uint64_t cursor = 0;
  do {
    sm_value *page = NULL;
    OK(sm_ns_scan(ns, cursor, 11, &cursor, &page));
    for (size_t i = 0; i < sm_value_len(page); i++) {
      const sm_value *pair = sm_value_list_at(page, i);
      const char *name = sm_value_as_str(sm_value_list_at(pair, 0), NULL);
      int64_t v = sm_value_as_int(sm_value_list_at(pair, 1));
      ck_assert(v >= 0 && v < 300);
      char want[32];
      snprintf(want, sizeof want, "a%" PRId64, v);
      ck_assert_str_eq(name, want);
      ns_seen[v]++;
    }
    sm_value_free(page);
  } while (cursor != 0);
  for (int i = 0; i < 300; i++)
    ck_assert_int_eq(ns_seen[i], 1);

  sm_dict *anon;
  OK(sm_dict_open(c, NULL, &anon)); /* anonymous: ls never lists it */
  for (int i = 0; i < 250; i++) {
    char name[32];
    sm_dict *d;
    snprintf(name, sizeof name, "ls-stay-%d", i);
    OK(sm_dict_open(c, name, &d));
    sm_dict_free(d);
    snprintf(name, sizeof name, "ls-gone-%d", i);
    OK(sm_dict_open(c, name, &d));
    sm_dict_free(d);
  }
  int ls_seen[250] = {0};
  int gone = 0, pages = 0;
  cursor = 0;
  do {
    sm_value *page = NULL;
    OK(sm_ls_scan(c, "dict", cursor, 9, &cursor, &page));
    ck_assert_uint_le(sm_value_len(page), 9);
    for (size_t i = 0; i < sm_value_len(page); i++) {
      const sm_value *row = sm_value_list_at(page, i);
      sm_value *k = sm_value_str("name");
      const char *name = sm_value_as_str(sm_value_map_get(row, k), NULL);
      sm_value_free(k);
      int n;
      if (sscanf(name, "ls-stay-%d", &n) == 1) ls_seen[n]++;
    }
    sm_value_free(page);
    if (++pages % 2 == 0 && gone < 250) { /* delete some not reached yet, some passed */
      char name[32];
      snprintf(name, sizeof name, "ls-gone-%d", gone++);
      OK(sm_delete(c, name));
    }
  } while (cursor != 0);
  for (int i = 0; i < 250; i++)
    ck_assert_int_eq(ls_seen[i], 1);
  sm_dict_free(anon);
  sm_ns_free(ns);
  sm_client_free(c);
}
END_TEST

/* Bad cursors and counts get clear errors, and an empty dict's scan ends
 * at once. */
START_TEST(test_scan_arguments) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_dict *d;
  OK(sm_dict_open(c, "scan-args", &d));
  uint64_t next = 7;
  sm_value *page = NULL;
  OK(sm_dict_scan(d, 0, 0, &next, &page));
  ck_assert_uint_eq(next, 0);
  ck_assert_uint_eq(sm_value_len(page), 0);
  sm_value_free(page);
  page = NULL;
  FAILS(sm_dict_scan(d, 0, 1000001, &next, &page), SM_EVALUE);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "count must be 1 to 1000000"));
  FAILS(sm_dict_scan(d, UINT64_MAX, 10, &next, &page), SM_EINVAL);
  FAILS(sm_dict_scan(d, 0, 10, NULL, &page), SM_EINVAL);
  ck_assert_ptr_null(page);
  FAILS(sm_ls_scan(c, "no-such-type", 0, 10, &next, &page), SM_EVALUE);
  /* A cursor past the end (from another object, say) ends the scan. */
  OK(sm_dict_set_int(d, "k", 1));
  OK(sm_dict_scan(d, 1000000, 10, &next, &page));
  ck_assert_uint_eq(next, 0);
  ck_assert_uint_eq(sm_value_len(page), 0);
  sm_value_free(page);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* ---- the CLI ---- */

/* Runs the CLI against smtest_d; stdout into out. */
static int run_cli(char *out, size_t outlen, const char *args) {
  const char *bin = getenv("STATEMGR_CLI");
  ck_assert_msg(bin && *bin, "STATEMGR_CLI must name the statemgr binary");
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s' -u '%s' --authkey-file '%s' %s", bin, smtest_d.tcp_url,
           smtest_d.authkey_file, args);
  out[0] = '\0';
  return smtest_run(cmd, out, outlen);
}

/* `statemgr scan` prints a dict's and a namespace's items as KEY<TAB>VALUE
 * and a list's items, all of them, in order, whatever the page size; it
 * refuses other types, a missing name and a bad --count. */
START_TEST(test_cli_scan) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_dict *d;
  OK(sm_dict_open(c, "cli-scan", &d));
  char want[4096] = "";
  for (int i = 0; i < 50; i++) {
    char k[16], line[64];
    snprintf(k, sizeof k, "k%d", i);
    OK(sm_dict_set_int(d, k, i * 10));
    snprintf(line, sizeof line, "k%d\t%d\n", i, i * 10);
    strcat(want, line);
  }
  char out[8192];
  ck_assert_int_eq(run_cli(out, sizeof out, "scan cli-scan --count 7"), 0);
  ck_assert_str_eq(out, want);
  ck_assert_int_eq(run_cli(out, sizeof out, "scan cli-scan"), 0);
  ck_assert_str_eq(out, want);

  sm_list *l;
  OK(sm_list_open(c, "cli-scan-list", &l));
  OK(sm_list_append_str(l, "a"));
  OK(sm_list_append_int(l, 2));
  OK(sm_list_append_str(l, "c"));
  ck_assert_int_eq(run_cli(out, sizeof out, "scan cli-scan-list --count=1"), 0);
  ck_assert_str_eq(out, "a\n2\nc\n");

  sm_ns *ns;
  OK(sm_ns_open(c, "cli-scan-ns", &ns));
  OK(sm_ns_set_str(ns, "x", "hello"));
  OK(sm_ns_set_int(ns, "y", 5));
  ck_assert_int_eq(run_cli(out, sizeof out, "scan cli-scan-ns --count 1"), 0);
  ck_assert_str_eq(out, "x\thello\ny\t5\n");
  /* --json: one array, streamed page by page, of items or [key, value] pairs */
  ck_assert_int_eq(run_cli(out, sizeof out, "scan cli-scan-list --count 1 --json"), 0);
  ck_assert_str_eq(out, "[\"a\", 2, \"c\"]\n");
  ck_assert_int_eq(run_cli(out, sizeof out, "--json scan cli-scan-ns --count 1"), 0);
  ck_assert_str_eq(out, "[[\"x\", \"hello\"], [\"y\", 5]]\n");
  ck_assert_int_eq(run_cli(out, sizeof out, "scan cli-scan-none --json"), 1);
  ck_assert_str_eq(out, "");

  sm_queue *q;
  OK(sm_queue_open(c, "cli-scan-q", 0, &q));
  ck_assert_int_eq(run_cli(out, sizeof out, "scan cli-scan-q 2>&1"), 5);
  ck_assert_ptr_nonnull(strstr(out, "scan reads a dict, list, namespace or set"));
  ck_assert_int_eq(run_cli(out, sizeof out, "scan cli-scan-none"), 1);
  ck_assert_int_eq(run_cli(out, sizeof out, "scan cli-scan --count 0 2>&1"), 2);
  ck_assert_ptr_nonnull(strstr(out, "--count wants"));
  ck_assert_int_eq(run_cli(out, sizeof out, "keys cli-scan --count 3"), 2);
  sm_queue_free(q);
  sm_ns_free(ns);
  sm_list_free(l);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* ---- answers over the frame limit ---- */

static smtest_daemon small;

static void start_small(void) {
  const char *args[] = {"--max-frame", "4096", NULL};
  smtest_daemon_start(&small, args);
}

static void stop_small(void) { smtest_daemon_stop_checked(&small); }

/* With --max-frame 4096, keys, values and items of a dict whose answer
 * would be larger fail with SM_ETOOLARGE and a text that gives the size
 * and points at scan (not a protocol error, and the connection stays);
 * a list's slice and the manager's ls likewise (ls pointing at ls_scan);
 * scan then reads all of it in pages that fit. */
START_TEST(test_too_large_points_at_scan) {
  sm_client *c = smtest_connect(&small, NULL);
  sm_dict *d;
  OK(sm_dict_open(c, "big", &d));
  char key[600];
  memset(key, 'k', sizeof key - 4);
  for (int i = 0; i < 12; i++) {
    snprintf(key + sizeof key - 4, 4, "%03d", i);
    OK(sm_dict_set_int(d, key, i));
  }
  sm_value *out = NULL;
  FAILS(sm_dict_keys(d, &out), SM_ETOOLARGE);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "over the 4096-byte frame limit: use scan"));
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "the answer would be "));
  FAILS(sm_dict_items(d, &out), SM_ETOOLARGE);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "use scan"));
  FAILS(sm_dict_copy(d, &out), SM_ETOOLARGE);
  ck_assert_ptr_null(out);
  OK(sm_ping(c)); /* the same connection still answers */
  size_t total = 0;
  uint64_t cursor = 0;
  do {
    sm_value *page = NULL;
    OK(sm_dict_scan(d, cursor, 0, &cursor, &page));
    total += sm_value_len(page);
    sm_value_free(page);
  } while (cursor != 0);
  ck_assert_uint_eq(total, 12);

  sm_list *l;
  OK(sm_list_open(c, "big-list", &l));
  for (int i = 0; i < 12; i++)
    OK(sm_list_append_str(l, key));
  FAILS(sm_list_slice(l, 0, INT64_MAX, &out), SM_ETOOLARGE);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "use scan"));

  for (int i = 0; i < 8; i++) {
    char name[600];
    memset(name, 'n', 580);
    snprintf(name + 580, 20, "%d", i);
    sm_var *v;
    OK(sm_var_open(c, name, NULL, &v));
    sm_var_free(v);
  }
  FAILS(sm_ls(c, NULL, &out), SM_ETOOLARGE);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "use ls_scan"));
  total = 0;
  cursor = 0;
  do {
    sm_value *page = NULL;
    OK(sm_ls_scan(c, "value", cursor, 0, &cursor, &page));
    total += sm_value_len(page);
    sm_value_free(page);
  } while (cursor != 0);
  ck_assert_uint_eq(total, 8);
  sm_list_free(l);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

Suite *scan_suite(void) {
  Suite *s = suite_create("scan");
  TCase *tc = smtest_daemon_tcase(s, "big", 120);
  tcase_add_test(tc, test_dict_scan_million);
  tc = smtest_daemon_tcase(s, "concurrent", 60);
  tcase_add_test(tc, test_dict_scan_concurrent);
  tcase_add_test(tc, test_list_scan_concurrent);
  tcase_add_test(tc, test_ns_and_ls_scan);
  tcase_add_test(tc, test_scan_arguments);
  tc = smtest_daemon_tcase(s, "cli", 60);
  tcase_add_test(tc, test_cli_scan);
  tc = tcase_create("too_large");
  tcase_add_unchecked_fixture(tc, start_small, stop_small);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_too_large_points_at_scan);
  suite_add_tcase(s, tc);
  return s;
}
