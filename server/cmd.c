/* SPDX-License-Identifier: MIT */
/* cmd.c - the command stream: encoding records, handing them to the sink,
 * and replaying them (see cmd.h).
 *
 * A record holds the fields [kind, time_ms, session, object, method,
 * [args...]] and, for a CALL a client's request made, two more: [..., seq,
 * ack], and for one made under a fencing guard (fence.h) two more after
 * those: [..., seq, ack, guard_object, guard_token] (seq and ack 0 when the
 * session is not kept); a replay checks the guard as the live call did.
 * They are written in format 2 (emit: fixed-width fields, then the
 * arguments); a replay also reads format 1, a packed Value list of those
 * fields (proto/vwire.h), which daemons before it wrote.
 * CALL: session called method on object with args, answered OK without
 * waiting; seq is the request's (its answer is kept in the session's reply
 * table, session.h) and ack what the client acknowledged with it, so a
 * replay rebuilds the reply table with the objects: apply is
 * deterministic, and the answer is recomputed, never logged. A type's decision of its own is a CALL
 * of a METHOD_INTERNAL method (the lock's "_grant", the barrier's "_break"...), which dispatch
 * refuses from the wire and lets run only here, in replay.
 * END_SESSION: session ended (method "", no args; object 0, or -1 when it
 * held no object, only kept answers: no object changes).
 * BEGIN_IDS: the run's ids start at object (session 0, method "").
 * BEGIN_SESSION: session is kept from now on (a client that may resume
 * it after a restart; object 0, method "", args [key]: what a resume must
 * name).
 *
 * Replay runs dispatch_call() with no connection and the record's session:
 * the apply path is the live one. Every replayed call is made with a zero
 * timeout, so it never parks; a record that does not answer OK (a lock held
 * by someone else, an empty queue) shows that the log and the state it is
 * replayed on disagree, and fails. The clock is read here, when a record is
 * made, never while a record is applied.
 *
 * cmd_end_session gives back what a session held; its parked calls are the
 * caller's to drop first (conn.c does, with blk_conn_cancel, when the
 * connection starts closing): a session of an earlier run has none, and a
 * replay parks nothing. */
#include "cmd.h"

#include "../proto/pbwire.h"
#include "blocked.h"
#include "clock.h"
#include "dispatch.h"
#include "le.h"
#include "log.h"
#include "session.h"
#include "watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CMD_FIELDS 6
#define CMD_FIELDS_SEQ 8    /* a CALL with seq and ack */
#define CMD_FIELDS_GUARD 10 /* ... and a fencing guard */

int64_t cmd_now_ms(void) { return clock_unix_ms(); }

int64_t cmd_time(const registry *reg) {
  cmd_state *st = reg_cmd((registry *)reg);
  if (st->replaying) return st->now_ms;
  if (!st->timed) return cmd_now_ms();
  if (!st->now_read) { /* read once, when first asked: most calls never ask */
    st->now_ms = cmd_now_ms();
    st->now_read = true;
  }
  return st->now_ms;
}

void cmd_clock_begin(registry *reg) {
  cmd_state *st = reg_cmd(reg);
  if (st->replaying) return;
  st->timed = true;
  st->now_read = false;
}

void cmd_clock_end(registry *reg) {
  cmd_state *st = reg_cmd(reg);
  if (!st->replaying) st->timed = false;
}

void cmd_set_sink(registry *reg, cmd_sink_fn fn, void *ctx) {
  cmd_state *st = reg_cmd(reg);
  st->sink = fn;
  st->ctx = fn ? ctx : NULL;
}

bool cmd_logging(const registry *reg) {
  const cmd_state *st = reg_cmd((registry *)reg);
  return st->sink && !st->replaying;
}

bool cmd_replaying(const registry *reg) { return reg_cmd((registry *)reg)->replaying; }

void cmd_fini(cmd_state *st) { vb_free(&st->rec); }

