/* SPDX-License-Identifier: MIT */
/* t_list.c - the "list" type: Python's list over shared values
 * (docs/protocol.md lists the methods).
 *
 * The state is a growable array of sval*. Indexes follow Python: negative
 * ones count from the end; insert and slice bounds clamp to the list, while
 * get, set, del and pop refuse an index out of range. remove, index and
 * count find items as Python's list does (sval_equals: Python's equality
 * of proto/vequal.h, 1 matching 1.0 and True). sort is a stable merge sort
 * ordered by veq_compare, which agrees with that equality, checked for
 * comparable kinds before anything moves, so a refused sort leaves the
 * list as it was. Every method changes the array first and frees what it
 * removed last.
 *
 * scan pages through the list by position. Its cursor is the next position
 * plus `shifts`, a count that every removal raises by one (by the length
 * for clear, reverse and sort), and a page starts at the cursor minus the
 * shifts of now: each removal since the cursor was given steps it back one
 * place, which is as far as a removal can move an item that stays, so no
 * item present for the whole iteration is skipped. Items may be returned
 * twice when removals or inserts happened between pages. */
#include "../proto/vequal.h"
#include "memory.h"
#include "saved.h"
#include "scan.h"
#include "sval.h"
#include "types.h"
#include "watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct list {
  sval **items; /* owned, each owned */
  size_t len, cap;
  uint64_t shifts; /* removals so far, whole-list reorders counting len: scan cursors */
} list;

static list *list_of(call *c) { return c->obj->state; }

static int oom(call *c) { return call_fail(c, WS_INTERNAL, "out of memory"); }

/* Makes room for extra more items; false when out of memory. */
static bool reserve(list *l, size_t extra) {
  if (l->cap - l->len >= extra) return true;
  size_t cap = l->cap ? l->cap : 8;
  while (cap - l->len < extra) {
    if (cap > SIZE_MAX / 2 / sizeof *l->items) return false;
    cap *= 2;
  }
  sval **p = realloc(l->items, cap * sizeof *p);
  if (!p) return false;
  l->items = p;
  l->cap = cap;
  return true;
}

/* Gives memory back once a long list has mostly emptied. */
static void shrink(list *l) {
  if (l->cap <= 64 || l->len >= l->cap / 4) return;
  sval **p = realloc(l->items, l->cap / 2 * sizeof *p);
  if (!p) return; /* the larger array is still valid */
  l->items = p;
  l->cap /= 2;
}

/* Takes item pos out; the caller frees it with sval_free() when done. */
static sval *remove_at(list *l, size_t pos) {
  sval *v = l->items[pos];
  memmove(&l->items[pos], &l->items[pos + 1], (l->len - pos - 1) * sizeof *l->items);
  l->len--;
  l->shifts++;
  shrink(l);
  return v;
}

/* Argument i as a position in [0, len), Python's negative indexes counting
 * from the end: WS_TYPE_ERROR for a non-int, WS_VALUE_ERROR out of range. */
static int index_arg(call *c, size_t i, size_t len, size_t *pos) {
  int64_t v;
  int rc = call_arg_int(c, i, &v);
  if (rc != WS_OK) return rc;
  if (v < 0) v += (int64_t)len;
  if (v < 0 || (uint64_t)v >= len) return call_fail(c, WS_VALUE_ERROR, "list index out of range");
  *pos = (size_t)v;
  return WS_OK;
}

/* A slice or insert bound: negative counts from the end, then clamps to
 * [0, len]. */
static size_t clamp(int64_t v, size_t len) {
  if (v < 0) {
    v += (int64_t)len;
    return v < 0 ? 0 : (size_t)v;
  }
  return (uint64_t)v > len ? len : (size_t)v;
}

/* Argument i as a slice bound; nil (or absent) means dflt. */
static int bound_arg(call *c, size_t i, size_t len, size_t dflt, size_t *out) {
  vinfo vi = {.kind = VK_NIL};
  if (i < c->nargs) call_arg(c, i, &vi);
  if (vi.kind == VK_NIL)
    *out = dflt;
  else if (vi.kind == VK_INT)
    *out = clamp(vi.i, len);
  else
    return call_fail(c, WS_TYPE_ERROR, "slice bounds must be int or nil, not %s",
                     call_kind_name(vi.kind));
  return WS_OK;
}

/* The first position holding a value equal to packed, or len. */
static size_t find(const list *l, sm_span packed) {
  size_t i = 0;
  while (i < l->len && !sval_equals(l->items[i], packed))
    i++;
  return i;
}

