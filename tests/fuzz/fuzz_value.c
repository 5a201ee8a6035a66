/* SPDX-License-Identifier: MIT */
/* fuzz_value.c - libFuzzer harness for the value codec (proto/vwire.c) and
 * the equality built on it (proto/vequal.c).
 *
 * The input is one candidate packed Value. vw_scan() must accept or refuse
 * it without reading outside it; whatever it accepts, the readers that
 * trust scanned bytes must then behave:
 *  - vw_peek() agrees with vw_scan()'s top level;
 *  - the list and map iterators walk each body exactly to its end, and
 *    every element is itself a value vw_scan() accepts;
 *  - rebuilding the value with the vb_* writer (scalars, refs, lists, maps)
 *    reproduces the input byte for byte: what is accepted is canonical;
 *  - the nesting depth found is exactly the max_depth vw_scan() needs;
 *  - vw_each_ref() visits the refs the walk found, in the same order, and
 *    stops at the first non-zero callback result; VW_FLAG_HAS_REF agrees;
 *  - veq_compare() over pairs of scalar elements is antisymmetric, its
 *    "comparable" answer symmetric, and 0 between numbers exactly when they
 *    are equal (NaN aside);
 *  - over pairs of elements of any kind, veq_equal() and veq_match() are
 *    symmetric, veq_match() reflexive and implied by veq_equal(), and
 *    matching hashable elements hash alike; veq_check_keys() answers.
 * The seed corpus is in corpus/fuzz_value/ (gen_corpus.c). */
#include "proto/vequal.h"
#include "proto/vwire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) abort();                                                                          \
  } while (0)

#define MAX_REFS 256    /* refs remembered for the vw_each_ref comparison */
#define MAX_COMPARED 24 /* scalar elements compared pairwise */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct walk {
  uint64_t ref_ids[MAX_REFS];
  size_t refs; /* every ref seen (may exceed MAX_REFS) */
  vinfo scalars[MAX_COMPARED];
  size_t n_scalars;
  sm_span items[MAX_COMPARED]; /* elements of lists and map values, any kind */
  size_t n_items;
} walk;

