/* SPDX-License-Identifier: MIT */
/* stats.c - the daemon's counters and snapshots (see stats.h). */
#include "stats.h"

#include "blocked.h"
#include "cycles.h"
#include "memory.h"
#include "registry.h"
#include "server.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct type_calls {
  const obj_type *type;
  uint64_t *calls; /* one per entry of type->methods */
} type_calls;

struct stats {
  type_calls *types; /* a handful of types: a linear search is fastest */
  size_t n, cap;
};

stats *stats_new(void) { return calloc(1, sizeof(stats)); }

void stats_free(stats *s) {
  if (!s) return;
  for (size_t i = 0; i < s->n; i++)
    free(s->types[i].calls);
  free(s->types);
  free(s);
}

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
  uint64_t *calls = calloc(t->n_methods ? t->n_methods : 1, sizeof *calls);
  if (!calls) return NULL;
  s->types[s->n] = (type_calls){t, calls};
  return &s->types[s->n++];
}

void stats_count(stats *s, const obj_type *t, const method_def *m) {
  type_calls *tc = calls_of(s, t);
  if (tc) tc->calls[m - t->methods]++; /* out of memory: the count is lost, nothing else */
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

static size_t rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long size = 0, resident = 0;
  if (f) {
    if (fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
    fclose(f);
  }
  return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
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
  out->rss_bytes = rss_bytes();
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
