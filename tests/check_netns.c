/* SPDX-License-Identifier: MIT */
/* check_netns.c - two hosts on one machine, for real: network namespaces
 * joined by a veth pair, TLS across the link, and then the link cut.
 *
 * As root, the suite's fixture (in the runner) makes two namespaces, A and
 * B, joined by a veth pair whose 10.199.0.1 (A) and 10.199.0.2 (B) exist
 * only inside them, and certificates whose server names include 10.199.0.1.
 * statemgrd runs inside A with a TLS listener on the veth address (and one
 * on A's loopback) and a 2 s TCP keepalive. Processes inside B share a
 * dict, a queue and a lock through it across the link; a waiter inside A
 * (over A's loopback, a path that stays up) waits for the lock. Then the
 * link is cut while a B process holds the lock and another B process is
 * parked on the queue: the daemon must notice the dead connections by
 * keepalive, give the lock to the waiter, and the B processes must get a
 * clear connection error within a bounded time, not hang.
 *
 * Where namespaces cannot be made (not root, no `ip`, no CAP_NET_ADMIN) the
 * test prints "SKIP: ..." and returns: that is NOT a pass. CTest reports it
 * as skipped (tests/CMakeLists.txt sets SKIP_REGULAR_EXPRESSION for this
 * suite). Every process is stopped by PID (and tied to its parent with
 * PR_SET_PDEATHSIG), and the fixture's teardown deletes both namespaces and
 * the certificates on every path. */
#include "smtest.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ADDR_A "10.199.0.1"
#define ADDR_B "10.199.0.2"
#define PORT_VETH "7451"     /* private namespaces: fixed ports cannot clash */
#define PORT_LOOPBACK "7452" /* A's own loopback, for the waiter */
#define KEEPALIVE "2"        /* seconds: a dead peer is noticed within ~5 s */
#define BOUND_MS 20000       /* what "not a hang" means here */

static char ns_a[32], ns_b[32];
static char skip_reason[1024]; /* set by the fixture when namespaces cannot be made */
static bool made_a, made_b;
static smtest_certs certs;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs an ip(8) command line; on failure keeps its output in skip_reason
 * (when empty) and returns false. */
/* `ip ARGS`; the first failure is the reason to skip (smtest_ip). */
#define ip(...) smtest_ip(skip_reason, sizeof skip_reason, __VA_ARGS__)

/* ---- fixture (in the runner): namespaces, link, certificates ---- */

static void fx_setup(void) {
  skip_reason[0] = '\0';
  snprintf(ns_a, sizeof ns_a, "smtestA-%d", (int)getpid());
  snprintf(ns_b, sizeof ns_b, "smtestB-%d", (int)getpid());
  if (geteuid() != 0) {
    snprintf(skip_reason, sizeof skip_reason, "needs root to create network namespaces");
    return;
  }
  if (smtest_run("command -v ip >/dev/null 2>&1", NULL, 0) != 0) {
    snprintf(skip_reason, sizeof skip_reason, "the ip command (iproute2) is not installed");
    return;
  }
  made_a = ip("netns add %s", ns_a);
  made_b = made_a && ip("netns add %s", ns_b);
  bool ok = made_a && made_b &&
            ip("link add smveth-a netns %s type veth peer name smveth-b netns %s", ns_a, ns_b) &&
            ip("-n %s addr add " ADDR_A "/24 dev smveth-a", ns_a) &&
            ip("-n %s addr add " ADDR_B "/24 dev smveth-b", ns_b) &&
            ip("-n %s link set lo up", ns_a) && ip("-n %s link set lo up", ns_b) &&
            ip("-n %s link set smveth-a up", ns_a) && ip("-n %s link set smveth-b up", ns_b);
  if (!ok) return;
  smtest_certs_make(&certs, ADDR_A);
}

static void fx_teardown(void) {
  /* Deleting a namespace removes its veth end, and with it the pair. */
  if (made_b) ip("netns del %s", ns_b);
  if (made_a) ip("netns del %s", ns_a);
  made_a = made_b = false;
  smtest_certs_remove(&certs);
}

/* ---- client processes ---- */

