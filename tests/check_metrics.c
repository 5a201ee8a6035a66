/* SPDX-License-Identifier: MIT */
/* check_metrics.c - the inspectable daemon: the Prometheus endpoint fetched
 * with a real HTTP client (curl) and its counters checked against the calls
 * this test made (latency histograms, errors per status, bytes, refused
 * connections, failed authentications and TLS handshakes, process_* and
 * build info), label values escaped for a custom type with an awkward
 * name; `show` naming a lock's holder and its parked waiter; the CLI's
 * stats and show. */
#include "smtest.h"

#include "statemgr_server.h"

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
  ck_assert_ptr_nonnull(strstr(out, "latency.lock.acquire: p50 <= "));
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

/* The latency histogram of dict.set counts each of 7 calls once: its
 * buckets are cumulative and end at +Inf with the count; answers per status
 * count a NOT_FOUND; bytes in and out grow with the calls; the process_*
 * figures and the build info are there. */
START_TEST(metrics_histogram_errors_process) {
  sm_client *c = smtest_connect(&d, NULL);
  sm_dict *dict;
  OK(sm_dict_open(c, "timed", &dict));
  static char text[262144];
  fetch(d.metrics_url, text, sizeof text);
  long long in0 = metric(text, "statemgr_net_input_bytes_total");
  long long out0 = metric(text, "statemgr_net_output_bytes_total");
  ck_assert_int_gt(in0, 0);
  ck_assert_int_gt(out0, 0);
  for (int i = 0; i < 7; i++)
    OK(sm_dict_set_int(dict, "k", i));
  int64_t v;
  FAILS(sm_dict_get_int(dict, "absent", &v), SM_ENOTFOUND);
  fetch(d.metrics_url, text, sizeof text);
  const char *base = "statemgr_call_duration_seconds_bucket{type=\"dict\",method=\"set\",le=";
  char name[256];
  long long last = 0;
  static const char *const les[] = {"1e-05", "0.0001", "0.001", "0.01", "0.1", "1"};
  for (size_t i = 0; i < sizeof les / sizeof les[0]; i++) {
    snprintf(name, sizeof name, "%s\"%s\"}", base, les[i]);
    long long n = metric(text, name);
    ck_assert_msg(n >= last && n <= 7, "bucket %s holds %lld", les[i], n);
    last = n;
  }
  snprintf(name, sizeof name, "%s\"+Inf\"}", base);
  ck_assert_int_eq(metric(text, name), 7);
  ck_assert_int_eq(
      metric(text, "statemgr_call_duration_seconds_count{type=\"dict\",method=\"set\"}"), 7);
  ck_assert_ptr_nonnull(
      strstr(text, "statemgr_call_duration_seconds_sum{type=\"dict\",method=\"set\"} 0."));
  ck_assert_ptr_nonnull(strstr(text, "# TYPE statemgr_call_duration_seconds histogram"));
  ck_assert_int_eq(metric(text, "statemgr_errors_total{status=\"NOT_FOUND\"}"), 1);
  ck_assert_int_eq(metric(text, "statemgr_errors_total{status=\"TYPE_ERROR\"}"), 0);
  ck_assert_int_gt(metric(text, "statemgr_net_input_bytes_total"), in0 + 7 * 10);
  ck_assert_int_gt(metric(text, "statemgr_net_output_bytes_total"), out0 + 7 * 10);
  ck_assert_int_gt(metric(text, "process_open_fds"), 3);
  ck_assert_int_gt(metric(text, "process_max_fds"), 0);
  ck_assert_int_gt(metric(text, "process_resident_memory_bytes"), 0);
  ck_assert_int_gt(metric(text, "process_virtual_memory_bytes"), 0);
  ck_assert_int_gt(metric(text, "process_start_time_seconds"), 1700000000);
  const char *cpu = strstr(text, "\nprocess_cpu_seconds_total ");
  ck_assert_ptr_nonnull(cpu);
  ck_assert(strtod(cpu + strlen("\nprocess_cpu_seconds_total "), NULL) > 0);
  char build[160];
  snprintf(build, sizeof build, "statemgr_build_info{version=\"%d.%d.%d\",protocol=\"",
           SM_VERSION_MAJOR, SM_VERSION_MINOR, SM_VERSION_PATCH);
  ck_assert_msg(strstr(text, build), "no build info line in:\n%.2000s", text);
  /* info reports the same counters */
  sm_value *info = NULL;
  OK(sm_info(c, &info));
  sm_value *k = sm_value_str("errors");
  sm_value *nf = sm_value_str("NOT_FOUND");
  ck_assert_int_eq(sm_value_as_int(sm_value_map_get(sm_value_map_get(info, k), nf)), 1);
  sm_value_free(k);
  sm_value_free(nf);
  sm_value_free(info);
  /* and info's latency: the same count, p50 and p99 as bucket bounds */
  OK(sm_info(c, &info));
  k = sm_value_str("latency");
  sm_value *m = sm_value_str("dict.set"), *f = sm_value_str("count");
  const sm_value *lat = sm_value_map_get(sm_value_map_get(info, k), m);
  ck_assert_int_eq(sm_value_as_int(sm_value_map_get(lat, f)), 7);
  sm_value_free(f);
  f = sm_value_str("p99_us");
  int64_t p99 = sm_value_as_int(sm_value_map_get(lat, f));
  ck_assert_msg(p99 >= 10 && p99 <= 1000000, "p99 bound %lld", (long long)p99);
  sm_value_free(f);
  sm_value_free(m);
  sm_value_free(k);
  sm_value_free(info);
  ck_assert_int_gt(smtest_info_int(c, "net_input_bytes"), in0);
  ck_assert_int_gt(smtest_info_int(c, "open_fds"), 3);
  sm_dict_free(dict);
  sm_client_free(c);
}
END_TEST

