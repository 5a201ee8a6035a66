/* SPDX-License-Identifier: MIT */
/* check_eo.c - exactly once across a restart (issue 10, protocol 3): a
 * durable daemon keeps each session's answers of mutating calls until the
 * client acknowledges them, and a client whose connection drops resumes
 * its session and sends what was in flight again, with the same seqs.
 *
 * - A counter incremented by threads while the daemon is SIGKILLed and
 *   started again ends exactly at the increments issued: every call is
 *   answered, and the totals answered are 1..N, each once.
 * - A pipeline in flight across a crash is sent again: the calls applied
 *   before it are answered from the reply table, not applied twice.
 * - Raw protocol 3: a request applied before a crash and sent again after
 *   the resume gets the same answer and changes nothing (from the log's
 *   replay, and from a snapshot); a seq already acknowledged is refused;
 *   a parked acquire served before the crash is answered from the table.
 * - Grants sent again keep their fencing token and OWNER_DEAD status
 *   (direct and parked, OK and OWNER_DEAD; from the log and a snapshot).
 * - A lock held across a restart by a client that resumes stays held, and
 *   that client releases it; a holder that does not resume in time loses
 *   it to a waiter; a proxy of an anonymous object freed after a crash
 *   gives its reference back on the holder's resumed session.
 * - Resuming a session the daemon does not have, one a live connection
 *   has, or naming a wrong key, is refused with a reason (a new session is
 *   given); a protocol-2
 *   client works as before, with no session in its AuthResult; a client
 *   that never acknowledges is refused changes past --max-pending kept
 *   answers, and its kept answers count against --max-memory.
 *
 * Each test runs its own daemon on a data directory of its own in /tmp. */
#include "smtest.h"

#include "../proto/auth.h"
#include "../proto/frame.h"
#include "../proto/msg.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A daemon with a data directory that outlives its restarts. */
typedef struct durable {
  smtest_daemon d;
  char base[64];
  char data[128];
  const char *args[16];
} durable;

/* Starts a daemon on a fresh data directory with --session-resume-timeout
 * resume_timeout_ms and extra arguments (NULL-terminated, may be NULL). */
static void durable_start_with(durable *x, const char *resume_timeout_ms,
                               const char *const *extra) {
  memset(x, 0, sizeof *x);
  snprintf(x->base, sizeof x->base, "/tmp/smeo.XXXXXX");
  ck_assert_msg(mkdtemp(x->base) != NULL, "mkdtemp: %s", strerror(errno));
  snprintf(x->data, sizeof x->data, "%s/data", x->base);
  size_t n = 0;
  x->args[n++] = "--data-dir";
  x->args[n++] = x->data;
  x->args[n++] = "--session-resume-timeout";
  x->args[n++] = resume_timeout_ms;
  for (size_t i = 0; extra && extra[i] && n < 15; i++)
    x->args[n++] = extra[i];
  x->args[n] = NULL;
  smtest_daemon_start(&x->d, x->args);
}

static void durable_start(durable *x, const char *resume_timeout_ms) {
  durable_start_with(x, resume_timeout_ms, NULL);
}

/* SIGKILL (a crash), then a start on the same directory and socket. */
static void durable_crash(durable *x) {
  smtest_daemon_kill(&x->d, SIGKILL);
  smtest_daemon_restart_args(&x->d, x->args);
}

static void durable_stop(durable *x) {
  ck_assert_int_eq(smtest_daemon_stop(&x->d), 0);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", x->base);
  ck_assert_int_eq(system(cmd), 0);
}

