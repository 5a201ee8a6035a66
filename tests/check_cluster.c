/* SPDX-License-Identifier: MIT */
/* check_cluster.c - a replicated group on etcd (statemgrd --cluster): 3
 * etcd members and 3 statemgrd members on loopback, started by each test
 * and stopped by PID (every process tied to the test with
 * PR_SET_PDEATHSIG).
 *
 * A client appends 1, 2, 3... to a list through the leader, one call at a
 * time; when a call fails (the leader was killed) it finds the new leader
 * by asking each member's info for its role, and settles the one call
 * whose outcome it does not know by reading the list's last item. In the
 * end the list must be exactly 1..N: no acknowledged append lost, none
 * applied twice. Every member's info state_digest (a CRC of its state as a
 * snapshot holds it) must then be the same.
 *
 * The crash test's workload checker (smtest_workload.c: increments,
 * appends, queue puts and gets, compare-and-set, a lock with fencing
 * tokens) runs against the group's URL list while the test SIGKILLs, in
 * turn, the statemgrd leader, an etcd follower, the etcd leader, and both
 * leaders at once, starting each again; then every answer is checked and
 * the members' digests compared (workload_survives_kills: one round of
 * each; SMTEST_LONG=1 adds failover_loop: FAILOVER_CYCLES rounds of each).
 *
 * Without an `etcd` binary on PATH the tests print "SKIP: ..." and return:
 * not a pass, CTest reports the suite skipped (tests/CMakeLists.txt).
 *
 * The test case "etcd" starts one etcd member of its own per test (over
 * TLS with client certificates, or with a small --max-request-bytes) and 1
 * to 3 statemgrd members on it, or a fake etcd (a thread answering every
 * request with one HTTP status): etcd over TLS, the TLS options' checks at
 * start, and the requests etcd refuses for good (4xx), which are not
 * retried.
 *
 * The test case "partition" runs as a CTest test of its own,
 * cluster_netns: as root, it starts member 0 inside a network namespace
 * joined to this one by a veth pair, and cuts the link under it; without
 * root or `ip` it prints "SKIP: ..." (tests/CMakeLists.txt). */
#include "smtest.h"
#include "smtest_workload.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N_ETCD 3
#define N_MEMBERS 3
#define TTL_S 3
#define TTL_ARG "3"

typedef struct etcd_proc {
  pid_t pid;
  int client_port, peer_port;
  char name[16];
  char url[64];
} etcd_proc;

typedef struct group {
  char dir[256];
  const char *netns;              /* member 0's network namespace (partition tests), or NULL */
  const char *host_addr;          /* with netns: this namespace's end of the link to it */
  const char *ns_addr;            /* with netns: member 0's end */
  char ns_etcd_urls[N_ETCD * 64]; /* with netns: etcd's client URLs as member 0 reaches them */
  char ns_local_url[64];          /* with netns: member 0 on its namespace's loopback */
  int keepalive_s;                /* the clients' TCP keepalive (0: the default) */
  etcd_proc e[N_ETCD];
  char etcd_urls[N_ETCD * 64];
  char initial[N_ETCD * 80];
  smtest_daemon m[N_MEMBERS];
  bool up[N_MEMBERS];
  char url[N_MEMBERS][64];
  const char *args[N_MEMBERS][24];
  const char *snapshot_log_size; /* the members' --snapshot-log-size, or NULL */
  const char *etcd_max_request;  /* solo members' --etcd-max-request-bytes, or NULL */
} group;

static const char *etcd_bin(void) {
  static char path[512];
  const char *env = getenv("PATH");
  char dirs[4096];
  snprintf(dirs, sizeof dirs, "%s", env ? env : "/usr/bin:/bin");
  for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
    snprintf(path, sizeof path, "%s/etcd", d);
    if (access(path, X_OK) == 0) return path;
  }
  return NULL;
}

/* Not a pass: CTest marks the suite skipped on this line. */
#define SKIP_WITHOUT_ETCD()                                                                        \
  do {                                                                                             \
    if (!etcd_bin()) {                                                                             \
      printf("SKIP: cluster: no etcd on PATH (install etcd-server: scripts/setup.sh --test)\n");   \
      fflush(stdout);                                                                              \
      return;                                                                                      \
    }                                                                                              \
  } while (0)

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

/* A free loopback TCP port (bound, read, released). */
static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
  socklen_t len = sizeof sin;
  ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
  close(fd);
  return ntohs(sin.sin_port);
}

/* ---- etcd ---- */

static void etcd_spawn(group *g, int i) {
  etcd_proc *e = &g->e[i];
  char data[320], log[320], peer[64];
  snprintf(data, sizeof data, "%s/%s.etcd", g->dir, e->name);
  snprintf(log, sizeof log, "%s/%s.log", g->dir, e->name);
  char client[160];
  /* With a namespace for member 0, etcd also listens on this namespace's
   * end of the link, where member 0 reaches it. */
  if (g->netns)
    snprintf(client, sizeof client, "http://127.0.0.1:%d,http://%s:%d", e->client_port,
             g->host_addr, e->client_port);
  else
    snprintf(client, sizeof client, "http://127.0.0.1:%d", e->client_port);
  snprintf(peer, sizeof peer, "http://127.0.0.1:%d", e->peer_port);
  bool fresh = access(data, F_OK) != 0;
  pid_t parent = getpid();
  pid_t pid = fork();
  ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    execl(etcd_bin(), "etcd", "--name", e->name, "--data-dir", data, "--listen-client-urls", client,
          "--advertise-client-urls", e->url, "--listen-peer-urls", peer,
          "--initial-advertise-peer-urls", peer, "--initial-cluster", g->initial,
          "--initial-cluster-state", fresh ? "new" : "existing", "--initial-cluster-token",
          "smtest", "--log-level", "warn", (char *)NULL);
    _exit(127);
  }
  e->pid = pid;
}

static void etcd_kill(group *g, int i, int sig) {
  if (!g->e[i].pid) return;
  kill(g->e[i].pid, sig);
  waitpid(g->e[i].pid, NULL, 0);
  g->e[i].pid = 0;
}

/* The index of the etcd member that leads etcd now, or -1. */
static int etcd_leader(group *g) {
  char cmd[256], out[2048];
  for (int i = 0; i < N_ETCD; i++) {
    if (!g->e[i].pid) continue;
    snprintf(cmd, sizeof cmd,
             "ETCDCTL_API=3 etcdctl --endpoints=%s --command-timeout=2s endpoint status -w json "
             "2>/dev/null",
             g->e[i].url);
    if (smtest_run(cmd, out, sizeof out) != 0) continue;
    const char *m = strstr(out, "\"member_id\":"), *l = strstr(out, "\"leader\":");
    if (!m || !l) continue;
    unsigned long long mid = strtoull(m + 12, NULL, 10), lid = strtoull(l + 9, NULL, 10);
    if (mid && mid == lid) return i;
  }
  return -1;
}

/* ---- the statemgrd members ---- */

static void member_args(group *g, int i) {
  const char **a = g->args[i];
  int n = 0;
  a[n++] = "--cluster";
  a[n++] = "smtest";
  a[n++] = "--etcd";
  a[n++] = g->netns && i == 0 ? g->ns_etcd_urls : g->etcd_urls;
  a[n++] = "--advertise";
  a[n++] = g->url[i];
  a[n++] = "--listen";
  a[n++] = g->url[i];
  if (g->netns && i == 0) {
    a[n++] = "--listen";
    a[n++] = g->ns_local_url;
  }
  a[n++] = "--cluster-lease-ttl";
  a[n++] = TTL_ARG;
  if (g->snapshot_log_size) {
    a[n++] = "--snapshot-log-size";
    a[n++] = g->snapshot_log_size;
  }
  if (i > 0) { /* one authkey for the group: member 0's */
    a[n++] = "--authkey-file";
    a[n++] = g->m[0].authkey_file;
  }
  a[n] = NULL;
}

static int wait_leader(group *g, int skip, int ms);

/* Starts 3 etcd and 3 statemgrd members. With netns (may be NULL), member
 * 0 runs inside that namespace, listening on ns_addr and reaching etcd at
 * host_addr, and is started first and waited for until it leads, so the
 * leader is the member a test can cut off. */
static void group_start_opts(group *g, const char *netns, const char *host_addr,
                             const char *ns_addr, const char *snapshot_log_size) {
  memset(g, 0, sizeof *g);
  g->snapshot_log_size = snapshot_log_size;
  g->netns = netns;
  g->host_addr = host_addr;
  g->ns_addr = ns_addr;
  snprintf(g->dir, sizeof g->dir, "/tmp/smtest-cluster.XXXXXX");
  ck_assert_msg(mkdtemp(g->dir) != NULL, "mkdtemp: %s", strerror(errno));
  size_t ul = 0, il = 0;
  for (int i = 0; i < N_ETCD; i++) {
    etcd_proc *e = &g->e[i];
    snprintf(e->name, sizeof e->name, "e%d", i);
    e->client_port = free_port();
    e->peer_port = free_port();
    snprintf(e->url, sizeof e->url, "http://127.0.0.1:%d", e->client_port);
    ul +=
        (size_t)snprintf(g->etcd_urls + ul, sizeof g->etcd_urls - ul, "%s%s", i ? "," : "", e->url);
    if (netns) {
      size_t nl = strlen(g->ns_etcd_urls);
      snprintf(g->ns_etcd_urls + nl, sizeof g->ns_etcd_urls - nl, "%shttp://%s:%d", i ? "," : "",
               host_addr, e->client_port);
    }
    il += (size_t)snprintf(g->initial + il, sizeof g->initial - il, "%se%d=http://127.0.0.1:%d",
                           i ? "," : "", i, e->peer_port);
  }
  for (int i = 0; i < N_ETCD; i++)
    etcd_spawn(g, i);
  if (netns) snprintf(g->ns_local_url, sizeof g->ns_local_url, "tcp://127.0.0.1:%d", free_port());
  for (int i = 0; i < N_MEMBERS; i++) {
    snprintf(g->url[i], sizeof g->url[i], "tcp://%s:%d", netns && i == 0 ? ns_addr : "127.0.0.1",
             free_port());
    member_args(g, i);
    smtest_daemon_start_in(&g->m[i], i == 0 ? netns : NULL, g->args[i]);
    g->up[i] = true;
    if (netns && i == 0) ck_assert_int_eq(wait_leader(g, -1, 20000), 0);
  }
}

static void group_start_in(group *g, const char *netns, const char *host_addr,
                           const char *ns_addr) {
  group_start_opts(g, netns, host_addr, ns_addr, NULL);
}

static void group_start(group *g) { group_start_in(g, NULL, NULL, NULL); }

/* Starts the group and waits for its first leader, whose index it
 * returns. */
static int group_up(group *g) {
  group_start(g);
  int leader = wait_leader(g, -1, 20000);
  ck_assert_int_ge(leader, 0);
  return leader;
}

static void group_stop(group *g) {
  for (int i = N_MEMBERS - 1; i >= 0; i--)
    if (g->up[i]) {
      ck_assert_int_eq(smtest_daemon_stop(&g->m[i]), 0); /* member 0 last: its authkey */
      g->up[i] = false;
    }
  for (int i = 0; i < N_ETCD; i++)
    etcd_kill(g, i, SIGTERM);
  char cmd[320];
  snprintf(cmd, sizeof cmd, "rm -rf %s", g->dir);
  ck_assert_int_eq(system(cmd), 0);
}

/* Connects to member i, or returns NULL (down, or refused). */
static sm_client *member_connect(group *g, int i) {
  sm_options *o = sm_options_new();
  ck_assert_ptr_nonnull(o);
  OK(sm_options_set_authkey_file(o, g->m[0].authkey_file));
  OK(sm_options_set_connect_timeout(o, 1000));
  sm_client *c = NULL;
  int rc = sm_connect(g->url[i], o, &c);
  sm_options_free(o);
  return rc == 0 ? c : NULL;
}

/* Connects to the group through the list of all its members' URLs, as a
 * client of a group does: the library finds the leader (following
 * REDIRECT), and after a failover finds the new one, resumes its session
 * there and sends its calls in flight again. NULL when no member takes it
 * within ms. */
static sm_client *group_connect(group *g, int ms) {
  char list[N_MEMBERS * 64 + N_MEMBERS] = "";
  for (int i = 0; i < N_MEMBERS; i++) {
    if (i) strcat(list, ",");
    strcat(list, g->url[i]);
  }
  sm_options *o = sm_options_new();
  ck_assert_ptr_nonnull(o);
  OK(sm_options_set_authkey_file(o, g->m[0].authkey_file));
  OK(sm_options_set_connect_timeout(o, 1000));
  OK(sm_options_set_failover_timeout(o, ms));
  if (g->keepalive_s) OK(sm_options_set_keepalive(o, g->keepalive_s));
  sm_client *c = NULL;
  int rc = sm_connect(list, o, &c);
  sm_options_free(o);
  return rc == 0 ? c : NULL;
}

