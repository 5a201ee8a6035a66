/* SPDX-License-Identifier: MIT */
/* check_custom.c - custom types of statemgr_server.h, end to end: the test
 * process embeds a server (sm_server_run_thread) with a "box" type and
 * talks to it over a real UNIX socket with libstatemgr's generic proxies
 * (sm_proxy_open, sm_call). Covers registration rules, methods and their
 * replies, errors (unknown method, a callback's own status and text, bad
 * arguments, refused creation), parked calls answered by another client,
 * parked calls whose deadline passes or whose client dies (the handle goes
 * dead, nothing crashes), and destroy on delete and on the last release. */
#include "smtest.h"

#include "statemgr_server.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BOX_MAX_WAITERS 8
static const char box_key[] = "check-custom-key";

/* ---- the test type: a counter with waiters for a threshold ---- */

typedef struct box {
  int64_t n;
  sm_pending *waiters[BOX_MAX_WAITERS]; /* wait_for calls, each for at[i] */
  int64_t at[BOX_MAX_WAITERS];
  size_t nwait;
  int64_t closed; /* answers that found their handle dead */
} box;

static atomic_int box_destroyed;

/* create([initial int]) */
static void *box_create(const sm_value *const *args, size_t nargs, int *status) {
  if (nargs == 1 && sm_value_type(args[0]) != SM_INT) {
    *status = SM_EVALUE;
    return NULL;
  }
  box *b = calloc(1, sizeof *b);
  if (!b) *status = SM_ENOMEM;
  if (b && nargs == 1) b->n = sm_value_as_int(args[0]);
  return b;
}

static void box_destroy(void *state) {
  free(state);
  atomic_fetch_add(&box_destroyed, 1);
}

static int reply_int(sm_method_call *mc, int64_t i) {
  sm_value *v = sm_value_int(i);
  int rc = sm_method_reply(mc, v);
  sm_value_free(v);
  return rc;
}

/* Argument i as an int, or SM_ETYPE with a text. */
static int arg_int(sm_method_call *mc, size_t i, int64_t *out) {
  const sm_value *v = sm_method_arg(mc, i);
  if (sm_value_type(v) != SM_INT)
    return sm_method_fail(mc, SM_ETYPE, "argument %zu: not an int", i);
  *out = sm_value_as_int(v);
  return SM_OK;
}

/* add(int) -> the new count; answers the waiters it satisfies. */
static int box_add(sm_method_call *mc) {
  box *b = sm_method_state(mc);
  int64_t d = 0;
  if (sm_method_nargs(mc) != 1) return sm_method_fail(mc, SM_EVALUE, "add takes 1 argument");
  int rc = arg_int(mc, 0, &d);
  if (rc != SM_OK) return rc;
  b->n += d;
  sm_value *now = sm_value_int(b->n);
  for (size_t i = 0; i < b->nwait;) {
    if (b->at[i] > b->n) {
      i++;
      continue;
    }
    if (sm_pending_answer(b->waiters[i], SM_OK, now) == SM_ECLOSED) b->closed++;
    b->waiters[i] = b->waiters[--b->nwait];
    b->at[i] = b->at[b->nwait];
  }
  sm_value_free(now);
  return reply_int(mc, b->n);
}

static int box_get(sm_method_call *mc) { return reply_int(mc, ((box *)sm_method_state(mc))->n); }

/* wait_for(int) -> the count once it reaches the argument (parks). */
static int box_wait_for(sm_method_call *mc) {
  box *b = sm_method_state(mc);
  int64_t at = 0;
  int rc = arg_int(mc, 0, &at);
  if (rc != SM_OK) return rc;
  if (b->n >= at) return reply_int(mc, b->n);
  if (b->nwait == BOX_MAX_WAITERS) return sm_method_fail(mc, SM_EFULL, "too many waiters");
  sm_pending *p = sm_method_park(mc);
  if (p) {
    b->waiters[b->nwait] = p;
    b->at[b->nwait++] = at;
  }
  return SM_PARKED;
}

