/* SPDX-License-Identifier: MIT */
/* check_config.c - `statemgrd --config FILE`, run as a real process: the
 * file's settings take effect (comments, blank lines, both "key value" and
 * "key = value"), the command line overrides them (listen URLs as a whole),
 * a daemon can listen where the file alone says, and every bad file is
 * refused with exit 2 and a message naming the file and the line. */
#include "smtest.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *daemon_bin(void) {
  const char *p = getenv("STATEMGRD");
  ck_assert_msg(p && *p, "STATEMGRD must name the statemgrd binary");
  return p;
}

/* Writes text to a new file under /tmp; its path goes to path. */
static void write_conf(char *path, size_t len, const char *text) {
  snprintf(path, len, "/tmp/smtest-conf.XXXXXX");
  int fd = mkstemp(path);
  ck_assert_msg(fd >= 0, "mkstemp: %s", strerror(errno));
  size_t n = strlen(text);
  ck_assert_int_eq(write(fd, text, n), (ssize_t)n);
  close(fd);
}

/* The daemon's max_memory as its info reports it. */
static int64_t max_memory_of(const smtest_daemon *d) {
  sm_client *c = smtest_connect(d, NULL);
  int64_t v = smtest_info_int(c, "max_memory");
  sm_client_free(c);
  return v;
}

START_TEST(test_file_sets_options) {
  char conf[64];
  write_conf(conf, sizeof conf,
             "# statemgrd settings\n"
             "\n"
             "   # an indented comment\n"
             "max-memory = 2M   \n"
             "# max-memory 5M\n"
             "max-depth\t8\r\n"
             "slowlog-threshold-us = 500\n"
             "slowlog-max-len 7\n"
             "log-level=info\n");
  const char *args[] = {"--config", conf, NULL};
  smtest_daemon d;
  smtest_daemon_start(&d, args);
  ck_assert_int_eq(max_memory_of(&d), 2 << 20);
  sm_client *c = smtest_connect(&d, NULL);
  sm_value *v = NULL;
  OK(sm_config_get(c, "slowlog-threshold-us", &v));
  smtest_expect_value(v, "500");
  OK(sm_config_get(c, "slowlog-max-len", &v));
  smtest_expect_value(v, "7");
  sm_client_free(c);
  smtest_daemon_stop_checked(&d);
  unlink(conf);
}
END_TEST

START_TEST(test_command_line_overrides) {
  char conf[64], never[128];
  snprintf(never, sizeof never, "/tmp/smtest-conf-never.%d.sock", (int)getpid());
  char text[512];
  snprintf(text, sizeof text, "max-memory 2M\nlisten unix:%s\n", never);
  write_conf(conf, sizeof conf, text);
  /* Either order on the command line: the option wins over the file. */
  const char *after[] = {"--config", conf, "--max-memory", "3M", NULL};
  const char *before[] = {"--max-memory", "3M", "--config", conf, NULL};
  const char *const *orders[] = {after, before};
  for (size_t i = 0; i < 2; i++) {
    smtest_daemon d;
    smtest_daemon_start(&d, orders[i]);
    ck_assert_int_eq(max_memory_of(&d), 3 << 20);
    /* smtest's own --listen options replace the file's listen URL. */
    ck_assert_msg(access(never, F_OK) != 0, "the file's listen URL was used too");
    smtest_daemon_stop_checked(&d);
  }
  unlink(conf);
}
END_TEST

START_TEST(test_listen_from_file) {
  /* The fixture's daemon lends its directory and authkey; this one is
   * started with nothing but --config. */
  char conf[64], sock[400], ready[400], text[1400];
  snprintf(sock, sizeof sock, "%s/conf.sock", smtest_d.dir);
  snprintf(ready, sizeof ready, "%s/conf.ready", smtest_d.dir);
  snprintf(text, sizeof text,
           "listen = unix:%s\nlisten = tcp://127.0.0.1:0\nauthkey-file = %s\nready-file = %s\n"
           "max-memory = 5M\nno-persist\n",
           sock, smtest_d.authkey_file, ready);
  write_conf(conf, sizeof conf, text);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    char log[400];
    snprintf(log, sizeof log, "%s/conf.log", smtest_d.dir);
    if (!freopen(log, "a", stderr)) _exit(126);
    execl(daemon_bin(), "statemgrd", "--config", conf, (char *)NULL);
    _exit(127);
  }
  /* Ready once the ready file names both listeners. */
  smtest_daemon dd;
  memset(&dd, 0, sizeof dd);
  snprintf(dd.authkey_file, sizeof dd.authkey_file, "%s", smtest_d.authkey_file);
  int status = 0;
  for (int i = 0; i < 500 && !(dd.unix_url[0] && dd.tcp_url[0]); i++) {
    ck_assert_int_eq(waitpid(pid, &status, WNOHANG), 0);
    nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
    FILE *f = fopen(ready, "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
      line[strcspn(line, "\n")] = '\0';
      if (strncmp(line, "unix:", 5) == 0)
        snprintf(dd.unix_url, sizeof dd.unix_url, "%.*s", (int)sizeof dd.unix_url - 1, line);
      if (strncmp(line, "tcp://", 6) == 0)
        snprintf(dd.tcp_url, sizeof dd.tcp_url, "%.*s", (int)sizeof dd.tcp_url - 1, line);
    }
    if (f) fclose(f);
  }
  ck_assert_msg(dd.unix_url[0] && dd.tcp_url[0], "the daemon did not write both URLs to %s", ready);
  char want[420];
  snprintf(want, sizeof want, "unix:%s", sock);
  ck_assert_str_eq(dd.unix_url, want);
  const char *urls[] = {dd.unix_url, dd.tcp_url};
  for (size_t i = 0; i < 2; i++) {
    sm_client *c = smtest_connect(&dd, urls[i]);
    ck_assert_int_eq(smtest_info_int(c, "max_memory"), 5 << 20);
    sm_client_free(c);
  }
  ck_assert_int_eq(kill(pid, SIGTERM), 0);
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "statemgrd did not exit 0");
  unlink(conf);
}
END_TEST

