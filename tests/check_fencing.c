/* SPDX-License-Identifier: MIT */
/* check_fencing.c - fencing tokens, guards and owner-death policies of
 * lock, rlock and semaphore (docs/objects.md "Fencing", docs/protocol.md
 * "Fencing, owner death and deadlocks") against a real statemgrd.
 *
 * Tokens: every grant (a lock, an rlock's first level, a semaphore unit,
 * served at once or after waiting, alone or in a pipeline) answers a token
 * greater than every earlier one of its object, and so it stays across a
 * crash and a clean restart of a durable daemon. Guards: Kleppmann's
 * fencing scenario (a holder whose connection was cut goes on writing with
 * its old token: FENCED, and the newer holder's write stays), a guard per
 * thread, per proxy and per pipeline, the errors of a guard that names a
 * free lock, a deleted one or a dict. Policies: a SIGKILLed holder under
 * release, break (the next acquire gets SM_EOWNERDEAD and holds the lock,
 * also after a restart of a durable daemon) and keep; the same for a
 * semaphore. */
#include "smtest_sync.h"

#include "../proto/auth.h"

#include <errno.h>
#include <sys/stat.h>

/* ---- tokens ---- */

/* Each grant of a lock, an rlock's first level and a semaphore unit has a
 * token above the last; an rlock's second level answers none. */
START_TEST(test_tokens_grow) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_lock *l;
  OK(sm_lock_open(c, "tok-lock", &l));
  uint64_t t1 = 0, t2 = 0;
  OK(sm_lock_acquire_token(l, SM_FOREVER, &t1));
  ck_assert_uint_gt(t1, 0);
  OK(sm_lock_release(l));
  OK(sm_lock_acquire_token(l, SM_FOREVER, &t2));
  ck_assert_uint_gt(t2, t1);
  FAILS(sm_lock_acquire_token(l, 0, &t1), SM_ETIMEOUT);
  ck_assert_uint_eq(t1, 0); /* no grant, no token */
  OK(sm_lock_release(l));

  sm_rlock *r;
  OK(sm_rlock_open(c, "tok-rlock", &r));
  uint64_t r1 = 0, r2 = 7, r3 = 0;
  OK(sm_rlock_acquire_token(r, SM_FOREVER, &r1));
  OK(sm_rlock_acquire_token(r, SM_FOREVER, &r2));
  ck_assert_uint_gt(r1, 0);
  ck_assert_uint_eq(r2, 0); /* the second level is no new grant */
  OK(sm_rlock_release(r));
  OK(sm_rlock_release(r));
  OK(sm_rlock_acquire_token(r, SM_FOREVER, &r3));
  ck_assert_uint_gt(r3, r1);
  OK(sm_rlock_release(r));

  sm_semaphore *s;
  OK(sm_semaphore_open(c, "tok-sem", 2, false, &s));
  uint64_t s1 = 0, s2 = 0;
  OK(sm_semaphore_acquire_token(s, SM_FOREVER, &s1));
  OK(sm_semaphore_acquire_token(s, SM_FOREVER, &s2));
  ck_assert_uint_gt(s2, s1);
  OK(sm_semaphore_release(s, 2));
  sm_semaphore_free(s);
  sm_rlock_free(r);
  sm_lock_free(l);
  sm_client_free(c);
}
END_TEST

typedef struct waiter_ctx {
  sm_lock *l;
  uint64_t token;
  int rc;
} waiter_ctx;

static void *wait_for_lock(void *arg) {
  waiter_ctx *x = arg;
  x->rc = sm_lock_acquire_token(x->l, SM_FOREVER, &x->token);
  if (x->rc == SM_OK || x->rc == SM_EOWNERDEAD) sm_lock_release(x->l);
  return NULL;
}

/* A waiter served when the holder releases gets the next token; so does a
 * call of a pipeline (sm_pipeline_token). */