/* dead() -> waiters whose caller is gone (timed out or disconnected). */
static int box_dead(sm_method_call *mc) {
  box *b = sm_method_state(mc);
  int64_t n = 0;
  for (size_t i = 0; i < b->nwait; i++)
    n += !sm_pending_alive(b->waiters[i]);
  return reply_int(mc, n);
}

static int box_closed(sm_method_call *mc) {
  return reply_int(mc, ((box *)sm_method_state(mc))->closed);
}

/* echo(args...) -> the list of its arguments. */
static int box_echo(sm_method_call *mc) {
  sm_value *l = sm_value_list();
  for (size_t i = 0; i < sm_method_nargs(mc); i++)
    sm_value_list_append(l, sm_value_copy(sm_method_arg(mc, i)));
  int rc = sm_method_reply(mc, l);
  sm_value_free(l);
  return rc;
}

static int box_fail(sm_method_call *mc) {
  return sm_method_fail(mc, SM_EBROKEN, "the box is broken (%zu args)", sm_method_nargs(mc));
}

/* A callback that returns a status without a text. */
static int box_bare(sm_method_call *mc) {
  (void)mc;
  return SM_ENOTFOUND;
}

static const sm_method_def box_methods[] = {
    {"add", box_add},       {"get", box_get},   {"wait_for", box_wait_for}, {"dead", box_dead},
    {"closed", box_closed}, {"echo", box_echo}, {"fail", box_fail},         {"bare", box_bare},
};
static const sm_type_def box_type = {.name = "box",
                                     .create = box_create,
                                     .destroy = box_destroy,
                                     .methods = box_methods,
                                     .n_methods = sizeof box_methods / sizeof box_methods[0]};

/* ---- the embedded server ---- */

typedef struct embedded {
  char dir[64];
  char url[128];
  sm_server *s;
} embedded;

/* Creates a server with box registered, listening on a UNIX socket in a
 * private directory; run it with sm_server_run_thread. */
