/* SPDX-License-Identifier: MIT */
/* check_cmd.c - the command stream (server/cmd.c) and sessions
 * (server/session.c): a registry driven through dispatch_call, as the
 * daemon drives it, with a sink that keeps every record; the records
 * replayed into a fresh registry give the same objects, ids, contents and
 * owners. Parked calls served later (a queue get waiting for a put, a lock
 * handed to a waiter, a semaphore unit, a condition's wait and notify, a
 * barrier trip and a barrier broken by a deadline, a session ending while
 * it holds a lock someone waits for, the cycle collector freeing objects
 * that hold only each other) are where a replay would go wrong if one
 * decision were not logged, so the workload has each of them.
 *
 * Calls have no connection here, but each names its session (S1...S4), as
 * a connection's calls do. Deadlines run on a libevent loop of the test's
 * own (blk_attach), turned by hand. Arguments use smtest_unit.h's notation:
 * nil 12 'str' [v, ...] @id:type. */
#include "server/blocked.h"
#include "server/cmd.h"
#include "server/cycles.h"
#include "server/dispatch.h"
#include "server/memory.h"
#include "server/session.h"
#include "server/t_custom.h"
#include "smtest_unit.h"

#include <check.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0 0
#define FOREVER SMTEST_NO_TIMEOUT
enum { S1 = 11, S2 = 12, S3 = 13, S4 = 14 };

/* Every record the sink got, in order. */
typedef struct records {
  vbuf *rec;
  size_t n, cap;
} records;

static registry *reg;
static struct event_base *base;
static records log_;
static vbuf result;
static char err[256];

/* The fields of a format-2 record (server/cmd.c, docs/log-format.md),
 * read here from the documented layout rather than through cmd.c. */
typedef struct rec2 {
  int kind;
  unsigned flags;
  int64_t time_ms, session, object, seq, ack, guard_object, guard_token;
  sm_span method, args; /* args: the body of a packed list */
} rec2;

static uint64_t le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static rec2 rec2_read(const uint8_t *rec, size_t len) {
  ck_assert_uint_ge(len, 28);
  ck_assert_uint_eq(rec[0], 0x01);
  rec2 r = {.kind = rec[1],
            .flags = rec[2],
            .time_ms = (int64_t)le64(rec + 4),
            .session = (int64_t)le64(rec + 12),
            .object = (int64_t)le64(rec + 20)};
  size_t at = 28;
  if (r.flags & 1) {
    r.seq = (int64_t)le64(rec + at);
    r.ack = (int64_t)le64(rec + at + 8);
    at += 16;
  }
  if (r.flags & 2) {
    r.guard_object = (int64_t)le64(rec + at);
    r.guard_token = (int64_t)le64(rec + at + 8);
    at += 16;
  }
  ck_assert_uint_le(at + rec[3], len);
  r.method = (sm_span){rec + at, rec[3]};
  r.args = (sm_span){rec + at + rec[3], len - at - rec[3]};
  return r;
}

/* The kind and the object the sink is told are the record's own. */
static void check_fields(const uint8_t *rec, size_t len, int kind, uint64_t object) {
  rec2 r = rec2_read(rec, len);
  ck_assert_int_eq(r.kind, kind);
  ck_assert_int_eq(r.object, (int64_t)object);
}

static void sink(void *ctx, const uint8_t *rec, size_t len, int kind, uint64_t object, sm_obj *o) {
  records *r = ctx;
  check_fields(rec, len, kind, object);
  if (o) ck_assert_uint_eq(o->id, object);
  if (r->n == r->cap) {
    r->cap = r->cap ? r->cap * 2 : 64;
    r->rec = realloc(r->rec, r->cap * sizeof *r->rec);
    ck_assert_ptr_nonnull(r->rec);
  }
  vb_init(&r->rec[r->n]);
  vb_append(&r->rec[r->n], (sm_span){rec, len});
  ck_assert(!r->rec[r->n].failed);
  r->n++;
}

static void setup(void) {
  reg = reg_new();
  ck_assert_ptr_nonnull(reg);
  base = event_base_new();
  ck_assert_ptr_nonnull(base);
  ck_assert_int_eq(blk_attach(reg, base), 0);
  log_ = (records){0};
  vb_init(&result);
  cmd_set_sink(reg, sink, &log_);
}

static void teardown(void) {
  reg_free(reg);
  event_base_free(base);
  for (size_t i = 0; i < log_.n; i++)
    vb_free(&log_.rec[i]);
  free(log_.rec);
  vb_free(&result);
}

/* Runs method on object id (0: the manager) as session sid with the
 * arguments in the notation and a timeout (FOREVER: none). Returns the
 * status; the result is in result, the error text in err. */
static int call_on(registry *r, uint64_t sid, uint64_t id, const char *method, const char *argtext,
                   int64_t timeout_ms) {
  wire_request req = {.object = id,
                      .method = method,
                      .has_timeout = timeout_ms != FOREVER,
                      .timeout_ms = timeout_ms == FOREVER ? 0 : timeout_ms};
  sm_span spans[SMTEST_MAX_ARGS];
  unsigned flags[SMTEST_MAX_ARGS];
  req.nargs = smtest_pack_args(argtext, spans, flags);
  req.args = spans;
  return dispatch_call(r, NULL, sid, &req, VW_DEPTH_DEFAULT, &result, err, sizeof err);
}

static int run(uint64_t sid, uint64_t id, const char *method, const char *argtext, int64_t t) {
  return call_on(reg, sid, id, method, argtext, t);
}

/* A call that must answer OK; returns its result in the notation. */
static const char *ok(uint64_t sid, uint64_t id, const char *method, const char *argtext) {
  int rc = run(sid, id, method, argtext, T0);
  ck_assert_msg(rc == WS_OK, "%s: status %d: %s", method, rc, err);
  return smtest_show_value(vb_span(&result));
}