/* A client of x whose calls wait up to 20 s for a restarting daemon. */
static sm_client *eo_connect(const durable *x) {
  sm_options *o = sm_options_new();
  sm_options_set_authkey_file(o, x->d.authkey_file);
  sm_options_set_failover_timeout(o, 20000);
  sm_client *c = NULL;
  OK(sm_connect(x->d.unix_url, o, &c));
  sm_options_free(o);
  return c;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- the counter across crashes ---- */

#define COUNTER_THREADS 4
#define COUNTER_ADDS 150
#define COUNTER_CRASHES 5

typedef struct adder {
  sm_client *c;
  int64_t totals[COUNTER_ADDS]; /* what each add answered */
  int failures;
  char why[256];
} adder;

static void *add_loop(void *arg) {
  adder *a = arg;
  sm_var *v;
  if (sm_var_open(a->c, "counter", NULL, &v) != SM_OK) {
    a->failures++;
    snprintf(a->why, sizeof a->why, "open: %s", sm_last_error());
    return NULL;
  }
  for (int i = 0; i < COUNTER_ADDS; i++) {
    int rc = sm_var_add_int(v, 1, &a->totals[i]);
    if (rc != SM_OK) {
      a->failures++;
      snprintf(a->why, sizeof a->why, "add %d: %s: %s", i, sm_errname(rc), sm_last_error());
      a->totals[i] = -1;
    }
  }
  sm_var_free(v);
  return NULL;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

START_TEST(counter_exactly_once_across_crashes) {
  durable x;
  durable_start(&x, "20000");
  sm_client *c = eo_connect(&x);
  sm_value *zero = sm_value_int(0);
  sm_var *v;
  OK(sm_var_open(c, "counter", zero, &v));
  sm_value_free(zero);
  static adder adders[COUNTER_THREADS];
  pthread_t th[COUNTER_THREADS];
  for (int i = 0; i < COUNTER_THREADS; i++) {
    memset(&adders[i], 0, sizeof adders[i]);
    adders[i].c = c;
    ck_assert_int_eq(pthread_create(&th[i], NULL, add_loop, &adders[i]), 0);
  }
  unsigned seed = (unsigned)time(NULL);
  for (int k = 0; k < COUNTER_CRASHES; k++) {
    sleep_ms(40 + rand_r(&seed) % 80);
    durable_crash(&x);
  }
  for (int i = 0; i < COUNTER_THREADS; i++)
    pthread_join(th[i], NULL);
  for (int i = 0; i < COUNTER_THREADS; i++)
    ck_assert_msg(adders[i].failures == 0, "thread %d: %d calls failed (%s)", i, adders[i].failures,
                  adders[i].why);
  /* Every add answered, none applied twice: the totals are 1..N. */
  enum { N = COUNTER_THREADS * COUNTER_ADDS };
  static int64_t all[N];
  for (int i = 0; i < COUNTER_THREADS; i++)
    memcpy(all + i * COUNTER_ADDS, adders[i].totals, sizeof adders[i].totals);
  qsort(all, N, sizeof all[0], cmp_i64);
  for (int i = 0; i < N; i++)
    ck_assert_msg(all[i] == i + 1, "the %d-th smallest total answered is %lld", i + 1,
                  (long long)all[i]);
  int64_t now;
  OK(sm_var_get_int(v, &now));
  ck_assert_int_eq(now, N);
  sm_var_free(v);
  sm_client_free(c);
  durable_stop(&x);
}
END_TEST

/* ---- a pipeline across a crash ---- */

typedef struct pipeline_run {
  sm_client *c;
  int rc;
  int statuses[3];
  int64_t first, second, got;
} pipeline_run;

/* Two adds and a get that parks on an empty queue, in one pipeline. */
static void *run_pipeline(void *arg) {
  pipeline_run *r = arg;
  sm_var *v;
  sm_queue *q;
  sm_pipeline *pl;
  r->rc = sm_var_open(r->c, "n", NULL, &v);
  if (r->rc != SM_OK) return NULL;
  if ((r->rc = sm_queue_open(r->c, "q", 0, &q)) != SM_OK) return NULL;
  if ((r->rc = sm_pipeline_new(r->c, &pl)) != SM_OK) return NULL;
  sm_value *one = sm_value_int(1);
  const sm_value *args[] = {one};
  sm_pipeline_call(pl, sm_var_proxy(v), "add", args, 1);
  sm_pipeline_call(pl, sm_var_proxy(v), "add", args, 1);
  sm_pipeline_call(pl, sm_queue_proxy(q), "get", NULL, 0);
  sm_value_free(one);
  r->rc = sm_pipeline_exec(pl);
  sm_value *res;
  for (int i = 0; i < 3; i++)
    r->statuses[i] = sm_pipeline_status(pl, i);
  int64_t *outs[] = {&r->first, &r->second, &r->got};
  for (int i = 0; i < 3; i++)
    if (r->statuses[i] == SM_OK && sm_pipeline_result(pl, i, &res) == SM_OK) {
      *outs[i] = sm_value_as_int(res);
      sm_value_free(res);
    }
  sm_pipeline_free(pl);
  sm_queue_free(q);
  sm_var_free(v);
  return NULL;
}

START_TEST(pipeline_resent_across_a_crash) {
  durable x;
  durable_start(&x, "20000");
  sm_client *c = eo_connect(&x), *other = eo_connect(&x);
  sm_value *zero = sm_value_int(0);
  sm_var *v;
  OK(sm_var_open(c, "n", zero, &v));
  sm_value_free(zero);
  sm_queue *q;
  OK(sm_queue_open(other, "q", 0, &q));
  pipeline_run r = {.c = c};
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, run_pipeline, &r), 0);
  /* The adds are applied and the get waits: the pipeline is in flight. */
  double t0 = smtest_now_s();
  while (smtest_info_int(other, "waiters") < 1 && smtest_now_s() - t0 < 10)
    sleep_ms(5);
  ck_assert_int_eq(smtest_info_int(other, "waiters"), 1);
  durable_crash(&x);
  /* Resent: the adds come from the reply table, the get waits again. */
  t0 = smtest_now_s();
  while (smtest_info_int(other, "waiters") < 1 && smtest_now_s() - t0 < 10)
    sleep_ms(5);
  ck_assert_int_eq(smtest_info_int(other, "waiters"), 1);
  OK(sm_queue_put_int(q, 77, -1));
  pthread_join(th, NULL);
  OK(r.rc);
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(r.statuses[i], SM_OK);
  ck_assert_int_eq(r.first, 1);
  ck_assert_int_eq(r.second, 2);
  ck_assert_int_eq(r.got, 77);
  int64_t now;
  OK(sm_var_get_int(v, &now));
  ck_assert_int_eq(now, 2); /* not 4 */
  ck_assert(smtest_daemon_log_has(&x.d, "resumed session", 0));
  sm_queue_free(q);
  sm_var_free(v);
  sm_client_free(other);
  sm_client_free(c);
  durable_stop(&x);
}
END_TEST

/* ---- raw protocol 3 ---- */

/* A raw protocol connection: its socket and session. */
typedef struct raw3 {
  int fd;
  wire_daemon_info info;
  char text[256]; /* the AuthResult's text */
} raw3;

/* Connects to x in protocol version, asking to resume session resume (0:
 * none) of key key, and checks the daemon's proof. */
static void raw3_open(raw3 *r, const durable *x, uint32_t version, uint64_t resume, uint64_t key) {
  memset(r, 0, sizeof *r);
  authkey k = {0};
  char err[256];
  ck_assert_msg(authkey_load(x->d.authkey_file, false, &k, err, sizeof err) == 0, "%s", err);
  r->fd = smtest_raw_connect(x->d.unix_url);
  uint8_t buf[4096], sc[AUTH_CHALLENGE_LEN], cc[AUTH_CHALLENGE_LEN], mac[AUTH_MAC_LEN];
  long n = smtest_read_frame(r->fd, buf, sizeof buf, 5000);
  ck_assert_int_gt(n, 0);
  uint32_t oldest, newest;
  ck_assert_int_eq(wire_hello_decode((sm_span){buf, (size_t)n}, &oldest, &newest, sc), 0);
  ck_assert_uint_eq(newest, AUTH_PROTOCOL_VERSION);
  auth_random(cc, sizeof cc);
  auth_client_mac(k.bytes, k.len, sc, cc, mac);
  vbuf b;
  vb_init(&b);
  ck_assert_int_eq(wire_auth_encode_resume(&b, version, mac, cc, "eo-test", resume, key), 0);
  smtest_send_all(r->fd, b.p, b.len);
  vb_free(&b);
  n = smtest_read_frame(r->fd, buf, sizeof buf, 5000);
  ck_assert_int_gt(n, 0);
  int status;
  bool has_mac;
  ck_assert_int_eq(wire_auth_result_decode((sm_span){buf, (size_t)n}, &status, mac, &has_mac,
                                           r->text, sizeof r->text, &r->info),
                   0);
  ck_assert_int_eq(status, WS_OK);
  uint8_t expect[AUTH_MAC_LEN];
  auth_server_mac(k.bytes, k.len, sc, cc, expect);
  ck_assert(has_mac && auth_mac_ok(mac, sizeof mac, expect));
  authkey_clear(&k);
}

static void raw3_send(const raw3 *r, uint64_t seq, uint64_t ack, uint64_t object,
                      const char *method, const int64_t *arg);
static int raw3_answer(const raw3 *r, uint64_t seq, int64_t *out, char *err, size_t errlen);

/* Sends one request (an int argument unless arg is NULL) with seq and ack,
 * and returns the status of its answer; *out gets an int result. */
