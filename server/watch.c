/* SPDX-License-Identifier: MIT */
/* watch.c - revisions, change history and watches of the watched types
 * (see watch.h).
 *
 * An object's history is a ring of at most WCH_KEEP notes and
 * WCH_KEEP_BYTES bytes of keys and values, made when a process first
 * reads the object's revision or watches it (track: logged as the
 * internal call _track, so a replay starts at the same point): each note is one
 * allocation holding its revision, kind, key and value bytes, counted in
 * the data's memory (memory.h). A full ring drops its oldest notes and
 * raises the floor to their revision (a call may note several changes under one
 * revision, so only revisions above the floor are whole). Watchers park in
 * the history's waitq; wch_commit signals the object and the serve hook
 * answers every watcher that a change of its key (any, without one) came
 * for, rescanning from the head after each answer (an answer may close a
 * connection, which drops that connection's other waiters).
 *
 * Snapshot form (wch_save): a list of [id, rev, floor, last_len, notes],
 * notes a list of [rev, kind, key, value], for each object with a
 * revision; floor -1 when its changes are not kept. The history is state: answers depend on it, and
 * a watcher resuming after a restart finds it whole. */
#include "watch.h"

#include "../proto/vequal.h"
#include "blocked.h"
#include "cmd.h"
#include "conn.h"
#include "map_writer.h"
#include "memory.h"
#include "persist.h"
#include "registry.h"
#include "server.h"
#include "types.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One noted change. */
typedef struct wch_note_rec {
  uint64_t rev;
  int kind;    /* WCH_* */
  size_t klen; /* key bytes (0: no key) */
  size_t vlen; /* value bytes (0: nil or none) */
  uint8_t data[];
} wch_note_rec;

typedef struct wch_log {
  wch_note_rec **ring; /* WCH_KEEP slots, made with the first note */
  size_t head, len;    /* the oldest note, and how many */
  size_t bytes;        /* the notes' key and value bytes */
  uint64_t floor;      /* every change above this revision is in the ring */
  int64_t last_len;    /* a list: the length last noted; -1 none */
  waitq waiters;       /* parked watch calls */
} wch_log;

static const char *const kind_names[] = {"", "set", "del", "len"};

bool wch_watchable(const sm_obj *o) {
  return o->type == &t_dict_type || o->type == &t_namespace_type || o->type == &t_value_type ||
         o->type == &t_list_type;
}

uint64_t wch_rev(const sm_obj *o) { return o->rev; }

/* o's history, made when missing (counted in the data's memory);
 * NULL when out of memory. */
static wch_log *log_of(registry *reg, sm_obj *o) {
  if (o->wlog) return o->wlog;
  wch_log *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  mem_add(reg_mem(reg), mem_chunk(sizeof *l));
  l->floor = o->rev; /* nothing before its first note was kept */
  l->last_len = -1;
  o->wlog = l;
  return l;
}

/* The bytes note n takes in memory. */
static size_t note_mem(const wch_note_rec *n) { return mem_chunk(sizeof *n + n->klen + n->vlen); }

/* Drops the oldest note, raising the floor to its revision. */
static void drop_oldest(registry *reg, wch_log *l) {
  wch_note_rec *n = l->ring[l->head];
  if (n->rev > l->floor) l->floor = n->rev;
  l->bytes -= n->klen + n->vlen;
  mem_sub(reg_mem(reg), note_mem(n));
  free(n);
  l->ring[l->head] = NULL;
  l->head = (l->head + 1) % WCH_KEEP;
  l->len--;
}

/* Appends a note of revision rev, dropping the oldest ones past WCH_KEEP
 * notes or WCH_KEEP_BYTES bytes; false when out of memory or when the
 * note alone is larger than that. */
static bool push(registry *reg, wch_log *l, uint64_t rev, int kind, sm_span key, sm_span value) {
  if (key.n + value.n > WCH_KEEP_BYTES) return false;
  if (!l->ring) {
    if (!(l->ring = calloc(WCH_KEEP, sizeof *l->ring))) return false;
    mem_add(reg_mem(reg), mem_chunk(WCH_KEEP * sizeof *l->ring));
  }
  wch_note_rec *n = malloc(sizeof *n + key.n + value.n);
  if (!n) return false;
  n->rev = rev;
  n->kind = kind;
  n->klen = key.n;
  n->vlen = value.n;
  if (key.n) memcpy(n->data, key.p, key.n);
  if (value.n) memcpy(n->data + key.n, value.p, value.n);
  while (l->len && (l->len == WCH_KEEP || l->bytes + key.n + value.n > WCH_KEEP_BYTES))
    drop_oldest(reg, l);
  l->ring[(l->head + l->len) % WCH_KEEP] = n;
  l->len++;
  l->bytes += key.n + value.n;
  mem_add(reg_mem(reg), note_mem(n));
  return true;
}

