/* SPDX-License-Identifier: MIT */
/* check_manager.c - the private manager (sm_manager_start): a statemgrd of
 * the program's own, on a UNIX socket in a private directory.
 *
 * Each test points $TMPDIR at a directory of its own, so it can check that
 * the manager's private directory is made there and that nothing is left
 * behind: after sm_manager_shutdown, and after every failed start. The
 * daemon is found through $STATEMGRD, as ctest sets it. */
#include "smtest_sync.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

/* A private $TMPDIR for the test (the test process is a fork of the
 * runner, so the change stays in it). */
static char tmpdir[64];

static void use_private_tmpdir(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/smtest-mgr.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(tmpdir));
  ck_assert_int_eq(setenv("TMPDIR", tmpdir, 1), 0);
}

/* Number of entries in dir (not counting . and ..). */
static int dir_entries(const char *dir) {
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
  closedir(d);
  return n;
}

/* Removes the private $TMPDIR, asserting it is empty first. */
static void drop_private_tmpdir(void) {
  ck_assert_msg(dir_entries(tmpdir) == 0, "the manager left files in %s", tmpdir);
  ck_assert_int_eq(rmdir(tmpdir), 0);
}

/* The socket path of a manager URL ("unix:/path"). */
static const char *sock_path(const char *url) {
  ck_assert_msg(strncmp(url, "unix:", 5) == 0, "not a unix URL: %s", url);
  return url + 5;
}

/* True when pid is gone: no such process, or a zombie nobody reaped yet
 * (dead all the same: its sockets are closed). */
