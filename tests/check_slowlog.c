/* SPDX-License-Identifier: MIT */
/* check_slowlog.c - the slow-call log and the run-time settings against a
 * real daemon: what an entry records (method, object, name, client), the
 * ring's length, reset, parked waits that are not slow calls, `config
 * get|set` and its refusals, and the CLI's slowlog and config, plain and
 * --json. */
#include "smtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static smtest_daemon d;

static void start_every_call(void) {
  const char *args[] = {"--slowlog-threshold-us", "0", "--slowlog-max-len", "4", NULL};
  smtest_daemon_start(&d, args);
}
static void start_100ms(void) {
  const char *args[] = {"--slowlog-threshold-us", "100000", NULL};
  smtest_daemon_start(&d, args);
}
static void stop(void) { smtest_daemon_stop_checked(&d); }

/* The value under key in map m (borrowed). */
static const sm_value *at(const sm_value *m, const char *key) {
  sm_value *k = sm_value_str(key);
  const sm_value *v = sm_value_map_get(m, k);
  sm_value_free(k);
  return v;
}

static const char *str_at(const sm_value *m, const char *key) {
  const char *s = sm_value_as_str(at(m, key), NULL);
  return s ? s : "";
}

/* A client named name (for the entries' client_name). */
static sm_client *named_client(const char *name) {
  sm_options *o = sm_options_new();
  OK(sm_options_set_authkey_file(o, d.authkey_file));
  OK(sm_options_set_client_name(o, name));
  sm_client *c = NULL;
  OK(sm_connect(d.tcp_url, o, &c));
  sm_options_free(o);
  return c;
}

/* With a threshold of 0 every call is kept: the newest entry names the
 * dict set with its object, name, argument count and client; the ring
 * keeps the newest 4 (ids descending by one); reset empties it. */
START_TEST(slowlog_records_calls) {
  sm_client *c = named_client("reporter");
  sm_dict *dict;
  OK(sm_dict_open(c, "slowdict", &dict));
  OK(sm_slowlog_reset(c));
  OK(sm_dict_set_int(dict, "k", 1));
  sm_value *list = NULL;
  OK(sm_slowlog_get(c, -1, &list));
  ck_assert_uint_eq(sm_value_len(list), 2); /* the set, then the reset itself */
  const sm_value *e = sm_value_list_at(list, 0);
  ck_assert_str_eq(str_at(e, "type"), "dict");
  ck_assert_str_eq(str_at(e, "method"), "set");
  ck_assert_str_eq(str_at(e, "name"), "slowdict");
  ck_assert_int_gt(sm_value_as_int(at(e, "object")), 0);
  ck_assert_int_eq(sm_value_as_int(at(e, "args")), 2);
  ck_assert_int_ge(sm_value_as_int(at(e, "duration_us")), 0);
  ck_assert_int_gt(sm_value_as_int(at(e, "time")), 1700000000);
  ck_assert_str_eq(str_at(e, "client_name"), "reporter");
  ck_assert_ptr_nonnull(strstr(str_at(e, "client"), "127.0.0.1"));
  const sm_value *older = sm_value_list_at(list, 1);
  ck_assert_str_eq(str_at(older, "method"), "slowlog");
  ck_assert_int_eq(sm_value_as_int(at(older, "object")), 0);
  ck_assert_ptr_null(at(older, "name"));
  sm_value_free(list);

  for (int i = 0; i < 10; i++)
    OK(sm_dict_set_int(dict, "k", i));
  int64_t n = 0;
  OK(sm_slowlog_len(c, &n));
  ck_assert_int_eq(n, 4);
  OK(sm_slowlog_get(c, 2, &list));
  ck_assert_uint_eq(sm_value_len(list), 2);
  ck_assert_int_eq(sm_value_as_int(at(sm_value_list_at(list, 0), "id")),
                   sm_value_as_int(at(sm_value_list_at(list, 1), "id")) + 1);
  sm_value_free(list);
  FAILS(sm_slowlog_get(c, -2, &list), SM_EVALUE);
  OK(sm_slowlog_reset(c));
  OK(sm_slowlog_len(c, &n));
  ck_assert_int_eq(n, 1); /* the reset call itself, logged after it ran */
  sm_dict_free(dict);
  sm_client_free(c);
}
END_TEST

/* A queue get that waits 300 ms for an item (and one that times out) is
 * no slow call under a 100 ms threshold: the wait is not work. Lowering
 * the threshold at run time makes the next call an entry. */
START_TEST(slowlog_parked_waits_are_not_slow) {
  sm_client *c = smtest_connect(&d, NULL);
  sm_queue *q;
  OK(sm_queue_open(c, "waits", 0, &q));
  sm_value *v = NULL;
  FAILS(sm_queue_get(q, 300, &v), SM_ETIMEOUT);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) { /* puts an item once the get below has waited a while */
    usleep(300 * 1000);
    sm_client *pc = smtest_connect(&d, NULL);
    sm_queue *pq;
    if (sm_queue_open(pc, "waits", 0, &pq) != 0 || sm_queue_put_int(pq, 7, SM_FOREVER) != 0)
      _exit(1);
    _exit(0);
  }
  OK(sm_queue_get(q, 10000, &v));
  ck_assert_int_eq(sm_value_as_int(v), 7);
  sm_value_free(v);
  int st;
  ck_assert_int_eq(waitpid(pid, &st, 0), pid);
  ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  int64_t n = -1;
  OK(sm_slowlog_len(c, &n));
  ck_assert_int_eq(n, 0);
  sm_value *zero = sm_value_int(0);
  OK(sm_config_set(c, "slowlog-threshold-us", zero));
  sm_value_free(zero);
  size_t items;
  OK(sm_queue_qsize(q, &items));
  OK(sm_slowlog_len(c, &n));
  ck_assert_int_ge(n, 1);
  sm_queue_free(q);
  sm_client_free(c);
}
END_TEST