/* Runs `statemgrd --config` on a file holding text (a NULL text: a path
 * that does not exist); expects exit 2 and a message holding want, with
 * "@" in want standing for the file's path. */
static void expect_refused(const char *text, const char *want) {
  char conf[64] = "/tmp/smtest-conf-missing.conf";
  if (text) write_conf(conf, sizeof conf, text);
  char cmd[512], out[2048], expected[512];
  snprintf(cmd, sizeof cmd, "'%s' --config '%s' 2>&1", daemon_bin(), conf);
  int rc = smtest_run(cmd, out, sizeof out);
  const char *at = strchr(want, '@');
  if (at)
    snprintf(expected, sizeof expected, "%.*s%s%s", (int)(at - want), want, conf, at + 1);
  else
    snprintf(expected, sizeof expected, "%s", want);
  ck_assert_msg(rc == 2, "exit %d, wanted 2, for %s: %s", rc, text ? text : "(no file)", out);
  ck_assert_msg(strstr(out, expected), "wanted \"%s\" in: %s", expected, out);
  /* The message is the whole answer: no usage text buries it. */
  ck_assert_ptr_null(strstr(out, "usage:"));
  if (text) unlink(conf);
}

START_TEST(test_bad_files_refused) {
  expect_refused(NULL, "statemgrd: @: No such file or directory");
  expect_refused("# ok\nbogus 1\n", "statemgrd: @:2: 'bogus' is not a key");
  expect_refused("--listen tcp://127.0.0.1:1\n", "@:1: write the key without its leading --");
  expect_refused("max-frame = lots\n", "@:1: --max-frame takes 1K to 4G bytes");
  expect_refused("log-level loud\n", "@:1: --log-level takes error, warn, info or debug");
  expect_refused("max-depth 0\n", "@:1: bad value '0' for --max-depth");
  expect_refused("\n\nlisten\n", "@:3: 'listen' needs a value");
  expect_refused("listen =\n", "@:1: 'listen' needs a value");
  expect_refused("config /etc/other.conf\n", "@:1: 'config' is not a setting");
  expect_refused("help\n", "@:1: 'help' is not a setting");
  expect_refused("tls-require-client-cert maybe\n",
                 "@:1: 'tls-require-client-cert' takes no value, or yes or no");
  expect_refused("= 5\n", "@:1: expected 'key value' or 'key = value'");
  expect_refused("slowlog-max-len 100001\n", "@:1: --slowlog-max-len takes 0 to 100000");
  expect_refused("slowlog-threshold-us soon\n", "@:1: --slowlog-threshold-us takes microseconds");
  expect_refused("syslog maybe\n", "@:1: 'syslog' takes no value, or yes or no");
  expect_refused("Max-Memory 5\n", "@:1: expected 'key value' or 'key = value'");
  expect_refused("etcd-max-request-bytes 1K\n",
                 "@:1: --etcd-max-request-bytes takes 16K to 1G bytes");
  /* A bad option in the file stops the start even when the command line
   * sets the same key right. */
  char conf[64], cmd[512], out[2048];
  write_conf(conf, sizeof conf, "max-memory much\n");
  snprintf(cmd, sizeof cmd, "'%s' --config '%s' --max-memory 1M 2>&1", daemon_bin(), conf);
  ck_assert_int_eq(smtest_run(cmd, out, sizeof out), 2);
  ck_assert_ptr_nonnull(strstr(out, ":1: --max-memory takes a byte count"));
  unlink(conf);
  /* The log goes to syslog or to a file, not both. */
  snprintf(cmd, sizeof cmd, "'%s' --syslog --log-file /tmp/never.log 2>&1", daemon_bin());
  ck_assert_int_eq(smtest_run(cmd, out, sizeof out), 2);
  ck_assert_ptr_nonnull(strstr(out, "--syslog and --log-file exclude each other"));
  /* etcd's request limit is a group member's setting. */
  snprintf(cmd, sizeof cmd, "'%s' --etcd-max-request-bytes 1M 2>&1", daemon_bin());
  ck_assert_int_eq(smtest_run(cmd, out, sizeof out), 2);
  ck_assert_ptr_nonnull(strstr(out, "--etcd-max-request-bytes are for --cluster"));
  /* One --config only, and it needs its path. */
  snprintf(cmd, sizeof cmd, "'%s' --config /dev/null --config /dev/null 2>&1", daemon_bin());
  ck_assert_int_eq(smtest_run(cmd, out, sizeof out), 2);
  ck_assert_ptr_nonnull(strstr(out, "one --config at most"));
}
END_TEST

Suite *config_suite(void) {
  Suite *s = suite_create("config");
  TCase *tc = tcase_create("file");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_file_sets_options);
  tcase_add_test(tc, test_command_line_overrides);
  tcase_add_test(tc, test_bad_files_refused);
  suite_add_tcase(s, tc);
  tc = smtest_daemon_tcase(s, "listen", 60);
  tcase_add_test(tc, test_listen_from_file);
  return s;
}