/* A call that must park. */
static void parks(uint64_t sid, uint64_t id, const char *method, int64_t timeout_ms) {
  int rc = run(sid, id, method, "", timeout_ms);
  ck_assert_msg(rc == CALL_PARKED, "%s: status %d: %s", method, rc, err);
}

/* Creates an object through the manager (name NULL: anonymous) as sid;
 * returns its id. */
static uint64_t make(uint64_t sid, const char *type, const char *name, const char *extra) {
  char args[256];
  snprintf(args, sizeof args, "'%s', %s%s%s", type, name ? smtest_fmt("'%s'", name) : "nil",
           extra[0] ? ", " : "", extra);
  ck_assert_int_eq(run(sid, 0, "create", args, T0), WS_OK);
  vinfo vi;
  ck_assert_int_eq(vw_peek(vb_span(&result), &vi), VW_OK);
  ck_assert_int_eq(vi.kind, VK_REF);
  return vi.ref_id;
}

/* Turns the test's loop until a parked call's deadline has passed. */
static void let_deadlines_pass(int64_t ms) {
  struct timeval tv = {0, (ms + 20) * 1000};
  event_base_loopexit(base, &tv);
  event_base_dispatch(base);
}

/* Replays every record into a fresh registry; NULL when one fails (why in
 * err). */
static registry *replay_all(size_t skip) {
  registry *r = reg_new();
  ck_assert_ptr_nonnull(r);
  for (size_t i = 0; i < log_.n; i++) {
    if (i == skip) continue;
    if (cmd_replay(r, log_.rec[i].p, log_.rec[i].len, err, sizeof err) != 0) {
      reg_free(r);
      return NULL;
    }
  }
  return r;
}

/* What a registry reads as: every object's id, type, name, reference
 * count and the answers of each of its read methods that takes no
 * argument, then ls and the sessions table; appended to out. */
typedef struct shown {
  registry *r;
  vbuf *out;
} shown;

static void show_obj(void *ctx, sm_obj *o) {
  shown *s = ctx;
  char line[512];
  snprintf(line, sizeof line, "#%llu %s %s refs=%llu\n", (unsigned long long)o->id, o->type->name,
           o->name ? o->name : "-", (unsigned long long)o->refs);
  vb_append(s->out, (sm_span){(const uint8_t *)line, strlen(line)});
  for (size_t m = 0; m < o->type->n_methods; m++) {
    const method_def *d = &o->type->methods[m];
    if (d->flags & (METHOD_MUTATES | METHOD_INTERNAL)) continue;
    int rc = call_on(s->r, 0, o->id, d->name, "", T0);
    snprintf(line, sizeof line, "  %s -> %d %s\n", d->name, rc,
             rc == WS_OK ? smtest_show_value(vb_span(&result)) : "");
    vb_append(s->out, (sm_span){(const uint8_t *)line, strlen(line)});
  }
}

static void show_registry(registry *r, vbuf *out) {
  shown s = {r, out};
  reg_foreach(r, show_obj, &s);
  ck_assert_int_eq(call_on(r, 0, 0, "ls", "", T0), WS_OK);
  vb_append(out, vb_span(&result));
  ck_assert_int_eq(sess_save(r, out), 0);
}

/* Proves that the same registry, read the same way, gives the same text
 * twice (so a comparison below compares state, not noise), and that two
 * registries read alike. */
static void ck_same(registry *a, registry *b) {
  vbuf va, vb2;
  vb_init(&va);
  vb_init(&vb2);
  show_registry(a, &va);
  show_registry(b, &vb2);
  ck_assert(!va.failed && !vb2.failed);
  ck_assert_uint_gt(va.len, 0);
  size_t at = 0; /* the first difference, shown with some text around it */
  while (at < va.len && at < vb2.len && va.p[at] == vb2.p[at])
    at++;
  if (at < va.len || at < vb2.len) {
    size_t from = at > 200 ? at - 200 : 0;
    int na = (int)((va.len - from) < 400 ? va.len - from : 400);
    int nb = (int)((vb2.len - from) < 400 ? vb2.len - from : 400);
    ck_abort_msg("the replay differs at byte %zu:\n--- live\n%.*s\n--- replayed\n%.*s", at, na,
                 (const char *)va.p + from, nb, (const char *)vb2.p + from);
  }
  vb_free(&va);
  vb_free(&vb2);
}

