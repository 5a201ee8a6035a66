/* SPDX-License-Identifier: MIT */
/* check_bench.c - statemgr-bench, run as a real process ($STATEMGR_BENCH)
 * against a real statemgrd: its argument handling (bad numbers, unknown
 * workloads and options exit 2 with a message; a dead address exits 3),
 * its output (every line has exactly the keys the format promises, the CSV
 * header and rows parse, threads and processes both work, over TCP and the
 * UNIX socket), and above all its result checking: values changed, keys
 * deleted or a counter moved behind its back by another client make it
 * print "error: workload=..." and exit 1, so a fast wrong answer cannot pass
 * for speed. --rate paces the clients, times requests from when they were
 * due, and says when the rate was not kept. */
#include "smtest.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OUT_LEN 65536

static const char *bench_bin(void) {
  const char *p = getenv("STATEMGR_BENCH");
  ck_assert_msg(p && *p && access(p, X_OK) == 0,
                "STATEMGR_BENCH must name the statemgr-bench binary (ctest sets it)");
  return p;
}

/* Runs statemgr-bench against the test daemon (url NULL: its TCP URL)
 * with args; stdout and stderr both land in out. Returns the exit code. */
static int bench(const char *url, const char *args, char *out) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s -u '%s' --authkey-file '%s' %s 2>&1", bench_bin(),
           url ? url : smtest_d.tcp_url, smtest_d.authkey_file, args);
  return smtest_run(cmd, out, OUT_LEN);
}

static const char *const line_keys[] = {"workload",  "transport", "clients", "pipeline",
                                        "ops_per_s", "p50_us",    "p99_us",  "max_us"};

/* Checks one result line: exactly the eight keys in order, each with a
 * value, numbers where numbers belong. Fills workload (64 bytes). */
static void check_line(const char *line, const char *transport, int clients, char *workload) {
  char copy[512];
  snprintf(copy, sizeof copy, "%s", line);
  char *save = NULL, *tok = strtok_r(copy, " ", &save);
  for (size_t k = 0; k < 8; k++, tok = strtok_r(NULL, " ", &save)) {
    ck_assert_msg(tok != NULL, "line \"%s\" lacks %s", line, line_keys[k]);
    size_t kl = strlen(line_keys[k]);
    ck_assert_msg(strncmp(tok, line_keys[k], kl) == 0 && tok[kl] == '=' && tok[kl + 1],
                  "line \"%s\": field %zu is \"%s\", wanted %s=...", line, k, tok, line_keys[k]);
    const char *val = tok + kl + 1;
    if (k == 0) snprintf(workload, 64, "%s", val);
    if (k == 1) ck_assert_str_eq(val, transport);
    if (k == 2) ck_assert_int_eq(atoi(val), clients);
    if (k >= 3) {
      char *end;
      double d = strtod(val, &end);
      ck_assert_msg(*end == '\0' && d >= 0, "line \"%s\": %s is not a number", line, tok);
      if (k == 3 || k == 4) ck_assert_msg(d > 0, "line \"%s\": %s", line, tok);
    }
  }
  ck_assert_msg(tok == NULL, "line \"%s\" has more than the 8 fields", line);
}

/* Bad arguments exit 2 with a message naming the problem; --help exits 0. */
START_TEST(test_usage_errors) {
  static const struct {
    const char *args, *says;
  } cases[] = {
      {"-c 0", "-c"},
      {"-c abc", "-c"},
      {"-c 10001", "-c"},
      {"-c -3", "-c"},
      {"-n 0", "-n"},
      {"-P 0", "-P"},
      {"-d 0", "-d"},
      {"-r x", "-r"},
      {"--seed -1", "--seed"},
      {"--rate 0", "--rate"},
      {"--rate -5", "--rate"},
      {"--rate 1.5", "--rate"},
      {"--rate fast", "--rate"},
      {"--rate 100000001", "--rate"},
      {"--rate", "needs an argument"},
      {"-t nosuch", "unknown workload \"nosuch\""},
      {"-t dict_set,nosuch", "unknown workload"},
      {"-t dict_set,", "comma"},
      {"-t ''", "no workload"},
      {"--frobnicate", "unknown option"},
      {"-c", "needs an argument"},
      {"stray", "unexpected argument"},
  };
  char *out = malloc(OUT_LEN);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int rc = bench(NULL, cases[i].args, out);
    ck_assert_msg(rc == 2, "%s: exit %d, wanted 2 (%s)", cases[i].args, rc, out);
    ck_assert_msg(strstr(out, cases[i].says) != NULL, "%s: message \"%s\" lacks \"%s\"",
                  cases[i].args, out, cases[i].says);
    ck_assert_msg(strstr(out, "workload=") == NULL, "%s ran something: %s", cases[i].args, out);
  }
  int rc = bench("http://127.0.0.1:1", "-t ping", out);
  ck_assert_msg(rc == 2 && strstr(out, "-u"), "bad scheme: exit %d: %s", rc, out);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s --help", bench_bin());
  ck_assert_int_eq(smtest_run(cmd, out, OUT_LEN), 0);
  ck_assert_msg(strstr(out, "usage: statemgr-bench") && strstr(out, "queue_putget"), "%s", out);
  free(out);
}
END_TEST

