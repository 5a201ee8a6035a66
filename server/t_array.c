/* SPDX-License-Identifier: MIT */
/* t_array.c - the "array" type: Python's multiprocessing Array, a fixed
 * length array of one numeric element type, with an atomic add
 * (docs/protocol.md lists the methods).
 *
 * The state is a packed C array of the element type (i8 i16 i32 i64, u8 u16
 * u32 u64, f32 f64). Elements cross the wire as int64 (integer types) or
 * double (f32, f64). A value that does not fit the element type is refused
 * with VALUE_ERROR, never wrapped or truncated. Since the wire carries
 * int64, u64 elements hold 0..INT64_MAX: larger values can neither be set
 * nor reached by add, so every element reads back exactly. Integer add
 * overflowing the element type is VALUE_ERROR; float add is done in double
 * and stored in the element type (an f32 result beyond its finite range is
 * VALUE_ERROR too). Indexes count from the end when negative, as Python's;
 * slice bounds clamp like a list's; a slice whose answer would exceed a
 * frame (FRAME_MAX_DEFAULT, what clients read) is TOO_LARGE. */
#include "memory.h"
#include "saved.h"
#include "types.h"

#include "../proto/frame.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_MAX_BYTES ((size_t)1 << 30)

typedef enum etype { E_I8, E_I16, E_I32, E_I64, E_U8, E_U16, E_U32, E_U64, E_F32, E_F64 } etype;

static const struct etype_info {
  const char *code;
  size_t size;
  int64_t min, max; /* integer types: the range a value must be in */
  bool real;
} etypes[] = {
    {"i8", 1, INT8_MIN, INT8_MAX, false},
    {"i16", 2, INT16_MIN, INT16_MAX, false},
    {"i32", 4, INT32_MIN, INT32_MAX, false},
    {"i64", 8, INT64_MIN, INT64_MAX, false},
    {"u8", 1, 0, UINT8_MAX, false},
    {"u16", 2, 0, UINT16_MAX, false},
    {"u32", 4, 0, UINT32_MAX, false},
    {"u64", 8, 0, INT64_MAX, false}, /* the wire's int64 */
    {"f32", 4, 0, 0, true},
    {"f64", 8, 0, 0, true},
};

typedef struct array {
  etype t;
  size_t len;
  void *data; /**< len elements of type t */
} array;

/* One element's value: i for integer types, d for real ones. */
typedef struct num {
  int64_t i;
  double d;
} num;

static array *array_of(call *c) { return c->obj->state; }

static const struct etype_info *info(const array *a) { return &etypes[a->t]; }

static num load(const array *a, size_t i) {
  num n = {0, 0};
  switch (a->t) {
  case E_I8: n.i = ((const int8_t *)a->data)[i]; break;
  case E_I16: n.i = ((const int16_t *)a->data)[i]; break;
  case E_I32: n.i = ((const int32_t *)a->data)[i]; break;
  case E_I64: n.i = ((const int64_t *)a->data)[i]; break;
  case E_U8: n.i = ((const uint8_t *)a->data)[i]; break;
  case E_U16: n.i = ((const uint16_t *)a->data)[i]; break;
  case E_U32: n.i = ((const uint32_t *)a->data)[i]; break;
  case E_U64: n.i = (int64_t)((const uint64_t *)a->data)[i]; break; /* <= INT64_MAX */
  case E_F32: n.d = ((const float *)a->data)[i]; break;
  case E_F64: n.d = ((const double *)a->data)[i]; break;
  }
  return n;
}

/* Stores a value already checked to fit. */
static void store(array *a, size_t i, num n) {
  switch (a->t) {
  case E_I8: ((int8_t *)a->data)[i] = (int8_t)n.i; break;
  case E_I16: ((int16_t *)a->data)[i] = (int16_t)n.i; break;
  case E_I32: ((int32_t *)a->data)[i] = (int32_t)n.i; break;
  case E_I64: ((int64_t *)a->data)[i] = n.i; break;
  case E_U8: ((uint8_t *)a->data)[i] = (uint8_t)n.i; break;
  case E_U16: ((uint16_t *)a->data)[i] = (uint16_t)n.i; break;
  case E_U32: ((uint32_t *)a->data)[i] = (uint32_t)n.i; break;
  case E_U64: ((uint64_t *)a->data)[i] = (uint64_t)n.i; break;
  case E_F32: ((float *)a->data)[i] = (float)n.d; break;
  case E_F64: ((double *)a->data)[i] = n.d; break;
  }
}