/* Appends every item of a scanned list body; all or nothing. */
static int extend_from(call *c, list *l, sm_span body, unsigned flags) {
  vw_iter it;
  sm_span item;
  size_t n = 0;
  vw_iter_init(&it, body);
  while (vw_list_next(&it, &item))
    n++;
  if (!reserve(l, n)) return oom(c);
  vw_iter_init(&it, body);
  for (size_t k = 0; vw_list_next(&it, &item); k++) {
    if (!(l->items[l->len + k] = sval_new(c->reg, item, flags))) {
      while (k-- > 0)
        sval_free(c->reg, l->items[l->len + k]);
      return oom(c);
    }
  }
  l->len += n;
  return WS_OK;
}

/* Frees every item and the array; l is left empty. */
static void drop_all(registry *reg, list *l) {
  list old = *l;
  memset(l, 0, sizeof *l);
  l->shifts = old.shifts + old.len; /* every item left: cursors restart from 0 */
  for (size_t i = 0; i < old.len; i++)
    sval_free(reg, old.items[i]);
  free(old.items);
}

/* append(v) */
static int l_append(call *c) {
  list *l = list_of(c);
  sval *v = reserve(l, 1) ? sval_new(c->reg, c->args[0], c->arg_flags[0]) : NULL;
  if (!v) return oom(c);
  l->items[l->len++] = v;
  return WS_OK;
}

/* extend(list) */
static int l_extend(call *c) {
  vinfo vi;
  call_arg(c, 0, &vi);
  if (vi.kind != VK_LIST)
    return call_fail(c, WS_TYPE_ERROR, "extend needs a list, not %s", call_kind_name(vi.kind));
  return extend_from(c, list_of(c), vi.data, c->arg_flags[0]);
}

/* insert(i, v): before position i, clamped to the list as Python does. */
static int l_insert(call *c) {
  int64_t i;
  int rc = call_arg_int(c, 0, &i);
  if (rc != WS_OK) return rc;
  list *l = list_of(c);
  size_t pos = clamp(i, l->len);
  sval *v = reserve(l, 1) ? sval_new(c->reg, c->args[1], c->arg_flags[1]) : NULL;
  if (!v) return oom(c);
  memmove(&l->items[pos + 1], &l->items[pos], (l->len - pos) * sizeof *l->items);
  l->items[pos] = v;
  l->len++;
  return WS_OK;
}

/* get(i) */
static int l_get(call *c) {
  list *l = list_of(c);
  size_t pos = 0;
  int rc = index_arg(c, 0, l->len, &pos);
  if (rc == WS_OK) vb_append(c->out, sval_span(l->items[pos]));
  return rc;
}

/* set(i, v) */
static int l_set(call *c) {
  list *l = list_of(c);
  size_t pos = 0;
  int rc = index_arg(c, 0, l->len, &pos);
  if (rc != WS_OK) return rc;
  sval *v = sval_new(c->reg, c->args[1], c->arg_flags[1]);
  if (!v) return oom(c);
  sval *old = l->items[pos];
  l->items[pos] = v;
  sval_free(c->reg, old);
  return WS_OK;
}

/* del(i) */
static int l_del(call *c) {
  list *l = list_of(c);
  size_t pos = 0;
  int rc = index_arg(c, 0, l->len, &pos);
  if (rc == WS_OK) sval_free(c->reg, remove_at(l, pos));
  return rc;
}

/* pop() takes the last item, pop(i) item i. */
static int l_pop(call *c) {
  list *l = list_of(c);
  int rc;
  if (l->len == 0) return call_fail(c, WS_VALUE_ERROR, "pop from empty list");
  size_t pos = l->len - 1;
  if (c->nargs == 1 && (rc = index_arg(c, 0, l->len, &pos)) != WS_OK) return rc;
  sval *v = remove_at(l, pos);
  vb_append(c->out, sval_span(v));
  sval_free(c->reg, v);
  return WS_OK;
}

/* remove(v): the first equal item. */
static int l_remove(call *c) {
  list *l = list_of(c);
  size_t pos = find(l, c->args[0]);
  if (pos == l->len) return call_fail(c, WS_VALUE_ERROR, "value not in list");
  sval_free(c->reg, remove_at(l, pos));
  return WS_OK;
}

/* index(v) -> int: the position of the first equal item. */
static int l_index(call *c) {
  list *l = list_of(c);
  size_t pos = find(l, c->args[0]);
  if (pos == l->len) return call_fail(c, WS_VALUE_ERROR, "value not in list");
  vb_int(c->out, (int64_t)pos);
  return WS_OK;
}

