/* SPDX-License-Identifier: MIT */
/* slowlog.c - the ring of slow calls (see slowlog.h).
 *
 * Entries are fixed-size records with their texts cut to fit, so adding
 * one never allocates once the ring has grown to its length: the array
 * grows by doubling as entries arrive, never past max_len, and a log that
 * nothing slow reaches costs a struct. Texts are stored as they came
 * (client names and object names included); whoever prints them escapes
 * them (the CLI does). */
#include "slowlog.h"

#include "map_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct slow_entry {
  uint64_t id;
  int64_t time_s, duration_us;
  uint64_t object;
  uint32_t nargs;
  char name[160]; /* "" when the target has none */
  char type[64];
  char method[64];
  char peer[96];
  char client[64]; /* "" when the client gave no name */
} slow_entry;

struct slowlog {
  int64_t threshold_us;
  size_t max_len;
  slow_entry *ring; /* cap slots; the oldest at first, n in use */
  size_t cap, first, n;
  uint64_t next_id;
};

slowlog *slowlog_new(void) {
  slowlog *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  l->threshold_us = SLOWLOG_THRESHOLD_DEFAULT;
  l->max_len = SLOWLOG_MAX_LEN_DEFAULT;
  return l;
}

void slowlog_free(slowlog *l) {
  if (!l) return;
  free(l->ring);
  free(l);
}

void slowlog_set_threshold(slowlog *l, int64_t threshold_us) { l->threshold_us = threshold_us; }
int64_t slowlog_threshold(const slowlog *l) { return l->threshold_us; }
size_t slowlog_max_len(const slowlog *l) { return l->max_len; }
size_t slowlog_len(const slowlog *l) { return l->n; }

bool slowlog_wants(const slowlog *l, int64_t duration_us) {
  return l->threshold_us >= 0 && duration_us >= l->threshold_us && l->max_len > 0;
}

/* Moves the newest keep entries to a new array of cap slots, oldest at 0. */
static int rebuild(slowlog *l, size_t cap, size_t keep) {
  slow_entry *ring = cap ? malloc(cap * sizeof *ring) : NULL;
  if (cap && !ring) return -1;
  for (size_t i = 0; i < keep; i++)
    ring[i] = l->ring[(l->first + l->n - keep + i) % l->cap];
  free(l->ring);
  l->ring = ring;
  l->cap = cap;
  l->first = 0;
  l->n = keep;
  return 0;
}

int slowlog_set_max_len(slowlog *l, size_t max_len) {
  if (max_len > SLOWLOG_MAX_LEN_LIMIT) return -1;
  if (max_len < l->cap && rebuild(l, max_len, l->n < max_len ? l->n : max_len) != 0) return -1;
  l->max_len = max_len;
  return 0;
}

static void copy_text(char *dst, size_t len, const char *src) {
  snprintf(dst, len, "%s", src ? src : "");
}

void slowlog_add(slowlog *l, const slowlog_call *c) {
  if (l->max_len == 0) return;
  if (l->n == l->cap && l->cap < l->max_len) {
    size_t cap = l->cap ? l->cap * 2 : 8;
    if (cap > l->max_len) cap = l->max_len;
    if (rebuild(l, cap, l->n) != 0) return;
  }
  slow_entry *e;
  if (l->n == l->cap) { /* full: the newest replaces the oldest */
    e = &l->ring[l->first];
    l->first = (l->first + 1) % l->cap;
  } else {
    e = &l->ring[(l->first + l->n) % l->cap];
    l->n++;
  }
  e->id = l->next_id++;
  e->time_s = c->time_s;
  e->duration_us = c->duration_us;
  e->object = c->object;
  e->nargs = c->nargs > UINT32_MAX ? UINT32_MAX : (uint32_t)c->nargs;
  copy_text(e->name, sizeof e->name, c->name);
  copy_text(e->type, sizeof e->type, c->type);
  copy_text(e->method, sizeof e->method, c->method);
  copy_text(e->peer, sizeof e->peer, c->peer);
  copy_text(e->client, sizeof e->client, c->client);
}

void slowlog_reset(slowlog *l) {
  l->first = 0;
  l->n = 0;
}

void slowlog_write(const slowlog *l, size_t n, vbuf *out) {
  if (n > l->n) n = l->n;
  map_writer w;
  mw_init(&w, out);
  size_t list = vb_list_begin(out);
  for (size_t i = 0; i < n; i++) {
    const slow_entry *e = &l->ring[(l->first + l->n - 1 - i) % l->cap];
    size_t item = vb_list_begin_item(out);
    size_t map = vb_map_begin(out);
    mw_int(&w, "id", (int64_t)e->id);
    mw_int(&w, "time", e->time_s);
    mw_int(&w, "duration_us", e->duration_us);
    mw_int(&w, "object", (int64_t)e->object);
    if (e->name[0]) mw_str(&w, "name", e->name);
    mw_str(&w, "type", e->type);
    mw_str(&w, "method", e->method);
    mw_int(&w, "args", e->nargs);
    mw_str(&w, "client", e->peer);
    if (e->client[0]) mw_str(&w, "client_name", e->client);
    vb_map_end(out, map);
    vb_list_end_item(out, item);
  }
  vb_list_end(out, list);
  mw_done(&w);
}
