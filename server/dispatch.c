/* SPDX-License-Identifier: MIT */
/* dispatch.c - one request in, one response out (see dispatch.h).
 *
 * Every argument is validated here, once, before any method runs: it must
 * be a canonical packed Value, nested no deeper than limits.max_depth, with
 * no map holding two equal keys (proto/vequal.h), and every ObjRef in it
 * must name a live object of the stated type. Methods can then trust their
 * arguments. The target must exist (an id of an earlier
 * run of the daemon is STALE, registry.h) and, when the request names the
 * type its proxy was opened for (Request.type, a code compared as an
 * integer), be of that type. The target object holds an extra reference
 * while its method runs, so a method that drops the last reference to its
 * own object (a self-referencing entry removed) cannot free it mid-call.
 * A method flagged METHOD_GROWS first asks the memory limit whether the
 * bytes of its arguments still fit (memory.h), and the target of every
 * mutating call is measured again afterwards (and, when it answered OK, a
 * watched object's revision is committed: watch.h). While the data directory's
 * disk is full (persist.h), a client's mutating call is refused with
 * DISK_FULL before it runs; reads go on.
 * The argument count is checked here too, once, against the method
 * table's ARGS (object.h), before anything else about the call.
 * A METHOD_INTERNAL method runs only in a replay (cmd.h); a METHOD_MUTATES
 * call that answered OK is handed to the command stream right after it
 * ran, before the serve pass its change may start (whose grants are logged
 * as they happen), so the log's order is the apply order.
 * Exactly once (session.h): a request of a kept session whose seq has a
 * kept answer is answered from the session's reply table and not run
 * again; its ack drops the answers the client has. A mutating call that
 * answered OK keeps its answer there (the CALL record carries seq and ack,
 * so a replay keeps the same). A client that never acknowledges is cut off
 * at --max-pending kept answers: its mutating calls are refused.
 * Expiry (expire.h): the call has one time (cmd_clock_begin; the clock is
 * read when something first asks, cmd_time), and whatever of its target is due to expire by then
 * goes first, so no call sees expired data; the target's next deadline is
 * indexed again after a mutating call.
 * A request with a fencing guard (fence.h) runs only while the guard
 * object's current grant has the guard's token: FENCED otherwise, before
 * anything else is looked at, so nothing is applied. A grant's token goes
 * back in Response.token, and a grant whose last holder died (policy
 * break) answers OWNER_DEAD with its result (the change is made, logged
 * and kept as an OK one: a replay recomputes it).
 * dispatch_call() does all of this without touching a socket, so the
 * dispatcher can be fuzzed; dispatch_request() adds the response frame.
 * Around each call it runs blocked.c's serve pass: before, so no request
 * finds an object whose waiters were signalled but not served yet (it could
 * pass them by); after, for the waiters the call itself let through.
 * A member of a replicated group that is not its leader (persist.h)
 * answers REDIRECT before anything runs.
 * dispatch_request() times each call for the latency histogram and the
 * slow-call log (stats_call_begin/end, stats.h: one clock read a call).
 * An answer larger than a client reads (dispatch_answer_limit) becomes a
 * TOO_LARGE status that names its size and, for a type with a cursor
 * iteration, points at it: a mutating call's change stays made. */
#include "dispatch.h"

#include "../proto/frame.h"
#include "../proto/pbwire.h"
#include "../proto/vequal.h"
#include "blocked.h"
#include "cmd.h"
#include "conn.h"
#include "expire.h"
#include "fence.h"
#include "log.h"
#include "memory.h"
#include "persist.h"
#include "server.h"
#include "session.h"
#include "stats.h"
#include "watch.h"
#include "sval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DISPATCH_LOCAL_ARGS 16

/* Validates every argument; fills args/flags and *bytes: what storing
 * them all would take (each a block of its own, as a stored value or key
 * is). Returns WS_OK or the status with c->err set. */