/* Nothing listening, or the wrong authkey: exit 3, nothing measured. */
START_TEST(test_connect_failure) {
  char *out = malloc(OUT_LEN), cmd[1024];
  snprintf(cmd, sizeof cmd, "%s -u tcp://127.0.0.1:1 --authkey-file '%s' -t ping -n 10 2>&1",
           bench_bin(), smtest_d.authkey_file);
  int rc = smtest_run(cmd, out, OUT_LEN);
  ck_assert_msg(rc == 3, "exit %d: %s", rc, out);
  ck_assert_msg(strstr(out, "cannot connect"), "%s", out);
  char keyfile[] = "/tmp/check_bench_key.XXXXXX";
  int fd = mkstemp(keyfile);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, "not-the-key-at-all\n", 19), 19);
  close(fd);
  snprintf(cmd, sizeof cmd, "%s -u '%s' --authkey-file %s -t ping -n 10 2>&1", bench_bin(),
           smtest_d.tcp_url, keyfile);
  rc = smtest_run(cmd, out, OUT_LEN);
  unlink(keyfile);
  ck_assert_msg(rc == 3, "wrong key: exit %d: %s", rc, out);
  free(out);
}
END_TEST

/* Every workload runs with threads over TCP, and prints one line each with
 * exactly the promised keys, in the order given. */
START_TEST(test_lines_every_workload) {
  static const char *const all[] = {"ping",         "dict_set",  "dict_get",   "dict_setget",
                                    "dict_cas",     "list_push", "list_pop",   "value_incr",
                                    "queue_putget", "lock",      "fenced_lock"};
  char *out = malloc(OUT_LEN);
  int rc = bench(NULL,
                 "-q -c 2 -n 400 -r 100 --prefix lines: -t "
                 "ping,dict_set,dict_get,dict_setget,dict_cas,list_push,list_pop,value_incr,"
                 "queue_putget,lock,fenced_lock",
                 out);
  ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
  char *save = NULL;
  size_t n = 0;
  for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++) {
    ck_assert_msg(n < 11, "more lines than workloads: %s", line);
    char workload[64];
    check_line(line, "tcp", 2, workload);
    ck_assert_str_eq(workload, all[n]);
    ck_assert_msg(strstr(line, " pipeline=1 "), "%s", line);
  }
  ck_assert_uint_eq(n, 11);
  free(out);
}
END_TEST

/* --csv over the UNIX socket with processes and -P 8: the header, then one
 * row of 8 fields per workload; lock reports the depth it really used (1). */
START_TEST(test_csv_processes_unix) {
  char *out = malloc(OUT_LEN);
  int rc = bench(smtest_d.unix_url,
                 "--csv -q --processes -c 3 -n 300 -r 50 -P 8 --prefix csv: -t "
                 "dict_get,value_incr,queue_putget,lock",
                 out);
  ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
  static const char *const names[] = {"dict_get", "value_incr", "queue_putget", "lock"};
  char *save = NULL, *line = strtok_r(out, "\n", &save);
  ck_assert_ptr_nonnull(line);
  ck_assert_str_eq(line, "workload,transport,clients,pipeline,ops_per_s,p50_us,p99_us,max_us");
  for (size_t i = 0; i < 4; i++) {
    line = strtok_r(NULL, "\n", &save);
    ck_assert_msg(line != NULL, "row %zu missing", i);
    char name[64], transport[16];
    int clients = 0, pipeline = 0;
    double ops = 0, p50 = 0, p99 = 0, max = 0;
    int got = sscanf(line, "%63[^,],%15[^,],%d,%d,%lf,%lf,%lf,%lf", name, transport, &clients,
                     &pipeline, &ops, &p50, &p99, &max);
    ck_assert_msg(got == 8, "row \"%s\" does not parse", line);
    ck_assert_str_eq(name, names[i]);
    ck_assert_str_eq(transport, "unix");
    ck_assert_int_eq(clients, 3);
    ck_assert_int_eq(pipeline, i == 3 ? 1 : 8);
    ck_assert(ops > 0 && p50 > 0 && p99 >= p50);
    /* max is exact, p99 the middle of its ~3% bucket */
    ck_assert_msg(max * 1.05 >= p99, "row \"%s\": max below p99", line);
  }
  ck_assert_ptr_null(strtok_r(NULL, "\n", &save));
  free(out);
}
END_TEST

