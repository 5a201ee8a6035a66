/* SPDX-License-Identifier: MIT */
/* check_failover.c - the client side of a replicated group (issue 14): a
 * client given the members' URLs as a list finds the leader, follows a
 * REDIRECT, and when the leader fails goes on at another member, resuming
 * its session and sending its calls in flight again, exactly once.
 *
 * Members that are not the leader are played by the fake daemon of
 * smtest_fake.c (statemgrd's side of REDIRECT needs etcd): one that
 * answers the handshake with REDIRECT, one that accepts a session's resume
 * and then answers its calls with REDIRECT (a deposed leader). Leaders are
 * real statemgrd processes.
 *
 * - A list whose first member redirects in the handshake, to a leader in
 *   the list or not, reaches the leader; a member that names no leader is
 *   passed over; members that never name one fail the connect with
 *   SM_EREDIRECT once the failover timeout has passed.
 * - A call answered REDIRECT was not applied: it goes to the leader.
 * - A durable leader SIGKILLed under load and replaced by a daemon on
 *   another address of the list, on the same data, is found: every add in
 *   flight, single or pipelined, is answered once (the totals are 1..N), a
 *   lock held across stays its holder's. The same through a deposed member
 *   that takes the session and redirects the resent calls.
 * - The CLI takes a list too.
 * - The walk itself (client/group.c), with scripted members: the order,
 *   REDIRECT hops to listed and learned leaders, no redirect out of TLS,
 *   members that name each other, and when a walk gives up. */
#include "client/group.h"
#include "smtest.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* A client of urls with d's authkey and the given failover timeout (ms;
 * 0: the default). Returns sm_connect's status, *out on success. */
static int connect_list(const smtest_daemon *d, const char *urls, int failover_ms,
                        sm_client **out) {
  sm_options *o = sm_options_new();
  ck_assert_ptr_nonnull(o);
  OK(sm_options_set_authkey_file(o, d->authkey_file));
  if (failover_ms) OK(sm_options_set_failover_timeout(o, failover_ms));
  int rc = sm_connect(urls, o, out);
  sm_options_free(o);
  return rc;
}

/* Whether the daemon d holds a named dict whose key k is v (asked over a
 * client of its own). */
static bool leader_has(const smtest_daemon *d, const char *dict, const char *k, int64_t v) {
  sm_client *c = smtest_connect(d, d->unix_url);
  sm_dict *x;
  OK(sm_dict_open(c, dict, &x));
  int64_t got = -1;
  int rc = sm_dict_get_int(x, k, &got);
  sm_dict_free(x);
  sm_client_free(c);
  return rc == SM_OK && got == v;
}

/* ---- the walk, with scripted members ---- */

/* What each member (by host) answers a try: a code, and with REDIRECT the
 * leader it names. */
typedef struct scripted {
  const char *host;
  int rc;
  const char *leader;
} scripted;

typedef struct walk_log {
  group *g;
  const scripted *script;
  size_t n;
  char tried[256]; /* the hosts tried, in order */
  int tries;
} walk_log;

static int try_scripted(void *ctx, size_t i, char *leader) {
  walk_log *w = ctx;
  const url_member *m = group_at(w->g, i);
  w->tries++;
  if (strlen(w->tried) + strlen(m->addr.host) + 2 < sizeof w->tried) {
    if (w->tried[0]) strcat(w->tried, " ");
    strcat(w->tried, m->addr.host);
  }
  for (size_t k = 0; k < w->n; k++) {
    if (strcmp(w->script[k].host, m->addr.host) != 0) continue;
    snprintf(leader, WIRE_URL_MAX, "%s", w->script[k].leader ? w->script[k].leader : "");
    return w->script[k].rc;
  }
  return SM_ECONNECT;
}

/* Walks urls once with script; returns its code, the hosts tried in *w. */
static int walk_once(const char *urls, const scripted *script, size_t n, bool keep_trying,
                     int64_t wait_ms, walk_log *w, group **g) {
  OK(group_new(urls, g));
  *w = (walk_log){.g = *g, .script = script, .n = n};
  group_walk_cfg cfg = {.deadline = (int64_t)(smtest_now_s() * 1000) + wait_ms,
                        .keep_trying = keep_trying};
  return group_walk(*g, &cfg, try_scripted, w);
}

