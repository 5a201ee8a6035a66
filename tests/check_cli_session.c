/* SPDX-License-Identifier: MIT */
/* check_cli_session.c - the `statemgr` CLI's long-lived commands, run as
 * real processes ($STATEMGR_CLI) against a real statemgrd: the interactive
 * mode driven through a pseudo-terminal (forkpty), `clients` and `clients
 * kill`, and `monitor`, plain and --json; and the monitor method's cursor
 * and missed count through the C API. */
#include "smtest.h"

#include <stdarg.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define OUT_LEN 16384

static const char *cli_bin(void) {
  const char *p = getenv("STATEMGR_CLI");
  ck_assert_msg(p && *p, "STATEMGR_CLI must name the statemgr binary");
  return p;
}

/* Runs `statemgr -u URL --authkey-file KEY ARGS` through the shell; returns
 * its exit status, stdout in out. */
static int cli(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cli(char *out, const char *fmt, ...) {
  char args[1024], cmd[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  snprintf(cmd, sizeof cmd, "'%s' -u '%s' --authkey-file '%s' %s", cli_bin(), smtest_d.tcp_url,
           smtest_d.authkey_file, args);
  if (out) out[0] = '\0';
  return smtest_run(cmd, out, OUT_LEN);
}

/* A client of smtest_d that calls itself name. */
static sm_client *named_client(const char *name) {
  sm_options *o = sm_options_new();
  ck_assert_ptr_nonnull(o);
  ck_assert_int_eq(sm_options_set_authkey_file(o, smtest_d.authkey_file), 0);
  ck_assert_int_eq(sm_options_set_client_name(o, name), 0);
  sm_client *c = NULL;
  ck_assert_int_eq(sm_connect(smtest_d.tcp_url, o, &c), 0);
  sm_options_free(o);
  return c;
}

/* The value under string key k of map m (borrowed), or NULL. */
static const sm_value *at(const sm_value *m, const char *k) {
  for (size_t i = 0; m && i < sm_value_len(m); i++) {
    const char *key = sm_value_as_str(sm_value_map_key_at(m, i), NULL);
    if (key && strcmp(key, k) == 0) return sm_value_map_value_at(m, i);
  }
  return NULL;
}

/* Output read from a child so far. */
typedef struct child_out {
  int fd;
  char buf[OUT_LEN];
  size_t len;
} child_out;

/* Reads from o->fd until needle occurs count times in what was read, or
 * ms pass. Returns whether it did. */
static bool expect(child_out *o, const char *needle, int count, int ms) {
  double end = smtest_now_s() + ms / 1000.0;
  for (;;) {
    int seen = 0;
    for (const char *p = o->buf; (p = strstr(p, needle)) != NULL; p += strlen(needle))
      seen++;
    if (seen >= count) return true;
    double left = end - smtest_now_s();
    if (left <= 0 || o->len + 1 >= sizeof o->buf) return false;
    struct pollfd pfd = {.fd = o->fd, .events = POLLIN};
    if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0) continue;
    ssize_t n = read(o->fd, o->buf + o->len, sizeof o->buf - 1 - o->len);
    if (n <= 0) return false; /* the child closed its side */
    o->len += (size_t)n;
    o->buf[o->len] = '\0';
  }
}

/* Starts the CLI with args (after -u and --authkey-file) and its stdout on
 * a pipe (o->fd). Returns its pid. */
static pid_t spawn_cli(child_out *o, const char *const *args) {
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    const char *argv[16] = {cli_bin(), "-u", smtest_d.tcp_url, "--authkey-file",
                            smtest_d.authkey_file};
    size_t n = 5;
    for (size_t i = 0; args[i] && n < 15; i++)
      argv[n++] = args[i];
    argv[n] = NULL;
    dup2(p[1], STDOUT_FILENO);
    close(p[0]);
    close(p[1]);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  close(p[1]);
  memset(o, 0, sizeof *o);
  o->fd = p[0];
  return pid;
}

/* Waits for pid; returns its exit status, or -1 when a signal ended it. */
static int wait_exit(pid_t pid) {
  int st = 0;
  ck_assert_int_eq(waitpid(pid, &st, 0), pid);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- interactive mode ------------------------------------------------ */

/* Sends one line to the terminal. */
static void type_line(int fd, const char *line) {
  char buf[512];
  int n = snprintf(buf, sizeof buf, "%s\n", line);
  ck_assert_int_eq(write(fd, buf, (size_t)n), n);
}

/* Turns a history file into plain lines in place: libedit writes a
 * "_HiStOrY_V2_" first line and escapes blanks and quotes as strvis(3)
 * does (\\040, \\"); a plain reader's file passes unchanged. */
static void history_decode(char *s) {
  const char *magic = "_HiStOrY_V2_\n";
  char *r = s, *w = s;
  if (strncmp(r, magic, strlen(magic)) == 0) r += strlen(magic);
  while (*r) {
    if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
        r[3] <= '7') {
      *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
      r += 4;
    } else if (r[0] == '\\' && r[1]) {
      *w++ = r[1];
      r += 2;
    } else {
      *w++ = *r++;
    }
  }
  *w = '\0';
}

/* On a terminal without a command, the CLI prompts with the daemon's URL,
 * runs commands with shell quoting, prints an error and prompts again, keeps
 * a lock across commands (another client sees it held until it is
 * released), completes command and object names with Tab, answers help,
 * writes its history file (0600), and quits. */
START_TEST(test_interactive) {
  char home[] = "/tmp/smtest-home-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(home));
  int master = -1;
  pid_t pid = forkpty(&master, NULL, NULL, NULL);
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    setenv("HOME", home, 1);
    setenv("TERM", "dumb", 1);
    execl(cli_bin(), cli_bin(), "-u", smtest_d.tcp_url, "--authkey-file", smtest_d.authkey_file,
          (char *)NULL);
    _exit(127);
  }
  child_out o = {.fd = master};
  char prompt[200], out[OUT_LEN];
  snprintf(prompt, sizeof prompt, "%s> ", smtest_d.tcp_url);
  int prompts = 1;
  ck_assert_msg(expect(&o, prompt, prompts, 10000), "no prompt: %s", o.buf);

  type_line(master, "set repl_d k \"two words\"");
  ck_assert_msg(expect(&o, prompt, ++prompts, 10000), "no prompt after set: %s", o.buf);
  type_line(master, "get repl_d k");
  ck_assert_msg(expect(&o, "two words\r\n", 1, 10000), "get printed no value: %s", o.buf);
  ck_assert(expect(&o, prompt, ++prompts, 10000));
  /* An error prints, and the prompt comes back on the same session. */
  type_line(master, "get repl_nope k");
  ck_assert_msg(expect(&o, "statemgr: no object named 'repl_nope'", 1, 10000), "%s", o.buf);
  ck_assert(expect(&o, prompt, ++prompts, 10000));
  type_line(master, "frobnicate");
  ck_assert_msg(expect(&o, "unknown command 'frobnicate'", 1, 10000), "%s", o.buf);
  ck_assert(expect(&o, prompt, ++prompts, 10000));

  /* A lock stays held by the session between commands. */
  type_line(master, "lock repl_lock acquire");
  ck_assert(expect(&o, prompt, ++prompts, 10000));
  ck_assert_int_eq(cli(out, "lock repl_lock locked"), 0);
  ck_assert_str_eq(out, "True\n");
  ck_assert_int_eq(cli(out, "lock repl_lock acquire --timeout 0"), 1);
  ck_assert_int_eq(cli(out, "--json clients"), 0);
  ck_assert_msg(strstr(out, "\"name\": \"repl_lock\""), "no holder of repl_lock in: %s", out);
  type_line(master, "lock repl_lock release");
  ck_assert(expect(&o, prompt, ++prompts, 10000));
  ck_assert_int_eq(cli(out, "lock repl_lock locked"), 0);
  ck_assert_str_eq(out, "False\n");

  /* Tab completes a command name, then an object name. */
  type_line(master, "pin\t");
  ck_assert_msg(expect(&o, "pong\r\n", 1, 10000), "ping not completed: %s", o.buf);
  ck_assert(expect(&o, prompt, ++prompts, 10000));
  type_line(master, "type repl_lo\t");
  ck_assert_msg(expect(&o, "\nlock\r\n", 1, 10000), "repl_lock not completed: %s", o.buf);
  ck_assert(expect(&o, prompt, ++prompts, 10000));

  type_line(master, "help");
  ck_assert_msg(expect(&o, "stays held until", 1, 10000), "help: %s", o.buf);
  ck_assert(expect(&o, prompt, ++prompts, 10000));
  type_line(master, "help lock");
  ck_assert_msg(expect(&o, "usage: statemgr lock NAME", 1, 10000), "help lock: %s", o.buf);
  ck_assert(expect(&o, prompt, ++prompts, 10000));
  type_line(master, "quit");
  ck_assert_int_eq(wait_exit(pid), 0);
  close(master);

  char path[300];
  snprintf(path, sizeof path, "%s/.statemgr/cli_history", home);
  struct stat st;
  ck_assert_int_eq(stat(path, &st), 0);
  ck_assert_int_eq(st.st_mode & 0777, 0600);
  FILE *f = fopen(path, "r");
  ck_assert_ptr_nonnull(f);
  size_t n = fread(out, 1, sizeof out - 1, f);
  out[n] = '\0';
  fclose(f);
  history_decode(out);
  ck_assert_msg(strstr(out, "set repl_d k \"two words\"\nget repl_d k\n"), "history: %s", out);
  char rm[400];
  snprintf(rm, sizeof rm, "rm -rf '%s'", home);
  ck_assert_int_eq(system(rm), 0);
}
END_TEST

