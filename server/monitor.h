/* SPDX-License-Identifier: MIT */
/* monitor.h - the live feed of served calls behind `statemgr monitor`, as
 * Redis's MONITOR, without a protocol change: a ring of the most recent
 * calls, filled only while a monitor is attached, and the manager method
 * monitor(cursor, wait_ms) that answers the calls after cursor, parking
 * (blocked.h) until there are some or wait_ms passes.
 *
 * Attached means: a monitor call arrived within the last MONITOR_LINGER_MS
 * (plus the wait it asked for), or one is parked. Otherwise recording costs
 * the dispatcher one branch on `active`, and the ring is not even
 * allocated until the first monitor call. Each recorded call gets the next
 * id (from 1); a reader whose cursor fell behind the ring's oldest entry is
 * told how many calls it missed. The monitor's own calls are not recorded
 * (a feed of itself would never rest). */
#ifndef SM_SERVER_MONITOR_H
#define SM_SERVER_MONITOR_H

#include "../proto/msg.h"
#include "blocked.h"
#include "object.h"

#include <stdbool.h>
#include <stdint.h>

#define MONITOR_RING 1024         /* calls kept; older ones count as missed */
#define MONITOR_LINGER_MS 5000    /* recording goes on this long after a monitor call */
#define MONITOR_MAX_WAIT_MS 60000 /* the longest wait a monitor call may ask for */
#define MONITOR_MAX_ANSWER 256    /* calls in one answer */

struct monitor_entry;
struct sm_server;
struct conn;

typedef struct monitor {
  bool active; /* recording: the one field the dispatcher reads per call */
  /* private to monitor.c */
  int64_t until_ms;           /* recording stops after this (wall clock ms) unless parked */
  uint64_t next_id;           /* the id the next recorded call gets (from 1) */
  struct monitor_entry *ring; /* MONITOR_RING entries, allocated on first use */
  registry *reg;              /* set by the first monitor call: for blk_signal */
  sm_obj obj;                 /* what parked monitor calls wait on (never in the registry) */
  waitq q;                    /* those calls; waiter.n is each one's cursor */
} monitor;

/* An idle monitor (free with monitor_free), or NULL when out of memory. */
monitor *monitor_new(void);

/* Frees m; parked calls must be gone (their connections closed), and so
 * must the registry, whose list of signalled objects may still name m's
 * (stats_free runs after reg_free). */
void monitor_free(monitor *m);

/* True when served calls are to be recorded. */
static inline bool monitor_on(const monitor *m) { return m && m->active; }

/* Records the call req just served on cn (a call of method of type; both
 * static names), and wakes parked monitor calls. Only when monitor_on(). */
void monitor_add(monitor *m, struct sm_server *srv, struct conn *cn, const wire_request *req,
                 const char *type, const char *method);

/* The manager method monitor(cursor[, wait_ms]): cursor 0 attaches and
 * answers at once with the cursor of "now"; otherwise answers [next cursor,
 * calls missed, [call maps...]] for the calls after cursor, waiting up to
 * wait_ms (default 1000, at most MONITOR_MAX_WAIT_MS, 0: no wait) for one.
 * Each call map: {"id", "time_us" (Unix microseconds), "client" (connection
 * id), "peer", "client_name" (when given), "object", "name" (named
 * objects), "type", "method", "args" (shortened text)}. */
int monitor_call(monitor *m, call *c);

#endif
