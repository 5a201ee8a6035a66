/* blocked.h - parking requests that cannot be answered yet.
 *
 * A blocking method (queue get on empty, lock acquire while held, ...) first
 * tries to serve the call. When it cannot and the caller allows waiting, it
 * returns blk_park(), which queues a waiter in one of the object's FIFOs
 * and arms a per-waiter timer when the call has a deadline. Nothing blocks:
 * the connection goes on with its next request. Later one of three things
 * happens to the waiter, exactly once:
 *  - the object changes and its type answers it (blk_answer), in FIFO
 *    order, or moves it to another queue first (blk_move: a condition's
 *    waiter going back to its lock);
 *  - its deadline passes: the queue's timeout hook runs, by default
 *    answering TIMEOUT (a timer of the daemon, so clock skew between
 *    machines does not matter);
 *  - its connection closes, or the object is destroyed, or the daemon stops:
 *    it is dropped (the drop hook frees the type's data) or answered with
 *    NOT_FOUND / SHUTTING_DOWN.
 * Answers go straight into the waiting connection's output buffer; no
 * method runs re-entrantly. */
#ifndef SM_SERVER_BLOCKED_H
#define SM_SERVER_BLOCKED_H

#include "object.h"

#include <stddef.h>
#include <stdint.h>

/* A method's return value when it parked the call: no response now. Not a
 * wire status. */
#define CALL_PARKED 1000

typedef struct waiter waiter;

typedef struct waiter_ops {
  /* The deadline passed. NULL: answer WS_TIMEOUT. The hook must answer or
   * move the waiter. */
  void (*timeout)(registry *reg, waiter *w);
  /* The waiter leaves unanswered by its type (connection closed, object
   * destroyed, daemon stopping); it is already out of its queue. Frees
   * w->data and adjusts the object. NULL: nothing to do. */
  void (*drop)(registry *reg, waiter *w);
} waiter_ops;

/* A FIFO of waiters, embedded in an object's state. Zero-initialised is
 * empty. */
typedef struct waitq {
  waiter *head, *tail;
  size_t len;
} waitq;

struct waiter {
  sm_obj *obj;           /**< the object waited on */
  waitq *q;              /**< the queue it is in now */
  const waiter_ops *ops; /**< never NULL */
  int64_t n;             /**< the type's datum (a count, a generation...) */
  void *data;            /**< the type's datum; owned by the type */
  bool timed_out;        /**< set before ops->timeout runs */
  /* private to blocked.c */
  registry *reg;
  struct conn *conn;
  uint64_t seq;
  uint64_t conn_id;
  waiter *prev, *next;   /* in q */
  waiter *cprev, *cnext; /* in the connection's list */
  struct event *timer;
};

/* Parks call c at the tail of q. The call must allow waiting (no timeout
 * given, or a positive one). ops may be NULL for the defaults. Returns
 * CALL_PARKED, or WS_INTERNAL with c->err set when out of memory (data is
 * then still the caller's). */
int blk_park(call *c, waitq *q, const waiter_ops *ops, int64_t n, void *data);

/* True when the call may wait: no timeout given (forever) or a positive
 * one. A zero timeout means "do not block". */
bool blk_may_wait(const call *c);

/* Answers the waiter's request (result: a packed value, may be empty; err
 * may be NULL) and frees the waiter. */
void blk_answer(waiter *w, int status, sm_span result, const char *err);

/* Answers OK with a bool or an int result (no allocation: cannot fail). */
void blk_answer_bool(waiter *w, bool b);
void blk_answer_int(waiter *w, int64_t i);

/* Moves w to the tail of another queue, keeping its deadline. */
void blk_move(waiter *w, waitq *to);

/* The connection that parked w (its id, for ownership checks). */
uint64_t blk_conn_id(const waiter *w);
struct conn *blk_conn(const waiter *w);

/* Answers every waiter of q with status/err (the object is going away). */
void blk_cancel_all(waitq *q, int status, const char *err);

/* For the connection's list: drops every waiter parked by the connection
 * whose list head is *list (connection closing), or answers them all with
 * status (daemon stopping) when status is not WS_OK. */
void blk_conn_release(waiter **list, int status, const char *err);

#endif
