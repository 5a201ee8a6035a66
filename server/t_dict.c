/* SPDX-License-Identifier: MIT */
/* t_dict.c - the "dict" type: Python's dict over shared values, plus the
 * atomic helpers set_if_absent and cas (docs/protocol.md lists the methods).
 *
 * The state is an htab keyed by packed values (htab_init_values): keys
 * compare and hash by Python's rules (proto/vequal.h), so 1, 1.0 and True
 * are one key, which keeps the first key stored, and cas compares values
 * the same way (sval_equals). A key that is a ref holds a reference on its
 * object for as long as the entry exists, as a stored value does. Every method
 * changes the table first and releases what it removed last, so dropping a
 * reference (which may destroy other objects) never sees a half-done table.
 *
 * Keys may have a TTL (expire.h): set_ttl, set's third argument, ttl,
 * persist. The keys with one are in a table of their own (key -> deadline
 * entry) and a min-heap by deadline (dlheap.h), so expiring looks at them
 * only. As with Redis, a key's TTL goes with its value: storing a new value
 * (set, update, cas) or removing the key clears it. The expiry index
 * removes due keys with the internal "_expire(key...)" before any call
 * sees them, and its active cycle reclaims those nobody touches. */
#include "cmd.h"
#include "dlheap.h"
#include "registry.h"
#include "saved.h"
#include "scan.h"
#include "sval.h"
#include "types.h"
#include "watch.h"
#include "htab.h"
#include "memory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A key's TTL: its deadline in the dict's heap, and the key's bytes. */
typedef struct dict_ttl {
  dl_node node; /* at: the deadline, ms since the epoch */
  size_t klen;
  uint8_t key[]; /* the packed key */
} dict_ttl;

typedef struct dict {
  htab h;         /* key -> sval*, in insertion order */
  htab ttl;       /* key -> dict_ttl* (owned): the keys with a TTL */
  dl_heap heap;   /* those, by deadline */
  size_t ttl_mem; /* bytes of the dict_ttl blocks */
} dict;

static dict *dict_st(call *c) { return c->obj->state; }
static htab *dict_of(call *c) { return &dict_st(c)->h; }

static void ttl_free(dict *d, dict_ttl *t) {
  dlh_remove(&d->heap, &t->node);
  d->ttl_mem -= mem_chunk(sizeof *t + t->klen);
  free(t);
}

/* Clears key's TTL, if it has one. */
static void ttl_clear(dict *d, sm_span key) {
  void *t;
  if (htab_len(&d->ttl) && htab_remove(&d->ttl, key, &t)) ttl_free(d, t);
}

static void ttl_free_cb(void *ctx, void *val) { ttl_free(ctx, val); }

/* Clears every TTL. */
static void ttl_clear_all(dict *d) {
  htab_clear(&d->ttl, ttl_free_cb, d);
  dlh_free(&d->heap);
}

/* Sets key's deadline (key must be in the dict). Returns WS_OK or
 * WS_INTERNAL. */
static int ttl_set(dict *d, sm_span key, int64_t at) {
  void **slot = htab_find(&d->ttl, key);
  if (slot) return dlh_set(&d->heap, &((dict_ttl *)*slot)->node, at) == 0 ? WS_OK : WS_INTERNAL;
  dict_ttl *t = malloc(sizeof *t + key.n);
  if (!t) return WS_INTERNAL;
  *t = (dict_ttl){.klen = key.n};
  memcpy(t->key, key.p, key.n);
  if (dlh_set(&d->heap, &t->node, at) != 0) {
    free(t);
    return WS_INTERNAL;
  }
  if (htab_put(&d->ttl, key, t, NULL) != 1) {
    dlh_remove(&d->heap, &t->node);
    free(t);
    return WS_INTERNAL;
  }
  d->ttl_mem += mem_chunk(sizeof *t + key.n);
  return WS_OK;
}