/* Members in order; a REDIRECT goes to the named member; the next walk
 * starts where the last one succeeded. */
START_TEST(walk_order_and_redirects) {
  static const scripted s[] = {
      {"a", SM_ECONNECT, NULL}, {"b", SM_EREDIRECT, "tcp://c:3"}, {"c", SM_OK, NULL}};
  walk_log w;
  group *g;
  OK(walk_once("tcp://a:1,b:2,c:3,d:4", s, 3, false, 0, &w, &g));
  ck_assert_str_eq(w.tried, "a b c");
  ck_assert_uint_eq(group_size(g), 4);
  group_walk_cfg cfg = {.deadline = INT64_MAX};
  w.tried[0] = '\0';
  OK(group_walk(g, &cfg, try_scripted, &w));
  ck_assert_str_eq(w.tried, "c");
  group_free(g);
}
END_TEST

/* A leader not in the list is learned as a member; a tls:// member's
 * leader that is not tls:// is not followed (nor learned). */
START_TEST(walk_learns_leaders_but_never_leaves_tls) {
  static const scripted learn[] = {{"a", SM_EREDIRECT, "tcp://z:9"}, {"z", SM_OK, NULL}};
  walk_log w;
  group *g;
  OK(walk_once("tcp://a:1", learn, 2, false, 0, &w, &g));
  ck_assert_str_eq(w.tried, "a z");
  ck_assert_uint_eq(group_size(g), 2);
  ck_assert_str_eq(group_at(g, 1)->text, "tcp://z:9");
  group_free(g);

  static const scripted down[] = {{"a", SM_EREDIRECT, "tcp://evil:1"}, {"b", SM_OK, NULL}};
  OK(walk_once("tls://a:1,b:2", down, 2, false, 0, &w, &g));
  ck_assert_str_eq(w.tried, "a b");
  ck_assert_uint_eq(group_size(g), 2);
  group_free(g);
}
END_TEST

/* Members that name each other do not hold a walk forever: the hops of a
 * round are bounded, and the walk ends at its deadline with SM_EREDIRECT.
 * A round where every member refused ends a fresh walk at once; a resume
 * walk goes round until its deadline. */
START_TEST(walk_gives_up) {
  static const scripted loop[] = {{"a", SM_EREDIRECT, "tcp://b:2"},
                                  {"b", SM_EREDIRECT, "tcp://a:1"}};
  walk_log w;
  group *g;
  double t0 = smtest_now_s();
  ck_assert_int_eq(walk_once("tcp://a:1,b:2", loop, 2, false, 150, &w, &g), SM_EREDIRECT);
  double took = smtest_now_s() - t0;
  ck_assert_msg(took >= 0.14 && took < 2.0, "gave up after %.3f s", took);
  ck_assert_msg(w.tries > 4 && w.tries < 200, "%d tries", w.tries);
  group_free(g);

  static const scripted refused[] = {{"a", SM_ECONNECT, NULL}, {"b", SM_ESHUTDOWN, NULL}};
  ck_assert_int_eq(walk_once("tcp://a:1,b:2", refused, 2, false, 10000, &w, &g), SM_ESHUTDOWN);
  ck_assert_str_eq(w.tried, "a b");
  group_free(g);
  t0 = smtest_now_s();
  int rc = walk_once("tcp://a:1,b:2", refused, 2, true, 100, &w, &g);
  ck_assert_msg(rc == SM_ECONNECT || rc == SM_ESHUTDOWN, "%s", sm_errname(rc)); /* the last one's */
  ck_assert_msg(smtest_now_s() - t0 >= 0.09, "a resume walk stopped early");
  ck_assert_int_gt(w.tries, 4);
  group_free(g);

  static const scripted auth[] = {{"a", SM_EAUTH, NULL}, {"b", SM_OK, NULL}};
  ck_assert_int_eq(walk_once("tcp://a:1,b:2", auth, 2, true, 10000, &w, &g), SM_EAUTH);
  ck_assert_str_eq(w.tried, "a"); /* no other member mends a wrong key */
  group_free(g);
}
END_TEST

/* ---- REDIRECT in the handshake ---- */