/* The mixed workload over every type, with parked calls served later. */
static void workload(void) {
  cmd_begin_ids(reg, reg_first_id_at(1700000000000));
  /* Containers, anonymous objects stored inside each other and released. */
  uint64_t d = make(S1, "dict", "d", "");
  ok(S1, d, "set", "'a', 1");
  ok(S1, d, "set", "'b', [1, 'two']");
  ok(S1, d, "del", "'a'");
  uint64_t l = make(S1, "list", NULL, "");
  ok(S1, l, "append", "'x'");
  ok(S1, d, "set", smtest_fmt("'l', @%llu:list", (unsigned long long)l));
  uint64_t inner = make(S2, "dict", NULL, "");
  ok(S2, inner, "set", "1, 2");
  ok(S2, l, "append", smtest_fmt("@%llu:dict", (unsigned long long)inner));
  ok(S2, 0, "release", smtest_fmt("%llu", (unsigned long long)inner)); /* the list keeps it */
  uint64_t gone = make(S3, "value", NULL, "5");
  ok(S3, 0, "release", smtest_fmt("%llu", (unsigned long long)gone)); /* freed */
  ok(S4, 0, "open", smtest_fmt("@%llu:list", (unsigned long long)l));
  /* Two lists holding each other, released: garbage for the collector. */
  uint64_t c1 = make(S1, "list", NULL, "");
  uint64_t c2 = make(S1, "list", NULL, "");
  ok(S1, c1, "append", smtest_fmt("@%llu:list", (unsigned long long)c2));
  ok(S1, c2, "append", smtest_fmt("@%llu:list", (unsigned long long)c1));
  ok(S1, 0, "release", smtest_fmt("%llu", (unsigned long long)c1));
  ok(S1, 0, "release", smtest_fmt("%llu", (unsigned long long)c2));
  ck_assert_ptr_nonnull(reg_get(reg, c1));
  ck_assert_uint_eq(cyc_collect(reg_cycles(reg)), 2);
  ck_assert_ptr_null(reg_get(reg, c2));
  uint64_t v = make(S1, "value", "v", "1");
  ok(S1, v, "add", "41");
  uint64_t ns = make(S1, "namespace", "ns", "");
  ok(S1, ns, "set", "'k', 'v'");
  uint64_t arr = make(S1, "array", "arr", "'i32', [1, 2, 3]");
  ok(S1, arr, "set", "1, 20");
  uint64_t ev = make(S1, "event", "ev", "");
  ok(S1, ev, "set", "");

  /* Queue: a get waiting for a put; a put waiting for room. */
  uint64_t q = make(S1, "queue", "q", "");
  parks(S2, q, "get", FOREVER);
  ok(S1, q, "put", "'x'"); /* served to S2 */
  ok(S1, q, "put", "'y'");
  uint64_t qm = make(S1, "queue", "qm", "1");
  ok(S1, qm, "put", "'a'");
  ck_assert_int_eq(run(S3, qm, "put", "'b'", FOREVER), CALL_PARKED);
  ck_assert_str_eq(ok(S1, qm, "get", ""), "'a'"); /* room: b goes in */
  ok(S1, qm, "task_done", "");

  /* Lock: handed to a waiter on release, then on its session's end. */
  uint64_t lk = make(S1, "lock", "lk", "");
  ok(S1, lk, "acquire", "");
  parks(S2, lk, "acquire", FOREVER);
  parks(S3, lk, "acquire", FOREVER);
  ok(S1, lk, "release", "");               /* to S2 */
  cmd_end_session(reg, S2, 1700000000500); /* to S3 */
  blk_serve(reg);
  ck_assert_uint_eq(sess_owned_units(reg, S3, lk), 1);

  /* Condition over an rlock: a wait gives up both levels, a notify and a
   * release give them back to it. */
  uint64_t rl = make(S1, "rlock", "rl", "");
  uint64_t cv = make(S1, "condition", "cv", smtest_fmt("@%llu:rlock", (unsigned long long)rl));
  ok(S1, cv, "acquire", "");
  ok(S1, cv, "acquire", "");
  parks(S1, cv, "wait", FOREVER);
  ok(S4, cv, "acquire", "");
  ok(S4, cv, "notify", "");
  ok(S4, cv, "release", ""); /* S1 has it back, two levels deep */
  ck_assert_str_eq(ok(S4, rl, "count", ""), "2");
  ck_assert_uint_eq(sess_owned_units(reg, S1, rl), 2);

  /* Semaphore: a unit released goes to the waiter. */
  uint64_t sem = make(S1, "semaphore", "sem", "1");
  ok(S1, sem, "acquire", "");
  parks(S3, sem, "acquire", FOREVER);
  ok(S1, sem, "release", "");
  ck_assert_uint_eq(sess_owned_units(reg, S3, sem), 1);

  /* Barrier: a trip; a round broken by a deadline; one by a zero timeout. */
  uint64_t b = make(S1, "barrier", "b", "3");
  parks(S1, b, "wait", FOREVER);
  parks(S3, b, "wait", FOREVER);
  ck_assert_str_eq(ok(S4, b, "wait", ""), "2");
  uint64_t b2 = make(S1, "barrier", "b2", "2");
  parks(S1, b2, "wait", 10);
  let_deadlines_pass(10);
  ck_assert_str_eq(ok(S4, b2, "broken", ""), "true");
  uint64_t b3 = make(S1, "barrier", "b3", "3");
  parks(S1, b3, "wait", FOREVER);
  ck_assert_int_eq(run(S3, b3, "wait", "", T0), WS_BROKEN);
  uint64_t b4 = make(S1, "barrier", "b4", "3");
  parks(S4, b4, "wait", FOREVER); /* still waiting: n_waiting 1 */

  /* S3 ends holding the lock and a semaphore unit: both come back. */
  cmd_end_session(reg, S3, 1700000000900);
  blk_serve(reg);
  ck_assert_str_eq(ok(S1, sem, "get_value", ""), "1");
  ok(S1, d, "pop", "'b'");
}

/* Proves that replaying every record of a mixed workload - parked calls
 * served later included - into a fresh registry gives the same objects,
 * ids, contents, reference counts, owners (the sessions table), and that
 * both give the next object the same id. */
START_TEST(test_replay_agrees) {
  workload();
  ck_assert_uint_gt(log_.n, 40);
  registry *r = replay_all(SIZE_MAX);
  ck_assert_msg(r != NULL, "replay failed: %s", err);
  ck_same(reg, r);
  cmd_set_sink(reg, NULL, NULL);
  uint64_t next_live = make(S1, "dict", NULL, "");
  registry *live = reg;
  reg = r;
  uint64_t next_replayed = make(S1, "dict", NULL, "");
  reg = live;
  ck_assert_uint_eq(next_live, next_replayed);
  ck_same(reg, r);
  reg_free(r);
}
END_TEST

/* Proves that a replay logs nothing again, even into a registry with a
 * sink (recovery replays before the log is open for new records, but the
 * apply path is the live one and must not echo what it replays). */
START_TEST(test_replay_logs_nothing) {
  workload();
  records echo = {0};
  registry *r = reg_new();
  ck_assert_ptr_nonnull(r);
  cmd_set_sink(r, sink, &echo);
  for (size_t i = 0; i < log_.n; i++)
    ck_assert_msg(cmd_replay(r, log_.rec[i].p, log_.rec[i].len, err, sizeof err) == 0, "%s", err);
  ck_assert_uint_eq(echo.n, 0);
  ck_assert(cmd_logging(r));
  reg_free(r);
  free(echo.rec);
}
END_TEST