/* ---- clients and kill ------------------------------------------------ */

/* The id of the connection named name in `clients` output, or 0. */
static long client_id(const char *listing, const char *name) {
  char needle[128];
  snprintf(needle, sizeof needle, " name=%s ", name);
  const char *p = strstr(listing, needle);
  if (!p) return 0;
  while (p > listing && p[-1] != '\n')
    p--;
  long id = 0;
  return sscanf(p, "id=%ld ", &id) == 1 ? id : 0;
}

/* clients lists a connection with its name and what it holds (plain and
 * --json); clients kill ID closes it as a dead client: its lock goes to
 * the CLI waiting for it; a second kill of that id is not found. */
START_TEST(test_clients_kill) {
  char out[OUT_LEN];
  sm_client *holder = named_client("kill-holder");
  sm_lock *l = NULL;
  ck_assert_int_eq(sm_lock_open(holder, "kill_lock", &l), 0);
  ck_assert_int_eq(sm_lock_acquire(l, 0), 0);

  ck_assert_int_eq(cli(out, "clients"), 0);
  ck_assert_msg(strstr(out, " name=kill-holder ") && strstr(out, "holds=lock:'kill_lock'x1\n"),
                "clients: %s", out);
  long id = client_id(out, "kill-holder");
  ck_assert_int_gt(id, 0);
  ck_assert_int_eq(cli(out, "--json clients"), 0);
  ck_assert_msg(strstr(out, "\"name\": \"kill-holder\"") &&
                    strstr(out, "\"holds\": [{\"object\": ") &&
                    strstr(out, "\"name\": \"kill_lock\", \"type\": \"lock\", \"units\": 1}]"),
                "clients --json: %s", out);

  /* A CLI waits for the lock; killing the holder hands it over. */
  child_out w;
  const char *args[] = {"lock", "kill_lock", "acquire", "--timeout", "30000", NULL};
  pid_t waiter = spawn_cli(&w, args);
  sm_value *show = NULL;
  for (int i = 0; i < 500; i++) { /* until the daemon has parked the waiter */
    ck_assert_int_eq(sm_show(holder, "kill_lock", &show), 0);
    int64_t waiting = sm_value_as_int(at(show, "waiters"));
    sm_value_free(show);
    if (waiting == 1) break;
    usleep(10000);
  }
  ck_assert_int_eq(cli(out, "clients kill %ld", id), 0);
  ck_assert_str_eq(out, "");
  ck_assert_int_eq(wait_exit(waiter), 0); /* it got the lock */
  close(w.fd);
  ck_assert_int_eq(cli(out, "clients kill %ld", id), 1);
  ck_assert_int_eq(cli(out, "--json clients kill %ld", id), 1);
  ck_assert_int_eq(cli(out, "clients kill x"), 2);
  ck_assert_int_eq(cli(out, "clients"), 0);
  ck_assert_ptr_null(strstr(out, "kill-holder"));

  /* --json kill prints null. */
  sm_client *victim = named_client("kill-victim");
  ck_assert_int_eq(sm_ping(victim), 0);
  ck_assert_int_eq(cli(out, "clients"), 0);
  id = client_id(out, "kill-victim");
  ck_assert_int_gt(id, 0);
  ck_assert_int_eq(cli(out, "--json clients kill %ld", id), 0);
  ck_assert_str_eq(out, "null\n");
  sm_client_free(victim);
  sm_lock_free(l);
  sm_client_free(holder);
}
END_TEST