static void embedded_new(embedded *e) {
  strcpy(e->dir, "/tmp/smcustom.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(e->dir));
  snprintf(e->url, sizeof e->url, "unix:%s/s.sock", e->dir);
  sm_server_options *o = sm_server_options_new();
  OK(sm_server_options_set_authkey(o, box_key, sizeof box_key - 1));
  OK(sm_server_options_set_log_level(o, SM_LOG_ERROR));
  OK(sm_server_new(o, &e->s));
  sm_server_options_free(o);
  OK(sm_server_register_type(e->s, &box_type));
  OK(sm_server_listen(e->s, e->url));
}

static void embedded_start(embedded *e) {
  embedded_new(e);
  OK(sm_server_run_thread(e->s));
}

static void embedded_free(embedded *e) {
  sm_server_stop(e->s);
  ck_assert_int_eq(sm_server_join(e->s), 0);
  sm_server_free(e->s);
  rmdir(e->dir); /* the socket is removed on stop */
}

static sm_client *embedded_connect(const embedded *e) {
  sm_options *o = sm_options_new();
  OK(sm_options_set_authkey(o, box_key, sizeof box_key - 1));
  sm_client *c = NULL;
  OK(sm_connect(e->url, o, &c));
  sm_options_free(o);
  return c;
}

/* sm_call with up to one int argument; returns the status, *out the int. */
static int call_int(sm_proxy *p, const char *method, const int64_t *arg, int64_t *out) {
  sm_value *a = arg ? sm_value_int(*arg) : NULL;
  const sm_value *args[1] = {a};
  sm_value *r = NULL;
  int rc = sm_call(p, method, args, arg ? 1 : 0, &r);
  if (rc == SM_OK && out) *out = sm_value_as_int(r);
  sm_value_free(r);
  sm_value_free(a);
  return rc;
}

/* Waits until the daemon has n parked calls (5 s at most). */
static void wait_parked(sm_client *c, int64_t n) {
  for (int i = 0; i < 500 && smtest_info_int(c, "waiters") != n; i++)
    usleep(10000);
  ck_assert_int_eq(smtest_info_int(c, "waiters"), n);
}

/* ---- registration ---- */

/* Registration refuses a built-in name, a second box, broken definitions
 * and any type once the server runs; run_thread needs a listener. */
START_TEST(test_register_rules) {
  sm_server_options *o = sm_server_options_new();
  OK(sm_server_options_set_authkey(o, box_key, sizeof box_key - 1));
  OK(sm_server_options_set_log_level(o, SM_LOG_ERROR));
  sm_server *s;
  OK(sm_server_new(o, &s));
  sm_server_options_free(o);
  ck_assert_int_eq(sm_server_run_thread(s), SM_EINVAL); /* no listener */
  ck_assert_int_eq(sm_server_join(s), SM_EINVAL);       /* no thread */
  sm_type_def dict = box_type;
  dict.name = "dict";
  ck_assert_int_eq(sm_server_register_type(s, &dict), SM_EINVAL);
  sm_type_def bad = box_type;
  bad.name = "";
  ck_assert_int_eq(sm_server_register_type(s, &bad), SM_EINVAL);
  static const sm_method_def no_fn[] = {{"m", NULL}};
  sm_type_def broken = {.name = "broken", .methods = no_fn, .n_methods = 1};
  ck_assert_int_eq(sm_server_register_type(s, &broken), SM_EINVAL);
  ck_assert_int_eq(sm_server_register_type(s, NULL), SM_EINVAL);
  OK(sm_server_register_type(s, &box_type));
  ck_assert_int_eq(sm_server_register_type(s, &box_type), SM_EINVAL);
  sm_server_free(s);

  embedded e;
  embedded_start(&e);
  sm_type_def late = box_type;
  late.name = "late";
  ck_assert_int_eq(sm_server_register_type(e.s, &late), SM_EINVAL);
  ck_assert_int_eq(sm_server_run_thread(e.s), SM_EINVAL);
  embedded_free(&e);
}
END_TEST

/* ---- methods and errors ---- */

/* Objects are created by type name (named: get-or-create, shared by two
 * clients; anonymous), with creation arguments; methods see the state and
 * their arguments, and any value round-trips through a reply. */
START_TEST(test_methods) {
  embedded e;
  embedded_start(&e);
  sm_client *c1 = embedded_connect(&e), *c2 = embedded_connect(&e);
  sm_proxy *a, *same, *anon;
  sm_value *init = sm_value_int(40);
  OK(sm_proxy_open(c1, "box", "b", init, &a));
  OK(sm_proxy_open(c2, "box", "b", NULL, &same)); /* exists: no create */
  ck_assert_str_eq(sm_proxy_type(a), "box");
  ck_assert_uint_eq(sm_proxy_id(a), sm_proxy_id(same));
  int64_t n = 2, got = 0;
  OK(call_int(a, "add", &n, &got));
  ck_assert_int_eq(got, 42);
  OK(call_int(same, "get", NULL, &got));
  ck_assert_int_eq(got, 42);
  OK(sm_proxy_open(c1, "box", NULL, NULL, &anon));
  OK(call_int(anon, "get", NULL, &got));
  ck_assert_int_eq(got, 0);

  sm_value *m = sm_value_map();
  sm_value_map_set(m, sm_value_str("k"), sm_value_double(1.5));
  sm_value *args[3] = {sm_value_str("s"), sm_value_nil(), m};
  sm_value *r = NULL;
  OK(sm_call(a, "echo", (const sm_value *const *)args, 3, &r));
  ck_assert_int_eq(sm_value_type(r), SM_LIST);
  ck_assert_uint_eq(sm_value_len(r), 3);
  for (size_t i = 0; i < 3; i++)
    ck_assert(sm_value_equal(sm_value_list_at(r, i), args[i]));
  sm_value_free(r);
  for (size_t i = 0; i < 3; i++)
    sm_value_free(args[i]);
  sm_value_free(init);
  sm_proxy_free(anon);
  sm_proxy_free(same);
  sm_proxy_free(a);
  sm_client_free(c2);
  sm_client_free(c1);
  embedded_free(&e);
}
END_TEST

/* Unknown methods give SM_ETYPE; a callback's status and text reach the
 * caller; a bare status gets a default text; wrong arguments and refused
 * creation fail cleanly; the server keeps serving. */
START_TEST(test_errors) {
  embedded e;
  embedded_start(&e);
  sm_client *c = embedded_connect(&e);
  sm_proxy *p, *bad = NULL;
  OK(sm_proxy_open(c, "box", "errs", NULL, &p));
  FAILS(sm_call(p, "nosuch", NULL, 0, NULL), SM_ETYPE);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "nosuch"));
  FAILS(sm_call(p, "fail", NULL, 0, NULL), SM_EBROKEN);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "the box is broken (0 args)"));
  FAILS(sm_call(p, "bare", NULL, 0, NULL), SM_ENOTFOUND);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "box.bare"));
  FAILS(sm_call(p, "add", NULL, 0, NULL), SM_EVALUE);
  sm_value *s = sm_value_str("x");
  const sm_value *args[1] = {s};
  FAILS(sm_call(p, "add", args, 1, NULL), SM_ETYPE);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "not an int"));
  FAILS(sm_proxy_open(c, "box", "refused", s, &bad), SM_EVALUE);
  ck_assert_ptr_null(bad);
  FAILS(sm_proxy_open(c, "nosuchtype", NULL, NULL, &bad), SM_EVALUE);
  int64_t got = -1;
  OK(call_int(p, "get", NULL, &got));
  ck_assert_int_eq(got, 0);
  sm_value_free(s);
  sm_proxy_free(p);
  sm_client_free(c);
  embedded_free(&e);
}
END_TEST