/* Record format 2: a fixed head, then the method's bytes, then the
 * arguments as the body of a packed list (each a list item: a tag, a
 * length, a packed Value), to the end of the record. Fixed-width fields,
 * because a record is written for every change a client makes and read
 * back only at a start: varints of 64-bit ids cost more to write than they
 * save. Little-endian (le.h):
 *   0 CMD_REC2 (a format-1 record, a packed list, starts with 0x3a)
 *   1 kind   2 flags (CMD_REC2_SEQ, CMD_REC2_GUARD)   3 method length
 *   4 time_ms   12 session   20 object   (8 bytes each)
 *   28 seq, ack (CMD_REC2_SEQ) then guard_object, guard_token
 *      (CMD_REC2_GUARD), 8 bytes each */
#define CMD_REC2 0x01
#define CMD_REC2_SEQ 0x01
#define CMD_REC2_GUARD 0x02
#define CMD_REC2_HEAD 28

/* Encodes a record and hands it to the sink: sized first, then written
 * front to back in one pass (this runs for every change a client makes). */
static void emit(registry *reg, int kind, int64_t time_ms, uint64_t session, uint64_t object,
                 sm_obj *o, const char *method, const sm_span *args, size_t nargs, uint64_t seq,
                 uint64_t ack, uint64_t guard_object, uint64_t guard_token) {
  cmd_state *st = reg_cmd(reg);
  size_t mlen = strlen(method);
  uint8_t flags =
      (uint8_t)((seq || guard_object ? CMD_REC2_SEQ : 0) | (guard_object ? CMD_REC2_GUARD : 0));
  size_t len =
      CMD_REC2_HEAD + (flags & CMD_REC2_SEQ ? 16 : 0) + (flags & CMD_REC2_GUARD ? 16 : 0) + mlen;
  for (size_t i = 0; i < nargs; i++)
    len += vw_item_size(args[i].n);
  vbuf *b = &st->rec;
  vb_reset(b);
  uint8_t *p = mlen <= WIRE_METHOD_MAX ? vb_grow(b, len) : NULL;
  if (!p) {
    /* The change is made and cannot be taken back: say loudly that the log
     * misses it. */
    log_error("out of memory encoding the command %s on object %llu: it is not logged", method,
              (unsigned long long)object);
    b->failed = false;
    vb_free(b);
    return;
  }
  p[0] = CMD_REC2;
  p[1] = (uint8_t)kind;
  p[2] = flags;
  p[3] = (uint8_t)mlen;
  le_put_u64(p + 4, (uint64_t)time_ms);
  le_put_u64(p + 12, session);
  le_put_u64(p + 20, object);
  p += CMD_REC2_HEAD;
  if (flags & CMD_REC2_SEQ) {
    le_put_u64(p, seq);
    le_put_u64(p + 8, ack);
    p += 16;
  }
  if (flags & CMD_REC2_GUARD) {
    le_put_u64(p, guard_object);
    le_put_u64(p + 8, guard_token);
    p += 16;
  }
  memcpy(p, method, mlen);
  p += mlen;
  for (size_t i = 0; i < nargs; i++)
    p = vw_put_item(p, args[i]);
  st->sink(st->ctx, b->p, len, kind, object, o);
}

void cmd_log_call(registry *reg, uint64_t session, uint64_t object, const char *method,
                  const sm_span *args, size_t nargs) {
  cmd_log_request(reg, session, 0, 0, object, method, args, nargs);
}

void cmd_log_request(registry *reg, uint64_t session, uint64_t seq, uint64_t ack, uint64_t object,
                     const char *method, const sm_span *args, size_t nargs) {
  if (!cmd_logging(reg)) return;
  /* Only a kept session has a reply table for seq to find again. */
  if (!sess_kept(reg, session)) seq = ack = 0;
  emit(reg, CMD_CALL, cmd_time(reg), session, object, NULL, method, args, nargs, seq, ack, 0, 0);
}

void cmd_log_client_call(registry *reg, uint64_t session, bool kept, const wire_request *req,
                         sm_obj *o, const sm_span *args, size_t nargs) {
  if (!cmd_logging(reg)) return;
  emit(reg, CMD_CALL, cmd_time(reg), session, req->object, o, req->method, args, nargs,
       kept ? req->seq : 0, kept ? req->ack : 0, req->guard_object, req->guard_token);
}

