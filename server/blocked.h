/* SPDX-License-Identifier: MIT */
/* blocked.h - parking requests that cannot be answered yet, and waking
 * them: the one owner of every parked call.
 *
 * A blocking method (queue get on empty, lock acquire while held, ...) first
 * tries to serve the call. When it cannot and the caller allows waiting, it
 * returns blk_park(), which queues a waiter in one of the object's FIFOs
 * and arms a per-waiter timer when the call has a deadline. Nothing blocks:
 * the connection goes on with its next request.
 *
 * blocked.c owns each waiter from park to exit, the connection's list of
 * its waiters (blk_list, embedded in the connection), and every count
 * derived from them: per connection, per object (sm_obj.n_waiters), in all.
 * A waiter belongs to the object whose queue holds it: when it moves to
 * another object's queue (blk_move: a condition's waiter going back to its
 * lock), it moves to that object's count and fate. Exactly one of these
 * ends it:
 *  - its type answers it (blk_answer), from its serve hook (the one place
 *    a built-in type serves a parked call, and logs it as a command,
 *    cmd.h), or from the embedding program (a custom type's pending call);
 *  - its deadline passes: the ops' timeout hook answers or moves it, by
 *    default answering TIMEOUT (a timer of the daemon, so clock skew between
 *    machines does not matter);
 *  - its connection starts closing (blk_conn_cancel: all of them at once,
 *    dropped unanswered) or the daemon stops (answered SHUTTING_DOWN), or
 *    its object is destroyed (blk_cancel_all: NOT_FOUND).
 *
 * Signal, then serve (Redis's signalKeyAsReady / handleClientsBlockedOnKeys):
 * code that changes an object in a way that may let its waiters through -
 * a release, a connection that owned it going away, a waiter dropped -
 * calls blk_signal(o) and answers nobody itself. blk_serve() then runs each
 * signalled object's serve hook, which answers waiters in FIFO order. It
 * runs before and after every dispatched request (so no request ever sees
 * a signalled object unserved), after a deadline fires, and from an event
 * of its own for signals raised anywhere else (a connection closing in a
 * flush). A waiter is out of every list before its answer is queued, so an
 * answer that makes its connection close (an output limit) only cancels
 * that connection's other waiters, which every serve loop tolerates.
 *
 * Adding a blocking type: keep a waitq per kind of waiter in the state;
 * park with blk_park(c, c->obj, &q, ops, n, data); after a change that can
 * let waiters through, blk_signal(); answer them in obj_type.serve; cancel
 * the queues with blk_cancel_all() in destroy. Hooks (owner_gone, drop,
 * timeout) only change state and signal. */
#ifndef SM_SERVER_BLOCKED_H
#define SM_SERVER_BLOCKED_H

#include "htab.h"
#include "object.h"

#include <stddef.h>
#include <stdint.h>

/* A method's return value when it parked the call: no response now. Not a
 * wire status. */
#define CALL_PARKED 1000

typedef struct waiter waiter;
struct event;
struct event_base;

typedef struct waiter_ops {
  /* The deadline passed. NULL: answer WS_TIMEOUT. The hook answers the
   * waiter, moves it to another queue, or leaves it where a signalled
   * serve answers it; it answers no other waiter. */
  void (*timeout)(registry *reg, waiter *w);
  /* The waiter leaves unanswered by its type (connection closed, object
   * destroyed, daemon stopping); it is still in its queue (w->q) and is
   * unlinked and freed right after. Frees w->data and adjusts the object
   * (signalling it when others may now get through); answers nobody.
   * NULL: nothing to do. */
  void (*drop)(registry *reg, waiter *w);
} waiter_ops;

/* A FIFO of waiters, embedded in an object's state. Zero-initialised is
 * empty. */
typedef struct waitq {
  waiter *head, *tail;
  size_t len;
} waitq;

/* A connection's parked calls, embedded in the connection (conn.c) and
 * kept by blocked.c alone. Zero-initialised is empty. */
typedef struct blk_list {
  waiter *head;
  size_t len;
} blk_list;

/* The parking state of a registry, embedded in it (registry.c) and kept by
 * blocked.c alone. Zero-initialised: no event loop, nothing parked. */
typedef struct blk_state {
  struct event_base *base; /* waiter timers and the serve event; NULL in unit tests */
  struct event *serve_ev;  /* runs blk_serve for signals raised outside a request */
  sm_obj *ready_head;      /* signalled objects, in signal order */
  sm_obj *ready_tail;
  size_t parked;        /* waiters parked now, on every object */
  htab by_session;      /* 8-byte session id -> blk_sess* (owned): its waiters (waitfor.h) */
  uint64_t deadlocks;   /* waits that would have closed a cycle (waitfor.h) */
  bool deadlock_report; /* --deadlock report: such a wait is logged and parks anyway */
  bool closing;         /* the daemon is stopping: no more parking */
  bool serving;         /* blk_serve is on the stack */
  bool serve_ev_armed;  /* serve_ev is active */
} blk_state;