/* The only member given is not the leader: it names the leader (not in
 * the list), and every call goes there. */
START_TEST(handshake_redirect_reaches_the_leader) {
  smtest_daemon d;
  smtest_daemon_start(&d, NULL);
  smtest_fake_cfg cfg = {.hello_version = 1,
                         .hello_max_version = 4,
                         .auth_status = WS_REDIRECT,
                         .key_file = d.authkey_file};
  snprintf(cfg.info.leader, sizeof cfg.info.leader, "%s", d.unix_url);
  smtest_fake f;
  smtest_fake_start(&f, &cfg);
  sm_client *c = NULL;
  OK(connect_list(&d, f.url, 0, &c));
  ck_assert_int_eq(f.accepted, 1);
  sm_dict *x;
  OK(sm_dict_open(c, "reached", &x)); /* the holder connection: the leader too */
  OK(sm_dict_set_int(x, "k", 7));
  ck_assert(leader_has(&d, "reached", "k", 7));
  ck_assert_int_eq(f.accepted, 1); /* the library remembers the leader */
  ck_assert_int_eq(f.requests, 0);
  sm_dict_free(x);
  sm_client_free(c);
  smtest_fake_stop(&f);
  ck_assert_int_eq(smtest_daemon_stop(&d), 0);
}
END_TEST

/* A member that knows no leader yet is passed over for the next one. */
START_TEST(member_without_a_leader_is_passed_over) {
  smtest_daemon d;
  smtest_daemon_start(&d, NULL);
  smtest_fake_cfg cfg = {.hello_version = 1,
                         .hello_max_version = 4,
                         .auth_status = WS_REDIRECT,
                         .key_file = d.authkey_file};
  smtest_fake f;
  smtest_fake_start(&f, &cfg);
  char urls[512];
  snprintf(urls, sizeof urls, "%s,%s", f.url, d.unix_url);
  sm_client *c = NULL;
  OK(connect_list(&d, urls, 0, &c));
  ck_assert_int_eq(f.accepted, 1);
  OK(sm_ping(c));
  ck_assert_str_eq(sm_client_url(c), urls);
  sm_client_free(c);
  smtest_fake_stop(&f);
  ck_assert_int_eq(smtest_daemon_stop(&d), 0);
}
END_TEST

/* Members that never name a reachable leader: the connect goes round
 * them until the failover timeout, then fails with SM_EREDIRECT and says
 * why; a list where no member listens fails at once with SM_ECONNECT. */
START_TEST(no_leader_within_the_failover_timeout) {
  smtest_daemon d;
  smtest_daemon_start(&d, NULL);
  smtest_fake_cfg cfg = {.hello_version = 1,
                         .hello_max_version = 4,
                         .auth_status = WS_REDIRECT,
                         .key_file = d.authkey_file};
  smtest_fake f;
  smtest_fake_start(&f, &cfg);
  sm_client *c = NULL;
  double t0 = smtest_now_s();
  FAILS(connect_list(&d, f.url, 400, &c), SM_EREDIRECT);
  double took = smtest_now_s() - t0;
  ck_assert_msg(strstr(sm_last_error(), "no leader is known yet"), "%s", sm_last_error());
  ck_assert_msg(took >= 0.35 && took < 3.0, "gave up after %.2f s", took);
  ck_assert_int_gt(f.accepted, 1); /* it was asked again */

  char urls[128];
  snprintf(urls, sizeof urls, "tcp://127.0.0.1:%d,127.0.0.1:%d", smtest_free_port(),
           smtest_free_port());
  t0 = smtest_now_s();
  FAILS(connect_list(&d, urls, 0, &c), SM_ECONNECT);
  ck_assert_msg(smtest_now_s() - t0 < 2.0, "a list of dead members took %.2f s",
                smtest_now_s() - t0);
  FAILS(connect_list(&d, "tcp://127.0.0.1:1,,b:2", 0, &c), SM_EINVAL);
  ck_assert_msg(strstr(sm_last_error(), "member 2 is empty"), "%s", sm_last_error());
  smtest_fake_stop(&f);
  ck_assert_int_eq(smtest_daemon_stop(&d), 0);
}
END_TEST