/* Member i's info field key as a string (into buf), or false. */
static bool member_info(group *g, int i, const char *key, char *buf, size_t len) {
  if (!g->up[i]) return false;
  sm_client *c = member_connect(g, i);
  if (!c) return false;
  sm_value *info = NULL;
  bool ok = false;
  if (sm_info(c, &info) == 0) {
    sm_value *k = sm_value_str(key);
    const sm_value *v = sm_value_map_get(info, k);
    if (v && sm_value_type(v) == SM_STR) {
      snprintf(buf, len, "%s", sm_value_as_str(v, NULL));
      ok = true;
    }
    sm_value_free(k);
  }
  sm_value_free(info);
  sm_client_free(c);
  return ok;
}

/* Member i's info field key as an int, or -1 when it cannot be read. */
static int64_t member_info_int(group *g, int i, const char *key) {
  sm_client *c = g->up[i] ? member_connect(g, i) : NULL;
  if (!c) return -1;
  sm_value *info = NULL;
  int64_t n = -1;
  if (sm_info(c, &info) == 0) {
    sm_value *k = sm_value_str(key);
    const sm_value *v = sm_value_map_get(info, k);
    if (v && sm_value_type(v) == SM_INT) n = sm_value_as_int(v);
    sm_value_free(k);
  }
  sm_value_free(info);
  sm_client_free(c);
  return n;
}

/* Waits up to ms for a member (not skip) whose info says it leads; returns
 * its index, or -1. */
static int wait_leader(group *g, int skip, int ms) {
  int64_t end = now_ms() + ms;
  char role[32];
  do {
    for (int i = 0; i < N_MEMBERS; i++)
      if (i != skip && member_info(g, i, "role", role, sizeof role) && strcmp(role, "leader") == 0)
        return i;
    sleep_ms(50);
  } while (now_ms() < end);
  return -1;
}

/* Waits up to ms until every member up shows the same state digest. */
static void assert_same_state(group *g, int ms) {
  int64_t end = now_ms() + ms;
  char first[32] = "", d[32], all[1200];
  bool same = false;
  while (!same) {
    same = true;
    size_t n = 0;
    first[0] = '\0';
    for (int i = 0; i < N_MEMBERS; i++) {
      if (!g->up[i]) continue;
      if (!member_info(g, i, "state_digest", d, sizeof d)) snprintf(d, sizeof d, "?");
      n += (size_t)snprintf(all + n, sizeof all - n, " %d:%s (%s)", i, d, g->m[i].dir);
      if (!first[0]) snprintf(first, sizeof first, "%s", d);
      same = same && strcmp(first, d) == 0 && strcmp(d, "?") != 0;
    }
    if (!same && now_ms() > end) {
      ck_abort_msg("the members' states differ:%s", all);
    }
    if (!same) sleep_ms(50);
  }
}

/* ---- the workload: appends to a list, exactly once ---- */

typedef struct appender {
  group *g;
  sm_client *c;
  sm_list *l;
  int leader;
  int64_t next;        /* the next number to append */
  int64_t worst_stall; /* the longest time without an answer, in ms */
} appender;

static void appender_close(appender *a) {
  sm_list_free(a->l);
  sm_client_free(a->c);
  a->l = NULL;
  a->c = NULL;
}

/* Connects to the group (waiting up to ms for a leader) and settles the
 * append of a->next whose answer was lost, if one was: the list's last
 * item says whether it was applied. (The library resends a call in flight
 * through a failover by itself; this is for a connection given up.) */
static void appender_reconnect(appender *a, int ms) {
  appender_close(a);
  int64_t end = now_ms() + ms;
  while (!a->c) {
    ck_assert_msg(now_ms() < end, "no member leads after %d ms", ms);
    a->c = group_connect(a->g, (int)(end - now_ms()));
    if (a->c && sm_list_open(a->c, "acked", &a->l) != 0) {
      sm_client_free(a->c); /* it stopped leading meanwhile */
      a->c = NULL;
    }
  }
  a->leader = wait_leader(a->g, -1, 10000);
  size_t len = 0;
  OK(sm_list_len(a->l, &len));
  int64_t last = 0;
  if (len > 0) {
    sm_value *v = NULL;
    OK(sm_list_get(a->l, (int64_t)len - 1, &v));
    last = sm_value_as_int(v);
    sm_value_free(v);
  }
  ck_assert_msg(last == a->next || last == a->next - 1,
                "after failover the list ends in %lld, but %lld were acknowledged", (long long)last,
                (long long)(a->next - 1));
  if (last == a->next) a->next++; /* it had been applied before the failure */
}

/* Appends up to upto, through failovers. */
static void appender_run(appender *a, int64_t upto) {
  int64_t since = now_ms();
  while (a->next <= upto) {
    int rc = a->l ? sm_list_append_int(a->l, a->next) : SM_ECLOSED;
    if (rc == 0) {
      a->next++;
      int64_t t = now_ms();
      if (t - since > a->worst_stall) a->worst_stall = t - since;
      since = t;
      continue;
    }
    appender_reconnect(a, (TTL_S + 10) * 1000);
  }
  a->leader = wait_leader(a->g, -1, 10000); /* whom the library went on with */
}

/* The list holds exactly 1..n. */
static void assert_list_exact(appender *a, int64_t n) {
  sm_value *all = NULL;
  OK(sm_list_slice(a->l, 0, INT64_MAX, &all));
  ck_assert_uint_eq(sm_value_len(all), (size_t)n);
  for (size_t i = 0; i < sm_value_len(all); i++)
    ck_assert_msg(sm_value_as_int(sm_value_list_at(all, i)) == (int64_t)i + 1,
                  "item %zu is %lld, not %zu", i,
                  (long long)sm_value_as_int(sm_value_list_at(all, i)), i + 1);
  sm_value_free(all);
}

/* ---- tests ---- */

/* The leader's changes reach every member: after a mix of calls through
 * the leader, the followers hold the same state (digest); a change too
 * large for one append is refused (TOO_LARGE) before it runs; a follower
 * answers a call with REDIRECT naming the leader's URL. */
START_TEST(followers_hold_the_leaders_state) {
  SKIP_WITHOUT_ETCD();
  group g;
  int leader = group_up(&g);
  sm_client *c = member_connect(&g, leader);
  ck_assert_ptr_nonnull(c);
  sm_dict *d;
  sm_var *v;
  OK(sm_dict_open(c, "config", &d));
  OK(sm_var_open(c, "hits", NULL, &v));
  for (int i = 0; i < 50; i++) {
    char key[16];
    snprintf(key, sizeof key, "k%d", i);
    OK(sm_dict_set_int(d, key, i));
    int64_t r;
    OK(sm_var_add_int(v, 2, &r));
    ck_assert_int_eq(r, 2 * (i + 1));
  }
  assert_same_state(&g, 5000);

  /* A change too large for one append to etcd is refused before it runs. */
  size_t big_len = (size_t)2 * 1024 * 1024;
  char *big = malloc(big_len + 1);
  ck_assert_ptr_nonnull(big);
  memset(big, 'x', big_len);
  big[big_len] = '\0';
  sm_value *bk = sm_value_str("big"), *bv = sm_value_str(big);
  int brc = sm_dict_set(d, bk, bv);
  ck_assert_msg(brc == SM_ETOOLARGE, "a 2 MiB change: %s (%s)", sm_errname(brc), sm_last_error());
  sm_value_free(bk);
  sm_value_free(bv);
  free(big);
  OK(sm_dict_set_int(d, "after", 1)); /* the group goes on */

  int follower = (leader + 1) % N_MEMBERS;
  sm_client *f = member_connect(&g, follower);
  ck_assert_ptr_nonnull(f);
  sm_dict *fd = NULL;
  /* The follower answers REDIRECT naming the leader, and the library
   * goes there: the proxy is the leader's object. */
  OK(sm_dict_open(f, "config", &fd));
  ck_assert_msg(strstr(sm_last_error(), g.url[leader]) != NULL, "REDIRECT without the leader: %s",
                sm_last_error());
  int64_t k7 = -1;
  OK(sm_dict_get_int(fd, "k7", &k7));
  ck_assert_int_eq(k7, 7);
  sm_dict_free(fd);
  char leader_url[64];
  ck_assert(member_info(&g, follower, "leader", leader_url, sizeof leader_url));
  ck_assert_str_eq(leader_url, g.url[leader]);
  sm_client_free(f);
  sm_var_free(v);
  sm_dict_free(d);
  sm_client_free(c);
  group_stop(&g);
}
END_TEST

/* Anonymous objects that only hold each other are freed by the leader's
 * cycle collector, a decision it logs: the followers free them when they
 * apply it, never by a collector of their own (which would free them
 * first, and then find the leader's command naming objects gone). */
START_TEST(cycles_are_collected_by_the_leader_only) {
  SKIP_WITHOUT_ETCD();
  group g;
  int leader = group_up(&g);
  sm_client *c = member_connect(&g, leader);
  ck_assert_ptr_nonnull(c);
  int64_t base = member_info_int(&g, leader, "objects");
  for (int i = 0; i < 5; i++) {
    sm_dict *d;
    OK(sm_dict_open(c, NULL, &d));
    sm_value *k = sm_value_str("me"), *r = sm_proxy_ref(sm_dict_proxy(d));
    OK(sm_dict_set(d, k, r));
    sm_value_free(k);
    sm_value_free(r);
    sm_dict_free(d);
  }
  /* The releases are answered (a call after them on the same connection
   * is); the leader's collector runs CYC_DELAY_MS later: stopped for a
   * while (well inside its lease), it lets a follower's collector, were
   * one running, come first. */
  sm_value *info = NULL;
  OK(sm_info(c, &info));
  sm_value_free(info);
  kill(g.m[leader].pid, SIGSTOP);
  sleep_ms(400);
  kill(g.m[leader].pid, SIGCONT);
  int64_t end = now_ms() + 5000;
  while (member_info_int(&g, leader, "objects") != base && now_ms() < end)
    sleep_ms(20);
  ck_assert_int_eq(member_info_int(&g, leader, "objects"), base);
  assert_same_state(&g, 5000);
  for (int i = 0; i < N_MEMBERS; i++) {
    char role[32] = "";
    ck_assert_msg(member_info(&g, i, "role", role, sizeof role), "member %d does not answer", i);
    ck_assert_msg(strcmp(role, i == leader ? "leader" : "follower") == 0, "member %d is %s", i,
                  role);
    ck_assert_int_eq(member_info_int(&g, i, "objects"), base);
    if (i == leader)
      ck_assert_int_ge(member_info_int(&g, i, "gc_collections"), 1);
    else
      ck_assert_int_eq(member_info_int(&g, i, "gc_collections"), 0);
  }
  sm_client_free(c);
  group_stop(&g);
}
END_TEST

/* Expiry is a decision too: the leader's expiry cycle removes keys whose
 * TTL passed and logs it; followers remove them when they apply that, and
 * run no expiry cycle of their own (one would remove them first, and the
 * member would find its state changed while it follows). The leader is
 * stopped past the keys' deadlines (inside its lease), so a follower's
 * cycle, were one running, would come first. */
START_TEST(expiry_is_the_leaders) {
  SKIP_WITHOUT_ETCD();
  group g;
  int leader = group_up(&g);
  sm_client *c = member_connect(&g, leader);
  ck_assert_ptr_nonnull(c);
  sm_dict *d;
  OK(sm_dict_open(c, "sessions", &d));
  for (int i = 0; i < 5; i++) {
    char key[16];
    snprintf(key, sizeof key, "s%d", i);
    sm_value *k = sm_value_str(key), *v = sm_value_int(i);
    OK(sm_dict_set_ex(d, k, v, 200));
    sm_value_free(k);
    sm_value_free(v);
  }
  sm_value *info = NULL;
  OK(sm_info(c, &info)); /* the sets are answered: the followers have them */
  sm_value_free(info);
  kill(g.m[leader].pid, SIGSTOP);
  sleep_ms(600);
  kill(g.m[leader].pid, SIGCONT);
  int64_t end = now_ms() + 5000;
  while (member_info_int(&g, leader, "expired_keys") != 5 && now_ms() < end)
    sleep_ms(20);
  ck_assert_int_eq(member_info_int(&g, leader, "expired_keys"), 5);
  size_t len = 99;
  OK(sm_dict_len(d, &len));
  ck_assert_uint_eq(len, 0);
  assert_same_state(&g, 5000);
  for (int i = 0; i < N_MEMBERS; i++)
    if (i != leader) {
      ck_assert_int_eq(member_info_int(&g, i, "expired_keys"), 0);
      ck_assert_msg(!smtest_daemon_log_has(&g.m[i], "its state changed while it did not lead", 0),
                    "follower %d expired keys by itself and started again", i);
    }
  sm_dict_free(d);
  sm_client_free(c);
  group_stop(&g);
}
END_TEST

/* The statemgrd leader is killed (SIGKILL) while a client appends: another
 * member leads within the lease's TTL plus a margin, and the list holds
 * every acknowledged append exactly once. Then an etcd member is killed
 * and the appends go on; the killed statemgrd member comes back and
 * catches up from the log to the same state. */