/* Proves that only mutating calls that answered OK are logged: reads and
 * failures are not, and with no sink nothing is. */
START_TEST(test_only_changes_logged) {
  uint64_t d = make(S1, "dict", "d", "");
  size_t n = log_.n;
  ok(S1, d, "get", "'nope', 0");
  ok(S1, d, "len", "");
  ck_assert_int_eq(run(S1, d, "pop", "'nope'", T0), WS_NOT_FOUND);
  ck_assert_uint_eq(log_.n, n);
  ok(S1, d, "set", "'k', 1");
  ck_assert_uint_eq(log_.n, n + 1);
  cmd_set_sink(reg, NULL, NULL);
  ck_assert(!cmd_logging(reg));
  ok(S1, d, "set", "'k', 2");
  ck_assert_uint_eq(log_.n, n + 1);
}
END_TEST

/* Proves that a replayed record that does not apply to the state (an
 * acquire of a lock someone else holds, because the release before it is
 * missing) fails with a clear error instead of parking or going on. */
START_TEST(test_divergence_fails) {
  uint64_t lk = make(S1, "lock", "lk", "");
  ok(S1, lk, "acquire", "");
  size_t release = log_.n;
  ok(S1, lk, "release", "");
  ok(S2, lk, "acquire", "");
  registry *r = replay_all(SIZE_MAX);
  ck_assert_ptr_nonnull(r);
  reg_free(r);
  ck_assert_ptr_null(replay_all(release));
  ck_assert_msg(strstr(err, "disagree") && strstr(err, "acquire"), "%s", err);
}
END_TEST

/* Proves that a call made under a fencing guard is logged with its guard,
 * and that its replay checks it: with the grant it depended on left out of
 * the log, the guarded call is the one that fails (stale token), not a
 * later record. */
START_TEST(test_guard_logged) {
  uint64_t lk = make(S1, "lock", "glk", "");
  uint64_t d = make(S1, "dict", "gd", "");
  ok(S1, lk, "acquire", "");
  size_t grant = log_.n - 1;
  wire_request req = {.object = d, .method = "set", .guard_object = lk, .guard_token = 1};
  sm_span spans[SMTEST_MAX_ARGS];
  unsigned flags[SMTEST_MAX_ARGS];
  req.nargs = smtest_pack_args("'k', 1", spans, flags);
  req.args = spans;
  ck_assert_int_eq(dispatch_call(reg, NULL, S1, &req, VW_DEPTH_DEFAULT, &result, err, sizeof err),
                   WS_OK);
  req.guard_token = 2; /* not the current grant: refused, not logged */
  size_t n = log_.n;
  ck_assert_int_eq(dispatch_call(reg, NULL, S1, &req, VW_DEPTH_DEFAULT, &result, err, sizeof err),
                   WS_FENCED);
  ck_assert_uint_eq(log_.n, n);
  ok(S1, lk, "release", "");
  registry *r = replay_all(SIZE_MAX);
  ck_assert_msg(r != NULL, "replay failed: %s", err);
  ck_same(reg, r);
  reg_free(r);
  ck_assert_ptr_null(replay_all(grant));
  ck_assert_msg(strstr(err, "set") && strstr(err, "stale"), "%s", err);
}
END_TEST

/* The record of r in format 1, as daemons before format 2 wrote it: a
 * packed list [kind, time_ms, session, object, method, [args...]] with
 * [seq, ack] and [guard_object, guard_token] after it when present. */
static void rec1_write(const rec2 *r, vbuf *b) {
  int64_t ints[4] = {r->kind, r->time_ms, r->session, r->object};
  size_t list = vb_list_begin(b);
  for (size_t i = 0; i < 4; i++)
    vb_list_int(b, ints[i]);
  size_t it = vb_list_begin_item(b);
  vb_str(b, (const char *)r->method.p, r->method.n);
  vb_list_end_item(b, it);
  it = vb_list_begin_item(b);
  size_t args = vb_list_begin(b);
  vb_append(b, r->args); /* the items, as they are in both formats */
  vb_list_end(b, args);
  vb_list_end_item(b, it);
  if (r->flags & 1) {
    vb_list_int(b, r->seq);
    vb_list_int(b, r->ack);
  }
  if (r->flags & 2) {
    vb_list_int(b, r->guard_object);
    vb_list_int(b, r->guard_token);
  }
  vb_list_end(b, list);
}

/* Proves that a log written in format 1 (by a daemon before format 2)
 * still replays: the workload's records, each written again in format 1,
 * give the same registry as the live one. */
START_TEST(test_format1_replays) {
  workload();
  ck_assert_uint_gt(log_.n, 40);
  /* A kept session's call (seq and ack) and a fenced one (a guard). */
  ck_assert_int_eq(cmd_begin_session(reg, S3, 77, 1000), 0);
  uint64_t lk = make(S3, "lock", "f1lk", "");
  uint64_t d = make(S3, "dict", "f1d", "");
  ok(S3, lk, "acquire", "");
  sm_span spans[SMTEST_MAX_ARGS];
  unsigned flags[SMTEST_MAX_ARGS];
  wire_request req = {.object = d, .method = "set", .seq = 5, .ack = 4};
  req.nargs = smtest_pack_args("'k', 1", spans, flags);
  req.args = spans;
  ck_assert_int_eq(dispatch_call(reg, NULL, S3, &req, VW_DEPTH_DEFAULT, &result, err, sizeof err),
                   WS_OK);
  req = (wire_request){.object = d, .method = "set", .guard_object = lk, .guard_token = 1};
  req.nargs = smtest_pack_args("'g', 2", spans, flags);
  req.args = spans;
  ck_assert_int_eq(dispatch_call(reg, NULL, S3, &req, VW_DEPTH_DEFAULT, &result, err, sizeof err),
                   WS_OK);
  registry *r = reg_new();
  ck_assert_ptr_nonnull(r);
  vbuf one;
  vb_init(&one);
  unsigned seen = 0;
  for (size_t i = 0; i < log_.n; i++) {
    rec2 f = rec2_read(log_.rec[i].p, log_.rec[i].len);
    seen |= f.flags;
    vb_reset(&one);
    rec1_write(&f, &one);
    ck_assert(!one.failed);
    ck_assert_uint_ne(one.p[0], 0x01); /* told apart from format 2 by its first byte */
    ck_assert_msg(cmd_replay(r, one.p, one.len, err, sizeof err) == 0, "record %zu: %s", i, err);
  }
  ck_assert_uint_eq(seen, 3); /* records with seq and ack, and with a guard, were among them */
  ck_same(reg, r);
  vb_free(&one);
  reg_free(r);
}
END_TEST

