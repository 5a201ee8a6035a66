/* SPDX-License-Identifier: MIT */
/* t_event.c - the "event" type: Python's Event, a flag that wait() calls
 * wait for (docs/protocol.md lists the methods). The state is the flag and
 * the FIFO of wait calls; set() signals the event and the serve pass right
 * after answers them all true; a deadline answers its own waiter false, as
 * Python's wait returns. */
#include "blocked.h"
#include "saved.h"
#include "types.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct evt {
  bool flag;
  waitq waiters; /**< wait calls, while the flag is clear */
} evt;

static evt *event_of(call *c) { return c->obj->state; }

/* Deadline: not set in time. */
static void wait_timeout(registry *reg, waiter *w) {
  (void)reg;
  blk_answer_bool(w, false);
}

static const waiter_ops wait_ops = {wait_timeout, NULL};

/* The serve hook: a set flag lets every waiter through. */
static void event_serve(registry *reg, sm_obj *o) {
  (void)reg;
  evt *e = o->state;
  while (e->flag && e->waiters.head)
    blk_answer_bool(e->waiters.head, true);
}

/* set(): wakes every waiter. */
static int m_set(call *c) {
  evt *e = event_of(c);
  e->flag = true;
  if (e->waiters.head) blk_signal(c->reg, c->obj);
  return WS_OK;
}

/* clear() */
static int m_clear(call *c) {
  event_of(c)->flag = false;
  return WS_OK;
}

/* is_set -> bool */
static int m_is_set(call *c) {
  vb_bool(c->out, event_of(c)->flag);
  return WS_OK;
}

/* wait() -> bool [true once set; false on the deadline] */
static int m_wait(call *c) {
  evt *e = event_of(c);
  if (!e->flag && blk_may_wait(c)) return blk_park(c, c->obj, &e->waiters, &wait_ops, 0, NULL);
  vb_bool(c->out, e->flag);
  return WS_OK;
}

static int event_create(call *c, void **state) {
  int rc = call_nargs(c, 0, 0);
  if (rc != WS_OK) return rc;
  evt *e = calloc(1, sizeof *e);
  if (!e) return call_fail(c, WS_INTERNAL, "out of memory");
  *state = e;
  return WS_OK;
}

static void event_destroy(registry *reg, void *state) {
  (void)reg;
  evt *e = state;
  if (!e) return;
  blk_cancel_all(&e->waiters, WS_NOT_FOUND, "object deleted");
  free(e);
}

/* Saved as [flag]. */
static int event_save(const void *state, vbuf *out) {
  size_t m = vb_list_begin(out);
  saved_put_bool(out, ((const evt *)state)->flag);
  vb_list_end(out, m);
  return saved_status(out);
}

static int event_load(registry *reg, const obj_type *t, sm_span saved, void **state, char *err,
                      size_t errlen) {
  (void)reg;
  (void)t;
  vinfo f[1];
  int rc = saved_fields(saved, "b", f, NULL, "event", err, errlen);
  if (rc != WS_OK) return rc;
  evt *e = calloc(1, sizeof *e);
  if (!e) {
    snprintf(err, errlen, "out of memory");
    return WS_INTERNAL;
  }
  e->flag = f[0].b;
  *state = e;
  return WS_OK;
}

static const method_def event_methods[] = {
    {"set", m_set, METHOD_MUTATES | ARGS(0, 0)},
    {"clear", m_clear, METHOD_MUTATES | ARGS(0, 0)},
    {"is_set", m_is_set, ARGS(0, 0)},
    {"wait", m_wait, ARGS(0, 0)},
};

/* An event has no size: ls omits it. */
static void event_move_waiters(registry *reg, sm_obj *o, void *from, void *to) {
  (void)reg;
  blk_move_all(&((evt *)from)->waiters, o, &((evt *)to)->waiters);
}

const obj_type t_event_type = {
    .name = "event",
    .create = event_create,
    .destroy = event_destroy,
    .size = NULL,
    .owner_gone = NULL,
    .serve = event_serve,
    .save = event_save,
    .load = event_load,
    .move_waiters = event_move_waiters,
    .methods = event_methods,
    .n_methods = sizeof event_methods / sizeof event_methods[0],
};
