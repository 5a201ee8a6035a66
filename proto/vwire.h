/* SPDX-License-Identifier: MIT */
/* vwire.h - the Value wire format, read and written without unpacking.
 *
 * The daemon keeps every stored value as the packed `Value` message it
 * arrived in (see statemgr.proto). This module validates such bytes once,
 * when they enter the daemon (vw_scan), then lets the object types look
 * inside cheaply (vw_peek, the iterators) and compose results out of stored
 * pieces without re-encoding them (vbuf). The client library encodes and
 * decodes values with the same functions. vw_scan is stricter than
 * protobuf-c (canonical varints, one oneof field, no NUL in strings): what it
 * accepts, protobuf-c accepts and re-encodes to the same bytes (check_wire.c
 * proves it), so identical bytes are always equal values. Python's equality,
 * under which different bytes can be equal (1 and 1.0), is vequal.h's. */
#ifndef SM_PROTO_VWIRE_H
#define SM_PROTO_VWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A borrowed run of bytes. */
typedef struct sm_span {
  const uint8_t *p;
  size_t n;
} sm_span;

typedef enum vkind {
  VK_NIL = 0,
  VK_BOOL,
  VK_INT,
  VK_DOUBLE,
  VK_STR,
  VK_BYTES,
  VK_LIST,
  VK_MAP,
  VK_REF,
} vkind;

/* The top level of one packed value. */
typedef struct vinfo {
  vkind kind;
  bool b;          /**< VK_BOOL */
  int64_t i;       /**< VK_INT */
  double d;        /**< VK_DOUBLE */
  sm_span data;    /**< VK_STR/VK_BYTES contents, VK_LIST/VK_MAP body, VK_REF type name */
  uint64_t ref_id; /**< VK_REF */
} vinfo;

typedef enum vw_result {
  VW_OK = 0,
  VW_MALFORMED = -1, /* not a canonical packed Value */
  VW_TOO_DEEP = -2,  /* lists/maps nested deeper than allowed */
  VW_BAD_KEY = -3,   /* a map key that is a list or a map (unhashable) */
} vw_result;

#define VW_FLAG_HAS_REF 1u /* the value contains at least one ObjRef */
#define VW_FLAG_HAS_MAP 2u /* the value is or contains a map */
/* Nesting of lists and maps. The daemon stores values up to its
 * --max-depth (default VW_DEPTH_DEFAULT, at most VW_DEPTH_MAX) and tells
 * clients its limit in the handshake. Its results may wrap stored values in
 * VW_DEPTH_REPLY_EXTRA more levels (dict items: [[key, value], ...]), so a
 * client reads replies up to VW_DEPTH_REPLY_MAX: whatever a daemon stored
 * comes back readable. */
#define VW_DEPTH_DEFAULT 64u
#define VW_DEPTH_MAX 1000u
#define VW_DEPTH_REPLY_EXTRA 8u
#define VW_DEPTH_REPLY_MAX (VW_DEPTH_MAX + VW_DEPTH_REPLY_EXTRA)

/* Validates a whole packed value; nesting of lists and maps may reach
 * max_depth levels. Fills *top (may be NULL) and ORs VW_FLAG_* into *flags
 * (may be NULL). Returns VW_OK or a negative vw_result. */
int vw_scan(sm_span v, unsigned max_depth, vinfo *top, unsigned *flags);

/* Decodes the top level of a value that vw_scan accepted before. Returns VW_OK
 * or VW_MALFORMED (never for scanned bytes). It checks the framing only, not
 * all vw_scan does (a NUL inside a string, say): validate with vw_scan. */
int vw_peek(sm_span v, vinfo *out);

/* Iterates the elements of a scanned VK_LIST or VK_MAP (from vinfo.data);
 * an empty span (a nil value's data included) has no elements. */
typedef struct vw_iter {
  const uint8_t *p, *end;
} vw_iter;
void vw_iter_init(vw_iter *it, sm_span body);
bool vw_list_next(vw_iter *it, sm_span *item);
bool vw_map_next(vw_iter *it, sm_span *key, sm_span *val);

/* Calls cb for each ObjRef inside a scanned value, depth first; stops at and
 * returns the first non-zero cb result, else 0. */
typedef int (*vw_ref_cb)(void *ctx, uint64_t id, sm_span type);
int vw_each_ref(sm_span v, vw_ref_cb cb, void *ctx);

/* A growable output buffer that composes packed values. On allocation
 * failure it sets failed and ignores further writes. */
typedef struct vbuf {
  uint8_t *p;
  size_t len, cap;
  bool failed;
} vbuf;

void vb_init(vbuf *b);
void vb_reset(vbuf *b); /* empties, keeps the memory */
void vb_free(vbuf *b);  /* releases the memory; b may be reused after vb_init */
sm_span vb_span(const vbuf *b);

/* Scalars, each a complete top-level value. Nil is the empty value: write
 * nothing. */
void vb_bool(vbuf *b, bool v);
void vb_int(vbuf *b, int64_t v);
void vb_double(vbuf *b, double v);
void vb_str(vbuf *b, const void *s, size_t n);
void vb_bytes(vbuf *b, const void *s, size_t n);
void vb_ref(vbuf *b, uint64_t id, const char *type);
void vb_append(vbuf *b, sm_span raw); /* copies bytes as they are */
/* Appends n uninitialised bytes and returns where they start, or NULL (and
 * failed set) when out of memory. */
uint8_t *vb_grow(vbuf *b, size_t n);

/* Containers: begin returns a mark; add elements; end wraps them. Elements
 * are packed values (spans). Containers nest: vb_list_begin_item() opens an
 * element whose contents are written in place and closed by
 * vb_list_end_item(). */
size_t vb_list_begin(vbuf *b);
void vb_list_item(vbuf *b, sm_span item);
size_t vb_list_begin_item(vbuf *b);
void vb_list_end_item(vbuf *b, size_t mark);
void vb_list_end(vbuf *b, size_t mark);
size_t vb_map_begin(vbuf *b);
void vb_map_entry(vbuf *b, sm_span key, sm_span val);
void vb_map_end(vbuf *b, size_t mark);

/* An item holding an int, as vb_list_begin_item + vb_int +
 * vb_list_end_item write it, with one reservation. (For a caller that
 * sizes its buffer first, pbwire.h has vw_item_size and vw_put_item.) */
void vb_list_int(vbuf *b, int64_t v);

#endif
