/* SPDX-License-Identifier: MIT */
/* smtest.c - start and stop a real statemgrd for the suites (see smtest.h).
 *
 * The daemon runs with a fresh random authkey in a private directory, on an
 * ephemeral TCP port (reported through --ready-file) and a UNIX socket, plus
 * the listeners of extra arguments (the first tls:// one is recorded), and
 * optionally inside a network namespace (smtest_daemon_start_in). It keeps
 * its state in memory (--no-persist) unless the extra arguments name a
 * --data-dir (the durable suites give one inside the private directory). It is
 * tied to the runner with PR_SET_PDEATHSIG so a crashed runner leaves no
 * daemon behind. A daemon that does not exit 0 when stopped (a crash, a
 * sanitizer report, a leak) counts as a failure of the run: the teardown of
 * an unchecked fixture cannot fail a test, so smtest_failures is checked by
 * the runner's main. */
#include "smtest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

smtest_daemon smtest_d;
int smtest_failures;

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void print_log(const smtest_daemon *d) {
  FILE *f = fopen(d->log_file, "r");
  if (!f) return;
  char line[1024];
  fprintf(stderr, "---- statemgrd log (%s) ----\n", d->log_file);
  while (fgets(line, sizeof line, f))
    fputs(line, stderr);
  fprintf(stderr, "---- end of log ----\n");
  fclose(f);
}

static void write_key(const char *path) {
  unsigned char raw[32];
  int fd = open("/dev/urandom", O_RDONLY);
  ck_assert_msg(fd >= 0 && read(fd, raw, sizeof raw) == (ssize_t)sizeof raw, "no randomness");
  close(fd);
  FILE *f = fopen(path, "w");
  ck_assert_msg(f != NULL, "cannot write %s", path);
  for (size_t i = 0; i < sizeof raw; i++)
    fprintf(f, "%02x", raw[i]);
  fputc('\n', f);
  fclose(f);
  chmod(path, 0600);
}

/* Reads the ready file once it exists: one URL per line. */
static bool read_ready(smtest_daemon *d, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return false;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    if (strncmp(line, "tcp://", 6) == 0)
      snprintf(d->tcp_url, sizeof d->tcp_url, "%.*s", (int)sizeof d->tcp_url - 1, line);
    if (strncmp(line, "unix:", 5) == 0)
      snprintf(d->unix_url, sizeof d->unix_url, "%.*s", (int)sizeof d->unix_url - 1, line);
    if (strncmp(line, "tls://", 6) == 0 && !d->tls_url[0])
      snprintf(d->tls_url, sizeof d->tls_url, "%.*s", (int)sizeof d->tls_url - 1, line);
    if (strncmp(line, "http://", 7) == 0)
      snprintf(d->metrics_url, sizeof d->metrics_url, "%.*s", (int)sizeof d->metrics_url - 1, line);
  }
  fclose(f);
  return d->tcp_url[0] != '\0';
}

static void spawn(smtest_daemon *d, const char *netns, const char *const *extra_args);

void smtest_daemon_start(smtest_daemon *d, const char *const *extra_args) {
  smtest_daemon_start_in(d, NULL, extra_args);
}

void smtest_daemon_start_in(smtest_daemon *d, const char *netns, const char *const *extra_args) {
  memset(d, 0, sizeof *d);
  const char *ext = getenv("SMTEST_URL");
  if (ext && *ext) {
    snprintf(d->tcp_url, sizeof d->tcp_url, "%s", ext);
    snprintf(d->unix_url, sizeof d->unix_url, "%s", ext);
    const char *key = getenv("SMTEST_AUTHKEY_FILE");
    snprintf(d->authkey_file, sizeof d->authkey_file, "%s", key ? key : "");
    return;
  }
  snprintf(d->dir, sizeof d->dir, "/tmp/smtest.XXXXXX");
  ck_assert_msg(mkdtemp(d->dir) != NULL, "mkdtemp: %s", strerror(errno));
  snprintf(d->authkey_file, sizeof d->authkey_file, "%s/authkey", d->dir);
  snprintf(d->log_file, sizeof d->log_file, "%s/statemgrd.log", d->dir);
  write_key(d->authkey_file);
  spawn(d, netns, extra_args);
}

