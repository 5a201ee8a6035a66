/* SPDX-License-Identifier: MIT */
/* object.h - what an object type is, and what a method call sees.
 *
 * A type is a name plus a table of methods (the C form of Python's
 * BaseManager.register()). The dispatcher validates every argument as a
 * packed Value (vw_scan) and checks every ObjRef inside it exists before a
 * method runs, so methods may vw_peek their arguments freely. A method
 * answers with a WS_* status; on WS_OK its result is whatever it wrote to
 * c->out (nothing written = nil), otherwise c->err explains the failure.
 * Every mutation goes through a method flagged METHOD_MUTATES: that is the
 * one door the command stream (cmd.h) logs. */
#ifndef SM_SERVER_OBJECT_H
#define SM_SERVER_OBJECT_H

#include "../proto/msg.h"
#include "../proto/vwire.h"
#include "dlheap.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct registry registry;
typedef struct obj_type obj_type;
struct conn;

/* One shared object. */
typedef struct sm_obj {
  uint64_t id;          /**< never reused, not even by a later run (registry.h) */
  const obj_type *type; /**< borrowed, static */
  uint32_t type_code;   /**< wire_type_code(type->name): what Request.type is checked against */
  char *name;           /**< owned; NULL for an anonymous object */
  uint64_t refs;        /**< anonymous: holders (proxies + stored refs) */
  size_t n_waiters;     /**< calls parked on it now (blocked.c) */
  void *state;          /**< the type's own data */
  size_t mem;           /**< bytes of its state last counted (reg_measure) */
  size_t cyc_slot;      /**< 1 + its place among the cycle suspects; 0: none */
  int64_t cyc_refs;     /**< during a cycle batch: references from outside */
  unsigned cyc_mark;    /**< during a cycle batch: CYC_* marks (cycles.c) */
  bool signalled;       /**< signalled, not served yet (blocked.c) */
  uint64_t
      log_index; /**< the last log record naming it (persist.c): answers about it wait for that */
  uint64_t rev;  /**< watched types: changes applied to it (watch.h) */
  struct wch_log *wlog; /**< watched types: its change history and watchers; NULL: none yet */
  struct sm_obj *rnext; /**< next in the signalled list (blocked.c) */
  int64_t deadline;     /**< its own TTL (manager "expire"): ms since the epoch; 0: none */
  dl_node exp;          /**< its place in the expiry index by its next deadline (expire.h) */
  uint64_t eph_session; /**< ephemeral: the session whose end deletes it (session.h); 0: none */
} sm_obj;

/* A method invocation. */
typedef struct call {
  registry *reg;
  uint64_t seq;                    /**< the request's sequence number (for parking) */
  sm_obj *obj;                     /**< target; NULL during create */
  const obj_type *type;            /**< during create: the type being created (reg_create) */
  const struct method_def *method; /**< the method running, set by dispatch */
  struct conn *conn;               /**< caller; NULL in unit tests and replay */
  uint64_t session;                /**< the caller's session (session.h); 0: nobody */
  const sm_span *args;             /**< validated packed Values */
  const unsigned *arg_flags;       /**< VW_FLAG_* of each arg */
  size_t nargs;
  bool has_timeout;
  int64_t timeout_ms;
  bool unchanged;  /**< set by a mutating method whose call changed nothing (a create that found
                      its named object): dispatch neither logs nor keeps it */
  vbuf *out;       /**< the result value, written by the method */
  char err[256];   /**< error text when the status is not WS_OK */
  uint64_t token;  /**< the fencing token of the grant this call obtained (fence.h); 0: none */
  bool owner_dead; /**< that grant found its last holder dead (policy break): OWNER_DEAD */
} call;

typedef int (*method_fn)(call *c);

/* Called with the id of each object a state holds a reference on. */
typedef void (*ref_visit_fn)(void *ctx, uint64_t id);

/* Called with each session holding an object and the units it holds
 * (waitfor.h). */
typedef void (*holder_visit_fn)(void *ctx, uint64_t session, int64_t units);

#define METHOD_MUTATES 1u /* changes the object: the single apply path */
/* May store more data (always with METHOD_MUTATES): refused before it runs
 * when the bytes it would store pass the memory limit (memory.h). Creating
 * an object is checked where it happens, in reg_create, since a create of
 * an existing name only opens it. */
#define METHOD_GROWS 2u
/* Only a replay may run it (cmd.h): a decision the daemon made by itself
 * (a lock granted to a waiter, a barrier broken by a deadline), logged as a
 * call of this method. Refused from the wire. */
#define METHOD_INTERNAL 4u

/* How many arguments a method takes, as Redis's command table keeps each
 * command's arity: ARGS(min, max) among its flags (max ARGS_MANY: no
 * bound). Dispatch checks it once, before the method runs, and refuses
 * another count with VALUE_ERROR ("expected 1 argument, got 2"), so the
 * method only checks the kinds of its arguments. Flags without ARGS mean
 * the method checks its own count (a table written before, a custom
 * type). The count lives in the flags' high bits so that every table
 * keeps its three fields. */
#define METHOD_ARITY (1u << 15) /* ARGS gave the count */
#define ARGS_MANY 0xffu
#define ARGS(lo, hi) (METHOD_ARITY | (unsigned)(lo) << 16 | (unsigned)(hi) << 24)

typedef struct method_def {
  const char *name;
  method_fn fn;
  unsigned flags; /**< METHOD_*, and ARGS(min, max) */
} method_def;

/* The fewest and the most arguments ARGS gave (most SIZE_MAX: no bound). */
static inline size_t method_min_args(const method_def *m) { return (m->flags >> 16) & 0xffu; }
static inline size_t method_max_args(const method_def *m) {
  unsigned hi = (m->flags >> 24) & 0xffu;
  return hi == ARGS_MANY ? SIZE_MAX : hi;
}

