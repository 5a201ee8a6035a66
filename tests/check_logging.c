/* SPDX-License-Identifier: MIT */
/* check_logging.c - the daemon's log as an operator meets it: a CLI call
 * writes no line at the default level (info) and its connect,
 * authentication and close at debug; `config set log-level` changes the
 * level of a running daemon; --syslog sends the lines to syslog(3).
 *
 * glibc's syslog(3) always writes to /dev/log, so the syslog test runs the
 * daemon in a mount namespace of its own (unshare -m) whose /dev is a
 * small tmpfs holding the usual devices and, as /dev/log, a bind mount of
 * a datagram socket this test reads. Where that cannot be made (not root,
 * no unshare) the test prints "SKIP: ..." and returns: that is NOT a pass;
 * CTest reports it skipped (tests/CMakeLists.txt). */
#include "smtest.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Waits until the daemon serves exactly n connections, so every line a
 * closed one causes has been written. */
static void wait_connections(sm_client *c, int64_t n) {
  int64_t now = -1;
  for (int i = 0; i < 250 && now != n; i++) {
    now = smtest_info_int(c, "connections");
    if (now != n) usleep(20 * 1000);
  }
  ck_assert_int_eq(now, n);
}

static int run_cli(const smtest_daemon *dm, const char *args) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s' -u '%s' --authkey-file '%s' %s >/dev/null",
           getenv("STATEMGR_CLI"), dm->tcp_url, dm->authkey_file, args);
  return smtest_run(cmd, NULL, 0);
}

/* At info a CLI call leaves no line (it used to leave three: connect,
 * authenticated, closed); after `config set log-level debug` on the
 * running daemon the next CLI call is logged, and back at info it is not. */
START_TEST(cli_call_quiet_at_info_and_level_at_run_time) {
  smtest_daemon dm;
  const char *args[] = {"--log-level", "info", NULL};
  smtest_daemon_start(&dm, args);
  sm_client *c = smtest_connect(&dm, NULL);
  ck_assert_int_eq(run_cli(&dm, "set d k 1"), 0);
  wait_connections(c, 1);
  ck_assert(!smtest_daemon_log_has(&dm, "authenticated from", 0));
  ck_assert(!smtest_daemon_log_has(&dm, ": closed (", 0));
  ck_assert(!smtest_daemon_log_has(&dm, "accepted from", 0));
  ck_assert_int_eq(run_cli(&dm, "config set log-level debug"), 0);
  ck_assert(smtest_daemon_log_has(&dm, "config: log-level debug (was info)", 3000));
  ck_assert_int_eq(run_cli(&dm, "get d k"), 0);
  wait_connections(c, 1);
  ck_assert(smtest_daemon_log_has(&dm, "authenticated from 127.0.0.1", 0));
  ck_assert(smtest_daemon_log_has(&dm, "as statemgr-cli (protocol", 0));
  sm_client_free(c);
  smtest_daemon_stop_checked(&dm);
}
END_TEST

/* ---- syslog ---- */

/* The wrapper that runs statemgrd with the test's socket as /dev/log:
 * $1 the socket, $2 a directory for the old /dev, then statemgrd and its
 * arguments. unshare -m execs in place, so the daemon keeps the pid the
 * test started. */
static const char wrapper[] =
    "#!/bin/sh\n"
    "sock=$1; old=$2; shift 2\n"
    "exec unshare -m --propagation private sh -c '\n"
    "  set -e; sock=$1; old=$2; shift 2\n"
    "  mount --bind /dev \"$old\"\n"
    "  mount -t tmpfs -o size=64k,mode=755 tmpfs /dev\n"
    "  for n in null zero random urandom log; do touch /dev/$n; done\n"
    "  for n in null zero random urandom; do mount --bind \"$old/$n\" /dev/$n; done\n"
    "  mount --bind \"$sock\" /dev/log\n"
    "  exec \"$@\"' sh \"$sock\" \"$old\" \"$@\"\n";