static int check_args(call *c, const wire_request *req, sm_span *args, unsigned *flags,
                      unsigned max_depth, size_t *bytes) {
  *bytes = 0;
  for (size_t i = 0; i < req->nargs; i++) {
    args[i] = wire_request_arg(req, i);
    *bytes += mem_chunk(sizeof(sval) + args[i].n);
    flags[i] = 0;
    switch (vw_scan(args[i], max_depth, NULL, &flags[i])) {
    case VW_OK: break;
    case VW_TOO_DEEP:
      return call_fail(c, WS_VALUE_ERROR, "argument %zu nests lists or maps deeper than %u levels",
                       i + 1, max_depth);
    case VW_BAD_KEY:
      return call_fail(c, WS_TYPE_ERROR, "argument %zu has an unhashable map key (list or map)",
                       i + 1);
    default: return call_fail(c, WS_PROTOCOL_ERROR, "argument %zu is not a valid value", i + 1);
    }
    if (flags[i] & VW_FLAG_HAS_MAP) {
      int rc = veq_check_keys(args[i]);
      if (rc == VEQ_DUP_KEY)
        return call_fail(c, WS_VALUE_ERROR,
                         "argument %zu has a map with two equal keys (such as 1 and 1.0)", i + 1);
      if (rc != VEQ_OK) return call_fail(c, WS_INTERNAL, "out of memory");
    }
    if (flags[i] & VW_FLAG_HAS_REF) {
      int rc = reg_check_refs(c->reg, args[i], c->err, sizeof c->err);
      if (rc != WS_OK) return rc;
    }
  }
  return WS_OK;
}

/* Counts a call for info, stats and /metrics (not the socketless calls of
 * the fuzzer, which has no server). */
static void count(const call *c, const obj_type *t, const method_def *m) {
  if (c->conn) stats_count(conn_server(c->conn)->stats, t, m);
}

/* The object is not of the type the caller's proxy was opened for: say
 * which type it is and, when this daemon knows the code, which was
 * expected. */
static int type_mismatch(call *c, const sm_obj *o, uint32_t expected) {
  const obj_type *want = reg_type_by_code(c->reg, expected);
  if (want)
    return call_fail(c, WS_TYPE_ERROR, "object %llu is a %s, not a %s", (unsigned long long)o->id,
                     o->type->name, want->name);
  return call_fail(c, WS_TYPE_ERROR,
                   "object %llu is a %s, not of the type the caller expects (type code %08x, "
                   "unknown here)",
                   (unsigned long long)o->id, o->type->name, (unsigned)expected);
}

/* A client's call that would change the state while the log cannot be
 * written: refused before it runs (the log keeps in memory only what was
 * applied already). */
static int disk_full(call *c, const wire_request *req, const method_def *m) {
  if (!(m->flags & METHOD_MUTATES) || !c->conn) return WS_OK;
  const persist *p = conn_server(c->conn)->persist;
  if (!p || !persist_full(p)) return WS_OK;
  /* Opening a named object by create (as every named proxy does) changes
   * nothing and is not logged: a client can still open what it reads. */
  if (req->object == 0 &&
      (strcmp(req->method, "create") == 0 || strcmp(req->method, "create_with") == 0) &&
      manager_create_finds(c->reg, c->args, c->nargs))
    return WS_OK;
  return call_fail(c, WS_DISK_FULL,
                   "the daemon's disk is full: changes are refused until it has room; reads "
                   "still work");
}

/* A client's mutating call whose arguments could not fit in one append
 * of a replicated group's log (persist_record_max, from etcd's request
 * limit): refused before it runs, since once applied it would have to be
 * logged. The arguments count as their record holds them (list items). */
static int too_large_to_log(call *c, const method_def *m) {
  if (!(m->flags & METHOD_MUTATES) || !c->conn) return WS_OK;
  size_t max = persist_record_max(conn_server(c->conn)->persist);
  if (max == 0) return WS_OK;
  size_t bytes = 0;
  for (size_t i = 0; i < c->nargs; i++)
    bytes += vw_item_size(c->args[i].n);
  if (bytes <= max) return WS_OK;
  return call_fail(c, WS_TOO_LARGE,
                   "the arguments are %zu bytes: a change of a replicated group must fit in one "
                   "request to etcd (%zu bytes of arguments under etcd's --max-request-bytes, "
                   "which this member is told by --etcd-max-request-bytes); split it",
                   bytes, max);
}

/* Whether a mutating call is about state the daemon keeps (cmd.h), asked
 * before it runs; and, for one that is, that it stores no reference to an
 * object kept in memory only. Returns WS_OK or WS_TYPE_ERROR. */
static int check_kept(call *c, const wire_request *req, const method_def *m, bool *kept) {
  *kept = true;
  if (!(m->flags & METHOD_MUTATES) || !cmd_logging(c->reg)) return WS_OK;
  *kept = c->obj ? c->obj->type->save != NULL /* the target, found already */
                 : cmd_kept_manager_call(c->reg, req->method, c->args, c->nargs);
  if (!*kept) return WS_OK;
  unsigned flags = 0;
  for (size_t i = 0; i < c->nargs; i++)
    flags |= c->arg_flags[i];
  if (!(flags & VW_FLAG_HAS_REF)) return WS_OK; /* the usual call: nothing to look up */
  return cmd_check_refs_kept(c->reg, c->args, c->arg_flags, c->nargs, c->err, sizeof c->err);
}