/* Proves that a format-2 record cut short, with flags it does not know,
 * or with arguments that do not fill it as list items, is refused with a
 * clear error, and a whole one is taken. */
START_TEST(test_format2_malformed) {
  uint64_t d = make(S1, "dict", "d2", "");
  ok(S1, d, "set", "'k', 1");
  const vbuf *last = &log_.rec[log_.n - 1];
  rec2 f = rec2_read(last->p, last->len);
  ck_assert_int_eq(f.kind, CMD_CALL);
  ck_assert_int_eq(f.object, (int64_t)d);
  registry *r = replay_all(log_.n - 1); /* everything before it */
  ck_assert_ptr_nonnull(r);
  uint8_t bad[512];
  ck_assert_uint_le(last->len, sizeof bad);
  for (size_t cut = 1; cut < last->len; cut++) {
    memcpy(bad, last->p, cut);
    ck_assert_msg(cmd_replay(r, bad, cut, err, sizeof err) == -1, "cut at %zu was taken", cut);
    ck_assert_msg(strstr(err, "not a command record") || strstr(err, "disagree"), "%s", err);
  }
  memcpy(bad, last->p, last->len);
  bad[2] |= 0x80; /* a flag no daemon writes */
  ck_assert_int_eq(cmd_replay(r, bad, last->len, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "not a command record"), "%s", err);
  memcpy(bad, last->p, last->len);
  bad[last->len] = 0x0a; /* one more item, cut short: the items no longer fill it */
  ck_assert_int_eq(cmd_replay(r, bad, last->len + 1, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "not a command record"), "%s", err);
  ck_assert_msg(cmd_replay(r, last->p, last->len, err, sizeof err) == 0, "%s", err);
  ck_same(reg, r);
  reg_free(r);
}
END_TEST

/* Proves that a record of an unknown kind, and bytes that are no record,
 * fail with a clear error. */
START_TEST(test_unknown_record) {
  vbuf b;
  vb_init(&b);
  size_t list = vb_list_begin(&b);
  const int64_t fields[] = {99, 0, S1, 0};
  for (size_t i = 0; i < 4; i++) {
    size_t it = vb_list_begin_item(&b);
    vb_int(&b, fields[i]);
    vb_list_end_item(&b, it);
  }
  size_t it = vb_list_begin_item(&b);
  vb_str(&b, "x", 1);
  vb_list_end_item(&b, it);
  it = vb_list_begin_item(&b);
  vb_list_end(&b, vb_list_begin(&b));
  vb_list_end_item(&b, it);
  vb_list_end(&b, list);
  ck_assert_int_eq(cmd_replay(reg, b.p, b.len, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "unknown kind 99"), "%s", err);
  const uint8_t junk[] = {0xff, 0x01, 0x02};
  ck_assert_int_eq(cmd_replay(reg, junk, sizeof junk, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "not a command record"), "%s", err);
  vb_free(&b);
}
END_TEST

/* Proves that the internal methods only a replay runs are refused from a
 * request, and change nothing. */
START_TEST(test_internal_refused) {
  uint64_t lk = make(S1, "lock", "lk", "");
  size_t n = log_.n;
  ck_assert_int_eq(run(S1, lk, "_grant", "1", T0), WS_TYPE_ERROR);
  ck_assert_msg(strstr(err, "internal"), "%s", err);
  ck_assert_str_eq(ok(S1, lk, "locked", ""), "false");
  uint64_t b = make(S1, "barrier", "b", "2");
  ck_assert_int_eq(run(S1, b, "_break", "0", T0), WS_TYPE_ERROR);
  ck_assert_str_eq(ok(S1, b, "broken", ""), "false");
  ck_assert_uint_eq(log_.n, n + 1); /* the barrier's create only */
}
END_TEST

/* ---- a custom type without serialize callbacks: in memory only ---- */

static int scratch_ping(sm_method_call *mc) {
  (void)mc;
  return SM_OK;
}
static const sm_method_def scratch_methods[] = {{"ping", scratch_ping}};
static const sm_type_def scratch_def = {
    .version = SM_TYPE_DEF_VERSION, .name = "scratch", .methods = scratch_methods, .n_methods = 1};

/* Proves that objects of a type without a save hook, and calls on them,
 * stay out of the log while the ids they took do not shift the creates
 * logged after them, and that a kept object may not store a reference to
 * one: a replay (what a restart after a snapshot does) agrees and does not
 * fail on the missing object. */
