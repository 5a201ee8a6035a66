/* SPDX-License-Identifier: MIT */
/* value.c - the sm_value tree: constructors, accessors, copy, equality and
 * the Python-like text form.
 *
 * Lists and maps are arrays; a map keeps its entries in insertion order.
 * Keys are found by value with the daemon's own hash and equality
 * (proto/vequal.h, through val_info): a small map is scanned, a larger one
 * gets an open-addressing index of entry numbers, so building a map of n
 * entries is O(n). sm_value_equal walks two trees with the rules of
 * vequal.h's packed walker and the same scalar functions; the equality
 * suite checks that both give the same answer. The wire form lives in
 * codec.c. A new kind needs a case in each switch here and in codec.c. */
#include "value_internal.h"

#include "../proto/vequal.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>

/* Constructors: each returns a new value (caller frees with
 * sm_value_free()), or NULL when out of memory. */

sm_value *sm_value_nil(void) { return val_new(SM_NIL); }

sm_value *sm_value_bool(bool b) {
  sm_value *v = val_new(SM_BOOL);
  if (v) v->u.b = b;
  return v;
}

sm_value *sm_value_int(int64_t i) {
  sm_value *v = val_new(SM_INT);
  if (v) v->u.i = i;
  return v;
}

sm_value *sm_value_double(double d) {
  sm_value *v = val_new(SM_DOUBLE);
  if (v) v->u.d = d;
  return v;
}

/* Copies len bytes plus a terminating NUL into a new value of kind t. */
static sm_value *new_blob(sm_type t, const void *p, size_t len) {
  if (!p && len) return NULL;
  sm_value *v = val_new(t);
  if (!v) return NULL;
  v->u.s.p = malloc(len + 1);
  if (!v->u.s.p) {
    free(v);
    return NULL;
  }
  if (len) memcpy(v->u.s.p, p, len);
  v->u.s.p[len] = '\0';
  v->u.s.n = len;
  return v;
}

sm_value *sm_value_str(const char *s) { return s ? new_blob(SM_STR, s, strlen(s)) : NULL; }

/* A string may not hold NUL bytes (the wire refuses them): NULL then. */
sm_value *sm_value_strn(const char *s, size_t len) {
  if (s && memchr(s, '\0', len)) return NULL;
  return new_blob(SM_STR, s, len);
}

sm_value *sm_value_bytes(const void *p, size_t len) { return new_blob(SM_BYTES, p, len); }
sm_value *sm_value_list(void) { return val_new(SM_LIST); }
sm_value *sm_value_map(void) { return val_new(SM_MAP); }

/* Takes ownership of item, also on failure (except when item is the list
 * itself, which stays the caller's). */
int sm_value_list_append(sm_value *list, sm_value *item) {
  if (!list || list->type != SM_LIST || !item || item == list) {
    if (item != list) sm_value_free(item);
    return SM_EINVAL;
  }
  if (!val_list_push(list, item)) {
    sm_value_free(item);
    return SM_ENOMEM;
  }
  return SM_OK;
}

/* ---- map keys ---- */

/* Maps up to this many entries are scanned; larger ones are indexed. */
#define MAP_SCAN_MAX 8

static _Thread_local uint64_t map_probes;

uint64_t val_map_probes(void) { return map_probes; }

/* Fills out with v's top level; spans borrow from v. */
void val_info(const sm_value *v, vinfo *out) {
  memset(out, 0, sizeof *out);
  switch (sm_value_type(v)) {
  case SM_NIL: out->kind = VK_NIL; break;
  case SM_BOOL:
    out->kind = VK_BOOL;
    out->b = v->u.b;
    break;
  case SM_INT:
    out->kind = VK_INT;
    out->i = v->u.i;
    break;
  case SM_DOUBLE:
    out->kind = VK_DOUBLE;
    out->d = v->u.d;
    break;
  case SM_STR:
  case SM_BYTES:
    out->kind = v->type == SM_STR ? VK_STR : VK_BYTES;
    out->data = (sm_span){(const uint8_t *)v->u.s.p, v->u.s.n};
    break;
  case SM_REF:
    out->kind = VK_REF;
    out->ref_id = v->u.ref.id;
    out->data = (sm_span){(const uint8_t *)v->u.ref.type, strlen(v->u.ref.type)};
    break;
  case SM_LIST: out->kind = VK_LIST; break;
  case SM_MAP: out->kind = VK_MAP; break;
  }
}