static int raw3_call(const raw3 *r, uint64_t seq, uint64_t ack, uint64_t object, const char *method,
                     const int64_t *arg, int64_t *out, char *err, size_t errlen) {
  raw3_send(r, seq, ack, object, method, arg);
  return raw3_answer(r, seq, out, err, errlen);
}

/* Sends one request, answered later (raw3_answer). */
static void raw3_send(const raw3 *r, uint64_t seq, uint64_t ack, uint64_t object,
                      const char *method, const int64_t *arg) {
  uint8_t raw[16];
  vbuf a = {.p = raw, .cap = sizeof raw};
  if (arg) vb_int(&a, *arg);
  sm_span span = vb_span(&a);
  wire_request_out req = {.seq = seq,
                          .object = object,
                          .method = method,
                          .args = &span,
                          .nargs = arg ? 1 : 0,
                          .ack = ack};
  vbuf b;
  vb_init(&b);
  ck_assert_int_eq(wire_request_encode(&b, &req), 0);
  smtest_send_all(r->fd, b.p, b.len);
  vb_free(&b);
}

/* Waits for the answer of seq (others are skipped): its status, with an
 * int (or bool) result in *out. */
static int raw3_answer(const raw3 *r, uint64_t seq, int64_t *out, char *err, size_t errlen) {
  static uint8_t buf[1 << 16];
  for (;;) {
    long n = smtest_read_frame(r->fd, buf, sizeof buf, 10000);
    ck_assert_int_gt(n, 0);
    wire_response resp;
    ck_assert_int_eq(wire_response_decode((sm_span){buf, (size_t)n}, &resp), 0);
    if (resp.seq != seq) {
      wire_response_release(&resp);
      continue;
    }
    int status = resp.status;
    if (err) snprintf(err, errlen, "%s", resp.error ? resp.error : "");
    if (out && status == WS_OK && resp.has_result) {
      vinfo vi;
      ck_assert_int_eq(vw_peek(resp.result, &vi), VW_OK);
      *out = vi.kind == VK_INT ? vi.i : (vi.kind == VK_BOOL ? vi.b : -1);
    }
    wire_response_release(&resp);
    return status;
  }
}

/* A named value's id, made with initial 0 over a client of x. */
static uint64_t make_value(const durable *x, const char *name) {
  sm_client *c = eo_connect(x);
  sm_value *zero = sm_value_int(0);
  sm_var *v;
  OK(sm_var_open(c, name, zero, &v));
  sm_value_free(zero);
  uint64_t id = sm_proxy_id(sm_var_proxy(v));
  sm_var_free(v);
  sm_client_free(c);
  return id;
}

static int64_t value_now(const durable *x, const char *name) {
  sm_client *c = eo_connect(x);
  sm_var *v;
  OK(sm_var_open(c, name, NULL, &v));
  int64_t n;
  OK(sm_var_get_int(v, &n));
  sm_var_free(v);
  sm_client_free(c);
  return n;
}

/* Writes a snapshot of x (the CLI's save, which answers once it is
 * written): a restart then loads it and replays only the log after it. */
static void save_snapshot(const durable *x) {
  char cmd[1200], out[256];
  snprintf(cmd, sizeof cmd, "'%s' -u '%s' --authkey-file '%s' save", getenv("STATEMGR_CLI"),
           x->d.unix_url, x->d.authkey_file);
  ck_assert_msg(smtest_run(cmd, out, sizeof out) == 0, "save: %s", out);
}

/* A call applied before a crash and sent again on the resumed session is
 * answered as before and not applied again: from the log's replay
 * (snapshot false), or from a snapshot's sessions table (true). */
static void resend_after_crash(bool snapshot) {
  durable x;
  durable_start(&x, "20000");
  uint64_t id = make_value(&x, "v");
  raw3 r;
  raw3_open(&r, &x, AUTH_PROTOCOL_VERSION, 0, 0);
  ck_assert(r.info.session != 0 && r.info.durable && !r.info.resumed);
  int64_t five = 5, got = 0;
  ck_assert_int_eq(raw3_call(&r, 1, 0, id, "add", &five, &got, NULL, 0), WS_OK);
  ck_assert_int_eq(got, 5);
  ck_assert_int_eq(raw3_call(&r, 2, 1, id, "add", &five, &got, NULL, 0), WS_OK);
  ck_assert_int_eq(got, 10);
  if (snapshot) save_snapshot(&x);
  durable_crash(&x);
  close(r.fd);
  uint64_t session = r.info.session, key = r.info.key;
  raw3_open(&r, &x, AUTH_PROTOCOL_VERSION, session, key);
  ck_assert_msg(r.info.resumed && r.info.session == session, "not resumed: %s", r.text);
  /* seq 2 again (its answer was lost, say): the kept answer, no change. */
  got = 0;
  ck_assert_int_eq(raw3_call(&r, 2, 1, id, "add", &five, &got, NULL, 0), WS_OK);
  ck_assert_int_eq(got, 10);
  ck_assert_int_eq(value_now(&x, "v"), 10);
  /* seq 1 was acknowledged (ack 1 came with seq 2): refused, not run. */
  char err[256];
  ck_assert_int_eq(raw3_call(&r, 1, 2, id, "add", &five, &got, err, sizeof err), WS_VALUE_ERROR);
  ck_assert_msg(strstr(err, "acknowledged") != NULL, "%s", err);
  /* A new seq is applied. */
  ck_assert_int_eq(raw3_call(&r, 3, 2, id, "add", &five, &got, NULL, 0), WS_OK);
  ck_assert_int_eq(got, 15);
  close(r.fd);
  durable_stop(&x);
}

START_TEST(resend_answered_from_the_replayed_log) { resend_after_crash(false); }
END_TEST

START_TEST(resend_answered_from_a_snapshot) { resend_after_crash(true); }
END_TEST

/* A parked acquire served later keeps its answer too (logged with the
 * waiter's seq, replayed as the lock's _grant): sent again after a crash,
 * it is answered true from the table, and the lock is still its own. */
