/* SPDX-License-Identifier: MIT */
/* check_parking.c - blocking calls against the real daemon over real
 * sockets: parking, hand-offs, deadlines kept by the daemon, and what a
 * closing connection releases.
 *
 * The client is the raw protocol client (smtest_raw_*, proto/ functions), so
 * a test can pipeline thousands of requests on one connection without
 * waiting for answers, and read the answers back frame by frame. Each test
 * waits until the daemon's "info" reports the expected number of parked
 * calls before it acts, so nothing depends on sleeping the right time. */
#include "proto/msg.h"
#include "smtest.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#define NO_TIMEOUT (-1)

static uint64_t next_seq = 1;

/* ---- arguments ---- */

typedef struct args {
  vbuf v[8];
  sm_span s[8];
  size_t n;
} args;

static args *args_new(void) {
  args *a = calloc(1, sizeof *a);
  ck_assert_ptr_nonnull(a);
  for (size_t i = 0; i < 8; i++)
    vb_init(&a->v[i]);
  return a;
}

static void args_free(args *a) {
  for (size_t i = 0; i < 8; i++)
    vb_free(&a->v[i]);
  free(a);
}

static vbuf *args_next(args *a) {
  ck_assert_uint_lt(a->n, 8);
  return &a->v[a->n++];
}

static args *args_done(args *a) {
  for (size_t i = 0; i < a->n; i++)
    a->s[i] = vb_span(&a->v[i]);
  return a;
}

static args *a_str(args *a, const char *s) {
  vb_str(args_next(a), s, strlen(s));
  return a;
}
static args *a_int(args *a, int64_t i) {
  vb_int(args_next(a), i);
  return a;
}
static args *a_bool(args *a, bool b) {
  vb_bool(args_next(a), b);
  return a;
}

/* ---- requests and responses ---- */

/* Appends one request frame to b; timeout_ms < 0 sends no timeout. */
static void add_req(vbuf *b, uint64_t seq, uint64_t obj, const char *method, const args *a,
                    int64_t timeout_ms) {
  wire_request_out r = {.seq = seq,
                        .object = obj,
                        .method = method,
                        .args = a ? a->s : NULL,
                        .nargs = a ? a->n : 0,
                        .has_timeout = timeout_ms >= 0,
                        .timeout_ms = timeout_ms};
  ck_assert_int_eq(wire_request_encode(b, &r), 0);
}

/* Sends one request; returns its seq. */
static uint64_t send_req(int fd, uint64_t obj, const char *method, const args *a,
                         int64_t timeout_ms) {
  vbuf b;
  vb_init(&b);
  uint64_t seq = next_seq++;
  add_req(&b, seq, obj, method, a, timeout_ms);
  smtest_send_all(fd, b.p, b.len);
  vb_free(&b);
  return seq;
}

typedef struct resp {
  uint64_t seq;
  int status;
  vinfo vi;           /* the result's top level; spans point into raw */
  uint8_t raw[16384]; /* the result's bytes (info includes per-method counts) */
  char err[256];
} resp;

/* Reads the next response on fd (fails the test after timeout_ms). */
static void read_resp(int fd, resp *r, int timeout_ms) {
  static uint8_t buf[65536];
  long n = smtest_read_frame(fd, buf, sizeof buf, timeout_ms);
  ck_assert_int_gt(n, 0);
  wire_response rs;
  ck_assert_int_eq(wire_response_decode((sm_span){buf, (size_t)n}, &rs), 0);
  r->seq = rs.seq;
  r->status = rs.status;
  snprintf(r->err, sizeof r->err, "%s", rs.error ? rs.error : "");
  size_t len = rs.has_result ? rs.result.n : 0;
  ck_assert_uint_le(len, sizeof r->raw);
  if (len) memcpy(r->raw, rs.result.p, len);
  wire_response_release(&rs);
  ck_assert_int_eq(vw_scan((sm_span){r->raw, len}, VW_DEPTH_DEFAULT, &r->vi, NULL), VW_OK);
}

/* Reads the answer to seq, which must be the next frame on fd. */
static void expect_resp(int fd, uint64_t seq, resp *r, int timeout_ms) {
  read_resp(fd, r, timeout_ms);
  ck_assert_msg(r->seq == seq, "answer to seq %llu while waiting for %llu",
                (unsigned long long)r->seq, (unsigned long long)seq);
}

/* One call, answered at once; frees a. Returns the status; r (may be NULL)
 * gets the response. */
static int call_t(int fd, uint64_t obj, const char *method, args *a, int64_t timeout_ms, resp *r) {
  resp local;
  if (!r) r = &local;
  uint64_t seq = send_req(fd, obj, method, a ? args_done(a) : NULL, timeout_ms);
  if (a) args_free(a);
  expect_resp(fd, seq, r, 10000);
  return r->status;
}

static int call(int fd, uint64_t obj, const char *method, args *a, resp *r) {
  return call_t(fd, obj, method, a, NO_TIMEOUT, r);
}

/* The call answers OK with a bool. */
static bool call_bool(int fd, uint64_t obj, const char *method, args *a) {
  resp r;
  ck_assert_int_eq(call(fd, obj, method, a, &r), WS_OK);
  ck_assert_int_eq(r.vi.kind, VK_BOOL);
  return r.vi.b;
}

static int64_t call_int(int fd, uint64_t obj, const char *method, args *a) {
  resp r;
  ck_assert_int_eq(call(fd, obj, method, a, &r), WS_OK);
  ck_assert_int_eq(r.vi.kind, VK_INT);
  return r.vi.i;
}

/* Creates (or opens) a named object; returns its id. The extra arguments
 * follow the name. */
static uint64_t create(int fd, const char *type, const char *name, args *extra) {
  args *a = a_str(a_str(args_new(), type), name);
  if (extra) {
    for (size_t i = 0; i < extra->n; i++)
      vb_append(args_next(a), vb_span(&extra->v[i]));
    args_free(extra);
  }
  resp r;
  ck_assert_int_eq(call(fd, 0, "create", a, &r), WS_OK);
  ck_assert_int_eq(r.vi.kind, VK_REF);
  return r.vi.ref_id;
}

