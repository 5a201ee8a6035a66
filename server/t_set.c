/* SPDX-License-Identifier: MIT */
/* t_set.c - the "set" type: Python's set over shared values, as the set
 * that Python 3.14's SyncManager serves (docs/protocol.md lists the
 * methods).
 *
 * The state is an htab keyed by packed values (htab_init_values) with no
 * values, so elements compare and hash as dict keys do (proto/vequal.h):
 * 1, 1.0 and True are one element, which keeps the first form stored.
 * Elements keep insertion order, so iteration, pop (the newest element)
 * and every result are the same on every daemon that applies the same
 * calls. An element that is a ref holds a reference on its object for as
 * long as it is in the set, as a dict key does.
 *
 * The other operand of union, update, issubset... is an argument: a list
 * (its items) or a map (its keys, as Python iterates a dict). Every
 * operand is checked before anything changes, so a call with one bad
 * element changes nothing. Results are lists in a fixed order: this set's
 * elements first, in insertion order, then the operands' new ones in
 * argument order. */
#include "htab.h"
#include "registry.h"
#include "saved.h"
#include "scan.h"
#include "types.h"

#include <stdio.h>
#include <stdlib.h>

static htab *set_of(call *c) { return c->obj->state; }

/* Adds elem when absent (taking its reference). Returns WS_OK or
 * WS_INTERNAL. */
static int add_elem(call *c, htab *h, sm_span elem) {
  int rc = htab_put(h, elem, NULL, NULL);
  if (rc < 0) return call_fail(c, WS_INTERNAL, "out of memory");
  if (rc == 1) reg_ref_hold(c->reg, reg_ref_id(elem), true);
  return WS_OK;
}

/* Removes elem when present, then gives its reference back; true when it
 * was there. The table is whole before the reference goes, since dropping
 * it may destroy other objects. */
static bool drop_elem(registry *reg, htab *h, sm_span elem) {
  uint64_t id = reg_ref_id(elem); /* read before elem may be the table's freed copy */
  if (!htab_remove(h, elem, NULL)) return false;
  if (id) reg_decref(reg, reg_get(reg, id));
  return true;
}

/* Empties h, then gives back every reference its elements held. */
static void drop_all(registry *reg, htab *h) {
  htab old = *h;
  size_t pos = 0;
  sm_span k;
  htab_init_values(h);
  h->next_seq = old.next_seq; /* insertion numbers never go back (scan cursors) */
  while (htab_next(&old, &pos, &k, NULL))
    reg_ref_hold(reg, reg_ref_id(k), false);
  htab_clear(&old, NULL, NULL);
}

/* ---- operands: a list's items or a map's keys ---- */

typedef struct operand {
  vw_iter it;
  bool is_map;
} operand;

static void operand_open(const call *c, size_t i, operand *op) {
  vinfo vi;
  call_arg(c, i, &vi);
  op->is_map = vi.kind == VK_MAP;
  vw_iter_init(&op->it, vi.data);
}

static bool operand_next(operand *op, sm_span *elem) {
  sm_span val;
  return op->is_map ? vw_map_next(&op->it, elem, &val) : vw_list_next(&op->it, elem);
}

/* Checks argument i is an operand whose elements are all hashable. */
static int check_operand(call *c, size_t i) {
  vinfo vi;
  call_arg(c, i, &vi);
  if (vi.kind != VK_LIST && vi.kind != VK_MAP)
    return call_fail(c, WS_TYPE_ERROR, "%s needs a list or a map of elements, not %s",
                     c->method ? c->method->name : "a set", call_kind_name(vi.kind));
  operand op;
  operand_open(c, i, &op);
  sm_span e;
  while (operand_next(&op, &e)) {
    vinfo ei;
    if (vw_peek(e, &ei) == VW_OK && (ei.kind == VK_LIST || ei.kind == VK_MAP))
      return call_fail(c, WS_TYPE_ERROR, "unhashable element of kind %s", call_kind_name(ei.kind));
  }
  return WS_OK;
}

/* Checks the count of operands (arguments from 0) and every operand. */
static int operand_args(call *c, size_t min, size_t max) {
  int rc = call_nargs(c, min, max);
  for (size_t i = 0; rc == WS_OK && i < c->nargs; i++)
    rc = check_operand(c, i);
  return rc;
}

