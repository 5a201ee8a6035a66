/* SPDX-License-Identifier: MIT */
/* check_reconnect.c - a client outlives its daemon: when the connection
 * drops, the next call on the thread reconnects (handshake included) and
 * proxies of named objects keep working, while a call that was in flight
 * reports the failure instead of being retried.
 *
 * Each test starts its own daemon on a UNIX socket in a private directory,
 * stops it (smtest_daemon_kill: SIGTERM for a clean stop, SIGKILL for a
 * crash) and starts a new one on the same socket path with the same authkey
 * (smtest_daemon_restart). The new daemon starts empty, and numbers its
 * objects above every id the old one gave out. */
#include "smtest_sync.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

/* A status a call may give while the daemon is down: the connection it
 * used closed under it, or a new one cannot be made. */
#define ASSERT_DOWN(expr)                                                                          \
  do {                                                                                             \
    int rc_ = (expr);                                                                              \
    ck_assert_msg(rc_ == SM_ECLOSED || rc_ == SM_ECONNECT, "%s -> %s (%s), wanted a failure",      \
                  #expr, sm_errname(rc_), sm_last_error());                                        \
  } while (0)

/* The id the daemon lists for the named object name, or 0. */
static uint64_t listed_id(sm_client *c, const char *name) {
  sm_value *ls = NULL, *k_name = sm_value_str("name"), *k_id = sm_value_str("id");
  OK(sm_ls(c, NULL, &ls));
  uint64_t id = 0;
  for (size_t i = 0; i < sm_value_len(ls); i++) {
    const sm_value *e = sm_value_list_at(ls, i);
    if (strcmp(sm_value_as_str(sm_value_map_get(e, k_name), NULL), name) == 0)
      id = (uint64_t)sm_value_as_int(sm_value_map_get(e, k_id));
  }
  sm_value_free(ls);
  sm_value_free(k_name);
  sm_value_free(k_id);
  return id;
}

/* The daemon stops; calls then fail at once (no hang) with SM_ECLOSED or
 * SM_ECONNECT; once a new daemon listens on the same socket, the next call
 * on the same client and the same named-dict proxy works, against the new
 * daemon's object of that name, which has a new id; the objects another
 * program made first there are not touched. */
START_TEST(named_proxy_survives_restart) {
  smtest_daemon d;
  smtest_daemon_start(&d, NULL);
  sm_client *c = smtest_connect(&d, d.unix_url);
  sm_dict *first, *state;
  OK(sm_dict_open(c, "first", &first));
  OK(sm_dict_open(c, "state", &state));
  uint64_t old_id = sm_proxy_id(sm_dict_proxy(state));
  OK(sm_dict_set_int(state, "before", 1));

  ck_assert_int_eq(smtest_daemon_kill(&d, SIGTERM), 0);
  double t0 = smtest_now_ms();
  ASSERT_DOWN(sm_dict_set_int(state, "during", 2));
  ASSERT_DOWN(sm_dict_set_int(state, "during", 2));
  ASSERT_DOWN(sm_ping(c));
  ck_assert_msg(smtest_now_ms() - t0 < 5000, "calls to a stopped daemon hung");

  smtest_daemon_restart(&d);
  /* Another program gets there first (ids are never reused: its objects
   * get new ones). */
  sm_client *other = smtest_connect(&d, d.unix_url);
  sm_dict *decoy1, *decoy2;
  OK(sm_dict_open(other, "decoy1", &decoy1));
  OK(sm_dict_open(other, "decoy2", &decoy2));
  ck_assert_uint_gt(sm_proxy_id(sm_dict_proxy(decoy1)), old_id);
  ck_assert_uint_gt(sm_proxy_id(sm_dict_proxy(decoy2)), old_id);

  OK(sm_dict_set_int(state, "after", 3)); /* reconnects, finds "state" again */
  int64_t v = 0;
  OK(sm_dict_get_int(state, "after", &v));
  ck_assert_int_eq(v, 3);
  FAILS(sm_dict_get_int(state, "before", &v), SM_ENOTFOUND); /* a new daemon: empty */
  size_t len = 9;
  OK(sm_dict_len(state, &len));
  ck_assert_uint_eq(len, 1);
  ck_assert_uint_eq(sm_proxy_id(sm_dict_proxy(state)), listed_id(c, "state"));
  ck_assert_uint_ne(sm_proxy_id(sm_dict_proxy(state)), old_id);
  OK(sm_dict_len(decoy2, &len));
  ck_assert_uint_eq(len, 0); /* the other program's objects were not touched */
  OK(sm_dict_set_int(first, "also", 4));

  /* Anonymous objects (over the shared holder connection) work at once. */
  sm_list *l;
  OK(sm_list_open(c, NULL, &l));
  OK(sm_list_append_int(l, 7));
  sm_list_free(l);

  sm_dict_free(decoy1);
  sm_dict_free(decoy2);
  sm_client_free(other);
  sm_dict_free(first);
  sm_dict_free(state);
  sm_client_free(c);
  ck_assert_int_eq(smtest_daemon_stop(&d), 0);
}
END_TEST

/* A daemon that restarts while the client is idle goes unnoticed: the
 * first calls afterwards (an object call, a manager call, an anonymous
 * create over the shared holder connection) never left the dropped
 * connections, so they go out on new ones and succeed. */
START_TEST(restart_while_idle) {
  smtest_daemon d;
  smtest_daemon_start(&d, NULL);
  sm_client *c = smtest_connect(&d, d.unix_url);
  sm_dict *state;
  sm_list *l;
  OK(sm_dict_open(c, "state", &state));
  OK(sm_list_open(c, NULL, &l)); /* the holder connection is open too */
  OK(sm_dict_set_int(state, "x", 1));
  ck_assert_int_eq(smtest_daemon_kill(&d, SIGTERM), 0);
  smtest_daemon_restart(&d);

  OK(sm_dict_set_int(state, "y", 2));
  int64_t v = 0;
  OK(sm_dict_get_int(state, "y", &v));
  ck_assert_int_eq(v, 2);
  OK(sm_ping(c));
  sm_list *l2;
  OK(sm_list_open(c, NULL, &l2));
  OK(sm_list_append_int(l2, 1));
  sm_list_free(l2);
  sm_list_free(l); /* its object died with the old daemon: nothing to give back */
  sm_dict_free(state);
  sm_client_free(c);
  ck_assert_int_eq(smtest_daemon_stop(&d), 0);
}
END_TEST

typedef struct parked_get {
  sm_queue *q;
  int rc;             /* out: the status of the get */
  volatile bool done; /* out */
  double returned_ms; /* out: when it returned */
  char err[1024];     /* out: the thread's last error after it */
} parked_get;

static void *park_get(void *arg) {
  parked_get *g = arg;
  sm_value *v = NULL;
  g->rc = sm_queue_get(g->q, SM_FOREVER, &v);
  snprintf(g->err, sizeof g->err, "%s", sm_last_error());
  sm_value_free(v);
  g->returned_ms = smtest_now_ms();
  g->done = true;
  return NULL;
}

/* Over TCP a daemon's close shows only to a read: the library checks a
 * connection idle for over a second before using it, so a restart of the
 * daemon on the same port while the client was idle is transparent too. */
START_TEST(restart_while_idle_tcp) {
  char url[64];
  snprintf(url, sizeof url, "tcp://127.0.0.1:%d", smtest_free_port());
  const char *args[] = {"--listen", url, NULL};
  smtest_daemon d;
  smtest_daemon_start(&d, args);
  sm_client *c = smtest_connect(&d, url);
  sm_dict *state;
  OK(sm_dict_open(c, "state", &state));
  OK(sm_dict_set_int(state, "x", 1));
  ck_assert_int_eq(smtest_daemon_kill(&d, SIGTERM), 0);
  smtest_daemon_restart_args(&d, args);
  usleep(1100 * 1000); /* idle past the library's check */
  OK(sm_dict_set_int(state, "y", 2));
  int64_t v = 0;
  OK(sm_dict_get_int(state, "y", &v));
  ck_assert_int_eq(v, 2);
  sm_dict_free(state);
  sm_client_free(c);
  ck_assert_int_eq(smtest_daemon_stop(&d), 0);
}
END_TEST

/* A queue get parked in the daemon when it crashes reports SM_ECLOSED (it
 * is not retried: it returns while no daemon runs, and the new daemon's
 * queue keeps the item put after the restart). That thread's next call
 * reconnects. */
START_TEST(in_flight_call_fails) {
  smtest_daemon d;
  smtest_daemon_start(&d, NULL);
  sm_client *c = smtest_connect(&d, d.unix_url);
  parked_get g = {0};
  OK(sm_queue_open(c, "jobs", 0, &g.q));
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, park_get, &g), 0);
  smtest_wait_waiters(c, 1);

  smtest_daemon_kill(&d, SIGKILL);
  double killed = smtest_now_ms();
  for (int waited = 0; waited < 5000 && !g.done; waited += 2)
    smtest_sleep_ms(2);
  ck_assert_msg(g.done, "the parked get still waits 5 s after the daemon died");
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  ck_assert_msg(g.rc == SM_ECLOSED, "the parked get gave %s", sm_errname(g.rc));
  ck_assert_msg(g.returned_ms - killed < 5000, "the parked get returned late");

  smtest_daemon_restart(&d);
  OK(sm_queue_put_int(g.q, 42, SM_FOREVER));
  smtest_sleep_ms(100); /* time for a retried get to take it, if there were one */
  size_t n = 0;
  OK(sm_queue_qsize(g.q, &n));
  ck_assert_uint_eq(n, 1);
  int64_t item = 0;
  OK(sm_queue_get_int(g.q, 0, &item));
  ck_assert_int_eq(item, 42);

  sm_queue_free(g.q);
  sm_client_free(c);
  ck_assert_int_eq(smtest_daemon_stop(&d), 0);
}
END_TEST

