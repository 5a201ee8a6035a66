/* SPDX-License-Identifier: MIT */
/* vwire.c - validating reader and composing writer for packed Values.
 *
 * Field tags of statemgr.proto that this file knows by number; keep them in
 * step with the .proto (tests/check_wire.c compares every kind with
 * protobuf-c's encoding byte for byte). */
#include "vwire.h"

#include "pbwire.h"

#include <stdlib.h>
#include <string.h>

enum {
  WT_VARINT = 0,
  WT_I64 = 1,
  WT_LEN = 2,
  /* Value fields */
  TAG_BOOL = (2 << 3) | WT_VARINT,
  TAG_INT = (3 << 3) | WT_VARINT,
  TAG_DOUBLE = (4 << 3) | WT_I64,
  TAG_STR = (5 << 3) | WT_LEN,
  TAG_BYTES = (6 << 3) | WT_LEN,
  TAG_LIST = (7 << 3) | WT_LEN,
  TAG_MAP = (8 << 3) | WT_LEN,
  TAG_REF = (9 << 3) | WT_LEN,
  /* ValueList.items, ValueMap.entries, MapEntry.key, ObjRef.id */
  TAG_F1_LEN = (1 << 3) | WT_LEN,
  TAG_F1_VARINT = (1 << 3) | WT_VARINT,
  /* MapEntry.value, ObjRef.type */
  TAG_F2_LEN = (2 << 3) | WT_LEN,
};

static int scan_value(sm_span v, unsigned depth_left, vinfo *top, unsigned *flags);

static int scan_list(sm_span body, unsigned depth_left, unsigned *flags) {
  const uint8_t *p = body.p, *end = body.p + body.n;
  while (p < end) {
    sm_span item;
    if (*p++ != TAG_F1_LEN || !pb_get_len(&p, end, &item)) return VW_MALFORMED;
    int rc = scan_value(item, depth_left, NULL, flags);
    if (rc != VW_OK) return rc;
  }
  return VW_OK;
}

static int scan_map(sm_span body, unsigned depth_left, unsigned *flags) {
  const uint8_t *p = body.p, *end = body.p + body.n;
  while (p < end) {
    sm_span entry, key, val;
    if (*p++ != TAG_F1_LEN || !pb_get_len(&p, end, &entry)) return VW_MALFORMED;
    const uint8_t *q = entry.p, *qend = entry.p + entry.n;
    if (q >= qend || *q++ != TAG_F1_LEN || !pb_get_len(&q, qend, &key)) return VW_MALFORMED;
    if (q >= qend || *q++ != TAG_F2_LEN || !pb_get_len(&q, qend, &val)) return VW_MALFORMED;
    if (q != qend) return VW_MALFORMED;
    vinfo ki;
    int rc = scan_value(key, depth_left, &ki, flags);
    if (rc != VW_OK) return rc;
    if (ki.kind == VK_LIST || ki.kind == VK_MAP) return VW_BAD_KEY;
    rc = scan_value(val, depth_left, NULL, flags);
    if (rc != VW_OK) return rc;
  }
  return VW_OK;
}

static int scan_ref(sm_span body, vinfo *out) {
  const uint8_t *p = body.p, *end = body.p + body.n;
  uint64_t id;
  sm_span type;
  if (p >= end || *p++ != TAG_F1_VARINT || !pb_get_varint(&p, end, &id)) return VW_MALFORMED;
  if (p >= end || *p++ != TAG_F2_LEN || !pb_get_len(&p, end, &type)) return VW_MALFORMED;
  if (p != end || type.n == 0 || memchr(type.p, 0, type.n)) return VW_MALFORMED;
  out->ref_id = id;
  out->data = type;
  return VW_OK;
}