START_TEST(leader_killed_loses_nothing) {
  SKIP_WITHOUT_ETCD();
  group g;
  group_start(&g);
  appender a = {.g = &g, .next = 1, .leader = -1};
  appender_reconnect(&a, 20000);
  appender_run(&a, 100);

  int old = a.leader;
  ck_assert_int_eq(smtest_daemon_kill(&g.m[old], SIGKILL), -1);
  g.up[old] = false;
  int64_t t0 = now_ms();
  a.worst_stall = 0;
  appender_run(&a, 200);
  int64_t took = now_ms() - t0;
  ck_assert_int_ne(a.leader, old);
  printf("cluster: statemgrd leader SIGKILL: clients stalled %lld ms (lease TTL %d s)\n",
         (long long)a.worst_stall, TTL_S);
  /* The lease's TTL, the follower's campaign and its catch-up, plus room
   * for a loaded 2-core machine. */
  ck_assert_msg(a.worst_stall <= TTL_S * 1000 + 2000, "clients stalled %lld ms",
                (long long)a.worst_stall);
  (void)took;
  assert_list_exact(&a, 200);

  etcd_kill(&g, 0, SIGKILL);
  appender_run(&a, 300);
  assert_list_exact(&a, 300);

  smtest_daemon_restart_args(&g.m[old], g.args[old]);
  g.up[old] = true;
  assert_same_state(&g, 10000);
  appender_close(&a);
  group_stop(&g);
}
END_TEST

/* The etcd member the leader talks to stalls (SIGSTOP) while a client
 * appends: the leader's requests there time out and go to another member;
 * its lease, kept alive by the etcd quorum (which elects a leader of its
 * own if the stalled member led it), is renewed there, so it leads on (its
 * answers waited meanwhile if the renewal came late), and the appends go
 * on through it with nothing lost or doubled. */
START_TEST(stalled_etcd_member_is_left) {
  SKIP_WITHOUT_ETCD();
  group g;
  group_start(&g);
  appender a = {.g = &g, .next = 1, .leader = -1};
  appender_reconnect(&a, 20000);
  appender_run(&a, 50);
  int leader = a.leader;
  char url[64] = "";
  ck_assert(member_info(&g, leader, "etcd", url, sizeof url));
  int stalled = -1;
  for (int i = 0; i < N_ETCD; i++)
    if (strcmp(g.e[i].url, url) == 0) stalled = i;
  ck_assert_int_ge(stalled, 0);
  kill(g.e[stalled].pid, SIGSTOP);
  a.worst_stall = 0;
  appender_run(&a, 100);
  /* Killed, not continued: an etcd leader that wakes up from a stop
   * revokes the leases it thinks expired (etcd 3.4), ours among them. */
  etcd_kill(&g, stalled, SIGKILL);
  printf("cluster: the leader's etcd member stalled: clients stalled %lld ms\n",
         (long long)a.worst_stall);
  ck_assert_int_eq(a.leader, leader);
  ck_assert(!smtest_daemon_log_has(&g.m[leader], "stops leading", 0));
  ck_assert(member_info(&g, leader, "etcd", url, sizeof url));
  ck_assert_str_ne(url, g.e[stalled].url);
  assert_list_exact(&a, 100);
  assert_same_state(&g, 10000);
  appender_close(&a);
  group_stop(&g);
}
END_TEST

/* A leader that cannot renew its lease (stopped with SIGSTOP past the
 * TTL) is replaced; when it runs again it answers nothing from its old
 * state, steps down and starts again from the log, and then holds what
 * the new leader did meanwhile. */
START_TEST(deposed_leader_starts_again) {
  SKIP_WITHOUT_ETCD();
  group g;
  group_start(&g);
  appender a = {.g = &g, .next = 1, .leader = -1};
  appender_reconnect(&a, 20000);
  appender_run(&a, 20);
  int old = a.leader;
  appender_close(&a);
  kill(g.m[old].pid, SIGSTOP);
  int leader = wait_leader(&g, old, (TTL_S + 8) * 1000);
  ck_assert_int_ge(leader, 0);
  appender_reconnect(&a, 5000);
  appender_run(&a, 40);
  kill(g.m[old].pid, SIGCONT);
  ck_assert(smtest_daemon_log_has(&g.m[old], "stops leading", 10000));
  ck_assert(smtest_daemon_log_has(&g.m[old], "starting again from the group's log", 10000));
  char role[32] = "";
  int64_t end = now_ms() + 10000;
  while (!(member_info(&g, old, "role", role, sizeof role) && strcmp(role, "follower") == 0) &&
         now_ms() < end)
    sleep_ms(50);
  ck_assert_str_eq(role, "follower");
  assert_same_state(&g, 5000);
  assert_list_exact(&a, 40);
  appender_close(&a);
  group_stop(&g);
}
END_TEST

/* ---- the group's snapshots in etcd ---- */

/* The number of keys in [from, to) of the group's keys ("log/"; to NULL:
 * every key starting with from), through etcdctl (its JSON omits a count
 * of 0). */
static long etcd_count_range(group *g, const char *from, const char *to) {
  char cmd[800], out[8192];
  snprintf(cmd, sizeof cmd,
           "ETCDCTL_API=3 etcdctl --endpoints=%s --command-timeout=5s get %s/statemgr/smtest/%s "
           "%s%s --keys-only -w json 2>/dev/null",
           g->etcd_urls, to ? "" : "--prefix ", from, to ? "/statemgr/smtest/" : "", to ? to : "");
  ck_assert_int_eq(smtest_run(cmd, out, sizeof out), 0);
  const char *c = strstr(out, "\"count\":");
  return c ? strtol(c + 8, NULL, 10) : 0;
}

static long etcd_count(group *g, const char *prefix) { return etcd_count_range(g, prefix, NULL); }

/* The integer field of the group's key (its JSON from etcdctl, or its
 * value when that is JSON), 0 when the key or the field is absent. */
static long etcd_json_int(group *g, const char *key, const char *field) {
  char cmd[700], out[8192], name[80];
  snprintf(cmd, sizeof cmd,
           "ETCDCTL_API=3 etcdctl --endpoints=%s --command-timeout=5s get /statemgr/smtest/%s "
           "%s 2>/dev/null",
           g->etcd_urls, key,
           strcmp(field, "create_revision") == 0 ? "-w json" : "--print-value-only");
  if (smtest_run(cmd, out, sizeof out) != 0) return 0;
  snprintf(name, sizeof name, "\"%s\"", field);
  const char *f = strstr(out, name);
  const char *colon = f ? strchr(f, ':') : NULL;
  return colon ? strtol(colon + 1, NULL, 10) : 0;
}

/* True when etcd no longer keeps its history at revision rev. */
static bool etcd_compacted_at(group *g, long rev) {
  char cmd[700], out[4096];
  snprintf(
      cmd, sizeof cmd,
      "ETCDCTL_API=3 etcdctl --endpoints=%s --command-timeout=5s get /statemgr/smtest/instance "
      "--rev=%ld 2>&1",
      g->etcd_urls, rev);
  smtest_run(cmd, out, sizeof out);
  return strstr(out, "compacted") != NULL;
}

/* Sets n keys from first of d to values of size bytes. */
static void fill_dict(sm_dict *d, int first, int n, size_t size) {
  char *text = malloc(size + 1);
  ck_assert_ptr_nonnull(text);
  for (int i = first; i < first + n; i++) {
    memset(text, 'a' + i % 26, size);
    text[size] = '\0';
    char key[16];
    snprintf(key, sizeof key, "k%d", i);
    sm_value *k = sm_value_str(key), *v = sm_value_str(text);
    OK(sm_dict_set(d, k, v));
    sm_value_free(k);
    sm_value_free(v);
  }
  free(text);
}

/* Starts member i again after smtest_daemon_kill, on a new port: its old
 * one may have been taken meanwhile (by any outgoing connection). */
static void member_restart(group *g, int i) {
  snprintf(g->url[i], sizeof g->url[i], "tcp://127.0.0.1:%d", free_port());
  member_args(g, i);
  smtest_daemon_restart_args(&g->m[i], g->args[i]);
  g->up[i] = true;
}

/* Waits up to ms until member i knows a snapshot of the group holding
 * batches past after; returns its seq (0: none came). */
static int64_t wait_group_snapshot(group *g, int i, int64_t after, int ms) {
  int64_t end = now_ms() + ms, seq = 0;
  while ((seq = member_info_int(g, i, "group_snapshot_seq")) <= after && now_ms() < end)
    sleep_ms(50);
  return seq > after ? seq : 0;
}

/* Waits (up to 10 s) until leader runs no snapshot; returns the group's
 * last snapshot it knows then. */
static int64_t settled_group_snapshot(group *g, int leader) {
  int64_t end = now_ms() + 10000;
  while (member_info_int(g, leader, "snapshot_running") != 0 && now_ms() < end)
    sleep_ms(20);
  return member_info_int(g, leader, "group_snapshot_seq");
}

/* Every member comes to know the group's snapshot of batch seq (or a
 * later one) within 5 s. */
static void assert_all_know_snapshot(group *g, int64_t seq) {
  for (int i = 0; i < N_MEMBERS; i++)
    ck_assert_msg(wait_group_snapshot(g, i, seq - 1, 5000) >= seq,
                  "member %d does not know the snapshot of batch %lld", i, (long long)seq);
}

/* Starts a group that snapshots each snap_size of log, connected to its
 * leader (returned) with its dict "big" open. */
static int start_snapshotting(group *g, const char *snap_size, sm_client **c, sm_dict **d) {
  group_start_opts(g, NULL, NULL, NULL, snap_size);
  int leader = wait_leader(g, -1, 20000);
  ck_assert_int_ge(leader, 0);
  *c = member_connect(g, leader);
  ck_assert_ptr_nonnull(*c);
  OK(sm_dict_open(*c, "big", d));
  return leader;
}

/* Past --snapshot-log-size of log, the leader publishes a snapshot: the
 * log keys it covers are gone from etcd (but the last one, which the next
 * append's guard names), its chunks are there, etcd's history before it
 * is compacted, and every member still holds the same state and knows the
 * snapshot. */
START_TEST(snapshot_trims_the_log) {
  SKIP_WITHOUT_ETCD();
  group g;
  sm_client *c;
  sm_dict *d;
  int leader = start_snapshotting(&g, "64K", &c, &d);
  fill_dict(d, 0, 48, 4096);
  int64_t seq = wait_group_snapshot(&g, leader, 1, 10000);
  ck_assert_msg(seq > 1, "no snapshot of the group after 192 KiB of log");
  seq = settled_group_snapshot(&g, leader); /* nothing moves under the checks */
  char covered[64];
  snprintf(covered, sizeof covered, "log/%020lld", (long long)seq);
  long before = etcd_count_range(&g, "log/", covered);
  ck_assert_msg(before == 0, "%ld log keys before batch %lld are left in etcd", before,
                (long long)seq);
  ck_assert_int_eq(etcd_count(&g, covered), 1); /* the next append's guard names it */
  ck_assert_int_ge(etcd_count(&g, "snap/"), 1);
  ck_assert_int_eq(etcd_count(&g, "snapshot"), 1);
  ck_assert_msg(etcd_compacted_at(&g, 2), "etcd's history was not compacted");
  fill_dict(d, 48, 2, 16); /* appends go on after the trim */
  assert_same_state(&g, 5000);
  assert_all_know_snapshot(&g, seq);
  size_t len = 0;
  OK(sm_dict_len(d, &len));
  ck_assert_uint_eq(len, 50);
  sm_dict_free(d);
  sm_client_free(c);
  group_stop(&g);
}
END_TEST

/* A member that takes over counts its next snapshot from the log already
 * in etcd after the group's last snapshot (the batches it applied), not
 * from zero: with a first snapshot published, most of a threshold shipped
 * by one leader and the rest by the next one after a failover, the next
 * snapshot comes, where the new leader used to wait for a whole threshold
 * of its own (the log in etcd growing well past it with each failover). */
START_TEST(new_leader_counts_the_log_since_the_snapshot) {
  SKIP_WITHOUT_ETCD();
  group g;
  sm_client *c;
  sm_dict *d;
  int leader = start_snapshotting(&g, "256K", &c, &d);
  /* 300 KiB: one snapshot, taken once 256 KiB were shipped. */
  fill_dict(d, 0, 75, 4096);
  int64_t first = wait_group_snapshot(&g, leader, 0, 10000);
  ck_assert_msg(first > 0, "no snapshot of the group after 300 KiB of log");
  first = settled_group_snapshot(&g, leader);
  assert_all_know_snapshot(&g, first);
  /* 140 KiB more: with the 44 KiB or more shipped after the snapshot's
   * batch, under the threshold still. */
  fill_dict(d, 75, 35, 4096);
  sm_dict_free(d);
  sm_client_free(c);
  ck_assert_int_eq(member_info_int(&g, leader, "group_snapshot_seq"), first);
  ck_assert_int_eq(member_info_int(&g, leader, "snapshot_running"), 0);
  assert_same_state(&g, 10000);                                   /* the followers applied it all */
  ck_assert_int_eq(smtest_daemon_kill(&g.m[leader], SIGTERM), 0); /* gives its lease back */
  g.up[leader] = false;
  int next = wait_leader(&g, leader, 20000);
  ck_assert_int_ge(next, 0);
  c = member_connect(&g, next);
  ck_assert_ptr_nonnull(c);
  OK(sm_dict_open(c, "big", &d));
  /* 100 KiB on the new leader: past the threshold with what is in etcd
   * since the snapshot, far from a whole threshold of its own. */
  fill_dict(d, 110, 25, 4096);
  int64_t second = wait_group_snapshot(&g, next, first, 10000);
  ck_assert_msg(second > first,
                "no snapshot after 284 KiB of log since the last one (100 KiB of them "
                "shipped by the new leader): see %s",
                g.m[next].log_file);
  sm_dict_free(d);
  sm_client_free(c);
  member_restart(&g, leader); /* it loads that snapshot */
  assert_same_state(&g, 20000);
  group_stop(&g);
}
END_TEST