/* Opens the dict a bench run with prefix uses. */
static sm_dict *bench_dict(sm_client *c, const char *prefix) {
  char name[128];
  snprintf(name, sizeof name, "%sdict", prefix);
  sm_dict *d = NULL;
  ck_assert_int_eq(sm_dict_open(c, name, &d), 0);
  return d;
}

/* dict_get checks every value against the one its key was given: after a
 * clean dict_set it passes; once another client changes one value (same
 * length, one byte off) it reports that key and exits 1; a deleted key
 * fails the same way; so does reading with another --seed. Keys are read in
 * order, so every key is read (40 times each) and the result is certain. */
START_TEST(test_catches_wrong_values) {
  char *out = malloc(OUT_LEN);
  const char *common = "-q -c 2 -r 50 --sequential --prefix chk:";
  char args[512];
  snprintf(args, sizeof args, "%s -n 50 -t dict_set", common);
  int rc = bench(NULL, args, out);
  ck_assert_msg(rc == 0, "dict_set: exit %d: %s", rc, out);
  snprintf(args, sizeof args, "%s -n 2000 -t dict_get --no-preload", common);
  rc = bench(NULL, args, out);
  ck_assert_msg(rc == 0, "clean dict_get: exit %d: %s", rc, out);

  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_dict *d = bench_dict(c, "chk:");
  char *val = NULL;
  ck_assert_int_eq(sm_dict_get_str(d, "key:000000000037", &val), 0);
  ck_assert_uint_eq(strlen(val), 64);
  char original = val[63];
  val[63] = 'x'; /* values are hex digits: never an x */
  ck_assert_int_eq(sm_dict_set_str(d, "key:000000000037", val), 0);
  rc = bench(NULL, args, out);
  ck_assert_msg(rc == 1, "corrupted value: exit %d: %s", rc, out);
  ck_assert_msg(strstr(out, "error: workload=dict_get transport=tcp clients=2 pipeline=1"), "%s",
                out);
  ck_assert_msg(strstr(out, "key:000000000037"), "the error names the key: %s", out);
  ck_assert_msg(strstr(out, "ops_per_s") == NULL, "a result was printed: %s", out);
  /* Pipelined reads check the same way. */
  snprintf(args, sizeof args, "%s -n 2000 -P 16 -t dict_get --no-preload", common);
  rc = bench(NULL, args, out);
  ck_assert_msg(rc == 1 && strstr(out, "error: workload=dict_get"), "-P 16: exit %d: %s", rc, out);

  /* Repair it, then delete another key. */
  val[63] = original;
  ck_assert_int_eq(sm_dict_set_str(d, "key:000000000037", val), 0);
  snprintf(args, sizeof args, "%s -n 2000 -t dict_get --no-preload", common);
  ck_assert_int_eq(bench(NULL, args, out), 0);
  ck_assert_int_eq(sm_dict_del_str(d, "key:000000000012"), 0);
  rc = bench(NULL, args, out);
  ck_assert_msg(rc == 1, "deleted key: exit %d: %s", rc, out);
  ck_assert_msg(strstr(out, "error: workload=dict_get") && strstr(out, "SM_ENOTFOUND"), "%s", out);

  /* Values depend on --seed: a reader with another seed finds them wrong. */
  snprintf(args, sizeof args, "%s -n 50 -t dict_set", common);
  ck_assert_int_eq(bench(NULL, args, out), 0);
  snprintf(args, sizeof args, "%s -n 200 -t dict_get --no-preload --seed 2", common);
  rc = bench(NULL, args, out);
  ck_assert_msg(rc == 1 && strstr(out, "error: workload=dict_get"), "--seed 2: exit %d: %s", rc,
                out);
  sm_free(val);
  sm_dict_free(d);
  sm_client_free(c);
  free(out);
}
END_TEST

/* value_incr checks each count it gets back and the final total: when
 * another client moves the shared counter while the benchmark runs, the
 * benchmark stops with an error (exit 1) instead of reporting a speed. */
START_TEST(test_catches_counter_interference) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "exec %s -u '%s' --authkey-file '%s' -q -c 1 -n 5000000 --prefix incr: "
           "-t value_incr > /dev/null 2>&1",
           bench_bin(), smtest_d.tcp_url, smtest_d.authkey_file);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_var *v = NULL;
  ck_assert_int_eq(sm_var_open(c, "incr:counter", NULL, &v), 0);
  /* Wait until the run is under way (the counter starts at 0). */
  int64_t n = 0;
  struct timespec pause = {0, 10 * 1000 * 1000};
  for (int tries = 0; tries < 1000 && n < 1000; tries++) {
    if (sm_var_get_int(v, &n) != 0) n = 0;
    nanosleep(&pause, NULL);
  }
  ck_assert_msg(n >= 1000, "the benchmark never started counting");
  ck_assert_int_eq(sm_var_set_int(v, 1000000000000), 0);
  int st = 0;
  for (int tries = 0; tries < 3000; tries++) {
    if (waitpid(pid, &st, WNOHANG) == pid) break;
    nanosleep(&pause, NULL);
    if (tries == 2999) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      ck_abort_msg("the benchmark did not notice the counter jump");
    }
  }
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "exit status %d", st);
  sm_var_free(v);
  sm_client_free(c);
}
END_TEST