/* What a client process reports through its pipe: a step done, then the
 * outcome of the call that matters. */
typedef struct report {
  int rc;
  char text[600];
} report;

typedef struct proc {
  pid_t pid;
  int from; /* reports from the process */
  int to;   /* commands to it */
} proc;

static void send_report(int fd, int rc, const char *text) {
  report r = {.rc = rc};
  snprintf(r.text, sizeof r.text, "%s", text);
  ssize_t w = write(fd, &r, sizeof r);
  (void)w;
}

/* Waits up to timeout_ms for the next report of p; false on timeout or
 * when the process ended without one. */
static bool read_report(const proc *p, int timeout_ms, report *r) {
  memset(r, 0, sizeof *r);
  snprintf(r->text, sizeof r->text, "no report (none within %d ms, or the process ended)",
           timeout_ms);
  struct pollfd pfd = {.fd = p->from, .events = POLLIN};
  if (poll(&pfd, 1, timeout_ms) != 1) return false;
  return read(p->from, r, sizeof *r) == (ssize_t)sizeof *r;
}

/* Connects from inside the current namespace, with a short keepalive. */
static sm_client *client(const smtest_daemon *d, const char *url, int report_fd) {
  sm_options *o = sm_options_new();
  sm_options_set_authkey_file(o, d->authkey_file);
  sm_options_set_tls_ca(o, certs.ca);
  sm_options_set_keepalive(o, atoi(KEEPALIVE));
  sm_client *c = NULL;
  int rc = sm_connect(url, o, &c);
  sm_options_free(o);
  if (rc != 0) {
    char text[600];
    snprintf(text, sizeof text, "sm_connect(%s): %s", url, sm_last_error());
    send_report(report_fd, rc, text);
    _exit(1);
  }
  return c;
}

/* B, the lock holder: writes the dict, fills the queue, takes the lock,
 * reports, waits for the cut, then tries to release. */
static void run_holder(const smtest_daemon *d, int out, int in) {
  sm_client *c = client(d, "tls://" ADDR_A ":" PORT_VETH, out);
  sm_dict *dict;
  sm_queue *q;
  sm_lock *l;
  int rc = sm_dict_open(c, "netns-dict", &dict);
  if (rc == 0) rc = sm_dict_set_str(dict, "written-in", "namespace B");
  if (rc == 0) rc = sm_queue_open(c, "netns-queue", 0, &q);
  for (int i = 1; rc == 0 && i <= 3; i++)
    rc = sm_queue_put_int(q, i * 10, SM_FOREVER);
  if (rc == 0) rc = sm_lock_open(c, "netns-lock", &l);
  if (rc == 0) rc = sm_lock_acquire(l, 0);
  send_report(out, rc, rc == 0 ? "holding the lock" : sm_last_error());
  if (rc != 0) _exit(1);
  char go;
  if (read(in, &go, 1) != 1) _exit(1); /* the link is cut now */
  rc = sm_lock_release(l);
  send_report(out, rc, rc == 0 ? "released?!" : sm_last_error());
  _exit(0); /* no cleanup calls: the link is gone */
}

/* B, a second process: sees the holder's dict entry and queue items, then
 * parks on the empty queue. */
static void run_sharer(const smtest_daemon *d, int out, int in) {
  (void)in;
  sm_client *c = client(d, "tls://" ADDR_A ":" PORT_VETH, out);
  sm_dict *dict;
  sm_queue *q;
  char *s = NULL;
  int rc = sm_dict_open(c, "netns-dict", &dict);
  if (rc == 0) rc = sm_dict_get_str(dict, "written-in", &s);
  bool ok = rc == 0 && strcmp(s, "namespace B") == 0;
  sm_free(s);
  if (ok) rc = sm_queue_open(c, "netns-queue", 0, &q);
  for (int i = 1; ok && i <= 3; i++) {
    int64_t v = 0;
    rc = sm_queue_get_int(q, 5000, &v);
    ok = rc == 0 && v == i * 10;
  }
  send_report(out, ok ? 0 : (rc ? rc : SM_EVALUE), ok ? "shared dict and queue" : sm_last_error());
  if (!ok) _exit(1);
  int64_t v;
  rc = sm_queue_get_int(q, SM_FOREVER, &v); /* parked when the link goes */
  send_report(out, rc, rc == 0 ? "got an item?!" : sm_last_error());
  _exit(0);
}