START_TEST(parked_call_served_then_resent) {
  durable x;
  durable_start(&x, "20000");
  sm_client *c = eo_connect(&x);
  sm_lock *lk;
  OK(sm_lock_open(c, "k", &lk));
  uint64_t id = sm_proxy_id(sm_lock_proxy(lk));
  raw3 a, b;
  raw3_open(&a, &x, AUTH_PROTOCOL_VERSION, 0, 0);
  raw3_open(&b, &x, AUTH_PROTOCOL_VERSION, 0, 0);
  int64_t got = 0;
  ck_assert_int_eq(raw3_call(&a, 1, 0, id, "acquire", NULL, &got, NULL, 0), WS_OK);
  raw3_send(&b, 7, 0, id, "acquire", NULL); /* parks behind a */
  double t0 = smtest_now_s();
  while (smtest_info_int(c, "waiters") < 1 && smtest_now_s() - t0 < 10)
    sleep_ms(5);
  ck_assert_int_eq(raw3_call(&a, 2, 1, id, "release", NULL, NULL, NULL, 0), WS_OK);
  ck_assert_int_eq(raw3_answer(&b, 7, &got, NULL, 0), WS_OK); /* granted */
  ck_assert_int_eq(got, 1);
  durable_crash(&x);
  close(a.fd);
  close(b.fd);
  uint64_t session = b.info.session, key = b.info.key;
  raw3_open(&b, &x, AUTH_PROTOCOL_VERSION, session, key);
  ck_assert_msg(b.info.resumed, "%s", b.text);
  got = 0;
  ck_assert_int_eq(raw3_call(&b, 7, 0, id, "acquire", NULL, &got, NULL, 0), WS_OK);
  ck_assert_int_eq(got, 1);                     /* the kept answer: no second acquisition */
  FAILS(sm_lock_acquire(lk, 200), SM_ETIMEOUT); /* b's, once */
  ck_assert_int_eq(raw3_call(&b, 8, 7, id, "release", NULL, NULL, NULL, 0), WS_OK);
  OK(sm_lock_acquire(lk, 2000));
  OK(sm_lock_release(lk));
  close(b.fd);
  sm_lock_free(lk);
  sm_client_free(c);
  durable_stop(&x);
}
END_TEST

/* Waits for the answer of seq, a grant: its status, with its token in
 * *token (an OK or OWNER_DEAD grant answers true). */
static int raw3_grant(const raw3 *r, uint64_t seq, uint64_t *token) {
  static uint8_t buf[1 << 16];
  for (;;) {
    long n = smtest_read_frame(r->fd, buf, sizeof buf, 10000);
    ck_assert_int_gt(n, 0);
    wire_response resp;
    ck_assert_int_eq(wire_response_decode((sm_span){buf, (size_t)n}, &resp), 0);
    if (resp.seq != seq) {
      wire_response_release(&resp);
      continue;
    }
    int status = resp.status;
    *token = resp.token;
    if (status == WS_OK || status == WS_OWNER_DEAD) {
      vinfo vi;
      ck_assert(resp.has_result);
      ck_assert_int_eq(vw_peek(resp.result, &vi), VW_OK);
      ck_assert(vi.kind == VK_BOOL && vi.b);
    }
    wire_response_release(&resp);
    return status;
  }
}

/* Sends an acquire (seq, ack 0: every answer stays kept) and waits for
 * its grant. */
static int raw3_acquire(const raw3 *r, uint64_t seq, uint64_t id, uint64_t *token) {
  raw3_send(r, seq, 0, id, "acquire", NULL);
  return raw3_grant(r, seq, token);
}

/* Waits until c's daemon has n waiters. */
static void wait_waiters(sm_client *c, int64_t n) {
  double t0 = smtest_now_s();
  while (smtest_info_int(c, "waiters") < n && smtest_now_s() - t0 < 10)
    sleep_ms(5);
  ck_assert_int_eq(smtest_info_int(c, "waiters"), n);
}

/* A client of x that takes break lock name and goes (its session ends:
 * the lock's last holder died holding it). With waiting, a waiter is
 * parked first and the end grants it. */
static void holder_dies(const durable *x, sm_client *c, const char *name) {
  int64_t conns = smtest_info_int(c, "connections");
  sm_client *h = eo_connect(x);
  sm_lock *l;
  OK(sm_lock_open_policy(h, name, SM_OWNER_BREAK, &l));
  OK(sm_lock_acquire(l, 2000));
  sm_lock_free(l);
  sm_client_free(h);
  double t0 = smtest_now_s();
  while (smtest_info_int(c, "connections") > conns && smtest_now_s() - t0 < 10)
    sleep_ms(5);
}

/* The answers of grants kept for a resend keep the fencing token and the
 * OWNER_DEAD status (a grant of a lock whose last holder died, policy
 * break): a direct grant and a parked one served later, OK and
 * OWNER_DEAD, of a lock and of a semaphore, each sent again after a crash is answered with the same
 * status and token and changes nothing. From the log's replay (snapshot
 * false) and from a snapshot's sessions table. */
