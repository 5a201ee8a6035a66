/* SPDX-License-Identifier: MIT */
/* stats.h - what the daemon counts about itself: calls per method, and a
 * snapshot of the figures that `info`, `statemgr stats` and the metrics
 * endpoint report (one gathering function, so they never disagree). */
#ifndef SM_SERVER_STATS_H
#define SM_SERVER_STATS_H

#include "object.h"

#include <stddef.h>
#include <stdint.h>

struct sm_server;
typedef struct stats stats;

/* An empty set of counters (free with stats_free), or NULL. */
stats *stats_new(void);
void stats_free(stats *s);

/* Counts one call of method m of type t (the manager's own type included).
 * A short array per type indexed by method: no hashing per request. */
void stats_count(stats *s, const obj_type *t, const method_def *m);

/* The figures of one moment. */
typedef struct stats_snapshot {
  int64_t uptime_s;
  size_t connections;
  size_t objects, named_objects;
  size_t waiters;
  uint64_t requests;
  size_t rss_bytes;        /* resident memory of the process */
  size_t heap_bytes;       /* bytes malloc has handed out and not taken back */
  size_t used_memory;      /* bytes of data, as the memory limit counts them */
  size_t max_memory;       /* the limit; 0: none */
  uint64_t memory_trims;   /* times freed memory was handed back (malloc_trim) */
  uint64_t gc_collections; /* batches of the cycle collector */
  uint64_t gc_collected;   /* anonymous objects they freed */
} stats_snapshot;

void stats_take(struct sm_server *srv, stats_snapshot *out);

/* Calls cb for each type with objects: its name and how many. */
void stats_each_type(struct sm_server *srv, void (*cb)(void *ctx, const char *type, size_t n),
                     void *ctx);

/* Calls cb for each method called at least once, with its count. */
void stats_each_call(const stats *s,
                     void (*cb)(void *ctx, const char *type, const char *method, uint64_t n),
                     void *ctx);

#endif