/* A call in flight when a durable daemon dies, which does not come back
 * within the failover timeout, fails SM_ECLOSED saying so once, with the
 * reason of the last try in parentheses. That reason is the thread's last
 * error, read while the new text is written over it: it came out garbled,
 * the sentence repeated into itself, until the text was made aside. */
START_TEST(in_flight_call_gives_up_with_its_reason) {
  smtest_durable x;
  smtest_durable_start(&x, NULL);
  sm_options *o = sm_options_new();
  OK(sm_options_set_authkey_file(o, x.d.authkey_file));
  OK(sm_options_set_failover_timeout(o, 300));
  sm_client *c = NULL;
  OK(sm_connect(x.d.unix_url, o, &c));
  sm_options_free(o);
  parked_get g = {0};
  OK(sm_queue_open(c, "jobs", 0, &g.q));
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, park_get, &g), 0);
  smtest_wait_waiters(c, 1);
  smtest_daemon_kill(&x.d, SIGKILL);
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  ck_assert_msg(g.rc == SM_ECLOSED, "the parked get gave %s: %s", sm_errname(g.rc), g.err);
  const char *said = strstr(g.err, "dropped with a call in flight");
  ck_assert_msg(said && !strstr(said + 1, "dropped with a call in flight"), "%s", g.err);
  ck_assert_msg(strstr(g.err, "may or may not have been applied (cannot "), "%s", g.err);
  sm_queue_free(g.q);
  sm_client_free(c);
  smtest_daemon_restart_args(&x.d, x.args);
  smtest_durable_stop(&x);
}
END_TEST