/* The entry of map whose key matches the key described by (hash, key), as
 * a Python dict looks keys up (veq_info_match), or SIZE_MAX. */
static size_t map_find(const sm_value *map, uint64_t hash, const vinfo *key) {
  const val_entry *e = map->u.map.entries;
  vinfo ki;
  if (!map->u.map.index) {
    for (size_t i = 0; i < map->u.map.n; i++) {
      map_probes++;
      if (e[i].hash != hash) continue;
      val_info(e[i].key, &ki);
      if (veq_info_match(&ki, key)) return i;
    }
    return SIZE_MAX;
  }
  size_t mask = 2 * map->u.map.cap - 1;
  for (size_t s = hash & mask;; s = (s + 1) & mask) {
    uint32_t slot = map->u.map.index[s];
    if (slot == 0) return SIZE_MAX;
    map_probes++;
    if (e[slot - 1].hash != hash) continue;
    val_info(e[slot - 1].key, &ki);
    if (veq_info_match(&ki, key)) return slot - 1;
  }
}

/* Enters entry i into an index of mask + 1 slots. */
static void index_add(uint32_t *index, size_t mask, uint64_t hash, size_t i) {
  size_t s = hash & mask;
  while (index[s])
    s = (s + 1) & mask;
  index[s] = (uint32_t)(i + 1);
}

/* Makes room for one more entry: grows the array (doubling) and, once the
 * map is past MAP_SCAN_MAX entries, gives it an index of 2 * cap slots.
 * Returns false, the map unchanged, when out of memory. */
static bool map_reserve(sm_value *m) {
  size_t n = m->u.map.n, cap = m->u.map.cap;
  bool grow = n == cap;
  size_t ncap = grow ? (cap ? cap * 2 : 4) : cap;
  bool want_index = n + 1 > MAP_SCAN_MAX;
  if (n + 1 >= UINT32_MAX || ncap > SIZE_MAX / 2 / sizeof(val_entry)) return false;
  uint32_t *index = NULL;
  if (want_index && (grow || !m->u.map.index)) {
    if (!(index = calloc(2 * ncap, sizeof *index))) return false;
  }
  if (grow) {
    val_entry *e = realloc(m->u.map.entries, ncap * sizeof *e);
    if (!e) {
      free(index);
      return false;
    }
    m->u.map.entries = e;
    m->u.map.cap = ncap;
  }
  if (index) {
    for (size_t i = 0; i < n; i++)
      index_add(index, 2 * ncap - 1, m->u.map.entries[i].hash, i);
    free(m->u.map.index);
    m->u.map.index = index;
  }
  return true;
}

int val_map_put(sm_value *m, sm_value *k, sm_value *v) {
  vinfo ki;
  val_info(k, &ki);
  uint64_t hash = veq_hash_info(&ki);
  size_t i = map_find(m, hash, &ki);
  if (i != SIZE_MAX) {
    sm_value_free(m->u.map.entries[i].val);
    m->u.map.entries[i].val = v;
    sm_value_free(k);
    return 0;
  }
  if (!map_reserve(m)) return SM_ENOMEM;
  i = m->u.map.n++;
  m->u.map.entries[i] = (val_entry){k, v, hash};
  if (m->u.map.index) index_add(m->u.map.index, 2 * m->u.map.cap - 1, hash, i);
  return 0;
}

/* Takes ownership of key and val, also on failure. An equal key keeps its
 * place and its first key object, as a Python dict does. */
int sm_value_map_set(sm_value *map, sm_value *key, sm_value *val) {
  int rc = SM_OK;
  if (!map || map->type != SM_MAP || !key || !val || key == map || val == map)
    rc = SM_EINVAL;
  else if (key->type == SM_LIST || key->type == SM_MAP)
    rc = SM_ETYPE; /* unhashable, as in Python */
  if (rc == SM_OK) rc = val_map_put(map, key, val);
  if (rc != SM_OK) {
    if (key != map) sm_value_free(key);
    if (val != map) sm_value_free(val);
  }
  return rc;
}

