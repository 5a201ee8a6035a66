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
 * reference (which may destroy other objects) never sees a half-done table. */
#include "registry.h"
#include "saved.h"
#include "scan.h"
#include "sval.h"
#include "types.h"
#include "htab.h"
#include "memory.h"

#include <stdio.h>
#include <stdlib.h>

static htab *dict_of(call *c) { return c->obj->state; }

/* The object id when key is a ref, else 0 (no object has id 0). */
static uint64_t key_ref_id(sm_span key) {
  vinfo vi;
  return vw_peek(key, &vi) == VW_OK && vi.kind == VK_REF ? vi.ref_id : 0;
}

static void key_ref(registry *reg, uint64_t id, bool hold) {
  if (id == 0) return;
  sm_obj *o = reg_get(reg, id);
  if (hold)
    reg_incref(reg, o);
  else
    reg_decref(reg, o);
}

/* Stores key -> packed value (copied). Returns WS_OK or WS_INTERNAL. */
static int store(call *c, htab *h, sm_span key, sm_span packed, unsigned flags) {
  sval *nv = sval_new(c->reg, packed, flags);
  void *old = NULL;
  int rc = nv ? htab_put(h, key, nv, &old) : -1;
  if (rc < 0) {
    sval_free(c->reg, nv);
    return call_fail(c, WS_INTERNAL, "out of memory");
  }
  if (rc == 1)
    key_ref(c->reg, key_ref_id(key), true);
  else
    sval_free(c->reg, old);
  return WS_OK;
}

/* Stores every entry of a scanned map body (later duplicates win). */
static int store_map(call *c, htab *h, sm_span body, unsigned flags) {
  vw_iter it;
  sm_span k, v;
  vw_iter_init(&it, body);
  while (vw_map_next(&it, &k, &v)) {
    int rc = store(c, h, k, v, flags);
    if (rc != WS_OK) return rc;
  }
  return WS_OK;
}

/* Empties h, then releases every key ref and value it held. */
static void drop_all(registry *reg, htab *h) {
  htab old = *h;
  size_t pos = 0;
  sm_span k;
  void *v;
  htab_init_values(h);
  h->next_seq = old.next_seq; /* insertion numbers never go back (scan cursors) */
  while (htab_next(&old, &pos, &k, &v)) {
    key_ref(reg, key_ref_id(k), false);
    sval_free(reg, v);
  }
  htab_clear(&old, NULL, NULL);
}

/* Removes key when present; *val receives its value, which the caller frees
 * with sval_free() after answering. */
static bool take(call *c, sm_span key, sval **val) {
  void *v;
  if (!htab_remove(dict_of(c), key, &v)) return false;
  key_ref(c->reg, key_ref_id(key), false);
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

/* set(key, v) */
static int d_set(call *c) {
  int rc = key_args(c, 2, 2);
  return rc == WS_OK ? store(c, dict_of(c), c->args[0], c->args[1], c->arg_flags[1]) : rc;
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
  uint64_t ref = key_ref_id(k);
  htab_remove(h, k, NULL); /* k is the table's own copy: not used after this */
  key_ref(c->reg, ref, false);
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
  rc = store(c, dict_of(c), c->args[0], def, c->nargs == 2 ? c->arg_flags[1] : 0);
  if (rc == WS_OK) vb_append(c->out, def);
  return rc;
}

/* update(map) */
static int d_update(call *c) {
  vinfo vi;
  call_arg(c, 0, &vi);
  if (vi.kind != VK_MAP)
    return call_fail(c, WS_TYPE_ERROR, "update needs a map, not %s", call_kind_name(vi.kind));
  return store_map(c, dict_of(c), vi.data, c->arg_flags[0]);
}

/* clear */
static int d_clear(call *c) {
  drop_all(c->reg, dict_of(c));
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
  if (absent && (rc = store(c, dict_of(c), c->args[0], c->args[1], c->arg_flags[1])) != WS_OK)
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
  return swap ? store(c, h, c->args[0], c->args[want], c->arg_flags[want]) : WS_OK;
}

/* Creation: nothing, nil, or a map of initial entries. */
static int dict_create(call *c, void **state) {
  int rc = call_nargs(c, 0, 1);
  if (rc != WS_OK) return rc;
  vinfo vi = {.kind = VK_NIL};
  if (c->nargs == 1) call_arg(c, 0, &vi);
  if (vi.kind != VK_NIL && vi.kind != VK_MAP)
    return call_fail(c, WS_TYPE_ERROR, "a dict starts from a map, not %s", call_kind_name(vi.kind));
  htab *h = malloc(sizeof *h);
  if (!h) return call_fail(c, WS_INTERNAL, "out of memory");
  htab_init_values(h);
  if (vi.kind == VK_MAP && (rc = store_map(c, h, vi.data, c->arg_flags[0])) != WS_OK) {
    drop_all(c->reg, h);
    free(h);
    return rc;
  }
  *state = h;
  return WS_OK;
}

static void dict_destroy(registry *reg, void *state) {
  if (!state) return;
  drop_all(reg, state);
  free(state);
}

static size_t dict_size(const void *state) { return htab_len(state); }

/* Each key that is a ref, and each value's refs (cycles.h). */
static void dict_traverse(const void *state, ref_visit_fn visit, void *ctx) {
  size_t pos = 0;
  sm_span k;
  void *v;
  while (htab_next(state, &pos, &k, &v)) {
    uint64_t id = key_ref_id(k);
    if (id) visit(ctx, id);
    sval_traverse(v, visit, ctx);
  }
}

/* The table and its keys; the values count themselves. */
static size_t dict_mem(const void *state) { return htab_memory(state); }

/* Saved as [entries: a map in insertion order]. */
static int dict_save(const void *state, vbuf *out) {
  size_t pos = 0, m = vb_list_begin(out), item = vb_list_begin_item(out), mm = vb_map_begin(out);
  sm_span k;
  void *v;
  while (htab_next(state, &pos, &k, &v))
    vb_map_entry(out, k, sval_span(v));
  vb_map_end(out, mm);
  vb_list_end_item(out, item);
  vb_list_end(out, m);
  return saved_status(out);
}

/* Key refs are not counted again (object.h): the entries go straight into
 * the table. */
static int dict_load(registry *reg, const obj_type *t, sm_span saved, void **state, char *err,
                     size_t errlen) {
  (void)t;
  vinfo f[1];
  int rc = saved_fields(saved, "m", f, NULL, "dict", err, errlen);
  if (rc != WS_OK) return rc;
  htab *h = malloc(sizeof *h);
  if (!h) return snprintf(err, errlen, "out of memory"), WS_INTERNAL;
  htab_init_values(h);
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
  if (rc != WS_OK) {
    dict_destroy(reg, h);
    return rc;
  }
  *state = h;
  return WS_OK;
}

static const method_def dict_methods[] = {
    {"get", d_get, ARGS(1, 2)},
    {"set", d_set, METHOD_MUTATES | METHOD_GROWS | ARGS(2, 2)},
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
};

const obj_type t_dict_type = {
    .name = "dict",
    .create = dict_create,
    .destroy = dict_destroy,
    .size = dict_size,
    .mem_size = dict_mem,
    .traverse = dict_traverse,
    .save = dict_save,
    .load = dict_load,
    .methods = dict_methods,
    .n_methods = sizeof dict_methods / sizeof dict_methods[0],
};