/* ---- REDIRECT on a request ---- */

/* A member that took the connection answers a call with REDIRECT (it was
 * deposed): the call was not applied, and goes to the leader it names. */
START_TEST(request_redirect_goes_to_the_leader) {
  smtest_daemon d;
  smtest_daemon_start(&d, NULL);
  static const int statuses[] = {WS_REDIRECT};
  const char *leaders[] = {d.unix_url};
  smtest_fake_cfg cfg = {.hello_version = 1,
                         .hello_max_version = 4,
                         .statuses = statuses,
                         .leaders = leaders,
                         .n_answers = 1,
                         .key_file = d.authkey_file};
  smtest_fake f;
  smtest_fake_start(&f, &cfg);
  sm_client *c = NULL;
  OK(connect_list(&d, f.url, 0, &c));
  sm_value *info = NULL;
  OK(sm_info(c, &info)); /* redirected, then answered by the leader */
  sm_value_free(info);
  ck_assert_int_eq(f.requests, 1);
  sm_dict *x;
  OK(sm_dict_open(c, "after", &x));
  OK(sm_dict_set_int(x, "k", 1));
  ck_assert(leader_has(&d, "after", "k", 1));
  ck_assert_int_eq(f.requests, 1);
  sm_dict_free(x);
  sm_client_free(c);
  smtest_fake_stop(&f);
  ck_assert_int_eq(smtest_daemon_stop(&d), 0);
}
END_TEST

/* ---- a leader that fails, under load ---- */

/* A durable leader on a port of its own, its data directory outliving
 * it, and the address its successor will listen on. */
typedef struct group {
  smtest_daemon d;
  char base[64];
  char data[128];
  char first[64], second[64]; /* tcp://127.0.0.1:PORT */
} group;

static void group_start(group *g) {
  memset(g, 0, sizeof *g);
  snprintf(g->base, sizeof g->base, "/tmp/smfo.XXXXXX");
  ck_assert_msg(mkdtemp(g->base) != NULL, "mkdtemp: %s", strerror(errno));
  snprintf(g->data, sizeof g->data, "%s/data", g->base);
  snprintf(g->first, sizeof g->first, "tcp://127.0.0.1:%d", smtest_free_port());
  snprintf(g->second, sizeof g->second, "tcp://127.0.0.1:%d", smtest_free_port());
  const char *args[] = {"--listen", g->first, "--data-dir", g->data, "--session-resume-timeout",
                        "20000",    NULL};
  smtest_daemon_start(&g->d, args);
}

/* SIGKILL the leader; its successor takes over the same data on the
 * second address. */
static void group_fail_over(group *g) {
  smtest_daemon_kill(&g->d, SIGKILL);
  const char *args[] = {"--listen", g->second, "--data-dir", g->data, "--session-resume-timeout",
                        "20000",    NULL};
  smtest_daemon_restart_args(&g->d, args);
}

static void group_stop(group *g) {
  ck_assert_int_eq(smtest_daemon_stop(&g->d), 0);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g->base);
  ck_assert_int_eq(system(cmd), 0);
}

#define ADDERS 3
#define ADDS 200
#define PIPELINE_ADDS 4 /* divides ADDS */

/* Runs PIPELINE_ADDS adds on v in one pipeline, their totals into out.
 * Returns the exec's status, or the first call's failure. */
static int add_pipelined(sm_client *c, sm_var *v, int64_t *out) {
  sm_pipeline *pl;
  int rc = sm_pipeline_new(c, &pl);
  if (rc != SM_OK) return rc;
  sm_value *one = sm_value_int(1);
  const sm_value *args[] = {one};
  for (int j = 0; j < PIPELINE_ADDS && rc == SM_OK; j++)
    rc = sm_pipeline_call(pl, sm_var_proxy(v), "add", args, 1);
  sm_value_free(one);
  if (rc == SM_OK) rc = sm_pipeline_exec(pl);
  for (int j = 0; j < PIPELINE_ADDS && rc == SM_OK; j++) {
    sm_value *r = NULL;
    rc = sm_pipeline_result(pl, (size_t)j, &r);
    if (rc == SM_OK) out[j] = sm_value_as_int(r);
    sm_value_free(r);
  }
  sm_pipeline_free(pl);
  return rc;
}