/* ---- parking ---- */

typedef struct waiter_arg {
  sm_proxy *p;
  int64_t at;
  int rc;
  int64_t got;
} waiter_arg;

static void *wait_thread(void *arg) {
  waiter_arg *w = arg;
  w->rc = call_int(w->p, "wait_for", &w->at, &w->got);
  return NULL;
}

/* A parked call is answered by another client's call, with the value the
 * answer carries; one not yet satisfied stays parked; a zero timeout does
 * not park; a deadline answers SM_ETIMEOUT and leaves a dead handle whose
 * answer returns SM_ECLOSED. */
START_TEST(test_parked_answered) {
  embedded e;
  embedded_start(&e);
  sm_client *waiting = embedded_connect(&e), *c = embedded_connect(&e);
  sm_proxy *wp, *p;
  OK(sm_proxy_open(waiting, "box", "park", NULL, &wp));
  OK(sm_proxy_open(c, "box", "park", NULL, &p));
  waiter_arg w5 = {wp, 5, -99, 0}, w9 = {wp, 9, -99, 0};
  pthread_t t5, t9;
  ck_assert_int_eq(pthread_create(&t5, NULL, wait_thread, &w5), 0);
  ck_assert_int_eq(pthread_create(&t9, NULL, wait_thread, &w9), 0);
  wait_parked(c, 2);
  int64_t three = 3, got;
  OK(call_int(p, "add", &three, &got)); /* 3: nobody yet */
  OK(call_int(p, "add", &three, &got)); /* 6: wakes the first */
  pthread_join(t5, NULL);
  OK(w5.rc);
  ck_assert_int_eq(w5.got, 6);
  wait_parked(c, 1);
  OK(call_int(p, "add", &three, &got)); /* 9: wakes the second */
  pthread_join(t9, NULL);
  OK(w9.rc);
  ck_assert_int_eq(w9.got, 9);

  sm_value *hundred = sm_value_int(100);
  const sm_value *args[1] = {hundred};
  FAILS(sm_call_timed(p, "wait_for", args, 1, 0, NULL), SM_ETIMEOUT);
  FAILS(sm_call_timed(p, "wait_for", args, 1, 50, NULL), SM_ETIMEOUT);
  wait_parked(c, 0);
  OK(call_int(p, "dead", NULL, &got));
  ck_assert_int_eq(got, 1);
  int64_t many = 1000;
  OK(call_int(p, "add", &many, &got));
  OK(call_int(p, "closed", NULL, &got));
  ck_assert_int_eq(got, 1);
  sm_value_free(hundred);
  sm_proxy_free(p);
  sm_proxy_free(wp);
  sm_client_free(c);
  sm_client_free(waiting);
  embedded_free(&e);
}
END_TEST