START_TEST(test_unkept_type) {
  obj_type *scratch = custom_type_new(&scratch_def);
  ck_assert_ptr_nonnull(scratch);
  ck_assert_int_eq(reg_add_type(reg, scratch), 0);
  uint64_t d = make(S1, "dict", "d", "");
  size_t before = log_.n;
  uint64_t p = make(S1, "scratch", NULL, "");
  ok(S1, p, "ping", "");
  ck_assert_uint_eq(log_.n, before + 1); /* only where the ids go on */
  uint64_t anon = make(S1, "dict", NULL, "");
  ck_assert_uint_gt(anon, p);
  ok(S1, anon, "set", "'k', 1");
  const char *ref = smtest_fmt("'x', %s", smtest_ref(reg_get(reg, p)));
  ck_assert_int_eq(run(S1, d, "set", ref, T0), WS_TYPE_ERROR);
  ck_assert_msg(strstr(err, "kept in memory only") != NULL, "%s", err);
  size_t n = log_.n;
  ok(S1, 0, "release", smtest_fmt("%llu", (unsigned long long)p));
  ck_assert_uint_eq(log_.n, n);

  registry *r = reg_new();
  ck_assert_ptr_nonnull(r);
  ck_assert_int_eq(reg_add_type(r, scratch), 0);
  for (size_t i = 0; i < log_.n; i++)
    ck_assert_msg(cmd_replay(r, log_.rec[i].p, log_.rec[i].len, err, sizeof err) == 0, "%s", err);
  ck_assert_ptr_null(reg_get(r, p));
  ck_assert_ptr_nonnull(reg_get(r, anon));
  registry *live = reg;
  reg = r;
  ck_assert_str_eq(ok(S1, anon, "get", "'k'"), "1");
  reg = live;
  ck_assert_uint_eq(reg_next_id(r), reg_next_id(reg));
  reg_free(r);
  reg_free(reg); /* before its type goes */
  reg = NULL;
  custom_type_free(scratch);
}
END_TEST

/* Proves that the sessions table survives save and load: ownership and
 * references come back as they were (no references taken again), a
 * session with nothing is never logged ending, and an earlier run's
 * sessions are the orphans. */
static void count_orphan(void *ctx, uint64_t sid) {
  (void)sid;
  (*(size_t *)ctx)++;
}

START_TEST(test_sessions_save_load) {
  uint64_t lk = make(S1, "lock", "lk", "");
  ok(S1, lk, "acquire", "");
  uint64_t anon = make(S2, "list", NULL, "");
  vbuf saved;
  vb_init(&saved);
  ck_assert_int_eq(cmd_sessions_save(reg, &saved), 0);
  registry *r = replay_all(SIZE_MAX);
  ck_assert_ptr_nonnull(r);
  vbuf again;
  vb_init(&again);
  ck_assert_int_eq(cmd_sessions_save(r, &again), 0);
  ck_assert_uint_eq(saved.len, again.len);
  ck_assert_int_eq(memcmp(saved.p, again.p, saved.len), 0);
  reg_free(r);
  /* Loaded into a registry without them: the same blob, no new counts. */
  r = reg_new();
  ck_assert_int_eq(cmd_sessions_load(r, saved.p, saved.len, err, sizeof err), 0);
  vb_reset(&again);
  ck_assert_int_eq(cmd_sessions_save(r, &again), 0);
  ck_assert_int_eq(memcmp(saved.p, again.p, saved.len), 0);
  size_t orphans = 0;
  reg_begin_ids(r, 1000);
  cmd_each_orphan(r, count_orphan, &orphans);
  ck_assert_uint_eq(orphans, 2);
  ck_assert_int_eq(cmd_sessions_load(r, (const uint8_t *)"\x01", 1, err, sizeof err), -1);
  reg_free(r);
  vb_free(&saved);
  vb_free(&again);
  (void)anon;
  size_t n = log_.n;
  cmd_end_session(reg, S4, 0); /* holds nothing */
  ck_assert_uint_eq(log_.n, n);
  cmd_end_session(reg, S2, 0); /* its list goes */
  ck_assert_uint_eq(log_.n, n + 1);
  ck_assert_ptr_null(reg_get(reg, anon));
}
END_TEST

/* Proves that expiry replays: TTLs set by calls (a dict key's, an
 * object's) become deadlines from the records' times, and the removals the
 * lazy check made when they came due (logged as _expire with their time)
 * apply again in a replay done later, which reads no clock; an open by ref
 * of an object that expired answers NOT_FOUND (it crashed the daemon:
 * the ref passed the argument check, then the lazy check removed it). */
START_TEST(test_expiry_replays) {
  cmd_begin_ids(reg, reg_first_id_at(1700000000000));
  uint64_t d = make(S1, "dict", "d", "");
  ok(S1, d, "set", "'a', 1, 20");
  ok(S1, d, "set", "'b', 2, 60000");
  ok(S1, d, "set", "'c', 3");
  uint64_t l = make(S1, "list", NULL, "");
  char ref[64];
  snprintf(ref, sizeof ref, "%s", smtest_ref(reg_get(reg, l)));
  ck_assert_str_eq(ok(S1, 0, "expire", smtest_fmt("%llu, 20", (unsigned long long)l)), "true");
  usleep(40 * 1000);
  ck_assert_int_eq(run(S1, 0, "open", ref, T0), WS_NOT_FOUND);
  ck_assert_ptr_null(reg_get(reg, l));
  ck_assert_int_eq(run(S1, d, "get", "'a'", T0), WS_NOT_FOUND);
  ck_assert_str_eq(ok(S1, d, "len", ""), "2");
  usleep(30 * 1000); /* the replay runs later than the calls did */
  registry *r = replay_all(SIZE_MAX);
  ck_assert_msg(r != NULL, "replay failed: %s", err);
  ck_same(reg, r);
  reg_free(r);
}
END_TEST

/* Sessions whose ids share a slot of the recently-found entries
 * (SESS_RECENT apart) are each found as themselves, and one that ended is
 * not found through the slot while the other still is. */