/* count(v) -> int */
static int l_count(call *c) {
  list *l = list_of(c);
  int64_t n = 0;
  for (size_t i = 0; i < l->len; i++)
    n += sval_equals(l->items[i], c->args[0]);
  vb_int(c->out, n);
  return WS_OK;
}

/* len -> int */
static int l_len(call *c) {
  vb_int(c->out, (int64_t)list_of(c)->len);
  return WS_OK;
}

/* slice(start|nil, stop|nil) -> list, bounds clamped as Python's l[a:b]. */
static int l_slice(call *c) {
  list *l = list_of(c);
  size_t start = 0, stop = 0;
  int rc = bound_arg(c, 0, l->len, 0, &start);
  if (rc == WS_OK) rc = bound_arg(c, 1, l->len, l->len, &stop);
  if (rc != WS_OK) return rc;
  size_t m = vb_list_begin(c->out);
  for (size_t i = start; i < stop; i++)
    vb_list_item(c->out, sval_span(l->items[i]));
  vb_list_end(c->out, m);
  return WS_OK;
}

/* scan(cursor[, count]) -> [next, [items...]]: a page of items by
 * position; the cursor is position + shifts (see the top of this file). */
static int l_scan(call *c) {
  scan_page pg;
  int rc = scan_begin(c, 2, &pg);
  if (rc != WS_OK) return rc;
  list *l = list_of(c);
  size_t i = pg.cursor > l->shifts ? (size_t)(pg.cursor - l->shifts) : 0;
  for (; i < l->len && scan_room(&pg, sval_span(l->items[i]).n + 8); i++) {
    vb_list_item(&pg.items, sval_span(l->items[i]));
    pg.n++;
  }
  return scan_end(c, &pg, i < l->len ? i + l->shifts : 0);
}

/* reverse */
static int l_reverse(call *c) {
  list *l = list_of(c);
  l->shifts += l->len; /* items move anywhere: cursors restart from 0 */
  for (size_t i = 0, j = l->len; i + 1 < j; i++, j--) {
    sval *t = l->items[i];
    l->items[i] = l->items[j - 1];
    l->items[j - 1] = t;
  }
  return WS_OK;
}

typedef struct sort_item {
  vinfo vi; /* decoded once; spans point into v */
  sval *v;
} sort_item;

/* Bottom-up merge sort of a[0..n) using tmp; returns the buffer holding the
 * result. Equal items keep their order, descending included (as Python's
 * reverse=True). Every pair must be comparable. */
static sort_item *merge_sort(sort_item *a, sort_item *tmp, size_t n, bool descending) {
  for (size_t width = 1; width < n; width *= 2) {
    for (size_t lo = 0; lo < n; lo += 2 * width) {
      size_t mid = lo + width < n ? lo + width : n, hi = mid + width < n ? mid + width : n;
      size_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) {
        bool ok;
        int cmp = veq_compare(&a[j].vi, &a[i].vi, &ok);
        /* The right item goes first only when strictly before the left. */
        tmp[k++] = (descending ? cmp > 0 : cmp < 0) ? a[j++] : a[i++];
      }
      while (i < mid)
        tmp[k++] = a[i++];
      while (j < hi)
        tmp[k++] = a[j++];
    }
    sort_item *t = a;
    a = tmp;
    tmp = t;
  }
  return a;
}

/* sort([descending=false]) */
static int l_sort(call *c) {
  bool descending = false;
  int rc = c->nargs == 1 ? call_arg_bool(c, 0, &descending) : WS_OK;
  if (rc != WS_OK) return rc;
  list *l = list_of(c);
  size_t n = l->len;
  if (n < 2) return WS_OK;
  sort_item *buf = n <= SIZE_MAX / 2 / sizeof *buf ? malloc(2 * n * sizeof *buf) : NULL;
  if (!buf) return oom(c);
  for (size_t i = 0; i < n; i++) {
    buf[i].v = l->items[i];
    vw_peek(sval_span(l->items[i]), &buf[i].vi);
  }
  /* Comparable kinds form classes (numbers and bools, str, bytes, nil), so
   * checking everything against the first item checks every pair. */
  for (size_t i = 1; i < n; i++) {
    bool ok;
    veq_compare(&buf[0].vi, &buf[i].vi, &ok);
    if (!ok) {
      rc = call_fail(c, WS_TYPE_ERROR, "sort cannot compare %s with %s",
                     call_kind_name(buf[0].vi.kind), call_kind_name(buf[i].vi.kind));
      free(buf);
      return rc;
    }
  }
  sort_item *sorted = merge_sort(buf, buf + n, n, descending);
  l->shifts += n; /* items move anywhere: cursors restart from 0 */
  for (size_t i = 0; i < n; i++)
    l->items[i] = sorted[i].v;
  free(buf);
  return WS_OK;
}

