/* SPDX-License-Identifier: MIT */
/* t_lock.h - the lock core, shared by the "lock" and "rlock" types and by
 * "condition" (private to server/).
 *
 * t_lock.c owns the state of lock and rlock objects: who holds it (a
 * session id, session.h), the recursion count, and the FIFO of calls waiting for it.
 * t_rlock.c and t_condition.c reach that state only through these functions,
 * always given the lock *object* (ownership is recorded against it with
 * sess_note_owned, whichever object the call targeted).
 *
 * Every waiter parked in a lock's FIFO carries lk_waiter_ops: when the lock
 * is granted to it, the core records the new owner (count w->n) and calls
 * granted(), which answers the call. A plain acquire answers true; a
 * condition's wait answers true or false once it has the lock back. A
 * waiter in a lock's FIFO is the lock object's (blk_park and blk_move are
 * given the lock), whichever object the call targeted, so deleting a
 * condition never touches the calls waiting for its lock.
 *
 * Grants happen in one place, the serve hook (lk_serve): whatever frees a
 * lock - a release, a holder's connection closing, a condition's wait -
 * only signals it, and the serve pass that follows hands it to the first
 * waiter. */
#ifndef SM_SERVER_T_LOCK_H
#define SM_SERVER_T_LOCK_H

#include "blocked.h"

#include <stdbool.h>
#include <stdint.h>

/* The ops of a waiter in a lock's FIFO; base comes first, so a waiter's
 * w->ops can be cast back to this. */
typedef struct lk_waiter_ops {
  waiter_ops base;
  /* Must answer w, and log the grant (lk_log_grant, or a record of its
   * own that a replay turns into the same grant): only a plain acquire's
   * grant is logged by the core. */
  void (*granted)(registry *reg, waiter *w);
} lk_waiter_ops;

/* Builds a lock (recursive=false) or rlock state from the creation
 * arguments [policy = "release"] (fence.h: a bool auto_release, or
 * "release", "break", "keep"). Returns WS_OK with *state set, or an
 * error with c->err filled. */
int lk_create(call *c, bool recursive, void **state);
/* The obj_type hooks of both types. */
void lk_destroy(registry *reg, void *state);
void lk_owner_gone(registry *reg, sm_obj *o, uint64_t sid, uint64_t count);
void lk_serve(registry *reg, sm_obj *lo);
/* Saved as [auto_release, held, owner, count, token, policy, broken,
 * since] (owner, count and since 0 when free; since is the grant's
 * command time; auto_release is policy != keep, for older readers); load
 * makes a lock or an rlock as t says, and takes a state saved before
 * since was kept (the first seven fields: since unknown) or before
 * fencing (the first four). */
int lk_save(const void *state, vbuf *out);
int lk_load(registry *reg, const obj_type *t, sm_span saved, void **state, char *err,
            size_t errlen);

/* The methods, on lock object lo; c may target another object (a
 * condition). acquire answers true, or parks in lo's FIFO, or answers
 * TIMEOUT; release answers NOT_OWNER when lo is free, or held by another
 * session - unless lo is a plain lock of policy keep (auto_release =
 * false), which anyone may release, as Python's Lock. A grant of the
 * first level sets c->token, and c->owner_dead when its last holder died
 * (policy break). Both take no argument (the callers' method tables say
 * so). */
int lk_acquire(call *c, sm_obj *lo);
int lk_release(call *c, sm_obj *lo);
bool lk_locked(const sm_obj *lo);
/* The recursion level (1 for a held plain lock), 0 when free. */
int64_t lk_count(const sm_obj *lo);

/* The fencing and wait-for hooks of both types (object.h). */
bool lk_fence_token(const void *state, uint64_t *token);
bool lk_holders(registry *reg, const sm_obj *o, holder_visit_fn visit, void *ctx);
int64_t lk_held_since(const sm_obj *o, uint64_t sid);
/* The token of lo's last grant (0: never granted), and its owner-death
 * policy's name. */
uint64_t lk_token(const sm_obj *lo);
const char *lk_policy_name(const sm_obj *lo);

/* True when o is a lock or an rlock. */
bool lk_is_lock(const sm_obj *o);
/* The session a call acts for (0 without one: unit tests). */
uint64_t lk_caller(const call *c);
/* True when session sid holds lo. */
bool lk_held_by(const sm_obj *lo, uint64_t sid);
/* Releases lo completely for its holder (a condition's wait: logged as
 * "_release_all" by the holder); the next waiter gets it in the serve
 * pass. Returns the recursion count it had. */
int64_t lk_release_all(registry *reg, sm_obj *lo);
/* The internal methods of lock and rlock, run only by a replay (cmd.h):
 * _grant(n) makes the caller's session the holder of the free lock, n
 * levels deep (a waiter served); _release_all() releases every level the
 * caller's session holds (a condition's wait parking). */
int lk_m_grant(call *c);
int lk_m_release_all(call *c);
/* Moves waiter w (whose ops must be lk_waiter_ops) to the tail of lo's
 * FIFO, where it becomes lo's waiter and gets lo with recursion count w->n
 * in its turn (the serve pass grants it at once when lo is free). w keeps
 * its deadline; its ops decide what a late one means. */
void lk_reacquire(registry *reg, sm_obj *lo, waiter *w);
/* Logs the grant of lo to waiter w (holding it now, w->n levels deep) as
 * "_grant" by its session: for granted hooks with no record of their own. */
void lk_log_grant(registry *reg, sm_obj *lo, const waiter *w);
/* Makes session sid the holder of free lock lo, count levels deep (a
 * condition's replayed regain). Returns 0, or -1 when lo is held or count
 * is below 1. */
int lk_take_free(registry *reg, sm_obj *lo, uint64_t sid, int64_t count);

#endif