/* A member started after the log it missed was compacted away loads the
 * group's snapshot, follows the log from it, holds the same state, and
 * serves once it is the only member left. */
START_TEST(restarted_member_loads_the_snapshot) {
  SKIP_WITHOUT_ETCD();
  group g;
  group_start_opts(&g, NULL, NULL, NULL, "64K");
  int leader = wait_leader(&g, -1, 20000);
  ck_assert_int_ge(leader, 0);
  int late = (leader + 1) % N_MEMBERS, other = (leader + 2) % N_MEMBERS;
  sm_client *c = member_connect(&g, leader);
  ck_assert_ptr_nonnull(c);
  sm_dict *d;
  OK(sm_dict_open(c, "big", &d));
  fill_dict(d, 0, 4, 16);
  smtest_daemon_kill(&g.m[late], SIGKILL);
  g.up[late] = false;
  fill_dict(d, 4, 48, 4096);
  int64_t seq = wait_group_snapshot(&g, leader, 1, 10000);
  ck_assert_msg(seq > 1, "no snapshot of the group after 192 KiB of log");
  ck_assert_msg(etcd_compacted_at(&g, 2), "etcd's history was not compacted");
  fill_dict(d, 52, 3, 16);
  member_restart(&g, late);
  ck_assert(smtest_daemon_log_has(&g.m[late], "loaded the group's snapshot", 10000));
  assert_same_state(&g, 10000);
  sm_dict_free(d);
  sm_client_free(c);

  /* The others go: the late member takes over with the whole state. */
  smtest_daemon_kill(&g.m[other], SIGKILL);
  g.up[other] = false;
  smtest_daemon_kill(&g.m[leader], SIGKILL);
  g.up[leader] = false;
  ck_assert_int_eq(wait_leader(&g, -1, (TTL_S + 8) * 1000), late);
  c = member_connect(&g, late);
  ck_assert_ptr_nonnull(c);
  OK(sm_dict_open(c, "big", &d));
  size_t len = 0;
  OK(sm_dict_len(d, &len));
  ck_assert_uint_eq(len, 55);
  fill_dict(d, 55, 1, 16);
  char *text = NULL;
  OK(sm_dict_get_str(d, "k30", &text));
  ck_assert_uint_eq(strlen(text), 4096);
  sm_free(text);
  sm_dict_free(d);
  sm_client_free(c);
  member_restart(&g, leader);
  member_restart(&g, other);
  assert_same_state(&g, 10000);
  group_stop(&g);
}
END_TEST

/* A client holding a lock whose leader is SIGKILLed goes on at the new
 * leader on the same session, though the members its library tries first
 * are followers (the lease has not run out yet): a follower asked to
 * resume a session answers REDIRECT in the handshake rather than a new
 * session, so the call in flight waits for the new leader; the lock is
 * still its holder's (a write guarded by its token is applied, the
 * release answered OK) and the write is applied once. */
START_TEST(session_resumes_past_followers) {
  SKIP_WITHOUT_ETCD();
  group g;
  int leader = group_up(&g);
  sm_client *c = group_connect(&g, 30000);
  ck_assert_ptr_nonnull(c);
  sm_lock *lk;
  sm_var *v;
  OK(sm_lock_open(c, "lk", &lk));
  OK(sm_var_open(c, "v", NULL, &v));
  uint64_t token = 0;
  OK(sm_lock_acquire_token(lk, 1000, &token));
  OK(sm_proxy_set_guard(sm_var_proxy(v), sm_lock_proxy(lk), token));
  int64_t n = 0;
  OK(sm_var_add_int(v, 1, &n));
  ck_assert_int_eq(smtest_daemon_kill(&g.m[leader], SIGKILL), -1);
  g.up[leader] = false;
  OK(sm_var_add_int(v, 1, &n)); /* sent to the dead leader, then on */
  ck_assert_int_eq(n, 2);
  OK(sm_lock_release(lk));
  FAILS(sm_var_add_int(v, 1, &n), SM_EFENCED); /* its grant is over */
  OK(sm_proxy_set_guard(sm_var_proxy(v), NULL, 0));
  OK(sm_var_get_int(v, &n));
  ck_assert_int_eq(n, 2);
  sm_var_free(v);
  sm_lock_free(lk);
  sm_client_free(c);
  group_stop(&g);
}
END_TEST

typedef struct save_call {
  group *g;
  int member;
  int rc;
} save_call;

static void *save_thread(void *arg) {
  save_call *s = arg;
  sm_client *c = member_connect(s->g, s->member);
  s->rc = c ? sm_save(c, NULL) : SM_ECLOSED;
  sm_client_free(c);
  return NULL;
}

/* A leader deposed while it stores a snapshot (stopped with SIGSTOP
 * between its first chunk and its manifest) publishes nothing: its puts
 * are guarded by its leadership, and its `save` fails; it starts again
 * and the group holds one state. */
START_TEST(deposed_leaders_snapshot_is_not_published) {
  SKIP_WITHOUT_ETCD();
  group g;
  int leader = group_up(&g);
  sm_client *c = member_connect(&g, leader);
  ck_assert_ptr_nonnull(c);
  sm_dict *d;
  OK(sm_dict_open(c, "big", &d));
  fill_dict(d, 0, 24, (size_t)512 * 1024); /* 12 MiB: 18 chunks */
  sm_dict_free(d);
  sm_client_free(c);
  /* `save` from a thread; stop the leader once it stores chunks. */
  save_call sc = {&g, leader, -1};
  pthread_t t;
  ck_assert_int_eq(pthread_create(&t, NULL, save_thread, &sc), 0);
  int64_t end = now_ms() + 10000;
  while (etcd_count(&g, "snap/") == 0 && now_ms() < end)
    ;
  long old_rev = etcd_json_int(&g, "leader", "create_revision");
  kill(g.m[leader].pid, SIGSTOP);
  ck_assert_int_gt(old_rev, 0);
  ck_assert_msg(etcd_count(&g, "snap/") > 0, "the leader stored no snapshot chunk");
  ck_assert_msg(etcd_count(&g, "snapshot") == 0,
                "the snapshot was published before the leader could be stopped");
  int next = wait_leader(&g, leader, (TTL_S + 8) * 1000);
  ck_assert_int_ge(next, 0);
  kill(g.m[leader].pid, SIGCONT);
  pthread_join(t, NULL);
  ck_assert(smtest_daemon_log_has(&g.m[leader], "is not published", 10000));
  /* The client may have sent its `save` again to the new leader (the
   * library follows a failover): then the snapshot published is that
   * leader's, never the deposed one's. */
  long published = etcd_json_int(&g, "snapshot", "leader_revision");
  if (sc.rc == 0)
    ck_assert_msg(published != 0 && published != old_rev,
                  "the snapshot published is the deposed leader's (leader revision %ld)",
                  published);
  else
    ck_assert_int_eq(published, 0);
  assert_same_state(&g, 15000);
  group_stop(&g);
}
END_TEST

/* A follower stopped, whose etcd member goes, while the log it misses is
 * written, snapshotted (`save`) and compacted away, watches again from
 * where it was when it goes on: etcd answers that this history is
 * compacted, so it starts again, loads the snapshot, and holds the group's
 * state. */
START_TEST(follower_behind_compaction_starts_again) {
  SKIP_WITHOUT_ETCD();
  group g;
  int leader = group_up(&g);
  int late = (leader + 1) % N_MEMBERS;
  char url[64];
  ck_assert(member_info(&g, late, "etcd", url, sizeof url));
  int gone = -1;
  for (int i = 0; i < N_ETCD; i++)
    if (strcmp(g.e[i].url, url) == 0) gone = i;
  ck_assert_int_ge(gone, 0);
  sm_client *c = member_connect(&g, leader);
  ck_assert_ptr_nonnull(c);
  sm_dict *d;
  OK(sm_dict_open(c, "big", &d));
  fill_dict(d, 0, 2, 16);
  assert_same_state(&g, 10000); /* it follows the log (it did not start from the snapshot) */
  kill(g.m[late].pid, SIGSTOP);
  /* Its watch ends, with nothing of what follows on its way to it. */
  etcd_kill(&g, gone, SIGKILL);
  fill_dict(d, 2, 40, 4096);
  uint64_t index = 0;
  OK(sm_save(c, &index));
  ck_assert_uint_gt(index, 0);
  ck_assert_msg(etcd_compacted_at(&g, 2), "etcd's history was not compacted");
  kill(g.m[late].pid, SIGCONT);
  ck_assert(smtest_daemon_log_has(&g.m[late], "catches up from the group's snapshot", 15000));
  ck_assert(smtest_daemon_log_has(&g.m[late], "loaded the group's snapshot", 15000));
  fill_dict(d, 42, 2, 16);
  assert_same_state(&g, 15000);
  sm_dict_free(d);
  sm_client_free(c);
  group_stop(&g);
}
END_TEST

/* A new client that comes while the group elects a leader (the old one
 * SIGKILLed, its lease not run out) finds only followers, which accept the
 * connection and answer its calls REDIRECT: the library keeps looking, up
 * to its failover timeout, and the calls go to the new leader once one is
 * elected (README: a new connection that finds no leader waits as long). */
START_TEST(new_client_waits_for_the_election) {
  SKIP_WITHOUT_ETCD();
  group g;
  int leader = group_up(&g);
  ck_assert_int_eq(smtest_daemon_kill(&g.m[leader], SIGKILL), -1);
  g.up[leader] = false;
  sm_client *c = group_connect(&g, 30000);
  ck_assert_ptr_nonnull(c);
  sm_dict *d;
  OK(sm_dict_open(c, "config", &d));
  OK(sm_dict_set_int(d, "k", 1));
  int64_t k = 0;
  OK(sm_dict_get_int(d, "k", &k));
  ck_assert_int_eq(k, 1);
  ck_assert_int_ge(wait_leader(&g, leader, 1000), 0);
  sm_dict_free(d);
  sm_client_free(c);
  group_stop(&g);
}
END_TEST

/* Makes dir (a member's snapshot directory as cluster_snap.c names it)
 * holding one file. */
static void make_snap_dir(const char *dir) {
  ck_assert_int_eq(mkdir(dir, 0700), 0);
  char file[600];
  snprintf(file, sizeof file, "%s/load.snap", dir);
  FILE *f = fopen(file, "w");
  ck_assert_ptr_nonnull(f);
  fputs("a snapshot cut short", f);
  fclose(f);
}

/* A member killed in the middle of a snapshot or a load leaves its
 * temporary directory behind: a member starting removes those whose
 * process is gone, and keeps those of processes that run. */
START_TEST(killed_members_snapshot_dirs_are_removed) {
  SKIP_WITHOUT_ETCD();
  const char *tmp = getenv("TMPDIR");
  pid_t dead = fork();
  ck_assert_int_ge(dead, 0);
  if (dead == 0) _exit(0);
  ck_assert_int_eq(waitpid(dead, NULL, 0), dead);
  char stale[512], live[512];
  snprintf(stale, sizeof stale, "%s/statemgrd-snap-%ld-smtest", tmp && tmp[0] ? tmp : "/tmp",
           (long)dead);
  snprintf(live, sizeof live, "%s/statemgrd-snap-%ld-smtest", tmp && tmp[0] ? tmp : "/tmp",
           (long)getpid());
  make_snap_dir(stale);
  make_snap_dir(live);
  group g;
  group_start(&g);
  ck_assert_int_ge(wait_leader(&g, -1, 20000), 0);
  struct stat st;
  ck_assert_msg(stat(stale, &st) != 0 && errno == ENOENT, "%s is still there", stale);
  ck_assert_msg(stat(live, &st) == 0, "%s of a running process was removed", live);
  char file[600];
  snprintf(file, sizeof file, "%s/load.snap", live);
  unlink(file);
  rmdir(live);
  group_stop(&g);
}
END_TEST

/* ---- the workload checker under kills (smtest_workload.c) ---- */

#define KILL_KINDS 4
static const char *const kill_kind_names[KILL_KINDS] = {"the statemgrd leader", "an etcd follower",
                                                        "the etcd leader",
                                                        "the statemgrd leader and the etcd leader"};