/* clear */
static int l_clear(call *c) {
  drop_all(c->reg, list_of(c));
  return WS_OK;
}

/* Creation: nothing, nil, or a list of initial items. */
static int list_create(call *c, void **state) {
  int rc = call_nargs(c, 0, 1);
  if (rc != WS_OK) return rc;
  vinfo vi = {.kind = VK_NIL};
  if (c->nargs == 1) call_arg(c, 0, &vi);
  if (vi.kind != VK_NIL && vi.kind != VK_LIST)
    return call_fail(c, WS_TYPE_ERROR, "a list starts from a list, not %s",
                     call_kind_name(vi.kind));
  list *l = calloc(1, sizeof *l);
  if (!l) return oom(c);
  if (vi.kind == VK_LIST && (rc = extend_from(c, l, vi.data, c->arg_flags[0])) != WS_OK) {
    free(l->items);
    free(l);
    return rc;
  }
  *state = l;
  return WS_OK;
}

static void list_destroy(registry *reg, void *state) {
  if (!state) return;
  drop_all(reg, state);
  free(state);
}

static size_t list_size(const void *state) { return ((const list *)state)->len; }

/* Each item's refs (cycles.h). */
static void list_traverse(const void *state, ref_visit_fn visit, void *ctx) {
  const list *l = state;
  for (size_t i = 0; i < l->len; i++)
    sval_traverse(l->items[i], visit, ctx);
}

/* The struct and its array; the items count themselves. */
static size_t list_mem(const void *state) {
  const list *l = state;
  return mem_chunk(sizeof *l) + (l->cap ? mem_chunk(l->cap * sizeof *l->items) : 0);
}

/* Saved as [items]. */
static int list_save(const void *state, vbuf *out) {
  const list *l = state;
  size_t m = vb_list_begin(out);
  saved_write_svals(out, l->items, l->len);
  vb_list_end(out, m);
  return saved_status(out);
}

static int list_load(registry *reg, const obj_type *t, sm_span saved, void **state, char *err,
                     size_t errlen) {
  (void)t;
  vinfo f[1];
  int rc = saved_fields(saved, "l", f, NULL, "list", err, errlen);
  list *l = rc == WS_OK ? calloc(1, sizeof *l) : NULL;
  if (rc == WS_OK && !l) rc = WS_INTERNAL, snprintf(err, errlen, "out of memory");
  if (rc == WS_OK && (rc = saved_svals(reg, f[0].data, &l->items, &l->len, err, errlen)) != WS_OK)
    free(l);
  if (rc != WS_OK) return rc;
  l->cap = l->len ? l->len : 1;
  *state = l;
  return WS_OK;
}

static const method_def list_methods[] = {
    {"append", l_append, METHOD_MUTATES | METHOD_GROWS | ARGS(1, 1)},
    {"extend", l_extend, METHOD_MUTATES | METHOD_GROWS | ARGS(1, 1)},
    {"insert", l_insert, METHOD_MUTATES | METHOD_GROWS | ARGS(2, 2)},
    {"get", l_get, ARGS(1, 1)},
    {"set", l_set, METHOD_MUTATES | METHOD_GROWS | ARGS(2, 2)},
    {"del", l_del, METHOD_MUTATES | ARGS(1, 1)},
    {"pop", l_pop, METHOD_MUTATES | ARGS(0, 1)},
    {"remove", l_remove, METHOD_MUTATES | ARGS(1, 1)},
    {"index", l_index, ARGS(1, 1)},
    {"count", l_count, ARGS(1, 1)},
    {"len", l_len, ARGS(0, 0)},
    {"slice", l_slice, ARGS(0, 2)},
    {"scan", l_scan, ARGS(1, 2)},
    {"reverse", l_reverse, METHOD_MUTATES | ARGS(0, 0)},
    {"sort", l_sort, METHOD_MUTATES | ARGS(0, 1)},
    {"clear", l_clear, METHOD_MUTATES | ARGS(0, 0)},
    {"rev", wch_m_rev, 0},
    {"watch", wch_m_watch, 0},
    {"_track", wch_m_track, METHOD_INTERNAL},
};

const obj_type t_list_type = {
    .name = "list",
    .create = list_create,
    .destroy = list_destroy,
    .size = list_size,
    .mem_size = list_mem,
    .traverse = list_traverse,
    .serve = wch_serve,
    .save = list_save,
    .load = list_load,
    .methods = list_methods,
    .n_methods = sizeof list_methods / sizeof list_methods[0],
};