/* key's deadline, 0 when it has no TTL. */
static int64_t ttl_of(const dict *d, sm_span key) {
  void **slot = htab_len(&d->ttl) ? htab_find(&d->ttl, key) : NULL;
  return slot ? ((dict_ttl *)*slot)->node.at : 0;
}

/* Stores key -> packed value (copied). Returns WS_OK or WS_INTERNAL. */
static int store(call *c, dict *d, sm_span key, sm_span packed, unsigned flags) {
  htab *h = &d->h;
  sval *nv = sval_new(c->reg, packed, flags);
  void *old = NULL;
  int rc = nv ? htab_put(h, key, nv, &old) : -1;
  if (rc < 0) {
    sval_free(c->reg, nv);
    return call_fail(c, WS_INTERNAL, "out of memory");
  }
  if (rc == 1)
    reg_ref_hold(c->reg, reg_ref_id(key), true);
  else
    sval_free(c->reg, old);
  ttl_clear(d, key);                                          /* a new value has no TTL */
  if (c->obj) wch_note(c->reg, c->obj, WCH_SET, key, packed); /* not while creating */
  return WS_OK;
}

/* Stores every entry of a scanned map body (later duplicates win). */
static int store_map(call *c, dict *d, sm_span body, unsigned flags) {
  vw_iter it;
  sm_span k, v;
  vw_iter_init(&it, body);
  while (vw_map_next(&it, &k, &v)) {
    int rc = store(c, d, k, v, flags);
    if (rc != WS_OK) return rc;
  }
  return WS_OK;
}

/* Empties d, then releases every key ref and value it held. */
static void drop_all(registry *reg, dict *d) {
  htab *h = &d->h;
  ttl_clear_all(d);
  htab old = *h;
  size_t pos = 0;
  sm_span k;
  void *v;
  htab_init_values(h);
  h->next_seq = old.next_seq; /* insertion numbers never go back (scan cursors) */
  while (htab_next(&old, &pos, &k, &v)) {
    reg_ref_hold(reg, reg_ref_id(k), false);
    sval_free(reg, v);
  }
  htab_clear(&old, NULL, NULL);
}

/* Removes key when present; *val receives its value, which the caller frees
 * with sval_free() after answering. */
static bool take(call *c, sm_span key, sval **val) {
  void *v;
  if (!htab_remove(dict_of(c), key, &v)) return false;
  ttl_clear(dict_st(c), key);
  wch_note(c->reg, c->obj, WCH_DEL, key, (sm_span){0});
  reg_ref_hold(c->reg, reg_ref_id(key), false);
  *val = v;
  return true;
}

/* Checks the argument count (dispatch did, for a method with ARGS; this is
 * for methods added without them) and that argument 0 is a hashable key. */
static int key_args(call *c, size_t min, size_t max) {
  int rc = call_nargs(c, min, max);
  return rc == WS_OK ? call_arg_key(c, 0) : rc;
}

static int not_found(call *c) { return call_fail(c, WS_NOT_FOUND, "key not found"); }

/* Writes the list [k, v]. */
static void write_pair(vbuf *b, sm_span k, sm_span v) {
  size_t m = vb_list_begin(b);
  vb_list_item(b, k);
  vb_list_item(b, v);
  vb_list_end(b, m);
}

enum { OUT_KEYS, OUT_VALUES, OUT_ITEMS };

static int write_listing(call *c, int what) {
  size_t pos = 0, m = vb_list_begin(c->out);
  sm_span k;
  void *v;
  while (htab_next(dict_of(c), &pos, &k, &v)) {
    if (what == OUT_KEYS) {
      vb_list_item(c->out, k);
    } else if (what == OUT_VALUES) {
      vb_list_item(c->out, sval_span(v));
    } else {
      size_t item = vb_list_begin_item(c->out);
      write_pair(c->out, k, sval_span(v));
      vb_list_end_item(c->out, item);
    }
  }
  vb_list_end(c->out, m);
  return WS_OK;
}