static void grants_resent_after_crash(bool snapshot) {
  durable x;
  durable_start(&x, "20000");
  sm_client *c = eo_connect(&x);
  sm_lock *lk;
  OK(sm_lock_open_policy(c, "fenced", SM_OWNER_BREAK, &lk));
  uint64_t id = sm_proxy_id(sm_lock_proxy(lk)), t = 0;
  raw3 a, b;
  raw3_open(&a, &x, AUTH_PROTOCOL_VERSION, 0, 0);
  raw3_open(&b, &x, AUTH_PROTOCOL_VERSION, 0, 0);
  /* a: a direct OK grant (token 1) */
  ck_assert_int_eq(raw3_acquire(&a, 1, id, &t), WS_OK);
  ck_assert_uint_eq(t, 1);
  ck_assert_int_eq(raw3_call(&a, 2, 0, id, "release", NULL, NULL, NULL, 0), WS_OK);
  /* b: parked, granted OWNER_DEAD by the holder's end (holder: token 2) */
  sm_client *h = eo_connect(&x);
  sm_lock *hl;
  OK(sm_lock_open_policy(h, "fenced", SM_OWNER_BREAK, &hl));
  OK(sm_lock_acquire(hl, 2000));
  raw3_send(&b, 7, 0, id, "acquire", NULL);
  wait_waiters(c, 1);
  sm_lock_free(hl);
  sm_client_free(h);
  ck_assert_int_eq(raw3_grant(&b, 7, &t), WS_OWNER_DEAD);
  ck_assert_uint_eq(t, 3);
  ck_assert_int_eq(raw3_call(&b, 8, 0, id, "release", NULL, NULL, NULL, 0), WS_OK);
  /* a: a direct OWNER_DEAD grant (the holder took token 4) */
  holder_dies(&x, c, "fenced");
  ck_assert_int_eq(raw3_acquire(&a, 3, id, &t), WS_OWNER_DEAD);
  ck_assert_uint_eq(t, 5);
  /* b: parked behind a, granted OK by a's release */
  raw3_send(&b, 9, 0, id, "acquire", NULL);
  wait_waiters(c, 1);
  ck_assert_int_eq(raw3_call(&a, 4, 0, id, "release", NULL, NULL, NULL, 0), WS_OK);
  ck_assert_int_eq(raw3_grant(&b, 9, &t), WS_OK);
  ck_assert_uint_eq(t, 6);
  ck_assert_int_eq(raw3_call(&b, 10, 0, id, "release", NULL, NULL, NULL, 0), WS_OK);
  /* a semaphore's grants: a direct one (a), a parked one (b) */
  sm_semaphore *sem;
  OK(sm_semaphore_open(c, "fenced-sem", 1, true, &sem));
  uint64_t sid = sm_proxy_id(sm_semaphore_proxy(sem));
  ck_assert_int_eq(raw3_acquire(&a, 5, sid, &t), WS_OK);
  ck_assert_uint_eq(t, 1);
  raw3_send(&b, 11, 0, sid, "acquire", NULL);
  wait_waiters(c, 1);
  ck_assert_int_eq(raw3_call(&a, 6, 0, sid, "release", NULL, NULL, NULL, 0), WS_OK);
  ck_assert_int_eq(raw3_grant(&b, 11, &t), WS_OK);
  ck_assert_uint_eq(t, 2);
  ck_assert_int_eq(raw3_call(&b, 12, 0, sid, "release", NULL, NULL, NULL, 0), WS_OK);
  if (snapshot) save_snapshot(&x);
  durable_crash(&x);
  close(a.fd);
  close(b.fd);
  uint64_t sa = a.info.session, ka = a.info.key, sb = b.info.session, kb = b.info.key;
  raw3_open(&a, &x, AUTH_PROTOCOL_VERSION, sa, ka);
  ck_assert_msg(a.info.resumed, "%s", a.text);
  raw3_open(&b, &x, AUTH_PROTOCOL_VERSION, sb, kb);
  ck_assert_msg(b.info.resumed, "%s", b.text);
  /* each grant sent again: its kept answer, token and status */
  ck_assert_int_eq(raw3_acquire(&a, 1, id, &t), WS_OK);
  ck_assert_uint_eq(t, 1);
  ck_assert_int_eq(raw3_acquire(&b, 7, id, &t), WS_OWNER_DEAD);
  ck_assert_uint_eq(t, 3);
  ck_assert_int_eq(raw3_acquire(&a, 3, id, &t), WS_OWNER_DEAD);
  ck_assert_uint_eq(t, 5);
  ck_assert_int_eq(raw3_acquire(&b, 9, id, &t), WS_OK);
  ck_assert_uint_eq(t, 6);
  ck_assert_int_eq(raw3_acquire(&a, 5, sid, &t), WS_OK);
  ck_assert_uint_eq(t, 1);
  ck_assert_int_eq(raw3_acquire(&b, 11, sid, &t), WS_OK);
  ck_assert_uint_eq(t, 2);
  /* nothing applied again: the lock is free, and the next grant is 7 */
  OK(sm_lock_acquire_token(lk, 2000, &t));
  ck_assert_uint_eq(t, 7);
  OK(sm_lock_release(lk));
  OK(sm_semaphore_acquire_token(sem, 2000, &t));
  ck_assert_uint_eq(t, 3);
  OK(sm_semaphore_release(sem, 1));
  sm_semaphore_free(sem);
  close(a.fd);
  close(b.fd);
  sm_lock_free(lk);
  sm_client_free(c);
  durable_stop(&x);
}

START_TEST(grants_resent_keep_token_from_the_replayed_log) { grants_resent_after_crash(false); }
END_TEST

START_TEST(grants_resent_keep_token_from_a_snapshot) { grants_resent_after_crash(true); }
END_TEST

/* Resuming what the daemon does not have, what a live connection has, or
 * with a key that is not the session's, is refused with a reason: the
 * connection gets a new session. */
START_TEST(resume_refused_unknown_or_live) {
  durable x;
  durable_start(&x, "20000");
  raw3 r, r2, r3;
  raw3_open(&r, &x, AUTH_PROTOCOL_VERSION, 123456789, 1);
  ck_assert(!r.info.resumed && r.info.session != 0 && r.info.session != 123456789);
  ck_assert_msg(strstr(r.text, "session 123456789 cannot be resumed") != NULL, "%s", r.text);
  ck_assert(r.info.key != 0); /* its new session's */
  uint64_t session = r.info.session, key = r.info.key;
  /* Its own session, while it lives: refused (a session is one connection's). */
  raw3_open(&r2, &x, AUTH_PROTOCOL_VERSION, session, key);
  ck_assert_msg(!r2.info.resumed && strstr(r2.text, "cannot be resumed") != NULL, "%s", r2.text);
  close(r2.fd);
  durable_crash(&x);
  close(r.fd);
  /* After the crash it is suspended: a wrong key is refused, the first
   * resume with its key takes it, the next finds it held by a live
   * connection. */
  raw3_open(&r2, &x, AUTH_PROTOCOL_VERSION, session, key + 1);
  ck_assert(!r2.info.resumed && r2.info.session != session);
  ck_assert_msg(strstr(r2.text, "not its key") != NULL, "%s", r2.text);
  close(r2.fd);
  raw3_open(&r2, &x, AUTH_PROTOCOL_VERSION, session, key);
  ck_assert_msg(r2.info.resumed && r2.info.session == session && r2.info.key == key, "%s", r2.text);
  raw3_open(&r3, &x, AUTH_PROTOCOL_VERSION, session, key);
  ck_assert(!r3.info.resumed && r3.info.session != session);
  ck_assert_msg(strstr(r3.text, "a live connection has it") != NULL, "%s", r3.text);
  close(r3.fd);
  close(r2.fd);
  durable_stop(&x);
}
END_TEST

/* A client that never acknowledges is bounded: past --max-pending kept
 * answers its changes are refused (FULL, saying why), its reads go on, and
 * an ack lets changes in again. */