/* An int field of the map a response carries. */
static int64_t map_int(const resp *r, const char *field) {
  ck_assert_int_eq(r->vi.kind, VK_MAP);
  vw_iter it;
  sm_span k, v;
  vw_iter_init(&it, r->vi.data);
  while (vw_map_next(&it, &k, &v)) {
    vinfo ki, vi;
    ck_assert_int_eq(vw_peek(k, &ki), VW_OK);
    if (ki.kind == VK_STR && ki.data.n == strlen(field) && !memcmp(ki.data.p, field, ki.data.n)) {
      ck_assert_int_eq(vw_peek(v, &vi), VW_OK);
      ck_assert_int_eq(vi.kind, VK_INT);
      return vi.i;
    }
  }
  ck_abort_msg("the map has no field %s", field);
  return -1;
}

/* A field of the manager's info map. */
static int64_t info_int(int fd, const char *field) {
  resp r;
  ck_assert_int_eq(call(fd, 0, "info", NULL, &r), WS_OK);
  return map_int(&r, field);
}

/* A field of the manager's show map for the named object. */
static int64_t show_int(int fd, const char *name, const char *field) {
  resp r;
  ck_assert_int_eq(call(fd, 0, "show", a_str(args_new(), name), &r), WS_OK);
  return map_int(&r, field);
}

