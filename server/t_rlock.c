/* SPDX-License-Identifier: MIT */
/* t_rlock.c - the "rlock" type: Python's RLock, re-entrant for the
 * connection that holds it (a client thread), released for others only when
 * its holder has released it as many times as it acquired it
 * (docs/protocol.md lists the methods). The state and the waiting are the
 * lock core's (t_lock.h); this file is the rlock's method table. */
#include "t_lock.h"
#include "types.h"

static int rlock_create(call *c, void **state) { return lk_create(c, true, state); }

/* acquire() -> true [re-entrant; blocks; TIMEOUT] */
static int m_acquire(call *c) { return lk_acquire(c, c->obj); }

/* release(): one level (NOT_OWNER unless this connection holds it). */
static int m_release(call *c) { return lk_release(c, c->obj); }

/* locked -> bool */
static int m_locked(call *c) {
  vb_bool(c->out, lk_locked(c->obj));
  return WS_OK;
}

/* count -> int: the holder's recursion level, 0 when free. */
static int m_count(call *c) {
  vb_int(c->out, lk_count(c->obj));
  return WS_OK;
}

static const method_def rlock_methods[] = {
    {"acquire", m_acquire, METHOD_MUTATES | ARGS(0, 0)},
    {"release", m_release, METHOD_MUTATES | ARGS(0, 0)},
    {"locked", m_locked, ARGS(0, 0)},
    {"count", m_count, ARGS(0, 0)},
    {"_grant", lk_m_grant, METHOD_MUTATES | METHOD_INTERNAL | ARGS(1, 1)},
    {"_release_all", lk_m_release_all, METHOD_MUTATES | METHOD_INTERNAL | ARGS(0, 0)},
};

/* An rlock has no size: ls omits it. */
const obj_type t_rlock_type = {
    .name = "rlock",
    .create = rlock_create,
    .destroy = lk_destroy,
    .size = NULL,
    .owner_gone = lk_owner_gone,
    .serve = lk_serve,
    .save = lk_save,
    .load = lk_load,
    .fence_token = lk_fence_token,
    .holders = lk_holders,
    .held_since = lk_held_since,
    .methods = rlock_methods,
    .n_methods = sizeof rlock_methods / sizeof rlock_methods[0],
};
