/* SPDX-License-Identifier: MIT */
/* stats.c - the daemon's counters and snapshots (see stats.h). */
#include "stats.h"

#include "blocked.h"
#include "conn.h"
#include "cycles.h"
#include "memory.h"
#include "registry.h"
#include "server.h"

#include <dirent.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

const uint32_t stats_bucket_us[STATS_N_BUCKETS] = {10,     25,     50,     100,    250,   500,
                                                   1000,   2500,   5000,   10000,  25000, 50000,
                                                   100000, 250000, 500000, 1000000};

#define N_SLOTS (STATS_N_BUCKETS + 1) /* the buckets and +Inf */

typedef struct type_calls {
  const obj_type *type;
  uint64_t *calls;  /* one per entry of type->methods */
  uint64_t *hist;   /* N_SLOTS per method: calls per latency bucket */
  uint64_t *sum_us; /* one per method: their total time */
} type_calls;

struct stats {
  type_calls *types; /* a handful of types: a linear search is fastest */
  size_t n, cap;
  size_t cur;       /* 1 + the index in types of the call being dispatched (stats_count); 0: none */
  size_t cur_k;     /* its method's index */
  int64_t mark_us;  /* the clock at the end of the previous call of the batch */
  bool mark_valid;  /* mark_us is of this batch */
  int64_t start_us; /* the start of the call being dispatched */
  uint64_t answers[STATS_N_STATUSES];
  uint64_t refused[STATS_N_REFUSALS];
  uint64_t auth_failures, tls_failures;
  uint64_t net_in, net_out;
  slowlog *slow;
  monitor *mon; /* the live feed of calls (monitor.h): records while attached */
};

stats *stats_new(void) {
  stats *s = calloc(1, sizeof(stats));
  if (s && (!(s->slow = slowlog_new()) || !(s->mon = monitor_new()))) {
    slowlog_free(s->slow);
    free(s);
    return NULL;
  }
  return s;
}

void stats_free(stats *s) {
  if (!s) return;
  for (size_t i = 0; i < s->n; i++) {
    free(s->types[i].calls);
    free(s->types[i].hist);
    free(s->types[i].sum_us);
  }
  free(s->types);
  slowlog_free(s->slow);
  monitor_free(s->mon);
  free(s);
}

slowlog *stats_slowlog(stats *s) { return s->slow; }

monitor *stats_monitor(stats *s) { return s->mon; }

const char *stats_refusal_name(stats_refusal why) {
  static const char *const names[STATS_N_REFUSALS] = {"max_connections", "max_unauth_connections",
                                                      "max_unauth_per_addr", "auth_throttled"};
  return why < STATS_N_REFUSALS ? names[why] : "other";
}

void stats_answer(stats *s, int status) {
  s->answers[status >= 0 && status < STATS_N_STATUSES ? status : STATS_N_STATUSES - 1]++;
}
void stats_refused(stats *s, stats_refusal why) {
  if (why < STATS_N_REFUSALS) s->refused[why]++;
}
void stats_auth_failed(stats *s) { s->auth_failures++; }
void stats_tls_failed(stats *s) { s->tls_failures++; }
void stats_net_in(stats *s, size_t bytes) { s->net_in += bytes; }
void stats_net_out(stats *s, size_t bytes) { s->net_out += bytes; }

static type_calls *calls_of(stats *s, const obj_type *t) {
  for (size_t i = 0; i < s->n; i++)
    if (s->types[i].type == t) return &s->types[i];
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 16;
    type_calls *p = realloc(s->types, cap * sizeof *p);
    if (!p) return NULL;
    s->types = p;
    s->cap = cap;
  }
  size_t n = t->n_methods ? t->n_methods : 1;
  type_calls tc = {t, calloc(n, sizeof(uint64_t)), calloc(n * N_SLOTS, sizeof(uint64_t)),
                   calloc(n, sizeof(uint64_t))};
  if (!tc.calls || !tc.hist || !tc.sum_us) {
    free(tc.calls);
    free(tc.hist);
    free(tc.sum_us);
    return NULL;
  }
  s->types[s->n] = tc;
  return &s->types[s->n++];
}

void stats_count(stats *s, const obj_type *t, const method_def *m) {
  type_calls *tc = calls_of(s, t);
  s->cur =
      tc ? (size_t)(tc - s->types) + 1 : 0; /* out of memory: the count is lost, nothing else */
  if (!tc) return;
  s->cur_k = (size_t)(m - t->methods);
  tc->calls[s->cur_k]++;
}

/* The bucket of a call of us microseconds: a few compares, most calls
 * landing in the first buckets. */
static size_t bucket_of(int64_t us) {
  size_t b = 0;
  while (b < STATS_N_BUCKETS && us > (int64_t)stats_bucket_us[b])
    b++;
  return b;
}

/* Hands the call to the slow-call log: its target and its client. */
static void log_slow(struct sm_server *srv, struct conn *cn, const wire_request *req,
                     const type_calls *tc, size_t k, int64_t us, time_t now_s) {
  sm_obj *o = req->object ? reg_get(srv->reg, req->object) : NULL; /* a delete may have freed it */
  slowlog_call sc = {
      .time_s = (int64_t)now_s,
      .duration_us = us,
      .object = req->object,
      .name = o ? o->name : NULL,
      .type = tc->type->name,
      .method = tc->type->methods[k].name,
      .nargs = req->nargs,
      .peer = conn_peer(cn),
      .client = conn_name(cn),
  };
  slowlog_add(srv->stats->slow, &sc);
}

/* The monotonic clock in microseconds. */
static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void stats_batch_begin(stats *s) { s->mark_valid = false; }