/* Decodes the single field of a Value; containers are not descended. */
static int peek(sm_span v, vinfo *out) {
  memset(out, 0, sizeof *out);
  if (v.n == 0) {
    out->kind = VK_NIL;
    return VW_OK;
  }
  const uint8_t *p = v.p, *end = v.p + v.n;
  uint8_t tag = *p++;
  uint64_t u;
  switch (tag) {
  case TAG_BOOL:
    if (!pb_get_varint(&p, end, &u) || u > 1) return VW_MALFORMED;
    out->kind = VK_BOOL;
    out->b = u == 1;
    break;
  case TAG_INT:
    if (!pb_get_varint(&p, end, &u)) return VW_MALFORMED;
    out->kind = VK_INT;
    out->i = pb_unzigzag(u);
    break;
  case TAG_DOUBLE:
    if (end - p < 8) return VW_MALFORMED;
    u = 0;
    for (int k = 7; k >= 0; k--)
      u = (u << 8) | p[k];
    memcpy(&out->d, &u, sizeof out->d);
    out->kind = VK_DOUBLE;
    p += 8;
    break;
  case TAG_STR: /* scan_value refuses a NUL inside; lookups need not look again */
    if (!pb_get_len(&p, end, &out->data)) return VW_MALFORMED;
    out->kind = VK_STR;
    break;
  case TAG_BYTES:
    if (!pb_get_len(&p, end, &out->data)) return VW_MALFORMED;
    out->kind = VK_BYTES;
    break;
  case TAG_LIST:
    if (!pb_get_len(&p, end, &out->data)) return VW_MALFORMED;
    out->kind = VK_LIST;
    break;
  case TAG_MAP:
    if (!pb_get_len(&p, end, &out->data)) return VW_MALFORMED;
    out->kind = VK_MAP;
    break;
  case TAG_REF: {
    sm_span body;
    if (!pb_get_len(&p, end, &body) || scan_ref(body, out) != VW_OK) return VW_MALFORMED;
    out->kind = VK_REF;
    break;
  }
  default: return VW_MALFORMED;
  }
  return p == end ? VW_OK : VW_MALFORMED; /* exactly one field */
}

static int scan_value(sm_span v, unsigned depth_left, vinfo *top, unsigned *flags) {
  vinfo local;
  vinfo *vi = top ? top : &local;
  if (peek(v, vi) != VW_OK) return VW_MALFORMED;
  switch (vi->kind) {
  case VK_STR: return memchr(vi->data.p, 0, vi->data.n) ? VW_MALFORMED : VW_OK;
  case VK_LIST:
    if (depth_left == 0) return VW_TOO_DEEP;
    return scan_list(vi->data, depth_left - 1, flags);
  case VK_MAP:
    if (depth_left == 0) return VW_TOO_DEEP;
    *flags |= VW_FLAG_HAS_MAP;
    return scan_map(vi->data, depth_left - 1, flags);
  case VK_REF: *flags |= VW_FLAG_HAS_REF; return VW_OK;
  default: return VW_OK;
  }
}

int vw_scan(sm_span v, unsigned max_depth, vinfo *top, unsigned *flags) {
  unsigned local = 0;
  return scan_value(v, max_depth, top, flags ? flags : &local);
}

int vw_peek(sm_span v, vinfo *out) { return peek(v, out); }

void vw_iter_init(vw_iter *it, sm_span body) {
  it->p = body.p;
  /* A nil value's data is {NULL, 0}; NULL + 0 is undefined in C. */
  it->end = body.n ? body.p + body.n : body.p;
}

bool vw_list_next(vw_iter *it, sm_span *item) {
  if (it->p >= it->end || *it->p != TAG_F1_LEN) return false;
  it->p++;
  return pb_get_len(&it->p, it->end, item);
}

bool vw_map_next(vw_iter *it, sm_span *key, sm_span *val) {
  sm_span entry;
  if (!vw_list_next(it, &entry)) return false; /* same framing as list items */
  const uint8_t *q = entry.p, *qend = entry.p + entry.n;
  if (q >= qend || *q++ != TAG_F1_LEN || !pb_get_len(&q, qend, key)) return false;
  if (q >= qend || *q++ != TAG_F2_LEN || !pb_get_len(&q, qend, val)) return false;
  return true;
}

int vw_each_ref(sm_span v, vw_ref_cb cb, void *ctx) {
  vinfo vi;
  if (peek(v, &vi) != VW_OK) return 0;
  vw_iter it;
  sm_span a, b;
  int rc = 0;
  switch (vi.kind) {
  case VK_REF: return cb(ctx, vi.ref_id, vi.data);
  case VK_LIST:
    vw_iter_init(&it, vi.data);
    while (rc == 0 && vw_list_next(&it, &a))
      rc = vw_each_ref(a, cb, ctx);
    return rc;
  case VK_MAP:
    vw_iter_init(&it, vi.data);
    while (rc == 0 && vw_map_next(&it, &a, &b)) {
      rc = vw_each_ref(a, cb, ctx);
      if (rc == 0) rc = vw_each_ref(b, cb, ctx);
    }
    return rc;
  default: return 0;
  }
}

/* ---- writer ---- */

void vb_init(vbuf *b) { memset(b, 0, sizeof *b); }
void vb_reset(vbuf *b) {
  b->len = 0;
  b->failed = false;
}
void vb_free(vbuf *b) {
  free(b->p);
  vb_init(b);
}
sm_span vb_span(const vbuf *b) { return (sm_span){b->p, b->len}; }