/* A note could not be kept: the history can no longer say what changed
 * at rev, so everything up to it is compacted away (a watcher from before
 * reads the object again). */
static void lose(registry *reg, sm_obj *o, uint64_t rev) {
  wch_log *l = o->wlog;
  if (!l) return;
  while (l->len)
    drop_oldest(reg, l);
  if (rev > l->floor) l->floor = rev;
}

/* A transaction's notes, in the order its calls made them: kept only
 * when it commits (wch_batch_end), so a rolled back one leaves none. */
typedef struct wch_pending {
  sm_obj *o;
  uint64_t rev;
  int kind;
  size_t klen, vlen;
  uint8_t data[];
} wch_pending;

/* Queues a note in batch b; false when out of memory. */
static bool queue_note(wch_batch *b, sm_obj *o, int kind, sm_span key, sm_span value) {
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 8;
    wch_pending **p = realloc(b->notes, cap * sizeof *p);
    if (!p) return false;
    b->notes = p;
    b->cap = cap;
  }
  wch_pending *n = malloc(sizeof *n + key.n + value.n);
  if (!n) return false;
  *n = (wch_pending){.o = o, .rev = o->rev + 1, .kind = kind, .klen = key.n, .vlen = value.n};
  if (key.n) memcpy(n->data, key.p, key.n);
  if (value.n) memcpy(n->data + key.n, value.p, value.n);
  b->notes[b->n++] = n;
  return true;
}

void wch_note(registry *reg, sm_obj *o, int kind, sm_span key, sm_span value) {
  wch_log *l = o->wlog;
  if (!l) return;
  wch_batch *b = *reg_wbatch(reg);
  if (b ? !queue_note(b, o, kind, key, value) : !push(reg, l, o->rev + 1, kind, key, value))
    lose(reg, o, o->rev + 1);
}

void wch_batch_begin(registry *reg, wch_batch *b) {
  *b = (wch_batch){0};
  *reg_wbatch(reg) = b;
}

void wch_batch_end(registry *reg, bool keep) {
  wch_batch *b = *reg_wbatch(reg);
  if (!b) return;
  *reg_wbatch(reg) = NULL;
  for (size_t i = 0; i < b->n; i++) {
    wch_pending *n = b->notes[i];
    if (keep) {
      sm_obj *o = n->o;
      sm_span key = {n->data, n->klen}, value = {n->data + n->klen, n->vlen};
      if (!push(reg, o->wlog, n->rev, n->kind, key, value)) lose(reg, o, n->rev);
      if (o->wlog->waiters.head) blk_signal(reg, o);
    }
    free(n);
  }
  free(b->notes);
  *b = (wch_batch){0};
}

wch_point wch_here(const sm_obj *o) {
  return (wch_point){.rev = o->rev, .last_len = o->wlog ? o->wlog->last_len : -1};
}

void wch_back(sm_obj *o, wch_point p) {
  o->rev = p.rev;
  if (o->wlog) o->wlog->last_len = p.last_len;
}

/* Starts keeping o's changes (a list's from its length now). Returns
 * false when out of memory. */
static bool start(registry *reg, sm_obj *o) {
  wch_log *l = log_of(reg, o);
  if (l && o->type == &t_list_type) l->last_len = (int64_t)o->type->size(o->state);
  return l != NULL;
}

/* A process reads o's revision or watches it: from now on its changes are
 * kept. The start is logged (as the internal _track), so a replay keeps
 * the same changes the live daemon kept. */