/* ---- monitor --------------------------------------------------------- */

/* Starts `statemgr [--json] monitor` and waits until the daemon has its
 * call parked (attached: every later call is recorded). */
static pid_t start_monitor(child_out *o, bool json) {
  const char *plain[] = {"monitor", NULL}, *as_json[] = {"--json", "monitor", NULL};
  pid_t pid = spawn_cli(o, json ? as_json : plain);
  sm_client *c = smtest_connect(&smtest_d, NULL);
  bool parked = false;
  for (int i = 0; i < 500 && !parked; i++) {
    sm_value *list = NULL;
    ck_assert_int_eq(sm_clients(c, &list), 0);
    for (size_t k = 0; k < sm_value_len(list); k++)
      if (sm_value_as_int(at(sm_value_list_at(list, k), "parked")) > 0) parked = true;
    sm_value_free(list);
    if (!parked) usleep(10000);
  }
  sm_client_free(c);
  ck_assert_msg(parked, "the monitor never parked its call");
  return pid;
}

/* Calls of another client, in order, as the monitor must show them. */
static void monitored_calls(void) {
  sm_client *c = named_client("watched");
  sm_dict *d = NULL;
  ck_assert_int_eq(sm_dict_open(c, "mon_d", &d), 0);
  ck_assert_int_eq(sm_dict_set_str(d, "k1", "first"), 0);
  ck_assert_int_eq(sm_dict_set_str(d, "k2", "second"), 0);
  ck_assert_int_eq(sm_dict_del_str(d, "k1"), 0);
  sm_dict_free(d);
  sm_client_free(c);
}