/* A deep copy (caller frees with sm_value_free()), or NULL. */
sm_value *sm_value_copy(const sm_value *v) {
  if (!v) return NULL;
  sm_value *c = NULL;
  switch (v->type) {
  case SM_NIL:
  case SM_BOOL:
  case SM_INT:
  case SM_DOUBLE:
    if ((c = val_new(v->type))) c->u = v->u;
    return c;
  case SM_STR:
  case SM_BYTES: return new_blob(v->type, v->u.s.p, v->u.s.n);
  case SM_REF: return val_ref_new(v->u.ref.id, v->u.ref.type, strlen(v->u.ref.type));
  case SM_LIST:
    if (!(c = val_new(SM_LIST))) return NULL;
    for (size_t i = 0; i < v->u.list.n; i++) {
      sm_value *e = sm_value_copy(v->u.list.items[i]);
      if (!e || !val_list_push(c, e)) {
        sm_value_free(e);
        sm_value_free(c);
        return NULL;
      }
    }
    return c;
  case SM_MAP:
    if (!(c = val_new(SM_MAP))) return NULL;
    for (size_t i = 0; i < v->u.map.n; i++) {
      sm_value *k = sm_value_copy(v->u.map.entries[i].key);
      sm_value *e = sm_value_copy(v->u.map.entries[i].val);
      if (!k || !e || val_map_put(c, k, e) != 0) {
        sm_value_free(k);
        sm_value_free(e);
        sm_value_free(c);
        return NULL;
      }
    }
    return c;
  }
  return NULL;
}

/* Frees v and everything it owns. NULL (also as a list hole) is fine. */
void sm_value_free(sm_value *v) {
  if (!v) return;
  switch (v->type) {
  case SM_STR:
  case SM_BYTES: free(v->u.s.p); break;
  case SM_REF: free(v->u.ref.type); break;
  case SM_LIST:
    for (size_t i = 0; i < v->u.list.n; i++)
      sm_value_free(v->u.list.items[i]);
    free(v->u.list.items);
    break;
  case SM_MAP:
    for (size_t i = 0; i < v->u.map.n; i++) {
      sm_value_free(v->u.map.entries[i].key);
      sm_value_free(v->u.map.entries[i].val);
    }
    free(v->u.map.entries);
    free(v->u.map.index);
    break;
  default: break;
  }
  free(v);
}

/* Accessors: all borrowed views, valid while v lives. */

sm_type sm_value_type(const sm_value *v) { return v ? v->type : SM_NIL; }
bool sm_value_as_bool(const sm_value *v) { return v && v->type == SM_BOOL && v->u.b; }

int64_t sm_value_as_int(const sm_value *v) {
  if (!v) return 0;
  if (v->type == SM_INT) return v->u.i;
  if (v->type == SM_BOOL) return v->u.b;
  return 0;
}

double sm_value_as_double(const sm_value *v) {
  if (!v) return 0.0;
  if (v->type == SM_DOUBLE) return v->u.d;
  if (v->type == SM_INT) return (double)v->u.i;
  return 0.0;
}

const char *sm_value_as_str(const sm_value *v, size_t *len) {
  bool ok = v && v->type == SM_STR;
  if (len) *len = ok ? v->u.s.n : 0;
  return ok ? v->u.s.p : NULL;
}

const void *sm_value_as_bytes(const sm_value *v, size_t *len) {
  bool ok = v && v->type == SM_BYTES;
  if (len) *len = ok ? v->u.s.n : 0;
  return ok ? v->u.s.p : NULL;
}

size_t sm_value_len(const sm_value *v) {
  if (v && v->type == SM_LIST) return v->u.list.n;
  if (v && v->type == SM_MAP) return v->u.map.n;
  return 0;
}

const sm_value *sm_value_list_at(const sm_value *v, size_t i) {
  return v && v->type == SM_LIST && i < v->u.list.n ? v->u.list.items[i] : NULL;
}

const sm_value *sm_value_map_key_at(const sm_value *v, size_t i) {
  return v && v->type == SM_MAP && i < v->u.map.n ? v->u.map.entries[i].key : NULL;
}

const sm_value *sm_value_map_value_at(const sm_value *v, size_t i) {
  return v && v->type == SM_MAP && i < v->u.map.n ? v->u.map.entries[i].val : NULL;
}