/* Fills the empty table t with the distinct elements of operand i, in
 * order (no references taken: t is scratch). Returns WS_OK or
 * WS_INTERNAL; the caller clears t either way. */
static int operand_table(call *c, size_t i, htab *t) {
  operand op;
  sm_span e;
  operand_open(c, i, &op);
  while (operand_next(&op, &e))
    if (htab_put(t, e, NULL, NULL) < 0) return call_fail(c, WS_INTERNAL, "out of memory");
  return WS_OK;
}

/* Checks the argument count and that argument 0 is a hashable element. */
static int elem_args(call *c) {
  int rc = call_nargs(c, 1, 1);
  return rc == WS_OK ? call_arg_key(c, 0) : rc;
}

/* Writes the elements of h, in insertion order, as list items of out. */
static void write_elems(vbuf *out, const htab *h) {
  size_t pos = 0;
  sm_span k;
  while (htab_next(h, &pos, &k, NULL))
    vb_list_item(out, k);
}

/* ---- single elements ---- */

/* add(x) */
static int s_add(call *c) {
  int rc = elem_args(c);
  return rc == WS_OK ? add_elem(c, set_of(c), c->args[0]) : rc;
}

/* discard(x): no error when absent. */
static int s_discard(call *c) {
  int rc = elem_args(c);
  if (rc == WS_OK) drop_elem(c->reg, set_of(c), c->args[0]);
  return rc;
}

/* remove(x): NOT_FOUND when absent, as Python's KeyError. */
static int s_remove(call *c) {
  int rc = elem_args(c);
  if (rc == WS_OK && !drop_elem(c->reg, set_of(c), c->args[0]))
    return call_fail(c, WS_NOT_FOUND, "element not found");
  return rc;
}

/* contains(x) -> bool */
static int s_contains(call *c) {
  int rc = elem_args(c);
  if (rc == WS_OK) vb_bool(c->out, htab_find(set_of(c), c->args[0]) != NULL);
  return rc;
}

/* len -> int */
static int s_len(call *c) {
  int rc = call_nargs(c, 0, 0);
  if (rc == WS_OK) vb_int(c->out, (int64_t)htab_len(set_of(c)));
  return rc;
}

/* pop -> the most recently added element (Python's is arbitrary; this one
 * is the same on every replay). EMPTY when empty, as Python's KeyError. */
static int s_pop(call *c) {
  int rc = call_nargs(c, 0, 0);
  if (rc != WS_OK) return rc;
  htab *h = set_of(c);
  sm_span k;
  if (!htab_last(h, &k, NULL)) return call_fail(c, WS_EMPTY, "pop from an empty set");
  vb_append(c->out, k);
  drop_elem(c->reg, h, k);
  return WS_OK;
}

/* clear */
static int s_clear(call *c) {
  int rc = call_nargs(c, 0, 0);
  if (rc == WS_OK) drop_all(c->reg, set_of(c));
  return rc;
}

/* copy -> list of the elements in insertion order */
static int s_copy(call *c) {
  int rc = call_nargs(c, 0, 0);
  if (rc != WS_OK) return rc;
  size_t m = vb_list_begin(c->out);
  write_elems(c->out, set_of(c));
  vb_list_end(c->out, m);
  return WS_OK;
}

/* One scanned element, as it is stored. */
static void scan_elem(vbuf *out, sm_span elem, sm_span unused) {
  (void)unused;
  vb_list_item(out, elem);
}

/* scan(cursor[, count]) -> [next, [elements...]]: a page in insertion
 * order, with dict's cursor (scan.h): elements there for the whole scan
 * come exactly once. */
static int s_scan(call *c) { return scan_table(c, set_of(c), scan_elem); }

/* ---- results as values ---- */

/* union(*others) -> list */
static int s_union(call *c) {
  int rc = operand_args(c, 0, SIZE_MAX);
  if (rc != WS_OK) return rc;
  htab *h = set_of(c), seen;
  htab_init_values(&seen);
  size_t m = vb_list_begin(c->out);
  write_elems(c->out, h);
  for (size_t i = 0; rc == WS_OK && i < c->nargs; i++) {
    operand op;
    sm_span e;
    operand_open(c, i, &op);
    while (rc == WS_OK && operand_next(&op, &e)) {
      if (htab_find(h, e)) continue;
      int put = htab_put(&seen, e, NULL, NULL);
      if (put < 0)
        rc = call_fail(c, WS_INTERNAL, "out of memory");
      else if (put == 1)
        vb_list_item(c->out, e);
    }
  }
  vb_list_end(c->out, m);
  htab_clear(&seen, NULL, NULL);
  return rc;
}

