/* SPDX-License-Identifier: MIT */
/* t_value.c - the "value" type: one shared value (Python's Manager.Value)
 * with an atomic add-and-get, so counters need no lock
 * (docs/protocol.md lists the methods). The state holds one sval; nil is
 * the empty value. */
#include "memory.h"
#include "saved.h"
#include "sval.h"
#include "types.h"
#include "watch.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct value {
  sval *v; /* owned, never NULL */
} value;

static value *value_of(call *c) { return c->obj->state; }

static int oom(call *c) { return call_fail(c, WS_INTERNAL, "out of memory"); }

/* Replaces the stored value with packed (copied). */
static int replace(call *c, value *st, sm_span packed, unsigned flags) {
  sval *v = sval_new(c->reg, packed, flags);
  if (!v) return oom(c);
  sval *old = st->v;
  st->v = v;
  sval_free(c->reg, old);
  if (c->obj) wch_note(c->reg, c->obj, WCH_SET, (sm_span){0}, packed); /* not while creating */
  return WS_OK;
}

/* get */
static int v_get(call *c) {
  vb_append(c->out, sval_span(value_of(c)->v));
  return WS_OK;
}

/* set(v) */
static int v_set(call *c) { return replace(c, value_of(c), c->args[0], c->arg_flags[0]); }

/* add(delta) -> the new value. int + int stays int (overflow is refused),
 * anything with a double is a double, and a nil value counts as int 0. */
static int v_add(call *c) {
  value *st = value_of(c);
  vinfo cur, d;
  call_arg(c, 0, &d);
  vw_peek(sval_span(st->v), &cur);
  if (d.kind != VK_INT && d.kind != VK_DOUBLE)
    return call_fail(c, WS_TYPE_ERROR, "add needs an int or double, not %s",
                     call_kind_name(d.kind));
  if (cur.kind == VK_NIL) cur = (vinfo){.kind = VK_INT, .i = 0};
  if (cur.kind != VK_INT && cur.kind != VK_DOUBLE)
    return call_fail(c, WS_TYPE_ERROR, "cannot add to a value of kind %s",
                     call_kind_name(cur.kind));
  size_t mark = c->out->len;
  if (cur.kind == VK_INT && d.kind == VK_INT) {
    int64_t sum;
    if (__builtin_add_overflow(cur.i, d.i, &sum))
      return call_fail(c, WS_VALUE_ERROR, "integer overflow in add");
    vb_int(c->out, sum);
  } else {
    double x = cur.kind == VK_INT ? (double)cur.i : cur.d;
    double y = d.kind == VK_INT ? (double)d.i : d.d;
    vb_double(c->out, x + y);
  }
  if (c->out->failed) return oom(c);
  /* The answer is the new value: store the very bytes just written. */
  return replace(c, st, (sm_span){c->out->p + mark, c->out->len - mark}, 0);
}

/* Creation: nothing (nil) or the initial value. */
static int value_create(call *c, void **state) {
  int rc = call_nargs(c, 0, 1);
  if (rc != WS_OK) return rc;
  value *st = malloc(sizeof *st);
  sm_span init = c->nargs == 1 ? c->args[0] : (sm_span){NULL, 0};
  if (!st || !(st->v = sval_new(c->reg, init, c->nargs == 1 ? c->arg_flags[0] : 0))) {
    free(st);
    return oom(c);
  }
  *state = st;
  return WS_OK;
}

static void value_destroy(registry *reg, void *state) {
  value *st = state;
  if (!st) return;
  sval_free(reg, st->v);
  free(st);
}

/* The value's refs (cycles.h). */
static void value_traverse(const void *state, ref_visit_fn visit, void *ctx) {
  sval_traverse(((const value *)state)->v, visit, ctx);
}

/* The struct; the value counts itself. */
static size_t value_mem(const void *state) {
  (void)state;
  return mem_chunk(sizeof(value));
}

/* Saved as [value]. */
static int value_save(const void *state, vbuf *out) {
  size_t m = vb_list_begin(out);
  vb_list_item(out, sval_span(((const value *)state)->v));
  vb_list_end(out, m);
  return saved_status(out);
}

static int value_load(registry *reg, const obj_type *t, sm_span saved, void **state, char *err,
                      size_t errlen) {
  (void)t;
  vinfo f[1];
  sm_span raw[1];
  int rc = saved_fields(saved, "*", f, raw, "value", err, errlen);
  if (rc != WS_OK) return rc;
  value *st = malloc(sizeof *st);
  if (!st || !(st->v = sval_restore(reg, raw[0]))) {
    free(st);
    snprintf(err, errlen, "out of memory");
    return WS_INTERNAL;
  }
  *state = st;
  return WS_OK;
}

/* add replaces a number with a number: it never grows the data. */
static const method_def value_methods[] = {
    {"get", v_get, ARGS(0, 0)},
    {"set", v_set, METHOD_MUTATES | METHOD_GROWS | ARGS(1, 1)},
    {"add", v_add, METHOD_MUTATES | ARGS(1, 1)},
    {"rev", wch_m_rev, 0},
    {"watch", wch_m_watch, 0},
    {"_track", wch_m_track, METHOD_INTERNAL},
};

/* A value has no size: ls omits it. */
const obj_type t_value_type = {
    .name = "value",
    .create = value_create,
    .destroy = value_destroy,
    .size = NULL,
    .mem_size = value_mem,
    .traverse = value_traverse,
    .serve = wch_serve,
    .save = value_save,
    .load = value_load,
    .methods = value_methods,
    .n_methods = sizeof value_methods / sizeof value_methods[0],
};