struct obj_type {
  const char *name;
  /* Builds the state from creation arguments c->args (may be none).
   * Returns WS_OK with *state set, or a WS_* error with c->err filled. */
  int (*create)(call *c, void **state);
  /* Frees the state, releasing the stored values (sval_free) it holds. */
  void (*destroy)(registry *reg, void *state);
  /* Number of elements (for ls and "len"); NULL when not meaningful. */
  size_t (*size)(const void *state);
  /* Session sid ended while holding count units of the object (recorded
   * with sess_note_owned): give them back, and signal the object
   * (blk_signal) when its next waiters may get them; answer nobody. NULL
   * for types nobody owns. */
  void (*owner_gone)(registry *reg, sm_obj *o, uint64_t sid, uint64_t count);
  /* The bytes the state takes, stored values apart (sval.c counts those):
   * its struct, tables, arrays and keys, as mem_chunk() counts each block.
   * Called after every mutating call, so it must be cheap (O(1)). NULL: the
   * state is not counted (custom types, and small fixed states). */
  size_t (*mem_size)(const void *state);
  /* Calls visit once for every reference the state took (reg_incref, or
   * through sval_new), so the cycle collector (cycles.h) can subtract them:
   * it must visit exactly those. NULL: the state holds no references, so
   * its objects are never part of a cycle. */
  void (*traverse)(const void *state, ref_visit_fn visit, void *ctx);
  /* Answers the waiters that o's state now lets through, in FIFO order,
   * after blk_signal(o) (blocked.h). NULL for types that never signal. */
  void (*serve)(registry *reg, sm_obj *o);
  /* Writes the state as one packed Value into out, for snapshots
   * (snapshot.h): the same state always gives the same bytes. Parked calls
   * are not state (their clients resend them after a restart). Returns
   * WS_OK, or WS_INTERNAL when out of memory. NULL: the type is kept in
   * memory only. */
  int (*save)(const void *state, vbuf *out);
  /* Rebuilds a state of type t (this type: custom types share one hook)
   * from what save wrote, which vw_scan accepted. References inside are
   * not counted again: snap_load restores every object's saved count.
   * Returns WS_OK with *state set, or a WS_* error with err filled. */
  int (*load)(registry *reg, const obj_type *t, sm_span saved, void **state, char *err,
              size_t errlen);
  /* The earliest deadline of the data inside the state (a dict's keys with
   * a TTL), ms since the epoch, 0 when none; O(1), called after every
   * mutating call. NULL: the type keeps no deadlines. */
  int64_t (*next_deadline)(const void *state);
  /* Writes the keys whose deadline is at or before now_ms, at most max of
   * them, each as a list item of out (a list being written), in no
   * particular order, and returns how many. The expiry index (expire.h) then removes
   * them with the type's internal method "_expire" called with those keys
   * as arguments, which is what the log records. Set with next_deadline. */
  size_t (*due_keys)(const void *state, int64_t now_ms, size_t max, vbuf *out);
  /* Fencing (fence.h): the token of o's current grant into *token, false
   * when it has none (a free lock). NULL: the type grants nothing, and a
   * guard naming one of its objects is refused. */
  bool (*fence_token)(const void *state, uint64_t *token);
  /* The wait-for graph (waitfor.h): calls visit for every session that
   * holds o. Returns true when only those holders can let o's waiters
   * through, so that a wait on o can be part of a deadlock; false when
   * anyone may release it (Python's Lock, a semaphore of policy keep).
   * NULL: nobody holds objects of the type. */
  bool (*holders)(registry *reg, const sm_obj *o, holder_visit_fn visit, void *ctx);
  /* The listing of locks (waitfor.h): since when session sid holds o (its
   * grant of the first level or unit it still holds), as that grant's
   * command time (cmd_time: ms since the epoch), kept in the state so
   * that a replay and a restart give the same; 0 when unknown (a state
   * saved before it was kept). NULL: the type does not keep it. */
  int64_t (*held_since)(const sm_obj *o, uint64_t sid);
  /* Moves the calls parked in state from (o's state) to state to, of the
   * same type, just made by load (which parks none), in their order: a
   * rolled back transaction (txn.c) puts a saved image of the state back
   * under the waiters. NULL: the state parks no calls. */
  void (*move_waiters)(registry *reg, sm_obj *o, void *from, void *to);
  const method_def *methods;
  size_t n_methods;
};

/* Fills c->err and returns status, for `return call_fail(c, WS_X, ...)`. */
int call_fail(call *c, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Checks the argument count; on a mismatch fills c->err and returns
 * WS_VALUE_ERROR, else WS_OK. */
int call_nargs(call *c, size_t min, size_t max);

/* Checks c's argument count against what m's ARGS says (dispatch does,
 * once, before m runs; WS_OK when m gives none). */
int call_arity(call *c, const method_def *m);

/* Decodes argument i (top level) into *vi; argument i must exist. */
void call_arg(const call *c, size_t i, vinfo *vi);

/* Argument i as an int64 (WS_TYPE_ERROR otherwise, with c->err filled). */
int call_arg_int(call *c, size_t i, int64_t *out);

/* Argument i as a bool: bools, and ints 0/1 (WS_TYPE_ERROR otherwise). */
int call_arg_bool(call *c, size_t i, bool *out);

/* Argument i usable as a dict key: any scalar or a ref, not a list or map
 * (WS_TYPE_ERROR "unhashable"). */
int call_arg_key(call *c, size_t i);

/* The name of a value kind for error texts ("int", "list"...); static. */
const char *call_kind_name(vkind k);

/* Looks up a method by name in a type's table; NULL when absent. */
const method_def *type_method(const obj_type *t, const char *name);

#endif
