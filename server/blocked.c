/* SPDX-License-Identifier: MIT */
/* blocked.c - all parking and waking of blocking calls (see blocked.h).
 *
 * A waiter sits in two doubly linked lists at once: its object's FIFO (so
 * the type serves waiters in arrival order) and its connection's blk_list
 * (so a connection that starts closing finds its waiters without scanning
 * objects). Both lists, and the counts derived from them (the connection's
 * blk_list.len, the object's n_waiters, the registry's parked), change only
 * here, together: q_push/q_unlink for the object side, list_push/list_unlink
 * for the connection side, and every exit goes through detach_and_free().
 *
 * A waiter with a session is also on its session's list (by_session), so
 * the wait-for graph (waitfor.h) finds what a session waits for without
 * scanning objects.
 *
 * The signalled objects form a singly linked list through sm_obj.rnext
 * (no allocation: signalling cannot fail). */
#include "blocked.h"

#include "clock.h"
#include "cmd.h"
#include "session.h"

#include "conn.h"
#include "log.h"
#include "registry.h"
#include "waitfor.h"

#include <event2/event.h>
#include <stdlib.h>
#include <time.h>

static void timer_cb(evutil_socket_t fd, short what, void *arg);
static void serve_cb(evutil_socket_t fd, short what, void *arg);

/* ---- the object side ---- */

static void q_push(sm_obj *o, waitq *q, waiter *w) {
  w->obj = o;
  w->q = q;
  w->next = NULL;
  w->prev = q->tail;
  if (q->tail)
    q->tail->next = w;
  else
    q->head = w;
  q->tail = w;
  q->len++;
  o->n_waiters++;
}

static void q_unlink(waiter *w) {
  waitq *q = w->q;
  if (!q) return;
  if (w->prev)
    w->prev->next = w->next;
  else
    q->head = w->next;
  if (w->next)
    w->next->prev = w->prev;
  else
    q->tail = w->prev;
  q->len--;
  w->obj->n_waiters--;
  w->q = NULL;
  w->prev = w->next = NULL;
}

/* ---- the connection side ---- */

static void list_push(struct conn *cn, waiter *w) {
  blk_list *l = conn_waiters(cn);
  w->conn = cn;
  w->cprev = NULL;
  w->cnext = l->head;
  if (l->head) l->head->cprev = w;
  l->head = w;
  l->len++;
}

static void list_unlink(waiter *w) {
  if (!w->conn) return;
  blk_list *l = conn_waiters(w->conn);
  if (w->cprev)
    w->cprev->cnext = w->cnext;
  else
    l->head = w->cnext;
  if (w->cnext) w->cnext->cprev = w->cprev;
  l->len--;
  w->conn = NULL;
}

/* ---- the session side ---- */

/* A session's parked calls (an entry exists while it has some). */
typedef struct blk_sess {
  uint64_t sid;
  waiter *head;
} blk_sess;

static sm_span sid_key(const uint64_t *sid) { return (sm_span){(const uint8_t *)sid, sizeof *sid}; }

static blk_sess *sess_find(registry *reg, uint64_t sid) {
  void **slot = htab_find(&reg_blk(reg)->by_session, sid_key(&sid));
  return slot ? *slot : NULL;
}

/* Returns -1 when out of memory (w is on no session list). */
static int sess_push(registry *reg, waiter *w) {
  if (w->session == 0) return 0;
  blk_sess *e = sess_find(reg, w->session);
  if (!e) {
    if (!(e = calloc(1, sizeof *e))) return -1;
    e->sid = w->session;
    if (htab_put(&reg_blk(reg)->by_session, sid_key(&e->sid), e, NULL) != 1) {
      free(e);
      return -1;
    }
  }
  w->sprev = NULL;
  w->snext = e->head;
  if (e->head) e->head->sprev = w;
  e->head = w;
  return 0;
}

static void sess_unlink(waiter *w) {
  if (w->session == 0) return;
  blk_sess *e = sess_find(w->reg, w->session);
  if (!e) return;
  if (w->sprev)
    w->sprev->snext = w->snext;
  else if (e->head == w)
    e->head = w->snext;
  else
    return; /* never pushed (sess_push ran out of memory) */
  if (w->snext) w->snext->sprev = w->sprev;
  w->sprev = w->snext = NULL;
  if (!e->head) {
    htab_remove(&reg_blk(w->reg)->by_session, sid_key(&e->sid), NULL);
    free(e);
  }
}

waiter *blk_session_first(registry *reg, uint64_t sid) {
  blk_sess *e = sid ? sess_find(reg, sid) : NULL;
  return e ? e->head : NULL;
}

waiter *blk_session_next(const waiter *w) { return w->snext; }

void blk_each_session(registry *reg, void (*fn)(void *ctx, uint64_t sid), void *ctx) {
  size_t pos = 0;
  sm_span key;
  void *val;
  while (htab_next(&reg_blk(reg)->by_session, &pos, &key, &val))
    fn(ctx, ((blk_sess *)val)->sid);
}