static bool process_gone(pid_t pid) {
  if (kill(pid, 0) != 0 && errno == ESRCH) return true;
  char path[64], buf[256];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return true;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *paren = strrchr(buf, ')'); /* "pid (comm) S ..." */
  return paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

/* connect() to a UNIX socket path; returns 0 or the errno. */
static int try_connect(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(fd, 0);
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
  int rc = connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0 ? 0 : errno;
  close(fd);
  return rc;
}

/* ---- life cycle ---- */

/* One call gives a working client on a private UNIX socket in a 0700
 * directory, with a random key of 64 hex characters that never touches the
 * disk (the directory holds the socket and the ready file only); shutdown
 * stops the daemon (reaped: the PID is gone) and removes the socket and the
 * directory. */
START_TEST(start_use_shutdown) {
  use_private_tmpdir();
  sm_manager_options *o = sm_manager_options_new();
  char log[128];
  snprintf(log, sizeof log, "%s.log", tmpdir);
  OK(sm_manager_options_set_log_file(o, log));
  sm_manager *m = NULL;
  OK(sm_manager_start(o, &m));
  sm_manager_options_free(o);
  sm_client *c = sm_manager_client(m);
  ck_assert_ptr_nonnull(c);
  pid_t pid = sm_manager_pid(m);
  ck_assert_int_gt(pid, 0);
  ck_assert_int_eq(kill(pid, 0), 0);

  const char *sock = sock_path(sm_manager_url(m));
  ck_assert_msg(strncmp(sock, tmpdir, strlen(tmpdir)) == 0, "%s is not under $TMPDIR", sock);
  char dir[256];
  snprintf(dir, sizeof dir, "%s", sock);
  *strrchr(dir, '/') = '\0';
  struct stat st;
  ck_assert_int_eq(stat(dir, &st), 0);
  ck_assert_int_eq(st.st_mode & 0777, 0700);
  ck_assert_int_eq(dir_entries(dir), 2); /* statemgr.sock and ready: no key file */
  size_t key_len = 0;
  const char *key = sm_manager_authkey(m, &key_len);
  ck_assert_uint_eq(key_len, 64); /* not NUL-terminated: only key_len bytes */
  for (size_t i = 0; i < key_len; i++)
    ck_assert_msg(strchr("0123456789abcdef", key[i]) && key[i], "key byte %zu: %d", i, key[i]);
  ck_assert_int_eq(stat(sock, &st), 0);
  ck_assert(S_ISSOCK(st.st_mode));
  ck_assert_int_eq(stat(log, &st), 0); /* the log file option was used */

  OK(sm_ping(c));
  sm_dict *d;
  OK(sm_dict_open(c, "settings", &d));
  OK(sm_dict_set_str(d, "mode", "fast"));
  char *mode = NULL;
  OK(sm_dict_get_str(d, "mode", &mode));
  ck_assert_str_eq(mode, "fast");
  sm_free(mode);
  sm_dict_free(d);

  char sock_copy[256];
  snprintf(sock_copy, sizeof sock_copy, "%s", sock);
  OK(sm_manager_shutdown(m));
  ck_assert_msg(kill(pid, 0) != 0 && errno == ESRCH, "statemgrd %d still exists", (int)pid);
  ck_assert_int_ne(stat(sock_copy, &st), 0);
  ck_assert_int_ne(stat(dir, &st), 0);
  unlink(log);
  drop_private_tmpdir();
  ck_assert_int_eq(sm_manager_shutdown(NULL), 0);
}
END_TEST

/* Each worker adds its 100 keys and counts them on a shared value. */
static int add_keys(void *ctx, int id) {
  sm_client *c = ctx;
  sm_dict *d;
  sm_var *n;
  WOK(sm_dict_open(c, "results", &d));
  WOK(sm_var_open(c, "count", NULL, &n));
  for (int i = 0; i < 100; i++) {
    char key[32];
    snprintf(key, sizeof key, "w%d-%d", id, i);
    WOK(sm_dict_set_int(d, key, id * 1000 + i));
    WOK(sm_var_add_int(n, 1, NULL));
  }
  sm_var_free(n);
  sm_dict_free(d);
  return 0;
}

/* What a worker does with the manager it inherited: shutting it down in a
 * child only frees the child's copy. */
static int child_shutdown(void *ctx, int id) {
  (void)id;
  sm_manager *m = ctx;
  WOK(sm_ping(sm_manager_client(m)));
  WOK(sm_manager_shutdown(m));
  return 0;
}

/* The manager serves 4 forked workers through the client they inherit:
 * every write arrives; a child's sm_manager_shutdown leaves the daemon to
 * the parent. */
START_TEST(survives_forked_workers) {
  use_private_tmpdir();
  sm_manager *m = NULL;
  OK(sm_manager_start(NULL, &m));
  sm_client *c = sm_manager_client(m);
  sm_dict *d;
  OK(sm_dict_open(c, "results", &d));
  smtest_run_workers(4, 0, add_keys, c);
  size_t len = 0;
  OK(sm_dict_len(d, &len));
  ck_assert_uint_eq(len, 400);
  int64_t v = 0;
  OK(sm_dict_get_int(d, "w3-99", &v));
  ck_assert_int_eq(v, 3099);
  sm_var *n;
  OK(sm_var_open(c, "count", NULL, &n));
  ck_assert_int_eq(smtest_var_int(n), 400);

  smtest_run_workers(2, 0, child_shutdown, m);
  ck_assert_int_eq(kill(sm_manager_pid(m), 0), 0);
  OK(sm_ping(c));
  OK(sm_dict_len(d, &len));
  ck_assert_uint_eq(len, 400);
  sm_var_free(n);
  sm_dict_free(d);
  OK(sm_manager_shutdown(m));
  drop_private_tmpdir();
}
END_TEST

/* ---- dying with the parent ---- */

/* The daemon dies with the process that started it, even when that
 * process is killed with SIGKILL and runs no code of ours: the daemon is
 * gone within 2 s (the time is printed) and its socket refuses clients. */
START_TEST(dies_with_parent_sigkill) {
  use_private_tmpdir();
  int fds[2];
  ck_assert_int_eq(pipe(fds), 0);
  pid_t tester = getpid();
  pid_t parent = fork();
  ck_assert_int_ge(parent, 0);
  if (parent == 0) { /* the program that starts a manager, then is killed */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != tester) _exit(120);
    close(fds[0]);
    sm_manager *m = NULL;
    char line[400];
    int rc = sm_manager_start(NULL, &m);
    if (rc != SM_OK)
      snprintf(line, sizeof line, "0 %s\n", sm_last_error());
    else
      snprintf(line, sizeof line, "%d %s\n", (int)sm_manager_pid(m), sm_manager_url(m));
    if (write(fds[1], line, strlen(line)) < 0) _exit(121);
    for (;;)
      pause();
  }
  close(fds[1]);
  char line[400];
  size_t got = 0;
  ssize_t r;
  while (got < sizeof line - 1 && !memchr(line, '\n', got) &&
         (r = read(fds[0], line + got, sizeof line - 1 - got)) > 0)
    got += (size_t)r;
  close(fds[0]);
  line[got] = '\0';
  line[strcspn(line, "\n")] = '\0';
  int daemon = atoi(line);
  ck_assert_msg(daemon > 0, "the parent could not start a manager: %s", line);
  const char *url = strchr(line, ' ') + 1;
  const char *sock = sock_path(url);
  ck_assert_int_eq(kill(daemon, 0), 0);
  ck_assert_int_eq(try_connect(sock), 0);

  double t0 = smtest_now_ms();
  ck_assert_int_eq(kill(parent, SIGKILL), 0);
  int st;
  ck_assert_int_eq(waitpid(parent, &st, 0), parent);
  while (!process_gone(daemon) && smtest_now_ms() - t0 < 5000)
    smtest_sleep_ms(1);
  double took = smtest_now_ms() - t0;
  fprintf(stderr, "check_manager: statemgrd %d was gone %.1f ms after its parent's SIGKILL\n",
          daemon, took);
  ck_assert_msg(process_gone(daemon), "statemgrd %d outlived its parent", daemon);
  ck_assert_msg(took < 2000, "statemgrd took %.0f ms to die with its parent", took);
  int e = try_connect(sock);
  ck_assert_msg(e == ECONNREFUSED || e == ENOENT, "connect to the dead daemon's socket: %s",
                strerror(e));

  /* Nobody ran sm_manager_shutdown: the private directory stays. */
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---- failures ---- */

/* A daemon path that cannot be run gives SM_EINVAL naming it and why;
 * nothing is left in $TMPDIR. */
START_TEST(bad_daemon_path) {
  use_private_tmpdir();
  sm_manager_options *o = sm_manager_options_new();
  sm_manager *m = NULL;
  OK(sm_manager_options_set_daemon_path(o, "/nonexistent/statemgrd"));
  FAILS(sm_manager_start(o, &m), SM_EINVAL);
  ck_assert_ptr_null(m);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "/nonexistent/statemgrd"));
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "No such file or directory"));

  OK(sm_manager_options_set_daemon_path(o, tmpdir)); /* a directory */
  FAILS(sm_manager_start(o, &m), SM_EINVAL);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "not a regular file"));

  OK(sm_manager_options_set_daemon_path(o, "no-such-statemgrd-anywhere"));
  FAILS(sm_manager_start(o, &m), SM_EINVAL);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "$PATH"));

  ck_assert_int_eq(setenv("STATEMGRD", "/nonexistent/from-env", 1), 0);
  FAILS(sm_manager_start(NULL, &m), SM_EINVAL);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "$STATEMGRD"));

  FAILS(sm_manager_options_set_daemon_path(o, ""), SM_EINVAL);
  FAILS(sm_manager_options_set_start_timeout_ms(o, 0), SM_EINVAL);
  FAILS(sm_manager_start(o, NULL), SM_EINVAL);
  sm_manager_options_free(o);
  drop_private_tmpdir();
}
END_TEST