/* A daemon started again on its UNIX socket path while another process
 * still listens there for a moment (a killed daemon's snapshot writer,
 * which inherited the listening socket and dies with it) waits for the
 * path to be free rather than taking it for a running daemon's: such a
 * process takes connections into its backlog for a while but never
 * serves them. The holder here listens for 300 ms, then exits. */
START_TEST(restart_waits_for_a_dying_socket_holder) {
  smtest_daemon d;
  smtest_daemon_start(&d, NULL);
  smtest_daemon_kill(&d, SIGKILL);
  const char *path = d.unix_url + strlen("unix:");
  int ready[2];
  ck_assert_int_eq(pipe(ready), 0);
  pid_t holder = fork();
  ck_assert_int_ge(holder, 0);
  if (holder == 0) {
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sun.sun_path) _exit(1);
    memcpy(sun.sun_path, path, strlen(path) + 1);
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0 || listen(fd, 16) != 0)
      _exit(1);
    if (write(ready[1], "r", 1) != 1) _exit(1);
    smtest_sleep_ms(300);
    _exit(0);
  }
  char r;
  ck_assert_int_eq(read(ready[0], &r, 1), 1);
  close(ready[0]);
  close(ready[1]);
  smtest_daemon_restart(&d); /* fails the test when the daemon exits */
  int st = 0;
  ck_assert_int_eq(waitpid(holder, &st, 0), holder);
  ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  sm_client *c = smtest_connect(&d, d.unix_url);
  OK(sm_ping(c));
  sm_client_free(c);
  ck_assert_int_eq(smtest_daemon_stop(&d), 0);
}
END_TEST