struct waiter {
  sm_obj *obj;           /**< the object whose queue holds it */
  waitq *q;              /**< that queue */
  const waiter_ops *ops; /**< never NULL */
  int64_t n;             /**< the type's datum (a count, an index...) */
  void *data;            /**< the type's datum; owned by the type */
  /* private to blocked.c */
  registry *reg;
  struct conn *conn;
  uint64_t seq;
  uint64_t session;
  bool keep_answer;      /* its OK answer goes to its session's reply table */
  int64_t parked_ms;     /* monotonic, when it parked (statemgr locks shows how long) */
  waiter *prev, *next;   /* in q */
  waiter *cprev, *cnext; /* in the connection's blk_list */
  waiter *sprev, *snext; /* in its session's list (blk_state.by_session) */
  struct event *timer;
};

/* Parks call c at the tail of q, a queue of object o (the object whose
 * state holds q, which may not be c->obj: a condition's acquire waits in
 * its lock's queue). The call must allow waiting (blk_may_wait). ops may be
 * NULL for the defaults. When o's type has holders (object.h) and the wait
 * would close a cycle of waiting sessions (waitfor.h), it is counted and
 * refused with WS_DEADLOCK, or with --deadlock report logged and parked.
 * Returns CALL_PARKED, WS_DEADLOCK, WS_SHUTTING_DOWN while the daemon
 * stops, or WS_INTERNAL when out of memory, with c->err set (data is then
 * still the caller's). */
int blk_park(call *c, sm_obj *o, waitq *q, const waiter_ops *ops, int64_t n, void *data);

/* True when the call may wait: no timeout given (forever) or a positive
 * one. A zero timeout means "do not block". */
bool blk_may_wait(const call *c);

/* Takes the waiter out of its queue and its connection's list, frees it,
 * then answers its request (result: a packed value, may be empty; err may
 * be NULL). The type must have taken back w->data first. */
void blk_answer(waiter *w, int status, sm_span result, const char *err);

/* Answers OK with a bool or an int result (no allocation: cannot fail). */
void blk_answer_bool(waiter *w, bool b);
/* Answers a grant (fence.h): true with fencing token in Response.token,
 * status OK, or OWNER_DEAD when broken (its last holder died). */
void blk_answer_grant(waiter *w, uint64_t token, bool broken);
void blk_answer_int(waiter *w, int64_t i);

/* Moves w to the tail of queue to of object o, keeping its deadline: from
 * now on it is o's waiter. */
void blk_move(waiter *w, sm_obj *o, waitq *to);

/* Moves every waiter of from, in order, to the tail of to, both queues of
 * object o (a state of o replacing another: txn.c's rollback). */
void blk_move_all(waitq *from, sm_obj *o, waitq *to);

/* The session that parked w (for ownership: a grant is that session's). */
uint64_t blk_session(const waiter *w);

/* The seq of w's request (0: none, a call made by no client). */
uint64_t blk_seq(const waiter *w);

/* w's next answer, when OK, is kept in its session's reply table
 * (session.h): its call is logged as applied by cmd_log_served. */
void blk_keep_answer(waiter *w);

/* Object destroyed: drops (drop hook) then answers every waiter of q with
 * status/err. */
void blk_cancel_all(waitq *q, int status, const char *err);

/* Every waiter of a connection: with WS_OK, dropped unanswered (the
 * connection starts closing: nothing may be handed to a call whose answer
 * would be thrown away); otherwise dropped and answered status/err (the
 * daemon stopping). */
void blk_conn_cancel(blk_list *l, int status, const char *err);

/* The number of calls in l (a connection's parked calls). */
static inline size_t blk_list_len(const blk_list *l) { return l->len; }

/* Marks o as changed so that its waiters may get through: its serve hook
 * runs in the next serve pass (at the latest from the serve event). Never
 * answers anyone itself. */
void blk_signal(registry *reg, sm_obj *o);

/* Serves every signalled object (its obj_type.serve hook) until none is
 * left. A no-op when nothing is signalled or a pass is already running. */
void blk_serve(registry *reg);

/* True when some object is signalled: the check inlined into the request
 * path (which almost never finds one) before it calls blk_serve. */
static inline bool blk_ready(const blk_state *st) { return st->ready_head != NULL; }

/* Object o is being freed (after its destroy hook): takes it off the
 * signalled list. */
void blk_forget(registry *reg, sm_obj *o);

/* Gives the registry's parking an event loop: deadlines are armed on it,
 * and it runs the serve pass for signals raised outside a request. Returns
 * 0, or -1 when out of memory. */
int blk_attach(registry *reg, struct event_base *base);

/* Frees what blk_attach made (with the registry). */
void blk_fini(blk_state *st);

/* The daemon starts stopping: blocking calls answer SHUTTING_DOWN from now
 * on instead of parking. */
void blk_stop_parking(registry *reg);

/* Calls parked now, on every object. */
size_t blk_parked(registry *reg);

/* The calls session sid has parked now, in no particular order: start with
 * blk_session_first, go on with blk_session_next (NULL: no more). */
waiter *blk_session_first(registry *reg, uint64_t sid);
waiter *blk_session_next(const waiter *w);

/* Every session that has parked calls now: fn(ctx, sid) in the order they
 * first parked; fn must not park or answer. */
void blk_each_session(registry *reg, void (*fn)(void *ctx, uint64_t sid), void *ctx);

/* --deadlock: report (true) only logs and counts a wait that closes a
 * cycle; fail (false, the default) refuses it. */
void blk_set_deadlock_report(registry *reg, bool report);

/* Waits that closed a cycle since start (statemgr_deadlocks_total). */
uint64_t blk_deadlocks(registry *reg);

#endif
