/* SPDX-License-Identifier: MIT */
/* vequal.c - the equality, hash and order of vequal.h.
 *
 * Numbers are compared as an exact int64 whenever they are integral and in
 * range (bools, ints, integral doubles), else as a double, which is what
 * makes 1, 1.0 and True equal and hash alike while 2^53 + 1 stays apart
 * from the double 2^53. Maps with few entries are compared by scanning;
 * larger ones through a temporary open-addressing table of their entries
 * (falling back to scanning when memory runs out), so comparing maps and
 * checking their keys stays linear. */
#include "vequal.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#define XXH_INLINE_ALL /* header-only: the client library links no libxxhash */
#include <xxhash.h>

/* Up to this many entries a map is scanned rather than indexed. */
#define SCAN_MAX 8

/* Salts that keep the kinds apart in the hash (any distinct constants). */
enum {
  SALT_NIL = 0x6e696c,
  SALT_NUM = 0x6e756d,
  SALT_FLOAT = 0x666c74,
  SALT_STR = 0x737472,
  SALT_BYTES = 0x627974,
  SALT_REF = 0x726566,
  SALT_OTHER = 0x6f7468,
};

static uint64_t seed;
static pthread_once_t seed_once = PTHREAD_ONCE_INIT;

static void seed_init(void) {
  if (RAND_bytes((unsigned char *)&seed, sizeof seed) != 1)
    seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&seed;
}

uint64_t veq_seed(void) {
  pthread_once(&seed_once, seed_init);
  return seed;
}

static uint64_t mix(const void *p, size_t n, uint64_t salt) {
  return XXH3_64bits_withSeed(p, n, veq_seed() ^ salt);
}

/* d as an exact int64 when it is integral and in range; false otherwise
 * (NaN and the infinities included). */
static bool double_as_int(double d, int64_t *out) {
  if (!(d >= -0x1p63 && d < 0x1p63)) return false;
  int64_t t = (int64_t)d;
  if ((double)t != d) return false;
  *out = t;
  return true;
}

static bool is_number(vkind k) { return k == VK_BOOL || k == VK_INT || k == VK_DOUBLE; }

/* A number's value as an int when it is a bool or an int. */
static bool int_of(const vinfo *v, int64_t *out) {
  if (v->kind == VK_INT)
    *out = v->i;
  else if (v->kind == VK_BOOL)
    *out = v->b;
  else
    return false;
  return true;
}

uint64_t veq_hash_info(const vinfo *v) {
  int64_t i = 0;
  switch (v->kind) {
  case VK_NIL: return mix(NULL, 0, SALT_NIL);
  case VK_BOOL:
  case VK_INT: int_of(v, &i); break;
  case VK_DOUBLE:
    if (!double_as_int(v->d, &i)) return mix(&v->d, sizeof v->d, SALT_FLOAT);
    break;
  case VK_STR: return mix(v->data.p, v->data.n, SALT_STR);
  case VK_BYTES: return mix(v->data.p, v->data.n, SALT_BYTES);
  case VK_REF: return mix(&v->ref_id, sizeof v->ref_id, SALT_REF);
  default: return mix(NULL, 0, SALT_OTHER + v->kind);
  }
  return mix(&i, sizeof i, SALT_NUM);
}

uint64_t veq_hash(sm_span v) {
  vinfo vi;
  if (vw_peek(v, &vi) != VW_OK) return mix(v.p, v.n, SALT_OTHER);
  return veq_hash_info(&vi);
}