START_TEST(unacknowledged_answers_are_bounded) {
  enum { MAX = 1000 };
  static const char *const extra[] = {"--max-pending", "1000", NULL}; /* the bound's option */
  durable x;
  durable_start_with(&x, "20000", extra);
  uint64_t id = make_value(&x, "v");
  raw3 r;
  raw3_open(&r, &x, AUTH_PROTOCOL_VERSION, 0, 0);
  uint8_t raw[16];
  vbuf a = {.p = raw, .cap = sizeof raw};
  vb_int(&a, 1);
  sm_span one = vb_span(&a);
  vbuf b;
  vb_init(&b);
  for (uint64_t seq = 1; seq <= MAX; seq++) {
    wire_request_out req = {.seq = seq, .object = id, .method = "add", .args = &one, .nargs = 1};
    ck_assert_int_eq(wire_request_encode(&b, &req), 0);
  }
  smtest_send_all(r.fd, b.p, b.len);
  vb_free(&b);
  static uint8_t buf[256];
  for (int i = 0; i < MAX; i++) {
    long n = smtest_read_frame(r.fd, buf, sizeof buf, 30000);
    ck_assert_int_gt(n, 0);
    wire_response resp;
    ck_assert_int_eq(wire_response_decode((sm_span){buf, (size_t)n}, &resp), 0);
    ck_assert_int_eq(resp.status, WS_OK);
    wire_response_release(&resp);
  }
  char err[256];
  int64_t one_i = 1, got = 0;
  ck_assert_int_eq(raw3_call(&r, MAX + 1, 0, id, "add", &one_i, &got, err, sizeof err), WS_FULL);
  ck_assert_msg(strstr(err, "acknowledgement") != NULL, "%s", err);
  ck_assert_int_eq(raw3_call(&r, MAX + 2, 0, id, "get", NULL, &got, NULL, 0), WS_OK);
  ck_assert_int_eq(got, MAX);
  ck_assert_int_eq(raw3_call(&r, MAX + 3, MAX + 2, id, "add", &one_i, &got, NULL, 0), WS_OK);
  ck_assert_int_eq(got, MAX + 1);
  close(r.fd);
  durable_stop(&x);
}
END_TEST

/* Kept answers are data (--max-memory counts them, as Redis counts client
 * output buffers): a session that pops big items without acknowledging
 * them keeps their bytes, so used_memory does not drop, and calls that
 * grow the data are refused OUT_OF_MEMORY sooner; the session's ack gives
 * the bytes back and growing calls go on. Nothing is evicted: pops,
 * deletes and reads go on all the while. Before, the kept answers were
 * not counted at all. */
#define KEPT_ITEMS 24
#define KEPT_LEN 50000
START_TEST(kept_answers_count_against_max_memory) {
  static const char *const extra[] = {"--max-memory", "2M", NULL};
  durable x;
  durable_start_with(&x, "20000", extra);
  sm_client *c = eo_connect(&x);
  sm_list *l;
  OK(sm_list_open(c, "big", &l));
  char *item = malloc(KEPT_LEN + 1);
  ck_assert_ptr_nonnull(item);
  memset(item, 'k', KEPT_LEN);
  item[KEPT_LEN] = '\0';
  for (int i = 0; i < KEPT_ITEMS; i++)
    OK(sm_list_append_str(l, item));
  uint64_t id = sm_proxy_id(sm_list_proxy(l));
  int64_t full = smtest_info_int(c, "used_memory");
  ck_assert_int_gt(full, KEPT_ITEMS * KEPT_LEN);

  raw3 r; /* pops every item and acknowledges none */
  raw3_open(&r, &x, AUTH_PROTOCOL_VERSION, 0, 0);
  for (uint64_t seq = 1; seq <= KEPT_ITEMS; seq++)
    ck_assert_int_eq(raw3_call(&r, seq, 0, id, "pop", NULL, NULL, NULL, 0), WS_OK);
  size_t n = 1;
  OK(sm_list_len(l, &n));
  ck_assert_int_eq(n, 0);
  int64_t kept = smtest_info_int(c, "used_memory");
  ck_assert_msg(kept > full - KEPT_LEN,
                "used_memory %lld after the pops, %lld before: the kept "
                "answers are not counted",
                (long long)kept, (long long)full);
  int appended = 0; /* the room left: what the kept answers leave */
  int rc;
  while ((rc = sm_list_append_str(l, item)) == SM_OK)
    appended++;
  ck_assert_int_eq(rc, SM_EMAXMEMORY);
  ck_assert_int_lt(appended, KEPT_ITEMS); /* about 40 without them */
  sm_value *popped = NULL;
  OK(sm_list_pop(l, -1, &popped)); /* changes that make room go on */
  sm_value_free(popped);

  /* The ack (with a read) gives the kept answers back. */
  kept = smtest_info_int(c, "used_memory");
  int64_t len = -1;
  ck_assert_int_eq(raw3_call(&r, KEPT_ITEMS + 1, KEPT_ITEMS, id, "len", NULL, &len, NULL, 0),
                   WS_OK);
  int64_t acked = smtest_info_int(c, "used_memory");
  ck_assert_int_lt(acked, kept - (KEPT_ITEMS - 1) * KEPT_LEN);
  OK(sm_list_append_str(l, item));
  close(r.fd);
  free(item);
  sm_list_free(l);
  sm_client_free(c);
  durable_stop(&x);
}
END_TEST

/* A protocol-2 client of a durable daemon: no session in its AuthResult,
 * calls work as before (no ack, no reply table). */
START_TEST(protocol_2_client_works) {
  durable x;
  durable_start(&x, "20000");
  uint64_t id = make_value(&x, "v");
  raw3 r;
  raw3_open(&r, &x, 2, 0, 0);
  ck_assert(r.info.session == 0 && !r.info.durable && r.info.instance != 0);
  int64_t one = 1, got = 0;
  ck_assert_int_eq(raw3_call(&r, 1, 0, id, "add", &one, &got, NULL, 0), WS_OK);
  ck_assert_int_eq(got, 1);
  ck_assert_int_eq(raw3_call(&r, 1, 0, id, "add", &one, &got, NULL, 0), WS_OK);
  ck_assert_int_eq(got, 2); /* the same seq again is a new call for protocol 2 */
  close(r.fd);
  /* In memory, a protocol-3 client is told the daemon is not durable. */
  smtest_daemon mem;
  smtest_daemon_start(&mem, NULL);
  authkey k = {0};
  char err[256];
  ck_assert_msg(authkey_load(mem.authkey_file, false, &k, err, sizeof err) == 0, "%s", err);
  int fd = smtest_raw_connect(mem.unix_url);
  wire_daemon_info info;
  ck_assert_int_eq(
      smtest_raw_handshake_as(fd, k.bytes, k.len, AUTH_PROTOCOL_VERSION, NULL, &info, NULL, 0),
      WS_OK);
  ck_assert(info.session != 0 && !info.durable && !info.resumed);
  authkey_clear(&k);
  close(fd);
  ck_assert_int_eq(smtest_daemon_stop(&mem), 0);
  durable_stop(&x);
}
END_TEST

/* ---- condition and barrier waits across a restart ---- */

/* A party of a barrier or a condition's waiter, on a client of its own. */
typedef struct party {
  sm_client *c;
  const char *name;
  int rc;         /* the wait's status */
  int64_t index;  /* a barrier's arrival index */
  bool notified;  /* a condition's wait's answer */
  int release_rc; /* the condition's release after the wait */
} party;