static void write_num(vbuf *b, const array *a, num n) {
  if (info(a)->real)
    vb_double(b, n.d);
  else
    vb_int(b, n.i);
}

/* Checks that n fits the element type. */
static int check_fits(call *c, const array *a, num n) {
  const struct etype_info *t = info(a);
  if (t->real) {
    if (a->t == E_F32 && !isinf(n.d) && (n.d > FLT_MAX || n.d < -FLT_MAX))
      return call_fail(c, WS_VALUE_ERROR, "%g does not fit element type f32", n.d);
    return WS_OK;
  }
  if (n.i < t->min || n.i > t->max)
    return call_fail(c, WS_VALUE_ERROR, "%lld does not fit element type %s", (long long)n.i,
                     t->code);
  return WS_OK;
}

/* A packed value as an element: ints for integer types, ints or doubles for
 * real ones (WS_TYPE_ERROR otherwise), in range (WS_VALUE_ERROR). */
static int to_num(call *c, const array *a, sm_span v, num *out) {
  vinfo vi;
  if (vw_peek(v, &vi) != VW_OK) vi.kind = VK_NIL;
  *out = (num){0, 0};
  if (vi.kind == VK_INT) {
    out->i = vi.i;
    out->d = (double)vi.i;
  } else if (vi.kind == VK_DOUBLE && info(a)->real) {
    out->d = vi.d;
  } else {
    return call_fail(c, WS_TYPE_ERROR, "%s elements take %s, not %s", info(a)->code,
                     info(a)->real ? "int or double" : "int", call_kind_name(vi.kind));
  }
  return check_fits(c, a, *out);
}

/* Argument i as a position in [0, len), negative counting from the end. */
static int index_arg(call *c, size_t i, size_t len, size_t *pos) {
  int64_t v;
  int rc = call_arg_int(c, i, &v);
  if (rc != WS_OK) return rc;
  if (v < 0) v += (int64_t)len;
  if (v < 0 || (uint64_t)v >= len) return call_fail(c, WS_VALUE_ERROR, "array index out of range");
  *pos = (size_t)v;
  return WS_OK;
}

/* Argument i as a slice bound (nil or absent: dflt), clamped to [0, len]. */
static int bound_arg(call *c, size_t i, size_t len, size_t dflt, size_t *out) {
  vinfo vi = {.kind = VK_NIL};
  if (i < c->nargs) call_arg(c, i, &vi);
  if (vi.kind == VK_NIL) {
    *out = dflt;
  } else if (vi.kind == VK_INT) {
    int64_t v = vi.i < 0 ? vi.i + (int64_t)len : vi.i;
    *out = v < 0 ? 0 : (uint64_t)v > len ? len : (size_t)v;
  } else {
    return call_fail(c, WS_TYPE_ERROR, "slice bounds must be int or nil, not %s",
                     call_kind_name(vi.kind));
  }
  return WS_OK;
}

/* Checks every item of a list body as an element; *n gets the count. */
static int check_items(call *c, const array *a, sm_span body, size_t *n) {
  vw_iter it;
  sm_span item;
  num x;
  *n = 0;
  vw_iter_init(&it, body);
  while (vw_list_next(&it, &item)) {
    int rc = to_num(c, a, item, &x);
    if (rc != WS_OK) return rc;
    ++*n;
  }
  return WS_OK;
}

/* Stores the items of a checked list body from position start on. */
static void store_items(call *c, array *a, sm_span body, size_t start) {
  vw_iter it;
  sm_span item;
  num x;
  vw_iter_init(&it, body);
  for (size_t i = start; vw_list_next(&it, &item); i++) {
    to_num(c, a, item, &x);
    store(a, i, x);
  }
}

/* get(i) -> int or double */
static int m_get(call *c) {
  array *a = array_of(c);
  size_t pos = 0;
  int rc = index_arg(c, 0, a->len, &pos);
  if (rc == WS_OK) write_num(c->out, a, load(a, pos));
  return rc;
}

/* set(i, v) */
static int m_set(call *c) {
  array *a = array_of(c);
  size_t pos = 0;
  num n;
  int rc = index_arg(c, 0, a->len, &pos);
  if (rc == WS_OK) rc = to_num(c, a, c->args[1], &n);
  if (rc == WS_OK) store(a, pos, n);
  return rc;
}

