/* SPDX-License-Identifier: MIT */
/* check_authkey.c - authkey hygiene as statemgrd and the CLI apply it,
 * run as real processes.
 *
 * An explicit key file (--authkey-file or $STATEMGR_AUTHKEY_FILE) that
 * group or others may read or write, one owned by another user, and a key
 * shorter than 16 bytes (from a file, the environment or --authkey-fd) are
 * refused with a message that says how to fix it: the daemon does not
 * start, the CLI exits with a usage-class error before connecting. A key
 * file that is right (mode 600, ours, 16 bytes or more) works. */
#include "smtest.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void make_dir(void) {
  snprintf(dir, sizeof dir, "/tmp/smtest-key.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}

/* Writes content to dir/name with mode; returns the path (static). */
static const char *key_file(const char *name, const char *content, mode_t mode) {
  static char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(content, f);
  fclose(f);
  ck_assert_int_eq(chmod(path, mode), 0);
  return path;
}

/* Runs statemgrd with env (shell text before the command: assignments,
 * or a pipe into it), args, and last an unusable listener ("http://x").
 * The key is loaded before any listener, so the daemon always exits 1: with
 * the key's refusal, or, once the key was accepted, with the listener's
 * "bad URL". Returns the exit status, its output in out. */
static int daemon_run(const char *env, const char *args, char *out, size_t outlen) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "%s '%s' --no-persist --listen tcp://127.0.0.1:0 %s --listen http://x 2>&1", env,
           getenv("STATEMGRD"), args);
  return smtest_run(cmd, out, outlen);
}

/* The key was accepted: the daemon got as far as the bad listener. */
static bool key_accepted(const char *out) { return strstr(out, "bad URL 'http://x'") != NULL; }

/* Refusal of a key file by statemgrd: exit 1 and want in its message. */
static void expect_daemon_refuses(const char *env, const char *args, const char *want) {
  char out[4096];
  int rc = daemon_run(env, args, out, sizeof out);
  ck_assert_msg(rc == 1 && strstr(out, want) && !key_accepted(out),
                "statemgrd %s %s: exit %d, wanted \"%s\": %s", env, args, rc, want, out);
}

/* Acceptance: the daemon goes on to its listeners (and stops at the bad
 * one). */
static void expect_daemon_accepts(const char *env, const char *args) {
  char out[4096];
  int rc = daemon_run(env, args, out, sizeof out);
  ck_assert_msg(rc == 1 && key_accepted(out), "statemgrd %s %s: exit %d: %s", env, args, rc, out);
}

/* Key files that others may read or write are refused, by the option and
 * the environment variable alike, with the chmod that fixes them. */
START_TEST(daemon_refuses_open_modes) {
  make_dir();
  char args[256];
  const char *path = key_file("world", "a key of a good length\n", 0644);
  snprintf(args, sizeof args, "--authkey-file '%s'", path);
  expect_daemon_refuses("", args, "readable or writable by others (mode 644): run chmod 600");
  path = key_file("group", "a key of a good length\n", 0660);
  snprintf(args, sizeof args, "--authkey-file '%s'", path);
  expect_daemon_refuses("", args, "(mode 660)");
  path = key_file("other-write", "a key of a good length\n", 0602);
  char env[256];
  snprintf(env, sizeof env, "STATEMGR_AUTHKEY_FILE='%s'", path);
  expect_daemon_refuses(env, "", "(mode 602)");
  path = key_file("good", "a key of a good length\n", 0600);
  snprintf(args, sizeof args, "--authkey-file '%s'", path);
  expect_daemon_accepts("", args);
  path = key_file("read-only", "a key of a good length\n", 0400);
  snprintf(env, sizeof env, "STATEMGR_AUTHKEY_FILE='%s'", path);
  expect_daemon_accepts(env, "");
  remove_dir();
}
END_TEST