START_TEST(test_token_of_served_waiter_and_pipeline) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_lock *l;
  OK(sm_lock_open(c, "tok-served", &l));
  uint64_t mine = 0;
  OK(sm_lock_acquire_token(l, SM_FOREVER, &mine));
  waiter_ctx x = {.l = l};
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, wait_for_lock, &x), 0);
  smtest_wait_waiters(c, 1);
  OK(sm_lock_release(l));
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  OK(x.rc);
  ck_assert_uint_eq(x.token, mine + 1);

  sm_pipeline *pl;
  OK(sm_pipeline_new(c, &pl));
  OK(sm_pipeline_call(pl, sm_lock_proxy(l), "acquire", NULL, 0));
  OK(sm_pipeline_call(pl, sm_lock_proxy(l), "release", NULL, 0));
  OK(sm_pipeline_exec(pl));
  OK(sm_pipeline_status(pl, 0));
  ck_assert_uint_eq(sm_pipeline_token(pl, 0), x.token + 1);
  ck_assert_uint_eq(sm_pipeline_token(pl, 1), 0);
  sm_pipeline_free(pl);
  sm_lock_free(l);
  sm_client_free(c);
}
END_TEST

/* ---- guards ---- */

/* The connection id of the client named name (its thread connection: the
 * one that holds something), or 0. */
static uint64_t conn_holding(sm_client *c, const char *name) {
  sm_value *list = NULL;
  OK(sm_clients(c, &list));
  uint64_t id = 0;
  sm_value *kname = sm_value_str("name"), *kholds = sm_value_str("holds"),
           *kid = sm_value_str("id");
  for (size_t i = 0; i < sm_value_len(list) && !id; i++) {
    const sm_value *m = sm_value_list_at(list, i);
    const char *n = sm_value_as_str(sm_value_map_get(m, kname), NULL);
    if (n && strcmp(n, name) == 0 && sm_value_len(sm_value_map_get(m, kholds)) > 0)
      id = (uint64_t)sm_value_as_int(sm_value_map_get(m, kid));
  }
  sm_value_free(kname);
  sm_value_free(kholds);
  sm_value_free(kid);
  sm_value_free(list);
  return id;
}

/* Kleppmann's fencing scenario: client A takes the lock (token t1) and
 * writes under it; A's connection is cut (a pause, a partition) and the
 * daemon gives the lock to B (token t2 > t1), who writes under t2; A, back,
 * writes again with t1: FENCED, and B's value stays. Without the guard A's
 * late write would have gone through. */
START_TEST(test_guard_refuses_stale_holder) {
  sm_options *o = sm_options_new();
  OK(sm_options_set_authkey_file(o, smtest_d.authkey_file));
  OK(sm_options_set_client_name(o, "writer-a"));
  sm_client *a;
  OK(sm_connect(smtest_d.tcp_url, o, &a));
  sm_options_free(o);
  sm_client *b = smtest_connect(&smtest_d, NULL);
  sm_lock *la, *lb;
  sm_dict *da, *db;
  OK(sm_lock_open(a, "fenced-lock", &la));
  OK(sm_lock_open(b, "fenced-lock", &lb));
  OK(sm_dict_open(a, "storage", &da));
  OK(sm_dict_open(b, "storage", &db));

  uint64_t t1 = 0, t2 = 0;
  OK(sm_lock_acquire_token(la, SM_FOREVER, &t1));
  OK(sm_client_set_guard(a, sm_lock_proxy(la), t1));
  OK(sm_dict_set_str(da, "file", "A1"));

  /* A's connection goes; B waits for the lock and gets it. */
  uint64_t conn = conn_holding(b, "writer-a");
  ck_assert_uint_gt(conn, 0);
  OK(sm_clients_kill(b, conn));
  OK(sm_lock_acquire_token(lb, 5000, &t2));
  ck_assert_uint_gt(t2, t1);
  OK(sm_client_set_guard(b, sm_lock_proxy(lb), t2));
  OK(sm_dict_set_str(db, "file", "B1"));

  /* A comes back (a new connection) and writes with its old token. */
  int rc = SM_ECLOSED;
  for (int i = 0; i < 3 && rc == SM_ECLOSED; i++)
    rc = sm_dict_set_str(da, "file", "A2");
  ck_assert_msg(rc == SM_EFENCED, "the stale write answered %s: %s", sm_errname(rc),
                sm_last_error());
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "stale"));
  char *v = NULL;
  OK(sm_dict_get_str(db, "file", &v));
  ck_assert_str_eq(v, "B1");
  sm_free(v);
  /* Reads and the guard-free path go on. */
  sm_client_clear_guard(a);
  OK(sm_dict_get_str(da, "file", &v));
  ck_assert_str_eq(v, "B1");
  sm_free(v);
  OK(sm_lock_release(lb));
  /* A free lock guards nothing: its last token is stale too. */
  FAILS(sm_dict_set_str(db, "file", "B2"), SM_EFENCED);
  sm_client_clear_guard(b);
  sm_dict_free(da);
  sm_dict_free(db);
  sm_lock_free(la);
  sm_lock_free(lb);
  sm_client_free(a);
  sm_client_free(b);
}
END_TEST