/* Runs statemgrd in d's directory (key, socket, log, ready file there) and
 * waits until it is ready. */
static void spawn(smtest_daemon *d, const char *netns, const char *const *extra_args) {
  const char *bin = getenv("STATEMGRD");
  ck_assert_msg(bin && *bin, "set STATEMGRD to the statemgrd binary (ctest does)");
  char ready[320], sock[320], unix_listen[330];
  snprintf(ready, sizeof ready, "%s/ready", d->dir);
  snprintf(sock, sizeof sock, "%s/statemgr.sock", d->dir);
  snprintf(unix_listen, sizeof unix_listen, "unix:%s", sock);

  /* SMTEST_VALGRIND=1 runs the daemon under memcheck; any error or leak
   * makes it exit 99, which the teardown reports as a failure. */
  const char *vg_env = getenv("SMTEST_VALGRIND");
  bool vg = vg_env && strcmp(vg_env, "1") == 0;
  const char *argv[64];
  size_t argc = 0;
  if (vg) {
    static const char *const vg_args[] = {"valgrind",
                                          "-q",
                                          "--leak-check=full",
                                          "--show-leak-kinds=definite,indirect,possible",
                                          "--errors-for-leak-kinds=definite,indirect,possible",
                                          "--error-exitcode=99"};
    for (size_t i = 0; i < sizeof vg_args / sizeof vg_args[0]; i++)
      argv[argc++] = vg_args[i];
  }
  const char *daemon_args[] = {bin,
                               "--listen",
                               "tcp://127.0.0.1:0",
                               "--listen",
                               unix_listen,
                               "--authkey-file",
                               d->authkey_file,
                               "--ready-file",
                               ready,
                               "--log-level",
                               "debug"};
  for (size_t i = 0; i < sizeof daemon_args / sizeof daemon_args[0]; i++)
    argv[argc++] = daemon_args[i];
  /* In memory unless the test names a data directory: no test writes to
   * ~/.statemgr/data, and suites that do not care pay nothing for it. */
  bool persist = false;
  for (size_t i = 0; extra_args && extra_args[i]; i++)
    persist = persist || strcmp(extra_args[i], "--data-dir") == 0;
  if (!persist) argv[argc++] = "--no-persist";
  for (size_t i = 0; extra_args && extra_args[i] && argc < 63; i++)
    argv[argc++] = extra_args[i];
  argv[argc] = NULL;

  pid_t parent = getpid();
  pid_t pid = fork();
  ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    int log = open(d->log_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (log >= 0) {
      dup2(log, STDOUT_FILENO);
      dup2(log, STDERR_FILENO);
      close(log);
    }
    if (netns) {
      char path[256];
      snprintf(path, sizeof path, "/var/run/netns/%s", netns);
      int nsfd = open(path, O_RDONLY | O_CLOEXEC);
      if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0) {
        fprintf(stderr, "setns %s: %s\n", path, strerror(errno));
        _exit(127);
      }
      close(nsfd);
    }
    execvp(argv[0], (char *const *)argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  d->pid = pid;
  int patience_ms = vg ? 60000 : 10000;
  for (int waited = 0; waited < patience_ms; waited += 5) {
    if (read_ready(d, ready)) return;
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      d->pid = 0;
      print_log(d);
      ck_abort_msg("statemgrd exited during start-up (status %d)", st);
    }
    sleep_ms(5);
  }
  print_log(d);
  ck_abort_msg("statemgrd did not become ready in %d s", patience_ms / 1000);
}

int smtest_daemon_stop(smtest_daemon *d) {
  int result = smtest_daemon_kill(d, SIGTERM);
  if (d->dir[0]) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->dir);
    if (system(cmd) != 0) fprintf(stderr, "smtest: cannot remove %s\n", d->dir);
    d->dir[0] = '\0';
  }
  return result;
}