/* get(key[, default]) */
static int d_get(call *c) {
  int rc = key_args(c, 1, 2);
  if (rc != WS_OK) return rc;
  void **v = htab_find(dict_of(c), c->args[0]);
  if (v)
    vb_append(c->out, sval_span(*v));
  else if (c->nargs == 2)
    vb_append(c->out, c->args[1]);
  else
    return not_found(c);
  return WS_OK;
}

/* Argument i as a TTL length in ms (an int); WS_TYPE_ERROR otherwise. The
 * deadline it gives is cmd_time() + ms. */
static int ttl_arg(call *c, size_t i, int64_t *ms) {
  int rc = call_arg_int(c, i, ms);
  if (rc == WS_OK && *ms > INT64_MAX / 2)
    return call_fail(c, WS_VALUE_ERROR, "the TTL %lld ms is too long", (long long)*ms);
  return rc;
}

/* set(key, v[, ttl_ms]): with ttl_ms (> 0; nil: none) the key expires that
 * long after the call. */
static int d_set(call *c) {
  int rc = key_args(c, 2, 3);
  int64_t ms = 0;
  vinfo vi = {.kind = VK_NIL};
  if (rc == WS_OK && c->nargs == 3) call_arg(c, 2, &vi);
  if (rc == WS_OK && vi.kind != VK_NIL && (rc = ttl_arg(c, 2, &ms)) == WS_OK && ms <= 0)
    rc = call_fail(c, WS_VALUE_ERROR, "set's TTL must be a positive number of ms");
  if (rc == WS_OK) rc = store(c, dict_st(c), c->args[0], c->args[1], c->arg_flags[1]);
  if (rc == WS_OK && ms > 0 && ttl_set(dict_st(c), c->args[0], cmd_time(c->reg) + ms) != WS_OK)
    return call_fail(c, WS_INTERNAL, "out of memory");
  return rc;
}

/* set_ttl(key, ms) -> bool: false when the key is absent; else it expires
 * ms after the call, and at once when ms <= 0 (Redis's EXPIRE). */
static int d_set_ttl(call *c) {
  int64_t ms;
  int rc = key_args(c, 2, 2);
  if (rc == WS_OK) rc = ttl_arg(c, 1, &ms);
  if (rc != WS_OK) return rc;
  bool present = htab_find(dict_of(c), c->args[0]) != NULL;
  vb_bool(c->out, present);
  if (!present) return WS_OK;
  if (ms <= 0) {
    sval *v;
    take(c, c->args[0], &v);
    sval_free(c->reg, v);
    return WS_OK;
  }
  if (ttl_set(dict_st(c), c->args[0], cmd_time(c->reg) + ms) != WS_OK)
    return call_fail(c, WS_INTERNAL, "out of memory");
  return WS_OK;
}

/* ttl(key) -> ms left before the key expires; -1: no TTL; -2: no such
 * key (Redis's PTTL). */
static int d_ttl(call *c) {
  int rc = key_args(c, 1, 1);
  if (rc != WS_OK) return rc;
  if (!htab_find(dict_of(c), c->args[0])) {
    vb_int(c->out, -2);
    return WS_OK;
  }
  int64_t at = ttl_of(dict_st(c), c->args[0]), left = at - cmd_time(c->reg);
  vb_int(c->out, at == 0 ? -1 : left < 0 ? 0 : left);
  return WS_OK;
}

/* persist(key) -> bool: true when the key had a TTL, now gone. */
static int d_persist(call *c) {
  int rc = key_args(c, 1, 1);
  if (rc != WS_OK) return rc;
  bool had = ttl_of(dict_st(c), c->args[0]) != 0;
  if (had) ttl_clear(dict_st(c), c->args[0]);
  vb_bool(c->out, had);
  return WS_OK;
}