START_TEST(test_sessions_sharing_a_slot) {
  const uint64_t a = S3, b = S3 + SESS_RECENT, c = S3 + 2 * SESS_RECENT;
  ck_assert_int_eq(sess_begin(reg, a, 1, true), 0);
  ck_assert_int_eq(sess_begin(reg, b, 2, true), 0);
  ck_assert_int_eq(sess_reply_keep(reg, a, 1, (sm_span){(const uint8_t *)"a", 1}), 0);
  ck_assert_int_eq(sess_reply_keep(reg, b, 1, (sm_span){(const uint8_t *)"bb", 2}), 0);
  for (int i = 0; i < 3; i++) { /* taking turns, as two clients' requests do */
    sess_request sr;
    sess_request_begin(reg, a, 1, 0, &sr);
    ck_assert(sr.answered && sr.result.n == 1 && sr.result.p[0] == 'a');
    sess_request_begin(reg, b, 1, 0, &sr);
    ck_assert(sr.answered && sr.result.n == 2 && sr.result.p[0] == 'b');
    ck_assert(!sess_kept(reg, c));
  }
  sess_end(reg, b);
  ck_assert(!sess_kept(reg, b));
  ck_assert(sess_kept(reg, a));
  sess_end(reg, a);
  ck_assert(!sess_kept(reg, a));
}
END_TEST

/* The reply table of a kept session (session.c keeps it sorted by seq,
 * small answers inline): answers found by seq, a parked call's answer kept
 * after newer ones, acknowledgements dropping what they cover (also out of
 * order), answers of every size, an error answer with its status, a
 * grant's token and OWNER_DEAD, and the
 * same table after a save and a load. Kept answers count in the used
 * memory until acknowledged. The entry found last is remembered: an ended
 * session is not found through it. */