static bool reserve(vbuf *b, size_t extra) {
  if (b->failed) return false;
  if (b->cap - b->len >= extra) return true;
  size_t cap = b->cap ? b->cap : 64;
  while (cap - b->len < extra) {
    if (cap > SIZE_MAX / 2) {
      b->failed = true;
      return false;
    }
    cap *= 2;
  }
  uint8_t *p = realloc(b->p, cap);
  if (!p) {
    b->failed = true;
    return false;
  }
  b->p = p;
  b->cap = cap;
  return true;
}

static void put_varint(vbuf *b, uint64_t v) {
  if (reserve(b, 10)) b->len += pb_put_varint(b->p + b->len, v);
}

static void put_byte(vbuf *b, uint8_t c) {
  if (reserve(b, 1)) b->p[b->len++] = c;
}

static void put_field(vbuf *b, uint8_t tag, const void *s, size_t n) {
  put_byte(b, tag);
  put_varint(b, n);
  if (n && reserve(b, n)) {
    memcpy(b->p + b->len, s, n);
    b->len += n;
  }
}

void vb_bool(vbuf *b, bool v) {
  put_byte(b, TAG_BOOL);
  put_byte(b, v ? 1 : 0);
}

void vb_int(vbuf *b, int64_t v) {
  put_byte(b, TAG_INT);
  put_varint(b, pb_zigzag(v));
}

void vb_double(vbuf *b, double v) {
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  put_byte(b, TAG_DOUBLE);
  if (!reserve(b, 8)) return;
  for (int k = 0; k < 8; k++)
    b->p[b->len++] = (uint8_t)(u >> (8 * k));
}

void vb_str(vbuf *b, const void *s, size_t n) { put_field(b, TAG_STR, s, n); }
void vb_bytes(vbuf *b, const void *s, size_t n) { put_field(b, TAG_BYTES, s, n); }

void vb_ref(vbuf *b, uint64_t id, const char *type) {
  size_t tlen = strlen(type);
  size_t body = 1 + pb_varint_size(id) + 1 + pb_varint_size(tlen) + tlen;
  put_byte(b, TAG_REF);
  put_varint(b, body);
  put_byte(b, TAG_F1_VARINT);
  put_varint(b, id);
  put_field(b, TAG_F2_LEN, type, tlen);
}

void vb_append(vbuf *b, sm_span raw) {
  if (raw.n && reserve(b, raw.n)) {
    memcpy(b->p + b->len, raw.p, raw.n);
    b->len += raw.n;
  }
}

uint8_t *vb_grow(vbuf *b, size_t n) {
  if (!reserve(b, n)) return NULL;
  uint8_t *at = b->p + b->len;
  b->len += n;
  return at;
}

/* Wraps the bytes written since mark into tag + length, in place. */
static void wrap(vbuf *b, size_t mark, uint8_t tag) {
  if (b->failed) return;
  size_t body = b->len - mark;
  size_t hdr = 1 + pb_varint_size(body);
  if (!reserve(b, hdr)) return;
  memmove(b->p + mark + hdr, b->p + mark, body);
  size_t end = b->len + hdr;
  b->len = mark;
  put_byte(b, tag);
  put_varint(b, body);
  b->len = end;
}

size_t vb_list_begin(vbuf *b) { return b->len; }
void vb_list_item(vbuf *b, sm_span item) { put_field(b, TAG_F1_LEN, item.p, item.n); }
size_t vb_list_begin_item(vbuf *b) { return b->len; }
void vb_list_end_item(vbuf *b, size_t mark) { wrap(b, mark, TAG_F1_LEN); }
void vb_list_end(vbuf *b, size_t mark) { wrap(b, mark, TAG_LIST); }
size_t vb_map_begin(vbuf *b) { return b->len; }

void vb_map_entry(vbuf *b, sm_span key, sm_span val) {
  size_t body = 1 + pb_varint_size(key.n) + key.n + 1 + pb_varint_size(val.n) + val.n;
  put_byte(b, TAG_F1_LEN);
  put_varint(b, body);
  put_field(b, TAG_F1_LEN, key.p, key.n);
  put_field(b, TAG_F2_LEN, val.p, val.n);
}

void vb_map_end(vbuf *b, size_t mark) { wrap(b, mark, TAG_MAP); }

void vb_list_int(vbuf *b, int64_t v) {
  if (!reserve(b, 13)) return; /* tag, length (an int takes at most 11), tag, varint */
  uint8_t *p = b->p + b->len;
  size_t n = pb_put_varint(p + 3, pb_zigzag(v));
  p[0] = TAG_F1_LEN;
  p[1] = (uint8_t)(1 + n);
  p[2] = TAG_INT;
  b->len += 3 + n;
}