/* A proxy's own guard, a pipeline's, and the refusals of a guard naming
 * a dict (TYPE) or a deleted lock (FENCED). */
START_TEST(test_guard_forms) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_lock *l;
  sm_semaphore *s;
  sm_dict *d;
  OK(sm_lock_open(c, "g-lock", &l));
  OK(sm_semaphore_open(c, "g-sem", 3, false, &s));
  OK(sm_dict_open(c, "g-dict", &d));
  uint64_t t = 0, st1 = 0, st2 = 0;
  OK(sm_lock_acquire_token(l, SM_FOREVER, &t));

  /* Per proxy: the dict's calls are guarded, the lock's own are not. */
  OK(sm_proxy_set_guard(sm_dict_proxy(d), sm_lock_proxy(l), t));
  OK(sm_dict_set_int(d, "n", 1));
  OK(sm_proxy_set_guard(sm_dict_proxy(d), sm_lock_proxy(l), t + 1));
  FAILS(sm_dict_set_int(d, "n", 2), SM_EFENCED);
  OK(sm_proxy_set_guard(sm_dict_proxy(d), NULL, 0));
  int64_t n = 0;
  OK(sm_dict_get_int(d, "n", &n));
  ck_assert_int_eq(n, 1);

  /* A semaphore guards while no unit was granted since. */
  OK(sm_semaphore_acquire_token(s, SM_FOREVER, &st1));
  OK(sm_proxy_set_guard(sm_dict_proxy(d), sm_semaphore_proxy(s), st1));
  OK(sm_dict_set_int(d, "n", 3));
  OK(sm_semaphore_acquire_token(s, SM_FOREVER, &st2));
  FAILS(sm_dict_set_int(d, "n", 4), SM_EFENCED);
  OK(sm_proxy_set_guard(sm_dict_proxy(d), NULL, 0));

  /* Per pipeline: calls queued after the guard carry it. */
  sm_pipeline *pl;
  OK(sm_pipeline_new(c, &pl));
  sm_value *k = sm_value_str("p"), *v = sm_value_int(5);
  const sm_value *args[2] = {k, v};
  OK(sm_pipeline_call(pl, sm_dict_proxy(d), "set", args, 2));
  OK(sm_pipeline_set_guard(pl, sm_lock_proxy(l), t + 7));
  OK(sm_pipeline_call(pl, sm_dict_proxy(d), "set", args, 2));
  OK(sm_pipeline_set_guard(pl, sm_lock_proxy(l), t));
  OK(sm_pipeline_call(pl, sm_dict_proxy(d), "set", args, 2));
  OK(sm_pipeline_exec(pl));
  OK(sm_pipeline_status(pl, 0));
  ck_assert_int_eq(sm_pipeline_status(pl, 1), SM_EFENCED);
  OK(sm_pipeline_status(pl, 2));
  sm_pipeline_free(pl);
  sm_value_free(k);
  sm_value_free(v);

  /* A guard naming a dict is a type error; a deleted lock's is stale. */
  FAILS(sm_client_set_guard(c, NULL, 1), SM_EINVAL);
  OK(sm_client_set_guard(c, sm_dict_proxy(d), 1));
  FAILS(sm_dict_set_int(d, "n", 6), SM_ETYPE);
  sm_client_clear_guard(c);
  sm_lock *gone;
  OK(sm_lock_open(c, "g-gone", &gone));
  uint64_t tg = 0;
  OK(sm_lock_acquire_token(gone, SM_FOREVER, &tg));
  OK(sm_proxy_set_guard(sm_dict_proxy(d), sm_lock_proxy(gone), tg));
  OK(sm_dict_set_int(d, "n", 7));
  OK(sm_delete(c, "g-gone"));
  FAILS(sm_dict_set_int(d, "n", 9), SM_EFENCED);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "no longer exists"));
  OK(sm_proxy_set_guard(sm_dict_proxy(d), sm_lock_proxy(l), t)); /* still good */
  OK(sm_dict_set_int(d, "n", 8));
  OK(sm_proxy_set_guard(sm_dict_proxy(d), NULL, 0));
  OK(sm_dict_get_int(d, "n", &n));
  ck_assert_int_eq(n, 8);
  OK(sm_lock_release(l));
  OK(sm_semaphore_release(s, 2));
  sm_lock_free(gone);
  sm_dict_free(d);
  sm_semaphore_free(s);
  sm_lock_free(l);
  sm_client_free(c);
}
END_TEST