/* Logs a mutating call that answered OK (one branch for everything else):
 * as it is when it is about kept state, and then keeps its answer for a
 * kept session (session.h); else only where the object ids went on
 * (next_before: the next id before it ran). */
static void log_call(call *c, const wire_request *req, const sess_request *sr, const method_def *m,
                     int rc, bool kept, uint64_t next_before) {
  if (!(m->flags & METHOD_MUTATES) || rc != WS_OK || c->unchanged) return;
  if (!kept) {
    if (cmd_logging(c->reg) && reg_next_id(c->reg) != next_before) cmd_log_next_id(c->reg);
    return;
  }
  if (cmd_logging(c->reg))
    cmd_log_client_call(c->reg, c->session, sr->kept, req, c->obj, c->args, c->nargs);
  if (req->seq && !c->out->failed &&
      sess_reply_keep_grant(c->reg, c->session, req->seq, vb_span(c->out), c->token, c->owner_dead))
    log_warn("out of memory keeping the answer of %s for session %llu: a resend would run it "
             "again",
             req->method, (unsigned long long)c->session);
}

/* A kept session's client that stopped acknowledging: past --max-pending
 * kept answers its changes are refused before they run (a client
 * acknowledges with its next request, so only a pipeline that long, or a
 * client that never says what it got, comes near it). A replay, which has
 * no connection, never refuses: the log has the calls. */
static int replies_full(call *c, const method_def *m, const sess_request *sr) {
  if (!(m->flags & METHOD_MUTATES) || !c->conn || c->session == 0) return WS_OK;
  size_t max = conn_server(c->conn)->limits.max_pending;
  if (sr->replies < max) return WS_OK;
  return call_fail(c, WS_FULL,
                   "%zu answers of this session wait for the client's acknowledgement (ack; the "
                   "limit is --max-pending): changes are refused until it acknowledges them",
                   max);
}

/* The request repeats one of a kept session that was applied already (a
 * resend after a restart): true with its kept answer in c->out, and a
 * grant's token and OWNER_DEAD in c as the call gave them. A seq the
 * client acknowledged already is refused. sr: what sess_request_begin
 * found (its ack applied). */
static bool answered_before(call *c, const wire_request *req, const sess_request *sr, int *status) {
  if (!req->seq || !sr->kept) return false;
  if (sr->answered) {
    if (sr->status == WS_OK || sr->status == WS_OWNER_DEAD) {
      vb_append(c->out, sr->result);
      c->token = sr->token;
      c->owner_dead = sr->status == WS_OWNER_DEAD;
      *status = WS_OK;
    } else {
      *status = call_fail(c, sr->status, "%.*s", (int)sr->result.n, (const char *)sr->result.p);
    }
    return true;
  }
  if (req->seq <= sr->acked) {
    *status = call_fail(c, WS_VALUE_ERROR,
                        "request %llu was acknowledged already: a seq is never sent again "
                        "after its answer",
                        (unsigned long long)req->seq);
    return true;
  }
  return false;
}

/* The method of an internal decision, asked for from the wire. */
static int internal_refused(call *c, const char *type, const char *method) {
  return call_fail(c, WS_TYPE_ERROR, "%s has no method '%s' (internal: only a replay runs it)",
                   type, method);
}

/* Finds the object, checks its type, finds the method and runs it;
 * arg_bytes is what a growing call is taken to store: its arguments; sr
 * what its session holds (sess_request_begin). */