/* Compares a bool or int with a double exactly: <0, 0, >0; 0 for NaN. */
static int cmp_int_double(int64_t i, double d) {
  if (d != d) return 0;
  if (d >= 0x1p63) return -1;
  if (d < -0x1p63) return 1;
  int64_t t = (int64_t)d; /* truncated toward zero, exact in this range */
  if (i != t) return i < t ? -1 : 1;
  double frac = d - (double)t;
  return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

/* Orders two numbers exactly; 0 when equal or when a NaN is involved. */
static int cmp_numbers(const vinfo *a, const vinfo *b) {
  int64_t x, y;
  bool ai = int_of(a, &x), bi = int_of(b, &y);
  if (ai && bi) return (x > y) - (x < y);
  if (ai) return cmp_int_double(x, b->d);
  if (bi) return -cmp_int_double(y, a->d);
  return (a->d > b->d) - (a->d < b->d);
}

static bool equal_numbers(const vinfo *a, const vinfo *b) {
  if (a->kind == VK_DOUBLE && b->kind == VK_DOUBLE) return a->d == b->d;
  int64_t x, y;
  if (!int_of(a, &x)) return int_of(b, &y) && double_as_int(a->d, &x) && x == y;
  if (!int_of(b, &y)) return double_as_int(b->d, &y) && x == y;
  return x == y;
}

static bool same_span(sm_span a, sm_span b) {
  return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

bool veq_info_equal(const vinfo *a, const vinfo *b) {
  if (is_number(a->kind)) return is_number(b->kind) && equal_numbers(a, b);
  if (a->kind != b->kind) return false;
  switch (a->kind) {
  case VK_NIL: return true;
  case VK_STR:
  case VK_BYTES: return same_span(a->data, b->data);
  case VK_REF: return a->ref_id == b->ref_id;
  default: return false; /* lists and maps: compared packed */
  }
}

bool veq_info_match(const vinfo *a, const vinfo *b) {
  if (a->kind == VK_DOUBLE && b->kind == VK_DOUBLE && memcmp(&a->d, &b->d, sizeof a->d) == 0)
    return true;
  return veq_info_equal(a, b);
}

/* ---- lists and maps ---- */

static bool lists_equal(sm_span a, sm_span b) {
  vw_iter ia, ib;
  sm_span x, y;
  vw_iter_init(&ia, a);
  vw_iter_init(&ib, b);
  for (;;) {
    bool more_a = vw_list_next(&ia, &x), more_b = vw_list_next(&ib, &y);
    if (more_a != more_b) return false;
    if (!more_a) return true;
    if (!veq_match(x, y)) return false;
  }
}

static size_t map_len(sm_span body) {
  vw_iter it;
  sm_span k, v;
  size_t n = 0;
  vw_iter_init(&it, body);
  while (vw_map_next(&it, &k, &v))
    n++;
  return n;
}

/* A temporary open-addressing table over the entries of one map body. A
 * slot is 8 bytes: where its entry starts in the body and 32 bits of its
 * key's hash; the table is at most 2/3 full, so it costs at most 24 bytes
 * an entry, for entries that take at least 6 bytes on the wire. */
typedef struct mslot {
  uint32_t at;   /* offset of the entry in the body + 1; 0: empty */
  uint32_t hash; /* low bits of the key's hash */
} mslot;

typedef struct mtable {
  mslot *slots;
  size_t mask; /* slots - 1, a power of two */
  sm_span body;
} mtable;

/* Allocates an empty table for a body of the given entries; false when out
 * of memory or the body is too large for 32-bit offsets. */
static bool mt_init(mtable *t, sm_span body, size_t entries) {
  size_t n = 16;
  if (body.n >= UINT32_MAX) return false;
  while (n / 3 * 2 < entries) {
    if (n > SIZE_MAX / 2 / sizeof *t->slots) return false;
    n *= 2;
  }
  t->slots = calloc(n, sizeof *t->slots);
  t->mask = n - 1;
  t->body = body;
  return t->slots != NULL;
}

/* The key and value of the entry a used slot holds. */
static void mt_entry(const mtable *t, const mslot *s, sm_span *key, sm_span *val) {
  vw_iter it;
  vw_iter_init(&it, t->body);
  it.p += s->at - 1;
  vw_map_next(&it, key, val);
}

/* Looks for an entry whose key matches key (and, when val is not NULL, whose
 * value matches *val) from the slot hash leads to. Returns its slot, or NULL
 * with *empty (may be NULL) set to the free slot that ends the search. */
static mslot *mt_find(const mtable *t, uint64_t hash, sm_span key, const sm_span *val,
                      mslot **empty) {
  for (size_t i = hash & t->mask;; i = (i + 1) & t->mask) {
    mslot *s = &t->slots[i];
    if (s->at == 0) {
      if (empty) *empty = s;
      return NULL;
    }
    if (s->hash != (uint32_t)hash) continue;
    sm_span k, v;
    mt_entry(t, s, &k, &v);
    if (veq_match(k, key) && (!val || veq_match(v, *val))) return s;
  }
}

/* Adds every entry of the body, in order. With check_dups, stops at a key
 * equal to one added before and returns false; else keeps equal keys apart
 * (a body that is not a checked map may hold them). */
static bool mt_fill(mtable *t, bool check_dups) {
  vw_iter it;
  sm_span k, v;
  vw_iter_init(&it, t->body);
  for (;;) {
    uint32_t at = (uint32_t)(it.p - t->body.p) + 1;
    if (!vw_map_next(&it, &k, &v)) return true;
    uint64_t h = veq_hash(k);
    mslot *empty = NULL;
    if (check_dups && mt_find(t, h, k, NULL, &empty)) return false;
    if (!check_dups) {
      size_t i = h & t->mask;
      while (t->slots[i].at)
        i = (i + 1) & t->mask;
      empty = &t->slots[i];
    }
    *empty = (mslot){at, (uint32_t)h};
  }
}

/* True when a map body holds an entry with a key matching key and a value
 * matching val, by scanning. */
static bool scan_has_pair(sm_span body, sm_span key, sm_span val) {
  vw_iter it;
  sm_span k, v;
  vw_iter_init(&it, body);
  while (vw_map_next(&it, &k, &v))
    if (veq_match(k, key) && veq_match(v, val)) return true;
  return false;
}

/* True when every pair of map body a has a matching pair in b, which holds
 * nb entries. */
static bool pairs_within(sm_span a, sm_span b, size_t nb) {
  mtable t = {0};
  bool indexed = nb > SCAN_MAX && mt_init(&t, b, nb);
  if (indexed) mt_fill(&t, false);
  vw_iter it;
  sm_span k, v;
  bool all = true;
  vw_iter_init(&it, a);
  while (all && vw_map_next(&it, &k, &v))
    all = indexed ? mt_find(&t, veq_hash(k), k, &v, NULL) != NULL : scan_has_pair(b, k, v);
  free(t.slots);
  return all;
}

/* Maps are equal when they have as many entries and each pair of one has a
 * matching pair in the other. Checking both ways keeps the answer
 * symmetric for bytes that hold equal keys, which no map should. */
static bool maps_equal(sm_span a, sm_span b) {
  size_t na = map_len(a), nb = map_len(b);
  return na == nb && pairs_within(a, b, nb) && pairs_within(b, a, na);
}

static bool equal_packed(sm_span a, sm_span b) {
  vinfo x, y;
  if (vw_peek(a, &x) != VW_OK || vw_peek(b, &y) != VW_OK) return false;
  if (x.kind == VK_LIST) return y.kind == VK_LIST && lists_equal(x.data, y.data);
  if (x.kind == VK_MAP) return y.kind == VK_MAP && maps_equal(x.data, y.data);
  return veq_info_equal(&x, &y);
}

bool veq_equal(sm_span a, sm_span b) {
  if (same_span(a, b)) { /* the same bytes: equal, unless a NaN */
    vinfo x;
    return vw_peek(a, &x) == VW_OK && (x.kind != VK_DOUBLE || x.d == x.d);
  }
  return equal_packed(a, b);
}

bool veq_match(sm_span a, sm_span b) { return same_span(a, b) || equal_packed(a, b); }

/* ---- order ---- */

/* Classes of mutually ordered kinds; -1: orders with nothing. */
static int order_class(vkind k) {
  switch (k) {
  case VK_NIL: return 0;
  case VK_BOOL:
  case VK_INT:
  case VK_DOUBLE: return 1;
  case VK_STR: return 2;
  case VK_BYTES: return 3;
  default: return -1;
  }
}

static int cmp_bytes(sm_span a, sm_span b) {
  size_t n = a.n < b.n ? a.n : b.n;
  int c = n ? memcmp(a.p, b.p, n) : 0;
  if (c) return c < 0 ? -1 : 1;
  return (a.n > b.n) - (a.n < b.n);
}

int veq_compare(const vinfo *a, const vinfo *b, bool *comparable) {
  int ca = order_class(a->kind), cb = order_class(b->kind);
  *comparable = ca >= 0 && ca == cb;
  if (!*comparable) return 0;
  switch (ca) {
  case 0: return 0;
  case 1: return cmp_numbers(a, b);
  default: return cmp_bytes(a->data, b->data);
  }
}

/* ---- unique keys ---- */

/* Checks the keys of one map body of n entries. */
static int keys_unique(sm_span body, size_t n) {
  vw_iter it, jt;
  sm_span k, v, k2, v2;
  if (n <= SCAN_MAX) {
    vw_iter_init(&it, body);
    while (vw_map_next(&it, &k, &v)) {
      jt = it; /* the entries after k */
      while (vw_map_next(&jt, &k2, &v2))
        if (veq_match(k, k2)) return VEQ_DUP_KEY;
    }
    return VEQ_OK;
  }
  mtable t;
  if (!mt_init(&t, body, n)) return VEQ_NOMEM;
  int rc = mt_fill(&t, true) ? VEQ_OK : VEQ_DUP_KEY;
  free(t.slots);
  return rc;
}

int veq_check_keys(sm_span v) {
  vinfo vi;
  if (vw_peek(v, &vi) != VW_OK) return VEQ_OK;
  vw_iter it;
  sm_span a, b;
  int rc = VEQ_OK;
  switch (vi.kind) {
  case VK_LIST:
    vw_iter_init(&it, vi.data);
    while (rc == VEQ_OK && vw_list_next(&it, &a))
      rc = veq_check_keys(a);
    return rc;
  case VK_MAP:
    rc = keys_unique(vi.data, map_len(vi.data));
    vw_iter_init(&it, vi.data);
    while (rc == VEQ_OK && vw_map_next(&it, &a, &b)) /* keys are scalars: only values nest */
      rc = veq_check_keys(b);
    return rc;
  default: return VEQ_OK;
  }
}