/* ---- owner-death policies ---- */

/* Forks a process that acquires lock name (policy) and reports, then
 * waits to be killed; returns its pid once it holds the lock. */
static pid_t holder_of(const char *name, sm_owner_policy policy, bool sem) {
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    sm_client *c = smtest_connect(&smtest_d, NULL);
    int rc;
    if (sem) {
      sm_semaphore *s;
      rc = sm_semaphore_open_policy(c, name, 1, false, policy, &s);
      if (rc == SM_OK) rc = sm_semaphore_acquire(s, SM_FOREVER);
    } else {
      sm_lock *l;
      rc = sm_lock_open_policy(c, name, policy, &l);
      if (rc == SM_OK) rc = sm_lock_acquire(l, SM_FOREVER);
    }
    char ok = rc == SM_OK || rc == SM_EOWNERDEAD ? 'y' : 'n'; /* held either way */
    if (write(p[1], &ok, 1) != 1) _exit(1);
    for (;;)
      pause();
  }
  char ok = 0;
  ck_assert_int_eq(read(p[0], &ok, 1), 1);
  ck_assert_int_eq(ok, 'y');
  close(p[0]);
  close(p[1]);
  return pid;
}

static void kill_holder(pid_t pid) {
  ck_assert_int_eq(kill(pid, SIGKILL), 0);
  ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
}

/* release: the next acquire gets the lock plainly, with a new token. */
START_TEST(test_policy_release) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  pid_t h = holder_of("pol-release", SM_OWNER_RELEASE, false);
  sm_lock *l;
  OK(sm_lock_open_policy(c, "pol-release", SM_OWNER_RELEASE, &l));
  kill_holder(h);
  uint64_t t = 0;
  OK(sm_lock_acquire_token(l, 5000, &t));
  ck_assert_uint_eq(t, 2);
  OK(sm_lock_release(l));
  sm_lock_free(l);
  sm_client_free(c);
}
END_TEST

/* break: a waiter parked when the holder dies gets the lock with
 * SM_EOWNERDEAD and a new token, and holds it; the acquire after its
 * release is a plain one again. */
START_TEST(test_policy_break) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  pid_t h = holder_of("pol-break", SM_OWNER_BREAK, false);
  sm_lock *l;
  OK(sm_lock_open_policy(c, "pol-break", SM_OWNER_BREAK, &l));
  waiter_ctx x = {.l = l};
  /* the waiter parks first; then the holder dies */
  uint64_t t = 0;
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, wait_for_lock, &x), 0);
  smtest_wait_waiters(c, 1);
  kill_holder(h);
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  ck_assert_msg(x.rc == SM_EOWNERDEAD, "the waiter got %s", sm_errname(x.rc));
  ck_assert_uint_eq(x.token, 2); /* it held the lock, and released it */
  /* not waiting: the holder dies while nobody waits */
  h = holder_of("pol-break", SM_OWNER_BREAK, false);
  kill_holder(h);
  SMTEST_REACHES((sm_lock_acquire_token(l, 0, &t) == SM_EOWNERDEAD ? 1 : 0), 1);
  ck_assert_uint_eq(t, 4);
  bool held = false;
  OK(sm_lock_locked(l, &held));
  ck_assert(held);
  OK(sm_lock_release(l));
  OK(sm_lock_acquire_token(l, 0, &t));
  ck_assert_uint_eq(t, 5);
  OK(sm_lock_release(l));
  sm_lock_free(l);
  sm_client_free(c);
}
END_TEST