/* What a restart of the workload means for a group: round r SIGKILLs, in
 * turn, the statemgrd leader, an etcd member that does not lead etcd, the
 * etcd leader, and the statemgrd and etcd leaders at once; the workload
 * runs on until a member leads again (after the etcd kills, one second
 * more), then whatever was killed is started again. */
typedef struct group_killer {
  group *g;
  int64_t worst_election; /* ms from a kill until a member leads */
} group_killer;

static void group_kill_round(void *arg, int round) {
  group_killer *k = arg;
  group *g = k->g;
  int kind = round % KILL_KINDS;
  int leader = wait_leader(g, -1, (TTL_S + 10) * 1000);
  ck_assert_msg(leader >= 0, "round %d: no member leads", round);
  int victim = kind == 0 || kind == 3 ? leader : -1, ev = -1;
  if (kind != 0) {
    int64_t end = now_ms() + 10000;
    int el;
    while ((el = etcd_leader(g)) < 0 && now_ms() < end)
      sleep_ms(100);
    ck_assert_msg(el >= 0, "round %d: etcd has no leader", round);
    ev = kind == 1 ? (el + 1) % N_ETCD : el;
  }
  if (victim >= 0) {
    ck_assert_int_eq(smtest_daemon_kill(&g->m[victim], SIGKILL), -1);
    g->up[victim] = false;
  }
  if (ev >= 0) etcd_kill(g, ev, SIGKILL);
  int64_t t0 = now_ms();
  int now = wait_leader(g, victim, (TTL_S + 15) * 1000);
  int64_t took = now_ms() - t0;
  ck_assert_msg(now >= 0, "round %d (%s): no member leads %lld ms after", round,
                kill_kind_names[kind], (long long)took);
  if (took > k->worst_election) k->worst_election = took;
  if (victim < 0) sleep_ms(1000);
  if (victim >= 0) {
    smtest_daemon_restart_args(&g->m[victim], g->args[victim]);
    g->up[victim] = true;
  }
  if (ev >= 0) etcd_spawn(g, ev);
  printf("cluster: round %d: killed %s (statemgrd %d, etcd %d): member %d leads after %lld ms\n",
         round, kill_kind_names[kind], victim, ev, now, (long long)took);
  fflush(stdout);
}

/* The workload of the crash test (increments, appends, queue puts and
 * gets, compare-and-set, a lock with fencing) runs against the group's
 * URL list while cycles rounds of kills (group_kill_round) hit it; then,
 * with nothing in flight, the statemgrd leader is killed once more and
 * the checks run on the new leader: no answered call lost or applied
 * twice, no queue item lost or got twice, mutual exclusion held with
 * growing tokens, and every member holds the same state. */
static void workload_under_kills(int cycles) {
  group g;
  group_start(&g);
  ck_assert_int_ge(wait_leader(&g, -1, 20000), 0);
  char list[N_MEMBERS * 64 + N_MEMBERS] = "";
  for (int i = 0; i < N_MEMBERS; i++) {
    if (i) strcat(list, ",");
    strcat(list, g.url[i]);
  }
  smtest_workload_cfg cfg = {.name = "cluster",
                             .url = list,
                             .authkey_file = g.m[0].authkey_file,
                             .failover_timeout_ms = 30000};
  group_killer k = {.g = &g};
  int64_t t0 = now_ms();
  smtest_workload *w = smtest_workload_start(&cfg);
  smtest_workload_run(w, cycles * KILL_KINDS, 300, 1000, group_kill_round, &k);
  smtest_workload_stop(w);
  int64_t ran = now_ms() - t0;

  int leader = wait_leader(&g, -1, (TTL_S + 10) * 1000);
  ck_assert_int_ge(leader, 0);
  ck_assert_int_eq(smtest_daemon_kill(&g.m[leader], SIGKILL), -1);
  g.up[leader] = false;
  ck_assert_int_ge(wait_leader(&g, leader, (TTL_S + 15) * 1000), 0);
  smtest_daemon_restart_args(&g.m[leader], g.args[leader]);
  g.up[leader] = true;
  sm_client *c = group_connect(&g, 30000);
  ck_assert_ptr_nonnull(c);
  smtest_workload_check(w, c);
  sm_client_free(c);
  assert_same_state(&g, 15000);
  printf("cluster: the workload ran %lld ms through %d kills; longest wait for a leader %lld ms\n",
         (long long)ran, cycles * KILL_KINDS, (long long)k.worst_election);
  smtest_workload_free(w);
  group_stop(&g);
}

/* One round of each kill (the statemgrd leader, an etcd follower, the
 * etcd leader, both leaders at once) under the workload checker. */
START_TEST(workload_survives_kills) {
  SKIP_WITHOUT_ETCD();
  workload_under_kills(1);
}
END_TEST

/* SMTEST_LONG=1: the same, FAILOVER_CYCLES times over. */
#define FAILOVER_CYCLES 8
START_TEST(failover_loop) {
  SKIP_WITHOUT_ETCD();
  const char *lng = getenv("SMTEST_LONG");
  if (!lng || strcmp(lng, "1") != 0) return;
  workload_under_kills(FAILOVER_CYCLES);
}
END_TEST

/* ---- the leader's appends under concurrent clients ---- */

#define SHARE_CLIENTS 8
#define SHARE_CALLS 150

typedef struct share_client {
  group *g;
  int leader, index;
  int failed_rc; /* the first call that failed, or 0 */
} share_client;

static void *share_client_run(void *arg) {
  share_client *sc = arg;
  sm_client *c = member_connect(sc->g, sc->leader);
  sm_dict *d = NULL;
  int rc = c ? sm_dict_open(c, "shared", &d) : SM_ECONNECT;
  for (int i = 0; rc == 0 && i < SHARE_CALLS; i++) {
    char key[32];
    snprintf(key, sizeof key, "c%d:%d", sc->index, i);
    rc = sm_dict_set_int(d, key, i);
  }
  sc->failed_rc = rc;
  sm_dict_free(d);
  sm_client_free(c);
  return NULL;
}

/* 8 clients that each make one call at a time: the leader keeps one
 * append in flight and the calls that come meanwhile ride in the next
 * one, so there are fewer appends than calls and none is refused for
 * reaching etcd before the batch it follows (info's appends_behind; a
 * second partial batch sent beside the first was refused so in about one
 * append of twelve, then sent again, and each took twice as long). */
START_TEST(concurrent_calls_share_appends) {
  SKIP_WITHOUT_ETCD();
  group g;
  int leader = group_up(&g);
  int64_t before = member_info_int(&g, leader, "appends");
  ck_assert_int_ge(before, 0);
  share_client sc[SHARE_CLIENTS];
  pthread_t th[SHARE_CLIENTS];
  for (int i = 0; i < SHARE_CLIENTS; i++) {
    sc[i] = (share_client){.g = &g, .leader = leader, .index = i};
    ck_assert_int_eq(pthread_create(&th[i], NULL, share_client_run, &sc[i]), 0);
  }
  for (int i = 0; i < SHARE_CLIENTS; i++) {
    ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    ck_assert_msg(sc[i].failed_rc == 0, "client %d: %s", i, sm_errname(sc[i].failed_rc));
  }
  sm_client *c = member_connect(&g, leader);
  ck_assert_ptr_nonnull(c);
  sm_dict *d;
  size_t n = 0;
  OK(sm_dict_open(c, "shared", &d));
  OK(sm_dict_len(d, &n));
  ck_assert_int_eq(n, SHARE_CLIENTS * SHARE_CALLS);
  sm_dict_free(d);
  sm_client_free(c);
  int64_t appends = member_info_int(&g, leader, "appends") - before;
  int64_t behind = member_info_int(&g, leader, "appends_behind");
  int64_t retried = member_info_int(&g, leader, "appends_retried");
  ck_assert_msg(behind == 0, "%lld of %lld appends were refused for the batch before",
                (long long)behind, (long long)appends);
  ck_assert_int_eq(retried, 0);
  ck_assert_msg(appends > 0 && appends < SHARE_CLIENTS * SHARE_CALLS, "%lld appends for %d calls",
                (long long)appends, SHARE_CLIENTS * SHARE_CALLS);
  group_stop(&g);
}
END_TEST

/* ---- a partition (network namespaces, as root) ---- */

#define PART_HOST "10.199.2.2" /* this namespace's end of the link */
#define PART_NS "10.199.2.1"   /* member 0's end, inside its namespace */
#define PART_KEEPALIVE 2       /* s: a client notices the cut within ~5 s */

static char part_ns[32];
static char part_veth_host[16], part_veth_ns[16]; /* the pair's ends, named by the runner's pid */
static char part_skip[700]; /* set by the fixture when it cannot make the namespace */
static bool part_made;

/* Runs an ip(8) command line; on failure keeps its output in part_skip
 * (when empty) and returns false. */
/* `ip ARGS`; the first failure is the reason to skip (smtest_ip). */
#define part_ip(...) smtest_ip(part_skip, sizeof part_skip, __VA_ARGS__)

/* The fixture (in the runner, so the namespace goes even when a test
 * process dies): a namespace for member 0 joined to this one by a veth
 * pair, PART_NS inside it and PART_HOST here. */
static void part_setup(void) {
  part_skip[0] = '\0';
  snprintf(part_ns, sizeof part_ns, "smtestP-%d", (int)getpid());
  snprintf(part_veth_host, sizeof part_veth_host, "smP%d-h", (int)getpid() % 10000000);
  snprintf(part_veth_ns, sizeof part_veth_ns, "smP%d-n", (int)getpid() % 10000000);
  if (!etcd_bin()) {
    snprintf(part_skip, sizeof part_skip,
             "no etcd on PATH (install etcd-server: scripts/setup.sh --test)");
    return;
  }
  if (geteuid() != 0) {
    snprintf(part_skip, sizeof part_skip, "needs root to create network namespaces");
    return;
  }
  if (smtest_run("command -v ip >/dev/null 2>&1", NULL, 0) != 0) {
    snprintf(part_skip, sizeof part_skip, "the ip command (iproute2) is not installed");
    return;
  }
  part_made = part_ip("netns add %s", part_ns);
  if (part_made &&
      part_ip("link add %s type veth peer name %s netns %s", part_veth_host, part_veth_ns, part_ns))
    (void)(part_ip("addr add " PART_HOST "/24 dev %s", part_veth_host) &&
           part_ip("-n %s addr add " PART_NS "/24 dev %s", part_ns, part_veth_ns) &&
           part_ip("-n %s link set lo up", part_ns) &&
           part_ip("-n %s link set %s up", part_ns, part_veth_ns) &&
           part_ip("link set %s up", part_veth_host));
}

static void part_teardown(void) {
  /* Deleting this end removes the pair at once (the namespace's end can
   * outlive the namespace's name while its sockets close). */
  if (part_made) {
    char cmd[80];
    snprintf(cmd, sizeof cmd, "ip link del %s >/dev/null 2>&1", part_veth_host);
    smtest_run(cmd, NULL, 0);
    part_ip("netns del %s", part_ns);
  }
  part_made = false;
}

/* A process inside member 0's namespace, connected to it over the
 * namespace's loopback (a path the cut leaves up; from there no other
 * member can be reached, so nothing it sends is applied elsewhere). On
 * "g" it appends 0 to the clients' list, then reads the list's length,
 * and reports each outcome through its pipe. */
typedef struct part_report {
  int rc;
  int64_t ms; /* how long the call took */
  char text[400];
} part_report;

static void part_send(int fd, int rc, int64_t ms, const char *text) {
  part_report r = {.rc = rc, .ms = ms};
  snprintf(r.text, sizeof r.text, "%s", text);
  ssize_t w = write(fd, &r, sizeof r);
  (void)w;
}

static void part_prober(group *g, int out, int in) {
  char path[128];
  snprintf(path, sizeof path, "/var/run/netns/%s", part_ns);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
    part_send(out, SM_EINVAL, 0, "setns failed");
    _exit(1);
  }
  close(fd);
  sm_options *o = sm_options_new();
  sm_options_set_authkey_file(o, g->m[0].authkey_file);
  sm_options_set_connect_timeout(o, 1000);
  sm_options_set_failover_timeout(o, 2000);
  sm_client *c = NULL;
  sm_list *l = NULL;
  int rc = sm_connect(g->ns_local_url, o, &c);
  sm_options_free(o);
  if (rc == 0) rc = sm_list_open(c, "acked", &l);
  part_send(out, rc, 0, rc == 0 ? "connected to member 0 inside its namespace" : sm_last_error());
  if (rc != 0) _exit(1);
  char go;
  if (read(in, &go, 1) != 1) _exit(1);
  int64_t t = now_ms();
  rc = sm_list_append_int(l, 0);
  part_send(out, rc, now_ms() - t, rc == 0 ? "appended 0" : sm_last_error());
  size_t len = 0;
  t = now_ms();
  rc = sm_list_len(l, &len);
  part_send(out, rc, now_ms() - t, rc == 0 ? "read the length" : sm_last_error());
  _exit(0);
}

