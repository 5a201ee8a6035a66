/* SPDX-License-Identifier: MIT */
/* sval.h - a stored value: the packed bytes a client sent, kept as they are.
 *
 * One allocation holds the length, the flags and the bytes. A value that
 * holds ObjRefs keeps each anonymous referent alive (one reference per
 * stored occurrence), and gives the references back when freed, so a dict
 * holding an anonymous list keeps that list as long as the entry exists. */
#ifndef SM_SERVER_SVAL_H
#define SM_SERVER_SVAL_H

#include "../proto/vwire.h"
#include "object.h"

#include <stdint.h>

typedef struct registry registry;

typedef struct sval {
  uint32_t len;
  uint32_t flags; /* VW_FLAG_* from vw_scan */
  uint8_t data[];
} sval;

/* Copies a validated packed value (flags from vw_scan); takes a reference on
 * every anonymous object it refers to. Returns NULL when out of memory or
 * longer than 4 GiB. The caller owns the result: free with sval_free(). */
sval *sval_new(registry *reg, sm_span packed, unsigned flags);

/* Copies a value a snapshot saved (vw_scan accepted it) without taking
 * references: the objects it refers to get their saved counts back from
 * snap_load. Returns NULL when out of memory or longer than 4 GiB. The
 * caller owns the result: free with sval_free(), which gives the
 * references back as for any stored value. */
sval *sval_restore(registry *reg, sm_span packed);

/* Calls visit with the id of every object v refers to, once per reference
 * it took (obj_type.traverse). */
void sval_traverse(const sval *v, ref_visit_fn visit, void *ctx);

/* Drops the references the value holds and frees it; NULL is fine. */
void sval_free(registry *reg, sval *v);

/* The bytes, borrowed while v lives. */
sm_span sval_span(const sval *v);

/* True when the stored value matches the packed one as a container
 * element does in Python: equal by proto/vequal.h (1 matches 1.0, maps in
 * any order), or the very same bytes (a NaN matches the same NaN). */
bool sval_equals(const sval *v, sm_span packed);

#endif