/* keep: the dead holder's lock stays held (Python's); anyone may release
 * a plain lock, which is the way out. */
START_TEST(test_policy_keep) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  pid_t h = holder_of("pol-keep", SM_OWNER_KEEP, false);
  sm_lock *l;
  OK(sm_lock_open_policy(c, "pol-keep", SM_OWNER_KEEP, &l));
  kill_holder(h);
  FAILS(sm_lock_acquire(l, 300), SM_ETIMEOUT);
  OK(sm_lock_release(l));
  uint64_t t = 0;
  OK(sm_lock_acquire_token(l, 0, &t));
  ck_assert_uint_eq(t, 2);
  OK(sm_lock_release(l));
  sm_lock_free(l);
  sm_client_free(c);
}
END_TEST

/* A semaphore's units under break: the dead holder's unit comes back, and
 * the next grant answers SM_EOWNERDEAD; a bad policy is refused. */
START_TEST(test_policy_semaphore) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  pid_t h = holder_of("pol-sem", SM_OWNER_BREAK, true);
  sm_semaphore *s;
  OK(sm_semaphore_open_policy(c, "pol-sem", 1, false, SM_OWNER_BREAK, &s));
  kill_holder(h);
  uint64_t t = 0;
  SMTEST_REACHES((sm_semaphore_acquire_token(s, 0, &t) == SM_EOWNERDEAD ? 1 : 0), 1);
  ck_assert_uint_eq(t, 2);
  OK(sm_semaphore_release(s, 1));
  OK(sm_semaphore_acquire_token(s, 0, &t));
  ck_assert_uint_eq(t, 3);
  OK(sm_semaphore_release(s, 1));
  sm_semaphore *bad;
  FAILS(sm_semaphore_open_policy(c, "pol-bad", 1, false, (sm_owner_policy)9, &bad), SM_EINVAL);
  sm_value *forget = sm_value_str("forget");
  sm_proxy *p = NULL;
  FAILS(sm_proxy_open(c, "lock", NULL, forget, &p), SM_EVALUE);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "release, break, keep"));
  sm_value_free(forget);
  sm_semaphore_free(s);
  sm_client_free(c);
}
END_TEST

/* ---- older clients ---- */

/* A raw client of protocol version: acquire on object id, answering the
 * status and the response's token. */
static int raw_acquire(int fd, uint64_t seq, uint64_t id, int64_t timeout_ms, uint64_t *token) {
  vbuf b;
  vb_init(&b);
  wire_request_out r = {.seq = seq,
                        .object = id,
                        .method = "acquire",
                        .has_timeout = timeout_ms >= 0,
                        .timeout_ms = timeout_ms};
  ck_assert_int_eq(wire_request_encode(&b, &r), 0);
  smtest_send_all(fd, b.p, b.len);
  vb_free(&b);
  uint8_t buf[4096];
  long n = smtest_read_frame(fd, buf, sizeof buf, 5000);
  ck_assert_int_gt(n, 0);
  wire_response rs;
  ck_assert_int_eq(wire_response_decode((sm_span){buf, (size_t)n}, &rs), 0);
  ck_assert(rs.seq == seq);
  int status = rs.status;
  *token = rs.token;
  if (status == WS_OK || status == WS_OWNER_DEAD) ck_assert(rs.has_result); /* true */
  wire_response_release(&rs);
  return status;
}

