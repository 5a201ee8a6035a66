/* SPDX-License-Identifier: MIT */
/* t_queue.c - the "queue" type: Python's Queue and JoinableQueue, FIFO with
 * an optional maxsize (docs/protocol.md lists the methods).
 *
 * The state is a ring of sval* plus three FIFOs of parked calls: getters
 * (waiting for an item), putters (waiting for room, their item kept as an
 * sval in w->data) and joiners (waiting for every task to be done). Two
 * invariants keep the waiting simple: getters wait only while the queue is
 * empty, because a put with getters waiting stores its item and signals the
 * queue, and the serve pass right after (before anyone else's request)
 * hands it to the first getter; putters wait only while it is full,
 * because a get that makes room signals the queue and the serve pass moves
 * the first putters' items in and answers them. So every call is served in
 * arrival order, and an item is never in two places. The serve pass is the
 * one place a parked call is served, and logs it (cmd.h) as the same call
 * made without waiting by the waiter's session: a getter's get, a putter's
 * put of its item.
 * As in Python, every put counts one unfinished task (a handed-off item
 * too); task_done counts one down and join waits for zero. A maxsize of
 * zero or less is unbounded. */
#include "blocked.h"
#include "cmd.h"
#include "memory.h"
#include "saved.h"
#include "sval.h"
#include "types.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct queue {
  int64_t maxsize; /**< <= 0: unbounded */
  sval **ring;     /**< owned items; len of them from head, wrapping at cap */
  size_t head, len, cap;
  int64_t unfinished; /**< puts not matched by task_done yet */
  waitq getters;      /**< get calls, while empty */
  waitq putters;      /**< put calls, while full; item in w->data */
  waitq joiners;      /**< join calls, while unfinished > 0 */
} queue;

static queue *queue_of(call *c) { return c->obj->state; }

static int oom(call *c) { return call_fail(c, WS_INTERNAL, "out of memory"); }

static bool is_full(const queue *q) { return q->maxsize > 0 && q->len >= (uint64_t)q->maxsize; }

/* Moves the items into a new ring of cap slots (>= len). Returns false when
 * out of memory (nothing changed). */
static bool resize(queue *q, size_t cap) {
  if (cap > SIZE_MAX / sizeof *q->ring) return false;
  sval **p = malloc(cap * sizeof *p);
  if (!p) return false;
  for (size_t i = 0; i < q->len; i++)
    p[i] = q->ring[(q->head + i) % q->cap];
  free(q->ring);
  q->ring = p;
  q->head = 0;
  q->cap = cap;
  return true;
}

/* Appends v (taking it over). Returns false when out of memory. */
static bool push(queue *q, sval *v) {
  if (q->len == q->cap && !resize(q, q->cap ? q->cap * 2 : 16)) return false;
  q->ring[(q->head + q->len) % q->cap] = v;
  q->len++;
  return true;
}

/* Takes the oldest item out; the caller owns it. The queue is not empty.
 * Gives memory back once a long queue has mostly drained. */
static sval *pop(queue *q) {
  sval *v = q->ring[q->head];
  q->head = (q->head + 1) % q->cap;
  q->len--;
  if (q->cap > 64 && q->len < q->cap / 4) resize(q, q->cap / 2); /* may fail: keep the big one */
  return v;
}

/* A putter leaves without its item being queued. */
static void putter_drop(registry *reg, waiter *w) {
  sval_free(reg, w->data);
  w->data = NULL;
}

static void putter_timeout(registry *reg, waiter *w) {
  putter_drop(reg, w);
  blk_answer(w, WS_TIMEOUT, (sm_span){NULL, 0}, "timed out: the queue stayed full");
}

/* Getters and joiners: the default TIMEOUT answer, nothing to free. */
static const waiter_ops putter_ops = {putter_timeout, putter_drop};

/* Answers getter w with the oldest item (the queue is not empty). */
static void serve_getter(registry *reg, sm_obj *o, waiter *w) {
  sval *v = pop(o->state);
  cmd_log_served(reg, w, o->id, "get", NULL, 0);
  blk_answer(w, WS_OK, sval_span(v), NULL);
  sval_free(reg, v);
}

/* The serve hook: items go to the getters, first come first served; while
 * there is room, the first putter's item goes in and the putter is
 * answered (and the getters get it); when every task is done, the joiners
 * are answered. */