void cmd_log_served(registry *reg, waiter *w, uint64_t object, const char *method,
                    const sm_span *args, size_t nargs) {
  uint64_t session = blk_session(w);
  bool keep = blk_seq(w) && sess_kept(reg, session);
  if (keep) blk_keep_answer(w); /* its answer goes to the session's reply table */
  cmd_log_request(reg, session, keep ? blk_seq(w) : 0, keep ? sess_acked(reg, session) : 0, object,
                  method, args, nargs);
}

/* The object a manager call names by its first argument: a ref, an id or
 * a name; NULL when none (or not found). */
static const sm_obj *named_target(const registry *reg, const sm_span *args, size_t nargs) {
  vinfo vi;
  if (nargs < 1 || vw_peek(args[0], &vi) != VW_OK) return NULL;
  if (vi.kind == VK_REF) return reg_get(reg, vi.ref_id);
  if (vi.kind == VK_INT) return vi.i > 0 ? reg_get(reg, (uint64_t)vi.i) : NULL;
  if (vi.kind != VK_STR || vi.data.n > NAME_MAX_LEN) return NULL;
  char name[NAME_MAX_LEN + 1];
  memcpy(name, vi.data.p, vi.data.n);
  name[vi.data.n] = '\0';
  return reg_get_named(reg, name);
}

bool cmd_kept_manager_call(const registry *reg, const char *method, const sm_span *args,
                           size_t nargs) {
  vinfo vi;
  if ((strcmp(method, "create") == 0 || strcmp(method, "create_with") == 0) && nargs >= 1 &&
      vw_peek(args[0], &vi) == VW_OK && vi.kind == VK_STR && vi.data.n < 64) {
    char type[64];
    memcpy(type, vi.data.p, vi.data.n);
    type[vi.data.n] = '\0';
    const obj_type *t = reg_type(reg, type);
    return !t || t->save;
  }
  if (strcmp(method, "open") == 0 || strcmp(method, "release") == 0 ||
      strcmp(method, "delete") == 0 || strcmp(method, "expire") == 0 ||
      strcmp(method, "persist") == 0) {
    const sm_obj *o = named_target(reg, args, nargs);
    return !o || o->type->save;
  }
  return true;
}

/* The first object kept in memory only that a value refers to. */
static int find_unkept(void *ctx, uint64_t id, sm_span type) {
  (void)type;
  const void **found = ctx;
  const sm_obj *o = reg_get(found[0], id);
  if (o && !o->type->save) {
    found[1] = o;
    return 1;
  }
  return 0;
}

int cmd_check_refs_kept(const registry *reg, const sm_span *args, const unsigned *arg_flags,
                        size_t nargs, char *err, size_t errlen) {
  if (!cmd_logging(reg)) return WS_OK;
  for (size_t i = 0; i < nargs; i++) {
    if (!(arg_flags[i] & VW_FLAG_HAS_REF)) continue;
    const void *found[2] = {reg, NULL};
    vw_each_ref(args[i], find_unkept, found);
    if (found[1]) {
      const sm_obj *o = found[1];
      snprintf(err, errlen,
               "object %llu is a %s, which is kept in memory only (its type has no serialize "
               "callbacks): it cannot be stored in an object the daemon keeps",
               (unsigned long long)o->id, o->type->name);
      return WS_TYPE_ERROR;
    }
  }
  return WS_OK;
}

void cmd_log_next_id(registry *reg) {
  if (cmd_logging(reg))
    emit(reg, CMD_NEXT_ID, cmd_now_ms(), 0, reg_next_id(reg), NULL, "", NULL, 0, 0, 0, 0, 0);
}

void cmd_begin_ids(registry *reg, uint64_t first) {
  if (cmd_logging(reg))
    emit(reg, CMD_BEGIN_IDS, cmd_now_ms(), 0, first, NULL, "", NULL, 0, 0, 0, 0, 0);
  reg_begin_ids(reg, first);
}

