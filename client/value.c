/* value.c - the sm_value tree: constructors, accessors, copy, equality and
 * the Python-like text form.
 *
 * Lists and maps are arrays; a map keeps its entries in insertion order and
 * finds keys by a linear scan (values are small client-side trees; the
 * daemon holds the big tables). The wire form lives in codec.c. A new kind
 * needs a case in each switch here and in codec.c. */
#include "value_internal.h"

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

/* The index of the entry whose key equals key, or SIZE_MAX. */
static size_t map_find(const sm_value *map, const sm_value *key) {
  for (size_t i = 0; i < map->u.map.n; i++)
    if (sm_value_equal(map->u.map.entries[i].key, key)) return i;
  return SIZE_MAX;
}

/* Takes ownership of key and val, also on failure. An equal key keeps its
 * place and its first key object, as a Python dict does. */
int sm_value_map_set(sm_value *map, sm_value *key, sm_value *val) {
  int rc = SM_OK;
  if (!map || map->type != SM_MAP || !key || !val || key == map || val == map)
    rc = SM_EINVAL;
  else if (key->type == SM_LIST || key->type == SM_MAP)
    rc = SM_ETYPE; /* unhashable, as in Python */
  if (rc != SM_OK) {
    if (key != map) sm_value_free(key);
    if (val != map) sm_value_free(val);
    return rc;
  }
  size_t i = map_find(map, key);
  if (i != SIZE_MAX) {
    sm_value_free(map->u.map.entries[i].val);
    map->u.map.entries[i].val = val;
    sm_value_free(key);
    return SM_OK;
  }
  if (!val_map_push(map, key, val)) {
    sm_value_free(key);
    sm_value_free(val);
    return SM_ENOMEM;
  }
  return SM_OK;
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
      if (!k || !e || !val_map_push(c, k, e)) {
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
  if (!map || map->type != SM_MAP || !key) return NULL;
  size_t i = map_find(map, key);
  return i == SIZE_MAX ? NULL : map->u.map.entries[i].val;
}

const char *sm_value_ref_type(const sm_value *v) {
  return v && v->type == SM_REF ? v->u.ref.type : NULL;
}

uint64_t sm_value_ref_id(const sm_value *v) { return v && v->type == SM_REF ? v->u.ref.id : 0; }

/* Deep equality. Kinds must match (the int 1 is not the double 1.0, as the
 * daemon's keys see it); maps are equal when they hold the same entries,
 * whatever their order, as Python's dicts are. NULL counts as nil. */
bool sm_value_equal(const sm_value *a, const sm_value *b) {
  if (a == b) return true;
  if (sm_value_type(a) != sm_value_type(b)) return false;
  if (!a || !b) return true; /* both nil */
  switch (a->type) {
  case SM_NIL: return true;
  case SM_BOOL: return a->u.b == b->u.b;
  case SM_INT: return a->u.i == b->u.i;
  case SM_DOUBLE: return a->u.d == b->u.d;
  case SM_STR:
  case SM_BYTES: return a->u.s.n == b->u.s.n && memcmp(a->u.s.p, b->u.s.p, a->u.s.n) == 0;
  case SM_REF: return a->u.ref.id == b->u.ref.id && strcmp(a->u.ref.type, b->u.ref.type) == 0;
  case SM_LIST:
    if (a->u.list.n != b->u.list.n) return false;
    for (size_t i = 0; i < a->u.list.n; i++)
      if (!sm_value_equal(a->u.list.items[i], b->u.list.items[i])) return false;
    return true;
  case SM_MAP:
    if (a->u.map.n != b->u.map.n) return false;
    for (size_t i = 0; i < a->u.map.n; i++) {
      const sm_value *other = sm_value_map_get(b, a->u.map.entries[i].key);
      if (!other || !sm_value_equal(a->u.map.entries[i].val, other)) return false;
    }
    return true;
  }
  return false;
}

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