/* A daemon that exits during start-up is reported with its exit status,
 * and one that never becomes ready is killed at the start timeout; neither
 * leaves a process or a file behind. */
START_TEST(daemon_fails_to_start) {
  use_private_tmpdir();
  sm_manager_options *o = sm_manager_options_new();
  sm_manager *m = NULL;
  OK(sm_manager_options_set_daemon_path(o, "/bin/false"));
  FAILS(sm_manager_start(o, &m), SM_ECONNECT);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "exited with status 1"));
  ck_assert_int_eq(dir_entries(tmpdir), 0);

  /* A "daemon" that never writes its ready file. */
  char script[128], pidfile[128];
  snprintf(script, sizeof script, "%s.sleeper", tmpdir);
  snprintf(pidfile, sizeof pidfile, "%s.pid", tmpdir);
  FILE *f = fopen(script, "w");
  ck_assert_ptr_nonnull(f);
  fprintf(f, "#!/bin/sh\necho $$ > %s\nexec sleep 60\n", pidfile);
  fclose(f);
  ck_assert_int_eq(chmod(script, 0700), 0);
  OK(sm_manager_options_set_daemon_path(o, script));
  OK(sm_manager_options_set_start_timeout_ms(o, 300));
  double t0 = smtest_now_ms();
  FAILS(sm_manager_start(o, &m), SM_ETIMEOUT);
  double took = smtest_now_ms() - t0;
  ck_assert_msg(took >= 290 && took < 3000, "start timed out after %.0f ms", took);
  f = fopen(pidfile, "r");
  ck_assert_ptr_nonnull(f);
  int sleeper = 0;
  ck_assert_int_eq(fscanf(f, "%d", &sleeper), 1);
  fclose(f);
  ck_assert_msg(kill(sleeper, 0) != 0 && errno == ESRCH, "the stuck daemon %d lives on", sleeper);
  unlink(script);
  unlink(pidfile);
  sm_manager_options_free(o);
  drop_private_tmpdir();
}
END_TEST

/* A daemon that is gone before shutdown (killed from outside): shutdown
 * says so, and still cleans up. */