const sm_value *sm_value_map_get(const sm_value *map, const sm_value *key) {
  if (!map || map->type != SM_MAP || !key || key->type == SM_LIST || key->type == SM_MAP)
    return NULL;
  vinfo ki;
  val_info(key, &ki);
  size_t i = map_find(map, veq_hash_info(&ki), &ki);
  return i == SIZE_MAX ? NULL : map->u.map.entries[i].val;
}

const char *sm_value_ref_type(const sm_value *v) {
  return v && v->type == SM_REF ? v->u.ref.type : NULL;
}

uint64_t sm_value_ref_id(const sm_value *v) { return v && v->type == SM_REF ? v->u.ref.id : 0; }

static bool tree_equal(const sm_value *a, const sm_value *b, bool match);

/* Element-wise, each pair matching as Python's list == does. */
static bool lists_equal(const sm_value *a, const sm_value *b) {
  if (a->u.list.n != b->u.list.n) return false;
  for (size_t i = 0; i < a->u.list.n; i++)
    if (!tree_equal(a->u.list.items[i], b->u.list.items[i], true)) return false;
  return true;
}

/* As many entries, and each key of a found in b with a matching value. No
 * two keys of a map are equal, so this one direction is vequal.h's
 * both-ways check. */
static bool maps_equal(const sm_value *a, const sm_value *b) {
  if (a->u.map.n != b->u.map.n) return false;
  for (size_t i = 0; i < a->u.map.n; i++) {
    const val_entry *e = &a->u.map.entries[i];
    vinfo ki;
    val_info(e->key, &ki);
    size_t j = map_find(b, e->hash, &ki);
    if (j == SIZE_MAX || !tree_equal(e->val, b->u.map.entries[j].val, true)) return false;
  }
  return true;
}

/* Python's == (match: its `is or ==`, where a NaN matches the same NaN) over
 * two trees, the rules of veq_equal/veq_match on their packed forms. */
static bool tree_equal(const sm_value *a, const sm_value *b, bool match) {
  sm_type ta = sm_value_type(a), tb = sm_value_type(b);
  if (ta == SM_LIST || tb == SM_LIST) return ta == tb && (a == b || lists_equal(a, b));
  if (ta == SM_MAP || tb == SM_MAP) return ta == tb && (a == b || maps_equal(a, b));
  vinfo x, y;
  val_info(a, &x);
  val_info(b, &y);
  return match ? veq_info_match(&x, &y) : veq_info_equal(&x, &y);
}

/* Python's == (proto/vequal.h): numbers by value across kinds, maps in any
 * order, refs by id; a NaN is not equal to itself. NULL counts as nil. */
bool sm_value_equal(const sm_value *a, const sm_value *b) { return tree_equal(a, b, false); }

const char *val_kind_name(sm_type t) {
  switch (t) {
  case SM_NIL: return "nil";
  case SM_BOOL: return "a bool";
  case SM_INT: return "an int";
  case SM_DOUBLE: return "a double";
  case SM_STR: return "a str";
  case SM_BYTES: return "bytes";
  case SM_LIST: return "a list";
  case SM_MAP: return "a map";
  case SM_REF: return "a ref";
  }
  return "an unknown kind";
}

/* ---- text form ---- */

static void put_text(vbuf *b, const char *s) {
  vb_append(b, (sm_span){(const uint8_t *)s, strlen(s)});
}

/* Python's repr of a str or bytes body: quote with ' unless the text holds '
 * and no ", escape the rest. Bytes also escape everything outside ASCII;
 * strings keep UTF-8 as it is. */
static void put_quoted(vbuf *b, const char *p, size_t n, bool bytes) {
  bool has_single = memchr(p, '\'', n) != NULL, has_double = memchr(p, '"', n) != NULL;
  char q = has_single && !has_double ? '"' : '\'';
  char quote[2] = {q, '\0'};
  if (bytes) put_text(b, "b");
  put_text(b, quote);
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)p[i];
    char esc[8];
    if (ch == '\\' || ch == (unsigned char)q) {
      esc[0] = '\\';
      esc[1] = (char)ch;
      esc[2] = '\0';
    } else if (ch == '\n')
      strcpy(esc, "\\n");
    else if (ch == '\r')
      strcpy(esc, "\\r");
    else if (ch == '\t')
      strcpy(esc, "\\t");
    else if (ch < 0x20 || ch == 0x7f || (bytes && ch >= 0x80))
      snprintf(esc, sizeof esc, "\\x%02x", ch);
    else {
      esc[0] = (char)ch;
      esc[1] = '\0';
    }
    put_text(b, esc);
  }
  put_text(b, quote);
}