/* A wrong authkey counts as an authentication failure; a client over
 * --max-connections as a refused connection, on /metrics and in info. */
START_TEST(metrics_auth_failures_and_refusals) {
  smtest_daemon lim;
  const char *args[] = {"--metrics", "tcp://127.0.0.1:0", "--max-connections", "1", NULL};
  smtest_daemon_start(&lim, args);
  int fd = smtest_raw_connect(lim.tcp_url);
  const uint8_t wrong[] = "not the daemon's authkey at all";
  ck_assert_int_eq(smtest_raw_handshake(fd, wrong, sizeof wrong - 1, NULL), WS_AUTH_FAILED);
  close(fd);
  sm_client *first = smtest_connect(&lim, NULL), *second = NULL;
  sm_options *o = sm_options_new();
  OK(sm_options_set_authkey_file(o, lim.authkey_file));
  ck_assert_int_ne(sm_connect(lim.tcp_url, o, &second), SM_OK);
  sm_options_free(o);
  static char text[262144];
  fetch(lim.metrics_url, text, sizeof text);
  ck_assert_int_eq(metric(text, "statemgr_auth_failures_total"), 1);
  ck_assert_int_eq(metric(text, "statemgr_refused_connections_total{reason=\"max_connections\"}"),
                   1);
  ck_assert_int_eq(metric(text, "statemgr_refused_connections_total{reason=\"auth_throttled\"}"),
                   0);
  ck_assert_int_eq(smtest_info_int(first, "auth_failures"), 1);
  sm_client_free(first);
  smtest_daemon_stop_checked(&lim);
}
END_TEST

/* A plaintext client on a TLS port is a failed TLS handshake. */
START_TEST(metrics_tls_handshake_failure) {
  smtest_certs certs;
  smtest_certs_make(&certs, NULL);
  smtest_daemon tls;
  const char *args[] = {"--metrics",         "tcp://127.0.0.1:0", "--listen",
                        "tls://127.0.0.1:0", "--tls-cert",        certs.server,
                        "--tls-key",         certs.server_key,    NULL};
  smtest_daemon_start(&tls, args);
  char url[160];
  snprintf(url, sizeof url, "tcp://%.100s", tls.tls_url + strlen("tls://"));
  int fd = smtest_raw_connect(url);
  const char junk[] = "GET / HTTP/1.0\r\n\r\n";
  smtest_send_all(fd, junk, sizeof junk - 1);
  ck_assert(smtest_closed_by_daemon(fd));
  close(fd);
  static char text[262144];
  long long failed = -1;
  for (int i = 0; i < 100 && failed < 1; i++) { /* logged and counted as the daemon closes */
    fetch(tls.metrics_url, text, sizeof text);
    failed = metric(text, "statemgr_tls_handshake_failures_total");
    if (failed < 1) usleep(20 * 1000);
  }
  ck_assert_int_eq(failed, 1);
  smtest_daemon_stop_checked(&tls);
  smtest_certs_remove(&certs);
}
END_TEST

