/* SPDX-License-Identifier: MIT */
/* stats.h - what the daemon counts about itself: calls and their latency
 * per method, answers per status, refused connections, failed
 * authentications and TLS handshakes, bytes in and out; the slow-call log
 * it feeds (slowlog.h); and a snapshot of the figures that `info`,
 * `statemgr stats` and the metrics endpoint report (one gathering function,
 * so they never disagree).
 *
 * Timing costs one clock read (CLOCK_MONOTONIC) per call, plus one per
 * batch of frames read from a connection: a call starts where the one
 * before it in the batch ended (the parsing of its frame belongs to it),
 * the first of a batch at a read of its own. libevent's cached loop time
 * cannot serve: libevent 2.1 caches CLOCK_MONOTONIC_COARSE (4 ms steps on
 * a 250 Hz kernel), and its precise mode costs a timerfd update per loop
 * turn. A call is timed to its answer being made; a parked call up to its
 * parking, so a wait is never counted as work. */
#ifndef SM_SERVER_STATS_H
#define SM_SERVER_STATS_H

#include "../proto/msg.h"
#include "object.h"
#include "monitor.h"
#include "slowlog.h"

#include <stddef.h>
#include <stdint.h>

struct sm_server;
struct conn;
typedef struct stats stats;

/* Upper bounds, in microseconds, of the latency histogram's buckets (a
 * last one, +Inf, takes the rest): Prometheus' defaults from 10 us to 1 s. */
#define STATS_N_BUCKETS 16
extern const uint32_t stats_bucket_us[STATS_N_BUCKETS];

/* Why a connection was refused or dropped before being served. */
typedef enum stats_refusal {
  REFUSED_MAX_CONNECTIONS,     /* authenticated at --max-connections */
  REFUSED_MAX_UNAUTH,          /* dropped for room: --max-unauth-connections */
  REFUSED_MAX_UNAUTH_PER_ADDR, /* dropped for room: --max-unauth-per-addr */
  REFUSED_AUTH_THROTTLED,      /* its source failed too often: refused unchecked */
  STATS_N_REFUSALS
} stats_refusal;

/* The metric label of a refusal ("max_connections"...; static). */
const char *stats_refusal_name(stats_refusal why);

/* Answers are counted per status up to this one; later ones in the last. */
#define STATS_N_STATUSES 32

/* An empty set of counters (free with stats_free), or NULL. */
stats *stats_new(void);
void stats_free(stats *s);

/* Counts one call of method m of type t (the manager's own type included)
 * and makes it the call stats_call_end() times. A short array per type
 * indexed by method: no hashing per request. */
void stats_count(stats *s, const obj_type *t, const method_def *m);

/* A connection's batch of frames begins (conn.c): its first call reads
 * the clock for its start. */
void stats_batch_begin(stats *s);

/* A request is about to be dispatched: its start is the previous call's
 * end in this batch, or a clock read. */
void stats_call_begin(stats *s);

/* Ends the request req just dispatched on cn: reads the clock (once),
 * adds the time since stats_call_begin() to the histogram of the method
 * stats_count() saw (none when the request failed before a method was
 * found), and hands a slow one to the slow-call log. */
void stats_call_end(struct sm_server *srv, struct conn *cn, const wire_request *req);

/* Event counters. */
void stats_answer(stats *s, int status); /* an answer sent, by wire status */
void stats_refused(stats *s, stats_refusal why);
void stats_auth_failed(stats *s);
void stats_tls_failed(stats *s); /* a TLS handshake that failed or timed out */
void stats_net_in(stats *s, size_t bytes);
void stats_net_out(stats *s, size_t bytes);

/* The slow-call log (borrowed, lives with s). */
slowlog *stats_slowlog(stats *s);

/* The live feed of calls (borrowed, lives with s); stats_call_end feeds it
 * while a monitor is attached. */
monitor *stats_monitor(stats *s);

/* The figures of one moment. */
typedef struct stats_snapshot {
  int64_t uptime_s;
  size_t connections;
  size_t objects, named_objects;
  size_t waiters;
  uint64_t requests;
  size_t rss_bytes;                   /* resident memory of the process */
  size_t heap_bytes;                  /* bytes malloc has handed out and not taken back */
  size_t used_memory;                 /* bytes of data, as the memory limit counts them */
  size_t max_memory;                  /* the limit; 0: none */
  uint64_t memory_trims;              /* times freed memory was handed back (malloc_trim) */
  uint64_t gc_collections;            /* batches of the cycle collector */
  uint64_t gc_collected;              /* anonymous objects they freed */
  uint64_t answers[STATS_N_STATUSES]; /* answers sent per wire status */
  uint64_t refused[STATS_N_REFUSALS]; /* connections refused, per reason */
  uint64_t auth_failures;             /* Auths with a wrong proof */
  uint64_t tls_failures;              /* TLS handshakes failed or timed out */
  uint64_t net_in, net_out;           /* bytes read from and written to clients */
  double cpu_seconds;                 /* user + system CPU time of the process */
  size_t open_fds, max_fds;           /* descriptors open; the soft limit */
  size_t virtual_bytes;               /* the process's virtual memory */
  size_t slowlog_len;                 /* entries in the slow-call log */
} stats_snapshot;

void stats_take(struct sm_server *srv, stats_snapshot *out);

/* Calls cb for each type with objects: its name and how many. */
void stats_each_type(struct sm_server *srv, void (*cb)(void *ctx, const char *type, size_t n),
                     void *ctx);

/* Calls cb for each method called at least once, with its count. */
void stats_each_call(const stats *s,
                     void (*cb)(void *ctx, const char *type, const char *method, uint64_t n),
                     void *ctx);

/* Calls cb for each method called at least once, with its latency
 * histogram: counts[i] calls within stats_bucket_us[i] (not cumulative;
 * counts[STATS_N_BUCKETS] over the last bound) and the sum of their
 * times in microseconds. */
void stats_each_latency(const stats *s,
                        void (*cb)(void *ctx, const char *type, const char *method,
                                   const uint64_t *counts, uint64_t sum_us),
                        void *ctx);

/* The upper bound, in microseconds, of the bucket where quantile q (0.5,
 * 0.99) of a histogram as stats_each_latency() gives it falls: at least q
 * of the calls took no longer. -1 when it falls past the last bound, 0 for
 * no calls. */
int64_t stats_quantile_us(const uint64_t *counts, double q);

#endif