static bool part_read(int fd, int timeout_ms, part_report *r) {
  memset(r, 0, sizeof *r);
  snprintf(r->text, sizeof r->text, "no report within %d ms", timeout_ms);
  struct pollfd pfd = {.fd = fd, .events = POLLIN};
  if (poll(&pfd, 1, timeout_ms) != 1) return false;
  return read(fd, r, sizeof *r) == (ssize_t)sizeof *r;
}

/* The appender of the partition test, in a thread of its own so that its
 * call is in flight when the link goes: appends until told to stop. */
typedef struct part_appender {
  appender a;
  atomic_bool stop;
  atomic_llong done; /* the last number acknowledged */
  atomic_llong worst_stall;
} part_appender;

static void *part_append_loop(void *arg) {
  part_appender *p = arg;
  int64_t since = now_ms();
  while (!atomic_load(&p->stop)) {
    int rc = p->a.l ? sm_list_append_int(p->a.l, p->a.next) : SM_ECLOSED;
    if (rc != 0) {
      appender_reconnect(&p->a, (TTL_S + 15) * 1000);
      continue;
    }
    atomic_store(&p->done, p->a.next);
    p->a.next++;
    int64_t t = now_ms();
    if (t - since > atomic_load(&p->worst_stall)) atomic_store(&p->worst_stall, t - since);
    since = t;
    sleep_ms(5); /* a client's pace, not a benchmark's */
  }
  return NULL;
}

static void wait_done(part_appender *p, int64_t n, int ms, const char *what) {
  int64_t end = now_ms() + ms;
  while (atomic_load(&p->done) < n && now_ms() < end)
    sleep_ms(20);
  ck_assert_msg(atomic_load(&p->done) >= n, "%s: the appender reached %lld, not %lld in %d ms",
                what, (long long)atomic_load(&p->done), (long long)n, ms);
}

/* The statemgrd leader (member 0, in a namespace of its own) is cut off
 * from etcd and from its clients by taking its end of the link down,
 * while a client appends through the group's URL list: another member
 * leads within the lease's TTL plus a margin and the client goes on there
 * by itself; the cut-off leader answers nothing as a success (a client
 * that can still reach it, inside its namespace, gets no OK for an append
 * it could not commit, nor for a read); when the link comes back the old
 * leader follows with the same state, and the list is exactly 1..N. */
START_TEST(partitioned_leader_steps_aside) {
  if (part_skip[0]) {
    printf("SKIP: cluster partition: %s\n", part_skip); /* CTest: skipped, not passed */
    fflush(stdout);
    return;
  }
  group g;
  group_start_in(&g, part_ns, PART_HOST, PART_NS);
  g.keepalive_s = PART_KEEPALIVE;

  int up[2], down[2];
  ck_assert(pipe2(up, O_CLOEXEC) == 0 && pipe2(down, O_CLOEXEC) == 0);
  pid_t parent = getpid();
  pid_t prober = fork();
  ck_assert_int_ge(prober, 0);
  if (prober == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    close(up[0]);
    close(down[1]);
    part_prober(&g, up[1], down[0]);
  }
  close(up[1]);
  close(down[0]);
  part_report r;
  ck_assert_msg(part_read(up[0], 15000, &r) && r.rc == 0, "prober: %s", r.text);

  part_appender p = {.a = {.g = &g, .next = 1, .leader = -1}};
  appender_reconnect(&p.a, 20000);
  ck_assert_int_eq(p.a.leader, 0);
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, part_append_loop, &p), 0);
  wait_done(&p, 50, 20000, "before the cut");

  ck_assert(part_ip("-n %s link set %s down", part_ns, part_veth_ns));
  int64_t t_cut = now_ms();
  int64_t acked_at_cut = atomic_load(&p.done);
  atomic_store(&p.worst_stall, 0);
  ck_assert_int_eq(write(down[1], "g", 1), 1);

  /* Another member leads within the lease's TTL, its campaign and a
   * margin for a loaded machine. */
  int leader = wait_leader(&g, 0, (TTL_S + 3) * 1000);
  int64_t t_elected = now_ms() - t_cut;
  ck_assert_msg(leader > 0, "no other member leads %lld ms after the cut", (long long)t_elected);

  /* The client goes on through the new leader. */
  wait_done(&p, acked_at_cut + 50, (TTL_S + 15) * 1000, "after the cut");
  int64_t t_moved = now_ms() - t_cut;
  /* Its call in flight waited for its keepalive to give the cut link up
   * (idle + 3 probes: PART_KEEPALIVE + 3 s), or for the new leader. */
  int64_t bound = (int64_t)(TTL_S + PART_KEEPALIVE + 3) * 1000 + 4000;
  ck_assert_msg(atomic_load(&p.worst_stall) <= bound, "the client stalled %lld ms (bound %lld)",
                (long long)atomic_load(&p.worst_stall), (long long)bound);

  /* The cut-off leader released no answer as a success. */
  ck_assert_msg(part_read(up[0], (TTL_S + 15) * 1000, &r), "the append inside the namespace hung");
  printf("cluster partition: append on the cut-off leader: %s after %lld ms: %s\n",
         sm_errname(r.rc), (long long)r.ms, r.text);
  ck_assert_msg(r.rc != 0, "the cut-off leader acknowledged an append after %lld ms",
                (long long)r.ms);
  ck_assert_msg(part_read(up[0], (TTL_S + 15) * 1000, &r), "the read inside the namespace hung");
  printf("cluster partition: read on the cut-off leader: %s after %lld ms: %s\n", sm_errname(r.rc),
         (long long)r.ms, r.text);
  ck_assert_msg(r.rc != 0, "the cut-off leader answered a read");
  ck_assert(smtest_daemon_log_has(&g.m[0], "stops leading", 10000));

  /* The link comes back: the old leader follows, with the same state. */
  ck_assert(part_ip("-n %s link set %s up", part_ns, part_veth_ns));
  int64_t t_heal = now_ms();
  int64_t acked_at_heal = atomic_load(&p.done);
  wait_done(&p, acked_at_heal + 20, 10000, "after the heal");
  atomic_store(&p.stop, true);
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  int64_t n = p.a.next - 1;
  char role[32] = "";
  int64_t end = now_ms() + 15000;
  while (!(member_info(&g, 0, "role", role, sizeof role) && strcmp(role, "follower") == 0) &&
         now_ms() < end)
    sleep_ms(50);
  ck_assert_str_eq(role, "follower");
  int64_t t_rejoin = now_ms() - t_heal;
  assert_list_exact(&p.a, n);
  assert_same_state(&g, 10000);
  printf("cluster partition: new leader %lld ms after the cut, client moved (50 more appends) "
         "by %lld ms, worst stall %lld ms; old leader a follower %lld ms after the heal; %lld "
         "appends\n",
         (long long)t_elected, (long long)t_moved, (long long)atomic_load(&p.worst_stall),
         (long long)t_rejoin, (long long)n);
  close(up[0]);
  close(down[1]);
  int st;
  kill(prober, SIGKILL);
  waitpid(prober, &st, 0);
  appender_close(&p.a);
  group_stop(&g);
}
END_TEST

/* ---- one etcd member with flags of its own (TLS, a request limit) ---- */

/* A cluster of one etcd member, for the tests of etcd over TLS and of
 * requests etcd refuses; its data and log in dir, stopped by PID. */
typedef struct solo_etcd {
  pid_t pid;
  int client_port, peer_port;
  char dir[256];
  char url[80];              /* its client URL, as members reach it */
  const smtest_certs *certs; /* TLS with client certificates (NULL: http://) */
  const char *max_request;   /* --max-request-bytes, or NULL */
} solo_etcd;

static void solo_etcd_spawn(solo_etcd *s) {
  char data[320], log[320], peer[64], initial[96];
  snprintf(data, sizeof data, "%s/solo.etcd", s->dir);
  snprintf(log, sizeof log, "%s/solo.log", s->dir);
  snprintf(peer, sizeof peer, "http://127.0.0.1:%d", s->peer_port);
  snprintf(initial, sizeof initial, "solo=%s", peer);
  const char *argv[32] = {"etcd",  "--name",
                          "solo",  "--data-dir",
                          data,    "--listen-client-urls",
                          s->url,  "--advertise-client-urls",
                          s->url,  "--listen-peer-urls",
                          peer,    "--initial-advertise-peer-urls",
                          peer,    "--initial-cluster",
                          initial, "--log-level",
                          "warn"};
  int n = 17;
  if (s->certs) { /* etcd's own gateway connects with its certificate: server and client use */
    const char *tls[] = {"--cert-file",       s->certs->server_client,
                         "--key-file",        s->certs->server_client_key,
                         "--trusted-ca-file", s->certs->ca,
                         "--client-cert-auth"};
    for (size_t i = 0; i < sizeof tls / sizeof tls[0]; i++)
      argv[n++] = tls[i];
  }
  if (s->max_request) {
    argv[n++] = "--max-request-bytes";
    argv[n++] = s->max_request;
  }
  argv[n] = NULL;
  pid_t parent = getpid();
  pid_t pid = fork();
  ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    execv(etcd_bin(), (char *const *)argv);
    _exit(127);
  }
  s->pid = pid;
}

/* Makes its ports and URL, with its files in dir (a test's group
 * directory); solo_etcd_spawn starts it. */
static void solo_etcd_init(solo_etcd *s, const char *dir, const smtest_certs *certs,
                           const char *max_request) {
  memset(s, 0, sizeof *s);
  snprintf(s->dir, sizeof s->dir, "%s", dir);
  s->certs = certs;
  s->max_request = max_request;
  s->client_port = free_port();
  s->peer_port = free_port();
  snprintf(s->url, sizeof s->url, "%s://127.0.0.1:%d", certs ? "https" : "http", s->client_port);
}

static void solo_etcd_stop(solo_etcd *s) {
  if (!s->pid) return;
  kill(s->pid, SIGTERM);
  waitpid(s->pid, NULL, 0);
  s->pid = 0;
}

/* A group directory without etcd members of its own (the solo etcd's). */
static void group_init_solo(group *g) {
  memset(g, 0, sizeof *g);
  snprintf(g->dir, sizeof g->dir, "/tmp/smtest-cluster.XXXXXX");
  ck_assert_msg(mkdtemp(g->dir) != NULL, "mkdtemp: %s", strerror(errno));
}

/* Starts member i of g on etcd_url, with the TLS files given (each may be
 * NULL). */
static void solo_member_start(group *g, int i, const char *etcd_url, const char *cacert,
                              const char *cert, const char *key) {
  const char **a = g->args[i];
  int n = 0;
  if (!g->url[i][0]) /* just before the start: etcd's own connections take ports too */
    snprintf(g->url[i], sizeof g->url[i], "tcp://127.0.0.1:%d", free_port());
  const char *base[] = {"--cluster",           "smtest",  "--etcd",   etcd_url,
                        "--advertise",         g->url[i], "--listen", g->url[i],
                        "--cluster-lease-ttl", TTL_ARG};
  for (size_t k = 0; k < sizeof base / sizeof base[0]; k++)
    a[n++] = base[k];
  if (i > 0) { /* one authkey for the group: member 0's */
    a[n++] = "--authkey-file";
    a[n++] = g->m[0].authkey_file;
  }
  if (cacert) {
    a[n++] = "--etcd-cacert";
    a[n++] = cacert;
  }
  if (cert) {
    a[n++] = "--etcd-cert";
    a[n++] = cert;
    a[n++] = "--etcd-key";
    a[n++] = key;
  }
  if (g->etcd_max_request) {
    a[n++] = "--etcd-max-request-bytes";
    a[n++] = g->etcd_max_request;
  }
  a[n] = NULL;
  smtest_daemon_start(&g->m[i], a);
  g->up[i] = true;
}

/* The leader's dict "tls" gets n keys from first on, through a client of
 * the group (which finds the leader and rides out a failover). */
static void put_keys(group *g, int first, int n) {
  char list[N_MEMBERS * 64 + N_MEMBERS] = "";
  for (int i = 0; i < N_MEMBERS; i++)
    if (g->up[i])
      snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", list[0] ? "," : "",
               g->url[i]);
  sm_options *o = sm_options_new();
  ck_assert_ptr_nonnull(o);
  OK(sm_options_set_authkey_file(o, g->m[0].authkey_file));
  OK(sm_options_set_connect_timeout(o, 1000));
  OK(sm_options_set_failover_timeout(o, (TTL_S + 10) * 1000));
  sm_client *c = NULL;
  sm_dict *d = NULL;
  /* A member that knows no leader yet (an election, or etcd just back)
   * answers REDIRECT without a URL: ask again shortly. */
  int64_t end = now_ms() + (TTL_S + 10) * 1000;
  while (!d) {
    int rc = sm_connect(list, o, &c);
    if (rc == 0) rc = sm_dict_open(c, "tls", &d);
    if (d) break;
    ck_assert_msg(now_ms() < end, "no member of the group answers: %s: %s", sm_errname(rc),
                  sm_last_error());
    sm_client_free(c);
    c = NULL;
    sleep_ms(100);
  }
  sm_options_free(o);
  for (int i = first; i < first + n; i++) {
    char key[16];
    snprintf(key, sizeof key, "k%d", i);
    OK(sm_dict_set_int(d, key, i));
  }
  sm_dict_free(d);
  sm_client_free(c);
}

