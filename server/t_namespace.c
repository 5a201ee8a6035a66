/* SPDX-License-Identifier: MIT */
/* t_namespace.c - the "namespace" type: Python's Manager.Namespace, named
 * attributes holding shared values (docs/protocol.md lists the methods).
 * The state is an htab from the attribute name's bytes to sval*. */
#include "htab.h"
#include "saved.h"
#include "scan.h"
#include "sval.h"
#include "types.h"
#include "watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static htab *ns_of(call *c) { return c->obj->state; }

static int oom(call *c) { return call_fail(c, WS_INTERNAL, "out of memory"); }

/* Argument i as an attribute name (the string's bytes, borrowed). */
static int attr_arg(call *c, size_t i, sm_span *name) {
  vinfo vi;
  call_arg(c, i, &vi);
  if (vi.kind != VK_STR)
    return call_fail(c, WS_TYPE_ERROR, "attribute names must be str, not %s",
                     call_kind_name(vi.kind));
  *name = vi.data;
  return WS_OK;
}

static int no_attr(call *c, sm_span name) {
  int n = name.n > 64 ? 64 : (int)name.n;
  return call_fail(c, WS_NOT_FOUND, "no attribute '%.*s'", n, (const char *)name.p);
}

/* Stores name -> packed value (copied), freeing a value it replaces. */
static int store(call *c, htab *h, sm_span name, sm_span packed, unsigned flags) {
  sval *v = sval_new(c->reg, packed, flags);
  void *old = NULL;
  if (!v || htab_put(h, name, v, &old) < 0) {
    sval_free(c->reg, v);
    return oom(c);
  }
  sval_free(c->reg, old);
  return WS_OK;
}

static void free_val(void *reg, void *v) { sval_free(reg, v); }

/* get(attr) */
static int n_get(call *c) {
  sm_span name;
  int rc = attr_arg(c, 0, &name);
  if (rc != WS_OK) return rc;
  void **v = htab_find(ns_of(c), name);
  if (!v) return no_attr(c, name);
  vb_append(c->out, sval_span(*v));
  return WS_OK;
}

/* set(attr, v) */
static int n_set(call *c) {
  sm_span name;
  int rc = attr_arg(c, 0, &name);
  if (rc == WS_OK) rc = store(c, ns_of(c), name, c->args[1], c->arg_flags[1]);
  if (rc == WS_OK) wch_note(c->reg, c->obj, WCH_SET, c->args[0], c->args[1]);
  return rc;
}

/* del(attr) */
static int n_del(call *c) {
  sm_span name;
  void *v;
  int rc = attr_arg(c, 0, &name);
  if (rc != WS_OK) return rc;
  if (!htab_remove(ns_of(c), name, &v)) return no_attr(c, name);
  wch_note(c->reg, c->obj, WCH_DEL, c->args[0], (sm_span){0});
  sval_free(c->reg, v);
  return WS_OK;
}

static int cmp_names(const void *a, const void *b) {
  const sm_span *x = a, *y = b;
  size_t n = x->n < y->n ? x->n : y->n;
  int r = n ? memcmp(x->p, y->p, n) : 0;
  return r ? r : (x->n > y->n) - (x->n < y->n);
}

/* list -> the attribute names, sorted bytewise. */
static int n_list(call *c) {
  htab *h = ns_of(c);
  size_t n = htab_len(h), pos = 0, i = 0;
  sm_span *names = malloc((n ? n : 1) * sizeof *names);
  if (!names) return oom(c);
  while (htab_next(h, &pos, &names[i], NULL))
    i++;
  qsort(names, n, sizeof *names, cmp_names);
  size_t m = vb_list_begin(c->out);
  for (i = 0; i < n; i++) {
    size_t item = vb_list_begin_item(c->out);
    vb_str(c->out, names[i].p, names[i].n);
    vb_list_end_item(c->out, item);
  }
  vb_list_end(c->out, m);
  free(names);
  return WS_OK;
}

/* One scanned attribute: [name as a str, value]. */
static void scan_item(vbuf *out, sm_span name, sm_span val) {
  size_t item = vb_list_begin_item(out), pair = vb_list_begin(out);
  size_t el = vb_list_begin_item(out);
  vb_str(out, name.p, name.n);
  vb_list_end_item(out, el);
  vb_list_item(out, val);
  vb_list_end(out, pair);
  vb_list_end_item(out, item);
}

/* scan(cursor[, count]) -> [next, [[name, value]...]]: a page of the
 * attributes in the order they were first set (not sorted, unlike list);
 * the cursor names insertion numbers (scan.h), so other changes never make
 * it skip or repeat an attribute that stays. */
static int n_scan(call *c) { return scan_table(c, ns_of(c), scan_item); }

/* len -> int */
static int n_len(call *c) {
  vb_int(c->out, (int64_t)htab_len(ns_of(c)));
  return WS_OK;
}

