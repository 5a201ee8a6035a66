/* SPDX-License-Identifier: MIT */
/* check_memory.c - the memory limit and giving memory back, against a real
 * statemgrd: past --max-memory, calls that grow the data get
 * SM_EMAXMEMORY with a clear text while reads, deletes and other calls go
 * on, and deleting brings writes back; info and /metrics show used and
 * max; a big delete hands the freed heap back to the system. */
#include "smtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LIMIT_ARG "2M"
#define LIMIT ((int64_t)2 << 20)
#define VALUE_LEN 50000

static smtest_daemon d;

static void start_limited(void) {
  const char *args[] = {"--max-memory", LIMIT_ARG, "--metrics", "tcp://127.0.0.1:0", NULL};
  smtest_daemon_start(&d, args);
}
static void stop(void) { smtest_daemon_stop_checked(&d); }

/* A string of n copies of c (caller frees with free()). */
static char *filler(size_t n, char c) {
  char *s = malloc(n + 1);
  ck_assert_ptr_nonnull(s);
  memset(s, c, n);
  s[n] = '\0';
  return s;
}

/* Sets fill.<prefix>0, fill.<prefix>1... to len-byte strings until the
 * daemon refuses one; returns how many it took. */
static int fill_until_refused(sm_dict *fill, const char *prefix, size_t len) {
  char *v = filler(len, 'x');
  for (int i = 0; i < 100000; i++) {
    char key[32];
    snprintf(key, sizeof key, "%s%d", prefix, i);
    int rc = sm_dict_set_str(fill, key, v);
    if (rc == SM_EMAXMEMORY) {
      free(v);
      return i;
    }
    OK(rc);
  }
  ck_abort_msg("100000 values of %zu bytes went past a %s limit", len, LIMIT_ARG);
  return -1;
}

/* Past the limit: every call that would store more is refused with
 * SM_EMAXMEMORY and a text naming the limit and the option; reads,
 * deletes, opening what exists and calls that store nothing still work;
 * a delete brings writes back. */
START_TEST(limit_refuses_growth_only) {
  sm_client *c = smtest_connect(&d, NULL);
  sm_dict *fill;
  sm_list *list;
  sm_queue *q;
  sm_lock *lock;
  sm_var *counter;
  OK(sm_dict_open(c, "fill", &fill));
  OK(sm_list_open(c, "list", &list));
  OK(sm_queue_open(c, "queue", 0, &q));
  OK(sm_lock_open(c, "lock", &lock));
  sm_value *zero = sm_value_int(0);
  OK(sm_var_open(c, "counter", zero, &counter));
  sm_value_free(zero);
  char *big = filler(VALUE_LEN, 'x');
  sm_dict *other;

  int n = fill_until_refused(fill, "k", VALUE_LEN);
  ck_assert_int_ge(n, (int)(LIMIT / VALUE_LEN) - 4); /* the limit, not something smaller */
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "memory limit of 2 MiB"));
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "--max-memory"));
  /* Fill what room is left with smaller and smaller values. */
  n += fill_until_refused(fill, "m", 1000);
  n += fill_until_refused(fill, "s", 1);
  /* Each call is weighed by its arguments; a table's growth may pass the
   * limit by a step (the dict's bucket array doubling: 16 KiB at most for
   * the few hundred keys here), never by a value of 50000 bytes. */
  ck_assert_int_le(smtest_info_int(c, "used_memory"), LIMIT + 16384);
  ck_assert_int_gt(smtest_info_int(c, "used_memory"), LIMIT - 200);

  /* Growth of any kind is refused. */
  FAILS(sm_list_append_str(list, big), SM_EMAXMEMORY);
  FAILS(sm_queue_put_str(q, big, 0), SM_EMAXMEMORY);
  FAILS(sm_dict_open(c, "new-name", &other), SM_EMAXMEMORY);
  FAILS(sm_dict_open(c, NULL, &other), SM_EMAXMEMORY);

  /* Reads, opening an existing name, and calls that store nothing work. */
  char *got = NULL;
  OK(sm_dict_get_str(fill, "k0", &got));
  ck_assert_uint_eq(strlen(got), VALUE_LEN);
  sm_free(got);
  size_t len;
  OK(sm_dict_len(fill, &len));
  ck_assert_uint_eq(len, (size_t)n);
  sm_dict *again;
  OK(sm_dict_open(c, "fill", &again));
  sm_dict_free(again);
  OK(sm_lock_acquire(lock, 0));
  OK(sm_lock_release(lock));
  int64_t now;
  OK(sm_var_add_int(counter, 5, &now));
  ck_assert_int_eq(now, 5);

  /* Deleting makes room: the refused write goes through. */
  int64_t before = smtest_info_int(c, "used_memory");
  OK(sm_dict_del_str(fill, "k0"));
  OK(sm_dict_del_str(fill, "k1"));
  ck_assert_int_lt(smtest_info_int(c, "used_memory"), before - 2 * VALUE_LEN);
  OK(sm_list_append_str(list, big));
  OK(sm_delete(c, "fill"));
  OK(sm_dict_open(c, "new-name", &other));
  sm_dict_free(other);

  free(big);
  sm_dict_free(fill);
  sm_list_free(list);
  sm_queue_free(q);
  sm_lock_free(lock);
  sm_var_free(counter);
  sm_client_free(c);
}
END_TEST

/* One big object is refused before it is allocated: an 8 MiB array under a
 * 2 MiB limit, on an empty daemon; a small one fits. */