/* The distinct elements of operands from..nargs-1 in one scratch table per
 * operand (*tabs, n of them: the caller frees with free_tables), or in one
 * table for all when merge. Returns WS_OK or WS_INTERNAL. */
static int operand_tables(call *c, size_t from, bool merge, htab **tabs, size_t *n) {
  size_t k = c->nargs - from;
  *n = merge ? 1 : k;
  *tabs = calloc(*n ? *n : 1, sizeof **tabs);
  if (!*tabs) return *n = 0, call_fail(c, WS_INTERNAL, "out of memory");
  for (size_t t = 0; t < *n; t++)
    htab_init_values(&(*tabs)[t]);
  int rc = WS_OK;
  for (size_t i = 0; rc == WS_OK && i < k; i++)
    rc = operand_table(c, from + i, &(*tabs)[merge ? 0 : i]);
  return rc;
}

static void free_tables(htab *tabs, size_t n) {
  for (size_t t = 0; t < n; t++)
    htab_clear(&tabs[t], NULL, NULL);
  free(tabs);
}

/* True when elem is in every table (true for none). */
static bool in_all(const htab *tabs, size_t n, sm_span elem) {
  for (size_t t = 0; t < n; t++)
    if (!htab_find(&tabs[t], elem)) return false;
  return true;
}

/* Writes to out the elements of h that are in every table (keep) or in
 * none of them (!keep, with one merged table). */
static void write_filtered(vbuf *out, const htab *h, const htab *tabs, size_t n, bool keep) {
  size_t pos = 0, m = vb_list_begin(out);
  sm_span k;
  while (htab_next(h, &pos, &k, NULL))
    if (in_all(tabs, n, k) == keep) vb_list_item(out, k);
  vb_list_end(out, m);
}

/* intersection(*others) -> list, in this set's order */
static int s_intersection(call *c) {
  int rc = operand_args(c, 0, SIZE_MAX);
  htab *tabs = NULL;
  size_t n = 0;
  if (rc == WS_OK) rc = operand_tables(c, 0, false, &tabs, &n);
  if (rc == WS_OK) write_filtered(c->out, set_of(c), tabs, n, true);
  free_tables(tabs, n);
  return rc;
}

/* difference(*others) -> list, in this set's order */
static int s_difference(call *c) {
  int rc = operand_args(c, 0, SIZE_MAX);
  htab *tabs = NULL;
  size_t n = 0;
  if (rc == WS_OK) rc = operand_tables(c, 0, true, &tabs, &n);
  if (rc == WS_OK) write_filtered(c->out, set_of(c), tabs, n, false);
  free_tables(tabs, n);
  return rc;
}

/* symmetric_difference(other) -> list: this set's elements not in other,
 * then other's not in this set. */
static int s_symmetric_difference(call *c) {
  int rc = operand_args(c, 1, 1);
  htab *tabs = NULL;
  size_t n = 0;
  if (rc == WS_OK) rc = operand_tables(c, 0, true, &tabs, &n);
  if (rc == WS_OK) {
    htab *h = set_of(c);
    size_t pos = 0, m = vb_list_begin(c->out);
    sm_span k;
    while (htab_next(h, &pos, &k, NULL))
      if (!htab_find(&tabs[0], k)) vb_list_item(c->out, k);
    pos = 0;
    while (htab_next(&tabs[0], &pos, &k, NULL))
      if (!htab_find(h, k)) vb_list_item(c->out, k);
    vb_list_end(c->out, m);
  }
  free_tables(tabs, n);
  return rc;
}

/* ---- in place ---- */

/* update(*others) */
static int s_update(call *c) {
  int rc = operand_args(c, 0, SIZE_MAX);
  for (size_t i = 0; rc == WS_OK && i < c->nargs; i++) {
    operand op;
    sm_span e;
    operand_open(c, i, &op);
    while (rc == WS_OK && operand_next(&op, &e))
      rc = add_elem(c, set_of(c), e);
  }
  return rc;
}