static int track(call *c) {
  if (c->obj->wlog) return WS_OK;
  const persist *p = c->conn ? conn_server(c->conn)->persist : NULL;
  if (p && persist_full(p)) /* the start is a record the log cannot take now */
    return call_fail(c, WS_DISK_FULL,
                     "the daemon's disk is full: watching a new object waits until it has room");
  if (!start(c->reg, c->obj)) return call_fail(c, WS_INTERNAL, "out of memory");
  if (cmd_logging(c->reg)) cmd_log_call(c->reg, c->session, c->obj->id, "_track", NULL, 0);
  return WS_OK;
}

int wch_m_track(call *c) {
  int rc = call_nargs(c, 0, 0);
  if (rc == WS_OK && !c->obj->wlog && !start(c->reg, c->obj))
    rc = call_fail(c, WS_INTERNAL, "out of memory");
  return rc;
}

void wch_commit(registry *reg, sm_obj *o) {
  if (!wch_watchable(o)) return;
  if (o->type == &t_list_type) {
    wch_log *l = o->wlog;
    int64_t len = l ? (int64_t)o->type->size(o->state) : 0;
    if (l && l->last_len != len) {
      uint8_t raw[16];
      vbuf v = {.p = raw, .cap = sizeof raw}; /* a packed int takes at most 11 */
      vb_int(&v, len);
      wch_note(reg, o, WCH_LEN, (sm_span){0}, vb_span(&v));
      l->last_len = len;
    }
  }
  o->rev++;
  /* In a transaction, its notes wake the watchers when it commits. */
  if (o->wlog && o->wlog->waiters.head && !*reg_wbatch(reg)) blk_signal(reg, o);
}

/* The note at place i of the ring, oldest first. */
static const wch_note_rec *note_at(const wch_log *l, size_t i) {
  return l->ring[(l->head + i) % WCH_KEEP];
}

/* True when note n is one a watcher of key (empty: any) wants. */
static bool wanted(const wch_note_rec *n, uint64_t from, sm_span key) {
  if (n->rev <= from) return false;
  return key.n == 0 || (n->klen && veq_equal((sm_span){n->data, n->klen}, key));
}

/* True when o's history no longer holds every change after from. */
static bool compacted(const sm_obj *o, uint64_t from) {
  return o->wlog ? from < o->wlog->floor : from < o->rev;
}

/* The number of notes after from of key (empty: any). */
static size_t count_wanted(const sm_obj *o, uint64_t from, sm_span key) {
  const wch_log *l = o->wlog;
  size_t n = 0;
  for (size_t i = 0; l && i < l->len; i++)
    n += wanted(note_at(l, i), from, key);
  return n;
}

/* Writes the answer of a watch from `from` of key into out. */
static void answer_into(const sm_obj *o, uint64_t from, sm_span key, vbuf *out) {
  map_writer w;
  mw_init(&w, out);
  size_t map = vb_map_begin(out);
  mw_int(&w, "rev", (int64_t)o->rev);
  if (compacted(o, from)) {
    vb_str(&w.key, "compacted", 9);
    vb_bool(&w.val, true);
    mw_entry(&w);
  } else {
    vb_str(&w.key, "events", 6);
    size_t list = vb_list_begin(&w.val);
    const wch_log *l = o->wlog;
    for (size_t i = 0; l && i < l->len; i++) {
      const wch_note_rec *n = note_at(l, i);
      if (!wanted(n, from, key)) continue;
      size_t item = vb_list_begin_item(&w.val);
      size_t ev = vb_list_begin(&w.val);
      size_t f = vb_list_begin_item(&w.val);
      vb_int(&w.val, (int64_t)n->rev);
      vb_list_end_item(&w.val, f);
      f = vb_list_begin_item(&w.val);
      vb_str(&w.val, kind_names[n->kind], strlen(kind_names[n->kind]));
      vb_list_end_item(&w.val, f);
      vb_list_item(&w.val, (sm_span){n->data, n->klen});
      vb_list_item(&w.val, (sm_span){n->data + n->klen, n->vlen});
      vb_list_end(&w.val, ev);
      vb_list_end_item(&w.val, item);
    }
    vb_list_end(&w.val, list);
    mw_entry(&w);
  }
  vb_map_end(out, map);
  if (w.key.failed || w.val.failed) out->failed = true;
  mw_done(&w);
}

/* A parked watch: w->n its from_rev, w->data its key (a packed value,
 * length first) or NULL. */
typedef struct watch_key {
  size_t n;
  uint8_t p[];
} watch_key;