/* Over https:// with client certificates (etcd --client-cert-auth): the
 * members started before etcd reach it once it is up, the leader's writes
 * reach the follower, also across a restart of etcd (the members'
 * kept-alive TLS connections closed under them are replaced); a
 * member without a client certificate, or trusting another CA, says why
 * etcd and it do not agree. */
START_TEST(etcd_over_tls) {
  SKIP_WITHOUT_ETCD();
  smtest_certs certs;
  smtest_certs_make(&certs, NULL);
  group g;
  group_init_solo(&g);
  solo_etcd e;
  solo_etcd_init(&e, g.dir, &certs, NULL); /* its URL known, it comes after the members */
  for (int i = 0; i < 2; i++)
    solo_member_start(&g, i, e.url, certs.ca, certs.client, certs.client_key);
  /* Their connections to etcd failed: they make new ones once it is up
   * (the TLS session of a failed one cannot start again). */
  for (int i = 0; i < 2; i++)
    ck_assert(smtest_daemon_log_has(&g.m[i], "cannot read the group's instance id", 5000));
  solo_etcd_spawn(&e);
  ck_assert_int_ge(wait_leader(&g, -1, 20000), 0);
  put_keys(&g, 0, 20);
  assert_same_state(&g, 5000);
  /* Steady, the leader's keepalives (one a TTL/3, each timing out after
   * TTL/3) all come back: a connection idle that long is not dropped by
   * its request timeout just as the next keepalive goes on it. */
  sleep_ms(TTL_S * 1000 + 500);
  for (int i = 0; i < 2; i++)
    ck_assert_msg(!smtest_daemon_log_has(&g.m[i], "keepalive failed", 0),
                  "a keepalive failed while etcd was up: see %s", g.m[i].log_file);

  /* etcd restarts: every connection to it closes, and the members go on
   * over new ones. */
  solo_etcd_stop(&e);
  solo_etcd_spawn(&e);
  put_keys(&g, 20, 20);
  assert_same_state(&g, 10000);
  int leader = wait_leader(&g, -1, 10000);
  ck_assert_int_ge(leader, 0);
  sm_client *c = member_connect(&g, leader);
  ck_assert_ptr_nonnull(c);
  sm_dict *d;
  OK(sm_dict_open(c, "tls", &d));
  size_t len = 0;
  OK(sm_dict_len(d, &len));
  ck_assert_uint_eq(len, 40);
  sm_dict_free(d);
  sm_client_free(c);

  /* No client certificate: etcd refuses the handshake, and the log says
   * which options to check. */
  solo_member_start(&g, 2, e.url, certs.ca, NULL, NULL);
  ck_assert_msg(
      smtest_daemon_log_has(&g.m[2], "etcd refused this member's client certificate", 5000),
      "no word of the missing client certificate in %s", g.m[2].log_file);
  ck_assert_int_eq(smtest_daemon_stop(&g.m[2]), 0);
  g.up[2] = false;
  /* A CA that did not sign etcd's certificate: this member refuses etcd. */
  solo_member_start(&g, 2, e.url, certs.other_ca, certs.client, certs.client_key);
  ck_assert_msg(smtest_daemon_log_has(&g.m[2], "server certificate", 5000) &&
                    smtest_daemon_log_has(&g.m[2], "--etcd-cacert", 0),
                "no word of etcd's certificate in %s", g.m[2].log_file);
  ck_assert_int_eq(smtest_daemon_stop(&g.m[2]), 0);
  g.up[2] = false;
  solo_etcd_stop(&e); /* first: group_stop removes its directory */
  group_stop(&g);
  smtest_certs_remove(&certs);
}
END_TEST

/* Runs statemgrd with args (a shell-quoted tail) expecting it to refuse to
 * start with a message holding want. */
static void expect_start_refused(const smtest_certs *certs, const char *args, const char *want) {
  const char *bin = getenv("STATEMGRD");
  ck_assert_msg(bin && *bin, "set STATEMGRD to the statemgrd binary (ctest does)");
  char cmd[2048], out[4096], key[300];
  snprintf(key, sizeof key, "%s/authkey", certs->dir);
  if (access(key, F_OK) != 0) {
    int fd = open(key, O_WRONLY | O_CREAT | O_EXCL, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "0123456789abcdef0123456789abcdef", 32), 32);
    close(fd);
  }
  snprintf(cmd, sizeof cmd,
           "'%s' --listen tcp://127.0.0.1:0 --authkey-file %s --cluster smtest --advertise "
           "tcp://127.0.0.1:1 %s 2>&1 < /dev/null",
           bin, key, args);
  int rc = smtest_run(cmd, out, sizeof out);
  ck_assert_msg(rc != 0 && strstr(out, want), "exit %d, wanted a refusal with \"%s\" for %s: %s",
                rc, want, args, out);
}

/* The TLS options of etcd are checked at start: a file missing, a key that
 * is not its certificate's, mixed schemes, TLS files for http:// URLs. */
START_TEST(etcd_tls_options_checked_at_start) {
  smtest_certs certs;
  smtest_certs_make(&certs, NULL);
  char args[1600], conf[300];
  snprintf(args, sizeof args,
           "--etcd https://127.0.0.1:2379 --etcd-cert %s/missing.crt --etcd-key %s", certs.dir,
           certs.client_key);
  expect_start_refused(&certs, args, "cannot load the client certificate");
  /* The same keys in a config file. */
  snprintf(conf, sizeof conf, "%s/member.conf", certs.dir);
  FILE *f = fopen(conf, "w");
  ck_assert_ptr_nonnull(f);
  fprintf(f, "etcd https://127.0.0.1:2379\netcd-cacert %s\netcd-cert %s\netcd-key %s\n", certs.ca,
          certs.client, certs.other_client_key);
  ck_assert_int_eq(fclose(f), 0);
  snprintf(args, sizeof args, "--config %s", conf);
  expect_start_refused(&certs, args, "does not match the certificate");
  snprintf(args, sizeof args, "--etcd https://127.0.0.1:2379 --etcd-cacert %s/none.pem", certs.dir);
  expect_start_refused(&certs, args, "cannot load the CA file");
  expect_start_refused(&certs, "--etcd https://127.0.0.1:2379,http://127.0.0.1:2380",
                       "mix http://");
  snprintf(args, sizeof args, "--etcd http://127.0.0.1:2379 --etcd-cacert %s", certs.ca);
  expect_start_refused(&certs, args, "are for https:// etcd URLs");
  snprintf(args, sizeof args, "--etcd https://127.0.0.1:2379 --etcd-cert %s", certs.client);
  expect_start_refused(&certs, args, "--etcd-cert and --etcd-key go together");
  smtest_certs_remove(&certs);
}
END_TEST

/* A batch etcd refuses for good (over its --max-request-bytes: HTTP 400
 * "request is too large") is not retried: the leader steps down saying
 * why, where it used to retry it forever. */
START_TEST(refused_batch_steps_the_leader_down) {
  SKIP_WITHOUT_ETCD();
  group g;
  group_init_solo(&g);
  solo_etcd e;
  solo_etcd_init(&e, g.dir, NULL, "20000");
  solo_etcd_spawn(&e);
  solo_member_start(&g, 0, e.url, NULL, NULL, NULL);
  ck_assert_int_eq(wait_leader(&g, -1, 20000), 0);
  sm_client *c = member_connect(&g, 0);
  ck_assert_ptr_nonnull(c);
  sm_dict *d;
  OK(sm_dict_open(c, "big", &d));
  OK(sm_dict_set_int(d, "small", 1)); /* under the limit: taken */
  sm_dict_free(d);
  sm_client_free(c);
  /* 30 KB: a batch of 40 KB in base64, over etcd's limit; sent from a
   * child, as its answer never comes. */
  pid_t child = fork();
  ck_assert_int_ge(child, 0);
  if (child == 0) {
    sm_client *cc = member_connect(&g, 0);
    sm_dict *dd = NULL;
    static char big[30001];
    memset(big, 'x', sizeof big - 1);
    sm_value *k = sm_value_str("large"), *v = sm_value_str(big);
    int rc = cc && sm_dict_open(cc, "big", &dd) == 0 ? sm_dict_set(dd, k, v) : -1;
    _exit(rc == 0 ? 0 : 1);
  }
  bool said = smtest_daemon_log_has(&g.m[0], "etcd refuses its batch", 10000);
  bool why = smtest_daemon_log_has(&g.m[0], "request is too large", 0);
  bool retried = smtest_daemon_log_has(&g.m[0], "failed, retrying", 0);
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  ck_assert_msg(said && why && !retried,
                "the leader did not step down on etcd's refusal (said %d, why %d, retried %d): "
                "see %s",
                said, why, retried, g.m[0].log_file);
  /* It ran itself again from the log, without the batch, and leads: a stop
   * in the middle of that would not be a clean one. */
  ck_assert_int_eq(wait_leader(&g, -1, 20000), 0);
  solo_etcd_stop(&e); /* first: group_stop removes its directory */
  group_stop(&g);
}
END_TEST

/* dict d's key set to a string value of n bytes ('x'...); the status. */
static int set_sized(sm_dict *d, const char *key, size_t n) {
  char *text = malloc(n + 1);
  if (!text) return SM_ENOMEM;
  memset(text, 'x', n);
  text[n] = '\0';
  sm_value *k = sm_value_str(key), *v = sm_value_str(text);
  int rc = sm_dict_set(d, k, v);
  sm_value_free(k);
  sm_value_free(v);
  free(text);
  return rc;
}

#define NO_ANSWER (-10000) /* in_child: the calls were not answered in time */

/* Runs fn(g, why) in a child, since a leader that steps down answers
 * nothing, and waits up to ms for it. Returns fn's status with why (len
 * bytes) its error text, or NO_ANSWER (the child killed). */
static int in_child(group *g, int (*fn)(group *, char *, size_t), char *why, size_t len, int ms) {
  int fds[2];
  ck_assert_int_eq(pipe(fds), 0);
  pid_t child = fork();
  ck_assert_int_ge(child, 0);
  if (child == 0) {
    close(fds[0]);
    char buf[sizeof(int) + 512] = "";
    int rc = fn(g, buf + sizeof rc, sizeof buf - sizeof rc);
    memcpy(buf, &rc, sizeof rc);
    /* One write (under PIPE_BUF: whole), so that the parent's one read
     * gets the text with the status. */
    ssize_t w = write(fds[1], buf, sizeof rc + strlen(buf + sizeof rc) + 1);
    _exit(w > 0 ? 0 : 1);
  }
  close(fds[1]);
  struct pollfd p = {.fd = fds[0], .events = POLLIN};
  int rc = NO_ANSWER;
  snprintf(why, len, "no answer within %d ms", ms);
  if (poll(&p, 1, ms) == 1) {
    char buf[sizeof(int) + 512] = "";
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    if (n >= (ssize_t)sizeof rc) {
      memcpy(&rc, buf, sizeof rc);
      snprintf(why, len, "%s", buf + sizeof rc);
    }
  }
  close(fds[0]);
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  return rc;
}

/* etcd_request_limit_refuses_the_call's change over etcd's limit. */
static int set_too_large(group *g, char *why, size_t len) {
  sm_client *c = member_connect(g, 0);
  sm_dict *d = NULL;
  int rc = !c ? SM_ECONNECT : sm_dict_open(c, "big", &d);
  /* 19900 bytes: under the 1.4 MiB of etcd's default, over etcd's 20000
   * with the batch around it. */
  if (rc == 0) rc = set_sized(d, "large", 19900);
  snprintf(why, len, "%s", sm_last_error());
  sm_dict_free(d);
  sm_client_free(c);
  return rc;
}

/* One etcd with --max-request-bytes limit and one member told the same
 * (--etcd-max-request-bytes), leading. */
static void start_limited_solo(group *g, solo_etcd *e, const char *limit) {
  group_init_solo(g);
  g->etcd_max_request = limit;
  solo_etcd_init(e, g->dir, NULL, limit);
  solo_etcd_spawn(e);
  solo_member_start(g, 0, e->url, NULL, NULL, NULL);
  ck_assert_int_eq(wait_leader(g, -1, 20000), 0);
}

/* A member told etcd's --max-request-bytes (--etcd-max-request-bytes, the
 * same 20000) refuses a change too large for one append with TOO_LARGE
 * before it runs, naming the option, where it used to apply it and step
 * down on etcd's refusal of its batch; it keeps leading, and the calls
 * after it go on. */