static void *barrier_party(void *arg) {
  party *p = arg;
  sm_barrier *b;
  p->rc = sm_barrier_open(p->c, p->name, 3, &b);
  if (p->rc != SM_OK) return NULL;
  p->rc = sm_barrier_wait(b, 15000, &p->index);
  sm_barrier_free(b);
  return NULL;
}

/* Polls info until waiters calls are parked, for up to ms. */
static bool parked_within(sm_client *c, int64_t waiters, long ms) {
  for (long t = 0; t < ms; t += 10) {
    if (smtest_info_int(c, "waiters") == waiters) return true;
    sleep_ms(10);
  }
  return false;
}

/* One round of a 3-party barrier: two parties on threads, the third here;
 * each index answered once. */
static void barrier_round(const durable *x, sm_client *c, sm_barrier *b, bool crash_midway,
                          bool snapshot) {
  party p[2] = {{.c = eo_connect(x), .name = "b"}, {.c = eo_connect(x), .name = "b"}};
  pthread_t th[2];
  for (int i = 0; i < 2; i++)
    ck_assert_int_eq(pthread_create(&th[i], NULL, barrier_party, &p[i]), 0);
  ck_assert(parked_within(c, 2, 5000));
  if (crash_midway) {
    if (snapshot) save_snapshot(x); /* the arrivals come from it, not from the log */
    durable_crash((durable *)x);
    /* The parties resend their waits on their resumed sessions: they wait
     * on as the same two arrivals, not two more. */
    ck_assert_msg(parked_within(c, 2, 5000), "the resent waits do not wait as before");
    size_t n = 0;
    OK(sm_barrier_n_waiting(b, &n));
    ck_assert_int_eq(n, 2);
  }
  int64_t mine = -1;
  OK(sm_barrier_wait(b, 5000, &mine));
  bool seen[3] = {false, false, false};
  seen[mine] = true;
  for (int i = 0; i < 2; i++) {
    ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    ck_assert_msg(p[i].rc == SM_OK, "party %d: %s", i, sm_errname(p[i].rc));
    ck_assert(p[i].index >= 0 && p[i].index < 3 && !seen[p[i].index]);
    seen[p[i].index] = true;
    sm_client_free(p[i].c);
  }
  ck_assert_int_eq(mine, 2); /* the last arrival completes the round */
}

/* Two parties wait on a 3-party barrier when the daemon crashes: their
 * waits, resent on their resumed sessions, go on as the same arrivals
 * (before, each counted again: the first resend completed the round), the
 * third party completes the round with each index answered once, and the
 * next rounds count from zero; also with the arrivals in a snapshot. */
START_TEST(barrier_wait_continues_across_a_crash) {
  durable x;
  durable_start(&x, "20000");
  sm_client *c = eo_connect(&x);
  sm_barrier *b;
  OK(sm_barrier_open(c, "b", 3, &b));
  barrier_round(&x, c, b, true, false);
  size_t n = 1;
  bool broken = true;
  OK(sm_barrier_n_waiting(b, &n));
  OK(sm_barrier_broken(b, &broken));
  ck_assert(n == 0 && !broken);
  barrier_round(&x, c, b, false, false);
  durable_crash(&x); /* the completed rounds replay to an empty one */
  OK(sm_barrier_n_waiting(b, &n));
  ck_assert_int_eq(n, 0);
  barrier_round(&x, c, b, true, true);
  barrier_round(&x, c, b, false, false);
  sm_barrier_free(b);
  sm_client_free(c);
  durable_stop(&x);
}
END_TEST

/* A barrier wait whose round failed (a reset) and whose BROKEN answer the
 * client did not get before a crash: sent again on the resumed session it
 * is answered BROKEN from the kept answers, not counted as a new arrival
 * of the next round (before, it waited again); from the log's replay and
 * from a snapshot. */
static void failed_round_resent(bool snapshot) {
  durable x;
  durable_start(&x, "20000");
  sm_client *c = eo_connect(&x);
  sm_barrier *b;
  OK(sm_barrier_open(c, "b", 2, &b));
  uint64_t id = sm_proxy_id(sm_barrier_proxy(b));
  raw3 r;
  raw3_open(&r, &x, AUTH_PROTOCOL_VERSION, 0, 0);
  raw3_send(&r, 1, 0, id, "wait", NULL);
  ck_assert(parked_within(c, 1, 5000));
  OK(sm_barrier_reset(b));
  char err[256];
  ck_assert_int_eq(raw3_answer(&r, 1, NULL, err, sizeof err), WS_BROKEN);
  if (snapshot) save_snapshot(&x); /* the kept BROKEN comes from it, not from the log */
  durable_crash(&x);
  close(r.fd);
  uint64_t session = r.info.session, key = r.info.key;
  raw3_open(&r, &x, AUTH_PROTOCOL_VERSION, session, key);
  ck_assert_msg(r.info.resumed, "not resumed: %s", r.text);
  ck_assert_int_eq(raw3_call(&r, 1, 0, id, "wait", NULL, NULL, err, sizeof err), WS_BROKEN);
  ck_assert_msg(strstr(err, "reset") != NULL, "%s", err);
  size_t n = 1;
  OK(sm_barrier_n_waiting(b, &n));
  ck_assert_int_eq(n, 0);
  close(r.fd);
  sm_barrier_free(b);
  sm_client_free(c);
  durable_stop(&x);
}

START_TEST(barrier_wait_failed_round_resent) {
  failed_round_resent(false);
  failed_round_resent(true);
}
END_TEST

static void *condition_waiter(void *arg) {
  party *p = arg;
  sm_condition *cv;
  p->rc = sm_condition_open(p->c, p->name, NULL, &cv);
  if (p->rc == SM_OK) p->rc = sm_condition_acquire(cv, -1);
  if (p->rc == SM_OK) p->rc = sm_condition_wait(cv, 15000, &p->notified);
  p->release_rc = sm_condition_release(cv);
  sm_condition_free(cv);
  return NULL;
}

/* A condition's waiter across a crash: resent on its resumed session, the
 * wait goes on (before, it was refused NOT_OWNER: the lock it gave up for
 * the wait is not its own), is notified and returns true holding the lock
 * again, once. Notified before the crash while the notifier still held the
 * lock, the resent wait waits for the lock, and gets it when the notifier
 * (resumed) releases it. Both with the waits replayed from the log and
 * loaded from a snapshot. */