/* `statemgr monitor` prints another client's calls in order, with the
 * client, type.method, target and arguments; Ctrl-C ends it with exit 0. */
START_TEST(test_monitor_plain) {
  child_out o;
  pid_t pid = start_monitor(&o, false);
  monitored_calls();
  ck_assert_msg(expect(&o, "as watched dict.del 'mon_d' 'k1'\n", 1, 10000), "monitor: %s", o.buf);
  const char *a = strstr(o.buf, "as watched dict.set 'mon_d' 'k1' 'first'\n");
  const char *b = strstr(o.buf, "as watched dict.set 'mon_d' 'k2' 'second'\n");
  ck_assert_msg(a && b && a < b, "calls missing or out of order: %s", o.buf);
  ck_assert_msg(strstr(o.buf, "as watched manager.create - 'dict' 'mon_d'"), "%s", o.buf);
  ck_assert_ptr_null(strstr(o.buf, "manager.monitor")); /* not its own calls */
  kill(pid, SIGINT);
  ck_assert_int_eq(wait_exit(pid), 0);
  close(o.fd);
}
END_TEST

/* --json: one JSON object per call and line, with the fields named in
 * `statemgr help monitor`. */
START_TEST(test_monitor_json) {
  child_out o;
  pid_t pid = start_monitor(&o, true);
  monitored_calls();
  ck_assert_msg(expect(&o, "'k2' 'second'", 1, 10000), "monitor --json: %s", o.buf);
  const char *a = strstr(o.buf, "\"args\": \"'k1' 'first'\"");
  const char *b = strstr(o.buf, "\"args\": \"'k2' 'second'\"");
  ck_assert_msg(a && b && a < b, "%s", o.buf);
  const char *line = a;
  while (line > o.buf && line[-1] != '\n')
    line--;
  ck_assert_msg(strncmp(line, "{\"id\": ", 7) == 0, "not a JSON line: %s", line);
  ck_assert_msg(strstr(line, "\"client_name\": \"watched\"") &&
                    strstr(line, "\"name\": \"mon_d\", \"type\": \"dict\", \"method\": \"set\""),
                "%s", line);
  kill(pid, SIGINT);
  ck_assert_int_eq(wait_exit(pid), 0);
  close(o.fd);
}
END_TEST