START_TEST(etcd_request_limit_refuses_the_call) {
  SKIP_WITHOUT_ETCD();
  group g;
  solo_etcd e;
  start_limited_solo(&g, &e, "20000");
  sm_client *c = member_connect(&g, 0);
  ck_assert_ptr_nonnull(c);
  sm_dict *d;
  OK(sm_dict_open(c, "big", &d));
  OK(set_sized(d, "small", 100));
  char why[512];
  int rc = in_child(&g, set_too_large, why, sizeof why, 10000);
  ck_assert_msg(rc == SM_ETOOLARGE && strstr(why, "--etcd-max-request-bytes"),
                "a change over etcd's request limit: %s (%s): see %s",
                rc == NO_ANSWER ? "no answer" : sm_errname(rc), why, g.m[0].log_file);
  OK(set_sized(d, "after", 100));
  size_t n = 0;
  OK(sm_dict_len(d, &n));
  ck_assert_uint_eq(n, 2);
  sm_dict_free(d);
  sm_client_free(c);
  ck_assert_msg(!smtest_daemon_log_has(&g.m[0], "stops leading", 0) &&
                    !smtest_daemon_log_has(&g.m[0], "refuses its batch", 0),
                "the leader stepped down: see %s", g.m[0].log_file);
  ck_assert_int_eq(wait_leader(&g, -1, 1000), 0);
  solo_etcd_stop(&e); /* first: group_stop removes its directory */
  group_stop(&g);
}
END_TEST

enum { PIPELINED = 40, PIPELINED_VALUE = 6000, PIPELINED_NEAR = 17000 };

/* etcd_request_limit_cuts_batches' pipeline: PIPELINED sets of
 * PIPELINED_VALUE bytes, the one in the middle PIPELINED_NEAR. Returns 0
 * when all are answered OK, else the first failure's status. */
static int set_pipelined(group *g, char *why, size_t len) {
  sm_client *c = member_connect(g, 0);
  sm_dict *d = NULL;
  sm_pipeline *pl = NULL;
  int rc = !c ? SM_ECONNECT : sm_dict_open(c, "many", &d);
  if (rc == 0) rc = sm_pipeline_new(c, &pl);
  static char text[PIPELINED_NEAR + 1];
  memset(text, 'y', PIPELINED_NEAR);
  for (int i = 0; rc == 0 && i < PIPELINED; i++) {
    size_t n = i == PIPELINED / 2 ? PIPELINED_NEAR : PIPELINED_VALUE;
    char key[16];
    snprintf(key, sizeof key, "k%d", i);
    text[n] = '\0';
    sm_value *k = sm_value_str(key), *v = sm_value_str(text);
    const sm_value *args[2] = {k, v};
    rc = sm_pipeline_call(pl, sm_dict_proxy(d), "set", args, 2);
    sm_value_free(k);
    sm_value_free(v);
    text[n] = 'y';
  }
  snprintf(why, len, "%s", sm_last_error());
  if (rc == 0) rc = sm_pipeline_exec(pl);
  for (size_t i = 0; rc == 0 && i < PIPELINED; i++)
    if ((rc = sm_pipeline_status(pl, i)) != 0)
      snprintf(why, len, "call %zu: %s", i, sm_pipeline_error(pl, i));
  sm_pipeline_free(pl);
  sm_dict_free(d);
  sm_client_free(c);
  return rc;
}

/* Many changes that each fit etcd's 20000 bytes, sent in one pipeline (so
 * that they reach the leader's batch in the same turns), all land: the
 * leader cuts its batches at etcd's limit, where a batch of 64 KiB was
 * refused and the leader stepped down. One change near the limit goes in
 * a batch of its own. The snapshot's chunks fit as well (they were 720
 * KiB), and a member started after it loads it. */
START_TEST(etcd_request_limit_cuts_batches) {
  SKIP_WITHOUT_ETCD();
  group g;
  solo_etcd e;
  start_limited_solo(&g, &e, "20000");
  char why[512];
  int rc = in_child(&g, set_pipelined, why, sizeof why, 15000);
  ck_assert_msg(rc == 0, "changes that each fit etcd's limit: %s (%s): see %s",
                rc == NO_ANSWER ? "no answer" : sm_errname(rc), why, g.m[0].log_file);
  ck_assert_msg(!smtest_daemon_log_has(&g.m[0], "stops leading", 0) &&
                    !smtest_daemon_log_has(&g.m[0], "refuses its batch", 0),
                "the leader stepped down: see %s", g.m[0].log_file);
  sm_client *c = member_connect(&g, 0);
  ck_assert_ptr_nonnull(c);
  sm_dict *d;
  OK(sm_dict_open(c, "many", &d));
  size_t n = 0;
  OK(sm_dict_len(d, &n));
  ck_assert_uint_eq(n, PIPELINED);
  sm_dict_free(d);
  /* The group's snapshot of them (over 240 KB) is stored in chunks that
   * fit too, and loads on a member started after it. */
  int src = sm_save(c, NULL);
  ck_assert_msg(src == 0, "save: %s (%s): see %s", sm_errname(src), sm_last_error(),
                g.m[0].log_file);
  sm_client_free(c);
  solo_member_start(&g, 1, e.url, NULL, NULL, NULL);
  assert_same_state(&g, 20000);
  solo_etcd_stop(&e); /* first: group_stop removes its directory */
  group_stop(&g);
}
END_TEST

/* ---- a fake etcd member: one HTTP status for every request ---- */

#define FAKE_CONNS 16

/* Answers every request on its port with HTTP status code (the test may
 * change it at any time) and an etcd-like JSON error, counting the
 * requests; a thread of the test, until stop. */
typedef struct fake_etcd {
  int listen_fd, port;
  pthread_t thread;
  atomic_int code;
  atomic_int requests;
  atomic_bool stop;
} fake_etcd;

/* Answers the whole requests at the start of buf (len bytes); returns the
 * bytes they took. */
static size_t fake_etcd_answer(fake_etcd *f, int fd, const char *buf, size_t len) {
  size_t used = 0;
  for (;;) {
    const char *end = memmem(buf + used, len - used, "\r\n\r\n", 4);
    if (!end) return used;
    size_t head = (size_t)(end + 4 - (buf + used)), body = 0;
    for (const char *p = buf + used; p && p < end;) {
      if (strncasecmp(p, "content-length:", 15) == 0) body = strtoul(p + 15, NULL, 10);
      p = memchr(p, '\n', (size_t)(end - p));
      p = p ? p + 1 : NULL;
    }
    if (len - used < head + body) return used;
    used += head + body;
    int code = atomic_load(&f->code);
    const char *msg = code >= 500 ? "etcdserver: no leader" : "etcdserver: permission denied";
    char text[512], reply[800];
    int n = snprintf(text, sizeof text, "{\"error\":\"%s\",\"message\":\"%s\",\"code\":%d}", msg,
                     msg, code >= 500 ? 14 : 7);
    int m = snprintf(reply, sizeof reply,
                     "HTTP/1.1 %d Refused\r\nContent-Type: application/json\r\n"
                     "Content-Length: %d\r\n\r\n%s",
                     code, n, text);
    atomic_fetch_add(&f->requests, 1);
    if (write(fd, reply, (size_t)m) != m) return len; /* the daemon went away */
  }
}

static void *fake_etcd_run(void *arg) {
  fake_etcd *f = arg;
  struct pollfd p[FAKE_CONNS + 1] = {{.fd = f->listen_fd, .events = POLLIN}};
  static char buf[FAKE_CONNS][16384];
  size_t len[FAKE_CONNS] = {0};
  int n = 0;
  while (!atomic_load(&f->stop)) {
    if (poll(p, (nfds_t)n + 1, 50) <= 0) continue;
    for (int i = n; i >= 1; i--) {
      if (!p[i].revents) continue;
      ssize_t r = read(p[i].fd, buf[i - 1] + len[i - 1], sizeof buf[0] - len[i - 1]);
      if (r > 0) {
        len[i - 1] += (size_t)r;
        size_t used = fake_etcd_answer(f, p[i].fd, buf[i - 1], len[i - 1]);
        memmove(buf[i - 1], buf[i - 1] + used, len[i - 1] - used);
        len[i - 1] -= used;
      }
      if (r <= 0 || len[i - 1] == sizeof buf[0]) { /* closed, or no request fits */
        close(p[i].fd);
        p[i] = p[n];
        memcpy(buf[i - 1], buf[n - 1], len[n - 1]);
        len[i - 1] = len[n - 1];
        n--;
      }
    }
    if (p[0].revents & POLLIN) {
      int fd = accept(f->listen_fd, NULL, NULL);
      if (fd >= 0 && n < FAKE_CONNS) {
        p[++n] = (struct pollfd){.fd = fd, .events = POLLIN};
        len[n - 1] = 0;
      } else if (fd >= 0) {
        close(fd);
      }
    }
  }
  for (int i = 1; i <= n; i++)
    close(p[i].fd);
  return NULL;
}

static void fake_etcd_start(fake_etcd *f, int code) {
  memset(f, 0, sizeof *f);
  atomic_store(&f->code, code);
  f->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  ck_assert_int_ge(f->listen_fd, 0);
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  ck_assert_int_eq(bind(f->listen_fd, (struct sockaddr *)&sin, sizeof sin), 0);
  ck_assert_int_eq(listen(f->listen_fd, 16), 0);
  socklen_t sl = sizeof sin;
  ck_assert_int_eq(getsockname(f->listen_fd, (struct sockaddr *)&sin, &sl), 0);
  f->port = ntohs(sin.sin_port);
  ck_assert_int_eq(pthread_create(&f->thread, NULL, fake_etcd_run, f), 0);
}

static void fake_etcd_stop(fake_etcd *f) {
  atomic_store(&f->stop, true);
  pthread_join(f->thread, NULL);
  close(f->listen_fd);
}

/* etcd's answers sort into those worth a retry and those that are not: a
 * 5xx (no leader on that member) is tried again; a 4xx (a permission
 * denied) is etcd refusing the request, which it would refuse again: the
 * member stops with etcd's reason, where it used to ask again forever. */
START_TEST(etcd_refusal_is_not_retried) {
  fake_etcd f;
  fake_etcd_start(&f, 503);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", f.port);
  const char *args[] = {"--cluster",         "smtest", "--etcd", url, "--advertise",
                        "tcp://127.0.0.1:1", NULL};
  smtest_daemon d;
  smtest_daemon_start(&d, args);
  int64_t end = now_ms() + 5000;
  while (atomic_load(&f.requests) < 3 && now_ms() < end)
    sleep_ms(20);
  ck_assert_msg(atomic_load(&f.requests) >= 3, "a 503 was not tried again (%d requests)",
                atomic_load(&f.requests));
  atomic_store(&f.code, 403);
  ck_assert_msg(smtest_daemon_log_has(&d, "etcd refuses to tell the group's instance id", 5000) &&
                    smtest_daemon_log_has(&d, "permission denied", 0),
                "no word of etcd's refusal in %s", d.log_file);
  int refused_at = atomic_load(&f.requests);
  ck_assert_int_eq(smtest_daemon_kill(&d, 0), 1); /* it stops by itself, with an error */
  ck_assert_int_eq(atomic_load(&f.requests), refused_at);
  smtest_daemon_stop(&d);
  fake_etcd_stop(&f);
}
END_TEST

Suite *cluster_suite(void) {
  Suite *s = suite_create("cluster");
  TCase *tc = tcase_create("group");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, followers_hold_the_leaders_state);
  tcase_add_test(tc, cycles_are_collected_by_the_leader_only);
  tcase_add_test(tc, expiry_is_the_leaders);
  tcase_add_test(tc, leader_killed_loses_nothing);
  tcase_add_test(tc, deposed_leader_starts_again);
  tcase_add_test(tc, stalled_etcd_member_is_left);
  tcase_add_test(tc, snapshot_trims_the_log);
  tcase_add_test(tc, restarted_member_loads_the_snapshot);
  tcase_add_test(tc, new_leader_counts_the_log_since_the_snapshot);
  tcase_add_test(tc, deposed_leaders_snapshot_is_not_published);
  tcase_add_test(tc, follower_behind_compaction_starts_again);
  tcase_add_test(tc, session_resumes_past_followers);
  tcase_add_test(tc, new_client_waits_for_the_election);
  tcase_add_test(tc, workload_survives_kills);
  tcase_add_test(tc, killed_members_snapshot_dirs_are_removed);
  tcase_add_test(tc, concurrent_calls_share_appends);
  suite_add_tcase(s, tc);
  /* etcd over TLS, and requests etcd refuses (a solo etcd each). */
  TCase *etcd = tcase_create("etcd");
  tcase_set_timeout(etcd, 120);
  tcase_add_test(etcd, etcd_over_tls);
  tcase_add_test(etcd, etcd_tls_options_checked_at_start);
  tcase_add_test(etcd, refused_batch_steps_the_leader_down);
  tcase_add_test(etcd, etcd_request_limit_refuses_the_call);
  tcase_add_test(etcd, etcd_request_limit_cuts_batches);
  tcase_add_test(etcd, etcd_refusal_is_not_retried);
  suite_add_tcase(s, etcd);
  TCase *lng = tcase_create("long");
  tcase_set_timeout(lng, 900);
  tcase_add_test(lng, failover_loop);
  suite_add_tcase(s, lng);
  /* Run as its own CTest test, cluster_netns (tests/CMakeLists.txt): it
   * needs root and prints SKIP without. */
  TCase *part = tcase_create("partition");
  tcase_add_unchecked_fixture(part, part_setup, part_teardown);
  tcase_set_timeout(part, 120);
  tcase_add_test(part, partitioned_leader_steps_aside);
  suite_add_tcase(s, part);
  return s;
}