START_TEST(test_reply_table) {
  ck_assert_int_eq(sess_begin(reg, S1, 77, true), 0);
  size_t used_before = reg_mem(reg)->used;
  char big[300];
  memset(big, 'x', sizeof big);
  for (uint64_t seq = 1; seq <= 200; seq++) {
    if (seq == 150) continue; /* answered late, below */
    sm_span answer = {(const uint8_t *)big, (size_t)(seq % 7 == 0 ? 100 + seq : seq % 24)};
    ck_assert_int_eq(sess_reply_keep(reg, S1, seq, answer), 0);
  }
  ck_assert_int_eq(sess_reply_keep(reg, S1, 150, (sm_span){(const uint8_t *)"late", 4}), 0);
  ck_assert_uint_eq(sess_reply_count(reg, S1), 200);
  ck_assert_uint_gt(reg_mem(reg)->used, used_before + 200 * 16);
  sm_span got;
  int st;
  uint64_t tok = 99;
  ck_assert(sess_reply_find(reg, S1, 150, &st, &got, &tok));
  ck_assert_uint_eq(tok, 0); /* not a grant */
  ck_assert_int_eq(st, WS_OK);
  ck_assert_uint_eq(got.n, 4);
  ck_assert_int_eq(memcmp(got.p, "late", 4), 0);
  for (uint64_t seq = 1; seq <= 200; seq++) {
    if (seq == 150) continue;
    ck_assert(sess_reply_find(reg, S1, seq, &st, &got, &tok));
    ck_assert_int_eq(st, WS_OK);
    ck_assert_uint_eq(got.n, seq % 7 == 0 ? 100 + seq : seq % 24);
    if (got.n) ck_assert_int_eq(memcmp(got.p, big, got.n), 0);
  }
  ck_assert(!sess_reply_find(reg, S1, 201, &st, &got, &tok));
  ck_assert(!sess_reply_find(reg, S1, 0, &st, &got, &tok));
  /* The same seq again: the newer answer. */
  ck_assert_int_eq(sess_reply_keep(reg, S1, 3, (sm_span){(const uint8_t *)"again", 5}), 0);
  ck_assert(sess_reply_find(reg, S1, 3, &st, &got, &tok));
  ck_assert_uint_eq(got.n, 5);
  ck_assert_uint_eq(sess_reply_count(reg, S1), 200);
  sess_ack(reg, S1, 120);
  ck_assert_uint_eq(sess_acked(reg, S1), 120);
  ck_assert_uint_eq(sess_reply_count(reg, S1), 80);
  ck_assert(!sess_reply_find(reg, S1, 120, &st, &got, &tok));
  ck_assert(sess_reply_find(reg, S1, 121, &st, &got, &tok));
  /* An answer at or below what was acknowledged is not kept. */
  ck_assert_int_eq(sess_reply_keep(reg, S1, 100, (sm_span){(const uint8_t *)"no", 2}), 0);
  ck_assert(!sess_reply_find(reg, S1, 100, &st, &got, &tok));
  sess_ack(reg, S1, 110); /* older than what it has: nothing changes */
  ck_assert_uint_eq(sess_acked(reg, S1), 120);
  ck_assert_uint_eq(sess_reply_count(reg, S1), 80);
  /* More answers reuse the room the acknowledged ones left. */
  for (uint64_t seq = 201; seq <= 300; seq++)
    ck_assert_int_eq(sess_reply_keep(reg, S1, seq, (sm_span){(const uint8_t *)big, 9}), 0);
  ck_assert_uint_eq(sess_reply_count(reg, S1), 180);
  ck_assert(sess_reply_find(reg, S1, 150, &st, &got, &tok));
  ck_assert_uint_eq(got.n, 4);
  /* An error answer (an applied call that failed later) keeps its status,
   * replacing the OK one of the same seq, short or long. */
  ck_assert_int_eq(
      sess_reply_keep_status(reg, S1, 121, WS_BROKEN, (sm_span){(const uint8_t *)"broken", 6}), 0);
  ck_assert_int_eq(
      sess_reply_keep_status(reg, S1, 122, WS_BROKEN, (sm_span){(const uint8_t *)big, 40}), 0);
  ck_assert(sess_reply_find(reg, S1, 121, &st, &got, &tok));
  ck_assert_int_eq(st, WS_BROKEN);
  ck_assert_uint_eq(got.n, 6);
  ck_assert_int_eq(memcmp(got.p, "broken", 6), 0);
  ck_assert_uint_eq(sess_reply_count(reg, S1), 180);
  /* A grant keeps its token, and OWNER_DEAD with its result: its answer
   * inline with the token (2 + 8 bytes) or not (12 + 8). */
  ck_assert_int_eq(
      sess_reply_keep_grant(reg, S1, 123, (sm_span){(const uint8_t *)"\x02\x01", 2}, 41, false), 0);
  ck_assert_int_eq(
      sess_reply_keep_grant(reg, S1, 124, (sm_span){(const uint8_t *)big, 12}, UINT64_MAX, true),
      0);
  ck_assert(sess_reply_find(reg, S1, 123, &st, &got, &tok));
  ck_assert_int_eq(st, WS_OK);
  ck_assert_uint_eq(tok, 41);
  ck_assert_uint_eq(got.n, 2);
  ck_assert_int_eq(memcmp(got.p, "\x02\x01", 2), 0);
  ck_assert(sess_reply_find(reg, S1, 124, &st, &got, &tok));
  ck_assert_int_eq(st, WS_OWNER_DEAD);
  ck_assert(tok == UINT64_MAX);
  ck_assert_uint_eq(got.n, 12);
  ck_assert_int_eq(memcmp(got.p, big, 12), 0);
  /* Saved and loaded: the same table. */
  vbuf saved, again;
  vb_init(&saved);
  vb_init(&again);
  ck_assert_int_eq(cmd_sessions_save(reg, &saved), 0);
  registry *r = reg_new();
  ck_assert_int_eq(cmd_sessions_load(r, saved.p, saved.len, err, sizeof err), 0);
  ck_assert_uint_eq(sess_reply_count(r, S1), 180);
  ck_assert_uint_eq(sess_acked(r, S1), 120);
  ck_assert(sess_reply_find(r, S1, 300, &st, &got, &tok));
  ck_assert_int_eq(st, WS_OK);
  ck_assert_uint_eq(got.n, 9);
  ck_assert(sess_reply_find(r, S1, 122, &st, &got, &tok));
  ck_assert_int_eq(st, WS_BROKEN);
  ck_assert_uint_eq(got.n, 40);
  ck_assert_int_eq(memcmp(got.p, big, 40), 0);
  ck_assert(sess_reply_find(r, S1, 123, &st, &got, &tok));
  ck_assert_int_eq(st, WS_OK);
  ck_assert_uint_eq(tok, 41);
  ck_assert_uint_eq(got.n, 2);
  ck_assert(sess_reply_find(r, S1, 124, &st, &got, &tok));
  ck_assert_int_eq(st, WS_OWNER_DEAD);
  ck_assert(tok == UINT64_MAX);
  ck_assert_uint_eq(got.n, 12);
  ck_assert_int_eq(memcmp(got.p, big, 12), 0);
  ck_assert_int_eq(cmd_sessions_save(r, &again), 0);
  ck_assert_uint_eq(saved.len, again.len);
  ck_assert_int_eq(memcmp(saved.p, again.p, saved.len), 0);
  reg_free(r);
  vb_free(&saved);
  vb_free(&again);
  /* A request's one look-up (sess_request_begin) sees the same: its ack
   * drops what it covers, its seq's answer is found, a new seq's is not. */
  sess_request sr;
  sess_request_begin(reg, S1, 290, 200, &sr);
  ck_assert(sr.kept && sr.answered);
  ck_assert_int_eq(sr.status, WS_OK);
  ck_assert_uint_eq(sr.result.n, 9);
  ck_assert_uint_eq(sr.acked, 200);
  ck_assert_uint_eq(sr.replies, 100);
  ck_assert_uint_eq(sess_reply_count(reg, S1), 100);
  ck_assert(!sess_reply_find(reg, S1, 200, &st, &got, &tok));
  sess_request_begin(reg, S1, 124, 0, &sr); /* acknowledged: gone */
  ck_assert(!sr.answered);
  sess_request_begin(reg, S1, 301, 0, &sr); /* a new call */
  ck_assert(sr.kept && !sr.answered);
  ck_assert_uint_eq(sr.acked, 200);
  sess_request_begin(reg, S2, 5, 4, &sr); /* no entry: nothing kept */
  ck_assert(!sr.kept && !sr.answered && sr.replies == 0);
  sess_request_begin(reg, 0, 5, 4, &sr);
  ck_assert(!sr.kept && !sr.answered);
  sess_ack(reg, S1, 300);
  ck_assert_uint_eq(sess_reply_count(reg, S1), 0);
  ck_assert_uint_eq(reg_mem(reg)->used, used_before); /* every answer uncounted */
  ck_assert(sess_kept(reg, S1));
  sess_end(reg, S1);
  ck_assert(!sess_kept(reg, S1));
  ck_assert(!sess_reply_find(reg, S1, 301, &st, &got, &tok));
  ck_assert_uint_eq(sess_reply_count(reg, S1), 0);
  /* A session that holds nothing any more leaves the table. */
  uint64_t anon = make(S2, "list", NULL, "");
  ck_assert(sess_holds_anything(reg, S2));
  ck_assert(sess_release(reg, S2, anon));
  ck_assert(!sess_holds_anything(reg, S2));
  ck_assert_uint_eq(sess_ref_count(reg, S2), 0);
}
END_TEST

Suite *cmd_suite(void) {
  Suite *s = suite_create("cmd");
  TCase *tc = tcase_create("replay");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, test_replay_agrees);
  tcase_add_test(tc, test_replay_logs_nothing);
  tcase_add_test(tc, test_only_changes_logged);
  tcase_add_test(tc, test_divergence_fails);
  tcase_add_test(tc, test_guard_logged);
  tcase_add_test(tc, test_unknown_record);
  tcase_add_test(tc, test_format1_replays);
  tcase_add_test(tc, test_format2_malformed);
  tcase_add_test(tc, test_internal_refused);
  tcase_add_test(tc, test_sessions_save_load);
  tcase_add_test(tc, test_unkept_type);
  tcase_add_test(tc, test_expiry_replays);
  tcase_add_test(tc, test_reply_table);
  tcase_add_test(tc, test_sessions_sharing_a_slot);
  suite_add_tcase(s, tc);
  return s;
}