/* Through the C API: cursor 0 attaches and answers at once; the calls after
 * a cursor come back in id order; a reader that fell behind the ring is told
 * how many it missed; a wait with nothing new answers no calls. */
START_TEST(test_monitor_cursor) {
  sm_client *m = smtest_connect(&smtest_d, NULL);
  sm_client *c = smtest_connect(&smtest_d, NULL);
  uint64_t cursor = 0, next = 0, missed = 0;
  sm_value *calls = NULL;
  ck_assert_int_eq(sm_monitor(m, 0, 1000, &cursor, &missed, &calls), 0);
  ck_assert_int_eq(sm_value_len(calls), 0);
  sm_value_free(calls);
  enum { N = 1100 }; /* more than the ring's 1024 */
  sm_pipeline *p = NULL;
  ck_assert_int_eq(sm_pipeline_new(c, &p), 0);
  for (int i = 0; i < N; i++)
    ck_assert_int_eq(sm_pipeline_call(p, NULL, "ping", NULL, 0), 0);
  ck_assert_int_eq(sm_pipeline_exec(p), 0);
  sm_pipeline_free(p);
  ck_assert_int_eq(sm_monitor(m, cursor, 0, &next, &missed, &calls), 0);
  ck_assert_uint_eq(missed, N - 1024);
  ck_assert_int_eq(sm_value_len(calls), 256);
  int64_t first = sm_value_as_int(at(sm_value_list_at(calls, 0), "id"));
  ck_assert_int_eq(first, (int64_t)(cursor + missed));
  for (size_t i = 1; i < sm_value_len(calls); i++)
    ck_assert_int_eq(sm_value_as_int(at(sm_value_list_at(calls, i), "id")), first + (int64_t)i);
  ck_assert_str_eq(sm_value_as_str(at(sm_value_list_at(calls, 0), "method"), NULL), "ping");
  ck_assert_uint_eq(next, (uint64_t)first + 256);
  sm_value_free(calls);
  /* Read to the end, then a short wait with nothing new. */
  while (next < cursor + N) {
    ck_assert_int_eq(sm_monitor(m, next, 0, &next, &missed, &calls), 0);
    ck_assert_uint_eq(missed, 0);
    sm_value_free(calls);
  }
  ck_assert_int_eq(sm_monitor(m, next, 50, &next, &missed, &calls), 0);
  ck_assert_int_eq(sm_value_len(calls), 0);
  sm_value_free(calls);
  ck_assert_int_eq(sm_monitor(m, next, 60001, &next, &missed, &calls), SM_EVALUE);
  sm_client_free(c);
  sm_client_free(m);
}
END_TEST

Suite *cli_session_suite(void) {
  Suite *s = suite_create("cli_session");
  TCase *tc = smtest_daemon_tcase(s, "interactive", 60);
  tcase_add_test(tc, test_interactive);
  tc = smtest_daemon_tcase(s, "clients", 60);
  tcase_add_test(tc, test_clients_kill);
  tc = smtest_daemon_tcase(s, "monitor", 60);
  tcase_add_test(tc, test_monitor_plain);
  tcase_add_test(tc, test_monitor_json);
  tcase_add_test(tc, test_monitor_cursor);
  return s;
}