typedef struct adder {
  sm_client *c;
  bool pipelined;               /* adds PIPELINE_ADDS at a time, in one pipeline */
  pthread_barrier_t *connected; /* passed once the thread's first add is answered */
  int64_t totals[ADDS];
  int failures;
  char why[256];
} adder;

static void *add_loop(void *arg) {
  adder *a = arg;
  sm_var *v;
  if (sm_var_open(a->c, "counter", NULL, &v) != SM_OK) {
    a->failures++;
    snprintf(a->why, sizeof a->why, "open: %s", sm_last_error());
    pthread_barrier_wait(a->connected);
    return NULL;
  }
  for (int i = 0; i < ADDS; i += a->pipelined ? PIPELINE_ADDS : 1) {
    int rc =
        a->pipelined ? add_pipelined(a->c, v, &a->totals[i]) : sm_var_add_int(v, 1, &a->totals[i]);
    if (rc != SM_OK) {
      a->failures++;
      snprintf(a->why, sizeof a->why, "add %d: %s: %s", i, sm_errname(rc), sm_last_error());
      a->totals[i] = -1;
    }
    if (i == 0) pthread_barrier_wait(a->connected);
  }
  sm_var_free(v);
  return NULL;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Adds from threads of c, one of them in pipelines, while the leader
 * fails over (once every thread has its connection: one opened while no
 * member listens fails at once); then every add was answered, once. */
static void adds_survive_failover(group *g, sm_client *c) {
  sm_value *zero = sm_value_int(0);
  sm_var *v;
  OK(sm_var_open(c, "counter", zero, &v));
  sm_value_free(zero);
  static adder adders[ADDERS];
  pthread_t th[ADDERS];
  pthread_barrier_t connected;
  ck_assert_int_eq(pthread_barrier_init(&connected, NULL, ADDERS + 1), 0);
  for (int i = 0; i < ADDERS; i++) {
    memset(&adders[i], 0, sizeof adders[i]);
    adders[i].c = c;
    adders[i].connected = &connected;
    adders[i].pipelined = i == 0;
    ck_assert_int_eq(pthread_create(&th[i], NULL, add_loop, &adders[i]), 0);
  }
  pthread_barrier_wait(&connected);
  int64_t now = 0;
  double t0 = smtest_now_s();
  while (now < 50 && smtest_now_s() - t0 < 10) {
    OK(sm_var_get_int(v, &now));
    sleep_ms(2);
  }
  group_fail_over(g);
  for (int i = 0; i < ADDERS; i++)
    pthread_join(th[i], NULL);
  pthread_barrier_destroy(&connected);
  for (int i = 0; i < ADDERS; i++)
    ck_assert_msg(adders[i].failures == 0, "thread %d: %d calls failed (%s)", i, adders[i].failures,
                  adders[i].why);
  enum { N = ADDERS * ADDS };
  static int64_t all[N];
  for (int i = 0; i < ADDERS; i++)
    memcpy(all + i * ADDS, adders[i].totals, sizeof adders[i].totals);
  qsort(all, N, sizeof all[0], cmp_i64);
  for (int i = 0; i < N; i++)
    ck_assert_msg(all[i] == i + 1, "the %d-th smallest total answered is %lld", i + 1,
                  (long long)all[i]);
  OK(sm_var_get_int(v, &now));
  ck_assert_int_eq(now, N);
  ck_assert(smtest_daemon_log_has(&g->d, "resumed session", 0));
  sm_var_free(v);
}

/* The leader is SIGKILLed under load and its successor listens on the
 * list's second address: calls in flight are answered once, and a lock
 * held across the failover stays its holder's. */
START_TEST(leader_fails_over_to_another_member) {
  group g;
  group_start(&g);
  char urls[160];
  snprintf(urls, sizeof urls, "%s,%s", g.first, g.second + strlen("tcp://"));
  sm_client *c = NULL;
  OK(connect_list(&g.d, urls, 20000, &c));
  sm_lock *held;
  OK(sm_lock_open(c, "L", &held));
  OK(sm_lock_acquire(held, -1));
  adds_survive_failover(&g, c);

  sm_client *other = NULL;
  OK(connect_list(&g.d, urls, 20000, &other));
  sm_lock *theirs;
  OK(sm_lock_open(other, "L", &theirs));
  FAILS(sm_lock_acquire(theirs, 200), SM_ETIMEOUT); /* still the holder's */
  OK(sm_lock_release(held));
  OK(sm_lock_acquire(theirs, 5000));
  OK(sm_lock_release(theirs));
  sm_lock_free(theirs);
  sm_lock_free(held);
  sm_client_free(other);
  sm_client_free(c);
  group_stop(&g);
}
END_TEST

/* After the failover the client meets a deposed member first: it takes
 * the session's resume, then answers every call REDIRECT to the new
 * leader. The calls, not applied there, are answered once by the leader
 * (from its reply table for those the old leader had applied). */
START_TEST(deposed_member_redirects_resent_calls) {
  group g;
  group_start(&g);
  enum { SCRIPT = 256 };
  static int statuses[SCRIPT];
  static const char *leaders[SCRIPT];
  for (int i = 0; i < SCRIPT; i++) {
    statuses[i] = WS_REDIRECT;
    leaders[i] = g.second;
  }
  smtest_fake_cfg cfg = {.hello_version = 1,
                         .hello_max_version = 4,
                         .resume_any = true,
                         .statuses = statuses,
                         .leaders = leaders,
                         .n_answers = SCRIPT,
                         .key_file = g.d.authkey_file};
  smtest_fake f;
  smtest_fake_start(&f, &cfg);
  char urls[320];
  snprintf(urls, sizeof urls, "%s,%s", g.first, f.url);
  sm_client *c = NULL;
  OK(connect_list(&g.d, urls, 20000, &c));
  adds_survive_failover(&g, c);
  ck_assert_int_ge(f.requests, 1); /* the deposed member was asked, and redirected */
  ck_assert_int_lt(f.requests, SCRIPT);
  sm_client_free(c);
  smtest_fake_stop(&f);
  group_stop(&g);
}
END_TEST

/* ---- tools ---- */

/* statemgr -u takes a list: the first member is down, the second serves. */
START_TEST(cli_takes_a_list) {
  const char *cli = getenv("STATEMGR_CLI");
  ck_assert_msg(cli && *cli, "ctest sets STATEMGR_CLI");
  smtest_daemon d;
  smtest_daemon_start(&d, NULL);
  char cmd[2048], out[256];
  snprintf(cmd, sizeof cmd, "'%s' -u 'tcp://127.0.0.1:%d,%s' --authkey-file '%s' ping 2>&1", cli,
           smtest_free_port(), d.tcp_url + strlen("tcp://"), d.authkey_file);
  ck_assert_msg(smtest_run(cmd, out, sizeof out) == 0, "%s: %s", cmd, out);
  snprintf(cmd, sizeof cmd, "'%s' -u 'tcp://127.0.0.1:1,' --authkey-file '%s' ping 2>&1", cli,
           d.authkey_file);
  ck_assert_int_ne(smtest_run(cmd, out, sizeof out), 0);
  ck_assert_msg(strstr(out, "member 2 is empty"), "%s", out);
  ck_assert_int_eq(smtest_daemon_stop(&d), 0);
}
END_TEST

Suite *failover_suite(void) {
  Suite *s = suite_create("failover");
  TCase *tc = tcase_create("walk");
  tcase_add_test(tc, walk_order_and_redirects);
  tcase_add_test(tc, walk_learns_leaders_but_never_leaves_tls);
  tcase_add_test(tc, walk_gives_up);
  suite_add_tcase(s, tc);
  tc = tcase_create("redirect");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, handshake_redirect_reaches_the_leader);
  tcase_add_test(tc, member_without_a_leader_is_passed_over);
  tcase_add_test(tc, no_leader_within_the_failover_timeout);
  tcase_add_test(tc, request_redirect_goes_to_the_leader);
  tcase_add_test(tc, cli_takes_a_list);
  suite_add_tcase(s, tc);
  tc = tcase_create("leader fails");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, leader_fails_over_to_another_member);
  tcase_add_test(tc, deposed_member_redirects_resent_calls);
  suite_add_tcase(s, tc);
  return s;
}