static int child_uses_state(void *ctx, int id) {
  sm_dict *state = ctx;
  WOK(sm_dict_set_int(state, id ? "child1" : "child0", id));
  return 0;
}

static void *thread_call(void *arg) {
  sm_dict *state = arg;
  return (void *)(intptr_t)sm_dict_set_int(state, "thread", 1); /* a new thread: a new connection */
}

/* After a restart, a thread that starts then and children forked then use
 * the named proxy against the new daemon. */
START_TEST(threads_and_children_after_restart) {
  smtest_daemon d;
  smtest_daemon_start(&d, NULL);
  sm_client *c = smtest_connect(&d, d.unix_url);
  sm_dict *state;
  OK(sm_dict_open(c, "state", &state));
  OK(sm_dict_set_int(state, "x", 1));
  ck_assert_int_eq(smtest_daemon_kill(&d, SIGTERM), 0);
  smtest_daemon_restart(&d);
  OK(sm_ping(c)); /* never left the old connection: sent again on a new one */
  pthread_t th;
  void *res = NULL;
  ck_assert_int_eq(pthread_create(&th, NULL, thread_call, state), 0);
  ck_assert_int_eq(pthread_join(th, &res), 0);
  ck_assert_int_eq((int)(intptr_t)res, SM_OK);
  smtest_run_workers(2, 0, child_uses_state, state);
  size_t len = 0;
  OK(sm_dict_len(state, &len));
  ck_assert_uint_eq(len, 3);
  sm_dict_free(state);
  sm_client_free(c);
  ck_assert_int_eq(smtest_daemon_stop(&d), 0);
}
END_TEST

Suite *reconnect_suite(void) {
  Suite *s = suite_create("reconnect");
  TCase *tc = tcase_create("daemon restart");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, named_proxy_survives_restart);
  tcase_add_test(tc, restart_while_idle);
  tcase_add_test(tc, restart_while_idle_tcp);
  tcase_add_test(tc, in_flight_call_fails);
  tcase_add_test(tc, in_flight_call_gives_up_with_its_reason);
  tcase_add_test(tc, restart_waits_for_a_dying_socket_holder);
  tcase_add_test(tc, threads_and_children_after_restart);
  suite_add_tcase(s, tc);
  return s;
}