/* Removes from h the elements that are in every table (!keep, one merged
 * table) or not in all of them (keep). The doomed ones are copied out
 * first: removing may compact h, which an iteration cannot follow. */
static int remove_filtered(call *c, htab *h, const htab *tabs, size_t n, bool keep) {
  htab doomed;
  htab_init_values(&doomed);
  size_t pos = 0;
  sm_span k;
  int rc = WS_OK;
  while (rc == WS_OK && htab_next(h, &pos, &k, NULL))
    if (in_all(tabs, n, k) != keep && htab_put(&doomed, k, NULL, NULL) < 0)
      rc = call_fail(c, WS_INTERNAL, "out of memory");
  pos = 0;
  while (rc == WS_OK && htab_next(&doomed, &pos, &k, NULL))
    drop_elem(c->reg, h, k);
  htab_clear(&doomed, NULL, NULL);
  return rc;
}

/* intersection_update(*others) */
static int s_intersection_update(call *c) {
  int rc = operand_args(c, 0, SIZE_MAX);
  htab *tabs = NULL;
  size_t n = 0;
  if (rc == WS_OK) rc = operand_tables(c, 0, false, &tabs, &n);
  if (rc == WS_OK) rc = remove_filtered(c, set_of(c), tabs, n, true);
  free_tables(tabs, n);
  return rc;
}

/* difference_update(*others) */
static int s_difference_update(call *c) {
  int rc = operand_args(c, 0, SIZE_MAX);
  for (size_t i = 0; rc == WS_OK && i < c->nargs; i++) {
    operand op;
    sm_span e;
    operand_open(c, i, &op);
    while (operand_next(&op, &e))
      drop_elem(c->reg, set_of(c), e);
  }
  return rc;
}

/* symmetric_difference_update(other): each distinct element of other is
 * removed when present, added when absent. */
static int s_symmetric_difference_update(call *c) {
  int rc = operand_args(c, 1, 1);
  htab *tabs = NULL;
  size_t n = 0;
  if (rc == WS_OK) rc = operand_tables(c, 0, true, &tabs, &n);
  size_t pos = 0;
  sm_span k;
  while (rc == WS_OK && htab_next(&tabs[0], &pos, &k, NULL))
    if (!drop_elem(c->reg, set_of(c), k)) rc = add_elem(c, set_of(c), k);
  free_tables(tabs, n);
  return rc;
}

/* ---- comparisons ---- */

/* issubset(other) -> bool: every element is in other. */
static int s_issubset(call *c) {
  int rc = operand_args(c, 1, 1);
  htab *tabs = NULL;
  size_t n = 0;
  if (rc == WS_OK) rc = operand_tables(c, 0, true, &tabs, &n);
  if (rc == WS_OK) {
    bool sub = htab_len(set_of(c)) <= htab_len(&tabs[0]);
    size_t pos = 0;
    sm_span k;
    while (sub && htab_next(set_of(c), &pos, &k, NULL))
      sub = htab_find(&tabs[0], k) != NULL;
    vb_bool(c->out, sub);
  }
  free_tables(tabs, n);
  return rc;
}

/* Answers whether every element of other is in the set (all) or none is
 * (!all). */
static int other_in_set(call *c, bool all) {
  int rc = operand_args(c, 1, 1);
  if (rc != WS_OK) return rc;
  operand op;
  sm_span e;
  bool answer = true;
  operand_open(c, 0, &op);
  while (answer && operand_next(&op, &e))
    answer = (htab_find(set_of(c), e) != NULL) == all;
  vb_bool(c->out, answer);
  return WS_OK;
}

/* issuperset(other) -> bool */
static int s_issuperset(call *c) { return other_in_set(c, true); }

/* isdisjoint(other) -> bool */
static int s_isdisjoint(call *c) { return other_in_set(c, false); }

/* ---- the type ---- */

/* Creation: nothing, nil, or an operand of initial elements. */
static int set_create(call *c, void **state) {
  int rc = call_nargs(c, 0, 1);
  if (rc != WS_OK) return rc;
  vinfo vi = {.kind = VK_NIL};
  if (c->nargs == 1) call_arg(c, 0, &vi);
  if (vi.kind != VK_NIL && (rc = check_operand(c, 0)) != WS_OK) return rc;
  htab *h = malloc(sizeof *h);
  if (!h) return call_fail(c, WS_INTERNAL, "out of memory");
  htab_init_values(h);
  if (vi.kind != VK_NIL) {
    operand op;
    sm_span e;
    operand_open(c, 0, &op);
    while (rc == WS_OK && operand_next(&op, &e))
      rc = add_elem(c, h, e);
  }
  if (rc != WS_OK) {
    drop_all(c->reg, h);
    free(h);
    return rc;
  }
  *state = h;
  return WS_OK;
}