/* The first datagram on fd within 5 s that holds needle, in out. */
static bool receive_line(int fd, const char *needle, char *out, size_t len) {
  for (int i = 0; i < 250; i++) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 20) != 1) continue;
    ssize_t n = recv(fd, out, len - 1, 0);
    if (n <= 0) continue;
    out[n] = '\0';
    if (strstr(out, needle)) return true;
  }
  return false;
}

/* Writes text to path as an executable script. */
static void write_script(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
  ck_assert_int_eq(chmod(path, 0700), 0);
}

/* With --syslog the daemon's lines reach the system logger as statemgrd
 * with its pid and the facility daemon: the ready line at info (<30>), a
 * changed level at warn (<28>), a client's name escaped; none lands in
 * its stderr. */
START_TEST(syslog_lines) {
  if (getuid() != 0 || system("unshare -m --propagation private true 2>/dev/null") != 0) {
    printf("SKIP: logging: --syslog needs root and unshare(1) for a private /dev/log\n");
    fflush(stdout);
    return;
  }
  char dir[32] = "/tmp/smsyslog.XXXXXX", sock[64], old[128], inner[128], outer[128];
  char text[1024];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(sock, sizeof sock, "%s/log.sock", dir);
  snprintf(old, sizeof old, "%s/olddev", dir);
  snprintf(inner, sizeof inner, "%s/private-dev-log.sh", dir);
  snprintf(outer, sizeof outer, "%s/statemgrd", dir);
  ck_assert_int_eq(mkdir(old, 0700), 0);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(fd, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s", sock);
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  write_script(inner, wrapper);
  /* smtest runs $STATEMGRD (with its arguments): here a script that runs
   * the real one through the wrapper. This test runs in a process of its
   * own (Check's fork mode), so the change stays here. */
  snprintf(text, sizeof text, "#!/bin/sh\nexec '%s' '%s' '%s' '%s' \"$@\"\n", inner, sock, old,
           getenv("STATEMGRD"));
  write_script(outer, text);
  setenv("STATEMGRD", outer, 1);

  smtest_daemon dm;
  const char *args[] = {"--syslog", "--log-level", "info", NULL};
  smtest_daemon_start(&dm, args);
  char want[64], line[2048];
  snprintf(want, sizeof want, "statemgrd[%d]: ", (int)dm.pid);
  ck_assert_msg(receive_line(fd, "ready (pid", line, sizeof line), "no ready line on syslog");
  ck_assert_msg(strncmp(line, "<30>", 4) == 0 && strstr(line, want), "%s", line);
  ck_assert_int_eq(run_cli(&dm, "config set log-level debug"), 0);
  ck_assert_msg(receive_line(fd, "config: log-level debug (was info)", line, sizeof line),
                "no warn");
  ck_assert_msg(strncmp(line, "<28>", 4) == 0, "%s", line);
  sm_options *o = sm_options_new();
  OK(sm_options_set_authkey_file(o, dm.authkey_file));
  OK(sm_options_set_client_name(o, "two\nlines"));
  sm_client *c = NULL;
  OK(sm_connect(dm.tcp_url, o, &c));
  sm_options_free(o);
  ck_assert_msg(receive_line(fd, "as two\\nlines (protocol", line, sizeof line),
                "the client's name is not escaped on syslog");
  ck_assert_msg(strncmp(line, "<31>", 4) == 0, "%s", line);
  sm_client_free(c);
  ck_assert(!smtest_daemon_log_has(&dm, "ready", 0)); /* stderr holds nothing of it */
  smtest_daemon_stop_checked(&dm);
  close(fd);
  unlink(sock);
  unlink(inner);
  unlink(outer);
  rmdir(old);
  rmdir(dir);
}
END_TEST

Suite *logging_suite(void) {
  Suite *s = suite_create("logging");
  TCase *tc = tcase_create("levels");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, cli_call_quiet_at_info_and_level_at_run_time);
  tcase_add_test(tc, syslog_lines);
  suite_add_tcase(s, tc);
  return s;
}