int smtest_daemon_kill(smtest_daemon *d, int sig) {
  int result = -1;
  if (d->pid > 0) {
    kill(d->pid, sig);
    int st = 0;
    bool gone = false;
    for (int waited = 0; waited < 60000 && !gone; waited += 5) {
      if (waitpid(d->pid, &st, WNOHANG) == d->pid)
        gone = true;
      else
        sleep_ms(5);
    }
    if (!gone) {
      kill(d->pid, SIGKILL);
      waitpid(d->pid, &st, 0);
      fprintf(stderr, "smtest: statemgrd did not stop within 60 s of SIGTERM\n");
    } else if (WIFEXITED(st)) {
      result = WEXITSTATUS(st);
    }
    if (result != 0 && sig != SIGKILL) {
      fprintf(stderr, "smtest: statemgrd (pid %d) ended badly: status %d\n", (int)d->pid, st);
      print_log(d);
    }
    d->pid = 0;
  } else {
    result = 0;
  }
  return result;
}

void smtest_daemon_restart_args(smtest_daemon *d, const char *const *extra_args) {
  ck_assert_msg(d->pid == 0 && d->dir[0], "smtest_daemon_restart: stop it with smtest_daemon_kill");
  char ready[320];
  snprintf(ready, sizeof ready, "%s/ready", d->dir);
  unlink(ready);
  d->tcp_url[0] = d->unix_url[0] = d->tls_url[0] = '\0';
  spawn(d, NULL, extra_args);
}

void smtest_daemon_restart(smtest_daemon *d) { smtest_daemon_restart_args(d, NULL); }

sm_client *smtest_connect(const smtest_daemon *d, const char *url) {
  sm_options *o = sm_options_new();
  ck_assert_ptr_nonnull(o);
  if (d->authkey_file[0]) ck_assert_int_eq(sm_options_set_authkey_file(o, d->authkey_file), 0);
  sm_client *c = NULL;
  int rc = sm_connect(url ? url : d->tcp_url, o, &c);
  sm_options_free(o);
  ck_assert_msg(rc == 0, "sm_connect(%s): %s: %s", url ? url : d->tcp_url, sm_strerror(rc),
                sm_last_error());
  return c;
}

sm_client *smtest_connect_i(int i) {
  return smtest_connect(&smtest_d, i == 0 ? smtest_d.tcp_url : smtest_d.unix_url);
}

const char *smtest_name_i(const char *base, int i) {
  static char buf[4][64];
  static unsigned next;
  char *b = buf[next++ % 4];
  snprintf(b, sizeof buf[0], "%s-%s", base, i == 0 ? "tcp" : "unix");
  return b;
}

int64_t smtest_info_int(sm_client *c, const char *field) {
  sm_value *info = NULL;
  OK(sm_info(c, &info));
  sm_value *k = sm_value_str(field);
  const sm_value *v = sm_value_map_get(info, k);
  ck_assert_msg(v && sm_value_type(v) == SM_INT, "info has no int \"%s\"", field);
  int64_t n = sm_value_as_int(v);
  sm_value_free(k);
  sm_value_free(info);
  return n;
}

int64_t smtest_info_sub_int(sm_client *c, const char *map, const char *field) {
  sm_value *info = NULL;
  OK(sm_info(c, &info));
  sm_value *k = sm_value_str(map), *f = sm_value_str(field);
  const sm_value *v = sm_value_map_get(sm_value_map_get(info, k), f);
  ck_assert_msg(v && sm_value_type(v) == SM_INT, "info has no int \"%s\" in \"%s\"", field, map);
  int64_t n = sm_value_as_int(v);
  sm_value_free(k);
  sm_value_free(f);
  sm_value_free(info);
  return n;
}

static void fixture_start(void) { smtest_daemon_start(&smtest_d, NULL); }

void smtest_daemon_stop_checked(smtest_daemon *d) {
  if (smtest_daemon_stop(d) != 0) smtest_failures++;
}