static sm_span key_of(const waiter *w) {
  const watch_key *k = w->data;
  return k ? (sm_span){k->p, k->n} : (sm_span){0};
}

static void watch_drop(registry *reg, waiter *w) {
  (void)reg;
  free(w->data);
  w->data = NULL;
}

/* Deadline: nothing came; the key copy goes first. */
static void watch_timeout(registry *reg, waiter *w) {
  watch_drop(reg, w);
  blk_answer(w, WS_TIMEOUT, (sm_span){0}, "timed out");
}

static const waiter_ops watch_ops = {watch_timeout, watch_drop};

/* Answers w from o's history (the caller checked it is due). */
static void answer_waiter(sm_obj *o, waiter *w) {
  vbuf out;
  vb_init(&out);
  answer_into(o, (uint64_t)w->n, key_of(w), &out);
  free(w->data);
  w->data = NULL;
  if (out.failed)
    blk_answer(w, WS_INTERNAL, (sm_span){0}, "out of memory building the answer");
  else
    blk_answer(w, WS_OK, vb_span(&out), NULL);
  vb_free(&out);
}

void wch_serve(registry *reg, sm_obj *o) {
  (void)reg;
  wch_log *l = o->wlog;
  for (bool again = true; l && again;) {
    again = false;
    for (waiter *w = l->waiters.head; w; w = w->next) {
      uint64_t from = (uint64_t)w->n;
      if (compacted(o, from) || count_wanted(o, from, key_of(w))) {
        answer_waiter(o, w);
        again = true; /* answering may have dropped others: start over */
        break;
      }
    }
  }
}

void wch_free(registry *reg, sm_obj *o) {
  wch_log *l = o->wlog;
  if (!l) return;
  blk_cancel_all(&l->waiters, WS_NOT_FOUND, "the watched object was deleted");
  while (l->len)
    drop_oldest(reg, l);
  if (l->ring) mem_sub(reg_mem(reg), mem_chunk(WCH_KEEP * sizeof *l->ring));
  mem_sub(reg_mem(reg), mem_chunk(sizeof *l));
  free(l->ring);
  free(l);
  o->wlog = NULL;
}

int wch_m_rev(call *c) {
  int rc = call_nargs(c, 0, 0);
  if (rc == WS_OK) rc = track(c);
  if (rc == WS_OK) vb_int(c->out, (int64_t)c->obj->rev);
  return rc;
}

/* watch(from_rev[, key]): a key for dicts and namespaces only. */
int wch_m_watch(call *c) {
  sm_obj *o = c->obj;
  bool keyed = o->type == &t_dict_type || o->type == &t_namespace_type;
  int rc = call_nargs(c, 1, keyed ? 2 : 1);
  int64_t from;
  if (rc == WS_OK) rc = call_arg_int(c, 0, &from);
  if (rc == WS_OK && c->nargs == 2) rc = call_arg_key(c, 1);
  if (rc == WS_OK) rc = track(c);
  if (rc != WS_OK) return rc;
  if (from < 0 || (uint64_t)from > o->rev)
    return call_fail(c, WS_VALUE_ERROR, "from_rev %lld is not a revision of this %s (0 to %llu)",
                     (long long)from, o->type->name, (unsigned long long)o->rev);
  sm_span key = c->nargs == 2 ? c->args[1] : (sm_span){0};
  if (compacted(o, (uint64_t)from) || count_wanted(o, (uint64_t)from, key) || !blk_may_wait(c)) {
    answer_into(o, (uint64_t)from, key, c->out);
    return WS_OK;
  }
  wch_log *l = o->wlog; /* track() made it */
  watch_key *k = NULL;
  if (key.n && !(k = malloc(sizeof *k + key.n))) return call_fail(c, WS_INTERNAL, "out of memory");
  if (k) {
    k->n = key.n;
    memcpy(k->p, key.p, key.n);
  }
  rc = blk_park(c, o, &l->waiters, &watch_ops, from, k);
  if (rc != CALL_PARKED) free(k);
  return rc;
}

/* ---- snapshots ---- */

typedef struct save_ctx {
  vbuf *out;
  vbuf one; /* one object's entry */
} save_ctx;