int cmd_begin_session(registry *reg, uint64_t session, uint64_t key, int64_t now_ms) {
  if (sess_begin(reg, session, key, true) != 0) return -1;
  if (cmd_logging(reg)) {
    uint8_t raw[16];
    vbuf k = {.p = raw, .cap = sizeof raw};
    vb_int(&k, (int64_t)key);
    sm_span arg = vb_span(&k);
    emit(reg, CMD_BEGIN_SESSION, now_ms, session, 0, NULL, "", &arg, 1, 0, 0, 0, 0);
  }
  return 0;
}

void cmd_end_session(registry *reg, uint64_t session, int64_t now_ms) {
  if (!sess_holds_anything(reg, session)) return; /* nothing to give back: nothing to log */
  /* A session that held no object (a kept one: only its answers) changes
   * no object by ending: its record says so, and no answer waits for it. */
  uint64_t object = sess_holds_objects(reg, session) ? 0 : CMD_NO_OBJECT;
  if (cmd_logging(reg))
    emit(reg, CMD_END_SESSION, now_ms, session, object, NULL, "", NULL, 0, 0, 0, 0, 0);
  sess_end(reg, session);
}

/* The extra section is ["sessions+revisions", sessions, revisions]; an
 * older daemon's is the sessions table alone (a list of lists, so its
 * first item is never that string). */
#define CMD_EXTRA_MARK "sessions+revisions"

int cmd_sessions_save(void *reg, vbuf *out) {
  size_t list = vb_list_begin(out);
  size_t item = vb_list_begin_item(out);
  vb_str(out, CMD_EXTRA_MARK, strlen(CMD_EXTRA_MARK));
  vb_list_end_item(out, item);
  item = vb_list_begin_item(out);
  int rc = sess_save(reg, out);
  vb_list_end_item(out, item);
  item = vb_list_begin_item(out);
  if (rc == 0) rc = wch_save(reg, out);
  vb_list_end_item(out, item);
  vb_list_end(out, list);
  return rc == 0 && !out->failed ? 0 : -1;
}

int cmd_sessions_load(registry *reg, const uint8_t *data, size_t len, char *err, size_t errlen) {
  sm_span all = {data, len}, mark, sessions, revisions;
  vinfo top, mi;
  vw_iter it;
  if (vw_scan(all, VW_DEPTH_MAX, &top, NULL) == VW_OK && top.kind == VK_LIST) {
    vw_iter_init(&it, top.data);
    if (vw_list_next(&it, &mark) && vw_peek(mark, &mi) == VW_OK && mi.kind == VK_STR &&
        mi.data.n == strlen(CMD_EXTRA_MARK) && memcmp(mi.data.p, CMD_EXTRA_MARK, mi.data.n) == 0) {
      if (!vw_list_next(&it, &sessions) || !vw_list_next(&it, &revisions)) {
        snprintf(err, errlen, "the snapshot's extra section misses its sessions or revisions");
        return -1;
      }
      if (sess_load(reg, sessions, err, errlen) != 0) return -1;
      return wch_load(reg, revisions, err, errlen);
    }
  }
  return sess_load(reg, all, err, errlen); /* an older daemon's snapshot */
}

void cmd_each_orphan(registry *reg, void (*fn)(void *ctx, uint64_t session), void *ctx) {
  sess_each_orphan(reg, fn, ctx);
}

/* ---- replay ---- */

/* The fields of a record, borrowed from it. */
typedef struct record {
  int64_t kind, time_ms, session, object;
  sm_span method;                    /* the string's bytes */
  sm_span args;                      /* the args list's body */
  int64_t seq, ack;                  /* a client's CALL: its request's; else 0 */
  int64_t guard_object, guard_token; /* a CALL under a fencing guard; else 0 */
} record;

/* A format-1 record (written before format 2): a packed list of 6, 8
 * or 10 fields. Returns false when it is not one. */