/* Keys shorter than 16 bytes are refused from every source; 16 is enough. */
START_TEST(daemon_refuses_short_keys) {
  make_dir();
  char args[256];
  const char *path = key_file("short", "x\n", 0600);
  snprintf(args, sizeof args, "--authkey-file '%s'", path);
  expect_daemon_refuses("", args, "is 1 bytes, too short to resist guessing: use at least 16");
  expect_daemon_refuses("STATEMGR_AUTHKEY_FILE= STATEMGR_AUTHKEY=fifteen-bytes!!", "",
                        "$STATEMGR_AUTHKEY is 15 bytes");
  expect_daemon_refuses("printf short |", "--authkey-fd 0", "descriptor 0 is 5 bytes");
  expect_daemon_accepts("printf sixteen-bytes-ok |", "--authkey-fd 0");
  path = key_file("sixteen", "0123456789abcdef\n", 0600);
  snprintf(args, sizeof args, "--authkey-file '%s'", path);
  expect_daemon_accepts("", args);
  remove_dir();
}
END_TEST

/* A key file of another user is refused even with mode 600: its owner can
 * change the key under the daemon. As root, the test makes one by handing
 * a file to nobody; otherwise it has no other user's file to offer. */
START_TEST(daemon_refuses_foreign_owner) {
  if (geteuid() != 0) {
    fprintf(stderr, "SKIP: daemon_refuses_foreign_owner needs root to chown a file\n");
    return;
  }
  struct passwd *nobody = getpwnam("nobody");
  ck_assert_ptr_nonnull(nobody);
  make_dir();
  char args[256], want[128];
  const char *path = key_file("foreign", "a key of a good length\n", 0600);
  ck_assert_int_eq(chown(path, nobody->pw_uid, nobody->pw_gid), 0);
  snprintf(args, sizeof args, "--authkey-file '%s'", path);
  snprintf(want, sizeof want, "belongs to uid %u (nobody), not to uid 0", (unsigned)nobody->pw_uid);
  expect_daemon_refuses("", args, want);
  ck_assert_int_eq(chown(path, 0, 0), 0); /* root's own files are fine */
  expect_daemon_accepts("", args);
  remove_dir();
}
END_TEST

/* The CLI applies the same rules to the key it reads, before it connects:
 * exit 5 (an error other than the connection or the daemon's refusal) with
 * the reason. */
START_TEST(cli_refuses_bad_key_files) {
  make_dir();
  char cmd[1024], out[4096];
  const char *path = key_file("world", "a key of a good length\n", 0644);
  snprintf(cmd, sizeof cmd, "'%s' -u '%s' --authkey-file '%s' ping 2>&1", getenv("STATEMGR_CLI"),
           smtest_d.tcp_url, path);
  int rc = smtest_run(cmd, out, sizeof out);
  ck_assert_msg(rc == 5 && strstr(out, "chmod 600"), "exit %d: %s", rc, out);
  snprintf(cmd, sizeof cmd, "STATEMGR_AUTHKEY=short '%s' -u '%s' ping 2>&1", getenv("STATEMGR_CLI"),
           smtest_d.tcp_url);
  rc = smtest_run(cmd, out, sizeof out);
  ck_assert_msg(rc == 5 && strstr(out, "too short"), "exit %d: %s", rc, out);
  snprintf(cmd, sizeof cmd, "'%s' -u '%s' --authkey-file '%s' ping 2>&1", getenv("STATEMGR_CLI"),
           smtest_d.tcp_url, smtest_d.authkey_file);
  rc = smtest_run(cmd, out, sizeof out);
  ck_assert_msg(rc == 0 && strstr(out, "pong"), "exit %d: %s", rc, out);
  remove_dir();
}
END_TEST

Suite *authkey_suite(void) {
  Suite *s = suite_create("authkey");
  TCase *tc = tcase_create("daemon");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, daemon_refuses_open_modes);
  tcase_add_test(tc, daemon_refuses_short_keys);
  tcase_add_test(tc, daemon_refuses_foreign_owner);
  suite_add_tcase(s, tc);
  tc = smtest_daemon_tcase(s, "cli", 30);
  tcase_add_test(tc, cli_refuses_bad_key_files);
  return s;
}
