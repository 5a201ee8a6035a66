/* SPDX-License-Identifier: MIT */
/* txn_undo.h - the undo images of a transaction: what each object it
 * changes was before its first change, so a transaction whose call fails
 * can put every object back as it found it (txn.c).
 *
 * An image is the type's own snapshot form (obj_type save), taken once per
 * object, just before the first mutating call on it; a rollback loads it
 * (obj_type load) in place of the state the calls left, under the same
 * object (same id, same parked waiters, moved by obj_type move_waiters),
 * and puts its revision back (wch_back). The references the image holds
 * are counted again (load counts none) before the state the calls left
 * gives its own back, so an object held by both is never at zero; objects
 * that reach zero meanwhile wait for reg_release_frees (registry.h). */
#ifndef SM_SERVER_TXN_UNDO_H
#define SM_SERVER_TXN_UNDO_H

#include "object.h"
#include "watch.h"

#include <stddef.h>

/* One object's image: where it lies in txn_undo.saved. */
typedef struct undo_image {
  sm_obj *o; /* borrowed: freeing waits for reg_release_frees */
  size_t off, len;
  wch_point rev; /* its revision before */
} undo_image;

#define UNDO_LOCAL 4

/* The images of one transaction (on the caller's stack: the first
 * UNDO_LOCAL images cost no allocation), all in one buffer. */
typedef struct txn_undo {
  undo_image local[UNDO_LOCAL];
  undo_image *images; /* local, or owned */
  size_t n, cap;
  vbuf saved; /* the images one after the other, as the types' save wrote them */
} txn_undo;

/* Makes u empty. */
void undo_init(txn_undo *u);

/* Keeps an image of o unless one is kept already. Returns WS_OK, or
 * WS_INTERNAL (out of memory: err filled) or WS_TYPE_ERROR (a type with no
 * snapshot form) with nothing kept. */
int undo_keep(txn_undo *u, sm_obj *o, char *err, size_t errlen);

/* Puts every kept object back as its image says. Returns WS_OK, or
 * WS_INTERNAL when an image could not be loaded (out of memory: that
 * object keeps what the calls did; err says which). */
int undo_restore(registry *reg, txn_undo *u, char *err, size_t errlen);

/* Frees the images (restored or not). */
void undo_free(txn_undo *u);

#endif