static int raw_client(uint32_t version) {
  authkey k = smtest_key();
  int fd = smtest_raw_connect(smtest_d.tcp_url);
  ck_assert_int_eq(smtest_raw_handshake_as(fd, k.bytes, k.len, version, NULL, NULL, NULL, 0),
                   WS_OK);
  authkey_clear(&k);
  return fd;
}

/* A protocol-3 client gets what it always got: OK (no token) for a grant
 * whose last holder died, TIMEOUT at once for a wait that would deadlock;
 * a protocol-4 one gets OWNER_DEAD with the token, and DEADLOCK. */
START_TEST(test_older_protocol) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_lock *l;
  OK(sm_lock_open_policy(c, "old-break", SM_OWNER_BREAK, &l));
  uint64_t id = sm_proxy_id(sm_lock_proxy(l)), token = 99;
  for (uint32_t v = 3; v <= AUTH_PROTOCOL_FENCING; v++) {
    kill_holder(holder_of("old-break", SM_OWNER_BREAK, false));
    int fd = raw_client(v);
    int status = WS_TIMEOUT;
    for (int i = 0; i < 1000 && status == WS_TIMEOUT; i++)
      status = raw_acquire(fd, 1 + (uint64_t)i, id, 0, &token); /* until the death is seen */
    ck_assert_int_eq(status, v < AUTH_PROTOCOL_FENCING ? WS_OK : WS_OWNER_DEAD);
    ck_assert_uint_eq(token, v < AUTH_PROTOCOL_FENCING ? 0 : 4);
    /* the raw client holds it: waiting on it again is a cycle of one */
    status = raw_acquire(fd, 5000, id, 10000, &token);
    ck_assert_int_eq(status, v < AUTH_PROTOCOL_FENCING ? WS_TIMEOUT : WS_DEADLOCK);
    close(fd); /* its end gives the lock back (broken again) */
  }
  sm_lock_free(l);
  sm_client_free(c);
}
END_TEST

/* ---- across a restart of a durable daemon ---- */

static smtest_daemon dd;
static char dd_base[64], dd_data[128];
static const char *dd_args[4];

static void durable_up(void) {
  snprintf(dd_base, sizeof dd_base, "/tmp/smfence.XXXXXX");
  ck_assert_msg(mkdtemp(dd_base) != NULL, "mkdtemp: %s", strerror(errno));
  snprintf(dd_data, sizeof dd_data, "%s/data", dd_base);
  dd_args[0] = "--data-dir";
  dd_args[1] = dd_data;
  dd_args[2] = NULL;
  smtest_daemon_start(&dd, dd_args);
}

static void durable_down(void) {
  ck_assert_int_eq(smtest_daemon_stop(&dd), 0);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dd_base);
  ck_assert_int_eq(system(cmd), 0);
}

/* Grants a lock, an rlock and a semaphore unit three times each and gives
 * them back; returns the last tokens in t[3]. */
static void grant_three(sm_client *c, uint64_t t[3]) {
  sm_lock *l;
  sm_rlock *r;
  sm_semaphore *s;
  OK(sm_lock_open(c, "d-lock", &l));
  OK(sm_rlock_open(c, "d-rlock", &r));
  OK(sm_semaphore_open(c, "d-sem", 1, true, &s));
  for (int i = 0; i < 3; i++) {
    OK(sm_lock_acquire_token(l, SM_FOREVER, &t[0]));
    OK(sm_lock_release(l));
    OK(sm_rlock_acquire_token(r, SM_FOREVER, &t[1]));
    OK(sm_rlock_release(r));
    OK(sm_semaphore_acquire_token(s, SM_FOREVER, &t[2]));
    OK(sm_semaphore_release(s, 1));
  }
  sm_lock_free(l);
  sm_rlock_free(r);
  sm_semaphore_free(s);
}

/* Tokens keep growing across a crash (the log replayed) and across a clean
 * stop and a snapshot (the saved state). */