static int run(call *c, const wire_request *req, size_t arg_bytes, const sess_request *sr) {
  if (req->object == 0) {
    const method_def *m = type_method(&manager_type, req->method);
    if (!m) return call_fail(c, WS_TYPE_ERROR, "the manager has no method '%s'", req->method);
    if ((m->flags & METHOD_INTERNAL) && !cmd_replaying(c->reg))
      return internal_refused(c, "the manager", req->method);
    count(c, &manager_type, m);
    exp_check_manager_call(c->reg, req->method, c->args, c->nargs);
    bool kept;
    int rc = fence_check(c, req);
    if (rc == WS_OK) rc = call_arity(c, m);
    if (rc == WS_OK) rc = disk_full(c, req, m);
    if (rc == WS_OK) rc = too_large_to_log(c, m);
    if (rc == WS_OK) rc = check_kept(c, req, m, &kept);
    if (rc == WS_OK) rc = replies_full(c, m, sr);
    if (rc != WS_OK) return rc;
    uint64_t next_before = reg_next_id(c->reg);
    rc = m->fn(c);
    log_call(c, req, sr, m, rc, kept, next_before);
    return rc;
  }
  sm_obj *o = reg_get(c->reg, req->object);
  if (o) exp_check(c->reg, &o); /* expired data is never returned: what is due goes first */
  if (!o) return reg_missing(c->reg, req->object, c->err, sizeof c->err);
  if (req->has_type && req->type != o->type_code) return type_mismatch(c, o, req->type);
  const method_def *m = type_method(o->type, req->method);
  if (!m) return call_fail(c, WS_TYPE_ERROR, "%s has no method '%s'", o->type->name, req->method);
  if ((m->flags & METHOD_INTERNAL) && !cmd_replaying(c->reg))
    return internal_refused(c, o->type->name, req->method);
  c->obj = o;
  c->method = m;
  count(c, o->type, m);
  bool kept;
  int rc = fence_check(c, req);
  if (rc == WS_OK) rc = call_arity(c, m);
  if (rc == WS_OK) rc = disk_full(c, req, m);
  if (rc == WS_OK) rc = too_large_to_log(c, m);
  if (rc == WS_OK) rc = check_kept(c, req, m, &kept);
  if (rc == WS_OK) rc = replies_full(c, m, sr);
  if (rc == WS_OK && m->flags & METHOD_GROWS) rc = mem_check(c, arg_bytes);
  if (rc != WS_OK) return rc;
  uint64_t next_before = reg_next_id(c->reg);
  reg_incref(c->reg, o);
  rc = m->fn(c);
  log_call(c, req, sr, m, rc, kept, next_before);
  if (m->flags & METHOD_MUTATES) {
    reg_measure(c->reg, o);
    exp_update(c->reg, o);
    if (rc == WS_OK) wch_commit(c->reg, o);
  }
  reg_unpin(c->reg, o);
  return rc;
}

/* dispatch_call, and what a grant gave: *token (0: none) and *owner_dead. */
static int dispatch_run(registry *reg, struct conn *cn, uint64_t session, const wire_request *req,
                        unsigned max_depth, vbuf *result, char *err, size_t errlen, uint64_t *token,
                        bool *owner_dead) {
  sm_span local_args[DISPATCH_LOCAL_ARGS];
  unsigned local_flags[DISPATCH_LOCAL_ARGS];
  sm_span *args = local_args;
  unsigned *flags = local_flags;
  vb_reset(result);
  call c = {
      .reg = reg,
      .seq = req->seq,
      .conn = cn,
      .session = session,
      .nargs = req->nargs,
      .has_timeout = req->has_timeout,
      .timeout_ms = req->timeout_ms,
      .out = result,
  };
  int status;
  size_t arg_bytes = 0;
  blk_state *blk = reg_blk(reg);
  if (blk_ready(blk)) blk_serve(reg);
  if (req->nargs > DISPATCH_LOCAL_ARGS && (!(args = malloc(req->nargs * sizeof *args)) ||
                                           !(flags = malloc(req->nargs * sizeof *flags)))) {
    status = call_fail(&c, WS_INTERNAL, "out of memory for %zu arguments", req->nargs);
  } else {
    c.args = args;
    c.arg_flags = flags;
    sess_request sr; /* the exactly-once checks' one look-up */
    sess_request_begin(reg, session, req->seq, req->ack, &sr);
    if (!answered_before(&c, req, &sr, &status)) {
      status = check_args(&c, req, args, flags, max_depth, &arg_bytes);
      cmd_clock_begin(reg); /* the call's time, read if asked: its methods and record share it */
      if (status == WS_OK) status = run(&c, req, arg_bytes, &sr);
      cmd_clock_end(reg);
    }
  }
  if (args != local_args) free(args);
  if (flags != local_flags) free(flags);
  if (blk_ready(blk)) blk_serve(reg);
  if (status == WS_OK && result->failed)
    status = call_fail(&c, WS_INTERNAL, "out of memory building the result");
  if (errlen > 0) {
    size_t n = status == WS_OK || status == CALL_PARKED ? 0 : strnlen(c.err, sizeof c.err);
    if (n >= errlen) n = errlen - 1;
    memcpy(err, c.err, n);
    err[n] = '\0';
  }
  *token = status == WS_OK ? c.token : 0;
  *owner_dead = status == WS_OK && c.owner_dead;
  return status;
}

int dispatch_call(registry *reg, struct conn *cn, uint64_t session, const wire_request *req,
                  unsigned max_depth, vbuf *result, char *err, size_t errlen) {
  uint64_t token;
  bool owner_dead;
  return dispatch_run(reg, cn, session, req, max_depth, result, err, errlen, &token, &owner_dead);
}

