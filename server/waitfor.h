/* SPDX-License-Identifier: MIT */
/* waitfor.h - the wait-for graph of sessions, and deadlock detection
 * (private to server/).
 *
 * The graph is read, never stored: a session waits for the objects its
 * parked calls are queued on (blocked.c keeps each session's parked calls),
 * and an object waits for the sessions that hold it (its type's holders
 * hook, object.h: a lock's or rlock's holder, a semaphore's unit holders).
 * A wait on an object that anyone may release (a plain lock of policy
 * keep, a semaphore of policy keep) or on something other than a held
 * object (a queue, an event, a condition) is never part of a deadlock.
 *
 * Deadlock: blk_park asks wf_closes_cycle just before a session parks on
 * a held object. The wait closes a cycle when no session reachable from it
 * (through the objects waited for and their holders) can go on: every one
 * of them has exactly one parked call, on a held object whose holders are
 * all in the set. A session with no parked call, or several (a pipeline,
 * which goes on regardless), is taken as able to release what it holds,
 * so a deadlock is never reported falsely; a semaphore's units held by the
 * waiter itself are not what it waits for (another holder's release may
 * come). Cost: one visit per session and object reached, only for calls
 * about to wait. */
#ifndef SM_SERVER_WAITFOR_H
#define SM_SERVER_WAITFOR_H

#include "object.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when session sid waiting on o would close a cycle of waiting
 * sessions; why (whylen bytes) then says along which objects and sessions,
 * "waits for lock 5 held by session 9, which waits for ...". */
bool wf_closes_cycle(registry *reg, uint64_t sid, sm_obj *o, char *why, size_t whylen);

/* The name of the client of session sid, or NULL when unknown or none. */
typedef const char *(*wf_client_fn)(void *ctx, uint64_t sid);

/* The manager's "locks" method (admin.c adds the client names): every
 * held or waited-for object of a type with holders, as a list of maps
 * {object, name?, type, policy? (locks), token, holders: [{session,
 * client?, units, held_ms? (since the grant's command time: absent when
 * unknown, a state saved before it was kept)}], exclusive (only the
 * holders release it), waiters: [{session, client?, waited_ms}]}, in
 * object order. client_of may be NULL. */
int wf_list_locks(call *c, wf_client_fn client_of, void *ctx);

#endif
