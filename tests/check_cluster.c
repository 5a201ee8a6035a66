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
 * Without an `etcd` binary on PATH the tests print "SKIP: ..." and return:
 * not a pass, CTest reports the suite skipped (tests/CMakeLists.txt).
 * SMTEST_LONG=1 adds a longer loop of kills (statemgrd leader, etcd
 * leader, both at once). */
#include "smtest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
  etcd_proc e[N_ETCD];
  char etcd_urls[N_ETCD * 64];
  char initial[N_ETCD * 80];
  smtest_daemon m[N_MEMBERS];
  bool up[N_MEMBERS];
  char url[N_MEMBERS][64];
  const char *args[N_MEMBERS][16];
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
  char data[320], log[320], client[64], peer[64];
  snprintf(data, sizeof data, "%s/%s.etcd", g->dir, e->name);
  snprintf(log, sizeof log, "%s/%s.log", g->dir, e->name);
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
          "--advertise-client-urls", client, "--listen-peer-urls", peer,
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
  a[n++] = g->etcd_urls;
  a[n++] = "--advertise";
  a[n++] = g->url[i];
  a[n++] = "--listen";
  a[n++] = g->url[i];
  a[n++] = "--cluster-lease-ttl";
  a[n++] = TTL_ARG;
  if (i > 0) { /* one authkey for the group: member 0's */
    a[n++] = "--authkey-file";
    a[n++] = g->m[0].authkey_file;
  }
  a[n] = NULL;
}

static void group_start(group *g) {
  memset(g, 0, sizeof *g);
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
    il += (size_t)snprintf(g->initial + il, sizeof g->initial - il, "%se%d=http://127.0.0.1:%d",
                           i ? "," : "", i, e->peer_port);
  }
  for (int i = 0; i < N_ETCD; i++)
    etcd_spawn(g, i);
  for (int i = 0; i < N_MEMBERS; i++) {
    snprintf(g->url[i], sizeof g->url[i], "tcp://127.0.0.1:%d", free_port());
    member_args(g, i);
    smtest_daemon_start(&g->m[i], g->args[i]);
    g->up[i] = true;
  }
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
  group_start(&g);
  int leader = wait_leader(&g, -1, 20000);
  ck_assert_int_ge(leader, 0);
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
  group_start(&g);
  int leader = wait_leader(&g, -1, 20000);
  ck_assert_int_ge(leader, 0);
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
  group_start(&g);
  int leader = wait_leader(&g, -1, 20000);
  ck_assert_int_ge(leader, 0);
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

/* SMTEST_LONG=1: rounds of kills under load, the statemgrd leader, the
 * etcd leader, and both at once, each member started again after; the
 * list stays exact and the members' states equal. */
START_TEST(failover_loop) {
  SKIP_WITHOUT_ETCD();
  const char *lng = getenv("SMTEST_LONG");
  if (!lng || strcmp(lng, "1") != 0) return;
  group g;
  group_start(&g);
  appender a = {.g = &g, .next = 1, .leader = -1};
  appender_reconnect(&a, 20000);
  int64_t n = 0;
  for (int round = 0; round < 12; round++) {
    n += 100;
    appender_run(&a, n);
    int kind = round % 3; /* 0: statemgrd leader, 1: etcd leader, 2: both */
    int victim = -1, ev = -1;
    if (kind != 1) {
      victim = a.leader;
      smtest_daemon_kill(&g.m[victim], SIGKILL);
      g.up[victim] = false;
    }
    if (kind != 0 && (ev = etcd_leader(&g)) >= 0) etcd_kill(&g, ev, SIGKILL);
    n += 100;
    appender_run(&a, n);
    assert_list_exact(&a, n);
    if (victim >= 0) {
      smtest_daemon_restart_args(&g.m[victim], g.args[victim]);
      g.up[victim] = true;
    }
    if (ev >= 0) etcd_spawn(&g, ev);
    assert_same_state(&g, 15000);
    printf("cluster: round %d (%s): worst stall %lld ms\n", round,
           kind == 0   ? "statemgrd leader"
           : kind == 1 ? "etcd leader"
                       : "both",
           (long long)a.worst_stall);
    a.worst_stall = 0;
  }
  appender_close(&a);
  group_stop(&g);
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
  suite_add_tcase(s, tc);
  TCase *lng = tcase_create("long");
  tcase_set_timeout(lng, 900);
  tcase_add_test(lng, failover_loop);
  suite_add_tcase(s, lng);
  return s;
}