static bool parse_v1(sm_span rec, record *r) {
  vinfo top;
  if (vw_scan(rec, VW_DEPTH_MAX, &top, NULL) != VW_OK || top.kind != VK_LIST) return false;
  vw_iter it;
  vw_iter_init(&it, top.data);
  sm_span f[CMD_FIELDS];
  vinfo vi[CMD_FIELDS];
  for (size_t i = 0; i < CMD_FIELDS; i++)
    if (!vw_list_next(&it, &f[i]) || vw_peek(f[i], &vi[i]) != VW_OK) return false;
  for (size_t i = 0; i < 4; i++)
    if (vi[i].kind != VK_INT) return false;
  if (vi[4].kind != VK_STR || vi[5].kind != VK_LIST) return false;
  *r = (record){vi[0].i, vi[1].i, vi[2].i, vi[3].i, vi[4].data, vi[5].data, 0, 0, 0, 0};
  sm_span seq, ack;
  vinfo sv, av;
  if (!vw_list_next(&it, &seq)) return true;
  if (!vw_list_next(&it, &ack) || vw_peek(seq, &sv) != VW_OK || vw_peek(ack, &av) != VW_OK ||
      sv.kind != VK_INT || av.kind != VK_INT || sv.i < 0 || av.i < 0)
    return false;
  r->seq = sv.i;
  r->ack = av.i;
  sm_span go, gt;
  vinfo gov, gtv;
  if (!vw_list_next(&it, &go)) return true;
  if (!vw_list_next(&it, &gt) || vw_peek(go, &gov) != VW_OK || vw_peek(gt, &gtv) != VW_OK ||
      gov.kind != VK_INT || gtv.kind != VK_INT || gov.i <= 0 || gtv.i < 0)
    return false;
  r->guard_object = gov.i;
  r->guard_token = gtv.i;
  return true;
}

/* A format-2 record (emit). Its arguments are checked to be list items
 * that fill the record exactly; each is scanned by dispatch, as a
 * client's are. Returns false when it is not one. */
static bool parse_v2(sm_span rec, record *r) {
  const uint8_t *p = rec.p;
  if (rec.n < CMD_REC2_HEAD || p[0] != CMD_REC2 || (p[2] & ~(CMD_REC2_SEQ | CMD_REC2_GUARD)) ||
      (p[2] & CMD_REC2_GUARD && !(p[2] & CMD_REC2_SEQ)))
    return false;
  size_t fixed = CMD_REC2_HEAD + (p[2] & CMD_REC2_SEQ ? 16 : 0) + (p[2] & CMD_REC2_GUARD ? 16 : 0);
  if (rec.n < fixed + p[3]) return false;
  *r = (record){.kind = p[1],
                .time_ms = (int64_t)le_get_u64(p + 4),
                .session = (int64_t)le_get_u64(p + 12),
                .object = (int64_t)le_get_u64(p + 20),
                .method = {p + fixed, p[3]},
                .args = {p + fixed + p[3], rec.n - fixed - p[3]}};
  if (p[2] & CMD_REC2_SEQ) {
    r->seq = (int64_t)le_get_u64(p + CMD_REC2_HEAD);
    r->ack = (int64_t)le_get_u64(p + CMD_REC2_HEAD + 8);
    if (r->seq < 0 || r->ack < 0) return false;
  }
  if (p[2] & CMD_REC2_GUARD) {
    r->guard_object = (int64_t)le_get_u64(p + CMD_REC2_HEAD + 16);
    r->guard_token = (int64_t)le_get_u64(p + CMD_REC2_HEAD + 24);
    if (r->guard_object <= 0 || r->guard_token < 0) return false;
  }
  vw_iter it;
  sm_span a;
  vw_iter_init(&it, r->args);
  const uint8_t *done = it.p; /* where the whole items end (a failed next may move it.p) */
  while (vw_list_next(&it, &a))
    done = it.p;
  return done == it.end;
}

/* Splits rec into its fields, whichever format wrote it. Returns false
 * when it is not a record. */
static bool parse(sm_span rec, record *r) {
  if (rec.n > 0 && rec.p[0] == CMD_REC2) return parse_v2(rec, r);
  return parse_v1(rec, r);
}