START_TEST(shutdown_after_daemon_died) {
  use_private_tmpdir();
  sm_manager *m = NULL;
  OK(sm_manager_start(NULL, &m));
  ck_assert_int_eq(kill(sm_manager_pid(m), SIGKILL), 0);
  FAILS(sm_manager_shutdown(m), SM_EINTERNAL);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "killed by signal 9"));
  drop_private_tmpdir();
}
END_TEST

/* ---- the authkey ---- */

/* The CLI binary ($STATEMGR_CLI, as ctest sets it). */
static const char *cli_bin(void) {
  const char *p = getenv("STATEMGR_CLI");
  ck_assert_msg(p && *p, "STATEMGR_CLI must name the statemgr binary");
  return p;
}

/* A manager started with a key of the caller's (any bytes: a NUL and a
 * trailing newline included) reports that key, and another client that
 * knows it joins with the manager's URL and sees the same objects; one with
 * another key is refused. Another program, the CLI, joins the same way
 * with a printable key given in $STATEMGR_AUTHKEY. A key shorter than 16
 * bytes is refused when set. */
START_TEST(chosen_authkey) {
  use_private_tmpdir();
  static const char binary_key[] = "binary\0key of the caller\n"; /* 27 bytes */
  sm_manager_options *o = sm_manager_options_new();
  FAILS(sm_manager_options_set_authkey(o, "short", 5), SM_EINVAL);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "at least 16"));
  OK(sm_manager_options_set_authkey(o, binary_key, sizeof binary_key - 1));
  sm_manager *m = NULL;
  OK(sm_manager_start(o, &m));
  sm_manager_options_free(o);
  size_t len = 0;
  const void *key = sm_manager_authkey(m, &len);
  ck_assert_uint_eq(len, sizeof binary_key - 1);
  ck_assert_int_eq(memcmp(key, binary_key, len), 0);
  sm_dict *d;
  OK(sm_dict_open(sm_manager_client(m), "shared", &d));
  OK(sm_dict_set_str(d, "from", "the manager's owner"));

  sm_options *co = sm_options_new();
  OK(sm_options_set_authkey(co, key, len));
  sm_client *other = NULL;
  OK(sm_connect(sm_manager_url(m), co, &other));
  sm_dict *d2;
  char *from = NULL;
  OK(sm_dict_open(other, "shared", &d2));
  OK(sm_dict_get_str(d2, "from", &from));
  ck_assert_str_eq(from, "the manager's owner");
  sm_free(from);
  sm_dict_free(d2);
  sm_client_free(other);
  OK(sm_options_set_authkey(co, "binary\0key of the callee\n", sizeof binary_key - 1));
  FAILS(sm_connect(sm_manager_url(m), co, &other), SM_EAUTH);
  sm_options_free(co);
  sm_dict_free(d);
  OK(sm_manager_shutdown(m));

  static const char text_key[] = "a printable key for the CLI";
  o = sm_manager_options_new();
  OK(sm_manager_options_set_authkey(o, text_key, sizeof text_key - 1));
  OK(sm_manager_start(o, &m));
  sm_manager_options_free(o);
  OK(sm_dict_open(sm_manager_client(m), "seen-by-the-cli", &d));
  char cmd[1024], out[1024];
  snprintf(cmd, sizeof cmd, "STATEMGR_AUTHKEY='%s' '%s' -u '%s' ls 2>&1", text_key, cli_bin(),
           sm_manager_url(m));
  int rc = smtest_run(cmd, out, sizeof out);
  ck_assert_msg(rc == 0 && strstr(out, "seen-by-the-cli"), "exit %d: %s", rc, out);
  snprintf(cmd, sizeof cmd, "STATEMGR_AUTHKEY='not the key of the manager' '%s' -u '%s' ls 2>&1",
           cli_bin(), sm_manager_url(m));
  ck_assert_int_eq(smtest_run(cmd, out, sizeof out), 4); /* authentication refused */
  sm_dict_free(d);
  OK(sm_manager_shutdown(m));
  drop_private_tmpdir();
}
END_TEST

Suite *manager_suite(void) {
  Suite *s = suite_create("manager");
  TCase *tc = tcase_create("life cycle");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, start_use_shutdown);
  tcase_add_test(tc, survives_forked_workers);
  tcase_add_test(tc, chosen_authkey);
  suite_add_tcase(s, tc);

  tc = tcase_create("dies with its parent");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, dies_with_parent_sigkill);
  suite_add_tcase(s, tc);

  tc = tcase_create("failures");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, bad_daemon_path);
  tcase_add_test(tc, daemon_fails_to_start);
  tcase_add_test(tc, shutdown_after_daemon_died);
  suite_add_tcase(s, tc);
  return s;
}
