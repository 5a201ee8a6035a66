/* SPDX-License-Identifier: MIT */
/* saved.h - what the types' save and load hooks (object.h) share: every
 * state is saved as one packed list of fields, and loading checks that
 * list against a spec before anything is built, so a damaged state gets a
 * clear error instead of a half-made object. Stored values come back as
 * svals that take no references (sval_restore: snap_load restores the
 * counts). */
#ifndef SM_SERVER_SAVED_H
#define SM_SERVER_SAVED_H

#include "../proto/vwire.h"
#include "object.h"
#include "sval.h"

#include <stddef.h>

/* Splits saved, which must be a list of exactly strlen(spec) values, into
 * f[] (decoded) and raw[] (the packed bytes; may be NULL), checking each
 * against its letter of spec: 'b' bool, 'i' int, 's' str, 'l' list, 'm'
 * map, '*' anything. what names the type for the error. Returns WS_OK, or
 * WS_VALUE_ERROR with err filled. */
int saved_fields(sm_span saved, const char *spec, vinfo *f, sm_span *raw, const char *what,
                 char *err, size_t errlen);

/* The items of a list body as restored svals (sval_restore) in a new array
 * of *n (at least one slot, so an empty list still gets an array). Returns
 * WS_OK with *items set (the caller owns the array and its svals), or
 * WS_INTERNAL with err filled (nothing kept). */
int saved_svals(registry *reg, sm_span body, sval ***items, size_t *n, char *err, size_t errlen);

/* Write one element of the list being written to out. */
void saved_put_int(vbuf *out, int64_t v);
void saved_put_bool(vbuf *out, bool v);

/* Writes n svals as a list element of the list being written to out. */
void saved_write_svals(vbuf *out, sval *const *items, size_t n);

/* Writes n ints as one list element of the list being written to out
 * (a table of fixed-width rows, row after row). */
void saved_put_ints(vbuf *out, const int64_t *v, size_t n);

/* Reads what saved_put_ints wrote (the list's body): *v gets a new array
 * of *n ints (the caller frees it; NULL when empty), *n a multiple of
 * width. Returns WS_OK, or WS_VALUE_ERROR (an item not an int, or rows
 * cut short) or WS_INTERNAL with err filled. */
int saved_ints(sm_span body, size_t width, int64_t **v, size_t *n, const char *what, char *err,
               size_t errlen);

/* The status save hooks answer: WS_INTERNAL when out ran out of memory. */
int saved_status(const vbuf *out);

#endif