/* A raw connection to url (TCP or UNIX) of smtest_d, authenticated. */
static int raw_authed_url(const char *url) {
  authkey k = smtest_key();
  int fd = smtest_raw_connect(url);
  ck_assert_int_eq(smtest_raw_handshake(fd, k.bytes, k.len, NULL), WS_OK);
  authkey_clear(&k);
  return fd;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Polls info until field equals want (fails after 60 s). */
static void wait_info(int fd, const char *field, int64_t want) {
  int64_t now = -1;
  for (int waited = 0; waited < 60000; waited += 5) {
    if ((now = info_int(fd, field)) == want) return;
    sleep_ms(5);
  }
  ck_abort_msg("info %s stayed at %lld, expected %lld", field, (long long)now, (long long)want);
}

static void wait_waiters(int fd, int64_t want) { wait_info(fd, "waiters", want); }

/* True when nothing arrives on fd within ms. */
static bool silent(int fd, int ms) {
  struct pollfd pfd = {.fd = fd, .events = POLLIN};
  return poll(&pfd, 1, ms) == 0;
}

static double now_ms(void) { return smtest_now_s() * 1000.0; }

/* ---- 10,000 parked getters ---- */

enum { N_GETS = 10000, N_GETTERS = 4, PER_GETTER = N_GETS / N_GETTERS };

/* Proves thousands of parked calls cost the daemon nothing but memory and
 * none is lost or answered twice: 10,000 pipelined get calls on 4
 * connections all park (info reports 10,000 waiters), then 10,000 puts of
 * distinct ints from another connection answer each get exactly once, each
 * value reaches exactly one getter, every connection receives its values
 * in the order it asked (FIFO), and no extra frame follows. */
START_TEST(ten_thousand_getters) {
  int m = smtest_raw_authed(), p = smtest_raw_authed();
  int g[N_GETTERS];
  uint64_t q = create(m, "queue", "q10k", NULL);
  uint64_t first_seq = next_seq;
  for (int i = 0; i < N_GETTERS; i++) {
    g[i] = smtest_raw_authed();
    vbuf b;
    vb_init(&b);
    for (int k = 0; k < PER_GETTER; k++)
      add_req(&b, next_seq++, q, "get", NULL, NO_TIMEOUT);
    smtest_send_all(g[i], b.p, b.len);
    vb_free(&b);
  }
  wait_waiters(m, N_GETS);

  vbuf b;
  vb_init(&b);
  uint64_t put_seq = next_seq;
  args *a = args_new();
  for (int v = 0; v < N_GETS; v++) {
    a->n = 0;
    vb_reset(&a->v[0]);
    a_int(a, v);
    add_req(&b, next_seq++, q, "put", args_done(a), NO_TIMEOUT);
  }
  args_free(a);
  smtest_send_all(p, b.p, b.len);
  vb_free(&b);
  resp r;
  for (int v = 0; v < N_GETS; v++) {
    read_resp(p, &r, 30000);
    ck_assert_uint_eq(r.seq, put_seq + (uint64_t)v);
    ck_assert_int_eq(r.status, WS_OK);
  }

  int64_t *got = malloc(N_GETS * sizeof *got); /* value answered to seq first_seq + i */
  bool *seen = calloc(N_GETS, sizeof *seen);
  ck_assert(got && seen);
  for (int i = 0; i < N_GETS; i++)
    got[i] = -1;
  for (int i = 0; i < N_GETTERS; i++) {
    uint64_t lo = first_seq + (uint64_t)i * PER_GETTER;
    for (int k = 0; k < PER_GETTER; k++) {
      read_resp(g[i], &r, 30000);
      ck_assert_int_eq(r.status, WS_OK);
      ck_assert_msg(r.seq >= lo && r.seq < lo + PER_GETTER, "seq %llu on the wrong connection",
                    (unsigned long long)r.seq);
      ck_assert_msg(got[r.seq - first_seq] == -1, "seq %llu answered twice",
                    (unsigned long long)r.seq);
      ck_assert_int_eq(r.vi.kind, VK_INT);
      ck_assert(r.vi.i >= 0 && r.vi.i < N_GETS);
      ck_assert_msg(!seen[r.vi.i], "value %lld received twice", (long long)r.vi.i);
      seen[r.vi.i] = true;
      got[r.seq - first_seq] = r.vi.i;
    }
    /* Arrival order on one connection is its seq order: values increase. */
    for (int k = 1; k < PER_GETTER; k++)
      ck_assert_int_lt(got[lo - first_seq + (uint64_t)k - 1], got[lo - first_seq + (uint64_t)k]);
  }
  for (int v = 0; v < N_GETS; v++)
    ck_assert(seen[v]);
  for (int i = 0; i < N_GETTERS; i++) {
    ck_assert(silent(g[i], 300));
    close(g[i]);
  }
  ck_assert(silent(p, 0));
  ck_assert_int_eq(info_int(m, "waiters"), 0);
  ck_assert_int_eq(call_int(m, q, "qsize", NULL), 0);
  free(got);
  free(seen);
  close(p);
  close(m);
}
END_TEST

/* ---- deadlines ---- */

/* Sends a call with a 200 ms deadline on fd and checks its answer arrives
 * between 150 ms and 2 s later with status want; r gets it. */
static void timed(int fd, uint64_t obj, const char *method, args *a, int want, resp *r) {
  double t0 = now_ms();
  uint64_t seq = send_req(fd, obj, method, a ? args_done(a) : NULL, 200);
  if (a) args_free(a);
  expect_resp(fd, seq, r, 5000);
  double dt = now_ms() - t0;
  ck_assert_msg(r->status == want, "%s: status %d (%s), expected %d", method, r->status, r->err,
                want);
  ck_assert_msg(dt >= 150 && dt <= 2000, "%s answered after %.0f ms", method, dt);
}

/* Proves the daemon keeps every kind of deadline with its own timer and
 * answers as docs/protocol.md says: queue get and put, lock, semaphore and
 * join TIMEOUT; event and condition wait OK false (the condition's caller
 * holds the lock again after it); barrier wait BROKEN, for the other waiter
 * too. A call answered before its deadline gets no second answer later. */
START_TEST(deadlines) {
  int a = smtest_raw_authed(), b = smtest_raw_authed();
  resp r;
  uint64_t q = create(a, "queue", "q-deadline", a_int(args_new(), 1));
  timed(a, q, "get", NULL, WS_TIMEOUT, &r);
  ck_assert_int_eq(call(a, q, "put", a_int(args_new(), 1), NULL), WS_OK);
  timed(a, q, "put", a_int(args_new(), 2), WS_TIMEOUT, &r);
  ck_assert_int_eq(call_int(a, q, "qsize", NULL), 1);
  timed(a, q, "join", NULL, WS_TIMEOUT, &r);

  uint64_t l = create(a, "lock", "l-deadline", NULL);
  ck_assert(call_bool(a, l, "acquire", NULL));
  timed(b, l, "acquire", NULL, WS_TIMEOUT, &r);
  uint64_t s = create(a, "semaphore", "s-deadline", a_int(args_new(), 0));
  timed(b, s, "acquire", NULL, WS_TIMEOUT, &r);

  uint64_t e = create(a, "event", "e-deadline", NULL);
  timed(a, e, "wait", NULL, WS_OK, &r);
  ck_assert(r.vi.kind == VK_BOOL && !r.vi.b);

  uint64_t cv = create(a, "condition", "c-deadline", NULL);
  ck_assert(call_bool(a, cv, "acquire", NULL));
  timed(a, cv, "wait", NULL, WS_OK, &r);
  ck_assert(r.vi.kind == VK_BOOL && !r.vi.b);
  ck_assert_int_eq(call(a, cv, "release", NULL, NULL), WS_OK);
  ck_assert_int_eq(call(a, cv, "release", NULL, NULL), WS_NOT_OWNER);

  uint64_t bar = create(a, "barrier", "b-deadline", a_int(args_new(), 3));
  uint64_t bseq = send_req(b, bar, "wait", NULL, NO_TIMEOUT);
  wait_waiters(a, 1);
  timed(a, bar, "wait", NULL, WS_BROKEN, &r);
  expect_resp(b, bseq, &r, 5000);
  ck_assert_int_eq(r.status, WS_BROKEN);
  ck_assert(call_bool(a, bar, "broken", NULL));

  /* Answered before its deadline: the timer must not answer again. */
  ck_assert_int_eq(call_int(a, q, "get", NULL), 1);
  uint64_t seq = send_req(b, q, "get", NULL, 300);
  wait_waiters(a, 1);
  ck_assert_int_eq(call(a, q, "put", a_int(args_new(), 7), NULL), WS_OK);
  expect_resp(b, seq, &r, 5000);
  ck_assert(r.status == WS_OK && r.vi.kind == VK_INT && r.vi.i == 7);
  ck_assert(silent(b, 600));
  ck_assert_int_eq(info_int(a, "waiters"), 0);
  close(a);
  close(b);
}
END_TEST

/* ---- what a closing connection releases ---- */

/* Proves that when a connection holding a lock, an rlock (at any depth), a
 * semaphore unit or a condition's lock closes, the next waiter on another
 * connection gets it and is answered, while a lock created with
 * auto_release=false stays held by the dead connection (Python's
 * behaviour) until another connection releases it for the next waiter. */
START_TEST(owner_closes) {
  int m = smtest_raw_authed();
  resp r;

  /* lock: the parked acquire of b is granted when a closes. */
  uint64_t l = create(m, "lock", "l-auto", NULL);
  int a = smtest_raw_authed(), b = smtest_raw_authed();
  ck_assert(call_bool(a, l, "acquire", NULL));
  uint64_t seq = send_req(b, l, "acquire", NULL, NO_TIMEOUT);
  wait_waiters(m, 1);
  close(a);
  expect_resp(b, seq, &r, 10000);
  ck_assert(r.status == WS_OK && r.vi.kind == VK_BOOL && r.vi.b);
  ck_assert_int_eq(call(b, l, "release", NULL, NULL), WS_OK);
  ck_assert(!call_bool(m, l, "locked", NULL));
  close(b);

  /* rlock held three deep. */
  uint64_t rl = create(m, "rlock", "r-auto", NULL);
  a = smtest_raw_authed();
  b = smtest_raw_authed();
  for (int i = 0; i < 3; i++)
    ck_assert(call_bool(a, rl, "acquire", NULL));
  seq = send_req(b, rl, "acquire", NULL, NO_TIMEOUT);
  wait_waiters(m, 1);
  close(a);
  expect_resp(b, seq, &r, 10000);
  ck_assert_int_eq(r.status, WS_OK);
  ck_assert_int_eq(call_int(m, rl, "count", NULL), 1);
  close(b);

  /* semaphore unit. */
  uint64_t s = create(m, "semaphore", "s-auto", a_int(args_new(), 1));
  a = smtest_raw_authed();
  b = smtest_raw_authed();
  ck_assert(call_bool(a, s, "acquire", NULL));
  seq = send_req(b, s, "acquire", NULL, NO_TIMEOUT);
  wait_waiters(m, 1);
  close(a);
  expect_resp(b, seq, &r, 10000);
  ck_assert_int_eq(r.status, WS_OK);
  ck_assert_int_eq(call_int(m, s, "get_value", NULL), 0);
  close(b);
  wait_info(m, "connections", 1);
  ck_assert_int_eq(call_int(m, s, "get_value", NULL), 1); /* b's unit came back too */

  /* condition: a waits, b takes the lock and notifies, then closes
   * holding it; a's wait ends true with the lock. */
  uint64_t cv = create(m, "condition", "c-auto", NULL);
  a = smtest_raw_authed();
  b = smtest_raw_authed();
  ck_assert(call_bool(a, cv, "acquire", NULL));
  seq = send_req(a, cv, "wait", NULL, NO_TIMEOUT);
  wait_waiters(m, 1);
  ck_assert(call_bool(b, cv, "acquire", NULL));
  ck_assert_int_eq(call(b, cv, "notify", NULL, NULL), WS_OK);
  ck_assert(silent(a, 100)); /* notified, but b holds the lock */
  close(b);
  expect_resp(a, seq, &r, 10000);
  ck_assert(r.status == WS_OK && r.vi.kind == VK_BOOL && r.vi.b);
  ck_assert_int_eq(call(a, cv, "release", NULL, NULL), WS_OK);
  close(a);

  /* auto_release = false: the waiter stays parked. */
  uint64_t k = create(m, "lock", "l-keep", a_bool(args_new(), false));
  a = smtest_raw_authed();
  b = smtest_raw_authed();
  ck_assert(call_bool(a, k, "acquire", NULL));
  seq = send_req(b, k, "acquire", NULL, NO_TIMEOUT);
  wait_waiters(m, 1);
  int64_t conns = info_int(m, "connections");
  close(a);
  wait_info(m, "connections", conns - 1);
  ck_assert(silent(b, 300));
  ck_assert_int_eq(info_int(m, "waiters"), 1);
  ck_assert(call_bool(m, k, "locked", NULL));
  ck_assert_int_eq(call(m, k, "release", NULL, NULL), WS_OK);
  expect_resp(b, seq, &r, 10000);
  ck_assert(r.status == WS_OK && r.vi.kind == VK_BOOL && r.vi.b);
  ck_assert(call_bool(m, k, "locked", NULL)); /* b's now */
  close(b);
  close(m);
}
END_TEST

/* Proves who may release a lock: a lock made with auto_release = false is
 * Python's Lock, so another connection's release succeeds (and hands it to
 * the next waiter); a lock with auto_release, and any rlock, answer a
 * release by a connection that does not hold them NOT_OWNER and stay held;
 * a release of a free lock is NOT_OWNER either way. */
START_TEST(release_rule) {
  int a = smtest_raw_authed(), b = smtest_raw_authed(), w = smtest_raw_authed();
  resp r;
  uint64_t free_rel = create(a, "lock", "l-anyone", a_bool(args_new(), false));
  ck_assert(call_bool(a, free_rel, "acquire", NULL));
  uint64_t seq = send_req(w, free_rel, "acquire", NULL, NO_TIMEOUT);
  wait_waiters(a, 1);
  ck_assert_int_eq(call(b, free_rel, "release", NULL, NULL), WS_OK);
  expect_resp(w, seq, &r, 5000);
  ck_assert(r.status == WS_OK && r.vi.kind == VK_BOOL && r.vi.b);
  ck_assert_int_eq(call(b, free_rel, "release", NULL, NULL), WS_OK);
  ck_assert(!call_bool(a, free_rel, "locked", NULL));
  ck_assert_int_eq(call(b, free_rel, "release", NULL, &r), WS_NOT_OWNER);
  ck_assert_ptr_nonnull(strstr(r.err, "unlocked"));

  uint64_t owned = create(a, "lock", "l-owned", NULL);
  ck_assert(call_bool(a, owned, "acquire", NULL));
  ck_assert_int_eq(call(b, owned, "release", NULL, &r), WS_NOT_OWNER);
  ck_assert_ptr_nonnull(strstr(r.err, "another connection"));
  ck_assert(call_bool(b, owned, "locked", NULL));
  ck_assert_int_eq(call(a, owned, "release", NULL, NULL), WS_OK);

  uint64_t rl = create(a, "rlock", "r-kept", a_bool(args_new(), false));
  ck_assert(call_bool(a, rl, "acquire", NULL));
  ck_assert_int_eq(call(b, rl, "release", NULL, NULL), WS_NOT_OWNER);
  ck_assert_int_eq(call_int(b, rl, "count", NULL), 1);
  ck_assert_int_eq(call(a, rl, "release", NULL, NULL), WS_OK);
  close(w);
  close(b);
  close(a);
}
END_TEST

/* Proves waiters of a lock on different connections get it in arrival
 * order, one per release, and a barrier's indexes follow arrival order
 * across connections. */
START_TEST(arrival_order) {
  int m = smtest_raw_authed();
  int c[4];
  uint64_t seq[4];
  resp r;
  uint64_t l = create(m, "lock", "l-fifo", NULL);
  for (int i = 0; i < 4; i++)
    c[i] = smtest_raw_authed();
  ck_assert(call_bool(c[0], l, "acquire", NULL));
  for (int i = 1; i < 4; i++) {
    seq[i] = send_req(c[i], l, "acquire", NULL, NO_TIMEOUT);
    wait_waiters(m, i);
  }
  for (int i = 1; i < 4; i++) {
    ck_assert_int_eq(call(c[i - 1], l, "release", NULL, NULL), WS_OK);
    expect_resp(c[i], seq[i], &r, 10000);
    ck_assert(r.status == WS_OK && r.vi.b);
    for (int j = i + 1; j < 4; j++)
      ck_assert(silent(c[j], 0));
  }
  ck_assert_int_eq(call(c[3], l, "release", NULL, NULL), WS_OK);

  uint64_t bar = create(m, "barrier", "b-order", a_int(args_new(), 3));
  for (int i = 0; i < 2; i++) {
    seq[i] = send_req(c[i], bar, "wait", NULL, NO_TIMEOUT);
    wait_waiters(m, i + 1);
  }
  ck_assert_int_eq(call_int(c[2], bar, "wait", NULL), 2);
  for (int i = 0; i < 2; i++) {
    expect_resp(c[i], seq[i], &r, 10000);
    ck_assert_int_eq(r.status, WS_OK);
    ck_assert_int_eq(r.vi.i, i);
  }
  for (int i = 0; i < 4; i++)
    close(c[i]);
  close(m);
}
END_TEST

/* Proves a parked call whose connection closes is removed (info's waiters
 * drops) and takes nothing with it: a later put stays in the queue for the
 * next get, a parked putter's item never enters the queue, and a barrier
 * that lost a waiter breaks so the other waiter is not left hanging. */
START_TEST(waiter_closes) {
  int m = smtest_raw_authed(), a = smtest_raw_authed();
  resp r;
  uint64_t q = create(m, "queue", "q-drop", NULL);
  for (int i = 0; i < 3; i++)
    send_req(a, q, "get", NULL, NO_TIMEOUT);
  wait_waiters(m, 3);
  close(a);
  wait_waiters(m, 0);
  ck_assert_int_eq(call(m, q, "put", a_str(args_new(), "x"), NULL), WS_OK);
  ck_assert_int_eq(call_int(m, q, "qsize", NULL), 1);
  ck_assert_int_eq(call(m, q, "get", NULL, &r), WS_OK);
  ck_assert(r.vi.kind == VK_STR && r.vi.data.n == 1 && r.vi.data.p[0] == 'x');

  uint64_t f = create(m, "queue", "q-full", a_int(args_new(), 1));
  ck_assert_int_eq(call(m, f, "put", a_int(args_new(), 1), NULL), WS_OK);
  a = smtest_raw_authed();
  args *two = args_done(a_int(args_new(), 2));
  send_req(a, f, "put", two, NO_TIMEOUT);
  args_free(two);
  wait_waiters(m, 1);
  close(a);
  wait_waiters(m, 0);
  ck_assert_int_eq(call_int(m, f, "get", NULL), 1);
  ck_assert_int_eq(call_t(m, f, "get", NULL, 0, NULL), WS_EMPTY);

  uint64_t bar = create(m, "barrier", "b-drop", a_int(args_new(), 3));
  a = smtest_raw_authed();
  int b = smtest_raw_authed();
  send_req(a, bar, "wait", NULL, NO_TIMEOUT);
  uint64_t seq = send_req(b, bar, "wait", NULL, NO_TIMEOUT);
  wait_waiters(m, 2);
  close(a);
  expect_resp(b, seq, &r, 10000);
  ck_assert_int_eq(r.status, WS_BROKEN);
  ck_assert(call_bool(m, bar, "broken", NULL));
  ck_assert_int_eq(info_int(m, "waiters"), 0);
  close(b);
  close(m);
}
END_TEST

/* Proves deleting a named object answers its parked calls NOT_FOUND: a
 * queue's getters, and a barrier's waiters (not BROKEN: the barrier is
 * gone, not broken). */
START_TEST(delete_with_waiters) {
  int m = smtest_raw_authed(), a = smtest_raw_authed();
  resp r;
  uint64_t q = create(m, "queue", "q-del", NULL);
  uint64_t s1 = send_req(a, q, "get", NULL, NO_TIMEOUT);
  uint64_t s2 = send_req(a, q, "get", NULL, 60000);
  uint64_t bar = create(m, "barrier", "b-del", a_int(args_new(), 5));
  uint64_t s3 = send_req(a, bar, "wait", NULL, NO_TIMEOUT);
  wait_waiters(m, 3);
  ck_assert_int_eq(call(m, 0, "delete", a_str(args_new(), "q-del"), NULL), WS_OK);
  expect_resp(a, s1, &r, 10000);
  ck_assert_int_eq(r.status, WS_NOT_FOUND);
  expect_resp(a, s2, &r, 10000);
  ck_assert_int_eq(r.status, WS_NOT_FOUND);
  ck_assert_int_eq(call(m, 0, "delete", a_str(args_new(), "b-del"), NULL), WS_OK);
  expect_resp(a, s3, &r, 10000);
  ck_assert_int_eq(r.status, WS_NOT_FOUND);
  ck_assert_int_eq(info_int(m, "waiters"), 0);
  ck_assert_int_eq(call(m, q, "qsize", NULL, NULL), WS_NOT_FOUND);
  ck_assert(silent(a, 200));
  close(a);
  close(m);
}
END_TEST

/* Proves a daemon told to stop answers every parked call SHUTTING_DOWN,
 * exactly once (barrier waiters too: the first one dropped breaks their
 * round, which answers nobody) and then exits 0 by itself, with items,
 * refs and timers still held by parked calls at that moment (under
 * SMTEST_VALGRIND=1 a leak makes that exit status 99). The test starts its
 * own daemon and waits for it to exit, so no SIGTERM races the exit. */
START_TEST(shutdown_answers) {
  smtest_daemon_start(&smtest_d, NULL);
  if (smtest_d.pid == 0) return; /* never stop an external daemon someone is debugging */
  int m = smtest_raw_authed(), a = smtest_raw_authed(), b = smtest_raw_authed();
  resp r;
  uint64_t q = create(m, "queue", "q-stop", NULL);
  uint64_t f = create(m, "queue", "q-stop-full", a_int(args_new(), 1));
  uint64_t l = create(m, "lock", "l-stop", NULL);
  uint64_t cv = create(m, "condition", "c-stop", NULL);
  uint64_t bar = create(m, "barrier", "b-stop", a_int(args_new(), 3));
  uint64_t holder = create(m, "list", "holder", NULL);
  ck_assert_int_eq(call(m, f, "put", a_int(args_new(), 1), NULL), WS_OK);
  ck_assert(call_bool(m, l, "acquire", NULL));
  ck_assert(call_bool(a, cv, "acquire", NULL));
  uint64_t seqs[6];
  seqs[0] = send_req(a, q, "get", NULL, 60000);
  args *item = args_new();
  vb_ref(args_next(item), holder, "list"); /* a parked item holding a ref */
  seqs[1] = send_req(a, f, "put", args_done(item), NO_TIMEOUT);
  args_free(item);
  seqs[2] = send_req(a, l, "acquire", NULL, NO_TIMEOUT);
  seqs[3] = send_req(a, cv, "wait", NULL, NO_TIMEOUT);
  seqs[4] = send_req(a, bar, "wait", NULL, NO_TIMEOUT);
  seqs[5] = send_req(b, bar, "wait", NULL, 60000);
  wait_waiters(m, 6);
  ck_assert_int_eq(call(m, 0, "shutdown", NULL, NULL), WS_OK);
  bool answered[5] = {false};
  for (int n = 0; n < 5; n++) { /* in any order */
    read_resp(a, &r, 10000);
    int i = 0;
    while (i < 5 && seqs[i] != r.seq)
      i++;
    ck_assert_msg(i < 5 && !answered[i], "unexpected answer to seq %llu",
                  (unsigned long long)r.seq);
    answered[i] = true;
    ck_assert_msg(r.status == WS_SHUTTING_DOWN, "call %d: status %d", i, r.status);
  }
  expect_resp(b, seqs[5], &r, 10000);
  ck_assert_int_eq(r.status, WS_SHUTTING_DOWN);
  uint8_t more[64]; /* then the daemon closes, with no second answer */
  ck_assert_int_eq(smtest_read_frame(a, more, sizeof more, 10000), -1);
  ck_assert_int_eq(smtest_read_frame(b, more, sizeof more, 10000), -1);
  close(a);
  close(b);
  close(m);
  int st = 0;
  pid_t pid = 0;
  for (int waited = 0; waited < 60000 && pid == 0; waited += 10) {
    pid = waitpid(smtest_d.pid, &st, WNOHANG);
    if (pid == 0) sleep_ms(10);
  }
  ck_assert_msg(pid == smtest_d.pid, "the daemon did not exit after shutdown");
  smtest_d.pid = 0;
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { /* show why before the log goes */
    FILE *log = fopen(smtest_d.log_file, "r");
    char line[512];
    while (log && fgets(line, sizeof line, log))
      fputs(line, stderr);
    if (log) fclose(log);
  }
  smtest_daemon_stop(&smtest_d); /* removes its directory */
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the daemon ended with status %d", st);
}
END_TEST

/* ---- waiters that move between objects ---- */

static args *a_ref(args *a, uint64_t id, const char *type) {
  vb_ref(args_next(a), id, type);
  return a;
}

/* Proves a parked call belongs to the object whose queue holds it, so
 * deleting another object it came through cannot leave it pointing at
 * freed memory (issue 9, bug 1: an ASan build of the daemon reported a use
 * after free on the release):
 *  - a condition's waiter, once notified, waits in its lock's queue: "show"
 *    counts it on the lock, not on the condition; the condition is deleted;
 *    the next release of the lock grants it, and wait answers true once;
 *  - a condition's acquire waiting for the lock is granted it by the next
 *    release after the condition is deleted;
 *  - deleting the lock answers a notified waiter in its queue NOT_FOUND
 *    exactly once: deleting its condition afterwards answers nothing;
 *  - a notified waiter whose connection closes leaves the lock's queue. */
START_TEST(moved_waiter_outlives_condition) {
  int m = smtest_raw_authed(), a = smtest_raw_authed(), b = smtest_raw_authed();
  resp r;
  uint64_t l = create(m, "lock", "l-moved", NULL);
  uint64_t cv = create(m, "condition", "c-moved", a_ref(args_new(), l, "lock"));
  ck_assert(call_bool(a, cv, "acquire", NULL));
  uint64_t seq = send_req(a, cv, "wait", NULL, NO_TIMEOUT);
  wait_waiters(m, 1);
  ck_assert(call_bool(b, cv, "acquire", NULL));
  ck_assert_int_eq(call(b, cv, "notify", NULL, NULL), WS_OK);
  ck_assert_int_eq(show_int(m, "l-moved", "waiters"), 1);
  ck_assert_int_eq(show_int(m, "c-moved", "waiters"), 0);
  ck_assert_int_eq(call(m, 0, "delete", a_str(args_new(), "c-moved"), NULL), WS_OK);
  ck_assert(silent(a, 100)); /* it still waits for the lock b holds */
  ck_assert_int_eq(call(b, l, "release", NULL, NULL), WS_OK);
  expect_resp(a, seq, &r, 5000);
  ck_assert(r.status == WS_OK && r.vi.kind == VK_BOOL && r.vi.b);
  ck_assert_int_eq(info_int(m, "waiters"), 0);

  /* An acquire made through a condition waits in the lock's queue. */
  uint64_t cv2 = create(m, "condition", "c-moved-2", a_ref(args_new(), l, "lock"));
  seq = send_req(b, cv2, "acquire", NULL, NO_TIMEOUT);
  wait_waiters(m, 1);
  ck_assert_int_eq(show_int(m, "l-moved", "waiters"), 1);
  ck_assert_int_eq(call(m, 0, "delete", a_str(args_new(), "c-moved-2"), NULL), WS_OK);
  ck_assert_int_eq(call(a, l, "release", NULL, NULL), WS_OK);
  expect_resp(b, seq, &r, 5000);
  ck_assert(r.status == WS_OK && r.vi.kind == VK_BOOL && r.vi.b);
  ck_assert_int_eq(call(b, l, "release", NULL, NULL), WS_OK);
  ck_assert(!call_bool(m, l, "locked", NULL));

  /* The lock deleted under a notified waiter. */
  uint64_t l3 = create(m, "lock", "l-moved-3", NULL);
  uint64_t cv3 = create(m, "condition", "c-moved-3", a_ref(args_new(), l3, "lock"));
  ck_assert(call_bool(a, cv3, "acquire", NULL));
  seq = send_req(a, cv3, "wait", NULL, 60000);
  wait_waiters(m, 1);
  ck_assert(call_bool(b, cv3, "acquire", NULL));
  ck_assert_int_eq(call(b, cv3, "notify", NULL, NULL), WS_OK);
  ck_assert_int_eq(call(m, 0, "delete", a_str(args_new(), "l-moved-3"), NULL), WS_OK);
  expect_resp(a, seq, &r, 5000);
  ck_assert_int_eq(r.status, WS_NOT_FOUND);
  ck_assert_int_eq(call(m, 0, "delete", a_str(args_new(), "c-moved-3"), NULL), WS_OK);
  ck_assert(silent(a, 200));
  ck_assert_int_eq(info_int(m, "waiters"), 0);

  /* A notified waiter whose connection closes leaves the lock's queue:
   * the lock's next release frees it. */
  uint64_t cv4 = create(m, "condition", "c-moved-4", a_ref(args_new(), l, "lock"));
  ck_assert(call_bool(a, cv4, "acquire", NULL));
  send_req(a, cv4, "wait", NULL, NO_TIMEOUT);
  wait_waiters(m, 1);
  ck_assert(call_bool(b, cv4, "acquire", NULL));
  ck_assert_int_eq(call(b, cv4, "notify", NULL, NULL), WS_OK);
  close(a);
  wait_waiters(m, 0);
  ck_assert_int_eq(show_int(m, "l-moved", "waiters"), 0);
  ck_assert_int_eq(call(b, l, "release", NULL, NULL), WS_OK);
  ck_assert(!call_bool(m, l, "locked", NULL));
  close(b);
  close(m);
}
END_TEST

/* ---- a connection that starts closing ---- */

/* Puts connection fd (a UNIX socket, whose kernel buffer is small and
 * fixed) into the closing state with answers it does not read stuck in
 * the daemon's output: four 1 MiB answers it leaves unread, then a frame
 * the daemon refuses as malformed. Returns once the daemon logged it. */
static void start_closing(int m, int fd) {
  uint64_t big = create(m, "list", "big-answers", NULL);
  char *mib = malloc(1u << 20);
  ck_assert_ptr_nonnull(mib);
  memset(mib, 'x', (1u << 20) - 1);
  mib[(1u << 20) - 1] = '\0';
  ck_assert_int_eq(call(m, big, "append", a_str(args_new(), mib), NULL), WS_OK);
  free(mib);
  args *first = args_done(a_int(args_new(), 0));
  for (int i = 0; i < 4; i++)
    send_req(fd, big, "get", first, NO_TIMEOUT);
  args_free(first);
  static const uint8_t garbage[] = {0, 0, 0, 3, 0xff, 0xff, 0xff};
  smtest_send_all(fd, garbage, sizeof garbage);
  ck_assert(smtest_daemon_log_has(&smtest_d, "malformed request frame", 5000));
}

/* Proves a connection that starts closing (here: a malformed frame while
 * its answers wait unread) gives up its parked calls at once, so nothing
 * is handed to a call whose answer would be thrown away (issue 9, bug 2):
 * a put after that stays in the queue (qsize 1, get(0) returns it), and a
 * lock and a semaphore made with auto_release = false, released by their
 * holder, stay free rather than going to the closing connection. */
START_TEST(closing_connection_gets_nothing) {
  int m = smtest_raw_authed();
  int b = raw_authed_url(smtest_d.unix_url);
  resp r;
  uint64_t q = create(m, "queue", "q-closing", NULL);
  uint64_t l = create(m, "lock", "l-closing", a_bool(args_new(), false));
  uint64_t s = create(m, "semaphore", "s-closing", a_bool(a_int(args_new(), 0), false));
  ck_assert(call_bool(m, l, "acquire", NULL));
  send_req(b, q, "get", NULL, NO_TIMEOUT);
  send_req(b, l, "acquire", NULL, NO_TIMEOUT);
  send_req(b, s, "acquire", NULL, NO_TIMEOUT);
  wait_waiters(m, 3);
  start_closing(m, b);

  ck_assert_int_eq(call(m, q, "put", a_str(args_new(), "kept"), NULL), WS_OK);
  ck_assert_int_eq(call_int(m, q, "qsize", NULL), 1);
  ck_assert_int_eq(call_t(m, q, "get", NULL, 0, &r), WS_OK);
  ck_assert(r.vi.kind == VK_STR && r.vi.data.n == 4 && !memcmp(r.vi.data.p, "kept", 4));
  ck_assert_int_eq(call(m, l, "release", NULL, NULL), WS_OK);
  ck_assert(!call_bool(m, l, "locked", NULL));
  ck_assert_int_eq(call(m, s, "release", NULL, NULL), WS_OK);
  ck_assert_int_eq(call_int(m, s, "get_value", NULL), 1);
  ck_assert_int_eq(info_int(m, "waiters"), 0);
  close(b);
  close(m);
}
END_TEST

/* ---- a paused connection whose client dies ---- */

/* The holder: a process that takes lock l on url, leaves the answer to a
 * ping unread when rst (so its kernel resets the connection when it dies,
 * instead of closing it), pipelines ten gets on queue q (four park: the
 * daemon's --max-pending is 4 and it stops reading; six stay unread in the
 * socket), says so on pipe wr and waits to be killed. */
static void run_holder(const char *url, uint64_t l, uint64_t q, bool rst, int wr) {
  int fd = raw_authed_url(url);
  resp r;
  if (call(fd, l, "acquire", NULL, &r) != WS_OK || r.vi.kind != VK_BOOL || !r.vi.b) _exit(2);
  if (rst) send_req(fd, 0, "ping", NULL, NO_TIMEOUT);
  vbuf b;
  vb_init(&b);
  for (int i = 0; i < 10; i++)
    add_req(&b, next_seq++, q, "get", NULL, NO_TIMEOUT);
  smtest_send_all(fd, b.p, b.len);
  vb_free(&b);
  if (write(wr, "r", 1) != 1) _exit(3);
  for (;;)
    pause();
}

/* Proves the daemon keeps watching a connection it stopped reading (it has
 * --max-pending parked calls, and more requests wait unread), so a client
 * killed while holding a lock is noticed at once (issue 9, bug 3): the
 * lock goes to the next waiter within 2 s and the dead client's parked
 * calls are gone, over TCP and UNIX sockets, whether the dead client's
 * kernel closes the connection (FIN) or resets it (RST). */
static void paused_holder_dies(void) {
  static const char *const flags[] = {"--max-pending", "4", NULL};
  smtest_daemon_start(&smtest_d, flags);
  for (int i = 0; i < 4; i++) {
    bool over_unix = i & 1, rst = i & 2;
    int m = smtest_raw_authed();
    char name[32];
    snprintf(name, sizeof name, "l-paused-%d", i);
    uint64_t l = create(m, "lock", name, NULL);
    snprintf(name, sizeof name, "q-paused-%d", i);
    uint64_t q = create(m, "queue", name, NULL);
    int ready[2];
    ck_assert_int_eq(pipe(ready), 0);
    pid_t holder = fork();
    ck_assert_int_ge(holder, 0);
    if (holder == 0) {
      close(ready[0]);
      run_holder(over_unix ? smtest_d.unix_url : smtest_d.tcp_url, l, q, rst, ready[1]);
    }
    close(ready[1]);
    char c;
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    close(ready[0]);
    wait_waiters(m, 4);
    int w = smtest_raw_authed();
    uint64_t seq = send_req(w, l, "acquire", NULL, NO_TIMEOUT);
    wait_waiters(m, 5);
    ck_assert(silent(w, 100)); /* the holder is alive and paused */
    ck_assert_int_eq(kill(holder, SIGKILL), 0);
    ck_assert_int_eq(waitpid(holder, NULL, 0), holder);
    double t0 = now_ms();
    resp r;
    expect_resp(w, seq, &r, 5000);
    ck_assert_msg(r.status == WS_OK && r.vi.kind == VK_BOOL && r.vi.b,
                  "run %d: acquire answered status %d (%s)", i, r.status, r.err);
    ck_assert_msg(now_ms() - t0 < 2000, "run %d: the lock came after %.0f ms", i, now_ms() - t0);
    ck_assert_int_eq(info_int(m, "waiters"), 0);
    ck_assert_int_eq(call(w, l, "release", NULL, NULL), WS_OK);
    close(w);
    close(m);
  }
  smtest_daemon_stop_checked(&smtest_d);
}

START_TEST(paused_holder_dies_epoll) { paused_holder_dies(); }
END_TEST

/* Proves the same over TLS, where the socket is under OpenSSL's
 * bufferevent: with --max-pending 1, a libstatemgr client that holds a lock
 * and waits in a queue get is not read; killed, its lock goes to the next
 * waiter within 2 s. */
START_TEST(paused_holder_dies_tls) {
  smtest_certs certs;
  smtest_certs_make(&certs, NULL);
  const char *flags[] = {"--max-pending",
                         "1",
                         "--listen",
                         "tls://127.0.0.1:0",
                         "--tls-cert",
                         certs.server,
                         "--tls-key",
                         certs.server_key,
                         NULL};
  smtest_daemon_start(&smtest_d, flags);
  ck_assert(smtest_d.tls_url[0]);
  int m = smtest_raw_authed();
  uint64_t l = create(m, "lock", "l-paused-tls", NULL);
  pid_t holder = fork();
  ck_assert_int_ge(holder, 0);
  if (holder == 0) {
    sm_options *o = sm_options_new();
    sm_client *c = NULL;
    sm_lock *lk;
    sm_queue *q;
    sm_value *v;
    if (!o || sm_options_set_authkey_file(o, smtest_d.authkey_file) != 0 ||
        sm_options_set_tls_ca(o, certs.ca) != 0 || sm_connect(smtest_d.tls_url, o, &c) != 0 ||
        sm_lock_open(c, "l-paused-tls", &lk) != 0 || sm_lock_acquire(lk, SM_FOREVER) != 0 ||
        sm_queue_open(c, "q-paused-tls", 0, &q) != 0)
      _exit(2);
    sm_queue_get(q, SM_FOREVER, &v); /* parks: the daemon stops reading */
    _exit(3);
  }
  wait_waiters(m, 1);
  ck_assert(call_bool(m, l, "locked", NULL));
  int w = smtest_raw_authed();
  uint64_t seq = send_req(w, l, "acquire", NULL, NO_TIMEOUT);
  wait_waiters(m, 2);
  ck_assert_int_eq(kill(holder, SIGKILL), 0);
  int st = 0;
  ck_assert_int_eq(waitpid(holder, &st, 0), holder);
  ck_assert(WIFSIGNALED(st)); /* it was still waiting */
  double t0 = now_ms();
  resp r;
  expect_resp(w, seq, &r, 5000);
  ck_assert(r.status == WS_OK && r.vi.kind == VK_BOOL && r.vi.b);
  ck_assert_msg(now_ms() - t0 < 2000, "the lock came after %.0f ms", now_ms() - t0);
  ck_assert_int_eq(info_int(m, "waiters"), 0);
  close(w);
  close(m);
  smtest_daemon_stop_checked(&smtest_d);
  smtest_certs_remove(&certs);
}
END_TEST

/* The same with libevent's poll backend (EVENT_NOEPOLL), which has no
 * edge-triggered events: the daemon then looks at a paused socket on a
 * timer instead. */
START_TEST(paused_holder_dies_poll) {
  ck_assert_int_eq(setenv("EVENT_NOEPOLL", "1", 1), 0);
  paused_holder_dies();
  unsetenv("EVENT_NOEPOLL");
}
END_TEST

Suite *parking_suite(void) {
  Suite *s = suite_create("parking");
  struct {
    const char *name;
    const TTest *test;
  } cases[] = {
      {"ten_thousand", ten_thousand_getters},
      {"deadlines", deadlines},
      {"owner_closes", owner_closes},
      {"arrival_order", arrival_order},
      {"waiter_closes", waiter_closes},
      {"delete", delete_with_waiters},
      {"shutdown", shutdown_answers},
      {"moved_waiter", moved_waiter_outlives_condition},
      {"closing_conn", closing_connection_gets_nothing},
      {"release_rule", release_rule},
      {"paused_dies", paused_holder_dies_epoll},
      {"paused_dies_poll", paused_holder_dies_poll},
      {"paused_dies_tls", paused_holder_dies_tls},
  };
  /* One daemon per case, so each starts from zero parked calls; the
   * shutdown and paused cases start their own. */
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    TCase *tc = tcase_create(cases[i].name);
    bool own_daemon =
        cases[i].test == shutdown_answers || cases[i].test == paused_holder_dies_epoll ||
        cases[i].test == paused_holder_dies_poll || cases[i].test == paused_holder_dies_tls;
    if (!own_daemon) smtest_add_daemon(tc);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, cases[i].test);
    suite_add_tcase(s, tc);
  }
  return s;
}