/* config get reads each setting and * all of them; set changes log-level
 * and the slowlog's settings at run time; a bad level, an unknown key or
 * a setting that needs a restart are refused with a message naming what
 * config takes. */
START_TEST(config_get_set_and_refusals) {
  sm_client *c = smtest_connect(&d, NULL);
  sm_value *v = NULL;
  OK(sm_config_get(c, "*", &v));
  ck_assert_uint_eq(sm_value_len(v), 3);
  ck_assert_str_eq(str_at(v, "log-level"), "debug"); /* smtest starts daemons at debug */
  ck_assert_int_eq(sm_value_as_int(at(v, "slowlog-threshold-us")), 100000);
  ck_assert_int_eq(sm_value_as_int(at(v, "slowlog-max-len")), 128);
  sm_value_free(v);
  sm_value *arg = sm_value_str("warn");
  OK(sm_config_set(c, "log-level", arg));
  sm_value_free(arg);
  OK(sm_config_get(c, "log-level", &v));
  smtest_expect_value(v, "warn");
  arg = sm_value_int(7);
  OK(sm_config_set(c, "slowlog-max-len", arg));
  sm_value_free(arg);
  OK(sm_config_get(c, "slowlog-max-len", &v));
  smtest_expect_value(v, "7");
  arg = sm_value_str("loud");
  FAILS(sm_config_set(c, "log-level", arg), SM_EVALUE);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "error, warn, info or debug"));
  sm_value_free(arg);
  arg = sm_value_int(100001);
  FAILS(sm_config_set(c, "slowlog-max-len", arg), SM_EVALUE);
  FAILS(sm_config_set(c, "max-memory", arg), SM_EVALUE);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "cannot be set at run time"));
  sm_value_free(arg);
  FAILS(sm_config_get(c, "no-such-setting", &v), SM_EVALUE);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "log-level"));
  OK(sm_config_get(c, "log-level", &v));
  smtest_expect_value(v, "warn");
  sm_client_free(c);
}
END_TEST

/* Runs the CLI against d with args; returns its exit status, out its
 * stdout. */
static int cli(const char *args, char *out, size_t len) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s' -u '%s' --authkey-file '%s' %s", getenv("STATEMGR_CLI"),
           d.tcp_url, d.authkey_file, args);
  return smtest_run(cmd, out, len);
}

/* The CLI prints slow calls one a line (escaped names) and as JSON,
 * counts and resets them, and reads and changes settings; bad usage is
 * exit 2 and a refused setting exit 5. */
START_TEST(cli_slowlog_and_config) {
  char out[8192];
  ck_assert_int_eq(cli("set 'nl\nname' k 1", out, sizeof out), 0);
  ck_assert_int_eq(cli("slowlog get 3", out, sizeof out), 0);
  ck_assert_msg(strstr(out, "dict.set object ") && strstr(out, "'nl\\nname' 2 args from 127.0.0.1"),
                "%s", out);
  ck_assert_ptr_nonnull(strstr(out, " as statemgr-cli"));
  ck_assert_int_eq(cli("--json slowlog get 1", out, sizeof out), 0);
  ck_assert_msg(strstr(out, "[{\"id\": ") && strstr(out, "\"method\": \"slowlog\""), "%s", out);
  ck_assert_int_eq(cli("slowlog len", out, sizeof out), 0);
  ck_assert_int_eq(atoi(out), 4); /* the ring of 4 is full */
  ck_assert_int_eq(cli("slowlog reset", out, sizeof out), 0);
  ck_assert_str_eq(out, "");
  ck_assert_int_eq(cli("slowlog len", out, sizeof out), 0);
  ck_assert_str_eq(out, "1\n");
  ck_assert_int_eq(cli("slowlog nope", out, sizeof out), 2);
  ck_assert_int_eq(cli("config set log-level info", out, sizeof out), 0);
  ck_assert_int_eq(cli("config get log-level", out, sizeof out), 0);
  ck_assert_str_eq(out, "info\n");
  ck_assert_int_eq(cli("config get '*'", out, sizeof out), 0);
  ck_assert_msg(strstr(out, "log-level: info\nslowlog-threshold-us: 0\nslowlog-max-len: 4\n"), "%s",
                out);
  ck_assert_int_eq(cli("--json config get slowlog-max-len", out, sizeof out), 0);
  ck_assert_str_eq(out, "4\n");
  ck_assert_int_eq(cli("config set max-frame 1M 2>&1", out, sizeof out), 5);
  ck_assert_msg(strstr(out, "cannot be set at run time"), "%s", out);
  ck_assert_int_eq(cli("config get", out, sizeof out), 2);
}
END_TEST

Suite *slowlog_suite(void) {
  Suite *s = suite_create("slowlog");
  TCase *tc = tcase_create("every_call");
  tcase_add_checked_fixture(tc, start_every_call, stop);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, slowlog_records_calls);
  tcase_add_test(tc, cli_slowlog_and_config);
  suite_add_tcase(s, tc);
  tc = tcase_create("threshold");
  tcase_add_checked_fixture(tc, start_100ms, stop);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, slowlog_parked_waits_are_not_slow);
  tcase_add_test(tc, config_get_set_and_refusals);
  suite_add_tcase(s, tc);
  return s;
}