/* Python's repr of a float: the shortest digits that read back the same,
 * positional for exponents -4..15, scientific otherwise, always with a
 * point or an exponent. */
static void put_double(vbuf *b, double d) {
  if (isnan(d) || isinf(d)) {
    put_text(b, isnan(d) ? "nan" : d < 0 ? "-inf" : "inf");
    return;
  }
  char sci[40];
  for (int prec = 0; prec < 17; prec++) {
    snprintf(sci, sizeof sci, "%.*e", prec, d);
    if (strtod(sci, NULL) == d) break;
  }
  /* sci is [-]D[.DDD]e(+|-)XX: gather the digits and the exponent. */
  char digits[32], out[64];
  size_t nd = 0, o = 0;
  const char *s = sci;
  if (*s == '-') out[o++] = *s++;
  for (; *s && *s != 'e'; s++)
    if (*s != '.') digits[nd++] = *s;
  int exp = atoi(s + 1);
  while (nd > 1 && digits[nd - 1] == '0')
    nd--;
  if (exp >= -4 && exp < 16) {
    if (exp < 0) {
      out[o++] = '0';
      out[o++] = '.';
      for (int z = -1; z > exp; z--)
        out[o++] = '0';
      for (size_t k = 0; k < nd; k++)
        out[o++] = digits[k];
    } else {
      for (int k = 0; k <= exp; k++)
        out[o++] = (size_t)k < nd ? digits[k] : '0';
      out[o++] = '.';
      if ((size_t)exp + 1 < nd)
        for (size_t k = (size_t)exp + 1; k < nd; k++)
          out[o++] = digits[k];
      else
        out[o++] = '0';
    }
    out[o] = '\0';
  } else {
    out[o++] = digits[0];
    if (nd > 1) {
      out[o++] = '.';
      for (size_t k = 1; k < nd; k++)
        out[o++] = digits[k];
    }
    snprintf(out + o, sizeof out - o, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
  }
  put_text(b, out);
}

/* Appends the text of v; nested marks strings to be quoted. */
static void put_value(vbuf *b, const sm_value *v, bool nested) {
  char num[32];
  switch (sm_value_type(v)) {
  case SM_NIL: put_text(b, "None"); break;
  case SM_BOOL: put_text(b, v->u.b ? "True" : "False"); break;
  case SM_INT:
    snprintf(num, sizeof num, "%" PRId64, v->u.i);
    put_text(b, num);
    break;
  case SM_DOUBLE: put_double(b, v->u.d); break;
  case SM_STR:
    if (nested)
      put_quoted(b, v->u.s.p, v->u.s.n, false);
    else
      vb_append(b, (sm_span){(const uint8_t *)v->u.s.p, v->u.s.n});
    break;
  case SM_BYTES: put_quoted(b, v->u.s.p, v->u.s.n, true); break;
  case SM_REF:
    snprintf(num, sizeof num, ":%" PRIu64 ">", v->u.ref.id);
    put_text(b, "<ref ");
    put_text(b, v->u.ref.type);
    put_text(b, num);
    break;
  case SM_LIST:
    put_text(b, "[");
    for (size_t i = 0; i < v->u.list.n; i++) {
      if (i) put_text(b, ", ");
      put_value(b, v->u.list.items[i], true);
    }
    put_text(b, "]");
    break;
  case SM_MAP:
    put_text(b, "{");
    for (size_t i = 0; i < v->u.map.n; i++) {
      if (i) put_text(b, ", ");
      put_value(b, v->u.map.entries[i].key, true);
      put_text(b, ": ");
      put_value(b, v->u.map.entries[i].val, true);
    }
    put_text(b, "}");
    break;
  }
}

/* Caller frees the result with sm_free(); NULL when out of memory. */
char *sm_value_to_text(const sm_value *v) {
  vbuf b;
  vb_init(&b);
  put_value(&b, v, false);
  vb_append(&b, (sm_span){(const uint8_t *)"", 1}); /* the terminating NUL */
  if (b.failed) {
    vb_free(&b);
    return NULL;
  }
  return (char *)b.p; /* vbuf memory comes from realloc: sm_free() releases it */
}