/* Applies a CALL record through dispatch, as its session, without waiting. */
static int replay_call(registry *reg, const record *r, char *err, size_t errlen) {
  if (r->method.n == 0 || r->method.n > WIRE_METHOD_MAX || memchr(r->method.p, '\0', r->method.n)) {
    snprintf(err, errlen, "a call record names no valid method");
    return -1;
  }
  wire_request req = {.seq = (uint64_t)r->seq,
                      .ack = (uint64_t)r->ack,
                      .guard_object = (uint64_t)r->guard_object,
                      .guard_token = (uint64_t)r->guard_token,
                      .object = (uint64_t)r->object,
                      .has_timeout = true,
                      .timeout_ms = 0};
  memcpy(req.method_buf, r->method.p, r->method.n);
  req.method_buf[r->method.n] = '\0';
  req.method = req.method_buf;
  req.args = req.args_inline;
  req.args_cap = WIRE_ARGS_INLINE;
  size_t n = 0;
  vw_iter it;
  sm_span a;
  vw_iter_init(&it, r->args);
  while (vw_list_next(&it, &a))
    n++;
  sm_span *args = n > WIRE_ARGS_INLINE ? malloc(n * sizeof *args) : req.args_inline;
  if (!args) {
    snprintf(err, errlen, "out of memory replaying %s", req.method);
    return -1;
  }
  vw_iter_init(&it, r->args);
  for (size_t i = 0; vw_list_next(&it, &a); i++)
    args[i] = a;
  req.args = args;
  req.nargs = n;
  vbuf result;
  vb_init(&result);
  char why[256];
  cmd_state *st = reg_cmd(reg);
  st->replaying = true;
  st->now_ms = r->time_ms; /* what cmd_time answers the methods */
  int status =
      dispatch_call(reg, NULL, (uint64_t)r->session, &req, VW_DEPTH_MAX, &result, why, sizeof why);
  st->replaying = false;
  vb_free(&result);
  if (args != req.args_inline) free(args);
  if (status == WS_OK) return 0;
  snprintf(err, errlen,
           "the log and the state disagree: %s on object %lld by session %lld answered status %d "
           "(%s)",
           req.method_buf, (long long)r->object, (long long)r->session, status,
           status == CALL_PARKED ? "it would wait" : why);
  return -1;
}

int cmd_replay(registry *reg, const uint8_t *rec, size_t len, char *err, size_t errlen) {
  record r;
  if (!parse((sm_span){rec, len}, &r)) {
    snprintf(err, errlen,
             "not a command record (format 2, or format 1: a list of %d, %d or %d fields)",
             CMD_FIELDS, CMD_FIELDS_SEQ, CMD_FIELDS_GUARD);
    return -1;
  }
  switch (r.kind) {
  case CMD_CALL: return replay_call(reg, &r, err, errlen);
  case CMD_END_SESSION: {
    cmd_state *st = reg_cmd(reg);
    st->replaying = true;
    sess_end(reg, (uint64_t)r.session);
    blk_serve(reg); /* no waiters in a replay: only clears the signals */
    st->replaying = false;
    return 0;
  }
  case CMD_BEGIN_IDS: reg_begin_ids(reg, (uint64_t)r.object); return 0;
  case CMD_NEXT_ID: reg_set_next_id(reg, (uint64_t)r.object); return 0;
  case CMD_BEGIN_SESSION: {
    vw_iter it;
    sm_span arg;
    vinfo key;
    vw_iter_init(&it, r.args);
    if (r.session <= 0 || !vw_list_next(&it, &arg) || vw_peek(arg, &key) != VW_OK ||
        key.kind != VK_INT || sess_begin(reg, (uint64_t)r.session, (uint64_t)key.i, false) != 0) {
      snprintf(err, errlen,
               "cannot begin session %lld (no session or key in the record, or out of memory)",
               (long long)r.session);
      return -1;
    }
    return 0;
  }
  default:
    snprintf(err, errlen, "a command record of unknown kind %lld (a newer daemon's log?)",
             (long long)r.kind);
    return -1;
  }
}