START_TEST(limit_refuses_big_array) {
  sm_client *c = smtest_connect(&d, NULL);
  sm_array *a;
  FAILS(sm_array_open(c, "huge", "i64", 1 << 20, &a), SM_EMAXMEMORY);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "would be passed"));
  ck_assert_int_eq(smtest_info_int(c, "objects"), 0);
  OK(sm_array_open(c, "small", "i64", 1000, &a));
  sm_array_free(a);
  sm_client_free(c);
}
END_TEST

/* The value of the metric line `name value`, or -1 when absent. */
static long long metric(const char *text, const char *name) {
  size_t n = strlen(name);
  for (const char *line = text; line && *line;
       line = strchr(line, '\n'), line = line ? line + 1 : 0)
    if (strncmp(line, name, n) == 0 && line[n] == ' ') return atoll(line + n + 1);
  return -1;
}

/* info, /metrics and `statemgr stats` report the same used and max; used
 * follows what is stored (1 MiB of values adds 1 to 1.25 MiB) and falls
 * back when it is deleted. */
START_TEST(info_and_metrics_show_memory) {
  sm_client *c = smtest_connect(&d, NULL);
  ck_assert_int_eq(smtest_info_int(c, "max_memory"), LIMIT);
  sm_dict *dict;
  OK(sm_dict_open(c, "weighed", &dict));
  int64_t empty = smtest_info_int(c, "used_memory");
  char *v = filler(1024, 'v');
  for (int i = 0; i < 1024; i++) {
    char key[32];
    snprintf(key, sizeof key, "%d", i);
    OK(sm_dict_set_str(dict, key, v));
  }
  free(v);
  int64_t used = smtest_info_int(c, "used_memory");
  ck_assert_int_ge(used - empty, 1 << 20);
  ck_assert_int_le(used - empty, (1 << 20) + (1 << 18));

  char cmd[1024];
  static char text[65536];
  snprintf(cmd, sizeof cmd, "curl -sS --max-time 5 '%s'", d.metrics_url);
  ck_assert_int_eq(smtest_run(cmd, text, sizeof text), 0);
  ck_assert_int_eq(metric(text, "statemgr_used_memory_bytes"), used);
  ck_assert_int_eq(metric(text, "statemgr_max_memory_bytes"), LIMIT);
  snprintf(cmd, sizeof cmd, "'%s' -u '%s' --authkey-file '%s' stats 0", getenv("STATEMGR_CLI"),
           d.tcp_url, d.authkey_file);
  ck_assert_int_eq(smtest_run(cmd, text, sizeof text), 0);
  char line[64];
  snprintf(line, sizeof line, "max_memory: %lld\n", (long long)LIMIT);
  ck_assert_ptr_nonnull(strstr(text, line));
  ck_assert_ptr_nonnull(strstr(text, "used_memory: "));

  sm_dict_free(dict);
  OK(sm_delete(c, "weighed"));
  ck_assert_int_lt(smtest_info_int(c, "used_memory"), empty);
  sm_client_free(c);
}
END_TEST

/* Without --max-memory there is no limit (max_memory 0), and a big delete
 * gives the heap back: resident memory falls most of the way back to where
 * it started once the trim has run. */
START_TEST(delete_returns_memory) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  ck_assert_int_eq(smtest_info_int(c, "max_memory"), 0);
  int64_t rss_start = smtest_info_int(c, "rss_bytes");
  int64_t trims = smtest_info_int(c, "memory_trims");
  sm_dict *dict;
  OK(sm_dict_open(c, "many", &dict));
  sm_pipeline *pl;
  OK(sm_pipeline_new(c, &pl));
  char *v = filler(80, 'p');
  for (int i = 0; i < 200000; i++) {
    char key[32];
    snprintf(key, sizeof key, "key-%d", i);
    sm_value *k = sm_value_str(key), *val = sm_value_str(v);
    const sm_value *args[2] = {k, val};
    OK(sm_pipeline_call(pl, sm_dict_proxy(dict), "set", args, 2));
    sm_value_free(k);
    sm_value_free(val);
    if (sm_pipeline_count(pl) == 2000) {
      OK(sm_pipeline_exec(pl));
      sm_pipeline_reset(pl);
    }
  }
  free(v);
  sm_pipeline_free(pl);
  int64_t rss_full = smtest_info_int(c, "rss_bytes");
  ck_assert_int_gt(rss_full - rss_start, 20 << 20);
  sm_dict_free(dict);
  OK(sm_delete(c, "many"));
  for (int i = 0; i < 300 && smtest_info_int(c, "memory_trims") == trims; i++)
    usleep(10 * 1000);
  ck_assert_int_gt(smtest_info_int(c, "memory_trims"), trims);
  /* The allocators of valgrind and of AddressSanitizer (the daemon of an
   * ASan build is one too) replace glibc's and keep freed blocks in
   * quarantine: there resident memory says nothing about the trim. */
#if !defined(__SANITIZE_ADDRESS__)
  if (!getenv("SMTEST_VALGRIND"))
    ck_assert_int_lt(smtest_info_int(c, "rss_bytes") - rss_start, (rss_full - rss_start) / 4);
#endif
  sm_client_free(c);
}
END_TEST

Suite *memory_suite(void) {
  Suite *s = suite_create("memory");
  TCase *tc = tcase_create("limit");
  tcase_add_checked_fixture(tc, start_limited, stop);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, limit_refuses_growth_only);
  tcase_add_test(tc, limit_refuses_big_array);
  tcase_add_test(tc, info_and_metrics_show_memory);
  suite_add_tcase(s, tc);
  tc = smtest_daemon_tcase(s, "trim", 120);
  tcase_add_test(tc, delete_returns_memory);
  return s;
}