static void queue_serve(registry *reg, sm_obj *o) {
  queue *q = o->state;
  for (;;) {
    while (q->len > 0 && q->getters.head)
      serve_getter(reg, o, q->getters.head);
    if (!q->putters.head || is_full(q) || q->unfinished == INT64_MAX) break;
    waiter *w = q->putters.head;
    sm_span item = sval_span(w->data);
    if (!push(q, w->data)) break; /* it waits on; the next get signals again */
    w->data = NULL;
    q->unfinished++;
    cmd_log_served(reg, w, o->id, "put", &item, 1);
    blk_answer(w, WS_OK, (sm_span){NULL, 0}, NULL);
  }
  while (q->unfinished == 0 && q->joiners.head)
    blk_answer(q->joiners.head, WS_OK, (sm_span){NULL, 0}, NULL);
}

/* put(item) [blocks while full; FULL when it may not] */
static int m_put(call *c) {
  int rc;
  queue *q = queue_of(c);
  if (q->unfinished == INT64_MAX) return call_fail(c, WS_VALUE_ERROR, "too many unfinished tasks");
  sval *v = sval_new(c->reg, c->args[0], c->arg_flags[0]);
  if (!v) return oom(c);
  if (is_full(q)) {
    if (!blk_may_wait(c)) {
      sval_free(c->reg, v);
      return call_fail(c, WS_FULL, "queue is full");
    }
    rc = blk_park(c, c->obj, &q->putters, &putter_ops, 0, v);
    if (rc != CALL_PARKED) sval_free(c->reg, v);
    return rc;
  }
  if (!push(q, v)) {
    sval_free(c->reg, v);
    return oom(c);
  }
  q->unfinished++;
  if (q->getters.head) blk_signal(c->reg, c->obj); /* it was empty: the first getter gets it */
  return WS_OK;
}

/* get() -> item [blocks while empty; EMPTY when it may not] */
static int m_get(call *c) {
  queue *q = queue_of(c);
  if (q->len > 0) {
    sval *v = pop(q);
    vb_append(c->out, sval_span(v));
    sval_free(c->reg, v);
    if (q->putters.head) blk_signal(c->reg, c->obj); /* room for one */
    return WS_OK;
  }
  if (blk_may_wait(c)) return blk_park(c, c->obj, &q->getters, NULL, 0, NULL);
  return call_fail(c, WS_EMPTY, "queue is empty");
}

/* qsize -> int */
static int m_qsize(call *c) {
  vb_int(c->out, (int64_t)queue_of(c)->len);
  return WS_OK;
}

/* empty -> bool */
static int m_empty(call *c) {
  vb_bool(c->out, queue_of(c)->len == 0);
  return WS_OK;
}

/* full -> bool */
static int m_full(call *c) {
  vb_bool(c->out, is_full(queue_of(c)));
  return WS_OK;
}

/* maxsize -> int, as given at creation */
static int m_maxsize(call *c) {
  vb_int(c->out, queue_of(c)->maxsize);
  return WS_OK;
}

/* task_done(): VALUE_ERROR when called more times than items were put. */
static int m_task_done(call *c) {
  queue *q = queue_of(c);
  if (q->unfinished == 0) return call_fail(c, WS_VALUE_ERROR, "task_done() called too many times");
  if (--q->unfinished == 0 && q->joiners.head) blk_signal(c->reg, c->obj);
  return WS_OK;
}

/* join() [blocks until every item put is task_done; TIMEOUT] */
static int m_join(call *c) {
  queue *q = queue_of(c);
  if (q->unfinished == 0) return WS_OK;
  if (blk_may_wait(c)) return blk_park(c, c->obj, &q->joiners, NULL, 0, NULL);
  return call_fail(c, WS_TIMEOUT, "%lld unfinished tasks", (long long)q->unfinished);
}

/* Creation: [maxsize:int = 0]; nil means 0. */
static int queue_create(call *c, void **state) {
  int64_t maxsize = 0;
  int rc = call_nargs(c, 0, 1);
  if (rc == WS_OK && c->nargs == 1) {
    vinfo vi;
    call_arg(c, 0, &vi);
    if (vi.kind != VK_NIL) rc = call_arg_int(c, 0, &maxsize);
  }
  if (rc != WS_OK) return rc;
  queue *q = calloc(1, sizeof *q);
  if (!q) return oom(c);
  q->maxsize = maxsize;
  *state = q;
  return WS_OK;
}