static bool span_eq(sm_span a, sm_span b) {
  return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static bool inside(sm_span part, sm_span whole) {
  return part.p >= whole.p && part.n <= whole.n && (size_t)(part.p - whole.p) <= whole.n - part.n;
}

/* Appends to out the value v rebuilt from what the readers report, and
 * returns its nesting depth (0 for a scalar, 1 for a flat list...). */
static unsigned rebuild(sm_span v, vbuf *out, walk *w) {
  vinfo vi;
  CHECK(vw_peek(v, &vi) == VW_OK);
  vw_iter it;
  unsigned depth = 0, d;
  switch (vi.kind) {
  case VK_NIL: CHECK(v.n == 0); break;
  case VK_BOOL: vb_bool(out, vi.b); break;
  case VK_INT: vb_int(out, vi.i); break;
  case VK_DOUBLE: vb_double(out, vi.d); break;
  case VK_STR:
    CHECK(inside(vi.data, v) && memchr(vi.data.p, 0, vi.data.n) == NULL);
    vb_str(out, vi.data.p, vi.data.n);
    break;
  case VK_BYTES:
    CHECK(inside(vi.data, v));
    vb_bytes(out, vi.data.p, vi.data.n);
    break;
  case VK_REF: {
    CHECK(inside(vi.data, v) && vi.data.n > 0);
    char *type = malloc(vi.data.n + 1);
    CHECK(type != NULL);
    memcpy(type, vi.data.p, vi.data.n);
    type[vi.data.n] = '\0';
    CHECK(strlen(type) == vi.data.n);
    vb_ref(out, vi.ref_id, type);
    free(type);
    if (w->refs < MAX_REFS) w->ref_ids[w->refs] = vi.ref_id;
    w->refs++;
    break;
  }
  case VK_LIST: {
    CHECK(inside(vi.data, v));
    size_t mark = vb_list_begin(out);
    sm_span item;
    vw_iter_init(&it, vi.data);
    while (vw_list_next(&it, &item)) {
      CHECK(inside(item, vi.data));
      CHECK(vw_scan(item, VW_DEPTH_DEFAULT, NULL, NULL) == VW_OK);
      size_t m = vb_list_begin_item(out);
      d = rebuild(item, out, w);
      vb_list_end_item(out, m);
      if (d > depth) depth = d;
      vinfo iv;
      CHECK(vw_peek(item, &iv) == VW_OK);
      if (iv.kind != VK_LIST && iv.kind != VK_MAP && w->n_scalars < MAX_COMPARED)
        w->scalars[w->n_scalars++] = iv;
      if (w->n_items < MAX_COMPARED) w->items[w->n_items++] = item;
    }
    CHECK(it.p == it.end); /* the whole body was items */
    vb_list_end(out, mark);
    depth++;
    break;
  }
  case VK_MAP: {
    CHECK(inside(vi.data, v));
    size_t mark = vb_map_begin(out);
    sm_span key, val;
    vbuf kb, vbv;
    vb_init(&kb);
    vb_init(&vbv);
    vw_iter_init(&it, vi.data);
    while (vw_map_next(&it, &key, &val)) {
      CHECK(inside(key, vi.data) && inside(val, vi.data));
      vinfo ki;
      CHECK(vw_peek(key, &ki) == VW_OK && ki.kind != VK_LIST && ki.kind != VK_MAP);
      vb_reset(&kb);
      vb_reset(&vbv);
      rebuild(key, &kb, w);
      d = rebuild(val, &vbv, w);
      CHECK(!kb.failed && !vbv.failed);
      CHECK(span_eq(vb_span(&kb), key) && span_eq(vb_span(&vbv), val));
      vb_map_entry(out, key, val);
      if (d > depth) depth = d;
      if (w->n_items < MAX_COMPARED) w->items[w->n_items++] = key;
      if (w->n_items < MAX_COMPARED) w->items[w->n_items++] = val;
    }
    CHECK(it.p == it.end);
    vb_free(&kb);
    vb_free(&vbv);
    vb_map_end(out, mark);
    depth++;
    break;
  }
  default: CHECK(0);
  }
  return depth;
}

typedef struct ref_visit {
  const walk *w;
  size_t seen;
  size_t stop_at; /* return non-zero at this visit (1-based); 0: never */
} ref_visit;

static int on_ref(void *ctx, uint64_t id, sm_span type) {
  ref_visit *rv = ctx;
  CHECK(type.n > 0);
  if (rv->seen < MAX_REFS) CHECK(rv->w->ref_ids[rv->seen] == id);
  rv->seen++;
  return rv->seen == rv->stop_at ? 7 : 0;
}

static int sign(int x) { return (x > 0) - (x < 0); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Copy so ASan sees any read past the end of a heap block of exact size. */
  uint8_t *copy = malloc(size ? size : 1);
  CHECK(copy != NULL);
  if (size) memcpy(copy, data, size);
  sm_span v = {copy, size};

  vinfo top;
  unsigned flags = 0;
  int rc = vw_scan(v, VW_DEPTH_DEFAULT, &top, &flags);
  CHECK(rc == VW_OK || rc == VW_MALFORMED || rc == VW_TOO_DEEP || rc == VW_BAD_KEY);
  vinfo peeked;
  int prc = vw_peek(v, &peeked); /* on anything: must just answer */
  if (rc != VW_OK) {
    CHECK(prc == VW_OK || prc == VW_MALFORMED);
    /* A smaller depth cannot make a refused value acceptable. */
    CHECK(vw_scan(v, 1, NULL, NULL) != VW_OK);
    free(copy);
    return 0;
  }
  CHECK(prc == VW_OK && peeked.kind == top.kind);

  static walk w;
  w.refs = 0;
  w.n_scalars = 0;
  w.n_items = 0;
  vbuf out;
  vb_init(&out);
  unsigned depth = rebuild(v, &out, &w);
  CHECK(!out.failed);
  CHECK(span_eq(vb_span(&out), v)); /* canonical: the writer gives the same bytes */
  vb_free(&out);

  /* The depth limit is exact. */
  CHECK(vw_scan(v, depth, NULL, NULL) == VW_OK);
  if (depth > 0) CHECK(vw_scan(v, depth - 1, NULL, NULL) == VW_TOO_DEEP);

  /* Refs: the same ones, in the same order, and early stop works. */
  CHECK(((flags & VW_FLAG_HAS_REF) != 0) == (w.refs > 0));
  ref_visit rv = {.w = &w};
  CHECK(vw_each_ref(v, on_ref, &rv) == 0 && rv.seen == w.refs);
  if (w.refs > 0) {
    rv = (ref_visit){.w = &w, .stop_at = (w.refs + 1) / 2};
    CHECK(vw_each_ref(v, on_ref, &rv) == 7 && rv.seen == rv.stop_at);
  }

  /* Ordering of scalars, pairwise. */
  if (top.kind != VK_LIST && top.kind != VK_MAP && w.n_scalars < MAX_COMPARED)
    w.scalars[w.n_scalars++] = top;
  for (size_t i = 0; i < w.n_scalars; i++) {
    bool ok;
    int self = veq_compare(&w.scalars[i], &w.scalars[i], &ok);
    CHECK(self == 0);
    for (size_t j = i + 1; j < w.n_scalars; j++) {
      bool ab, ba;
      const vinfo *a = &w.scalars[i], *b = &w.scalars[j];
      int x = veq_compare(a, b, &ab);
      int y = veq_compare(b, a, &ba);
      CHECK(ab == ba);
      CHECK(sign(x) == -sign(y));
      if (!ab) CHECK(x == 0 && y == 0);
      bool nan = (a->kind == VK_DOUBLE && a->d != a->d) || (b->kind == VK_DOUBLE && b->d != b->d);
      if (ab && a->kind != VK_NIL && !nan) CHECK((x == 0) == veq_info_equal(a, b));
    }
  }

  /* Equality, pairwise over elements and the whole value. */
  if (w.n_items < MAX_COMPARED) w.items[w.n_items++] = v;
  for (size_t i = 0; i < w.n_items; i++) {
    sm_span a = w.items[i];
    CHECK(veq_match(a, a));
    vinfo ai;
    CHECK(vw_peek(a, &ai) == VW_OK);
    bool hashable = ai.kind != VK_LIST && ai.kind != VK_MAP;
    for (size_t j = i + 1; j < w.n_items; j++) {
      sm_span b = w.items[j];
      bool eq = veq_equal(a, b), m = veq_match(a, b);
      CHECK(eq == veq_equal(b, a) && m == veq_match(b, a));
      CHECK(!eq || m);
      if (m && hashable) CHECK(veq_hash(a) == veq_hash(b));
    }
  }
  int krc = veq_check_keys(v);
  CHECK(krc == VEQ_OK || krc == VEQ_DUP_KEY || krc == VEQ_NOMEM);
  free(copy);
  return 0;
}