/* A client killed while its call is parked: the server drops the waiter,
 * the handle goes dead (answering it returns SM_ECLOSED), nothing crashes
 * and everyone else is still served. */
START_TEST(test_parked_disconnect) {
  embedded e;
  embedded_start(&e);
  sm_client *c = embedded_connect(&e);
  sm_proxy *p;
  OK(sm_proxy_open(c, "box", "gone", NULL, &p));
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) { /* a fresh client of its own, parked until killed */
    sm_client *cc = embedded_connect(&e);
    sm_proxy *cp;
    int64_t at = 1000;
    if (sm_proxy_open(cc, "box", "gone", NULL, &cp) != SM_OK) _exit(2);
    call_int(cp, "wait_for", &at, NULL);
    _exit(3);
  }
  wait_parked(c, 1);
  kill(pid, SIGKILL);
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFSIGNALED(status));
  wait_parked(c, 0);
  int64_t got, many = 1000;
  OK(call_int(p, "dead", NULL, &got));
  ck_assert_int_eq(got, 1);
  OK(call_int(p, "add", &many, &got));
  ck_assert_int_eq(got, 1000);
  OK(call_int(p, "closed", NULL, &got));
  ck_assert_int_eq(got, 1);
  OK(call_int(p, "dead", NULL, &got));
  ck_assert_int_eq(got, 0);
  sm_proxy_free(p);
  sm_client_free(c);
  embedded_free(&e);
}
END_TEST

/* ---- lifetime ---- */

/* Deleting a named box answers its parked call SM_ENOTFOUND and runs
 * destroy once (handles still parked are freed by the server: ASan would
 * see a leak); an anonymous box is destroyed with its last proxy; the
 * server frees what is left (and a server freed while its thread runs is
 * stopped and joined). */
START_TEST(test_destroy) {
  atomic_store(&box_destroyed, 0);
  embedded e;
  embedded_start(&e);
  sm_client *waiting = embedded_connect(&e), *c = embedded_connect(&e);
  sm_proxy *wp, *anon;
  OK(sm_proxy_open(waiting, "box", "doomed", NULL, &wp));
  waiter_arg w = {wp, 7, -99, 0};
  pthread_t t;
  ck_assert_int_eq(pthread_create(&t, NULL, wait_thread, &w), 0);
  wait_parked(c, 1);
  OK(sm_delete(c, "doomed"));
  pthread_join(t, NULL);
  ck_assert_int_eq(w.rc, SM_ENOTFOUND);
  ck_assert_int_eq(atomic_load(&box_destroyed), 1);
  wait_parked(c, 0);

  OK(sm_proxy_open(c, "box", NULL, NULL, &anon));
  sm_proxy_free(anon);
  for (int i = 0; i < 500 && atomic_load(&box_destroyed) < 2; i++)
    usleep(10000);
  ck_assert_int_eq(atomic_load(&box_destroyed), 2);

  sm_proxy *kept;
  OK(sm_proxy_open(c, "box", "kept", NULL, &kept));
  sm_proxy_free(kept);
  sm_proxy_free(wp);
  sm_client_free(c);
  sm_client_free(waiting);
  sm_server_free(e.s); /* still running: stops, joins, destroys "kept" */
  rmdir(e.dir);
  ck_assert_int_eq(atomic_load(&box_destroyed), 3);
}
END_TEST

Suite *custom_suite(void) {
  Suite *s = suite_create("custom");
  TCase *tc = tcase_create("register");
  tcase_add_test(tc, test_register_rules);
  suite_add_tcase(s, tc);
  tc = tcase_create("methods");
  tcase_add_test(tc, test_methods);
  tcase_add_test(tc, test_errors);
  suite_add_tcase(s, tc);
  tc = tcase_create("parking");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, test_parked_answered);
  tcase_add_test(tc, test_parked_disconnect);
  suite_add_tcase(s, tc);
  tc = tcase_create("lifetime");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, test_destroy);
  suite_add_tcase(s, tc);
  return s;
}