size_t dispatch_answer_limit(const struct conn *cn) {
  size_t max = cn ? conn_server(cn)->limits.max_frame : FRAME_MAX_DEFAULT;
  return max < FRAME_MAX_DEFAULT ? max : FRAME_MAX_DEFAULT;
}

/* Writes n bytes as "64 MiB" when a whole number of MiB, else "N-byte". */
static void limit_text(char *buf, size_t len, size_t n) {
  if (n >= 1024 * 1024 && n % (1024 * 1024) == 0)
    snprintf(buf, len, "%zu MiB", n / (1024 * 1024));
  else
    snprintf(buf, len, "%zu-byte", n);
}

/* Replaces an answer of payload bytes over limit with TOO_LARGE: err says
 * how large it would be and what reads it in pages instead. */
static int answer_too_large(registry *reg, const wire_request *req, size_t payload, size_t limit,
                            char *err, size_t errlen) {
  const char *how = "take it in parts";
  if (req->object == 0) {
    if (strcmp(req->method, "ls") == 0) how = "use ls_scan";
  } else {
    sm_obj *o = reg_get(reg, req->object);
    if (o && type_method(o->type, "scan")) how = "use scan";
  }
  char lim[32];
  limit_text(lim, sizeof lim, limit);
  snprintf(err, errlen, "the answer would be %zu bytes, over the %s frame limit: %s", payload, lim,
           how);
  return WS_TOO_LARGE;
}

/* A member of a replicated group that is not its serving leader answers
 * every call REDIRECT with the leader's URL, except the manager's ping and
 * info (an operator asks any member how it is doing). Returns true when
 * req was answered so. */
static bool redirect(struct conn *cn, const wire_request *req) {
  struct sm_server *srv = conn_server(cn);
  if (!srv->persist || persist_serving(srv->persist)) return false;
  if (req->object == 0 && (strcmp(req->method, "info") == 0 || strcmp(req->method, "ping") == 0))
    return false;
  const char *leader = persist_leader_url(srv->persist);
  char text[WIRE_URL_MAX + 128];
  if (leader[0])
    snprintf(text, sizeof text, "this member of the group is not its leader: the leader is %s",
             leader);
  else
    snprintf(text, sizeof text,
             "this member of the group is not its leader, and no leader is known yet (an "
             "election is under way): try again shortly");
  wire_response_out r = {
      .seq = req->seq, .status = WS_REDIRECT, .error = text, .leader = leader[0] ? leader : NULL};
  srv->requests++;
  conn_send_response_at(cn, &r, 0);
  return true;
}

void dispatch_request(struct conn *cn, const wire_request *req) {
  struct sm_server *srv = conn_server(cn);
  if (redirect(cn, req)) return;
  char err[sizeof((call *)0)->err];
  stats_call_begin(srv->stats);
  uint64_t token;
  bool owner_dead;
  int status = dispatch_run(srv->reg, cn, conn_session(cn), req, srv->limits.max_depth,
                            &srv->result, err, sizeof err, &token, &owner_dead);
  stats_call_end(srv, cn, req); /* latency, slow-call log: parking ends the timing */
  srv->requests++;
  if (status == CALL_PARKED) return; /* answered later by blocked.c */
  wire_response_out r = {.seq = req->seq, .status = status, .token = token};
  if (status == WS_OK) {
    r.has_result = srv->result.len > 0;
    r.result = vb_span(&srv->result);
    size_t payload = wire_response_frame_size(&r) - FRAME_HEADER_LEN;
    size_t limit = dispatch_answer_limit(cn);
    if (payload > limit) {
      r = (wire_response_out){.seq = req->seq,
                              .status = status =
                                  answer_too_large(srv->reg, req, payload, limit, err, sizeof err)};
    } else if (owner_dead) {
      /* Acquired (the result stands), but the last holder died holding it. */
      r.status = WS_OWNER_DEAD;
      r.error = "acquired, but its last holder died holding it";
    }
  }
  if (status != WS_OK) {
    r.error = err[0] ? err : NULL;
    log_debug("conn %llu: %s on object %llu: status %d: %s", (unsigned long long)conn_id(cn),
              req->method, (unsigned long long)req->object, status, err);
  }
  /* With a data directory the answer waits until what it shows is durable:
   * the last change of its object (a refusal for a full disk shows none). */
  uint64_t mark = CONN_MARK_LAST;
  if (srv->persist)
    mark = status == WS_DISK_FULL
               ? 0
               : persist_answer_mark(srv->persist, req->object,
                                     req->object ? reg_get(srv->reg, req->object) : NULL);
  conn_send_response_at(cn, &r, mark);
}
