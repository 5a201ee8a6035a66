/* blocked.c - all parking and waking of blocking calls (see blocked.h).
 *
 * A waiter sits in two doubly linked lists at once: its object's FIFO (so
 * the type serves waiters in arrival order) and its connection's list (so a
 * closing connection finds its waiters without scanning objects). Every
 * exit - answer, drop, cancel - goes through unlink_and_free(). */
#include "blocked.h"

#include "conn.h"
#include "registry.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>

static void timer_cb(evutil_socket_t fd, short what, void *arg);

static void q_push(waitq *q, waiter *w) {
  w->q = q;
  w->next = NULL;
  w->prev = q->tail;
  if (q->tail)
    q->tail->next = w;
  else
    q->head = w;
  q->tail = w;
  q->len++;
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
  w->q = NULL;
  w->prev = w->next = NULL;
}

static void conn_unlink(waiter *w) {
  if (!w->conn) return;
  waiter **list = conn_parked(w->conn);
  if (w->cprev)
    w->cprev->cnext = w->cnext;
  else
    *list = w->cnext;
  if (w->cnext) w->cnext->cprev = w->cprev;
  conn_note_parked(w->conn, -1);
  w->conn = NULL;
}

static void unlink_and_free(waiter *w) {
  q_unlink(w);
  conn_unlink(w);
  if (w->timer) event_free(w->timer);
  reg_parked_add(w->reg, -1);
  if (w->obj) w->obj->n_waiters--;
  free(w);
}

bool blk_may_wait(const call *c) { return !c->has_timeout || c->timeout_ms != 0; }

int blk_park(call *c, waitq *q, const waiter_ops *ops, int64_t n, void *data) {
  static const waiter_ops defaults = {NULL, NULL};
  if (reg_closing(c->reg)) /* nothing parked now would ever be answered */
    return call_fail(c, WS_SHUTTING_DOWN, "the daemon is shutting down");
  waiter *w = calloc(1, sizeof *w);
  if (!w) return call_fail(c, WS_INTERNAL, "out of memory parking the call");
  w->obj = c->obj;
  w->ops = ops ? ops : &defaults;
  w->n = n;
  w->data = data;
  w->reg = c->reg;
  w->seq = c->seq;
  struct event_base *base = reg_base(c->reg);
  if (c->has_timeout && c->timeout_ms > 0 && base) {
    w->timer = evtimer_new(base, timer_cb, w);
    if (!w->timer) {
      free(w);
      return call_fail(c, WS_INTERNAL, "out of memory parking the call");
    }
    struct timeval tv = {(time_t)(c->timeout_ms / 1000),
                         (suseconds_t)(c->timeout_ms % 1000) * 1000};
    evtimer_add(w->timer, &tv);
  }
  if (c->conn) {
    waiter **list = conn_parked(c->conn);
    w->conn = c->conn;
    w->conn_id = conn_id(c->conn);
    w->cnext = *list;
    if (*list) (*list)->cprev = w;
    *list = w;
    conn_note_parked(c->conn, +1);
  }
  q_push(q, w);
  reg_parked_add(c->reg, +1);
  if (w->obj) w->obj->n_waiters++;
  return CALL_PARKED;
}

void blk_answer(waiter *w, int status, sm_span result, const char *err) {
  if (w->conn) {
    wire_response_out r = {.seq = w->seq, .status = status};
    if (status == WS_OK) {
      r.has_result = result.n > 0;
      r.result = result;
    } else {
      r.error = err;
    }
    conn_send_response(w->conn, &r);
  }
  unlink_and_free(w);
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

void blk_move(waiter *w, waitq *to) {
  q_unlink(w);
  q_push(to, w);
}

uint64_t blk_conn_id(const waiter *w) { return w->conn_id; }
struct conn *blk_conn(const waiter *w) {
  return w->conn;
}

/* Takes w out of its queue and lets its type clean up, then frees it. */
static void drop(waiter *w) {
  q_unlink(w);
  if (w->ops->drop) w->ops->drop(w->reg, w);
  unlink_and_free(w);
}

void blk_cancel_all(waitq *q, int status, const char *err) {
  while (q->head) {
    waiter *w = q->head;
    q_unlink(w);
    if (w->ops->drop) w->ops->drop(w->reg, w);
    blk_answer(w, status, (sm_span){NULL, 0}, err);
  }
}

void blk_conn_release(waiter **list, int status, const char *err) {
  while (*list) {
    waiter *w = *list;
    if (status == WS_OK) {
      drop(w);
    } else {
      q_unlink(w);
      if (w->ops->drop) w->ops->drop(w->reg, w);
      blk_answer(w, status, (sm_span){NULL, 0}, err);
    }
  }
}

static void timer_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  waiter *w = arg;
  w->timed_out = true;
  if (w->ops->timeout) {
    w->ops->timeout(w->reg, w);
  } else {
    blk_answer(w, WS_TIMEOUT, (sm_span){NULL, 0}, "timed out");
  }
}