static void queue_destroy(registry *reg, void *state) {
  queue *q = state;
  if (!q) return;
  blk_cancel_all(&q->getters, WS_NOT_FOUND, "object deleted");
  blk_cancel_all(&q->putters, WS_NOT_FOUND, "object deleted");
  blk_cancel_all(&q->joiners, WS_NOT_FOUND, "object deleted");
  while (q->len > 0)
    sval_free(reg, pop(q));
  free(q->ring);
  free(q);
}

static size_t queue_size(const void *state) { return ((const queue *)state)->len; }

/* Each queued item's refs (cycles.h). The item of a parked put is not
 * visited: until it is queued it is its caller's, held from outside. */
static void queue_traverse(const void *state, ref_visit_fn visit, void *ctx) {
  const queue *q = state;
  for (size_t i = 0; i < q->len; i++)
    sval_traverse(q->ring[(q->head + i) % q->cap], visit, ctx);
}

/* The struct and its ring; the items count themselves. */
static size_t queue_mem(const void *state) {
  const queue *q = state;
  return mem_chunk(sizeof *q) + (q->cap ? mem_chunk(q->cap * sizeof *q->ring) : 0);
}

/* Saved as [maxsize, unfinished tasks, items]; parked calls are not state
 * (object.h): a parked put's item is its caller's until it is queued. */
static int queue_save(const void *state, vbuf *out) {
  const queue *q = state;
  size_t m = vb_list_begin(out);
  saved_put_int(out, q->maxsize);
  saved_put_int(out, q->unfinished);
  size_t item = vb_list_begin_item(out), items = vb_list_begin(out);
  for (size_t i = 0; i < q->len; i++)
    vb_list_item(out, sval_span(q->ring[(q->head + i) % q->cap]));
  vb_list_end(out, items);
  vb_list_end_item(out, item);
  vb_list_end(out, m);
  return saved_status(out);
}

static int queue_load(registry *reg, const obj_type *t, sm_span saved, void **state, char *err,
                      size_t errlen) {
  (void)t;
  vinfo f[3];
  int rc = saved_fields(saved, "iil", f, NULL, "queue", err, errlen);
  if (rc != WS_OK) return rc;
  if (f[1].i < 0) {
    snprintf(err, errlen, "a saved queue has %lld unfinished tasks", (long long)f[1].i);
    return WS_VALUE_ERROR;
  }
  queue *q = calloc(1, sizeof *q);
  if (!q) {
    snprintf(err, errlen, "out of memory");
    return WS_INTERNAL;
  }
  if ((rc = saved_svals(reg, f[2].data, &q->ring, &q->len, err, errlen)) != WS_OK) {
    free(q);
    return rc;
  }
  q->cap = q->len ? q->len : 1; /* saved_svals gives at least one slot */
  q->maxsize = f[0].i;
  q->unfinished = f[1].i;
  *state = q;
  return WS_OK;
}

static const method_def queue_methods[] = {
    {"put", m_put, METHOD_MUTATES | METHOD_GROWS | ARGS(1, 1)},
    {"get", m_get, METHOD_MUTATES | ARGS(0, 0)},
    {"qsize", m_qsize, ARGS(0, 0)},
    {"empty", m_empty, ARGS(0, 0)},
    {"full", m_full, ARGS(0, 0)},
    {"maxsize", m_maxsize, ARGS(0, 0)},
    {"task_done", m_task_done, METHOD_MUTATES | ARGS(0, 0)},
    {"join", m_join, ARGS(0, 0)},
};

static void queue_move_waiters(registry *reg, sm_obj *o, void *from, void *to) {
  (void)reg;
  queue *a = from, *b = to;
  blk_move_all(&a->getters, o, &b->getters);
  blk_move_all(&a->putters, o, &b->putters);
  blk_move_all(&a->joiners, o, &b->joiners);
}

const obj_type t_queue_type = {
    .name = "queue",
    .create = queue_create,
    .destroy = queue_destroy,
    .size = queue_size,
    .mem_size = queue_mem,
    .traverse = queue_traverse,
    .owner_gone = NULL,
    .serve = queue_serve,
    .save = queue_save,
    .load = queue_load,
    .move_waiters = queue_move_waiters,
    .methods = queue_methods,
    .n_methods = sizeof queue_methods / sizeof queue_methods[0],
};