/* Takes w out of its queue and its connection's list, disarms its deadline
 * and frees it: the one exit of every waiter. */
static void detach_and_free(waiter *w) {
  q_unlink(w);
  list_unlink(w);
  sess_unlink(w);
  if (w->timer) event_free(w->timer);
  reg_blk(w->reg)->parked--;
  free(w);
}

/* ---- parking ---- */

bool blk_may_wait(const call *c) { return !c->has_timeout || c->timeout_ms != 0; }

/* A wait of c on o that would close a cycle of waiting sessions: counted,
 * and refused unless --deadlock report. Returns WS_OK to park. */
static int check_deadlock(call *c, sm_obj *o, blk_state *st) {
  if (!c->session || !o->type->holders) return WS_OK;
  char why[200];
  if (!wf_closes_cycle(c->reg, c->session, o, why, sizeof why)) return WS_OK;
  st->deadlocks++;
  if (st->deadlock_report) {
    log_warn("deadlock: session %llu %s (reported only: --deadlock report)",
             (unsigned long long)c->session, why);
    return WS_OK;
  }
  log_info("deadlock refused: session %llu %s", (unsigned long long)c->session, why);
  return call_fail(c, WS_DEADLOCK, "this wait would deadlock: it %s", why);
}

int blk_park(call *c, sm_obj *o, waitq *q, const waiter_ops *ops, int64_t n, void *data) {
  static const waiter_ops defaults = {NULL, NULL};
  blk_state *st = reg_blk(c->reg);
  if (st->closing) /* nothing parked now would ever be answered */
    return call_fail(c, WS_SHUTTING_DOWN, "the daemon is shutting down");
  int rc = check_deadlock(c, o, st);
  if (rc != WS_OK) return rc;
  waiter *w = calloc(1, sizeof *w);
  if (!w) return call_fail(c, WS_INTERNAL, "out of memory parking the call");
  w->ops = ops ? ops : &defaults;
  w->n = n;
  w->data = data;
  w->reg = c->reg;
  w->seq = c->seq;
  w->session = c->session;
  w->parked_ms = clock_mono_ms();
  if (sess_push(c->reg, w) != 0) {
    free(w);
    return call_fail(c, WS_INTERNAL, "out of memory parking the call");
  }
  if (c->has_timeout && c->timeout_ms > 0 && st->base) {
    w->timer = evtimer_new(st->base, timer_cb, w);
    if (!w->timer) {
      sess_unlink(w);
      free(w);
      return call_fail(c, WS_INTERNAL, "out of memory parking the call");
    }
    struct timeval tv = {(time_t)(c->timeout_ms / 1000),
                         (suseconds_t)(c->timeout_ms % 1000) * 1000};
    evtimer_add(w->timer, &tv);
  }
  if (c->conn) list_push(c->conn, w);
  q_push(o, q, w);
  st->parked++;
  return CALL_PARKED;
}

/* ---- answering and moving ---- */

/* blk_answer, with the fencing token of a grant (0: none). */
static void answer(waiter *w, int status, sm_span result, const char *err, uint64_t token) {
  struct conn *cn = w->conn;
  uint64_t seq = w->seq;
  bool done = status == WS_OK || status == WS_OWNER_DEAD; /* both carry a result */
  /* Out of memory here costs only the exactly-once answer of a resend. */
  if (w->keep_answer && done)
    sess_reply_keep_grant(w->reg, w->session, seq, result, token, status == WS_OWNER_DEAD);
  /* First out of every list: sending may close cn (an output limit), and
   * that cancels cn's other waiters, never this one a second time. */
  detach_and_free(w);
  if (!cn) return;
  wire_response_out r = {.seq = seq, .status = status, .token = token};
  if (done) {
    r.has_result = result.n > 0;
    r.result = result;
  } else {
    r.error = err;
  }
  conn_send_response(cn, &r);
}

void blk_answer(waiter *w, int status, sm_span result, const char *err) {
  answer(w, status, result, err, 0);
}

void blk_answer_grant(waiter *w, uint64_t token, bool broken) {
  uint8_t raw[16];
  vbuf v = {.p = raw, .cap = sizeof raw}; /* a packed bool takes 2 bytes */
  vb_bool(&v, true);
  answer(w, broken ? WS_OWNER_DEAD : WS_OK, vb_span(&v),
         broken ? "acquired, but its last holder died holding it" : NULL, token);
}

void blk_answer_bool(waiter *w, bool b) {
  uint8_t raw[16];
  vbuf v = {.p = raw, .cap = sizeof raw}; /* a packed bool takes 2 bytes */
  vb_bool(&v, b);
  blk_answer(w, WS_OK, vb_span(&v), NULL);
}

void blk_answer_int(waiter *w, int64_t i) {
  uint8_t raw[16];
  vbuf v = {.p = raw, .cap = sizeof raw}; /* a packed int takes at most 11 */
  vb_int(&v, i);
  blk_answer(w, WS_OK, vb_span(&v), NULL);
}