/* _expire(key...) (internal: the expiry index's decision, expire.h): the
 * keys' deadlines passed by the time of the record, and they go. Each
 * must be such a key (VALUE_ERROR otherwise: the log and the state
 * disagree), checked before any goes. */
static int d_expire(call *c) {
  int64_t now = cmd_time(c->reg);
  for (size_t i = 0; i < c->nargs; i++) {
    int rc = call_arg_key(c, i);
    if (rc != WS_OK) return rc;
    int64_t at = ttl_of(dict_st(c), c->args[i]);
    if (at == 0 || at > now) return call_fail(c, WS_VALUE_ERROR, "_expire names a key not due");
  }
  for (size_t i = 0; i < c->nargs; i++) {
    sval *v;
    if (take(c, c->args[i], &v)) sval_free(c->reg, v);
  }
  return WS_OK;
}

/* del(key) */
static int d_del(call *c) {
  int rc = key_args(c, 1, 1);
  if (rc != WS_OK) return rc;
  sval *v;
  if (!take(c, c->args[0], &v)) return not_found(c);
  sval_free(c->reg, v);
  return WS_OK;
}

/* contains(key) -> bool */
static int d_contains(call *c) {
  int rc = key_args(c, 1, 1);
  if (rc == WS_OK) vb_bool(c->out, htab_find(dict_of(c), c->args[0]) != NULL);
  return rc;
}

/* len -> int */
static int d_len(call *c) {
  vb_int(c->out, (int64_t)htab_len(dict_of(c)));
  return WS_OK;
}

static int d_keys(call *c) { return write_listing(c, OUT_KEYS); }
static int d_values(call *c) { return write_listing(c, OUT_VALUES); }
static int d_items(call *c) { return write_listing(c, OUT_ITEMS); }

/* One scanned entry: the pair [key, value]. */
static void scan_item(vbuf *out, sm_span key, sm_span val) {
  size_t item = vb_list_begin_item(out);
  write_pair(out, key, val);
  vb_list_end_item(out, item);
}

/* scan(cursor[, count]) -> [next, [[k, v]...]]: a page of items in
 * insertion order. The cursor names insertion numbers (htab.h, scan.h), so
 * inserts, deletes and resizes between pages never make it skip or repeat
 * an entry that stays, and entries inserted after the scan began are left
 * out, so that it ends. */
static int d_scan(call *c) { return scan_table(c, dict_of(c), scan_item); }

/* pop(key[, default]) */
static int d_pop(call *c) {
  int rc = key_args(c, 1, 2);
  if (rc != WS_OK) return rc;
  sval *v;
  if (take(c, c->args[0], &v)) {
    vb_append(c->out, sval_span(v));
    sval_free(c->reg, v);
  } else if (c->nargs == 2) {
    vb_append(c->out, c->args[1]);
  } else {
    return not_found(c);
  }
  return WS_OK;
}

/* popitem -> [k, v], the most recently inserted entry (LIFO, as Python). */
static int d_popitem(call *c) {
  htab *h = dict_of(c);
  sm_span k;
  void *v;
  if (!htab_last(h, &k, &v)) return call_fail(c, WS_NOT_FOUND, "popitem(): dictionary is empty");
  write_pair(c->out, k, sval_span(v));
  wch_note(c->reg, c->obj, WCH_DEL, k, (sm_span){0});
  uint64_t ref = reg_ref_id(k);
  ttl_clear(dict_st(c), k);
  htab_remove(h, k, NULL); /* k is the table's own copy: not used after this */
  reg_ref_hold(c->reg, ref, false);
  sval_free(c->reg, v);
  return WS_OK;
}

/* setdefault(key[, default=nil]) -> the value now stored */
static int d_setdefault(call *c) {
  int rc = key_args(c, 1, 2);
  if (rc != WS_OK) return rc;
  void **v = htab_find(dict_of(c), c->args[0]);
  if (v) {
    vb_append(c->out, sval_span(*v));
    return WS_OK;
  }
  sm_span def = c->nargs == 2 ? c->args[1] : (sm_span){NULL, 0};
  rc = store(c, dict_st(c), c->args[0], def, c->nargs == 2 ? c->arg_flags[1] : 0);
  if (rc == WS_OK) vb_append(c->out, def);
  return rc;
}

