/* SPDX-License-Identifier: MIT */
/* pbwire.h - the few protobuf wire-format primitives that proto/'s
 * hand-written codecs share (vwire.c for values, msg.c for requests and
 * responses): varints, fixed32 and length-delimited fields. Reading accepts only
 * canonical varints, so equal values always have equal bytes. */
#ifndef SM_PROTO_PBWIRE_H
#define SM_PROTO_PBWIRE_H

#include "vwire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

#define PB_TAG(field, wire) ((uint8_t)(((field) << 3) | (wire)))

/* Reads a canonical varint (no redundant trailing zero groups). */
static inline bool pb_get_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out) {
  const uint8_t *p = *pp;
  uint64_t v = 0;
  for (unsigned shift = 0; shift < 64 && p < end; shift += 7) {
    uint8_t byte = *p++;
    if (shift == 63 && byte > 1) return false;
    v |= (uint64_t)(byte & 0x7f) << shift;
    if (!(byte & 0x80)) {
      if (byte == 0 && shift > 0) return false; /* overlong */
      *pp = p;
      *out = v;
      return true;
    }
  }
  return false;
}

/* Reads a length-delimited payload (borrowed from the input). */
static inline bool pb_get_len(const uint8_t **pp, const uint8_t *end, sm_span *out) {
  uint64_t n;
  if (!pb_get_varint(pp, end, &n)) return false;
  if (n > (uint64_t)(end - *pp)) return false;
  out->p = *pp;
  out->n = (size_t)n;
  *pp += n;
  return true;
}

/* Skips the value of an unknown field of the given wire type. */
static inline bool pb_skip(const uint8_t **pp, const uint8_t *end, unsigned wire) {
  uint64_t v;
  sm_span s;
  switch (wire) {
  case PB_VARINT: return pb_get_varint(pp, end, &v);
  case PB_I64:
    if (end - *pp < 8) return false;
    *pp += 8;
    return true;
  case PB_LEN: return pb_get_len(pp, end, &s);
  case PB_I32:
    if (end - *pp < 4) return false;
    *pp += 4;
    return true;
  default: return false; /* groups are not used by statemgr.proto */
  }
}

static inline size_t pb_varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

/* Writes a varint at p (room for 10 bytes) and returns the bytes written. */
static inline size_t pb_put_varint(uint8_t *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

/* Reads a fixed32 field's value (little-endian). */
static inline bool pb_get_fixed32(const uint8_t **pp, const uint8_t *end, uint32_t *out) {
  const uint8_t *p = *pp;
  if (end - p < 4) return false;
  *out = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
  *pp = p + 4;
  return true;
}

/* Writes v as a fixed32 value at p (4 bytes) and returns 4. */
static inline size_t pb_put_fixed32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
  return 4;
}

static inline uint64_t pb_zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t pb_unzigzag(uint64_t u) { return (int64_t)(u >> 1) ^ -(int64_t)(u & 1); }

/* Writers of list items for a caller that sizes its buffer first (cmd.c
 * writes a record per change), inline: the bytes vb_list_item writes.
 * vw_item_size: the bytes of a list item holding a packed value of n
 * bytes. vw_put_item: the item holding item, written at p
 * (vw_item_size(item.n) bytes); returns where it ends. */
#define PB_TAG_ITEM ((1 << 3) | 2) /* ValueList.items: field 1, length-delimited */

static inline size_t vw_item_size(size_t n) { return 1 + pb_varint_size(n) + n; }

static inline uint8_t *vw_put_item(uint8_t *p, sm_span item) {
  *p++ = PB_TAG_ITEM;
  p += pb_put_varint(p, item.n);
  if (item.n) memcpy(p, item.p, item.n);
  return p + item.n;
}

#endif