static void set_destroy(registry *reg, void *state) {
  if (!state) return;
  drop_all(reg, state);
  free(state);
}

static size_t set_size(const void *state) { return htab_len(state); }

/* Each element that is a ref (cycles.h). */
static void set_traverse(const void *state, ref_visit_fn visit, void *ctx) {
  size_t pos = 0;
  sm_span k;
  while (htab_next(state, &pos, &k, NULL)) {
    uint64_t id = reg_ref_id(k);
    if (id) visit(ctx, id);
  }
}

/* The table and its elements. */
static size_t set_mem(const void *state) { return htab_memory(state); }

/* Saved as [elements: a list in insertion order]. */
static int set_save(const void *state, vbuf *out) {
  size_t m = vb_list_begin(out), item = vb_list_begin_item(out), lm = vb_list_begin(out);
  write_elems(out, state);
  vb_list_end(out, lm);
  vb_list_end_item(out, item);
  vb_list_end(out, m);
  return saved_status(out);
}

/* Element refs are not counted again (object.h): the elements go straight
 * into the table. */
static int set_load(registry *reg, const obj_type *t, sm_span saved, void **state, char *err,
                    size_t errlen) {
  (void)reg;
  (void)t;
  vinfo f[1];
  int rc = saved_fields(saved, "l", f, NULL, "set", err, errlen);
  if (rc != WS_OK) return rc;
  htab *h = malloc(sizeof *h);
  if (!h) return snprintf(err, errlen, "out of memory"), WS_INTERNAL;
  htab_init_values(h);
  vw_iter it;
  sm_span e;
  vw_iter_init(&it, f[0].data);
  while (rc == WS_OK && vw_list_next(&it, &e)) {
    vinfo ei;
    int put = -2;
    if (vw_peek(e, &ei) == VW_OK && ei.kind != VK_LIST && ei.kind != VK_MAP)
      put = htab_put(h, e, NULL, NULL);
    if (put != 1) {
      rc = put == -1 ? WS_INTERNAL : WS_VALUE_ERROR;
      snprintf(err, errlen,
               put == -1  ? "out of memory"
               : put == 0 ? "a saved set has an element twice"
                          : "a saved set has an unhashable element");
    }
  }
  if (rc != WS_OK) {
    /* Nothing was counted for these refs: free the table without giving
     * any back. */
    htab_clear(h, NULL, NULL);
    free(h);
    return rc;
  }
  *state = h;
  return WS_OK;
}

static const method_def set_methods[] = {
    {"add", s_add, METHOD_MUTATES | METHOD_GROWS},
    {"discard", s_discard, METHOD_MUTATES},
    {"remove", s_remove, METHOD_MUTATES},
    {"contains", s_contains, 0},
    {"len", s_len, 0},
    {"pop", s_pop, METHOD_MUTATES},
    {"clear", s_clear, METHOD_MUTATES},
    {"copy", s_copy, 0},
    {"scan", s_scan, 0},
    {"update", s_update, METHOD_MUTATES | METHOD_GROWS},
    {"union", s_union, 0},
    {"intersection", s_intersection, 0},
    {"difference", s_difference, 0},
    {"symmetric_difference", s_symmetric_difference, 0},
    {"intersection_update", s_intersection_update, METHOD_MUTATES},
    {"difference_update", s_difference_update, METHOD_MUTATES},
    {"symmetric_difference_update", s_symmetric_difference_update, METHOD_MUTATES | METHOD_GROWS},
    {"issubset", s_issubset, 0},
    {"issuperset", s_issuperset, 0},
    {"isdisjoint", s_isdisjoint, 0},
};

const obj_type t_set_type = {
    .name = "set",
    .create = set_create,
    .destroy = set_destroy,
    .size = set_size,
    .mem_size = set_mem,
    .traverse = set_traverse,
    .save = set_save,
    .load = set_load,
    .methods = set_methods,
    .n_methods = sizeof set_methods / sizeof set_methods[0],
};