/* update(map) */
static int d_update(call *c) {
  vinfo vi;
  call_arg(c, 0, &vi);
  if (vi.kind != VK_MAP)
    return call_fail(c, WS_TYPE_ERROR, "update needs a map, not %s", call_kind_name(vi.kind));
  return store_map(c, dict_st(c), vi.data, c->arg_flags[0]);
}

/* clear */
static int d_clear(call *c) {
  size_t pos = 0;
  sm_span k;
  void *v;
  while (htab_next(dict_of(c), &pos, &k, &v))
    wch_note(c->reg, c->obj, WCH_DEL, k, (sm_span){0});
  drop_all(c->reg, dict_st(c));
  return WS_OK;
}

/* copy -> map */
static int d_copy(call *c) {
  size_t pos = 0, m = vb_map_begin(c->out);
  sm_span k;
  void *v;
  while (htab_next(dict_of(c), &pos, &k, &v))
    vb_map_entry(c->out, k, sval_span(v));
  vb_map_end(c->out, m);
  return WS_OK;
}

/* set_if_absent(key, v) -> bool: true when v was stored */
static int d_set_if_absent(call *c) {
  int rc = key_args(c, 2, 2);
  if (rc != WS_OK) return rc;
  bool absent = htab_find(dict_of(c), c->args[0]) == NULL;
  if (absent && (rc = store(c, dict_st(c), c->args[0], c->args[1], c->arg_flags[1])) != WS_OK)
    return rc;
  vb_bool(c->out, absent);
  return WS_OK;
}

/* cas(key, desired) swaps when the key is absent; cas(key, expected,
 * desired) when the stored value equals expected. Answers [swapped] or
 * [swapped, previous], previous being there whenever the key existed. */
static int d_cas(call *c) {
  int rc = key_args(c, 2, 3);
  if (rc != WS_OK) return rc;
  htab *h = dict_of(c);
  size_t want = c->nargs - 1;
  void **cur = htab_find(h, c->args[0]);
  bool swap = c->nargs == 2 ? cur == NULL : cur && sval_equals(*cur, c->args[1]);
  size_t m = vb_list_begin(c->out), item = vb_list_begin_item(c->out);
  vb_bool(c->out, swap);
  vb_list_end_item(c->out, item);
  if (cur) vb_list_item(c->out, sval_span(*cur)); /* before store frees it */
  vb_list_end(c->out, m);
  return swap ? store(c, dict_st(c), c->args[0], c->args[want], c->arg_flags[want]) : WS_OK;
}

/* An empty dict (caller frees with dict_destroy), or NULL. */
static dict *dict_new(void) {
  dict *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  htab_init_values(&d->h);
  htab_init_values(&d->ttl);
  return d;
}

/* Creation: nothing, nil, or a map of initial entries. */
static int dict_create(call *c, void **state) {
  int rc = call_nargs(c, 0, 1);
  if (rc != WS_OK) return rc;
  vinfo vi = {.kind = VK_NIL};
  if (c->nargs == 1) call_arg(c, 0, &vi);
  if (vi.kind != VK_NIL && vi.kind != VK_MAP)
    return call_fail(c, WS_TYPE_ERROR, "a dict starts from a map, not %s", call_kind_name(vi.kind));
  dict *d = dict_new();
  if (!d) return call_fail(c, WS_INTERNAL, "out of memory");
  if (vi.kind == VK_MAP && (rc = store_map(c, d, vi.data, c->arg_flags[0])) != WS_OK) {
    drop_all(c->reg, d);
    free(d);
    return rc;
  }
  *state = d;
  return WS_OK;
}