void blk_move(waiter *w, sm_obj *o, waitq *to) {
  q_unlink(w);
  q_push(o, to, w);
}

void blk_move_all(waitq *from, sm_obj *o, waitq *to) {
  while (from->head)
    blk_move(from->head, o, to);
}

uint64_t blk_session(const waiter *w) { return w->session; }

uint64_t blk_seq(const waiter *w) { return w->seq; }

void blk_keep_answer(waiter *w) { w->keep_answer = true; }

/* ---- cancelling ---- */

void blk_cancel_all(waitq *q, int status, const char *err) {
  while (q->head) {
    waiter *w = q->head;
    if (w->ops->drop) w->ops->drop(w->reg, w);
    blk_answer(w, status, (sm_span){NULL, 0}, err);
  }
}

void blk_conn_cancel(blk_list *l, int status, const char *err) {
  while (l->head) {
    waiter *w = l->head;
    if (w->ops->drop) w->ops->drop(w->reg, w);
    if (status == WS_OK)
      detach_and_free(w);
    else
      blk_answer(w, status, (sm_span){NULL, 0}, err);
  }
}

/* ---- signal, then serve ---- */

void blk_signal(registry *reg, sm_obj *o) {
  if (o->signalled) return;
  blk_state *st = reg_blk(reg);
  o->signalled = true;
  o->rnext = NULL;
  if (st->ready_tail)
    st->ready_tail->rnext = o;
  else
    st->ready_head = o;
  st->ready_tail = o;
  /* A request serves the list when it ends; anything else (a connection
   * closing in a flush, a hook) relies on the event, later in this loop
   * iteration. */
  if (!st->serving && st->serve_ev && !st->serve_ev_armed) {
    st->serve_ev_armed = true;
    event_active(st->serve_ev, 0, 0);
  }
}

void blk_serve(registry *reg) {
  blk_state *st = reg_blk(reg);
  if (st->serving || !st->ready_head) return;
  st->serving = true;
  /* One time for the pass's grants (it runs after a call or a timer, never
   * inside another's time): a grant's record and the state it leaves (a
   * holder's since, t_lock.c, t_semaphore.c) read the same clock, so a
   * replay of the record makes the same state. */
  cmd_clock_begin(reg);
  /* Objects signalled while serving join the tail and are served in this
   * pass too. It ends: each serve hook answers waiters or stops, and only
   * a waiter's connection closing signals again. */
  while (st->ready_head) {
    sm_obj *o = st->ready_head;
    st->ready_head = o->rnext;
    if (!st->ready_head) st->ready_tail = NULL;
    o->signalled = false;
    o->rnext = NULL;
    if (!o->type->serve) continue;
    /* Held while served: an answer may close its connection, whose dropped
     * calls may free the last reference to o (a parked put's item). */
    reg_incref(reg, o);
    o->type->serve(reg, o);
    reg_decref(reg, o);
  }
  cmd_clock_end(reg);
  st->serving = false;
}

void blk_forget(registry *reg, sm_obj *o) {
  if (!o->signalled) return;
  blk_state *st = reg_blk(reg);
  sm_obj *prev = NULL;
  for (sm_obj *p = st->ready_head; p; prev = p, p = p->rnext) {
    if (p != o) continue;
    if (prev)
      prev->rnext = o->rnext;
    else
      st->ready_head = o->rnext;
    if (st->ready_tail == o) st->ready_tail = prev;
    break;
  }
  o->signalled = false;
  o->rnext = NULL;
}

static void serve_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  registry *reg = arg;
  reg_blk(reg)->serve_ev_armed = false;
  blk_serve(reg);
}

/* ---- the registry's parking state ---- */

int blk_attach(registry *reg, struct event_base *base) {
  blk_state *st = reg_blk(reg);
  st->base = base;
  st->serve_ev = event_new(base, -1, 0, serve_cb, reg);
  return st->serve_ev ? 0 : -1;
}

static void free_sess(void *ctx, void *val) {
  (void)ctx;
  free(val);
}

void blk_fini(blk_state *st) {
  if (st->serve_ev) event_free(st->serve_ev);
  st->serve_ev = NULL;
  htab_clear(&st->by_session, free_sess, NULL);
}

void blk_set_deadlock_report(registry *reg, bool report) { reg_blk(reg)->deadlock_report = report; }

uint64_t blk_deadlocks(registry *reg) { return reg_blk(reg)->deadlocks; }

void blk_stop_parking(registry *reg) { reg_blk(reg)->closing = true; }

size_t blk_parked(registry *reg) { return reg_blk(reg)->parked; }

/* ---- deadlines ---- */

static void timer_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  waiter *w = arg;
  registry *reg = w->reg;
  if (w->ops->timeout)
    w->ops->timeout(reg, w);
  else
    blk_answer(w, WS_TIMEOUT, (sm_span){NULL, 0}, "timed out");
  blk_serve(reg); /* what the hook signalled */
}