/* The value of key=... in a result line, as a number (-1: absent). */
static double field(const char *line, const char *key) {
  char pat[64];
  snprintf(pat, sizeof pat, " %s=", key);
  const char *p = strstr(line, pat);
  return p ? strtod(p + strlen(pat), NULL) : -1;
}

static double elapsed_s(const struct timespec *t0) {
  struct timespec t1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* --rate 500 over 2 clients: 300 pings take at least 0.6 s less one
 * interval (a closed loop takes a few ms), the rate achieved is the one
 * asked, the line ends with rate_per_s=500, and nothing says it was not
 * kept. */
START_TEST(test_rate_paces) {
  char *out = malloc(OUT_LEN);
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int rc = bench(NULL, "-q -c 2 -n 300 --rate 500 -t ping", out);
  double secs = elapsed_s(&t0);
  ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
  ck_assert_msg(secs >= 0.55, "300 requests at 500/s took %.3f s: %s", secs, out);
  ck_assert_msg(strstr(out, "could not keep") == NULL, "%s", out);
  ck_assert_msg(strncmp(out, "workload=ping ", 14) == 0, "%s", out);
  ck_assert_msg(field(out, "rate_per_s") == 500, "%s", out);
  double ops = field(out, "ops_per_s");
  ck_assert_msg(ops >= 400 && ops <= 520, "ops_per_s %.0f, asked 500: %s", ops, out);
  /* The CSV header and row carry the rate in a ninth column. */
  rc = bench(NULL, "-q --csv -c 2 -n 40 --rate 400 -t ping", out);
  ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
  ck_assert_msg(strstr(out, ",max_us,rate_per_s\n") && strstr(out, ",400\n"), "%s", out);
  free(out);
}
END_TEST

/* A rate far beyond the daemon: every request is due at once, so each is
 * timed from the start and the median latency is about half the run (a
 * closed loop would show one round trip: a tenth of the run is the bound,
 * a stall on a loaded machine can skew the median), and stderr says the rate was
 * not kept. */
START_TEST(test_rate_not_kept) {
  char *out = malloc(OUT_LEN);
  int rc = bench(NULL, "-q -c 1 -n 3000 --rate 100000000 -t ping", out);
  ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
  ck_assert_msg(strstr(out, "could not keep the rate: 100000000 requests/s asked"), "%s", out);
  const char *line = strstr(out, "workload=ping ");
  ck_assert_msg(line != NULL, "%s", out);
  double ops = field(line, "ops_per_s"), p50 = field(line, "p50_us");
  ck_assert_msg(ops > 0 && ops < 95000000, "%s", out);
  double run_us = 3000 / ops * 1e6;
  ck_assert_msg(p50 >= 0.1 * run_us, "p50 %.1f us in a run of %.1f us: not timed from the schedule",
                p50, run_us);
  /* The same run in a closed loop: each request timed alone. */
  rc = bench(NULL, "-q -c 1 -n 3000 -t ping", out);
  ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
  ops = field(out, "ops_per_s");
  p50 = field(out, "p50_us");
  ck_assert_msg(ops > 0 && p50 < 0.1 * 3000 / ops * 1e6, "%s", out);
  free(out);
}
END_TEST

Suite *bench_suite(void) {
  Suite *s = suite_create("bench");
  TCase *args = tcase_create("arguments");
  smtest_add_daemon(args);
  tcase_set_timeout(args, 60);
  tcase_add_test(args, test_usage_errors);
  tcase_add_test(args, test_connect_failure);
  suite_add_tcase(s, args);
  TCase *out = tcase_create("output");
  smtest_add_daemon(out);
  tcase_set_timeout(out, 120);
  tcase_add_test(out, test_lines_every_workload);
  tcase_add_test(out, test_csv_processes_unix);
  tcase_add_test(out, test_rate_paces);
  tcase_add_test(out, test_rate_not_kept);
  suite_add_tcase(s, out);
  TCase *chk = tcase_create("checking");
  smtest_add_daemon(chk);
  tcase_set_timeout(chk, 120);
  tcase_add_test(chk, test_catches_wrong_values);
  tcase_add_test(chk, test_catches_counter_interference);
  suite_add_tcase(s, chk);
  return s;
}