static void dict_destroy(registry *reg, void *state) {
  if (!state) return;
  drop_all(reg, state);
  free(state);
}

static size_t dict_size(const void *state) { return htab_len(&((const dict *)state)->h); }

/* Each key that is a ref, and each value's refs (cycles.h). */
static void dict_traverse(const void *state, ref_visit_fn visit, void *ctx) {
  size_t pos = 0;
  sm_span k;
  void *v;
  while (htab_next(&((const dict *)state)->h, &pos, &k, &v)) {
    uint64_t id = reg_ref_id(k);
    if (id) visit(ctx, id);
    sval_traverse(v, visit, ctx);
  }
}

/* The tables, their keys and the TTLs; the values count themselves. */
static size_t dict_mem(const void *state) {
  const dict *d = state;
  return htab_memory(&d->h) + htab_memory(&d->ttl) + dlh_memory(&d->heap) + d->ttl_mem;
}

/* The earliest deadline of a key, 0 when none has a TTL. */
static int64_t dict_next_deadline(const void *state) {
  const dl_node *top = dlh_top(&((const dict *)state)->heap);
  return top ? top->at : 0;
}

/* Up to max keys due at now_ms, as list items of out: a walk of the heap
 * that goes below a node only when it is due, so it looks at the due keys
 * and their children, not at every key with a TTL. */
static size_t dict_due_keys(const void *state, int64_t now_ms, size_t max, vbuf *out) {
  const dl_heap *hp = &((const dict *)state)->heap;
  size_t n = 0, depth = 0, cap = 64;
  size_t *stack = malloc(cap * sizeof *stack);
  if (!stack) return 0;
  if (hp->n && hp->v[0]->at <= now_ms) stack[depth++] = 0;
  while (depth && n < max) {
    size_t i = stack[--depth];
    const dict_ttl *t = DL_OWNER(hp->v[i], dict_ttl, node);
    vb_list_item(out, (sm_span){t->key, t->klen});
    n++;
    for (size_t ch = 2 * i + 1; ch <= 2 * i + 2 && ch < hp->n; ch++) {
      if (hp->v[ch]->at > now_ms) continue;
      if (depth == cap) {
        size_t *p = realloc(stack, 2 * cap * sizeof *p);
        if (!p) break;
        stack = p;
        cap *= 2;
      }
      stack[depth++] = ch;
    }
  }
  free(stack);
  return n;
}

/* Saved as [entries: a map in insertion order], and with TTLs as
 * [entries, [key, deadline, ...]]. */
static int dict_save(const void *state, vbuf *out) {
  const dict *d = state;
  size_t pos = 0, m = vb_list_begin(out), item = vb_list_begin_item(out), mm = vb_map_begin(out);
  sm_span k;
  void *v;
  while (htab_next(&d->h, &pos, &k, &v))
    vb_map_entry(out, k, sval_span(v));
  vb_map_end(out, mm);
  vb_list_end_item(out, item);
  if (htab_len(&d->ttl)) {
    item = vb_list_begin_item(out);
    size_t tl = vb_list_begin(out);
    pos = 0;
    while (htab_next(&d->ttl, &pos, &k, &v)) {
      vb_list_item(out, k);
      saved_put_int(out, ((const dict_ttl *)v)->node.at);
    }
    vb_list_end(out, tl);
    vb_list_end_item(out, item);
  }
  vb_list_end(out, m);
  return saved_status(out);
}

/* Key refs are not counted again (object.h): the entries go straight into
 * the table. */
