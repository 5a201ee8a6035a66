/* SPDX-License-Identifier: MIT */
/* expire.h - expiry: TTLs on whole objects and on the keys inside them
 * (dict keys), with Redis EXPIRE semantics.
 *
 * Expired data is never returned: before a call runs on an object, what of
 * it is due goes (the lazy check, exp_check; the object itself, or its due
 * keys), and data nobody touches again is reclaimed by the active cycle, a
 * timer that takes the objects whose next deadline passed from the expiry
 * index, a min-heap by deadline (dlheap.h) that holds only objects with a
 * deadline of their own or keys with one, so nothing else is scanned.
 *
 * A deadline is absolute (ms since the epoch): a TTL's length is added to
 * the time of the call that set it (cmd_time, which a replay takes from the
 * record). Every removal is a decision of the daemon's, logged as a call of
 * an internal method carrying the time it was taken: the manager's
 * "_expire(id)" for an object, the type's "_expire(key...)" for keys. A
 * replay applies those records and never asks the clock what is due, so a
 * restarted daemon and a replica agree, and TTLs go on from their absolute
 * deadlines after a restart (snapshot.c keeps each object's own deadline,
 * the type's save hook its keys').
 *
 * Manager methods (docs/protocol.md): expire(target, ms), ttl(target),
 * persist(target), where target is a name, an id or a ref. */
#ifndef SM_SERVER_EXPIRE_H
#define SM_SERVER_EXPIRE_H

#include "dlheap.h"
#include "object.h"

#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct event;

/* The expiry index of a registry, embedded in it (registry.c) and kept by
 * expire.c alone. Zero-initialised: empty, no timer. */
typedef struct exp_index {
  registry *reg;
  dl_heap heap;            /**< objects by their next deadline (sm_obj.exp) */
  struct event_base *base; /**< the loop of the active cycle; NULL: lazy checks only */
  struct event *ev;        /**< owned; pending while the heap is not empty */
  uint64_t expired_keys;   /**< keys removed by expiry, for info */
  uint64_t expired_objects;
} exp_index;

/* Puts o in the index by its next deadline (its own, or its type's
 * next_deadline), or takes it out when it has none. Called after every
 * mutating call on o and when o is restored from a snapshot. Out of
 * memory, o stays out of the index: its deadlines still hold for the lazy
 * check, which then removes its data when it is touched. */
void exp_update(registry *reg, sm_obj *o);

/* Takes o out of the index (it is being freed). */
void exp_forget(registry *reg, sm_obj *o);

/* True when o's own deadline is at or before now_ms. */
bool exp_object_due(const sm_obj *o, int64_t now_ms);

/* The lazy check, before a client's call on *o runs: when *o's own
 * deadline passed it is removed and *o set to NULL; else its due keys are
 * removed. Logged; a no-op in a replay (the log has the removals). */
void exp_check(registry *reg, sm_obj **o);

/* The same for the object a manager call names (create's name, or the
 * first argument of open, delete, show, expire, ttl and persist), so
 * that an expired name is free again and never found. */
void exp_check_manager_call(registry *reg, const char *method, const sm_span *args, size_t nargs);

/* Sets the loop of the active cycle (NULL: none, as in unit tests and on a
 * follower of a replicated group, whose expiry is the leader's log). */
void exp_set_base(exp_index *ix, struct event_base *base);

/* Frees the timer and the heap (with the registry). */
void exp_release(exp_index *ix);

/* The manager's methods: expire, ttl, persist and the internal _expire
 * (manager.c lists them in its table). */
int exp_m_expire(call *c);
int exp_m_ttl(call *c);
int exp_m_persist(call *c);
int exp_m_expired(call *c);

#endif