/* ---- label escaping: a custom type whose name needs it ---- */

static int odd_echo(sm_method_call *mc) {
  (void)mc;
  return 0;
}
static const sm_method_def odd_methods[] = {{"say \"hi\"", odd_echo}};
/* quote, backslash and newline: each escaped on /metrics */
static const sm_type_def odd_type = {.version = SM_TYPE_DEF_VERSION,
                                     .name = "we\"ird\\type\nx",
                                     .methods = odd_methods,
                                     .n_methods = 1};

/* The type and method labels of a custom type named with a double quote,
 * a backslash and a newline come out escaped (\", \\, \n), so the
 * exposition stays one sample per line. */
START_TEST(metrics_label_escaping) {
  char dir[64] = "/tmp/smmetrics.XXXXXX", url[128], ready[128], line[256];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(url, sizeof url, "unix:%s/s.sock", dir);
  snprintf(ready, sizeof ready, "%s/ready", dir);
  static const char key[] = "0123456789abcdef0123456789abcdef";
  sm_server_options *o = sm_server_options_new();
  OK(sm_server_options_set_authkey(o, key, sizeof key - 1));
  OK(sm_server_options_set_log_level(o, SM_LOG_ERROR));
  OK(sm_server_options_set_metrics(o, "tcp://127.0.0.1:0"));
  OK(sm_server_options_set_ready_file(o, ready));
  sm_server *srv = NULL;
  OK(sm_server_new(o, &srv));
  sm_server_options_free(o);
  OK(sm_server_register_type(srv, &odd_type));
  OK(sm_server_listen(srv, url));
  OK(sm_server_run_thread(srv));
  char murl[160] = "";
  for (int i = 0; i < 200 && !murl[0]; i++) {
    FILE *f = fopen(ready, "r");
    while (f && fgets(line, sizeof line, f))
      if (strncmp(line, "http://", 7) == 0) sscanf(line, "%159s", murl);
    if (f) fclose(f);
    if (!murl[0]) usleep(10 * 1000);
  }
  ck_assert_msg(murl[0], "no metrics URL in the ready file");
  sm_options *co = sm_options_new();
  OK(sm_options_set_authkey(co, key, sizeof key - 1));
  sm_client *c = NULL;
  OK(sm_connect(url, co, &c));
  sm_options_free(co);
  sm_proxy *p = NULL;
  OK(sm_proxy_open(c, odd_type.name, "odd", NULL, &p));
  sm_value *r = NULL;
  OK(sm_call(p, odd_methods[0].name, NULL, 0, &r));
  sm_value_free(r);
  static char text[262144];
  fetch(murl, text, sizeof text);
  ck_assert_int_eq(metric(text, "statemgr_objects{type=\"we\\\"ird\\\\type\\nx\"}"), 1);
  ck_assert_int_eq(metric(text, "statemgr_calls_total{type=\"we\\\"ird\\\\type\\nx\","
                                "method=\"say \\\"hi\\\"\"}"),
                   1);
  ck_assert_ptr_null(strstr(text, "we\"ird")); /* never raw */
  sm_proxy_free(p);
  sm_client_free(c);
  sm_server_stop(srv);
  ck_assert_int_eq(sm_server_join(srv), 0);
  sm_server_free(srv);
  unlink(ready);
  rmdir(dir);
}
END_TEST

Suite *metrics_suite(void) {
  Suite *s = suite_create("metrics");
  TCase *tc = tcase_create("inspect");
  tcase_add_checked_fixture(tc, start, stop);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, metrics_count_calls);
  tcase_add_test(tc, show_holder_and_waiter);
  tcase_add_test(tc, metrics_histogram_errors_process);
  suite_add_tcase(s, tc);
  tc = tcase_create("failures");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, metrics_auth_failures_and_refusals);
  tcase_add_test(tc, metrics_tls_handshake_failure);
  tcase_add_test(tc, metrics_label_escaping);
  suite_add_tcase(s, tc);
  return s;
}
