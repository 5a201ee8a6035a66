/* SPDX-License-Identifier: MIT */
/* map_writer.h - writing a map with string keys into a vbuf, one entry at
 * a time: the shape of the manager's answers (ls, info, show, slowlog,
 * config). Two scratch buffers hold each key and value until the entry is
 * added. */
#ifndef SM_SERVER_MAP_WRITER_H
#define SM_SERVER_MAP_WRITER_H

#include "../proto/vwire.h"

#include <string.h>

typedef struct map_writer {
  vbuf *out;     /* the map being written (between vb_map_begin and vb_map_end) */
  vbuf key, val; /* scratch: the entry being built */
} map_writer;

/* Starts writing entries into out; free the scratch with mw_done(). */
static inline void mw_init(map_writer *w, vbuf *out) {
  w->out = out;
  vb_init(&w->key);
  vb_init(&w->val);
}

static inline void mw_done(map_writer *w) {
  vb_free(&w->key);
  vb_free(&w->val);
}

/* Adds the entry built in w->key and w->val, and empties them. */
static inline void mw_entry(map_writer *w) {
  vb_map_entry(w->out, vb_span(&w->key), vb_span(&w->val));
  vb_reset(&w->key);
  vb_reset(&w->val);
}

static inline void mw_int(map_writer *w, const char *k, int64_t v) {
  vb_str(&w->key, k, strlen(k));
  vb_int(&w->val, v);
  mw_entry(w);
}

static inline void mw_double(map_writer *w, const char *k, double v) {
  vb_str(&w->key, k, strlen(k));
  vb_double(&w->val, v);
  mw_entry(w);
}

static inline void mw_str(map_writer *w, const char *k, const char *v) {
  vb_str(&w->key, k, strlen(k));
  vb_str(&w->val, v, strlen(v));
  mw_entry(w);
}

#endif