START_TEST(test_tokens_survive_restart) {
  durable_up();
  uint64_t before[3] = {0}, after[3] = {0};
  sm_client *c = smtest_connect(&dd, dd.unix_url);
  grant_three(c, before);
  /* A guarded write is logged with its guard, and replayed with it. */
  sm_lock *gl;
  sm_dict *gd;
  uint64_t gt = 0;
  OK(sm_lock_open(c, "d-guard", &gl));
  OK(sm_dict_open(c, "d-fenced", &gd));
  OK(sm_lock_acquire_token(gl, SM_FOREVER, &gt));
  OK(sm_client_set_guard(c, sm_lock_proxy(gl), gt));
  OK(sm_dict_set_str(gd, "k", "under the guard"));
  sm_client_clear_guard(c);
  OK(sm_lock_release(gl));
  sm_dict_free(gd);
  sm_lock_free(gl);
  sm_client_free(c);
  ck_assert_uint_eq(before[0], 3);
  smtest_daemon_kill(&dd, SIGKILL);
  smtest_daemon_restart_args(&dd, dd_args);
  c = smtest_connect(&dd, dd.unix_url);
  grant_three(c, after);
  for (int i = 0; i < 3; i++)
    ck_assert_uint_eq(after[i], before[i] + 3);
  OK(sm_dict_open(c, "d-fenced", &gd));
  char *v = NULL;
  OK(sm_dict_get_str(gd, "k", &v));
  ck_assert_str_eq(v, "under the guard");
  sm_free(v);
  sm_dict_free(gd);
  uint64_t index = 0;
  OK(sm_save(c, &index)); /* a snapshot holds the counters from now on */
  sm_client_free(c);
  ck_assert_int_eq(smtest_daemon_kill(&dd, SIGTERM), 0);
  smtest_daemon_restart_args(&dd, dd_args);
  c = smtest_connect(&dd, dd.unix_url);
  grant_three(c, after);
  for (int i = 0; i < 3; i++)
    ck_assert_uint_eq(after[i], before[i] + 6);
  sm_client_free(c);
  durable_down();
}
END_TEST

/* A break lock whose holder died before a crash still answers
 * SM_EOWNERDEAD after it (the session's end is in the log). */
START_TEST(test_break_survives_restart) {
  durable_up();
  sm_client *c = smtest_connect(&dd, dd.unix_url);
  sm_lock *l;
  OK(sm_lock_open_policy(c, "d-break", SM_OWNER_BREAK, &l));
  uint64_t t = 0;
  OK(sm_lock_acquire_token(l, SM_FOREVER, &t));
  sm_lock_free(l);
  sm_client_free(c); /* the holder goes: its session ends, logged */
  c = smtest_connect(&dd, dd.unix_url);
  SMTEST_REACHES(smtest_info_int(c, "connections"), 1);
  sm_client_free(c);
  smtest_daemon_kill(&dd, SIGKILL);
  smtest_daemon_restart_args(&dd, dd_args);
  c = smtest_connect(&dd, dd.unix_url);
  OK(sm_lock_open_policy(c, "d-break", SM_OWNER_BREAK, &l));
  FAILS(sm_lock_acquire_token(l, 0, &t), SM_EOWNERDEAD);
  ck_assert_uint_eq(t, 2);
  OK(sm_lock_release(l));
  sm_lock_free(l);
  sm_client_free(c);
  durable_down();
}
END_TEST

Suite *fencing_suite(void) {
  Suite *s = suite_create("fencing");
  TCase *tc = smtest_daemon_tcase(s, "tokens", 60);
  tcase_add_test(tc, test_tokens_grow);
  tcase_add_test(tc, test_token_of_served_waiter_and_pipeline);
  tc = smtest_daemon_tcase(s, "guards", 60);
  tcase_add_test(tc, test_guard_refuses_stale_holder);
  tcase_add_test(tc, test_guard_forms);
  tc = smtest_daemon_tcase(s, "policies", 60);
  tcase_add_test(tc, test_policy_release);
  tcase_add_test(tc, test_policy_break);
  tcase_add_test(tc, test_policy_keep);
  tcase_add_test(tc, test_policy_semaphore);
  tcase_add_test(tc, test_older_protocol);
  tc = tcase_create("durable");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_tokens_survive_restart);
  tcase_add_test(tc, test_break_survives_restart);
  suite_add_tcase(s, tc);
  return s;
}