START_TEST(condition_wait_continues_across_a_crash) {
  durable x;
  durable_start(&x, "20000");
  sm_client *c = eo_connect(&x);
  sm_condition *cv;
  OK(sm_condition_open(c, "cv", NULL, &cv));
  for (int round = 0; round < 4; round++) {
    bool notified_before = round & 1, snapshot = round & 2;
    party p = {.c = eo_connect(&x), .name = "cv", .rc = -1, .release_rc = -1};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, condition_waiter, &p), 0);
    ck_assert(parked_within(c, 1, 5000));
    if (notified_before) {
      OK(sm_condition_acquire(cv, 5000));
      OK(sm_condition_notify(cv, 1));
    }
    if (snapshot) save_snapshot(&x); /* the wait's entry comes from it, not from the log */
    durable_crash(&x);
    ck_assert_msg(parked_within(c, 1, 5000), "the resent wait does not wait as before (%s)",
                  sm_errname(p.rc));
    if (!notified_before) {
      OK(sm_condition_acquire(cv, 5000));
      OK(sm_condition_notify(cv, 1));
    }
    OK(sm_condition_release(cv));
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_msg(p.rc == SM_OK && p.notified, "the wait: %s, notified %d", sm_errname(p.rc),
                  p.notified);
    ck_assert_int_eq(p.release_rc, SM_OK); /* it held the lock again, once */
    sm_client_free(p.c);
    ck_assert_int_eq(smtest_info_int(c, "waiters"), 0);
  }
  sm_condition_free(cv);
  sm_client_free(c);
  durable_stop(&x);
}
END_TEST

/* ---- locks across a restart ---- */

typedef struct acquirer {
  sm_client *c;
  int64_t timeout_ms;
  int rc;
  double took_s;
} acquirer;

static void *acquire_lock(void *arg) {
  acquirer *a = arg;
  sm_lock *lk;
  a->rc = sm_lock_open(a->c, "k", &lk);
  if (a->rc != SM_OK) return NULL;
  double t0 = smtest_now_s();
  a->rc = sm_lock_acquire(lk, a->timeout_ms);
  a->took_s = smtest_now_s() - t0;
  if (a->rc == SM_OK) a->rc = sm_lock_release(lk);
  sm_lock_free(lk);
  return NULL;
}

/* The holder resumes: the lock stays its own across the crash, a waiter
 * waits, and the holder's release (on the resumed session) lets it in. */
START_TEST(lock_held_across_a_crash_by_a_client_that_resumes) {
  durable x;
  durable_start(&x, "20000");
  sm_client *holder = eo_connect(&x), *other = eo_connect(&x);
  sm_lock *lk;
  OK(sm_lock_open(holder, "k", &lk));
  OK(sm_lock_acquire(lk, -1));
  durable_crash(&x);
  acquirer a = {.c = other, .timeout_ms = 300};
  acquire_lock(&a);
  FAILS(a.rc, SM_ETIMEOUT); /* still the holder's, though it has not come back yet */
  OK(sm_lock_release(lk));  /* the holder resumes its session and releases */
  a.timeout_ms = 5000;
  acquire_lock(&a);
  OK(a.rc);
  ck_assert_msg(a.took_s < 1.0, "the lock came after %.2f s", a.took_s);
  ck_assert(smtest_daemon_log_has(&x.d, "resumed session", 0));
  sm_lock_free(lk);
  sm_client_free(other);
  sm_client_free(holder);
  durable_stop(&x);
}
END_TEST

/* The holder does not come back within the resume timeout: its session
 * ends as a dead client's does and the waiter gets the lock; the holder's
 * later call finds its session gone (a new one, which does not hold it). */
START_TEST(holder_that_does_not_resume_loses_the_lock) {
  durable x;
  durable_start(&x, "600");
  sm_client *holder = eo_connect(&x), *other = eo_connect(&x);
  sm_lock *lk;
  OK(sm_lock_open(holder, "k", &lk));
  OK(sm_lock_acquire(lk, -1));
  durable_crash(&x);
  acquirer a = {.c = other, .timeout_ms = 10000};
  acquire_lock(&a);
  OK(a.rc);
  ck_assert_msg(a.took_s >= 0.3, "the lock came after %.2f s", a.took_s);
  FAILS(sm_lock_release(lk), SM_ENOTOWNER);
  sm_lock_free(lk);
  sm_client_free(other);
  sm_client_free(holder);
  durable_stop(&x);
}
END_TEST

/* References to anonymous objects are the holder connection's session's:
 * it resumes too, so the anonymous dict lives on across the crash, and
 * freeing its proxy afterwards gives the reference back at once. */
START_TEST(anonymous_reference_released_on_the_resumed_session) {
  durable x;
  durable_start(&x, "20000");
  sm_client *c = eo_connect(&x), *watcher = eo_connect(&x);
  int64_t before = smtest_info_int(watcher, "objects");
  sm_dict *anon;
  OK(sm_dict_open(c, NULL, &anon));
  OK(sm_dict_set_int(anon, "z", 9));
  ck_assert_int_eq(smtest_info_int(watcher, "objects"), before + 1);
  durable_crash(&x);
  int64_t z = 0;
  OK(sm_dict_get_int(anon, "z", &z));
  ck_assert_int_eq(z, 9);
  sm_dict_free(anon); /* the holder resumes its session and releases */
  ck_assert_int_eq(smtest_info_int(watcher, "objects"), before);
  sm_client_free(watcher);
  sm_client_free(c);
  durable_stop(&x);
}
END_TEST

Suite *eo_suite(void) {
  Suite *s = suite_create("eo");
  TCase *tc = tcase_create("eo");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, counter_exactly_once_across_crashes);
  tcase_add_test(tc, pipeline_resent_across_a_crash);
  tcase_add_test(tc, resend_answered_from_the_replayed_log);
  tcase_add_test(tc, resend_answered_from_a_snapshot);
  tcase_add_test(tc, parked_call_served_then_resent);
  tcase_add_test(tc, grants_resent_keep_token_from_the_replayed_log);
  tcase_add_test(tc, grants_resent_keep_token_from_a_snapshot);
  tcase_add_test(tc, resume_refused_unknown_or_live);
  tcase_add_test(tc, protocol_2_client_works);
  tcase_add_test(tc, unacknowledged_answers_are_bounded);
  tcase_add_test(tc, kept_answers_count_against_max_memory);
  tcase_add_test(tc, barrier_wait_continues_across_a_crash);
  tcase_add_test(tc, condition_wait_continues_across_a_crash);
  tcase_add_test(tc, barrier_wait_failed_round_resent);
  tcase_add_test(tc, lock_held_across_a_crash_by_a_client_that_resumes);
  tcase_add_test(tc, holder_that_does_not_resume_loses_the_lock);
  tcase_add_test(tc, anonymous_reference_released_on_the_resumed_session);
  suite_add_tcase(s, tc);
  return s;
}