static int dict_load(registry *reg, const obj_type *t, sm_span saved, void **state, char *err,
                     size_t errlen) {
  (void)t;
  vinfo f[2] = {0};
  int rc = saved_fields(saved, "m", f, NULL, "dict", err, errlen);
  if (rc != WS_OK && (rc = saved_fields(saved, "ml", f, NULL, "dict", err, errlen)) != WS_OK)
    return rc;
  dict *d = dict_new();
  if (!d) return snprintf(err, errlen, "out of memory"), WS_INTERNAL;
  htab *h = &d->h;
  vw_iter it;
  sm_span k, v;
  vw_iter_init(&it, f[0].data);
  while (rc == WS_OK && vw_map_next(&it, &k, &v)) {
    sval *sv = sval_restore(reg, v);
    int put = sv ? htab_put(h, k, sv, NULL) : -1;
    if (put != 1) {
      sval_free(reg, sv);
      rc = put < 0 ? WS_INTERNAL : WS_VALUE_ERROR;
      snprintf(err, errlen, put < 0 ? "out of memory" : "a saved dict has a key twice");
    }
  }
  if (f[1].kind == VK_LIST) { /* the TTLs: [key, deadline, ...] */
    vw_iter_init(&it, f[1].data);
    while (rc == WS_OK && vw_list_next(&it, &k)) {
      vinfo at;
      if (!vw_list_next(&it, &v) || vw_peek(v, &at) != VW_OK || at.kind != VK_INT || at.i <= 0 ||
          !htab_find(h, k)) {
        rc = WS_VALUE_ERROR;
        snprintf(err, errlen, "a saved dict has a TTL that is not [key, deadline] of its keys");
      } else if (ttl_set(d, k, at.i) != WS_OK) {
        rc = WS_INTERNAL;
        snprintf(err, errlen, "out of memory");
      }
    }
  }
  if (rc != WS_OK) {
    dict_destroy(reg, d);
    return rc;
  }
  *state = d;
  return WS_OK;
}

static const method_def dict_methods[] = {
    {"get", d_get, ARGS(1, 2)},
    {"set", d_set, METHOD_MUTATES | METHOD_GROWS | ARGS(2, 3)},
    {"del", d_del, METHOD_MUTATES | ARGS(1, 1)},
    {"contains", d_contains, ARGS(1, 1)},
    {"len", d_len, ARGS(0, 0)},
    {"keys", d_keys, ARGS(0, 0)},
    {"values", d_values, ARGS(0, 0)},
    {"items", d_items, ARGS(0, 0)},
    {"scan", d_scan, ARGS(1, 2)},
    {"pop", d_pop, METHOD_MUTATES | ARGS(1, 2)},
    {"popitem", d_popitem, METHOD_MUTATES | ARGS(0, 0)},
    {"setdefault", d_setdefault, METHOD_MUTATES | METHOD_GROWS | ARGS(1, 2)},
    {"update", d_update, METHOD_MUTATES | METHOD_GROWS | ARGS(1, 1)},
    {"clear", d_clear, METHOD_MUTATES | ARGS(0, 0)},
    {"copy", d_copy, ARGS(0, 0)},
    {"set_if_absent", d_set_if_absent, METHOD_MUTATES | METHOD_GROWS | ARGS(2, 2)},
    {"cas", d_cas, METHOD_MUTATES | METHOD_GROWS | ARGS(2, 3)},
    {"set_ttl", d_set_ttl, METHOD_MUTATES},
    {"ttl", d_ttl, 0},
    {"persist", d_persist, METHOD_MUTATES},
    {"_expire", d_expire, METHOD_MUTATES | METHOD_INTERNAL},
    {"rev", wch_m_rev, 0},
    {"watch", wch_m_watch, 0},
    {"_track", wch_m_track, METHOD_INTERNAL},
};

const obj_type t_dict_type = {
    .name = "dict",
    .create = dict_create,
    .destroy = dict_destroy,
    .size = dict_size,
    .mem_size = dict_mem,
    .traverse = dict_traverse,
    .serve = wch_serve,
    .save = dict_save,
    .load = dict_load,
    .next_deadline = dict_next_deadline,
    .due_keys = dict_due_keys,
    .methods = dict_methods,
    .n_methods = sizeof dict_methods / sizeof dict_methods[0],
};