/* add(i, delta) -> the new element value */
static int m_add(call *c) {
  array *a = array_of(c);
  size_t pos = 0;
  num d;
  int rc = index_arg(c, 0, a->len, &pos);
  if (rc != WS_OK) return rc;
  vinfo vi;
  call_arg(c, 1, &vi);
  if (vi.kind == VK_INT) {
    d.i = vi.i;
    d.d = (double)vi.i;
  } else if (vi.kind == VK_DOUBLE && info(a)->real) {
    d.d = vi.d;
  } else {
    return call_fail(c, WS_TYPE_ERROR, "add to %s elements takes %s, not %s", info(a)->code,
                     info(a)->real ? "int or double" : "int", call_kind_name(vi.kind));
  }
  num cur = load(a, pos), sum = {0, 0};
  if (info(a)->real) {
    sum.d = cur.d + d.d;
  } else if (__builtin_add_overflow(cur.i, d.i, &sum.i)) {
    return call_fail(c, WS_VALUE_ERROR, "integer overflow in add");
  }
  if ((rc = check_fits(c, a, sum)) != WS_OK) return rc;
  store(a, pos, sum);
  write_num(c->out, a, load(a, pos)); /* an f32 answers what it stored */
  return WS_OK;
}

/* len -> int */
static int m_len(call *c) {
  vb_int(c->out, (int64_t)array_of(c)->len);
  return WS_OK;
}

/* typecode -> str */
static int m_typecode(call *c) {
  const char *code = info(array_of(c))->code;
  vb_str(c->out, code, strlen(code));
  return WS_OK;
}

static int slice_too_large(call *c) {
  return call_fail(c, WS_TOO_LARGE, "the slice exceeds %u bytes: take it in parts",
                   FRAME_MAX_DEFAULT);
}

/* slice(start|nil, stop|nil) -> list (TOO_LARGE past a frame) */
static int m_slice(call *c) {
  array *a = array_of(c);
  size_t start = 0, stop = 0;
  int rc = bound_arg(c, 0, a->len, 0, &start);
  if (rc == WS_OK) rc = bound_arg(c, 1, a->len, a->len, &stop);
  if (rc != WS_OK) return rc;
  /* No client reads an answer over a frame, and a slice of a 1 GiB array
   * would cost gigabytes and minutes of the loop: refuse a slice that cannot
   * fit (each element takes at least 4 bytes), and stop one that turns out
   * not to. */
  if (stop > start && stop - start > FRAME_MAX_DEFAULT / 4) return slice_too_large(c);
  size_t m = vb_list_begin(c->out);
  for (size_t i = start; i < stop; i++) {
    size_t item = vb_list_begin_item(c->out);
    write_num(c->out, a, load(a, i));
    vb_list_end_item(c->out, item);
    if (c->out->len - m > FRAME_MAX_DEFAULT) return slice_too_large(c);
  }
  vb_list_end(c->out, m);
  return WS_OK;
}

/* set_slice(start, values:list): in place, all or nothing; the length never
 * changes (VALUE_ERROR past the end). */
static int m_set_slice(call *c) {
  array *a = array_of(c);
  int64_t start;
  int rc = call_arg_int(c, 0, &start);
  if (rc != WS_OK) return rc;
  if (start < 0) start += (int64_t)a->len;
  if (start < 0 || (uint64_t)start > a->len)
    return call_fail(c, WS_VALUE_ERROR, "slice start out of range");
  vinfo vi;
  call_arg(c, 1, &vi);
  if (vi.kind != VK_LIST)
    return call_fail(c, WS_TYPE_ERROR, "set_slice needs a list, not %s", call_kind_name(vi.kind));
  size_t n;
  if ((rc = check_items(c, a, vi.data, &n)) != WS_OK) return rc;
  if (n > a->len - (size_t)start)
    return call_fail(c, WS_VALUE_ERROR, "%zu values from %lld run past the end of the array", n,
                     (long long)start);
  store_items(c, a, vi.data, (size_t)start);
  return WS_OK;
}

/* Builds an array from a typecode and a length or a list of items; the
 * memory limit applies when limited (creation, not a snapshot's load). */