/* A, the waiter: asks for the lock over A's loopback. */
static void run_waiter(const smtest_daemon *d, int out, int in) {
  (void)in;
  sm_client *c = client(d, "tls://127.0.0.1:" PORT_LOOPBACK, out);
  sm_lock *l;
  int rc = sm_lock_open(c, "netns-lock", &l);
  send_report(out, rc, rc == 0 ? "waiting for the lock" : sm_last_error());
  if (rc != 0) _exit(1);
  rc = sm_lock_acquire(l, 60000);
  send_report(out, rc, rc == 0 ? "got the lock" : sm_last_error());
  if (rc == 0) sm_lock_release(l);
  sm_lock_free(l);
  sm_client_free(c);
  _exit(0);
}

/* Forks a process that enters namespace ns and runs fn. */
static proc spawn(const char *ns, void (*fn)(const smtest_daemon *, int, int),
                  const smtest_daemon *d) {
  int up[2], down[2];
  ck_assert(pipe2(up, O_CLOEXEC) == 0 && pipe2(down, O_CLOEXEC) == 0);
  pid_t parent = getpid();
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    close(up[0]);
    close(down[1]);
    char path[128];
    snprintf(path, sizeof path, "/var/run/netns/%s", ns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
      char text[300];
      snprintf(text, sizeof text, "setns %s: %s", path, strerror(errno));
      send_report(up[1], SM_EINVAL, text);
      _exit(1);
    }
    close(fd);
    fn(d, up[1], down[0]);
    _exit(0);
  }
  close(up[1]);
  close(down[0]);
  return (proc){.pid = pid, .from = up[0], .to = down[1]};
}

/* Ends p: SIGKILL if it is still running, then reaps it. */
static void reap(proc *p) {
  if (p->pid <= 0) return;
  int st;
  for (int waited = 0; waited < 2000; waited += 10) {
    if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
      p->pid = 0;
      break;
    }
    struct timespec ts = {0, 10 * 1000000L};
    nanosleep(&ts, NULL);
  }
  if (p->pid > 0) {
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &st, 0);
    p->pid = 0;
  }
  close(p->from);
  close(p->to);
}

/* The daemon's count of parked calls, asked over its UNIX socket (a path
 * on the shared file system, whatever the namespaces). */
static int64_t waiters(sm_client *c) {
  sm_value *info = NULL;
  ck_assert_int_eq(sm_info(c, &info), 0);
  sm_value *key = sm_value_str("waiters");
  int64_t n = sm_value_as_int(sm_value_map_get(info, key));
  sm_value_free(key);
  sm_value_free(info);
  return n;
}

static bool log_has(const smtest_daemon *d, const char *needle) {
  return smtest_daemon_log_has(d, needle, 0);
}

/* Proves, across a real (virtual) network link between two namespaces:
 * processes share a dict, a queue and a lock over TLS; when the link is cut
 * under a lock holder, the daemon notices by keepalive and hands the lock
 * to the waiter, and the cut-off processes get SM_ECLOSED with a reason
 * within BOUND_MS instead of hanging. */