void stats_call_begin(stats *s) {
  s->start_us = s->mark_valid ? s->mark_us : now_us();
  s->cur = 0;
}

void stats_call_end(struct sm_server *srv, struct conn *cn, const wire_request *req) {
  stats *s = srv->stats;
  int64_t end = now_us();
  s->mark_us = end; /* the next call of the batch starts here */
  s->mark_valid = true;
  if (!s->cur) return; /* refused before a method was found: nothing to time */
  type_calls *tc = &s->types[s->cur - 1];
  s->cur = 0;
  int64_t us = end - s->start_us;
  size_t k = s->cur_k;
  tc->hist[k * N_SLOTS + bucket_of(us)]++;
  tc->sum_us[k] += (uint64_t)us;
  if (slowlog_wants(s->slow, us)) log_slow(srv, cn, req, tc, k, us, time(NULL));
  if (monitor_on(s->mon))
    monitor_add(s->mon, srv, cn, req, tc->type->name, tc->type->methods[k].name);
}

int64_t stats_quantile_us(const uint64_t *counts, double q) {
  uint64_t total = 0, seen = 0;
  for (size_t i = 0; i < N_SLOTS; i++)
    total += counts[i];
  if (total == 0) return 0;
  for (size_t i = 0; i < STATS_N_BUCKETS; i++) {
    seen += counts[i];
    if ((double)seen >= q * (double)total) return stats_bucket_us[i];
  }
  return -1;
}

void stats_each_latency(const stats *s,
                        void (*cb)(void *ctx, const char *type, const char *method,
                                   const uint64_t *counts, uint64_t sum_us),
                        void *ctx) {
  for (size_t i = 0; i < s->n; i++) {
    const type_calls *tc = &s->types[i];
    for (size_t k = 0; k < tc->type->n_methods; k++)
      if (tc->calls[k])
        cb(ctx, tc->type->name, tc->type->methods[k].name, &tc->hist[k * N_SLOTS], tc->sum_us[k]);
  }
}

void stats_each_call(const stats *s,
                     void (*cb)(void *ctx, const char *type, const char *method, uint64_t n),
                     void *ctx) {
  for (size_t i = 0; i < s->n; i++) {
    const obj_type *t = s->types[i].type;
    for (size_t k = 0; k < t->n_methods; k++)
      if (s->types[i].calls[k]) cb(ctx, t->name, t->methods[k].name, s->types[i].calls[k]);
  }
}

/* The process's resident and virtual memory, from /proc/self/statm. */
static void memory_of_process(size_t *rss, size_t *virt) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long size = 0, resident = 0;
  if (f) {
    if (fscanf(f, "%lu %lu", &size, &resident) != 2) size = resident = 0;
    fclose(f);
  }
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  *rss = (size_t)resident * page;
  *virt = (size_t)size * page;
}

/* Descriptors open now: the entries of /proc/self/fd, less the one the
 * listing itself holds. */
static size_t open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return 0;
  size_t n = 0;
  for (struct dirent *e; (e = readdir(d));)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n ? n - 1 : 0;
}

static void count_named(void *arg, sm_obj *o) {
  if (o->name) ++*(size_t *)arg;
}

void stats_take(struct sm_server *srv, stats_snapshot *out) {
  memset(out, 0, sizeof *out);
  out->uptime_s = (int64_t)(time(NULL) - srv->started);
  out->connections = srv->n_conns;
  out->objects = reg_count(srv->reg);
  reg_foreach(srv->reg, count_named, &out->named_objects);
  out->waiters = blk_parked(srv->reg);
  out->requests = srv->requests;
  memory_of_process(&out->rss_bytes, &out->virtual_bytes);
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) == 0)
    out->cpu_seconds = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
                       ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
  out->open_fds = open_fds();
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    out->max_fds = (size_t)rl.rlim_cur;
  const stats *s = srv->stats;
  memcpy(out->answers, s->answers, sizeof out->answers);
  memcpy(out->refused, s->refused, sizeof out->refused);
  out->auth_failures = s->auth_failures;
  out->tls_failures = s->tls_failures;
  out->net_in = s->net_in;
  out->net_out = s->net_out;
  out->slowlog_len = slowlog_len(s->slow);
  struct mallinfo2 mi = mallinfo2();
  out->heap_bytes = mi.uordblks + mi.hblkhd;
  const memacct *m = reg_mem(srv->reg);
  out->used_memory = m->used;
  out->max_memory = m->max;
  out->memory_trims = m->trims;
  const cycles *cy = reg_cycles(srv->reg);
  out->gc_collections = cy->collections;
  out->gc_collected = cy->collected;
}

/* Objects per type, in the order types are first seen. */
typedef struct type_count {
  const char *type;
  size_t n;
} type_count;

typedef struct type_tally {
  type_count rows[64];
  size_t n;
} type_tally;

static void tally_one(void *arg, sm_obj *o) {
  type_tally *t = arg;
  for (size_t i = 0; i < t->n; i++) {
    if (t->rows[i].type == o->type->name) {
      t->rows[i].n++;
      return;
    }
  }
  if (t->n < sizeof t->rows / sizeof t->rows[0]) t->rows[t->n++] = (type_count){o->type->name, 1};
}

void stats_each_type(struct sm_server *srv, void (*cb)(void *ctx, const char *type, size_t n),
                     void *ctx) {
  type_tally t = {.n = 0};
  reg_foreach(srv->reg, tally_one, &t);
  for (size_t i = 0; i < t.n; i++)
    cb(ctx, t.rows[i].type, t.rows[i].n);
}