static int build(call *c, vinfo code, vinfo init, bool limited, void **state) {
  int rc;
  if (code.kind != VK_STR)
    return call_fail(c, WS_TYPE_ERROR, "the typecode must be a str, not %s",
                     call_kind_name(code.kind));
  array tmp = {.t = E_I8};
  size_t i = 0;
  while (i < sizeof etypes / sizeof etypes[0] && (strlen(etypes[i].code) != code.data.n ||
                                                  memcmp(etypes[i].code, code.data.p, code.data.n)))
    i++;
  if (i == sizeof etypes / sizeof etypes[0])
    return call_fail(c, WS_VALUE_ERROR,
                     "unknown typecode '%.*s' (i8 i16 i32 i64 u8 u16 u32 u64 f32 f64)",
                     (int)(code.data.n > 16 ? 16 : code.data.n), (const char *)code.data.p);
  tmp.t = (etype)i;
  if (init.kind == VK_INT) {
    if (init.i < 0) return call_fail(c, WS_VALUE_ERROR, "the length must be >= 0");
    tmp.len = (uint64_t)init.i > ARRAY_MAX_BYTES ? ARRAY_MAX_BYTES + 1 : (size_t)init.i;
  } else if (init.kind == VK_LIST) {
    if ((rc = check_items(c, &tmp, init.data, &tmp.len)) != WS_OK) return rc;
  } else {
    return call_fail(c, WS_TYPE_ERROR, "an array starts from a length or a list, not %s",
                     call_kind_name(init.kind));
  }
  if (tmp.len > ARRAY_MAX_BYTES / info(&tmp)->size)
    return call_fail(c, WS_VALUE_ERROR, "arrays are limited to %zu bytes", ARRAY_MAX_BYTES);
  if (limited && (rc = mem_check(c, tmp.len * info(&tmp)->size)) != WS_OK) return rc;
  array *a = malloc(sizeof *a);
  if (a) *a = tmp;
  if (!a || !(a->data = calloc(tmp.len ? tmp.len : 1, info(&tmp)->size))) {
    free(a);
    return call_fail(c, WS_INTERNAL, "out of memory");
  }
  if (init.kind == VK_LIST) store_items(c, a, init.data, 0);
  *state = a;
  return WS_OK;
}

/* Creation: [typecode:str, length:int or initial:list]. */
static int array_create(call *c, void **state) {
  int rc = call_nargs(c, 2, 2);
  if (rc != WS_OK) return rc;
  vinfo code, init;
  call_arg(c, 0, &code);
  call_arg(c, 1, &init);
  return build(c, code, init, true, state);
}

/* Saved as [typecode, items]: creation's own arguments. */
static int array_save(const void *state, vbuf *out) {
  const array *a = state;
  size_t m = vb_list_begin(out), item = vb_list_begin_item(out);
  vb_str(out, info(a)->code, strlen(info(a)->code));
  vb_list_end_item(out, item);
  item = vb_list_begin_item(out);
  size_t items = vb_list_begin(out);
  for (size_t i = 0; i < a->len; i++) {
    size_t el = vb_list_begin_item(out);
    write_num(out, a, load(a, i));
    vb_list_end_item(out, el);
  }
  vb_list_end(out, items);
  vb_list_end_item(out, item);
  vb_list_end(out, m);
  return out->failed ? WS_INTERNAL : WS_OK;
}

static int array_load(registry *reg, const obj_type *t, sm_span saved, void **state, char *err,
                      size_t errlen) {
  (void)t;
  vinfo f[2];
  call c = {.reg = reg};
  int rc = saved_fields(saved, "sl", f, NULL, "array", err, errlen);
  if (rc == WS_OK && (rc = build(&c, f[0], f[1], false, state)) != WS_OK)
    snprintf(err, errlen, "a saved array: %s", c.err);
  return rc;
}

static void array_destroy(registry *reg, void *state) {
  (void)reg;
  array *a = state;
  if (!a) return;
  free(a->data);
  free(a);
}

static size_t array_size(const void *state) { return ((const array *)state)->len; }

/* The struct and its elements. */
static size_t array_mem(const void *state) {
  const array *a = state;
  return mem_chunk(sizeof *a) + mem_chunk(a->len ? a->len * info(a)->size : 1);
}

static const method_def array_methods[] = {
    {"get", m_get, ARGS(1, 1)},
    {"set", m_set, METHOD_MUTATES | ARGS(2, 2)},
    {"add", m_add, METHOD_MUTATES | ARGS(2, 2)},
    {"len", m_len, ARGS(0, 0)},
    {"typecode", m_typecode, ARGS(0, 0)},
    {"slice", m_slice, ARGS(0, 2)},
    {"set_slice", m_set_slice, METHOD_MUTATES | ARGS(2, 2)},
};

const obj_type t_array_type = {
    .name = "array",
    .create = array_create,
    .destroy = array_destroy,
    .size = array_size,
    .mem_size = array_mem,
    .owner_gone = NULL,
    .save = array_save,
    .load = array_load,
    .methods = array_methods,
    .n_methods = sizeof array_methods / sizeof array_methods[0],
};