START_TEST(cut_link_releases_lock) {
  if (skip_reason[0]) {
    /* Not a pass: CTest marks the suite skipped on this line. */
    printf("SKIP: netns: %s\n", skip_reason);
    fflush(stdout);
    return;
  }
  int64_t t_start = now_ms();
  smtest_daemon d;
  const char *args[] = {"--listen",    "tls://" ADDR_A ":" PORT_VETH,
                        "--listen",    "tls://127.0.0.1:" PORT_LOOPBACK,
                        "--tls-cert",  certs.server,
                        "--tls-key",   certs.server_key,
                        "--keepalive", KEEPALIVE,
                        NULL};
  smtest_daemon_start_in(&d, ns_a, args);
  ck_assert_str_eq(d.tls_url, "tls://" ADDR_A ":" PORT_VETH);

  report r;
  proc holder = spawn(ns_b, run_holder, &d);
  ck_assert_msg(read_report(&holder, 15000, &r) && r.rc == 0, "holder: %s", r.text);
  proc sharer = spawn(ns_b, run_sharer, &d);
  ck_assert_msg(read_report(&sharer, 15000, &r) && r.rc == 0, "sharer: %s", r.text);
  proc waiter = spawn(ns_a, run_waiter, &d);
  ck_assert_msg(read_report(&waiter, 15000, &r) && r.rc == 0, "waiter: %s", r.text);

  /* Both blocking calls are parked in the daemon before the cut. */
  sm_client *local = smtest_connect(&d, d.unix_url);
  int64_t parked = 0;
  for (int waited = 0; waited < 10000 && (parked = waiters(local)) < 2; waited += 20) {
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
  }
  ck_assert_int_eq(parked, 2);
  int64_t t_setup = now_ms();

  ck_assert(ip("-n %s link set smveth-b down", ns_b));
  int64_t t_cut = now_ms();
  ck_assert_int_eq(write(holder.to, "g", 1), 1);

  /* The waiter gets the lock once the daemon has dropped the holder. */
  if (!read_report(&waiter, BOUND_MS, &r)) {
    sm_value *info = NULL;
    char *text = sm_info(local, &info) == 0 ? sm_value_to_text(info) : NULL;
    ck_abort_msg("the waiter never got the lock; the daemon says %s", text ? text : "nothing");
  }
  int64_t t_lock = now_ms() - t_cut;
  ck_assert_msg(r.rc == 0, "waiter: %s: %s", sm_errname(r.rc), r.text);
  fprintf(stderr, "    waiter (ns A): got the lock %.1f s after the cut\n", (double)t_lock / 1e3);

  /* The cut-off holder and the parked getter get a connection error. */
  ck_assert_msg(read_report(&holder, BOUND_MS, &r), "the holder hung after the cut");
  int64_t t_holder = now_ms() - t_cut;
  fprintf(stderr, "    holder (ns B): %s after %.1f s: %s\n", sm_errname(r.rc),
          (double)t_holder / 1e3, r.text);
  ck_assert_msg(r.rc == SM_ECLOSED, "holder: %s: %s", sm_errname(r.rc), r.text);
  ck_assert(strstr(r.text, "tls://" ADDR_A ":" PORT_VETH) != NULL);
  ck_assert_msg(read_report(&sharer, BOUND_MS, &r), "the parked getter hung after the cut");
  int64_t t_sharer = now_ms() - t_cut;
  fprintf(stderr, "    getter (ns B): %s after %.1f s: %s\n", sm_errname(r.rc),
          (double)t_sharer / 1e3, r.text);
  ck_assert_msg(r.rc == SM_ECLOSED, "getter: %s: %s", sm_errname(r.rc), r.text);

  /* The daemon logged why it dropped them, and serves on. */
  ck_assert(log_has(&d, "connection error: Connection timed out"));
  sm_lock *l;
  ck_assert_int_eq(sm_lock_open(local, "netns-lock", &l), 0);
  ck_assert_int_eq(sm_lock_acquire(l, 10000), 0); /* the waiter released it */
  ck_assert_int_eq(sm_lock_release(l), 0);
  sm_lock_free(l);
  sm_client_free(local);

  reap(&holder);
  reap(&sharer);
  reap(&waiter);
  ck_assert_int_eq(smtest_daemon_stop(&d), 0);
  fprintf(stderr, "    netns: set-up %.1f s, cut to recovery %.1f s, total %.1f s\n",
          (double)(t_setup - t_start) / 1e3, (double)(now_ms() - t_cut) / 1e3,
          (double)(now_ms() - t_start) / 1e3);
}
END_TEST

Suite *netns_suite(void) {
  Suite *s = suite_create("netns");
  TCase *tc = tcase_create("two_hosts");
  /* Unchecked: the namespaces are made and deleted by the runner itself,
   * so they go even when a test process dies. */
  tcase_add_unchecked_fixture(tc, fx_setup, fx_teardown);
  tcase_set_timeout(tc, 180);
  tcase_add_test(tc, cut_link_releases_lock);
  suite_add_tcase(s, tc);
  return s;
}