static void save_one(void *ctx, sm_obj *o) {
  save_ctx *s = ctx;
  if (!wch_watchable(o) || (o->rev == 0 && !o->wlog)) return; /* nothing to keep */
  const wch_log *l = o->wlog;
  vbuf *b = &s->one;
  vb_reset(b);
  size_t top = vb_list_begin(b);
  vb_list_int(b, (int64_t)o->id);
  vb_list_int(b, (int64_t)o->rev);
  vb_list_int(b, l ? (int64_t)l->floor : -1); /* -1: changes not kept */
  vb_list_int(b, l ? l->last_len : -1);
  size_t notes = vb_list_begin_item(b);
  size_t nl = vb_list_begin(b);
  for (size_t i = 0; l && i < l->len; i++) {
    const wch_note_rec *n = note_at(l, i);
    size_t it = vb_list_begin_item(b);
    size_t one = vb_list_begin(b);
    vb_list_int(b, (int64_t)n->rev);
    vb_list_int(b, n->kind);
    vb_list_item(b, (sm_span){n->data, n->klen});
    vb_list_item(b, (sm_span){n->data + n->klen, n->vlen});
    vb_list_end(b, one);
    vb_list_end_item(b, it);
  }
  vb_list_end(b, nl);
  vb_list_end_item(b, notes);
  vb_list_end(b, top);
  if (b->failed) {
    s->out->failed = true;
    return;
  }
  vb_list_item(s->out, vb_span(b));
}

int wch_save(const registry *reg, vbuf *out) {
  save_ctx s = {.out = out};
  vb_init(&s.one);
  size_t list = vb_list_begin(out);
  reg_foreach(reg, save_one, &s);
  vb_list_end(out, list);
  vb_free(&s.one);
  return out->failed ? -1 : 0;
}

/* Reads n int fields of list body into v; false when they are not. */
static bool ints(vw_iter *it, int64_t *v, size_t n) {
  sm_span f;
  vinfo vi;
  for (size_t i = 0; i < n; i++) {
    if (!vw_list_next(it, &f) || vw_peek(f, &vi) != VW_OK || vi.kind != VK_INT) return false;
    v[i] = vi.i;
  }
  return true;
}

int wch_load(registry *reg, sm_span saved, char *err, size_t errlen) {
  vinfo top;
  if (vw_scan(saved, VW_DEPTH_MAX, &top, NULL) != VW_OK || top.kind != VK_LIST) {
    snprintf(err, errlen, "the revisions section is not a list");
    return -1;
  }
  vw_iter objs;
  sm_span entry;
  vw_iter_init(&objs, top.data);
  while (vw_list_next(&objs, &entry)) {
    vinfo ei, ni;
    int64_t f[4];
    vw_iter it;
    sm_span notes, note;
    if (vw_peek(entry, &ei) != VW_OK || ei.kind != VK_LIST) goto bad;
    vw_iter_init(&it, ei.data);
    if (!ints(&it, f, 4) || !vw_list_next(&it, &notes) || vw_peek(notes, &ni) != VW_OK ||
        ni.kind != VK_LIST)
      goto bad;
    sm_obj *o = reg_get(reg, (uint64_t)f[0]);
    if (!o || !wch_watchable(o)) {
      snprintf(err, errlen, "revisions of object %lld, which is not a watched object",
               (long long)f[0]);
      return -1;
    }
    o->rev = (uint64_t)f[1];
    if (f[2] < 0) continue; /* its changes are not kept */
    wch_log *l = log_of(reg, o);
    if (!l) goto oom;
    l->floor = (uint64_t)f[2];
    l->last_len = f[3];
    vw_iter nit;
    vw_iter_init(&nit, ni.data);
    while (vw_list_next(&nit, &note)) {
      vinfo vi;
      int64_t rk[2];
      sm_span key, value;
      if (vw_peek(note, &vi) != VW_OK || vi.kind != VK_LIST) goto bad;
      vw_iter fit;
      vw_iter_init(&fit, vi.data);
      if (!ints(&fit, rk, 2) || rk[1] < WCH_SET || rk[1] > WCH_LEN || !vw_list_next(&fit, &key) ||
          !vw_list_next(&fit, &value))
        goto bad;
      if (!push(reg, l, (uint64_t)rk[0], (int)rk[1], key, value)) goto oom;
    }
  }
  return 0;
bad:
  snprintf(err, errlen, "the revisions section holds an entry that is not one");
  return -1;
oom:
  snprintf(err, errlen, "out of memory loading revisions");
  return -1;
}