static void fixture_stop(void) { smtest_daemon_stop_checked(&smtest_d); }

TCase *smtest_daemon_tcase(Suite *s, const char *name, double timeout_s) {
  TCase *tc = tcase_create(name);
  smtest_add_daemon(tc);
  tcase_set_timeout(tc, timeout_s);
  suite_add_tcase(s, tc);
  return tc;
}

void smtest_add_daemon(TCase *tc) { tcase_add_unchecked_fixture(tc, fixture_start, fixture_stop); }

int smtest_run(const char *cmdline, char *out, size_t outlen) {
  FILE *p = popen(cmdline, "r");
  if (!p) return -1;
  size_t n = 0;
  char buf[4096];
  size_t r;
  while ((r = fread(buf, 1, sizeof buf, p)) > 0) {
    if (out && n + 1 < outlen) {
      size_t take = r < outlen - 1 - n ? r : outlen - 1 - n;
      memcpy(out + n, buf, take);
      n += take;
    }
  }
  if (out && outlen) out[n] = '\0';
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool log_holds(const smtest_daemon *d, const char *needle) {
  FILE *f = fopen(d->log_file, "r");
  if (!f) return false;
  char line[2048];
  bool found = false;
  while (!found && fgets(line, sizeof line, f))
    found = strstr(line, needle) != NULL;
  fclose(f);
  return found;
}

bool smtest_daemon_log_has(const smtest_daemon *d, const char *needle, int wait_ms) {
  int waited = 0;
  do {
    if (log_holds(d, needle)) return true;
    if (wait_ms > 0) sleep_ms(20);
    waited += 20;
  } while (waited < wait_ms);
  return false;
}

void smtest_expect_value(sm_value *v, const char *want) {
  char *t = sm_value_to_text(v);
  ck_assert_ptr_nonnull(t);
  ck_assert_str_eq(t, want);
  sm_free(t);
  sm_value_free(v);
}

int smtest_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ck_assert_int_ge(fd, 0);
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
  socklen_t len = sizeof sin;
  ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
  close(fd);
  return ntohs(sin.sin_port);
}

double smtest_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- a daemon with a data directory ---- */

void smtest_durable_start(smtest_durable *x, const char *const *extra) {
  memset(x, 0, sizeof *x);
  snprintf(x->base, sizeof x->base, "/tmp/smdata.XXXXXX");
  ck_assert_msg(mkdtemp(x->base) != NULL, "mkdtemp: %s", strerror(errno));
  snprintf(x->data, sizeof x->data, "%s/data", x->base);
  size_t n = 0;
  x->args[n++] = "--data-dir";
  x->args[n++] = x->data;
  for (size_t i = 0; extra && extra[i] && n < 15; i++)
    x->args[n++] = extra[i];
  x->args[n] = NULL;
  smtest_daemon_start(&x->d, x->args);
}

void smtest_durable_restart(smtest_durable *x, int sig) {
  int rc = smtest_daemon_kill(&x->d, sig);
  if (sig != SIGKILL) ck_assert_int_eq(rc, 0);
  smtest_daemon_restart_args(&x->d, x->args);
}

void smtest_durable_stop(smtest_durable *x) {
  ck_assert_int_eq(smtest_daemon_stop(&x->d), 0);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", x->base);
  ck_assert_int_eq(system(cmd), 0);
}

sm_client *smtest_durable_connect(const smtest_durable *x) {
  return smtest_connect(&x->d, x->d.unix_url);
}

bool smtest_ip(char *why, size_t whylen, const char *fmt, ...) {
  char args[400], cmd[480], out[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  snprintf(cmd, sizeof cmd, "ip %s 2>&1", args);
  int rc = smtest_run(cmd, out, sizeof out);
  if (rc != 0 && !why[0]) {
    out[strcspn(out, "\n")] = '\0';
    snprintf(why, whylen, "`ip %s` failed (exit %d): %s", args, rc, out);
  }
  return rc == 0;
}
