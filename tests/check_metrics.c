/* SPDX-License-Identifier: MIT */
/* check_metrics.c - the inspectable daemon: the Prometheus endpoint fetched
 * with a real HTTP client (curl) and its counters checked against the calls
 * this test made; `show` naming a lock's holder and its parked waiter; the
 * CLI's stats and show. */
#include "smtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static smtest_daemon d;

static void start(void) {
  const char *args[] = {"--metrics", "tcp://127.0.0.1:0", NULL};
  smtest_daemon_start(&d, args);
}
static void stop(void) { smtest_daemon_stop_checked(&d); }

/* The value of the metric line that starts with prefix (e.g.
 * `statemgr_calls_total{type="dict",method="set"}`), or -1 when absent. */
static long long metric(const char *text, const char *prefix) {
  size_t n = strlen(prefix);
  for (const char *line = text; line && *line;
       line = strchr(line, '\n'), line = line ? line + 1 : 0)
    if (strncmp(line, prefix, n) == 0 && line[n] == ' ') return atoll(line + n + 1);
  return -1;
}

static void fetch(const char *url, char *out, size_t len) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "curl -sS --max-time 5 '%s'", url);
  ck_assert_int_eq(smtest_run(cmd, out, len), 0);
}

/* The counters on /metrics match the calls made: 7 dict sets, 3 gets, one
 * named dict; gauges are present; another path is 404. */
START_TEST(metrics_count_calls) {
  ck_assert_msg(d.metrics_url[0], "the ready file names no metrics URL");
  sm_client *c = smtest_connect(&d, NULL);
  sm_dict *dict;
  OK(sm_dict_open(c, "counted", &dict));
  for (int i = 0; i < 7; i++)
    OK(sm_dict_set_int(dict, "k", i));
  int64_t v;
  for (int i = 0; i < 3; i++)
    OK(sm_dict_get_int(dict, "k", &v));
  static char text[65536];
  fetch(d.metrics_url, text, sizeof text);
  ck_assert_int_eq(metric(text, "statemgr_calls_total{type=\"dict\",method=\"set\"}"), 7);
  ck_assert_int_eq(metric(text, "statemgr_calls_total{type=\"dict\",method=\"get\"}"), 3);
  ck_assert_int_eq(metric(text, "statemgr_objects{type=\"dict\"}"), 1);
  ck_assert_int_eq(metric(text, "statemgr_named_objects"), 1);
  ck_assert_int_ge(metric(text, "statemgr_connections"), 1);
  ck_assert_int_gt(metric(text, "statemgr_resident_memory_bytes"), 0);
  ck_assert_int_ge(metric(text, "statemgr_requests_total"), 11);
  ck_assert_ptr_nonnull(strstr(text, "# TYPE statemgr_calls_total counter"));
  char url[200], cmd[300];
  snprintf(url, sizeof url, "%s", d.metrics_url);
  char *path = strstr(url + 7, "/metrics");
  ck_assert_ptr_nonnull(path);
  strcpy(path, "/nope");
  snprintf(cmd, sizeof cmd, "curl -s -o /dev/null -w '%%{http_code}' '%s'", url);
  ck_assert_int_eq(smtest_run(cmd, text, sizeof text), 0);
  ck_assert_str_eq(text, "404");
  sm_dict_free(dict);
  sm_client_free(c);
}
END_TEST

/* show names the connection holding a lock and counts the acquire parked
 * behind it; the CLI prints the same, and stats reports the calls. */
START_TEST(show_holder_and_waiter) {
  sm_client *holder = smtest_connect(&d, NULL), *waiter = smtest_connect(&d, d.unix_url);
  sm_lock *l1, *l2;
  OK(sm_lock_open(holder, "shown", &l1));
  OK(sm_lock_acquire(l1, SM_FOREVER));
  OK(sm_lock_open(waiter, "shown", &l2));
  FAILS(sm_lock_acquire(l2, 0), SM_ETIMEOUT);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) { /* a parked acquire from another process */
    sm_client *c = smtest_connect(&d, NULL);
    sm_lock *l;
    if (sm_lock_open(c, "shown", &l) != 0 || sm_lock_acquire(l, 10000) != 0) _exit(1);
    _exit(0);
  }
  int64_t parked = 0;
  for (int i = 0; i < 200 && parked < 1; i++) {
    parked = smtest_info_int(holder, "waiters");
    if (parked < 1) usleep(10 * 1000);
  }
  ck_assert_int_eq(parked, 1);
  sm_value *m = NULL;
  OK(sm_show(holder, "shown", &m));
  sm_value *k = sm_value_str("waiters");
  ck_assert_int_eq(sm_value_as_int(sm_value_map_get(m, k)), 1);
  sm_value_free(k);
  k = sm_value_str("holders");
  const sm_value *holders = sm_value_map_get(m, k);
  ck_assert_uint_eq(sm_value_len(holders), 1);
  sm_value_free(k);
  sm_value_free(m);
  FAILS(sm_show(holder, "no-such-object", &m), SM_ENOTFOUND);

  char cmd[1024], out[8192];
  snprintf(cmd, sizeof cmd, "'%s' -u '%s' --authkey-file '%s' show shown", getenv("STATEMGR_CLI"),
           d.tcp_url, d.authkey_file);
  ck_assert_int_eq(smtest_run(cmd, out, sizeof out), 0);
  ck_assert_ptr_nonnull(strstr(out, "type: lock"));
  ck_assert_ptr_nonnull(strstr(out, "waiters: 1"));
  ck_assert_ptr_nonnull(strstr(out, "holder: connection"));
  snprintf(cmd, sizeof cmd, "'%s' -u '%s' --authkey-file '%s' stats 0", getenv("STATEMGR_CLI"),
           d.tcp_url, d.authkey_file);
  ck_assert_int_eq(smtest_run(cmd, out, sizeof out), 0);
  ck_assert_ptr_nonnull(strstr(out, "objects.lock: 1"));
  ck_assert_ptr_nonnull(strstr(out, "calls.lock.acquire: total"));
  ck_assert_ptr_nonnull(strstr(out, "waiters: 1"));

  OK(sm_lock_release(l1)); /* the child gets it and exits */
  int st;
  ck_assert_int_eq(waitpid(pid, &st, 0), pid);
  ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  sm_lock_free(l1);
  sm_lock_free(l2);
  sm_client_free(holder);
  sm_client_free(waiter);
}
END_TEST

Suite *metrics_suite(void) {
  Suite *s = suite_create("metrics");
  TCase *tc = tcase_create("inspect");
  tcase_add_checked_fixture(tc, start, stop);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, metrics_count_calls);
  tcase_add_test(tc, show_holder_and_waiter);
  suite_add_tcase(s, tc);
  return s;
}