/* Creation: nothing, nil, or a map from str names to initial values. */
static int ns_create(call *c, void **state) {
  int rc = call_nargs(c, 0, 1);
  if (rc != WS_OK) return rc;
  vinfo vi = {.kind = VK_NIL};
  if (c->nargs == 1) call_arg(c, 0, &vi);
  if (vi.kind != VK_NIL && vi.kind != VK_MAP)
    return call_fail(c, WS_TYPE_ERROR, "a namespace starts from a map, not %s",
                     call_kind_name(vi.kind));
  htab *h = malloc(sizeof *h);
  if (!h) return oom(c);
  htab_init(h);
  vw_iter it;
  sm_span k, v;
  vw_iter_init(&it, vi.data);
  while (rc == WS_OK && vi.kind == VK_MAP && vw_map_next(&it, &k, &v)) {
    vinfo ki;
    vw_peek(k, &ki);
    if (ki.kind != VK_STR)
      rc = call_fail(c, WS_TYPE_ERROR, "attribute names must be str, not %s",
                     call_kind_name(ki.kind));
    else
      rc = store(c, h, ki.data, v, c->arg_flags[0]);
  }
  if (rc != WS_OK) {
    htab_clear(h, free_val, c->reg);
    free(h);
    return rc;
  }
  *state = h;
  return WS_OK;
}

static void ns_destroy(registry *reg, void *state) {
  if (!state) return;
  htab_clear(state, free_val, reg);
  free(state);
}

static size_t ns_size(const void *state) { return htab_len(state); }

/* Each value's refs (cycles.h). */
static void ns_traverse(const void *state, ref_visit_fn visit, void *ctx) {
  size_t pos = 0;
  void *v;
  while (htab_next(state, &pos, NULL, &v))
    sval_traverse(v, visit, ctx);
}

/* The table and its names; the values count themselves. */
static size_t ns_mem(const void *state) { return htab_memory(state); }

/* Saved as [attributes: a map from str names, in the order first set]. */
static int ns_save(const void *state, vbuf *out) {
  size_t pos = 0, m = vb_list_begin(out), item = vb_list_begin_item(out), mm = vb_map_begin(out);
  vbuf name;
  sm_span k;
  void *v;
  vb_init(&name);
  while (htab_next(state, &pos, &k, &v)) {
    vb_reset(&name);
    vb_str(&name, k.p, k.n);
    vb_map_entry(out, vb_span(&name), sval_span(v));
  }
  out->failed |= name.failed;
  vb_free(&name);
  vb_map_end(out, mm);
  vb_list_end_item(out, item);
  vb_list_end(out, m);
  return saved_status(out);
}

static int ns_load(registry *reg, const obj_type *t, sm_span saved, void **state, char *err,
                   size_t errlen) {
  (void)t;
  vinfo f[1];
  int rc = saved_fields(saved, "m", f, NULL, "namespace", err, errlen);
  if (rc != WS_OK) return rc;
  htab *h = malloc(sizeof *h);
  if (!h) return snprintf(err, errlen, "out of memory"), WS_INTERNAL;
  htab_init(h);
  vw_iter it;
  sm_span k, v;
  vw_iter_init(&it, f[0].data);
  while (rc == WS_OK && vw_map_next(&it, &k, &v)) {
    vinfo ki;
    vw_peek(k, &ki);
    sval *sv = ki.kind == VK_STR ? sval_restore(reg, v) : NULL;
    int put = sv ? htab_put(h, ki.data, sv, NULL) : -1;
    if (put != 1) {
      sval_free(reg, sv);
      rc = ki.kind != VK_STR || put == 0 ? WS_VALUE_ERROR : WS_INTERNAL;
      snprintf(err, errlen, "%s",
               ki.kind != VK_STR ? "a saved namespace has a name that is not a str"
               : put == 0        ? "a saved namespace has a name twice"
                                 : "out of memory");
    }
  }
  if (rc != WS_OK) {
    ns_destroy(reg, h);
    return rc;
  }
  *state = h;
  return WS_OK;
}

static const method_def ns_methods[] = {
    {"get", n_get, ARGS(1, 1)},
    {"set", n_set, METHOD_MUTATES | METHOD_GROWS | ARGS(2, 2)},
    {"del", n_del, METHOD_MUTATES | ARGS(1, 1)},
    {"list", n_list, ARGS(0, 0)},
    {"scan", n_scan, ARGS(1, 2)},
    {"len", n_len, ARGS(0, 0)},
    {"rev", wch_m_rev, 0},
    {"watch", wch_m_watch, 0},
    {"_track", wch_m_track, METHOD_INTERNAL},
};

const obj_type t_namespace_type = {
    .name = "namespace",
    .create = ns_create,
    .destroy = ns_destroy,
    .size = ns_size,
    .mem_size = ns_mem,
    .traverse = ns_traverse,
    .serve = wch_serve,
    .save = ns_save,
    .load = ns_load,
    .methods = ns_methods,
    .n_methods = sizeof ns_methods / sizeof ns_methods[0],
};
